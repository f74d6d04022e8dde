/* store: what comes back: the bounce log, scores, messages seen. */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/util.h"
#include "store_internal.h"

/* ---- what comes back ---- */

void store_bounce_policy(struct store *st, double threshold, int reset_days)
{
	st->bounce_threshold = threshold;
	st->bounce_reset_days = reset_days;
}

void store_bounce_policy_get(const struct store *st, double *threshold, int *reset_days)
{
	*threshold = st->bounce_threshold > 0 ? st->bounce_threshold : 3.0;
	*reset_days = st->bounce_reset_days > 0 ? st->bounce_reset_days : 14;
}

int store_subscriber_by_verp(struct store *st, const char *prefix, struct subscriber *out, char **err)
{
	if (strlen(prefix) != 16 || strspn(prefix, "0123456789abcdef") != 16)
		return 0;
	/* the full nonce whose first 16 hex digits PREFIX is, from the rows
	 * and the aliases of merged rows */
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT nonce FROM subscribers WHERE nonce >= ?1 AND nonce < ?1 || 'g'"
			       " UNION ALL SELECT nonce FROM subscriber_aliases WHERE nonce >= ?1 AND nonce < ?1 || 'g'"
			       " LIMIT 2",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the subscriber query");
	sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
	char nonce[64] = "";
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(s, 0);
		if (n++ == 0 && v)
			snprintf(nonce, sizeof nonce, "%s", (const char *)v);
	}
	if (rc != SQLITE_DONE) {
		sq_fail(st, err, "reading a subscriber");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	if (n != 1) /* none, or (against all odds) two: name nobody */
		return 0;
	return store_subscriber_by_nonce(st, nonce, out, err);
}

int store_inbound_seen(struct store *st, const char *key, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM inbound_seen WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the inbound query");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sq_fail(st, err, "reading what came back");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_inbound_mark(struct store *st, const char *key, const char *kind, long long now, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO inbound_seen (key, kind, seen_at) VALUES (?1, ?2, ?3)",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the inbound note");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, now);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, err, "noting what came back");
}

/* The bounce log's lines SQL selects (?1 bound to SINCE or EDITION), to CB. */
static int bounces_query(struct store *st, const char *where, long long since, const char *edition,
			 int (*cb)(void *ctx, const struct bounce_row *b), void *ctx, char **err)
{
	sqlite3_stmt *s;
	char *sql = xasprintf("SELECT at, coalesce(address, ''), kind, coalesce(status, ''), coalesce(diagnostic, ''),"
			      " source FROM bounces WHERE %s ORDER BY at, id",
			      where);
	int prc = sqlite3_prepare_v2(st->db, sql, -1, &s, NULL);
	free(sql);
	if (prc != SQLITE_OK)
		return sq_fail(st, err, "preparing the bounce list");
	if (edition)
		sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_int64(s, 1, since);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct bounce_row b = {
			.at = sqlite3_column_int64(s, 0),
			.address = (const char *)sqlite3_column_text(s, 1),
			.kind = (const char *)sqlite3_column_text(s, 2),
			.status = (const char *)sqlite3_column_text(s, 3),
			.diagnostic = (const char *)sqlite3_column_text(s, 4),
			.source = (const char *)sqlite3_column_text(s, 5),
		};
		if ((r = cb(ctx, &b)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_fail(st, err, "reading the bounce list");
	sqlite3_finalize(s);
	return r;
}

int store_bounces_each(struct store *st, long long since, int (*cb)(void *ctx, const struct bounce_row *b),
		       void *ctx, char **err)
{
	return bounces_query(st, "at >= ?1", since, NULL, cb, ctx, err);
}

int store_bounces_of_edition(struct store *st, const char *edition, int (*cb)(void *ctx, const struct bounce_row *b),
			     void *ctx, char **err)
{
	return bounces_query(st, "edition = ?1 AND source <> 'run'", 0, edition, cb, ctx, err);
}

int store_bounce_counts(struct store *st, long long since, long long counts[6], char **err)
{
	static const char *const kinds[6] = {"unknown", "bounce-hard", "bounce-soft", "complaint", "unsubscribe",
					     "auto-reply"};
	memset(counts, 0, 6 * sizeof *counts);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT kind, count(*) FROM bounces WHERE at >= ?1 GROUP BY kind", -1, &s,
			       NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the bounce counts");
	sqlite3_bind_int64(s, 1, since);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		for (int i = 0; i < 6; i++)
			if (!strcmp(kinds[i], (const char *)sqlite3_column_text(s, 0)))
				counts[i] = sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, err, "reading the bounce counts");
}

int store_bounce_log(struct store *st, const struct bounce_rec *b, long long now, char **err)
{
	/* A bounce that comes back for a reader erased on request (mail sent
	 * before, a late DSN) keeps nothing of them: no address, and no
	 * diagnostic, which often quotes it. */
	const char *address = b->address && *b->address ? b->address : NULL;
	const char *diagnostic = b->diagnostic && *b->diagnostic ? b->diagnostic : NULL;
	if (b->subscriber <= 0 && address) {
		int erased = store_erased(st, address, err);
		if (erased < 0)
			return -1;
		if (erased)
			address = diagnostic = NULL;
	}
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO bounces (at, subscriber_id, address, kind, source, status, diagnostic, edition)"
			       " VALUES (?1, ?2, coalesce(?3, (SELECT email FROM subscribers WHERE id = ?2)), ?4, ?5, ?6,"
			       " ?7, ?8)",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the bounce log");
	sqlite3_bind_int64(s, 1, now);
	if (b->subscriber > 0)
		sqlite3_bind_int64(s, 2, b->subscriber);
	else
		sqlite3_bind_null(s, 2);
	sq_bind_text(s, 3, address);
	sq_bind_text(s, 4, b->kind);
	sq_bind_text(s, 5, b->source);
	sq_bind_text(s, 6, b->status && *b->status ? b->status : NULL);
	sq_bind_text(s, 7, diagnostic);
	sq_bind_text(s, 8, b->edition && *b->edition ? b->edition : NULL);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, err, "writing the bounce log");
}
