-- drun.flows.compose: the Docker Compose flows (FLOWS.md §3), each a recipe
-- made from the app's config (recipes/compose-config.lua):
--
--   require("drun.flows.compose").restart(config)   -- test, pull, rebuild, migrate, health (a fleet in batches)
--   require("drun.flows.compose").rollback(config)  -- the last good commit back
--   require("drun.flows.compose").preview(config)   -- pr=N: the PR's head beside production, behind Caddy
--   require("drun.flows.compose").cleanup(config)   -- pr=N: that preview removed
local restart = require "drun.flows.compose.restart"
local preview = require "drun.flows.compose.preview"

-- the config is checked first (drun.flows.schema.compose): a misspelt key is exit 2, not a traceback
return require("drun.schema").checked(require "drun.flows.schema.compose", "compose",
  { restart = restart.restart, rollback = restart.rollback, preview = preview.preview, cleanup = preview.cleanup })
