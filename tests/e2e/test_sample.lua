-- End to end: the README's first job, recipes/sample.lua, run for real.
local t = require "t"
local json = require "drun.json"
local fs = require "drun.fs"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

local function deploy(target)
  return t.drun({ "recipes/sample.lua", target }, { cwd = ROOT, env = { DRUN_BIN = false } })
end

t.test("sample recipe: releases, current link, pruning, JSON report", function()
  local target = t.tmpdir()
  local last
  for _ = 1, 4 do
    local r = deploy(target)
    t.eq(r.code, 0, r.stderr)
    last = json.decode(r.stdout)
    t.eq(last.status, "success")
  end
  t.match(last.release, "^%d+T%d+%.%d%d%d%-%w+$")
  t.eq(#last.steps, 5)
  t.eq(last.steps[3].result, '{"ok":true}')
  t.eq(#fs.list(target .. "/releases"), 3, "kept releases")
  t.eq(fs.realpath(target .. "/current"), fs.realpath(target .. "/releases/" .. last.release))
  local r = t.drun({ "--version" })
  t.eq(last.built, r.stdout:gsub("\n$", ""))
end)

t.test("sample recipe: a failing step stops the run and says so", function()
  local target = t.tmpdir()
  t.write(target .. "/releases", "a file where the releases directory should be")
  local r = deploy(target)
  t.eq(r.code, 1)
  local report = json.decode(r.stdout)
  t.eq(report.status, "failed")
  t.eq(report.steps[#report.steps].name, "upload")
  t.match(report.steps[#report.steps].error, "fs: cannot create directory")
end)
