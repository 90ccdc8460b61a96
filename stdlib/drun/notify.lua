-- drun.notify: a deployment's outcome sent where the team looks, after its
-- ledger record is final.
--
--   notify = {
--     { on = { "failed", "rollback" }, slack = os.getenv("SLACK_WEBHOOK_URL") },
--     { on = { "success" }, webhook = "https://deploys.example.com/hook" },
--   }
--
-- in recipe.new{...} or in any shipped flow's config. slack: a Slack
-- incoming webhook (https://api.slack.com/messaging/webhooks: POST
-- {"text": ...} as JSON, mrkdwn with &, <, > escaped; it answers 200 "ok").
-- webhook: POST {event, deployment, changes} as JSON, the deployment in the
-- versioning API's shape with its steps. Each is tried `attempts` times
-- (3), `timeout` seconds each (10), waiting about `backoff` seconds (1)
-- before the second try and twice as long before each next one (drun.http's
-- retries, with its jitter and cap); a 5xx, a 429 or no answer is tried
-- again, any other status is final. A notification that
-- fails is a warning and a line in the record's metadata (notifications),
-- never a failed deploy. The URLs are secrets: masked in every output from
-- the moment the recipe is made, and shown as their host.
local json = require "drun.json"
local out = require "drun.core.out"
local schema = require "drun.schema"

-- the outcomes: every status but running
local ALL = require("drun.ledger.schema").STATUSES
local M = { STATUSES = table.move(ALL, 2, #ALL, 1, {}) }

M.SCHEMA = {
  type = "array",
  description = "where to send each outcome: {on = {statuses}, slack = URL or webhook = URL} (drun.notify)",
  elements = { type = "record", fields = {
    on = { type = "array", required = true, elements = { type = "string", one_of = M.STATUSES },
           description = "the outcomes that send it: success, failed, rollback, aborted" },
    slack = { type = "string", conflicts = { "webhook" }, description = "a Slack incoming webhook's URL (a secret)" },
    webhook = { type = "string", description = "a URL that gets the record as JSON (a secret)" },
    timeout = { type = "number", min = 0.1, description = "seconds per try (default 10)" },
    attempts = { type = "integer", min = 1, description = "tries in all (default 3)" },
    backoff = { type = "number", min = 0,
                description = "seconds before the second try, about doubling after (drun.http's backoff; default 1)" },
  } },
}

local function loopback(host) return host == "127.0.0.1" or host == "localhost" or host == "[::1]" end

-- the host of an http(s) URL, or nil
local function host_of(url) return url:match("^https?://([^/?#@]+)") end

-- problems(list) -> {messages}: the schema's, and what it cannot say
function M.problems(list, where)
  local problems = schema.problems({ notify = list }, { type = "record", fields = { notify = M.SCHEMA } })
  if #problems > 0 or list == nil then return problems end
  for i, n in ipairs(list) do
    local at = string.format("%s[%d]", where or "notify", i)
    local url = n.slack or n.webhook
    if not url then
      problems[#problems + 1] = at .. " needs slack = URL or webhook = URL (read from an environment variable? "
                                .. "it is unset or empty)"
    elseif url == "" then
      problems[#problems + 1] = at .. ": the URL is empty (an environment variable that is set but empty?)"
    else
      local scheme, host = url:match("^(%a+)://([^/?#@]+)")
      if not scheme or (scheme ~= "https" and not (scheme == "http" and host and loopback(host:gsub(":%d+$", "")))) then
        problems[#problems + 1] = at .. ": the URL must start with https:// (it carries a secret)"
      end
    end
  end
  return problems
end

-- check(list, where) -> list, with every URL registered as a secret; raises
-- the first problem (a recipe's or config's mistake)
function M.check(list, where)
  if list == nil then return nil end
  local problems = M.problems(list, where)
  if #problems > 0 then error((problems[1]:gsub("^notify", where or "notify")), 0) end
  for _, n in ipairs(list) do
    local url = n.slack or n.webhook
    out.add_secret(url)
    -- the part after the host is the secret in a Slack URL: masked alone too
    local rest = url:match("^https?://[^/]+(/.+)$")
    if rest and #rest >= 8 then out.add_secret(rest) end
  end
  return list
end

-- "slack (hooks.slack.com)"
function M.target(n)
  local kind = n.slack and "slack" or "webhook"
  return string.format("%s (%s)", kind, host_of(n.slack or n.webhook) or "?")
end

-- Slack's mrkdwn: only &, < and > are escaped (Slack's "Formatting text"
-- guide), so markup in a version, a commit message or an error shows as text
function M.slack_escape(s) return (tostring(s):gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")) end
local esc = M.slack_escape

local ICON = { success = ":white_check_mark:", failed = ":x:", rollback = ":leftwards_arrow_with_hook:",
               aborted = ":warning:" }

-- slack_text(rec, changes) -> the message: headline, who/commit/run, the
-- error, up to 10 changes
function M.slack_text(rec, log)
  local head
  if rec.status == "success" then
    head = string.format("%s *%s %s* is live in *%s*", ICON.success, esc(rec.service), esc(rec.full_version),
                         esc(rec.environment))
  else
    head = string.format("%s *%s %s → %s: %s*%s", ICON[rec.status] or "", esc(rec.service), esc(rec.full_version),
                         esc(rec.environment), rec.status:upper(),
                         rec.failed_step and (" at " .. esc(rec.failed_step)) or "")
  end
  local lines = { head }
  local facts = {}
  if rec.deployed_by then facts[#facts + 1] = "by " .. esc(rec.deployed_by) end
  if rec.git_commit then facts[#facts + 1] = "commit `" .. esc(rec.git_commit:sub(1, 12)) .. "`" end
  local run = rec.workflow_run_url
  if type(run) == "string" and run:match("^https?://[^%s<>|]+$") then facts[#facts + 1] = "<" .. run .. "|run>" end
  if #facts > 0 then lines[#lines + 1] = table.concat(facts, " · ") end
  if rec.error then lines[#lines + 1] = "> " .. esc(rec.error):gsub("\n", "\n> ") end
  if log and log.count > 0 then
    lines[#lines + 1] = "*Changes*"
    local n = 0
    for _, g in ipairs(log.groups) do
      for _, e in ipairs(g.entries) do
        n = n + 1
        if n <= 10 then lines[#lines + 1] = "• " .. esc(e.subject) end
      end
    end
    if n > 10 then lines[#lines + 1] = string.format("… and %d more", n - 10) end
  end
  return table.concat(lines, "\n")
end

-- the body each kind sends
function M.payload(n, rec, log)
  if n.slack then return { text = M.slack_text(rec, log) } end
  local api = require "drun.ledger.api"
  return { event = "deployment." .. rec.status, deployment = api.deployment(rec).deployment,
           changes = log and log:markdown() or json.null }
end

-- tried again: no answer, a timeout, 429 and every 5xx
local RETRY_ON = { 429 }
for status = 500, 599 do RETRY_ON[#RETRY_ON + 1] = status end

-- send(n, rec, log) -> {target, status = "sent" | "failed", attempts, error}:
-- one POST with drun.http's retries (its backoff, from n.backoff)
function M.send(n, rec, log)
  local r, err, _, attempts = require("drun.http").request {
    method = "POST", url = n.slack or n.webhook, body = json.encode(M.payload(n, rec, log)),
    headers = { ["Content-Type"] = "application/json" }, timeout = n.timeout or 10, follow = false,
    retries = (n.attempts or 3) - 1, retry_on = RETRY_ON, retry_non_idempotent = true, backoff = n.backoff or 1,
    check = false,
  }
  local result = { target = M.target(n), attempts = r and r.attempts or attempts, status = "failed" }
  if not r then
    result.error = err
  elseif r.status >= 200 and r.status < 300 then
    result.status = "sent"
  else
    result.error = string.format("HTTP %d%s", r.status, r.body ~= "" and (": " .. r.body:sub(1, 200)) or "")
  end
  return result
end

-- due(list, status) -> the entries whose `on` has status
function M.due(list, status)
  local due = {}
  for _, n in ipairs(list or {}) do
    for _, s in ipairs(n.on) do
      if s == status then
        due[#due + 1] = n
        break
      end
    end
  end
  return due
end

return M
