---@meta drun.tabulate
-- The module: stdlib/drun/tabulate.lua, aligned text tables for terminals.

---@class drun.tabulate.Column
---@field [1] string the header
---@field [2] string|fun(row: table): string the key, or the cell's text
---@field paint? fun(text: string, row: table): string colour codes around the padded text

local tabulate = {}

---@param rows table[]
---@param columns drun.tabulate.Column[]
---@param opts? { colour?: boolean, header?: boolean }
---@return string
function tabulate.tabulate(rows, columns, opts) end
---"850ms", "12.3s", "4m05s", "2h10m"
---@param ms number?
---@return string
function tabulate.duration(ms) end
---"5s ago", "3m ago", ...; older than 30 days: the date.
---@param seconds_then number
---@param now number
---@return string
function tabulate.ago(seconds_then, now) end
---@param name "red"|"green"|"yellow"|"blue"|"dim"|"bold"
---@param s string
---@return string
function tabulate.colour(name, s) end

return tabulate
