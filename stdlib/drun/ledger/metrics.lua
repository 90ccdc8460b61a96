-- Delivery metrics (the four DORA keys) from ledger records, per service and
-- environment and over all, within a window of days:
--   deployment frequency  successful deployments per day and per week
--   change failure rate   (failed + rollback) / finished deployments
--   time to restore       a failed or rolled-back deployment's end -> the end
--                         of the next success of the same service and
--                         environment (one not restored yet is "open")
--   lead time for changes the deployed commit's time (metadata.commit_time,
--                         which drun.recipe records) -> the success's end
-- Pure functions over records: drun ledger stats and the dashboard call
-- delivery(db:history{since = ..., all = true}, {days = 30}).
local time = require "drun.time"

local M = { DEFAULT_DAYS = 30, MAX_DAYS = 366 }

local function median(xs)
  if #xs == 0 then return nil end
  table.sort(xs)
  local mid = (#xs + 1) // 2
  if #xs % 2 == 1 then return xs[mid] end
  return (xs[mid] + xs[mid + 1]) // 2
end

local FAILED = { failed = true, rollback = true }

-- the end of a record (ms since the epoch): finished_at, else start + duration
local function ended_ms(r)
  local at = r.finished_at and time.parse(r.finished_at)
  if at then return math.floor(at * 1000) end
  local started = time.parse(r.deployed_at)
  return started and math.floor(started * 1000) + (r.duration_ms or 0)
end

-- one service and environment's records (newest first): counts, and the
-- samples of time to restore and lead time (ms)
local function samples(recs)
  local s = { deployments = 0, successful = 0, failed = 0, restores = {}, leads = {} }
  local waiting -- when the oldest failure not yet restored ended
  for i = #recs, 1, -1 do -- oldest first: a failure is restored by the first success after it
    local r = recs[i]
    if r.status ~= "running" then
      s.deployments = s.deployments + 1
      local at = ended_ms(r)
      if r.status == "success" then
        s.successful = s.successful + 1
        if waiting and at then s.restores[#s.restores + 1] = at - waiting end
        waiting = nil
        local commit = r.metadata and type(r.metadata.commit_time) == "string" and time.parse(r.metadata.commit_time)
        if commit and at and at >= commit * 1000 then s.leads[#s.leads + 1] = at - math.floor(commit * 1000) end
      elseif FAILED[r.status] then
        s.failed = s.failed + 1
        waiting = waiting or at
      end
    end
  end
  s.open_failure = waiting ~= nil
  return s
end

-- counts and samples -> the metrics
local function summary(s, days)
  local finished = s.successful + s.failed
  return {
    deployments = s.deployments, successful = s.successful, failed = s.failed,
    per_day = s.successful / days, per_week = s.successful / days * 7,
    change_failure_rate = finished > 0 and s.failed / finished or nil,
    restored = #s.restores, time_to_restore_ms = median(s.restores), open_failures = s.open_failures,
    with_lead_time = #s.leads, lead_time_ms = median(s.leads),
  }
end

-- delivery(records, {days}) -> {days, groups = {{service, environment, ...}}, all = {...}}
-- records: newest first (as db:history returns them), within the window.
-- The overall medians are over every sample, not the groups' medians.
function M.delivery(records, opts)
  local days = opts and opts.days or M.DEFAULT_DAYS
  local by, order = {}, {}
  for _, r in ipairs(records) do
    local key = r.service .. "\0" .. r.environment
    if not by[key] then
      by[key] = {}
      order[#order + 1] = key
    end
    table.insert(by[key], r)
  end
  table.sort(order)
  local groups = {}
  local all = { deployments = 0, successful = 0, failed = 0, restores = {}, leads = {}, open_failures = 0 }
  for _, key in ipairs(order) do
    local recs = by[key]
    local s = samples(recs)
    s.open_failures = s.open_failure and 1 or 0
    local g = summary(s, days)
    g.service, g.environment = recs[1].service, recs[1].environment
    groups[#groups + 1] = g
    for _, k in ipairs { "deployments", "successful", "failed", "open_failures" } do all[k] = all[k] + s[k] end
    table.move(s.restores, 1, #s.restores, #all.restores + 1, all.restores)
    table.move(s.leads, 1, #s.leads, #all.leads + 1, all.leads)
  end
  return { days = days, groups = groups, all = summary(all, days) }
end

return M
