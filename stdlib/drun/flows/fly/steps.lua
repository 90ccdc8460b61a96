-- What the Fly flows share (FLOWS.md §2): the image an app runs, the commit
-- an image was built from, deploying a digest and checking that every
-- machine runs it, the snapshot taken only when migrations changed, the
-- deployment-record issue. fly_promote, fly_deploy and fly_preview are
-- built from these.
local fly = require "drun.fly"
local json = require "drun.json"
local github = require "drun.github"

local M = {}

local function config(c, ctx)
  local cfg = ctx.get("target_config")
  return cfg ~= nil and cfg ~= json.null and cfg or c.configs[ctx.environment]
end


-- the running image of an app, or nil when it runs none yet (no app, no
-- machine, no machine with an image); a deploy under way or machines on
-- different images stop the run. Machines in every state count: fly launch's
-- apps auto-stop idle machines, which still hold the current image.
function M.running(app)
  local ok, img = pcall(fly.current_image, app, {})
  if ok then return img end
  if tostring(img):find("Could not find App", 1, true) then return nil end
  error(img, 0)
end

-- the commit an image was built from: its label, else the ledger record of its digest
function M.commit_of(ctx, c, digest, labels)
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

-- The health check of the environment a step deploys to: health.environments
-- [env] (previews: "preview") over the defaults: url (health_url; %s: the
-- app), attempts, interval, and what it expects (health.expect): status
-- 200, JSON fields, or the digest it reports.
function M.health_check(c, env, app, digest)
  local envs = c.health.environments or {}
  local o = envs[env] or (tostring(env):match("^pr%-%d+$") and envs.preview) or {}
  local want = o.expect
  if want == nil then want = c.health.expect end
  local expect_json
  if want == "digest" then expect_json = { digest = digest }
  elseif type(want) == "table" then expect_json = want
  elseif want ~= nil then error("health.expect must be nil, a table of JSON fields or \"digest\", got " .. tostring(want), 0) end
  return { url = ((o.url or c.health_url):gsub("%%s", app)), attempts = o.attempts or c.health.attempts,
           interval = o.interval or c.health.interval, expect_json = expect_json }
end

-- Every machine that exists runs the digest, whatever its state; none is
-- started for it. The health URL is asked only when a machine is started:
-- asking an auto-stopped app would start one.
function M.verify_and_check(c, ctx, app, digest)
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
    local check = M.health_check(c, ctx.environment, app, digest)
    check.headers = { ["fly-force-instance-id"] = m.id }
    local ok, err = pcall(ctx.health.wait, check)
    if not ok then error(err, 0) end -- the machine's name is put in front: no file position in between
  end, { limit = #up, label = function(m) return "machine " .. m.id end })
end

-- What the target app runs before the deploy, into ctx "target_app",
-- "target_previous_digest" and "target_previous_ref" (the undo's image);
-- returns that image, or nil when it runs none. exists = false: the app is
-- known not to exist (nothing to ask).
function M.resolve_target(ctx, app, exists)
  local now = exists ~= false and M.running(app) or nil
  ctx.set("target_app", app)
  ctx.set("target_previous_digest", now and now.digest or json.null)
  ctx.set("target_previous_ref", now and now.ref or json.null)
  return now
end

-- When the target runs ctx "digest" already: "noop" set (deploy, snapshot
-- and record skip), said, and true.
function M.skip_if_running(ctx, what)
  if ctx.get("target_previous_digest") ~= ctx.get("digest") then return false end
  ctx.set("noop", true)
  ctx.log.info("%s already runs %s: nothing to %s", ctx.get("target_app"), ctx.get("digest"):sub(1, 19), what)
  return true
end

-- deploy and verify: the digest (ctx "image_ref") to ctx "target_app" with
-- its config (ctx "target_config", else configs[environment]); undo puts
-- the previous image back. opts.verify_failure: what to do when the new
-- digest is live and bad (default: the rollback recipe).
function M.deploy_steps(r, c, opts)
  opts = opts or {}
  r:step("deploy", {
    description = "fly deploy the digest by reference (release_command runs the migrations)",
    on_failure = function(ctx)
      local now = M.running(ctx.get("target_app"))
      local old = ctx.get("target_previous_digest")
      if now and now.digest == old then
        return string.format("%s still runs the old digest %s (verified); nothing else changed", ctx.get("target_app"), tostring(old):sub(1, 19))
      end
      return string.format("%s now runs %s: check it", ctx.get("target_app"), now and now.digest:sub(1, 19) or "nothing")
    end,
    undo = function(ctx)
      local old = ctx.get("target_previous_ref")
      if old then fly.deploy { app = ctx.get("target_app"), config = config(c, ctx), image = old, run = ctx.run } end
    end,
  }, function(ctx)
    if ctx.get("noop") then return ctx.log.info("nothing to deploy") end
    fly.deploy { app = ctx.get("target_app"), config = config(c, ctx), image = ctx.get("image_ref"),
                 strategy = c.strategy, wait_timeout = c.wait_timeout, run = ctx.run }
  end)
  r:step("verify", {
    description = "every machine runs exactly the digest; health passes",
    on_failure = opts.verify_failure or function(ctx)
      return string.format("the new digest is live and bad: run drun recipes/fly-rollback.lua environment=%s --yes "
                           .. "(or re-run with --auto-rollback)", ctx.environment)
    end,
    verifies = true,
  }, function(ctx)
    M.verify_and_check(c, ctx, ctx.get("target_app"), ctx.get("digest"))
  end)
end


-- The target's database is snapshotted only when a file under schema_globs
-- changed between the commit it runs (old) and the one coming (new); unknown
-- commits count as changed. Sets "snapshot" (why) and "backup_id".
function M.snapshot(c, ctx, cluster, old, new)
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
  local b = c.backup or {}
  local id = fly.backup { cluster = cluster, type = b.type, timeout = b.timeout, interval = b.interval, run = ctx.run }
  ctx.set("backup_id", id or json.null)
  ctx.set("snapshot", reason)
  ctx.log.info("snapshot of %s %s: %s", cluster, reason, tostring(id))
end

-- The deployment record as a GitHub issue (record_issue=true): app, where
-- the digest came from, digest, commit, backup id, the ledger's version.
function M.record_issue(c, ctx, from)
  local body = string.format("| | |\n|---|---|\n| app | %s |\n| from | %s |\n| digest | `%s` |\n| commit | %s |\n| backup id | %s |\n| ledger | %s |\n",
    ctx.get("target_app"), from, ctx.get("digest"), tostring(ctx.get("commit")),
    tostring(ctx.get("backup_id")), ctx.full_version)
  local issue = github.issue { repo = c.github_repo, title = "Deployment record: " .. ctx.get("target_app") .. " " .. ctx.get("digest"):sub(8, 19), body = body }
  ctx.set("record_issue", issue.html_url)
end

return M
