"""Integration tests of what `digest serve` logs and of proof of consent
(issue 15): one line per action at the default level, each with the time
and the client, never a full address or a token; each step a reader takes
to join or leave recorded in the database (time, client, wording version)
and shown by `digest subscribers show ADDR`.

A mixin of run.py's Suite, like admin_tests.py. The servers are real: a
`digest serve` over HTTP on 127.0.0.1, its confirmation mails delivered to
tests/integration/smtpd.py, the digest sent by `digest run`.
"""

import datetime as dt
import os
import re
import shutil
import sqlite3
import time

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import REPO, check
else:  # run.py imported as the module `run`
    from run import REPO, check

from inbound_tests import MAILTO  # noqa: E402
from job_tests import free_port, short  # noqa: E402
from serve_tests import FORM, Served, post_form, request  # noqa: E402

EX_DATAERR, EX_NOUSER = 65, 67
# "digest: 2026-12-02T15:17:41+03:00 serve: ..." (log_set_server)
STAMP = r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)"
LINE = re.compile(r"^digest: " + STAMP + r" (.*)$")
WORDING = re.compile(r"serve: wording version ([0-9a-f]{12}) ")


def stamp_time(s):
    return dt.datetime.fromisoformat(s)


def consents(path, addr):
    """[(event, at, client, wording)] of ADDR's trail, oldest first."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT c.event, c.at, c.client, c.wording FROM consents c JOIN subscribers s"
                           " ON s.id = c.subscriber_id WHERE s.addr_key = ? ORDER BY c.at, c.id",
                           (addr.lower(),)).fetchall()
    finally:
        con.close()


class ConsentTests:
    # ------------------------------------------------------------ helpers
    def served_lines(self, s):
        """The time-stamped lines of server S: [(datetime, text)]; every
        line but those printed before logging starts must have a stamp."""
        out = []
        for ln in s.err.splitlines():
            m = LINE.match(ln)
            if m:
                out.append((stamp_time(m.group(1)), m.group(2)))
            else:
                check(ln.startswith("serve: ") or not ln.startswith("digest: "),
                      f"a line of serve without the time: {ln!r}")
        return out

    def find_line(self, lines, pattern, what, t0, t1):
        """The one line matching PATTERN (a regex over the text after the
        time), its time within [T0 - 1 s, T1 + 1 s]."""
        rx = re.compile(pattern)
        hits = [(t, x) for t, x in lines if rx.fullmatch(x)]
        check(hits, f"no line for {what} (/{pattern}/) in serve's log:\n" +
              "\n".join(x for _, x in lines))
        t, x = hits[-1]
        check(t0 - dt.timedelta(seconds=1) <= t <= t1 + dt.timedelta(seconds=1),
              f"{what}: the line's time {t.isoformat()} is not between {t0.isoformat()} and {t1.isoformat()}")
        return x

    def wording_of(self, s):
        m = WORDING.search(s.err)
        check(m, f"serve did not log its wording version: {short(s.err)}")
        return m.group(1)

    def show(self, conf, addr, code=0):
        r = self.digest("subscribers", "show", addr, conf=conf)
        check(r.code == code, f"subscribers show {addr}: exit {r.code}, want {code}; {short(r.err)}")
        return r

    # ------------------------------------------------------------ the log
    def t_consent_serve_log(self):
        """Each action of serve is one line at the default level with the
        time and the client: subscribe request, confirmation sent,
        confirmed, unsubscribed (the page's button), one-click unsubscribe,
        rejected tokens (malformed, forged, expired), refused (rate limit),
        invalid input; neither a full address, nor its local part, nor a
        token appears anywhere in serve's stderr. The trail of each reader
        is in the database and in `subscribers show`."""
        d, srv, port, base, conf = self.serve_setup("consent-log", locale="en", digest="send_empty = true;")
        a, b, c = "jane.doe@example.org", "olga.smirnova@example.net", "rate.limited@example.com"
        secrets = [a, b, c, "jane.doe", "olga.smirnova", "rate.limited", "not-an-address"]
        try:
            t0 = dt.datetime.now(dt.timezone.utc)
            with self.serve(conf, port) as s:
                version = self.wording_of(s)
                for addr in (a, b):
                    r = post_form(port, "/digest/subscribe", {"email": addr, "name": "Reader"})
                    check(r.status == 200, f"subscribe {addr}: {r.show()}")
                toks = {addr: self.confirm_token(srv, addr, base, locale="en") for addr in (a, b)}
                secrets += toks.values()
                for addr in (a, b):
                    r = request(port, "GET", f"/digest/confirm?t={toks[addr]}")
                    check(r.status == 200, f"GET confirm of {addr}: {r.show()}")
                    r = post_form(port, "/digest/confirm", {"t": toks[addr]})
                    check(r.status == 200 and self.status_of(d, addr)[0] == "active",
                          f"POST confirm of {addr}: {r.show()}, {self.status_of(d, addr)}")
                r = post_form(port, "/digest/confirm", {"t": toks[a]})
                check(r.status == 200, f"confirm again: {r.show()}")
                # the digest, for the unsubscribe links
                self.run_job(conf)
                ua, uta = self.digest_unsub(srv, a, base)
                ub, utb = self.digest_unsub(srv, b, base)
                secrets += [uta, utb]
                # a: the page's button; b: RFC 8058 one-click
                r = request(port, "GET", self.path_of(ua))
                self.token_form(r, "unsubscribe", uta, locale="en")
                r = post_form(port, "/digest/unsubscribe", {"t": uta})
                check(r.status == 200 and self.status_of(d, a)[0] == "unsubscribed", f"unsubscribe a: {r.show()}")
                r = post_form(port, self.path_of(ub), {"List-Unsubscribe": "One-Click"})
                check(r.status == 200 and self.status_of(d, b)[0] == "unsubscribed", f"one-click b: {r.show()}")
                # rejected tokens: malformed, forged, expired (a left since)
                forged = toks[b][:10] + ("A" if toks[b][10] != "A" else "B") + toks[b][11:]
                secrets.append(forged)
                r = request(port, "GET", "/digest/confirm?t=short")
                check(r.status == 400, f"a malformed token: {r.show()}")
                r = post_form(port, "/digest/unsubscribe", {"t": forged})
                check(r.status == 403, f"a forged token: {r.show()}")
                r = post_form(port, "/digest/confirm", {"t": toks[a]})
                check(r.status == 410, f"a confirm link from before a left: {r.show()}")
                # invalid input: not a form, not an address, no email
                r = request(port, "POST", "/digest/subscribe", b"email=x", {"Content-Type": "text/plain"})
                check(r.status == 415, f"a text/plain body: {r.show()}")
                r = post_form(port, "/digest/subscribe", {"email": "not-an-address"})
                check(r.status == 400, f"a bad address: {r.show()}")
                r = post_form(port, "/digest/subscribe", {"name": "no email"})
                check(r.status == 400, f"no email field: {r.show()}")
                # refused: the fourth request for one address in a row
                codes = [post_form(port, "/digest/subscribe", {"email": c}).status for _ in range(4)]
                check(codes == [200, 200, 200, 429], f"four requests for {c}: {codes}")
                time.sleep(0.5)   # c's confirmation mail, sent meanwhile
                t1 = dt.datetime.now(dt.timezone.utc)
            lines = self.served_lines(s)
            ip = r"127\.0\.0\.1"
            want = [
                (rf"serve: subscribe request from {ip}: j\*\*\*@example\.org: new, confirmation owed", "a's request"),
                (rf"serve: subscribe request from {ip}: o\*\*\*@example\.net: new, confirmation owed", "b's request"),
                (r"confirmation sent to j\*\*\*@example\.org", "a's confirmation sent"),
                (r"confirmation sent to o\*\*\*@example\.net", "b's confirmation sent"),
                (rf"serve: confirmed from {ip}: j\*\*\*@example\.org", "a confirmed"),
                (rf"serve: confirmed from {ip}: o\*\*\*@example\.net", "b confirmed"),
                (rf"serve: confirm from {ip}: j\*\*\*@example\.org: active already", "a's confirm replayed"),
                (rf"serve: unsubscribed from {ip}: j\*\*\*@example\.org", "a unsubscribed"),
                (rf"serve: one-click unsubscribe from {ip}: o\*\*\*@example\.net", "b's one-click"),
                (rf"serve: rejected confirm token \(malformed\) from {ip}", "the malformed token"),
                (rf"serve: rejected unsubscribe token \(forged\) from {ip}", "the forged token"),
                (rf"serve: rejected confirm token \(expired\) from {ip}: j\*\*\*@example\.org", "the expired link"),
                (rf"serve: invalid subscribe request from {ip}: not a form .*", "the text/plain body"),
                (rf"serve: invalid subscribe request from {ip}: \*\*\*: no @", "the bad address"),
                (rf"serve: invalid subscribe request from {ip}: no email field", "the form without email"),
                (rf"serve: subscribe request from {ip}: r\*\*\*@example\.com: pending, confirmation sent lately",
                 "c's second request"),
                (rf"serve: refused subscribe request from {ip}: too many for r\*\*\*@example\.com",
                 "c's fourth request"),
            ]
            for pattern, what in want:
                self.find_line(lines, pattern, what, t0, t1)
            # the GET of a link is a view: no action line of its own
            check(not [x for _, x in lines if "GET" in x], f"a GET logged at the default level: {lines}")
            err = s.err
            low = err.lower()
            for secret in secrets:
                check(secret.lower() not in low, f"serve's stderr shows {secret!r}: "
                      f"{err[max(0, low.find(secret.lower()) - 100):low.find(secret.lower()) + 100]!r}")
            # the trail in the database
            path = self.db(d)
            ta, tb = consents(path, a), consents(path, b)
            check([(e, cl, w) for e, _, cl, w in ta] ==
                  [("request", "127.0.0.1", version), ("confirm", "127.0.0.1", version),
                   ("unsubscribe", "127.0.0.1", None)], f"{a}'s trail: {ta}, wording {version}")
            check([(e, cl, w) for e, _, cl, w in tb] ==
                  [("request", "127.0.0.1", version), ("confirm", "127.0.0.1", version),
                   ("one-click", "127.0.0.1", None)], f"{b}'s trail: {tb}, wording {version}")
            for e, at, _, _ in ta + tb:
                check(t0.timestamp() - 1 <= at <= t1.timestamp() + 1, f"a consent row's time {at} is not between "
                      f"{t0} and {t1}")
            tc = consents(path, c)
            check([e for e, _, _, _ in tc] == ["request"] * 3, f"{c}: three requests were taken: {tc}")
            # `subscribers show`
            r = self.show(conf, "Jane.Doe@EXAMPLE.org")
            out = r.out
            check(re.search(r"^address:\s+jane\.doe@example\.org$", out, re.M), f"show: no address line: {out}")
            check(re.search(r"^name:\s+Reader$", out, re.M), f"show: no name line: {out}")
            check(re.search(r"^status:\s+unsubscribed since \d{4}-\d\d-\d\d \d\d:\d\d$", out, re.M),
                  f"show: no status line: {out}")
            check(re.search(r"^created:\s+\d{4}-\d\d-\d\d \d\d:\d\d$", out, re.M), f"show: no created line: {out}")
            check(re.search(r"^bounces:\s+score 0\.0", out, re.M), f"show: no bounce score: {out}")
            rows = re.findall(r"^  " + STAMP + r"\s+(\S+)\s+(\S+)\s+(\S+)$", out, re.M)
            check([(e, cl, w) for _, e, cl, w in rows] ==
                  [("request", "127.0.0.1", version), ("confirm", "127.0.0.1", version),
                   ("unsubscribe", "127.0.0.1", "-")], f"show: the consent rows are {rows}: {out}")
            today = str(self.today())
            check(re.search(rf"^  {today}\s+sent\s+1\s+\d{{4}}-\d\d-\d\d \d\d:\d\d\s+250\b", out, re.M),
                  f"show: no delivery row for the edition {today}, sent with a 250: {out}")
        finally:
            srv.stop()

    # ------------------------------------------------------------ the wording version
    def t_consent_wording_version(self):
        """The wording version is a hash of the subscribe pages and the
        confirmation mail as served: the same across restarts, new when
        page.html or confirm.txt change; the consent rows name the one
        the reader was shown."""
        d, srv, port, base, conf = self.serve_setup("consent-wording", locale="en")
        try:
            tpl = os.path.join(d, "tpl")
            shutil.copytree(os.path.join(REPO, "templates"), tpl)
            with open(conf, encoding="utf-8") as f:
                text = f.read()
            text, n = re.subn(r'templates = \{ dir = "[^"]*"; \};', f'templates = {{ dir = "{tpl}"; }};', text)
            check(n == 1, "test bug: no templates line in the config")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text)

            def version():
                with self.serve(conf, port) as s:
                    return self.wording_of(s)

            v1 = version()
            check(version() == v1, "the wording version changed across a restart with the same templates")
            page = os.path.join(tpl, "page.html")
            with open(page, encoding="utf-8") as f:
                html = f.read()
            check("</form>" in html or "{{#form}}" in html, "test bug: page.html has no form")
            with open(page, "w", encoding="utf-8") as f:
                f.write(html.replace("</body>", "<p>We never share your address.</p></body>", 1))
            v2 = version()
            check(v2 != v1, f"a new sentence in page.html kept the wording version {v1}")
            mail = os.path.join(tpl, "confirm.txt")
            with open(mail, "a", encoding="utf-8") as f:
                f.write("\nYou can leave at any time.\n")
            with self.serve(conf, port) as s:
                v3 = self.wording_of(s)
                check(v3 not in (v1, v2), f"a new sentence in confirm.txt kept the wording version {v3}")
                addr = "worded@example.org"
                r = post_form(port, "/digest/subscribe", {"email": addr})
                check(r.status == 200, f"subscribe: {r.show()}")
                tok = self.confirm_token(srv, addr, base, locale="en")
                r = post_form(port, "/digest/confirm", {"t": tok})
                check(r.status == 200, f"confirm: {r.show()}")
            trail = consents(self.db(d), addr)
            check([(e, w) for e, _, _, w in trail] == [("request", v3), ("confirm", v3)],
                  f"the trail names wording {trail}, want {v3}")
            out = self.show(conf, addr).out
            check(out.count(v3) == 2, f"show: the wording version {v3} is not on both consent rows: {out}")
        finally:
            srv.stop()

    # ------------------------------------------------------------ behind a proxy
    def t_consent_proxy_client(self):
        """With http.behind_proxy, the client logged and recorded is the
        last X-Forwarded-For address (IPv6 whole, not its /64); without it
        the header is ignored. A confirmation mail the server cannot send
        is logged masked too."""
        d = self.testdir("consent-proxy")
        conf = self.job_conf(d, free_port())     # no SMTP server there: each mail is deferred
        with open(conf, encoding="utf-8") as f:
            plain = f.read()
        with open(conf, "a", encoding="utf-8") as f:
            f.write("http = { behind_proxy = true; };\n")
        cases = (("four@example.net", "10.9.9.9, 203.0.113.77", "203.0.113.77"),
                 ("six@example.net", "2001:db8:1:2:3:4:5:42", "2001:db8:1:2:3:4:5:42"))
        with self.serve(conf) as s:
            for addr, xff, client in cases:
                r = post_form(s.port, "/subscribe", {"email": addr}, headers={"X-Forwarded-For": xff})
                check(r.status == 200, f"subscribe {addr}: {r.show()}")
            deadline = time.monotonic() + 10   # the sender tries, and is deferred
            while "deferred" not in s.err and time.monotonic() < deadline:
                time.sleep(0.1)
        for addr, xff, client in cases:
            trail = consents(self.db(d), addr)
            check([(e, cl) for e, _, cl, _ in trail] == [("request", client)],
                  f"{addr} through X-Forwarded-For {xff!r}: trail {trail}, want a request from {client}")
            masked = re.escape(addr[0] + "***@example.net")
            check(re.search(rf"^digest: {STAMP} serve: subscribe request from {re.escape(client)}: {masked}: ",
                            s.err, re.M), f"no request line from {client}: {short(s.err)}")
            check(addr not in s.err, f"serve's stderr shows {addr}")
        check(re.search(rf"^digest: {STAMP} warning: confirmation to f\*\*\*@example\.net deferred: ", s.err, re.M),
              f"no masked line for the deferred confirmation mail: {short(s.err)}")
        # without behind_proxy the header is anyone's: ignored
        with open(conf, "w", encoding="utf-8") as f:
            f.write(plain)
        with self.serve(conf) as s:
            r = post_form(s.port, "/subscribe", {"email": "seven@example.net"},
                          headers={"X-Forwarded-For": "198.51.100.1"})
            check(r.status == 200, f"subscribe: {r.show()}")
        trail = consents(self.db(d), "seven@example.net")
        check([(e, cl) for e, _, cl, _ in trail] == [("request", "127.0.0.1")],
              f"without behind_proxy: trail {trail}, want a request from 127.0.0.1")

    # ------------------------------------------------------------ the command line
    def t_consent_cli(self):
        """`subscribe` (client "cli", with --confirmed its own event),
        `unsubscribe` and `subscribers import` (client "import:FILE") record
        their steps; `subscribers show` finds a reader by identity (case,
        IDN), exits 67 for no such reader and 65 for a bad address, and is
        in `subscribers --help`."""
        d = self.testdir("consent-cli")
        conf = self.job_conf(d, transport="maildir")
        path = self.db(d)
        r = self.digest("subscribe", "op@example.org", "--confirmed", conf=conf)
        check(r.code == 0, f"subscribe --confirmed: exit {r.code}: {short(r.err)}")
        r = self.digest("subscribe", "Ivan@почта.рф", "--name", "Иван", conf=conf)
        check(r.code == 0, f"subscribe: exit {r.code}: {short(r.err)}")
        r = self.digest("unsubscribe", "OP@example.org", conf=conf)
        check(r.code == 0, f"unsubscribe: exit {r.code}: {short(r.err)}")
        lst = os.path.join(d, "list.txt")
        with open(lst, "w", encoding="utf-8") as f:
            f.write("Imported One <imp1@example.net>\nimp2@example.net\nop@example.org\n")
        r = self.digest("subscribers", "import", lst, conf=conf)
        check(r.code == 0, f"import: exit {r.code}: {short(r.err)}")
        t_op = consents(path, "op@example.org")
        check([(e, cl) for e, _, cl, _ in t_op] == [("subscribe-confirmed", "cli"), ("unsubscribe", "cli")],
              f"op's trail: {t_op} (the import kept them unsubscribed: no row)")
        t_iv = consents(path, "ivan@xn--80a1acny.xn--p1ai")
        check([(e, cl) for e, _, cl, _ in t_iv] == [("request", "cli")], f"Ivan's trail: {t_iv}")
        t_imp = consents(path, "imp1@example.net")
        check([(e, cl) for e, _, cl, _ in t_imp] == [("import-active", f"import:{lst}")], f"imp1's trail: {t_imp}")
        # a second import of the same file changes nothing: no row
        r = self.digest("subscribers", "import", lst, conf=conf)
        check(r.code == 0 and len(consents(path, "imp1@example.net")) == 1,
              f"a re-import recorded again: {consents(path, 'imp1@example.net')}")
        # show: by identity, whatever the spelling
        for spelling in ("ivan@ПОЧТА.РФ", "IVAN@xn--80a1acny.xn--p1ai"):
            out = self.show(conf, spelling).out
            check(re.search(r"^address:\s+Ivan@почта\.рф$", out, re.M) and
                  re.search(r"^name:\s+Иван$", out, re.M) and
                  re.search(r"^status:\s+pending since ", out, re.M) and
                  re.search(r"^  " + STAMP + r"\s+request\s+cli\s+-$", out, re.M),
                  f"show {spelling}: {out}")
        r = self.show(conf, "nobody@example.org", code=EX_NOUSER)
        check(r.out == "" and len(r.err_lines) == 1 and "nobody@example.org" in r.err,
              f"show of no reader: want one line naming the address, no output: {short(r.out + r.err)}")
        r = self.show(conf, "not an address", code=EX_DATAERR)
        check(r.out == "" and len(r.err_lines) == 1, f"show of a bad address: {short(r.out + r.err)}")
        r = self.digest("subscribers", "show", conf=conf)
        check(r.code == 64, f"show without an address: exit {r.code}, want 64")
        r = self.digest("subscribers", "--help", conf=conf)
        check(r.code == 0 and "show ADDR" in r.out + r.err, f"subscribers --help: {short(r.out + r.err)}")

    # ------------------------------------------------------------ what comes back
    def t_consent_inbound(self):
        """`digest inbound`: mail to a reader's mailto address and a
        complaint each add a step with client "mail"; the same message
        again adds nothing; a reader who did neither keeps only the
        import's step."""
        d, conf, box = self.inbound_setup("consent-inbound", n=3)
        a, b, c = sorted(box)
        lu = " ".join((box[a][1]["List-Unsubscribe"] or "").split())
        to = MAILTO.search(lu).group(1)
        msg = (f"Return-Path: <{a}>\nFrom: {a}\nTo: {to}\nSubject: unsubscribe\n"
               f"Message-ID: <cu1@example.net>\n\n").encode()
        self.inbound(conf, d, msg, "unsub.eml")
        self.inbound(conf, d, msg, "unsub-again.eml")
        original = box[b][0].decode("utf-8", "replace")
        arf = ("From: fbl@feedback.example.com\nTo: fbl@example.org\nSubject: complaint\n"
               "Message-ID: <carf-1@feedback.example.com>\nMIME-Version: 1.0\n"
               'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
               "--F\nContent-Type: text/plain\n\nA complaint.\n\n--F\nContent-Type: message/feedback-report\n\n"
               "Feedback-Type: abuse\nVersion: 1\n\n--F\nContent-Type: message/rfc822\n\n"
               + original + "\n--F--\n").encode()
        self.inbound(conf, d, arf, "arf.eml")
        path = self.db(d)
        imported = os.path.join(d, "subs-in.txt")
        for addr, want in ((a, [("import-active", f"import:{imported}"), ("mail-unsubscribe", "mail")]),
                           (b, [("import-active", f"import:{imported}"), ("complaint", "mail")]),
                           (c, [("import-active", f"import:{imported}")])):
            got = [(e, cl) for e, _, cl, _ in consents(path, addr)]
            check(got == want, f"{addr}'s trail: {got}, want {want}")
        out = self.show(conf, a).out
        check(re.search(r"^  " + STAMP + r"\s+mail-unsubscribe\s+mail\s+-$", out, re.M),
              f"show {a}: no mail-unsubscribe row: {out}")
