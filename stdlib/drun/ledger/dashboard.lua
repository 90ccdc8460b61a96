-- The ledger's HTML dashboard (`drun ledger serve`, GET /): rendered here,
-- from the ledger, as one self-contained page: no script, no CDN, no font or
-- image from elsewhere (the server's Content-Security-Policy forbids them),
-- so it works offline. It reloads itself (<meta http-equiv="refresh">).
--   page(view)        what is live where, delivery metrics, two charts
--                     (success rate per day, duration trend) and the recent
--                     deployments
--   deployment(rec)   one deployment: its fields and its steps' durations
-- Everything from the ledger goes through esc(): a commit message, a
-- version or an error with markup is shown as text.
local tab = require "drun.tabulate"
local time = require "drun.time"

local M = {}

local ENTITIES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;", ["'"] = "&#39;" }
function M.esc(v)
  if v == nil then return "" end
  return (tostring(v):gsub("[&<>\"']", ENTITIES))
end
local esc = M.esc

-- a link only to http(s): a record's URL is whatever was recorded (or imported)
local function link(url, text)
  if type(url) == "string" and url:match("^https?://[^%s]+$") then
    return string.format('<a href="%s" rel="noreferrer">%s</a>', esc(url), esc(text))
  end
  return esc(text)
end

local STYLE = [[
:root{--ok:#1a7f37;--bad:#cf222e;--warn:#9a6700;--run:#0969da;--fg:#1f2328;--dim:#656d76;--line:#d0d7de}
*{box-sizing:border-box}body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:var(--fg);
margin:0;padding:24px;background:#f6f8fa}h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.sub{color:var(--dim);margin:0 0 16px}table{border-collapse:collapse;width:100%;background:#fff;
border:1px solid var(--line)}th,td{text-align:left;padding:6px 10px;border-bottom:1px solid var(--line);
vertical-align:top}th{background:#eef1f4;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,monospace}.status{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;
font-size:12px}.success{background:var(--ok)}.failed{background:var(--bad)}.rollback,.aborted{background:var(--warn)}
.running{background:var(--run)}.cards{display:flex;gap:16px;flex-wrap:wrap;margin-top:24px}.card{background:#fff;
border:1px solid var(--line);padding:12px;flex:1 1 420px}.card h3{margin:0 0 8px;font-size:14px}
.bar{height:10px;background:var(--run);min-width:2px}.none{color:var(--dim)}svg text{font-size:11px;fill:var(--dim)}
]]

local function shell(title, refresh, body)
  return table.concat {
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    refresh and refresh > 0 and string.format('<meta http-equiv="refresh" content="%d">', refresh) or "",
    "<title>", esc(title), "</title><style>", STYLE, "</style></head><body>", body, "</body></html>\n",
  }
end

local function badge(status) return string.format('<span class="status %s">%s</span>', esc(status), esc(status)) end

local function when(iso, now)
  local t = iso and time.parse(iso)
  if not t then return esc(iso or "") end
  return string.format('<time datetime="%s" title="%s">%s</time>', esc(iso), esc(iso), esc(tab.ago(t, now)))
end

local function ms(v) return v and tab.duration(v) or "–" end
local function pct(x) return x and string.format("%.0f%%", x * 100) or "–" end

-- a table: columns {heading, function(row) -> html, class}
local function html_table(rows, columns, attrs)
  local out = { "<table", attrs or "", "><thead><tr>" }
  for _, c in ipairs(columns) do out[#out + 1] = "<th>" .. esc(c[1]) .. "</th>" end
  out[#out + 1] = "</tr></thead><tbody>"
  for _, r in ipairs(rows) do
    out[#out + 1] = "<tr>"
    for _, c in ipairs(columns) do
      out[#out + 1] = (c.class and ('<td class="' .. c.class .. '">') or "<td>") .. c[2](r) .. "</td>"
    end
    out[#out + 1] = "</tr>"
  end
  out[#out + 1] = "</tbody></table>"
  return table.concat(out)
end

-- ---- charts (inline SVG) -----------------------------------------------------

local W, H, PAD = 600, 160, 28

-- success rate per day: a bar per day (height: the share of successes of
-- that day's finished deployments), a gap where nothing was deployed
function M.success_chart(records, days, now)
  local today = now // 86400
  local per = {}
  for _, r in ipairs(records) do
    local t = time.parse(r.deployed_at)
    if t and r.status ~= "running" then
      local d = today - t // 86400
      if d >= 0 and d < days then
        per[d] = per[d] or { ok = 0, n = 0 }
        per[d].n = per[d].n + 1
        if r.status == "success" then per[d].ok = per[d].ok + 1 end
      end
    end
  end
  local bw = (W - PAD) / days
  local out = { string.format('<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="success rate per day, '
                              .. 'last %d days" class="chart success-rate">', W, H + 20, days),
                string.format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d0d7de"/>', PAD, H, W, H),
                string.format('<text x="0" y="12">100%%</text><text x="0" y="%d">0%%</text>', H) }
  for d = days - 1, 0, -1 do
    local x = PAD + (days - 1 - d) * bw
    local day = per[d]
    if day then
      local rate = day.ok / day.n
      local h = math.max(2, math.floor(rate * (H - 10)))
      out[#out + 1] = string.format('<rect class="day" x="%.1f" y="%d" width="%.1f" height="%d" fill="%s"><title>%s: '
                                    .. '%d of %d succeeded</title></rect>', x + 1, H - h, bw - 2, h,
                                    rate == 1 and "#1a7f37" or rate >= 0.5 and "#9a6700" or "#cf222e",
                                    time.utc((today - d) * 86400):sub(1, 10), day.ok, day.n)
    end
  end
  out[#out + 1] = string.format('<text x="%d" y="%d">%s</text><text x="%d" y="%d" text-anchor="end">today</text>',
                                PAD, H + 16, time.utc((today - days + 1) * 86400):sub(1, 10), W, H + 16)
  out[#out + 1] = "</svg>"
  return table.concat(out)
end

-- duration trend: the successful deployments' durations, oldest to newest
function M.duration_chart(records)
  local pts = {}
  for i = #records, 1, -1 do
    local r = records[i]
    if r.status == "success" and r.duration_ms then pts[#pts + 1] = r end
  end
  local out = { string.format('<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="duration of successful '
                              .. 'deployments, oldest to newest" class="chart duration">', W, H + 20) }
  if #pts == 0 then
    out[#out + 1] = string.format('<text x="%d" y="%d">no successful deployment yet</text></svg>', PAD, H // 2)
    return table.concat(out)
  end
  local max = 1
  for _, r in ipairs(pts) do max = math.max(max, r.duration_ms) end
  local step = #pts > 1 and (W - PAD - 10) / (#pts - 1) or 0
  local coords, dots = {}, {}
  for i, r in ipairs(pts) do
    local x = PAD + 5 + (i - 1) * step
    local y = H - math.floor(r.duration_ms / max * (H - 10))
    coords[#coords + 1] = string.format("%.1f,%d", x, y)
    dots[#dots + 1] = string.format('<circle class="point" cx="%.1f" cy="%d" r="3" fill="#0969da"><title>%s %s: %s'
                                    .. '</title></circle>', x, y, esc(r.service), esc(r.full_version),
                                    esc(tab.duration(r.duration_ms)))
  end
  out[#out + 1] = string.format('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#d0d7de"/>', PAD, H, W, H)
  out[#out + 1] = string.format('<text x="0" y="12">%s</text><text x="0" y="%d">0</text>', esc(tab.duration(max)), H)
  out[#out + 1] = string.format('<polyline fill="none" stroke="#0969da" stroke-width="2" points="%s"/>',
                                table.concat(coords, " "))
  out[#out + 1] = table.concat(dots) .. "</svg>"
  return table.concat(out)
end

-- ---- pages ----------------------------------------------------------------------

-- page{ledger = shown address, live = db:live(), recent = records, window =
-- records of the metrics' window, delivery = metrics.delivery(...), days,
-- now, refresh}
function M.page(v)
  local now = v.now
  local b = { "<h1>drun ledger</h1>", string.format('<p class="sub">%s · %s · reloads every %s</p>', esc(v.ledger),
                                                   esc(time.utc(now)),
                                                   v.refresh > 0 and (v.refresh .. " s") or "never") }
  b[#b + 1] = '<h2>Live now</h2>'
  if #v.live == 0 then
    b[#b + 1] = '<p class="none" id="no-deployments">no deployments recorded</p>'
  else
    b[#b + 1] = html_table(v.live, {
      { "Service", function(t) return esc(t.service) end },
      { "Environment", function(t) return esc(t.environment) end },
      { "Version", function(t) return t.live and ("<code>" .. esc(t.live.full_version) .. "</code>") or '<span class="none">nothing live</span>' end },
      { "Commit", function(t) return t.live and ("<code>" .. esc((t.live.git_commit or ""):sub(1, 12)) .. "</code>") or "" end },
      { "Deployed", function(t) return t.live and when(t.live.finished_at or t.live.deployed_at, now) or "" end },
      { "By", function(t) return t.live and esc(t.live.deployed_by) or "" end },
      { "Run", function(t) return t.live and t.live.workflow_run_url and link(t.live.workflow_run_url, "run") or "" end },
      { "Last attempt", function(t)
        if not t.last or (t.live and t.last.id == t.live.id) then return "" end
        return badge(t.last.status) .. " " .. string.format('<a href="/deployments/%s">%s</a>', esc(t.last.id),
                                                            esc(t.last.full_version))
      end },
    }, ' id="live"')
  end

  b[#b + 1] = string.format("<h2>Delivery, last %d days</h2>", v.days)
  local groups = v.delivery.groups
  if #groups == 0 then
    b[#b + 1] = '<p class="none">no deployments in that window</p>'
  else
    b[#b + 1] = html_table(groups, {
      { "Service", function(g) return esc(g.service) end },
      { "Environment", function(g) return esc(g.environment) end },
      { "Deployments", function(g) return g.successful .. " of " .. g.deployments end, class = "num" },
      { "Per week", function(g) return string.format("%.1f", g.per_week) end, class = "num" },
      { "Change failure rate", function(g) return pct(g.change_failure_rate) end, class = "num" },
      { "Time to restore", function(g) return ms(g.time_to_restore_ms) .. (g.open_failures > 0 and " (failing now)" or "") end, class = "num" },
      { "Lead time", function(g) return ms(g.lead_time_ms) end, class = "num" },
    }, ' id="delivery"')
  end

  b[#b + 1] = '<div class="cards"><div class="card"><h3>Success rate per day</h3>'
      .. M.success_chart(v.window, math.min(v.days, 30), now) .. '</div><div class="card"><h3>Duration of '
      .. 'successful deployments</h3>' .. M.duration_chart(v.recent) .. "</div></div>"

  b[#b + 1] = "<h2>Recent deployments</h2>"
  if #v.recent == 0 then
    b[#b + 1] = '<p class="none">no deployments recorded</p>'
  else
    b[#b + 1] = html_table(v.recent, {
      { "Service", function(r) return esc(r.service) end },
      { "Environment", function(r) return esc(r.environment) end },
      { "Version", function(r) return string.format('<a href="/deployments/%s"><code>%s</code></a>', esc(r.id),
                                                    esc(r.full_version)) end },
      { "Status", function(r) return badge(r.status) .. (r.failed_step and (" at " .. esc(r.failed_step)) or "") end },
      { "Deployed", function(r) return when(r.deployed_at, now) end },
      { "By", function(r) return esc(r.deployed_by) end },
      { "Duration", function(r) return ms(r.duration_ms) end, class = "num" },
    }, ' id="recent"')
  end
  return shell("drun ledger", v.refresh, table.concat(b, "\n"))
end

-- a drun.changelog as HTML: a list per group
function M.changes(log, prev)
  local b = { string.format('<p class="sub">since %s (<code>%s</code>)</p>', esc(prev.full_version),
                            esc(prev.git_commit:sub(1, 12))) }
  if log.count == 0 then return b[1] .. '<p class="none">no commits between them</p>' end
  for _, g in ipairs(log.groups) do
    b[#b + 1] = "<h3>" .. esc(g.title) .. '</h3><ul class="changes">'
    for _, e in ipairs(g.entries) do
      b[#b + 1] = string.format("<li><code>%s</code> %s%s</li>", esc(e.sha:sub(1, 7)),
                                e.scope and ("<b>" .. esc(e.scope) .. ":</b> ") or "", esc(e.description))
    end
    b[#b + 1] = "</ul>"
  end
  return table.concat(b)
end

function M.deployment(rec, v)
  local now = v.now
  local b = { '<p><a href="/">← all deployments</a></p>',
              string.format("<h1>%s %s → %s</h1>", esc(rec.service), esc(rec.full_version), esc(rec.environment)) }
  local fields = {
    { "Status", badge(rec.status) .. (rec.failed_step and (" at step " .. esc(rec.failed_step)) or "") },
    { "Id", "<code>" .. esc(rec.id) .. "</code>" },
    { "Recipe", esc(rec.recipe) },
    { "Commit", rec.git_commit and ("<code>" .. esc(rec.git_commit) .. "</code>" .. (rec.git_branch and (" on " .. esc(rec.git_branch)) or "")) or "" },
    { "Deployed", when(rec.deployed_at, now) .. (rec.deployed_by and (" by " .. esc(rec.deployed_by)) or "") },
    { "Duration", ms(rec.duration_ms) },
    { "Run", link(rec.workflow_run_url, rec.workflow_run_url or "") },
    { "Error", rec.error and ("<code>" .. esc(rec.error) .. "</code>") or "" },
  }
  b[#b + 1] = html_table(fields, { { "Field", function(f) return esc(f[1]) end }, { "Value", function(f) return f[2] end } },
                         ' id="fields"')
  b[#b + 1] = "<h2>Steps</h2>"
  local longest = 1
  for _, s in ipairs(rec.steps) do longest = math.max(longest, s.duration_ms or 0) end
  if #rec.steps == 0 then
    b[#b + 1] = '<p class="none">no steps recorded</p>'
  else
    b[#b + 1] = html_table(rec.steps, {
      { "#", function(s) return esc(s.seq) end, class = "num" },
      { "Step", function(s) return esc(s.name) end },
      { "Status", function(s) return badge(s.status) end },
      { "Duration", function(s) return ms(s.duration_ms) end, class = "num" },
      { "", function(s)
        return string.format('<div class="bar" style="width:%.1f%%"></div>', (s.duration_ms or 0) / longest * 100)
      end },
      { "Error", function(s) return s.error and ("<code>" .. esc(s.error) .. "</code>") or "" end },
    }, ' id="steps"')
  end
  if v.log then b[#b + 1] = '<h2>Changes</h2><div id="changes">' .. M.changes(v.log, v.previous) .. "</div>" end
  return shell(rec.service .. " " .. rec.full_version, v.refresh, table.concat(b, "\n"))
end

return M
