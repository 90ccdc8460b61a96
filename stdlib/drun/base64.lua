-- drun.base64: RFC 4648 base64 (standard alphabet, padded).
--   base64.encode("alice:s3cret") -> "YWxpY2U6czNjcmV0"
-- The encoder is the runtime's (the one --json's line_base64 uses).
local out = require "drun.core.out"

return { encode = out.base64 }
