---@meta drun.ledger
-- The module: stdlib/drun/ledger.lua (sqlite, PostgreSQL or Cloudflare D1;
-- the columns are drun.ledger.schema's). Every call raises "ledger: ..." on
-- failure: never deploy unrecorded.

---One deployment.
---@class drun.ledger.Record
---@field id string
---@field service string
---@field environment string
---@field recipe string?
---@field version string
---@field build_number integer
---@field full_version string "1.4.1+7"
---@field git_commit string?
---@field git_branch string?
---@field deployed_at string ISO 8601, UTC
---@field deployed_by string?
---@field finished_at string?
---@field status "running"|"success"|"failed"|"rollback"|"aborted"
---@field duration_ms integer?
---@field workflow_run_id string?
---@field workflow_run_url string?
---@field failed_step string?
---@field error string?
---@field metadata table<string, any> what the steps set (ctx.set)
---@field steps? { seq: integer, name: string, status: string, error: string?, started_at: string, finished_at: string? }[] from record()

---@class drun.ledger.Filter
---@field service? string
---@field environment? string
---@field version? string
---@field status? string
---@field branch? string
---@field since? string
---@field before_id? string
---@field limit? integer (50)
---@field all? boolean every record

---An open ledger (ledger.open, ledger.reader, ctx.ledger).
---@class drun.ledger.Ledger
---@field path string its address as shown (credentials masked)
local Ledger = {}
function Ledger:close() end
---@return integer # writes waiting in this checkout's journal for this ledger
function Ledger:journal_waiting() end
---@return string? # the journal file this run's unsendable writes went to
function Ledger:journaled() end
---@return integer
function Ledger:next_build(service, version) end
---@param t { service: string, environment: string, version: string, recipe?: string, commit?: string, branch?: string, actor?: string, workflow_run_id?: string, workflow_run_url?: string, metadata?: table }
---@return drun.ledger.Record
function Ledger:begin(t) end
---@return integer seq
function Ledger:step_start(id, name) end
function Ledger:step_end(id, seq, status, err) end
---Merged into the record's metadata (any JSON value, secrets masked).
---@param id string
---@param key string
---@param value any
function Ledger:set(id, key, value) end
---@param id string
---@param status "success"|"failed"|"rollback"|"aborted"
---@param opts? { error?: string, failed_step?: string }
function Ledger:finish(id, status, opts) end
---@param filter? drun.ledger.Filter
---@return drun.ledger.Record[] # newest first
function Ledger:history(filter) end
---@param filter? { service?: string, environment?: string, status?: string }
---@return drun.ledger.Record?
function Ledger:latest(filter) end
---What runs where: per (service, environment) the latest success (live) and the latest record (last).
---@return { service: string, environment: string, live?: drun.ledger.Record, last?: drun.ledger.Record }[]
function Ledger:live() end
---The successful deployment before before_id (or the newest).
---@return drun.ledger.Record?
function Ledger:previous_success(service, environment, before_id) end
---What a rollback returns to: after a success, the success before it; after a failure, the newest success.
---@param latest? drun.ledger.Record
---@return drun.ledger.Record?
function Ledger:rollback_target(service, environment, latest) end
---@param ref string id, full version or a unique id prefix
---@return drun.ledger.Record? # with its steps
function Ledger:record(ref) end
---@param filter? { service?: string, environment?: string }
---@return table
function Ledger:stats(filter) end
---@param ref string
---@param reason? string
---@return drun.ledger.Record
function Ledger:mark_rollback(ref, reason) end
---True, or raises a LockHeld error naming the holder; a dead holder's or expired lease is taken over.
---@param opts? { recipe?: string, run_url?: string, wait?: number }
---@return true
function Ledger:lock(service, environment, opts) end
function Ledger:unlock(service, environment) end
---The lease of the lock this handle holds, from now.
function Ledger:renew() end
---@return { service: string, environment: string, pid: integer, host: string, started_at: string, recipe: string?, holder: "alive"|"gone"|"unknown" }[]
function Ledger:locks() end
---drun ledger unlock: releases whoever holds it; one that may still run only with force.
---@param opts? { force?: boolean }
---@return table? # the holder
function Ledger:release(service, environment, opts) end
---One JSON line per deployment, oldest first, with its steps.
---@param write fun(line: string)
---@return integer
function Ledger:export(write) end
---Idempotent by id; a bad line imports nothing.
---@param lines fun(): string?
---@return integer # how many were new
function Ledger:import(lines) end

local ledger = {}

ledger.ADDRESS_FORMS = ""
ledger.LOCK_POLL = 0.25
ledger.SCHEMA_VERSION = 3
---The error a held lock raises: .holder names who holds it.
ledger.LockHeld = {}

---@param address? string a path, postgres://... or d1://ACCOUNT/DATABASE (default ledger.default_path())
---@param opts? { read_only?: boolean } never creates, migrates or writes
---@return drun.ledger.Ledger
function ledger.open(address, opts) end

---A ledger to read history from: one that does not exist yet reads as empty.
---@param address? string
---@return drun.ledger.Ledger
function ledger.reader(address) end

---@param a string
---@return { backend: "sqlite"|"postgres"|"d1", path: string?, shown: string }?, string? why not
function ledger.address(a) end

-----ledger, else $DRUN_LEDGER, else the recipe's `ledger =`, else .drun/ledger.db at the repository root.
---@param flag? string
---@param recipe_ledger? string
---@return string address, string where it came from
function ledger.choose(flag, recipe_ledger) end

---$DRUN_LEDGER, else <repository root>/.drun/ledger.db
---@return string
function ledger.default_path() end

---Seconds a lock's lease lasts (DRUN_LOCK_LEASE, default 120).
---@return number
function ledger.lease() end

---The nearest folder upward holding .git, else start.
---@param start? string
---@return string
function ledger.repo_root(start) end

return ledger
