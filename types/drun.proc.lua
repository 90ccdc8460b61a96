---@meta drun.proc
-- LuaLS stubs for drun's modules (`drun init` writes them into .drun/types/
-- and points .luarc.json at them). The module: stdlib/drun/proc.lua.

---A program to run: its argv in the array part, options by name.
---@class drun.proc.Spec
---@field [integer] string|number the argv: program first, never a shell string
---@field cwd? string where it runs
---@field env? table<string, string|false> variables set (false: removed) on top of drun's environment
---@field clear_env? boolean start from an empty environment (then env only)
---@field stdin? string what it reads on stdin
---@field timeout? number seconds before it is stopped (TERM, then KILL after grace)
---@field grace? number seconds between TERM and KILL
---@field cap? integer bytes kept of each of stdout and stderr (default proc.DEFAULT_CAP)
---@field stream? boolean|fun(stream: "stdout"|"stderr", line: string, partial: boolean) its lines as they come
---@field prefix? string put before each streamed line
---@field read_only? boolean it changes nothing: it runs under --dry-run too
---@field check? boolean false: return the result (or nil, err) instead of raising on failure
---@field lines? boolean spawn: false keeps only the output's tail

---What a program did.
---@class drun.proc.Result
---@field ok boolean exited 0
---@field code integer? its exit code
---@field signal string? the signal that ended it
---@field timed_out boolean
---@field interrupted boolean
---@field stdout string
---@field stderr string
---@field stdout_dropped integer bytes beyond the cap
---@field stderr_dropped integer
---@field duration number seconds
---@field pid integer
---@field command string its argv as one line, for messages
---@field dry_run? boolean under --dry-run: printed, not run

---A background process (proc.spawn).
---@class drun.proc.Handle
---@field pid integer
---@field command string
local Handle = {}
---@return fun(): string? # its stdout lines as they come (redacted)
function Handle:lines() end
---@param timeout? number
---@return string? line
---@return "eof"|"timeout"|nil why
function Handle:read_line(timeout) end
---@return drun.proc.Result # once it exits
function Handle:wait() end
---@return boolean # whether it has exited
function Handle:done() end
---@param sig? string|integer "TERM", "KILL", "HUP", ... to its process group
function Handle:kill(sig) end
---@return drun.proc.Result # TERM, KILL after the grace, reaped
function Handle:close() end

local proc = {}

---bytes of output kept per stream unless spec.cap says otherwise
proc.DEFAULT_CAP = 8388608
---how many programs ran and how long they took (DRUN_STATS, benchmarks)
proc.stats = { runs = 0, seconds = 0 }

---Runs a program; raises "command 'x' exited with 1: <stderr tail>" on failure unless check = false.
---@param spec drun.proc.Spec
---@return drun.proc.Result
---@return string? err with check = false
function proc.run(spec) end

---Its stdout with the trailing newline removed; raises on failure.
---@param spec drun.proc.Spec
---@return string
function proc.output(spec) end

---The one place a shell is used, and only when asked by name: /bin/sh -c script.
---@param script string
---@param opts? drun.proc.Spec
---@return drun.proc.Result
function proc.sh(script, opts) end

---A background process: a poller, a tail, a local server for a test.
---@param spec drun.proc.Spec
---@return drun.proc.Handle
function proc.spawn(spec) end

---The program's path on $PATH, or nil.
---@param name string
---@return string?
function proc.which(name) end

---'a b' for messages, quoted only where a shell reader would need it.
---@param argv string[]
---@return string
function proc.command_line(argv) end

---The message a failed result raises with.
---@param res drun.proc.Result
---@return string
function proc.failure_message(res) end

---drun's own process id.
---@return integer
function proc.pid() end

---@return { maxrss_kb: integer, children_maxrss_kb: integer }
function proc.rusage() end

return proc
