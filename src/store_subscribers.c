/* store: subscribers and their double opt-in (persistence only). */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/util.h"
#include "store_internal.h"

/* ---- subscribers ---- */

const char *const sq_status_names[] = {"pending", "active", "unsubscribed", "bouncing"};

static void new_nonce(char out[33])
{
	unsigned char r[16];
	random_bytes(r, sizeof r);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

void sq_read_subscriber(sqlite3_stmt *s, struct subscriber *sub)
{
	memset(sub, 0, sizeof *sub);
	sub->id = sqlite3_column_int64(s, 0);
	sub->email = sq_col_text(s, 1);
	sub->name = sq_col_text(s, 2);
	const char *stname = (const char *)sqlite3_column_text(s, 3);
	for (int i = 0; i < 4; i++)
		if (stname && !strcmp(stname, sq_status_names[i]))
			sub->status = (enum sub_status)i;
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

/* The statement *SLOT, prepared on first use and reset for the next;
 * NULL after a failure (in *ERR). */
sqlite3_stmt *sq_cached(struct store *st, sqlite3_stmt **slot, const char *sql, char **err)
{
	if (!*slot && sqlite3_prepare_v2(st->db, sql, -1, slot, NULL) != SQLITE_OK) {
		sq_fail(st, err, "preparing a statement");
		*slot = NULL;
		return NULL;
	}
	sqlite3_reset(*slot);
	sqlite3_clear_bindings(*slot);
	return *slot;
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
	char *key = sq_key_of(email);
	int rc = get_by_key(st, key, out, err);
	free(key);
	return rc;
}

int store_subscriber_put(struct store *st, const char *email, const char *name, enum sub_status status,
			 bool resubscribe, long long now, enum put_outcome *outcome, char **err)
{
	struct subscriber old;
	char *key = sq_key_of(email);
	int found = get_by_key(st, key, &old, err);
	if (found < 0) {
		free(key);
		return -1;
	}
	sqlite3_stmt *s = NULL;
	*outcome = PUT_UNCHANGED;
	if (!found) {
		char nonce[33];
		new_nonce(nonce);
		s = sq_cached(st, &st->sub_insert,
			   "INSERT INTO subscribers (email, name, status, nonce, created_at, status_at, addr_key)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
			   err);
		if (!s) {
			free(key);
			return -1;
		}
		sqlite3_bind_text(s, 6, key, -1, SQLITE_TRANSIENT);
		free(key);
		sqlite3_bind_text(s, 1, email, -1, SQLITE_TRANSIENT);
		sq_bind_text(s, 2, name);
		sqlite3_bind_text(s, 3, sq_status_names[status], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, nonce, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 5, now);
		*outcome = PUT_ADDED;
	} else {
		free(key);
		enum sub_status to = old.status;
		/* Someone who left, or whose mail bounced, is never put back on the
		 * list by a merge: only when the caller says so. */
		bool gone = old.status == SUB_UNSUBSCRIBED || old.status == SUB_BOUNCING;
		if (status != old.status) {
			if (gone && !resubscribe)
				*outcome = PUT_KEPT;
			else if (!(old.status == SUB_ACTIVE && status == SUB_PENDING))
				to = status;
		}
		bool rename = name && (!old.name || strcmp(name, old.name));
		if (to != old.status)
			*outcome = PUT_UPDATED;
		else if (rename && *outcome == PUT_UNCHANGED)
			*outcome = PUT_UPDATED;
		long long id = old.id;
		bool same = to == old.status;
		subscriber_clear(&old);
		if (same && !rename)
			return 0;
		s = sq_cached(st, &st->sub_update,
			   "UPDATE subscribers SET name = coalesce(?2, name), status = ?3,"
			   "  status_at = CASE WHEN status = ?3 THEN status_at ELSE ?4 END,"
			   "  confirm_due = CASE WHEN status = ?3 THEN confirm_due ELSE NULL END,"
			   "  bounces = CASE WHEN status = ?3 THEN bounces ELSE 0 END"
			   " WHERE id = ?1",
			   err);
		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, id);
		sq_bind_text(s, 2, name);
		sqlite3_bind_text(s, 3, sq_status_names[to], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now);
	}
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		sq_fail(st, err, "storing a subscriber");
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_subscriber_set_status(struct store *st, const char *email, enum sub_status status, long long now,
				char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "UPDATE subscribers SET status = ?2, status_at = ?3, bounces = 0,"
			       "  confirm_due = NULL,"
			       "  confirm_sent_at = CASE WHEN ?2 = 'unsubscribed' THEN NULL ELSE confirm_sent_at END"
			       " WHERE addr_key = ?1 AND status <> ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the status update");
	char *key = sq_key_of(email);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	free(key);
	sqlite3_bind_text(s, 2, sq_status_names[status], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		sq_fail(st, err, "changing a subscriber's status");
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(st->db) > 0;
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
int sq_update(struct store *st, const char *sql, const char *what, char **err, const char *t, long long a,
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

/* The confirm_due of the subscriber keyed KEY: -1 when none, -2 when it
 * cannot be read. */
static long long due_of(struct store *st, const char *key)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "SELECT coalesce(confirm_due, -1) FROM subscribers WHERE addr_key = ?1", -1,
			       &q, NULL) != SQLITE_OK)
		return -2;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
	long long v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -2;
	sqlite3_finalize(q);
	return v;
}

static int optin_request(struct store *st, const char *email, const char *key, const char *name, long long now,
			 long long resend, enum optin_outcome *outcome, char **err);

int store_optin_request(struct store *st, const char *email, const char *name, long long now, long long resend,
			enum optin_outcome *outcome, char **err)
{
	char *key = sq_key_of(email);
	int rc = optin_request(st, email, key, name, now, resend, outcome, err);
	free(key);
	return rc;
}

static int optin_request(struct store *st, const char *email, const char *key, const char *name, long long now,
			 long long resend, enum optin_outcome *outcome, char **err)
{
	struct subscriber old;
	int found = get_by_key(st, key, &old, err);
	if (found < 0)
		return -1;
	if (!found) {
		/* A stranger's form can name an address it does not own: the name
		 * is kept only for a new row, and no mail ever shows it before
		 * the owner confirms. */
		enum put_outcome po;
		if (store_subscriber_put(st, email, name, SUB_PENDING, false, now, &po, err) < 0 ||
		    sq_update(st, "UPDATE subscribers SET confirm_due = ?2, asked_at = ?2 WHERE addr_key = ?1",
			   "asking for a confirmation", err, key, now, 0, 0) < 0)
			return -1;
		*outcome = OPTIN_NEW;
		return 0;
	}
	enum sub_status was = old.status;
	subscriber_clear(&old);
	long long due_before = due_of(st, key), due_after;
	/* Every request writes (asked_at), whatever the address: the commit
	 * then takes as long for a subscribed address as for a new one, and
	 * the answer's timing tells nobody which it was. Owed a mail unless
	 * active, or one went out less than RESEND seconds ago, or one is
	 * still waiting to go (a clock set back holds nothing up for ever).
	 * Someone who left stays unsubscribed (or bouncing) until the new
	 * link is followed: a stranger's request changes nothing anyone could
	 * act on. The first request since leaving gets a new nonce, so that
	 * links from before never work again. */
	if (due_before < -1 ||
	    sq_update(st,
		   "UPDATE subscribers SET asked_at = ?2,"
		   "  confirm_due = CASE WHEN status = 'active' OR confirm_due IS NOT NULL THEN confirm_due"
		   "    WHEN confirm_sent_at IS NULL OR confirm_sent_at <= ?2 - ?3 OR confirm_sent_at > ?2 THEN ?2"
		   "    ELSE NULL END,"
		   "  nonce = CASE WHEN status IN ('unsubscribed', 'bouncing') AND confirm_due IS NULL"
		   "    AND (confirm_sent_at IS NULL OR confirm_sent_at < status_at)"
		   "    THEN lower(hex(randomblob(16))) ELSE nonce END"
		   " WHERE addr_key = ?1",
		   "asking for a confirmation", err, key, now, resend, 0) < 0 ||
	    (due_after = due_of(st, key)) < -1)
		return sq_fail(st, err, "asking for a confirmation");
	bool made_due = due_before == -1 && due_after != -1;
	*outcome = was == SUB_ACTIVE ? OPTIN_ACTIVE
		   : !made_due	      ? OPTIN_WAIT
		   : was == SUB_PENDING ? OPTIN_RESENT
					: OPTIN_RETURNED;
	return 0;
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

/* Who may be confirmed: pending; or left, then sent a confirmation since
 * (on or after the second they left). */
#define CONFIRMABLE \
	"(status = 'pending' OR (status IN ('unsubscribed', 'bouncing') AND confirm_sent_at >= status_at))"

int store_optin_confirm(struct store *st, long long id, long long now, bool apply, char **err)
{
	if (apply)
		return sq_update(st,
			      "UPDATE subscribers SET status = 'active', status_at = ?3, bounces = 0, confirm_due = NULL"
			      " WHERE id = ?2 AND " CONFIRMABLE,
			      "confirming a subscriber", err, NULL, id, now, 0);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM subscribers WHERE id = ?1 AND " CONFIRMABLE, -1, &s,
			       NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the confirmation check");
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	int n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	if (rc != SQLITE_ROW)
		sq_fail(st, err, "checking a confirmation");
	sqlite3_finalize(s);
	return n;
}

int store_subscriber_transition(struct store *st, long long id, unsigned from, enum sub_status to, long long now,
				char **err)
{
	char sql[320];
	int o = snprintf(sql, sizeof sql,
			 "UPDATE subscribers SET status = '%s', status_at = ?3, bounces = 0, confirm_due = NULL%s"
			 " WHERE id = ?2 AND status <> '%s' AND status IN (''",
			 sq_status_names[to], to == SUB_UNSUBSCRIBED ? ", confirm_sent_at = NULL" : "", sq_status_names[to]);
	for (int i = 0; i < 4; i++)
		if (from & (1u << i))
			o += snprintf(sql + o, sizeof sql - (size_t)o, ", '%s'", sq_status_names[i]);
	snprintf(sql + o, sizeof sql - (size_t)o, ")");
	return sq_update(st, sql, "changing a subscriber's status", err, NULL, id, now, 0);
}
