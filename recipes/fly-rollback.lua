-- The previous good digest back: drun recipes/fly-rollback.lua environment=production --yes
return require("drun.flows.fly").rollback(require "fly-config")
