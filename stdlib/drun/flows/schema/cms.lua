-- The CMS + MCP flow's config (recipes/cms-config.lua), checked by
-- drun.schema before anything runs; its descriptions are the key reference
-- drun init writes above the config and README's table.
local function str(d) return { type = "string", description = d } end
local function argv(d) return { type = "array", elements = { type = "string" }, description = d } end
local function per_env(d) return { type = "record", description = d,
                                   fields = { staging = str("staging's"), production = str("production's") } } end
return { type = "record", fields = {
  notify = require("drun.notify").SCHEMA,
  service = { type = "string", required = true, description = "the ledger's name for the workers" },
  cms_dir = { type = "string", required = true, description = "the CMS worker's folder (its wrangler config)" },
  mcp_dir = str("the MCP worker's folder, deployed first (none: a CMS without MCP)"),
  workers = { type = "array", conflicts = { "mcp_dir" }, description = "workers deployed before the CMS, in this order "
                .. "(instead of mcp_dir; the name mcp is the MCP worker)",
              elements = { type = "record", fields = {
                name = { type = "string", required = true, description = "its key in the ledger and its steps' names" },
                dir = { type = "string", required = true, description = "its folder (its wrangler config)" } } } },
  package_json = { type = "string", required = true, description = "whose version /api/health reports" },
  tag_prefix = { type = "string", required = true, description = "release tags are <prefix><version>" },
  database = per_env("the D1 database of each target (none: no D1, no migrations)"),
  wrangler_env = per_env("the wrangler environment (--env) of each target; none: wrangler's top level"),
  backfill = { type = "string", needs = { "database", "schema_table" },
               description = "SQL that records migrations applied before d1_migrations (none: no backfill step)" },
  schema_table = str("a table present without d1_migrations: backfill first"),
  test = argv("the test gate before production, run here: { \"npm\", \"test\" }"),
  build = argv("the bundle, run in cms_dir"),
  health_url = { type = "record", required = true, description = "what the smoke check GETs, per target",
                 fields = { staging = str("staging's"), production = str("production's") } },
  smoke = { type = "record", required = true, description = "the smoke check after each deploy", fields = {
    attempts = { type = "integer", min = 1, required = true, description = "tries before it fails" },
    interval = { type = "number", min = 0, required = true, description = "seconds between tries" } } },
  watch = { type = "record", description = "after production's smoke check: wrangler tail on the workers", fields = {
    seconds = { type = "number", min = 0, description = "how long (0: no watch; default 60)" },
    max_errors = { type = "integer", min = 0, description = "exceptions or 5xx that fail the release (default 0)" } } },
  github_repo = { type = "string", required = true, description = "owner/name: the release is made there" },
  remote = str("the git remote the bump commit and tag are pushed to (origin)"),
  release_branch = str("the branch the bump commit is pushed to (default: the run's)"),
  main_branch = str("where releases come from and hotfixes are merged back to (main)"),
  hotfix_prefix = str("a branch named so is a hotfix, released from the last tag (hotfix/)"),
  fetch = { type = "boolean", description = "true: deepen a shallow CI checkout instead of refusing it" },
} }
