-- What drun's commands share once drun.cli.spec parsed their arguments:
-- the usage error (exit 2), a command's main (errors to exit codes), and a
-- whole number from an option's value.
local M = {}

local UsageError = { __tostring = function(e) return e.message end }
M.UsageError = UsageError

function M.usage_error(fmt, ...)
  error(setmetatable({ kind = "usage", message = string.format(fmt, ...) }, UsageError), 0)
end

function M.is_usage_error(e) return getmetatable(e) == UsageError end

-- main(command, fn, prefix) -> exit code: fn() run; a usage error is exit 2
-- with "drun COMMAND: <why>" and where to read more, any other error exit 1
-- with `prefix` (default "drun COMMAND: ") and no Lua file:line
function M.main(command, fn, prefix)
  local out = require "drun.core.out"
  local ok, res = pcall(fn)
  if ok then return res end
  if M.is_usage_error(res) then
    out.write("stderr", string.format("drun %s: %s\n(see drun %s --help)\n", command, res.message, command))
    return 2
  end
  out.write("stderr", (prefix or ("drun " .. command .. ": ")) .. tostring(res):gsub("^[^:]+%.lua:%d+: ", "") .. "\n")
  return 1
end

-- A whole number >= min from an option value, or a usage error.
function M.count(opts, name, min)
  local v = opts[name] or opts[(name:gsub("%-", "_"))] -- argparse's target: wait_lock for --wait-lock
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < (min or 1) or not v:match("^%s*%d+%s*$") then
    M.usage_error("--%s takes a whole number of at least %d (got '%s')", name, min or 1, v)
  end
  return n
end

return M
