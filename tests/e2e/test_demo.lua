-- The README's first command (make demo → tools/demo) is a test too: the
-- demo's own settings (health URLs, secrets) drift from the recipes'
-- otherwise, and nothing else runs it.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"

local ROOT = fs.realpath(os.getenv("DRUN_ROOT") or fs.cwd())

t.test("make demo: CMS staging and production, the Fly pipeline, promotion and a PR preview, the Compose restart and a PR preview, then the ledger; no process left", function()
  local bindir = t.DRUN:match("^(.*)/drun$")
  t.ok(bindir and bindir:sub(1, #ROOT + 1) == ROOT .. "/", "drun under the tree: " .. t.DRUN)
  local r = proc.run { ROOT .. "/tools/demo", bindir:sub(#ROOT + 2), cwd = ROOT, check = false, timeout = 240 }
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "cms %d+%.%d+%.%d+%+build%.%d+ is live in staging")
  t.match(r.stdout, "cms %d+%.%d+%.%d+%+build%.%d+ is live in production")
  local list = r.stdout:match("== drun ledger list\n(.*)$")
  t.ok(list, "the ledger is printed at the end")
  t.match(list, "\n%S+%s+cms%s+production%s+1%.5%.0%+build%.1%s+success")
  t.match(list, "\n%S+%s+cms%s+staging%s+1%.4%.0%+build%.1%s+success")
  t.match(list, "\n%S+%s+app%s+development%s+%x+%+build%.1%s+success") -- fly-deploy
  t.match(list, "\n%S+%s+app%s+staging%s+%x+%+build%.1%s+success")     -- fly-promote
  t.match(list, "\n%S+%s+app%s+pr%-%d+%s+%x+%+build%.%d+%s+success")    -- the preview's clean-up
  t.match(list, "\n%S+%s+app%s+production%s+%x+%+build%.1%s+success")  -- compose-restart
  t.match(r.stdout, "app %x+%+build%.1 is live in pr%-%d+")                 -- compose-preview, beside production:
  t.match(r.stdout, "/health answers {\"status\": \"ok\", \"version\": \"1%.2%.0%-search\".-production's .-\"version\": \"1%.1%.0\"")
  t.match(r.stdout, "app %x+%+build%.%d+ is removed from pr%-%d+ %([^)]*%)\n\n== drun ledger list") -- compose-preview-cleanup
  t.eq(proc.run({ "pgrep", "-f", "drun-demo[.]", check = false }).stdout, "", "a demo process outlived it")
end)
