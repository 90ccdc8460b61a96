---@meta drun.schema
-- The module: stdlib/drun/schema.lua, configs checked before anything runs
-- (the shipped flows' schemas: drun.flows.schema.*).

---A schema: plain tables.
---@class drun.schema.Schema
---@field type "string"|"number"|"integer"|"boolean"|"function"|"table"|"array"|"map"|"record"|"any"|(string)[]
---@field required? boolean
---@field one_of? any[]
---@field min? number
---@field needs? string[] keys that must be given with this one
---@field conflicts? string[] keys that must not be given with this one
---@field elements? drun.schema.Schema an array's
---@field values? drun.schema.Schema a map's
---@field fields? table<string, drun.schema.Schema> a record's
---@field description? string

local schema = {}

---The config, or raises a config error (exit 2) listing every problem; an unknown key names the nearest valid one.
---@param config any
---@param s drun.schema.Schema
---@param flow string
---@return table
function schema.check(config, s, flow) end
---Every problem, as text; empty when none.
---@param config any
---@param s drun.schema.Schema
---@return string[]
function schema.problems(config, s) end
---Functions whose first argument (the config) is checked first: a flow module's entry points.
---@param s drun.schema.Schema
---@param flow string
---@param fns table<string, function>
---@return table<string, function>
function schema.checked(s, flow, fns) end
---One row per key, nested ones under their parent ("smoke.attempts", "sites[].name"), sorted:
---what drun init writes above a config and README's config tables are made from.
---@param s drun.schema.Schema
---@return { key: string, shape: string, required: boolean, needs: string[]?, description: string? }[]
function schema.reference(s) end
---"string, required, with database": a reference row's type as words.
---@param row { key: string, shape: string, required: boolean, needs: string[]?, conflicts: string[]?, description: string? }
---@return string
function schema.kind(row) end
---"string, required: the Pages project": a reference row as words.
---@param row { key: string, shape: string, required: boolean, needs: string[]?, description: string? }
---@return string
function schema.about(row) end
---A function that requires the module when first called and calls its function name.
---@param module string
---@param name string
---@return function
function schema.lazy(module, name) end
---The known name nearest to name, when near enough to be a typo.
---@param name string
---@param names string[]
---@return string?
function schema.nearest(name, names) end

return schema
