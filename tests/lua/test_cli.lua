-- The command line: one specification (drun.cli.spec) behind the parser, the
-- help, the completions and the man page.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local spec = require "drun.cli.spec"

-- every command path and every option alias the parser knows
local function everything()
  local names = {}
  local function options(p)
    for _, o in ipairs(p._options) do
      for _, alias in ipairs(o._aliases) do names[#names + 1] = alias end
    end
  end
  options(spec.parser())
  for _, c in ipairs(spec.commands()) do
    names[#names + 1] = c.path[#c.path]
    options(c.parser)
  end
  return names
end

t.test("the completions for bash, zsh and fish and the man page list every command and flag", function()
  local names = everything()
  t.ok(#names > 60, "the spec has its commands and flags: " .. #names)
  for _, what in ipairs { { "completion", "bash" }, { "completion", "zsh" }, { "completion", "fish" }, { "man" } } do
    local r = t.drun(what)
    t.eq(r.code, 0, r.stderr)
    -- the man page writes a hyphen as \-, bold and italics as \fB...\fR
    local text = what[1] == "man" and r.stdout:gsub("\\%-", "-"):gsub("\\f[BIR]", "") or r.stdout
    for _, name in ipairs(names) do
      -- fish names a flag -s h or -l help
      if what[2] == "fish" then name = name:gsub("^%-%-", "-l "):gsub("^%-(%w)$", "-s %1") end
      local plain = name:gsub("%p", "%%%0")
      t.match(text, "%f[%w%-]" .. plain .. "%f[^%w%-]", table.concat(what, " ") .. " lists " .. name)
    end
  end
end)

t.test("bash completes commands, subcommands, flags and choices from the same spec", function()
  local d = t.tmpdir()
  local script = t.write(d .. "/complete.sh", [[
source "$1"
complete_words() { COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 )); COMPREPLY=(); _drun; echo "${COMPREPLY[*]}"; }
complete_words drun ''
complete_words drun ledger li
complete_words drun ledger list --st
complete_words drun ledger list --status ''
]])
  local r = t.drun { "completion", "bash" }
  local file = t.write(d .. "/drun.bash", r.stdout)
  local out = proc.run { "bash", script, file }
  t.eq(out.stdout, "run plan ledger init help completion man\nlist\n--status\n"
       .. "running success failed rollback aborted\n")
end)

t.test("the man page is valid troff: groff renders it without a warning", function()
  local d = t.tmpdir()
  local page = t.write(d .. "/drun.1", t.drun({ "man" }).stdout)
  local r = proc.run { "groff", "-man", "-Tutf8", "-ww", "-z", page, check = false }
  t.eq(r.code, 0)
  t.eq(r.stderr, "")
  local text = proc.run({ "groff", "-man", "-Tutf8", page }).stdout:gsub(".\b", "")
  t.match(text, "drun ledger unlock")
  t.match(text, "%-%-wait%-lock SECONDS")
end)

t.test("help: drun help, drun help COMMAND, every command's --help", function()
  local r = t.drun { "help" }
  t.eq(r.code, 0)
  t.match(r.stdout, "^Usage: drun ")
  t.match(r.stdout, "\n   ledger +The deployment ledger")
  for _, c in ipairs(spec.commands()) do
    local argv = table.move(c.path, 1, #c.path, 1, {})
    argv[#argv + 1] = "--help"
    r = t.drun(argv)
    t.eq(r.code, 0, table.concat(argv, " ") .. ": " .. r.stderr)
    t.match(r.stdout, "^Usage: drun " .. table.concat(c.path, " "):gsub("%-", "%%-") .. " ", table.concat(argv, " "))
    local h = t.drun { "help", table.unpack(c.path) }
    t.eq(h.stdout, r.stdout, "drun help " .. table.concat(c.path, " ") .. " is its --help")
  end
  r = t.drun { "help", "ledger", "frobnicate" }
  t.eq(r.code, 2)
  t.match(r.stderr, "^drun help: no command 'ledger frobnicate'")
end)

t.test("mistakes: exit 2 naming the command, the reason and where to read more", function()
  for _, case in ipairs {
    { { "--frobnicate" }, "^drun: unknown option '%-%-frobnicate'\n%(see drun %-%-help%)" },
    { { "ledger", "lsit" }, "^drun ledger: unknown command 'lsit'\nDid you mean 'list'%?\n%(see drun ledger %-%-help%)" },
    { { "completion", "tcsh" }, "^drun completion: argument 'shell' must be one of 'bash', 'zsh', 'fish'" },
    { { "run" }, "^drun run: missing argument 'recipe'" },
    { { "plan", "--ledger" }, "^drun plan: option '%-%-ledger' requires an argument" },
    { { "-e" }, "option '%-e' requires an argument" },
    { { "--verbose" }, "^drun: a recipe, a script or a command is needed" },
  } do
    local r = t.drun(case[1])
    t.eq(r.code, 2, table.concat(case[1], " "))
    t.match(r.stderr, case[2], table.concat(case[1], " "))
    t.eq(r.stdout, "")
  end
end)

t.test("drun run FILE is drun FILE; the recipe's flags may come before it", function()
  local d = t.tmpdir()
  local f = t.write(d .. "/r.lua", [[
local r = require("drun.recipe").new { name = "r", service = "s", environment = "local", version = "1.0.0" }
r:step("hello", function(ctx) print("hello " .. ctx.service) end)
return r
]])
  local plain = t.write(d .. "/plain.lua", "print(select('#', ...), ...)\n")
  local ledger = d .. "/l.db"
  for _, argv in ipairs { { f, "--ledger", ledger }, { "run", f, "--ledger", ledger }, { "run", "--ledger", ledger, f } } do
    local r = t.drun(argv)
    t.eq(r.code, 0, table.concat(argv, " ") .. ": " .. r.stderr)
    t.match(r.stdout, "hello s")
  end
  -- a plain script gets its arguments as they are, flags included
  t.eq(t.drun({ "run", plain, "a", "--b" }).stdout, "2\ta\t--b\n")
  t.eq(t.drun({ plain, "--x=1" }).stdout, "1\t--x=1\n")
  -- a recipe's unknown flag names the recipe
  local r = t.drun { f, "--frobnicate" }
  t.eq(r.code, 2)
  t.match(r.stderr, "^drun " .. f:gsub("%p", "%%%0") .. ": unknown option '%-%-frobnicate'\n%(see drun .-r%.lua %-%-help%)")
  r = t.drun { f, "--auto-rollback", "--no-auto-rollback" }
  t.eq(r.code, 2)
  t.match(r.stderr, "can not be used together")
end)

t.test("--version --verbose: where the library comes from and the repository's overrides", function()
  local d = t.tmpdir()
  local r = t.drun({ "--version", "--verbose" }, { cwd = d })
  t.eq(r.code, 0)
  t.match(r.stdout, "\nstdlib      built in\noverrides   none in recipes/ or recipes/lib/\n$")
  t.write(d .. "/recipes/lib/drun/flows/cms.lua", "return {}\n")
  t.write(d .. "/recipes/lib/mine.lua", "return {}\n")
  r = t.drun({ "--version", "-v" }, { cwd = d })
  t.match(r.stdout, "\noverrides   drun%.flows%.cms from recipes/lib/drun/flows/cms%.lua %(not drun's own%)\n$")
  t.eq(fs.exists(d .. "/.drun"), false, "--version writes nothing")
end)
