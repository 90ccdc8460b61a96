#!/usr/bin/env python3
"""static_dir.py PORTFILE DIR: serves DIR over HTTP on 127.0.0.1, as
`python3 -m http.server -d DIR` does (the walkthrough's site), on a free port
written to PORTFILE once it listens. DIR is looked up at each request, so a
symlink switched under it serves the new target at once."""
import functools
import http.server
import os
import sys


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


handler = functools.partial(Quiet, directory=sys.argv[2])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
with open(sys.argv[1] + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
server.serve_forever()
