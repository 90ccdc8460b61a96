-- Production: manual, approved. drun recipes/cms-prod.lua version_bump=minor --yes
return require("cms").production(require "cms-config")
