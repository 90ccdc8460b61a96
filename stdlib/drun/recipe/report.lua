-- What a run shows: human text (stdout; stderr under --json), JSON Lines
-- events (--json, on stdout), and under GitHub Actions ::group:: per step,
-- ::error:: on failure and a Markdown summary in $GITHUB_STEP_SUMMARY.
--
-- JSON Lines events, one object per line, each with "event" and "time"
-- (UTC ISO-8601) and "recipe":
--   recipe_start {service, environment, version, full_version, params, dry_run, steps}
--   step_start   {step, index, total}
--   output       {step, stream = "stdout"|"stderr"|"log", line, level?, line_base64?}
--                (a line that is not valid UTF-8: line has U+FFFD for each
--                invalid byte and line_base64 holds the bytes as they were)
-- Secrets are masked in every field before it is encoded.
--   step_end     {step, index, status = "success"|"failed"|"skipped", duration_ms, error?}
--   rollback     {step, status = "success"|"failed", duration_ms, error?}
--   dry_run      {step, would}
--   preflight    {ok, checks = [{name, ok, detail}], warnings = [...]}
--   recipe_end   {status, exit_code, duration_ms, failed_step?, error?}
local json = require "drun.json"
local out = require "drun.core.out"
local time = require "drun.time"
local tab = require "drun.tabulate"
local redact = require "drun.redact"

local M = {}
local Report = {}
Report.__index = Report

local INDENT = "    "

function M.new(opts)
  local human = opts.json and "stderr" or "stdout"
  local colour = out.isatty(human) and (os.getenv("NO_COLOR") or "") == ""
  return setmetatable({
    json = opts.json, github = os.getenv("GITHUB_ACTIONS") == "true", human = human, colour = colour,
    summary_path = os.getenv("GITHUB_STEP_SUMMARY"), recipe = opts.recipe, started = time.now(), step = nil,
  }, Report)
end

function Report:paint(name, s) return self.colour and tab.colour(name, s) or s end

function Report:say(s) out.write(self.human, s) end

function Report:event(name, fields)
  if not self.json then return end
  local e = redact.value(fields)
  e.event, e.time, e.recipe = name, time.utc(), self.recipe
  out.write("stdout", json.encode(e) .. "\n")
end

-- The output event, built by hand: it is written once per line a child
-- prints, so it skips the generic path (a table, a sort, an encoder) and
-- keeps the keys in the order json.encode would give them.
local STREAM = {}
for _, name in ipairs { "stdout", "stderr", "log" } do STREAM[name] = ',"stream":"' .. name .. '","time":"' end

-- The output event: one per line a child prints, so it is built in C
-- (out.event_line) around the parts that change only with the step.
function Report:output_event(stream, line, level, task)
  if self.tail_for ~= self.step or self.tail_task ~= task then
    self.tail_for, self.tail_task = self.step, task
    self.tail = ',"recipe":' .. json.encode(self.recipe or json.null)
        .. (self.step and (',"step":' .. json.encode(redact.text(self.step))) or "")
        .. (task and (',"task":' .. json.encode(redact.text(task))) or "")
  end
  out.event_line(level and ('{"event":"output","level":' .. json.encode(level) .. ',"line":') or '{"event":"output","line":',
                 line, self.tail .. (STREAM[stream] or (',"stream":' .. json.encode(stream) .. ',"time":"')),
                 stream ~= "log") -- a child's lines come masked from drun.proc; log lines are masked here
end

-- GitHub's workflow commands (FLOWS.md §6; actions/toolkit's command.ts,
-- escapeData and escapeProperty): %, CR and LF escaped in the message, and
-- also : and , in a property (file=..., title=...).
function M.gh_data(s) return (s:gsub("%%", "%%25"):gsub("\r", "%%0D"):gsub("\n", "%%0A")) end
-- A file as GitHub names it in an annotation: relative to the workspace
-- ($GITHUB_WORKSPACE, else the current directory); nil when the file is not
-- in it (a module embedded in drun has no line GitHub could show).
function M.workspace_path(file)
  local fs = require "drun.fs"
  local root = os.getenv("GITHUB_WORKSPACE")
  root = fs.try.realpath(root ~= "" and root or ".")
  local real = fs.try.realpath(file)
  if not (root and real) then return nil end
  if real:sub(1, #root + 1) == root .. "/" then return real:sub(#root + 2) end
  return nil
end

function M.gh_property(s) return (M.gh_data(s):gsub(":", "%%3A"):gsub(",", "%%2C")) end

function Report:elapsed() return time.now() - self.started end

function Report:recipe_start(info)
  self:event("recipe_start", {
    service = info.service, environment = info.environment, version = info.version,
    full_version = info.full_version, params = json.object(info.params), dry_run = info.dry_run,
    steps = json.array(info.steps),
  })
  local who = {}
  if info.sha then who[#who + 1] = "commit " .. info.sha:sub(1, 7) .. (info.branch and (" on " .. info.branch) or "") end
  if info.actor then who[#who + 1] = "by " .. info.actor end
  self:say(string.format("%s %s → %s%s  (recipe %s%s)\n", self:paint("bold", info.service), info.full_version or info.version or "",
                         self:paint("bold", info.environment), info.dry_run and self:paint("yellow", "  [dry-run]") or "",
                         self.recipe, #who > 0 and (", " .. table.concat(who, ", ")) or ""))
end

function Report:step_start(index, total, step)
  self.step = step.name
  self:event("step_start", { step = step.name, index = index, total = total })
  if self.github then out.write(self.human, string.format("::group::%s %s\n", index > 0 and string.format("[%d/%d]", index, total) or "[undo]", step.name)) end
  local label = index > 0 and string.format("[%d/%d]", index, total) or "[undo]" -- undos run outside the numbering
  local shown = index > 0 and step.name or step.name:gsub("^undo ", "")
  self:say(string.format("%s %s  %s\n", self:paint(index > 0 and "blue" or "yellow", label), self:paint("bold", shown),
                         self:paint("dim", string.format("+%.1fs", self:elapsed()))))
end

-- A line of a child's output or a log message, shown under its step; a
-- task's (ctx.parallel) carries the task's label.
function Report:output(stream, line, level, task)
  if self.json then self:output_event(stream, line, level, task) end
  local label = (level == "warn" or level == "error") and self:paint(level == "warn" and "yellow" or "red", level .. ": ") or ""
  if task then label = self:paint("cyan", "[" .. task .. "] ") .. label end
  self:say(INDENT .. label .. line .. "\n")
end

function Report:would(msg, task)
  self:event("dry_run", { step = self.step, would = msg, task = task })
  self:say(INDENT .. (task and self:paint("cyan", "[" .. task .. "] ") or "") .. self:paint("yellow", "dry-run: would ") .. msg .. "\n")
end

-- One item of a ctx.parallel ended (drun.task's status): a line under the
-- step, an item_end event, and a row under the step in the summary.
function Report:item_end(s)
  self:event("item_end", { step = self.step, task = s.label, index = s.index, status = s.status,
                           duration_ms = math.floor((s.seconds or 0) * 1000 + 0.5), error = s.error })
  if s.status == "not run" then return end
  local mark = s.status == "success" and self:paint("green", "ok") or self:paint(s.status == "cancelled" and "yellow" or "red", s.status)
  self:say(string.format("%s%s %s %s%s\n", INDENT, self:paint("cyan", "[" .. s.label .. "]"), mark,
                         tab.duration((s.seconds or 0) * 1000), s.error and s.status ~= "cancelled" and (": " .. s.error) or ""))
end

function Report:step_end(index, step, status, seconds, err)
  self:event("step_end", { step = step.name, index = index, status = status, duration_ms = math.floor(seconds * 1000 + 0.5),
                           error = err })
  if status == "success" then
    self:say(INDENT .. self:paint("green", "ok") .. string.format(" %s\n", tab.duration(seconds * 1000)))
  elseif status == "failed" then
    self:say(INDENT .. self:paint("red", "FAILED") .. string.format(" after %s\n", tab.duration(seconds * 1000)))
  end
  if self.github then out.write(self.human, "::endgroup::\n") end
  self.step = nil
end

-- What preflight found (drun.recipe.preflight): one line per need; when
-- one failed, every fix and "nothing was run". Returns true when all passed.
function Report:preflight(results, warnings)
  local ok = true
  for _, c in ipairs(results) do ok = ok and c.ok end
  self:event("preflight", { ok = ok, checks = json.array(results), warnings = json.array(warnings) })
  self:say("preflight\n")
  local width = 9 -- the names of git's needs; a flow's own checks may be longer
  for _, c in ipairs(results) do width = math.max(width, #c.name) end
  for _, c in ipairs(results) do
    self:say(string.format("%s%s %-" .. width .. "s %s\n", INDENT, c.ok and self:paint("green", "ok  ") or self:paint("red", "FAIL"),
                           c.name, (c.detail:gsub("\n", "\n" .. INDENT .. string.rep(" ", width + 6)))))
  end
  for _, w in ipairs(warnings) do self:say(INDENT .. self:paint("yellow", "warn: ") .. w .. "\n") end
  if ok then return true end
  self:say(self:paint("red", "✗ preflight failed") .. ": nothing was run, nothing changed; fix the above and re-run\n")
  local lines = {}
  for _, c in ipairs(results) do if not c.ok then lines[#lines + 1] = c.name .. ": " .. c.detail end end
  self:annotate("preflight failed", table.concat(lines, "\n"))
  self:recipe_end { status = "refused", exit_code = 1, error = "preflight failed" }
  return false
end

-- Under GitHub Actions, an ::error annotation; file= must be the
-- workspace's path for GitHub to point at the line.
function Report:annotate(title, message, file, line)
  if not self.github then return end
  local props = {}
  file = file and M.workspace_path(file)
  if file then props[#props + 1] = "file=" .. M.gh_property(file) end
  if file and line then props[#props + 1] = "line=" .. line end
  props[#props + 1] = "title=" .. M.gh_property(title)
  out.write(self.human, "::error " .. table.concat(props, ",") .. "::" .. M.gh_data(message) .. "\n")
end

function Report:rollback(step, status, seconds, err)
  self:event("rollback", { step = step.name, status = status, duration_ms = math.floor(seconds * 1000 + 0.5), error = err })
  self:say(string.format("%s undo %s: %s%s\n", self:paint("yellow", "↺"), step.name,
                         status == "success" and self:paint("green", "ok") or self:paint("red", "FAILED"),
                         err and (" — " .. err) or ""))
end

-- The failure report: what failed, what already happened, the state of the
-- environment now, what the undos did, and the next command.
function Report:failure(f)
  local lines = {
    "",
    self:paint("red", string.format("✗ %s failed", f.step)) .. (f.seconds and string.format(" after %s", tab.duration(f.seconds * 1000)) or ""),
    "  error:  " .. f.error:gsub("\n", "\n          "),
    "  done:   " .. (#f.done > 0 and table.concat(f.done, ", ") or "nothing"),
  }
  if f.state then lines[#lines + 1] = "  state:  " .. f.state:gsub("\n", "\n          ") end
  if f.undo then lines[#lines + 1] = "  undo:   " .. f.undo end
  if f.incomplete then lines[#lines + 1] = self:paint("red", "  ROLLBACK INCOMPLETE: " .. f.incomplete) end
  if f.next then lines[#lines + 1] = "  next:   " .. f.next end
  self:say(table.concat(lines, "\n") .. "\n")
  self:annotate(f.step .. " failed", f.error .. (f.state and ("\nstate: " .. f.state) or ""), f.file, f.line)
end

function Report:summary(results, status, header)
  local rows = {}
  for _, r in ipairs(results) do
    rows[#rows + 1] = { step = r.name, status = r.status, duration = r.seconds and tab.duration(r.seconds * 1000) or "" }
    for _, it in ipairs(r.items or {}) do -- what its ctx.parallel did, per item
      rows[#rows + 1] = { step = "  " .. it.label, status = it.status,
                          duration = it.status ~= "not run" and tab.duration((it.seconds or 0) * 1000) or "" }
    end
  end
  local paints = { success = "green", failed = "red", skipped = "dim", rollback = "yellow", ["not run"] = "dim" }
  self:say("\n" .. tab.tabulate(rows, {
    { "STEP", "step" }, { "STATUS", "status", paint = function(s, row) return self:paint(paints[row.status] or "dim", s) end },
    { "DURATION", "duration" },
  }, { colour = self.colour }))
  self:say(header .. string.format(" (%s)\n", tab.duration(self:elapsed() * 1000)))
  if self.github and self.summary_path and self.summary_path ~= "" then
    local md = { "### " .. header, "", "| step | status | duration |", "|---|---|---|" }
    for _, r in ipairs(rows) do md[#md + 1] = string.format("| %s | %s | %s |", r.step, r.status, r.duration) end
    local f = io.open(self.summary_path, "a")
    if f then
      f:write(out.redact(table.concat(md, "\n") .. "\n\n"))
      f:close()
    end
  end
end

function Report:recipe_end(e)
  e.duration_ms = math.floor(self:elapsed() * 1000 + 0.5)
  self:event("recipe_end", e)
end

-- ::add-mask:: lines go to the runner unredacted (that is their point), only
-- under GitHub Actions, and never into the --json stream (the raw secret would
-- land wherever stdout was redirected): they go with the human text, which is
-- stderr under --json. The runner masks a command's value line by line, so a
-- multi-line secret (a PEM key) is registered one line at a time.
function Report:mask(value)
  if not (self.github and value and #value >= 4) then return end
  local f = self.human == "stdout" and io.stdout or io.stderr
  for line in (value .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    if #line >= 4 then f:write("::add-mask::" .. line .. "\n") end
  end
  f:flush()
end

return M
