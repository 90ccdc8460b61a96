-- Production: manual, approved. drun recipes/cms-prod.lua version_bump=minor --yes
return require("drun.flows.cms").production(require "cms-config")
