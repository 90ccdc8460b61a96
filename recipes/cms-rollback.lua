-- Rollback: the last good CMS (and MCP) back. drun recipes/cms-rollback.lua environment=production --yes
return require("drun.flows.cms").rollback(require "cms-config")
