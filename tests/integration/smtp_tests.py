"""Integration tests of digest against SMTP servers that misbehave
(tests/integration/hostile_smtpd.py): a reply line without end, a reply
without end, a server that trickles, one slow to answer the final dot, one
that answers out of order or twice. A mixin of run.py's Suite."""

import json
import os
import signal
import subprocess
import time
import urllib.parse
import urllib.request

import __main__

if hasattr(__main__, "Fail") and hasattr(__main__, "check"):  # run.py run as a script
    from __main__ import DIGEST, Fail, Skip, check
else:  # run.py imported as the module `run`
    from run import DIGEST, Fail, Skip, check

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE = os.path.join(HERE, "hostile_smtpd.py")
MB = 1024 * 1024


def short(s, n=400):
    s = " | ".join(ln for ln in s.splitlines() if ln.strip())
    return s if len(s) <= n else s[:n] + "..."


class Hostile:
    """hostile_smtpd.py MODE on a free port of 127.0.0.1, its log under D."""

    def __init__(self, d, mode, *args):
        self.out = os.path.join(d, f"hostile-{mode}")
        portfile = os.path.join(d, f"hostile-{mode}.port")
        self.proc = subprocess.Popen(["/usr/bin/python3", HOSTILE, mode, "--portfile", portfile,
                                      "--out", self.out, "--die-with-parent", *args],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 15
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            if os.path.exists(portfile):
                with open(portfile) as f:
                    text = f.read().strip()
                if text.isdigit():
                    self.port = int(text)
                    break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.port is None:
            self.stop()
            raise Fail(f"hostile_smtpd.py {mode} did not start")

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def log(self):
        path = os.path.join(self.out, "log.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(ln) for ln in f if ln.strip()]

    def closed(self, timeout=10):
        """The "closed" entries, waiting up to TIMEOUT s for the first."""
        deadline = time.monotonic() + timeout
        while True:
            c = [e for e in self.log() if e["event"] == "closed"]
            if c or time.monotonic() > deadline:
                return c
            time.sleep(0.1)

    def rcpt_counts(self):
        counts = {}
        for e in self.log():
            if e["event"] == "message":
                counts[e["rcpt"]] = counts.get(e["rcpt"], 0) + 1
        return counts


def peak_rss_mb(pid):
    """VmHWM of PID (its peak resident size), in MB, or None."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for ln in f:
                if ln.startswith("VmHWM:"):
                    return int(ln.split()[1]) / 1024
    except OSError:
        return None
    return None


class SmtpTests:
    def hostile(self, d, mode, *args):
        if not os.path.exists("/usr/bin/python3"):
            raise Skip("no /usr/bin/python3")
        return Hostile(d, mode, *args)

    def hostile_run(self, name, mode, smtp="", n=2, args=(), timeout=60):
        """A run of N readers against hostile_smtpd.py MODE, watched for its
        peak memory: (result, server, peak RSS MB, subscribers, dir, conf)."""
        d = self.testdir(name)
        srv = self.hostile(d, mode, *args)
        try:
            conf = self.job_conf(d, srv.port, smtp=smtp)
            subs = self.add_subscribers(d, conf, n=n)
            t0 = time.monotonic()
            p = self.popen_digest(conf, "run")
            peak = 0
            while p.poll() is None and time.monotonic() - t0 < timeout:
                rss = peak_rss_mb(p.pid)
                peak = max(peak, rss or 0)
                if peak > 1024:  # the machine's memory is not the test's to take
                    p.kill()
                    p.wait()
                    raise Fail(f"{mode}: the run grew to {peak:.0f} MB; killed")
                time.sleep(0.05)
            if p.poll() is None:
                p.kill()
                p.wait()
                raise Fail(f"{mode}: the run still goes after {timeout} s (peak RSS {peak:.0f} MB)")
            out, err = p.communicate()
            elapsed = time.monotonic() - t0

            class R:
                pass
            r = R()
            r.code, r.out, r.err, r.elapsed = p.returncode, out.decode(errors="replace"), \
                err.decode(errors="replace"), elapsed
            r.err_lines = [ln for ln in r.err.splitlines() if ln.strip()]
            return r, srv, peak, subs, d, conf
        except BaseException:
            srv.stop()
            raise

    # ------------------------------------------------------------ bounded replies
    def t_smtp_endless_line(self):
        """EHLO answered with "250-" and bytes without end: the connection is
        dropped past 4 KiB, the delivery deferred, memory stays flat."""
        r, srv, peak, _, _, _ = self.hostile_run("smtp-endless", "endless-line", smtp="timeout = 5; retries = 1;")
        with srv:
            check(r.code == 75, f"exit {r.code}, want 75: {short(r.err)}")
            check("over 4096 bytes" in r.err, f"the error does not say the line was too long: {short(r.err)}")
            check(peak < 400, f"digest grew to {peak:.0f} MB reading one reply line")
            closed = srv.closed()
            check(closed, "the server never saw the connection close")
            check(all(e["sent"] < 64 * MB for e in closed),
                  f"the server wrote {max(e['sent'] for e in closed) / MB:.0f} MB before digest hung up")
            self.summary(r)

    def t_smtp_huge_reply(self):
        """A reply of short lines without end: dropped past 64 KiB."""
        r, srv, peak, _, _, _ = self.hostile_run("smtp-huge", "huge-reply", smtp="timeout = 5; retries = 1;")
        with srv:
            check(r.code == 75, f"exit {r.code}, want 75: {short(r.err)}")
            check("over 65536 bytes" in r.err, f"the error does not say the reply was too long: {short(r.err)}")
            check(peak < 400, f"digest grew to {peak:.0f} MB reading one reply")
            self.summary(r)

    def t_smtp_trickle(self):
        """A greeting at one byte every 0.3 s never trips a timeout on each
        read; the timeout bounds the whole reply."""
        r, srv, _, _, _, _ = self.hostile_run("smtp-trickle", "trickle", smtp="timeout = 2; retries = 1;",
                                              args=("--interval", "0.3"), timeout=45)
        with srv:
            check(r.code == 75, f"exit {r.code}, want 75: {short(r.err)}")
            check("timeout" in r.err, f"the error does not say it timed out: {short(r.err)}")
            # 2 connections, 2 tries each, 2 s each, with backoff: well
            # under the 40 s a trickled greeting of 40 bytes would take
            check(r.elapsed < 30, f"the run took {r.elapsed:.0f} s against a trickling server")
            self.summary(r)

    # ------------------------------------------------------------ the final dot
    def t_smtp_slow_dot(self):
        """The final dot answered after 3 s, with timeout = 1: data_timeout
        (600 s by default) waits for it; every reader gets one copy."""
        r, srv, _, subs, d, conf = self.hostile_run("smtp-slow-dot", "slow-dot", smtp="timeout = 1; retries = 2;",
                                                    args=("--delay", "3"))
        with srv:
            check(r.code == 0, f"exit {r.code}, want 0: {short(r.err)}")
            counts = srv.rcpt_counts()
            check(counts == {a: 1 for a in subs}, f"copies per reader {counts}, want one each")
            s = self.summary(r)
            check(s["sent"] == len(subs), f"summary {s}")
            r2 = self.run_job(conf)
            check(srv.rcpt_counts() == counts, f"a second run sent again: {srv.rcpt_counts()}")
            self.summary(r2)

    def t_smtp_dot_timeout(self):
        """The final dot answered after 3 s, with data_timeout = 1: each
        message may have been delivered, so it is not tried again in the run
        (one copy each, exit 75); the next run sends it once more."""
        r, srv, _, subs, d, conf = self.hostile_run("smtp-dot-timeout", "slow-dot",
                                                    smtp="timeout = 1; data_timeout = 1; retries = 3;",
                                                    args=("--delay", "3"))
        with srv:
            check(r.code == 75, f"exit {r.code}, want 75: {short(r.err)}")
            check("may have been delivered" in r.err, f"stderr does not say so: {short(r.err)}")
            counts = srv.rcpt_counts()
            check(counts == {a: 1 for a in subs}, f"copies per reader after one run {counts}, want one each "
                  "(retries = 3 must not repeat a message whose dot went out)")
            s = self.summary(r)
            check(s["deferred"] == len(subs), f"summary {s}")
            rows = {e: st for _, e, st, _ in self.journal(d)}
            check(set(rows.values()) == {"deferred"}, f"journal {rows}")
            self.run_job(conf, code=75)
            counts = srv.rcpt_counts()
            check(counts == {a: 2 for a in subs}, f"copies per reader after two runs {counts}, want two each")

    # ------------------------------------------------------------ out of step
    def t_smtp_out_of_order(self):
        """Pipelined MAIL, RCPT and DATA answered 354, 250, 250: the dialogue
        is lost, nothing is handed over, the delivery deferred."""
        r, srv, _, subs, d, _ = self.hostile_run("smtp-ooo", "out-of-order", smtp="retries = 1;")
        with srv:
            check(r.code == 75, f"exit {r.code}, want 75: {short(r.err)}")
            check(not srv.rcpt_counts(), f"messages stored: {srv.rcpt_counts()}")
            rows = {e: st for _, e, st, _ in self.journal(d)}
            check(rows and set(rows.values()) == {"deferred"}, f"journal {rows}")
            self.summary(r)

    def t_smtp_extra_reply(self):
        """Each final dot answered twice: the second answer must not pass for
        the next command's, so the connection is not used again."""
        r, srv, _, subs, _, _ = self.hostile_run("smtp-extra", "extra-reply", smtp="connections = 1;", n=3)
        with srv:
            check(r.code == 0, f"exit {r.code}, want 0: {short(r.err)}")
            counts = srv.rcpt_counts()
            check(counts == {a: 1 for a in subs}, f"copies per reader {counts}, want one each")
            conns = [e["conn"] for e in srv.log() if e["event"] == "message"]
            check(len(set(conns)) == len(conns), f"messages after a doubled reply on one connection: {conns}")

    # ------------------------------------------------------------ serve
    def t_smtp_serve_endless_line(self):
        """One anonymous POST /subscribe with the mail server answering
        EHLO without end: the confirmation mail's thread drops it past
        4 KiB; serve's memory stays flat and it goes on answering."""
        d = self.testdir("smtp-serve-endless")
        with self.hostile(d, "endless-line") as srv:
            conf = self.job_conf(d, srv.port, smtp="timeout = 5;")
            with self.serve(conf) as sv:
                url = f"http://127.0.0.1:{sv.port}"
                body = urllib.parse.urlencode({"email": "reader@example.net", "name": "R"}).encode()
                with urllib.request.urlopen(url + "/subscribe", data=body, timeout=10) as resp:
                    check(resp.status == 200, f"POST /subscribe: {resp.status}")
                peak = 0
                t0 = time.monotonic()
                while time.monotonic() - t0 < 4 and peak < 1024:
                    peak = max(peak, peak_rss_mb(sv.pid) or 0)
                    time.sleep(0.05)
                closed = srv.closed()
                check(closed, "the mail server never saw the connection close")
                check(all(e["sent"] < 64 * MB for e in closed),
                      f"the server wrote {max(e['sent'] for e in closed) / MB:.0f} MB before serve hung up")
                check(peak < 400, f"serve grew to {peak:.0f} MB")
                with urllib.request.urlopen(url + "/", timeout=10) as resp:
                    check(resp.status == 200, f"GET / afterwards: {resp.status}")
