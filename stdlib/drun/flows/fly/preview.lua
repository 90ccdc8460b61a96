-- Fly.io pull-request previews (FLOWS.md §2): app <app>-pr-<n> created when
-- missing, its own Managed Postgres cluster created on the first deploy and
-- recreated only when schema files changed since the preview's last deploy
-- (the ledger knows which commit that was), the secrets the config names
-- staged on it, this commit's image deployed, one PR comment with the URL
-- kept up to date. The clean-up destroys app and cluster and says so in the
-- comment. Both are harmless to re-run.
local recipe = require "drun.recipe"
local fly = require "drun.fly"
local env = require "drun.env"
local json = require "drun.json"
local steps = require "drun.flows.fly.steps"
local fly_deploy = require "drun.flows.fly.deploy"
local pull_request = require "drun.flows.pull_request"

local M = {}

local function app_of(c, pr) return string.format(c.preview.app, pr) end
local function cluster_name(c, pr) return string.format(c.preview.database.name, pr) end
-- pr=N: a positive whole number, and the app it names is one Fly accepts;
-- both checked before anything runs (exit 2)
local function validate(c)
  return function(p)
    local n, bad = pull_request.number(p)
    if not n then return bad end
    local why = fly.app_name_problem(app_of(c, n))
    if why then return "the preview app for pr=" .. n .. ": " .. why .. " (shorten preview.app in the config)" end
    why = fly.app_name_problem(cluster_name(c, n))
    if why then return "the preview database for pr=" .. n .. ": " .. why:gsub("^app name", "name") end
  end
end

local function pr_number(ctx) return pull_request.number(ctx.params) end

-- The preview's last successful deploy in the ledger (this recipe, this
-- PR's environment), or nil: its commit is what the cluster's schema is.
local function last_deploy(c, ctx)
  local db = ctx.ledger or require("drun.ledger").reader(ctx.ledger_path)
  local found
  for _, rec in ipairs(db:history { service = c.service, environment = ctx.environment, limit = 50 }) do
    if rec.id ~= ctx.record_id and rec.status == "success" then
      if rec.recipe ~= "fly-preview" then break end -- a clean-up since: nothing of it is left
      found = rec
      break
    end
  end
  if db ~= ctx.ledger then db:close() end
  return found
end

-- the preview's cluster: found by its name in the organization's list
local function find_cluster(c, ctx)
  local name = cluster_name(c, pr_number(ctx))
  for _, cl in ipairs(fly.clusters { org = c.org }) do
    if cl.name == name then return cl end
  end
end

local function comment(c, ctx, body, create)
  return pull_request.comment(ctx, c.github_repo, c.preview.comment_marker, body, create)
end

function M.preview(c)
  local p = c.preview
  local r = recipe.new {
    name = "fly-preview", service = c.service, environment = pull_request.environment,
    description = "a preview app of this PR's commit with its own database; its URL commented on the PR",
    params = pull_request.PARAM, validate = validate(c),
    version = function(ctx) return ctx.sha and ctx.sha:sub(1, 12) or "unknown" end,
    needs = { "clean", "history" }, -- the image is this commit; schema files are compared with the last deploy's
    fetch = c.fetch,
    secrets = function()
      local s = { "FLY_API_TOKEN", "GITHUB_TOKEN" }
      for _, name in ipairs(p.secrets or {}) do s[#s + 1] = name end
      return s
    end,
    rollback_hint = "fix the branch and push again (each push redeploys the preview)",
  }

  r:step("resolve", { read_only = true, description = "the PR is open; what the preview has now (app, cluster, last commit)",
                      on_failure = "nothing changed" }, function(ctx)
    pull_request.open(ctx, c.github_repo, "recipes/fly-preview-cleanup.lua")
    local app = app_of(c, pr_number(ctx))
    local exists = fly.app_exists(app)
    steps.resolve_target(ctx, app, exists)
    ctx.set("target_config", p.config)
    ctx.set("app_existed", exists)
    local last = last_deploy(c, ctx)
    ctx.set("schema_commit", last and last.git_commit or json.null)
    local cl = find_cluster(c, ctx)
    ctx.set("previous_cluster", cl and cl.id or json.null)
    ctx.log.info("%s %s; its database %s; last deployed %s", app, exists and "exists" or "does not exist yet",
                 cl and cl.id or "does not exist yet", last and last.git_commit:sub(1, 12) or "never")
  end)

  r:step("app", {
    description = "create the preview app when missing",
    on_failure = "nothing deployed; an app made by this run is destroyed again",
    undo_always = true, -- a run that fails leaves no half-made preview: the app it created goes again
    undo = function(ctx)
      if ctx.get("app_created") then fly.destroy_app { app = ctx.get("target_app"), run = ctx.run } end
    end,
  }, function(ctx)
    if ctx.get("app_existed") then return ctx.log.info("%s exists", ctx.get("target_app")) end
    fly.create_app { app = ctx.get("target_app"), org = c.org, run = ctx.run }
    ctx.set("app_created", true)
  end)

  r:step("database", {
    description = "its own database: created on the first deploy, recreated when schema files changed",
    on_failure = "nothing deployed; a cluster made by this run is destroyed again (so is an app it made)",
    undo_always = true,
    undo = function(ctx)
      local made = ctx.get("cluster_created")
      if made then fly.destroy_cluster { cluster = made, run = ctx.run } end
    end,
  }, function(ctx)
    local old, since = ctx.get("previous_cluster"), ctx.get("schema_commit")
    local why
    if old == json.null then
      why = "created: the preview has none"
    elseif since == json.null then
      why = "recreated: its schema is not known (no successful preview deploy in the ledger)"
    else
      local changed = ctx.git:changed(since, ctx.sha, c.schema_globs)
      if #changed == 0 then
        ctx.set("cluster", old)
        ctx.set("database", string.format("kept: no schema file changed since %s", since:sub(1, 12)))
        return ctx.log.info("%s %s", old, ctx.get("database"))
      end
      why = "recreated: " .. table.concat(changed, ", ") .. " changed since " .. since:sub(1, 12)
    end
    if old ~= json.null then fly.destroy_cluster { cluster = old, run = ctx.run } end
    if ctx.get("app_existed") then -- mpg attach refuses an app that has DATABASE_URL already
      fly.unset_secrets { app = ctx.get("target_app"), names = { "DATABASE_URL" }, run = ctx.run }
    end
    local db = p.database
    local id = fly.create_cluster { name = cluster_name(c, pr_number(ctx)), org = c.org, region = db.region,
                                    plan = db.plan, run = ctx.run }
    ctx.set("cluster_created", id or json.null)
    fly.attach_cluster { cluster = id or "(dry-run)", app = ctx.get("target_app"), run = ctx.run }
    ctx.set("cluster", id or json.null)
    ctx.set("database", why)
    ctx.log.info("database %s %s", tostring(id), why)
  end)

  r:step("secrets", { description = "stage the configured secrets on the preview app (never on the long-lived apps)",
                      on_failure = "nothing deployed; re-run" }, function(ctx)
    local values = {}
    for _, name in ipairs(p.secrets or {}) do values[name] = env.secret(name) end
    local staged = fly.stage_secrets { app = ctx.get("target_app"), secrets = values, run = ctx.run }
    ctx.set("secrets", staged) -- the names; the values are masked everywhere
  end)

  r:step("build", { description = "build this commit's image and push it to the preview app's repository",
                    on_failure = "nothing deployed; fix the build and push again" }, function(ctx)
    local b = c.build or {}
    fly_deploy.build_and_push(c, ctx, string.format("%s/%s:pr-%d-%s", b.registry or "registry.fly.io",
                                                    ctx.get("target_app"), pr_number(ctx), ctx.sha))
    steps.skip_if_running(ctx, "deploy")
  end)

  steps.deploy_steps(r, c, {
    verify_failure = function(ctx)
      return string.format("the preview %s runs the new image and is unhealthy: fix the branch and push again", ctx.get("target_app"))
    end,
  })

  r:step("comment", { description = "one PR comment with the preview's URL, updated on later pushes",
                      on_failure = "the preview is live; only the PR comment is out of date: re-run to update it" }, function(ctx)
    local url = (c.preview.url or "https://%s.fly.dev"):gsub("%%s", ctx.get("target_app"))
    ctx.set("url", url)
    comment(c, ctx, pull_request.preview_body(ctx, url, {
      { "image", string.format("`%s`", tostring(ctx.get("digest")):sub(1, 19)) },
      { "database", string.format("%s (%s)", tostring(ctx.get("cluster")), tostring(ctx.get("database"))) },
    }), true)
  end)
  return r
end

function M.cleanup(c)
  local r = recipe.new {
    name = "fly-preview-cleanup", service = c.service, environment = pull_request.environment, outcome = "removed from",
    description = "destroy the PR's preview app and database; say so in the PR comment",
    params = pull_request.PARAM, validate = validate(c),
    version = function(ctx) return ctx.sha and ctx.sha:sub(1, 12) or "unknown" end,
    secrets = { "FLY_API_TOKEN", "GITHUB_TOKEN" },
    rollback_hint = "drun recipes/fly-preview.lua pr=${pr} makes the preview again",
  }
  r:step("resolve", { read_only = true, description = "the PR (closed or not: clean-up is always allowed) and what is left of its preview",
                      on_failure = "nothing changed" }, function(ctx)
    local pr = pull_request.get(ctx, c.github_repo)
    if pr.state == "open" then
      ctx.log.warn("PR #%d is still open: its next push makes the preview again", pr_number(ctx))
    end
    local app = app_of(c, pr_number(ctx))
    ctx.set("target_app", app)
    ctx.set("app_existed", fly.app_exists(app))
    local cl = find_cluster(c, ctx)
    ctx.set("cluster", cl and cl.id or json.null)
    ctx.log.info("%s %s; database %s", app, ctx.get("app_existed") and "exists" or "is gone already",
                 cl and cl.id or "is gone already")
  end)
  r:step("app", { description = "destroy the preview app", on_failure = "re-run: what is gone stays gone" }, function(ctx)
    if not ctx.get("app_existed") then return ctx.set("app", "gone already") end
    fly.destroy_app { app = ctx.get("target_app"), run = ctx.run }
    ctx.set("app", "destroyed")
  end)
  r:step("database", { description = "destroy the preview's database", on_failure = "the app is gone; re-run to destroy the database" },
         function(ctx)
    local id = ctx.get("cluster")
    if id == json.null then return ctx.set("database", "gone already") end
    fly.destroy_cluster { cluster = id, run = ctx.run }
    ctx.set("database", "destroyed " .. id)
  end)
  r:step("comment", { description = "the PR comment says the preview is gone",
                      on_failure = "the preview is gone; only the PR comment is out of date: re-run to update it" }, function(ctx)
    local cm = comment(c, ctx, string.format("### Preview of #%d: removed\n\n%s and its database were destroyed (%s).",
                                             pr_number(ctx), ctx.get("target_app"), ctx.full_version), false)
    if not cm then ctx.log.info("no preview comment on PR #%d: nothing to update", pr_number(ctx)) end
  end)
  return r
end

return M
