-- drun.flows.compose: the Docker Compose flows (FLOWS.md §3), each a recipe
-- made from the app's config (recipes/compose-config.lua):
--
--   require("drun.flows.compose").restart(config)   -- test, pull, rebuild, migrate, health (a fleet in batches)
--   require("drun.flows.compose").rollback(config)  -- the last good commit back
--   require("drun.flows.compose").preview(config)   -- pr=N: the PR's head beside production, behind Caddy
--   require("drun.flows.compose").cleanup(config)   -- pr=N: that preview removed
local schema = require "drun.schema"

-- the config is checked first (drun.flows.schema.compose): a misspelt key is
-- exit 2, not a traceback; each flow's module is loaded when it is used
return schema.checked(require "drun.flows.schema.compose", "compose", {
  restart = schema.lazy("drun.flows.compose.restart", "restart"), rollback = schema.lazy("drun.flows.compose.restart", "rollback"),
  preview = schema.lazy("drun.flows.compose.preview", "preview"), cleanup = schema.lazy("drun.flows.compose.preview", "cleanup"),
})
