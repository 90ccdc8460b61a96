-- The shared ledger on Cloudflare D1's REST API (the sandbox's stand-in,
-- tests/sandbox/lib/d1api.py, answering as Cloudflare documents, over a real
-- sqlite file): the seed's own queries against a drun ledger, and the bad
-- inputs: an unknown database (404), a token without D1 permission (403), an
-- unknown token, no token, a rate limit (429, then success). The ledger's
-- behaviour itself runs on D1 in test_ledger.lua and test_ledger_lease.lua.
local t = require "t"
local fs = require "drun.fs"
local http = require "drun.http"
local json = require "drun.json"
local proc = require "drun.proc"

local RECIPE = [[
local r = require("drun.recipe").new { name = "ship", service = "cms", environment = "production", version = "0.11.3" }
r:step("build", {}, function() end)
r:step("deploy", {}, function() require("drun.fs").write("DEPLOYED", "yes") end)
return r]]

local function checkout()
  local d = t.tmpdir()
  t.write(d .. "/recipe.lua", RECIPE)
  proc.run { "git", "init", "-q", d }
  return d
end

-- calls.jsonl's D1 requests: {status-ish fault or nil} per request
local function d1_calls()
  local n, faults = 0, {}
  for line in (fs.try.read(t.d1().dir .. "/calls.jsonl") or ""):gmatch("[^\n]+") do
    local c = json.decode(line)
    if c.tool == "d1-api" then
      n = n + 1
      faults[n] = (c.fault ~= nil and c.fault ~= json.null) and c.fault or "ok"
    end
  end
  return n, faults
end

t.test("a deployment recorded in D1 answers the seed's own queries (deployment_duration, git_commit, ...)", function()
  local address = t.ledger_address("d1")
  local d = checkout()
  local r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = address } })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "0%.11%.3%+build%.1 is live in production")
  t.eq(fs.exists(d .. "/.drun"), false)
  -- as the seed's worker and `wrangler d1 execute` read it
  local env = t.d1()
  local uuid = address:match("[^/]+$")
  local q = http.post(env.CLOUDFLARE_API_BASE_URL .. "/accounts/" .. env.CLOUDFLARE_ACCOUNT_ID .. "/d1/database/"
    .. uuid .. "/query", { expect = 200, headers = { Authorization = "Bearer " .. env.CLOUDFLARE_API_TOKEN },
    json = { sql = "SELECT version, build_number, full_version, git_commit, git_branch, deployed_at, deployed_by,"
      .. " status, deployment_duration, workflow_run_id, workflow_run_url, metadata FROM deployment_history"
      .. " WHERE status = 'success' ORDER BY deployed_at DESC LIMIT 1" } }):json()
  local row = q.result[1].results[1]
  t.eq(row.full_version, "0.11.3+build.1")
  t.eq(row.build_number, 1)
  t.eq(math.type(row.deployment_duration), "integer")
  t.eq(row.status, "success")
  local s = json.decode(t.drun({ "ledger", "--ledger", address, "stats", "--json" }).stdout)
  t.eq(s.latestVersion, "0.11.3+build.1")
  t.eq(s.totalDeployments, 1)
end)

t.test("an unknown D1 database: exit 1 with Cloudflare's 404, the run does not start", function()
  t.d1()
  local address = "d1://sandbox-account/00000000-0000-4000-8000-000000000000"
  local r = t.drun { "ledger", "--ledger", address, "list" }
  t.eq(r.code, 1)
  t.match(r.stderr, "ledger: " .. address:gsub("%p", "%%%0")
          .. ": cannot read: Cloudflare answered 404, code 7404: The database 00000000%-0000%-4000%-8000%-000000000000 could not be found")
  local d = checkout()
  r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = address } })
  t.eq(r.code, 1)
  t.eq(fs.exists(d .. "/DEPLOYED"), false)
end)

t.test("tokens: one without D1 permission (403 7403), an unknown one (403 10000), none at all; never shown", function()
  local address = t.ledger_address("d1")
  local cases = {
    { "sandbox-cloudflare-token-no-d1", "Cloudflare answered 403, code 7403: The given account is not valid or is not authorized" },
    { "made-up-token-4242", "Cloudflare answered 403, code 10000: Authentication error" },
    { false, "CLOUDFLARE_API_TOKEN is not set" },
  }
  for _, c in ipairs(cases) do
    local d = checkout()
    local r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = address, CLOUDFLARE_API_TOKEN = c[1] } })
    t.eq(r.code, 1, tostring(c[1]))
    t.match(r.stdout .. r.stderr, c[2])
    if c[1] then t.no_match(r.stdout .. r.stderr, c[1]:gsub("%p", "%%%0")) end
    t.eq(fs.exists(d .. "/DEPLOYED"), false)
  end
end)

t.test("a rate limit: 429 with Retry-After, sent again after it, the deployment recorded once", function()
  local address = t.ledger_address("d1")
  local uuid = address:match("[^/]+$")
  local root = os.getenv("DRUN_ROOT") or fs.cwd()
  proc.run { root .. "/tests/sandbox/fault", t.d1().dir, "d1:" .. uuid .. "=429" }
  local before = d1_calls()
  local d = checkout()
  local r = t.drun({ "recipe.lua" }, { cwd = d, env = { DRUN_LEDGER = address } })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local n, faults = d1_calls()
  t.eq(faults[before + 1], "429", "the first request was refused")
  t.ok(n > before + 1)
  local list = json.decode(t.drun({ "ledger", "--ledger", address, "list", "--json" }).stdout)
  t.eq(list.count, 1)
  t.eq(list.deployments[1].fullVersion, "0.11.3+build.1")
end)
