/* store: erasure on request (SPEC "subscribers forget"): a reader and
 * everything kept of them deleted, a keyed hash of their address key left
 * in `forgotten` so that an import cannot bring them back unnoticed. */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/token.h"
#include "digest/util.h"
#include "store_internal.h"

void store_erasure_secret(struct store *st, const char *path)
{
	free(st->secret_file);
	st->secret_file = path ? xstrdup(path) : NULL;
	st->erasure_key_loaded = false;
}

/* The hash of EMAIL's address key into OUT: 0, or -1 when there is no
 * secret to make it with. The key is read once per handle. */
static int hash_of(struct store *st, const char *email, char out[TOKEN_ERASURE_HEX + 1], char **err)
{
	if (!st->erasure_key_loaded) {
		if (!st->secret_file)
			return errf(err, "the hashes of erased readers need newsletter.secret_file");
		unsigned char secret[TOKEN_KEY_LEN];
		if (token_key_load(st->secret_file, secret, err) < 0)
			return -1;
		token_erasure_key(secret, st->erasure_key);
		explicit_bzero(secret, sizeof secret);
		st->erasure_key_loaded = true;
	}
	char *key = store_key_of(email);
	token_erasure_hash(st->erasure_key, key, out);
	free(key);
	return 0;
}

/* Whether the statement *SLOT (SQL, prepared once) with ?1 bound to T
 * (NULL: none) yields a row: 1, 0, or -1. */
static int exists(struct store *st, sqlite3_stmt **slot, const char *sql, const char *t, char **err)
{
	sqlite3_stmt *s = sq_cached(st, slot, sql, err);
	if (!s)
		return -1;
	if (t)
		sqlite3_bind_text(s, 1, t, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sq_fail(st, err, "reading the erased readers");
	sqlite3_reset(s); /* no read transaction left open between imports' lines */
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* Whether anyone was ever erased: until then no hash is needed, and no
 * secret is read (an import on a machine that never erased anyone). */
static int any_erased(struct store *st, char **err)
{
	return exists(st, &st->erased_any, "SELECT 1 FROM forgotten LIMIT 1", NULL, err);
}

int store_erased(struct store *st, const char *email, char **err)
{
	int any = any_erased(st, err);
	if (any <= 0)
		return any;
	char h[TOKEN_ERASURE_HEX + 1];
	if (hash_of(st, email, h, err) < 0)
		return -1;
	return exists(st, &st->erased_get, "SELECT 1 FROM forgotten WHERE key_hash = ?1", h, err);
}

int store_erased_clear(struct store *st, long long id, char **err)
{
	int any = any_erased(st, err);
	if (any <= 0)
		return any;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT email FROM subscribers WHERE id = ?1", -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "reading a subscriber");
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	char *email = rc == SQLITE_ROW ? sq_col_text(s, 0) : NULL;
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sq_fail(st, err, "reading a subscriber");
	sqlite3_finalize(s);
	if (!email)
		return rc == SQLITE_DONE ? 0 : -1;
	char h[TOKEN_ERASURE_HEX + 1];
	int r = hash_of(st, email, h, err);
	free(email);
	if (r < 0)
		return -1;
	return sq_change(st, "DELETE FROM forgotten WHERE key_hash = ?1", h, 0, NULL, "clearing an erased reader's hash",
		      err);
}

/* The bounce log's lines that name KEY's address without a subscriber
 * (one that came back for an address no longer or never subscribed):
 * deleted, counted in *N. The log keeps addresses as they came, so the
 * key is compared in C. */
static int forget_loose_bounces(struct store *st, const char *key, long long *n, char **err)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "SELECT id, address FROM bounces WHERE subscriber_id IS NULL AND address IS NOT NULL",
			       -1, &q, NULL) != SQLITE_OK)
		return sq_fail(st, err, "reading the bounce log");
	long long *ids = NULL;
	size_t nids = 0, cap = 0;
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		char *k = store_key_of((const char *)sqlite3_column_text(q, 1));
		if (!strcmp(k, key)) {
			if (nids == cap) {
				cap = cap ? 2 * cap : 8;
				ids = xrealloc(ids, cap * sizeof *ids);
			}
			ids[nids++] = sqlite3_column_int64(q, 0);
		}
		free(k);
	}
	if (rc != SQLITE_DONE)
		sq_fail(st, err, "reading the bounce log");
	sqlite3_finalize(q);
	int r = rc == SQLITE_DONE ? 0 : -1;
	for (size_t i = 0; r == 0 && i < nids; i++)
		r = sq_change(st, "DELETE FROM bounces WHERE id = ?2", NULL, ids[i], n, "erasing a reader", err);
	free(ids);
	return r;
}

int store_subscriber_forget(struct store *st, const char *email, long long now, bool dry_run,
			    struct forget_stats *out, char **err)
{
	memset(out, 0, sizeof *out);
	char h[TOKEN_ERASURE_HEX + 1];
	if (hash_of(st, email, h, err) < 0)
		return -1;
	char *key = store_key_of(email);
	int result = -1;
	long long id = 0, hashed = 0;
	if (store_begin(st, err) < 0)
		goto out;
	if (sq_count(st, "SELECT coalesce((SELECT id FROM subscribers WHERE addr_key = ?1), 0)", key, 0, &id,
		     "reading a subscriber", err) < 0 ||
	    sq_count(st, "SELECT count(*) FROM forgotten WHERE key_hash = ?1", h, 0, &hashed, "reading the erased readers",
		     err) < 0)
		goto rollback;
	if (id > 0) {
		static const char *const what = "erasing a reader";
		/* counted first: consents go with the row (ON DELETE CASCADE) */
		if (sq_count(st, "SELECT count(*) FROM consents WHERE subscriber_id = ?2", NULL, id, &out->consents,
			     "reading a subscriber's consents", err) < 0 ||
		    sq_change(st, "DELETE FROM deliveries WHERE subscriber_id = ?2", NULL, id, &out->deliveries, what,
			      err) < 0 ||
		    sq_change(st, "DELETE FROM bounces WHERE subscriber_id = ?2", NULL, id, &out->bounces, what, err) < 0 ||
		    sq_change(st, "DELETE FROM subscriber_aliases WHERE subscriber_id = ?2", NULL, id, &out->aliases, what,
			      err) < 0 ||
		    sq_change(st, "DELETE FROM consents WHERE subscriber_id = ?2", NULL, id, NULL, what, err) < 0 ||
		    sq_change(st, "DELETE FROM subscribers WHERE id = ?2", NULL, id, NULL, what, err) < 0)
			goto rollback;
	}
	if (forget_loose_bounces(st, key, &out->bounces, err) < 0)
		goto rollback;
	if (id == 0 && out->bounces == 0) {
		/* nobody to erase: an address never known leaves no hash */
		store_rollback(st);
		result = hashed ? 2 : 0;
		goto out;
	}
	if (sq_change(st, "INSERT INTO forgotten (key_hash, at) VALUES (?1, ?2) ON CONFLICT (key_hash) DO UPDATE SET at = ?2",
		   h, now, NULL, "erasing a reader", err) < 0)
		goto rollback;
	if (dry_run) {
		store_rollback(st);
		result = 1;
		goto out;
	}
	if (store_commit(st, err) < 0)
		goto rollback;
	/* The write-ahead log still holds the pages as they were before:
	 * copied into the database and cut to nothing, unless a reader
	 * holds it past the busy wait (then the next checkpoint does). */
	int log = 0, done = 0;
	int ck = sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
	out->wal_kept = ck != SQLITE_OK || log != 0;
	result = 1;
	goto out;
rollback:
	store_rollback(st);
out:
	free(key);
	return result;
}
