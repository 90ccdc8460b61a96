-- The doc sites of this repository (FLOWS.md §4): every name the docs flow
-- uses. Another repository adapts the flow by editing these values.
local env = os.getenv
local build = { "npm", "run", "--silent", "build" } -- run in the site's dir
return {
  service = "docs",                 -- the run's ledger record; each site also gets records of its own
  sites = {                         -- deployed in this order
    { name = "usage-docs", dir = "docs/usage-docs", project = "usage-docs", build = build, output = "dist",
      url = env("DOCS_USAGE_URL") or "https://docs.cms.example.com" },     -- production: the custom domain
    { name = "dev-docs", dir = "docs/dev-docs", project = "dev-docs", build = build, output = "dist",
      url = env("DOCS_DEV_URL") or "https://dev.docs.cms.example.com" },
    -- watch = { "docs/theme/**" }: more paths whose change rebuilds a site
  },
  -- Pages branches; production deploys to each project's own production branch, read from Cloudflare
  -- (production = "main" here would also check that it is main)
  branches = { staging = "staging" },
  base = "origin/main",             -- a PR's base when neither base= nor GITHUB_BASE_REF names it
  tag_prefix = "cms-v",             -- production's baseline: the latest release tag before HEAD
  version_file = "apps/cms/package.json", -- the docs go out with the CMS release they describe
  github_repo = env("GITHUB_REPOSITORY") or "acme/cms",
  build_limit = 4,                  -- sites built side by side at most (their lines labelled with the site)
  comment_marker = "<!-- drun:docs-previews -->",
  fetch = false,                    -- true: deepen a shallow CI checkout (git fetch --unshallow --tags) instead of
                                    -- refusing it before anything runs (the baseline is in the history)
}
