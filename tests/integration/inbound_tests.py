"""Integration tests of what comes back (SPEC "What comes back"): VERP
envelope senders and personal mailto addresses in what `run` writes, and
`digest inbound` acting on bounces, complaints, unsubscribes and
auto-replies from a file, stdin or a Maildir: the score and its
threshold, one step a day, the reset, idempotence, forged tokens, what is
not mail; `digest bounces`. A real Postfix relays an edition to addresses
that do not exist and its own DSNs come back. A mixin of run.py's Suite."""

import datetime as dt
import email
import email.policy
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import time

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, Fail, Skip, check
else:  # run.py imported as the module `run`
    from run import DIGEST, Fail, Skip, check

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(os.path.dirname(HERE), "fixtures", "inbound")
VERP = re.compile(r"^digest\+b-([a-z2-7]{29})@example\.org$")
MAILTO = re.compile(r"<mailto:(digest\+u-([a-z2-7]{29})@example\.org)\?subject=unsubscribe>")
INBOUND_LINE = re.compile(r"^inbound: (\d+) messages?: (\d+) bounce-hard, (\d+) bounce-soft, (\d+) complaint, "
                          r"(\d+) unsubscribe, (\d+) auto-reply, (\d+) unknown$")
UTC = dt.timezone.utc


def short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "..."


def dsn(to, rcpt, status="5.1.1", action="failed", msgid="dsn-1@mx.example.net"):
    """A Postfix-style RFC 3464 report to TO (a VERP address) that RCPT failed."""
    return (f"Return-Path: <>\nDelivered-To: {to}\n"
            f"From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
            f"To: {to}\nSubject: Undelivered Mail Returned to Sender\nAuto-Submitted: auto-replied\n"
            f"Message-Id: <{msgid}>\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n\n'
            f"--B\nContent-Type: text/plain\n\nThis is the mail system at host mx.example.net.\n\n"
            f"<{rcpt}>: host mail.example.net said: 550 5.1.1 User unknown\n\n"
            f"--B\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.net\n\n"
            f"Final-Recipient: rfc822; {rcpt}\nAction: {action}\nStatus: {status}\n"
            f"Diagnostic-Code: smtp; 550 {status} User unknown\n\n--B--\n").encode()


class InboundTests:
    # ------------------------------------------------------------ helpers
    def inbound_setup(self, name, n=3, block=""):
        """A test dir with N active readers (BLOCK added to the config), an
        edition sent into the Maildir var/outbox; returns (d, conf, {email:
        (raw, parsed message)})."""
        d = self.testdir(name)
        conf = self.job_conf(d, transport="maildir")
        if block:
            self.conf_append(conf, block)
        self.add_subscribers(d, conf, n=n, prefix="in", domain="example.net")
        self.run_job(conf)
        return d, conf, self.verp_outbox(d)

    def conf_append(self, conf, text):
        """Add TEXT (a top-level block) at the end of the config CONF."""
        with open(conf, "a", encoding="utf-8") as f:
            f.write("\n" + text + "\n")

    def verp_outbox(self, d):
        out = {}
        new = os.path.join(d, "var", "outbox", "new")
        for f in sorted(os.listdir(new)):
            with open(os.path.join(new, f), "rb") as fh:
                raw = fh.read()
            msg = email.message_from_bytes(raw, policy=email.policy.compat32)
            out[msg["To"].split("<")[-1].rstrip(">").strip()] = (raw, msg)
        return out

    def statuses(self, d):
        con = sqlite3.connect(f"file:{self.db(d)}?mode=ro", uri=True, timeout=10)
        try:
            return {e: (s, sc) for e, s, sc in con.execute("SELECT email, status, bounce_score FROM subscribers")}
        finally:
            con.close()

    def inbound(self, conf, d, data, name="msg.eml", code=0, fake_now=None, args=()):
        path = os.path.join(d, name)
        with open(path, "wb") as f:
            f.write(data)
        r = self.digest("inbound", *(args or [path]), conf=conf, fake_now=fake_now)
        check(r.code == code, f"inbound {name}: exit {r.code}, want {code}; stderr: {short(r.err)}")
        return r

    def inbound_counts(self, r):
        last = r.err_lines[-1] if r.err_lines else ""
        m = INBOUND_LINE.match(last)
        check(m, f"the last line of stderr is not the inbound summary: {last!r}")
        n = [int(x) for x in m.groups()]
        check(n[0] == sum(n[1:]), f"summary: {n[0]} messages != the sum of the kinds: {last!r}")
        return dict(zip(["messages", "hard", "soft", "complaint", "unsubscribe", "auto", "unknown"], n))

    def return_path(self, raw):
        first = raw.split(b"\n", 1)[0].decode()
        m = re.match(r"^Return-Path: <(.*)>$", first)
        check(m, f"the first line of the Maildir message is not Return-Path: <...>: {first!r}")
        return m.group(1)

    # ------------------------------------------------------------ VERP
    def t_inbound_verp_addresses(self):
        """Each message's Return-Path (the maildir transport's first line) is
        digest+b-TOKEN@example.org with a 29-character token, its local part
        within 64 octets, one per reader; List-Unsubscribe carries a
        personal mailto digest+u-TOKEN@example.org?subject=unsubscribe."""
        d, conf, box = self.inbound_setup("verp")
        check(len(box) == 3, f"{len(box)} messages, want 3")
        senders, mailtos = set(), set()
        for rcpt, (raw, msg) in box.items():
            rp = self.return_path(raw)
            check(VERP.match(rp), f"{rcpt}: Return-Path {rp!r}, want digest+b-TOKEN@example.org")
            check(len(rp.split("@")[0]) <= 64, f"{rcpt}: local part over 64 octets: {rp!r}")
            lu = " ".join((msg["List-Unsubscribe"] or "").split())
            m = MAILTO.search(lu)
            check(m, f"{rcpt}: List-Unsubscribe {lu!r} has no personal mailto")
            senders.add(rp)
            mailtos.add(m.group(1))
        check(len(senders) == 3 and len(mailtos) == 3, f"not personal: {senders} {mailtos}")

    def t_inbound_bounce_address_config(self):
        """delivery.bounce_address names the VERP address; one whose local
        part leaves no room for the token is a configuration error (78)."""
        d = self.testdir("verp-conf")
        conf = self.job_conf(d, transport="maildir", subs_extra=[
            ('transport = "maildir";', 'transport = "maildir"; bounce_address = "Bounces <bounce@lists.example.org>";')])
        self.add_subscribers(d, conf, n=1, prefix="ba")
        self.run_job(conf)
        (raw, _), = self.verp_outbox(d).values()
        rp = self.return_path(raw)
        check(re.match(r"^bounce\+b-[a-z2-7]{29}@lists\.example\.org$", rp), f"Return-Path {rp!r}")
        d2 = self.testdir("verp-conf-long")
        conf2 = self.job_conf(d2, transport="maildir", subs_extra=[
            ('transport = "maildir";', f'transport = "maildir"; bounce_address = "{"x" * 40}@example.org";')])
        r = self.digest("run", conf=conf2)
        check(r.code == 78, f"run with a 40-character bounce local part: exit {r.code}, want 78: {short(r.err)}")
        check("bounce_address" in r.err, f"the error does not name delivery.bounce_address: {short(r.err)}")

    # ------------------------------------------------------------ bounces
    def t_inbound_bounce_score_threshold(self):
        """Hard bounces to a reader's VERP address add 1 a day: a second the
        same day adds nothing, the third day makes the reader bouncing (the
        default threshold 3); the others stay active; the same message
        again changes nothing; `bounces` lists them; `status` counts them."""
        d, conf, box = self.inbound_setup("bounce-score")
        victim = sorted(box)[0]
        rp = self.return_path(box[victim][0])
        day0 = dt.datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        r = self.inbound(conf, d, dsn(rp, victim, msgid="a1@mx"), fake_now=day0)
        c = self.inbound_counts(r)
        check(c["hard"] == 1 and c["messages"] == 1, f"summary {c}")
        check(self.statuses(d)[victim] == ("active", 1.0), f"after one hard bounce: {self.statuses(d)[victim]}")
        self.inbound(conf, d, dsn(rp, victim, msgid="a2@mx"), fake_now=day0 + dt.timedelta(hours=2))
        check(self.statuses(d)[victim] == ("active", 1.0), f"a second bounce the same day stepped: "
              f"{self.statuses(d)[victim]}")
        self.inbound(conf, d, dsn(rp, victim, msgid="a3@mx"), fake_now=day0 + dt.timedelta(days=1))
        check(self.statuses(d)[victim] == ("active", 2.0), f"day 2: {self.statuses(d)[victim]}")
        # the same message again (a redelivery): nothing
        self.inbound(conf, d, dsn(rp, victim, msgid="a3@mx"), fake_now=day0 + dt.timedelta(days=2))
        check(self.statuses(d)[victim] == ("active", 2.0), f"a message seen before stepped: "
              f"{self.statuses(d)[victim]}")
        self.inbound(conf, d, dsn(rp, victim, msgid="a4@mx"), fake_now=day0 + dt.timedelta(days=2, hours=1))
        st = self.statuses(d)
        check(st[victim][0] == "bouncing", f"day 3: {st[victim]}, want bouncing")
        for other in box:
            if other != victim:
                check(st[other] == ("active", 0.0), f"{other}: {st[other]}, want active and no score")
        r = self.digest("bounces", "--days", "30", conf=conf, fake_now=day0 + dt.timedelta(days=2, hours=2))
        check(r.code == 0, f"bounces: exit {r.code}: {short(r.err)}")
        rows = [ln for ln in r.out.splitlines()[1:] if ln.strip()]
        check(len(rows) == 4 and all(victim in ln and "bounce-hard" in ln and "5.1.1" in ln for ln in rows),
              f"bounces lists {rows}, want the 4 hard bounces of {victim} with 5.1.1")
        r = self.digest("status", conf=conf, fake_now=day0 + dt.timedelta(days=2, hours=2))
        check("4 bounce-hard" in r.out and "1 bouncing" in r.out, f"status: {short(r.out)}")

    def t_inbound_soft_and_reset(self):
        """Soft bounces (Action: delayed, 4.x.x) add 0.5; after
        bounce_reset_days without a bounce the score starts again from 0;
        a lower threshold in the inbound block is honoured."""
        d, conf, box = self.inbound_setup("bounce-soft", n=2, block='inbound = { bounce_threshold = 1.5; '
                                          'bounce_reset_days = 3; };')
        victim = sorted(box)[0]
        rp = self.return_path(box[victim][0])
        t0 = dt.datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        self.inbound(conf, d, dsn(rp, victim, "4.4.1", "delayed", "s1@mx"), fake_now=t0)
        check(self.statuses(d)[victim] == ("active", 0.5), f"one soft: {self.statuses(d)[victim]}")
        self.inbound(conf, d, dsn(rp, victim, "4.2.2", "failed", "s2@mx"), fake_now=t0 + dt.timedelta(days=1))
        check(self.statuses(d)[victim] == ("active", 1.0), f"two soft: {self.statuses(d)[victim]}")
        # five quiet days: a fresh start
        self.inbound(conf, d, dsn(rp, victim, "5.1.1", "failed", "s3@mx"), fake_now=t0 + dt.timedelta(days=6))
        check(self.statuses(d)[victim] == ("active", 1.0), f"after the reset, one hard: {self.statuses(d)[victim]}")
        self.inbound(conf, d, dsn(rp, victim, "5.1.1", "failed", "s4@mx"), fake_now=t0 + dt.timedelta(days=7))
        check(self.statuses(d)[victim][0] == "bouncing", f"threshold 1.5: {self.statuses(d)[victim]}")

    def t_inbound_forged_token(self):
        """A bounce whose VERP token was altered by one character is unknown
        and changes nothing, though its report names a reader."""
        d, conf, box = self.inbound_setup("forged", n=1)
        victim, (raw, _) = next(iter(box.items()))
        rp = self.return_path(raw)
        tok = VERP.match(rp).group(1)
        bad = rp.replace(tok, ("b" if tok[5] != "b" else "c").join([tok[:5], tok[6:]]))
        r = self.inbound(conf, d, dsn(bad, victim, msgid="f1@mx"))
        c = self.inbound_counts(r)
        check(c["unknown"] == 1 and c["hard"] == 0, f"a forged token: {c}, want unknown")
        check(self.statuses(d)[victim] == ("active", 0.0), f"a forged token acted: {self.statuses(d)[victim]}")

    def t_inbound_unsubscribe_and_complaint(self):
        """Mail to a reader's mailto address unsubscribes them at once; an
        ARF complaint quoting another reader's message (found by its
        Return-Path) unsubscribes that one; the third stays active."""
        d, conf, box = self.inbound_setup("unsub", n=3)
        a, b, c = sorted(box)
        lu = " ".join((box[a][1]["List-Unsubscribe"] or "").split())
        to = MAILTO.search(lu).group(1)
        msg = (f"Return-Path: <{a}>\nDelivered-To: {to}\nFrom: {a}\nTo: {to}\nSubject: unsubscribe\n"
               f"Message-ID: <u1@example.net>\n\n").encode()
        r = self.inbound(conf, d, msg, "unsub.eml")
        check(self.inbound_counts(r)["unsubscribe"] == 1, f"summary: {r.err_lines[-1]}")
        original = box[b][0].decode("utf-8", "replace")
        arf = ("From: fbl@feedback.example.com\nTo: fbl@example.org\nSubject: complaint\n"
               "Message-ID: <arf-1@feedback.example.com>\nMIME-Version: 1.0\n"
               'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
               "--F\nContent-Type: text/plain\n\nA complaint.\n\n--F\nContent-Type: message/feedback-report\n\n"
               "Feedback-Type: abuse\nVersion: 1\n\n--F\nContent-Type: message/rfc822\n\n"
               + original.replace(b, "redacted@example.net") + "\n--F--\n").encode()
        r = self.inbound(conf, d, arf, "arf.eml")
        check(self.inbound_counts(r)["complaint"] == 1, f"summary: {r.err_lines[-1]}")
        st = self.statuses(d)
        check(st[a][0] == "unsubscribed" and st[b][0] == "unsubscribed" and st[c][0] == "active",
              f"statuses {st}")

    def t_inbound_pipe_and_not_mail(self):
        """`digest inbound < message` as an MTA pipe calls it: exit 0 and the
        summary; `inbound -` the same; a file that is not mail exits 65
        with one line; an auto-reply changes nothing."""
        d, conf, box = self.inbound_setup("pipe", n=1)
        victim, (raw, _) = next(iter(box.items()))
        rp = self.return_path(raw)
        data = dsn(rp, victim, msgid="p1@mx")
        env = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
        for args in ([], ["-"]):
            p = subprocess.run([DIGEST, "-c", conf, "inbound", *args], input=data, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=env, timeout=30)
            err = p.stderr.decode()
            check(p.returncode == 0, f"inbound {args} < message: exit {p.returncode}: {short(err)}")
            check(INBOUND_LINE.match(err.strip().splitlines()[-1]), f"no summary line: {short(err)}")
            check("Sanitizer" not in err and "runtime error" not in err, f"sanitizer: {short(err)}")
        check(self.statuses(d)[victim] == ("active", 1.0), f"the same bounce twice: {self.statuses(d)[victim]}")
        for name, data in (("garbage.bin", b"\x00\x01\x02 not mail at all\n"), ("text.txt", b"hello\nworld\n"),
                           ("empty.eml", b"")):
            r = self.inbound(conf, d, data, name, code=65)
            lines = [ln for ln in r.err_lines if not INBOUND_LINE.match(ln)]
            check(len(lines) == 1 and "not a mail message" in lines[0], f"{name}: stderr {r.err_lines}")
        with open(os.path.join(FIXTURES, "vacation-rfc3834.eml"), "rb") as f:
            vac = f.read().replace(b"digest+b-k5tq3mzv7xw2ab4cdefghijklmnop@example.org", rp.encode())
        r = self.inbound(conf, d, vac, "vacation.eml")
        check(self.inbound_counts(r)["auto"] == 1, f"summary {r.err_lines[-1]}")
        check(self.statuses(d)[victim] == ("active", 1.0), f"an auto-reply acted: {self.statuses(d)[victim]}")

    def t_inbound_maildir(self):
        """`inbound --maildir DIR` over the labelled samples and a bounce to
        a reader: recognised messages move to cur/ flagged S, unknown ones
        stay in new/ untouched; the summary counts each kind; a second pass
        changes nothing."""
        d, conf, box = self.inbound_setup("maildir", n=1)
        victim, (raw, _) = next(iter(box.items()))
        rp = self.return_path(raw)
        md = os.path.join(d, "bounces")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        labels = {}
        with open(os.path.join(FIXTURES, "LABELS")) as f:
            for ln in f:
                if ln.startswith("#") or not ln.strip():
                    continue
                name, kind, _ = ln.split()
                labels[name] = kind
                shutil.copy(os.path.join(FIXTURES, name), os.path.join(md, "new", f"1.{name}.host"))
        with open(os.path.join(md, "new", "2.reader.host"), "wb") as f:
            f.write(dsn(rp, victim, msgid="m1@mx"))
        with open(os.path.join(md, "new", "3.garbage.host"), "wb") as f:
            f.write(b"\x00garbage")
        before = {n: os.stat(os.path.join(md, "new", n)).st_mtime_ns for n in os.listdir(os.path.join(md, "new"))}
        r = self.digest("inbound", "--maildir", md, conf=conf)
        check(r.code == 0, f"inbound --maildir: exit {r.code}: {short(r.err)}")
        c = self.inbound_counts(r)
        want_unknown = sum(1 for k in labels.values() if k == "unknown") + 1  # and the garbage
        # the samples' tokens are not ours: their bounces name no reader but count by kind
        check(c["messages"] == len(labels) + 2, f"summary {c}, want {len(labels) + 2} messages")
        check(c["unknown"] >= want_unknown, f"summary {c}")
        left = sorted(os.listdir(os.path.join(md, "new")))
        check(len(left) == c["unknown"], f"new/ keeps {left}, want the {c['unknown']} unknown")
        for n in left:
            check(os.stat(os.path.join(md, "new", n)).st_mtime_ns == before[n], f"{n} was touched")
        for n in ("1.human.eml.host", "1.spam.eml.host", "3.garbage.host"):
            check(n in left, f"unknown {n} moved")
        cur = os.listdir(os.path.join(md, "cur"))
        check(all(n.endswith(":2,S") for n in cur) and "2.reader.host:2,S" in cur, f"cur/ {cur}")
        check(self.statuses(d)[victim] == ("active", 1.0), f"the reader's bounce: {self.statuses(d)[victim]}")
        r = self.digest("inbound", "--maildir", md, conf=conf)
        c2 = self.inbound_counts(r)
        check(c2["messages"] == c["unknown"], f"second pass read {c2}, want only the unknown left")
        r = self.digest("inbound", "--maildir", os.path.join(d, "nowhere"), conf=conf)
        check(r.code == 66, f"a missing Maildir: exit {r.code}, want 66 (EX_NOINPUT)")

    def t_inbound_confirmation_bounce(self):
        """A bounce of a confirmation mail (its VERP names no edition) drops
        the pending reader's owed mail and scores nobody."""
        d = self.testdir("confirm-bounce")
        conf = self.job_conf(d, transport="maildir")
        r = self.digest("subscribe", "pending@example.net", conf=conf)
        check(r.code == 0, f"subscribe: {r.code} {short(r.err)}")
        box = self.verp_outbox(d)
        check("pending@example.net" in box, f"no confirmation mail: {list(box)}")
        rp = self.return_path(box["pending@example.net"][0])
        check(VERP.match(rp), f"the confirmation mail's Return-Path {rp!r} is not VERP")
        r = self.inbound(conf, d, dsn(rp, "pending@example.net", msgid="c1@mx"))
        check(self.inbound_counts(r)["hard"] == 1, f"{r.err_lines[-1]}")
        st = self.statuses(d)
        check(st["pending@example.net"] == ("pending", 0.0), f"after the bounce: {st}")

    # ------------------------------------------------------------ a real Postfix
    def t_inbound_real_postfix_dsn(self):
        """digest sends an edition through a real Postfix (a private
        instance on a free loopback port) to two readers that do not exist
        (Postfix accepts them and its error transport fails them: real
        DSNs to the VERP addresses, delivered to a Maildir that Dovecot
        serves), one refused at RCPT (5xx during the run) and two that
        exist; with bounce_threshold 1, `inbound --fetch` over IMAP (or
        --maildir without Dovecot) makes the two bouncing,
        the run's 5xx made the third bouncing, the rest stay active; the
        readers' delivered copies carry the VERP Return-Path."""
        d = self.testdir("postfix")
        pf = Postfix(d)
        try:
            conf = self.job_conf(d, pf.port)
            with open(conf, encoding="utf-8") as f:
                plain = f.read()
            self.conf_append(conf, "inbound = { bounce_threshold = 1.0; };")
            subs = self.add_subscribers(d, conf, csv_rows=[
                ("dead1@dead.example.net", "Dead One", "active"), ("dead2@dead.example.net", "Dead Two", "active"),
                ("gone@reject.example.net", "Gone", "active"),
                ("live1@live.example.net", "Live One", "active"), ("live2@live.example.net", "Live Two", "active")])
            check(len(subs) == 5, "test bug")
            r = self.run_job(conf)
            s = self.summary(r)
            check((s["sent"], s["failed"]) == (4, 1), f"run through Postfix: {s}, want 4 sent and 1 failed "
                  f"(refused at RCPT)")
            bounces = pf.wait_files("bounces", 2)
            live = pf.wait_files("live", 2)
            for path in live:
                with open(path, "rb") as f:
                    rp = self.return_path(f.read())
                check(VERP.match(rp), f"Postfix delivered a copy with Return-Path {rp!r}, want VERP")
            st = self.statuses(d)
            check(st["gone@reject.example.net"][0] == "bouncing",
                  f"a 5xx at RCPT with threshold 1: {st['gone@reject.example.net']}, want bouncing")
            # the Maildir Postfix delivered to, served by Dovecot over IMAP
            # (TLS); without Dovecot, read as a Maildir
            try:
                dv = Dovecot(d, maildir=os.path.join(pf.mail, "bounces"))
            except Skip as e:
                dv = None
                print(f"# inbound_real_postfix_dsn: {e}: reading the Maildir instead of --fetch", flush=True)
            try:
                if dv:
                    with open(conf, "w", encoding="utf-8") as f:
                        f.write(plain)
                    self.conf_append(conf, "inbound = { bounce_threshold = 1.0; "
                                     + fetch_block(dv, "imap", dv.ports["imaps"], "tls")[len("inbound = { "):])
                    with open(os.path.join(d, "imap-password"), "w") as f:
                        f.write(Dovecot.PASSWORD + "\n")
                    r = self.digest("inbound", "--fetch", conf=conf)
                else:
                    r = self.digest("inbound", "--maildir", os.path.join(pf.mail, "bounces"), conf=conf)
                check(r.code == 0, f"inbound: exit {r.code}: {short(r.err)}")
                if dv:
                    check(dv.subjects() == [], f"Dovecot's INBOX keeps {dv.subjects()}")
                    check(len(dv.subjects("digest-processed") or []) == 2, "processed_folder: "
                          f"{dv.subjects('digest-processed')}")
            finally:
                if dv:
                    dv.stop()
            c = self.inbound_counts(r)
            check(c["hard"] == 2 and c["messages"] == 2, f"Postfix's DSNs: {c}, want 2 bounce-hard")
            st = self.statuses(d)
            for a in ("dead1@dead.example.net", "dead2@dead.example.net"):
                check(st[a][0] == "bouncing", f"{a}: {st[a]}, want bouncing")
            for a in ("live1@live.example.net", "live2@live.example.net"):
                check(st[a] == ("active", 0.0), f"{a}: {st[a]}, want active")
            left = os.listdir(os.path.join(pf.mail, "bounces", "new"))
            check(not left, f"recognised DSNs left in new/: {left}")
            r = self.digest("bounces", conf=conf)
            check(sum(1 for ln in r.out.splitlines() if "bounce-hard" in ln) == 3,
                  f"bounces lists {r.out!r}, want 3 hard (2 DSNs, 1 refused in the run)")
        finally:
            pf.stop()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Postfix:
    """A private Postfix instance (postfix -c DIR start) on a free port of
    127.0.0.1: dead.example.net is routed to the error transport (accepted,
    then bounced with a DSN), reject.example.net refused at RCPT,
    example.org and live.example.net delivered to Maildirs under D/mail
    (digest@example.org, with its +extensions, to mail/bounces/)."""

    def __init__(self, d, inbound_pipe=None):
        """INBOUND_PIPE (argv): mail to digest@example.org (and its
        +extensions) goes to a pipe(8) transport running it as nobody, as
        the README's setup does, instead of the Maildir."""
        if not shutil.which("postfix") or not os.path.exists("/usr/lib/postfix/sbin/master"):
            raise Skip("no Postfix installed (Debian postfix)")
        if os.geteuid() != 0:
            raise Skip("a private Postfix instance needs root (its master and virtual delivery)")
        try:
            import pwd
            pwd.getpwnam("postfix")
        except KeyError:
            raise Skip("no postfix user")
        self.dir = os.path.join(d, "postfix")
        self.conf = os.path.join(self.dir, "conf")
        self.mail = os.path.join(self.dir, "mail")
        self.log = os.path.join(self.dir, "maillog")
        for sub in ("conf", "queue", "data", "mail/bounces", "mail/live"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        # Postfix's own user walks down to its data and queue directories
        for path in (os.path.dirname(d), d, self.dir):
            os.chmod(path, os.stat(path).st_mode | 0o711)
        import pwd
        pw = pwd.getpwnam("postfix")
        os.chown(os.path.join(self.dir, "data"), pw.pw_uid, pw.pw_gid)
        for root, dirs, _ in os.walk(self.mail):
            os.chown(root, 65534, 65534)
        self.port = free_port()
        P = self.dir
        main = f"""compatibility_level = 3.6
queue_directory = {P}/queue
data_directory = {P}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.digest.test
mydomain = digest.test
mydestination =
relay_domains = dead.example.net, reject.example.net
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
smtpd_recipient_restrictions = check_recipient_access texthash:{P}/conf/access, permit_mynetworks, reject
smtpd_reject_unlisted_recipient = no
alias_maps =
alias_database =
local_transport = error:5.1.1 no local delivery here
transport_maps = texthash:{P}/conf/transport
virtual_mailbox_domains = example.org, live.example.net
virtual_mailbox_base = {P}/mail
virtual_mailbox_maps = texthash:{P}/conf/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
recipient_delimiter = +
maillog_file = {P}/maillog
maillog_file_prefixes = {P}
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
smtputf8_enable = no
"""
        files = {
            "main.cf": main,
            "transport": "dead.example.net error:5.1.1 User unknown (digest's test relay)\n"
                         + ("digest@example.org digest-inbound:\n" if inbound_pipe else ""),
            "access": "reject.example.net REJECT 5.1.1 No such user here\n",
            "vmailbox": "digest@example.org bounces/\n@live.example.net live/\n",
            "master.cf": f"127.0.0.1:{self.port} inet n - n - - smtpd\n" + "\n".join(
                f"{n} unix {p} {'n' if n == 'virtual' else '-'} n {w} {m} {c}" for n, p, w, m, c in (
                    ("pickup", "n", "60", "1", "pickup"), ("cleanup", "n", "-", "0", "cleanup"),
                    ("qmgr", "n", "300", "1", "qmgr"), ("rewrite", "-", "-", "-", "trivial-rewrite"),
                    ("bounce", "-", "-", "0", "bounce"), ("defer", "-", "-", "0", "bounce"),
                    ("trace", "-", "-", "0", "bounce"), ("verify", "-", "-", "1", "verify"),
                    ("flush", "n", "1000?", "0", "flush"), ("proxymap", "-", "-", "-", "proxymap"),
                    ("smtp", "-", "-", "-", "smtp"), ("showq", "n", "-", "-", "showq"),
                    ("error", "-", "-", "-", "error"), ("retry", "-", "-", "-", "error"),
                    ("discard", "-", "-", "-", "discard"),
                    ("virtual", "-", "-", "-", "virtual"),  # privileged: it writes as the mailbox's owner
                    ("anvil", "-", "-", "1", "anvil"), ("scache", "-", "-", "1", "scache")))
            + "\npostlog unix-dgram n - n - 1 postlogd\n"
            + (f"digest-inbound unix - n n - 2 pipe\n  flags=Rq user=nobody argv={inbound_pipe}\n"
               if inbound_pipe else ""),
        }
        for name, text in files.items():
            with open(os.path.join(self.conf, name), "w") as f:
                f.write(text)
        p = subprocess.run(["postfix", "-c", self.conf, "start"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(100).startswith(b"220"):
                        return
            except OSError:
                pass
            time.sleep(0.2)
        log = open(self.log).read()[-600:] if os.path.exists(self.log) else ""
        self.stop()
        raise Skip(f"a private Postfix did not start here (exit {p.returncode}): "
                   f"{short(p.stdout.decode(errors='replace') + ' ' + log, 300)}")

    def wait_files(self, box, n, timeout=40):
        new = os.path.join(self.mail, box, "new")
        deadline = time.monotonic() + timeout
        files = []
        while time.monotonic() < deadline:
            files = sorted(os.path.join(new, f) for f in os.listdir(new)) if os.path.isdir(new) else []
            if len(files) >= n:
                return files
            time.sleep(0.2)
        log = open(self.log).read()[-800:] if os.path.exists(self.log) else ""
        raise Fail(f"Postfix delivered {len(files)} messages to {box}, want {n}; maillog: {short(log)}")

    def stop(self):
        subprocess.run(["postfix", "-c", self.conf, "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=60)
        # the master is gone once its pid file is
        pid = os.path.join(self.dir, "queue", "pid", "master.pid")
        deadline = time.monotonic() + 10
        while os.path.exists(pid) and time.monotonic() < deadline:
            time.sleep(0.1)


class Dovecot:
    """Dovecot (Debian dovecot-imapd, dovecot-pop3d) from a config of its
    own under D, on free ports of 127.0.0.1: IMAP and POP3 plain and over
    TLS with a certificate of a CA made here; one user `bounces` whose
    Maildir is under D."""

    USER, PASSWORD = "bounces", "s3cret-pass"

    def __init__(self, d, maildir=None, imap_capability=None):
        exe = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(exe) or not os.path.exists("/usr/lib/dovecot/imap") \
                or not os.path.exists("/usr/lib/dovecot/pop3"):
            raise Skip("no Dovecot (Debian dovecot-imapd and dovecot-pop3d; `make test` installs them)")
        if not shutil.which("openssl"):
            raise Skip("no openssl to make the test CA")
        import pwd
        try:
            pwd.getpwnam("dovenull")
            pwd.getpwnam("dovecot")
        except KeyError:
            raise Skip("no dovenull/dovecot users (the Dovecot package makes them)")
        self.dir = D = os.path.join(d, "dovecot")
        os.makedirs(os.path.join(D, "home"))
        for path in (os.path.dirname(d), d, D):
            os.chmod(path, os.stat(path).st_mode | 0o711)
        uid = 65534 if os.geteuid() == 0 else os.geteuid()
        gid = 65534 if os.geteuid() == 0 else os.getegid()
        if os.geteuid() == 0:
            os.chown(os.path.join(D, "home"), uid, gid)
        ssl = lambda *a: subprocess.run(["openssl", *a], check=True, cwd=D, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        ssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=digest test CA",
            "-keyout", "ca.key", "-out", "ca.pem")
        ssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "server.key",
            "-out", "server.csr")
        with open(os.path.join(D, "ext"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
        ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "2", "-extfile", "ext", "-out", "server.pem")
        self.ca = os.path.join(D, "ca.pem")
        self.ports = {k: free_port() for k in ("imap", "imaps", "pop3", "pop3s")}
        with open(os.path.join(D, "passwd"), "w") as f:
            f.write(f"{self.USER}:{{PLAIN}}{self.PASSWORD}::::::\n")
        p = self.ports
        conf = f"""base_dir = {D}/run
state_dir = {D}/state
log_path = {D}/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <{D}/server.pem
ssl_key = <{D}/server.key
disable_plaintext_auth = no
auth_mechanisms = plain login
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {D}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={D}/home/%u
}}
mail_location = maildir:{maildir or "~/Maildir"}
first_valid_uid = 1
first_valid_gid = 1
{f"imap_capability = {imap_capability}" if imap_capability else ""}
service imap-login {{
  inet_listener imap {{
    port = {p['imap']}
  }}
  inet_listener imaps {{
    port = {p['imaps']}
    ssl = yes
  }}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {p['pop3']}
  }}
  inet_listener pop3s {{
    port = {p['pop3s']}
    ssl = yes
  }}
}}
"""
        self.conf = os.path.join(D, "dovecot.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([exe, "-F", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                with socket.create_connection(("127.0.0.1", p["imap"]), timeout=1) as s:
                    if s.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        err = self.proc.stderr.read().decode(errors="replace") if self.proc.poll() is not None else ""
        self.stop()
        raise Skip(f"Dovecot did not start here: {short(err, 300)}")

    def append(self, messages, folder="INBOX"):
        import imaplib
        c = imaplib.IMAP4("127.0.0.1", self.ports["imap"])
        c.login(self.USER, self.PASSWORD)
        for m in messages:
            typ, _ = c.append(folder, None, None, m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
            check(typ == "OK", f"IMAP APPEND to the test Dovecot: {typ}")
        c.logout()

    def subjects(self, folder="INBOX", deleted=False):
        """The Subject of every message in FOLDER not flagged deleted (or,
        DELETED, flagged so; None: no such folder)."""
        import imaplib
        c = imaplib.IMAP4("127.0.0.1", self.ports["imap"])
        c.login(self.USER, self.PASSWORD)
        typ, _ = c.select(folder)
        if typ != "OK":
            c.logout()
            return None
        typ, data = c.search(None, "DELETED" if deleted else "UNDELETED")
        out = []
        for n in data[0].split():
            typ, d = c.fetch(n, "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            out.append(d[0][1].decode().split(":", 1)[1].strip())
        c.logout()
        return sorted(out)

    def capabilities(self):
        """What the server offers after login."""
        import imaplib
        c = imaplib.IMAP4("127.0.0.1", self.ports["imap"])
        c.login(self.USER, self.PASSWORD)
        typ, data = c.capability()
        c.logout()
        return data[0].decode().split()

    def flag_deleted(self, subject, folder="INBOX"):
        """Flag deleted (as another client would) the messages whose Subject
        contains SUBJECT."""
        import imaplib
        c = imaplib.IMAP4("127.0.0.1", self.ports["imap"])
        c.login(self.USER, self.PASSWORD)
        c.select(folder)
        typ, data = c.search(None, "SUBJECT", f'"{subject}"')
        for n in data[0].split():
            c.store(n, "+FLAGS", "\\Deleted")
        c.logout()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()


def fetch_block(dv, protocol, port, security, extra=""):
    return (f'inbound = {{ protocol = "{protocol}"; host = "127.0.0.1"; port = {port}; '
            f'security = "{security}"; username = "{Dovecot.USER}"; password_file = "imap-password"; '
            f'ca_file = "{dv.ca}"; timeout = 10; {extra} }};')


class _FetchTests:
    pass


def _fetch_tests():
    def setup(self, name, protocol, port_key, security, extra=""):
        d = self.testdir(name)
        dv = Dovecot(d)
        try:
            conf = self.job_conf(d, transport="maildir")
            self.conf_append(conf, fetch_block(dv, protocol, dv.ports[port_key], security, extra))
            with open(os.path.join(d, "imap-password"), "w") as f:
                f.write(Dovecot.PASSWORD + "\n")
            os.chmod(os.path.join(d, "imap-password"), 0o600)
            self.add_subscribers(d, conf, n=2, prefix="fx", domain="example.net")
            self.run_job(conf)
            box = self.verp_outbox(d)
            return d, dv, conf, box
        except BaseException:
            dv.stop()
            raise

    def mailbox(self, box):
        a, b = sorted(box)
        rp = self.return_path(box[a][0])
        with open(os.path.join(FIXTURES, "human.eml"), "rb") as f:
            human = f.read()
        with open(os.path.join(FIXTURES, "vacation-ru.eml"), "rb") as f:  # to this reader's VERP address
            vacation = f.read().replace(b"digest+b-k5tq3mzv7xw2ab4cdefghijklmnop@example.org", rp.encode())
        bounce = dsn(rp, a, msgid="fetch-1@mx").replace(b"Subject: Undelivered", b"Subject: DSN Undelivered")
        return a, b, [bounce, human, vacation]

    def t_inbound_fetch_imap_tls(self):
        """--fetch over IMAP with implicit TLS, the certificate checked
        against inbound.ca_file: the bounce scores its reader and moves to
        processed_folder with the auto-reply; the unknown mail stays in
        INBOX; a second fetch reads only what stayed."""
        d, dv, conf, box = setup(self, "fetch-imaps", "imap", "imaps", "tls")
        try:
            a, b, msgs = mailbox(self, box)
            dv.append(msgs)
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 0, f"inbound --fetch: exit {r.code}: {short(r.err)}")
            c = self.inbound_counts(r)
            check((c["messages"], c["hard"], c["auto"], c["unknown"]) == (3, 1, 1, 1), f"summary {c}")
            check(self.statuses(d)[a] == ("active", 1.0) and self.statuses(d)[b] == ("active", 0.0),
                  f"statuses {self.statuses(d)}")
            inbox, done = dv.subjects(), dv.subjects("digest-processed")
            check(inbox == ["Re: VPK Daily"], f"INBOX keeps {inbox}, want only the unknown mail")
            check(done is not None and len(done) == 2, f"digest-processed holds {done}, want the 2 recognised")
            r = self.digest("inbound", "--fetch", conf=conf)
            c = self.inbound_counts(r)
            check(c["messages"] == 1 and c["unknown"] == 1, f"second fetch {c}")
        finally:
            dv.stop()

    def t_inbound_fetch_imap_starttls_flag_deleted(self):
        """IMAP with STARTTLS and processed_folder = "": recognised messages
        are flagged deleted, the unknown one is not; the next fetch reads
        only the unknown one."""
        d, dv, conf, box = setup(self, "fetch-imap-stls", "imap", "imap", "starttls", 'processed_folder = "";')
        try:
            a, b, msgs = mailbox(self, box)
            dv.append(msgs)
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 0, f"inbound --fetch: exit {r.code}: {short(r.err)}")
            check(dv.subjects() == ["Re: VPK Daily"], f"INBOX (undeleted) {dv.subjects()}")
            check(self.statuses(d)[a] == ("active", 1.0), f"statuses {self.statuses(d)}")
            r = self.digest("inbound", "--fetch", conf=conf)
            c = self.inbound_counts(r)
            check(c["messages"] == 1 and c["unknown"] == 1, f"a second fetch read what is flagged deleted: {c}")
        finally:
            dv.stop()

    def t_inbound_fetch_pop3(self):
        """--fetch over POP3 (TLS, then plain on loopback): recognised
        messages deleted, the unknown kept; the same bounce fetched again
        (re-appended) changes nothing."""
        d, dv, conf, box = setup(self, "fetch-pop3", "pop3", "pop3s", "tls")
        try:
            a, b, msgs = mailbox(self, box)
            dv.append(msgs)
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 0, f"inbound --fetch (pop3s): exit {r.code}: {short(r.err)}")
            c = self.inbound_counts(r)
            check((c["messages"], c["hard"], c["unknown"]) == (3, 1, 1), f"summary {c}")
            check(dv.subjects() == ["Re: VPK Daily"], f"the maildrop keeps {dv.subjects()}")
            dv.append(msgs[:1])
            with open(conf, encoding="utf-8") as f:
                text = f.read()
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text.replace(f"port = {dv.ports['pop3s']}; security = \"tls\"",
                                     f"port = {dv.ports['pop3']}; security = \"none\""))
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 0, f"inbound --fetch (pop3, plain on loopback): exit {r.code}: {short(r.err)}")
            check(self.statuses(d)[a] == ("active", 1.0), f"a bounce seen before stepped: {self.statuses(d)}")
        finally:
            dv.stop()

    def t_inbound_fetch_refusals(self):
        """A certificate not signed by a trusted CA exits 69, a wrong
        password 77, a closed port 75, and a password in clear to a host
        that is not loopback is refused before connecting (78); nothing in
        the mailbox is touched."""
        d, dv, conf, box = setup(self, "fetch-refused", "imap", "imaps", "tls")
        try:
            a, b, msgs = mailbox(self, box)
            dv.append(msgs[:1])
            with open(conf, encoding="utf-8") as f:
                text = f.read()

            def variant(old, new, code, what):
                with open(conf, "w", encoding="utf-8") as f:
                    f.write(text.replace(old, new))
                r = self.digest("inbound", "--fetch", conf=conf)
                check(r.code == code, f"{what}: exit {r.code}, want {code}: {short(r.err)}")
                return r
            variant(f'ca_file = "{dv.ca}";', "", 69, "a certificate no system CA signed")
            with open(os.path.join(d, "imap-password"), "w") as f:
                f.write("wrong\n")
            variant("", "", 77, "a wrong password")
            with open(os.path.join(d, "imap-password"), "w") as f:
                f.write(Dovecot.PASSWORD + "\n")
            variant(f"port = {dv.ports['imaps']};", f"port = {free_port()};", 75, "a closed port")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text.replace('host = "127.0.0.1"; port = %d; security = "tls"' % dv.ports["imaps"],
                                     'host = "mail.example.invalid"; port = 143; security = "none"'))
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 78 and "not loopback" in r.err, f"plain to a remote host: {r.code} {short(r.err)}")
            check(len(dv.subjects()) == 1, f"the mailbox was touched: {dv.subjects()}")
            check(self.statuses(d)[a] == ("active", 0.0), f"statuses {self.statuses(d)}")
        finally:
            dv.stop()

    for name, fn in list(locals().items()):
        if name.startswith("t_"):
            setattr(InboundTests, name, fn)


_fetch_tests()
