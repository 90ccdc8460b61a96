-- Restart the app on its server: drun recipes/compose-restart.lua
return require("compose_restart").restart(require "compose-config")
