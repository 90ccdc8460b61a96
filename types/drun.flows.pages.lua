---@meta drun.flows.pages
-- The shipped Cloudflare Pages docs flow (stdlib/drun/flows/pages.lua).

local pages = {}

---@param config table recipes/docs-config.lua (checked against drun.flows.schema.pages)
---@return drun.recipe.Recipe
function pages.recipe(config) end

return pages
