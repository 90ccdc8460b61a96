-- Docker Compose pull-request previews (FLOWS.md §3): on the app's server,
-- the PR's head in its own folder <root>/<project>, run as its own compose
-- project (`docker compose -p <app>-pr-<n>`, so its containers and its
-- database volume are its own), on a port allocated from the configured
-- range, behind a Caddy site pr-<n>.<domain> (a file in Caddy's sites
-- folder, `caddy reload`); health checked through Caddy; the URL in one PR
-- comment. The clean-up takes all of it down again (`down -v`, the folder,
-- the port, the site). Re-running either is harmless.
--
-- On the server, next to the previews' folders, <root>/.ports/<port>/ is a
-- port's claim (its `project` file names the preview): made with mkdir,
-- which succeeds for one caller only, so two previews started at once never
-- get the same port; a port something listens on (production, another app)
-- is never claimed.
local recipe = require "drun.recipe"
local compose = require "drun.compose"
local health = require "drun.health"
local json = require "drun.json"
local pull_request = require "drun.flows.pull_request"

local M = {}

local function n_of(ctx) return pull_request.number(ctx.params) end
-- n: the PR's number, or "<n>" where a description speaks of any PR
local function project(p, n) return (p.project:gsub("%%d", tostring(n))) end
local function folder(p, n) return p.root .. "/" .. project(p, n) end
local function host(p, n) return "pr-" .. n .. "." .. p.domain end
local function site_file(p, n) return p.caddy.sites .. "/" .. project(p, n) .. ".caddy" end
-- Caddy's site address: a bare name gets automatic HTTPS; http:// a plain one
local function address(p, n) return (p.scheme == "https" and "" or (p.scheme .. "://")) .. host(p, n) end
local function url(p, n) return p.scheme .. "://" .. host(p, n) end

-- "8100-8199" -> 8100, 8199
local function port_range(p)
  local a, b = tostring(p.ports):match("^%s*(%d+)%s*%-%s*(%d+)%s*$")
  a, b = tonumber(a), tonumber(b)
  if not a or a < 1 or b > 65535 or a > b then return nil end
  return a, b
end

-- the server previews run on: the config's preview.server, its one server, or the first of its fleet
local function server(c) return c.preview.server or c.server or (c.servers or {})[1] end
-- commands on the server (no folder): ssh there, as compose does
local function on_server(c, dir)
  local s = server(c)
  return { host = s.host, user = s.user, port = s.port, ssh_config = s.ssh_config, dir = dir }
end
-- the preview's compose project: its folder, -p, and the port the compose file reads
local function target(c, n, port)
  local t = on_server(c, folder(c.preview, n))
  t.project = project(c.preview, n)
  if port then t.env = { [c.preview.port_env] = tostring(port) } end
  return t
end

-- pr=N and the names it makes, checked before anything runs (exit 2):
-- what compose, Caddy and the shell would refuse or misread
local function validate(c)
  local p = c.preview
  return function(params)
    local n, bad = pull_request.number(params)
    if not n then return bad end
    local why = compose.project_name_problem(project(p, n))
    if why then return "the preview's project for pr=" .. n .. ": " .. why .. " (see preview.project in the config)" end
    local production = c.project or (server(c).dir or ""):match("([^/]+)/*$")
    if production and project(p, n) == production then
      return "preview.project makes " .. project(p, n) .. ", the production project's name: the preview would replace it"
    end
    local name = host(p, n):gsub(":%d+$", "")
    if not name:match("^[a-z0-9][a-z0-9.-]*[a-z0-9]$") or name:find("..", 1, true) then
      return string.format("the preview's site %s is not a host name (preview.domain is %q)", host(p, n), tostring(p.domain))
    end
    if p.scheme ~= "https" and p.scheme ~= "http" then return "preview.scheme must be https or http, got " .. tostring(p.scheme) end
    if not port_range(p) then return string.format("preview.ports must be a range like 8100-8199, got %q", tostring(p.ports)) end
    for _, k in ipairs { "root", "sites" } do
      local dir = k == "root" and p.root or p.caddy.sites
      if type(dir) ~= "string" or not dir:match("^/.") or dir:find("%.%.") or dir:find("[%s'\"\\$`]") then
        return string.format("preview.%s must be an absolute folder on the server, got %q", k == "root" and "root" or "caddy.sites", tostring(dir))
      end
    end
    if p.caddy.bind and not tostring(p.caddy.bind):match("^[%w.:%-]+$") then
      return "preview.caddy.bind must be an address, got " .. tostring(p.caddy.bind)
    end
  end
end

-- a remote sh script with its arguments (each quoted by drun.compose)
local function script(c, text, args, opts)
  local argv = { "sh", "-c", text, "sh" }
  for _, a in ipairs(args) do argv[#argv + 1] = tostring(a) end
  -- not streamed: the step logs what it found (--dry-run still only describes what changes)
  return compose.sh(on_server(c), argv, opts)
end

-- What the server holds of a preview: its folder, its port, its site.
local STATE = [[
root=$1 project=$2 site=$3 sites=$4
if [ -d "$root/$project/.git" ]; then echo "folder yes"; else echo "folder no"; fi
for f in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do
  if [ -f "$root/$project/$f" ]; then echo "compose yes"; break; fi
done
for d in "$root"/.ports/*/; do
  [ "$(cat "${d}project" 2>/dev/null)" = "$project" ] && { d=${d%/}; echo "port ${d##*/}"; }
done
# (a clean-up stopped between setting the site aside and Caddy's answer left it aside)
if [ -f "$site" ] || [ -f "$site.drun-removing" ]; then echo "site yes"; else echo "site no"; fi
if [ -d "$sites" ]; then echo "sites yes"; fi
if command -v caddy >/dev/null 2>&1; then echo "caddy yes"; fi
]]

local function server_state(c, n)
  local p = c.preview
  local res = script(c, STATE, { p.root, project(p, n), site_file(p, n), p.caddy.sites }, { read_only = true })
  local st = {}
  for line in (res.stdout or ""):gmatch("[^\n]+") do
    local k, v = line:match("^(%a+) (.+)$")
    if k == "port" then st.port = tonumber(v) elseif k then st[k] = (v == "yes") end
  end
  return st
end

-- The lowest port of the range that no preview has claimed and nothing
-- listens on (/proc/net/tcp{,6}: state 0A is LISTEN, the port in hex),
-- claimed with mkdir; the preview's own claim when it has one. Exit 3:
-- every port is taken.
local ALLOCATE = [[
root=$1 project=$2 first=$3 last=$4
mkdir -p "$root/.ports" || exit 1
for d in "$root"/.ports/*/; do
  [ "$(cat "${d}project" 2>/dev/null)" = "$project" ] && { d=${d%/}; echo "kept ${d##*/}"; exit 0; }
done
listening=" $(awk 'FNR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null | tr '\n' ' ') "
port=$first
while [ "$port" -le "$last" ]; do
  case "$listening" in *" $(printf '%04X' "$port") "*) port=$((port + 1)); continue ;; esac
  if mkdir "$root/.ports/$port" 2>/dev/null; then
    echo "$project" > "$root/.ports/$port/project"
    echo "claimed $port"; exit 0
  fi
  port=$((port + 1))
done
exit 3
]]

-- every claim of the project given up
local RELEASE = [[
for d in "$1"/.ports/*/; do
  [ "$(cat "${d}project" 2>/dev/null)" = "$2" ] && rm -rf "${d%/}"
done
exit 0
]]

-- the site file replaced whole (written aside, then renamed), from stdin
local WRITE_SITE = [[cat > "$1.drun-new" && mv -f "$1.drun-new" "$1"]]

-- the preview's port ("?" under --dry-run when it has none yet)
local function port_of(ctx)
  local port = ctx.get("port")
  return (port == nil or port == json.null) and "?" or port
end

local function release_port(c, ctx, n)
  if ctx.dry_run then return ctx.log.info("dry-run: would give up %s's port claims in %s/.ports", project(c.preview, n), c.preview.root) end
  script(c, RELEASE, { c.preview.root, project(c.preview, n) })
end

local function reload_argv(p)
  if p.caddy.reload then return p.caddy.reload end
  local argv = { "caddy", "reload", "--config", p.caddy.caddyfile, "--adapter", "caddyfile" }
  if p.caddy.admin then argv[#argv + 1] = "--address"; argv[#argv + 1] = p.caddy.admin end
  return argv
end

-- caddy reload: nil, or what Caddy said when it refused the configuration
-- (it keeps serving the one it had); its info lines (JSON) are left out
local function reload(c, ctx)
  local res = compose.sh(on_server(c), reload_argv(c.preview), { check = false })
  local said = {}
  for line in ((res.stderr or "") .. "\n" .. (res.stdout or "")):gmatch("[^\n]+") do
    if not line:match('^{"level":"info"') then said[#said + 1] = line end
  end
  if res.code == 0 then
    if not res.dry_run then ctx.log.info("caddy reload: done") end
    return nil
  end
  return #said > 0 and table.concat(said, "\n") or ("caddy reload exited with " .. tostring(res.code))
end

local function remove_site(c, ctx, n) compose.sh(on_server(c), { "rm", "-f", site_file(c.preview, n) }, { run = ctx.run }) end

-- The site taken out of Caddy: set aside (not *.caddy, so not imported),
-- reloaded, then deleted; put back when Caddy refuses, so that the file
-- says what Caddy serves and a re-run tries again.
local function take_out_site(c, ctx, n)
  local file = site_file(c.preview, n)
  script(c, [[[ ! -f "$1" ] || mv -f "$1" "$1.drun-removing"]], { file })
  local refused = reload(c, ctx)
  if refused then
    compose.sh(on_server(c), { "mv", "-f", file .. ".drun-removing", file }, { run = ctx.run })
    return refused
  end
  compose.sh(on_server(c), { "rm", "-f", file .. ".drun-removing" }, { run = ctx.run })
end

local function site_text(c, ctx, n, port)
  local p = c.preview
  local lines = {
    string.format("# drun compose-preview: %s PR #%d (compose project %s); drun recipes/compose-preview-cleanup.lua pr=%d removes it",
                  (c.github_repo:gsub("[^%w._/-]", "?")), n, project(p, n), n),
    address(p, n) .. " {",
  }
  if p.caddy.bind then lines[#lines + 1] = "\tbind " .. p.caddy.bind end
  lines[#lines + 1] = "\treverse_proxy 127.0.0.1:" .. port
  lines[#lines + 1] = "}"
  return table.concat(lines, "\n") .. "\n"
end

-- the PR's head on GitHub ({ref, sha}), its commit id checked
local function head(c, ctx)
  local pr = pull_request.get(ctx, c.github_repo)
  local h = type(pr.head) == "table" and pr.head or {}
  if type(h.sha) ~= "string" or #h.sha ~= 40 or not h.sha:match("^%x+$") then
    error(string.format("GitHub's PR #%d has no head commit: %s", n_of(ctx), json.encode(pr.head or json.null)), 0)
  end
  return h
end

function M.preview(c)
  local p = c.preview
  local r = recipe.new {
    name = "compose-preview", service = c.service, environment = pull_request.environment,
    description = "the PR's head as its own compose project on " .. (server(c).host or "this machine")
                  .. ", on its own port and volume, behind the Caddy site pr-<n>." .. tostring(p.domain),
    params = pull_request.PARAM, validate = validate(c),
    -- what runs is the PR's head on GitHub, not this checkout (on a pull_request
    -- event that is a merge commit the server never sees)
    version = function(ctx) return head(c, ctx).sha:sub(1, 12) end,
    commit = function(ctx)
      local h = head(c, ctx)
      ctx.branch = h.ref or ctx.branch -- the ledger's branch: the PR's, not this checkout's
      return h.sha
    end,
    secrets = { "GITHUB_TOKEN" },
    rollback_hint = "fix the branch and push again (each push redeploys the preview), or drun recipes/compose-preview-cleanup.lua pr=${pr}",
  }

  r:step("resolve", { read_only = true, description = "the PR is open; what the server has of its preview (folder, port, site)",
                      on_failure = "nothing changed" }, function(ctx)
    local n = n_of(ctx)
    local pr = pull_request.open(ctx, c.github_repo, "recipes/compose-preview-cleanup.lua")
    ctx.set("branch", pr.head.ref or json.null)
    ctx.set("project", project(p, n))
    ctx.set("folder", folder(p, n))
    local st = server_state(c, n)
    if not st.sites and not ctx.dry_run then
      error(string.format("%s has no Caddy sites folder %s: create it and import it from %s (import %s/*.caddy)",
                          server(c).host or "the server", p.caddy.sites, p.caddy.caddyfile, p.caddy.sites), 0)
    end
    if not st.caddy and not p.caddy.reload and not ctx.dry_run then
      error(string.format("%s has no caddy on its PATH to reload the sites with (or set preview.caddy.reload)",
                          server(c).host or "the server"), 0)
    end
    ctx.preview_state = st
    local origin = p.repo or compose.sh(on_server(c, server(c).dir), { "git", "remote", "get-url", "origin" },
                                        { read_only = true }).stdout:gsub("%s+$", "")
    if origin == "" then error("the production checkout " .. tostring(server(c).dir) .. " has no origin to clone previews from", 0) end
    ctx.preview_origin = origin
    ctx.log.info("PR #%d %s at %s; on %s: %s, port %s, site %s", n, tostring(pr.head.ref), pr.head.sha:sub(1, 12),
                 server(c).host or "the server", st.folder and ("folder " .. folder(p, n)) or "no folder yet",
                 st.port or "none yet", st.site and "exists" or "none yet")
  end)

  r:step("port", {
    description = "its port: the one it has, or the lowest free one of " .. tostring(p.ports) .. " (claimed on the server)",
    on_failure = "nothing changed on the server",
    undo_always = true, -- a first deploy that fails leaves nothing behind: the claim goes again
    undo = function(ctx) if ctx.get("port_claimed") then release_port(c, ctx, n_of(ctx)) end end,
  }, function(ctx)
    local n = n_of(ctx)
    local first, last = port_range(p)
    if ctx.dry_run then
      ctx.set("port", ctx.preview_state.port or json.null)
      return ctx.log.info("dry-run: would %s", ctx.preview_state.port and ("keep port " .. ctx.preview_state.port)
                                               or ("claim the lowest free port of " .. p.ports .. " in " .. p.root .. "/.ports"))
    end
    local res = script(c, ALLOCATE, { p.root, project(p, n), first, last }, { check = false })
    if res.code == 3 then
      error(string.format("no free port in %s on %s: every port is claimed by another preview or something listens on it "
                          .. "(clean up closed PRs' previews, or widen preview.ports)", p.ports, server(c).host or "the server"), 0)
    end
    local how, port = (res.stdout or ""):match("(%a+) (%d+)")
    if res.code ~= 0 or not port then
      error("allocating a port on the server failed: " .. ((res.stderr or "") .. (res.stdout or "")):gsub("%s+$", ""), 0)
    end
    ctx.set("port", tonumber(port))
    ctx.set("port_claimed", how == "claimed" or json.null)
    ctx.log.info("port %s (%s)", port, how == "claimed" and "claimed now" or "its own already")
  end)

  r:step("checkout", {
    description = "the PR's head in its own folder under " .. p.root .. " (cloned from production's origin when new)",
    on_failure = "the preview's code did not change; a folder made by this run is removed again",
    undo_always = true,
    undo = function(ctx)
      if ctx.get("folder_created") then compose.sh(on_server(c), { "rm", "-rf", folder(p, n_of(ctx)) }, { run = ctx.run }) end
    end,
  }, function(ctx)
    local n, sha = n_of(ctx), ctx.sha
    local dir = folder(p, n)
    if not ctx.preview_state.folder then
      compose.sh(on_server(c), { "mkdir", "-p", p.root }, { run = ctx.run })
      ctx.set("folder_created", true)
      compose.sh(on_server(c), { "git", "clone", "-q", "--no-checkout", ctx.preview_origin, dir }, { run = ctx.run })
    end
    local git = function(...) return compose.sh(on_server(c, dir), { "git", ... }, { run = ctx.run }) end
    -- GitHub keeps every PR's head as refs/pull/<n>/head in the base repository, a fork's too
    git("fetch", "-q", "origin", string.format("+refs/pull/%d/head:refs/remotes/origin/pr/%d", n, n))
    local ok, err = pcall(git, "checkout", "-q", "--force", "--detach", sha)
    if not ok then
      error(string.format("%s is not PR #%d's head any more (a newer push?): re-run to deploy the newest\n%s", sha:sub(1, 12), n, err), 0)
    end
    if not ctx.dry_run then -- (a new preview's folder is only described under --dry-run)
      local now = compose.sh(on_server(c, dir), { "git", "rev-parse", "HEAD" }, { read_only = true }).stdout:match("%x+")
      if now ~= sha then error(string.format("%s is at %s, not at %s after the checkout", dir, tostring(now), sha), 0) end
    end
    ctx.set("server_commit", sha)
  end)

  r:step("up", {
    description = "docker compose -p " .. project(p, "<n>") .. " up -d --build --wait, its port in " .. p.port_env,
    on_failure = function(ctx)
      return ctx.preview_state.folder and "the preview runs what compose left of the new code: fix the branch and push again"
          or "nothing of the preview is left: fix the branch and push again"
    end,
    undo_always = true,
    undo = function(ctx)
      if not ctx.preview_state.folder then compose.down(target(c, n_of(ctx), port_of(ctx)), { volumes = true, run = ctx.run }) end
    end,
  }, function(ctx)
    local t = target(c, n_of(ctx), port_of(ctx))
    local ok, err = pcall(compose.up, t, { build = true, wait = true, wait_timeout = p.wait_timeout or 120,
                                          remove_orphans = c.remove_orphans, run = ctx.run })
    if not ok then
      ctx.log.warn("the last %d log lines of %s:\n%s", c.logs_tail, c.service, compose.logs(t, { service = c.service, tail = c.logs_tail }))
      -- a new preview's half-started containers go with it (this step's own undo does not run: it did not complete)
      if not ctx.preview_state.folder then pcall(compose.down, t, { volumes = true, run = ctx.run }) end
      error(err, 0)
    end
    ctx.set("preview", ctx.preview_state.folder and "updated" or "created")
  end)

  if c.migrate then
    r:step("migrate", { description = "migrations inside the preview's container (its own database volume)",
                        on_failure = "the preview runs the new code against the old schema: fix the migration and push again" },
           function(ctx)
      require("drun.flows.compose.restart").migrate(c, target(c, n_of(ctx), port_of(ctx)), ctx)
    end)
  end

  r:step("site", {
    description = "the Caddy site " .. address(p, "<n>") .. " in " .. p.caddy.sites .. ", then caddy reload",
    on_failure = "Caddy refused the site and still serves what it had; a preview made by this run is removed again",
    undo_always = true,
    undo = function(ctx)
      if ctx.get("site_created") then
        local refused = take_out_site(c, ctx, n_of(ctx))
        if refused then error("caddy reload refused the configuration without the site: " .. refused, 0) end
      end
    end,
  }, function(ctx)
    local n = n_of(ctx)
    local file = site_file(p, n)
    local before = ctx.preview_state.site
        and compose.sh(on_server(c), { "cat", file }, { read_only = true, check = false }).stdout or nil
    local text = site_text(c, ctx, n, port_of(ctx))
    ctx.set("site", address(p, n))
    if before == text then return ctx.log.info("%s unchanged: %s", file, address(p, n)) end
    compose.sh(on_server(c), { "sh", "-c", WRITE_SITE, "sh", file }, { run = ctx.run, stdin = text })
    if not before then ctx.set("site_created", true) end
    local refused = reload(c, ctx)
    if refused then -- Caddy's files say again what Caddy serves: the site it had, or none
      if before then
        compose.sh(on_server(c), { "sh", "-c", WRITE_SITE, "sh", file }, { run = ctx.run, stdin = before })
      else
        remove_site(c, ctx, n)
      end
      error("caddy reload refused the configuration: " .. refused, 0)
    end
  end)

  r:step("health", {
    description = "GET " .. url(p, "<n>") .. (p.health_path or "/health") .. " through Caddy expecting "
                  .. json.encode(c.expect_json),
    on_failure = "the preview is not healthy (a first deploy's is removed again): fix the branch and push again",
    verifies = true,
  }, function(ctx)
    local n = n_of(ctx)
    ctx.set("url", url(p, n))
    local ok, err = pcall(health.wait, { url = url(p, n) .. (p.health_path or "/health"), expect_json = c.expect_json,
                                         attempts = c.health.attempts, interval = c.health.interval })
    if not ok then
      ctx.log.warn("the last %d log lines of %s:\n%s", c.logs_tail, c.service,
                   compose.logs(target(c, n, port_of(ctx)), { service = c.service, tail = c.logs_tail }))
      error(err .. string.format(" (is %s/*.caddy imported by %s?)", p.caddy.sites, p.caddy.caddyfile), 0)
    end
  end)

  r:step("comment", { description = "one PR comment with the preview's URL, updated on later pushes",
                      on_failure = "the preview is live; only the PR comment is out of date: re-run to update it" }, function(ctx)
    local n = n_of(ctx)
    pull_request.comment(ctx, c.github_repo, p.comment_marker, pull_request.preview_body(ctx, url(p, n), {
      { "server", string.format("%s, compose project `%s`, port %s", server(c).host or "local", project(p, n), tostring(ctx.get("port"))) },
    }), true)
  end)
  return r
end

function M.cleanup(c)
  local p = c.preview
  local r = recipe.new {
    name = "compose-preview-cleanup", service = c.service, environment = pull_request.environment, outcome = "removed from",
    description = "take the PR's preview down (down -v: its volume too), remove its folder, port claim and Caddy site",
    params = pull_request.PARAM, validate = validate(c),
    version = function(ctx) return ctx.sha and ctx.sha:sub(1, 12) or "unknown" end,
    secrets = { "GITHUB_TOKEN" },
    rollback_hint = "drun recipes/compose-preview.lua pr=${pr} makes the preview again",
  }
  r:step("resolve", { read_only = true, description = "the PR (closed or not: clean-up is always allowed) and what is left of its preview",
                      on_failure = "nothing changed" }, function(ctx)
    local n = n_of(ctx)
    local pr = pull_request.get(ctx, c.github_repo)
    if pr.state == "open" then ctx.log.warn("PR #%d is still open: its next push makes the preview again", n) end
    ctx.preview_state = server_state(c, n)
    local st = ctx.preview_state
    ctx.set("project", project(p, n))
    ctx.log.info("on %s: %s; port %s; site %s", server(c).host or "the server",
                 st.folder and ("folder " .. folder(p, n)) or "no folder", st.port or "none", st.site and "exists" or "none")
  end)
  r:step("down", { description = "docker compose -p " .. project(p, "<n>") .. " down -v (the containers and the database volume)",
                   on_failure = "re-run: what is gone stays gone" }, function(ctx)
    local st = ctx.preview_state
    if not st.compose then return ctx.set("containers", "gone already") end
    compose.down(target(c, n_of(ctx), st.port), { volumes = true, run = ctx.run })
    ctx.set("containers", "removed, with the volume")
  end)
  r:step("site", { description = "remove the Caddy site, then caddy reload",
                   on_failure = "the preview is down; re-run to remove its site" }, function(ctx)
    if not ctx.preview_state.site then return ctx.set("site", "gone already") end
    local refused = take_out_site(c, ctx, n_of(ctx))
    if refused then error("caddy reload refused the configuration without the site (it is still served): " .. refused, 0) end
    ctx.set("site", "removed")
  end)
  r:step("folder", { description = "remove the folder and give up the port", on_failure = "re-run: what is gone stays gone" },
         function(ctx)
    local st = ctx.preview_state
    if st.folder then compose.sh(on_server(c), { "rm", "-rf", folder(p, n_of(ctx)) }, { run = ctx.run }) end
    release_port(c, ctx, n_of(ctx))
    ctx.set("folder", st.folder and "removed" or "gone already")
    ctx.set("port", st.port and ("released " .. st.port) or "none")
  end)
  r:step("comment", { description = "the PR comment says the preview is gone",
                      on_failure = "the preview is gone; only the PR comment is out of date: re-run to update it" }, function(ctx)
    local n = n_of(ctx)
    local cm = pull_request.comment(ctx, c.github_repo, p.comment_marker,
                                    string.format("### Preview of #%d: removed\n\nThe compose project %s, its volume and its site %s "
                                                  .. "were removed (%s).", n, project(p, n), url(p, n), ctx.full_version), false)
    if not cm then ctx.log.info("no preview comment on PR #%d: nothing to update", n) end
  end)
  return r
end

return M
