#!/usr/bin/env python3
"""An HTTP/1.1 server on 127.0.0.1 for drun's HTTP and health tests.

    http_test.py PORTFILE      listens on an ephemeral port, writes it to PORTFILE

Routes (query parameters in brackets):
  /status/<code>             that status, a small JSON body
  /json                      {"ok": true, "n": 42, "items": [1, 2]}
  /echo                      the request back as JSON: method, path, query, headers, body
  /chunked                   a chunked response of several parts
  /redirect/<n>              a chain of n redirects ending at /json
  /loop                      redirects to itself forever
  /to[url, status]           a redirect (302 unless status) to url, which may be on another host
  /slow[ms]                  answers after ms milliseconds
  /hang                      never answers (sleeps a minute)
  /close-mid-body            promises 1000 bytes, sends 100, closes
  /garbage                   200 with a body that is not JSON
  /big[bytes]                200 with that many bytes
  /script[key, statuses, versions, bodies]
                             the n-th request for `key` answers the n-th entry of the
                             comma-separated lists (the last one repeats): statuses like
                             503,503,200; versions go into {"status": "ok", "version": v};
                             bodies are raw (the word "invalid" gives invalid JSON)
  /stats                     {"connections": accepted connections, "requests": n}
  /slack[key, statuses]      a Slack incoming webhook: a JSON body with a non-empty
                             "text" is recorded and answered 200 "ok"; else 400
                             invalid_payload (not JSON, or not sent as JSON) or 400
                             no_text; statuses as /script's, before the checks, each
                             answered with Slack's own body for it (SLACK_ERRORS)
  /received[key]             what /script and /slack received for key, oldest first:
                             [{"body", "content_type"}]
"""
import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

lock = threading.Lock()
counters = {"connections": 0, "requests": 0}
scripts = {}
received = {}

# The bodies Slack answers a failed incoming-webhook post with, by status:
# Slack's changelog "Improving error conditions for Incoming Webhooks"
# (api.slack.com/changelog/2016-05-17-changes-to-errors-for-incoming-webhooks);
# no_text (400, a message without text) as GitLab's issue 332611 quotes
# Slack's answer to curl.
SLACK_ERRORS = {400: "invalid_payload", 403: "action_prohibited", 404: "channel_not_found",
                410: "channel_is_archived", 500: "rollup_error"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in two writes; without TCP_NODELAY the body
        # waits for the client's delayed ACK (40 ms) on a kept-alive
        # connection. Real servers (nginx, Caddy) set it too.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            counters["connections"] += 1

    def send(self, status, body, content_type="application/json", headers=()):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers:
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def count_and_keep(self, key, body):
        """how many requests for key came before this one; this one kept for /received"""
        with lock:
            n = scripts.get(key, 0)
            scripts[key] = n + 1
            received.setdefault(key, []).append(
                {"body": body.decode("utf-8", "replace"), "content_type": self.headers.get("Content-Type", "")})
        return n

    def handle_any(self):
        with lock:
            counters["requests"] += 1
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = url.path.strip("/").split("/")
        route = parts[0]
        if route == "status":
            self.send(int(parts[1]), json.dumps({"status": int(parts[1])}))
        elif route == "json":
            self.send(200, json.dumps({"ok": True, "n": 42, "items": [1, 2]}))
        elif route == "echo":
            self.send(200, json.dumps({"method": self.command, "path": url.path, "query": q,
                                       "headers": {k.lower(): v for k, v in self.headers.items()},
                                       "body": body.decode("utf-8", "replace")}))
        elif route == "chunked":
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for piece in (b"part one, ", b"part two, ", b"part three"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif route == "redirect":
            n = int(parts[1])
            target = "/json" if n <= 1 else "/redirect/%d" % (n - 1)
            self.send(302, "", headers=[("Location", target)])
        elif route == "to":
            self.send(int(q.get("status", "302")), "", headers=[("Location", q["url"])])
        elif route == "loop":
            self.send(302, "", headers=[("Location", "/loop")])
        elif route == "slow":
            time.sleep(int(q.get("ms", "1000")) / 1000)
            self.send(200, json.dumps({"slow": True}))
        elif route == "hang":
            time.sleep(60)
        elif route == "close-mid-body":
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"x" * 100)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
        elif route == "garbage":
            self.send(200, "<html>502 Bad Gateway</html>", "text/html")
        elif route == "big":
            self.send(200, b"b" * int(q.get("bytes", "1000")), "application/octet-stream")
        elif route == "received":
            with lock:
                self.send(200, json.dumps(received.get(q["key"], [])))
        elif route == "slack":
            n = self.count_and_keep(q["key"], body)
            statuses = q.get("statuses", "200").split(",")
            status = int(statuses[min(n, len(statuses) - 1)])
            try:
                msg = json.loads(body)
            except ValueError:
                msg = None
            if status != 200:  # (a status Slack does not answer with is the test's mistake: KeyError)
                self.send(status, SLACK_ERRORS[status], "text/html")
            elif not isinstance(msg, dict) or not self.headers.get("Content-Type", "").startswith("application/json"):
                self.send(400, "invalid_payload", "text/html")
            elif not isinstance(msg.get("text"), str) or not msg["text"]:
                self.send(400, "no_text", "text/html")
            else:
                self.send(200, "ok", "text/html")
        elif route == "script":
            n = self.count_and_keep(q["key"], body)

            def pick(name):
                items = q[name].split(",")
                return items[min(n, len(items) - 1)]
            status = int(pick("statuses")) if "statuses" in q else 200
            if "versions" in q:
                payload = json.dumps({"status": "ok", "version": pick("versions")})
            elif "bodies" in q:
                payload = pick("bodies").replace("invalid", "{not json")
            else:
                payload = json.dumps({"status": "ok"})
            self.send(status, payload)
        elif route == "stats":
            with lock:
                self.send(200, json.dumps(counters))
        else:
            self.send(404, json.dumps({"error": "no route " + url.path}))

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
