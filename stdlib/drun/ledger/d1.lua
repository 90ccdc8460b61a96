-- The Cloudflare D1 driver of the ledger (d1://ACCOUNT_ID/DATABASE_ID), as
-- the seeds' versioning system kept its history. D1 is sqlite behind an HTTP
-- API, so its SQL is sqlite's (drun.ledger.sqlite's dialect); what differs is
-- the wire.
--
-- The request is POST {base}/accounts/{account}/d1/database/{id}/query with
-- {"sql", "params"}, or {"batch": [{"sql", "params"}, ...]}. The answer is
-- the v4 envelope {success, errors[], result[{results, success, meta{changes}}]}.
-- Parameters go as strings, as Cloudflare's OpenAPI types them (Array<string>).
-- sqlite's column affinity makes them numbers where the column holds numbers.
-- Source: cloudflare/cloudflare-typescript src/resources/d1/database/database.ts,
-- generated from that OpenAPI description: DatabaseQueryParams.D1SingleQuery |
-- MultipleQueries, and QueryResult.meta.changes ("as provided by SQLite's
-- sqlite3_total_changes()").
--
-- Base URL: CLOUDFLARE_API_BASE_URL, else https://api.cloudflare.com/client/v4.
-- The token is CLOUDFLARE_API_TOKEN (a secret, masked everywhere).
-- A 429 was not run, so it is always sent again, after its Retry-After.
-- A 5xx or a lost connection may have run. It is sent again only when running
-- it twice changes nothing more. That is every statement of the policy except
-- the two that hand out a new number (RETURNING).
--
-- D1 has no interactive transactions, and the policy needs none.
-- A migration is one batch (D1 runs a batch as one transaction). Two runners
-- making the schema at once: the second batch fails whole, and the second
-- runner then finds the schema made.
local core = require "drun.core.http"
local json = require "drun.json"
local out = require "drun.core.out"
local time = require "drun.time"
local schema = require "drun.ledger.schema"
local sqlite = require "drun.ledger.sqlite"

local M = { dialect = sqlite.dialect, DEFAULT_BASE = "https://api.cloudflare.com/client/v4", MAX_429 = 5,
            MAX_RETRY_AFTER = 30 }

local Driver = {}
Driver.__index = Driver

local function backoff(attempt) return math.min(5, 0.2 * 2 ^ (attempt - 1)) * (0.5 + math.random()) end

-- what Cloudflare said, as one line: "403, code 7403: The given account ..."
local function answer(resp, doc)
  local e = type(doc) == "table" and type(doc.errors) == "table" and doc.errors[1]
  if type(e) == "table" then
    return string.format("Cloudflare answered %d, code %s: %s", resp.status, tostring(e.code), tostring(e.message))
  end
  return string.format("Cloudflare answered %d: %s", resp.status, (resp.body or ""):sub(1, 200))
end

-- send(body, repeatable) -> result (one entry per statement) | nil, why
function Driver:send(body, repeatable)
  local req = {
    method = "POST", url = self.url, body = json.encode(body), timeout = 30, connect_timeout = 10,
    max_redirects = 0, user_agent = "drun/" .. require("drun.core.build").version,
    headers = { "Accept: application/json", "Authorization: Bearer " .. self.token, "Content-Type: application/json" },
  }
  local limited, failed = 0, 0
  while true do
    self.requests = self.requests + 1
    local resp, err, kind = core.request(req)
    if kind == "interrupted" then error("interrupted", 0) end
    local ok, doc = false, nil
    if resp then ok, doc = pcall(json.decode, resp.body) end
    if resp and resp.status == 200 and ok and type(doc) == "table" and doc.success == true then
      return doc.result
    elseif resp and resp.status == 429 and limited < M.MAX_429 then -- refused, not run
      limited = limited + 1
      local after = tonumber(resp.headers["retry-after"] or resp.headers["Retry-After"] or "") or 1
      time.sleep(math.max(0, math.min(after, M.MAX_RETRY_AFTER)))
    elseif (not resp or resp.status >= 500) and repeatable and failed < 3 then
      failed = failed + 1
      time.sleep(backoff(failed))
    elseif not resp then
      return nil, string.format("cannot reach %s (%s)", self.base, out.redact(err or kind or "?")), "unreachable"
    else
      local gone = resp.status == 429 or resp.status >= 500 -- Cloudflare could not run it now
      return nil, out.redact(answer(resp, ok and doc or nil)), gone and "unreachable" or resp.status
    end
  end
end

local function params_of(...)
  local p = json.array()
  for i = 1, select("#", ...) do
    local v = select(i, ...)
    if v == nil then p[i] = json.null
    elseif type(v) == "boolean" then p[i] = v and "1" or "0"
    else p[i] = tostring(v) end
  end
  return p
end

-- a statement that does nothing more when run twice: all but those that hand
-- out a new number
local function repeatable(sql) return not sql:find("RETURNING", 1, true) end

-- later(sql, ...): a write whose result nobody waits for (a step, metadata)
-- goes out with the next request, in the same batch: a 10-step deployment
-- costs 8 requests instead of 39. A batch runs as one transaction.
function Driver:later(sql, ...)
  self.queue[#self.queue + 1] = { sql = sql, params = params_of(...) }
end

-- query(sql, ...) -> rows, changes | nil, err (the queued writes go first, in
-- the same batch; they stay queued when it fails)
function Driver:query(sql, ...)
  local body, again = { sql = sql, params = params_of(...) }, repeatable(sql)
  if #self.queue > 0 then
    local batch = json.array()
    for i, q in ipairs(self.queue) do
      batch[i] = q
      again = again and repeatable(q.sql)
    end
    batch[#batch + 1] = body
    body = { batch = batch }
  end
  local result, why, code = self:send(body, again)
  if not result then return nil, why, code end
  self.queue = {}
  local r = result[#result] or {}
  local rows = r.results or {}
  for _, row in ipairs(rows) do -- NULL columns are absent, as every driver gives them
    for k, v in pairs(row) do if v == json.null then row[k] = nil end end
  end
  return rows, (r.meta and r.meta.changes) or 0
end

-- close(): what is still queued is sent; -> true | nil, why, code
function Driver:close()
  if #self.queue == 0 then return true end
  local n = #self.queue
  local ok, why, code = self:query("SELECT 1")
  if ok then return true end
  return nil, string.format("%d ledger write(s) could not be sent to %s: %s", n, self.where, why), code
end

-- drain() -> the queued writes ({sql, params}), now no longer queued (for the journal)
function Driver:drain()
  local q = self.queue
  self.queue = {}
  return q
end

-- a failure that says nothing about the statement: the API could not be
-- reached, or could not run it now (429 after its retries, 5xx)
function Driver.unreachable(code) return code == "unreachable" end

-- renewing a lease costs a round trip: renewed when a third of it is gone,
-- not before every step (a lost lock is then seen within that third)
Driver.renew_when_due = true

-- each statement of fn's writes is its own request: D1 has no transaction
-- across requests (the policy is written for that)
function Driver:atomic(fn) return fn() end

function Driver:fail(what, why) error(string.format("ledger: %s: %s: %s", self.where, what, why), 0) end

local LOOK = "SELECT (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'drun_ledger') AS ours,"
    .. " (SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'deployment_history') AS history"
local VERSION_SQL = "SELECT CAST(value AS INTEGER) AS version FROM drun_ledger WHERE key = 'schema_version'"

function Driver:version()
  local rows, why = self:query(LOOK)
  if not rows then self:fail("cannot read", why) end
  if rows[1].ours == 0 then
    if rows[1].history > 0 then
      error(string.format("ledger: %s has a deployment_history table that drun did not make; left untouched "
                          .. "(import its rows with drun ledger import, into a database of its own)", self.where), 0)
    end
    return 0
  end
  rows, why = self:query(VERSION_SQL)
  if not rows then self:fail("cannot read", why) end
  return rows[1] and rows[1].version or 0
end

function Driver:migrate(statements_from, to)
  local current = self:version()
  if current >= to then return end
  local batch = json.array()
  if current == 0 then batch[1] = { sql = "CREATE TABLE drun_ledger (key TEXT PRIMARY KEY, value TEXT NOT NULL)" } end
  for _, sql in ipairs(statements_from(current)) do batch[#batch + 1] = { sql = sql } end
  batch[#batch + 1] = { sql = "INSERT INTO drun_ledger (key, value) VALUES ('schema_version', ?1)"
                          .. " ON CONFLICT (key) DO UPDATE SET value = excluded.value", params = params_of(to) }
  local ok, why = self:send({ batch = batch }, true)
  if ok then return end
  if self:version() >= to then return end -- another runner made it meanwhile
  self:fail("cannot write", why)
end

-- open(addr, read_only) -> driver, version
function M.open(addr, read_only)
  local token = os.getenv("CLOUDFLARE_API_TOKEN")
  if not token or token == "" then
    error(string.format("ledger: %s: CLOUDFLARE_API_TOKEN is not set (a Cloudflare API token allowed to edit D1)",
                        addr.shown), 0)
  end
  out.add_secret(token)
  local base = (os.getenv("CLOUDFLARE_API_BASE_URL") or ""):gsub("/+$", "")
  if base == "" then base = M.DEFAULT_BASE end
  local self = setmetatable({
    token = token, base = base, where = addr.shown, dialect = M.dialect, requests = 0, queue = {},
    url = string.format("%s/accounts/%s/d1/database/%s/query", base, addr.account, addr.database),
  }, Driver)
  local version = self:version()
  if version > schema.VERSION then
    error(string.format("ledger: %s was written by a newer drun (schema %d, this drun knows %d); upgrade drun; "
                        .. "left untouched", addr.shown, version, schema.VERSION), 0)
  end
  if read_only and version == 0 then
    error(string.format("ledger: no ledger at %s (no drun tables in that database yet)", addr.shown), 0)
  end
  return self, version
end

return M
