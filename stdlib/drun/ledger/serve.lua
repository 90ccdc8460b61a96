-- drun ledger serve: the versioning API and the dashboard over HTTP, from
-- any ledger backend, read-only.
--   GET /api/version                 ?service, environment
--   GET /api/deployments             ?limit (default 50, capped at 1000), version, status, branch, service, environment
--   GET /api/deployments/stats       ?the same filters but limit, days (the delivery metrics' window)
--   GET /api/deployments/{id}        one deployment with its steps
--   GET /                            the dashboard; /deployments/{id} one deployment's page
-- A bad parameter is a 400 with a JSON error; a ledger that cannot be read
-- (a PostgreSQL server gone, a D1 API down) a 503, and the server goes on:
-- the next request opens the ledger again. Nothing answers with a stack
-- trace. Loopback only, unless --public: nothing here asks who is asking.
-- Ctrl-C or TERM stops it between requests (exit 130, as any drun a signal
-- stopped).
local httpd = require "drun.core.httpd"
local args = require "drun.cli.args"
local guard = require "drun.core.guard"
local out = require "drun.core.out"
local ledger = require "drun.ledger"
local api = require "drun.ledger.api"
local metrics = require "drun.ledger.metrics"
local dashboard = require "drun.ledger.dashboard"
local json = require "drun.json"
local log = require "drun.log"
local time = require "drun.time"

local M = { DEFAULT_LISTEN = "127.0.0.1:8080", DEFAULT_REFRESH = 30 }

-- listen("HOST:PORT" | "[V6]:PORT") -> host, port | nil, why
function M.parse_listen(text)
  local host, port = text:match("^%[([%x:.]+)%]:(%d+)$")
  if not host then host, port = text:match("^([%w.-]+):(%d+)$") end
  if not host then return nil, "--listen takes HOST:PORT ([::1]:PORT for IPv6), e.g. " .. M.DEFAULT_LISTEN end
  port = tonumber(port)
  if port > 65535 then return nil, "--listen: the port must be 0..65535" end
  return host, port
end

function M.loopback(host)
  return host == "localhost" or host == "::1" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil
end

local JSON_TYPE = "application/json; charset=utf-8"
local HTML_TYPE = "text/html; charset=utf-8"
-- the page loads nothing: no script, no style sheet, no image from anywhere
local CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'; "
         .. "frame-ancestors 'none'"

local function headers(kind, extra)
  local h = { ["Content-Type"] = kind, ["Cache-Control"] = "no-store", ["X-Content-Type-Options"] = "nosniff",
              ["Content-Security-Policy"] = CSP, ["Referrer-Policy"] = "no-referrer" }
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end

local function reply(status, v, extra)
  return status, headers(JSON_TYPE, extra), json.encode(v) .. "\n"
end
local function problem(status, message, extra) return reply(status, { success = false, error = message }, extra) end

-- A client's mistake (400) is raised as a table; anything else raised while
-- reading the ledger is the ledger's failure (503) when it says "ledger:",
-- and drun's bug (500) when not.
local BadRequest = {}
local function bad(msg) error(setmetatable({ message = msg }, BadRequest), 0) end
local function params(endpoint, query)
  local f, why = api.filter(endpoint, query)
  if not f then bad(why) end
  return f
end

local function id_from(path, prefix)
  local id = path:sub(#prefix + 1)
  if id == "" or id:find("/", 1, true) then return nil end
  return id
end

-- routes: each function(state, req) -> status, headers, body
local routes = {}

routes["/api/version"] = function(s, req)
  local f = params("version", req.query)
  local rec = s:db():latest { service = f.service, environment = f.environment, status = "success" }
  if not rec then
    local what = (f.service or "any service") .. (f.environment and (" in " .. f.environment) or "")
    return problem(404, "no successful deployment of " .. what)
  end
  return reply(200, api.version(rec))
end

routes["/api/deployments"] = function(s, req)
  return reply(200, api.deployments(s:db():history(params("deployments", req.query))))
end

routes["/api/deployments/stats"] = function(s, req)
  local f = params("stats", req.query)
  local db = s:db()
  local days = f.days
  f.days = nil
  return reply(200, api.stats(db:stats(f), api.delivery(db, f, days)))
end

local function deployment_api(s, req)
  local id = id_from(req.path, "/api/deployments/")
  local rec = id and s:db():record(id)
  if not rec then return problem(404, "no deployment with that id or full version") end
  return reply(200, api.deployment(rec))
end

routes["/"] = function(s)
  local db = s:db()
  local now = time.unix()
  local days = metrics.DEFAULT_DAYS
  local delivery, window = api.delivery(db, {}, days, now)
  local html = dashboard.page {
    ledger = s.shown, live = db:live(), recent = db:history { limit = 50 }, window = window,
    delivery = delivery, days = days, now = now, refresh = s.refresh,
  }
  return 200, headers(HTML_TYPE), html
end

local function deployment_page(s, req)
  local id = id_from(req.path, "/deployments/")
  local rec = id and s:db():record(id)
  if not rec then return 404, headers(HTML_TYPE), "<!DOCTYPE html><title>not found</title><p>no such deployment</p>\n" end
  -- the changes it brought, when drun serves from a clone that has them
  local log, previous = require("drun.changelog").for_deployment(s:db(), rec)
  return 200, headers(HTML_TYPE), dashboard.deployment(rec, { now = time.unix(), refresh = s.refresh,
                                                               log = log, previous = log and previous })
end

-- Without --public only a loopback name may be asked for: a web page
-- elsewhere that points its own host name at 127.0.0.1 (DNS rebinding)
-- would otherwise read the ledger through the visitor's browser.
local function host_allowed(s, host)
  if s.public then return true end
  local name = host and (host:match("^%[([%x:.]+)%]:?%d*$") or host:match("^([^:]+):?%d*$"))
  return name ~= nil and (M.loopback(name) or name == s.host)
end

local function route(s, req)
  if not host_allowed(s, req.host) then
    return problem(403, "this server answers to loopback names only (127.0.0.1, localhost, [::1]); "
                        .. "--public serves other names")
  end
  if req.method ~= "GET" and req.method ~= "HEAD" then
    return problem(405, "read-only: GET or HEAD", { Allow = "GET, HEAD" })
  end
  local fn = routes[req.path]
  if fn then return fn(s, req) end
  if req.path:match("^/api/deployments/[^/]+$") then return deployment_api(s, req) end
  if req.path:match("^/deployments/[^/]+$") then return deployment_page(s, req) end
  return problem(404, "not found: the API is /api/version, /api/deployments, /api/deployments/stats; the dashboard /")
end

local State = {}
State.__index = State

-- the ledger, opened again after it failed
function State:db()
  if not self.handle then self.handle = ledger.open(self.address, { read_only = true }) end
  return self.handle
end

function State:drop()
  if self.handle then pcall(self.handle.close, self.handle) end
  self.handle = nil
end

function State:handle_request(req)
  local ok, status, h, body = pcall(route, self, req)
  if ok then
    if self.down then
      log.info("ledger serve: %s can be read again", self.shown)
      self.down = false
    end
    return status, h, body
  end
  local err = status
  if getmetatable(err) == BadRequest then return problem(400, err.message) end
  -- (ledger.open raises at its caller's level: "serve.lua:N: ledger: ...")
  local msg = out.redact(tostring(err)):gsub("^[%w_./-]+%.lua:%d+: ", "")
  if msg:match("^ledger: ") then
    self:drop()
    if not self.down then log.warn("ledger serve: %s (answering 503 until it can be read)", msg) end
    self.down = true
    return problem(503, msg, { ["Retry-After"] = "5" })
  end
  log.error("ledger serve: %s %s: %s", req.method, req.path, msg)
  return problem(500, "internal error (drun logged it)")
end

-- main(res) -> exit code; res: what drun.cli.spec parsed
function M.main(res)
  local usage_error = args.usage_error
  local listen = res.listen or M.DEFAULT_LISTEN
  local host, port = M.parse_listen(listen)
  if not host then usage_error("%s", port) end
  if not M.loopback(host) and not res.public then
    usage_error("refusing to listen on %s: the dashboard and API have no authentication, and anyone who reaches "
                .. "that address reads the whole ledger; --public if that is what you want (behind a proxy that "
                .. "asks who is asking)", listen)
  end
  local refresh = args.count(res, "refresh", 0) or M.DEFAULT_REFRESH
  local address = res.ledger or ledger.default_path()
  local _, bad_address = ledger.address(address)
  if bad_address then usage_error("%s", bad_address) end
  local s = setmetatable({ address = address, refresh = refresh, host = host, public = res.public }, State)
  -- a ledger that cannot be read now is an error now, not a 503 later
  s.shown = s:db().path
  local srv, err = httpd.listen(host, port)
  if not srv then
    s:drop()
    log.error("ledger serve: %s", err)
    return 1
  end
  local shown_host = host:find(":", 1, true) and ("[" .. host .. "]") or host
  log.info("ledger serve: %s on http://%s:%d/ (API /api/version, /api/deployments, /api/deployments/stats); "
           .. "Ctrl-C stops", s.shown, shown_host, srv:port())
  local function handler(req) return s:handle_request(req) end
  guard.disarm() -- Ctrl-C or a service manager's TERM ends the loop below, between two requests
  while not guard.signal() do srv:run(250, handler) end
  srv:close()
  s:drop()
  log.info("ledger serve: stopped (%s)", guard.signal())
  return 0
end

return M
