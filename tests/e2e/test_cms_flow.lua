-- The CMS + MCP flow end to end in the sandbox: the happy paths, the
-- migration tracker backfill on a real local D1, and failures before CMS.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"
local cmsfix = require "cmsfix"

t.test("staging: MCP deployed before CMS, both messages stamped, ledger success", function()
  local f = cmsfix.setup()
  local r = f:run("cms-staging")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local deploys = f:calls("deploy")
  t.eq(#deploys, 2)
  t.match(deploys[1].cwd, "packages/cms%-mcp$", "MCP first")
  t.match(deploys[2].cwd, "apps/cms$")
  local sha = proc.output { "git", "-C", f.repo, "rev-parse", "HEAD" }
  for _, dir in ipairs { "packages/cms-mcp", "apps/cms" } do
    local d = f:deployments(dir, "staging")
    t.eq(d[#d].annotations["workers/message"], "drun deploy by Ada Fixture @ " .. sha)
  end
  local rec = f:latest()
  t.eq(rec.status, "success")
  t.eq(rec.full_version, "1.4.0+build.1")
  t.eq(rec.metadata.cms_version_id, f:deployments("apps/cms", "staging")[1].versions[1].version_id)
  t.ok(rec.metadata.mcp_version_id)
  t.eq(rec.metadata.deploy_message, "drun deploy by Ada Fixture @ " .. sha)
  t.eq(f:health("staging"):json().version, "1.4.0")
end)

t.test("staging stamps the GitHub Actions message when run there", function()
  local f = cmsfix.setup()
  f.env.GITHUB_ACTOR, f.env.GITHUB_SHA = "octocat", "0123456789abcdef"
  f.env.GITHUB_SERVER_URL, f.env.GITHUB_REPOSITORY, f.env.GITHUB_RUN_ID = "https://github.com", "acme/cms", "77"
  t.eq(f:run("cms-staging").code, 0)
  local d = f:deployments("apps/cms", "staging")
  t.eq(d[1].annotations["workers/message"],
       "GitHub Actions deploy by octocat @ 0123456789abcdef (https://github.com/acme/cms/actions/runs/77)")
end)

t.test("production: package.json bumped byte-exactly, tag and release only after a good smoke check", function()
  local f = cmsfix.setup()
  t.eq(f:run("cms-staging").code, 0)
  local pkg = f.repo .. "/apps/cms/package.json"
  local before = fs.read(pkg)
  local r = f:run("cms-prod", "version_bump=minor", "--yes") -- staging ran this commit: the checklist passes
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(fs.read(pkg), (before:gsub('"version": "1%.4%.0"', '"version": "1.5.0"')), "only the version changed")
  t.eq(proc.output { "git", "-C", f.origin, "log", "-1", "--format=%s" }, "cms 1.5.0")
  t.eq(proc.output { "git", "-C", f.origin, "cat-file", "-t", "cms-v1.5.0" }, "tag")
  t.eq(proc.output { "git", "-C", f.origin, "rev-parse", "cms-v1.5.0^{commit}" },
       proc.output { "git", "-C", f.origin, "rev-parse", "main" })
  local gh = json.decode(fs.read(f.sandbox .. "/state/github.json"))
  t.eq(gh.releases[1].tag_name, "cms-v1.5.0")
  t.match(gh.releases[1].body, "feat: posts have a status") -- GitHub's generated notes
  -- drun's changelog above them, grouped: the fixture's history since cms-v1.4.0
  t.match(gh.releases[1].body, "^## Changes since cms%-v1%.4%.0\n\n### Features\n%- posts have a status %x%x%x%x%x%x%x\n")
  local rec = f:latest()
  t.eq(rec.status, "success")
  t.eq(rec.full_version, "1.5.0+build.1")
  t.match(rec.metadata.deploy_message, "^cms@1%.5%.0 prod deploy by Ada Fixture @ %x+$")
  t.ok(rec.metadata.cms_version_id and rec.metadata.mcp_version_id)
  t.eq(rec.metadata.release_url, "https://github.example/acme/cms/releases/tag/cms-v1.5.0")
  t.eq(f:health("production"):json().version, "1.5.0")
end)

t.test("a legacy database: the backfill runs and migrations pass; without it they fail on duplicate column", function()
  local f = cmsfix.setup()
  f:make_legacy("cms-staging", "staging")
  f:make_legacy("cms-production")
  -- without the backfill step, the real local D1 rejects the history
  local r = f:wrangler("apps/cms", "d1", "migrations", "apply", "cms-production", "--remote")
  t.eq(r.code, 1)
  t.match(r.stdout .. r.stderr, "duplicate column name: slug")
  r = f:run("cms-staging")
  t.eq(r.code, 0, r.stdout)
  t.match(r.stdout, "organizations exists without d1_migrations: the tracker was backfilled")
  t.match(r.stdout, "applied 0004_post_status%.sql\n")
  t.eq(f:latest().metadata.backfill, "organizations exists without d1_migrations: the tracker was backfilled from "
       .. fs.realpath(f.repo .. "/scripts/backfill-d1-migrations.sql"))
end)

t.test("a fresh database: the backfill is skipped, with its reason; a second run changes nothing", function()
  local f = cmsfix.setup()
  local r = f:run("cms-staging")
  t.match(r.stdout, "a fresh database %(no organizations table%): nothing to backfill")
  t.match(r.stdout, "applied 0001_init%.sql, 0002_org_slug%.sql, 0003_posts%.sql, 0004_post_status%.sql\n")
  r = f:run("cms-staging")
  t.eq(r.code, 0)
  t.match(r.stdout, "the migration tracker %(d1_migrations%) is already there")
  t.match(r.stdout, "no migrations to apply")
end)

t.test("the backfill run twice is no change", function()
  local f = cmsfix.setup()
  f:make_legacy("cms-staging", "staging")
  local file = f.repo .. "/scripts/backfill-d1-migrations.sql"
  for _ = 1, 2 do
    t.eq(f:wrangler("apps/cms", "d1", "execute", "cms-staging", "--env", "staging", "--remote", "--file", file).code, 0)
  end
  local q = json.decode(f:wrangler("apps/cms", "d1", "execute", "cms-staging", "--env", "staging", "--remote", "--json",
                                   "--command", "SELECT count(*) AS n FROM d1_migrations").stdout)
  t.eq(q[1].results[1].n, 3)
end)

t.test("an invalid migration stops the run before any deploy", function()
  local f = cmsfix.setup()
  t.write(f.repo .. "/apps/cms/migrations/0005_broken.sql", "ALTER TABLE nowhere ADD COLUMN x TEXT;\n")
  local r = f:run("cms-staging")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ migrate failed")
  t.match(r.stdout, "no such table: nowhere")
  t.match(r.stdout, "state:  nothing deployed %(a failing migration is rolled back; earlier ones stay%)")
  t.eq(#f:calls("deploy"), 0, "nothing deployed")
end)

t.test("the MCP deploy fails: CMS untouched, the report says prod is still on the previous pair", function()
  local f = cmsfix.setup()
  t.eq(f:run("cms-staging").code, 0)
  t.eq(f:prod("--yes").code, 0)
  local cms_before = f:deployments("apps/cms", "production")
  f:fault("deploy:cms-mcp=fail")
  local r = f:prod("--yes")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ deploy%-mcp failed")
  t.match(r.stdout, "state:  production still on the previous CMS%+MCP: fix and retry")
  t.eq(#f:deployments("apps/cms", "production"), #cms_before, "CMS untouched")
  t.eq(fs.read(f.repo .. "/apps/cms/package.json"):match('"version": "([^"]+)"'), "1.4.1", "the bump was put back")
end)

t.test("a CMS without MCP or D1 (a single worker): no MCP deploy, no migrations; release and rollback cover the CMS only", function()
  local f = cmsfix.setup()
  f.env.CMS_WATCH_SECONDS = "1"
  -- a single worker: no D1 database, no service binding
  t.write(f.repo .. "/apps/cms/wrangler.jsonc",
          '{ "name": "cms", "main": "src/index.js", "compatibility_date": "2025-01-01", "env": { "staging": {} } }\n')
  proc.run { "git", "-C", f.repo, "commit", "-q", "-am", "cms: a single worker" }
  -- the repository's own config: the shipped one without mcp_dir, database, backfill and schema_table
  local function run(flow, ...)
    return f:adapted("cms-config", "require('drun.flows.cms')." .. flow,
                     { "c.mcp_dir, c.database, c.backfill, c.schema_table = nil, nil, nil, nil" }, ...)
  end
  local r = run("staging")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.no_match(r.stdout, "%] deploy%-mcp ")
  t.no_match(r.stdout, "%] migrate ")
  t.no_match(r.stdout, "%] backfill ")
  local deploys = f:calls("deploy")
  t.eq(#deploys, 1)
  t.match(deploys[1].cwd, "apps/cms$")
  t.eq(#f:calls("d1"), 0, "no D1 command at all")
  t.eq(f:latest().metadata.mcp_version_id, nil)
  r = run("production", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.no_match(r.stdout, "staging%-migrations")
  local rec = f:latest()
  t.eq(rec.metadata.mcp_version_id, nil)
  t.ok(rec.metadata.watch.cms, "the CMS watched")
  t.eq(rec.metadata.watch.mcp, nil)
  t.eq(f:health("production"):json().version, "1.4.1")
  -- one release only: nothing earlier to go back to (it used to "roll back" to the release itself)
  r = run("rollback", "--yes")
  t.eq(r.code, 3, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, "no earlier successful deployment of cms to production in the ledger")
  r = run("production", "--yes", "skip_checks=staging-commit")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:health("production"):json().version, "1.4.2")
  r = run("rollback", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.no_match(r.stdout, "rollback%-mcp")
  t.eq(f:health("production"):json().version, "1.4.1")
  -- a backfill without the database it fills: the config says so, before anything runs
  r = proc.run { t.DRUN, "-e", [[
    package.path = ]] .. string.format("%q", cmsfix.ROOT .. "/recipes/?.lua;") .. [[ .. package.path
    local c = {}
    for k, v in pairs(require "cms-config") do c[k] = v end
    c.database = nil
    require("drun.flows.cms").staging(c)]], check = false }
  t.eq(r.code, 2, r.stderr)
  t.match(r.stderr, "the cms flow's config: backfill needs database too")
end)

t.test("several workers before the CMS (workers = {...}): deployed in order, watched, rolled back; a failure names which are new", function()
  local f = cmsfix.setup()
  f.env.CMS_WATCH_SECONDS = "1"
  -- a third worker beside the seed's two
  proc.run { "cp", "-R", f.repo .. "/packages/cms-mcp", f.repo .. "/packages/search" }
  t.write(f.repo .. "/packages/search/package.json", '{ "name": "search", "private": true, "version": "1.4.0" }\n')
  t.write(f.repo .. "/packages/search/wrangler.jsonc",
          '{ "name": "search", "main": "src/index.js", "compatibility_date": "2025-01-01", "env": { "staging": {} } }\n')
  proc.run { "git", "-C", f.repo, "add", "-A" }
  proc.run { "git", "-C", f.repo, "commit", "-q", "-m", "search worker" }
  local workers = { "c.mcp_dir = nil",
                    'c.workers = { { name = "mcp", dir = "packages/cms-mcp" }, { name = "search", dir = "packages/search" } }' }
  local function run(flow, extra, ...)
    return f:adapted("cms-config", "require('drun.flows.cms')." .. flow, { workers[1], workers[2], extra }, ...)
  end
  local r = run("staging")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "%] deploy%-mcp .*%] deploy%-search .*%] deploy%-cms ")
  local deploys = f:calls("deploy")
  t.eq(#deploys, 3)
  t.match(deploys[1].cwd, "packages/cms%-mcp$")
  t.match(deploys[2].cwd, "packages/search$")
  t.match(deploys[3].cwd, "apps/cms$")
  t.ok(f:latest().metadata.search_version_id, "the search worker's version id is recorded")
  r = run("production", nil, "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local watch = f:latest().metadata.watch
  t.ok(watch.cms and watch.mcp and watch.search, "every worker watched")
  r = run("production", nil, "--yes", "skip_checks=staging-commit")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local second = f:latest().metadata.search_version_id
  r = run("rollback", nil, "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "%] rollback%-cms .*%] rollback%-mcp .*%] rollback%-search ")
  t.ok(f:latest().metadata.search_version_id ~= second, "search is back on its previous version")
  -- the plan names the workers in order
  r = proc.run { t.DRUN, "plan", f.dir .. "/adapted/require-drun-flows-cms-production.lua", cwd = f.repo, env = f.env }
  t.match(r.stdout, "migrations, MCP, search, CMS")
  -- the middle worker fails: the state names what is new and what is old
  f:fault("deploy:search=fail")
  r = run("production", nil, "--yes", "skip_checks=staging-commit")
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "state:  MCP is new, search, CMS are old and still serving: investigate; if the new MCP is "
                    .. "incompatible with the old search, CMS, roll MCP back")
  -- both ways of naming the workers at once: the config says so
  r = run("staging", "c.mcp_dir = 'packages/cms-mcp'")
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stderr, "workers and mcp_dir cannot both be set: keep one")
end)
