-- drun.steps: the building blocks the shipped flows are made of, for a flow
-- of your own: the deploy message stamp, a package.json version bump, the
-- release commit + tag + push, and the GitHub release. Each *_step adds one
-- step to a recipe with what it needs checked before the first change
-- (preflight), what a failure leaves and what to run next.
--
--   local steps = require "drun.steps"
--   local r = recipe.new { ..., params = { version_bump = steps.VERSION_BUMP },
--                          version = steps.next_version("package.json") }
--   steps.bump_version_step(r, { package_json = "package.json" })
--   r:step("deploy", function(ctx) deploy { message = steps.stamp(ctx, "web@" .. ctx.version .. " ") } end)
--   steps.tag_step(r, { paths = { "package.json" }, tag = steps.tag_of("web-v"), remote = "origin" })
--   steps.release_step(r, { repo = "acme/web", tag = steps.tag_of("web-v"), since = steps.previous_tag("web-v") })
--
-- A comment on a pull request that a later run updates rather than repeats:
-- drun.github.comment{ update = marker } (drun.flows.pull_request.comment
-- also records its address in the ledger).
local pkgjson = require "drun.pkgjson"
local semver = require "drun.semver"

local M = {}

-- The seed's deploy messages (FLOWS.md §1): "<prefix>deploy by <actor> @
-- <sha> (<run url>)"; without a prefix, "GitHub Actions deploy by ..." on a
-- runner and "drun deploy by ..." elsewhere.
function M.stamp(ctx, prefix)
  prefix = prefix or ""
  local who = string.format("deploy by %s @ %s", ctx.actor, ctx.sha or "unknown")
  local url = ctx.run_url and (" (" .. ctx.run_url .. ")") or ""
  if prefix ~= "" then return prefix .. who .. url end
  return (ctx.run_url and "GitHub Actions " or "drun ") .. who .. url
end

-- The version_bump parameter next_version reads.
M.VERSION_BUMP = { default = "patch", choices = { "patch", "minor", "major" },
                   description = "patch: fixes; minor: features, schema, API; major: breaking" }

-- next_version(path) -> a recipe's version: package.json's, bumped by the
-- version_bump parameter
function M.next_version(package_json)
  return function(ctx) return semver.bump(pkgjson.version(package_json), ctx.params.version_bump or "patch") end
end

-- tag_of(prefix) -> function(ctx) -> "<prefix><version>" ("web-v1.5.0")
function M.tag_of(prefix)
  return function(ctx) return semver.format(ctx.version, prefix) end
end

local function value(v, ctx)
  if type(v) == "function" then return v(ctx) end
  return v
end

-- bump_version_step(r, {package_json, name = "bump-version"}): package.json's
-- "version" set to ctx.version (that one value, nothing else). A failed run
-- puts it back (undo_always), so a re-run bumps from the same version.
function M.bump_version_step(r, o)
  local path = assert(o.package_json, "bump_version_step: package_json is required")
  return r:step(o.name or "bump-version", {
    description = "set " .. path .. " to the new version (that one value, nothing else)",
    on_failure = "nothing deployed: read the log; retry",
    undo_always = true,
    undo = function(ctx) if ctx.get("previous_version") then pkgjson.set_version(path, ctx.get("previous_version")) end end,
  }, function(ctx)
    ctx.set("previous_version", pkgjson.set_version(path, ctx.version))
  end)
end

-- tag_step(r, {paths, tag, remote = "origin", branch, default_branch =
-- "main", message, github_repo, name = "tag", on_failure, after}): commits
-- `paths` ("<service> <version>" or message(ctx)), makes the annotated tag
-- (tag: text or function(ctx)) and pushes HEAD to `branch` (text or
-- function(ctx); default the run's branch, else default_branch) with the tag. Preflight checks, before anything moved, that there is an
-- identity to commit as and that the remote will take the push and the tag
-- (github_repo: GitHub's rulesets asked too). after(ctx, tag) runs last.
function M.tag_step(r, o)
  assert(o.tag, "tag_step: tag is required")
  local remote = o.remote or "origin"
  local function branch(ctx) return value(o.branch, ctx) or ctx.branch or o.default_branch or "main" end
  return r:step(o.name or "tag", {
    description = o.description or ("commit " .. table.concat(o.paths or {}, ", ") .. ", tag, push to " .. remote),
    needs = { "identity", { "push", remote = remote, tags = o.tag, github_repo = o.github_repo, branch = o.branch } },
    on_failure = o.on_failure or ("the release is live; the commit or tag did not reach " .. remote .. ": push them by hand"),
    next = function(ctx)
      return string.format("git push %s %s %s (the release is live: do not roll back for this)", remote, branch(ctx),
                           value(o.tag, ctx))
    end,
  }, function(ctx)
    local tag = value(o.tag, ctx)
    if o.paths and #o.paths > 0 then
      ctx.git:commit(o.paths, value(o.message, ctx) or string.format("%s %s", ctx.service, ctx.version))
    end
    ctx.git:tag(tag, { message = string.format("%s %s (%s)", ctx.service, ctx.version, ctx.full_version) })
    -- HEAD, not a local branch of that name: a checkout may be detached at the commit it deploys
    ctx.git:push(remote, { "HEAD:refs/heads/" .. branch(ctx), "refs/tags/" .. tag })
    ctx.set("tag", tag)
    if o.after then o.after(ctx, tag) end
  end)
end

-- previous_tag(prefix) -> function(ctx): the highest "<prefix><version>" tag
-- below the run's version (the release before this one), or nil
function M.previous_tag(prefix)
  return function(ctx)
    for _, t in ipairs(ctx.git:tags(prefix .. "*")) do
      if t.version and semver.compare(t.version, ctx.version) < 0 then return t.name end
    end
  end
end

-- release_step(r, {repo, tag, name, since, step = "release"}): the GitHub
-- release, its notes generated by GitHub; since (a revision, or a
-- function(ctx) such as previous_tag(prefix)) puts drun.changelog's
-- grouped changes since then above them. A changelog that cannot be made (a
-- clone without that history) is a warning: the release is not held up.
function M.release_step(r, o)
  assert(o.repo and o.tag, "release_step: repo and tag are required")
  local function title(ctx) return value(o.name, ctx) or string.format("%s %s", ctx.service, ctx.version) end
  return r:step(o.step or "release", {
    description = "GitHub release with generated notes" .. (o.since and " and the changelog" or ""),
    needs = { { "release", repo = o.repo, tags = o.tag } },
    on_failure = "the release is live and tagged; create the GitHub release by hand",
    next = function(ctx)
      return string.format("gh release create %s --generate-notes --title '%s' (the release is live: do not roll back for this)",
                           value(o.tag, ctx), title(ctx))
    end,
  }, function(ctx)
    local tag = value(o.tag, ctx)
    local body
    local since = o.since and value(o.since, ctx)
    if since then
      -- (under --dry-run the tag is not made: HEAD is what it would name)
      local to = require("drun.runtime").dry_run and "HEAD" or tag
      local ok, log = pcall(require "drun.changelog", since, to, { repo = o.repo })
      if ok then body = "## Changes since " .. since .. "\n\n" .. log:markdown()
      else ctx.log.warn("release notes without drun's changelog: %s", log) end
    end
    local rel = require("drun.github").release { repo = o.repo, tag = tag, name = title(ctx), body = body }
    ctx.set("release_url", rel.html_url)
    ctx.log.info("released %s", rel.html_url or tag)
  end)
end

return M
