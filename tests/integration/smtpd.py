#!/usr/bin/python3
"""An SMTP server on 127.0.0.1 for digest's tests, built on aiosmtpd.

usage: smtpd.py [--port N] [--portfile FILE] [--out DIR] [options]

Run it with /usr/bin/python3: it needs Debian's python3-aiosmtpd. It listens
on 127.0.0.1:N (0: a free port; --listen ADDR for another address of this
machine, to test what a client does with a host that is not loopback)
and, once it accepts connections, writes the
port to FILE (through a temporary file and a rename, so that a reader never
sees half of it), or prints it on stdout when there is no --portfile.

Each accepted message is saved as DIR/NNNNNN.eml (the bytes received, dot-
stuffing undone; written to a temporary name, then renamed), and one line of
JSON is appended to DIR/log.jsonl after the rename:
  {"mail_from", "rcpt_tos", "size", "file", "peer", "conn", "helo", "auth",
   "pipelined"}
where "file" is the name inside DIR, "conn" the connection's number (1,
2, ...), "helo" the client's EHLO/HELO name and "auth" the user it logged in
as (or null), and "pipelined" whether the commands after MAIL FROM (RCPT TO,
DATA) had already arrived when MAIL FROM was read: the client sent them in one
go (RFC 2920). Numbers go on from the highest NNNNNN.eml already in DIR.

  --starttls CERT KEY   offer STARTTLS (PEM files); AUTH only after it
  --tls CERT KEY        implicit TLS on the whole connection
  --require-tls         refuse mail before STARTTLS (530)
  --auth USER:PASS      AUTH PLAIN and LOGIN; required before MAIL
  --defer-rcpt REGEX:N  451 to RCPT for each address matching REGEX (re.search)
                        its first N times; may be repeated
  --fail-rcpt REGEX     550 5.1.1 to RCPT for matching addresses; may be repeated
  --defer-data-first N  451 after DATA for the first N messages overall
  --fail-data REGEX     554 after DATA for a message to a matching recipient
  --drop-after N        close the connection abruptly right after accepting
                        (saving) the N-th message overall, before replying; once
  --hang-after N        send no reply to the N-th message overall once it is
                        saved (the connection stays open, the next one is
                        served); once
  --stall-after N       once N messages have been accepted overall, answer no
                        command any more (new connections get their greeting
                        only), without closing anything
  --delay MS            wait MS milliseconds before the reply to each message
  --max-conns N         answer 421 to connections beyond N at once, and close them
  --no-esmtp            answer 502 to EHLO, as servers from before ESMTP did
  --pipelining          offer PIPELINING in the EHLO reply (aiosmtpd takes
                        pipelined commands either way, but does not say so)
  --defer-mail REGEX:N  451 to MAIL FROM for each sender matching REGEX its
                        first N times; may be repeated
  --drop-rcpt REGEX     close the connection abruptly when RCPT TO names a
                        matching address, before replying; once for each
  --data-without-rcpt   answer DATA with 354 even when no recipient was
                        accepted, read the message and refuse it (554): what
                        RFC 2920 warns some servers do
  --die-with-parent     stop when the process that started it ends, even by a
                        crash (Linux), so that no server outlives a test
  --verbose             log connections and commands on stderr

SIGTERM (or SIGINT) stops it cleanly, exit status 0.
"""

import argparse
import asyncio
import ctypes
import json
import logging
import os
import re
import signal
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

log = logging.getLogger("smtpd")


class State:
    """What all connections share."""

    def __init__(self, args):
        self.args = args
        self.conns = 0          # connections so far
        self.active = set()     # live connections (Server objects)
        self.data_seen = 0      # messages that reached the end of DATA
        self.accepted = 0       # messages saved
        self.dropped = False
        self.deferred = {}      # (rule index, address) -> times answered 451
        self.fail_rcpt = [re.compile(r) for r in args.fail_rcpt or []]
        self.fail_data = [re.compile(r) for r in args.fail_data or []]
        self.defer_rcpt = []
        for spec in args.defer_rcpt or []:
            rx, sep, n = spec.rpartition(":")
            if not sep or not n.isdigit():
                raise SystemExit(f"smtpd.py: --defer-rcpt {spec!r}: expected REGEX:N")
            self.defer_rcpt.append((re.compile(rx), int(n)))
        self.defer_mail = []
        for spec in args.defer_mail or []:
            rx, sep, n = spec.rpartition(":")
            if not sep or not n.isdigit():
                raise SystemExit(f"smtpd.py: --defer-mail {spec!r}: expected REGEX:N")
            self.defer_mail.append((re.compile(rx), int(n)))
        self.mail_deferred = {}   # (rule index, sender) -> times answered 451
        self.drop_rcpt = re.compile(args.drop_rcpt) if args.drop_rcpt else None
        self.rcpt_dropped = set()
        self.seq = 0
        if args.out:
            os.makedirs(args.out, exist_ok=True)
            for name in os.listdir(args.out):
                m = re.fullmatch(r"(\d{6})\.eml", name)
                if m:
                    self.seq = max(self.seq, int(m.group(1)))

    def stalled(self):
        n = self.args.stall_after
        return n is not None and self.accepted >= n

    def save(self, envelope, session, conn):
        """Write the message and its log line; returns its number."""
        self.seq += 1
        peer = session.peer
        auth = session.auth_data
        login = auth.login.decode("utf-8", "replace") if isinstance(auth, LoginPassword) else None
        if not self.args.out:
            return self.seq
        name = f"{self.seq:06d}.eml"
        tmp = os.path.join(self.args.out, f".{name}.tmp")
        with open(tmp, "wb") as f:
            f.write(envelope.original_content)
        os.replace(tmp, os.path.join(self.args.out, name))
        entry = {"mail_from": envelope.mail_from, "rcpt_tos": list(envelope.rcpt_tos),
                 "size": len(envelope.original_content), "file": name,
                 "peer": f"{peer[0]}:{peer[1]}" if peer else None, "conn": conn,
                 "helo": session.host_name, "auth": login,
                 "pipelined": getattr(envelope, "pipelined", False)}
        with open(os.path.join(self.args.out, "log.jsonl"), "a", encoding="utf-8") as f:
            f.write(json.dumps(entry) + "\n")
        return self.seq


class Handler:
    def __init__(self, state):
        self.st = state
        if state.args.pipelining:
            self.handle_EHLO = self._ehlo_pipelining

    async def _ehlo_pipelining(self, server, session, envelope, hostname, responses):
        # aiosmtpd's "new" EHLO hook: the reply's lines are ours to change,
        # and the client's name ours to note
        session.host_name = hostname
        return responses[:-1] + ["250-PIPELINING", responses[-1]]

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        # what follows MAIL FROM in the same read: the client did not wait
        envelope.pipelined = bool(server.pending_input())
        for i, (rx, n) in enumerate(self.st.defer_mail):
            if rx.search(address):
                # one sender, whatever its VERP extension (local+b-TOKEN@)
                key = (i, re.sub(r"\+[^@]*@", "@", address))
                seen = self.st.mail_deferred.get(key, 0)
                if seen < n:
                    self.st.mail_deferred[key] = seen + 1
                    log.info("conn %d: MAIL %s: 451 (%d of %d)", server.conn_no, address, seen + 1, n)
                    return "451 4.3.0 Sender temporarily refused, try again later"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        st = self.st
        if st.drop_rcpt and address not in st.rcpt_dropped and st.drop_rcpt.search(address):
            st.rcpt_dropped.add(address)
            log.info("conn %d: RCPT %s: dropping the connection", server.conn_no, address)
            (server._original_transport or server.transport).abort()
            await asyncio.sleep(3600)  # cancelled by connection_lost()
        for rx in self.st.fail_rcpt:
            if rx.search(address):
                log.info("conn %d: RCPT %s: 550", server.conn_no, address)
                return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        for i, (rx, n) in enumerate(self.st.defer_rcpt):
            if rx.search(address):
                # one sender, whatever its VERP extension (local+b-TOKEN@)
                key = (i, re.sub(r"\+[^@]*@", "@", address))
                seen = self.st.deferred.get(key, 0)
                if seen < n:
                    self.st.deferred[key] = seen + 1
                    log.info("conn %d: RCPT %s: 451 (%d of %d)", server.conn_no, address, seen + 1, n)
                    return f"451 4.3.0 <{address}>: Recipient address deferred, try again later"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        st = self.st
        if st.args.delay:
            await asyncio.sleep(st.args.delay / 1000)
        st.data_seen += 1
        if st.data_seen <= st.args.defer_data_first:
            log.info("conn %d: message %d: 451", server.conn_no, st.data_seen)
            return "451 4.3.0 Message deferred, try again later"
        if any(rx.search(r) for rx in st.fail_data for r in envelope.rcpt_tos):
            log.info("conn %d: message %d: 554", server.conn_no, st.data_seen)
            return "554 5.7.1 Message content rejected"
        st.accepted += 1
        n = st.save(envelope, session, server.conn_no)
        log.info("conn %d: message saved as %06d", server.conn_no, n)
        if st.args.hang_after and st.accepted == st.args.hang_after:
            log.info("conn %d: no reply to message %d", server.conn_no, n)
            if server._timeout_handle is not None:
                server._timeout_handle.cancel()
            await asyncio.Event().wait()  # until the connection or the server goes
        if st.args.drop_after and st.accepted == st.args.drop_after and not st.dropped:
            st.dropped = True
            log.info("conn %d: dropping the connection", server.conn_no)
            (server._original_transport or server.transport).abort()
            # the reply never leaves: connection_lost() cancels this task
            await asyncio.sleep(3600)
        return f"250 2.0.0 Ok: queued as {n:06d}"


class Server(SMTP):
    state = None  # set by main()

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.conn_no = 0
        self.counted = False
        self.over_limit = False
        if self.state.args.no_esmtp:
            self._smtp_methods["EHLO"] = self._no_ehlo
        if self.state.args.data_without_rcpt:
            self._smtp_methods["DATA"] = self._data_without_rcpt(self._smtp_methods["DATA"])
        for name, method in list(self._smtp_methods.items()):
            self._smtp_methods[name] = self._stallable(method)

    async def _no_ehlo(self, arg):
        await self.push('502 5.5.1 Error: command "EHLO" not implemented')

    def pending_input(self):
        """The bytes received and not read yet."""
        return bytes(getattr(self._reader, "_buffer", b""))

    def _data_without_rcpt(self, data):
        async def run(arg):
            if self.envelope.mail_from is None or self.envelope.rcpt_tos:
                await data(arg)
                return
            # 354 with nobody to deliver to: take the text, then refuse it
            await self.push("354 End data with <CR><LF>.<CR><LF>")
            while True:
                line = await self._reader.readuntil(b"\n")
                if line in (b".\r\n", b".\n"):
                    break
            log.info("conn %d: DATA without a recipient: 554", self.conn_no)
            self._set_rset_state()
            await self.push("554 5.5.1 Error: no valid recipients")
        return run

    def _stallable(self, method):
        async def run(arg):
            if self.state.stalled():
                log.info("conn %d: stalled", self.conn_no)
                if self._timeout_handle is not None:
                    self._timeout_handle.cancel()
                await asyncio.Event().wait()  # until the connection or the server goes
            await method(arg)
        return run

    def connection_made(self, transport):
        if self.transport is None and self._original_transport is None:  # not the STARTTLS layer
            st = self.state
            st.conns += 1
            self.conn_no = st.conns
            max_conns = st.args.max_conns
            self.over_limit = bool(max_conns) and len(st.active) >= max_conns
            if not self.over_limit:
                st.active.add(self)
                self.counted = True
        super().connection_made(transport)

    def connection_lost(self, error):
        if self.counted:
            self.counted = False
            self.state.active.discard(self)
        super().connection_lost(error)

    async def _handle_client(self):
        if self.over_limit:
            log.info("conn %d: over --max-conns", self.conn_no)
            await self.push("421 4.7.0 Too many connections, try again later")
            self.transport.close()
            return
        await super()._handle_client()


def die_with_parent():
    """SIGTERM to us when our parent ends (prctl PR_SET_PDEATHSIG)."""
    parent = os.getppid()
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it went before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    return ctx


async def serve(args):
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    state = State(args)
    Server.state = state
    handler = Handler(state)
    starttls = tls_context(*args.starttls) if args.starttls else None
    implicit = tls_context(*args.tls) if args.tls else None
    user = password = None
    if args.auth:
        user, sep, password = args.auth.partition(":")
        if not sep:
            raise SystemExit("smtpd.py: --auth: expected USER:PASS")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword) and auth_data.login == user.encode()
              and auth_data.password == password.encode())
        log.info("conn %d: AUTH %s: %s", server.conn_no, mechanism, "ok" if ok else "refused")
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    def factory():
        return Server(handler, hostname="localhost", loop=loop, data_size_limit=64 << 20,
                      tls_context=starttls, require_starttls=args.require_tls,
                      # over STARTTLS, AUTH only once encrypted; with implicit
                      # TLS it is; in the clear, tests on loopback may use it
                      auth_require_tls=bool(starttls), auth_required=bool(args.auth),
                      authenticator=authenticator if args.auth else None)

    server = await loop.create_server(factory, host=args.listen, port=args.port, ssl=implicit)
    port = server.sockets[0].getsockname()[1]
    if args.portfile:
        tmp = args.portfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{port}\n")
        os.replace(tmp, args.portfile)
    else:
        print(port, flush=True)
    log.info("listening on %s:%d", args.listen, port)
    await stop.wait()
    log.info("stopping")
    server.close()
    for conn in list(state.active):
        if conn.transport is not None:
            (conn._original_transport or conn.transport).abort()
    await server.wait_closed()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--listen", default="127.0.0.1", metavar="ADDR")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--portfile")
    ap.add_argument("--out")
    ap.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    ap.add_argument("--require-tls", action="store_true")
    ap.add_argument("--auth", metavar="USER:PASS")
    ap.add_argument("--defer-rcpt", action="append", metavar="REGEX:N")
    ap.add_argument("--fail-rcpt", action="append", metavar="REGEX")
    ap.add_argument("--defer-data-first", type=int, default=0, metavar="N")
    ap.add_argument("--fail-data", action="append", metavar="REGEX")
    ap.add_argument("--drop-after", type=int, default=0, metavar="N")
    ap.add_argument("--stall-after", type=int, default=None, metavar="N")
    ap.add_argument("--hang-after", type=int, default=0, metavar="N")
    ap.add_argument("--delay", type=int, default=0, metavar="MS")
    ap.add_argument("--max-conns", type=int, default=0, metavar="N")
    ap.add_argument("--no-esmtp", action="store_true")
    ap.add_argument("--pipelining", action="store_true")
    ap.add_argument("--defer-mail", action="append", metavar="REGEX:N")
    ap.add_argument("--drop-rcpt", metavar="REGEX")
    ap.add_argument("--data-without-rcpt", action="store_true")
    ap.add_argument("--die-with-parent", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.starttls and args.tls:
        ap.error("--starttls and --tls exclude each other")
    if args.verbose:
        logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                            format="smtpd %(asctime)s %(name)s: %(message)s")
    else:
        # aiosmtpd and asyncio complain on stderr about clients that go
        # away without a word: tests do that on purpose
        logging.basicConfig(handlers=[logging.NullHandler()])
        warnings.simplefilter("ignore")
    if args.die_with_parent:
        die_with_parent()
    try:
        asyncio.run(serve(args))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
