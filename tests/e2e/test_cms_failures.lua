-- The CMS + MCP flow when things go wrong: what the report says, what the
-- environment is left as, rollbacks, and the gates before anything runs.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"
local cmsfix = require "cmsfix"

-- staging and a first production release done: prod runs 1.4.1
local function released()
  local f = cmsfix.setup()
  assert(f:run("cms-staging").code == 0)
  assert(f:prod("--yes").code == 0)
  return f
end

local function current(f, dir) local d = f:deployments(dir, "production"); return d[#d].versions[1].version_id end

t.test("the CMS deploy fails: the report says MCP is new and CMS old", function()
  local f = released()
  local mcp_before = current(f, "packages/cms-mcp")
  f:fault("deploy:cms=fail")
  local r = f:prod("--yes")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ deploy%-cms failed")
  t.match(r.stdout, "Script upload failed %(sandbox fault")
  t.match(r.stdout, "state:  MCP is new, CMS is old and still serving: investigate; if the new MCP is incompatible "
                    .. "with the old CMS, roll MCP back")
  t.ok(current(f, "packages/cms-mcp") ~= mcp_before, "MCP is new")
  t.eq(f:health("production"):json().version, "1.4.1", "the old CMS still serves")
end)

t.test("the smoke check sees the old version: no commit, tag or release; live and bad; cms-rollback named", function()
  local f = released()
  local tags_before = proc.output { "git", "-C", f.origin, "tag" }
  f:fault("health:cms=old")
  local r = f:prod("--yes")
  t.eq(r.code, 1)
  t.match(r.stdout, "health: attempt 5/5: 200 with version \"1%.4%.1\" %(expected \"1%.4%.2\"%)")
  t.match(r.stdout, "state:  the new bundle is live and bad; no commit, tag or release was made")
  t.match(r.stdout, "next:   drun recipes/cms%-rollback%.lua environment=production")
  t.eq(proc.output { "git", "-C", f.origin, "tag" }, tags_before, "no tag")
  t.eq(proc.output { "git", "-C", f.origin, "log", "-1", "--format=%s" }, "cms 1.4.1", "no commit")
  t.eq(#json.decode(fs.read(f.sandbox .. "/state/github.json")).releases, 1, "no new release")
  t.eq(f:latest().status, "failed")
end)

t.test("the same with --auto-rollback: both workers back on their previous versions, ledger rollback", function()
  local f = released()
  local cms_before, mcp_before = current(f, "apps/cms"), current(f, "packages/cms-mcp")
  f:fault("health:cms=500")
  local r = f:prod("--yes", "--auto-rollback")
  t.eq(r.code, 1)
  t.match(r.stdout, "undo:   rolled back: deploy%-cms, deploy%-mcp, bump%-version")
  t.eq(current(f, "apps/cms"), cms_before)
  t.eq(current(f, "packages/cms-mcp"), mcp_before)
  t.eq(f:latest().status, "rollback")
  f:fault("clear")
  t.eq(f:health("production"):json().version, "1.4.1")
end)

t.test("cms-rollback on its own: the last good versions back, the bad deployment marked", function()
  local f = released()
  local good = f:latest()
  -- a release that passed its smoke check but turns out bad
  t.eq(f:prod("--yes").code, 0)
  t.eq(f:health("production"):json().version, "1.4.2")
  local bad = f:latest()
  local r = f:run("cms-rollback", "--yes", "reason=checkout broken")
  t.eq(r.code, 0, r.stdout)
  t.eq(f:health("production"):json().version, "1.4.1")
  t.eq(current(f, "apps/cms"), good.metadata.cms_version_id)
  t.eq(current(f, "packages/cms-mcp"), good.metadata.mcp_version_id)
  local d = f:deployments("apps/cms", "production")
  t.eq(d[#d].annotations["workers/message"], "rolling back: checkout broken")
  d = f:deployments("packages/cms-mcp", "production")
  t.eq(d[#d].annotations["workers/message"], "rolling back MCP: checkout broken")
  local db = require("drun.ledger").open(f.ledger)
  t.eq(db:record(bad.id).status, "rollback")
  t.eq(db:record(bad.id).metadata.rollback_reason, "checkout broken")
  t.eq(db:latest({ status = "success" }).recipe, "cms-rollback")
  t.eq(db:latest({ status = "success" }).git_commit, good.git_commit, "the restored commit, not the checkout's HEAD")
  t.ok(good.git_commit ~= bad.git_commit)
end)

t.test("cms-rollback with no earlier success: a clear error, nothing runs", function()
  local f = cmsfix.setup()
  local r = f:run("cms-rollback", "--yes")
  t.eq(r.code, 3)
  t.match(r.stdout, "no earlier successful deployment of cms to production in the ledger, and no earlier deployment in "
                    .. "Workers' history %(wrangler deployments list%): nothing to roll back to")
  t.eq(#f:calls("rollback"), 0)
end)

t.test("no CLOUDFLARE_API_TOKEN: a clear error before anything runs", function()
  local f = cmsfix.setup()
  f.env.CLOUDFLARE_API_TOKEN = false
  local r = f:prod("--yes")
  t.eq(r.code, 2)
  t.match(r.stdout, "env: secret CLOUDFLARE_API_TOKEN is not set; export it before running drun\nnothing was run")
  t.eq(#f:calls(), 0)
  t.eq(fs.exists(f.ledger), false)
end)

t.test("version_bump=huge: exit 2 naming the choices", function()
  local f = cmsfix.setup()
  local r = f:prod("version_bump=huge", "--yes")
  t.eq(r.code, 2)
  t.match(r.stderr, "parameter 'version_bump' must be one of patch, minor, major %(got 'huge'%)")
end)

t.test("production without --yes and without a terminal: exit 5, nothing runs", function()
  local f = cmsfix.setup()
  local r = f:prod()
  t.eq(r.code, 5)
  t.match(r.stdout, "approval required: re%-run with %-%-yes")
  t.eq(#f:calls(), 0)
end)

t.test("a second production run while one holds the lock: exit 4", function()
  local f = cmsfix.setup()
  local hold = t.write(f.dir .. "/hold.lua", [[
    local db = require('drun.ledger').open(arg[1])
    db:lock('cms', 'production', { recipe = 'cms-prod' })
    io.open(arg[2], 'w'):close()
    require('drun.time').sleep(30)
  ]])
  local r = proc.run { "sh", "-c", [[
    "$0" "$1" "$2" "$3" & h=$!
    for i in $(seq 200); do [ -e "$3" ] && break; sleep 0.05; done
    cd "$4" && "$0" "$5" --ledger "$2" --yes skip_checks=staging-commit,staging-migrations; echo "exit=$?"
    kill $h
  ]], t.DRUN, hold, f.ledger, f.dir .. "/ready", f.repo, (os.getenv("DRUN_ROOT") or fs.cwd()) .. "/recipes/cms-prod.lua",
    env = f.env, timeout = 60 }
  t.match(r.stdout, "exit=4\n")
  t.match(r.stdout, "cms/production is locked by pid %d+")
end)

t.test("cms-rollback with an empty ledger (a fresh CI runner): the previous deployment from wrangler deployments list", function()
  local f = released()
  local good_cms, good_mcp = current(f, "apps/cms"), current(f, "packages/cms-mcp")
  local good_commit = f:latest().git_commit
  t.eq(f:prod("--yes").code, 0)
  f.ledger = f.dir .. "/fresh-runner.db" -- the next job starts on a new machine, with no ledger
  local r = f:run("cms-rollback", "--yes", "reason=bad release")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(current(f, "apps/cms"), good_cms)
  t.eq(current(f, "packages/cms-mcp"), good_mcp)
  t.eq(f:health("production"):json().version, "1.4.1")
  local rec = f:latest()
  t.eq(rec.version, "1.4.1", "read from the deploy message cms@1.4.1 prod deploy by ...")
  t.eq(rec.git_commit, good_commit, "the restored commit, from the deploy message")
  t.eq(rec.metadata.restored_from, "wrangler deployments list")
  local calls = f:calls("deployments")
  t.same(calls[#calls].argv, { "deployments", "list", "--json" }, "production is wrangler's top level: no --env")
end)

t.test("next: a failed test gate says retry (nothing deployed); a failed smoke check names this run's rollback", function()
  local f = cmsfix.setup()
  fs.write(f.repo .. "/scripts/test.sh", "echo '1 test failed'; exit 1\n")
  proc.run { "git", "-C", f.repo, "commit", "-qam", "a test that fails" } -- committed: a dirty tree never gets this far
  local r = f:prod("--yes")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ test failed")
  t.match(r.stdout, "next:   nothing was deployed: fix the cause, then re%-run the same command")
  t.no_match(r.stdout, "cms%-rollback")
  f = cmsfix.setup()
  f:fault("health:cms:staging=500")
  r = f:run("cms-staging")
  t.eq(r.code, 1)
  t.match(r.stdout, "next:   drun recipes/cms%-rollback%.lua environment=staging")
  t.no_match(r.stdout, "environment=production")
end)

t.test("production under GitHub Actions: the seed's message, wrangler's top level (no --env)", function()
  local f = cmsfix.setup()
  f.env.GITHUB_ACTOR, f.env.GITHUB_SHA = "octocat", "0123456789abcdef"
  f.env.GITHUB_SERVER_URL, f.env.GITHUB_REPOSITORY, f.env.GITHUB_RUN_ID = "https://github.com", "acme/cms", "77"
  local r = f:prod("--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local d = f:deployments("apps/cms", "production")
  t.eq(d[#d].annotations["workers/message"],
       "cms@1.4.1 prod deploy by octocat @ 0123456789abcdef (https://github.com/acme/cms/actions/runs/77)")
  local found
  for _, c in ipairs(f:calls()) do
    if c.argv[1] == "deploy" then
      found = true
      for _, a in ipairs(c.argv) do t.ok(a ~= "--env", "production deployed with --env: " .. table.concat(c.argv, " ")) end
    end
  end
  t.ok(found)
end)
