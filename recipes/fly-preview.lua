-- A pull request's preview on Fly: drun recipes/fly-preview.lua pr=12
return require("drun.flows.fly").preview(require "fly-config")
