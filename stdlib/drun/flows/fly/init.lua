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
local schema = require "drun.schema"

-- the config is checked first (drun.flows.schema.fly): a misspelt key is
-- exit 2, not a traceback; each flow's module is loaded when it is used
return schema.checked(require "drun.flows.schema.fly", "fly", {
  deploy = schema.lazy("drun.flows.fly.deploy", "deploy"),
  promote = schema.lazy("drun.flows.fly.promote", "promote"), rollback = schema.lazy("drun.flows.fly.promote", "rollback"),
  preview = schema.lazy("drun.flows.fly.preview", "preview"), cleanup = schema.lazy("drun.flows.fly.preview", "cleanup"),
})
