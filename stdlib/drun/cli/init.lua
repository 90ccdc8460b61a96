-- drun.cli: the one entry point (runtime/main.c hands it the command line).
-- Returns an exit code, or the script the host is to run:
--   { script = FILE, args = {...}, plan = bool } or { code = CHUNK, args = {...} }
-- The host runs a script itself (its folder joins the module search first),
-- then hands a recipe's result to drun.cli.recipe. Every command and flag is
-- in drun.cli.spec; running a script does not build that parser (start-up
-- stays a few hundred microseconds of Lua): its flags are read by
-- drun.cli.recipe, once the file turned out to be a recipe.
-- (drun.cli.args and drun.core.out are required where used: a script's
-- start-up loads this file and nothing else)

-- the spec's commands: a first argument that is none of these is a script
-- (test_cli's help test runs `drun <command> --help` for each of the spec's)
local COMMANDS = { run = true, plan = true, ledger = true, init = true, help = true, completion = true, man = true }

local function after(argv, from) return table.move(argv, from, #argv, 1, {}) end

local function is_option(a) return a:sub(1, 1) == "-" and #a > 1 end

local function say(s) require("drun.core.out").write("stdout", s) end

-- --version [--verbose]: where the Lua library comes from and which of
-- recipes/ (where drun init writes) stand in for drun's own modules
local function version(verbose)
  local build = require "drun.core.build"
  say(build.describe() .. "\n")
  if not verbose then return 0 end
  local dir = os.getenv("DRUN_STDLIB_DIR")
  say("stdlib      " .. ((dir and dir ~= "") and (dir .. " (DRUN_STDLIB_DIR)") or "built in") .. "\n")
  local fs = require "drun.fs"
  local shadows = {}
  for _, folder in ipairs { "recipes", "recipes/lib" } do
    for _, path in ipairs(fs.exists(folder) and fs.glob(folder .. "/**/*.lua") or {}) do
      local name = path:sub(#folder + 2):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
      if require("drun.core.modules").is_drun_module(name) then
        shadows[#shadows + 1] = string.format("            %s from %s (not drun's own)", name, path)
      end
    end
  end
  table.sort(shadows)
  if #shadows > 0 then shadows[1] = "overrides" .. shadows[1]:sub(10) end
  say(#shadows > 0 and (table.concat(shadows, "\n") .. "\n") or "overrides   none in recipes/ or recipes/lib/\n")
  return 0
end

local function command(argv)
  local spec = require "drun.cli.spec"
  local args = require "drun.cli.args"
  if #argv == 0 then
    require("drun.core.out").write("stderr", spec.parser():get_usage() .. "\n\n(drun help: the commands; drun help COMMAND: one of them)\n")
    return 2
  end
  local res = spec.parse(argv)
  if res.help then
    say(res.help:get_help() .. "\n")
    return 0
  end
  local cmd = res.command
  if cmd == nil then
    if res.version then return version(res.verbose) end
    if res.code then return { code = res.code, args = {} } end
    args.usage_error("drun: a recipe, a script or a command is needed (drun help)")
  elseif cmd == "run" or cmd == "plan" then
    -- the script came after a flag (drun run --yes x.lua): its flags are read again by drun.cli.recipe
    local rest, seen = {}, false
    for i = 2, #argv do
      if not seen and argv[i] == res.script then seen = true else rest[#rest + 1] = argv[i] end
    end
    return { script = res.script, args = rest, plan = cmd == "plan" }
  elseif cmd == "ledger" then
    return require("drun.cli.ledger")(res)
  elseif cmd == "init" then
    return require("drun.cli.scaffold")(res)
  elseif cmd == "help" then
    local p = spec.find(res.topic)
    if not p then args.usage_error("drun help: no command '%s' (drun help lists them)", table.concat(res.topic, " ")) end
    say(p:get_help() .. "\n")
  elseif cmd == "completion" then
    local p = spec.parser()
    say(p["get_" .. res.shell .. "_complete"](p))
  elseif cmd == "man" then
    say(require("drun.cli.man")(spec))
  end
  return 0
end

return function(argv)
  local first = argv[1]
  if first == "-e" and argv[2] then return { code = argv[2], args = after(argv, 3) } end
  if first and not is_option(first) and not COMMANDS[first] then return { script = first, args = after(argv, 2) } end
  if (first == "run" or first == "plan") and argv[2] and not is_option(argv[2]) then
    return { script = argv[2], args = after(argv, 3), plan = first == "plan" }
  end
  local ok, res = pcall(command, argv)
  if ok then return res end
  if require("drun.cli.args").is_usage_error(res) then
    require("drun.core.out").write("stderr", (res.message:match("^drun[ :]") and "" or "drun: ") .. res.message .. "\n")
    return 2
  end
  error(res, 0)
end
