-- The ledger's dashboard in a real browser: real recipe runs in a git
-- repository fill a ledger, drun ledger serve serves it, and headless
-- Chromium (Debian's chromium-headless-shell) renders it; the test reads
-- the DOM Chromium built and checks that its screenshot is not blank.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local time = require "drun.time"
local ledger = require "drun.ledger"

-- Chromium's headless shell (Debian's chromium-headless-shell: the browser's
-- engine without its desktop, so without GTK to install), run as the
-- machine's probe runs Chromium (/work/.library/env): no sandbox (root), no
-- GPU, none of its background connections to Google's hosts
local function chromium(dir, ...)
  local argv = { "chromium-headless-shell", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--user-data-dir=" .. t.tmpdir() }
  for _, a in ipairs { ... } do argv[#argv + 1] = a end
  argv.cwd, argv.check, argv.timeout = dir, false, 90
  local r = proc.run(argv)
  t.eq(r.code, 0, "chromium: " .. r.stderr)
  return r.stdout
end

-- distinct colours of a PNG (8-bit RGB or RGBA, as Chromium writes them):
-- a blank page has one
local PNG_COLOURS = [[
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat = 8, b""
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
assert depth == 8 and ctype in (2, 6), (depth, ctype)
bpp = 3 if ctype == 2 else 4
raw, stride, prev, colours, out = zlib.decompress(idat), w * bpp, bytearray(w * bpp), set(), 0
for y in range(h):
    f, line = raw[out], bytearray(raw[out + 1:out + 1 + stride])
    out += 1 + stride
    for i in range(stride):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], prev[i - bpp] if i >= bpp else 0
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    if y % 4 == 0:
        for x in range(0, stride, bpp * 2):
            colours.add(bytes(line[x:x + 3]))
    prev = line
print(w, h, len(colours))
]]

-- a repository whose recipe deploys "web" to staging and production; the
-- actor and one commit message carry markup
local function fixture()
  local d = t.tmpdir()
  proc.run { "sh", "-c", [[
    git init -q -b main repo && cd repo
    git commit -q --allow-empty -m "initial"
    git commit -q --allow-empty -m "feat: a status page"
    git commit -q --allow-empty -m "fix: <img src=x onerror=alert(1)> is text (#7)"
  ]], cwd = d, env = t.GIT_ENV }
  local repo = d .. "/repo"
  t.write(repo .. "/recipes/web.lua", [[
local recipe = require "drun.recipe"
local r = recipe.new { name = "web", service = "web", version = "1.0.0",
                       environment = function(p) return p.env end,
                       params = { env = { default = "staging" }, fail = { default = false } } }
r:step("build", function(ctx) require("drun.time").sleep(0.05) end)
r:step("deploy", function(ctx)
  if ctx.params.fail then error("deploy refused: <script>alert(2)</script>") end
  require("drun.time").sleep(0.02)
end)
return r
]])
  return repo
end

t.test("the dashboard in headless Chromium: what is live, delivery, charts, recent deployments, a deployment's steps", function()
  local repo = fixture()
  local lp = repo .. "/.drun/ledger.db"
  local env = { GITHUB_ACTOR = "<b>ada</b>", GITHUB_SERVER_URL = "https://github.example",
                GITHUB_REPOSITORY = "acme/web", GITHUB_RUN_ID = "42" }
  local function deploy(...)
    local r = t.drun({ "recipes/web.lua", "--ledger", lp, ... }, { cwd = repo, env = env })
    return r
  end
  proc.run { "git", "-C", repo, "checkout", "-q", "HEAD~1" }
  t.eq(deploy("env=staging").code, 0)
  t.eq(deploy("env=production").code, 0)
  proc.run { "git", "-C", repo, "checkout", "-q", "main" }
  t.eq(deploy("env=staging").code, 0)
  t.eq(deploy("env=production", "fail=true").code, 1)
  t.eq(deploy("env=production").code, 0)
  -- the runs recorded their commit's time (the lead time)
  local db = ledger.open(lp)
  local newest = db:latest {}
  t.eq(newest.metadata.commit_time, time.utc(tonumber(proc.output { "git", "-C", repo, "log", "-1", "--format=%ct" })))
  db:close()

  local base, server <close> = t.ledger_serve(lp, { cwd = repo })

  local dom = chromium(repo, "--dump-dom", base .. "/")
  t.match(dom, '<meta http%-equiv="refresh" content="30">')
  -- what is live where: production's live version is the success after the failure
  -- (build numbers count deployments of 1.0.0, whatever the environment)
  local live = dom:match('<table id="live">(.-)</table>')
  t.ok(live, "a live table")
  t.match(live, "<td>web</td><td>production</td><td><code>1%.0%.0%+build%.5</code></td>")
  t.match(live, "<td>web</td><td>staging</td><td><code>1%.0%.0%+build%.3</code></td>")
  t.match(live, 'href="https://github%.example/acme/web/actions/runs/42"')
  -- the actor's markup is text: Chromium built no <b> element from it
  t.match(live, "&lt;b&gt;ada&lt;/b&gt;")
  t.no_match(dom, "<b>ada</b>")
  local delivery = dom:match('<table id="delivery">(.-)</table>')
  t.match(delivery, '<td>web</td><td>production</td><td class="num">2 of 3</td>')
  t.match(delivery, '<td class="num">33%%</td>')
  local recent = dom:match('<table id="recent">(.-)</table>')
  local rows = select(2, recent:gsub("<tr>", "")) - 1
  t.eq(rows, 5, "five deployments")
  t.match(recent, 'class="status failed">failed</span> at deploy')
  -- the charts: a bar for today, a point per successful deployment
  t.match(dom, '<svg[^>]-class="chart success%-rate"')
  t.eq(select(2, dom:gsub('<rect class="day"', "")), 1)
  t.eq(select(2, dom:gsub('<circle class="point"', "")), 4)

  -- one deployment: its steps with durations, and the changes it brought
  local newest_id = recent:match('<a href="/deployments/(%w+)"><code>1%.0%.0%+build%.5</code>')
  t.ok(newest_id, "a link to the newest production deployment")
  local page = chromium(repo, "--dump-dom", base .. "/deployments/" .. newest_id)
  local steps = page:match('<table id="steps">(.-)</table>')
  t.match(steps, "<td>build</td><td><span class=\"status success\">success</span></td><td class=\"num\">%d+ms</td>")
  t.match(steps, '<div class="bar" style="width:%d+%.%d%%"></div>')
  local changes = page:match('<div id="changes">(.-)</div>')
  t.ok(changes, "a changes section")
  t.match(changes, "<h3>Bug fixes</h3>")
  t.match(changes, "&lt;img src=x onerror=alert%(1%)&gt; is text %(#7%)")
  t.no_match(page, "<img")

  -- the screenshot is not blank: a page of tables, badges and charts has many colours
  local shot = t.tmpdir() .. "/dashboard.png"
  chromium(repo, "--window-size=1280,1000", "--screenshot=" .. shot, base .. "/")
  t.ok(fs.exists(shot), "a screenshot")
  local w, h, colours = proc.output { "python3", "-c", PNG_COLOURS, shot }:match("^(%d+) (%d+) (%d+)$")
  t.eq(tonumber(w), 1280)
  t.eq(tonumber(h), 1000)
  t.ok(tonumber(colours) >= 20, "distinct colours in the screenshot: " .. colours)
  -- nothing went wrong on the server's side
  server:close()
  t.no_match(server:wait().stderr, "error")
end)
