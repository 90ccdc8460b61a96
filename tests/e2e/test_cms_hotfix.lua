-- Hotfixes (FLOWS.md §1, issue 20): cms-hotfix cuts hotfix/... from the last
-- release tag; cms-prod on that branch releases a patch of the tag, tags it
-- on the hotfix branch, pushes the branch and the tag (main untouched) and
-- says to merge it. A hotfix branch not cut from the last release is refused
-- before anything runs.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local json = require "drun.json"
local cmsfix = require "cmsfix"

local function git(f, ...)
  local argv = { "git", "-C", f.repo, ... }
  argv.check = false
  return (proc.run(argv).stdout:gsub("%s+$", ""))
end

local function origin(f, ...)
  local argv = { "git", "--git-dir", f.origin, ... }
  argv.check = false
  return (proc.run(argv).stdout:gsub("%s+$", ""))
end

local function fix(f, text)
  t.write(f.repo .. "/apps/cms/src/fix.ts", text or "export const fixed = true\n")
  git(f, "add", "apps/cms/src/fix.ts")
  git(f, "commit", "-qm", "fix: login loops")
  return git(f, "rev-parse", "HEAD")
end

t.test("cms-hotfix cuts hotfix/cms-v1.4.1 from the last release tag and says what comes next; nothing deployed", function()
  local f = cmsfix.setup()
  local main = git(f, "rev-parse", "HEAD")
  local r = f:run("cms-hotfix")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(git(f, "branch", "--show-current"), "hotfix/cms-v1.4.1")
  t.eq(git(f, "rev-parse", "HEAD"), git(f, "rev-parse", "cms-v1.4.0^{commit}"), "at the tag, not main's head")
  t.ok(main ~= git(f, "rev-parse", "HEAD"))
  t.match(r.stdout, "on hotfix/cms%-v1%.4%.1, cut from cms%-v1%.4%.0")
  t.match(r.stdout, "drun recipes/cms%-prod%.lua %-%-yes%s+%(releases cms%-v1%.4%.1, tags it on hotfix/cms%-v1%.4%.1")
  t.match(r.stdout, "merge hotfix/cms%-v1%.4%.1 into main")
  t.eq(#f:changes(), 0)
  local rec = f:latest()
  t.eq(rec.environment, "hotfix")
  t.eq(rec.metadata.from_tag, "cms-v1.4.0")
  t.eq(rec.git_commit, git(f, "rev-parse", "cms-v1.4.0^{commit}"))
  -- once more: the branch is there, so it says how to get on it
  git(f, "switch", "-q", "main")
  r = f:run("cms-hotfix")
  t.eq(r.code, 1)
  t.match(r.stdout, "branch hotfix/cms%-v1%.4%.1 already exists here: git switch hotfix/cms%-v1%.4%.1")
  t.eq(git(f, "branch", "--show-current"), "main")
end)

t.test("cms-hotfix: from= a tag that is no release, a dirty tree: refused, the checkout untouched", function()
  local f = cmsfix.setup()
  local r = f:run("cms-hotfix", "from=v9")
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "FAIL release%-tag%s+from=v9 is no release tag %(cms%-v%* with a version%); the last one is cms%-v1%.4%.0")
  t.eq(git(f, "branch", "--show-current"), "main")
  t.write(f.repo .. "/apps/cms/package.json", fs.read(f.repo .. "/apps/cms/package.json") .. " ")
  r = f:run("cms-hotfix")
  t.eq(r.code, 1)
  t.match(r.stdout, "FAIL clean")
  t.eq(git(f, "branch", "--show-current"), "main")
  git(f, "checkout", "--", "apps/cms/package.json")
  r = f:run("cms-hotfix", "from=cms-v1.3.0", "name=old line")
  t.eq(r.code, 1)
  t.match(r.stdout, "'hotfix/old line' is not a valid branch name")
end)

t.test("cms-prod on the hotfix branch: a patch of the tag, tagged on the branch, branch and tag pushed, main untouched", function()
  local f = cmsfix.setup()
  local main_before = origin(f, "rev-parse", "main")
  t.eq(f:run("cms-hotfix").code, 0)
  local fixed = fix(f)
  f:staged() -- staging runs the hotfix (the release checklist asks for it)
  local r = f:run("cms-prod", "--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "ok   hotfix%-base%s+hotfix/cms%-v1%.4%.1 is cut from cms%-v1%.4%.0 %(%x+%): releases 1%.4%.1")
  t.match(r.stdout, "hotfix cms%-v1%.4%.1 is released from hotfix/cms%-v1%.4%.1: merge hotfix/cms%-v1%.4%.1 into main now")
  t.eq(origin(f, "rev-parse", "main"), main_before, "main is not touched: the hotfix is merged by a person")
  local tagged = origin(f, "rev-parse", "cms-v1.4.1^{commit}")
  t.eq(origin(f, "rev-parse", "refs/heads/hotfix/cms-v1.4.1"), tagged, "the branch holds the bump commit and the tag")
  t.eq(origin(f, "rev-parse", tagged .. "^"), fixed, "the bump commit is on top of the fix")
  t.eq(origin(f, "show", tagged .. ":apps/cms/package.json"):match('"version": "([^"]+)"'), "1.4.1")
  t.eq(f:health("production"):json().version, "1.4.1")
  local rec = f:latest()
  t.eq(rec.status, "success")
  t.eq(rec.git_branch, "hotfix/cms-v1.4.1")
  t.eq(rec.metadata.hotfix_base, "cms-v1.4.0")
  t.eq(rec.metadata.merge_to, "main")
  t.eq(json.decode(fs.read(f.sandbox .. "/state/github.json")).releases[1].tag_name, "cms-v1.4.1")
end)

t.test("a hotfix branch not cut from the last release tag, or bumped minor: refused before anything runs", function()
  local f = cmsfix.setup()
  -- cut from main's head (after the tag): not what production runs
  git(f, "switch", "-q", "-c", "hotfix/from-main")
  fix(f)
  f:staged()
  local before = #f:changes()
  local r = f:run("cms-prod", "--yes")
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "FAIL hotfix%-base%s+hotfix/from%-main was cut from %x+, a commit of main after cms%-v1%.4%.0, which "
                    .. "is not a release tag")
  t.match(r.stdout, "cut it from cms%-v1%.4%.0 %(drun recipes/cms%-hotfix%.lua%)")
  t.eq(#f:changes(), before)
  -- cut from an older release
  git(f, "switch", "-q", "-c", "hotfix/old", "cms-v1.3.0")
  fix(f)
  f:staged()
  before = #f:changes()
  r = f:run("cms-prod", "--yes")
  t.eq(r.code, 1)
  t.eq(#f:changes(), before)
  t.match(r.stdout, "FAIL hotfix%-base%s+hotfix/old is cut from cms%-v1%.3%.0, but the last release is cms%-v1%.4%.0")
  -- the right base, the wrong bump
  git(f, "switch", "-q", "-c", "hotfix/minor", "cms-v1.4.0")
  fix(f)
  f:staged()
  before = #f:changes()
  r = f:run("cms-prod", "--yes", "version_bump=minor")
  t.eq(r.code, 1)
  t.eq(#f:changes(), before)
  t.match(r.stdout, "FAIL hotfix%-base%s+a hotfix is a patch release of cms%-v1%.4%.0: version_bump=minor would release 1%.5%.0")
  t.eq(origin(f, "tag", "-l", "cms-v1.5.0"), "", "no tag")
end)
