---@meta drun.notify
-- A deployment's outcome sent to Slack or a webhook once its record is final
-- (stdlib/drun/notify.lua). A recipe's or flow config's notify = {...} is
-- sent by the engine; these are its parts.

---@class drun.notify.Notification
---@field on ("success"|"failed"|"rollback"|"aborted")[]
---@field slack? string a Slack incoming webhook's URL (a secret)
---@field webhook? string a URL that gets {event, deployment, changes} as JSON (a secret)
---@field timeout? number seconds per try (10)
---@field attempts? integer tries in all (3)
---@field backoff? number seconds before the second try, about doubling after (1)

---@class drun.notify.Result
---@field target string "slack (hooks.slack.com)"
---@field status "sent"|"failed"
---@field attempts integer
---@field error? string

local notify = {}

---@type string[]
notify.STATUSES = {}
---The schema of a notify list (drun.schema), a key of every flow's config.
---@type table
notify.SCHEMA = {}

---Everything wrong with a notify list.
---@param list drun.notify.Notification[]?
---@param where? string
---@return string[]
function notify.problems(list, where) end

---The list, its URLs registered as secrets; raises the first problem.
---@param list drun.notify.Notification[]?
---@param where? string
---@return drun.notify.Notification[]?
function notify.check(list, where) end

---"slack (host)" or "webhook (host)"
---@param n drun.notify.Notification
---@return string
function notify.target(n) end

---Slack mrkdwn's escaping: &, < and >.
---@param s string
---@return string
function notify.slack_escape(s) end

---The Slack message of a record (and its changes).
---@param rec drun.ledger.Record
---@param log? drun.changelog.Log
---@return string
function notify.slack_text(rec, log) end

---The JSON body one notification sends.
---@param n drun.notify.Notification
---@param rec drun.ledger.Record
---@param log? drun.changelog.Log
---@return table
function notify.payload(n, rec, log) end

---Sends one notification, with drun.http's retries.
---@param n drun.notify.Notification
---@param rec drun.ledger.Record
---@param log? drun.changelog.Log
---@return drun.notify.Result
function notify.send(n, rec, log) end

---The entries whose `on` has status.
---@param list drun.notify.Notification[]?
---@param status string
---@return drun.notify.Notification[]
function notify.due(list, status) end

return notify
