-- drun.ledger: the record of every deployment, over drun.core.ledger.
--
--   local ledger = require "drun.ledger"
--   local db = ledger.open()                 -- .drun/ledger.db at the repository root
--   local rec = db:begin { service = "cms", environment = "production", version = "1.4.1" }
--   db:set(rec.id, "image_digest", "sha256:...")
--   db:finish(rec.id, "success")
--
-- Every call raises "ledger: ..." on failure (never deploy unrecorded).
-- Records come back with metadata decoded and, from record(), their steps.
-- The policy is drun.ledger.policy, over one driver per backend.
local schema = require "drun.ledger.schema"
local policy = require "drun.ledger.policy"
local json = require "drun.json"
local fs = require "drun.fs"
local time = require "drun.time"
local log = require "drun.log"
local redact = require "drun.redact"
local runtime = require "drun.runtime"
local sqlite = require "drun.ledger.sqlite"
local postgres = require "drun.ledger.postgres"
local journal = require "drun.ledger.journal"
local DRIVERS = { sqlite = sqlite, postgres = postgres, d1 = require "drun.ledger.d1" }

local M = { SCHEMA_VERSION = schema.VERSION, LOCK_POLL = 0.25 }

-- The nearest directory upward from `start` holding .git, else `start`.
function M.repo_root(start)
  local dir = fs.realpath(start or ".")
  local d = dir
  while true do
    if fs.exists(d .. "/.git") then return d end
    if d == "/" then return dir end
    d = fs.dirname(d)
  end
end

-- --ledger PATH (passed in), else $DRUN_LEDGER, else <repo root>/.drun/ledger.db
function M.default_path()
  return (M.choose())
end

-- choose([flag], [recipe_ledger]) -> address, where it came from: --ledger,
-- else $DRUN_LEDGER, else the recipe's `ledger =`, else .drun/ledger.db at
-- the repository root (what is given for one run wins over what a file says)
function M.choose(flag, recipe_ledger)
  if flag and flag ~= "" then return flag, "--ledger" end
  local env = os.getenv("DRUN_LEDGER")
  if env and env ~= "" then return env, "DRUN_LEDGER" end
  if recipe_ledger and recipe_ledger ~= "" then return recipe_ledger, "the recipe's ledger" end
  return M.repo_root() .. "/.drun/ledger.db", "the default"
end

-- The ledger's address (DESIGN.md, "The ledger"): a path is sqlite; a URL
-- names a shared backend. address(a) -> {backend = "sqlite", path} |
-- {backend = "postgres", url} | {backend = "d1", account, database}, or nil
-- and why. A string that looks like a URL is never taken for a file name:
-- DRUN_LEDGER=postgres://... once made a folder named "postgres:".
M.ADDRESS_FORMS = "a path (sqlite), postgres://USER@HOST[:PORT]/DATABASE (or postgresql://), "
  .. "or d1://ACCOUNT_ID/DATABASE_ID"
local UUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

function M.address(a)
  if type(a) ~= "string" or a == "" then return nil, "the ledger address is empty; it is " .. M.ADDRESS_FORMS end
  local scheme, rest = a:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return { backend = "sqlite", path = a, shown = a } end
  scheme = scheme:lower()
  if scheme == "postgres" or scheme == "postgresql" then
    local authority = rest:match("^([^/?#]*)")
    local hostport = authority:match("@([^@]*)$") or authority
    local port = hostport:match("^%[.*%]:(.*)$") or (not hostport:find("^%[") and hostport:match(":(.*)$"))
    postgres.register_secrets(a)
    local shown = postgres.display(a) -- never the password
    if port and not (port:match("^%d+$") and tonumber(port) >= 1 and tonumber(port) <= 65535) then
      return nil, string.format("the ledger address %s has no valid port (%q)", shown, port)
    end
    if a:find("%%%X") or a:find("%%%x%X") or a:find("%%.?$") then
      return nil, "the ledger address " .. shown .. " has a broken %-escape"
    end
    return { backend = "postgres", url = a, shown = shown }
  elseif scheme == "d1" then
    local account, database = rest:match("^([%w-]+)/([^/?#]+)/?$")
    if not account then return nil, "the ledger address " .. a .. " is not d1://ACCOUNT_ID/DATABASE_ID" end
    if not database:match(UUID) then
      return nil, string.format("the ledger address %s: %q is not a D1 database id (a UUID, as `wrangler d1 list` "
                                .. "shows it; not the database's name)", a, database)
    end
    return { backend = "d1", account = account, database = database:lower(), shown = a }
  end
  return nil, string.format("unknown ledger address scheme '%s://'; a ledger is %s", scheme, M.ADDRESS_FORMS)
end

-- the address checked, or an error that says why not
local function checked(a, level)
  local addr, why = M.address(a)
  if not addr then error("ledger: " .. why, level + 1) end
  return addr
end

local Ledger = {}
Ledger.__index = Ledger

local function decode(rec)
  if rec and rec.metadata then rec.metadata = json.decode(rec.metadata) end
  return rec
end

-- open([address] [, {read_only = true}]): read_only for list, show, export:
-- never creates, migrates or writes (a read-only file or a mistyped path).
function M.open(address, opts)
  local addr = checked(address or M.default_path(), 2)
  local read_only = opts and opts.read_only or false
  if addr.backend == "sqlite" and not read_only then
    local dir = fs.dirname(addr.path)
    if not fs.exists(dir) then
      local ok, err = fs.try.mkdir(dir)
      if not ok then error("ledger: cannot create " .. dir .. ": " .. err:gsub("^fs: ", ""), 2) end
      if fs.basename(dir) == ".drun" then fs.try.write(dir .. "/.gitignore", "*\n") end -- ignored wherever it lives
    end
  end
  local ok, driver, version = pcall(DRIVERS[addr.backend].open, addr, read_only)
  if not ok then error(driver, 2) end
  local store = policy.new(driver)
  local shared = addr.backend ~= "sqlite"
  -- a shared ledger's writes that could not be sent wait in this checkout's journal
  if shared then store.journal = journal.new(M.repo_root(), addr.shown) end
  local reaped, sent = 0, 0
  if not read_only or version < schema.VERSION then -- (an older ledger read by who may write it migrates)
    local done, n = pcall(store.prepare, store, version, shared and not read_only and function()
      local files, err
      sent, files, err = journal.replay(M.repo_root(), addr.shown, function(sql, ...)
        local rows, why = driver:query(sql, ...)
        return rows ~= nil, why
      end)
      if sent > 0 then
        log.warn("ledger: sent %d write(s) that an earlier run kept in its journal (%d file(s))", sent, files)
      end
      if err then log.warn("ledger: journaled writes still wait (.drun/journal): %s", err) end
    end)
    if not done then
      store:close()
      error(n, 2)
    end
    reaped = n
  end
  if reaped > 0 then log.warn("ledger: marked %d record(s) of drun runs that died as aborted", reaped) end
  -- path: the address as messages show it (no password); address: to open it again
  return setmetatable({ h = store, path = addr.shown, address = addr.path or addr.url or addr.shown,
                        backend = addr.backend,
                        reaped = reaped, journal_sent = sent,
                        read_only = read_only or nil }, Ledger)
end

-- journal_waiting() -> how many writes wait in this checkout's journal for
-- this ledger (sent by the next drun that opens it for writing, or sync)
function Ledger:journal_waiting()
  if self.backend == "sqlite" then return 0 end
  local n = 0
  for _, w in ipairs(journal.waiting(M.repo_root(), self.path)) do n = n + #w.statements end
  return n
end

-- journaled(): the journal file this run's unsendable writes went to, if any
function Ledger:journaled() return self.h.journal and self.h.journal.path end

-- reader([path]): the history for reading — read-only, or an empty history
-- where no ledger exists yet; never creates, migrates or writes (what a
-- rollback's target lookup and a --dry-run use).
local Empty = {}
Empty.__index = Empty
function Empty.history() return {} end
function Empty.latest() return nil end
function Empty.previous_success() return nil end
function Empty.rollback_target() return nil end
function Empty.record() return nil end
function Empty.close() end
Empty.__close = Empty.close

function M.reader(address)
  local addr = checked(address or M.default_path(), 2)
  if addr.backend == "sqlite" and not fs.exists(addr.path) then
    return setmetatable({ path = addr.shown, empty = true }, Empty)
  end
  local ok, db = pcall(M.open, address or M.default_path(), { read_only = true })
  if ok then return db end
  if addr.backend ~= "sqlite" and tostring(db):find("no drun tables", 1, true) then
    return setmetatable({ path = addr.shown, empty = true }, Empty)
  end
  error(db, 2)
end

function Ledger:close()
  if self.leased then -- no renewal through a closed handle
    self.leased = nil
    time.heartbeat(nil)
  end
  self.h:close()
end
Ledger.__close = Ledger.close

function Ledger:next_build(service, version) return (self.h:next_build(service, version)) end

-- begin{service, environment, version, recipe, commit, branch, actor,
--       workflow_run_id, workflow_run_url, metadata = {...}}
function Ledger:begin(t)
  local args = {}
  for k, v in pairs(t) do args[k] = v end
  if type(t.metadata) == "table" then args.metadata = json.encode(redact.value(json.object(t.metadata))) end
  return (self.h:begin(args))
end

function Ledger:step_start(id, name) return (self.h:step_start(id, name)) end
function Ledger:step_end(id, seq, status, err) return (self.h:step_end(id, seq, status, err)) end

-- set(id, key, value): merged into the record's metadata (any JSON value)
function Ledger:set(id, key, value)
  return (self.h:set_meta(id, key, json.encode(redact.value(value == nil and json.null or value))))
end

function Ledger:finish(id, status, opts)
  opts = opts or {}
  return (self.h:finish(id, status, opts.error, opts.failed_step))
end

-- history{limit = 50, service, environment, version, status, branch, since,
-- before_id}: newest first; all = true for every record.
function Ledger:history(filter)
  local f = { limit = 50 }
  for k, v in pairs(filter or {}) do f[k] = v end
  if f.all then f.limit, f.all = nil, nil end
  local rows = (self.h:history(f))
  for _, r in ipairs(rows) do decode(r) end
  return rows
end

-- latest{service, environment, status}: the newest matching record, or nil
function Ledger:latest(filter)
  local f = {}
  for k, v in pairs(filter or {}) do f[k] = v end
  f.limit = 1
  return self:history(f)[1]
end

-- live() -> {{service, environment, live = the latest success or nil,
-- last = the latest record}}: what runs where, one entry per pair
function Ledger:live()
  local out = {}
  for i, t in ipairs(self.h:targets()) do
    out[i] = { service = t.service, environment = t.environment,
               live = self:latest { service = t.service, environment = t.environment, status = "success" },
               last = self:latest { service = t.service, environment = t.environment } }
  end
  return out
end

-- The successful deployment before `before_id` (or the newest): rollback targets.
function Ledger:previous_success(service, environment, before_id)
  return self:history({ service = service, environment = environment, status = "success",
                        before_id = before_id, limit = 1 })[1]
end

-- rollback_target(service, env, latest) -> what a rollback returns to: when
-- the latest deployment succeeded it is what runs now, so the success before
-- it (nil when there is none: never the latest itself); after a failed or
-- rolled-back one, the newest success
function Ledger:rollback_target(service, environment, latest)
  if latest and latest.status == "success" then return self:previous_success(service, environment, latest.id) end
  return self:previous_success(service, environment)
end

-- record(id or full version or unique id prefix) -> record with steps, or nil
function Ledger:record(ref)
  local id = self.h:resolve(ref)
  if not id then return nil end
  local rec = decode(self.h:get(id))
  rec.steps = (self.h:steps(id))
  return rec
end

function Ledger:stats(filter)
  local s = (self.h:stats(filter or {}))
  local finished = s.success + s.failed + s.rollback + s.aborted
  s.success_rate = finished > 0 and s.success / finished or json.null
  return s
end

function Ledger:mark_rollback(ref, reason)
  local id = (self.h:mark_rollback(ref, reason))
  return self:record(id)
end

-- The error raised while another live drun holds the lock.
local LockHeld = {}
LockHeld.__index = LockHeld
LockHeld.__tostring = function(e) return e.message end
M.LockHeld = LockHeld

local function holder_text(h)
  return string.format("pid %d on %s (recipe %s, since %s%s)", h.pid, h.host,
                       (h.recipe or "") ~= "" and h.recipe or "?", h.started_at,
                       h.run_url and ", " .. h.run_url or "")
end

-- A lock is a lease of DRUN_LOCK_LEASE seconds (default 120), renewed while
-- the run goes on: a third of it at the latest, also while drun waits for a
-- child or sleeps (drun.time.heartbeat). A holder on another host keeps it
-- while its lease runs; on this host, while its drun lives.
function M.lease()
  local v = os.getenv("DRUN_LOCK_LEASE")
  if v == nil or v == "" then return 120 end
  local n = tonumber(v)
  if not n or n <= 0 or n ~= n or n == math.huge then
    error(string.format("ledger: DRUN_LOCK_LEASE must be a number of seconds above 0 (got %q)", v), 0)
  end
  return n
end

-- lock(service, environment, {recipe, run_url, wait = seconds}): true, or
-- raises a LockHeld error naming the holder. A dead holder's lock, or one
-- whose lease ran out, is taken over with a warning naming the holder.
function Ledger:lock(service, environment, opts)
  opts = opts or {}
  local lease = M.lease()
  local deadline = time.now() + (opts.wait or 0)
  while true do
    local ok, holder = self.h:lock(service, environment, opts.recipe, opts.run_url, lease)
    if ok then
      if holder and holder.expired then
        log.warn("ledger: took over the lock on %s/%s from %s: its lease ran out at %s",
                 service, environment, holder_text(holder), holder.expires_at or "?")
      elseif holder then
        log.warn("ledger: took over the lock on %s/%s from %s: that drun is gone%s",
                 service, environment, holder_text(holder),
                 (holder.leftovers or 0) > 0 and string.format("; stopped %d process(es) it had left running",
                                                                holder.leftovers) or "")
      end
      self.leased = { service = service, environment = environment, lease = lease, renewed = time.now() }
      time.heartbeat(function() self:renew() end, lease / 3)
      return true, holder
    end
    if time.now() >= deadline then
      error(setmetatable({
        kind = "lock_held", holder = holder,
        message = string.format("ledger: %s/%s is locked by %s", service, environment, holder_text(holder)),
      }, LockHeld), 2)
    end
    time.sleep(M.LOCK_POLL)
  end
end

function Ledger:unlock(service, environment)
  local l = self.leased
  if l and l.service == service and l.environment == environment then
    self.leased = nil
    time.heartbeat(nil)
  end
  return (self.h:unlock(service, environment))
end

-- renew(): the lease of the lock this handle holds, from now; raises when
-- the lock is no longer ours (taken over after the lease ran out).
function Ledger:renew()
  local l = self.leased
  if not l then return false end
  -- (where a renewal is a round trip, as on D1: once a third of the lease is gone)
  if self.h.db.renew_when_due and time.now() - l.renewed < l.lease / 3 then return true end
  l.renewed = time.now()
  if not (self.h:renew(l.service, l.environment, l.lease)) then
    self.leased = nil
    time.heartbeat(nil)
    error(string.format("ledger: lost the lock on %s/%s: another run took it over (see drun ledger locks)",
                        l.service, l.environment), 2)
  end
  return true
end

-- locks(): every lock held, {service, environment, pid, host, started_at,
-- recipe, holder}, holder being "alive", "gone" (that drun died: the next
-- run takes the lock over) or "unknown" (held from another host).
function Ledger:locks() return (self.h:locks()) end

-- release(service, environment, {force}): drun ledger unlock. Releases the
-- lock whoever holds it and returns that holder (nil: no lock there). A
-- holder that may still run (alive, or on another host) only with force.
function Ledger:release(service, environment, opts)
  for _, lock in ipairs(self:locks()) do
    if lock.service == service and lock.environment == environment then
      if lock.holder ~= "gone" and not (opts and opts.force) then
        local why = lock.holder == "alive" and "which is still running"
            or "on another host, where drun cannot tell whether it still runs"
        error(setmetatable({
          kind = "lock_live", holder = lock,
          message = string.format("ledger: %s/%s is held by %s, %s; --force releases it anyway (that run then "
                                  .. "goes on without the lock)", service, environment, holder_text(lock), why),
        }, LockHeld), 2)
      end
      if not (self.h:release_lock(service, environment, lock.pid, lock.host)) then
        error(string.format("ledger: the lock on %s/%s changed hands while it was being released; "
                            .. "see drun ledger locks", service, environment), 2)
      end
      return lock
    end
  end
  return nil
end

-- export(write): one JSON line per deployment, oldest first, with its steps.
function Ledger:export(write)
  local rows = (self.h:history({}))
  for i = #rows, 1, -1 do
    local r = rows[i]
    r.metadata = json.decode(r.metadata)
    local line = { deployment = r, steps = (self.h:steps(r.id)) }
    for _, s in ipairs(line.steps) do s.deployment_id = r.id end
    line.steps = json.array(line.steps)
    write(json.encode(line) .. "\n")
  end
  return #rows
end

-- import(lines): idempotent by id; returns how many were new. One unit
-- where the backend has transactions: a bad line imports nothing.
function Ledger:import(lines)
  return self.h:atomic(function()
    local added, n = 0, 0
    for line in lines do
      n = n + 1
      if line:find("%S") then
        local ok_line, rec = pcall(json.decode, line)
        if not ok_line or type(rec) ~= "table" or type(rec.deployment) ~= "table" then
          error(string.format("ledger: import: line %d is not a deployment record%s", n,
                              ok_line and "" or " (" .. tostring(rec) .. ")"), 0)
        end
        local d = rec.deployment
        if type(d.metadata) == "table" then d.metadata = json.encode(redact.value(d.metadata)) end
        if self.h:import_deployment(d) then
          added = added + 1
          for _, s in ipairs(rec.steps or {}) do
            s.deployment_id = d.id
            self.h:import_step(s)
          end
        end
      end
    end
    self.h:import_done()
    return added
  end)
end

-- The dry-run gate for ledger writes (DESIGN.md: one gate): under --dry-run
-- each says what it would record and returns what a recipe needs to go on.
local WOULD = {
  begin = function(_, t)
    runtime.would("record %s %s → %s in the ledger", tostring(t.service), tostring(t.version), tostring(t.environment))
    return { id = "dry-run", build_number = 0, full_version = tostring(t.version) .. "+build.?" }
  end,
  set = function(_, id, key) runtime.would("record %s in the ledger record %s", tostring(key), tostring(id)); return true end,
  finish = function(_, id, status) runtime.would("close the ledger record %s as %s", tostring(id), tostring(status)); return true end,
  step_start = function() return 0 end,
  step_end = function() return true end,
  mark_rollback = function(self, ref, reason)
    runtime.would("mark %s rollback in the ledger%s", tostring(ref), reason and (": " .. reason) or "")
    return self:record(ref)
  end,
  lock = function(_, service, environment) runtime.would("lock %s/%s", service, environment); return true end,
  unlock = function() return true end,
  renew = function() return true end,
  import = function() runtime.would("import into the ledger"); return 0 end,
}
for name, would in pairs(WOULD) do
  local write = Ledger[name]
  Ledger[name] = function(self, ...)
    if runtime.dry_run then return would(self, ...) end
    return write(self, ...)
  end
  Empty[name] = function(self, ...) -- a reader with no ledger behind it records nothing
    if runtime.dry_run then return would(self, ...) end
    error("ledger: no ledger at " .. self.path .. " (a read-only view)", 2)
  end
end

return M
