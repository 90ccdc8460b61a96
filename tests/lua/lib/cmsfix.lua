-- The CMS flow under test: the fixture repository, a sandbox, and a way to
-- run the shipped recipes from the repository's root as a user would.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"

local M = {}
local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

function M.setup()
  local d = t.tmpdir()
  local out = proc.output { ROOT .. "/tests/sandbox/fixture", "cms", d }
  local repo, origin = out:match("^(%S+)\n(%S+)$")
  local env, sdir = t.sandbox(origin)
  env.CMS_STAGING_HEALTH_URL = env.SANDBOX_WORKERS_URL .. "/cms/staging/api/health"
  env.CMS_PRODUCTION_HEALTH_URL = env.SANDBOX_WORKERS_URL .. "/cms/production/api/health"
  env.CMS_SMOKE_INTERVAL = "0.1"
  env.GITHUB_ACTOR, env.GITHUB_SHA, env.GITHUB_RUN_ID, env.GITHUB_REF_NAME, env.GITHUB_REPOSITORY = false, false, false, false, false
  local f = { dir = d, repo = repo, origin = origin, env = env, sandbox = sdir, ledger = d .. "/ledger.db" }
  return setmetatable(f, { __index = M })
end

-- run("cms-prod", "version_bump=minor", "--yes") -> result
function M:run(name, ...)
  local argv = { t.DRUN, ROOT .. "/recipes/" .. name .. ".lua", "--ledger", self.ledger, ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo, self.env, false, 180
  return proc.run(argv)
end

function M:wrangler(dir, ...)
  local argv = { "wrangler", ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo .. "/" .. dir, self.env, false, 120
  return proc.run(argv)
end

function M:fault(...) proc.run { ROOT .. "/tests/sandbox/fault", self.sandbox, ... } end

-- the wrangler calls, in order, as {cmd, cwd}
function M:calls(kind)
  local out = {}
  for line in (fs.try.read(self.sandbox .. "/calls.jsonl") or ""):gmatch("[^\n]+") do
    local c = json.decode(line)
    if c.tool == "wrangler" and (not kind or c.argv[1] == kind) then out[#out + 1] = c end
  end
  return out
end

function M:deployments(dir, env)
  return json.decode(self:wrangler(dir, "deployments", "list", "--env", env, "--json").stdout)
end

function M:health(env) return require("drun.http").get(self.env[env == "staging" and "CMS_STAGING_HEALTH_URL" or "CMS_PRODUCTION_HEALTH_URL"]) end

function M:latest() return require("drun.ledger").open(self.ledger):latest {} end

-- a legacy database: the app migrated itself (schema up to 0003), no tracker
function M:make_legacy(db, env)
  local schema = "CREATE TABLE organizations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, slug TEXT);" ..
                 "CREATE TABLE posts (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, title TEXT NOT NULL);"
  local r = self:wrangler("apps/cms", "d1", "execute", db, "--env", env, "--remote", "--command", schema)
  assert(r.code == 0, r.stderr)
end

return M
