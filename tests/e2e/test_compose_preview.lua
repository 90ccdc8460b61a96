-- Compose PR previews (recipes/compose-preview.lua, compose-preview-cleanup.lua)
-- on the sandbox server web1 (OpenSSH's sshd) next to production, behind the
-- real Caddy: the PR's head as its own compose project in its own folder, on
-- an allocated port, with its own database volume and Caddy site; the
-- clean-up removes all of it. Two previews and production never collide.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local composefix = require "composefix"

local function preview(f, n, ...) return f:run("compose-preview", "pr=" .. n, ...) end
local function cleanup(f, n, ...) return f:run("compose-preview-cleanup", "pr=" .. n, ...) end
local function folder(f, n) return f.env.PREVIEW_ROOT .. "/app-pr-" .. n end
local function site(f, n) return f.env.PREVIEW_CADDY_SITES .. "/app-pr-" .. n .. ".caddy" end
-- the port claims on the server: {port = project}
local function claims(f)
  local out = {}
  for _, port in ipairs(fs.try.list(f.env.PREVIEW_ROOT .. "/.ports") or {}) do
    out[tonumber(port)] = (fs.try.read(f.env.PREVIEW_ROOT .. "/.ports/" .. port .. "/project") or ""):gsub("%s+$", "")
  end
  return out
end
local function volume(f, n) return f.sandbox .. "/compose/app-pr-" .. n .. "/volumes/db" end
local function branch_head(f, b) return proc.output { "git", "-C", f.origin, "rev-parse", b } end

t.test("a PR's first push: its head as its own project, port, volume and Caddy site; one comment; production untouched", function()
  local f = composefix.setup()
  f:push_branch("notes-tags", "VERSION", "2.0.0-pr\n")
  f:push_branch("notes-tags", "migrations/0003_tags.sql", "CREATE TABLE tags (id INTEGER PRIMARY KEY);\n")
  local n = f:open_pr("notes-tags")
  local r = preview(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local status, h = f:preview_health(n)
  t.eq(status, 200)
  t.eq(h.version, "2.0.0-pr")
  t.eq(h.migrations, 3) -- its own database, migrated with the PR's migration
  t.eq(f:health():json().version, "1.0.0") -- production runs what it ran
  local rec = f:latest()
  t.eq(rec.environment, "pr-" .. n)
  t.eq(rec.recipe, "compose-preview")
  t.eq(rec.git_commit, branch_head(f, "notes-tags")) -- the PR's head, not this checkout
  t.eq(rec.metadata.server_commit, branch_head(f, "notes-tags"))
  t.eq(rec.metadata.project, "app-pr-" .. n)
  t.eq(rec.metadata.preview, "created")
  t.eq(claims(f)[rec.metadata.port], "app-pr-" .. n)
  t.eq(rec.metadata.url, "http://pr-" .. n .. "." .. f.env.PREVIEW_DOMAIN)
  t.ok(fs.exists(volume(f, n)), "the preview's volume")
  t.match(fs.read(site(f, n)), "reverse_proxy 127%.0%.0%.1:" .. rec.metadata.port)
  t.match(proc.output { "git", "-C", folder(f, n), "rev-parse", "HEAD" }, branch_head(f, "notes-tags"))
  local cs = f:comments(n)
  t.eq(#cs, 1)
  t.match(cs[1].body, "### Preview of #" .. n .. ": http://pr%-" .. n .. "%.localhost:%d+")
  t.match(cs[1].body, "<!%-%- drun:compose%-preview %-%->")
  t.match(r.stdout, "app " .. branch_head(f, "notes-tags"):sub(1, 12) .. "%+build%.1 → pr%-" .. n) -- the version is the head's commit
end)

t.test("a later push redeploys the same preview: same port, same volume, the comment updated; a re-run changes nothing", function()
  local f = composefix.setup()
  f:push_branch("faster", "VERSION", "3.0.0-a\n")
  local n = f:open_pr("faster")
  t.eq(preview(f, n).code, 0)
  local first = f:latest()
  f:push_branch("faster", "VERSION", "3.0.0-b\n")
  local r = preview(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local _, h = f:preview_health(n)
  t.eq(h.version, "3.0.0-b")
  local rec = f:latest()
  t.eq(rec.metadata.port, first.metadata.port)
  t.eq(rec.metadata.preview, "updated")
  t.eq(rec.git_commit, branch_head(f, "faster"))
  t.match(r.stdout, "port %d+ %(its own already%)")
  t.match(r.stdout, "unchanged: http://pr%-" .. n) -- the site is what Caddy has: no reload
  r = preview(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local cs = f:comments(n)
  t.eq(#cs, 1)
  t.match(cs[1].body, branch_head(f, "faster"):sub(1, 12))
end)

t.test("two previews and production on one server: own ports, projects and sites; cleaning one leaves the others", function()
  local f = composefix.setup()
  f:push_branch("a", "VERSION", "pr-a\n")
  f:push_branch("b", "VERSION", "pr-b\n")
  local a, b = f:open_pr("a"), f:open_pr("b")
  -- both at once, from a range of two ports: the claims (mkdir on the server) give each its own
  local base = composefix.free_range(2)
  f.env.PREVIEW_PORTS = base .. "-" .. (base + 1)
  local runs = {}
  for i, n in ipairs { a, b } do
    local argv = { t.DRUN, composefix.ROOT .. "/recipes/compose-preview.lua", "--ledger", f.ledger, "pr=" .. n, lines = false }
    argv.cwd, argv.env = f.repo, f.env
    runs[i] = proc.spawn(argv)
  end
  for _, h in ipairs(runs) do
    local r = h:wait()
    t.eq(r.code, 0, r.stdout .. r.stderr)
  end
  local ledger = require("drun.ledger").open(f.ledger)
  local pa = ledger:latest { environment = "pr-" .. a }.metadata.port
  local pb = ledger:latest { environment = "pr-" .. b }.metadata.port
  t.ok(pa ~= pb, "two ports: " .. pa .. ", " .. pb)
  t.eq(claims(f)[pa], "app-pr-" .. a)
  t.eq(claims(f)[pb], "app-pr-" .. b)
  local r
  t.eq(select(2, f:preview_health(a)).version, "pr-a")
  t.eq(select(2, f:preview_health(b)).version, "pr-b")
  t.eq(f:health():json().version, "1.0.0")

  f:close_pr(a)
  r = cleanup(f, a)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "is removed from pr%-" .. a)
  t.ok(not fs.exists(folder(f, a)), "folder removed")
  t.ok(not fs.exists(site(f, a)), "site removed")
  t.ok(not fs.exists(volume(f, a)), "volume removed (down -v)")
  t.eq(claims(f)[pa], nil)
  t.eq(claims(f)[pb], "app-pr-" .. b)
  t.ok(f:preview_health(a) ~= 200 or select(2, f:preview_health(a)) == nil, "a's site is gone from Caddy")
  t.eq(select(2, f:preview_health(b)).version, "pr-b")
  t.eq(f:health():json().version, "1.0.0")
  t.match(f:comments(a)[1].body, "Preview of #" .. a .. ": removed")
  local rec = f:latest()
  t.eq(rec.recipe, "compose-preview-cleanup")
  t.eq(rec.metadata.containers, "removed, with the volume")
  -- again: harmless
  r = cleanup(f, a)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(f:latest().metadata.folder, "gone already")
  t.eq(f:latest().metadata.site, "gone already")
end)

t.test("no free port in the range: a clear error, nothing left on the server", function()
  local f = composefix.setup()
  f:push_branch("a", "VERSION", "pr-a\n")
  f:push_branch("b", "VERSION", "pr-b\n")
  local a, b = f:open_pr("a"), f:open_pr("b")
  -- production's own port: something listens there
  f.env.PREVIEW_PORTS = f.env.APP_PORT .. "-" .. f.env.APP_PORT
  local r = preview(f, a)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "no free port in " .. f.env.APP_PORT .. "%-" .. f.env.APP_PORT .. " on web1")
  t.ok(not fs.exists(folder(f, a)), "no folder")
  t.eq(next(claims(f)), nil)
  -- one port, taken by the first preview
  local base = composefix.free_range(1)
  f.env.PREVIEW_PORTS = base .. "-" .. base
  t.eq(preview(f, a).code, 0)
  r = preview(f, b)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "no free port in " .. base .. "%-" .. base)
  t.ok(not fs.exists(folder(f, b)), "no folder for b")
  t.eq(claims(f)[base], "app-pr-" .. a)
  t.eq(select(2, f:preview_health(a)).version, "pr-a")
end)

t.test("Caddy refuses the configuration: Caddy's own error, the new preview removed again, production still served", function()
  local f = composefix.setup()
  f:push_branch("a", "VERSION", "pr-a\n")
  local n = f:open_pr("a")
  t.write(f.env.PREVIEW_CADDY_SITES .. "/zz-hand-made.caddy", "broken {\n") -- someone's broken site
  local r = preview(f, n)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "caddy reload refused the configuration: .*zz%-hand%-made%.caddy")
  t.ok(not fs.exists(folder(f, n)), "folder removed again")
  t.ok(not fs.exists(site(f, n)), "site removed again")
  t.ok(not fs.exists(volume(f, n)), "volume removed again")
  t.eq(next(claims(f)), nil)
  t.eq(f:health():json().version, "1.0.0")
  t.eq(f:latest().status, "failed")
  os.remove(f.env.PREVIEW_CADDY_SITES .. "/zz-hand-made.caddy")
  r = preview(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(select(2, f:preview_health(n)).version, "pr-a")
  -- the clean-up's reload refused: the site file stays (Caddy still serves it), a re-run takes it out
  t.write(f.env.PREVIEW_CADDY_SITES .. "/zz-hand-made.caddy", "broken {\n")
  r = cleanup(f, n)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "caddy reload refused the configuration without the site %(it is still served%)")
  t.ok(fs.exists(site(f, n)), "the site file says what Caddy serves")
  os.remove(f.env.PREVIEW_CADDY_SITES .. "/zz-hand-made.caddy")
  r = cleanup(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.ok(not fs.exists(site(f, n)), "site removed")
  t.ok(not fs.exists(folder(f, n)), "folder removed")
  t.eq(f:health():json().version, "1.0.0")
end)

t.test("bad input: pr=0, abc, 1.5, an unknown PR, a closed PR (its clean-up allowed), a bad port range or domain", function()
  local f = composefix.setup()
  for _, bad in ipairs { "0", "abc", "1.5", "-3", "1e300" } do
    local r = preview(f, bad)
    t.eq(r.code, 2, bad .. ": " .. r.stdout .. r.stderr)
    t.match(r.stdout .. r.stderr, bad == "abc" and "parameter 'pr' must be a decimal number" or "pr must be the PR number")
  end
  local r = preview(f, 4242)
  t.eq(r.code, 3, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, "acme/app has no PR #4242: check the number")
  local n = f:open_pr("main")
  f:close_pr(n)
  r = preview(f, n)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "PR #" .. n .. " is closed: no preview for it %(to remove one: drun recipes/compose%-preview%-cleanup%.lua pr=" .. n)
  t.ok(not fs.exists(folder(f, n)), "nothing made")
  r = cleanup(f, n)
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "no preview comment on PR #" .. n)
  -- a server whose Caddy has no sites folder: said before anything changes
  local m = f:open_pr("main")
  local sites = f.env.PREVIEW_CADDY_SITES
  f.env.PREVIEW_CADDY_SITES = sites .. "-missing"
  r = preview(f, m)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "web1 has no Caddy sites folder " .. (sites .. "-missing"):gsub("%p", "%%%0") .. ": create it and import it from")
  t.ok(not fs.exists(folder(f, m)), "nothing made")
  t.eq(next(claims(f)), nil)
  f.env.PREVIEW_CADDY_SITES = sites
  f.env.PREVIEW_PORTS = "8100"
  r = preview(f, 1)
  t.eq(r.code, 2)
  t.match(r.stdout .. r.stderr, "preview.ports must be a range like 8100%-8199")
  f.env.PREVIEW_PORTS, f.env.PREVIEW_DOMAIN = "8100-8199", "x { import evil }"
  r = preview(f, 1)
  t.eq(r.code, 2)
  t.match(r.stdout .. r.stderr, "is not a host name")
end)

t.test("a config whose preview project compose would refuse, or that is production's, is refused before anything runs", function()
  local f = composefix.setup()
  local function with_project(name)
    local path = t.write(f.dir .. "/custom/compose-preview.lua", table.concat({
      "package.path = " .. string.format("%q", composefix.ROOT .. "/recipes/?.lua;") .. " .. package.path",
      'local c = require "compose-config"',
      "c.preview.project = " .. string.format("%q", name),
      'return require("drun.flows.compose").preview(c)',
    }, "\n") .. "\n")
    local argv = { t.DRUN, path, "--ledger", f.ledger, "pr=1" }
    argv.cwd, argv.env, argv.check = f.repo, f.env, false
    return proc.run(argv)
  end
  local r = with_project("App_PR_%d")
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, '"App_PR_1" is not a compose project name: lowercase letters, digits, %- and _')
  r = with_project("app")
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, "preview.project makes app, the production project's name")
  t.ok(not fs.exists(f.env.PREVIEW_ROOT), "nothing made on the server")
end)
