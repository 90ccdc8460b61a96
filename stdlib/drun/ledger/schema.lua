-- The ledger's schema, described once (DESIGN.md, "The ledger"): each
-- column's SQL name, the key records carry in Lua, the key of the versioning
-- API's JSON (drun ledger --json), its type, and the schema version that
-- brought it. Tables, migrations, select lists, imports and the API shape are
-- all made from this; adding a column is one line here.
--
-- deployment_history is a superset of the seed's versioning system, with its
-- column names (deployment_duration, git_commit, deployed_by, ...), so its
-- `wrangler d1 execute` queries work against a drun ledger.
local M = { VERSION = 3 }

-- a record's statuses: running, then how it ended (one list: the column's
-- CHECK, the CLI's --status choices, the API's status filter, notify's `on`)
M.STATUSES = { "running", "success", "failed", "rollback", "aborted" }

-- {sql, type, key = Lua key (default sql), api = API key (default camelCase
-- of key; false: not in the API), internal = true (this host's bookkeeping:
-- never exported or imported), null = false (NOT NULL), since = version
-- (default 1), renamed = former SQL name, pk = true, default, check}
local function cols(t)
  for _, c in ipairs(t) do
    c.sql, c.type = c[1], c[2]
    c.key = c.key or c.sql
    if c.api == nil then c.api = c.key:gsub("_(%l)", string.upper) end
    c.since = c.since or 1
  end
  return t
end

M.tables = {
  {
    name = "deployment_history", key = "id",
    columns = cols {
      { "id", "text", null = false, pk = true },
      { "service", "text", null = false },
      { "environment", "text", null = false },
      { "recipe", "text" },
      { "version", "text", null = false },
      { "build_number", "integer", null = false },
      { "full_version", "text", null = false },
      { "git_commit", "text" },
      { "git_branch", "text" },
      { "deployed_at", "text", null = false },
      { "deployed_by", "text" },
      { "finished_at", "text" },
      { "status", "text", null = false,
        check = "status IN ('" .. table.concat(M.STATUSES, "','") .. "')" },
      { "deployment_duration", "integer", key = "duration_ms", renamed = "duration_ms", since = 3 },
      { "workflow_run_id", "text" },
      { "workflow_run_url", "text" },
      { "failed_step", "text" },
      { "error", "text" },
      { "metadata", "json", null = false, default = "'{}'" },
      -- who is running it (a record left running by a dead drun is aborted)
      { "pid", "integer", api = false, internal = true },
      { "host", "text", api = false, internal = true },
      { "pid_ident", "text", api = false, internal = true },
    },
    indexes = {
      -- newest first, ties broken by id, each covering what its queries read
      dh_time = "deployed_at, id",
      dh_env_time = "environment, deployed_at, id",
      dh_svc_env_status_time = "service, environment, status, deployed_at, id, deployment_duration, version",
      dh_status_time = "status, deployed_at, id, deployment_duration, version",
      dh_full_version = "full_version",
    },
  },
  {
    name = "deployment_steps", key = "deployment_id, seq",
    columns = cols {
      { "deployment_id", "text", null = false, references = "deployment_history(id)", api = false },
      { "seq", "integer", null = false },
      { "name", "text", null = false },
      { "status", "text", null = false },
      { "started_at", "text", null = false },
      { "finished_at", "text" },
      { "duration_ms", "integer" },
      { "error", "text" },
    },
  },
  {
    -- the last build number per (service, version), moved by one upsert
    name = "deployment_counter", key = "service, version",
    columns = cols {
      { "service", "text", null = false },
      { "version", "text", null = false },
      { "last_build", "integer", null = false },
    },
  },
  {
    -- one lease per (service, environment)
    name = "locks", key = "service, environment",
    columns = cols {
      { "service", "text", null = false },
      { "environment", "text", null = false },
      { "pid", "integer", null = false },
      { "host", "text", null = false },
      { "pid_ident", "text", api = false },
      { "started_at", "text", null = false, api = "acquiredAt" },
      { "recipe", "text" },
      { "run_url", "text", since = 2 },
      { "renewed_at", "text", since = 2 },
      { "expires_at", "text", since = 2 },
    },
  },
}

M.by_name = {}
for _, t in ipairs(M.tables) do
  M.by_name[t.name] = t
  t.by_key = {}
  for _, c in ipairs(t.columns) do t.by_key[c.key] = c end
end
M.deployments, M.steps, M.counter, M.locks = M.by_name.deployment_history, M.by_name.deployment_steps,
    M.by_name.deployment_counter, M.by_name.locks

-- "sql AS key, ..." for the columns the API shows (a record as Lua sees it)
function M.select_list(t, all)
  local parts = {}
  for _, c in ipairs(t.columns) do
    if all or c.api then
      parts[#parts + 1] = c.sql == c.key and c.sql or (c.sql .. " AS " .. c.key)
    end
  end
  return table.concat(parts, ", ")
end

-- CREATE TABLE for the current schema; types(type, column) gives the dialect's
local function create(t, types)
  local defs = {}
  for _, c in ipairs(t.columns) do
    local d = c.sql .. " " .. types(c.type, c)
    if c.null == false then d = d .. " NOT NULL" end
    if c.default then d = d .. " DEFAULT " .. c.default end
    if c.check then d = d .. " CHECK (" .. c.check .. ")" end
    if c.references then d = d .. " REFERENCES " .. c.references end
    defs[#defs + 1] = d
  end
  defs[#defs + 1] = "PRIMARY KEY (" .. t.key .. ")"
  return string.format("CREATE TABLE %s (%s)", t.name, table.concat(defs, ", "))
end

local function indexes(t, out)
  local names = {}
  for name in pairs(t.indexes or {}) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do
    out[#out + 1] = string.format("CREATE INDEX %s ON %s(%s)", name, t.name, t.indexes[name])
  end
end

-- The statements that take a database at schema `from` (0: empty) to
-- VERSION, for a dialect {types = fn, extra = {[version] = {stmts}}}: new
-- tables whole, new columns added, renamed ones renamed, and the dialect's
-- own statements (triggers, data fixes) of each version.
function M.migration(from, dialect)
  local out = {}
  for _, t in ipairs(M.tables) do
    if from == 0 then
      out[#out + 1] = create(t, dialect.types)
      indexes(t, out)
    else
      for _, c in ipairs(t.columns) do
        if c.since > from and c.renamed then
          out[#out + 1] = string.format("ALTER TABLE %s RENAME COLUMN %s TO %s", t.name, c.renamed, c.sql)
        elseif c.since > from then
          out[#out + 1] = string.format("ALTER TABLE %s ADD COLUMN %s %s", t.name, c.sql, dialect.types(c.type, c))
        end
      end
    end
  end
  for v = from == 0 and 1 or from + 1, M.VERSION do
    for _, s in ipairs((dialect.extra or {})[v] or {}) do
      if from > 0 or not s.upgrade_only then out[#out + 1] = s.sql or s end
    end
  end
  return out
end

-- A record (Lua keys) in the API's camelCase shape; null stands for absent.
function M.api(t, row, null)
  local r = {}
  for _, c in ipairs(t.columns) do
    if c.api then
      local v = row[c.key]
      if v == nil then v = null end
      r[c.api] = v
    end
  end
  return r
end

return M
