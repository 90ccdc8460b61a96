-- A pull request's preview on Fly: drun recipes/fly-preview.lua pr=12
return require("fly_preview").preview(require "fly-config")
