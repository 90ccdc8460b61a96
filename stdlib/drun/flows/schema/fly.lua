-- The Fly.io flows' config (recipes/fly-config.lua), checked by drun.schema
-- before anything runs; its descriptions are the key reference drun init
-- writes above the config and README's table.
local function str(d) return { type = "string", description = d } end
local function per_env(d)
  return { type = "record", description = d,
           fields = { development = str("development's"), staging = str("staging's"), production = str("production's") } }
end
local apps = per_env("the Fly app of each environment")
apps.required = true
return { type = "record", fields = {
  notify = require("drun.notify").SCHEMA,
  service = { type = "string", required = true, description = "the ledger's name for the app" },
  apps = apps,
  configs = per_env("the fly.toml of each environment"),
  clusters = per_env("the Managed Postgres cluster of each environment: snapshot before a schema change"),
  schema_globs = { type = "array", elements = { type = "string" }, description = "a change here means: snapshot first" },
  backup = { type = "record", description = "fly mpg backup create", fields = {
    type = str("full"), timeout = { type = "number", min = 0, description = "seconds it may take" },
    interval = { type = "number", min = 0, description = "seconds between polls" } } },
  commit_label = str("the image label naming the commit it was built from"),
  org = str("the Fly organization previews are created in"),
  test = { type = "array", elements = { type = "string" }, description = "the quality gate of fly-deploy" },
  build = { type = "record", description = "docker build + push of fly-deploy", fields = {
    dockerfile = str("Dockerfile"), context = str("the build context"), registry = str("registry.fly.io"),
    repository = str("the image repository (an app's name on registry.fly.io)"),
    args = { type = "map", values = { type = "string" }, description = "--build-arg NAME=value" } } },
  preview = { type = "record", description = "fly-preview pr=N", fields = {
    app = str("the preview app; %d: the PR"), config = str("the fly.toml deployed with -a <app>"),
    url = str("the preview's address; %s: the app"), comment_marker = str("the one PR comment drun keeps up to date"),
    database = { type = "record", description = "the preview's own Managed Postgres cluster", fields = {
      name = str("%d: the PR"), plan = str("fly mpg create --plan"), region = str("fly mpg create --region") } },
    secrets = { type = "array", elements = { type = "string" }, description = "variables staged on the preview app (masked)" },
  } },
  health_url = { type = "string", required = true, description = "%s: the app" },
  health = { type = "record", required = true, description = "the check after each deploy", fields = {
    attempts = { type = "integer", min = 1, required = true, description = "tries before it fails" },
    interval = { type = "number", min = 0, required = true, description = "seconds between tries" },
    expect = { type = { "string", "table" }, description = "none: 200; a table: those JSON fields; \"digest\": the promoted digest" },
    environments = { type = "map", description = "per environment (development, staging, production, preview): "
                       .. "its own check over the defaults above",
                     values = { type = "record", fields = {
                       url = str("its health URL; %s: the app (default: health_url)"),
                       expect = { type = { "string", "table" }, description = "what it must answer (default: health.expect)" },
                       attempts = { type = "integer", min = 1, description = "tries (default: health.attempts)" },
                       interval = { type = "number", min = 0, description = "seconds between tries (default: health.interval)" },
                     } } } } },
  strategy = str("fly deploy --strategy (rolling)"),
  wait_timeout = str("fly deploy --wait-timeout (5m)"),
  github_repo = str("owner/name: PR comments go there"),
  fetch = { type = "boolean", description = "true: deepen a shallow CI checkout instead of refusing it" },
} }
