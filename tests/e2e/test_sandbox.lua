-- The platform sandbox itself: stand-ins in the real shapes (FLOWS.md), the
-- real local D1, health, GitHub, faults, and no process left behind.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"
local http = require "drun.http"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

-- a sandbox with the CMS fixture repository; returns env, dirs
local function cms_sandbox()
  local d = t.tmpdir()
  local out = proc.output { ROOT .. "/tests/sandbox/fixture", "cms", d }
  local repo, origin = out:match("^(%S+)\n(%S+)$")
  local env, sdir = t.sandbox(origin)
  return env, repo, origin, sdir
end

local function run(env, cwd, ...)
  local spec = { ... }
  spec.env, spec.cwd, spec.check, spec.timeout = env, cwd, false, 120
  return proc.run(spec)
end

local function health(env, worker, environment)
  return http.get(env.SANDBOX_URL .. "/workers/" .. worker .. "/" .. (environment and (environment .. "/") or "") .. "api/health")
end

t.test("start and stop: environment printed, two at once, nothing left running", function()
  local env1, dir1 = t.sandbox()
  local env2, dir2 = t.sandbox()
  t.match(env1.SANDBOX_URL, "^http://127%.0%.0%.1:%d+$")
  t.ok(env1.SANDBOX_URL ~= env2.SANDBOX_URL, "each sandbox has its own port")
  t.match(env1.GITHUB_API_URL, "/github$")
  t.ok(env1.CLOUDFLARE_API_TOKEN and env1.CLOUDFLARE_ACCOUNT_ID and env1.GITHUB_TOKEN)
  t.match(env1.PATH, "tests/sandbox/bin:")
  local pid = fs.read(dir1 .. "/server.pid")
  proc.run { ROOT .. "/tests/sandbox/stop", dir1 }
  t.ok(not t.alive(pid), "server still running")
  t.eq(http.get(env2.SANDBOX_URL .. "/workers/x/y/api/health").status, 404, "the other one is unaffected")
end)

t.test("wrangler deploy: Current Version ID, the output file entry, the version served", function()
  local env, repo = cms_sandbox()
  local out = t.tmpdir() .. "/wrangler-output.jsonl"
  env.WRANGLER_OUTPUT_FILE_PATH = out
  local r = run(env, repo .. "/packages/cms-mcp", "wrangler", "deploy", "--env", "staging", "--message", "deploy by ada")
  t.eq(r.code, 0, r.stderr)
  local vid = r.stdout:match("Current Version ID: (%x+%-%x+%-%x+%-%x+%-%x+)")
  t.ok(vid, r.stdout)
  local entries = {}
  for line in fs.read(out):gmatch("[^\n]+") do entries[#entries + 1] = json.decode(line) end
  t.eq(entries[1].type, "wrangler-session")
  local d = entries[2]
  t.eq(d.type, "deploy")
  t.eq(d.version, 1)
  t.eq(d.worker_name, "cms-mcp-staging")
  t.eq(d.version_id, vid)
  t.eq(d.wrangler_environment, "staging")
  t.eq(json.kind(d.targets), "array")
  local h = health(env, "cms-mcp", "staging")
  t.eq(h.status, 200)
  t.eq(h:json().version, "1.4.0")
  t.eq(h:json().status, "ok")
end)

t.test("the CMS is unhealthy until its MCP binding is deployed in that environment", function()
  local env, repo = cms_sandbox()
  t.eq(run(env, repo .. "/apps/cms", "wrangler", "deploy").code, 0) -- the top level: production
  local h = health(env, "cms")
  t.eq(h.status, 503)
  t.match(h:json().error, "cms%-mcp does not resolve")
  t.eq(run(env, repo .. "/packages/cms-mcp", "wrangler", "deploy").code, 0)
  t.eq(health(env, "cms").status, 200)
  t.eq(health(env, "cms", "staging").status, 404, "never deployed to staging")
end)

t.test("deployments list --json and versions list --json in the real shapes; rollback", function()
  local env, repo = cms_sandbox()
  local cms = repo .. "/packages/cms-mcp"
  local v1 = run(env, cms, "wrangler", "deploy", "--env", "staging", "-m", "first").stdout:match("Current Version ID: (%S+)")
  fs.write(cms .. "/package.json", (fs.read(cms .. "/package.json"):gsub('"1%.4%.0"', '"1.5.0"')))
  local v2 = run(env, cms, "wrangler", "deploy", "--env", "staging", "--message", "second", "--tag", "t2").stdout:match("Current Version ID: (%S+)")
  local list = json.decode(run(env, cms, "wrangler", "deployments", "list", "--env", "staging", "--json").stdout)
  t.eq(#list, 2)
  local d = list[2]
  for _, k in ipairs { "id", "source", "strategy", "author_email", "annotations", "created_on", "versions" } do t.ok(d[k] ~= nil, k) end
  t.eq(d.annotations["workers/message"], "second")
  t.eq(d.versions[1].version_id, v2)
  t.eq(d.versions[1].percentage, 100)
  t.eq(list[1].versions[1].version_id, v1, "oldest first")
  local versions = json.decode(run(env, cms, "wrangler", "versions", "list", "--env", "staging", "--json").stdout)
  t.eq(versions[2].annotations["workers/tag"], "t2")
  t.eq(health(env, "cms-mcp", "staging"):json().version, "1.5.0")
  local r = run(env, cms, "wrangler", "rollback", "-m", "rolling back: smoke failed", "--env", "staging")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "Successfully rolled back to Version ID: " .. v1:gsub("%p", "%%%0"))
  t.eq(health(env, "cms-mcp", "staging"):json().version, "1.4.0")
  r = run(env, cms, "wrangler", "rollback", v2, "-m", "forward again", "--env", "staging")
  t.eq(health(env, "cms-mcp", "staging"):json().version, "1.5.0")
  t.match(run(env, cms, "wrangler", "rollback", "nope", "-m", "x", "--env", "staging").stderr, "Version nope was not found")
end)

t.test("no CLOUDFLARE_API_TOKEN: wrangler's own error, exit 1", function()
  local env, repo = cms_sandbox()
  env.CLOUDFLARE_API_TOKEN = false
  local r = run(env, repo .. "/apps/cms", "wrangler", "deploy", "--env", "staging")
  t.eq(r.code, 1)
  t.match(r.stderr, "In a non%-interactive environment, it's necessary to set a CLOUDFLARE_API_TOKEN environment variable")
  r = run(env, repo .. "/apps/cms", "wrangler", "d1", "migrations", "apply", "cms-staging", "--env", "staging", "--remote")
  t.eq(r.code, 1)
  t.match(r.stderr, "CLOUDFLARE_API_TOKEN")
end)

t.test("d1 runs the real wrangler on a local D1: migrations, the legacy database, the backfill", function()
  local env, repo = cms_sandbox()
  local app = repo .. "/apps/cms"
  local function d1(...) return run(env, app, "wrangler", "d1", ...) end
  -- a legacy database: the app migrated it at runtime (schema up to 0003), no tracker
  local schema = "CREATE TABLE organizations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, slug TEXT);" ..
                 "CREATE TABLE posts (id INTEGER PRIMARY KEY, org_id INTEGER NOT NULL, title TEXT NOT NULL);"
  t.eq(d1("execute", "cms-staging", "--env", "staging", "--remote", "--command", schema).code, 0)
  local r = d1("migrations", "apply", "cms-staging", "--env", "staging", "--remote")
  t.eq(r.code, 1)
  t.match(r.stdout .. r.stderr, "duplicate column name: slug")
  -- the backfill records the historical files; then only 0004 runs
  t.eq(d1("execute", "cms-staging", "--env", "staging", "--remote", "--file", repo .. "/scripts/backfill-d1-migrations.sql").code, 0)
  r = d1("migrations", "apply", "cms-staging", "--env", "staging", "--remote")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "0004_post_status%.sql")
  local q = json.decode(d1("execute", "cms-staging", "--env", "staging", "--remote", "--json",
                           "--command", "SELECT count(*) AS n FROM d1_migrations").stdout)
  t.eq(q[1].results[1].n, 4)
  t.eq(q[1].success, true)
  t.match(d1("migrations", "apply", "cms-staging", "--env", "staging", "--remote").stdout, "No migrations to apply!")
  -- environments are separate databases
  q = json.decode(d1("execute", "cms-production", "--remote", "--json",
                     "--command", "SELECT count(*) AS n FROM sqlite_master WHERE name = 'd1_migrations'").stdout)
  t.eq(q[1].results[1].n, 0)
end)

t.test("pages deploy: URLs printed, the detailed entry written; --env rejected", function()
  local env, repo = cms_sandbox()
  local out = t.tmpdir() .. "/out.jsonl"
  env.WRANGLER_OUTPUT_FILE_PATH = out
  t.eq(run(env, repo, "wrangler", "pages", "project", "create", "usage-docs").stderr,
       "\u{2718} [ERROR] Must specify a production branch.\n", "wrangler-dist/cli.js: not interactive, no prompt")
  t.eq(run(env, repo, "wrangler", "pages", "project", "create", "usage-docs", "--production-branch", "main").code, 0)
  t.match(run(env, repo, "wrangler", "pages", "project", "create", "usage-docs", "--production-branch", "main").stderr,
          "A project with this name already exists")
  local r = run(env, repo, "wrangler", "pages", "deploy", "docs/usage-docs", "--project-name", "usage-docs",
                "--branch", "pr-12-Feature/Foo_bar", "--commit-hash", "abc123", "--commit-message", "docs")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "Deployment complete! Take a peek over at https://%x+%.usage%-docs%.pages%.dev\n")
  t.match(r.stdout, "Deployment alias URL: https://pr%-12%-feature%-foo%-bar%.usage%-docs%.pages%.dev\n")
  local e = json.decode(fs.read(out):match("([^\n]+)\n?$"))
  t.eq(e.type, "pages-deploy-detailed")
  t.eq(e.environment, "preview")
  t.eq(e.pages_project, "usage-docs")
  t.eq(e.deployment_trigger.metadata.commit_hash, "abc123")
  r = run(env, repo, "wrangler", "pages", "deploy", "docs/usage-docs", "--project-name", "usage-docs", "--env", "staging")
  t.eq(r.code, 1)
  t.match(r.stderr, "Pages does not support targeting an environment with the %-%-env flag")
end)

t.test("whoami --json", function()
  local env, repo = cms_sandbox()
  local me = json.decode(run(env, repo, "wrangler", "whoami", "--json").stdout)
  t.eq(me.loggedIn, true)
  t.eq(me.accounts[1].id, "sandbox-account")
end)

t.test("faults: a failing deploy, health that serves 500, the old version, invalid JSON; cleared", function()
  local env, repo, _, sdir = cms_sandbox()
  local fault = function(...) proc.run { ROOT .. "/tests/sandbox/fault", sdir, ... } end
  local mcp = repo .. "/packages/cms-mcp"
  fault("deploy:cms-mcp:staging=fail")
  local r = run(env, mcp, "wrangler", "deploy", "--env", "staging")
  t.eq(r.code, 1)
  t.match(r.stderr, "Script upload failed %(sandbox fault: fail%)")
  t.eq(run(env, mcp, "wrangler", "deploy", "--env", "staging").code, 0, "one-shot: the next deploy works")
  fs.write(mcp .. "/package.json", (fs.read(mcp .. "/package.json"):gsub('"1%.4%.0"', '"1.5.0"')))
  run(env, mcp, "wrangler", "deploy", "--env", "staging")
  fault("health:cms-mcp:staging=old")
  t.eq(health(env, "cms-mcp", "staging"):json().version, "1.4.0")
  t.eq(health(env, "cms-mcp", "staging"):json().version, "1.4.0", "stays until cleared")
  fault("health:cms-mcp:staging=500")
  t.eq(health(env, "cms-mcp", "staging").status, 500)
  fault("health:cms-mcp:staging=invalid-json")
  t.raises(function() health(env, "cms-mcp", "staging"):json() end, "not JSON")
  fault("clear")
  t.eq(health(env, "cms-mcp", "staging"):json().version, "1.5.0")
  fault("d1-migrations=fail")
  r = run(env, repo .. "/apps/cms", "wrangler", "d1", "migrations", "apply", "cms-staging", "--env", "staging", "--remote")
  t.eq(r.code, 1)
  t.match(r.stderr, "Migration failed %(sandbox fault")
end)

t.test("GitHub REST: authorization required, releases with generated notes, issues, comments; 422 fault", function()
  local env, _, _, sdir = cms_sandbox()
  local api = env.GITHUB_API_URL .. "/repos/acme/cms"
  local auth = { Authorization = "Bearer " .. env.GITHUB_TOKEN }
  t.eq(http.post(api .. "/releases", { json = { tag_name = "cms-v1.4.0" } }).status, 401)
  local r = http.post(api .. "/releases", { headers = auth, expect = 201,
                                           json = { tag_name = "cms-v1.4.0", name = "cms 1.4.0", generate_release_notes = true } })
  local rel = r:json()
  t.eq(rel.tag_name, "cms-v1.4.0")
  t.match(rel.body, "## What's Changed\n%* docs: organization slugs")
  t.match(rel.body, "cms%-v1%.3%.0%.%.%.cms%-v1%.4%.0")
  t.eq(http.post(api .. "/releases", { headers = auth, json = { tag_name = "cms-v1.4.0" } }).status, 422, "exists")
  t.eq(http.get(api .. "/releases/tags/cms-v1.4.0", { headers = auth }):json().id, rel.id)
  local issue = http.post(api .. "/issues", { headers = auth, json = { title = "Deployment record" }, expect = 201 }):json()
  t.match(issue.html_url, "/issues/%d+$")
  local c = http.post(api .. "/issues/12/comments", { headers = auth, json = { body = "previews: a" }, expect = 201 }):json()
  http.patch(api .. "/issues/comments/" .. c.id, { headers = auth, json = { body = "previews: b" }, expect = 200 })
  local comments = http.get(api .. "/issues/12/comments", { headers = auth }):json()
  t.eq(#comments, 1)
  t.eq(comments[1].body, "previews: b")
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "github-release=422" }
  t.eq(http.post(api .. "/releases", { headers = auth, json = { tag_name = "cms-v9.9.9" } }).status, 422)
  local recorded = json.decode(fs.read(sdir .. "/state/github.json")).requests
  t.ok(#recorded >= 8)
  t.eq(recorded[1].authorized, false)
  t.eq(recorded[2].body.tag_name, "cms-v1.4.0")
end)

t.test("the call log records every stand-in call in order", function()
  local env, repo, _, sdir = cms_sandbox()
  run(env, repo .. "/packages/cms-mcp", "wrangler", "deploy", "--env", "staging")
  run(env, repo .. "/apps/cms", "wrangler", "deploy", "--env", "staging")
  local calls = {}
  for line in fs.read(sdir .. "/calls.jsonl"):gmatch("[^\n]+") do calls[#calls + 1] = json.decode(line) end
  t.eq(#calls, 2)
  t.match(calls[1].cwd, "packages/cms%-mcp$")
  t.match(calls[2].cwd, "apps/cms$")
  t.eq(calls[1].argv[1], "deploy")
end)

-- a sandbox with the Fly fixture repository
local function fly_sandbox()
  local d = t.tmpdir()
  local repo = proc.output { ROOT .. "/tests/sandbox/fixture", "fly", d }:match("^(%S+)")
  local env, sdir = t.sandbox()
  for _, app in ipairs { "app-development", "app-staging", "app-production" } do
    assert(run(env, nil, "fly", "apps", "create", app, "-o", "personal").code == 0)
  end
  return env, repo, sdir
end

local function push(env, tag, commit)
  return run(env, nil, "sandbox-registry", "push", "app:" .. tag, "--label", "commit=" .. commit).stdout:match("(sha256:%x+)")
end

t.test("fly: deploy by digest runs the release_command; image show, releases, status in flyctl's shapes", function()
  local env, repo, sdir = fly_sandbox()
  local digest = push(env, "v1", "abc123")
  t.match(digest, "^sha256:%x+$")
  local r = run(env, repo, "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml",
                "--image", "registry.fly.io/app@" .. digest, "--strategy", "rolling", "--wait-timeout", "5m")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "applying 0001_accounts%.sql")
  t.eq(proc.output { "sqlite3", sdir .. "/db/app-staging.db", "SELECT count(*) FROM schema_migrations" }, "2")
  local images = json.decode(run(env, nil, "fly", "image", "show", "-a", "app-staging", "--json").stdout)
  t.eq(#images, 2)
  for _, k in ipairs { "MachineID", "Registry", "Repository", "Tag", "Version", "Digest", "Labels" } do t.ok(images[1][k] ~= nil, k) end
  t.eq(images[1].Digest, digest)
  t.eq(images[1].Labels, '{"commit":"abc123"}', "image show JSON-encodes the labels into a string")
  local releases = json.decode(run(env, nil, "fly", "releases", "-a", "app-staging", "--json").stdout)
  for _, k in ipairs { "ID", "Version", "Stable", "Status", "Description", "Reason", "User", "CreatedAt", "ImageRef" } do t.ok(releases[1][k] ~= nil, k) end
  t.eq(releases[1].ImageRef, "registry.fly.io/app@" .. digest)
  local st = json.decode(run(env, nil, "fly", "status", "-a", "app-staging", "--json").stdout)
  for _, k in ipairs { "ID", "Name", "Deployed", "Status", "Hostname", "Version", "Machines" } do t.ok(st[k] ~= nil, k) end
  t.eq(st.Machines[1].image_ref.digest, digest)
  t.eq(st.Machines[1].state, "started")
  t.same(http.get(env.SANDBOX_URL .. "/apps/app-staging/health"):json(), { status = "ok" })
  t.eq(http.get(env.SANDBOX_URL .. "/apps/app-staging/version"):json().digest, digest)
  -- the same digest promoted: newest release first, version counted
  local d2 = push(env, "v2", "def456")
  run(env, repo, "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml", "--image", "registry.fly.io/app@" .. d2)
  releases = json.decode(run(env, nil, "fly", "releases", "-a", "app-staging", "--json").stdout)
  t.eq(releases[1].Version, 2)
  t.eq(releases[1].ImageRef, "registry.fly.io/app@" .. d2)
end)

t.test("fly: a failing release_command aborts and the old image keeps serving", function()
  local env, repo, sdir = fly_sandbox()
  local d1 = push(env, "v1", "a")
  run(env, repo, "fly", "deploy", "-a", "app-production", "-c", "fly.production.toml", "--image", "registry.fly.io/app@" .. d1)
  fs.write(repo .. "/migrations/0003_broken.sql", "ALTER TABLE nope ADD COLUMN x;")
  local d2 = push(env, "v2", "b")
  local r = run(env, repo, "fly", "deploy", "-a", "app-production", "-c", "fly.production.toml", "--image", "registry.fly.io/app@" .. d2)
  t.eq(r.code, 1)
  t.match(r.stderr, "Error: release command failed %- aborting deployment%. machine %x+ exited with non%-zero status of 1")
  local st = json.decode(run(env, nil, "fly", "status", "-a", "app-production", "--json").stdout)
  t.eq(st.Machines[1].image_ref.digest, d1)
  t.eq(st.Machines[2].image_ref.digest, d1)
  fs.remove(repo .. "/migrations/0003_broken.sql")
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "release-command:app-production=fail" }
  t.eq(run(env, repo, "fly", "deploy", "-a", "app-production", "-c", "fly.production.toml", "--image", "registry.fly.io/app@" .. d2).code, 1)
end)

t.test("fly: digest mismatch fault, unknown digest, missing token, snapshots", function()
  local env, repo, sdir = fly_sandbox()
  local d1, d2 = push(env, "v1", "a"), push(env, "v2", "b")
  run(env, repo, "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml", "--image", "registry.fly.io/app@" .. d1)
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "mismatch:app-staging=1" }
  t.eq(run(env, repo, "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml", "--image", "registry.fly.io/app@" .. d2).code, 0)
  local st = json.decode(run(env, nil, "fly", "status", "-a", "app-staging", "--json").stdout)
  local digests = { st.Machines[1].image_ref.digest, st.Machines[2].image_ref.digest }
  table.sort(digests, function(a, b) return (a == d1 and 0 or 1) < (b == d1 and 0 or 1) end)
  t.same(digests, { d1, d2 }, "one machine kept the old image")
  local r = run(env, repo, "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml",
                "--image", "registry.fly.io/app@sha256:" .. string.rep("0", 64))
  t.eq(r.code, 1)
  t.match(r.stderr, "not found in the registry")
  env.FLY_API_TOKEN = false
  t.match(run(env, nil, "fly", "status", "-a", "app-staging", "--json").stderr, "No access token available")
end)

-- flyctl internal/command/mpg/v2/run_backup.go: create prints no id; list
-- prints text when empty (even with --json), else [{id, status, type, start, stop}]
t.test("fly mpg backup: create queues and prints no id; list shows it in_progress then completed; faults", function()
  local env, _, sdir = fly_sandbox()
  env.SANDBOX_BACKUP_SECONDS = "0.2"
  t.eq(run(env, nil, "fly", "mpg", "backup", "list", "db1", "--json").stdout, "No backups found for cluster db1\n")
  local r = run(env, nil, "fly", "mpg", "backup", "create", "db1")
  t.eq(r.code, 0, r.stderr)
  t.eq(r.stdout, "Creating full backup for cluster db1...\nBackup queued successfully!\n")
  local list = json.decode(run(env, nil, "fly", "mpg", "backup", "list", "db1", "--json").stdout)
  t.eq(#list, 1)
  t.eq(list[1].status, "in_progress")
  t.eq(list[1].stop, "")
  t.match(list[1].id, "^bkp_")
  require("drun.time").sleep(0.3)
  list = json.decode(run(env, nil, "fly", "mpg", "backup", "list", "db1", "--json").stdout)
  t.eq(list[1].status, "completed")
  t.eq(run(env, nil, "fly", "mpg", "backup", "create", "db1", "--type", "weekly").stderr,
       "Error: --type must be either 'full' or 'incr'\n")
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "backup:db1=fail", "mpg-cluster:nope=missing" }
  run(env, nil, "fly", "mpg", "backup", "create", "db1")
  require("drun.time").sleep(0.3)
  list = json.decode(run(env, nil, "fly", "mpg", "backup", "list", "db1", "--json").stdout)
  t.eq(list[2].status, "failed")
  t.match(run(env, nil, "fly", "mpg", "backup", "list", "nope", "--json").stderr, 'managed postgres cluster "nope" not found')
end)

-- flyctl internal/command/image/show.go (values all strings, Labels JSON-encoded,
-- Version "N/A") and status/machines.go (every state but destroyed, ids descending)
t.test("fly: image show and status in flyctl's shapes; machine states from a fault", function()
  local env, repo, sdir = fly_sandbox()
  local d1 = push(env, "v1", "a")
  run(env, repo, "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml", "--image", "registry.fly.io/app@" .. d1)
  local shown = json.decode(run(env, nil, "fly", "image", "show", "-a", "app-staging", "--json").stdout)
  t.eq(#shown, 2)
  t.eq(shown[1].Version, "N/A")
  t.eq(shown[1].Labels, '{"commit":"a"}')
  for _, v in pairs(shown[1]) do t.eq(type(v), "string") end
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "machines:app-staging=stopped,suspended" }
  local st = json.decode(run(env, nil, "fly", "status", "-a", "app-staging", "--json").stdout)
  local states = { st.Machines[1].state, st.Machines[2].state }
  table.sort(states)
  t.same(states, { "stopped", "suspended" })
  t.ok(st.Machines[1].id > st.Machines[2].id, "sorted by id, descending")
  t.eq(st.Machines[1].image_ref.labels.commit, "a")
  t.eq(st.Machines[1].config.metadata.fly_platform_version, "v2")
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "machines:app-staging=replacing" }
  t.match(run(env, repo, "fly", "deploy", "-a", "app-staging", "-c", "fly.staging.toml", "--image", "registry.fly.io/app@" .. d1).stderr,
          "Error: failed to acquire leases")
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "machines:app-staging=none" }
  t.same(json.decode(run(env, nil, "fly", "status", "-a", "app-staging", "--json").stdout).Machines, json.decode("[]"))
  t.eq(run(env, nil, "fly", "image", "show", "-a", "app-staging", "--json").stdout, "[]\n")
end)

-- a sandbox with the compose fixture checked out on host web1 (at `rev`),
-- reached through OpenSSH's sshd on 127.0.0.1 (tests/sandbox/sshd)
local function compose_sandbox(rev)
  local d = t.tmpdir()
  local out = proc.output { ROOT .. "/tests/sandbox/fixture", "compose", d }
  local origin = out:match("\n(%S+)$")
  local env, sdir = t.sandbox()
  local checkout = sdir .. "/hosts/web1/srv/app"
  proc.run { "git", "clone", "-q", origin, checkout }
  if rev then proc.run { "git", "-C", checkout, "checkout", "-q", rev } end
  env.APP_PORT = proc.output { "python3", "-c", "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])" }
  env.SSH_CONFIG = proc.output { ROOT .. "/tests/sandbox/sshd", sdir, "web1", "APP_PORT=" .. env.APP_PORT }:match("SSH_CONFIG='([^']+)'")
  env.CHECKOUT = checkout
  return env, checkout, sdir
end

local function on_web1(env, script) return run(env, nil, "ssh", "-F", env.SSH_CONFIG, "web1", "--", "cd " .. env.CHECKOUT .. " && " .. script) end

t.test("compose over ssh: up --wait, ps --format json, exec -T, logs, down", function()
  local env, checkout = compose_sandbox()
  local r = on_web1(env, "docker compose up -d --build --wait")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "Container app%-app%-1  Healthy")
  local ps = json.decode(on_web1(env, "docker compose ps --format json").stdout:match("[^\n]+"))
  for _, k in ipairs { "Name", "Service", "State", "Health", "ExitCode", "Publishers" } do t.ok(ps[k] ~= nil, k) end
  t.eq(ps.Service, "app")
  t.eq(ps.State, "running")
  t.eq(ps.Health, "healthy")
  t.eq(ps.Publishers[1].PublishedPort, tonumber(env.APP_PORT))
  r = on_web1(env, "docker compose exec -T app python3 scripts/migrate.py")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "applied 0002_pinned%.sql")
  local h = http.get("http://127.0.0.1:" .. env.APP_PORT .. "/health"):json()
  t.eq(h.version, "1.1.0")
  t.eq(h.migrations, 2)
  t.match(on_web1(env, "docker compose logs --tail 1 app").stdout, "^app%-app%-1  | request /health\n$")
  t.eq(on_web1(env, "docker compose down").code, 0)
  t.eq(http.get("http://127.0.0.1:" .. env.APP_PORT .. "/health", { check = false }), nil, "the port refuses after down")
  t.ok(checkout)
end)

t.test("compose -p: its own project and volume; a name compose-go refuses is refused; down keeps volumes, down -v removes them", function()
  local env, checkout, sdir = compose_sandbox()
  local r = on_web1(env, "docker compose -p App_PR up -d")
  t.eq(r.code, 1)
  t.match(r.stderr, 'invalid project name "App_PR": must consist only of lowercase alphanumeric characters, hyphens, and '
                    .. "underscores as well as start with a letter or number")
  t.eq(on_web1(env, "docker compose -p app-pr-7 up -d --wait").code, 0)
  t.eq(on_web1(env, "docker compose -p app-pr-7 exec -T app python3 scripts/migrate.py").code, 0)
  local vol = sdir .. "/compose/app-pr-7/volumes/db"
  t.ok(fs.exists(vol .. "/app.db"), "the database is in the project's volume")
  t.eq(http.get("http://127.0.0.1:" .. env.APP_PORT .. "/health"):json().migrations, 2)
  t.eq(on_web1(env, "docker compose -p app-pr-7 down").code, 0)
  t.ok(fs.exists(vol .. "/app.db"), "down keeps volumes")
  r = on_web1(env, "docker compose -p app-pr-7 down -v")
  t.eq(r.code, 0)
  t.match(r.stdout, "Volume app%-pr%-7_db  Removed")
  t.ok(not fs.exists(vol), "down -v removes them")
  t.ok(checkout)
end)

t.test("compose up restarts with a real gap; a failed build leaves the old app serving", function()
  local env, checkout, sdir = compose_sandbox("HEAD~1")
  t.eq(on_web1(env, "docker compose up -d --build --wait").code, 0)
  t.eq(http.get("http://127.0.0.1:" .. env.APP_PORT .. "/health"):json().version, "1.0.0")
  proc.run { "git", "-C", checkout, "checkout", "-q", "main" }
  -- poll while it restarts: the port must refuse for a while
  local r = proc.run { "sh", "-c", [[
    ( for i in $(seq 60); do curl -fsS -o /dev/null "http://127.0.0.1:$APP_PORT/health" 2>/dev/null && echo up || echo down; sleep 0.02; done ) > "$1/poll" &
    ssh -F "$SSH_CONFIG" web1 -- "cd $CHECKOUT && docker compose up -d --build --wait" >/dev/null; wait
    cat "$1/poll"
  ]], "sh", sdir, env = env, timeout = 60 }
  t.match(r.stdout, "down", "the gap was observed")
  t.eq(http.get("http://127.0.0.1:" .. env.APP_PORT .. "/health"):json().version, "1.1.0")
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "compose-build:app=fail" }
  r = on_web1(env, "docker compose up -d --build --wait")
  t.eq(r.code, 17)
  t.match(r.stderr, "failed to solve")
  t.eq(http.get("http://127.0.0.1:" .. env.APP_PORT .. "/health"):json().version, "1.1.0", "old app still answering")
end)

t.test("real caddy in front: 502 while the app is down, a reload it cannot load refused and the old site kept", function()
  local env, checkout, sdir = compose_sandbox()
  local caddy = proc.output { ROOT .. "/tests/sandbox/caddy", sdir, env.APP_PORT }
  local url, admin = caddy:match("CADDY_URL='([^']+)'"), caddy:match("CADDY_ADMIN='([^']+)'")
  t.eq(on_web1(env, "docker compose up -d --wait").code, 0)
  t.eq(http.get(url .. "/health"):json().status, "ok", "proxied to the app")
  t.eq(on_web1(env, "docker compose down").code, 0)
  t.eq(http.get(url .. "/health", { check = false }).status, 502, "the proxy's own answer while the app is down")
  -- a config that adapts but cannot load (its port is the app's): Caddy's admin API refuses it
  t.write(sdir .. "/caddy/next", ("{\n\tadmin %s\n}\nhttp://127.0.0.1:%s {\n\tbind 127.0.0.1\n\trespond \"x\"\n}\n"):format(admin, env.APP_PORT))
  t.eq(on_web1(env, "docker compose up -d --wait").code, 0) -- the app holds APP_PORT again
  local r = proc.run { "caddy", "reload", "--config", sdir .. "/caddy/next", "--adapter", "caddyfile", "--address", admin,
                       check = false, timeout = 30 }
  t.eq(r.code, 1, r.stderr)
  t.match(r.stderr, "caddy responded with error: HTTP 400")
  t.match(r.stderr, "address already in use")
  t.eq(http.get(url .. "/health"):json().status, "ok", "the old site still proxies")
  t.ok(checkout)
end)

t.test("real sshd: a key it does not know is refused, a host key it does not match too; arguments joined as ssh does; stop leaves no container", function()
  local env, _, sdir = compose_sandbox()
  t.eq(run(env, nil, "ssh", "-F", env.SSH_CONFIG, "web1", "echo", "a  b", "'$HOME'").stdout, "a b $HOME\n")
  local other = t.tmpdir() .. "/key"
  proc.run { "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", other }
  local cfg = fs.read(env.SSH_CONFIG):gsub("IdentityFile [^\n]+", "IdentityFile " .. other)
  t.write(sdir .. "/ssh/other_config", cfg)
  local r = run(env, nil, "ssh", "-F", sdir .. "/ssh/other_config", "web1", "true")
  t.eq(r.code, 255)
  t.match(r.stderr, "Permission denied %(publickey%)")
  local known = fs.read(sdir .. "/ssh/known_hosts")
  t.write(sdir .. "/ssh/known_hosts", (known:gsub("AAAA%S+", "AAAAC3NzaC1lZDI1NTE5AAAAIBadKeyBadKeyBadKeyBadKeyBadKeyBadKeyBadKeyB")))
  r = run(env, nil, "ssh", "-F", env.SSH_CONFIG, "web1", "true")
  t.eq(r.code, 255, "a changed host key")
  t.match(r.stderr, "Host key verification failed")
  t.write(sdir .. "/ssh/known_hosts", known)
  t.eq(on_web1(env, "docker compose up -d --wait").code, 0)
  local pid = fs.read(sdir .. "/compose-app-app.pid")
  proc.run { ROOT .. "/tests/sandbox/stop", sdir }
  require("drun.time").sleep(0.2)
  t.ok(not t.alive(pid), "container process still running")
end)

t.test("faults: health that hangs; a push the remote rejects", function()
  local env, repo, origin, sdir = cms_sandbox()
  run(env, repo .. "/packages/cms-mcp", "wrangler", "deploy", "--env", "staging")
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "health:cms-mcp:staging=hang" }
  local t0 = require("drun.time").now()
  local p = require("drun.health").probe(env.SANDBOX_URL .. "/workers/cms-mcp/staging/api/health", { timeout = 0.3 })
  t.eq(p.ok, false)
  t.match(p.reason, "timed out")
  t.ok(require("drun.time").now() - t0 < 2)
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "push-reject=" .. origin }
  local git = require "drun.git"
  local r = git.open(repo)
  r:commit({ "docs/usage-docs/index.md" }, "a change that will not be pushed") -- nothing changed: still a commit
  t.raises(function() r:push("origin", "refs/heads/main") end, "git: push to 'origin' rejected")
end)

t.test("real postgres: on 127.0.0.1 with a password, the wrong one refused, no TLS; stop leaves no server and no data", function()
  local _, sdir = t.sandbox()
  local out = proc.output { ROOT .. "/tests/sandbox/postgres", sdir }
  local url, password, port = out:match("PG_URL='([^']+)' PG_PASSWORD='([^']+)' PG_PORT='(%d+)'")
  t.ok(url, out)
  local function psql(u, pw, sql)
    return proc.run { "psql", "-X", "-At", u, "-c", sql, env = { PGPASSWORD = pw, PGCONNECT_TIMEOUT = "5" },
                      check = false, timeout = 30 }
  end
  t.eq(psql(url, false, "select current_user || ' ' || current_database()").stdout, "drun drun\n")
  local r = psql(url:gsub(password, "wrong"), false, "select 1")
  t.eq(r.code, 2)
  t.match(r.stderr, 'password authentication failed for user "drun"')
  r = psql(url:gsub(password, "") .. "?sslmode=require", password, "select 1")
  t.match(r.stderr, "server does not support SSL, but SSL was required")
  local data = fs.read(sdir .. "/postgres.datadir"):match("%S+")
  local pid = fs.read(sdir .. "/postgres.pid"):match("%d+")
  t.match(proc.output { "ss", "-Hltn", "sport = :" .. port }, "127%.0%.0%.1:" .. port, "listens on loopback")
  t.match(proc.run({ ROOT .. "/tests/sandbox/postgres", sdir, check = false }).stderr, "already has a PostgreSQL server")
  proc.run { ROOT .. "/tests/sandbox/stop", sdir }
  t.ok(not t.alive(pid), "the server is stopped")
  t.ok(not fs.exists(data), "its data directory is removed")
  t.eq(proc.run({ "pgrep", "-u", "nobody", "-f", data, check = false }).stdout, "", "no worker left")
end)

t.test("d1 api: create, query with params, batch as one transaction, and Cloudflare's errors with their codes", function()
  local env, sdir = t.sandbox()
  local base = env.CLOUDFLARE_API_BASE_URL .. "/accounts/" .. env.CLOUDFLARE_ACCOUNT_ID .. "/d1/database"
  local function call(url, body, token, method)
    local r = http.request { method = method or "POST", url = url, json = body, check = false,
                             headers = { Authorization = token or ("Bearer " .. env.CLOUDFLARE_API_TOKEN) } }
    return r, r:json()
  end
  local r, j = call(base, { name = "ledger" })
  t.eq(r.status, 200)
  local db = j.result.uuid
  t.match(db, "^%x+%-%x+%-%x+%-%x+%-%x+$")
  local q = base .. "/" .. db .. "/query"
  r, j = call(q, { sql = "CREATE TABLE t (k TEXT PRIMARY KEY, n INTEGER); INSERT INTO t VALUES ('a', 1)" })
  t.eq(r.status, 200)
  t.eq(#j.result, 2, "one result per statement")
  t.eq(j.result[2].meta.changes, 1)
  r, j = call(q, { sql = "INSERT INTO t VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET n = n + 1 RETURNING n", params = { "a", "0" } })
  t.eq(j.result[1].results[1].n, 2, "an upsert returning the new number")
  t.eq(#j.errors, 0)
  t.eq(j.success, true)
  r, j = call(q, { sql = "SELECT ?1 AS v", params = { 1 } })
  t.eq(r.status, 400, "params are strings, as the OpenAPI description types them")
  t.match(j.errors[1].message, "params must be an array of strings")
  -- a batch is one transaction: the failing statement rolls back the first
  r, j = call(q, { batch = { { sql = "INSERT INTO t VALUES ('b', 1)" }, { sql = "INSERT INTO nope VALUES (1)" } } })
  t.eq(r.status, 400)
  t.eq(j.success, false)
  t.same(j.errors, { { code = 7500, message = "no such table: nope: SQLITE_ERROR" } })
  r, j = call(q, { sql = "SELECT count(*) AS n FROM t" })
  t.eq(j.result[1].results[1].n, 1, "nothing of the failed batch stayed")
  r, j = call(q, { sql = "INSERT INTO t VALUES ('a', 9)" })
  t.match(j.errors[1].message, "UNIQUE constraint failed: t%.k: SQLITE_CONSTRAINT")
  -- authorization, ids, rate limits
  r, j = call(q, { sql = "SELECT 1" }, "Token x")
  t.eq(r.status, 400)
  t.eq(j.errors[1].code, 6003)
  t.eq(j.errors[1].error_chain[1].code, 6111)
  r, j = call(q, { sql = "SELECT 1" }, "Bearer not-a-token")
  t.same({ r.status, j.errors[1].code, j.errors[1].message }, { 403, 10000, "Authentication error" })
  r, j = call(q, { sql = "SELECT 1" }, "Bearer sandbox-cloudflare-token-no-d1")
  t.same({ r.status, j.errors[1].code }, { 403, 7403 })
  r, j = call(base .. "/not-a-uuid/query", { sql = "SELECT 1" })
  t.same({ r.status, j.errors[1].code }, { 400, 7400 })
  local missing = "00000000-0000-4000-8000-000000000000"
  r, j = call(base .. "/" .. missing .. "/query", { sql = "SELECT 1" })
  t.same({ r.status, j.errors[1].code, j.errors[1].message }, { 404, 7404, "The database " .. missing .. " could not be found" })
  proc.run { ROOT .. "/tests/sandbox/fault", sdir, "d1:" .. db .. "=429" }
  r, j = call(q, { sql = "SELECT 1" })
  t.same({ r.status, r.headers["retry-after"], j.errors[1].code }, { 429, "1", 971 })
  r = call(q, { sql = "SELECT 1" })
  t.eq(r.status, 200, "the fault was for one request")
  r, j = call(base, nil, nil, "GET")
  t.eq(j.result[1].name, "ledger")
end)

t.test("fly previews' commands and docker's image commands are as strict as flyctl and docker", function()
  local env, repo = fly_sandbox()
  -- docker: a reference outside distribution's grammar, a push before login, then the digest line
  local r = run(env, repo, "docker", "build", "-t", "registry.fly.io/App:x", ".")
  t.eq(r.code, 1)
  t.match(r.stderr, 'ERROR: invalid tag "registry.fly.io/App:x": invalid reference format')
  t.eq(run(env, repo, "docker", "build", "-t", "registry.fly.io/app-development:x", ".").code, 0)
  r = run(env, repo, "docker", "push", "registry.fly.io/app-development:x")
  t.eq(r.code, 1)
  t.match(r.stderr, "unauthorized: authentication required")
  t.eq(run(env, repo, "fly", "auth", "docker").code, 0)
  r = run(env, repo, "docker", "push", "registry.fly.io/app-development:x")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "\nx: digest: sha256:%x+ size: %d+\n$")
  -- fly: the non-interactive errors and defaults of apps create, mpg create/list, secrets set
  t.match(run(env, nil, "fly", "apps", "create", "app-pr-1").stderr, "org slug must be specified when not running interactively")
  t.match(run(env, nil, "fly", "mpg", "list", "--json").stderr, "org slug must be specified when not running interactively")
  r = run(env, nil, "fly", "mpg", "create", "--name", "db1", "--org", "personal", "--region", "ams")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "Selected Plan: Basic\n  CPU: Shared x 2\n  Memory: 1 GB\n  Price: %$38 per month")
  t.match(r.stdout, "\n  Plan: basic\n")
  t.match(run(env, nil, "fly", "mpg", "create", "--org", "personal").stderr,
          "name argument or flag must be specified when not running interactively")
  t.match(run(env, nil, "fly", "secrets", "set", "-a", "app-staging", "--stage", "NOVALUE").stderr,
          "could not parse secrets: 'NOVALUE': must be in the format NAME=VALUE")
end)
