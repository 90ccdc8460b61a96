-- drun.pages: Cloudflare Pages for recipes (FLOWS.md §4).
--
--   local pages = require "drun.pages"
--   pages.slug("Feature/Add_Login")            -> "feature-add-login"
--   pages.preview_branch(12, "feature/login")  -> "pr-12-feature-login"
--   pages.deploy { project = "usage-docs", dir = "docs/usage-docs/dist", branch = "staging",
--                  commit_hash = sha, commit_message = "docs: ..." }  -> {url, alias, environment}
--
-- The slug is Cloudflare's alias rule: lower case; every character outside
-- [a-z0-9-] becomes "-" (one per character: "é" and an emoji are one "-"
-- each, bytes of invalid UTF-8 one each); no collapsing of repeated "-";
-- leading and trailing "-" trimmed; cut to 28 characters, and a "-" the cut
-- leaves at the end is trimmed too (an alias cannot end in "-"). A name with
-- nothing left ("___", "🚀") has the empty slug: preview_branch then falls back
-- to "pr-<n>", which is still unique per PR.
local cf = require "drun.cloudflare"

local M = {}

M.MAX = 28

local function trim(s) return (s:gsub("^%-+", ""):gsub("%-+$", "")) end

function M.slug(name)
  if type(name) ~= "string" then error("pages.slug: expected a branch name (string), got " .. type(name), 2) end
  local lower, out = name:lower(), {}
  local i = 1
  while i <= #lower do
    local c = lower:sub(i, i)
    if c:match("[a-z0-9%-]") then
      out[#out + 1] = c; i = i + 1
    else
      -- one "-" for the whole UTF-8 character (its continuation bytes are skipped)
      local len = utf8.len(lower, i, i) and #utf8.char(utf8.codepoint(lower, i)) or 1
      out[#out + 1] = "-"; i = i + len
    end
  end
  return trim(trim(table.concat(out)):sub(1, M.MAX))
end

-- The Pages branch of a PR preview: pr-<n>-<slug>, cut so the whole alias
-- fits the 28-character limit (so its URL is known before deploying).
function M.preview_branch(pr, branch)
  local n = tonumber(pr)
  if not n or n < 1 or n ~= math.floor(n) then
    error("pages.preview_branch: the PR number must be a positive integer, got " .. tostring(pr), 2)
  end
  local prefix = string.format("pr-%d", n)
  local rest = trim(M.slug(branch):sub(1, M.MAX - #prefix - 1))
  return rest == "" and prefix or (prefix .. "-" .. rest)
end

-- Cloudflare's code for a Pages project that does not exist
M.PROJECT_NOT_FOUND = 8000007

-- project(name) -> {name, production_branch, domains, ...}: the project as
-- Cloudflare's API has it (GET /accounts/{id}/pages/projects/{name}; wrangler's
-- `pages project list --json` does not show the production branch). A project
-- that does not exist raises with how to create it: `wrangler pages deploy`
-- creates none when not interactive (wrangler-dist/cli.js, pages deploy).
function M.project(name)
  local ok, p = pcall(cf.api, "/pages/projects/" .. name)
  if ok then return p end
  if type(p) == "table" and p.code == M.PROJECT_NOT_FOUND then
    error(string.format("pages: the project %s does not exist on this account [code: %d]; create it once with: "
                        .. "wrangler pages project create %s --production-branch main", name, M.PROJECT_NOT_FOUND, name), 0)
  end
  error(p, 0)
end

-- deploy{project, dir, branch, commit_hash, commit_message, cwd, run} -> {url, alias, environment, production_branch}
-- (wrangler's pages-deploy-detailed output entry; alias is nil on the production branch)
function M.deploy(o)
  for _, k in ipairs { "project", "dir", "branch" } do
    if type(o[k]) ~= "string" or o[k] == "" then error("pages.deploy: " .. k .. " is required", 2) end
  end
  local args = { "pages", "deploy", o.dir, "--project-name", o.project, "--branch", o.branch }
  if o.commit_hash then args[#args + 1] = "--commit-hash"; args[#args + 1] = o.commit_hash end
  if o.commit_message then args[#args + 1] = "--commit-message"; args[#args + 1] = o.commit_message end
  local e = cf.run_for_output(args, { dir = o.cwd, run = o.run }, "pages-deploy-detailed")
  if not e then return nil end
  return { url = e.url, alias = e.alias ~= require("drun.json").null and e.alias or nil, environment = e.environment,
           production_branch = e.production_branch }
end

return M
