-- drun.health against a real server on 127.0.0.1.
local t = require "t"
local health = require "drun.health"
local log = require "drun.log"
local time = require "drun.time"

local base = t.server("http_test.py")

-- progress lines, captured
local function captured(fn)
  local lines = {}
  log.sink = function(_, msg) lines[#lines + 1] = msg end
  local ok, res = pcall(fn)
  log.sink = nil
  if not ok then error(res, 0) end
  return res, lines
end

t.test("healthy on attempt 3: progress per attempt, attempts counted", function()
  local res, lines = captured(function()
    return health.wait { url = base .. "/script?key=h1&statuses=503,502,200", attempts = 5, interval = 0.05 }
  end)
  t.eq(res.ok, true)
  t.eq(res.attempts, 3)
  t.eq(res.last_status, 200)
  t.eq(#res.log, 3)
  t.eq(lines[1], "health: attempt 1/5: 503")
  t.eq(lines[2], "health: attempt 2/5: 502")
  t.eq(lines[3], "health: attempt 3/5: ok (200)")
end)

t.test("serves the old version twice, then the new one", function()
  local res = captured(function()
    return health.wait { url = base .. "/script?key=h2&versions=1.2.2,1.2.2,1.2.3", expect_json = { version = "1.2.3" },
                         interval = 0.05 }
  end)
  t.eq(res.attempts, 3)
end)

t.test("gives up with what it last saw", function()
  local msg = t.raises(function()
    captured(function()
      return health.wait { url = base .. "/script?key=h3&versions=1.2.2", expect_json = { version = "1.2.3" },
                           attempts = 3, interval = 0.05 }
    end)
  end)
  t.match(msg, "^.-health: " .. base:gsub("%p", "%%%0") .. "/script%?key=h3&versions=1%.2%.2 not healthy after 3 attempts in %d+%.%ds: last 200 with version \"1%.2%.2\" %(expected \"1%.2%.3\"%)$")
end)

t.test("invalid JSON when JSON fields are expected", function()
  t.raises(function()
    captured(function()
      return health.wait { url = base .. "/script?key=h4&bodies=invalid", expect_json = { status = "ok" },
                           attempts = 2, interval = 0.05 }
    end)
  end, "last 200 but the body is not JSON")
end)

t.test("a server that never answers: bounded by attempts x (interval + timeout)", function()
  local t0 = time.now()
  local msg = t.raises(function()
    captured(function()
      return health.wait { url = base .. "/hang", attempts = 3, interval = 0.1, timeout = 0.3 }
    end)
  end)
  local took = time.now() - t0
  t.match(msg, "not healthy after 3 attempts")
  t.match(msg, "last timed out")
  t.ok(took < 3 * (0.1 + 0.3) + 0.5, "took " .. took)
end)

t.test("a refused port counts as unhealthy, not as a crash", function()
  t.raises(function()
    captured(function() return health.wait { url = "http://127.0.0.1:9/health", attempts = 2, interval = 0.05 } end)
  end, "last connection refused")
end)

t.test("nested JSON paths, status lists, body_contains", function()
  local url = base .. '/script?key=h5&statuses=202&bodies={"build":{"version":"2.0.1"}}'
  local res = captured(function()
    return health.wait { url = url, expect_status = { 200, 202 }, expect_json = { ["build.version"] = "2.0.1" },
                         body_contains = "2.0.1", attempts = 1 }
  end)
  t.eq(res.ok, true)
  t.raises(function()
    captured(function() return health.wait { url = url, body_contains = "3.0", attempts = 1, expect_status = 202 } end)
  end, 'last 202 without "3.0" in the body')
  t.raises(function()
    captured(function() return health.wait { url = url, expect_json = { ["build.sha"] = "x" }, attempts = 1, expect_status = 202 } end)
  end, "last 202 with build.sha nothing %(expected \"x\"%)")
end)

t.test("probe: one attempt", function()
  local p = health.probe(base .. "/status/503")
  t.eq(p.ok, false)
  t.eq(p.status, 503)
  t.eq(p.reason, "503")
  t.eq(health.probe(base .. "/json").ok, true)
end)

t.test("expect_json on a 60 MB body: a failed attempt within bounded memory, not gigabytes of JSON", function()
  local base = t.server("http_test.py")
  local r = t.drun { "-e", ([[
    local ok, err = pcall(require('drun.health').wait, { url = %q, expect_json = { version = "1" }, attempts = 1, interval = 0 })
    print(ok, err)
    print(require('drun.proc').rusage().maxrss_kb)
  ]]):format(base .. "/big?bytes=" .. 60 * 1024 * 1024) }
  t.eq(r.code, 0, r.stderr)
  local ok, rss = r.stdout:match("^(%a+)\t.-\n(%d+)\n$")
  t.eq(ok, "false")
  t.match(r.stdout, "larger than max_body")
  t.ok(tonumber(rss) < 200 * 1024, "peak memory " .. tostring(rss) .. " KiB")
end)
