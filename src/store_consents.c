/* store: proof of consent (each step a reader took to join or leave,
 * from where, shown which wording), and one reader's deliveries, for
 * `subscribers show` (persistence only). */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

int store_consent_add(struct store *st, long long subscriber, const struct consent_rec *c, long long at, char **err)
{
	if (!st->consent_add &&
	    sqlite3_prepare_v2(st->db,
			       "INSERT INTO consents (subscriber_id, event, at, client, wording) VALUES (?1, ?2, ?3, ?4, ?5)",
			       -1, &st->consent_add, NULL) != SQLITE_OK) {
		st->consent_add = NULL;
		return sq_fail(st, err, "preparing the consent record");
	}
	sqlite3_stmt *s = st->consent_add;
	sqlite3_reset(s);
	sqlite3_bind_int64(s, 1, subscriber);
	sqlite3_bind_text(s, 2, c->event, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, at);
	sq_bind_text(s, 4, c->client);
	sq_bind_text(s, 5, c->wording);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		sq_fail(st, err, "recording consent");
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* The text of column I, "" for NULL (valid until the next step). */
static const char *text_or_empty(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? (const char *)t : "";
}

int store_consents_each(struct store *st, long long subscriber, int (*cb)(void *ctx, const struct consent_row *c),
			void *ctx, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT at, event, client, wording FROM consents WHERE subscriber_id = ?1 ORDER BY at, id",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the consent query");
	sqlite3_bind_int64(s, 1, subscriber);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct consent_row c = {.at = sqlite3_column_int64(s, 0), .event = text_or_empty(s, 1),
					.client = text_or_empty(s, 2), .wording = text_or_empty(s, 3)};
		if ((r = cb(ctx, &c)) != 0)
			break;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_fail(st, err, "reading the consent trail");
	sqlite3_finalize(s);
	return rc != SQLITE_DONE && rc != SQLITE_ROW ? -1 : r;
}

int store_deliveries_of(struct store *st, long long subscriber, int limit,
			int (*cb)(void *ctx, const struct delivery_row *d), void *ctx, char **err)
{
	sqlite3_stmt *s;
	/* newest edition first: the primary key is (edition, subscriber), so
	 * this reads the reader's rows by a scan; a reader has one per
	 * edition, a few hundred a year */
	if (sqlite3_prepare_v2(st->db,
			       "SELECT edition, state, attempts, reply, updated_at FROM deliveries"
			       " WHERE subscriber_id = ?1 ORDER BY edition DESC LIMIT ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the deliveries query");
	sqlite3_bind_int64(s, 1, subscriber);
	sqlite3_bind_int(s, 2, limit);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct delivery_row d = {.edition = text_or_empty(s, 0), .state = text_or_empty(s, 1),
					 .attempts = sqlite3_column_int64(s, 2), .reply = text_or_empty(s, 3),
					 .updated_at = sqlite3_column_int64(s, 4)};
		if ((r = cb(ctx, &d)) != 0)
			break;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_fail(st, err, "reading the deliveries");
	sqlite3_finalize(s);
	return rc != SQLITE_DONE && rc != SQLITE_ROW ? -1 : r;
}
