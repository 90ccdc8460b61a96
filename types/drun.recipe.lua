---@meta drun.recipe
-- The module: stdlib/drun/recipe.lua; steps run by drun.recipe.run, each
-- given a drun.Context (stdlib/drun/recipe/context.lua).

---A parameter: `drun RECIPE name=value`.
---@class drun.recipe.Param
---@field default? string|number|boolean
---@field choices? (string|number)[]
---@field required? boolean
---@field type? "string"|"number"|"boolean" (from the default, else string)
---@field description? string

---@class drun.recipe.Spec
---@field name string
---@field service string
---@field environment string|fun(params: table): string
---@field version? string|fun(ctx: drun.Context): string
---@field commit? fun(ctx: drun.Context): string what is deployed, when not HEAD (an image's commit)
---@field description? string
---@field params? table<string, drun.recipe.Param>
---@field approval? "required"|"none"|fun(params: table): string
---@field lock? boolean|fun(params: table): boolean (true)
---@field auto_rollback? boolean undo the completed steps on failure (false)
---@field rollback_hint? string the command the failure report names (with ${name})
---@field secrets? string[]|fun(params: table): string[] checked before anything runs
---@field ledger? string where the history lives (--ledger and DRUN_LEDGER win)
---@field validate? fun(params: table): string? params that only fail together: exit 2
---@field needs? (string|table)[]|fun(params: table): (string|table)[] checked before anything runs (preflight)
---@field fetch? boolean a shallow clone is deepened rather than refused
---@field remote? string the remote pushed to (origin)
---@field outcome? string "<service> <version> is <outcome> <env>" on success ("live in")
---@field notify? drun.notify.Notification[] where each outcome is sent (drun.notify)

---@class drun.recipe.StepOptions
---@field description? string
---@field on_failure? string|fun(ctx: drun.Context): string the state the failure leaves (with ${name})
---@field next? string|fun(ctx: drun.Context): string the command to run next when it fails
---@field undo? fun(ctx: drun.Context) what a rollback runs
---@field undo_always? boolean the undo is a local clean-up: it runs whenever a later step fails
---@field read_only? boolean it changes nothing: it runs under --dry-run
---@field verifies? boolean it checks what earlier steps changed: described, not run, under --dry-run
---@field timeout? number seconds
---@field needs? (string|table)[] what it will need, checked before the first step

---What every step (and undo) receives.
---@class drun.Context
---@field params table<string, any> the parameters, validated and converted
---@field recipe string
---@field service string
---@field environment string
---@field version string
---@field full_version string "1.4.1+7"
---@field build_number integer
---@field record_id string the ledger record's id
---@field actor string who runs it
---@field sha string? the commit deployed
---@field branch string?
---@field run_id string? GitHub Actions' run
---@field run_url string?
---@field dry_run boolean
---@field step string the running step's name
---@field ledger drun.ledger.Ledger? the run's ledger (a reader under --dry-run)
---@field ledger_path string
---@field git drun.git.Repo the repository, opened on first use
---@field http drun.http
---@field health drun.health
---@field log drun.log
---@field json drun.json
---@field fs drun.fs
local Context = {}
---drun.proc.run with its output under the step; under --dry-run printed instead unless read-only.
---@param spec drun.proc.Spec
---@return drun.proc.Result
function Context.run(spec) end
---The same through /bin/sh -c.
---@param script string
---@param opts? drun.proc.Spec
---@return drun.proc.Result
function Context.sh(script, opts) end
---fn(ctx, item, i) per item as a task, at most opts.limit (8) at once; results in order.
---@param items any[]
---@param fn fun(ctx: drun.Context, item: any, i: integer): any
---@param opts? { limit?: integer, keep_going?: boolean, timeout?: number, label?: fun(item: any): string, on_item?: fun(status: table) }
---@return any[] results, table[] statuses
function Context.parallel(items, fn, opts) end
---Kept in the ledger record's metadata; ${key} in on_failure, next and rollback_hint.
---@param key string
---@param value any
function Context.set(key, value) end
---@param key string
---@return any
function Context.get(key) end
---A job output ($GITHUB_OUTPUT under GitHub Actions), written at the run's end.
---@param name string
---@param value string|number|boolean
function Context.output(name, value) end
---A required secret from the environment, masked everywhere.
---@param name string
---@return string
function Context.secret(name) end

---A recipe: metadata, parameters and ordered steps.
---@class drun.recipe.Recipe
---@field name string
---@field service string
---@field params table<string, drun.recipe.Param>
---@field steps { name: string, fn: fun(ctx: drun.Context) }[]
local Recipe = {}
---@param name string
---@param opts_or_fn drun.recipe.StepOptions|fun(ctx: drun.Context)
---@param fn? fun(ctx: drun.Context)
---@return drun.recipe.Recipe
function Recipe:step(name, opts_or_fn, fn) end
---Parameter values from "key=value" strings, validated; nil and why (exit 2) when not.
---@param given table<string, string>
---@return table<string, any>?, string?
function Recipe:resolve_params(given) end
---The recipe with what the params choose (environment, approval, lock) resolved.
---@param params table<string, any>
---@return drun.recipe.Recipe
function Recipe:for_run(params) end

local recipe = {}

recipe.Recipe = Recipe
---recipes created while loading a file (one not returned is named)
---@type drun.recipe.Recipe[]
recipe.created = {}

---@param spec drun.recipe.Spec
---@return drun.recipe.Recipe
function recipe.new(spec) end

---@param v any
---@return boolean
function recipe.is_recipe(v) end

---A number as typed on a command line (not hex, inf, nan or beyond 64 bits), or nil and why.
---@param raw string
---@return number?, string?
function recipe.number(raw) end

return recipe
