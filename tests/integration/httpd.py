#!/usr/bin/python3
"""A small HTTP server for digest's integration tests (standard library only).

usage: httpd.py ROOT [--port N] [--slow SECONDS] [--tls PEM] [--verbose]

With --tls PEM (a certificate and its key), it speaks HTTPS.

Serves the files under ROOT on 127.0.0.1 (port 0: a free one) and prints
the port on stdout, alone on one line, once it is listening. Besides files:

  /slow               sleeps --slow seconds (default 8), then answers 200
  /500, /404          those statuses, with a small HTML body
  /huge               200 text/html, 16 MiB streamed without Content-Length
  /huge-cl            the same with a Content-Length header
  /garbage.html       200 text/html, 64 KiB of random bytes (fixed seed)
  /malformed.xml      200 application/rss+xml, broken XML
  /delay/<ms>/<path>  the file <path> under ROOT, after <ms> milliseconds
  /charset/<cs>/<path> the file <path>, with Content-Type "...; charset=<cs>"
  /redirect/<path>    302 to /<path>
  /gzip/<path>        the file <path>, gzip-compressed, when the request accepts gzip
  /ua.html            a one-item listing whose title is the request's User-Agent
  /stats              JSON: {"delayed": requests seen under /delay/, "max_concurrent":
                      the most of them in flight at once}; /stats?reset=1 zeroes it

Files are sent with a Content-Type but no charset, so that a page's own
<meta> declaration decides. Stop it with SIGTERM.
"""

import argparse
import gzip
import http.server
import os
import random
import json
import signal
import ssl
import sys
import threading
import time
import urllib.parse

MALFORMED_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0">
<channel>
  <title>Broken feed</titel>
  <item>
    <title>Broken & unescaped <b>item</title>
    <link>http://127.0.0.1:9/never
  </item>
  <item><title>Second
</chanel>
"""


class Stats:
    lock = threading.Lock()
    delayed = 0
    in_flight = 0
    max_concurrent = 0

    @classmethod
    def enter(cls):
        with cls.lock:
            cls.delayed += 1
            cls.in_flight += 1
            cls.max_concurrent = max(cls.max_concurrent, cls.in_flight)

    @classmethod
    def leave(cls):
        with cls.lock:
            cls.in_flight -= 1


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    slow_seconds = 8.0
    verbose = False
    extensions_map = dict(http.server.SimpleHTTPRequestHandler.extensions_map)
    extensions_map.update({".html": "text/html", ".xml": "application/xml",
                           ".jpg": "image/jpeg", "": "application/octet-stream"})

    def log_message(self, fmt, *args):
        if self.verbose:
            sys.stderr.write("httpd: " + (fmt % args) + "\n")

    def small(self, status, body, ctype="text/html; charset=utf-8"):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def stream(self, total, content_length):
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        if content_length:
            self.send_header("Content-Length", str(total))
        self.end_headers()
        chunk = (b"<p>" + b"x" * 1020 + b"</p>\n") * 64
        sent = 0
        try:
            while sent < total:
                n = min(len(chunk), total - sent)
                self.wfile.write(chunk[:n])
                sent += n
        except (BrokenPipeError, ConnectionResetError):
            pass

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        try:
            if path == "/slow":
                time.sleep(self.slow_seconds)
                return self.small(200, "<html><body><p>finally</p></body></html>")
            if path == "/500":
                return self.small(500, "<html><body><h1>Internal Server Error</h1></body></html>")
            if path == "/404":
                return self.small(404, "<html><body><h1>Not Found</h1></body></html>")
            if path == "/huge":
                return self.stream(16 << 20, False)
            if path == "/huge-cl":
                return self.stream(16 << 20, True)
            if path == "/garbage.html":
                return self.small(200, random.Random(1234).randbytes(64 << 10), "text/html")
            if path == "/malformed.xml":
                return self.small(200, MALFORMED_XML, "application/rss+xml")
            parts = path.split("/")
            if path == "/stats":
                with Stats.lock:
                    body = json.dumps(dict(delayed=Stats.delayed, max_concurrent=Stats.max_concurrent))
                    if "reset" in self.path:
                        Stats.delayed = Stats.max_concurrent = 0
                return self.small(200, body, "application/json")
            if len(parts) > 3 and parts[1] == "delay" and parts[2].isdigit():
                Stats.enter()
                try:
                    time.sleep(int(parts[2]) / 1000.0)
                finally:
                    Stats.leave()
                self.path = "/" + "/".join(parts[3:])
                return super().do_GET()
            if len(parts) > 3 and parts[1] == "charset":
                self.forced_charset = parts[2]
                self.path = "/" + "/".join(parts[3:])
                return super().do_GET()
            if path == "/ua.html":
                ua = self.headers.get("User-Agent", "(none)").replace("<", "&lt;")
                return self.small(200, f"<html><body><ul><li><a href='/ua'>{ua}</a></li></ul></body></html>")
            if len(parts) > 2 and parts[1] == "gzip":
                if "gzip" not in self.headers.get("Accept-Encoding", ""):
                    return self.small(406, "<html><body>gzip only</body></html>")
                file = os.path.join(self.directory, *parts[2:])
                try:
                    with open(file, "rb") as f:
                        data = gzip.compress(f.read())
                except OSError:
                    return self.small(404, "<html><body><h1>Not Found</h1></body></html>")
                self.send_response(200)
                self.send_header("Content-Type", self.guess_type(file))
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return None
            if len(parts) > 2 and parts[1] == "redirect":
                self.send_response(302)
                self.send_header("Location", "/" + "/".join(parts[2:]))
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            return super().do_GET()
        except (BrokenPipeError, ConnectionResetError):
            return None

    def guess_type(self, path):
        ctype = super().guess_type(path)
        cs = getattr(self, "forced_charset", None)
        return f"{ctype}; charset={cs}" if cs else ctype


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if Handler.verbose:
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("root")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--slow", type=float, default=8.0, help="seconds /slow waits")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--tls", help="PEM file with a certificate and its key: serve HTTPS")
    args = ap.parse_args()
    Handler.slow_seconds = args.slow
    Handler.verbose = args.verbose
    root = os.path.realpath(args.root)

    def handler(*a, **kw):
        return Handler(*a, directory=root, **kw)

    srv = Server(("127.0.0.1", args.port), handler)
    if args.tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        srv.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
