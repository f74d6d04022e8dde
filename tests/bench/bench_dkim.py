#!/usr/bin/python3
"""What DKIM signing costs: digest run to smtp-sink and render_message alone
(build/bench/personalize) without DKIM, with an Ed25519 key and with an
RSA-2048 key, side by side, and one signature alone (build/bench/dkim_sign)
as the floor of what signing can add to a message.

usage: bench_dkim.py [--quick] [--runs N] [--keep]   (other bench.py options are ignored)

Each of the --runs rounds (default 3) runs every case once, one after
the other, so that each round's ratios compare runs made under the same
load (the machine may be shared); the targets are judged on the median of
the rounds' ratios.

Reuses tests/bench/bench.py's setup (smtp-sink, the sample site, a
prepared database) without changing it. Targets (issue "Land in the
inbox"): Ed25519's rate at least 0.8x the rate without DKIM; RSA's CPU per
message within 1.2x of (CPU without DKIM + one RSA signature)."""

import argparse
import copy
import os
import re
import signal
import subprocess
import sys

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench as B  # noqa: E402

DKIM_SIGN = os.path.join(B.REPO, "build", "bench", "dkim_sign")


class DkimBench(B.Bench):
    def keys(self):
        d = os.path.join(self.tmp, "keys")
        os.makedirs(d, exist_ok=True)
        out = {}
        for typ in ("ed25519", "rsa"):
            path = os.path.join(d, f"{typ}.pem")
            B.check_run("digest dkim-keygen", [B.DIGEST, "dkim-keygen", typ, "--type", typ, "-o", path])
            out[typ] = path
        return out

    def variant(self, d, conf, name, key):
        """D/digest-NAME.conf: CONF with a dkim block of KEY (none: as is)."""
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        if key:
            text += f'\ndkim = {{ domain = "example.org"; keys = ( {{ selector = "{name}"; key_file = "{key}"; }} ); }};\n'
        path = os.path.join(d, f"digest-{name}.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    def floor(self, key, count):
        us = []
        for _ in range(self.opts.runs):
            out = B.check_run("dkim_sign", [DKIM_SIGN, key, str(count)])
            m = re.search(r"([\d.]+) us/signature", out)
            if not m:
                raise B.BenchError(f"dkim_sign: unexpected output {out.strip()!r}")
            us.append(float(m.group(1)))
            print(f"  {out.strip()}", flush=True)
        return B.median(us)

    def run(self):
        n = 2000 if self.opts.quick else 10000
        readers = 2000 if self.opts.quick else 10000
        B.machine_info()
        self.start_sink()
        self.start_sample_site()
        d, conf = self.prepare_case(n)
        keys = self.keys()
        cases = [("none", None), ("ed25519", keys["ed25519"]), ("rsa", keys["rsa"])]
        confs = {name: self.variant(d, conf, name, key) for name, key in cases}
        # Side by side: each round runs every case once, one after the
        # other (the first case changing from round to round), so that the
        # ratios compare runs made under the same load on a shared
        # machine; the targets are judged on the median of each round's
        # ratios.
        rounds, saved = self.opts.runs, self.opts
        self.opts = copy.copy(saved)
        self.opts.runs = 1
        res = {name: dict(rate=[], cpu=[], pers=[], floor=[], problems=[]) for name, _ in cases}
        ratios = dict(ed=[], rsa=[])
        size = 0
        try:
            for i in range(rounds):
                for name, key in cases[i % 3:] + cases[:i % 3]:
                    print(f"\n== round {i + 1} of {rounds}: {name}: digest run to {n} subscribers over SMTP "
                          f"(smtp-sink), render_message for {readers} readers (personalize)"
                          f"{', one signature alone (dkim_sign)' if key else ''}", flush=True)
                    run = self.digest_run(n, d, confs[name])
                    pers, size = self.personalize(confs[name], d, readers)
                    r = res[name]
                    r["rate"].append(run["rate"])
                    r["cpu"].append(run["cpu_us"])
                    r["pers"].append(pers)
                    r["problems"] += run["problems"]
                    if key:
                        r["floor"].append(self.floor(key, 500 if name == "rsa" else 5000))
                base, ed, rsa = res["none"], res["ed25519"], res["rsa"]
                ratios["ed"].append(ed["rate"][-1] / base["rate"][-1] if base["rate"][-1] else float("nan"))
                ratios["rsa"].append(rsa["cpu"][-1] / (base["cpu"][-1] + rsa["floor"][-1]))
                print(f"== round {i + 1}: Ed25519 rate {ratios['ed'][-1]:.2f}x without DKIM; RSA CPU/msg "
                      f"{ratios['rsa'][-1]:.2f}x (unsigned CPU + one signature)", flush=True)
        finally:
            self.opts = saved
        med = {name: {k: (B.median(v) if k != "problems" and v else v) for k, v in r.items()}
               for name, r in res.items()}
        base = med["none"]
        print(f"\n== DKIM, side by side ({n} subscribers, {B.CONNECTIONS} connections; {rounds} round"
              f"{'s' if rounds > 1 else ''}, medians; message {size} bytes)")
        print(f"{'':10} {'msg/s':>8} {'x none':>7} {'CPU us/msg':>11} {'render us/msg':>14} "
              f"{'1 signature us':>15} {'CPU / (none + sig)':>19}")
        for name, _ in cases:
            r = med[name]
            ratio = B.median(ratios["ed"]) if name == "ed25519" else r["rate"] / base["rate"] if base["rate"] else 1
            fl_s = f"{r['floor']:.0f}" if r["floor"] else "-"
            bound = f"{B.median(ratios['rsa']):.2f}x" if name == "rsa" else \
                f"{r['cpu'] / (base['cpu'] + r['floor']):.2f}x" if r["floor"] else ""
            print(f"{name:10} {r['rate']:8.0f} {ratio:6.2f}x {r['cpu']:11.0f} {r['pers']:14.1f} "
                  f"{fl_s:>15} {bound:>19}")
        t1 = B.median(ratios["ed"]) >= 0.8
        t2 = B.median(ratios["rsa"]) <= 1.2
        print("(x none and CPU / (none + sig) of ed25519 and rsa: the median of the rounds' own ratios: "
              + "; ".join(f"round {i + 1} {e:.2f}x, {r:.2f}x" for i, (e, r) in
                          enumerate(zip(ratios["ed"], ratios["rsa"]))) + ")")
        print(f"target: Ed25519 rate >= 0.8x without DKIM: {B.median(ratios['ed']):.2f}x "
              f"{'met' if t1 else 'NOT MET'}")
        print(f"target: RSA CPU/msg <= 1.2x (unsigned CPU + one signature): "
              f"{B.median(ratios['rsa']):.2f}x {'met' if t2 else 'NOT MET'}")
        for name, _ in cases:
            for p in res[name]["problems"]:
                print(f"WARNING: {name}: {p}")
        return 0 if t1 and t2 else 2


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", action="store_true")
    opts, _ = ap.parse_known_args()
    if opts.runs is None:
        opts.runs = 1 if opts.quick else 3
    os.chdir(B.REPO)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bench = None
    try:
        B.require_tools()
        if not os.access(DKIM_SIGN, os.X_OK):
            raise B.BenchError(f"{DKIM_SIGN} is missing: make build/bench/dkim_sign")
        bench = DkimBench(opts)
        return bench.run()
    except B.BenchError as e:
        print(f"bench_dkim: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench_dkim: interrupted", file=sys.stderr)
        return 130
    finally:
        if bench:
            bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
