"""Integration tests of installing digest: `make install`/`uninstall`, the
man pages, the systemd units and the Debian package.

A mixin of run.py's Suite (it uses conf(), digest(), testdir(), portal, tmp
and root). The slow part, one per suite run, is install_build(): it copies
the source tree into a temporary directory and there builds the Debian
package with `dpkg-buildpackage -b -us -uc` (which also builds ./digest
with dpkg-buildflags' hardening), then `make install`s that binary into
two prefixes, and removes the copy, so that everything installed runs with
no source tree to lean on. The tests that need it share its result (or its
failure, or its skip when a tool is missing).

What runs from a Debian layout (the package's /etc/digest and
/var/lib/digest) runs in a mount namespace of its own (unshare(1)) where a
temporary directory is mounted over /var/lib/digest: nothing of the
machine's is written.
"""

import email
import email.policy
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import HERE, PY, REPO, Fail, Skip, check  # noqa: F401
else:  # run.py imported as the module `run`
    from run import HERE, PY, REPO, Fail, Skip, check  # noqa: F401

UNITS = ("digest-serve.service", "digest-run.service", "digest-run.timer",
         "digest-collect.service", "digest-collect.timer")
CRON_PATH = "/usr/bin:/bin"  # cron's PATH (Debian's cron and the POSIX default)
# What the source tree holds that is no source (.gitignore): builds, the
# demo's var/, and what a package build left under debian/.
TREE_JUNK = {"": {".git", "build", "var", "digest"},
             "debian": {".debhelper", "digest", "debhelper-build-stamp", "files"}}
JUNK_PATTERN = re.compile(r"^(__pycache__|.*\.(o|d|substvars|debhelper\.log))$")


def copy_ignore(directory, names):
    rel = os.path.relpath(directory, REPO)
    junk = TREE_JUNK.get("" if rel == "." else rel, set())
    return {n for n in names if n in junk or JUNK_PATTERN.match(n)}
# mandoc's messages that say something of this machine, not of the page.
MANDOC_ENVIRONMENT = re.compile(r"referenced manual not found|mandoc\.db")


def run(argv, timeout=120, input_text=None, **kw):
    """ARGV's (exit code, stdout and stderr together) as text."""
    try:
        p = subprocess.run(argv, input=input_text.encode() if input_text is not None else None,
                           stdin=None if input_text is not None else subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise Fail(f"`{' '.join(argv)}` still running after {timeout} s")
    return p.returncode, p.stdout.decode("utf-8", "replace")


def tail(text, n=15):
    return " | ".join(text.strip().splitlines()[-n:])


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def ns_argv(state, argv):
    """ARGV run in a mount namespace of its own with STATE mounted over
    /var/lib/digest (on a tmpfs over /var/lib, so that the mount point need
    not exist on the machine)."""
    script = ('mount -t tmpfs tmpfs /var/lib && mkdir /var/lib/digest && '
              'mount --bind "$0" /var/lib/digest && exec "$@"')
    return ["unshare", "--mount", "--map-root-user", "--propagation", "private", "sh", "-c", script,
            state] + list(argv)


def portal_sources(base):
    """The sources block of tests/fixtures/portal.conf.in for the site at BASE."""
    with open(os.path.join(REPO, "tests", "fixtures", "portal.conf.in"), encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^sources = \(.*?^\);\n", text, re.S | re.M)
    check(m, "test bug: no sources block in portal.conf.in")
    return m.group(0).replace("@BASE@", base)


def with_sources(conf_path, base):
    """Replace the sources block of CONF_PATH (an installed example, as an
    admin edits it) with the test site's."""
    with open(conf_path, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"^sources = \(.*?^\);\n", text, re.S | re.M)
    check(m, f"{conf_path}: no `sources = ( ... );` block to adapt")
    with open(conf_path, "w", encoding="utf-8") as f:
        f.write(text[:m.start()] + portal_sources(base) + text[m.end():])


def maildir_messages(path):
    new = os.path.join(path, "new")
    out = []
    for name in sorted(os.listdir(new)) if os.path.isdir(new) else []:
        with open(os.path.join(new, name), "rb") as f:
            out.append(email.message_from_binary_file(f, policy=email.policy.default))
    return out


def man_text(page):
    """PAGE rendered as plain text by mandoc."""
    rc, out = run(["mandoc", "-Tutf8", "-Owidth=200", page])
    check(rc == 0, f"mandoc {page}: exit {rc}: {tail(out)}")
    return re.sub(r".\x08", "", out)


def man_section(text, name):
    m = re.search(rf"^{name}\n(.*?)(?=^[A-Z][A-Z ]+\n|\Z)", text, re.S | re.M)
    check(m, f"the man page has no {name} section")
    return m.group(1)


class InstallTests:
    # ------------------------------------------------------------ plumbing
    def install_build(self):
        """Build once per suite: the package (into a temporary directory)
        and two `make install`s of its binary; the source copy is removed
        afterwards. Returns a dict of paths; a failure or skip is kept and
        raised again for every test that needs it."""
        cached = getattr(self, "_install_result", None)
        if isinstance(cached, BaseException):
            raise cached
        if cached:
            return cached
        try:
            self._install_result = self._install_build()
        except (Fail, Skip) as e:
            self._install_result = e
            raise
        return self._install_result

    def _install_build(self):
        for tool in ("make", "dpkg-buildpackage", "dpkg-deb", "fakeroot"):
            if not shutil.which(tool):
                raise Skip(f"{tool} is not installed (make test-deps installs it)")
        base = os.path.join(self.tmp, "install")
        version = self.changelog_version()
        src = os.path.join(base, "src", f"digest-{version}")
        shutil.copytree(REPO, src, ignore=copy_ignore)
        before = files_under(src)
        env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=2", LC_ALL="C.UTF-8")
        for k in ("DIGEST_CONFIG", "CFLAGS", "CPPFLAGS", "LDFLAGS", "MAKEFLAGS", "MFLAGS", "MAKELEVEL"):
            env.pop(k, None)
        t0 = time.monotonic()
        rc, out = run(["dpkg-buildpackage", "-b", "-us", "-uc"], cwd=src, env=env, timeout=1200)
        with open(os.path.join(base, "build.log"), "w", encoding="utf-8") as f:
            f.write(out)
        check(rc == 0, f"dpkg-buildpackage: exit {rc}: {tail(out)}")
        debs = glob.glob(os.path.join(base, "src", f"digest_{version}_*.deb"))
        check(len(debs) == 1, f"dpkg-buildpackage made {debs}, want one digest_{version}_*.deb")
        r = {"base": base, "deb": debs[0], "version": version, "build_seconds": time.monotonic() - t0}
        check("-fstack-protector-strong" in out and "-D_FORTIFY_SOURCE" in out,
              "the package's compile lines lack dpkg-buildflags' hardening (CFLAGS/CPPFLAGS ignored)")

        # the same binary through `make install`: a real prefix (its paths
        # exist: the cron wrapper and the units name them), a staged one,
        # and one removed again
        r["prefix"] = os.path.join(base, "prefix")
        r["state"] = os.path.join(base, "prefix-state")
        r["staged"] = os.path.join(base, "staged")
        r["removed"] = os.path.join(base, "removed")
        for args in ([f"PREFIX={r['prefix']}", f"STATEDIR={r['state']}"],
                     [f"DESTDIR={r['staged']}", "PREFIX=/usr"],
                     [f"PREFIX={r['removed']}"]):
            rc, out = run(["make", "install", *args], cwd=src, env=env)
            check(rc == 0, f"make install {' '.join(args)}: exit {rc}: {tail(out)}")
            check(" CC " not in out and " LD " not in out,
                  f"make install {' '.join(args)} rebuilt what the package build had built: {tail(out)}")
        # an install over an installed one keeps the admin's configuration,
        # and so does uninstall
        admins = os.path.join(r["removed"], "etc", "digest", "digest.conf")
        with open(admins, "a", encoding="utf-8") as f:
            f.write("# the admin's\n")
        for target in ("install", "uninstall"):
            rc, out = run(["make", target, f"PREFIX={r['removed']}"], cwd=src, env=env)
            check(rc == 0, f"make {target} over an installed digest: exit {rc}: {tail(out)}")
            with open(admins, encoding="utf-8") as f:
                check(f.read().endswith("# the admin's\n"), f"make {target} replaced the admin's digest.conf")

        # what the build left in the tree is ignored by git (`git status`
        # stays clean), and `debian/rules clean` leaves the tree as it was
        built = sorted(set(files_under(src)) - set(before))
        if shutil.which("git"):
            gitdir = os.path.join(base, "git")
            rc, out = run(["git", "init", "-q", "--bare", gitdir])
            check(rc == 0, f"git init: {tail(out)}")
            p = subprocess.run(["git", f"--git-dir={gitdir}", f"--work-tree={src}", "check-ignore", "--no-index",
                                "--stdin"], input="\n".join(built).encode(), capture_output=True, timeout=60)
            seen = [b for b in built if b not in set(p.stdout.decode().split())]
            check(not seen, f"the package build left files .gitignore does not cover: {seen[:10]}")
        rc, out = run(["fakeroot", "debian/rules", "clean"], cwd=src, env=env)
        check(rc == 0, f"debian/rules clean: exit {rc}: {tail(out)}")
        after = files_under(src)
        extra = sorted(set(after) - set(before))
        check(not extra, f"the package build left files that `debian/rules clean` does not remove: {extra[:10]}")
        check(sorted(set(before) - set(after)) == [],
              f"the package build or clean removed source files: {sorted(set(before) - set(after))[:10]}")
        shutil.rmtree(os.path.join(base, "src", f"digest-{version}"))  # away from the source tree

        r["root"] = os.path.join(base, "root")
        rc, out = run(["dpkg-deb", "-x", r["deb"], r["root"]])
        check(rc == 0, f"dpkg-deb -x: exit {rc}: {tail(out)}")
        return r

    def changelog_version(self):
        with open(os.path.join(REPO, "debian", "changelog"), encoding="utf-8") as f:
            m = re.match(r"digest \(([^)]+)\)", f.readline())
        check(m, "debian/changelog: the first line names no version")
        return m.group(1)

    def ns_ok(self):
        rc, out = run(ns_argv(self.tmp, ["true"]), timeout=20)
        if rc != 0:
            raise Skip(f"no mount namespace to run the package's /var/lib/digest in (unshare: {tail(out, 2)})")

    # ------------------------------------------------------------ man pages
    def t_install_man_lint(self):
        """digest(1) and digest.conf(5) are clean under `mandoc -Tlint` (but
        for the references to pages this machine lacks) and under the
        `man --warnings` run that lintian makes."""
        if not shutil.which("mandoc"):
            raise Skip("mandoc is not installed (make test-deps installs it)")
        for page in ("digest.1", "digest.conf.5"):
            path = os.path.join(REPO, "man", page)
            rc, out = run(["mandoc", "-Tlint", path])
            bad = [ln for ln in out.splitlines() if ln.strip() and not MANDOC_ENVIRONMENT.search(ln)]
            check(not bad, f"mandoc -Tlint {page}: {' | '.join(bad[:8])}")
            if shutil.which("man"):
                env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
                p = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", path],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, timeout=60)
                err = p.stderr.decode("utf-8", "replace").strip()
                check(p.returncode == 0 and not err, f"man --warnings {page}: exit {p.returncode}: {err[:400]}")

    def t_install_man_commands(self):
        """digest(1) describes every command, option and exit code that
        `digest --help` and each `digest COMMAND --help` name, and every
        environment variable the source reads."""
        if not shutil.which("mandoc"):
            raise Skip("mandoc is not installed (make test-deps installs it)")
        text = man_text(os.path.join(REPO, "man", "digest.1"))
        commands_text = man_section(text, "COMMANDS")
        r = self.digest("--help")
        check(r.code == 0, f"digest --help: exit {r.code}")
        m = re.search(r"^commands:\n(.*?)\n\n", r.out, re.S | re.M)
        check(m, f"digest --help has no commands: paragraph: {r.out[:300]!r}")
        cmds = re.findall(r"^  ([a-z][a-z-]+)", m.group(1), re.M)
        check(len(cmds) >= 10, f"test bug: only {cmds} read from digest --help")
        missing = []
        for cmd in cmds:
            if not re.search(rf"^ +{re.escape(cmd)}\b", commands_text, re.M):
                missing.append(f"command {cmd}")
            h = self.digest(cmd, "--help")
            check(h.code == 0, f"digest {cmd} --help: exit {h.code}")
            for opt in sorted(set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-zA-Z])\b", h.out))):
                if opt not in commands_text:
                    missing.append(f"{cmd} {opt}")
            for usage in re.findall(r"^(?:usage:|      ) digest " + re.escape(cmd) + r" ([a-z|]+)", h.out, re.M):
                for sub in usage.split("|"):
                    if not re.search(rf"\b{re.escape(cmd)} {re.escape(sub)}\b", commands_text):
                        missing.append(f"{cmd} {sub}")
        opts = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+|-[a-zA-Z])\b", r.out.split("commands:")[-1]))
        options_text = man_section(text, "OPTIONS")
        missing += [f"option {o}" for o in sorted(opts) if o not in options_text and o not in commands_text]
        exit_text = man_section(text, "EXIT STATUS")
        codes = re.findall(r"\b(\d\d?) [a-z]", r.out.split("exit codes")[-1])
        check(len(codes) >= 8, f"test bug: only exit codes {codes} read from digest --help")
        missing += [f"exit code {c}" for c in codes if not re.search(rf"^ +{c} +\S", exit_text, re.M)]
        env_text = man_section(text, "ENVIRONMENT")
        for src in glob.glob(os.path.join(REPO, "src", "**", "*.c"), recursive=True):
            with open(src, encoding="utf-8") as f:
                for var in re.findall(r'getenv\("([A-Z_]+)"\)', f.read()):
                    if var not in env_text:
                        missing.append(f"environment {var} ({os.path.basename(src)})")
        check(not missing, f"digest(1) lacks: {', '.join(sorted(set(missing)))}")

    # -------------------------------------------------- digest.conf(5) keys
    def doc_keys(self):
        """The keys digest.conf(5) describes, each with the lines of its
        item: each `.It Cm KEY` of a list, prefixed by the key of the item
        whose nested list it is in (`sources` then `name`: sources.name)."""
        keys, stack, last = {}, [], None
        with open(os.path.join(REPO, "man", "digest.conf.5"), encoding="utf-8") as f:
            for line in f:
                if line.startswith(".Bl"):
                    stack.append(last)
                    last = None
                elif line.startswith(".El"):
                    last = stack.pop() if stack else None
                elif line.startswith(".It "):
                    m = re.match(r"\.It Cm ([a-z_.]+)", line)
                    last = None
                    if m:
                        outer = [p for p in stack if p]
                        last = ".".join(outer[-1:] + [m.group(1)])
                        keys[last] = [line]
                elif last:
                    keys[last].append(line)
        return keys

    def parser_keys(self, candidates, groups):
        """The keys the configuration parser knows, found from the outside:
        each of GROUPS (dotted paths of groups) and the top level is given
        every name in CANDIDATES, and the names it does not warn about as
        unknown are its keys."""
        # groups inside lists: the text around their keys, their warnings' prefix
        in_lists = {
            "dkim.keys": ('dkim = { domain = "example.org"; keys = ( { @KEYS@ } ); };', "dkim.keys.[0]."),
            "sources": ('sources = ( { name = "probe"; @KEYS@ } );', "sources.probe."),
            "sources.article": ('sources = ( { name = "probe"; article = { @KEYS@ }; } );',
                                "sources.probe.article."),
        }
        probes = {"": ("@KEYS@", "")}
        for g in groups:
            nest = "@KEYS@"
            for part in reversed(g.split(".")):
                nest = f"{part} = {{ {nest} }};"
            probes[g] = in_lists.get(g, (nest, g + "."))
        d = self.testdir("conf-keys")
        known = set()
        for group, (text, prefix) in probes.items():
            names = sorted(n for n in candidates if not (group == "sources" and n == "name"))
            conf = self.conf(d, text=text.replace("@KEYS@", " ".join(f"{n} = 0;" for n in names)) + "\n")
            r = self.digest("check-config", conf=conf)
            check(r.code in (0, 78), f"probing {group or 'the top level'}: exit {r.code}: {r.err[-300:]!r}")
            unknown = set(re.findall(r": " + re.escape(prefix) + r"([a-z0-9_]+): unknown key", r.err))
            check(unknown, f"probing {group or 'the top level'}: no unknown-key warning at all "
                  f"(the warning's form changed?): {r.err[:300]!r}")
            known |= {(f"{group}." if group else "") + n for n in names if n not in unknown}
            if group == "sources":
                known.add("sources.name")  # set in every probe: a source needs one
        return known

    def t_install_conf_keys_documented(self):
        """digest.conf(5) describes exactly the keys the parser knows: one
        the parser knows and the page lacks fails, and so does one the page
        describes and the parser warns about as unknown."""
        items = self.doc_keys()
        doc = set(items)
        check(len(doc) > 80, f"test bug: only {len(doc)} keys read from digest.conf(5)")
        # each with its type, its default (or that it is required) and a
        # sentence of what it means
        bad = [k for k, lines in items.items()
               if not re.search(r" Pq \S", lines[0])
               or not re.match(r"(Default|Required)\b", lines[1] if len(lines) > 1 else "")
               or not any(ln[0] not in ".\n" and not re.match(r"(Default|Required)\b", ln) for ln in lines[1:])]
        check(not bad, f"digest.conf(5) items without a type, a default or a meaning: {bad}")
        names = {k.rsplit(".", 1)[-1] for k in doc}
        for src in glob.glob(os.path.join(REPO, "src", "**", "*.c"), recursive=True):
            with open(src, encoding="utf-8") as f:
                names |= set(re.findall(r'"([a-z][a-z0-9_]*)"', f.read()))
        names -= {"true", "false"}  # libconfig's words
        known = self.parser_keys(names, sorted({k.rsplit(".", 1)[0] for k in doc if "." in k}))
        # a group is documented by its members, not as a key of its own
        groups = {k.rsplit(".", 1)[0] for k in known | doc if "." in k}
        undocumented = sorted(k for k in known - doc if k not in groups)
        unknown = sorted(k for k in doc - known if k not in groups)
        check(not undocumented, f"keys the parser knows that digest.conf(5) lacks: {undocumented}")
        check(not unknown, f"keys digest.conf(5) describes that the parser does not know: {unknown}")

    def t_install_package_deps(self):
        """debian/control and the Makefile agree: Build-Depends are DEPS'
        libraries and tools (gcc and make come with build-essential; clang
        is for `make CC=clang`), and the run-time files digest needs from
        DEPS (tzdata, ca-certificates) are in Depends."""
        with open(os.path.join(REPO, "Makefile"), encoding="utf-8") as f:
            m = re.search(r"^DEPS := (.*?)(?<!\\)\n", f.read(), re.S | re.M)
        check(m, "test bug: no DEPS in the Makefile")
        deps = set(m.group(1).replace("\\\n", " ").split())
        with open(os.path.join(REPO, "debian", "control"), encoding="utf-8") as f:
            control = f.read()
        def field(name):
            fm = re.search(rf"^{name}:(.*?)(?=^\S|\Z)", control, re.S | re.M)
            check(fm, f"debian/control has no {name}")
            return {re.sub(r"\s*\(.*", "", x).strip() for x in fm.group(1).split(",") if x.strip()}
        build = field("Build-Depends") - {"debhelper-compat"}
        want = {d for d in deps if d.endswith("-dev") or d == "pkg-config"}
        check(build == want, f"Build-Depends {sorted(build)} and the Makefile's DEPS {sorted(want)} differ: "
              f"only in control {sorted(build - want)}, only in DEPS {sorted(want - build)}")
        runtime = {"tzdata", "ca-certificates"} & deps
        check(runtime and runtime <= field("Depends"), f"Depends lacks {sorted(runtime - field('Depends'))}")

    # ------------------------------------------------------------ make install
    def t_install_make_install(self):
        """`make install` puts every part where the SPEC says, with the
        chosen directories written into the units, the cron wrapper, the
        example configuration and the man pages; the staged tree (DESTDIR)
        names the final paths, never DESTDIR; `make uninstall` removes all
        but the admin's configuration; the installed example passes
        check-config where installed."""
        r = self.install_build()
        staged = r["staged"]
        want = ["usr/bin/digest", "usr/libexec/digest/digest-cron", "etc/digest/digest.conf",
                "usr/share/digest/digest.conf.example", "usr/share/digest/digest.crontab",
                "usr/share/man/man1/digest.1", "usr/share/man/man5/digest.conf.5",
                "usr/share/digest/templates/digest.html", "usr/share/digest/templates/digest.txt",
                "usr/lib/sysusers.d/digest.conf", "usr/lib/tmpfiles.d/digest.conf"]
        want += [f"usr/lib/systemd/system/{u}" for u in UNITS]
        have = files_under(staged)
        check(not [w for w in want if w not in have], f"make install DESTDIR=... PREFIX=/usr lacks "
              f"{[w for w in want if w not in have]}; it has {have}")
        for rel in have:
            if rel == "usr/bin/digest":
                continue
            with open(os.path.join(staged, rel), encoding="utf-8") as f:
                text = f.read()
            for bad in (staged, "@BINDIR@", "@SYSCONFDIR@", "@STATEDIR@", "@SANDBOX@", "@DATADIR@", "/usr/local"):
                check(bad not in text, f"installed {rel} still says {bad!r}")
        with open(os.path.join(staged, "usr/lib/systemd/system/digest-serve.service"), encoding="utf-8") as f:
            unit = f.read()
        check("ExecStart=/usr/bin/digest -c /etc/digest/digest.conf serve" in unit, f"serve's ExecStart: {unit!r}")
        with open(os.path.join(staged, "usr/libexec/digest/digest-cron"), encoding="utf-8") as f:
            check("\nbindir=/usr/bin\n" in f.read(), "the installed digest-cron does not name BINDIR /usr/bin")
        check(os.access(os.path.join(staged, "usr/libexec/digest/digest-cron"), os.X_OK), "digest-cron not executable")
        with open(os.path.join(staged, "etc/digest/digest.conf"), encoding="utf-8") as f:
            conf = f.read()
        check('database = "/var/lib/digest/digest.db"' in conf and "/etc/digest/templates" in conf,
              "the installed example does not use /var/lib/digest and /etc/digest")
        # uninstall: only the configuration the admin changed stays
        left = files_under(r["removed"])
        check(left == ["etc/digest/digest.conf"], f"after make uninstall: {left}, want only etc/digest/digest.conf")
        # the real prefix: its example passes check-config as installed
        bin_ = os.path.join(r["prefix"], "bin", "digest")
        conf = os.path.join(r["prefix"], "etc", "digest", "digest.conf")
        rc, out = run([bin_, "-c", conf, "check-config"], cwd="/")
        check(rc == 0 and "ok (1 source)" in out, f"check-config of the installed example: exit {rc}: {tail(out)}")
        rc, out = run([bin_, "--version"])
        check(rc == 0 and out.strip() == f"digest {r['version']}",
              f"installed digest --version: {out.strip()!r}, want digest {r['version']} (debian/changelog)")

    def t_install_cron_wrapper_path(self):
        """The installed digest-cron, under cron's PATH=/usr/bin:/bin and
        without DIGEST, runs the digest `make install` put in its BINDIR:
        a maildir run of the installed example, adapted to a site, from
        the installed binary with its built-in templates; DIGEST=/nonexistent
        says what is wrong."""
        r = self.install_build()
        prefix = r["prefix"]
        conf = os.path.join(prefix, "etc", "digest", "digest.conf")
        wrapper = os.path.join(prefix, "libexec", "digest", "digest-cron")
        with_sources(conf, self.portal["base"])
        env = {"PATH": CRON_PATH, "HOME": "/", "LOG": os.path.join(r["state"], "digest.log"), "LC_ALL": "C.UTF-8"}
        rc, out = run([os.path.join(prefix, "bin", "digest"), "-c", conf, "subscribers", "import", "-"], cwd="/",
                      input_text="reader1@example.org\nReader Two <reader2@example.org>\n")
        check(rc == 0, f"import: exit {rc}: {tail(out)}")
        rc, out = run(["/bin/sh", wrapper, conf, "run"], cwd="/", env=env, timeout=120)
        check(rc == 0 and out == "", f"digest-cron run under PATH={CRON_PATH}: exit {rc}: {tail(out)}")
        with open(env["LOG"], encoding="utf-8") as f:
            log = f.read()
        check(re.search(r"^edition \d{4}-\d\d-\d\d: 10 articles; 2 subscribers: 2 sent", log, re.M),
              f"the log lacks the run's summary: {log[-400:]!r}")
        msgs = maildir_messages(os.path.join(r["state"], "outbox"))
        check(len(msgs) == 2, f"{len(msgs)} messages in the installed example's outbox, want 2")
        html = msgs[0].get_body(("html",)).get_content()
        check("<table" in html and self.portal["expected"][0] in html,
              "the message lacks the built-in HTML template or the top article")
        env["DIGEST"] = "/nonexistent/digest"
        rc, out = run(["/bin/sh", wrapper, conf, "status"], cwd="/", env=env)
        check(rc != 0 and "/nonexistent/digest" in out, f"DIGEST=/nonexistent: exit {rc}: {tail(out)}")

    # ------------------------------------------------------------ systemd
    def t_install_units_verify(self):
        """`systemd-analyze verify` says nothing about the installed units
        (their ExecStart binary and Documentation man pages exist in the
        prefix); `systemd-analyze security` rates each service's sandbox at
        most 1.5 (of 10: "OK"); the timers fire when the crontab example
        does."""
        if not shutil.which("systemd-analyze"):
            raise Skip("systemd-analyze is not installed (package systemd)")
        r = self.install_build()
        unitdir = os.path.join(r["prefix"], "lib", "systemd", "system")
        env = dict(os.environ, MANPATH=os.path.join(r["prefix"], "share", "man"), SYSTEMD_LOG_COLOR="0")
        paths = [os.path.join(unitdir, u) for u in UNITS]
        rc, out = run(["systemd-analyze", "verify", *paths], env=env, cwd=unitdir)
        check(rc == 0 and not out.strip(), f"systemd-analyze verify: exit {rc}: {tail(out)}")
        # the verifier is awake: a misspelt setting is reported
        bad = os.path.join(self.testdir("units-bad"), "digest-serve.service")
        with open(paths[0], encoding="utf-8") as f, open(bad, "w", encoding="utf-8") as g:
            g.write(f.read().replace("ProtectSystem=strict", "ProtectSystem=strict\nProtectSystm=strict"))
        rc, out = run(["systemd-analyze", "verify", bad], env=env)
        check("ProtectSystm" in out, f"systemd-analyze verify did not report a misspelt key: {tail(out)}")
        with open(paths[0], encoding="utf-8") as f:
            serve = f.read()
        for setting in ("User=digest", "StateDirectory=digest", "ProtectSystem=strict", "NoNewPrivileges=yes",
                        "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "PrivateTmp=yes",
                        "CapabilityBoundingSet=\n"):
            check(setting in serve, f"digest-serve.service lacks {setting.strip()}")
        # systemd's own measure of the sandbox: "OK" (under 2.0 of 10) or better
        for u in ("digest-serve.service", "digest-run.service", "digest-collect.service"):
            rc, out = run(["systemd-analyze", "security", "--offline=true", u], env=env, cwd=unitdir)
            m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", out)
            check(rc == 0 and m, f"systemd-analyze security {u}: exit {rc}: {tail(out, 3)}")
            check(float(m.group(1)) <= 1.5, f"{u}: exposure {m.group(1)}, want at most 1.5: {tail(out, 12)}")
        # the run timer's events are the crontab example's: 07:00 and 07:30..11:30
        with open(os.path.join(unitdir, "digest-run.timer"), encoding="utf-8") as f:
            cals = re.findall(r"^OnCalendar=(.*)$", f.read(), re.M)
        fires = set()
        for cal in cals:
            rc, out = run(["systemd-analyze", "calendar", "--iterations=8", cal])
            check(rc == 0, f"systemd-analyze calendar {cal}: {tail(out)}")
            fires |= set(re.findall(r"\b(\d\d:\d\d):00\b", out))
        want = {"07:00", "07:30", "08:30", "09:30", "10:30", "11:30"}
        check(fires == want, f"digest-run.timer fires at {sorted(fires)}, want {sorted(want)}")

    # ------------------------------------------------------------ the package
    def t_install_package(self):
        """The .deb: lintian finds no error (its warnings are printed); it
        holds the binary, the man pages, the units, the cron wrapper, the
        configuration as a conffile in /etc/digest, and a postinst that
        creates the system user digest and /var/lib/digest. Unpacked with
        dpkg-deb -x and run from there (the source tree gone): --version,
        check-config of the shipped example, and a maildir run of it adapted
        to a site, its state in /var/lib/digest."""
        r = self.install_build()
        if shutil.which("lintian"):
            rc, out = run(["lintian", "--no-tag-display-limit", r["deb"]], timeout=600)
            tags = [ln for ln in out.splitlines() if re.match(r"^[EWIPX]: ", ln)]
            errors = [ln for ln in tags if ln.startswith("E: ")]
            check(not errors, f"lintian errors: {' | '.join(errors[:10])}")
            check(rc == 0, f"lintian: exit {rc}: {tail(out)}")
            warnings = [ln for ln in tags if ln.startswith("W: ")]
            print(f"# the package built in {r['build_seconds']:.0f} s; lintian: {len(errors)} errors, "
                  f"{len(warnings)} warnings"
                  + "".join(f"\n#   {w}" for w in warnings), flush=True)
        else:
            print("# lintian is not installed: the package is not checked by it", flush=True)
        rc, info = run(["dpkg-deb", "-I", r["deb"]])
        check(rc == 0, f"dpkg-deb -I: {tail(info)}")
        check(re.search(r"^ Depends:.*\badduser\b", info, re.M), "the package does not depend on adduser")
        ctl = self.testdir("deb-control")
        rc, out = run(["dpkg-deb", "-e", r["deb"], ctl])
        check(rc == 0, f"dpkg-deb -e: {tail(out)}")
        with open(os.path.join(ctl, "conffiles"), encoding="utf-8") as f:
            check("/etc/digest/digest.conf" in f.read().split(), "/etc/digest/digest.conf is no conffile")
        with open(os.path.join(ctl, "postinst"), encoding="utf-8") as f:
            postinst = f.read()
        check(re.search(r"adduser --system\b.*\bdigest$", postinst, re.S | re.M) and "/var/lib/digest" in postinst,
              "the postinst does not create the system user digest and /var/lib/digest")
        root = r["root"]
        have = files_under(root)
        for want in ["usr/bin/digest", "etc/digest/digest.conf", "usr/libexec/digest/digest-cron",
                     "usr/share/man/man1/digest.1.gz", "usr/share/man/man5/digest.conf.5.gz",
                     "usr/share/doc/digest/copyright"] + [f"lib/systemd/system/{u}" for u in UNITS]:
            check(want in have, f"the package lacks /{want}")
        bin_ = os.path.join(root, "usr", "bin", "digest")
        rc, out = run([bin_, "--version"], cwd="/")
        check(rc == 0 and out.strip() == f"digest {r['version']}", f"--version: {out.strip()!r}")

        self.ns_ok()
        state = os.path.join(self.testdir("deb-state"), "var-lib-digest")
        os.makedirs(state)
        conf = os.path.join(root, "etc", "digest", "digest.conf")
        rc, out = run(ns_argv(state, [bin_, "-c", conf, "check-config"]), cwd="/")
        check(rc == 0 and "ok (1 source)" in out, f"check-config of the shipped example: exit {rc}: {tail(out)}")
        with_sources(conf, self.portal["base"])
        rc, out = run(ns_argv(state, [bin_, "-c", conf, "subscribers", "import", "-"]), cwd="/",
                      input_text="reader1@example.org\nreader2@example.org\nreader3@example.org\n")
        check(rc == 0, f"import: exit {rc}: {tail(out)}")
        rc, out = run(ns_argv(state, [bin_, "-c", conf, "run"]), cwd="/", timeout=120)
        check(rc == 0 and re.search(r"^edition \S+: 10 articles; 3 subscribers: 3 sent", out, re.M),
              f"run of the shipped example: exit {rc}: {tail(out)}")
        msgs = maildir_messages(os.path.join(state, "outbox"))
        check(len(msgs) == 3, f"{len(msgs)} messages in /var/lib/digest/outbox, want 3")
        check(msgs[0]["List-Id"] and "daily.news.example.org" in msgs[0]["List-Id"],
              f"the message's List-Id {msgs[0]['List-Id']!r} is not the shipped example's")
        for name in ("digest.db", "secret"):
            path = os.path.join(state, name)
            check(os.path.exists(path), f"/var/lib/digest/{name} was not made")
            check(os.stat(path).st_mode & 0o077 == 0, f"/var/lib/digest/{name} is readable by others")

    # ------------------------------------------------------------ the sandbox
    def t_install_serve_sandboxed(self):
        """digest serve, from the package, runs under the sandbox of
        digest-serve.service as tests/integration/unitsandbox.py applies it
        without systemd (the state directory the only writable place, the
        rest read-only, an unprivileged user, no new privileges, no
        capabilities, only AF_UNIX/AF_INET/AF_INET6 sockets, no W^X memory,
        the unit's system call filter):
        a probe first shows each restriction holds, then serve answers the
        form and a subscription, and writes the confirmation mail into
        /var/lib/digest/outbox; SIGTERM stops it with exit 0."""
        if os.geteuid() != 0:
            raise Skip("applying the unit's User= and mounts needs root")
        for tool in ("unshare", "findmnt", "systemd-analyze"):
            if not shutil.which(tool):
                raise Skip(f"{tool} is not installed")
        if subprocess.run([PY, "-c", "import seccomp"], capture_output=True).returncode != 0:
            raise Skip("python3-seccomp is not installed (make test-deps installs it)")
        r = self.install_build()
        root = r["root"]
        for d in (self.tmp, r["base"]):  # the unit's user reads the package's files
            os.chmod(d, 0o755)
        unit = os.path.join(root, "lib", "systemd", "system", "digest-serve.service")
        d = self.testdir("serve-sandbox")
        state = os.path.join(d, "state")
        os.makedirs(state)
        sandbox = ["unshare", "--mount", "--propagation", "private", PY, os.path.join(HERE, "unitsandbox.py"),
                   unit, state, "--"]
        probe = os.path.join(d, "probe.py")
        with open(probe, "w", encoding="utf-8") as f:
            f.write(PROBE.replace("@OUTSIDE@", os.path.join(root, "etc", "digest", "probe")))
        rc, out = run(sandbox + [PY, probe], cwd="/")
        check(rc == 0, f"the probe in the sandbox: exit {rc}: {tail(out)}")
        got = dict(kv.split("=", 1) for kv in out.strip().splitlines()[-1].split())
        want = {"uid": "65534", "nnp": "1", "umask": "0o77", "caps": "0/0/0/0", "write_etc": "EROFS",
                "write_outside": "EROFS", "write_state": "ok", "inet": "ok", "inet6": "ok",
                "netlink": "EAFNOSUPPORT", "packet": "EAFNOSUPPORT", "wx": "EPERM", "setpriority": "EPERM",
                "affinity": "EPERM"}
        check(got == want, f"the sandbox does not hold: {got}, want {want}")
        os.remove(os.path.join(state, "probe"))

        port = free_port()
        conf = os.path.join(root, "etc", "digest", "digest.conf")
        err = open(os.path.join(d, "serve.err"), "w+b")
        p = subprocess.Popen(sandbox + [os.path.join(root, "usr", "bin", "digest"), "-c", conf, "serve",
                                        "--listen", f"127.0.0.1:{port}"],
                             cwd="/", stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                             start_new_session=True)
        try:
            deadline = time.monotonic() + 15
            while b"serve: listening" not in open(err.name, "rb").read():
                check(p.poll() is None and time.monotonic() < deadline,
                      f"serve did not start in the sandbox: {open(err.name, 'rb').read()[-400:]!r}")
                time.sleep(0.1)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as resp:
                check(resp.status == 200 and b"<form" in resp.read(), "GET / did not answer the form")
            body = urllib.parse.urlencode({"email": "reader@example.org", "name": "Reader"}).encode()
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/subscribe", data=body, timeout=10) as resp:
                check(resp.status == 200, f"POST /subscribe: {resp.status}")
            deadline = time.monotonic() + 15
            while not maildir_messages(os.path.join(state, "outbox")):
                check(time.monotonic() < deadline, "no confirmation mail in /var/lib/digest/outbox within 15 s")
                time.sleep(0.2)
            msg = maildir_messages(os.path.join(state, "outbox"))[0]
            check("reader@example.org" in str(msg["To"]), f"the confirmation mail is to {msg['To']!r}")
            check(os.stat(os.path.join(state, "digest.db")).st_uid == 65534, "the database is not the user's")
        finally:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
            try:
                rc = p.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
                rc = None
            err.close()
        check(rc == 0, f"serve in the sandbox exited {rc} on SIGTERM")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# What the sandbox allows, seen from inside: one KEY=VALUE a check.
PROBE = r'''
import ctypes, errno, mmap, os, socket
r = {"uid": os.getuid(), "nnp": ctypes.CDLL(None).prctl(39, 0, 0, 0, 0), "umask": oct(os.umask(0o27))}
with open("/proc/self/status") as f:
    caps = dict(line.split(":\t", 1) for line in f if line.startswith("Cap"))
r["caps"] = "/".join(str(int(caps[k], 16)) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd"))
def tryit(key, fn):
    try:
        fn()
        r[key] = "ok"
    except OSError as e:
        r[key] = errno.errorcode.get(e.errno, str(e.errno))
tryit("write_etc", lambda: open("/etc/unitsandbox-probe", "w"))
tryit("write_outside", lambda: open("@OUTSIDE@", "w"))
tryit("write_state", lambda: open("/var/lib/digest/probe", "w").write("x"))
tryit("inet", lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM).close())
tryit("inet6", lambda: socket.socket(socket.AF_INET6, socket.SOCK_STREAM).close())
tryit("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0))
tryit("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0))
tryit("wx", lambda: mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC))
tryit("setpriority", lambda: os.setpriority(os.PRIO_PROCESS, 0, 5))  # @resources, taken out
tryit("affinity", lambda: os.sched_setaffinity(0, os.sched_getaffinity(0)))  # likewise
print(" ".join(f"{k}={v}" for k, v in r.items()))
'''
