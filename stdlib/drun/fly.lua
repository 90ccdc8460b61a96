-- drun.fly: flyctl for recipes (FLOWS.md §2). Credentials: FLY_API_TOKEN
-- through env.secret (a clear error when missing; masked everywhere).
--
--   fly.current_image("app-staging")   -> {digest, tag, ref, version, labels} (every machine checked)
--   fly.deploy { app = "app-production", config = "fly.production.toml",
--                image = "registry.fly.io/app@sha256:...", strategy = "rolling", wait_timeout = "5m" }
--   fly.snapshot { cluster = "app-production-db", command = { "fly", "postgres", "backup", "create", "-a", "{cluster}" } }
--
-- Every call takes `run` (default drun.proc.run; recipes pass ctx.run).
local proc = require "drun.proc"
local env = require "drun.env"
local json = require "drun.json"

local M = {}

local function fly(args, o)
  env.secret("FLY_API_TOKEN")
  local spec = { "fly" }
  for _, a in ipairs(args) do spec[#spec + 1] = a end
  spec.cwd, spec.read_only, spec.check = o.dir, o.read_only, false
  local res, err = (o.run or proc.run)(spec)
  if not res then error("fly: " .. err, 3) end
  if not res.ok and not res.dry_run then
    local why = (res.stderr:match("Error: ([^\n]+)") or proc.failure_message(res))
    error("fly: " .. table.concat(args, " ") .. ": " .. why, 3)
  end
  return res
end

function M.status(app, o) return json.decode(fly({ "status", "-a", app, "--json" }, { run = o and o.run, read_only = true }).stdout) end
function M.releases(app, o) return json.decode(fly({ "releases", "-a", app, "--json" }, { run = o and o.run, read_only = true }).stdout) end

-- The image every started machine of `app` runs. Raises naming the machines
-- when they do not all run the same digest.
function M.current_image(app, o)
  local images = json.decode(fly({ "image", "show", "-a", app, "--json" }, { run = o and o.run, read_only = true }).stdout)
  local st = M.status(app, o)
  local digests, by = {}, {}
  for _, m in ipairs(st.Machines or {}) do
    if m.state == "started" and m.image_ref and m.image_ref.digest then
      by[m.image_ref.digest] = by[m.image_ref.digest] or {}
      table.insert(by[m.image_ref.digest], m.id)
      if #by[m.image_ref.digest] == 1 then digests[#digests + 1] = m.image_ref.digest end
    end
  end
  if #digests == 0 then error("fly: " .. app .. " has no started machine", 2) end
  if #digests > 1 then
    local parts = {}
    for _, d in ipairs(digests) do parts[#parts + 1] = d:sub(1, 19) .. " on " .. table.concat(by[d], ", ") end
    error("fly: the machines of " .. app .. " run different images: " .. table.concat(parts, "; "), 2)
  end
  local d = digests[1]
  for _, i in ipairs(images) do
    if i.Digest == d then
      return { digest = d, tag = i.Tag, version = i.Version, labels = i.Labels or {},
               ref = string.format("%s/%s@%s", i.Registry, i.Repository, d), repository = i.Repository, registry = i.Registry }
    end
  end
  return { digest = d, labels = {}, ref = d }
end

-- The digest each started machine runs: {machine id = digest}
function M.machine_digests(app, o)
  local out = {}
  for _, m in ipairs(M.status(app, o).Machines or {}) do
    if m.state == "started" then out[m.id] = m.image_ref and m.image_ref.digest end
  end
  return out
end

-- deploy{app, config, image, strategy, wait_timeout, dir, run}
function M.deploy(o)
  local args = { "deploy", "-a", o.app, "-c", o.config, "--image", o.image }
  if o.strategy then args[#args + 1] = "--strategy"; args[#args + 1] = o.strategy end
  if o.wait_timeout then args[#args + 1] = "--wait-timeout"; args[#args + 1] = o.wait_timeout end
  return fly(args, { run = o.run, dir = o.dir })
end

-- snapshot{cluster, command = {..., "{cluster}", ...}, run} -> backup id (the last word printed)
function M.snapshot(o)
  local spec = {}
  for i, a in ipairs(o.command or { "fly", "postgres", "backup", "create", "-a", "{cluster}" }) do
    spec[i] = (a:gsub("{cluster}", o.cluster))
  end
  spec.check = false
  local res, err = (o.run or proc.run)(spec)
  if not res then error("fly: snapshot: " .. err, 2) end
  if res.dry_run then return nil end
  if not res.ok then error("fly: snapshot of " .. o.cluster .. " failed: " .. proc.failure_message(res), 2) end
  return res.stdout:match("(%S+)%s*$")
end

return M
