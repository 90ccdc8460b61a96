"""Cloudflare D1's REST API, as the shared ledger's d1:// backend meets it,
backed by a real sqlite file per database (state/d1api/<uuid>.sqlite).

  POST /client/v4/accounts/<account>/d1/database            {"name"} -> created
  GET  /client/v4/accounts/<account>/d1/database            the list
  POST /client/v4/accounts/<account>/d1/database/<id>/query {"sql", "params"}
                                                            or {"batch": [{"sql", "params"}, ...]}

What it answers, and where that comes from:
- Every response is the v4 envelope {success, errors, messages, result};
  a query's result is one entry per statement, {results: [row objects],
  success, meta: {changed_db, changes, duration, last_row_id, rows_read,
  rows_written, size_after}} (developers.cloudflare.com/api, "Query D1
  Database", D1QueryResponse / d1_query-meta).
- params are strings (or null): the OpenAPI description types them
  Array<string> (cloudflare/cloudflare-typescript, src/resources/d1/
  database/database.ts, DatabaseQueryParams); a number is refused here.
- sql may hold several statements joined by semicolons, run as one batch;
  a batch is one transaction: a failing statement rolls back all of them
  (D1's docs, "batch statements are SQL transactions").
- An invalid statement is HTTP 400 (D1's changelog, 2024-04-15: "Invalid SQL
  queries return 400 error with HTTP API"), code 7500, "<sqlite's message>:
  SQLITE_ERROR" as wrangler prints it ("... [code: 7500]").
- Authorization: a header that is not "Bearer <token>" is 400, code 6003
  "Invalid request headers" with error_chain 6111 "Invalid format for
  Authorization header"; a token Cloudflare does not know is 403, code 10000
  "Authentication error" (the v4 API's answer, as reported in
  sebdesign/artisan-cloudflare#16 and hieunc229/mailflare#1); a token
  without D1 permission, or another account, is 403, code 7403 "The given
  account is not valid or is not authorized to access this service"
  (cloudflare/workers-sdk#15467, #15553).
- A database id that is not a UUID is 400, code 7400 "The request is
  malformed: failed to decode id" (workers-sdk#5523); an unknown one is 404,
  code 7404 "The database <id> could not be found" (as wrangler prints it).
- Rate limiting is 429 with Retry-After and code 971 "Please wait and
  consider throttling your request speed" (the v4 API's rate-limit answer).

Tokens: sandbox-cloudflare-token (the one tests/sandbox/start exports) may
do everything; sandbox-cloudflare-token-no-d1 is a real token without D1
permission. Faults: d1:<uuid> = 429 | 500 (one request; always:... for
every one). Every query is logged to calls.jsonl as tool "d1-api" (a bench
counts the round trips a deployment costs).
"""
import json
import os
import re
import sqlite3
import time
import uuid

import sandbox as sb

ACCOUNT = "sandbox-account"
TOKENS = {"sandbox-cloudflare-token": {"d1"}, "sandbox-cloudflare-token-no-d1": set()}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def envelope(status, result=None, code=None, message=None, chain=None, headers=None):
    errors = []
    if code:
        errors = [{"code": code, "message": message}]
        if chain:
            errors[0]["error_chain"] = chain
    return status, {"success": not errors, "errors": errors, "messages": [], "result": result}, headers or {}


def authorize(account, auth):
    if not auth.startswith("Bearer ") or not auth[len("Bearer "):].strip():
        return envelope(400, code=6003, message="Invalid request headers",
                        chain=[{"code": 6111, "message": "Invalid format for Authorization header"}])
    scopes = TOKENS.get(auth[len("Bearer "):].strip())
    if scopes is None:
        return envelope(403, code=10000, message="Authentication error")
    if account != ACCOUNT or "d1" not in scopes:
        return envelope(403, code=7403, message="The given account is not valid or is not authorized to access this service")
    return None


def path_of(db):
    return os.path.join(sb.DIR, "state", "d1api", db + ".sqlite")


def databases(method, account, auth, body):
    denied = authorize(account, auth)
    if denied:
        return denied
    dbs = sb.load("d1api-databases", {})
    if method == "GET":
        return envelope(200, [dict(v, uuid=k) for k, v in sorted(dbs.items())])
    name = (body or {}).get("name")
    if not isinstance(name, str) or not name:
        return envelope(400, code=7400, message="The request is malformed: name is required")
    with sb.locked():
        dbs = sb.load("d1api-databases", {})
        if any(v["name"] == name for v in dbs.values()):
            return envelope(400, code=7502, message="A database with that name already exists")
        db = str(uuid.uuid4())
        dbs[db] = {"name": name, "created_at": sb.now_iso(), "version": "production"}
        sb.save("d1api-databases", dbs)
    os.makedirs(os.path.dirname(path_of(db)), exist_ok=True)
    sqlite3.connect(path_of(db)).close()
    return envelope(200, dict(dbs[db], uuid=db))


def split(sql):
    """Statements joined by semicolons, each complete as sqlite reads it."""
    out, cur = [], ""
    for part in sql.split(";"):
        cur += part + ";"
        if sqlite3.complete_statement(cur):
            if cur.strip(" \t\r\n;"):
                out.append(cur.strip())
            cur = ""
    if cur.strip(" \t\r\n;"):
        out.append(cur.strip())
    return out


def query(method, account, db, auth, raw):
    denied = authorize(account, auth)
    if denied:
        return denied
    if method != "POST":
        return envelope(405, code=7001, message="Method not allowed")
    if not UUID.match(db):
        return envelope(400, code=7400, message="The request is malformed: failed to decode id")
    if db not in sb.load("d1api-databases", {}):
        return envelope(404, code=7404, message="The database %s could not be found" % db)
    fault = sb.take_fault("d1:" + db)
    sb.log_call("d1-api", ["query", db], fault=fault)
    if fault == "429":
        return envelope(429, code=971, message="Please wait and consider throttling your request speed",
                        headers={"Retry-After": "1"})
    if fault == "500":
        return envelope(500, code=7500, message="Internal error")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        body = None
    batch = body.get("batch") if isinstance(body, dict) and "batch" in body else [body]
    if not isinstance(batch, list) or not all(isinstance(q, dict) and isinstance(q.get("sql"), str) for q in batch):
        return envelope(400, code=7400, message="The request is malformed: a query needs sql")
    statements = []
    for q in batch:
        params = q.get("params") or []
        parts = split(q["sql"])
        if not isinstance(params, list) or not all(p is None or isinstance(p, str) for p in params):
            # Cloudflare's OpenAPI description types params as Array<string>
            # (cloudflare-typescript: DatabaseQueryParams.D1SingleQuery.params)
            return envelope(400, code=7400, message="The request is malformed: params must be an array of strings")
        if params and len(parts) > 1:
            return envelope(400, code=7500, message="Parameters are not supported with multiple statements: SQLITE_ERROR")
        statements += [(s, params) for s in parts]
    con = sqlite3.connect(path_of(db), isolation_level=None, timeout=30)
    con.row_factory = sqlite3.Row
    results = []
    try:
        con.execute("BEGIN IMMEDIATE")
        for sql, params in statements:
            start, before = time.monotonic(), con.total_changes
            cur = con.execute(sql, params)
            rows = [dict(r) for r in cur.fetchall()]
            changes = con.total_changes - before
            results.append({"results": rows, "success": True, "meta": {
                "changed_db": changes > 0, "changes": changes,
                "duration": round((time.monotonic() - start) * 1000, 3),
                "last_row_id": cur.lastrowid or 0, "rows_read": len(rows), "rows_written": changes,
                "size_after": os.path.getsize(path_of(db))}})
        con.execute("COMMIT")
    except sqlite3.Error as e:
        if con.in_transaction:
            con.execute("ROLLBACK")
        kind = "SQLITE_CONSTRAINT" if isinstance(e, sqlite3.IntegrityError) else "SQLITE_ERROR"
        return envelope(400, code=7500, message="%s: %s" % (e, kind))
    finally:
        con.close()
    return envelope(200, results)
