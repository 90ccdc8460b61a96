-- Fly.io image promotion (FLOWS.md §2): the same immutable digest moves
-- development -> staging -> production; the target's database is
-- snapshotted first only when migrations changed; every machine is checked
-- to run exactly that digest; the ledger keeps digest and backup id, the
-- data rollbacks use.
local recipe = require "drun.recipe"
local fly = require "drun.fly"
local json = require "drun.json"
local github = require "drun.github"

local M = {}

local PATHS = { ["development → staging"] = { "development", "staging" }, ["development->staging"] = { "development", "staging" },
                ["staging → production"] = { "staging", "production" }, ["staging->production"] = { "staging", "production" } }

local function health_url(c, app) return (c.health_url:gsub("%%s", app)) end

-- the running image of an app, or nil when it runs none yet (no app, no
-- machine, no machine with an image); a deploy under way or machines on
-- different images stop the run. Machines in every state count: fly launch's
-- apps auto-stop idle machines, which still hold the current image.
local function running(app)
  local ok, img = pcall(fly.current_image, app, {})
  if ok then return img end
  if tostring(img):find("Could not find App", 1, true) then return nil end
  error(img, 0)
end

-- the commit an image was built from: its label, else the ledger record of its digest
local function commit_of(ctx, c, digest, labels)
  local label = labels and labels[c.commit_label or "commit"]
  if label and label ~= "" then return label end
  local db = ctx.ledger or require("drun.ledger").reader(ctx.ledger_path)
  local found
  for _, rec in ipairs(db:history { service = c.service, all = true }) do
    if rec.metadata.digest == digest and rec.metadata.commit then found = rec.metadata.commit; break end
  end
  if db ~= ctx.ledger then db:close() end
  return found
end

-- what the run promotes: the pinned digest, else the source's running image (asked once per run)
local function source_image(c, ctx)
  if ctx.source_image == nil then
    local src = PATHS[ctx.params.promotion_path][1]
    local pin = ctx.params.image_digest
    if pin ~= "" and not pin:match("^sha256:%x+$") then error("image_digest must be sha256:<hex>, got " .. pin, 0) end
    local img = running(c.apps[src])
    if pin ~= "" and not (img and img.digest == pin) then img = { digest = pin, pinned = true } end
    ctx.source_image = img or false
  end
  return ctx.source_image or nil
end

-- what the health check asks of the app (config health.expect): status 200,
-- JSON fields, or the digest it reports
local function health_expectation(c, digest)
  local want = c.health.expect
  if want == nil then return nil end
  if want == "digest" then return { digest = digest } end
  if type(want) == "table" then return want end
  error("health.expect must be nil, a table of JSON fields or \"digest\", got " .. tostring(want), 0)
end

-- Every machine that exists runs the digest, whatever its state; none is
-- started for it. The health URL is asked only when a machine is started:
-- asking an auto-stopped app would start one.
local function verify_and_check(c, ctx, app, digest)
  local machines = fly.machines(app)
  if #machines == 0 then error(string.format("%s has no machine: nothing runs %s", app, digest:sub(1, 19)), 0) end
  local differ, started = {}, 0
  for _, m in ipairs(machines) do
    if m.digest ~= digest then differ[#differ + 1] = string.format("%s (%s) runs %s", m.id, tostring(m.state), tostring(m.digest):sub(1, 19)) end
    if m.state == "started" then started = started + 1 end
  end
  table.sort(differ)
  if #differ > 0 then
    error(string.format("not every machine of %s runs %s: %s", app, digest:sub(1, 19), table.concat(differ, "; ")), 0)
  end
  if started == 0 then
    ctx.set("health", "not checked: no machine is started (auto-stopped); every machine holds the digest")
    return ctx.log.info("%s: all %d machines hold %s and none is started: health not checked (it would start one)",
                        app, #machines, digest:sub(1, 19))
  end
  -- every started machine at once, each asked through Fly's proxy by its
  -- id (the fly-force-instance-id header: fly.io/docs/blueprints/sticky-sessions);
  -- one that fails is named
  local up = {}
  for _, m in ipairs(machines) do if m.state == "started" then up[#up + 1] = m end end
  ctx.parallel(up, function(ctx, m)
    local ok, err = pcall(ctx.health.wait, { url = health_url(c, app), attempts = c.health.attempts,
                                             interval = c.health.interval, expect_json = health_expectation(c, digest),
                                             headers = { ["fly-force-instance-id"] = m.id } })
    if not ok then error(err, 0) end -- the machine's name is put in front: no file position in between
  end, { limit = #up, label = function(m) return "machine " .. m.id end })
end

local function deploy_steps(r, c, opts)
  r:step("deploy", {
    description = "fly deploy the digest by reference (release_command runs the migrations)",
    on_failure = function(ctx)
      local now = running(ctx.get("target_app"))
      local old = ctx.get("target_previous_digest")
      if now and now.digest == old then
        return string.format("%s still runs the old digest %s (verified); nothing else changed", ctx.get("target_app"), tostring(old):sub(1, 19))
      end
      return string.format("%s now runs %s: check it", ctx.get("target_app"), now and now.digest:sub(1, 19) or "nothing")
    end,
    undo = function(ctx)
      local old = ctx.get("target_previous_ref")
      if old then fly.deploy { app = ctx.get("target_app"), config = c.configs[ctx.environment], image = old, run = ctx.run } end
    end,
  }, function(ctx)
    if ctx.get("noop") then return ctx.log.info("nothing to deploy") end
    fly.deploy { app = ctx.get("target_app"), config = c.configs[ctx.environment], image = ctx.get("image_ref"),
                 strategy = c.strategy, wait_timeout = c.wait_timeout, run = ctx.run }
  end)
  r:step("verify", {
    description = "every machine runs exactly the digest; health passes",
    on_failure = function(ctx)
      return string.format("the new digest is live and bad: run drun recipes/fly-rollback.lua environment=%s --yes "
                           .. "(or re-run with --auto-rollback)", ctx.environment)
    end,
    verifies = true,
  }, function(ctx)
    verify_and_check(c, ctx, ctx.get("target_app"), ctx.get("digest"))
  end)
end

function M.promote(c)
  local choices = {}
  for name in pairs(PATHS) do choices[#choices + 1] = name end
  table.sort(choices)
  local r = recipe.new {
    name = "fly-promote", service = c.service,
    environment = function(params) return PATHS[params.promotion_path][2] end,
    description = "promote the digest one environment further",
    fetch = c.fetch,
    params = {
      promotion_path = { choices = choices, required = true, description = "which environment to which" },
      image_digest = { default = "", description = "promote this digest (sha256:...) instead of what the source runs" },
      record_issue = { default = false, description = "post the deployment record as a GitHub issue" },
    },
    approval = function(params) return PATHS[params.promotion_path][2] == "production" end,
    version = function(ctx)
      local img = source_image(c, ctx)
      return img and img.digest:sub(8, 19) or "unknown"
    end,
    commit = function(ctx)
      local img = source_image(c, ctx)
      return img and commit_of(ctx, c, img.digest, img.labels)
    end,
    rollback_hint = "drun recipes/fly-rollback.lua environment=${environment} --yes",
    secrets = { "FLY_API_TOKEN" },
  }

  r:step("resolve", { read_only = true, description = "the digest the source runs (or the pin) and what the target runs",
                      on_failure = "nothing changed" }, function(ctx)
    local from, to = table.unpack(PATHS[ctx.params.promotion_path])
    local source = running(c.apps[from])
    local pin = ctx.params.image_digest ~= "" and ctx.params.image_digest or nil
    if not source and not pin then error(string.format("%s runs no image to promote", c.apps[from]), 0) end
    local digest = pin or source.digest
    if not digest:match("^sha256:%x+$") then error("image_digest must be sha256:<hex>, got " .. digest, 0) end
    local repository = source and source.repository or c.service
    local target = running(c.apps[to])
    ctx.set("source_app", c.apps[from]); ctx.set("target_app", c.apps[to]); ctx.set("digest", digest)
    ctx.set("image_ref", string.format("%s/%s@%s", source and source.registry or "registry.fly.io", repository, digest))
    ctx.set("commit", commit_of(ctx, c, digest, source and source.digest == digest and source.labels or nil))
    ctx.set("target_previous_digest", target and target.digest or json.null)
    ctx.set("target_previous_ref", target and target.ref or json.null)
    ctx.set("target_previous_commit", target and commit_of(ctx, c, target.digest, target.labels) or json.null)
    if target and target.digest == digest then
      ctx.set("noop", true)
      ctx.log.info("%s already runs %s: nothing to promote", c.apps[to], digest:sub(1, 19))
    else
      ctx.log.info("promoting %s from %s to %s", digest:sub(1, 19), c.apps[from], c.apps[to])
    end
  end)

  r:step("snapshot", { description = "snapshot the target's database if migrations changed",
                       needs = { "history" }, -- migrations changed between two commits: both must be here
                       on_failure = "nothing deployed: the snapshot failed; fix it or take one by hand, then retry" }, function(ctx)
    if ctx.get("noop") then ctx.set("backup_id", json.null); return ctx.set("snapshot", "skipped: nothing to promote") end
    local old, new = ctx.get("target_previous_commit"), ctx.get("commit")
    local reason
    if old == json.null or not old or not new then
      reason = "taken: the commits are not known, so migrations may have changed"
    else
      local changed = ctx.git:changed(old, new, c.schema_globs)
      if #changed == 0 then
        ctx.set("backup_id", json.null)
        ctx.set("snapshot", string.format("skipped: no migration changed between %s and %s", old:sub(1, 12), new:sub(1, 12)))
        return ctx.log.info("%s", ctx.get("snapshot"))
      end
      reason = "taken: " .. table.concat(changed, ", ") .. " changed"
    end
    local cluster = c.clusters[ctx.environment]
    local b = c.backup or {}
    local id = fly.backup { cluster = cluster, type = b.type, timeout = b.timeout, interval = b.interval, run = ctx.run }
    ctx.set("backup_id", id or json.null)
    ctx.set("snapshot", reason)
    ctx.log.info("snapshot of %s %s: %s", cluster, reason, tostring(id))
  end)

  deploy_steps(r, c)

  r:step("record", { description = "the deployment record (a GitHub issue with record_issue=true)" }, function(ctx)
    if not ctx.params.record_issue or ctx.get("noop") then return end
    local body = string.format("| | |\n|---|---|\n| app | %s |\n| from | %s |\n| digest | `%s` |\n| commit | %s |\n| backup id | %s |\n| ledger | %s |\n",
      ctx.get("target_app"), ctx.get("source_app"), ctx.get("digest"), tostring(ctx.get("commit")),
      tostring(ctx.get("backup_id")), ctx.full_version)
    local issue = github.issue { repo = c.github_repo, title = "Deployment record: " .. ctx.get("target_app") .. " " .. ctx.get("digest"):sub(8, 19), body = body }
    ctx.set("record_issue", issue.html_url)
  end)
  return r
end

-- FLOWS.md §2: a restore forks a new cluster; the app's secrets are synced
-- by a secret manager, so `fly secrets set` on it would be overwritten.
local PATH_B = [[
If the database itself must go back (path B, by hand, never automated):
  1. fly mpg restore <cluster id> --backup-id <the backup id in the ledger>: this forks a NEW cluster
  2. re-point DATABASE_URL and DATABASE_URL_MIGRATION at the new cluster in the secret manager that syncs the app
     (never fly secrets set on a synced app: the next sync overwrites it)
  3. redeploy: re-promote the digest that matches that schema with this recipe (to=sha256:...)]]

function M.rollback(c)
  -- the digest to go back to and the deployment it replaces, read from the ledger once per run
  local function find_target(ctx, db)
    local env = ctx.params.environment
    local latest
    for _, rec in ipairs(db:history { service = c.service, environment = env, limit = 2 }) do
      if rec.id ~= ctx.record_id then latest = latest or rec end
    end
    if ctx.params.to ~= "" then return { digest = ctx.params.to }, latest end
    local good = latest and latest.status == "success" and db:previous_success(c.service, env, latest.id)
                 or db:latest { service = c.service, environment = env, status = "success" }
    while good and (not good.metadata.digest or good.metadata.digest == (latest and latest.metadata.digest)) do
      good = db:previous_success(c.service, env, good.id)
    end
    if not good then
      error(string.format("no earlier successful deployment of %s to %s in the ledger: nothing to roll back to "
                          .. "(give to=sha256:...)", c.service, env), 0)
    end
    return { digest = good.metadata.digest, ref = good.metadata.image_ref }, latest
  end
  local function target(ctx)
    if not ctx.rollback_target then
      local db = ctx.ledger or require("drun.ledger").reader(ctx.ledger_path)
      local ok, t, latest = pcall(find_target, ctx, db)
      if db ~= ctx.ledger then db:close() end
      if not ok then error(t, 0) end
      ctx.rollback_target = { t, latest }
    end
    return table.unpack(ctx.rollback_target, 1, 2)
  end
  local r = recipe.new {
    name = "fly-rollback", service = c.service,
    environment = function(params) return params.environment end,
    description = "path A: re-promote the previous good digest (path B, a database restore, is a printed checklist)",
    params = { environment = { default = "production", choices = { "development", "staging", "production" } },
               to = { default = "", description = "the digest to go back to (default: the last good one)" },
               reason = { default = "rolled back", description = "recorded on the rolled-back deployment" } },
    approval = "required",
    version = function(ctx) return target(ctx).digest:sub(8, 19) end,
    commit = function(ctx) return commit_of(ctx, c, target(ctx).digest) end, -- the restored commit, not the checkout's
    secrets = { "FLY_API_TOKEN" },
  }
  r:step("resolve", { read_only = true, description = "the digest to go back to" }, function(ctx)
    local t = target(ctx)
    ctx.set("target_app", c.apps[ctx.environment])
    ctx.set("digest", t.digest)
    ctx.set("image_ref", t.ref or ("registry.fly.io/" .. c.service .. "@" .. t.digest))
    local now = running(c.apps[ctx.environment])
    ctx.set("target_previous_digest", now and now.digest or json.null)
    ctx.set("target_previous_ref", now and now.ref or json.null)
    ctx.log.info("back to %s", t.digest:sub(1, 19))
  end)
  deploy_steps(r, c)
  r:step("mark", { description = "mark the rolled-back deployment; print path B" }, function(ctx)
    local _, latest = target(ctx)
    if ctx.ledger and latest and latest.status ~= "rollback" and latest.metadata.digest ~= ctx.get("digest") then
      ctx.ledger:mark_rollback(latest.id, ctx.params.reason)
      ctx.log.info("%s marked rollback", latest.full_version)
    end
    ctx.log.info("%s", PATH_B)
  end)
  return r
end

return M
