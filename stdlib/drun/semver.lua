-- drun.semver: Semantic Versioning 2.0.0.
--   semver.parse("1.4.0-rc.1+build.7") -> {major=1, minor=4, patch=0, pre={"rc", 1}, build="build.7"}
--   semver.compare(a, b) -> -1 | 0 | 1 (precedence: build metadata ignored,
--                          a pre-release sorts before its release)
--   semver.bump("1.4.2", "minor") -> "1.5.0"
--   semver.format(v, "cms-v") -> "cms-v1.5.0"
local M = {}

local function numeric(s) return s:match("^%d+$") ~= nil end

function M.parse(s)
  if type(s) ~= "string" then return nil, "semver: expected a string" end
  local core, rest = s:match("^v?(%d+%.%d+%.%d+)(.*)$")
  if not core then return nil, string.format("semver: '%s' is not a version (MAJOR.MINOR.PATCH)", s) end
  local major, minor, patch = core:match("^(%d+)%.(%d+)%.(%d+)$")
  for _, n in ipairs { major, minor, patch } do
    if #n > 1 and n:sub(1, 1) == "0" then return nil, string.format("semver: '%s' has a leading zero", s) end
  end
  local v = { major = tonumber(major), minor = tonumber(minor), patch = tonumber(patch), pre = {} }
  local pre, build = rest:match("^%-([0-9A-Za-z%-%.]+)(.*)$")
  if pre then rest = build end
  if rest ~= "" then
    build = rest:match("^%+([0-9A-Za-z%-%.]+)$")
    if not build then return nil, string.format("semver: '%s' is not a version", s) end
    v.build = build
  end
  if pre then
    for id in (pre .. "."):gmatch("([^.]*)%.") do
      if id == "" then return nil, string.format("semver: '%s' has an empty pre-release part", s) end
      if numeric(id) then
        if #id > 1 and id:sub(1, 1) == "0" then return nil, string.format("semver: '%s' has a leading zero", s) end
        v.pre[#v.pre + 1] = tonumber(id)
      else
        v.pre[#v.pre + 1] = id
      end
    end
  end
  return v
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
    if x ~= y then
      local tx, ty = type(x), type(y)
      if tx ~= ty then return tx == "number" and -1 or 1 end -- numbers before identifiers
      return x < y and -1 or 1
    end
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
function M.bump(v, part)
  local p = must(v)
  local n = { major = p.major, minor = p.minor, patch = p.patch, pre = {} }
  local was_pre = #p.pre > 0
  if part == "major" then
    if not (was_pre and p.minor == 0 and p.patch == 0) then n.major, n.minor, n.patch = p.major + 1, 0, 0 end
  elseif part == "minor" then
    if not (was_pre and p.patch == 0) then n.minor, n.patch = p.minor + 1, 0 end
  elseif part == "patch" then
    if not was_pre then n.patch = p.patch + 1 end
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
