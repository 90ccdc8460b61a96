-- drun.git: what a flow needs to know about the code it deploys, over
-- drun.core.git (libgit2, loaded on first use).
--
--   local repo = git.open()                     -- discovers the repository upward
--   repo:head()                                 -- {sha, short, branch, detached}
--   repo:changed("cms-v1.4.0", "HEAD", { "docs/usage-docs/**" })
--   repo:latest_tag("cms-v*", { reachable_from = "HEAD" })
--   repo:tag("cms-v1.5.0", { message = "cms 1.5.0" }); repo:push("origin", { "refs/tags/cms-v1.5.0" })
--   repo:identity()                             -- "Name <email>", where it came from
--   repo:remote_refs("origin")                  -- {["refs/heads/main"] = sha, ...}, asked as a push asks
--
-- Every call raises "git: ..." on failure. tag, commit and push only say
-- what they would do under --dry-run.
local core = require "drun.core.git"
local semver = require "drun.semver"
local runtime = require "drun.runtime"
local out = require "drun.core.out"

local M = {}
local Repo = {}
Repo.__index = Repo

local function check(v, err)
  if v == nil then error(err, 3) end
  return v
end

function M.open(path)
  local h, err = core.open(path or ".")
  if not h then error(err, 2) end
  return setmetatable({ h = h }, Repo)
end

function Repo:close() self.h:close() end
Repo.__close = Repo.close

function Repo:workdir() return self.h:workdir() end
function Repo:head() return check(self.h:head()) end
function Repo:rev_parse(spec) return check(self.h:rev_parse(spec)) end
function Repo:merge_base(a, b) return check(self.h:merge_base(a, b)) end
function Repo:is_ancestor(a, b) return check(self.h:is_ancestor(a, b)) end
function Repo:config(key) return select(1, self.h:config(key)) end

-- dirty{untracked = false} -> list of {path, status}, empty when clean
function Repo:dirty(opts) return check(self.h:dirty(opts and opts.untracked)) end
function Repo:is_dirty(opts) return #self:dirty(opts) > 0 end

-- changed(from, to, globs): paths added, modified or deleted between two
-- revisions (a rename gives both names); from = nil: everything in `to`;
-- to defaults to HEAD; globs like "docs/usage-docs/**" filter the paths.
function Repo:changed(from, to, globs)
  if type(globs) == "string" then globs = { globs } end
  return check(self.h:changed(from, to, globs))
end

-- log(range, limit) -> {sha, subject, body, author, time}, newest first (body:
-- the message after the subject, "" without one); range "FROM..TO" or a revision
function Repo:log(range, limit) return check(self.h:log(range or "HEAD", limit or 0)) end

-- tags(pattern) -> {name, sha, version}, highest semantic version first;
-- tags without a version after them, by name.
function Repo:tags(pattern)
  local tags = check(self.h:tags(pattern or "*"))
  for _, t in ipairs(tags) do t.version = semver.from_tag(t.name) end
  table.sort(tags, function(a, b)
    if a.version and b.version then
      local c = semver.compare(a.version, b.version)
      if c ~= 0 then return c > 0 end
      return a.name < b.name
    end
    if a.version or b.version then return a.version ~= nil end
    return a.name < b.name
  end)
  return tags
end

-- latest_tag(pattern, {reachable_from = "HEAD"}) -> {name, sha, version} | nil
function Repo:latest_tag(pattern, opts)
  local from = opts and opts.reachable_from
  for _, t in ipairs(self:tags(pattern)) do
    if not from or self:is_ancestor(t.sha, from) then return t end
  end
  return nil
end

-- The identity commits and tags are made with, as git would choose it:
-- GIT_AUTHOR_NAME/GIT_AUTHOR_EMAIL, else user.name/user.email from git's
-- config; a GitHub Actions runner has neither, and gets the identity
-- GitHub's own workflows commit with (FLOWS.md §6). Returns "Name <email>"
-- and where it came from, or nil and what to do.
M.ACTIONS_IDENTITY = "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>"

-- an environment variable, nil when unset or empty
local function env(name)
  local v = os.getenv(name)
  return v ~= "" and v or nil
end

function Repo:identity()
  local name, email = env("GIT_AUTHOR_NAME"), env("GIT_AUTHOR_EMAIL")
  if name and email then return string.format("%s <%s>", name, email), "GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL" end
  name, email = self:config("user.name"), self:config("user.email")
  if name and name ~= "" and email and email ~= "" then return string.format("%s <%s>", name, email), "git config" end
  if env("GITHUB_ACTIONS") == "true" then return M.ACTIONS_IDENTITY, "the GitHub Actions default" end
  return nil, "no git identity to commit and tag with: git config user.name 'Release Bot' && git config user.email "
              .. "'release@example.com' (or set GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL)"
end

local function identity_of(repo, given)
  if given then return given end
  local who, why = repo:identity()
  if not who then error("git: " .. why, 3) end
  return who
end

-- tag(name, {message, target = "HEAD", tagger = "Name <email>"}) -> sha of the new annotated tag
function Repo:tag(name, opts)
  opts = opts or {}
  if runtime.dry_run then
    runtime.would("create tag %s at %s", name, self:rev_parse(opts.target or "HEAD"):sub(1, 12))
    return nil
  end
  return check(self.h:tag(name, opts.message or name, opts.target, identity_of(self, opts.tagger)))
end

-- commit(paths, message, {author = "Name <email>"}) -> sha. Exactly these
-- paths are staged (a missing file is staged as deleted). Without an
-- author, repo:identity(); with none, an error that says how to set one.
function Repo:commit(paths, message, opts)
  if type(paths) == "string" then paths = { paths } end
  if runtime.dry_run then
    runtime.would("commit %s: %s", table.concat(paths, ", "), message)
    return nil
  end
  return check(self.h:commit(paths, message, identity_of(self, opts and opts.author)))
end

-- push(remote, refspecs, {token}): a remote name, path, file:// or https URL.
-- For https, the token (default $GITHUB_TOKEN) goes through libgit2's
-- credential callback and is masked in every output.
function Repo:push(remote, refspecs, opts)
  if type(refspecs) == "string" then refspecs = { refspecs } end
  if runtime.dry_run then
    runtime.would("push %s to %s", table.concat(refspecs, " "), remote)
    return nil
  end
  return check(self.h:push(remote, refspecs, M.token(opts)))
end

-- The token a push or a remote's refs are asked with: opts.token, else
-- $GITHUB_TOKEN, masked in every output from here on.
function M.token(opts)
  local token = (opts and opts.token) or os.getenv("GITHUB_TOKEN")
  if token and token ~= "" then out.add_secret(token) return token end
  return nil
end

-- remote_refs(remote, {token}) -> {refname = sha}: the refs the remote
-- advertises to a push, after it accepted the credentials for writing
-- (as `git push --dry-run` does); nothing is sent.
function Repo:remote_refs(remote, opts) return check(self.h:remote_refs(remote, M.token(opts))) end

-- true when the clone is shallow (actions/checkout's default depth 1)
function Repo:is_shallow() return self.h:is_shallow() end

-- has(rev) -> true when the revision is in this repository's objects
function Repo:has(rev) return (self.h:rev_parse(rev)) ~= nil end

-- What every flow stamps (FLOWS.md, "Context every flow stamps"): from the
-- GitHub Actions variables when set, else from the repository and the user.
-- Read from .git's files directly: loading libgit2 (about 10 ms with its
-- TLS set-up) only to learn HEAD would cost every recipe run.

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- the .git directory for `dir` (a directory, or a file "gitdir: ..." in a worktree)
local function git_dir(dir)
  local fs = require "drun.fs"
  local d = fs.try.realpath(dir or ".")
  while d do
    local kind = fs.exists(d .. "/.git")
    if kind == "directory" then return d .. "/.git" end
    if kind == "file" then
      local target = (read(d .. "/.git") or ""):match("^gitdir:%s*(.-)%s*$")
      if target then return target:sub(1, 1) == "/" and target or (d .. "/" .. target) end
    end
    if d == "/" then return nil end
    d = fs.dirname(d)
  end
end

local function resolve_ref(gd, ref)
  local common = (read(gd .. "/commondir") or ""):match("^%s*(.-)%s*$")
  local dirs = { gd }
  if common and common ~= "" then dirs[2] = common:sub(1, 1) == "/" and common or (gd .. "/" .. common) end
  for _, d in ipairs(dirs) do
    local sha = (read(d .. "/" .. ref) or ""):match("^(%x+)")
    if sha then return sha end
    for line in (read(d .. "/packed-refs") or ""):gmatch("[^\n]+") do
      local s, name = line:match("^(%x+) (.+)$")
      if name == ref then return s end
    end
  end
  return nil
end

-- user.name from the repository's config, then the user's
local function config_user_name(gd)
  local home, xdg = os.getenv("HOME"), os.getenv("XDG_CONFIG_HOME")
  local files = { gd and (gd .. "/config") }
  if home then files[#files + 1] = home .. "/.gitconfig" end
  files[#files + 1] = (xdg and xdg ~= "" and xdg or ((home or "") .. "/.config")) .. "/git/config"
  for _, f in ipairs(files) do
    local section
    for line in (f and read(f) or ""):gmatch("[^\n]+") do
      local sec = line:match("^%s*%[%s*([%w%.%-]+)")
      if sec then section = sec:lower() end
      local value = section == "user" and line:match("^%s*[Nn][Aa][Mm][Ee]%s*=%s*(.-)%s*$")
      if value and value ~= "" then return (value:gsub('^"(.*)"$', "%1")) end
    end
  end
  return nil
end

-- context(dir_or_repo) -> {actor, sha, branch, run_id, run_url}
function M.context(where)
  if type(where) == "table" and where.workdir then where = where:workdir() end
  local gd = git_dir(where)
  local sha, branch
  if gd then
    local head = (read(gd .. "/HEAD") or ""):match("^%s*(.-)%s*$")
    local ref = head:match("^ref:%s*(%S+)")
    if ref then
      branch = ref:match("^refs/heads/(.+)$")
      sha = resolve_ref(gd, ref)
    elseif head:match("^%x+$") then
      sha = head
    end
  end
  local ctx = {}
  ctx.actor = env("GITHUB_ACTOR") or config_user_name(gd) or env("USER") or "unknown"
  ctx.sha = env("GITHUB_SHA") or sha
  -- a workflow started on a tag has GITHUB_REF_NAME = the tag: not a branch
  local ref_branch = env("GITHUB_REF_TYPE") ~= "tag" and env("GITHUB_REF_NAME") or nil
  ctx.branch = env("GITHUB_HEAD_REF") or ref_branch or branch
  ctx.run_id = env("GITHUB_RUN_ID")
  local server, repository = env("GITHUB_SERVER_URL"), env("GITHUB_REPOSITORY")
  if server and repository and ctx.run_id then
    ctx.run_url = string.format("%s/%s/actions/runs/%s", server, repository, ctx.run_id)
  end
  return ctx
end

return M
