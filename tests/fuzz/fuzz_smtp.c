/* libFuzzer target: the input is everything an SMTP server says, from its
 * greeting on; the client opens a session over it and sends three
 * messages. Whatever the server says, the client must not crash, hold more
 * than the reply limits, or hand back a reply with a control character or
 * longer than SMTP_REPLY_MAX. The first byte chooses the client's options
 * (AUTH, STARTTLS, a null sender, and whether each final dot goes with
 * the next envelope: smtp_finish_next). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "digest/smtp.h"

static void check_reply(const char *reply)
{
	size_t n = strnlen(reply, SMTP_REPLY_MAX);
	if (n >= SMTP_REPLY_MAX)
		abort();
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)reply[i] < 0x20 || reply[i] == 0x7F)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	if (!init) {
		signal(SIGPIPE, SIG_IGN);
		init = 1;
	}
	if (size < 1 || size > 60000)
		return 0;
	const unsigned flags = data[0];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return 0;
	/* the server's side: all it will ever say, then the end of it */
	if (size > 1 && write(sv[1], data + 1, size - 1) != (ssize_t)(size - 1)) {
		close(sv[0]);
		close(sv[1]);
		return 0;
	}
	shutdown(sv[1], SHUT_WR);
	fcntl(sv[0], F_SETFL, fcntl(sv[0], F_GETFL) | O_NONBLOCK);

	struct smtp_opts o = {.host = "127.0.0.1",
			      .port = 25,
			      .security = flags & 2 ? SMTP_SEC_STARTTLS : SMTP_SEC_NONE,
			      .username = flags & 1 ? "user" : NULL,
			      .password = "secret",
			      .helo = "fuzz.test",
			      .timeout = 1,
			      .data_timeout = 1,
			      .tls_verify = true};
	struct smtp_conn *c = NULL;
	char *err = NULL, reply[SMTP_REPLY_MAX];
	int st = smtp_open_fd(sv[0], &o, &c, NULL, &err);
	if (st == SMTP_OK) {
		static const char msg[] = "Subject: x\r\n\r\n.dot\r\nbody\r\n";
		static const char canon[] = "Subject: y\r\n\r\n=2Edot\r\nbody\r\n";
		const char *from = flags & 4 ? "" : "digest@example.org";
		if (flags & 8) { /* pipelined: each final dot with the next envelope */
			char next_reply[SMTP_REPLY_MAX];
			int next_st = SMTP_OK;
			st = smtp_begin_flags(c, from, "r@example.org", canon, sizeof canon - 1, SMTP_CANONICAL, reply);
			check_reply(reply);
			for (int i = 0; i < 3 && st == SMTP_OK && next_st == SMTP_OK; i++) {
				st = smtp_finish_next(c, reply, from, "n@example.org", canon, sizeof canon - 1,
						      SMTP_CANONICAL, next_reply, &next_st);
				if (st < SMTP_OK || st > SMTP_MAYBE || next_st < SMTP_OK || next_st > SMTP_RETRY)
					abort();
				check_reply(reply);
				check_reply(next_reply);
				st = SMTP_OK;
			}
			if (next_st == SMTP_OK)
				smtp_finish(c, reply);
		}
		for (int i = 0; i < 3 && smtp_usable(c); i++) {
			st = smtp_send(c, from, "r@example.org", msg, sizeof msg - 1, reply);
			if (st < SMTP_OK || st > SMTP_MAYBE)
				abort();
			check_reply(reply);
		}
	} else if (c || !err) {
		abort();
	}
	free(err);
	smtp_close(c);
	close(sv[1]);
	return 0;
}
