-- The Cloudflare Pages docs flow's config (recipes/docs-config.lua),
-- checked by drun.schema before anything runs.
local str = { type = "string" }
local argv = { type = "array", elements = str }
local site = { type = "record", fields = {
  name = { type = "string", required = true }, dir = { type = "string", required = true },
  project = { type = "string", required = true, description = "the Pages project" },
  build = argv, output = { type = "string", required = true, description = "the folder the build writes" },
  url = str, watch = { type = "array", elements = str, description = "more paths whose change rebuilds the site" },
} }
return { type = "record", fields = {
  service = { type = "string", required = true },
  sites = { type = "array", required = true, elements = site },
  branches = { type = "record", fields = { staging = str, production = str } },
  base = str,
  tag_prefix = { type = "string", required = true },
  version_file = str,
  github_repo = { type = "string", required = true, description = "owner/name" },
  build_limit = { type = "integer", min = 1 },
  comment_marker = str,
  fetch = { type = "boolean" },
} }
