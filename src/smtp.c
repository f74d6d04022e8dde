/* smtp: an SMTP client connection over libetpan, with certificates checked by GnuTLS. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>
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
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "digest/log.h"
#include "digest/smtp.h"
#include "digest/util.h"

#define DEFAULT_TIMEOUT 30
#define QUIT_WAIT 2            /* seconds: QUIT is a courtesy, not worth a long wait */
#define MAX_CHAIN 16           /* certificates of the peer's chain looked at */
#define MAX_REPLY_LINES 200    /* a longer reply is not SMTP */
#define MAX_REPLY_BYTES 65536
#define MAX_ADDRESS 254        /* RFC 5321's path limit, well under libetpan's 512-byte line */
/* libetpan waits with select(): a descriptor at or above FD_SETSIZE would be
 * written past the end of an fd_set. Each stream also opens a pipe right
 * after the socket, hence the margin. */
#define FD_MARGIN 64

struct smtp_conn {
	mailsmtp *s;
	char *where; /* "smtp HOST:PORT", the start of every error message */
	int timeout;
	bool usable;
	bool encrypted;
	bool loopback; /* the peer's address is a loopback one */
	bool pipelining; /* the server offers PIPELINING (RFC 2920) */
	bool in_data;    /* between smtp_begin and smtp_finish: the server reads message text */
	enum smtp_stage stage; /* where the last smtp_send stopped */
	struct buf data; /* the message as DATA carries it; its memory kept for the next */
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
 * is. Any byte above 0x7F passes (SMTPUTF8 is the server's business). */
static bool envelope_ok(const char *addr, bool may_be_empty)
{
	if (!addr || (!*addr && !may_be_empty) || strlen(addr) > MAX_ADDRESS)
		return false;
	for (const unsigned char *p = (const unsigned char *)addr; *p; p++)
		if (*p < 0x20 || *p == 0x7F || *p == '<' || *p == '>')
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
 * none (libetpan says 0 for both a closed connection and a timeout: the
 * time the command took tells them apart). */
static void describe(const struct smtp_conn *c, long long t0, char out[SMTP_REPLY_MAX])
{
	if (c->s->response_code > 0) {
		reply_text(c->s->response_code, c->s->response, out);
		return;
	}
	if (now_ms() - t0 >= (long long)c->timeout * 1000 - 200)
		snprintf(out, SMTP_REPLY_MAX, "timeout (no reply in %d s)", c->timeout);
	else
		snprintf(out, SMTP_REPLY_MAX, "connection lost");
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

/* read_reply: one reply, of one or more lines, into the session the way
 * libetpan's own (private) reader leaves it: response_code (0 when the
 * reply is missing or not SMTP) and response (the texts, one per line).
 * Not through mailstream_read_line_remove_eol: at end of file it reads the
 * byte before its buffer. */
static void read_reply(struct smtp_conn *c)
{
	mailsmtp *s = c->s;
	int code = 0;
	mmap_string_assign(s->response_buffer, "");
	for (int lines = 0; lines < MAX_REPLY_LINES; lines++) {
		char *line = mailstream_read_line(s->stream, s->line_buffer);
		size_t len = line ? s->line_buffer->len : 0;
		if (len == 0 || line[len - 1] != '\n') /* the connection ended mid-line */
			break;
		line[--len] = '\0';
		if (len > 0 && line[len - 1] == '\r')
			line[--len] = '\0';
		if (!isdigit((unsigned char)line[0]) || !isdigit((unsigned char)line[1]) ||
		    !isdigit((unsigned char)line[2]) || (line[3] && line[3] != ' ' && line[3] != '-') ||
		    s->response_buffer->len + strlen(line) > MAX_REPLY_BYTES)
			break;
		mmap_string_append(s->response_buffer, line[3] ? line + 4 : "");
		mmap_string_append_c(s->response_buffer, '\n');
		if (line[3] != '-') {
			code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
			break;
		}
	}
	s->response = s->response_buffer->str;
	s->response_code = code;
}

/* command: send one command line (FMT, CRLF added) and read the reply.
 * What goes in has been checked: the line cannot be cut or split. */
__attribute__((format(printf, 2, 3))) static void command(struct smtp_conn *c, const char *fmt, ...)
{
	char line[MAX_ADDRESS + 64];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line - 2, fmt, ap);
	va_end(ap);
	c->s->response_code = 0;
	if (n < 0 || (size_t)n >= sizeof line - 2)
		return;
	memcpy(line + n, "\r\n", 3);
	if (mailstream_write(c->s->stream, line, (size_t)n + 2) < 0 || mailstream_flush(c->s->stream) < 0)
		return;
	read_reply(c);
}

/* The extensions of an EHLO reply that matter here, in the session's
 * flags, as libetpan's own EHLO would leave them. */
static void parse_ehlo(mailsmtp *s)
{
	s->esmtp = MAILSMTP_ESMTP;
	s->auth = MAILSMTP_AUTH_CHECKED;
	char *text = xstrdup(s->response);
	char *save = NULL;
	/* the first line is the server's name, not an extension */
	for (char *line = strtok_r(text, "\n", &save); (line = strtok_r(NULL, "\n", &save));) {
		char *kw_save = NULL;
		char *kw = strtok_r(line, " =", &kw_save);
		if (!kw)
			continue;
		if (!strcasecmp(kw, "STARTTLS")) {
			s->esmtp |= MAILSMTP_ESMTP_STARTTLS;
		} else if (!strcasecmp(kw, "PIPELINING")) {
			s->esmtp |= MAILSMTP_ESMTP_PIPELINING;
		} else if (!strcasecmp(kw, "AUTH")) {
			for (char *m; (m = strtok_r(NULL, " =", &kw_save));) {
				if (!strcasecmp(m, "PLAIN"))
					s->auth |= MAILSMTP_AUTH_PLAIN;
				else if (!strcasecmp(m, "LOGIN"))
					s->auth |= MAILSMTP_AUTH_LOGIN;
			}
		}
	}
	free(text);
}

/* hello: EHLO with our own NAME (libetpan's sends gethostname() and nothing
 * else), HELO when the server does not know EHLO. */
static int hello(struct smtp_conn *c, const char *name, char **err)
{
	char reply[SMTP_REPLY_MAX];
	const char *verb = "EHLO";
	long long t0 = now_ms();
	command(c, "EHLO %s", name);
	if (c->s->response_code == 250) {
		parse_ehlo(c->s);
		c->pipelining = c->s->esmtp & MAILSMTP_ESMTP_PIPELINING;
		return SMTP_OK;
	}
	if (c->s->response_code >= 500 && c->s->response_code < 600) {
		verb = "HELO";
		t0 = now_ms();
		command(c, "HELO %s", name);
		if (c->s->response_code == 250) {
			c->s->esmtp = 0;
			c->pipelining = false;
			c->s->auth = MAILSMTP_AUTH_NOT_CHECKED;
			return SMTP_OK;
		}
	}
	describe(c, t0, reply);
	errf(err, "%s: %s: %s", c->where, verb, reply);
	return classify(c, c->s->response_code);
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

/* tcp_connect: a connected, blocking socket to the first address of
 * O->host that answers within the timeout (each address has its own). */
static int tcp_connect(struct smtp_conn *c, const struct smtp_opts *o, int *out, char **err)
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
		if (fd >= FD_SETSIZE - FD_MARGIN) {
			e = EMFILE;
			close(fd);
			fd = -1;
			break;
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
	/* libetpan wants a blocking socket. Its writes wait for the socket to
	 * become writable, then send() everything at once: SO_SNDTIMEO keeps a
	 * large write to a server that stopped reading within the timeout. */
	int flags = fcntl(fd, F_GETFL);
	struct timeval tv = {.tv_sec = c->timeout};
	int one = 1;
	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) < 0) {
		errf(err, "%s: connect: %s", c->where, strerror(errno));
		close(fd);
		fd = -1;
		goto out;
	}
	/* each command is one write then a read; without this the last
	 * segment of a message can wait for a delayed ACK */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	char ip[INET6_ADDRSTRLEN] = "";
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0 &&
	    getnameinfo((struct sockaddr *)&peer, plen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) == 0)
		c->loopback = smtp_is_loopback(ip);
	log_debug("%s: connected to %s", c->where, ip);
	*out = fd;
	st = SMTP_OK;
out:
	if (res)
		freeaddrinfo(res);
	return st;
}

/* set_sni: the server name for the TLS handshake (called by libetpan). */
static void set_sni(struct mailstream_ssl_context *ctx, void *host)
{
	mailstream_ssl_set_server_name(ctx, host);
}

/* handshake_failed: why the TLS handshake started at T0 failed, as far as
 * one can tell (libetpan prints GnuTLS's reason on stderr, and returns NULL). */
static int handshake_failed(const struct smtp_conn *c, const char *step, long long t0, char **err)
{
	if (now_ms() - t0 >= (long long)c->timeout * 1000 - 200)
		errf(err, "%s: %s: handshake timeout (%d s)", c->where, step, c->timeout);
	else
		errf(err, "%s: %s: handshake failed", c->where, step);
	return SMTP_RETRY;
}

/* verify_peer: check the certificate chain STREAM's server sent against the
 * system CAs (or O->ca_file), for O->host; libetpan checks nothing. */
static int verify_peer(struct smtp_conn *c, const struct smtp_opts *o, mailstream *stream, const char *step,
		       char **err)
{
	carray *chain = mailstream_get_certificate_chain(stream);
	gnutls_x509_crt_t crts[MAX_CHAIN];
	unsigned n = 0, status = 0;
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_datum_t text = {NULL, 0};
	unsigned char ip[16];
	int st = SMTP_FAIL, r;
	if (!chain || carray_count(chain) == 0) {
		errf(err, "%s: %s: certificate: the server sent none", c->where, step);
		goto out;
	}
	for (unsigned i = 0; i < carray_count(chain) && i < MAX_CHAIN; i++) {
		MMAPString *der = carray_get(chain, i);
		gnutls_datum_t d = {(unsigned char *)der->str, (unsigned)der->len};
		if (gnutls_x509_crt_init(&crts[n]) < 0) {
			errf(err, "%s: %s: certificate: out of memory", c->where, step);
			goto out;
		}
		n++;
		if ((r = gnutls_x509_crt_import(crts[n - 1], &d, GNUTLS_X509_FMT_DER)) < 0) {
			errf(err, "%s: %s: certificate: %s", c->where, step, gnutls_strerror(r));
			goto out;
		}
	}
	if ((r = gnutls_x509_trust_list_init(&tl, 0)) < 0) {
		errf(err, "%s: %s: certificate: %s", c->where, step, gnutls_strerror(r));
		goto out;
	}
	r = o->ca_file ? gnutls_x509_trust_list_add_trust_file(tl, o->ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0)
		       : gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
	if (r <= 0) {
		errf(err, "%s: %s: certificate: no trusted CA certificate in %s%s%s", c->where, step,
		     o->ca_file ? o->ca_file : "the system store", r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
		goto out;
	}
	gnutls_typed_vdata_st vd[2] = {
		{.type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)o->host, .size = 0},
		{.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, .size = 0},
	};
	unsigned iplen = ip_literal(o->host, ip);
	if (iplen) {
		vd[0].type = GNUTLS_DT_IP_ADDRESS;
		vd[0].data = ip;
		vd[0].size = iplen;
	}
	if ((r = gnutls_x509_trust_list_verify_crt2(tl, crts, n, vd, 2, 0, &status, NULL)) < 0) {
		errf(err, "%s: %s: certificate: %s", c->where, step, gnutls_strerror(r));
		goto out;
	}
	if (status) {
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) < 0 || !text.data) {
			errf(err, "%s: %s: certificate: refused (status 0x%x)", c->where, step, status);
			goto out;
		}
		char *s = (char *)text.data;
		size_t len = strlen(s);
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			s[--len] = '\0';
		errf(err, "%s: %s: certificate: %s", c->where, step, s);
		goto out;
	}
	st = SMTP_OK;
out:
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	if (chain)
		mailstream_certificate_chain_free(chain);
	gnutls_free(text.data);
	return st;
}

/* starttls: STARTTLS, the handshake on the same socket, the certificate
 * check, and EHLO again (RFC 3207 forgets what came before). */
static int starttls(struct smtp_conn *c, const struct smtp_opts *o, const char *helo, char **err)
{
	mailsmtp *s = c->s;
	char reply[SMTP_REPLY_MAX];
	unsigned char ip[16];
	if (!(s->esmtp & MAILSMTP_ESMTP_STARTTLS)) {
		errf(err, "%s: STARTTLS: the server does not offer it", c->where);
		return SMTP_FAIL;
	}
	long long t0 = now_ms();
	command(c, "STARTTLS");
	if (s->response_code != 220) {
		describe(c, t0, reply);
		errf(err, "%s: STARTTLS: %s", c->where, reply);
		return classify(c, s->response_code);
	}
	/* Bytes that came after the 220 were sent in the clear: read after the
	 * handshake they would pass for the server's (CVE-2011-0411). */
	if (s->stream->read_buffer_len) {
		errf(err, "%s: STARTTLS: the server sent data before the TLS handshake", c->where);
		return SMTP_FAIL;
	}
	mailstream_low *plain = mailstream_get_low(s->stream);
	t0 = now_ms();
	mailstream_low *tls = mailstream_low_tls_open_with_callback_timeout(
		mailstream_low_get_fd(plain), c->timeout, ip_literal(o->host, ip) ? NULL : set_sni, (void *)o->host);
	if (!tls)
		return handshake_failed(c, "STARTTLS", t0, err);
	mailstream_low_free(plain); /* the socket stays open: TLS runs on it now */
	mailstream_set_low(s->stream, tls);
	c->encrypted = true;
	int st = o->tls_verify ? verify_peer(c, o, s->stream, "STARTTLS", err) : SMTP_OK;
	if (st == SMTP_OK)
		st = hello(c, helo, err);
	return st;
}

/* auth: AUTH PLAIN (or LOGIN) through libetpan's SASL. */
static int auth(struct smtp_conn *c, const struct smtp_opts *o, char **err)
{
	mailsmtp *s = c->s;
	char reply[SMTP_REPLY_MAX];
	if (!c->encrypted && !c->loopback) {
		errf(err, "%s: AUTH: not sending the password over an unencrypted connection to a host that is "
			  "not loopback (security = starttls or tls)",
		     c->where);
		return SMTP_FAIL;
	}
	const char *mech = s->auth & MAILSMTP_AUTH_PLAIN ? "PLAIN" : s->auth & MAILSMTP_AUTH_LOGIN ? "LOGIN" : NULL;
	if (!mech) {
		errf(err, "%s: AUTH: the server offers neither PLAIN nor LOGIN", c->where);
		return SMTP_FAIL;
	}
	long long t0 = now_ms();
	s->response_code = -1; /* still -1 afterwards: SASL failed before anything was sent */
	int r = mailesmtp_auth_sasl(s, mech, o->host, NULL, NULL, o->username, o->username,
				    o->password ? o->password : "", NULL);
	/* the encoded password went through the stream's write buffer */
	explicit_bzero(s->stream->write_buffer, s->stream->buffer_max_size);
	int code = s->response_code;
	if (r == MAILSMTP_NO_ERROR && code >= 200 && code < 300)
		return SMTP_OK;
	if (code == -1) {
		errf(err, "%s: AUTH: SASL mechanism %s unavailable (is libsasl2-modules installed?)", c->where, mech);
		return SMTP_FAIL;
	}
	describe(c, t0, reply);
	errf(err, "%s: AUTH %s: %s", c->where, mech, reply);
	if (code >= 200 && code < 400) { /* SASL gave up halfway through an exchange */
		c->usable = false;
		return SMTP_FAIL;
	}
	return classify(c, code);
}

int smtp_open(const struct smtp_opts *o, struct smtp_conn **out, char **err)
{
	struct smtp_conn *c = xcalloc(1, sizeof *c);
	mailstream *stream = NULL;
	char helo[256], reply[SMTP_REPLY_MAX];
	unsigned char ip[16];
	int fd = -1, st = SMTP_FAIL;
	*out = NULL;
	c->timeout = o->timeout > 0 ? o->timeout : DEFAULT_TIMEOUT;
	if (o->host && strchr(o->host, ':'))
		c->where = xasprintf("smtp [%s]:%d", o->host, o->port);
	else
		c->where = xasprintf("smtp %s:%d", o->host ? o->host : "", o->port);
	if (!o->host || !*o->host || o->port <= 0 || o->port > 65535) {
		errf(err, "%s: no host or no port", c->where);
		goto fail;
	}
	if (!helo_name(o->helo, helo)) {
		errf(err, "%s: EHLO: the name is not a host name", c->where);
		goto fail;
	}
	c->s = mailsmtp_new(0, NULL);
	if (!c->s) {
		errf(err, "%s: out of memory", c->where);
		st = SMTP_RETRY;
		goto fail;
	}
	if ((st = tcp_connect(c, o, &fd, err)) != SMTP_OK)
		goto fail;
	st = SMTP_RETRY;
	/* timeouts on the stream itself: mailsmtp_set_timeout only reaches
	 * the streams libetpan opens, and not the reads of a plain one */
	long long t0 = now_ms();
	if (o->security == SMTP_SEC_TLS) {
		stream = mailstream_ssl_open_with_callback_timeout(fd, c->timeout, ip_literal(o->host, ip) ? NULL : set_sni,
								   (void *)o->host);
		if (!stream) {
			st = handshake_failed(c, "TLS", t0, err);
			goto fail;
		}
		c->encrypted = true;
	} else {
		stream = mailstream_socket_open_timeout(fd, c->timeout);
		if (!stream) {
			errf(err, "%s: out of memory", c->where);
			goto fail;
		}
	}
	fd = -1; /* the stream's now */
	if (o->security == SMTP_SEC_TLS && o->tls_verify && (st = verify_peer(c, o, stream, "TLS", err)) != SMTP_OK)
		goto fail;
	/* the greeting, as mailsmtp_connect would read it but for its reader */
	c->s->stream = stream;
	stream = NULL; /* the session's now */
	t0 = now_ms();
	read_reply(c);
	if (c->s->response_code != 220) {
		describe(c, t0, reply);
		errf(err, "%s: greeting: %s", c->where, reply);
		st = classify(c, c->s->response_code);
		goto fail;
	}
	if ((st = hello(c, helo, err)) != SMTP_OK)
		goto fail;
	if (o->security == SMTP_SEC_STARTTLS && (st = starttls(c, o, helo, err)) != SMTP_OK)
		goto fail;
	if (o->username && *o->username && (st = auth(c, o, err)) != SMTP_OK)
		goto fail;
	c->usable = true;
	*out = c;
	return SMTP_OK;
fail:
	if (fd >= 0)
		close(fd);
	if (stream)
		mailstream_close(stream);
	smtp_close(c);
	return st;
}

/* reset: RSET after a refused transaction, when the connection can go on. */
static void reset(struct smtp_conn *c)
{
	if (c->usable) {
		command(c, "RSET");
		if (c->s->response_code != 250)
			c->usable = false;
	}
}

/* refused: the status of a transaction that got another answer than the
 * one it wanted, described in REPLY; RSET when the connection can go on. */
static int refused(struct smtp_conn *c, long long t0, char reply[SMTP_REPLY_MAX])
{
	describe(c, t0, reply);
	int st = classify(c, c->s->response_code);
	reset(c);
	return st;
}

/* has_eol: whether one of the 8 bytes of W is a CR or an LF (the
 * zero-byte test of "Bit Twiddling Hacks" on W xor each). */
static inline bool has_eol(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t cr = w ^ (ones * '\r'), lf = w ^ (ones * '\n');
	return (((cr - ones) & ~cr) | ((lf - ones) & ~lf)) & highs;
}

/* stuff: into OUT, MSG (LEN bytes, its own last line break already taken
 * off) as DATA carries it: each line end CRLF (a lone CR or LF becomes
 * one), a dot doubled at the start of a line, then CRLF "." CRLF. The
 * bytes mailstream_send_data would write, but in one buffer, to leave in
 * one write rather than in the stream's 8 KB pieces, each behind a
 * select(); and eight bytes at a time between line ends, as this runs
 * over every byte of every message. */
static void stuff(struct buf *out, const char *msg, size_t len)
{
	size_t cap = 2 * len + 6; /* at worst every byte a lone line end, or a dot doubled */
	if (out->cap < cap) {
		out->data = xrealloc(out->data, cap);
		out->cap = cap;
	}
	char *o = out->data;
	size_t i = 0;
	while (i < len) {
		if (msg[i] == '.') /* at the start of a line */
			*o++ = '.';
		for (uint64_t w; i + 8 <= len; i += 8, o += 8) {
			memcpy(&w, msg + i, 8);
			if (has_eol(w))
				break;
			memcpy(o, &w, 8);
		}
		for (; i < len; i++) {
			if (msg[i] == '\r' || msg[i] == '\n') {
				i += msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n' ? 2 : 1;
				*o++ = '\r';
				*o++ = '\n';
				break;
			}
			*o++ = msg[i];
		}
	}
	memcpy(o, "\r\n.\r\n", 6); /* with the NUL a buf ends with */
	out->len = (size_t)(o - out->data) + 5;
}

/* write_all: LEN bytes of DATA on C's stream, flushed; false on an error. */
static bool write_all(struct smtp_conn *c, const char *data, size_t len)
{
	return mailstream_write(c->s->stream, data, len) == (ssize_t)len && mailstream_flush(c->s->stream) == 0;
}

/* envelope: MAIL FROM, RCPT TO and DATA one after the other, each waiting
 * for its reply. SMTP_OK when DATA got its 354. */
static int envelope(struct smtp_conn *c, const char *from, const char *rcpt, char reply[SMTP_REPLY_MAX])
{
	mailsmtp *s = c->s;
	long long t0 = now_ms();
	c->stage = SMTP_STAGE_SENDER;
	command(c, "MAIL FROM:<%s>", from);
	if (s->response_code / 100 != 2)
		return refused(c, t0, reply);
	t0 = now_ms();
	c->stage = SMTP_STAGE_RECIPIENT;
	command(c, "RCPT TO:<%s>", rcpt);
	if (s->response_code / 100 != 2)
		return refused(c, t0, reply);
	t0 = now_ms();
	c->stage = SMTP_STAGE_MESSAGE;
	command(c, "DATA");
	if (s->response_code != 354)
		return refused(c, t0, reply);
	return SMTP_OK;
}

/*
 * envelope_pipelined: the same three commands in one write (RFC 2920: DATA
 * may end a group, MAIL and RCPT may be anywhere in it), then their three
 * replies in order. Every reply is read, as the RFC wants: the first one
 * that is not the one wanted says what failed (its stage, its class); the
 * others are the server's business, but for a 354 to DATA after a refusal
 * (a server may accept DATA with no recipient), answered by the lone dot
 * that ends an empty message, whose reply is ignored. Then RSET, as after
 * any refused transaction. MSG (LEN bytes) is stuffed into C->data while
 * the server reads the commands.
 */
static int envelope_pipelined(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg,
			      size_t len, char reply[SMTP_REPLY_MAX])
{
	static const enum smtp_stage stages[3] = {SMTP_STAGE_SENDER, SMTP_STAGE_RECIPIENT, SMTP_STAGE_MESSAGE};
	mailsmtp *s = c->s;
	char group[2 * MAX_ADDRESS + 64];
	int n = snprintf(group, sizeof group, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", from, rcpt);
	long long t0 = now_ms();
	c->stage = SMTP_STAGE_SENDER;
	s->response_code = 0;
	if (n < 0 || (size_t)n >= sizeof group || !write_all(c, group, (size_t)n))
		return refused(c, t0, reply);
	stuff(&c->data, msg, len);
	int st = SMTP_OK;
	for (int i = 0; i < 3; i++) {
		t0 = now_ms();
		read_reply(c);
		int code = s->response_code;
		bool wanted = i < 2 ? code / 100 == 2 : code == 354;
		if (st == SMTP_OK) {
			if (!wanted) {
				c->stage = stages[i];
				describe(c, t0, reply);
				st = classify(c, code);
			}
		} else if (code == 0 || code == 421) {
			c->usable = false; /* after a refusal: that one still says what failed */
		} else if (i == 2 && code == 354) {
			/* DATA accepted after a refused MAIL or RCPT: end the empty
			 * message, whose refusal (or acceptance) changes nothing */
			if (write_all(c, ".\r\n", 3))
				read_reply(c);
			else
				s->response_code = 0;
			if (s->response_code == 0 || s->response_code == 421)
				c->usable = false;
		}
		if (!c->usable) /* no further reply to wait for */
			return st == SMTP_OK ? SMTP_RETRY : st;
	}
	if (st != SMTP_OK)
		reset(c);
	return st;
}

int smtp_begin(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
	       char reply[SMTP_REPLY_MAX])
{
	reply[0] = '\0';
	if (c)
		c->stage = SMTP_STAGE_SENDER;
	if (!c || !c->usable || c->in_data) {
		snprintf(reply, SMTP_REPLY_MAX, "connection not usable");
		return SMTP_RETRY;
	}
	if (!envelope_ok(from, true)) {
		snprintf(reply, SMTP_REPLY_MAX, "invalid sender address");
		return SMTP_FAIL;
	}
	c->stage = SMTP_STAGE_RECIPIENT;
	if (!envelope_ok(rcpt, false)) {
		snprintf(reply, SMTP_REPLY_MAX, "invalid recipient address");
		return SMTP_FAIL;
	}
	/* Without SMTPUTF8 (RFC 6531) an address must be ASCII. */
	for (const unsigned char *p = (const unsigned char *)rcpt; *p; p++) {
		if (*p >= 0x80) {
			snprintf(reply, SMTP_REPLY_MAX, "non-ASCII address: not sent without SMTPUTF8");
			return SMTP_FAIL;
		}
	}
	c->stage = SMTP_STAGE_MESSAGE;
	if (!msg && len) {
		snprintf(reply, SMTP_REPLY_MAX, "no message");
		return SMTP_FAIL;
	}
	/* The data ends with CRLF "." CRLF whatever the message ends with:
	 * without its own last line break the message arrives as it is,
	 * rather than with an empty line added. */
	if (len >= 2 && msg[len - 2] == '\r' && msg[len - 1] == '\n')
		len -= 2;
	else if (len >= 1 && msg[len - 1] == '\n')
		len--;
	int st;
	if (c->pipelining) {
		st = envelope_pipelined(c, from, rcpt, msg ? msg : "", len, reply);
	} else {
		st = envelope(c, from, rcpt, reply);
		if (st == SMTP_OK)
			stuff(&c->data, msg ? msg : "", len);
	}
	if (st != SMTP_OK)
		return st;
	/* The text goes now: the server delivers nothing before the final
	 * dot, which alone waits for smtp_finish. */
	long long t0 = now_ms();
	c->s->response_code = 0;
	if (!write_all(c, c->data.data, c->data.len - 3))
		return refused(c, t0, reply);
	c->in_data = true;
	return SMTP_OK;
}

int smtp_finish(struct smtp_conn *c, char reply[SMTP_REPLY_MAX])
{
	reply[0] = '\0';
	if (!c || !c->in_data) {
		snprintf(reply, SMTP_REPLY_MAX, "no transaction to finish");
		return SMTP_RETRY;
	}
	mailsmtp *s = c->s;
	c->in_data = false;
	c->stage = SMTP_STAGE_MESSAGE;
	long long t0 = now_ms();
	s->response_code = 0;
	if (write_all(c, c->data.data + c->data.len - 3, 3)) /* ".\r\n" */
		read_reply(c);
	if (s->response_code / 100 != 2)
		return refused(c, t0, reply);
	reply_text(s->response_code, s->response, reply);
	return SMTP_OK;
}

void smtp_abandon(struct smtp_conn *c)
{
	if (!c || !c->in_data)
		return;
	/* the server takes whatever comes now for message text: closing the
	 * connection before the final dot is the way to drop the message */
	c->in_data = false;
	c->usable = false;
	if (c->s && c->s->stream) {
		mailstream_close(c->s->stream);
		c->s->stream = NULL;
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
	if (c->s) {
		if (c->s->stream) {
			if (c->usable) {
				mailstream_low_set_timeout(mailstream_get_low(c->s->stream),
							   c->timeout < QUIT_WAIT ? c->timeout : QUIT_WAIT);
				command(c, "QUIT");
			}
			/* closed here: mailsmtp_free would send QUIT (again) */
			mailstream_close(c->s->stream);
			c->s->stream = NULL;
		}
		mailsmtp_free(c->s);
	}
	buf_free(&c->data);
	free(c->where);
	free(c);
}
