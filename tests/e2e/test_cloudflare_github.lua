-- drun.cloudflare and drun.github against the sandbox.
local t = require "t"
local proc = require "drun.proc"
local fs = require "drun.fs"
local json = require "drun.json"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

-- runs Lua code in a drun with the sandbox's environment, in dir
local function drun_in(env, dir, code)
  local spec = { t.DRUN, "-e", code }
  spec.env, spec.cwd, spec.check, spec.timeout = env, dir, false, 120
  return proc.run(spec)
end

t.test("github: release (422 carries GitHub's message), issue, comment updated not duplicated", function()
  local env, sdir = t.sandbox()
  local r = drun_in(env, "/", [[
    local github = require 'drun.github'
    local rel = github.release { repo = 'acme/cms', tag = 'cms-v2.0.0', name = 'cms 2.0.0' }
    print(rel.tag_name, rel.name)
    print(select(2, pcall(github.release, { repo = 'acme/cms', tag = 'cms-v2.0.0' })))
    local issue = github.issue { repo = 'acme/app', title = 'Deployment record: app-production', body = 'digest ...' }
    print(issue.number > 0, issue.title)
    for i = 1, 2 do github.comment { repo = 'acme/cms', issue = 12, body = 'previews, push ' .. i, update = '<!-- drun:previews -->' } end
    print(pcall(github.release, { repo = 'not a repo', tag = 'x' }))
  ]])
  t.eq(r.code, 0, r.stderr)
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
  t.eq(lines[1], "cms-v2.0.0\tcms 2.0.0")
  t.match(lines[2], "github: POST /repos/acme/cms/releases: 422 Validation Failed: Release tag_name already_exists")
  t.eq(lines[3], "true\tDeployment record: app-production")
  t.match(lines[4], "^false\t.*github: repo must be \"owner/name\"")
  local gh = json.decode(fs.read(sdir .. "/state/github.json"))
  t.eq(#gh.comments, 1, "updated, not duplicated")
  t.match(gh.comments[1].body, "^previews, push 2\n<!%-%- drun:previews %-%->$")
  t.eq(gh.releases[1].tag_name, "cms-v2.0.0")
  env.GITHUB_TOKEN = false
  r = drun_in(env, "/", "require('drun.github').issue { repo = 'a/b', title = 'x' }")
  t.match(r.stderr, "env: secret GITHUB_TOKEN is not set")
end)

t.test("github: on a busy PR (the marked comment on page 3 of 100) the comment is updated, not duplicated", function()
  local env, sdir = t.sandbox()
  local r = drun_in(env, "/", [[
    local github = require 'drun.github'
    for i = 1, 230 do github.comment { repo = 'acme/cms', issue = 7, body = 'review remark ' .. i } end
    github.comment { repo = 'acme/cms', issue = 7, body = 'first previews', update = '<!-- drun:previews -->' }
    github.comment { repo = 'acme/cms', issue = 7, body = 'previews again', update = '<!-- drun:previews -->' }
  ]])
  t.eq(r.code, 0, r.stderr)
  local gh = json.decode(fs.read(sdir .. "/state/github.json"))
  t.eq(#gh.comments, 231, "updated, not duplicated")
  t.match(gh.comments[231].body, "^previews again\n")
  local gets = 0
  for _, q in ipairs(gh.requests) do
    if q.method == "GET" then gets = gets + 1; t.match(q.query, "per_page=100") end
  end
  t.eq(gets, 3 + 3, "pages 1..3 before posting it, pages 1..3 to find it again")
end)

t.test("cloudflare: d1.execute returns rows; a SQL error carries wrangler's message", function()
  local d = t.tmpdir()
  local repo = proc.output { ROOT .. "/tests/sandbox/fixture", "cms", d }:match("^(%S+)")
  local env = t.sandbox()
  local r = drun_in(env, repo .. "/apps/cms", [[
    local cf = require 'drun.cloudflare'
    local rows = cf.d1.execute { db = 'cms-staging', env = 'staging', sql = 'SELECT 1 AS one, 2 AS two' }
    print(rows[1].one, rows[1].two)
    print(select(2, pcall(cf.d1.execute, { db = 'cms-staging', env = 'staging', sql = 'SELECT * FROM nowhere' })))
    print(cf.current_version { dir = '.', env = 'staging' })
  ]])
  t.eq(r.code, 0, r.stderr)
  local lines = {}
  for l in r.stdout:gmatch("[^\n]+") do lines[#lines + 1] = l end
  t.eq(lines[1], "1\t2")
  t.match(lines[2], "cloudflare: wrangler d1 execute cms%-staging %-%-remote %-%-json %-%-env staging %-%-command SELECT %* FROM nowhere failed: .*no such table: nowhere")
  t.eq(lines[3], "nil", "never deployed")
end)

t.test("cloudflare: an output file whose version_id is not a UUID string is an error, whatever it holds", function()
  local cf = require "drun.cloudflare"
  local function deploy_with(entry_text)
    return function(spec)
      fs.write(spec.env.WRANGLER_OUTPUT_FILE_PATH, entry_text)
      return { ok = true, code = 0, stdout = "", stderr = "" }
    end
  end
  local env = { CLOUDFLARE_API_TOKEN = "cf-token-test-123", CLOUDFLARE_ACCOUNT_ID = "acc" }
  local saved = {}
  for k, v in pairs(env) do saved[k] = os.getenv(k); require("drun.env").set(k, v) end
  local good = '{"type":"deploy","version":1,"worker_name":"cms","version_id":"3f1c0a2b-9d4e-4c1a-8b7f-0e5d6c4b3a21"}\n'
  t.eq(cf.deploy { dir = ".", run = deploy_with(good) }, "3f1c0a2b-9d4e-4c1a-8b7f-0e5d6c4b3a21")
  for what, text in pairs {
    number = '{"type":"deploy","version_id":12345}\n',
    object = '{"type":"deploy","version_id":{"id":"3f1c0a2b-9d4e-4c1a-8b7f-0e5d6c4b3a21"}}\n',
    nul = '{"type":"deploy","version_id":"3f1c0a2b-9d4e-4c1a-8b7f-0e5d6c4b3a21\\u0000; rm -rf /"}\n',
    empty = '{"type":"deploy","version_id":""}\n',
    missing = '{"type":"deploy"}\n',
  } do
    t.raises(function() cf.deploy { dir = ".", run = deploy_with(text) } end, "has no version id %(a UUID%)", what)
  end
  local big = '{"type":"deploy","version_id":"' .. string.rep("a", 50 * 1024 * 1024) .. '"}\n'
  t.raises(function() cf.deploy { dir = ".", run = deploy_with(big) } end, "refusing to read it")
  for k in pairs(env) do require("drun.env").set(k, saved[k]) end
end)

-- Conformance: wrangler's "no such Worker" is a code, not a phrase
-- (src/utils/worker-not-found-error.ts: 10007, and 10090 for a legacy
-- environment); any other failure that happens to say "does not exist" is a
-- real error, not a first deploy.
t.test("cloudflare.current_version: first deploy by code 10007/10090; other errors raise whatever their words", function()
  local env = require "drun.env"
  env.set("CLOUDFLARE_API_TOKEN", "x"); env.set("CLOUDFLARE_ACCOUNT_ID", "acct")
  local cf = require "drun.cloudflare"
  local function failing(stderr)
    return function(spec)
      return { ok = false, code = 1, stdout = "", stderr = stderr, command = table.concat(spec, " ") }
    end
  end
  local api = "✘ [ERROR] A request to the Cloudflare API (/accounts/acct/workers/scripts/cms/deployments) failed.\n\n  "
  t.eq(cf.current_version { run = failing(api .. "Worker not found. [code: 10007]\n") }, nil)
  t.eq(cf.current_version { run = failing(api .. "This Worker does not exist on your account. [code: 10090]\n") }, nil)
  t.raises(function()
    cf.current_version { run = failing("✘ [ERROR] The file ./wrangler.toml does not exist.\n") }
  end, "does not exist")
  t.raises(function() cf.current_version { run = failing(api .. "Authentication error [code: 10000]\n") } end, "10000")
end)
