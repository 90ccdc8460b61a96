-- drun.ledger: records, steps, locks, crash safety, concurrency, bad files.
local t = require "t"
local ledger = require "drun.ledger"
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"
local time = require "drun.time"

-- Every test of the ledger's behaviour runs on each backend (t.BACKENDS):
-- fresh() is a new, empty ledger there. The tests of files (sqlite's) are
-- after the suite.

-- ledger.open(path) must refuse with `pattern` and leave the file as it was.
local function refused_untouched(path, pattern)
  local before, had_wal = fs.read(path), fs.exists(path .. "-wal")
  t.raises(function() ledger.open(path) end, pattern)
  t.eq(fs.read(path), before, "file changed")
  t.eq(fs.exists(path .. "-wal"), had_wal, "a -wal file was created")
end

local function deploy(db, fields, status)
  local args = { service = "cms", environment = "production", version = "1.0.0" }
  for k, v in pairs(fields or {}) do args[k] = v end
  local rec = db:begin(args)
  if status then db:finish(rec.id, status) end
  return rec
end

-- what is in the ledger's tables, as the database's own client prints it
local function dump(db, where)
  if db.backend == "sqlite" then return proc.output { "sqlite3", db.address, ".dump" } end
  if db.backend == "d1" then return proc.output { "sqlite3", where, ".dump" } end
  return t.psql("SELECT * FROM " .. where .. ".deployment_history; SELECT * FROM " .. where .. ".deployment_steps")
end

for _, backend in ipairs(t.BACKENDS) do
  local B = "[" .. backend .. "] "
  local function fresh()
    local address, where = t.ledger_address(backend)
    return ledger.open(address), address, where
  end
  t.test(B .. "begin: id, build number, full version; .drun is created and ignored", function()
    local db, address = fresh()
    local a = deploy(db, { commit = "abc1234", branch = "main", actor = "alice", recipe = "cms-prod",
                           workflow_run_id = "77", workflow_run_url = "https://ci/run/77",
                           metadata = { message = "cms@1.0.0 prod deploy" } })
    t.match(a.id, "^[0-9A-HJKMNP-TV-Z]+$")
    t.eq(#a.id, 26)
    t.eq(a.full_version, "1.0.0+build.1")
    if backend == "sqlite" then t.eq(fs.read(fs.dirname(address) .. "/.gitignore"), "*\n") end
    local rec = db:record(a.id)
    t.eq(rec.status, "running")
    t.eq(rec.git_commit, "abc1234")
    t.eq(rec.deployed_by, "alice")
    t.eq(rec.workflow_run_url, "https://ci/run/77")
    t.eq(rec.metadata.message, "cms@1.0.0 prod deploy")
    t.eq(deploy(db).full_version, "1.0.0+build.2")
    t.eq(deploy(db, { version = "1.1.0" }).full_version, "1.1.0+build.1")
    t.eq(deploy(db, { service = "mcp" }).full_version, "1.0.0+build.1")
  end)

  t.test(B .. "steps, metadata, finish with duration", function()
    local db = fresh()
    local rec = deploy(db)
    local s1 = db:step_start(rec.id, "test")
    require("drun.time").sleep(0.02)
    db:step_end(rec.id, s1, "success")
    local s2 = db:step_start(rec.id, "deploy-mcp")
    db:step_end(rec.id, s2, "failed", "wrangler exited with 1")
    db:set(rec.id, "versions", { mcp = "v-1", cms = json.null })
    db:set(rec.id, "backup_id", "bk-42")
    db:finish(rec.id, "failed", { error = "deploy-mcp failed", failed_step = "deploy-mcp" })
    local r = db:record(rec.id)
    t.eq(r.status, "failed")
    t.eq(r.failed_step, "deploy-mcp")
    t.ok(r.duration_ms >= 0)
    t.eq(#r.steps, 2)
    t.eq(r.steps[1].name, "test")
    t.ok(r.steps[1].duration_ms >= 15, "step duration " .. tostring(r.steps[1].duration_ms))
    t.eq(r.steps[2].error, "wrangler exited with 1")
    t.eq(r.metadata.versions.mcp, "v-1")
    t.eq(r.metadata.backup_id, "bk-42")
    t.raises(function() db:finish(rec.id, "great") end, "a record finishes as success, failed, rollback or aborted %(got 'great'%)")
    t.raises(function() db:finish("NOPE", "success") end, "ledger: finish: no deployment NOPE")
    t.raises(function() db:begin { service = "cms", environment = "production" } end, "field 'version' is required")
  end)

  t.test(B .. "history filters, latest, previous_success", function()
    local db = fresh()
    local s1 = deploy(db, { branch = "main" }, "success")
    deploy(db, { branch = "feature/x" }, "failed")
    local s2 = deploy(db, { branch = "main", version = "1.1.0" }, "success")
    deploy(db, { environment = "staging" }, "success")
    t.eq(#db:history(), 4)
    t.eq(#db:history { environment = "production" }, 3)
    t.eq(#db:history { status = "failed" }, 1)
    t.eq(#db:history { branch = "feature/x" }, 1)
    t.eq(#db:history { version = "1.1.0" }, 1)
    t.eq(#db:history { limit = 2 }, 2)
    t.eq(db:latest({ service = "cms", environment = "production", status = "success" }).id, s2.id)
    t.eq(db:previous_success("cms", "production", s2.id).id, s1.id)
    t.eq(db:previous_success("cms", "production", s1.id), nil)
    -- a rollback's target: never what runs now
    t.eq(db:rollback_target("cms", "production", db:record(s2.id)).id, s1.id, "the latest succeeded: the success before it")
    t.eq(db:rollback_target("cms", "production", db:record(s1.id)), nil, "the only success: nothing to go back to")
    local f = deploy(db, {}, "failed")
    t.eq(db:rollback_target("cms", "production", db:record(f.id)).id, s2.id, "after a failure: the newest success")
    t.raises(function() db:history { limit = -1 } end, "limit must be a whole number of at least 1")
    t.raises(function() db:history { limit = "abc" } end, "limit must be")
  end)

  t.test(B .. "SQL metacharacters in every filter are just values", function()
    local db = fresh()
    deploy(db, { branch = "main" }, "success")
    local evil = { "x' OR '1'='1", "%", "_", "'; DROP TABLE deployment_history; --", "\"", "1) OR (1=1" }
    for _, v in ipairs(evil) do
      for _, key in ipairs { "service", "environment", "version", "status", "branch", "before_id" } do
        t.eq(#db:history { [key] = v }, 0, key .. " = " .. v)
      end
      t.eq(db:stats({ service = v }).total, 0)
    end
    t.eq(#db:history(), 1, "table intact")
    local rec = deploy(db, { service = "x'y", branch = "a\"b" }, "success")
    t.eq(#db:history { service = "x'y" }, 1)
    t.eq(db:record(rec.id).git_branch, 'a"b')
  end)

  t.test(B .. "stats: totals per status, success rate, latest version, p50/p95", function()
    local db = fresh()
    local lines = {}
    for i = 1, 20 do
      lines[#lines + 1] = json.encode { deployment = {
        id = string.format("01M000000000000000000000%02d", i), service = "cms", environment = "production",
        version = i <= 10 and "1.0.0" or "1.1.0", build_number = i,
        full_version = (i <= 10 and "1.0.0" or "1.1.0") .. "+build." .. i,
        deployed_at = string.format("2026-01-01T00:00:%02d.000Z", i),
        status = i % 5 == 0 and "failed" or "success", duration_ms = i * 1000, metadata = {} }, steps = json.array() }
    end
    local i = 0
    db:import(function() i = i + 1; return lines[i] end)
    local s = db:stats()
    t.eq(s.total, 20)
    t.eq(s.success, 16)
    t.eq(s.failed, 4)
    t.eq(s.success_rate, 16 / 20)
    t.eq(s.latest_version, "1.1.0+build.19", "the full version (the seed's latestVersion)")
    -- successful durations: 1..19 s without multiples of 5 -> 16 values
    t.eq(s.p50_ms, 9000)
    t.eq(s.p95_ms, 18000)
    t.eq(db:stats({ environment = "staging" }).total, 0)
    -- counts kept by triggers follow status changes; other filters are counted
    db:mark_rollback("1.1.0+build.19", "bad")
    s = db:stats { service = "cms", environment = "production" }
    t.eq(s.success, 15)
    t.eq(s.rollback, 1)
    t.eq(s.total, 20)
    local v = db:stats { version = "1.0.0" }
    t.eq(v.total, 10)
    t.eq(v.failed, 2)
    t.eq(v.latest_version, "1.0.0+build.9")
  end)

  t.test(B .. "mark_rollback by id, full version and id prefix; unknown is an error", function()
    local db = fresh()
    local a = deploy(db, {}, "success")
    require("drun.time").sleep(0.01) -- a later millisecond: the ids differ in their time part
    local b = deploy(db, {}, "success")
    t.eq(db:mark_rollback(a.full_version, "smoke check failed").status, "rollback")
    local r = db:record(a.id)
    t.eq(r.metadata.rollback_reason, "smoke check failed")
    t.eq(db:mark_rollback(b.id:sub(1, 12):lower()).id, b.id) -- a unique prefix, any case
    t.raises(function() db:mark_rollback(b.id:sub(1, 6)) end, "matches more than one deployment; give more of the id")
    t.eq(#db:history(), 2, "never deleted")
    t.raises(function() db:mark_rollback("9.9.9+build.1") end, "no deployment with id or full version '9.9.9%+build.1'")
  end)

  t.test(B .. "lock: held by a live process names the holder; released; re-entrant", function()
    local db = fresh()
    t.ok(db:lock("cms", "production", { recipe = "cms-prod" }))
    t.ok(db:lock("cms", "production", { recipe = "cms-prod" })) -- the same process again
    local code = ([[
      local db = require('drun.ledger').open(%q)
      local ok, e = pcall(db.lock, db, 'cms', 'production', { recipe = 'other' })
      if ok then print(ok) else print(ok, e.kind, e.holder.pid, tostring(e)) end
    ]]):format(db.address)
    local r = t.drun { "-e", code }
    t.match(r.stdout, "^false\tlock_held\t" .. require("drun.proc").pid() .. "\tledger: cms/production is locked by pid %d+ on %S+ %(recipe cms%-prod, since %d+%-")
    t.ok(db:lock("cms", "staging")) -- another environment is free
    db:unlock("cms", "production")
    r = t.drun { "-e", code }
    t.match(r.stdout, "^true")
  end)

  t.test(B .. "lock --wait: waits for the holder to finish", function()
    local db = fresh()
    local code = ([[
      local db = require('drun.ledger').open(%q)
      db:lock('cms', 'production', { recipe = 'holder' })
      require('drun.time').sleep(0.6)
      db:unlock('cms', 'production')
    ]]):format(db.address)
    local r = proc.run { "sh", "-c", [["$0" -e "$1" & sleep 0.3; "$0" -e "$2"; wait]], t.DRUN, code,
      ([[local db = require('drun.ledger').open(%q)
         local t0 = require('drun.time').now()
         db:lock('cms', 'production', { wait = 5 })
         print(string.format('waited %%.1f', require('drun.time').now() - t0))]]):format(db.address), timeout = 20 }
    t.match(r.stdout, "^waited 0%.[2-9]")
  end)

  t.test(B .. "kill -9 mid-deployment: record aborted with a note, lock taken over with a warning", function()
    local db, d = fresh(), t.tmpdir()
    local script = t.write(d .. "/deploy.lua", ([[
      local db = require('drun.ledger').open(%q)
      db:lock('cms', 'production', { recipe = 'cms-prod' })
      local rec = db:begin { service = 'cms', environment = 'production', version = '3.0.0' }
      db:step_start(rec.id, 'deploy-cms')
      io.open(%q, 'w'):write(rec.id):close()
      require('drun.time').sleep(30)
    ]]):format(db.address, d .. "/id"))
    proc.run { "sh", "-c", [["$0" "$1" & pid=$!; for i in $(seq 200); do [ -s "$2" ] && break; sleep 0.05; done; kill -9 $pid; wait $pid || true]],
      t.DRUN, script, d .. "/id", timeout = 20 }
    local id = fs.read(d .. "/id")
    local r = t.drun { "-e", ([[
      local db = require('drun.ledger').open(%q)
      print(db.reaped)
      db:lock('cms', 'production', { recipe = 'next' })
    ]]):format(db.address) }
    t.eq(r.stdout, "1\n")
    t.match(r.stderr, "marked 1 record%(s%) of drun runs that died as aborted")
    t.match(r.stderr, "took over the lock on cms/production from pid %d+ on %S+ %(recipe cms%-prod, since .-%): that drun is gone")
    local rec = db:record(id)
    t.eq(rec.status, "aborted")
    t.match(rec.error, "exited without finishing this record")
    if backend == "d1" then
      -- on D1 a step's rows go out with the run's next request (8 requests a
      -- deployment, not 39): a run killed in its first step never sent them
      t.eq(#rec.steps, 0)
    else
      t.eq(rec.steps[1].status, "aborted")
    end
  end)

  t.test(B .. "50 processes x 20 deployments: 1,000 rows, builds 1..1000, no lock errors", function()
    local d = t.tmpdir()
    local path = t.ledger_address(backend)
    local worker = t.write(d .. "/worker.lua", [[
      local db = require('drun.ledger').open(arg[1])
      for _ = 1, 20 do
        local r = db:begin { service = 'cms', environment = 'production', version = '2.0.0' }
        db:step_end(r.id, db:step_start(r.id, 'deploy'), 'success')
        db:finish(r.id, 'success')
      end
    ]])
    local r = proc.run { "sh", "-c", [[for i in $(seq 50); do "$0" "$1" "$2" & done; wait]], t.DRUN, worker, path,
                         timeout = 120 }
    t.eq(r.stderr, "", "stderr of the workers")
    local db = ledger.open(path)
    t.eq(#db:history(), 50, "history defaults to the newest 50")
    local rows = db:history { all = true }
    t.eq(#rows, 1000)
    local seen = {}
    for _, row in ipairs(rows) do
      t.eq(row.status, "success")
      t.ok(not seen[row.build_number], "duplicate build " .. row.build_number)
      seen[row.build_number] = true
    end
    for n = 1, 1000 do t.ok(seen[n], "missing build " .. n) end
  end)

  t.test(B .. "export and import: idempotent by id, builds continue after import", function()
    local db = fresh()
    local a = deploy(db, {}, "success")
    db:step_end(a.id, db:step_start(a.id, "deploy"), "success")
    deploy(db, {}, "failed")
    local lines = {}
    t.eq(db:export(function(l) lines[#lines + 1] = l end), 2)
    local other = fresh()
    local function iter() local i = 0; return function() i = i + 1; return lines[i] and lines[i]:gsub("\n$", "") end end
    t.eq(other:import(iter()), 2)
    t.eq(other:import(iter()), 0)
    t.eq(#other:history(), 2)
    t.eq(#other:record(a.id).steps, 1)
    t.eq(deploy(other).full_version, "1.0.0+build.3")
    t.raises(function() other:import(ipairs({}) and (function() local done; return function() if not done then done = true; return "{not json" end end end)()) end,
             "import: line 1 is not a deployment record")
  end)

  t.test(B .. "an imported build_number of INT64_MAX: the next build is refused, never a duplicate full version", function()
    local db = fresh()
    local top = "9223372036854775807"
    local line = '{"deployment":{"build_number":' .. top .. ',"deployed_at":"2026-11-22T07:07:49.069Z","duration_ms":1,'
        .. '"environment":"production","full_version":"1.0.0+build.' .. top .. '","id":"01M811A8EDA9ESTR16BBMR1K8P",'
        .. '"metadata":{},"service":"cms","status":"success","version":"1.0.0"},"steps":[]}'
    local done = false
    t.eq(db:import(function() if not done then done = true; return line end end), 1)
    for _ = 1, 2 do
      t.raises(function() db:begin { service = "cms", environment = "production", version = "1.0.0" } end,
               "no build number is left for cms 1%.0%.0")
    end
    t.eq(#db:history { all = true }, 1, "no second record with the same full version")
    t.eq(db:begin { service = "cms", environment = "production", version = "1.0.1" }.full_version, "1.0.1+build.1")
  end)

  t.test(B .. "secrets never reach a ledger row", function()
    local secret = "ledger-secret-value-123"
    local db, _, where = fresh()
    local r = t.drun({ "-e", ([[
      local db = require('drun.ledger').open(%q)
      local rec = db:begin { service = 'cms', environment = 'production', version = '1.0.0',
                             metadata = { message = 'token ' .. os.getenv('DEPLOY_TOKEN') } }
      db:set(rec.id, 'header', 'Bearer ' .. os.getenv('DEPLOY_TOKEN'))
      db:step_end(rec.id, db:step_start(rec.id, 'push ' .. os.getenv('DEPLOY_TOKEN')), 'failed',
                  'refused: ' .. os.getenv('DEPLOY_TOKEN'))
      db:finish(rec.id, 'failed', { error = 'auth failed for ' .. os.getenv('DEPLOY_TOKEN') })
    ]]):format(db.address) }, { env = { DEPLOY_TOKEN = secret } })
    t.eq(r.code, 0, r.stderr)
    local d = dump(db, where)
    t.no_match(d, secret, "secret in the ledger")
    t.match(d, "token %*%*%*")
    t.match(d, "auth failed for %*%*%*")
    t.match(d, "refused: %*%*%*")
  end)
end
t.test("a ledger from a newer drun is refused untouched", function()
  local path = t.ledger_address("sqlite")
  ledger.open(path):close()
  proc.run { "sqlite3", path, "PRAGMA user_version = 99;" }
  refused_untouched(path, "was written by a newer drun %(schema 99, this drun knows " .. ledger.SCHEMA_VERSION .. "%); upgrade drun")
end)

t.test("[postgres] a database with a newer drun schema is refused untouched; a table drun did not make too", function()
  local address, schema = t.ledger_address("postgres")
  ledger.open(address):close()
  t.psql("UPDATE " .. schema .. ".drun_ledger SET value = '99' WHERE key = 'schema_version'")
  local before = t.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '" .. schema .. "'")
  t.raises(function() ledger.open(address) end,
           "was written by a newer drun %(schema 99, this drun knows " .. ledger.SCHEMA_VERSION .. "%); upgrade drun")
  t.eq(t.psql("SELECT value FROM " .. schema .. ".drun_ledger"), "99")
  t.eq(t.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '" .. schema .. "'"), before)
  -- another system's deployment_history (the seed's, made by hand) is not taken for ours
  local other, other_schema = t.ledger_address("postgres")
  t.psql("CREATE TABLE " .. other_schema .. ".deployment_history (id TEXT)")
  t.raises(function() ledger.open(other) end, "has a deployment_history table that drun did not make; left untouched")
  t.eq(t.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '" .. other_schema .. "'"), "1")
end)

t.test("[postgres] another drun's first migration committing while this one looks is waited for, not refused", function()
  -- The race a fresh-clone run hit: a first open saw deployment_history but
  -- not drun_ledger (each to_regclass() may see a newer catalog) and called
  -- the table foreign. Here the migrator holds drun's migration lock and
  -- makes drun_ledger visible two seconds later.
  local address, schema = t.ledger_address("postgres")
  ledger.open(address):close()
  t.psql("ALTER TABLE " .. schema .. ".drun_ledger RENAME TO drun_ledger_held")
  local migrator <close> = proc.spawn {
    "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c",
    "BEGIN; SELECT pg_advisory_xact_lock(6972312605851706734); SELECT pg_sleep(2); ALTER TABLE " .. schema
      .. ".drun_ledger_held RENAME TO drun_ledger; COMMIT", t.postgres().PG_URL,
    env = { PGAPPNAME = "drun-test-migrator", PGCONNECT_TIMEOUT = "10" } }
  local held = "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid)"
    .. " WHERE a.application_name = 'drun-test-migrator' AND l.locktype = 'advisory' AND l.granted"
  for _ = 1, 200 do
    if t.psql(held) == "1" then break end
    time.sleep(0.02)
  end
  t.eq(t.psql(held), "1", "the migrator holds the lock")
  local db = ledger.open(address)
  t.eq(#db:history(), 0)
  db:close()
  t.eq(migrator:wait().code, 0)
end)

t.test("random bytes at the ledger path: refused, file untouched", function()
  local d = t.tmpdir()
  local path = d .. "/ledger.db"
  local junk = {}
  for i = 1, 3000 do junk[i] = string.char((i * 7919) % 256) end
  fs.write(path, table.concat(junk))
  refused_untouched(path, "ledger: " .. path:gsub("%p", "%%%0") .. " is not a drun ledger")
end)

t.test("another application's SQLite file is refused untouched", function()
  local d = t.tmpdir()
  local path = d .. "/app.db"
  proc.run { "sqlite3", path, "CREATE TABLE users(id); INSERT INTO users VALUES (1);" }
  refused_untouched(path, "is not a drun ledger %(an SQLite database of something else%)")
end)

t.test("an empty file becomes a ledger; schema is versioned and WAL", function()
  local d = t.tmpdir()
  local path = t.write(d .. "/empty.db", "")
  ledger.open(path):close()
  t.eq(proc.output { "sqlite3", path, "PRAGMA user_version; PRAGMA application_id; PRAGMA journal_mode;" },
       ledger.SCHEMA_VERSION .. "\n1685222766\nwal")
end)

t.test("a read-only directory: a clear error, nothing written", function()
  local d = t.tmpdir()
  fs.mkdir(d .. "/ro")
  proc.run { "chmod", "555", d .. "/ro" }
  proc.run { "chmod", "755", d }
  local argv = { t.DRUN, "-e", ("require('drun.ledger').open(%q)"):format(d .. "/ro/ledger.db"), check = false }
  local me = require("drun.proc").pid()
  if proc.output { "id", "-u" } == "0" then -- root ignores permissions: run as nobody
    table.insert(argv, 1, "--clear-groups")
    table.insert(argv, 1, "--regid=65534")
    table.insert(argv, 1, "--reuid=65534")
    table.insert(argv, 1, "setpriv")
  end
  local r = proc.run(argv)
  t.eq(r.code, 3)
  t.match(r.stderr, "ledger: cannot open .*/ro/ledger%.db: unable to open database file")
  t.eq(#fs.list(d .. "/ro"), 0)
  proc.run { "chmod", "755", d .. "/ro" }
  t.ok(me)
end)

t.test("disk full: recording fails loudly, what was recorded survives", function()
  local d = t.tmpdir()
  fs.mkdir(d .. "/small")
  local script = t.write(d .. "/full.lua", [[
    local ledger = require 'drun.ledger'
    local db = ledger.open(arg[1] .. '/ledger.db')
    local kept = db:begin { service = 'cms', environment = 'production', version = '1.0.0' }
    db:finish(kept.id, 'success')
    -- fill the filesystem
    local f = io.open(arg[1] .. '/filler', 'w')
    local chunk = string.rep('x', 4096)
    while f:write(chunk) and f:flush() do end
    f:close()
    local ok, err = pcall(function()
      for i = 1, 200 do
        local r = db:begin { service = 'cms', environment = 'production', version = '1.0.0',
                             metadata = { pad = string.rep('y', 2000) } }
        db:finish(r.id, 'success')
      end
    end)
    print('failed loudly:', not ok, err)
    os.remove(arg[1] .. '/filler')
    db:close()
    local again = ledger.open(arg[1] .. '/ledger.db')
    print('kept:', again:record(kept.id).status)
  ]])
  local r = proc.run { "unshare", "-rm", "sh", "-c",
    'mount -t tmpfs -o size=256k tmpfs "$1" && "$0" "$2" "$1"', t.DRUN, d .. "/small", script,
    check = false, timeout = 60 }
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "failed loudly:\ttrue\t.*ledger: [^\n]*database or disk is full")
  t.match(r.stdout, "kept:\tsuccess")
end)

