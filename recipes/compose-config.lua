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
  migrate = { "python3", "scripts/migrate.py" },     -- inside the container (e.g. alembic -c app/alembic.ini upgrade head)
  -- every URL must answer; the first is where the restart gap is measured
  health_urls = words(env("APP_HEALTH_URLS")) or { env("APP_HEALTH_URL") or "https://app.example.com/health" },
  expect_json = { status = "ok" },
  health = { attempts = 5, interval = tonumber(env("APP_HEALTH_INTERVAL") or "") or 5 },
  logs_tail = 50,
}
