-- The ledger's policy, written once for every backend (DESIGN.md, "The
-- ledger"): opening and migrating, build numbers, records, steps, metadata,
-- leases, queries, stats, import. It speaks SQL through a driver
-- (drun.ledger.sqlite, .postgres, .d1) that differs only where the databases
-- do; statements are written with ?1..?N parameters and portable SQL, and a
-- driver's `dialect` supplies the few spellings that are not.
--
-- No interactive transaction is needed (D1 has none over HTTP): a build
-- number is one upsert returning it, a step's number one insert-select, a lock
-- a read followed by a compare-and-swap that is retried when it lost a race.
-- Every text written goes through redaction; every failure raises
-- "ledger: ...".
local schema = require "drun.ledger.schema"
local core = require "drun.core.ledger"
local redact = require "drun.redact"
local json = require "drun.json"

local M = {}
local Store = {}
Store.__index = Store

local RECORD = schema.select_list(schema.deployments)
local STEP = schema.select_list(schema.steps)
local LOCK = schema.select_list(schema.locks, true)
local RECENT = 1000 -- percentiles over the most recent successes: a cost that does not grow
local INT64_MAX = math.maxinteger

local function text(s)
  if s == nil then return nil end
  return redact.text(tostring(s))
end

-- new(driver) -> store over an opened driver
function M.new(driver)
  return setmetatable({ db = driver, d = driver.dialect, me = core.self(), steps_of = {} }, Store)
end

-- A write that may run twice, and still means something later: what the
-- journal may keep and send again (not a read, not one handing out a number,
-- not a lease's renewal or takeover: those are only true now).
local function replayable(sql)
  return not sql:match("^%s*SELECT") and not sql:find("RETURNING", 1, true) and not sql:match("^UPDATE locks")
end

local function params_of(...)
  local p = json.array()
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v == nil then v = json.null end
    p[i] = v
  end
  return p
end

-- keep(sql, ...): into the journal (drun.ledger.journal), with whatever the
-- driver still had queued before it
function Store:keep(sql, ...)
  for _, q in ipairs(self.db.drain and self.db:drain() or {}) do self.journal.append(q.sql, q.params) end
  if sql then self.journal.append(sql, params_of(...)) end
end

-- q(what, sql, ...) -> rows, changes; raises "ledger: what: cause". A write
-- that failed because the shared ledger cannot be reached is kept in the
-- journal, and the message says where.
function Store:q(what, sql, ...)
  local rows, changes, code = self.db:query(sql, ...)
  if not rows then
    local msg = "ledger: " .. what .. ": " .. tostring(changes)
    if self.journal and self.db.unreachable and self.db.unreachable(code) and replayable(sql) then
      self:keep(sql, ...)
      msg = string.format("%s; kept in the journal %s (the next drun on this ledger, or drun ledger sync, sends it)",
                          msg, self.journal.path)
    end
    error(msg, 0)
  end
  return rows, changes
end

-- later(what, sql, ...): a write whose result the policy does not need (a
-- step's end, metadata). A driver that pays a round trip per request (D1)
-- sends it with its next request; the others run it now. -> changes, or nil
-- when it was queued.
function Store:later(what, sql, ...)
  if not self.db.later then return select(2, self:q(what, sql, ...)) end
  self.db:later(sql, ...)
  return nil
end

function Store:close()
  local ok, why, code = self.db:close()
  if ok == nil and why then
    if self.journal and self.db.unreachable and self.db.unreachable(code) then
      self:keep()
      why = why .. "; kept in the journal " .. self.journal.path
    end
    require("drun.log").warn("ledger: %s", why)
  end
end

-- ---- opening ----------------------------------------------------------------

-- Records left running by a drun on this host that is gone: counted (dry)
-- or marked aborted, with their running steps.
function Store:reap(dry)
  local n = 0
  local rows = self:q("cannot read", "SELECT id, host, pid, pid_ident FROM deployment_history"
                      .. " WHERE status = 'running' AND host = ?1", self.me.host)
  for _, r in ipairs(rows) do
    if core.alive(r.host, r.pid, r.pid_ident) == "gone" then
      if dry then
        n = n + 1
      else
        local now = core.now()
        local note = string.format("aborted: drun (pid %d on %s) exited without finishing this record (killed?)",
                                   r.pid, r.host)
        -- counted only when still running now: its drun may have finished
        -- it between the read above and the check (then exited)
        local _, changed = self:q("cannot write", "UPDATE deployment_history SET status = 'aborted',"
          .. " finished_at = ?2, error = coalesce(error || '; ', '') || ?3 WHERE id = ?1 AND status = 'running'",
          r.id, now, note)
        if changed ~= 0 then
          n = n + 1
          self:q("cannot write", "UPDATE deployment_steps SET status = 'aborted', finished_at = ?2"
                 .. " WHERE deployment_id = ?1 AND status = 'running'", r.id, now)
        end
      end
    end
  end
  return n
end

-- Brings the schema to schema.VERSION (the driver runs the statements as one
-- unit, reading the version again under its write lock), runs before_reap
-- (a journal's replay: a dead run's own last words come before its reaping)
-- and reaps. Returns how many records were marked aborted.
function Store:prepare(version, before_reap)
  if version < schema.VERSION then
    self.db:migrate(function(current) return schema.migration(current, self.d) end, schema.VERSION)
  end
  if before_reap then before_reap() end
  if self:reap(true) > 0 then return self:reap(false) end
  return 0
end

-- ---- writing ----------------------------------------------------------------

function Store:next_build(service, version)
  -- At the last 64-bit number the counter stops instead of wrapping or
  -- handing out that build number again.
  local rows = self:q("cannot count the build",
    "INSERT INTO deployment_counter (service, version, last_build) VALUES (?1, ?2, 1)"
    .. " ON CONFLICT (service, version) DO UPDATE SET last_build = deployment_counter.last_build + 1"
    .. " WHERE deployment_counter.last_build < " .. INT64_MAX .. " RETURNING last_build",
    text(service), text(version))
  if not rows[1] then
    error(string.format("ledger: no build number is left for %s %s (the last one, %d, is taken): deploy a new "
                        .. "version", service, version, INT64_MAX), 0)
  end
  return rows[1].last_build
end

-- begin{service, environment, version, recipe, commit, branch, actor,
-- workflow_run_id, workflow_run_url, metadata (JSON text)}
function Store:begin(a)
  for _, k in ipairs { "service", "environment", "version" } do
    if type(a[k]) ~= "string" or a[k] == "" then error("ledger: field '" .. k .. "' is required", 0) end
  end
  for _, k in ipairs { "recipe", "commit", "branch", "actor", "workflow_run_id", "workflow_run_url", "metadata" } do
    local v = a[k]
    if v ~= nil and type(v) ~= "string" and type(v) ~= "number" then
      error(string.format("ledger: field '%s' must be a string (got %s)", k, type(v)), 0)
    end
  end
  local build = self:next_build(a.service, a.version)
  local rec = { id = core.new_id(), build_number = build, deployed_at = core.now(),
                full_version = a.version .. "+build." .. build }
  self:q("cannot record the deployment",
    "INSERT INTO deployment_history (id, service, environment, recipe, version, build_number, full_version,"
    .. " git_commit, git_branch, deployed_at, deployed_by, status, workflow_run_id, workflow_run_url, metadata,"
    .. " pid, host, pid_ident) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', ?12, ?13, ?14,"
    .. " ?15, ?16, ?17) ON CONFLICT (id) DO NOTHING",
    rec.id, text(a.service), text(a.environment), text(a.recipe), text(a.version), build,
    text(rec.full_version), text(a.commit), text(a.branch), rec.deployed_at, text(a.actor),
    text(a.workflow_run_id), text(a.workflow_run_url), a.metadata or "{}",
    self.me.pid, self.me.host, self.me.ident)
  self.steps_of[rec.id] = 0 -- its steps are numbered here: nobody else writes them
  return rec
end

function Store:step_start(id, name)
  local n = self.steps_of[id]
  if n then -- a record this run began: its next number is known
    self.steps_of[id] = n + 1
    self:later("cannot record the step", "INSERT INTO deployment_steps (deployment_id, seq, name, status, started_at)"
      .. " VALUES (?1, ?2, ?3, 'running', ?4) ON CONFLICT (deployment_id, seq) DO NOTHING",
      id, n + 1, text(name), core.now())
    return n + 1
  end
  local rows = self:q("cannot record the step",
    "INSERT INTO deployment_steps (deployment_id, seq, name, status, started_at)"
    .. " SELECT ?1, coalesce(max(seq), 0) + 1, ?2, 'running', ?3 FROM deployment_steps"
    .. " WHERE deployment_id = ?1 RETURNING seq", id, text(name), core.now())
  return rows[1].seq
end

-- (changes nil: the write was queued, to be checked when it is sent)
local function changed_one(changes, what, id)
  if changes == 0 then error(string.format("ledger: %s: no deployment %s", what, id), 0) end
  return true
end

function Store:step_end(id, seq, status, err)
  local n = self:later("cannot record the step",
    "UPDATE deployment_steps SET status = ?3, finished_at = ?4, error = ?5, duration_ms = "
    .. self.d.ms_between("started_at", "?4") .. " WHERE deployment_id = ?1 AND seq = ?2",
    id, seq, text(status), core.now(), text(err))
  return changed_one(n, "step_end", id)
end

-- set_meta(id, key, json_value): merged into the record's metadata
function Store:set_meta(id, key, json_value)
  local n = self:later("cannot record metadata",
    "UPDATE deployment_history SET metadata = " .. self.d.json_set("metadata", "?2", "?3") .. " WHERE id = ?1",
    id, text(key):gsub('"', ""), json_value)
  return changed_one(n, "set", id)
end

local FINISHED = { success = true, failed = true, rollback = true, aborted = true }

function Store:finish(id, status, err, failed_step)
  if not FINISHED[status] then
    error(string.format("ledger: a record finishes as success, failed, rollback or aborted (got '%s')",
                        tostring(status)), 0)
  end
  local _, n = self:q("cannot finish the record",
    "UPDATE deployment_history SET status = ?2, error = ?3, failed_step = ?4, finished_at = ?5,"
    .. " deployment_duration = " .. self.d.ms_between("deployed_at", "?5") .. " WHERE id = ?1",
    id, status, text(err), text(failed_step), core.now())
  return changed_one(n, "finish", id)
end

-- resolve(ref) -> id | nil, why: an exact id, else the newest record with
-- that full version, else a unique id prefix
function Store:resolve(ref)
  local rows = self:q("lookup", "SELECT id FROM deployment_history WHERE id = ?1 UNION ALL"
    .. " SELECT id FROM (SELECT id FROM deployment_history WHERE full_version = ?1"
    .. " ORDER BY deployed_at DESC, id DESC LIMIT 1) AS newest", ref)
  if rows[1] then return rows[1].id end
  if #ref >= 4 then -- '~' sorts after every id character
    rows = self:q("lookup", "SELECT id FROM deployment_history WHERE id >= ?1 AND id < ?2 ORDER BY id LIMIT 2",
                  ref:upper(), ref:upper() .. "~")
    if #rows == 1 then return rows[1].id end
    if #rows > 1 then return nil, "ledger: '" .. ref .. "' matches more than one deployment; give more of the id" end
  end
  return nil, "ledger: no deployment with id or full version '" .. ref .. "'"
end

function Store:mark_rollback(ref, reason)
  local id, why = self:resolve(ref)
  if not id then error(why, 0) end
  self:q("cannot mark the rollback",
    "UPDATE deployment_history SET status = 'rollback', metadata = "
    .. self.d.json_set(self.d.json_set("metadata", "'rollback_reason'", "?2"), "'rolled_back_at'", "?3")
    .. " WHERE id = ?1", id, json.encode(text(reason or "")), json.encode(core.now()))
  return id
end

-- ---- locks --------------------------------------------------------------------

-- lock(service, env, recipe, run_url, lease) -> true [, former holder] |
-- false, live holder. former.expired: its lease ran out (another host),
-- else that drun was gone (whatever it left running is stopped).
function Store:lock(service, environment, recipe, run_url, lease)
  local me = self.me
  for _ = 1, 100 do -- a lost race reads again
    local now, expires = core.now(), core.now(lease)
    local args = { service, environment, me.pid, me.host, me.ident, now, text(recipe), text(run_url), expires }
    -- a free lock is taken in one statement (one round trip on D1); a held
    -- one is read and judged
    local _, n = self:q("cannot take the lock",
      "INSERT INTO locks (service, environment, pid, host, pid_ident, started_at, recipe, run_url, renewed_at,"
      .. " expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?6, ?9) ON CONFLICT (service, environment) DO NOTHING",
      table.unpack(args, 1, 9))
    if n > 0 then return true end
    local held = self:q("cannot read locks", "SELECT " .. LOCK .. " FROM locks WHERE service = ?1 AND environment = ?2",
                        service, environment)[1]
    if not held then
      -- released in between: try again
    else
      local mine = held.pid == me.pid and held.host == me.host and held.pid_ident == me.ident
      local alive = mine and "alive" or core.alive(held.host, held.pid, held.pid_ident)
      local expired = alive == "unknown" and (held.expires_at or "") < now
      if not mine and (alive == "alive" or (alive == "unknown" and not expired)) then return false, held end
      -- taken from exactly the holder that was read: a run that got there first wins
      local _, taken = self:q("cannot take the lock",
        "UPDATE locks SET pid = ?3, host = ?4, pid_ident = ?5, started_at = ?6, recipe = ?7, run_url = ?8,"
        .. " renewed_at = ?6, expires_at = ?9 WHERE service = ?1 AND environment = ?2 AND pid = ?10 AND host = ?11"
        .. " AND started_at = ?12", args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9],
        held.pid, held.host, held.started_at)
      if taken > 0 then
        if mine then return true end
        held.expired = expired
        -- the dead run's children may still be deploying: they stop before we start
        held.leftovers = expired and 0 or core.kill_leftovers(held.pid, held.pid_ident, 5)
        return true, held
      end
    end
  end
  error("ledger: cannot take the lock on " .. service .. "/" .. environment .. ": it changed hands 100 times", 0)
end

-- renew(service, env, lease) -> false when the lock is no longer ours
function Store:renew(service, environment, lease)
  local _, n = self:q("cannot renew the lock", "UPDATE locks SET renewed_at = ?5, expires_at = ?6"
    .. " WHERE service = ?1 AND environment = ?2 AND pid = ?3 AND host = ?4",
    service, environment, self.me.pid, self.me.host, core.now(), core.now(lease))
  return n > 0
end

function Store:unlock(service, environment)
  return self:release_lock(service, environment, self.me.pid, self.me.host) or true
end

-- release_lock(service, env, pid, host) -> released: only while pid on host
-- still holds it (a lock taken over since is not touched)
function Store:release_lock(service, environment, pid, host)
  local _, n = self:q("cannot release the lock",
    "DELETE FROM locks WHERE service = ?1 AND environment = ?2 AND pid = ?3 AND host = ?4",
    service, environment, pid, host)
  return n > 0
end

-- locks() -> every lock, with holder = "alive" | "gone" | "unknown"
function Store:locks()
  local rows = self:q("query", "SELECT " .. LOCK .. " FROM locks ORDER BY service, environment")
  for _, l in ipairs(rows) do
    l.holder = core.alive(l.host, l.pid, l.pid_ident)
    l.pid_ident = nil
  end
  return rows
end

-- ---- reading --------------------------------------------------------------------

-- WHERE from fixed fragments for the filters present; values bound as
-- ?1..?7 in a fixed order, so nothing from outside is ever part of the SQL.
local FILTERS = {
  { "service", "service = ?1" }, { "environment", "environment = ?2" }, { "version", "version = ?3" },
  { "status", "status = ?4" }, { "branch", "git_branch = ?5" }, { "since", "deployed_at >= ?6" },
  { "before_id", "(deployed_at, id) < (SELECT deployed_at, id FROM deployment_history WHERE id = ?7)" },
}

local function check_filter(f)
  for _, k in ipairs(FILTERS) do
    local v = f[k[1]]
    if v ~= nil and type(v) ~= "string" and type(v) ~= "number" then
      error(string.format("ledger: field '%s' must be a string (got %s)", k[1], type(v)), 0)
    end
  end
  if f.limit ~= nil and (math.type(f.limit) ~= "integer" or f.limit < 1) then
    error("ledger: limit must be a whole number of at least 1", 0)
  end
end

-- the conditions (without WHERE) and the parameters: only those used are
-- passed, renumbered, so every driver sees ?1..?N without gaps
local function where(f)
  local conds, params = {}, {}
  for _, k in ipairs(FILTERS) do
    local v = f[k[1]]
    if v ~= nil then
      params[#params + 1] = tostring(v)
      conds[#conds + 1] = k[2]:gsub("%?%d", "?" .. #params)
    end
  end
  return conds, params
end

function Store:history(f)
  f = f or {}
  check_filter(f)
  local conds, params = where(f)
  local sql = "SELECT " .. RECORD .. " FROM deployment_history"
      .. (#conds > 0 and " WHERE " .. table.concat(conds, " AND ") or "")
      .. " ORDER BY deployed_at DESC, id DESC" .. (f.limit and " LIMIT " .. f.limit or "")
  return (self:q("query", sql, table.unpack(params)))
end

-- the (service, environment) pairs with a deployment, from the counts the
-- trigger keeps: as many rows as pairs, however long the history
function Store:targets()
  return (self:q("query", "SELECT DISTINCT service, environment FROM deployment_counts WHERE n > 0"
                 .. " ORDER BY service, environment"))
end

function Store:get(id)
  return self:q("query", "SELECT " .. RECORD .. " FROM deployment_history WHERE id = ?1", id)[1]
end

function Store:steps(id)
  return (self:q("query", "SELECT " .. STEP .. " FROM deployment_steps WHERE deployment_id = ?1 ORDER BY seq", id))
end

-- stats(filter) -> {total, success, failed, rollback, aborted, running,
-- latest_version (full), p50_ms, p95_ms (over recent successes)}
function Store:stats(f)
  f = f or {}
  check_filter(f)
  local conds, params = where(f)
  local c = #conds > 0 and table.concat(conds, " AND ") or "1 = 1"
  -- counts from the trigger-kept table when the filter allows (service,
  -- environment): O(1) however long the history; else from the history
  local counts, n, cc = "deployment_history", "1", " AND (" .. c .. ")"
  if not (f.version or f.status or f.branch or f.since or f.before_id) then
    counts, n, cc = "deployment_counts", "n", #conds > 0 and " AND " .. c or ""
  end
  local function count(status)
    return string.format("(SELECT CAST(coalesce(sum(%s), 0) AS BIGINT) FROM %s WHERE 1 = 1%s%s)", n, counts, cc,
                         status and " AND status = '" .. status .. "'" or "")
  end
  local recent = string.format(" FROM (SELECT deployment_duration FROM deployment_history WHERE (%s)"
                               .. " AND status = 'success' ORDER BY deployed_at DESC, id DESC LIMIT %d) AS recent",
                               c, RECENT)
  local function pct(p)
    return string.format("(SELECT deployment_duration%s ORDER BY deployment_duration LIMIT 1"
                         .. " OFFSET (SELECT ((count(*) - 1) * %d) / 100%s))", recent, p, recent)
  end
  local sql = "SELECT " .. count() .. " AS total, " .. count("success") .. " AS success, "
      .. count("failed") .. " AS failed, " .. count("rollback") .. " AS rollback, "
      .. count("aborted") .. " AS aborted, " .. count("running") .. " AS running,"
      .. " (SELECT full_version FROM deployment_history WHERE (" .. c .. ") AND status = 'success'"
      .. " ORDER BY deployed_at DESC, id DESC LIMIT 1) AS latest_version, "
      .. pct(50) .. " AS p50_ms, " .. pct(95) .. " AS p95_ms"
  return self:q("query", sql, table.unpack(params))[1]
end

-- ---- import ---------------------------------------------------------------------

local function import_row(self, t, fields)
  local names, marks, values = {}, {}, {}
  for k, v in pairs(fields) do
    local c = type(k) == "string" and t.by_key[k]
    if not c or c.internal then
      error(string.format("ledger: import: unknown field '%s' in %s", tostring(k), t.name), 0)
    end
    if math.type(v) ~= "integer" and type(v) ~= "string" then
      error(string.format("ledger: import: field '%s' must be a string or an integer", k), 0)
    end
    names[#names + 1] = c.sql
    values[#values + 1] = (type(v) == "string" and c.type ~= "json") and text(v) or v
    marks[#marks + 1] = "?" .. #values
  end
  local _, n = self:q("import", string.format("INSERT INTO %s (%s) VALUES (%s) ON CONFLICT (%s) DO NOTHING", t.name,
                                              table.concat(names, ", "), table.concat(marks, ", "), t.key),
                      table.unpack(values))
  return n > 0
end

function Store:import_deployment(d) return import_row(self, schema.deployments, d) end
function Store:import_step(s) return import_row(self, schema.steps, s) end

-- after an import: the counters move up to what was imported, so the next
-- build continues after it
function Store:import_done()
  self:q("import", "INSERT INTO deployment_counter (service, version, last_build)"
    .. " SELECT service, version, max(build_number) FROM deployment_history GROUP BY service, version"
    .. " ON CONFLICT (service, version) DO UPDATE SET last_build = "
    .. self.d.greatest("deployment_counter.last_build", "excluded.last_build"))
end

-- atomic(fn): fn's writes as one unit where the backend has transactions
function Store:atomic(fn) return self.db:atomic(fn) end

return M
