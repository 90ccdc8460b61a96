---@meta drun.flows.pull_request
-- What the preview flows share (stdlib/drun/flows/pull_request.lua): the PR
-- parameter, the PR from GitHub, and the one comment a marker finds.

local pull_request = {}

---The `pr` parameter of a preview recipe.
---@type table<string, drun.recipe.Param>
pull_request.PARAM = {}

---A positive whole number, or nil and why.
---@param params table
---@return integer?, string?
function pull_request.number(params) end
---"pr-<n>"
---@param params table
---@return string
function pull_request.environment(params) end
---The PR from GitHub (asked once per run), its number and address stamped on the ledger record.
---@param ctx drun.Context
---@param repo string
---@return table
function pull_request.get(ctx, repo) end
---The PR, refused unless it is open (the error names the clean-up command).
---@param ctx drun.Context
---@param repo string
---@param cleanup string
---@return table
function pull_request.open(ctx, repo, cleanup) end
---The one comment the marker finds, updated (or made when create); its address in the ledger.
---@param ctx drun.Context
---@param repo string
---@param marker string
---@param body string
---@param create boolean
---@return table?
function pull_request.comment(ctx, repo, marker, body, create) end
---The Markdown of a preview comment: its heading and a table of rows, the ledger's version last.
---@param ctx drun.Context
---@param url string
---@param rows { [1]: string, [2]: string }[]
---@return string
function pull_request.preview_body(ctx, url, rows) end

return pull_request
