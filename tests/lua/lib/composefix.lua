-- The compose flow under test: the fixture app's repository here, its
-- checkout on server web1 in a sandbox running the previous commit.
local t = require "t"
local proc = require "drun.proc"

local flowfix = require "flowfix"

local M = flowfix.class(120)

function M.setup()
  local f = flowfix.new(M, "compose")
  local env, server = f.env, f.sandbox .. "/hosts/web1/srv/app"
  f.server = server
  proc.run { "git", "clone", "-q", f.origin, server }
  proc.run { "git", "-C", server, "reset", "-q", "--hard", "HEAD~1" } -- the server runs the previous commit
  env.APP_PORT = proc.output { "python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" }
  env.APP_HOST, env.APP_DIR, env.APP_HEALTH_INTERVAL = "web1", "srv/app", "0.1"
  env.APP_HEALTH_URL = "http://127.0.0.1:" .. env.APP_PORT .. "/health"
  env.GITHUB_ACTOR, env.GITHUB_SHA = false, false
  assert(f:on_server("docker compose up -d --build --wait").code == 0, "the old app did not start")
  return f
end

function M:on_server(script)
  return proc.run { "ssh", "web1", "--", "cd srv/app && " .. script, env = self.env, check = false, timeout = 60 }
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
