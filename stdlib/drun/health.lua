-- drun.health: wait until a URL answers as expected.
--
--   health.wait { url = "https://cms.example.com/api/health",
--                 expect_json = { version = "1.4.1" }, attempts = 5, interval = 5 }
--
-- Options: url, expect_status (200, or a list), attempts (5), interval (5 s),
-- timeout (per attempt, 10 s), expect_json {field = value} (nested paths like
-- "build.version"), body_contains, max_body (1 MiB), headers {Name = value}. One progress line per attempt
-- ("health: attempt 2/5: 503"). Returns {ok, attempts, elapsed, last_status,
-- log}; raises when it gives up, with what it last saw. The total time is at
-- most attempts x (interval + timeout), however the server misbehaves.
local http = require "drun.http"
local json = require "drun.json"
local time = require "drun.time"
local log = require "drun.log"
local runtime = require "drun.runtime"

-- A health endpoint answers in bytes, not megabytes: a bigger body is a
-- failed attempt, not 2 GB of decoded JSON (max_body raises it).
local M = { stats = { waits = 0, seconds = 0 }, MAX_BODY = 1024 * 1024 } -- stats: time spent waiting (DRUN_STATS)

local function lookup(v, path)
  for part in path:gmatch("[^.]+") do
    if type(v) ~= "table" then return nil end
    v = v[part]
  end
  return v
end

local function show(v)
  if v == nil or v == json.null then return "nothing" end
  return type(v) == "string" and string.format("%q", v) or tostring(v)
end

-- "200 with version \"1.5.0\"": what a wait expects, for --dry-run's line
local function expectation(opts)
  local want = opts.expect_status or 200
  local s = type(want) == "table" and (#want > 3 and "any status" or table.concat(want, " or ")) or tostring(want)
  local paths = {}
  for path in pairs(opts.expect_json or {}) do paths[#paths + 1] = path end
  table.sort(paths)
  for i, path in ipairs(paths) do paths[i] = path .. " " .. show(opts.expect_json[path]) end
  if #paths > 0 then s = s .. " with " .. table.concat(paths, ", ") end
  if opts.body_contains then s = s .. " containing " .. show(opts.body_contains) end
  return s
end

-- probe(url, opts) -> {ok, status, reason, time_ms, json}: one attempt
function M.probe(url, opts)
  opts = opts or {}
  local r, err = http.request { url = url, timeout = opts.timeout or 10, connect_timeout = opts.timeout,
                                check = false, headers = opts.headers, max_body = opts.max_body or M.MAX_BODY }
  if not r then return { ok = false, reason = err:match("^http: %S+ %S+: (.*)$") or err } end
  local res = { ok = false, status = r.status, time_ms = r.time_ms }
  if not http.status_matches(opts.expect_status or 200, r.status) then
    res.reason = tostring(r.status)
    return res
  end
  if opts.expect_json then
    local ok, body = pcall(json.decode, r.body)
    if not ok or type(body) ~= "table" then
      res.reason = r.status .. " but the body is not JSON"
      return res
    end
    res.json = body
    local paths = {}
    for path in pairs(opts.expect_json) do paths[#paths + 1] = path end
    table.sort(paths)
    for _, path in ipairs(paths) do
      local want, got = opts.expect_json[path], lookup(body, path)
      if got == nil or tostring(got) ~= tostring(want) then
        res.reason = string.format("%d with %s %s (expected %s)", r.status, path, show(got), show(want))
        return res
      end
    end
  end
  if opts.body_contains and not r.body:find(opts.body_contains, 1, true) then
    res.reason = string.format("%d without %q in the body", r.status, opts.body_contains)
    return res
  end
  res.ok = true
  return res
end

function M.wait(opts)
  if type(opts) ~= "table" or type(opts.url) ~= "string" then error("health.wait: url is required", 2) end
  local attempts, interval = opts.attempts or 5, opts.interval or 5
  if runtime.dry_run then -- what it waits for is what the run did not do
    runtime.would("wait until %s answers %s", opts.url, expectation(opts))
    return { ok = true, dry_run = true, attempts = 0, elapsed = 0, log = {} }
  end
  local started = time.now()
  M.stats.waits = M.stats.waits + 1
  local function account() M.stats.seconds = M.stats.seconds + (time.now() - started) end
  local entries, last = {}, nil
  for i = 1, attempts do
    local t0 = time.now()
    last = M.probe(opts.url, opts)
    last.attempt, last.seconds = i, time.now() - t0
    entries[#entries + 1] = last
    log.info("health: attempt %d/%d: %s", i, attempts, last.ok and ("ok (" .. last.status .. ")") or last.reason)
    if last.ok then
      account()
      return { ok = true, attempts = i, elapsed = time.now() - started, last_status = last.status, log = entries }
    end
    if i < attempts then time.sleep(interval) end
  end
  account()
  error(string.format("health: %s not healthy after %d attempts in %.1fs: last %s", opts.url, attempts,
                      time.now() - started, last.reason), 2)
end

return M
