-- drun.image: build a container image with docker and push it, for the
-- digest a flow then deploys by (FLOWS.md §2: one immutable digest).
--
--   local ref = image.build { dir = ".", tag = "registry.fly.io/app-development:deployment-3f2a...",
--                             labels = { commit = sha }, dockerfile = "Dockerfile" }
--   local digest = image.push { ref = ref }   -- "sha256:..."
--
-- The digest is the one the registry computed, read from docker push's last
-- line ("<tag>: digest: sha256:<hex> size: <n>", moby
-- distribution/push_v2.go), never recomputed here. Every call takes `run`
-- (default drun.proc.run; recipes pass ctx.run).
local proc = require "drun.proc"

local M = {}

local function docker(args, o)
  local spec = { "docker" }
  for _, a in ipairs(args) do spec[#spec + 1] = a end
  spec.cwd, spec.check, spec.stdin = o.dir, false, o.stdin
  local res, err = (o.run or proc.run)(spec)
  if not res then error("docker: " .. err, 0) end
  if not res.ok and not res.dry_run then
    -- buildx says "ERROR: ...", the registry "unauthorized: ...": the last line says it
    error("docker " .. args[1] .. ": " .. proc.failure_message(res), 0)
  end
  return res
end

-- A reference docker accepts: [host[:port]/]path[:tag] in lowercase (the
-- tag may have capitals), checked before docker is asked.
function M.valid_ref(ref)
  if type(ref) ~= "string" then return false end
  local name, tag = ref:match("^(.-):([%w_][%w_.%-]*)$") -- the tag: after the last colon, no slash in it
  if not name then name, tag = ref, nil end
  if #ref > 255 or (tag and #tag > 128) then return false end
  return name:match("^[a-z0-9][a-z0-9._/:%-]*$") ~= nil and not name:find("//", 1, true)
end

-- `flag k=v` for each pair of map, in key order (the same map, the same argv)
local function add_pairs(args, flag, map)
  local keys = {}
  for k in pairs(map or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do args[#args + 1] = flag; args[#args + 1] = k .. "=" .. map[k] end
end

-- build{dir, tag, labels = {k = v}, dockerfile, build_args = {k = v}, run} -> tag
function M.build(o)
  if not M.valid_ref(o.tag) then error("image: not a valid image reference: " .. tostring(o.tag), 2) end
  local args = { "build", "-t", o.tag }
  add_pairs(args, "--label", o.labels)
  add_pairs(args, "--build-arg", o.build_args)
  if o.dockerfile then args[#args + 1] = "-f"; args[#args + 1] = o.dockerfile end
  args[#args + 1] = "."
  docker(args, o)
  return o.tag
end

-- The digest in docker push's output: the line for this tag.
function M.pushed_digest(output, tag)
  local found
  for line in output:gmatch("[^\r\n]+") do
    local t, d = line:match("^(%S+): digest: (sha256:%x+) size: %d+$")
    if t and (not tag or t == tag) then found = d end
  end
  return found
end

-- push{ref, run} -> digest
function M.push(o)
  local res = docker({ "push", o.ref }, o)
  if res.dry_run then return nil end
  local tag = o.ref:match(":([%w_][%w_.%-]*)$") or "latest"
  local digest = M.pushed_digest(res.stdout, tag)
  if not digest then
    error("docker push " .. o.ref .. ": no \"" .. tag .. ": digest: sha256:...\" line in its output", 0)
  end
  return digest
end

return M
