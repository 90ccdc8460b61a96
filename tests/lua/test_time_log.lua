-- drun.time, drun.log and drun.tabulate.
local t = require "t"
local time = require "drun.time"

t.test("monotonic clock and sleep", function()
  local a = time.now()
  time.sleep(0.05)
  local b = time.now()
  t.ok(b - a >= 0.049 and b - a < 1, "slept " .. (b - a))
  t.raises(function() time.sleep(-1) end, "negative duration")
end)

t.test("UTC ISO-8601", function()
  t.eq(time.utc(0), "1970-01-01T00:00:00Z")
  t.eq(time.utc(1795301234), "2026-11-21T22:47:14Z")
  t.match(time.utc(), "^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ$")
  t.ok(math.abs(time.unix() - os.time()) < 2)
end)

t.test("log writes levels to stderr, nothing to stdout", function()
  local r = t.drun { "-e", "local log = require 'drun.log'; log.info('hello %d', 5); log.warn('careful'); log.error('bad'); log.debug('hidden')" }
  t.eq(r.stdout, "")
  t.eq(r.stderr, "hello 5\nwarn: careful\nerror: bad\n")
  r = t.drun({ "-e", "require('drun.log').debug('shown')" }, { env = { DRUN_DEBUG = "1" } })
  t.eq(r.stderr, "debug: shown\n")
end)

t.test("log.sink takes over (for the recipe engine)", function()
  local log = require "drun.log"
  local got = {}
  log.sink = function(level, msg) got[#got + 1] = level .. "=" .. msg end
  log.warn("x %s", "y")
  log.sink = nil
  t.eq(got[1], "warn=x y")
end)

t.test("no colour when not a terminal", function()
  t.eq(require("drun.log").colour_enabled(), false)
end)

t.test("tabulate: aligned by characters, not bytes; header = false gives the rows alone", function()
  local tab = require "drun.tabulate"
  local rows = { { name = "usage-docs", status = "deployed", url = "https://x" }, { name = "dév", status = "skipped" } }
  local cols = { { "SITE", "name" }, { "STATUS", "status" }, { "URL", "url" } }
  t.eq(tab.tabulate(rows, cols), "SITE        STATUS    URL\nusage-docs  deployed  https://x\ndév         skipped\n")
  t.eq(tab.tabulate(rows, cols, { header = false }), "usage-docs  deployed  https://x\ndév         skipped\n")
end)
