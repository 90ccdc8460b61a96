-- The Docker Compose restart flow (FLOWS.md §3): pull on the server, rebuild
-- and restart, migrate inside the container, check health — with the
-- restart gap measured and every failure telling what is running now.
--
-- On a fleet (servers = {...} in the config) the checkout runs on every
-- server at once, then the restart rolls in batches of `batch` servers side
-- by side: the first batch is the canary (restarted, migrated once, checked)
-- and when it fails the others are not touched; each later batch is
-- restarted and checked before the next starts. Each server's restart gap
-- is measured and recorded (metadata.servers).
local recipe = require "drun.recipe"
local compose = require "drun.compose"
local health = require "drun.health"
local proc = require "drun.proc"
local time = require "drun.time"

local M = {}
local DRUN = proc.which(arg[-1])

-- The config's migrations: `migrate` is one command { "alembic", ... } or a
-- list of commands run in order, inside `migrate_service` (default: the service).
function M.migrate(c, target, ctx)
  local list = c.migrate or {}
  if type(list[1]) ~= "table" then list = { list } end
  for _, argv in ipairs(list) do
    if #argv > 0 then compose.exec(target, { service = c.migrate_service or c.service, argv = argv, run = ctx.run }) end
  end
end

local function git(srv, ctx, ...) return compose.sh(srv, { "git", ... }, { run = ctx.run }) end
-- what only reads (status, rev-parse) runs under --dry-run too
local function read_git(srv, ctx, ...) return compose.sh(srv, { "git", ... }, { run = ctx.run, read_only = true }) end
local function quiet_git(srv, ...) return compose.sh(srv, { "git", ... }, { check = false, read_only = true }) end

-- The restart gap: a drun in the background (proc.spawn) polls the health
-- URL and prints each up/down transition with its time; the gap is from the
-- first "down" to the next "up". It is stopped by the health step, by drun's
-- end, and by itself when the drun that started it is gone (killed -9) or
-- after 15 minutes.
local POLLER = [[ -- drun-gap poller
  local http, time, fs = require 'drun.http', require 'drun.time', require 'drun.fs'
  local last, parent, deadline = nil, '/proc/' .. arg[2], time.now() + 900
  while fs.exists(parent) and time.now() < deadline do
    local r = http.get(arg[1], { timeout = 0.5, connect_timeout = 0.5, check = false })
    local up = r ~= nil and r.status < 500
    if up ~= last then io.write(string.format('%s %.3f\n', up and 'up' or 'down', time.unix())); io.flush(); last = up end
    time.sleep(0.02)
  end]]

local function start_gap_poller(url)
  local h = proc.spawn { DRUN, "-e", POLLER, url, tostring(proc.pid()), read_only = true, grace = 1 }
  local seen = { h:lines()() } -- its first observation: the old app's state before the restart
  return function()
    h:close()
    for line in h:lines() do seen[#seen + 1] = line end
    local down, gap
    for _, line in ipairs(seen) do
      local state, t = line:match("^(%a+) ([%d.]+)$")
      if state == "down" and not down then down = tonumber(t) end
      if state == "up" and down and not gap then gap = tonumber(t) - down end
    end
    return gap and math.floor(gap * 1000 + 0.5) or 0
  end
end

-- the servers: the config's list, or its one server
local function fleet(c)
  local list = c.servers or { c.server }
  for i, srv in ipairs(list) do
    if type(srv) ~= "table" then error(string.format("servers[%d] must be a table { host = ..., dir = ... }", i), 0) end
  end
  return list
end
local function name(srv) return srv.name or srv.host or "local" end

-- the batches of the rollout: the first is the canary
local function batches(c)
  local size, list, out = c.batch or 1, fleet(c), {}
  if math.type(size) ~= "integer" or size < 1 then error("batch must be a whole number of at least 1, got " .. tostring(size), 0) end
  for i, srv in ipairs(list) do
    local b = (i - 1) // size + 1
    out[b] = out[b] or {}
    out[b][#out[b] + 1] = srv
  end
  return out
end

-- fn(ctx, server) on every server of the list at once (their lines
-- labelled with the server); one server: directly, as it always was
local function each(ctx, servers, fn)
  if #servers == 1 then return fn(ctx, servers[1]) end
  ctx.parallel(servers, fn, { limit = #servers, label = name })
end

-- the URLs the health step checks (the server's health_urls, or the
-- config's health_urls or its one health_url); the first is where the
-- restart gap is measured
local function urls(c, srv)
  srv = srv or fleet(c)[1]
  return srv.health_urls or (srv.health_url and { srv.health_url }) or c.health_urls or { c.health_url }
end

-- What each server ran and runs: previous_commit, server_commit,
-- restart_gap_ms, kept in the ledger under metadata.servers; the first
-- server's also at the top level (what rollbacks and earlier records read).
local function state(ctx) return ctx.compose_fleet end
local function record(ctx, srv, key, value)
  local st = state(ctx)
  st.rec[name(srv)] = st.rec[name(srv)] or {}
  st.rec[name(srv)][key] = value
  if #st.order > 1 then ctx.set("servers", require("drun.json").object(st.shown())) end
  if srv == st.order[1] then ctx.set(key, value) end
end
local function get(ctx, srv, key) return (state(ctx).rec[name(srv)] or {})[key] end
-- what only this run needs of a server: its gap poller, whether it restarted
local function live(ctx, srv)
  local st = state(ctx)
  st.live[name(srv)] = st.live[name(srv)] or {}
  return st.live[name(srv)]
end

local function init_state(c, ctx)
  if ctx.compose_fleet then return end
  local order = fleet(c)
  local st = { order = order, rec = {}, live = {} }
  function st.shown()
    local t = {}
    for _, srv in ipairs(order) do t[name(srv)] = st.rec[name(srv)] or {} end
    return t
  end
  ctx.compose_fleet = st
end

-- Every service of the project (or of checked_services) up: running, healthy where it has a
-- healthcheck (a worker that crashed at start is not hidden by a healthy
-- web service); "starting" healthchecks are waited for, as long as the
-- health attempts last.
local function services_healthy(c, ctx, srv)
  local deadline = time.now() + c.health.attempts * c.health.interval
  while true do
    local problems, waiting, notes = compose.unhealthy(srv, { run = ctx.run, services = c.checked_services })
    if #problems == 0 and #waiting == 0 then
      for _, n in ipairs(notes) do ctx.log.warn("%s: drun can only check that it runs", n) end
      record(ctx, srv, "services", #notes > 0 and ("healthy; " .. table.concat(notes, "; ")) or "healthy")
      return
    end
    if #problems > 0 or time.now() >= deadline then
      for _, w in ipairs(waiting) do problems[#problems + 1] = w .. ": healthcheck still starting" end
      local first = problems[1]:match("^([^:]+)")
      ctx.log.warn("the last %d log lines of %s:\n%s", c.logs_tail, first,
                   compose.logs(srv, { service = first, tail = c.logs_tail }))
      error("not every service is healthy: " .. table.concat(problems, "; "), 0)
    end
    time.sleep(math.min(1, c.health.interval))
  end
end

local function old_still_serving(c)
  local lines = {}
  for _, srv in ipairs(fleet(c)) do
    local p = health.probe(urls(c, srv)[1], { expect_json = c.expect_json, timeout = 5 })
    lines[#lines + 1] = (#fleet(c) > 1 and (name(srv) .. ": ") or "")
        .. (p.ok and "verified: it answers its health check" or ("NOT verified: its health check says " .. p.reason))
  end
  return table.concat(lines, "; ")
end

-- The checkout of one server: refused when dirty; moved to the commit (or
-- pulled) when move, else only fetched: a server of a later batch keeps its
-- files until its batch comes (a failed canary leaves it untouched).
local function checkout(c, ctx, srv, commit, move)
  local dirty = quiet_git(srv, "status", "--porcelain", "--untracked-files=no")
  if dirty.code ~= 0 then error((dirty.stderr:gsub("%s+$", "")), 0) end
  if dirty.stdout ~= "" then
    error(string.format("the checkout on %s has local changes; refusing to deploy over them:\n%s", srv.host or srv.dir,
                        dirty.stdout:gsub("%s+$", "")), 0)
  end
  record(ctx, srv, "previous_commit", read_git(srv, ctx, "rev-parse", "HEAD").stdout:match("%x+"))
  if not move then
    git(srv, ctx, "fetch", "-q", "origin")
    live(ctx, srv).target = read_git(srv, ctx, "rev-parse", commit or ("origin/" .. c.branch)).stdout:match("%x+")
    return ctx.log.info("%s: fetched %s; it keeps running %s until its batch", name(srv),
                        (live(ctx, srv).target or "?"):sub(1, 12), (get(ctx, srv, "previous_commit") or "?"):sub(1, 12))
  end
  local moved
  if commit then
    git(srv, ctx, "fetch", "-q", "origin")
    moved = git(srv, ctx, "reset", "-q", "--hard", commit)
  else
    moved = git(srv, ctx, "pull", "--ff-only", "-q", "origin", c.branch)
  end
  local now = read_git(srv, ctx, "rev-parse", "HEAD").stdout:match("%x+")
  -- the server must run what was asked for (unless the move was only described: --dry-run)
  if not now or (commit and not moved.dry_run and now:sub(1, #commit) ~= commit:lower()) then
    error(string.format("%s is at %s, not at %s after the checkout", srv.host or srv.dir, tostring(now), commit), 0)
  end
  record(ctx, srv, "server_commit", now)
  ctx.log.info("%s now at %s (was %s)", srv.host or srv.dir, now:sub(1, 12), (get(ctx, srv, "previous_commit") or "?"):sub(1, 12))
end

-- back to the commit the server ran before, rebuilt and restarted
local function redeploy_previous(ctx, srv)
  local previous = get(ctx, srv, "previous_commit")
  if not previous then return end
  git(srv, ctx, "reset", "-q", "--hard", previous)
  compose.up(srv, { build = true, wait = true, wait_timeout = 120, run = ctx.run })
end

-- up -d --build on one server, its gap poller started before; the poller
-- runs until the health check has its verdict (the gap ends when the new
-- app is healthy)
local function restart(c, ctx, srv)
  local stop = start_gap_poller(urls(c, srv)[1])
  live(ctx, srv).stop_poller = stop
  local ok, err = pcall(compose.up, srv, { build = true, remove_orphans = c.remove_orphans, run = ctx.run })
  if ok then -- up, and the app answering at all (health is the next step's business); 502-504
    local any = {}  -- are the reverse proxy's own answers while the app is down, not the app's
    for s = 100, 599 do if s < 502 or s > 504 then any[#any + 1] = s end end
    ok, err = pcall(health.wait, { url = urls(c, srv)[1], attempts = 240, interval = 0.25, timeout = 2, expect_status = any })
  end
  live(ctx, srv).restarted = true
  if not ok then
    live(ctx, srv).stop_poller = nil
    stop()
    error(err, 0)
  end
end

-- every URL of the server healthy, its gap recorded, every service up
local function check(c, ctx, srv)
  local ok, err
  for _, url in ipairs(urls(c, srv)) do
    ok, err = pcall(health.wait, { url = url, expect_json = c.expect_json,
                                   attempts = c.health.attempts, interval = c.health.interval })
    if not ok then break end
  end
  local stop = live(ctx, srv).stop_poller
  if stop then
    live(ctx, srv).stop_poller = nil
    local gap = stop()
    record(ctx, srv, "restart_gap_ms", gap)
    ctx.log.info("restart gap: %d ms from the old app's last answer to the new app healthy", gap)
  end
  if not ok then
    ctx.log.warn("the last %d log lines of %s:\n%s", c.logs_tail, c.service,
                 compose.logs(srv, { service = c.service, tail = c.logs_tail }))
    error(err, 0)
  end
  services_healthy(c, ctx, srv)
end

-- "web1, web2 run the new code; web3 to web6 still run the old"
local function where(ctx, c)
  local new, old = {}, {}
  for _, srv in ipairs(fleet(c)) do
    local list = live(ctx, srv).restarted and new or old
    list[#list + 1] = name(srv)
  end
  local parts = {}
  if #new > 0 then parts[#parts + 1] = table.concat(new, ", ") .. (#new == 1 and " runs" or " run") .. " the new code" end
  if #old > 0 then parts[#parts + 1] = table.concat(old, ", ") .. (#old == 1 and " still runs" or " still run") .. " the old code" end
  return table.concat(parts, "; ")
end

local function add_steps(r, c, opts)
  local rounds = batches(c)
  local canary, many = rounds[1], #fleet(c) > 1
  local function on(list)
    local names = {}
    for i, srv in ipairs(list) do names[i] = name(srv) end
    return table.concat(names, ", ")
  end
  r:step("checkout", {
    description = many and ("on every server at once (" .. on(fleet(c)) .. "): refuse a dirty checkout; the canary "
                            .. "batch pulls " .. c.branch .. " (fast-forward only), the others fetch")
                  or ("on the server: refuse a dirty checkout, pull " .. c.branch .. " (fast-forward only)"),
    on_failure = "nothing restarted: " .. (many and "every server still runs" or "the server still runs")
                 .. " its previous commit; resolve the checkout, then retry",
    undo = function(ctx)
      each(ctx, fleet(c), function(ctx, srv)
        if get(ctx, srv, "previous_commit") then git(srv, ctx, "reset", "-q", "--hard", get(ctx, srv, "previous_commit")) end
      end)
    end,
  }, function(ctx)
    init_state(c, ctx)
    local commit = opts.commit and opts.commit(ctx)
    local in_canary = {}
    for _, srv in ipairs(canary) do in_canary[srv] = true end
    each(ctx, fleet(c), function(ctx, srv) checkout(c, ctx, srv, commit, in_canary[srv]) end)
    if many and not ctx.dry_run then -- one commit across the fleet
      local want = get(ctx, canary[1], "server_commit")
      for _, srv in ipairs(fleet(c)) do
        local at = in_canary[srv] and get(ctx, srv, "server_commit") or live(ctx, srv).target
        if at ~= want then
          error(string.format("%s is at %s and %s would go to %s: the servers do not agree on the commit to deploy",
                              name(canary[1]), want:sub(1, 12), name(srv), tostring(at):sub(1, 12)), 0)
        end
      end
    end
  end)

  r:step("restart", {
    description = "docker compose up -d --build" .. (many and (" on the canary batch (" .. on(canary) .. ")") or "")
                  .. ", the gap measured",
    on_failure = function(ctx)
      return "the new code is not running: the old container is still serving (" .. old_still_serving(c) .. ")"
          .. (many and ("; " .. where(ctx, c)) or "")
    end,
    undo = function(ctx)
      each(ctx, canary, function(ctx, srv) redeploy_previous(ctx, srv) end)
    end,
  }, function(ctx)
    init_state(c, ctx)
    each(ctx, canary, function(ctx, srv) restart(c, ctx, srv) end)
  end)

  if opts.migrate then
    r:step("migrate", {
      description = "migrations inside the running container" .. (many and (" (on " .. name(canary[1]) .. ")") or ""),
      on_failure = "the new code is running against the old schema: roll back now (drun recipes/compose-rollback.lua --yes)",
    }, function(ctx) M.migrate(c, canary[1], ctx) end)
  end

  local function health_text(list)
    local all = {}
    for _, srv in ipairs(list) do for _, u in ipairs(urls(c, srv)) do all[#all + 1] = u end end
    return "GET " .. table.concat(all, ", ") .. " expecting " .. require("drun.json").encode(c.expect_json)
           .. "; every compose service running and healthy"
  end
  r:step("health", {
    description = health_text(canary),
    on_failure = function(ctx)
      return "the new code is live and not healthy: roll back (drun recipes/compose-rollback.lua --yes)"
          .. (many and ("; " .. where(ctx, c)) or "")
    end,
    verifies = true,
  }, function(ctx)
    init_state(c, ctx)
    each(ctx, canary, function(ctx, srv) check(c, ctx, srv) end)
  end)

  if #rounds > 1 then
    local rest = {}
    for i = 2, #rounds do for _, srv in ipairs(rounds[i]) do rest[#rest + 1] = srv end end
    r:step("rollout", {
      description = string.format("the other %d server(s) in %d batch(es) of at most %d: restart, health, one batch "
                                  .. "after the other", #rest, #rounds - 1, c.batch or 1),
      on_failure = function(ctx)
        return "the rollout stopped: " .. where(ctx, c) .. " (the canary passed; roll back with drun recipes/compose-rollback.lua --yes)"
      end,
      undo = function(ctx)
        local done = {}
        for _, srv in ipairs(rest) do if live(ctx, srv).restarted then done[#done + 1] = srv end end
        if #done > 0 then each(ctx, done, function(ctx, srv) redeploy_previous(ctx, srv) end) end
      end,
    }, function(ctx)
      init_state(c, ctx)
      for i = 2, #rounds do
        ctx.log.info("batch %d/%d: %s", i, #rounds, on(rounds[i]))
        each(ctx, rounds[i], function(ctx, srv)
          local want = get(ctx, canary[1], "server_commit")
          git(srv, ctx, "reset", "-q", "--hard", want) -- exactly what the canary runs
          record(ctx, srv, "server_commit", read_git(srv, ctx, "rev-parse", "HEAD").stdout:match("%x+"))
          restart(c, ctx, srv)
          check(c, ctx, srv)
        end)
      end
    end)
  end
end

function M.restart(c)
  local r = recipe.new {
    name = "compose-restart", service = c.service, environment = c.environment,
    description = "pull, rebuild and restart on " .. (c.servers and (#c.servers .. " servers") or (c.server.host or "this machine"))
                  .. ", migrate, check health",
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
    local good = db:rollback_target(c.service, c.environment, latest)
    if not good or not good.metadata.server_commit then
      error(string.format("no earlier successful deployment of %s to %s in the ledger: nothing to roll back to "
                          .. "(give commit=SHA)", c.service, c.environment), 0)
    end
    return { commit = good.metadata.server_commit, latest = latest }
  end
  local r = recipe.new {
    name = "compose-rollback", service = c.service, environment = c.environment,
    description = "redeploy the previous good commit on " .. (c.servers and (#c.servers .. " servers") or (c.server.host or "this machine")),
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
