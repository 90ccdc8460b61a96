-- The Docker Compose restart flow (FLOWS.md §3): pull on the server, rebuild
-- and restart, migrate inside the container, check health — with the
-- restart gap measured and every failure telling what is running now.
local recipe = require "drun.recipe"
local compose = require "drun.compose"
local health = require "drun.health"
local proc = require "drun.proc"
local fs = require "drun.fs"
local time = require "drun.time"

local M = {}
local DRUN = proc.which(arg[-1])
local stop_gap_poller -- set by the restart step, called by the health step

local function git(c, ctx, ...) return compose.sh(c.server, { "git", ... }, { run = ctx.run }) end
-- what only reads (status, rev-parse) runs under --dry-run too
local function read_git(c, ctx, ...) return compose.sh(c.server, { "git", ... }, { run = ctx.run, read_only = true }) end
local function quiet_git(c, ...) return compose.sh(c.server, { "git", ... }, { check = false, read_only = true }) end

-- The restart gap: a drun in the background polls the health URL and writes
-- each up/down transition with its time; the gap is from the first "down"
-- to the next "up".
-- It exits by itself when the drun that started it is gone (a run that
-- failed between restart and health never stops it) and after 15 minutes.
local POLLER = [[
  local http, time, fs = require 'drun.http', require 'drun.time', require 'drun.fs'
  local out, last, parent, deadline = io.open(arg[1], 'w'), nil, '/proc/' .. arg[3], time.now() + 900
  while fs.exists(parent) and time.now() < deadline do
    local r = http.get(arg[2], { timeout = 0.5, connect_timeout = 0.5, check = false })
    local up = r ~= nil and r.status < 500
    if up ~= last then out:write(string.format('%s %.3f\n', up and 'up' or 'down', time.unix())); out:flush(); last = up end
    time.sleep(0.02)
  end]]

local function start_gap_poller(url)
  local dir = fs.tmpdir("drun-gap")
  local pid = proc.run { "sh", "-c", '"$0" -e "$1" "$2" "$3" "$4" >/dev/null 2>&1 & echo $!', DRUN, POLLER,
                         dir .. "/gap", url, tostring(proc.pid()), read_only = true }.stdout:match("%d+")
  for _ = 1, 100 do -- until its first observation
    if (fs.try.read(dir .. "/gap") or "") ~= "" then break end
    time.sleep(0.01)
  end
  return function()
    proc.run { "kill", pid, check = false, read_only = true }
    local down, gap
    for state, t in (fs.try.read(dir .. "/gap") or ""):gmatch("(%a+) ([%d.]+)") do
      if state == "down" and not down then down = tonumber(t) end
      if state == "up" and down and not gap then gap = tonumber(t) - down end
    end
    fs.remove(dir, true)
    return gap and math.floor(gap * 1000 + 0.5) or 0
  end
end

-- the URLs the health step checks (health_urls, or the one health_url); the
-- first is where the restart gap is measured
local function urls(c) return c.health_urls or { c.health_url } end

-- Every service of the project up: running, healthy where it has a
-- healthcheck (a worker that crashed at start is not hidden by a healthy
-- web service); "starting" healthchecks are waited for, as long as the
-- health attempts last.
local function services_healthy(c, ctx)
  local deadline = time.now() + c.health.attempts * c.health.interval
  while true do
    local problems, waiting, notes = compose.unhealthy(c.server, { run = ctx.run })
    if #problems == 0 and #waiting == 0 then
      for _, n in ipairs(notes) do ctx.log.warn("%s: drun can only check that it runs", n) end
      ctx.set("services", #notes > 0 and ("healthy; " .. table.concat(notes, "; ")) or "healthy")
      return
    end
    if #problems > 0 or time.now() >= deadline then
      for _, w in ipairs(waiting) do problems[#problems + 1] = w .. ": healthcheck still starting" end
      local first = problems[1]:match("^([^:]+)")
      ctx.log.warn("the last %d log lines of %s:\n%s", c.logs_tail, first,
                   compose.logs(c.server, { service = first, tail = c.logs_tail }))
      error("not every service is healthy: " .. table.concat(problems, "; "), 0)
    end
    time.sleep(math.min(1, c.health.interval))
  end
end

local function old_still_serving(c)
  local p = health.probe(urls(c)[1], { expect_json = c.expect_json, timeout = 5 })
  return p.ok and "verified: it answers its health check" or ("NOT verified: its health check says " .. p.reason)
end

local function checkout(c, ctx, commit)
  local dirty = quiet_git(c, "status", "--porcelain", "--untracked-files=no")
  if dirty.code ~= 0 then error((dirty.stderr:gsub("%s+$", "")), 0) end
  if dirty.stdout ~= "" then
    error(string.format("the checkout on %s has local changes; refusing to deploy over them:\n%s", c.server.host,
                        dirty.stdout:gsub("%s+$", "")), 0)
  end
  ctx.set("previous_commit", read_git(c, ctx, "rev-parse", "HEAD").stdout:match("%x+"))
  local moved
  if commit then
    git(c, ctx, "fetch", "-q", "origin")
    moved = git(c, ctx, "reset", "-q", "--hard", commit)
  else
    moved = git(c, ctx, "pull", "--ff-only", "-q", "origin", c.branch)
  end
  local now = read_git(c, ctx, "rev-parse", "HEAD").stdout:match("%x+")
  -- the server must run what was asked for (unless the move was only described: --dry-run)
  if not now or (commit and not moved.dry_run and now:sub(1, #commit) ~= commit:lower()) then
    error(string.format("%s is at %s, not at %s after the checkout", c.server.host, tostring(now), commit), 0)
  end
  ctx.set("server_commit", now)
  ctx.log.info("%s now at %s (was %s)", c.server.host, now:sub(1, 12), (ctx.get("previous_commit") or "?"):sub(1, 12))
end

-- back to the commit the server ran before, rebuilt and restarted
local function redeploy_previous(c, ctx)
  local previous = ctx.get("previous_commit")
  if not previous then return end
  git(c, ctx, "reset", "-q", "--hard", previous)
  compose.up(c.server, { build = true, wait = true, wait_timeout = 120, run = ctx.run })
end

local function add_steps(r, c, opts)
  r:step("checkout", {
    description = "on the server: refuse a dirty checkout, pull " .. c.branch .. " (fast-forward only)",
    on_failure = "nothing restarted: the server still runs its previous commit; resolve the checkout, then retry",
    undo = function(ctx) if ctx.get("previous_commit") then git(c, ctx, "reset", "-q", "--hard", ctx.get("previous_commit")) end end,
  }, function(ctx) checkout(c, ctx, opts.commit and opts.commit(ctx)) end)

  r:step("restart", {
    description = "docker compose up -d --build, the gap measured",
    on_failure = function() return "the new code is not running: the old container is still serving (" .. old_still_serving(c) .. ")" end,
    undo = function(ctx) redeploy_previous(c, ctx) end,
  }, function(ctx)
    -- the poller runs until the health step has its verdict (the gap ends
    -- when the new app is healthy)
    stop_gap_poller = start_gap_poller(urls(c)[1])
    local ok, err = pcall(compose.up, c.server, { build = true, run = ctx.run })
    if ok then -- up, and the app answering at all (health is the next step's business); 502-504
      local any = {}  -- are the reverse proxy's own answers while the app is down, not the app's
      for s = 100, 599 do if s < 502 or s > 504 then any[#any + 1] = s end end
      ok, err = pcall(health.wait, { url = urls(c)[1], attempts = 240, interval = 0.25, timeout = 2, expect_status = any })
    end
    if not ok then
      stop_gap_poller()
      stop_gap_poller = nil
      error(err, 0)
    end
  end)

  if opts.migrate then
    r:step("migrate", {
      description = "migrations inside the running container",
      on_failure = "the new code is running against the old schema: roll back now (drun recipes/compose-rollback.lua --yes)",
    }, function(ctx) compose.exec(c.server, { service = c.service, argv = c.migrate, run = ctx.run }) end)
  end

  r:step("health", {
    description = "GET " .. table.concat(urls(c), ", ") .. " expecting " .. require("drun.json").encode(c.expect_json)
                  .. "; every compose service running and healthy",
    on_failure = "the new code is live and not healthy: roll back (drun recipes/compose-rollback.lua --yes)",
    verifies = true,
  }, function(ctx)
    local ok, err
    for _, url in ipairs(urls(c)) do
      ok, err = pcall(health.wait, { url = url, expect_json = c.expect_json,
                                     attempts = c.health.attempts, interval = c.health.interval })
      if not ok then break end
    end
    if stop_gap_poller then
      local gap = stop_gap_poller()
      stop_gap_poller = nil
      ctx.set("restart_gap_ms", gap)
      ctx.log.info("restart gap: %d ms from the old app's last answer to the new app healthy", gap)
    end
    if not ok then
      ctx.log.warn("the last %d log lines of %s:\n%s", c.logs_tail, c.service,
                   compose.logs(c.server, { service = c.service, tail = c.logs_tail }))
      error(err, 0)
    end
    services_healthy(c, ctx)
  end)
end

function M.restart(c)
  local r = recipe.new {
    name = "compose-restart", service = c.service, environment = c.environment,
    description = "pull, rebuild and restart on " .. c.server.host .. ", migrate, check health",
    version = function(ctx) return ctx.sha and ctx.sha:sub(1, 12) or "unknown" end,
    rollback_hint = "drun recipes/compose-rollback.lua --yes",
  }
  r:step("test", { description = "the test gate", on_failure = "nothing restarted: fix and retry" },
         function(ctx) ctx.run(c.test) end)
  add_steps(r, c, { migrate = true })
  return r
end

function M.rollback(c)
  local function target(ctx)
    if ctx.params.commit ~= "" then return { commit = ctx.params.commit } end
    local db = ctx.ledger or require("drun.ledger").reader(ctx.ledger_path)
    local latest
    for _, rec in ipairs(db:history { service = c.service, environment = c.environment, limit = 2 }) do
      if rec.id ~= ctx.record_id then latest = latest or rec end
    end
    local good = latest and latest.status == "success" and db:previous_success(c.service, c.environment, latest.id)
                 or db:latest { service = c.service, environment = c.environment, status = "success" }
    if not good or not good.metadata.server_commit then
      error(string.format("no earlier successful deployment of %s to %s in the ledger: nothing to roll back to "
                          .. "(give commit=SHA)", c.service, c.environment), 0)
    end
    return { commit = good.metadata.server_commit, latest = latest }
  end
  local r = recipe.new {
    name = "compose-rollback", service = c.service, environment = c.environment,
    description = "redeploy the previous good commit on " .. c.server.host,
    params = { commit = { default = "", description = "the commit to go back to (default: the last good one)" },
               reason = { default = "rolled back", description = "recorded on the rolled-back deployment" } },
    version = function(ctx) return target(ctx).commit:sub(1, 12) end,
    approval = "required",
    -- a commit id, nothing git could read as an option (--merge) or a moving name
    validate = function(p)
      if p.commit ~= "" and not (p.commit:match("^%x+$") and #p.commit >= 7 and #p.commit <= 64) then
        return string.format("commit= must be a commit id (7 to 64 hex digits), got '%s'", p.commit)
      end
    end,
  }
  add_steps(r, c, { commit = function(ctx) return target(ctx).commit end })
  r:step("mark", { description = "mark the bad deployment rollback in the ledger" }, function(ctx)
    local t = target(ctx)
    if ctx.ledger and t.latest and t.latest.status ~= "rollback" then
      ctx.ledger:mark_rollback(t.latest.id, ctx.params.reason)
    end
  end)
  return r
end

return M
