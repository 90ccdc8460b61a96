-- Staging: every push to main once tests pass. drun recipes/cms-staging.lua
return require("drun.flows.cms").staging(require "cms-config")
