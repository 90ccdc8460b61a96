-- Where `require` finds a recipe's modules: the recipe's folder, its lib/,
-- then drun's own (embedded), then Lua's path. The shipped flows are
-- drun.flows.*, so a repository's copy of a config and a one-line recipe
-- runs anywhere, and a repository's own module overrides drun's (plan says so).
local t = require "t"
local fs = require "drun.fs"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

t.test("a config and a one-line recipe copied into another repository run there: the flow is in the binary", function()
  local d = t.tmpdir()
  for _, name in ipairs { "cms-config.lua", "cms-staging.lua", "compose-config.lua", "compose-preview.lua" } do
    t.write(d .. "/deploy/" .. name, fs.read(ROOT .. "/recipes/" .. name))
  end
  local r = t.drun({ "plan", "deploy/cms-staging.lua" }, { cwd = d })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "recipe      cms%-staging")
  t.no_match(r.stdout, "modules ", "nothing overridden")
  r = t.drun({ "plan", "deploy/compose-preview.lua", "pr=3" }, { cwd = d })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "deploys     app → pr%-3")
end)

t.test("a module beside the recipe or in its lib/ overrides drun's of the same name, and plan names it", function()
  local d = t.tmpdir()
  t.write(d .. "/deploy/compose-config.lua", fs.read(ROOT .. "/recipes/compose-config.lua"))
  t.write(d .. "/deploy/compose-restart.lua", 'return require("drun.flows.compose").restart(require "compose-config")\n')
  -- the repository's own restart flow: drun's, with one more step
  t.write(d .. "/deploy/lib/drun/flows/compose.lua", [[
local flows = require "drun.flows.compose.preview"  -- drun's own modules stay reachable
local M = { preview = flows.preview }
function M.restart(c)
  local r = require("drun.flows.compose.restart").restart(c)
  r:step("announce", { description = "tell the team" }, function() end)
  return r
end
return M
]])
  local r = t.drun({ "plan", "deploy/compose-restart.lua" }, { cwd = d })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "modules     drun%.flows%.compose from deploy/lib/drun/flows/compose%.lua %(not drun's own%)")
  t.match(r.stdout, "announce +tell the team")
  -- beside the recipe wins over lib/
  t.write(d .. "/deploy/drun/flows/compose.lua", 'return { restart = function() return require("drun.recipe").new '
                                                   .. '{ name = "beside", service = "s", environment = "e" } end }\n')
  r = t.drun({ "plan", "deploy/compose-restart.lua" }, { cwd = d })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "recipe      beside")
  t.match(r.stdout, "from deploy/drun/flows/compose%.lua")
end)

t.test("an override with a syntax error is named with its path; a module in the working folder overrides nothing", function()
  local d = t.tmpdir()
  t.write(d .. "/deploy/r.lua", 'return require("drun.flows.compose").restart(require "compose-config")\n')
  t.write(d .. "/deploy/compose-config.lua", fs.read(ROOT .. "/recipes/compose-config.lua"))
  t.write(d .. "/deploy/lib/drun/flows/compose.lua", "local x = = 1\n")
  local r = t.drun({ "plan", "deploy/r.lua" }, { cwd = d })
  t.eq(r.code, 3, r.stdout .. r.stderr)
  t.match(r.stderr, "error loading module 'drun%.flows%.compose' from file 'deploy/lib/drun/flows/compose%.lua':\n"
                    .. "\tdeploy/lib/drun/flows/compose%.lua:1: unexpected symbol near '='")
  fs.remove(d .. "/deploy/lib", true)
  -- Lua's own path (./?.lua) comes after drun's modules: the working folder is not the recipe's
  t.write(d .. "/drun/flows/compose.lua", "error('the working folder was searched first')\n")
  r = t.drun({ "plan", "deploy/r.lua" }, { cwd = d })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.no_match(r.stdout, "modules ")
end)
