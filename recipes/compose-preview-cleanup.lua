-- When the PR closes: drun recipes/compose-preview-cleanup.lua pr=12 (down -v, its folder, port and Caddy site removed)
return require("drun.flows.compose").cleanup(require "compose-config")
