-- drun RECIPE [key=value ...] [--yes] [--dry-run] [--auto-rollback | --no-auto-rollback]
--             [--json] [--ledger ADDRESS] [--from STEP] [--wait-lock SECONDS]
-- drun plan RECIPE [key=value ...]
--
-- Called by the host with what the recipe file returned. Validates
-- everything (exit 2, naming what is valid) before anything runs.
local recipe = require "drun.recipe"
local args = require "drun.cli.args"
local out = require "drun.core.out"

local function say(s) out.write("stdout", s) end
local function complain(s) out.write("stderr", "drun: " .. s .. "\n") end

local function plan(r, script, params, ledger_flag)
  local lines = {
    string.format("recipe      %s (%s)", r.name, script),
    string.format("deploys     %s → %s", r.service,
                  type(r.environment) == "function" and "(chosen by the params)" or r.environment),
    string.format("version     %s", type(r.version) == "string" and r.version or "worked out when it runs"),
  }
  if r.description then lines[#lines + 1] = "about       " .. r.description end
  -- the repository's own modules that stand in for drun's (a flow adapted in place)
  local overrides, mods = require("drun.core.modules").overrides(), {}
  for name in pairs(overrides) do mods[#mods + 1] = name end
  table.sort(mods)
  for i, name in ipairs(mods) do
    lines[#lines + 1] = string.format("%s %s from %s (not drun's own)", i == 1 and "modules    " or "           ", name, overrides[name])
  end
  local names = {}
  for name in pairs(r.params) do names[#names + 1] = name end
  table.sort(names)
  for i, name in ipairs(names) do
    local p = r.params[name]
    local about = {}
    if p.choices then
      local cs = {}
      for j, c in ipairs(p.choices) do cs[j] = tostring(c) end
      about[#about + 1] = "choices: " .. table.concat(cs, ", ")
    end
    if p.default ~= nil then about[#about + 1] = "default " .. (p.default == "" and '""' or tostring(p.default)) end
    if p.required then about[#about + 1] = "required" end
    if p.description then about[#about + 1] = p.description end
    local v = params[name]
    lines[#lines + 1] = string.format("%s %s = %s%s", i == 1 and "params     " or "           ", name,
                                      v == nil and "(not given)" or v == "" and '""' or tostring(v), #about > 0 and ("   (" .. table.concat(about, "; ") .. ")") or "")
  end
  if #names == 0 then lines[#lines + 1] = "params      none" end
  local ledger = require "drun.ledger"
  local address, source = ledger.choose(ledger_flag, r.ledger)
  local addr = ledger.address(address)
  lines[#lines + 1] = string.format("ledger      %s (%s)", addr and addr.shown or address, source)
  lines[#lines + 1] = "approval    " .. (type(r.approval) == "function" and "depends on the params" or r.approval)
  lines[#lines + 1] = "lock        " .. (type(r.lock) == "function" and "depends on the params" or r.lock and (r.service .. "/" .. (type(r.environment) == "string" and r.environment or "<environment>")) or "none")
  lines[#lines + 1] = "rollback    " .. (r.auto_rollback and "automatic on failure" or "manual (--auto-rollback to undo on failure)")
  if r.rollback_hint then lines[#lines + 1] = "            then: " .. (type(r.rollback_hint) == "string" and r.rollback_hint or "(computed)") end
  local ok, needs = pcall(require("drun.recipe.preflight").collect, r, params)
  if not ok then
    lines[#lines + 1] = "preflight   (depends on the params: " .. tostring(needs):gsub("^[^\n]-%.lua:%d+: ", "") .. ")"
  elseif #needs == 0 then
    lines[#lines + 1] = "preflight   secrets and ledger only"
  else
    for i, need in ipairs(needs) do
      lines[#lines + 1] = (i == 1 and "preflight   " or "            ") .. require("drun.recipe.preflight").describe(need)
    end
    if r.fetch then lines[#lines + 1] = "            a shallow clone is deepened first (fetch = true)" end
  end
  lines[#lines + 1] = "steps"
  for i, s in ipairs(r.steps) do
    local tags = {}
    if s.read_only then tags[#tags + 1] = "read-only" end
    if s.undo then tags[#tags + 1] = "has undo" end
    if s.timeout then tags[#tags + 1] = string.format("timeout %gs", s.timeout) end
    lines[#lines + 1] = string.format("  %2d. %-22s %s%s", i, s.name, s.description or "",
                                      #tags > 0 and ("  [" .. table.concat(tags, ", ") .. "]") or "")
  end
  say(table.concat(lines, "\n") .. "\n")
end

return function(result, argv, script, plan_only)
  if not recipe.is_recipe(result) then
    local made = recipe.created[#recipe.created]
    if made then
      complain(string.format("%s created recipe '%s' but returned %s: end the file with `return %s`", script, made.name,
                             result == nil and "nothing" or ("a " .. type(result)), "r"))
      return 3
    end
    if plan_only then
      complain(script .. " is not a recipe: it must return recipe.new { ... }")
      return 3
    end
    return 0 -- a plain script that used the recipe module without defining one
  end
  local r = result
  local ok, res = pcall(function()
    -- the flags are drun.cli.spec's `run` (or `plan`) command's; without
    -- any (key=value only, the common case) there is nothing to parse
    local opts = { params = argv }
    for _, a in ipairs(argv) do
      if a:sub(1, 1) == "-" then
        local spec = require "drun.cli.spec"
        opts = spec.parse({ script, table.unpack(argv) }, (plan_only and "plan " or "") .. script,
                          spec.recipe_parser(plan_only))
        break
      end
    end
    local rest = opts.params or {}
    if opts.help then
      local defaults = {} -- what each parameter is without one given (a required one: nothing yet)
      for name, p in pairs(r.params) do defaults[name] = p.default end
      plan(type(r.environment) == "function" and setmetatable({ environment = "(chosen by the params)" }, { __index = r }) or r,
           script, defaults)
      return 0
    end
    local given = {}
    for _, a in ipairs(rest) do
      local k, v = a:match("^([%w_]+)=(.*)$")
      if not k then args.usage_error("expected key=value, got '%s'", a) end
      given[k] = v
      -- api_token=... on the command line is as secret as API_TOKEN in the environment
      if require("drun.env").is_secret_name(k) then out.add_secret(v) end
    end
    local params, perr = r:resolve_params(given)
    if not params then args.usage_error("%s", perr) end
    local ledger_address = require("drun.ledger").choose(opts.ledger, r.ledger)
    local _, bad_address = require("drun.ledger").address(ledger_address)
    if bad_address then args.usage_error("%s", bad_address) end
    local from_index
    if opts.from then
      for i, s in ipairs(r.steps) do if s.name == opts.from then from_index = i end end
      if not from_index then
        local names = {}
        for i, s in ipairs(r.steps) do names[i] = s.name end
        args.usage_error("--from: no step '%s'; steps: %s", opts.from, table.concat(names, ", "))
      end
    end
    local wait = opts.wait_lock and args.count(opts, "wait-lock", 0)
    r = r:for_run(params) -- an environment chosen by a parameter is known from here on
    if plan_only then
      plan(r, script, params, opts.ledger)
      return 0
    end
    local gctx = require("drun.git").context() -- from .git's files: no libgit2 unless a step needs it
    local auto_rollback -- nil: the recipe's own default
    if opts.auto_rollback then auto_rollback = true elseif opts.no_auto_rollback then auto_rollback = false end
    return require("drun.recipe.run").execute(r, {
      params = params, yes = opts.yes, dry_run = opts.dry_run or false, json = opts.json,
      auto_rollback = auto_rollback,
      ledger_path = ledger_address, from_index = from_index, wait_lock = wait, git = gctx,
    })
  end)
  if ok then return res end
  if args.is_usage_error(res) then
    out.write("stderr", (res.message:match("^drun ") and "" or "drun: ") .. res.message .. "\n")
    return 2
  end
  error(res, 0)
end
