-- drun.fs: files for recipes. Every call raises "fs: cannot read 'x': ..."
-- on failure; fs.try has the same calls returning nil, err instead.
--   read(path)  write(path, data [, mode]) (atomic)  exists(path)  stat(path)
--   mkdir(path) (-p)  remove(path [, recursive])  list(dir)  glob(pattern)
--   tmpdir([prefix])  cwd()  realpath(path)  join(...)  dirname(p)  basename(p)
--   match(pattern, path)
-- Under --dry-run, write, mkdir and remove say what they would do and do
-- nothing (drun.runtime's gate), except inside a tmpdir this run made: a
-- scratch file changes nothing outside drun.
local core = require "drun.core.fs"
local runtime = require "drun.runtime"

local M = { try = {} }

local WOULD = { write = "write %s", mkdir = "create the directory %s", remove = "remove %s" }
local scratch = {} -- the tmpdirs of this run

local function in_scratch(path)
  for _, dir in ipairs(scratch) do
    if path == dir or path:sub(1, #dir + 1) == dir .. "/" then return true end
  end
  return false
end

-- the raw call, through the dry-run gate; returns what core returns
local function call(name, raw, ...)
  local path = ...
  if WOULD[name] and runtime.dry_run and type(path) == "string" and not in_scratch(path) then
    runtime.would(WOULD[name], path)
    return true
  end
  local r, err = raw(...)
  if name == "tmpdir" and r then scratch[#scratch + 1] = r end
  return r, err
end

for name, raw in pairs(core) do
  M.try[name] = function(...) return call(name, raw, ...) end
  M[name] = function(...)
    local ok, r, err = pcall(call, name, raw, ...)
    if not ok then -- a wrong argument: named as the caller called it, at the caller's line
      error((tostring(r):gsub("^stdlib/drun/fs%.lua:%d+: ", ""):gsub("to '[^']*'", "to 'fs." .. name .. "'", 1)), 2)
    end
    if r == nil and err then error(err, 2) end
    return r
  end
end

function M.join(...)
  local parts = {}
  for i = 1, select("#", ...) do
    local p = select(i, ...)
    if p ~= "" then
      if p:sub(1, 1) == "/" then parts = {} end
      parts[#parts + 1] = p
    end
  end
  return (table.concat(parts, "/"):gsub("/+", "/"))
end

function M.dirname(p)
  local d = p:gsub("/+$", ""):match("^(.*)/[^/]*$")
  if d == nil then return "." end
  return d == "" and "/" or d
end

function M.basename(p)
  return p:gsub("/+$", ""):match("[^/]*$")
end

return M
