-- drun on a fresh GitHub Actions runner (issue 18): a depth-1 checkout
-- without tags, an empty HOME (no git identity), GITHUB_* set, the ledger
-- shared in PostgreSQL. What a run will need later is known before it
-- changes anything; what it learns goes to $GITHUB_OUTPUT.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local json = require "drun.json"
local cmsfix = require "cmsfix"
local runner = require "runner"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

-- A runner's job: a fresh checkout of the fixture's origin and its env.
local function job(f, opts)
  local dir, sha = runner.checkout(f.origin, t.tmpdir() .. "/work", opts)
  return dir, runner.env(f.env, dir, sha), sha
end

-- drun RECIPE ... in a job's checkout; recipe is a shipped recipe's name or a file
local function run(dir, env, ledger, recipe, ...)
  local file = recipe:find("/", 1, true) and recipe or (ROOT .. "/recipes/" .. recipe .. ".lua")
  local argv = { t.DRUN, file, "--ledger", ledger, ... }
  argv.cwd, argv.env, argv.check, argv.timeout = dir, env, false, 240
  return proc.run(argv)
end

-- a recipe file over a shipped flow, with config keys changed (fetch = true, ...)
local function adapted(flow, fn, config, changes)
  local file = t.tmpdir() .. "/" .. flow .. "-adapted.lua"
  local keys = {}
  for k, v in pairs(changes) do keys[#keys + 1] = string.format("c[%q] = %s", k, v) end
  fs.write(file, string.format([[
package.path = %q .. "/recipes/?.lua;" .. package.path
local c = {}
for k, v in pairs(require %q) do c[k] = v end
%s
return require(%q).%s(c)
]], ROOT, config, table.concat(keys, "\n"), flow:match("^(.+)%.[^.]+$"), flow:match("%.([^.]+)$")))
  return file
end

local function origin_git(f, ...)
  local argv = { "git", "--git-dir", f.origin, ... }
  argv.check = false
  return proc.run(argv)
end

t.test("a depth-1 checkout without tags: cms-prod stops in preflight with the fix; nothing deployed, nothing recorded", function()
  local f = cmsfix.setup()
  local dir, env = job(f)
  local ledger = t.tmpdir() .. "/shared.db"
  local r = run(dir, env, ledger, "cms-prod", "--yes")
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "FAIL%s+history%s+this is a shallow clone")
  t.match(r.stdout, "fetch%-depth: 0")
  t.match(r.stdout, "fetch = true")
  t.match(r.stdout, "FAIL%s+push%s+not checked: the history is missing")
  t.match(r.stdout, "ok   identity%s+github%-actions%[bot%] <41898282%+github%-actions%[bot%]@users%.noreply%.github%.com> %(the GitHub Actions default%)")
  t.match(r.stdout, "preflight failed.*nothing was run, nothing changed")
  t.match(r.stdout, "::error title=preflight failed::history%: this is a shallow clone")
  t.eq(#f:changes(), 0, "no migration, no deploy")
  t.eq(f:count_calls("npm"), 0, "no test")
  t.eq(require("drun.ledger").open(ledger):latest {}, nil, "no record")
  t.eq(runner.outputs(env).status, "refused")
  t.eq(proc.output { "git", "-C", dir, "status", "--porcelain" }, "", "package.json not bumped")
end)

t.test("fetch = true: the same checkout is deepened and the release goes all the way, committed as github-actions[bot]", function()
  local f = cmsfix.setup()
  local dir, env, sha = job(f)
  local ledger = t.tmpdir() .. "/shared.db"
  local recipe = adapted("drun.flows.cms.production", nil, "cms-config", { fetch = "true" })
  local r = run(dir, env, ledger, recipe, "--yes", "skip_checks=" .. cmsfix.CHECKLIST)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "ok   history%s+shallow clone deepened %(git fetch %-%-unshallow %-%-tags%)")
  t.match(r.stdout, "ok   push%s+origin takes a push to main; tag cms%-v1%.4%.1 is free; no GitHub rule refuses it")
  t.eq(proc.output { "git", "-C", dir, "rev-parse", "--is-shallow-repository" }, "false")
  t.eq(origin_git(f, "rev-parse", "refs/tags/cms-v1.4.1^{commit}").stdout, origin_git(f, "rev-parse", "main").stdout,
       "the tag and the bump commit reached origin")
  t.eq(origin_git(f, "log", "-1", "--format=%an <%ae>|%P", "main").stdout,
       "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>|" .. sha .. "\n",
       "the bump commit is GitHub's bot's, on top of the commit the job checked out")
  t.eq(origin_git(f, "for-each-ref", "--format=%(taggername)", "refs/tags/cms-v1.4.1").stdout, "github-actions[bot]\n")
  local out = runner.outputs(env)
  t.eq(out.status, "success")
  t.eq(out.version, "1.4.1")
  t.eq(out.full_version, "1.4.1+build.1")
  t.eq(out.record_id, require("drun.ledger").open(ledger):latest {}.id)
  t.match(fs.read(env.GITHUB_STEP_SUMMARY), "cms 1%.4%.1%+build%.1 is live in production")
end)

t.test("fresh runners share a PostgreSQL ledger: the second staging run is build 2, and a third rolls back to the first", function()
  local f = cmsfix.setup()
  local ledger = t.ledger_address("postgres")
  local dir1, env1 = job(f)
  local r = run(dir1, env1, ledger, "cms-staging")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(runner.outputs(env1).full_version, "1.4.0+build.1")
  local first = require("drun.ledger").open(ledger):latest {}
  -- another runner, another fresh checkout: it never saw the first
  local dir2, env2 = job(f)
  r = run(dir2, env2, ledger, "cms-staging")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(runner.outputs(env2).full_version, "1.4.0+build.2", "the build number comes from the shared ledger")
  t.ok(dir1 ~= dir2)
  local dir3, env3 = job(f)
  r = run(dir3, env3, ledger, "cms-rollback", "environment=staging", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local calls = f:calls("rollback")
  t.ok(table.concat(calls[1].argv, " "):find(first.metadata.cms_version_id, 1, true), "rolled back to what the first runner deployed")
end)

t.test("preflight refusals on a runner: each names the fix, and nothing runs", function()
  local f = cmsfix.setup()
  local ledger = t.tmpdir() .. "/shared.db"
  local recipe = adapted("drun.flows.cms.production", nil, "cms-config", { fetch = "true" })
  local function refused(dir, env, pattern, why)
    local r = run(dir, env, ledger, recipe, "--yes")
    t.eq(r.code, 1, why .. ": " .. r.stdout .. r.stderr)
    t.match(r.stdout, pattern, why .. "\n" .. r.stdout)
    t.match(r.stdout, "nothing was run, nothing changed", why)
    t.eq(#f:calls("deploy"), 0, why .. ": nothing deployed")
  end
  -- a protected branch: GitHub's ruleset refuses the push; asked of GitHub before anything runs
  f:fault("github-protect=main:pull_request")
  local dir, env = job(f)
  refused(dir, env, "FAIL%s+push%s+GitHub would refuse the push to main: ruleset 'protect main' %(pull_request%): "
                    .. "changes must go through a pull request", "protected branch")
  f:fault("clear", "github-protect")
  f:fault("github-protect=main:pull_request:always") -- this token may bypass it
  dir, env = job(f)
  local r = run(dir, env, ledger, recipe, "--dry-run")
  t.match(r.stdout, "ok   push ", "a ruleset this token bypasses does not refuse")
  f:fault("clear", "github-protect")
  -- a tag that already exists on the remote
  origin_git(f, "tag", "cms-v1.4.1", "main")
  dir, env = job(f)
  refused(dir, env, "tag cms%-v1%.4%.1 already exists on origin", "tag on the remote")
  origin_git(f, "tag", "-d", "cms-v1.4.1")
  -- detached HEAD at a commit that is not main's head
  dir, env = job(f, { depth = 2 })
  proc.run { "git", "-C", dir, "checkout", "-q", "--detach", "HEAD~1", env = env }
  env.GITHUB_REF_NAME, env.GITHUB_REF_TYPE = false, false
  refused(dir, env, "HEAD is detached at %x+ and no branch is named", "detached HEAD")
  env.GITHUB_REF_NAME, env.GITHUB_REF_TYPE = "main", "branch"
  refused(dir, env, "main moved on since this checkout: origin's main is at %x+, HEAD %(%x+%) is an older commit of it",
          "an older commit of main")
  proc.run { "git", "-C", dir, "-c", "user.name=A", "-c", "user.email=a@example.test", "commit", "-q", "--allow-empty",
             "-m", "a commit main does not have", env = env }
  refused(dir, env, "HEAD %(%x+%) is not on origin's main %(at %x+%)", "a commit not on main")
  -- main moved on after the checkout
  dir, env = job(f)
  f:fault("push-reject=" .. f.origin)
  refused(dir, env, "main moved on since this checkout: origin's main is at %x+, HEAD %(%x+%) is an older commit of it",
          "main moved on (fetched with the history)")
  f:fault("clear")
  local plain = adapted("drun.flows.cms.production", nil, "cms-config", { fetch = "false" })
  dir, env = job(f, { depth = 0 })
  f:fault("push-reject=" .. f.origin)
  local r2 = run(dir, env, ledger, plain, "--yes")
  t.eq(r2.code, 1)
  t.match(r2.stdout, "origin's main is at %x+, a commit this checkout does not have: main moved on", "main moved on (not fetched)")
  -- uncommitted changes
  dir, env = job(f)
  fs.write(dir .. "/apps/cms/src/extra.ts", "// not committed\n")
  proc.run { "git", "-C", dir, "add", "apps/cms/src/extra.ts", env = env }
  refused(dir, env, "FAIL%s+clean%s+the working tree has uncommitted changes %(A apps/cms/src/extra%.ts%)", "dirty tree")
end)

t.test("no identity outside GitHub Actions: refused with the git config commands", function()
  local f = cmsfix.setup()
  local dir, env = job(f, { depth = 0 })
  env.GITHUB_ACTIONS, env.CI = false, false
  local r = run(dir, env, t.tmpdir() .. "/l.db", "cms-prod", "--yes")
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "FAIL%s+identity%s+no git identity to commit and tag with: git config user%.name")
  t.eq(#f:changes(), 0)
end)

t.test("no GITHUB_TOKEN for the release: exit 2 before anything runs", function()
  local f = cmsfix.setup()
  local dir, env = job(f, { depth = 0 })
  env.GITHUB_TOKEN = false
  local r = run(dir, env, t.tmpdir() .. "/l.db", "cms-prod", "--yes")
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, "GITHUB_TOKEN")
  t.eq(#f:calls(), 0)
end)

t.test("$GITHUB_OUTPUT that cannot be written: a warning, and the deploy goes on and is recorded", function()
  local f = cmsfix.setup()
  local dir, env = job(f)
  env.GITHUB_OUTPUT = t.tmpdir() -- a directory: not writable as a file
  local ledger = t.tmpdir() .. "/l.db"
  local r = run(dir, env, ledger, "cms-staging")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "drun: warning: cannot write the job's outputs %(%$GITHUB_OUTPUT%)")
  t.eq(require("drun.ledger").open(ledger):latest {}.status, "success")
end)

t.test("docs on a depth-1 checkout: refused (the baseline is in the history); with fetch = true the baseline is right", function()
  local f = require("docsfix").setup()
  local dir, env = job(f)
  local ledger = t.tmpdir() .. "/l.db"
  local r = run(dir, env, ledger, "docs-pages", "mode=staging")
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "FAIL%s+history%s+this is a shallow clone")
  t.no_match(r.stdout, "HEAD is the first commit")
  local recipe = adapted("drun.flows.pages.recipe", nil, "docs-config", { fetch = "true" })
  r = run(dir, env, ledger, recipe, "mode=staging")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "baseline: the previous main commit")
  t.no_match(r.stdout, "every site deploys")
  -- production's baseline is the last release tag: fetched too
  dir, env = job(f)
  r = run(dir, env, ledger, recipe, "mode=production", "--yes", "--dry-run")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "ok%s+history%s+shallow clone deepened")
  t.match(r.stdout, "ok%s+tags%s+full history; tags fetched from origin")
  t.match(r.stdout, "baseline: cms%-v1%.4%.0")
end)

t.test("Fly on fresh runners with a shared ledger: the second promotion sees the first, and a third runner rolls back to it", function()
  local f = require("flyfix").setup()
  local ledger = t.ledger_address("postgres")
  local dir1, env1 = job(f)
  local r = run(dir1, env1, ledger, "fly-promote", "promotion_path=development->staging", "--yes")
  t.eq(r.code, 1, "a depth-1 checkout: the snapshot's migrations diff needs the history")
  t.match(r.stdout, "FAIL%s+history%s+this is a shallow clone %(actions/checkout fetches one commit by default%): snapshot needs")
  t.eq(f:running("staging"), nil, "nothing promoted")
  dir1, env1 = job(f, { depth = 0 })
  r = run(dir1, env1, ledger, "fly-promote", "promotion_path=development->staging", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:running("staging"), f.digests[1])
  f:put("development", 2)
  local dir2, env2 = job(f, { depth = 0 })
  r = run(dir2, env2, ledger, "fly-promote", "promotion_path=development->staging", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:running("staging"), f.digests[2])
  t.eq(runner.outputs(env2).status, "success")
  local dir3, env3 = job(f)
  r = run(dir3, env3, ledger, "fly-rollback", "environment=staging", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:running("staging"), f.digests[1], "back to what the first runner promoted, known from the shared ledger")
end)

t.test("Compose from fresh runners with a shared ledger: each restart recorded in it, and a third runner rolls back to the first", function()
  local f = require("composefix").setup()
  local ledger = t.ledger_address("postgres")
  local dir1, env1 = job(f)
  local r = run(dir1, env1, ledger, "compose-restart")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local good = require("drun.ledger").open(ledger):latest {}
  f:push_commit("VERSION", "1.2.0\n", "app: 1.2.0")
  local dir2, env2 = job(f)
  r = run(dir2, env2, ledger, "compose-restart")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:health():json().version, "1.2.0")
  local dir3, env3 = job(f)
  r = run(dir3, env3, ledger, "compose-rollback", "--yes", "reason=1.2.0 breaks checkout")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:server_head(), good.metadata.server_commit, "the first runner's deployment, known from the shared ledger")
  t.eq(f:health():json().version, "1.1.0")
end)
