-- drun.runtime: state of the whole run that the primitives consult.
--   runtime.dry_run: true under --dry-run (set by the recipe engine). Every
--   mutating primitive (process not marked read-only, non-GET HTTP, git tag,
--   commit and push, ledger writes) then says what it would do instead.
local out = require "drun.core.out"

local M = { dry_run = false, sink = nil }

-- would("git push origin main"): the line a mutating call prints instead of
-- acting; the recipe engine may route it (M.sink) into its own output.
function M.would(fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or fmt
  if M.sink then return M.sink(msg) end
  out.write("stderr", "dry-run: would " .. msg .. "\n")
end

return M
