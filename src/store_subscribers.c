/* store: subscribers and their double opt-in (persistence only). */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/util.h"
#include "store_internal.h"

/* ---- subscribers ---- */

static const char *const sq_status_names[] = {"pending", "active", "unsubscribed", "bouncing"};

static void new_nonce(char out[33])
{
	unsigned char r[16];
	random_bytes(r, sizeof r);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

/* The status in column I of S (pending for a name the schema's CHECK
 * never lets in). */
static enum sub_status status_of(sqlite3_stmt *s, int i)
{
	const char *name = (const char *)sqlite3_column_text(s, i);
	for (int k = 0; k < 4; k++)
		if (name && !strcmp(name, sq_status_names[k]))
			return (enum sub_status)k;
	return SUB_PENDING;
}

void sq_read_subscriber(sqlite3_stmt *s, struct subscriber *sub)
{
	memset(sub, 0, sizeof *sub);
	sub->id = sqlite3_column_int64(s, 0);
	sub->email = sq_col_text(s, 1);
	sub->name = sq_col_text(s, 2);
	sub->status = status_of(s, 3);
	sub->nonce = sq_col_text(s, 4);
	sub->bounces = sqlite3_column_int(s, 5);
	sub->created_at = sqlite3_column_int64(s, 6);
	sub->status_at = sqlite3_column_int64(s, 7);
}

#define SUB_COLS "id, email, name, status, nonce, bounces, created_at, status_at"

void subscriber_clear(struct subscriber *sub)
{
	if (!sub)
		return;
	free(sub->email);
	free(sub->name);
	free(sub->nonce);
	memset(sub, 0, sizeof *sub);
}

/* The subscriber whose identity key is KEY: 1, 0, -1. */
static int get_by_key(struct store *st, const char *key, struct subscriber *out, char **err)
{
	sqlite3_stmt *s = sq_cached(st, &st->sub_get, "SELECT " SUB_COLS " FROM subscribers WHERE addr_key = ?1", err);
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sq_read_subscriber(s, out);
	else if (rc != SQLITE_DONE)
		sq_fail(st, err, "reading a subscriber");
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_subscriber_get(struct store *st, const char *email, struct subscriber *out, char **err)
{
	char *key = store_key_of(email);
	int rc = get_by_key(st, key, out, err);
	free(key);
	return rc;
}

int store_subscribers_each(struct store *st, int status, int (*cb)(void *ctx, const struct subscriber *s),
			   void *ctx, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT " SUB_COLS " FROM subscribers WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the subscribers query");
	if (status >= 0)
		sqlite3_bind_text(s, 1, sq_status_names[status], -1, SQLITE_STATIC);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct subscriber sub;
		sq_read_subscriber(s, &sub);
		r = cb(ctx, &sub);
		subscriber_clear(&sub);
		if (r)
			break;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_fail(st, err, "reading subscribers");
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return -1;
	return r;
}

int store_subscriber_counts(struct store *st, long long counts[4], char **err)
{
	sqlite3_stmt *s;
	memset(counts, 0, 4 * sizeof *counts);
	if (sqlite3_prepare_v2(st->db, "SELECT status, count(*) FROM subscribers GROUP BY status", -1, &s,
			       NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the subscriber count");
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		for (int i = 0; i < 4; i++)
			if (name && !strcmp(name, sq_status_names[i]))
				counts[i] = sqlite3_column_int64(s, 1);
	}
	if (rc != SQLITE_DONE)
		sq_fail(st, err, "counting subscribers");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- double opt-in ---- */

int store_subscriber_by_nonce(struct store *st, const char *nonce, struct subscriber *out, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT " SUB_COLS " FROM subscribers WHERE nonce = ?1", -1, &s, NULL) !=
	    SQLITE_OK)
		return sq_fail(st, err, "preparing the subscriber query");
	sqlite3_bind_text(s, 1, nonce, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sq_read_subscriber(s, out);
	else if (rc != SQLITE_DONE)
		sq_fail(st, err, "reading a subscriber");
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_ROW ? 1 : -1;
	/* A row merged into another by the migration to schema 4: its links
	 * name the subscriber it became, with the spelling and nonce they
	 * were made for (so that their MAC still checks). */
	if (sqlite3_prepare_v2(st->db,
			       "SELECT s.id, a.email, s.name, s.status, a.nonce, s.bounces, s.created_at, s.status_at"
			       " FROM subscriber_aliases a JOIN subscribers s ON s.id = a.subscriber_id WHERE a.nonce = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the subscriber query");
	sqlite3_bind_text(s, 1, nonce, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		sq_read_subscriber(s, out);
	else if (rc != SQLITE_DONE)
		sq_fail(st, err, "reading a subscriber");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* SQL with ?1 bound to the text T (NULL: SQL NULL) and ?2.. to the
 * integers A, B, C (a statement may leave ?1 unused), stepped to its end:
 * the rows it changed, or -1. */
static int sq_update(struct store *st, const char *sql, const char *what, char **err, const char *t, long long a,
		  long long b, long long c)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, what);
	int params = sqlite3_bind_parameter_count(s);
	sq_bind_text(s, 1, t);
	long long v[3] = {a, b, c};
	for (int i = 2; i <= params && i <= 4; i++)
		sqlite3_bind_int64(s, i, v[i - 2]);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		sq_fail(st, err, what);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? sqlite3_changes(st->db) : -1;
}

int store_optin_due(struct store *st, long long now, int limit, struct subscriber *out, int *n, char **err)
{
	*n = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT " SUB_COLS " FROM subscribers"
			       " WHERE confirm_due IS NOT NULL AND confirm_due <= ?1 AND status <> 'active'"
			       " ORDER BY confirm_due, id LIMIT ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the confirmation query");
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < limit)
		sq_read_subscriber(s, &out[(*n)++]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_fail(st, err, "reading the confirmations due");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int store_optin_claim(struct store *st, const struct subscriber *sub, long long now, char **err)
{
	/* Only the row as it was read: if it left and came back meanwhile,
	 * its nonce (and the link in a mail made from SUB) changed. */
	return sq_update(st,
		      "UPDATE subscribers SET confirm_due = NULL, confirm_sent_at = ?3"
		      " WHERE id = ?2 AND nonce = ?1 AND confirm_due IS NOT NULL AND status <> 'active'",
		      "claiming a confirmation", err, sub->nonce, sub->id, now, 0);
}

int store_optin_retry(struct store *st, long long id, long long claimed, long long when, char **err)
{
	/* Only a claim still standing: a status change since (someone who
	 * unsubscribed meanwhile) cleared it, and must stay cleared. */
	return sq_update(st,
		      "UPDATE subscribers SET confirm_due = ?3, confirm_sent_at = NULL"
		      " WHERE id = ?2 AND status <> 'active' AND confirm_due IS NULL"
		      "   AND confirm_sent_at IS NOT NULL AND (?4 = 0 OR confirm_sent_at = ?4)",
		      "deferring a confirmation", err, NULL, id, when, claimed) < 0
		       ? -1
		       : 0;
}

/* ---- the lifecycle's columns, for subscription.c ---- */

#define ROW_COLS                                                                                          \
	"id, status, status_at, bounces, coalesce(confirm_due, -1), coalesce(confirm_sent_at, -1),"          \
	" coalesce(asked_at, -1), bounce_score, coalesce(bounce_day, -1), coalesce(bounce_at, -1), nonce, name"

static void read_row(sqlite3_stmt *s, struct sub_row *r)
{
	memset(r, 0, sizeof *r);
	r->id = sqlite3_column_int64(s, 0);
	r->status = status_of(s, 1);
	r->status_at = sqlite3_column_int64(s, 2);
	r->bounces = sqlite3_column_int(s, 3);
	r->confirm_due = sqlite3_column_int64(s, 4);
	r->confirm_sent_at = sqlite3_column_int64(s, 5);
	r->asked_at = sqlite3_column_int64(s, 6);
	r->bounce_score = sqlite3_column_double(s, 7);
	r->bounce_day = sqlite3_column_int64(s, 8);
	r->bounce_at = sqlite3_column_int64(s, 9);
	const unsigned char *n = sqlite3_column_text(s, 10);
	snprintf(r->nonce, sizeof r->nonce, "%s", n ? (const char *)n : "");
	r->name = sq_col_text(s, 11);
}

void sub_row_clear(struct sub_row *r)
{
	if (!r)
		return;
	free(r->name);
	memset(r, 0, sizeof *r);
}

int store_lifecycle_get(struct store *st, long long id, const char *email, struct sub_row *out, char **err)
{
	sqlite3_stmt *s = id > 0 ? sq_cached(st, &st->row_by_id, "SELECT " ROW_COLS " FROM subscribers WHERE id = ?1", err)
				 : sq_cached(st, &st->row_by_key,
					     "SELECT " ROW_COLS " FROM subscribers WHERE addr_key = ?1", err);
	if (!s)
		return -1;
	if (id > 0) {
		sqlite3_bind_int64(s, 1, id);
	} else {
		char *key = store_key_of(email);
		sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
		free(key);
	}
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_row(s, out);
	else if (rc != SQLITE_DONE)
		sq_fail(st, err, "reading a subscriber");
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static void bind_time(sqlite3_stmt *s, int i, long long v)
{
	if (v >= 0)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

int store_lifecycle_put(struct store *st, const struct sub_row *r, char **err)
{
	sqlite3_stmt *s = sq_cached(st, &st->row_put,
				    "UPDATE subscribers SET status = ?2, status_at = ?3, bounces = ?4, confirm_due = ?5,"
				    "  confirm_sent_at = ?6, asked_at = ?7, bounce_score = ?8, bounce_day = ?9,"
				    "  bounce_at = ?10, nonce = ?11, name = ?12 WHERE id = ?1",
				    err);
	if (!s)
		return -1;
	sqlite3_bind_int64(s, 1, r->id);
	sqlite3_bind_text(s, 2, sq_status_names[r->status], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, r->status_at);
	sqlite3_bind_int(s, 4, r->bounces);
	bind_time(s, 5, r->confirm_due);
	bind_time(s, 6, r->confirm_sent_at);
	bind_time(s, 7, r->asked_at);
	sqlite3_bind_double(s, 8, r->bounce_score);
	bind_time(s, 9, r->bounce_day);
	bind_time(s, 10, r->bounce_at);
	sqlite3_bind_text(s, 11, r->nonce, -1, SQLITE_TRANSIENT);
	sq_bind_text(s, 12, r->name);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		sq_fail(st, err, "storing a subscriber");
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_lifecycle_insert(struct store *st, const char *email, const struct sub_row *r, long long now, long long *id,
		     char **err)
{
	sqlite3_stmt *s = sq_cached(st, &st->sub_insert,
				    "INSERT INTO subscribers (email, name, status, nonce, created_at, status_at, addr_key,"
				    "  confirm_due, asked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6, ?7, ?8)",
				    err);
	if (!s)
		return -1;
	char *key = store_key_of(email);
	sqlite3_bind_text(s, 6, key, -1, SQLITE_TRANSIENT);
	free(key);
	sqlite3_bind_text(s, 1, email, -1, SQLITE_TRANSIENT);
	sq_bind_text(s, 2, r->name);
	sqlite3_bind_text(s, 3, sq_status_names[r->status], -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, r->nonce, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 5, now);
	bind_time(s, 7, r->confirm_due);
	bind_time(s, 8, r->asked_at);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		sq_fail(st, err, "storing a subscriber");
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return -1;
	*id = sqlite3_last_insert_rowid(st->db);
	return 0;
}

void store_new_nonce(char out[33]) { new_nonce(out); }
