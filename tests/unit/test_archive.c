/* Unit tests of archive: the parsers of what a URL and a conditional GET
 * say (tables, with garbage), and the pages, feed, cache and static copy
 * over a real database. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/archive.h"
#include "digest/render.h"
#include "digest/store.h"
#include "digest/subscription.h"
#include "digest/util.h"

static char dir[] = "/tmp/digest-archive-XXXXXX";

/* ------------------------------------------------------------------ */
/* Parsers                                                             */

static void test_date_parse(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int len; /* -1: strlen */
		int ok;
	} cases[] = {
		{"2026-11-23", -1, 1},
		{"1970-01-01", -1, 1},
		{"9999-12-31", -1, 1},
		{"2024-02-29", -1, 1}, /* leap year */
		{"2000-02-29", -1, 1}, /* divisible by 400 */
		{"2026-02-29", -1, 0},
		{"1900-02-29", -1, 0}, /* before 1970 anyway */
		{"2100-02-29", -1, 0}, /* divisible by 100 */
		{"2026-04-31", -1, 0},
		{"2026-12-32", -1, 0},
		{"2026-00-10", -1, 0},
		{"2026-13-01", -1, 0},
		{"2026-12-00", -1, 0},
		{"1969-12-31", -1, 0},
		{"0000-01-01", -1, 0},
		{"2026-1-01", -1, 0},
		{"2026-01-1", -1, 0},
		{"2026/11/23", -1, 0},
		{"20261123", -1, 0},
		{" 2026-11-23", -1, 0},
		{"2026-11-23 ", -1, 0},
		{"+026-11-23", -1, 0},
		{"2026-11-2x", -1, 0},
		{"２０２６-11-23", -1, 0},
		{"../../etc/", -1, 0},
		{"", -1, 0},
		{"2026-11-23x", 10, 1},  /* only LEN bytes are looked at */
		{"2026-11-23", 9, 0},
		{"2026-11-2\0003", 10, 0}, /* a NUL inside */
		{"%32026-11-2", -1, 0},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char out[11] = "unchanged";
		size_t len = cases[i].len < 0 ? strlen(cases[i].in) : (size_t)cases[i].len;
		int rc = archive_date_parse(cases[i].in, len, out);
		if (cases[i].ok) {
			if (rc != 0)
				fail_msg("case %zu %s: refused", i, cases[i].in);
			assert_memory_equal(out, cases[i].in, 10);
			assert_int_equal(out[10], '\0');
		} else {
			if (rc != -1)
				fail_msg("case %zu %s: accepted", i, cases[i].in);
			assert_string_equal(out, "unchanged");
		}
	}
	char out[11];
	assert_int_equal(archive_date_parse(NULL, 10, out), -1);
}

static void test_page_parse(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int want;
	} cases[] = {
		{NULL, 1},       {"1", 1},        {"2", 2},        {"30", 30},      {"100000", 100000},
		{"100001", -1},  {"999999", -1},  {"1000000", -1}, {"0", -1},       {"01", -1},
		{"-1", -1},      {"+1", -1},      {" 1", -1},      {"1 ", -1},      {"1e3", -1},
		{"0x10", -1},    {"", -1},        {"abc", -1},     {"2.0", -1},     {"99999999999999999999", -1},
		{"\xd9\xa3", -1}, /* an Arabic-Indic digit */
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		int got = archive_page_parse(cases[i].in);
		if (got != cases[i].want)
			fail_msg("case %zu %s: %d, want %d", i, cases[i].in ? cases[i].in : "(null)", got, cases[i].want);
	}
}

static void test_http_date(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		long long want;
	} cases[] = {
		{"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0},
		{"Wed, 02 Dec 2026 10:06:30 GMT", 1796205990},
		/* the obsolete forms are not taken: no 304, which is safe */
		{"Sunday, 06-Nov-94 08:49:37 GMT", -1},
		{"Sun Nov  6 08:49:37 1994", -1},
		{"Sun, 06 Nov 1994 08:49:37 UTC", -1},
		{"Sun, 06 Nov 1994 08:49:37 GMT ", -1},
		{"sun, 06 Nov 1994 08:49:37 GMT", -1},
		{"Sun, 06 nov 1994 08:49:37 GMT", -1},
		{"Xyz, 06 Nov 1994 08:49:37 GMT", -1},
		{"Sun, 31 Feb 1994 08:49:37 GMT", -1},
		{"Sun, 06 Nov 1994 24:00:00 GMT", -1},
		{"Sun, 06 Nov 1994 08:60:00 GMT", -1},
		{"Sun, 06 Nov 1969 08:49:37 GMT", -1},
		{"Sun, 6 Nov 1994 08:49:37 GMT", -1},
		{"Sun, 0x Nov 1994 08:49:37 GMT", -1},
		{"Sun, 06 Nov 1994 08:49:37 GM", -1},
		{"", -1},
		{"\xff\xfe\xfd", -1},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		long long got = archive_http_date_parse(cases[i].in);
		if (got != cases[i].want)
			fail_msg("case %zu %s: %lld, want %lld", i, cases[i].in, got, cases[i].want);
	}
	assert_int_equal(archive_http_date_parse(NULL), -1);
}

static void test_not_modified(void **state)
{
	(void)state;
	struct archive_doc d = {.mtime = 784111777};
	snprintf(d.etag, sizeof d.etag, "\"0123456789abcdef\"");
	static const struct {
		const char *inm, *ims;
		bool want;
	} cases[] = {
		{NULL, NULL, false},
		{"\"0123456789abcdef\"", NULL, true},
		{"W/\"0123456789abcdef\"", NULL, true},
		{"\"x\", \"0123456789abcdef\"", NULL, true},
		{"\"x\",W/\"0123456789abcdef\"", NULL, true},
		{"*", NULL, true},
		{"\"x\"", NULL, false},
		{"\"0123456789abcdee\"", NULL, false},
		{"\"0123456789abcdef", NULL, false},  /* unclosed: malformed, absent */
		{"0123456789abcdef", NULL, false},    /* unquoted */
		{"", NULL, false},
		/* If-None-Match decides over If-Modified-Since */
		{"\"x\"", "Sun, 06 Nov 1994 08:49:37 GMT", false},
		{"\"0123456789abcdef\"", "Thu, 01 Jan 1970 00:00:00 GMT", true},
		/* a malformed If-None-Match counts as absent */
		{"garbage", "Sun, 06 Nov 1994 08:49:37 GMT", true},
		{NULL, "Sun, 06 Nov 1994 08:49:37 GMT", true},
		{NULL, "Sun, 06 Nov 1994 08:49:38 GMT", true},
		{NULL, "Sun, 06 Nov 1994 08:49:36 GMT", false},
		{NULL, "yesterday", false},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		bool got = archive_not_modified(&d, cases[i].inm, cases[i].ims);
		if (got != cases[i].want)
			fail_msg("case %zu (%s | %s): %d, want %d", i, cases[i].inm ? cases[i].inm : "-",
				 cases[i].ims ? cases[i].ims : "-", got, cases[i].want);
	}
}

/* ------------------------------------------------------------------ */
/* Pages over a database                                               */

static struct config *load_config(const char *locale)
{
	char *path = xasprintf("%s/digest.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"newsletter = { name = \"Daily & <Co>\"; timezone = \"UTC\"; locale = \"%s\";"
		" base_url = \"https://news.example.org/digest/\"; from = \"news@example.org\"; };\n"
		"storage = { database = \"%s/digest.db\"; };\n",
		locale, dir);
	assert_int_equal(fclose(f), 0);
	fflush(stderr);
	int saved = dup(2), null = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, 2);
	close(null);
	struct config *cfg = NULL;
	int rc = config_load(path, &cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	free(path);
	assert_int_equal(rc, 0);
	return cfg;
}

/* Freeze edition DATE with one article (title TITLE) and, when SENT,
 * mark a delivery of it to SUB sent. */
static void edition(struct store *st, const char *date, const char *title, long long sub, bool sent)
{
	char *err = NULL;
	struct article a = {0};
	a.url = xasprintf("https://site.example/%s", date);
	a.source = xstrdup("site");
	a.title = xstrdup(title);
	a.summary = xstrdup("A summary & more");
	a.published = 1700000000;
	a.published_known = true;
	a.views = 1234;
	a.comments = 5;
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(store_article_upsert(st, &a, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	struct edition_rec rec = {.built_at = 1700000000 + (long long)strlen(date) * 0 + atoi(date + 8) * 86400,
				  .window_from = 0, .window_to = 1};
	if (store_edition_freeze(st, date, &rec, &a, 1, &err) < 0)
		fail_msg("freeze %s: %s", date, err);
	if (sent) {
		assert_int_equal(store_begin(st, &err), 0);
		assert_int_equal(subscription_delivery(st, date, sub, DELIVERY_SENT, "250 ok", 1700000000, 3, &err), 0);
		assert_int_equal(store_commit(st, &err), 0);
	}
	article_clear(&a);
}

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return b.data ? b.data : xstrdup("");
}

static void test_pages(void **state)
{
	(void)state;
	struct config *cfg = load_config("en");
	struct store *st = NULL;
	char *err = NULL;
	assert_int_equal(store_open(cfg->storage.database, &st, &err), 0);
	struct sub_args ev = {.ev = SUB_EV_IMPORT + SUB_ACTIVE, .email = "secret.reader@example.net",
			      .name = "Zebediah Private", .now = 1700000000};
	struct sub_result res;
	assert_int_equal(subscription_event(st, &ev, &res, &err), 0);
	struct subscriber sub = {0};
	assert_int_equal(store_subscriber_get(st, "secret.reader@example.net", &sub, &err), 1);

	edition(st, "2026-01-01", "First <b>bold</b> story", sub.id, true);
	edition(st, "2026-01-02", "Frozen, never sent", sub.id, false);
	edition(st, "2026-01-03", "Third story", sub.id, true);

	struct archive *ar = NULL;
	if (archive_load(cfg, &ar, &err) < 0)
		fail_msg("archive_load: %s", err);
	const struct archive_doc *d = NULL;

	/* the index: sent editions only, newest first, links under the root */
	assert_int_equal(archive_get(ar, st, "/digest", ARCHIVE_INDEX, NULL, 1, &d, &err), 1);
	assert_string_equal(d->type, "text/html; charset=utf-8");
	const char *third = strstr(d->body, "href=\"/digest/archive/2026-01-03\"");
	const char *first = strstr(d->body, "href=\"/digest/archive/2026-01-01\"");
	assert_non_null(third);
	assert_non_null(first);
	assert_true(third < first);
	assert_null(strstr(d->body, "2026-01-02"));
	assert_non_null(strstr(d->body, "application/atom+xml"));
	assert_non_null(strstr(d->body, "href=\"/digest/archive.atom\""));
	assert_int_equal(archive_get(ar, st, "/digest", ARCHIVE_INDEX, NULL, 2, &d, &err), 0);

	/* an edition: its articles, escaped; a subscribe form; nothing personal */
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_EDITION, "2026-01-01", 0, &d, &err), 1);
	assert_non_null(strstr(d->body, "First &lt;b&gt;bold&lt;/b&gt; story"));
	assert_null(strstr(d->body, "<b>bold"));
	assert_non_null(strstr(d->body, "action=\"/subscribe\""));
	assert_null(strstr(d->body, "secret.reader"));
	assert_null(strstr(d->body, "Zebediah"));
	assert_null(strstr(d->body, sub.nonce));
	assert_null(strstr(d->body, "unsubscribe"));
	assert_int_equal(d->etag[0], '"');
	assert_int_equal(strlen(d->etag), 18);
	assert_string_equal(d->cache_control, "public, max-age=3600");
	assert_int_equal(d->mtime, 1700000000 + 86400);
	/* cached: the same document, no rebuild */
	const struct archive_doc *again = NULL;
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_EDITION, "2026-01-01", 0, &again, &err), 1);
	assert_ptr_equal(again, d);

	/* frozen but never sent, and never frozen: no page */
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_EDITION, "2026-01-02", 0, &d, &err), 0);
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_EDITION, "2025-01-01", 0, &d, &err), 0);

	/* the feed: absolute links under base_url, the required elements */
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_FEED, NULL, 0, &d, &err), 1);
	assert_string_equal(d->type, "application/atom+xml; charset=utf-8");
	assert_non_null(strstr(d->body, "<feed xmlns=\"http://www.w3.org/2005/Atom\""));
	assert_non_null(strstr(d->body, "<title>Daily &amp; &lt;Co&gt;</title>"));
	assert_non_null(strstr(d->body, "<id>https://news.example.org/digest/archive/2026-01-03</id>"));
	assert_non_null(strstr(d->body, "<author><name>"));
	assert_non_null(strstr(d->body, "<updated>"));
	assert_null(strstr(d->body, "2026-01-02"));
	assert_null(strstr(d->body, "secret.reader"));
	/* the article's HTML escaped once as HTML, once more as XML */
	assert_non_null(strstr(d->body, "First &amp;lt;b&amp;gt;bold"));
	char etag[24];
	snprintf(etag, sizeof etag, "%s", d->etag);

	/* a newly sent edition: the feed and the index are built again */
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-01-02", sub.id, DELIVERY_SENT, "250", 1700000000, 3, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_FEED, NULL, 0, &d, &err), 1);
	assert_string_not_equal(d->etag, etag);
	assert_non_null(strstr(d->body, "2026-01-02"));
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_EDITION, "2026-01-02", 0, &d, &err), 1);

	/* pagination: 31 sent editions make two pages */
	char date[16];
	for (unsigned day = 1; day <= 28; day++) {
		snprintf(date, sizeof date, "2026-02-%02u", day % 100);
		edition(st, date, "February", sub.id, true);
	}
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_INDEX, NULL, 1, &d, &err), 1);
	assert_non_null(strstr(d->body, "href=\"/archive/page/2\""));
	assert_null(strstr(d->body, "/archive/2026-01-01\""));
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_INDEX, NULL, 2, &d, &err), 1);
	assert_non_null(strstr(d->body, "/archive/2026-01-01\""));
	assert_non_null(strstr(d->body, "href=\"/archive\""));
	assert_null(strstr(d->body, "/archive/page/3"));
	assert_int_equal(archive_get(ar, st, "", ARCHIVE_INDEX, NULL, 3, &d, &err), 0);

	/* the static copy, then again: nothing changed, nothing written */
	char *out = xasprintf("%s/static", dir);
	struct archive_export_stats es;
	if (archive_export(ar, st, out, &es, &err) < 0)
		fail_msg("archive_export: %s", err);
	assert_int_equal(es.editions, 31);
	assert_int_equal(es.pages, 2);
	assert_int_equal(es.written, 31 + 2 + 1);
	assert_int_equal(es.unchanged, 0);
	char *p = xasprintf("%s/2026-01-01/index.html", out);
	char *body = slurp(p);
	assert_non_null(body);
	/* the same page as served, its links under base_url */
	assert_non_null(strstr(body, "action=\"https://news.example.org/digest/subscribe\""));
	assert_null(strstr(body, "secret.reader"));
	free(body);
	free(p);
	p = xasprintf("%s/page/2/index.html", out);
	body = slurp(p);
	assert_non_null(body);
	assert_non_null(strstr(body, "https://news.example.org/digest/archive/2026-01-01"));
	free(body);
	free(p);
	p = xasprintf("%s/archive.atom", out);
	body = slurp(p);
	assert_non_null(body);
	free(body);
	free(p);
	if (archive_export(ar, st, out, &es, &err) < 0)
		fail_msg("archive_export: %s", err);
	assert_int_equal(es.written, 0);
	assert_int_equal(es.unchanged, 31 + 2 + 1);
	/* no temporary file left behind */
	char *cmd = xasprintf("find '%s' -name '*.tmp.*' | grep -q .", out);
	assert_int_not_equal(system(cmd), 0);
	free(cmd);
	/* a directory that cannot be made is an error naming it */
	assert_int_equal(archive_export(ar, st, "/proc/digest-no/x", &es, &err), -1);
	assert_non_null(strstr(err, "/proc/digest-no"));
	free(err);
	err = NULL;
	free(out);

	archive_free(ar);
	subscriber_clear(&sub);
	store_close(st);
	config_free(cfg);
}

/* Every message's "view in browser" link is its edition's page, in the
 * text part and the HTML part, whatever base_url ends with. */
static void test_view_in_browser(void **state)
{
	(void)state;
	static const struct {
		const char *base, *want;
	} cases[] = {
		{"https://news.example.org", "https://news.example.org/archive/2026-11-23"},
		{"https://news.example.org/", "https://news.example.org/archive/2026-11-23"},
		{"https://x.org/digest/", "https://x.org/digest/archive/2026-11-23"},
		{"http://127.0.0.1:8080/d", "http://127.0.0.1:8080/d/archive/2026-11-23"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *path = xasprintf("%s/view.conf", dir);
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fprintf(f, "newsletter = { name = \"N\"; timezone = \"UTC\"; base_url = \"%s\"; from = \"n@example.org\"; };\n",
			cases[i].base);
		assert_int_equal(fclose(f), 0);
		struct config *cfg = NULL;
		fflush(stderr);
		int saved = dup(2), null = open("/dev/null", O_WRONLY);
		dup2(null, 2);
		close(null);
		int rc = config_load(path, &cfg);
		fflush(stderr);
		dup2(saved, 2);
		close(saved);
		assert_int_equal(rc, 0);
		struct render *r = NULL;
		char *err = NULL;
		if (render_load(cfg, false, &r, &err) < 0)
			fail_msg("case %zu: %s", i, err);
		assert_int_equal(render_edition(r, "2026-11-23", NULL, 0, 1700000000, &err), 0);
		struct reader rd;
		render_sample_reader(r, NULL, &rd);
		for (int html = 0; html < 2; html++) {
			struct buf b = {0};
			render_body(r, html, &rd, &b);
			char *want = html ? xasprintf("href=\"%s\"", cases[i].want) : xasprintf(": %s\n", cases[i].want);
			if (!strstr(b.data, want))
				fail_msg("case %zu (%s): no %s in %s", i, html ? "html" : "text", want, b.data);
			free(want);
			buf_free(&b);
		}
		render_free(r);
		config_free(cfg);
		free(path);
	}
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
		cmocka_unit_test(test_date_parse),
		cmocka_unit_test(test_page_parse),
		cmocka_unit_test(test_http_date),
		cmocka_unit_test(test_not_modified),
		cmocka_unit_test(test_pages),
		cmocka_unit_test(test_view_in_browser),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
