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
		  "INSERT INTO edition_articles SELECT '2026-01-01', 1, id FROM articles WHERE url = 'https://x/sent';"
		  "INSERT INTO edition_articles SELECT '2026-01-02', 1, id FROM articles WHERE url = 'https://x/same';");
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
