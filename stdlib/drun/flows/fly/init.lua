-- drun.flows.fly: the Fly.io flows (FLOWS.md §2), each a recipe made from
-- the app's config (recipes/fly-config.lua):
--
--   require("drun.flows.fly").deploy(config)    -- a push to main: test, build, push, deploy to development
--   require("drun.flows.fly").promote(config)   -- one immutable digest one environment further
--   require("drun.flows.fly").rollback(config)  -- the last good digest back
--   require("drun.flows.fly").preview(config)   -- pr=N: app <app>-pr-<n> with its own database
--   require("drun.flows.fly").cleanup(config)   -- pr=N: that preview destroyed
--
-- The steps they share are drun.flows.fly.steps.
local deploy = require "drun.flows.fly.deploy"
local promote = require "drun.flows.fly.promote"
local preview = require "drun.flows.fly.preview"

-- the config is checked first (drun.flows.schema.fly): a misspelt key is exit 2, not a traceback
return require("drun.schema").checked(require "drun.flows.schema.fly", "fly",
  { deploy = deploy.deploy, promote = promote.promote, rollback = promote.rollback, preview = preview.preview, cleanup = preview.cleanup })
