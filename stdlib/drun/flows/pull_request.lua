-- What every PR-preview flow (Fly, Compose) asks of its pr=N parameter and
-- of GitHub: one place for the parameter, its check, the environment it
-- names in the ledger ("pr-<n>") and the PR itself.
local github = require "drun.github"
local json = require "drun.json"

local M = {}

M.PARAM = { pr = { default = 0, required = true, description = "the pull request's number" } }

-- number(params) -> n, or nil and why: a positive whole number (math.tointeger
-- is nil for 1.5, and for a number too large to be one)
function M.number(params)
  local n = math.tointeger(params.pr)
  if not n or n < 1 then return nil, "pr must be the PR number (a positive whole number), got " .. tostring(params.pr) end
  return n
end

function M.environment(params) return "pr-" .. math.tointeger(params.pr) end

-- get(ctx, repo) -> the PR from GitHub (asked once per run), its number and
-- address stamped on the ledger record; an error naming the number when the
-- repository has no such PR
function M.get(ctx, repo)
  local n = M.number(ctx.params)
  ctx.pull_requests = ctx.pull_requests or {}
  local pr = ctx.pull_requests[n]
  if not pr then
    pr = github.pull { repo = repo, number = n }
    if not pr then error(string.format("%s has no PR #%d: check the number", repo, n), 0) end
    ctx.pull_requests[n] = pr
  end
  ctx.set("pr", n)
  ctx.set("pr_url", pr.html_url or json.null)
  return pr
end

-- open(ctx, repo, cleanup) -> the PR, refused unless it is open: no preview
-- of a closed or merged PR (the error names the clean-up command)
function M.open(ctx, repo, cleanup)
  local pr = M.get(ctx, repo)
  if pr.state ~= "open" then
    error(string.format("PR #%d is %s: no preview for it (to remove one: drun %s pr=%d)", pr.number or M.number(ctx.params),
                        pr.merged and "merged" or tostring(pr.state), cleanup, M.number(ctx.params)), 0)
  end
  return pr
end

-- preview_body(ctx, url, rows) -> the Markdown of a preview comment: its
-- heading and a table of { name, value } rows, the ledger's version last
function M.preview_body(ctx, url, rows)
  local lines = { string.format("### Preview of #%d: %s", M.number(ctx.params), url), "", "| | |", "|---|---|",
                  string.format("| commit | `%s` |", ctx.sha:sub(1, 12)) }
  for _, row in ipairs(rows) do lines[#lines + 1] = string.format("| %s | %s |", row[1], row[2]) end
  lines[#lines + 1] = string.format("| ledger | %s |", ctx.full_version)
  return table.concat(lines, "\n")
end

-- comment(ctx, repo, marker, body, create) -> the one comment the marker
-- finds, updated (or made when create); its address in the ledger
function M.comment(ctx, repo, marker, body, create)
  local cm = github.comment { repo = repo, issue = M.number(ctx.params), body = body, update = marker, create = create }
  if cm and cm.html_url then ctx.set("comment_url", cm.html_url) end
  return cm
end

return M
