-- Cut a hotfix branch from the last release tag: drun recipes/cms-hotfix.lua [from=cms-v1.4.0] [name=fix-login]
return require("drun.flows.cms").hotfix(require "cms-config")
