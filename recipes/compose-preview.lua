-- A pull request's preview on the app's server: drun recipes/compose-preview.lua pr=12
return require("compose_preview").preview(require "compose-config")
