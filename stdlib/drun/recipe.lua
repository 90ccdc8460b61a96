-- drun.recipe: a flow as metadata, parameters and ordered steps.
--
--   local recipe = require "drun.recipe"
--   local r = recipe.new {
--     name = "cms-prod", service = "cms", environment = "production",
--     version = function(ctx) return pkg.version end,   -- or a string
--     commit = function(ctx) return label end,  -- optional: what is deployed, when not HEAD (an image's commit)
--     params = { version_bump = { default = "patch", choices = { "patch", "minor", "major" } } },
--     approval = "required", lock = true, auto_rollback = false,
--     rollback_hint = "drun recipes/cms-rollback.lua",
--     secrets = { "CLOUDFLARE_API_TOKEN" },   -- checked before anything runs
--     ledger = "postgres://deploy@db.internal/drun", -- where the history lives (--ledger, then DRUN_LEDGER win)
--     validate = function(params) return "why not" end, -- params that only fail together: exit 2
--     needs = { "clean" },      -- checked before anything runs (drun.recipe.preflight; or a function of the params)
--     fetch = true, remote = "origin", -- a shallow clone is deepened rather than refused; the remote pushed to
--     outcome = "removed from",  -- the last line on success: "<service> <version> is removed from <env>" (default "live in")
--     notify = { { on = { "failed" }, slack = URL } }, -- each outcome sent where the team looks (drun.notify)
--   }
--   (environment, approval, lock and secrets may also be functions of the params)
--   r:step("deploy-mcp", { on_failure = "prod still on the previous CMS+MCP", undo = fn }, function(ctx) ... end)
--   r:step("tag", { needs = { "identity", { "push", tags = fn } } }, fn) -- what the step will need, checked first
--   return r
--
-- The file returns the recipe; `drun FILE key=value ...` runs it (drun.recipe.run)
-- and `drun plan FILE` describes it.
local M = {}

local Recipe = {}
Recipe.__index = Recipe
M.Recipe = Recipe

-- Recipes created while loading a file: one created but not returned is an
-- error the CLI can name.
M.created = {}

local PARAM_TYPES = { string = true, number = true, boolean = true }

local function fail(fmt, ...) error(string.format(fmt, ...), 3) end

-- needs: a list (each need checked here, where it is declared) or a function of the params
local function check_needs(needs, where, need_where)
  if needs == nil or type(needs) == "function" then return end
  if type(needs) ~= "table" then error(where .. ": needs must be a list of needs or a function of the params", 3) end
  for _, need in ipairs(needs) do
    local ok, e = pcall(require("drun.recipe.preflight").normalise, need, need_where or where)
    if not ok then error(e, 3) end
  end
end

local function check_params(params)
  for name, p in pairs(params) do
    if type(name) ~= "string" or not name:match("^[%a_][%w_]*$") then fail("recipe: invalid parameter name %s", tostring(name)) end
    if type(p) ~= "table" then fail("recipe: parameter '%s' must be a table {default = ..., choices = {...}}", name) end
    p.type = p.type or (p.default ~= nil and type(p.default)) or (p.choices and "string") or "string"
    if not PARAM_TYPES[p.type] then fail("recipe: parameter '%s' has unknown type '%s'", name, tostring(p.type)) end
    if p.choices and #p.choices == 0 then fail("recipe: parameter '%s' has an empty list of choices", name) end
  end
end

function M.new(spec)
  if type(spec) ~= "table" then fail("recipe.new: expected a table") end
  for _, k in ipairs { "name", "service" } do
    if type(spec[k]) ~= "string" or spec[k] == "" then fail("recipe.new: '%s' is required (a string)", k) end
  end
  local e = spec.environment -- a string, or function(params) when a parameter chooses it
  if not ((type(e) == "string" and e ~= "") or type(e) == "function") then
    fail("recipe.new: 'environment' is required (a string, or a function of the params)")
  end
  if spec.approval ~= nil and spec.approval ~= "required" and spec.approval ~= "none" and type(spec.approval) ~= "function" then
    fail("recipe.new: approval must be \"required\", \"none\" or a function of the params (got %s)", tostring(spec.approval))
  end
  local v = spec.version
  if v ~= nil and type(v) ~= "string" and type(v) ~= "function" then fail("recipe.new: version must be a string or a function") end
  if spec.commit ~= nil and type(spec.commit) ~= "function" then fail("recipe.new: commit must be a function") end
  if spec.validate ~= nil and type(spec.validate) ~= "function" then fail("recipe.new: validate must be a function") end
  if spec.secrets ~= nil and type(spec.secrets) ~= "table" and type(spec.secrets) ~= "function" then
    fail("recipe.new: secrets must be a list of variable names or a function of the params")
  end
  if spec.ledger ~= nil then
    if type(spec.ledger) ~= "string" then fail("recipe.new: ledger must be a ledger address (a string)") end
    local _, why = require("drun.ledger").address(spec.ledger)
    if why then fail("recipe.new: %s", why) end
  end
  local params = spec.params or {}
  check_params(params)
  check_needs(spec.needs, "recipe.new", "recipe.new: needs")
  if spec.fetch ~= nil and type(spec.fetch) ~= "boolean" then fail("recipe.new: fetch must be true or false") end
  if spec.remote ~= nil and (type(spec.remote) ~= "string" or spec.remote == "") then fail("recipe.new: remote must be a remote's name or URL") end
  if spec.outcome ~= nil and (type(spec.outcome) ~= "string" or spec.outcome == "") then fail("recipe.new: outcome must be words like \"removed from\"") end
  local ok_notify, why = pcall(require("drun.notify").check, spec.notify)
  if not ok_notify then fail("recipe.new: %s", why) end
  local r = setmetatable({
    name = spec.name, service = spec.service, environment = spec.environment, version = v, commit = spec.commit,
    description = spec.description, params = params, approval = spec.approval or "none",
    lock = type(spec.lock) == "function" and spec.lock or spec.lock ~= false, auto_rollback = spec.auto_rollback == true, rollback_hint = spec.rollback_hint,
    secrets = spec.secrets or {}, validate = spec.validate, ledger = spec.ledger,
    needs = spec.needs, fetch = spec.fetch == true, remote = spec.remote or "origin", outcome = spec.outcome or "live in",
    notify = spec.notify,
    steps = {}, by_name = {},
  }, Recipe)
  M.created[#M.created + 1] = r
  return r
end

function M.is_recipe(v) return getmetatable(v) == Recipe end

-- The recipe as one run sees it: what depends on the params resolved
-- (environment, approval, lock and secrets may be functions of the params).
local PER_RUN = {
  environment = tostring,
  approval = function(v) return v and "required" or "none" end,
  lock = function(v) return v ~= false and v ~= nil end,
  secrets = function(v) return type(v) == "table" and v or {} end,
}

function Recipe:for_run(params)
  local view
  for k, conv in pairs(PER_RUN) do
    if type(self[k]) == "function" then
      view = view or setmetatable({}, { __index = self })
      view[k] = conv(self[k](params))
    end
  end
  return view or self
end

-- r:step(name, [opts,] fn): opts = {description, on_failure, next, undo,
-- undo_always, read_only, verifies, timeout, needs}. next: the command the failure
-- report says to run next when this step fails (text with ${name}, or a
-- function of ctx); without it, the recipe's rollback_hint when a completed
-- step changed what is deployed, else a retry. undo_always: the undo is a local clean-up (a
-- file put back) that runs whenever a later step fails, auto-rollback or not.
-- verifies: the step checks what earlier steps changed (every machine runs
-- the new digest); under --dry-run, where nothing changed, it is described
-- and not run.
function Recipe:step(name, opts, fn)
  if type(opts) == "function" and fn == nil then opts, fn = {}, opts end
  if type(name) ~= "string" or name == "" then fail("recipe %s: a step needs a name", self.name) end
  if self.by_name[name] then fail("recipe %s: duplicate step name '%s'", self.name, name) end
  if type(fn) ~= "function" then fail("recipe %s: step '%s' needs a function", self.name, name) end
  opts = opts or {}
  if opts.undo ~= nil and type(opts.undo) ~= "function" then fail("recipe %s: step '%s': undo must be a function", self.name, name) end
  if opts.next ~= nil and type(opts.next) ~= "string" and type(opts.next) ~= "function" then
    fail("recipe %s: step '%s': next must be text or a function of ctx", self.name, name)
  end
  if opts.timeout ~= nil and (type(opts.timeout) ~= "number" or opts.timeout <= 0) then
    fail("recipe %s: step '%s': timeout must be a positive number of seconds", self.name, name)
  end
  check_needs(opts.needs, "recipe " .. self.name .. ": step '" .. name .. "'")
  local info = debug.getinfo(fn, "S")
  local s = { name = name, fn = fn, description = opts.description, on_failure = opts.on_failure, undo = opts.undo,
              read_only = opts.read_only == true, timeout = opts.timeout, undo_always = opts.undo_always == true,
              verifies = opts.verifies == true, next = opts.next, needs = opts.needs,
              where = info.short_src .. ":" .. info.linedefined,
              file = info.source:sub(1, 1) == "@" and info.source:sub(2) or nil, line = info.linedefined }
  self.steps[#self.steps + 1] = s
  self.by_name[name] = s
  return self
end

-- A number as a person types it on a command line: decimal digits with an
-- optional sign, fraction and exponent. Not hex (0x10), not inf or nan, not
-- an integer beyond 64 bits rounded to a float: those are mistakes to name.
function M.number(raw)
  local int = raw:match("^[-+]?%d+$")
  if int then
    local n = math.tointeger(tonumber(raw))
    local digits = raw:gsub("^[-+]", ""):gsub("^0+", "")
    if not n or (string.format("%d", n):gsub("^-", "")) ~= (digits == "" and "0" or digits) then
      return nil, string.format("must be a whole number between %d and %d", math.mininteger, math.maxinteger)
    end
    return n
  end
  if raw:match("^[-+]?%d*%.?%d+[eE][-+]?%d+$") or raw:match("^[-+]?%d+%.%d*$") or raw:match("^[-+]?%d*%.%d+$") then
    local n = tonumber(raw)
    if n and n == n and n ~= math.huge and n ~= -math.huge then return n end
    return nil, "must be a finite number"
  end
  return nil, "must be a decimal number"
end

-- Parameter values from "key=value" strings: validated and converted, or a
-- usage error (message, valid choices) for the CLI to print with exit 2.
function Recipe:resolve_params(given)
  local values, names = {}, {}
  for name in pairs(self.params) do names[#names + 1] = name end
  table.sort(names)
  local function valid() return #names > 0 and table.concat(names, ", ") or "(this recipe takes no parameters)" end
  for key, raw in pairs(given) do
    local p = self.params[key]
    if not p then return nil, string.format("unknown parameter '%s'; valid: %s", key, valid()) end
    local v = raw
    if p.type == "number" then
      local why
      v, why = M.number(raw)
      if not v then return nil, string.format("parameter '%s' %s (got '%s')", key, why, raw) end
    elseif p.type == "boolean" then
      if raw == "true" or raw == "yes" or raw == "1" then v = true
      elseif raw == "false" or raw == "no" or raw == "0" then v = false
      else return nil, string.format("parameter '%s' must be true or false (got '%s')", key, raw) end
    end
    if p.choices then
      local ok = false
      for _, c in ipairs(p.choices) do ok = ok or c == v end
      if not ok then
        local cs = {}
        for i, c in ipairs(p.choices) do cs[i] = tostring(c) end
        return nil, string.format("parameter '%s' must be one of %s (got '%s')", key, table.concat(cs, ", "), raw)
      end
    end
    values[key] = v
  end
  for _, name in ipairs(names) do
    local p = self.params[name]
    if values[name] == nil then
      if p.default ~= nil then values[name] = p.default
      elseif p.required then return nil, string.format("missing required parameter '%s'%s", name,
                                                        p.description and (" (" .. p.description .. ")") or "") end
    end
  end
  -- what no single parameter can say ("mode=pr needs pr=<number>")
  local why = self.validate and self.validate(values)
  if why then return nil, tostring(why) end
  return values
end

return M
