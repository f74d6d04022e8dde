/* Unit tests of parse: counts, numbers and dates in every printed form, time zones, hostile input. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "digest/parse.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

struct count_row {
	const char *in;
	long long want;
};

struct number_row {
	const char *in;
	double want;
};

/*
 * NOW and WANT are UTC ISO strings ("2026-11-21T06:25:00Z"), converted with
 * timegm so that the expectations do not go through mktime like the code
 * under test does. WANT NULL: parse_date must return -1.
 */
struct date_row {
	const char *tz, *now, *fmt, *in, *want;
};

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static time_t utc(const char *iso)
{
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	if (sscanf(iso, "%d-%d-%dT%d:%d:%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec) != 6)
		fail_msg("bad ISO string in a test row: %s", iso);
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

static const char *show_utc(time_t t, char *buf, size_t n)
{
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, n, "%lld", (long long)t);
	return buf;
}

/* Every row is tried and reported before failing. */
static void check_counts(const struct count_row *rows, size_t n, int want_ok)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		long long got = -12345;
		int rc = parse_count(rows[i].in, &got);
		if (want_ok ? rc != 0 || got != rows[i].want : rc != -1) {
			print_error("row %zu: parse_count(\"%s\") = %d, %lld; want %s %lld\n", i,
				    rows[i].in ? rows[i].in : "(null)", rc, got,
				    want_ok ? "0," : "-1", want_ok ? rows[i].want : 0);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void check_dates(const struct date_row *rows, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		time_t got = 0;
		char gb[64], wb[64];
		int rc;
		set_tz(rows[i].tz);
		rc = parse_date(rows[i].in, rows[i].fmt, utc(rows[i].now), &got);
		if (rows[i].want ? rc != 0 || got != utc(rows[i].want) : rc != -1) {
			print_error("row %zu: TZ=%s now=%s parse_date(\"%s\", %s) = %d, %s; want %s\n", i,
				    rows[i].tz, rows[i].now, rows[i].in ? rows[i].in : "(null)",
				    rows[i].fmt ? rows[i].fmt : "NULL", rc,
				    rc == 0 ? show_utc(got, gb, sizeof gb) : "-",
				    rows[i].want ? show_utc(utc(rows[i].want), wb, sizeof wb) : "-1");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_counts(void **state)
{
	static const struct count_row rows[] = {
		{ "2212", 2212 },
		{ "2 212", 2212 },
		{ "2\xc2\xa0" "212", 2212 },         /* NBSP */
		{ "2\xe2\x80\xaf" "212", 2212 },     /* narrow NBSP */
		{ "2\xe2\x80\x89" "212", 2212 },     /* thin space */
		{ "2\xe2\x80\x8a" "212", 2212 },     /* hair space */
		{ "2,212", 2212 },
		{ "2.212", 2212 },
		{ "1,234,567", 1234567 },
		{ "1.234.567", 1234567 },
		{ "1 234 567", 1234567 },
		{ "12 345 678 просмотров", 12345678 },
		{ "2.2K", 2200 },
		{ "2.2k", 2200 },
		{ "2.2 K", 2200 },
		{ "2.212K", 2212 },
		{ "12,5 тыс.", 12500 },
		{ "12,5 ТЫС.", 12500 },
		{ "12,5 тыс", 12500 },
		{ "10 тысяч", 10000 },
		{ "5к", 5000 },
		{ "5 К", 5000 },
		{ "3 thousand", 3000 },
		{ "1.2M", 1200000 },
		{ "1.2m", 1200000 },
		{ "3 млн", 3000000 },
		{ "1,5 млн", 1500000 },
		{ "2 million", 2000000 },
		{ "4 миллиона", 4000000 },
		{ "1 млрд", 1000000000 },
		{ "1.5B", 1500000000 },
		{ "2 billion", 2000000000 },
		{ "Просмотров: 2 212", 2212 },
		{ "14 комментариев", 14 },
		{ "14 views", 14 },
		{ "5 minutes", 5 },
		{ "21 1234", 21 },
		{ "2212 345", 2212 },   /* a thousands group is led by 1-3 digits */
		{ "2,5", 2 },           /* a fraction without a suffix is dropped */
		{ "2,21", 2 },
		{ "2,2121", 2 },
		{ "1,234.5", 1234 },
		{ "1.234,5 тыс.", 1234500 },
		{ "1.2.3", 1 },
		{ "0", 0 },
		{ "Comments (0)", 0 },
		{ "007", 7 },
		{ "  7  ", 7 },
		{ "100K+", 100000 },
		{ "+5", 5 },
		{ "9 223 372 036 854 775 807", LLONG_MAX },
		{ "9223372036854775807", LLONG_MAX },
		{ "9 223 372 036 854 775 тыс", 9223372036854775000LL },
	};
	(void)state;
	check_counts(rows, COUNT(rows), 1);
}

static void test_counts_garbage(void **state)
{
	static const struct count_row rows[] = {
		{ NULL, 0 },
		{ "", 0 },
		{ "   ", 0 },
		{ "abc", 0 },
		{ "\xe2\x80\x94", 0 },  /* em dash: "no comments yet" */
		{ "тыс.", 0 },
		{ "K", 0 },
		{ "99999999999999999999999", 0 },
		{ "9 223 372 036 854 775 808", 0 },
		{ "9223372036854775808", 0 },
		{ "10000000000 млрд", 0 },
		{ "9 223 372 036 854 776 тыс", 0 },
		{ "\xff\xfe\x80\xc0\xaf", 0 },
		{ "\xd0", 0 },
		{ "\xe2\x80", 0 },
	};
	char *big = malloc(10001);
	long long got = 0;

	(void)state;
	check_counts(rows, COUNT(rows), 0);
	assert_non_null(big);
	memset(big, '9', 10000);
	big[10000] = '\0';
	assert_int_equal(parse_count(big, &got), -1);
	memset(big, '1', 10000);
	assert_int_equal(parse_count(big, &got), -1);
	free(big);
}

static void test_numbers(void **state)
{
	static const struct number_row rows[] = {
		{ "-1", -1 },        { "+3", 3 },           { "4,5", 4.5 },
		{ "4.5 из 5", 4.5 }, { "Рейтинг: -12", -12 }, { "rating\xc2\xa0-2.5", -2.5 },
		{ "\xe2\x88\x92" "7", -7 },                 { "0.1", 0.1 },
		{ "abc 42", 42 },    { "ID-5", 5 },         { "3.", 3 },
		{ "0", 0 },          { "-0", 0 },           { "1e5", 1 },
		{ "12345678901234567890", 12345678901234567890.0 },
		{ "0.000001", 0.000001 },
		{ "  +0,25  ", 0.25 },
	};
	int bad = 0;
	(void)state;
	for (size_t i = 0; i < COUNT(rows); i++) {
		double got = -999;
		int rc = parse_number(rows[i].in, &got);
		if (rc != 0 || fabs(got - rows[i].want) > 1e-9 * (fabs(rows[i].want) + 1)) {
			print_error("row %zu: parse_number(\"%s\") = %d, %g; want %g\n", i, rows[i].in, rc,
				    got, rows[i].want);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void test_numbers_garbage(void **state)
{
	static const char *const rows[] = { NULL, "", "abc", "-", "+", "\xe2\x80\x94", ".", ",", "\xff\xfe" };
	char *big = malloc(10001);
	double got = 0;
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < COUNT(rows); i++) {
		if (parse_number(rows[i], &got) != -1) {
			print_error("row %zu: parse_number(\"%s\") should fail\n", i, rows[i] ? rows[i] : "(null)");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	/* beyond DBL_MAX: not a number a site means */
	assert_non_null(big);
	memset(big, '9', 10000);
	big[10000] = '\0';
	assert_int_equal(parse_number(big, &got), -1);
	/* a long fraction is fine */
	big[0] = '0';
	big[1] = '.';
	assert_int_equal(parse_number(big, &got), 0);
	assert_true(got > 0.99 && got <= 1.0);
	free(big);
}

#define MSK "Europe/Moscow"
#define NOW "2026-11-21T12:00:00Z" /* Saturday, 15:00 in Moscow */

static void test_dates_forms(void **state)
{
	static const struct date_row rows[] = {
		/* ISO 8601 */
		{ MSK, NOW, NULL, "2026-11-21", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:30", "2026-11-21T06:25:30Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00Z", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00+03:00", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00+0300", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00-05:00", "2026-11-21T14:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00+05:30", "2026-11-21T03:55:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00.123+03:00", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00.5Z", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21 09:25:00", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "2026-11-21 09:25:00 UTC", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "2026/11/21", "2026-11-20T21:00:00Z" },
		/* RFC 2822 */
		{ MSK, NOW, NULL, "Sat, 21 Nov 2026 09:25:00 +0300", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "Sat, 21 Nov 2026 09:25:00 GMT", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "Sat, 21 Nov 2026 09:25:00 UT", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "Sat, 21 Nov 2026 09:25:00 UTC", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "Sat, 21 Nov 2026 09:25 Z", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "21 Nov 2026 09:25:00 -0500", "2026-11-21T14:25:00Z" },
		{ MSK, NOW, NULL, "Sat, 21 Nov 2026 09:25:00 -0500 (EST)", "2026-11-21T14:25:00Z" },
		{ MSK, NOW, NULL, "Sat, 21 Nov 2026 09:25:00 EST", "2026-11-21T14:25:00Z" },
		{ MSK, NOW, NULL, "Saturday, 21 Nov 26 09:25 GMT", "2026-11-21T09:25:00Z" },
		/* DD.MM.YYYY, DD.MM */
		{ MSK, NOW, NULL, "21.11.2026 09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "21.11.2026, 09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "21.11.2026 в 09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "21.11.2026 09:25:30", "2026-11-21T06:25:30Z" },
		{ MSK, NOW, NULL, "21.11.2026", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "1.2.2026", "2026-01-31T21:00:00Z" },
		{ MSK, NOW, NULL, "21.11.26", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21.11.2026 г.", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21.11 09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "21.11", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21.11 16:00", "2025-11-21T13:00:00Z" }, /* later today: last year */
		/* HH:MM */
		{ MSK, NOW, NULL, "09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "10:15, 21 ноября 2026", "2026-11-21T07:15:00Z" },
		/* a date among other words: after a label, before a separator */
		{ MSK, NOW, NULL, "Опубликовано: 21.11.2026", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "Опубликовано: 21.11.2026 в 10:00", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "21.11 09:25 · 14", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "Posted on January 7, 2026 | Politics", "2026-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "21 ноября 2026, Политика", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "Дата публикации: вчера 23:40 — ТАСС", "2026-11-20T20:40:00Z" },
		{ MSK, NOW, NULL, "10:15 21.11.2026", "2026-11-21T07:15:00Z" },
		{ MSK, NOW, NULL, "10:15 вчера", "2026-11-20T07:15:00Z" },
		/* day, month name, year */
		{ MSK, NOW, NULL, "7 January 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 Jan 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7th January 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "January 7, 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "Jan. 7, 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "January 7 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "January 7th, 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "January 7, 2022 at 09:25", "2022-01-07T06:25:00Z" },
		{ MSK, NOW, NULL, "January 7, 2022, 9:25 PM", "2022-01-07T18:25:00Z" },
		{ MSK, NOW, NULL, "January 7, 2022 12:05 am", "2022-01-06T21:05:00Z" },
		{ MSK, NOW, NULL, "Friday, January 7, 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 января 2022 г.", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 января 2022 года", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 января 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 ЯНВАРЯ 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 Январь 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 янв. 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 января 2022, 09:25", "2022-01-07T06:25:00Z" },
		{ MSK, NOW, NULL, "7 января 2022 в 09:25", "2022-01-07T06:25:00Z" },
		{ MSK, NOW, NULL, "7 января 2022 г. в 09:25", "2022-01-07T06:25:00Z" },
		{ MSK, NOW, NULL, "7 января 2022 года, 09:25:30", "2022-01-07T06:25:30Z" },
		{ MSK, NOW, NULL, "1 февраля 2024", "2024-01-31T21:00:00Z" },
		{ MSK, NOW, NULL, "29 февраля 2024", "2024-02-28T21:00:00Z" },
		{ MSK, NOW, NULL, "8 марта 2024", "2024-03-07T21:00:00Z" },
		{ MSK, NOW, NULL, "12 апреля 2024", "2024-04-11T21:00:00Z" },
		{ MSK, NOW, NULL, "9 мая 2024", "2024-05-08T21:00:00Z" },
		{ MSK, NOW, NULL, "12 июня 2024", "2024-06-11T21:00:00Z" },
		{ MSK, NOW, NULL, "4 июля 2024", "2024-07-03T21:00:00Z" },
		{ MSK, NOW, NULL, "1 августа 2024", "2024-07-31T21:00:00Z" },
		{ MSK, NOW, NULL, "1 сентября 2024", "2024-08-31T21:00:00Z" },
		{ MSK, NOW, NULL, "1 октября 2024", "2024-09-30T21:00:00Z" },
		{ MSK, NOW, NULL, "4 ноября 2024", "2024-11-03T21:00:00Z" },
		{ MSK, NOW, NULL, "31 декабря 2024", "2024-12-30T21:00:00Z" },
		{ MSK, NOW, NULL, "суббота, 21 ноября 2026", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "Сб, 21 ноября 2026", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 ноября 2026 12:00 МСК", "2026-11-21T09:00:00Z" },
		{ MSK, NOW, NULL, "1 марта", "2026-02-28T21:00:00Z" },
		{ MSK, NOW, NULL, "25 декабря", "2025-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "7 января 10:00", "2026-01-07T07:00:00Z" },
		/* relative */
		{ MSK, NOW, NULL, "сегодня", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "Сегодня 10:00", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "сегодня в 10:00", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "сегодня, 10:00", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "вчера", "2026-11-19T21:00:00Z" },
		{ MSK, NOW, NULL, "вчера 10:00", "2026-11-20T07:00:00Z" },
		{ MSK, NOW, NULL, "Вчера, 23:59", "2026-11-20T20:59:00Z" },
		{ MSK, NOW, NULL, "ВЧЕРА В 10:00", "2026-11-20T07:00:00Z" },
		{ MSK, NOW, NULL, "today 10:00", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "Today at 10:00", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "yesterday 10:00", "2026-11-20T07:00:00Z" },
		{ MSK, NOW, NULL, "Yesterday at 10:00 pm", "2026-11-20T19:00:00Z" },
		{ MSK, NOW, NULL, "yesterday", "2026-11-19T21:00:00Z" },
		/* whitespace around and inside */
		{ MSK, NOW, NULL, "  21.11.2026 09:25 \n", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, NULL, "21\xc2\xa0ноября\xc2\xa0" "2026", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21  ноября   2026,  09:25", "2026-11-21T06:25:00Z" },
		/* strptime FMT first, built-in forms when it does not match */
		{ MSK, NOW, "%d/%m/%Y %H:%M", "21/11/2026 09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, "%d/%m/%Y %H:%M", " 21/11/2026 09:25 ", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, "%Y%m%d%H%M", "202611210925", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, "%Y-%m-%dT%H:%M:%S%z", "2026-11-21T09:25:00+0100", "2026-11-21T08:25:00Z" },
		{ MSK, NOW, "%d.%m.%Y", "7 января 2022", "2022-01-06T21:00:00Z" },
		{ MSK, NOW, "%d.%m.%Y", "21.11.2026 09:25", "2026-11-21T06:25:00Z" },
		{ MSK, NOW, "%H:%M %d/%m", "09:25 25/12", "2025-12-25T06:25:00Z" },
		{ MSK, NOW, "%H:%M", "16:00", "2026-11-20T13:00:00Z" },
		{ MSK, NOW, "%B %Y", "March 2024", "2024-02-29T21:00:00Z" },
		{ MSK, NOW, "", "21.11.2026", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, "%d/%m/%Y", "31/02/2026", NULL },
	};
	(void)state;
	check_dates(rows, COUNT(rows));
}

static void test_dates_zones(void **state)
{
	static const struct date_row rows[] = {
		{ "UTC", NOW, NULL, "21.11.2026 09:25", "2026-11-21T09:25:00Z" },
		{ MSK, NOW, NULL, "21.11.2026 09:25", "2026-11-21T06:25:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "21.11.2026 09:25", "2026-11-21T03:55:00Z" },
		{ "America/New_York", NOW, NULL, "21.11.2026 09:25", "2026-11-21T14:25:00Z" },
		{ "America/New_York", NOW, NULL, "01.07.2026 09:25", "2026-07-01T13:25:00Z" }, /* EDT */
		{ "Asia/Kolkata", NOW, NULL, "7 января 2022", "2022-01-06T18:30:00Z" },
		{ "UTC", NOW, NULL, "7 января 2022", "2022-01-07T00:00:00Z" },
		/* an explicit offset wins over TZ */
		{ "UTC", NOW, NULL, "2026-11-21T09:25:00+03:00", "2026-11-21T06:25:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "2026-11-21T09:25:00+03:00", "2026-11-21T06:25:00Z" },
		{ "America/New_York", NOW, NULL, "Sat, 21 Nov 2026 09:25:00 GMT", "2026-11-21T09:25:00Z" },
		{ "UTC", NOW, NULL, "21 ноября 2026 09:25 МСК", "2026-11-21T06:25:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "21.11.2026 09:25 UTC+3", "2026-11-21T06:25:00Z" },
		/* relative forms follow NOW's date in TZ: 12:00Z is already the 22nd in Kiritimati */
		{ "UTC", NOW, NULL, "сегодня 10:00", "2026-11-21T10:00:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "сегодня 10:00", "2026-11-21T04:30:00Z" },
		{ "Pacific/Kiritimati", NOW, NULL, "сегодня 01:00", "2026-11-21T11:00:00Z" },
		{ "America/New_York", NOW, NULL, "вчера 10:00", "2026-11-20T15:00:00Z" },
		/* DST began in New York on 2026-03-08: "yesterday" is still EST */
		{ "America/New_York", "2026-03-08T12:00:00Z", NULL, "yesterday 10:00", "2026-03-07T15:00:00Z" },
		{ "America/New_York", "2026-03-08T12:00:00Z", NULL, "today 10:00", "2026-03-08T14:00:00Z" },
		{ "America/New_York", "2026-03-08T12:00:00Z", NULL, "yesterday", "2026-03-07T05:00:00Z" },
	};
	time_t a, b, now = utc(NOW);

	(void)state;
	check_dates(rows, COUNT(rows));
	/* the same local text is another instant in another zone */
	set_tz("UTC");
	assert_int_equal(parse_date("21.11.2026 09:25", NULL, now, &a), 0);
	set_tz("Asia/Kolkata");
	assert_int_equal(parse_date("21.11.2026 09:25", NULL, now, &b), 0);
	assert_int_equal((long long)(a - b), 5 * 3600 + 1800);
}

static void test_dates_year_inference(void **state)
{
#define NY "2026-01-02T07:00:00Z" /* 10:00 on 2 January in Moscow */
	static const struct date_row rows[] = {
		{ MSK, NY, NULL, "31.12 23:00", "2025-12-31T20:00:00Z" },
		{ MSK, NY, NULL, "31.12", "2025-12-30T21:00:00Z" },
		{ MSK, NY, NULL, "02.01 09:00", "2026-01-02T06:00:00Z" },
		{ MSK, NY, NULL, "02.01 10:00", "2026-01-02T07:00:00Z" }, /* == NOW is not future */
		{ MSK, NY, NULL, "02.01 11:00", "2025-01-02T08:00:00Z" },
		{ MSK, NY, NULL, "1 января", "2025-12-31T21:00:00Z" },
		{ MSK, NY, NULL, "31 декабря", "2025-12-30T21:00:00Z" },
		{ MSK, NY, NULL, "31 декабря в 23:59", "2025-12-31T20:59:00Z" },
		{ MSK, NY, NULL, "January 3", "2025-01-02T21:00:00Z" },
		{ MSK, NY, NULL, "Jan 2, 09:59", "2026-01-02T06:59:00Z" },
		{ MSK, NY, NULL, "29.02", "2024-02-28T21:00:00Z" },
		{ MSK, NY, NULL, "29 февраля 10:00", "2024-02-29T07:00:00Z" },
		{ MSK, "2026-12-31T20:30:00Z", NULL, "31.12 23:00", "2026-12-31T20:00:00Z" },
		{ MSK, "2026-12-31T20:30:00Z", NULL, "01.01 00:00", "2025-12-31T21:00:00Z" },
		{ "UTC", "2026-01-01T00:00:00Z", NULL, "01.01 00:00", "2026-01-01T00:00:00Z" },
		{ "UTC", "2026-01-01T00:00:00Z", NULL, "31.12", "2025-12-31T00:00:00Z" },
		/* up to PARSE_FUTURE_SLACK ahead is this year; further is last year */
		{ "UTC", "2026-01-01T00:00:00Z", NULL, "01.01 00:01", "2026-01-01T00:01:00Z" },
		{ "UTC", "2026-01-01T00:00:00Z", NULL, "01.01 00:15", "2026-01-01T00:15:00Z" },
		{ "UTC", "2026-01-01T00:00:00Z", NULL, "01.01 00:16", "2025-01-01T00:16:00Z" },
		/* 23:30 UTC is already the new year in Kolkata */
		{ "Asia/Kolkata", "2025-12-31T23:30:00Z", NULL, "01.01 04:00", "2025-12-31T22:30:00Z" },
		{ "Asia/Kolkata", "2025-12-31T23:30:00Z", NULL, "01.01 05:30", "2025-01-01T00:00:00Z" },
	};
#undef NY
	(void)state;
	check_dates(rows, COUNT(rows));
}

static void test_dates_time_only(void **state)
{
	static const struct date_row rows[] = {
		{ MSK, NOW, NULL, "14:00", "2026-11-21T11:00:00Z" },
		{ MSK, NOW, NULL, "15:00", "2026-11-21T12:00:00Z" }, /* == NOW */
		{ MSK, NOW, NULL, "15:01", "2026-11-21T12:01:00Z" }, /* within the slack: today */
		{ MSK, NOW, NULL, "15:16", "2026-11-20T12:16:00Z" }, /* beyond it: yesterday */
		{ MSK, NOW, NULL, "00:00", "2026-11-20T21:00:00Z" },
		{ MSK, NOW, NULL, "23:59", "2026-11-20T20:59:00Z" },
		{ MSK, NOW, NULL, "9:05", "2026-11-21T06:05:00Z" },
		{ MSK, NOW, NULL, "14:00:30", "2026-11-21T11:00:30Z" },
		{ MSK, NOW, NULL, "2:30 pm", "2026-11-21T11:30:00Z" },
		{ MSK, NOW, NULL, "09:00 UTC", "2026-11-21T09:00:00Z" },
		{ MSK, NOW, NULL, "13:00 UTC", "2026-11-20T13:00:00Z" },
		/* yesterday across a month end */
		{ MSK, "2026-02-28T21:30:00Z", NULL, "23:50", "2026-02-28T20:50:00Z" },
		{ MSK, "2026-03-01T07:00:00Z", NULL, "вчера 10:00", "2026-02-28T07:00:00Z" },
		{ MSK, "2026-01-01T07:00:00Z", NULL, "вчера 10:00", "2025-12-31T07:00:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "17:29", "2026-11-21T11:59:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "17:30", "2026-11-21T12:00:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "17:31", "2026-11-21T12:01:00Z" },
		{ "Asia/Kolkata", NOW, NULL, "17:46", "2026-11-20T12:16:00Z" },
		{ "UTC", NOW, NULL, "12:00", "2026-11-21T12:00:00Z" },
		{ "UTC", NOW, NULL, "12:01", "2026-11-21T12:01:00Z" },
		{ "UTC", NOW, NULL, "12:16", "2026-11-20T12:16:00Z" },
	};
	(void)state;
	check_dates(rows, COUNT(rows));
}

/* Month and weekday names of eleven languages, relative forms, HHhMM, ISO
 * basic format, trailing time words and the zone table (NOW: 15:00 on
 * Saturday 21 November 2026 in Moscow). */
static void test_dates_languages(void **state)
{
	static const struct date_row rows[] = {
		/* de */
		{ MSK, NOW, NULL, "3. Januar 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3. Januar 2020 um 14:49 Uhr", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5. Februar 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5. Februar 2020 um 14:49 Uhr", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7. März 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7. März 2020 um 14:49 Uhr", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9. April 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9. April 2020 um 14:49 Uhr", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11. Mai 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11. Mai 2020 um 14:49 Uhr", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13. Juni 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13. Juni 2020 um 14:49 Uhr", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15. Juli 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15. Juli 2020 um 14:49 Uhr", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17. August 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17. August 2020 um 14:49 Uhr", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19. September 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19. September 2020 um 14:49 Uhr", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21. Oktober 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21. Oktober 2020 um 14:49 Uhr", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23. November 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23. November 2020 um 14:49 Uhr", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25. Dezember 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25. Dezember 2020 um 14:49 Uhr", "2020-12-25T11:49:00Z" },
		/* fr */
		{ MSK, NOW, NULL, "1er avril 2020", "2020-03-31T21:00:00Z" },
		{ MSK, NOW, NULL, "1er Avril 2020 à 14h49", "2020-04-01T11:49:00Z" },
		{ MSK, NOW, NULL, "1re avril 2020", NULL },
		{ MSK, NOW, NULL, "1º de marzo de 2020", "2020-02-29T21:00:00Z" },
		{ MSK, NOW, NULL, "1ºde marzo de 2020", NULL },
		{ MSK, NOW, NULL, "3 janvier 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 Janvier 2020 à 14h49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 février 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 Février 2020 à 14h49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 mars 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 Mars 2020 à 14h49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 avril 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 Avril 2020 à 14h49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 mai 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 Mai 2020 à 14h49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 juin 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 Juin 2020 à 14h49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 juillet 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 Juillet 2020 à 14h49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 août 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 Août 2020 à 14h49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 septembre 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 Septembre 2020 à 14h49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 octobre 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 Octobre 2020 à 14h49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 novembre 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 Novembre 2020 à 14h49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 décembre 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 Décembre 2020 à 14h49", "2020-12-25T11:49:00Z" },
		/* es */
		{ MSK, NOW, NULL, "3 de enero de 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 de enero de 2020 a las 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 de febrero de 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 de febrero de 2020 a las 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 de marzo de 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 de marzo de 2020 a las 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 de abril de 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 de abril de 2020 a las 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 de mayo de 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 de mayo de 2020 a las 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 de junio de 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 de junio de 2020 a las 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 de julio de 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 de julio de 2020 a las 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 de agosto de 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 de agosto de 2020 a las 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 de septiembre de 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 de septiembre de 2020 a las 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 de octubre de 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 de octubre de 2020 a las 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 de noviembre de 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 de noviembre de 2020 a las 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 de diciembre de 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 de diciembre de 2020 a las 14:49", "2020-12-25T11:49:00Z" },
		/* it */
		{ MSK, NOW, NULL, "3 gennaio 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 gennaio 2020 alle 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 febbraio 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 febbraio 2020 alle 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 marzo 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 marzo 2020 alle 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 aprile 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 aprile 2020 alle 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 maggio 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 maggio 2020 alle 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 giugno 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 giugno 2020 alle 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 luglio 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 luglio 2020 alle 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 agosto 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 agosto 2020 alle 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 settembre 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 settembre 2020 alle 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 ottobre 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 ottobre 2020 alle 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 novembre 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 novembre 2020 alle 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 dicembre 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 dicembre 2020 alle 14:49", "2020-12-25T11:49:00Z" },
		/* pt */
		{ MSK, NOW, NULL, "3 de janeiro de 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 de janeiro de 2020 às 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 de fevereiro de 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 de fevereiro de 2020 às 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 de março de 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 de março de 2020 às 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 de abril de 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 de abril de 2020 às 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 de maio de 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 de maio de 2020 às 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 de junho de 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 de junho de 2020 às 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 de julho de 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 de julho de 2020 às 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 de agosto de 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 de agosto de 2020 às 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 de setembro de 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 de setembro de 2020 às 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 de outubro de 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 de outubro de 2020 às 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 de novembro de 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 de novembro de 2020 às 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 de dezembro de 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 de dezembro de 2020 às 14:49", "2020-12-25T11:49:00Z" },
		/* pl */
		{ MSK, NOW, NULL, "3 stycznia 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 stycznia 2020 r. o 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 lutego 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 lutego 2020 r. o 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 marca 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 marca 2020 r. o 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 kwietnia 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 kwietnia 2020 r. o 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 maja 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 maja 2020 r. o 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 czerwca 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 czerwca 2020 r. o 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 lipca 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 lipca 2020 r. o 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 sierpnia 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 sierpnia 2020 r. o 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 września 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 września 2020 r. o 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 października 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 października 2020 r. o 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 listopada 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 listopada 2020 r. o 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 grudnia 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 grudnia 2020 r. o 14:49", "2020-12-25T11:49:00Z" },
		/* pl-nom */
		{ MSK, NOW, NULL, "3 styczeń 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 styczeń 2020 r. o 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 luty 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 luty 2020 r. o 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 marzec 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 marzec 2020 r. o 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 kwiecień 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 kwiecień 2020 r. o 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 maj 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 maj 2020 r. o 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 czerwiec 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 czerwiec 2020 r. o 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 lipiec 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 lipiec 2020 r. o 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 sierpień 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 sierpień 2020 r. o 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 wrzesień 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 wrzesień 2020 r. o 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 październik 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 październik 2020 r. o 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 listopad 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 listopad 2020 r. o 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 grudzień 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 grudzień 2020 r. o 14:49", "2020-12-25T11:49:00Z" },
		/* uk */
		{ MSK, NOW, NULL, "3 січня 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 січня 2020 р. о 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 лютого 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 лютого 2020 р. о 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 березня 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 березня 2020 р. о 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 квітня 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 квітня 2020 р. о 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 травня 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 травня 2020 р. о 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 червня 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 червня 2020 р. о 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 липня 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 липня 2020 р. о 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 серпня 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 серпня 2020 р. о 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 вересня 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 вересня 2020 р. о 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 жовтня 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 жовтня 2020 р. о 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 листопада 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 листопада 2020 р. о 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 грудня 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 грудня 2020 р. о 14:49", "2020-12-25T11:49:00Z" },
		/* uk-nom */
		{ MSK, NOW, NULL, "3 січень 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 січень 2020 р. о 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 лютий 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 лютий 2020 р. о 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 березень 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 березень 2020 р. о 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 квітень 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 квітень 2020 р. о 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 травень 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 травень 2020 р. о 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 червень 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 червень 2020 р. о 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 липень 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 липень 2020 р. о 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 серпень 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 серпень 2020 р. о 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 вересень 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 вересень 2020 р. о 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 жовтень 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 жовтень 2020 р. о 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 листопад 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 листопад 2020 р. о 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 грудень 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 грудень 2020 р. о 14:49", "2020-12-25T11:49:00Z" },
		/* nl */
		{ MSK, NOW, NULL, "3 januari 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 januari 2020 om 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 februari 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 februari 2020 om 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 maart 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 maart 2020 om 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 april 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 april 2020 om 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 mei 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 mei 2020 om 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 juni 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 juni 2020 om 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 juli 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 juli 2020 om 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 augustus 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 augustus 2020 om 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 september 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 september 2020 om 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 oktober 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 oktober 2020 om 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 november 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 november 2020 om 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 december 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 december 2020 om 14:49", "2020-12-25T11:49:00Z" },
		/* cs */
		{ MSK, NOW, NULL, "3. ledna 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3. ledna 2020 v 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5. února 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5. února 2020 v 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7. března 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7. března 2020 v 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9. dubna 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9. dubna 2020 v 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11. května 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11. května 2020 v 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13. června 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13. června 2020 v 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15. července 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15. července 2020 v 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17. srpna 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17. srpna 2020 v 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19. září 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19. září 2020 v 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21. října 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21. října 2020 v 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23. listopadu 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23. listopadu 2020 v 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25. prosince 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25. prosince 2020 v 14:49", "2020-12-25T11:49:00Z" },
		/* cs-nom */
		{ MSK, NOW, NULL, "3. leden 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3. leden 2020 v 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5. únor 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5. únor 2020 v 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7. březen 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7. březen 2020 v 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9. duben 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9. duben 2020 v 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11. květen 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11. květen 2020 v 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13. červen 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13. červen 2020 v 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15. červenec 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15. červenec 2020 v 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17. srpen 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17. srpen 2020 v 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19. září 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19. září 2020 v 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21. říjen 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21. říjen 2020 v 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23. listopad 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23. listopad 2020 v 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25. prosinec 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25. prosinec 2020 v 14:49", "2020-12-25T11:49:00Z" },
		/* en */
		{ MSK, NOW, NULL, "3 January 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 January 2020, 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 February 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 February 2020, 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 March 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 March 2020, 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 April 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 April 2020, 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 May 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 May 2020, 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 June 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 June 2020, 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 July 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 July 2020, 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 August 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 August 2020, 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 September 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 September 2020, 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 October 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 October 2020, 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 November 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 November 2020, 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 December 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 December 2020, 14:49", "2020-12-25T11:49:00Z" },
		/* ru */
		{ MSK, NOW, NULL, "3 января 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 января 2020 г. в 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 февраля 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 февраля 2020 г. в 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 марта 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 марта 2020 г. в 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 апреля 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 апреля 2020 г. в 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 мая 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 мая 2020 г. в 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 июня 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 июня 2020 г. в 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 июля 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 июля 2020 г. в 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 августа 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 августа 2020 г. в 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 сентября 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 сентября 2020 г. в 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 октября 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 октября 2020 г. в 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 ноября 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 ноября 2020 г. в 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 декабря 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 декабря 2020 г. в 14:49", "2020-12-25T11:49:00Z" },
		/* ca */
		{ MSK, NOW, NULL, "3 de gener de 2020", "2020-01-02T21:00:00Z" },
		{ MSK, NOW, NULL, "3 de gener de 2020, 14:49", "2020-01-03T11:49:00Z" },
		{ MSK, NOW, NULL, "5 de febrer de 2020", "2020-02-04T21:00:00Z" },
		{ MSK, NOW, NULL, "5 de febrer de 2020, 14:49", "2020-02-05T11:49:00Z" },
		{ MSK, NOW, NULL, "7 de març de 2020", "2020-03-06T21:00:00Z" },
		{ MSK, NOW, NULL, "7 de març de 2020, 14:49", "2020-03-07T11:49:00Z" },
		{ MSK, NOW, NULL, "9 de abril de 2020", "2020-04-08T21:00:00Z" },
		{ MSK, NOW, NULL, "9 de abril de 2020, 14:49", "2020-04-09T11:49:00Z" },
		{ MSK, NOW, NULL, "11 de maig de 2020", "2020-05-10T21:00:00Z" },
		{ MSK, NOW, NULL, "11 de maig de 2020, 14:49", "2020-05-11T11:49:00Z" },
		{ MSK, NOW, NULL, "13 de juny de 2020", "2020-06-12T21:00:00Z" },
		{ MSK, NOW, NULL, "13 de juny de 2020, 14:49", "2020-06-13T11:49:00Z" },
		{ MSK, NOW, NULL, "15 de juliol de 2020", "2020-07-14T21:00:00Z" },
		{ MSK, NOW, NULL, "15 de juliol de 2020, 14:49", "2020-07-15T11:49:00Z" },
		{ MSK, NOW, NULL, "17 de agost de 2020", "2020-08-16T21:00:00Z" },
		{ MSK, NOW, NULL, "17 de agost de 2020, 14:49", "2020-08-17T11:49:00Z" },
		{ MSK, NOW, NULL, "19 de setembre de 2020", "2020-09-18T21:00:00Z" },
		{ MSK, NOW, NULL, "19 de setembre de 2020, 14:49", "2020-09-19T11:49:00Z" },
		{ MSK, NOW, NULL, "21 de octubre de 2020", "2020-10-20T21:00:00Z" },
		{ MSK, NOW, NULL, "21 de octubre de 2020, 14:49", "2020-10-21T11:49:00Z" },
		{ MSK, NOW, NULL, "23 de novembre de 2020", "2020-11-22T21:00:00Z" },
		{ MSK, NOW, NULL, "23 de novembre de 2020, 14:49", "2020-11-23T11:49:00Z" },
		{ MSK, NOW, NULL, "25 de desembre de 2020", "2020-12-24T21:00:00Z" },
		{ MSK, NOW, NULL, "25 de desembre de 2020, 14:49", "2020-12-25T11:49:00Z" },
		/* weekday words skipped */
		{ MSK, NOW, NULL, "Montag, 16. März 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "lundi 16 mars 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "lunes, 16 de marzo de 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "martes 17 de marzo de 2020", "2020-03-16T21:00:00Z" },
		{ MSK, NOW, NULL, "lunedì 16 marzo 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "segunda-feira, 16 de março de 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "poniedziałek, 16 marca 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "понеділок, 16 березня 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "maandag 16 maart 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "pondělí 16. března 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "Mo, 16. März 2020", "2020-03-15T21:00:00Z" },
		{ MSK, NOW, NULL, "Mittwoch, 18. März 2020", "2020-03-17T21:00:00Z" },
		{ MSK, NOW, NULL, "vendredi 20 mars 2020", "2020-03-19T21:00:00Z" },
		{ MSK, NOW, NULL, "Sábado, 21 de marzo de 2020", "2020-03-20T21:00:00Z" },
		{ MSK, NOW, NULL, "domenica 22 marzo 2020", "2020-03-21T21:00:00Z" },
		{ MSK, NOW, NULL, "sobota, 21 marca 2020", "2020-03-20T21:00:00Z" },
		{ MSK, NOW, NULL, "неділя, 22 березня 2020", "2020-03-21T21:00:00Z" },
		{ MSK, NOW, NULL, "zondag 22 maart 2020", "2020-03-21T21:00:00Z" },
		{ MSK, NOW, NULL, "středa 18. března 2020", "2020-03-17T21:00:00Z" },
		{ MSK, NOW, NULL, "jeudi 19 mars 2020", "2020-03-18T21:00:00Z" },
		{ MSK, NOW, NULL, "Donnerstag, 19. März 2020", "2020-03-18T21:00:00Z" },
		/* relative: minutes, hours, days ago */
		{ MSK, NOW, NULL, "35 минут назад", "2026-11-21T11:25:00Z" },
		{ MSK, NOW, NULL, "1 минуту назад", "2026-11-21T11:59:00Z" },
		{ MSK, NOW, NULL, "2 минуты назад", "2026-11-21T11:58:00Z" },
		{ MSK, NOW, NULL, "минуту назад", "2026-11-21T11:59:00Z" },
		{ MSK, NOW, NULL, "2 часа назад", "2026-11-21T10:00:00Z" },
		{ MSK, NOW, NULL, "5 часов назад", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "час назад", "2026-11-21T11:00:00Z" },
		{ MSK, NOW, NULL, "1 час назад", "2026-11-21T11:00:00Z" },
		{ MSK, NOW, NULL, "13 часов назад", "2026-11-20T23:00:00Z" },
		{ MSK, NOW, NULL, "3 дня назад", "2026-11-18T12:00:00Z" },
		{ MSK, NOW, NULL, "5 дней назад", "2026-11-16T12:00:00Z" },
		{ MSK, NOW, NULL, "1 день назад", "2026-11-20T12:00:00Z" },
		{ MSK, NOW, NULL, "30 секунд назад", "2026-11-21T11:59:30Z" },
		{ MSK, NOW, NULL, "2 недели назад", "2026-11-07T12:00:00Z" },
		{ MSK, NOW, NULL, "39 mins ago", "2026-11-21T11:21:00Z" },
		{ MSK, NOW, NULL, "1 min ago", "2026-11-21T11:59:00Z" },
		{ MSK, NOW, NULL, "5 minutes ago", "2026-11-21T11:55:00Z" },
		{ MSK, NOW, NULL, "a minute ago", "2026-11-21T11:59:00Z" },
		{ MSK, NOW, NULL, "3 hours ago", "2026-11-21T09:00:00Z" },
		{ MSK, NOW, NULL, "an hour ago", "2026-11-21T11:00:00Z" },
		{ MSK, NOW, NULL, "1 hour ago", "2026-11-21T11:00:00Z" },
		{ MSK, NOW, NULL, "2 hrs ago", "2026-11-21T10:00:00Z" },
		{ MSK, NOW, NULL, "4 days ago", "2026-11-17T12:00:00Z" },
		{ MSK, NOW, NULL, "1 day ago", "2026-11-20T12:00:00Z" },
		{ MSK, NOW, NULL, "2 weeks ago", "2026-11-07T12:00:00Z" },
		{ MSK, NOW, NULL, "45 seconds ago", "2026-11-21T11:59:15Z" },
		{ MSK, NOW, NULL, "5h ago", "2026-11-21T07:00:00Z" },
		{ MSK, NOW, NULL, "10m ago", "2026-11-21T11:50:00Z" },
		{ MSK, NOW, NULL, "3d ago", "2026-11-18T12:00:00Z" },
		{ MSK, NOW, NULL, "Just now", "2026-11-21T12:00:00Z" },
		{ MSK, NOW, NULL, "только что", "2026-11-21T12:00:00Z" },
		{ MSK, NOW, NULL, "35 МИНУТ НАЗАД", "2026-11-21T11:25:00Z" },
		{ MSK, NOW, NULL, "3 Hours Ago", "2026-11-21T09:00:00Z" },
		/* сегодня / вчера / позавчера [в] HH:MM */
		{ MSK, NOW, NULL, "сегодня в 14:30", "2026-11-21T11:30:00Z" },
		{ MSK, NOW, NULL, "вчера в 23:40", "2026-11-20T20:40:00Z" },
		{ MSK, NOW, NULL, "позавчера в 08:05", "2026-11-19T05:05:00Z" },
		{ MSK, NOW, NULL, "позавчера 10:00", "2026-11-19T07:00:00Z" },
		{ MSK, NOW, NULL, "Позавчера, 10:00", "2026-11-19T07:00:00Z" },
		{ MSK, NOW, NULL, "вчера в 9:15", "2026-11-20T06:15:00Z" },
		{ MSK, NOW, NULL, "сегодня в 00:01", "2026-11-20T21:01:00Z" },
		{ MSK, NOW, NULL, "Вчера в 23:59", "2026-11-20T20:59:00Z" },
		{ MSK, NOW, NULL, "today at 9:15 am", "2026-11-21T06:15:00Z" },
		{ MSK, NOW, NULL, "yesterday at 11:40 pm", "2026-11-20T20:40:00Z" },
		/* HHhMM, ISO basic, Uhr / г. / ч. */
		{ MSK, NOW, NULL, "14h49", "2026-11-21T11:49:00Z" },
		{ MSK, NOW, NULL, "09h05", "2026-11-21T06:05:00Z" },
		{ MSK, NOW, NULL, "21.11.2026 14h49", "2026-11-21T11:49:00Z" },
		{ MSK, NOW, NULL, "16 mars 2020 14h49", "2020-03-16T11:49:00Z" },
		{ MSK, NOW, NULL, "16 mars 2020 à 9h", "2020-03-16T06:00:00Z" },
		{ MSK, NOW, NULL, "20200316T035500Z", "2020-03-16T03:55:00Z" },
		{ MSK, NOW, NULL, "20200316T03:55:00Z", "2020-03-16T03:55:00Z" },
		{ MSK, NOW, NULL, "20200316T0355Z", "2020-03-16T03:55:00Z" },
		{ MSK, NOW, NULL, "20200316T035500+0100", "2020-03-16T02:55:00Z" },
		{ MSK, NOW, NULL, "20200316T035500", "2020-03-16T00:55:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 14:49 Uhr", "2020-03-16T11:49:00Z" },
		{ MSK, NOW, NULL, "16.03.2020, 14:49 Uhr", "2020-03-16T11:49:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 г. 14:49 ч.", "2020-03-16T11:49:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 г., 14:49 ч.", "2020-03-16T11:49:00Z" },
		{ MSK, NOW, NULL, "16 марта 2020 г. 14:49", "2020-03-16T11:49:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 14:49 h", "2020-03-16T11:49:00Z" },
		{ MSK, NOW, NULL, "19. Oktober 2019, 14:30 Uhr", "2019-10-19T11:30:00Z" },
		{ MSK, NOW, NULL, "23 Març 2020", "2020-03-22T21:00:00Z" },
		{ MSK, NOW, NULL, "martes 17 de marzo de 2020", "2020-03-16T21:00:00Z" },
		/* zone abbreviations */
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 MET", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 met", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 CET", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 cet", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 CEST", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 cest", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 MEZ", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 mez", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 MESZ", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 mesz", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 EET", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 eet", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 EEST", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 eest", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 WET", "2020-03-16T09:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 wet", "2020-03-16T09:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 WEST", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 west", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 BST", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 bst", "2020-03-16T08:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 IST", "2020-03-16T03:55:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 ist", "2020-03-16T03:55:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 JST", "2020-03-16T00:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 jst", "2020-03-16T00:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 KST", "2020-03-16T00:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 kst", "2020-03-16T00:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 HKT", "2020-03-16T01:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 hkt", "2020-03-16T01:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 SGT", "2020-03-16T01:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 sgt", "2020-03-16T01:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 AEST", "2020-03-15T23:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 aest", "2020-03-15T23:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 AEDT", "2020-03-15T22:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 aedt", "2020-03-15T22:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 NZST", "2020-03-15T21:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 nzst", "2020-03-15T21:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 NZDT", "2020-03-15T20:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 nzdt", "2020-03-15T20:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 AKST", "2020-03-16T18:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 akst", "2020-03-16T18:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 HST", "2020-03-16T19:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 hst", "2020-03-16T19:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 AST", "2020-03-16T13:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 ast", "2020-03-16T13:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 ADT", "2020-03-16T12:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 adt", "2020-03-16T12:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 NST", "2020-03-16T12:55:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 nst", "2020-03-16T12:55:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 BRT", "2020-03-16T12:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 brt", "2020-03-16T12:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 PKT", "2020-03-16T04:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 pkt", "2020-03-16T04:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 WIB", "2020-03-16T02:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 wib", "2020-03-16T02:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 SAST", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 sast", "2020-03-16T07:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 EAT", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 eat", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 TRT", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 trt", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 IRST", "2020-03-16T05:55:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 irst", "2020-03-16T05:55:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 GST", "2020-03-16T05:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 gst", "2020-03-16T05:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 ACST", "2020-03-15T23:55:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 acst", "2020-03-15T23:55:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 AWST", "2020-03-16T01:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 awst", "2020-03-16T01:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 NPT", "2020-03-16T03:40:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 npt", "2020-03-16T03:40:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 EST", "2020-03-16T14:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 est", "2020-03-16T14:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 EDT", "2020-03-16T13:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 edt", "2020-03-16T13:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 CST", "2020-03-16T15:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 cst", "2020-03-16T15:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 CDT", "2020-03-16T14:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 cdt", "2020-03-16T14:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 MST", "2020-03-16T16:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 mst", "2020-03-16T16:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 MDT", "2020-03-16T15:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 mdt", "2020-03-16T15:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 PST", "2020-03-16T17:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 pst", "2020-03-16T17:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 PDT", "2020-03-16T16:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 pdt", "2020-03-16T16:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 MSK", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 msk", "2020-03-16T06:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 UTC", "2020-03-16T09:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 utc", "2020-03-16T09:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 GMT", "2020-03-16T09:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 gmt", "2020-03-16T09:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 ICT", "2020-03-16T02:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 ict", "2020-03-16T02:25:00Z" },
		{ MSK, NOW, NULL, "Mon, 16 Mar 2020 09:25:00 PHT", "2020-03-16T01:25:00Z" },
		{ MSK, NOW, NULL, "16.03.2020 09:25 pht", "2020-03-16T01:25:00Z" },
		/* still not dates */
		{ MSK, NOW, NULL, "12 апельсинов назад", NULL },
		{ MSK, NOW, NULL, "ago", NULL },
		{ MSK, NOW, NULL, "5 xyz ago", NULL },
		{ MSK, NOW, NULL, "назад", NULL },
		{ MSK, NOW, NULL, "35 минут", NULL },
		{ MSK, NOW, NULL, "3 hours", NULL },
		{ MSK, NOW, NULL, "hours ago", NULL },
		{ MSK, NOW, NULL, "25h49", NULL },
		{ MSK, NOW, NULL, "14h60", NULL },
		{ MSK, NOW, NULL, "20201316T035500Z", NULL },
		{ MSK, NOW, NULL, "20200316T250000Z", NULL },
		{ MSK, NOW, NULL, "2020031T0355Z", NULL },
		{ MSK, NOW, NULL, "31 de febrero de 2020", NULL },
		{ MSK, NOW, NULL, "32. März 2020", NULL },
		{ MSK, NOW, NULL, "h", NULL },
		{ MSK, NOW, NULL, "14hh", NULL },

	};
	(void)state;
	check_dates(rows, COUNT(rows));
}

/* date_order: a numeric D/M/Y is read day first unless the source says
 * mdy; a part above 12 is the day either way. */
static void test_dates_order(void **state)
{
	static const struct {
		int order;
		const char *in, *want;
	} rows[] = {
		{ PARSE_DMY, "03/04/2020", "2020-04-02T21:00:00Z" },
		{ PARSE_MDY, "03/04/2020", "2020-03-03T21:00:00Z" },
		{ PARSE_DMY, "16/03/2020", "2020-03-15T21:00:00Z" },
		{ PARSE_MDY, "16/03/2020", "2020-03-15T21:00:00Z" },
		{ PARSE_DMY, "03/16/2020", "2020-03-15T21:00:00Z" },
		{ PARSE_MDY, "03/16/2020", "2020-03-15T21:00:00Z" },
		{ PARSE_MDY, "3/4/2020 14:49", "2020-03-04T11:49:00Z" },
		{ PARSE_DMY, "3/4/2020 14:49", "2020-04-03T11:49:00Z" },
		{ PARSE_DMY, "03-04-2020", "2020-04-02T21:00:00Z" },
		{ PARSE_MDY, "03-04-2020", "2020-03-03T21:00:00Z" },
		{ PARSE_MDY, "12/31/19", "2019-12-30T21:00:00Z" },
		{ PARSE_DMY, "31/12/19 10:00", "2019-12-31T07:00:00Z" },
		{ PARSE_MDY, "03/04/2020 at 9:15 pm", "2020-03-04T18:15:00Z" },
		{ PARSE_DMY, "16.03.2020", "2020-03-15T21:00:00Z" }, /* dots are always day first */
		{ PARSE_MDY, "16.03.2020", "2020-03-15T21:00:00Z" },
		{ PARSE_DMY, "13/13/2020", NULL },
		{ PARSE_MDY, "00/10/2020", NULL },
		{ PARSE_DMY, "31/02/2020", NULL },
		{ PARSE_DMY, "03/04/202", NULL },
		{ PARSE_DMY, "03/04-2020", NULL },
	};
	(void)state;
	set_tz(MSK);
	int bad = 0;
	for (size_t i = 0; i < COUNT(rows); i++) {
		time_t got = 0;
		const struct date_rules rules = { NULL, rows[i].order, NULL };
		int rc = parse_date_rules(rows[i].in, &rules, utc(NOW), &got);
		if (rows[i].want ? rc != 0 || got != utc(rows[i].want) : rc != -1) {
			char gb[64];
			print_error("row %zu: parse_date_rules(\"%s\", %d) = %d, %s; want %s\n", i, rows[i].in,
				    rows[i].order, rc, rc == 0 ? show_utc(got, gb, sizeof gb) : "-",
				    rows[i].want ? rows[i].want : "-1");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/*
 * date_format with a source's language: %B, %b, %h, %A and %a are words of
 * digest's tables for that language (none of the C library's locale); the
 * format may read a prefix that ends where a word does, tried after the
 * built-in forms of the whole string.
 */
static void test_dates_format_rules(void **state)
{
	static const struct {
		const char *fmt, *lang;
		int order;
		const char *in, *want;
	} rows[] = {
		{ "%d. %B %Y", "de", PARSE_DMY, "19. Oktober 2019", "2019-10-18T21:00:00Z" },
		{ "%d. %B %Y", "de", PARSE_DMY, "19. OKTOBER 2019", "2019-10-18T21:00:00Z" },
		{ "%d. %b. %Y", "de", PARSE_DMY, "19. Okt. 2019", "2019-10-18T21:00:00Z" },
		{ "%d. %B %Y um %H:%M Uhr", "de", PARSE_DMY, "3. März 2020 um 14:49 Uhr", "2020-03-03T11:49:00Z" },
		{ "%a, %d %b %Y %H:%M:%S %z", "de", PARSE_DMY, "Mo, 16 Mär 2020 14:49:00 +0100",
		  "2020-03-16T13:49:00Z" },
		{ "%d %B %Y", "fr", PARSE_DMY, "23 mars 2020", "2020-03-22T21:00:00Z" },
		{ "%d %b. %Y", "fr", PARSE_DMY, "5 févr. 2021", "2021-02-04T21:00:00Z" },
		{ "%A %d %B %Y", "fr", PARSE_DMY, "Lundi 23 mars 2020", "2020-03-22T21:00:00Z" },
		{ "%d %B %Y", "ca", PARSE_DMY, "23 Març 2020", "2020-03-22T21:00:00Z" },
		{ "%A %d de %B de %Y", "es", PARSE_DMY, "martes 17 de marzo de 2020", "2020-03-16T21:00:00Z" },
		{ "%d %B %Y", "it", PARSE_DMY, "1 settembre 2020", "2020-08-31T21:00:00Z" },
		{ "%d de %B de %Y", "pt", PARSE_DMY, "3 de março de 2020", "2020-03-02T21:00:00Z" },
		{ "%d %B %Y", "nl", PARSE_DMY, "12 mei 2020", "2020-05-11T21:00:00Z" },
		{ "%d %B %Y", "pl", PARSE_DMY, "5 października 2020", "2020-10-04T21:00:00Z" },
		{ "%d. %B %Y", "cs", PARSE_DMY, "16. března 2020", "2020-03-15T21:00:00Z" },
		{ "%d %B %Y", "uk", PARSE_DMY, "17 березня 2020", "2020-03-16T21:00:00Z" },
		{ "%d %B %Y, %H:%M", "ru", PARSE_DMY, "7 января 2022, 10:15", "2022-01-07T07:15:00Z" },
		{ "%B %d, %Y", NULL, PARSE_DMY, "March 7, 2022", "2022-03-06T21:00:00Z" },
		{ "%b %d %Y", "en", PARSE_DMY, "Sept 7 2022", "2022-09-06T21:00:00Z" },
		/* a prefix: what follows the date is not a date form */
		{ "%d. %B %Y", "de", PARSE_DMY, "19. Oktober 2019 von Anna", "2019-10-18T21:00:00Z" },
		{ "%d.%m.%Y", NULL, PARSE_DMY, "21.11.2026 Политика", "2026-11-20T21:00:00Z" },
		{ "%m/%d/%Y", NULL, PARSE_DMY, "03/04/2020 via Reuters", "2020-03-03T21:00:00Z" },
		{ "%d.%m.%Y", NULL, PARSE_DMY, "21.11.2026. Политика", "2026-11-20T21:00:00Z" },
		/* the whole string by the built-in forms before a prefix by the format */
		{ "%d.%m.%Y", NULL, PARSE_DMY, "21.11.2026 09:25", "2026-11-21T06:25:00Z" },
		{ "%%B %d.%m.%Y", NULL, PARSE_DMY, "%B 21.11.2026", "2026-11-20T21:00:00Z" },
		/* other languages' names are not the source's */
		{ "%d. %B %Y", "fr", PARSE_DMY, "19. Oktober 2019 von Anna", NULL },
		{ "%d %B %Y", "en", PARSE_DMY, "23 mars 2020 x", NULL },
		{ "%d %B %Y", "de", PARSE_DMY, "23 Marchx 2020", NULL },
		/* a prefix ends where a word ends */
		{ "%d.%m.%Y", NULL, PARSE_DMY, "21.11.20261 x", NULL },
		{ "%Y%m%d", NULL, PARSE_DMY, "20261121abc", NULL },
		{ "%d. %B", "de", PARSE_DMY, "19. Oktoberfest", NULL },
		{ "%d %B %Y", "de", PARSE_DMY, "", NULL },
		{ "%B %Y", "de", PARSE_DMY, "Mai 2024", "2024-04-30T21:00:00Z" },
		{ "%d. %B %Y", "de", PARSE_DMY, "31. Februar 2020 x", NULL },
	};
	(void)state;
	set_tz(MSK);
	int bad = 0;
	for (size_t i = 0; i < COUNT(rows); i++) {
		const struct date_rules rules = { rows[i].fmt, rows[i].order, rows[i].lang };
		time_t got = 0;
		int rc = parse_date_rules(rows[i].in, &rules, utc(NOW), &got);
		if (rows[i].want ? rc != 0 || got != utc(rows[i].want) : rc != -1) {
			char gb[64];
			print_error("row %zu: parse_date_rules(\"%s\", \"%s\", %s) = %d, %s; want %s\n", i, rows[i].in,
				    rows[i].fmt, rows[i].lang ? rows[i].lang : "NULL", rc,
				    rc == 0 ? show_utc(got, gb, sizeof gb) : "-", rows[i].want ? rows[i].want : "-1");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
	assert_true(parse_language_known("de"));
	assert_true(parse_language_known("ca"));
	assert_false(parse_language_known("xx"));
	assert_false(parse_language_known(""));
	assert_false(parse_language_known(NULL));
	assert_non_null(strstr(parse_languages(), "en, ru, "));
}

static void test_dates_garbage(void **state)
{
	static const struct date_row rows[] = {
		{ MSK, NOW, NULL, NULL, NULL },
		{ MSK, NOW, NULL, "", NULL },
		{ MSK, NOW, NULL, "   ", NULL },
		{ MSK, NOW, NULL, "32.01.2026", NULL },
		{ MSK, NOW, NULL, "29.02.2025", NULL },
		{ MSK, NOW, NULL, "31.04.2026", NULL },
		{ MSK, NOW, NULL, "0.01.2026", NULL },
		{ MSK, NOW, NULL, "00.00", NULL },
		{ MSK, NOW, NULL, "30.02", NULL },
		{ MSK, NOW, NULL, "25:00", NULL },
		{ MSK, NOW, NULL, "24:00", NULL },
		{ MSK, NOW, NULL, "12:60", NULL },
		{ MSK, NOW, NULL, "1:2", NULL },
		{ MSK, NOW, NULL, "123:45", NULL },
		{ MSK, NOW, NULL, "13:00 pm", NULL },
		{ MSK, NOW, NULL, "21.11.2026 24:00", NULL },
		{ MSK, NOW, NULL, "not a date", NULL },
		{ MSK, NOW, NULL, "hello", NULL },
		{ MSK, NOW, NULL, "2026-13-01", NULL },
		{ MSK, NOW, NULL, "2026-02-30", NULL },
		{ MSK, NOW, NULL, "2026-11-21T09:25:00+25:00", NULL },
		{ MSK, NOW, NULL, "2026-11-21X09:25", NULL },
		{ MSK, NOW, NULL, "99.99.9999", NULL },
		{ MSK, NOW, NULL, "21.11.0999", NULL },
		{ MSK, NOW, NULL, "21.11.202", NULL },
		{ MSK, NOW, NULL, "21.11.2026.", NULL },
		{ MSK, NOW, NULL, "4.5", NULL },
		{ MSK, NOW, NULL, "12.5", NULL },
		{ MSK, NOW, NULL, "2212", NULL },
		{ MSK, NOW, NULL, "12 апельсинов", NULL },
		{ MSK, NOW, NULL, "Sat, 32 Nov 2026 09:25:00 +0300", NULL },
		{ MSK, NOW, NULL, "Sat,", NULL },
		{ MSK, NOW, NULL, "вчера 25:00", NULL },
		{ MSK, NOW, NULL, "завтра", NULL },
		{ MSK, NOW, NULL, "21 ноября 2026 hello", NULL },
		{ MSK, NOW, NULL, "Опубликовано: 21.11.2026 24:00", NULL },
		{ MSK, NOW, NULL, "21 ноября 2026, 24:00", NULL },
		{ MSK, NOW, NULL, "Дата: 32.11.2026 · 14", NULL },
		{ MSK, NOW, NULL, "14 · 21.11 09:25", NULL },
		{ MSK, NOW, NULL, "Views 12 · today", NULL },
		{ MSK, NOW, NULL, "21 ноябряя 2026", NULL },
		{ MSK, NOW, NULL, "\xff\xfe\x80", NULL },
		{ MSK, NOW, NULL, "\xd0", NULL },
		{ MSK, NOW, NULL, "21.11.2026 \xe2\x80", NULL },
		{ MSK, NOW, "%d.%m.%Y", "31.02.2026", NULL },
		{ MSK, NOW, "%Y", "hello", NULL },
	};
	char *big = malloc(10001);
	time_t t = 0;
	int padded, digits, words;

	(void)state;
	check_dates(rows, COUNT(rows));
	assert_non_null(big);
	/* whitespace around a date is fine however long; text of that length is not a date */
	memset(big, ' ', 10000);
	memcpy(big + 5000, "21.11.2026", 10);
	big[10000] = '\0';
	padded = parse_date(big, NULL, utc(NOW), &t);
	memset(big, '1', 10000);
	digits = parse_date(big, "%d", utc(NOW), &t);
	for (size_t i = 0; i < 10000; i++)
		big[i] = i % 11 == 10 ? ' ' : "21.11.2026"[i % 11];
	words = parse_date(big, NULL, utc(NOW), &t);
	free(big);
	assert_int_equal(padded, 0);
	assert_int_equal(digits, -1);
	assert_int_equal(words, -1);
}

/* A fixed-seed LCG keeps failures reproducible. */
static uint32_t lcg(uint32_t *seed)
{
	*seed = *seed * 1664525u + 1013904223u;
	return *seed >> 8;
}

/*
 * Random strings, half raw bytes and half pieces of real forms so that the
 * parsers get deep before they fail. Each string is malloc'd to its exact
 * size so that ASan catches any read past its end.
 */
static void test_fuzz(void **state)
{
	static const char *const pieces[] = {
		"2", "12", "2026", "0", "9", ".", ",", ":", "-", "+", " ", "\xc2\xa0", "\xe2\x80\xaf",
		"тыс.", "K", "млн", "января", "Nov", "Sat, ", "T", "Z", "+03:00", "+0300", "GMT",
		"вчера", "today", " в ", " at ", "г.", "(", ")", "pm", "\xe2\x88\x92", "\xd0", "\xe2\x80",
		"99999999999999999999", "%",
	};
	static const char *const fmts[] = { NULL, "%d.%m.%Y %H:%M", "%H:%M", "%Y-%m-%dT%H:%M:%S%z", "%s" };
	uint32_t seed = 20261121;
	char tmp[128];

	(void)state;
	set_tz(MSK);
	for (int iter = 0; iter < 20000; iter++) {
		size_t len = 0, want = lcg(&seed) % 64;
		char *s;
		long long c;
		double d;
		time_t t;
		int rc;

		while (len < want) {
			if (lcg(&seed) % 2) {
				tmp[len++] = (char)(1 + lcg(&seed) % 255);
			} else {
				const char *p = pieces[lcg(&seed) % COUNT(pieces)];
				size_t n = strlen(p);
				if (len + n >= sizeof tmp)
					break;
				memcpy(tmp + len, p, n);
				len += n;
			}
		}
		s = malloc(len + 1);
		assert_non_null(s);
		memcpy(s, tmp, len);
		s[len] = '\0';
		rc = parse_count(s, &c);
		assert_true(rc == 0 || rc == -1);
		assert_true(rc != 0 || c >= 0);
		rc = parse_number(s, &d);
		assert_true(rc == 0 || rc == -1);
		assert_true(rc != 0 || isfinite(d));
		rc = parse_date(s, fmts[iter % COUNT(fmts)], utc(NOW), &t);
		assert_true(rc == 0 || rc == -1);
		free(s);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_counts_garbage),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_numbers_garbage),
		cmocka_unit_test(test_dates_forms),
		cmocka_unit_test(test_dates_zones),
		cmocka_unit_test(test_dates_year_inference),
		cmocka_unit_test(test_dates_time_only),
		cmocka_unit_test(test_dates_languages),
		cmocka_unit_test(test_dates_order),
		cmocka_unit_test(test_dates_format_rules),
		cmocka_unit_test(test_dates_garbage),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
