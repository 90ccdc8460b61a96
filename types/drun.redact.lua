---@meta drun.redact
-- The module: stdlib/drun/redact.lua. Secrets (drun.env.secret, ctx.secret,
-- variables named like TOKEN) are masked before anything is encoded.

local redact = {}

---"token abc123" -> "token ***": every registered form of a secret.
---@param s string
---@return string
function redact.text(s) end
---A copy with every string masked (encode after, never before).
---@generic T
---@param v T
---@return T
function redact.value(v) end

return redact
