/* Unit tests of store: creation and mode, migrations, upsert rules, candidates. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cmocka.h>

#include "digest/store.h"
#include "digest/util.h"

static char dir[] = "/tmp/digest-store-XXXXXX";

static char *db_path(const char *name) { return xasprintf("%s/%s", dir, name); }

static void sql(const char *path, const char *q)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	char *msg = NULL;
	int rc = sqlite3_exec(db, q, NULL, NULL, &msg);
	if (rc != SQLITE_OK)
		fail_msg("%s: %s", q, msg);
	sqlite3_close(db);
}

static void test_create(void **state)
{
	(void)state;
	char *path = xasprintf("%s/sub/dir/d.db", dir);
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	struct stat sb;
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	char *sub = xasprintf("%s/sub/dir", dir);
	assert_int_equal(stat(sub, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	store_close(st);
	/* a second open finds the schema current and migrates nothing */
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	store_close(st);
	free(sub);
	free(path);
}

static void test_bad_files(void **state)
{
	(void)state;
	struct store *st;
	char *err = NULL;
	/* a newer schema than ours */
	char *newer = db_path("newer.db");
	sql(newer, "PRAGMA user_version = 99");
	assert_int_equal(store_open(newer, &st, &err), -1);
	assert_non_null(strstr(err, "newer than this digest"));
	free(err);
	err = NULL;
	/* not a database at all */
	char *junk = db_path("junk.db");
	FILE *f = fopen(junk, "w");
	fputs("this is not an SQLite database, just text long enough to have a header", f);
	fclose(f);
	assert_int_equal(store_open(junk, &st, &err), -1);
	assert_non_null(strstr(err, junk));
	assert_null(strchr(err, '\n'));
	free(err);
	err = NULL;
	/* a directory where the file should be created cannot be */
	assert_int_equal(store_open("/proc/digest-cannot/x.db", &st, &err), -1);
	assert_non_null(err);
	free(err);
	free(newer);
	free(junk);
}

static struct article art(const char *url, const char *title, long long published, int known, long long views,
			  long long comments, long long seen)
{
	struct article a = {0};
	a.url = (char *)url;
	a.source = (char *)"s";
	a.title = (char *)title;
	a.published = published;
	a.published_known = known;
	a.views = views;
	a.comments = comments;
	a.first_seen = a.last_seen = seen;
	return a;
}

static struct article *find(struct article *v, size_t n, const char *url)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].url, url))
			return &v[i];
	return NULL;
}

static void test_upsert_rules(void **state)
{
	(void)state;
	char *path = db_path("u.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);

	/* first sight */
	struct article a = art("https://x/1", "One", 1000, 1, 10, 1, 1100);
	a.summary = (char *)"lead";
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_article_upsert(st, &a, &err), 0);
	long long id = a.id;
	assert_true(id > 0);
	struct article b = art("https://x/2", "Undated", 0, 0, -1, -1, 1500);
	assert_int_equal(store_article_upsert(st, &b, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);

	/* seen again: views and title update, the known date and the summary stay,
	 * unknown counts do not erase known ones */
	struct article a2 = art("https://x/1", "One (updated)", 5000, 1, 99, -1, 2000);
	assert_int_equal(store_article_upsert(st, &a2, &err), 0);
	assert_int_equal(a2.id, id);
	struct article b2 = art("https://x/2", "Undated", 1400, 1, 7, 3, 2100);
	assert_int_equal(store_article_upsert(st, &b2, &err), 0);

	struct article *v;
	size_t n;
	assert_int_equal(store_candidates(st, "2026-01-02", 0, 100000, &v, &n, &err), 0);
	assert_int_equal(n, 2);
	struct article *one = find(v, n, "https://x/1"), *two = find(v, n, "https://x/2");
	assert_non_null(one);
	assert_non_null(two);
	assert_string_equal(one->title, "One (updated)");
	assert_int_equal(one->views, 99);
	assert_int_equal(one->comments, 1);
	assert_int_equal(one->published, 1000);
	assert_true(one->published_known);
	assert_string_equal(one->summary, "lead");
	assert_int_equal(one->first_seen, 1100);
	assert_int_equal(one->last_seen, 2000);
	/* a date learnt later is taken */
	assert_int_equal(two->published, 1400);
	assert_int_equal(two->views, 7);
	articles_free(v, n);
	store_close(st);
	free(path);
}

static void test_candidates_window_and_editions(void **state)
{
	(void)state;
	char *path = db_path("c.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	static const struct {
		const char *url;
		long long published;
		int known;
		long long seen;
	} rows[] = {
		{"https://x/old", 100, 1, 5000},      /* published before the window */
		{"https://x/in", 2000, 1, 5000},      /* inside */
		{"https://x/edge", 1000, 1, 5000},    /* on the window's start */
		{"https://x/future", 9000, 1, 5000},  /* after the cut-off */
		{"https://x/undated", 0, 0, 3000},    /* counts as published when first seen */
		{"https://x/sent", 2500, 1, 5000},    /* in an earlier edition */
		{"https://x/same", 2600, 1, 5000},    /* in this date's own edition: still a candidate */
	};
	assert_int_equal(store_begin(st, &err), 0);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct article a = art(rows[i].url, "t", rows[i].published, rows[i].known, 1, 1, rows[i].seen);
		assert_int_equal(store_article_upsert(st, &a, &err), 0);
	}
	assert_int_equal(store_commit(st, &err), 0);
	store_close(st);
	sql(path, "INSERT INTO editions VALUES ('2026-01-01', 1, 0, 1);"
		  "INSERT INTO editions VALUES ('2026-01-02', 1, 0, 1);"
		  "INSERT INTO edition_articles (edition, rank, article_id) SELECT '2026-01-01', 1, id FROM articles WHERE url = 'https://x/sent';"
		  "INSERT INTO edition_articles (edition, rank, article_id) SELECT '2026-01-02', 1, id FROM articles WHERE url = 'https://x/same';");
	assert_int_equal(store_open(path, &st, &err), 0);
	struct article *v;
	size_t n;
	assert_int_equal(store_candidates(st, "2026-01-02", 1000, 5000, &v, &n, &err), 0);
	static const char *const want[] = {"https://x/in", "https://x/edge", "https://x/undated", "https://x/same"};
	assert_int_equal(n, ARRAY_LEN(want));
	for (size_t i = 0; i < ARRAY_LEN(want); i++)
		assert_non_null(find(v, n, want[i]));
	articles_free(v, n);
	store_close(st);
	free(path);
}

/* Merging subscribers: who may change status, and what a merge says. */
static void test_subscribers(void **state)
{
	(void)state;
	char *path = db_path("subs.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	static const struct {
		const char *email, *name;
		enum sub_status status;
		bool resubscribe;
		enum put_outcome want;
		enum sub_status after;
	} steps[] = {
		{"a@x.org", "A", SUB_ACTIVE, false, PUT_ADDED, SUB_ACTIVE},
		{"a@x.org", NULL, SUB_ACTIVE, false, PUT_UNCHANGED, SUB_ACTIVE},
		{"a@x.org", "A2", SUB_ACTIVE, false, PUT_UPDATED, SUB_ACTIVE},
		{"a@x.org", NULL, SUB_PENDING, false, PUT_UNCHANGED, SUB_ACTIVE}, /* never demoted */
		{"b@x.org", NULL, SUB_PENDING, false, PUT_ADDED, SUB_PENDING},
		{"b@x.org", NULL, SUB_ACTIVE, false, PUT_UPDATED, SUB_ACTIVE},
		{"b@x.org", NULL, SUB_UNSUBSCRIBED, false, PUT_UPDATED, SUB_UNSUBSCRIBED},
		{"b@x.org", NULL, SUB_ACTIVE, false, PUT_KEPT, SUB_UNSUBSCRIBED}, /* never re-added */
		{"b@x.org", NULL, SUB_ACTIVE, true, PUT_UPDATED, SUB_ACTIVE},
	};
	for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
		enum put_outcome out;
		assert_int_equal(store_subscriber_put(st, steps[i].email, steps[i].name, steps[i].status,
						      steps[i].resubscribe, 1000 + (long long)i, &out, &err), 0);
		if (out != steps[i].want)
			fail_msg("step %zu: outcome %d, want %d", i, out, steps[i].want);
		struct subscriber sub;
		assert_int_equal(store_subscriber_get(st, steps[i].email, &sub, &err), 1);
		assert_int_equal(sub.status, steps[i].after);
		assert_int_equal(strlen(sub.nonce), 32);
		subscriber_clear(&sub);
	}
	struct subscriber sub;
	assert_int_equal(store_subscriber_get(st, "a@x.org", &sub, &err), 1);
	assert_string_equal(sub.name, "A2");
	subscriber_clear(&sub);
	assert_int_equal(store_subscriber_get(st, "nobody@x.org", &sub, &err), 0);
	assert_int_equal(store_subscriber_set_status(st, "a@x.org", SUB_UNSUBSCRIBED, 2000, &err), 1);
	assert_int_equal(store_subscriber_set_status(st, "a@x.org", SUB_UNSUBSCRIBED, 2000, &err), 0);
	assert_int_equal(store_subscriber_set_status(st, "nobody@x.org", SUB_UNSUBSCRIBED, 2000, &err), 0);
	long long counts[4];
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[SUB_ACTIVE], 1);
	assert_int_equal(counts[SUB_UNSUBSCRIBED], 1);
	store_close(st);
	free(path);
}

/* The journal: recipients paged by id, marks, bounces, counts; and an
 * edition frozen with its articles as they were. */
static void test_journal(void **state)
{
	(void)state;
	char *path = db_path("journal.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	enum put_outcome out;
	for (int i = 0; i < 7; i++) {
		char *e = xasprintf("r%d@x.org", i);
		assert_int_equal(store_subscriber_put(st, e, NULL, i == 6 ? SUB_PENDING : SUB_ACTIVE, false, 1, &out,
						      &err), 0);
		free(e);
	}
	struct article a = {.url = "https://x.org/1", .source = "s", .title = "Один", .views = 5, .comments = -1,
			    .published = 100, .published_known = true, .first_seen = 100, .last_seen = 100};
	assert_int_equal(store_article_upsert(st, &a, &err), 0);
	struct edition_rec rec = {.built_at = 200, .window_from = 0, .window_to = 200};
	assert_int_equal(store_edition_freeze(st, "2026-11-24", &rec, &a, 1, &err), 0);
	assert_int_equal(store_edition_freeze(st, "2026-11-24", &rec, &a, 1, &err), -1); /* once only */
	free(err);
	err = NULL;
	/* Later collects change the article; the frozen edition does not. */
	a.title = "Другой";
	a.views = 99;
	assert_int_equal(store_article_upsert(st, &a, &err), 0);
	struct article *got;
	size_t n;
	struct edition_rec r2;
	assert_int_equal(store_edition_load(st, "2026-11-24", &r2, &got, &n, &err), 1);
	assert_int_equal(n, 1);
	assert_string_equal(got[0].title, "Один");
	assert_int_equal(got[0].views, 5);
	assert_int_equal(got[0].comments, -1);
	assert_int_equal(r2.built_at, 200);
	articles_free(got, n);
	assert_int_equal(store_edition_load(st, "2026-11-25", NULL, &got, &n, &err), 0);

	const char *ed = "2026-11-24";
	struct subscriber page[3];
	int k;
	long long after = 0;
	int total = 0;
	do {
		assert_int_equal(store_recipients_next(st, ed, after, 3, page, &k, &err), 0);
		for (int i = 0; i < k; i++) {
			assert_true(page[i].id > after);
			after = page[i].id;
			total++;
			subscriber_clear(&page[i]);
		}
	} while (k == 3);
	assert_int_equal(total, 6); /* the pending one is not a recipient */

	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_delivery_mark(st, ed, 1, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(store_delivery_mark(st, ed, 1, DELIVERY_SENT, "250 ok", 301, 2, &err), 0);
	assert_int_equal(store_delivery_mark(st, ed, 2, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(store_delivery_mark(st, ed, 2, DELIVERY_FAILED, "550 no", 301, 2, &err), 0);
	assert_int_equal(store_delivery_mark(st, ed, 3, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(store_delivery_mark(st, ed, 3, DELIVERY_DEFERRED, "451 later", 301, 2, &err), 0);
	assert_int_equal(store_delivery_mark(st, ed, 4, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	struct delivery_counts dc;
	assert_int_equal(store_delivery_counts(st, ed, &dc, &err), 0);
	assert_int_equal(dc.sent, 1);
	assert_int_equal(dc.failed, 1);
	assert_int_equal(dc.pending, 4); /* deferred and in flight are still to send */
	/* Sent and failed are never offered again; deferred and in flight are. */
	assert_int_equal(store_recipients_next(st, ed, 0, 3, page, &k, &err), 0);
	assert_int_equal(k, 3);
	assert_int_equal(page[0].id, 3);
	assert_int_equal(page[0].attempts, 1);
	for (int i = 0; i < k; i++)
		subscriber_clear(&page[i]);
	/* A second permanent failure in a row makes the subscriber bouncing. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_delivery_mark(st, "2026-11-25", 2, DELIVERY_FAILED, "550 no", 400, 2, &err), -1);
	store_rollback(st); /* the edition must exist first */
	free(err);
	err = NULL;
	assert_int_equal(store_edition_freeze(st, "2026-11-25", &rec, NULL, 0, &err), 0);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_delivery_mark(st, "2026-11-25", 2, DELIVERY_FAILED, "550 no", 400, 2, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	struct subscriber sub;
	assert_int_equal(store_subscriber_get(st, "r1@x.org", &sub, &err), 1);
	assert_int_equal(sub.status, SUB_BOUNCING);
	subscriber_clear(&sub);
	struct edition_stats *es;
	assert_int_equal(store_editions_recent(st, 5, &es, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(es[0].date, "2026-11-25");
	assert_int_equal(es[1].sent, 1);
	assert_int_equal(es[1].articles, 1);
	free(es);
	store_close(st);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_upsert_rules),
		cmocka_unit_test(test_candidates_window_and_editions),
		cmocka_unit_test(test_subscribers),
		cmocka_unit_test(test_journal),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
