/* Unit tests of smtp against tests/integration/smtpd.py (aiosmtpd) on
 * 127.0.0.1: messages arrive byte for byte, replies are classified (one by
 * one in a pipelined group too), dead servers time out, certificates are
 * checked. Run from the repository root. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/log.h"
#include "digest/smtp.h"
#include "digest/util.h"

#define SMTPD "tests/integration/smtpd.py"
#define USER "digest"
#define PASS "s3cret-Pa55"

extern char **environ;

static char dir[] = "/tmp/digest-smtp-XXXXXX";
static char *cert_both, *key_both; /* DNS:localhost, IP:127.0.0.1 */
static char *cert_name, *key_name; /* DNS:localhost only */

struct server {
	const char *name;
	pid_t pid;
	int port;
	char *out;
};
enum { PLAIN, FLAKY, STALL, STARTTLS, IMPLICIT, PIPE, PIPE_ODD, PIPE_STALL, NSERVERS };
static struct server servers[NSERVERS] = {
	{.name = "plain"}, {.name = "flaky"}, {.name = "stall"},    {.name = "starttls"},
	{.name = "tls"},   {.name = "pipe"},  {.name = "pipe-odd"}, {.name = "pipe-stall"},
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	if (len)
		*len = b.len;
	return b.data ? b.data : xstrdup("");
}

/* Start smtpd.py with EXTRA arguments (NULL-terminated) on a free port;
 * 0 or -1. */
static int start_server(struct server *s, const char *const *extra)
{
	const char *argv[40];
	int n = 0;
	char *portfile = xasprintf("%s/%s.port", dir, s->name);
	s->out = xasprintf("%s/%s", dir, s->name);
	argv[n++] = "/usr/bin/python3";
	argv[n++] = SMTPD;
	argv[n++] = "--port";
	argv[n++] = "0";
	argv[n++] = "--portfile";
	argv[n++] = portfile;
	argv[n++] = "--out";
	argv[n++] = s->out;
	argv[n++] = "--die-with-parent"; /* none left behind if this test crashes */
	for (; *extra; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	int rc = posix_spawn(&s->pid, argv[0], NULL, NULL, (char *const *)argv, environ);
	free(portfile);
	if (rc != 0) {
		s->pid = 0;
		fprintf(stderr, "test_smtp: cannot start %s: %s\n", SMTPD, strerror(rc));
		return -1;
	}
	return 0;
}

/* Wait until the server S says which port it has; 0 or -1. */
static int wait_server(struct server *s)
{
	char *portfile = xasprintf("%s/%s.port", dir, s->name);
	for (int i = 0; i < 400 && s->pid > 0 && !s->port; i++) {
		char *text = slurp(portfile, NULL);
		if (text)
			s->port = atoi(text);
		free(text);
		int status;
		if (!s->port && waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = 0;
			fprintf(stderr, "test_smtp: smtpd.py %s exited (status %d)\n", s->name, status);
		}
		if (!s->port)
			usleep(50 * 1000);
	}
	free(portfile);
	if (!s->port && s->pid > 0)
		fprintf(stderr, "test_smtp: smtpd.py %s did not start in 20 s\n", s->name);
	return s->port ? 0 : -1;
}

/* SIGTERM to the server S, which must then exit 0; 0 or -1. */
static int stop_server(struct server *s)
{
	int status = 0;
	if (s->pid <= 0)
		return 0;
	kill(s->pid, SIGTERM);
	waitpid(s->pid, &status, 0);
	s->pid = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "test_smtp: smtpd.py %s did not stop cleanly on SIGTERM (status %d)\n", s->name, status);
		return -1;
	}
	return 0;
}

static struct smtp_opts opts(int server)
{
	struct smtp_opts o = {.host = "127.0.0.1",
			      .port = servers[server].port,
			      .security = SMTP_SEC_NONE,
			      .helo = "digest.test",
			      .timeout = 5,
			      .tls_verify = true};
	return o;
}

/* The message the server saved for RCPT (the last one), or NULL; its line
 * in log.jsonl in *ENTRY when ENTRY is not NULL. */
static char *saved(int server, const char *rcpt, size_t *len, char **entry)
{
	char *path = xasprintf("%s/log.jsonl", servers[server].out);
	char *log = slurp(path, NULL);
	char *want = xasprintf("\"rcpt_tos\": [\"%s\"]", rcpt);
	char *file = NULL, *msg = NULL;
	free(path);
	for (char *save = NULL, *line = log ? strtok_r(log, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f = strstr(line, "\"file\": \"");
		if (!strstr(line, want) || !f)
			continue;
		free(file);
		file = xstrndup(f + 9, strcspn(f + 9, "\""));
		if (entry) {
			free(*entry);
			*entry = xstrdup(line);
		}
	}
	if (file) {
		path = xasprintf("%s/%s", servers[server].out, file);
		msg = slurp(path, len);
		free(path);
	}
	free(file);
	free(want);
	free(log);
	return msg;
}

static void send_ok(struct smtp_conn *c, const char *rcpt, const char *msg)
{
	char reply[SMTP_REPLY_MAX];
	int st = smtp_send(c, "digest@example.org", rcpt, msg, strlen(msg), reply);
	if (st != SMTP_OK)
		fail_msg("to %s: status %d, reply %s", rcpt, st, reply);
	assert_true(!strncmp(reply, "250 ", 4));
	assert_true(smtp_usable(c));
}

static void test_loopback(void **state)
{
	(void)state;
	static const struct {
		const char *addr;
		bool want;
	} cases[] = {
		{"127.0.0.1", true},  {"127.1.2.3", true},     {"localhost", true},   {"LOCALHOST", true},
		{"::1", true},        {"::ffff:127.0.0.1", true}, {"128.0.0.1", false}, {"10.0.0.1", false},
		{"::", false},        {"::2", false},          {"192.0.2.1", false},  {"localhost.example", false},
		{"", false},          {NULL, false},           {"mail.example.org", false},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (smtp_is_loopback(cases[i].addr) != cases[i].want)
			fail_msg("%s: want %d", cases[i].addr ? cases[i].addr : "NULL", cases[i].want);
}

/* Several messages on one connection, each saved exactly as sent: dots at
 * the start of lines, a lone dot, a 998-byte line, no line break at the end. */
/* A canonical message (CRLF only, no line that begins with a dot) goes
 * from the caller's memory without stuffing, over a plain connection and
 * a pipelined one, and arrives byte for byte: a large one too, which the
 * socket takes in several writes. */
static void test_canonical(void **state)
{
	(void)state;
	struct buf big = {0};
	buf_adds(&big, "From: a@example.org\r\nSubject: big\r\n\r\n");
	for (int i = 0; i < 40000; i++)
		buf_adds(&big, i % 9 ? "abcdefgh=2E" : "abcdefgh=2E\r\n");
	buf_adds(&big, "\r\nend\r\n");
	const struct {
		const char *rcpt, *msg;
	} cases[] = {
		{"c1@example.org", "Subject: canonical\r\n\r\nline=2E\r\n=2Enot stuffed\r\n"},
		{"c2@example.org", big.data},
	};
	const int servers_used[] = {PLAIN, PIPE};
	for (size_t s = 0; s < ARRAY_LEN(servers_used); s++) {
		struct smtp_opts o = opts(servers_used[s]);
		struct smtp_conn *c = NULL;
		char *err = NULL, reply[SMTP_REPLY_MAX];
		assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
		for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
			const char *m = cases[i].msg;
			assert_int_equal(smtp_begin_flags(c, "digest@example.org", cases[i].rcpt, m, strlen(m),
							  SMTP_CANONICAL, reply),
					 SMTP_OK);
			assert_int_equal(smtp_finish(c, reply), SMTP_OK);
		}
		smtp_close(c);
		for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
			size_t len = 0;
			char *got = saved(servers_used[s], cases[i].rcpt, &len, NULL);
			assert_non_null(got);
			if (len != strlen(cases[i].msg) || memcmp(got, cases[i].msg, len))
				fail_msg("%s: saved %zu bytes, want %zu", cases[i].rcpt, len, strlen(cases[i].msg));
			free(got);
		}
	}
	buf_free(&big);
}

/* The reply reader against a server that is only bytes (a socketpair,
 * all it says written before the client reads, then its end): limits,
 * garbage, boundaries. */
static void test_reader_limits(void **state)
{
	(void)state;
	struct buf line4096 = {0}, line4097 = {0}, huge = {0}, ok_ehlo = {0};
	buf_adds(&line4096, "220 ");
	for (int i = 0; i < 4092; i++)
		buf_add(&line4096, "x", 1);
	buf_adds(&line4096, "\r\n250 ok\r\n");
	buf_adds(&line4097, "220 ");
	for (int i = 0; i < 4093; i++)
		buf_add(&line4097, "x", 1);
	buf_adds(&line4097, "\r\n250 ok\r\n");
	buf_adds(&huge, "220 hi\r\n");
	for (int i = 0; i < 70; i++) { /* 70 lines of 1004 octets: each short, the reply not */
		buf_adds(&huge, "250-");
		for (int k = 0; k < 1000; k++)
			buf_add(&huge, "y", 1);
		buf_adds(&huge, "\r\n");
	}
	buf_adds(&huge, "250 end\r\n");
	buf_adds(&ok_ehlo, "220 hi\r\n250-hi\r\n");
	for (int i = 0; i < 60; i++) /* 60 lines of 1004 octets: within 64 KiB */
		buf_adds(&ok_ehlo, "250-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\r\n");
	buf_adds(&ok_ehlo, "250 PIPELINING\r\n");
	const struct {
		const char *what, *said;
		size_t len;
		int status;
		const char *err; /* in the error, or NULL when it opens */
	} cases[] = {
		{"a line of 4096 octets", line4096.data, line4096.len, SMTP_OK, NULL},
		{"a line of 4097 octets", line4097.data, line4097.len, SMTP_RETRY, "greeting: a reply line over 4096 bytes"},
		{"a reply over 64 KiB", huge.data, huge.len, SMTP_RETRY, "EHLO: a reply over 65536 bytes"},
		{"a long reply within 64 KiB", ok_ehlo.data, ok_ehlo.len, SMTP_OK, NULL},
		{"two codes in one reply", "220-one\r\n221 two\r\n", 0, SMTP_RETRY, "codes 220 and 221 in one reply"},
		{"not SMTP", "HTTP/1.1 400 Bad Request\r\n", 0, SMTP_RETRY, "greeting: not an SMTP reply"},
		{"a code and garbage", "220x\r\n", 0, SMTP_RETRY, "greeting: not an SMTP reply"},
		{"cut short", "220 hi", 0, SMTP_RETRY, "greeting: connection lost"},
		{"nothing", "", 0, SMTP_RETRY, "greeting: connection lost"},
		{"a 554 greeting", "554 go away\r\n", 0, SMTP_FAIL, "greeting: 554 go away"},
		{"a bare LF", "220 hi\n250 ok\n", 0, SMTP_OK, NULL},
		{"a NUL in a line", "220 h\0i\r\n250 ok\r\n", 17, SMTP_OK, NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int sv[2];
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		size_t len = cases[i].len ? cases[i].len : strlen(cases[i].said);
		if (len)
			assert_int_equal(write(sv[1], cases[i].said, len), (ssize_t)len);
		shutdown(sv[1], SHUT_WR);
		fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
		struct smtp_opts o = opts(PLAIN);
		o.timeout = 2;
		struct smtp_conn *c = NULL;
		char *err = NULL;
		int st = smtp_open_fd(sv[0], &o, &c, NULL, &err);
		if (st != cases[i].status)
			fail_msg("%s: status %d, want %d (%s)", cases[i].what, st, cases[i].status, err ? err : "");
		if (cases[i].err && (!err || !strstr(err, cases[i].err)))
			fail_msg("%s: error \"%s\", want \"%s\"", cases[i].what, err ? err : "", cases[i].err);
		if (!cases[i].err)
			assert_non_null(c);
		free(err);
		smtp_close(c);
		close(sv[1]);
	}
	buf_free(&line4096);
	buf_free(&line4097);
	buf_free(&huge);
	buf_free(&ok_ehlo);
}

static void test_plain_many(void **state)
{
	(void)state;
	struct buf long_msg = {0};
	buf_adds(&long_msg, "From: a@example.org\r\nSubject: dots\r\n\r\n.leading dot\r\n..two dots\r\n.\r\n");
	for (int i = 0; i < 998; i++)
		buf_add(&long_msg, i % 10 == 9 ? " " : "x", 1);
	buf_adds(&long_msg, "\r\nlast line\r\n");
	const struct {
		const char *rcpt, *msg, *want;
	} cases[] = {
		{"one@example.org", long_msg.data, long_msg.data},
		{"two@example.org", "Subject: two\r\n\r\nsecond\r\n", "Subject: two\r\n\r\nsecond\r\n"},
		{"three@example.org", ".first line is a dot\r\n\r\n.\r\n", ".first line is a dot\r\n\r\n.\r\n"},
		{"four@example.org", "Subject: no CRLF at the end\r\n\r\nend", "Subject: no CRLF at the end\r\n\r\nend\r\n"},
	};
	struct smtp_opts o = opts(PLAIN);
	struct smtp_conn *c = NULL;
	char *err = NULL;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	assert_null(err);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		send_ok(c, cases[i].rcpt, cases[i].msg);
	smtp_close(c);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = 0;
		char *entry = NULL;
		char *got = saved(PLAIN, cases[i].rcpt, &len, &entry);
		if (!got)
			fail_msg("%s: not saved", cases[i].rcpt);
		if (len != strlen(cases[i].want) || memcmp(got, cases[i].want, len))
			fail_msg("%s: saved %zu bytes, want %zu:\n%s", cases[i].rcpt, len, strlen(cases[i].want), got);
		assert_non_null(strstr(entry, "\"helo\": \"digest.test\""));
		assert_non_null(strstr(entry, "\"mail_from\": \"digest@example.org\""));
		/* the server does not offer PIPELINING: one command at a time */
		assert_non_null(strstr(entry, "\"pipelined\": false"));
		free(entry);
		free(got);
	}
	buf_free(&long_msg);
}

/* The same messages to a server that offers PIPELINING: saved byte for
 * byte as well, each envelope sent in one go. */
static void test_pipelined_many(void **state)
{
	(void)state;
	const struct {
		const char *rcpt, *msg, *want;
	} cases[] = {
		{"p-one@example.org", "Subject: one\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n",
		 "Subject: one\r\n\r\n.leading dot\r\n..two\r\n.\r\nend\r\n"},
		{"p-two@example.org", "Subject: two\r\n\r\nno line break at the end",
		 "Subject: two\r\n\r\nno line break at the end\r\n"},
		{"p-three@example.org", "", "\r\n"},
		{"p-four@example.org", "Subject: four\n\nlone LF\nlone CR\rend\r\n",
		 "Subject: four\r\n\r\nlone LF\r\nlone CR\r\nend\r\n"},
	};
	struct smtp_opts o = opts(PIPE);
	struct smtp_conn *c = NULL;
	char *err = NULL;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		send_ok(c, cases[i].rcpt, cases[i].msg);
	smtp_close(c);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len = 0;
		char *entry = NULL;
		char *got = saved(PIPE, cases[i].rcpt, &len, &entry);
		if (!got)
			fail_msg("%s: not saved", cases[i].rcpt);
		if (len != strlen(cases[i].want) || memcmp(got, cases[i].want, len))
			fail_msg("%s: saved %zu bytes, want %zu:\n%s", cases[i].rcpt, len, strlen(cases[i].want), got);
		if (!strstr(entry, "\"pipelined\": true"))
			fail_msg("%s: MAIL, RCPT and DATA did not come in one go: %s", cases[i].rcpt, entry);
		free(entry);
		free(got);
	}
	assert_null(err);
}

/* Refusals in a pipelined group, each classified by the first reply that
 * is not the one wanted, as without pipelining, and the connection goes
 * on: 451 to RCPT (then 503 to DATA), 550 to RCPT (503 to DATA), 451 to
 * MAIL FROM (503 to RCPT and DATA). */
static void test_pipelined_refused(void **state)
{
	(void)state;
	struct smtp_opts o = opts(PIPE);
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	const char *msg = "Subject: x\r\n\r\nx\r\n";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	send_ok(c, "p-first@example.org", msg);
	assert_int_equal(smtp_send(c, "digest@example.org", "defer@example.org", msg, strlen(msg), reply), SMTP_RETRY);
	assert_true(!strncmp(reply, "451 4.3.0 <defer@example.org>", 29));
	assert_int_equal(smtp_last_stage(c), SMTP_STAGE_RECIPIENT);
	assert_true(smtp_usable(c));
	send_ok(c, "defer@example.org", msg); /* deferred once only */
	assert_int_equal(smtp_send(c, "digest@example.org", "bad@example.org", msg, strlen(msg), reply), SMTP_FAIL);
	assert_true(!strncmp(reply, "550 5.1.1 <bad@example.org>", 27));
	assert_int_equal(smtp_last_stage(c), SMTP_STAGE_RECIPIENT);
	assert_true(smtp_usable(c));
	send_ok(c, "p-after-bad@example.org", msg);
	assert_int_equal(smtp_send(c, "defer-sender@example.org", "p-mail@example.org", msg, strlen(msg), reply),
			 SMTP_RETRY);
	assert_string_equal(reply, "451 4.3.0 Sender temporarily refused, try again later");
	assert_int_equal(smtp_last_stage(c), SMTP_STAGE_SENDER);
	assert_true(smtp_usable(c));
	assert_int_equal(smtp_send(c, "defer-sender@example.org", "p-mail@example.org", msg, strlen(msg), reply),
			 SMTP_OK);
	send_ok(c, "p-last@example.org", msg);
	smtp_close(c);
	assert_null(saved(PIPE, "bad@example.org", NULL, NULL));
	const char *const got[] = {"p-first@example.org", "defer@example.org", "p-after-bad@example.org",
				   "p-mail@example.org", "p-last@example.org"};
	for (size_t i = 0; i < ARRAY_LEN(got); i++) {
		char *entry = NULL, *m = saved(PIPE, got[i], NULL, &entry);
		if (!m)
			fail_msg("%s: not saved", got[i]);
		assert_non_null(strstr(entry, "\"pipelined\": true"));
		free(entry);
		free(m);
	}
	char *entry = NULL, *m = saved(PIPE, "p-mail@example.org", NULL, &entry);
	assert_non_null(strstr(entry, "\"mail_from\": \"defer-sender@example.org\""));
	free(entry);
	free(m);
	assert_null(err);
}

/* A server that answers 354 to DATA after refusing the only recipient
 * (RFC 2920 warns of them): the empty message is ended with a lone dot,
 * its refusal ignored; the recipient's 550 is what the send says, and the
 * connection goes on. */
static void test_pipelined_data_without_rcpt(void **state)
{
	(void)state;
	struct smtp_opts o = opts(PIPE_ODD);
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	const char *msg = "Subject: odd\r\n\r\nx\r\n";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	assert_int_equal(smtp_send(c, "digest@example.org", "bad@example.org", msg, strlen(msg), reply), SMTP_FAIL);
	assert_true(!strncmp(reply, "550 5.1.1 <bad@example.org>", 27));
	assert_int_equal(smtp_last_stage(c), SMTP_STAGE_RECIPIENT);
	assert_true(smtp_usable(c));
	send_ok(c, "odd-good@example.org", msg);
	assert_int_equal(smtp_send(c, "digest@example.org", "bad@example.org", msg, strlen(msg), reply), SMTP_FAIL);
	send_ok(c, "odd-good2@example.org", msg);
	smtp_close(c);
	assert_null(saved(PIPE_ODD, "bad@example.org", NULL, NULL));
	size_t len = 0;
	char *got = saved(PIPE_ODD, "odd-good2@example.org", &len, NULL);
	assert_non_null(got);
	assert_string_equal(got, msg);
	free(got);
	assert_null(err);
}

/* The connection dropped in the middle of a pipelined group (at RCPT):
 * later, connection done, nothing saved; a new connection is fine. And a
 * server that stops answering: given up after the timeout, once, not once
 * per reply awaited. */
static void test_pipelined_dropped_and_stalled(void **state)
{
	(void)state;
	struct smtp_opts o = opts(PIPE);
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	const char *msg = "Subject: drop\r\n\r\nx\r\n";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	assert_int_equal(smtp_send(c, "digest@example.org", "drop@example.org", msg, strlen(msg), reply), SMTP_RETRY);
	assert_string_equal(reply, "connection lost");
	assert_false(smtp_usable(c));
	smtp_close(c);
	assert_null(saved(PIPE, "drop@example.org", NULL, NULL));
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	send_ok(c, "drop@example.org", msg); /* dropped once only */
	smtp_close(c);

	o = opts(PIPE_STALL);
	o.timeout = 1;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	send_ok(c, "p-before-stall@example.org", msg); /* the server stalls from here on */
	double t0 = now();
	assert_int_equal(smtp_send(c, "digest@example.org", "p-stalled@example.org", msg, strlen(msg), reply),
			 SMTP_RETRY);
	double took = now() - t0;
	if (took < 0.9 || took > 1.9)
		fail_msg("gave up after %.2f s, want about 1", took);
	assert_string_equal(reply, "timeout (no reply in 1 s)");
	assert_int_equal(smtp_last_stage(c), SMTP_STAGE_SENDER);
	assert_false(smtp_usable(c));
	smtp_close(c);
	assert_null(err);
}

/* smtp_begin sends all but the final dot: smtp_finish delivers, while
 * smtp_abandon (or smtp_close) leaves nothing delivered and the connection
 * closed; with and without PIPELINING. */
/* smtp_finish_next: BEGIN's message finished and the next one begun on
 * C, the statuses as wanted; the next one's stage too. */
static void finish_next(struct smtp_conn *c, const char *rcpt, int want, const char *next, int want_next,
			enum smtp_stage next_stage)
{
	const char *msg = "Subject: next\r\n\r\nbody\r\n";
	char reply[SMTP_REPLY_MAX], next_reply[SMTP_REPLY_MAX];
	int next_st = -1;
	int st = smtp_finish_next(c, reply, "digest@example.org", next, msg, strlen(msg), SMTP_CANONICAL,
				  next_reply, &next_st);
	if (st != want || next_st != want_next)
		fail_msg("finishing %s: %d (%s), want %d; beginning %s: %d (%s), want %d", rcpt, st, reply, want, next,
			 next_st, next_reply, want_next);
	if (want_next != SMTP_OK && smtp_last_stage(c) != next_stage)
		fail_msg("beginning %s: stage %d, want %d", next, smtp_last_stage(c), next_stage);
}

/* The final dot and the next envelope in one group (RFC 2920): each
 * reply goes to its own message: a refused message text (554 after the
 * dot) leaves the next envelope going; a refused or deferred next
 * recipient is that one's; an address that cannot go is refused without
 * a word to the server; a connection that drops in the next envelope
 * leaves the message before it delivered. */
static void test_finish_next(void **state)
{
	(void)state;
	struct smtp_opts o = opts(PIPE);
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	const char *msg = "Subject: next\r\n\r\nbody\r\n";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	assert_int_equal(smtp_begin_flags(c, "digest@example.org", "n1@example.org", msg, strlen(msg),
					  SMTP_CANONICAL, reply),
			 SMTP_OK);
	finish_next(c, "n1@", SMTP_OK, "reject@example.org", SMTP_OK, 0);
	finish_next(c, "reject@", SMTP_FAIL, "bad@example.org", SMTP_FAIL, SMTP_STAGE_RECIPIENT);
	assert_true(smtp_usable(c));
	assert_int_equal(smtp_begin_flags(c, "digest@example.org", "n2@example.org", msg, strlen(msg),
					  SMTP_CANONICAL, reply),
			 SMTP_OK);
	finish_next(c, "n2@", SMTP_OK, "later@example.org", SMTP_RETRY, SMTP_STAGE_RECIPIENT);
	assert_true(smtp_usable(c));
	assert_int_equal(smtp_begin_flags(c, "digest@example.org", "later@example.org", msg, strlen(msg),
					  SMTP_CANONICAL, reply),
			 SMTP_OK);
	finish_next(c, "later@", SMTP_OK, "in>valid@example.org", SMTP_FAIL, SMTP_STAGE_RECIPIENT);
	assert_true(smtp_usable(c));
	assert_int_equal(smtp_begin_flags(c, "digest@example.org", "n3@example.org", msg, strlen(msg),
					  SMTP_CANONICAL, reply),
			 SMTP_OK);
	finish_next(c, "n3@", SMTP_OK, "drop2@example.org", SMTP_RETRY, SMTP_STAGE_RECIPIENT);
	assert_false(smtp_usable(c));
	smtp_close(c);
	assert_null(saved(PIPE, "reject@example.org", NULL, NULL));
	assert_null(saved(PIPE, "bad@example.org", NULL, NULL));
	const char *const got[] = {"n1@example.org", "n2@example.org", "later@example.org", "n3@example.org"};
	for (size_t i = 0; i < ARRAY_LEN(got); i++) {
		size_t len = 0;
		char *m = saved(PIPE, got[i], &len, NULL);
		if (!m)
			fail_msg("%s: not saved", got[i]);
		if (len != strlen(msg) || memcmp(m, msg, len))
			fail_msg("%s: saved %zu bytes, want %zu", got[i], len, strlen(msg));
		free(m);
	}
	assert_null(err);
}

/* The next envelope leaves with the final dot, before its reply: a server
 * that has not answered the dot yet has MAIL, RCPT and DATA already. The
 * dot's reply that never comes is "may have been delivered", and the
 * next message is not begun. */
static void test_finish_next_before_the_reply(void **state)
{
	(void)state;
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	const char *said = "220 hi\r\n250-hi\r\n250 PIPELINING\r\n250 ok\r\n250 ok\r\n354 go\r\n";
	assert_int_equal(write(sv[1], said, strlen(said)), (ssize_t)strlen(said));
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);
	struct smtp_opts o = opts(PLAIN);
	o.timeout = 2;
	o.data_timeout = 1;
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX], next_reply[SMTP_REPLY_MAX];
	assert_int_equal(smtp_open_fd(sv[0], &o, &c, NULL, &err), SMTP_OK);
	const char *msg = "Subject: one\r\n\r\nbody\r\n";
	assert_int_equal(smtp_begin_flags(c, "digest@example.org", "one@example.org", msg, strlen(msg),
					  SMTP_CANONICAL, reply),
			 SMTP_OK);
	int next_st = -1;
	assert_int_equal(smtp_finish_next(c, reply, "digest@example.org", "two@example.org", msg, strlen(msg),
					  SMTP_CANONICAL, next_reply, &next_st),
			 SMTP_MAYBE);
	assert_int_equal(next_st, SMTP_RETRY);
	assert_false(smtp_usable(c));
	char got[4096];
	ssize_t n = read(sv[1], got, sizeof got - 1);
	assert_true(n > 0);
	got[n] = '\0';
	const char *dot = strstr(got, "body\r\n.\r\nMAIL FROM:<digest@example.org>\r\nRCPT TO:<two@example.org>\r\nDATA\r\n");
	if (!dot)
		fail_msg("the server got: %s", got);
	smtp_close(c);
	close(sv[1]);
	free(err);
}

static void test_begin_finish_abandon(void **state)
{
	(void)state;
	static const int which[] = {PLAIN, PIPE};
	const char *msg = "Subject: halves\r\n\r\n.dot\r\nbody\r\n";
	char reply[SMTP_REPLY_MAX], *err = NULL;
	for (size_t i = 0; i < ARRAY_LEN(which); i++) {
		struct smtp_opts o = opts(which[i]);
		struct smtp_conn *c = NULL;
		char *kept = xasprintf("halves-kept-%zu@example.org", i);
		char *dropped = xasprintf("halves-dropped-%zu@example.org", i);
		char *closed = xasprintf("halves-closed-%zu@example.org", i);
		assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
		assert_int_equal(smtp_finish(c, reply), SMTP_RETRY);
		assert_string_equal(reply, "no transaction to finish");
		char *copy = xstrdup(msg); /* gone before smtp_finish: smtp_begin kept what it needs */
		assert_int_equal(smtp_begin(c, "digest@example.org", kept, copy, strlen(copy), reply), SMTP_OK);
		free(copy);
		assert_int_equal(smtp_send(c, "digest@example.org", "x@example.org", msg, strlen(msg), reply), SMTP_RETRY);
		assert_int_equal(smtp_finish(c, reply), SMTP_OK);
		assert_true(!strncmp(reply, "250 ", 4));
		assert_int_equal(smtp_begin(c, "digest@example.org", "bad@example.org", msg, strlen(msg), reply),
				 SMTP_FAIL);
		assert_true(smtp_usable(c));
		assert_int_equal(smtp_begin(c, "digest@example.org", dropped, msg, strlen(msg), reply), SMTP_OK);
		smtp_abandon(c);
		assert_false(smtp_usable(c));
		smtp_abandon(c); /* twice is fine */
		assert_int_equal(smtp_send(c, "digest@example.org", "x@example.org", msg, strlen(msg), reply), SMTP_RETRY);
		smtp_close(c);
		assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
		assert_int_equal(smtp_begin(c, "digest@example.org", closed, msg, strlen(msg), reply), SMTP_OK);
		smtp_close(c); /* no QUIT inside the message, no dot: nothing delivered */
		size_t len = 0;
		char *got = saved(which[i], kept, &len, NULL);
		assert_non_null(got);
		assert_string_equal(got, msg);
		free(got);
		assert_null(saved(which[i], dropped, NULL, NULL));
		assert_null(saved(which[i], closed, NULL, NULL));
		free(kept);
		free(dropped);
		free(closed);
	}
	smtp_abandon(NULL);
	assert_null(err);
}

/* A 451 to RCPT: later, and the connection goes on; a 550: never, and the
 * connection goes on too. Nothing that could end the command line reaches
 * the server. */
static void test_refused_rcpt(void **state)
{
	(void)state;
	struct smtp_opts o = opts(PLAIN);
	o.host = "localhost";
	o.helo = NULL; /* the machine's name */
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	const char *msg = "Subject: x\r\n\r\nx\r\n";
	assert_int_equal(smtp_send(c, "digest@example.org", "defer@example.org", msg, strlen(msg), reply), SMTP_RETRY);
	assert_true(!strncmp(reply, "451 4.3.0 <defer@example.org>", 29));
	assert_true(smtp_usable(c));
	send_ok(c, "defer@example.org", msg); /* deferred once only */
	assert_int_equal(smtp_send(c, "digest@example.org", "bad@example.org", msg, strlen(msg), reply), SMTP_FAIL);
	assert_true(!strncmp(reply, "550 5.1.1 <bad@example.org>", 27));
	assert_true(smtp_usable(c));
	send_ok(c, "after-bad@example.org", msg);
	/* a null sender is allowed */
	assert_int_equal(smtp_send(c, "", "null-sender@example.org", msg, strlen(msg), reply), SMTP_OK);
	static const char *const bad_rcpts[] = {
		"a@example.org\r\nRSET", "a@example.org\nRCPT TO:<b@example.org>", "a@example.org> NOTIFY=NEVER",
		"<a@example.org", "", "a\x01@example.org", "a\x7f@example.org", NULL,
	};
	for (size_t i = 0; i < ARRAY_LEN(bad_rcpts); i++) {
		assert_int_equal(smtp_send(c, "digest@example.org", bad_rcpts[i], msg, strlen(msg), reply), SMTP_FAIL);
		assert_string_equal(reply, "invalid recipient address");
	}
	assert_int_equal(smtp_send(c, NULL, "x@example.org", msg, strlen(msg), reply), SMTP_FAIL);
	assert_int_equal(smtp_send(c, "a@b\r\nDATA", "x@example.org", msg, strlen(msg), reply), SMTP_FAIL);
	assert_string_equal(reply, "invalid sender address");
	char longest[256];
	memset(longest, 'a', 254);
	memcpy(longest + 254 - 12, "@example.org", 12);
	longest[254] = '\0';
	send_ok(c, longest, msg);
	memmove(longest + 1, longest, 255);
	assert_int_equal(smtp_send(c, "digest@example.org", longest, msg, strlen(msg), reply), SMTP_FAIL);
	assert_true(smtp_usable(c));
	send_ok(c, "last@example.org", msg);
	smtp_close(c);
	char *entry = NULL;
	char *got = saved(PLAIN, "null-sender@example.org", NULL, &entry);
	assert_non_null(got);
	free(got);
	assert_non_null(strstr(entry, "\"mail_from\": \"<>\"")); /* aiosmtpd's way of saying "" */
	char host[256] = "", *want = NULL;
	gethostname(host, sizeof host);
	want = xasprintf("\"helo\": \"%s\"", host);
	assert_non_null(strstr(entry, want));
	free(want);
	free(entry);
	assert_null(saved(PLAIN, "bad@example.org", NULL, NULL));
	assert_null(err);
}

/* A server without EHLO, that takes one connection at a time: HELO will
 * do, a second connection is for later. A 451 after the data: later, same
 * connection; then the server takes the next message and hangs up before
 * its reply: maybe delivered (not to be tried again at once), connection
 * done. */
static void test_deferred_then_dropped(void **state)
{
	(void)state;
	struct smtp_opts o = opts(FLAKY);
	struct smtp_conn *c = NULL, *c2 = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	const char *msg = "Subject: flaky\r\n\r\nx\r\n";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	assert_int_equal(smtp_open(&o, &c2, NULL, &err), SMTP_RETRY);
	assert_null(c2);
	char *want = xasprintf("smtp 127.0.0.1:%d: greeting: 421 4.7.0 Too many connections, try again later", o.port);
	assert_string_equal(err, want);
	free(want);
	free(err);
	err = NULL;
	assert_int_equal(smtp_send(c, "digest@example.org", "first@example.org", msg, strlen(msg), reply), SMTP_RETRY);
	assert_string_equal(reply, "451 4.3.0 Message deferred, try again later");
	assert_true(smtp_usable(c));
	/* the dot went out: no reply is no proof that it was not delivered */
	assert_int_equal(smtp_send(c, "digest@example.org", "second@example.org", msg, strlen(msg), reply), SMTP_MAYBE);
	assert_string_equal(reply, "connection lost after the final dot: may have been delivered");
	assert_false(smtp_usable(c));
	assert_int_equal(smtp_send(c, "digest@example.org", "third@example.org", msg, strlen(msg), reply), SMTP_RETRY);
	assert_string_equal(reply, "connection not usable");
	smtp_close(c);
	char *entry = NULL;
	char *got = saved(FLAKY, "second@example.org", NULL, &entry); /* in flight when the line went */
	assert_non_null(got);
	assert_non_null(strstr(entry, "\"helo\": \"digest.test\"")); /* by HELO */
	free(entry);
	free(got);
	assert_null(saved(FLAKY, "first@example.org", NULL, NULL));
	/* a new connection is fine */
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	send_ok(c, "fourth@example.org", msg);
	smtp_close(c);
	assert_null(err);
}

/* A server that stops answering, with timeout = 1: the send gives up in
 * about a second, and so does a new connection's EHLO. Before that, AUTH
 * in the clear is fine on loopback, and a bad address fails at once, without
 * a word to the (stalled) server. */
static void test_stalled(void **state)
{
	(void)state;
	struct smtp_opts o = opts(STALL);
	o.timeout = 1;
	o.username = USER;
	o.password = PASS;
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	const char *msg = "Subject: stall\r\n\r\nx\r\n";
	if (smtp_open(&o, &c, NULL, &err) != SMTP_OK)
		fail_msg("%s", err);
	send_ok(c, "before@example.org", msg); /* the server stalls from here on */
	double t0 = now();
	assert_int_equal(smtp_send(c, "digest@example.org", "x\r\n@example.org", msg, strlen(msg), reply), SMTP_FAIL);
	assert_true(now() - t0 < 0.5);
	assert_true(smtp_usable(c));
	t0 = now();
	assert_int_equal(smtp_send(c, "digest@example.org", "after@example.org", msg, strlen(msg), reply), SMTP_RETRY);
	double took = now() - t0;
	if (took < 0.9 || took > 3)
		fail_msg("gave up after %.2f s, want about 1", took);
	assert_string_equal(reply, "timeout (no reply in 1 s)");
	assert_false(smtp_usable(c));
	t0 = now();
	smtp_close(c); /* no QUIT to wait for */
	assert_true(now() - t0 < 0.5);
	t0 = now();
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_RETRY);
	took = now() - t0;
	if (took < 0.9 || took > 3)
		fail_msg("smtp_open gave up after %.2f s, want about 1", took);
	assert_null(c);
	assert_non_null(strstr(err, "EHLO: timeout"));
	char *entry = NULL;
	char *got = saved(STALL, "before@example.org", NULL, &entry);
	assert_non_null(got);
	assert_non_null(strstr(entry, "\"auth\": \"" USER "\""));
	free(entry);
	free(got);
	free(err);
}

/* Nobody listening: later. Someone listening who never speaks (the kernel
 * accepts, no program does): later, after the timeout, in the clear and in
 * the TLS handshake. */
static void test_unreachable(void **state)
{
	(void)state;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
	struct smtp_opts o = opts(PLAIN);
	o.port = ntohs(a.sin_port);
	o.timeout = 1;
	struct smtp_conn *c = NULL;
	char *err = NULL;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_RETRY); /* bound, not listening: refused */
	assert_null(c);
	char *want = xasprintf("smtp 127.0.0.1:%d: connect: Connection refused", o.port);
	assert_string_equal(err, want);
	free(want);
	assert_int_equal(listen(fd, 8), 0);
	for (int sec = SMTP_SEC_NONE; sec <= SMTP_SEC_TLS; sec++) {
		o.security = sec;
		double t0 = now();
		assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_RETRY);
		double took = now() - t0;
		if (took < 0.9 || took > 3)
			fail_msg("security %d: gave up after %.2f s, want about 1 (%s)", sec, took, err);
		assert_non_null(strstr(err, sec == SMTP_SEC_TLS ? "TLS: handshake timeout (1 s)" : "greeting: timeout (no reply in 1 s)"));
	}
	close(fd);
	free(err);
}

static void test_bad_options(void **state)
{
	(void)state;
	struct smtp_opts o = opts(PLAIN);
	struct smtp_conn *c = NULL;
	char *err = NULL;
	o.helo = "bad name\r\nRSET";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	assert_non_null(strstr(err, "EHLO"));
	o = opts(PLAIN);
	o.port = 0;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	o = opts(PLAIN);
	o.host = "";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	o = opts(PLAIN);
	o.security = SMTP_SEC_STARTTLS; /* the plain server does not offer it */
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	assert_non_null(strstr(err, "STARTTLS: the server does not offer it"));
	assert_null(c);
	free(err);
}

/* STARTTLS with a self-signed certificate: refused unless trusted through
 * ca_file (for both its name and its address) or not checked at all. */
static void test_starttls(void **state)
{
	(void)state;
	struct smtp_opts o = opts(STARTTLS);
	o.security = SMTP_SEC_STARTTLS;
	o.username = USER;
	o.password = PASS;
	struct smtp_conn *c = NULL;
	char *err = NULL;
	char *prefix = xasprintf("smtp 127.0.0.1:%d: STARTTLS: certificate: ", o.port);
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	assert_null(c);
	if (strncmp(err, prefix, strlen(prefix)) || !strstr(err, "NOT trusted"))
		fail_msg("%s", err);
	free(prefix);
	assert_null(strstr(err, PASS));
	o.tls_verify = false;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	send_ok(c, "noverify@example.org", "Subject: no verify\r\n\r\nx\r\n");
	smtp_close(c);
	o.tls_verify = true;
	o.ca_file = cert_both;
	const char *hosts[] = {"127.0.0.1", "localhost"};
	for (size_t i = 0; i < ARRAY_LEN(hosts); i++) {
		o.host = hosts[i];
		if (smtp_open(&o, &c, NULL, &err) != SMTP_OK)
			fail_msg("%s: %s", hosts[i], err);
		send_ok(c, i ? "ca-name@example.org" : "ca-ip@example.org", "Subject: verified\r\n\r\nx\r\n");
		smtp_close(c);
	}
	char *entry = NULL;
	char *got = saved(STARTTLS, "ca-name@example.org", NULL, &entry);
	assert_non_null(got);
	assert_non_null(strstr(entry, "\"auth\": \"" USER "\""));
	free(entry);
	free(got);
	/* a CA file with no certificate in it */
	o.ca_file = "/dev/null";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	assert_non_null(strstr(err, "certificate: no trusted CA certificate in /dev/null"));
	free(err);
}

static void test_auth_refused(void **state)
{
	(void)state;
	struct smtp_opts o = opts(STARTTLS);
	o.security = SMTP_SEC_STARTTLS;
	o.ca_file = cert_both;
	o.username = USER;
	o.password = "wrong-" PASS;
	struct smtp_conn *c = NULL;
	char *err = NULL;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	assert_null(c);
	char *want = xasprintf("smtp 127.0.0.1:%d: AUTH PLAIN: 535 5.7.8 Authentication credentials invalid", o.port);
	assert_string_equal(err, want);
	free(want);
	/* the server wants AUTH: without it, the message is refused */
	o.username = NULL;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	char reply[SMTP_REPLY_MAX];
	assert_int_equal(smtp_send(c, "digest@example.org", "x@example.org", "x\r\n", 3, reply), SMTP_FAIL);
	assert_true(!strncmp(reply, "530 ", 4));
	assert_true(smtp_usable(c));
	smtp_close(c);
	free(err);
}

/* No password in the clear to an address that is not loopback: refused
 * before AUTH (the server would have taken it). */
static void test_auth_not_loopback(void **state)
{
	(void)state;
	struct ifaddrs *ifs = NULL, *i;
	char ip[INET_ADDRSTRLEN] = "";
	assert_int_equal(getifaddrs(&ifs), 0);
	for (i = ifs; i && !ip[0]; i = i->ifa_next)
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    (ntohl(((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr.s_addr) >> 24) != 127)
			inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)i->ifa_addr)->sin_addr, ip, sizeof ip);
	freeifaddrs(ifs);
	if (!ip[0])
		skip(); /* no address but loopback on this machine */
	struct server s = {.name = "public"};
	const char *extra[] = {"--listen", ip, "--auth", USER ":" PASS, NULL};
	if (start_server(&s, extra) != 0 || wait_server(&s) != 0) {
		stop_server(&s);
		fail_msg("no server on %s", ip);
	}
	struct smtp_opts o = {.host = ip, .port = s.port, .helo = "digest.test", .timeout = 5,
			      .username = USER, .password = PASS, .tls_verify = true};
	struct smtp_conn *c = NULL;
	char *err = NULL;
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	assert_null(c);
	assert_non_null(strstr(err, "AUTH: not sending the password over an unencrypted connection"));
	assert_null(strstr(err, PASS));
	o.username = NULL; /* the same server without AUTH: connected all right */
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_OK);
	smtp_close(c);
	assert_int_equal(stop_server(&s), 0);
	free(s.out);
	free(err);
}

/* Implicit TLS, with a certificate for the name "localhost" only: fine by
 * that name, refused by address. */
static void test_implicit_tls(void **state)
{
	(void)state;
	struct smtp_opts o = opts(IMPLICIT);
	o.security = SMTP_SEC_TLS;
	o.ca_file = cert_name;
	o.host = "localhost";
	struct smtp_conn *c = NULL;
	char *err = NULL;
	if (smtp_open(&o, &c, NULL, &err) != SMTP_OK)
		fail_msg("%s", err);
	send_ok(c, "implicit@example.org", "Subject: implicit\r\n\r\n.x\r\n");
	smtp_close(c);
	size_t len;
	char *got = saved(IMPLICIT, "implicit@example.org", &len, NULL);
	assert_non_null(got);
	assert_string_equal(got, "Subject: implicit\r\n\r\n.x\r\n");
	free(got);
	o.host = "127.0.0.1";
	assert_int_equal(smtp_open(&o, &c, NULL, &err), SMTP_FAIL);
	char *want = xasprintf("smtp 127.0.0.1:%d: TLS: certificate: ", o.port);
	if (strncmp(err, want, strlen(want)) || !strstr(err, "does not match"))
		fail_msg("%s", err);
	free(want);
	free(err);
}

static char *make_cert(const char *name, const char *san, char **key)
{
	char *crt = xasprintf("%s/%s.crt", dir, name);
	*key = xasprintf("%s/%s.key", dir, name);
	char *cmd = xasprintf("openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=localhost -addext "
			      "subjectAltName=%s -days 2 -keyout '%s' -out '%s' >/dev/null 2>&1",
			      san, *key, crt);
	int rc = system(cmd);
	free(cmd);
	if (rc != 0) {
		free(crt);
		return NULL;
	}
	return crt;
}

static int teardown(void **state)
{
	(void)state;
	int rc = 0;
	for (int i = 0; i < NSERVERS; i++) {
		rc |= stop_server(&servers[i]);
		free(servers[i].out);
		servers[i].out = NULL;
	}
	char *cmd = xasprintf("rm -rf '%s'", dir);
	rc |= system(cmd);
	free(cmd);
	free(cert_both);
	free(key_both);
	free(cert_name);
	free(key_name);
	cert_both = key_both = cert_name = key_name = NULL;
	return rc == 0 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_QUIET);
	if (access(SMTPD, R_OK) != 0) {
		fprintf(stderr, "test_smtp: %s not found: run from the repository root\n", SMTPD);
		return -1;
	}
	if (!mkdtemp(dir))
		return -1;
	cert_both = make_cert("both", "DNS:localhost,IP:127.0.0.1", &key_both);
	cert_name = make_cert("name", "DNS:localhost", &key_name);
	if (!cert_both || !cert_name) {
		fprintf(stderr, "test_smtp: openssl could not make a certificate\n");
		teardown(state);
		return -1;
	}
	const char *plain[] = {"--defer-rcpt", "^defer@:1", "--fail-rcpt", "^bad@", NULL};
	const char *flaky[] = {"--defer-data-first", "1", "--drop-after", "1", "--max-conns", "1", "--no-esmtp", NULL};
	const char *stall[] = {"--stall-after", "1", "--auth", USER ":" PASS, NULL};
	const char *starttls[] = {"--starttls", cert_both, key_both, "--require-tls", "--auth", USER ":" PASS, NULL};
	const char *implicit[] = {"--tls", cert_name, key_name, NULL};
	const char *pipe[] = {"--pipelining", "--defer-rcpt", "^defer@:1", "--fail-rcpt", "^bad@",
			      "--defer-mail", "^defer-sender@:1", "--drop-rcpt", "^drop[0-9]*@", "--fail-data", "^reject@",
			      "--defer-rcpt", "^later@:1", NULL};
	const char *pipe_odd[] = {"--pipelining", "--data-without-rcpt", "--fail-rcpt", "^bad@", NULL};
	const char *pipe_stall[] = {"--pipelining", "--stall-after", "1", NULL};
	const char *const *extra[NSERVERS] = {plain, flaky, stall, starttls, implicit, pipe, pipe_odd, pipe_stall};
	int rc = 0;
	for (int i = 0; i < NSERVERS && rc == 0; i++)
		rc = start_server(&servers[i], extra[i]);
	for (int i = 0; i < NSERVERS && rc == 0; i++)
		rc = wait_server(&servers[i]);
	if (rc != 0) { /* cmocka skips the teardown when the setup fails */
		teardown(state);
		return -1;
	}
	return 0;
}

int main(void)
{
	/* a server that goes away mid-write must not kill the test */
	signal(SIGPIPE, SIG_IGN);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback),
		cmocka_unit_test(test_reader_limits),
		cmocka_unit_test(test_plain_many),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_pipelined_many),
		cmocka_unit_test(test_pipelined_refused),
		cmocka_unit_test(test_pipelined_data_without_rcpt),
		cmocka_unit_test(test_pipelined_dropped_and_stalled),
		cmocka_unit_test(test_finish_next),
		cmocka_unit_test(test_finish_next_before_the_reply),
		cmocka_unit_test(test_begin_finish_abandon),
		cmocka_unit_test(test_refused_rcpt),
		cmocka_unit_test(test_deferred_then_dropped),
		cmocka_unit_test(test_stalled),
		cmocka_unit_test(test_unreachable),
		cmocka_unit_test(test_bad_options),
		cmocka_unit_test(test_starttls),
		cmocka_unit_test(test_auth_refused),
		cmocka_unit_test(test_auth_not_loopback),
		cmocka_unit_test(test_implicit_tls),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
