#!/usr/bin/python3
"""An SMTP server on 127.0.0.1 that misbehaves, for digest's tests.

usage: hostile_smtpd.py MODE [--portfile FILE] [--out DIR] [--interval S]
                        [--delay S] [--die-with-parent]

It listens on a free port of 127.0.0.1 and writes the port to FILE (through
a rename), or prints it. One thread per connection. MODE:

  endless-line  answers EHLO with "250-" and then bytes without end, never
                a line break
  huge-reply    answers EHLO with lines of 1000 bytes, "250-..." each,
                without end: every line is short, the reply is not
  trickle       sends its greeting one byte every --interval seconds
                (default 0.5), and goes on with a new greeting when done
  slow-dot      a plain server that stores each message and answers its
                final dot after --delay seconds (default 3)
  out-of-order  offers PIPELINING and answers MAIL, RCPT and DATA sent in
                one go in the wrong order: 354, then 250, 250
  extra-reply   a plain server that answers each final dot twice

Whatever it stores goes to DIR/NNNNNN.eml; DIR/log.jsonl gets one line of
JSON per event: {"event": "message", "rcpt": ..., "conn": N, "file": ...}
when a message is stored, and {"event": "closed", "conn": N, "sent": BYTES,
"seconds": S} when a connection ends, with the bytes this server wrote on
it. SIGTERM stops it, exit status 0.
"""

import argparse
import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time

LOCK = threading.Lock()


class Conn:
    def __init__(self, sock, n, opts):
        self.sock, self.n, self.opts = sock, n, opts
        self.sent = 0
        self.buf = b""
        self.t0 = time.monotonic()

    def send(self, data):
        self.sock.sendall(data)
        self.sent += len(data)

    def line(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def data(self):
        lines = []
        while True:
            ln = self.line()
            if ln == b".":
                return b"\r\n".join(lines) + b"\r\n"
            lines.append(ln[1:] if ln.startswith(b".") else ln)


def log(opts, **entry):
    if not opts.out:
        return
    with LOCK:
        with open(os.path.join(opts.out, "log.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")


def store(opts, conn, rcpt, data):
    if not opts.out:
        return
    with LOCK:
        n = len([f for f in os.listdir(opts.out) if f.endswith(".eml")]) + 1
        name = f"{n:06d}.eml"
        tmp = os.path.join(opts.out, "." + name)
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, os.path.join(opts.out, name))
    log(opts, event="message", rcpt=rcpt, conn=conn.n, file=name)


def endless(c, line_break):
    c.send(b"220 hostile ESMTP\r\n")
    c.line()  # EHLO
    if line_break:
        chunk = b"".join(b"250-" + b"x" * 994 + b"\r\n" for _ in range(64))
    else:
        c.send(b"250-")
        chunk = b"a" * 65536
    while True:
        c.send(chunk)


def trickle(c):
    greeting = b"220 hostile ESMTP, one byte at a time\r\n"
    while True:
        for i in range(len(greeting)):
            c.send(greeting[i:i + 1])
            time.sleep(c.opts.interval)


def serve_plain(c, mode):
    """Enough SMTP for a client: EHLO, MAIL, RCPT, DATA, RSET, NOOP, QUIT."""
    c.send(b"220 hostile ESMTP\r\n")
    rcpt = None
    while True:
        ln = c.line()
        verb = ln[:4].upper()
        if verb in (b"EHLO", b"HELO"):
            ext = b"250-PIPELINING\r\n" if mode == "out-of-order" else b""
            c.send(b"250-hostile\r\n" + ext + b"250 8BITMIME\r\n")
        elif verb == b"MAIL" and mode == "out-of-order":
            # the whole group is read before any answer, then answered
            # out of order
            c.line()
            c.line()
            c.send(b"354 go ahead\r\n250 2.1.0 sender ok\r\n250 2.1.5 recipient ok\r\n")
        elif verb == b"MAIL":
            rcpt = None
            c.send(b"250 2.1.0 ok\r\n")
        elif verb == b"RCPT":
            rcpt = ln[8:].strip(b" <>").decode("utf-8", "replace")
            c.send(b"250 2.1.5 ok\r\n")
        elif verb == b"DATA":
            c.send(b"354 end with <CRLF>.<CRLF>\r\n")
            data = c.data()
            store(c.opts, c, rcpt, data)
            if mode == "slow-dot":
                time.sleep(c.opts.delay)
                c.send(b"250 2.0.0 queued, slowly\r\n")
            elif mode == "extra-reply":
                c.send(b"250 2.0.0 queued\r\n250 2.0.0 queued again\r\n")
            else:
                c.send(b"250 2.0.0 queued\r\n")
        elif verb == b"QUIT":
            c.send(b"221 bye\r\n")
            return
        else:
            c.send(b"250 ok\r\n")


def handle(sock, n, opts):
    c = Conn(sock, n, opts)
    try:
        if opts.mode == "endless-line":
            endless(c, False)
        elif opts.mode == "huge-reply":
            endless(c, True)
        elif opts.mode == "trickle":
            trickle(c)
        else:
            serve_plain(c, opts.mode)
    except (OSError, ConnectionError):
        pass
    finally:
        log(opts, event="closed", conn=n, sent=c.sent, seconds=round(time.monotonic() - c.t0, 3))
        try:
            sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["endless-line", "huge-reply", "trickle", "slow-dot",
                                     "out-of-order", "extra-reply"])
    ap.add_argument("--portfile")
    ap.add_argument("--out")
    ap.add_argument("--interval", type=float, default=0.5)
    ap.add_argument("--delay", type=float, default=3.0)
    ap.add_argument("--die-with-parent", action="store_true")
    opts = ap.parse_args()
    if opts.die_with_parent:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if opts.out:
        os.makedirs(opts.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    port = srv.getsockname()[1]
    if opts.portfile:
        tmp = opts.portfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.rename(tmp, opts.portfile)
    else:
        print(port, flush=True)
    n = 0
    while True:
        sock, _ = srv.accept()
        n += 1
        threading.Thread(target=handle, args=(sock, n, opts), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
