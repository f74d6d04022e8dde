/* parse: counts, numbers and dates as news sites print them. */
#ifndef DIGEST_PARSE_H
#define DIGEST_PARSE_H

#include <time.h>

/* Seconds a date without a day or year may lie after NOW and still be
 * taken as this day or year (clocks of sites and of this machine differ). */
#define PARSE_FUTURE_SLACK (15 * 60)

/*
 * parse_count: the first count in S, as a site prints a view or comment
 * counter: "2212", "2 212" (any Unicode space, NBSP and narrow NBSP too),
 * "2,212" and "2.212" (a separator before exactly three digits and no
 * suffix groups thousands), "2.2K", "12,5 тыс.", "1.2M", "3 млн",
 * "1 млрд"; text around the number ("Просмотров: 2 212", "14 views") is
 * ignored. Returns 0 and stores the count in *OUT, or -1 when S holds no
 * count or it does not fit in a long long. S may be NULL.
 */
int parse_count(const char *s, long long *out);

/*
 * parse_number: the first signed decimal in S ("-1", "+3", "4,5", "4.5 из 5").
 * Returns 0 and stores it in *OUT, or -1 when S holds no number.
 */
int parse_number(const char *s, double *out);

/*
 * parse_date: a date in any form news sites print, as a Unix time.
 * FMT (may be NULL) is a strptime(3) format tried first. Then: ISO 8601
 * ("2026-11-21", "2026-11-21T09:25", "...:SS", "...Z", "...+03:00"),
 * RFC 2822 ("Sat, 21 Nov 2026 09:25:00 +0300", zone names GMT/UT/Z too),
 * "DD.MM.YYYY HH:MM", "DD.MM.YYYY", "DD.MM HH:MM", "HH:MM",
 * "7 January 2022", "January 7, 2022", "7 января 2022 г." (with an optional
 * time after the date, ", 09:25" or " в 09:25"), and
 * "сегодня"/"вчера"/"today"/"yesterday" with an optional "HH:MM".
 * Forms without an offset are local time in the process's time zone (the
 * caller sets TZ to the newsletter's zone). A date without a time is
 * midnight. A form without a year takes the latest year that does not put
 * it after NOW; "HH:MM" alone is today, or yesterday if today's would be
 * after NOW. "After NOW" allows PARSE_FUTURE_SLACK: a site's clock a few
 * minutes ahead must not move its newest article a day or a year back. Returns 0 and stores the time in *OUT, or -1 when S is not a
 * date (garbage, out-of-range fields such as 31.02 or 25:00).
 */
int parse_date(const char *s, const char *fmt, time_t now, time_t *out);

/* The order of a numeric date's day and month ("03/04/2020"): a part
 * above 12 is the day whatever the order. */
enum { PARSE_DMY = 0, PARSE_MDY = 1 };

/* How the dates of one source read (digest.conf's date_format, date_order
 * and language). */
struct date_rules {
	const char *format;   /* strptime(3) format tried first, or NULL */
	int order;            /* PARSE_DMY or PARSE_MDY */
	const char *language; /* ISO 639-1 code whose month and weekday names
			       * FORMAT's %B, %b, %h, %A and %a match; NULL:
			       * English */
};

/*
 * parse_date_rules: parse_date, with RULES (may be NULL). FORMAT is tried
 * over the whole of S, then the built-in forms, then FORMAT over a prefix
 * of S that ends where a word ends ("21.11.2026 | Политика"), then the
 * built-in forms inside other text. Its month and weekday names are the
 * words of LANGUAGE in digest's own tables, never the C library's locale.
 * ORDER reads D/M/Y dates written with "/" or "-". Also read, by both
 * parse_date and this: "N минут/часов/дней назад", "N mins/hours/days
 * ago" (to the second before NOW); month and weekday names of en, ru, de,
 * fr, es, it, pt, nl, pl, cs, uk and ca with their genitives and
 * abbreviations ("19. Oktober 2019", "martes 17 de marzo de 2020",
 * "17 березня 2020 р."); "14h49"; ISO 8601 basic "20200316T035500Z"; a
 * trailing "Uhr", "ч." or "г."; the zone abbreviations of the table in
 * src/parse.c (README.md lists them).
 */
int parse_date_rules(const char *s, const struct date_rules *rules, time_t now, time_t *out);

/* Whether CODE ("de") is a language of the month tables: en, ru, de, fr,
 * es, it, pt, nl, pl, cs, uk, ca. */
int parse_language_known(const char *code);

/* The codes of those languages, for messages: "en, ru, ...". Static. */
const char *parse_languages(void);

#endif
