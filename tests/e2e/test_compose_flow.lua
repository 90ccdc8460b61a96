-- The Docker Compose restart flow end to end: ssh to a sandbox server whose
-- "containers" are real processes.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local composefix = require "composefix"

t.test("happy path: pulled, rebuilt, migrated, healthy; the restart gap measured and recorded", function()
  local f = composefix.setup()
  t.eq(f:health():json().version, "1.0.0")
  local r = f:run("compose-restart")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local h = f:health():json()
  t.eq(h.version, "1.1.0")
  t.eq(h.migrations, 2)
  local rec = f:latest()
  t.eq(rec.status, "success")
  t.eq(rec.metadata.server_commit, proc.output { "git", "-C", f.origin, "rev-parse", "main" })
  t.ok(rec.metadata.restart_gap_ms > 0, "gap " .. tostring(rec.metadata.restart_gap_ms))
  t.match(r.stdout, "restart gap: %d+ ms from the old app's last answer to the new app healthy")
end)

t.test("health fails at first and recovers within its attempts", function()
  local f = composefix.setup()
  f.env.APP_HEALTH_INTERVAL = "0.6"
  f:push_commit("app/WARMUP", "2.0\n", "app: slow warm-up") -- 500 for 2 s after it starts (ssh takes its share)
  local r = f:run("compose-restart")
  t.eq(r.code, 0, r.stdout)
  t.match(r.stdout, "health: attempt 1/5: 500")
  t.match(r.stdout, "health: attempt [2-5]/5: ok %(200%)")
end)

t.test("health never recovers: the last log lines shown, status failed; --auto-rollback brings the previous commit back", function()
  local f = composefix.setup()
  local before = f:server_head()
  f:push_commit("app/BROKEN", "broken\n", "app: broken release")
  local r = f:run("compose-restart")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ health failed")
  t.match(r.stdout, "the last 50 log lines of app:\n")
  t.match(r.stdout, "app%-app%-1  | request /health")
  t.match(r.stdout, "state:  the new code is live and not healthy: roll back %(drun recipes/compose%-rollback%.lua %-%-yes%)")
  t.eq(f:latest().status, "failed")
  f = composefix.setup() -- the same release, with --auto-rollback
  before = f:server_head()
  f:push_commit("app/BROKEN", "broken\n", "app: broken release")
  r = f:run("compose-restart", "--auto-rollback")
  t.eq(r.code, 1)
  t.match(r.stdout, "undo:   rolled back: restart, checkout")
  t.eq(f:server_head(), before)
  t.eq(f:health():json().version, "1.0.0")
  t.eq(f:latest().status, "rollback")
end)

t.test("a failing migration: new code on the old schema, roll back now", function()
  local f = composefix.setup()
  f:push_commit("migrations/0003_broken.sql", "ALTER TABLE nowhere ADD COLUMN x;\n", "app: bad migration")
  local r = f:run("compose-restart")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ migrate failed")
  t.match(r.stdout, "migration 0003_broken%.sql failed")
  t.match(r.stdout, "state:  the new code is running against the old schema: roll back now %(drun recipes/compose%-rollback%.lua %-%-yes%)")
  require("drun.time").sleep(0.3)
  t.eq(proc.run({ "pgrep", "-af", "drun-gap", check = false }).stdout:find(f.env.APP_PORT, 1, true), nil,
       "the gap poller outlived the run")
end)

t.test("a dirty checkout on the server: refused, nothing restarted", function()
  local f = composefix.setup()
  local before = f:server_head()
  fs.write(f.server .. "/scripts/migrate.py", fs.read(f.server .. "/scripts/migrate.py") .. "# hand-edited\n")
  local r = f:run("compose-restart")
  t.eq(r.code, 1)
  t.match(r.stdout, "the checkout on web1 has local changes; refusing to deploy over them:\n%s*M scripts/migrate%.py")
  t.match(r.stdout, "state:  nothing restarted")
  t.eq(f:server_head(), before)
  t.eq(f:health():json().version, "1.0.0")
end)

t.test("a pull that is not a fast-forward: nothing restarted", function()
  local f = composefix.setup()
  proc.run { "git", "-C", f.server, "-c", "user.name=x", "-c", "user.email=y", "commit", "-q", "--allow-empty", "-m", "hotfix on the server" }
  local r = f:run("compose-restart")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ checkout failed")
  t.match(r.stdout, "Not possible to fast%-forward")
  t.match(r.stdout, "state:  nothing restarted")
  t.eq(f:health():json().version, "1.0.0")
end)

t.test("a build failure: the old app still answers, and the report has checked it", function()
  local f = composefix.setup()
  f:fault("compose-build:app=fail")
  local r = f:run("compose-restart")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ restart failed")
  t.match(r.stdout, "failed to solve")
  t.match(r.stdout, "state:  the new code is not running: the old container is still serving %(verified: it answers its health check%)")
  t.eq(f:health():json().version, "1.0.0")
end)

t.test("ssh to an unknown host: a clear error, nothing else", function()
  local f = composefix.setup()
  f.env.APP_HOST = "nowhere.example"
  local r = f:run("compose-restart")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ checkout failed")
  t.match(r.stdout, "Could not resolve hostname nowhere%.example")
end)

t.test("compose-rollback: the previous good commit back, healthy, the bad record marked", function()
  local f = composefix.setup()
  t.eq(f:run("compose-restart").code, 0)
  local good = f:latest()
  f:push_commit("VERSION", "1.2.0\n", "app: 1.2.0")
  t.eq(f:run("compose-restart").code, 0)
  t.eq(f:health():json().version, "1.2.0")
  local bad = f:latest()
  local r = f:run("compose-rollback", "--yes", "reason=1.2.0 breaks checkout")
  t.eq(r.code, 0, r.stdout)
  t.eq(f:server_head(), good.metadata.server_commit)
  t.eq(f:health():json().version, "1.1.0")
  local db = require("drun.ledger").open(f.ledger)
  t.eq(db:record(bad.id).status, "rollback")
  t.eq(db:record(bad.id).metadata.rollback_reason, "1.2.0 breaks checkout")
end)

t.test("compose-rollback with an empty ledger: a clear error", function()
  local f = composefix.setup()
  local r = f:run("compose-rollback", "--yes")
  t.eq(r.code, 3)
  t.match(r.stdout, "no earlier successful deployment of app to production in the ledger: nothing to roll back to")
end)

t.test("compose-rollback commit=--merge (not a commit) is refused; a host that is an ssh option too", function()
  local f = composefix.setup()
  for _, bad in ipairs { "--merge", "-q", "HEAD~1", "main", "abc", string.rep("a", 65), "deadbeef --hard" } do
    local r = f:run("compose-rollback", "commit=" .. bad, "--yes")
    t.eq(r.code, 2, bad .. ": " .. r.stdout .. r.stderr)
    t.match(r.stderr, "commit= must be a commit id")
  end
  t.eq(fs.exists(f.ledger), false, "nothing recorded, least of all a successful rollback")
  for _, host in ipairs { "-oProxyCommand=touch /tmp/pwned", "web1 -v", "a@b" } do
    local r = t.drun({ "-e", ("require('drun.compose').sh({ host = %q, dir = 'x' }, { 'true' })"):format(host) }, { env = f.env })
    t.eq(r.code, 3, host)
    t.match(r.stderr, "compose: host .* is not a host name")
  end
end)

t.test("drun.compose over ssh: an argument with spaces, quotes, $ and ; arrives intact", function()
  local f = composefix.setup()
  local tricky = [[a b 'c' "d" $HOME; echo pwned `id` \ end]]
  local r = t.drun({ "-e", ([[
    local compose = require 'drun.compose'
    local server = { host = 'web1', dir = os.getenv('APP_DIR'), ssh_config = os.getenv('APP_SSH_CONFIG') }
    local res = compose.exec(server,
      { service = 'app', argv = { 'python3', '-c', 'import sys; print(sys.argv[1])', %q } })
    io.write(res.stdout)
  ]]):format(tricky) }, { env = f.env })
  t.eq(r.code, 0, r.stderr)
  t.eq(r.stdout, tricky .. "\n")
  local ps = t.drun({ "-e", "print(require('drun.compose').ps({ host = 'web1', dir = os.getenv('APP_DIR'), "
                            .. "ssh_config = os.getenv('APP_SSH_CONFIG') })[1].Health)" }, { env = f.env })
  t.eq(ps.stdout, "healthy\n")
end)

-- docker/compose cmd/compose/ps.go: ps without --all hides stopped containers,
-- so a service that crashed at start is invisible unless drun asks for all
local WORKER = [[
  worker:
    build: .
    command: ["sh", "-c", "echo worker crashed: no queue; exit 3"]
    restart: always
]]
local SIDECAR = [[
  sidecar:
    build: .
    command: ["sleep", "600"]
]]

t.test("every service must run: a second service crashing at start fails health, named with its exit code and logs", function()
  local f = composefix.setup()
  f:push_commit("docker-compose.yml", require("drun.fs").read(f.repo .. "/docker-compose.yml") .. WORKER, "add a worker")
  local r = f:run("compose-restart")
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "✗ health failed")
  t.match(r.stdout, "not every service is healthy: worker: exited %(exit code 3%)")
  t.match(r.stdout, "worker crashed: no queue")
  t.match(r.stdout, "state:  the new code is live and not healthy")
  t.eq(f:latest().status, "failed")
end)

t.test("a service without a healthcheck: running is enough, and the run says that is all it knows", function()
  local f = composefix.setup()
  f:push_commit("docker-compose.yml", require("drun.fs").read(f.repo .. "/docker-compose.yml") .. SIDECAR, "add a sidecar")
  local r = f:run("compose-restart")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "sidecar: running, no healthcheck: drun can only check that it runs")
  t.eq(f:latest().metadata.services, "healthy; sidecar: running, no healthcheck")
  f:on_server("docker compose down")
end)

t.test("a list of health URLs: every one must answer; the one that does not is named", function()
  local f = composefix.setup()
  local base = f.env.APP_HEALTH_URL:gsub("/health$", "")
  f.env.APP_HEALTH_URLS = f.env.APP_HEALTH_URL .. " " .. base .. "/admin/health"
  local r = f:run("compose-restart")
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "health: " .. base:gsub("%p", "%%%0") .. "/admin/health not healthy after 5 attempts")
  f.env.APP_HEALTH_URLS = f.env.APP_HEALTH_URL .. " " .. f.env.APP_HEALTH_URL
  r = f:run("compose-restart")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "health: attempt 1/5: ok %(200%)\n.-health: attempt 1/5: ok %(200%)")
end)

-- compose-restart with config keys changed, as a repository's own config would
local function run_with(f, changes)
  local lines = {}
  for k, v in pairs(changes) do lines[#lines + 1] = string.format("c[%q] = %s", k, v) end
  return f:adapted("compose-config", "require('drun.flows.compose').restart", lines)
end

t.test("several migration commands run in order in migrate_service; remove_orphans takes a removed service's container away", function()
  local f = composefix.setup()
  local file = fs.read(f.repo .. "/docker-compose.yml")
  f:push_commit("docker-compose.yml", file .. SIDECAR, "add a sidecar")
  local r = run_with(f, { migrate = '{ { "python3", "scripts/migrate.py" }, { "sh", "-c", "echo second migration ran" } }',
                          migrate_service = '"app"' })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "applied 0002_pinned%.sql.-second migration ran")
  t.eq(f:health():json().migrations, 2)
  -- the sidecar leaves the file: without remove_orphans compose warns and it keeps running
  f:push_commit("docker-compose.yml", file, "drop the sidecar")
  r = run_with(f, {})
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, 'level=warning msg="Found orphan containers %(%[app%-sidecar%-1%]%) for this project')
  t.match(f:on_server("docker compose ps --format json").stdout, '"Service": "sidecar"')
  r = run_with(f, { remove_orphans = "true" })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "Container app%-sidecar%-1  Removed")
  t.no_match(f:on_server("docker compose ps --all --format json").stdout, '"sidecar"')
  -- a migration list of the wrong shape is the config's error, before anything runs
  r = run_with(f, { migrate = '{ { "python3", 3 } }' })
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stderr, "the compose flow's config: migrate%[1%]%[2%] must be a string, got 3")
end)

-- a one-off job: it runs to its end and exits 0, as a seed or an asset build does
local SEED = [[
  seed:
    build: .
    command: ["sh", "-c", "echo seeded"]
]]

t.test("checked_services: the services that must run after the restart; a one-off job left out; a misspelt one named", function()
  local f = composefix.setup()
  f:push_commit("docker-compose.yml", fs.read(f.repo .. "/docker-compose.yml") .. SEED, "add a seed job")
  local r = run_with(f, {})
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "not every service is healthy: seed: exited %(exit code 0%)")
  r = run_with(f, { checked_services = '{ "app" }' })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:latest().metadata.services, "healthy")
  r = run_with(f, { checked_services = '{ "app", "worker" }' })
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "not every service is healthy: worker: not a service of the project %(app, seed%)")
  f:on_server("docker compose down")
end)
