-- The Docker Compose flows' config (recipes/compose-config.lua), checked by
-- drun.schema before anything runs.
local str = { type = "string" }
local argv = { type = "array", elements = str }
local urls = { type = "array", elements = str }
local server = { type = "record", fields = {
  host = str, user = str, port = { type = "integer", min = 1 }, dir = str, ssh_config = str, name = str,
  health_url = str, health_urls = urls,
} }
return { type = "record", fields = {
  service = { type = "string", required = true, description = "the ledger's name for it, and the compose service" },
  environment = { type = "string", required = true },
  project = { type = "string", description = "production's compose project (default: its folder's name)" },
  server = server,
  servers = { type = "array", elements = server, description = "a fleet instead of the one server" },
  batch = { type = "integer", min = 1 },
  branch = { type = "string", required = true },
  test = argv,
  migrate = { type = "array", elements = { type = { "string", "array" }, elements = str },
              description = "a command, or a list of commands run in order, inside migrate_service" },
  migrate_service = { type = "string", description = "the compose service migrations run in (default: service)" },
  remove_orphans = { type = "boolean", description = "up --remove-orphans: containers of services the file no longer has go" },
  health_url = str,
  health_urls = urls,
  expect_json = { type = "table" },
  health = { type = "record", required = true,
             fields = { attempts = { type = "integer", min = 1, required = true }, interval = { type = "number", min = 0, required = true } } },
  logs_tail = { type = "integer", min = 0 },
  preview = { type = "record", fields = {
    project = str, root = str, ports = str, port_env = str, domain = str,
    scheme = { type = "string", one_of = { "https", "http" } },
    server = server,
    caddy = { type = "record", fields = { caddyfile = str, sites = str, admin = str, bind = str, reload = argv } },
    comment_marker = str, repo = str, health_path = str, wait_timeout = { type = "integer", min = 1 },
  } },
  github_repo = str,
} }
