-- drun.proc: running programs from recipes, over drun.core.proc.
--
--   proc.run { "wrangler", "deploy", "--env", "staging", cwd = "apps/cms" }
--
-- Fails loud: a program that cannot start, exits non-zero, is killed or times
-- out raises "command 'wrangler deploy' exited with 1: <stderr tail>".
-- `check = false` returns the result (or nil, err) instead.
-- Options (all optional): cwd, env = {NAME = "v" | false}, clear_env, stdin,
-- timeout, grace, cap, stream (true | function(stream, line, partial)), prefix,
-- read_only (under --dry-run only read-only commands run; the others are
-- printed and return {ok = true, code = 0, dry_run = true}).
-- Result: ok, code, signal, timed_out, interrupted, stdout, stderr,
-- stdout_dropped, stderr_dropped, duration, pid, command.
local core = require "drun.core.proc"
local out = require "drun.core.out"
local runtime = require "drun.runtime"
local task = require "drun.task"
local time_core = require "drun.core.time"
local guard = require "drun.core.guard"

-- stats: how many programs ran and how long they took (for DRUN_STATS and
-- the benchmarks: drun's own overhead is the wall time minus this)
-- pid(): drun's own process id; rusage(): {maxrss_kb, children_maxrss_kb}
local M = { which = core.which, pid = core.pid, rusage = core.rusage, DEFAULT_CAP = core.DEFAULT_CAP,
            stats = { runs = 0, seconds = 0 } }

local TAIL_LINES = 20

-- 'a b' for messages, quoted only where a shell reader would need it.
function M.command_line(argv)
  local parts = {}
  for i = 1, #argv do
    local a = tostring(argv[i])
    if a == "" or a:find("[^%w%-%._/:=@%+,]") then a = "'" .. a:gsub("'", [['\'']]) .. "'" end
    parts[i] = a
  end
  return table.concat(parts, " ")
end

-- The last lines of s, for error messages.
local function tail(s, n)
  s = s:gsub("%s+$", "")
  local lines, pos = {}, #s
  while #lines < n and pos > 0 do
    local nl = s:sub(1, pos):match(".*()\n")
    lines[#lines + 1] = s:sub((nl or 0) + 1, pos)
    pos = (nl or 0) - 1
  end
  local kept = {}
  for i = #lines, 1, -1 do kept[#kept + 1] = lines[i] end
  return table.concat(kept, "\n")
end

function M.failure_message(res)
  local what
  if res.timed_out then
    what = string.format("timed out after %.1fs and was killed", res.duration)
  elseif res.signal then
    what = "was killed by signal " .. res.signal
  else
    what = "exited with " .. res.code
  end
  local msg = string.format("command '%s' %s", res.command, what)
  local detail = tail(res.stderr ~= "" and res.stderr or res.stdout, TAIL_LINES)
  if detail ~= "" then msg = msg .. ":\n" .. detail end
  return out.redact(msg)
end

function M.run(spec)
  if type(spec) ~= "table" then error("proc.run: expected a table { \"program\", \"arg\", ... }", 2) end
  if runtime.dry_run and not spec.read_only then
    local ok, line = pcall(M.command_line, spec)
    if not ok then error("proc.run: " .. tostring(line), 2) end
    runtime.would("%s", line)
    return { ok = true, code = 0, stdout = "", stderr = "", stdout_dropped = 0, stderr_dropped = 0, duration = 0,
             timed_out = false, interrupted = false, dry_run = true, command = line }
  end
  local ok, h, err = pcall(core.start, spec)
  if not ok then error(h, 2) end -- a bad argument: located at the caller
  if not h then
    if spec.check == false then return nil, err end
    error(err, 2)
  end
  task.adopt(h)
  task.await(h) -- inside a task the others run meanwhile
  local res = h:result() -- raises the stream callback's error
  res.command = M.command_line(spec)
  M.stats.runs, M.stats.seconds = M.stats.runs + 1, M.stats.seconds + res.duration
  if res.interrupted then error("interrupted", 0) end
  if not res.ok and spec.check ~= false then error(M.failure_message(res), 2) end
  return res
end

-- spawn(spec) -> a handle for a background process (a poller, a tail, a
-- local server for a test). Options as run's (no check: nothing raises when
-- it exits), and lines = false to keep only its output's tail. The step's
-- timeout does not stop it; Ctrl-C, close() and drun's exit do.
--   h.pid, h.command
--   h:lines()      iterator over its stdout lines as they come (redacted);
--                  inside a task the others run while it waits
--   h:read_line([timeout]) -> line | nil, "eof" | nil, "timeout"
--   h:wait()       -> result (as run's) once it exits; h:done() whether it has
--   h:kill([sig])  a signal ("TERM", "KILL", "HUP", ... or a number) to its process group
--   h:close()      TERM, KILL after the grace, reaped -> result; also
--                  `local h <close> = proc.spawn{...}` and when the handle is collected
local Spawned = {}
Spawned.__index = Spawned

function M.spawn(spec)
  if type(spec) ~= "table" then error("proc.spawn: expected a table { \"program\", \"arg\", ... }", 2) end
  local line_ok, line = pcall(M.command_line, spec)
  if not line_ok then error("proc.spawn: " .. tostring(line), 2) end
  if runtime.dry_run and not spec.read_only then
    runtime.would("start in the background: %s", line)
    return setmetatable({ pid = 0, command = line, dry_run = true,
                          result = { ok = true, code = 0, stdout = "", stderr = "", duration = 0, dry_run = true,
                                     command = line } }, Spawned)
  end
  local s = {}
  for k, v in pairs(spec) do s[k] = v end
  s.lines, s.background, s.check = spec.lines ~= false, true, nil
  local ok, h, err = pcall(core.start, s)
  if not ok then error("proc.spawn: " .. tostring(h), 2) end
  if not h then error(err, 2) end
  task.adopt(h)
  return setmetatable({ pid = h:pid(), command = line, h = h }, Spawned)
end

-- the next line, or nil and whether the output ended, waiting until the
-- monotonic deadline (nil: no limit) or an interrupt
local function next_line(self, deadline)
  local got, eof
  task.wait(function()
    got, eof = self.h:read_line()
    return got ~= nil or eof ~= nil
  end, deadline)
  return got, eof ~= nil
end

function Spawned:lines()
  return function()
    if not self.h then return nil end
    return (next_line(self))
  end
end

-- read_line([timeout]) -> the next stdout line; nil, "eof" once it exited
-- and every line was read; nil, "timeout" when none came within timeout
-- seconds (a watch that runs for a while, not until the process ends)
function Spawned:read_line(timeout)
  if not self.h then return nil, "eof" end
  local got, ended = next_line(self, timeout and time_core.now() + timeout)
  if got then return got end
  if ended then return nil, "eof" end
  if guard.signal() then error("interrupted", 0) end
  return nil, "timeout"
end

local function settle(self)
  if self.result then return self.result end
  task.await(self.h)
  local res = self.h:result()
  res.command = self.command
  M.stats.runs, M.stats.seconds = M.stats.runs + 1, M.stats.seconds + res.duration
  self.result = res
  return res
end

function Spawned:done() return not self.h or self.h:done() end

function Spawned:wait()
  if not self.h then return self.result end
  return settle(self)
end

function Spawned:kill(sig)
  if not self.h or self.result then return false, "the process has exited" end
  return self.h:kill(sig)
end

function Spawned:close()
  if not self.h then return self.result end
  if not self.h:done() then self.h:stop() end
  return settle(self)
end
Spawned.__close = Spawned.close

-- sh(script, opts): the one place a shell is used, and only when asked by name.
function M.sh(script, opts)
  if type(script) ~= "string" then error("proc.sh: expected a shell script string", 2) end
  local spec = { "/bin/sh", "-c", script }
  for k, v in pairs(opts or {}) do
    if type(k) ~= "number" then spec[k] = v end
  end
  local ok, res, err = pcall(M.run, spec)
  if not ok then error(res, 2) end
  return res, err
end

-- output(spec): stdout with the trailing newline removed; raises on failure.
function M.output(spec)
  local ok, res = pcall(M.run, spec)
  if not ok then error(res, 2) end
  return (res.stdout:gsub("\n+$", ""))
end

return M
