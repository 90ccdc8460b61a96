---@meta drun.flows.compose
-- The shipped Docker Compose flow (stdlib/drun/flows/compose/): restart over
-- ssh behind Caddy, and PR previews. Each function takes the config (checked
-- against drun.flows.schema.compose) and returns a recipe.

local compose = {}

---@param config table recipes/compose-config.lua
---@return drun.recipe.Recipe
function compose.restart(config) end
---@param config table
---@return drun.recipe.Recipe
function compose.rollback(config) end
---@param config table
---@return drun.recipe.Recipe
function compose.preview(config) end
---@param config table
---@return drun.recipe.Recipe
function compose.cleanup(config) end

return compose
