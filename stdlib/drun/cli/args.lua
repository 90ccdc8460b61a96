-- Command-line parsing for drun's subcommands.
--   local opts, rest = args.parse(argv, { flags = { json = true }, options = { env = true } })
-- --name value and --name=value; flags take no value; anything else is
-- positional. Raises a usage error (exit 2) for unknown options or a missing
-- value.
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

function M.parse(argv, spec)
  local opts, rest = {}, {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, value = a:match("^%-%-([%w%-]+)=(.*)$")
    name = name or a:match("^%-%-([%w%-]+)$")
    if a == "--" then
      table.move(argv, i + 1, #argv, #rest + 1, rest)
      break
    elseif name and spec.flags and spec.flags[name] then
      if value then M.usage_error("--%s takes no value", name) end
      opts[name] = true
    elseif name and spec.options and spec.options[name] then
      if not value then
        i = i + 1
        value = argv[i]
        if value == nil then M.usage_error("--%s needs a value", name) end
      end
      opts[name] = value
    elseif name or (a:sub(1, 1) == "-" and #a > 1) then
      M.usage_error("unknown option '%s'", a)
    else
      rest[#rest + 1] = a
    end
    i = i + 1
  end
  return opts, rest
end

-- A whole number >= min from an option value, or a usage error.
function M.count(opts, name, min)
  local v = opts[name]
  if v == nil then return nil end
  local n = math.tointeger(tonumber(v))
  if not n or n < (min or 1) or not v:match("^%s*%d+%s*$") then
    M.usage_error("--%s takes a whole number of at least %d (got '%s')", name, min or 1, v)
  end
  return n
end

return M
