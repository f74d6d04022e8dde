"""Integration tests of the archive (SPEC "Archive"): `digest serve`'s
/archive, /archive/YYYY-MM-DD and /archive.atom, and `digest archive -o DIR`.

A mixin of run.py's Suite. One fixture, made once: a database where three
editions were really run (the portal site, `run --date` into a Maildir, to
active subscribers with names), one edition frozen and never sent and one
whose only delivery was deferred; the read-only tests share it. The feed is
read by Debian's python3-feedparser (the tests skip without it; `make test`
installs it) and checked for RFC 4287's required elements; the pages are
opened in chromium through cdp.py at 1280 and 375 px, their screenshots
written into the test's directory (paths printed); the static copy is
served by `python3 -m http.server` and compared with serve's answers.
"""

import datetime as dt
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time
import urllib.parse
import xml.etree.ElementTree as ET

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import Fail, Skip, check
else:  # run.py imported as the module `run`
    from run import Fail, Skip, check

from job_tests import free_port, html_links, html_text, parse_eml, short  # noqa: E402
from serve_tests import PORTAL_BASE_URL, request  # noqa: E402

ATOM = "{http://www.w3.org/2005/Atom}"
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
NAME = "VPK Daily (test)"          # portal.conf.in's newsletter.name
NEVER_SENT = "2020-05-05"          # frozen, no delivery
DEFERRED = "2020-05-06"            # frozen, its one delivery deferred
# Malformed: 400. (What MHD decodes is decoded first: %2F is a "/".)
MALFORMED = ["/archive/2026-13-01", "/archive/2026-02-30", "/archive/2025-02-29", "/archive/26-01-01",
             "/archive/2026-1-1", "/archive/2026-01-01x", "/archive/x", "/archive/1969-12-31",
             "/archive/2026-01-01/extra", "/archive/%2E%2E%2F%2E%2E%2Fetc", "/archive/2026%2D01%2D01x",
             "/archive/page/0", "/archive/page/01", "/archive/page/-1", "/archive/page/x",
             "/archive/page/1000000", "/archive/page/", "/archive?page=abc", "/archive?page=0",
             "/archive?page=-1", "/archive?page=1e3", "/archive?page=99999999999999999999",
             "/archive?page=%D9%A3", "/archive?page=", "/archive?page=%201",
             "/archive/" + "9" * 300, "/archive/%D9%A2%D9%A0%D9%A2%D9%A6-01-01"]
# libmicrohttpd decodes the path before digest sees it, and a %00 ends it
# there: these are whatever the path before it is, never a failure.
CUT = ["/archive/%00", "/archive/2026-01-01%00x", "/archive%00.atom", "/archive/page/%00"]


def sec_headers(r, cache_public=True):
    """The archive's answers carry serve's security headers, and may be
    kept by shared caches (nothing personal in them)."""
    csp = r.header("Content-Security-Policy") or ""
    check("default-src 'none'" in csp, f"{r.what}: CSP {csp!r} lacks default-src 'none'")
    check(not re.search(r"script-src(?!\S*\s+'none')", csp), f"{r.what}: the CSP allows scripts: {csp!r}")
    check("frame-ancestors 'none'" in csp, f"{r.what}: CSP {csp!r} lacks frame-ancestors 'none'")
    check((r.header("X-Content-Type-Options") or "").lower() == "nosniff", f"{r.what}: no nosniff")
    check((r.header("Referrer-Policy") or "").lower() == "no-referrer", f"{r.what}: Referrer-Policy")
    check((r.header("X-Frame-Options") or "").upper() == "DENY", f"{r.what}: X-Frame-Options")
    if cache_public:
        cc = r.header("Cache-Control") or ""
        check("public" in cc and "no-store" not in cc, f"{r.what}: Cache-Control {cc!r}, want public")
        check(re.match(r'^"[0-9a-f]{16}"$', r.header("ETag") or ""), f"{r.what}: ETag {r.header('ETag')!r}")
        lm = r.header("Last-Modified") or ""
        check(re.match(r"^[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT$", lm),
              f"{r.what}: Last-Modified {lm!r}")


def wait_port(port, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise Fail(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


class ArchiveTests:
    # ------------------------------------------------------------ the fixture
    def archive_fixture(self):
        """(d, conf, port, base, info): three editions run into a Maildir;
        INFO: dates (newest first), per date its messages' article links,
        "view in browser" links (text and HTML), and the personal strings of
        the database and the messages (addresses, names, nonces, tokens)."""
        if getattr(self, "_archive", None):
            return self._archive
        d = self.testdir("archive")
        port = free_port()
        base = f"http://127.0.0.1:{port}/digest"
        conf = self.job_conf(d, transport="maildir", digest="send_empty = true;",
                             subs_extra=[(PORTAL_BASE_URL, f'base_url = "{base}";')])
        self.add_subscribers(d, conf, n=3, prefix="arch", csv_rows=[
            ("waiting.reader@example.net", "Ждущий Читатель", "pending"),
            ("left.reader@example.net", "Ушедший Читатель", "unsubscribed")])
        today = self.today()
        dates = [(today - dt.timedelta(days=k)).isoformat() for k in (2, 1, 0)]
        for date in dates:
            self.run_job(conf, "--date", date)
        outbox = os.path.join(d, "var", "outbox", "new")
        info = {"dates": dates[::-1], "links": {}, "browser_text": {}, "browser_html": {}, "personal": set()}
        for fn in sorted(os.listdir(outbox)):
            with open(os.path.join(outbox, fn), "rb") as f:
                msg = parse_eml(f.read())
            m = re.match(r"<digest\.(\d{4}-\d\d-\d\d)\.", str(msg["Message-ID"]))
            check(m, f"{fn}: Message-ID {msg['Message-ID']!r}")
            date = m.group(1)
            info["links"].setdefault(date, self.selection(msg))
            text, doc = [p.get_content() for p in msg.iter_parts()][:2]
            tm = re.search(r"^(?:Открыть в браузере|View in browser): (\S+)$", text, re.M)
            info["browser_text"].setdefault(date, set()).add(tm.group(1) if tm else None)
            info["browser_html"].setdefault(date, set()).update(
                h for h in html_links(doc) if "/archive/" in h)
            for h in html_links(doc) + re.findall(r"<([^<>]+)>", str(msg["List-Unsubscribe"] or "")):
                q = urllib.parse.parse_qs(urllib.parse.urlparse(h).query)
                info["personal"].update(q.get("t", []))
        con = sqlite3.connect(self.db(d), timeout=10)
        try:
            for email, name, nonce in con.execute("SELECT email, name, nonce FROM subscribers"):
                info["personal"].update(x for x in (email, name, nonce) if x)
            sid = con.execute("SELECT min(id) FROM subscribers WHERE status = 'active'").fetchone()[0]
            for date in (NEVER_SENT, DEFERRED):
                con.execute("INSERT INTO editions (date, built_at, window_from, window_to) VALUES (?, 1588636800,"
                            " 1588550400, 1588636800)", (date,))
            con.execute("INSERT INTO deliveries (edition, subscriber_id, state, attempts, reply, updated_at)"
                        " VALUES (?, ?, 'deferred', 1, '451 later', 1588636800)", (DEFERRED, sid))
            con.commit()
        finally:
            con.close()
        check(sorted(info["links"]) == sorted(dates), f"messages of editions {sorted(info['links'])}, "
              f"want {sorted(dates)}")
        check(len(info["personal"]) >= 3 * 5, f"test bug: personal strings {len(info['personal'])}")
        self._archive = (d, conf, port, base, info)
        return self._archive

    def check_nothing_personal(self, what, body, info):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        leaked = sorted(p for p in info["personal"] if p and p in text)
        check(not leaked, f"{what}: personal data of the test database: {leaked[:5]}")

    @staticmethod
    def page_article_links(doc):
        """The edition page's article links, in order, each once (the
        archive's own links are root-relative)."""
        return tuple(dict.fromkeys(h for h in html_links(doc) if not h.startswith("/")))

    # ------------------------------------------------------------ the routes
    def t_archive_serve(self):
        """/archive, /archive/DATE and /archive.atom, bare and under /digest:
        200 with serve's security headers, public caching, ETag and
        Last-Modified; the index lists the sent editions newest first (not
        the frozen-but-unsent ones); each edition's page has the articles
        the readers got, in their order, and a subscribe form; the mails'
        "view in browser" links (text and HTML) lead to it; HEAD is the
        same without a body; If-None-Match and If-Modified-Since give 304
        (a stale tag 200); an unknown date, a frozen edition never sent,
        one only deferred and a page past the last 404; malformed dates and
        pages 400; POST 405; nothing personal anywhere; the subscribe page
        links the feed."""
        d, conf, port, base, info = self.archive_fixture()
        with self.serve(conf, port):
            for root in ("", "/digest"):
                r = request(port, "GET", f"{root}/archive")
                check(r.status == 200, r.show())
                sec_headers(r)
                check((r.header("Content-Type") or "").replace(" ", "") == "text/html;charset=utf-8",
                      f"{r.what}: Content-Type {r.header('Content-Type')!r}")
                listed = re.findall(r'href="' + re.escape(root) + r'/archive/(\d{4}-\d\d-\d\d)"', r.text)
                check(listed == info["dates"], f"{r.what}: lists {listed}, want {info['dates']} (newest first)")
                check(f'type="application/atom+xml"' in r.text and f'href="{root}/archive.atom"' in r.text,
                      f"{r.what}: no <link rel=alternate> to {root}/archive.atom")
                self.check_nothing_personal(r.what, r.body, info)
                for date in info["dates"]:
                    r = request(port, "GET", f"{root}/archive/{date}")
                    check(r.status == 200, r.show())
                    sec_headers(r)
                    got = self.page_article_links(r.text)
                    check(got == info["links"][date], f"{r.what}: article links {got}, the mail had "
                          f"{info['links'][date]}")
                    check(f'action="{root}/subscribe"' in r.text and 'name="email"' in r.text,
                          f"{r.what}: no subscribe form posting to {root}/subscribe")
                    check("unsubscribe" not in r.text.lower(), f"{r.what}: an unsubscribe link")
                    check(f'href="{root}/archive.atom"' in r.text, f"{r.what}: no link to the feed")
                    self.check_nothing_personal(r.what, r.body, info)
                    # a trailing "/" is the same page (the static copy's shape)
                    r2 = request(port, "GET", f"{root}/archive/{date}/")
                    check(r2.status == 200 and r2.body == r.body, f"{r2.what}: {r2.status}, not the same page")
                r = request(port, "GET", f"{root}/archive.atom")
                check(r.status == 200, r.show())
                sec_headers(r)
                check((r.header("Content-Type") or "").startswith("application/atom+xml"),
                      f"{r.what}: Content-Type {r.header('Content-Type')!r}")
                self.check_nothing_personal(r.what, r.body, info)
            # "view in browser" in every message, text and HTML, to its page
            for date in info["dates"]:
                want = {f"{base}/archive/{date}"}
                check(info["browser_text"][date] == want, f"edition {date}: the text parts' view-in-browser "
                      f"links {info['browser_text'][date]}, want {want}")
                check(info["browser_html"][date] == want, f"edition {date}: the HTML parts' archive links "
                      f"{info['browser_html'][date]}, want {want}")
                path = urllib.parse.urlparse(next(iter(want))).path
                r = request(port, "GET", path)
                check(r.status == 200, f"the view-in-browser link: {r.show()}")
            # the subscribe page names the feed
            r = request(port, "GET", "/digest/")
            check('rel="alternate" type="application/atom+xml"' in r.text and 'href="/digest/archive.atom"' in r.text,
                  "the subscribe page has no <link rel=alternate> to the feed")
            # HEAD and conditional GETs
            for path in ("/archive", f"/archive/{info['dates'][0]}", "/archive.atom"):
                g = request(port, "GET", path)
                h = request(port, "HEAD", path)
                check(h.status == 200 and h.body == b"", f"{h.what}: {h.status}, {len(h.body)} body bytes")
                for k in ("ETag", "Last-Modified", "Content-Type", "Cache-Control", "Content-Security-Policy"):
                    check(h.header(k) == g.header(k), f"{h.what}: {k} {h.header(k)!r}, GET has {g.header(k)!r}")
                check(h.header("Content-Length") == str(len(g.body)), f"{h.what}: Content-Length "
                      f"{h.header('Content-Length')}, GET sent {len(g.body)} bytes")
                etag, lm = g.header("ETag"), g.header("Last-Modified")
                for hdrs in ({"If-None-Match": etag}, {"If-None-Match": f'"x", W/{etag}'}, {"If-None-Match": "*"},
                             {"If-Modified-Since": lm}):
                    for method in ("GET", "HEAD"):
                        r = request(port, method, path, headers=hdrs)
                        check(r.status == 304, f"{r.what} {hdrs}: {r.status}, want 304")
                        check(r.body == b"", f"{r.what} {hdrs}: 304 with a body")
                        check(r.header("ETag") == etag, f"{r.what} {hdrs}: 304's ETag {r.header('ETag')!r}")
                        sec_headers(r)
                for hdrs in ({"If-None-Match": '"0000000000000000"'},
                             {"If-None-Match": '"0000000000000000"', "If-Modified-Since": lm},
                             {"If-Modified-Since": "Thu, 01 Jan 1970 00:00:00 GMT"},
                             {"If-Modified-Since": "garbage"}):
                    r = request(port, "GET", path, headers=hdrs)
                    check(r.status == 200 and r.body == g.body, f"{r.what} {hdrs}: {r.status}, want 200 and the page")
            # what is not there, and what is malformed
            for path in (f"/archive/{NEVER_SENT}", f"/archive/{DEFERRED}", "/archive/2001-01-01",
                         "/digest/archive/2001-01-01", "/archive?page=2", "/archive/page/2", "/archived",
                         "/archive.atom/x", "/archive.rss"):
                r = request(port, "GET", path)
                check(r.status == 404, f"{r.what}: {r.status}, want 404")
                check("no-store" in (r.header("Cache-Control") or ""), f"{r.what}: a 404 that caches may keep")
            for path in MALFORMED:
                r = request(port, "GET", path)
                check(r.status == 400, f"{r.what}: {r.status}, want 400")
                check(r.header("Content-Security-Policy"), f"{r.what}: no CSP")
            for path in CUT:
                r = request(port, "GET", path)
                check(r.status in (200, 400, 404), f"{r.what}: {r.status}")
            for path in ("/archive", "/archive.atom", f"/archive/{info['dates'][0]}"):
                r = request(port, "POST", path, body=b"x=1",
                            headers={"Content-Type": "application/x-www-form-urlencoded"})
                check(r.status == 405 and "GET" in (r.header("Allow") or ""), f"{r.what}: {r.status}, "
                      f"Allow {r.header('Allow')!r}")
            check(self.frozen(d)[2] == 3 * 3 + 1, f"serving the archive wrote deliveries: {self.frozen(d)}")

    # ------------------------------------------------------------ the feed
    def t_archive_feed(self):
        """/archive.atom read by python3-feedparser: Atom 1.0, no parse
        error, the newsletter's title, self and alternate links, one entry
        per sent edition (newest first) linking to its page, with dates,
        and each edition's articles as content; RFC 4287's required
        elements (feed and entry: one id, title, updated; an author; ids
        absolute and unique; RFC 3339 dates)."""
        try:
            import feedparser  # noqa: PLC0415
        except ImportError:
            raise Skip("no python3-feedparser (Debian package; `make test` installs it)")
        d, conf, port, base, info = self.archive_fixture()
        with self.serve(conf, port):
            r = request(port, "GET", "/archive.atom")
        check(r.status == 200, r.show())
        f = feedparser.parse(r.body)
        check(not f.bozo, f"feedparser: {f.get('bozo_exception')!r}")
        check(f.version == "atom10", f"feedparser says {f.version!r}, want atom10")
        check(f.feed.get("title") == NAME, f"feed title {f.feed.get('title')!r}, want {NAME!r}")
        rels = {ln.get("rel"): ln.get("href") for ln in f.feed.get("links", [])}
        check(rels.get("self") == f"{base}/archive.atom", f"feed self link {rels.get('self')!r}")
        check(rels.get("alternate") == f"{base}/archive", f"feed alternate link {rels.get('alternate')!r}")
        check(f.feed.get("updated_parsed"), "the feed has no updated date feedparser reads")
        got = [e.get("link") for e in f.entries]
        want = [f"{base}/archive/{x}" for x in info["dates"]]
        check(got == want, f"entry links {got}, want {want}")
        for e, date in zip(f.entries, info["dates"]):
            check(e.get("id") == f"{base}/archive/{date}", f"entry id {e.get('id')!r}")
            check(e.get("updated_parsed") and e.get("published_parsed"), f"entry {date}: no dates")
            check(e.get("title", "").startswith(NAME), f"entry {date}: title {e.get('title')!r}")
            content = " ".join(c.get("value", "") for c in e.get("content", []))
            for link in info["links"][date]:
                check(link in content, f"entry {date}: article {link} not in its content")
            if not info["links"][date]:
                check(content.strip(), f"entry {date}: empty content")
        # RFC 4287 by hand: what must be there, once
        root = ET.fromstring(r.body)
        check(root.tag == ATOM + "feed", f"root element {root.tag}")

        def one(el, name, where):
            found = el.findall(ATOM + name)
            check(len(found) == 1, f"{where}: {len(found)} atom:{name}, want exactly 1")
            return found[0]
        ids = [one(root, "id", "feed").text]
        one(root, "title", "feed")
        check(RFC3339.match(one(root, "updated", "feed").text or ""), "feed: updated is no RFC 3339 date")
        authors = root.findall(ATOM + "author")
        check(authors and all(a.find(ATOM + "name") is not None for a in authors), "feed: no author with a name")
        alternates = [ln for ln in root.findall(ATOM + "link") if ln.get("rel", "alternate") == "alternate"]
        check(len(alternates) <= 1, "feed: two alternate links of one type")
        for e in root.findall(ATOM + "entry"):
            ids.append(one(e, "id", "entry").text)
            one(e, "title", f"entry {ids[-1]}")
            for tag in ("updated", "published"):
                v = e.find(ATOM + tag)
                check(v is not None and RFC3339.match(v.text or ""), f"entry {ids[-1]}: {tag} not RFC 3339")
            check(e.find(ATOM + "content") is not None or
                  any(ln.get("rel", "alternate") == "alternate" for ln in e.findall(ATOM + "link")),
                  f"entry {ids[-1]}: neither content nor an alternate link")
        check(all(urllib.parse.urlparse(i or "").scheme for i in ids), f"ids not absolute: {ids}")
        check(len(set(ids)) == len(ids), f"ids not unique: {ids}")
        self.check_nothing_personal("the feed", r.body, info)

    # ------------------------------------------------------------ the static copy
    def archive_export_run(self, conf, out, what="archive -o"):
        r = self.digest("archive", "-o", out, conf=conf)
        check(r.code == 0, f"{what}: exit {r.code}: {short(r.err)}")
        return r

    def http_server(self, root):
        port = free_port()
        proc = subprocess.Popen(["/usr/bin/python3", "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                 "--directory", root], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_port(port)
        except Fail:
            proc.kill()
            proc.wait()
            raise
        return proc, port

    def compare_static(self, port, sport, base, pairs):
        """Each (serve path, static path) pair: the same bytes, the static
        copy's links under base_url being the served page's root-relative
        ones."""
        for served, static in pairs:
            a = request(port, "GET", served)
            b = request(sport, "GET", static)
            check(a.status == 200 and b.status == 200, f"{a.what}: {a.status}; static {b.what}: {b.status}")
            mine = b.body if served.endswith(".atom") else b.body.replace(base.encode(), b"")
            if mine != a.body:
                i = next((i for i in range(min(len(mine), len(a.body))) if mine[i] != a.body[i]),
                         min(len(mine), len(a.body)))
                raise Fail(f"static {static} differs from served {served} at byte {i}: "
                           f"{mine[max(0, i - 60):i + 60]!r} vs {a.body[max(0, i - 60):i + 60]!r}")

    def t_archive_export(self):
        """`digest archive -o DIR`: DIR/index.html, DIR/DATE/index.html per
        sent edition (none for the unsent ones), DIR/archive.atom; served by
        `python3 -m http.server`, the same bytes as serve's answers but for
        the absolute URLs (the feed byte for byte); run again, no file is
        rewritten (same inode and mtime) and no temporary file is left;
        nothing personal in any file; no -o is a usage error (64)."""
        d, conf, port, base, info = self.archive_fixture()
        out = os.path.join(d, "static")
        self.archive_export_run(conf, out)
        want = {"index.html", "archive.atom"} | {f"{x}/index.html" for x in info["dates"]}
        have = {os.path.relpath(os.path.join(dp, fn), out) for dp, _, fns in os.walk(out) for fn in fns}
        check(have == want, f"files {sorted(have)}, want {sorted(want)}")
        before = {p: (os.stat(os.path.join(out, p)).st_ino, os.stat(os.path.join(out, p)).st_mtime_ns)
                  for p in have}
        for p in have:
            with open(os.path.join(out, p), "rb") as f:
                self.check_nothing_personal(f"static {p}", f.read(), info)
        time.sleep(0.05)
        self.archive_export_run(conf, out, "a second archive -o")
        after = {p: (os.stat(os.path.join(out, p)).st_ino, os.stat(os.path.join(out, p)).st_mtime_ns)
                 for p in have}
        changed = sorted(p for p in have if before[p] != after[p])
        check(not changed, f"the second export rewrote unchanged files: {changed}")
        left = [fn for _, _, fns in os.walk(out) for fn in fns if ".tmp" in fn]
        check(not left, f"temporary files left: {left}")
        r = self.digest("archive", conf=conf)
        check(r.code == 64, f"archive without -o: exit {r.code}, want 64")
        proc, sport = self.http_server(out)
        try:
            with self.serve(conf, port):
                pairs = [("/archive", "/"), ("/archive", "/index.html"), ("/archive.atom", "/archive.atom")]
                pairs += [(f"/archive/{x}", f"/{x}/") for x in info["dates"]]
                self.compare_static(port, sport, base, pairs)
        finally:
            proc.kill()
            proc.wait()

    # ------------------------------------------------------------ pages of the index
    def t_archive_pages(self):
        """35 sent editions: /archive shows the newest 30 and links
        /archive/page/2; ?page=2, /archive/page/2 and /archive/page/2/ are
        the same page with the other 5; page 3 is 404, ?page=1 the index;
        an edition sent while serving appears at once (the cached index and
        feed are built again, their ETags change, the old tag gets 200),
        while an edition's page keeps its ETag; the static copy has
        page/2/index.html, the same as served, and its second run rewrites
        only the index, the feed and the new edition."""
        d = self.testdir("archive-pages")
        port = free_port()
        base = f"http://127.0.0.1:{port}/digest"
        conf = self.job_conf(d, transport="maildir", subs_extra=[(PORTAL_BASE_URL, f'base_url = "{base}";')])
        self.add_subscribers(d, conf, n=1, prefix="pg")
        r = self.digest("status", conf=conf)   # makes the database
        check(r.code == 0, f"status: exit {r.code}: {short(r.err)}")
        dates = [(dt.date(2025, 1, 1) + dt.timedelta(days=k)).isoformat() for k in range(35)]

        def send(con, date, k):
            con.execute("INSERT INTO editions (date, built_at, window_from, window_to) VALUES (?, ?, 0, 1)",
                        (date, 1735689600 + 86400 * k))
            con.execute("INSERT INTO deliveries (edition, subscriber_id, state, attempts, reply, updated_at)"
                        " SELECT ?, id, 'sent', 1, '250 ok', 0 FROM subscribers", (date,))
        con = sqlite3.connect(self.db(d), timeout=10)
        try:
            for k, date in enumerate(dates):
                send(con, date, k)
            con.commit()
        finally:
            con.close()
        newest = dates[::-1]
        out = os.path.join(d, "static")
        self.archive_export_run(conf, out)
        with self.serve(conf, port):
            r1 = request(port, "GET", "/archive")
            listed = re.findall(r'href="/archive/(\d{4}-\d\d-\d\d)"', r1.text)
            check(listed == newest[:30], f"page 1 lists {len(listed)}: {listed[:3]}..., want the newest 30")
            check('href="/archive/page/2"' in r1.text, "page 1 does not link /archive/page/2")
            pages = [request(port, "GET", p) for p in ("/archive?page=2", "/archive/page/2", "/archive/page/2/")]
            for p in pages:
                check(p.status == 200 and p.body == pages[0].body, f"{p.what}: {p.status}, not page 2")
            listed = re.findall(r'href="/archive/(\d{4}-\d\d-\d\d)"', pages[0].text)
            check(listed == newest[30:], f"page 2 lists {listed}, want {newest[30:]}")
            check('href="/archive"' in pages[0].text, "page 2 does not link back to /archive")
            for p in ("/archive?page=3", "/archive/page/3"):
                r = request(port, "GET", p)
                check(r.status == 404, f"{r.what}: {r.status}, want 404")
            r = request(port, "GET", "/archive?page=1")
            check(r.body == r1.body, "?page=1 is not the index")
            proc, sport = self.http_server(out)
            try:
                self.compare_static(port, sport, base, [("/archive", "/"), ("/archive/page/2", "/page/2/"),
                                                        (f"/archive/{dates[0]}", f"/{dates[0]}/")])
            finally:
                proc.kill()
                proc.wait()
            old = {p: request(port, "GET", p) for p in ("/archive", "/archive.atom", f"/archive/{dates[5]}")}
            con = sqlite3.connect(self.db(d), timeout=10)
            try:
                send(con, "2026-01-01", 400)
                con.commit()
            finally:
                con.close()
            r = request(port, "GET", "/archive")
            check(re.findall(r'href="/archive/(\d{4}-\d\d-\d\d)"', r.text)[:1] == ["2026-01-01"],
                  "a newly sent edition is not first in the index")
            check(r.header("ETag") != old["/archive"].header("ETag"), "the index kept its ETag")
            r = request(port, "GET", "/archive.atom")
            check("/archive/2026-01-01" in r.text, "a newly sent edition is not in the feed")
            for p in ("/archive", "/archive.atom"):
                r = request(port, "GET", p, headers={"If-None-Match": old[p].header("ETag")})
                check(r.status == 200, f"{r.what} with the old ETag: {r.status}, want 200")
            p = f"/archive/{dates[5]}"
            r = request(port, "GET", p, headers={"If-None-Match": old[p].header("ETag")})
            check(r.status == 304, f"{r.what}: an old edition's page changed ({r.status})")
        stamp = {}
        for dp, _, fns in os.walk(out):
            for fn in fns:
                st = os.stat(os.path.join(dp, fn))
                stamp[os.path.relpath(os.path.join(dp, fn), out)] = (st.st_ino, st.st_mtime_ns)
        self.archive_export_run(conf, out, "archive -o after a new edition")
        changed = set()
        for dp, _, fns in os.walk(out):
            for fn in fns:
                rel = os.path.relpath(os.path.join(dp, fn), out)
                st = os.stat(os.path.join(dp, fn))
                if stamp.get(rel) != (st.st_ino, st.st_mtime_ns):
                    changed.add(rel)
        # the new edition pushes one edition from page 1 to page 2
        want = {"index.html", "page/2/index.html", "archive.atom", "2026-01-01/index.html"}
        check(changed == want, f"rewritten: {sorted(changed)}, want {sorted(want)}")

    # ------------------------------------------------------------ templates
    def t_archive_templates(self):
        """edition.html and archive.html from a templates directory override
        the built-in ones (what they print is served); one with a syntax
        error is reported as FILE:LINE:COL by check-config and by serve,
        both exiting 78, and by archive -o (78) before a file is written."""
        d, conf0, port0, base0, info = self.archive_fixture()
        tdir = os.path.join(d, "my-templates")
        shutil.rmtree(tdir, ignore_errors=True)
        shutil.copytree(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                                     "templates"), tdir)
        with open(os.path.join(tdir, "archive.html"), "a", encoding="utf-8") as f:
            f.write("<!-- MY-ARCHIVE {{newsletter.name}} -->\n")
        with open(conf0, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r'templates = \{ dir = "[^"]*"; \};', f'templates = {{ dir = "{tdir}"; }};', text)
        check(tdir in text, "test bug: no templates line in the config")
        conf = os.path.join(d, "custom.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        with self.serve(conf, port0, name="serve-custom"):
            r = request(port0, "GET", "/archive")
            check(r.status == 200 and f"<!-- MY-ARCHIVE {NAME} -->" in r.text, f"the custom archive.html is not "
                  f"served: {r.show()}")
        with open(os.path.join(tdir, "edition.html"), "a", encoding="utf-8") as f:
            f.write("\n{{#articles}}unclosed\n")
        r = self.digest("check-config", conf=conf)
        check(r.code == 78 and re.search(r"edition\.html:\d+:\d+", r.err), f"check-config: exit {r.code}, "
              f"want 78 naming edition.html:LINE:COL: {short(r.err)}")
        out = os.path.join(d, "static-custom")
        r = self.digest("archive", "-o", out, conf=conf)
        check(r.code == 78 and "edition.html" in r.err, f"archive -o: exit {r.code}: {short(r.err)}")
        check(not os.path.exists(out), "archive -o wrote files with a broken template")
        r = self.digest("serve", "--listen", "127.0.0.1:0", conf=conf)
        check(r.code == 78 and "edition.html" in r.err, f"serve: exit {r.code}: {short(r.err)}")

    # ------------------------------------------------------------ a real browser
    def t_archive_browser(self):
        """Chromium at 1280 and 375 px: the index, a click on each edition's
        link (status 200, the edition's URL, its articles), the edition page
        and the feed link; no horizontal scrolling at 375 px; screenshots
        (PNG, > 2 KB) in the test's directory; no console error nor CSP
        violation."""
        import cdp   # noqa: PLC0415
        if not cdp.find_chromium():
            raise Skip("no chromium (Debian package chromium)")
        d, conf, port, base, info = self.archive_fixture()
        shots = []
        try:
            with self.serve(conf, port), cdp.Browser(d, width=1280, height=900) as b:
                page = b.new_page()
                for width, height in ((1280, 900), (375, 812)):
                    page.send("Emulation.setDeviceMetricsOverride",
                              {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})
                    st = page.navigate(base + "/archive")
                    check(st == 200, f"{width} px: {base}/archive: status {st}")
                    shots.append(page.screenshot(os.path.join(d, f"archive-index-{width}.png")))
                    sw = page.eval("document.documentElement.scrollWidth")
                    check(sw <= width, f"{width} px: the index is {sw} px wide")
                    check(page.exists('link[rel=alternate][type="application/atom+xml"]'), "no feed link")
                    hrefs = page.eval("[...document.querySelectorAll('ul li a')].map(a => a.href)")
                    check(hrefs == [f"{base}/archive/{x}" for x in info["dates"]], f"index links {hrefs}")
                    for i, date in enumerate(info["dates"]):
                        if i:
                            st = page.navigate(base + "/archive")
                            check(st == 200, f"back to the index: {st}")
                        st = page.click_and_wait(f"ul li:nth-child({i + 1}) a")
                        check(st == 200, f"{width} px: clicking edition {date}: status {st}")
                        check(page.url() == f"{base}/archive/{date}", f"the click led to {page.url()}")
                        sw = page.eval("document.documentElement.scrollWidth")
                        check(sw <= width, f"{width} px: edition {date} is {sw} px wide")
                        got = tuple(dict.fromkeys(page.eval(
                            "[...document.querySelectorAll('ol a')].map(a => a.getAttribute('href'))")))
                        check(got == info["links"][date], f"edition {date} in the browser: links {got}")
                        check(page.exists("form input[type=email]"), f"edition {date}: no subscribe form")
                        if i == 0:
                            shots.append(page.screenshot(os.path.join(d, f"archive-edition-{width}.png")))
                time.sleep(0.3)
                problems = page.problems(ignore=("/favicon.ico",))
                for p in shots:
                    print(f"# screenshot {p}", flush=True)
                for p in shots:
                    ok, why = cdp.check_png(p)
                    check(ok, f"screenshot {why}")
                check(not problems, f"the browser reported {len(problems)} problems: {problems[:5]}")
        except cdp.CDPError as e:
            raise Fail(f"in chromium: {e}")
