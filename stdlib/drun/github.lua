-- drun.github: the GitHub REST calls flows make, through $GITHUB_API_URL
-- (default https://api.github.com) with $GITHUB_TOKEN (masked everywhere).
--
--   github.release { repo = "acme/cms", tag = "cms-v1.5.0", name = "cms 1.5.0" }   -- generated notes
--   github.issue { repo = "acme/app", title = "Deployment record", body = md }
--   github.comment { repo = "acme/cms", issue = 12, body = md, update = "<!-- drun:previews -->" }
--   github.push_blockers { repo = "acme/cms", branch = "main" }   -- why a direct push would be refused
--   github.pull { repo = "acme/app", number = 12 }   -- the PR (state open/closed, head), nil when none
--
-- A failure raises with GitHub's own message ("github: POST .../releases:
-- 422 Validation Failed: Release tag_name already_exists"). Under --dry-run
-- the writes are printed, not sent (drun.http).
local http = require "drun.http"
local env = require "drun.env"

local M = {}

local function api() return (env.get("GITHUB_API_URL", "https://api.github.com"):gsub("/+$", "")) end

local function headers()
  return { Authorization = "Bearer " .. env.secret("GITHUB_TOKEN"), Accept = "application/vnd.github+json",
           ["X-GitHub-Api-Version"] = "2022-11-28" }
end

local function repo_of(o)
  local repo = o.repo or env.get("GITHUB_REPOSITORY")
  if not repo or not repo:match("^[^/]+/[^/]+$") then error("github: repo must be \"owner/name\" (or set GITHUB_REPOSITORY)", 3) end
  return repo
end

-- call(method, path, body, expect, query) -> decoded response; with
-- expect a table of statuses, also the status it got
local function call(method, path, body, expect, query)
  local r = http.request { method = method, url = api() .. path, query = query, headers = headers(), json = body,
                           retries = 2, retry_non_idempotent = false }
  if r.dry_run then return {} end
  if not http.status_matches(expect, r.status) then
    local ok, j = pcall(r.json, r)
    local msg = ok and type(j) == "table" and j.message or r.body:sub(1, 200)
    if ok and type(j) == "table" and type(j.errors) == "table" then
      for _, e in ipairs(j.errors) do
        msg = msg .. string.format(": %s %s %s", e.resource or "", e.field or "", e.code or e.message or "")
      end
    end
    error(string.format("github: %s %s: %d %s", method, path, r.status, msg), 3)
  end
  return r.status == 204 and {} or r:json(), r.status
end

-- release{repo, tag, name, body, generate_notes = true, draft, prerelease}
function M.release(o)
  return call("POST", "/repos/" .. repo_of(o) .. "/releases", {
    tag_name = o.tag, name = o.name or o.tag, body = o.body, draft = o.draft or false,
    prerelease = o.prerelease or false, generate_release_notes = o.generate_notes ~= false,
  }, 201)
end

-- issue{repo, title, body, labels}
function M.issue(o)
  return call("POST", "/repos/" .. repo_of(o) .. "/issues",
              { title = o.title, body = o.body, labels = o.labels }, 201)
end

-- comment{repo, issue, body, update = marker, create = true}: with `update`,
-- the issue's comment containing the marker is edited instead of adding
-- another; with create = false as well, nothing is posted (nil returned)
-- when there is no such comment yet.
function M.comment(o)
  local repo = repo_of(o)
  local body = o.update and (o.body .. "\n" .. o.update) or o.body
  if o.update then
    -- GitHub lists 30 comments a page by default: a busy PR's marker may be on a later page
    local page = 1
    while true do
      local existing = call("GET", string.format("/repos/%s/issues/%d/comments", repo, o.issue), nil, 200,
                            { per_page = "100", page = tostring(page) })
      for _, c in ipairs(existing) do
        if type(c.body) == "string" and c.body:find(o.update, 1, true) then
          return call("PATCH", string.format("/repos/%s/issues/comments/%d", repo, c.id), { body = body }, 200)
        end
      end
      if #existing < 100 then break end
      page = page + 1
    end
    if o.create == false then return nil end
  end
  return call("POST", string.format("/repos/%s/issues/%d/comments", repo, o.issue), { body = body }, 201)
end

-- repository(repo) -> GitHub's repository object: the token can see it
function M.repository(repo)
  return call("GET", "/repos/" .. repo_of { repo = repo }, nil, 200)
end

-- pull{repo, number} -> the pull request ({number, state = "open" | "closed",
-- merged, head = {ref, sha}, base = {ref}, html_url}), or nil when the
-- repository has no such PR (404)
function M.pull(o)
  local pr, status = call("GET", string.format("/repos/%s/pulls/%d", repo_of(o), o.number), nil, { 200, 404 })
  return status == 200 and pr or nil
end

-- release_for(repo, tag) -> the release of that tag, or nil
function M.release_for(repo, tag)
  local rel, status = call("GET", string.format("/repos/%s/releases/tags/%s", repo_of { repo = repo }, tag), nil, { 200, 404 })
  return status == 200 and rel or nil
end

-- Rule types that refuse a direct push of a new commit to an existing
-- branch (GitHub's repository-rule types: rest/repos/rules, "Get rules for
-- a branch"). creation, deletion, non_fast_forward and
-- required_linear_history do not: the bump commit is a fast-forward of a
-- branch that exists.
local BLOCKING = { update = "updates are restricted", pull_request = "changes must go through a pull request",
                   required_status_checks = "status checks must pass first",
                   required_signatures = "commits must be signed", required_deployments = "deployments must succeed first",
                   merge_queue = "changes must go through the merge queue", workflows = "workflows must pass first",
                   code_scanning = "code scanning must pass first" }

-- push_blockers{repo, branch} -> refusals, warnings: why GitHub would
-- refuse drun's push to the branch, asked of GitHub itself. Rulesets:
-- `GET /repos/{o}/{r}/rules/branches/{branch}` (every active rule, paged),
-- and for each ruleset its `current_user_can_bypass` (always / exempt: this
-- token may push). Classic protection: `GET .../branches/{branch}` says
-- `protected`; its details (`.../protection`) need admin rights, so a token
-- without them gets a warning, not a guess.
function M.push_blockers(o)
  local repo, branch = repo_of(o), o.branch
  local enc = http.urlencode(branch, "/")
  local refusals, warnings, rulesets = {}, {}, {}
  local page = 1
  while true do
    local rules = call("GET", string.format("/repos/%s/rules/branches/%s", repo, enc), nil, 200,
                       { per_page = "100", page = tostring(page) })
    for _, rule in ipairs(rules) do
      local why = BLOCKING[rule.type]
      if why and rule.ruleset_id then
        local set = rulesets[rule.ruleset_id]
        if not set then
          set = call("GET", string.format("/repos/%s/rulesets/%d", repo, rule.ruleset_id), nil, 200)
          rulesets[rule.ruleset_id] = set
        end
        local bypass = set.current_user_can_bypass
        if bypass ~= "always" and bypass ~= "exempt" then
          refusals[#refusals + 1] = string.format("ruleset '%s' (%s): %s%s", tostring(set.name or rule.ruleset_id),
                                                  rule.type, why, bypass == "pull_requests_only"
                                                  and " (this token may bypass it in pull requests only)" or "")
        end
      end
    end
    if #rules < 100 then break end
    page = page + 1
  end
  local info = call("GET", string.format("/repos/%s/branches/%s", repo, enc), nil, { 200, 404 })
  if info.protected == true then
    local ok, p = pcall(call, "GET", string.format("/repos/%s/branches/%s/protection", repo, enc), nil, 200)
    if not ok then
      warnings[#warnings + 1] = string.format("%s is protected and this token cannot read how (GitHub answers only admins): "
                                              .. "if the protection refuses the push, the release is live but untagged", branch)
    else
      local admins = type(p.enforce_admins) == "table" and p.enforce_admins.enabled
      local list = admins and refusals or warnings
      local suffix = admins and "" or " (unless this token is an admin's: enforce_admins is off)"
      if type(p.required_pull_request_reviews) == "table" then list[#list + 1] = "branch protection: changes must go through a pull request" .. suffix end
      local checks = type(p.required_status_checks) == "table" and p.required_status_checks
      if checks and ((type(checks.contexts) == "table" and #checks.contexts > 0) or (type(checks.checks) == "table" and #checks.checks > 0)) then
        list[#list + 1] = "branch protection: status checks must pass first" .. suffix
      end
      if type(p.required_signatures) == "table" and p.required_signatures.enabled then
        list[#list + 1] = "branch protection: commits must be signed" .. suffix
      end
      if type(p.restrictions) == "table" then
        list[#list + 1] = "branch protection: only some users, teams or apps may push" .. suffix
      end
    end
  end
  return refusals, warnings
end

return M
