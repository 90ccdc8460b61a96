---@meta drun.json
-- The module: runtime/l_json.c, a strict RFC 8259 parser and encoder.

---@class drun.json.Null

local json = {}

---JSON's null: decode gives it for null, encode writes it as null.
---@type drun.json.Null
json.null = nil

---@param text string
---@return any
function json.decode(text) end

---@param value any
---@param opts? { indent?: integer|string, sort_keys?: boolean } indent: 0..16 spaces, or the string itself
---@return string
function json.encode(value, opts) end

---A table that encodes as an array, even when empty.
---@param t? table
---@return table
function json.array(t) end

---A table that encodes as an object, even when empty.
---@param t? table
---@return table
function json.object(t) end

---"object", "array", "string", "number", "boolean" or "null": what a value encodes as.
---@param value any
---@return string
function json.kind(value) end

return json
