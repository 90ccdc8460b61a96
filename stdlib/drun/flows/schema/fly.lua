-- The Fly.io flows' config (recipes/fly-config.lua), checked by
-- drun.schema before anything runs.
local str = { type = "string" }
local per_env = { type = "record", fields = { development = str, staging = str, production = str } }
return { type = "record", fields = {
  service = { type = "string", required = true },
  apps = { type = "record", required = true, fields = per_env.fields, description = "the Fly app of each environment" },
  configs = per_env,
  clusters = per_env,
  schema_globs = { type = "array", elements = str },
  backup = { type = "record", fields = { type = str, timeout = { type = "number", min = 0 }, interval = { type = "number", min = 0 } } },
  commit_label = str,
  org = str,
  test = { type = "array", elements = str },
  build = { type = "record", fields = { dockerfile = str, context = str, registry = str, repository = str,
                                        args = { type = "map", values = str } } },
  preview = { type = "record", fields = {
    app = str, config = str, url = str, comment_marker = str,
    database = { type = "record", fields = { name = str, plan = str, region = str } },
    secrets = { type = "array", elements = str },
  } },
  health_url = { type = "string", required = true, description = "%s: the app" },
  health = { type = "record", required = true, fields = {
    attempts = { type = "integer", min = 1, required = true }, interval = { type = "number", min = 0, required = true },
    expect = { type = { "string", "table" } } } },
  strategy = str,
  wait_timeout = str,
  github_repo = str,
  fetch = { type = "boolean" },
} }
