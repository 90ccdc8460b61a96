-- The CMS + MCP flow's config (recipes/cms-config.lua), checked by
-- drun.schema before anything runs.
local str = { type = "string" }
local argv = { type = "array", elements = str, description = "a command as a list: { \"npm\", \"test\" }" }
local per_env = { type = "record", fields = { staging = str, production = str } }
return { type = "record", fields = {
  service = { type = "string", required = true, description = "the ledger's name for the workers" },
  cms_dir = { type = "string", required = true, description = "the CMS worker's folder (its wrangler config)" },
  mcp_dir = { type = "string", description = "the MCP worker's folder, deployed first (none: a CMS without MCP)" },
  package_json = { type = "string", required = true, description = "whose version /api/health reports" },
  tag_prefix = { type = "string", required = true, description = "release tags are <prefix><version>" },
  database = { type = "record", fields = { staging = str, production = str },
               description = "the D1 database of each target (none: no D1, no migrations)" },
  wrangler_env = per_env,
  backfill = { type = "string", needs = { "database", "schema_table" },
               description = "SQL that records migrations applied before d1_migrations (none: no backfill step)" },
  schema_table = { type = "string", description = "a table present without d1_migrations: backfill first" },
  test = argv,
  build = argv,
  health_url = { type = "record", required = true, fields = { staging = str, production = str } },
  smoke = { type = "record", required = true,
            fields = { attempts = { type = "integer", min = 1, required = true }, interval = { type = "number", min = 0, required = true } } },
  watch = { type = "record", fields = { seconds = { type = "number", min = 0 }, max_errors = { type = "integer", min = 0 } } },
  github_repo = { type = "string", required = true, description = "owner/name" },
  remote = str,
  release_branch = str,
  main_branch = str,
  hotfix_prefix = str,
  fetch = { type = "boolean" },
} }
