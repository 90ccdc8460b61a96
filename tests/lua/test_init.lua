-- drun init KIND [DIR]: a shipped flow's config and recipes written into a
-- repository from the copies built into drun; never over a file silently.
local t = require "t"
local fs = require "drun.fs"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

t.test("init compose: the config and recipes as shipped, and they plan where they were written", function()
  local d = t.tmpdir()
  local r = t.drun({ "init", "compose", "deploy" }, { cwd = d })
  t.eq(r.code, 0, r.stderr)
  for _, name in ipairs { "compose-config", "compose-restart", "compose-rollback", "compose-preview", "compose-preview-cleanup" } do
    t.match(r.stdout, "wrote    deploy/" .. name:gsub("%-", "%%-") .. "%.lua\n")
    t.eq(fs.read(d .. "/deploy/" .. name .. ".lua"), fs.read(ROOT .. "/recipes/" .. name .. ".lua"), name)
  end
  t.match(r.stdout, "next: edit deploy/compose%-config%.lua")
  r = t.drun({ "plan", "deploy/compose-restart.lua" }, { cwd = d })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "recipe      compose%-restart")
  -- every flow, into the default folder
  for _, kind in ipairs { "cms", "fly", "pages" } do
    r = t.drun({ "init", kind }, { cwd = d })
    t.eq(r.code, 0, kind .. ": " .. r.stderr)
  end
  t.ok(fs.exists(d .. "/recipes/cms-prod.lua") and fs.exists(d .. "/recipes/fly-deploy.lua") and fs.exists(d .. "/recipes/docs-pages.lua"))
end)

t.test("init over files that exist refuses and writes nothing; --force replaces them and names each", function()
  local d = t.tmpdir()
  t.eq(t.drun({ "init", "pages", "deploy" }, { cwd = d }).code, 0)
  t.write(d .. "/deploy/docs-config.lua", "-- ours\nreturn {}\n")
  os.remove(d .. "/deploy/docs-pages.lua")
  local r = t.drun({ "init", "pages", "deploy" }, { cwd = d })
  t.eq(r.code, 2, r.stdout .. r.stderr)
  t.match(r.stderr, "drun init: deploy/docs%-config%.lua exists already: nothing written %(%-%-force replaces it%)")
  t.eq(fs.read(d .. "/deploy/docs-config.lua"), "-- ours\nreturn {}\n")
  t.ok(not fs.exists(d .. "/deploy/docs-pages.lua"), "nothing written, not even the missing file")
  r = t.drun({ "init", "pages", "deploy", "--force" }, { cwd = d })
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "replaced deploy/docs%-config%.lua\nwrote    deploy/docs%-pages%.lua")
  t.eq(fs.read(d .. "/deploy/docs-config.lua"), fs.read(ROOT .. "/recipes/docs-config.lua"))
end)

t.test("init: no flow, an unknown flow, two folders: usage errors; --help", function()
  local d = t.tmpdir()
  for _, argv in ipairs { { "init" }, { "init", "k8s" }, { "init", "cms", "a", "b" }, { "init", "cms", "--overwrite" } } do
    local r = t.drun(argv, { cwd = d })
    t.eq(r.code, 2, table.concat(argv, " ") .. ": " .. r.stderr)
    t.match(r.stderr, "^drun init: ")
  end
  t.eq(fs.try.list(d) and #fs.list(d), 0, "nothing written")
  local r = t.drun { "init", "--help" }
  t.eq(r.code, 0)
  t.match(r.stdout, "^Usage: drun init %[%-%-force%] %[%-h%] {cms,fly,compose,pages,types} %[<dir>%]")
end)
