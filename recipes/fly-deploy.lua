-- Push to main: test, build and push this commit's image, deploy its digest to development.
-- drun recipes/fly-deploy.lua [record_issue=true]
return require("fly_deploy").deploy(require "fly-config")
