-- drun.schema: a flow's config checked before anything runs (anchor: Kong's
-- config schemas). A schema is a plain table:
--
--   local S = { type = "record", fields = {
--     service = { type = "string", required = true, description = "the ledger's name for it" },
--     batch = { type = "integer", min = 1 },
--     test = { type = "array", elements = { type = "string" } },          -- an argv
--     health_url = { type = { "string", "map" }, values = { type = "string" } }, -- one URL, or one per environment
--     scheme = { type = "string", one_of = { "https", "http" } },
--     server = { type = "record", fields = { host = { type = "string" }, port = { type = "integer" } } },
--     backfill = { type = "string", needs = { "database" } },           -- set only together with database
--     workers = { type = "array", conflicts = { "mcp_dir" } },          -- never together with mcp_dir
--   } }
--   schema.check(config, S, "compose")   -- the config, or raises a config error (exit 2)
--   schema.problems(config, S) -> { "server.port must be a whole number, got \"22x\"", ... }
--   schema.checked(S, "compose", { restart = fn, ... }) -> the same functions, the config checked first
--
-- Types: string, number, integer, boolean, function, table (any table),
-- array (1..n, each of `elements`), map (string keys, each value of
-- `values`), record (only the `fields` named: an unknown key is an error
-- naming the nearest known one), any. A list of types accepts any of them.
local M = {}

-- Levenshtein distance, for "did you mean"
local function distance(a, b)
  local prev = {}
  for j = 0, #b do prev[j] = j end
  for i = 1, #a do
    local cur = { [0] = i }
    for j = 1, #b do
      local cost = a:sub(i, i) == b:sub(j, j) and 0 or 1
      cur[j] = math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
    end
    prev = cur
  end
  return prev[#b]
end

-- the known name nearest to `name`, when it is near enough to be a typo
function M.nearest(name, names)
  local best, best_d
  for _, n in ipairs(names) do
    local d = distance(name:lower(), n:lower())
    if not best_d or d < best_d or (d == best_d and n < best) then best, best_d = n, d end
  end
  if best and best_d <= math.max(2, #name // 3) then return best end
end

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "table" then return "a table" end
  return tostring(v)
end

local function is_array(v)
  local n = 0
  for _ in pairs(v) do n = n + 1 end
  for i = 1, n do if v[i] == nil then return false end end
  return true
end

local TYPES = {
  string = function(v) return type(v) == "string" end,
  number = function(v) return type(v) == "number" end,
  integer = function(v) return math.type(v) == "integer" end,
  boolean = function(v) return type(v) == "boolean" end,
  ["function"] = function(v) return type(v) == "function" end,
  table = function(v) return type(v) == "table" end,
  array = function(v) return type(v) == "table" and is_array(v) end,
  map = function(v) return type(v) == "table" end,
  record = function(v) return type(v) == "table" end,
  any = function() return true end,
}
local NAMES = { string = "a string", number = "a number", integer = "a whole number", boolean = "true or false",
                ["function"] = "a function", table = "a table", array = "a list { ... }", map = "a table { name = ... }",
                record = "a table { ... }", any = "anything" }

local function types_of(s)
  local t = s.type or "any"
  return type(t) == "table" and t or { t }
end

local check

-- the problems of value v at path under schema s, appended to out
function check(v, s, path, out)
  if v == nil then
    if s.required then out[#out + 1] = path .. " is required" .. (s.description and (" (" .. s.description .. ")") or "") end
    return
  end
  local kind
  for _, t in ipairs(types_of(s)) do
    if not TYPES[t] then error("schema: unknown type " .. tostring(t) .. " at " .. path, 0) end
    if TYPES[t](v) then kind = t break end
  end
  if not kind then
    local want = {}
    for i, t in ipairs(types_of(s)) do want[i] = NAMES[t] end
    out[#out + 1] = string.format("%s must be %s, got %s", path, table.concat(want, " or "), show(v))
    return
  end
  if s.one_of then
    local ok = false
    for _, c in ipairs(s.one_of) do if v == c then ok = true end end
    if not ok then
      local cs = {}
      for i, c in ipairs(s.one_of) do cs[i] = show(c) end
      out[#out + 1] = string.format("%s must be one of %s, got %s", path, table.concat(cs, ", "), show(v))
    end
  end
  if s.min and type(v) == "number" and v < s.min then out[#out + 1] = string.format("%s must be at least %s, got %s", path, s.min, v) end
  if kind == "array" and s.elements then
    for i, e in ipairs(v) do check(e, s.elements, string.format("%s[%d]", path, i), out) end
  elseif kind == "map" and s.values then
    for k, e in pairs(v) do
      if type(k) ~= "string" then out[#out + 1] = string.format("%s has a key that is not a name: %s", path, show(k))
      else check(e, s.values, path .. "." .. k, out) end
    end
  elseif kind == "record" and s.fields then
    local names = {}
    for name in pairs(s.fields) do names[#names + 1] = name end
    table.sort(names)
    local unknown = {}
    for k in pairs(v) do
      if s.fields[k] == nil then unknown[#unknown + 1] = k end
    end
    table.sort(unknown, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(unknown) do
      local near = type(k) == "string" and M.nearest(k, names)
      out[#out + 1] = string.format("%s%s is not a key drun knows%s", path ~= "" and (path .. ".") or "", tostring(k),
                                    near and (" (did you mean " .. near .. "?)") or "")
    end
    local prefix = path ~= "" and (path .. ".") or ""
    for _, name in ipairs(names) do
      check(v[name], s.fields[name], prefix .. name, out)
      for _, other in ipairs(v[name] ~= nil and s.fields[name].needs or {}) do -- keys that only work together
        if v[other] == nil then out[#out + 1] = string.format("%s%s needs %s%s too", prefix, name, prefix, other) end
      end
      for _, other in ipairs(v[name] ~= nil and s.fields[name].conflicts or {}) do -- keys that say the same thing two ways
        if v[other] ~= nil then
          out[#out + 1] = string.format("%s%s and %s%s cannot both be set: keep one", prefix, name, prefix, other)
        end
      end
    end
  end
end

function M.problems(config, s)
  local out = {}
  if type(config) ~= "table" then
    return { "the config must be a table (the config file must end with `return { ... }`), got " .. show(config) }
  end
  check(config, s, "", out)
  return out
end

-- A config error: its message, and the exit code the host gives it (2, as
-- for a bad parameter; runtime/host.c reads exit_code); no traceback, it is
-- not drun's bug.
local ConfigError = { __tostring = function(e) return e.message end }

-- raises the config error that lists problems (at least one), at level
local function refuse(flow, problems, level)
  local msg = string.format("the %s flow's config: %s", flow, problems[1])
  if #problems > 1 then msg = string.format("the %s flow's config has %d problems:\n  %s", flow, #problems, table.concat(problems, "\n  ")) end
  error(setmetatable({ message = msg, exit_code = 2 }, ConfigError), level + 1)
end

-- check(config, schema, flow) -> config, or raises a config error listing every problem
function M.check(config, s, flow)
  local problems = M.problems(config, s)
  if #problems == 0 then return config end
  refuse(flow, problems, 2)
end

-- What a schema allows, as words: "list of string", "integer >= 1",
-- "one of "https", "http"", "record"
local function shape(s)
  local words = {}
  for i, t in ipairs(types_of(s)) do
    if t == "array" and s.elements then
      local inner = shape(s.elements)
      words[i] = "list of " .. (inner:find(" ") and ("(" .. inner .. ")") or inner)
    elseif t == "map" and s.values then
      words[i] = "map of " .. shape(s.values)
    else
      words[i] = t
    end
  end
  local text = table.concat(words, " or ")
  if s.one_of then
    local cs = {}
    for i, c in ipairs(s.one_of) do cs[i] = show(c) end
    text = "one of " .. table.concat(cs, ", ")
  end
  if s.min then text = text .. " >= " .. tostring(s.min) end
  return text
end

-- reference(schema) -> one row per key, nested ones under their parent
-- ("smoke.attempts", "sites[].name"), sorted: {key, shape, required,
-- needs, description}. What drun init writes above a config and the
-- README's config tables are made from it.
function M.reference(s)
  local rows = {}
  local function walk(node, prefix)
    if node.fields then
      local names = {}
      for name in pairs(node.fields) do names[#names + 1] = name end
      table.sort(names)
      for _, name in ipairs(names) do
        local f = node.fields[name]
        rows[#rows + 1] = { key = prefix .. name, shape = shape(f), required = f.required == true, needs = f.needs,
                            conflicts = f.conflicts, description = f.description }
        walk(f, prefix .. name .. ".")
      end
    elseif node.elements then
      walk(node.elements, prefix:gsub("%.$", "") .. "[].")
    elseif node.values then
      walk(node.values, prefix:gsub("%.$", "") .. ".<name>.")
    end
  end
  walk(s, "")
  return rows
end

-- A reference row's type as words: "string, required, with database"
function M.kind(row)
  local text = row.shape .. (row.required and ", required" or "")
  if row.needs then text = text .. ", with " .. table.concat(row.needs, " and ") end
  if row.conflicts then text = text .. ", not with " .. table.concat(row.conflicts, " or ") end
  return text
end

-- The words after a key: "string, required: the Pages project"
function M.about(row)
  return M.kind(row) .. (row.description and (": " .. row.description) or "")
end

-- lazy(module, name) -> a function that requires the module when first
-- called and calls its function name (an index module loads nothing it does not use)
function M.lazy(module, name)
  return function(...) return require(module)[name](...) end
end

-- checked(schema, flow, fns) -> fns whose first argument (the config) is
-- checked first: a flow module's entry points
--   return schema.checked(require "drun.flows.schema.compose", "compose", { restart = M.restart, ... })
-- A config's notify (drun.notify, a key of every flow's schema) goes to
-- the recipes its entry points make.
function M.checked(s, flow, fns)
  local out = {}
  for name, fn in pairs(fns) do
    out[name] = function(config, ...)
      local r = fn(M.check(config, s, flow), ...)
      if config.notify ~= nil and type(r) == "table" and r.notify == nil then
        local notify = require "drun.notify"
        local problems = notify.problems(config.notify) -- what the schema cannot say: a URL's
        if #problems > 0 then refuse(flow, problems, 2) end
        r.notify = notify.check(config.notify)
      end
      return r
    end
  end
  return out
end

return M
