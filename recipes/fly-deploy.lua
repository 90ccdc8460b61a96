-- Push to main: test, build and push this commit's image, deploy its digest to development.
-- drun recipes/fly-deploy.lua [record_issue=true]
return require("drun.flows.fly").deploy(require "fly-config")
