-- drun.proc against real processes.
local t = require "t"
local proc = require "drun.proc"
local fs = require "drun.fs"

t.test("run captures stdout, stderr, code, duration", function()
  local r = proc.run { "sh", "-c", "echo out; echo err >&2" }
  t.eq(r.ok, true)
  t.eq(r.code, 0)
  t.eq(r.stdout, "out\n")
  t.eq(r.stderr, "err\n")
  t.ok(r.duration >= 0 and r.duration < 5)
  t.eq(r.command, "sh -c 'echo out; echo err >&2'")
end)

t.test("numbers in argv are passed as strings", function()
  t.eq(proc.output { "echo", 42, 1.5 }, "42 1.5")
end)

t.test("empty argv is an argument error", function()
  t.raises(function() proc.run {} end, "proc: empty argv")
  t.raises(function() proc.run {} end, "proc: empty argv")
end)

t.test("non-string argv elements are argument errors", function()
  t.raises(function() proc.run { "echo", {} } end, "argv%[2%] must be a string %(got table%)")
  t.raises(function() proc.run { "echo", true } end, "argv%[2%] must be a string %(got boolean%)")
  t.raises(function() proc.run { "echo", "a\0b" } end, "argv%[2%] contains a NUL byte")
  t.raises(function() proc.run "echo hi" end, "expected a table")
end)

t.test("argument errors point at the caller's line", function()
  local msg = t.raises(function() proc.run {} end)
  t.match(msg, "test_proc%.lua:%d+: proc: empty argv")
end)

t.test("missing executable: 'name: not found in PATH'", function()
  t.raises(function() proc.run { "wrangler-not-installed", "deploy" } end, "wrangler%-not%-installed: not found in PATH")
  local r, err = proc.run { "wrangler-not-installed", check = false }
  t.eq(r, nil)
  t.eq(err, "wrangler-not-installed: not found in PATH")
  t.eq(proc.which("wrangler-not-installed"), nil)
  t.match(proc.which("sh"), "^/.*/sh$")
end)

t.test("non-executable file and missing path are clear errors", function()
  local d = t.tmpdir()
  local f = t.write(d .. "/script.sh", "#!/bin/sh\necho hi\n", tonumber("644", 8))
  t.raises(function() proc.run { f } end, "script%.sh: not executable %(permission denied%)")
  t.raises(function() proc.run { d .. "/absent" } end, "absent: no such file")
end)

t.test("PATH from the child's env is used to find the program", function()
  local d = t.tmpdir()
  t.write(d .. "/bin/only-here", "#!/bin/sh\necho found-me\n", tonumber("755", 8))
  t.eq(proc.output { "only-here", env = { PATH = d .. "/bin:/usr/bin:/bin" } }, "found-me")
end)

t.test("cwd that does not exist or is a file", function()
  t.raises(function() proc.run { "true", cwd = "/no/such/dir" } end, "proc: cwd '/no/such/dir' does not exist")
  local d = t.tmpdir()
  local f = t.write(d .. "/file", "")
  t.raises(function() proc.run { "true", cwd = f } end, "is not a directory")
  t.eq(proc.output { "pwd", cwd = d }, fs.realpath(d))
end)

t.test("check: non-zero exit raises with the command, code and stderr tail", function()
  local msg = t.raises(function()
    proc.run { "sh", "-c", "for i in $(seq 1 50); do echo line$i >&2; done; exit 2" }
  end)
  t.match(msg, "command 'sh %-c 'for i in")
  t.match(msg, "exited with 2:\nline31\n")
  t.match(msg, "line50$")
  t.no_match(msg, "line30\n")
  local r = proc.run { "sh", "-c", "exit 3", check = false }
  t.eq(r.ok, false)
  t.eq(r.code, 3)
end)

t.test("timeout on a child that ignores SIGTERM: killed after the grace", function()
  local r = proc.run { "sh", "-c", "trap '' TERM; sleep 30", timeout = 0.3, grace = 0.3, check = false }
  t.eq(r.timed_out, true)
  t.eq(r.signal, 9)
  t.ok(r.duration >= 0.55 and r.duration < 5, "duration " .. r.duration)
  t.raises(function() proc.run { "sleep", "30", timeout = 0.2 } end, "command 'sleep 30' timed out after 0%.%ds and was killed")
end)

t.test("a grandchild that ignores SIGTERM is killed with the group after the grace, though the child exited", function()
  local d = t.tmpdir()
  -- the child exits on TERM at once; its grandchild ignores TERM and would live on
  local r = proc.run { "sh", "-c", [[sh -c "trap '' TERM; echo \$\$ > $0/gc; exec sleep 30" & wait]], d,
                       timeout = 0.3, grace = 0.4, check = false }
  t.eq(r.timed_out, true)
  local gc = tonumber((require("drun.fs").read(d .. "/gc")))
  t.ok(gc, "the grandchild wrote its pid")
  -- dead, or a zombie waiting for init to reap it: not running
  local state
  for _ = 1, 100 do -- SIGKILL was sent; the kernel takes a moment to finish it
    local stat = require("drun.fs").try.read("/proc/" .. gc .. "/stat")
    state = stat and stat:match("^%d+ %b() (%a)")
    if state == nil or state == "Z" then break end
    require("drun.time").sleep(0.02)
  end
  t.ok(state == nil or state == "Z", "grandchild " .. gc .. " still running (state " .. tostring(state) .. ")")
  t.ok(r.duration >= 0.3 and r.duration < 5, "duration " .. r.duration)
end)

t.test("a child that closes stdout but keeps running is waited for", function()
  local r = proc.run { "sh", "-c", "echo before; exec >&-; sleep 0.4; echo after >&2" }
  t.eq(r.stdout, "before\n")
  t.eq(r.stderr, "after\n")
  t.ok(r.duration >= 0.39)
end)

t.test("1 GB of output: no deadlock, memory capped, tail kept", function()
  local cap = 1024 * 1024
  local r = proc.run { "sh", "-c", "head -c 1073741824 /dev/zero; echo; echo THE-END", cap = cap }
  t.eq(#r.stdout, cap)
  t.eq(r.stdout_dropped, 1073741824 + 1 + 8 - cap)
  t.match(r.stdout, "\nTHE%-END\n$")
end)

t.test("default cap is a few MiB", function()
  t.eq(proc.DEFAULT_CAP, 8 * 1024 * 1024)
  local r = proc.run { "head", "-c", tostring(9 * 1024 * 1024), "/dev/zero" }
  t.eq(#r.stdout, proc.DEFAULT_CAP)
  t.eq(r.stdout_dropped, 1024 * 1024)
end)

t.test("stdin larger than the pipe buffer", function()
  local data = string.rep("0123456789abcdef", 1024 * 1024) -- 16 MiB
  local r = proc.run { "sha256sum", stdin = data }
  local want = proc.run { "sha256sum", stdin = data }.stdout
  t.eq(r.stdout, want)
  t.eq(proc.output { "wc", "-c", stdin = data }, tostring(#data))
  t.eq(proc.run({ "true", stdin = data }).code, 0) -- a child that never reads
end)

t.test("stdin defaults to /dev/null: a prompting tool does not hang", function()
  local r = proc.run { "sh", "-c", "read answer; echo got:$answer", timeout = 5 }
  t.eq(r.stdout, "got:\n")
end)

t.test("env adds to the parent's, false removes, clear_env replaces", function()
  require("drun.env").set("DRUN_TEST_PARENT", "p")
  t.eq(proc.output { "sh", "-c", "echo $DRUN_TEST_PARENT-$EXTRA", env = { EXTRA = "x" } }, "p-x")
  t.eq(proc.output { "sh", "-c", "echo ${DRUN_TEST_PARENT:-unset}", env = { DRUN_TEST_PARENT = false } }, "unset")
  t.eq(proc.output { "/usr/bin/env", clear_env = true, env = { ONLY = "1" } }, "ONLY=1")
  t.raises(function() proc.run { "true", env = { ["A=B"] = "x" } } end, "invalid environment variable name")
  t.raises(function() proc.run { "true", env = { A = {} } } end, "env%.A must be a string or false")
end)

t.test("streaming and capture at the same time", function()
  local seen = {}
  local r = proc.run {
    "sh", "-c", "echo one; echo two >&2; printf three",
    stream = function(stream, line, partial) seen[#seen + 1] = stream .. ":" .. line .. (partial and "+" or "") end,
  }
  t.eq(r.stdout, "one\nthree")
  t.eq(r.stderr, "two\n")
  table.sort(seen)
  t.eq(table.concat(seen, ","), "stderr:two,stdout:one,stdout:three")
end)

t.test("stream = true writes prefixed lines to drun's own stdout/stderr", function()
  local r = t.drun { "-e", [[require('drun.proc').run { 'sh', '-c', 'echo a; echo b >&2; echo c', stream = true, prefix = '  | ' }]] }
  t.eq(r.stdout, "  | a\n  | c\n")
  t.eq(r.stderr, "  | b\n")
end)

t.test("a failing stream callback stops the child and raises its error", function()
  local msg = t.raises(function()
    proc.run { "sh", "-c", "echo first; sleep 30", stream = function() error("callback broke") end, grace = 0.2 }
  end)
  t.match(msg, "callback broke")
end)

t.test("a daemon started by the child does not block the run", function()
  local r = proc.run { "sh", "-c", "sleep 2 & echo started", timeout = 10 }
  t.eq(r.stdout, "started\n")
  t.ok(r.duration < 1.5, "returned after " .. r.duration .. "s")
end)

t.test("no zombies after many runs", function()
  for _ = 1, 50 do proc.run { "true" } end
  local me = proc.pid()
  local ps = proc.output { "ps", "-o", "stat=", "--ppid", tostring(me) }
  t.no_match(ps, "Z", "zombie children of " .. me)
end)

t.test("sh only by name, with options", function()
  t.eq(proc.sh("echo $((6 * 7))").stdout, "42\n")
  t.eq(proc.sh("exit 4", { check = false }).code, 4)
  t.raises(function() proc.sh("exit 4") end, "exited with 4")
  t.raises(function() proc.sh({ "ls" }) end, "expected a shell script string")
end)

t.test("option types are checked", function()
  t.raises(function() proc.run { "true", timeout = "soon" } end, "option 'timeout' must be a number")
  t.raises(function() proc.run { "true", timeout = -1 } end, "must not be negative")
  t.raises(function() proc.run { "true", cwd = 5 } end, "option 'cwd' must be a string")
  t.raises(function() proc.run { "true", stream = "yes" } end, "option 'stream' must be a boolean or a function")
end)

t.test("a directory is not a program; a NUL in an environment value is an error, not a cut", function()
  local d = t.tmpdir()
  t.raises(function() proc.run { d } end, "is a directory, not a program")
  t.raises(function() proc.run { "true", env = { X = "a\0b" } } end, "env%.X contains a NUL byte")
  t.raises(function() require("drun.env").set("X", "a\0b") end, "NUL byte")
  t.raises(function() proc.run { "echo", "a\0b" } end, "argv%[2%] contains a NUL byte")
end)

t.test("spawn: read_line(timeout) gives a line, nil + timeout while it is quiet, nil + eof once it ended", function()
  local h <close> = proc.spawn { "sh", "-c", "echo a; sleep 0.4; echo b" }
  t.eq(h:read_line(5), "a")
  local line, why = h:read_line(0.05)
  t.eq(line, nil)
  t.eq(why, "timeout")
  t.eq(h:read_line(5), "b")
  line, why = h:read_line(5)
  t.eq(line, nil)
  t.eq(why, "eof")
  t.eq(h:wait().code, 0)
end)
