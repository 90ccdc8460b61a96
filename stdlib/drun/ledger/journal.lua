-- The local journal of a shared ledger (DESIGN.md, "The ledger"): the
-- writes a run could not send because the ledger became unreachable, kept in
-- .drun/journal/ at the repository root, one file per run, JSON Lines. The
-- first line names the ledger (its address without password). Each further
-- line is one statement and its parameters, as the policy ran it. Every
-- journaled statement may run twice: none hands out a number. The next drun
-- that opens that ledger sends them in order, and so does `drun ledger sync`.
-- A file goes once every line of it is sent.
--
-- What is journaled was already redacted for the ledger, so no secret is
-- written here either.
local fs = require "drun.fs"
local json = require "drun.json"
local core = require "drun.core.ledger"

local M = {}

local function dir_of(root) return root .. "/.drun/journal" end

-- new(root, ledger_shown) -> journal: append(sql, params) writes a line
-- (creating the file on first use); path says where
function M.new(root, shown)
  local j = { dir = dir_of(root), shown = shown, count = 0 }
  function j.append(sql, params)
    if not j.path then
      fs.mkdir(j.dir)
      if not fs.exists(root .. "/.drun/.gitignore") then fs.try.write(root .. "/.drun/.gitignore", "*\n") end
      j.path = j.dir .. "/" .. core.new_id() .. ".jsonl"
      fs.write(j.path, json.encode { ledger = shown, created = core.now() } .. "\n")
    end
    local line = json.encode { sql = sql, params = params } .. "\n"
    local f = assert(io.open(j.path, "a"))
    f:write(line)
    f:close()
    j.count = j.count + 1
  end
  return j
end

-- waiting(root, shown) -> {{path, statements = {{sql, params}}}} for that
-- ledger, oldest first
function M.waiting(root, shown)
  local out = {}
  local dir = dir_of(root)
  if not fs.exists(dir) then return out end
  local names = fs.list(dir)
  table.sort(names)
  for _, name in ipairs(names) do
    if name:match("%.jsonl$") then
      local path = dir .. "/" .. name
      local lines = {}
      for line in (fs.try.read(path) or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
      local ok, head = pcall(json.decode, lines[1] or "")
      if ok and type(head) == "table" and head.ledger == shown then
        local statements = {}
        for i = 2, #lines do
          local good, s = pcall(json.decode, lines[i])
          if good and type(s) == "table" and type(s.sql) == "string" then statements[#statements + 1] = s end
        end
        out[#out + 1] = { path = path, statements = statements }
      end
    end
  end
  return out
end

-- replay(root, shown, run) -> sent, files, err: each waiting statement run
-- through run(sql, params...) in order; a file is removed once all of it is
-- sent; the first failure stops (what is left stays for the next time)
function M.replay(root, shown, run)
  local sent, files = 0, 0
  for _, w in ipairs(M.waiting(root, shown)) do
    for _, s in ipairs(w.statements) do
      local params = {}
      local n = #(s.params or {})
      for i = 1, n do
        local v = s.params[i]
        if v == json.null then v = nil end
        params[i] = v
      end
      local ok, err = run(s.sql, table.unpack(params, 1, n))
      if not ok then return sent, files, err end
      sent = sent + 1
    end
    os.remove(w.path)
    files = files + 1
  end
  return sent, files
end

return M
