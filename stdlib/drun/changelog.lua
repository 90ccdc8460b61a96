-- drun.changelog: what changed between two revisions, from git's history,
-- grouped by Conventional Commits type (https://www.conventionalcommits.org):
-- "feat(api)!: ..." (or a "BREAKING CHANGE:" footer) is a breaking
-- feature, "fix: ..." a fix; any other
-- subject is listed as it is, under "Other changes". A pull request's number
-- ("... (#123)" of a squash merge, "Merge pull request #123 from ...") is
-- linked when the repository is known.
--
--   local changelog = require "drun.changelog"
--   local log = changelog("cms-v1.4.0", "HEAD", { repo = "acme/cms" })
--   log.count, log.groups[1].title, log.groups[1].entries[1].description
--   log:markdown()   -- a GitHub release body
--   log:text()       -- plain lines (drun ledger show)
--
-- Options: repo ("owner/name": PR links; default $GITHUB_REPOSITORY),
-- server (default $GITHUB_SERVER_URL, else https://github.com), dir (the
-- repository; default: found upward from the current directory), limit
-- (most commits read, default 500). Raises "changelog: ..." when a revision
-- is unknown or the clone is too shallow to tell (fetch the history first).
local git = require "drun.git"

local M = {}

-- the groups, in the order a reader wants them
M.TYPES = {
  { "breaking", "Breaking changes" }, { "feat", "Features" }, { "fix", "Bug fixes" }, { "perf", "Performance" },
  { "revert", "Reverts" }, { "refactor", "Refactoring" }, { "docs", "Documentation" }, { "test", "Tests" },
  { "build", "Build" }, { "ci", "CI" }, { "style", "Style" }, { "chore", "Chores" }, { "other", "Other changes" },
}
local TITLE = {}
for _, t in ipairs(M.TYPES) do TITLE[t[1]] = t[2] end

-- parse(subject, body) -> {type, scope, breaking, description, pr, breaking_note}:
-- a typed commit is breaking with "!" before its colon, or with a
-- "BREAKING CHANGE: ..." (or BREAKING-CHANGE) footer in its body
function M.parse(subject, body)
  local e = { subject = subject }
  local kind, rest = subject:match("^(%a+)(.*)$")
  local scope, bang, desc
  if kind then
    scope, bang, desc = rest:match("^%(([^()]*)%)(!?):%s+(.+)$")
    if not scope then bang, desc = rest:match("^(!?):%s+(.+)$") end
  end
  kind = kind and kind:lower()
  if desc and TITLE[kind] and kind ~= "breaking" and kind ~= "other" then
    e.type, e.scope, e.breaking, e.description = kind, scope ~= "" and scope or nil, bang == "!", desc
    local note = body and (("\n" .. body):match("\nBREAKING[ %-]CHANGE:%s*([^\n]+)"))
    if note then e.breaking, e.breaking_note = true, note end
  else
    e.type, e.description = "other", subject
  end
  e.pr = tonumber(subject:match("%(#(%d+)%)%s*$") or subject:match("^Merge pull request #(%d+)"))
  return e
end

local Log = {}
Log.__index = Log

local function pr_link(self, e)
  if not e.pr then return "" end
  if not self.repo then return " (#" .. e.pr .. ")" end
  return string.format(" ([#%d](%s/%s/pull/%d))", e.pr, self.server, self.repo, e.pr)
end

-- markdown: "## Features" sections of "- **scope:** description (#12) abc1234" lines
function Log:markdown()
  if self.count == 0 then return "No changes since " .. self.from .. "." end
  local out = {}
  for _, g in ipairs(self.groups) do
    out[#out + 1] = "### " .. g.title
    for _, e in ipairs(g.entries) do
      local text = e.description:gsub("%s*%(#%d+%)%s*$", "")
      out[#out + 1] = string.format("- %s%s%s %s", e.scope and ("**" .. e.scope .. ":** ") or "", text,
                                    pr_link(self, e), e.sha:sub(1, 7))
      if e.breaking_note then out[#out + 1] = "  " .. e.breaking_note end
    end
    out[#out + 1] = ""
  end
  return (table.concat(out, "\n"):gsub("\n+$", "")) .. "\n"
end

-- text: "Features:" then "  abc1234 scope: description (#12)" lines
function Log:text()
  if self.count == 0 then return "no changes since " .. self.from .. "\n" end
  local out = {}
  for _, g in ipairs(self.groups) do
    out[#out + 1] = g.title .. ":"
    for _, e in ipairs(g.entries) do
      out[#out + 1] = string.format("  %s %s%s", e.sha:sub(1, 7), e.scope and (e.scope .. ": ") or "", e.description)
    end
  end
  return table.concat(out, "\n") .. "\n"
end

local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end

-- new(from, to, opts) -> log {from, to, count, groups = {{type, title, entries}}}
function M.new(from, to, opts)
  opts = opts or {}
  if type(from) ~= "string" or from == "" then error("changelog: from must be a revision (a tag, a commit)", 2) end
  to = to or "HEAD"
  -- git's own words, without where drun.git raised them
  local function fail(e) error("changelog: " .. tostring(e):gsub("^[%w_./-]+%.lua:%d+: ", ""):gsub("^git: ", ""), 0) end
  local ok, repo = pcall(git.open, opts.dir)
  if not ok then fail(repo) end
  local done, commits = pcall(repo.log, repo, from .. ".." .. to, opts.limit or 500)
  repo:close()
  if not done then fail(commits) end
  local by = {}
  for _, c in ipairs(commits) do
    -- a merge of a branch says nothing its commits do not; a PR's merge names the PR
    if not c.subject:match("^Merge ") or c.subject:match("^Merge pull request #%d+") then
      local e = M.parse(c.subject, c.body)
      e.sha, e.author, e.time = c.sha, c.author, c.time
      local key = e.breaking and "breaking" or e.type
      by[key] = by[key] or {}
      table.insert(by[key], e)
    end
  end
  local groups, count = {}, 0
  for _, t in ipairs(M.TYPES) do
    if by[t[1]] then
      groups[#groups + 1] = { type = t[1], title = t[2], entries = by[t[1]] }
      count = count + #by[t[1]]
    end
  end
  local repo_name = opts.repo or env("GITHUB_REPOSITORY")
  if repo_name and not repo_name:match("^[%w_.-]+/[%w_.-]+$") then repo_name = nil end
  return setmetatable({ from = from, to = to, count = count, groups = groups, repo = repo_name,
                        server = (opts.server or env("GITHUB_SERVER_URL") or "https://github.com"):gsub("/+$", "") },
                      Log)
end

-- for_deployment(db, rec, opts) -> log, previous | nil, why: the changes a
-- deployment brought to its service and environment, since the success
-- before it (drun ledger show, the dashboard, notifications)
function M.for_deployment(db, rec, opts)
  if not rec.git_commit then return nil, "the deployment has no commit recorded" end
  local prev = db:previous_success(rec.service, rec.environment, rec.id)
  if not prev or not prev.git_commit then return nil, "no earlier successful deployment with a commit" end
  local ok, log = pcall(M.new, prev.git_commit, rec.git_commit, opts)
  if not ok then return nil, (tostring(log):gsub("^changelog: ", "")) end
  return log, prev
end

return setmetatable(M, { __call = function(_, ...) return M.new(...) end })
