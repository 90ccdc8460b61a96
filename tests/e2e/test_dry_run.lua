-- --dry-run is a property of the primitives (DESIGN.md): every shipped recipe,
-- dry-run in the sandbox, leaves the working tree, its origin, the sandbox's
-- state and the ledger byte for byte as they were, and succeeds.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local cmsfix = require "cmsfix"
local composefix = require "composefix"
local docsfix = require "docsfix"
local flyfix = require "flyfix"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

-- "sha256  path" for every file under dirs, sorted. Left out: what records
-- reads rather than state (the stand-ins' call log, process logs), git's
-- index, whose stat cache a read-only `git status` refreshes, and SQLite's
-- -shm files (a reader's marks). The local D1 databases are compared by
-- their content (.dump): wrangler's local D1 checkpoints its WAL even when
-- it only reads, and counts every query in its _cf_METADATA table, which
-- the real, remote D1 does not show. The GitHub stand-in
-- logs every request it gets (reads too) in github.json: compared without it.
local function snapshot(dirs)
  local r = proc.run { "bash", "-c", [[
    for d in "$@"; do
      [ -e "$d" ] || { echo "absent $d"; continue; }
      find "$d" -type f ! -name calls.jsonl ! -name '*.log' ! -path '*/.git/index' ! -name '*.pid' ! -name '*-shm' \
        ! -name '*.sqlite-wal' -print0 | sort -z | while IFS= read -r -d '' f; do
        case $f in
          */.lock) ;;
          *.sqlite) printf '%s  %s (content)\n' "$(sqlite3 "$f" .dump | grep -v '^INSERT INTO _cf_METADATA' |
            sha256sum | cut -c1-64)" "$f" ;;
          */github.json) printf '%s  %s (without the request log)\n' "$(python3 -c 'import json, sys
d = json.load(open(sys.argv[1])); d.pop("requests", None); print(json.dumps(d, sort_keys=True))' "$f" |
            sha256sum | cut -c1-64)" "$f" ;;
          *) sha256sum "$f" ;;
        esac
      done
    done]], "bash", table.unpack(dirs) }
  return r.stdout
end

local function unchanged(before, after, what)
  if before == after then return end
  local old, diff = {}, {}
  for l in before:gmatch("[^\n]+") do old[l] = true end
  for l in after:gmatch("[^\n]+") do if not old[l] then diff[#diff + 1] = l end end
  error(string.format("%s changed under --dry-run:\n%s", what, table.concat(diff, "\n")), 2)
end

-- dry-runs each {recipe, args...} on fixture f; everything it may touch stays as it was
local function dry_run_all(f, runs)
  -- GitHub's state exists, as it does for a real repository (the stand-in
  -- writes its state file on the first request it gets)
  require("drun.http").get(f.env.GITHUB_API_URL .. "/repos/acme/cms", { check = false })
  local dirs = { f.repo, f.origin, f.sandbox .. "/state", f.sandbox .. "/hosts", f.sandbox .. "/d1", f.ledger,
                 f.ledger .. "-wal", f.ledger .. "-shm", f.sandbox .. "/caddy/sites", f.sandbox .. "/compose" }
  local before = snapshot(dirs)
  for _, run in ipairs(runs) do
    local r = f:run(table.unpack(run))
    t.eq(r.code, 0, table.concat(run, " ") .. ":\n" .. r.stdout .. r.stderr)
    t.match(r.stdout, "%[dry%-run%]", run[1])
    t.match(r.stdout, "dry%-run: would ", run[1])
    t.no_match(r.stdout .. r.stderr, "without drun's changelog", run[1]) -- HEAD stands for the tag not made
    unchanged(before, snapshot(dirs), table.concat(run, " "))
  end
end

t.test("the CMS recipes: staging, production, rollback", function()
  local f = cmsfix.setup()
  for _ = 1, 2 do -- two real releases: the rollback has a target
    local r = f:prod("version_bump=patch", "--yes")
    t.eq(r.code, 0, r.stdout .. r.stderr)
  end
  f:staged() -- the last bump commit: the production dry run passes its checklist (read-only, as the rest)
  -- staging's database exists, as the remote one does (wrangler's local D1
  -- would otherwise be created by the first read, in the snapshot's window)
  t.eq(f:wrangler("apps/cms", "d1", "execute", "cms-staging", "--remote", "--env", "staging", "--command", "SELECT 1").code, 0)
  dry_run_all(f, {
    { "cms-staging", "--dry-run" },
    { "cms-prod", "version_bump=minor", "--dry-run" },
    { "cms-rollback", "environment=production", "reason=dry", "--dry-run" },
    { "cms-hotfix", "--dry-run" },
  })
end)

t.test("the docs recipe in each mode", function()
  local f = docsfix.setup()
  dry_run_all(f, {
    { "docs-pages", "mode=staging", "--dry-run" },
    { "docs-pages", "mode=pr", "pr=12", "branch=feature/x", "--dry-run" },
    { "docs-pages", "mode=production", "--dry-run" },
  })
end)

t.test("the Fly recipes: pipeline, promotion, rollback, PR preview and its clean-up", function()
  local f = flyfix.setup()
  f.env.GITHUB_REPOSITORY, f.env.PREVIEW_SESSION_SECRET = "acme/app", "dry-run-preview-secret"
  local pr = require("drun.http").request { method = "POST", url = f.env.GITHUB_API_URL .. "/repos/acme/app/pulls",
                                            headers = { Authorization = "Bearer " .. f.env.GITHUB_TOKEN },
                                            json = { title = "x", head = "main", base = "main" } }
  t.eq(pr.status, 201, pr.body)
  dry_run_all(f, {
    { "fly-deploy", "--dry-run" },
    { "fly-promote", "promotion_path=development->staging", "--dry-run" },
    { "fly-rollback", "environment=development", "to=" .. f.digests[2], "--dry-run" },
    { "fly-preview", "pr=" .. pr:json().number, "--dry-run" },
    { "fly-preview-cleanup", "pr=" .. pr:json().number, "--dry-run" },
  })
end)

t.test("the Compose recipes: restart, rollback, a PR preview (new and existing) and its clean-up", function()
  local f = composefix.setup()
  f:push_branch("pr-branch", "VERSION", "9.9.9\n")
  local a, b = f:open_pr("pr-branch"), f:open_pr("pr-branch")
  t.eq(f:run("compose-preview", "pr=" .. b).code, 0)
  dry_run_all(f, {
    { "compose-restart", "--dry-run" },
    { "compose-rollback", "commit=" .. f:server_head(), "--dry-run" },
    { "compose-preview", "pr=" .. a, "--dry-run" },
    { "compose-preview", "pr=" .. b, "--dry-run" },
    { "compose-preview-cleanup", "pr=" .. b, "--dry-run" },
  })
end)

t.test("recipes/sample.lua --dry-run succeeds and changes nothing", function()
  local d = t.tmpdir()
  local before = snapshot { ROOT .. "/recipes", d }
  local r = t.drun({ "recipes/sample.lua", "target=" .. d .. "/deploy", "--ledger", d .. "/ledger.db", "--dry-run" },
                   { cwd = ROOT })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(fs.exists(d .. "/deploy"), false, "nothing deployed")
  t.eq(fs.exists(d .. "/ledger.db"), false, "no ledger")
  unchanged(before, snapshot { ROOT .. "/recipes", d }, "sample")
end)

t.test("drun.core is not reachable from a recipe or a script", function()
  for _, m in ipairs { "drun.core.proc", "drun.core.fs", "drun.core.http", "drun.core.ledger", "drun.core.out" } do
    local r = t.drun { "-e", ("require %q"):format(m) }
    t.eq(r.code, 3, m)
    t.match(r.stderr, "is drun's internal layer, not reachable from recipes and scripts")
  end
  local r = t.drun { "-e", "for k in pairs(package.loaded) do if k:match('^drun%.core') then print(k) end end; "
                       .. "require('drun.proc').run { 'true' }; for k in pairs(package.loaded) do "
                       .. "if k:match('^drun%.core') then print(k) end end" }
  t.eq(r.code, 0, r.stderr)
  t.eq(r.stdout, "", "not in package.loaded either")
end)

t.test("fs writes, mkdir, remove and pkgjson go through the gate; a run's tmpdir is scratch", function()
  local d = t.tmpdir()
  t.write(d .. "/package.json", '{ "name": "x", "version": "1.0.0" }\n')
  local path = t.write(d .. "/r.lua", ([[
local recipe = require "drun.recipe"
local r = recipe.new { name = "gate", service = "s", environment = "e", version = "1.0.0" }
r:step("touch", function(ctx)
  ctx.fs.write(%q, "x")
  ctx.fs.mkdir(%q)
  ctx.fs.remove(%q)
  require("drun.pkgjson").set_version(%q, "2.0.0")
  local scratch = ctx.fs.tmpdir("gate")
  ctx.fs.write(scratch .. "/note", "kept")
  assert(ctx.fs.read(scratch .. "/note") == "kept")
  ctx.fs.remove(scratch, true)
end)
return r
]]):format(d .. "/written", d .. "/made/deep", d .. "/package.json", d .. "/package.json"))
  local r = t.drun { path, "--ledger", d .. "/l.db", "--dry-run" }
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "would write " .. (d .. "/written"):gsub("%p", "%%%0"))
  t.match(r.stdout, "would create the directory ")
  t.match(r.stdout, "would remove ")
  t.eq(fs.exists(d .. "/written"), false)
  t.eq(fs.exists(d .. "/made"), false)
  t.eq(fs.read(d .. "/package.json"), '{ "name": "x", "version": "1.0.0" }\n')
end)
