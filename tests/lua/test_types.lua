-- Editor support: the LuaLS stubs in types/ (embedded; drun init writes them
-- into .drun/types/) cover every public function of every module drun
-- provides, ctx and the objects the modules return included, and name
-- nothing that is not there.
local t = require "t"
local fs = require "drun.fs"
local proc = require "drun.proc"
local json = require "drun.json"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()

-- A stub file's entries: classes[name] = { member = true | nested class name },
-- the module's own table being the class of the local it returns.
local function parse(text)
  local s = { meta = text:match("^%-%-%-@meta ([%w_.]+)"), classes = {}, locals = {} }
  local class, pending
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    local c = line:match("^%-%-%-@class ([%w_.]+)")
    if c then
      class, pending = c, c
      s.classes[c] = s.classes[c] or {}
    elseif line:match("^%-%-%-") then
      local f = line:match("^%-%-%-@field ([%w_]+)")
      if f and class then s.classes[class][f] = "field" end
    else
      local loc = line:match("^local ([%w_]+) = {}")
      if loc then
        s.locals[loc] = pending or ("local " .. loc)
        s.classes[s.locals[loc]] = s.classes[s.locals[loc]] or {}
      end
      pending = nil
      local owner, name = line:match("^function ([%w_]+)[.:]([%w_]+)%(")
      if owner then s.classes[s.locals[owner]][name] = true end
      local o2, k, v = line:match("^([%w_]+)%.([%w_]+) = (.-)%s*$")
      if o2 and s.locals[o2] then s.classes[s.locals[o2]][k] = s.locals[v] or true end
      local r = line:match("^return ([%w_]+)")
      if r then s.root = s.locals[r] end
    end
  end
  return s
end

local function stubs()
  local all = {}
  for _, path in ipairs(fs.glob(ROOT .. "/types/*.lua")) do
    local text = fs.read(path)
    local s = parse(text)
    s.path, s.text = path, text
    all[s.meta or path] = s
  end
  return all
end

-- what the code has against what the stub says, both ways: everything it
-- has must be stubbed, and what is stubbed must exist (an object's ---@field
-- only where `fields` says the actual table is the object itself: ctx)
local function compare(what, actual, entries, s, problems, fields)
  for k, v in pairs(actual) do
    if type(k) == "string" and not k:match("^_") then
      local e = entries[k]
      if e == nil then
        problems[#problems + 1] = string.format("%s.%s (a %s) has no stub entry", what, k, type(v))
      elseif type(e) == "string" and e ~= "field" and type(v) == "table" then
        compare(what .. "." .. k, v, s.classes[e], s, problems)
      end
    end
  end
  for k, e in pairs(entries) do
    if actual[k] == nil and (e ~= "field" or fields) then problems[#problems + 1] = string.format("%s.%s is stubbed but does not exist", what, k) end
  end
end

-- the modules a recipe or flow may require: drun.<x> and drun.flows.<x>,
-- not their parts (drun.ledger.sqlite, drun.flows.fly.steps) nor drun.core/cli
local function public_modules()
  local names = {}
  for _, path in ipairs(fs.glob(ROOT .. "/stdlib/drun/**/*.lua")) do
    local name = path:sub(#ROOT + #"/stdlib/" + 1):gsub("%.lua$", ""):gsub("/init$", ""):gsub("/", ".")
    if (name:match("^drun%.[%w_]+$") or name:match("^drun%.flows%.[%w_]+$")) and name ~= "drun.flows.schema" then
      names[#names + 1] = name
    end
  end
  for _, c in ipairs { "drun.json", "drun.env" } do names[#names + 1] = c end -- C modules
  table.sort(names)
  return names
end

t.test("every public module has a stub, and every stub is valid Lua naming its module", function()
  local all = stubs()
  local missing = {}
  for _, name in ipairs(public_modules()) do
    local mod = require(name)
    if type(mod) == "table" and next(mod) ~= nil and not all[name] then missing[#missing + 1] = name end
  end
  t.eq(table.concat(missing, ", "), "", "modules without a stub in types/")
  for name, s in pairs(all) do
    t.ok(s.meta, s.path .. " starts with ---@meta <module>")
    t.eq(fs.basename(s.path), name .. ".lua")
    t.ok(load(s.text, "=" .. s.path), s.path .. " is Lua")
    t.ok(s.root, s.path .. " returns its module's table")
    t.ok(pcall(require, name), name .. " is a module of drun's")
  end
end)

t.test("every function and value of every module has a stub entry, and no entry is stale", function()
  local problems = {}
  for name, s in pairs(stubs()) do
    compare(name, require(name), s.classes[s.root], s, problems)
  end
  t.eq(table.concat(problems, "\n"), "")
end)

t.test("the objects modules return: git repo, ledger, process handle, recipe; ctx as a step sees it", function()
  local all, problems = stubs(), {}
  local function methods(class, object, file)
    local mt = getmetatable(object)
    local index = type(mt.__index) == "table" and mt.__index or mt
    local fns = {}
    for k, v in pairs(index) do if type(v) == "function" and not k:match("^_") then fns[k] = v end end
    compare(class, fns, all[file].classes[class], all[file], problems)
  end
  local d = t.tmpdir()
  proc.run { "git", "init", "-q", d }
  local git = require("drun.git")
  local repo = git.open(d)
  methods("drun.git.Repo", repo, "drun.git")
  repo:close()
  local db = require("drun.ledger").open(d .. "/l.db")
  methods("drun.ledger.Ledger", db, "drun.ledger")
  db:close()
  local h = proc.spawn { "sleep", "5" }
  methods("drun.proc.Handle", h, "drun.proc")
  h:close()
  methods("drun.recipe.Recipe", require("drun.recipe").new { name = "x", service = "s", environment = "e" }, "drun.recipe")

  -- ctx: every key a step sees (git is opened on first use)
  local recipe = t.write(d .. "/r.lua", [[
local r = require("drun.recipe").new { name = "r", service = "s", environment = "e", version = "1.0.0" }
r:step("keys", function(ctx)
  local keys = { "git" }
  for k in pairs(ctx) do keys[#keys + 1] = k end
  require("drun.fs").write(os.getenv("KEYS"), require("drun.json").encode(keys))
end)
return r
]])
  -- as on a GitHub runner: every field set
  local r = t.drun({ recipe, "--ledger", d .. "/l.db" }, { cwd = d, env = {
    KEYS = d .. "/keys.json", GITHUB_SHA = string.rep("a", 40), GITHUB_RUN_ID = "7", GITHUB_REF_NAME = "main",
    GITHUB_SERVER_URL = "https://github.com", GITHUB_REPOSITORY = "acme/app", GITHUB_ACTOR = "octocat" } })
  t.eq(r.code, 0, r.stderr)
  local keys = {}
  for _, k in ipairs(json.decode(fs.read(d .. "/keys.json"))) do keys[k] = true end
  compare("drun.Context", keys, all["drun.recipe"].classes["drun.Context"], all["drun.recipe"], problems, true)
  t.eq(table.concat(problems, "\n"), "")
end)

t.test("drun init writes the stubs and a .luarc.json; keeps the repository's own .luarc.json", function()
  local d = t.tmpdir()
  local r = t.drun({ "init", "fly", "deploy" }, { cwd = d })
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "wrote    %./%.drun/types/ %(%d+ LuaLS stubs of drun's modules%)\nwrote    %./%.luarc%.json\n")
  for _, path in ipairs(fs.glob(ROOT .. "/types/*.lua")) do
    t.eq(fs.read(d .. "/.drun/types/" .. fs.basename(path)), fs.read(path), fs.basename(path))
  end
  local rc = json.decode(fs.read(d .. "/.luarc.json"))
  t.eq(rc.runtime.version, "Lua 5.4")
  t.eq(rc.workspace.library[1], ".drun/types")
  t.eq(table.concat(rc.runtime.path, " "), "?.lua ?/init.lua deploy/?.lua deploy/lib/?.lua")
  -- a repository's own .luarc.json is kept; init says what to add
  t.write(d .. "/.luarc.json", '{"runtime": {"version": "LuaJIT"}}\n')
  fs.remove(d .. "/.drun/types/drun.proc.lua")
  r = t.drun({ "init", "types" }, { cwd = d })
  t.eq(r.code, 0, r.stderr)
  t.match(r.stdout, "kept     %./%.luarc%.json %(yours%): add \"%.drun/types\" to its workspace%.library")
  t.eq(fs.read(d .. "/.luarc.json"), '{"runtime": {"version": "LuaJIT"}}\n')
  t.ok(fs.exists(d .. "/.drun/types/drun.proc.lua"), "the stubs are refreshed")
end)

t.test("README's table of the platform modules names every function they have", function()
  local readme = fs.read(ROOT .. "/README.md")
  for _, m in ipairs { "drun.cloudflare", "drun.fly", "drun.compose", "drun.github", "drun.pages", "drun.steps" } do
    local row = readme:match("\n| `" .. m:gsub("%.", "%%.") .. "` | ([^\n]*)")
    t.ok(row, "README has a row for " .. m)
    local names = {}
    for k, v in pairs(require(m)) do
      if type(v) == "function" then names[#names + 1] = k end
      if type(v) == "table" then
        for k2, v2 in pairs(v) do if type(v2) == "function" then names[#names + 1] = k .. "." .. k2 end end
      end
    end
    for _, name in ipairs(names) do t.ok(row:find("`" .. name .. "`", 1, true), m .. "." .. name .. " is in README's table") end
  end
end)
