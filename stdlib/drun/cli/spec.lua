-- The command line's one specification: every command, argument and flag of
-- drun, on Debian's lua-argparse (embedded as "argparse"). The parser reads
-- the arguments; the same tree prints `drun help`, each command's --help,
-- the bash, zsh and fish completions (argparse's own generators) and the man
-- page (drun.cli.man). Nothing else lists drun's commands or flags.
--
--   local spec = require "drun.cli.spec"
--   local res = spec.parse(argv)   -- res.command = "ledger", res.ledger_command = "list", res.json = true
--   spec.parser()                  -- the argparse tree (built once)
--   spec.find({ "ledger", "list" }) -- one command's parser, or nil
local argparse = require "argparse"
local args = require "drun.cli.args"

local M = {}

local EXIT_CODES = [[
Exit codes: 0 ok, 1 a step failed, 2 usage, parameters or config, 3 script
error, 4 lock held, 5 approval refused, 130 interrupted.]]

local ENVIRONMENT = [[
Environment: DRUN_LEDGER is the ledger's address when --ledger is not given;
DRUN_STDLIB_DIR=DIR loads drun's Lua library from DIR instead of the copy
built into the binary; NO_COLOR turns colour off.]]

-- (no USER:PASSWORD@ in it: drun's output masks what looks like a URL's credentials)
local LEDGER_ADDRESS = "The ledger: a path (sqlite), postgres://USER@HOST[:PORT]/DATABASE (the password from " ..
                       "PGPASSWORD), or d1://ACCOUNT_ID/DATABASE_ID (default: $DRUN_LEDGER, else .drun/ledger.db " ..
                       "at the repository root)."

-- A recipe's run flags: `drun run` and `drun RECIPE` (plan takes --ledger only).
local function recipe_args(cmd, what)
  cmd:argument("recipe", what):target "script"
  cmd:argument("params", "A recipe's parameters; a plain script gets them as arg[1..]."):args "*"
     :argname "key=value"
  cmd:option("--ledger", LEDGER_ADDRESS):argname "ADDRESS"
end

-- `run` and `plan`, also built alone: a recipe's flags are read by a parser
-- of just that command (drun.cli.recipe), not the whole tree
local RUN_NAME = { "run", "Run a recipe (its steps, recorded in the ledger) or any Lua script." }
local function RUN(run)
  recipe_args(run, "The Lua file to run.")
  run:flag("-y --yes", "Approve without asking (CI): a recipe with approval = \"required\" needs it without a terminal.")
  run:flag("--dry-run", "Say what each step would do; change nothing, record nothing.")
  run:mutex(run:flag("--auto-rollback", "On failure, undo the steps that ran (those with an undo), newest first."),
            run:flag("--no-auto-rollback", "On failure, leave things as they are, even where the recipe would undo."))
  run:flag("--json", "One JSON object per event on stdout (the ledger's shapes) instead of the human report.")
  run:option("--from", "Start at this step: a run that failed is resumed after its cause was mended."):argname "STEP"
  run:option("--wait-lock", "Wait up to SECONDS for the lock another run holds, instead of exiting 4."):argname "SECONDS"
  return run
end
local PLAN_NAME = { "plan", "What a recipe would do: params, ledger, lock, approval, preflight and steps; runs nothing." }
local function PLAN(plan)
  recipe_args(plan, "The recipe.")
  return plan
end

local function build()
  local p = argparse("drun", "A scriptable deploy runtime: flows as short Lua recipes, a ledger that knows who "
                     .. "shipped what.")
     :epilog("drun FILE.lua [args...] is short for drun run FILE.lua [args...].\n\n" .. EXIT_CODES .. "\n\n"
             .. ENVIRONMENT)
     :command_target "command"
     :require_command(false)
     :help_max_width(100)
  p:flag("--version", "drun's version and the versions of the libraries it loads.")
  p:flag("-v --verbose", "With --version: where drun's Lua library comes from, and the modules of "
         .. "recipes/ that stand in for drun's own.")
  p:option("-e", "Run a chunk of Lua; the arguments after CODE are its arg[1..]."):argname "CODE":target "code"

  RUN(p:command(table.unpack(RUN_NAME)))
  PLAN(p:command(table.unpack(PLAN_NAME)))

  local ledger = p:command("ledger", "The deployment ledger: who shipped what, where, and how it went.")
     :command_target "ledger_command"
  ledger:option("--ledger", LEDGER_ADDRESS):argname "ADDRESS"
  local function filters(cmd)
    cmd:option("--service", "Only this service."):argname "S"
    cmd:option("--env", "Only this environment."):argname "E"
  end
  local function json(cmd) cmd:flag("--json", "JSON in the shapes of the versioning API drun's ledger follows.") end
  local list = ledger:command("list", "Deployments, newest first.")
  filters(list)
  list:option("--status", "Only this outcome."):choices(require("drun.ledger.schema").STATUSES)
  list:option("--version", "Only this version."):argname "V"
  list:option("--branch", "Only deployments from this branch."):argname "B"
  list:option("--limit", "At most N (default 50)."):argname "N"
  json(list)
  local show = ledger:command("show", "One deployment with its steps.")
  show:argument("ref", "The deployment's id or full version."):argname "ID"
  json(show)
  local stats = ledger:command("stats", "Counts, success rate, durations and delivery metrics (deployments per "
                                .. "day, change failure rate, time to restore, lead time) over a window.")
  filters(stats)
  stats:option("--days", "The delivery metrics' window in days (default 30)."):argname "N"
  json(stats)
  local version = ledger:command("version", "The current version: the latest success.")
  filters(version)
  json(version)
  local mark = ledger:command("mark-rollback", "Record that a deployment was rolled back.")
  mark:argument("ref", "The deployment's id or full version."):argname "ID"
  mark:option("--reason", "Why, kept with the record."):argname "R"
  ledger:command("export", "JSON Lines, oldest first."):argument("file", "Write here instead of stdout."):args "?"
  ledger:command("import", "JSON Lines; idempotent by id."):argument("file", "Read here instead of stdin."):args "?"
  ledger:command("migrate", "Copy the whole history to another ledger (ids, build numbers and steps kept).")
        :option("--to", "The ledger to copy to."):argname "ADDRESS"
  ledger:command("sync", "Send the writes a run kept in .drun/journal/ when the shared ledger could not be reached.")
  json(ledger:command("locks", "The locks held: who holds each, and whether it still runs."))
  local serve = ledger:command("serve", "Answer the versioning API (/api/version, /api/deployments, "
                                .. "/api/deployments/stats) and an HTML dashboard over HTTP; read-only.")
  serve:option("--listen", "HOST:PORT to listen on (default 127.0.0.1:8080; [::1]:PORT for IPv6)."):argname "ADDR"
  serve:flag("--public", "Allow an address other than loopback: the dashboard and API have no authentication.")
  serve:option("--refresh", "Seconds between the dashboard's reloads (default 30; 0: never)."):argname "N"
  local unlock = ledger:command("unlock", "Release a lock.")
  unlock:argument("service", "The service."):argname "SERVICE":target "lock_service"
  unlock:argument("env", "The environment."):argname "ENV":target "lock_env"
  unlock:flag("--force", "Also when its holder may still run.")

  local init = p:command("init", "Write a shipped flow's config and one-line recipes into a repository, with "
                         .. "LuaLS stubs of drun's modules in .drun/types/ and a .luarc.json for editors.")
  init:argument("kind", "The flow; types: the editor support alone."):choices { "cms", "fly", "compose", "pages", "types" }
  init:argument("dir", "Where (default recipes)."):args "?"
  init:flag("--force", "Replace files that exist (each one is named).")

  p:command("help", "Help on drun or on one command."):argument("topic", "The command (ledger list: a subcommand)."):args "*"
   :argname "COMMAND"
  p:command("completion", "A shell completion script for drun on stdout.")
   :argument("shell", "The shell."):choices { "bash", "zsh", "fish" }
  p:command("man", "The man page drun.1 (troff) on stdout.")
  -- argparse sets result[command name] = true: `ledger` would clash with
  -- --ledger, `version` with --version; command_target names the command
  local function targets(parser)
    for _, c in ipairs(parser._commands) do
      c:target("command " .. c._name)
      targets(c)
    end
  end
  targets(p)
  return p
end

local tree
function M.parser()
  tree = tree or build()
  return tree
end

-- The parser of `drun run` (or `drun plan`) alone, for a recipe's flags:
-- the same elements as in the tree, a fraction of the tree to build.
local alone = {}
function M.recipe_parser(plan)
  local key = plan and "plan" or "run"
  if not alone[key] then
    local spec = plan and PLAN_NAME or RUN_NAME
    alone[key] = (plan and PLAN or RUN)(argparse("drun " .. spec[1], spec[2]))
  end
  return alone[key]
end

-- every command's parser, depth first, each with its path ({ "ledger", "list" })
function M.commands()
  local found = {}
  local function walk(p, path)
    for _, c in ipairs(p._commands) do
      local sub = table.move(path, 1, #path, 1, {})
      sub[#sub + 1] = c._name
      found[#found + 1] = { path = sub, parser = c }
      walk(c, sub)
    end
  end
  walk(M.parser(), {})
  return found
end

-- One command's parser by path, or nil.
function M.find(path)
  local p = M.parser()
  for _, name in ipairs(path) do
    local next_p
    for _, c in ipairs(p._commands) do
      for _, alias in ipairs(c._aliases) do
        if alias == name then next_p = c end
      end
    end
    if not next_p then return nil end
    p = next_p
  end
  return p
end

local HelpRequest = {}

-- parse(argv[, shown[, parser]]) -> result, or { help = parser } when
-- --help was asked for; a mistake is a usage error (exit 2) naming the
-- command it was made in ("drun ledger list: ..."), or `shown` for a
-- recipe's flags ("drun recipes/cms-prod.lua: ..."). parser: another root
-- than the whole tree (recipe_parser).
function M.parse(argv, shown, parser)
  local p = parser or M.parser()
  -- --help anywhere ends the parse with that command's help (argparse's own
  -- action prints and calls os.exit, which would skip drun's clean-up)
  local function with_help(parser)
    parser:add_help { action = function() error(setmetatable({ help = parser }, HelpRequest), 0) end }
    for _, c in ipairs(parser._commands) do with_help(c) end
  end
  if not p._drun_help then
    with_help(p)
    p._drun_help = true
  end
  local where
  local ok, res = pcall(p._parse, p, argv, function(parser, message)
    where = parser
    error(message, 0)
  end)
  if ok then return res end
  if getmetatable(res) == HelpRequest then return res end
  if not where then error(res, 0) end
  -- a negative number is no option: argparse's guesses at one ("did you mean -e?") only mislead
  if res:match("^unknown option '%-%d") then res = res:gsub("\n.*", "") end
  local name = shown and ("drun " .. shown) or where:_get_fullname()
  args.usage_error("%s%s\n(see %s --help)", name == "drun" and "" or (name .. ": "), res, name)
end

return M
