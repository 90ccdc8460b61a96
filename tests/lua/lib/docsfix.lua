-- The docs flow under test: the CMS fixture (docs/usage-docs changed after
-- the cms-v1.4.0 tag and in the last commit; docs/dev-docs not since the
-- first commit), a sandbox, and helpers to make commits and read what the
-- sandbox's Pages and GitHub saw.
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"

local flowfix = require "flowfix"

local M = flowfix.class(120)

-- setup{projects = {name = production branch | false}}: the Pages projects
-- made first (default: both sites' projects, production branch main)
function M.setup(o)
  local f = flowfix.new(M, "cms")
  for _, name in ipairs { "GITHUB_ACTOR", "GITHUB_SHA", "GITHUB_RUN_ID", "GITHUB_REF_NAME", "GITHUB_HEAD_REF",
                          "GITHUB_BASE_REF", "GITHUB_REPOSITORY" } do
    f.env[name] = false
  end
  -- Pages projects exist before a first deploy (wrangler creates none when not interactive)
  local projects = o and o.projects or {}
  for _, project in ipairs { "usage-docs", "dev-docs" } do
    local branch = projects[project] == nil and "main" or projects[project]
    if branch then
      local r = proc.run { "wrangler", "pages", "project", "create", project, "--production-branch", branch,
                           env = f.env, check = false }
      assert(r.code == 0, r.stderr)
    end
  end
  return f
end

function M:git(...)
  local argv = { "git", "-C", self.repo, ... }
  argv.env = { GIT_CONFIG_NOSYSTEM = "1" }
  return proc.output(argv)
end

-- commit{path = text to append, ...} with a subject; returns the new sha
function M:commit(subject, files)
  for path, text in pairs(files) do
    local full = self.repo .. "/" .. path
    fs.mkdir(fs.dirname(full))
    fs.write(full, (fs.try.read(full) or "") .. text)
    self:git("add", path)
  end
  self:git("commit", "-q", "-m", subject)
  return self:git("rev-parse", "HEAD")
end

function M:docs(mode, ...) return self:run("docs-pages", "mode=" .. mode, ...) end

-- the sandbox's Pages deployments of a project, oldest first
function M:pages(project)
  local state = json.decode(fs.try.read(self.sandbox .. "/state/pages.json") or "{}")
  return state[project] or {}
end

function M:comments(issue)
  local gh = json.decode(fs.try.read(self.sandbox .. "/state/github.json") or '{"comments": []}')
  local list = {}
  for _, c in ipairs(gh.comments) do
    if c.issue == issue then list[#list + 1] = c end
  end
  return list
end

-- a site's ledger records, newest first
function M:records(service)
  if not fs.exists(self.ledger) then return {} end
  return require("drun.ledger").open(self.ledger):history { service = service }
end

return M
