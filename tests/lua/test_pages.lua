-- drun.pages: the alias slug table, PR preview branches, deploy against the
-- sandbox's wrangler (its output file, not its text).
local t = require "t"
local pages = require "drun.pages"
local proc = require "drun.proc"

local SLUGS = {
  { "main", "main" },
  { "staging", "staging" },
  { "feature/login", "feature-login" },
  { "Feature/Add_Login", "feature-add-login" },
  { "fix_under_score", "fix-under-score" },
  { "release/1.2.3", "release-1-2-3" },
  { "UPPER", "upper" },
  { "a.b.c", "a-b-c" },
  { "two//slashes", "two--slashes" },                 -- no collapsing, like Cloudflare
  { "café-au-lait", "caf--au-lait" },                 -- one "-" per character, not per byte
  { "Ünïcödé", "n-c-d" },
  { "日本語のブランチ", "" },                             -- nothing left: empty
  { "🚀-launch", "launch" },                          -- an emoji is one character
  { "launch-🚀🚀", "launch" },
  { "docs 🚀 fix", "docs---fix" },
  { "-leading", "leading" },
  { "trailing-", "trailing" },
  { "--both--", "both" },
  { "/feature/", "feature" },
  { "___", "" },
  { "!!!", "" },
  { "", "" },
  { string.rep("x", 100), string.rep("x", 28) },
  { string.rep("ab", 50), string.rep("ab", 14) },
  { string.rep("a", 27) .. "-b", string.rep("a", 27) }, -- a "-" left at the cut is trimmed
  { string.rep("a", 27) .. "--b", string.rep("a", 27) },
  { string.rep("a", 28) .. "-b", string.rep("a", 28) },
  { "dependabot/npm_and_yarn/docs/usage-docs/vite-5.4.1", "dependabot-npm-and-yarn-docs" },
  { "0-starts-with-digit", "0-starts-with-digit" },
  { "tab\there", "tab-here" },
  { "bad\xffutf8", "bad-utf8" },                      -- a byte of invalid UTF-8 is one "-"
}

t.test("slug: Cloudflare's alias rule, " .. #SLUGS .. " cases", function()
  for _, c in ipairs(SLUGS) do
    local s = pages.slug(c[1])
    t.eq(s, c[2], "slug of " .. c[1])
    t.ok(#s <= 28 and not s:find("^%-") and not s:find("%-$") and not s:find("[^a-z0-9%-]"), "shape of " .. s)
  end
end)

t.test("slug agrees with the sandbox's (Python) rule on every ASCII-lowercasing case", function()
  local names = {}
  for _, c in ipairs(SLUGS) do if not c[1]:find("[\128-\255]") then names[#names + 1] = c[1] end end
  local py = [[
import re, sys, json
for n in json.load(sys.stdin): print(re.sub(r"[^a-z0-9-]", "-", n.lower()).strip("-")[:28].strip("-"))
]]
  local r = proc.run { "python3", "-c", py, stdin = require("drun.json").encode(names) }
  local i = 0
  for line in (r.stdout .. ""):gmatch("([^\n]*)\n") do
    i = i + 1
    t.eq(pages.slug(names[i]), line, names[i])
  end
  t.eq(i, #names)
end)

t.test("preview_branch: pr-<n>-<slug> within 28 characters; pr-<n> when nothing is left; bad numbers refused", function()
  t.eq(pages.preview_branch(12, "feature/login"), "pr-12-feature-login")
  t.eq(pages.preview_branch("7", "Fix_It"), "pr-7-fix-it")
  t.eq(pages.preview_branch(12, "___"), "pr-12")
  t.eq(pages.preview_branch(12, "dependabot/npm_and_yarn/docs/usage-docs/vite-5.4.1"), "pr-12-dependabot-npm-and-yar")
  t.eq(pages.preview_branch(12345, string.rep("a", 18) .. "-b"), "pr-12345-" .. string.rep("a", 18)) -- "-" at the cut
  for _, n in ipairs { 1, 99, 100000 } do
    local b = pages.preview_branch(n, string.rep("z", 100))
    t.ok(#b <= 28, b)
    t.eq(pages.slug(b), b, "the alias is the branch itself")
  end
  for _, bad in ipairs { 0, -1, 1.5, "abc", "" } do
    local ok, e = pcall(pages.preview_branch, bad, "x")
    t.eq(ok, false)
    t.match(e, "the PR number must be a positive integer")
  end
end)

t.test("deploy: url, alias, environment from the output file; production has no alias; failures in wrangler's words", function()
  local env, sdir = t.sandbox()
  local d = t.tmpdir()
  t.write(d .. "/dist/index.html", "<h1>docs</h1>\n")
  local code = [[
    local pages = require "drun.pages"
    local json = require "drun.json"
    local function show(o) local ok, r = pcall(pages.deploy, o); print(ok and json.encode(r) or (("error: " .. r):gsub("\n", " | "))) end
    show { project = "usage-docs", dir = "dist", branch = "pr-12-feature-login", commit_hash = "abc", commit_message = "docs: x" }
    show { project = "usage-docs", dir = "dist", branch = "main" }
    show { project = "usage-docs", dir = "missing", branch = "staging" }
    show { project = "failing", dir = "dist", branch = "staging" }
    show { project = "usage-docs", dir = "dist" }
  ]]
  proc.run { (os.getenv("DRUN_ROOT") or ".") .. "/tests/sandbox/fault", sdir, "pages:failing=fail" }
  for _, p in ipairs { "usage-docs", "failing" } do
    proc.run { "wrangler", "pages", "project", "create", p, "--production-branch", "main", env = env }
  end
  local f = t.write(d .. "/s.lua", code)
  local r = proc.run { t.DRUN, f, cwd = d, env = env, check = false, timeout = 60 }
  t.eq(r.code, 0, r.stderr)
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
  local json = require "drun.json"
  local a = json.decode(lines[1])
  t.match(a.url, "^https://%x+%.usage%-docs%.pages%.dev$")
  t.eq(a.alias, "https://pr-12-feature-login.usage-docs.pages.dev")
  t.eq(a.environment, "preview")
  local b = json.decode(lines[2])
  t.eq(b.environment, "production")
  t.eq(b.alias, nil)
  t.match(lines[3], "^error: cloudflare: command 'wrangler pages deploy missing [^\n]*' exited with 1: | .*The directory specified %(missing%) does not exist")
  t.match(lines[4], "^error: cloudflare: command 'wrangler pages deploy dist [^\n]*' exited with 1: | .*A request to the Cloudflare API")
  t.eq(lines[5], "error: pages.deploy: branch is required")
  local state = json.decode(require("drun.fs").read(sdir .. "/state/pages.json"))
  t.eq(state["usage-docs"][1].commit_hash, "abc")
  t.eq(state["usage-docs"][1].commit_message, "docs: x")
end)

-- wrangler-dist/cli.js: `pages deploy` to a missing project fails with 8000007
-- when not interactive; `pages project list --json` has no production branch,
-- so drun.pages reads the project from Cloudflare's API
-- (GET /accounts/{id}/pages/projects/{name}, result.production_branch).
t.test("project: the production branch from Cloudflare's API; a missing project by its code; no account id", function()
  local env = t.sandbox()
  proc.run { "wrangler", "pages", "project", "create", "site", "--production-branch", "production", env = env }
  local listed = require("drun.json").decode(proc.run { "wrangler", "pages", "project", "list", "--json", env = env }.stdout)
  t.eq(listed[1]["Project Name"], "site")
  t.eq(listed[1].production_branch, nil, "wrangler does not list it")
  local d = t.tmpdir()
  t.write(d .. "/dist/index.html", "<h1>docs</h1>\n")
  local f = t.write(d .. "/s.lua", [[
    local pages = require "drun.pages"
    print(pages.project("site").production_branch)
    print(select(2, pcall(pages.project, "nowhere")))
    local r = pages.deploy { project = "site", dir = "dist", branch = "main" }
    print(r.environment, r.production_branch)
    print((select(2, pcall(pages.deploy, { project = "nowhere", dir = "dist", branch = "x" })):gsub("\n", " ")))
  ]])
  local r = proc.run { t.DRUN, f, cwd = d, env = env, check = false, timeout = 60 }
  t.eq(r.code, 0, r.stderr)
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
  t.eq(lines[1], "production")
  t.eq(lines[2], "pages: the project nowhere does not exist on this account [code: 8000007]; create it once with: "
                 .. "wrangler pages project create nowhere --production-branch main")
  t.eq(lines[3], "preview\tproduction", "main is not this project's production branch")
  t.match(lines[4], "Project not found%. The specified project name does not match any of your existing projects%. %[code: 8000007%]")
  env.CLOUDFLARE_ACCOUNT_ID = false
  r = proc.run { t.DRUN, f, cwd = d, env = env, check = false, timeout = 60 }
  t.ok(r.code ~= 0)
  t.match(r.stderr, "secret CLOUDFLARE_ACCOUNT_ID is not set")
  r = proc.run { "wrangler", "pages", "deploy", "dist", "--project-name", "site", "--branch", "main", cwd = d, env = env, check = false }
  t.match(r.stderr, "More than one account available but unable to select one in non%-interactive mode")
end)
