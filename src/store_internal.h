/* store_internal: what the store's files (store.c, store_subscribers.c,
 * store_deliveries.c, store_bounces.c, store_consents.c) share; SQLite stays inside them. */
#ifndef DIGEST_STORE_INTERNAL_H
#define DIGEST_STORE_INTERNAL_H

#include <sqlite3.h>
#include <stdbool.h>

#include "digest/store.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *upsert;
	sqlite3_stmt *mark, *recipients;
	/* prepared once: imports and runs use them per line, per message */
	sqlite3_stmt *sub_get, *sub_insert, *row_by_id, *row_by_key, *row_put;
	sqlite3_stmt *begin, *commit; /* prepared once: a run commits a few times a message */
	sqlite3_stmt *consent_add;    /* prepared once: an import records a row a line */
	char *path;
	bool busy; /* a failure since open was another process holding the database */
	double bounce_threshold; /* store_bounce_policy, for subscription.c */
	int bounce_reset_days;
	char *secret_file; /* store_erasure_secret: the key of the erased readers' hashes */
	sqlite3_stmt *erased_any, *erased_get; /* prepared once: an import asks per line */
	unsigned char erasure_key[32];
	bool erasure_key_loaded;
};

/* COUNTS_SQL: the counts of the edition named by the SQL ED (store_delivery_counts
 * and store_editions_recent): sent,
 * failed, and the active readers neither: tried (deferred, or in flight
 * at a crash) and never tried. */
#define COUNTS_SQL(ed)                                                                                       \
	"(SELECT count(*) FROM deliveries d WHERE d.edition = " ed " AND d.state = 'sent'),"                   \
	"(SELECT count(*) FROM deliveries d WHERE d.edition = " ed " AND d.state = 'failed'),"                 \
	"(SELECT count(*) FROM subscribers s JOIN deliveries d ON d.subscriber_id = s.id AND d.edition = " ed    \
	"  WHERE s.status = 'active' AND d.state IN ('deferred', 'inflight')),"                               \
	"(SELECT count(*) FROM subscribers s WHERE s.status = 'active' AND NOT EXISTS"                          \
	"  (SELECT 1 FROM deliveries d WHERE d.edition = " ed " AND d.subscriber_id = s.id))"

/* sq_cached: the statement *SLOT (one of struct store's), prepared from
 * SQL on first use, reset and unbound for the next; NULL after a failure
 * (in *ERR). store_close finalizes it. */
sqlite3_stmt *sq_cached(struct store *st, sqlite3_stmt **slot, const char *sql, char **err);
/* sq_count: the single integer SQL yields with ?1 bound to T (NULL:
 * unbound) and ?2 to N: 0 and *OUT, or -1 with *ERR naming WHAT. */
int sq_count(struct store *st, const char *sql, const char *t, long long n, long long *out, const char *what,
	     char **err);
/* sq_change: SQL (an INSERT, UPDATE or DELETE) with ?1 and ?2 bound as
 * sq_count's: the rows it changed added to *CHANGED (may be NULL); 0, or
 * -1 with *ERR naming WHAT. */
int sq_change(struct store *st, const char *sql, const char *t, long long n, long long *changed, const char *what,
	      char **err);
/* sq_fail: *ERR "WHAT: MSG" for the connection's last error, or when
 * another process held the database past the wait, a line saying so (and
 * ST remembers it): always -1. */
int sq_fail(struct store *st, char **err, const char *what);
/* sq_bind_text: V, or NULL when V is NULL. */
void sq_bind_text(sqlite3_stmt *s, int i, const char *v);
/* sq_col_text: column I malloc'd (NULL for NULL). */
char *sq_col_text(sqlite3_stmt *s, int i);
/* sq_read_subscriber: the row of S (columns as SUB_COLS) into SUB. */
void sq_read_subscriber(sqlite3_stmt *s, struct subscriber *sub);

#endif
