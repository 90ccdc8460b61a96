-- drun.redact: secrets masked before anything is encoded.
--   redact.text("token abc123")        -> "token ***"  (every registered form of a secret)
--   redact.value{ id = 1, note = s }   -> a copy with every string masked
-- Masking encoded text (JSON, a URL) misses a secret whose encoded form
-- differs (a '"' becomes '\"') and can corrupt the encoding (a secret equal
-- to a number in it); so values are masked first and encoded after.
local out = require "drun.core.out"

local M = { text = out.redact }

local MASK = "***"

local function value(v, depth)
  local t = type(v)
  if t == "string" then return out.redact(v) end
  if t == "number" then -- a number that is a secret's text becomes the mask
    local s = tostring(v)
    return out.redact(s) == s and v or MASK
  end
  if t ~= "table" then return v end
  if depth > 200 then error("redact: a value nested deeper than 200 levels (a cycle?)", 0) end
  local copy = {}
  for k, x in pairs(v) do
    if type(k) == "string" then k = out.redact(k) end
    copy[k] = value(x, depth + 1)
  end
  return setmetatable(copy, getmetatable(v)) -- json.array / json.object stay what they were
end

function M.value(v) return value(v, 0) end

return M
