-- drun init KIND [DIR] [--force]: a shipped flow's config and its one-line
-- recipes written into a repository (DIR, default recipes/), from the copies
-- built into drun (recipes/ of drun's own tree, embedded as text). The
-- config is commented as shipped; the flow itself stays in drun
-- (drun.flows.KIND) unless the repository overrides it. A file that exists
-- is never overwritten silently: init refuses unless --force, and then says
-- which files it replaced. (Not cli/init.lua: that file would be the module drun.cli.)
local args = require "drun.cli.args"
local fs = require "drun.fs"
local out = require "drun.core.out"

local FILES = {
  cms = { "cms-config", "cms-staging", "cms-prod", "cms-rollback", "cms-hotfix" },
  fly = { "fly-config", "fly-deploy", "fly-promote", "fly-rollback", "fly-preview", "fly-preview-cleanup" },
  compose = { "compose-config", "compose-restart", "compose-rollback", "compose-preview", "compose-preview-cleanup" },
  pages = { "docs-config", "docs-pages" },
}

local function say(s) out.write("stdout", s) end

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
    fs.mkdir(dir)
    for i, name in ipairs(FILES[kind]) do
      local path = fs.join(dir, name .. ".lua")
      local replaced = fs.exists(path)
      fs.write(path, texts[i])
      say(string.format("%s %s\n", replaced and "replaced" or "wrote   ", path))
    end
    say(string.format("next: edit %s, then drun plan %s\n", fs.join(dir, FILES[kind][1] .. ".lua"),
                      fs.join(dir, FILES[kind][2] .. ".lua")))
    return 0
  end)
end
