-- Restart the app on its server: drun recipes/compose-restart.lua
return require("drun.flows.compose").restart(require "compose-config")
