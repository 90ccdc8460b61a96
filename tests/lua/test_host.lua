-- The drun binary: arguments, exit codes, error reports, module search.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"

t.test("missing script: one line, exit 2", function()
  local r = t.drun { "no/such/recipe.lua" }
  t.eq(r.code, 2)
  t.eq(r.stderr, "drun: cannot open no/such/recipe.lua: No such file or directory\n")
end)

t.test("syntax error: path:line: message, exit 3", function()
  local d = t.tmpdir()
  local f = t.write(d .. "/bad.lua", "local x = 1\nlocal y = = 2\n")
  local r = t.drun { f }
  t.eq(r.code, 3)
  t.match(r.stderr, "^drun: " .. f:gsub("%p", "%%%0") .. ":2: unexpected symbol near '='\n$")
end)

t.test("runtime error deep in a required module: traceback with file and line", function()
  local d = t.tmpdir()
  t.write(d .. "/lib/deep.lua", "local M = {}\nfunction M.go()\n  local t = nil\n  return t.field\nend\nreturn M\n")
  local f = t.write(d .. "/main.lua", "local deep = require 'deep'\n\ndeep.go()\n")
  local r = t.drun { f }
  t.eq(r.code, 3)
  t.match(r.stderr, "lib/deep%.lua:4: attempt to index a nil value")
  t.match(r.stderr, "stack traceback:")
  t.match(r.stderr, "main%.lua:3:")
end)

t.test("error raised with a table uses its message, never crashes", function()
  local r = t.drun { "-e", "error({ message = 'structured failure', code = 7 })" }
  t.eq(r.code, 3)
  t.match(r.stderr, "drun: structured failure")
  r = t.drun { "-e", "error(setmetatable({}, { __tostring = function() return 'custom' end }))" }
  t.match(r.stderr, "drun: custom")
  r = t.drun { "-e", "error(42.5)" }
  t.match(r.stderr, "drun: 42.5")
  r = t.drun { "-e", "error(true)" }
  t.match(r.stderr, "error object is a boolean value")
end)

t.test("-e runs code with arguments in arg and ...", function()
  local r = t.drun { "-e", "print(arg[1], select('#', ...), ...)", "a", "b" }
  t.eq(r.code, 0)
  t.eq(r.stdout, "a\t2\ta\tb\n")
end)

t.test("script gets arg[0] and arguments; shebang line allowed", function()
  local d = t.tmpdir()
  local f = t.write(d .. "/s.lua", "#!/usr/bin/env drun\nprint(arg[0] == ..., arg[1], #arg)\n")
  local r = t.drun { f, f }
  t.eq(r.stdout, "true\t" .. f .. "\t1\n")
end)

t.test("--version names drun and the linked libraries", function()
  local r = t.drun { "--version" }
  t.eq(r.code, 0)
  t.match(r.stdout, "^drun %S+ %(Lua 5%.4%.%d+, libcurl %d+%.%d+%.%d+, libgit2 %d+%.%d+%.%d+, sqlite 3%.%d+%.%d+%)\n$")
end)

t.test("--help, no arguments, unknown option, -e without code", function()
  t.match(t.drun({ "--help" }).stdout, "^Usage: drun .*drun FILE%.lua %[args%.%.%.%] is short for drun run")
  local r = t.drun {}
  t.eq(r.code, 2)
  t.match(r.stderr, "^Usage: drun")
  r = t.drun { "--frobnicate" }
  t.eq(r.code, 2)
  t.match(r.stderr, "unknown option '%-%-frobnicate'")
  t.eq(t.drun({ "-e" }).code, 2)
end)

t.test("embedded stdlib has chunk names under stdlib/", function()
  local r = t.drun { "-e", "require('drun.proc').run({})" }
  t.eq(r.code, 3)
  t.match(r.stderr, "proc: empty argv")
  t.match(r.stderr, "stack traceback:\n.*stdlib/drun/proc%.lua:%d+: in function 'drun%.proc%.run'")
  r = t.drun { "-e", "print(debug.getinfo(require('drun.proc').run, 'S').source)" }
  t.eq(r.stdout, "@stdlib/drun/proc.lua\n")
end)

t.test("DRUN_STDLIB_DIR loads the stdlib from disk", function()
  local d = t.tmpdir() -- a whole stdlib (drun.cli, the entry point, comes from it too), one module changed
  proc.run { "cp", "-R", (os.getenv("DRUN_ROOT") or fs.cwd()) .. "/stdlib/.", d }
  t.write(d .. "/drun/log.lua", "return { from_disk = true }\n")
  local r = t.drun({ "-e", "print(require('drun.log').from_disk)" }, { env = { DRUN_STDLIB_DIR = d } })
  t.eq(r.stdout, "true\n")
  r = t.drun({ "-e", "print(require('drun.log').from_disk)" })
  t.eq(r.stdout, "nil\n")
end)

t.test("require finds modules beside the script and in its lib/", function()
  local d = t.tmpdir()
  t.write(d .. "/sibling.lua", "return 'sibling'\n")
  t.write(d .. "/lib/helper.lua", "return 'helper'\n")
  local f = t.write(d .. "/recipe.lua", "print((require 'sibling'), (require 'helper'))\n")
  local r = t.drun({ f }, { cwd = "/" })
  t.eq(r.code, 0)
  t.eq(r.stdout, "sibling\thelper\n")
end)

t.test("require 'drun' loads modules lazily by name", function()
  local r = t.drun { "-e", "local d = require 'drun'; print(package.loaded['drun.json'] == nil, d.json.encode({1}), package.loaded['drun.json'] ~= nil)" }
  t.eq(r.stdout, "true\t[1]\ttrue\n")
end)

t.test("SIGINT stops a running script: exit 130, child terminated, no traceback", function()
  local d = t.tmpdir()
  local script = t.write(d .. "/long.lua", ([[
    local proc = require "drun.proc"
    proc.run { "sh", "-c", "echo $$ > %s/child.pid; exec sleep 30" }
  ]]):format(d))
  local r = require("drun.proc").run {
    "sh", "-c", [[
      "$0" "$1" 2>"$2/stderr" & pid=$!
      for i in $(seq 200); do [ -s "$2/child.pid" ] && break; sleep 0.05; done
      kill -INT $pid; wait $pid; echo "exit=$?"
      child=$(cat "$2/child.pid")
      if kill -0 "$child" 2>/dev/null; then echo child-alive; else echo child-gone; fi
    ]], t.DRUN, script, d,
    timeout = 30,
  }
  t.eq(r.stdout, "exit=130\nchild-gone\n")
  t.eq(fs.read(d .. "/stderr"), "drun: interrupted\n")
end)

t.test("SIGINT or SIGTERM during a Lua loop, a sleep or a child: exit 130", function()
  for _, sig in ipairs { "INT", "TERM" } do
    for _, code in ipairs { "while true do end", "require('drun.time').sleep(30)",
                            "require('drun.proc').run { 'sleep', '30' }" } do
      local r = require("drun.proc").run {
        "sh", "-c", '"$0" -e "$1" & pid=$!; sleep 0.3; kill -$2 $pid; wait $pid; echo "exit=$?"', t.DRUN, code, sig,
        timeout = 20,
      }
      t.eq(r.stdout, "exit=130\n", sig .. ": " .. code)
    end
  end
end)

t.test("any number of arguments (43 used to overflow Lua's stack: segfault)", function()
  for _, n in ipairs { 42, 43, 300, 5000 } do
    local args = { "-e", "print(select('#', ...), #arg, arg[#arg])" }
    for i = 1, n do args[#args + 1] = tostring(i) end
    local r = t.drun(args)
    t.eq(r.code, 0, n .. " arguments")
    t.eq(r.stdout, string.format("%d\t%d\t%d\n", n, n, n))
  end
  local d = t.tmpdir()
  local f = t.write(d .. "/r.lua", "local r = require('drun.recipe').new { name = 'x', service = 's', environment = 'e' }\n"
    .. "r:step('a', function() end)\nreturn r\n")
  local args = { f }
  for i = 1, 100 do args[#args + 1] = "k" .. i .. "=v" end
  local r = t.drun(args)
  t.eq(r.code, 2)
  t.match(r.stderr, "unknown parameter 'k%d+'")
end)
