/* store: the SQLite database (WAL) and its schema: articles, editions,
 * subscribers, the delivery journal and what comes back. Persistence only:
 * what an event means for a subscriber is subscription.h's. */
#ifndef DIGEST_STORE_H
#define DIGEST_STORE_H

#include <stddef.h>

#include <stdbool.h>

#include "digest/article.h"
#include "digest/subscriber.h"

struct store;

/* The schema version this program writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 6

/*
 * store_open: open PATH, creating it (mode 0600, its directory 0700) and
 * migrating its schema forward as needed. Returns 0 and a handle to close
 * with store_close, -2 when another process held the database for longer
 * than we wait (a temporary failure), or -1, each with a one-line reason
 * in *ERR (a database newer than this program, a file that is no
 * database, no permission).
 *
 * Every statement waits for a database another process holds (a long
 * import, a backup): $DIGEST_BUSY_TIMEOUT seconds, default 30.
 */
int store_open(const char *path, struct store **out, char **err);
void store_close(struct store *st);

/* store_busy: whether a failure of ST since it was opened was another
 * process holding the database past the wait: a temporary failure, for
 * a later run. */
bool store_busy(const struct store *st);

/* store_begin / store_commit / store_rollback: one write transaction,
 * begun IMMEDIATE so that a writer waits for another rather than fails. */
int store_begin(struct store *st, char **err);
/* store_sync: whether a commit waits for the disk (FULL, the default) or
 * only for the OS (SQLite's synchronous = NORMAL: after a crash of the
 * process every commit is there; after a power cut the last ones may
 * not be). 0, or -1 with *ERR. */
int store_sync(struct store *st, bool full, char **err);
int store_commit(struct store *st, char **err);
void store_rollback(struct store *st);

/*
 * store_article_upsert: insert A by its URL, or update the stored article:
 * title, views, comments, rating, summary and image take A's values where
 * A has them; a known publication date is kept; last_seen is updated. On
 * success A->id is set.
 */
int store_article_upsert(struct store *st, struct article *a, char **err);

/*
 * store_candidates: the articles published (or, undated, first collected)
 * in [FROM, TO] that are in no edition but EDITION (YYYY-MM-DD), earlier
 * or later: what an edition carried is never sent again, even when the
 * clock is set back. Unranked. *OUT is malloc'd; free with articles_free.
 */
int store_candidates(struct store *st, const char *edition, long long from, long long to,
		     struct article **out, size_t *n, char **err);

/* An edition as frozen: when, and the publication window it covered. */
struct edition_rec {
	long long built_at, window_from, window_to;
};

/*
 * store_edition_load: the frozen edition DATE: its record in *REC (may be
 * NULL) and its articles in rank order, as they were when it was frozen,
 * in *OUT (free with articles_free). Returns 1, 0 when DATE was never
 * frozen, or -1 with *ERR.
 */
int store_edition_load(struct store *st, const char *date, struct edition_rec *rec, struct article **out,
		       size_t *n, char **err);

/* store_edition_latest: the date of the latest frozen edition into DATE:
 * 1, 0 when there is none, or -1 with *ERR. */
int store_edition_latest(struct store *st, char date[11], char **err);

/* store_edition_freeze: store edition DATE with the N articles of A (in
 * rank order) in one transaction. Fails when DATE already exists. */
int store_edition_freeze(struct store *st, const char *date, const struct edition_rec *rec,
			 const struct article *a, size_t n, char **err);

struct edition_stats {
	char date[11];
	long long built_at, articles, sent, failed, last_delivery;
	/* active readers neither sent nor failed: PENDING, of whom DEFERRED
	 * were tried (a temporary failure, or in flight at a crash: the
	 * next run tries them again) and UNTRIED never were */
	long long pending, deferred, untried;
};
/* store_editions_recent: the LIMIT latest editions, newest first, with
 * their journal's counts; *OUT malloc'd. */
int store_editions_recent(struct store *st, int limit, struct edition_stats **out, size_t *n, char **err);

/*
 * The archive (SPEC "Archive") shows sent editions only: an edition is
 * sent once it is frozen and at least one of its deliveries is `sent` (a
 * frozen edition whose every message is still deferred, or that had no
 * reader, is no one's yet). Once sent, an edition stays sent: its page
 * never changes.
 */
struct archive_state {
	long long count;    /* sent editions */
	char latest[11];    /* the latest one's date, "" when none */
	long long modified; /* the latest built_at among them, 0 when none */
};
/* store_archive_state: what the archive holds now, into *OUT: 0, or -1. */
int store_archive_state(struct store *st, struct archive_state *out, char **err);

struct archive_rec {
	char date[11];
	long long built_at, articles;
};
/* store_archive_list: up to LIMIT sent editions, newest first, skipping
 * the first OFFSET; *OUT malloc'd (NULL when *N is 0). 0, or -1. */
int store_archive_list(struct store *st, long long offset, int limit, struct archive_rec **out, size_t *n,
		       char **err);

/* store_edition_sent: 1 when edition DATE is sent, 0 when it is not (or
 * unknown), -1 with *ERR. */
int store_edition_sent(struct store *st, const char *date, char **err);

struct subscriber {
	long long id;
	char *email, *name; /* name may be NULL */
	enum sub_status status;
	char *nonce;        /* random, names the subscriber in links */
	int bounces;        /* consecutive permanent failures */
	long long created_at, status_at;
	int attempts;       /* store_recipients_next: delivery attempts so far */
};
/* subscriber_clear: frees what SUB owns and zeroes it; NULL is fine. */
void subscriber_clear(struct subscriber *sub);

/*
 * Subscribers are identified by their mailbox (SPEC "Addresses"): every
 * function below that takes an EMAIL finds the row by address_key(EMAIL)
 * (column addr_key, unique since schema 4), so "Bob@x", "bob@x" and
 * "BOB@X" name one subscriber, and an IDN domain is one with its A-label
 * form. The spelling first given is the one kept in `email` and mailed to.
 * An EMAIL address_key refuses is looked up by its ASCII-lower-cased self.
 */

/* store_key_of: that identity of EMAIL: address_key, or for a spelling it
 * refuses, its ASCII letters lower-cased; malloc'd. */
char *store_key_of(const char *email);

/* store_subscriber_get: 1 and *OUT filled, 0 when EMAIL is unknown, -1. */
int store_subscriber_get(struct store *st, const char *email, struct subscriber *out, char **err);

/* store_subscribers_each: CB for every subscriber (with STATUS, or all
 * when STATUS < 0) in id order; a non-zero CB result stops and is
 * returned. */
int store_subscribers_each(struct store *st, int status, int (*cb)(void *ctx, const struct subscriber *s),
			   void *ctx, char **err);

/* store_subscriber_counts: how many subscribers have each sub_status. */
int store_subscriber_counts(struct store *st, long long counts[4], char **err);

/* store_subscriber_by_nonce: the subscriber whose nonce is NONCE: 1 and
 * *OUT filled, 0 when none, -1. A nonce of a row the schema-4 migration
 * merged into another names the row it became, *OUT's email and nonce
 * being the merged row's (what its links were made for). */
int store_subscriber_by_nonce(struct store *st, const char *nonce, struct subscriber *out, char **err);
/* store_optin_due: up to LIMIT subscribers (not active) owed a
 * confirmation mail by NOW, longest waiting first, into OUT (clear each). */
int store_optin_due(struct store *st, long long now, int limit, struct subscriber *out, int *n, char **err);
/* store_optin_claim: take SUB's due confirmation for sending (it is no
 * longer due; sent at NOW), as SUB was read (same nonce): 1, or 0 when it
 * was not due (someone else took it, it was confirmed, or it left and
 * came back meanwhile), or -1. A mail claimed and then lost in a crash is
 * not sent again: asking again an hour later is. */
int store_optin_claim(struct store *st, const struct subscriber *sub, long long now, char **err);
/* store_optin_retry: subscriber ID's confirmation, claimed at CLAIMED (0:
 * whenever), could not be sent: due again at WHEN, unless a status change
 * has cleared the claim since. */
int store_optin_retry(struct store *st, long long id, long long claimed, long long when, char **err);
/*
 * The columns of a subscriber that its lifecycle (subscription.c) reads
 * and writes; times are Unix seconds, -1 for none (NULL).
 */
struct sub_row {
	long long id;
	enum sub_status status;
	long long status_at;
	int bounces;                  /* consecutive refusals in runs */
	long long confirm_due;        /* a confirmation mail is owed since */
	long long confirm_sent_at;    /* the last one went out */
	long long asked_at;           /* the last request to subscribe */
	double bounce_score;          /* SPEC "What comes back" */
	long long bounce_day, bounce_at; /* the UTC day of its last step; its last bounce */
	char nonce[33];
	char *name;                   /* may be NULL */
};
void sub_row_clear(struct sub_row *r);
/* store_lifecycle_get: subscriber ID's columns (or, ID 0, EMAIL's) into
 * *OUT (clear with sub_row_clear): 1, 0 when none, -1. */
int store_lifecycle_get(struct store *st, long long id, const char *email, struct sub_row *out, char **err);
/* store_lifecycle_put: write every column of R (by R->id). */
int store_lifecycle_put(struct store *st, const struct sub_row *r, char **err);
/* store_lifecycle_insert: a new subscriber EMAIL with R's status, name,
 * nonce, confirm_due and asked_at, created at NOW; its id in *ID. */
int store_lifecycle_insert(struct store *st, const char *email, const struct sub_row *r, long long now, long long *id,
			   char **err);
/* store_new_nonce: 32 random hex digits. */
void store_new_nonce(char out[33]);

/* ---- proof of consent (store_consents.c) ---- */

/* One step of a reader's consent trail (README "Proof of consent"). */
struct consent_rec {
	const char *event;   /* "request", "confirm", "unsubscribe", "one-click", ... */
	const char *client;  /* the client `serve` saw, "cli", "import:FILE", "mail"; may be NULL */
	const char *wording; /* the version of the wording shown (consent_wording), or NULL */
};
/* store_consent_add: C as a row of SUBSCRIBER's trail at AT, within the
 * caller's transaction (the row goes with the reader when they are
 * deleted). 0, or -1 with *ERR. */
int store_consent_add(struct store *st, long long subscriber, const struct consent_rec *c, long long at,
		      char **err);

struct consent_row {
	long long at;
	const char *event, *client, *wording; /* "" when none; valid during the callback */
};
/* store_consents_each: CB for each row of SUBSCRIBER's trail, oldest
 * first; a non-zero CB result stops and is returned; -1 with *ERR. */
int store_consents_each(struct store *st, long long subscriber, int (*cb)(void *ctx, const struct consent_row *c),
			void *ctx, char **err);

struct delivery_row {
	const char *edition, *state, *reply; /* "" when none; valid during the callback */
	long long attempts, updated_at;
};
/* store_deliveries_of: CB for SUBSCRIBER's LIMIT latest journal rows,
 * newest edition first; as store_consents_each. */
int store_deliveries_of(struct store *st, long long subscriber, int limit,
			int (*cb)(void *ctx, const struct delivery_row *d), void *ctx, char **err);

/* The journal: one row per (edition, subscriber). */
enum delivery_state { DELIVERY_INFLIGHT, DELIVERY_SENT, DELIVERY_DEFERRED, DELIVERY_FAILED };

/*
 * store_recipients_next: up to LIMIT active subscribers with an id above
 * AFTER that have not been sent EDITION nor failed it, in id order, into
 * OUT (each to clear with subscriber_clear), with their attempts so far.
 * Keyset pages keep memory flat however long the list.
 */
int store_recipients_next(struct store *st, const char *edition, long long after, int limit,
			  struct subscriber *out, int *n, char **err);

/*
 * store_delivery_mark: record STATE for (EDITION, SUBSCRIBER) with the
 * server's REPLY (NULL keeps the old one); DELIVERY_INFLIGHT counts an
 * attempt. The journal row only: what it means for the subscriber is
 * subscription_delivery's. Runs in the caller's transaction.
 */
int store_delivery_mark(struct store *st, const char *edition, long long subscriber, enum delivery_state state,
			const char *reply, long long now, char **err);

struct delivery_counts {
	long long sent, failed;
	long long pending;  /* active, neither sent nor failed: DEFERRED + UNTRIED */
	long long deferred; /* of them, tried: the journal says deferred or in flight */
	long long untried;  /* of them, never tried for this edition */
};
int store_delivery_counts(struct store *st, const char *edition, struct delivery_counts *c, char **err);

/* One journal row of an edition, with its reader, as `status --failed`
 * lists it. */
struct edition_delivery {
	const char *email;
	enum sub_status status; /* the reader's now */
	enum delivery_state state;
	int attempts;
	const char *reply;      /* the server's last reply; "" when none */
	long long updated_at;
};
/* store_deliveries_each: CB for EDITION's journal rows whose state is
 * FAILED (failed) or, else, deferred or in flight, by address; a
 * non-zero CB result stops and is returned. */
int store_deliveries_each(struct store *st, const char *edition, bool failed,
			  int (*cb)(void *ctx, const struct edition_delivery *d), void *ctx, char **err);

/* ---- what comes back (SPEC "What comes back") ---- */

/* store_bounce_policy: inbound.bounce_threshold and bounce_reset_days,
 * kept with the handle for subscription.c's bounce events;
 * store_bounce_policy_get reads them (without a call, 3.0 and 14). */
void store_bounce_policy(struct store *st, double threshold, int reset_days);
void store_bounce_policy_get(const struct store *st, double *threshold, int *reset_days);

/* store_subscriber_by_verp: the subscriber whose nonce begins with PREFIX
 * (16 hex digits, what a VERP token names): 1 and *OUT, 0 when none (or
 * not exactly one), -1. */
int store_subscriber_by_verp(struct store *st, const char *prefix, struct subscriber *out, char **err);

/* store_inbound_seen: whether a message with KEY ("mid:..." or
 * "sha256:...") was acted on before: 1, 0, or -1. store_inbound_mark:
 * note it, with its KIND. Neither is a transaction of its own. */
int store_inbound_seen(struct store *st, const char *key, char **err);
int store_inbound_mark(struct store *st, const char *key, const char *kind, long long now, char **err);

/* One line of the log `digest bounces` lists. */
struct bounce_rec {
	long long subscriber; /* 0: none known */
	const char *address;  /* NULL: the subscriber's */
	const char *kind, *source, *status, *diagnostic, *edition;
};
/* store_bounce_log: B as a line of the log, at NOW. A line with no
 * subscriber whose address was erased on request (store_erased) keeps
 * neither the address nor the diagnostic. */
int store_bounce_log(struct store *st, const struct bounce_rec *b, long long now, char **err);

struct bounce_row {
	long long at;
	const char *address, *kind, *status, *diagnostic, *source; /* "" when none */
};
/* store_bounces_each: CB for every logged bounce since SINCE, oldest
 * first; a non-zero CB result stops and is returned. */
int store_bounces_each(struct store *st, long long since, int (*cb)(void *ctx, const struct bounce_row *b),
		       void *ctx, char **err);
/* store_bounces_of_edition: CB for every message that came back naming
 * EDITION (its VERP token), oldest first; not the run's own refusals,
 * which the journal has. */
int store_bounces_of_edition(struct store *st, const char *edition, int (*cb)(void *ctx, const struct bounce_row *b),
			     void *ctx, char **err);
/* store_bounce_counts: the log's lines since SINCE by dsn kind
 * (unknown, bounce-hard, bounce-soft, complaint, unsubscribe, auto-reply). */
int store_bounce_counts(struct store *st, long long since, long long counts[6], char **err);

/* ---- erasure on request (SPEC "subscribers forget", store_erasure.c) ---- */

/*
 * An erased reader leaves nothing in the database but a keyed hash of
 * their address key (token_erasure_hash) in `forgotten`, so that an
 * import cannot bring them back unnoticed. The key comes from the secret
 * file (newsletter.secret_file), read the first time a hash is needed:
 * store_erasure_secret names it. Without it, every function below that
 * needs a hash fails (as long as nobody was ever erased, none does).
 */
void store_erasure_secret(struct store *st, const char *path);

/* store_erased: whether EMAIL's mailbox was erased and has not come back
 * by its own confirmation: 1, 0, or -1 with *ERR. Reads only. */
int store_erased(struct store *st, const char *email, char **err);

/* store_erased_clear: subscriber ID confirmed again: the hash of its
 * address goes. Within the caller's transaction; 0 or -1. */
int store_erased_clear(struct store *st, long long id, char **err);

struct forget_stats {
	long long deliveries, bounces, aliases, consents; /* the rows deleted */
	bool wal_kept; /* the write-ahead log could not be cut (a reader held it) */
};
/*
 * store_subscriber_forget: erase EMAIL's mailbox in one transaction: the
 * subscriber, its journal rows, its lines in the bounce log (and those
 * that name the address without a subscriber), its old spellings'
 * aliases and its consents; its hash stored, dated NOW. Deleted bytes are
 * zeroed in the file (secure_delete, on for every connection) and the
 * write-ahead log is then checkpointed and cut. DRY_RUN counts and rolls
 * back. Returns 1 erased (or would be), 2 nothing left but the hash (erased
 * before), 0 the address is unknown (nothing done, no hash), -1 with
 * *ERR. Take the run lock first: a run holding a reader in memory would
 * fail to journal them.
 */
int store_subscriber_forget(struct store *st, const char *email, long long now, bool dry_run,
			    struct forget_stats *out, char **err);

/* store_schema_version: the database's PRAGMA user_version, or -1. */
int store_schema_version(struct store *st);

#endif
