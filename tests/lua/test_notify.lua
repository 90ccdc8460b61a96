-- drun.notify end to end: recipes that notify a loopback Slack stand-in and
-- a webhook (tests/servers/http_test.py), retries, a hanging hook, markup,
-- secrets, and the mistakes a config can make.
local t = require "t"
local json = require "drun.json"
local ledger = require "drun.ledger"
local http = require "drun.http"

local base = t.server("http_test.py")

local function received(key) return json.decode(http.get(base .. "/received?key=" .. key).body) end

local n = 0
local function key() n = n + 1; return "k" .. n end

-- a recipe with notify = <notify> whose one step fails when fail=true;
-- the step logs every notification URL it was given (each must be masked)
local function recipe(notify, extra)
  local d = t.tmpdir()
  local path = t.write(d .. "/recipes/notify.lua", [[
local recipe = require "drun.recipe"
local notify = ]] .. notify .. [[

local r = recipe.new { name = "web-deploy", service = "web", environment = "production", version = "1.2.0",
                       params = { fail = { default = false } }, notify = notify }
r:step("deploy", function(ctx)
  for _, n in ipairs(notify) do ctx.log.info("hook %s", n.slack or n.webhook) end
  if ctx.params.fail then error("<b>bad</b> & worse: 500 from <https://evil.example|click>") end
end)
]] .. (extra or "") .. "\nreturn r\n")
  return path, d .. "/ledger.db"
end

local function run(path, lp, ...)
  return t.drun({ path, "--ledger", lp, ... }, { timeout = 60, env = { GITHUB_RUN_ID = false } })
end

t.test("success: only the entries whose `on` has it are sent; the webhook gets the record as JSON", function()
  local wk, sk = key(), key()
  local path, lp = recipe(string.format([[{
    { on = { "success" }, webhook = %q },
    { on = { "failed", "rollback" }, slack = %q },
  }]], base .. "/script?key=" .. wk, base .. "/slack?key=" .. sk))
  local r = run(path, lp)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "drun: notified webhook %(127%.0%.0%.1:%d+%)\n")
  t.no_match(r.stdout .. r.stderr, "key=" .. wk, "the URL is a secret")
  t.match(r.stdout, "hook %*%*%*")
  local got = received(wk)
  t.eq(#got, 1)
  t.eq(got[1].content_type, "application/json")
  local body = json.decode(got[1].body)
  t.eq(body.event, "deployment.success")
  t.eq(body.deployment.status, "success")
  t.eq(body.deployment.fullVersion, "1.2.0+build.1")
  t.eq(body.deployment.steps[1].name, "deploy")
  t.eq(body.deployment.steps[1].status, "success")
  t.eq(#received(sk), 0, "slack was for failures only")
  local rec = ledger.open(lp):latest {}
  t.eq(rec.status, "success")
  t.eq(#rec.metadata.notifications, 1)
  t.eq(rec.metadata.notifications[1].status, "sent")
  t.eq(rec.metadata.notifications[1].attempts, 1)
  t.eq(rec.metadata.notifications[1].target, "webhook (" .. base:match("//(.+)$") .. ")")
end)

t.test("failure: Slack gets mrkdwn with the markup of the error escaped; the exit code is the deploy's", function()
  local sk = key()
  local path, lp = recipe(string.format([[{ { on = { "failed" }, slack = %q } }]], base .. "/slack?key=" .. sk))
  local r = run(path, lp, "fail=true")
  t.eq(r.code, 1)
  t.match(r.stdout, "drun: notified slack")
  local got = received(sk)
  t.eq(#got, 1)
  local text = json.decode(got[1].body).text
  t.match(text, "^:x: %*web 1%.2%.0%+build%.1 → production: FAILED%* at deploy\n")
  t.match(text, "\n> [^\n]*notify%.lua:%d+: &lt;b&gt;bad&lt;/b&gt; &amp; worse: 500 from &lt;https://evil%.example|click&gt;")
  t.no_match(text, "<b>")
  t.no_match(text, "<https://evil")
  t.eq(ledger.open(lp):latest {}.metadata.notifications[1].status, "sent")
end)

t.test("a 5xx is tried again with backoff; a 4xx is final; neither changes the deploy's outcome", function()
  local wk, sk = key(), key()
  local path, lp = recipe(string.format([[{
    { on = { "success" }, webhook = %q, backoff = 0.05 },
    { on = { "success" }, slack = %q, backoff = 0.05 },
  }]], base .. "/script?key=" .. wk .. "&statuses=503,502,200", base .. "/slack?key=" .. sk .. "&statuses=404"))
  local r = run(path, lp)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(#received(wk), 3, "503, 502, then 200")
  t.eq(#received(sk), 1, "a 404 is not tried again")
  t.match(r.stdout, "drun: warning: could not notify slack %(127%.0%.0%.1:%d+%) after 1 attempt%(s%): HTTP 404: "
                    .. "channel_not_found %(the deployment's status stands%)")
  local notes = ledger.open(lp):latest {}.metadata.notifications
  t.eq(notes[1].status, "sent")
  t.eq(notes[1].attempts, 3)
  t.eq(notes[2].status, "failed")
  t.eq(notes[2].error, "HTTP 404: channel_not_found")
end)

t.test("a webhook that hangs: each try times out, the deploy stays a success, the failure is recorded", function()
  local path, lp = recipe(string.format([[{ { on = { "success" }, webhook = %q, timeout = 0.5, attempts = 2, backoff = 0.1 } }]],
                                        base .. "/hang"))
  local time = require "drun.time"
  local t0 = time.now()
  local r = run(path, lp)
  local took = time.now() - t0
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.ok(took < 20, "bounded by the timeouts: " .. took)
  t.match(r.stdout, "could not notify webhook %(127%.0%.0%.1:%d+%) after 2 attempt%(s%): http: POST %*%*%*: timed out")
  local rec = ledger.open(lp):latest {}
  t.eq(rec.status, "success")
  t.eq(rec.metadata.notifications[1].status, "failed")
  t.eq(rec.metadata.notifications[1].attempts, 2)
end)

t.test("--dry-run says what it would send and sends nothing", function()
  local wk = key()
  local path, lp = recipe(string.format([[{ { on = { "success" }, webhook = %q } }]], base .. "/script?key=" .. wk))
  local r = run(path, lp, "--dry-run")
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "would notify webhook %(127%.0%.0%.1:%d+%) of success")
  t.eq(#received(wk), 0)
end)

t.test("mistakes: no URL (an unset variable), plain http to another host, an unknown status, a misspelt key", function()
  for _, case in ipairs {
    { [[{ { on = { "failed" }, slack = os.getenv("DRUN_TEST_UNSET_HOOK") } }]], "notify%[1%] needs slack = URL or webhook = URL" },
    { [[{ { on = { "failed" }, webhook = "http://hooks.example.com/x" } }]], "notify%[1%]: the URL must start with https://" },
    { [[{ { on = { "failed" }, webhook = "" } }]], "notify%[1%]: the URL is empty" },
    { [[{ { on = { "broken" }, webhook = "https://h.example/x" } }]], "notify%[1%]%.on%[1%] must be one of" },
    { [[{ { on = { "failed" }, webhok = "https://h.example/x" } }]], "webhok is not a key drun knows %(did you mean webhook%?%)" },
    { [[{ { on = { "failed" }, slack = "https://h.example/a", webhook = "https://h.example/b" } }]], "cannot both be set" },
    { [[{ { slack = "https://h.example/a" } }]], "notify%[1%]%.on is required" },
  } do
    local path, lp = recipe(case[1])
    local r = run(path, lp)
    t.ok(r.code ~= 0, case[1])
    t.match(r.stderr .. r.stdout, case[2], case[1])
    t.ok(not require("drun.fs").exists(lp) or ledger.open(lp):latest {} == nil, "nothing recorded: " .. case[1])
  end
end)

t.test("a flow's config takes notify: checked with the config, attached to the recipes it makes", function()
  local schema = require "drun.schema"
  local recipe = require "drun.recipe"
  local s = { type = "record", fields = { service = { type = "string" }, notify = require("drun.notify").SCHEMA } }
  local flow = schema.checked(s, "test", { make = function(c)
    return recipe.new { name = "x", service = c.service, environment = "e" }
  end })
  local hooks = { { on = { "failed" }, slack = "https://hooks.slack.example/services/T0/B0/secretpart" } }
  local r = flow.make { service = "web", notify = hooks }
  t.eq(r.notify, hooks)
  t.eq(require("drun.redact").text("see https://hooks.slack.example/services/T0/B0/secretpart"), "see ***")
  t.eq(require("drun.redact").text("/services/T0/B0/secretpart"), "***", "the path alone is masked too")
  local ok, e = pcall(flow.make, { service = "web", notify = { { on = { "failed" } } } })
  t.ok(not ok)
  t.eq(e.exit_code, 2)
  t.match(e.message, "^the test flow's config: notify%[1%] needs slack = URL or webhook = URL")
  -- every shipped flow's schema has the key
  for _, f in ipairs { "cms", "compose", "fly", "pages" } do
    t.eq(require("drun.flows.schema." .. f).fields.notify, require("drun.notify").SCHEMA, f)
  end
end)

t.test("Slack lists the changes since the last success, a commit message's markup escaped", function()
  local sk = key()
  local path = recipe(string.format([[{ { on = { "success" }, slack = %q } }]], base .. "/slack?key=" .. sk))
  local repo = path:match("^(.*)/recipes/notify%.lua$")
  t.sh(repo, [[
    git init -q -b main . && git add -A && git commit -q -m "initial"
    git commit -q --allow-empty -m "fix: <script>alert(1)</script> & <@U123> are text (#9)"
  ]])
  local function deploy()
    return t.drun({ "recipes/notify.lua", "--ledger", repo .. "/l.db" }, { cwd = repo, timeout = 60 })
  end
  t.sh(repo, "git checkout -q HEAD~1")
  t.eq(deploy().code, 0)
  t.sh(repo, "git checkout -q main")
  t.eq(deploy().code, 0)
  local got = received(sk)
  t.eq(#got, 2)
  local text = json.decode(got[2].body).text
  t.match(text, "\n%*Changes%*\n• fix: &lt;script&gt;alert%(1%)&lt;/script&gt; &amp; &lt;@U123&gt; are text %(#9%)$")
  t.no_match(text, "<script>")
  t.no_match(text, "<@U123>", "no mention is made from a commit message")
end)
