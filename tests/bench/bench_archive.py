#!/usr/bin/python3
"""The archive's benchmark: requests/s of `digest serve` for /archive/DATE
(one edition's page, from its in-memory cache) over keep-alive connections
from 4 client threads, and the server's RSS after 20,000 requests and again
after 20,000 more (flat: the cache holds one page per edition, nothing per
request). Also /archive.atom and /archive, briefly.

usage: /usr/bin/python3 tests/bench/bench_archive.py [--requests N] [--duration S] [--keep]

Needs ./digest (`make digest`). The load comes from wrk (Debian package
`wrk`, which `make test-deps` installs) when present, and always from a
Python client (4 threads, http.client, one keep-alive connection each),
which is slower than the server: its figure is a floor. Everything runs on
127.0.0.1 in a temporary directory (a sample site of file:// pages, one
subscriber, one edition run into a Maildir); the server is stopped by its
PID at the end.
"""

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIGEST = os.path.join(REPO, "digest")
GEN = os.path.join(REPO, "tests", "fixtures", "gen_site.py")
PORTAL_CONF = os.path.join(REPO, "tests", "fixtures", "portal.conf.in")
THREADS = 4


def die(msg):
    print(f"bench_archive: {msg}", file=sys.stderr)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def python_load(port, path, total):
    """TOTAL GETs of PATH from THREADS threads, one keep-alive connection
    each: (requests/s, failures)."""
    per = total // THREADS
    bad = [0] * THREADS

    def worker(i):
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for _ in range(per):
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            if r.status != 200:
                bad[i] += 1
        c.close()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return per * THREADS / (time.monotonic() - t0), sum(bad)


def wrk_load(port, path, seconds):
    """wrk -t4 -c4 for SECONDS: (requests/s, requests, non-2xx), or None."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None
    out = subprocess.run([wrk, f"-t{THREADS}", f"-c{THREADS}", f"-d{seconds}s",
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=False).stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    n = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if not rps or not n:
        die(f"cannot read wrk's output: {out!r}")
    return float(rps.group(1)), int(n.group(1)), int(non2xx.group(1)) if non2xx else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--duration", type=int, default=10, help="seconds of each wrk run")
    ap.add_argument("--keep", action="store_true")
    opts = ap.parse_args()
    if not os.access(DIGEST, os.X_OK):
        die(f"no {DIGEST}: make digest")
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} "
          f"(shared cores: figures vary with it)")
    tmp = tempfile.mkdtemp(prefix="digest-bench-archive-")
    serve = None
    try:
        site = os.path.join(tmp, "site")
        subprocess.run(["/usr/bin/python3", GEN, site], check=True, stdout=subprocess.DEVNULL)
        port = free_port()
        with open(PORTAL_CONF, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("@BASE@", "file://" + site + "/").replace("@TEMPLATES@", os.path.join(REPO, "templates"))
        text = text.replace('base_url = "http://127.0.0.1:8080/digest";', f'base_url = "http://127.0.0.1:{port}";')
        conf = os.path.join(tmp, "digest.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        for argv in (["subscribe", "bench@example.org", "--confirmed"], ["run"]):
            r = subprocess.run([DIGEST, "-c", conf] + argv, capture_output=True, text=True, check=False)
            if r.returncode != 0:
                die(f"digest {' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
        m = re.search(r"edition (\d{4}-\d\d-\d\d): (\d+) articles?; 1 subscriber: 1 sent", r.stderr)
        if not m:
            die(f"no edition was sent: {r.stderr.strip()}")
        date = m.group(1)
        serve = subprocess.Popen([DIGEST, "-q", "-c", conf, "serve", "--listen", f"127.0.0.1:{port}"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or serve.poll() is not None:
                    die("digest serve did not start")
                time.sleep(0.05)
        path = f"/archive/{date}"
        c = http.client.HTTPConnection("127.0.0.1", port)
        c.request("GET", path)
        r = c.getresponse()
        size = len(r.read())
        c.close()
        if r.status != 200:
            die(f"GET {path}: {r.status}")
        print(f"edition {date}: {m.group(2)} articles, page {size} bytes")
        python_load(port, path, 400)   # warm-up: the page is built and cached
        rss0 = rss_kb(serve.pid)
        rps, bad = python_load(port, path, opts.requests)
        rss1 = rss_kb(serve.pid)
        rps2, bad2 = python_load(port, path, opts.requests)
        rss2 = rss_kb(serve.pid)
        print(f"GET {path}, python client ({THREADS} threads, keep-alive): {rps:,.0f} req/s, then "
              f"{rps2:,.0f} req/s; {bad + bad2} not 200")
        print(f"RSS: {rss0} kB after the warm-up, {rss1} kB after {opts.requests:,} requests, {rss2} kB after "
              f"{2 * opts.requests:,} ({rss2 - rss1:+d} kB in the second {opts.requests:,})")
        for p in (path, "/archive.atom", "/archive"):
            w = wrk_load(port, p, opts.duration if p == path else max(2, opts.duration // 3))
            if w is None:
                print("wrk: not installed (Debian package wrk; `make test-deps`): no wrk figures")
                break
            print(f"GET {p}, wrk -t{THREADS} -c{THREADS} (keep-alive): {w[0]:,.0f} req/s "
                  f"({w[1]:,} requests, {w[2]} not 2xx/3xx)")
        print(f"RSS after everything: {rss_kb(serve.pid)} kB")
    finally:
        if serve and serve.poll() is None:
            os.kill(serve.pid, signal.SIGTERM)
            try:
                serve.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(serve.pid, signal.SIGKILL)
                serve.wait()
        if opts.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
