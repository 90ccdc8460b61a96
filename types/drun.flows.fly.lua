---@meta drun.flows.fly
-- The shipped Fly.io flow (stdlib/drun/flows/fly/): one immutable digest
-- promoted dev -> staging -> production, and PR previews. Each function takes
-- the config (checked against drun.flows.schema.fly) and returns a recipe.

local fly = {}

---@param config table recipes/fly-config.lua
---@return drun.recipe.Recipe
function fly.deploy(config) end
---@param config table
---@return drun.recipe.Recipe
function fly.promote(config) end
---@param config table
---@return drun.recipe.Recipe
function fly.rollback(config) end
---@param config table
---@return drun.recipe.Recipe
function fly.preview(config) end
---@param config table
---@return drun.recipe.Recipe
function fly.cleanup(config) end

return fly
