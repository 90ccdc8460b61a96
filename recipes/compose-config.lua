-- The app on one server behind a reverse proxy: every name the
-- compose-restart flow uses. Another repository edits these values.
local env = os.getenv
local function words(s)
  local list = {}
  for w in (s or ""):gmatch("%S+") do list[#list + 1] = w end
  return #list > 0 and list or nil
end
return {
  service = "app",                                   -- the ledger's name for it, and the compose service
  environment = env("APP_ENVIRONMENT") or "production",
  server = {                                         -- reached with ssh; the checkout lives in dir
    host = env("APP_HOST") or "web1.example.com",
    user = env("APP_USER") or "deploy",
    port = tonumber(env("APP_SSH_PORT") or ""),
    dir = env("APP_DIR") or "/srv/app",
    ssh_config = env("APP_SSH_CONFIG"),              -- an ssh_config file (ssh -F): keys, known_hosts, jump hosts
  },
  -- servers = { { host = "web1", user = "deploy", dir = "/srv/app", health_url = "https://web1.internal/health" },
  --             { host = "web2", ... } },   -- a fleet instead of the one server above (each may set health_url(s))
  batch = 1,                                 -- a fleet's servers restarted side by side; the first batch is the canary
  branch = "main",
  test = { "python3", "-m", "py_compile", "app/server.py" }, -- the test gate, run here
  migrate = { "python3", "scripts/migrate.py" },     -- inside the container (e.g. alembic -c app/alembic.ini upgrade head);
                                                     -- or a list of commands: { { "alembic", ... }, { "python3", "seed.py" } }
  -- migrate_service = "app",                        -- the service migrations run in (default: service)
  remove_orphans = false,                            -- true: up --remove-orphans (a service removed from the file goes)
  -- every URL must answer; the first is where the restart gap is measured
  health_urls = words(env("APP_HEALTH_URLS")) or { env("APP_HEALTH_URL") or "https://app.example.com/health" },
  expect_json = { status = "ok" },
  health = { attempts = 5, interval = tonumber(env("APP_HEALTH_INTERVAL") or "") or 5 },
  logs_tail = 50,
  -- compose-preview pr=N: the PR's head on the server (the one above, or the fleet's first) as its
  -- own compose project, behind its own Caddy site; compose-preview-cleanup pr=N removes it
  preview = {
    project = "app-pr-%d",                           -- docker compose -p, and its folder's name; %d: the PR
    root = env("PREVIEW_ROOT") or "/srv/previews",   -- the previews' folders (and .ports/, their port claims)
    ports = env("PREVIEW_PORTS") or "8100-8199",     -- a preview's port: the lowest free one of this range
    port_env = "APP_PORT",                           -- the variable the compose file takes its port from
    domain = env("PREVIEW_DOMAIN") or "preview.example.com", -- the Caddy site is pr-<n>.<domain>
    scheme = env("PREVIEW_SCHEME") or "https",       -- https: Caddy's automatic TLS; http: a plain site
    caddy = {
      caddyfile = env("PREVIEW_CADDYFILE") or "/etc/caddy/Caddyfile", -- it must `import <sites>/*.caddy`
      sites = env("PREVIEW_CADDY_SITES") or "/etc/caddy/sites",      -- one <project>.caddy per preview
      admin = env("PREVIEW_CADDY_ADMIN"),            -- caddy reload --address (default: Caddy's localhost:2019)
      bind = env("PREVIEW_CADDY_BIND"),              -- a bind directive for the sites (e.g. 127.0.0.1)
      -- reload = { "sudo", "systemctl", "reload", "caddy" },  -- instead of caddy reload
    },
    comment_marker = "<!-- drun:compose-preview -->", -- the one PR comment drun keeps up to date
    -- repo = "git@github.com:acme/app.git",         -- cloned from (default: the production checkout's origin)
  },
  github_repo = env("GITHUB_REPOSITORY") or "acme/app",
}
