-- The shared ledger on a real PostgreSQL server (tests/sandbox/postgres):
-- what CI runners see (fresh checkouts sharing one history), and its bad
-- inputs: a wrong password, an unreachable server, a server that goes away
-- mid-run. The ledger's behaviour itself is tested on every backend by
-- test_ledger.lua and test_ledger_lease.lua.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"

local RECIPE = [[
local r = require("drun.recipe").new { name = "ship", service = "cms", environment = "staging", version = "1.4.0" }
r:step("first", {}, function(ctx) %s end)
r:step("deploy", {}, function() require("drun.fs").write("DEPLOYED", "yes") end)
return r]]

-- a fresh checkout, as a CI runner has: a new directory with the recipe in it
local function checkout(first_step)
  local d = t.tmpdir()
  t.write(d .. "/recipe.lua", RECIPE:format(first_step or ""))
  proc.run { "git", "init", "-q", d }
  return d
end

local function free_port()
  return proc.output { "python3", "-c",
    "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" }
end

t.test("two fresh checkouts share one history: build numbers continue, the current version is the other's", function()
  local address = t.ledger_address("postgres")
  for n = 1, 2 do
    local d = checkout()
    local r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = address } })
    t.eq(r.code, 0, r.stdout .. r.stderr)
    t.match(r.stdout, "1%.4%.0%+build%." .. n .. " is live in staging")
    t.eq(fs.exists(d .. "/.drun"), false, "nothing kept in the checkout")
  end
  local r = t.drun({ "ledger", "version", "--json" }, { cwd = checkout(), env = { DRUN_LEDGER = address } })
  t.eq(r.code, 0, r.stderr)
  t.eq(json.decode(r.stdout).fullVersion, "1.4.0+build.2")
  local list = json.decode(t.drun({ "ledger", "--ledger", address, "list", "--json" }).stdout)
  t.eq(list.count, 2)
  t.eq(list.deployments[1].durationMs ~= json.null, true, "durations recorded")
end)

t.test("the password of the ledger's address is masked in what a recipe prints, too", function()
  local address = t.ledger_address("postgres")
  local d = checkout("print('ledger: ' .. ctx.ledger_path); require('drun.log').info('%s', ctx.ledger_path)")
  local r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = address } })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "ledger: postgres://drun:%*%*%*@127%.0%.0%.1")
  t.no_match(r.stdout .. r.stderr, t.postgres().PG_PASSWORD)
end)

t.test("a wrong password: exit 1 naming the address without it, the server's reason, nothing run", function()
  local pg = t.postgres()
  local wrong = "wrong-pass-" .. pg.PG_PASSWORD:sub(1, 6)
  local bad = pg.PG_URL:gsub(":" .. pg.PG_PASSWORD .. "@", ":" .. wrong .. "@")
  local r = t.drun { "ledger", "--ledger", bad, "list" }
  t.eq(r.code, 1, r.stderr)
  t.match(r.stderr, "cannot reach postgres://drun:%*%*%*@127%.0%.0%.1:%d+/drun: .*password authentication failed")
  t.no_match(r.stdout .. r.stderr, wrong)
  -- PGPASSWORD, as libpq reads it: masked too, and the run does not start
  local d = checkout()
  local url = pg.PG_URL:gsub(":" .. pg.PG_PASSWORD .. "@", "@")
  r = t.drun({ "recipe.lua", "--json" }, { cwd = d, env = { DRUN_LEDGER = url, PGPASSWORD = wrong } })
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout .. r.stderr, "password authentication failed")
  t.no_match(r.stdout .. r.stderr, wrong)
  t.eq(fs.exists(d .. "/DEPLOYED"), false)
end)

t.test("TLS is what sslmode asks: sslmode=require against a server without TLS is refused, not downgraded", function()
  local address = t.ledger_address("postgres")
  local r = t.drun { "ledger", "--ledger", address .. "&sslmode=require", "list" }
  t.eq(r.code, 1)
  t.match(r.stderr, "cannot reach postgres://drun:%*%*%*@.*sslmode=require: .*server does not support SSL, but SSL was required")
end)

t.test("an unreachable server: the run does not start (exit 1, the address, the cause)", function()
  local d = checkout()
  local url = "postgres://drun:hunter2-secret@127.0.0.1:" .. free_port() .. "/drun"
  local r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = url } })
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, "cannot reach postgres://drun:%*%*%*@127%.0%.0%.1:%d+/drun: .*[Cc]onnection refused")
  t.no_match(r.stdout .. r.stderr, "hunter2%-secret")
  t.eq(fs.exists(d .. "/DEPLOYED"), false, "no step ran")
  r = t.drun { "ledger", "--ledger", url, "stats" }
  t.eq(r.code, 1)
  t.match(r.stderr, "cannot reach")
end)

t.test("read-only commands on an empty database create nothing", function()
  local address, schema = t.ledger_address("postgres")
  local r = t.drun { "ledger", "--ledger", address, "list" }
  t.eq(r.code, 1)
  t.match(r.stderr, "no ledger at postgres://drun:%*%*%*@.* %(no drun tables in that database yet%)")
  t.eq(t.psql("SELECT count(*) FROM information_schema.tables WHERE table_schema = '" .. schema .. "'"), "0")
end)

t.test("the server goes away mid-run: the run stops before its next step; the journal sends what it missed", function()
  local address = t.ledger_address("postgres")
  local d = checkout("require('drun.proc').run { 'true' }") -- (the server is stopped from outside, below)
  t.write(d .. "/recipe.lua", RECIPE:format(("local f = io.open(%q, 'w'); f:write('x'); f:close();"
    .. " for _ = 1, 400 do if not io.open(%q) then break end require('drun.time').sleep(0.025) end")
    :format(d .. "/IN_FIRST", d .. "/IN_FIRST")))
  -- the run, in the background; the server stopped while its first step runs
  local out = d .. "/run.out"
  proc.run { "sh", "-c", '(cd "$0" && DRUN_LEDGER="$1" "$2" recipe.lua >"$3" 2>&1; echo $? >"$3.code")'
             .. ' </dev/null >/dev/null 2>&1 &', d, address, t.DRUN, out }
  for _ = 1, 400 do if fs.exists(d .. "/IN_FIRST") then break end require("drun.time").sleep(0.025) end
  t.postgres_ctl("stop")
  fs.remove(d .. "/IN_FIRST")
  for _ = 1, 800 do if fs.exists(out .. ".code") then break end require("drun.time").sleep(0.025) end
  local r = { code = tonumber(fs.read(out .. ".code")), stdout = fs.read(out) }
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "the ledger cannot record this run %(.*%): stopped before this step")
  t.match(r.stdout, "what it could not write is kept in .*/%.drun/journal/%w+%.jsonl: the next drun on this ledger, or drun ledger sync, sends it")
  t.eq(fs.exists(d .. "/DEPLOYED"), false, "the next step did not run")
  t.no_match(r.stdout, t.postgres().PG_PASSWORD)
  local journal = fs.list(d .. "/.drun/journal")
  t.eq(#journal, 1)
  t.no_match(fs.read(d .. "/.drun/journal/" .. journal[1]), t.postgres().PG_PASSWORD)
  -- the server is back: list says a journal waits; sync sends it; nothing lost
  t.postgres_ctl("start")
  local l = t.drun({ "ledger", "list" }, { cwd = d, env = { DRUN_LEDGER = address } })
  t.eq(l.code, 0, l.stderr)
  t.match(l.stderr, "%d+ write%(s%) wait in %.drun/journal/ for postgres://drun:%*%*%*@.*: drun ledger sync")
  local s = t.drun({ "ledger", "sync" }, { cwd = d, env = { DRUN_LEDGER = address } })
  t.eq(s.code, 0, s.stderr)
  t.match(s.stdout, "sent %d+ journaled write%(s%) to postgres://drun:%*%*%*@")
  t.eq(#fs.list(d .. "/.drun/journal"), 0, "the journal is gone once sent")
  local rec = json.decode(t.drun({ "ledger", "--ledger", address, "list", "--json" }).stdout).deployments[1]
  t.eq(rec.status, "failed")
  t.eq(rec.failedStep, "deploy")
  t.match(rec.error, "the ledger cannot record this run")
  local show = json.decode(t.drun({ "ledger", "--ledger", address, "show", rec.id, "--json" }).stdout).deployment
  t.eq(show.steps[1].name, "first")
  t.eq(show.steps[1].status, "success", "the step's end, sent from the journal")
  t.eq(#json.decode(t.drun({ "ledger", "--ledger", address, "locks", "--json" }).stdout).locks, 0, "its lock released")
  t.eq(t.drun({ "ledger", "sync" }, { cwd = d, env = { DRUN_LEDGER = address } }).stdout,
       "no journal waiting for " .. address:gsub(":[^:@/]*@", ":***@") .. "\n")
end)
