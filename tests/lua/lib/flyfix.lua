-- The Fly promotion flow under test: the fixture app (three commits: accounts
-- migration, no migration, orders migration), one image per commit in the
-- sandbox registry, and app-development already running the first.
local proc = require "drun.proc"
local json = require "drun.json"

local flowfix = require "flowfix"

local M = flowfix.class(120)

function M.setup()
  local f = flowfix.new(M, "fly")
  local env, repo = f.env, f.repo
  f.commits, f.digests = {}, {}
  env.FLY_HEALTH_URL = env.SANDBOX_APPS_URL .. "/%s/health"
  env.FLY_BACKUP_INTERVAL, env.FLY_HEALTH_INTERVAL, env.SANDBOX_BACKUP_SECONDS = "0.05", "0.05", "0.1"
  env.GITHUB_ACTOR, env.GITHUB_SHA = false, false
  for _, app in ipairs { "app-development", "app-staging", "app-production" } do
    local r = f:sh("fly", "apps", "create", app, "-o", "personal")
    assert(r.code == 0, r.stderr)
  end
  for i = 1, 3 do
    f.commits[i] = proc.output { "git", "-C", repo, "rev-parse", "HEAD~" .. (3 - i) }
    f.digests[i] = f:sh("sandbox-registry", "push", "app:v" .. i, "--label", "commit=" .. f.commits[i]).stdout:match("%S+")
  end
  f:put("development", 1)
  return f
end

function M:sh(...)
  local argv = { ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo, self.env, false, 60
  return proc.run(argv)
end

-- the dev pipeline's part: app-<env> runs image i
function M:put(env, i)
  local r = self:sh("fly", "deploy", "-a", "app-" .. env, "-c", "fly." .. env .. ".toml",
                    "--image", "registry.fly.io/app@" .. self.digests[i])
  assert(r.code == 0, r.stdout .. r.stderr)
end

function M:promote(path, ...) return self:run("fly-promote", "promotion_path=" .. path, ...) end

-- the digest every machine of app-<env> runs (fly status), nil when none
function M:running(env)
  local r = self:sh("fly", "status", "-a", "app-" .. env, "--json")
  if r.code ~= 0 then return nil end -- no such app yet
  local st = json.decode(r.stdout)
  local d
  for _, m in ipairs(type(st.Machines) == "table" and st.Machines or {}) do
    local digest = m.image_ref and m.image_ref.digest
    assert(d == nil or d == digest, "machines differ")
    d = digest
  end
  return d
end

return M
