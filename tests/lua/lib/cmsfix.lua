-- The CMS flow under test: the fixture repository, a sandbox, and a way to
-- run the shipped recipes from the repository's root as a user would.
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"

local flowfix = require "flowfix"

local M = flowfix.class(180)

function M.setup()
  local f = flowfix.new(M, "cms", true)
  local env = f.env
  env.CMS_STAGING_HEALTH_URL = env.SANDBOX_WORKERS_URL .. "/cms/staging/api/health"
  env.CMS_PRODUCTION_HEALTH_URL = env.SANDBOX_WORKERS_URL .. "/cms/api/health" -- production: the top level
  env.CMS_SMOKE_INTERVAL = "0.1"
  env.CMS_WATCH_SECONDS = "0" -- the post-deploy watch is tested on its own (test_cms_watch.lua)
  env.GITHUB_ACTOR, env.GITHUB_SHA, env.GITHUB_RUN_ID, env.GITHUB_REF_NAME, env.GITHUB_REPOSITORY = false, false, false, false, false
  return f
end

-- cms-prod with the release checklist skipped (on the record, as a user
-- would): for tests of what comes after it. The checklist itself is tested
-- in test_cms_checklist.lua; each staging run it asks for costs seconds of
-- the real wrangler's D1.
M.CHECKLIST = "staging-commit,staging-migrations"
function M:prod(...) return self:run("cms-prod", "skip_checks=" .. M.CHECKLIST, ...) end

-- staging deployed from the checkout as it is: what cms-prod's release checklist asks for
function M:staged()
  local r = self:run("cms-staging")
  assert(r.code == 0, r.stdout .. r.stderr)
  return self
end

-- the wrangler calls that change something (deploys, migrations, rollbacks): preflight only reads
function M:changes()
  local out = {}
  for _, c in ipairs(self:calls()) do
    if c.argv[1] == "deploy" or c.argv[1] == "rollback" or (c.argv[1] == "d1" and c.argv[3] == "apply")
       or (c.argv[1] == "d1" and c.argv[2] == "execute" and not table.concat(c.argv, " "):find("sqlite_master", 1, true)) then
      out[#out + 1] = c
    end
  end
  return out
end

function M:wrangler(dir, ...)
  local argv = { "wrangler", ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo .. "/" .. dir, self.env, false, 120
  return proc.run(argv)
end


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
  -- production is wrangler's top level (no --env), as in the seed's repository
  if env == "production" then return json.decode(self:wrangler(dir, "deployments", "list", "--json").stdout) end
  return json.decode(self:wrangler(dir, "deployments", "list", "--env", env, "--json").stdout)
end

-- the version ids production's CMS and MCP serve now (wrangler's top level)
function M:live()
  local function current(dir) local d = self:deployments(dir, "production"); return d[#d].versions[1].version_id end
  return { cms = current("apps/cms"), mcp = current("packages/cms-mcp") }
end

function M:health(env) return require("drun.http").get(self.env[env == "staging" and "CMS_STAGING_HEALTH_URL" or "CMS_PRODUCTION_HEALTH_URL"]) end


-- a legacy database: the app migrated itself (schema up to 0003), no tracker
function M:make_legacy(db, env)
  local schema = "CREATE TABLE organizations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, slug TEXT);" ..
                 "CREATE TABLE posts (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, title TEXT NOT NULL);"
  local argv = { "apps/cms", "d1", "execute", db, "--remote", "--command", schema }
  if env then argv[#argv + 1] = "--env"; argv[#argv + 1] = env end -- no env: wrangler's top level
  local r = self:wrangler(table.unpack(argv))
  assert(r.code == 0, r.stderr)
end

return M
