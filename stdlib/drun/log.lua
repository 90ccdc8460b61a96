-- drun.log: messages to stderr, through redaction.
--   log.info("deploying %s", version)   log.warn(...)   log.error(...)
--   log.debug(...) only with DRUN_DEBUG set.
-- The recipe engine sets log.sink = function(level, message) to indent lines
-- under the running step or turn them into JSON events.
local out = require "drun.core.out"

local M = { sink = nil }

local COLOURS = { warn = "\27[33m", error = "\27[31m", debug = "\27[2m" }

function M.colour_enabled(stream)
  return out.isatty(stream or "stderr") and (os.getenv("NO_COLOR") or "") == ""
end

local function emit(level, fmt, ...)
  local msg = select("#", ...) > 0 and string.format(fmt, ...) or tostring(fmt)
  if M.sink then return M.sink(level, msg) end
  local label = level == "info" and "" or level .. ": "
  if label ~= "" and M.colour_enabled() then label = COLOURS[level] .. label .. "\27[0m" end
  out.write("stderr", label .. msg .. "\n")
end

function M.info(fmt, ...) emit("info", fmt, ...) end
function M.warn(fmt, ...) emit("warn", fmt, ...) end
function M.error(fmt, ...) emit("error", fmt, ...) end
function M.debug(fmt, ...)
  if (os.getenv("DRUN_DEBUG") or "") ~= "" then emit("debug", fmt, ...) end
end

return M
