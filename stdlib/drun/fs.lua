-- drun.fs: files for recipes. Every call raises "fs: cannot read 'x': ..."
-- on failure; fs.try has the same calls returning nil, err instead.
--   read(path)  write(path, data [, mode]) (atomic)  exists(path)  stat(path)
--   mkdir(path) (-p)  remove(path [, recursive])  list(dir)  glob(pattern)
--   tmpdir([prefix])  cwd()  realpath(path)  join(...)  dirname(p)  basename(p)
local core = require "drun.core.fs"

local M = { try = core }

for name, raw in pairs(core) do
  M[name] = function(...)
    local ok, r, err = pcall(raw, ...)
    if not ok then error(r, 2) end
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
