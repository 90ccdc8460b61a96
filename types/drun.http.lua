---@meta drun.http
-- The module: stdlib/drun/http.lua (libcurl, TLS verification always on).

---@class drun.http.Options
---@field method? string
---@field url? string
---@field headers? table<string, string>
---@field body? string
---@field json? any encoded as the body, Content-Type application/json
---@field query? table<string, string|number>
---@field timeout? number seconds in all (30)
---@field connect_timeout? number (10)
---@field retries? integer on connect errors, timeouts and retry_on statuses (0)
---@field backoff? number seconds before the first retry, doubling, capped, with jitter (BACKOFF_BASE)
---@field retry_on? integer[] ({502, 503, 504})
---@field retry_non_idempotent? boolean
---@field follow? boolean redirects (true); credentials never cross to another origin
---@field max_redirects? integer (5)
---@field max_body? integer bytes (64 MiB)
---@field ca_bundle? string
---@field expect? integer|integer[] a status outside it raises
---@field check? boolean false: a transport failure returns nil, err, kind, attempts

---@class drun.http.Response
---@field status integer
---@field headers table<string, string> lower-case names
---@field body string
---@field url string where it ended, after redirects
---@field time_ms number
---@field method string
---@field attempts integer
---@field dry_run? boolean under --dry-run a request that changes something is printed, not sent
local Response = {}
---@return any # the body decoded (drun.json), raising on invalid JSON
function Response:json() end

local http = {}

http.BACKOFF_BASE = 0.2
http.BACKOFF_MAX = 5
http.DEFAULT_MAX_BODY = 67108864
---"drun/<version>"
http.USER_AGENT = ""

---@param opts drun.http.Options
---@return drun.http.Response
function http.request(opts) end
---@param url string
---@param opts? drun.http.Options
---@return drun.http.Response
function http.get(url, opts) end
---@param url string
---@param opts? drun.http.Options
---@return drun.http.Response
function http.head(url, opts) end
---@param url string
---@param opts? drun.http.Options
---@return drun.http.Response
function http.post(url, opts) end
---@param url string
---@param opts? drun.http.Options
---@return drun.http.Response
function http.put(url, opts) end
---@param url string
---@param opts? drun.http.Options
---@return drun.http.Response
function http.patch(url, opts) end
---@param url string
---@param opts? drun.http.Options
---@return drun.http.Response
function http.delete(url, opts) end

---The request after a redirect: credential headers dropped when the origin changes,
---https to http refused while credentials are attached.
---@param req drun.http.Options
---@param status integer
---@param location string
---@return drun.http.Options
function http.redirect(req, status, location) end

---@param expect integer|integer[]
---@param status integer
---@return boolean
function http.status_matches(expect, status) end

---RFC 3986 percent-encoding of all but unreserved characters and those in keep.
---@param s string
---@param keep? string
---@return string
function http.urlencode(s, keep) end

---Connections opened so far (the connection cache's misses).
---@return integer
function http.connections_opened() end

return http
