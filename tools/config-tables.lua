-- build/drun tools/config-tables.lua [README [OUT]]: README's config tables
-- made from the flows' schemas (drun.flows.schema.*): each block between
-- <!-- config: KIND --> and <!-- /config --> is rewritten with a row per key.
-- tests/lua/test_init.lua checks README is what this makes.
local fs = require "drun.fs"
local schema = require "drun.schema"

local function table_of(kind)
  local lines = { "| key | type | what it is |", "|---|---|---|" }
  for _, row in ipairs(schema.reference(require("drun.flows.schema." .. kind))) do
    local t = schema.kind(row)
    local d = (row.description or ""):gsub("|", "\\|")
    lines[#lines + 1] = string.format("| `%s` | %s | %s |", row.key, (t:gsub("|", "\\|")), d)
  end
  return table.concat(lines, "\n")
end

local readme = arg[1] or "README.md"
local text = fs.read(readme)
local n
text, n = text:gsub("(<!%-%- config: (%w+) %-%->\n).-(<!%-%- /config %-%->)", function(open, kind, close)
  return open .. table_of(kind) .. "\n" .. close
end)
if n == 0 then error("no <!-- config: KIND --> block in " .. readme, 0) end
fs.write(arg[2] or readme, text)
