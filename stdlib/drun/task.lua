-- drun.task: tasks — Lua coroutines — over drun's one event loop (the C
-- loop in runtime/loop.c: children's pidfds and pipes, libcurl's multi
-- handle, timers). Recipes use it through ctx.parallel:
--
--   local results = ctx.parallel(servers, function(ctx, server) ... end,
--                                { limit = 4, keep_going = false, timeout = 300,
--                                  label = function(server) return server.host end })
--
-- Every primitive that waits (drun.proc run and spawn, drun.http and so
-- health checks, time.sleep) yields inside a task and blocks as before
-- outside one: the recipe code stays straight-line. A task that computes
-- without waiting is yielded from when its time slice is over (a count hook
-- in C), so it cannot stop the others or its own timeout.
local proc_core = require "drun.core.proc"
local guard = require "drun.core.guard"
local time_core = require "drun.core.time"

-- sources(): what is on the event loop now (children, requests): for tests
local M = { DEFAULT_LIMIT = 8, SLICE = 0.05, sources = proc_core.sources }

local tasks = setmetatable({}, { __mode = "k" }) -- thread -> task
local WAIT = setmetatable({}, { __name = "drun.task.wait" }) -- what a task yields when it waits

-- The running task, or nil outside ctx.parallel.
function M.current() return tasks[(coroutine.running())] end

-- "web1" or, in a nested ctx.parallel, "web1/migrate": the running task's label
function M.label()
  local t = M.current()
  return t and t.path
end

-- wait(ready, deadline): until ready() is true or the monotonic deadline;
-- a task yields to its scheduler meanwhile, code outside a task turns the loop.
local function wait(ready, deadline)
  local t = M.current()
  if t then
    t.ready, t.wake = ready, deadline
    coroutine.yield(WAIT)
    t.ready, t.wake = nil, nil
    return
  end
  while not ready() do
    local left = deadline and deadline - time_core.now()
    if left and left <= 0 then return end
    proc_core.wait(left)
    if guard.signal() then return end -- the caller decides what an interrupt means
  end
end
M.wait = wait

-- A handle (a child, a request) started by the running task: cancelling the
-- task stops it. adopt(h) -> h
function M.adopt(h)
  local t = M.current()
  if t then t.handles[h] = true end
  return h
end

-- await(h): until h:done(); then the task no longer owns it
function M.await(h)
  wait(function() return h:done() end)
  local t = M.current()
  if t then t.handles[h] = nil end
end

-- sleep(seconds) inside a task: the others run meanwhile. Raises
-- "interrupted" on a signal and the step's timeout at its deadline, as
-- time.sleep does outside a task.
function M.sleep(seconds)
  local stop = time_core.now() + seconds
  local deadline, why = guard.deadline()
  local by_step = deadline and deadline < stop
  wait(function() return guard.signal() ~= nil end, by_step and deadline or stop)
  if guard.signal() then error("interrupted", 0) end
  if by_step then error(why, 0) end
end

local function text(e)
  if type(e) == "table" and e.message then return tostring(e.message) end
  return tostring(e)
end

-- the label an item is shown by: opts.label(item), else its name or host,
-- else the item itself when it is text, else its position
local function label_of(opts, item, i)
  if opts.label then
    local ok, l = pcall(opts.label, item)
    if ok and l ~= nil then return tostring(l) end
  end
  if type(item) == "table" then
    local l = rawget(item, "name") or rawget(item, "host") or rawget(item, "label")
    if l ~= nil then return tostring(l) end
  elseif type(item) == "string" or type(item) == "number" then
    return tostring(item)
  end
  return "#" .. i
end

function M.check(items, fn, opts)
  if type(items) ~= "table" then
    return string.format("items must be a list (a table), got %s", type(items))
  end
  if type(fn) ~= "function" then return string.format("expected a function for each item, got %s", type(fn)) end
  if type(opts) ~= "table" then return string.format("options must be a table, got %s", type(opts)) end
  local limit = opts.limit
  if limit ~= nil and (math.type(limit) ~= "integer" or limit < 1) then
    return string.format("limit must be a whole number of at least 1, got %s", tostring(limit))
  end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    return string.format("timeout must be a positive number of seconds, got %s", tostring(opts.timeout))
  end
  if opts.label ~= nil and type(opts.label) ~= "function" then
    return string.format("label must be a function(item) returning its name, got %s", type(opts.label))
  end
  for k in pairs(opts) do
    if not ({ limit = true, timeout = true, label = true, keep_going = true, on_item = true })[k] then
      return string.format("unknown option '%s' (limit, timeout, label, keep_going)", tostring(k))
    end
  end
end

-- parallel(items, fn, opts) -> results in the items' order. fn(item, i)
-- runs as a task, at most opts.limit at once. The first failure cancels the
-- others (their children stopped: TERM, then KILL after the grace) and
-- raises "<label>: <error>", unless keep_going: then every item runs and
-- the failures are raised together at the end. opts.timeout bounds each
-- item. opts.on_item(status) is told each item's end: {index, label,
-- status = "success" | "failed" | "cancelled" | "timed out" | "not run", seconds, error}.
function M.parallel(items, fn, opts)
  opts = opts or {}
  local bad = M.check(items, fn, opts)
  if bad then error(bad, 3) end
  local n, limit = #items, opts.limit or M.DEFAULT_LIMIT
  local parent = M.current()
  local running, results, statuses, pending = {}, {}, {}, {}
  local nexti, failures, stopping, interrupted, step_timeout = 1, {}, false, false, nil

  local function told(t, status, err)
    local s = { index = t.index, label = t.path, status = status, seconds = time_core.now() - t.started, error = err }
    statuses[t.index] = s
    if opts.on_item then pcall(opts.on_item, s) end
  end

  local function drop(t)
    for i, r in ipairs(running) do
      if r == t then table.remove(running, i) break end
    end
    tasks[t.co] = nil
  end

  -- a task that will not go on: its children and requests stopped (the
  -- scheduler waits for them below), its <close> variables run
  local function cancel(t, status, err)
    for h in pairs(t.handles) do
      if h.stop then h:stop() elseif h.cancel then h:cancel() end
      pending[#pending + 1] = h
    end
    t.handles = {}
    if coroutine.status(t.co) == "suspended" then coroutine.close(t.co) end
    drop(t)
    told(t, status, err)
  end

  local function stop_all(status, err)
    stopping = true
    for i = #running, 1, -1 do cancel(running[i], status, err) end
  end

  local function failed(t, err, status)
    failures[#failures + 1] = { index = t.index, label = t.label, error = err }
    cancel(t, status or "failed", err)
    if not opts.keep_going and not stopping then stop_all("cancelled") end
  end

  local function start(i)
    local item, now = items[i], time_core.now()
    local t = { index = i, label = label_of(opts, item, i), handles = {}, started = now, runnable = true,
                deadline = opts.timeout and now + opts.timeout }
    t.path = parent and (parent.path .. "/" .. t.label) or t.label
    t.co = coroutine.create(function() return fn(item, i) end)
    guard.task(t.co)
    tasks[t.co] = t
    running[#running + 1] = t
  end

  local function resume(t)
    t.runnable = false
    guard.slice(M.SLICE)
    local ok, v = coroutine.resume(t.co)
    local preempted = guard.preempted()
    guard.slice(0)
    if coroutine.status(t.co) == "dead" then
      if ok then
        drop(t)
        results[t.index] = v
        told(t, "success")
      else
        failed(t, text(v)) -- what it started and did not wait for is stopped too
      end
    elseif preempted then
      t.runnable = true
    elseif v ~= WAIT then
      failed(t, "the task yielded by itself (coroutine.yield inside ctx.parallel): wait through drun's primitives "
                .. "(proc.run, proc.spawn, http, health, time.sleep), which yield for you")
    end
  end

  local function due(t, now)
    return t.runnable or (t.wake and now >= t.wake) or (t.ready and t.ready())
  end

  local function any_due()
    if guard.signal() then return true end
    local now = time_core.now()
    for _, t in ipairs(running) do
      if due(t, now) or (t.deadline and now >= t.deadline) then return true end
    end
    return false
  end

  -- inside a task: cancelling that task cancels these too
  local group
  if parent then
    group = {
      stop = function() if not stopping then stop_all("cancelled", "cancelled") end end,
      done = function()
        if #running > 0 then return false end
        for _, h in ipairs(pending) do if not h:done() then return false end end
        return true
      end,
    }
    parent.handles[group] = true
  end

  while true do
    while not stopping and #running < limit and nexti <= n do
      start(nexti)
      nexti = nexti + 1
    end
    if #running == 0 then break end
    local now = time_core.now()
    local deadline, why = guard.deadline()
    if guard.signal() then
      interrupted = true
      stop_all("cancelled", "interrupted")
    elseif deadline and now >= deadline then
      step_timeout = why
      stop_all("cancelled", why)
    else
      local progressed = false
      for _, t in ipairs({ table.unpack(running) }) do
        if tasks[t.co] then
          if t.deadline and time_core.now() >= t.deadline then
            failed(t, string.format("timed out after %gs", opts.timeout), "timed out")
            progressed = true
          elseif due(t, time_core.now()) then
            resume(t)
            progressed = true
          end
        end
      end
      if not progressed and #running > 0 then -- every task waits: until the first wakes
        local wake = deadline
        for _, t in ipairs(running) do
          if t.wake and (not wake or t.wake < wake) then wake = t.wake end
          if t.deadline and (not wake or t.deadline < wake) then wake = t.deadline end
        end
        if parent then
          wait(any_due, wake)
        else
          proc_core.wait(wake and math.max(0, wake - time_core.now()) or nil)
        end
      end
    end
  end
  for i = nexti, n do -- never started
    statuses[i] = { index = i, label = label_of(opts, items[i], i), status = "not run", seconds = 0 }
    if opts.on_item then pcall(opts.on_item, statuses[i]) end
  end
  -- nothing a cancelled task started is left running
  wait(function()
    for _, h in ipairs(pending) do
      if not h:done() then return false end
    end
    return true
  end)
  for _, h in ipairs(pending) do if h.close then h:close() end end
  if group then parent.handles[group] = nil end

  if interrupted then error("interrupted", 0) end
  if step_timeout then error(step_timeout, 0) end
  if #failures > 0 then
    table.sort(failures, function(a, b) return a.index < b.index end)
    if #failures == 1 and not opts.keep_going then
      local cancelled, notrun = 0, n - nexti + 1
      for _, s in pairs(statuses) do cancelled = cancelled + (s.status == "cancelled" and 1 or 0) end
      local rest = {}
      if cancelled > 0 then rest[#rest + 1] = cancelled .. " cancelled" end
      if notrun > 0 then rest[#rest + 1] = notrun .. " not started" end
      error(failures[1].label .. ": " .. failures[1].error
            .. (#rest > 0 and (" (other items: " .. table.concat(rest, ", ") .. ")") or ""), 0)
    end
    local parts = {}
    for i, f in ipairs(failures) do parts[i] = f.label .. ": " .. f.error end
    error(string.format("%d of %d items failed: %s", #failures, n, table.concat(parts, "; ")), 0)
  end
  return results, statuses
end

return M
