-- The PostgreSQL driver of the ledger (postgres:// and postgresql:// URLs):
-- one history for every CI runner and laptop of a team. libpq is loaded on
-- first use; TLS is whatever the URL's sslmode asks of libpq. The password
-- (in the URL or PGPASSWORD) is registered for redaction and never shown:
-- messages name the address as display() writes it.
--
-- The schema version lives in the table drun_ledger (PostgreSQL has no
-- user_version); migrations run in one transaction under an advisory lock,
-- so two runners opening a new database at once create it once.
local core = require "drun.core.pq"
local out = require "drun.core.out"
local schema = require "drun.ledger.schema"

local M = {}

M.dialect = {
  types = function(ty) return ty == "integer" and "BIGINT" or "TEXT" end,
  ms_between = function(from, to)
    -- (a parameter read as text first: it is also written to a text column)
    local function at(x) return "CAST(CAST(" .. x .. " AS TEXT) AS timestamptz)" end
    return "CAST(round(EXTRACT(EPOCH FROM (" .. at(to) .. " - " .. at(from) .. ")) * 1000) AS BIGINT)"
  end,
  -- key: an SQL expression giving the key's text; value: JSON text
  json_set = function(doc, key, value)
    return "CAST(jsonb_set(CAST(" .. doc .. " AS jsonb), ARRAY[replace(CAST(" .. key .. " AS TEXT), '\"', '')],"
        .. " CAST(" .. value .. " AS jsonb)) AS TEXT)"
  end,
  greatest = function(a, b) return "greatest(" .. a .. ", " .. b .. ")" end,
  extra = {
    -- counts per status kept by a trigger in the same transaction as the
    -- change (as sqlite's): stats do not count the whole history
    [1] = {
      "CREATE TABLE deployment_counts (service TEXT NOT NULL, environment TEXT NOT NULL, status TEXT NOT NULL,"
        .. " n BIGINT NOT NULL, PRIMARY KEY (service, environment, status))",
      [[CREATE FUNCTION drun_deployment_count() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN
    UPDATE deployment_counts SET n = n - 1
     WHERE service = OLD.service AND environment = OLD.environment AND status = OLD.status;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN
    INSERT INTO deployment_counts VALUES (NEW.service, NEW.environment, NEW.status, 1)
    ON CONFLICT (service, environment, status) DO UPDATE SET n = deployment_counts.n + 1;
  END IF;
  RETURN NULL;
END $fn$]],
      "CREATE TRIGGER dh_count AFTER INSERT OR DELETE OR UPDATE OF service, environment, status"
        .. " ON deployment_history FOR EACH ROW EXECUTE FUNCTION drun_deployment_count()",
    },
  },
}

-- The address as messages show it: the password masked.
function M.display(url)
  return (url:gsub("^(%a[%w+.-]*://[^:/@]*:)[^@/]*@", "%1***@"))
end

local function unescape(s) return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end)) end

-- the password of the URL (userinfo or ?password=) and PGPASSWORD, as
-- secrets: masked in every output from the moment the address is read
function M.register_secrets(url)
  local pw = url:match("^%a[%w+.-]*://[^:/@]*:([^@/]*)@")
  local q = url:match("[?&]password=([^&#]*)")
  for _, p in ipairs { pw, q, os.getenv("PGPASSWORD") } do
    if p and p ~= "" then
      out.add_secret(p)
      out.add_secret(unescape(p))
    end
  end
end

local Driver = {}
Driver.__index = Driver

-- ?N -> $N, once per statement text
local translated = setmetatable({}, { __mode = "k" })
local function pg(sql)
  local t = translated[sql]
  if not t then
    t = sql:gsub("%?(%d+)", "$%1")
    translated[sql] = t
  end
  return t
end

function Driver:query(sql, ...) return self.conn:query(pg(sql), ...) end

-- SQLSTATE class 08 (connection exception) and 57P01-57P03 (the server shut
-- down or cannot take connections now): nothing about the statement itself
function Driver.unreachable(state)
  return type(state) == "string" and (state:sub(1, 2) == "08" or state:match("^57P0[123]") ~= nil)
end
function Driver:close() self.conn:close() end

function Driver:fail(what, err, state)
  error(string.format("ledger: %s: %s (%s)", what, err, state and ("SQLSTATE " .. state) or self.where), 0)
end

function Driver:atomic(fn)
  local ok, err, state = self.conn:query("BEGIN")
  if not ok then self:fail("cannot write", err, state) end
  local done, res = pcall(fn)
  if done then
    ok, err, state = self.conn:query("COMMIT")
    if ok then return res end
    res = string.format("ledger: cannot write: %s (SQLSTATE %s)", err, state)
  end
  self.conn:query("ROLLBACK")
  error(res, 0)
end

local VERSION_SQL = "SELECT CAST(value AS BIGINT) AS version FROM drun_ledger WHERE key = 'schema_version'"

-- the schema version, 0 for a database without a drun ledger in it
local TABLES_SQL = "SELECT to_regclass('drun_ledger') IS NOT NULL AS ours,"
  .. " to_regclass('deployment_history') IS NOT NULL AS history"
local MIGRATE_LOCK = "6972312605851706734"

function Driver:version()
  local rows, err, state = self.conn:query(TABLES_SQL)
  if not rows then self:fail("cannot read", err, state) end
  if rows[1].history and not rows[1].ours then
    -- Either a foreign table, or another drun's first migration committing
    -- between the two to_regclass() calls (each may see a newer catalog).
    -- Wait until no migrator holds the lock, then look again in a new
    -- transaction: only a transaction's start takes in the catalog changes
    -- committed meanwhile (a name looked up and not found stays cached).
    self:atomic(function()
      local ok, e, st = self.conn:query("SELECT pg_advisory_xact_lock(" .. MIGRATE_LOCK .. ")")
      if not ok then self:fail("cannot read", e, st) end
    end)
    rows, err, state = self.conn:query(TABLES_SQL)
    if not rows then self:fail("cannot read", err, state) end
  end
  if not rows[1].ours then
    if rows[1].history then
      error(string.format("ledger: %s has a deployment_history table that drun did not make; left untouched "
                          .. "(give drun a database, or a schema with ?options=-csearch_path%%3DNAME)", self.where), 0)
    end
    return 0
  end
  rows, err, state = self.conn:query(VERSION_SQL)
  if not rows then self:fail("cannot read", err, state) end
  return rows[1] and rows[1].version or 0
end

function Driver:migrate(statements_from, to)
  self:atomic(function()
    -- one migrator at a time: the others wait here, then find it done
    local ok, err, state = self.conn:query("SELECT pg_advisory_xact_lock(" .. MIGRATE_LOCK .. ")")
    if not ok then self:fail("cannot write", err, state) end
    ok, err, state = self.conn:query("CREATE TABLE IF NOT EXISTS drun_ledger (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    if not ok then self:fail("cannot write", err, state) end
    local rows = self.conn:query(VERSION_SQL)
    local current = rows and rows[1] and rows[1].version or 0
    if current >= to then return end
    for _, sql in ipairs(statements_from(current)) do
      ok, err, state = self.conn:query(sql)
      if not ok then self:fail("cannot write", err, state) end
    end
    ok, err, state = self.conn:query("INSERT INTO drun_ledger (key, value) VALUES ('schema_version', $1)"
      .. " ON CONFLICT (key) DO UPDATE SET value = excluded.value", tostring(to))
    if not ok then self:fail("cannot write", err, state) end
  end)
end

-- open(addr, read_only) -> driver, version (addr: drun.ledger.address's {url}). Unreachable, a wrong password, a
-- database from a newer drun: an error naming the address without its
-- password, nothing written.
function M.open(addr, read_only)
  local url = addr.url
  M.register_secrets(url)
  local where = M.display(url)
  local conn, err = core.connect(url, tonumber(os.getenv("DRUN_LEDGER_TIMEOUT") or "") or 10)
  if not conn then error(string.format("ledger: cannot reach %s: %s", where, out.redact(err)), 0) end
  local self = setmetatable({ conn = conn, where = where, dialect = M.dialect }, Driver)
  local ok, version = pcall(self.version, self)
  if not ok then
    conn:close()
    error(version, 0)
  end
  if version > schema.VERSION then
    conn:close()
    error(string.format("ledger: %s was written by a newer drun (schema %d, this drun knows %d); upgrade drun; "
                        .. "left untouched", where, version, schema.VERSION), 0)
  end
  if read_only and version == 0 then
    conn:close()
    error(string.format("ledger: no ledger at %s (no drun tables in that database yet)", where), 0)
  end
  return self, version
end

return M
