"""Integration tests that close the mail loop (SPEC "What comes back")
end to end: a complaint and a mail unsubscribe through a real Postfix
into the mailbox a real Dovecot serves, read by `inbound --fetch`; a
`kill -9` of `inbound` in the middle of a mailbox (Maildir and IMAP),
then a rerun; IMAP without MOVE and POP3 with STLS; the labelled corpus
through the binary, with its numbers. A mixin of run.py's Suite; the
servers are inbound_tests.py's."""

import datetime as dt
import email
import email.policy
import os
import re
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import time

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, Fail, Skip, check
else:  # run.py imported as the module `run`
    from run import DIGEST, Fail, Skip, check

from inbound_tests import FIXTURES, MAILTO, UTC, VERP, Dovecot, Postfix, dsn, fetch_block, short

TOK_B = "k5tq3mzv7xw2ab4cdefghijklmnop"  # the tokens the labelled samples carry (tests/unit/test_dsn.c)
TOK_U = "m7rq2nzv6xw3ab5cdefghijklmnoq"


def arf(to, original, msgid):
    """An RFC 5965 feedback report to TO quoting ORIGINAL (bytes)."""
    return (f"From: fbl@feedback.example.com\nTo: {to}\nSubject: Abuse report\n"
            f"Message-ID: <{msgid}>\nMIME-Version: 1.0\n"
            'Content-Type: multipart/report; report-type=feedback-report; boundary="F"\n\n'
            "--F\nContent-Type: text/plain\n\nThis is an email abuse report.\n\n"
            "--F\nContent-Type: message/feedback-report\n\n"
            "Feedback-Type: abuse\nUser-Agent: digest-test-fbl/1.0\nVersion: 1\n\n"
            "--F\nContent-Type: message/rfc822\n\n").encode() + original + b"\n--F--\n"


class MailLoopTests:
    # ------------------------------------------------------------ helpers
    def loop_db(self, d, q, args=()):
        con = sqlite3.connect(f"file:{self.db(d)}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(q, args).fetchall()
        finally:
            con.close()

    def loop_fetch_conf(self, conf, dv, protocol, port, security, extra=""):
        self.conf_append(conf, fetch_block(dv, protocol, port, security, extra))
        pw = os.path.join(os.path.dirname(conf), "imap-password")
        with open(pw, "w") as f:
            f.write(Dovecot.PASSWORD + "\n")
        os.chmod(pw, 0o600)

    def loop_dovecot(self, name, protocol, port_key, security, n, prefix, **dovecot):
        """A test dir with a Dovecot of its own (DOVECOT: its options), the
        inbound block fetching from it, N readers and an edition sent into
        var/outbox; returns (d, dv, conf, box). Stop dv."""
        d = self.testdir(name)
        dv = Dovecot(d, **dovecot)
        try:
            conf = self.job_conf(d, transport="maildir")
            self.loop_fetch_conf(conf, dv, protocol, dv.ports[port_key], security)
            self.add_subscribers(d, conf, n=n, prefix=prefix, domain="example.net")
            self.run_job(conf)
            return d, dv, conf, self.verp_outbox(d)
        except BaseException:
            dv.stop()
            raise

    # ------------------------------------------------------------ a complaint and a mail unsubscribe, end to end
    def t_inbound_real_postfix_complaint_and_unsubscribe(self):
        """An edition goes out through a real Postfix to three readers; one
        of them mails the personal mailto: of List-Unsubscribe (through the
        same Postfix), a feedback loop mails an ARF report quoting the
        second one's copy, its address redacted, to that copy's VERP
        Return-Path (through Postfix too); both land in the Maildir Dovecot
        serves, and `inbound --fetch` over IMAP (TLS, the test's CA) makes
        those two unsubscribed at once, the third stays active; the next
        edition goes to the third alone."""
        d = self.testdir("postfix-loop")
        pf = Postfix(d)
        dv = None
        try:
            conf = self.job_conf(d, pf.port)
            self.add_subscribers(d, conf, csv_rows=[
                ("quit@live.example.net", "Quit", "active"), ("angry@live.example.net", "Angry", "active"),
                ("stay@live.example.net", "Stay", "active")])
            s = self.summary(self.run_job(conf))
            check(s["sent"] == 3, f"run through Postfix: {s}")
            copies = {}
            for path in pf.wait_files("live", 3):
                with open(path, "rb") as f:
                    raw = f.read()
                msg = email.message_from_bytes(raw, policy=email.policy.compat32)
                copies[msg["To"].split("<")[-1].rstrip(">").strip()] = (raw, msg)
            check(sorted(copies) == ["angry@live.example.net", "quit@live.example.net", "stay@live.example.net"],
                  f"Postfix delivered to {sorted(copies)}")
            # the reader's mail client: mail to the mailto: of List-Unsubscribe
            lu = " ".join((copies["quit@live.example.net"][1]["List-Unsubscribe"] or "").split())
            m = MAILTO.search(lu)
            check(m, f"no personal mailto: in List-Unsubscribe: {lu!r}")
            mailto = m.group(1)
            # the feedback loop: the reader's copy, address redacted, to its Return-Path
            raw = copies["angry@live.example.net"][0]
            rp = self.return_path(raw)
            check(VERP.match(rp), f"the copy's Return-Path {rp!r} is not a VERP address")
            quoted = raw.replace(b"angry@live.example.net", b"redacted@live.example.net")
            with smtplib.SMTP("127.0.0.1", pf.port, timeout=20) as c:
                c.sendmail("quit@live.example.net", [mailto],
                           (f"From: Quit <quit@live.example.net>\nTo: {mailto}\nSubject: unsubscribe\n"
                            "Message-ID: <unsub-1@live.example.net>\n\nunsubscribe\n").encode())
                c.sendmail("fbl@feedback.example.com", [rp], arf(rp, quoted, "fbl-1@feedback.example.com"))
            pf.wait_files("bounces", 2)
            dv = Dovecot(d, maildir=os.path.join(pf.mail, "bounces"))
            self.loop_fetch_conf(conf, dv, "imap", dv.ports["imaps"], "tls")
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 0, f"inbound --fetch: exit {r.code}: {short(r.err)}")
            c = self.inbound_counts(r)
            check((c["messages"], c["complaint"], c["unsubscribe"]) == (2, 1, 1), f"summary {c}")
            st = self.statuses(d)
            check(st["quit@live.example.net"][0] == "unsubscribed", f"mail unsubscribe: {st}")
            check(st["angry@live.example.net"][0] == "unsubscribed", f"complaint: {st}")
            check(st["stay@live.example.net"] == ("active", 0.0), f"the third reader: {st}")
            check(dv.subjects() == [], f"INBOX keeps {dv.subjects()}")
            check(len(dv.subjects("digest-processed") or []) == 2, f"processed: {dv.subjects('digest-processed')}")
            out = self.digest("bounces", conf=conf).out
            check(re.search(r"quit@live\.example\.net\s+unsubscribe", out)
                  and re.search(r"angry@live\.example\.net\s+complaint", out), f"bounces lists {out!r}")
            # whom the next edition goes to: the third reader alone
            rows = self.loop_db(d, "SELECT email, status FROM subscribers WHERE status = 'active'")
            check(rows == [("stay@live.example.net", "active")], f"active readers {rows}")
        finally:
            if dv:
                dv.stop()
            pf.stop()

    # ------------------------------------------------------------ kill -9 in the middle of a mailbox
    def loop_mailbox(self, d, box, n_unknown=12):
        """A bounce (unique Message-ID) to each reader's VERP address, an
        auto-reply to every fourth, and N_UNKNOWN human mails; returns
        [(name, bytes, recognised)]."""
        with open(os.path.join(FIXTURES, "human.eml"), "rb") as f:
            human = f.read()
        with open(os.path.join(FIXTURES, "vacation-ru.eml"), "rb") as f:
            vacation = f.read()
        out = []
        for i, (addr, (raw, _)) in enumerate(sorted(box.items())):
            rp = self.return_path(raw)
            out.append((f"b{i:03d}", dsn(rp, addr, msgid=f"crash-{i}@mx.example.net"), True))
            if i % 4 == 0:
                v = re.sub(rb"(?m)^Message-I[dD]: .*$", f"Message-ID: <vac-{i}@example.net>".encode(), vacation)
                out.append((f"v{i:03d}", v.replace(f"digest+b-{TOK_B}@example.org".encode(), rp.encode()), True))
        for i in range(n_unknown):
            h = re.sub(rb"(?m)^Message-I[dD]: .*$", f"Message-ID: <human-{i}@example.net>".encode(), human)
            out.append((f"u{i:03d}", h, False))
        return out

    def loop_invariants(self, d, readers, what):
        """Nothing applied twice: one bounce log line per bounce noted as
        seen, no score over 1.0."""
        seen = self.loop_db(d, "SELECT count(*) FROM inbound_seen WHERE kind = 'bounce-hard'")[0][0]
        logged = self.loop_db(d, "SELECT count(*) FROM bounces WHERE source = 'inbound'")[0][0]
        check(seen == logged, f"{what}: {seen} bounces noted as seen, {logged} in the log (applied twice?)")
        scores = dict(self.loop_db(d, "SELECT email, bounce_score FROM subscribers"))
        over = {a: s for a, s in scores.items() if s not in (0.0, 1.0)}
        check(not over, f"{what}: scores {over}")
        return seen

    def loop_kill_when(self, d, conf, args, at_least, what):
        """Start `digest inbound ARGS`, kill -9 it once AT_LEAST bounces are
        committed; returns how many were then (None: it ended first)."""
        p = subprocess.Popen([DIGEST, "-c", conf, "inbound", *args], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                             env={k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"})
        deadline = time.monotonic() + 120
        n = 0
        try:
            while time.monotonic() < deadline and p.poll() is None:
                try:
                    n = self.loop_db(d, "SELECT count(*) FROM inbound_seen")[0][0]
                except sqlite3.OperationalError:
                    n = 0
                if n >= at_least:
                    os.kill(p.pid, signal.SIGKILL)
                    p.wait(10)
                    p.stderr.close()
                    return n
                time.sleep(0.002)
            err = p.stderr.read().decode(errors="replace")
            p.wait(10)
            p.stderr.close()
            check(p.returncode == 0, f"{what}: inbound ended with {p.returncode}: {short(err)}")
            return None
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()

    def t_inbound_crash_maildir(self):
        """kill -9 of `inbound --maildir` twice in the middle of a Maildir
        of 100 bounces, 25 auto-replies and 12 human mails, then a rerun:
        after each kill every message is in cur/ (acted on) or new/
        (untouched, byte for byte), nothing acted on twice (one log line
        per bounce, scores 1); the rerun finishes: every bounce and
        auto-reply in cur/ once, the human mails never moved."""
        d, conf, box = self.inbound_setup("crash-maildir", n=100)
        mail = self.loop_mailbox(d, box)
        md = os.path.join(d, "bounces")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        for name, data, _ in mail:
            with open(os.path.join(md, "new", f"1.{name}.host"), "wb") as f:
                f.write(data)
        kills = []
        for at in (15, 60):
            n = self.loop_kill_when(d, conf, ["--maildir", md], at, f"kill at {at}")
            new, cur = set(os.listdir(os.path.join(md, "new"))), set(os.listdir(os.path.join(md, "cur")))
            acted = self.loop_db(d, "SELECT count(*) FROM inbound_seen")[0][0]
            check(len(cur) <= acted, f"after kill at {at}: {len(cur)} moved, only {acted} acted on")
            kills.append(f"{n} (acted on and not yet moved: {acted - len(cur)})")
            for name, data, recognised in mail:
                base = f"1.{name}.host"
                check((base in new) != (base + ":2,S" in cur), f"after kill at {at}: {base} in new/ "
                      f"{base in new}, in cur/ {base + ':2,S' in cur}")
                if base in new:
                    with open(os.path.join(md, "new", base), "rb") as f:
                        check(f.read() == data, f"{base} changed in new/")
                check(recognised or base in new, f"after kill at {at}: unknown {base} moved")
            self.loop_invariants(d, box, f"after kill at {at}")
        r = self.digest("inbound", "--maildir", md, conf=conf)
        check(r.code == 0, f"the rerun: exit {r.code}: {short(r.err)}")
        new, cur = sorted(os.listdir(os.path.join(md, "new"))), os.listdir(os.path.join(md, "cur"))
        check(new == sorted(f"1.{n}.host" for n, _, rec in mail if not rec), f"new/ keeps {new}")
        check(len(cur) == sum(1 for *_, rec in mail if rec), f"cur/ holds {len(cur)}")
        seen = self.loop_invariants(d, box, "after the rerun")
        check(seen == 100, f"{seen} bounces acted on, want 100")
        st = self.statuses(d)
        check(all(v == ("active", 1.0) for v in st.values()), f"scores after one bounce each: "
              f"{[(a, v) for a, v in st.items() if v != ('active', 1.0)][:5]}")
        print(f"# crash maildir: killed at {kills[0]} and {kills[1]} messages acted on; rerun: 100 bounces "
              f"once each, 12 unknown untouched", flush=True)

    def loop_crash_fetch(self, protocol, after_kill):
        """kill -9 of `inbound --fetch` over PROTOCOL (TLS) once 10 of 60
        bounces are acted on, in a mailbox that also holds 10 human mails;
        AFTER_KILL(subjects of INBOX) checks what the kill left; then a
        rerun: every bounce acted on once, and out of INBOX; the human
        mails left in it. Returns (the subjects in processed_folder, the
        kill's count, the rerun's Result)."""
        d, dv, conf, box = self.loop_dovecot(f"crash-{protocol}", protocol, protocol + "s", "tls", 60,
                                             "c" + protocol)
        try:
            mail = [m for m in self.loop_mailbox(d, box, n_unknown=10) if not m[0].startswith("v")]
            dv.append([m[1] for m in mail])
            n = self.loop_kill_when(d, conf, ["--fetch"], 10, "kill at 10")
            self.loop_invariants(d, box, "after the kill")
            after_kill(dv.subjects())
            r = self.digest("-v", "inbound", "--fetch", conf=conf)
            check(r.code == 0, f"the rerun: exit {r.code}: {short(r.err)}")
            check(dv.subjects() == ["Re: VPK Daily"] * 10, f"INBOX keeps {len(dv.subjects())}")
            seen = self.loop_invariants(d, box, "after the rerun")
            check(seen == 60, f"{seen} bounces acted on, want 60")
            return dv.subjects("digest-processed") or [], n, r
        finally:
            dv.stop()

    def t_inbound_crash_imap(self):
        """kill -9 of `inbound --fetch` (IMAP) in the middle of a mailbox,
        then a rerun (loop_crash_fetch): the human mails never left INBOX,
        and each bounce is in processed_folder once."""
        def after_kill(inbox):
            humans = sum(1 for s in inbox if s == "Re: VPK Daily")
            check(humans == 10, f"human mails in INBOX after the kill: {humans}")
        done, n, _ = self.loop_crash_fetch("imap", after_kill)
        check(len(done) == 60, f"processed_folder holds {len(done)}, want the 60 bounces once each")
        print(f"# crash imap: killed at {n} messages acted on; rerun: 60 bounces once each, 10 unknown "
              f"left in INBOX", flush=True)

    def t_inbound_crash_pop3(self):
        """kill -9 of `inbound --fetch` (POP3) in the middle of a maildrop,
        then a rerun (loop_crash_fetch): POP3 deletes only at QUIT, so the
        kill left every message there; the rerun knows those acted on
        before as seen."""
        def after_kill(inbox):
            check(len(inbox) == 70, f"after the kill the maildrop holds {len(inbox)}, want all 70")
        _, n, r = self.loop_crash_fetch("pop3", after_kill)
        check("seen before" in r.err or n is None, f"the rerun met none seen before: {short(r.err)}")
        print(f"# crash pop3: killed at {n} messages acted on; rerun: 60 bounces once each, 10 unknown kept",
              flush=True)

    # ------------------------------------------------------------ IMAP without MOVE, POP3 with STLS
    def t_inbound_fetch_imap_without_move(self):
        """A Dovecot that does not offer MOVE (imap_capability set without
        it): `inbound --fetch` says so, copies each recognised message to
        processed_folder, flags it deleted and expunges it (UID EXPUNGE:
        a message another client flagged deleted stays); the unknown mail
        stays in INBOX."""
        d, dv, conf, box = self.loop_dovecot(
            "fetch-nomove", "imap", "imap", "starttls", 2, "nm",
            imap_capability="IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS")
        try:
            caps = dv.capabilities()
            check("MOVE" not in caps and "UIDPLUS" in caps, f"the test's Dovecot offers {caps}")
            a, b = sorted(box)
            with open(os.path.join(FIXTURES, "human.eml"), "rb") as f:
                human = f.read()
            other = human.replace(b"Subject: Re: VPK Daily", b"Subject: someone else's, flagged deleted")
            dv.append([dsn(self.return_path(box[a][0]), a, msgid="nm-1@mx"),
                       dsn(self.return_path(box[b][0]), b, msgid="nm-2@mx"), human, other])
            dv.flag_deleted("someone else's")
            r = self.digest("-v", "inbound", "--fetch", conf=conf)
            check(r.code == 0, f"inbound --fetch: exit {r.code}: {short(r.err)}")
            check("no MOVE" in r.err, f"no word of the fallback: {short(r.err)}")
            c = self.inbound_counts(r)
            check((c["hard"], c["unknown"]) == (2, 1), f"summary {c}")
            check(dv.subjects() == ["Re: VPK Daily"], f"INBOX (undeleted) {dv.subjects()}")
            check(dv.subjects(deleted=True) == ["someone else's, flagged deleted"],
                  f"what another client flagged deleted: {dv.subjects(deleted=True)}")
            check(len(dv.subjects("digest-processed") or []) == 2, f"processed {dv.subjects('digest-processed')}")
            check(self.statuses(d)[a] == ("active", 1.0) and self.statuses(d)[b] == ("active", 1.0),
                  f"statuses {self.statuses(d)}")
        finally:
            dv.stop()

    def t_inbound_fetch_pop3_stls(self):
        """POP3 with STLS on the plain port, the certificate checked against
        the test's CA: the bounce is acted on and deleted, the unknown mail
        kept; without the CA the certificate is refused (69) before the
        password goes out, and nothing is touched."""
        d, dv, conf, box = self.loop_dovecot("fetch-pop3-stls", "pop3", "pop3", "starttls", 1, "ps")
        try:
            a = next(iter(box))
            with open(os.path.join(FIXTURES, "human.eml"), "rb") as f:
                human = f.read()
            dv.append([dsn(self.return_path(box[a][0]), a, msgid="ps-1@mx"), human])
            with open(conf, encoding="utf-8") as f:
                text = f.read()
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text.replace(f'ca_file = "{dv.ca}";', ""))
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 69, f"STLS with a certificate no trusted CA signed: exit {r.code}: {short(r.err)}")
            check(len(dv.subjects()) == 2, f"the maildrop was touched: {dv.subjects()}")
            log = open(os.path.join(dv.dir, "dovecot.log"), errors="replace").read()
            check(not re.search(r"pop3-login: .*Login: user=<bounces>", log),
                  "a POP3 login went through with a certificate refused")
            with open(conf, "w", encoding="utf-8") as f:
                f.write(text)
            r = self.digest("inbound", "--fetch", conf=conf)
            check(r.code == 0, f"inbound --fetch (pop3 + STLS): exit {r.code}: {short(r.err)}")
            c = self.inbound_counts(r)
            check((c["messages"], c["hard"], c["unknown"]) == (2, 1, 1), f"summary {c}")
            check(dv.subjects() == ["Re: VPK Daily"], f"the maildrop keeps {dv.subjects()}")
            check(self.statuses(d)[a] == ("active", 1.0), f"statuses {self.statuses(d)}")
        finally:
            dv.stop()

    # ------------------------------------------------------------ the labelled corpus, measured
    def t_inbound_labelled_corpus(self):
        """The labelled samples (tests/fixtures/inbound/LABELS) through
        `inbound --maildir`, their tokens replaced by a real reader's: every
        sample counted as its label says; every hard bounce logged with the
        right address (the labelled one, or the token's reader); no
        auto-reply counted as a bounce or acted on; the unknown mail left in
        new/ byte for byte."""
        d, conf, box = self.inbound_setup("corpus", n=1)
        reader, (raw, msg) = next(iter(box.items()))
        tok_b = VERP.match(self.return_path(raw)).group(1)
        tok_u = re.search(r"\+u-([a-z2-7]{29})@", " ".join((msg["List-Unsubscribe"] or "").split())).group(1)
        md = os.path.join(d, "corpus")
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(md, sub))
        labels = []
        with open(os.path.join(FIXTURES, "LABELS")) as f:
            for ln in f:
                if ln.startswith("#") or not ln.strip():
                    continue
                name, kind, addr = ln.split()
                with open(os.path.join(FIXTURES, name), "rb") as g:
                    data = g.read()
                has_b = f"+b-{TOK_B}@".encode() in data.lower()
                for old, new in ((TOK_B, tok_b), (TOK_U, tok_u)):  # in the case the sample wrote it
                    data = re.sub(old.encode(), lambda m, new=new: (new.upper() if m.group(0).isupper() else new)
                                  .encode(), data, flags=re.I)
                with open(os.path.join(md, "new", f"1.{name}.host"), "wb") as g:
                    g.write(data)
                labels.append((name, kind, addr, has_b, data))
        # the labelled addresses are readers too: a bounce names them
        rows = sorted({(a, a.split("@")[0], "active") for _, k, a, hb, _ in labels if a != "-"})
        self.add_subscribers(d, conf, csv_rows=rows, prefix="corpus")
        r = self.digest("inbound", "--maildir", md, conf=conf)
        check(r.code == 0, f"inbound --maildir: exit {r.code}: {short(r.err)}")
        c = self.inbound_counts(r)
        want = {k: sum(1 for _, kind, *_ in labels if kind == v) for k, v in (
            ("hard", "bounce-hard"), ("soft", "bounce-soft"), ("complaint", "complaint"),
            ("unsubscribe", "unsubscribe"), ("auto", "auto-reply"), ("unknown", "unknown"))}
        want["messages"] = len(labels)
        check(c == want, f"summary {c}, want {want}")
        log = self.loop_db(d, "SELECT address, kind FROM bounces WHERE source = 'inbound'")
        hard_right = 0
        for name, kind, addr, has_b, _ in labels:
            if kind != "bounce-hard":
                continue
            who = reader if has_b else addr  # the VERP token names the reader before any report does
            check((who, "bounce-hard") in log, f"{name}: no bounce-hard logged for {who}: {log}")
            hard_right += 1
        bounce_lines = sum(1 for _, k in log if k.startswith("bounce-"))
        check(bounce_lines == want["hard"] + want["soft"], f"{bounce_lines} bounce lines logged, want "
              f"{want['hard'] + want['soft']}: an auto-reply counted?")
        check(not any(k == "auto-reply" for _, k in log), f"an auto-reply acted on: {log}")
        left = sorted(os.listdir(os.path.join(md, "new")))
        unknown = [f"1.{n}.host" for n, k, *_ in labels if k == "unknown"]
        check(left == sorted(unknown), f"new/ keeps {left}, want the unknown {unknown}")
        for n, k, _, _, data in labels:
            if k == "unknown":
                with open(os.path.join(md, "new", f"1.{n}.host"), "rb") as g:
                    check(g.read() == data, f"{n} changed")
        print(f"# labelled corpus: {len(labels)} samples; {hard_right}/{want['hard']} hard bounces logged with "
              f"the right address; {want['auto']} auto-replies, 0 counted as bounces; {len(unknown)}/"
              f"{want['unknown']} unknown untouched", flush=True)

    # ------------------------------------------------------------ Postfix's pipe(8) transport, as the README sets it up
    def t_inbound_real_postfix_pipe_transport(self):
        """The README's pipe(8) setup in a real Postfix: mail to
        digest+...@example.org goes to `digest inbound` run by Postfix as an
        unprivileged user (flags=R: Return-Path first). An edition to a
        dead address comes back as Postfix's own DSN through the pipe and,
        with bounce_threshold 1, makes the reader bouncing; a reader's mail
        to the personal mailto: unsubscribes them; a third stays active;
        Postfix logs both deliveries to the pipe as sent."""
        d = self.testdir("postfix-pipe")
        conf_path = os.path.join(d, "digest.conf")
        pf = Postfix(d, inbound_pipe=f"{DIGEST} -q -c {conf_path} inbound")
        try:
            conf = self.job_conf(d, pf.port)
            check(conf == conf_path, "test bug")
            self.conf_append(conf, "inbound = { bounce_threshold = 1.0; };")
            self.add_subscribers(d, conf, csv_rows=[
                ("dead1@dead.example.net", "Dead", "active"), ("quit@live.example.net", "Quit", "active"),
                ("stay@live.example.net", "Stay", "active")])
            s = self.summary(self.run_job(conf))
            check(s["sent"] == 3, f"run through Postfix: {s}")
            # what Postfix's pipe runs as: the database and its directory are that user's
            for root, dirs, files in os.walk(os.path.join(d, "var")):
                for n in [root] + [os.path.join(root, f) for f in files]:
                    os.chown(n, 65534, 65534)
            copies = {}
            for path in pf.wait_files("live", 2):
                with open(path, "rb") as f:
                    raw = f.read()
                m = email.message_from_bytes(raw, policy=email.policy.compat32)
                copies[m["To"].split("<")[-1].rstrip(">").strip()] = m
            mailto = MAILTO.search(" ".join((copies["quit@live.example.net"]["List-Unsubscribe"] or "").split()))
            check(mailto, "no personal mailto: in List-Unsubscribe")
            with smtplib.SMTP("127.0.0.1", pf.port, timeout=20) as c:
                c.sendmail("quit@live.example.net", [mailto.group(1)],
                           (f"From: quit@live.example.net\nTo: {mailto.group(1)}\nSubject: unsubscribe\n"
                            "Message-ID: <pipe-unsub@live.example.net>\n\n").encode())
            deadline = time.monotonic() + 60
            st = {}
            log = ""
            while time.monotonic() < deadline:  # Postfix logs a delivery once the pipe has exited
                st = self.statuses(d)
                log = open(pf.log, errors="replace").read() if os.path.exists(pf.log) else ""
                if len(re.findall(r"relay=digest-inbound, .*status=sent", log)) >= 2:
                    break
                time.sleep(0.3)
            check(st["dead1@dead.example.net"][0] == "bouncing", f"the DSN through the pipe: {st}; maillog: "
                  f"{short(log[-1500:], 1500)}")
            check(st["quit@live.example.net"][0] == "unsubscribed", f"the mail unsubscribe through the pipe: {st}")
            check(st["stay@live.example.net"] == ("active", 0.0), f"the third reader: {st}")
            sent = re.findall(r"relay=digest-inbound, .*status=sent", log)
            check(len(sent) == 2, f"Postfix's deliveries to the pipe: {len(sent)} sent, want 2: {short(log, 600)}")
        finally:
            pf.stop()

    def t_inbound_pipe_tempfail(self):
        """Read from a pipe, a message that cannot be stored (the database
        cannot be created where the configuration says) exits 75, so that
        the MTA keeps it; once the database is there, the same message exits
        0 and is acted on."""
        d, conf, box = self.inbound_setup("pipe-tempfail", n=1)
        reader, (raw, _) = next(iter(box.items()))
        msg = dsn(self.return_path(raw), reader, msgid="tf-1@mx")
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        with open(os.path.join(d, "blocker"), "w") as f:
            f.write("a file where a directory should be\n")
        check('database = "var/digest.db";' in text, "test bug")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text.replace('database = "var/digest.db";', 'database = "blocker/digest.db";'))
        r = self.inbound(conf, d, msg, "tf.eml", code=75)
        check("blocker" in r.err, f"the error names no path: {short(r.err)}")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        r = self.inbound(conf, d, msg, "tf.eml", code=0)
        check(self.inbound_counts(r)["hard"] == 1 and self.statuses(d)[reader] == ("active", 1.0),
              f"the retry: {r.err_lines[-1]}, {self.statuses(d)}")

    # ------------------------------------------------------------ idempotent without a Message-ID
    def t_inbound_seen_by_content(self):
        """A bounce with no Message-ID, read twice (a redelivery), steps
        the score once: the second is known by its content's digest; the
        same text with one byte changed is another message."""
        d, conf, box = self.inbound_setup("seen-content", n=1)
        reader, (raw, _) = next(iter(box.items()))
        rp = self.return_path(raw)
        day0 = dt.datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) + dt.timedelta(days=1)
        msg = re.sub(rb"(?m)^Message-Id: .*\n", b"", dsn(rp, reader))
        check(b"Message-Id" not in msg, "test bug")
        for i in range(2):
            r = self.inbound(conf, d, msg, fake_now=day0 + dt.timedelta(days=i))
            check(self.inbound_counts(r)["hard"] == 1, f"pass {i}: {r.err_lines[-1]}")
        check(self.statuses(d)[reader] == ("active", 1.0), f"a redelivery stepped: {self.statuses(d)[reader]}")
        keys = [k for (k,) in self.loop_db(d, "SELECT key FROM inbound_seen")]
        check(len(keys) == 1 and keys[0].startswith("sha256:"), f"seen keys {keys}")
        self.inbound(conf, d, msg.replace(b"User unknown", b"User Unknown"), fake_now=day0 + dt.timedelta(days=2))
        check(self.statuses(d)[reader] == ("active", 2.0), f"another message: {self.statuses(d)[reader]}")
