---@meta drun.pkgjson
-- The module: stdlib/drun/pkgjson.lua. A package.json's "version" changed by
-- rewriting that one value: every other byte stays as it was.

local pkgjson = {}

---@param path string
---@return string
function pkgjson.version(path) end
---@param path string
---@param version string
---@return string # the previous version
function pkgjson.set_version(path, version) end
---@param path string
---@param part "patch"|"minor"|"major"
---@return string new, string old
function pkgjson.bump(path, part) end

return pkgjson
