"""Integration tests of the daily job: `run`, `preview`, `status` and the
subscriber commands, delivering to a Maildir or to a real SMTP server
(tests/integration/smtpd.py, aiosmtpd) on 127.0.0.1.

A mixin of run.py's Suite: it uses the Suite's helpers (site(), conf(),
digest(), testdir()) and run.py imports this file once its Fail, Skip and
check() are defined.
"""

import base64
import csv
import datetime as dt
import email
import email.policy
import email.utils
import html
import html.parser
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import time
import urllib.request
from zoneinfo import ZoneInfo

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, HERE, REPO, SANITIZER, Fail, Skip, check
else:  # run.py imported as the module `run`
    from run import DIGEST, HERE, REPO, SANITIZER, Fail, Skip, check

SMTPD = os.path.join(HERE, "smtpd.py")
EX_TEMPFAIL, EX_DATAERR = 75, 65
TZ = ZoneInfo("Europe/Moscow")     # the portal config's newsletter zone
BASE_URL = "http://127.0.0.1:8080/digest"   # newsletter.base_url of portal.conf.in
LIST_ID = "daily.test.example.org"
PORTAL_DELIVERY = 'delivery = { transport = "maildir"; maildir = "var/outbox"; };'

SUMMARY = re.compile(r"^edition (\d{4}-\d\d-\d\d): (\d+) articles?; (\d+) subscribers?: (\d+) sent, "
                     r"(\d+) deferred, (\d+) failed in (\d+(?:\.\d+)?) s \((\d+(?:\.\d+)?) msg/s\)", re.M)
MSGID = re.compile(r"^<digest\.(\d{4}-\d\d-\d\d)\.([^@<>\s]+)@([^<>\s]+)>$")

# Cyrillic (and one Latin) display names for generated subscribers
NAMES = ["Анна Иванова", "Пётр Сидоров", "Ёлка Щукина", "Иван Петров", "Мария-Луиза Ким",
         "John Smith", "Юлия Эйхман", "Фёдор Чжан"]


def short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "…"


def free_port():
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_eml(data):
    return email.message_from_bytes(data, policy=email.policy.default)


def squash(s):
    return " ".join(s.split())


class _TextOf(html.parser.HTMLParser):
    """The text content of an HTML document (entities decoded), without
    <style> and <title>."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.skip = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "title"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title") and self.skip:
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(data)


def html_text(doc):
    p = _TextOf()
    p.feed(doc)
    p.close()
    return squash(" ".join(p.parts))


def html_links(doc):
    """Every href of DOC, entities decoded."""
    return [html.unescape(h) for h in re.findall(r'href\s*=\s*"([^"]*)"', doc)]


class Smtpd:
    """tests/integration/smtpd.py on 127.0.0.1: started on a free port (or
    PORT), messages saved under OUT. Use as a context manager, or call
    stop() in a finally."""

    def __init__(self, d, *args, port=0, name="smtpd"):
        self.out = os.path.join(d, name)
        self.portfile = os.path.join(d, f"{name}.port")
        self.errlog = os.path.join(d, f"{name}.stderr")
        self.args = list(args)
        self.port = port
        self.proc = None
        self.start()

    def start(self):
        if os.path.exists(self.portfile):
            os.unlink(self.portfile)
        with open(self.errlog, "ab") as err:
            self.proc = subprocess.Popen(
                ["/usr/bin/python3", SMTPD, "--port", str(self.port), "--portfile", self.portfile,
                 "--out", self.out, *self.args],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if os.path.exists(self.portfile):
                with open(self.portfile) as f:
                    text = f.read().strip()
                if text.isdigit():
                    self.port = int(text)
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.stop()
        with open(self.errlog, errors="replace") as f:
            said = f.read()
        raise Fail(f"smtpd.py {' '.join(self.args)} did not start: {short(said)}")

    def stop(self):
        p, self.proc = self.proc, None
        if p is None or p.poll() is not None:
            return
        try:
            os.kill(p.pid, signal.SIGTERM)
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        """The log.jsonl entries, in order."""
        path = os.path.join(self.out, "log.jsonl")
        if not os.path.exists(path):
            return []
        with open(path, encoding="utf-8") as f:
            return [json.loads(ln) for ln in f if ln.strip()]

    def count(self):
        """How many messages were saved (cheaper than len(log()) in a loop)."""
        try:
            with open(os.path.join(self.out, "log.jsonl"), "rb") as f:
                return f.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def messages(self):
        """[(log entry, parsed message, raw bytes)] in arrival order."""
        res = []
        for e in self.log():
            with open(os.path.join(self.out, e["file"]), "rb") as f:
                raw = f.read()
            res.append((e, parse_eml(raw), raw))
        return res

    def rcpt_counts(self):
        counts = {}
        for e in self.log():
            for r in e["rcpt_tos"]:
                counts[r.lower()] = counts.get(r.lower(), 0) + 1
        return counts


class JobTests:
    # ------------------------------------------------------------ helpers
    def need_smtpd(self):
        if not hasattr(self, "_smtpd_ok"):
            p = subprocess.run(["/usr/bin/python3", "-c", "import aiosmtpd"], capture_output=True)
            self._smtpd_ok = p.returncode == 0 and os.path.exists(SMTPD)
        if not self._smtpd_ok:
            raise Skip("tests/integration/smtpd.py or Debian's python3-aiosmtpd is missing")

    def smtpd(self, d, *args, **kw):
        self.need_smtpd()
        return Smtpd(d, *args, **kw)

    def cert(self, d):
        """A self-signed certificate for 127.0.0.1 (made in D once per suite):
        (cert, key)."""
        if getattr(self, "_cert", None):
            return self._cert
        if not shutil.which("openssl"):
            raise Skip("no openssl to make a certificate")
        crt, key = os.path.join(d, "smtp-cert.pem"), os.path.join(d, "smtp-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                        "-keyout", key, "-out", crt],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._cert = (crt, key)
        return self._cert

    def job_conf(self, d, port=None, smtp="", transport="smtp", site=None, digest="", newsletter="",
                 subs_extra=()):
        """D/digest.conf: portal.conf.in over SITE (the portal by default),
        delivering over SMTP to 127.0.0.1:PORT (plain, 2 connections, short
        timeouts; SMTP adds keys) or to the Maildir var/outbox."""
        site = site or self.portal
        if transport == "maildir":
            delivery = PORTAL_DELIVERY
        else:
            keys = dict(host='"127.0.0.1"', port=str(port), security='"none"', connections="2",
                        retry_delay="0.2", timeout="3")
            keys.update(re.findall(r"(\w+)\s*=\s*([^;]+?)\s*;", smtp))   # SMTP's keys win
            delivery = ('delivery = { transport = "smtp"; smtp = { '
                        + " ".join(f"{k} = {v};" for k, v in keys.items()) + " }; };")
        subs = [(PORTAL_DELIVERY, delivery)]
        if digest:
            subs.append(("send_empty = false; };", f"{digest} }};"))
        if newsletter:
            subs.append((f'list_id  = "{LIST_ID}";', f'list_id  = "{LIST_ID}"; {newsletter}'))
        return self.conf(d, base=site["base"], subs=subs + list(subs_extra))

    def add_subscribers(self, d, conf, n=0, prefix="r", csv_rows=(), domain="example.net"):
        """Import N active subscribers PREFIX1@DOMAIN ... (`Name <addr>`
        lines, Cyrillic names) and CSV_ROWS ((email, name, status) through a
        CSV with a header). Returns {email: name} of the active ones."""
        active = {}
        if n:
            path = os.path.join(d, f"subs-{prefix}.txt")
            with open(path, "w", encoding="utf-8") as f:
                for i in range(1, n + 1):
                    addr, name = f"{prefix}{i}@{domain}", NAMES[(i - 1) % len(NAMES)]
                    f.write(f"{name} <{addr}>\n")
                    active[addr] = name
            r = self.digest("subscribers", "import", path, conf=conf)
            check(r.code == 0, f"subscribers import: exit {r.code}: {short(r.err)}")
        if csv_rows:
            path = os.path.join(d, f"subs-{prefix}.csv")
            with open(path, "w", encoding="utf-8", newline="") as f:
                w = csv.writer(f)
                w.writerow(["email", "name", "status"])
                w.writerows(csv_rows)
            r = self.digest("subscribers", "import", path, conf=conf)
            check(r.code == 0, f"subscribers import (CSV): exit {r.code}: {short(r.err)}")
            active.update({e: nm for e, nm, st in csv_rows if st == "active"})
        return active

    def db(self, d):
        return os.path.join(d, "var", "digest.db")

    def journal(self, d, edition=None):
        """[(edition, email, state, attempts)] of the deliveries table."""
        path = self.db(d)
        if not os.path.exists(path):
            return []
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            q = ("SELECT d.edition, s.email, d.state, d.attempts FROM deliveries d "
                 "JOIN subscribers s ON s.id = d.subscriber_id")
            rows = con.execute(q + (" WHERE d.edition = ?" if edition else ""),
                               (edition,) if edition else ()).fetchall()
        finally:
            con.close()
        return rows

    def summary(self, r):
        """The run's summary line, parsed (and checked for consistency)."""
        m = None
        for m in SUMMARY.finditer(r.err):
            pass
        loose = re.findall(r"^edition .*$", r.err, re.M)
        check(m or not loose, f"the summary line does not have the form `edition YYYY-MM-DD: N articles; "
              f"N subscribers: N sent, N deferred, N failed in S s (R msg/s)`: {loose[-1]!r}" if loose else "")
        check(m, f"no summary line `edition D: N articles; N subscribers: N sent, N deferred, N failed "
              f"in S s (R msg/s)` in stderr: {short(r.err)}")
        s = dict(edition=m.group(1), articles=int(m.group(2)), subscribers=int(m.group(3)),
                 sent=int(m.group(4)), deferred=int(m.group(5)), failed=int(m.group(6)))
        last = r.err_lines[-1] if r.err_lines else ""
        check(SUMMARY.match(last), f"the summary is not the last line of stderr: {last!r}")
        check(s["subscribers"] == s["sent"] + s["deferred"] + s["failed"],
              f"summary: {s['subscribers']} subscribers != sent + deferred + failed: {m.group(0)!r}")
        return s

    def run_job(self, conf, *args, code=0, **kw):
        r = self.digest("run", *args, conf=conf, **kw)
        check(r.code == code, f"run {' '.join(args)}: exit {r.code}, want {code}; stderr: {short(r.err)}")
        return r

    def popen_digest(self, conf, *args):
        return subprocess.Popen([DIGEST, "-c", conf, *args], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE,
                                env={k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"})

    def finish(self, proc, what, timeout=40):
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise Fail(f"{what} still running after {timeout} s")
        err = err.decode("utf-8", "replace")
        m = SANITIZER.search(err)
        check(not m, f"{what}: sanitizer/crash report: {err[max(0, m.start() - 80):m.end() + 200]!r}"
              if m else "")
        return proc.returncode, err

    def delay_site(self):
        """A portal site read through httpd's /delay/1/ (counted in /stats)."""
        if not hasattr(self, "_delay_site"):
            self._delay_site = self.site("portal-d1", base=f"{self.root}delay/1/portal-d1/")
        return self._delay_site

    def stats(self, reset=False):
        url = self.root + ("stats?reset=1" if reset else "stats")
        return json.loads(urllib.request.urlopen(url, timeout=5).read())

    def today(self):
        return dt.datetime.now(TZ).date()

    def check_message(self, msg, raw, rcpt, name=None, titles=None, top=None):
        """The structure and headers of one digest message to RCPT; returns
        {"unsub", "msgid", "text", "html"}."""
        who = f"message to {rcpt}"
        head = raw.split(b"\r\n\r\n", 1)[0] if b"\r\n\r\n" in raw else raw.split(b"\n\n", 1)[0]
        bad = [c for c in head if c >= 0x80]
        check(not bad, f"{who}: raw 8-bit bytes in the header (not RFC 2047 encoded): "
              f"{head[:300]!r}")
        long_lines = [ln for ln in raw.splitlines() if len(ln) > 998]
        check(not long_lines, f"{who}: {len(long_lines)} lines over 998 octets")
        for h in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "List-Id",
                  "List-Unsubscribe", "List-Unsubscribe-Post"):
            check(msg[h] is not None, f"{who}: no {h} header")
            check(len(msg.get_all(h)) == 1, f"{who}: {len(msg.get_all(h))} {h} headers")
        check(str(msg["List-Unsubscribe-Post"]).strip() == "List-Unsubscribe=One-Click",
              f"{who}: List-Unsubscribe-Post: {msg['List-Unsubscribe-Post']!r}")
        check(LIST_ID in str(msg["List-Id"]), f"{who}: List-Id {msg['List-Id']!r} does not name {LIST_ID}")
        check(email.utils.parsedate_to_datetime(str(msg["Date"])) is not None, f"{who}: Date {msg['Date']!r}")
        frm = msg["From"].addresses
        check(len(frm) == 1 and frm[0].addr_spec == "digest@example.org", f"{who}: From {msg['From']!r}")
        to = msg["To"].addresses
        check(len(to) == 1 and to[0].addr_spec.lower() == rcpt.lower(), f"{who}: To is {str(msg['To'])!r}")
        if name is not None:
            check(to[0].display_name == name, f"{who}: To display name {to[0].display_name!r}, want {name!r}")
        msgid = str(msg["Message-ID"]).strip()
        check(MSGID.match(msgid), f"{who}: Message-ID {msgid!r} is not <digest.DATE.NONCE@domain>")
        subject = squash(str(msg["Subject"]))
        if top is not None:
            check(squash(top) in subject, f"{who}: Subject {subject!r} does not contain the top article "
                  f"{top!r}")
        lu = str(msg["List-Unsubscribe"])
        links = re.findall(r"<([^<>]+)>", lu)
        https = [u for u in links if u.startswith(("http://", "https://"))]
        mailto = [u for u in links if u.startswith("mailto:")]
        check(len(https) == 1 and len(mailto) == 1, f"{who}: List-Unsubscribe {lu!r}: want one "
              "<http(s)://...> and one <mailto:...>")
        unsub = https[0]
        check(unsub.startswith(BASE_URL + "/unsubscribe?t=") and len(unsub) > len(BASE_URL) + 20,
              f"{who}: unsubscribe link {unsub!r} is not {BASE_URL}/unsubscribe?t=TOKEN")
        # multipart/alternative: text/plain, then text/html, both utf-8
        check(msg.get_content_type() == "multipart/alternative",
              f"{who}: Content-Type {msg.get_content_type()}, want multipart/alternative")
        parts = list(msg.iter_parts())
        types = [p.get_content_type() for p in parts]
        check(types == ["text/plain", "text/html"], f"{who}: parts {types}, want text/plain then text/html")
        for p in parts:
            check((p.get_content_charset() or "").lower() == "utf-8",
                  f"{who}: {p.get_content_type()} charset {p.get_content_charset()!r}")
            cte = str(p.get("Content-Transfer-Encoding", "")).lower()
            check(cte in ("quoted-printable", "base64"), f"{who}: {p.get_content_type()} encoded {cte!r}")
        text, doc = parts[0].get_content(), parts[1].get_content()
        # the text part: 72 columns, but for a lone long word (a URL)
        over = [ln for ln in text.splitlines() if len(ln) > 72 and len(ln.split()) > 1]
        check(not over, f"{who}: text lines over 72 columns: {over[:3]}")
        check(unsub in text, f"{who}: the text part does not carry the unsubscribe link {unsub}")
        check(unsub in html_links(doc), f"{who}: the HTML part has no href to the unsubscribe link {unsub}")
        words = html_text(doc)
        for t in titles or ():
            check(squash(t) in squash(text), f"{who}: title {t!r} missing from the text part")
            check(squash(t) in words, f"{who}: title {t!r} missing from the HTML part's text")
            if any(c in t for c in "&<>\""):
                check(t not in doc, f"{who}: title {t!r} appears unescaped in the HTML")
        check("<испытания>" not in doc, f"{who}: `<испытания>` from a page title is raw HTML")
        return dict(unsub=unsub, msgid=msgid, text=text, html=doc, subject=subject)

    def selection(self, msg):
        """The article links of a digest message (its HTML part's hrefs but for
        the reader's own links)."""
        doc = list(msg.iter_parts())[1].get_content()
        links = [h for h in html_links(doc) if "/unsubscribe" not in h and "/preview" not in h
                 and "/archive/" not in h and not h.startswith("mailto:")]
        return tuple(dict.fromkeys(links))  # in order, each once

    def check_once_each(self, srv, rcpts, dups=0, what=""):
        """Every address of RCPTS got the edition, none other did, and at most
        DUPS messages were repeats."""
        counts = srv.rcpt_counts()
        want = {a.lower() for a in rcpts}
        missing = sorted(want - set(counts))
        extra = sorted(set(counts) - want)
        check(not missing, f"{what}no message for {missing}")
        check(not extra, f"{what}messages to addresses that must get none: {extra}")
        repeats = sum(c - 1 for c in counts.values())
        check(repeats <= dups, f"{what}{repeats} duplicate messages (at most {dups} allowed): "
              f"{ {a: c for a, c in counts.items() if c > 1} }")
        for e in srv.log():
            check(len(e["rcpt_tos"]) == 1, f"{what}one message for several recipients: {e['rcpt_tos']}")
        return counts

    def status_row(self, conf, edition):
        """`digest status`: the numbers of EDITION's row by the header's names."""
        r = self.digest("status", conf=conf)
        check(r.code == 0, f"status: exit {r.code}: {short(r.err)}")
        lines = r.out.splitlines()
        hdr = next((ln for ln in lines if re.search(r"\bsent\b", ln)), None)
        row = next((ln for ln in lines if ln.lstrip().startswith(edition)), None)
        check(hdr and row, f"status: no header or no row for edition {edition}: {short(r.out)}")
        names = [w for w in hdr.split() if w not in ("edition", "built", "date")]
        rest = re.sub(r"\d{4}-\d\d-\d\d( \d\d:\d\d(:\d\d)?)?", " ", row)
        nums = re.findall(r"\d+", rest)
        check(len(nums) == len(names), f"status: cannot read the row {row!r} under {hdr!r}")
        return {k: int(v) for k, v in zip(names, nums)}, r

    # ------------------------------------------------------------ 1. maildir
    def t_job_maildir(self):
        d = self.testdir("job-maildir")
        conf = self.job_conf(d, transport="maildir", newsletter='reply_to = "editors@example.org";')
        subs = self.add_subscribers(d, conf, n=4, csv_rows=[
            ("pending@example.net", "Ожидающий Подтверждения", "pending"),
            ("gone@example.net", "Ушедший", "unsubscribed")])
        r = self.digest("subscribe", "solo@example.net", "--name", "Соло Одиночкин", "--confirmed", conf=conf)
        check(r.code == 0, f"subscribe --confirmed: exit {r.code}: {short(r.err)}")
        subs["solo@example.net"] = "Соло Одиночкин"
        r = self.run_job(conf, "--dry-run")
        outbox = os.path.join(d, "var", "outbox")
        wrote = os.listdir(os.path.join(outbox, "new")) if os.path.isdir(os.path.join(outbox, "new")) else []
        check(not wrote, f"run --dry-run delivered {len(wrote)} messages")
        check(not self.journal(d), "run --dry-run wrote deliveries")
        shown = [t for t in self.portal["expected"] if t in r.out]
        check(len(shown) == len(self.portal["expected"]), f"run --dry-run does not print the selection: "
              f"{short(r.out)}")
        r = self.run_job(conf)
        s = self.summary(r)
        n = len(subs)
        check((s["sent"], s["deferred"], s["failed"], s["subscribers"]) == (n, 0, 0, n),
              f"summary: {s}, want {n} sent")
        check(s["articles"] == len(self.portal["expected"]), f"summary: {s['articles']} articles, want "
              f"{len(self.portal['expected'])}")
        new = sorted(os.listdir(os.path.join(outbox, "new")))
        tmp = os.listdir(os.path.join(outbox, "tmp"))
        check(len(new) == n, f"{len(new)} files in var/outbox/new, want {n} (one per active subscriber)")
        check(not tmp, f"files left in var/outbox/tmp: {tmp}")
        seen, unsubs, msgids = {}, set(), set()
        for fn in new:
            with open(os.path.join(outbox, "new", fn), "rb") as f:
                raw = f.read()
            msg = parse_eml(raw)
            to = msg["To"].addresses[0].addr_spec if msg["To"] and msg["To"].addresses else None
            check(to in subs, f"{fn}: To {str(msg['To'])!r} is no active subscriber")
            check(to not in seen, f"two messages to {to}")
            info = self.check_message(msg, raw, to, name=subs[to], titles=self.portal["expected"],
                                      top=self.portal["expected"][0])
            check(str(msg["Reply-To"] or "").strip() == "editors@example.org",
                  f"Reply-To {msg['Reply-To']!r}, want editors@example.org")
            check(MSGID.match(info["msgid"]).group(1) == s["edition"],
                  f"Message-ID {info['msgid']} does not carry the edition {s['edition']}")
            seen[to] = info
            unsubs.add(info["unsub"])
            msgids.add(info["msgid"])
        check(len(unsubs) == n, f"unsubscribe links not unique per reader: {len(unsubs)} for {n} readers")
        check(len(msgids) == n, f"Message-IDs not unique per reader: {len(msgids)} for {n} readers")
        # rerun: nothing more
        r = self.run_job(conf)
        left = os.listdir(os.path.join(outbox, "new"))
        check(len(left) == n, f"a second run of the edition wrote {len(left) - n} more messages")
        # an edition with no article (a long-past day): nothing sent, exit 0
        r = self.run_job(conf, "--date", "2020-01-01")
        left = os.listdir(os.path.join(outbox, "new"))
        check(len(left) == n, f"an edition with no article was sent ({len(left) - n} messages)")
        st, r = self.status_row(conf, s["edition"])
        check(st.get("sent") == n, f"status: edition {s['edition']}: {st}, want sent = {n}")
        for word, want in (("active", n), ("pending", 1), ("unsubscribed", 1)):
            m = re.search(r"(\d+)\s+" + word, r.out)
            check(m and int(m.group(1)) == want, f"status: want {want} {word} subscribers: {short(r.out)}")
        rows = self.journal(d, s["edition"])
        check(sorted(e for _, e, state, _ in rows if state == "sent") == sorted(subs),
              f"journal: {rows}")

    # ------------------------------------------------------------ 2. SMTP
    def t_job_smtp_basic(self):
        d = self.testdir("job-smtp")
        with self.smtpd(d) as srv:
            conf = self.job_conf(d, srv.port, smtp='envelope_from = "bounces@example.org";')
            subs = self.add_subscribers(d, conf, n=2, csv_rows=[
                ("csv1@example.net", "Фёдор Достоевский", "active"),
                ("quote@example.net", 'O\'Brien, "Jack" <x>', "active"),
                ("waiting@example.net", "Ждущий", "pending"),
                ("left@example.net", "Ушедшая", "unsubscribed")])
            check(len(subs) == 4, "test bug")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"], s["subscribers"]) == (4, 0, 0, 4),
                  f"summary {s}, want 4 subscribers, 4 sent")
            self.check_once_each(srv, subs)
            unsubs, senders = set(), set()
            for e, msg, raw in srv.messages():
                rcpt = e["rcpt_tos"][0]
                check(re.fullmatch(r"bounces\+b-[a-z2-7]{29}@example\.org", e["mail_from"]),
                      f"MAIL FROM {e['mail_from']!r}, want the VERP form of delivery.smtp.envelope_from "
                      "bounces@example.org: bounces+b-TOKEN@example.org")
                senders.add(e["mail_from"])
                info = self.check_message(msg, raw, rcpt, name=subs[rcpt], top=self.portal["expected"][0])
                bare = raw.replace(b"\r\n", b"")
                check(b"\n" not in bare and b"\r" not in bare, f"message to {rcpt}: bare LF or CR in what "
                      "went over SMTP (lines must end in CRLF)")
                unsubs.add(info["unsub"])
                check(squash(subs[rcpt]) in squash(info["text"]) and squash(subs[rcpt]) in html_text(info["html"]),
                      f"message to {rcpt}: the reader's name {subs[rcpt]!r} is not in both parts")
            check(len(unsubs) == 4, f"unsubscribe links not personal: {len(unsubs)} distinct for 4")
            check(len(senders) == 4, f"envelope senders not personal (VERP): {len(senders)} distinct for 4")
            rows = self.journal(d, s["edition"])
            check(len(rows) == 4 and all(state == "sent" for _, _, state, _ in rows),
                  f"journal rows {rows}, want 4 'sent'")
            check(not {"waiting@example.net", "left@example.net"} & {e for _, e, _, _ in rows},
                  f"journal rows for pending/unsubscribed: {rows}")

    # ------------------------------------------------------------ 3. TLS
    def t_job_starttls(self):
        d = self.testdir("job-starttls")
        crt, key = self.cert(d)
        with self.smtpd(d, "--starttls", crt, key) as srv:
            # a self-signed certificate is refused by default
            d1 = self.testdir("job-starttls-verify")
            conf = self.job_conf(d1, srv.port, smtp='security = "starttls";')
            subs = self.add_subscribers(d1, conf, n=2)
            r = self.digest("run", conf=conf)
            # not a temporary failure: cron's reruns would meet the same
            # certificate (SPEC: 69, with a line saying what to fix)
            check(r.code == 69, f"STARTTLS to a self-signed certificate: exit {r.code}, want 69; "
                  f"stderr: {short(r.err)}")
            check("delivery.smtp.ca_file" in r.err, f"no line saying what to fix: {short(r.err)}")
            check("certificate" in r.err.lower(), f"the error does not mention the certificate: {short(r.err)}")
            check(not srv.log(), f"{len(srv.log())} messages delivered despite the certificate")
            check(not [x for x in self.journal(d1) if x[2] == "sent"], "journal says sent")
            self.summary(r)
            # accepted with tls_verify = false
            d2 = self.testdir("job-starttls-noverify")
            conf = self.job_conf(d2, srv.port, smtp='security = "starttls"; tls_verify = false;')
            subs = self.add_subscribers(d2, conf, n=2, prefix="nv")
            self.run_job(conf)
            self.check_once_each(srv, subs)
            # accepted with ca_file = the certificate
            d3 = self.testdir("job-starttls-cafile")
            conf = self.job_conf(d3, srv.port, smtp=f'security = "starttls"; ca_file = "{crt}";')
            subs.update(self.add_subscribers(d3, conf, n=2, prefix="ca"))
            self.run_job(conf)
            self.check_once_each(srv, subs, what="ca_file: ")
        with self.smtpd(d, "--tls", crt, key, name="smtpd-tls") as srv:
            d4 = self.testdir("job-implicit-tls")
            conf = self.job_conf(d4, srv.port, smtp='security = "tls"; tls_verify = false;')
            subs = self.add_subscribers(d4, conf, n=2, prefix="tls")
            self.run_job(conf)
            self.check_once_each(srv, subs, what="implicit TLS: ")

    # ------------------------------------------------------------ 4. AUTH
    def t_job_auth(self):
        d = self.testdir("job-auth")
        crt, key = self.cert(d)
        user, pw = "digestuser", "S3cr3t-pa55"
        with self.smtpd(d, "--starttls", crt, key, "--auth", f"{user}:{pw}") as srv:
            tls = f'security = "starttls"; tls_verify = false; username = "{user}";'
            d1 = self.testdir("job-auth-file")
            with open(os.path.join(d1, "smtp-password"), "w") as f:
                f.write(pw + "\n")
            conf = self.job_conf(d1, srv.port, smtp=tls + ' password_file = "smtp-password";')
            subs = self.add_subscribers(d1, conf, n=2, prefix="pf")
            self.run_job(conf)
            self.check_once_each(srv, subs, what="password_file: ")
            d2 = self.testdir("job-auth-env")
            conf = self.job_conf(d2, srv.port, smtp=tls)
            subs.update(self.add_subscribers(d2, conf, n=2, prefix="env"))
            self.run_job(conf, env={"DIGEST_SMTP_PASSWORD": pw})
            self.check_once_each(srv, subs, what="$DIGEST_SMTP_PASSWORD: ")
            # a wrong password: nothing sent, and never shown
            d3 = self.testdir("job-auth-wrong")
            wrong = "Wr0ng-Guess-42"
            with open(os.path.join(d3, "smtp-password"), "w") as f:
                f.write(wrong + "\n")
            conf = self.job_conf(d3, srv.port, smtp=tls + ' password_file = "smtp-password";')
            self.add_subscribers(d3, conf, n=2, prefix="wp")
            before = len(srv.log())
            r = self.digest("-v", "-v", "run", conf=conf)
            # EX_NOPERM, as msmtp: cron's reruns would be refused alike
            check(r.code == 77, f"a wrong SMTP password: exit {r.code}, want 77; stderr: {short(r.err)}")
            check("delivery.smtp.username" in r.err, f"no line saying what to fix: {short(r.err)}")
            check(len(srv.log()) == before, "messages delivered with a wrong password")
            self.summary(r)
            check(not [x for x in self.journal(d3) if x[2] == "sent"], "journal says sent")
            forms = [wrong, base64.b64encode(wrong.encode()).decode(),
                     base64.b64encode(f"\0{user}\0{wrong}".encode()).decode()]
            shown = [x for x in forms if x in r.err or x in r.out]
            check(not shown, f"the password (or its AUTH encoding) appears in the output: {shown}")

    # ------------------------------------------------------------ 5. 451
    def t_job_defer_451(self):
        d = self.testdir("job-451")
        # r2: 451 twice, then accepted within the run (retries = 3);
        # r3: 451 six times: still deferred after this run's 4 tries;
        # and the first message to reach DATA gets a 451 there
        with self.smtpd(d, "--defer-rcpt", r"^r2@:2", "--defer-rcpt", r"^r3@:6",
                        "--defer-data-first", "1") as srv:
            conf = self.job_conf(d, srv.port, smtp="retries = 3;")
            subs = self.add_subscribers(d, conf, n=4)
            r = self.run_job(conf, code=EX_TEMPFAIL)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (3, 1, 0), f"summary {s}, want 3 sent, 1 deferred")
            self.check_once_each(srv, [a for a in subs if not a.startswith("r3@")], what="first run: ")
            j = {e: (state, att) for _, e, state, att in self.journal(d, s["edition"])}
            check(j.get("r2@example.net", ("", 0))[0] == "sent", f"r2 (451 twice): {j.get('r2@example.net')}")
            check(j["r2@example.net"][1] >= 3, f"r2: attempts {j['r2@example.net'][1]}, want 3")
            check(j.get("r3@example.net", ("", 0))[0] == "deferred", f"r3 (451 six times): "
                  f"{j.get('r3@example.net')}, want deferred")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (4, 0, 0), f"rerun: summary {s}, want 4 sent")
            self.check_once_each(srv, subs, what="after the rerun: ")
            rows = self.journal(d, s["edition"])
            check(all(state == "sent" for _, _, state, _ in rows) and len(rows) == 4, f"journal {rows}")

    # ------------------------------------------------------------ 6. 550
    def t_job_fail_550_bouncing(self):
        d = self.testdir("job-550")
        today = self.today()
        d2, d1 = str(today - dt.timedelta(days=2)), str(today - dt.timedelta(days=1))
        with self.smtpd(d, "--fail-rcpt", r"^bad\d@") as srv:
            conf = self.job_conf(d, srv.port, smtp="max_bounces = 2;", digest="send_empty = true;")
            with open(conf, encoding="utf-8") as f:
                check("send_empty = true; }" in f.read(), "test bug: send_empty not set")
            good = self.add_subscribers(d, conf, n=3, prefix="good")
            bad = self.add_subscribers(d, conf, n=2, prefix="bad")
            r = self.run_job(conf, "--date", d2)
            s = self.summary(r)
            check(s["edition"] == d2, f"summary names edition {s['edition']}, want {d2}")
            check((s["sent"], s["deferred"], s["failed"]) == (3, 0, 2), f"summary {s}, want 3 sent, 2 failed")
            self.check_once_each(srv, good)
            j = {e: state for _, e, state, _ in self.journal(d, d2)}
            check(all(j.get(a) == "failed" for a in bad), f"journal: {j}, want the bad ones 'failed'")
            n = len(srv.log())
            r = self.run_job(conf, "--date", d2)
            check(len(srv.log()) == n, "the rerun sent again")
            s = self.summary(r)
            check((s["sent"], s["failed"], s["deferred"]) == (3, 2, 0), f"rerun summary {s}")
            j2 = {e: state for _, e, state, _ in self.journal(d, d2)}
            check(j2 == j, f"the rerun changed the journal: {j} -> {j2}")
            st, _ = self.status_row(conf, d2)
            check((st.get("sent"), st.get("failed")) == (3, 2), f"status: edition {d2}: {st}, want 3 sent, 2 failed")
            lst = self.digest("subscribers", "list", conf=conf)
            check(not re.search(r"bad\d@\S+\s+bouncing", lst.out), f"bouncing after 1 failed edition: "
                  f"{short(lst.out)}")
            r = self.run_job(conf, "--date", d1)
            s = self.summary(r)
            check((s["sent"], s["failed"]) == (3, 2), f"second edition: summary {s}")
            lst = self.digest("subscribers", "list", conf=conf)
            check(lst.code == 0, f"subscribers list: exit {lst.code}")
            for a in bad:
                line = next((ln for ln in lst.out.splitlines() if a in ln), "")
                check(re.search(r"\bbouncing\b", line), f"{a} after 2 failed editions "
                      f"(max_bounces = 2): {line!r}, want bouncing")
            for a in good:
                line = next((ln for ln in lst.out.splitlines() if a in ln), "")
                check(re.search(r"\bactive\b", line), f"{a}: {line!r}, want active")
            # a bouncing subscriber is no longer sent to
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["subscribers"], s["sent"], s["failed"]) == (3, 3, 0), f"after bouncing: summary {s}")
            rows = self.journal(d, s["edition"])
            check(not [x for x in rows if x[1].startswith("bad")], f"bouncing ones tried: {rows}")

    # ------------------------------------------------------------ 7. dropped connection
    def t_job_dropped_connection(self):
        # The server saves the third message and hangs up before its reply:
        # that message may have been delivered. It is not sent again in
        # this run (which exits 75, the message deferred), and the next run
        # sends it once more: one duplicate, the SPEC's bound.
        d = self.testdir("job-drop")
        with self.smtpd(d, "--drop-after", "3") as srv:
            conf = self.job_conf(d, srv.port)
            subs = self.add_subscribers(d, conf, n=8)
            r = self.run_job(conf, code=EX_TEMPFAIL)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (7, 1, 0), f"summary {s}, want 7 sent, 1 deferred")
            check("may have been delivered" in r.err, f"stderr does not say the message may have gone: {short(r.err)}")
            counts = self.check_once_each(srv, subs)
            check(sum(counts.values()) == 8, f"{sum(counts.values())} messages after the first run, want 8")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (8, 0, 0), f"second run: summary {s}, want 8 sent")
            counts = self.check_once_each(srv, subs, dups=1)
            rows = self.journal(d, s["edition"])
            check(len(rows) == 8 and all(x[2] == "sent" for x in rows), f"journal {rows}")
            check(sum(counts.values()) == 9, f"{sum(counts.values())} messages: the dropped one "
                  "(saved by the server, no reply) should have been sent again once, by the next run")
            ids = {}
            for e, m, _ in srv.messages():
                ids.setdefault(e["rcpt_tos"][0], set()).add(str(m["Message-ID"]))
            check(all(len(v) == 1 for v in ids.values()), f"the repeated message has another Message-ID: "
                  f"{ {k: v for k, v in ids.items() if len(v) > 1} }")

    # ------------------------------------------------------------ 8. server down
    def t_job_server_down(self):
        site = self.site("portal-down")
        d = self.testdir("job-down")
        port = free_port()
        conf = self.job_conf(d, port, site=site)
        subs = self.add_subscribers(d, conf, n=5)
        r = self.run_job(conf, code=EX_TEMPFAIL)
        s = self.summary(r)
        check((s["sent"], s["failed"], s["deferred"]) == (0, 0, 5), f"summary {s}, want 5 deferred")
        check(not [x for x in self.journal(d) if x[2] in ("sent", "failed")], f"journal {self.journal(d)}")
        check(r.elapsed < 15, f"took {r.elapsed:.1f} s with the server down")
        # the selection was frozen before the first try: new view counts
        # on the site do not change what the next run sends
        bumped = self.site("portal-down", bump=5)
        check(bumped["expected"] != site["expected"], "test bug: the bump does not change the ranking")
        with self.smtpd(d, port=port) as srv:
            r = self.run_job(conf)
            s2 = self.summary(r)
            check(s2["edition"] == s["edition"] and s2["sent"] == 5, f"after the server came: summary {s2}")
            self.check_once_each(srv, subs)
            for e, msg, raw in srv.messages():
                info = self.check_message(msg, raw, e["rcpt_tos"][0], top=site["expected"][0])
                words = html_text(info["html"])
                order = sorted((words.find(squash(t)), t) for t in site["expected"])
                check(order[0][0] >= 0 and [t for _, t in order] == site["expected"],
                      f"the edition sent after the outage is not the one frozen before it: "
                      f"{[t for i, t in order if i >= 0]}")

    # ------------------------------------------------------------ 7b. a server that stops answering
    def t_job_stalled_server(self):
        """The server accepts 3 messages, then answers nothing (the
        connection stays open): the run gives up within its timeouts, exits
        75, and the next run (a healthy server) sends the rest, once each."""
        d = self.testdir("job-stall")
        srv = self.smtpd(d, "--stall-after", "3")
        try:
            conf = self.job_conf(d, srv.port, smtp="timeout = 2; retries = 1;")
            subs = self.add_subscribers(d, conf, n=6)
            r = self.run_job(conf, code=EX_TEMPFAIL, timeout=60)
            s = self.summary(r)
            check(r.elapsed < 25, f"a stalled server held the run {r.elapsed:.1f} s (timeout = 2, retries = 1)")
            got = len(srv.log())   # 3, or 4 when the other connection was inside DATA then
            check((s["sent"], s["deferred"], s["failed"]) == (got, 6 - got, 0),
                  f"summary {s}, want {got} sent (as the server got), {6 - got} deferred")
            sent = {e for _, e, state, _ in self.journal(d, s["edition"]) if state == "sent"}
            check(sent == set(srv.rcpt_counts()), f"journal 'sent' {sorted(sent)} but the server got "
                  f"{sorted(srv.rcpt_counts())}")
            port = srv.port
            srv.stop()
            srv = self.smtpd(d, port=port)
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (6, 0, 0), f"rerun: summary {s}, want 6 sent")
            self.check_once_each(srv, subs, dups=0, what="after the stall and a rerun: ")
        finally:
            srv.stop()

    def t_job_max_conns(self):
        """The server takes one connection at a time (421 to the second):
        everything still goes through the first, exit 0."""
        d = self.testdir("job-maxconns")
        with self.smtpd(d, "--max-conns", "1", "--delay", "20") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 3;")
            subs = self.add_subscribers(d, conf, n=10)
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (10, 0, 0), f"summary {s}, want 10 sent")
            self.check_once_each(srv, subs)

    def t_job_per_connection_and_rate(self):
        """max_per_connection: a connection carries at most that many
        messages, then a new one is opened; rate_per_second paces the whole
        run (10 messages at 5/s take at least 1.8 s)."""
        d = self.testdir("job-perconn")
        with self.smtpd(d) as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 1; max_per_connection = 3; "
                                                   "rate_per_second = 5;")
            subs = self.add_subscribers(d, conf, n=10)
            r = self.run_job(conf)
            self.check_once_each(srv, subs)
            per_conn = {}
            for e in srv.log():
                per_conn[e["conn"]] = per_conn.get(e["conn"], 0) + 1
            check(max(per_conn.values()) <= 3, f"messages per connection {per_conn}: max_per_connection = 3")
            check(len(per_conn) >= 4, f"10 messages over {len(per_conn)} connections, want >= 4")
            check(r.elapsed >= 1.8, f"10 messages at 5/s took {r.elapsed:.2f} s")

    def t_job_run_leaves_the_database_writable(self):
        """While a run waits on a slow server, the database is not locked:
        `subscribe` and `status` answer at once (no transaction is held across
        network I/O)."""
        d = self.testdir("job-nolock")
        with self.smtpd(d, "--delay", "300") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 1;")
            self.add_subscribers(d, conf, n=8)
            proc = self.popen_digest(conf, "run")
            try:
                t0 = time.monotonic()
                while len(srv.log()) < 2 and proc.poll() is None and time.monotonic() - t0 < 30:
                    time.sleep(0.02)
                check(proc.poll() is None, "test bug: the run ended too soon")
                r = self.digest("subscribe", "late@example.org", "--confirmed", conf=conf, timeout=20)
                check(r.code == 0, f"subscribe during a run: exit {r.code}: {short(r.err)}")
                check(r.elapsed < 2, f"subscribe during a run took {r.elapsed:.1f} s: the database was locked")
                r = self.digest("status", conf=conf, timeout=20)
                check(r.code == 0 and r.elapsed < 2, f"status during a run: exit {r.code} in {r.elapsed:.1f} s")
            finally:
                code, err = self.finish(proc, "the run")
            check(code == 0, f"the run: exit {code}: {short(err)}")

    def t_job_refusals_that_are_no_bounce(self):
        """Only a refused recipient is a bounce. A refused message (554
        after DATA) fails that delivery without counting toward
        max_bounces; a refused sender (530 at MAIL FROM: the server wants a
        login) stops the run, exit 75, with nobody failed or bouncing."""
        # with PIPELINING the refused text's reply comes in one group
        # with the next message's envelope: each reply is its own message's
        for pipe in ((), ("--pipelining",)):
            d = self.testdir(f"job-nobounce{len(pipe)}")
            with self.smtpd(d, "--fail-data", r"^r1@", *pipe) as srv:
                conf = self.job_conf(d, srv.port, smtp="max_bounces = 1; connections = 1;")
                subs = self.add_subscribers(d, conf, n=3)
                r = self.run_job(conf)
                s = self.summary(r)
                check((s["sent"], s["failed"]) == (2, 1), f"{pipe}: summary {s}, want 2 sent, 1 failed")
                r = self.digest("subscribers", "list", conf=conf)
                check(re.search(r"^r1@\S+\s+active", r.out, re.M), f"{pipe}: r1 is no longer active after a "
                      f"refused message (max_bounces = 1): {short(r.out)}")
                check(len(srv.log()) == 2, f"{pipe}: {len(srv.log())} messages accepted, want 2")
                got = sorted(e["rcpt_tos"][0] for e in srv.log())
                check([a.split("@")[0] for a in got] == ["r2", "r3"], f"{pipe}: accepted {got}")
        d = self.testdir("job-sender")
        with self.smtpd(d, "--auth", "u:p") as srv:
            conf = self.job_conf(d, srv.port, smtp="max_bounces = 1;")
            subs = self.add_subscribers(d, conf, n=3)
            r = self.run_job(conf, code=75)
            check("MAIL FROM" in r.err, f"the error does not say the sender was refused: {short(r.err)}")
            s = self.summary(r)
            check((s["sent"], s["failed"], s["deferred"]) == (0, 0, 3), f"summary {s}, want 3 deferred")
            states = {st for _, _, st, _ in self.journal(d)}
            check(not states & {"failed", "sent"}, f"journal states {states} after a refused sender")
            r = self.digest("subscribers", "list", conf=conf)
            check(len(re.findall(r"\sactive\s", r.out)) == 3, f"subscribers changed: {short(r.out)}")
            # the 3 still to send: the one whose sender was refused was
            # tried (deferred); the others were not (untried)
            st, r = self.status_row(conf, s["edition"])
            check((st.get("sent"), st.get("failed")) == (0, 0) and st.get("deferred", 0) >= 1
                  and st.get("deferred", 0) + st.get("untried", 0) == 3,
                  f"status does not show the 3 still to send: {st}: {short(r.out)}")

    def t_job_fresh_install(self):
        """The first command on a new machine is `run`: the database's
        directory does not exist yet."""
        d = self.testdir("job-fresh")
        with self.smtpd(d) as srv:
            conf = self.job_conf(d, srv.port, subs_extra=[('database = "var/digest.db"',
                                                           'database = "state/new/digest.db"')])
            r = self.run_job(conf)
            s = self.summary(r)
            check(s["subscribers"] == 0, f"summary {s}")
            check(os.path.exists(os.path.join(d, "state", "new", "digest.db")), "no database made")

    def t_job_defaults_only(self):
        """A digest.conf with sources and a transport and nothing else (no
        newsletter block, no templates directory beside it) runs: the
        built-in templates and the default sender are used."""
        d = self.testdir("job-defaults")
        site = self.portal
        with self.smtpd(d) as srv:
            conf = self.conf(d, text=f"""
sources = ( {{ name = "news"; url = "{site['base']}index.html"; next = "//a[@rel='next']/@href";
    item = "//div[@class='news-item']"; link = ".//a[@class='title']/@href";
    title = ".//a[@class='title']"; published = ".//span[@class='date']";
    views = ".//span[@class='views']"; comments = ".//span[@class='comments']"; }} );
delivery = {{ transport = "smtp"; smtp = {{ host = "127.0.0.1"; port = {srv.port}; security = "none"; }}; }};
""")
            r = self.digest("check-config", conf=conf)
            check(r.code == 0, f"check-config: exit {r.code}: {short(r.err)}")
            subs = self.add_subscribers(d, conf, n=2)
            r = self.run_job(conf)
            msgs = srv.messages()
            check(len(msgs) == 2, f"{len(msgs)} messages, want 2")
            e, msg, raw = msgs[0]
            check(msg["From"].addresses[0].addr_spec == "digest@localhost", f"From {msg['From']}")
            html = msg.get_body(("html",)).get_content()
            check("<table" in html and "unsubscribe" in html, "the built-in HTML template was not used")
            self.check_once_each(srv, subs)

    def t_job_cron_wrapper(self):
        """cron/digest-cron: silent on success with the run appended to the
        log beside the config; on failure it prints the exit code and the
        log's tail, and exits with digest's code."""
        d = self.testdir("job-cron")
        wrapper = os.path.join(REPO, "cron", "digest-cron")
        env = dict(os.environ, DIGEST=DIGEST)
        env.pop("DIGEST_CONFIG", None)
        conf = self.job_conf(d, transport="maildir")
        self.add_subscribers(d, conf, n=2)
        p = subprocess.run(["sh", wrapper, conf, "run"], capture_output=True, env=env, cwd="/", timeout=60)
        check(p.returncode == 0, f"digest-cron run: exit {p.returncode}: {p.stdout!r} {p.stderr!r}")
        check(p.stdout == b"" and p.stderr == b"", f"digest-cron said something on success: {p.stdout!r}")
        log = os.path.join(d, "var", "digest.log")
        with open(log, encoding="utf-8") as f:
            text = f.read()
        check(re.search(r"^edition \d{4}-\d\d-\d\d: .* 2 sent", text, re.M), f"log lacks the summary: {text!r}")
        check(re.search(r"exit 0$", text.strip()), f"log does not end with the exit code: {text[-200:]!r}")
        with open(conf, encoding="utf-8") as f:
            broken = f.read()
        check("max_articles = 10;" in broken, "test bug: no max_articles in the config")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(broken.replace("max_articles = 10;", "max_articles = -5;"))
        p = subprocess.run(["sh", wrapper, conf, "run"], capture_output=True, env=env, cwd="/", timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        check(p.returncode == 78, f"digest-cron with a broken config: exit {p.returncode}, want 78")
        check("failed (exit 78)" in out and "max_articles" in out, f"the failure report: {out!r}")
        with open(log, encoding="utf-8") as f:
            check(f.read().startswith(text), "the log was not appended to")

    # ------------------------------------------------------------ 9. kill -9
    def t_job_kill9_resume(self):
        site = self.site("portal-kill")
        d = self.testdir("job-kill")
        with self.smtpd(d, "--delay", "50") as srv:
            conf = self.job_conf(d, srv.port, site=site)
            subs = self.add_subscribers(d, conf, n=60)
            proc = self.popen_digest(conf, "run")
            try:
                t0 = time.monotonic()
                while len(srv.log()) < 5 and proc.poll() is None and time.monotonic() - t0 < 30:
                    time.sleep(0.02)
                time.sleep(0.3)
                if proc.poll() is not None:
                    raise Fail(f"test bug: the run ended (exit {proc.returncode}) before the kill, "
                               f"{len(srv.log())} messages")
                os.kill(proc.pid, signal.SIGKILL)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()
            first = len(srv.log())
            check(0 < first < 60, f"test bug: {first} messages before the kill")
            # pages change between the runs: the resumed run must not re-rank
            bumped = self.site("portal-kill", bump=5)
            check(bumped["expected"] != site["expected"], "test bug: the bump does not change the ranking")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (60, 0, 0), f"summary {s}, want 60 sent")
            self.check_once_each(srv, subs, dups=2, what="after kill -9 and a rerun: ")
            msgs = srv.messages()
            sels = {self.selection(m) for _, m, _ in msgs}
            early = {self.selection(m) for _, m, _ in msgs[:first]}
            check(len(sels) == 1, f"{len(sels)} different article selections among the messages "
                  f"({len(early)} among the {first} sent before the kill): the resumed run re-ranked")
            words = html_text(list(msgs[-1][1].iter_parts())[1].get_content())
            missing = [t for t in site["expected"] if squash(t) not in words]
            check(not missing, f"the edition is not the one ranked before the kill: missing {missing}")
            ids = {}
            for e, m, _ in msgs:
                ids.setdefault(e["rcpt_tos"][0], set()).add(str(m["Message-ID"]))
            check(all(len(v) == 1 for v in ids.values()), "a repeated message has another Message-ID")

    # ------------------------------------------------------------ 9b. pipelining and group commits
    def t_job_pipelining(self):
        """A server that offers PIPELINING gets each envelope in one go;
        refusals are classified as without it: 451 to MAIL FROM and to RCPT
        TO retried within the run, 550 to RCPT TO a failure (a bounce);
        the journal ends with no delivery left in flight."""
        d = self.testdir("job-pipe")
        with self.smtpd(d, "--pipelining", "--fail-rcpt", r"^bad\d@", "--defer-rcpt", r"^r2@:1",
                        "--defer-mail", r"^digest[+@]:1") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 3;")
            good = self.add_subscribers(d, conf, n=30)
            bad = self.add_subscribers(d, conf, n=2, prefix="bad")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (30, 0, 2), f"summary {s}, want 30 sent, 2 failed")
            self.check_once_each(srv, good)
            log = srv.log()
            check(log and all(e.get("pipelined") is True for e in log),
                  f"{sum(1 for e in log if not e.get('pipelined'))} of {len(log)} messages did not come pipelined "
                  "(MAIL, RCPT and DATA in one write) to a server that offers PIPELINING")
            j = {e: (state, att) for _, e, state, att in self.journal(d, s["edition"])}
            check(all(j.get(a, ("",))[0] == "failed" for a in bad), f"the 550 ones: {[j.get(a) for a in bad]}")
            # r2's RCPT is deferred once; the first MAIL FROM the server sees
            # (digest's VERP sender, digest+b-TOKEN@)
            # is deferred once too, and that may be r2's first try as well
            # (3 connections start at once): exactly two retries in all.
            check(j["r2@example.net"][0] == "sent" and j["r2@example.net"][1] >= 2,
                  f"r2 (451 to RCPT once): {j['r2@example.net']}, want sent after at least 2 attempts")
            retries = sum(j[a][1] - 1 for a in good)
            check(retries == 2, f"{retries} retries among the deliverable, want 2 (one 451 to MAIL FROM, "
                  f"one to r2's RCPT TO): {sorted((a, n) for a, (_, n) in j.items() if n != 1)}")
            states = {st for st, _ in j.values()}
            check(states == {"sent", "failed"}, f"journal states after a complete run: {states}")
            lst = self.digest("subscribers", "list", conf=conf)
            check(not re.search(r"bad\d@\S+\s+bouncing", lst.out), "bouncing after one failed edition")

    def t_job_pipelining_354_without_recipient(self):
        """A pipelining server that answers DATA with 354 although it refused
        the recipient (RFC 2920 warns of them): the empty message is ended
        and refused, the recipient counts as failed, the others go through on
        the same connections."""
        d = self.testdir("job-pipe-odd")
        with self.smtpd(d, "--pipelining", "--data-without-rcpt", "--fail-rcpt", r"^bad@") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 1;")
            good = self.add_subscribers(d, conf, n=6)
            self.add_subscribers(d, conf, csv_rows=[("bad@example.net", "Плохой", "active")])
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (6, 0, 1), f"summary {s}, want 6 sent, 1 failed")
            self.check_once_each(srv, good)
            check(len({e["conn"] for e in srv.log()}) == 1, "the refusal cost the connection")
            j = {e: state for _, e, state, _ in self.journal(d, s["edition"])}
            check(j.get("bad@example.net") == "failed", f"bad@: {j.get('bad@example.net')}")

    def t_job_kill9_resume_pipelining(self):
        """kill -9 in the middle of a pipelined run over 4 connections: the
        rerun completes the edition, each reader gets it once but for at
        most one message per connection."""
        d = self.testdir("job-kill-pipe")
        with self.smtpd(d, "--pipelining", "--delay", "20") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 4;")
            subs = self.add_subscribers(d, conf, n=120)
            proc = self.popen_digest(conf, "run")
            try:
                t0 = time.monotonic()
                while srv.count() < 30 and proc.poll() is None and time.monotonic() - t0 < 30:
                    time.sleep(0.01)
                if proc.poll() is not None:
                    raise Fail(f"test bug: the run ended (exit {proc.returncode}) before the kill, "
                               f"{len(srv.log())} messages")
                os.kill(proc.pid, signal.SIGKILL)
            finally:
                if proc.poll() is None:
                    proc.kill()
                proc.communicate()
            time.sleep(0.3)  # what was on its way reaches the server, or not
            first = len(srv.log())
            check(0 < first < 120, f"test bug: {first} messages before the kill")
            self.check_journal_vs_server(d, srv, conns=4, what="after kill -9: ")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (120, 0, 0), f"summary {s}, want 120 sent")
            self.check_once_each(srv, subs, dups=4, what="after kill -9 and a rerun: ")
            check(all(e.get("pipelined") for e in srv.log()), "not every message came pipelined")

    def t_job_kill9_group_commits(self):
        """Exactly-once with group commits, tested hard: a run over 4
        connections to a server with no delay is killed three times at
        different points. After each kill, every message the journal calls
        sent did reach the server, and the server holds at most one message
        per connection that the journal does not call sent; after the last
        rerun everyone has the edition, repeats at most 4 per kill."""
        self.kill9_group_commits("job-kill-group")

    def t_job_kill9_journal_sync_normal(self):
        """delivery.journal_sync = "normal" (commits reach the OS, not the
        disk) keeps the kill -9 promise whole: the same three kills and
        rerun as with "full". A value it does not know is an error at its
        line."""
        self.kill9_group_commits("job-kill-normal", sync="normal")
        d = self.testdir("job-sync-bad")
        conf = self.job_conf(d, 25)
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        text = text.replace('delivery = { transport = "smtp";', 'delivery = { transport = "smtp";\n'
                            '  journal_sync = "sometimes";', 1)
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        r = self.digest("check-config", conf=conf)
        line = text[:text.index("journal_sync")].count("\n") + 1
        check(r.code == 78 and f"{conf}:{line}: delivery.journal_sync" in r.err,
              f"journal_sync = \"sometimes\": exit {r.code}, {short(r.err)!r}")

    def kill9_group_commits(self, name, sync=None):
        d = self.testdir(name)
        with self.smtpd(d, "--pipelining") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 4;")
            if sync:
                with open(conf, encoding="utf-8") as f:
                    text = f.read()
                check('delivery = { transport = "smtp";' in text, "test bug: no delivery block to change")
                with open(conf, "w", encoding="utf-8") as f:
                    f.write(text.replace('delivery = { transport = "smtp";',
                                         f'delivery = {{ transport = "smtp"; journal_sync = "{sync}";', 1))
            subs = self.add_subscribers(d, conf, n=400)
            kills = 0
            for at in (40, 150, 260):
                proc = self.popen_digest(conf, "run")
                try:
                    t0 = time.monotonic()
                    while srv.count() < at and proc.poll() is None and time.monotonic() - t0 < 60:
                        time.sleep(0.003)
                    if proc.poll() is None:
                        os.kill(proc.pid, signal.SIGKILL)
                        kills += 1
                finally:
                    if proc.poll() is None:
                        proc.kill()
                    proc.communicate()
                time.sleep(0.3)
                self.check_journal_vs_server(d, srv, conns=4, what=f"after a kill at {at} messages: ")
            check(kills >= 2, f"test bug: only {kills} runs were still going when killed")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (400, 0, 0), f"summary {s}, want 400 sent")
            self.check_once_each(srv, subs, dups=4 * kills, what=f"after {kills} kills and a rerun: ")
            states = {x[2] for x in self.journal(d, s["edition"])}
            check(states == {"sent"}, f"journal states after the rerun: {states}")

    def t_job_inflight_before_handover(self):
        """A message's "in flight" is on disk before its final dot leaves,
        the first one of a connection too: while the server sits on a
        message it has saved without answering, the journal (read by
        another process) shows it in flight; after kill -9 the rerun sends
        it again, and nothing else twice."""
        for hang, pipe in ((1, ()), (3, ("--pipelining",))):
            d = self.testdir(f"job-inflight-{hang}")
            with self.smtpd(d, "--hang-after", str(hang), *pipe) as srv:
                conf = self.job_conf(d, srv.port, smtp="connections = 1; timeout = 20;")
                subs = self.add_subscribers(d, conf, n=4)
                proc = self.popen_digest(conf, "run")
                try:
                    t0 = time.monotonic()
                    while srv.count() < hang and proc.poll() is None and time.monotonic() - t0 < 30:
                        time.sleep(0.01)
                    time.sleep(0.3)
                    check(proc.poll() is None, f"test bug: the run ended (exit {proc.returncode})")
                    got = [e["rcpt_tos"][0] for e in srv.log()]
                    check(len(got) == hang, f"test bug: the server has {len(got)} messages, want {hang}")
                    rows = {e: (state, att) for _, e, state, att in self.journal(d)}
                    check(rows.get(got[-1]) == ("inflight", 1),
                          f"hang after {hang}: the message the server holds, to {got[-1]}, is "
                          f"{rows.get(got[-1])} in the journal, want ('inflight', 1)")
                    check(all(rows.get(a, ("",))[0] == "sent" for a in got[:-1]),
                          f"hang after {hang}: the answered ones: {[rows.get(a) for a in got[:-1]]}")
                    os.kill(proc.pid, signal.SIGKILL)
                finally:
                    if proc.poll() is None:
                        proc.kill()
                    proc.communicate()
                r = self.run_job(conf)
                s = self.summary(r)
                check((s["sent"], s["deferred"], s["failed"]) == (4, 0, 0), f"summary {s}, want 4 sent")
                self.check_once_each(srv, subs, dups=1, what=f"hang after {hang}, kill -9 and a rerun: ")
                check(srv.rcpt_counts()[got[-1]] == 2, f"the message in flight at the kill was not sent again")

    def check_journal_vs_server(self, d, srv, conns, what=""):
        """The journal's promise after a crash: whatever it calls sent
        reached the server, and the server got at most CONNS messages
        (one per connection) beyond those, all of them shown in flight."""
        counts = srv.rcpt_counts()
        rows = {e.lower(): state for _, e, state, _ in self.journal(d)}
        sent = {e for e, st in rows.items() if st == "sent"}
        lost = sorted(sent - set(counts))
        check(not lost, f"{what}the journal says sent but the server never got: {lost[:5]}")
        unmarked = sorted(a for a in counts if rows.get(a) != "sent")
        check(len(unmarked) <= conns, f"{what}{len(unmarked)} messages reached the server that the journal "
              f"does not show as sent (at most {conns}, one per connection): {unmarked[:8]}")
        check(all(rows.get(a) == "inflight" for a in unmarked),
              f"{what}delivered but not 'inflight' in the journal: "
              f"{ {a: rows.get(a) for a in unmarked if rows.get(a) != 'inflight'} }")

    # ------------------------------------------------------------ 10. one run at a time
    def t_job_concurrent_runs(self):
        site = self.delay_site()
        d = self.testdir("job-lock")
        with self.smtpd(d, "--delay", "200") as srv:
            conf = self.job_conf(d, srv.port, site=site, smtp="connections = 1;")
            subs = self.add_subscribers(d, conf, n=10)
            self.stats(reset=True)
            proc = self.popen_digest(conf, "run")
            try:
                t0 = time.monotonic()
                while not srv.log() and proc.poll() is None and time.monotonic() - t0 < 30:
                    time.sleep(0.02)
                check(proc.poll() is None, f"test bug: the first run ended (exit {proc.returncode})")
                check(self.stats()["delayed"] > 0, "test bug: the first run's pages were not counted")
                self.stats(reset=True)
                r = self.digest("run", conf=conf, timeout=20)
                fetched = self.stats()["delayed"]
                check(proc.poll() is None, "test bug: the first run ended before the second was done")
            finally:
                code1, err1 = self.finish(proc, "the first run")
            check(r.code == EX_TEMPFAIL, f"a second run at once: exit {r.code}, want 75; {short(r.err)}")
            check(r.elapsed < 2, f"the second run took {r.elapsed:.1f} s to give up")
            check(fetched == 0, f"the second run fetched {fetched} pages")
            check(code1 == 0, f"the first run: exit {code1}: {short(err1)}")
            self.check_once_each(srv, subs, what="two runs at once: ")
            s = self.summary(r)   # the refused run too ends with the summary, naming today's edition
            check(s["edition"] == str(self.today()), f"the refused run's summary names edition {s['edition']}")

    # ------------------------------------------------------------ 11. preview
    def t_job_preview(self):
        d = self.testdir("job-preview")
        with self.smtpd(d) as srv:
            conf = self.job_conf(d, srv.port)
            self.add_subscribers(d, conf, n=2)
            titles = self.portal["expected"]
            out = {f: os.path.join(d, f"preview.{f}") for f in ("html", "text", "eml")}
            for f, path in out.items():
                r = self.digest("preview", "--format", f, "-o", path, conf=conf)
                check(r.code == 0, f"preview --format {f}: exit {r.code}: {short(r.err)}")
                check(os.path.exists(path), f"preview --format {f} -o: no file")
            with open(out["html"], encoding="utf-8") as f:
                doc = f.read()
            words = html_text(doc)
            check(all(squash(t) in words for t in titles), f"preview html lacks titles: "
                  f"{[t for t in titles if squash(t) not in words]}")
            check("<испытания>" not in doc, "preview html: a page title is raw HTML")
            with open(out["text"], encoding="utf-8") as f:
                text = f.read()
            check(all(squash(t) in squash(text) for t in titles), "preview text lacks titles")
            check("<html" not in text.lower(), "preview text is HTML")
            with open(out["eml"], "rb") as f:
                raw = f.read()
            msg = parse_eml(raw)
            to = msg["To"].addresses[0].addr_spec if msg["To"] and msg["To"].addresses else ""
            self.check_message(msg, raw, to, titles=titles, top=titles[0])
            check(not srv.log(), "preview sent mail")
            check(not self.journal(d), f"preview wrote deliveries: {self.journal(d)}")
            # --to: one test copy, to that address only
            r = self.digest("preview", "--to", "editor@example.com", conf=conf)
            check(r.code == 0, f"preview --to: exit {r.code}: {short(r.err)}")
            log = srv.log()
            check(len(log) == 1 and log[0]["rcpt_tos"] == ["editor@example.com"],
                  f"preview --to editor@example.com: server got {[e['rcpt_tos'] for e in log]}")
            e, msg, raw = srv.messages()[0]
            self.check_message(msg, raw, "editor@example.com", top=titles[0])
            check(not self.journal(d), "preview --to wrote deliveries")
            # --no-fetch: offline, from the stored articles
            dead = f"http://127.0.0.1:{free_port()}/portal/"
            conf = self.conf(d, base=dead, subs=[(PORTAL_DELIVERY, f'delivery = {{ transport = "smtp"; '
                                                  f'smtp = {{ port = {srv.port}; security = "none"; }}; }};')])
            r = self.digest("preview", "--no-fetch", "--format", "text", conf=conf, timeout=20)
            check(r.code == 0, f"preview --no-fetch: exit {r.code}: {short(r.err)}")
            check(all(squash(t) in squash(r.out) for t in titles), f"preview --no-fetch lacks the stored "
                  f"articles: {short(r.out)}")
            check(dead not in r.err and "portal-news" not in r.err, f"preview --no-fetch fetched: {short(r.err)}")
            check(not self.journal(d), "preview --no-fetch wrote deliveries")
            check(len(srv.log()) == 1, "preview --no-fetch sent mail")

    # ------------------------------------------------------------ 12. template error
    def t_job_template_error(self):
        site = self.delay_site()
        d = self.testdir("job-template")
        tdir = os.path.join(d, "tpl")
        shutil.copytree(os.path.join(REPO, "templates"), tdir)
        path = os.path.join(tdir, "digest.html")
        with open(path, encoding="utf-8") as f:
            lines = f.read().split("\n")
        closes = [i for i, ln in enumerate(lines) if "{{/articles}}" in ln]
        opens = [i for i, ln in enumerate(lines) if "{{#articles}}" in ln]
        check(len(closes) == 1 and len(opens) == 1, "test bug: digest.html has not one articles section")
        lines[closes[0]] = lines[closes[0]].replace("{{/articles}}", "")
        line, col = opens[0] + 1, lines[opens[0]].index("{{#articles}}") + 1
        with open(path, "w", encoding="utf-8") as f:
            f.write("\n".join(lines))
        conf = self.job_conf(d, free_port(), site=site)
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        text = re.sub(r'templates = \{ dir = "[^"]*"; \};', 'templates = { dir = "tpl"; };', text)
        check('dir = "tpl"' in text, "test bug: no templates line in the config")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        self.add_subscribers(d, conf, n=2)
        self.stats(reset=True)
        r = self.digest("run", conf=conf)
        check(r.code == 78, f"run with a broken template: exit {r.code}, want 78; {short(r.err)}")
        m = re.search(r"digest\.html:(\d+):(\d+)", r.err)
        check(m, f"no digest.html:LINE:COL in stderr: {short(r.err)}")
        check((int(m.group(1)), int(m.group(2))) == (line, col),
              f"error at {m.group(1)}:{m.group(2)}, the unclosed {{{{#articles}}}} is at {line}:{col}")
        failed_run = r
        check(self.stats()["delayed"] == 0, f"pages fetched before the template error "
              f"({self.stats()['delayed']} requests)")
        check(not self.journal(d), "deliveries written")
        r = self.digest("check-config", conf=conf)
        check(r.code == 78, f"check-config with a broken template: exit {r.code}, want 78")
        check(f"digest.html:{line}:{col}" in r.err, f"check-config: no digest.html:{line}:{col}: {short(r.err)}")
        r = self.digest("preview", conf=conf)
        check(r.code == 78, f"preview with a broken template: exit {r.code}, want 78")
        check(self.stats()["delayed"] == 0, "pages fetched by check-config or preview")
        r = self.digest("collect", conf=conf)   # the site is counted when it is read
        check(r.code == 0 and self.stats()["delayed"] > 0, "test bug: /stats does not count this site")
        self.last = failed_run
        s = self.summary(failed_run)   # every run, even a failed one, ends with the summary
        check(s["edition"] == str(self.today()), f"the failed run's summary names edition {s['edition']}")

    # ------------------------------------------------------------ 13. import/export
    def t_job_subscribers_import_export(self):
        d = self.testdir("job-import")
        conf = self.job_conf(d, transport="maildir")
        a = os.path.join(d, "list.csv")
        with open(a, "w", encoding="utf-8", newline="") as f:
            f.write("email,name,status\n"
                    "ivan@example.net,Иван Петров,active\n"
                    "wait@example.net,Ждун,pending\n"
                    '"smith@example.net","Smith, John",unsubscribed\n'
                    "not-an-address,Bad One,active\n"
                    "ok@example.net,,\n"
                    "odd@example.net,Odd,sleeping\n")
        r = self.digest("subscribers", "import", a, conf=conf)
        check(r.code == 0, f"import CSV: exit {r.code}: {short(r.err)}")
        check(f"{a}:5:" in r.err, f"bad line 5 not reported as {a}:5: {short(r.err)}")
        check(f"{a}:7:" in r.err, f"bad status on line 7 not reported as {a}:7: {short(r.err)}")
        check(not re.search(re.escape(a) + r":[2346]:", r.err), f"good lines reported: {short(r.err)}")
        r = self.digest("subscribers", "export", conf=conf)
        first = {row[0]: row[1] for row in list(csv.reader(r.out.splitlines()))[1:] if len(row) == 3}
        check(first.get("smith@example.net") == "Smith, John" and first.get("ivan@example.net") == "Иван Петров",
              f"names after the CSV import (a quoted comma, Cyrillic): {first}")
        b = os.path.join(d, "list.txt")
        with open(b, "w", encoding="utf-8") as f:
            f.write("Пётр Сидоров <petr@example.net>\n"
                    "<angle@example.net>\n"
                    "bare@example.net\n"
                    '"Doe, Jane" <jane@example.net>\n'
                    "Broken <nope@example.net\n"
                    "Джон Смит <smith@example.net>\n")
        r = self.digest("subscribers", "import", b, conf=conf)
        check(r.code == 0, f"import lines: exit {r.code}: {short(r.err)}")
        check(f"{b}:5:" in r.err, f"bad line 5 not reported as {b}:5: {short(r.err)}")
        want = {
            "ivan@example.net": ("Иван Петров", "active"),
            "wait@example.net": ("Ждун", "pending"),
            "smith@example.net": ("", "unsubscribed"),   # its name may follow the last import
            "ok@example.net": ("", "active"),
            "petr@example.net": ("Пётр Сидоров", "active"),
            "angle@example.net": ("", "active"),
            "bare@example.net": ("", "active"),
            "jane@example.net": ("Doe, Jane", "active"),
        }

        def exported(conf_, out=None):
            args = ["subscribers", "export"] + (["-o", out] if out else [])
            r = self.digest(*args, conf=conf_)
            check(r.code == 0, f"export: exit {r.code}: {short(r.err)}")
            data = r.out if not out else open(out, encoding="utf-8").read()
            rows = list(csv.reader(data.splitlines()))
            check(rows and rows[0] == ["email", "name", "status"], f"export header {rows[:1]}")
            return data, {row[0]: (row[1], row[2]) for row in rows[1:]}

        data, got = exported(conf)
        statuses = {k: v[1] for k, v in got.items()}
        check(statuses.get("smith@example.net") == "unsubscribed",
              f"an unsubscribed address re-activated by an import without --resubscribe: "
              f"{got.get('smith@example.net')}")
        check({k: v[1] for k, v in want.items()} == statuses, f"statuses after import: {statuses}")
        names = {k: v[0] for k, v in got.items()}
        bad_names = {k: (names.get(k), v[0]) for k, v in want.items() if v[0] and names.get(k) != v[0]}
        check(not bad_names, f"names (got, want): {bad_names}")
        # --resubscribe brings it back
        c = os.path.join(d, "again.txt")
        with open(c, "w", encoding="utf-8") as f:
            f.write("smith@example.net\n")
        r = self.digest("subscribers", "import", c, conf=conf)
        check(r.code == 0 and exported(conf)[1]["smith@example.net"][1] == "unsubscribed",
              "re-imported without --resubscribe: no longer unsubscribed")
        r = self.digest("subscribers", "import", c, "--resubscribe", conf=conf)
        check(r.code == 0, f"import --resubscribe: exit {r.code}: {short(r.err)}")
        check(exported(conf)[1]["smith@example.net"][1] == "active", "--resubscribe did not reactivate")
        # unsubscribe, then an import keeps it unsubscribed
        r = self.digest("unsubscribe", "petr@example.net", conf=conf)
        check(r.code == 0, f"unsubscribe: exit {r.code}: {short(r.err)}")
        self.digest("subscribers", "import", b, conf=conf)
        check(exported(conf)[1]["petr@example.net"][1] == "unsubscribed",
              "`digest unsubscribe` undone by an import")
        # export round-trips: -o FILE equals stdout; a fresh database fed the
        # export exports the same
        out = os.path.join(d, "export.csv")
        data, got = exported(conf)
        data_o, got_o = exported(conf, out)
        check(data == data_o, "export -o FILE differs from export to stdout")
        d2 = self.testdir("job-import-roundtrip")
        conf2 = self.job_conf(d2, transport="maildir")
        r = self.digest("subscribers", "import", out, conf=conf2)
        check(r.code == 0 and not r.err_lines, f"import of an export: exit {r.code}: {short(r.err)}")
        data2, got2 = exported(conf2)
        check(got2 == got, f"export -> import -> export differs: {set(got.items()) ^ set(got2.items())}")
        # a file with no valid line
        e = os.path.join(d, "garbage.txt")
        with open(e, "w", encoding="utf-8") as f:
            f.write("no address here\n<>\n")
        r = self.digest("subscribers", "import", e, conf=conf)
        check(r.code == EX_DATAERR, f"import of a file with no valid line: exit {r.code}, want 65")
        check(f"{e}:1:" in r.err and f"{e}:2:" in r.err, f"bad lines not reported: {short(r.err)}")
        lst = self.digest("subscribers", "list", conf=conf)
        check(lst.code == 0 and all(k in lst.out for k in want), f"subscribers list: {short(lst.out)}")
