"""Integration tests of fetching: where links found on pages may lead
(fetch.private_addresses) when connections are kept alive.

The suite's httpd.py speaks HTTP/1.0 and closes every connection; these
tests run their own HTTP/1.1 server on 127.0.0.1 that keeps connections
open and logs every request with the number of the connection it came on,
so a test sees exactly which pages reached the server, and that libcurl
did reuse a connection.

A mixin of run.py's Suite: it uses the Suite's helpers (conf(), collect(),
testdir()) and run.py imports this file once its check() is defined.
"""

import datetime as dt
import http.server
import os
import sqlite3
import threading
from zoneinfo import ZoneInfo

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import check
else:  # run.py imported as the module `run`
    from run import check


def short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "…"


class KeepAliveServer:
    """HTTP/1.1 on 127.0.0.1 (a free port), in a thread. PAGES maps a path
    to an HTML body, or to ("redirect", LOCATION). self.log lists
    (connection number, path) for every request, in order."""

    def __init__(self, pages):
        self.pages = pages
        self.log = []
        self.lock = threading.Lock()
        self.conns = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt, *args):
                pass

            def setup(self):
                super().setup()
                with outer.lock:
                    outer.conns += 1
                    self.conn_no = outer.conns

            def do_GET(self):
                with outer.lock:
                    outer.log.append((self.conn_no, self.path))
                page = outer.pages.get(self.path)
                if isinstance(page, tuple):
                    self.send_response(302)
                    self.send_header("Location", page[1])
                    data = b""
                elif page is None:
                    self.send_response(404)
                    data = b"<html><body>not here</body></html>"
                else:
                    self.send_response(200)
                    data = page.encode("utf-8")
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        self.port = self.srv.server_address[1]
        self.root = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.srv.serve_forever, kwargs=dict(poll_interval=0.1),
                                       daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.srv.shutdown()
        self.srv.server_close()
        self.thread.join(5)

    def paths(self):
        with self.lock:
            return [p for _, p in self.log]


class FetchTests:
    def kept_alive_site(self):
        """A listing whose links all stay on its own host and port: two
        items whose views and summaries are only on their article pages
        (one reached through a redirect), and a `next` page with a third."""
        now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
        when = [(now - dt.timedelta(minutes=10 * i)).isoformat() for i in range(4)]

        def article(i):
            return (f"<html><body><h1>Kept {i}</h1><span class='v'>{i * 100}</span>"
                    f"<p class='s'>INTRANET-SECRET-{i}</p></body></html>")

        return {
            "/list.html": ("<html><body><ul>"
                           f"<li><a href='/a1.html'>Kept 1</a><time>{when[1]}</time></li>"
                           f"<li><a href='/r/a2.html'>Kept 2</a><time>{when[2]}</time></li>"
                           "</ul><a rel='next' href='/p2.html'>next</a></body></html>"),
            "/p2.html": ("<html><body><ul>"
                         f"<li><a href='/a3.html'>Kept 3 INTRANET-NEXT-PAGE</a><time>{when[3]}</time></li>"
                         "</ul></body></html>"),
            "/a1.html": article(1),
            "/r/a2.html": ("redirect", "/a2.html"),
            "/a2.html": article(2),
            "/a3.html": article(3),
        }

    def kept_alive_conf(self, d, root, mode):
        # per_host = 1: one transfer at a time to the server, each after the
        # one before has left its connection open for the next to reuse
        return self.conf(d, text=f"""
newsletter = {{ timezone = "Europe/Moscow"; }};
fetch = {{ timeout = 10; parallel = 4; per_host = 1; private_addresses = "{mode}"; }};
sources = ( {{ name = "intranet"; url = "{root}/list.html"; item = "//li"; published = "time";
               next = "//a[@rel='next']/@href"; max_pages = 2; follow = true;
               article = {{ views = "//span[@class='v']"; summary = "//p[@class='s']"; }}; }} );
""")

    def stored(self, d):
        con = sqlite3.connect(os.path.join(d, "var", "digest.db"))
        try:
            return con.execute("SELECT url, title, coalesce(summary, ''), coalesce(views, -1)"
                               " FROM articles ORDER BY url").fetchall()
        finally:
            con.close()

    def t_private_deny_over_kept_alive_connection(self):
        """private_addresses = "deny": the configured listing on 127.0.0.1 is
        read, but no link found on it (article pages, a redirect, the `next`
        page) reaches 127.0.0.1, not even over the connection the listing
        left open. Nothing of those pages is stored or printed, and each
        refusal is one line naming the URL and the address."""
        with KeepAliveServer(self.kept_alive_site()) as srv:
            d = self.testdir("deny-kept-alive")
            r = self.collect(self.kept_alive_conf(d, srv.root, "deny"), "--all")
            paths = srv.paths()
        check(paths == ["/list.html"], f"the server saw {paths}, want only the configured /list.html")
        check(sorted(r.titles()) == ["Kept 1", "Kept 2"], f"titles: {r.titles()}")
        check(all(x["views"] == "-" for x in r.rows()), f"article pages were read: {r.rows()}")
        check("INTRANET" not in r.out, f"text from a refused page in the output: {short(r.out)}")
        rows = self.stored(d)
        check(len(rows) == 2, f"stored: {rows}")
        leaked = [row for row in rows if any("INTRANET" in str(v) for v in row) or row[3] != -1]
        check(not leaked, f"text of a refused page stored: {leaked}")
        for path in ("/a1.html", "/r/a2.html", "/p2.html"):
            url = srv.root + path
            lines = [ln for ln in r.err_lines if url in ln]
            check(len(lines) == 1 and "127.0.0.1" in lines[0].replace(url, "") and "private" in lines[0],
                  f"want one line refusing {url} naming the address 127.0.0.1: {short(r.err)}")

    def t_private_auto_intranet_kept_alive(self):
        """private_addresses = "auto": a listing served from 127.0.0.1 may
        link within the local network; its article pages, its redirect and
        its `next` page are read, over the kept-alive connection."""
        with KeepAliveServer(self.kept_alive_site()) as srv:
            d = self.testdir("auto-kept-alive")
            r = self.collect(self.kept_alive_conf(d, srv.root, "auto"), "--all")
            log = list(srv.log)
        paths = sorted(p for _, p in log)
        want = sorted(["/list.html", "/p2.html", "/a1.html", "/r/a2.html", "/a2.html", "/a3.html"])
        check(paths == want, f"the server saw {paths}, want {want}")
        check(len({c for c, _ in log}) < len(log), f"no connection was reused: {log}")
        check(sorted(r.titles()) == ["Kept 1", "Kept 2", "Kept 3 INTRANET-NEXT-PAGE"], f"titles: {r.titles()}")
        rows = self.stored(d)
        got = sorted((row[1], row[2], row[3]) for row in rows)
        want = [("Kept 1", "INTRANET-SECRET-1", 100), ("Kept 2", "INTRANET-SECRET-2", 200),
                ("Kept 3 INTRANET-NEXT-PAGE", "INTRANET-SECRET-3", 300)]
        check(got == want, f"stored {got}, want {want}")

    def t_utm_escaped_one_article(self):
        """Two items whose links differ only by a utm_ tag written with an
        escape (utm%5Fsource, %75tm_medium) are one article: the tag is
        dropped after the escapes of unreserved characters are decoded."""
        root = os.path.join(self.www, "utm-escaped")
        os.makedirs(root, exist_ok=True)
        now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
        links = ["/utm-escaped/story.html?id=7", "/utm-escaped/story.html?utm%5Fsource=tg&id=7",
                 "/utm-escaped/story.html?%75tm_medium=mail&%69d=7#top"]
        items = "".join(f"<li><a href='{href}'>Story seen {i + 1}</a>"
                        f"<time>{(now - dt.timedelta(minutes=5 + i)).isoformat()}</time></li>"
                        for i, href in enumerate(links))
        with open(os.path.join(root, "index.html"), "w", encoding="utf-8") as f:
            f.write(f"<html><body><ul>{items}</ul></body></html>")
        d = self.testdir("utm-escaped")
        conf = self.conf(d, text=f"""
newsletter = {{ timezone = "Europe/Moscow"; }};
sources = ( {{ name = "utm"; url = "{self.root}utm-escaped/index.html"; item = "//li"; published = "time"; }} );
""")
        r = self.collect(conf, "--all")
        check(r.titles() == ["Story seen 1"], f"one story, one article: titles {r.titles()}")
        rows = self.stored(d)
        want = f"{self.root}utm-escaped/story.html?id=7"
        check([row[0] for row in rows] == [want], f"stored URLs {[row[0] for row in rows]}, want [{want}]")
