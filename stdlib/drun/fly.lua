-- drun.fly: flyctl for recipes (FLOWS.md §2). Credentials: FLY_API_TOKEN
-- through env.secret (a clear error when missing; masked everywhere).
--
--   fly.current_image("app-staging")   -> {digest, tag, ref, version, labels, machines} or nil, why
--   fly.machines("app-staging")        -> {{id, state, digest, labels, ...}, ...} every machine, any state
--   fly.deploy { app = "app-production", config = "fly.production.toml",
--                image = "registry.fly.io/app@sha256:...", strategy = "rolling", wait_timeout = "5m" }
--   fly.backup { cluster = "<mpg cluster id>", type = "full", timeout = 600, interval = 10 } -> backup id
--   fly.auth_docker {}                 -- docker may push to registry.fly.io/<app>
--   fly.app_exists("app-pr-12")        -> true | false
--   fly.create_app { app = "app-pr-12", org = "acme" }    fly.destroy_app { app = "app-pr-12" }
--   fly.stage_secrets { app = "app-pr-12", secrets = { SESSION_KEY = "..." } } -- staged, values on stdin
--   fly.unset_secrets { app = "app-pr-12", names = { "DATABASE_URL" } }        -- staged
--   fly.clusters { org = "acme" }      -> {{id, name, status, attached_apps}, ...}
--   fly.create_cluster { name = "app-pr-12-db", org = "acme", region = "ams", plan = "basic" } -> cluster id
--   fly.attach_cluster { cluster = id, app = "app-pr-12" }  -- the app's DATABASE_URL secret
--   fly.destroy_cluster { cluster = id }
--
-- The shapes are flyctl's (superfly/flyctl internal/command/…): `image show
-- --json` prints every value as a string, Labels JSON-encoded (image/show.go);
-- `status --json` lists machines in every state but destroyed, image_ref.labels
-- a map (status/machines.go, fly-go machine_types.go); `mpg backup create`
-- prints no id and `mpg backup list --json` prints text, not JSON, when there
-- is no backup (mpg/v2/run_backup.go).
--
-- Every call takes `run` (default drun.proc.run; recipes pass ctx.run).
local proc = require "drun.proc"
local env = require "drun.env"
local json = require "drun.json"
local time = require "drun.time"
local log = require "drun.log"

local M = {}

local function fly(args, o)
  env.secret("FLY_API_TOKEN")
  local spec = { "fly" }
  for _, a in ipairs(args) do spec[#spec + 1] = a end
  spec.cwd, spec.read_only, spec.check, spec.stdin = o.dir, o.read_only, false, o.stdin
  local res, err = (o.run or proc.run)(spec)
  if not res then error("fly: " .. err, 0) end
  if not res.ok and not res.dry_run then
    local why = (res.stderr:match("Error: ([^\n]+)") or proc.failure_message(res))
    error("fly: " .. table.concat(args, " ") .. ": " .. why, 0)
  end
  return res
end

local function decode(what, text)
  local ok, v = pcall(json.decode, text)
  if not ok then error("fly: " .. what .. " printed no JSON: " .. tostring(v):sub(1, 200), 0) end
  return v
end

-- Labels as flyctl gives them: a map (status), a JSON-encoded map or "" (image show).
function M.labels(v)
  if v == nil or v == json.null or v == "" then return {} end
  if type(v) == "string" then
    local ok, t = pcall(json.decode, v)
    if not ok or type(t) ~= "table" then error("fly: image labels are not a JSON object: " .. v:sub(1, 80), 0) end
    v = t
  end
  if type(v) ~= "table" then error("fly: image labels are a " .. type(v) .. ", not an object", 0) end
  for k, val in pairs(v) do
    if type(k) ~= "string" or type(val) ~= "string" then error("fly: image labels must map strings to strings", 0) end
  end
  return v
end

function M.status(app, o)
  local st = decode("status -a " .. app, fly({ "status", "-a", app, "--json" }, { run = o and o.run, read_only = true }).stdout)
  if type(st) ~= "table" or (st.Machines ~= nil and st.Machines ~= json.null and type(st.Machines) ~= "table") then
    error("fly: status -a " .. app .. ": not the shape of flyctl's status", 0)
  end
  return st
end

function M.releases(app, o)
  return decode("releases -a " .. app, fly({ "releases", "-a", app, "--json" }, { run = o and o.run, read_only = true }).stdout)
end

-- image show: {MachineID = {version, labels, tag, registry, repository, digest}}
function M.images(app, o)
  local out = {}
  local list = decode("image show -a " .. app, fly({ "image", "show", "-a", app, "--json" }, { run = o and o.run, read_only = true }).stdout)
  if type(list) ~= "table" then error("fly: image show -a " .. app .. ": not a list", 0) end
  if list.MachineID then list = { list } end -- image show MACHINE prints one object
  for _, i in ipairs(list) do
    out[i.MachineID] = { digest = i.Digest, tag = i.Tag, registry = i.Registry, repository = i.Repository,
                         version = i.Version ~= "N/A" and i.Version ~= "" and i.Version or nil, labels = M.labels(i.Labels) }
  end
  return out
end

-- Every machine of the app, whatever its state (auto-stopped ones included):
-- {id, state, region, digest, labels, registry, repository, tag}
function M.machines(app, o)
  local out = {}
  for _, m in ipairs(M.status(app, o).Machines or {}) do
    local ref = type(m.image_ref) == "table" and m.image_ref or {}
    out[#out + 1] = { id = m.id, state = m.state, region = m.region, digest = ref.digest, tag = ref.tag,
                      registry = ref.registry, repository = ref.repository, labels = M.labels(ref.labels) }
  end
  return out
end

-- The image the app runs, every machine checked: nil and why when it runs
-- none (no machine, or none with an image). Raises when a deploy is under way
-- (a machine "replacing") or the machines run different images.
function M.current_image(app, o)
  local machines, by, digests, busy = M.machines(app, o), {}, {}, {}
  for _, m in ipairs(machines) do
    if m.state == "replacing" then busy[#busy + 1] = m.id end
    if m.digest and m.digest ~= "" then
      if not by[m.digest] then by[m.digest] = {}; digests[#digests + 1] = m.digest end
      table.insert(by[m.digest], m.id)
    end
  end
  if #busy > 0 then
    error(string.format("fly: a deploy of %s is under way (machine %s replacing): wait for it to finish, then retry",
                        app, table.concat(busy, ", ")), 0)
  end
  if #digests == 0 then return nil, #machines == 0 and "has no machine" or "has no machine with an image" end
  if #digests > 1 then
    local parts = {}
    for _, d in ipairs(digests) do parts[#parts + 1] = d:sub(1, 19) .. " on " .. table.concat(by[d], ", ") end
    error("fly: the machines of " .. app .. " run different images: " .. table.concat(parts, "; "), 0)
  end
  local d, first = digests[1], nil
  for _, m in ipairs(machines) do if m.digest == d then first = first or m end end
  local shown = M.images(app, o)[first.id] or {}
  local labels = next(first.labels) and first.labels or shown.labels or {}
  local states = {}
  for _, m in ipairs(machines) do states[#states + 1] = m.id .. " " .. tostring(m.state) end
  return { digest = d, tag = first.tag, version = shown.version, labels = labels, registry = first.registry,
           repository = first.repository, machines = machines, states = table.concat(states, ", "),
           ref = string.format("%s/%s@%s", first.registry or "registry.fly.io", first.repository or app, d) }
end

-- deploy{app, config, image, strategy, wait_timeout, dir, run}
function M.deploy(o)
  local args = { "deploy", "-a", o.app, "-c", o.config, "--image", o.image }
  if o.strategy then args[#args + 1] = "--strategy"; args[#args + 1] = o.strategy end
  if o.wait_timeout then args[#args + 1] = "--wait-timeout"; args[#args + 1] = o.wait_timeout end
  return fly(args, { run = o.run, dir = o.dir })
end

-- The cluster's backups: [{id, status, type, start, stop}]; none when flyctl
-- says "No backups found" (it prints that text even under --json).
function M.backups(cluster, o)
  local out = fly({ "mpg", "backup", "list", cluster, "--json" }, { run = o and o.run, read_only = true }).stdout
  if out:match("^%s*No backups found") then return {} end
  local list = decode("mpg backup list " .. cluster, out)
  if type(list) ~= "table" then error("fly: mpg backup list " .. cluster .. ": not a list", 0) end
  return list
end

local FAILED = { failed = true, error = true, cancelled = true, canceled = true }

-- backup{cluster, type = "full", timeout = 600, interval = 10, run} -> the id.
-- `fly mpg backup create` only queues a backup, so the id is the backup that
-- was not in the list before; it must reach "completed" within `timeout`.
-- Raises (the promotion stops before deploying) on failure or timeout.
function M.backup(o)
  local before = {}
  -- the list is read quietly (proc.run, not the step's run): polling would fill the report with JSON
  for _, b in ipairs(M.backups(o.cluster)) do before[b.id] = true end
  local res = fly({ "mpg", "backup", "create", o.cluster, "--type", o.type or "full" }, { run = o.run })
  if res.dry_run then return nil end
  local timeout, interval = o.timeout or 600, o.interval or 10
  local deadline, id, last = time.now() + timeout, nil, nil
  while true do
    local newest
    for _, b in ipairs(M.backups(o.cluster)) do
      if b.id == id then newest = b; break end
      if not before[b.id] and (not newest or tostring(b.start) > tostring(newest.start)) then newest = b end
    end
    if newest then
      id = newest.id
      if newest.status == "completed" then return id end
      if FAILED[newest.status] then error(string.format("fly: backup %s of cluster %s %s", id, o.cluster, newest.status), 0) end
      if newest.status ~= last then log.info("backup %s of %s: %s", id, o.cluster, tostring(newest.status)) end
      last = newest.status
    end
    if time.now() >= deadline then
      if id then
        error(string.format("fly: backup %s of cluster %s is still %s after %gs (see fly mpg backup list %s)",
                            id, o.cluster, tostring(last), timeout, o.cluster), 0)
      end
      error(string.format("fly: no new backup of cluster %s showed up in fly mpg backup list within %gs", o.cluster, timeout), 0)
    end
    time.sleep(interval)
  end
end

-- `fly auth docker`: registry.fly.io's credentials into docker's config
-- (auth/docker.go runs `docker login --password-stdin`), so image.push can
-- push to registry.fly.io/<app>.
function M.auth_docker(o)
  return fly({ "auth", "docker" }, { run = o and o.run })
end

-- App names (launch/plan_builder.go validateAppName): lowercase letters,
-- digits and dashes; at most 63, as the app is served at <name>.fly.dev and
-- a DNS label holds 63 (RFC 1035). nil, or why not.
function M.app_name_problem(name)
  if type(name) ~= "string" or name == "" then return "an app name is needed" end
  if name:find("[^a-z0-9%-]") then return "app name must consist of only lowercase letters, numbers, and dashes" end
  if #name > 63 then
    return string.format("app name %s is %d characters: at most 63 (it is the DNS label of %s.fly.dev)", name, #name, name)
  end
end

-- Whether the app exists: `fly status` answers 'Could not find App' when not.
function M.app_exists(app, o)
  local ok, err = pcall(M.status, app, o)
  if ok then return true end
  if tostring(err):find("Could not find App", 1, true) then return false end
  error(err, 0)
end

-- create_app{app, org, run}: apps/create.go, non-interactive (-o is required then)
function M.create_app(o)
  local why = M.app_name_problem(o.app)
  if why then error("fly: " .. why, 2) end
  if not o.org or o.org == "" then error("fly: create_app needs org (the Fly organization's slug)", 2) end
  return fly({ "apps", "create", o.app, "--org", o.org }, { run = o.run })
end

-- destroy_app{app, run} -> true, or false when there was no such app
function M.destroy_app(o)
  if not M.app_exists(o.app) then return false end
  fly({ "apps", "destroy", o.app, "--yes" }, { run = o.run })
  return true
end

-- stage_secrets{app, secrets = {NAME = value}, run}: `fly secrets set --stage
-- -a APP NAME=-` once a secret, the value on stdin (secrets/set.go reads a
-- `-` value from piped stdin), so no value is ever in an argv that ps shows.
-- Staged: the next deploy gives them to the machines (secrets.go).
function M.stage_secrets(o)
  local names = {}
  for k in pairs(o.secrets) do names[#names + 1] = k end
  table.sort(names)
  for _, k in ipairs(names) do
    if not k:match("^[%a_][%w_]*$") then error("fly: not a secret name: " .. k, 2) end
    local v = o.secrets[k]
    require("drun.core.out").add_secret(v)
    fly({ "secrets", "set", "--stage", "-a", o.app, k .. "=-" }, { run = o.run, stdin = v })
  end
  return names
end

-- unset_secrets{app, names, run}: staged too
function M.unset_secrets(o)
  local args = { "secrets", "unset", "--stage", "-a", o.app }
  for _, n in ipairs(o.names) do args[#args + 1] = n end
  return fly(args, { run = o.run })
end

-- The organization's Managed Postgres clusters (mpg/list.go): [{id, name,
-- status, region, plan, attached_apps = {{name, id}}}]; none when flyctl says
-- "No managed postgres clusters found" (text, even under --json).
function M.clusters(o)
  local out = fly({ "mpg", "list", "--org", o.org, "--json" }, { run = o.run, read_only = true }).stdout
  if out:match("^%s*No managed postgres clusters found") then return {} end
  local list = decode("mpg list --org " .. o.org, out)
  if type(list) ~= "table" then error("fly: mpg list --org " .. o.org .. ": not a list", 0) end
  return list
end

-- mpg create and mpg attach print the connection string with its password
-- (mpg/v2/run_create.go, run_attach.go): they run captured, the password is
-- registered as a secret before a line is shown, and only the redacted
-- output reaches the log.
local function quiet(args, o)
  local res = fly(args, { run = proc.run, dir = o.dir })
  local redact = require("drun.core.out")
  for uri in (res.stdout or ""):gmatch("%a[%w+.-]*://[^%s]+") do
    local pass = uri:match("^%a[%w+.-]*://[^/@:]*:([^/@]*)@")
    if pass and pass ~= "" then redact.add_secret(pass) end -- the URL itself stays readable, its password masked
  end
  for line in (res.stdout or ""):gmatch("[^\n]+") do
    if line:find("%S") then log.info("%s", redact.redact(line)) end
  end
  return res
end

-- create_cluster{name, org, region, plan, run} -> the cluster id (mpg create
-- prints "  ID: <id>" once it is ready)
function M.create_cluster(o)
  local res = quiet({ "mpg", "create", "--name", o.name, "--org", o.org, "--region", o.region, "--plan", o.plan }, o)
  if res.dry_run then return nil end
  local id = res.stdout:match("\n%s*ID: (%S+)")
  if not id then error("fly: mpg create " .. o.name .. " printed no cluster ID", 0) end
  return id
end

-- attach_cluster{cluster, app, variable = "DATABASE_URL", run}
function M.attach_cluster(o)
  local args = { "mpg", "attach", o.cluster, "-a", o.app }
  if o.variable then args[#args + 1] = "--variable-name"; args[#args + 1] = o.variable end
  return quiet(args, o)
end

-- destroy_cluster{cluster, run}
function M.destroy_cluster(o)
  return fly({ "mpg", "destroy", o.cluster, "--yes" }, { run = o.run })
end

return M
