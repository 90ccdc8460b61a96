-- The assertions and helpers Lua tests use:
--   local t = require "t"
--   t.test("json: integers stay integers", function() t.eq(json.decode("1"), 1) end)
local proc = require "drun.proc"
local fs = require "drun.fs"

local t = { tests = {} }

function t.test(name, fn) t.tests[#t.tests + 1] = { name = name, fn = fn } end

local function show(v)
  if type(v) == "string" then return string.format("%q", #v > 300 and v:sub(1, 300) .. "..." or v) end
  return tostring(v)
end

function t.eq(got, want, what)
  if got ~= want then error(string.format("%sgot %s, want %s", what and what .. ": " or "", show(got), show(want)), 2) end
end

-- same(got, want): equal as JSON (keys sorted), for tables and decoded documents
function t.same(got, want, what)
  local json = require "drun.json"
  local g, w = json.encode(got), json.encode(want)
  if g ~= w then error(string.format("%sgot %s, want %s", what and what .. ": " or "", g, w), 2) end
end

function t.ok(v, what)
  if not v then error((what or "expected a true value") .. " (got " .. show(v) .. ")", 2) end
  return v
end

function t.match(s, pattern, what)
  if type(s) ~= "string" or not s:find(pattern) then
    error(string.format("%s%s does not match %q", what and what .. ": " or "", show(s), pattern), 2)
  end
end

function t.no_match(s, pattern, what)
  if type(s) == "string" and s:find(pattern) then
    error(string.format("%s%s matches %q", what and what .. ": " or "", show(s), pattern), 2)
  end
end

-- raises(fn, pattern): fn must raise; returns the message.
function t.raises(fn, pattern, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error matching " .. string.format("%q", pattern), 2) end
  local msg = type(err) == "string" and err or tostring(err)
  if pattern and not msg:find(pattern) then
    error(string.format("error %s does not match %q", show(msg), pattern), 2)
  end
  return msg
end

-- The drun binary under test.
t.DRUN = fs.realpath(os.getenv("DRUN_BIN") or arg[-1])

-- drun(args, opts): runs the binary under test; returns the result (never raises).
function t.drun(args, opts)
  local spec = { t.DRUN }
  for _, a in ipairs(args) do spec[#spec + 1] = a end
  for k, v in pairs(opts or {}) do spec[k] = v end
  spec.check = false
  spec.timeout = spec.timeout or 60
  return proc.run(spec)
end

-- A temp dir removed when the test file ends.
local dirs, servers = {}, {}
function t.tmpdir()
  local d = fs.tmpdir("drun-test")
  dirs[#dirs + 1] = d
  return d
end
local sandboxes = {}

-- sandbox([git_dir]) -> env table, dir: a platform sandbox (tests/sandbox),
-- stopped when the test file ends. env is what `start` prints to export.
function t.sandbox(git_dir)
  local root = os.getenv("DRUN_ROOT") or fs.cwd()
  local dir = t.tmpdir() .. "/sandbox"
  local r = proc.run { root .. "/tests/sandbox/start", dir, git_dir }
  local env = {}
  for name, value in r.stdout:gmatch("export ([%w_]+)='([^']*)'") do env[name] = value end
  env.PATH = env.PATH or (root .. "/tests/sandbox/bin:" .. os.getenv("PATH"))
  for line in r.stdout:gmatch("[^\n]+") do
    if line:match("^export PATH=") then env.PATH = line:match("^export PATH='([^']*)'") .. ":" .. os.getenv("PATH") end
  end
  env.WRANGLER_SEND_METRICS = "false"
  sandboxes[#sandboxes + 1] = dir
  return env, dir
end

-- stop_at_end(dir): tests/sandbox/stop DIR when the test file ends (the
-- processes a sandbox server of its own left there: sshd, containers)
function t.stop_at_end(dir) sandboxes[#sandboxes + 1] = dir end

-- postgres() -> env {PG_URL, PG_PASSWORD, PG_PORT}: one real PostgreSQL
-- server (tests/sandbox/postgres) for the test file, stopped when it ends.
local pg
function t.postgres()
  if pg then return pg end
  local root = os.getenv("DRUN_ROOT") or fs.cwd()
  local dir = t.tmpdir() .. "/pg"
  fs.mkdir(dir)
  sandboxes[#sandboxes + 1] = dir -- stop shuts it down and removes its data
  local r = proc.run { root .. "/tests/sandbox/postgres", dir }
  pg = { dir = dir }
  for name, value in r.stdout:gmatch("([%w_]+)='([^']*)'") do pg[name] = value end
  return pg
end

-- postgres_ctl("stop" | "start"): the test server stopped (its data kept) or
-- started again, as a database server that goes away and comes back
function t.postgres_ctl(action)
  local env = t.postgres()
  local data = fs.read(env.dir .. "/postgres.datadir"):gsub("%s+$", "")
  local bin = proc.output { "sh", "-c", "ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1" }
  local argv = { bin .. "/pg_ctl", "-D", data .. "/db", "-w", "-t", "60", "-l", data .. "/server.log", action }
  if action == "stop" then table.insert(argv, #argv, "-m"); table.insert(argv, #argv, "fast") end
  -- a session of its own, as tests/sandbox/postgres starts it (waited for: -w)
  if action == "start" then table.insert(argv, 1, "-w"); table.insert(argv, 1, "setsid") end
  if proc.output { "id", "-u" } == "0" then
    table.insert(argv, 1, "--")
    table.insert(argv, 1, "nobody")
    table.insert(argv, 1, "-u")
    table.insert(argv, 1, "runuser")
  end
  proc.run(argv)
  if action == "start" then fs.write(env.dir .. "/postgres.pid", fs.read(data .. "/db/postmaster.pid"):match("^%d+")) end
end

-- psql(sql) -> its output: sql run on the test server (unaligned, tuples only)
function t.psql(sql)
  local env = t.postgres()
  return proc.output { "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql, env.PG_URL,
                       env = { PGCONNECT_TIMEOUT = "10" } }
end

-- The ledger backends every ledger test runs on (one suite, parameterised).
t.BACKENDS = { "sqlite", "postgres", "d1" }

-- d1() -> env of a platform sandbox whose D1 API (tests/sandbox/lib/d1api.py)
-- this test file's D1 ledgers live in; its token and base URL are exported
-- here, so this process and every drun it starts reach it
local d1env
function t.d1()
  if d1env then return d1env end
  local env, dir = t.sandbox()
  d1env = env
  d1env.dir = dir
  local setenv = require("drun.env").set
  setenv("CLOUDFLARE_API_TOKEN", env.CLOUDFLARE_API_TOKEN)
  setenv("CLOUDFLARE_API_BASE_URL", env.CLOUDFLARE_API_BASE_URL)
  setenv("CLOUDFLARE_ACCOUNT_ID", env.CLOUDFLARE_ACCOUNT_ID)
  return d1env
end

-- ledger_address(backend) -> the address of a new, empty ledger, and where
-- its data is: a file in a new directory; a new schema of the test server
-- (search_path in the URL), and its name; a new D1 database of the sandbox,
-- and its sqlite file
local schemas = 0
function t.ledger_address(backend)
  if backend == "sqlite" then return t.tmpdir() .. "/.drun/ledger.db" end
  if backend == "d1" then
    local env = t.d1()
    schemas = schemas + 1
    local r = require("drun.http").post(env.CLOUDFLARE_API_BASE_URL .. "/accounts/" .. env.CLOUDFLARE_ACCOUNT_ID
      .. "/d1/database", { json = { name = "ledger-" .. schemas }, expect = 200,
                           headers = { Authorization = "Bearer " .. env.CLOUDFLARE_API_TOKEN } })
    local uuid = r:json().result.uuid
    return "d1://" .. env.CLOUDFLARE_ACCOUNT_ID .. "/" .. uuid, env.dir .. "/state/d1api/" .. uuid .. ".sqlite"
  end
  assert(backend == "postgres", backend)
  schemas = schemas + 1
  local name = "t" .. schemas
  t.psql("CREATE SCHEMA " .. name)
  return t.postgres().PG_URL .. "?options=-csearch_path%3D" .. name, name
end

-- alive(pid): the process runs and is not a zombie (nothing reaps orphans on
-- some test machines, and kill -0 succeeds on a zombie)
function t.alive(pid)
  local stat = fs.try.read("/proc/" .. tostring(pid) .. "/stat")
  return stat ~= nil and stat:match("^%d+ %b() (%a)") ~= "Z"
end

function t.cleanup()
  local root = os.getenv("DRUN_ROOT") or fs.cwd()
  for _, dir in ipairs(sandboxes) do proc.run { root .. "/tests/sandbox/stop", dir, check = false } end
  sandboxes, pg, d1env = {}, nil, nil
  for _, pid in ipairs(servers) do proc.run { "kill", tostring(pid), check = false } end
  for _, d in ipairs(dirs) do fs.remove(d, true) end
end

-- server(script, ...): starts tests/servers/<script> in the background on
-- 127.0.0.1 and returns its base URL ("http://127.0.0.1:PORT"); it is killed
-- when the test file ends. The server writes its port to the file it is given.
function t.server(script, ...)
  local d = t.tmpdir()
  local root = os.getenv("DRUN_ROOT") or fs.cwd()
  local argv = { "sh", "-c", 'd=$1; shift; python3 "$0" "$d/port" "$@" >"$d/log" 2>&1 & echo $!',
                 root .. "/tests/servers/" .. script, d, ... }
  local pid = tonumber(proc.run(argv).stdout)
  servers[#servers + 1] = pid
  local time = require "drun.time"
  for _ = 1, 200 do
    if fs.exists(d .. "/port") then return "http://127.0.0.1:" .. fs.read(d .. "/port"), pid end
    time.sleep(0.025)
  end
  error("test server " .. script .. " did not start: " .. (fs.try.read(d .. "/log") or ""))
end

-- The git CLI for fixtures: a fixed identity, no system config, and none of
-- a runner's GitHub variables (they change what drun links and stamps).
t.GIT_ENV = { GIT_AUTHOR_NAME = "Fixture", GIT_AUTHOR_EMAIL = "fixture@example.test",
              GIT_COMMITTER_NAME = "Fixture", GIT_COMMITTER_EMAIL = "fixture@example.test",
              GIT_CONFIG_NOSYSTEM = "1", GITHUB_REPOSITORY = false, GITHUB_SERVER_URL = false }

-- sh(dir, script) -> stdout: a shell script in dir with t.GIT_ENV
function t.sh(dir, script)
  return proc.run { "sh", "-c", script, cwd = dir, env = t.GIT_ENV }.stdout
end

-- ledger_serve(address, {cwd}) -> base URL, handle: `drun ledger serve` on a
-- free loopback port, answering; the handle stops it (and the test file's
-- end does)
function t.ledger_serve(address, opts)
  local root = os.getenv("DRUN_ROOT") or fs.cwd()
  local port = proc.output { root .. "/tests/sandbox/free-port" }
  local h = proc.spawn { t.DRUN, "ledger", "serve", "--ledger", address, "--listen", "127.0.0.1:" .. port,
                         cwd = opts and opts.cwd }
  local base = "http://127.0.0.1:" .. port
  local http, time = require "drun.http", require "drun.time"
  for _ = 1, 200 do
    if pcall(http.get, base .. "/api/deployments?limit=1", { timeout = 2 }) then return base, h end
    time.sleep(0.025)
  end
  h:close()
  error("drun ledger serve did not answer: " .. (h:wait().stderr or ""))
end

-- write a file, creating its directory
function t.write(path, text, mode)
  fs.mkdir(fs.dirname(path))
  fs.write(path, text, mode)
  return path
end

return t
