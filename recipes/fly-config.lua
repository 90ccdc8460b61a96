-- The app's three Fly.io environments: every name the promotion flow uses.
local env = os.getenv
return {
  service = "app",
  apps = { development = "app-development", staging = "app-staging", production = "app-production" },
  configs = { development = "fly.development.toml", staging = "fly.staging.toml", production = "fly.production.toml" },
  -- Fly Managed Postgres cluster ids (fly mpg list): snapshots are `fly mpg backup create`
  clusters = { development = "app-development-db", staging = "app-staging-db", production = "app-production-db" },
  schema_globs = { "migrations/**" },             -- a change here means: snapshot the target's database first
  backup = { type = "full", timeout = tonumber(env("FLY_BACKUP_TIMEOUT") or "") or 900,
             interval = tonumber(env("FLY_BACKUP_INTERVAL") or "") or 10 },
  commit_label = "commit",                        -- the image label that names the commit it was built from
  org = env("FLY_ORG") or "personal",             -- the Fly organization (fly orgs list) previews are created in
  -- fly-deploy: the quality gate, then docker build + push to registry.fly.io/<repository>:deployment-<commit>
  test = { "sh", "scripts/test.sh" },
  build = { dockerfile = "Dockerfile", context = ".", registry = "registry.fly.io", repository = "app-development" },
  -- fly-preview pr=N: app <app>-pr-<n> (%d: the PR), its own Managed Postgres cluster, staged secrets
  preview = {
    app = env("FLY_PREVIEW_APP") or "app-pr-%d",   -- %d: the PR number; at most 63 characters in all
    config = "fly.development.toml",              -- deployed with -a <the preview app> (the flag wins over the file's app)
    database = { name = "app-pr-%d-db", plan = "basic", region = "ams" },
    secrets = { "PREVIEW_SESSION_SECRET" },       -- environment variables staged on the preview app (masked)
    comment_marker = "<!-- drun:fly-preview -->", -- the one PR comment drun keeps up to date
  },
  health_url = env("FLY_HEALTH_URL") or "https://%s.fly.dev/health", -- %s: the app
  -- expect: nil = status 200; a table = those JSON fields ({status = "ok"}); "digest" = {"digest": <the promoted digest>}
  health = { attempts = 5, interval = tonumber(env("FLY_HEALTH_INTERVAL") or "") or 5,
             expect = env("FLY_HEALTH_EXPECT") == "digest" and "digest" or nil },
  strategy = "rolling",
  wait_timeout = "5m",
  github_repo = env("GITHUB_REPOSITORY") or "acme/app",
  fetch = false,          -- true: deepen a shallow CI checkout (git fetch --unshallow --tags) instead of refusing it
                          -- before anything runs (the snapshot compares migrations between two commits)
}
