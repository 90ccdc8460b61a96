-- Promote the digest: drun recipes/fly-promote.lua promotion_path="staging → production" --yes
return require("fly_promote").promote(require "fly-config")
