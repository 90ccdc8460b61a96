-- drun.http against a real HTTP/1.1 server on 127.0.0.1 (tests/servers/http_test.py).
local t = require "t"
local http = require "drun.http"
local json = require "drun.json"
local time = require "drun.time"
local runtime = require "drun.runtime"

local base = t.server("http_test.py")

t.test("GET: status, lower-cased headers, body, json(), final url, timing", function()
  local r = http.get(base .. "/json")
  t.eq(r.status, 200)
  t.eq(r.headers["content-type"], "application/json")
  t.eq(r:json().n, 42)
  t.eq(math.type(r:json().n), "integer")
  t.eq(r.url, base .. "/json")
  t.eq(r.attempts, 1)
  t.ok(r.time_ms > 0)
end)

t.test("4xx and 5xx are responses; expect turns them into errors with a body excerpt", function()
  t.eq(http.get(base .. "/status/404").status, 404)
  t.eq(http.get(base .. "/status/500").status, 500)
  t.raises(function() http.get(base .. "/status/503", { expect = 200 }) end,
           "http: GET " .. base:gsub("%p", "%%%0") .. "/status/503: expected 200, got 503: {\"status\": 503}")
  t.eq(http.get(base .. "/status/201", { expect = { 200, 201 } }).status, 201)
  local r, err = http.get(base .. "/status/409", { expect = 200, check = false })
  t.eq(r, nil)
  t.match(err, "expected 200, got 409")
end)

t.test("methods, JSON bodies, query strings and headers reach the server", function()
  local r = http.post(base .. "/echo", { json = { tag_name = "cms-v1.5.0", generate_release_notes = true },
                                         query = { page = 2, q = "a b&c" }, headers = { ["X-Request"] = "r1" } })
  local e = r:json()
  t.eq(e.method, "POST")
  t.eq(e.query.q, "a b&c")
  t.eq(e.query.page, "2")
  t.eq(e.headers["content-type"], "application/json")
  t.eq(e.headers["x-request"], "r1")
  t.match(e.headers["user-agent"], "^drun/")
  t.eq(json.decode(e.body).tag_name, "cms-v1.5.0")
  for _, m in ipairs { "put", "patch", "delete" } do t.eq(http[m](base .. "/echo"):json().method, m:upper()) end
  t.eq(http.head(base .. "/json").body, "")
  t.eq(http.request({ method = "OPTIONS", url = base .. "/echo" }):json().method, "OPTIONS")
  t.raises(function() http.post(base .. "/echo", { body = "x", json = {} }) end, "give body or json, not both")
  t.raises(function() http.get(base .. "/echo", { headers = { Bad = "a\r\nInjected: 1" } }) end, "contains a line break")
end)

t.test("credentials never follow a redirect to another host; https -> http refused with them", function()
  local other = base:gsub("127%.0%.0%.1", "localhost") -- the same server under another host name
  local function via(target, status, headers, method)
    local url = base .. "/to?status=" .. (status or 302) .. "&url=" .. target:gsub("[:/?&=]", function(c)
      return string.format("%%%02X", c:byte()) end)
    return http.request { method = method or "GET", url = url, headers = headers }:json()
  end
  local creds = { Authorization = "Bearer tok-abc-123", ["PRIVATE-TOKEN"] = "glpat-xyz-789", ["X-Api-Key"] = "k-456-789",
                  Cookie = "session=s-1", ["X-Trace"] = "keep-me" }
  local same = via(base .. "/echo", 307, creds)
  t.eq(same.headers.authorization, "Bearer tok-abc-123", "same origin: kept")
  t.eq(same.headers["private-token"], "glpat-xyz-789")
  local cross = via(other .. "/echo", 307, creds)
  t.eq(cross.path, "/echo")
  for _, h in ipairs { "authorization", "private-token", "x-api-key", "cookie" } do
    t.eq(cross.headers[h], nil, h .. " dropped on the way to another host")
  end
  t.eq(cross.headers["x-trace"], "keep-me", "other headers still go")
  local posted = http.post(base .. "/to?status=303&url=%2Fecho", { json = { a = 1 } }):json()
  t.eq(posted.method, "GET", "303: the next request is a GET")
  t.eq(posted.body, "")
  -- https -> http with credentials: refused (no TLS server here, so the decision itself)
  local req = { method = "GET", url = "https://api.example.com/x", headers = { "Authorization: Bearer t0k3n-x" } }
  t.raises(function() http.redirect(req, 302, "http://api.example.com/y") end, "refusing to follow a redirect from https to http")
  req = { method = "GET", url = "https://api.example.com/x", headers = { "Accept: */*" } }
  http.redirect(req, 302, "http://api.example.com/y")
  t.eq(req.url, "http://api.example.com/y", "without credentials it is followed")
  req = { method = "GET", url = "https://user:pw-123@a.example.com/x", headers = {} }
  http.redirect(req, 302, "https://b.example.com/y")
  t.eq(req.url, "https://b.example.com/y")
  req = { method = "GET", url = "https://a.example.com/dir/x", headers = {} }
  http.redirect(req, 302, "../z?q=1")
  t.eq(req.url, "https://a.example.com/dir/../z?q=1")
  t.raises(function() http.redirect(req, 302, "file:///etc/passwd") end, "not http or https")
end)

t.test("chunked responses are joined", function()
  t.eq(http.get(base .. "/chunked").body, "part one, part two, part three")
end)

t.test("redirects are followed to the final URL; a loop stops with a clear error", function()
  local r = http.get(base .. "/redirect/3")
  t.eq(r.status, 200)
  t.eq(r.url, base .. "/json")
  t.eq(http.get(base .. "/redirect/1", { follow = false }).status, 302)
  t.raises(function() http.get(base .. "/loop") end, "http: GET .*/loop: too many redirects")
  t.raises(function() http.get(base .. "/redirect/3", { max_redirects = 2 }) end, "too many redirects")
end)

t.test("a slow response times out", function()
  local t0 = time.now()
  t.raises(function() http.get(base .. "/slow?ms=3000", { timeout = 0.3 }) end, "http: GET .*/slow%?ms=3000: timed out")
  t.ok(time.now() - t0 < 2)
  t.eq(http.get(base .. "/slow?ms=100", { timeout = 5 }).status, 200)
end)

t.test("a server closing the connection mid-body", function()
  t.raises(function() http.get(base .. "/close-mid-body") end, "the connection closed before the whole body arrived")
end)

t.test("503 then 200: retried with backoff, attempts counted; POST not retried unless asked", function()
  local r = http.get(base .. "/script?key=retry1&statuses=503,503,200", { retries = 3 })
  t.eq(r.status, 200)
  t.eq(r.attempts, 3)
  r = http.get(base .. "/script?key=retry2&statuses=503,503,503,503,200", { retries = 2 })
  t.eq(r.status, 503)
  t.eq(r.attempts, 3)
  r = http.post(base .. "/script?key=retry3&statuses=503,200", { retries = 3 })
  t.eq(r.attempts, 1, "POST is not idempotent")
  r = http.post(base .. "/script?key=retry4&statuses=503,200", { retries = 3, retry_non_idempotent = true })
  t.eq(r.attempts, 2)
  r = http.get(base .. "/script?key=retry5&statuses=500,200", { retries = 3, retry_on = { 500 } })
  t.eq(r.attempts, 2)
end)

t.test("garbage to json(): a clear error naming the request", function()
  local r = http.get(base .. "/garbage")
  t.raises(function() r:json() end, "http: GET .*/garbage: the response is not JSON %(invalid JSON at line 1, column 1.-%): <html>502 Bad Gateway</html>")
end)

t.test("a body over max_body is an error; under it is fine", function()
  t.raises(function() http.get(base .. "/big?bytes=5000", { max_body = 4096 }) end,
           "the response body is larger than max_body %(4096 bytes%)")
  t.eq(#http.get(base .. "/big?bytes=4096", { max_body = 4096 }).body, 4096)
  t.eq(http.DEFAULT_MAX_BODY, 64 * 1024 * 1024)
end)

t.test("a refused port: connection refused, with the attempts", function()
  t.raises(function() http.get("http://127.0.0.1:9/x", { retries = 2 }) end,
           "^.-http: GET http://127%.0%.0%.1:9/x: connection refused %(3 attempts%)$")
  local r, err, kind = http.get("http://127.0.0.1:9/x", { check = false })
  t.eq(r, nil)
  t.eq(err, "http: GET http://127.0.0.1:9/x: connection refused (1 attempt)")
  t.eq(kind, "connect")
end)

t.test("only http and https", function()
  t.raises(function() http.get("file:///etc/passwd") end, "http: GET file:///etc/passwd:")
  t.raises(function() http.get("") end, "url is required")
end)

t.test("connections are reused across requests", function()
  local before = json.decode(http.get(base .. "/stats").body).connections
  local opened = http.connections_opened()
  for _ = 1, 20 do http.get(base .. "/json") end
  local after = json.decode(http.get(base .. "/stats").body).connections
  t.eq(after - before, 0, "new connections accepted by the server")
  t.eq(http.connections_opened() - opened, 0)
end)

t.test("Authorization and token headers never appear in errors, dry-run or logs", function()
  local secret = "sk-live-abcdef123456"
  local r = t.drun { "-e", ([[
    local http = require 'drun.http'
    local ok, err = pcall(http.get, %q .. '/status/401', { headers = { Authorization = 'Bearer %s',
      ['X-Auth-Token'] = 'tok-%s' }, expect = 200 })
    print(err)
    require('drun.runtime').dry_run = true
    http.post(%q .. '/echo', { headers = { Authorization = 'Bearer %s' }, json = { a = 1 } })
    print('echo of secret: Bearer %s')
    error('failed with %s')
  ]]):format(base, secret, secret, base, secret, secret, secret) }
  local all = r.stdout .. r.stderr
  t.no_match(all, secret, "secret printed")
  t.match(r.stderr, "dry%-run: would POST .*/echo %(Accept: %*/%*, Authorization: %*%*%*, Content%-Type: application/json; body 7 bytes%)")
  t.match(r.stdout, "echo of secret: %*%*%*")
end)

t.test("a password in the URL is masked in messages", function()
  local msg = t.raises(function() http.get("http://user:hunter2pass@127.0.0.1:9/x") end)
  t.no_match(msg, "hunter2pass")
  t.match(msg, "http://user:%*%*%*@127%.0%.0%.1:9/x")
end)

t.test("dry-run: writes are printed and not sent; reads go through", function()
  local lines = {}
  runtime.dry_run, runtime.sink = true, function(m) lines[#lines + 1] = m end
  local ok, err = pcall(function()
    local r = http.post(base .. "/script?key=dry&statuses=500", { json = { x = 1 } })
    t.eq(r.status, 0)
    t.eq(r.dry_run, true)
    t.eq(http.get(base .. "/json").status, 200)
  end)
  runtime.dry_run, runtime.sink = false, nil
  t.ok(ok, err)
  t.eq(#lines, 1)
  t.match(lines[1], "^POST .*/script%?key=dry&statuses=500 %(")
  -- the POST never reached the server: its first real request still gets entry 1
  t.eq(http.post(base .. "/script?key=dry&statuses=500,200").status, 500)
end)

t.test("Ctrl-C during a request: exit 130", function()
  local r = require("drun.proc").run {
    "sh", "-c", '"$0" -e "require(\'drun.http\').get(\'$1/hang\', { timeout = 30 })" & pid=$!; sleep 0.5; kill -INT $pid; wait $pid; echo "exit=$?"',
    t.DRUN, base, timeout = 20 }
  t.eq(r.stdout, "exit=130\n")
end)
