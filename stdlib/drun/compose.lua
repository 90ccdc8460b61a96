-- drun.compose: docker compose on this machine or on a server over ssh
-- (FLOWS.md §3).
--
--   local server = { host = "web1", user = "deploy", port = 22, dir = "/srv/app",
--                    ssh_config = "deploy/ssh_config" }   -- no host: local; ssh_config: ssh -F
--   -- a compose target may add project (-p), file (-f) and env: variables
--   -- compose interpolates the file with ({APP_PORT = "8101"}: `env APP_PORT=8101 docker compose ...`)
--   compose.up(server, { build = true, wait = true, wait_timeout = 60 })
--   compose.exec(server, { service = "app", argv = { "alembic", "upgrade", "head" } })
--   compose.ps(server, { all = true })  -- {Name, Service, State, Health, ExitCode, Publishers}, ...
--   compose.services(server)  -- the project's service names (docker compose config --services)
--   compose.unhealthy(server) -> {problems}, {notes}: every service running, and healthy where it has a healthcheck
--   compose.logs(server, { service = "app", tail = 50 })
--   compose.sh(server, { "git", "pull", "--ff-only", "origin", "main" })  -- any command in dir
--   compose.down(server, { volumes = true })  -- down -v: the project's named volumes go too
--   compose.project_name_problem("App PR") -> why compose refuses it as -p, or nil
--
-- Over ssh every argument is quoted for the remote shell (ssh joins them
-- with spaces and the remote shell splits them again), so an argument with
-- spaces, quotes, $ or ; arrives as it was. Every call takes `run` (default
-- drun.proc.run; recipes pass ctx.run) and `check` (default true).
local proc = require "drun.proc"
local json = require "drun.json"

local M = {}

-- POSIX shell quoting: plain words as they are, anything else in '...'
function M.quote(s)
  s = tostring(s)
  if s ~= "" and s:match("^[%w%-%._/:=@,+%%]+$") then return s end
  return "'" .. s:gsub("'", [['\'']]) .. "'"
end

local function quote_all(argv)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = M.quote(a) end
  return table.concat(parts, " ")
end

-- One ssh connection per server for the whole run: OpenSSH's connection
-- sharing (ssh_config(5): ControlMaster, ControlPath), as Ansible's
-- ControlPersist and Kamal's SSHKit pool do, so a flow of twenty commands
-- on ten servers pays ten handshakes, not two hundred. The master is a
-- spawned child of drun (proc.spawn): it ends with the run, its socket in
-- a private directory. When it cannot start, commands connect on their own
-- (and show ssh's own error). DRUN_SSH_SHARE=0 turns it off.
local masters, sockdir, sweeper, nsock = {}, nil, nil, 0

local function share(base, dest)
  if os.getenv("DRUN_SSH_SHARE") == "0" then return nil end
  local key = table.concat(base, "\0") .. "\0" .. dest
  local m = masters[key]
  local task, time = require "drun.task", require "drun.time"
  if m == nil then
    local fs = require "drun.fs"
    if not sockdir then
      sockdir = fs.tmpdir("drun-ssh")
      sweeper = setmetatable({}, { __gc = function() fs.remove(sockdir, true) end }) -- collected at drun's exit
    end
    nsock = nsock + 1
    m = { pending = true, path = sockdir .. "/" .. nsock }
    masters[key] = m
    local spec = {}
    for i, a in ipairs(base) do spec[i] = a end
    for _, a in ipairs { "-o", "ControlMaster=yes", "-o", "ControlPath=" .. m.path, "-o", "ControlPersist=no", "-N", dest } do
      spec[#spec + 1] = a
    end
    spec.read_only, spec.lines, spec.grace = true, false, 1
    local ok, h = pcall(proc.spawn, spec)
    if ok then
      local stop = time.now() + 15
      task.wait(function() return fs.exists(m.path) or h:done() or time.now() > stop end, stop)
      if fs.exists(m.path) then m.h = h else h:close() end
    end
    m.pending = nil
    if not m.h then m.path = nil end
  elseif m.pending then -- another task is opening it
    task.wait(function() return not m.pending end)
  end
  return m.path
end

-- The argv that runs `argv` in the target's directory, here or over ssh.
function M.command(target, argv)
  target = target or {}
  if not target.host then
    local spec = {}
    for i, a in ipairs(argv) do spec[i] = a end
    spec.cwd = target.dir
    return spec
  end
  for _, k in ipairs { "host", "user" } do -- "-oProxyCommand=..." as a host would be an option to ssh
    if target[k] and (type(target[k]) ~= "string" or target[k]:match("^%-") or target[k]:match("[%s@]")) then
      error(string.format("compose: %s %q is not a %s name (it would be read as an ssh option)", k, tostring(target[k]), k), 2)
    end
  end
  if target.ssh_config ~= nil and (type(target.ssh_config) ~= "string" or target.ssh_config:match("^%-")) then
    error(string.format("compose: ssh_config %q is not a file name", tostring(target.ssh_config)), 2)
  end
  local spec = { "ssh", "-o", "BatchMode=yes" }
  if target.ssh_config then spec[#spec + 1] = "-F"; spec[#spec + 1] = target.ssh_config end
  if target.port then spec[#spec + 1] = "-p"; spec[#spec + 1] = tostring(target.port) end
  local dest = target.user and (target.user .. "@" .. target.host) or target.host
  local sock = share(spec, dest)
  if sock then
    for _, a in ipairs { "-o", "ControlMaster=no", "-o", "ControlPath=" .. sock } do spec[#spec + 1] = a end
  end
  spec[#spec + 1] = dest
  spec[#spec + 1] = "--"
  spec[#spec + 1] = (target.dir and ("cd " .. M.quote(target.dir) .. " && ") or "") .. quote_all(argv)
  return spec
end

-- sh(target, argv, opts) -> result: any command in the target's directory
function M.sh(target, argv, opts)
  opts = opts or {}
  local spec = M.command(target, argv)
  for k, v in pairs(opts) do if type(k) ~= "number" and k ~= "run" then spec[k] = v end end
  local ok, res, err = pcall(opts.run or proc.run, spec)
  if not ok then error(res, 2) end
  return res, err
end

-- compose-go (loader/loader.go NormalizeProjectName): lowercase letters,
-- digits, - and _, not starting with - or _; -p refuses anything else
function M.project_name_problem(name)
  if type(name) ~= "string" or not name:match("^[a-z0-9][a-z0-9_-]*$") then
    return string.format("%q is not a compose project name: lowercase letters, digits, - and _, starting with a letter or digit",
                         tostring(name))
  end
end

local function compose(target, args, opts)
  local argv = { "docker", "compose" }
  if target and target.env then -- the variables the compose file is interpolated with, the shell's (they win over .env)
    local names = {}
    for k in pairs(target.env) do names[#names + 1] = k end
    table.sort(names)
    for i, k in ipairs(names) do
      if not k:match("^[%a_][%w_]*$") then error(string.format("compose: %q is not a variable name", k), 3) end
      names[i] = k .. "=" .. tostring(target.env[k])
    end
    argv = { "env", table.unpack(names) }
    argv[#argv + 1] = "docker"
    argv[#argv + 1] = "compose"
  end
  if target and target.file then argv[#argv + 1] = "-f"; argv[#argv + 1] = target.file end
  if target and target.project then argv[#argv + 1] = "-p"; argv[#argv + 1] = target.project end
  for _, a in ipairs(args) do argv[#argv + 1] = a end
  return M.sh(target, argv, opts)
end

-- up(target, {build, wait, wait_timeout, remove_orphans, services, run})
function M.up(target, o)
  o = o or {}
  local args = { "up", "-d" }
  if o.build then args[#args + 1] = "--build" end
  if o.remove_orphans then args[#args + 1] = "--remove-orphans" end -- containers of services the file no longer has
  if o.wait then
    args[#args + 1] = "--wait"
    if o.wait_timeout then args[#args + 1] = "--wait-timeout"; args[#args + 1] = tostring(o.wait_timeout) end
  end
  for _, s in ipairs(o.services or {}) do args[#args + 1] = s end
  return compose(target, args, { run = o.run, check = o.check, timeout = o.timeout })
end

-- ps(target, {all, run}) -> the services' containers. Without all, compose
-- lists running containers only (docker/compose cmd/compose/ps.go): a
-- service that crashed at start is simply absent.
function M.ps(target, o)
  o = o or {}
  local args = { "ps", "--format", "json" }
  if o.all then table.insert(args, 2, "--all") end
  local res = compose(target, args, { run = o.run, read_only = true })
  local out = res.stdout:gsub("^%s+", "")
  if out:sub(1, 1) == "[" then return json.decode(out) end -- older compose: one array
  local list = json.array()
  for line in out:gmatch("[^\n]+") do list[#list + 1] = json.decode(line) end
  return list
end

-- services(target, {run}) -> the service names of the project
function M.services(target, o)
  local res = compose(target, { "config", "--services" }, { run = o and o.run, read_only = true })
  local list = {}
  for name in res.stdout:gmatch("[^\n]+") do list[#list + 1] = name end
  return list
end

-- unhealthy(target, {services, run}) -> problems, waiting, notes: each
-- service of the project (or each of `services`, which must be the
-- project's) must have a running container, healthy when it has a healthcheck. problems:
-- "worker: exited (code 3)"; waiting: services whose healthcheck is still
-- "starting"; notes: services without a healthcheck (running is all that
-- can be known of them).
function M.unhealthy(target, o)
  local by = {}
  for _, c in ipairs(M.ps(target, { all = true, run = o and o.run })) do
    by[c.Service] = by[c.Service] or {}
    table.insert(by[c.Service], c)
  end
  local problems, waiting, notes = {}, {}, {}
  local all = M.services(target, o)
  local checked = all
  if o and o.services then -- only these: a one-off job that exits is not a failure
    checked = {}
    local known = {}
    for _, svc in ipairs(all) do known[svc] = true end
    for _, svc in ipairs(o.services) do
      if known[svc] then checked[#checked + 1] = svc
      else problems[#problems + 1] = string.format("%s: not a service of the project (%s)", svc, table.concat(all, ", ")) end
    end
  end
  for _, svc in ipairs(checked) do
    local list = by[svc]
    if not list then problems[#problems + 1] = svc .. ": no container (never started)" end
    for _, c in ipairs(list or {}) do
      if c.State ~= "running" then
        problems[#problems + 1] = string.format("%s: %s (exit code %s)", svc, tostring(c.State), tostring(c.ExitCode))
      elseif c.Health == "unhealthy" then
        problems[#problems + 1] = svc .. ": unhealthy (its healthcheck fails)"
      elseif c.Health == "starting" then
        waiting[#waiting + 1] = svc
      elseif c.Health == "" or c.Health == nil then
        notes[#notes + 1] = svc .. ": running, no healthcheck"
      end
    end
  end
  return problems, waiting, notes
end

-- exec(target, {service, argv, tty = false, run, check})
function M.exec(target, o)
  local args = { "exec" }
  if not o.tty then args[#args + 1] = "-T" end
  args[#args + 1] = o.service
  for _, a in ipairs(o.argv) do args[#args + 1] = a end
  return compose(target, args, { run = o.run, check = o.check, timeout = o.timeout })
end

-- logs(target, {service, tail = 50, run}) -> the text
function M.logs(target, o)
  o = o or {}
  local args = { "logs", "--tail", tostring(o.tail or 50) }
  if o.service then args[#args + 1] = o.service end
  return compose(target, args, { run = o.run, read_only = true, check = false }).stdout
end

-- down(target, {volumes, run, check}): containers (and with volumes, -v,
-- the project's named volumes) removed
function M.down(target, o)
  o = o or {}
  return compose(target, o.volumes and { "down", "-v" } or { "down" }, { run = o.run, check = o.check })
end

return M
