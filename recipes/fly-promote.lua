-- Promote the digest: drun recipes/fly-promote.lua promotion_path="staging → production" --yes
return require("drun.flows.fly").promote(require "fly-config")
