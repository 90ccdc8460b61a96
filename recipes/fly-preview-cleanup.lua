-- When the PR closes: drun recipes/fly-preview-cleanup.lua pr=12 (the app and its database destroyed)
return require("fly_preview").cleanup(require "fly-config")
