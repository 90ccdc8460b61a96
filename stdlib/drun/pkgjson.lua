-- drun.pkgjson: the "version" of a package.json, changed by rewriting that
-- one value: indentation, key order, line endings, a nested "version" and
-- every other byte stay as they were (the file is not re-encoded).
--
--   pkgjson.version("apps/cms/package.json")              --> "1.4.0"
--   pkgjson.set_version("apps/cms/package.json", "1.5.0") --> "1.4.0" (the old one)
--   pkgjson.bump("apps/cms/package.json", "minor")        --> "1.5.0", "1.4.0"
local fs = require "drun.fs"
local semver = require "drun.semver"

local M = {}

-- Byte offsets of the top-level "version" string's contents (between its
-- quotes), found by walking the text with a depth counter, skipping strings.
local function locate(text, path)
  local i, n, depth, key = 1, #text, 0, nil
  local expect_value = false
  while i <= n do
    local c = text:sub(i, i)
    if c == '"' then
      local j = i + 1
      while j <= n and text:sub(j, j) ~= '"' do
        j = j + (text:sub(j, j) == "\\" and 2 or 1)
      end
      if j > n then break end
      local s = text:sub(i + 1, j - 1)
      if expect_value then
        if key == "version" and depth == 1 then return i + 1, j - 1 end
        expect_value, key = false, nil
      elseif depth == 1 then
        key = s
      end
      i = j + 1
    elseif c == ":" then
      expect_value = depth == 1
      i = i + 1
    elseif c == "{" or c == "[" then
      if expect_value then expect_value, key = false, nil end
      depth = depth + 1
      i = i + 1
    elseif c == "}" or c == "]" then
      depth = depth - 1
      i = i + 1
    elseif c == "," then
      expect_value, key = false, nil
      i = i + 1
    else
      i = i + 1
    end
  end
  error(string.format("pkgjson: %s has no top-level \"version\" string", path), 3)
end

function M.version(path)
  local text = fs.read(path)
  local a, b = locate(text, path)
  return text:sub(a, b)
end

-- set_version(path, version) -> the previous version
function M.set_version(path, version)
  if not semver.parse(version) then error(string.format("pkgjson: '%s' is not a version", tostring(version)), 2) end
  local text = fs.read(path)
  local a, b = locate(text, path)
  fs.write(path, text:sub(1, a - 1) .. version .. text:sub(b + 1))
  return text:sub(a, b)
end

-- bump(path, "patch" | "minor" | "major") -> new version, old version
function M.bump(path, part)
  local old = M.version(path)
  local new = semver.bump(old, part)
  M.set_version(path, new)
  return new, old
end

return M
