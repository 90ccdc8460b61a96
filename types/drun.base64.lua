---@meta drun.base64
-- The module: stdlib/drun/base64.lua, RFC 4648 (standard alphabet, padded).

local base64 = {}

---@param s string
---@return string
function base64.encode(s) end

return base64
