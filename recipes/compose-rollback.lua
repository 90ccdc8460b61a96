-- The previous good commit back on the server: drun recipes/compose-rollback.lua --yes
return require("drun.flows.compose").rollback(require "compose-config")
