-- Preflight: what a run will need later, checked before its first change
-- (FLOWS.md §6). A fresh CI runner has a depth-1 checkout without tags and
-- no git identity; a release that finds that out at its `tag` step has
-- already deployed production. So steps declare what they need and drun
-- asks for all of it before anything runs:
--
--   r:step("tag", { needs = { "clean", "identity", { "push", tags = function(ctx) return { "cms-v" .. ctx.version } end } } }, fn)
--   recipe.new { ..., needs = function(params) return params.mode == "production" and { { "tags", pattern = "cms-v*" } } or {} end,
--                fetch = true }   -- a shallow clone is deepened (git fetch --unshallow --tags) instead of refused
--
-- Needs (a name, or a table with the name first and its options):
--   clean      the working tree has no uncommitted changes to tracked files (what is tagged is what was deployed)
--   identity   a git identity for commits and tags (GitHub Actions: github-actions[bot])
--   history    the whole history (not a shallow clone)
--   tags       history, and every tag the remote has that matches `pattern` (default "*")
--   push       the remote takes the push the run will make: credentials for writing, `branch` (default the
--              run's) not ahead of HEAD, none of `tags` there yet, no GitHub rule that refuses it (`github_repo`)
--   release    a GitHub release can be made: the token sees `repo` and no release has the tag yet
--   check      a flow's own condition (a release checklist item): { "check", id = "staging-commit",
--              describe = "staging's last deployment is this commit", run = function(ctx) return detail end };
--              run raises why it fails. A run whose `skip_checks` param names the id (a comma-separated
--              list) skips it, says so and, as a param, records it in the ledger: never silently.
-- Options may be functions of ctx (the tag depends on the version). Every
-- check runs, so one failed preflight lists every fix; none changes
-- anything but the fetch (made under --dry-run too: it deploys nothing).
local git = require "drun.git"
local github = require "drun.github"
local proc = require "drun.proc"

local M = {}

local ORDER = { "identity", "clean", "history", "tags", "push", "release", "check" }
local KNOWN = {}
for i, name in ipairs(ORDER) do KNOWN[name] = i end
M.NAMES = ORDER

-- A need as {name, options...}; an unknown name is the recipe's mistake.
function M.normalise(need, where)
  if type(need) == "string" then need = { need } end
  if type(need) ~= "table" or type(need[1]) ~= "string" then
    error(string.format("%s: each need is a name or a table { \"name\", option = ... }", where), 0)
  end
  if not KNOWN[need[1]] then
    error(string.format("%s: unknown need '%s' (known: %s)", where, need[1], table.concat(ORDER, ", ")), 0)
  end
  if need[1] == "check" and (type(need.id) ~= "string" or not need.id:match("^[%w_%-]+$") or type(need.run) ~= "function") then
    error(string.format("%s: a check needs id (letters, digits, - and _) and run = function(ctx)", where), 0)
  end
  return need
end

-- The needs of a run: the recipe's own and those of each step it will run
-- (a step skipped by --from needs nothing), merged by name: push's and
-- release's tags are added up, the first branch or pattern named wins.
function M.collect(r, params, from_index)
  local by_name = {}
  local function add(list, who)
    if type(list) == "function" then list = list(params) end
    for _, need in ipairs(list or {}) do
      need = M.normalise(need, who)
      local name = need[1] == "check" and "check:" .. need.id or need[1]
      local have = by_name[name]
      if not have then
        have = { need[1], tags = {}, by = {} }
        by_name[name] = have
      end
      for k, v in pairs(need) do
        if k == "tags" then have.tags[#have.tags + 1] = v
        elseif k ~= 1 and have[k] == nil then have[k] = v end
      end
      have.by[#have.by + 1] = who
    end
  end
  add(r.needs, "recipe " .. r.name)
  for i, s in ipairs(r.steps) do
    if not (from_index and i < from_index) then add(s.needs, s.name) end
  end
  -- a push and the remote's tags need the history: a shallow clone can push nothing
  for _, name in ipairs { "push", "tags" } do
    if by_name[name] and not by_name.history then
      by_name.history = { "history", remote = by_name[name].remote, tags = {}, by = by_name[name].by }
    end
  end
  local out, checks = {}, {}
  for _, name in ipairs(ORDER) do
    if by_name[name] then out[#out + 1] = by_name[name] end
  end
  for _, need in pairs(by_name) do
    if need[1] == "check" then checks[#checks + 1] = need end
  end
  table.sort(checks, function(a, b) return a.id < b.id end)
  for _, need in ipairs(checks) do out[#out + 1] = need end
  return out
end

-- The ids a run's skip_checks param names ("a,b" or "a b"), as a set and in order
function M.skipped(params)
  local set, list = {}, {}
  local raw = params and params.skip_checks
  if type(raw) ~= "string" then return set, list end
  for id in raw:gmatch("[^,%s]+") do
    if not set[id] then set[id] = true; list[#list + 1] = id end
  end
  return set, list
end

-- An option that may be a function of ctx
local function value(v, ctx)
  if type(v) == "function" then return v(ctx) end
  return v
end

-- the tag names a need's `tags` entries give (each a name, a list, or a function of ctx)
local function tag_names(need, ctx)
  local names = {}
  for _, t in ipairs(need.tags or {}) do
    local v = value(t, ctx)
    if type(v) == "string" then names[#names + 1] = v
    elseif type(v) == "table" then for _, n in ipairs(v) do names[#names + 1] = n end end
  end
  return names
end

local function short(sha) return sha and sha:sub(1, 12) or "?" end

-- One line per need, for `drun plan`.
function M.describe(need)
  local by = " (" .. table.concat(need.by, ", ") .. ")"
  local name = need[1]
  if name == "identity" then return "identity  a git identity for the commit and tag" .. by end
  if name == "clean" then return "clean     no uncommitted changes to tracked files" .. by end
  if name == "history" then return "history   the whole history, not a shallow clone" .. by end
  if name == "tags" then return string.format("tags      history and the remote's %s tags", need.pattern or "*") .. by end
  if name == "push" then
    return string.format("push      %s takes the push: credentials, %s not ahead of HEAD, tags not there yet",
                         need.remote or "origin", type(need.branch) == "string" and need.branch or "the branch") .. by
  end
  if name == "release" then return "release   the GitHub token sees the repository, no release has the tag yet" .. by end
  return need.id .. "  " .. (need.describe or "a check of the flow's") .. by -- a flow's own check
end

local SHALLOW_FIX = "use actions/checkout with fetch-depth: 0, or set fetch = true in the recipe's config "
                    .. "(drun then runs git fetch --unshallow --tags)"

local Run = {}
Run.__index = Run

-- The repository, opened afresh after a fetch changed it
function Run:repo()
  if not self.r then self.r = git.open(self.dir) end
  return self.r
end

-- git fetch, under --dry-run too: it changes no deployment, only this
-- clone's copy of the history, and a dry run without the history could not
-- show what the run would do (its baseline, its tag)
function Run:fetch(args, why)
  if self.fetched[why] then return true end
  self.fetched[why] = true
  local argv = { "git", "-C", self:repo():workdir(), "fetch", "--quiet" }
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  argv.check, argv.timeout, argv.stream, argv.read_only = false, 600, self.stream, true
  local res = proc.run(argv)
  if res.code ~= 0 then
    error(string.format("git fetch %s failed (exit %d): %s", table.concat(args, " "), res.code,
                        (res.stderr or ""):gsub("%s+$", ""):match("[^\n]*$") or ""), 0)
  end
  self.r:close()
  self.r = nil
  return true
end

local CHECK = {}

function CHECK.identity(run)
  local who, where = run:repo():identity()
  if not who then error(where, 0) end
  return who .. " (" .. where .. ")"
end

function CHECK.clean(run)
  local dirty = run:repo():dirty()
  if #dirty == 0 then return "nothing uncommitted" end
  local names = {}
  for i, d in ipairs(dirty) do
    if i > 5 then names[#names + 1] = string.format("and %d more", #dirty - 5) break end
    names[#names + 1] = d.status .. " " .. d.path
  end
  error(string.format("the working tree has uncommitted changes (%s): the tag must hold what is deployed; "
                      .. "commit or stash them, then re-run", table.concat(names, ", ")), 0)
end

function CHECK.history(run, need)
  if not run:repo():is_shallow() then return "full history" end
  if run.fetch_ok then
    run:fetch({ "--unshallow", "--tags", need.remote or run.remote }, "unshallow")
    if run:repo():is_shallow() then error("git fetch --unshallow left a shallow clone", 0) end
    return "shallow clone deepened (git fetch --unshallow --tags)"
  end
  error("this is a shallow clone (actions/checkout fetches one commit by default): " .. table.concat(need.by, ", ")
        .. " needs the history; " .. SHALLOW_FIX, 0)
end

function CHECK.tags(run, need)
  local h = CHECK.history(run, need)
  local remote, pattern = need.remote or run.remote, need.pattern or "*"
  if run.fetch_ok then
    run:fetch({ "--tags", remote }, "tags")
    return h .. "; tags fetched from " .. remote
  end
  -- ask the remote which tags it has (read-only, with git's own credentials, as a fetch would)
  local res = proc.run { "git", "-C", run:repo():workdir(), "ls-remote", "--tags", "--refs", remote, "refs/tags/" .. pattern,
                         check = false, read_only = true, timeout = 120 }
  if res.code ~= 0 then
    error(string.format("cannot list the tags of %s: %s", remote, (res.stderr or ""):gsub("%s+$", "")), 0)
  end
  local have, missing = {}, {}
  for _, t in ipairs(run:repo():tags(pattern)) do have[t.name] = true end
  for name in res.stdout:gmatch("refs/tags/(%S+)") do
    if not have[name] then missing[#missing + 1] = name end
  end
  if #missing == 0 then return h .. "; every " .. pattern .. " tag of " .. remote .. " is here" end
  table.sort(missing)
  error(string.format("%s has %d %s tag(s) this checkout lacks (%s): %s", remote, #missing, pattern,
                      table.concat(missing, ", ", 1, math.min(#missing, 3)) .. (#missing > 3 and ", ..." or ""),
                      SHALLOW_FIX), 0)
end

function CHECK.push(run, need, ctx)
  local repo, remote = run:repo(), need.remote or run.remote
  if repo:is_shallow() then
    error("this is a shallow clone: a push from it fails (the remote asks for history it does not have); " .. SHALLOW_FIX, 0)
  end
  local branch = value(need.branch, ctx) or ctx.branch
  local head = repo:head()
  if not branch or branch == "" then
    error(string.format("HEAD is detached at %s and no branch is named to push the release to: check out the "
                        .. "release branch (actions/checkout with ref: main)", short(head.sha)), 0)
  end
  local refs = repo:remote_refs(remote) -- the remote checks the credentials for writing here
  local notes = {}
  local at = refs["refs/heads/" .. branch]
  if at and at ~= head.sha then
    if not repo:has(at) then
      error(string.format("%s's %s is at %s, a commit this checkout does not have: %s moved on since this run "
                          .. "was started; re-run on its new head", remote, branch, short(at), branch), 0)
    end
    if repo:is_ancestor(head.sha, at) then
      error(string.format("%s moved on since this checkout: %s's %s is at %s, HEAD (%s) is an older commit of it; "
                          .. "re-run on its new head", branch, remote, branch, short(at), short(head.sha)), 0)
    end
    if not repo:is_ancestor(at, head.sha) then
      error(string.format("HEAD (%s) is not on %s's %s (at %s): the release commit could not be pushed on top "
                          .. "of it; release from the head of %s", short(head.sha), remote, branch, short(at), branch), 0)
    end
  end
  notes[#notes + 1] = string.format("%s takes a push to %s", remote, branch)
  for _, tag in ipairs(tag_names(need, ctx)) do
    local there = refs["refs/tags/" .. tag]
    if there then
      error(string.format("tag %s already exists on %s (%s): this version was released before; bump again "
                          .. "(version_bump=...) or delete that tag if it is wrong", tag, remote, short(there)), 0)
    end
    local ok = pcall(repo.rev_parse, repo, "refs/tags/" .. tag)
    if ok then
      error(string.format("tag %s already exists in this checkout (not on %s): delete it (git tag -d %s) or bump again",
                          tag, remote, tag), 0)
    end
    notes[#notes + 1] = "tag " .. tag .. " is free"
  end
  local gh_repo = value(need.github_repo, ctx)
  if gh_repo then
    local refusals, warnings = github.push_blockers { repo = gh_repo, branch = branch }
    if #refusals > 0 then
      error(string.format("GitHub would refuse the push to %s: %s; let this workflow's token bypass the rule, "
                          .. "or release without pushing to %s", branch, table.concat(refusals, "; "), branch), 0)
    end
    for _, w in ipairs(warnings) do run.warnings[#run.warnings + 1] = w end
    notes[#notes + 1] = "no GitHub rule refuses it"
  end
  return table.concat(notes, "; ")
end

-- a flow's own check: its run(ctx) raises why it fails, or returns what it saw
function CHECK.check(_, need, ctx) return need.run(ctx) or "ok" end

function CHECK.release(run, need, ctx)
  local gh_repo = value(need.repo, ctx) or os.getenv("GITHUB_REPOSITORY")
  local ok, e = pcall(github.repository, gh_repo)
  if not ok then error(tostring(e):gsub("^[^\n]-%.lua:%d+: ", ""), 0) end
  for _, tag in ipairs(tag_names(need, ctx)) do
    if github.release_for(gh_repo, tag) then
      error(string.format("%s already has a release for %s: this version was released before; bump again", gh_repo, tag), 0)
    end
  end
  return gh_repo .. " is reachable with this token"
end

-- run(needs, {ctx, dir, fetch, remote, dry_run, stream}) -> results, warnings:
-- results = {{name, ok, detail}} in ORDER; every need is checked, except
-- that push and tags wait for history when it failed.
function M.run(needs, o)
  local run = setmetatable({ dir = o.dir, fetch_ok = o.fetch == true, remote = o.remote or "origin",
                             fetched = {}, warnings = {}, stream = o.stream }, Run)
  local results, failed = {}, {}
  local skip, skip_list = M.skipped(o.ctx and o.ctx.params)
  local known = {}
  for _, need in ipairs(needs) do
    local own = need[1] == "check"
    local name = own and need.id or need[1] -- a flow's own check reports under its id
    if own then known[name] = true end
    local ok, detail
    if not own and (name == "push" or name == "tags") and failed.history then
      ok, detail = false, "not checked: the history is missing (above)"
    elseif own and skip[name] then
      ok, detail = true, "SKIPPED (skip_checks=" .. name .. "; recorded with the run's params): " .. (need.describe or "")
      run.warnings[#run.warnings + 1] = string.format("check %s skipped by skip_checks: %s is not verified", name, need.describe or name)
    else
      ok, detail = pcall(CHECK[need[1]], run, need, o.ctx)
      detail = tostring(detail):gsub("^[^\n]-%.lua:%d+: ", "")
    end
    failed[name] = not ok
    results[#results + 1] = { name = name, ok = ok, detail = detail }
  end
  -- a skip that names no check of this run is a typo that would pass silently
  for _, id in ipairs(skip_list) do
    if not known[id] then
      local names = {}
      for n in pairs(known) do names[#names + 1] = n end
      table.sort(names)
      results[#results + 1] = { name = "skip_checks", ok = false,
                                detail = string.format("'%s' is no check of this run (its checks: %s)", id,
                                                       #names > 0 and table.concat(names, ", ") or "none") }
    end
  end
  if run.r then run.r:close() end
  return results, run.warnings
end

return M
