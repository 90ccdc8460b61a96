-- Runs Lua test files: drun tests/lua/harness.lua FILE...
-- Each file registers tests with t.test; each test runs in pcall. Prints
-- "ok"/"FAIL" per test and ends with "N passed, N failed".
local t = require "t"

local passed, failed = 0, 0
for _, file in ipairs(arg) do
  t.tests = {}
  local suite = file:match("([^/]+)%.lua$"):gsub("^test_", "")
  local chunk, err = loadfile(file)
  if not chunk then
    print("FAIL lua/" .. suite .. ": cannot load: " .. err)
    failed = failed + 1
  else
    local ok, lerr = xpcall(chunk, debug.traceback)
    if not ok then
      print("FAIL lua/" .. suite .. ": " .. lerr)
      failed = failed + 1
    end
  end
  for _, case in ipairs(t.tests) do
    local ok, terr = xpcall(case.fn, debug.traceback)
    if ok then
      passed = passed + 1
      print("ok   lua/" .. suite .. ": " .. case.name)
    else
      failed = failed + 1
      print("FAIL lua/" .. suite .. ": " .. case.name .. "\n    " .. tostring(terr):gsub("\n", "\n    "))
    end
    io.stdout:flush()
  end
  t.cleanup()
end
print(string.format("%d passed, %d failed", passed, failed))
os.exit(failed == 0 and 0 or 1)
