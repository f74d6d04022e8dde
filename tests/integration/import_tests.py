"""Integration tests of `subscribers import` with other mailers' exports
(issue 15): Mailchimp's per-status files, listmonk's CSV, Excel's
windows-1251 and UTF-16 files, lists without a header; --dry-run, which
reports what the import would do and leaves the database as it was;
--encoding and --delimiter; what goes wrong and how it says so.

A mixin of run.py's Suite. The files are tests/fixtures/import/, shaped
like the real exports (their header rows, quoting, line ends, charsets).
"""

import csv
import hashlib
import os
import sqlite3
import subprocess

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, MOJIBAKE, REPO, SANITIZER, check
else:  # run.py imported as the module `run`
    from run import DIGEST, MOJIBAKE, REPO, SANITIZER, check

from job_tests import short  # noqa: E402

EX_USAGE, EX_DATAERR, EX_NOINPUT = 64, 65, 66
FIX = os.path.join(REPO, "tests", "fixtures", "import")
MC_SUB = "mailchimp-subscribed_members_export_7f3a9c.csv"
MC_UNSUB = "mailchimp-unsubscribed_members_export_7f3a9c.csv"
MC_CLEAN = "mailchimp-cleaned_members_export_7f3a9c.csv"
DRY = " (dry run: nothing imported)"


def counts(path, added=0, updated=0, unchanged=0, kept=0, bad=0):
    """The line an import prints."""
    return (f"{path}: {added} added, {updated} updated, {unchanged} unchanged, "
            f"{kept} kept unsubscribed or bouncing, {bad} bad lines\n")


class ImportTests:
    # ------------------------------------------------------------ helpers
    def import_conf(self, d):
        """A configuration that is enough for `subscribers`: D/var/digest.db."""
        return self.conf(d, text='storage = { database = "var/digest.db"; };\nsources = ();\n')

    def imp(self, conf, name, *opts, code=0):
        """`subscribers import` of fixture NAME (a path when it has a "/")."""
        path = name if "/" in name else os.path.join(FIX, name)
        r = self.digest("subscribers", "import", path, *opts, conf=conf)
        check(r.code == code, f"import {os.path.basename(path)} {' '.join(opts)}: exit {r.code}, want {code}: "
              f"{short(r.err)}")
        return r, path

    def exported(self, conf):
        """{email: (name, status)} of `subscribers export`."""
        r = self.digest("subscribers", "export", conf=conf)
        check(r.code == 0, f"export: exit {r.code}: {short(r.err)}")
        rows = list(csv.reader(r.out.splitlines()))
        check(rows[:1] == [["email", "name", "status"]], f"export header: {rows[:1]}")
        return {e: (n, s) for e, n, s in rows[1:]}

    def db_state(self, d):
        """The database file's digest (None when there is none) and every
        subscriber row, to compare before and after a dry run."""
        path = os.path.join(d, "var", "digest.db")
        if not os.path.exists(path):
            return None, None
        with open(path, "rb") as f:
            digest = hashlib.sha256(f.read()).hexdigest()
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = db.execute("SELECT * FROM subscribers ORDER BY id").fetchall()
        finally:
            db.close()
        return digest, rows

    def dry_then_real(self, d, conf, name, *opts, code=0):
        """--dry-run of NAME, then the import itself: the dry run leaves the
        database as it was (bytes and rows) and prints the same line and
        exit code as the import after it. Returns the import's Result."""
        before = self.db_state(d)
        dry, path = self.imp(conf, name, "--dry-run", *opts, code=code)
        check(self.db_state(d) == before, f"--dry-run of {name} changed the database")
        real, _ = self.imp(conf, name, *opts, code=code)
        if code == 0:
            check(dry.out.endswith(DRY + "\n"), f"the dry run does not say so: {dry.out!r}")
            check(dry.out.replace(DRY, "") == real.out,
                  f"{name}: the dry run said {dry.out.strip()!r}, the import {real.out.strip()!r}")
        else:
            check(dry.out == real.out == "", f"output of a failed import: {dry.out!r} / {real.out!r}")
        check(dry.err == real.err, f"{name}: stderr differs:\ndry:  {short(dry.err)}\nreal: {short(real.err)}")
        return real

    # ------------------------------------------------------------ tests
    def t_import_mailchimp(self):
        """Mailchimp's audience export, a file per status, imported in turn:
        the subscribed file's readers active with first and last name
        joined, the unsubscribed file's unsubscribed (UNSUB_TIME tells it,
        there is no status column), the cleaned file's bouncing; a quoted
        note spanning lines is one record; a second import of the
        subscribed file brings no one back."""
        d = self.testdir("imp-mailchimp")
        conf = self.import_conf(d)
        r, path = self.imp(conf, MC_SUB)
        check(r.out == counts(path, added=4), f"subscribed: {r.out!r}")
        check(r.err == "", f"stderr: {short(r.err)}")
        r, path = self.imp(conf, MC_UNSUB)
        check(r.out == counts(path, added=1, updated=1), f"unsubscribed: {r.out!r}")
        r, path = self.imp(conf, MC_CLEAN)
        check(r.out == counts(path, added=1), f"cleaned: {r.out!r}")
        want = {
            "ann.lee@example.com": ("Ann Lee", "active"),
            "Bob.Ray@example.com": ("Bob Ray", "active"),
            "carol@example.com": ("Carol", "active"),
            "dan.unsub@example.com": ("Dan Olsen", "unsubscribed"),
            "erin@example.com": ("Erin Park", "unsubscribed"),
            "gone@example.com": ("Gus Old", "bouncing"),
        }
        got = self.exported(conf)
        check(got == want, f"subscribers:\n{got}\nwant:\n{want}")
        r, path = self.imp(conf, MC_SUB)
        check(r.out == counts(path, unchanged=3, kept=1), f"again: {r.out!r}")
        check(self.exported(conf) == want, "a second import changed someone")

    def t_import_listmonk(self):
        """listmonk's export (uuid,email,name,attributes,status,created_at,
        updated_at): enabled is active, blocklisted and disabled are
        unsubscribed; the JSON attributes with their doubled quotes and
        commas are one field; `subscribers list` shows the names."""
        d = self.testdir("imp-listmonk")
        conf = self.import_conf(d)
        r, path = self.imp(conf, "listmonk-subscribers.csv")
        check(r.out == counts(path, added=4), f"{r.out!r}")
        want = {
            "ivan@example.ru": ("Иван Петров", "active"),
            "spam@example.net": ("Spam Trap", "unsubscribed"),
            "paused@example.org": ("Paula", "unsubscribed"),
            "olga@example.ru": ('Ольга "Оля" Смирнова', "active"),
        }
        got = self.exported(conf)
        check(got == want, f"subscribers:\n{got}\nwant:\n{want}")
        r = self.digest("subscribers", "list", conf=conf)
        check(r.code == 0, f"list: exit {r.code}")
        line = next((ln for ln in r.out.splitlines() if ln.startswith("spam@example.net ")), "")
        check(line.split()[1:2] == ["unsubscribed"] and line.endswith("Spam Trap"), f"list row: {line!r}")
        check(not MOJIBAKE.search(r.out), f"mojibake in the list: {short(r.out)}")

    def t_import_excel_charsets(self):
        """Excel's windows-1251 CSV (";", CRLF, Cyrillic header): without
        --encoding one line naming FILE:LINE and suggesting --encoding,
        exit 65, nothing imported; with it, Cyrillic names as they were and
        a bad row named with its text decoded. Excel's "Unicode text"
        (UTF-16LE with its mark, tabs) needs no option; KOI8-R does."""
        d = self.testdir("imp-excel")
        conf = self.import_conf(d)
        r, path = self.imp(conf, "excel-windows-1251.csv", code=EX_DATAERR)
        want = (f"digest: {path}:1: not UTF-8 text (byte 0xC0); name its encoding, e.g. --encoding "
                "windows-1251; nothing imported\n")
        check(r.err == want, f"stderr {r.err!r}, want {want!r}")
        check(r.out == "", f"stdout: {r.out!r}")
        check(self.exported(conf) == {}, "something was imported from a file refused")
        r, path = self.imp(conf, "excel-windows-1251.csv", "--encoding", "windows-1251")
        check(r.out == counts(path, added=3, bad=1), f"{r.out!r}")
        check(r.err == f'digest: {path}:4: invalid address "Пётр <petr@example.ru>": space outside quotes\n',
              f"stderr: {r.err!r}")
        r, path = self.imp(conf, "excel-unicode.txt")
        check(r.out == counts(path, added=2), f"UTF-16: {r.out!r} {short(r.err)}")
        r, path = self.imp(conf, "koi8-r.csv", "--encoding", "koi8-r")
        check(r.out == counts(path, added=1), f"KOI8-R: {r.out!r}")
        want = {
            "sergey@example.ru": ("Сергей Иванов", "active"),
            "marina@example.ru": ("Марина Кузнецова; отдел продаж", "active"),
            "oleg@example.ru": ("Олег Ёлкин", "unsubscribed"),
            "nina@example.ru": ("Нина Орлова", "active"),
            "ANNA@example.ru": ("Анна Белова", "active"),
            "yuri@example.ru": ("Юрий", "active"),
        }
        got = self.exported(conf)
        check(got == want, f"subscribers:\n{got}\nwant:\n{want}")
        # the wrong charset named: converted, and the names show it
        r, path = self.imp(conf, "koi8-r.csv", "--encoding", "windows-1251")
        check(self.exported(conf)["yuri@example.ru"][0] != "Юрий", "test bug: the charsets agree")

    def t_import_dry_run(self):
        """--dry-run of every fixture, over a database that already holds
        readers in each status: the database file and its rows are as they
        were, and the line printed (and stderr, and the exit code) is the
        one the import itself prints next. Without a database, a dry run
        creates none."""
        d = self.testdir("imp-dry")
        conf = self.import_conf(d)
        # no database yet: none made, and every reader new
        dry, path = self.imp(conf, MC_SUB, "--dry-run")
        check(dry.out == counts(path, added=4).replace("\n", DRY + "\n"), f"{dry.out!r}")
        check(not os.path.exists(os.path.join(d, "var", "digest.db")), "a dry run created the database")
        # a database with readers in every status, and the same file twice
        with open(os.path.join(d, "seed.csv"), "w", encoding="utf-8") as f:
            f.write("email,name,status\ncarol@example.com,C,pending\ndan.unsub@example.com,D,active\n"
                    "erin@example.com,,bouncing\nivan@example.ru,Иван Петров,unsubscribed\n"
                    "ann.lee@example.com,Ann Lee,active\n")
        self.imp(conf, os.path.join(d, "seed.csv"))
        for name, opts in ((MC_SUB, ()), (MC_UNSUB, ()), (MC_CLEAN, ()), ("listmonk-subscribers.csv", ()),
                           ("excel-windows-1251.csv", ("--encoding", "windows-1251")), ("excel-unicode.txt", ()),
                           ("plain-list.txt", ()), ("bad-rows.csv", ()), (MC_SUB, ("--resubscribe",))):
            self.dry_then_real(d, conf, name, *opts)
        # a refusal and a file with no valid line fail the same way
        self.dry_then_real(d, conf, "excel-windows-1251.csv", code=EX_DATAERR)
        with open(os.path.join(d, "none.csv"), "w", encoding="utf-8") as f:
            f.write("email,status\nnobody,active\nx@example.com,archived\n")
        self.dry_then_real(d, conf, os.path.join(d, "none.csv"), code=EX_DATAERR)
        # one reader twice in a file: the dry run counts the second line as
        # the import does, against the first
        with open(os.path.join(d, "twice.csv"), "w", encoding="utf-8") as f:
            f.write("email,name,status\nnew@example.com,N,pending\nNEW@example.com,N,active\n"
                    "new@example.com,N2,unsubscribed\nnew@example.com,,active\n")
        real = self.dry_then_real(d, conf, os.path.join(d, "twice.csv"))
        check(real.out == counts(os.path.join(d, "twice.csv"), added=1, updated=2, kept=1),
              f"twice: {real.out!r}")

    def t_import_plain_and_bad(self):
        """A list without a header (`addr,name`, bare addresses, `"Name"
        <addr>`) imports as before; bad rows (an unknown status, a bad
        address, a quote never closed) are each one line FILE:LINE on
        stderr, counted, the rest imported; a file of bad rows only exits
        65; from standard input too, through a pipe, with --encoding."""
        d = self.testdir("imp-plain")
        conf = self.import_conf(d)
        r, path = self.imp(conf, "plain-list.txt")
        check(r.out == counts(path, added=4), f"{r.out!r} {short(r.err)}")
        got = self.exported(conf)
        check(got == {"alice@example.com": ("Alice Smith", "active"), "bob.ray@example.com": ("", "active"),
                      "ann.lee@example.com": ("Lee, Ann", "active"),
                      "victor@example.org": ("Victor, Jr.", "active")}, f"{got}")
        r, path = self.imp(conf, "bad-rows.csv")
        check(r.out == counts(path, added=1, bad=3), f"{r.out!r}")
        want = [f'digest: {path}:3: unknown status "archived" (pending, active, unsubscribed or bouncing)',
                f'digest: {path}:4: invalid address "not-an-address": no @',
                f"digest: {path}:5: unterminated quote"]
        check(r.err_lines == want, f"stderr:\n{r.err}\nwant:\n" + "\n".join(want))
        check(self.exported(conf)["good@example.com"] == ("Good", "active"), "subscribed is not active")
        # standard input, a pipe: windows-1251 with --encoding, and without
        with open(os.path.join(FIX, "excel-windows-1251.csv"), "rb") as f:
            data = f.read()
        for opts, code in ((["--encoding", "cp1251", "--delimiter", ";"], 0), ([], EX_DATAERR)):
            argv = [DIGEST, "-c", conf, "subscribers", "import", "-", *opts]
            p = subprocess.run(argv, input=data, capture_output=True, timeout=60)
            err = p.stderr.decode("utf-8", "replace")
            check(not SANITIZER.search(err), f"sanitizer: {short(err)}")
            check(p.returncode == code, f"stdin {opts}: exit {p.returncode}, want {code}: {short(err)}")
        check(self.exported(conf)["sergey@example.ru"] == ("Сергей Иванов", "active"), "stdin import")
        check("-:1: not UTF-8 text" in err, f"stdin refusal: {short(err)}")

    def t_import_usage(self):
        """An unknown encoding or delimiter is a usage error (64) before
        anything is read; import-only options elsewhere too; a missing file
        is 66; --delimiter makes a header split as told."""
        d = self.testdir("imp-usage")
        conf = self.import_conf(d)
        r, _ = self.imp(conf, MC_SUB, "--encoding", "klingon-8", code=EX_USAGE)
        check('--encoding: unknown encoding "klingon-8"' in r.err, f"stderr: {short(r.err)}")
        check("usage:" in r.err, "no usage after the error")
        self.imp(conf, MC_SUB, "--delimiter", "|", code=EX_USAGE)
        self.imp(conf, MC_SUB, "--encoding", code=EX_USAGE)
        for args in (("subscribers", "list", "--dry-run"), ("subscribers", "export", "--encoding", "koi8-r"),
                     ("subscribe", "a@example.com", "--dry-run"), ("unsubscribe", "a@example.com", "--delimiter", ";")):
            r = self.digest(*args, conf=conf)
            check(r.code == EX_USAGE, f"{' '.join(args)}: exit {r.code}, want 64")
        check(not os.path.exists(os.path.join(d, "var", "digest.db")), "a usage error opened the database")
        self.imp(conf, os.path.join(d, "missing.csv"), code=EX_NOINPUT)
        with open(os.path.join(d, "semi.csv"), "w", encoding="utf-8") as f:
            f.write("email;name\na@example.com;Lee, Ann\n")
        r, path = self.imp(conf, os.path.join(d, "semi.csv"), "--delimiter", ",", code=EX_DATAERR)
        r, path = self.imp(conf, os.path.join(d, "semi.csv"), "--delimiter", ";")
        check(self.exported(conf) == {"a@example.com": ("Lee, Ann", "active")}, "--delimiter ;")
        r = self.digest("subscribers", "--help", conf=conf)
        for opt in ("--dry-run", "--encoding NAME", "--delimiter D"):
            check(opt in r.out, f"subscribers --help does not name {opt}")
