-- The Cloudflare CMS + MCP flow (FLOWS.md §1), built from a config table
-- (recipes/cms-config.lua). MCP is deployed before CMS so the service
-- binding always resolves; every deploy is stamped with who and what; a
-- production release is committed, tagged and published only after the
-- smoke check saw the new version.
local recipe = require "drun.recipe"
local cf = require "drun.cloudflare"
local pkgjson = require "drun.pkgjson"
local semver = require "drun.semver"
local steps = require "drun.steps"
local fs = require "drun.fs"
local json = require "drun.json"

local M = {}

-- The wrangler environment of a target (the config's wrangler_env): nil is
-- wrangler's top level, deployed without --env (the seed's production).
local function wrangler_env(c, env)
  local map = c.wrangler_env or { staging = "staging", production = "production" }
  return map[env]
end

local function label(key) return (key == "mcp" or key == "cms") and key:upper() or key end

-- "rolling back: <reason>" for the CMS, "rolling back MCP: <reason>" for the MCP
local function rollback_message(key, reason)
  return (key == "cms" and "rolling back: " or ("rolling back " .. label(key) .. ": ")) .. reason
end

-- The workers deployed before the CMS, in order: the config's `workers`
-- ({ name, dir } each), or its mcp_dir (the seed's MCP worker, which the
-- CMS's service binding resolves to), or none.
local function extras(c)
  if c.workers then return c.workers end
  if c.mcp_dir then return { { name = "mcp", dir = c.mcp_dir } } end
  return {}
end

-- every worker as { key, dir }, in deploy order: the extras, then the CMS
local function workers(c)
  local list = {}
  for _, w in ipairs(extras(c)) do list[#list + 1] = { w.name, w.dir } end
  list[#list + 1] = { "cms", c.cms_dir }
  return list
end

-- "CMS+MCP", "CMS+MCP+search": what a target runs, for failure states
local function pair(c)
  local names = { "CMS" }
  for _, w in ipairs(extras(c)) do names[#names + 1] = label(w.name) end
  return table.concat(names, "+")
end

-- "migrations, MCP, CMS": what a deploy does, for descriptions
local function shape(c)
  local parts = {}
  if c.database then parts[#parts + 1] = "migrations" end
  for _, w in ipairs(extras(c)) do parts[#parts + 1] = label(w.name) end
  parts[#parts + 1] = "CMS"
  return table.concat(parts, ", ")
end

local function worker_steps(r, c, env, opts)
  local wenv = wrangler_env(c, env)
  local flag = wenv and ("--env " .. wenv) or "(top-level environment)"
  -- a worker without D1 (no database in the config) has no migrations; one
  -- whose database never predates the tracker needs no backfill
  if c.database and c.backfill then r:step("backfill", {
    description = "record historical migrations in d1_migrations if the database predates the tracker",
    on_failure = "nothing deployed: run the backfill by hand (" .. c.backfill .. "), then retry",
  }, function(ctx)
    local res = cf.d1.backfill_if_needed { db = c.database[env], env = wenv, dir = c.cms_dir, run = ctx.run,
                                           file = fs.realpath(c.backfill), table = c.schema_table }
    ctx.log.info("%s", res.reason)
    ctx.set("backfill", res.reason)
  end) end

  if c.database then r:step("migrate", {
    description = "wrangler d1 migrations apply " .. c.database[env],
    on_failure = "nothing deployed (a failing migration is rolled back; earlier ones stay): "
                 .. "fix the migration on main, verify on staging, retry",
  }, function(ctx)
    local applied = cf.d1.migrate { db = c.database[env], env = wenv, dir = c.cms_dir, run = ctx.run }
    ctx.log.info(#applied > 0 and ("applied " .. table.concat(applied, ", ")) or "no migrations to apply")
    ctx.set("migrations_applied", applied)
  end) end

  local function deploy_step(name, dir, key, on_failure)
    r:step(name, {
      description = "wrangler deploy " .. flag .. " in " .. dir,
      on_failure = on_failure,
      undo = function(ctx)
        local previous = ctx.get(key .. "_previous_version")
        if previous then
          cf.rollback { dir = dir, env = wenv, version_id = previous, run = ctx.run,
                        message = rollback_message(key, ctx.recipe .. " failed") }
        end
      end,
    }, function(ctx)
      local msg = steps.stamp(ctx, opts.message_prefix(ctx))
      -- asked quietly: on a first deploy wrangler's "does not exist" is expected
      ctx.set(key .. "_previous_version", cf.current_version { dir = dir, env = wenv })
      local id = cf.deploy { dir = dir, env = wenv, message = msg, run = ctx.run }
      ctx.set(key .. "_version_id", id)
      ctx.set("deploy_message", msg)
      ctx.log.info("%s is version %s", (name:gsub("^deploy%-", "")), id or "(dry-run)")
    end)
  end
  -- a failure leaves the workers before it new and the rest old: the state says which
  local list, deployed = workers(c), {}
  for i, w in ipairs(list) do
    local state
    if i == 1 then
      state = env .. " still on the previous " .. pair(c) .. ": fix and retry"
    else
      local new, old = table.concat(deployed, ", "), {}
      for j = i, #list do old[#old + 1] = label(list[j][1]) end
      local verb = #deployed == 1 and "is" or "are"
      state = string.format("%s %s new, %s %s old and still serving: investigate; if the new %s %s incompatible with "
                            .. "the old %s, roll %s back (drun recipes/cms-rollback.lua environment=%s)", new, verb,
                            table.concat(old, ", "), #old == 1 and "is" or "are", new, verb, table.concat(old, ", "),
                            new, env)
    end
    deploy_step("deploy-" .. w[1], w[2], w[1], state)
    deployed[#deployed + 1] = label(w[1])
  end

  r:step("smoke-check", {
    description = string.format("GET %s (%d attempts, %gs apart)", c.health_url[env], c.smoke.attempts, c.smoke.interval),
    on_failure = opts.smoke_failure,
  }, function(ctx)
    ctx.health.wait { url = c.health_url[env], attempts = c.smoke.attempts, interval = c.smoke.interval,
                      expect_json = opts.expect_version and { version = ctx.version } or nil }
  end)
  if opts.watch then
    local w = c.watch or {}
    local seconds = w.seconds or 60
    r:step("watch", {
      description = string.format("wrangler tail on %s for %gs: more than %d exception(s) or 5xx fail the release",
                                  #extras(c) > 0 and pair(c):gsub("%+", " and ") or "the CMS", seconds, w.max_errors or 0),
      verifies = true, -- under --dry-run nothing was deployed to watch
      on_failure = opts.watch_failure,
    }, function(ctx)
      if seconds == 0 then
        ctx.set("watch", "off")
        return ctx.log.info("the watch is off (watch.seconds = 0)")
      end
      local list = workers(c)
      local seen = ctx.parallel(list, function(ctx, worker)
        local ok, res = pcall(cf.watch, { dir = worker[2], env = wenv, seconds = seconds, max_errors = w.max_errors,
                                          on_error = function(e) ctx.log.warn("%s", e) end })
        if not ok then error((tostring(res):gsub("^cloudflare: ", "")), 0) end
        ctx.log.info("%d request(s), %d error(s) in %gs", res.requests, res.errors, seconds)
        return res
      end, { limit = #list, label = function(worker) return worker[1] end })
      local watched = { seconds = seconds }
      for i, worker in ipairs(list) do watched[worker[1]] = { requests = seen[i].requests, errors = seen[i].errors } end
      ctx.set("watch", watched)
    end)
  end
end

function M.staging(c)
  local r = recipe.new {
    name = "cms-staging", service = c.service, environment = "staging",
    description = "deploy main to staging: " .. shape(c) .. ", smoke check",
    version = function() return pkgjson.version(c.package_json) end,
    rollback_hint = "drun recipes/cms-rollback.lua environment=staging",
    secrets = { "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID" },
  }
  worker_steps(r, c, "staging", {
    message_prefix = function() return "" end,
    smoke_failure = "the new bundle is live on staging and not healthy: roll back (drun recipes/cms-rollback.lua "
                    .. "environment=staging) or fix on main",
  })
  return r
end

-- A hotfix (FLOWS.md §1): a branch named hotfix/... (c.hotfix_prefix) cut
-- from the last release tag, released as a patch of that tag, tagged on the
-- hotfix branch, which is pushed and then merged to main by a person.
local function hotfix_prefix(c) return c.hotfix_prefix or "hotfix/" end
local function main_branch(c) return c.main_branch or "main" end
local function is_hotfix(c, branch) return type(branch) == "string" and branch:sub(1, #hotfix_prefix(c)) == hotfix_prefix(c) end
local function short(sha) return sha and tostring(sha):sub(1, 12) or "?" end

-- the release tags ({name, sha, version}, highest version first) and the
-- last of them; raises when nothing was released yet
local function release_tags(c, repo)
  local tags = repo:tags(c.tag_prefix .. "*")
  if not (tags[1] and tags[1].version) then
    error(string.format("no %s* tag: nothing was released yet, so there is nothing to hotfix; release from %s",
                        c.tag_prefix, main_branch(c)), 0)
  end
  return tags, tags[1]
end

-- the tag a hotfix branch is cut from, or why the branch is no hotfix of
-- the last release
local function hotfix_base(c, repo, branch)
  local pattern = c.tag_prefix .. "*"
  local _, last = release_tags(c, repo)
  local cut = "cut it from " .. last.name .. " (drun recipes/cms-hotfix.lua)"
  local base = repo:latest_tag(pattern, { reachable_from = "HEAD" })
  if not base then error(string.format("%s holds no release tag: %s", branch, cut), 0) end
  -- where the branch left main: the tag itself, not a commit after it
  for _, ref in ipairs { "refs/remotes/" .. (c.remote or "origin") .. "/" .. main_branch(c), "refs/heads/" .. main_branch(c) } do
    local ok, at = pcall(repo.rev_parse, repo, ref)
    if ok and at then
      local fork = repo:merge_base("HEAD", at)
      if fork ~= base.sha and not repo:is_ancestor(fork, base.sha) then
        error(string.format("%s was cut from %s, a commit of %s after %s, which is not a release tag: a hotfix "
                            .. "releases exactly what production runs plus the fix; %s", branch, short(fork),
                            main_branch(c), base.name, cut), 0)
      end
      break
    end
  end
  if base.name ~= last.name then
    error(string.format("%s is cut from %s, but the last release is %s: production runs that one; %s", branch,
                        base.name, last.name, cut), 0)
  end
  return base
end

-- The production checklist (FLOWS.md §1), checked before anything runs: what
-- is released is what staging verified. Each can be skipped with
-- skip_checks=<id>, which the run says and the ledger keeps (the params).
local function release_checks(c)
  local staging_env = wrangler_env(c, "staging")
  return {
    { "check", id = "staging-commit", describe = "staging's last successful deployment (ledger) is the commit released",
      run = function(ctx)
        local db = ctx.ledger or require("drun.ledger").reader(ctx.ledger_path)
        local ok, last = pcall(db.latest, db, { service = c.service, environment = "staging", status = "success" })
        if db ~= ctx.ledger then db:close() end
        if not ok then error(last, 0) end
        if not last then
          error(string.format("the ledger has no successful staging deployment of %s: deploy %s to staging first "
                              .. "(drun recipes/cms-staging.lua)", c.service, short(ctx.sha)), 0)
        end
        if last.git_commit ~= ctx.sha then
          error(string.format("staging's last successful deployment (%s, %s) is commit %s, this release is %s: deploy "
                              .. "this commit to staging first, or release the one staging verified",
                              last.full_version, last.deployed_at, short(last.git_commit), short(ctx.sha)), 0)
        end
        return string.format("staging runs %s since %s (%s)", short(ctx.sha), last.deployed_at, last.full_version)
      end },
    c.database and { "check", id = "staging-migrations", describe = "staging's D1 (" .. c.database.staging .. ") has no pending migration",
      run = function(ctx)
        local ok, pending = pcall(cf.d1.pending, { db = c.database.staging, env = staging_env, dir = c.cms_dir })
        if not ok then error(tostring(pending):gsub("^cloudflare: ", "") .. ": deploy staging first", 0) end
        if #pending > 0 then
          error(string.format("%s has %d pending migration(s) (%s): production would get migrations staging never "
                              .. "ran; deploy staging first", c.database.staging, #pending, table.concat(pending, ", ")), 0)
        end
        return c.database.staging .. ": no migrations to apply"
      end } or nil,
  }
end

-- on a hotfix branch: cut from the last release tag, a patch of it
local function hotfix_check(c)
  return { "check", id = "hotfix-base", describe = "a hotfix branch is cut from the last release tag; a patch of it",
    run = function(ctx)
      local base = hotfix_base(c, ctx.git, ctx.branch)
      if ctx.params.version_bump ~= "patch" then
        error(string.format("a hotfix is a patch release of %s: version_bump=%s would release %s; use "
                            .. "version_bump=patch, or release from %s", base.name, ctx.params.version_bump,
                            ctx.version, main_branch(c)), 0)
      end
      local pkg = pkgjson.version(c.package_json)
      if pkg ~= base.version then
        error(string.format("%s says %s, but %s released %s: the hotfix must not change the version by hand",
                            c.package_json, pkg, base.name, base.version), 0)
      end
      ctx.hotfix_base = base.name -- recorded by the tag step: nothing is recorded before the run starts
      return string.format("%s is cut from %s (%s): releases %s", ctx.branch, base.name, short(base.sha), ctx.version)
    end }
end

function M.production(c)
  local checks = release_checks(c)
  local check_ids = { "hotfix-base" }
  for _, k in ipairs(checks) do check_ids[#check_ids + 1] = k.id end
  table.sort(check_ids)
  -- a hotfix branch needs the release tags and its own check; main needs neither
  local function needs(params)
    local list = { "clean" } -- the tag must hold what is deployed: nothing uncommitted may go out with it
    for _, k in ipairs(checks) do list[#list + 1] = k end
    if is_hotfix(c, require("drun.git").context().branch) then
      list[#list + 1] = { "tags", pattern = c.tag_prefix .. "*" }
      list[#list + 1] = hotfix_check(c)
    end
    return list
  end
  local r = recipe.new {
    name = "cms-prod", service = c.service, environment = "production",
    description = "release to production: test, bump, " .. shape(c) .. ", smoke, then tag and release",
    version = steps.next_version(c.package_json),
    params = { version_bump = steps.VERSION_BUMP,
               skip_checks = { default = "", description = "release checklist items not to check (recorded): "
                                                           .. table.concat(check_ids, ", ") } },
    approval = "required",
    rollback_hint = "drun recipes/cms-rollback.lua environment=production",
    secrets = { "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "GITHUB_TOKEN" },
    needs = needs,
    fetch = c.fetch, remote = c.remote,
  }
  local release_tag = steps.tag_of(c.tag_prefix)
  r:step("test", { description = "the test gate", on_failure = "nothing deployed: fix on main, let staging redeploy, retry" },
         function(ctx) ctx.run(c.test) end)
  steps.bump_version_step(r, { package_json = c.package_json })
  r:step("build", { description = "the CMS bundle", on_failure = "nothing deployed: read the log; retry" },
         function(ctx)
           local spec = {}
           for k, v in pairs(c.build) do spec[k] = v end
           spec.cwd = c.cms_dir
           ctx.run(spec)
         end)
  worker_steps(r, c, "production", {
    message_prefix = function(ctx) return string.format("%s@%s prod ", c.service, ctx.version) end,
    expect_version = true,
    smoke_failure = "the new bundle is live and bad; no commit, tag or release was made: roll back "
                    .. "(drun recipes/cms-rollback.lua environment=production); re-running after a fix picks up cleanly",
    watch = true,
    watch_failure = "the new bundle is live and failing under traffic (or was not watched to the end); no commit, tag or "
                    .. "release was made: roll back (drun recipes/cms-rollback.lua environment=production, or re-run "
                    .. "with --auto-rollback); re-running after a fix picks up cleanly",
  })
  steps.tag_step(r, {
    description = "commit the version bump, tag " .. c.tag_prefix .. "X.Y.Z, push",
    paths = { c.package_json }, tag = release_tag, remote = c.remote, github_repo = c.github_repo,
    -- a hotfix's bump commit and tag go to its own branch, merged to main afterwards; else the
    -- configured branch, else the run's (preflight refuses a detached HEAD with none named)
    branch = function(ctx) return is_hotfix(c, ctx.branch) and ctx.branch or c.release_branch end,
    default_branch = main_branch(c),
    on_failure = "the release is live; the bump commit or tag did not reach " .. c.remote .. ": push them by hand",
    after = function(ctx, tag)
      if not is_hotfix(c, ctx.branch) then return end
      ctx.set("hotfix_base", ctx.hotfix_base or json.null)
      ctx.set("merge_to", main_branch(c))
      ctx.log.warn("hotfix %s is released from %s: merge %s into %s now, or the next release from %s drops the fix "
                   .. "(git switch %s && git merge --no-ff %s && git push %s %s, or a pull request)", tag, ctx.branch,
                   ctx.branch, main_branch(c), main_branch(c), main_branch(c), ctx.branch, c.remote, main_branch(c))
    end,
  })
  steps.release_step(r, { repo = c.github_repo, tag = release_tag, since = steps.previous_tag(c.tag_prefix) })
  return r
end

-- Cut a hotfix branch from the last release tag (or `from`) and check it
-- out: what production runs, ready for the fix. Nothing is deployed or
-- pushed; the record says who cut which branch from which tag.
function M.hotfix(c)
  local pattern = c.tag_prefix .. "*"
  local function base(ctx)
    if not ctx.hotfix_from then
      local tags, t = release_tags(c, ctx.git)
      if ctx.params.from ~= "" then
        t = nil
        for _, tag in ipairs(tags) do if tag.name == ctx.params.from then t = tag end end
        if not (t and t.version) then
          error(string.format("from=%s is no release tag (%s with a version); the last one is %s", ctx.params.from,
                              pattern, tags[1].name), 0)
        end
      end
      ctx.hotfix_from = t
    end
    return ctx.hotfix_from
  end
  local function branch(ctx)
    local name = ctx.params.name
    if name ~= "" then return is_hotfix(c, name) and name or hotfix_prefix(c) .. name end
    return hotfix_prefix(c) .. semver.format(semver.bump(base(ctx).version, "patch"), c.tag_prefix)
  end
  local r = recipe.new {
    name = "cms-hotfix", service = c.service, environment = "hotfix", lock = false,
    description = "cut " .. hotfix_prefix(c) .. "... from the last release tag and check it out (nothing is deployed)",
    params = { from = { default = "", description = "the release tag to cut from (default: the last " .. pattern .. ")" },
               name = { default = "", description = "the branch (default: " .. hotfix_prefix(c) .. c.tag_prefix .. "<next patch>)" } },
    -- before preflight fetched the tags (a shallow CI checkout), package.json says what was released
    version = function(ctx)
      local ok, t = pcall(base, ctx)
      return semver.bump(ok and t.version or pkgjson.version(c.package_json), "patch")
    end,
    commit = function(ctx) local ok, t = pcall(base, ctx); return ok and t.sha or nil end,
    -- the checkout is switched: nothing uncommitted may be carried over; the tag is known before anything
    needs = { "clean", { "tags", pattern = pattern },
              { "check", id = "release-tag", describe = "the tag to cut from is a release tag",
                run = function(ctx) local t = base(ctx); return t.name .. " at " .. short(t.sha) end } },
    fetch = c.fetch, remote = c.remote,
  }
  r:step("branch", { description = "git switch -c " .. hotfix_prefix(c) .. "... <last release tag>",
                     on_failure = "nothing changed: the checkout is where it was" }, function(ctx)
    local t, name = base(ctx), branch(ctx)
    local ok = require("drun.proc").run { "git", "check-ref-format", "--branch", name, check = false, read_only = true }
    if ok.code ~= 0 then error(string.format("'%s' is not a valid branch name", name), 0) end
    if pcall(ctx.git.rev_parse, ctx.git, "refs/heads/" .. name) then
      error(string.format("branch %s already exists here: git switch %s", name, name), 0)
    end
    local res = require("drun.proc").run { "git", "ls-remote", "--heads", c.remote or "origin", "refs/heads/" .. name,
                                           check = false, read_only = true, timeout = 120 }
    if res.code == 0 and res.stdout:find("%x") then
      error(string.format("branch %s already exists on %s: git switch %s", name, c.remote or "origin", name), 0)
    end
    ctx.run { "git", "switch", "--quiet", "-c", name, t.name }
    ctx.set("branch", name)
    ctx.set("from_tag", t.name)
  end)
  r:step("next", { description = "what to do next", read_only = true }, function(ctx)
    local name, t = branch(ctx), base(ctx)
    ctx.log.info("on %s, cut from %s (%s). Next:", name, t.name, short(t.sha))
    ctx.log.info("  1. commit the fix on %s", name)
    ctx.log.info("  2. drun recipes/cms-staging.lua             (staging runs the hotfix: the release checklist asks for it)")
    ctx.log.info("  3. drun recipes/cms-prod.lua --yes          (releases %s%s, tags it on %s and pushes the branch)",
                 c.tag_prefix, ctx.version, name)
    ctx.log.info("  4. merge %s into %s", name, main_branch(c))
  end)
  return r
end

-- The deployment before the one serving now, from Workers' own history
-- (`wrangler deployments list --json`, oldest first): {version_id, message},
-- or nil when there is none.
local function previous_from_workers(dir, wenv)
  local ok, list = pcall(cf.deployments, { dir = dir, env = wenv })
  if not ok then
    if cf.worker_not_found(list) then return nil end -- never deployed: no history
    error(list, 0)
  end
  local current = list[#list] and list[#list].versions[1] and list[#list].versions[1].version_id
  for i = #list - 1, 1, -1 do
    local v = list[i].versions and list[i].versions[1]
    if v and v.version_id ~= current then
      local notes = type(list[i].annotations) == "table" and list[i].annotations or {}
      return { version_id = v.version_id, message = notes["workers/message"] }
    end
  end
end

-- Rollback through Workers' deployment history: the version ids the ledger
-- recorded for the last good deployment, CMS first, then MCP. With no
-- record (a fresh ledger, a deployment made without drun), the previous
-- deployment in `wrangler deployments list`; its version and commit are
-- read from the seed's deploy message ("cms@X.Y.Z prod deploy by A @ SHA").
function M.rollback(c)
  local function from_ledger(ctx)
    local db = ctx.ledger or require("drun.ledger").reader(ctx.ledger_path)
    local env = ctx.params.environment
    local latest -- the newest deployment that is not this rollback's own record
    for _, rec in ipairs(db:history { service = c.service, environment = env, limit = 2 }) do
      if rec.id ~= ctx.record_id then latest = latest or rec end
    end
    if ctx.params.to ~= "" then
      local rec = db:record(ctx.params.to)
      if not rec then error("no deployment '" .. ctx.params.to .. "' in the ledger", 0) end
      return rec, latest
    end
    local good = db:rollback_target(c.service, env, latest)
    return good, latest
  end
  local function from_workers(ctx)
    local wenv = wrangler_env(c, ctx.params.environment)
    local cms = previous_from_workers(c.cms_dir, wenv)
    if not cms then
      error(string.format("no earlier successful deployment of %s to %s in the ledger, and no earlier deployment in "
                          .. "Workers' history (wrangler deployments list): nothing to roll back to",
                          c.service, ctx.params.environment), 0)
    end
    local msg = cms.message or ""
    local metadata = { cms_version_id = cms.version_id, from = "wrangler deployments list" }
    for _, w in ipairs(extras(c)) do
      local prev = (w.name ~= "mcp" or ctx.params.mcp) and previous_from_workers(w.dir, wenv) or nil
      metadata[w.name .. "_version_id"] = prev and prev.version_id
    end
    return { version = msg:match("@(%d+%.%d+%.%d+[%w%.%-+]*) ") or "unknown", git_commit = msg:match(" @ (%x+)"),
             full_version = "Workers' previous deployment " .. cms.version_id, metadata = metadata }
  end
  -- the deployment to go back to and the one it replaces, once per run
  local function target(ctx)
    if not ctx.rollback_target then
      local ok, good, latest = pcall(from_ledger, ctx)
      if not ok then error(good, 0) end
      if not good then good = from_workers(ctx) end
      ctx.rollback_target = { good, latest }
    end
    return table.unpack(ctx.rollback_target, 1, 2)
  end
  local r = recipe.new {
    name = "cms-rollback", service = c.service, environment = "production",
    description = "put the last good CMS (and MCP) versions back, from the ledger (else Workers' own history)",
    params = {
      environment = { default = "production", choices = { "staging", "production" } },
      to = { default = "", description = "a deployment id or full version (default: the last good one)" },
      reason = { default = "smoke check failed", description = "recorded and stamped on the rollback" },
      mcp = { default = true, description = "roll MCP back too" },
    },
    version = function(ctx) return (target(ctx)).version end,
    commit = function(ctx) return (target(ctx)).git_commit end, -- the restored commit, not the checkout's
    approval = "required",
    secrets = { "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID" },
  }
  local function rollback_step(name, dir, key)
    r:step(name, { description = "wrangler rollback to the recorded " .. key .. " version",
                   on_failure = "see the log: " .. name .. " did not complete" }, function(ctx)
      if key == "mcp" and not ctx.params.mcp then return ctx.log.info("MCP left as it is (mcp=false)") end
      local good = target(ctx)
      local id = good.metadata[key .. "_version_id"]
      if not id then error(string.format("%s has no %s_version_id", good.full_version, key), 0) end
      cf.rollback { dir = dir, env = wrangler_env(c, ctx.params.environment), version_id = id, run = ctx.run,
                    message = rollback_message(key, ctx.params.reason) }
      ctx.set(key .. "_version_id", id)
      if good.metadata.from then ctx.set("restored_from", good.metadata.from) end
    end)
  end
  rollback_step("rollback-cms", c.cms_dir, "cms")
  for _, w in ipairs(extras(c)) do rollback_step("rollback-" .. w.name, w.dir, w.name) end
  r:step("smoke-check", { description = "the rolled-back version answers",
                          on_failure = "the rollback is done but the health check disagrees: investigate" }, function(ctx)
    local known = ctx.version ~= "unknown"
    ctx.health.wait { url = c.health_url[ctx.params.environment], attempts = c.smoke.attempts,
                      interval = c.smoke.interval, expect_json = known and { version = ctx.version } or nil }
  end)
  r:step("mark", { description = "mark the bad deployment rollback in the ledger" }, function(ctx)
    local good, latest = target(ctx)
    if ctx.ledger and latest and latest.id ~= good.id and latest.id ~= ctx.record_id then
      ctx.ledger:mark_rollback(latest.id, ctx.params.reason)
      ctx.log.info("%s marked rollback", latest.full_version)
    end
  end)
  return r
end

-- the config is checked first (drun.flows.schema.cms): a misspelt key is exit 2, not a traceback
return require("drun.schema").checked(require "drun.flows.schema.cms", "cms", { staging = M.staging, production = M.production, hotfix = M.hotfix, rollback = M.rollback })
