-- The app's three Fly.io environments: every name the promotion flow uses.
local env = os.getenv
return {
  service = "app",
  apps = { development = "app-development", staging = "app-staging", production = "app-production" },
  configs = { development = "fly.development.toml", staging = "fly.staging.toml", production = "fly.production.toml" },
  clusters = { development = "app-development-db", staging = "app-staging-db", production = "app-production-db" },
  schema_globs = { "migrations/**" },             -- a change here means: snapshot the target's database first
  snapshot_command = env("FLY_SNAPSHOT_COMMAND") and { env("FLY_SNAPSHOT_COMMAND"), "{cluster}" }
                     or { "fly", "postgres", "backup", "create", "-a", "{cluster}" },
  health_url = env("FLY_HEALTH_URL") or "https://%s.fly.dev/health", -- %s: the app
  health = { attempts = 5, interval = tonumber(env("FLY_HEALTH_INTERVAL") or "") or 5 },
  strategy = "rolling",
  wait_timeout = "5m",
  github_repo = env("GITHUB_REPOSITORY") or "acme/app",
}
