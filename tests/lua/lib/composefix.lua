-- The compose flow under test: the fixture app's repository here, its
-- checkout on server web1 in a sandbox running the previous commit, reached
-- through OpenSSH's real client and sshd (tests/sandbox/sshd).
local t = require "t"
local proc = require "drun.proc"

local flowfix = require "flowfix"

local M = flowfix.class(120)

function M.setup()
  local f = flowfix.new(M, "compose", true) -- the sandbox's GitHub keeps PRs' heads in the origin (refs/pull/<n>/head)
  local env, server = f.env, f.sandbox .. "/hosts/web1/srv/app"
  f.server = server
  proc.run { "git", "clone", "-q", f.origin, server }
  proc.run { "git", "-C", server, "reset", "-q", "--hard", "HEAD~1" } -- the server runs the previous commit
  env.APP_PORT = proc.output { flowfix.ROOT .. "/tests/sandbox/free-port" }
  local sshd = proc.run { flowfix.ROOT .. "/tests/sandbox/sshd", f.sandbox, "web1", "APP_PORT=" .. env.APP_PORT }
  env.APP_SSH_CONFIG = sshd.stdout:match("export SSH_CONFIG='([^']+)'")
  env.APP_HOST, env.APP_DIR, env.APP_HEALTH_INTERVAL = "web1", server, "0.1"
  env.APP_USER = proc.output { "id", "-un" } -- the sandbox's sshd lets in the user running the tests
  -- Caddy in front, as on the seed's server: the restart gap is the proxy's real 502 window
  local caddy = proc.output { flowfix.ROOT .. "/tests/sandbox/caddy", f.sandbox, env.APP_PORT }
  env.APP_HEALTH_URL = caddy:match("CADDY_URL='([^']+)'") .. "/health"
  -- previews on the same server behind the same Caddy: sites pr-<n>.localhost:<Caddy's port>
  -- (libcurl resolves *.localhost to 127.0.0.1), ports from ten free ones
  env.PREVIEW_ROOT = f.sandbox .. "/hosts/web1/srv/previews"
  env.PREVIEW_DOMAIN = "localhost:" .. env.APP_HEALTH_URL:match(":(%d+)/")
  env.PREVIEW_SCHEME, env.PREVIEW_CADDY_BIND = "http", "127.0.0.1"
  env.PREVIEW_CADDYFILE, env.PREVIEW_CADDY_SITES = caddy:match("CADDYFILE='([^']+)'"), caddy:match("CADDY_SITES='([^']+)'")
  env.PREVIEW_CADDY_ADMIN = caddy:match("CADDY_ADMIN='([^']+)'")
  local base = M.free_range(10)
  env.PREVIEW_PORTS = base .. "-" .. (base + 9)
  env.GITHUB_REPOSITORY = "acme/app"
  env.GITHUB_ACTOR, env.GITHUB_SHA = false, false
  local up, err = f:on_server("docker compose up -d --build --wait")
  assert(up and up.code == 0, "the old app did not start: " .. (up and up.stdout .. up.stderr or tostring(err)))
  return f
end

-- free_range(n) -> the first of n consecutive ports nothing listens on now
-- (below Linux's ephemeral range: tests/sandbox/free-port)
function M.free_range(n)
  return tonumber(proc.output { flowfix.ROOT .. "/tests/sandbox/free-port", tostring(n) })
end

-- a branch of origin with one more commit than main: path holds text
function M:push_branch(branch, path, text)
  local pushed = proc.run { "git", "-C", self.repo, "rev-parse", "--verify", "-q", "origin/" .. branch, check = false }
  proc.run { "git", "-C", self.repo, "checkout", "-q", "-B", branch, pushed.code == 0 and ("origin/" .. branch) or "origin/main" }
  t.write(self.repo .. "/" .. path, text)
  proc.run { "git", "-C", self.repo, "add", "-A" }
  proc.run { "git", "-C", self.repo, "-c", "user.name=Ada", "-c", "user.email=a@x", "commit", "-q", "-m", "change " .. path }
  proc.run { "git", "-C", self.repo, "push", "-q", "-f", "origin", branch }
  proc.run { "git", "-C", self.repo, "checkout", "-q", "main" }
end

-- the preview of PR n through Caddy: its /health (status, decoded JSON or nil)
function M:preview_health(n)
  local url = "http://pr-" .. n .. "." .. self.env.PREVIEW_DOMAIN .. "/health"
  local r = require("drun.http").get(url, { check = false, timeout = 2 })
  local ok, body = pcall(r.json, r)
  return r.status, ok and body or nil
end

-- fleet(n) -> a fixture of n servers web1..webN, each a machine of its
-- own: its sandbox directory (the containers' state), its checkout running
-- the previous commit, its app port and its real sshd. The app is asked
-- directly on each server's port (no proxy). f:run_fleet(batch, ...) runs
-- compose-restart over all of them: the shipped config with `servers`
-- and `batch` set, as a repository's own config would.
function M.fleet(n)
  local f = flowfix.new(M, "compose")
  f.servers, f.env.GITHUB_ACTOR, f.env.GITHUB_SHA = {}, false, false
  local user = proc.output { "id", "-un" }
  -- one run of n ports: picked one by one, two servers could draw the same
  -- port and one server's health check would see the other's app
  local first = tonumber(proc.output { flowfix.ROOT .. "/tests/sandbox/free-port", tostring(n) })
  for i = 1, n do
    local host, dir = "web" .. i, t.tmpdir()
    t.stop_at_end(dir)
    local server = dir .. "/srv/app"
    proc.run { "git", "clone", "-q", f.origin, server }
    proc.run { "git", "-C", server, "reset", "-q", "--hard", "HEAD~1" }
    local port = tostring(first + i - 1)
    local sshd = proc.run { flowfix.ROOT .. "/tests/sandbox/sshd", dir, host, "APP_PORT=" .. port }
    local srv = { host = host, user = user, dir = server, ssh_config = sshd.stdout:match("export SSH_CONFIG='([^']+)'"),
                  health_url = "http://127.0.0.1:" .. port .. "/health" }
    f.servers[i] = srv
    local up = proc.run { "ssh", "-F", srv.ssh_config, host, "--", "cd " .. server .. " && docker compose up -d --build --wait",
                          check = false, timeout = 60 }
    assert(up.code == 0, host .. ": the old app did not start: " .. up.stderr)
  end
  f.env.APP_HEALTH_INTERVAL = "0.1"
  f.fleet_recipe = t.write(f.dir .. "/fleet/compose-fleet.lua", table.concat({
    "package.path = " .. string.format("%q", flowfix.ROOT .. "/recipes/?.lua;") .. " .. package.path",
    'local c = require "compose-config"',
    "c.servers = require('drun.json').decode(" .. string.format("%q", require("drun.json").encode(f.servers)) .. ")",
    'c.batch = tonumber(os.getenv("APP_BATCH") or "") or 1',
    'return require("drun.flows.compose").restart(c)',
  }, "\n") .. "\n")
  return f
end

function M:run_fleet(batch, ...)
  self.env.APP_BATCH = tostring(batch)
  local argv = { t.DRUN, self.fleet_recipe, "--ledger", self.ledger, ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo, self.env, false, self.run_timeout
  return proc.run(argv)
end

function M:server_commit(i) return proc.output { "git", "-C", self.servers[i].dir, "rev-parse", "HEAD" } end
function M:version(i)
  local r = require("drun.http").get(self.servers[i].health_url, { check = false, timeout = 2 })
  return r.status == 200 and r:json().version or r.status
end

function M:on_server(script)
  return proc.run { "ssh", "-F", self.env.APP_SSH_CONFIG, "web1", "--", "cd " .. self.server .. " && " .. script,
                    env = self.env, check = false, timeout = 60 }
end

function M:health() return require("drun.http").get(self.env.APP_HEALTH_URL, { check = false, timeout = 2 }) end
function M:server_head() return proc.output { "git", "-C", self.server, "rev-parse", "HEAD" } end

-- a new commit on origin (through the local repository), e.g. a broken one
function M:push_commit(path, text, message)
  t.write(self.repo .. "/" .. path, text)
  proc.run { "git", "-C", self.repo, "add", "-A" }
  proc.run { "git", "-C", self.repo, "-c", "user.name=Ada", "-c", "user.email=a@x", "commit", "-q", "-m", message }
  proc.run { "git", "-C", self.repo, "push", "-q", "origin", "main" }
end

return M
