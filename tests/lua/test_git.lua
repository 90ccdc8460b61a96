-- drun.git on real repositories in temp dirs, with a bare repository as origin.
local t = require "t"
local git = require "drun.git"
local fs = require "drun.fs"
local proc = require "drun.proc"
local runtime = require "drun.runtime"

local sh = t.sh -- git CLI to build fixtures, with a fixed identity and no user config

-- a repository with history, tags and a bare origin; returns work dir, origin
local function fixture()
  local d = t.tmpdir()
  sh(d, [[
    git init -q --bare -b main origin.git
    git init -q -b main work && cd work
    git config user.name Fixture && git config user.email fixture@example.test
    mkdir -p docs/usage-docs docs/dev-docs migrations
    echo a > docs/usage-docs/index.md; echo b > docs/dev-docs/index.md; echo c > migrations/0001.sql
    echo app > app.txt
    git add -A && git commit -q -m "initial" && git tag -a cms-v1.9.0 -m 1.9.0
    echo change > docs/usage-docs/index.md && git commit -qam "docs: usage"
    git tag -a cms-v1.10.0 -m 1.10.0
    echo d > migrations/0002.sql && git add -A && git commit -q -m "migration 2"
    git mv app.txt renamed.txt && git commit -q -m "rename app"
    git remote add origin ../origin.git && git push -q origin main --tags
  ]])
  return d .. "/work", d .. "/origin.git", d
end

t.test("open discovers the repository upward; outside one is a clear error", function()
  local work = fixture()
  local r = git.open(work .. "/docs/usage-docs")
  t.eq(r:workdir(), fs.realpath(work))
  local d = t.tmpdir()
  t.raises(function() git.open(d) end, "git: " .. fs.realpath(d):gsub("%p", "%%%0") .. " is not inside a git repository")
end)

t.test("head: sha, short, branch; detached HEAD has no branch", function()
  local work = fixture()
  local r = git.open(work)
  local h = r:head()
  t.eq(h.sha, sh(work, "git rev-parse HEAD"):gsub("\n", ""))
  t.eq(h.branch, "main")
  t.eq(h.detached, false)
  t.ok(#h.short >= 7 and h.sha:sub(1, #h.short) == h.short)
  sh(work, "git checkout -q --detach HEAD~1")
  h = git.open(work):head()
  t.eq(h.detached, true)
  t.eq(h.branch, nil)
end)

t.test("a repository with no commits: head says so", function()
  local d = t.tmpdir()
  sh(d, "git init -q -b main empty")
  t.raises(function() git.open(d .. "/empty"):head() end, "git: .*empty/%.git/ has no commits yet")
end)

t.test("rev_parse: branches, tags, HEAD~2, short shas; unknown revision", function()
  local work = fixture()
  local r = git.open(work)
  local full = sh(work, "git rev-parse HEAD~2"):gsub("\n", "")
  t.eq(r:rev_parse("HEAD~2"), full)
  t.eq(r:rev_parse(full:sub(1, 8)), full)
  t.eq(r:rev_parse("cms-v1.10.0"), sh(work, "git rev-parse cms-v1.10.0^{commit}"):gsub("\n", ""))
  t.eq(r:rev_parse("main"), r:head().sha)
  t.raises(function() r:rev_parse("nope") end, "git: unknown revision 'nope'")
  t.raises(function() r:rev_parse("HEAD~99") end, "git: unknown revision 'HEAD~99'")
end)

t.test("merge_base and is_ancestor", function()
  local work = fixture()
  sh(work, "git checkout -q -b feature HEAD~2 && echo f > f.txt && git add f.txt && git commit -q -m feature")
  local r = git.open(work)
  t.eq(r:merge_base("feature", "main"), r:rev_parse("main~2"))
  t.eq(r:is_ancestor("cms-v1.9.0", "main"), true)
  t.eq(r:is_ancestor("main", "cms-v1.9.0"), false)
  t.eq(r:is_ancestor("main", "main"), true)
end)

t.test("changed between revisions, filtered by globs; a rename gives both names", function()
  local work = fixture()
  local r = git.open(work)
  t.eq(table.concat(r:changed("cms-v1.9.0", "cms-v1.10.0"), ","), "docs/usage-docs/index.md")
  t.eq(#r:changed("cms-v1.10.0", "HEAD", { "docs/usage-docs/**", "docs/dev-docs/**" }), 0)
  t.eq(table.concat(r:changed("cms-v1.10.0", "HEAD", "migrations/*.sql"), ","), "migrations/0002.sql")
  local mixed = r:changed("cms-v1.9.0", "HEAD", { "**/0002.sql", "docs/usage-docs/**" })
  table.sort(mixed)
  t.eq(table.concat(mixed, ","), "docs/usage-docs/index.md,migrations/0002.sql", "a glob without a directory")
  t.eq(table.concat(r:changed("cms-v1.9.0", "HEAD", { "renamed.txt" }), ","), "renamed.txt", "a plain file name")
  local renamed = r:changed("HEAD~1", "HEAD")
  table.sort(renamed)
  t.eq(table.concat(renamed, ","), "app.txt,renamed.txt")
  local all = r:changed(nil, "cms-v1.9.0")
  t.eq(#all, 4, "from = nil lists everything in `to`")
  t.raises(function() r:changed("nope", "HEAD") end, "unknown revision 'nope'")
  -- GitHub's paths: a later '!' pattern excludes, a later positive one includes again
  local some = r:changed("cms-v1.9.0", "HEAD", { "**", "!migrations/**", "!docs/**" })
  table.sort(some)
  t.eq(table.concat(some, ","), "app.txt,renamed.txt", "negated patterns exclude")
  t.eq(table.concat(r:changed("cms-v1.9.0", "HEAD", { "migrations/**", "!**/*.sql", "**/0002.sql" }), ","),
       "migrations/0002.sql", "the last pattern that matches decides")
  -- syntax drun does not support is an error naming the pattern, never "nothing changed"
  t.raises(function() r:changed("cms-v1.9.0", "HEAD", { "docs/{usage,dev}-docs/**" }) end,
           "pattern 'docs/{usage,dev}%-docs/%*%*': braces")
  t.raises(function() r:changed("cms-v1.9.0", "HEAD", { "!docs/**" }) end, "every pattern is negated")
end)

t.test("dirty: modified, staged, untracked on request", function()
  local work = fixture()
  local r = git.open(work)
  t.eq(r:is_dirty(), false)
  fs.write(work .. "/new.txt", "x")
  t.eq(r:is_dirty(), false, "untracked files do not count unless asked")
  t.eq(r:is_dirty { untracked = true }, true)
  fs.write(work .. "/renamed.txt", "changed")
  local d = r:dirty()
  t.eq(#d, 1)
  t.eq(d[1].path, "renamed.txt")
  t.eq(d[1].status, "M")
end)

t.test("tags sorted by semantic version; latest reachable tag", function()
  local work = fixture()
  sh(work, "git tag cms-v1.10.0-rc.1 HEAD~3 && git tag cms-vnext && git tag mcp-v9.0.0")
  local r = git.open(work)
  local names = {}
  for i, tg in ipairs(r:tags("cms-v*")) do names[i] = tg.name end
  t.eq(table.concat(names, ","), "cms-v1.10.0,cms-v1.10.0-rc.1,cms-v1.9.0,cms-vnext")
  t.eq(r:latest_tag("cms-v*").name, "cms-v1.10.0")
  t.eq(r:latest_tag("cms-v*", { reachable_from = "HEAD~3" }).name, "cms-v1.10.0-rc.1") -- rc.1 > 1.9.0
  t.eq(r:latest_tag("cms-v1.9*", { reachable_from = "HEAD~3" }).name, "cms-v1.9.0")
  t.eq(r:latest_tag("nothing-v*"), nil)
end)

t.test("tag: annotated; an existing tag is an error", function()
  local work = fixture()
  local r = git.open(work)
  r:tag("cms-v1.11.0", { message = "cms 1.11.0" })
  t.eq(sh(work, "git cat-file -t cms-v1.11.0"), "tag\n")
  t.eq(sh(work, "git tag -l --format='%(contents:subject)' cms-v1.11.0"), "cms 1.11.0\n")
  t.raises(function() r:tag("cms-v1.11.0") end, "git: tag 'cms%-v1%.11%.0' already exists")
  t.raises(function() r:tag("x", { target = "nope" }) end, "unknown revision 'nope'")
end)

t.test("commit: exactly the given paths; author from argument, GIT_AUTHOR_*, config, GitHub's bot on a runner, else refused", function()
  local work = fixture()
  fs.write(work .. "/docs/usage-docs/index.md", "v2")
  fs.write(work .. "/unrelated.txt", "not committed")
  local r = git.open(work)
  local sha = r:commit({ "docs/usage-docs/index.md" }, "docs: bump", { author = "Release Bot <bot@example.test>" })
  t.eq(sh(work, "git log -1 --format='%H %an <%ae> %s'"), sha .. " Release Bot <bot@example.test> docs: bump\n")
  t.eq(sh(work, "git status --porcelain"), "?? unrelated.txt\n")
  fs.write(work .. "/app2.txt", "x")
  r:commit({ "app2.txt" }, "from config")
  t.eq(sh(work, "git log -1 --format='%an'"), "Fixture\n")
  -- no identity anywhere: refused with the commands that set one (not a made-up drun@localhost)
  sh(work, "git config --unset user.name; git config --unset user.email")
  local home = t.tmpdir()
  fs.write(work .. "/app3.txt", "y")
  local env = { HOME = home, XDG_CONFIG_HOME = home, GIT_CONFIG_NOSYSTEM = "1", GITHUB_ACTIONS = false,
                GIT_AUTHOR_NAME = false, GIT_AUTHOR_EMAIL = false }
  local commit3 = "local r = require('drun.git').open('.') print(r:identity()) r:commit({'app3.txt'}, 'anonymous') r:tag('t3')"
  local res = t.drun({ "-e", commit3 }, { cwd = work, env = env })
  t.eq(res.code, 3, "an error in a script")
  t.match(res.stdout, "^nil\tno git identity")
  t.match(res.stderr, "git: no git identity to commit and tag with: git config user%.name 'Release Bot' && git config user%.email")
  t.eq(sh(work, "git log -1 --format=%s"), "from config\n", "nothing committed")
  -- GIT_AUTHOR_NAME / GIT_AUTHOR_EMAIL, as git honours them
  env.GIT_AUTHOR_NAME, env.GIT_AUTHOR_EMAIL = "Env Author", "env@example.test"
  res = t.drun({ "-e", commit3 }, { cwd = work, env = env })
  t.eq(res.code, 0, res.stderr)
  t.eq(res.stdout, "Env Author <env@example.test>\tGIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL\n")
  t.eq(sh(work, "git log -1 --format='%an <%ae>'"), "Env Author <env@example.test>\n")
  t.eq(sh(work, "git for-each-ref --format='%(taggername) %(taggeremail)' refs/tags/t3"), "Env Author <env@example.test>\n")
  -- a GitHub Actions runner has no identity: GitHub's own bot (FLOWS.md §6)
  env.GIT_AUTHOR_NAME, env.GIT_AUTHOR_EMAIL, env.GITHUB_ACTIONS = false, false, "true"
  fs.write(work .. "/app3.txt", "z")
  res = t.drun({ "-e", "require('drun.git').open('.'):commit({'app3.txt'}, 'on a runner')" }, { cwd = work, env = env })
  t.eq(res.code, 0, res.stderr)
  t.eq(sh(work, "git log -1 --format='%an <%ae>'"), "github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>\n")
  -- a deleted path is committed as a deletion
  fs.remove(work .. "/app2.txt")
  r:commit({ "app2.txt" }, "remove app2")
  t.eq(sh(work, "git ls-files app2.txt"), "")
end)

t.test("a path with spaces and unicode", function()
  local work = fixture()
  local p = "my docs/ünï cödé 🚀.md"
  fs.mkdir(work .. "/my docs")
  fs.write(work .. "/" .. p, "hello")
  local r = git.open(work)
  r:commit({ p }, "unicode path")
  t.eq(table.concat(r:changed("HEAD~1", "HEAD", { "my docs/**" }), ","), p)
  t.eq(#r:dirty(), 0)
end)

t.test("an index.lock left by a crashed git: a clear error", function()
  local work = fixture()
  fs.write(work .. "/.git/index.lock", "")
  fs.write(work .. "/app4.txt", "x")
  t.raises(function() git.open(work):commit({ "app4.txt" }, "blocked") end,
           "git: .*%.git/index%.lock exists: another git is running, or one crashed and left it; remove it if no git is running")
end)

t.test("push to a bare origin: branch and tag arrive", function()
  local work, origin = fixture()
  local r = git.open(work)
  fs.write(work .. "/new.txt", "n")
  local sha = r:commit({ "new.txt" }, "new file")
  r:tag("cms-v1.11.0", { message = "cms 1.11.0" })
  r:push("origin", { "refs/heads/main", "refs/tags/cms-v1.11.0" })
  t.eq(sh(origin, "git rev-parse main"), sha .. "\n")
  t.eq(sh(origin, "git tag -l cms-v1.11.0"), "cms-v1.11.0\n")
  -- a path and a file:// URL work as remotes too
  r:tag("path-tag")
  r:push(origin, "refs/tags/path-tag")
  r:tag("url-tag")
  r:push("file://" .. origin, "refs/tags/url-tag")
  t.eq(sh(origin, "git tag -l '*-tag' | sort | tr '\\n' ' '"), "path-tag url-tag ")
end)

t.test("a push the remote rejects (not a fast-forward) says so", function()
  local work, origin, d = fixture()
  sh(d, "git clone -q origin.git other && cd other && echo o > other.txt && git add other.txt && git -c user.name=O -c user.email=o@x commit -q -m other && git push -q origin main")
  local r = git.open(work)
  fs.write(work .. "/mine.txt", "m")
  r:commit({ "mine.txt" }, "mine")
  t.raises(function() r:push("origin", "refs/heads/main") end, "git: push to 'origin' rejected: ")
end)

t.test("a remote that does not exist", function()
  local work = fixture()
  t.raises(function() git.open(work):push("upstream", "refs/heads/main") end, "git: no remote 'upstream'")
  t.raises(function() git.open(work):push("/no/such/repo.git", "refs/heads/main") end, "git: .*/no/such/repo%.git")
end)

t.test("shallow clone: head and changes work; missing history is explained", function()
  local _, origin, d = fixture()
  sh(d, "git clone -q --depth 2 file://" .. origin .. " shallow")
  local r = git.open(d .. "/shallow")
  t.eq(r:head().branch, "main")
  t.eq(table.concat(r:changed("HEAD~1", "HEAD"), ",") ~= "", true)
  t.raises(function() r:rev_parse("cms-v1.9.0") end,
           "unknown revision 'cms%-v1%.9%.0' %(this is a shallow clone: it may be in the history not fetched; git fetch %-%-unshallow %-%-tags%)")
  -- libgit2 1.5 cannot walk past the shallow boundary: a clear error, not a partial log
  t.raises(function() r:log("HEAD") end, "this is a shallow clone: history may be missing; fetch it with git fetch %-%-unshallow")
end)

t.test("log: a range with a limit, newest first", function()
  local work = fixture()
  local r = git.open(work)
  local l = r:log("cms-v1.10.0..HEAD")
  t.eq(#l, 2)
  t.eq(l[1].subject, "rename app")
  t.eq(l[2].subject, "migration 2")
  t.eq(l[1].author, "Fixture <fixture@example.test>")
  t.ok(l[1].time > 1700000000)
  t.eq(#r:log("HEAD", 2), 2)
  t.raises(function() r:log("nope..HEAD") end, "unknown revision 'nope'")
  t.raises(function() r:log("HEAD..nope") end, "unknown revision 'nope'")
  t.raises(function() r:log("..HEAD") end, "not a revision range: '%.%.HEAD'")
end)

t.test("dry-run: tag, commit and push change nothing", function()
  local work, origin = fixture()
  local r = git.open(work)
  local before = r:head().sha
  fs.write(work .. "/dry.txt", "x")
  runtime.dry_run = true
  local lines = {}
  runtime.sink = function(msg) lines[#lines + 1] = msg end
  local ok, err = pcall(function()
    r:commit({ "dry.txt" }, "would commit")
    r:tag("cms-v9.9.9")
    r:push("origin", { "refs/heads/main" })
  end)
  runtime.dry_run, runtime.sink = false, nil
  t.ok(ok, err)
  t.eq(r:head().sha, before)
  t.eq(sh(work, "git tag -l cms-v9.9.9"), "")
  t.eq(#lines, 3)
  t.match(lines[1], "^commit dry%.txt: would commit")
  t.match(lines[2], "^create tag cms%-v9%.9%.9 at %x+")
  t.match(lines[3], "^push refs/heads/main to origin")
end)

t.test("context: GitHub Actions variables, else the repository and the user", function()
  local work = fixture()
  local code = "local g = require('drun.git'); local c = g.context(g.open('.')); print(c.actor, c.sha, c.branch, c.run_url)"
  local r = t.drun({ "-e", code }, { cwd = work, env = { GITHUB_ACTOR = "octocat", GITHUB_SHA = "abc123",
    GITHUB_REF_NAME = "main", GITHUB_SERVER_URL = "https://github.com", GITHUB_REPOSITORY = "acme/cms",
    GITHUB_RUN_ID = "42", GITHUB_HEAD_REF = false } })
  t.eq(r.stdout, "octocat\tabc123\tmain\thttps://github.com/acme/cms/actions/runs/42\n")
  r = t.drun({ "-e", code }, { cwd = work, env = { GITHUB_ACTOR = false, GITHUB_SHA = false, GITHUB_REF_NAME = false,
    GITHUB_RUN_ID = false, GITHUB_HEAD_REF = false } })
  t.eq(r.stdout, "Fixture\t" .. git.open(work):head().sha .. "\tmain\tnil\n")
end)

-- over_http(work, d, token, code) -> the run: d/origin.git served by git's
-- own http-backend behind Basic auth (tests/servers/git_http.py), and `code`
-- run in work with URL set to it and GITHUB_TOKEN right, wrong, then unset
local function over_http(work, d, token, code)
  local server = (os.getenv("DRUN_ROOT") or fs.cwd()) .. "/tests/servers/git_http.py"
  return proc.run { "sh", "-c", [[
    python3 "$0" "$1" "$1/port" & server=$!
    for i in $(seq 100); do [ -s "$1/port" ] && break; sleep 0.05; done
    url="http://127.0.0.1:$(cat "$1/port")/origin.git"
    echo "== right token"; URL=$url GITHUB_TOKEN="$3" "$4" -e "$2"
    echo "== wrong token"; URL=$url GITHUB_TOKEN=wrong-token-000 "$4" -e "$2"
    echo "== no token"; URL=$url GITHUB_TOKEN= "$4" -e "$2"
    kill $server
  ]], server, d, code, token, t.DRUN, cwd = work, env = { GIT_TEST_TOKEN = token }, timeout = 60 }
end

t.test("https-style push: the token goes through the credential callback and is never printed", function()
  local work, _, d = fixture()
  local token = "ghs_testTokenValue1234567890"
  local r = over_http(work, d, token, [[
    local r = require('drun.git').open('.')
    local ok, err = pcall(r.push, r, os.getenv('URL'), { 'refs/heads/main' })
    print(ok, err)
  ]])
  t.match(r.stdout, "== right token\ntrue\ttrue\n")
  t.match(r.stdout, "== wrong token\nfalse\t[^\n]*git: push to 'http://127%.0%.0%.1:%d+/origin%.git' rejected: authentication failed %(the token was refused%)\n")
  t.match(r.stdout, "== no token\nfalse\t[^\n]*rejected: the remote requires authentication; set GITHUB_TOKEN\n")
  t.no_match(r.stdout .. r.stderr, token, "token printed")
  t.eq(sh(d .. "/origin.git", "git rev-parse main"), git.open(work):head().sha .. "\n")
end)

t.test("remote_refs: asked as a push asks (credentials for writing), nothing sent; is_shallow", function()
  local work, origin, d = fixture()
  local token = "ghs_testTokenValue1234567890"
  local r = over_http(work, d, token, [[
    local r = require('drun.git').open('.')
    local ok, refs = pcall(r.remote_refs, r, os.getenv('URL'))
    if ok then print(refs['refs/heads/main'], refs['refs/tags/cms-v1.10.0'] ~= nil) else print(false, refs) end
  ]])
  local head = git.open(work):head().sha
  t.match(r.stdout, "== right token\n" .. head .. "\ttrue\n")
  t.match(r.stdout, "== wrong token\nfalse\t[^\n]*git: push to 'http://127%.0%.0%.1:%d+/origin%.git' rejected: authentication failed %(the token was refused%)\n")
  t.match(r.stdout, "== no token\nfalse\t[^\n]*rejected: the remote requires authentication; set GITHUB_TOKEN\n")
  t.no_match(r.stdout .. r.stderr, token, "token printed")
  t.eq(sh(origin, "git rev-parse main"), head .. "\n", "nothing pushed")
  t.eq(git.open(work):remote_refs("origin")["refs/heads/main"], head, "a path remote")
  t.raises(function() git.open(work):remote_refs("nope") end, "git: no remote 'nope'")
  t.eq(git.open(work):is_shallow(), false)
  sh(d, "git clone -q --depth 1 file://" .. origin .. " shallow")
  t.eq(git.open(d .. "/shallow"):is_shallow(), true)
end)
