-- The versioning API's shapes (FLOWS.md §5), in one place: `drun ledger
-- ... --json` prints them and `drun ledger serve` answers them over HTTP.
--   version(rec)            GET /api/version
--   deployments(rows)       GET /api/deployments
--   stats(s, delivery)      GET /api/deployments/stats
--   deployment(rec)         GET /api/deployments/{id} (drun's own: with steps)
-- Keys are camelCase, as the seed's; absent values are null.
local json = require "drun.json"
local schema = require "drun.ledger.schema"
local time = require "drun.time"
local metrics = require "drun.ledger.metrics"

local M = {}

local function or_null(v)
  if v == nil then return json.null end
  return v
end

-- A record in the API's camelCase shape (drun.ledger.schema names each key).
function M.record(r)
  local a = schema.api(schema.deployments, r, json.null)
  a.metadata = json.object(r.metadata or {})
  return a
end

function M.version(rec)
  return {
    success = true, version = rec.version, buildNumber = rec.build_number, fullVersion = rec.full_version,
    gitCommit = or_null(rec.git_commit), gitBranch = or_null(rec.git_branch), deployedAt = rec.deployed_at,
    deployedBy = or_null(rec.deployed_by), status = rec.status,
  }
end

function M.deployments(rows)
  local list = json.array()
  for i, r in ipairs(rows) do list[i] = M.record(r) end
  return { success = true, deployments = list, count = #list }
end

function M.deployment(rec)
  local r = M.record(rec)
  r.steps = json.array()
  for i, s in ipairs(rec.steps or {}) do r.steps[i] = schema.api(schema.steps, s, json.null) end
  return { success = true, deployment = r }
end

-- one group's delivery metrics in the API's camelCase
local function delivery_api(m)
  return {
    deployments = m.deployments, successful = m.successful, failed = m.failed,
    perDay = m.per_day, perWeek = m.per_week, changeFailureRate = or_null(m.change_failure_rate),
    restored = m.restored, timeToRestoreMs = or_null(m.time_to_restore_ms), openFailures = m.open_failures,
    withLeadTime = m.with_lead_time, leadTimeMs = or_null(m.lead_time_ms),
  }
end

-- stats(s, delivery): s from db:stats; delivery from drun.ledger.metrics
-- (optional): the seed's five keys first, then drun's
function M.stats(s, delivery)
  local out = {
    success = true, totalDeployments = s.total, successfulDeployments = s.success,
    failedDeployments = s.failed, latestVersion = or_null(s.latest_version),
    rollbackDeployments = s.rollback, abortedDeployments = s.aborted, runningDeployments = s.running,
    successRate = s.success_rate, durationP50Ms = or_null(s.p50_ms), durationP95Ms = or_null(s.p95_ms),
  }
  if delivery then
    local groups = json.array()
    for i, g in ipairs(delivery.groups) do
      groups[i] = delivery_api(g)
      groups[i].service, groups[i].environment = g.service, g.environment
    end
    out.delivery = { windowDays = delivery.days, all = delivery_api(delivery.all), byServiceEnvironment = groups }
  end
  return out
end

-- ---- query parameters (HTTP) ----------------------------------------------

M.DEFAULT_LIMIT, M.MAX_LIMIT = 50, 1000
M.STATUSES = schema.STATUSES

-- what each endpoint accepts besides its filters
local FILTERS = { "service", "environment", "version", "status", "branch" }
M.PARAMS = {
  version = { service = true, environment = true },
  deployments = { limit = true },
  stats = { days = true },
}
for _, f in ipairs(FILTERS) do M.PARAMS.deployments[f], M.PARAMS.stats[f] = true, true end

-- whole(text, ...) -> the number, or nil and what is allowed
local function whole(text, name, min, max, default)
  if text == nil then return default end
  if not text:match("^%d+$") or #text > 9 or tonumber(text) < min then
    return nil, string.format("%s must be a whole number from %d (default %d)%s", name, min, default,
                              max and (", at most " .. max) or "")
  end
  if max and tonumber(text) > max then return nil, string.format("%s must be at most %d", name, max) end
  return tonumber(text)
end

-- filter(endpoint, query) -> the ledger filter, or nil and the client's
-- mistake (a 400): an unknown parameter, limit=-1/abc/0, a status drun does
-- not write. limit above MAX_LIMIT is capped (a dashboard's "all").
-- Messages never repeat what was sent, only what is allowed. It raises only
-- on drun's own bug, which the server answers as one (500), not as the
-- client's.
function M.filter(endpoint, query)
  local allowed = M.PARAMS[endpoint]
  local names = {}
  for name in pairs(allowed) do names[#names + 1] = name end
  table.sort(names)
  for name in pairs(query) do
    if not allowed[name] then
      return nil, string.format("unknown parameter; this endpoint takes %s", table.concat(names, ", "))
    end
  end
  local f = {}
  for _, k in ipairs(FILTERS) do
    local v = query[k]
    if v ~= nil and v ~= "" then f[k] = v end
  end
  if f.status then
    local known = false
    for _, s in ipairs(M.STATUSES) do known = known or s == f.status end
    if not known then return nil, "status must be one of " .. table.concat(M.STATUSES, ", ") end
  end
  local why
  if allowed.limit then
    f.limit, why = whole(query.limit, "limit", 1, nil, M.DEFAULT_LIMIT)
    if not f.limit then return nil, why end
    f.limit = math.min(f.limit, M.MAX_LIMIT)
  end
  if allowed.days then
    f.days, why = whole(query.days, "days", 1, metrics.MAX_DAYS, metrics.DEFAULT_DAYS)
    if not f.days then return nil, why end
  end
  return f
end

-- delivery(db, filter, days, now) -> drun.ledger.metrics.delivery over the
-- window's records (service/environment filters apply), and those records
-- (newest first: the dashboard charts them)
function M.delivery(db, f, days, now)
  local since = time.utc((now or time.unix()) - days * 86400)
  local rows = db:history { service = f.service, environment = f.environment, since = since, all = true }
  return metrics.delivery(rows, { days = days }), rows
end

return M
