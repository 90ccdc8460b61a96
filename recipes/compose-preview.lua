-- A pull request's preview on the app's server: drun recipes/compose-preview.lua pr=12
return require("drun.flows.compose").preview(require "compose-config")
