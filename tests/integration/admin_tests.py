"""Integration tests of an administrator's first day (issue "Install and run
it like a Unix mail tool"): -q keeps errors, unknown keys get a suggestion,
a copied sample configuration works, and every output error exits 74.

A mixin of run.py's Suite. Output errors are made with /dev/full (a real
device that refuses every write with ENOSPC): as standard output, and as
`-o` through a symbolic link, so that a digest that replaced its -o target
would replace the link, never the device.
"""

import os
import shutil
import stat
import subprocess

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, REPO, SANITIZER, Skip, check
else:  # run.py imported as the module `run`
    from run import DIGEST, REPO, SANITIZER, Skip, check

from job_tests import short  # noqa: E402

EX_CANTCREAT, EX_IOERR, EX_CONFIG = 73, 74, 78


class AdminTests:
    def t_admin_quiet_keeps_errors(self):
        """-q drops warnings and chatter, never an error."""
        d = self.testdir("admin-quiet")
        missing = os.path.join(d, "nonexistent.conf")
        r = self.digest("-q", "status", conf=missing)
        check(r.code == EX_CONFIG, f"exit {r.code}, want 78")
        check("cannot read the configuration" in r.err and missing in r.err,
              f"-q hid the error: stderr {short(r.err)!r}")
        conf = os.path.join(d, "digest.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write('newsletter = { colour = "red"; };\nsources = ();\n')
        r = self.digest("check-config", conf=conf)
        check(r.code == 0 and "warning" in r.err, f"without -q: exit {r.code}, stderr {short(r.err)!r}")
        r = self.digest("-q", "check-config", conf=conf)
        check(r.code == 0, f"-q check-config: exit {r.code}")
        check("warning" not in r.err, f"-q still warns: {short(r.err)!r}")

    def t_admin_unknown_key_suggestion(self):
        """An unknown key is named with its file:line, and with the known
        key it is a slip for when one is near; none when none is."""
        d = self.testdir("admin-suggest")
        conf = os.path.join(d, "digest.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write('newsleter = { name = "x"; };\n'
                    'delivery = {\n  smpt = { host = "127.0.0.1"; };\n  transprot = "maildir";\n'
                    '  zebra_crossing = 1;\n};\n'
                    'sources = ();\n')
        r = self.digest("check-config", conf=conf)
        check(r.code == 0, f"exit {r.code}: {short(r.err)}")
        for line, key, meant in ((1, "newsleter", "newsletter"), (3, "delivery.smpt", "delivery.smtp"),
                                 (4, "delivery.transprot", "delivery.transport")):
            want = f"{conf}:{line}: {key}: unknown key, ignored; did you mean {meant}?"
            check(want in r.err, f"no {want!r} in {short(r.err)!r}")
        check(f"{conf}:5: delivery.zebra_crossing: unknown key, ignored\n" in r.err,
              f"the far-off key: {short(r.err)!r}")
        check("zebra_crossing: unknown key, ignored;" not in r.err, "a suggestion for a far-off key")

    def t_admin_copied_sample_config(self):
        """The shipped digest.conf, copied away from the source tree, passes
        check-config (its templates are the built-in ones); a templates
        directory that does not exist is one error with file:line; one
        that holds some templates uses them, the rest stay built in."""
        d = self.testdir("admin-copied")
        conf = os.path.join(d, "digest.conf")
        shutil.copyfile(os.path.join(REPO, "digest.conf"), conf)
        r = self.digest("check-config", conf=conf, cwd=d)
        check(r.code == 0, f"a copied sample config: exit {r.code}: {short(r.err)}")
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        with open(conf, "a", encoding="utf-8") as f:
            f.write('templates = { dir = "mine"; };\n')
        line = text.count("\n") + 1
        r = self.digest("check-config", conf=conf, cwd=d)
        check(r.code == EX_CONFIG, f"a missing templates dir: exit {r.code}, want 78")
        errors = [x for x in r.err.splitlines() if "warning" not in x]
        check(errors == [f"digest: {conf}:{line}: templates.dir: {d}/mine: No such file or directory"],
              f"want one error with file:line, got {errors}")
        r = self.digest("preview", "--no-fetch", "--format", "text", conf=conf, cwd=d)
        check(r.code == EX_CONFIG and f"{conf}:{line}: templates.dir" in r.err,
              f"preview: exit {r.code}, stderr {short(r.err)!r}")
        os.mkdir(os.path.join(d, "mine"))
        with open(os.path.join(d, "mine", "digest.txt"), "w", encoding="utf-8") as f:
            f.write("MY OWN TEXT TEMPLATE {{edition.date}}\n")
        r = self.digest("check-config", conf=conf, cwd=d)
        check(r.code == 0, f"a partial templates dir: exit {r.code}: {short(r.err)}")
        r = self.digest("preview", "--no-fetch", "--format", "text", conf=conf, cwd=d)
        check(r.code == 0 and "MY OWN TEXT TEMPLATE" in r.out, f"text preview: exit {r.code}, {short(r.out)!r}")
        r = self.digest("preview", "--no-fetch", "--format", "html", conf=conf, cwd=d)
        check(r.code == 0 and "<html" in r.out.lower(), f"html preview (built in): exit {r.code}")

    def to_full(self, conf, *args):
        """digest ARGS with standard output on /dev/full: (exit, stderr)."""
        with open("/dev/full", "w") as full:
            p = subprocess.run([DIGEST, "-c", conf] + list(args), stdin=subprocess.DEVNULL, stdout=full,
                               stderr=subprocess.PIPE, timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        check(not SANITIZER.search(err), f"sanitizer report: {short(err)}")
        return p.returncode, err

    def t_admin_output_errors_exit_74(self):
        """Whatever the command, output that cannot be written exits 74 with
        one line that says so; -o onto a device writes it in place (the
        device stays), onto a missing directory is 73."""
        if not os.path.exists("/dev/full") or not stat.S_ISCHR(os.stat("/dev/full").st_mode):
            raise Skip("no /dev/full character device")
        d = self.testdir("admin-74")
        conf = self.job_conf(d, transport="maildir")
        self.digest("subscribe", "a@example.org", "--confirmed", conf=conf)
        for args in (("status",), ("subscribers", "list"), ("subscribers", "export"), ("bounces",),
                     ("check-config",), ("preview", "--no-fetch"), ("collect",), ("--version",), ("--help",)):
            code, err = self.to_full(conf, *args)
            check(code == EX_IOERR, f"`digest {' '.join(args)}` > /dev/full: exit {code}, want 74")
            lines = [x for x in err.splitlines() if "warning" not in x]
            check(len(lines) == 1 and ("No space left on device" in lines[0] or "output error" in lines[0]),
                  f"`digest {' '.join(args)}` > /dev/full: stderr {lines}")
        link = os.path.join(d, "full")
        os.symlink("/dev/full", link)
        for args in (("preview", "--no-fetch", "-o", link), ("subscribers", "export", "-o", link)):
            r = self.digest(*args, conf=conf)
            check(r.code == EX_IOERR and "No space left on device" in r.err,
                  f"`digest {' '.join(args)}`: exit {r.code}, stderr {short(r.err)!r}")
            check(os.path.islink(link), f"`digest {' '.join(args)}` replaced its -o target")
        check(stat.S_ISCHR(os.stat("/dev/full").st_mode), "/dev/full is no longer a device")
        r = self.digest("subscribers", "export", "-o", os.path.join(d, "no", "such", "dir.csv"), conf=conf)
        check(r.code == EX_CANTCREAT, f"-o into a missing directory: exit {r.code}, want 73")
        out = os.path.join(d, "subs.csv")
        r = self.digest("subscribers", "export", "-o", out, conf=conf)
        check(r.code == 0, f"export -o FILE: exit {r.code}: {short(r.err)}")
        with open(out, encoding="utf-8") as f:
            check("a@example.org" in f.read(), "the export lacks the subscriber")
        check([n for n in os.listdir(d) if ".tmp" in n] == [], f"temporary files left: {os.listdir(d)}")

    def t_admin_installed_config_found(self):
        """Without -c, $DIGEST_CONFIG or ./digest.conf, an installed digest
        (PREFIX/bin/digest) reads PREFIX/etc/digest/digest.conf, so that
        `digest status` works from any directory; ./digest.conf still comes
        first, and a digest outside a bin/ directory looks nowhere else."""
        d = self.testdir("admin-installed")
        prefix = os.path.join(d, "prefix")
        os.makedirs(os.path.join(prefix, "bin"))
        os.makedirs(os.path.join(prefix, "etc", "digest"))
        exe = os.path.join(prefix, "bin", "digest")
        shutil.copy2(DIGEST, exe)
        loose = os.path.join(d, "digest")  # not in a bin/: a build tree's
        shutil.copy2(DIGEST, loose)

        def conf_at(path, db):
            with open(path, "w", encoding="utf-8") as f:
                f.write(f'storage = {{ database = "{db}"; }};\nsources = ();\n')

        conf_at(os.path.join(prefix, "etc", "digest", "digest.conf"), "installed.db")
        elsewhere = os.path.join(d, "elsewhere")
        os.mkdir(elsewhere)
        env = dict(os.environ)
        env.pop("DIGEST_CONFIG", None)

        def status(binary, cwd):
            p = subprocess.run([binary, "-v", "-v", "status"], stdin=subprocess.DEVNULL, capture_output=True,
                               env=env, cwd=cwd, timeout=60)
            err = p.stderr.decode("utf-8", "replace")
            check(not SANITIZER.search(err), f"sanitizer report: {short(err)}")
            return p.returncode, err

        code, err = status(exe, elsewhere)
        want = os.path.join(prefix, "etc", "digest", "digest.conf")
        check(code == 0, f"installed digest without -c: exit {code}: {short(err)}")
        check(f"configuration: {want}" in err, f"-vv does not name {want}: {short(err)}")
        check(os.path.exists(os.path.join(prefix, "etc", "digest", "installed.db")),
              "the installation's configuration was not the one used (no installed.db beside it)")
        conf_at(os.path.join(elsewhere, "digest.conf"), "local.db")
        code, err = status(exe, elsewhere)
        check(code == 0 and "configuration: digest.conf" in err, f"./digest.conf not first: {short(err)}")
        check(os.path.exists(os.path.join(elsewhere, "local.db")), "./digest.conf's database not used")
        os.unlink(os.path.join(elsewhere, "digest.conf"))
        code, err = status(loose, elsewhere)
        check(code == EX_CONFIG and "digest.conf: cannot read the configuration" in err,
              f"a digest outside bin/ found a configuration: exit {code}: {short(err)}")
