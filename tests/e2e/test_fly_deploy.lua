-- The Fly pipeline on a push to main (recipes/fly-deploy.lua) in the
-- sandbox: test gate, docker build + push to registry.fly.io (the digest
-- from docker push), development's cluster snapshotted only when migrations
-- changed since what it runs, every machine checked, the ledger's record.
local t = require "t"
local json = require "drun.json"
local fs = require "drun.fs"
local flyfix = require "flyfix"

local function deploy(f, ...) return f:run("fly-deploy", ...) end

local function head(f) return f:sh("git", "rev-parse", "HEAD").stdout:match("%x+") end

local function commit(f, path, text, msg)
  fs.write(f.repo .. "/" .. path, text)
  assert(f:sh("git", "add", "-A").code == 0)
  assert(f:sh("git", "commit", "-q", "-m", msg).code == 0)
  return head(f)
end

-- the labels of the image app-development runs (fly image show: a JSON string)
local function labels(f)
  local shown = json.decode(f:sh("fly", "image", "show", "-a", "app-development", "--json").stdout)
  return json.decode(shown[1].Labels)
end

t.test("a push to main: the image of this commit is built, pushed, snapshotted-for and deployed to development", function()
  local f = flyfix.setup() -- development runs commit 1's image; HEAD is commit 3 (0002_orders.sql since)
  local r = deploy(f)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local rec = f:latest {}
  t.eq(rec.environment, "development")
  t.eq(rec.status, "success")
  t.eq(rec.git_commit, f.commits[3])
  t.match(rec.metadata.digest, "^sha256:%x+$")
  t.eq(f:running("development"), rec.metadata.digest, "every machine runs the pushed digest")
  t.eq(rec.metadata.image_ref, "registry.fly.io/app-development@" .. rec.metadata.digest)
  t.eq(rec.metadata.image_tag, "registry.fly.io/app-development:deployment-" .. f.commits[3])
  t.eq(labels(f).commit, f.commits[3], "the image is labelled with its commit")
  t.eq(rec.metadata.snapshot, "taken: migrations/0002_orders.sql changed")
  t.match(rec.metadata.backup_id, "^bkp_")
  t.match(r.stdout, "ok: 2 migrations apply") -- the gate ran
  t.match(r.stdout, "deployment%-" .. f.commits[3] .. ": digest: sha256:%x+ size: %d+")
  t.eq(f:count_calls("fly auth docker"), 1)
  -- what fly-promote moves on: the digest and its commit, from the label
  r = f:promote("development->staging")
  t.eq(r.code, 0, r.stdout)
  t.eq(f:running("staging"), rec.metadata.digest)
  t.eq(f:latest { environment = "staging" }.git_commit, f.commits[3])
end)

t.test("a commit without migration changes deploys without a snapshot; the same commit again deploys nothing", function()
  local f = flyfix.setup()
  t.eq(deploy(f).code, 0)
  local backups = f:count_calls("fly mpg backup create app-development-db")
  local sha = commit(f, "src/server.py", 'print("app v3")\n', "app: faster search")
  local r = deploy(f)
  t.eq(r.code, 0, r.stdout)
  local rec = f:latest {}
  t.eq(rec.git_commit, sha)
  t.eq(rec.metadata.snapshot, string.format("skipped: no migration changed between %s and %s", f.commits[3]:sub(1, 12), sha:sub(1, 12)))
  t.eq(rec.metadata.backup_id, json.null)
  t.eq(f:count_calls("fly mpg backup create app-development-db"), backups)
  local deploys = f:count_calls("fly deploy -a app-development")
  r = deploy(f) -- the same commit builds the same image
  t.eq(r.code, 0, r.stdout)
  t.match(r.stdout, "app%-development already runs sha256:%x+: nothing to deploy")
  t.eq(f:count_calls("fly deploy -a app-development"), deploys)
end)

t.test("the test gate fails: nothing is built, pushed or deployed", function()
  local f = flyfix.setup()
  commit(f, "migrations/0003_broken.sql", "CREATE TABLE orders (id INTEGER PRIMARY KEY);\n", "app: orders again (broken)")
  local r = deploy(f)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "✗ test failed")
  t.match(r.stdout .. r.stderr, "FAIL: migrations/0003_broken.sql does not apply")
  t.match(r.stdout, "state:  nothing built or deployed")
  t.eq(f:count_calls("docker build"), 0)
  t.eq(f:count_calls("fly deploy -a app-development"), 1) -- the fixture's own
  t.eq(f:running("development"), f.digests[1])
  t.eq(f:latest {}.status, "failed")
end)

t.test("a build or push that fails: development keeps running what it ran", function()
  for fault, says in pairs {
    ["build:app-development=fail"] = "ERROR: failed to build: failed to solve: process \"/bin/sh %-c make\" did not complete",
    ["push:app-development=fail"] = "blob upload unknown to registry",
  } do
    local f = flyfix.setup()
    f:fault(fault)
    local r = deploy(f)
    t.eq(r.code, 1, fault .. r.stdout)
    t.match(r.stdout, "✗ build failed", fault)
    t.match(r.stdout, says, fault)
    t.match(r.stdout, "state:  nothing deployed: app%-development runs what it ran", fault)
    t.eq(f:running("development"), f.digests[1], fault)
  end
end)

t.test("no FLY_API_TOKEN: nothing runs; docker without registry.fly.io's credentials is refused as the registry refuses it", function()
  local f = flyfix.setup()
  f.env.FLY_API_TOKEN = "" -- fly auth docker could not log docker in
  local r = deploy(f)
  t.eq(r.code, 2, r.stdout)
  t.match(r.stdout, "secret FLY_API_TOKEN is empty; export it before running drun")
  t.match(r.stdout, "nothing was run")
  t.eq(f:count_calls("docker push"), 0)
  -- a docker config without the registry (auth docker never ran) gets the registry's answer
  f.env.FLY_API_TOKEN = "sandbox-fly-token"
  local p = f:sh("docker", "build", "-t", "registry.fly.io/app-development:x", ".")
  t.eq(p.code, 0, p.stderr)
  p = f:sh("docker", "push", "registry.fly.io/app-development:x")
  t.eq(p.code, 1)
  t.match(p.stderr, "unauthorized: authentication required")
end)

t.test("uncommitted changes: refused before the test gate (the image would not be the commit it is labelled with)", function()
  local f = flyfix.setup()
  fs.write(f.repo .. "/src/server.py", 'print("not committed")\n')
  local r = deploy(f)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "FAIL clean")
  t.match(r.stdout, "src/server.py")
  t.eq(f:count_calls("docker build"), 0)
end)

t.test("a migration the release_command rejects: the deploy fails, the old digest keeps serving (verified)", function()
  local f = flyfix.setup()
  f:fault("release-command:app-development=fail")
  local r = deploy(f)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "release command failed %- aborting deployment")
  t.match(r.stdout, "app%-development still runs the old digest " .. f.digests[1]:sub(1, 19):gsub("%p", "%%%0") .. " %(verified%)")
  t.eq(f:running("development"), f.digests[1])
end)

t.test("record_issue=true: the deployment record names digest, commit and backup id", function()
  local f = flyfix.setup()
  local r = deploy(f, "record_issue=true")
  t.eq(r.code, 0, r.stdout)
  local rec = f:latest {}
  local gh = json.decode(fs.read(f.sandbox .. "/state/github.json"))
  t.eq(#gh.issues, 1)
  t.eq(gh.issues[1].title, "Deployment record: app-development " .. rec.metadata.digest:sub(8, 19))
  t.match(gh.issues[1].body, "| digest | `" .. rec.metadata.digest .. "` |")
  t.match(gh.issues[1].body, "| commit | " .. f.commits[3] .. " |")
  t.match(gh.issues[1].body, "| backup id | bkp_")
end)
