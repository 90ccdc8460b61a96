#!/usr/bin/env python3
"""bench/serve's baseline: the versioning API's /api/deployments as a small
hand-made server would answer it: Python's ThreadingHTTPServer, the sqlite3
module, the same query drun runs (newest first, the filters given) and
json.dumps with the API's camelCase keys.

    baseline.py LEDGER.db PORTFILE"""
import json
import socket
import sqlite3
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

DB = sys.argv[1]
KEYS = {"id": "id", "service": "service", "environment": "environment", "recipe": "recipe", "version": "version",
        "build_number": "buildNumber", "full_version": "fullVersion", "git_commit": "gitCommit",
        "git_branch": "gitBranch", "deployed_at": "deployedAt", "deployed_by": "deployedBy",
        "finished_at": "finishedAt", "status": "status", "deployment_duration": "durationMs",
        "workflow_run_id": "workflowRunId", "workflow_run_url": "workflowRunUrl", "failed_step": "failedStep",
        "error": "error", "metadata": "metadata"}
COLUMNS = ", ".join(KEYS)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without TCP_NODELAY the body
        # waits for the client's delayed ACK (40 ms), as tests/servers/http_test.py notes
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self):
        url = urlparse(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        conds, params = [], []
        for key, column in (("service", "service"), ("environment", "environment"), ("status", "status")):
            if key in q:
                conds.append(column + " = ?")
                params.append(q[key])
        limit = min(int(q.get("limit", "50")), 1000)
        db = sqlite3.connect(DB)
        rows = db.execute("SELECT " + COLUMNS + " FROM deployment_history"
                          + (" WHERE " + " AND ".join(conds) if conds else "")
                          + " ORDER BY deployed_at DESC, id DESC LIMIT ?", params + [limit]).fetchall()
        db.close()
        out = []
        for row in rows:
            rec = {api: value for api, value in zip(KEYS.values(), row)}
            rec["metadata"] = json.loads(rec["metadata"] or "{}")
            out.append(rec)
        body = json.dumps({"success": True, "deployments": out, "count": len(out)}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(sys.argv[2], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
