---@meta drun.runtime
-- The module: stdlib/drun/runtime.lua, the state of the whole run the
-- primitives consult.

local runtime = {}

---true under --dry-run: every mutating primitive says what it would do instead.
runtime.dry_run = false

---The line a mutating call prints instead of acting: would("git push origin main").
---@param fmt string
---@param ... any
function runtime.would(fmt, ...) end

return runtime
