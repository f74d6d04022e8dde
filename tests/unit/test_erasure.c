/* Unit tests of erasure on request: the hash (token_erasure_hash), what
 * store_subscriber_forget deletes and keeps, the bytes left in the file,
 * and the lifecycle's rule that only the reader's own confirmation
 * brings an erased mailbox back. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "digest/store.h"
#include "digest/subscription.h"
#include "digest/token.h"
#include "digest/util.h"

static char dir[] = "/tmp/digest-erasure-XXXXXX";

/* One number from the database at PATH, read behind the store's back. */
static long long count(const char *path, const char *q)
{
	sqlite3 *db;
	sqlite3_stmt *s;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	long long n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	return n;
}

/* Whether the file PATH holds the bytes NEEDLE anywhere (a missing file
 * holds nothing). */
static bool file_holds(const char *path, const char *needle)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return false;
	struct buf b = {0};
	char chunk[65536];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	bool found = b.len && memmem(b.data, b.len, needle, strlen(needle));
	buf_free(&b);
	return found;
}

static bool db_holds(const char *path, const char *needle)
{
	char *wal = xasprintf("%s-wal", path);
	bool found = file_holds(path, needle) || file_holds(wal, needle);
	free(wal);
	return found;
}

static struct store *open_db(const char *name, char **path, char **secret)
{
	*path = xasprintf("%s/%s", dir, name);
	*secret = xasprintf("%s/%s.secret", dir, name);
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(*path, &st, &err), 0);
	store_erasure_secret(st, *secret);
	return st;
}

static struct sub_result event(struct store *st, enum sub_event ev, long long id, const char *email, long long now)
{
	struct sub_args a = {.ev = ev, .id = id, .email = email, .name = "Reader Name", .now = now};
	struct sub_result r;
	char *err = NULL;
	if (subscription_event(st, &a, &r, &err) < 0)
		fail_msg("%s: %s", sub_event_name(ev), err);
	return r;
}

static int status_of(struct store *st, const char *email)
{
	struct subscriber s = {0};
	char *err = NULL;
	int found = store_subscriber_get(st, email, &s, &err);
	assert_true(found >= 0);
	int rc = found ? (int)s.status : -1;
	subscriber_clear(&s);
	return rc;
}

/* The hash: stable for one secret and one mailbox, another for another
 * secret or mailbox, hex, and not the address in any form. */
static void test_hash(void **state)
{
	(void)state;
	unsigned char s1[TOKEN_KEY_LEN], s2[TOKEN_KEY_LEN], k1[TOKEN_KEY_LEN], k2[TOKEN_KEY_LEN];
	memset(s1, 0x11, sizeof s1);
	memset(s2, 0x22, sizeof s2);
	token_erasure_key(s1, k1);
	token_erasure_key(s2, k2);
	assert_memory_not_equal(k1, s1, TOKEN_KEY_LEN); /* a key of its own */
	char a[TOKEN_ERASURE_HEX + 1], b[TOKEN_ERASURE_HEX + 1], c[TOKEN_ERASURE_HEX + 1], d[TOKEN_ERASURE_HEX + 1];
	token_erasure_hash(k1, "bob@example.org", a);
	token_erasure_hash(k1, "bob@example.org", b);
	token_erasure_hash(k2, "bob@example.org", c);
	token_erasure_hash(k1, "bob2@example.org", d);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_string_not_equal(a, d);
	assert_int_equal(strlen(a), TOKEN_ERASURE_HEX);
	assert_int_equal(strspn(a, "0123456789abcdef"), TOKEN_ERASURE_HEX);
	assert_null(strstr(a, "bob"));
}

/* A reader with a history: forgotten, nothing of them is left but one
 * hash; other readers keep theirs; the file holds no byte of the
 * address; any spelling of the mailbox is recognised afterwards. */
static void test_forget(void **state)
{
	(void)state;
	char *path, *secret, *err = NULL;
	struct store *st = open_db("forget.db", &path, &secret);
	const char *victim = "Victim.Reader@Example.ORG", *other = "other@example.org";
	struct sub_result r = event(st, SUB_EV_IMPORT + SUB_ACTIVE, 0, victim, 1000);
	assert_int_equal(r.outcome, SUB_ADDED);
	long long vid = r.id;
	long long oid = event(st, SUB_EV_IMPORT + SUB_ACTIVE, 0, other, 1000).id;
	/* its row updated often (freed cells the address was in) */
	for (int i = 0; i < 5; i++) {
		event(st, SUB_EV_UNSUBSCRIBE, 0, victim, 1100 + i);
		event(st, SUB_EV_RESUBSCRIBE + SUB_ACTIVE, 0, victim, 1101 + i);
	}
	struct edition_rec rec = {.built_at = 1, .window_from = 0, .window_to = 1};
	assert_int_equal(store_edition_freeze(st, "2026-01-01", &rec, NULL, 0, &err), 0);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-01-01", vid, DELIVERY_FAILED,
					       "550 5.1.1 <Victim.Reader@Example.ORG>: user unknown", 2000, 3, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-01-01", oid, DELIVERY_SENT, "250 ok", 2000, 3, &err), 0);
	struct bounce_rec loose = {.address = "victim.reader@example.org", .kind = "bounce-hard", .source = "inbound",
				   .status = "5.1.1", .diagnostic = "no such user"};
	assert_int_equal(store_bounce_log(st, &loose, 2100, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_true(db_holds(path, "Victim.Reader@Example.ORG")); /* the test can see it */

	/* a dry run changes nothing */
	struct forget_stats fs;
	assert_int_equal(store_subscriber_forget(st, "victim.reader@example.org", 3000, true, &fs, &err), 1);
	assert_int_equal(fs.deliveries, 1);
	assert_int_equal(fs.bounces, 2);
	assert_int_equal(count(path, "SELECT count(*) FROM subscribers"), 2);
	assert_int_equal(count(path, "SELECT count(*) FROM forgotten"), 0);

	assert_int_equal(store_subscriber_forget(st, "VICTIM.READER@example.org", 3000, false, &fs, &err), 1);
	assert_null(err);
	assert_int_equal(fs.deliveries, 1);
	assert_int_equal(fs.bounces, 2); /* the run's refusal and the loose one */
	assert_false(fs.wal_kept);
	assert_int_equal(count(path, "SELECT count(*) FROM subscribers"), 1);
	assert_int_equal(count(path, "SELECT count(*) FROM deliveries"), 1);
	assert_int_equal(count(path, "SELECT count(*) FROM bounces"), 0);
	assert_int_equal(count(path, "SELECT count(*) FROM forgotten WHERE at = 3000"), 1);
	assert_int_equal(status_of(st, other), SUB_ACTIVE);
	assert_int_equal(status_of(st, victim), -1);
	/* no byte of it in the database nor its log, in any case */
	assert_false(db_holds(path, "Victim.Reader@Example.ORG"));
	assert_false(db_holds(path, "victim.reader@example.org"));
	assert_false(db_holds(path, "Victim.Reader"));
	assert_false(db_holds(path, "user unknown"));
	assert_true(db_holds(path, other));
	/* any spelling of the mailbox is the one erased */
	assert_int_equal(store_erased(st, "victim.reader@EXAMPLE.org", &err), 1);
	assert_int_equal(store_erased(st, other, &err), 0);
	/* again: only the hash is left; an address never known: nothing */
	assert_int_equal(store_subscriber_forget(st, victim, 3100, false, &fs, &err), 2);
	assert_int_equal(store_subscriber_forget(st, "nobody@example.org", 3100, false, &fs, &err), 0);
	assert_int_equal(count(path, "SELECT count(*) FROM forgotten"), 1);

	/* a late bounce naming the erased address keeps nothing of it */
	struct bounce_rec late = {.address = "VICTIM.READER@example.org", .kind = "bounce-hard", .source = "inbound",
				  .status = "5.1.1", .diagnostic = "<victim.reader@example.org>: no such user"};
	assert_int_equal(store_bounce_log(st, &late, 3200, &err), 0);
	assert_int_equal(count(path, "SELECT count(*) FROM bounces WHERE address IS NULL AND diagnostic IS NULL"
				     " AND status = '5.1.1'"), 1);
	struct bounce_rec kept = {.address = "stranger@example.org", .kind = "bounce-hard", .source = "inbound",
				  .diagnostic = "no such user"};
	assert_int_equal(store_bounce_log(st, &kept, 3200, &err), 0);
	assert_int_equal(count(path, "SELECT count(*) FROM bounces WHERE address = 'stranger@example.org'"), 1);
	sqlite3 *raw;
	assert_int_equal(sqlite3_open(path, &raw), SQLITE_OK);
	assert_int_equal(sqlite3_wal_checkpoint_v2(raw, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), SQLITE_OK);
	sqlite3_close(raw);
	assert_false(db_holds(path, "victim.reader"));
	assert_false(db_holds(path, "VICTIM.READER"));

	/* another secret: the hashes kept match nothing (the README says so) */
	char *secret2 = xasprintf("%s/other.secret", dir);
	store_erasure_secret(st, secret2);
	assert_int_equal(store_erased(st, victim, &err), 0);
	/* no secret at all: a hash cannot be made, and that is an error */
	store_erasure_secret(st, NULL);
	assert_int_equal(store_erased(st, victim, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	store_close(st);
	free(secret2);
	free(secret);
	free(path);
}

/* Nobody ever erased: no secret is read (nor needed) by an import. */
static void test_no_secret_needed(void **state)
{
	(void)state;
	char *path = xasprintf("%s/nosecret.db", dir), *err = NULL;
	struct store *st;
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_erased(st, "a@example.org", &err), 0);
	assert_int_equal(event(st, SUB_EV_IMPORT + SUB_ACTIVE, 0, "a@example.org", 10).outcome, SUB_ADDED);
	store_close(st);
	free(path);
}

/* The way back: no import nor operator's resubscribe, in any status;
 * a request makes them pending (the hash stays); their confirmation
 * brings them back and ends the erasure. */
static void test_way_back(void **state)
{
	(void)state;
	char *path, *secret, *err = NULL;
	struct store *st = open_db("back.db", &path, &secret);
	const char *addr = "gone@example.org";
	event(st, SUB_EV_IMPORT + SUB_ACTIVE, 0, addr, 100);
	struct forget_stats fs;
	assert_int_equal(store_subscriber_forget(st, addr, 200, false, &fs, &err), 1);
	for (int s = 0; s < 4; s++) {
		struct sub_result r = event(st, SUB_EV_IMPORT + s, 0, "Gone@example.org", 300);
		assert_int_equal(r.outcome, SUB_ERASED);
		r = event(st, SUB_EV_RESUBSCRIBE + s, 0, addr, 300);
		assert_int_equal(r.outcome, SUB_ERASED);
		assert_int_equal(status_of(st, addr), -1);
	}
	/* other events of a mailbox with no row do nothing, as ever */
	assert_int_equal(event(st, SUB_EV_UNSUBSCRIBE, 0, addr, 310).outcome, SUB_NONE);
	/* their request: pending, still erased for an import */
	struct sub_result r = event(st, SUB_EV_REQUEST, 0, addr, 400);
	assert_int_equal(r.outcome, SUB_ADDED);
	long long id = r.id;
	assert_int_equal(status_of(st, addr), SUB_PENDING);
	assert_int_equal(store_erased(st, addr, &err), 1);
	assert_int_equal(event(st, SUB_EV_IMPORT + SUB_ACTIVE, 0, addr, 410).outcome, SUB_ERASED);
	assert_int_equal(event(st, SUB_EV_RESUBSCRIBE + SUB_ACTIVE, 0, addr, 410).outcome, SUB_ERASED);
	assert_int_equal(status_of(st, addr), SUB_PENDING);
	/* a peek says the same and writes nothing */
	struct sub_args pa = {.ev = SUB_EV_IMPORT + SUB_ACTIVE, .email = addr, .now = 420};
	assert_int_equal(subscription_peek(st, &pa, &r, &err), 0);
	assert_int_equal(r.outcome, SUB_ERASED);
	/* their confirmation: active, and the hash is gone */
	r = event(st, SUB_EV_CONFIRM, id, NULL, 500);
	assert_int_equal(r.outcome, SUB_UPDATED);
	assert_int_equal(status_of(st, addr), SUB_ACTIVE);
	assert_int_equal(store_erased(st, addr, &err), 0);
	assert_int_equal(count(path, "SELECT count(*) FROM forgotten"), 0);
	/* from now on an ordinary reader */
	assert_int_equal(event(st, SUB_EV_IMPORT + SUB_UNSUBSCRIBED, 0, addr, 600).outcome, SUB_UPDATED);
	/* the pure decision: ERASED from the caller, for every from-state */
	for (int from = 0; from < 5; from++) {
		struct sub_row before = {.id = 7, .status = (enum sub_status)(from % 4), .status_at = 1,
					 .confirm_due = -1, .confirm_sent_at = -1, .asked_at = -1, .bounce_day = -1,
					 .bounce_at = -1, .nonce = "0123456789abcdef0123456789abcdef"};
		for (int ev = SUB_EV_IMPORT; ev <= SUB_EV_RESUBSCRIBE_LAST; ev++) {
			struct sub_args a = {.ev = (enum sub_event)ev, .email = addr, .name = "New Name", .now = 9,
					     .erased = true};
			struct sub_row after;
			struct sub_result res;
			subscription_decide(from < 4 ? &before : NULL, &a, 3.0, 14, &after, &res);
			assert_int_equal(res.outcome, SUB_ERASED);
			if (from < 4) {
				assert_int_equal(after.status, before.status);
				assert_null(after.name); /* not even the name */
			}
			sub_row_clear(&after);
		}
	}
	store_close(st);
	free(secret);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hash),
		cmocka_unit_test(test_forget),
		cmocka_unit_test(test_no_secret_needed),
		cmocka_unit_test(test_way_back),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
