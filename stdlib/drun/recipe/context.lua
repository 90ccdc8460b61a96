-- The ctx each step (and undo) receives:
--   ctx.params, ctx.service, ctx.environment, ctx.recipe, ctx.version,
--   ctx.full_version, ctx.build_number, ctx.record_id, ctx.actor, ctx.sha,
--   ctx.branch, ctx.run_url, ctx.dry_run, ctx.step (the running step's name)
--   ctx.parallel(items, fn, opts)       fn(ctx, item, i) per item as a task, at most opts.limit
--                                       (8) at once; results in order (drun.task.parallel)
--   ctx.run{argv..., read_only = bool}  drun.proc.run, its output under the step;
--                                       under --dry-run printed instead unless read-only
--   ctx.sh(script, opts)                the same through /bin/sh
--   ctx.set(key, value) / ctx.get(key)  kept in the ledger record's metadata
--   ctx.output(name, value)             a job output ($GITHUB_OUTPUT under GitHub Actions), at the run's end
--   ctx.secret(NAME)                    drun.env.secret, masked everywhere
--   ctx.http, ctx.health, ctx.log, ctx.json, ctx.fs, ctx.git (the repository, opened on use)
--   ctx.ledger (the run's ledger; nil under --dry-run), ctx.ledger_path
local proc = require "drun.proc"
local env = require "drun.env"
local task = require "drun.task"

local M = {}

function M.new(engine)
  local ctx = {
    http = require "drun.http", health = require "drun.health", log = require "drun.log",
    json = require "drun.json", fs = require "drun.fs", params = engine.params, dry_run = engine.dry_run,
  }
  local meta = {}

  -- A child runs under the step: its lines go to the report, it cannot
  -- outlive the step's timeout (drun.proc keeps the step's deadline: the
  -- guard's), and under --dry-run only read-only commands run.
  function ctx.run(spec)
    if type(spec) ~= "table" then error("ctx.run: expected a table { \"program\", \"arg\", ... }", 2) end
    local s = {}
    for k, v in pairs(spec) do s[k] = v end
    local step = engine.current
    s.read_only = s.read_only or (step and step.read_only) -- drun.proc enforces --dry-run
    local label = task.label() -- the lines come in while other tasks run
    s.stream = function(stream, line) engine.report:output(stream, line, nil, label) end
    local ok, res, err = pcall(proc.run, s)
    if not ok then error(res, 2) end
    return res, err
  end

  function ctx.sh(script, opts)
    local s = { "/bin/sh", "-c", script }
    for k, v in pairs(opts or {}) do
      if type(k) ~= "number" then s[k] = v end
    end
    local ok, res, err = pcall(ctx.run, s)
    if not ok then error(res, 2) end
    return res, err
  end

  -- Items side by side (drun.task): each item's end is shown under the
  -- step and its status and time kept for the summary.
  function ctx.parallel(items, fn, opts)
    if type(fn) ~= "function" then error("ctx.parallel: expected a function(ctx, item) for each item, got " .. type(fn), 2) end
    if opts ~= nil and type(opts) ~= "table" then error("ctx.parallel: options must be a table, got " .. type(opts), 2) end
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    local step, user = engine.current, o.on_item
    o.on_item = function(s)
      if step and not task.current() then -- the top level's items; a nested parallel's show in its lines
        step.items = step.items or {}
        step.items[#step.items + 1] = s
      end
      engine.report:item_end(s)
      if user then user(s) end
    end
    local bad = task.check(items, fn, o)
    if bad then error("ctx.parallel: " .. bad, 2) end
    local ok, res, statuses = pcall(task.parallel, items, function(item, i) return fn(ctx, item, i) end, o)
    if not ok then error(res, 0) end -- "web3: <why>": the item named, no position of drun's own
    return res, statuses
  end

  function ctx.set(key, value)
    if type(key) ~= "string" then error("ctx.set: key must be a string", 2) end
    meta[key] = value
    if engine.ledger and engine.record then engine.ledger:set(engine.record.id, key, value) end
  end

  function ctx.get(key) return meta[key] end

  engine.outputs = engine.outputs or {}
  function ctx.output(name, value)
    local outputs = require "drun.recipe.outputs"
    if not outputs.valid_name(name) then
      error("ctx.output: name must be letters, digits, _ and - (got " .. tostring(name) .. ")", 2)
    end
    if type(value) ~= "string" and type(value) ~= "number" and type(value) ~= "boolean" then
      error("ctx.output: value must be text, a number or a boolean (got a " .. type(value) .. ")", 2)
    end
    for _, kv in ipairs(engine.outputs) do
      if kv[1] == name then kv[2] = value return end
    end
    engine.outputs[#engine.outputs + 1] = { name, value }
  end

  function ctx.secret(name)
    local ok, v = pcall(env.secret, name)
    if not ok then error(v, 2) end
    engine.report:mask(v)
    return v
  end

  -- ctx.git: the repository of the recipe, opened the first time it is used
  setmetatable(ctx, { __index = function(t, k)
    if k == "git" then
      local repo = require("drun.git").open(engine.repo_dir)
      rawset(t, "git", repo)
      return repo
    end
  end })
  return ctx
end

return M
