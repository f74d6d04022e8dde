"""Integration tests of `status --failed`, the honest counts of a run's
summary and `status`, and `subscribers forget` (issue 15): who failed and
why, against a real SMTP server (aiosmtpd) refusing one reader with 550
and deferring another; a dry run that says what it would send instead of
calling everyone deferred; an erasure that leaves no byte of the address
in the database file nor its write-ahead log, an import that does not
bring the erased reader back, and the reader's own confirmation that does.

A mixin of run.py's Suite.
"""

import datetime as dt
import fcntl
import os
import re
import sqlite3

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import check
else:  # run.py imported as the module `run`
    from run import check

from job_tests import free_port, short  # noqa: E402
from serve_tests import post_form  # noqa: E402

EX_USAGE, EX_DATAERR, EX_NOUSER, EX_TEMPFAIL = 64, 65, 67, 75


def db_bytes(path):
    """The bytes of the database at PATH and of its write-ahead log."""
    out = b""
    for p in (path, path + "-wal"):
        if os.path.exists(p):
            with open(p, "rb") as f:
                out += f.read()
    return out


def query(path, sql, args=()):
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute(sql, args).fetchall()
    finally:
        con.close()


class ForgetTests:
    def failed_section(self, out, title):
        """The lines of `status --failed`'s section TITLE ("failed",
        "deferred", "came back"): its heading, then the lines up to the
        next blank line."""
        heading = {"failed": r"^edition \S+: \d+ failed$", "deferred": r"^edition \S+: \d+ deferred ",
                   "came back": r"^came back for edition \S+: \d+$"}[title]
        lines = out.splitlines()
        start = next((i for i, ln in enumerate(lines) if re.search(heading, ln)), None)
        check(start is not None, f"status --failed: no section {title!r}: {short(out)}")
        body = []
        for ln in lines[start + 1:]:
            if not ln.strip():
                break
            body.append(ln)
        return lines[start], body

    # ------------------------------------------------------------ status --failed
    def t_forget_status_failed(self):
        """After a real run to aiosmtpd that refuses one reader (550) and
        keeps deferring another (451), `status --failed` lists the refused
        one with the server's reply, the deferred one with its 451, and
        none of the others; `status` counts deferred (tried) apart from
        untried (a reader who came after the run)."""
        d = self.testdir("forget-status")
        with self.smtpd(d, "--fail-rcpt", r"^refused@", "--defer-rcpt", r"^later@:1000") as srv:
            conf = self.job_conf(d, srv.port, smtp="retries = 1;")
            good = self.add_subscribers(d, conf, n=3, prefix="ok")
            self.add_subscribers(d, conf, csv_rows=[("refused@example.net", "Отказ", "active"),
                                                    ("later@example.net", "Потом", "active")])
            r = self.run_job(conf, code=EX_TEMPFAIL)
            s = self.summary(r)
            check((s["sent"], s["deferred"], s["failed"]) == (3, 1, 1), f"summary {s}, want 3 sent, 1 deferred, "
                  "1 failed")
            check("not tried" not in r.err_lines[-1], f"every reader was tried, the summary says otherwise: "
                  f"{r.err_lines[-1]!r}")
            ed = s["edition"]
            r = self.digest("status", "--failed", conf=conf)
            check(r.code == 0, f"status --failed: exit {r.code}: {short(r.err)}")
            head, rows = self.failed_section(r.out, "failed")
            check(ed in head, f"status --failed: the section does not name edition {ed}: {head!r}")
            check(len(rows) == 2 and rows[0].split()[:2] == ["address", "status"], f"failed section: {rows}")
            row = rows[1]
            check(row.split()[0] == "refused@example.net" and "550 5.1.1" in row and "User unknown" in row,
                  f"the refused reader's row: {row!r}, want its address and the 550 reply")
            check(re.search(r"\s1\s", row) and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", row),
                  f"the refused reader's row lacks its attempts or when: {row!r}")
            _, drows = self.failed_section(r.out, "deferred")
            check(len(drows) == 2 and drows[1].split()[0] == "later@example.net" and "451" in drows[1],
                  f"deferred section: {drows}, want later@ with its 451")
            for a in good:
                check(a not in r.out, f"status --failed lists {a}, which was sent: {short(r.out)}")
            # the same by --edition; an edition never built; a bad date
            r2 = self.digest("status", "--failed", "--edition", ed, conf=conf)
            check(r2.code == 0 and r2.out == r.out, f"status --failed --edition {ed}: exit {r2.code}, "
                  f"{short(r2.out)}")
            r2 = self.digest("status", "--failed", "--edition", "2001-01-01", conf=conf)
            check(r2.code == EX_DATAERR and "2001-01-01" in r2.err, f"an edition never built: exit {r2.code}, "
                  f"{short(r2.err)}")
            for bad in ("2026-13-01", "yesterday", ""):
                r2 = self.digest("status", "--failed", "--edition", bad, conf=conf)
                check(r2.code == EX_USAGE, f"--edition {bad!r}: exit {r2.code}, want 64")
            r2 = self.digest("status", "--edition", ed, conf=conf)
            check(r2.code == EX_USAGE, f"--edition without --failed: exit {r2.code}, want 64")
            # a reader who came after the run: untried, not deferred
            self.add_subscribers(d, conf, n=1, prefix="late")
            st, _ = self.status_row(conf, ed)
            check((st.get("sent"), st.get("deferred"), st.get("failed"), st.get("untried")) == (3, 1, 1, 1),
                  f"status: {st}, want 3 sent, 1 deferred, 1 failed, 1 untried")
            # a bounce that came back for the edition is listed with it
            con = sqlite3.connect(self.db(d), timeout=10)
            con.execute("INSERT INTO bounces (at, address, kind, source, status, diagnostic, edition) VALUES "
                        "(?, 'ok2@example.net', 'bounce-hard', 'inbound', '5.2.2', 'mailbox full', ?)",
                        (int(dt.datetime.now().timestamp()), ed))
            con.commit()
            con.close()
            r = self.digest("status", "--failed", conf=conf)
            _, brows = self.failed_section(r.out, "came back")
            check(any("ok2@example.net" in x and "5.2.2" in x and "mailbox full" in x for x in brows),
                  f"came back section: {brows}")

    # ------------------------------------------------------------ dry run wording
    def t_forget_dry_run_wording(self):
        """`run --dry-run` says how many would be sent, never that anyone
        was deferred; a run whose server is down says the deferred were
        never tried, in a line the summary's parsers still read."""
        d = self.testdir("forget-dry")
        port = free_port()
        conf = self.job_conf(d, port)
        self.add_subscribers(d, conf, n=4)
        r = self.run_job(conf, "--dry-run")
        last = r.err_lines[-1] if r.err_lines else ""
        check(re.match(r"^edition \d{4}-\d\d-\d\d: \d+ articles?; 4 subscribers: ", last),
              f"dry run: the last line is no summary: {last!r}")
        check("deferred" not in last, f"dry run: the summary calls untried readers deferred: {last!r}")
        check("4 would be sent" in last and "dry run" in last, f"dry run: {last!r}, want '4 would be sent'")
        check(not self.journal(d), "run --dry-run wrote deliveries")
        r = self.run_job(conf, code=EX_TEMPFAIL)
        s = self.summary(r)
        check((s["sent"], s["deferred"], s["failed"]) == (0, 4, 0), f"server down: summary {s}")
        check(re.search(r"; 4 of them not tried", r.err_lines[-1]), f"server down: the summary does not say "
              f"the deferred were never tried: {r.err_lines[-1]!r}")
        r = self.digest("status", "--failed", conf=conf)
        check(r.code == 0 and "4 untried" in r.out, f"status --failed after the server was down: {short(r.out)}")

    # ------------------------------------------------------------ forget
    def t_forget_erases(self):
        """`subscribers forget` erases a reader who was refused with 550 (a
        journal row and a bounce line holding the address): no byte of the
        address is left in the database file or its log; the others keep
        everything; a dry run changes nothing; an unknown address exits 67;
        an import does not bring the reader back, even with --resubscribe,
        and says so; `subscribe --confirmed` does not either; their own
        request and confirmation do, and end the erasure."""
        d, srv, port, base, conf = self.serve_setup("forget-erase")
        victim, spelled = "Victim.Reader@example.net", "victim.reader@EXAMPLE.net"
        try:
            self.add_subscribers(d, conf, n=2, prefix="keep")
            self.add_subscribers(d, conf, csv_rows=[(victim, "Жертва Забвения", "active")])
            srv.stop()
            with self.smtpd(d, "--fail-rcpt", r"(?i)^victim\.reader@") as srv2:
                conf = self.job_conf(d, srv2.port, subs_extra=[('base_url = "http://127.0.0.1:8080/digest";',
                                                                f'base_url = "{base}";')])
                r = self.run_job(conf)
                s = self.summary(r)
                check((s["sent"], s["failed"]) == (2, 1), f"summary {s}, want 2 sent, 1 failed")
            db = self.db(d)
            check(victim.encode() in db_bytes(db), "test bug: the address is not in the database to begin with")
            deliveries = query(db, "SELECT count(*) FROM deliveries")[0][0]
            # a dry run: says what it would erase, changes nothing
            r = self.digest("subscribers", "forget", spelled, "--dry-run", conf=conf)
            check(r.code == 0 and "would" in r.out, f"forget --dry-run: exit {r.code}: {short(r.out)} {short(r.err)}")
            check(query(db, "SELECT count(*) FROM subscribers")[0][0] == 3, "forget --dry-run erased")
            # a run sending (its lock held): 75, nothing erased
            with open(db + ".lock", "a") as lk:
                fcntl.flock(lk, fcntl.LOCK_EX | fcntl.LOCK_NB)
                r = self.digest("subscribers", "forget", spelled, conf=conf)
            check(r.code == EX_TEMPFAIL, f"forget during a run: exit {r.code}, want 75: {short(r.err)}")
            check(query(db, "SELECT count(*) FROM subscribers")[0][0] == 3, "forget erased during a run")
            r = self.digest("subscribers", "forget", spelled, conf=conf)
            check(r.code == 0, f"forget: exit {r.code}: {short(r.err)}")
            check(len(r.out.splitlines()) == 1 and "erased" in r.out, f"forget: want one line: {r.out!r}")
            raw = db_bytes(db)
            for needle in (victim, victim.lower(), "Victim.Reader", "Жертва Забвения"):
                check(needle.encode() not in raw, f"the database file still holds {needle!r}")
            check(b"keep1@example.net" in raw, "the others' rows are gone too")
            check(query(db, "SELECT count(*) FROM subscribers")[0][0] == 2, "forget: the others' rows")
            check(query(db, "SELECT count(*) FROM deliveries")[0][0] == deliveries - 1,
                  "forget: not exactly the reader's journal row deleted")
            check(query(db, "SELECT count(*) FROM bounces")[0][0] == 0, "forget: the bounce line is left")
            hashes = query(db, "SELECT key_hash FROM forgotten")
            check(len(hashes) == 1 and re.fullmatch(r"[0-9a-f]{64}", hashes[0][0]), f"forgotten: {hashes}")
            r = self.digest("subscribers", "forget", victim, conf=conf)
            check(r.code == 0 and "already" in r.out, f"forget again: exit {r.code}: {short(r.out)}")
            r = self.digest("subscribers", "show", victim, conf=conf)
            check(r.code == EX_NOUSER and "erased on request" in r.err, f"show an erased reader: exit {r.code}: "
                  f"{short(r.err)}")
            r = self.digest("subscribers", "forget", "nobody@example.net", conf=conf)
            check(r.code == EX_NOUSER and "nobody@example.net" in r.err, f"forget an unknown address: exit "
                  f"{r.code}, want 67: {short(r.err)}")
            r = self.digest("subscribers", "forget", "not an address", conf=conf)
            check(r.code == EX_DATAERR, f"forget a malformed address: exit {r.code}, want 65")
            r = self.digest("subscribers", "forget", conf=conf)
            check(r.code == EX_USAGE, f"forget without an address: exit {r.code}, want 64")
            # an import does not bring them back, with or without --resubscribe
            path = os.path.join(d, "again.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(f"new@example.net\nВозврат <{victim.upper()}>\n")
            for extra in ((), ("--resubscribe",)):
                r = self.digest("subscribers", "import", path, *extra, conf=conf)
                check(r.code == 0, f"import {extra}: exit {r.code}: {short(r.err)}")
                check("1 skipped: erased on request" in r.out, f"import {extra}: {r.out!r}")
                check(re.search(re.escape(path) + r":2: .*erased on request", r.err),
                      f"import {extra}: no line for the erased reader: {short(r.err)}")
                check(query(db, "SELECT count(*) FROM subscribers WHERE addr_key = ?", (victim.lower(),))[0][0] == 0,
                      f"import {extra} brought the erased reader back")
            check(query(db, "SELECT status FROM subscribers WHERE email = 'new@example.net'") == [("active",)],
                  "the other line of the import was not imported")
            r = self.digest("subscribe", victim, "--confirmed", conf=conf)
            check(r.code == EX_DATAERR and "erased" in r.err, f"subscribe --confirmed of an erased reader: exit "
                  f"{r.code}: {short(r.err)}")
            # their own request: pending, mailed; an import still leaves them so
            with self.smtpd(d) as srv3:
                conf = self.job_conf(d, srv3.port, subs_extra=[('base_url = "http://127.0.0.1:8080/digest";',
                                                                f'base_url = "{base}";')])
                r = self.digest("subscribe", victim, conf=conf)
                check(r.code == 0 and "pending" in r.out, f"subscribe: exit {r.code}: {short(r.out)} {short(r.err)}")
                r = self.digest("subscribers", "import", path, conf=conf)
                check("1 skipped: erased on request" in r.out, f"import while pending: {r.out!r}")
                check(query(db, "SELECT status FROM subscribers WHERE addr_key = ?", (victim.lower(),))
                      == [("pending",)], "an import activated the pending, erased reader")
                tok = self.confirm_token(srv3, victim, base)
                with self.serve(conf, port):
                    r = post_form(port, "/digest/confirm", {"t": tok})
                    check(r.status == 200, f"POST confirm: {r.show()}")
                check(query(db, "SELECT status FROM subscribers WHERE addr_key = ?", (victim.lower(),))
                      == [("active",)], "the confirmation did not bring them back")
                check(query(db, "SELECT count(*) FROM forgotten")[0][0] == 0, "the confirmation left the hash")
                r = self.digest("subscribers", "import", path, conf=conf)
                check("erased" not in r.out and r.code == 0, f"import after their return: {r.out!r}")
        finally:
            srv.stop()
