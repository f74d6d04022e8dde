/* Unit tests of store: creation and mode, migrations, upsert rules, candidates, double opt-in. */
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
#include "digest/subscription.h"
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

/* The journal rows store_deliveries_each gives, one line each:
 * "EMAIL STATE ATTEMPTS REPLY UPDATED_AT". */
struct rows_seen {
	char *line[8];
	int n;
};

static int collect_rows(void *ctx, const struct edition_delivery *d)
{
	static const char *const states[] = {"inflight", "sent", "deferred", "failed"};
	struct rows_seen *r = ctx;
	assert_true(r->n < 8);
	r->line[r->n++] = xasprintf("%s %s %d %s %lld", d->email, states[d->state], d->attempts, d->reply,
				    d->updated_at);
	return 0;
}

static void rows_clear(struct rows_seen *r)
{
	for (int i = 0; i < r->n; i++)
		free(r->line[i]);
	r->n = 0;
}

/* ------------------------------------------------------------------ */
/* The calls these tests were written with, now made through the module
 * that owns the rules (subscription.c): the assertions stay as they were. */

enum put_outcome { PUT_ADDED, PUT_UPDATED, PUT_UNCHANGED, PUT_KEPT };
enum optin_outcome { OPTIN_NEW, OPTIN_RESENT, OPTIN_RETURNED, OPTIN_WAIT, OPTIN_ACTIVE };

static int ev_apply(struct store *st, enum sub_event ev, long long id, const char *email, const char *name,
		    long long now, struct sub_result *res, char **err)
{
	struct sub_args a = {.ev = ev, .id = id, .email = email, .name = name, .now = now};
	return subscription_apply(st, &a, res, err);
}

/* an import line (RESUBSCRIBE: --resubscribe) */
static int t_put(struct store *st, const char *email, const char *name, enum sub_status status, bool resubscribe,
		 long long now, enum put_outcome *out, char **err)
{
	struct sub_result res;
	if (ev_apply(st, (resubscribe ? SUB_EV_RESUBSCRIBE : SUB_EV_IMPORT) + status, 0, email, name, now, &res,
		     err) < 0)
		return -1;
	*out = res.outcome == SUB_ADDED	    ? PUT_ADDED
	       : res.outcome == SUB_UPDATED ? PUT_UPDATED
	       : res.outcome == SUB_KEPT    ? PUT_KEPT
					    : PUT_UNCHANGED;
	return 0;
}

/* `digest unsubscribe` (UNSUBSCRIBED) or `subscribe --confirmed` (ACTIVE): 1 changed, 0 not */
static int t_set_status(struct store *st, const char *email, enum sub_status to, long long now, char **err)
{
	struct sub_result res;
	enum sub_event ev = to == SUB_UNSUBSCRIBED ? SUB_EV_UNSUBSCRIBE : SUB_EV_RESUBSCRIBE + to;
	if (ev_apply(st, ev, 0, email, NULL, now, &res, err) < 0)
		return -1;
	return res.outcome == SUB_UPDATED;
}

static int t_request(struct store *st, const char *email, const char *name, long long now, long long resend,
		     enum optin_outcome *out, char **err)
{
	struct sub_args a = {.ev = SUB_EV_REQUEST, .email = email, .name = name, .now = now, .resend = resend};
	struct sub_result res;
	if (subscription_apply(st, &a, &res, err) < 0)
		return -1;
	*out = res.outcome == SUB_ADDED	     ? OPTIN_NEW
	       : res.outcome == SUB_OWED     ? OPTIN_RESENT
	       : res.outcome == SUB_RETURNED ? OPTIN_RETURNED
	       : res.outcome == SUB_WAIT     ? OPTIN_WAIT
					     : OPTIN_ACTIVE;
	return 0;
}

/* the confirmation link: looked at (APPLY false) or followed; 1 yes, 0 no */
static int t_confirm(struct store *st, long long id, long long now, bool apply, char **err)
{
	struct sub_args a = {.ev = SUB_EV_CONFIRM, .id = id, .now = now};
	struct sub_result res;
	int rc = apply ? subscription_apply(st, &a, &res, err) : subscription_peek(st, &a, &res, err);
	return rc < 0 ? -1 : res.outcome == SUB_UPDATED;
}

/* subscriber ID to TO when its status is in the mask FROM, by the event
 * that makes that move (unsubscribe, confirm, an operator's
 * resubscribe): 1 changed, 0 not */
static int t_transition(struct store *st, long long id, unsigned from, enum sub_status to, long long now, char **err)
{
	struct sub_row row;
	int found = store_lifecycle_get(st, id, NULL, &row, err);
	if (found <= 0)
		return found;
	enum sub_status was = row.status;
	sub_row_clear(&row);
	if (!(from & (1u << was)) || was == to)
		return 0;
	enum sub_event ev = to == SUB_UNSUBSCRIBED			? SUB_EV_UNSUBSCRIBE
			    : to == SUB_ACTIVE && was == SUB_PENDING ? SUB_EV_CONFIRM
								     : SUB_EV_RESUBSCRIBE + to;
	struct sub_result res;
	if (ev_apply(st, ev, id, NULL, NULL, now, &res, err) < 0)
		return -1;
	return res.outcome == SUB_UPDATED;
}

/* a bounce that came back: STEP 1 hard, 0.5 soft */
static int t_score(struct store *st, long long id, double step, long long now, bool *became, char **err)
{
	struct sub_result res;
	if (ev_apply(st, step >= 1 ? SUB_EV_BOUNCE_HARD : SUB_EV_BOUNCE_SOFT, id, NULL, NULL, now, &res, err) < 0)
		return -1;
	if (became)
		*became = res.outcome == SUB_UPDATED && res.to == SUB_BOUNCING;
	return 0;
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
		assert_int_equal(t_put(st, steps[i].email, steps[i].name, steps[i].status,
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
	assert_int_equal(t_set_status(st, "a@x.org", SUB_UNSUBSCRIBED, 2000, &err), 1);
	assert_int_equal(t_set_status(st, "a@x.org", SUB_UNSUBSCRIBED, 2000, &err), 0);
	assert_int_equal(t_set_status(st, "nobody@x.org", SUB_UNSUBSCRIBED, 2000, &err), 0);
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
		assert_int_equal(t_put(st, e, NULL, i == 6 ? SUB_PENDING : SUB_ACTIVE, false, 1, &out,
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
	assert_int_equal(subscription_delivery(st, ed, 1, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(subscription_delivery(st, ed, 1, DELIVERY_SENT, "250 ok", 301, 2, &err), 0);
	assert_int_equal(subscription_delivery(st, ed, 2, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(subscription_delivery(st, ed, 2, DELIVERY_FAILED, "550 no", 301, 2, &err), 0);
	assert_int_equal(subscription_delivery(st, ed, 3, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(subscription_delivery(st, ed, 3, DELIVERY_DEFERRED, "451 later", 301, 2, &err), 0);
	assert_int_equal(subscription_delivery(st, ed, 4, DELIVERY_INFLIGHT, NULL, 300, 2, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	struct delivery_counts dc;
	assert_int_equal(store_delivery_counts(st, ed, &dc, &err), 0);
	assert_int_equal(dc.sent, 1);
	assert_int_equal(dc.failed, 1);
	assert_int_equal(dc.pending, 4); /* deferred and in flight are still to send */
	assert_int_equal(dc.deferred, 2); /* of them tried: 3 deferred, 4 in flight */
	assert_int_equal(dc.untried, 2);  /* and never tried: 5 and 6 */
	/* who failed, with the server's reply; who was deferred */
	struct rows_seen failed = {0}, deferred = {0};
	assert_int_equal(store_deliveries_each(st, ed, true, collect_rows, &failed, &err), 0);
	assert_int_equal(failed.n, 1);
	assert_string_equal(failed.line[0], "r1@x.org failed 1 550 no 301");
	assert_int_equal(store_deliveries_each(st, ed, false, collect_rows, &deferred, &err), 0);
	assert_int_equal(deferred.n, 2);
	assert_string_equal(deferred.line[0], "r2@x.org deferred 1 451 later 301");
	assert_string_equal(deferred.line[1], "r3@x.org inflight 1  300");
	rows_clear(&failed);
	rows_clear(&deferred);
	/* Sent and failed are never offered again; deferred and in flight are. */
	assert_int_equal(store_recipients_next(st, ed, 0, 3, page, &k, &err), 0);
	assert_int_equal(k, 3);
	assert_int_equal(page[0].id, 3);
	assert_int_equal(page[0].attempts, 1);
	for (int i = 0; i < k; i++)
		subscriber_clear(&page[i]);
	/* A second permanent failure in a row makes the subscriber bouncing. */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-11-25", 2, DELIVERY_FAILED, "550 no", 400, 2, &err), -1);
	store_rollback(st); /* the edition must exist first */
	free(err);
	err = NULL;
	assert_int_equal(store_edition_freeze(st, "2026-11-25", &rec, NULL, 0, &err), 0);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-11-25", 2, DELIVERY_FAILED, "550 no", 400, 2, &err), 0);
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
	assert_int_equal(es[1].failed, 1);
	assert_int_equal(es[1].deferred, 2);
	assert_int_equal(es[1].untried, 2);
	assert_int_equal(es[1].pending, 4);
	free(es);
	store_close(st);
	free(path);
}

/* ------------------------------------------------------------------ */
/* Double opt-in (schema 3)                                            */

/* An integer column of the row of subscriber EMAIL, read through a second
 * connection: its value, -1 when NULL, -2 when there is no such row. */
static long long sub_col(const char *path, const char *col, const char *email)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
	char *q = xasprintf("SELECT %s FROM subscribers WHERE email = ?1", col);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(db, q, -1, &s, NULL) != SQLITE_OK)
		fail_msg("%s: %s", q, sqlite3_errmsg(db));
	sqlite3_bind_text(s, 1, email, -1, SQLITE_STATIC);
	long long v = -2;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_type(s, 0) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(q);
	return v;
}

static long long sub_id(struct store *st, const char *email)
{
	struct subscriber sub;
	char *err = NULL;
	assert_int_equal(store_subscriber_get(st, email, &sub, &err), 1);
	long long id = sub.id;
	subscriber_clear(&sub);
	return id;
}

struct find {
	long long id;
	struct subscriber *out;
};

static int find_by_id(void *ctx, const struct subscriber *s)
{
	struct find *f = ctx;
	if (s->id != f->id)
		return 0;
	f->out->id = s->id;
	f->out->email = strdup(s->email);
	f->out->name = s->name ? strdup(s->name) : NULL;
	f->out->nonce = strdup(s->nonce);
	f->out->status = s->status;
	return 1;
}

/* store_optin_claim of subscriber ID as it is now. */
static int claim_id(struct store *st, long long id, long long now, char **err)
{
	struct subscriber sub = {0};
	struct find f = {id, &sub};
	int found = store_subscribers_each(st, -1, find_by_id, &f, err);
	if (found != 1) {
		sub.id = id;
		sub.nonce = (char *)"";
		return store_optin_claim(st, &sub, now, err);
	}
	int rc = store_optin_claim(st, &sub, now, err);
	subscriber_clear(&sub);
	return rc;
}

static void test_by_nonce(void **state)
{
	(void)state;
	char *path = db_path("nonce.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	enum put_outcome po;
	assert_int_equal(t_put(st, "a@x.org", "A", SUB_ACTIVE, false, 10, &po, &err), 0);
	assert_int_equal(t_put(st, "b@x.org", NULL, SUB_PENDING, false, 11, &po, &err), 0);
	struct subscriber a, b, got;
	assert_int_equal(store_subscriber_get(st, "a@x.org", &a, &err), 1);
	assert_int_equal(store_subscriber_get(st, "b@x.org", &b, &err), 1);
	assert_string_not_equal(a.nonce, b.nonce);
	assert_int_equal(strspn(a.nonce, "0123456789abcdef"), 32);
	assert_int_equal(store_subscriber_by_nonce(st, a.nonce, &got, &err), 1);
	assert_int_equal(got.id, a.id);
	assert_string_equal(got.email, "a@x.org");
	assert_string_equal(got.name, "A");
	assert_int_equal(got.status, SUB_ACTIVE);
	assert_string_equal(got.nonce, a.nonce);
	assert_int_equal(got.created_at, 10);
	subscriber_clear(&got);
	assert_int_equal(store_subscriber_by_nonce(st, b.nonce, &got, &err), 1);
	assert_string_equal(got.email, "b@x.org");
	assert_null(got.name);
	assert_int_equal(got.status, SUB_PENDING);
	subscriber_clear(&got);
	/* unknown, empty, an upper-cased one, a prefix, SQL */
	char upper[33];
	for (int i = 0; i < 33; i++)
		upper[i] = (char)(a.nonce[i] >= 'a' && a.nonce[i] <= 'f' ? a.nonce[i] - 32 : a.nonce[i]);
	char prefix[32];
	memcpy(prefix, a.nonce, 31);
	prefix[31] = '\0';
	const char *const unknown[] = {"00000000000000000000000000000000", "", prefix, "' OR 1=1 --", "%",
				       strcmp(upper, a.nonce) ? upper : "ffffffffffffffffffffffffffffffff"};
	for (size_t i = 0; i < ARRAY_LEN(unknown); i++) {
		memset(&got, 0, sizeof got);
		if (store_subscriber_by_nonce(st, unknown[i], &got, &err) != 0)
			fail_msg("nonce \"%s\" found %s", unknown[i], got.email ? got.email : "?");
		assert_null(got.email);
	}
	subscriber_clear(&a);
	subscriber_clear(&b);
	store_close(st);
	free(path);
}

enum optin_op {
	REQ,        /* a request to subscribe (t_request) */
	CLAIM,      /* store_optin_claim */
	CHECK,      /* the confirmation link looked at (t_confirm without APPLY) */
	CONFIRM,    /* t_confirm, APPLY: the link followed */
	PUT_ACTIVE, /* an import line, active (t_put) */
	UNSUB,      /* `digest unsubscribe` (t_set_status) */
	LEAVE,      /* the unsubscribe link (t_transition to unsubscribed) */
	BOUNCE,     /* three permanent failures in a row */
};

#define RESEND 3600
#define ANY (-100) /* a column not checked */

/* What a step does to the nonce. */
enum { NONCE_ANY, NONCE_KEPT, NONCE_NEW };

/* One step of the opt-in story: OP on EMAIL at time T, then what the
 * subscriber looks like. */
struct optin_step {
	enum optin_op op;
	const char *email, *name;
	long long t, resend;
	int want; /* REQ: the outcome; CLAIM, CHECK, CONFIRM, LEAVE: the result */
	enum sub_status status;
	const char *name_after;
	int due;             /* a confirmation is due */
	int bounces;         /* or ANY */
	long long status_at; /* or ANY */
	int nonce;           /* NONCE_* */
};

static const struct optin_step optin_steps[] = {
	/* a new address: pending, named, owed a mail at once */
	{REQ, "new@x.org", "Ann", 1000, RESEND, OPTIN_NEW, SUB_PENDING, "Ann", 1, 0, 1000, NONCE_ANY},
	/* asked again before the mail went: it is still due, nothing more */
	{REQ, "new@x.org", NULL, 1001, RESEND, OPTIN_WAIT, SUB_PENDING, "Ann", 1, 0, 1000, NONCE_KEPT},
	{REQ, "new@x.org", "Bob", 1001, RESEND, OPTIN_WAIT, SUB_PENDING, "Ann", 1, 0, 1000, NONCE_KEPT},
	/* a pending subscriber may be confirmed, mail or not */
	{CHECK, "new@x.org", NULL, 1001, 0, 1, SUB_PENDING, "Ann", 1, 0, 1000, NONCE_KEPT},
	/* a sender claims it once; a second claim gets nothing */
	{CLAIM, "new@x.org", NULL, 1002, 0, 1, SUB_PENDING, "Ann", 0, 0, 1000, NONCE_KEPT},
	{CLAIM, "new@x.org", NULL, 1003, 0, 0, SUB_PENDING, "Ann", 0, 0, 1000, NONCE_KEPT},
	/* within RESEND of the mail: wait; at RESEND: sent again; a name never renames */
	{REQ, "new@x.org", "Bob", 1002 + RESEND - 1, RESEND, OPTIN_WAIT, SUB_PENDING, "Ann", 0, 0, 1000, NONCE_KEPT},
	{REQ, "new@x.org", "Bob", 1002 + RESEND, RESEND, OPTIN_RESENT, SUB_PENDING, "Ann", 1, 0, 1000, NONCE_KEPT},
	{REQ, "new@x.org", NULL, 1003 + RESEND, RESEND, OPTIN_WAIT, SUB_PENDING, "Ann", 1, 0, 1000, NONCE_KEPT},
	{CLAIM, "new@x.org", NULL, 1004 + RESEND, 0, 1, SUB_PENDING, "Ann", 0, 0, 1000, NONCE_KEPT},
	{REQ, "new@x.org", NULL, 1005 + RESEND, RESEND, OPTIN_WAIT, SUB_PENDING, "Ann", 0, 0, 1000, NONCE_KEPT},
	/* a clock set back does not hold the mail up for ever */
	{REQ, "new@x.org", NULL, 900, RESEND, OPTIN_RESENT, SUB_PENDING, "Ann", 1, 0, 1000, NONCE_KEPT},
	/* the link followed: active, nothing due; a second time: no */
	{CONFIRM, "new@x.org", NULL, 5000, 0, 1, SUB_ACTIVE, "Ann", 0, 0, 5000, NONCE_KEPT},
	{CONFIRM, "new@x.org", NULL, 5001, 0, 0, SUB_ACTIVE, "Ann", 0, 0, 5000, NONCE_KEPT},
	{CHECK, "new@x.org", NULL, 5001, 0, 0, SUB_ACTIVE, "Ann", 0, 0, 5000, NONCE_KEPT},

	/* without a name: a later request never names it (whoever fills in
	 * the form may not own the address: only a new row takes its name) */
	{REQ, "anon@x.org", NULL, 1000, RESEND, OPTIN_NEW, SUB_PENDING, NULL, 1, 0, 1000, NONCE_ANY},
	{CLAIM, "anon@x.org", NULL, 1000, 0, 1, SUB_PENDING, NULL, 0, 0, 1000, NONCE_KEPT},
	{REQ, "anon@x.org", "Zed", 1000 + RESEND, RESEND, OPTIN_RESENT, SUB_PENDING, NULL, 1, 0, 1000, NONCE_KEPT},
	{CLAIM, "anon@x.org", NULL, 5000, 0, 1, SUB_PENDING, NULL, 0, 0, 1000, NONCE_KEPT},
	{REQ, "anon@x.org", "Yan", 5000 + RESEND, RESEND, OPTIN_RESENT, SUB_PENDING, NULL, 1, 0, 1000, NONCE_KEPT},

	/* an active subscriber is left alone: no mail, no new name */
	{PUT_ACTIVE, "act@x.org", "Act", 1000, 0, 0, SUB_ACTIVE, "Act", 0, 0, 1000, NONCE_ANY},
	{REQ, "act@x.org", "New", 1100, RESEND, OPTIN_ACTIVE, SUB_ACTIVE, "Act", 0, 0, 1000, NONCE_KEPT},
	{REQ, "act@x.org", NULL, 9100, RESEND, OPTIN_ACTIVE, SUB_ACTIVE, "Act", 0, 0, 1000, NONCE_KEPT},
	{PUT_ACTIVE, "act2@x.org", NULL, 1000, 0, 0, SUB_ACTIVE, NULL, 0, 0, 1000, NONCE_ANY},
	{REQ, "act2@x.org", "Stranger", 1100, RESEND, OPTIN_ACTIVE, SUB_ACTIVE, NULL, 0, 0, 1000, NONCE_KEPT},

	/* someone who left: owed a mail, but unsubscribed until its link is
	 * followed; the first request since leaving kills the old links */
	{PUT_ACTIVE, "gone@x.org", "Gone", 1000, 0, 0, SUB_ACTIVE, "Gone", 0, 0, 1000, NONCE_ANY},
	{LEAVE, "gone@x.org", NULL, 2000, 0, 1, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2000, NONCE_KEPT},
	{CHECK, "gone@x.org", NULL, 2000, 0, 0, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2000, NONCE_KEPT},
	{REQ, "gone@x.org", "Other", 2100, RESEND, OPTIN_RETURNED, SUB_UNSUBSCRIBED, "Gone", 1, 0, 2000, NONCE_NEW},
	{REQ, "gone@x.org", NULL, 2101, RESEND, OPTIN_WAIT, SUB_UNSUBSCRIBED, "Gone", 1, 0, 2000, NONCE_KEPT},
	/* no mail has gone out yet: its link cannot confirm */
	{CHECK, "gone@x.org", NULL, 2101, 0, 0, SUB_UNSUBSCRIBED, "Gone", 1, 0, 2000, NONCE_KEPT},
	{CONFIRM, "gone@x.org", NULL, 2101, 0, 0, SUB_UNSUBSCRIBED, "Gone", 1, 0, 2000, NONCE_KEPT},
	{CLAIM, "gone@x.org", NULL, 2102, 0, 1, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2000, NONCE_KEPT},
	{CHECK, "gone@x.org", NULL, 2103, 0, 1, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2000, NONCE_KEPT},
	/* within RESEND of that mail: wait; after: owed again, the same links */
	{REQ, "gone@x.org", NULL, 2103, RESEND, OPTIN_WAIT, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2000, NONCE_KEPT},
	{REQ, "gone@x.org", NULL, 2102 + RESEND, RESEND, OPTIN_RETURNED, SUB_UNSUBSCRIBED, "Gone", 1, 0, 2000,
	 NONCE_KEPT},
	{CLAIM, "gone@x.org", NULL, 2103 + RESEND, 0, 1, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2000, NONCE_KEPT},
	{CONFIRM, "gone@x.org", NULL, 2200 + RESEND, 0, 1, SUB_ACTIVE, "Gone", 0, 0, 2200 + RESEND, NONCE_KEPT},
	/* unsubscribed from the command line: every mail since forgotten, so
	 * a request is answered at once, with new links */
	{UNSUB, "gone@x.org", NULL, 2300 + RESEND, 0, 0, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2300 + RESEND, NONCE_KEPT},
	{CHECK, "gone@x.org", NULL, 2300 + RESEND, 0, 0, SUB_UNSUBSCRIBED, "Gone", 0, 0, 2300 + RESEND, NONCE_KEPT},
	{REQ, "gone@x.org", NULL, 2400 + RESEND, RESEND, OPTIN_RETURNED, SUB_UNSUBSCRIBED, "Gone", 1, 0,
	 2300 + RESEND, NONCE_NEW},

	/* a bouncing address: likewise; confirming forgets its bounces */
	{PUT_ACTIVE, "bounce@x.org", NULL, 1000, 0, 0, SUB_ACTIVE, NULL, 0, 0, 1000, NONCE_ANY},
	{BOUNCE, "bounce@x.org", NULL, 3000, 0, 0, SUB_BOUNCING, NULL, 0, 3, 3000, NONCE_KEPT},
	{REQ, "bounce@x.org", "B", 3100, RESEND, OPTIN_RETURNED, SUB_BOUNCING, NULL, 1, 3, 3000, NONCE_NEW},
	{CLAIM, "bounce@x.org", NULL, 3101, 0, 1, SUB_BOUNCING, NULL, 0, 3, 3000, NONCE_KEPT},
	{CONFIRM, "bounce@x.org", NULL, 3200, 0, 1, SUB_ACTIVE, NULL, 0, 0, 3200, NONCE_KEPT},

	/* RESEND 0 (the command line): a mail whenever none is due */
	{REQ, "cli@x.org", NULL, 1000, 0, OPTIN_NEW, SUB_PENDING, NULL, 1, 0, 1000, NONCE_ANY},
	{REQ, "cli@x.org", NULL, 1000, 0, OPTIN_WAIT, SUB_PENDING, NULL, 1, 0, 1000, NONCE_KEPT},
	{CLAIM, "cli@x.org", NULL, 1000, 0, 1, SUB_PENDING, NULL, 0, 0, 1000, NONCE_KEPT},
	{REQ, "cli@x.org", NULL, 1000, 0, OPTIN_RESENT, SUB_PENDING, NULL, 1, 0, 1000, NONCE_KEPT},
};

static void test_optin_request(void **state)
{
	(void)state;
	char *path = db_path("optin.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	struct edition_rec rec = {.built_at = 1, .window_from = 0, .window_to = 1};
	assert_int_equal(store_edition_freeze(st, "2026-01-01", &rec, NULL, 0, &err), 0);
	for (size_t i = 0; i < ARRAY_LEN(optin_steps); i++) {
		const struct optin_step *s = &optin_steps[i];
		enum optin_outcome out = (enum optin_outcome)-1;
		enum put_outcome po;
		struct subscriber sub;
		char nonce[33] = "";
		if (store_subscriber_get(st, s->email, &sub, &err) == 1) {
			snprintf(nonce, sizeof nonce, "%s", sub.nonce);
			subscriber_clear(&sub);
		}
		int rc = 0;
		switch (s->op) {
		case REQ:
			assert_int_equal(store_begin(st, &err), 0);
			rc = t_request(st, s->email, s->name, s->t, s->resend, &out, &err);
			if (rc != 0)
				fail_msg("step %zu: %s", i, err);
			assert_int_equal(store_commit(st, &err), 0);
			if ((int)out != s->want)
				fail_msg("step %zu (%s at %lld): outcome %d, want %d", i, s->email, s->t, (int)out,
					 s->want);
			break;
		case CLAIM:
			rc = claim_id(st, sub_id(st, s->email), s->t, &err);
			break;
		case CHECK:
		case CONFIRM:
			rc = t_confirm(st, sub_id(st, s->email), s->t, s->op == CONFIRM, &err);
			break;
		case PUT_ACTIVE:
			assert_int_equal(t_put(st, s->email, s->name, SUB_ACTIVE, false, s->t, &po, &err), 0);
			break;
		case UNSUB:
			assert_int_equal(t_set_status(st, s->email, SUB_UNSUBSCRIBED, s->t, &err), 1);
			break;
		case LEAVE:
			rc = t_transition(st, sub_id(st, s->email),
							 (1u << SUB_PENDING) | (1u << SUB_ACTIVE) | (1u << SUB_BOUNCING),
							 SUB_UNSUBSCRIBED, s->t, &err);
			break;
		case BOUNCE:
			assert_int_equal(store_begin(st, &err), 0);
			for (int k = 0; k < 3; k++)
				assert_int_equal(subscription_delivery(st, "2026-01-01", sub_id(st, s->email), DELIVERY_FAILED,
								     "550 no", s->t, 3, &err), 0);
			assert_int_equal(store_commit(st, &err), 0);
			break;
		}
		if (s->op != REQ && s->op != PUT_ACTIVE && s->op != UNSUB && s->op != BOUNCE && rc != s->want)
			fail_msg("step %zu (%s at %lld): result %d, want %d (%s)", i, s->email, s->t, rc, s->want,
				 err ? err : "");
		assert_int_equal(store_subscriber_get(st, s->email, &sub, &err), 1);
		if (sub.status != s->status)
			fail_msg("step %zu (%s): status %d, want %d", i, s->email, sub.status, s->status);
		if (s->name_after)
			assert_string_equal(sub.name, s->name_after);
		else if (sub.name)
			fail_msg("step %zu (%s): named \"%s\"", i, s->email, sub.name);
		if (s->bounces != ANY && sub.bounces != s->bounces)
			fail_msg("step %zu (%s): %d bounces, want %d", i, s->email, sub.bounces, s->bounces);
		if (s->status_at != ANY && sub.status_at != s->status_at)
			fail_msg("step %zu (%s): status_at %lld, want %lld", i, s->email, sub.status_at, s->status_at);
		assert_int_equal(strlen(sub.nonce), 32);
		assert_int_equal(strspn(sub.nonce, "0123456789abcdef"), 32);
		if (s->nonce == NONCE_KEPT && strcmp(sub.nonce, nonce) != 0)
			fail_msg("step %zu (%s): a new nonce", i, s->email);
		if (s->nonce == NONCE_NEW) {
			if (!strcmp(sub.nonce, nonce))
				fail_msg("step %zu (%s): the nonce is the old one", i, s->email);
			/* links from before find nobody */
			struct subscriber old;
			assert_int_equal(store_subscriber_by_nonce(st, nonce, &old, &err), 0);
		}
		struct subscriber by;
		assert_int_equal(store_subscriber_by_nonce(st, sub.nonce, &by, &err), 1);
		assert_int_equal(by.id, sub.id);
		subscriber_clear(&by);
		subscriber_clear(&sub);
		long long due = sub_col(path, "confirm_due", s->email);
		if ((due >= 0) != (s->due != 0))
			fail_msg("step %zu (%s): confirm_due %lld, want %s", i, s->email, due, s->due ? "due" : "none");
		if (s->due && s->op == REQ && s->want != OPTIN_WAIT && due != s->t)
			fail_msg("step %zu (%s): due at %lld, want %lld", i, s->email, due, s->t);
	}
	/* a subscriber is never duplicated by requests */
	long long counts[4];
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[SUB_PENDING] + counts[SUB_ACTIVE] + counts[SUB_UNSUBSCRIBED] + counts[SUB_BOUNCING], 7);
	store_close(st);
	free(path);
}

/* The mails due: only to subscribers not active, only due by NOW,
 * longest waiting first, at most LIMIT. */
static void test_optin_due(void **state)
{
	(void)state;
	char *path = db_path("due.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	static const struct {
		const char *email;
		long long t;
	} asks[] = {
		{"a@x.org", 300}, {"b@x.org", 100}, {"c@x.org", 200}, {"d@x.org", 200}, {"e@x.org", 400},
		{"f@x.org", 150},
	};
	enum optin_outcome out;
	for (size_t i = 0; i < ARRAY_LEN(asks); i++) {
		assert_int_equal(t_request(st, asks[i].email, NULL, asks[i].t, RESEND, &out, &err), 0);
		assert_int_equal(out, OPTIN_NEW);
	}
	/* f is confirmed meanwhile (say by `subscribers set`): never mailed */
	assert_int_equal(t_set_status(st, "f@x.org", SUB_ACTIVE, 160, &err), 1);
	/* an active subscriber added directly is owed nothing */
	enum put_outcome po;
	assert_int_equal(t_put(st, "g@x.org", NULL, SUB_ACTIVE, false, 50, &po, &err), 0);
	/* one who left and asks again is owed a mail, though still unsubscribed */
	assert_int_equal(t_put(st, "h@x.org", NULL, SUB_ACTIVE, false, 10, &po, &err), 0);
	assert_int_equal(t_transition(st, sub_id(st, "h@x.org"), 1u << SUB_ACTIVE, SUB_UNSUBSCRIBED, 20,
						     &err), 1);
	assert_int_equal(t_request(st, "h@x.org", NULL, 250, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RETURNED);
	static const struct {
		long long now;
		int limit;
		const char *want[7];
	} cases[] = {
		{99, 10, {NULL}},
		{100, 10, {"b@x.org"}},
		{150, 10, {"b@x.org"}},
		{200, 10, {"b@x.org", "c@x.org", "d@x.org"}}, /* a tie in time goes by id */
		{260, 10, {"b@x.org", "c@x.org", "d@x.org", "h@x.org"}},
		{1000, 10, {"b@x.org", "c@x.org", "d@x.org", "h@x.org", "a@x.org", "e@x.org"}},
		{1000, 2, {"b@x.org", "c@x.org"}},
		{1000, 1, {"b@x.org"}},
		{1000, 0, {NULL}},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct subscriber got[8];
		memset(got, 0xAB, sizeof got);
		int n = -1;
		assert_int_equal(store_optin_due(st, cases[i].now, cases[i].limit, got, &n, &err), 0);
		int want_n = 0;
		while (want_n < 7 && cases[i].want[want_n])
			want_n++;
		if (n != want_n)
			fail_msg("case %zu (now %lld, limit %d): %d due, want %d", i, cases[i].now, cases[i].limit, n,
				 want_n);
		for (int k = 0; k < n; k++) {
			assert_string_equal(got[k].email, cases[i].want[k]);
			assert_int_equal(got[k].status, strcmp(got[k].email, "h@x.org") ? SUB_PENDING : SUB_UNSUBSCRIBED);
			assert_int_equal(strlen(got[k].nonce), 32);
			subscriber_clear(&got[k]);
		}
	}
	/* what is claimed is no longer due */
	struct subscriber got[8];
	int n;
	assert_int_equal(claim_id(st, sub_id(st, "b@x.org"), 1000, &err), 1);
	assert_int_equal(store_optin_due(st, 1000, 10, got, &n, &err), 0);
	assert_int_equal(n, 5);
	assert_string_equal(got[0].email, "c@x.org");
	for (int k = 0; k < n; k++)
		subscriber_clear(&got[k]);
	/* nor is a subscriber who has left */
	assert_int_equal(t_transition(st, sub_id(st, "c@x.org"), 1u << SUB_PENDING, SUB_UNSUBSCRIBED,
						     1001, &err), 1);
	assert_int_equal(store_optin_due(st, 1000, 10, got, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(got[0].email, "d@x.org");
	for (int k = 0; k < n; k++)
		subscriber_clear(&got[k]);
	store_close(st);
	free(path);
}

/* A claim is taken once, whoever asks: never two senders for one mail. */
static void test_optin_claim(void **state)
{
	(void)state;
	char *path = db_path("claim.db");
	struct store *st, *st2;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_open(path, &st2, &err), 0); /* a second process, say */
	enum optin_outcome out;
	assert_int_equal(t_request(st, "a@x.org", NULL, 100, RESEND, &out, &err), 0);
	long long id = sub_id(st, "a@x.org");
	assert_int_equal(claim_id(st2, id, 101, &err), 1);
	assert_int_equal(claim_id(st, id, 101, &err), 0);
	assert_int_equal(claim_id(st2, id, 102, &err), 0);
	assert_int_equal(sub_col(path, "confirm_sent_at", "a@x.org"), 101);
	assert_int_equal(sub_col(path, "confirm_due", "a@x.org"), -1);
	/* many claimants in turn, on a mail due again: exactly one wins */
	assert_int_equal(t_request(st, "a@x.org", NULL, 101 + RESEND, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RESENT);
	int won = 0;
	for (int i = 0; i < 10; i++)
		won += claim_id(i % 2 ? st : st2, id, 200 + RESEND, &err);
	assert_int_equal(won, 1);
	/* unknown ids, an active subscriber's, a pending one's that is not due */
	assert_int_equal(claim_id(st, 9999, 300, &err), 0);
	assert_int_equal(claim_id(st, -1, 300, &err), 0);
	enum put_outcome po;
	assert_int_equal(t_put(st, "p@x.org", NULL, SUB_PENDING, false, 5, &po, &err), 0);
	assert_int_equal(claim_id(st, sub_id(st, "p@x.org"), 300, &err), 0); /* imported, never asked */
	assert_int_equal(t_request(st, "c@x.org", NULL, 100, RESEND, &out, &err), 0);
	assert_int_equal(t_transition(st, sub_id(st, "c@x.org"), 1u << SUB_PENDING, SUB_ACTIVE, 150,
						     &err), 1);
	assert_int_equal(claim_id(st, sub_id(st, "c@x.org"), 300, &err), 0); /* confirmed meanwhile */
	/* a pending subscriber whose status was set elsewhere (confirm_due kept) cannot be claimed */
	assert_int_equal(t_request(st, "s@x.org", NULL, 100, RESEND, &out, &err), 0);
	assert_int_equal(t_set_status(st, "s@x.org", SUB_ACTIVE, 150, &err), 1);
	assert_int_equal(claim_id(st, sub_id(st, "s@x.org"), 300, &err), 0);
	/* one who left and asked again: claimed once, though still unsubscribed */
	assert_int_equal(t_put(st, "u@x.org", NULL, SUB_ACTIVE, false, 5, &po, &err), 0);
	assert_int_equal(t_transition(st, sub_id(st, "u@x.org"), 1u << SUB_ACTIVE, SUB_UNSUBSCRIBED, 6,
						     &err), 1);
	assert_int_equal(t_request(st, "u@x.org", NULL, 100, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RETURNED);
	assert_int_equal(claim_id(st2, sub_id(st, "u@x.org"), 300, &err), 1);
	assert_int_equal(claim_id(st, sub_id(st, "u@x.org"), 300, &err), 0);
	/* inside the caller's transaction, rolled back: due again */
	assert_int_equal(t_request(st, "t@x.org", NULL, 100, RESEND, &out, &err), 0);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(claim_id(st, sub_id(st, "t@x.org"), 300, &err), 1);
	store_rollback(st);
	assert_int_equal(claim_id(st2, sub_id(st, "t@x.org"), 301, &err), 1);
	assert_null(err);
	store_close(st2);
	store_close(st);
	free(path);
}

/* A mail that could not go out is due again later, and asking meanwhile
 * does not add another. */
static void test_optin_retry(void **state)
{
	(void)state;
	char *path = db_path("retry.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	enum optin_outcome out;
	assert_int_equal(t_request(st, "a@x.org", NULL, 100, RESEND, &out, &err), 0);
	long long id = sub_id(st, "a@x.org");
	assert_int_equal(claim_id(st, id, 100, &err), 1);
	/* a retry names its claim: another claim's time changes nothing */
	assert_int_equal(store_optin_retry(st, id, 99, 160, &err), 0);
	assert_int_equal(sub_col(path, "confirm_due", "a@x.org"), -1);
	assert_int_equal(store_optin_retry(st, id, 100, 160, &err), 0);
	assert_int_equal(sub_col(path, "confirm_due", "a@x.org"), 160);
	/* unsubscribed while its mail was being deferred: the retry does not
	 * bring the mail (nor its link) back */
	assert_int_equal(t_request(st, "w1@x.org", NULL, 100, RESEND, &out, &err), 0);
	long long w1 = sub_id(st, "w1@x.org");
	assert_int_equal(claim_id(st, w1, 100, &err), 1);
	assert_int_equal(t_set_status(st, "w1@x.org", SUB_UNSUBSCRIBED, 101, &err), 1);
	assert_int_equal(store_optin_retry(st, w1, 100, 160, &err), 0);
	assert_int_equal(sub_col(path, "confirm_due", "w1@x.org"), -1);
	assert_int_equal(t_confirm(st, w1, 200, false, &err), 0);
	struct subscriber got[2];
	int n;
	assert_int_equal(store_optin_due(st, 159, 2, got, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_optin_due(st, 160, 2, got, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(got[0].id, id);
	subscriber_clear(&got[0]);
	/* asking while the retry is due: wait, the due time is kept */
	assert_int_equal(t_request(st, "a@x.org", NULL, 120, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_WAIT);
	assert_int_equal(sub_col(path, "confirm_due", "a@x.org"), 160);
	/* the failed mail is not counted as sent: once it goes, RESEND runs from then */
	assert_int_equal(claim_id(st, id, 160, &err), 1);
	assert_int_equal(t_request(st, "a@x.org", NULL, 160 + RESEND - 1, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_WAIT);
	assert_int_equal(t_request(st, "a@x.org", NULL, 160 + RESEND, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RESENT);
	/* a retry of someone no longer pending changes nothing */
	assert_int_equal(t_transition(st, id, 1u << SUB_PENDING, SUB_ACTIVE, 5000, &err), 1);
	assert_int_equal(store_optin_retry(st, id, 0, 6000, &err), 0);
	assert_int_equal(sub_col(path, "confirm_due", "a@x.org"), -1);
	assert_int_equal(store_optin_due(st, 100000, 2, got, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_int_equal(store_optin_retry(st, 9999, 0, 6000, &err), 0);
	assert_null(err);
	store_close(st);
	free(path);
}

/* t_transition: only from the statuses in the mask, by the events that
 * make each move. */
static void test_transition(void **state)
{
	(void)state;
	char *path = db_path("transition.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	struct edition_rec rec = {.built_at = 1, .window_from = 0, .window_to = 1};
	assert_int_equal(store_edition_freeze(st, "2026-01-01", &rec, NULL, 0, &err), 0);
	enum optin_outcome out;
	assert_int_equal(t_request(st, "a@x.org", "A", 100, RESEND, &out, &err), 0);
	long long id = sub_id(st, "a@x.org");
#define M(s) (1u << (s))
	static const struct {
		unsigned from;
		enum sub_status to;
		long long t;
		int want;
		enum sub_status after;
	} steps[] = {
		{0, SUB_ACTIVE, 200, 0, SUB_PENDING},                            /* an empty mask: never */
		{M(SUB_ACTIVE), SUB_UNSUBSCRIBED, 200, 0, SUB_PENDING},          /* not from pending */
		{M(SUB_UNSUBSCRIBED) | M(SUB_BOUNCING), SUB_ACTIVE, 200, 0, SUB_PENDING},
		{M(SUB_PENDING), SUB_ACTIVE, 300, 1, SUB_ACTIVE},                /* confirmed */
		{M(SUB_PENDING), SUB_ACTIVE, 310, 0, SUB_ACTIVE},                /* a second confirm */
		{M(SUB_PENDING), SUB_UNSUBSCRIBED, 320, 0, SUB_ACTIVE},
		{M(SUB_PENDING) | M(SUB_ACTIVE) | M(SUB_BOUNCING), SUB_UNSUBSCRIBED, 400, 1, SUB_UNSUBSCRIBED},
		{M(SUB_PENDING) | M(SUB_ACTIVE) | M(SUB_BOUNCING), SUB_UNSUBSCRIBED, 410, 0, SUB_UNSUBSCRIBED},
		{M(SUB_PENDING), SUB_ACTIVE, 420, 0, SUB_UNSUBSCRIBED}, /* a confirm link never brings anyone back */
		{M(SUB_UNSUBSCRIBED), SUB_PENDING, 500, 1, SUB_PENDING},
		{0xFFFFFFF0u, SUB_ACTIVE, 510, 0, SUB_PENDING},          /* bits of no status */
		{~0u, SUB_BOUNCING, 520, 1, SUB_BOUNCING},
	};
#undef M
	long long status_at = 100;
	for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
		int rc = t_transition(st, id, steps[i].from, steps[i].to, steps[i].t, &err);
		if (rc != steps[i].want)
			fail_msg("step %zu: %d, want %d (%s)", i, rc, steps[i].want, err ? err : "");
		if (rc == 1)
			status_at = steps[i].t;
		struct subscriber sub;
		assert_int_equal(store_subscriber_get(st, "a@x.org", &sub, &err), 1);
		if (sub.status != steps[i].after)
			fail_msg("step %zu: status %d, want %d", i, sub.status, steps[i].after);
		assert_int_equal(sub.status_at, status_at);
		assert_string_equal(sub.name, "A");
		subscriber_clear(&sub);
	}
	assert_int_equal(t_transition(st, 9999, ~0u, SUB_ACTIVE, 600, &err), 0);
	/* a transition clears a due confirmation and the bounce count */
	assert_int_equal(t_request(st, "b@x.org", NULL, 100, RESEND, &out, &err), 0);
	long long b = sub_id(st, "b@x.org");
	assert_int_equal(sub_col(path, "confirm_due", "b@x.org"), 100);
	assert_int_equal(claim_id(st, b, 120, &err), 1);
	assert_int_equal(store_optin_retry(st, b, 0, 140, &err), 0);
	assert_int_equal(sub_col(path, "confirm_due", "b@x.org"), 140);
	assert_int_equal(claim_id(st, b, 145, &err), 1);
	assert_int_equal(t_request(st, "b@x.org", NULL, 145 + RESEND, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RESENT);
	assert_int_equal(t_transition(st, b, 1u << SUB_PENDING, SUB_ACTIVE, 150, &err), 1);
	assert_int_equal(sub_col(path, "confirm_due", "b@x.org"), -1);
	assert_int_equal(sub_col(path, "confirm_sent_at", "b@x.org"), 145);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-01-01", b, DELIVERY_FAILED, "550", 160, 5, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-01-01", b, DELIVERY_FAILED, "550", 161, 5, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(sub_col(path, "bounces", "b@x.org"), 2);
	assert_int_equal(t_transition(st, b, 1u << SUB_ACTIVE, SUB_UNSUBSCRIBED, 170, &err), 1);
	assert_int_equal(sub_col(path, "bounces", "b@x.org"), 0);
	/* leaving forgets the last mail: a request is answered at once */
	assert_int_equal(sub_col(path, "confirm_sent_at", "b@x.org"), -1);
	assert_int_equal(t_confirm(st, b, 171, false, &err), 0);
	/* in a transaction rolled back, nothing happened */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(t_transition(st, b, 1u << SUB_UNSUBSCRIBED, SUB_ACTIVE, 180, &err), 1);
	store_rollback(st);
	struct subscriber sub;
	assert_int_equal(store_subscriber_get(st, "b@x.org", &sub, &err), 1);
	assert_int_equal(sub.status, SUB_UNSUBSCRIBED);
	subscriber_clear(&sub);
	assert_null(err);
	store_close(st);
	free(path);
}

/* A confirmation still due when an administrator changed the status:
 * `digest unsubscribe`, `digest subscribe --confirmed` and imports
 * (every change of status, subscription.c's enter) forget it, so that a
 * reader who later bounces is offered no confirmation mail nobody asked
 * for, and a real request gets new links. */
static void test_optin_stale_due(void **state)
{
	(void)state;
	char *path = db_path("stale.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	struct edition_rec rec = {.built_at = 1, .window_from = 0, .window_to = 1};
	assert_int_equal(store_edition_freeze(st, "2026-01-01", &rec, NULL, 0, &err), 0);
	enum optin_outcome out;
	enum put_outcome po;
	struct subscriber sub, due[2];
	int n;

	/* asked for on the form, unsubscribed from the command line before the mail went */
	assert_int_equal(t_request(st, "a@x.org", NULL, 100, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_NEW);
	assert_int_equal(t_set_status(st, "a@x.org", SUB_UNSUBSCRIBED, 200, &err), 1);
	assert_int_equal(store_optin_due(st, 300, 2, due, &n, &err), 0);
	assert_int_equal(n, 0); /* nothing owed */
	assert_int_equal(t_request(st, "a@x.org", NULL, 300, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RETURNED);
	assert_int_equal(store_optin_due(st, 300, 2, due, &n, &err), 0);
	assert_int_equal(n, 1);
	subscriber_clear(&due[0]);

	/* asked for on the form, added as confirmed by hand, then bouncing */
	assert_int_equal(t_request(st, "b@x.org", NULL, 100, RESEND, &out, &err), 0);
	assert_int_equal(t_put(st, "b@x.org", NULL, SUB_ACTIVE, true, 150, &po, &err), 0);
	long long id = sub_id(st, "b@x.org");
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-01-01", id, DELIVERY_FAILED, "550", 200, 1, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(store_subscriber_get(st, "b@x.org", &sub, &err), 1);
	assert_int_equal(sub.status, SUB_BOUNCING);
	char old_nonce[33];
	snprintf(old_nonce, sizeof old_nonce, "%s", sub.nonce);
	subscriber_clear(&sub);
	/* nobody has asked since it bounced: nothing is owed to b */
	int owed_b = 0;
	assert_int_equal(store_optin_due(st, 300, 2, due, &n, &err), 0);
	for (int i = 0; i < n; i++) {
		owed_b += !strcmp(due[i].email, "b@x.org");
		subscriber_clear(&due[i]);
	}
	/* asked for now: owed a mail, with new links */
	enum optin_outcome out_b;
	assert_int_equal(t_request(st, "b@x.org", NULL, 400, RESEND, &out_b, &err), 0);
	assert_int_equal(store_subscriber_get(st, "b@x.org", &sub, &err), 1);
	bool renewed = strcmp(sub.nonce, old_nonce) != 0;
	subscriber_clear(&sub);
	store_close(st);
	free(path);

	if (owed_b || out_b != OPTIN_RETURNED || !renewed)
		fail_msg("bouncing with a confirm_due from before it was made active: offered by store_optin_due: %s "
			 "(want no); request: outcome %d (want OPTIN_RETURNED = %d), new nonce: %s (want yes)",
			 owed_b ? "yes" : "no", (int)out_b, OPTIN_RETURNED, renewed ? "yes" : "no");
}

/* The migrations as released: a database that an older digest wrote.
 * Never edit these: they are what is out there. */
static const char *const schema_v1 =
	"CREATE TABLE articles ("
	"  id INTEGER PRIMARY KEY,"
	"  url TEXT NOT NULL UNIQUE,"
	"  source TEXT NOT NULL,"
	"  title TEXT NOT NULL,"
	"  summary TEXT,"
	"  image TEXT,"
	"  published INTEGER,"
	"  views INTEGER,"
	"  comments INTEGER,"
	"  rating REAL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL);"
	"CREATE INDEX articles_when ON articles(coalesce(published, first_seen));"
	"CREATE TABLE editions ("
	"  date TEXT PRIMARY KEY,"
	"  built_at INTEGER NOT NULL,"
	"  window_from INTEGER NOT NULL,"
	"  window_to INTEGER NOT NULL);"
	"CREATE TABLE edition_articles ("
	"  edition TEXT NOT NULL REFERENCES editions(date),"
	"  rank INTEGER NOT NULL,"
	"  article_id INTEGER NOT NULL REFERENCES articles(id),"
	"  PRIMARY KEY (edition, rank));"
	"CREATE INDEX edition_articles_article ON edition_articles(article_id, edition);"
	"PRAGMA user_version = 1;";

static const char *const schema_v2 =
	"ALTER TABLE edition_articles ADD COLUMN url TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN source TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN title TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN summary TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN image TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN published INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN published_known INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN views INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN comments INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN rating REAL;"
	"CREATE TABLE subscribers ("
	"  id INTEGER PRIMARY KEY,"
	"  email TEXT NOT NULL UNIQUE,"
	"  name TEXT,"
	"  status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bouncing')),"
	"  nonce TEXT NOT NULL UNIQUE,"
	"  bounces INTEGER NOT NULL DEFAULT 0,"
	"  created_at INTEGER NOT NULL,"
	"  status_at INTEGER NOT NULL,"
	"  confirm_sent_at INTEGER);"
	"CREATE INDEX subscribers_status ON subscribers(status, id);"
	"CREATE TABLE deliveries ("
	"  edition TEXT NOT NULL REFERENCES editions(date),"
	"  subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),"
	"  state TEXT NOT NULL CHECK (state IN ('inflight', 'sent', 'deferred', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  reply TEXT,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (edition, subscriber_id)) WITHOUT ROWID;"
	"PRAGMA user_version = 2;";

#define NONCE_OLD "0123456789abcdef0123456789abcdef"
#define NONCE_PEND "fedcba9876543210fedcba9876543210"

static void test_migrate_2_to_3(void **state)
{
	(void)state;
	char *path = db_path("v2.db");
	sql(path, schema_v1);
	sql(path, schema_v2);
	sql(path, "INSERT INTO articles (url, source, title, first_seen, last_seen) VALUES ('https://x/1', 's', 'T', 5, 5);"
		  "INSERT INTO editions VALUES ('2026-01-01', 10, 0, 10);"
		  "INSERT INTO edition_articles (edition, rank, article_id, url, source, title, published, published_known)"
		  "  VALUES ('2026-01-01', 1, 1, 'https://x/1', 's', 'T', 5, 1);"
		  "INSERT INTO subscribers (email, name, status, nonce, bounces, created_at, status_at, confirm_sent_at)"
		  "  VALUES ('old@x.org', 'Old', 'active', '" NONCE_OLD "', 1, 1, 2, NULL),"
		  "         ('pend@x.org', NULL, 'pending', '" NONCE_PEND "', 0, 3, 3, 5000),"
		  "         ('left@x.org', 'L', 'unsubscribed', 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', 0, 4, 4, NULL);"
		  "INSERT INTO deliveries VALUES ('2026-01-01', 1, 'sent', 1, '250 ok', 11);");
	struct store *st;
	char *err = NULL;
	if (store_open(path, &st, &err) != 0)
		fail_msg("%s", err);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	/* everyone is still there, as they were */
	long long counts[4];
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[SUB_ACTIVE], 1);
	assert_int_equal(counts[SUB_PENDING], 1);
	assert_int_equal(counts[SUB_UNSUBSCRIBED], 1);
	struct subscriber sub;
	assert_int_equal(store_subscriber_get(st, "old@x.org", &sub, &err), 1);
	assert_string_equal(sub.name, "Old");
	assert_string_equal(sub.nonce, NONCE_OLD);
	assert_int_equal(sub.bounces, 1);
	assert_int_equal(sub.created_at, 1);
	assert_int_equal(sub.status_at, 2);
	subscriber_clear(&sub);
	assert_int_equal(store_subscriber_by_nonce(st, NONCE_PEND, &sub, &err), 1);
	assert_string_equal(sub.email, "pend@x.org");
	subscriber_clear(&sub);
	struct delivery_counts dc;
	assert_int_equal(store_delivery_counts(st, "2026-01-01", &dc, &err), 0);
	assert_int_equal(dc.sent, 1);
	struct article *v;
	size_t n;
	assert_int_equal(store_edition_load(st, "2026-01-01", NULL, &v, &n, &err), 1);
	assert_int_equal(n, 1);
	assert_string_equal(v[0].title, "T");
	articles_free(v, n);
	/* nobody is owed a mail by the migration */
	struct subscriber due[4];
	int k;
	assert_int_equal(store_optin_due(st, 1LL << 40, 4, due, &k, &err), 0);
	assert_int_equal(k, 0);
	/* a confirmation an old digest sent still counts for RESEND */
	enum optin_outcome out;
	assert_int_equal(t_request(st, "pend@x.org", NULL, 5000 + RESEND - 1, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_WAIT);
	assert_int_equal(t_request(st, "pend@x.org", NULL, 5000 + RESEND, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RESENT);
	assert_int_equal(t_request(st, "old@x.org", NULL, 9000, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_ACTIVE);
	assert_int_equal(t_request(st, "left@x.org", NULL, 9000, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_RETURNED);
	assert_int_equal(store_optin_due(st, 9000, 4, due, &k, &err), 0);
	assert_int_equal(k, 2);
	assert_string_equal(due[0].email, "pend@x.org");
	assert_string_equal(due[1].email, "left@x.org");
	assert_int_equal(due[1].status, SUB_UNSUBSCRIBED);
	assert_string_not_equal(due[1].nonce, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"); /* old links die */
	for (int i = 0; i < k; i++)
		subscriber_clear(&due[i]);
	store_close(st);
	/* opened again: nothing to migrate, nothing lost */
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[SUB_PENDING], 1);
	assert_int_equal(counts[SUB_ACTIVE], 1);
	assert_int_equal(counts[SUB_UNSUBSCRIBED], 1); /* until the new link is followed */
	store_close(st);

	/* from schema 1 (articles, no subscribers) straight to the latest */
	char *p1 = db_path("v1.db");
	sql(p1, schema_v1);
	sql(p1, "INSERT INTO articles (url, source, title, first_seen, last_seen) VALUES ('https://x/1', 's', 'T', 5, 5);");
	assert_int_equal(store_open(p1, &st, &err), 0);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	assert_int_equal(store_candidates(st, "2026-01-02", 0, 10, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	articles_free(v, n);
	assert_int_equal(t_request(st, "a@x.org", NULL, 1, RESEND, &out, &err), 0);
	assert_int_equal(out, OPTIN_NEW);
	store_close(st);
	assert_null(err);
	free(p1);
	free(path);
}

/* What any edition carried is no candidate of another, earlier or later
 * (a clock set back); an edition's own articles still are. */
static void test_candidates_any_other_edition(void **state)
{
	(void)state;
	char *path = db_path("later.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	static const char *const urls[] = {"https://x/earlier", "https://x/later", "https://x/own", "https://x/free"};
	struct article a[ARRAY_LEN(urls)];
	assert_int_equal(store_begin(st, &err), 0);
	for (size_t i = 0; i < ARRAY_LEN(urls); i++) {
		a[i] = art(urls[i], "t", 2000 + (long long)i, 1, 10, 1, 5000);
		assert_int_equal(store_article_upsert(st, &a[i], &err), 0);
	}
	assert_int_equal(store_commit(st, &err), 0);
	char latest[11] = "";
	assert_int_equal(store_edition_latest(st, latest, &err), 0);
	struct edition_rec rec = {1, 0, 1};
	assert_int_equal(store_edition_freeze(st, "2026-01-01", &rec, &a[0], 1, &err), 0);
	assert_int_equal(store_edition_freeze(st, "2026-01-03", &rec, &a[1], 1, &err), 0);
	assert_int_equal(store_edition_freeze(st, "2026-01-02", &rec, &a[2], 1, &err), 0);
	assert_int_equal(store_edition_latest(st, latest, &err), 1);
	assert_string_equal(latest, "2026-01-03");
	struct article *v;
	size_t n;
	assert_int_equal(store_candidates(st, "2026-01-02", 0, 10000, &v, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_non_null(find(v, n, "https://x/own"));
	assert_non_null(find(v, n, "https://x/free"));
	articles_free(v, n);
	/* an edition not frozen yet, dated before the latest */
	assert_int_equal(store_candidates(st, "2025-12-31", 0, 10000, &v, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_non_null(find(v, n, "https://x/free"));
	articles_free(v, n);
	assert_null(err);
	store_close(st);
	free(path);
}

/* Another process holding the database: statements wait for it
 * ($DIGEST_BUSY_TIMEOUT), and past the wait fail as busy (a temporary
 * failure), naming the database; a reader is not kept out by a writer. */
static void test_busy(void **state)
{
	(void)state;
	setenv("DIGEST_BUSY_TIMEOUT", "0.3", 1);
	char *path = db_path("busy.db");
	struct store *st, *st2;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	assert_false(store_busy(st));

	sqlite3 *other;
	assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
	assert_int_equal(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	/* opening a current schema does not need the write lock */
	assert_int_equal(store_open(path, &st2, &err), 0);
	char latest[11];
	assert_int_equal(store_edition_latest(st2, latest, &err), 0);
	store_close(st2);
	assert_int_equal(store_begin(st, &err), -1);
	assert_true(store_busy(st));
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "busy"));
	assert_null(strchr(err, '\n'));
	free(err);
	err = NULL;
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	store_close(st);

	/* a holder that keeps readers out too: store_open says -2, busy */
	assert_int_equal(sqlite3_exec(other, "PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;"
					     "DELETE FROM articles WHERE 0;", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(store_open(path, &st2, &err), -2);
	assert_null(st2);
	assert_non_null(strstr(err, path));
	assert_non_null(strstr(err, "busy"));
	free(err);
	err = NULL;
	assert_int_equal(sqlite3_exec(other, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(other);
	assert_int_equal(store_open(path, &st2, &err), 0);
	store_close(st2);
	unsetenv("DIGEST_BUSY_TIMEOUT");
	free(path);
}

/* One subscriber per mailbox (SPEC "Addresses"): every spelling of it
 * finds the row, the first spelling is the one kept. */
static void test_identity(void **state)
{
	(void)state;
	char *path = db_path("identity.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	static const struct {
		const char *email;
		enum put_outcome want;
	} puts_[] = {
		{"Bob@example.org", PUT_ADDED},
		{"bob@example.org", PUT_UNCHANGED},
		{"BOB@EXAMPLE.ORG", PUT_UNCHANGED},
		{"\"bob\"@Example.org", PUT_UNCHANGED},
		{"ivan@почта.рф", PUT_ADDED},
		{"IVAN@xn--80a1acny.xn--p1ai", PUT_UNCHANGED},
		{"Иван@ПОЧТА.РФ", PUT_ADDED},
		{"иван@xn--80a1acny.xn--p1ai", PUT_UNCHANGED},
	};
	for (size_t i = 0; i < ARRAY_LEN(puts_); i++) {
		enum put_outcome out;
		assert_int_equal(t_put(st, puts_[i].email, NULL, SUB_ACTIVE, false, 100, &out, &err), 0);
		if (out != puts_[i].want)
			fail_msg("%s: outcome %d, want %d", puts_[i].email, out, puts_[i].want);
	}
	long long counts[4];
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[SUB_ACTIVE], 3);
	static const struct {
		const char *ask, *kept;
	} gets[] = {
		{"BOB@example.org", "Bob@example.org"},
		{"bob@EXAMPLE.org", "Bob@example.org"},
		{"ivan@XN--80A1ACNY.XN--P1AI", "ivan@почта.рф"},
		{"ИВАН@почта.рф", "Иван@ПОЧТА.РФ"},
	};
	for (size_t i = 0; i < ARRAY_LEN(gets); i++) {
		struct subscriber sub;
		if (store_subscriber_get(st, gets[i].ask, &sub, &err) != 1)
			fail_msg("%s: not found", gets[i].ask);
		assert_string_equal(sub.email, gets[i].kept);
		subscriber_clear(&sub);
	}
	/* unsubscribing one spelling stops the mailbox */
	assert_int_equal(t_set_status(st, "BOB@EXAMPLE.ORG", SUB_UNSUBSCRIBED, 200, &err), 1);
	struct subscriber sub;
	assert_int_equal(store_subscriber_get(st, "Bob@example.org", &sub, &err), 1);
	assert_int_equal(sub.status, SUB_UNSUBSCRIBED);
	subscriber_clear(&sub);
	/* nor does a request in another spelling make a second row */
	enum optin_outcome oo;
	assert_int_equal(t_request(st, "bOB@example.org", NULL, 300, 3600, &oo, &err), 0);
	assert_int_equal(oo, OPTIN_RETURNED);
	assert_int_equal(t_request(st, "new@Example.org", NULL, 300, 3600, &oo, &err), 0);
	assert_int_equal(oo, OPTIN_NEW);
	assert_int_equal(t_request(st, "NEW@example.org", NULL, 301, 3600, &oo, &err), 0);
	assert_int_equal(oo, OPTIN_WAIT);
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[SUB_ACTIVE] + counts[SUB_PENDING] + counts[SUB_UNSUBSCRIBED], 4);
	store_close(st);
	assert_null(err);
	free(path);
}

/* Schema 3 to 4: the rows of one mailbox merge (the strongest status, the
 * earliest creation, one journal row per edition, old links still work). */
static void test_migrate_3_to_4(void **state)
{
	(void)state;
	char *path = db_path("v3.db");
	struct store *st;
	char *err = NULL;
	/* a schema-3 database: the latest schema without what 4 adds */
	assert_int_equal(store_open(path, &st, &err), 0);
	store_close(st);
	sql(path, "DROP TABLE consents; DROP TABLE forgotten;" /* what 6 adds */
		  "DROP TABLE inbound_seen; DROP INDEX bounces_at; DROP TABLE bounces;" /* what 5 adds */
		  "ALTER TABLE subscribers DROP COLUMN bounce_score; ALTER TABLE subscribers DROP COLUMN bounce_day;"
		  "ALTER TABLE subscribers DROP COLUMN bounce_at;"
		  "DROP INDEX subscribers_key; DROP TABLE subscriber_aliases;"
		  "ALTER TABLE subscribers DROP COLUMN addr_key; PRAGMA user_version = 3;"
		  "INSERT INTO editions VALUES ('2026-01-01', 10, 0, 10), ('2026-01-02', 20, 10, 20),"
		  "  ('2026-01-03', 30, 20, 30);"
		  "INSERT INTO subscribers (id, email, name, status, nonce, bounces, created_at, status_at,"
		  "  confirm_sent_at, confirm_due) VALUES"
		  "  (1, 'Bob@x.org', NULL, 'active', '" NONCE_OLD "', 0, 50, 50, NULL, NULL),"
		  "  (2, 'bob@x.org', 'Bob', 'pending', '" NONCE_PEND "', 0, 10, 10, 10, 99),"
		  "  (3, 'BOB@x.org', NULL, 'unsubscribed', 'cccccccccccccccccccccccccccccccc', 0, 60, 70, NULL, NULL),"
		  "  (4, 'carol@x.org', NULL, 'active', 'dddddddddddddddddddddddddddddddd', 2, 5, 5, NULL, NULL),"
		  "  (5, 'Carol@x.org', NULL, 'bouncing', 'eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee', 3, 6, 6, NULL, NULL),"
		  "  (6, 'solo@x.org', NULL, 'pending', 'ffffffffffffffffffffffffffffffff', 0, 7, 7, 7, 8);"
		  "INSERT INTO deliveries VALUES"
		  "  ('2026-01-01', 1, 'sent', 1, '250 a', 11), ('2026-01-01', 3, 'failed', 2, '550 b', 12),"
		  "  ('2026-01-02', 1, 'inflight', 1, NULL, 21), ('2026-01-02', 3, 'deferred', 3, '451 c', 22),"
		  "  ('2026-01-03', 3, 'failed', 1, '550 d', 31),"
		  "  ('2026-01-01', 4, 'deferred', 1, '421 e', 13), ('2026-01-01', 5, 'failed', 1, '550 f', 14);");
	if (store_open(path, &st, &err) != 0)
		fail_msg("%s", err);
	assert_int_equal(store_schema_version(st), STORE_SCHEMA_VERSION);
	struct subscriber sub;
	/* Bob: the earliest row (2) kept with its spelling; unsubscribed beats
	 * active beats pending */
	assert_int_equal(store_subscriber_get(st, "BOB@X.ORG", &sub, &err), 1);
	assert_int_equal(sub.id, 2);
	assert_string_equal(sub.email, "bob@x.org");
	assert_string_equal(sub.name, "Bob");
	assert_int_equal(sub.status, SUB_UNSUBSCRIBED);
	assert_int_equal(sub.status_at, 70);
	assert_int_equal(sub.created_at, 10);
	subscriber_clear(&sub);
	/* carol: bouncing beats active */
	assert_int_equal(store_subscriber_get(st, "carol@x.org", &sub, &err), 1);
	assert_int_equal(sub.id, 4);
	assert_int_equal(sub.status, SUB_BOUNCING);
	assert_int_equal(sub.bounces, 3);
	subscriber_clear(&sub);
	long long counts[4];
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[SUB_UNSUBSCRIBED] + counts[SUB_BOUNCING] + counts[SUB_PENDING] + counts[SUB_ACTIVE], 3);
	/* nobody merged is owed a confirmation: bob's pending mail was for a
	 * status the merge overruled; solo's stays */
	struct subscriber due[4];
	int k;
	assert_int_equal(store_optin_due(st, 1000, 4, due, &k, &err), 0);
	assert_int_equal(k, 1);
	assert_string_equal(due[0].email, "solo@x.org");
	subscriber_clear(&due[0]);
	/* the journal: one row per edition, the best state, attempts added */
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	static const struct {
		const char *edition;
		int sid;
		const char *state;
		int attempts;
	} want[] = {
		{"2026-01-01", 2, "sent", 3},  {"2026-01-02", 2, "deferred", 4}, {"2026-01-03", 2, "failed", 1},
		{"2026-01-01", 4, "failed", 2},
	};
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT edition, subscriber_id, state, attempts FROM deliveries"
						" ORDER BY subscriber_id, edition", -1, &q, NULL), SQLITE_OK);
	size_t rows = 0;
	while (sqlite3_step(q) == SQLITE_ROW) {
		assert_true(rows < ARRAY_LEN(want));
		size_t w = rows < 3 ? rows : 3;
		assert_string_equal((const char *)sqlite3_column_text(q, 0), want[w].edition);
		assert_int_equal(sqlite3_column_int(q, 1), want[w].sid);
		assert_string_equal((const char *)sqlite3_column_text(q, 2), want[w].state);
		assert_int_equal(sqlite3_column_int(q, 3), want[w].attempts);
		rows++;
	}
	assert_int_equal(rows, ARRAY_LEN(want));
	sqlite3_finalize(q);
	sqlite3_close(db);
	/* a merged row's links name the kept subscriber, in their spelling */
	assert_int_equal(store_subscriber_by_nonce(st, NONCE_OLD, &sub, &err), 1);
	assert_int_equal(sub.id, 2);
	assert_string_equal(sub.email, "Bob@x.org");
	assert_string_equal(sub.nonce, NONCE_OLD);
	assert_int_equal(sub.status, SUB_UNSUBSCRIBED);
	subscriber_clear(&sub);
	assert_int_equal(store_subscriber_by_nonce(st, NONCE_PEND, &sub, &err), 1);
	assert_int_equal(sub.id, 2);
	subscriber_clear(&sub);
	store_close(st);
	assert_null(err);
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

/* The bounce score (SPEC "What comes back"), as a table of steps: hard
 * 1, soft 0.5, one step a (UTC) day, a fresh start after the reset days,
 * bouncing at the threshold, and only an active reader; a VERP prefix
 * names one subscriber; what came back is seen once. */
static void test_bounce_score(void **state)
{
	(void)state;
	char *path = db_path("bounce.db");
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(path, &st, &err), 0);
	store_bounce_policy(st, 2.0, 5);
	enum put_outcome o;
	assert_int_equal(t_put(st, "a@example.org", NULL, SUB_ACTIVE, false, 100, &o, &err), 0);
	assert_int_equal(t_put(st, "p@example.org", NULL, SUB_PENDING, false, 100, &o, &err), 0);
	struct subscriber a, p;
	assert_int_equal(store_subscriber_get(st, "a@example.org", &a, &err), 1);
	assert_int_equal(store_subscriber_get(st, "p@example.org", &p, &err), 1);
	const long long day = 86400, t0 = 20000 * day + 3600;
	static const struct {
		int who; /* 0 a, 1 p */
		double step;
		long long at;   /* days after t0 */
		double score;   /* after */
		const char *status;
	} steps[] = {
		{0, 0.5, 0, 0.5, "active"},  {0, 1.0, 0, 0.5, "active"}, /* the same day: no step */
		{0, 1.0, 1, 1.5, "active"},  {0, 0.5, 7, 0.5, "active"}, /* 6 quiet days: from 0 */
		{0, 1.0, 8, 1.5, "active"},  {0, 0.5, 9, 2.0, "bouncing"},
		{1, 1.0, 0, 1.0, "pending"}, {1, 1.0, 1, 2.0, "pending"}, /* never bouncing from pending */
	};
	for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
		bool became = false;
		long long id = steps[i].who ? p.id : a.id;
		assert_int_equal(t_score(st, id, steps[i].step, t0 + steps[i].at * day, &became, &err), 0);
		struct subscriber s;
		assert_int_equal(store_subscriber_get(st, steps[i].who ? "p@example.org" : "a@example.org", &s, &err), 1);
		if (strcmp(sub_status_name(s.status), steps[i].status))
			fail_msg("step %zu: %s, want %s", i, sub_status_name(s.status), steps[i].status);
		assert_int_equal(became, !strcmp(steps[i].status, "bouncing") && i == 5);
		subscriber_clear(&s);
	}
	/* an unknown id is no error */
	assert_int_equal(t_score(st, 999, 1.0, t0, NULL, &err), 0);
	/* the VERP prefix: the first 16 hex digits of a nonce */
	char prefix[17];
	memcpy(prefix, a.nonce, 16);
	prefix[16] = '\0';
	struct subscriber v;
	assert_int_equal(store_subscriber_by_verp(st, prefix, &v, &err), 1);
	assert_int_equal(v.id, a.id);
	subscriber_clear(&v);
	assert_int_equal(store_subscriber_by_verp(st, "zzzzzzzzzzzzzzzz", &v, &err), 0);
	assert_int_equal(store_subscriber_by_verp(st, "0123", &v, &err), 0);
	assert_int_equal(store_subscriber_by_verp(st, "%' OR 1=1 --xxxx", &v, &err), 0);
	/* seen once */
	assert_int_equal(store_inbound_seen(st, "mid:x@y", &err), 0);
	assert_int_equal(store_inbound_mark(st, "mid:x@y", "bounce-hard", t0, &err), 0);
	assert_int_equal(store_inbound_mark(st, "mid:x@y", "bounce-hard", t0, &err), 0);
	assert_int_equal(store_inbound_seen(st, "mid:x@y", &err), 1);
	/* the log and its counts */
	struct bounce_rec b = {.subscriber = a.id, .kind = "bounce-hard", .source = "inbound", .status = "5.1.1"};
	assert_int_equal(store_bounce_log(st, &b, t0, &err), 0);
	b = (struct bounce_rec){.address = "stranger@example.net", .kind = "complaint", .source = "inbound"};
	assert_int_equal(store_bounce_log(st, &b, t0, &err), 0);
	long long counts[6];
	assert_int_equal(store_bounce_counts(st, t0 - 1, counts, &err), 0);
	assert_int_equal(counts[1], 1);
	assert_int_equal(counts[3], 1);
	assert_int_equal(store_bounce_counts(st, t0 + 1, counts, &err), 0);
	assert_int_equal(counts[1] + counts[3], 0);
	subscriber_clear(&a);
	subscriber_clear(&p);
	store_close(st);
	assert_null(err);
	free(path);
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
		cmocka_unit_test(test_by_nonce),
		cmocka_unit_test(test_optin_request),
		cmocka_unit_test(test_optin_due),
		cmocka_unit_test(test_optin_claim),
		cmocka_unit_test(test_optin_retry),
		cmocka_unit_test(test_transition),
		cmocka_unit_test(test_optin_stale_due),
		cmocka_unit_test(test_migrate_2_to_3),
		cmocka_unit_test(test_candidates_any_other_edition),
		cmocka_unit_test(test_busy),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_migrate_3_to_4),
		cmocka_unit_test(test_bounce_score),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
