-- The previous good commit back on the server: drun recipes/compose-rollback.lua --yes
return require("compose_restart").rollback(require "compose-config")
