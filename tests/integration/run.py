#!/usr/bin/python3
"""Integration tests of the digest binary (standard library only).

usage: DIGEST=./digest /usr/bin/python3 tests/integration/run.py [-v] [-k SUBSTR] [--keep]

Starts tests/integration/httpd.py on 127.0.0.1 (a free port) over sample
sites made by tests/fixtures/gen_site.py around the current time, then runs
`digest` against them, each test in its own temporary directory with its own
config and database. Prints "ok NAME" or "FAIL NAME: reason" per test and,
as the last line, "N passed, M failed"; exits 1 when a test failed.

  -v        after a failure, show digest's stdout and stderr
  -k SUBSTR run only the tests whose name contains SUBSTR
  --keep    keep the temporary directory (its path is printed)
"""

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request
from zoneinfo import ZoneInfo

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
GEN = os.path.join(FIXTURES, "gen_site.py")
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

DIGEST = os.path.abspath(os.environ.get("DIGEST", "./digest"))
RUN_TIMEOUT = 40          # seconds for one digest run
SLOW_SECONDS = 8          # /slow answers after this; configs say fetch.timeout = 3
EX_OK, EX_UNAVAILABLE, EX_CONFIG = 0, 69, 78

ROW = re.compile(r"^\s*(\d+)\s+(\S+)\s+(\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d)\s\s(.*)$")
SANITIZER = re.compile(r"Sanitizer|runtime error:|Segmentation fault|core dumped")
MOJIBAKE = re.compile("[\ufffdÐÑÃÂ]|Р[ЎўЈ¤Ґ¦§Ё©Є¬®Ї°±Ііґµ¶·ё№єјЅѕї]")


class Fail(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


sys.dont_write_bytecode = True  # no __pycache__/ in the tree
from job_tests import JobTests  # noqa: E402  (it uses Fail, Skip and check above)
from serve_tests import ServeTests  # noqa: E402  (likewise)
from smtp_tests import SmtpTests  # noqa: E402  (likewise)
from store_tests import StoreTests  # noqa: E402  (likewise)
from address_tests import AddressTests  # noqa: E402  (likewise)
from fetch_tests import FetchTests  # noqa: E402  (likewise)
from archive_tests import ArchiveTests  # noqa: E402  (likewise)
from dkim_tests import DkimTests  # noqa: E402  (likewise)
from inbound_tests import InboundTests  # noqa: E402  (likewise)
from feeds_tests import FeedsTests  # noqa: E402  (likewise)
from mailloop_tests import MailLoopTests  # noqa: E402  (likewise)
from admin_tests import AdminTests  # noqa: E402  (likewise)
from consent_tests import ConsentTests  # noqa: E402  (likewise)
from import_tests import ImportTests  # noqa: E402  (likewise)
from install_tests import InstallTests  # noqa: E402  (likewise)


class Result:
    def __init__(self, args, proc, elapsed):
        self.args = args
        self.code = proc.returncode
        self.out = proc.stdout.decode("utf-8", "replace")
        self.err = proc.stderr.decode("utf-8", "replace")
        self.raw_out = proc.stdout
        self.elapsed = elapsed

    @property
    def err_lines(self):
        return [ln for ln in self.err.splitlines() if ln.strip()]

    def rows(self):
        rows = []
        for ln in self.out.splitlines():
            m = ROW.match(ln)
            if m:
                rows.append(dict(rank=int(m.group(1)), views=m.group(2), comments=m.group(3),
                                 published=m.group(4), title=m.group(5).rstrip()))
        return rows

    def titles(self):
        return [r["title"] for r in self.rows()]

    def describe(self):
        return (f"$ digest {' '.join(self.args)}  -> exit {self.code} in {self.elapsed:.1f} s\n"
                f"--- stdout\n{self.out}--- stderr\n{self.err}---")


class Suite(JobTests, ServeTests, SmtpTests, StoreTests, AddressTests, FetchTests, ArchiveTests,
            DkimTests, InboundTests, FeedsTests, MailLoopTests, AdminTests, ConsentTests, ImportTests, InstallTests):
    def __init__(self, opts):
        self.opts = opts
        self.tmp = tempfile.mkdtemp(prefix="digest-it-")
        self.www = os.path.join(self.tmp, "www")
        os.makedirs(self.www)
        self.httpd = None
        self.port = None
        self.last = None       # the last Result, shown with -v on failure
        self.n = 0
        self.now = dt.datetime.now(ZoneInfo("Europe/Moscow")).replace(microsecond=0).isoformat()

    # ------------------------------------------------------------ plumbing
    def start_httpd(self):
        self.httpd = subprocess.Popen(
            [PY, os.path.join(HERE, "httpd.py"), self.www, "--slow", str(SLOW_SECONDS)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        line = self.httpd.stdout.readline().decode().strip()
        if not line.isdigit():
            raise RuntimeError(f"httpd.py did not start (said {line!r})")
        self.port = int(line)
        self.root = f"http://127.0.0.1:{self.port}/"

    def stop_httpd(self):
        if self.httpd and self.httpd.poll() is None:
            os.kill(self.httpd.pid, signal.SIGTERM)
            try:
                self.httpd.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.httpd.pid, signal.SIGKILL)
                self.httpd.wait()

    def gen(self, outdir, *args, now=None):
        subprocess.run([PY, GEN, outdir, "--now", now or self.now, *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(outdir, "expected.json"), encoding="utf-8") as f:
            return json.load(f)

    def site(self, name, style="portal", base=None, bump=0, now=None):
        """Generate site NAME under www/ (served at ROOT/NAME/ unless BASE)."""
        out = os.path.join(self.www, name)
        base = base or f"{self.root}{name}/"
        args = ["--style", style, "--base", base]
        if bump:
            args += ["--bump", str(bump)]
        data = self.gen(out, *args, now=now)
        data["dir"] = out
        return data

    def testdir(self, name):
        self.n += 1
        d = os.path.join(self.tmp, f"t{self.n:02d}-{name}")
        os.makedirs(d)
        return d

    def conf(self, d, template="portal", base=None, extra="", subs=(), text=None):
        """Write D/digest.conf from tests/fixtures/TEMPLATE.conf.in."""
        if text is None:
            with open(os.path.join(FIXTURES, f"{template}.conf.in"), encoding="utf-8") as f:
                text = f.read()
            text = text.replace("@BASE@", base).replace("@TEMPLATES@", os.path.join(REPO, "templates"))
            text = text.replace("# @EXTRA_SOURCES@", extra)
        for old, new in subs:
            check(old in text, f"test bug: {old!r} not in the config")
            text = text.replace(old, new)
        path = os.path.join(d, "digest.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def digest(self, *args, conf=None, env=None, cwd=None, timeout=RUN_TIMEOUT, fake_now=None):
        """Run digest; FAKE_NOW (an aware datetime) runs it under faketime(1),
        its clock starting at that instant."""
        argv = ([DIGEST, "-c", conf] if conf else [DIGEST]) + list(args)
        full_env = dict(os.environ)
        full_env.pop("DIGEST_CONFIG", None)
        full_env.update(env or {})
        if fake_now is not None:
            utc = fake_now.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
            argv = ["faketime", "-f", "@" + utc] + argv
            full_env["TZ"] = "UTC"  # how faketime reads the timestamp; digest sets its own
            full_env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
            full_env["ASAN_OPTIONS"] = "verify_asan_link_order=0:" + full_env.get("ASAN_OPTIONS", "")
        t0 = time.monotonic()
        try:
            proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env=full_env, cwd=cwd, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise Fail(f"`digest {' '.join(argv[1:])}` still running after {timeout} s")
        except FileNotFoundError:
            raise Fail(f"no digest binary at {DIGEST} (set DIGEST)")
        r = Result(argv[argv.index(DIGEST) + 1:], proc, time.monotonic() - t0)
        self.last = r
        m = SANITIZER.search(r.err)
        check(not m, f"sanitizer/crash report in stderr: {r.err[max(0, m.start() - 80):m.end() + 200]!r}"
              if m else "")
        check(r.code >= 0, f"killed by signal {-r.code}")
        return r

    def collect(self, conf, *args, code=EX_OK, **kw):
        r = self.digest("collect", *args, conf=conf, **kw)
        check(r.code == code, f"collect exit {r.code}, want {code}; stderr: {short(r.err)}")
        return r

    # ------------------------------------------------------------ checks
    def check_ranking(self, r, site, key="expected"):
        """stdout of collect R lists exactly the titles SITE[KEY] (or the list
        KEY) in that order, with the generator's views, comments, published."""
        want = site[key] if isinstance(key, str) else key
        key = key if isinstance(key, str) else "ranking"
        rows = r.rows()
        got = [x["title"] for x in rows]
        check(rows, f"no article rows in stdout: {short(r.out)}")
        lines = [ln for ln in r.out.splitlines() if ln.strip()]
        check(not ROW.match(lines[0]), f"first line is not a header: {lines[0]!r}")
        if got != want:
            i = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]),
                     min(len(got), len(want)))
            g = rows[i] if i < len(rows) else None
            w = next((a for a in site["articles"] if i < len(want) and a["title"] == want[i]), None)
            msg = (f"{key}: {len(got)} rows, want {len(want)}; first difference at rank {i + 1}: got "
                   + (f"{g['title']!r} (views {g['views']}, comments {g['comments']}, {g['published']})"
                      if g else "nothing")
                   + ", want " + (f"{w['title']!r} (views {w['views']}, comments {w['comments']}, "
                                  f"{w['published']})" if w else "nothing"))
            missing = [t for t in want if t not in got]
            extra = [t for t in got if t not in want]
            if missing:
                msg += f"; missing: {missing}"
            if extra:
                msg += f"; unexpected: {extra}"
            raise Fail(msg)
        by_title = {a["title"]: a for a in site["articles"]}
        bad = []
        for i, row in enumerate(rows):
            a = by_title[row["title"]]
            if row["rank"] != i + 1:
                bad.append(f"row {i + 1} has rank {row['rank']}")
            if row["views"] != str(a["views"]):
                bad.append(f"{a['title']!r}: views {row['views']}, want {a['views']}")
            if row["comments"] != str(a["comments"]):
                bad.append(f"{a['title']!r}: comments {row['comments']}, want {a['comments']}")
            if row["published"] != a["published"]:
                bad.append(f"{a['title']!r}: published {row['published']}, want {a['published']}")
        check(not bad, "; ".join(bad[:6]) + (f" (+{len(bad) - 6} more)" if len(bad) > 6 else ""))
        self.check_aligned(r)

    def check_aligned(self, r):
        """rank, views and comments are right-aligned: each column ends at
        one position (in characters) on every row."""
        ends = set()
        for ln in r.out.splitlines():
            m = ROW.match(ln)
            if m:
                ends.add((m.end(1), m.end(2), m.end(3), m.end(4)))
        check(len(ends) <= 1, f"columns not aligned: field end positions {sorted(ends)}")

    def check_one_error(self, r, name, url):
        lines = [ln for ln in r.err_lines if name in ln]
        check(len(lines) == 1, f"want exactly one stderr line naming {name!r}, got {len(lines)}: "
              f"{short(r.err)}")
        check(url in lines[0], f"the error line does not name the URL {url}: {lines[0]!r}")

    # ------------------------------------------------------------ tests
    def setup(self):
        self.start_httpd()
        self.portal = self.site("portal")
        self.other = self.site("other", style="other")

    def t_portal_collect(self):
        d = self.testdir("portal")
        conf = self.conf(d, base=self.portal["base"])
        r = self.collect(conf)
        self.check_ranking(r, self.portal)

    def t_portal_collect_all(self):
        d = self.testdir("portal-all")
        conf = self.conf(d, base=self.portal["base"])
        r = self.collect(conf, "--all")
        self.check_ranking(r, self.portal, "expected_all")

    def t_portal_windows1251(self):
        d = self.testdir("cp1251")
        conf = self.conf(d, base=self.portal["base"])
        r = self.collect(conf, "--all")
        got = r.titles()
        cp = [a["title"] for a in self.portal["articles"]
              if a["listing_encoding"] == "windows-1251" and a["candidate"]]
        check(len(cp) >= 3, "test bug: too few windows-1251 candidates")
        missing = [t for t in cp if t not in got]
        check(not missing, f"windows-1251 page titles missing or garbled: {missing}; got {got}")
        m = MOJIBAKE.search(r.out)
        check(not m, f"mojibake in stdout near {r.out[max(0, m.start() - 40):m.end() + 40]!r}"
              if m else "")
        r.raw_out.decode("utf-8")  # strict: stdout is valid UTF-8

    def t_portal_feed_merged(self):
        d = self.testdir("merge")
        conf = self.conf(d, base=self.portal["base"])
        r = self.collect(conf, "--all")
        got = r.titles()
        dups = sorted({t for t in got if got.count(t) > 1})
        check(not dups, f"articles listed twice (utm_*/#fragment/relative links not merged): {dups}")
        feed_only = [a["title"] for a in self.portal["articles"]
                     if a["feed"] and a["page"] is None and a["candidate"]]
        missing = [t for t in feed_only if t not in got]
        check(not missing, f"feed-only articles missing: {missing}")

    def t_portal_old_and_sidebar_absent(self):
        d = self.testdir("never")
        conf = self.conf(d, base=self.portal["base"])
        r = self.collect(conf, "--all")
        got = set(r.titles())
        leaked = [t for t in self.portal["never"] if t in got]
        check(not leaked, f"must not be candidates (old, beyond max_pages, or sidebar): {leaked}")
        check(not any("Реклама" in t or "Sponsored" in t for t in got), "a link-less advert item was taken")

    def t_portal_recollect_bump(self):
        site = self.site("portal-bump")
        d = self.testdir("bump")
        conf = self.conf(d, base=site["base"])
        r = self.collect(conf)
        self.check_ranking(r, site)
        bumped = self.site("portal-bump", bump=5)
        check(bumped["expected"] != site["expected"], "test bug: the bump does not change the ranking")
        r = self.collect(conf)
        try:
            self.check_ranking(r, bumped)
        except Fail as e:
            stale = [a["title"] for a in bumped["articles"] if a["bump"] and a["candidate"]]
            raise Fail(f"after the re-collect (views of {stale} raised by 5000): {e}")
        r = self.collect(conf, "--all")
        self.check_ranking(r, bumped, "expected_all")

    def t_other_collect(self):
        d = self.testdir("other")
        conf = self.conf(d, template="other", base=self.other["base"])
        r = self.collect(conf)
        self.check_ranking(r, self.other)

    def t_other_collect_all(self):
        d = self.testdir("other-all")
        conf = self.conf(d, template="other", base=self.other["base"])
        r = self.collect(conf, "--all")
        self.check_ranking(r, self.other, "expected_all")
        m = MOJIBAKE.search(r.out)
        check(not m, f"mojibake (KOI8-R page?) near {r.out[max(0, m.start() - 40):m.end() + 40]!r}"
              if m else "")

    def t_file_url_default_conf(self):
        """The top-level digest.conf as shipped, on a site in var/sample-site."""
        d = self.testdir("file-url")
        shutil.copy(os.path.join(REPO, "digest.conf"), os.path.join(d, "digest.conf"))
        os.symlink(os.path.join(REPO, "templates"), os.path.join(d, "templates"))
        site = self.gen(os.path.join(d, "var", "sample-site"))
        check(site["base"].startswith("file:///"), "test bug: base is not a file URL")
        elsewhere = self.testdir("cwd")
        r = self.collect(os.path.join(d, "digest.conf"), cwd=elsewhere)
        self.check_ranking(r, site)
        check(os.path.exists(os.path.join(d, "var", "digest.db")),
              "storage.database not resolved against the config's directory")
        check(not os.listdir(elsewhere), f"files written to the working directory: {os.listdir(elsewhere)}")

    def t_redirect_resolves_against_final_url(self):
        d = self.testdir("redirect")
        conf = self.conf(d, base=self.portal["base"],
                         subs=[(f'url       = "{self.portal["base"]}index.html"',
                                f'url       = "{self.root}redirect/portal/index.html"')])
        r = self.collect(conf, "--all")
        self.check_ranking(r, self.portal, "expected_all")

    def t_parallel_fetch(self):
        delay = 300
        site = self.site("portal-slow", base=f"{self.root}delay/{delay}/portal-slow/")
        d = self.testdir("parallel")
        conf = self.conf(d, base=site["base"],
                         subs=[("parallel = 8; per_host = 4;", "parallel = 8; per_host = 3;")])
        urllib.request.urlopen(self.root + "stats?reset=1").read()
        r = self.collect(conf)
        self.check_ranking(r, site)
        stats = json.loads(urllib.request.urlopen(self.root + "stats").read())
        check(stats["max_concurrent"] >= 2,
              f"no two fetches at once ({stats['delayed']} requests of {delay} ms, "
              f"{r.elapsed:.1f} s): fetching is not parallel")
        check(stats["max_concurrent"] <= 3, f"{stats['max_concurrent']} requests at once to one host, "
              f"fetch.per_host = 3")

    def t_digest_settings(self):
        """max_articles and min_views from digest { } are applied."""
        d = self.testdir("settings")
        conf = self.conf(d, base=self.portal["base"],
                         subs=[("max_articles = 10; min_views = 0;", "max_articles = 30; min_views = 100;")])
        r = self.collect(conf)
        want = [a["title"] for a in self.portal["ranked"] if a["views"] >= 100][:30]
        check(len(want) < len(self.portal["ranked"]), "test bug: min_views = 100 filters nothing")
        self.check_ranking(r, self.portal, want)
        d = self.testdir("settings3")
        conf = self.conf(d, base=self.portal["base"],
                         subs=[("max_articles = 10;", "max_articles = 3;")])
        r = self.collect(conf)
        self.check_ranking(r, self.portal, self.portal["expected"][:3])

    def t_window_hours(self):
        hours = 3
        now = dt.datetime.fromisoformat(self.portal["now"])
        edge = now - dt.timedelta(hours=hours)
        ranked = self.portal["ranked"]
        near = [a["title"] for a in ranked
                if abs(dt.datetime.fromisoformat(a["published_iso"]) - edge) < dt.timedelta(minutes=10)]
        check(not near, f"test bug: articles near the {hours} h edge: {near}")
        want = [a["title"] for a in ranked if dt.datetime.fromisoformat(a["published_iso"]) > edge][:10]
        d = self.testdir("window")
        conf = self.conf(d, base=self.portal["base"],
                         subs=[("window_hours = 24;", f"window_hours = {hours};")])
        r = self.collect(conf, "--all")
        self.check_ranking(r, self.portal, want)

    def faketime_works(self):
        """Whether digest starts at all under faketime (probed once)."""
        if not hasattr(self, "_faketime_ok"):
            env = dict(os.environ, TZ="UTC", FAKETIME_DONT_FAKE_MONOTONIC="1",
                       ASAN_OPTIONS="verify_asan_link_order=0:" + os.environ.get("ASAN_OPTIONS", ""))
            try:
                p = subprocess.run(["faketime", "-f", "@2026-01-01 00:00:00", DIGEST, "--version"], env=env,
                                   stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
                self._faketime_ok = p.returncode == 0
            except subprocess.TimeoutExpired:
                self._faketime_ok = False
        return self._faketime_ok

    def time_travel(self, name, style, when):
        """Generate a site around WHEN and run digest with its clock at WHEN."""
        if not shutil.which("faketime"):
            raise Skip("faketime(1) is not installed (Debian package faketime)")
        if not self.faketime_works():
            raise Skip("this build of digest hangs under faketime(1) at start-up "
                       "(clang's AddressSanitizer runtime and libfaketime); gcc's runs")
        site = self.site(name, style=style, now=when.isoformat())
        d = self.testdir(name)
        conf = self.conf(d, template=style, base=site["base"])
        for args, key in ((), "expected"), (("--all",), "expected_all"):
            r = self.digest("collect", *args, conf=conf, fake_now=when)
            check(r.code == EX_OK, f"collect at {when.isoformat()}: exit {r.code}; {short(r.err)}")
            try:
                self.check_ranking(r, site, key)
            except Fail as e:
                raise Fail(f"at {when.isoformat()}: {e}")

    def t_time_new_year_just_after_midnight(self):
        # "31.12 23:10" is last year, bare "23:50" is yesterday, "вчера" is 31 December
        self.time_travel("tt-newyear", "portal",
                         dt.datetime(2027, 1, 1, 0, 25, 0, tzinfo=ZoneInfo("Europe/Moscow")))

    def t_time_early_morning(self):
        self.time_travel("tt-morning", "portal",
                         dt.datetime(2026, 3, 1, 6, 5, 0, tzinfo=ZoneInfo("Europe/Moscow")))

    def t_time_dst_day_other_zone(self):
        # the day New York moves to summer time: 23-hour day, "yesterday 18:00" crosses it
        self.time_travel("tt-dst", "other",
                         dt.datetime(2026, 3, 8, 10, 0, 0, tzinfo=ZoneInfo("America/New_York")))

    def charset_source(self, name, page_bytes, charset):
        """A one-page html source served with Content-Type: text/html; charset=CHARSET."""
        os.makedirs(os.path.join(self.www, name), exist_ok=True)
        with open(os.path.join(self.www, name, "list.html"), "wb") as f:
            f.write(page_bytes)
        d = self.testdir(name)
        url = f"{self.root}charset/{charset}/{name}/list.html"
        text = f"""newsletter = {{ timezone = "{self.portal['timezone']}"; locale = "ru"; }};
sources = (
  {{ name = "{name}"; type = "html"; url = "{url}";
     item = "//div[@class='news-item']"; link = ".//a[@class='title']/@href";
     title = ".//a[@class='title']"; published = ".//span[@class='date']";
     views = ".//span[@class='views']"; comments = ".//span[@class='comments']"; }}
);
templates = {{ dir = "{os.path.join(REPO, 'templates')}"; }};
storage = {{ database = "var/digest.db"; }};
"""
        conf = self.conf(d, text=text)
        r = self.collect(conf, "--all")
        want = [a for a in self.portal["ranked"] if a["page"] == 2]
        check(len(want) >= 3, "test bug: too few page-2 candidates")
        got = {x["title"]: x for x in r.rows()}
        missing = [a["title"] for a in want if a["title"] not in got]
        check(not missing, f"titles missing or garbled: {missing}; got {sorted(got)}")
        check(len(got) == len(want), f"{len(got)} rows, want {len(want)}: {sorted(got)}")
        bad = []
        for a in want:
            v = got[a["title"]]["views"]
            w = "-" if a["follow"] else str(a["views"])  # follow = false here: unknown stays "-"
            if v != w:
                bad.append(f"{a['title']!r}: views {v}, want {w}")
        check(not bad, "; ".join(bad))
        self.check_aligned(r)

    def page2(self):
        with open(os.path.join(self.portal["dir"], "page2.html"), "rb") as f:
            page = f.read()
        meta = b'<meta http-equiv="Content-Type" content="text/html; charset=windows-1251">'
        check(meta in page, "test bug: page2.html has no charset meta")
        return page, meta

    def t_charset_from_http_header(self):
        page, meta = self.page2()
        self.charset_source("nometa", page.replace(meta, b""), "windows-1251")

    def t_charset_http_header_beats_meta(self):
        page, meta = self.page2()
        self.charset_source("wrongmeta", page.replace(meta, b'<meta charset="koi8-r">'), "windows-1251")

    # faults: the good portal sources plus one bad source
    def fault(self, name, src_type, url, item="//div[@class='news-item']"):
        d = self.testdir(name)
        keys = ""
        if src_type == "html":
            keys = (f'item = "{item}"; link = ".//a[@class=\'title\']/@href"; '
                    'title = ".//a[@class=\'title\']";')
        extra = f', {{ name = "{name}"; type = "{src_type}"; url = "{url}"; {keys} }}'
        conf = self.conf(d, base=self.portal["base"], extra=extra)
        r = self.collect(conf)
        self.check_ranking(r, self.portal)
        self.check_one_error(r, name, url)
        return r

    def t_fault_connection_refused(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.fault("bad-refused", "html", f"http://127.0.0.1:{port}/index.html")

    def t_fault_404(self):
        self.fault("bad-404", "html", f"{self.root}404")

    def t_fault_500(self):
        self.fault("bad-500", "rss", f"{self.root}500")

    def t_fault_timeout(self):
        r = self.fault("bad-slow", "html", f"{self.root}slow")
        check(r.elapsed < SLOW_SECONDS, f"took {r.elapsed:.1f} s: fetch.timeout = 3 not applied")

    def t_fault_body_over_cap(self):
        r = self.fault("bad-huge", "html", f"{self.root}huge")
        check(r.elapsed < 10, f"took {r.elapsed:.1f} s")

    def t_fault_body_over_cap_content_length(self):
        self.fault("bad-huge-cl", "html", f"{self.root}huge-cl")

    def t_fault_garbage(self):
        self.fault("bad-garbage", "html", f"{self.root}garbage.html")

    def t_fault_malformed_xml(self):
        self.fault("bad-xml", "rss", f"{self.root}malformed.xml")

    def t_fault_item_matches_nothing(self):
        self.fault("bad-noitems", "html", f"{self.portal['base']}index.html?variant=nomatch",
                   item="//div[@class='no-such-item']")

    def t_all_sources_bad(self):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        d = self.testdir("all-bad")
        text = f"""newsletter = {{ timezone = "Europe/Moscow"; }};
sources = (
  {{ name = "gone"; type = "rss"; url = "http://127.0.0.1:{port}/rss.xml"; }},
  {{ name = "missing"; type = "html"; url = "{self.root}404";
     item = "//div"; link = ".//a/@href"; title = ".//a"; }}
);
fetch = {{ timeout = 3; connect_timeout = 2; }};
templates = {{ dir = "{os.path.join(REPO, 'templates')}"; }};
storage = {{ database = "var/digest.db"; }};
"""
        conf = self.conf(d, text=text)
        r = self.collect(conf, code=EX_UNAVAILABLE)
        self.check_one_error(r, "gone", f"http://127.0.0.1:{port}/rss.xml")
        self.check_one_error(r, "missing", f"{self.root}404")

    # config
    def t_config_unknown_key_warns(self):
        d = self.testdir("unknown-key")
        conf = self.conf(d, base=self.portal["base"],
                         subs=[("max_articles = 10;", "max_articles = 10; colour = \"blue\";")])
        r = self.collect(conf)
        check(any("colour" in ln for ln in r.err_lines), f"no warning naming `colour`: {short(r.err)}")
        self.check_ranking(r, self.portal)

    def bad_conf(self, name, subs):
        d = self.testdir(name)
        conf = self.conf(d, base=self.portal["base"], subs=subs)
        with open(conf, encoding="utf-8") as f:
            line = next(i for i, ln in enumerate(f, 1) if subs[0][1] in ln)
        return conf, line

    def t_config_wrong_type(self):
        conf, line = self.bad_conf("wrong-type", [("max_articles = 10;", 'max_articles = "ten";')])
        r = self.digest("collect", conf=conf)
        check(r.code == EX_CONFIG, f"exit {r.code}, want 78; stderr: {short(r.err)}")
        pat = re.compile(r"(^|[\s/])digest\.conf:%d: digest\.max_articles:" % line, re.M)
        check(pat.search(r.err), f"want `digest.conf:{line}: digest.max_articles: ...`, got: {short(r.err)}")
        check(not r.rows(), "articles printed despite the config error")

    def t_config_bad_xpath(self):
        conf, line = self.bad_conf("bad-xpath", [("item      = \"//div[@class='news-item']\";",
                                                  "item      = \"//div[@class='news-item'\";")])
        r = self.digest("collect", conf=conf)
        check(r.code == EX_CONFIG, f"exit {r.code}, want 78; stderr: {short(r.err)}")
        check(re.search(r"sources\.\S*item", r.err), f"the error does not name the key (sources.…item): "
              f"{short(r.err)}")
        check(f":{line}:" in r.err, f"the error does not give line {line}: {short(r.err)}")
        r = self.digest("check-config", conf=conf)
        check(r.code == EX_CONFIG, f"check-config exit {r.code}, want 78")

    def t_check_config(self):
        d = self.testdir("check-good")
        conf = self.conf(d, base=self.portal["base"])
        r = self.digest("check-config", conf=conf)
        check(r.code == EX_OK, f"check-config on a good config: exit {r.code}; stderr: {short(r.err)}")
        conf, _ = self.bad_conf("check-bad", [("max_articles = 10;", 'max_articles = "ten";')])
        r = self.digest("check-config", conf=conf)
        check(r.code == EX_CONFIG, f"check-config on a bad config: exit {r.code}, want 78")
        check("digest.max_articles" in r.err, f"check-config does not name the key: {short(r.err)}")

    def t_check_config_shipped(self):
        d = self.testdir("check-shipped")
        shutil.copy(os.path.join(REPO, "digest.conf"), os.path.join(d, "digest.conf"))
        os.symlink(os.path.join(REPO, "templates"), os.path.join(d, "templates"))
        r = self.digest("check-config", conf=os.path.join(d, "digest.conf"))
        check(r.code == EX_OK, f"check-config on the shipped digest.conf: exit {r.code}; "
              f"stderr: {short(r.err)}")
        check(not r.err_lines, f"warnings on the shipped digest.conf: {short(r.err)}")

    def t_config_missing_file(self):
        d = self.testdir("missing")
        r = self.digest("collect", conf=os.path.join(d, "nope.conf"))
        check(r.code == EX_CONFIG, f"exit {r.code}, want 78; stderr: {short(r.err)}")
        check("nope.conf" in r.err, f"the error does not name the file: {short(r.err)}")

    def t_config_env_and_default(self):
        d = self.testdir("env")
        conf = self.conf(d, base=self.portal["base"])
        empty = self.testdir("env-cwd")
        r = self.collect(None, env={"DIGEST_CONFIG": conf}, cwd=empty)
        self.check_ranking(r, self.portal)
        r = self.collect(None, cwd=d)  # ./digest.conf
        self.check_ranking(r, self.portal)
        # -c wins over $DIGEST_CONFIG
        r = self.collect(conf, env={"DIGEST_CONFIG": os.path.join(empty, "nope.conf")}, cwd=empty)
        self.check_ranking(r, self.portal)
        # and $DIGEST_CONFIG over ./digest.conf
        r = self.digest("collect", env={"DIGEST_CONFIG": os.path.join(empty, "nope.conf")}, cwd=d)
        check(r.code == EX_CONFIG, f"$DIGEST_CONFIG naming a missing file, ./digest.conf present: "
              f"exit {r.code}, want 78")

    def t_database(self):
        d = self.testdir("db")
        conf = self.conf(d, base=self.portal["base"])
        self.collect(conf)
        db = os.path.join(d, "var", "digest.db")
        check(os.path.exists(db), "no var/digest.db after collect")
        mode = stat.S_IMODE(os.stat(db).st_mode)
        check(mode == 0o600, f"database mode {mode:o}, want 600")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            jm = con.execute("PRAGMA journal_mode").fetchone()[0]
            uv = con.execute("PRAGMA user_version").fetchone()[0]
            tables = [x[0] for x in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        finally:
            con.close()
        check(jm.lower() == "wal", f"journal_mode {jm}, want wal")
        check(uv >= 1, f"user_version {uv}, want >= 1")
        check(tables, "no tables in the database")

    # ------------------------------------------------------------ scale, hostile text, CLI
    def minimal_conf(self, d, url, extra_keys="", window=24):
        return self.conf(d, text=f"""
newsletter = {{ timezone = "Europe/Moscow"; }};
digest = {{ max_articles = 5; window_hours = {window}; }};
fetch = {{ timeout = 10; max_body = 10000000; }};
sources = ( {{ name = "min"; type = "html"; url = "{url}"; item = "//li"; {extra_keys} }} );
""")

    def t_big_listing_default_selectors(self):
        """20 000 items (every URL twice, once with utm_* and a fragment) on
        one page, read with the default link and title selectors."""
        now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
        n = 10000
        rows = []
        for i in range(n):
            when = (now - dt.timedelta(minutes=1 + i % 600)).strftime("%Y-%m-%dT%H:%M:%S%z")
            rows.append(f'<li><a href="/big/a{i}.html">Статья {i}</a> <time>{when}</time> <b>{i}</b></li>')
            rows.append(f'<li><a href="a{i}.html?utm_source=x&amp;utm_medium=y#top">Статья {i}</a></li>')
        os.makedirs(os.path.join(self.www, "big"), exist_ok=True)
        with open(os.path.join(self.www, "big", "index.html"), "w", encoding="utf-8") as f:
            f.write("<!DOCTYPE html><html><body><ul>" + "".join(rows) + "</ul></body></html>")
        d = self.testdir("big")
        conf = self.minimal_conf(d, f"{self.root}big/index.html",
                                 'published = "time"; views = "b";')
        r = self.collect(conf)
        got = r.titles()
        want = [f"Статья {i}" for i in range(n - 1, n - 6, -1)]
        check(got == want, f"top 5 of the big listing: {got}, want {want}")
        db = os.path.join(d, "var", "digest.db")
        con = sqlite3.connect(db)
        try:
            count = con.execute("SELECT count(*) FROM articles").fetchone()[0]
        finally:
            con.close()
        check(count == n, f"{count} articles stored, want {n} (duplicates merged)")

    def t_hostile_text(self):
        """Terminal escapes and controls in page text never reach stdout."""
        os.makedirs(os.path.join(self.www, "hostile"), exist_ok=True)
        now = dt.datetime.now(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%dT%H:%M:%S%z")
        with open(os.path.join(self.www, "hostile", "index.html"), "wb") as f:
            f.write(("<html><body><ul><li><a href='/x'>Evil\x1b[2J\x1b]0;pwned\x07 title\x7f"
                     f"\u009b31m</a><time>{now}</time></li></ul></body></html>").encode("utf-8"))
        d = self.testdir("hostile")
        conf = self.minimal_conf(d, f"{self.root}hostile/index.html", 'published = "time";')
        r = self.collect(conf)
        check(r.titles() == ["Evil[2J]0;pwned title31m"], f"titles {r.titles()!r}")
        bad = [c for c in r.out if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) <= 0x9f]
        check(not bad, f"control characters in stdout: {bad!r}")

    def t_paging_stops_at_old_items(self):
        """A listing page whose items are all older than the window is the
        last one read: its `next` page (a 500 here) is never requested."""
        os.makedirs(os.path.join(self.www, "paged"), exist_ok=True)
        now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
        fresh = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
        old = (now - dt.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%S%z")
        pages = {
            "index.html": (fresh, "p2.html"),
            "p2.html": (old, "/500"),
        }
        for name, (when, nxt) in pages.items():
            with open(os.path.join(self.www, "paged", name), "w", encoding="utf-8") as f:
                f.write(f"<html><body><ul><li><a href='/a/{name}'>Item {name}</a><time>{when}</time></li>"
                        f"</ul><a rel='next' href='{nxt}'>next</a></body></html>")
        d = self.testdir("paged")
        conf = self.minimal_conf(d, f"{self.root}paged/index.html",
                                 'published = "time"; next = "//a[@rel=\'next\']/@href";')
        r = self.collect(conf, "--all")
        check(r.titles() == ["Item index.html"], f"titles {r.titles()!r}")
        check("500" not in r.err, f"the page after the old one was fetched: {short(r.err)}")

    def t_cli_help_version_usage(self):
        r = self.digest("--version")
        check(r.code == 0 and re.match(r"^digest \d+\.\d+\.\d+$", r.out.strip()), f"--version: {r.out!r}")
        for args in (["--help"], ["collect", "--help"], ["check-config", "--help"]):
            r = self.digest(*args)
            check(r.code == 0 and "usage: digest" in r.out, f"{args}: exit {r.code}, {short(r.out)}")
        for args, code in ((["frobnicate"], 64), ([], 64), (["--bogus"], 64),
                           (["-c", "/nonexistent.conf", "collect", "--bogus"], 64),
                           (["-c", "/nonexistent.conf", "collect", "extra"], 64)):
            r = self.digest(*args)
            check(r.code == code, f"{args}: exit {r.code}, want {code}")
            check(len(r.err_lines) >= 1, f"{args}: no message on stderr")
        d = self.testdir("cli-date")
        conf = self.conf(d, base=self.portal["base"])
        for bad in ("2026-02-30", "tomorrow", "2999-01-01"):
            r = self.digest("collect", "--date", bad, conf=conf)
            check(r.code == 64, f"--date {bad}: exit {r.code}, want 64")
            check(bad in r.err, f"--date {bad}: the message does not name it: {short(r.err)}")

    def t_gzip_and_user_agent(self):
        """Bodies are asked for and read gzip-compressed; the User-Agent
        names the program and its version."""
        site = self.site("portal-gz", base=f"{self.root}gzip/portal-gz/")
        d = self.testdir("gzip")
        conf = self.conf(d, base=site["base"])
        r = self.collect(conf)
        self.check_ranking(r, site)
        d = self.testdir("ua")
        conf = self.minimal_conf(d, f"{self.root}ua.html")
        r = self.collect(conf)
        version = self.digest("--version").out.split()[-1]
        check(len(r.titles()) == 1 and r.titles()[0].startswith(f"digest/{version}"),
              f"User-Agent seen by the server: {r.titles()!r}, want digest/{version} ...")

    def t_https_verified_by_default(self):
        """A self-signed certificate is refused unless fetch.tls_verify = false."""
        if not shutil.which("openssl"):
            raise Skip("no openssl to make a certificate")
        pem = os.path.join(self.tmp, "tls.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", pem, "-out", pem + ".crt"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(pem, "a") as f, open(pem + ".crt") as c:
            f.write(c.read())
        tls = subprocess.Popen([PY, os.path.join(HERE, "httpd.py"), self.www, "--tls", pem],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            port = int(tls.stdout.readline().decode().strip() or 0)
            check(port > 0, "the HTTPS server did not start")
            url = f"https://127.0.0.1:{port}/ua.html"
            d = self.testdir("https")
            conf = self.minimal_conf(d, url)
            r = self.collect(conf, code=EX_UNAVAILABLE)
            self.check_one_error(r, "min", url)
            check(any("certificate" in ln.lower() or "ssl" in ln.lower() or "tls" in ln.lower()
                      for ln in r.err_lines), f"the error does not say why: {short(r.err)}")
            d = self.testdir("https-noverify")
            conf = self.minimal_conf(d, url)
            with open(conf, encoding="utf-8") as f:
                text = f.read()
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text.replace("max_body = 10000000;", "max_body = 10000000; tls_verify = false;"))
            r = self.collect(conf)
            check(r.titles() and r.titles()[0].startswith("digest/"), f"over HTTPS: {r.titles()!r}")
        finally:
            os.kill(tls.pid, signal.SIGTERM)
            tls.wait(5)

    def follow_site(self):
        """www/follow/: a listing of 5 items whose views are only on their
        pages (views 100..500), and an RSS feed of the same links."""
        root = os.path.join(self.www, "follow")
        if os.path.isdir(root):
            return
        os.makedirs(root)
        now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
        items, feed = [], []
        for i in range(1, 6):
            when = now - dt.timedelta(minutes=10 * i)
            items.append(f"<li><a href='/follow/a{i}.html'>Follow {i}</a><time>{when.isoformat()}</time></li>")
            feed.append(f"<item><title>Follow {i}</title><link>{self.root}follow/a{i}.html?utm_source=rss</link>"
                        f"<pubDate>{when.strftime('%a, %d %b %Y %H:%M:%S %z')}</pubDate></item>")
            with open(os.path.join(root, f"a{i}.html"), "w", encoding="utf-8") as f:
                f.write(f"<html><body><h1>Follow {i}</h1><span class='v'>{i * 100}</span></body></html>")
        with open(os.path.join(root, "index.html"), "w", encoding="utf-8") as f:
            f.write("<html><body><ul>" + "".join(items) + "</ul></body></html>")
        with open(os.path.join(root, "rss.xml"), "w", encoding="utf-8") as f:
            f.write("<?xml version='1.0'?><rss version='2.0'><channel><title>f</title>"
                    + "".join(feed) + "</channel></rss>")

    def follow_conf(self, d, fetch="", source="", sources=None, listing=None):
        listing = listing or f"{self.root}follow/index.html"
        html = (f'{{ name = "html"; url = "{listing}"; item = "//li"; published = "time"; follow = true;'
                f' article = {{ views = "//span[@class=\'v\']"; }}; {source} }}')
        return self.conf(d, text=f"""
newsletter = {{ timezone = "Europe/Moscow"; }};
fetch = {{ timeout = 10; {fetch} }};
sources = ( {sources or html} );
""")

    def t_follow_reads_article_pages(self):
        self.follow_site()
        d = self.testdir("follow")
        r = self.collect(self.follow_conf(d))
        check(r.titles() == [f"Follow {i}" for i in range(5, 0, -1)], f"ranking by views: {r.titles()}")
        check([x["views"] for x in r.rows()] == ["500", "400", "300", "200", "100"], f"views: {r.rows()}")

    def t_follow_private_addresses_denied(self):
        """With fetch.private_addresses = "deny", links found on a page never
        reach a loopback address; the configured page itself still does."""
        self.follow_site()
        d = self.testdir("follow-deny")
        r = self.collect(self.follow_conf(d, fetch='private_addresses = "deny";'))
        check(sorted(r.titles()) == [f"Follow {i}" for i in range(1, 6)], f"titles: {r.titles()}")
        check(all(x["views"] == "-" for x in r.rows()), f"article pages were read: {r.rows()}")
        refused = [ln for ln in r.err_lines if "private" in ln]
        check(len(refused) == 5, f"want 5 refusals naming the reason, got: {short(r.err)}")

    def t_follow_capped_by_max_follow(self):
        self.follow_site()
        d = self.testdir("follow-cap")
        r = self.collect(self.follow_conf(d, source="max_follow = 2;"))
        known = [x for x in r.rows() if x["views"] != "-"]
        check(len(known) == 2, f"want 2 articles with views (max_follow = 2): {r.rows()}")
        check(sum("max_follow" in ln for ln in r.err_lines) == 1, f"no single max_follow warning: {short(r.err)}")

    def t_follow_by_a_later_source(self):
        """The feed (fast) finds the links first; the listing (slow) that can
        open their pages still does so: views do not depend on timing."""
        self.follow_site()
        d = self.testdir("follow-merge")
        slow = f"{self.root}delay/400/follow/index.html"
        html = (f'{{ name = "html"; url = "{slow}"; item = "//li"; published = "time"; follow = true;'
                f' article = {{ views = "//span[@class=\'v\']"; }}; }}')
        feed = f'{{ name = "feed"; type = "rss"; url = "{self.root}follow/rss.xml"; }}'
        r = self.collect(self.follow_conf(d, sources=f"{feed}, {html}"))
        check([x["views"] for x in r.rows()] == ["500", "400", "300", "200", "100"], f"views: {r.rows()}")
        check(len(r.titles()) == 5, f"merged: {r.titles()}")

    def t_two_sources_one_listing_paginate(self):
        """Two sources reading the same listing with other selectors each
        follow its `next` pages."""
        root = os.path.join(self.www, "shared")
        os.makedirs(root, exist_ok=True)
        now = dt.datetime.now(ZoneInfo("Europe/Moscow"))
        for page, nxt in (("index.html", "p2.html"), ("p2.html", None)):
            lis = "".join(f"<li class='{c}'><a href='/{page}-{c}'>{c.upper()} {page}</a>"
                          f"<time>{(now - dt.timedelta(minutes=5)).isoformat()}</time></li>" for c in ("a", "b"))
            more = f"<a rel='next' href='{nxt}'>next</a>" if nxt else ""
            with open(os.path.join(root, page), "w", encoding="utf-8") as f:
                f.write(f"<html><body><ul>{lis}</ul>{more}</body></html>")
        url = f"{self.root}shared/index.html"
        srcs = ", ".join(f'{{ name = "{c}"; url = "{url}"; item = "//li[@class=\'{c}\']"; published = "time";'
                         f' next = "//a[@rel=\'next\']/@href"; }}' for c in ("a", "b"))
        d = self.testdir("shared")
        r = self.collect(self.follow_conf(d, sources=srcs), "--all")
        want = sorted(f"{c.upper()} {p}" for c in ("a", "b") for p in ("index.html", "p2.html"))
        check(sorted(r.titles()) == want, f"titles {sorted(r.titles())}, want {want}")

    def t_fetch_deadline(self):
        """fetch.deadline bounds a whole run: a transfer still going then is
        reported and skipped, though its own timeout is longer."""
        d = self.testdir("deadline")
        url = f"{self.root}slow"
        conf = self.conf(d, text=f"""
fetch = {{ timeout = 60; deadline = 2; }};
sources = ( {{ name = "sluggish"; url = "{url}"; item = "//p"; }} );
""")
        r = self.collect(conf, code=EX_UNAVAILABLE)
        self.check_one_error(r, "sluggish", url)
        check("deadline" in r.err, f"the error does not name the deadline: {short(r.err)}")
        check(r.elapsed < SLOW_SECONDS, f"took {r.elapsed:.1f} s: the deadline did not stop it")

    # ------------------------------------------------------------ runner
    def tests(self):
        names = [n for cls in (Suite, JobTests, ServeTests, SmtpTests, StoreTests, AddressTests, FetchTests,
                               ArchiveTests, DkimTests, InboundTests, FeedsTests, MailLoopTests,
                               AdminTests, ConsentTests, ImportTests, InstallTests)
                 for n in vars(cls) if n.startswith("t_")]
        return [(n[2:], getattr(self, n)) for n in names]


def short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "…"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("-k", dest="only")
    ap.add_argument("--keep", action="store_true")
    opts = ap.parse_args()

    # a SIGTERM (e.g. a CI time limit) still stops httpd.py and cleans up
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    suite = Suite(opts)
    passed = failed = 0
    t0 = time.monotonic()
    try:
        try:
            suite.setup()
        except Exception as e:  # noqa: BLE001
            print(f"FAIL setup: {e}")
            failed += 1
            tests = []
        else:
            tests = [(n, f) for n, f in suite.tests() if not opts.only or opts.only in n]
        if not os.access(DIGEST, os.X_OK):
            print(f"# no executable digest at {DIGEST}: every test will fail (set DIGEST)")
        for name, fn in tests:
            suite.last = None
            t1 = time.monotonic()
            try:
                fn()
            except Skip as e:
                print(f"skip {name}: {e}", flush=True)
                continue
            except Fail as e:
                failed += 1
                print(f"FAIL {name}: {str(e).replace(chr(10), ' ')}", flush=True)
                if opts.verbose and suite.last:
                    print("    " + suite.last.describe().replace("\n", "\n    "))
            except Exception as e:  # noqa: BLE001  a bug in the test itself
                failed += 1
                print(f"FAIL {name}: test error: {e!r}", flush=True)
                if opts.verbose:
                    traceback.print_exc(file=sys.stdout)
            else:
                passed += 1
                extra = f" ({time.monotonic() - t1:.1f} s)" if opts.verbose else ""
                print(f"ok {name}{extra}", flush=True)
    finally:
        suite.stop_httpd()
        if opts.keep:
            print(f"# kept {suite.tmp}")
        else:
            shutil.rmtree(suite.tmp, ignore_errors=True)
    if opts.verbose:
        print(f"# {time.monotonic() - t0:.1f} s")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
