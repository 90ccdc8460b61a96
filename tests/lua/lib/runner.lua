-- A fresh GitHub Actions runner, as far as drun can tell: a checkout made
-- the way actions/checkout makes it by default, an empty HOME (no git
-- identity), the GITHUB_* variables a job has, and the files the runner
-- reads back ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY).
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"

local M = {}

-- checkout(origin, dir, {depth = 1, ref = "main"}) -> dir, sha: what
-- actions/checkout@v4 runs without fetch-depth (src/git-source-provider.ts,
-- git-command-manager.ts): init, remote add, one commit fetched without
-- tags into refs/remotes/origin/<ref>, checkout -B <ref>. depth = 0 is
-- fetch-depth: 0 (the whole history, and tags).
function M.checkout(origin, dir, opts)
  opts = opts or {}
  local ref, depth = opts.ref or "main", opts.depth or 1
  local env = { HOME = dir .. ".home", GIT_CONFIG_NOSYSTEM = "1", GIT_TERMINAL_PROMPT = "0" }
  fs.mkdir(env.HOME)
  local function git(...)
    local argv = { "git", "-C", dir, ... }
    argv.env = env
    proc.run(argv)
  end
  fs.mkdir(dir)
  git("init", "-q")
  git("remote", "add", "origin", "file://" .. origin)
  if depth == 0 then
    git("fetch", "-q", "--prune", "--tags", "origin", "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*")
  else
    git("fetch", "-q", "--no-tags", "--prune", "--no-recurse-submodules", "--depth=" .. depth, "origin",
        "+refs/heads/" .. ref .. ":refs/remotes/origin/" .. ref)
  end
  git("checkout", "-q", "--force", "-B", ref, "refs/remotes/origin/" .. ref)
  return dir, proc.output { "git", "-C", dir, "rev-parse", "HEAD", env = env }
end

-- env(base, dir, sha) -> base plus what a job on a push to main sees
function M.env(base, dir, sha)
  local e = {}
  for k, v in pairs(base) do e[k] = v end
  e.HOME = dir .. ".home"
  fs.mkdir(e.HOME)
  e.XDG_CONFIG_HOME, e.GIT_CONFIG_NOSYSTEM = false, "1"
  e.GIT_AUTHOR_NAME, e.GIT_AUTHOR_EMAIL, e.GIT_COMMITTER_NAME, e.GIT_COMMITTER_EMAIL = false, false, false, false
  e.CI, e.GITHUB_ACTIONS = "true", "true"
  e.GITHUB_ACTOR, e.GITHUB_SHA, e.GITHUB_REF_NAME, e.GITHUB_REF_TYPE = "octocat", sha, "main", "branch"
  e.GITHUB_REF = "refs/heads/main"
  e.GITHUB_REPOSITORY, e.GITHUB_RUN_ID, e.GITHUB_SERVER_URL = "acme/cms", "4242", "https://github.example"
  e.GITHUB_WORKSPACE = dir
  e.GITHUB_OUTPUT, e.GITHUB_STEP_SUMMARY = dir .. ".output", dir .. ".summary"
  return e
end

-- outputs(env) -> {name = value} from $GITHUB_OUTPUT (name<<DELIM blocks, as the runner reads them)
function M.outputs(env)
  local text, res = fs.try.read(env.GITHUB_OUTPUT) or "", {}
  local pos = 1
  while true do
    local name, delim, after = text:match("^([%w_%-]+)<<(%S+)\n()", pos)
    if not name then break end
    local stop = text:find("\n" .. delim .. "\n", after - 1, true)
    t.ok(stop, "the delimiter of " .. name .. " closes its value")
    res[name] = text:sub(after, stop - 1)
    pos = stop + #delim + 2
  end
  t.eq(pos, #text + 1, "every line of $GITHUB_OUTPUT is in a name<<DELIM block")
  return res
end

return M
