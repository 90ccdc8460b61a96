---@meta drun.changelog
-- What changed between two revisions, from git's history, grouped by
-- Conventional Commits type; PR numbers linked (stdlib/drun/changelog.lua).
-- Call the module: require("drun.changelog")(from, to, opts).

---@class drun.changelog.Entry
---@field sha string
---@field subject string the commit's first line, as it is
---@field type string feat, fix, perf, revert, refactor, docs, test, build, ci, style, chore or other
---@field scope? string
---@field breaking? boolean "feat!:", "feat(x)!:" or a "BREAKING CHANGE:" footer
---@field breaking_note? string the footer's text
---@field description string the subject after "type(scope): "
---@field pr? integer "(#123)" at the end, or "Merge pull request #123"
---@field author? string
---@field time? integer

---@class drun.changelog.Group
---@field type string
---@field title string "Features", "Bug fixes", ..., "Other changes"
---@field entries drun.changelog.Entry[] newest first

---@class drun.changelog.Log
---@field from string
---@field to string
---@field count integer
---@field groups drun.changelog.Group[] breaking changes first, other changes last
---@field repo? string owner/name: PR links
---@field server string
local Log = {}
---"### Features" sections of "- **scope:** description ([#12](url)) abc1234" lines
---@return string
function Log:markdown() end
---"Features:" then "  abc1234 scope: description" lines
---@return string
function Log:text() end

---@class drun.changelog
---@overload fun(from: string, to?: string, opts?: drun.changelog.Options): drun.changelog.Log
local changelog = {}

---@class drun.changelog.Options
---@field repo? string owner/name (default $GITHUB_REPOSITORY)
---@field server? string default $GITHUB_SERVER_URL, else https://github.com
---@field dir? string the repository (default: found upward from the current directory)
---@field limit? integer most commits read (500)

---The groups, in order: {type, title} pairs.
---@type string[][]
changelog.TYPES = {}

---@param from string a tag or commit
---@param to? string (HEAD)
---@param opts? drun.changelog.Options
---@return drun.changelog.Log
function changelog.new(from, to, opts) end

---@param subject string
---@param body? string the message after the subject (its footers)
---@return drun.changelog.Entry
function changelog.parse(subject, body) end

---The changes a deployment brought since the success before it (same service and environment).
---@param db drun.ledger.Ledger
---@param rec drun.ledger.Record
---@param opts? drun.changelog.Options
---@return drun.changelog.Log|nil
---@return drun.ledger.Record|string # the earlier deployment, or why there is no log
function changelog.for_deployment(db, rec, opts) end

return changelog
