-- drun.changelog on a real repository: Conventional Commits groups, PR
-- links, merges, markup, and what a shallow clone or a wrong revision gives.
local t = require "t"
local changelog = require "drun.changelog"
local ledger = require "drun.ledger"
local fs = require "drun.fs"
local proc = require "drun.proc"

local sh = t.sh

-- v1.0.0, then a breaking feature, a feature from a PR, a fix with markup,
-- a branch merged, a PR merged, a plain subject and a chore; v1.1.0 on top
local function fixture()
  local d = t.tmpdir()
  sh(d, [[
    git init -q -b main repo && cd repo
    c() { echo "$1" >> log.txt; git add log.txt; git commit -q -m "$1"; }
    c "initial"; git tag v1.0.0
    c "feat(api)!: drop the v1 endpoints"
    c "feat: posts have a status (#12)"
    c "fix(ui): <script>alert(1)</script> & friends are shown as text (#13)"
    git checkout -q -b topic; c "refactor: split the router"; git checkout -q main
    git merge -q --no-ff -m "Merge branch 'topic'" topic
    git checkout -q -b pr14; c "docs: explain statuses"; git checkout -q main
    git merge -q --no-ff -m "Merge pull request #14 from acme/pr14" pr14
    c "update the readme"
    c "chore: bump deps"
    echo x >> log.txt; git commit -q -am "refactor(db): one connection pool" -m "Pools are shared now." -m "BREAKING CHANGE: DB_POOL is gone; set DB_MAX"
    git tag v1.1.0
  ]])
  return d .. "/repo", d
end

t.test("groups by type in a fixed order, breaking first; merges of branches left out, a PR's merge kept", function()
  local repo = fixture()
  local log = changelog("v1.0.0", "v1.1.0", { dir = repo })
  local titles = {}
  for i, g in ipairs(log.groups) do titles[i] = g.title .. " " .. #g.entries end
  t.same(titles, { "Breaking changes 2", "Features 1", "Bug fixes 1", "Refactoring 1", "Documentation 1", "Chores 1",
                   "Other changes 2" })
  t.eq(log.count, 9)
  -- a BREAKING CHANGE footer makes a typed commit breaking, its text kept
  local footer = log.groups[1].entries[1]
  t.eq(footer.type, "refactor")
  t.eq(footer.breaking_note, "DB_POOL is gone; set DB_MAX")
  local breaking = log.groups[1].entries[2]
  t.eq(breaking.type, "feat")
  t.eq(breaking.scope, "api")
  t.eq(breaking.breaking, true)
  t.eq(breaking.description, "drop the v1 endpoints")
  t.eq(log.groups[2].entries[1].pr, 12)
  local other = {}
  for i, e in ipairs(log.groups[7].entries) do other[i] = e.subject end
  t.same(other, { "update the readme", "Merge pull request #14 from acme/pr14" }, "newest first, as they are")
  t.eq(log.groups[7].entries[2].pr, 14)
  t.eq(#log.groups[1].entries[1].sha, 40)
end)

t.test("markdown links PRs when the repository is known; text for the terminal", function()
  local repo = fixture()
  local md = changelog("v1.0.0", "v1.1.0", { dir = repo, repo = "acme/cms" }):markdown()
  t.match(md, "^### Breaking changes\n%- %*%*db:%*%* one connection pool %x+\n  DB_POOL is gone; set DB_MAX\n"
              .. "%- %*%*api:%*%* drop the v1 endpoints %x%x%x%x%x%x%x\n\n### Features\n"
              .. "%- posts have a status %(%[#12%]%(https://github%.com/acme/cms/pull/12%)%) %x+\n")
  t.match(md, "%- %*%*ui:%*%* <script>alert%(1%)</script> & friends are shown as text %(%[#13%]%(https://github%.com/acme/cms/pull/13%)%)")
  t.match(md, "%- Merge pull request #14 from acme/pr14 %(%[#14%]%(https://github%.com/acme/cms/pull/14%)%)")
  -- GITHUB_REPOSITORY and GITHUB_SERVER_URL, as on a runner (GitHub Enterprise's server too)
  local r = proc.run { t.DRUN, "-e", "io.write(require('drun.changelog')('v1.0.0', 'v1.1.0'):markdown())", cwd = repo,
                       env = { GITHUB_REPOSITORY = "acme/cms", GITHUB_SERVER_URL = "https://git.example.com/" } }
  t.match(r.stdout, "%(%[#12%]%(https://git%.example%.com/acme/cms/pull/12%)%)")
  -- without a repository: the number, unlinked
  md = changelog("v1.0.0", "v1.1.0", { dir = repo }):markdown()
  t.match(md, "%- posts have a status %(#12%) %x+\n")
  local text = changelog("v1.0.0", "v1.1.0", { dir = repo }):text()
  t.match(text, "^Breaking changes:\n  %x%x%x%x%x%x%x db: one connection pool\n  %x%x%x%x%x%x%x api: drop the v1 endpoints\nFeatures:\n")
  t.eq(changelog("v1.1.0", "v1.1.0", { dir = repo }).count, 0)
  t.eq(changelog("v1.1.0", "v1.1.0", { dir = repo }):text(), "no changes since v1.1.0\n")
end)

t.test("a subject that only looks conventional is listed as it is", function()
  for subject, kind in pairs {
    ["feat: x"] = "feat", ["FIX(core): y"] = "fix", ["feat!: z"] = "feat", ["feature: not a type"] = "other",
    ["fix:no space"] = "other", ["feat(): empty scope"] = "feat", ["breaking: no"] = "other", ["other: no"] = "other",
    ["Update README.md"] = "other", [""] = "other", ["fix(a(b)): nested"] = "other",
  } do
    t.eq(changelog.parse(subject).type, kind, subject)
  end
  t.eq(changelog.parse("Merge pull request #7 from a/b").pr, 7)
  t.eq(changelog.parse("fix: x", "Body.\n\nBREAKING-CHANGE: y").breaking, true)
  t.eq(changelog.parse("fix: x", "mentions BREAKING CHANGE: inline").breaking, false, "a footer starts its line")
  t.eq(changelog.parse("update x", "BREAKING CHANGE: y").type, "other", "an untyped commit stays as it is")
  t.eq(changelog.parse("fix: things (#x)").pr, nil)
end)

t.test("a revision that does not exist, a shallow clone: a clear error", function()
  local repo, d = fixture()
  t.raises(function() changelog("v9.9.9", "HEAD", { dir = repo }) end, "^changelog: unknown revision 'v9%.9%.9'")
  t.raises(function() changelog(nil, "HEAD", { dir = repo }) end, "changelog: from must be a revision")
  sh(d, "git clone -q --depth 1 file://$PWD/repo shallow")
  t.raises(function() changelog("v1.0.0", "HEAD", { dir = d .. "/shallow" }) end,
           "^changelog: cannot read the log of 'v1%.0%.0%.%.HEAD': this is a shallow clone.*git fetch %-%-unshallow")
  -- one commit needs no walk: a depth-1 checkout still knows its commit's time (the lead time)
  local repo_h = require("drun.git").open(d .. "/shallow")
  local one = repo_h:log("HEAD", 1)
  t.eq(#one, 1)
  t.eq(one[1].subject, "refactor(db): one connection pool")
  t.eq(one[1].body, "Pools are shared now.\n\nBREAKING CHANGE: DB_POOL is gone; set DB_MAX")
  t.eq(one[1].time, tonumber(sh(repo, "git log -1 --format=%ct"):match("%d+")))
  t.raises(function() repo_h:log("HEAD", 2) end, "shallow clone")
  repo_h:close()
end)

t.test("drun ledger show lists the changes since the success before it", function()
  local repo = fixture()
  local sha = function(rev) return proc.output { "git", "-C", repo, "rev-parse", rev } end
  local path = repo .. "/.drun/ledger.db"
  local db = ledger.open(path)
  for _, v in ipairs { { "1.0.0", "v1.0.0", "success" }, { "1.1.0", "v1.1.0", "failed" }, { "1.1.0", "v1.1.0", "success" } } do
    local r = db:begin { service = "cms", environment = "production", version = v[1], commit = sha(v[2]) }
    db:finish(r.id, v[3])
  end
  db:close()
  local r = proc.run { t.DRUN, "ledger", "show", "1.1.0+build.2", cwd = repo }
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "\nchanges since 1%.0%.0%+build%.1 %(%x%x%x%x%x%x%x%):\nBreaking changes:\n  %x+ db: one connection pool\n  %x+ api: drop the v1 endpoints\n")
  r = proc.run { t.DRUN, "ledger", "show", "1.0.0+build.1", cwd = repo }
  t.match(r.stdout, "\nchanges: no earlier successful deployment with a commit\n")
  -- outside a clone: said, not an error
  r = proc.run { t.DRUN, "ledger", "--ledger", path, "show", "1.1.0+build.2", cwd = t.tmpdir() }
  t.eq(r.code, 0)
  t.match(r.stdout, "\nchanges: .*repository")
end)
