#!/usr/bin/python3
"""The benchmark of digest (standard library only; `make bench` runs it).

usage: bench.py [--runs N] [--quick] [--keep] [--per-host N] [--profile]

Everything runs on 127.0.0.1: Postfix's smtp-sink as the mail server,
tests/integration/httpd.py serving a sample site from tests/fixtures/gen_site.py,
and tests/bench/slowsite.py (5 ms per answer) for the collection case.

  sending        `digest run` of one edition to 20 000 and 100 000 subscribers
                 (connections = 4, the journal on), against `smtp-source -d -s 4`
                 sending as many messages of the same size to the same sink;
                 and to 20 000 with delivery.journal_sync = "normal" (what the
                 journal's fsyncs cost; not a target)
  edition build  `digest run --dry-run`: collect, rank, render, send nothing
  collection     `digest collect` of 500 article pages (+ 10 listings) versus one
                 `curl` process fetching the same 510 URLs one after another
  personalize    build/bench/personalize: render_message for 200 000 readers

Every figure is the median of --runs runs (default 3); each run of a case
starts from a copy of the same prepared database (subscribers imported,
articles collected, edition not frozen, nobody sent yet). --quick uses
2 000 / 10 000 subscribers and one run, for development. --profile also runs
`digest run` to 2 000 subscribers under callgrind, perf and strace (those
installed) and prints the top functions and system calls. --keep keeps the temporary directory.
"""

import argparse
import csv
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIGEST = os.path.join(REPO, "digest")
PERSONALIZE = os.path.join(REPO, "build", "bench", "personalize")
RUSAGE = os.path.join(REPO, "build", "bench", "rusage")
GEN_SITE = os.path.join(REPO, "tests", "fixtures", "gen_site.py")
PORTAL_CONF = os.path.join(REPO, "tests", "fixtures", "portal.conf.in")
HTTPD = os.path.join(REPO, "tests", "integration", "httpd.py")
SLOWSITE = os.path.join(HERE, "slowsite.py")
TEMPLATES = os.path.join(REPO, "templates")
SMTP_SINK = "/usr/sbin/smtp-sink"
SMTP_SOURCE = "/usr/sbin/smtp-source"
PY = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable

CONNECTIONS = 4          # delivery.smtp.connections, and smtp-source -s
COLLECT_ARTICLES = 500   # article pages of the collection case
COLLECT_PER_PAGE = 50    # items per listing page: 10 listings
COLLECT_DELAY_MS = 5

SUMMARY = re.compile(r"edition (\S+): (\d+) articles?; (\d+) subscribers?: (\d+) sent, (\d+) deferred, "
                     r"(\d+) failed in ([\d.]+) s \((\d+) msg/s\)")
FIRST_NAMES = ["Иван", "Мария", "Алексей", "Ольга", "Дмитрий", "Наталья", "Сергей", "Елена"]
LAST_NAMES = ["Петров", "Смирнова", "Кузнецов", "Попова", "Васильев", "Соколова", "Михайлов", "Новикова"]


class BenchError(Exception):
    """A one-line reason to stop the benchmark."""


# ---------------------------------------------------------------- processes

class Services:
    """Background processes (servers), each stopped by its PID at the end."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, **kw):
        try:
            p = subprocess.Popen(argv, start_new_session=True, **kw)
        except OSError as e:
            raise BenchError(f"cannot start {name} ({argv[0]}): {e.strerror}")
        p.bench_name = name
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                try:
                    os.kill(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for p in reversed(self.procs):
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = []


# The digest (or other) child being measured right now, killed on Ctrl-C.
CURRENT = []


class Usage:
    """A child's own rusage, as build/bench/rusage wrote it."""

    def __init__(self, path):
        with open(path) as f:
            v = dict(kv.split("=") for kv in f.read().split())
        self.ru_utime, self.ru_stime = float(v["user"]), float(v["sys"])
        self.ru_maxrss = int(v["maxrss_kb"])  # KB, as getrusage(2) says


def run_measured(argv, stdout=subprocess.DEVNULL, stderr_path=None):
    """Run ARGV to its end under build/bench/rusage; return (exit code, wall s,
    Usage, stderr text). The usage is ARGV's own: CPU and peak RSS. (Not
    os.wait4 here: ru_maxrss survives execve, so any child of this Python
    process would report at least Python's own RSS; see rusage.c.)"""
    err = open(stderr_path, "w+b") if stderr_path else tempfile.TemporaryFile()
    fd, usage_path = tempfile.mkstemp(prefix="digest-bench-rusage-")
    os.close(fd)
    try:
        t0 = time.monotonic()
        p = subprocess.Popen([RUSAGE, usage_path, *argv], stdout=stdout, stderr=err)
        CURRENT.append(p)
        try:
            p.wait()
        finally:
            CURRENT.remove(p)
        wall = time.monotonic() - t0
        err.seek(0)
        text = err.read().decode("utf-8", "replace")
        try:
            usage = Usage(usage_path)
        except (OSError, ValueError, KeyError):
            raise BenchError(f"{argv[0]}: no resource usage from {RUSAGE} (exit {p.returncode}): "
                             f"{text.strip()[-200:]}")
        return p.returncode, wall, usage, text
    finally:
        err.close()
        os.unlink(usage_path)


def kill_current():
    """Stop the program being measured: build/bench/rusage passes SIGTERM on,
    and its child dies with it in any case (PR_SET_PDEATHSIG)."""
    for p in list(CURRENT):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def check_run(what, argv, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if r.returncode != 0:
        last = (r.stderr.decode("utf-8", "replace").strip().splitlines() or ["(no message)"])[-1]
        raise BenchError(f"{what} failed (exit {r.returncode}): {last}")
    return r.stdout.decode("utf-8", "replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"{name} exited at once (exit {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"{name} does not listen on 127.0.0.1:{port}")


def read_port(proc, name):
    line = proc.stdout.readline().decode().strip()
    if not line.isdigit():
        raise BenchError(f"{name} did not start (said {line!r})")
    return int(line)


def median(xs):
    return statistics.median(xs) if xs else float("nan")


# ------------------------------------------------------------------ machine

def machine_info():
    nproc = subprocess.run(["nproc"], stdout=subprocess.PIPE, text=True).stdout.strip()
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    u = os.uname()
    version = check_run("digest --version", [DIGEST, "--version"]).strip()
    print(f"cores:   os.cpu_count() = {os.cpu_count()}, nproc = {nproc}")
    print(f"cpu:     {model}")
    print(f"kernel:  {u.sysname} {u.release} {u.machine}")
    print(f"digest:  {version}")
    with open("/proc/loadavg") as f:
        load = f.read().split()
    print(f"load:    {' '.join(load[:3])} (1, 5, 15 min)")
    if float(load[0]) > 0.5:
        print("WARNING: the machine is busy: other work shares the cores and skews every figure")
    print(flush=True)


def require_tools():
    for path, hint in [(DIGEST, "run `make digest`"), (PERSONALIZE, "run `make build/bench/personalize`"),
                       (RUSAGE, "run `make build/bench/rusage`"),
                       (SMTP_SINK, "install postfix: `make test-deps`"), (SMTP_SOURCE, "install postfix: `make test-deps`")]:
        if not os.access(path, os.X_OK):
            raise BenchError(f"{path} is missing: {hint}")
    if not shutil.which("curl"):
        raise BenchError("curl is missing: apt-get install curl")


# -------------------------------------------------------------------- setup

class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.svc = Services()
        self.tmp = tempfile.mkdtemp(prefix="digest-bench-")
        self.sink_port = None
        self.sink = None
        self.site_base = None

    def start_sink(self):
        self.sink_port = free_port()
        argv = [SMTP_SINK]
        if os.geteuid() == 0:
            argv += ["-u", "nobody"]  # smtp-sink refuses to run as root without -u
        # -m: handle up to 64 sessions at once; backlog 1000.
        argv += ["-m", "64", f"127.0.0.1:{self.sink_port}", "1000"]
        errlog = open(os.path.join(self.tmp, "smtp-sink.log"), "wb")
        p = self.svc.start("smtp-sink", argv, stdout=subprocess.DEVNULL, stderr=errlog)
        errlog.close()
        self.sink = p
        wait_listening(self.sink_port, p, "smtp-sink")
        print(f"smtp-sink: pid {p.pid} on 127.0.0.1:{self.sink_port}")

    def start_sample_site(self):
        www = os.path.join(self.tmp, "www")
        os.makedirs(www)
        p = self.svc.start("httpd.py", [PY, HTTPD, www], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        port = read_port(p, "tests/integration/httpd.py")
        self.site_base = f"http://127.0.0.1:{port}/portal/"
        check_run("gen_site.py", [PY, GEN_SITE, os.path.join(www, "portal"), "--base", self.site_base])
        print(f"sample site: pid {p.pid}, {self.site_base}")

    def edition_conf(self, d):
        """A digest.conf in D for the sample site, delivering to smtp-sink."""
        with open(PORTAL_CONF, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("@BASE@", self.site_base).replace("@TEMPLATES@", TEMPLATES)
        delivery = ('delivery = { transport = "smtp"; smtp = { host = "127.0.0.1"; '
                    f'port = {self.sink_port}; security = "none"; connections = {CONNECTIONS}; '
                    'max_per_connection = 100000; rate_per_second = 0; retries = 3; }; };')
        text, n = re.subn(r"^delivery\s*=.*$", delivery, text, flags=re.M)
        if n != 1:
            raise BenchError(f"{PORTAL_CONF}: expected one single-line `delivery = ...`")
        conf = os.path.join(d, "digest.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(text)
        return conf

    def prepare_case(self, n):
        """A directory with digest.conf and prepared.db: N subscribers imported,
        the sample site collected, no edition frozen."""
        d = os.path.join(self.tmp, f"run-{n}")
        if os.path.exists(os.path.join(d, "prepared.db")):
            return d, os.path.join(d, "digest.conf")
        os.makedirs(d)
        conf = self.edition_conf(d)
        subs = os.path.join(d, "subscribers.csv")
        with open(subs, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["email", "name"])
            for i in range(n):
                if i % 2:
                    name = f"{FIRST_NAMES[i % 8]} {LAST_NAMES[(i // 8) % 8]}"
                else:
                    name = f"Reader {i}"
                w.writerow([f"reader{i}@example.org", name])
        check_run("digest subscribers import", [DIGEST, "-q", "-c", conf, "subscribers", "import", subs])
        check_run("digest collect", [DIGEST, "-q", "-c", conf, "collect"])
        os.makedirs(os.path.join(d, "var"), exist_ok=True)
        shutil.copyfile(os.path.join(d, "var", "digest.db"), os.path.join(d, "prepared.db"))
        return d, conf

    @staticmethod
    def normal_conf(d, conf):
        """CONF with delivery.journal_sync = "normal", beside it in D (the
        same database)."""
        with open(conf, encoding="utf-8") as f:
            text = f.read()
        text, n = re.subn(r'^delivery = \{ transport = "smtp";', 'delivery = { transport = "smtp"; '
                          'journal_sync = "normal";', text, flags=re.M)
        if n != 1:
            raise BenchError(f"{conf}: expected one `delivery = {{ transport = \"smtp\";`")
        path = os.path.join(d, "digest-normal.conf")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path

    @staticmethod
    def fresh_db(d):
        var = os.path.join(d, "var")
        for name in os.listdir(var):
            if name.startswith("digest.db"):
                os.unlink(os.path.join(var, name))
        shutil.copyfile(os.path.join(d, "prepared.db"), os.path.join(var, "digest.db"))

    def sink_cpu(self):
        """CPU seconds smtp-sink has used so far (it shares the cores)."""
        try:
            with open(f"/proc/{self.sink.pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    # ------------------------------------------------------------- cases
    def message_size(self, d, conf):
        self.fresh_db(d)
        eml = os.path.join(d, "one.eml")
        check_run("digest preview", [DIGEST, "-q", "-c", conf, "preview", "--no-fetch", "--format", "eml",
                                     "-o", eml])
        return os.path.getsize(eml)

    def smtp_source(self, count, size):
        argv = [SMTP_SOURCE, "-d", "-s", str(CONNECTIONS), "-m", str(count), "-l", str(size),
                f"127.0.0.1:{self.sink_port}"]
        rates, cpu_us, rss_mb = [], [], []
        for i in range(self.opts.runs):
            sink0 = self.sink_cpu()
            rc, wall, ru, err = run_measured(argv)
            sink_us = (self.sink_cpu() - sink0) * 1e6 / count
            if rc != 0:
                raise BenchError(f"smtp-source failed (exit {rc}): {err.strip()[-200:]}")
            rates.append(count / wall)
            cpu_us.append((ru.ru_utime + ru.ru_stime) * 1e6 / count)
            rss_mb.append(ru.ru_maxrss / 1024)
            print(f"  run {i + 1}: {count} messages in {wall:.2f} s = {count / wall:.0f} msg/s, "
                  f"{ru.ru_utime + ru.ru_stime:.2f} s CPU ({ru.ru_utime:.2f} user + {ru.ru_stime:.2f} sys); "
                  f"smtp-sink {sink_us:.0f} µs CPU/msg", flush=True)
        return dict(rate=median(rates), cpu_us=median(cpu_us), rss_mb=median(rss_mb))

    def digest_run(self, n, d, conf):
        res = dict(rate=[], wall=[], cpu_us=[], rss_mb=[], build=[], commits=[], problems=[])
        for i in range(self.opts.runs):
            self.fresh_db(d)
            rc, wall, ru, err = run_measured([DIGEST, "-c", conf, "run", "--dry-run"],
                                             stdout=subprocess.DEVNULL)
            if rc != 0:
                raise BenchError(f"digest run --dry-run ({n}) exited {rc}: {err.strip()[-300:]}")
            res["build"].append(wall)

            self.fresh_db(d)
            sink0 = self.sink_cpu()
            # -vv: the journal's count of commits (one debug line a run)
            rc, wall, ru, err = run_measured([DIGEST, "-vv", "-c", conf, "run"], stdout=subprocess.DEVNULL,
                                             stderr_path=os.path.join(d, f"run{i + 1}.err"))
            mc = re.search(r"journal: (\d+) commits for (\d+) messages", err)
            res["commits"].append(int(mc.group(1)) / max(int(mc.group(2)), 1) if mc else float("nan"))
            m = None
            for line in err.splitlines():
                m = SUMMARY.search(line) or m
            if not m:
                raise BenchError(f"digest run ({n}) exited {rc} without a summary line: "
                                 f"{err.strip()[-300:]}")
            sent, deferred, failed = int(m.group(4)), int(m.group(5)), int(m.group(6))
            send_s, rate = float(m.group(7)), int(m.group(8))
            if rc != 0 or sent != n or deferred or failed:
                res["problems"].append(f"run {i + 1}: exit {rc}, {sent} sent, {deferred} deferred, "
                                       f"{failed} failed of {n} (see the deliveries table for replies)")
                print(f"  WARNING: {res['problems'][-1]}", flush=True)
            cpu = ru.ru_utime + ru.ru_stime
            # The summary's rate is (sent + failed) / sending time, with the time
            # at full precision (the "in T s" shown is rounded): keep sent's share.
            rate = rate * sent / (sent + failed) if sent + failed else 0
            res["rate"].append(rate)
            res["wall"].append(wall)
            res["cpu_us"].append(cpu * 1e6 / max(sent, 1))
            res["rss_mb"].append(ru.ru_maxrss / 1024)
            sink_us = (self.sink_cpu() - sink0) * 1e6 / max(sent, 1)
            print(f"  run {i + 1}: {sent} sent in {send_s:.1f} s sending ({rate:.0f} msg/s), "
                  f"{wall:.2f} s wall, {cpu:.2f} s CPU ({ru.ru_utime:.2f} user + {ru.ru_stime:.2f} sys), "
                  f"{ru.ru_maxrss / 1024:.1f} MB peak RSS; {res['commits'][-1]:.2f} commits/msg; "
                  f"smtp-sink {sink_us:.0f} µs CPU/msg; "
                  f"dry run {res['build'][-1]:.2f} s", flush=True)
        return {k: (median(v) if k != "problems" else v) for k, v in res.items()}

    def fetch_limits(self):
        """The fetch keys of the collection case: digest's defaults unless
        --per-host says otherwise."""
        n = self.opts.per_host
        return f" parallel = {max(16, n)}; per_host = {n};" if n else ""

    def collection(self):
        d = os.path.join(self.tmp, "collect")
        os.makedirs(os.path.join(d, "var"))
        p = self.svc.start("slowsite.py", [PY, SLOWSITE, "--articles", str(COLLECT_ARTICLES),
                                           "--per-page", str(COLLECT_PER_PAGE),
                                           "--delay-ms", str(COLLECT_DELAY_MS)],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        port = read_port(p, "tests/bench/slowsite.py")
        base = f"http://127.0.0.1:{port}"
        npages = (COLLECT_ARTICLES + COLLECT_PER_PAGE - 1) // COLLECT_PER_PAGE
        conf = os.path.join(d, "digest.conf")
        with open(conf, "w", encoding="utf-8") as f:
            f.write(f"""# The collection benchmark: {COLLECT_ARTICLES} article pages behind {npages} listings.
newsletter = {{ name = "Bench"; from = "Bench <digest@example.org>";
  base_url = "http://127.0.0.1:8080/digest"; list_id = "bench.example.org";
  timezone = "Europe/Moscow"; locale = "ru"; }};
digest = {{ max_articles = 10; min_views = 0; window_hours = 24; }};
sources = ( {{
  name = "bench"; type = "html"; url = "{base}/list/1.html";
  next = "//a[@rel='next']/@href"; max_pages = {npages}; max_follow = {COLLECT_ARTICLES};
  item = "//div[@class='news-item']"; link = ".//a[@class='title']/@href"; title = ".//a[@class='title']";
  follow = true;
  article = {{ title = "//h1"; published = "//time/@datetime"; views = "//span[@class='views']";
    comments = "//span[@class='comments']"; rating = "//span[@class='rating']";
    summary = "//div[@class='text']/p[1]"; image = "//meta[@property='og:image']/@content"; }};
}} );
fetch = {{ timeout = 30; connect_timeout = 10;{self.fetch_limits()} }};
delivery = {{ transport = "maildir"; maildir = "var/outbox"; }};
storage = {{ database = "var/digest.db"; }};
""")
        with urllib.request.urlopen(f"{base}/urls.txt") as r:
            urls = r.read().decode().split()
        npages_total = len(urls)  # listings + articles, the same for digest and curl

        digest_s, curl_s = [], []
        for i in range(self.opts.runs):
            for name in os.listdir(os.path.join(d, "var")):
                if name.startswith("digest.db"):
                    os.unlink(os.path.join(d, "var", name))
            out = os.path.join(d, "collect.out")
            with open(out, "wb") as fo:
                rc, wall, _, err = run_measured([DIGEST, "-c", conf, "collect", "--all"], stdout=fo)
            with open(out, encoding="utf-8") as f:
                rows = [ln for ln in f.read().splitlines()[1:] if ln.strip()]
            # every article must have been opened: views come only from its page
            full = [ln for ln in rows if ln.split()[1] != "-"]
            if rc != 0 or len(full) != COLLECT_ARTICLES:
                raise BenchError(f"digest collect: exit {rc}, {len(full)} of {COLLECT_ARTICLES} articles "
                                 f"with views: {err.strip()[-300:]}")
            digest_s.append(wall)

            # The reference: one curl process, the same URLs one after another over
            # one kept-alive connection (num_connects per URL goes to stderr).
            rc, cwall, _, cerr = run_measured(["curl", "-sS", "--fail", "-w", "%{stderr}%{num_connects}\n",
                                               *urls])
            connects = sum(int(x) for x in cerr.split() if x.isdigit())
            if rc != 0:
                raise BenchError(f"curl failed (exit {rc}): {cerr.strip()[-200:]}")
            curl_s.append(cwall)
            print(f"  run {i + 1}: digest collect {wall:.2f} s, curl {cwall:.2f} s "
                  f"({len(urls)} URLs, {connects} connection{'s' if connects != 1 else ''})", flush=True)
        return npages_total, median(digest_s), median(curl_s)

    def personalize(self, conf, d, readers):
        us, size = [], 0
        self.fresh_db(d)
        for i in range(self.opts.runs):
            out = check_run("personalize", [PERSONALIZE, conf, str(readers)])
            m = re.search(r"(\d+) bytes each.*?([\d.]+) us/message", out)
            if not m:
                raise BenchError(f"personalize: unexpected output {out.strip()!r}")
            size = int(m.group(1))
            us.append(float(m.group(2)))
            print(f"  run {i + 1}: {out.strip()}", flush=True)
        return median(us), size

    # ------------------------------------------------------------ profile
    def profile(self, conf, d, n):
        """digest run to N subscribers under callgrind, perf and strace, each
        from a fresh database; prints the top costs of each."""
        print(f"\n== profile: digest run to {n} subscribers (tools that are missing are skipped)")
        run = [DIGEST, "-q", "-c", conf, "run"]

        out = os.path.join(d, "callgrind.out")
        if self.profile_step("callgrind", "valgrind", ["valgrind", "--tool=callgrind",
                                                       f"--callgrind-out-file={out}", *run], d):
            for inclusive in ("no", "yes"):
                ann = subprocess.run(["callgrind_annotate", f"--inclusive={inclusive}", out],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                     errors="replace").stdout
                print(f"callgrind, instructions {'inclusive' if inclusive == 'yes' else 'self'}:")
                self.print_top(ann, 20 if inclusive == "no" else 30)

        perf = shutil.which("perf") or "perf"
        data = os.path.join(d, "perf.data")
        if self.profile_step("perf", "perf", [perf, "record", "-q", "-e", "cpu-clock", "-F", "4000", "-g",
                                              "-o", data, "--", *run], d):
            def report(*args):
                return subprocess.run([perf, "report", "-i", data, "--stdio", "-g", "none", *args],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                      errors="replace").stdout
            pct = re.compile(r"^\s*\d+\.\d+%")
            print("perf (cpu-clock samples: on-CPU time of all threads), by object:")
            for line in [ln for ln in report("--no-children", "--sort", "dso").splitlines() if pct.match(ln)][:6]:
                print("  " + " ".join(line.split()))
            print("perf, top symbols (self):")
            for line in [ln for ln in report("--no-children", "--sort", "dso,sym").splitlines()
                         if pct.match(ln)][:15]:
                print("  " + " ".join(line.split()))
            print("perf, system calls (inclusive of the kernel work under them):")
            for line in [ln for ln in report("--children", "--sort", "sym").splitlines()
                         if pct.match(ln) and "__x64_sys_" in ln][:8]:
                print("  " + " ".join(line.split()))

        trace = os.path.join(d, "strace.txt")
        if self.profile_step("strace", "strace", ["strace", "-f", "-c", "-o", trace, *run], d):
            print(f"strace -f -c: system calls per message ({n} messages):")
            with open(trace) as f:
                rows = [ln.split() for ln in f if re.match(r"^\s*\d+\.\d+\s", ln)]
            for r in rows[:10]:
                calls, name = int(r[3]), r[-1]
                print(f"  {name:<14} {calls / n:7.2f} per message  ({r[0]}% of syscall time)")

    def profile_step(self, what, tool, argv, d):
        if not shutil.which(tool) and not os.access(argv[0], os.X_OK):
            print(f"{what}: {tool} is not installed; skipped")
            return False
        self.fresh_db(d)
        rc, wall, _, err = run_measured(argv)
        if rc != 0:
            last = (err.strip().splitlines() or ["(no message)"])[-1]
            print(f"{what}: cannot run here (exit {rc}): {last}")
            return False
        print(f"{what}: {wall:.1f} s")
        return True

    @staticmethod
    def print_top(ann, k):
        shown = 0
        for line in ann.splitlines():
            m = re.match(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)$", line)
            if not m or "PROGRAM TOTALS" in line or " [" not in m.group(3):
                continue  # (lines without an [object] repeat one with it)
            # "file:function [object]" -> "function [object]"
            where = re.sub(r"^\S*:(?=[^/\s]+ \[)", "", m.group(3))
            where = re.sub(r"\[/.*/", "[", where)
            print(f"  {float(m.group(2)):5.1f}%  {where[:110]}")
            shown += 1
            if shown >= k:
                break

    # -------------------------------------------------------------- main
    def run(self):
        o = self.opts
        sizes = [2000, 10000] if o.quick else [20000, 100000]
        ref_count = 2000 if o.quick else 20000
        readers = 20000 if o.quick else 200000

        machine_info()
        self.start_sink()
        self.start_sample_site()

        cases = {}
        for n in sizes:
            t0 = time.monotonic()
            cases[n] = self.prepare_case(n)
            print(f"prepared {n} subscribers in {time.monotonic() - t0:.1f} s (not timed)", flush=True)
        d0, conf0 = cases[sizes[0]]
        size = self.message_size(d0, conf0)
        print(f"one message: {size} bytes (digest preview --format eml)\n", flush=True)

        print(f"== reference: smtp-source -d -s {CONNECTIONS} -m {ref_count} -l {size}")
        ref = self.smtp_source(ref_count, size)

        results = {}
        for n in sizes:
            print(f"== digest run to {n} subscribers ({CONNECTIONS} connections)")
            results[n] = self.digest_run(n, *cases[n])
        # The same, its journal's commits handed to the OS rather than
        # synced to the disk: what the fsyncs cost (not a target).
        n0 = sizes[0]
        print(f"== digest run to {n0} subscribers, delivery.journal_sync = \"normal\"")
        normal = self.digest_run(n0, cases[n0][0], self.normal_conf(*cases[n0]))

        print(f"== collection: {COLLECT_ARTICLES} article pages, {COLLECT_DELAY_MS} ms per answer, "
              f"per_host = {o.per_host or 'default'}")
        npages, dig_s, curl_s = self.collection()

        print(f"== personalization: render_message for {readers} readers")
        pers_us, pers_size = self.personalize(conf0, d0, readers)

        if o.profile:
            d, conf = self.prepare_case(2000)
            self.profile(conf, d, 2000)

        # ------------------------------------------------------ the table
        print(f"\n== results (median of {o.runs} run{'s' if o.runs != 1 else ''}; message {size} bytes)\n")
        head = ["case", "msgs", "msg/s", "rate to smtp-source", "CPU µs/msg", "CPU to smtp-source",
                "peak RSS MB", "commits/msg", "edition build s", "run wall s"]
        rows = [[f"smtp-source -d -s {CONNECTIONS}", str(ref_count), f"{ref['rate']:.0f}", "1.00",
                 f"{ref['cpu_us']:.0f}", "1.00", f"{ref['rss_mb']:.1f}", "-", "-", "-"]]
        ref_cpu = ref["cpu_us"]
        ref = ref["rate"]
        for n in sizes:
            r = results[n]
            flag = " *" if r["problems"] else ""
            rows.append([f"digest run, {CONNECTIONS} connections{flag}", str(n), f"{r['rate']:.0f}",
                         f"{r['rate'] / ref:.2f}", f"{r['cpu_us']:.0f}", f"{r['cpu_us'] / ref_cpu:.2f}",
                         f"{r['rss_mb']:.1f}", f"{r['commits']:.2f}", f"{r['build']:.2f}", f"{r['wall']:.2f}"])
        rows.append([f"  journal_sync = \"normal\"", str(n0), f"{normal['rate']:.0f}", f"{normal['rate'] / ref:.2f}",
                     f"{normal['cpu_us']:.0f}", f"{normal['cpu_us'] / ref_cpu:.2f}", f"{normal['rss_mb']:.1f}",
                     f"{normal['commits']:.2f}", f"{normal['build']:.2f}", f"{normal['wall']:.2f}"])
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
        print(" | ".join(h.ljust(w) for h, w in zip(head, widths)))
        print("-+-".join("-" * w for w in widths))
        for row in rows:
            print(" | ".join((c.ljust(w) if i == 0 else c.rjust(w)) for i, (c, w) in enumerate(zip(row, widths))))
        print()
        coll_ratio = curl_s / dig_s
        print(f"collection: digest {npages / dig_s:.0f} pages/s ({dig_s:.2f} s), sequential curl "
              f"{npages / curl_s:.0f} pages/s ({curl_s:.2f} s), {npages} pages: digest {coll_ratio:.1f}x")
        print(f"personalization: {pers_us:.2f} µs CPU per message (render_message, {pers_size} bytes, "
              f"{readers} readers)")
        for n in sizes:
            for p in results[n]["problems"]:
                print(f"* WARNING: digest run to {n}: {p}: its figures are not valid")

        small, large = results[sizes[0]], results[sizes[-1]]
        worst = min(results[n]["rate"] / ref for n in sizes)
        worst_cpu = max(results[n]["cpu_us"] / ref_cpu for n in sizes)
        marks = [
            (worst >= 1.0, f"sending rate >= 1.0x smtp-source's (journal on): "
             + ", ".join(f"{n}: {results[n]['rate'] / ref:.2f}x" for n in sizes)),
            (worst_cpu <= 1.3, f"CPU per message <= 1.3x smtp-source's: "
             + ", ".join(f"{n}: {results[n]['cpu_us'] / ref_cpu:.2f}x "
                         f"({results[n]['cpu_us']:.0f} vs {ref_cpu:.0f} µs)" for n in sizes)),
            (large["rss_mb"] <= 1.3 * small["rss_mb"] and large["rss_mb"] < 40,
             f"RSS at {sizes[-1]} <= 1.3x RSS at {sizes[0]} and < 40 MB: {large['rss_mb']:.1f} MB vs "
             f"{small['rss_mb']:.1f} MB ({large['rss_mb'] / small['rss_mb']:.2f}x)"),
            (pers_us <= 5, f"personalization <= 5 µs CPU: {pers_us:.2f} µs"),
            (coll_ratio >= 5, f"collection >= 5x sequential curl: {coll_ratio:.1f}x"),
        ]
        print("\ntargets:")
        for ok, text in marks:
            print(f"  {'PASS' if ok else 'MISS'}  {text}")
        return 0

    def cleanup(self):
        # A second Ctrl-C (or SIGTERM) must not leave servers behind.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kill_current()
        self.svc.stop_all()
        if self.opts.keep:
            print(f"kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--runs", type=int, help="runs of every case; the median is shown (default 3, --quick 1)")
    ap.add_argument("--quick", action="store_true", help="2 000 / 10 000 subscribers, for development")
    ap.add_argument("--keep", action="store_true", help="keep the temporary directory")
    ap.add_argument("--per-host", type=int, default=None,
                    help="fetch.per_host of the collection case (default: digest's own default)")
    ap.add_argument("--profile", action="store_true", help="also profile a run with callgrind and perf")
    opts = ap.parse_args()
    if opts.runs is None:
        opts.runs = 1 if opts.quick else 3
    if opts.runs < 1:
        ap.error("--runs must be at least 1")

    os.chdir(REPO)
    # SIGTERM stops the benchmark as Ctrl-C does: everything started is stopped.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    bench = None
    try:
        require_tools()
        bench = Bench(opts)
        return bench.run()
    except BenchError as e:
        print(f"bench: {e}", file=sys.stderr)
        return 1
    except OSError as e:  # a program that cannot be started (e.g. ./digest being relinked)
        print(f"bench: {e.filename or ''}: {e.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        if bench:
            bench.cleanup()


if __name__ == "__main__":
    sys.exit(main())
