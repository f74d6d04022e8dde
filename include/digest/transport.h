/* transport: how a prepared message leaves. One interface, implemented by
 * smtp (smtp.c) and maildir (maildir.c), chosen by delivery.transport from
 * a table, in the manner of OpenSMTPD's queue backends; the unit tests
 * drive the pool and the journal through a transport of their own. */
#ifndef DIGEST_TRANSPORT_H
#define DIGEST_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>

#include "digest/config.h"
#include "digest/util.h"

#define TX_REPLY_MAX 256

/* What became of a message, by what happens next. */
enum tx_status {
	TX_OK = 0,    /* handed over */
	TX_RETRY = 1, /* not handed over: try again later (4xx, a dropped connection, a full disk) */
	TX_FAIL = 2,  /* refused for good (5xx) */
	TX_MAYBE = 3, /* its end went out and no answer came back: it may have been delivered */
};

/* What a failure is about: the sender (every message would fail alike),
 * the recipient (a bounce) or this message (its content, its size, an
 * address this server cannot take: no bounce). */
enum tx_about { TX_ABOUT_SENDER, TX_ABOUT_RECIPIENT, TX_ABOUT_MESSAGE };

/* Why a connection was refused for good, for the operator to mend. */
enum tx_refusal {
	TX_REFUSED_NONE,
	TX_REFUSED_LOGIN,       /* the user name or password */
	TX_REFUSED_CERTIFICATE, /* the server's certificate */
	TX_REFUSED_SERVER,      /* anything else about the server or its settings */
};

struct tx_result {
	enum tx_status status;
	enum tx_about about;
	char reply[TX_REPLY_MAX]; /* the server's last reply, or what happened */
};

/*
 * One transport's operations. STATE is what init made of the
 * configuration; CONN one connection (a Maildir's is its directory).
 * open: TX_OK, TX_RETRY or TX_FAIL (then *WHY) with *ERR.
 * begin: all but hand MSG over (SMTP: the envelope, up to the server's
 *   go-ahead for the text); TX_OK when only finish is left. Nothing is
 *   delivered before finish. With TX_CANONICAL in FLAGS, MSG has CRLF line
 *   ends only and no line that begins with a dot (as render_message
 *   writes it), and stays as it is until finish or abandon.
 * finish: hand over what begin prepared (MSG, LEN the same).
 * abandon: drop what begin prepared; the connection is not used again.
 * usable: whether CONN can take another message.
 */
struct transport_ops {
	const char *name;
	int (*init)(const struct config *cfg, void **state, char **err);
	void (*done)(void *state);
	int (*open)(void *state, void **conn, enum tx_refusal *why, char **err);
	int (*begin)(void *conn, const char *from, const char *rcpt, const char *msg, size_t len, unsigned flags,
		     struct tx_result *res);
	int (*finish)(void *conn, const char *msg, size_t len, struct tx_result *res);
	void (*abandon)(void *conn);
	bool (*usable)(const void *conn);
	void (*close)(void *conn);
	/* describe (may be NULL): what CONN found (the server's TLS and
	 * extensions), one line appended to OUT; for check-config --connect */
	void (*describe)(const void *conn, struct buf *out);
	/* finish_next (may be NULL): finish, and begin the next message
	 * (FROM, RCPT, NEXT, NEXT_LEN, FLAGS as begin takes them) in the
	 * same exchange where the transport can (SMTP pipelining): *RES is
	 * the finished message's outcome, *NEXT_RES the next one's begin. */
	void (*finish_next)(void *conn, const char *msg, size_t len, struct tx_result *res, const char *from,
			    const char *rcpt, const char *next, size_t next_len, unsigned flags,
			    struct tx_result *next_res);
};

extern const struct transport_ops smtp_transport, maildir_transport;

struct transport {
	const struct transport_ops *ops;
	void *state;
	int connections;        /* at most this many at once */
	int max_per_connection; /* messages on one connection */
};

/* One connection of a transport, with its count of messages. */
struct transport_conn {
	struct transport *t;
	void *c; /* NULL: not open */
	int sent;
};

/* transport_init: the transport delivery.transport names, from the table.
 * 0, or -1 with *ERR (an unknown name, an unreadable password file). */
int transport_init(struct transport *t, const struct config *cfg, char **err);
/* transport_init_ops: a transport of OPS with STATE (for tests). */
void transport_init_ops(struct transport *t, const struct transport_ops *ops, void *state, int connections,
			int max_per_connection);
void transport_done(struct transport *t);

/* transport_ready: C is open, usable and below max_per_connection. */
bool transport_ready(const struct transport_conn *c);
/* transport_open: (re)open C: closes what is open first. */
int transport_open(struct transport_conn *c, enum tx_refusal *why, char **err);
#define TX_CANONICAL 1u
int transport_begin(struct transport_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
		    unsigned flags, struct tx_result *res);
int transport_finish(struct transport_conn *c, const char *msg, size_t len, struct tx_result *res);
/* transport_finish_next: transport_finish of MSG, then transport_begin of
 * NEXT (FROM, RCPT, NEXT_LEN, FLAGS), in one exchange where the transport
 * can: the finish's status is returned (and in *RES), the begin's in
 * *NEXT_RES. C must be ready (transport_ready) for NEXT. */
int transport_finish_next(struct transport_conn *c, const char *msg, size_t len, struct tx_result *res,
			  const char *from, const char *rcpt, const char *next, size_t next_len, unsigned flags,
			  struct tx_result *next_res);
void transport_abandon(struct transport_conn *c);
void transport_close(struct transport_conn *c);

/*
 * transport_send_one: MSG (LEN bytes, CRLF) from FROM to RCPT alone, on a
 * connection of its own through the configured transport. TX_OK; TX_RETRY
 * when it should be tried later (deferred, or the server refused us: *WHY
 * says how); TX_FAIL when the server refused this recipient or this
 * message; TX_MAYBE. *ERR says why.
 */
int transport_send_one(const struct config *cfg, const char *from, const char *rcpt, const char *msg, size_t len,
		       enum tx_refusal *why, char **err);

#endif
