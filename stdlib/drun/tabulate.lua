-- Aligned text tables for terminals.
--   tabulate(rows, { {"ID", "id"}, {"STATUS", "status", paint = fn} }, { colour = true })
--   (header = false in the options: the rows alone, still aligned)
-- Each column: header, key (or function(row) -> text), optional paint(text, row)
-- that wraps the text in colour codes (applied after padding, so columns
-- stay aligned).
local M = {}

local function utf8_width(s)
  return utf8.len(s) or #s
end

function M.tabulate(rows, columns, opts)
  opts = opts or {}
  local cells, cell_widths, widths = {}, {}, {}
  for c, col in ipairs(columns) do widths[c] = opts.header == false and 0 or utf8_width(col[1]) end
  for r, row in ipairs(rows) do
    local line_cells, line_widths = {}, {}
    for c, col in ipairs(columns) do
      local key = col[2]
      local v = type(key) == "function" and key(row) or row[key]
      v = v == nil and "" or tostring(v)
      if v:find("\n", 1, true) then v = v:gsub("%s*\n%s*", " / ") end -- one line per row
      local w = utf8_width(v)
      line_cells[c], line_widths[c] = v, w
      if w > widths[c] then widths[c] = w end
    end
    cells[r], cell_widths[r] = line_cells, line_widths
  end
  local out = {}
  local function line(values, row, vwidths)
    local parts = {}
    local n = #values
    for c, v in ipairs(values) do
      local padded = c < n and v .. string.rep(" ", widths[c] - (vwidths and vwidths[c] or utf8_width(v))) or v
      if row and opts.colour and columns[c].paint then padded = columns[c].paint(padded, row) end
      parts[c] = padded
    end
    local text = table.concat(parts, "  ")
    local e = #text -- trailing blanks (an empty last cell), trimmed without a pattern: "%s+$" backtracks
    while e > 0 and text:byte(e) == 32 do e = e - 1 end
    out[#out + 1] = text:sub(1, e)
  end
  if opts.header ~= false then
    local headers = {}
    for c, col in ipairs(columns) do headers[c] = col[1] end
    line(headers)
  end
  for r, row in ipairs(rows) do line(cells[r], row, cell_widths[r]) end
  return table.concat(out, "\n") .. "\n"
end

local CODES = { red = 31, green = 32, yellow = 33, blue = 34, cyan = 36, dim = 2, bold = 1 }
function M.colour(name, s) return string.format("\27[%dm%s\27[0m", CODES[name], s) end

-- 850ms, 12.3s, 4m05s, 2h10m
function M.duration(ms)
  if ms == nil then return "" end
  if ms < 1000 then return string.format("%dms", math.floor(ms + 0.5)) end
  local s = ms / 1000
  if s < 60 then return string.format("%.1fs", s) end
  if s < 3600 then return string.format("%dm%02ds", s // 60, math.floor(s % 60)) end
  return string.format("%dh%02dm", s // 3600, math.floor(s % 3600 / 60))
end

-- 5s ago, 3m ago, 2h ago, 4d ago; older than 30 days: the date
function M.ago(seconds_then, now)
  if not seconds_then then return "" end
  local d = math.floor(math.max(0, (now or os.time()) - seconds_then))
  if d < 60 then return string.format("%ds ago", d) end
  if d < 3600 then return string.format("%dm ago", d // 60) end
  if d < 86400 then return string.format("%dh ago", d // 3600) end
  if d < 30 * 86400 then return string.format("%dd ago", d // 86400) end
  return os.date("!%Y-%m-%d", math.floor(seconds_then))
end

return M
