---@meta drun.git
-- The module: stdlib/drun/git.lua over libgit2. Every call raises "git: ..."
-- on failure; tag, commit and push only say what they would do under --dry-run.

---@class drun.git.Tag
---@field name string
---@field sha string
---@field version? string the semantic version after the tag's prefix

---A repository (git.open, ctx.git).
---@class drun.git.Repo
local Repo = {}
function Repo:close() end
---@return string # the work tree's path
function Repo:workdir() end
---@return { sha: string, short: string, branch: string?, detached: boolean }
function Repo:head() end
---@param spec string "HEAD~1", a tag, a branch
---@return string sha
function Repo:rev_parse(spec) end
---@return string sha
function Repo:merge_base(a, b) end
---@return boolean # whether a is an ancestor of b
function Repo:is_ancestor(a, b) end
---@param key string "user.email"
---@return string?
function Repo:config(key) end
---@param opts? { untracked?: boolean }
---@return { path: string, status: string }[] # empty when clean
function Repo:dirty(opts) end
---@param opts? { untracked?: boolean }
---@return boolean
function Repo:is_dirty(opts) end
---Paths added, modified or deleted between two revisions (a rename gives both names).
---@param from string? nil: everything in `to`
---@param to? string (HEAD)
---@param globs? string[] "docs/usage-docs/**"
---@return string[]
function Repo:changed(from, to, globs) end
---@param range? string (HEAD)
---@param limit? integer
---@return { sha: string, subject: string, body: string, author: string, time: number }[] # newest first; body: the message after the subject
function Repo:log(range, limit) end
---@param pattern? string "cms-v*"
---@return drun.git.Tag[] # highest semantic version first
function Repo:tags(pattern) end
---@param pattern string
---@param opts? { reachable_from?: string }
---@return drun.git.Tag?
function Repo:latest_tag(pattern, opts) end
---"Name <email>" for a commit or tag, and where it came from; nil when none is set.
---@return string?, string?
function Repo:identity() end
---An annotated tag.
---@param name string
---@param opts? { message?: string, target?: string, tagger?: string }
---@return string sha
function Repo:tag(name, opts) end
---Exactly these paths are staged (a missing file as deleted).
---@param paths string[]
---@param message string
---@param opts? { author?: string }
---@return string sha
function Repo:commit(paths, message, opts) end
---@param remote string a remote's name, a path, file:// or https URL
---@param refspecs string[]
---@param opts? { token?: string } default $GITHUB_TOKEN, masked everywhere
function Repo:push(remote, refspecs, opts) end
---The refs the remote advertises to a push (as git push --dry-run); nothing is sent.
---@param remote string
---@param opts? { token?: string }
---@return table<string, string> refname = sha
function Repo:remote_refs(remote, opts) end
---@return boolean # a shallow clone (actions/checkout's depth 1)
function Repo:is_shallow() end
---@param rev string
---@return boolean
function Repo:has(rev) end

local git = {}

---The identity GitHub Actions commits as.
git.ACTIONS_IDENTITY = ""

---Discovers the repository upward from path (default: the current folder).
---@param path? string
---@return drun.git.Repo
function git.open(path) end

---Who and what is deployed: from GitHub Actions' variables, else the repository.
---@param where? string|drun.git.Repo
---@return { actor: string, sha: string?, branch: string?, run_id: string?, run_url: string? }
function git.context(where) end

---The token a push or a remote's refs are asked with: opts.token, else $GITHUB_TOKEN, masked.
---@param opts? { token?: string }
---@return string?
function git.token(opts) end

return git
