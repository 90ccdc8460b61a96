-- The doc sites to Cloudflare Pages, each only when it changed:
--   drun recipes/docs-pages.lua mode=pr pr=12       (previews, listed in one PR comment)
--   drun recipes/docs-pages.lua mode=staging        (every push to main)
--   drun recipes/docs-pages.lua mode=production --yes
return require("drun.flows.pages").recipe(require "docs-config")
