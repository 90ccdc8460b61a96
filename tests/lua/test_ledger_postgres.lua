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

-- last: it stops the file's server
t.test("the server goes away mid-run: the run stops before its next step and says why", function()
  local address = t.ledger_address("postgres")
  local root = os.getenv("DRUN_ROOT") or fs.cwd()
  local d = checkout(("ctx.run { %q, %q }"):format(root .. "/tests/sandbox/stop", t.postgres().dir))
  local r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = address } })
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "the ledger cannot record this run %(.*%): stopped before this step")
  t.eq(fs.exists(d .. "/DEPLOYED"), false, "the next step did not run")
  t.no_match(r.stdout .. r.stderr, t.postgres().PG_PASSWORD)
end)
