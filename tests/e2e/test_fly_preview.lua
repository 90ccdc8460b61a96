-- Fly PR previews (recipes/fly-preview.lua, fly-preview-cleanup.lua) in the
-- sandbox: the app <app>-pr-<n> and its Managed Postgres cluster made on the
-- first deploy, the cluster recreated only when schema files changed since
-- the preview's last deploy, staged secrets that never show, one PR comment;
-- the clean-up destroys it all. Re-running either is harmless.
local t = require "t"
local fs = require "drun.fs"
local flyfix = require "flyfix"

local SECRET = "s3cr3t-preview-session-value"

local function setup()
  local f = flyfix.setup()
  f.env.GITHUB_REPOSITORY = "acme/app"
  f.env.PREVIEW_SESSION_SECRET = SECRET
  return f
end

local function open_pr(f) return f:open_pr() end
local function close_pr(f, n) f:close_pr(n) end
local function state(f, name) return f:state(name) end
local function comments(f, n) return f:comments(n) end
local function clusters(f)
  local out = {}
  for id, c in pairs(state(f, "mpg-clusters")) do out[#out + 1] = c; c.id = id end
  return out
end

local function preview(f, n, ...) return f:run("fly-preview", "pr=" .. n, ...) end
local function cleanup(f, n, ...) return f:run("fly-preview-cleanup", "pr=" .. n, ...) end

local function commit(f, path, text, msg)
  fs.write(f.repo .. "/" .. path, text)
  assert(f:sh("git", "add", "-A").code == 0)
  assert(f:sh("git", "commit", "-q", "-m", msg).code == 0)
end

t.test("the first push of a PR: app, database, staged secrets, the image deployed, one comment; nothing secret shows", function()
  local f = setup()
  local n = open_pr(f)
  local app = "app-pr-" .. n
  local r = preview(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local apps = state(f, "apps")
  t.ok(apps[app], "the app was created")
  local cl = clusters(f)
  t.eq(#cl, 1)
  t.eq(cl[1].name, app .. "-db")
  t.eq(#cl[1].attached, 1)
  t.eq(cl[1].attached[1], app)
  t.eq(apps[app].secrets.PREVIEW_SESSION_SECRET.value, SECRET)
  t.match(apps[app].secrets.DATABASE_URL.value, "^postgresql://fly%-user:")
  local rec = f:latest {}
  t.eq(rec.environment, "pr-" .. n)
  t.eq(rec.status, "success")
  t.eq(rec.metadata.cluster, cl[1].id)
  t.eq(rec.metadata.database, "created: the preview has none")
  t.eq(#rec.metadata.secrets, 1)
  t.eq(rec.metadata.secrets[1], "PREVIEW_SESSION_SECRET")
  t.eq(f:running("pr-" .. n), rec.metadata.digest, "every machine runs this commit's image")
  t.eq(rec.metadata.image_tag, string.format("registry.fly.io/%s:pr-%d-%s", app, n, f.commits[3]))
  local cs = comments(f, n)
  t.eq(#cs, 1)
  t.ok(cs[1].body:find("### Preview of #" .. n .. ": https://" .. app .. ".fly.dev", 1, true), cs[1].body)
  t.match(cs[1].body, "<!%-%- drun:fly%-preview %-%->")
  -- the secret's value and the database password: in the sandbox's state, never in drun's output
  local all = r.stdout .. r.stderr .. (fs.try.read(f.sandbox .. "/calls.jsonl") or "")
  t.eq(all:find(SECRET, 1, true), nil, "the staged secret's value shows")
  t.eq((r.stdout .. r.stderr):find(cl[1].password, 1, true), nil, "the database password shows")
  t.match(r.stdout, "Connection string: postgresql://fly%-user:%*%*%*@", r.stdout)
  t.eq(f:count_calls("fly secrets set --stage -a " .. app .. " PREVIEW_SESSION_SECRET=-"), 1, "the value went on stdin")
end)

t.test("later pushes: the same commit changes nothing; a schema change recreates the database, others keep it", function()
  local f = setup()
  local n = open_pr(f)
  local app = "app-pr-" .. n
  t.eq(preview(f, n).code, 0)
  local first = clusters(f)[1].id
  local deploys = f:count_calls("fly deploy -a " .. app)
  local r = preview(f, n) -- re-run: harmless
  t.eq(r.code, 0, r.stdout)
  t.match(r.stdout, "app%-pr%-" .. n .. " already runs sha256:%x+: nothing to deploy")
  t.eq(f:count_calls("fly deploy -a " .. app), deploys)
  t.eq(f:count_calls("fly apps create"), 3 + 1, "the three long-lived apps and this preview, once")
  t.eq(clusters(f)[1].id, first)
  t.match(f:latest {}.metadata.database, "^kept: no schema file changed since")
  t.eq(#comments(f, n), 1, "one comment, updated")

  commit(f, "src/server.py", 'print("app v3")\n', "app: no schema change")
  r = preview(f, n)
  t.eq(r.code, 0, r.stdout)
  t.eq(clusters(f)[1].id, first, "kept")
  t.eq(f:running("pr-" .. n), f:latest {}.metadata.digest)

  commit(f, "migrations/0003_tags.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n", "app: tags")
  r = preview(f, n)
  t.eq(r.code, 0, r.stdout)
  local cl = clusters(f)
  t.eq(#cl, 1, "the old cluster is gone")
  t.ok(cl[1].id ~= first, "a new cluster")
  t.match(f:latest {}.metadata.database, "^recreated: migrations/0003_tags.sql changed since")
  t.eq(state(f, "apps")[app].secrets.DATABASE_URL.value:match("flympg%.net"), "flympg.net")
  t.eq(#comments(f, n), 1)
end)

t.test("the clean-up: app and database destroyed, the comment says so; again: nothing left to do", function()
  local f = setup()
  local n = open_pr(f)
  t.eq(preview(f, n).code, 0)
  close_pr(f, n)
  local r = preview(f, n)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "PR #" .. n .. " is closed: no preview for it %(to remove one: drun recipes/fly%-preview%-cleanup%.lua pr=" .. n .. "%)")
  r = cleanup(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(state(f, "apps")["app-pr-" .. n], nil)
  t.eq(#clusters(f), 0)
  local cs = comments(f, n)
  t.eq(#cs, 1)
  t.match(cs[1].body, "### Preview of #" .. n .. ": removed")
  local rec = f:latest {}
  t.eq(rec.metadata.app, "destroyed")
  t.match(rec.metadata.database, "^destroyed ")
  r = cleanup(f, n)
  t.eq(r.code, 0, r.stdout)
  t.eq(f:latest {}.metadata.app, "gone already")
  t.eq(f:latest {}.metadata.database, "gone already")
  -- a reopened PR gets a new database: the clean-up ended what the ledger knew
  local m = open_pr(f)
  t.eq(cleanup(f, m).code, 0, "a PR that never had a preview: nothing to clean, no comment made")
  t.eq(#comments(f, m), 0)
end)

t.test("pr=0, pr=abc, pr=1.5, a PR that does not exist, an app name Fly would refuse: clear errors, nothing made", function()
  local f = setup()
  for _, bad in ipairs { "0", "-3", "1.5", "1e300" } do
    local r = preview(f, bad)
    t.eq(r.code, 2, bad)
    t.match(r.stdout .. r.stderr, "pr must be the PR number %(a positive whole number%)", bad)
  end
  local r = preview(f, "abc")
  t.eq(r.code, 2)
  t.match(r.stdout .. r.stderr, "pr")
  r = cleanup(f, "abc")
  t.eq(r.code, 2)
  r = preview(f, 4242)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "acme/app has no PR #4242: check the number")
  f.env.FLY_PREVIEW_APP = "app-with-a-very-long-name-for-its-previews-of-pull-requests-pr-%d"
  local n = open_pr(f)
  r = preview(f, n)
  t.eq(r.code, 2, r.stdout)
  t.match(r.stdout .. r.stderr, "the preview app for pr=" .. n .. ": app name app%-with%S+ is %d+ characters: at most 63")
  f.env.FLY_PREVIEW_APP = "App_PR_%d"
  r = preview(f, n)
  t.eq(r.code, 2)
  t.match(r.stdout .. r.stderr, "app name must consist of only lowercase letters, numbers, and dashes")
  t.eq(f:count_calls("fly apps create"), 3, "only the fixture's own apps")
end)

t.test("a database that cannot be created: the app this run made is destroyed again; a re-run then succeeds", function()
  local f = setup()
  local n = open_pr(f)
  f:fault("mpg-create:app-pr-" .. n .. "-db=fail")
  local r = preview(f, n)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "✗ database failed")
  t.match(r.stdout, "failed creating managed postgres cluster")
  t.eq(state(f, "apps")["app-pr-" .. n], nil, "the app is not left half made")
  t.eq(f:count_calls("fly apps destroy app-pr-" .. n .. " --yes"), 1)
  t.eq(f:latest {}.status, "failed")
  t.eq(#comments(f, n), 0)
  r = preview(f, n)
  t.eq(r.code, 0, r.stdout)
  t.eq(#clusters(f), 1)
end)

t.test("a missing secret the config names: refused before anything is made", function()
  local f = setup()
  f.env.PREVIEW_SESSION_SECRET = false
  local n = open_pr(f)
  local r = preview(f, n)
  t.eq(r.code, 2, r.stdout)
  t.match(r.stdout .. r.stderr, "PREVIEW_SESSION_SECRET")
  t.eq(f:count_calls("fly apps create"), 3)
end)
