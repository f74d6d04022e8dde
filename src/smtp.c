/* smtp: an SMTP client connection: a bounded reply reader and a writer of
 * its own over a non-blocking socket, TLS by GnuTLS with certificates
 * checked. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "digest/address.h"
#include "digest/certcheck.h"
#include "digest/log.h"
#include "digest/smtp.h"
#include "digest/transport.h"
#include "digest/util.h"

#define DEFAULT_TIMEOUT 30
#define DEFAULT_DATA_TIMEOUT 600 /* RFC 5321 4.5.3.2.6 */
#define QUIT_WAIT 2            /* seconds: QUIT is a courtesy, not worth a long wait */
#define MAX_ADDRESS 254        /* RFC 5321's path limit */
#define MAX_AUTH_LINE 12288    /* RFC 4954 4 */

struct smtp_conn {
	int fd;
	gnutls_session_t tls; /* NULL: the connection is plain */
	gnutls_certificate_credentials_t cred;
	char *where; /* "smtp HOST:PORT", the start of every error message */
	int timeout, data_timeout;
	bool usable;
	bool encrypted;
	bool loopback;   /* the peer's address is a loopback one */
	bool pipelining; /* the server offers PIPELINING (RFC 2920) */
	bool smtputf8;   /* ... SMTPUTF8 (RFC 6531) */
	bool starttls;   /* ... STARTTLS */
	bool auth_plain, auth_login;
	bool in_data;          /* between smtp_begin and smtp_finish: the server reads message text */
	enum smtp_stage stage; /* where the last smtp_send stopped */

	/* The last reply: its code, or 0 when none came, and then WHY says
	 * what became of it; its texts, one line each, '\n' after each. */
	int code;
	char why[96];
	struct buf text;

	/* Bytes read and not yet taken: IN[POS .. POS+LEN). Room for a whole
	 * line of the longest kind allowed, with its CRLF. */
	char in[2 * SMTP_LINE_MAX];
	size_t pos, len;

	struct buf data; /* the message as DATA carries it; its memory kept for the next */
	/* A canonical message goes as it is, from the caller's memory: */
	const char *msg; /* NULL: the message is in DATA */
	size_t msg_len;  /* without its last line break */
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool smtp_is_loopback(const char *addr)
{
	unsigned char a[16];
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	static const unsigned char one[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	if (!addr)
		return false;
	if (!strcasecmp(addr, "localhost") || !strcasecmp(addr, "localhost."))
		return true;
	if (inet_pton(AF_INET, addr, a) == 1)
		return a[0] == 127;
	if (inet_pton(AF_INET6, addr, a) == 1)
		return !memcmp(a, one, 16) || (!memcmp(a, mapped, 12) && a[12] == 127);
	return false;
}

/* Raw bytes of HOST when it is an IPv4 or IPv6 literal: its length (4 or
 * 16), else 0. */
static unsigned ip_literal(const char *host, unsigned char out[16])
{
	if (inet_pton(AF_INET, host, out) == 1)
		return 4;
	if (inet_pton(AF_INET6, host, out) == 1)
		return 16;
	return 0;
}

/* Whether every byte of S (at most MAX bytes) is printable ASCII other
 * than those in BAD: nothing that could end the command line early or
 * add one. */
static bool clean_token(const char *s, size_t max, const char *bad)
{
	size_t n = 0;
	for (; s[n]; n++)
		if ((unsigned char)s[n] < 0x21 || (unsigned char)s[n] > 0x7E || strchr(bad, s[n]))
			return false;
	return n <= max;
}

/* envelope_ok: ADDR can go between the angle brackets of MAIL or RCPT as it
 * is. Bytes above 0x7F are looked at by the caller (SMTPUTF8). */
static bool envelope_ok(const char *addr, bool may_be_empty)
{
	if (!addr || (!*addr && !may_be_empty) || strlen(addr) > MAX_ADDRESS)
		return false;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p < 0x20 || *p == 0x7F || *p == '<' || *p == '>')
			return false;
	return true;
}

static bool ascii(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p >= 0x80)
			return false;
	return true;
}

/* reply_text: CODE and the first line of TEXT as one line in OUT, without
 * control characters, cut at a character boundary. */
static void reply_text(int code, const char *text, char out[SMTP_REPLY_MAX])
{
	char line[SMTP_REPLY_MAX * 2];
	snprintf(line, sizeof line, "%03d %.*s", code, (int)strcspn(text ? text : "", "\r\n"), text ? text : "");
	size_t n = 0;
	bool cut = false;
	for (const unsigned char *p = (const unsigned char *)line; *p; p++) {
		if (*p < 0x20 || *p == 0x7F)
			continue;
		if (n == SMTP_REPLY_MAX - 1) {
			cut = true;
			break;
		}
		out[n++] = (char)*p;
	}
	if (cut) /* not half a UTF-8 character at the end */
		while (n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0x80)
			n--;
	if (cut && n > 0 && ((unsigned char)out[n - 1] & 0xC0) == 0xC0)
		n--;
	while (n > 0 && out[n - 1] == ' ')
		n--;
	out[n] = '\0';
}

/* describe: the server's last reply, or what became of it when there was
 * none. */
static void describe(const struct smtp_conn *c, char out[SMTP_REPLY_MAX])
{
	if (c->code > 0)
		reply_text(c->code, c->text.data, out);
	else
		snprintf(out, SMTP_REPLY_MAX, "%s", c->why[0] ? c->why : "connection lost");
}

/* classify: what a reply other than the one wanted means. 4xx: later; 5xx:
 * never; none at all, a 421, or a code that answers another question (the
 * two ends no longer agree on where the dialogue is): later, on another
 * connection. */
static int classify(struct smtp_conn *c, int code)
{
	if (code >= 400 && code < 500) {
		if (code == 421)
			c->usable = false;
		return SMTP_RETRY;
	}
	if (code >= 500 && code < 600)
		return SMTP_FAIL;
	c->usable = false;
	return SMTP_RETRY;
}

/* ---- bytes in and out ----
 *
 * The socket is non-blocking: a read or write is tried first, and poll()
 * waits, until a deadline, only when it would block. Every wait is for a
 * deadline set by the caller for a whole step (a reply, a handshake), so
 * a peer sending a byte now and then cannot stretch it.
 */

enum { IO_AGAIN = -1, IO_ERROR = -2 };

/* io_recv: up to N bytes into B: their count, 0 at the end of the
 * stream, IO_AGAIN (*WANT: the poll event to wait for) or IO_ERROR. */
static ssize_t io_recv(struct smtp_conn *c, char *b, size_t n, short *want)
{
	*want = POLLIN;
	if (c->tls) {
		ssize_t r = gnutls_record_recv(c->tls, b, n);
		if (r >= 0)
			return r;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			*want = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
			return IO_AGAIN;
		}
		return r == GNUTLS_E_PREMATURE_TERMINATION ? 0 : IO_ERROR;
	}
	ssize_t r = recv(c->fd, b, n, 0);
	if (r >= 0)
		return r;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? IO_AGAIN : IO_ERROR;
}

/* io_send: some of the N bytes of B: their count, IO_AGAIN (*WANT) or
 * IO_ERROR. After IO_AGAIN over TLS the same bytes must be offered again,
 * as GnuTLS wants. */
static ssize_t io_send(struct smtp_conn *c, const char *b, size_t n, short *want)
{
	*want = POLLOUT;
	if (c->tls) {
		ssize_t r = gnutls_record_send(c->tls, b, n);
		if (r >= 0)
			return r;
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			*want = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN;
			return IO_AGAIN;
		}
		return IO_ERROR;
	}
	ssize_t r = send(c->fd, b, n, MSG_NOSIGNAL);
	if (r >= 0)
		return r;
	return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? IO_AGAIN : IO_ERROR;
}

/* io_wait: wait for EVENTS on C's socket until DEADLINE (monotonic ms):
 * 1 ready, 0 the deadline passed, -1 an error. */
static int io_wait(const struct smtp_conn *c, short events, long long deadline)
{
	for (;;) {
		long long left = deadline - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = {.fd = c->fd, .events = events};
		int r = poll(&p, 1, left > 86400000 ? 86400000 : (int)left);
		if (r > 0)
			return 1;
		if (r == 0)
			continue; /* the loop looks at the clock again */
		if (errno != EINTR)
			return -1;
	}
}

/* fill: more bytes into C->in, which has room for some: 1, or 0 at the
 * end of the stream, -1 at DEADLINE, -2 on an error. */
static int fill(struct smtp_conn *c, long long deadline)
{
	if (c->len == 0)
		c->pos = 0;
	else if (c->pos > 0) {
		memmove(c->in, c->in + c->pos, c->len);
		c->pos = 0;
	}
	for (;;) {
		short want;
		ssize_t r = io_recv(c, c->in + c->len, sizeof c->in - c->len, &want);
		if (r > 0) {
			c->len += (size_t)r;
			return 1;
		}
		if (r == 0)
			return 0;
		if (r == IO_ERROR)
			return -2;
		int w = io_wait(c, want, deadline);
		if (w <= 0)
			return w == 0 ? -1 : -2;
	}
}

/* write_all: LEN bytes of DATA. The whole write may take C->timeout
 * seconds from its start or from its last progress, and no more than
 * C->data_timeout in all: a server that stopped reading, or reads a byte
 * now and then, cannot hold the connection. false (C->why says why) on a
 * failure; the connection is then not usable. */
static bool write_all(struct smtp_conn *c, const char *data, size_t len)
{
	const long long start = now_ms(), cap = start + (long long)c->data_timeout * 1000;
	long long deadline = start + (long long)c->timeout * 1000;
	size_t off = 0;
	bool progress = false;
	while (off < len) {
		short want;
		ssize_t r = io_send(c, data + off, len - off, &want);
		if (r > 0) {
			off += (size_t)r;
			progress = true;
			continue;
		}
		if (r == IO_ERROR) {
			snprintf(c->why, sizeof c->why, "connection lost");
			c->usable = false;
			return false;
		}
		if (progress) {
			long long t = now_ms() + (long long)c->timeout * 1000;
			deadline = t < cap ? t : cap;
			progress = false;
		}
		int w = io_wait(c, want, deadline);
		if (w <= 0) {
			if (w == 0)
				snprintf(c->why, sizeof c->why, "timeout (the server read nothing in %d s)",
					 c->timeout);
			else
				snprintf(c->why, sizeof c->why, "connection lost");
			c->usable = false;
			return false;
		}
	}
	return true;
}

/* write_msg: a canonical message's LEN bytes at MSG, then CRLF "." CRLF
 * and AFTER (AFTER_LEN bytes, maybe none), on a plain connection: one
 * sendmsg of the pieces where the socket takes them, with write_all's
 * limits on time. */
static bool write_msg(struct smtp_conn *c, const char *msg, size_t len, const char *after, size_t after_len)
{
	static const char end[] = "\r\n.\r\n";
	const char *piece[3] = {msg, end, after};
	size_t size[3] = {len, sizeof end - 1, after_len};
	struct iovec iov[3] = {{(void *)msg, len}, {(void *)end, sizeof end - 1}, {(void *)after, after_len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = after_len ? 3 : 2};
	ssize_t r = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
	if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		snprintf(c->why, sizeof c->why, "connection lost");
		c->usable = false;
		return false;
	}
	size_t done = r > 0 ? (size_t)r : 0;
	for (int i = 0; i < 3; i++) { /* what the socket did not take, piece by piece */
		size_t took = done < size[i] ? done : size[i];
		done -= took;
		if (took < size[i] && !write_all(c, piece[i] + took, size[i] - took))
			return false;
	}
	return true;
}

/* ---- replies ---- */

/* lost: no reply, for the reason FMT says; the dialogue is over. */
__attribute__((format(printf, 2, 3))) static void lost(struct smtp_conn *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof c->why, fmt, ap);
	va_end(ap);
	c->code = 0;
	c->usable = false;
}

/*
 * read_reply: one reply, of one or more lines, into C->code and C->text,
 * which must come whole within TIMEOUT seconds. The reader never holds
 * more than one line of SMTP_LINE_MAX bytes (with its CRLF) and the texts
 * of one reply (SMTP_REPLY_BYTES_MAX): a server that sends more, a line
 * that is not "DDD", "DDD text" or "DDD-text", lines of one reply with
 * different codes, or nothing in time, gets code 0, C->why says what
 * happened, and the connection is not used again.
 */
static void read_reply(struct smtp_conn *c, int timeout)
{
	const long long deadline = now_ms() + (long long)timeout * 1000;
	int code = 0;
	c->code = 0;
	c->why[0] = '\0';
	c->text.len = 0;
	if (c->text.data)
		c->text.data[0] = '\0';
	for (;;) {
		char *nl = memchr(c->in + c->pos, '\n', c->len);
		if (!nl) {
			if (c->len > SMTP_LINE_MAX + 1)
				return lost(c, "a reply line over %d bytes", SMTP_LINE_MAX);
			int r = fill(c, deadline);
			if (r == 0)
				return lost(c, "connection lost");
			if (r == -1)
				return lost(c, "timeout (no reply in %d s)", timeout);
			if (r < 0)
				return lost(c, "connection lost");
			continue;
		}
		char *line = c->in + c->pos;
		size_t n = (size_t)(nl - line), took = n + 1;
		if (n > 0 && line[n - 1] == '\r')
			n--;
		if (n > SMTP_LINE_MAX)
			return lost(c, "a reply line over %d bytes", SMTP_LINE_MAX);
		c->pos += took;
		c->len -= took;
		if (n < 3 || !isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) || (n > 3 && line[3] != ' ' && line[3] != '-'))
			return lost(c, "not an SMTP reply");
		int this = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
		if (code && this != code)
			return lost(c, "not an SMTP reply (codes %03d and %03d in one reply)", code, this);
		code = this;
		if (c->text.len + (n > 4 ? n - 4 : 0) + 1 > SMTP_REPLY_BYTES_MAX)
			return lost(c, "a reply over %d bytes", SMTP_REPLY_BYTES_MAX);
		if (n > 4)
			buf_add(&c->text, line + 4, n - 4);
		buf_add(&c->text, "\n", 1);
		if (n == 3 || line[3] == ' ') {
			c->code = code;
			return;
		}
	}
}

/* command: send one command line (FMT, CRLF added) and read its reply.
 * What goes in has been checked: the line cannot be cut or split. */
__attribute__((format(printf, 2, 3))) static void command(struct smtp_conn *c, const char *fmt, ...)
{
	char line[MAX_ADDRESS + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	c->code = 0;
	snprintf(c->why, sizeof c->why, "command too long");
	if (n < 0 || (size_t)n >= sizeof line - 2)
		return;
	memcpy(line + n, "\r\n", 3);
	if (write_all(c, line, (size_t)n + 2))
		read_reply(c, c->timeout);
}

/* The extensions of an EHLO reply that matter here. */
static void parse_ehlo(struct smtp_conn *c)
{
	c->pipelining = c->smtputf8 = c->starttls = c->auth_plain = c->auth_login = false;
	char *text = xstrdup(c->text.data ? c->text.data : "");
	char *save = NULL;
	/* the first line is the server's name, not an extension */
	for (char *line = strtok_r(text, "\n", &save); (line = strtok_r(NULL, "\n", &save));) {
		char *kw_save = NULL;
		char *kw = strtok_r(line, " =", &kw_save);
		if (!kw)
			continue;
		if (!strcasecmp(kw, "STARTTLS")) {
			c->starttls = true;
		} else if (!strcasecmp(kw, "PIPELINING")) {
			c->pipelining = true;
		} else if (!strcasecmp(kw, "SMTPUTF8")) {
			c->smtputf8 = true;
		} else if (!strcasecmp(kw, "AUTH")) {
			for (char *m; (m = strtok_r(NULL, " =", &kw_save));) {
				if (!strcasecmp(m, "PLAIN"))
					c->auth_plain = true;
				else if (!strcasecmp(m, "LOGIN"))
					c->auth_login = true;
			}
		}
	}
	free(text);
}

/* hello: EHLO with NAME, HELO when the server does not know EHLO. */
static int hello(struct smtp_conn *c, const char *name, char **err)
{
	char reply[SMTP_REPLY_MAX];
	const char *verb = "EHLO";
	command(c, "EHLO %s", name);
	if (c->code == 250) {
		parse_ehlo(c);
		return SMTP_OK;
	}
	if (c->code >= 500 && c->code < 600) {
		verb = "HELO";
		command(c, "HELO %s", name);
		if (c->code == 250) {
			c->pipelining = c->smtputf8 = c->starttls = c->auth_plain = c->auth_login = false;
			return SMTP_OK;
		}
	}
	describe(c, reply);
	errf(err, "%s: %s: %s", c->where, verb, reply);
	return classify(c, c->code);
}

/* helo_name: the EHLO name in OUT: the configured one, else the host name. */
static bool helo_name(const char *helo, char out[256])
{
	if (helo && *helo) {
		if (strlen(helo) > 255 || !clean_token(helo, 255, "<>\"\\"))
			return false;
		snprintf(out, 256, "%s", helo);
		return true;
	}
	if (gethostname(out, 256) != 0 || !out[0] || !clean_token(out, 255, "<>\"\\"))
		snprintf(out, 256, "localhost");
	out[255] = '\0';
	return true;
}

/* wait_connected: the outcome of a non-blocking connect on FD within
 * TIMEOUT seconds, as an errno value (0: connected). */
static int wait_connected(int fd, int timeout)
{
	long long deadline = now_ms() + (long long)timeout * 1000;
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLOUT};
		long long left = deadline - now_ms();
		if (left <= 0)
			return ETIMEDOUT;
		int r = poll(&p, 1, (int)left);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return errno;
		if (r == 0)
			return ETIMEDOUT;
		int e = 0;
		socklen_t len = sizeof e;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
			return errno;
		return e;
	}
}

/* tcp_connect: a connected, non-blocking socket to the first address of
 * O->host that answers within the timeout (each address has its own). */
static int tcp_connect(struct smtp_conn *c, const struct smtp_opts *o, char **err)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char port[8];
	int fd = -1, e = 0, st = SMTP_RETRY;
	snprintf(port, sizeof port, "%d", o->port);
	int r = getaddrinfo(o->host, port, &hints, &res);
	if (r != 0) {
		/* a name that does not resolve may be a passing DNS failure:
		 * the messages wait rather than fail */
		errf(err, "%s: connect: %s", c->where, r == EAI_SYSTEM ? strerror(errno) : gai_strerror(r));
		goto out;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
		if (fd < 0) {
			e = errno;
			continue;
		}
		e = connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ? 0 : errno;
		if (e == EINPROGRESS)
			e = wait_connected(fd, c->timeout);
		if (e == 0)
			break;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		if (e == ETIMEDOUT)
			errf(err, "%s: connect: timeout (%d s)", c->where, c->timeout);
		else
			errf(err, "%s: connect: %s", c->where, strerror(e ? e : ECONNREFUSED));
		goto out;
	}
	/* each command is one write then a read; without this the last
	 * segment of a message can wait for a delayed ACK */
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	char ip[INET6_ADDRSTRLEN] = "";
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 &&
	    getnameinfo((struct sockaddr *)&peer, plen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) == 0)
		c->loopback = smtp_is_loopback(ip);
	log_debug("%s: connected to %s", c->where, ip);
	c->fd = fd;
	st = SMTP_OK;
out:
	if (res)
		freeaddrinfo(res);
	return st;
}

/* verify_peer: the certificate chain the server sent, checked for
 * O->host against the system CAs (or O->ca_file). */
static int verify_peer(struct smtp_conn *c, const struct smtp_opts *o, const char *step, char **err)
{
	unsigned count = 0;
	const gnutls_datum_t *peers = gnutls_certificate_get_peers(c->tls, &count);
	struct cert_der chain[CERTCHECK_MAX_CHAIN];
	unsigned n = 0;
	for (; peers && n < count && n < CERTCHECK_MAX_CHAIN; n++)
		chain[n] = (struct cert_der){peers[n].data, peers[n].size};
	char *where = xasprintf("%s: %s", c->where, step);
	int rc = certcheck_chain(chain, n, o->host, o->ca_file, where, err);
	free(where);
	return rc == 0 ? SMTP_OK : SMTP_FAIL;
}

/* tls_start: the TLS handshake on C's socket (SNI for a host name), within
 * the timeout, then the certificate check unless !O->tls_verify. */
static int tls_start(struct smtp_conn *c, const struct smtp_opts *o, const char *step, enum smtp_refusal *why,
		     char **err)
{
	unsigned char ip[16];
	int r;
	if ((r = gnutls_certificate_allocate_credentials(&c->cred)) < 0 ||
	    (r = gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0 ||
	    (r = gnutls_set_default_priority(c->tls)) < 0 ||
	    (r = gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred)) < 0 ||
	    (!ip_literal(o->host, ip) &&
	     (r = gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, o->host, strlen(o->host))) < 0)) {
		errf(err, "%s: %s: %s", c->where, step, gnutls_strerror(r));
		return SMTP_RETRY;
	}
	gnutls_transport_set_int(c->tls, c->fd);
	const long long deadline = now_ms() + (long long)c->timeout * 1000;
	while ((r = gnutls_handshake(c->tls)) < 0) {
		if (gnutls_error_is_fatal(r)) {
			errf(err, "%s: %s: handshake failed: %s", c->where, step, gnutls_strerror(r));
			return SMTP_RETRY;
		}
		int w = io_wait(c, gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN, deadline);
		if (w <= 0) {
			if (w == 0)
				errf(err, "%s: %s: handshake timeout (%d s)", c->where, step, c->timeout);
			else
				errf(err, "%s: %s: handshake failed: connection lost", c->where, step);
			return SMTP_RETRY;
		}
	}
	c->encrypted = true;
	if (o->tls_verify && verify_peer(c, o, step, err) != SMTP_OK) {
		if (why)
			*why = SMTP_REFUSED_CERTIFICATE;
		return SMTP_FAIL;
	}
	return SMTP_OK;
}

/* starttls: STARTTLS, the handshake on the same socket, the certificate
 * check, and EHLO again (RFC 3207 forgets what came before). */
static int starttls(struct smtp_conn *c, const struct smtp_opts *o, const char *helo, enum smtp_refusal *why,
		    char **err)
{
	char reply[SMTP_REPLY_MAX];
	if (!c->starttls) {
		errf(err, "%s: STARTTLS: the server does not offer it (security = \"starttls\")", c->where);
		return SMTP_FAIL;
	}
	command(c, "STARTTLS");
	if (c->code != 220) {
		describe(c, reply);
		errf(err, "%s: STARTTLS: %s", c->where, reply);
		return classify(c, c->code);
	}
	/* Bytes that came after the 220 were sent in the clear: read after the
	 * handshake they would pass for the server's (CVE-2011-0411). */
	if (c->len) {
		errf(err, "%s: STARTTLS: the server sent data before the TLS handshake", c->where);
		return SMTP_FAIL;
	}
	int st = tls_start(c, o, "STARTTLS", why, err);
	if (st == SMTP_OK)
		st = hello(c, helo, err);
	return st;
}

/* b64: base64 of LEN bytes of S, malloc'd (NUL-terminated), or NULL. */
static char *b64(const char *s, size_t len)
{
	gnutls_datum_t in = {(unsigned char *)s, (unsigned)len}, out = {NULL, 0};
	if (gnutls_base64_encode2(&in, &out) < 0)
		return NULL;
	char *r = xstrndup((const char *)out.data, out.size);
	explicit_bzero(out.data, out.size);
	gnutls_free(out.data);
	return r;
}

/* secret_line: send LINE (a command holding a secret) with CRLF, wipe
 * what held it, and read the reply. */
static void secret_line(struct smtp_conn *c, char *line)
{
	size_t n = strlen(line);
	c->code = 0;
	if (n + 2 > MAX_AUTH_LINE) {
		snprintf(c->why, sizeof c->why, "the user name or password is too long");
	} else {
		char *l = xmalloc(n + 3);
		memcpy(l, line, n);
		memcpy(l + n, "\r\n", 3);
		if (write_all(c, l, n + 2))
			read_reply(c, c->timeout);
		explicit_bzero(l, n + 2);
		free(l);
	}
	explicit_bzero(line, n);
	free(line);
}

/* auth: AUTH PLAIN (RFC 4616), or LOGIN when that is all the server
 * offers. Never over a clear connection to a host that is not loopback. */
static int auth(struct smtp_conn *c, const struct smtp_opts *o, enum smtp_refusal *why, char **err)
{
	char reply[SMTP_REPLY_MAX];
	const char *user = o->username, *pass = o->password ? o->password : "";
	if (!c->encrypted && !c->loopback) {
		errf(err, "%s: AUTH: not sending the password over an unencrypted connection to a host that is "
			  "not loopback (security = starttls or tls)",
		     c->where);
		return SMTP_FAIL;
	}
	if (!c->auth_plain && !c->auth_login) {
		errf(err, "%s: AUTH: the server offers neither PLAIN nor LOGIN", c->where);
		return SMTP_FAIL;
	}
	const char *mech = c->auth_plain ? "PLAIN" : "LOGIN";
	if (c->auth_plain) {
		size_t ul = strlen(user), pl = strlen(pass);
		char *raw = xmalloc(ul + pl + 2);
		raw[0] = '\0';
		memcpy(raw + 1, user, ul);
		raw[ul + 1] = '\0';
		memcpy(raw + ul + 2, pass, pl);
		char *enc = b64(raw, ul + pl + 2);
		explicit_bzero(raw, ul + pl + 2);
		free(raw);
		if (!enc) {
			errf(err, "%s: AUTH PLAIN: cannot encode the credentials", c->where);
			return SMTP_FAIL;
		}
		char *line = xasprintf("AUTH PLAIN %s", enc);
		explicit_bzero(enc, strlen(enc));
		free(enc);
		secret_line(c, line);
	} else {
		command(c, "AUTH LOGIN");
		for (int step = 0; step < 2 && c->code == 334; step++) {
			const char *v = step == 0 ? user : pass;
			char *enc = b64(v, strlen(v));
			if (!enc) {
				errf(err, "%s: AUTH LOGIN: cannot encode the credentials", c->where);
				c->usable = false;
				return SMTP_FAIL;
			}
			secret_line(c, enc);
		}
	}
	if (c->code == 235)
		return SMTP_OK;
	describe(c, reply);
	if (c->code >= 500 && c->code < 600) {
		errf(err, "%s: AUTH %s: %s", c->where, mech, reply);
		if (why)
			*why = SMTP_REFUSED_LOGIN;
		return SMTP_FAIL;
	}
	errf(err, "%s: AUTH %s: %s", c->where, mech, reply);
	if (c->code >= 200 && c->code < 400) { /* a step of the exchange we did not expect */
		c->usable = false;
		return SMTP_FAIL;
	}
	return classify(c, c->code);
}

/* new_conn: a connection not yet open, for O. */
static struct smtp_conn *new_conn(const struct smtp_opts *o)
{
	struct smtp_conn *c = xcalloc(1, sizeof *c);
	c->fd = -1;
	c->timeout = o->timeout > 0 ? o->timeout : DEFAULT_TIMEOUT;
	c->data_timeout = o->data_timeout > 0 ? o->data_timeout : DEFAULT_DATA_TIMEOUT;
	if (o->host && strchr(o->host, ':'))
		c->where = xasprintf("smtp [%s]:%d", o->host, o->port);
	else
		c->where = xasprintf("smtp %s:%d", o->host ? o->host : "", o->port);
	return c;
}

static int session(struct smtp_conn *c, const struct smtp_opts *o, const char *helo, struct smtp_conn **out,
		   enum smtp_refusal *why, char **err);

int smtp_open(const struct smtp_opts *o, struct smtp_conn **out, enum smtp_refusal *why, char **err)
{
	struct smtp_conn *c = new_conn(o);
	char helo[256];
	int st = SMTP_FAIL;
	*out = NULL;
	if (!o->host || !*o->host || o->port <= 0 || o->port > 65535) {
		errf(err, "%s: no host or no port", c->where);
		goto fail;
	}
	if (!helo_name(o->helo, helo)) {
		errf(err, "%s: EHLO: the name is not a host name", c->where);
		goto fail;
	}
	if ((st = tcp_connect(c, o, err)) != SMTP_OK)
		goto fail;
	return session(c, o, helo, out, why, err);
fail:
	if (why)
		*why = st == SMTP_FAIL ? SMTP_REFUSED_SERVER : SMTP_REFUSED_NONE;
	smtp_close(c);
	return st;
}

int smtp_open_fd(int fd, const struct smtp_opts *o, struct smtp_conn **out, enum smtp_refusal *why, char **err)
{
	char helo[256];
	struct smtp_conn *c = new_conn(o);
	*out = NULL;
	c->fd = fd;
	c->loopback = true;
	if (!helo_name(o->helo, helo)) {
		errf(err, "%s: EHLO: the name is not a host name", c->where);
		if (why)
			*why = SMTP_REFUSED_SERVER;
		smtp_close(c);
		return SMTP_FAIL;
	}
	return session(c, o, helo, out, why, err);
}

/* session: the dialogue from the greeting to AUTH on C's connected
 * socket: TLS at once or after STARTTLS, EHLO, AUTH. SMTP_OK and *OUT,
 * or C is closed. */
static int session(struct smtp_conn *c, const struct smtp_opts *o, const char *helo, struct smtp_conn **out,
		   enum smtp_refusal *why, char **err)
{
	char reply[SMTP_REPLY_MAX];
	int st;
	enum smtp_refusal refusal = SMTP_REFUSED_NONE;
	if (o->security == SMTP_SEC_TLS && (st = tls_start(c, o, "TLS", &refusal, err)) != SMTP_OK)
		goto fail;
	read_reply(c, c->timeout);
	if (c->code != 220) {
		describe(c, reply);
		errf(err, "%s: greeting: %s", c->where, reply);
		st = classify(c, c->code);
		goto fail;
	}
	if ((st = hello(c, helo, err)) != SMTP_OK)
		goto fail;
	if (o->security == SMTP_SEC_STARTTLS && (st = starttls(c, o, helo, &refusal, err)) != SMTP_OK)
		goto fail;
	if (o->username && *o->username && (st = auth(c, o, &refusal, err)) != SMTP_OK)
		goto fail;
	c->usable = true;
	*out = c;
	if (why)
		*why = SMTP_REFUSED_NONE;
	return SMTP_OK;
fail:
	if (why)
		*why = st != SMTP_FAIL ? SMTP_REFUSED_NONE : refusal != SMTP_REFUSED_NONE ? refusal : SMTP_REFUSED_SERVER;
	c->usable = false;
	smtp_close(c);
	return st;
}

/* reset: RSET after a refused transaction, when the connection can go on. */
static void reset(struct smtp_conn *c)
{
	if (c->usable) {
		command(c, "RSET");
		if (c->code != 250)
			c->usable = false;
	}
}

/* refused: the status of a transaction that got another answer than the
 * one it wanted, described in REPLY; RSET when the connection can go on. */
static int refused(struct smtp_conn *c, char reply[SMTP_REPLY_MAX])
{
	describe(c, reply);
	int st = classify(c, c->code);
	reset(c);
	return st;
}

/* stuff: into OUT, MSG (LEN bytes, its own last line break already taken
 * off) as DATA carries it: each line end CRLF (a lone CR or LF becomes
 * one), a dot doubled at the start of a line, then CRLF "." CRLF. In one
 * buffer, to leave in one write; line by line with memchr and memcpy, as
 * this runs over every byte of every message. */
static void stuff(struct buf *out, const char *msg, size_t len)
{
	size_t cap = 2 * len + 6; /* at worst every byte a lone line end, or a dot doubled */
	if (out->cap < cap) {
		out->data = xrealloc(out->data, cap);
		out->cap = cap;
	}
	char *o = out->data;
	const char *p = msg, *end = msg + len;
	while (p < end) {
		if (*p == '.') /* at the start of a line */
			*o++ = '.';
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *stop = nl ? nl : end;
		const char *cr = memchr(p, '\r', (size_t)(stop - p));
		if (cr && cr + 1 != nl) { /* a lone CR ends a line */
			memcpy(o, p, (size_t)(cr - p));
			o += cr - p;
			memcpy(o, "\r\n", 2);
			o += 2;
			p = cr + 1;
			continue;
		}
		size_t n = (size_t)((cr ? cr : stop) - p);
		memcpy(o, p, n);
		o += n;
		if (nl) {
			memcpy(o, "\r\n", 2);
			o += 2;
			p = nl + 1;
		} else {
			p = end;
		}
	}
	memcpy(o, "\r\n.\r\n", 6); /* with the NUL a buf ends with */
	out->len = (size_t)(o - out->data) + 5;
}

/* stuff_canonical: MSG (LEN bytes, canonical: nothing to stuff) and the
 * final dot into OUT. */
static void stuff_canonical(struct buf *out, const char *msg, size_t len)
{
	if (out->cap < len + 6) {
		out->data = xrealloc(out->data, len + 6);
		out->cap = len + 6;
	}
	memcpy(out->data, msg, len);
	memcpy(out->data + len, "\r\n.\r\n", 6);
	out->len = len + 5;
}

/* sync_lost: whether the server has sent more than the replies asked for
 * (bytes already read that no command asked for): the two ends no longer
 * agree on which reply answers which command, and the connection must not
 * be used again. Checked where a transaction ends. */
static bool sync_lost(struct smtp_conn *c)
{
	if (c->len == 0)
		return false;
	c->usable = false;
	return true;
}

/* envelope: MAIL FROM, RCPT TO and DATA one after the other, each waiting
 * for its reply. SMTP_OK when DATA got its 354. */
static int envelope(struct smtp_conn *c, const char *from, const char *param, const char *rcpt,
		    char reply[SMTP_REPLY_MAX])
{
	c->stage = SMTP_STAGE_SENDER;
	command(c, "MAIL FROM:<%s>%s", from, param);
	if (c->code / 100 != 2)
		return refused(c, reply);
	c->stage = SMTP_STAGE_RECIPIENT;
	command(c, "RCPT TO:<%s>", rcpt);
	if (c->code / 100 != 2)
		return refused(c, reply);
	c->stage = SMTP_STAGE_MESSAGE;
	command(c, "DATA");
	if (c->code != 354)
		return refused(c, reply);
	return SMTP_OK;
}

/* An envelope checked and ready to go: its commands, for one write when
 * the server offers PIPELINING, and the message they announce. */
struct envelope {
	const char *from, *param, *rcpt;
	char group[2 * MAX_ADDRESS + 64]; /* MAIL FROM, RCPT TO and DATA */
	size_t group_len;
	const char *msg;
	size_t len;     /* without the message's own last line break */
	bool canonical; /* MSG goes as it is (SMTP_CANONICAL) */
};

/*
 * read_envelope: the replies to E's three commands, written in one group,
 * in order. Every reply is read, as RFC 2920 wants: the first one that is
 * not the one wanted says what failed (its stage, its class); the others
 * are the server's business, but for a 354 to DATA after a refusal (a
 * server may accept DATA with no recipient), answered by the lone dot that
 * ends an empty message, whose reply is ignored. Then RSET, as after any
 * refused transaction. A message that is not canonical is stuffed into
 * C->data while the server reads the commands.
 */
static int read_envelope(struct smtp_conn *c, const struct envelope *e, char reply[SMTP_REPLY_MAX])
{
	static const enum smtp_stage stages[3] = {SMTP_STAGE_SENDER, SMTP_STAGE_RECIPIENT, SMTP_STAGE_MESSAGE};
	c->stage = SMTP_STAGE_SENDER;
	if (!e->canonical)
		stuff(&c->data, e->msg, e->len);
	int st = SMTP_OK;
	for (int i = 0; i < 3; i++) {
		read_reply(c, c->timeout);
		int code = c->code;
		bool wanted = i < 2 ? code / 100 == 2 : code == 354;
		if (st == SMTP_OK) {
			if (!wanted) {
				c->stage = stages[i];
				describe(c, reply);
				st = classify(c, code);
			}
		} else if (code == 0 || code == 421) {
			c->usable = false; /* after a refusal: that one still says what failed */
		} else if (i == 2 && code == 354) {
			/* DATA accepted after a refused MAIL or RCPT: end the empty
			 * message, whose refusal (or acceptance) changes nothing */
			c->code = 0;
			if (write_all(c, ".\r\n", 3))
				read_reply(c, c->timeout);
			if (c->code == 0 || c->code == 421)
				c->usable = false;
		}
		if (!c->usable) /* no further reply to wait for */
			return st == SMTP_OK ? SMTP_RETRY : st;
	}
	if (st != SMTP_OK)
		reset(c);
	return st;
}

/* envelope_pipelined: E's three commands in one write (RFC 2920: DATA
 * may end a group, MAIL and RCPT may be anywhere in it), then their
 * replies. */
static int envelope_pipelined(struct smtp_conn *c, const struct envelope *e, char reply[SMTP_REPLY_MAX])
{
	c->stage = SMTP_STAGE_SENDER;
	c->code = 0;
	if (!write_all(c, e->group, e->group_len))
		return refused(c, reply);
	return read_envelope(c, e, reply);
}

/* envelope_check: E for FROM, RCPT and MSG, checked before anything goes
 * out: SMTP_OK, or the status of a message that cannot go (REPLY says
 * why; C->stage what it is about). */
static int envelope_check(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
			  unsigned flags, struct envelope *e, char reply[SMTP_REPLY_MAX])
{
	c->stage = SMTP_STAGE_SENDER;
	if (!envelope_ok(from, true)) {
		snprintf(reply, SMTP_REPLY_MAX, "invalid sender address");
		return SMTP_FAIL;
	}
	c->stage = SMTP_STAGE_RECIPIENT;
	if (!envelope_ok(rcpt, false)) {
		snprintf(reply, SMTP_REPLY_MAX, "invalid recipient address");
		return SMTP_FAIL;
	}
	/* Without SMTPUTF8 (RFC 6531) an address must be ASCII; that is
	 * about this server, not the reader's mailbox: no bounce. */
	const bool utf8 = !ascii(from) || !ascii(rcpt);
	c->stage = SMTP_STAGE_MESSAGE;
	if (utf8 && !c->smtputf8) {
		snprintf(reply, SMTP_REPLY_MAX, "non-ASCII address: the server does not offer SMTPUTF8");
		return SMTP_FAIL;
	}
	if (!msg && len) {
		snprintf(reply, SMTP_REPLY_MAX, "no message");
		return SMTP_FAIL;
	}
	e->from = from;
	e->rcpt = rcpt;
	e->param = utf8 ? " SMTPUTF8" : "";
	int n = snprintf(e->group, sizeof e->group, "MAIL FROM:<%s>%s\r\nRCPT TO:<%s>\r\nDATA\r\n", from, e->param,
			 rcpt);
	if (n < 0 || (size_t)n >= sizeof e->group) {
		snprintf(reply, SMTP_REPLY_MAX, "invalid recipient address");
		return SMTP_FAIL;
	}
	e->group_len = (size_t)n;
	/* The data ends with CRLF "." CRLF whatever the message ends with:
	 * without its own last line break the message arrives as it is,
	 * rather than with an empty line added. */
	if (len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n')
		len -= 2;
	else if (len >= 1 && msg[len - 1] == '\n')
		len--;
	e->msg = msg ? msg : "";
	e->len = len;
	/* A canonical message (CRLF line ends only, no line that begins with
	 * a dot: what the renderer writes) is what DATA carries already: it
	 * is not copied, and goes from the caller's memory. */
	e->canonical = (flags & SMTP_CANONICAL) && msg;
	return SMTP_OK;
}

/* envelope_open: the server waits for E's text (its 354 came): the text
 * goes with its final dot at the transaction's end. */
static void envelope_open(struct smtp_conn *c, const struct envelope *e)
{
	c->msg = e->canonical ? e->msg : NULL;
	c->msg_len = e->len;
	c->in_data = true;
}

int smtp_begin(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
	       char reply[SMTP_REPLY_MAX])
{
	return smtp_begin_flags(c, from, rcpt, msg, len, 0, reply);
}

int smtp_begin_flags(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
		     unsigned flags, char reply[SMTP_REPLY_MAX])
{
	reply[0] = '\0';
	if (c)
		c->stage = SMTP_STAGE_SENDER;
	if (!c || !c->usable || c->in_data) {
		snprintf(reply, SMTP_REPLY_MAX, "connection not usable");
		return SMTP_RETRY;
	}
	struct envelope e;
	int st = envelope_check(c, from, rcpt, msg, len, flags, &e, reply);
	if (st != SMTP_OK)
		return st;
	if (c->pipelining) {
		st = envelope_pipelined(c, &e, reply);
	} else {
		st = envelope(c, e.from, e.param, e.rcpt, reply);
		if (st == SMTP_OK && !e.canonical)
			stuff(&c->data, e.msg, e.len);
	}
	if (st != SMTP_OK)
		return st;
	/* The server waits for the text, which goes with its final dot in
	 * smtp_finish: one write, one segment train, rather than the dot on
	 * its own. */
	envelope_open(c, &e);
	return SMTP_OK;
}

/* write_end: the open transaction's text and final dot, and AFTER
 * (AFTER_LEN bytes: the next envelope, or nothing) in the same write.
 * false when the connection broke (C->why says how). */
static bool write_end(struct smtp_conn *c, const char *after, size_t after_len)
{
	bool wrote;
	if (c->msg && !c->tls) {
		wrote = write_msg(c, c->msg, c->msg_len, after, after_len);
	} else {
		if (c->msg) /* GnuTLS takes one buffer at a time: one copy */
			stuff_canonical(&c->data, c->msg, c->msg_len);
		if (after_len) /* C->data: the text and ".\r\n", then AFTER */
			buf_add(&c->data, after, after_len);
		wrote = write_all(c, c->data.data, c->data.len);
	}
	c->msg = NULL;
	return wrote;
}

/* end_reply: the outcome of a final dot that went out: its reply within
 * data_timeout, or SMTP_MAYBE. A refusal ends the transaction (the
 * server has reset it); RSET follows unless PIPELINED, where the next
 * envelope is on its way already. */
static int end_reply(struct smtp_conn *c, bool pipelined, char reply[SMTP_REPLY_MAX])
{
	/* From here the server may have the message: a reply that does not
	 * come back is no proof that it was not delivered. */
	read_reply(c, c->data_timeout);
	if (c->code == 0) {
		describe(c, reply);
		size_t n = strlen(reply);
		snprintf(reply + n, SMTP_REPLY_MAX - n, " after the final dot: may have been delivered");
		return SMTP_MAYBE;
	}
	if (c->code / 100 != 2) {
		if (!pipelined)
			return refused(c, reply);
		describe(c, reply);
		return classify(c, c->code);
	}
	reply_text(c->code, c->text.data, reply);
	return SMTP_OK;
}

/* finish_start: the checks before the final dot of the open transaction:
 * SMTP_OK, or SMTP_RETRY with REPLY. */
static int finish_start(struct smtp_conn *c, char reply[SMTP_REPLY_MAX])
{
	reply[0] = '\0';
	if (!c || !c->in_data) {
		snprintf(reply, SMTP_REPLY_MAX, "no transaction to finish");
		return SMTP_RETRY;
	}
	c->in_data = false;
	c->stage = SMTP_STAGE_MESSAGE;
	c->code = 0;
	/* A reply before the dot answers nothing we sent: the server is not
	 * reading what we think. Nothing is handed over. */
	if (sync_lost(c)) {
		snprintf(reply, SMTP_REPLY_MAX, "a reply to no command before the end of the message");
		return SMTP_RETRY;
	}
	return SMTP_OK;
}

int smtp_finish(struct smtp_conn *c, char reply[SMTP_REPLY_MAX])
{
	int st = finish_start(c, reply);
	if (st != SMTP_OK)
		return st;
	if (!write_end(c, NULL, 0))
		return refused(c, reply);
	st = end_reply(c, false, reply);
	if (st == SMTP_OK)
		sync_lost(c); /* delivered; but a second reply makes the connection unusable */
	return st;
}

/*
 * smtp_finish_next: smtp_finish, with the envelope of the next message in
 * the same write when the server offers PIPELINING: RFC 2920 lets a
 * message's text begin a group that the next DATA ends. The replies come
 * in order: the final dot's (the status returned, with REPLY), then the
 * next envelope's (*NEXT_ST and NEXT_REPLY, as smtp_begin_flags would
 * give them). The dot's reply is read first and means the same as
 * smtp_finish's; when it does not come, the next message was not begun
 * (SMTP_RETRY). Without PIPELINING: smtp_finish, then smtp_begin_flags.
 */
int smtp_finish_next(struct smtp_conn *c, char reply[SMTP_REPLY_MAX], const char *from, const char *rcpt,
		     const char *msg, size_t len, unsigned flags, char next_reply[SMTP_REPLY_MAX], int *next_st)
{
	next_reply[0] = '\0';
	struct envelope e;
	if (!c || !c->pipelining || !c->in_data) {
		int st = smtp_finish(c, reply);
		*next_st = smtp_begin_flags(c, from, rcpt, msg, len, flags, next_reply);
		return st;
	}
	*next_st = envelope_check(c, from, rcpt, msg, len, flags, &e, next_reply);
	const enum smtp_stage next_stage = c->stage;
	int st = finish_start(c, reply);
	if (st != SMTP_OK) {
		snprintf(next_reply, SMTP_REPLY_MAX, "connection not usable");
		*next_st = SMTP_RETRY;
		return st;
	}
	const bool both = *next_st == SMTP_OK;
	if (!write_end(c, both ? e.group : NULL, both ? e.group_len : 0)) {
		st = refused(c, reply);
		if (both) {
			snprintf(next_reply, SMTP_REPLY_MAX, "%s", reply);
			*next_st = SMTP_RETRY;
		}
		return st;
	}
	st = end_reply(c, both, reply);
	if (!both) { /* the next message cannot go: said without a word to the server */
		if (st == SMTP_OK)
			sync_lost(c);
		c->stage = next_stage;
		return st;
	}
	if (!c->usable) { /* no dot reply, or a 421: the next envelope is lost with it */
		snprintf(next_reply, SMTP_REPLY_MAX, "connection lost before the envelope's replies");
		*next_st = SMTP_RETRY;
		return st;
	}
	*next_st = read_envelope(c, &e, next_reply);
	if (*next_st == SMTP_OK)
		envelope_open(c, &e);
	return st;
}

void smtp_abandon(struct smtp_conn *c)
{
	if (!c || !c->in_data)
		return;
	/* the server takes whatever comes now for message text: closing the
	 * connection before the final dot is the way to drop the message */
	c->in_data = false;
	c->usable = false;
	c->msg = NULL;
	if (c->fd >= 0) {
		shutdown(c->fd, SHUT_RDWR);
	}
}

int smtp_send(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
	      char reply[SMTP_REPLY_MAX])
{
	int st = smtp_begin(c, from, rcpt, msg, len, reply);
	return st == SMTP_OK ? smtp_finish(c, reply) : st;
}

bool smtp_usable(const struct smtp_conn *c) { return c && c->usable; }

enum smtp_stage smtp_last_stage(const struct smtp_conn *c) { return c ? c->stage : SMTP_STAGE_SENDER; }

void smtp_close(struct smtp_conn *c)
{
	if (!c)
		return;
	smtp_abandon(c); /* no QUIT as message text */
	if (c->fd >= 0 && c->usable) {
		c->timeout = c->timeout < QUIT_WAIT ? c->timeout : QUIT_WAIT;
		c->data_timeout = c->timeout;
		command(c, "QUIT");
		if (c->tls)
			gnutls_bye(c->tls, GNUTLS_SHUT_WR); /* non-blocking: at most one try */
	}
	if (c->tls)
		gnutls_deinit(c->tls);
	if (c->cred)
		gnutls_certificate_free_credentials(c->cred);
	if (c->fd >= 0)
		close(c->fd);
	buf_free(&c->data);
	buf_free(&c->text);
	free(c->where);
	free(c);
}

/* ---- the smtp transport (transport.h) ---- */

struct smtp_state {
	struct smtp_opts opts;
	char *password;
};

/* read_password: the AUTH password from delivery.smtp.password_file, else
 * $DIGEST_SMTP_PASSWORD; none without a user name. */
static int read_password(const struct smtp_config *sm, char **out, char **err)
{
	*out = NULL;
	if (!sm->username || !*sm->username)
		return 0;
	const char *env = getenv("DIGEST_SMTP_PASSWORD");
	if (!sm->password_file && env) {
		*out = xstrdup(env);
		return 0;
	}
	if (!sm->password_file)
		return errf(err, "delivery.smtp.username is set but neither delivery.smtp.password_file nor "
				 "$DIGEST_SMTP_PASSWORD gives a password");
	return secret_file_line(sm->password_file, "delivery.smtp.password_file", out, err);
}

static int tx_init(const struct config *cfg, void **state, char **err)
{
	const struct smtp_config *sm = &cfg->delivery.smtp;
	struct smtp_state *s = xcalloc(1, sizeof *s);
	if (read_password(sm, &s->password, err) < 0) {
		free(s);
		return -1;
	}
	s->opts.host = sm->host;
	s->opts.port = sm->port;
	s->opts.security = sm->security == SECURITY_TLS	       ? SMTP_SEC_TLS
			   : sm->security == SECURITY_STARTTLS ? SMTP_SEC_STARTTLS
							       : SMTP_SEC_NONE;
	s->opts.username = sm->username;
	s->opts.password = s->password;
	s->opts.helo = sm->helo;
	s->opts.timeout = sm->timeout;
	s->opts.data_timeout = sm->data_timeout;
	s->opts.tls_verify = sm->tls_verify;
	s->opts.ca_file = sm->ca_file;
	*state = s;
	return 0;
}

static void tx_done(void *state)
{
	struct smtp_state *s = state;
	if (!s)
		return;
	if (s->password) {
		explicit_bzero(s->password, strlen(s->password));
		free(s->password);
	}
	free(s);
}

static int tx_open(void *state, void **conn, enum tx_refusal *why, char **err)
{
	struct smtp_state *s = state;
	enum smtp_refusal r = SMTP_REFUSED_NONE;
	struct smtp_conn *c = NULL;
	int st = smtp_open(&s->opts, &c, &r, err);
	*conn = c;
	*why = r == SMTP_REFUSED_LOGIN		? TX_REFUSED_LOGIN
	       : r == SMTP_REFUSED_CERTIFICATE	? TX_REFUSED_CERTIFICATE
	       : r == SMTP_REFUSED_SERVER	? TX_REFUSED_SERVER
					: TX_REFUSED_NONE;
	return st == SMTP_OK ? TX_OK : st == SMTP_FAIL ? TX_FAIL : TX_RETRY;
}

/* tx_status: the transport's status for an smtp one. */
static enum tx_status tx_status(int st)
{
	return st == SMTP_OK ? TX_OK : st == SMTP_FAIL ? TX_FAIL : st == SMTP_MAYBE ? TX_MAYBE : TX_RETRY;
}

static void tx_result(const struct smtp_conn *c, int st, const char *reply, struct tx_result *res)
{
	snprintf(res->reply, sizeof res->reply, "%s", reply);
	enum smtp_stage stage = smtp_last_stage(c);
	res->about = stage == SMTP_STAGE_SENDER	     ? TX_ABOUT_SENDER
		     : stage == SMTP_STAGE_RECIPIENT ? TX_ABOUT_RECIPIENT
						     : TX_ABOUT_MESSAGE;
	res->status = tx_status(st);
}

/* wire_rcpt: RCPT as the envelope carries it, its domain in A-label form
 * (SPEC "Addresses"): an IDN domain needs no SMTPUTF8, only a non-ASCII
 * local part does. *WIRE (to free) is NULL when RCPT is that already. -1
 * (RES says why: not the mailbox's doing, no bounce) when it has none. */
static int wire_rcpt(const char *rcpt, char **wire, struct tx_result *res)
{
	char *err = NULL;
	*wire = NULL;
	if (address_domain_ascii(rcpt) || address_ascii_domain(rcpt, wire, &err) == 0)
		return 0;
	snprintf(res->reply, sizeof res->reply, "%s", err);
	free(err);
	res->about = TX_ABOUT_MESSAGE;
	res->status = TX_FAIL;
	return -1;
}

static int tx_begin(void *conn, const char *from, const char *rcpt, const char *msg, size_t len,
		    unsigned flags, struct tx_result *res)
{
	char reply[SMTP_REPLY_MAX];
	char *wire;
	if (wire_rcpt(rcpt, &wire, res) < 0)
		return res->status;
	int st = smtp_begin_flags(conn, from, wire ? wire : rcpt, msg, len,
				  flags & TX_CANONICAL ? SMTP_CANONICAL : 0, reply);
	free(wire);
	tx_result(conn, st, reply, res);
	return res->status;
}

static int tx_finish(void *conn, const char *msg, size_t len, struct tx_result *res)
{
	(void)msg;
	(void)len;
	char reply[SMTP_REPLY_MAX];
	int st = smtp_finish(conn, reply);
	tx_result(conn, st, reply, res);
	return res->status;
}

static void tx_finish_next(void *conn, const char *msg, size_t len, struct tx_result *res, const char *from,
			   const char *rcpt, const char *next, size_t next_len, unsigned flags,
			   struct tx_result *next_res)
{
	char *wire;
	if (wire_rcpt(rcpt, &wire, next_res) < 0) {
		tx_finish(conn, msg, len, res);
		return;
	}
	char reply[SMTP_REPLY_MAX], next_reply[SMTP_REPLY_MAX];
	int next_st;
	int st = smtp_finish_next(conn, reply, from, wire ? wire : rcpt, next, next_len,
				  flags & TX_CANONICAL ? SMTP_CANONICAL : 0, next_reply, &next_st);
	free(wire);
	/* the finished message's failure is about itself: it got past its
	 * envelope; the stage the connection shows is the next one's */
	snprintf(res->reply, sizeof res->reply, "%s", reply);
	res->about = TX_ABOUT_MESSAGE;
	res->status = tx_status(st);
	tx_result(conn, next_st, next_reply, next_res);
}

void smtp_describe(const struct smtp_conn *c, struct buf *out)
{
	if (c->tls) {
		const char *v = gnutls_protocol_get_name(gnutls_protocol_get_version(c->tls));
		const char *ci = gnutls_cipher_get_name(gnutls_cipher_get(c->tls));
		buf_addf(out, "%s (%s)", v ? v : "TLS", ci ? ci : "?");
	} else {
		buf_adds(out, "unencrypted");
	}
	buf_addf(out, "; extensions:%s%s%s%s%s", c->pipelining ? " PIPELINING" : "", c->smtputf8 ? " SMTPUTF8" : "",
		 c->starttls ? " STARTTLS" : "", c->auth_plain ? " AUTH=PLAIN" : "", c->auth_login ? " AUTH=LOGIN" : "");
}

static void tx_describe(const void *conn, struct buf *out) { smtp_describe(conn, out); }
static void tx_abandon(void *conn) { smtp_abandon(conn); }
static bool tx_usable(const void *conn) { return smtp_usable(conn); }
static void tx_close(void *conn) { smtp_close(conn); }

const struct transport_ops smtp_transport = {
	.name = "smtp",
	.init = tx_init,
	.done = tx_done,
	.open = tx_open,
	.begin = tx_begin,
	.finish = tx_finish,
	.finish_next = tx_finish_next,
	.abandon = tx_abandon,
	.usable = tx_usable,
	.close = tx_close,
	.describe = tx_describe,
};
