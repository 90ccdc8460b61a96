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
    local shipped, written = fs.read(ROOT .. "/recipes/" .. name .. ".lua"), fs.read(d .. "/deploy/" .. name .. ".lua")
    t.eq(written:sub(-#shipped), shipped, name .. " as shipped") -- the config under its key reference
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
  local shipped = fs.read(ROOT .. "/recipes/docs-config.lua")
  t.eq(fs.read(d .. "/deploy/docs-config.lua"):sub(-#shipped), shipped)
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

t.test("the config drun init writes starts with every key its schema knows, typed and described", function()
  local schema = require "drun.schema"
  for kind, config in pairs { cms = "cms-config", fly = "fly-config", compose = "compose-config", pages = "docs-config" } do
    local d = t.tmpdir()
    t.eq(t.drun({ "init", kind }, { cwd = d }).code, 0)
    local text = fs.read(d .. "/recipes/" .. config .. ".lua")
    t.match(text, "^%-%- Every key of this config %(drun%.flows%.schema%." .. kind .. "%)")
    for _, row in ipairs(schema.reference(require("drun.flows.schema." .. kind))) do
      t.ok(row.description, kind .. ": " .. row.key .. " has a description")
      local line = "\n%-%-   " .. row.key:gsub("%p", "%%%0") .. " +" .. schema.about(row):gsub("%p", "%%%0") .. "\n"
      t.match(text, line, kind .. ": " .. row.key)
    end
    -- what init wrote still loads and plans
    local first = { cms = "cms-staging", fly = "fly-deploy", compose = "compose-restart", pages = "docs-pages" }
    local r = t.drun({ "plan", "recipes/" .. first[kind] .. ".lua", kind == "pages" and "mode=staging" or nil }, { cwd = d })
    t.eq(r.code, 0, kind .. ": " .. r.stderr)
  end
end)

t.test("README's config tables are the schemas' (tools/config-tables.lua makes them)", function()
  local d = t.tmpdir()
  local r = t.drun { ROOT .. "/tools/config-tables.lua", ROOT .. "/README.md", d .. "/README.md" }
  t.eq(r.code, 0, r.stderr)
  t.ok(fs.read(d .. "/README.md") == fs.read(ROOT .. "/README.md"),
       "README's config tables are stale: build/drun tools/config-tables.lua")
end)
