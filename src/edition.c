/* edition: which articles make a day's digest, and in what order. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/edition.h"

static int parse_day(const char *s, struct tm *tm)
{
	/* exactly YYYY-MM-DD: the text becomes the edition's name */
	static const char shape[] = "dddd-dd-dd";
	if (strlen(s) != 10)
		return -1;
	for (int i = 0; i < 10; i++)
		if (shape[i] == 'd' ? !isdigit((unsigned char)s[i]) : s[i] != shape[i])
			return -1;
	int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
	static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (y < 1970 || y > 9999 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return -1;
	if (m == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return -1;
	memset(tm, 0, sizeof *tm);
	tm->tm_year = y - 1900;
	tm->tm_mon = m - 1;
	tm->tm_mday = d;
	tm->tm_isdst = -1;
	return 0;
}

int edition_window(const char *date, time_t now, int window_hours, char date_out[11], time_t *from,
		   time_t *to)
{
	struct tm today;
	if (!localtime_r(&now, &today))
		return -1;
	char today_s[11];
	strftime(today_s, sizeof today_s, "%Y-%m-%d", &today);
	if (!date)
		date = today_s;
	struct tm tm;
	if (parse_day(date, &tm) < 0 || strcmp(date, today_s) > 0)
		return -1;
	tm.tm_mday += 1; /* the local midnight that ends DATE */
	time_t end = mktime(&tm);
	if (end == (time_t)-1)
		return -1;
	*to = end < now ? end : now;
	*from = *to - (time_t)window_hours * 3600;
	memcpy(date_out, date, 11);
	return 0;
}

static long long views_of(const struct article *a) { return a->views < 0 ? 0 : a->views; }
static long long comments_of(const struct article *a) { return a->comments < 0 ? 0 : a->comments; }

static int cmp_rank(const void *pa, const void *pb)
{
	const struct article *a = pa, *b = pb;
	long long va = views_of(a), vb = views_of(b);
	if (va != vb)
		return va > vb ? -1 : 1;
	long long ca = comments_of(a), cb = comments_of(b);
	if (ca != cb)
		return ca > cb ? -1 : 1;
	if (a->published != b->published)
		return a->published > b->published ? -1 : 1;
	return strcmp(a->url ? a->url : "", b->url ? b->url : "");
}

void edition_rank(struct article *a, size_t n)
{
	if (n > 1)
		qsort(a, n, sizeof *a, cmp_rank);
}

size_t edition_select(struct article *a, size_t n, int max_articles, long long min_views)
{
	/* A stable partition: qualifying articles forward in their order. */
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (views_of(&a[i]) < min_views)
			continue;
		if (i != k) {
			struct article t = a[i];
			memmove(&a[k + 1], &a[k], (i - k) * sizeof *a);
			a[k] = t;
		}
		k++;
	}
	return k < (size_t)max_articles ? k : (size_t)max_articles;
}
