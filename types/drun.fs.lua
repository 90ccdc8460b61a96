---@meta drun.fs
-- The module: stdlib/drun/fs.lua over drun.core.fs. Every function raises
-- "fs: <what>: <path>: <why>"; fs.try's return nil, why instead.

---@class drun.fs.Stat
---@field type "file"|"dir"|"link"|"other"
---@field size integer
---@field mode integer permission bits
---@field mtime number

---The same functions, returning nil and why instead of raising.
---@class drun.fs.try
local try = {}
---@return string?, string?
function try.read(path) end
---@return true?, string?
function try.write(path, data, mode) end
---@return boolean
function try.exists(path) end
---@return drun.fs.Stat?, string?
function try.stat(path) end
---@return true?, string?
function try.mkdir(path) end
---@return true?, string?
function try.remove(path, recursive) end
---@return string[]?, string?
function try.list(dir) end
---@return string[]?, string?
function try.glob(pattern) end
---@return boolean
function try.match(pattern, path) end
---@return string?, string?
function try.tmpdir(prefix) end
---@return string?, string?
function try.cwd() end
---@return string?, string?
function try.realpath(path) end

local fs = {}
fs.try = try

---@param path string
---@return string
function fs.read(path) end
---Written to a temporary file beside it, then renamed: never half a file.
---Under --dry-run it says what it would write (except inside a tmpdir of this run).
---@param path string
---@param data string
---@param mode? integer permission bits
---@return true
function fs.write(path, data, mode) end
---@param path string
---@return boolean
function fs.exists(path) end
---@param path string
---@return drun.fs.Stat
function fs.stat(path) end
---With its parents, like mkdir -p.
---@param path string
---@return true
function fs.mkdir(path) end
---A file, or with recursive a folder and everything in it; a missing path is no error.
---@param path string
---@param recursive? boolean
---@return true
function fs.remove(path, recursive) end
---The names in a folder, sorted.
---@param dir string
---@return string[]
function fs.list(dir) end
---The paths matching a pattern ("migrations/*.sql", "docs/**"), sorted.
---@param pattern string
---@return string[]
function fs.glob(pattern) end
---Whether a path matches a glob pattern (*, **, ?, [a-z]).
---@param pattern string
---@param path string
---@return boolean
function fs.match(pattern, path) end
---A new private folder (mode 0700) under $TMPDIR or /tmp.
---@param prefix? string
---@return string
function fs.tmpdir(prefix) end
---@return string
function fs.cwd() end
---@param path string
---@return string
function fs.realpath(path) end
---Paths joined with one "/" between them.
---@param ... string
---@return string
function fs.join(...) end
---@param p string
---@return string
function fs.dirname(p) end
---@param p string
---@return string
function fs.basename(p) end

return fs
