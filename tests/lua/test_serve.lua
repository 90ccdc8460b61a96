-- drun ledger serve: the versioning API over HTTP (libmicrohttpd), its
-- errors, and a ledger that goes away while it serves.
local t = require "t"
local ledger = require "drun.ledger"
local json = require "drun.json"
local proc = require "drun.proc"
local http = require "drun.http"
local time = require "drun.time"
local fs = require "drun.fs"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()
local function free_port() return tonumber(proc.output { ROOT .. "/tests/sandbox/free-port" }) end

-- a ledger with `n` deployments of cms (every third failed, one on a
-- hotfix branch) and one of api
local function seeded(address, n)
  local db = ledger.open(address)
  for i = 1, n do
    local r = db:begin { service = "cms", environment = i % 2 == 0 and "staging" or "production",
                         version = "1.0." .. i, commit = string.format("c0ffee%02d", i),
                         branch = i == 5 and "hotfix" or "main", actor = "alice" }
    db:step_end(r.id, db:step_start(r.id, "deploy"), "success")
    db:finish(r.id, i % 3 == 0 and "failed" or "success", i % 3 == 0 and { error = "boom", failed_step = "deploy" } or nil)
  end
  local r = db:begin { service = "api", environment = "production", version = "2.0.0", actor = "bob" }
  db:finish(r.id, "success")
  db:close()
end

local serve = t.ledger_serve

local function get(url)
  local r = http.get(url, { timeout = 10 })
  local ok, v = pcall(json.decode, r.body)
  return r.status, ok and v or r.body, r
end

t.test("the three endpoints answer the versioning API's shapes and filters", function()
  local path = t.tmpdir() .. "/ledger.db"
  seeded(path, 60)
  local base, h <close> = serve(path)
  local status, v, r = get(base .. "/api/version?service=cms&environment=production")
  t.eq(status, 200)
  t.match(r.headers["content-type"], "^application/json")
  t.eq(v.success, true)
  t.eq(v.version, "1.0.59")
  t.eq(v.fullVersion, "1.0.59+build.1")
  t.eq(v.gitCommit, "c0ffee59")
  t.eq(v.deployedBy, "alice")
  t.eq(v.status, "success")
  for _, k in ipairs { "buildNumber", "gitBranch", "deployedAt" } do t.ok(v[k] ~= nil, k) end

  status, v = get(base .. "/api/deployments")
  t.eq(status, 200)
  t.eq(v.count, 50, "limit defaults to 50")
  t.eq(#v.deployments, 50)
  t.eq(v.deployments[1].service, "api", "newest first")
  status, v = get(base .. "/api/deployments?limit=5&service=cms&environment=staging")
  t.eq(v.count, 5)
  for _, d in ipairs(v.deployments) do t.eq(d.environment, "staging") end
  status, v = get(base .. "/api/deployments?status=failed&limit=100")
  t.eq(v.count, 20)
  for _, d in ipairs(v.deployments) do t.eq(d.status, "failed") end
  status, v = get(base .. "/api/deployments?branch=hotfix")
  t.eq(v.count, 1)
  t.eq(v.deployments[1].version, "1.0.5")
  status, v = get(base .. "/api/deployments?version=1.0.7")
  t.eq(v.count, 1)
  t.eq(v.deployments[1].gitCommit, "c0ffee07")

  status, v = get(base .. "/api/deployments/stats?service=cms")
  t.eq(status, 200)
  t.eq(v.totalDeployments, 60)
  t.eq(v.successfulDeployments, 40)
  t.eq(v.failedDeployments, 20)
  t.eq(v.latestVersion, "1.0.59+build.1")
  t.eq(v.delivery.windowDays, 30)
  t.eq(#v.delivery.byServiceEnvironment, 2)
  t.eq(v.delivery.all.deployments, 60)
  t.eq(v.delivery.all.changeFailureRate, 20 / 60)

  -- one deployment with its steps
  status, v = get(base .. "/api/deployments?limit=1&service=api")
  local id = v.deployments[1].id
  status, v = get(base .. "/api/deployments/" .. id)
  t.eq(status, 200)
  t.eq(v.deployment.service, "api")
  status, v = get(base .. "/api/deployments?limit=1&service=cms")
  status, v = get(base .. "/api/deployments/" .. v.deployments[1].id)
  t.eq(v.deployment.steps[1].name, "deploy")
  status, v = get(base .. "/api/deployments/nope")
  t.eq(status, 404)
  t.eq(v.success, false)
end)

t.test("bad parameters: a 400 with a JSON error that names what is allowed; limit=100000 is capped", function()
  local path = t.tmpdir() .. "/ledger.db"
  seeded(path, 3)
  local base, h <close> = serve(path)
  for _, q in ipairs { "limit=-1", "limit=abc", "limit=0", "limit=1.5", "limit=", "limit=99999999999999999999" } do
    local status, v = get(base .. "/api/deployments?" .. q)
    t.eq(status, 400, q)
    t.eq(v.success, false, q)
    t.match(v.error, "^limit must be a whole number from 1 %(default 50%)", q)
  end
  local status, v = get(base .. "/api/deployments?limit=100000")
  t.eq(status, 200)
  t.eq(v.count, 4)
  status, v = get(base .. "/api/deployments?status=%3Cscript%3E")
  t.eq(status, 400)
  t.eq(v.error, "status must be one of running, success, failed, rollback, aborted")
  status, v = get(base .. "/api/deployments?colour=red")
  t.eq(status, 400)
  t.match(v.error, "^unknown parameter; this endpoint takes branch, environment, limit, service, status, version")
  status, v = get(base .. "/api/version?limit=3")
  t.eq(status, 400)
  status, v = get(base .. "/api/deployments/stats?days=0")
  t.eq(status, 400)
  t.match(v.error, "^days must be a whole number from 1")
  status, v = get(base .. "/api/deployments/stats?days=9999")
  t.eq(status, 400)
  status, v = get(base .. "/api/version?service=nothing")
  t.eq(status, 404)
  t.eq(v.error, "no successful deployment of nothing")
  status, v = get(base .. "/etc/passwd")
  t.eq(status, 404)
  t.eq(v.success, false)
  -- read-only: every other method is refused, and a body is read and dropped
  local r = http.request { method = "POST", url = base .. "/api/deployments", body = string.rep("x", 100000), timeout = 10 }
  t.eq(r.status, 405)
  t.eq(r.headers["allow"], "GET, HEAD")
  r = http.request { method = "DELETE", url = base .. "/api/deployments/x", timeout = 10 }
  t.eq(r.status, 405)
  -- another name for 127.0.0.1 (DNS rebinding: a page elsewhere reading the ledger through a browser)
  r = http.get(base .. "/api/deployments", { headers = { Host = "evil.example:" .. base:match(":(%d+)$") }, timeout = 10 })
  t.eq(r.status, 403)
  t.match(r.body, "loopback names only")
  for _, host in ipairs { "localhost", "127.0.0.1:80", "[::1]:8080" } do
    r = http.get(base .. "/api/deployments", { headers = { Host = host }, timeout = 10 })
    t.eq(r.status, 200, host)
  end
  -- still serving
  status = get(base .. "/api/deployments")
  t.eq(status, 200)
  h:close()
  t.eq(h:wait().stderr, "ledger serve: " .. path .. " on " .. base .. "/ (API /api/version, /api/deployments, "
       .. "/api/deployments/stats); Ctrl-C stops\nledger serve: stopped (SIGTERM)\n",
       "nothing logged for a client's mistakes; TERM stops it between requests")
  t.eq(h:wait().code, 130)
end)

t.test("--listen: a port in use, a non-loopback address without --public, a malformed address", function()
  local path = t.tmpdir() .. "/ledger.db"
  seeded(path, 1)
  local base, h <close> = serve(path)
  local port = base:match(":(%d+)$")
  local r = t.drun { "ledger", "serve", "--ledger", path, "--listen", "127.0.0.1:" .. port, timeout = 20 }
  t.eq(r.code, 1)
  t.match(r.stderr, "ledger serve: cannot listen on 127.0.0.1 port " .. port .. ": Address already in use")
  t.eq(get(base .. "/api/deployments"), 200, "the first server is untouched")
  for _, addr in ipairs { "0.0.0.0:" .. port, "[::]:" .. port, "10.1.2.3:8080" } do
    r = t.drun { "ledger", "serve", "--ledger", path, "--listen", addr, timeout = 20 }
    t.eq(r.code, 2, addr)
    t.match(r.stderr, "refusing to listen on " .. addr:gsub("[%[%]%.]", "%%%0")
            .. ": the dashboard and API have no authentication", addr)
    t.match(r.stderr, "%-%-public if that is what you want", addr)
  end
  for _, addr in ipairs { "8080", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:80:80", "" } do
    r = t.drun { "ledger", "serve", "--ledger", path, "--listen", addr, timeout = 20 }
    t.eq(r.code, 2, addr)
    t.match(r.stderr, "%-%-listen", addr)
  end
  r = t.drun { "ledger", "serve", "--ledger", path, "--refresh", "soon", timeout = 20 }
  t.eq(r.code, 2)
  t.match(r.stderr, "%-%-refresh takes a whole number of at least 0")
  r = t.drun { "ledger", "serve", "--ledger", t.tmpdir() .. "/none.db", "--listen", "127.0.0.1:" .. free_port(),
               timeout = 20 }
  t.eq(r.code, 1)
  t.match(r.stderr, "no ledger at")
end)

t.test("[postgres] the ledger's server goes away while serving: 503 JSON, the server stays, and answers when it is back", function()
  local address = t.ledger_address("postgres")
  seeded(address, 4)
  local base, h <close> = serve(address)
  t.eq(get(base .. "/api/deployments"), 200)
  t.postgres_ctl("stop")
  local ok, err = pcall(function()
    for _, path in ipairs { "/api/deployments", "/api/version", "/api/deployments/stats", "/" } do
      local status, v, r = get(base .. path)
      t.eq(status, 503, path .. ": " .. json.encode(v))
      t.eq(v.success, false, path)
      t.match(v.error, "^ledger: ", path)
      t.no_match(v.error, t.postgres().PG_PASSWORD, path)
      t.eq(r.headers["retry-after"], "5")
    end
  end)
  t.postgres_ctl("start")
  if not ok then error(err, 0) end
  local status, v = get(base .. "/api/deployments")
  t.eq(status, 200)
  t.eq(v.count, 5)
  h:close()
  local stderr = h:wait().stderr
  t.eq(select(2, stderr:gsub("answering 503 until it can be read", "")), 1, "warned once: " .. stderr)
  t.match(stderr, "can be read again")
  t.no_match(stderr, t.postgres().PG_PASSWORD)
end)

t.test("a slow client does not hold up the others", function()
  local path = t.tmpdir() .. "/ledger.db"
  seeded(path, 2)
  local base, h <close> = serve(path)
  local port = tonumber(base:match(":(%d+)$"))
  -- a client that sends half a request line and waits
  local slow <close> = proc.spawn { "python3", "-c", [[
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/deploy")
print("sent", flush=True)
time.sleep(30)
]], tostring(port) }
  t.eq(slow:read_line(10), "sent")
  local t0 = time.now()
  t.eq(get(base .. "/api/deployments"), 200)
  t.ok(time.now() - t0 < 5, "answered while the slow client waits")
end)

t.test("ledger stats: delivery metrics per service and environment, and as JSON", function()
  local path = t.tmpdir() .. "/ledger.db"
  seeded(path, 6)
  local r = t.drun { "ledger", "--ledger", path, "stats", "--days", "7" }
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "delivery over the last 7 day%(s%)")
  t.match(r.stdout, "SERVICE%s+ENV%s+DEPLOYS%s+PER WEEK%s+CHANGE FAIL%s+RESTORE%s+LEAD TIME")
  t.match(r.stdout, "cms%s+production%s+2/3%s+2%.0%s+33%.3%%")
  t.match(r.stdout, "all%s+5/7")
  r = t.drun { "ledger", "--ledger", path, "stats", "--json", "--service", "api" }
  local v = json.decode(r.stdout)
  t.eq(v.delivery.windowDays, 30)
  t.eq(v.delivery.all.successful, 1)
  t.eq(v.delivery.byServiceEnvironment[1].service, "api")
  for _, bad in ipairs { "0", "-3", "x", "400" } do
    r = t.drun { "ledger", "--ledger", path, "stats", "--days", bad }
    t.eq(r.code, 2, bad)
  end
end)

t.test("delivery metrics: frequency, change failure rate, time to restore, lead time, a failure not restored yet", function()
  local metrics = require "drun.ledger.metrics"
  local T0 = 1800000000
  local function rec(service, env, status, start, minutes, commit_minutes_before)
    return { service = service, environment = env, status = status, deployed_at = time.utc(T0 + start * 60),
             finished_at = time.utc(T0 + (start + minutes) * 60), duration_ms = minutes * 60000,
             metadata = commit_minutes_before and { commit_time = time.utc(T0 + (start - commit_minutes_before) * 60) } or {} }
  end
  -- oldest first here; delivery() takes them newest first, as db:history gives them
  local list = {
    rec("cms", "production", "success", 0, 2, 60),     -- lead time 62 min
    rec("cms", "production", "failed", 100, 1),        -- ends at 101
    rec("cms", "production", "rollback", 110, 1),      -- a second failure: the outage began at 101
    rec("cms", "production", "success", 130, 4, 10),   -- ends at 134: restored after 33 min; lead 14 min
    rec("cms", "production", "running", 200, 0),       -- not counted
    rec("cms", "staging", "success", 0, 1, 2),          -- lead 3 min
    rec("cms", "staging", "aborted", 5, 1),            -- finished, not a change failure
    rec("cms", "staging", "failed", 20, 1),            -- not restored yet
  }
  local newest_first = {}
  for i = #list, 1, -1 do newest_first[#newest_first + 1] = list[i] end
  table.sort(newest_first, function(a, b) return a.deployed_at > b.deployed_at end)
  local d = metrics.delivery(newest_first, { days = 7 })
  t.eq(d.days, 7)
  t.eq(#d.groups, 2)
  local prod, staging = d.groups[1], d.groups[2]
  t.eq(prod.environment, "production")
  t.eq(prod.deployments, 4)
  t.eq(prod.successful, 2)
  t.eq(prod.failed, 2)
  t.eq(prod.change_failure_rate, 0.5)
  t.eq(prod.per_week, 2.0)
  t.eq(prod.restored, 1)
  t.eq(prod.time_to_restore_ms, 33 * 60000)
  t.eq(prod.open_failures, 0)
  t.eq(prod.lead_time_ms, (62 * 60000 + 14 * 60000) // 2)
  t.eq(staging.deployments, 3)
  t.eq(staging.change_failure_rate, 0.5, "aborted is not counted as a change failure")
  t.eq(staging.open_failures, 1)
  t.eq(staging.time_to_restore_ms, nil)
  t.eq(d.all.deployments, 7)
  t.eq(d.all.successful, 3)
  t.eq(d.all.failed, 3)
  t.eq(d.all.open_failures, 1)
  t.eq(d.all.lead_time_ms, 14 * 60000, "the median over every sample: 3, 14, 62 minutes")
  t.eq(metrics.delivery({}, { days = 30 }).all.change_failure_rate, nil)
end)

t.test("[d1] and [postgres]: the same answers from a shared ledger", function()
  for _, backend in ipairs { "d1", "postgres" } do
    local address = t.ledger_address(backend)
    seeded(address, 3)
    local base, h <close> = serve(address)
    local status, v = get(base .. "/api/version?service=cms&environment=production")
    t.eq(status, 200, backend)
    t.eq(v.fullVersion, "1.0.1+build.1", backend)
    status, v = get(base .. "/api/deployments?status=failed")
    t.eq(v.count, 1, backend)
    status, v = get(base .. "/api/deployments/stats")
    t.eq(v.totalDeployments, 4, backend)
    t.eq(v.delivery.all.deployments, 4, backend)
    local page = http.get(base .. "/", { timeout = 10 })
    t.eq(page.status, 200, backend)
    t.match(page.body, '<table id="live">', backend)
  end
end)
