-- Running a recipe: approval, lock, ledger record, steps, failure report,
-- undo and auto-rollback, output. execute() returns the exit code:
-- 0 ok, 1 a step failed (or the ledger refused), 3 recipe error,
-- 4 lock held, 5 approval refused, 130 interrupted.
local json = require "drun.json"
local ledger_mod = require "drun.ledger"
local report_mod = require "drun.recipe.report"
local context = require "drun.recipe.context"
local preflight = require "drun.recipe.preflight"
local runtime = require "drun.runtime"
local core_proc = require "drun.core.proc"
local guard = require "drun.core.guard"
local out = require "drun.core.out"
local time = require "drun.time"
local log = require "drun.log"
local task = require "drun.task"

local M = {}

-- An error value as one line of text (tables through message or __tostring).
local function text(e)
  if type(e) == "table" then
    local mt = getmetatable(e)
    if mt and mt.__tostring then return tostring(e) end
    if e.message then return tostring(e.message) end
    local ok, j = pcall(require("drun.json").encode, e)
    return ok and ("error object " .. j) or tostring(e)
  end
  return tostring(e)
end

-- An error raised inside drun's own stdlib, as the user sees it: without the
-- stdlib position ("stdlib/drun/recipe/run.lua:163: "), which names drun's
-- code, not theirs. Errors from the user's files keep their position.
local function plain(e)
  return (text(e):gsub("^stdlib/drun/[%w_/]+%.lua:%d+: ", ""))
end

-- ${name} and {name} in on_failure / rollback_hint: ctx fields and params
local function interpolate(s, ctx)
  if type(s) == "function" then
    local ok, v = pcall(s, ctx)
    return ok and tostring(v) or ("(could not describe: " .. text(v) .. ")")
  end
  if type(s) ~= "string" then return nil end
  -- ${name}: what a step set (ctx.set), then a param, then a ctx field
  -- (version, sha, actor, ...); a name none of them has stays visible as
  -- ${name?}, so a typo or a value never set shows instead of vanishing
  return (s:gsub("%${([%w_]+)}", function(k)
    local v = ctx.get(k)
    if v == nil or v == json.null then v = ctx.params[k] end
    if v == nil then v = ctx[k] end
    local kind = type(v)
    if kind ~= "string" and kind ~= "number" and kind ~= "boolean" then return "${" .. k .. "?}" end
    return tostring(v)
  end))
end

-- What to do next after a failed step: the step's own `next` when it has
-- one; else, when a completed step changed what is deployed (it has an undo
-- that is not a local clean-up) and was not rolled back, the recipe's
-- rollback_hint ("${environment}" is the run's); else nothing was deployed,
-- so the fix is a retry.
local function next_command(r, failed, completed, status, ctx)
  if failed.step.next ~= nil then return interpolate(failed.step.next, ctx) end
  local deployed = false
  for _, s in ipairs(completed) do
    if s.undo and not s.undo_always then deployed = true end
  end
  if deployed and status ~= "rollback" then
    return r.rollback_hint and interpolate(r.rollback_hint, ctx)
        or "what the completed steps changed is still in effect (state above): fix the cause, then re-run the same command"
  end
  if status == "rollback" then return "fix the cause, then re-run the same command" end
  return "nothing was deployed: fix the cause, then re-run the same command"
end

local function approve(r, ctx, report, o)
  if r.approval ~= "required" or o.dry_run then return "not required" end
  if o.yes then return "--yes" end
  if not out.isatty("stdin") then
    return nil, "approval required: re-run with --yes"
  end
  report:say(string.format("\nAbout to deploy %s %s to %s (commit %s).\nType yes to continue: ", r.service,
                           ctx.version or "?", r.environment, ctx.sha and ctx.sha:sub(1, 12) or "unknown"))
  out.flush()
  local answer = io.read("l")
  if answer and answer:lower() == "yes" then return "prompt" end
  return nil, "approval refused"
end

-- "interrupted (Ctrl-C)", "interrupted (SIGTERM)": how drun was stopped, or nil
local function interruption()
  local sig = guard.signal()
  if not sig then return nil end
  return "interrupted (" .. (sig == "SIGINT" and "Ctrl-C" or sig) .. ")"
end

-- Runs a step function under the guard (drun.core.guard): its timeout bounds
-- everything in it (children, sleeps, requests, health checks, Lua loops),
-- and a signal stops it. Returns ok, error text, interrupted.
local function call_step(engine, fn, ctx, step)
  engine.current = step
  step.items = nil -- what a ctx.parallel in it did, for the summary
  ctx.step = step.name
  local ok, err = guard.run(fn, ctx, step.timeout)
  engine.current = nil
  if ok then return true end
  local interrupted = interruption()
  return false, interrupted or out.redact(text(err)), interrupted ~= nil
end

-- The job's outputs ($GITHUB_OUTPUT): what the run was, then what its
-- steps set with ctx.output. A file that cannot be written is a warning.
local function write_outputs(report, engine, ctx, status)
  local list = { { "record_id", ctx.record_id or "" }, { "full_version", ctx.full_version or "" },
                 { "version", ctx.version or "" }, { "status", status } }
  for _, kv in ipairs(engine.outputs or {}) do list[#list + 1] = kv end
  local warning = require("drun.recipe.outputs").write(list)
  if warning then report:say("drun: warning: " .. warning .. " (the deploy is recorded in the ledger all the same)\n") end
end

-- The recipe's notifications for this outcome (drun.notify), once the
-- record is final: each result is said, kept in the record's metadata
-- (notifications) and never changes the run's status or exit code.
local function send_notifications(r, report, db, rec, status, dry_run)
  local notify = require "drun.notify"
  local due = notify.due(r.notify, status)
  if #due == 0 then return end
  if dry_run then
    for _, n in ipairs(due) do report:would("notify " .. notify.target(n) .. " of " .. status) end
    return
  end
  local ok, err = pcall(function()
    local full = db and rec and db:record(rec.id)
    if not full then error("no ledger record to send (the run has no ledger)", 0) end
    local log = require("drun.changelog").for_deployment(db, full)
    local results = {}
    for i, n in ipairs(due) do
      local res = notify.send(n, full, log)
      results[i] = res
      if res.status == "sent" then
        report:say(string.format("drun: notified %s\n", res.target))
      else
        report:say(string.format("drun: warning: could not notify %s after %d attempt(s): %s (the deployment's "
                                 .. "status stands)\n", res.target, res.attempts, res.error))
      end
      report:event("notification", res)
    end
    db:set(rec.id, "notifications", results)
  end)
  if not ok then report:say("drun: warning: notifications: " .. plain(err) .. "\n") end
end

local execute

-- execute(r, opts) -> exit code. Whatever goes wrong inside drun itself, the
-- ledger record is closed, the lock released and the sinks restored.
function M.execute(r, o)
  local cleanup = {}
  local saved_log, saved_would = log.sink, runtime.sink
  local ok, res = xpcall(execute, debug.traceback, r, o, cleanup)
  log.sink, runtime.sink, runtime.dry_run = saved_log, saved_would, false
  if ok then return res end
  -- a signal that landed in the engine's own code is still an interrupt:
  -- the record aborted, the lock released, exit 130, no traceback
  local stopped = interruption()
  if cleanup.record then
    pcall(cleanup.db.finish, cleanup.db, cleanup.record.id, stopped and "aborted" or "failed",
          { error = stopped or ("drun internal error: " .. text(res)) })
  end
  if cleanup.unlock then cleanup.unlock() end
  if cleanup.db then pcall(cleanup.db.close, cleanup.db) end
  if stopped then
    out.write("stderr", "drun: " .. stopped .. (cleanup.record and "; the record is marked aborted" or "; nothing was run") .. "\n")
    return 130
  end
  out.write("stderr", "drun: internal error: " .. out.redact(text(res)) .. "\n")
  return 3
end

function execute(r, o, cleanup)
  local report = report_mod.new { json = o.json, recipe = r.name }
  local engine = { report = report, dry_run = o.dry_run, params = o.params, repo_dir = o.repo_dir }
  local ctx = context.new(engine)
  ctx.recipe, ctx.service, ctx.environment = r.name, r.service, r.environment
  ctx.ledger_path = o.ledger_path or ledger_mod.default_path()
  for k, v in pairs(o.git or {}) do ctx[k] = v end

  -- the credentials the recipe needs, before anything runs (and masked from
  -- now on); before the version too, which may ask a platform (a preview's PR)
  for _, name in ipairs(r.secrets) do
    local ok, e = pcall(ctx.secret, name)
    if not ok then
      report:say("drun: " .. text(e):gsub("^.-env: ", "env: ") .. "\nnothing was run\n")
      return 2
    end
  end

  -- what is deployed
  local version = r.version
  if type(version) == "function" then
    local ok, v = pcall(version, ctx)
    if not ok then
      report:say("drun: " .. out.redact(text(v)) .. "\n(while working out the version to deploy; nothing was run)\n")
      return 3
    end
    version = v
  end
  ctx.version = version and tostring(version) or "0.0.0"
  -- an image built elsewhere was built from its own commit, not this checkout's HEAD
  if r.commit then
    local ok, c = pcall(r.commit, ctx)
    if not ok then
      report:say("drun: " .. out.redact(text(c)) .. "\n(while working out the commit to deploy; nothing was run)\n")
      return 3
    end
    if type(c) == "string" and c ~= "" then ctx.sha = c end
  end

  -- never deploy unrecorded: the ledger is reached before anything else
  local db, rec
  if o.dry_run then
    ctx.full_version = ctx.version .. "+build.?"
  else
    local ok, d = pcall(ledger_mod.open, o.ledger_path)
    if not ok then
      report:say("drun: " .. plain(d) .. "\nnothing was run: drun does not deploy unrecorded\n")
      return 1
    end
    db = d
    cleanup.db = db
  end
  local function finish_ledger() if db then db:close() end end

  -- what the steps will need later, before anyone approves or anything changes
  runtime.dry_run, runtime.sink = o.dry_run, function(msg) report:would(msg) end
  local needs = preflight.collect(r, o.params, o.from_index)
  if #needs > 0 then
    local results, warnings = preflight.run(needs, { ctx = ctx, dir = o.repo_dir, fetch = r.fetch, remote = r.remote,
                                                     stream = function(stream, line) report:output(stream, line) end })
    if rawget(ctx, "git") then ctx.git:close() rawset(ctx, "git", nil) end -- a fetch changed the repository
    if not report:preflight(results, warnings) then
      write_outputs(report, engine, ctx, "refused")
      finish_ledger()
      return 1
    end
  end

  local approved_via, why = approve(r, ctx, report, o)
  if not approved_via then
    report:say("drun: " .. why .. "\n")
    report:recipe_end { status = "refused", exit_code = 5, error = why }
    finish_ledger()
    return 5
  end

  if db and r.lock then
    local ok, e = pcall(db.lock, db, r.service, r.environment, { recipe = r.name, run_url = ctx.run_url,
                                                                wait = o.wait_lock })
    if not ok then
      local held = type(e) == "table" and e.kind == "lock_held"
      local stopped = interruption()
      if stopped then
        report:say("drun: " .. stopped .. " while waiting for the lock on " .. r.service .. "/" .. r.environment
                   .. "; nothing was run\n")
      else
        report:say("drun: " .. plain(e) .. (held and "\nnothing was run; wait for it, or re-run with --wait-lock SECONDS\n" or "\n"))
      end
      finish_ledger()
      return stopped and 130 or held and 4 or 1
    end
  end
  local function unlock() if db and r.lock then pcall(db.unlock, db, r.service, r.environment) end end
  cleanup.unlock = unlock
  if db then
    -- when the deployed commit was made, for the lead time for changes
    -- (drun.ledger.metrics); nil when this clone does not have it (an
    -- image's commit, built elsewhere)
    local found, committed = pcall(function() return time.utc(ctx.git:log(ctx.sha, 1)[1].time) end)
    local ok, e = pcall(db.begin, db, {
      service = r.service, environment = r.environment, version = ctx.version, recipe = r.name,
      commit = ctx.sha, branch = ctx.branch, actor = ctx.actor, workflow_run_id = ctx.run_id,
      workflow_run_url = ctx.run_url,
      metadata = { params = require("drun.json").object(o.params), approved_by = ctx.actor, approval = approved_via,
                   commit_time = ctx.sha and found and committed or nil },
    })
    if not ok then
      report:say("drun: " .. plain(e) .. "\nnothing was run: drun does not deploy unrecorded\n")
      unlock()
      finish_ledger()
      return 1
    end
    rec = e
    cleanup.record = rec
    ctx.full_version, ctx.build_number, ctx.record_id = rec.full_version, rec.build_number, rec.id
  end
  engine.ledger, engine.record = db, rec
  -- for recipes that read the history (rollbacks); under --dry-run a read-only view
  if o.dry_run then cleanup.reader = ledger_mod.reader(ctx.ledger_path) end
  ctx.ledger = db or cleanup.reader

  local names = {}
  for i, s in ipairs(r.steps) do names[i] = s.name end
  report:recipe_start { service = r.service, environment = r.environment, version = ctx.version,
                        full_version = ctx.full_version, params = o.params, dry_run = o.dry_run, steps = names,
                        sha = ctx.sha, branch = ctx.branch, actor = ctx.actor }

  if o.dry_run then
    report:would(string.format("record %s %s → %s in the ledger%s", r.service, ctx.version, r.environment,
                               r.lock and (" and lock " .. r.service .. "/" .. r.environment) or ""))
  end
  -- everything a step prints, logs or would do goes under the step
  log.sink = function(level, msg) report:output("log", msg, level, task.label()) end
  runtime.sink = function(msg) report:would(msg, task.label()) end
  runtime.dry_run = o.dry_run

  -- The engine's own ledger writes: one that fails (a full disk) is noted,
  -- not raised, and no further step starts unrecorded.
  local ledger_error
  local function noted(ok, e)
    if ok then return e end
    ledger_error = ledger_error or plain(e)
  end
  local function step_start(name) return db and noted(pcall(db.step_start, db, rec.id, name)) end
  local function step_end(seq, status, err) if db and seq then noted(pcall(db.step_end, db, rec.id, seq, status, err)) end end

  local results, completed, failed = {}, {}, nil
  local n = #r.steps
  for i, s in ipairs(r.steps) do
    if o.from_index and i < o.from_index then
      results[#results + 1] = { name = s.name, status = "skipped" }
      step_end(step_start(s.name), "skipped")
      report:event("step_end", { step = s.name, index = i, status = "skipped", duration_ms = 0 })
    else
      report:step_start(i, n, s)
      local seq = step_start(s.name)
      -- the lock's lease renewed before each step; a run that lost its lock
      -- (its lease ran out and another runner took it) stops here
      local lost = time.heartbeat_error()
      if not lost and db and r.lock then
        local ok, e = pcall(db.renew, db)
        lost = not ok and e or nil
      end
      if lost and not ledger_error then ledger_error = plain(lost) end
      if ledger_error then
        local why = "the ledger cannot record this run (" .. ledger_error .. "): stopped before this step"
        report:step_end(i, s, "failed", 0, why)
        results[#results + 1] = { name = s.name, status = "not run" }
        failed = { step = s, error = why, seconds = 0, not_started = true }
        break
      end
      local t0 = time.now()
      local ok, err, interrupted
      if o.dry_run and s.verifies then -- it would check changes this run did not make
        report:would("verify: " .. (s.description or s.name))
        ok = true
      else
        ok, err, interrupted = call_step(engine, s.fn, ctx, s)
      end
      local dur = time.now() - t0
      step_end(seq, ok and "success" or "failed", err)
      report:step_end(i, s, ok and "success" or "failed", dur, err)
      results[#results + 1] = { name = s.name, status = ok and "success" or "failed", seconds = dur, items = s.items }
      if ok then
        completed[#completed + 1] = s
      else
        failed = { step = s, error = err, seconds = dur, interrupted = interrupted }
        break
      end
    end
  end
  for i = #results + 1, n do results[i] = { name = r.steps[i].name, status = "not run" } end

  local status, exit_code = "success", 0
  if failed then
    local done = {}
    for i, s in ipairs(completed) do done[i] = s.name end
    local auto = o.auto_rollback
    if auto == nil then auto = r.auto_rollback end
    local undo_text, incomplete
    local undoable, local_only = {}, {}
    for j = #completed, 1, -1 do
      if completed[j].undo then undoable[#undoable + 1] = completed[j] end
      if completed[j].undo and completed[j].undo_always then local_only[#local_only + 1] = completed[j] end
    end
    -- without auto-rollback only the local clean-ups run (a bumped file put
    -- back); they change nothing deployed, so the status stays failed
    local cleanup_only = false
    if not auto and not failed.interrupted and #local_only > 0 then
      undoable, auto, cleanup_only = local_only, true, true
    end
    if failed.interrupted then
      undo_text = "not run (interrupted)"
    elseif auto and #undoable > 0 then
      local left = {}
      for _, s in ipairs(undoable) do
        report:step_start(0, 0, { name = "undo " .. s.name })
        local seq = step_start("undo " .. s.name)
        local t0 = time.now()
        local ok, err = call_step(engine, s.undo, ctx, { name = "undo " .. s.name, timeout = s.timeout })
        local dur = time.now() - t0
        step_end(seq, ok and "success" or "failed", err)
        report:step_end(0, { name = "undo " .. s.name }, ok and "success" or "failed", dur, err)
        report:rollback(s, ok and "success" or "failed", dur, err)
        if not ok then left[#left + 1] = s.name .. " (" .. err .. ")" end
      end
      local names = {}
      for i, s in ipairs(undoable) do names[i] = s.name end
      if #left == 0 and cleanup_only then
        undo_text = "put back (local clean-up): " .. table.concat(names, ", ")
            .. "; auto-rollback is off, nothing deployed was undone"
      elseif #left == 0 then
        undo_text = "rolled back: " .. table.concat(names, ", ")
        status = "rollback"
      else
        incomplete = "these steps could not be undone and are still in effect: " .. table.concat(left, "; ")
        undo_text = "ran in reverse; " .. #left .. " failed"
      end
    elseif #undoable > 0 then
      undo_text = "not run (auto-rollback is off; --auto-rollback runs the undos of " .. #undoable .. " step(s))"
    end
    if status ~= "rollback" then status = failed.interrupted and "aborted" or "failed" end
    exit_code = failed.interrupted and 130 or 1
    report:failure {
      step = failed.step.name, error = failed.error, seconds = failed.seconds, done = done,
      file = failed.step.file, line = failed.step.line,
      state = failed.not_started and ("nothing of " .. failed.step.name .. " ran; what the steps before it did is in effect")
          or interpolate(failed.step.on_failure, ctx),
      undo = undo_text, incomplete = incomplete, next = next_command(r, failed, completed, status, ctx),
    }
    if db then noted(pcall(db.finish, db, rec.id, status, { error = failed.error, failed_step = failed.step.name })) end
  elseif db then
    noted(pcall(db.finish, db, rec.id, "success"))
    if ledger_error then status, exit_code = "failed", 1 end
  end
  if ledger_error then
    local kept = db and db:journaled()
    report:say("drun: the ledger could not record this run to its end (" .. ledger_error .. "); "
               .. (kept and ("what it could not write is kept in " .. kept .. ": the next drun on this ledger, or "
                             .. "drun ledger sync, sends it\n")
                   or "the record stays 'running' until the next drun that opens the ledger marks it aborted\n"))
  end

  cleanup.record = nil -- finished above
  local headline
  if status == "success" then
    headline = string.format("%s %s is %s %s", r.service, ctx.full_version, o.dry_run and "(dry-run) ready in" or r.outcome or "live in",
                             r.environment)
  else
    headline = string.format("%s %s → %s: %s at %s", r.service, ctx.full_version, r.environment, status:upper(), failed.step.name)
  end
  report:summary(results, status, headline)
  send_notifications(r, report, db, rec, status, o.dry_run)
  report:recipe_end { status = status, exit_code = exit_code, failed_step = failed and failed.step.name,
                      error = failed and failed.error }
  write_outputs(report, engine, ctx, status)
  local stats_path = os.getenv("DRUN_STATS") -- measurements for bench/cms
  if stats_path and stats_path ~= "" then
    local pstats, hstats = require("drun.proc").stats, require("drun.health").stats
    local rusage = core_proc.rusage()
    require("drun.fs").write(stats_path, require("drun.json").encode {
      children = pstats.runs, children_s = pstats.seconds, health_waits = hstats.waits, health_s = hstats.seconds,
      maxrss_kb = rusage.maxrss_kb, children_maxrss_kb = rusage.children_maxrss_kb,
    })
  end
  unlock()
  finish_ledger()
  if cleanup.reader then cleanup.reader:close() end
  return exit_code
end

return M
