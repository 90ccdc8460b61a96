---@meta drun.cloudflare
-- The module: stdlib/drun/cloudflare.lua, wrangler for recipes (FLOWS.md §1).
-- Every call takes `run` (default drun.proc.run; recipes pass ctx.run so
-- wrangler's output shows under the step) and `remote` (default true).

---@class drun.cloudflare.Target
---@field dir string the folder of the wrangler config
---@field env? string the wrangler environment (none: the top level)
---@field run? fun(spec: drun.proc.Spec): drun.proc.Result

---@class drun.cloudflare.D1: drun.cloudflare.Target
---@field db string the database's name
---@field remote? boolean (true)

---D1 databases through wrangler.
---@class drun.cloudflare.d1
local d1 = {}
---The migration files applied now ({} when up to date).
---@param o drun.cloudflare.D1
---@return string[]
function d1.migrate(o) end
---The migration files not applied yet ({} when up to date).
---@param o drun.cloudflare.D1
---@return string[]
function d1.pending(o) end
---Rows of the last statement, and all results.
---@param o drun.cloudflare.D1|{ sql?: string, file?: string, read_only?: boolean }
---@return table[] rows, table[] results
function d1.execute(o) end
---Runs `file` when `table` exists and d1_migrations does not (a database the app migrated itself).
---@param o drun.cloudflare.D1|{ file: string, table?: string }
---@return { ran: boolean, reason: string }
function d1.backfill_if_needed(o) end

local cloudflare = {}
cloudflare.d1 = d1
cloudflare.MAX_OUTPUT_FILE = 1048576

---wrangler deploy; the new version id from wrangler's output file, not its text.
---@param o drun.cloudflare.Target|{ message?: string, tag?: string }
---@return string version_id
function cloudflare.deploy(o) end
---The version id serving 100% of traffic, or nil when never deployed.
---@param o drun.cloudflare.Target
---@return string?
function cloudflare.current_version(o) end
---The deployments, oldest first (wrangler's JSON).
---@param o drun.cloudflare.Target
---@return table[]
function cloudflare.deployments(o) end
---@param o drun.cloudflare.Target|{ version_id: string, message?: string }
function cloudflare.rollback(o) end
---`wrangler tail --format json` for `seconds`; raises once the errors exceed max_errors.
---@param o drun.cloudflare.Target|{ seconds?: number, max_errors?: integer, on_error?: fun(text: string) }
---@return { requests: integer, errors: integer, seconds: number, samples: string[] }
function cloudflare.watch(o) end
---GET <api>/accounts/<account><path>; raises with Cloudflare's message and .code.
---@param path string
---@return any
function cloudflare.api(path) end
---wrangler with WRANGLER_OUTPUT_FILE_PATH: the first entry of `kind` it wrote; nil under --dry-run.
---@param args string[]
---@param o drun.cloudflare.Target
---@param kind string
---@return table?
function cloudflare.run_for_output(args, o, kind) end
---Whether a wrangler failure says the Worker does not exist (by its code).
---@param err any
---@return boolean
function cloudflare.worker_not_found(err) end

return cloudflare
