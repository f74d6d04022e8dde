/* Unit tests of edition: the window of an edition date, ranking and ties, selection. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/edition.h"
#include "digest/util.h"

/* An article row: title doubles as the URL so that ties are visible. */
struct row {
	const char *title;
	long long views, comments, published;
};

static struct article *make(const struct row *rows, size_t n)
{
	struct article *a = xcalloc(n, sizeof *a);
	for (size_t i = 0; i < n; i++) {
		a[i].title = xstrdup(rows[i].title);
		a[i].url = xasprintf("https://example.org/%s", rows[i].title);
		a[i].views = rows[i].views;
		a[i].comments = rows[i].comments;
		a[i].published = rows[i].published;
	}
	return a;
}

static void check_order(struct article *a, size_t n, const char *const *want)
{
	for (size_t i = 0; i < n; i++)
		assert_string_equal(a[i].title, want[i]);
}

static void test_rank_tables(void **state)
{
	(void)state;
	static const struct {
		struct row rows[6];
		size_t n;
		const char *want[6];
	} cases[] = {
		/* views decide */
		{{{"a", 10, 0, 100}, {"b", 30, 0, 100}, {"c", 20, 0, 100}}, 3, {"b", "c", "a"}},
		/* equal views: comments decide */
		{{{"a", 10, 1, 100}, {"b", 10, 5, 100}, {"c", 10, 3, 100}}, 3, {"b", "c", "a"}},
		/* equal views and comments: newest first */
		{{{"a", 10, 2, 100}, {"b", 10, 2, 300}, {"c", 10, 2, 200}}, 3, {"b", "c", "a"}},
		/* unknown views count as 0, unknown comments as 0 */
		{{{"a", -1, 5, 100}, {"b", 0, 6, 100}, {"c", 1, -1, 100}}, 3, {"c", "b", "a"}},
		/* all equal: URL order, stable from run to run */
		{{{"c", 5, 5, 5}, {"a", 5, 5, 5}, {"b", 5, 5, 5}}, 3, {"a", "b", "c"}},
		/* big counts do not overflow a comparison */
		{{{"a", 9000000000000LL, 0, 0}, {"b", 1, 0, 0}, {"c", 9000000000001LL, 0, 0}}, 3, {"c", "a", "b"}},
		/* one and none */
		{{{"a", 1, 1, 1}}, 1, {"a"}},
		{{{0}}, 0, {NULL}},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct article *a = make(cases[i].rows, cases[i].n);
		edition_rank(a, cases[i].n);
		check_order(a, cases[i].n, cases[i].want);
		articles_free(a, cases[i].n);
	}
}

static void test_select_tables(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"a", 500, 0, 1}, {"b", 400, 0, 1}, {"c", 50, 0, 1}, {"d", 300, 0, 1}, {"e", -1, 0, 1}, {"f", 100, 0, 1},
	};
	static const struct {
		int max;
		long long min_views;
		size_t want_n;
		const char *want[6];
	} cases[] = {
		{10, 0, 6, {"a", "b", "d", "f", "c", "e"}},
		{3, 0, 3, {"a", "b", "d"}},
		{10, 100, 4, {"a", "b", "d", "f"}},
		{2, 100, 2, {"a", "b"}},
		{10, 1000, 0, {NULL}},
		{1, 0, 1, {"a"}},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct article *a = make(rows, ARRAY_LEN(rows));
		edition_rank(a, ARRAY_LEN(rows));
		size_t k = edition_select(a, ARRAY_LEN(rows), cases[i].max, cases[i].min_views);
		assert_int_equal(k, cases[i].want_n);
		check_order(a, k, cases[i].want);
		/* every article is still there to be freed, none twice */
		int seen[6] = {0};
		for (size_t j = 0; j < ARRAY_LEN(rows); j++)
			seen[a[j].title[0] - 'a']++;
		for (size_t j = 0; j < ARRAY_LEN(rows); j++)
			assert_int_equal(seen[j], 1);
		articles_free(a, ARRAY_LEN(rows));
	}
}

static time_t local(int y, int mo, int d, int h, int mi)
{
	struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi,
			.tm_isdst = -1};
	return mktime(&tm);
}

static void test_window_tables(void **state)
{
	(void)state;
	static const struct {
		const char *tz;
		const char *date;
		int hours;
		int ok;
		const char *want_date;
		int to_is_now; /* else the end of the date */
	} cases[] = {
		{"Europe/Moscow", NULL, 24, 1, "2026-11-24", 1},
		{"Europe/Moscow", "2026-11-24", 24, 1, "2026-11-24", 1},
		{"Europe/Moscow", "2026-11-23", 24, 1, "2026-11-23", 0},
		{"Europe/Moscow", "2026-11-20", 48, 1, "2026-11-20", 0},
		{"Asia/Kolkata", "2026-02-28", 24, 1, "2026-02-28", 0},
		{"Europe/Moscow", "2026-11-25", 24, 0, NULL, 0}, /* the future */
		{"Europe/Moscow", "2026-02-29", 24, 0, NULL, 0}, /* no such day */
		{"Europe/Moscow", "2026-13-01", 24, 0, NULL, 0},
		{"Europe/Moscow", "26-11-01", 24, 0, NULL, 0},
		{"Europe/Moscow", "2026-11-01x", 24, 0, NULL, 0},
		{"Europe/Moscow", "", 24, 0, NULL, 0},
		{"Europe/Moscow", "yesterday", 24, 0, NULL, 0},
		{"Europe/Moscow", "2026-11-+5", 24, 0, NULL, 0},
		{"Europe/Moscow", "2026-11- 5", 24, 0, NULL, 0},
		{"Europe/Moscow", "+026-11-05", 24, 0, NULL, 0},
		{"Europe/Moscow", "2026/11/05", 24, 0, NULL, 0},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		setenv("TZ", cases[i].tz, 1);
		tzset();
		time_t now = local(2026, 11, 24, 15, 30);
		char date[11];
		time_t from = 0, to = 0;
		int rc = edition_window(cases[i].date, now, cases[i].hours, date, &from, &to);
		assert_int_equal(rc, cases[i].ok ? 0 : -1);
		if (!cases[i].ok)
			continue;
		assert_string_equal(date, cases[i].want_date);
		if (cases[i].to_is_now) {
			assert_true(to == now);
		} else {
			int y, m, d;
			assert_int_equal(sscanf(cases[i].want_date, "%d-%d-%d", &y, &m, &d), 3);
			assert_true(to == local(y, m, d + 1, 0, 0));
		}
		assert_true(to - from == (time_t)cases[i].hours * 3600);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rank_tables),
		cmocka_unit_test(test_select_tables),
		cmocka_unit_test(test_window_tables),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
