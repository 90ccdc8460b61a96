---@meta drun.time
-- The module: runtime/l_time.c and stdlib/drun/time.lua.

local time = {}

---Monotonic seconds (for durations and deadlines).
---@return number
function time.now() end

---Seconds since the epoch.
---@return number
function time.unix() end

---"2026-12-07T01:37:08Z": UTC, ISO 8601.
---@param unix? number
---@return string
function time.utc(unix) end

---Seconds since the epoch of an ISO 8601 time, or nil.
---@param iso string
---@return number?
function time.parse(iso) end

---Sleeps; raises "interrupted" on a signal and the step's timeout at its deadline.
---@param seconds number
function time.sleep(seconds) end

---Renews the run's lock lease when it is due (called while drun waits).
function time.heartbeat() end

---The error of the last lease renewal that failed, or nil.
---@return string?
function time.heartbeat_error() end

return time
