"""Shared by the sandbox's stand-ins: where the state lives, reading and
writing it safely from several processes, the call log, and faults.

State is JSON under $SANDBOX_DIR/state; every stand-in invocation is
appended to $SANDBOX_DIR/calls.jsonl so tests can assert on order (MCP
deployed before CMS). Faults are set by tests/sandbox/fault and consumed by
the stand-in or server they target.
"""
import contextlib
import fcntl
import json
import os
import re
import sys
import threading
import time
import uuid

DIR = os.environ.get("SANDBOX_DIR")


def die(msg, code=1):
    sys.stderr.write(msg.rstrip("\n") + "\n")
    sys.exit(code)


if not DIR:
    die("sandbox: SANDBOX_DIR is not set (source the output of tests/sandbox/start)")

STATE = os.path.join(DIR, "state")


_held = threading.local()  # per thread: the server is threaded


@contextlib.contextmanager
def locked():
    """Serialises state changes across stand-ins and the server. Re-entrant:
    a second flock on a new descriptor of the same file would wait forever."""
    if getattr(_held, "depth", 0):
        _held.depth += 1
        try:
            yield
        finally:
            _held.depth -= 1
        return
    os.makedirs(STATE, exist_ok=True)
    with open(os.path.join(STATE, ".lock"), "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0


def load(name, default):
    try:
        with open(os.path.join(STATE, name + ".json")) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def save(name, value):
    path = os.path.join(STATE, name + ".json")
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


def log_call(tool, argv, **extra):
    entry = {"time": time.time(), "tool": tool, "argv": argv, "cwd": os.getcwd()}
    entry.update(extra)
    with locked(), open(os.path.join(DIR, "calls.jsonl"), "a") as f:
        f.write(json.dumps(entry) + "\n")


def take_fault(*names):
    """The first fault set under any of these names, consumed unless it was
    set as sticky ("always:" prefix). None when there is none."""
    with locked():
        faults = load("faults", {})
        for name in names:
            if name in faults:
                value = faults[name]
                if not str(value).startswith("always:"):
                    del faults[name]
                    save("faults", faults)
                return str(value).replace("always:", "", 1)
    return None


def peek_fault(*names):
    faults = load("faults", {})
    for name in names:
        if name in faults:
            return str(faults[name]).replace("always:", "", 1)
    return None


def new_id():
    return str(uuid.uuid4())


def now_iso():
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + ".%06dZ" % (int(time.time() * 1e6) % 1000000)


def read_jsonc(path):
    """wrangler.jsonc: JSON with // and /* */ comments and trailing commas."""
    text = open(path).read()
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            i = text.find("*/", i) + 2
        else:
            out.append(c)
            i += 1
    return json.loads(re.sub(r",(\s*[}\]])", r"\1", "".join(out)))
