-- Staging: every push to main once tests pass. drun recipes/cms-staging.lua
return require("cms").staging(require "cms-config")
