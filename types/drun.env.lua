---@meta drun.env
-- The module: runtime/l_env.c.

local env = {}

---@param name string
---@param default? string what is returned when it is unset
---@return string?
function env.get(name, default) end

---@param name string
---@param value string|nil nil unsets it
function env.set(name, value) end

---A required secret: raises naming it when unset or empty; masked in every output from here on.
---@param name string
---@return string
function env.secret(name) end

---Whether a variable's name says it holds a secret (TOKEN, SECRET, PASSWORD, KEY, ...).
---@param name string
---@return boolean
function env.is_secret_name(name) end

return env
