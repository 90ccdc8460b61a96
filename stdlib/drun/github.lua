-- drun.github: the GitHub REST calls flows make, through $GITHUB_API_URL
-- (default https://api.github.com) with $GITHUB_TOKEN (masked everywhere).
--
--   github.release { repo = "acme/cms", tag = "cms-v1.5.0", name = "cms 1.5.0" }   -- generated notes
--   github.issue { repo = "acme/app", title = "Deployment record", body = md }
--   github.comment { repo = "acme/cms", issue = 12, body = md, update = "<!-- drun:previews -->" }
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

-- call(method, path, body, expect, query) -> decoded response
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
  return r.status == 204 and {} or r:json()
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

return M
