#!/usr/bin/env python3
"""bench/serve's client: N sequential GETs of one URL on one kept-alive
connection; prints the median and 99th percentile in ms and requests/s.
The same client times drun and the baseline.

    client.py URL N"""
import http.client
import sys
import time
from urllib.parse import urlparse

url, n = urlparse(sys.argv[1]), int(sys.argv[2])
conn = http.client.HTTPConnection(url.hostname, url.port, timeout=30)
path = url.path + ("?" + url.query if url.query else "")
times = []
start = time.perf_counter()
for _ in range(n):
    t0 = time.perf_counter()
    conn.request("GET", path)
    r = conn.getresponse()
    body = r.read()
    assert r.status == 200, (r.status, body[:200])
    times.append((time.perf_counter() - t0) * 1000)
total = time.perf_counter() - start
times.sort()
print("%.3f %.3f %.0f" % (times[len(times) // 2], times[min(len(times) - 1, int(len(times) * 0.99))], n / total))
