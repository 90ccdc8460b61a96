-- drun.semver: Semantic Versioning 2.0.0.
--   semver.parse("1.4.0-rc.1+build.7") -> {major=1, minor=4, patch=0, pre={"rc", "1"}, build="build.7"}
--   semver.compare(a, b) -> -1 | 0 | 1 (precedence: build metadata ignored,
--                          a pre-release sorts before its release)
--   semver.bump("1.4.2", "minor") -> "1.5.0"
--   semver.format(v, "cms-v") -> "cms-v1.5.0"
local M = {}

-- semver.org's grammar: identifiers are non-empty runs of [0-9A-Za-z-];
-- numeric ones have no leading zero. MAJOR.MINOR.PATCH are Lua integers (a
-- part beyond 2^63-1 is refused, never rounded to a float); pre-release
-- identifiers keep their text, so numeric ones of any length compare and
-- print exactly: pre = { "rc", "12" }.
local function numeric(s) return s:match("^%d+$") ~= nil end

local function identifiers(s, text, what)
  local ids = {}
  for id in (s .. "."):gmatch("([^.]*)%.") do
    if id == "" then return nil, string.format("semver: '%s' has an empty %s identifier", text, what) end
    if not id:match("^[0-9A-Za-z-]+$") then
      return nil, string.format("semver: '%s' has an invalid %s identifier '%s'", text, what, id)
    end
    ids[#ids + 1] = id
  end
  return ids
end

local function integer(digits, text)
  if #digits > 1 and digits:sub(1, 1) == "0" then return nil, string.format("semver: '%s' has a leading zero", text) end
  local n = math.tointeger(tonumber(digits))
  if not n or #digits > 19 or string.format("%d", n) ~= digits then
    return nil, string.format("semver: '%s' has a number larger than %d", text, math.maxinteger)
  end
  return n
end

function M.parse(s)
  if type(s) ~= "string" then return nil, "semver: expected a string" end
  local major, minor, patch, rest = s:match("^v?(%d+)%.(%d+)%.(%d+)(.*)$")
  if not major then return nil, string.format("semver: '%s' is not a version (MAJOR.MINOR.PATCH)", s) end
  local v = { pre = {} }
  for k, digits in pairs { major = major, minor = minor, patch = patch } do
    local n, err = integer(digits, s)
    if not n then return nil, err end
    v[k] = n
  end
  local pre, build = rest:match("^%-([^+]*)(.*)$")
  if pre then rest = build end
  if rest ~= "" then
    build = rest:match("^%+(.*)$")
    if not build then return nil, string.format("semver: '%s' is not a version", s) end
    local ok, err = identifiers(build, s, "build")
    if not ok then return nil, err end
    v.build = build
  end
  if pre then
    local ids, err = identifiers(pre, s, "pre-release")
    if not ids then return nil, err end
    for _, id in ipairs(ids) do
      if numeric(id) and #id > 1 and id:sub(1, 1) == "0" then
        return nil, string.format("semver: '%s' has a leading zero", s)
      end
    end
    v.pre = ids
  end
  return v
end

-- Numeric identifiers by value (length first: no leading zeros), others
-- by ASCII; numeric ones sort first.
local function compare_id(x, y)
  local nx, ny = numeric(x), numeric(y)
  if nx ~= ny then return nx and -1 or 1 end
  if nx and #x ~= #y then return #x < #y and -1 or 1 end
  if x == y then return 0 end
  return x < y and -1 or 1
end

local function must(v)
  if type(v) == "table" then return v end
  local p, err = M.parse(v)
  if not p then error(err, 3) end
  return p
end

function M.compare(a, b)
  a, b = must(a), must(b)
  for _, k in ipairs { "major", "minor", "patch" } do
    if a[k] ~= b[k] then return a[k] < b[k] and -1 or 1 end
  end
  if #a.pre == 0 or #b.pre == 0 then -- a release outranks its pre-releases
    if #a.pre == #b.pre then return 0 end
    return #a.pre == 0 and 1 or -1
  end
  for i = 1, math.max(#a.pre, #b.pre) do
    local x, y = a.pre[i], b.pre[i]
    if x == nil then return -1 end
    if y == nil then return 1 end
    local c = compare_id(tostring(x), tostring(y))
    if c ~= 0 then return c end
  end
  return 0
end

function M.tostring(v)
  local s = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  if #v.pre > 0 then
    local parts = {}
    for i, p in ipairs(v.pre) do parts[i] = tostring(p) end
    s = s .. "-" .. table.concat(parts, ".")
  end
  if v.build then s = s .. "+" .. v.build end
  return s
end

-- bump(v, "patch" | "minor" | "major"): a pre-release bumps to its release
local function inc(n, part)
  if n == math.maxinteger then error(string.format("semver: bumping %s past %d would overflow", part, n), 3) end
  return n + 1
end

function M.bump(v, part)
  local p = must(v)
  local n = { major = p.major, minor = p.minor, patch = p.patch, pre = {} }
  local was_pre = #p.pre > 0
  if part == "major" then
    if not (was_pre and p.minor == 0 and p.patch == 0) then n.major, n.minor, n.patch = inc(p.major, part), 0, 0 end
  elseif part == "minor" then
    if not (was_pre and p.patch == 0) then n.minor, n.patch = inc(p.minor, part), 0 end
  elseif part == "patch" then
    if not was_pre then n.patch = inc(p.patch, part) end
  else
    error(string.format("semver: bump takes patch, minor or major (got %s)", tostring(part)), 2)
  end
  return M.tostring(n)
end

function M.format(v, prefix)
  return (prefix or "") .. (type(v) == "table" and M.tostring(v) or M.tostring(must(v)))
end

-- The version inside a tag name: "cms-v1.10.0" -> "1.10.0" (nil if none).
function M.from_tag(name)
  local s = name:match("(%d+%.%d+%.%d+[%w%.%-+]*)$")
  return s and M.parse(s) and s or nil
end

return M
