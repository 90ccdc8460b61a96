-- drun.base64: RFC 4648 base64 (standard alphabet, padded).
--   base64.encode("alice:s3cret") -> "YWxpY2U6czNjcmV0"
local M = {}

local ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local CHARS = {}
for i = 1, 64 do CHARS[i - 1] = ALPHABET:sub(i, i) end

function M.encode(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = CHARS[v >> 18] .. CHARS[(v >> 12) & 63] .. (b and CHARS[(v >> 6) & 63] or "=")
        .. (c and CHARS[v & 63] or "=")
  end
  return table.concat(out)
end

return M
