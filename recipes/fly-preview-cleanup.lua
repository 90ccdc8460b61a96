-- When the PR closes: drun recipes/fly-preview-cleanup.lua pr=12 (the app and its database destroyed)
return require("drun.flows.fly").cleanup(require "fly-config")
