-- drun.time: monotonic clock, UTC wall time, sleep.
--   time.now()            monotonic seconds, for durations
--   time.unix()           wall-clock seconds since the epoch
--   time.utc([t])         "2026-11-21T21:42:07Z"; time.parse(s) back to seconds
--   time.sleep(seconds)   raises "interrupted" on Ctrl-C/SIGTERM, and the
--                         step's timeout at its deadline; inside a task
--                         (ctx.parallel) the other tasks run meanwhile
--   time.heartbeat(fn, every) / time.heartbeat_error()  work due while drun waits
local core = require "drun.core.time"

local M = {}
for k, v in pairs(core) do M[k] = v end

function M.sleep(seconds)
  if type(seconds) ~= "number" then error("bad argument #1 to 'sleep' (number expected, got " .. type(seconds) .. ")", 2) end
  if seconds < 0 then error("bad argument #1 to 'sleep' (negative duration)", 2) end
  local task = require "drun.task"
  if not task.current() then return core.sleep(seconds) end
  local ok, err = pcall(task.sleep, seconds)
  if not ok then error(err, 0) end
end

return M
