-- A run's outputs for the next steps of a GitHub Actions job ($GITHUB_OUTPUT,
-- FLOWS.md §6): record_id, full_version, version, status, and what a step
-- set with ctx.output(name, value). Written as actions/toolkit's
-- file-command.ts prepareKeyValueMessage writes them: `name<<DELIMITER`,
-- the value, the delimiter, with a random delimiter the value cannot
-- contain. Secrets are masked first. The file is a view for the workflow;
-- the ledger is the record: a file that cannot be written is a warning,
-- never a failed deploy.
local out = require "drun.core.out"
local core = require "drun.core.ledger"

local M = {}

local NAME = "^[%a_][%w_%-]*$"

function M.valid_name(name) return type(name) == "string" and name:match(NAME) ~= nil end

-- encode(list of {name, value}) -> the text appended to $GITHUB_OUTPUT
function M.encode(list)
  local parts = {}
  for _, kv in ipairs(list) do
    local value = out.redact(tostring(kv[2]))
    local delim
    repeat delim = "ghadelimiter_" .. core.new_id() until not value:find(delim, 1, true)
    parts[#parts + 1] = string.format("%s<<%s\n%s\n%s\n", kv[1], delim, value, delim)
  end
  return table.concat(parts)
end

-- write(list) -> nil, or the warning to show when $GITHUB_OUTPUT is set and
-- cannot be appended to. Without $GITHUB_OUTPUT (not in Actions) nothing.
function M.write(list)
  local path = os.getenv("GITHUB_OUTPUT")
  if not path or path == "" or #list == 0 then return nil end
  local f, err = io.open(path, "a")
  if not f then return "cannot write the job's outputs ($GITHUB_OUTPUT): " .. tostring(err) end
  local ok, werr = f:write(M.encode(list))
  local closed, cerr = f:close()
  if not ok or not closed then return "cannot write the job's outputs ($GITHUB_OUTPUT): " .. tostring(werr or cerr) end
  return nil
end

return M
