/* store: the delivery journal, one row per (edition, subscriber). */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/util.h"
#include "store_internal.h"

/* ---- the delivery journal ---- */

int store_recipients_next(struct store *st, const char *edition, long long after, int limit,
			  struct subscriber *out, int *n, char **err)
{
	static const char sql[] =
		"SELECT s.id, s.email, s.name, s.status, s.nonce, s.bounces, s.created_at, s.status_at,"
		"  coalesce(d.attempts, 0)"
		" FROM subscribers s LEFT JOIN deliveries d ON d.edition = ?1 AND d.subscriber_id = s.id"
		" WHERE s.status = 'active' AND s.id > ?2"
		"   AND (d.state IS NULL OR d.state IN ('inflight', 'deferred'))"
		" ORDER BY s.id LIMIT ?3";
	*n = 0;
	if (!st->recipients && sqlite3_prepare_v2(st->db, sql, -1, &st->recipients, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the recipients query");
	sqlite3_stmt *s = st->recipients;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int(s, 3, limit);
	int rc = SQLITE_DONE;
	while (*n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		sq_read_subscriber(s, &out[*n]);
		out[*n].attempts = sqlite3_column_int(s, 8);
		(*n)++;
	}
	if (*n < limit && rc != SQLITE_DONE) {
		sq_fail(st, err, "reading recipients");
		sqlite3_reset(s);
		for (int i = 0; i < *n; i++)
			subscriber_clear(&out[i]);
		*n = 0;
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

static const char *const state_names[] = {"inflight", "sent", "deferred", "failed"};

int store_delivery_mark(struct store *st, const char *edition, long long subscriber, enum delivery_state state,
			const char *reply, long long now, char **err)
{
	static const char sql[] =
		"INSERT INTO deliveries (edition, subscriber_id, state, attempts, reply, updated_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT (edition, subscriber_id) DO UPDATE SET state = excluded.state,"
		"  attempts = attempts + excluded.attempts, reply = coalesce(excluded.reply, reply),"
		"  updated_at = excluded.updated_at";
	if (!st->mark && sqlite3_prepare_v2(st->db, sql, -1, &st->mark, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the journal update");
	sqlite3_stmt *s = st->mark;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, subscriber);
	sqlite3_bind_text(s, 3, state_names[state], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, state == DELIVERY_INFLIGHT); /* an attempt starts in flight */
	sq_bind_text(s, 5, reply);
	sqlite3_bind_int64(s, 6, now);
	if (sqlite3_step(s) != SQLITE_DONE) {
		sq_fail(st, err, "writing the journal");
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

int store_delivery_counts(struct store *st, const char *edition, struct delivery_counts *c, char **err)
{
	static const char sql[] = "SELECT " COUNTS_SQL("?1");
	memset(c, 0, sizeof *c);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the delivery count");
	sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		c->sent = sqlite3_column_int64(s, 0);
		c->failed = sqlite3_column_int64(s, 1);
		c->deferred = sqlite3_column_int64(s, 2);
		c->untried = sqlite3_column_int64(s, 3);
		c->pending = c->deferred + c->untried;
	} else {
		sq_fail(st, err, "counting deliveries");
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int store_deliveries_each(struct store *st, const char *edition, bool failed,
			  int (*cb)(void *ctx, const struct edition_delivery *d), void *ctx, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT s.email, s.status, d.state, d.attempts, coalesce(d.reply, ''), d.updated_at"
			       " FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id"
			       " WHERE d.edition = ?1 AND (CASE d.state WHEN 'failed' THEN 1 WHEN 'deferred' THEN 0"
			       "  WHEN 'inflight' THEN 0 ELSE -1 END) = ?2 ORDER BY s.addr_key",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the journal query");
	sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(s, 2, failed ? 1 : 0);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *state = (const char *)sqlite3_column_text(s, 2);
		enum delivery_state ds = DELIVERY_FAILED;
		for (int i = 0; i < 4; i++)
			if (state && !strcmp(state, state_names[i]))
				ds = (enum delivery_state)i;
		enum sub_status status = SUB_PENDING;
		sub_status_parse((const char *)sqlite3_column_text(s, 1), &status);
		struct edition_delivery d = {
			.email = (const char *)sqlite3_column_text(s, 0),
			.status = status,
			.state = ds,
			.attempts = sqlite3_column_int(s, 3),
			.reply = (const char *)sqlite3_column_text(s, 4),
			.updated_at = sqlite3_column_int64(s, 5),
		};
		if ((r = cb(ctx, &d)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = sq_fail(st, err, "reading the journal");
	sqlite3_finalize(s);
	return r;
}
