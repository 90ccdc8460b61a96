-- The previous good digest back: drun recipes/fly-rollback.lua environment=production --yes
return require("fly_promote").rollback(require "fly-config")
