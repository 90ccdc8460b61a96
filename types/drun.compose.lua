---@meta drun.compose
-- The module: stdlib/drun/compose.lua, docker compose here or over ssh
-- (FLOWS.md §3).

---Where compose runs: no host is this machine.
---@class drun.compose.Target
---@field host? string
---@field user? string
---@field port? integer
---@field dir string the project's folder
---@field ssh_config? string ssh -F
---@field project? string -p
---@field file? string -f
---@field env? table<string, string> variables compose interpolates the file with

---@class drun.compose.RunOpt
---@field run? fun(spec: drun.proc.Spec): drun.proc.Result ctx.run in a recipe
---@field check? boolean

local compose = {}

---@param target drun.compose.Target
---@param o? drun.compose.RunOpt|{ build?: boolean, wait?: boolean, wait_timeout?: integer, remove_orphans?: boolean, services?: string[] }
function compose.up(target, o) end
---Containers (and with volumes, the project's named volumes) removed.
---@param target drun.compose.Target
---@param o? drun.compose.RunOpt|{ volumes?: boolean }
function compose.down(target, o) end
---@param target drun.compose.Target
---@param o drun.compose.RunOpt|{ service: string, argv: string[], tty?: boolean }
---@return drun.proc.Result
function compose.exec(target, o) end
---@param target drun.compose.Target
---@param o? drun.compose.RunOpt|{ service?: string, tail?: integer }
---@return string
function compose.logs(target, o) end
---The services' containers ({Name, Service, State, Health, ExitCode, Publishers}); without all, running ones only.
---@param target drun.compose.Target
---@param o? drun.compose.RunOpt|{ all?: boolean }
---@return table[]
function compose.ps(target, o) end
---The project's service names.
---@param target drun.compose.Target
---@param o? drun.compose.RunOpt
---@return string[]
function compose.services(target, o) end
---Each service (or each of o.services) must run, healthy where it has a healthcheck.
---@param target drun.compose.Target
---@param o? drun.compose.RunOpt|{ services?: string[] }
---@return string[] problems, string[] waiting, string[] notes
function compose.unhealthy(target, o) end
---Any command in the target's folder, here or over ssh.
---@param target drun.compose.Target
---@param argv string[]
---@param opts? drun.proc.Spec
---@return drun.proc.Result
function compose.sh(target, argv, opts) end
---The argv that runs argv in the target's folder, here or over ssh.
---@param target drun.compose.Target
---@param argv string[]
---@return string[]
function compose.command(target, argv) end
---POSIX shell quoting: plain words as they are, anything else in '...'.
---@param s string
---@return string
function compose.quote(s) end
---compose-go's rule for -p: nil, or why the name is refused.
---@param name string
---@return string?
function compose.project_name_problem(name) end

return compose
