/* inbound: mail that comes back (SPEC "What comes back"): one message
 * (an MTA's pipe, a file), a Maildir, or the inbound mailbox over IMAP
 * or POP3; each classified by dsn and acted on through the store in one
 * transaction, once. */
#ifndef DIGEST_INBOUND_H
#define DIGEST_INBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "digest/config.h"
#include "digest/dsn.h"
#include "digest/store.h"
#include "digest/token.h"

/* Messages larger than this are not read whole: a bounce is small. */
#define INBOUND_MAX_MESSAGE (32u << 20)

struct inbound {
	const struct config *cfg;
	struct store *st;
	unsigned char key[TOKEN_KEY_LEN];
	char *local; /* the bounce address's local part */
	time_t now;
	long long messages, kinds[DSN_KINDS], seen_before;
};

/* inbound_init: ready IN to act on CFG's list in ST: reads the secret
 * key, works out the bounce address. 0, or -1 with *ERR. */
int inbound_init(struct inbound *in, const struct config *cfg, struct store *st, char **err);
void inbound_done(struct inbound *in);

/*
 * inbound_message: classify MSG (LEN bytes) and act on it: a bounce adds
 * to its reader's score, a complaint or an unsubscribe unsubscribes, a
 * bounce of a confirmation mail drops that mail; a message seen before
 * (by Message-ID, else by the SHA-256 of its bytes) changes nothing. A
 * VERP token whose MAC does not check makes the message unknown.
 * Returns its dsn_kind (>= 0; *RES filled when RES is not NULL), -1 when
 * MSG is not mail, -2 when the database failed (*ERR).
 */
int inbound_message(struct inbound *in, const char *msg, size_t len, struct dsn_result *res, char **err);

/*
 * inbound_maildir: every message in DIR's new/ and in cur/ without the S
 * flag: one recognised is moved to cur/ flagged seen (":2,S") after its
 * transaction commits; unknown mail stays where it is, untouched. 0, -1
 * when DIR is no Maildir (*ERR), -2 when the database failed.
 */
int inbound_maildir(struct inbound *in, const char *dir, char **err);

/*
 * inbound_fetch: the same for the mailbox of the inbound block over IMAP
 * (recognised messages moved to processed_folder, or flagged deleted when
 * it is "") or POP3 (recognised ones deleted). 0; -1 with *ERR when the
 * mailbox could not be reached (*WHY: 75 unreachable, 77 login refused,
 * 69 certificate refused, 78 configuration); -2 database.
 */
int inbound_fetch(struct inbound *in, int *why, char **err);

/* inbound_summary: "inbound: 12 messages: 5 bounce-hard, ..." into OUT. */
void inbound_summary(const struct inbound *in, char *out, size_t n);

#endif
