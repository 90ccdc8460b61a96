-- Locks as leases (DESIGN.md, "The ledger"): held from another host only
-- while the lease runs, renewed while the run goes on (also inside a long
-- child process), lost leases stop the run; and a ledger of schema 1 (made
-- by the drun before leases, and of schema 2, before the seed's column
-- names) migrated forward on open, losing nothing.
-- Another host is another UTS namespace (unshare -u): another hostname, so
-- drun cannot see that host's processes and must go by the lease.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local ledger = require "drun.ledger"
local proc = require "drun.proc"
local time = require "drun.time"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

-- drun -e CODE as if on host `host`, in the background; returns its pid and output file
local function on_host(host, code, env)
  local out = t.tmpdir() .. "/out"
  local r = proc.run { "sh", "-c", 'unshare -u sh -c \'hostname "$0" && exec "$1" -e "$2" >"$3" 2>&1\' "$0" "$@" & echo $!',
                       host, t.DRUN, code, out, env = env }
  return r.stdout:match("%d+"), out
end

local function wait_for(file, text)
  for _ = 1, 400 do
    if (fs.try.read(file) or ""):find(text, 1, true) then return true end
    time.sleep(0.025)
  end
  error("never saw " .. text .. " in " .. (fs.try.read(file) or "(nothing)"))
end

local HOLD = [[
  local l = require("drun.ledger").open(%q)
  l:lock("cms", "production", { recipe = "cms-prod", run_url = "https://github.com/o/r/actions/runs/42" })
  io.write("locked\n"); io.stdout:flush()
  os.exit(0) -- gone without unlocking, as a runner that was shut down
]]

for _, backend in ipairs(t.BACKENDS) do
  local B = "[" .. backend .. "] "
  t.test(B .. "another host's lock: refused while its lease runs, taken over after it ran out, the holder named", function()
    local path = t.ledger_address(backend)
    ledger.open(path):close()
    local _, out = on_host("runner-a", HOLD:format(path), { DRUN_LOCK_LEASE = "1" })
    wait_for(out, "locked")
    local db = ledger.open(path)
    local ok, e = pcall(db.lock, db, "cms", "production", { recipe = "cms-prod" })
    t.eq(ok, false)
    t.match(tostring(e), "cms/production is locked by pid %d+ on runner%-a %(recipe cms%-prod, since .-, "
                         .. "https://github%.com/o/r/actions/runs/42%)")
    time.sleep(1.2)
    local r = t.drun({ "-e", ([[
      local db = require("drun.ledger").open(%q)
      assert(db:lock("cms", "production", { recipe = "cms-prod" }))
      print("taken")]]):format(path) })
    t.eq(r.code, 0, r.stderr)
    t.match(r.stderr, "took over the lock on cms/production from pid %d+ on runner%-a %(recipe cms%-prod, since .-, "
                      .. "https://github%.com/o/r/actions/runs/42%): its lease ran out at %d%d%d%d%-")
    db:close()
  end)

  t.test(B .. "a long step keeps its lock: the lease is renewed while a child runs; another host is refused all along", function()
    local d = t.tmpdir()
    local path = t.ledger_address(backend)
    local recipe = t.write(d .. "/r.lua", [[
  local r = require("drun.recipe").new { name = "slow", service = "cms", environment = "production", version = "1.0.0" }
  r:step("long", {}, function(ctx) ctx.run { "sleep", "4" } end) -- more than twice the lease
  r:step("after", {}, function() end)
  return r]])
    local r0 = proc.run { "sh", "-c", '"$0" "$1" --ledger "$2" >"$3" 2>&1 & echo $!', t.DRUN, recipe, path, d .. "/run.out",
                          env = { DRUN_LOCK_LEASE = "1" } }
    local run_pid = r0.stdout:match("%d+")
    wait_for(d .. "/run.out", "[1/2] long")
    local tries = {}
    for i = 1, 3 do -- at about 0.7, 1.5 and 2.3 s into the step (and before its end, however slow a try is): each past at least one lease of 1 s
      time.sleep(0.75)
      local _, out = on_host("runner-b", ([[
        local db = require("drun.ledger").open(%q)
        local ok, e = pcall(db.lock, db, "cms", "production", { recipe = "cms-prod" })
        print(ok and "TOOK IT" or tostring(e))]]):format(path))
      wait_for(out, "\n")
      tries[i] = fs.read(out)
      t.no_match(fs.read(d .. "/run.out"), "%[2/2%]", "try " .. i .. " came after the long step")
    end
    for i, text in ipairs(tries) do t.match(text, "is locked by pid " .. run_pid .. " on ", "try " .. i) end
    for _ = 1, 200 do if not t.alive(run_pid) then break end time.sleep(0.05) end
    local out = fs.read(d .. "/run.out")
    t.match(out, "is live in production")
    t.eq(#ledger.open(path, { read_only = true }):locks(), 0, "released at the end")
  end)

  t.test(B .. "a run whose lock was taken over stops before its next step, and says so", function()
    local d = t.tmpdir()
    local path, schema = t.ledger_address(backend) -- (schema: where its data is)
    -- meanwhile its lease ran out and a runner elsewhere took the lock
    local steal = backend == "postgres"
        and { "psql", "-X", "-q", "-c", "UPDATE " .. schema .. ".locks SET host = 'runner-c', pid = 4242", t.postgres().PG_URL }
        or { "sqlite3", "-cmd", ".timeout 10000", backend == "d1" and schema or path, -- (the run renews meanwhile)
             "UPDATE locks SET host = 'runner-c', pid = 4242" }
    local recipe = t.write(d .. "/r.lua", ([[
  local r = require("drun.recipe").new { name = "x", service = "cms", environment = "production", version = "1.0.0" }
  r:step("first", {}, function(ctx) ctx.run(%s) end)
  r:step("deploy", {}, function() require("drun.fs").write(%q, "deployed") end)
  return r]]):format(require("drun.json").encode(steal):gsub("^%[", "{"):gsub("%]$", "}"), d .. "/DEPLOYED"))
    -- on D1 a lease is renewed (a round trip) once a third of it is gone, not
    -- before every step: a short lease makes the next step's check due
    local r = t.drun({ recipe, "--ledger", path }, { env = { DRUN_LOCK_LEASE = backend == "d1" and "0.01" or false } })
    t.eq(r.code, 1, r.stdout)
    t.match(r.stdout, "lost the lock on cms/production: another run took it over")
    t.match(r.stdout, "stopped before this step")
    t.eq(fs.exists(d .. "/DEPLOYED"), false, "the next step did not run")
    local rec = ledger.open(path):latest {}
    t.eq(rec.status, "failed")
  end)
end

t.test("DRUN_LOCK_LEASE that is not a number of seconds: a clear error, nothing run", function()
  local d = t.tmpdir()
  local recipe = t.write(d .. "/r.lua", [[
local r = require("drun.recipe").new { name = "x", service = "cms", environment = "staging", version = "1.0.0" }
r:step("touch", {}, function() require("drun.fs").write("TOUCHED", "x") end)
return r]])
  for _, v in ipairs { "abc", "0", "-5", "inf" } do
    local r = t.drun({ recipe, "--ledger", d .. "/l.db" }, { cwd = d, env = { DRUN_LOCK_LEASE = v } })
    t.ok(r.code ~= 0, v)
    t.match(r.stdout .. r.stderr, "DRUN_LOCK_LEASE must be a number of seconds above 0", v)
    t.eq(fs.exists(d .. "/TOUCHED"), false, v)
  end
end)

t.test("a ledger of schema 1 (made by the drun before leases) is migrated on open, nothing lost; a read migrates it too", function()
  local d = t.tmpdir()
  for _, how in ipairs { "write", "read" } do
    local path = d .. "/" .. how .. ".db"
    t.write(path, fs.read(ROOT .. "/tests/lua/fixtures/ledger-v1.db"))
    local r
    if how == "read" then
      r = t.drun({ "ledger", "--ledger", path, "list", "--json" })
      t.eq(r.code, 0, r.stderr)
      t.eq(json.decode(r.stdout).count, 2)
    end
    local db = ledger.open(path)
    local recs = db:history {}
    t.eq(#recs, 2)
    t.eq(recs[2].full_version, "1.4.0+build.1")
    t.eq(recs[2].metadata.worker_version, "v-1")
    t.eq(recs[2].git_commit, "c0ffee1")
    t.eq(recs[1].error, "503")
    t.eq(db:record(recs[1].id).steps[1].name, "smoke")
    local locks = db:locks()
    t.eq(#locks, 1)
    t.eq(locks[1].expires_at, locks[1].started_at, "a schema-1 lock counts as expired")
    t.eq(db:next_build("cms", "1.4.0"), 3, "the build counter carried over")
    db:close()
    t.eq(proc.output { "sqlite3", path, "PRAGMA user_version" }, tostring(ledger.SCHEMA_VERSION))
  end
end)

t.test("a ledger of schema 2 (made by the drun before the seed's column names) is migrated: durations, stats, steps kept", function()
  local path = t.tmpdir() .. "/v2.db"
  t.write(path, fs.read(ROOT .. "/tests/lua/fixtures/ledger-v2.db"))
  -- what schema 2 held, read with sqlite3 before drun touches it
  local before = proc.output { "sqlite3", path, "SELECT full_version, status, duration_ms FROM deployment_history ORDER BY id" }
  local db = ledger.open(path)
  t.eq(proc.output { "sqlite3", path, "SELECT full_version, status, deployment_duration FROM deployment_history ORDER BY id" },
       before, "duration_ms is the seed's deployment_duration now, every value kept")
  local recs = db:history {}
  t.eq(#recs, 3)
  t.eq(recs[3].deployed_by, "made-by-schema-2")
  t.ok(recs[3].duration_ms > 0)
  t.eq(db:record(recs[2].id).steps[1].name, "deploy")
  local s = db:stats()
  t.eq(s.total, 3)
  t.eq(s.failed, 1)
  t.eq(s.latest_version, "2.1.0+build.1")
  t.ok(s.p50_ms > 0)
  t.eq(db:begin { service = "cms", environment = "production", version = "2.0.0" }.full_version, "2.0.0+build.3")
  db:close()
  t.eq(proc.output { "sqlite3", path, "PRAGMA user_version" }, tostring(ledger.SCHEMA_VERSION))
end)
