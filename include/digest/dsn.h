/* dsn: what a message that came back is (SPEC "What comes back"): a
 * delivery status notification (RFC 3464), a feedback report (RFC 5965),
 * a plain-text bounce of a common MTA or mailbox provider, an
 * auto-reply (RFC 3834, vacation), mail to the unsubscribe address, or
 * none of those. Pure functions over the message's bytes: no I/O, no
 * key; the caller checks the VERP token it found. */
#ifndef DIGEST_DSN_H
#define DIGEST_DSN_H

#include <stddef.h>

enum dsn_kind {
	DSN_UNKNOWN,
	DSN_BOUNCE_HARD,
	DSN_BOUNCE_SOFT,
	DSN_COMPLAINT,
	DSN_UNSUBSCRIBE,
	DSN_AUTOREPLY,
	DSN_KINDS
};

#define DSN_ADDR_MAX 320
#define DSN_TOKEN_MAX 40

struct dsn_result {
	enum dsn_kind kind;
	/* the reader: the VERP token (its kind 'b' or 'u', or 0 when none)
	 * and, when the message names one, the address (a report's failed
	 * recipient, the text of a bounce, a complaint's quoted To) */
	char token_kind;
	char token[DSN_TOKEN_MAX];
	char recipient[DSN_ADDR_MAX];
	char status[16];      /* "5.1.1", "550" or "" */
	char diagnostic[256]; /* the server's words, one line, or "" */
	char message_id[256]; /* the message's own Message-ID without <>, or "" */
};

/* dsn_kind_name: "bounce-hard", "bounce-soft", "complaint", "unsubscribe",
 * "auto-reply", "unknown". */
const char *dsn_kind_name(enum dsn_kind k);

/*
 * dsn_classify: what MSG (LEN bytes, CRLF or LF line ends) is, into *OUT.
 * LOCAL is the local part of the bounce address ("digest" of
 * digest+b-TOKEN@example.org): mail to LOCAL+u-TOKEN is an unsubscribe,
 * and LOCAL+b-TOKEN names the reader of a bounce or a complaint. Returns
 * 0, or -1 when MSG is not a mail message (no header section).
 */
int dsn_classify(const char *msg, size_t len, const char *local, struct dsn_result *out);

#endif
