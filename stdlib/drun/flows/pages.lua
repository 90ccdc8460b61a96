-- Cloudflare Pages docs (FLOWS.md §4). Each doc site is built and deployed
-- only when something under it changed since the mode's baseline (a PR's
-- merge base, the previous main commit, the latest release tag): no no-op
-- deployments. Every site is built before any is deployed, so a build
-- failure leaves every site as it was. A PR run keeps one comment listing
-- the previews. The run has its ledger record (service "docs", each site's
-- fate in its metadata); every site deployment has its own (service = the
-- site), so `drun ledger list --service usage-docs` is that site's history.
local recipe = require "drun.recipe"
local pages = require "drun.pages"
local github = require "drun.github"
local pkgjson = require "drun.pkgjson"
local json = require "drun.json"
local tab = require "drun.tabulate"

local M = {}

local ENVIRONMENT = { pr = "preview", staging = "staging", production = "production" }

local function short(sha) return sha and sha:sub(1, 12) or "?" end

-- A failure: its full text (without a Lua position) for the error, and its
-- last line (the tool's own words, after the command line) for the site's row.
local function failure(e)
  local text = tostring(e):gsub("^[^:\n]+:%d+: ", ""):gsub("%s+$", "")
  return text, text:match("([^\n]*)$")
end

-- The repository's root (libgit2 gives it with a trailing "/")
local function root(ctx) return (ctx.git:workdir():gsub("/+$", "")) end

-- A revision the run was given, or a clear error naming it.
local function resolve(ctx, ref, what)
  local ok, sha = pcall(ctx.git.rev_parse, ctx.git, ref)
  if ok then return sha end
  error(string.format("%s '%s' is not a revision in this repository; fetch it first "
                      .. "(git fetch origin --tags, or actions/checkout with fetch-depth: 0)", what, ref), 0)
end

-- The mode's baseline: {sha, label}, or {why} when there is none (every site deploys).
local function baseline(c, ctx)
  local mode, base = ctx.params.mode, ctx.params.base
  if mode == "pr" then
    local gh_base = os.getenv("GITHUB_BASE_REF")
    local ref = base ~= "" and base or (gh_base and gh_base ~= "" and ("origin/" .. gh_base)) or c.base
    local sha = ctx.git:merge_base("HEAD", resolve(ctx, ref, "the PR's base"))
    return { sha = sha, label = "the merge base with " .. ref }
  end
  -- a push's "before" of all zeros (a new branch) names no commit
  if base ~= "" and not base:match("^0+$") then return { sha = resolve(ctx, base, "base"), label = base } end
  if mode == "staging" then
    local ok, sha = pcall(ctx.git.rev_parse, ctx.git, "HEAD~1")
    if not ok then return { why = "HEAD is the first commit: every site deploys" } end
    return { sha = sha, label = "the previous main commit" }
  end
  -- production: the release before this one (a tag on HEAD itself is this release)
  local head = ctx.git:head().sha
  for _, tag in ipairs(ctx.git:tags(c.tag_prefix .. "*")) do
    if tag.sha ~= head and ctx.git:is_ancestor(tag.sha, head) then return { sha = tag.sha, label = tag.name } end
  end
  return { why = string.format("no %s* release tag before HEAD yet (the first release): every site deploys", c.tag_prefix) }
end

-- The Pages branch of the mode: pr-<n>-<slug>, staging; nil for production,
-- whose branch is each project's own production branch
local function pages_branch(c, ctx)
  if ctx.params.mode == "production" then return nil end
  if ctx.params.mode ~= "pr" then return c.branches[ctx.params.mode] end
  local branch = ctx.params.branch ~= "" and ctx.params.branch or ctx.branch or ""
  return pages.preview_branch(ctx.params.pr, branch)
end

-- The site's project as Cloudflare has it, and the Pages branch this run
-- deploys it to: production goes to the project's production branch (not
-- assumed to be main); a preview or staging branch that is the production
-- branch would go live, so it is refused before anything is built.
local function site_branch(c, ctx, site)
  local project = pages.project(site.project)
  local prod = project.production_branch
  if ctx.params.mode == "production" then
    local want = c.branches.production
    if want and want ~= prod then
      error(string.format("the production branch of Pages project %s is %s, not %s (branches.production in the config)",
                          site.project, tostring(prod), want), 0)
    end
    return prod, project
  end
  local branch = ctx.docs.pages_branch
  if branch == prod then
    error(string.format("the Pages branch %s is the production branch of project %s: a %s deploy there would go live",
                        branch, site.project, ctx.params.mode), 0)
  end
  return branch, project
end

-- The latest successful deployment of a site to this Pages branch from this commit, if any.
local function already_deployed(ctx, site, branch)
  if not ctx.ledger then return nil end
  for _, rec in ipairs(ctx.ledger:history { service = site.name, environment = ctx.environment, status = "success", limit = 20 }) do
    if rec.metadata.pages_branch == branch then
      return rec.git_commit == ctx.sha and rec or nil
    end
  end
end

local function globs_of(site)
  local globs = { site.dir .. "/**" }
  for _, g in ipairs(site.watch or {}) do globs[#globs + 1] = g end
  return globs
end

-- What builds must be what the ledger says: the recorded commit.
local function refuse_uncommitted(c, ctx)
  local dirty = {}
  for _, d in ipairs(ctx.git:dirty()) do
    for _, site in ipairs(c.sites) do
      if d.path:sub(1, #site.dir + 1) == site.dir .. "/" then dirty[#dirty + 1] = d.path end
    end
  end
  if #dirty > 0 then
    error(string.format("uncommitted changes under the doc sites (%s): commit or stash them, "
                        .. "so what deploys is commit %s", table.concat(dirty, ", "), short(ctx.sha)), 0)
  end
end

-- A site's plan: {name, site, status = "to deploy" | "skipped", reason, url, branch}
local function site_plan(c, ctx, site, base)
  local s = { name = site.name, site = site, status = "to deploy" }
  local branch
  local function known_branch()
    if not branch then branch = site_branch(c, ctx, site); s.branch = branch end
    return branch
  end
  if ctx.params.mode == "production" then known_branch() end
  if ctx.params.force then
    s.reason = "force=true"
    known_branch()
    return s
  end
  if not base.sha then
    s.reason = base.why
  else
    local changed = ctx.git:changed(base.sha, "HEAD", globs_of(site))
    if #changed == 0 then
      s.status, s.reason = "skipped", string.format("nothing under %s changed since %s", site.dir, ctx.docs.base_text)
      return s
    end
    s.reason = string.format("%d file(s) changed: %s%s", #changed, table.concat(changed, ", ", 1, math.min(3, #changed)),
                             #changed > 3 and ", ..." or "")
  end
  local prior = already_deployed(ctx, site, known_branch())
  if prior then
    s.status, s.url = "skipped", prior.metadata.url
    s.reason = string.format("already deployed from %s to %s (%s)", short(ctx.sha), branch, prior.full_version)
  end
  return s
end

-- Each site's fate as the ledger keeps it, under "sites".
local function record_sites(ctx)
  local sites = {}
  for _, s in ipairs(ctx.docs.sites) do
    sites[s.name] = { status = s.status, reason = s.reason or json.null, url = s.url or json.null,
                      deployment_url = s.deployment_url or json.null, record = s.record or json.null }
  end
  ctx.set("sites", json.object(sites))
end

-- One line per site: name, status, URL or reason; for logs and failure reports.
local SITE_COLUMNS = {
  { "SITE", "name" }, { "STATUS", "status" },
  { "DETAIL", function(s) return s.url and (s.url .. (s.reason and (" (" .. s.reason .. ")") or "")) or s.reason end },
}
local function site_lines(ctx)
  return (tab.tabulate(ctx.docs.sites, SITE_COLUMNS, { header = false }):gsub("\n$", ""))
end

local function log_sites(ctx)
  for line in site_lines(ctx):gmatch("[^\n]+") do ctx.log.info("%s", line) end
end

local function to_deploy(ctx)
  local list = {}
  for _, s in ipairs(ctx.docs.sites) do
    if s.status ~= "skipped" then list[#list + 1] = s end
  end
  return list
end

-- the PR comment: every site's preview, or why it has none
local function comment_body(ctx)
  local lines = {
    string.format("### Docs previews for `%s` @ %s", ctx.docs.branch, short(ctx.sha)), "",
    "| site | preview | |", "|---|---|---|",
  }
  for _, s in ipairs(ctx.docs.sites) do
    local preview = s.url or "—"
    local note = s.status == "deployed" and string.format("deployed (%s)", s.deployment_url or "") or
                 (s.status .. (s.reason and (": " .. s.reason) or ""))
    lines[#lines + 1] = string.format("| %s | %s | %s |", s.name, preview, (note:gsub("|", "\\|")))
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = string.format("Baseline: %s. Updated by drun (%s).", ctx.docs.base_text, ctx.full_version or "?")
  return table.concat(lines, "\n")
end

-- Posts the previews comment, or updates the one posted before. A PR that
-- never touched the docs gets no comment; one that had previews gets its
-- comment updated whatever this push changed.
local function post_comment(c, ctx)
  local cm = github.comment { repo = c.github_repo, issue = ctx.params.pr, body = comment_body(ctx),
                              update = c.comment_marker, create = #to_deploy(ctx) > 0 }
  if cm and cm.html_url then
    ctx.set("comment_url", cm.html_url)
    ctx.log.info("previews listed on %s", cm.html_url)
  end
end

local RERUN = "fix it and re-run: sites already deployed from this commit are skipped (force=true deploys them "
              .. "again); to go back, run this recipe from the previous good commit"

function M.recipe(c)
  local r = recipe.new {
    name = "docs-pages", service = c.service,
    environment = function(params) return ENVIRONMENT[params.mode] end,
    description = "build and deploy the doc sites that changed to Cloudflare Pages",
    params = {
      mode = { choices = { "pr", "staging", "production" }, required = true,
               description = "pr: previews; staging: a push to main; production: a release" },
      pr = { default = 0, description = "the PR number (mode=pr)" },
      base = { default = "", description = "the baseline: a PR's base branch, a push's previous commit, a release tag" },
      branch = { default = "", description = "the PR's branch (default: GITHUB_HEAD_REF, else the checkout's)" },
      force = { default = false, description = "deploy every site, changed or not" },
    },
    validate = function(p)
      if p.mode == "pr" and not (p.pr >= 1 and p.pr == math.floor(p.pr)) then
        return "mode=pr needs pr=<the PR number> (a positive whole number)"
      end
      if p.mode ~= "pr" and p.pr ~= 0 then return string.format("pr= is for mode=pr (this run is mode=%s)", p.mode) end
    end,
    approval = function(params) return params.mode == "production" end,
    lock = function(params) return params.mode ~= "pr" end, -- each PR has Pages branches of its own
    secrets = function(params)
      local cf = { "CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID" }
      if params.mode == "pr" then cf[#cf + 1] = "GITHUB_TOKEN" end
      return cf
    end,
    version = function() return c.version_file and pkgjson.version(c.version_file) or "0.0.0" end,
    rollback_hint = RERUN,
    -- the baseline is in the history: the previous commit, the PR's base, the last release tag
    needs = function(params)
      if params.mode == "production" then return { { "tags", pattern = c.tag_prefix .. "*" } } end
      return { "history" }
    end,
    fetch = c.fetch,
  }

  r:step("changes", { read_only = true, description = "the baseline of the mode, and which sites changed since it",
                      on_failure = "nothing built or deployed: every site serves what it served before" }, function(ctx)
    local base = baseline(c, ctx)
    local branch = pages_branch(c, ctx)
    ctx.docs = { sites = {}, pages_branch = branch, branch = ctx.params.branch ~= "" and ctx.params.branch or ctx.branch or "?",
                 base_text = base.sha and string.format("%s (%s)", base.label, short(base.sha)) or base.why }
    refuse_uncommitted(c, ctx)
    ctx.set("baseline", base.sha or json.null)
    ctx.set("baseline_ref", base.label or json.null)
    ctx.set("pages_branch", branch or "the production branch of each project")
    if ctx.params.mode == "pr" then ctx.set("pr", ctx.params.pr) end
    ctx.log.info("baseline: %s", ctx.docs.base_text)
    for _, site in ipairs(c.sites) do ctx.docs.sites[#ctx.docs.sites + 1] = site_plan(c, ctx, site, base) end
    record_sites(ctx)
    log_sites(ctx)
    if #to_deploy(ctx) == 0 then ctx.log.info("nothing to deploy: every site is unchanged or already deployed") end
  end)

  r:step("build", {
    description = "build every changed site (all of them before any deploys)",
    on_failure = function(ctx) return "nothing deployed: every site serves what it served before\n" .. site_lines(ctx) end,
  }, function(ctx)
    -- side by side (c.build_limit at once, 4 by default), each site's lines
    -- labelled with its name; one site's failure does not stop the others
    local sites = to_deploy(ctx)
    ctx.parallel(sites, function(ctx, s)
      local dir = root(ctx) .. "/" .. s.site.dir
      local argv = {}
      for i, a in ipairs(s.site.build) do argv[i] = a end
      argv.cwd = dir
      local ok, res = pcall(ctx.run, argv)
      local err = not ok and res or nil
      local out = dir .. "/" .. s.site.output
      if ok and not res.dry_run then -- a build that ran (under --dry-run it is only described)
        local st = ctx.fs.try.stat(out)
        if not (st and st.type == "directory" and #ctx.fs.list(out) > 0) then
          ok, err = false, string.format("the build left no files in %s/%s (output in the config)", s.site.dir, s.site.output)
        end
      end
      if ok then
        s.status, s.out = "built", out
      else
        local text, last = failure(err)
        s.status, s.reason, s.failure = "build failed", last, s.name .. ": " .. text
      end
    end, { limit = c.build_limit or 4, keep_going = true, label = function(s) return s.name end })
    local failed = {}
    for _, s in ipairs(sites) do failed[#failed + 1] = s.failure end
    if #failed > 0 then
      for _, s in ipairs(to_deploy(ctx)) do
        if s.status == "built" then s.status, s.reason = "not deployed", "a build failed, so no site deploys" end
      end
    end
    record_sites(ctx)
    if #failed > 0 then error(table.concat(failed, "\n"), 0) end
  end)

  r:step("deploy", {
    description = "wrangler pages deploy each built site to the mode's branch; a ledger record per site",
    on_failure = function(ctx) return site_lines(ctx) end,
    next = RERUN, -- sites deployed before the failure stay: a re-run picks up the rest
  }, function(ctx)
    local subject = ctx.git:log("HEAD", 1)[1].subject
    local failed = {}
    for _, s in ipairs(to_deploy(ctx)) do
      local rec = ctx.ledger and ctx.ledger:begin {
        service = s.name, environment = ctx.environment, version = ctx.version, recipe = ctx.recipe,
        commit = ctx.sha, branch = ctx.branch, actor = ctx.actor, workflow_run_id = ctx.run_id,
        workflow_run_url = ctx.run_url,
        metadata = { project = s.site.project, pages_branch = s.branch, baseline = ctx.get("baseline"),
                     docs_run = ctx.full_version, pr = ctx.params.mode == "pr" and ctx.params.pr or nil },
      }
      s.record = rec and rec.full_version
      local ok, res = pcall(pages.deploy, { project = s.site.project, dir = s.out, branch = s.branch,
                                            commit_hash = ctx.sha, commit_message = subject, run = ctx.run })
      local expected = ctx.params.mode == "production" and "production" or "preview"
      if ok and res and res.environment ~= expected then
        ok, res = false, string.format("Pages deployed %s to its %s environment, not %s (the project's production branch is %s)",
                                       s.branch, tostring(res.environment), expected, tostring(res.production_branch))
      end
      if ok and res then
        s.status, s.deployment_url = "deployed", res.url
        s.url = ctx.params.mode == "production" and (s.site.url or res.url) or res.alias or res.url
        if rec then
          ctx.ledger:set(rec.id, "url", s.url)
          ctx.ledger:set(rec.id, "deployment_url", res.url)
          ctx.ledger:finish(rec.id, "success")
        end
      elseif ok then
        s.status = "would deploy" -- --dry-run
      else
        local text, last = failure(res)
        s.status, s.reason = "failed", last
        failed[#failed + 1] = s.name .. ": " .. text
        if rec then ctx.ledger:finish(rec.id, "failed", { error = text, failed_step = "deploy" }) end
      end
      record_sites(ctx)
    end
    log_sites(ctx)
    if #failed > 0 then
      -- the PR still learns which previews are up and which site failed
      if ctx.params.mode == "pr" then
        local ok, e = pcall(post_comment, c, ctx)
        if not ok then failed[#failed + 1] = "and the PR comment was not updated: " .. failure(e) end
      end
      error(table.concat(failed, "\n"), 0)
    end
  end)

  r:step("comment", {
    description = "on a PR: one comment listing the previews (updated on later pushes)",
    on_failure = "every site is deployed (above); only the PR comment is out of date: re-run to update it",
  }, function(ctx)
    if ctx.params.mode ~= "pr" then return ctx.log.info("not a PR: no comment") end
    post_comment(c, ctx)
  end)
  return r
end

-- the config is checked first (drun.flows.schema.pages): a misspelt key is exit 2, not a traceback
return require("drun.schema").checked(require "drun.flows.schema.pages", "pages", { recipe = M.recipe })
