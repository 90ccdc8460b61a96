-- The Docker Compose flows' config (recipes/compose-config.lua), checked by
-- drun.schema before anything runs; its descriptions are the key reference
-- drun init writes above the config and README's table.
local function str(d) return { type = "string", description = d } end
local function urls(d) return { type = "array", elements = { type = "string" }, description = d } end
local function server(d)
  return { type = "record", description = d, fields = {
    host = str("reached with ssh (none: this machine)"), user = str("the ssh user"),
    port = { type = "integer", min = 1, description = "the ssh port" }, dir = str("the checkout on the server"),
    ssh_config = str("an ssh_config file (ssh -F): keys, known_hosts, jump hosts"), name = str("its name in reports"),
    health_url = str("this server's own health URL"), health_urls = urls("this server's own health URLs"),
  } }
end
return { type = "record", fields = {
  notify = require("drun.notify").SCHEMA,
  service = { type = "string", required = true, description = "the ledger's name for it, and the compose service" },
  environment = { type = "string", required = true, description = "the ledger's environment" },
  project = str("production's compose project (default: its folder's name)"),
  server = server("the one server"),
  servers = { type = "array", elements = server("one of the fleet"), description = "a fleet instead of the one server" },
  batch = { type = "integer", min = 1, description = "a fleet's servers restarted side by side; the first batch is the canary" },
  branch = { type = "string", required = true, description = "the branch the server's checkout follows" },
  test = urls("the test gate, run here"),
  migrate = { type = "array", elements = { type = { "string", "array" }, elements = { type = "string" } },
              description = "a command, or a list of commands run in order, inside migrate_service" },
  migrate_service = str("the compose service migrations run in (default: service)"),
  checked_services = urls("the services that must run (healthy where they have a healthcheck) after the restart; "
                          .. "default: every service of the project"),
  remove_orphans = { type = "boolean", description = "up --remove-orphans: containers of services the file no longer has go" },
  health_url = str("what must answer after the restart"),
  health_urls = urls("every URL must answer; the first is where the restart gap is measured"),
  expect_json = { type = "table", description = "JSON fields the health answer must have" },
  health = { type = "record", required = true, description = "the check after the restart", fields = {
    attempts = { type = "integer", min = 1, required = true, description = "tries before it fails" },
    interval = { type = "number", min = 0, required = true, description = "seconds between tries" } } },
  logs_tail = { type = "integer", min = 0, description = "log lines shown when a service is unhealthy" },
  preview = { type = "record", description = "compose-preview pr=N", fields = {
    project = str("docker compose -p, and its folder's name; %d: the PR"),
    root = str("the previews' folders (and .ports/, their port claims)"),
    ports = str("a preview's port: the lowest free one of this range (8100-8199)"),
    port_env = str("the variable the compose file takes its port from"),
    domain = str("the Caddy site is pr-<n>.<domain>"),
    scheme = { type = "string", one_of = { "https", "http" }, description = "https: Caddy's automatic TLS" },
    server = server("the preview server (default: the server, or the fleet's first)"),
    caddy = { type = "record", description = "the reverse proxy", fields = {
      caddyfile = str("it must import <sites>/*.caddy"), sites = str("one <project>.caddy per preview"),
      admin = str("caddy reload --address"), bind = str("a bind directive for the sites"),
      reload = urls("instead of caddy reload") } },
    comment_marker = str("the one PR comment drun keeps up to date"),
    repo = str("cloned from (default: the production checkout's origin)"),
    health_path = str("the preview's health path"),
    wait_timeout = { type = "integer", min = 1, description = "up --wait-timeout seconds" },
  } },
  github_repo = str("owner/name: PR comments go there"),
} }
