#!/usr/bin/python3
"""A small Chromium DevTools Protocol client (standard library only).

Chromium is started headless with --remote-debugging-pipe: it reads CDP
messages (JSON, each ended by a NUL byte) from its fd 3 and writes replies
and events to its fd 4. One reader thread splits what arrives into replies
(matched to the waiting command by id) and events (kept in order, so that a
test can wait for "the first load event after I clicked").

    with Browser(outdir) as b:          # raises Skip when there is no chromium
        page = b.new_page()
        page.navigate("http://127.0.0.1:8080/")
        page.type("input[name=email]", "a@example.net")
        page.click_and_wait("button[type=submit]")   # a real mouse click
        page.text()                                  # document.body.innerText
        page.screenshot("/tmp/x.png")
        page.problems()     # console errors, exceptions, CSP violations

Every wait has a time limit; if chromium dies, whatever waits on it raises
CDPError at once. close() (also on leaving the `with`) sends Browser.close,
waits for the process and kills its process group if it lingers, and removes
the temporary profile.

Run as a script, it tests itself against a small local HTTP server:
    /usr/bin/python3 tests/integration/cdp.py [--out DIR] [--headless-mode new]
"""

import base64
import fcntl
import json
import os
import shutil
import signal
import tempfile
import threading
import time

import __main__

# The suite's Skip when run.py runs us (as a script or as the module `run`).
Skip = getattr(__main__, "Skip", None)
if Skip is None:
    import sys as _sys
    Skip = getattr(_sys.modules.get("run"), "Skip", None)
if Skip is None:
    class Skip(Exception):  # noqa: N818  (the suite's name)
        pass

CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome",
              "/usr/lib/chromium/chromium")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class CDPError(Exception):
    """A command failed, timed out, or chromium went away."""


def find_chromium():
    exe = os.environ.get("CHROMIUM")
    if exe:
        return exe if os.access(exe, os.X_OK) else None
    for c in CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _high_fd(fd):
    """A close-on-exec copy of FD numbered 10 or above (so that dup2 onto 3
    and 4 in the child never clobbers one of the two pipe ends); closes FD."""
    new = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return new


class Browser:
    def __init__(self, outdir=None, timeout=20.0, headless="--headless", width=1000, height=800,
                 extra_args=()):
        self.exe = find_chromium()
        if not self.exe:
            raise Skip("no chromium (Debian package chromium; or set $CHROMIUM)")
        self.timeout = timeout
        self.headless = headless
        self.size = (width, height)
        self.extra = list(extra_args)
        self.outdir = outdir
        self.pid = None
        self.profile = None
        self.log_path = None
        self._wfd = self._rfd = None
        self._next_id = 0
        self._lock = threading.Lock()        # ids and writes
        self._cond = threading.Condition()   # replies, events, death
        self._replies = {}
        self._events = []                    # (seq, sessionId, method, params)
        self._seq = 0
        self._dead = None                    # why the pipe ended
        self._reader = None
        self.exit_status = None

    # ------------------------------------------------------------ process
    def start(self):
        self.profile = tempfile.mkdtemp(prefix="digest-chromium-")
        self.log_path = os.path.join(self.outdir or self.profile, "chromium.log")
        to_r, to_w = os.pipe()        # we write commands -> chromium's fd 3
        from_r, from_w = os.pipe()    # chromium's fd 4 -> we read
        to_r, to_w, from_r, from_w = (_high_fd(x) for x in (to_r, to_w, from_r, from_w))
        argv = [self.exe, self.headless, "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--disable-background-networking", "--disable-extensions", "--disable-sync",
                "--disable-breakpad", "--disable-crash-reporter",
                "--no-default-browser-check", "--mute-audio", "--hide-scrollbars",
                f"--window-size={self.size[0]},{self.size[1]}",
                f"--user-data-dir={self.profile}", "--remote-debugging-pipe", *self.extra, "about:blank"]
        env = dict(os.environ)
        env.pop("DISPLAY", None)
        env.pop("WAYLAND_DISPLAY", None)
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644),
            (os.POSIX_SPAWN_DUP2, 1, 2),
            (os.POSIX_SPAWN_DUP2, to_r, 3),
            (os.POSIX_SPAWN_DUP2, from_w, 4),
        ]
        try:
            # setsid: chromium and all its helpers (zygote, renderers, GPU)
            # are one process group that close() can end for sure
            self.pid = os.posix_spawn(self.exe, argv, env, file_actions=actions, setsid=True)
        except OSError as e:
            for fd in (to_r, to_w, from_r, from_w):
                os.close(fd)
            shutil.rmtree(self.profile, ignore_errors=True)
            raise Skip(f"cannot start {self.exe}: {e}")
        os.close(to_r)
        os.close(from_w)
        self._wfd, self._rfd = to_w, from_r
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()
        try:
            v = self.send("Browser.getVersion", timeout=max(self.timeout, 30))
        except CDPError as e:
            self.close()
            raise CDPError(f"chromium did not answer on the pipe: {e}; its log: {self.log_tail()}")
        self.version = v.get("product", "?")
        return self

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def alive(self):
        if self.pid is None or self.exit_status is not None:
            return False
        try:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            self.exit_status = -1
            return False
        if pid:
            self.exit_status = status
            return False
        return True

    def close(self):
        """Browser.close, then wait up to 5 s; SIGKILL the process group if it
        lingers. Safe to call twice."""
        if self.pid is None:
            return
        try:
            if self._dead is None and self.alive():
                try:
                    self.send("Browser.close", timeout=5)
                except CDPError:
                    pass
            deadline = time.monotonic() + 5
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.alive():
                try:
                    os.kill(self.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                deadline = time.monotonic() + 3
                while self.alive() and time.monotonic() < deadline:
                    time.sleep(0.05)
            # the whole group (our own setsid'd child's), helpers included
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            deadline = time.monotonic() + 3
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            for fd in (self._wfd, self._rfd):
                if fd is not None:
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            self._wfd = self._rfd = None
            if self._reader:
                self._reader.join(2)
            self.pid = None
            if self.profile:
                shutil.rmtree(self.profile, ignore_errors=True)
                self.profile = None

    def log_tail(self, n=600):
        try:
            with open(self.log_path, errors="replace") as f:
                s = f.read()
        except (OSError, TypeError):
            return ""
        s = "\n".join(ln for ln in s.splitlines() if "dbus" not in ln.lower())
        return s[-n:]

    # ------------------------------------------------------------ pipe
    def _read_loop(self):
        buf = b""
        why = "chromium closed the pipe"
        try:
            while True:
                chunk = os.read(self._rfd, 65536)
                if not chunk:
                    break
                buf += chunk
                while b"\0" in buf:
                    raw, buf = buf.split(b"\0", 1)
                    if raw:
                        self._dispatch(json.loads(raw.decode("utf-8")))
        except (OSError, ValueError, TypeError) as e:
            why = f"reading the pipe: {e!r}"
        with self._cond:
            self._dead = why
            self._cond.notify_all()

    def _dispatch(self, msg):
        with self._cond:
            if "id" in msg:
                self._replies[msg["id"]] = msg
            else:
                self._seq += 1
                self._events.append((self._seq, msg.get("sessionId"), msg.get("method"),
                                     msg.get("params") or {}))
            self._cond.notify_all()

    def send(self, method, params=None, session=None, timeout=None):
        """Send a command and wait for its reply; returns its result."""
        timeout = self.timeout if timeout is None else timeout
        with self._lock:
            self._next_id += 1
            mid = self._next_id
            msg = {"id": mid, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            data = json.dumps(msg).encode("utf-8") + b"\0"
            if self._dead is not None or self._wfd is None:
                raise CDPError(f"{method}: chromium is gone ({self._dead})")
            try:
                while data:
                    n = os.write(self._wfd, data)
                    data = data[n:]
            except OSError as e:
                raise CDPError(f"{method}: writing to chromium: {e}")
        deadline = time.monotonic() + timeout
        with self._cond:
            while mid not in self._replies:
                if self._dead is not None:
                    raise CDPError(f"{method}: chromium is gone ({self._dead}); log: {self.log_tail(300)}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError(f"{method}: no reply within {timeout} s")
                self._cond.wait(min(left, 0.5))
            reply = self._replies.pop(mid)
        if "error" in reply:
            raise CDPError(f"{method}: {reply['error'].get('message')} {reply['error'].get('data', '')}".strip())
        return reply.get("result", {})

    def mark(self):
        """The current event position: wait_event(after=mark) sees only
        events that come later."""
        with self._cond:
            return self._seq

    def events(self, session=None, method=None, after=0):
        with self._cond:
            return [(s, m, p) for s, sid, m, p in self._events
                    if s > after and (session is None or sid == session) and (method is None or m == method)]

    def wait_event(self, method, session=None, after=0, timeout=None, pred=None):
        """The params of the first event METHOD (for SESSION) after the mark
        AFTER that satisfies PRED."""
        timeout = self.timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for s, sid, m, p in self._events:
                    if s > after and m == method and (session is None or sid == session) \
                            and (pred is None or pred(p)):
                        return p
                if self._dead is not None:
                    raise CDPError(f"waiting for {method}: chromium is gone ({self._dead})")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CDPError(f"no {method} within {timeout} s")
                self._cond.wait(min(left, 0.5))

    # ------------------------------------------------------------ pages
    def new_page(self):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, target, session)
        page.setup()
        return page


class Page:
    def __init__(self, browser, target, session):
        self.b = browser
        self.target = target
        self.session = session
        self.start_mark = 0

    def send(self, method, params=None, timeout=None):
        return self.b.send(method, params, session=self.session, timeout=timeout)

    def setup(self):
        self.start_mark = self.b.mark()
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")
        try:
            self.send("Audits.enable")    # CSP violations also come as issues
        except CDPError:
            pass
        w, h = self.b.size
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": w, "height": h, "deviceScaleFactor": 1, "mobile": False})

    # navigation ------------------------------------------------------
    def _wait_load(self, mark, timeout, what):
        try:
            self.b.wait_event("Page.loadEventFired", self.session, after=mark, timeout=timeout)
        except CDPError as e:
            raise CDPError(f"{what}: {e}")

    def navigate(self, url, timeout=None):
        """Open URL and wait for its load event; returns the main document's
        HTTP status (None when unknown)."""
        mark = self.b.mark()
        r = self.send("Page.navigate", {"url": url}, timeout=timeout)
        if r.get("errorText"):
            raise CDPError(f"navigate {url}: {r['errorText']}")
        self._wait_load(mark, timeout, f"navigate {url}")
        return self.document_status(after=mark)

    def document_status(self, after=0):
        """The HTTP status of the latest main-document response after the mark."""
        st = None
        for _, _, p in self.b.events(self.session, "Network.responseReceived", after=after):
            if p.get("type") == "Document":
                st = p.get("response", {}).get("status")
        return st

    def document_response(self, after=0):
        resp = None
        for _, _, p in self.b.events(self.session, "Network.responseReceived", after=after):
            if p.get("type") == "Document":
                resp = p.get("response", {})
        return resp

    # script ----------------------------------------------------------
    def eval(self, expr, timeout=None):
        """Evaluate EXPR in the page (the DevTools' own access: the page's CSP
        does not apply) and return its value."""
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True}, timeout=timeout)
        if r.get("exceptionDetails"):
            d = r["exceptionDetails"]
            raise CDPError(f"evaluate {expr[:80]!r}: {d.get('exception', {}).get('description') or d.get('text')}")
        return r.get("result", {}).get("value")

    def url(self):
        return self.eval("location.href")

    def text(self):
        return self.eval("document.body ? document.body.innerText : ''") or ""

    def html(self):
        return self.eval("document.documentElement.outerHTML") or ""

    def exists(self, selector):
        return bool(self.eval(f"!!document.querySelector({json.dumps(selector)})"))

    def rect(self, selector):
        """The center (x, y) of the element SELECTOR in the viewport,
        scrolled into view; CDPError when absent or not visible."""
        r = self.eval(f"""(() => {{
            const e = document.querySelector({json.dumps(selector)});
            if (!e) return null;
            e.scrollIntoView({{block: 'center', inline: 'center'}});
            const r = e.getBoundingClientRect();
            return [r.left, r.top, r.width, r.height];
        }})()""")
        if r is None:
            raise CDPError(f"no element {selector!r} on {self.url()}")
        x, y, w, h = r
        if w <= 0 or h <= 0:
            raise CDPError(f"element {selector!r} is not visible ({w}x{h})")
        return x + w / 2, y + h / 2

    # input -----------------------------------------------------------
    def click(self, selector):
        """A real click: the mouse pressed and released at the center of the
        element SELECTOR (what is there gets it: an overlay would)."""
        x, y = self.rect(selector)
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})
        for t in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": t, "x": x, "y": y, "button": "left",
                                                   "buttons": 1 if t == "mousePressed" else 0,
                                                   "clickCount": 1})

    def click_and_wait(self, selector, timeout=None):
        """click() and wait for the page it leads to; returns its HTTP status."""
        mark = self.b.mark()
        self.click(selector)
        self._wait_load(mark, timeout, f"after clicking {selector!r}")
        return self.document_status(after=mark)

    def type(self, selector, text, clear=True):
        """Click into the field SELECTOR and type TEXT (Input.insertText, as an
        input method commits text: Cyrillic works)."""
        self.click(selector)
        focused = self.eval(f"document.activeElement === document.querySelector({json.dumps(selector)})")
        if not focused:
            raise CDPError(f"clicking {selector!r} did not focus it")
        if clear:
            self.eval("document.activeElement.select && document.activeElement.select()")
        self.send("Input.insertText", {"text": text})

    def value(self, selector):
        return self.eval(f"(document.querySelector({json.dumps(selector)}) || {{}}).value")

    # output ----------------------------------------------------------
    def screenshot(self, path):
        data = base64.b64decode(self.send("Page.captureScreenshot", {"format": "png"}, timeout=30)["data"])
        with open(path, "wb") as f:
            f.write(data)
        return path

    def problems(self, after=None, ignore=()):
        """What the page complained about since AFTER (a mark; default since
        the page was made): console errors and warnings, uncaught
        exceptions, log entries of level error/warning (CSP violations are
        these: source "security" or text "Content Security Policy"), and
        Audits issues of CSP. Each a string. IGNORE: substrings to skip."""
        after = self.start_mark if after is None else after
        out = []
        for _, m, p in self.b.events(self.session, after=after):
            s = None
            if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "warning", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", []))
                s = f"console.{p.get('type')}: {args}"
            elif m == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                s = f"exception: {d.get('exception', {}).get('description') or d.get('text')}"
            elif m == "Log.entryAdded":
                e = p.get("entry", {})
                if e.get("level") in ("error", "warning") or e.get("source") == "security" \
                        or "Content Security Policy" in e.get("text", ""):
                    s = f"log {e.get('source')}/{e.get('level')}: {e.get('text')} ({e.get('url', '')})"
            elif m == "Audits.issueAdded":
                issue = p.get("issue", {})
                if "ContentSecurityPolicy" in issue.get("code", ""):
                    det = issue.get("details", {}).get("contentSecurityPolicyIssueDetails", {})
                    s = (f"CSP issue: {det.get('violatedDirective')} blocked "
                         f"{det.get('blockedURL') or det.get('contentSecurityPolicyViolationType')}")
            if s and not any(i in s for i in ignore):
                out.append(s)
        return out

    def csp_violations(self, after=None):
        return [s for s in self.problems(after) if "Content Security Policy" in s or "CSP" in s]


def check_png(path, min_bytes=2048):
    """(ok, why) for a screenshot file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        return False, f"{path}: {e}"
    if not data.startswith(PNG_SIGNATURE):
        return False, f"{path}: no PNG signature ({data[:8]!r})"
    if len(data) <= min_bytes:
        return False, f"{path}: only {len(data)} bytes"
    return True, f"{path}: {len(data)} bytes"


# ---------------------------------------------------------------- self-test
def _selftest(argv=None):
    import argparse
    import http.server
    import urllib.parse

    ap = argparse.ArgumentParser(description="test cdp.py against a local HTTP server")
    ap.add_argument("--out", help="where to write the screenshots (default: a temporary directory)")
    ap.add_argument("--headless-mode", default="", help="e.g. new: start with --headless=new")
    args = ap.parse_args(argv)
    out = args.out or tempfile.mkdtemp(prefix="cdp-selftest-")
    os.makedirs(out, exist_ok=True)
    csp = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'"

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def page(self, code, body):
            data = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Security-Policy", csp)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/":
                self.page(200, "<!doctype html><html lang='ru'><head><meta charset='utf-8'><style>"
                          "body{font:16px sans-serif;background:#eef}</style></head><body><h1>Подписка</h1>"
                          "<form method='post' action='/submit'><input name='email' type='email'>"
                          "<input name='name'><button type='submit'>Подписаться</button></form></body></html>")
            elif self.path == "/bad":
                self.page(200, "<!doctype html><html><body><p>bad</p><script>console.log(1)</script>"
                          "<img src='http://127.0.0.1:1/x.png'></body></html>")
            else:
                self.page(404, "<!doctype html><p>not found</p>")

        def do_POST(self):
            n = int(self.headers.get("Content-Length", 0))
            form = urllib.parse.parse_qs(self.rfile.read(n).decode("utf-8"))
            self.page(200, "<!doctype html><html><body><p>Спасибо, " + form.get("name", ["?"])[0]
                      + " &lt;" + form.get("email", ["?"])[0] + "&gt;</p></body></html>")

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{srv.server_address[1]}"
    headless = "--headless=" + args.headless_mode if args.headless_mode else "--headless"
    ok = True

    def expect(cond, what):
        nonlocal ok
        print(("ok   " if cond else "FAIL ") + what, flush=True)
        ok = ok and bool(cond)

    t0 = time.monotonic()
    b = Browser(out, headless=headless)
    try:
        b.start()
        print(f"# {b.version}, started in {time.monotonic() - t0:.1f} s, pid {b.pid}")
        p = b.new_page()
        st = p.navigate(base + "/")
        expect(st == 200, f"navigate: status {st}")
        expect("Подписка" in p.text(), "the page's text")
        expect(not p.problems(), f"no problems on a clean page: {p.problems()}")
        shot = p.screenshot(os.path.join(out, "form.png"))
        good, why = check_png(shot)
        expect(good, f"screenshot {why}")
        p.type("input[name=email]", "a@example.net")
        p.type("input[name=name]", "Анна Иванова")
        expect(p.value("input[name=name]") == "Анна Иванова", f"typed name: {p.value('input[name=name]')!r}")
        st = p.click_and_wait("button[type=submit]")
        expect(st == 200, f"after the click: status {st}, url {p.url()}")
        expect("Спасибо, Анна Иванова <a@example.net>" in p.text(), f"result text {p.text()!r}")
        m = b.mark()
        st = p.navigate(base + "/bad")
        time.sleep(0.5)
        v = p.csp_violations(after=m)
        expect(len(v) >= 1, f"CSP violations detected on a page with an inline script: {v}")
        try:
            p.rect("#nothing")
            expect(False, "rect of a missing element raises")
        except CDPError as e:
            expect("no element" in str(e), f"rect of a missing element: {e}")
        pid = b.pid
    finally:
        b.close()
        srv.shutdown()
    expect(b.pid is None, "closed")
    try:
        os.kill(pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    expect(not alive, f"chromium {pid} ended")
    print(f"# screenshots in {out}; {time.monotonic() - t0:.1f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    import sys
    sys.exit(_selftest())
