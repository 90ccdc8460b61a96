-- The sqlite driver of the ledger (a path): one file, WAL, a busy handler
-- with jitter so parallel drun processes queue instead of failing, the
-- schema version in PRAGMA user_version and the file stamped with drun's
-- application_id. A file that is not a drun ledger, or one from a newer drun,
-- is refused before anything is written to it.
local core = require "drun.core.ledger"
local schema = require "drun.ledger.schema"

local M = {}
local APP_ID = 0x6472756e -- "drun"
local NOTADB, CORRUPT, BUSY = 26, 11, 5 -- sqlite result codes

-- Where sqlite's SQL differs from the portable SQL of drun.ledger.policy.
M.dialect = {
  types = function(ty, c)
    if ty == "json" then return "TEXT CHECK (json_valid(" .. c.sql .. "))" end
    return ty == "integer" and "INTEGER" or "TEXT"
  end,
  ms_between = function(from, to)
    return "CAST(round((julianday(" .. to .. ") - julianday(" .. from .. ")) * 86400000) AS INTEGER)"
  end,
  -- key: an SQL expression giving the key's text; value: JSON text
  json_set = function(doc, key, value)
    return "json_set(" .. doc .. ", '$.\"' || replace(" .. key .. ", '\"', '') || '\"', json(" .. value .. "))"
  end,
  greatest = function(a, b) return "max(" .. a .. ", " .. b .. ")" end,
  extra = {
    -- Counts per status kept by triggers in the same transaction as the
    -- change: stats are O(1) however long the history.
    [1] = {
      "CREATE TABLE deployment_counts (service TEXT NOT NULL, environment TEXT NOT NULL, status TEXT NOT NULL,"
        .. " n INTEGER NOT NULL, PRIMARY KEY (service, environment, status)) WITHOUT ROWID",
      "CREATE TRIGGER dh_count_insert AFTER INSERT ON deployment_history BEGIN"
        .. " INSERT INTO deployment_counts VALUES (new.service, new.environment, new.status, 1)"
        .. " ON CONFLICT(service, environment, status) DO UPDATE SET n = n + 1; END",
      "CREATE TRIGGER dh_count_update AFTER UPDATE OF service, environment, status ON deployment_history BEGIN"
        .. " UPDATE deployment_counts SET n = n - 1"
        .. " WHERE service = old.service AND environment = old.environment AND status = old.status;"
        .. " INSERT INTO deployment_counts VALUES (new.service, new.environment, new.status, 1)"
        .. " ON CONFLICT(service, environment, status) DO UPDATE SET n = n + 1; END",
      "CREATE TRIGGER dh_count_delete AFTER DELETE ON deployment_history BEGIN"
        .. " UPDATE deployment_counts SET n = n - 1"
        .. " WHERE service = old.service AND environment = old.environment AND status = old.status; END",
    },
    -- locks of schema 1 count as expired: only a holder on this host, judged
    -- by its pid, keeps one
    [2] = { { sql = "UPDATE locks SET renewed_at = started_at, expires_at = started_at", upgrade_only = true } },
  },
}

local Driver = {}
Driver.__index = Driver

local function refuse(path, why)
  error(string.format("ledger: %s is not a drun ledger (%s); left untouched", path, why), 0)
end

-- Looks at the file before sqlite touches anything.
local function sniff(path)
  local f, err = io.open(path, "rb")
  if not f then
    if err:find("No such file") then return end
    refuse(path, err:gsub("^[^:]*: ", ""))
  end
  local head = f:read(16)
  f:close()
  if head and head ~= "SQLite format 3\0" then refuse(path, "not an SQLite database") end
end

local function writable(path)
  local f = io.open(path, "r+b") -- opening for update changes nothing
  if f then f:close() end
  return f ~= nil
end

-- open(addr, read_only) -> driver, version (the schema version found);
-- addr is drun.ledger.address's {path}
function M.open(addr, read_only)
  local path = addr.path
  if read_only then
    local f, err = io.open(path, "rb")
    if not f then error(string.format("ledger: no ledger at %s (%s)", path, err:gsub("^[^:]*: ", "")), 0) end
    f:close()
  end
  sniff(path)
  local conn, err = core.sqlite(path, read_only and "r" or "w")
  if not conn then error(string.format("ledger: cannot open %s: %s", path, err), 0) end
  local self = setmetatable({ conn = conn, path = path, dialect = M.dialect }, Driver)
  -- One statement, so one snapshot: read separately, another drun creating
  -- the ledger in between would make it look like someone else's database.
  local rows, why, code = conn:query("SELECT (SELECT application_id FROM pragma_application_id) AS app,"
    .. " (SELECT user_version FROM pragma_user_version) AS version, (SELECT count(*) FROM sqlite_master) AS tables")
  if not rows then
    conn:close()
    if code & 0xff == NOTADB or code & 0xff == CORRUPT then refuse(path, "damaged or not a database") end
    error("ledger: cannot read: " .. why, 0)
  end
  local r = rows[1]
  if r.app ~= APP_ID and not (r.app == 0 and r.tables == 0) then
    conn:close()
    refuse(path, "an SQLite database of something else")
  end
  if r.version > schema.VERSION then
    conn:close()
    error(string.format("ledger: %s was written by a newer drun (schema %d, this drun knows %d); upgrade drun; "
                        .. "left untouched", path, r.version, schema.VERSION), 0)
  end
  if read_only and r.version < schema.VERSION and writable(path) then
    conn:close() -- an older ledger is migrated forward on open (losing nothing), a read too
    return M.open(addr, false)
  end
  if read_only then
    if r.version ~= schema.VERSION then
      conn:close()
      error(string.format("ledger: %s has schema %d and is read-only here; a drun with write access migrates it "
                          .. "to %d", path, r.version, schema.VERSION), 0)
    end
    return self, r.version
  end
  -- Switching a new file to WAL takes an exclusive lock, and sqlite answers
  -- SQLITE_BUSY at once, without the busy handler, when other drun are
  -- opening the same new ledger at that moment (50 first runs at once):
  -- that is waited out here, as the busy handler waits out a writer.
  local time = require "drun.time"
  local ok, werr, wcode
  local deadline = time.now() + 60
  repeat
    ok, werr, wcode = conn:exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON")
    local busy = not ok and wcode and wcode & 0xff == BUSY
    if busy then time.sleep(0.005 + math.random() * 0.02) end
  until not busy or time.now() > deadline
  if not ok then
    conn:close()
    error("ledger: cannot write: " .. werr, 0)
  end
  conn:keep_wal()
  return self, r.version
end

function Driver:query(sql, ...) return self.conn:query(sql, ...) end
function Driver:close() self.conn:close() end

function Driver:atomic(fn)
  local ok, err = self.conn:exec("BEGIN IMMEDIATE")
  if not ok then error("ledger: cannot write: " .. err, 0) end
  local done, res = pcall(fn)
  if done then
    ok, err = self.conn:exec("COMMIT")
    if ok then return res end
    res = "ledger: cannot write: " .. err
  end
  self.conn:exec("ROLLBACK")
  error(res, 0)
end

-- migrate(statements_from, to): under the write lock, from the version
-- read again there (another drun may have migrated since we looked)
function Driver:migrate(statements_from, to)
  self:atomic(function()
    local current = self.conn:query("PRAGMA user_version")[1].user_version
    if current >= to then return end
    for _, sql in ipairs(statements_from(current)) do
      local ok, err = self.conn:exec(sql)
      if not ok then error("ledger: cannot write: " .. err, 0) end
    end
    local ok, err = self.conn:exec(string.format("PRAGMA application_id=%d; PRAGMA user_version=%d", APP_ID, to))
    if not ok then error("ledger: cannot write: " .. err, 0) end
  end)
end

return M
