-- The CMS + MCP workers of this repository: every name the flow uses.
-- Another repository adapts the flow by editing these values.
local env = os.getenv
return {
  service = "cms",
  cms_dir = "apps/cms",                        -- wrangler.jsonc of the CMS worker
  mcp_dir = "packages/cms-mcp",                -- wrangler.jsonc of the MCP worker (deployed first)
  package_json = "apps/cms/package.json",      -- its "version" is what /api/health reports
  tag_prefix = "cms-v",
  database = { staging = "cms-staging", production = "cms-production" },
  -- the wrangler environment (--env) of each target; none: wrangler's top level (the seed's production)
  wrangler_env = { staging = "staging" },
  backfill = "scripts/backfill-d1-migrations.sql",
  schema_table = "organizations",              -- present without d1_migrations: backfill first
  test = { "npm", "test", "--silent" },
  build = { "npm", "run", "--silent", "build" }, -- run in cms_dir
  health_url = {
    staging = env("CMS_STAGING_HEALTH_URL") or "https://staging.cms.example.com/api/health",
    production = env("CMS_PRODUCTION_HEALTH_URL") or "https://cms.example.com/api/health",
  },
  smoke = { attempts = 5, interval = tonumber(env("CMS_SMOKE_INTERVAL") or "") or 5 },
  -- after production's smoke check: wrangler tail on both workers; more than max_errors exceptions or 5xx
  -- answers fail the release before it is tagged (0 seconds: no watch)
  watch = { seconds = tonumber(env("CMS_WATCH_SECONDS") or "") or 60, max_errors = 0 },
  github_repo = env("GITHUB_REPOSITORY") or "acme/cms",
  remote = "origin",
  release_branch = nil,                        -- the branch the bump commit is pushed to (default: the run's)
  main_branch = "main",                        -- where releases come from and hotfixes are merged back to
  hotfix_prefix = "hotfix/",                   -- a branch named so is a hotfix: cut from the last release tag,
                                               -- released as its patch, tagged and pushed on its own branch
  fetch = false,                               -- true: deepen a shallow CI checkout (git fetch --unshallow --tags)
                                               -- instead of refusing it before anything runs
}
