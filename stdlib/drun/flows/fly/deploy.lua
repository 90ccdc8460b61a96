-- Fly.io pipeline on a push to main (FLOWS.md §2): the test gate, one image
-- built from this commit (labelled with it) and pushed to Fly's registry,
-- development's cluster snapshotted only when migrations changed since the
-- commit development runs, the digest deployed, every machine checked; the
-- ledger keeps digest, commit and backup id: what fly-promote then moves on.
local recipe = require "drun.recipe"
local fly = require "drun.fly"
local image = require "drun.image"
local json = require "drun.json"
local steps = require "drun.flows.fly.steps"

local M = {}

local function root(ctx) return (ctx.git:workdir():gsub("/+$", "")) end

-- registry.fly.io/<repository>:deployment-<commit>: the tag says which
-- commit; the digest the push returns is what gets deployed
local function image_tag(c, sha)
  local b = c.build or {}
  return string.format("%s/%s:deployment-%s", b.registry or "registry.fly.io", b.repository or c.apps.development, sha)
end

-- The image steps fly-deploy and fly-preview share: `fly auth docker`, build
-- from the checkout labelled with its commit, push; sets "digest",
-- "image_ref" (by digest), "image_tag", "commit".
function M.build_and_push(c, ctx, tag)
  local b = c.build or {}
  fly.auth_docker { run = ctx.run }
  image.build { dir = root(ctx) .. "/" .. (b.context or "."), tag = tag, dockerfile = b.dockerfile,
                labels = { [c.commit_label or "commit"] = ctx.sha }, build_args = b.args, run = ctx.run }
  local digest = image.push { ref = tag, run = ctx.run }
  ctx.set("image_tag", tag)
  ctx.set("commit", ctx.sha)
  if not digest then -- --dry-run: nothing was pushed, so the tag stands in for the digest
    ctx.set("digest", "sha256:(dry-run)")
    return ctx.set("image_ref", tag)
  end
  ctx.set("digest", digest)
  ctx.set("image_ref", tag:gsub(":[^:/]*$", "") .. "@" .. digest)
  ctx.log.info("pushed %s as %s", tag, digest:sub(1, 19))
end

function M.deploy(c)
  local env = "development"
  local r = recipe.new {
    name = "fly-deploy", service = c.service, environment = env,
    description = "test, build and push this commit's image, deploy its digest to " .. c.apps[env],
    fetch = c.fetch,
    -- "clean": the image is built from the work tree and labelled with the
    -- commit, so the two must agree; "history": migrations are compared with
    -- the commit development runs
    needs = { "clean", "history" },
    params = { record_issue = { default = false, description = "post the deployment record as a GitHub issue" } },
    version = function(ctx) return ctx.sha and ctx.sha:sub(1, 12) or "unknown" end,
    rollback_hint = "drun recipes/fly-rollback.lua environment=" .. env .. " --yes",
    secrets = { "FLY_API_TOKEN" },
  }

  r:step("test", { description = "the test gate (the repository's test command)",
                   on_failure = "nothing built or deployed: fix it and push again" },
         function(ctx) local spec = {}; for k, v in pairs(c.test) do spec[k] = v end; spec.cwd = root(ctx); ctx.run(spec) end)

  r:step("build", { description = "build the image labelled with the commit; push it to Fly's registry",
                    on_failure = "nothing deployed: " .. c.apps[env] .. " runs what it ran; fix the build and re-run" },
         function(ctx)
    M.build_and_push(c, ctx, image_tag(c, ctx.sha))
  end)

  r:step("resolve", { read_only = true, description = "what " .. c.apps[env] .. " runs now (the commit its image was built from)",
                      on_failure = "nothing deployed (the image is pushed; a re-run pushes it again)" }, function(ctx)
    local app = c.apps[env]
    local now = steps.resolve_target(ctx, app)
    ctx.set("target_previous_commit", now and steps.commit_of(ctx, c, now.digest, now.labels) or json.null)
    if steps.skip_if_running(ctx, "deploy") then return end
    local was = ctx.get("target_previous_commit")
    ctx.log.info("%s runs %s", app, now and string.format("%s (commit %s)", now.digest:sub(1, 19),
                                                         was ~= json.null and was:sub(1, 12) or "unknown") or "nothing yet")
  end)

  r:step("snapshot", { description = "snapshot development's database if migrations changed since what it runs",
                       on_failure = "nothing deployed: the snapshot failed; fix it or take one by hand, then retry" }, function(ctx)
    if ctx.get("noop") then ctx.set("backup_id", json.null); return ctx.set("snapshot", "skipped: nothing to deploy") end
    steps.snapshot(c, ctx, c.clusters[env], ctx.get("target_previous_commit"), ctx.sha)
  end)

  steps.deploy_steps(r, c)

  r:step("record", { description = "the deployment record (a GitHub issue with record_issue=true)" }, function(ctx)
    if not ctx.params.record_issue or ctx.get("noop") then return end
    steps.record_issue(c, ctx, "commit " .. ctx.sha:sub(1, 12) .. " (" .. ctx.get("image_tag") .. ")")
  end)
  return r
end

return M
