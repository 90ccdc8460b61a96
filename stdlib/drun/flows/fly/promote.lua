-- Fly.io image promotion (FLOWS.md §2): the same immutable digest moves
-- development -> staging -> production; the target's database is
-- snapshotted first only when migrations changed; every machine is checked
-- to run exactly that digest; the ledger keeps digest and backup id, the
-- data rollbacks use.
local recipe = require "drun.recipe"
local json = require "drun.json"
local steps = require "drun.flows.fly.steps"

local M = {}
local running, commit_of = steps.running, steps.commit_of

local PATHS = { ["development → staging"] = { "development", "staging" }, ["development->staging"] = { "development", "staging" },
                ["staging → production"] = { "staging", "production" }, ["staging->production"] = { "staging", "production" } }

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
    local target = steps.resolve_target(ctx, c.apps[to])
    ctx.set("source_app", c.apps[from]); ctx.set("digest", digest)
    ctx.set("image_ref", string.format("%s/%s@%s", source and source.registry or "registry.fly.io", repository, digest))
    ctx.set("commit", commit_of(ctx, c, digest, source and source.digest == digest and source.labels or nil))
    ctx.set("target_previous_commit", target and commit_of(ctx, c, target.digest, target.labels) or json.null)
    if not steps.skip_if_running(ctx, "promote") then
      ctx.log.info("promoting %s from %s to %s", digest:sub(1, 19), c.apps[from], c.apps[to])
    end
  end)

  r:step("snapshot", { description = "snapshot the target's database if migrations changed",
                       needs = { "history" }, -- migrations changed between two commits: both must be here
                       on_failure = "nothing deployed: the snapshot failed; fix it or take one by hand, then retry" }, function(ctx)
    if ctx.get("noop") then ctx.set("backup_id", json.null); return ctx.set("snapshot", "skipped: nothing to promote") end
    steps.snapshot(c, ctx, c.clusters[ctx.environment], ctx.get("target_previous_commit"), ctx.get("commit"))
  end)

  steps.deploy_steps(r, c)

  r:step("record", { description = "the deployment record (a GitHub issue with record_issue=true)" }, function(ctx)
    if not ctx.params.record_issue or ctx.get("noop") then return end
    steps.record_issue(c, ctx, ctx.get("source_app"))
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
    local good = db:rollback_target(c.service, env, latest)
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
    ctx.set("digest", t.digest)
    ctx.set("image_ref", t.ref or ("registry.fly.io/" .. c.service .. "@" .. t.digest))
    steps.resolve_target(ctx, c.apps[ctx.environment])
    ctx.log.info("back to %s", t.digest:sub(1, 19))
  end)
  steps.deploy_steps(r, c)
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
