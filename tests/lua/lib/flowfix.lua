-- What the flow fixtures (cmsfix, composefix, flyfix) share: a repository
-- from tests/sandbox/fixture with its origin, a sandbox, a ledger file;
-- running a shipped recipe there, faults, the ledger's latest record.
local t = require "t"
local proc = require "drun.proc"

local M = {}
M.ROOT = os.getenv("DRUN_ROOT") or require("drun.fs").cwd()

-- class(run_timeout) -> a fixture class whose methods fall back to these
function M.class(run_timeout) return setmetatable({ run_timeout = run_timeout }, { __index = M }) end

-- new(class, kind, sandbox_git_dir?) -> {dir, repo, origin, env, sandbox, ledger}
-- (a sandbox_git_dir of true means: the fixture's origin)
function M.new(class, kind, with_origin)
  local d = t.tmpdir()
  local repo, origin = proc.output { M.ROOT .. "/tests/sandbox/fixture", kind, d }:match("^(%S+)\n(%S+)$")
  local env, sdir = t.sandbox(with_origin and origin or nil)
  return setmetatable({ dir = d, repo = repo, origin = origin, env = env, sandbox = sdir, ledger = d .. "/ledger.db" },
                      { __index = class })
end

-- run("cms-prod", "version_bump=minor", "--yes") -> result
function M:run(name, ...)
  local argv = { t.DRUN, M.ROOT .. "/recipes/" .. name .. ".lua", "--ledger", self.ledger, ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo, self.env, false, self.run_timeout
  return proc.run(argv)
end

-- adapted(config, call, changes, ...) -> result: a repository's own recipe
-- in place of a shipped one: the shipped config (require "<config>") with
-- `changes` (Lua statements on c, as that repository's config would make),
-- given to `call` ("require('drun.flows.fly').promote"), run with the args
function M:adapted(config, call, changes, ...)
  local lines = { "package.path = " .. string.format("%q", M.ROOT .. "/recipes/?.lua;") .. " .. package.path",
                  "local c = {}", string.format("for k, v in pairs(require %q) do c[k] = v end", config) }
  for _, line in ipairs(changes) do lines[#lines + 1] = line end
  lines[#lines + 1] = "return " .. call .. "(c)"
  local path = t.write(self.dir .. "/adapted/" .. (call:gsub("%W+", "-")) .. ".lua", table.concat(lines, "\n") .. "\n")
  local argv = { t.DRUN, path, "--ledger", self.ledger, ... }
  argv.cwd, argv.env, argv.check, argv.timeout = self.repo, self.env, false, self.run_timeout
  return proc.run(argv)
end

-- how many stand-in calls ("tool arg arg ...", from calls.jsonl) contain `cmd`
function M:count_calls(cmd)
  local n = 0
  for line in (require("drun.fs").try.read(self.sandbox .. "/calls.jsonl") or ""):gmatch("[^\n]+") do
    local c = require("drun.json").decode(line)
    if (c.tool .. " " .. table.concat(c.argv, " ")):find(cmd, 1, true) then n = n + 1 end
  end
  return n
end

-- open_pr(head) -> the number of a new PR of branch head (default main)
-- in the sandbox's GitHub (POST /repos/{o}/{r}/pulls)
function M:open_pr(head)
  local r = require("drun.http").request {
    method = "POST", url = self.env.GITHUB_API_URL .. "/repos/acme/app/pulls",
    headers = { Authorization = "Bearer " .. self.env.GITHUB_TOKEN },
    json = { title = "a change", head = head or "main", base = "main" } }
  assert(r.status == 201, r.body)
  return r:json().number
end

function M:close_pr(n)
  local r = require("drun.http").request {
    method = "PATCH", url = self.env.GITHUB_API_URL .. "/repos/acme/app/pulls/" .. n,
    headers = { Authorization = "Bearer " .. self.env.GITHUB_TOKEN }, json = { state = "closed" } }
  assert(r.status == 200, r.body)
end

-- the sandbox's state file NAME.json, decoded
function M:state(name)
  return require("drun.json").decode(require("drun.fs").try.read(self.sandbox .. "/state/" .. name .. ".json") or "{}")
end

-- the comments on PR n
function M:comments(n)
  local out = {}
  for _, c in ipairs(self:state("github").comments or {}) do if c.issue == n then out[#out + 1] = c end end
  return out
end

function M:fault(...) proc.run { M.ROOT .. "/tests/sandbox/fault", self.sandbox, ... } end
function M:latest(filter) return require("drun.ledger").open(self.ledger):latest(filter or {}) end

return M
