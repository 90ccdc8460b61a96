-- drun.task and ctx.parallel: tasks over the one event loop, and
-- drun.proc.spawn. In-process (the harness runs inside drun) and through
-- recipes run by the drun binary (Ctrl-C, labels, the summary).
local t = require "t"
local task = require "drun.task"
local proc = require "drun.proc"
local http = require "drun.http"
local time = require "drun.time"
local fs = require "drun.fs"
local json = require "drun.json"

local function open_fds()
  local n = 0
  for _ in io.popen("ls /proc/" .. proc.pid() .. "/fd"):lines() do n = n + 1 end
  return n
end

local function rss_kb()
  return tonumber(fs.read("/proc/self/status"):match("VmRSS:%s*(%d+)"))
end

t.test("results come back in the items' order, at most limit at once, all of them", function()
  local now, most = 0, 0
  local res = task.parallel({ 5, 1, 4, 2, 3, 6, 7 }, function(n)
    now = now + 1
    most = math.max(most, now)
    proc.run { "sleep", tostring(n / 100) }
    now = now - 1
    return n * 10
  end, { limit = 3 })
  t.same(res, { 50, 10, 40, 20, 30, 60, 70 })
  t.eq(most, 3, "three ran at once, never more")
end)

t.test("bad arguments: a clear error before anything runs", function()
  local ran = false
  local function f() ran = true end
  t.raises(function() task.parallel({ 1 }, f, { limit = 0 }) end, "limit must be a whole number of at least 1, got 0")
  t.raises(function() task.parallel({ 1 }, f, { limit = -2 }) end, "got %-2")
  t.raises(function() task.parallel({ 1 }, f, { limit = 1.5 }) end, "got 1%.5")
  t.raises(function() task.parallel("web1,web2", f) end, "items must be a list %(a table%), got string")
  t.raises(function() task.parallel({ 1 }, "f") end, "expected a function for each item, got string")
  t.raises(function() task.parallel({ 1 }, f, { limt = 2 }) end, "unknown option 'limt'")
  t.raises(function() task.parallel({ 1 }, f, { timeout = 0 }) end, "timeout must be a positive number")
  t.eq(ran, false)
  t.same(task.parallel({}, f), {}, "no items: no results")
end)

t.test("the first failure names the item, cancels the others and kills their process groups", function()
  local d = t.tmpdir()
  local ok, err = pcall(task.parallel, { "web1", "web2", "web3", "web4" }, function(host)
    if host == "web2" then
      time.sleep(0.2)
      error("migration failed", 0)
    end
    -- a child with a grandchild, both in its group
    proc.run { "sh", "-c", "sleep 30 & echo $! > " .. d .. "/" .. host .. ".pid; wait" }
  end, { limit = 3 })
  t.eq(ok, false)
  t.eq(err, "web2: migration failed (other items: 2 cancelled, 1 not started)")
  for _, host in ipairs { "web1", "web3" } do
    local pid = tonumber(fs.read(d .. "/" .. host .. ".pid"))
    t.eq(t.alive(pid), false, host .. "'s grandchild is gone")
  end
  t.eq(fs.exists(d .. "/web4.pid"), false, "web4 never started")
end)

t.test("keep_going: every item runs; the failures are raised together, each named", function()
  local done = {}
  local ok, err = pcall(task.parallel, { "a", "b", "c", "d" }, function(x)
    proc.run { "true" }
    if x == "b" or x == "d" then error("bad " .. x, 0) end
    done[#done + 1] = x
  end, { keep_going = true, limit = 2 })
  t.eq(ok, false)
  t.eq(err, "2 of 4 items failed: b: bad b; d: bad d")
  table.sort(done)
  t.same(done, { "a", "c" })
end)

t.test("per-item timeout: a task that never returns (a Lua loop, a sleep, a hung child) is stopped", function()
  local t0 = time.now()
  local ok, err = pcall(task.parallel, { "spin", "sleep", "child", "quick" }, function(x)
    if x == "spin" then while true do end end
    if x == "sleep" then time.sleep(3600) end
    if x == "child" then proc.run { "sleep", "3600" } end
    return x
  end, { timeout = 0.3, keep_going = true, limit = 4 })
  t.eq(ok, false)
  t.match(err, "^3 of 4 items failed: spin: timed out after 0%.3s; sleep: timed out after 0%.3s; child: timed out after 0%.3s$")
  t.ok(time.now() - t0 < 60, "it came back")
end)

t.test("a task that yields by itself gets a clear error", function()
  local ok, err = pcall(task.parallel, { "x" }, function() coroutine.yield("hello") end)
  t.eq(ok, false)
  t.match(err, "^x: the task yielded by itself %(coroutine%.yield inside ctx%.parallel%)")
  -- a coroutine of the task's own is left alone: its yields are its own
  local res = task.parallel({ 1, 2 }, function(n)
    local gen = coroutine.wrap(function() for i = 1, 3 do proc.run { "true" } coroutine.yield(i * n) end end)
    return gen() + gen() + gen()
  end)
  t.same(res, { 6, 12 })
end)

t.test("a cancelled task's child that ignores SIGTERM is killed after the grace", function()
  local d = t.tmpdir()
  local ok, err = pcall(task.parallel, { "stubborn", "failing" }, function(x)
    if x == "failing" then
      for _ = 1, 100 do if fs.exists(d .. "/pid") then break end time.sleep(0.02) end
      error("failed", 0)
    end
    proc.run { "sh", "-c", "trap '' TERM; echo $$ > " .. d .. "/pid; while :; do sleep 0.05; done", grace = 0.3 }
  end)
  t.eq(ok, false)
  t.match(err, "^failing: failed")
  t.eq(t.alive(tonumber(fs.read(d .. "/pid"))), false, "killed, not left running")
end)

t.test("a thousand items with limit 50: no descriptor leaks, memory flat", function()
  local items = {}
  for i = 1, 1000 do items[i] = i end
  local function round()
    return task.parallel(items, function(i) return proc.run({ "true" }).code + i end, { limit = 50 })
  end
  local fds = open_fds()
  round()
  collectgarbage()
  local rss = rss_kb()
  local res = round()
  collectgarbage()
  t.eq(#res, 1000)
  t.eq(res[1000], 1000)
  t.eq(open_fds(), fds, "open descriptors before and after")
  t.ok(rss_kb() - rss < 4096, string.format("resident memory grew by %d kB in a second round", rss_kb() - rss))
  t.eq(task.sources(), 0, "nothing left on the loop")
end)

t.test("a task printing 1 GB does not starve the others", function()
  local order = {}
  local res = task.parallel({ "flood", "ticker" }, function(x)
    if x == "flood" then
      local r = proc.run { "head", "-c", tostring(1024 * 1024 * 1024), "/dev/zero" }
      order[#order + 1] = x
      return r.stdout_dropped + #r.stdout
    end
    for _ = 1, 10 do
      proc.run { "true" }
      time.sleep(0.01)
    end
    order[#order + 1] = x
    return 0
  end)
  t.eq(res[1], 1024 * 1024 * 1024, "every byte read")
  t.same(order, { "ticker", "flood" }, "the ticker finished while the flood was still running")
end)

t.test("nested parallel: inner tasks carry both labels, results nest", function()
  local labels = {}
  local res = task.parallel({ "a", "b" }, function(outer)
    return task.parallel({ 1, 2 }, function(inner)
      proc.run { "true" }
      labels[#labels + 1] = task.label()
      return outer .. inner
    end)
  end)
  t.same(res, { { "a1", "a2" }, { "b1", "b2" } })
  table.sort(labels)
  t.same(labels, { "a/1", "a/2", "b/1", "b/2" })
  t.eq(task.label(), nil, "outside a task: none")
end)

t.test("requests run side by side inside tasks (one connection each), one after another outside", function()
  local base = t.server("http_test.py")
  http.get(base .. "/json") -- warm: the connection is kept
  local before = http.connections_opened()
  local res = task.parallel({ 1, 2, 3, 4 }, function(i)
    return http.get(base .. "/slow?ms=300").status + i
  end)
  t.same(res, { 201, 202, 203, 204 })
  t.ok(http.connections_opened() - before >= 3, "in flight at once: " .. (http.connections_opened() - before))
end)

t.test("spawn: lines as they come while the spawner sleeps, wait, kill, close, <close>", function()
  local h = proc.spawn { "sh", "-c", "for i in 1 2 3; do echo line $i; sleep 0.05; done; echo err >&2; exit 3" }
  t.ok(h.pid > 0)
  local got = {}
  for line in h:lines() do got[#got + 1] = line end
  t.same(got, { "line 1", "line 2", "line 3" })
  local r = h:wait()
  t.eq(r.code, 3)
  t.eq(r.stderr, "err\n")

  local s = proc.spawn { "sleep", "30" }
  t.eq(s:kill("TERM"), true)
  t.eq(s:wait().signal, 15)
  t.eq(select(2, s:kill()), "the process has exited")

  local pid
  do
    local c <close> = proc.spawn { "sh", "-c", "trap '' TERM; while :; do sleep 0.05; done", grace = 0.2 }
    pid = c.pid
  end
  t.eq(t.alive(pid), false, "closed at the end of its scope: TERM ignored, then KILL")

  local g = proc.spawn { "sleep", "30" }
  pid = g.pid
  g = nil
  collectgarbage()
  collectgarbage()
  t.eq(t.alive(pid), false, "a collected handle's process is killed and reaped")
  t.raises(function() proc.spawn { "no-such-program-xyz" } end, "not found in PATH")
end)

t.test("spawn: a secret in its lines is masked; a poller keeps running across a blocking run", function()
  local secret = "s3cr3t-" .. proc.pid()
  local h = proc.spawn { "sh", "-c", 'echo "token=$API_TOKEN"; sleep 0.2; echo later', env = { API_TOKEN = secret } }
  proc.run { "sleep", "0.3" } -- the loop turns inside: the spawned child's lines are taken meanwhile
  local got = {}
  for line in h:lines() do got[#got + 1] = line end
  t.same(got, { "token=***", "later" })
  t.eq(h:close().code, 0)
end)

-- ctx.parallel through recipes run by the binary
local function recipe_file(steps)
  local d = t.tmpdir()
  local path = t.write(d .. "/recipes/par.lua", table.concat({
    'local recipe = require "drun.recipe"',
    'local r = recipe.new { name = "par", service = "web", environment = "staging", version = "1.0.0" }',
    steps, "return r" }, "\n"))
  return path, d .. "/ledger.db", d
end

t.test("ctx.parallel in a recipe: labelled lines, item events, per-item rows in the summary", function()
  local path, lp = recipe_file [[
r:step("build", function(ctx)
  local sites = ctx.parallel({ { name = "docs" }, { name = "blog" } }, function(ctx, site)
    ctx.run { "sh", "-c", "echo building " .. site.name }
    ctx.log.info("built %s", site.name)
    return site.name
  end, { limit = 2 })
  ctx.set("sites", table.concat(sites, ","))
end)
r:step("check", function(ctx)
  ctx.parallel({ "m1", "m2", "m3" }, function(ctx, m)
    if m == "m2" then error("machine m2 is stopped", 0) end
    ctx.run { "sleep", "5" }
  end)
end)]]
  local r = t.drun { path, "--ledger", lp }
  t.eq(r.code, 1)
  t.match(r.stdout, "    %[docs%] building docs\n")
  t.match(r.stdout, "    %[blog%] built blog\n")
  t.match(r.stdout, "error:  m2: machine m2 is stopped %(other items: 2 cancelled%)")
  t.match(r.stdout, "\n  docs +success")
  t.match(r.stdout, "\n  m2 +failed")
  t.match(r.stdout, "\n  m3 +cancelled")
  local j = t.drun { path, "--ledger", lp, "--json" }
  local items, outputs = {}, {}
  for line in j.stdout:gmatch("[^\n]+") do
    local e = json.decode(line)
    if e.event == "item_end" then items[e.task] = e.status end
    if e.event == "output" and e.task then outputs[#outputs + 1] = e.task end
  end
  t.same(items, { docs = "success", blog = "success", m1 = "cancelled", m2 = "failed", m3 = "cancelled" })
  t.ok(#outputs >= 4, "output events carry the task")
  t.eq(require("drun.ledger").open(lp):latest({}).metadata.sites, "docs,blog")
end)

t.test("ctx.parallel: bad options are a recipe error naming ctx.parallel", function()
  local path, lp = recipe_file [[r:step("s", function(ctx) ctx.parallel({ 1 }, function() end, { limit = 0 }) end)]]
  local r = t.drun { path, "--ledger", lp }
  t.eq(r.code, 1)
  t.match(r.stdout, "ctx%.parallel: limit must be a whole number of at least 1, got 0")
end)

t.test("Ctrl-C during ctx.parallel: every task's children stopped, exit 130, nothing left running", function()
  local piddir = t.tmpdir()
  local path, lp, d = recipe_file(([[
r:step("fleet", function(ctx)
  ctx.parallel({ "a", "b", "c" }, function(ctx, x)
    ctx.run { "sh", "-c", "sleep 60 & echo $! > %s/" .. x .. ".pid; wait" }
  end)
end)]]):format(piddir))
  local r = proc.run { "sh", "-c", [[
    "$0" "$1" --ledger "$2" > "$3/out" 2>&1 & pid=$!
    for i in $(seq 200); do [ -s "$4/a.pid" ] && [ -s "$4/b.pid" ] && [ -s "$4/c.pid" ] && break; sleep 0.05; done
    kill -INT $pid; wait $pid; echo "exit=$?"
  ]], t.DRUN, path, lp, d, piddir, timeout = 60 }
  t.eq(r.stdout, "exit=130\n", fs.try.read(d .. "/out"))
  for _, x in ipairs { "a", "b", "c" } do
    t.eq(t.alive(tonumber(fs.read(piddir .. "/" .. x .. ".pid"))), false, x .. "'s child is gone")
  end
  t.match(fs.read(d .. "/out"), "interrupted")
end)
