---@meta drun.semver
-- The module: stdlib/drun/semver.lua, Semantic Versioning 2.0.0.

---@class drun.semver.Version
---@field major integer
---@field minor integer
---@field patch integer
---@field pre? string[] { "rc", "1" }
---@field build? string

local semver = {}

---@param s string "1.4.0-rc.1+build.7"
---@return drun.semver.Version?, string? why not
function semver.parse(s) end
---Precedence: build metadata ignored, a pre-release sorts before its release.
---@param a string|drun.semver.Version
---@param b string|drun.semver.Version
---@return -1|0|1
function semver.compare(a, b) end
---@param v drun.semver.Version
---@return string
function semver.tostring(v) end
---semver.bump("1.4.2", "minor") -> "1.5.0"
---@param v string
---@param part "major"|"minor"|"patch"
---@return string
function semver.bump(v, part) end
---semver.format("1.5.0", "cms-v") -> "cms-v1.5.0"
---@param v string|drun.semver.Version
---@param prefix? string
---@return string
function semver.format(v, prefix) end
---The version inside a tag name: "cms-v1.10.0" -> "1.10.0" (nil if none).
---@param name string
---@return string?
function semver.from_tag(name) end

return semver
