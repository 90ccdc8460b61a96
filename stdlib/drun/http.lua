-- drun.http: HTTP for recipes, over drun.core.http (libcurl, loaded on first
-- use; one connection cache for the whole run, TLS verification always on).
--
--   local r = http.get("https://cms.example.com/api/health", { expect = 200 })
--   print(r.status, r.headers["content-type"], r:json().version)
--   http.post(api .. "/releases", { json = { tag_name = "cms-v1.5.0" },
--             headers = { Authorization = "Bearer " .. token }, expect = 201 })
--
-- Options: method, url, headers {Name = value}, body | json, query {k = v},
-- timeout (30 s total), connect_timeout (10 s), retries (0) with backoff
-- (capped exponential with jitter, from `backoff` seconds, default
-- BACKOFF_BASE) on connect errors, timeouts and retry_on statuses ({502, 503,
-- 504}) — idempotent methods only unless retry_non_idempotent —, follow
-- (true; max_redirects 5; credentials never cross to another origin, see
-- M.redirect), max_body (64 MiB), ca_bundle, expect (status or list), check
-- (true: a transport failure raises; false: returns nil, err, kind, attempts).
-- Any status is a response unless `expect` says otherwise.
local core = require "drun.core.http"

-- One request through the event loop: inside a task (ctx.parallel) the
-- others run while it is in flight; outside one it blocks as before.
local function perform(req)
  local t, err, kind = core.start(req)
  if not t then return nil, err, kind end
  local task = require "drun.task"
  task.adopt(t)
  task.await(t)
  return t:result()
end
local json = require "drun.json"
local time = require "drun.time"
local runtime = require "drun.runtime"
local out = require "drun.core.out"

local M = {
  USER_AGENT = "drun/" .. require("drun.core.build").version,
  DEFAULT_MAX_BODY = core.DEFAULT_MAX_BODY,
  BACKOFF_BASE = 0.2, BACKOFF_MAX = 5,
}

local IDEMPOTENT = { GET = true, HEAD = true, OPTIONS = true, PUT = true, DELETE = true, TRACE = true }
local READ_ONLY = { GET = true, HEAD = true, OPTIONS = true }

-- Header names whose values are credentials: registered for masking, so they
-- never appear in errors, dry-run lines or logs.
local function sensitive(name)
  local n = name:lower()
  return n == "authorization" or n == "proxy-authorization" or n == "cookie" or n == "set-cookie"
      or n:find("token", 1, true) or n:find("secret", 1, true) or n:find("api%-key") or n:find("apikey")
end

local function mask_credentials(name, value)
  if sensitive(name) then
    out.add_secret(value)
    local scheme_less = value:match("^%a+%s+(.+)$") -- "Bearer abc" -> also "abc"
    if scheme_less then out.add_secret(scheme_less) end
  end
end

-- The URL as shown in messages: a password in it is masked.
local function shown(url)
  local pass = url:match("^%a[%w+.-]*://[^/@:]*:([^/@]*)@")
  if pass and pass ~= "" then out.add_secret(pass) end
  return out.redact(url)
end

-- scheme, host and port of a URL ("https", "api.github.com", "443")
local DEFAULT_PORT = { http = "80", https = "443" }
local function origin(u)
  local scheme, authority = u:match("^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then return nil end
  scheme = scheme:lower()
  local hostport = authority:gsub("^.*@", ""):lower()
  local host, port = hostport:match("^(%[.*%]):?(%d*)$")
  if not host then host, port = hostport:match("^([^:]*):?(%d*)$") end
  return scheme, host, (port ~= "" and port) or DEFAULT_PORT[scheme] or ""
end

-- Location, relative or absolute, against the URL it answered (RFC 3986 5.2, the cases servers send)
local function resolve(base, loc)
  if loc:match("^%a[%w+.-]*://") then return loc end
  local scheme, rest = base:match("^(%a[%w+.-]*:)//(.*)$")
  if loc:sub(1, 2) == "//" then return scheme .. loc end
  local authority, path = rest:match("^([^/?#]*)([^?#]*)")
  if loc:sub(1, 1) == "/" then return scheme .. "//" .. authority .. loc end
  if loc:sub(1, 1) == "?" then return scheme .. "//" .. authority .. path .. loc end
  return scheme .. "//" .. authority .. (path:match("^(.*/)") or "/") .. loc
end

local REDIRECT = { [301] = true, [302] = true, [303] = true, [307] = true, [308] = true }

-- "Name: value" lines without those whose name `unwanted(name)` is true
local function without(headers, unwanted)
  local kept = {}
  for _, l in ipairs(headers) do
    if not unwanted(l:match("^([^:]*)")) then kept[#kept + 1] = l end
  end
  return kept
end
local function is_content_type(name) return name:lower() == "content-type" end

-- The request after a redirect, as a browser or curl would send it, except
-- that credentials never travel further than the origin they were given
-- for: every credential header (Authorization, Cookie, *token*, *api-key*,
-- ...) is dropped when the scheme, host or port changes, and a redirect from
-- https to http is refused while credentials are attached.
function M.redirect(req, status, location)
  local to = resolve(req.url, location)
  local s1, h1, p1 = origin(req.url)
  local s2, h2, p2 = origin(to)
  if not s2 or (s2 ~= "http" and s2 ~= "https") then
    error(string.format("http: refusing to follow a redirect to %s (not http or https)", shown(to)), 0)
  end
  local has_credentials = req.url:match("^%a[%w+.-]*://[^/?#]*@") ~= nil
  has_credentials = has_credentials or #without(req.headers, sensitive) < #req.headers
  if has_credentials and s1 == "https" and s2 == "http" then
    error(string.format("http: refusing to follow a redirect from https to http (%s) with credentials attached",
                        shown(to)), 0)
  end
  if s1 ~= s2 or h1 ~= h2 or p1 ~= p2 then
    req.headers = without(req.headers, sensitive)
    to = to:gsub("^(%a[%w+.-]*://)[^/?#]*@", "%1") -- nor userinfo
  end
  if status == 303 or ((status == 301 or status == 302) and req.method == "POST") then
    req.method, req.body = req.method == "HEAD" and "HEAD" or "GET", nil
    req.headers = without(req.headers, is_content_type)
  end
  req.url = to
end

-- urlencode(s [, keep]): RFC 3986 percent-encoding of all but unreserved
-- characters and those in keep ("/" for a path that may hold a branch name)
function M.urlencode(s, keep)
  local unsafe = keep and ("[^%w%-%._~" .. keep:gsub("%p", "%%%0") .. "]") or "[^%w%-%._~]"
  return (tostring(s):gsub(unsafe, function(c) return string.format("%%%02X", c:byte()) end))
end
local urlencode = M.urlencode

local function with_query(url, query)
  if not query then return url end
  local keys = {}
  for k in pairs(query) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for _, k in ipairs(keys) do parts[#parts + 1] = urlencode(k) .. "=" .. urlencode(query[k]) end
  if #parts == 0 then return url end
  return url .. (url:find("?", 1, true) and "&" or "?") .. table.concat(parts, "&")
end

local function excerpt(body)
  body = body:gsub("%s+", " ")
  if #body > 200 then body = body:sub(1, 200) .. "..." end
  return out.redact(body)
end

local Response = {}
Response.__index = Response

-- r:json(): the decoded body, or a clear error naming the request
function Response:json()
  if self._json == nil then
    local ok, v = pcall(json.decode, self.body)
    if not ok then
      error(string.format("http: %s %s: the response is not JSON (%s): %s", self.method, shown(self.url),
                          tostring(v):gsub("^json: ", ""), excerpt(self.body)), 2)
    end
    self._json = v
  end
  return self._json
end

-- status_matches(200 | {200, 201}, status)
function M.status_matches(expect, status)
  if type(expect) == "number" then return status == expect end
  for _, s in ipairs(expect) do
    if s == status then return true end
  end
  return false
end
local expected = M.status_matches

local function expect_text(expect)
  return type(expect) == "number" and tostring(expect) or table.concat(expect, " or ")
end

local function backoff(attempt, base)
  local d = math.min(M.BACKOFF_MAX, (base or M.BACKOFF_BASE) * 2 ^ (attempt - 1))
  return d * (0.5 + math.random()) -- jitter: 50%..150%, so retrying clients spread out
end

function M.request(opts)
  if type(opts) ~= "table" then error("http.request: expected a table of options", 2) end
  local method = (opts.method or "GET"):upper()
  local url = opts.url
  if type(url) ~= "string" or url == "" then error("http.request: url is required", 2) end
  url = with_query(url, opts.query)

  local body, lines, has_type = opts.body, {}, false
  for name, value in pairs(opts.headers or {}) do
    if type(name) ~= "string" or (type(value) ~= "string" and type(value) ~= "number") then
      error("http.request: headers must be {Name = \"value\"}", 2)
    end
    value = tostring(value)
    mask_credentials(name, value)
    has_type = has_type or name:lower() == "content-type"
    lines[#lines + 1] = name .. ": " .. value
  end
  if opts.json ~= nil then
    if body ~= nil then error("http.request: give body or json, not both", 2) end
    body = json.encode(opts.json)
    if not has_type then lines[#lines + 1] = "Content-Type: application/json" end
  end
  if not (opts.headers and (opts.headers.Accept or opts.headers.accept)) then lines[#lines + 1] = "Accept: */*" end
  table.sort(lines)

  if runtime.dry_run and not READ_ONLY[method] then
    local names = {}
    for _, l in ipairs(lines) do names[#names + 1] = out.redact(l) end
    runtime.would("%s %s (%s; body %d bytes)", method, shown(url), table.concat(names, ", "), body and #body or 0)
    return setmetatable({ status = 0, dry_run = true, headers = {}, body = "", url = url, method = method,
                          attempts = 0, time_ms = 0 }, Response)
  end

  local retries = opts.retries or 0
  local retry_on = opts.retry_on or { 502, 503, 504 }
  local req = {
    method = method, url = url, headers = lines, body = body,
    timeout = opts.timeout or 30, connect_timeout = opts.connect_timeout or 10,
    max_redirects = 0, -- followed here, where credentials are known (below)
    max_body = opts.max_body, ca_bundle = opts.ca_bundle, user_agent = M.USER_AGENT,
  }
  local max_redirects = opts.follow == false and 0 or (opts.max_redirects or 5)
  local redirects, attempt, resp, err, kind = 0, 0, nil, nil, nil
  while true do
    local may_retry = IDEMPOTENT[req.method] or opts.retry_non_idempotent
    local tries = 0
    while true do
      tries = tries + 1
      attempt = attempt + 1
      resp, err, kind = perform(req)
      local again = tries <= retries and may_retry
          and ((resp == nil and (kind == "connect" or kind == "timeout")) or (resp and expected(retry_on, resp.status)))
      if not again then break end
      time.sleep(backoff(tries, opts.backoff))
    end
    local location = resp and REDIRECT[resp.status] and resp.headers.location
    if not location or max_redirects == 0 then break end
    redirects = redirects + 1
    if redirects > max_redirects then
      resp, err, kind = nil, string.format("too many redirects (more than %d)", max_redirects), "other"
      break
    end
    local ok, why = pcall(M.redirect, req, resp.status, location)
    if not ok then
      resp, err, kind = nil, why, "redirect"
      break
    end
  end
  url = req.url
  if not resp then
    if kind == "interrupted" then error("interrupted", 0) end
    if kind == "redirect" then
      if opts.check == false then return nil, err, kind end
      error(err, 2)
    end
    local msg = string.format("http: %s %s: %s (%d attempt%s)", method, shown(url), err, attempt, attempt == 1 and "" or "s")
    if opts.check == false then return nil, msg, kind, attempt end
    error(msg, 2)
  end
  resp.method, resp.attempts = req.method, attempt
  setmetatable(resp, Response)
  if opts.expect and not expected(opts.expect, resp.status) then
    local msg = string.format("http: %s %s: expected %s, got %d: %s", method, shown(url), expect_text(opts.expect),
                              resp.status, excerpt(resp.body))
    if opts.check == false then return nil, msg, "status" end
    error(msg, 2)
  end
  return resp
end

for _, m in ipairs { "get", "post", "put", "patch", "delete", "head" } do
  M[m] = function(url, opts)
    local o = {}
    for k, v in pairs(opts or {}) do o[k] = v end
    o.method, o.url = m:upper(), url
    local ok, r, e, k = pcall(M.request, o)
    if not ok then error(r, 2) end
    return r, e, k
  end
end

M.connections_opened = core.connections_opened

return M
