---@meta drun.github
-- The module: stdlib/drun/github.lua, GitHub's REST API through
-- $GITHUB_API_URL with $GITHUB_TOKEN (masked). A failure raises with
-- GitHub's own message; under --dry-run writes are printed, not sent.

local github = {}

---@param o { repo: string, tag: string, name?: string, body?: string, generate_notes?: boolean, draft?: boolean, prerelease?: boolean }
---@return table # the release
function github.release(o) end
---@param repo string
---@param tag string
---@return table? # the release of that tag
function github.release_for(repo, tag) end
---@param o { repo: string, title: string, body?: string, labels?: string[] }
---@return table # the issue
function github.issue(o) end
---With update = marker, the comment holding the marker is edited instead of adding
---another; with create = false too, nothing is posted when there is none yet (nil).
---@param o { repo: string, issue: integer, body: string, update?: string, create?: boolean }
---@return table? # the comment
function github.comment(o) end
---The PR, or nil when the repository has none of that number.
---@param o { repo: string, number: integer }
---@return { number: integer, state: "open"|"closed", merged: boolean, head: { ref: string, sha: string }, base: { ref: string }, html_url: string }?
function github.pull(o) end
---Why GitHub would refuse drun's push to the branch (rulesets, classic protection).
---@param o { repo: string, branch: string }
---@return string[] refusals, string[] warnings
function github.push_blockers(o) end
---The repository object: the token can see it.
---@param repo string "owner/name"
---@return table
function github.repository(repo) end

return github
