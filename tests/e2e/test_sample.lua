-- End to end: the README's first job, recipes/sample.lua, run by the engine.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local ledger = require "drun.ledger"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

local function deploy(target, lp, ...)
  return t.drun({ "recipes/sample.lua", "target=" .. target, "--ledger", lp, ... }, { cwd = ROOT })
end

t.test("sample recipe: releases, current link, pruning, ledger records", function()
  local d = t.tmpdir()
  local target, lp = d .. "/deploy", d .. "/ledger.db"
  for i = 1, 4 do
    local r = deploy(target, lp)
    t.eq(r.code, 0, r.stdout .. r.stderr)
    t.match(r.stdout, "is live in local")
  end
  t.eq(#fs.list(target .. "/releases"), 3, "kept releases")
  local db = ledger.open(lp)
  local last = db:latest {}
  t.eq(last.status, "success")
  t.eq(last.build_number, 4)
  t.eq(fs.realpath(target .. "/current"), fs.realpath(target .. "/releases/" .. last.metadata.release))
  t.eq(t.drun({ "-e", "" }).code, 0)
end)

t.test("sample recipe: a failed smoke check rolls back to the previous release", function()
  local d = t.tmpdir()
  local target, lp = d .. "/deploy", d .. "/ledger.db"
  t.eq(deploy(target, lp).code, 0)
  local before = fs.realpath(target .. "/current")
  local r = deploy(target, lp, "fail_smoke=true")
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ smoke%-check failed")
  t.match(r.stdout, "undo:   rolled back: switch, upload")
  t.eq(fs.realpath(target .. "/current"), before, "current points at the previous release again")
  t.eq(#fs.list(target .. "/releases"), 1, "the failed release was removed")
  t.eq(ledger.open(lp):latest({}).status, "rollback")
end)

t.test("sample recipe: --json events and plan", function()
  local d = t.tmpdir()
  local r = deploy(d .. "/deploy", d .. "/ledger.db", "--json")
  t.eq(r.code, 0)
  local last
  for line in r.stdout:gmatch("[^\n]+") do last = json.decode(line) end
  t.eq(last.event, "recipe_end")
  t.eq(last.status, "success")
  r = t.drun({ "plan", "recipes/sample.lua" }, { cwd = ROOT })
  t.match(r.stdout, "steps\n%s+1%. inspect%s+what is shipped and what runs now%s+%[read%-only%]")
end)
