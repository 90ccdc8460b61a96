---@meta drun.flows.cms
-- The shipped CMS flow (stdlib/drun/flows/cms.lua): Cloudflare Workers with
-- D1 migrations. Each function takes the config (checked against
-- drun.flows.schema.cms first: exit 2 naming an unknown key) and returns a recipe.
--   return require("drun.flows.cms").production(require "cms-config")

local cms = {}

---@param config table recipes/cms-config.lua
---@return drun.recipe.Recipe
function cms.staging(config) end
---@param config table
---@return drun.recipe.Recipe
function cms.production(config) end
---@param config table
---@return drun.recipe.Recipe
function cms.rollback(config) end
---@param config table
---@return drun.recipe.Recipe
function cms.hotfix(config) end

return cms
