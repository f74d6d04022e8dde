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
		cmocka_unit_test(test_dates_garbage),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
