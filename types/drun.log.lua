---@meta drun.log
-- The module: stdlib/drun/log.lua. Lines on stderr, secrets masked; colour
-- only on a terminal and without NO_COLOR.

local log = {}

---@param fmt string
---@param ... any
function log.debug(fmt, ...) end
---@param fmt string
---@param ... any
function log.info(fmt, ...) end
---@param fmt string
---@param ... any
function log.warn(fmt, ...) end
---@param fmt string
---@param ... any
function log.error(fmt, ...) end

---@param stream "stdout"|"stderr"
---@return boolean
function log.colour_enabled(stream) end

return log
