-- drun.pkgjson (byte-preserving version rewrite) and drun.semver.
local t = require "t"
local pkgjson = require "drun.pkgjson"
local semver = require "drun.semver"
local fs = require "drun.fs"

local function roundtrip(original, expected_after)
  local d = t.tmpdir()
  local p = d .. "/package.json"
  fs.write(p, original)
  t.eq(pkgjson.set_version(p, "1.5.0"), "1.4.0")
  t.eq(fs.read(p), expected_after)
  t.eq(pkgjson.version(p), "1.5.0")
end

t.test("2-space, 4-space and tab indentation: only the value changes", function()
  roundtrip('{\n  "name": "cms",\n  "version": "1.4.0",\n  "private": true\n}\n',
            '{\n  "name": "cms",\n  "version": "1.5.0",\n  "private": true\n}\n')
  roundtrip('{\n    "version" : "1.4.0",\n    "name": "cms"\n}', '{\n    "version" : "1.5.0",\n    "name": "cms"\n}')
  roundtrip('{\n\t"name": "cms",\n\t"version":"1.4.0"\n}\n', '{\n\t"name": "cms",\n\t"version":"1.5.0"\n}\n')
end)

t.test("CRLF line endings and no trailing newline are kept", function()
  roundtrip('{\r\n  "name": "cms",\r\n  "version": "1.4.0"\r\n}', '{\r\n  "name": "cms",\r\n  "version": "1.5.0"\r\n}')
end)

t.test("a nested \"version\" is not touched, wherever it stands", function()
  local before = '{\n  "dependencies": { "x": { "version": "9.9.9" } },\n  "engines": ["version"],\n' ..
                 '  "description": "the \\"version\\": \\"0.0.1\\" of it",\n  "version": "1.4.0"\n}\n'
  roundtrip(before, (before:gsub('"version": "1%.4%.0"', '"version": "1.5.0"')))
end)

t.test("errors: no top-level version, not a version", function()
  local d = t.tmpdir()
  local p = t.write(d .. "/package.json", '{ "name": "x", "dependencies": { "version": "1.0.0" } }')
  t.raises(function() pkgjson.version(p) end, 'has no top%-level "version" string')
  p = t.write(d .. "/p2.json", '{ "version": "1.0.0" }')
  t.raises(function() pkgjson.set_version(p, "huge") end, "'huge' is not a version")
end)

t.test("bump", function()
  local d = t.tmpdir()
  local p = t.write(d .. "/package.json", '{ "version": "1.4.2" }')
  local new, old = pkgjson.bump(p, "minor")
  t.eq(new, "1.5.0")
  t.eq(old, "1.4.2")
  t.eq(fs.read(p), '{ "version": "1.5.0" }')
end)

t.test("semver: SemVer 2.0 precedence, bumps, tag prefixes", function()
  local order = { "1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2",
                  "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.10.0", "2.0.0" }
  for i = 1, #order - 1 do t.eq(semver.compare(order[i], order[i + 1]), -1, order[i] .. " < " .. order[i + 1]) end
  t.eq(semver.compare("1.0.0+build.1", "1.0.0+build.2"), 0, "build metadata ignored")
  t.eq(semver.bump("1.4.9", "patch"), "1.4.10")
  t.eq(semver.bump("1.4.9", "minor"), "1.5.0")
  t.eq(semver.bump("1.4.9", "major"), "2.0.0")
  t.eq(semver.bump("2.0.0-rc.1", "major"), "2.0.0")
  t.eq(semver.format("1.5.0", "cms-v"), "cms-v1.5.0")
  t.eq(semver.from_tag("cms-v1.10.0"), "1.10.0")
  t.eq(semver.from_tag("cms-vnext"), nil)
  for _, bad in ipairs { "1.2", "01.2.3", "1.2.3-", "1.2.3-01", "a.b.c", "1.2.3+" } do
    t.eq(semver.parse(bad), nil, bad)
  end
  t.raises(function() semver.bump("1.2.3", "huge") end, "bump takes patch, minor or major")
end)

t.test("semver: exactly semver.org (empty identifiers, long numbers, overflow)", function()
  for _, bad in ipairs { "1.1.2+.123", "1.0.0+a..b", "1.0.0+a.", "1.0.0-a..b", "1.0.0-.a", "1.0.0-a_b",
                         "1.0.0+a+b", "1.2.3-rc.01", "99999999999999999999.0.0", "1.9223372036854775808.0" } do
    t.eq(semver.parse(bad), nil, bad)
  end
  t.match(select(2, semver.parse("1.1.2+.123")), "empty build identifier")
  t.match(select(2, semver.parse("99999999999999999999.0.0")), "larger than 9223372036854775807")
  -- the official valid examples keep their text
  for _, good in ipairs { "1.0.0-0A.is.legal", "1.0.0-alpha+001", "1.0.0+21AF26D3----117B344092BD",
                          "1.0.0-x-y-z.--", "2.0.0-rc.1+build.123", "1.2.3----RC-SNAPSHOT.12.9.1--.12+788",
                          "9223372036854775807.0.0" } do
    t.eq(semver.tostring(assert(semver.parse(good))), good)
  end
  -- numeric pre-release identifiers of any length: by value, printed as given
  local big = "1.0.0-rc.99999999999999999999999"
  t.eq(semver.tostring(semver.parse(big)), big, "no float, no 1e+23")
  t.eq(semver.compare("1.0.0-rc.99999999999999999999998", big), -1)
  t.eq(semver.compare("1.0.0-rc.100000000000000000000000", big), 1)
  t.eq(semver.compare("1.0.0-rc.9", "1.0.0-rc.10"), -1)
  t.eq(semver.compare("1.0.0-1", "1.0.0-a"), -1, "numeric before alphanumeric")
  t.eq(semver.compare("1.0.0-10a", "1.0.0-9a"), -1, "alphanumeric in ASCII order")
  t.eq(semver.bump("1.2.9223372036854775806", "patch"), "1.2.9223372036854775807")
  local msg = t.raises(function() semver.bump("1.2.9223372036854775807", "patch") end, "would overflow")
  t.match(msg, "^tests/lua/test_pkgjson_semver%.lua:%d+:", "names the caller's file, not semver.lua")
  t.raises(function() semver.bump("9223372036854775807.0.0", "major") end, "would overflow")
  msg = t.raises(function() semver.compare("1.2", "1.2.3") end, "not a version")
  t.match(msg, "^tests/lua/test_pkgjson_semver%.lua:%d+:")
end)
