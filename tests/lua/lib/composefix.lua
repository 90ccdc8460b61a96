-- The compose flow under test: the fixture app's repository here, its
-- checkout on server web1 in a sandbox running the previous commit.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"

local M = {}
local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

function M.setup()
  local d = t.tmpdir()
  local out = proc.output { ROOT .. "/tests/sandbox/fixture", "compose", d }
  local repo, origin = out:match("^(%S+)\n(%S+)$")
  local env, sdir = t.sandbox()
  local server = sdir .. "/hosts/web1/srv/app"
  proc.run { "git", "clone", "-q", origin, server }
  proc.run { "git", "-C", server, "reset", "-q", "--hard", "HEAD~1" } -- the server runs the previous commit
  env.APP_PORT = proc.output { "python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" }
  env.APP_HOST, env.APP_DIR, env.APP_HEALTH_INTERVAL = "web1", "srv/app", "0.1"
  env.APP_HEALTH_URL = "http://127.0.0.1:" .. env.APP_PORT .. "/health"
  env.GITHUB_ACTOR, env.GITHUB_SHA = false, false
  local f = setmetatable({ dir = d, repo = repo, origin = origin, env = env, sandbox = sdir, server = server,
                           ledger = d .. "/ledger.db" }, { __index = M })
  assert(f:on_server("docker compose up -d --build --wait").code == 0, "the old app did not start")
  return f
end

function M:run(name, ...)
  local argv = { t.DRUN, ROOT .. "/recipes/" .. name .. ".lua", "--ledger", self.ledger, ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo, self.env, false, 120
  return proc.run(argv)
end

function M:on_server(script)
  return proc.run { "ssh", "web1", "--", "cd srv/app && " .. script, env = self.env, check = false, timeout = 60 }
end

function M:health() return require("drun.http").get(self.env.APP_HEALTH_URL, { check = false, timeout = 2 }) end
function M:fault(...) proc.run { ROOT .. "/tests/sandbox/fault", self.sandbox, ... } end
function M:latest() return require("drun.ledger").open(self.ledger):latest {} end
function M:server_head() return proc.output { "git", "-C", self.server, "rev-parse", "HEAD" } end

-- a new commit on origin (through the local repository), e.g. a broken one
function M:push_commit(path, text, message)
  t.write(self.repo .. "/" .. path, text)
  proc.run { "git", "-C", self.repo, "add", "-A" }
  proc.run { "git", "-C", self.repo, "-c", "user.name=Ada", "-c", "user.email=a@x", "commit", "-q", "-m", message }
  proc.run { "git", "-C", self.repo, "push", "-q", "origin", "main" }
end

return M
