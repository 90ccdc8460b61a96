"""docker build, push and login, as the sandbox plays them (bin/docker hands
these over). An image is a record, not a filesystem: its id is the hash of
the build context's files, the Dockerfile and the labels, so a rebuild of the
same commit gives the same image. A push puts it in the sandbox registry
(state/registry.json, which bin/fly deploys from) under the repository the
reference names.

  docker build [-t REF]... [--label K=V]... [-f DOCKERFILE] [-q] CONTEXT
      BuildKit's progress goes to stderr; stdout is empty (with -q: the
      image id). A missing Dockerfile fails as buildx does:
      "ERROR: failed to build: failed to solve: failed to read dockerfile:
      open Dockerfile: no such file or directory" (exit 1).
  docker push REF
      docker/cli cli/command/image/push.go prints the daemon's progress; the
      last line is moby's distribution/push_v2.go
      "<tag>: digest: sha256:<hex> size: <n>". Without credentials for the
      registry host (DOCKER_CONFIG/config.json auths, written by docker
      login) the registry answers "unauthorized: authentication required"
      (distribution registry/api/errcode ErrorCodeUnauthorized), exit 1.
      A reference never built: "An image does not exist locally with the
      tag: REF".
  docker login --username U --password-stdin HOST
      stores base64("U:PASSWORD") under auths[HOST] in DOCKER_CONFIG/config.json
      (docker/cli cli/config/configfile/file.go), prints "Login Succeeded".

Faults: build:<repository>=fail (the Dockerfile's RUN step fails),
push:<repository>=fail (the registry refuses the upload)."""
import base64
import hashlib
import json
import os
import re
import sys

import sandbox as sb


def die(msg, code=1):
    sb.die(msg, code)


def docker_config():
    d = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return d, os.path.join(d, "config.json")


# distribution/reference regexp.go: [domain[:port]/]path[:tag], path
# components lowercase alphanumerics joined by ".", "_", "__" or dashes
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"
REFERENCE = re.compile(r"(?:%s/)?%s(?:/%s)*(?::[\w][\w.-]{0,127})?" % (_DOMAIN, _COMPONENT, _COMPONENT))


def split_ref(ref):
    """registry.fly.io/app-development:tag -> (registry.fly.io, app-development, tag)"""
    host, _, path = ref.partition("/")
    if not path or "." not in host and ":" not in host and host != "localhost":
        host, path = "docker.io", ref
    repo, _, tag = path.rpartition(":") if ":" in path.split("/")[-1] else (path, "", "latest")
    return host, repo, tag or "latest"


def context_hash(context, dockerfile, labels):
    h = hashlib.sha256()
    for root, dirs, files in os.walk(context):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            p = os.path.join(root, name)
            h.update(os.path.relpath(p, context).encode())
            with open(p, "rb") as f:
                h.update(f.read())
    with open(dockerfile, "rb") as f:
        h.update(f.read())
    h.update(json.dumps(labels, sort_keys=True).encode())
    return "sha256:" + h.hexdigest()


def build(args):
    tags, labels, dockerfile, quiet, context = [], {}, None, False, None
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-t", "--tag") and i + 1 < len(args):
            tags.append(args[i + 1]); i += 2
        elif a == "--label" and i + 1 < len(args):
            k, _, v = args[i + 1].partition("=")
            labels[k] = v; i += 2
        elif a in ("-f", "--file") and i + 1 < len(args):
            dockerfile = args[i + 1]; i += 2
        elif a in ("-q", "--quiet"):
            quiet = True; i += 1
        elif a.startswith("-"):
            die("unknown flag: %s\nSee 'docker buildx build --help'." % a)
        elif context is None:
            context = a; i += 1
        else:
            die('ERROR: "docker buildx build" requires exactly 1 argument.')
    if context is None:
        die('ERROR: "docker buildx build" requires exactly 1 argument.')
    dockerfile = os.path.join(context, dockerfile or "Dockerfile") if not (dockerfile or "").startswith("/") else dockerfile
    if not os.path.isfile(dockerfile):
        die("ERROR: failed to build: failed to solve: failed to read dockerfile: open %s: no such file or directory"
            % os.path.basename(dockerfile))
    for t in tags:
        if not REFERENCE.fullmatch(t):
            die('ERROR: invalid tag "%s": invalid reference format' % t)  # buildx: invalid tag %q: %s
    print("#0 building with \"default\" instance using docker driver", file=sys.stderr)
    print("#1 [internal] load build definition from %s" % os.path.basename(dockerfile), file=sys.stderr)
    for t in tags:
        if sb.take_fault("build:%s" % split_ref(t)[1]):
            print("#5 ERROR: process \"/bin/sh -c make\" did not complete successfully: exit code: 2", file=sys.stderr)
            die("ERROR: failed to build: failed to solve: process \"/bin/sh -c make\" did not complete successfully: exit code: 2")
    image_id = context_hash(context, dockerfile, labels)
    with sb.locked():
        images = sb.load("docker-images", {})
        for t in tags:
            images[t] = {"id": image_id, "labels": labels}
        sb.save("docker-images", images)
    print("#9 exporting to image\n#9 writing image %s done" % image_id, file=sys.stderr)
    for t in tags:
        print("#9 naming to %s done" % (t if "/" in t else "docker.io/library/" + t), file=sys.stderr)
    if quiet:
        print(image_id)


def authorized(host):
    _, path = docker_config()
    try:
        with open(path) as f:
            auths = json.load(f).get("auths", {})
    except (OSError, ValueError):
        return False
    return bool(auths.get(host, {}).get("auth"))


def push(args):
    if len(args) != 1 or args[0].startswith("-"):
        die('"docker push" requires exactly 1 argument.\nSee \'docker push --help\'.')
    ref = args[0]
    img = sb.load("docker-images", {}).get(ref)
    if not img:
        die("An image does not exist locally with the tag: %s" % ref.rsplit(":", 1)[0])
    host, repo, tag = split_ref(ref)
    print("The push refers to repository [%s/%s]" % (host, repo))
    if not authorized(host):
        die("unauthorized: authentication required")
    if sb.take_fault("push:%s" % repo):
        die("blob upload unknown: blob upload unknown to registry")
    manifest = json.dumps({"schemaVersion": 2, "config": img["id"], "labels": img["labels"]}, sort_keys=True)
    digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
    print("%s: Pushed" % img["id"][7:19])
    with sb.locked():
        reg = sb.load("registry", {})
        reg[digest] = {"registry": host, "repository": repo, "tag": tag, "labels": img["labels"]}
        sb.save("registry", reg)
    print("%s: digest: %s size: %d" % (tag, digest, len(manifest)))


def login(args):
    user, stdin_pw, host = None, False, None
    for a in args:
        if a.startswith("--username="):
            user = a.split("=", 1)[1]
        elif a == "--password-stdin":
            stdin_pw = True
        elif not a.startswith("-"):
            host = a
    if not (user and stdin_pw and host):
        die("docker login (sandbox): --username=U --password-stdin HOST")
    password = sys.stdin.read().strip()
    if not password:
        die("Error: Cannot perform an interactive login from a non TTY device")
    d, path = docker_config()
    os.makedirs(d, mode=0o700, exist_ok=True)
    try:
        with open(path) as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        cfg = {}
    cfg.setdefault("auths", {})[host] = {"auth": base64.b64encode(("%s:%s" % (user, password)).encode()).decode()}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f, indent="\t")
    print("Login Succeeded")
