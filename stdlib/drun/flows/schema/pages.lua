-- The Cloudflare Pages docs flow's config (recipes/docs-config.lua),
-- checked by drun.schema before anything runs; its descriptions are the key
-- reference drun init writes above the config and README's table.
local function str(d) return { type = "string", description = d } end
local site = { type = "record", fields = {
  name = { type = "string", required = true, description = "the site's name in the ledger and reports" },
  dir = { type = "string", required = true, description = "its folder: a change there rebuilds it" },
  project = { type = "string", required = true, description = "the Pages project" },
  build = { type = "array", elements = { type = "string" }, description = "the build, run in dir" },
  output = { type = "string", required = true, description = "the folder the build writes" },
  url = str("production's address (its custom domain), checked after the deploy"),
  watch = { type = "array", elements = { type = "string" }, description = "more paths whose change rebuilds the site" },
} }
return { type = "record", fields = {
  notify = require("drun.notify").SCHEMA,
  service = { type = "string", required = true, description = "the run's ledger record; each site gets its own too" },
  sites = { type = "array", required = true, elements = site, description = "the doc sites, deployed in this order" },
  branches = { type = "record", description = "Pages branches", fields = {
    staging = str("staging's branch"), production = str("checked against the project's production branch") } },
  base = str("a PR's base when neither base= nor GITHUB_BASE_REF names it"),
  tag_prefix = { type = "string", required = true, description = "production's baseline: the latest release tag" },
  version_file = str("the package.json whose version the docs go out with"),
  github_repo = { type = "string", required = true, description = "owner/name" },
  build_limit = { type = "integer", min = 1, description = "sites built side by side at most" },
  comment_marker = str("the one PR comment drun keeps up to date"),
  fetch = { type = "boolean", description = "true: deepen a shallow CI checkout instead of refusing it" },
} }
