-- The post-deploy watch (FLOWS.md §1, issue 20): after production's smoke
-- check, `wrangler tail --format json` on both workers for watch.seconds;
-- exceptions or 5xx answers beyond watch.max_errors fail the release before
-- it is tagged, with the rollback command, or roll it back under
-- --auto-rollback; a tail that ends early fails too (never a silent pass).
-- The sandbox's wrangler streams what its server served, in wrangler's format.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local cmsfix = require "cmsfix"

-- users: a request to the production CMS's pages every 50 ms while `fn` runs
local function with_traffic(f, fn)
  local url = f.env.SANDBOX_WORKERS_URL .. "/cms/app/posts"
  local h <close> = proc.spawn { "python3", "-c", [[
import sys, time, urllib.request, urllib.error
while True:
    try:
        urllib.request.urlopen(sys.argv[1], timeout=2).read()
    except urllib.error.HTTPError:
        pass
    except OSError:
        pass
    time.sleep(0.05)
]], url }
  return fn()
end

local function release(f, ...)
  f.env.CMS_WATCH_SECONDS = "2"
  local args = table.pack(...)
  return with_traffic(f, function() return f:prod("--yes", table.unpack(args, 1, args.n)) end)
end

t.test("a quiet release: both workers watched side by side, requests counted, then tagged", function()
  local f = cmsfix.setup()
  local r = release(f)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "%[%d+/%d+%] watch")
  local n = tonumber(r.stdout:match("%[cms%] (%d+) request%(s%), 0 error%(s%) in 2s"))
  t.ok(n and n > 5, "the CMS's traffic was seen: " .. tostring(n))
  t.match(r.stdout, "%[mcp%] 0 request%(s%), 0 error%(s%) in 2s")
  local rec = f:latest()
  t.eq(rec.status, "success")
  t.eq(rec.metadata.watch.cms.requests, n)
  t.eq(rec.metadata.watch.cms.errors, 0)
  t.eq(proc.output { "git", "--git-dir", f.origin, "tag", "-l", "cms-v1.4.1" }, "cms-v1.4.1")
  local tails = 0
  for _, c in ipairs(f:calls()) do
    if c.argv[1] == "tail" then
      tails = tails + 1
      t.same(c.argv, { "tail", "--format", "json" }, "production is wrangler's top level: no --env")
    end
  end
  t.eq(tails, 2)
end)

t.test("5xx under traffic: the release fails at the first error, untagged, with the rollback command", function()
  local f = cmsfix.setup()
  f:fault("errors:cms=500")
  local r = release(f)
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "✗ watch failed")
  t.match(r.stdout, "cms: 1 error%(s%) in %d+ request%(s%) within [%d.]+s of the watch %(at most 0 allowed%): "
                    .. "500 %(GET https://cms%.sandbox%.workers%.dev/app/posts%)")
  t.match(r.stdout, "state:  the new bundle is live and failing under traffic")
  t.match(r.stdout, "next:   drun recipes/cms%-rollback%.lua environment=production")
  t.eq(proc.output { "git", "--git-dir", f.origin, "tag", "-l", "cms-v1.4.1" }, "", "not tagged")
  t.eq(f:latest().status, "failed")
  t.eq(f:health("production"):json().version, "1.4.1", "live (and bad): the report says so")
end)

t.test("an uncaught exception under --auto-rollback: both workers back on their previous versions", function()
  local f = cmsfix.setup()
  t.eq(f:prod("--yes").code, 0) -- 1.4.1 is live
  local before = f:live()
  f:fault("errors:cms=exception")
  local r = release(f, "--auto-rollback")
  t.eq(r.code, 1, r.stdout .. r.stderr)
  t.match(r.stdout, "TypeError: Cannot read properties of undefined %(reading 'id'%) %(GET https://cms%.sandbox%.workers%.dev/app/posts%)")
  t.match(r.stdout, "undo:   rolled back: deploy%-cms, deploy%-mcp, bump%-version")
  t.same(f:live(), before, "both workers back")
  t.eq(f:latest().status, "rollback")
end)

t.test("a tail that disconnects, or is closed, fails the watch: it did not watch, so it does not pass", function()
  for _, how in ipairs { "disconnect", "close" } do
    local f = cmsfix.setup()
    f:fault("tail:cms=" .. how)
    local r = release(f)
    t.eq(r.code, 1, how .. ": " .. r.stdout .. r.stderr)
    t.match(r.stdout, "cms: the tail of apps/cms ended after [%d.]+s of 2s %(wrangler tail exit " ..
                      (how == "disconnect" and '1: "Tail disconnected, exiting%."%)' or "0%)") .. ": the watch is incomplete")
    t.match(r.stdout, "or was not watched to the end")
    t.eq(proc.output { "git", "--git-dir", f.origin, "tag", "-l", "cms-v1.4.1" }, "", "not tagged")
  end
end)

t.test("watch.seconds = 0: no tail at all, and the release says so", function()
  local f = cmsfix.setup()
  local r = f:prod("--yes")
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "the watch is off %(watch%.seconds = 0%)")
  t.eq(f:latest().metadata.watch, "off")
  for _, c in ipairs(f:calls()) do t.ok(c.argv[1] ~= "tail", "no wrangler tail") end
end)

t.test("the sandbox's tail prints wrangler's shape: JSON.stringify(event, null, 4), one object after another", function()
  local f = cmsfix.setup()
  t.eq(f:prod("--yes").code, 0)
  local argv = { "wrangler", "tail", "--format", "json" }
  argv.cwd, argv.env = f.repo .. "/apps/cms", f.env
  local h <close> = proc.spawn(argv)
  require("drun.time").sleep(0.5)
  require("drun.http").get(f.env.SANDBOX_WORKERS_URL .. "/cms/app")
  local lines = {}
  repeat
    local line = h:read_line(5)
    lines[#lines + 1] = line
  until line == "}" or not line
  t.eq(lines[1], "{")
  t.match(lines[2], '^    "outcome": "ok",$')
  local ev = require("drun.json").decode(table.concat(lines, "\n"))
  t.eq(ev.scriptName, "cms")
  t.eq(ev.event.response.status, 200)
  t.eq(ev.event.request.method, "GET")
  t.eq(#ev.exceptions, 0)
  t.ok(fs.exists(f.sandbox .. "/state/tail/cms@.jsonl"))
end)
