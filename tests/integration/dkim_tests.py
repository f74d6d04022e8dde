"""Integration tests of DKIM signing: keys made by `digest dkim-keygen`,
digest and confirmation mails delivered to a Maildir and over SMTP
(tests/integration/smtpd.py), each signature verified by two verifiers
that share no code with digest: dkimpy (Debian python3-dkim, its DNS
lookup replaced by the test's records) and OpenDKIM (opendkim-testmsg,
whose resolver is pointed, in a network namespace of its own, at
tests/integration/dnsd.py serving the test's records). A mixin of run.py's
Suite, with JobTests' helpers."""

import json
import os
import re
import shutil
import stat
import subprocess
import time

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, HERE, Fail, Skip, check
else:  # run.py imported as the module `run`
    from run import DIGEST, HERE, Fail, Skip, check

DNSD = os.path.join(HERE, "dnsd.py")
REPO_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(HERE)), "templates")
DOMAIN = "example.org"   # newsletter.from's domain in portal.conf.in
# the SPEC's list ("DKIM"), From twice; Reply-To only when the message has one
SIGNED = ["from", "from", "to", "subject", "date", "message-id", "mime-version", "content-type", "list-id",
          "list-unsubscribe", "list-unsubscribe-post", "feedback-id"]
FIELD = re.compile(rb"[^\r\n]+(?:\r\n[ \t][^\r\n]*)*\r\n")


def short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "..."


def crlf(raw):
    """RAW with CRLF line ends (a Maildir file has LF)."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def split_sigs(raw):
    """(the DKIM-Signature fields, the other fields, the body) of RAW (CRLF)."""
    head, body = raw.split(b"\r\n\r\n", 1)
    fields = FIELD.findall(head + b"\r\n")
    sigs = [f for f in fields if f.lower().startswith(b"dkim-signature:")]
    rest = [f for f in fields if not f.lower().startswith(b"dkim-signature:")]
    return sigs, rest, body


def tags(sig):
    """The tags of one DKIM-Signature field, unfolded."""
    v = re.sub(rb"\s+", b"", sig.split(b":", 1)[1]).decode()
    return dict(t.split("=", 1) for t in v.split(";") if t)


class DkimTests:
    # ------------------------------------------------------------ helpers
    def need_dkimpy(self):
        try:
            import dkim  # noqa: F401
        except ImportError:
            raise Skip("dkimpy is missing (Debian python3-dkim; `make test` installs it)")

    def opendkim_ok(self):
        """Whether opendkim-testmsg can be run with our records: it and a
        network namespace of our own (root, unshare) are needed."""
        if not hasattr(self, "_opendkim"):
            self._opendkim = None
            if not shutil.which("opendkim-testmsg"):
                self._opendkim = "opendkim-testmsg is missing (Debian opendkim-tools; `make test` installs it)"
            elif not shutil.which("unshare") or os.geteuid() != 0:
                self._opendkim = "a private network namespace (unshare, as root) is needed to point " \
                                 "OpenDKIM's resolver at the test's DNS server"
            else:
                p = subprocess.run(["unshare", "-mn", "true"], capture_output=True)
                if p.returncode != 0:
                    self._opendkim = f"unshare -mn is refused here: {p.stderr.decode(errors='replace').strip()}"
        return self._opendkim

    def dkim_keys(self, d):
        """An RSA and an Ed25519 key made by `digest dkim-keygen` in D:
        {selector: (key file, TXT record)}; checks the files' mode and that
        an existing key is never overwritten."""
        keys = {}
        for sel, typ in (("rsa2026", "rsa"), ("ed2026", "ed25519")):
            path = os.path.join(d, f"{sel}.pem")
            r = self.digest("dkim-keygen", sel, "--type", typ, "-o", path)
            check(r.code == 0, f"dkim-keygen {sel} --type {typ}: exit {r.code}: {short(r.err)}")
            mode = stat.S_IMODE(os.stat(path).st_mode)
            check(mode == 0o600, f"dkim-keygen wrote {path} with mode {mode:o}, want 600")
            m = re.match(rf"^{sel}\._domainkey\s+IN\s+TXT\s+\((.*)\)\s*$", r.out.strip())
            check(m, f"dkim-keygen printed no TXT record for {sel}: {r.out!r}")
            record = "".join(re.findall(r'"([^"]*)"', m.group(1)))
            check(record.startswith(f"v=DKIM1; k={typ}; p="), f"TXT record {record!r}")
            keys[sel] = (path, record)
            with open(path, "rb") as f:
                before = f.read()
            r = self.digest("dkim-keygen", sel, "--type", typ, "-o", path)
            check(r.code != 0 and "never overwritten" in r.err, f"dkim-keygen over an existing key: exit "
                  f"{r.code}: {short(r.err)}")
            with open(path, "rb") as f:
                check(f.read() == before, "dkim-keygen changed an existing key file")
        return keys

    def dkim_block(self, keys):
        ks = ", ".join(f'{{ selector = "{s}"; key_file = "{p}"; }}' for s, (p, _) in keys.items())
        return f'dkim = {{ domain = "{DOMAIN}"; keys = ( {ks} ); }};'

    def dkim_conf(self, d, keys, **kw):
        block = self.dkim_block(keys)
        extra = list(kw.pop("subs_extra", ()))
        extra.append(('storage = { database = "var/digest.db"; };',
                      'storage = { database = "var/digest.db"; };\n' + block))
        return self.job_conf(d, subs_extra=extra, **kw)

    def records(self, keys):
        return {f"{s}._domainkey.{DOMAIN}": rec for s, (_, rec) in keys.items()}

    def verify_dkimpy(self, raw, keys, who):
        """Every signature of RAW verifies with dkimpy; returns the selectors."""
        import dkim
        recs = {k.encode(): v.encode() for k, v in self.records(keys).items()}

        def dnsfunc(name, timeout=5):
            return recs.get(name.rstrip(b".").lower(), b"")

        sigs, _, _ = split_sigs(raw)
        check(len(sigs) == len(keys), f"{who}: {len(sigs)} DKIM-Signature fields, want {len(keys)}")
        seen = []
        for i in range(len(sigs)):
            d = dkim.DKIM(raw)
            try:
                ok = d.verify(idx=i, dnsfunc=dnsfunc)
            except dkim.DKIMException as e:
                raise Fail(f"{who}: dkimpy: signature {i}: {e}")
            check(ok, f"{who}: dkimpy: signature {i} ({tags(sigs[i]).get('s')}) does not verify")
            seen.append(tags(sigs[i])["s"])
        return seen

    def opendkim(self, d, msgs, keys):
        """opendkim-testmsg on each message of MSGS (name, bytes) with the
        test's records: {name: (exit code, what it said)}."""
        work = os.path.join(d, "opendkim")
        os.makedirs(work, exist_ok=True)
        with open(os.path.join(work, "records.json"), "w") as f:
            json.dump(self.records(keys), f)
        names = []
        for name, raw in msgs:
            with open(os.path.join(work, name + ".eml"), "wb") as f:
                f.write(raw)
            names.append(name)
        with open(os.path.join(work, "resolv.conf"), "w") as f:
            f.write("nameserver 127.0.0.1\n")
        # In a namespace of its own: a loopback nothing else uses, and a
        # resolv.conf that names dnsd.py (the machine's stays untouched).
        script = f"""
set -u
cd '{work}'
ip link set lo up || exit 90
mount --bind '{work}/resolv.conf' /etc/resolv.conf || exit 91
/usr/bin/python3 '{DNSD}' records.json --ready ready 2>dnsd.err &
dns=$!
i=0; while [ ! -e ready ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
for m in {' '.join(names)}; do
  opendkim-testmsg < "$m.eml" > "$m.out" 2>&1; echo $? > "$m.rc"
done
kill $dns
"""
        p = subprocess.run(["unshare", "-mn", "sh", "-c", script], capture_output=True, timeout=60)
        check(p.returncode == 0, f"opendkim: the namespace script failed (exit {p.returncode}): "
              f"{short(p.stderr.decode(errors='replace'))}")
        res = {}
        for name in names:
            with open(os.path.join(work, name + ".rc")) as f:
                rc = int(f.read().strip() or "-1")
            with open(os.path.join(work, name + ".out"), errors="replace") as f:
                res[name] = (rc, f.read().strip())
        return res

    def verify_all(self, d, raws, keys, tampered=True):
        """Each message of RAWS (name, bytes as delivered) carries one
        signature per key, signs the SPEC's header list, and verifies with
        dkimpy and, each signature alone, with OpenDKIM; a tampered copy
        fails both."""
        import dkim
        odk = []
        for name, raw in raws:
            raw = crlf(raw)
            sigs, rest, body = split_sigs(raw)
            for s in sigs:
                t = tags(s)
                want = list(SIGNED)
                if any(f.lower().startswith(b"reply-to:") for f in rest):
                    want.insert(6, "reply-to")
                if not any(f.lower().startswith(b"list-id:") for f in rest):   # a confirmation mail
                    want = [h for h in want if not h.startswith("list-")]
                check(t.get("h", "").split(":") == want, f"{name}: h={t.get('h')}, want {':'.join(want)}")
                check(t.get("c") == "relaxed/relaxed" and t.get("d") == DOMAIN,
                      f"{name}: c={t.get('c')} d={t.get('d')}")
                check(t.get("a") == ("ed25519-sha256" if t.get("s", "").startswith("ed") else "rsa-sha256"),
                      f"{name}: a={t.get('a')} for s={t.get('s')}")
            seen = self.verify_dkimpy(raw, keys, name)
            check(sorted(seen) == sorted(keys), f"{name}: signed by {seen}, want {sorted(keys)}")
            if tampered:
                bad = raw.replace(b"\r\nSubject: ", b"\r\nSubject: Re: ", 1)
                check(bad != raw, "test bug: no Subject to change")
                for i in range(len(sigs)):
                    check(not dkim.DKIM(bad).verify(idx=i, dnsfunc=lambda n, timeout=5: self.records(keys).get(
                        n.rstrip(b".").decode().lower(), "").encode()),
                        f"{name}: dkimpy accepts signature {i} of a message whose Subject changed")
            # OpenDKIM checks each signature alone: the other is taken out
            # (DKIM-Signature is not signed), so one verifier's pass is
            # never the other key's.
            for i, s in enumerate(sigs):
                sel = tags(s)["s"]
                odk.append((f"{name}-{sel}", s + b"".join(rest) + b"\r\n" + body))
                if tampered:
                    bad_body = body.replace(b"=", b"=3D", 1) if b"=" in body else body + b"x\r\n"
                    odk.append((f"{name}-{sel}-badbody", s + b"".join(rest) + b"\r\n" + bad_body))
        why = self.opendkim_ok()
        if why:
            return why
        res = self.opendkim(d, odk, keys)
        for n, (rc, said) in res.items():
            if n.endswith("-badbody"):
                check(rc != 0, f"OpenDKIM accepts {n} (a changed body): {said!r}")
            else:
                check(rc == 0 and not said, f"OpenDKIM: {n}: exit {rc}: {said!r}")
        return None

    def confirmation_mail(self, d, conf, addr):
        r = self.digest("subscribe", addr, conf=conf)
        check(r.code == 0, f"subscribe {addr}: exit {r.code}: {short(r.err)}")

    # ------------------------------------------------------------ tests
    def t_dkim_maildir(self):
        """Digest and confirmation mails in a Maildir, signed with an RSA and
        an Ed25519 key, verified by dkimpy and OpenDKIM."""
        self.need_dkimpy()
        d = self.testdir("dkim-maildir")
        keys = self.dkim_keys(d)
        conf = self.dkim_conf(d, keys, transport="maildir", newsletter='reply_to = "editors@example.org";')
        r = self.digest("check-config", conf=conf)
        check(r.code == 0, f"check-config with a dkim block: exit {r.code}: {short(r.err)}")
        self.add_subscribers(d, conf, n=3)
        self.run_job(conf)
        self.confirmation_mail(d, conf, "new.reader@example.net")
        new = os.path.join(d, "var", "outbox", "new")
        raws = []
        for fn in sorted(os.listdir(new)):
            with open(os.path.join(new, fn), "rb") as f:
                raws.append((f"m{len(raws)}", f.read()))
        check(len(raws) == 4, f"{len(raws)} messages in the Maildir, want 3 digests and a confirmation mail")
        confirm = [n for n, raw in raws if b"List-Id:" not in raw]
        check(len(confirm) == 1, f"{len(confirm)} confirmation mails among the messages")
        why = self.verify_all(d, raws, keys)
        if why:
            raise Skip(f"dkimpy verified all; OpenDKIM not run: {why}")

    def t_dkim_smtp(self):
        """The same over SMTP: what smtpd.py received verifies, each key type
        alone too (a config with one key gets one signature)."""
        self.need_dkimpy()
        d = self.testdir("dkim-smtp")
        keys = self.dkim_keys(d)
        whys = []
        for label, ks in (("both", keys), ("rsa", {"rsa2026": keys["rsa2026"]}),
                          ("ed", {"ed2026": keys["ed2026"]})):
            sub = os.path.join(d, label)
            os.makedirs(sub)
            with self.smtpd(sub) as srv:
                conf = self.dkim_conf(sub, ks, port=srv.port)
                self.add_subscribers(sub, conf, n=2)
                self.run_job(conf)
                self.confirmation_mail(sub, conf, "new.reader@example.net")
                deadline = time.monotonic() + 10
                while srv.count() < 3 and time.monotonic() < deadline:
                    time.sleep(0.05)
                got = [(f"{label}{i}", raw) for i, (_, _, raw) in enumerate(srv.messages())]
            check(len(got) == 3, f"{label}: smtpd.py received {len(got)} messages, want 3")
            why = self.verify_all(sub, got, ks, tampered=label == "both")
            if why:
                whys.append(why)
        if whys:
            raise Skip(f"dkimpy verified all; OpenDKIM not run: {whys[0]}")

    def t_dkim_bad_keys(self):
        """A key file digest cannot use stops check-config and the run with
        one line naming digest.conf's line and the file; nothing is sent."""
        d = self.testdir("dkim-bad")
        good = os.path.join(d, "good.pem")
        r = self.digest("dkim-keygen", "good", "--type", "ed25519", "-o", good)
        check(r.code == 0, f"dkim-keygen: {short(r.err)}")
        garbage = os.path.join(d, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
        unreadable = os.path.join(d, "unreadable.pem")
        shutil.copy(good, unreadable)
        os.chmod(unreadable, 0)
        cases = [("missing", os.path.join(d, "nonexistent.pem"), "cannot read the DKIM key"),
                 ("garbage", garbage, "not a usable PEM private key"),
                 ("public", None, "not a PEM private key")]
        if os.geteuid() != 0:   # root reads a file of mode 000
            cases.append(("unreadable", unreadable, "cannot read the DKIM key"))
        pub = os.path.join(d, "public.txt")
        with open(pub, "w") as f:
            f.write("v=DKIM1; k=ed25519; p=fUuUNDKCLlJAi38ISOjFZaSGmmlUL1osRLVZSky2PVM=\n")
        for label, path, want in cases:
            path = path or pub
            sub = os.path.join(d, label)
            os.makedirs(sub)
            conf = self.dkim_conf(sub, {"good": (good, ""), "bad": (path, "")}, transport="maildir")
            self.add_subscribers(sub, conf, n=1)
            for cmd in (["check-config"], ["run"]):
                r = self.digest(*cmd, conf=conf)
                check(r.code == 78, f"{label}: {cmd[0]}: exit {r.code}, want 78: {short(r.err)}")
                lines = [ln for ln in r.err_lines if path in ln]
                check(len(lines) == 1 and want in lines[0] and re.search(r"digest\.conf:\d+: dkim\.keys\.\[1\]",
                                                                         lines[0]),
                      f"{label}: {cmd[0]}: want one line 'digest.conf:LINE: dkim.keys.[1].key_file: {path}: "
                      f"{want}', got: {short(r.err)}")
            new = os.path.join(sub, "var", "outbox", "new")
            check(not os.path.isdir(new) or not os.listdir(new), f"{label}: a message went out")

    # ------------------------------------------------------------ deliverability
    def spamassassin(self, d, msgs):
        """`spamassassin -L -t` (local tests only) on each (label, bytes) of
        MSGS, at once: {label: (score, [(points, rule)])}; prints each."""
        if not shutil.which("spamassassin"):
            raise Skip("spamassassin is missing (Debian spamassassin; `make test` installs it)")
        home = os.path.join(d, "sa-home")   # its user_prefs, not root's
        os.makedirs(home, exist_ok=True)
        env = dict(os.environ, HOME=home)
        procs = {label: subprocess.Popen(["spamassassin", "-L", "-t"], stdin=subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
                 for label, _ in msgs}
        res = {}
        for label, raw in msgs:
            try:
                out, _ = procs[label].communicate(raw, timeout=120)
            except subprocess.TimeoutExpired:
                procs[label].kill()
                raise Fail(f"spamassassin on the {label} still running after 120 s")
            text = out.decode("utf-8", "replace")
            m = re.search(r"Content analysis details:\s+\((-?[\d.]+) points", text)
            check(m, f"spamassassin said no score for the {label}: {short(text[-600:])}")
            rules = re.findall(r"^\s*(-?\d+\.\d+)\s+([A-Z0-9_]+)\s", text[m.end():], re.M)
            res[label] = (float(m.group(1)), [(float(p), r) for p, r in rules])
            shown = " ".join(f"{r} {p:+.1f}" for p, r in res[label][1])
            print(f"# spamassassin -L -t: {label}: {res[label][0]:.1f} points: {shown}", flush=True)
        return res

    def maildir_messages(self, d):
        new = os.path.join(d, "var", "outbox", "new")
        out = []
        for fn in sorted(os.listdir(new)):
            with open(os.path.join(new, fn), "rb") as f:
                out.append(f.read())
        return out

    def t_dkim_spamassassin(self):
        """SpamAssassin's local rules on the default digest in English (the
        `other` site) and in Russian (the portal) and on the confirmation
        mail: at most 0.0, 1.0 and 0.0 points."""
        ru, en = self.testdir("sa-ru"), self.testdir("sa-en")
        conf_ru = self.job_conf(ru, transport="maildir")
        self.add_subscribers(ru, conf_ru, n=1)
        self.run_job(conf_ru)
        digest_ru = self.maildir_messages(ru)
        self.confirmation_mail(ru, conf_ru, "new.reader@example.net")
        confirm = [m for m in self.maildir_messages(ru) if m not in digest_ru]
        conf_en = self.conf(en, template="other", base=self.other["base"])
        self.add_subscribers(en, conf_en, n=1)
        self.run_job(conf_en)
        digest_en = self.maildir_messages(en)
        check(len(digest_ru) == 1 and len(digest_en) == 1 and len(confirm) == 1,
              f"messages: {len(digest_ru)} Russian, {len(digest_en)} English, {len(confirm)} confirmation")
        for raw in digest_ru + digest_en + confirm:
            head = crlf(raw).split(b"\r\n\r\n", 1)[0]
            check(re.search(rb"\r\nFeedback-ID: [^\r\n]+:(digest|optin):example\.(org|com)\r\n", head + b"\r\n"),
                  f"no Feedback-ID ...:digest|optin:SENDER in {head[:600]!r}")
        res = self.spamassassin(ru, [("English digest", crlf(digest_en[0])), ("Russian digest", crlf(digest_ru[0])),
                                     ("confirmation mail", crlf(confirm[0]))])
        for label, limit in (("English digest", 0.0), ("Russian digest", 1.0), ("confirmation mail", 0.0)):
            score, rules = res[label]
            check(score <= limit, f"{label}: {score} points, want at most {limit}: {rules}")
        for label, (_, rules) in res.items():
            bad = [r for _, r in rules if r in ("HTML_FONT_LOW_CONTRAST", "FONT_INVIS_MSGID", "HTML_FONT_TINY")]
            check(not bad, f"{label}: {bad}: the hidden preheader looks like hidden text")

    def t_dkim_contrast_and_preheader(self):
        """The default templates: the preheader hidden by display alone (no
        1 px or background-coloured text), every text colour on white at
        4.5:1 or more (WCAG AA), the footer's included."""
        def lum(hexc):
            c = [int(hexc[i:i + 2], 16) / 255 for i in (0, 2, 4)]
            c = [x / 12.92 if x <= 0.03928 else ((x + 0.055) / 1.055) ** 2.4 for x in c]
            return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

        def contrast(a, b):
            la, lb = sorted((lum(a), lum(b)), reverse=True)
            return (la + 0.05) / (lb + 0.05)

        for name in ("digest.html", "confirm.html"):
            with open(os.path.join(REPO_TEMPLATES, name), encoding="utf-8") as f:
                doc = f.read()
            check("font-size:1px" not in doc.replace(" ", "") and "opacity:0" not in doc.replace(" ", ""),
                  f"{name}: 1 px or transparent text")
            hidden = re.findall(r'<div style="([^"]*display:none[^"]*)"', doc)
            for st in hidden:
                check("color" not in st, f"{name}: hidden text with a colour of its own: {st}")
            # text colours on the white card (the button's white text is on #1f3a5f)
            for m in re.finditer(r"(?<![-\w])color:\s*#([0-9a-fA-F]{6})", doc):
                col = m.group(1).lower()
                bg = "1f3a5f" if col == "ffffff" else "ffffff"
                ratio = contrast(col, bg)
                check(ratio >= 4.5, f"{name}: color #{col} on #{bg}: {ratio:.2f}:1, want 4.5:1 or more")

    def t_dkim_confirm_responsive(self):
        """The confirmation mail's HTML at 375 px in headless Chromium: no
        horizontal scrolling, the button and the link inside the screen;
        a screenshot in the test output."""
        import cdp  # noqa: PLC0415  (only this test needs it)
        import email
        import email.policy
        if not cdp.find_chromium():
            raise Skip("no chromium (Debian package chromium)")
        d = self.testdir("confirm-375")
        conf = self.job_conf(d, transport="maildir")
        self.confirmation_mail(d, conf, "a.rather.long.address.of.a.reader@subdomain.example.net")
        raws = self.maildir_messages(d)
        check(len(raws) == 1, f"{len(raws)} messages, want the confirmation mail")
        msg = email.message_from_bytes(raws[0], policy=email.policy.default)
        html = msg.get_body(("html",)).get_content()
        os.makedirs(os.path.join(self.www, "confirm-375"), exist_ok=True)
        with open(os.path.join(self.www, "confirm-375", "confirm.html"), "w", encoding="utf-8") as f:
            f.write(html)
        shot = os.path.join(d, "confirm-375.png")
        with cdp.Browser(d, width=375, height=700) as b:
            page = b.new_page()
            st = page.navigate(self.root + "confirm-375/confirm.html")
            check(st == 200, f"the browser got {st}")
            sw = page.eval("document.documentElement.scrollWidth")
            check(sw <= 375, f"the page is {sw} px wide at 375 px: it scrolls sideways")
            for sel in ("a[href*='confirm']", "td.pad"):
                right = page.eval(f"Math.max(...[...document.querySelectorAll({json.dumps(sel)})]"
                                  ".map(e => e.getBoundingClientRect().right))")
                check(right <= 375, f"{sel} reaches {right} px, past the 375 px screen")
            page.screenshot(shot)
        ok, why = cdp.check_png(shot)
        check(ok, f"screenshot {why}")
        print(f"# screenshot {shot}", flush=True)

    # ------------------------------------------------------------ check-config before the first send
    def t_check_config_production(self):
        """With transport smtp, check-config warns (exit 0, FILE:LINE) about
        an http/loopback/example base_url, a localhost From and list_id, a
        helo that is no FQDN, a DKIM domain not aligned with From; it fails
        (78, FILE:LINE) on an unreadable password_file, a secret_file that
        cannot be created, an unreadable templates directory."""
        d = self.testdir("check-prod")
        key = os.path.join(d, "k.pem")
        r = self.digest("dkim-keygen", "k", "--type", "ed25519", "-o", key)
        check(r.code == 0, f"dkim-keygen: {short(r.err)}")
        text = f"""newsletter = {{
  from = "Daily <digest@localhost>";
  base_url = "http://127.0.0.1:8080/digest";
  list_id = "daily.localhost";
}};
delivery = {{ transport = "smtp";
  smtp = {{ host = "127.0.0.1"; port = 2525; security = "none";
           helo = "mailhost"; }};
}};
dkim = {{ domain = "other.example.net"; keys = ( {{ selector = "k"; key_file = "{key}"; }} ); }};
"""
        conf = self.conf(d, text=text)
        r = self.digest("check-config", conf=conf)
        check(r.code == 0, f"check-config: exit {r.code}, want 0 (warnings only): {short(r.err)}")
        want = [(3, "newsletter.base_url", "is not https"), (3, "newsletter.base_url", "points at this machine"),
                (2, "newsletter.from", "localhost"), (4, "newsletter.list_id", "localhost"),
                (8, "delivery.smtp.helo", "not a fully qualified"), (10, "dkim.domain", "not aligned")]
        for line, key_, what in want:
            hit = [ln for ln in r.err_lines if f"digest.conf:{line}: {key_}:" in ln and what in ln
                   and "warning" in ln]
            check(hit, f"no warning 'digest.conf:{line}: {key_}: ...{what}...': {short(r.err, 1200)}")
        # a production-like config: no warning at all
        good = text.replace('"Daily <digest@localhost>"', '"Daily <digest@news.example.org>"') \
            .replace('"http://127.0.0.1:8080/digest"', '"https://news.vpk-daily.ru/digest"') \
            .replace('"daily.localhost"', '"daily.news.example.org"').replace('"mailhost"', '"mail.example.org"') \
            .replace('"other.example.net"', '"example.org"')
        conf = self.conf(d, text=good)
        r = self.digest("check-config", conf=conf)
        check(r.code == 0 and not [ln for ln in r.err_lines if "warning" in ln and "sources" not in ln],
              f"check-config on a production-like config: exit {r.code}: {short(r.err)}")
        # alignment is by registered domain (the Public Suffix List): a d= of
        # another subdomain of it aligns; one under another owner of a
        # public suffix (co.uk) does not
        for from_, dkim_d, warned in (("news.example.org", "mail.example.org", False),
                                      ("example.org", "news.example.org", False),
                                      ("news.example.co.uk", "example.co.uk", False),
                                      ("example.co.uk", "other.co.uk", True),
                                      ("example.org", "example.org.evil.test", True)):
            conf = self.conf(d, text=good.replace("digest@news.example.org", f"digest@{from_}")
                             .replace('domain = "example.org"', f'domain = "{dkim_d}"'))
            r = self.digest("check-config", conf=conf)
            hit = [ln for ln in r.err_lines if "dkim.domain" in ln and "not aligned" in ln]
            check(r.code == 0 and bool(hit) == warned,
                  f"From {from_}, d={dkim_d}: exit {r.code}, want {'a' if warned else 'no'} alignment warning: "
                  f"{short(r.err)}")
        # an example.* base_url is a warning too, and so is no dkim block
        conf = self.conf(d, text=good.replace("https://news.vpk-daily.ru", "https://news.example.com")
                         .split("dkim = ")[0])
        r = self.digest("check-config", conf=conf)
        check(r.code == 0 and "reserved example domain" in r.err and "no dkim block" in r.err,
              f"check-config: example.com base_url, no dkim: {short(r.err)}")
        # errors: 78, naming the line
        with open(os.path.join(d, "a-file"), "w") as f:   # no directory can be made under a file, even by root
            f.write("x\n")
        errors = [
            ("password", good.replace('helo = "mail.example.org";',
                                      'helo = "mail.example.org";\n username = "u"; password_file = "nope.txt";'),
             "digest.conf:9: delivery.smtp.password_file:", "nope.txt"),
            ("secret", good.replace('list_id = "daily.news.example.org";',
                                    'list_id = "daily.news.example.org";\n  secret_file = "a-file/var/secret";'),
             "digest.conf:5: newsletter.secret_file:", "cannot be created"),
            ("templates", good + 'templates = { dir = "no-such-dir"; };\n', "no-such-dir", ""),
            ("key", good.replace(key, os.path.join(d, "missing.pem")), "dkim.keys.[0].key_file:",
             "cannot read the DKIM key"),
        ]
        for label, t, where, what in errors:
            conf = self.conf(d, text=t)
            r = self.digest("check-config", conf=conf)
            check(r.code == 78, f"{label}: check-config: exit {r.code}, want 78: {short(r.err)}")
            check([ln for ln in r.err_lines if where in ln and what in ln],
                  f"{label}: no line naming '{where}' ... '{what}': {short(r.err)}")

    def t_check_config_connect(self):
        """check-config --connect: connects, says what the server offers, logs
        in, sends nothing; a refused login exits 77, no server 75; over
        STARTTLS the certificate is verified (ca_file), and refused (69)
        when not trusted."""
        d = self.testdir("check-connect")
        user, pw = "digestuser", "S3cr3t-pa55"
        with open(os.path.join(d, "pw"), "w") as f:
            f.write(pw + "\n")
        with self.smtpd(d, "--auth", f"{user}:{pw}") as srv:
            conf = self.job_conf(d, srv.port, smtp=f'username = "{user}"; password_file = "pw";')
            self.add_subscribers(d, conf, n=1)
            r = self.digest("check-config", "--connect", conf=conf)
            check(r.code == 0, f"check-config --connect: exit {r.code}: {short(r.err)}")
            line = [ln for ln in r.out.splitlines() if "connected" in ln]
            check(line and f"127.0.0.1:{srv.port}" in line[0] and "login accepted" in line[0]
                  and "unencrypted" in line[0] and "nothing sent" in line[0],
                  f"check-config --connect said: {r.out!r}")
            check(pw not in r.out + r.err, "the password was shown")
            with open(os.path.join(d, "pw"), "w") as f:
                f.write("wrong\n")
            r = self.digest("check-config", "--connect", conf=conf)
            check(r.code == 77, f"check-config --connect with a wrong password: exit {r.code}, want 77: "
                  f"{short(r.err)}")
            check(srv.count() == 0, f"check-config --connect delivered {srv.count()} messages")
        r = self.digest("check-config", "--connect", conf=conf)
        check(r.code == 75, f"check-config --connect with no server: exit {r.code}, want 75: {short(r.err)}")
        # STARTTLS: the certificate verified against ca_file, or refused (69)
        crt, key = self.cert(d)
        with self.smtpd(d, "--starttls", crt, key, "--auth", f"{user}:{pw}", name="smtpd-tls") as srv:
            with open(os.path.join(d, "pw"), "w") as f:
                f.write(pw + "\n")
            d2 = os.path.join(d, "tls")
            os.makedirs(d2)
            shutil.copy(os.path.join(d, "pw"), os.path.join(d2, "pw"))
            conf = self.job_conf(d2, srv.port, smtp=f'security = "starttls"; ca_file = "{crt}"; '
                                                    f'username = "{user}"; password_file = "pw";')
            r = self.digest("check-config", "--connect", conf=conf)
            check(r.code == 0, f"check-config --connect over STARTTLS: exit {r.code}: {short(r.err)}")
            line = [ln for ln in r.out.splitlines() if "connected" in ln]
            check(line and re.search(r"TLS1\.[23]", line[0]) and "certificate verified" in line[0]
                  and "login accepted" in line[0], f"check-config --connect over STARTTLS said: {r.out!r}")
            d3 = os.path.join(d, "tls-untrusted")
            os.makedirs(d3)
            shutil.copy(os.path.join(d, "pw"), os.path.join(d3, "pw"))
            conf = self.job_conf(d3, srv.port, smtp=f'security = "starttls"; username = "{user}"; '
                                                    'password_file = "pw";')
            r = self.digest("check-config", "--connect", conf=conf)
            check(r.code == 69, f"check-config --connect, a certificate not trusted: exit {r.code}, want 69: "
                  f"{short(r.err)}")
            check(srv.count() == 0, f"check-config --connect delivered {srv.count()} messages")

    # ------------------------------------------------------------ a real relay
    def postfix(self, d, port, relay_port):
        """A Postfix of its own (its own configuration, queue and log under
        D, which the postfix user must be able to enter; nothing of the
        machine's touched) listening on
        127.0.0.1:PORT and relaying everything to 127.0.0.1:RELAY_PORT; its
        master process (run with -d, in the foreground) is returned."""
        master = "/usr/lib/postfix/sbin/master"
        if not os.access(master, os.X_OK):
            raise Skip("no Postfix (/usr/lib/postfix/sbin/master; Debian postfix, `make deps`)")
        if os.geteuid() != 0:
            raise Skip("a Postfix of the test's own needs root")
        import grp
        import pwd
        try:
            pf_uid, pd_gid = pwd.getpwnam("postfix").pw_uid, grp.getgrnam("postdrop").gr_gid
        except KeyError:
            raise Skip("no postfix user or postdrop group")
        top = d
        conf, queue, data = (os.path.join(top, x) for x in ("conf", "queue", "data"))
        for x in (conf, queue, data, os.path.join(queue, "pid")):
            os.makedirs(x)
        for x in ("incoming", "active", "deferred", "defer", "bounce", "flush", "hold", "corrupt", "trace",
                  "saved", "private", "public", "maildrop"):
            p = os.path.join(queue, x)
            os.makedirs(p)
            os.chown(p, pf_uid, pd_gid if x in ("public", "maildrop") else -1)
            os.chmod(p, {"public": 0o710, "maildrop": 0o730}.get(x, 0o700))
        os.chown(data, pf_uid, -1)
        for x in (top, queue):
            os.chmod(x, 0o755)   # the postfix user walks down to its queue
        with open(os.path.join(conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
mail_owner = postfix
setgid_group = postdrop
myhostname = relay.digest.test
mydomain = digest.test
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject
relayhost = [127.0.0.1]:{relay_port}
alias_maps =
alias_database =
maillog_file = {top}/maillog
maillog_file_prefixes = {top}
smtp_dns_support_level = disabled
disable_dns_lookups = yes
smtpd_peername_lookup = no
smtp_tls_security_level = none
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
biff = no
""")
        services = ["pickup unix n - n 60 1 pickup", "cleanup unix n - n - 0 cleanup",
                    "qmgr unix n - n 300 1 qmgr", "rewrite unix - - n - - trivial-rewrite",
                    "bounce unix - - n - 0 bounce", "defer unix - - n - 0 bounce", "trace unix - - n - 0 bounce",
                    "verify unix - - n - 1 verify", "flush unix n - n 1000? 0 flush",
                    "proxymap unix - - n - - proxymap", "smtp unix - - n - - smtp", "relay unix - - n - - smtp",
                    "showq unix n - n - - showq", "error unix - - n - - error", "retry unix - - n - - error",
                    "discard unix - - n - - discard", "anvil unix - - n - 1 anvil",
                    "scache unix - - n - 1 scache", "postlog unix-dgram n - n - 1 postlogd"]
        with open(os.path.join(conf, "master.cf"), "w") as f:
            f.write(f"127.0.0.1:{port} inet n - n - - smtpd\n" + "\n".join(services) + "\n")
        err = open(os.path.join(top, "master.stderr"), "wb")
        p = subprocess.Popen([master, "-d", "-c", conf], stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                             start_new_session=True)
        err.close()
        deadline = time.monotonic() + 10
        import socket
        while time.monotonic() < deadline:
            if p.poll() is not None:
                log = os.path.join(top, "maillog")
                said = open(log, errors="replace").read() if os.path.exists(log) else ""
                raise Fail(f"Postfix's master exited {p.returncode}: {short(said)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    return p
            except OSError:
                time.sleep(0.05)
        self.stop_postfix(p)
        raise Fail(f"Postfix does not listen on 127.0.0.1:{port}")

    @staticmethod
    def stop_postfix(p):
        if p.poll() is None:
            p.terminate()   # master -d: SIGTERM stops it and its children
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, 9)
                p.wait()

    def t_dkim_through_postfix(self):
        """A relay that rewrites nothing breaks nothing: digest and
        confirmation mails sent through a real Postfix (which adds its
        Received field) to smtpd.py still verify with dkimpy and OpenDKIM."""
        self.need_dkimpy()
        from job_tests import free_port  # noqa: PLC0415
        d = self.testdir("dkim-postfix")
        keys = self.dkim_keys(d)
        import tempfile  # noqa: PLC0415
        # outside the suite's directory, which only root may enter
        pfdir = tempfile.mkdtemp(prefix="digest-postfix-")
        with self.smtpd(d) as srv:
            port = free_port()
            try:
                pf = self.postfix(pfdir, port, srv.port)
            except BaseException:
                shutil.rmtree(pfdir, ignore_errors=True)
                raise
            try:
                conf = self.dkim_conf(d, keys, port=port)
                self.add_subscribers(d, conf, n=2)
                self.run_job(conf)
                self.confirmation_mail(d, conf, "new.reader@example.net")
                deadline = time.monotonic() + 20
                while srv.count() < 3 and time.monotonic() < deadline:
                    time.sleep(0.1)
            finally:
                self.stop_postfix(pf)
                shutil.rmtree(pfdir, ignore_errors=True)
            got = [(f"pf{i}", raw) for i, (_, _, raw) in enumerate(srv.messages())]
        check(len(got) == 3, f"smtpd.py received {len(got)} messages through Postfix, want 3")
        for name, raw in got:
            check(raw.startswith(b"Received: from ") and b"relay.digest.test (Postfix)" in raw[:400],
                  f"{name}: not relayed by the test's Postfix: {raw[:200]!r}")
        why = self.verify_all(d, got, keys, tampered=False)
        if why:
            raise Skip(f"dkimpy verified all; OpenDKIM not run: {why}")
