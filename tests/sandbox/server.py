#!/usr/bin/python3
"""The sandbox's loopback server (127.0.0.1, ephemeral port):

  /apps/<app>/health                 {"status": "ok"}, as real apps answer; 503 when
                                     no machine is started (no auto-start here)
  /apps/<app>/version                {digest, commit} of the image (an app that
                                     reports what it runs, for a digest check)
  /workers/<name>[/<env>]/api/health {status, version} of the version the worker
                                     serves; 503 when a service binding (the CMS's
                                     MCP) was never deployed in that environment
  /workers/<name>[/<env>]/app[/...]  the worker's pages (the traffic a post-deploy
                                     watch sees): 200 "ok <version>"
                                     Every request to a worker is also a tail event
                                     (state/tail/<name>@<env>.jsonl, one per line), in
                                     the shape `wrangler tail --format json` prints:
                                     wrangler's TailEventMessage (src/tail/createTail.ts:
                                     outcome, scriptName, exceptions [{name, message,
                                     timestamp}], logs, eventTimestamp, event {request
                                     {url, method, headers, cf}}) and workers-types'
                                     TraceItemFetchEventInfo (event.response {status},
                                     absent when the worker threw); scriptVersion, truncated,
                                     diagnosticsChannelEvents and executionModel are
                                     workerd's trace fields, which wrangler passes through
  /client/v4/accounts/<id>/pages/projects/<name>
                                     Cloudflare's API (GET a Pages project, its
                                     production_branch): the envelope {success,
                                     errors, messages, result}; a missing project
                                     is 404 with code 8000007; a Bearer token needed
  /client/v4/accounts/<id>/d1/database[/<uuid>/query]
                                     Cloudflare D1's REST API over a real sqlite file
                                     per database (lib/d1api.py: shapes, errors and
                                     where each comes from)
  /github/...                        the GitHub REST calls drun makes: releases
                                     (generated notes list commit subjects), issues,
                                     issue comments (create, list, update), refs;
                                     lists are paginated as GitHub does (per_page
                                     30 by default, 100 at most; page from 1);
                                     an Authorization header is required and every
                                     request is recorded in state/github.json

Faults (tests/sandbox/fault, they stay until cleared):
  health:<name>:<env> = 500 | old | invalid-json | hang   (workers; health:<name> for the top level)
  errors:<name>[:<env>] = 500 | exception                  (a worker's pages: a 5xx answer, or an uncaught
                                                           exception: outcome "exception", Cloudflare's 500)
  health:<app> = 500 | invalid-json | hang                 (Fly apps)
  health:<app>:<machine id> = ...                          (one machine, asked with fly-force-instance-id)
  github-release = 422
  github-protect = BRANCH:RULE[:BYPASS]                     a repository ruleset on BRANCH with one rule
                                                           (pull_request, update, ...); BYPASS is the
                                                           token's current_user_can_bypass (default never)
  github-protect-classic = BRANCH                          classic branch protection this token cannot read

    server.py PORTFILE [GIT_DIR]   GIT_DIR: the repository release notes come from
"""
import json
import os
import re
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs
import socket

sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), "lib"))
import sandbox as sb  # noqa: E402
import d1api  # noqa: E402

GIT_DIR = sys.argv[2] if len(sys.argv) > 2 else None


def faulty_health(fault):
    """The response a health fault calls for, or None to answer normally."""
    if fault == "500":
        return 500, {"status": "error", "error": "sandbox fault"}
    if fault == "invalid-json":
        return 200, "<html>oops</html>"
    if fault == "hang":
        time.sleep(60)
    return None


def worker_health(name, env):
    workers = sb.load("workers", {})
    w = next((w for n, w in workers.items() if w["base"] == name and w["env"] == env), None)
    if not w or not w["deployments"]:
        return 404, {"status": "error", "error": "%s is not deployed in %s" % (name, env or "default")}
    for svc in w.get("services", []):
        if svc and not workers.get(svc, {}).get("deployments"):
            return 503, {"status": "error", "error": "service binding to %s does not resolve" % svc}
    deployments = w["deployments"]
    fault = sb.peek_fault("health:%s:%s" % (name, env) if env else "health:%s" % name)  # the top level: no env
    current = deployments[-1]["version_id"]
    if fault == "old":
        older = [d["version_id"] for d in deployments if d["version_id"] != current]
        current = older[-1] if older else current
    version = next(v["app_version"] for v in w["versions"] if v["id"] == current)
    return faulty_health(fault) or (200, {"status": "ok", "version": version})


def worker_of(name, env):
    workers = sb.load("workers", {})
    return next(((n, w) for n, w in workers.items() if w["base"] == name and w["env"] == env), (None, None))


def worker_app(name, env):
    """A worker's page, and the exception it threw (None when it did not)."""
    _, w = worker_of(name, env)
    if not w or not w["deployments"]:
        return 404, "no such worker", None
    fault = sb.peek_fault("errors:%s:%s" % (name, env) if env else "errors:%s" % name)
    if fault == "exception":
        return 500, "Error 1101: Worker threw exception", "TypeError: Cannot read properties of undefined (reading 'id')"
    if fault == "500":
        return 500, "internal error (sandbox fault)", None
    current = w["deployments"][-1]["version_id"]
    version = next(v["app_version"] for v in w["versions"] if v["id"] == current)
    return 200, "ok %s" % version, None


def tail_event(name, env, method, url, headers, status, exception):
    """Appends the request as wrangler tail would print it (see the header)."""
    resolved, w = worker_of(name, env)
    if not w:
        return
    now = int(time.time() * 1000)
    event = {"request": {"url": url, "method": method, "headers": headers,
                         "cf": {"colo": "AMS", "country": "NL", "httpProtocol": "HTTP/1.1", "tlsVersion": "TLSv1.3",
                                "tlsCipher": "AEAD-AES128-GCM-SHA256", "asn": 64512, "asOrganization": "Sandbox"}}}
    if exception is None:
        event["response"] = {"status": status}
    msg = {"outcome": "exception" if exception else "ok", "scriptName": resolved, "diagnosticsChannelEvents": [],
           "exceptions": [{"name": exception.split(":")[0], "message": exception.split(": ", 1)[-1], "timestamp": now}]
           if exception else [],
           "logs": [],  # the sandbox's workers call no console.log
           "eventTimestamp": now, "event": event, "scriptVersion": {"id": w["deployments"][-1]["version_id"]},
           "truncated": False, "executionModel": "stateless"}
    os.makedirs(os.path.join(sb.STATE, "tail"), exist_ok=True)
    with open(os.path.join(sb.STATE, "tail", "%s@%s.jsonl" % (name, env)), "a") as f:
        f.write(json.dumps(msg) + "\n")


def app_health(app, what, instance=None):
    """The app's answer through Fly's proxy. `instance` is the request's
    fly-force-instance-id header: the proxy sends the request to that machine
    (fly.io/docs/blueprints/sticky-sessions, "Fly-Force-Instance-Id").
    Fly's docs do not say what the proxy answers when the machine is
    stopped (it may start it, as autostart does) or does not exist; here
    that is a 503 naming the machine, never another machine's answer. drun
    asks only machines `fly machines list` shows started, so it never
    depends on that answer."""
    a = sb.load("apps", {}).get(app)
    if not a or not any(m["image_ref"] for m in a["machines"]):
        return 404, {"status": "error", "error": "%s is not deployed" % app}
    started = [m for m in a["machines"] if m["state"] == "started"]
    if instance:
        started = [m for m in started if m["id"] == instance]
        if not started:
            return 503, {"status": "error", "error": "machine %s of %s is not started" % (instance, app)}
    if not started:
        return 503, {"status": "error", "error": "no started machine for %s" % app}
    ref = started[0]["image_ref"]
    body = {"status": "ok"} if what == "health" else {"digest": ref["digest"], "commit": ref.get("labels", {}).get("commit")}
    fault = sb.peek_fault("health:%s:%s" % (app, started[0]["id"])) if instance else None
    return faulty_health(fault or sb.peek_fault("health:%s" % app)) or (200, body)


def cf_envelope(status, result=None, code=None, message=None):
    """Cloudflare API v4's envelope (developers.cloudflare.com/api: every response)."""
    errors = [{"code": code, "message": message}] if code else []
    return status, {"success": not errors, "errors": errors, "messages": [], "result": result}


def cloudflare(method, account, project, auth):
    if not auth.startswith("Bearer ") or len(auth) <= len("Bearer "):
        return cf_envelope(400, code=6003, message="Invalid request headers")
    if account != "sandbox-account":
        return cf_envelope(403, code=10000, message="Authentication error")
    if method != "GET":
        return cf_envelope(405, code=7001, message="Method not allowed for this authentication scheme")
    p = sb.load("pages-projects", {}).get(project)
    if not p:
        return cf_envelope(404, code=8000007,
                           message="Project not found. The specified project name does not match any of your existing projects.")
    result = dict(p, id=p["name"] + "-id", deployment_configs={"preview": {}, "production": {}}, source=None,
                  latest_deployment=None, canonical_deployment=None, build_config={})
    return cf_envelope(200, result)


def git(*args):
    """git in the repository the sandbox was started with; None without one or on failure"""
    if not GIT_DIR:
        return None
    r = subprocess.run(["git", "--git-dir", GIT_DIR] + list(args), capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else None


def release_notes(tag):
    if not GIT_DIR:
        return "Release %s" % tag
    if git("rev-parse", "--verify", "-q", "refs/tags/" + tag) is None:
        return "Release %s" % tag
    prefix = re.sub(r"\d.*$", "", tag)
    previous = git("describe", "--tags", "--abbrev=0", "--match", prefix + "*", tag + "^")
    rng = "%s..%s" % (previous, tag) if previous else tag
    subjects = (git("log", "--format=%s", rng) or "").splitlines()
    lines = ["## What's Changed"] + ["* %s" % s for s in subjects]
    if previous:
        lines.append("\n**Full Changelog**: %s...%s" % (previous, tag))
    return "\n".join(lines)


def page_of(items, query):
    """GitHub's list pagination: per_page (default 30, at most 100), page from 1."""
    q = parse_qs(query)
    per_page = min(int((q.get("per_page") or ["30"])[0]), 100)
    page = int((q.get("page") or ["1"])[0])
    return items[(page - 1) * per_page:page * per_page]


def github(method, path, query, body, authed):
    with sb.locked():
        gh = sb.load("github", {"requests": [], "releases": [], "issues": [], "comments": [], "next_id": 1})
        gh["requests"].append({"method": method, "path": path, "query": query, "body": body, "authorized": authed})
        result = github_route(gh, method, path, body, authed)
        if method == "GET" and result[0] == 200 and isinstance(result[1], list):
            result = (200, page_of(result[1], query))
        sb.save("github", gh)
    return result


def github_route(gh, method, path, body, authed):
    if not authed:
        return 401, {"message": "Requires authentication", "documentation_url": "https://docs.github.com/rest"}
    m = re.match(r"^/repos/([^/]+)/([^/]+)(/.*|)$", path)
    if not m:
        return 404, {"message": "Not Found"}
    owner, repo, rest = m.groups()
    base = "https://github.example/%s/%s" % (owner, repo)

    def new_id():
        gh["next_id"] += 1
        return gh["next_id"] - 1

    if rest == "/releases" and method == "POST":
        tag = (body or {}).get("tag_name")
        if not tag:
            return 422, {"message": "Validation Failed", "errors": [{"resource": "Release", "code": "missing_field", "field": "tag_name"}]}
        if sb.peek_fault("github-release") == "422" or any(r["tag_name"] == tag for r in gh["releases"]):
            return 422, {"message": "Validation Failed",
                         "errors": [{"resource": "Release", "code": "already_exists", "field": "tag_name"}],
                         "documentation_url": "https://docs.github.com/rest/releases/releases#create-a-release"}
        # GitHub's REST description (POST /repos/{owner}/{repo}/releases,
        # generate_release_notes): "If body is specified, the body will be
        # pre-pended to the automatically generated notes."
        given = body.get("body") or ""
        if body.get("generate_release_notes"):
            notes = (given + "\n\n" if given else "") + release_notes(tag)
        else:
            notes = given
        rel = {"id": new_id(), "tag_name": tag, "name": body.get("name") or tag, "body": notes,
               "draft": bool(body.get("draft")), "prerelease": bool(body.get("prerelease")),
               "html_url": "%s/releases/tag/%s" % (base, tag), "created_at": sb.now_iso()}
        gh["releases"].append(rel)
        return 201, rel
    if rest == "/releases" and method == "GET":
        return 200, list(reversed(gh["releases"]))
    m2 = re.match(r"^/releases/tags/(.+)$", rest)
    if m2 and method == "GET":
        rel = next((r for r in gh["releases"] if r["tag_name"] == m2.group(1)), None)
        return (200, rel) if rel else (404, {"message": "Not Found"})
    if rest == "/issues" and method == "POST":
        issue = {"number": new_id(), "title": body.get("title"), "body": body.get("body", ""), "state": "open",
                 "labels": [{"name": l} for l in body.get("labels", [])]}
        issue["html_url"] = "%s/issues/%d" % (base, issue["number"])
        gh["issues"].append(issue)
        return 201, issue
    # Pull requests (docs.github.com/rest/pulls/pulls): "Create a pull
    # request" {title, head, base} -> 201; "Get a pull request" -> {number,
    # state open|closed, merged, title, html_url, head: {ref, sha}, base: {ref}},
    # 404 "Not Found"; "Update a pull request" {state: "closed"}. PRs and
    # issues share one number sequence, as on GitHub. As GitHub does, the
    # base repository (the sandbox's origin) holds refs/pull/<n>/head, and a
    # push to an open PR's branch moves it and head.sha (on the next read
    # here; GitHub does it soon after the push).
    if rest == "/pulls" and method == "POST":
        if not (body or {}).get("head") or not body.get("base"):
            return 422, {"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "missing_field",
                                                                     "field": "head" if not body.get("head") else "base"}]}
        n = new_id()
        pr = {"number": n, "state": "open", "merged": False, "title": body.get("title", ""), "html_url": "%s/pull/%d" % (base, n),
              "head": {"ref": body["head"], "sha": git("rev-parse", body["head"]) or ""}, "base": {"ref": body["base"]}}
        gh.setdefault("pulls", []).append(pr)
        if pr["head"]["sha"]:
            git("update-ref", "refs/pull/%d/head" % n, pr["head"]["sha"])
        return 201, pr
    m2 = re.match(r"^/pulls/(\d+)$", rest)
    if m2:
        pr = next((p for p in gh.get("pulls", []) if p["number"] == int(m2.group(1))), None)
        if not pr:
            return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest/pulls/pulls#get-a-pull-request"}
        head = pr["state"] == "open" and git("rev-parse", "--verify", "-q", "refs/heads/" + pr["head"]["ref"])
        if head and head != pr["head"]["sha"]:
            pr["head"]["sha"] = head
            git("update-ref", "refs/pull/%d/head" % pr["number"], head)
        if method == "PATCH":
            if (body or {}).get("state") in ("open", "closed"):
                pr["state"] = body["state"]
        return 200, pr
    m2 = re.match(r"^/issues/(\d+)/comments$", rest)
    if m2:
        n = int(m2.group(1))
        if method == "GET":
            return 200, [c for c in gh["comments"] if c["issue"] == n]
        if method == "POST":
            c = {"id": new_id(), "issue": n, "body": body.get("body", ""), "user": {"login": "drun-sandbox[bot]"},
                 "created_at": sb.now_iso()}
            c["html_url"] = "%s/pull/%d#issuecomment-%d" % (base, n, c["id"])
            gh["comments"].append(c)
            return 201, c
    m2 = re.match(r"^/issues/comments/(\d+)$", rest)
    if m2 and method == "PATCH":
        c = next((c for c in gh["comments"] if c["id"] == int(m2.group(1))), None)
        if not c:
            return 404, {"message": "Not Found"}
        c["body"] = body.get("body", c["body"])
        c["updated_at"] = sb.now_iso()
        return 200, c
    # Rulesets and branch protection, shapes from docs.github.com/rest/repos/rules
    # ("Get rules for a branch": [{type, ruleset_source_type, ruleset_source,
    # ruleset_id}], every active rule whatever the caller may bypass; "Get a
    # repository ruleset": {id, name, target, source_type, source, enforcement,
    # conditions, rules, current_user_can_bypass}, 404 for an unknown id) and
    # rest/branches ("Get a branch": {name, commit, protected, protection,
    # protection_url}, 404 "Branch not found"; "Get branch protection": 404
    # "Branch not protected", and 403 "Resource not accessible by integration"
    # to a GITHUB_TOKEN without administration rights). Fields drun does not
    # read (node_id, _links, timestamps) are left out.
    # Not as strict as GitHub: these answers are only what the API says. The
    # sandbox's origin is a local path, and libgit2's local transport runs no
    # receive hooks, so a push the ruleset forbids is not refused at push time
    # here (on GitHub it is, with "GH013: Repository rule violations").
    protect = sb.peek_fault("github-protect")
    ruleset = None
    if protect:
        pb, _, prest = protect.partition(":")
        ptype, _, bypass = prest.partition(":")
        ruleset = {"id": 42, "name": "protect " + pb, "target": "branch", "source_type": "Repository",
                   "source": "%s/%s" % (owner, repo), "enforcement": "active",
                   "conditions": {"ref_name": {"include": ["refs/heads/" + pb], "exclude": []}},
                   "rules": [{"type": ptype or "pull_request"}], "current_user_can_bypass": bypass or "never",
                   "branch": pb}
    m2 = re.match(r"^/rules/branches/(.+)$", rest)
    if m2 and method == "GET":
        if ruleset and ruleset["branch"] == m2.group(1):
            return 200, [{"type": r["type"], "ruleset_source_type": "Repository", "ruleset_source": ruleset["source"],
                          "ruleset_id": ruleset["id"]} for r in ruleset["rules"]]
        return 200, []
    m2 = re.match(r"^/rulesets/(\d+)$", rest)
    if m2 and method == "GET":
        if ruleset and int(m2.group(1)) == ruleset["id"]:
            return 200, {k: v for k, v in ruleset.items() if k != "branch"}
        return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest/repos/rules#get-a-repository-ruleset"}
    classic = sb.peek_fault("github-protect-classic")
    m2 = re.match(r"^/branches/([^/]+)(/protection)?$", rest)
    if m2 and method == "GET":
        name = m2.group(1)
        if m2.group(2):
            if classic == name:  # what a token without admin rights gets
                return 403, {"message": "Resource not accessible by integration",
                             "documentation_url": "https://docs.github.com/rest/branches/branch-protection#get-branch-protection"}
            return 404, {"message": "Branch not protected",
                         "documentation_url": "https://docs.github.com/rest/branches/branch-protection#get-branch-protection"}
        r = subprocess.run(["git", "--git-dir", GIT_DIR, "rev-parse", "--verify", "-q", "refs/heads/" + name],
                           capture_output=True, text=True) if GIT_DIR else None
        if not r or r.returncode != 0:
            return 404, {"message": "Branch not found", "documentation_url": "https://docs.github.com/rest/branches/branches#get-a-branch"}
        return 200, {"name": name, "commit": {"sha": r.stdout.strip()}, "protected": classic == name,
                     "protection": {"enabled": classic == name, "required_status_checks": {"enforcement_level": "off", "contexts": [], "checks": []}},
                     "protection_url": "https://api.github.example/repos/%s/%s/branches/%s/protection" % (owner, repo, name)}
    if rest == "" and method == "GET":
        return 200, {"full_name": "%s/%s" % (owner, repo), "name": repo, "owner": {"login": owner},
                     "default_branch": "main", "permissions": {"admin": False, "push": True, "pull": True}}
    m2 = re.match(r"^/git/ref/(.+)$", rest)
    if m2 and method == "GET" and GIT_DIR:
        r = subprocess.run(["git", "--git-dir", GIT_DIR, "rev-parse", "--verify", "-q", "refs/" + m2.group(1)],
                           capture_output=True, text=True)
        if r.returncode == 0:
            return 200, {"ref": "refs/" + m2.group(1), "object": {"sha": r.stdout.strip(), "type": "commit"}}
    return 404, {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, status, payload, headers=None):
        data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "text/html" if isinstance(payload, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        path, _, query = self.path.partition("?")
        m = re.match(r"^/workers/([^/]+)/(?:([^/]+)/)?(api/health/?|app(?:/.*)?)$", path)  # no env: the top level
        if m:
            name, env = m.group(1), m.group(2) or ""
            url = "https://%s.sandbox.workers.dev/%s" % (name if not env else name + "-" + env, m.group(3))
            headers = {k.lower(): v for k, v in self.headers.items()}
            if m.group(3).startswith("api/health"):
                status, body = worker_health(name, env)
                tail_event(name, env, self.command, url, headers, status, None)
                return self.reply(status, body)
            status, body, exception = worker_app(name, env)
            tail_event(name, env, self.command, url, headers, status, exception)
            return self.reply(status, body)
        m = re.match(r"^/apps/([^/]+)/(health|version)/?$", path)
        if m:
            return self.reply(*app_health(m.group(1), m.group(2), self.headers.get("fly-force-instance-id")))
        m = re.match(r"^/client/v4/accounts/([^/]+)/pages/projects/([^/]+)/?$", path)
        if m:
            return self.reply(*cloudflare(self.command, m.group(1), m.group(2), self.headers.get("Authorization", "")))
        auth = self.headers.get("Authorization", "")
        m = re.match(r"^/client/v4/accounts/([^/]+)/d1/database/?$", path)
        if m:
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                body = None
            return self.reply(*d1api.databases(self.command, m.group(1), auth, body))
        m = re.match(r"^/client/v4/accounts/([^/]+)/d1/database/([^/]+)/query/?$", path)
        if m:
            return self.reply(*d1api.query(self.command, m.group(1), m.group(2), auth, raw))
        if path.startswith("/github/"):
            try:
                body = json.loads(raw) if raw else {}
            except ValueError:
                return self.reply(400, {"message": "Problems parsing JSON"})
            auth = self.headers.get("Authorization", "")
            return self.reply(*github(self.command, path[len("/github"):], query, body, auth.startswith(("token ", "Bearer "))))
        self.reply(404, {"error": "no route " + path})

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
