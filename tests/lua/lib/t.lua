-- The assertions and helpers Lua tests use:
--   local t = require "t"
--   t.test("json: integers stay integers", function() t.eq(json.decode("1"), 1) end)
local proc = require "drun.proc"
local fs = require "drun.fs"

local t = { tests = {} }

function t.test(name, fn) t.tests[#t.tests + 1] = { name = name, fn = fn } end

local function show(v)
  if type(v) == "string" then return string.format("%q", #v > 300 and v:sub(1, 300) .. "..." or v) end
  return tostring(v)
end

function t.eq(got, want, what)
  if got ~= want then error(string.format("%sgot %s, want %s", what and what .. ": " or "", show(got), show(want)), 2) end
end

function t.ok(v, what)
  if not v then error((what or "expected a true value") .. " (got " .. show(v) .. ")", 2) end
  return v
end

function t.match(s, pattern, what)
  if type(s) ~= "string" or not s:find(pattern) then
    error(string.format("%s%s does not match %q", what and what .. ": " or "", show(s), pattern), 2)
  end
end

function t.no_match(s, pattern, what)
  if type(s) == "string" and s:find(pattern) then
    error(string.format("%s%s matches %q", what and what .. ": " or "", show(s), pattern), 2)
  end
end

-- raises(fn, pattern): fn must raise; returns the message.
function t.raises(fn, pattern, ...)
  local ok, err = pcall(fn, ...)
  if ok then error("expected an error matching " .. string.format("%q", pattern), 2) end
  local msg = type(err) == "string" and err or tostring(err)
  if pattern and not msg:find(pattern) then
    error(string.format("error %s does not match %q", show(msg), pattern), 2)
  end
  return msg
end

-- The drun binary under test.
t.DRUN = fs.realpath(os.getenv("DRUN_BIN") or arg[-1])

-- drun(args, opts): runs the binary under test; returns the result (never raises).
function t.drun(args, opts)
  local spec = { t.DRUN }
  for _, a in ipairs(args) do spec[#spec + 1] = a end
  for k, v in pairs(opts or {}) do spec[k] = v end
  spec.check = false
  spec.timeout = spec.timeout or 60
  return proc.run(spec)
end

-- A temp dir removed when the test file ends.
local dirs = {}
function t.tmpdir()
  local d = fs.tmpdir("drun-test")
  dirs[#dirs + 1] = d
  return d
end
function t.cleanup()
  for _, d in ipairs(dirs) do fs.remove(d, true) end
end

-- write a file, creating its directory
function t.write(path, text, mode)
  fs.mkdir(fs.dirname(path))
  fs.write(path, text, mode)
  return path
end

return t
