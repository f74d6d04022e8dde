"""Integration tests of addresses and imports: one subscriber per mailbox
(SPEC "Addresses": case-insensitive local part, IDNA domain), the schema-4
migration that merges the rows a schema-3 database kept for one mailbox,
IDN domains through `subscribe`, long import lines, and imports that commit
in batches while a run sends.

A mixin of run.py's Suite, like job_tests.py; it also uses JobTests'
helpers (job_conf, smtpd, journal, summary).
"""

import csv
import email
import email.policy
import os
import sqlite3
import subprocess
import time

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, REPO, SANITIZER, Fail, Skip, check  # noqa: F401
else:  # run.py imported as the module `run`
    from run import DIGEST, REPO, SANITIZER, Fail, Skip, check  # noqa: F401

FIXTURE_V3 = os.path.join(REPO, "tests", "fixtures", "schema3.sql")
IDN_A = "xn--80a1acny.xn--p1ai"   # почта.рф


def _short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "…"


class AddressTests:
    # ------------------------------------------------------------ helpers
    def export(self, conf):
        """{email: (name, status)} of `subscribers export`, in order as a list too."""
        r = self.digest("subscribers", "export", conf=conf)
        check(r.code == 0, f"subscribers export: exit {r.code}: {_short(r.err)}")
        rows = list(csv.reader(r.out.splitlines()))
        check(rows and rows[0] == ["email", "name", "status"], f"export header: {rows[:1]}")
        return [(e, n, s) for e, n, s in rows[1:]]

    def import_file(self, d, conf, name, text, code=0):
        path = os.path.join(d, name)
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        r = self.digest("subscribers", "import", path, conf=conf)
        check(r.code == code, f"import {name}: exit {r.code}, want {code}: {_short(r.err)}")
        return r, path

    def outbox(self, d):
        new = os.path.join(d, "var", "outbox", "new")
        res = []
        for fn in sorted(os.listdir(new)) if os.path.isdir(new) else []:
            with open(os.path.join(new, fn), "rb") as f:
                res.append(email.message_from_bytes(f.read(), policy=email.policy.default))
        return res

    # ------------------------------------------------------------ defect 5
    def t_address_one_identity(self):
        """Bob@, bob@ and BOB@EXAMPLE.ORG are one subscriber (the first
        spelling kept), whether imported, subscribed or unsubscribed; and
        one unsubscribe stops every spelling."""
        d = self.testdir("addr-identity")
        conf = self.job_conf(d, transport="maildir")
        r, _ = self.import_file(d, conf, "a.txt", "Bob <Bob@example.org>\nbob@example.org\nBOB@EXAMPLE.ORG\n"
                                "\"bob\"@Example.org\nsolo@example.org\n")
        rows = self.export(conf)
        check([e for e, _, _ in rows] == ["Bob@example.org", "solo@example.org"],
              f"one mailbox, several rows: {rows}")
        check("2 added" in r.out and "3 unchanged" in r.out, f"import summary: {r.out.strip()}")
        r = self.digest("subscribe", "BOB@example.ORG", "--confirmed", conf=conf)
        check(r.code == 0, f"subscribe --confirmed: exit {r.code}: {_short(r.err)}")
        check(len(self.export(conf)) == 2, f"subscribe added a row: {self.export(conf)}")
        self.run_job(conf)
        to = sorted(m["To"].addresses[0].addr_spec for m in self.outbox(d))
        check(to == ["Bob@example.org", "solo@example.org"], f"messages went to {to}")
        r = self.digest("unsubscribe", "bOb@EXAMPLE.org", conf=conf)
        check(r.code == 0, f"unsubscribe another spelling: exit {r.code}: {_short(r.err)}")
        rows = self.export(conf)
        check(("Bob@example.org", "Bob", "unsubscribed") in rows, f"after unsubscribe: {rows}")
        # an import of another spelling never brings them back
        r, _ = self.import_file(d, conf, "b.txt", "BOB@example.org\n")
        check(("Bob@example.org", "Bob", "unsubscribed") in self.export(conf),
              f"re-added by an import: {self.export(conf)}")

    def t_address_migration_from_schema3(self):
        """A schema-3 database written by the last release (fixture
        tests/fixtures/schema3.sql) is migrated: the rows of one mailbox
        merge into the first one, with the strongest status, the earliest
        creation and every journal row; nobody is re-activated or sent a
        second copy."""
        d = self.testdir("addr-migrate")
        conf = self.job_conf(d, transport="maildir")
        os.makedirs(os.path.join(d, "var"), exist_ok=True)
        con = sqlite3.connect(self.db(d))
        with open(FIXTURE_V3, encoding="utf-8") as f:
            con.executescript(f.read())
        con.close()
        rows = self.export(conf)
        want = [("Bob@example.org", "Bob First", "active"),
                ("carol@example.org", "Carol", "unsubscribed"),
                ("dave@example.org", "Dave", "bouncing"),
                ("иван@почта.рф", "Иван", "active"),
                ("solo@example.org", "Solo", "active"),
                ("Erin@example.org", "Erin", "active")]
        check(rows == want, f"after the migration: {rows}, want {want}")
        con = sqlite3.connect(self.db(d))
        try:
            uv = con.execute("PRAGMA user_version").fetchone()[0]
            check(uv == 6, f"user_version {uv}, want 6 (the current schema)")
            ids = dict(con.execute("SELECT email, id FROM subscribers"))
            check(ids["Bob@example.org"] == 1 and ids["иван@почта.рф"] == 4, f"kept ids: {ids}")
            created = dict(con.execute("SELECT id, created_at FROM subscribers"))
            check(created[1] == 1796203862 and created[2] == 1796203862, f"created_at: {created}")
            j = {(e, s): (st, a) for e, s, st, a in con.execute(
                "SELECT edition, subscriber_id, state, attempts FROM deliveries")}
            orphans = con.execute("SELECT count(*) FROM deliveries WHERE subscriber_id NOT IN "
                                  "(SELECT id FROM subscribers)").fetchone()[0]
        finally:
            con.close()
        check(orphans == 0, f"{orphans} journal rows point at no subscriber")
        want_j = {("2026-12-01", 1): "deferred", ("2026-12-02", 1): "sent",     # Bob, bob, BOB
                  ("2026-12-01", 2): "sent", ("2026-12-02", 2): "sent",         # carol
                  ("2026-12-01", 4): "sent", ("2026-12-02", 4): "sent",         # иван, both spellings
                  ("2026-12-01", 5): "sent", ("2026-12-02", 5): "sent",
                  ("2026-12-01", 6): "sent", ("2026-12-02", 6): "sent"}
        got_j = {k: v[0] for k, v in j.items()}
        check(got_j == want_j, f"journal after the migration: {sorted(got_j.items())}, want {sorted(want_j.items())}")
        check(j[("2026-12-01", 1)][1] == 2, f"attempts of the merged rows not added: {j[('2026-12-01', 1)]}")
        # the edition all sent: nobody gets it again; the deferred one: Bob alone
        r = self.run_job(conf, "--date", "2026-12-02")
        check(not self.outbox(d), f"2026-12-02 sent again to {[m['To'] for m in self.outbox(d)]}")
        r = self.run_job(conf, "--date", "2026-12-01")
        to = [m["To"].addresses[0].addr_spec for m in self.outbox(d)]
        check(to == ["Bob@example.org"], f"2026-12-01 resumed to {to}, want Bob@example.org alone")
        # opened again: nothing more to migrate
        check(self.export(conf) == want, "a second open changed the subscribers")

    # ------------------------------------------------------------ defect 6
    def t_address_idn_subscribe(self):
        """An IDN domain is taken by subscribe and import as one identity
        with its A-label form, and its confirmation mail goes out with the
        domain in A-label form, envelope and To; `subscribe` never says the
        server refused an address digest itself could not send."""
        d = self.testdir("addr-idn")
        with self.smtpd(d) as srv:
            conf = self.job_conf(d, srv.port)
            r = self.digest("subscribe", "ivan@почта.рф", conf=conf)
            check("refused by the server" not in r.out + r.err, f"subscribe said: {_short(r.out + r.err)}")
            check(r.code == 0 and "confirmation mail sent" in r.out,
                  f"subscribe ivan@почта.рф: exit {r.code}: {_short(r.out + r.err)}")
            log = srv.log()
            check(len(log) == 1 and log[0]["rcpt_tos"] == [f"ivan@{IDN_A}"],
                  f"envelope: {[e['rcpt_tos'] for e in log]}")
            with open(os.path.join(srv.out, log[0]["file"]), "rb") as f:
                raw = f.read()
            to = [ln for ln in raw.split(b"\r\n") if ln.lower().startswith(b"to:")]
            check(to and IDN_A.encode() in to[0] and b"=?" not in to[0].split(b"<")[-1],
                  f"To header: {to}")
            # the A-label spelling is the same subscriber
            r = self.digest("subscribe", f"Ivan@{IDN_A.upper()}", "--confirmed", conf=conf)
            check(r.code == 0, f"subscribe the A-label spelling: exit {r.code}: {_short(r.err)}")
            rows = self.export(conf)
            check(rows == [("ivan@почта.рф", "", "active")], f"subscribers: {rows}")
            # a non-ASCII local part: whatever the server offers, never "refused"
            r = self.digest("subscribe", "иван@почта.рф", conf=conf)
            check("refused by the server" not in r.out + r.err, f"subscribe said: {_short(r.out + r.err)}")
            check(r.code in (0, 69), f"subscribe иван@почта.рф: exit {r.code}: {_short(r.out + r.err)}")
            r, _ = self.import_file(d, conf, "idn.txt", f"ИВАН@{IDN_A}\nbad@xn--zz.com\n")
            check("idn.txt:2:" in r.err and "IDNA" in r.err, f"bad IDNA line not reported: {_short(r.err)}")
            emails = [e for e, _, _ in self.export(conf)]
            check(emails == ["ivan@почта.рф", "иван@почта.рф"], f"subscribers: {emails}")

    # ------------------------------------------------------------ defect 10
    def t_address_import_long_line(self):
        """A line over 64 KiB is one bad line: reported with FILE:LINE on
        stderr and skipped; the rest is imported."""
        d = self.testdir("addr-longline")
        conf = self.job_conf(d, transport="maildir")
        text = "first@example.org\n" + "x" * (70 * 1024) + "@example.org\n" + "last@example.org\n"
        r, path = self.import_file(d, conf, "long.txt", text)
        bad = [ln for ln in r.err_lines if "long.txt:2:" in ln]
        check(len(bad) == 1 and "64 KiB" in bad[0], f"the long line is not reported once: {_short(r.err)}")
        check(len(r.err_lines) == 1, f"stderr: {_short(r.err)}")
        check([e for e, _, _ in self.export(conf)] == ["first@example.org", "last@example.org"],
              f"subscribers: {self.export(conf)}")
        # a CSV whose quote never closes: that record is bad, the rest imported
        text = "email,name\na@example.org,\"open\n" + "".join(f"b{i}@example.org,B\n" for i in range(5000))
        text += "c@example.org,\"closed\"\n"
        r, _ = self.import_file(d, conf, "open.csv", text)
        check(any("open.csv:2:" in ln for ln in r.err_lines), f"the open quote is not reported: {_short(r.err)}")

    # ------------------------------------------------------------ defect 8
    def t_address_import_during_run(self):
        """A large import commits in batches: a run sending meanwhile is
        never locked out (exit 0 or 75, never 70 or "database is locked"),
        another writer gets the database within 5 s at any time, and
        every imported subscriber is there afterwards."""
        d = self.testdir("addr-bigimport")
        n = 200000
        with self.smtpd(d, "--delay", "40") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 2;")
            self.add_subscribers(d, conf, n=300)
            path = os.path.join(d, "big.csv")
            with open(path, "w", encoding="utf-8") as f:
                f.write("email,name,status\n")
                for i in range(n):
                    f.write(f"big{i}@example.com,Big {i},unsubscribed\n")
            run = self.popen_digest(conf, "run")
            t0 = time.monotonic()
            while srv.count() < 2 and run.poll() is None and time.monotonic() - t0 < 30:
                time.sleep(0.02)
            check(run.poll() is None, "test bug: the run ended before the import started")
            imp = self.popen_digest(conf, "subscribers", "import", path)
            worst, probes = 0.0, 0
            locked = None
            try:
                while imp.poll() is None:
                    con = sqlite3.connect(self.db(d), timeout=5.0, isolation_level=None)
                    t1 = time.monotonic()
                    try:
                        con.execute("BEGIN IMMEDIATE")
                        con.execute("COMMIT")
                    except sqlite3.OperationalError as e:
                        locked = str(e)
                    finally:
                        con.close()
                    worst = max(worst, time.monotonic() - t1)
                    probes += 1
                    if locked:
                        break
                    time.sleep(0.05)
            finally:
                icode, ierr = self.finish(imp, "the import", timeout=300)
                rcode, rerr = self.finish(run, "the run", timeout=120)
            if self.opts.verbose:
                print(f"    # {probes} probes, the longest wait {worst:.2f} s; {srv.count()} messages")
            check(srv.count() > 2 and rcode in (0, 75) and "database is locked" not in rerr,
                  f"the run: exit {rcode}: {_short(rerr)}")
            check(icode == 0, f"the import: exit {icode}: {_short(ierr)}")
            check(not locked, f"another writer was locked out during the import ({probes} probes, "
                  f"the longest wait {worst:.1f} s): {locked}")
            con = sqlite3.connect(self.db(d))
            try:
                got = con.execute("SELECT count(*) FROM subscribers WHERE email LIKE 'big%'").fetchone()[0]
            finally:
                con.close()
            check(got == n, f"{got} of {n} imported subscribers there afterwards")
