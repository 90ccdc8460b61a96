-- The GitHub Actions examples (examples/github/*.yml) and the action
-- (action.yml) agree with each other and with the recipes: the YAML parses,
-- every use of this repository's action passes only inputs it declares (and
-- every required one), every recipe named exists, and every parameter,
-- with each value a workflow_dispatch choice can give it, is one `drun plan`
-- accepts.
local t = require "t"
local fs = require "drun.fs"
local json = require "drun.json"
local proc = require "drun.proc"

local ROOT = os.getenv("DRUN_ROOT") or fs.cwd()
local ACTION = "drun-dev/drun@" -- how the examples name this repository's action

-- YAML -> Lua, by PyYAML (safe_load); `on:` is YAML 1.1's boolean true there, named "on" again here
local function yaml(path)
  local r = proc.run { "python3", "-c", [[
import json, sys, yaml
def keys(v):
    if isinstance(v, dict):
        return {("on" if k is True else str(k)): keys(x) for k, x in v.items()}
    if isinstance(v, list):
        return [keys(x) for x in v]
    return v
print(json.dumps(keys(yaml.safe_load(open(sys.argv[1])))))
]], path, check = false }
  t.eq(r.code, 0, path .. ": " .. r.stderr)
  return json.decode(r.stdout)
end

local action = yaml(ROOT .. "/action.yml")

local function examples()
  local list = {}
  for _, name in ipairs(fs.list(ROOT .. "/examples/github")) do
    if name:match("%.ya?ml$") then list[#list + 1] = name end
  end
  table.sort(list)
  return list
end

t.test("action.yml: a composite action whose outputs are the run's, its inputs reach the shell only as env", function()
  t.eq(action.runs.using, "composite")
  for _, name in ipairs { "record_id", "full_version", "version", "status" } do
    t.eq(action.outputs[name].value, "${{ steps.run.outputs." .. name .. " }}", name)
  end
  t.ok(action.inputs.recipe.required, "recipe is required")
  for _, step in ipairs(action.runs.steps) do
    if step.run then t.no_match(step.run, "%${{%s*inputs%.", "an input spliced into a script (script injection)") end
  end
end)

t.test("examples/github: parse, use the action as it is declared, name recipes and params that exist", function()
  local names = examples()
  t.ok(#names >= 6, "the examples are there")
  for _, name in ipairs(names) do
    local wf = yaml(ROOT .. "/examples/github/" .. name)
    t.ok(wf.concurrency, name .. ": concurrency")
    local dispatch = type(wf.on) == "table" and wf.on.workflow_dispatch ~= nil and wf.on.workflow_dispatch ~= json.null
                     and wf.on.workflow_dispatch or nil
    local inputs = dispatch and dispatch.inputs or {}
    local uses = 0
    for job_name, job in pairs(wf.jobs) do
      local fetch_depth
      for _, step in ipairs(job.steps) do
        if type(step.uses) == "string" and step.uses:match("^actions/checkout@") then
          fetch_depth = step.with and step.with["fetch-depth"]
        end
        if type(step.uses) == "string" and step.uses:sub(1, #ACTION) == ACTION then
          uses = uses + 1
          local where = name .. " " .. job_name
          for key in pairs(step.with or {}) do t.ok(action.inputs[key], where .. ": input '" .. key .. "' is declared") end
          for key, input in pairs(action.inputs) do
            if input.required then t.ok(step.with and step.with[key], where .. ": required input " .. key) end
          end
          local recipe = ROOT .. "/" .. step.with.recipe
          t.ok(fs.exists(recipe), where .. ": " .. step.with.recipe .. " exists")
          t.match(step.with.ledger or "", "^%${{ secrets%.", where .. ": the shared ledger comes from a secret")
          -- the params, each templated value tried with what the workflow can give it
          local fixed, choices = {}, {}
          for line in (step.with.params or ""):gmatch("[^\n]+") do
            local key, value = line:match("^%s*([%w_]+)=(.*)$")
            t.ok(key, where .. ": a param line is key=value: " .. line)
            local input = value:match("^%${{ inputs%.([%w_]+) }}$")
            if input then
              t.ok(inputs[input], where .. ": inputs." .. input .. " is a workflow_dispatch input")
              if inputs[input].type == "choice" then choices[key] = inputs[input].options
              elseif inputs[input].type == "boolean" then fixed[#fixed + 1] = key .. "=true"
              else fixed[#fixed + 1] = key .. "=text" end
            elseif value:match("^%${{ github%.event%.number }}$") then fixed[#fixed + 1] = key .. "=12"
            elseif value:match("^%${{") then fixed[#fixed + 1] = key .. "=" -- the event's value: empty is valid
            else fixed[#fixed + 1] = key .. "=" .. value end
          end
          local combos = { fixed }
          for key, options in pairs(choices) do
            local more = {}
            for _, combo in ipairs(combos) do
              for _, option in ipairs(options) do
                local c = { table.unpack(combo) }
                c[#c + 1] = key .. "=" .. option
                more[#more + 1] = c
              end
            end
            combos = more
          end
          for _, combo in ipairs(combos) do
            local argv = { t.DRUN, "plan", recipe, table.unpack(combo) }
            argv.check, argv.cwd = false, ROOT
            local r = proc.run(argv)
            t.eq(r.code, 0, where .. ": drun plan " .. step.with.recipe .. " " .. table.concat(combo, " ") .. ": " .. r.stderr)
          end
          -- a recipe that tags or compares with history gets the whole history
          if step.with.recipe:match("cms%-prod") or step.with.recipe:match("docs%-pages")
             or step.with.recipe:match("fly%-promote") then
            t.eq(fetch_depth, 0, where .. ": fetch-depth: 0")
          end
        end
      end
    end
    t.ok(uses > 0, name .. " uses the action")
  end
end)

t.test("action.yml's run step: params one per line (blank lines and spaces dropped), flags from inputs, the ledger as DRUN_LEDGER", function()
  local script
  for _, step in ipairs(action.runs.steps) do if step.id == "run" then script = step.run end end
  t.ok(script, "the run step")
  local bin = t.tmpdir()
  t.write(bin .. "/drun", '#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done; printf "\\nDRUN_LEDGER=%s\\n" "$DRUN_LEDGER"\n')
  proc.run { "chmod", "+x", bin .. "/drun" }
  local r = proc.run { "bash", "-e", "-c", script, env = {
    PATH = bin .. ":" .. os.getenv("PATH"), DRUN_INPUT_RECIPE = "recipes/cms-prod.lua",
    DRUN_INPUT_PARAMS = "version_bump=minor\n\n  reason=two words; $(touch /tmp/x)  \n", DRUN_INPUT_YES = "true",
    DRUN_INPUT_DRY_RUN = "false", DRUN_INPUT_AUTO_ROLLBACK = "false", DRUN_INPUT_WAIT_LOCK = "30",
    DRUN_INPUT_LEDGER = "postgres://drun:pw@db/drun" } }
  t.eq(r.stdout, "[recipes/cms-prod.lua][version_bump=minor][reason=two words; $(touch /tmp/x)][--yes]"
               .. "[--no-auto-rollback][--wait-lock][30]\nDRUN_LEDGER=postgres://drun:pw@db/drun\n")
end)
