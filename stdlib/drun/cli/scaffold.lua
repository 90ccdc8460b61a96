-- drun init KIND [DIR] [--force]: a shipped flow's config and its one-line
-- recipes written into a repository (DIR, default recipes/), from the copies
-- built into drun (recipes/ of drun's own tree, embedded as text). The
-- config is commented as shipped; the flow itself stays in drun
-- (drun.flows.KIND) unless the repository overrides it. A file that exists
-- is never overwritten silently: init refuses unless --force, and then says
-- which files it replaced. (Not cli/init.lua: that is the module drun.cli.)
--
-- Editor support comes with every flow (and alone: drun init types): the
-- LuaLS stubs of drun's modules (types/ of drun's tree, embedded) in
-- .drun/types/ at the repository root, refreshed each time (they are drun's,
-- not the repository's), and a .luarc.json there pointing LuaLS at them and
-- at DIR, unless the repository has its own (kept; init says what to add).
local args = require "drun.cli.args"
local fs = require "drun.fs"
local out = require "drun.core.out"

local FILES = {
  cms = { "cms-config", "cms-staging", "cms-prod", "cms-rollback", "cms-hotfix" },
  fly = { "fly-config", "fly-deploy", "fly-promote", "fly-rollback", "fly-preview", "fly-preview-cleanup" },
  compose = { "compose-config", "compose-restart", "compose-rollback", "compose-preview", "compose-preview-cleanup" },
  pages = { "docs-config", "docs-pages" },
  types = {},
}

local TYPES = ".drun/types"

-- The key reference put above a config: every key its schema
-- (drun.flows.schema.KIND) knows, with its type and what it is for.
local function reference(kind)
  local schema = require "drun.schema"
  local rows = schema.reference(require("drun.flows.schema." .. kind))
  local width = 0
  for _, row in ipairs(rows) do width = math.max(width, #row.key) end
  local lines = { string.format("-- Every key of this config (drun.flows.schema.%s), checked before anything runs: a", kind),
                  "-- misspelt key or a value of the wrong type is exit 2 naming it. Written by drun init." }
  for _, row in ipairs(rows) do
    lines[#lines + 1] = string.format("--   %-" .. width .. "s  %s", row.key, schema.about(row))
  end
  return table.concat(lines, "\n") .. "\n\n"
end

local function say(s) out.write("stdout", s) end

local function luarc(dir)
  local json = require "drun.json"
  return json.encode({
    ["$schema"] = "https://raw.githubusercontent.com/LuaLS/vscode-lua/master/setting/schema.json",
    runtime = { version = "Lua 5.4", path = json.array { "?.lua", "?/init.lua", dir .. "/?.lua", dir .. "/lib/?.lua" } },
    workspace = { library = json.array { TYPES }, checkThirdParty = false },
  }, { indent = 2, sort_keys = true }) .. "\n"
end

-- the stubs into ROOT/.drun/types, and ROOT/.luarc.json unless there is one
local function editor_support(root, dir)
  local cwd = fs.cwd()
  if root == cwd then root = "." elseif root:sub(1, #cwd + 1) == cwd .. "/" then root = root:sub(#cwd + 2) end
  local names = require("drun.core.modules").embedded("drun.types.")
  if #names == 0 then error("the editor stubs drun init writes are not in this drun", 0) end
  local types = fs.join(root, TYPES)
  fs.remove(types, true)
  fs.mkdir(types)
  for _, name in ipairs(names) do
    local ok, text = pcall(require, name)
    if not ok or type(text) ~= "string" then
      error("the editor stubs drun init writes are not in this drun (DRUN_STDLIB_DIR is set)", 0)
    end
    fs.write(fs.join(types, name:sub(#"drun.types." + 1) .. ".lua"), text)
  end
  say(string.format("wrote    %s/ (%d LuaLS stubs of drun's modules)\n", types, #names))
  local rc = fs.join(root, ".luarc.json")
  if not fs.exists(rc) then
    fs.write(rc, luarc(dir))
    say("wrote    " .. rc .. "\n")
  elseif not fs.read(rc):find(TYPES, 1, true) then
    say(string.format("kept     %s (yours): add \"%s\" to its workspace.library for drun's API in your editor\n", rc, TYPES))
  end
end


-- opts: what drun.cli.spec parsed (kind, dir, force)
return function(opts)
  return args.main("init", function()
    local kind, dir = opts.kind, opts.dir or "recipes"
    local texts = {}
    for i, name in ipairs(FILES[kind]) do
      local found, text = pcall(require, "drun.recipes." .. name)
      if not found or type(text) ~= "string" then
        error("the recipes drun init writes are not in this drun (built without them, or DRUN_STDLIB_DIR is set)", 0)
      end
      texts[i] = text
    end
    local there = {}
    for _, name in ipairs(FILES[kind]) do
      local path = fs.join(dir, name .. ".lua")
      if fs.exists(path) then there[#there + 1] = path end
    end
    if #there > 0 and not opts.force then
      args.usage_error("%s exists already: nothing written (--force replaces %s)", table.concat(there, ", "),
                       #there == 1 and "it" or "them")
    end
    if kind == "types" then
      editor_support(require("drun.ledger").repo_root(fs.cwd()), dir)
      return 0
    end
    fs.mkdir(dir)
    for i, name in ipairs(FILES[kind]) do
      local path = fs.join(dir, name .. ".lua")
      local replaced = fs.exists(path)
      fs.write(path, (i == 1 and reference(kind) or "") .. texts[i]) -- the first is the config
      say(string.format("%s %s\n", replaced and "replaced" or "wrote   ", path))
    end
    editor_support(require("drun.ledger").repo_root(fs.cwd()), dir)
    say(string.format("next: edit %s, then drun plan %s\n", fs.join(dir, FILES[kind][1] .. ".lua"),
                      fs.join(dir, FILES[kind][2] .. ".lua")))
    return 0
  end)
end
