-- README's "Write your own flow", run as written: every block whose first
-- line names a file is written into a fresh repository, and the recipe runs
-- against a real HTTP server on the site's `current` link.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local json = require "drun.json"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

-- the section's fenced blocks: { path = text }
local function blocks()
  local readme = fs.read(ROOT .. "/README.md")
  local section = readme:match("\n## Write your own flow\n(.-)\n## ")
  assert(section, "README has a section '## Write your own flow'")
  local files = {}
  for lang, body in section:gmatch("\n```(%w+)\n(.-\n)```") do
    local path = body:match("^%-%- ([%w_./%-]+%.lua)\n") or body:match("^# ([%w_./%-]+%.sh)\n")
    if path then files[path] = body end
  end
  return files
end

local function git(d, ...) return proc.run { "git", "-C", d, ... } end

local function repository()
  local d = t.tmpdir()
  local repo, origin = d .. "/repo", d .. "/origin.git"
  for path, text in pairs(blocks()) do t.write(repo .. "/" .. path, text) end
  t.write(repo .. "/package.json", '{\n  "name": "site",\n  "version": "1.0.0"\n}\n')
  t.write(repo .. "/.gitignore", "dist/\n.drun/\n")
  proc.run { "git", "init", "-q", "-b", "main", repo }
  git(repo, "config", "user.name", "Walk Through")
  git(repo, "config", "user.email", "walk@example.com")
  git(repo, "add", "-A")
  git(repo, "commit", "-q", "-m", "site")
  proc.run { "git", "init", "-q", "--bare", origin }
  git(repo, "remote", "add", "origin", origin)
  git(repo, "push", "-q", "origin", "main")
  local site = d .. "/srv"
  fs.mkdir(site)
  local url = t.server("static_dir.py", site .. "/current")
  return repo, origin, site, { SITE_ROOT = site, SITE_URL = url }, url
end

t.test("the walkthrough's files are all there: flow module, config, recipe, build script", function()
  local files = blocks()
  for _, path in ipairs { "recipes/lib/site.lua", "recipes/site-config.lua", "recipes/site-release.lua", "build.sh" } do
    t.ok(files[path], "README shows " .. path)
  end
end)

t.test("plan, release, a failed release undone by --auto-rollback, the ledger: as the README says", function()
  local repo, origin, site, env, url = repository()
  local r = t.drun({ "plan", "recipes/site-release.lua" }, { cwd = repo, env = env })
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "recipe      site%-release")
  t.match(r.stdout, "bump%-version.*build.*switch.*smoke%-check.*tag")

  r = t.drun({ "recipes/site-release.lua" }, { cwd = repo, env = env })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(require("drun.http").get(url .. "/version.json", { expect = 200 }):json().version, "1.0.1")
  t.match(proc.output { "git", "-C", origin, "tag" }, "site%-v1%.0%.1")
  t.match(fs.read(repo .. "/package.json"), '"version": "1%.0%.1"')
  local first = fs.realpath(site .. "/current")

  -- a build that serves the wrong version: the smoke check fails, the undo puts current back
  t.write(repo .. "/build.sh", "mkdir -p dist && echo '{\"version\": \"0.0.0\"}' > dist/version.json\n")
  git(repo, "commit", "-q", "-am", "broken build")
  git(repo, "push", "-q", "origin", "main")
  r = t.drun({ "recipes/site-release.lua", "--auto-rollback" }, { cwd = repo, env = env })
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, "smoke%-check")
  t.eq(fs.realpath(site .. "/current"), first, "current is back on 1.0.1")
  t.eq(require("drun.http").get(url .. "/version.json", { expect = 200 }):json().version, "1.0.1")
  t.match(fs.read(repo .. "/package.json"), '"version": "1%.0%.1"', "package.json put back")
  t.ok(not proc.output({ "git", "-C", origin, "tag" }):find("site-v1.0.2", 1, true), "no tag for the failed release")

  r = t.drun({ "ledger", "list", "--service", "site", "--json" }, { cwd = repo })
  local list = json.decode(r.stdout).deployments
  t.eq(#list, 2)
  t.eq(list[1].status, "rollback")
  t.eq(list[2].status, "success")
  t.eq(list[2].version, "1.0.1")
end)

t.test("a misspelt key in the walkthrough's config: exit 2 naming it, nothing run", function()
  local repo, _, site, env = repository()
  local cfg = fs.read(repo .. "/recipes/site-config.lua"):gsub("tag_prefix =", "tagprefix =")
  t.write(repo .. "/recipes/site-config.lua", cfg)
  local r = t.drun({ "recipes/site-release.lua" }, { cwd = repo, env = env })
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stderr, "tagprefix")
  t.match(r.stderr, "tag_prefix")
  t.ok(not fs.exists(site .. "/releases"), "nothing released")
end)
