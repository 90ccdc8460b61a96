-- The drun ledger command.
local t = require "t"
local ledger = require "drun.ledger"
local json = require "drun.json"
local proc = require "drun.proc"

-- a ledger with four deployments, on `backend` (sqlite unless given)
local function seeded(backend)
  local d = t.tmpdir()
  local path = backend and t.ledger_address(backend) or d .. "/ledger.db"
  local db = ledger.open(path)
  local recs = {}
  for i, spec in ipairs {
    { environment = "staging", version = "1.0.0", status = "success" },
    { environment = "production", version = "1.0.0", status = "success" },
    { environment = "production", version = "1.1.0", status = "failed", branch = "hotfix" },
    { environment = "production", version = "1.1.0", status = "success" },
  } do
    local r = db:begin { service = "cms", environment = spec.environment, version = spec.version,
                         commit = "c0ffee" .. i, branch = spec.branch or "main", actor = "alice" }
    db:step_end(r.id, db:step_start(r.id, "deploy"), spec.status == "failed" and "failed" or "success")
    db:finish(r.id, spec.status, spec.status == "failed" and { error = "boom", failed_step = "deploy" } or nil)
    recs[i] = r
  end
  db:close()
  return path, recs, d
end

local function ledger_cmd(path, ...)
  return t.drun({ "ledger", "--ledger", path, ... })
end

local function keys(obj)
  local ks = {}
  for k in pairs(obj) do ks[#ks + 1] = k end
  table.sort(ks)
  return table.concat(ks, ",")
end

-- the commands' shapes on every backend (t.BACKENDS)
for _, backend in ipairs(t.BACKENDS) do
  local B = "[" .. backend .. "] "
  t.test(B .. "version --json: the API's current-version shape", function()
    local path, recs = seeded(backend)
    local r = ledger_cmd(path, "version", "--service", "cms", "--env", "production", "--json")
    t.eq(r.code, 0)
    local v = json.decode(r.stdout)
    t.eq(keys(v), "buildNumber,deployedAt,deployedBy,fullVersion,gitBranch,gitCommit,status,success,version")
    t.eq(v.success, true)
    t.eq(v.fullVersion, recs[4].full_version)
    t.eq(v.buildNumber, 2)
    t.eq(v.gitCommit, "c0ffee4")
    t.eq(v.status, "success")
    local human = ledger_cmd(path, "version", "--env", "staging")
    t.match(human.stdout, "^cms staging 1%.0%.0%+build%.1 %(commit c0ffee1 by alice, %d+s ago%)\n$")
  end)

  t.test(B .. "version with nothing deployed: exit 1, success false", function()
    local path = seeded(backend)
    local r = ledger_cmd(path, "version", "--env", "nowhere", "--json")
    t.eq(r.code, 1)
    t.eq(json.decode(r.stdout).success, false)
    t.match(r.stderr, "no successful deployment of any service in nowhere")
  end)

  t.test(B .. "list --json: deployments and count; filters", function()
    local path = seeded(backend)
    local r = ledger_cmd(path, "list", "--json")
    local v = json.decode(r.stdout)
    t.eq(keys(v), "count,deployments,success")
    t.eq(v.count, 4)
    t.eq(keys(v.deployments[1]), "buildNumber,deployedAt,deployedBy,durationMs,environment,error,failedStep,finishedAt,fullVersion,gitBranch,gitCommit,id,metadata,recipe,service,status,version,workflowRunId,workflowRunUrl")
    t.eq(v.deployments[1].version, "1.1.0") -- newest first
    t.eq(json.decode(ledger_cmd(path, "list", "--env", "production", "--json").stdout).count, 3)
    t.eq(json.decode(ledger_cmd(path, "list", "--status", "failed", "--json").stdout).deployments[1].failedStep, "deploy")
    t.eq(json.decode(ledger_cmd(path, "list", "--branch", "hotfix", "--json").stdout).count, 1)
    t.eq(json.decode(ledger_cmd(path, "list", "--version", "1.0.0", "--json").stdout).count, 2)
    t.eq(json.decode(ledger_cmd(path, "list", "--limit", "1", "--json").stdout).count, 1)
  end)

  t.test(B .. "list: aligned human table", function()
    local path = seeded(backend)
    local r = ledger_cmd(path, "list", "--env", "production")
    local lines = {}
    for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
    t.eq(#lines, 4)
    t.match(lines[1], "^ID%s+SERVICE%s+ENV%s+VERSION%s+STATUS%s+DEPLOYED%s+BY%s+COMMIT%s+DURATION$")
    t.match(lines[3], "^%w+%s+cms%s+production%s+1%.1%.0%+build%.1%s+failed%s+%d+s ago%s+alice%s+c0ffee3%s+%d+ms$")
    t.eq(lines[2]:find("production"), lines[1]:find("ENV"), "columns aligned")
    t.no_match(r.stdout, "\27%[", "no colour when not a terminal")
  end)

  t.test(B .. "stats --json: totals and latest version", function()
    local path = seeded(backend)
    local s = json.decode(ledger_cmd(path, "stats", "--json").stdout)
    t.eq(s.success, true)
    t.eq(s.totalDeployments, 4)
    t.eq(s.successfulDeployments, 3)
    t.eq(s.failedDeployments, 1)
    t.eq(s.latestVersion, "1.1.0+build.2", "the full version, as the seed's stats answer")
    t.match(ledger_cmd(path, "stats", "--env", "staging").stdout, "^deployments   1 %(success 1,")
  end)

  t.test(B .. "show: a record with its steps; by full version too", function()
    local path, recs = seeded(backend)
    local r = ledger_cmd(path, "show", recs[3].full_version)
    t.eq(r.code, 0)
    t.match(r.stdout, "status       failed at step deploy")
    t.match(r.stdout, "error        boom")
    t.match(r.stdout, "\n#%s+STEP%s+STATUS")
    local v = json.decode(ledger_cmd(path, "show", recs[3].id, "--json").stdout)
    t.eq(v.deployment.steps[1].name, "deploy")
  end)

  t.test(B .. "mark-rollback: by full version; an unknown id is exit 1", function()
    local path, recs = seeded(backend)
    local r = ledger_cmd(path, "mark-rollback", recs[4].full_version, "--reason", "smoke check failed")
    t.eq(r.code, 0)
    t.match(r.stdout, "marked rollback: smoke check failed")
    t.eq(json.decode(ledger_cmd(path, "version", "--env", "production", "--json").stdout).fullVersion,
         recs[2].full_version, "current version falls back to the previous success")
    r = ledger_cmd(path, "mark-rollback", "NOPE-NOT-AN-ID")
    t.eq(r.code, 1)
    t.match(r.stderr, "no deployment with id or full version 'NOPE%-NOT%-AN%-ID'")
  end)

  t.test(B .. "SQL metacharacters in CLI filters are values", function()
    local path = seeded(backend)
    for _, v in ipairs { "' OR 1=1 --", "%", "production'; DROP TABLE deployment_history; --" } do
      local r = ledger_cmd(path, "list", "--env", v, "--service", v, "--json")
      t.eq(json.decode(r.stdout).count, 0)
    end
    t.eq(json.decode(ledger_cmd(path, "list", "--json").stdout).count, 4)
  end)
end

t.test("bad arguments: exit 2 with the reason", function()
  local path = seeded()
  for _, case in ipairs {
    { { "list", "--limit=-1" }, "%-%-limit takes a whole number of at least 1 %(got '%-1'%)" },
    { { "list", "--limit", "-1" }, "unknown option '%-1'\n%(see drun ledger list %-%-help%)" },
    { { "list", "--limit", "abc" }, "got 'abc'" },
    { { "list", "--limit", "1.5" }, "got '1%.5'" },
    { { "list", "--status", "great" }, "'%-%-status' must be one of 'running', 'success'" },
    { { "list", "--colour" }, "unknown option '%-%-colour'" },
    { { "frobnicate" }, "unknown command 'frobnicate'" },
    { { "show" }, "drun ledger show: missing argument 'ref'" },
    { { "list", "--env" }, "option '%-%-env' requires an argument" },
  } do
    local r = ledger_cmd(path, table.unpack(case[1]))
    t.eq(r.code, 2, table.concat(case[1], " "))
    t.match(r.stderr, case[2])
  end
  t.eq(t.drun({ "ledger" }).code, 2)
  t.match(t.drun({ "ledger", "--help" }).stdout, "^Usage: drun ledger")
end)

t.test("a file that is not a ledger: exit 1, clear message, untouched", function()
  local d = t.tmpdir()
  local path = t.write(d .. "/ledger.db", string.rep("\1\2garbage", 300))
  local r = ledger_cmd(path, "list")
  t.eq(r.code, 1)
  t.match(r.stderr, "ledger: .*/ledger%.db is not a drun ledger")
  t.eq(require("drun.fs").read(path), string.rep("\1\2garbage", 300))
end)

t.test("default path: .drun/ledger.db at the repository root; DRUN_LEDGER overrides", function()
  local d = t.tmpdir()
  proc.run { "git", "init", "-q", d }
  require("drun.fs").mkdir(d .. "/apps/cms")
  -- a read command names the path it looked at, and creates nothing there
  local r = t.drun({ "ledger", "list" }, { cwd = d .. "/apps/cms", env = { DRUN_LEDGER = false } })
  t.eq(r.code, 1, r.stderr)
  t.match(r.stderr, "no ledger at " .. (d .. "/.drun/ledger.db"):gsub("%p", "%%%0"))
  t.eq(require("drun.fs").exists(d .. "/.drun"), false)
  require("drun.ledger").open(d .. "/.drun/ledger.db"):close() -- as the first deploy would
  r = t.drun({ "ledger", "list" }, { cwd = d .. "/apps/cms", env = { DRUN_LEDGER = false } })
  t.eq(r.code, 0, r.stderr)
  local other = d .. "/elsewhere.db"
  r = t.drun({ "ledger", "list" }, { cwd = d, env = { DRUN_LEDGER = other } })
  t.match(r.stderr, "no ledger at " .. other:gsub("%p", "%%%0"))
  t.eq(require("drun.fs").exists(other), false)
end)

t.test("export | import through the command line", function()
  local path = seeded()
  local d = t.tmpdir()
  local r = ledger_cmd(path, "export", d .. "/all.jsonl")
  t.eq(r.code, 0)
  t.match(r.stderr, "exported 4 deployment%(s%)")
  local target = d .. "/copy.db"
  r = t.drun({ "ledger", "--ledger", target, "import" }, { stdin = require("drun.fs").read(d .. "/all.jsonl") })
  t.match(r.stderr, "imported 4 new deployment%(s%)")
  r = ledger_cmd(target, "import", d .. "/all.jsonl")
  t.match(r.stderr, "imported 0 new deployment%(s%)")
  t.eq(ledger_cmd(target, "list", "--json").stdout, ledger_cmd(path, "list", "--json").stdout)
  r = ledger_cmd(target, "import", d .. "/missing.jsonl")
  t.eq(r.code, 1)
  t.match(r.stderr, "No such file")
end)

t.test("migrate --to: sqlite -> PostgreSQL -> D1 -> sqlite, ids, build numbers, steps and metadata kept; builds continue", function()
  local path, recs, d = seeded()
  local pg = t.ledger_address("postgres")
  local r = ledger_cmd(path, "migrate", "--to", pg)
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "copied 4 deployment%(s%) from .*ledger%.db to postgres://drun:%*%*%*@127%.0%.0%.1:%d+/drun%?options=%S+ %(4 new there, 0 already there%)")
  t.no_match(r.stdout .. r.stderr, t.postgres().PG_PASSWORD)
  t.eq(ledger_cmd(pg, "list", "--json").stdout, ledger_cmd(path, "list", "--json").stdout)
  t.eq(ledger_cmd(pg, "show", recs[3].id, "--json").stdout, ledger_cmd(path, "show", recs[3].id, "--json").stdout)
  r = ledger_cmd(path, "migrate", "--to", pg) -- again: nothing doubled
  t.match(r.stdout, "%(0 new there, 4 already there%)")
  local d1 = t.ledger_address("d1")
  r = ledger_cmd(pg, "migrate", "--to", d1)
  t.eq(r.code, 0, r.stderr)
  t.eq(ledger_cmd(d1, "list", "--json").stdout, ledger_cmd(path, "list", "--json").stdout)
  t.eq(ledger_cmd(d1, "show", recs[3].id, "--json").stdout, ledger_cmd(path, "show", recs[3].id, "--json").stdout)
  local back = d .. "/back.db"
  t.eq(ledger_cmd(d1, "migrate", "--to", back).code, 0)
  t.eq(ledger_cmd(back, "list", "--json").stdout, ledger_cmd(path, "list", "--json").stdout)
  for _, address in ipairs { pg, d1, back } do -- the next build continues after what moved
    t.eq(ledger.open(address):begin { service = "cms", environment = "production", version = "1.1.0" }.full_version,
         "1.1.0+build.3", address)
  end
  r = ledger_cmd(path, "migrate")
  t.eq(r.code, 2)
  t.match(r.stderr, "migrate needs %-%-to ADDRESS")
  t.eq(ledger_cmd(path, "migrate", "--to", "mysql://x/y").code, 2)
  t.match(ledger_cmd(path, "migrate", "--to", path).stderr, "names the ledger it reads")
end)

t.test("a recipe's ledger = ...: used unless DRUN_LEDGER or --ledger says otherwise; plan says which, without a password", function()
  local d = t.tmpdir()
  local recipe = t.write(d .. "/r.lua", ([[
local r = require("drun.recipe").new { name = "x", service = "svc", environment = "staging", version = "1.0.0",
                                       ledger = %q }
r:step("one", {}, function() end)
return r]]):format(d .. "/from-recipe.db"))
  local function count(path) return #ledger.open(path):history() end
  t.eq(t.drun({ recipe }, { cwd = d }).code, 0)
  t.eq(count(d .. "/from-recipe.db"), 1, "the recipe's ledger")
  t.eq(t.drun({ recipe }, { cwd = d, env = { DRUN_LEDGER = d .. "/from-env.db" } }).code, 0)
  t.eq(count(d .. "/from-env.db"), 1, "DRUN_LEDGER wins over the recipe")
  t.eq(t.drun({ recipe, "--ledger", d .. "/from-flag.db" }, { cwd = d, env = { DRUN_LEDGER = d .. "/from-env.db" } }).code, 0)
  t.eq(count(d .. "/from-flag.db"), 1, "--ledger wins over both")
  t.eq(count(d .. "/from-recipe.db"), 1)
  t.match(t.drun({ "plan", recipe }, { cwd = d }).stdout, "ledger +" .. (d .. "/from-recipe.db"):gsub("%p", "%%%0") .. " %(the recipe's ledger%)")
  local p = t.drun({ "plan", recipe }, { cwd = d, env = { DRUN_LEDGER = "postgres://ci:s3cret-pw@db.internal/drun" } })
  t.match(p.stdout, "ledger +postgres://ci:%*%*%*@db%.internal/drun %(DRUN_LEDGER%)")
  t.no_match(p.stdout .. p.stderr, "s3cret%-pw")
  -- a recipe naming a ledger that is no address: a recipe error, nothing run
  local bad = t.write(d .. "/bad.lua", [[
local r = require("drun.recipe").new { name = "x", service = "svc", environment = "staging", version = "1.0.0",
                                       ledger = "mysql://h/db" }
r:step("one", {}, function() require("drun.fs").write("RAN", "x") end)
return r]])
  local r = t.drun({ bad }, { cwd = d })
  t.eq(r.code, 3, r.stderr)
  t.match(r.stderr, "recipe%.new: unknown ledger address scheme 'mysql://'")
  t.eq(require("drun.fs").exists(d .. "/RAN"), false)
end)

local fs = require "drun.fs"

t.test("read commands: a read-only ledger is listed, shown and exported; a mistyped path creates nothing", function()
  local d = t.tmpdir()
  local lp = d .. "/ro/ledger.db"
  fs.mkdir(d .. "/ro")
  local db = ledger.open(lp)
  local rec = db:begin { service = "cms", environment = "production", version = "1.2.0" }
  db:finish(rec.id, "success")
  db:close()
  proc.run { "chmod", "444", lp }
  proc.run { "chmod", "555", d .. "/ro" }
  proc.run { "chmod", "755", d }
  local as_nobody = proc.output { "id", "-u" } == "0" and { "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups" } or {}
  for _, cmd in ipairs { { "list" }, { "show", "1.2.0+build.1" }, { "export" }, { "version", "--service", "cms" },
                         { "stats" } } do
    local argv = {}
    for _, a in ipairs(as_nobody) do argv[#argv + 1] = a end
    for _, a in ipairs { t.DRUN, "ledger", "--ledger", lp } do argv[#argv + 1] = a end
    for _, a in ipairs(cmd) do argv[#argv + 1] = a end
    argv.check = false
    local r = proc.run(argv)
    t.eq(r.code, 0, cmd[1] .. ": " .. r.stderr)
    t.match(r.stdout, "1%.2%.0", cmd[1])
  end
  proc.run { "chmod", "755", d .. "/ro" }
  for _, cmd in ipairs { "list", "export", "stats", "version" } do
    local r = t.drun { "ledger", "--ledger", d .. "/typo/ledgr.db", cmd }
    t.eq(r.code, 1, cmd)
    t.match(r.stderr, "no ledger at " .. (d .. "/typo/ledgr.db"):gsub("%p", "%%%0"))
  end
  t.eq(fs.exists(d .. "/typo"), false, "no folder made for a mistyped path")
end)

t.test("ledger addresses: an unknown scheme or a malformed URL is exit 2 naming the forms; a URL never becomes a file", function()
  local d = t.tmpdir()
  local fs = require "drun.fs"
  local function listing() return table.concat(fs.list(d), ",") end
  local cases = {
    { "mysql://h/db", "unknown ledger address scheme 'mysql://'; a ledger is a path %(sqlite%), postgres://" },
    { "postgres://drun:hunter2secret@h:99999/db", "postgres://drun:%*%*%*@h:99999/db has no valid port" },
    { "postgresql://h/db%zz", "has a broken %%%-escape" },
    { "d1://acct/ledger", '"ledger" is not a D1 database id %(a UUID' },
    { "d1://acct", "is not d1://ACCOUNT_ID/DATABASE_ID" },
  }
  for _, c in ipairs(cases) do
    for _, how in ipairs { "flag", "env" } do
      local argv = how == "flag" and { "ledger", "--ledger", c[1], "list" } or { "ledger", "list" }
      local r = t.drun(argv, { cwd = d, env = { DRUN_LEDGER = how == "env" and c[1] or false } })
      t.eq(r.code, 2, c[1] .. " " .. how .. ": " .. r.stderr)
      t.match(r.stderr, c[2], c[1])
      t.no_match(r.stderr, "hunter2secret")
    end
  end
  -- a recipe run: refused before anything runs, nothing made in the working directory
  local recipe = t.write(d .. "/r.lua", [[
local r = require("drun.recipe").new { name = "x", service = "x", environment = "staging", version = "1.0.0" }
r:step("touch", {}, function() require("drun.fs").write("TOUCHED", "x") end)
return r]])
  local before = listing()
  for _, address in ipairs { "mysql://h/db", "postgres://drun:hunter2secret@127.0.0.1/db",
                             "d1://acct/00000000-0000-4000-8000-000000000000" } do
    local r = t.drun({ recipe, "--ledger", address }, { cwd = d })
    t.ok(r.code ~= 0, address)
    t.no_match(r.stdout .. r.stderr, "hunter2secret")
    t.eq(listing(), before, address .. ": nothing written here")
  end
  -- a path with a colon in it is still a path
  local path = d .. "/team:ledger.db"
  ledger.open(path):close()
  t.eq(t.drun({ "ledger", "--ledger", path, "list" }).code, 0)
end)

t.test("ledger.address: what each form means", function()
  t.same(ledger.address("/srv/ledger.db"), { backend = "sqlite", path = "/srv/ledger.db", shown = "/srv/ledger.db" })
  t.same(ledger.address("postgresql://u@[::1]:5432/drun?sslmode=verify-full"),
         { backend = "postgres", url = "postgresql://u@[::1]:5432/drun?sslmode=verify-full",
           shown = "postgresql://u@[::1]:5432/drun?sslmode=verify-full" })
  t.eq(ledger.address("postgres://u:pa%40ss@db.internal/drun").shown, "postgres://u:***@db.internal/drun")
  t.same(ledger.address("d1://0123abcd/0F6A2C1E-1111-4222-8333-444455556666"),
         { backend = "d1", account = "0123abcd", database = "0f6a2c1e-1111-4222-8333-444455556666",
           shown = "d1://0123abcd/0F6A2C1E-1111-4222-8333-444455556666" })
  local ok, why = ledger.address("")
  t.eq(ok, nil)
  t.match(why, "empty")
end)

t.test("locks and unlock: who holds what; a running or remote holder only with --force; a dead one freely", function()
  local d = t.tmpdir()
  local path = d .. "/ledger.db"
  ledger.open(path):close()
  t.eq(ledger_cmd(path, "locks").stdout, "no locks held\n")
  -- a live holder: a drun that holds cms/production and sleeps
  local out = d .. "/holder.out"
  local pid = proc.run { "sh", "-c", '"$0" -e "$1" >"$2" 2>&1 & echo $!', t.DRUN, ([[
    local l = require("drun.ledger").open(%q)
    l:lock("cms", "production", { recipe = "cms-prod" })
    io.write("locked\n"); io.stdout:flush()
    require("drun.time").sleep(30)]]):format(path), out }.stdout:match("%d+")
  for _ = 1, 400 do
    if (require("drun.fs").try.read(out) or ""):find("locked") then break end
    require("drun.time").sleep(0.025)
  end
  local holder = { pid = pid }
  -- one from another host (a CI runner elsewhere), and one whose drun died
  local db = ledger.open(path)
  db:lock("cms", "staging", { recipe = "cms-staging" })
  db:close()
  proc.run { "sqlite3", path, "UPDATE locks SET host = 'ci-runner-7' WHERE environment = 'staging';"
             .. "INSERT INTO locks (service, environment, pid, host, pid_ident, started_at, recipe) VALUES"
             .. " ('docs', 'production', 999999, '" .. proc.output { "hostname" }
             .. "', 'x:1', '2026-11-22T00:00:00.000Z', 'docs-pages')" }
  local r = ledger_cmd(path, "locks")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "cms%s+production%s+" .. holder.pid .. "@%S+%s+cms%-prod%s+%S+ ago%s+running")
  t.match(r.stdout, "cms%s+staging%s+%d+@ci%-runner%-7%s+cms%-staging%s+.-another host, lease for 1m")
  t.match(r.stdout, "docs%s+production%s+999999@%S+%s+docs%-pages%s+.-gone")
  local list = json.decode(ledger_cmd(path, "locks", "--json").stdout)
  t.eq(list.count, 3)
  t.eq(keys(list.locks[1]), "acquiredAt,environment,expiresAt,holder,host,pid,recipe,renewedAt,runUrl,service")
  -- refused without --force, the holder named, nothing released
  r = ledger_cmd(path, "unlock", "cms", "production")
  t.eq(r.code, 1)
  t.match(r.stderr, "cms/production is held by pid " .. holder.pid .. " on .-, which is still running; %-%-force releases it")
  r = ledger_cmd(path, "unlock", "cms", "staging")
  t.eq(r.code, 1)
  t.match(r.stderr, "on another host, where drun cannot tell whether it still runs")
  t.eq(json.decode(ledger_cmd(path, "locks", "--json").stdout).count, 3)
  -- a dead holder's lock goes without --force; the others with it
  r = ledger_cmd(path, "unlock", "docs", "production")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "released the lock on docs/production, held by pid 999999 on %S+ %(recipe docs%-pages, since .-%): that drun was gone")
  r = ledger_cmd(path, "unlock", "cms", "production", "--force")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "released the lock on cms/production, held by pid " .. holder.pid)
  t.eq(ledger_cmd(path, "unlock", "cms", "staging", "--force").code, 0)
  t.eq(ledger_cmd(path, "locks").stdout, "no locks held\n")
  proc.run { "kill", pid }
  r = ledger_cmd(path, "unlock", "cms", "production")
  t.eq(r.code, 1)
  t.match(r.stderr, "no lock on cms/production")
  r = ledger_cmd(path, "unlock", "cms")
  t.eq(r.code, 2)
  t.match(r.stderr, "drun ledger unlock: missing argument 'env'")
  -- locks only reads: no ledger, none made
  r = ledger_cmd(d .. "/none.db", "locks")
  t.eq(r.code, 1)
  t.eq(require("drun.fs").exists(d .. "/none.db"), false)
end)
