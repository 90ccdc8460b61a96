-- The CMS production checklist (FLOWS.md §1, issue 20): checked before
-- anything runs, not printed. What production gets is what staging ran:
-- staging's last successful deployment (the ledger) is the commit released,
-- and staging's D1 has no pending migration. Each can be skipped with
-- skip_checks=<id>, which the report says and the ledger keeps.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local cmsfix = require "cmsfix"

local function commit(f, path, text, msg)
  t.write(f.repo .. "/" .. path, text)
  proc.run { "git", "-C", f.repo, "add", path }
  proc.run { "git", "-C", f.repo, "commit", "-qm", msg }
  return proc.output { "git", "-C", f.repo, "rev-parse", "HEAD" }
end

-- cms-prod with args: refused in preflight, and not one change made
local function refused(f, ...)
  local changes, records = #f:changes(), fs.exists(f.ledger) and #require("drun.ledger").open(f.ledger):history { all = true } or 0
  local r = f:run("cms-prod", ...)
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "preflight failed: nothing was run, nothing changed")
  t.eq(#f:changes(), changes, "no migration, no deploy")
  t.no_match(r.stdout, "%[1/%d+%] test", "not even the test gate")
  t.eq(proc.output { "git", "-C", f.repo, "status", "--porcelain" }, "", "package.json not bumped")
  t.eq(fs.exists(f.ledger) and #require("drun.ledger").open(f.ledger):history { all = true } or 0, records, "no record")
  return r
end

t.test("production before staging ever ran: both checks fail, with what to do; nothing runs, nothing recorded", function()
  local f = cmsfix.setup()
  local sha = proc.output { "git", "-C", f.repo, "rev-parse", "HEAD" }
  local r = refused(f, "--yes")
  t.match(r.stdout, "FAIL staging%-commit%s+the ledger has no successful staging deployment of cms: deploy "
                    .. sha:sub(1, 12) .. " to staging first %(drun recipes/cms%-staging%.lua%)")
  t.match(r.stdout, "FAIL staging%-migrations%s+cms%-staging has no migration tracker %(d1_migrations%)")
end)

t.test("main moved on since staging: the release is refused, both commits named", function()
  local f = cmsfix.setup():staged()
  local staged = proc.output { "git", "-C", f.repo, "rev-parse", "HEAD" }
  local head = commit(f, "apps/cms/src/extra.ts", "export const x = 1\n", "feat: extra")
  local r = refused(f, "--yes")
  t.match(r.stdout, "FAIL staging%-commit%s+staging's last successful deployment %(1%.4%.0%+build%.1, [^)]+%) is commit "
                    .. staged:sub(1, 12) .. ", this release is " .. head:sub(1, 12))
  t.match(r.stdout, "ok   staging%-migrations%s+cms%-staging: no migrations to apply")
end)

t.test("a failed staging deploy does not count: the last successful one is what staging verified", function()
  local f = cmsfix.setup()
  f:fault("health:cms:staging=500")
  t.eq(f:run("cms-staging").code, 1)
  f:fault("clear")
  local r = refused(f, "--yes")
  t.match(r.stdout, "FAIL staging%-commit%s+the ledger has no successful staging deployment of cms")
end)

t.test("a migration staging never ran: refused and named; skip_checks goes on and is recorded", function()
  local f = cmsfix.setup():staged()
  commit(f, "apps/cms/migrations/0005_tags.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n", "feat: tags")
  local r = refused(f, "--yes", "skip_checks=staging-commit")
  t.match(r.stdout, "ok   staging%-commit%s+SKIPPED %(skip_checks=staging%-commit; recorded with the run's params%)")
  t.match(r.stdout, "FAIL staging%-migrations%s+cms%-staging has 1 pending migration%(s%) %(0005_tags%.sql%): production "
                    .. "would get migrations staging never ran; deploy staging first")
  -- both overridden, on the record: the release goes out and says so
  r = f:run("cms-prod", "--yes", "skip_checks=staging-commit,staging-migrations")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "warn: check staging%-migrations skipped by skip_checks")
  local rec = f:latest()
  t.eq(rec.status, "success")
  t.eq(rec.environment, "production")
  t.eq(rec.metadata.params.skip_checks, "staging-commit,staging-migrations")
  -- and once staging has caught up, nothing needs skipping
  f:staged()
  r = f:run("cms-prod", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "ok   staging%-migrations%s+cms%-staging: no migrations to apply")
end)

t.test("a skip that names no check is refused, not ignored", function()
  local f = cmsfix.setup():staged()
  local r = refused(f, "--yes", "skip_checks=staging-comit")
  t.match(r.stdout, "FAIL skip_checks%s+'staging%-comit' is no check of this run %(its checks: staging%-commit, "
                    .. "staging%-migrations%)")
end)

t.test("a staging database the app migrated itself: named, and the check does not create its tracker", function()
  local f = cmsfix.setup()
  f:make_legacy("cms-staging", "staging")
  local r = refused(f, "--yes", "skip_checks=staging-commit")
  t.match(r.stdout, "FAIL staging%-migrations%s+cms%-staging has no migration tracker %(d1_migrations%): no deploy "
                    .. "has applied migrations to it yet: deploy staging first")
  local q = f:wrangler("apps/cms", "d1", "execute", "cms-staging", "--env", "staging", "--remote", "--json",
                       "--command", "SELECT count(*) AS n FROM sqlite_master WHERE name = 'd1_migrations'")
  t.eq(require("drun.json").decode(q.stdout)[1].results[1].n, 0, "the backfill rule still sees a legacy database")
  -- staging's own run backfills it; then production passes
  f:staged()
  t.eq(f:run("cms-prod", "--yes").code, 0)
end)

t.test("plan lists the checklist with the rest of preflight", function()
  local f = cmsfix.setup()
  local argv = { t.DRUN, "plan", cmsfix.ROOT .. "/recipes/cms-prod.lua" }
  argv.cwd, argv.env, argv.check = f.repo, f.env, false
  local r = proc.run(argv)
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "staging%-commit  staging's last successful deployment %(ledger%) is the commit released")
  t.match(r.stdout, "staging%-migrations  staging's D1 %(cms%-staging%) has no pending migration")
  t.match(r.stdout, "skip_checks = \"\"")
end)
