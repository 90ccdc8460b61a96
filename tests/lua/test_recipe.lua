-- The recipe engine end to end: recipe files in temp dirs, run by the drun
-- binary, with a real ledger.
local t = require "t"
local json = require "drun.json"
local fs = require "drun.fs"
local proc = require "drun.proc"
local ledger = require "drun.ledger"

-- writes a recipe (the body after `local r = recipe.new{...}`) and returns
-- its path, the ledger path, and the dir
local function recipe_file(spec, steps)
  local d = t.tmpdir()
  local path = t.write(d .. "/recipes/test.lua", table.concat({
    'local recipe = require "drun.recipe"',
    "local r = recipe.new " .. spec,
    steps,
    "return r",
  }, "\n"))
  return path, d .. "/ledger.db", d
end

local function run(path, ledger_path, args, opts)
  local argv = { path, "--ledger", ledger_path }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  return t.drun(argv, opts)
end

local BASIC = [[{ name = "web-deploy", service = "web", environment = "staging", version = "1.2.0",
  params = { level = { default = "patch", choices = { "patch", "minor", "major" } },
             count = { default = 1 }, ticket = { required = true, description = "change ticket" } },
  rollback_hint = "drun recipes/rollback.lua to=${version}" }]]
local THREE = [[
r:step("build", { description = "compile it" }, function(ctx) ctx.run { "sh", "-c", "echo building $0", ctx.params.level } end)
r:step("deploy", { undo = function(ctx) ctx.log.info("undo deploy") end, on_failure = "web ${version} is half deployed" },
  function(ctx) ctx.set("version_id", "v-" .. ctx.build_number) end)
r:step("smoke", { on_failure = "new ${version} is live and bad" }, function(ctx)
  if ctx.params.count > 1 then error("smoke check failed: 503") end
end)
]]

t.test("happy path: steps in order, output indented, ledger success with full version", function()
  local path, lp = recipe_file(BASIC, THREE)
  local r = run(path, lp, { "ticket=CHG-1", "level=minor" })
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "^web 1%.2%.0%+build%.1 → staging  %(recipe web%-deploy")
  t.match(r.stdout, "%[1/3%] build  %+%d+%.%ds\n    building minor\n    ok %d+ms\n%[2/3%] deploy")
  t.match(r.stdout, "\nSTEP%s+STATUS%s+DURATION\nbuild%s+success")
  t.match(r.stdout, "web 1%.2%.0%+build%.1 is live in staging %(")
  local rec = ledger.open(lp):latest {}
  t.eq(rec.status, "success")
  t.eq(rec.full_version, "1.2.0+build.1")
  t.eq(rec.recipe, "web-deploy")
  t.eq(rec.metadata.version_id, "v-1")
  t.eq(rec.metadata.params.level, "minor")
  t.eq(#ledger.open(lp):record(rec.id).steps, 3)
end)

t.test("plan: params, approval, lock and steps; nothing runs", function()
  local path, lp = recipe_file(BASIC, THREE)
  local r = t.drun { "plan", path, "ticket=CHG-2" }
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "recipe      web%-deploy %(")
  t.match(r.stdout, "params      count = 1   %(default 1%)")
  t.match(r.stdout, "level = patch   %(choices: patch, minor, major; default patch%)")
  t.match(r.stdout, "ticket = CHG%-2   %(required; change ticket%)")
  t.match(r.stdout, "lock        web/staging")
  t.match(r.stdout, " 2%. deploy%s+%[has undo%]")
  t.eq(fs.exists(lp), false, "plan opened the ledger")
  r = t.drun { path, "--help" } -- without the required ticket: the defaults, and what is still to give
  t.match(r.stdout, "params      count = 1   %(default 1%)")
  t.match(r.stdout, "ticket = %(not given%)   %(required; change ticket%)")
end)

t.test("params: unknown key, bad choice, missing required, wrong type -> exit 2 with the valid ones", function()
  local path, lp = recipe_file(BASIC, THREE)
  for _, case in ipairs {
    { { "ticket=1", "colour=red" }, "unknown parameter 'colour'; valid: count, level, ticket" },
    { { "ticket=1", "level=huge" }, "parameter 'level' must be one of patch, minor, major %(got 'huge'%)" },
    { {}, "missing required parameter 'ticket' %(change ticket%)" },
    { { "ticket=1", "count=many" }, "parameter 'count' must be a decimal number %(got 'many'%)" },
    { { "ticket=1", "count=1e999" }, "parameter 'count' must be a finite number %(got '1e999'%)" },
    { { "ticket=1", "count=0x10" }, "parameter 'count' must be a decimal number %(got '0x10'%)" },
    { { "ticket=1", "count=2^63" }, "parameter 'count' must be a decimal number %(got '2%^63'%)" },
    { { "ticket=1", "count=9223372036854775808" }, "parameter 'count' must be a whole number between" },
    { { "ticket=1", "count=nan" }, "parameter 'count' must be a decimal number" },
    { { "ticket=1", "oops" }, "expected key=value, got 'oops'" },
    { { "ticket=1", "--frobnicate" }, "unknown option '%-%-frobnicate'" },
    { { "ticket=1", "--from", "nope" }, "%-%-from: no step 'nope'; steps: build, deploy, smoke" },
  } do
    local r = run(path, lp, case[1])
    t.eq(r.code, 2, table.concat(case[1], " "))
    t.match(r.stderr, case[2])
  end
  t.eq(fs.exists(lp), false, "nothing ran")
end)

t.test("a failing step: report with error location, done steps, state, next command; exit 1", function()
  local path, lp = recipe_file(BASIC, THREE)
  local r = run(path, lp, { "ticket=CHG-3", "count=2" })
  t.eq(r.code, 1)
  t.match(r.stdout, "✗ smoke failed after %d+ms\n  error:  [^\n]*recipes/test%.lua:10: smoke check failed: 503\n")
  t.match(r.stdout, "  done:   build, deploy\n")
  t.match(r.stdout, "  state:  new 1%.2%.0 is live and bad\n")
  t.match(r.stdout, "  undo:   not run %(auto%-rollback is off; %-%-auto%-rollback runs the undos of 1 step%(s%)%)\n")
  t.match(r.stdout, "  next:   drun recipes/rollback%.lua to=1%.2%.0\n")
  t.match(r.stdout, "web 1%.2%.0%+build%.1 → staging: FAILED at smoke")
  local rec = ledger.open(lp):latest {}
  t.eq(rec.status, "failed")
  t.eq(rec.failed_step, "smoke")
  t.match(rec.error, "smoke check failed: 503")
end)

t.test("--auto-rollback: undos of completed steps run in reverse; ledger says rollback", function()
  local path, lp = recipe_file(BASIC, [[
r:step("one", { undo = function(ctx) ctx.log.info("undo one") end }, function() end)
r:step("two", { undo = function(ctx) ctx.log.info("undo two") end }, function() end)
r:step("three", function() error("boom") end)
]])
  local r = run(path, lp, { "ticket=1", "--auto-rollback" })
  t.eq(r.code, 1)
  local a, b = r.stdout:find("undo two", 1, true), r.stdout:find("undo one", 1, true)
  t.ok(a and b and a < b, "undos in reverse order")
  t.match(r.stdout, "  undo:   rolled back: two, one\n")
  local db = ledger.open(lp)
  local rec = db:record(db:latest({}).id)
  t.eq(rec.status, "rollback")
  t.eq(rec.steps[4].name, "undo two")
  t.eq(rec.steps[5].name, "undo one")
end)

t.test("an undo that fails: ROLLBACK INCOMPLETE naming what is left; status failed", function()
  local path, lp = recipe_file(BASIC, [[
r:step("one", { undo = function() end }, function() end)
r:step("two", { undo = function() error("cannot restore the database") end }, function() end)
r:step("three", function() error("boom") end)
]])
  local r = run(path, lp, { "ticket=1", "--auto-rollback" })
  t.eq(r.code, 1)
  t.match(r.stdout, "ROLLBACK INCOMPLETE: these steps could not be undone and are still in effect: two %(.-cannot restore the database%)")
  t.eq(ledger.open(lp):latest({}).status, "failed")
end)

t.test("a recipe's auto_rollback default, and --no-auto-rollback", function()
  local spec = BASIC:gsub("rollback_hint", "auto_rollback = true, rollback_hint")
  local path, lp = recipe_file(spec, [[
r:step("one", { undo = function(ctx) ctx.log.info("undone") end }, function() end)
r:step("two", function() error("boom") end)
]])
  t.match(run(path, lp, { "ticket=1" }).stdout, "undone")
  t.no_match(run(path, lp, { "ticket=1", "--no-auto-rollback" }).stdout, "undone")
end)

t.test("a step that raises a table: its message is reported", function()
  local path, lp = recipe_file(BASIC, [[
r:step("one", function() error({ message = "structured: quota exceeded", code = 429 }) end)
r:step("two", function() error(setmetatable({}, { __tostring = function() return "custom tostring" end })) end)
]])
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 1)
  t.match(r.stdout, "error:  structured: quota exceeded")
  path, lp = recipe_file(BASIC, [[r:step("two", function() error(setmetatable({}, { __tostring = function() return "custom tostring" end })) end)]])
  t.match(run(path, lp, { "ticket=1" }).stdout, "error:  custom tostring")
  path, lp = recipe_file(BASIC, [[r:step("three", function() error({ 1, 2 }) end)]])
  t.match(run(path, lp, { "ticket=1" }).stdout, "error:  error object %[1,2%]")
end)

t.test("a recipe that returns nothing, or not a recipe", function()
  local d = t.tmpdir()
  local p1 = t.write(d .. "/a.lua", 'local r = require("drun.recipe").new { name = "x", service = "s", environment = "e" }\n')
  local r = t.drun { p1 }
  t.eq(r.code, 3)
  t.match(r.stderr, "a%.lua created recipe 'x' but returned nothing: end the file with `return r`")
  local p2 = t.write(d .. "/b.lua", 'local r = require("drun.recipe").new { name = "x", service = "s", environment = "e" }\nreturn 42\n')
  t.match(t.drun({ p2 }).stderr, "returned a number")
  local p3 = t.write(d .. "/c.lua", "print('just a script')\n")
  r = t.drun { "plan", p3 }
  t.eq(r.code, 3)
  t.match(r.stderr, "c%.lua is not a recipe")
  t.eq(t.drun({ p3 }).code, 0, "a plain script still runs")
end)

t.test("definition errors: duplicate step names, bad options -> exit 3 with file and line", function()
  local path, lp = recipe_file(BASIC, 'r:step("a", function() end)\nr:step("a", function() end)')
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 3)
  t.match(r.stderr, "recipes/test%.lua:7: recipe web%-deploy: duplicate step name 'a'")
  path, lp = recipe_file(BASIC, 'r:step("a", { timeout = -1 }, function() end)')
  t.match(run(path, lp, { "ticket=1" }).stderr, "timeout must be a positive number")
  path, lp = recipe_file('{ name = "x", service = "s" }', "")
  t.match(run(path, lp, {}).stderr, "recipe%.new: 'environment' is required")
end)

t.test("--from skips earlier steps and records them skipped", function()
  local path, lp = recipe_file(BASIC, THREE)
  local r = run(path, lp, { "ticket=1", "--from", "smoke" })
  t.eq(r.code, 0, r.stderr)
  t.no_match(r.stdout, "building")
  t.match(r.stdout, "build%s+skipped")
  local db = ledger.open(lp)
  local steps = db:record(db:latest({}).id).steps
  t.eq(steps[1].status, "skipped")
  t.eq(steps[3].status, "success")
end)

t.test("a lock held by a live process: exit 4 naming the holder; --wait-lock waits", function()
  local path, lp = recipe_file(BASIC, THREE)
  local holder = [[
    local db = require('drun.ledger').open(arg[1])
    db:lock('web', 'staging', { recipe = 'other-deploy' })
    io.open(arg[2], 'w'):close()
    require('drun.time').sleep(tonumber(arg[3]))
  ]]
  local hp = t.write(fs.dirname(lp) .. "/holder.lua", holder)
  local r = proc.run { "sh", "-c", [[
    "$0" "$1" "$2" "$3.ready" 30 & h=$!
    for i in $(seq 200); do [ -e "$3.ready" ] && break; sleep 0.05; done
    "$0" "$4" --ledger "$2" ticket=1; echo "exit=$?"
    kill $h; wait $h 2>/dev/null; true
  ]], t.DRUN, hp, lp, lp, path, timeout = 60 }
  t.match(r.stdout, "exit=4\n")
  t.match(r.stdout, "web/staging is locked by pid %d+ on %S+ %(recipe other%-deploy, since")
  t.match(r.stdout, "nothing was run; wait for it, or re%-run with %-%-wait%-lock SECONDS")
  -- --wait-lock: the holder lets go after a second
  r = proc.run { "sh", "-c", [[
    rm -f "$3.ready"; "$0" "$1" "$2" "$3.ready" 1 & h=$!
    for i in $(seq 200); do [ -e "$3.ready" ] && break; sleep 0.05; done
    "$0" "$4" --ledger "$2" ticket=1 --wait-lock 10; echo "exit=$?"; wait $h
  ]], t.DRUN, hp, lp, lp, path, timeout = 60 }
  t.match(r.stdout, "exit=0\n")
end)

t.test("a lock held by a dead process: taken over with a warning, the run goes on", function()
  local path, lp = recipe_file(BASIC, THREE)
  local hp = t.write(fs.dirname(lp) .. "/dies.lua", [[
    local db = require('drun.ledger').open(arg[1])
    db:lock('web', 'staging', { recipe = 'crashed-deploy' })
    os.exit(9)  -- dies holding the lock
  ]])
  t.drun { hp, lp }
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stderr, "took over the lock on web/staging from pid %d+ on %S+ %(recipe crashed%-deploy")
end)

t.test("approval: required without a TTY and without --yes -> exit 5; --yes records the approver", function()
  local spec = BASIC:gsub('version = "1.2.0",', 'version = "1.2.0", approval = "required",')
  local path, lp = recipe_file(spec, THREE)
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 5)
  t.match(r.stdout, "approval required: re%-run with %-%-yes")
  -- the ledger was reached first (preflight: it must be there before anyone approves), and has no record
  t.eq(ledger.open(lp):latest {}, nil, "nothing ran, nothing recorded")
  r = run(path, lp, { "ticket=1", "--yes" }, { env = { GITHUB_ACTOR = "alice" } })
  t.eq(r.code, 0, r.stderr)
  local rec = ledger.open(lp):latest {}
  t.eq(rec.metadata.approved_by, "alice")
  t.eq(rec.metadata.approval, "--yes")
end)

t.test("approval on a terminal: yes deploys, anything else refuses", function()
  local spec = BASIC:gsub('version = "1.2.0",', 'version = "1.2.0", approval = "required",')
  local path, lp = recipe_file(spec, THREE)
  local function on_tty(answer)
    return proc.run { "sh", "-c", [[printf '%s\n' "$0" | script -qec "$1 $2 --ledger $3 ticket=1" /dev/null; echo "exit=$?"]],
                      answer, t.DRUN, path, lp, timeout = 30 }.stdout
  end
  local s = on_tty("yes")
  t.match(s, "About to deploy web 1%.2%.0 to staging")
  t.match(s, "is live in staging")
  t.match(s, "exit=0")
  s = on_tty("no")
  t.match(s, "approval refused")
  t.match(s, "exit=5")
  t.eq(ledger.open(lp):latest({}).metadata.approval, "prompt")
end)

t.test("a step that times out: the child is killed, the step fails", function()
  local path, lp = recipe_file(BASIC, [[
r:step("slow", { timeout = 0.5 }, function(ctx) ctx.run { "sleep", "30" } end)
r:step("spin", { timeout = 0.3 }, function() while true do end end)
]])
  local t0 = require("drun.time").now()
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 1)
  t.match(r.stdout, "command 'sleep 30' timed out after 0%.%ds and was killed")
  t.ok(require("drun.time").now() - t0 < 10)
  path, lp = recipe_file(BASIC, 'r:step("spin", { timeout = 0.3 }, function() while true do end end)')
  r = run(path, lp, { "ticket=1" })
  t.match(r.stdout, "step timed out after 0%.3s")
end)

t.test("Ctrl-C during a step: child terminated, status aborted, report, exit 130", function()
  local piddir = t.tmpdir()
  local path, lp, d = recipe_file(BASIC, ([[
r:step("long", function(ctx) ctx.run { "sh", "-c", "echo $$ > %s/child.pid; exec sleep 30" } end)
r:step("after", function() end)
]]):format(piddir))
  local r = proc.run { "sh", "-c", [[
    "$0" "$1" --ledger "$2" ticket=1 > "$3/out" 2>&1 & pid=$!
    for i in $(seq 200); do [ -s "$4/child.pid" ] && break; sleep 0.05; done
    kill -INT $pid; wait $pid; echo "exit=$?"
    if kill -0 "$(cat "$4/child.pid")" 2>/dev/null; then echo child-alive; else echo child-gone; fi
  ]], t.DRUN, path, lp, d, piddir, timeout = 60 }
  t.eq(r.stdout, "exit=130\nchild-gone\n")
  local o = fs.read(d .. "/out")
  t.match(o, "✗ long failed")
  t.match(o, "error:  interrupted %(Ctrl%-C%)")
  t.match(o, "undo:   not run %(interrupted%)")
  t.eq(ledger.open(lp):latest({}).status, "aborted")
end)

t.test("--json: JSON Lines events on stdout, human text on stderr", function()
  local path, lp = recipe_file(BASIC, THREE)
  local r = run(path, lp, { "ticket=1", "count=2", "--json" })
  t.eq(r.code, 1)
  local events = {}
  for line in r.stdout:gmatch("[^\n]+") do events[#events + 1] = json.decode(line) end
  local kinds = {}
  for i, e in ipairs(events) do
    kinds[i] = e.event
    t.eq(e.recipe, "web-deploy")
    t.match(e.time, "^%d+%-%d+%-%d+T")
  end
  t.eq(table.concat(kinds, ","), "recipe_start,step_start,output,step_end,step_start,step_end,step_start,step_end,recipe_end")
  t.eq(events[1].full_version, "1.2.0+build.1")
  t.eq(#events[1].steps, 3)
  t.eq(events[3].line, "building patch")
  t.eq(events[3].stream, "stdout")
  t.eq(events[8].status, "failed")
  t.match(events[8].error, "smoke check failed")
  t.eq(events[9].status, "failed")
  t.eq(events[9].exit_code, 1)
  t.eq(events[9].failed_step, "smoke")
  t.match(r.stderr, "%[1/3%] build")
end)

t.test("under GitHub Actions: groups, an error annotation, a step summary", function()
  local path, lp, d = recipe_file(BASIC, THREE)
  local summary = d .. "/summary.md"
  local r = run(path, lp, { "ticket=1", "count=2" }, { env = { GITHUB_ACTIONS = "true", GITHUB_STEP_SUMMARY = summary } })
  t.match(r.stdout, "::group::%[1/3%] build\n")
  t.match(r.stdout, "::endgroup::\n")
  t.match(r.stdout, "::error title=smoke failed::[^\n]*smoke check failed: 503%%0Astate: new 1%.2%.0 is live and bad\n")
  local md = fs.read(summary)
  t.match(md, "### web 1%.2%.0%+build%.1 → staging: FAILED at smoke")
  t.match(md, "| smoke | failed | %d+ms |")
end)

t.test("GitHub Actions: the annotation points at the failed step's line, with data and property escaping done right", function()
  local path, lp, d = recipe_file([[{ name = "esc", service = "web", environment = "staging", version = "1.0.0" }]], [[
r:step("check, then: go", function(ctx)
  error("100% broken:\r\nsee, here", 0)
end)
]])
  local r = run(path, lp, {}, { cwd = d, env = { GITHUB_ACTIONS = "true", GITHUB_WORKSPACE = d } })
  t.eq(r.code, 1)
  -- actions/toolkit command.ts: escapeData (% CR LF) for the message, escapeProperty (also : and ,) for file and title
  t.match(r.stdout, "\n::error file=recipes/test%.lua,line=3,title=check%%2C then%%3A go failed::100%%25 broken:%%0D%%0Asee, here\n",
          r.stdout)
  -- a recipe outside the workspace: no file= GitHub could not show
  r = run(path, lp, {}, { cwd = d, env = { GITHUB_ACTIONS = "true", GITHUB_WORKSPACE = t.tmpdir() } })
  t.match(r.stdout, "\n::error title=check%%2C then%%3A go failed::")
end)

t.test("$GITHUB_OUTPUT: record_id, full_version, version, status and ctx.output values, in the runner's delimiter form, masked", function()
  local path, lp, d = recipe_file([[{ name = "out", service = "web", environment = "staging", version = "2.0.0" }]], [[
r:step("one", function(ctx)
  ctx.output("url", "https://web.example/pr-1")
  ctx.output("notes", "line one\nline two")
  ctx.output("url", "https://web.example/pr-2") -- the last value wins
  ctx.output("token_shown", os.getenv("API_TOKEN"))
  local ok, e = pcall(ctx.output, "bad name", "x")
  ctx.log.info("bad name: %s", tostring(e))
  ok, e = pcall(ctx.output, "t", {})
  ctx.log.info("table: %s", tostring(e))
end)
]])
  local file = d .. "/output"
  local r = run(path, lp, {}, { env = { GITHUB_OUTPUT = file, API_TOKEN = "tok-abcdef123456" } })
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "bad name: ctx%.output: name must be letters, digits, _ and %-")
  t.match(r.stdout, "table: ctx%.output: value must be text, a number or a boolean")
  local outputs = require("runner").outputs { GITHUB_OUTPUT = file }
  local rec = ledger.open(lp):latest {}
  t.eq(outputs.record_id, rec.id)
  t.eq(outputs.full_version, "2.0.0+build.1")
  t.eq(outputs.version, "2.0.0")
  t.eq(outputs.status, "success")
  t.eq(outputs.url, "https://web.example/pr-2")
  t.eq(outputs.notes, "line one\nline two")
  t.eq(outputs.token_shown, "***")
  t.no_match(fs.read(file), "tok%-abcdef")
  t.match(fs.read(file), "^record_id<<ghadelimiter_%w+\n")
  -- a failed run says so too; an output file that cannot be written is a warning, never a failure
  r = run(path, lp, {}, { env = { GITHUB_OUTPUT = d, API_TOKEN = "tok-abcdef123456" } })
  t.eq(r.code, 0)
  t.match(r.stdout, "drun: warning: cannot write the job's outputs %(%$GITHUB_OUTPUT%)")
end)

t.test("needs: an unknown need or a wrong shape is the recipe's error, named where it is declared", function()
  local path, lp = recipe_file([[{ name = "n", service = "web", environment = "staging", needs = { "cleen" } }]], "")
  local r = run(path, lp, {})
  t.eq(r.code, 3)
  t.match(r.stderr, "unknown need 'cleen' %(known: identity, clean, history, tags, push, release, check%)")
  path, lp = recipe_file([[{ name = "n", service = "web", environment = "staging" }]],
                         [[r:step("s", { needs = { { push = true } } }, function() end)]])
  r = run(path, lp, {})
  t.eq(r.code, 3)
  t.match(r.stderr, "step 's': each need is a name or a table")
end)

-- a flow's own checks (the CMS release checklist): run before anything,
-- every failure listed; skip_checks skips one, says so and records it; a
-- skip that names no check is refused, not ignored
local CHECKED = [[{ name = "rel", service = "web", environment = "production",
  params = { skip_checks = { default = "" }, bad = { default = false } },
  needs = { { "check", id = "staging-commit", describe = "staging runs it", run = function(ctx)
              if ctx.params.bad then error("staging runs abc, not def") end return "staging runs def" end },
            { "check", id = "quiet-hours", describe = "not on a Friday", run = function(ctx)
              if ctx.params.bad then error("it is Friday") end end } } }]]

t.test("needs: a flow's own checks run before anything; skip_checks skips one and records it", function()
  local path, lp = recipe_file(CHECKED, [[r:step("deploy", function(ctx) ctx.log.info("DEPLOYED") end)]])
  local r = run(path, lp, {})
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "ok   quiet%-hours%s+ok\n")
  t.match(r.stdout, "ok   staging%-commit%s+staging runs def")
  r = run(path, lp, { "bad=true" })
  t.eq(r.code, 1)
  t.match(r.stdout, "FAIL quiet%-hours%s+it is Friday")
  t.match(r.stdout, "FAIL staging%-commit%s+staging runs abc, not def")
  t.no_match(r.stdout, "DEPLOYED")
  t.eq(#ledger.open(lp):history { all = true }, 1, "the refused run left no record")
  r = run(path, lp, { "bad=true", "skip_checks=staging-commit,quiet-hours" })
  t.eq(r.code, 0, r.stdout)
  t.match(r.stdout, "ok   staging%-commit%s+SKIPPED %(skip_checks=staging%-commit; recorded")
  t.match(r.stdout, "warn: check quiet%-hours skipped by skip_checks: not on a Friday is not verified")
  t.match(r.stdout, "DEPLOYED")
  t.eq(ledger.open(lp):latest({}).metadata.params.skip_checks, "staging-commit,quiet-hours")
  r = run(path, lp, { "skip_checks=staging-comit" })
  t.eq(r.code, 1)
  t.match(r.stdout, "FAIL skip_checks%s+'staging%-comit' is no check of this run %(its checks: quiet%-hours, staging%-commit%)")
  t.no_match(r.stdout, "DEPLOYED")
  path, lp = recipe_file([[{ name = "n", service = "web", environment = "staging", needs = { { "check", id = "x y" } } }]], "")
  r = run(path, lp, {})
  t.eq(r.code, 3)
  t.match(r.stderr, "a check needs id %(letters, digits, %- and _%) and run = function%(ctx%)")
end)

t.test("--dry-run: read-only calls run, mutating ones are printed, the ledger is untouched", function()
  local d0 = t.tmpdir()
  proc.run { "git", "init", "-q", d0 }
  proc.run { "git", "-C", d0, "-c", "user.name=x", "-c", "user.email=y", "commit", "-q", "--allow-empty", "-m", "x" }
  local path, lp, d = recipe_file(BASIC, ([[
r:step("look", { read_only = true }, function(ctx) ctx.run { "echo", "read-only step ran" } end)
r:step("change", function(ctx)
  ctx.run { "touch", %q }
  require("drun.proc").run { "touch", %q .. "-direct" } -- the primitive itself, not ctx.run
  ctx.run { "echo", "explicitly read-only", read_only = true }
  ctx.http.post("http://127.0.0.1:9/deploy", { json = { x = 1 } })
  ctx.git:tag("v-dry")
  ctx.set("k", "v")
end)
]]):format(d0 .. "/created-by-step", d0 .. "/created-by-step"))
  local r = run(path, lp, { "ticket=1", "--dry-run" }, { cwd = d0 })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout, "%[dry%-run%]")
  t.match(r.stdout, "read%-only step ran")
  t.match(r.stdout, "explicitly read%-only")
  t.match(r.stdout, "dry%-run: would record web 1%.2%.0 → staging in the ledger and lock web/staging")
  t.match(r.stdout, "dry%-run: would touch " .. (d0 .. "/created-by-step"):gsub("%p", "%%%0"))
  t.match(r.stdout, "dry%-run: would POST http://127%.0%.0%.1:9/deploy")
  t.match(r.stdout, "dry%-run: would create tag v%-dry")
  t.eq(fs.exists(d0 .. "/created-by-step"), false)
  t.eq(fs.exists(d0 .. "/created-by-step-direct"), false, "drun.proc enforces --dry-run too")
  t.eq(fs.exists(lp), false, "ledger written")
  t.eq(proc.output { "git", "-C", d0, "tag" }, "")
end)

t.test("a secret appears in no output, event, step summary, ledger row or error", function()
  local secret = "sk-secret-deploy-token-42"
  local path, lp, d = recipe_file(BASIC, [[
r:step("use", function(ctx)
  local tok = ctx.secret("DEPLOY_TOKEN")
  print("print " .. tok)
  ctx.log.info("log %s", tok)
  ctx.run { "sh", "-c", 'echo "child $DEPLOY_TOKEN"; echo "err $DEPLOY_TOKEN" >&2' }
  ctx.set("header", "Bearer " .. tok)
end)
r:step("fail", { on_failure = "state mentions ${token_hint}" }, function(ctx)
  error("failed with " .. os.getenv("DEPLOY_TOKEN"))
end)
]])
  local summary = d .. "/summary.md"
  for _, flags in ipairs { {}, { "--json" } } do
    local args = { "ticket=1" }
    for _, f in ipairs(flags) do args[#args + 1] = f end
    local r = run(path, lp, args, { env = { DEPLOY_TOKEN = secret, GITHUB_STEP_SUMMARY = summary, GITHUB_ACTIONS = "true" } })
    t.eq(r.code, 1)
    local shown = (r.stdout .. r.stderr):gsub("::add%-mask::[^\n]*\n", "") -- for the runner, never displayed
    t.no_match(shown, secret, "output " .. table.concat(flags, " "))
    t.match(shown, "child %*%*%*")
  end
  t.no_match(fs.read(summary), secret, "step summary")
  t.no_match(proc.output { "sqlite3", lp, ".dump" }, secret, "ledger")
  t.match(proc.output { "sqlite3", lp, ".dump" }, "failed with %*%*%*")
end)

t.test("a step's Lua error names the recipe file and line", function()
  local path, lp = recipe_file(BASIC, 'r:step("bad", function(ctx)\n  local x = nil\n  return x.field\nend)')
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 1)
  t.match(r.stdout, "error:  [^\n]*recipes/test%.lua:8: attempt to index a nil value %(local 'x'%)")
end)

t.test("the ledger cannot be written: nothing runs", function()
  local path, _, d = recipe_file(BASIC, 'r:step("s", function() error("must not run") end)')
  local bad = t.write(d .. "/not-a-ledger.db", string.rep("garbage!", 100))
  local r = run(path, bad, { "ticket=1" })
  t.eq(r.code, 1)
  t.match(r.stdout, "is not a drun ledger")
  t.match(r.stdout, "nothing was run: drun does not deploy unrecorded")
  t.no_match(r.stdout, "must not run")
end)

t.test("a version function that fails is a recipe error before anything runs", function()
  local spec = BASIC:gsub('version = "1.2.0",', 'version = function() error("package.json has no version") end,')
  local path, lp = recipe_file(spec, THREE)
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 3)
  t.match(r.stdout, "package%.json has no version")
  t.eq(fs.exists(lp), false)
end)

t.test("declared secrets are checked before anything runs: exit 2", function()
  local spec = BASIC:gsub('version = "1.2.0",', 'version = "1.2.0", secrets = { "DEPLOY_API_TOKEN" },')
  local path, lp = recipe_file(spec, 'r:step("s", function() error("must not run") end)')
  local r = run(path, lp, { "ticket=1" }, { env = { DEPLOY_API_TOKEN = false } })
  t.eq(r.code, 2)
  t.match(r.stdout, "env: secret DEPLOY_API_TOKEN is not set; export it before running drun\nnothing was run")
  t.eq(fs.exists(lp), false)
  r = run(path, lp, { "ticket=1" }, { env = { DEPLOY_API_TOKEN = "tok-1234" } })
  t.match(r.stdout, "must not run") -- with the secret it gets as far as the step
end)

t.test("lock and secrets chosen by the params: a preview run neither locks nor needs the release token", function()
  local spec = BASIC:gsub('version = "1.2.0",', 'version = "1.2.0", lock = function(p) return p.level ~= "patch" end, '
    .. 'secrets = function(p) return p.level == "major" and { "RELEASE_TOKEN" } or {} end,')
  local path, lp = recipe_file(spec, 'r:step("s", function(ctx) ctx.log.info("ran") end)')
  local db = ledger.open(lp)
  db:lock("web", "staging", { recipe = "other-deploy" })
  local r = run(path, lp, { "ticket=1" }, { env = { RELEASE_TOKEN = false } })
  t.eq(r.code, 0, r.stdout .. r.stderr) -- patch: no lock taken, no secret wanted
  r = run(path, lp, { "ticket=1", "level=minor" }, { env = { RELEASE_TOKEN = false } })
  t.eq(r.code, 4, r.stdout) -- minor: locks, and the lock is held
  db:unlock("web", "staging")
  db:close()
  r = run(path, lp, { "ticket=1", "level=major" }, { env = { RELEASE_TOKEN = false } })
  t.eq(r.code, 2)
  t.match(r.stdout, "secret RELEASE_TOKEN is not set")
  r = t.drun { path, "--help" }
  t.match(r.stdout, "lock        depends on the params")
end)

t.test("validate: parameters that are wrong only together are a usage error (exit 2), nothing recorded", function()
  local spec = BASIC:gsub('version = "1.2.0",', 'version = "1.2.0", validate = function(p) '
    .. 'if p.level == "major" and p.count < 2 then return "level=major needs count=2 or more (two approvers)" end end,')
  local path, lp = recipe_file(spec, 'r:step("s", function(ctx) ctx.log.info("ran") end)')
  local r = run(path, lp, { "ticket=1", "level=major" })
  t.eq(r.code, 2)
  t.match(r.stderr, "level=major needs count=2 or more %(two approvers%)")
  t.eq(fs.exists(lp), false)
  t.eq(run(path, lp, { "ticket=1", "level=major", "count=2" }).code, 0)
end)

t.test("a reader that goes away (drun ... | head -1) does not stop the deploy halfway", function()
  local d = t.tmpdir()
  local path, lp = recipe_file(BASIC, ([[
r:step("wait", function(ctx) ctx.run { "sleep", "0.3" } end) -- head has exited by now
r:step("deploy", function(ctx) for i = 1, 50 do ctx.log.info("line %%d", i) end end)
r:step("mark", function(ctx) ctx.fs.write(%q, "deployed") end)
]]):format(d .. "/marker"))
  local r = proc.run { "bash", "-c", '"$0" "$1" --ledger "$2" ticket=1 | head -1; echo "drun=${PIPESTATUS[0]}"',
                       t.DRUN, path, lp, check = false, timeout = 30 }
  t.match(r.stdout, "^web 1%.2%.0%+build%.1 → staging[^\n]*\ndrun=0\n$")
  t.eq(r.stderr, "")
  t.eq(fs.read(d .. "/marker"), "deployed")
  t.eq(ledger.open(lp):latest({}).status, "success")
end)

t.test("an undo_always clean-up runs without --auto-rollback and leaves the status failed", function()
  local d = t.tmpdir()
  local path, lp = recipe_file(BASIC, ([[
r:step("bump", { undo_always = true, undo = function() io.open(%q, "w"):write("put back"):close() end }, function() end)
r:step("deploy", { undo = function() error("must not run without --auto-rollback") end }, function() end)
r:step("smoke", function() error("unhealthy") end)
]]):format(d .. "/marker"))
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 1)
  t.eq(fs.read(d .. "/marker"), "put back")
  t.match(r.stdout, "undo:   put back %(local clean%-up%): bump; auto%-rollback is off, nothing deployed was undone")
  t.eq(require("drun.ledger").open(lp):latest({}).status, "failed")
end)

t.test("environment and approval chosen by a parameter; commit of what is deployed from the recipe", function()
  local spec = BASIC:gsub('environment = "staging", version = "1.2.0",',
    'environment = function(p) return p.level == "major" and "production" or "staging" end, version = "1.2.0", '
    .. 'approval = function(p) return p.level == "major" end, commit = function(ctx) return "abc123" end,')
  local path, lp = recipe_file(spec, THREE)
  local r = run(path, lp, { "ticket=1", "level=major" })
  t.eq(r.code, 5, "production wants an approval")
  r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  local rec = ledger.open(lp):latest {}
  t.eq(rec.environment, "staging")
  t.eq(rec.git_commit, "abc123")
  r = run(path, lp, { "ticket=1", "level=major", "--yes" })
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.eq(ledger.open(lp):latest {}.environment, "production")
  r = t.drun { path, "--help" }
  t.match(r.stdout, "deploys     web → %(chosen by the params%)")
  t.match(r.stdout, "approval    depends on the params")
end)

t.test("a commit function that fails: exit 3, nothing run or recorded", function()
  local spec = BASIC:gsub('version = "1.2.0",', 'version = "1.2.0", commit = function() error("registry unreachable", 0) end,')
  local path, lp = recipe_file(spec, THREE)
  local r = run(path, lp, { "ticket=1" })
  t.eq(r.code, 3)
  t.match(r.stdout, "registry unreachable\n%(while working out the commit to deploy; nothing was run%)")
  t.eq(fs.exists(lp), false)
end)

t.test("secrets in every form they travel in: quotes, newlines, numbers, URLs, base64, params", function()
  local quoted = [[q"uo\te-s3cr3t]]                       -- JSON-escaped as q\"uo\\te-s3cr3t
  local pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0B\nAQEFAASCBKcwggSj-END\n-----END KEY-----"
  local path, lp, d = recipe_file([[{ name = "sec", service = "web", environment = "staging", version = "1.0.0",
    params = { api_token = { default = "" } } }]], [[
r:step("use", function(ctx)
  local q, p, n = ctx.secret("QUOTED_TOKEN"), ctx.secret("PEM_KEY"), ctx.secret("PIN_SECRET")
  ctx.set("quoted", { value = q, nested = { "x", q } })
  ctx.set("count", 987654)                       -- the numeric secret's value, as a number
  ctx.set("pem", p)
  ctx.set("param", ctx.params.api_token)
  ctx.log.info("log %s", q)
  ctx.run { "sh", "-c", 'printf "%s\n" "$PEM_KEY"; echo "second line alone: AQEFAASCBKcwggSj-END"' }
  ctx.run { "sh", "-c", 'echo "push https://x-access-token:ghs_Unregistered123@github.com/o/r.git"' }
  ctx.run { "sh", "-c", 'echo "db $DATABASE_URL"; echo "basic $(printf alice:%s "$QUOTED_TOKEN" | base64)"' }
  ctx.run { "sh", "-c", 'echo "url-encoded $(printf %s "$QUOTED_TOKEN" | od -An -tx1 | tr -d " \n" | sed "s/../%&/g")"' }
end)
]])
  local env = { QUOTED_TOKEN = quoted, PEM_KEY = pem, PIN_SECRET = "987654", GITHUB_ACTIONS = "true",
                DATABASE_URL = "postgres://app:Db-Passw0rd-77@127.0.0.1:5432/app" }
  for _, flags in ipairs { {}, { "--json" } } do
    local args = { "api_token=tk-from-the-command-line" }
    for _, f in ipairs(flags) do args[#args + 1] = f end
    local r = run(path, lp, args, { env = env })
    t.eq(r.code, 0, r.stdout .. r.stderr)
    local masks = {}
    for line in (r.stdout .. r.stderr):gmatch("::add%-mask::([^\n]*)") do masks[#masks + 1] = line end
    t.no_match(r.stdout .. (flags[1] and "" or "x"), flags[1] and "::add%-mask::" or "^$",
               "--json: no ::add-mask:: in the JSON stream")
    if flags[1] then
      for line in r.stdout:gmatch("[^\n]+") do json.decode(line) end -- every line is JSON
      t.match(r.stderr, "::add%-mask::MIIEvQIBADANBgkqhkiG9w0B\n", "a multi-line secret is masked line by line")
    end
    t.ok(#masks >= 4, "add-mask per line")
    local shown = (r.stdout .. r.stderr):gsub("::add%-mask::[^\n]*\n", "")
    for _, leak in ipairs { quoted, [[q\"uo\\te-s3cr3t]], "MIIEvQIBADANBgkqhkiG9w0B", "AQEFAASCBKcwggSj%-END",
                            "ghs_Unregistered123", "Db%-Passw0rd%-77", "tk%-from%-the%-command%-line",
                            "YWxpY2U6cSJ1b1x0ZS1zM2NyM3Q", "%%22uo%%5Cte", "987654" } do
      t.no_match(shown, leak, table.concat(flags, " ") .. ": " .. leak)
    end
  end
  local db = ledger.open(lp)
  local rec = db:latest {}
  t.eq(rec.status, "success", "a numeric secret equal to a metadata number no longer corrupts the JSON")
  t.eq(rec.metadata.quoted.value, "***")
  t.eq(rec.metadata.quoted.nested[2], "***")
  t.eq(rec.metadata.count, "***")
  t.eq(rec.metadata.param, "***")
  for _, cmd in ipairs { { "ledger", "--ledger", lp, "export" }, { "ledger", "--ledger", lp, "show", rec.id, "--json" },
                         { "ledger", "--ledger", lp, "list", "--json" } } do
    local r = t.drun(cmd, { env = env })
    t.eq(r.code, 0, table.concat(cmd, " ") .. r.stderr)
    for _, leak in ipairs { "uo\\\\te", "MIIEvQ", "987654" } do t.no_match(r.stdout, leak, cmd[4]) end
  end
  t.no_match(proc.output { "sqlite3", lp, ".dump" }, "uo%%\\te", "ledger rows")
  t.no_match(proc.output { "sqlite3", lp, ".dump" }, "MIIEvQ", "ledger rows")
end)

t.test("--json: child output that is not UTF-8 is kept (U+FFFD + line_base64), the step does not fail", function()
  local path, lp = recipe_file([[{ name = "latin", service = "web", environment = "staging", version = "1.0.0" }]], [[
r:step("latin1", function(ctx)
  ctx.run { "printf", "caf\\351 cr\\350me\\n" }
  -- a line longer than 64 KiB whose cut falls inside a 2-byte character
  ctx.run { "sh", "-c", "head -c 65535 /dev/zero | tr '\\0' x; printf '\\303\\251 end\\n'" }
end)
]])
  local r = run(path, lp, { "--json" })
  t.eq(r.code, 0, r.stderr)
  local lines, pieces = {}, {}
  for l in r.stdout:gmatch("[^\n]+") do
    local e = json.decode(l)
    if e.event == "output" then lines[#lines + 1] = e end
  end
  t.eq(lines[1].line, "caf\239\191\189 cr\239\191\189me")
  t.eq(lines[1].line_base64, require("drun.base64").encode("caf\233 cr\232me"), "the bytes as they were")
  local rest = {}
  for i = 2, #lines do rest[#rest + 1] = lines[i].line end
  rest = table.concat(rest)
  t.eq(#rest:gsub("[^x]", ""), 65535, "every x of the long line")
  t.match(rest, "é end$", "the character cut at 64 KiB arrives whole or marked, never aborts the child")
  t.eq(require("drun.ledger").open(lp):latest {}.status, "success")
end)

t.test("--json: a log line with a URL's password and a byte that is not UTF-8: masked in line and in line_base64", function()
  local path, lp = recipe_file([[{ name = "urls", service = "web", environment = "staging", version = "1.0.0" }]], [[
r:step("fetch", function(ctx)
  ctx.log.info("fetching https://deploy:s3cr3tpw@example.com/x caf\233")
  ctx.run { "printf", "cloning https://bot:t0kenpw@example.com/r.git caf\\351\\n" }
end)
]])
  local r = run(path, lp, { "--json" })
  t.eq(r.code, 0, r.stderr)
  local seen = 0
  for l in r.stdout:gmatch("[^\n]+") do
    local e = json.decode(l)
    if e.event == "output" and e.line_base64 then
      seen = seen + 1
      -- base64 of the masked bytes: the encoding of "***" is in it, the password's is not
      t.ok(not e.line:find("pw@", 1, true), e.line)
      t.eq(e.line_base64, require("drun.base64").encode((e.line:gsub("\239\191\189", "\233"))), "the masked bytes")
    end
  end
  t.eq(seen, 2, "both lines carry line_base64")
  t.no_match(r.stdout .. r.stderr, "s3cr3tpw")
  t.no_match(r.stdout .. r.stderr, "t0kenpw")
end)

-- runs drun on `path` in the background, sends SIG after `after` seconds; returns exit code and output
local function signal_run(path, lp, args, sig, after, env)
  local d = t.tmpdir()
  local argv = { "sh", "-c", '"$0" "$@" >"' .. d .. '/out" 2>&1 & p=$!; sleep ' .. after .. '; kill -' .. sig .. ' $p; wait $p; echo "exit=$?"',
                 t.DRUN, path, "--ledger", lp }
  for _, a in ipairs(args or {}) do argv[#argv + 1] = a end
  argv.timeout, argv.env = 30, env
  local r = proc.run(argv)
  return tonumber(r.stdout:match("exit=(%d+)")), fs.read(d .. "/out")
end

t.test("SIGINT, SIGTERM, SIGHUP during a sleep, a health interval or --wait-lock: exit 130, aborted, lock released", function()
  local path, lp = recipe_file([[{ name = "sig", service = "web", environment = "staging", version = "1.0.0",
    params = { what = { default = "sleep" } } }]], [[
r:step("first", function(ctx) ctx.run { "true" } end)
r:step("wait", function(ctx)
  if ctx.params.what == "sleep" then require("drun.time").sleep(30)
  elseif ctx.params.what == "health" then
    ctx.health.wait { url = "http://127.0.0.1:9/health", attempts = 100, interval = 5 }
  else local x = 0; while true do x = x + 1 end end
end)
]])
  local n = 0
  for _, sig in ipairs { "INT", "TERM", "HUP" } do
    for _, what in ipairs { "sleep", "health", "loop" } do
      local code, output = signal_run(path, lp, { "what=" .. what }, sig, 0.4)
      n = n + 1
      t.eq(code, 130, sig .. " " .. what .. ": " .. output)
      t.no_match(output, "internal error", sig .. " " .. what)
      t.no_match(output, "stack traceback", sig .. " " .. what)
      t.match(output, sig == "INT" and "interrupted %(Ctrl%-C%)" or ("interrupted %(SIG" .. sig .. "%)"), sig .. " " .. what)
      local db = ledger.open(lp)
      local rec = db:latest {}
      t.eq(rec.status, "aborted", sig .. " " .. what)
      t.eq(#db:history { all = true }, n)
      local steps = db:record(rec.id).steps
      t.eq(steps[2].status ~= "running", true, "steps closed")
      db:close()
      t.eq(proc.output { "sqlite3", lp, "select count(*) from locks" }, "0", "lock released")
    end
  end
  -- waiting for a lock another run holds
  local hold, hlp = recipe_file([[{ name = "hold", service = "web", environment = "staging", version = "1.0.0" }]],
    'r:step("hold", function() require("drun.time").sleep(30) end)')
  local holder = proc.run { "sh", "-c", '"$0" "$1" --ledger "$2" >/dev/null 2>&1 & echo $!', t.DRUN, hold, hlp }
  local holder_pid = tonumber(holder.stdout)
  require("drun.time").sleep(0.4)
  local code, output = signal_run(hold, hlp, { "--wait-lock", "60" }, "TERM", 0.4)
  proc.run { "kill", "-TERM", tostring(holder_pid), check = false }
  t.eq(code, 130, output)
  t.match(output, "interrupted %(SIGTERM%) while waiting for the lock on web/staging; nothing was run")
  t.no_match(output, "internal error")
end)

t.test("a step's timeout bounds everything in it: sleep, HTTP, health, Lua loops, drun.proc directly", function()
  local base = t.server("http_test.py")
  local path, lp = recipe_file([[{ name = "to", service = "web", environment = "staging", version = "1.0.0",
    params = { what = { default = "sleep" } } }]], ([[
r:step("bounded", { timeout = 0.5 }, function(ctx)
  local w = ctx.params.what
  if w == "sleep" then require("drun.time").sleep(30)
  elseif w == "http" then ctx.http.get(%q .. "/hang", { timeout = 60 })
  elseif w == "health" then ctx.health.wait { url = %q .. "/status/503", attempts = 100, interval = 1 }
  elseif w == "loop" then while true do end
  elseif w == "pcall-loop" then while true do pcall(function() while true do end end) end
  elseif w == "proc" then require("drun.proc").run { "sleep", "30" } end
end)
]]):format(base, base))
  for _, what in ipairs { "sleep", "http", "health", "loop", "pcall-loop", "proc" } do
    local t0 = require("drun.time").now()
    local r = run(path, lp, { "what=" .. what }, { timeout = 20 })
    local took = require("drun.time").now() - t0
    t.eq(r.code, 1, what .. ": " .. r.stdout .. r.stderr)
    t.match(r.stdout, "timed out after 0%.5s", what)
    t.ok(took < 5, what .. " took " .. took .. "s")
  end
end)

t.test("disk full mid-step: the step fails with its own error, the report is printed, no exit 3", function()
  local path, _, d = recipe_file([[{ name = "full", service = "web", environment = "staging", version = "1.0.0",
    params = { mode = { default = "set" } } }]], [[
r:step("fill", function(ctx)
  -- the ledger's filesystem fills up while the step runs
  ctx.run { "sh", "-c", 'head -c 10000000 /dev/zero > "$0/filler" 2>/dev/null; true', os.getenv("SMALL") }
  if ctx.params.mode == "set" then ctx.set("report", string.rep("y", 20000)) end
end)
r:step("after", function(ctx) ctx.run { "touch", os.getenv("SMALL") .. "/../after-ran" } end)
]])
  fs.mkdir(d .. "/small")
  for _, mode in ipairs { "set", "quiet" } do
    local r = proc.run { "unshare", "-rm", "sh", "-c",
      'mount -t tmpfs -o size=256k tmpfs "$1" && SMALL="$1" "$0" "$2" --ledger "$1/ledger.db" mode="$3"; echo "exit=$?"',
      t.DRUN, d .. "/small", path, mode, check = false, timeout = 60 }
    local all = r.stdout .. r.stderr
    t.match(all, "exit=1\n", mode .. ": " .. all)
    t.no_match(all, "internal error", mode)
    t.no_match(all, "stack traceback", mode)
    t.match(all, "✗ %a+ failed", mode .. ": the failure report")
    t.match(all, "disk is full", mode)
    t.eq(fs.exists(d .. "/after-ran"), false, mode .. ": no step ran unrecorded")
  end
end)

t.test("after drun is killed -9, the next run stops what it left running before it takes over the lock", function()
  local d = t.tmpdir()
  local path, lp = recipe_file([[{ name = "k9", service = "web", environment = "staging", version = "1.0.0",
    params = { hold = { default = false } } }]], ([[
r:step("deploy", function(ctx)
  if ctx.params.hold then -- a child and a grandchild, still "deploying" when drun dies
    ctx.run { "sh", "-c", "sleep 60 & echo $! > %s/gc; echo $$ > %s/child; wait" }
  end
end)
]]):format(d, d))
  local bg = proc.run { "sh", "-c", '"$0" "$1" --ledger "$2" hold=true >/dev/null 2>&1 & echo $!', t.DRUN, path, lp }
  local drun_pid = tonumber(bg.stdout)
  for _ = 1, 200 do
    if fs.exists(d .. "/gc") and fs.exists(d .. "/child") then break end
    require("drun.time").sleep(0.02)
  end
  require("drun.time").sleep(0.1)
  proc.run { "kill", "-9", tostring(drun_pid) }
  local gc, child = fs.read(d .. "/gc"):match("%d+"), fs.read(d .. "/child"):match("%d+")
  local running = t.alive
  t.ok(running(gc) and running(child), "the dead run's processes are still there")
  local r = run(path, lp, {})
  t.eq(r.code, 0, r.stdout .. r.stderr)
  t.match(r.stdout .. r.stderr, "took over the lock on web/staging from pid " .. drun_pid
          .. " .-that drun is gone; stopped 2 process%(es%) it had left running")
  t.eq(running(gc), false, "grandchild stopped")
  t.eq(running(child), false, "child stopped")
end)

t.test("next per failed step: the step's own, else the rollback hint only once something deployable changed", function()
  local steps = [[
r:step("gate", { next = "fix the tests on main, then re-run" }, function(ctx) if ctx.params.count == 2 then error("red") end end)
r:step("build", {}, function(ctx) if ctx.params.count == 3 then error("no compiler") end end)
r:step("deploy", { undo = function() end }, function() end)
r:step("tag", { next = function(ctx) return "push tag v" .. ctx.version .. " to " .. ctx.environment .. " by hand" end },
       function(ctx) if ctx.params.count == 4 then error("push rejected") end end)
r:step("smoke", {}, function(ctx) if ctx.params.count == 5 then error("503") end end)
]]
  local path, lp = recipe_file(BASIC, steps)
  local want = {
    [2] = "fix the tests on main, then re%-run",
    [3] = "nothing was deployed: fix the cause, then re%-run the same command",
    [4] = "push tag v1%.2%.0 to staging by hand",
    [5] = "drun recipes/rollback%.lua to=1%.2%.0",
  }
  for count, next_line in pairs(want) do
    local r = run(path, lp, { "ticket=CHG-1", "count=" .. count })
    t.eq(r.code, 1)
    t.match(r.stdout, "\n  next:   " .. next_line .. "\n", "count=" .. count)
  end
  -- no rollback hint: after a deploying step, the run still says production moved
  path, lp = recipe_file((BASIC:gsub(',%s*rollback_hint = "[^"]*"', "")), steps)
  local r = run(path, lp, { "ticket=CHG-1", "count=5" })
  t.eq(r.code, 1)
  t.match(r.stdout, "\n  next:   what the completed steps changed is still in effect %(state above%): fix the cause, "
                    .. "then re%-run the same command\n")
  path, lp = recipe_file(BASIC, 'r:step("x", { next = 42 }, function() end)')
  r = run(path, lp, { "ticket=CHG-1" })
  t.ok(r.code ~= 0)
  t.match(r.stdout .. r.stderr, "step 'x': next must be text or a function of ctx")
end)

t.test("${name} in on_failure, next and rollback_hint: a value a step set, a param, a ctx field; an unknown name stays visible", function()
  local path, lp = recipe_file([[{ name = "web-deploy", service = "web", environment = "staging", version = "1.2.0",
    params = { target = { default = "blue" } },
    rollback_hint = "drun recipes/rollback.lua to=${previous} (was ${version})" }]], [[
r:step("deploy", { undo = function() end }, function(ctx) ctx.set("previous", "v-41"); ctx.set("release", "r-7") end)
r:step("smoke", { on_failure = "release ${release} is live on ${target} (${full_version}) and bad; ${relase}" },
  function(ctx) error("smoke check failed") end)
]])
  local r = run(path, lp)
  t.eq(r.code, 1, r.stdout)
  t.match(r.stdout, "state:  release r%-7 is live on blue %(1%.2%.0%+build%.1%) and bad; %${relase%?}")
  t.match(r.stdout, "next:   drun recipes/rollback%.lua to=v%-41 %(was 1%.2%.0%)")
end)
