"""Integration tests of the store as other processes and the clock see it:
a database another process holds (an import, a backup), and a clock set
back across midnight.

A mixin of run.py's Suite, like job_tests.py: it uses the Suite's helpers
(site(), conf(), digest(), testdir()) and JobTests' (job_conf(), smtpd(),
add_subscribers(), summary()); run.py imports this file once its Fail,
Skip and check() are defined.
"""

import datetime as dt
import email
import email.policy
import os
import re
import shutil
import subprocess
import time
from zoneinfo import ZoneInfo

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, SANITIZER, Fail, Skip, check
else:  # run.py imported as the module `run`
    from run import DIGEST, SANITIZER, Fail, Skip, check

EX_OK, EX_TEMPFAIL = 0, 75
TZ = ZoneInfo("Europe/Moscow")     # the portal config's newsletter zone
MSGID_DATE = re.compile(r"<digest\.(\d{4}-\d\d-\d\d)\.")

# Holds a write transaction on a database (argv[1]) the way a long
# `subscribers import` does: BEGIN IMMEDIATE, a row written, then nothing
# until stdin closes or argv[3] seconds pass; argv[2] "exclusive" also
# keeps readers out (locking_mode EXCLUSIVE, as a backup tool may).
HOLDER = r"""
import select, sqlite3, sys, time
db, mode, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
con = sqlite3.connect(db, timeout=30, isolation_level=None)
if mode == "exclusive":
    con.execute("PRAGMA locking_mode = EXCLUSIVE")
    con.execute("BEGIN EXCLUSIVE")
else:
    con.execute("BEGIN IMMEDIATE")
con.execute("INSERT INTO subscribers (email, name, status, nonce, created_at, status_at)"
            " VALUES ('holder-' || lower(hex(randomblob(6))) || '@example.com', 'Holder', 'pending',"
            "         lower(hex(randomblob(16))), 1, 1)")
print("locked", flush=True)
deadline = time.monotonic() + secs if secs > 0 else None
while True:
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    r, _, _ = select.select([sys.stdin], [], [], left)
    if not r or not sys.stdin.buffer.read1(4096):
        break
con.execute("COMMIT")
con.close()
print("released", flush=True)
"""


def short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "…"


class Holder:
    """Another process holding DB's write lock (MODE "write") or the whole
    file (MODE "exclusive") until release(), or for SECONDS when given."""

    def __init__(self, db, mode="write", seconds=0):
        self.proc = subprocess.Popen(["/usr/bin/python3", "-c", HOLDER, db, mode, str(seconds)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        if line != "locked":
            err = self.proc.stderr.read().decode(errors="replace")
            self.proc.wait()
            raise Fail(f"test bug: the lock holder did not start: {line!r} {short(err)}")
        self.t0 = time.monotonic()
        self.seconds = seconds

    def release(self):
        """Commit and end (after SECONDS, when given); returns how long the
        lock was held."""
        if self.seconds > 0:
            self.proc.wait(timeout=self.seconds + 30)
        out, err = self.proc.communicate(timeout=60)  # closes stdin: the holder commits
        check(self.proc.returncode == 0, f"test bug: the lock holder failed: {short(err.decode(errors='replace'))}")
        return time.monotonic() - self.t0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.release()


class StoreTests:
    # ------------------------------------------------------------ helpers
    def busy_env(self, seconds):
        return {"DIGEST_BUSY_TIMEOUT": str(seconds)}

    def check_busy_line(self, r, what, path):
        """R failed for a database held by another process: exit 75 and one
        stderr line saying so, with the database's path."""
        check(r.code == EX_TEMPFAIL, f"{what} with the database held by another process: exit {r.code}, "
              f"want 75; {short(r.err)}")
        lines = [ln for ln in r.err_lines if path in ln]
        check(len(lines) == 1, f"{what}: want one stderr line naming the database {path}, got {len(lines)}: "
              f"{short(r.err)}")
        check(re.search(r"\b(busy|locked)\b", lines[0]), f"{what}: the line does not say the database is "
              f"busy or locked: {lines[0]!r}")

    def popen_run(self, conf, env):
        full = {k: v for k, v in os.environ.items() if k != "DIGEST_CONFIG"}
        full.update(env)
        return subprocess.Popen([DIGEST, "-c", conf, "run"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=full)

    def wait_first_message(self, srv, proc, what):
        t0 = time.monotonic()
        while srv.count() == 0 and proc.poll() is None and time.monotonic() - t0 < 30:
            time.sleep(0.02)
        check(proc.poll() is None, f"test bug: {what}: the run ended before the lock was taken "
              f"(exit {proc.returncode})")
        check(srv.count() > 0, f"test bug: {what}: nothing sent in 30 s")

    def sent_journal(self, d, edition):
        rows = self.journal(d, edition)
        return sorted(e for _, e, state, _ in rows if state == "sent"), rows

    # ------------------------------------------------------------ defect 11
    def t_store_locked_database_tempfail(self):
        """A database another process holds is a temporary failure (75) with
        a line naming it, never 73 "cannot be created"; reading it during
        another's write (status) still works."""
        d = self.testdir("store-locked")
        conf = self.job_conf(d, transport="maildir")
        self.add_subscribers(d, conf, n=2)
        db = self.db(d)
        env = self.busy_env(1)
        with Holder(db) as h:
            r = self.digest("run", conf=conf, env=env)
            self.check_busy_line(r, "run", db)
            check(r.elapsed < 15, f"run took {r.elapsed:.1f} s to give up, with DIGEST_BUSY_TIMEOUT=1")
            self.summary(r)  # still the summary line, last
            for args in (("subscribe", "new@example.net", "--confirmed"), ("subscribe", "new2@example.net"),
                         ("unsubscribe", "r1@example.net")):
                r = self.digest(*args, conf=conf, env=env)
                self.check_busy_line(r, " ".join(args), db)
            path = os.path.join(d, "more.txt")
            with open(path, "w") as f:
                f.write("more@example.net\n")
            r = self.digest("subscribers", "import", path, conf=conf, env=env)
            self.check_busy_line(r, "subscribers import", db)
            r = self.digest("status", conf=conf, env=env)
            check(r.code == EX_OK, f"status during another process's write: exit {r.code}; {short(r.err)}")
            check(re.search(r"2\s+active", r.out), f"status: want 2 active subscribers: {short(r.out)}")
        outbox = os.path.join(d, "var", "outbox", "new")
        check(not os.path.isdir(outbox) or not os.listdir(outbox), "a run with the database held sent mail")
        # a holder that keeps readers out too (a backup tool's exclusive lock)
        with Holder(db, "exclusive"):
            r = self.digest("status", conf=conf, env=env)
            self.check_busy_line(r, "status", db)
            r = self.digest("run", conf=conf, env=env)
            self.check_busy_line(r, "run (exclusive lock)", db)
        # the holder gone, everything works and nothing was half done
        r = self.run_job(conf)
        s = self.summary(r)
        check((s["sent"], s["subscribers"]) == (2, 2), f"after the lock: summary {s}, want 2 sent")

    # ------------------------------------------------------------ defect 8
    def t_store_run_waits_for_a_long_writer(self):
        """An import holding the database for 12 s (longer than the 10 s a
        run once waited) while a run sends: the run waits and completes,
        one copy each."""
        d = self.testdir("store-wait")
        with self.smtpd(d, "--delay", "150") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 1;")
            subs = self.add_subscribers(d, conf, n=12)
            proc = self.popen_run(conf, {})
            try:
                self.wait_first_message(srv, proc, "a writer for 12 s")
                h = Holder(self.db(d), seconds=12)
                at = srv.count()
                held = h.release()
            finally:
                code, err = self.finish(proc, "the run", timeout=60)
            check(code == EX_OK, f"a run while another process wrote for 12 s: exit {code}, want 0 "
                  f"(wait for the lock); {short(err)}")
            check(at < len(subs) and held >= 11, f"test bug: the lock ({held:.1f} s) came after the run "
                  f"had sent {at} of {len(subs)}")
            self.check_once_each(srv, subs, what="a run that waited for a writer: ")
            sent, rows = self.sent_journal(d, str(self.today()))
            check(sent == sorted(subs), f"journal after the run: {rows}")

    def t_store_run_defers_when_held_past_the_wait(self):
        """Held longer than the run waits: exit 75 (not 70, not 73), and a
        later run completes the edition."""
        # held before the run starts: nothing sent, and the next run sends each once
        d = self.testdir("store-defer-start")
        with self.smtpd(d) as srv:
            conf = self.job_conf(d, srv.port)
            subs = self.add_subscribers(d, conf, n=5)
            with Holder(self.db(d)):
                r = self.digest("run", conf=conf, env=self.busy_env(1))
                self.check_busy_line(r, "a run started while another process writes", self.db(d))
            check(srv.count() == 0, f"a run that could not write its journal sent {srv.count()} messages")
            r = self.run_job(conf)
            self.check_once_each(srv, subs, what="the run after the lock: ")
        # taken while the run sends, for longer than it waits
        d = self.testdir("store-defer-mid")
        with self.smtpd(d, "--delay", "150") as srv:
            conf = self.job_conf(d, srv.port, smtp="connections = 1;")
            subs = self.add_subscribers(d, conf, n=12)
            proc = self.popen_run(conf, self.busy_env(1))
            h = None
            try:
                self.wait_first_message(srv, proc, "a writer past the wait")
                h = Holder(self.db(d))
                code, err = self.finish(proc, "the run", timeout=60)
            finally:
                if h:
                    h.release()
                if proc.poll() is None:
                    self.finish(proc, "the run", timeout=60)
            check(code == EX_TEMPFAIL, f"a run whose journal stayed locked past the wait: exit {code}, "
                  f"want 75; {short(err)}")
            lines = [ln for ln in err.splitlines() if self.db(d) in ln]
            check(lines and re.search(r"\b(busy|locked)\b", lines[0]),
                  f"no line naming the database {self.db(d)} as busy: {short(err)}")
            before = srv.count()
            check(before < len(subs), f"test bug: the run sent everything ({before}) before the lock")
            r = self.run_job(conf)
            # a message sent while its journal entry could not be written is
            # sent again, as after a kill: at most one per connection
            self.check_once_each(srv, subs, dups=1, what="the run after the lock: ")
            sent, rows = self.sent_journal(d, str(self.today()))
            check(sent == sorted(subs), f"journal after the second run: {rows}")

    # ------------------------------------------------------------ defect 9
    def t_store_clock_set_back(self):
        """Edition D sent at D 00:10; the clock set back to D-1 23:50: the
        next run's edition carries nothing edition D did, and no reader
        gets an article twice."""
        if not shutil.which("faketime"):
            raise Skip("faketime(1) is not installed (Debian package faketime)")
        if not self.faketime_works():
            raise Skip("this build of digest hangs under faketime(1) at start-up")
        day = dt.datetime(2026, 6, 15, 0, 10, 0, tzinfo=TZ)
        back = day - dt.timedelta(minutes=20)
        site = self.site("store-clock", now=day.isoformat())
        d = self.testdir("store-clock")
        conf = self.job_conf(d, transport="maildir", site=site)
        subs = self.add_subscribers(d, conf, n=3)
        r = self.run_job(conf, fake_now=day)
        s = self.summary(r)
        check(s["edition"] == "2026-06-15" and s["sent"] == 3, f"the run at {day}: summary {s}")
        r2 = self.run_job(conf, fake_now=back)
        s2 = self.summary(r2)
        check(s2["edition"] == "2026-06-14", f"the run at {back}: edition {s2['edition']}, want 2026-06-14")
        outbox = os.path.join(d, "var", "outbox", "new")
        per_edition, per_reader = {}, {}
        for fn in sorted(os.listdir(outbox)):
            with open(os.path.join(outbox, fn), "rb") as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            m = MSGID_DATE.search(str(msg["Message-ID"]))
            check(m, f"{fn}: Message-ID {msg['Message-ID']!r} names no edition")
            to = msg["To"].addresses[0].addr_spec
            links = self.selection(msg)
            per_edition.setdefault(m.group(1), set()).update(links)
            for u in links:
                per_reader.setdefault(to, []).append(u)
        check("2026-06-15" in per_edition, f"test bug: edition 2026-06-15 was not sent: {list(per_edition)}")
        again = per_edition.get("2026-06-14", set()) & per_edition["2026-06-15"]
        check(not again, f"edition 2026-06-14, built with the clock set back, carries {len(again)} articles "
              f"of edition 2026-06-15: {sorted(again)[:3]}")
        for to, links in per_reader.items():
            dup = sorted({u for u in links if links.count(u) > 1})
            check(not dup, f"{to} got {len(dup)} articles twice: {dup[:3]}")
        check(re.search(r"clock", r2.err) and "2026-06-15" in r2.err,
              f"the run with the clock set back does not say the clock is behind edition 2026-06-15: "
              f"{short(r2.err)}")
        # an earlier day asked for explicitly is built too, and carries nothing sent either
        r3 = self.run_job(conf, "--date", "2026-06-13", fake_now=back)
        for fn in os.listdir(outbox):
            with open(os.path.join(outbox, fn), "rb") as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            if "digest.2026-06-13." in str(msg["Message-ID"]):
                stale = set(self.selection(msg)) & (per_edition["2026-06-15"] | per_edition.get("2026-06-14", set()))
                check(not stale, f"edition 2026-06-13 (--date) carries already sent articles: {sorted(stale)[:3]}")
        check(SANITIZER.search(r3.err) is None, "sanitizer report")
