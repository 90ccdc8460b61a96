---@meta drun.pages
-- The module: stdlib/drun/pages.lua, Cloudflare Pages (FLOWS.md §4).

local pages = {}

---the alias limit: a preview's branch slug is cut to it
pages.MAX = 28
---Cloudflare's code for a project that does not exist
pages.PROJECT_NOT_FOUND = 8000007

---wrangler pages deploy; alias is nil on the production branch.
---@param o { project: string, dir: string, branch: string, commit_hash?: string, commit_message?: string, cwd?: string, run?: function }
---@return { url: string, alias: string?, environment: string, production_branch: string }
function pages.deploy(o) end
---The project as Cloudflare's API has it; raises with how to create it when missing.
---@param name string
---@return { name: string, production_branch: string, domains: string[] }
function pages.project(name) end
---Cloudflare's alias rule: "Feature/Add_Login" -> "feature-add-login".
---@param name string
---@return string
function pages.slug(name) end
---pr-<n>-<slug>, cut so the alias fits (its URL known before deploying).
---@param pr integer
---@param branch string
---@return string
function pages.preview_branch(pr, branch) end

return pages
