/* edition: which articles make a day's digest, and in what order. */
#ifndef DIGEST_EDITION_H
#define DIGEST_EDITION_H

#include <stddef.h>
#include <time.h>

#include "digest/article.h"

/*
 * edition_window: the edition of DATE ("YYYY-MM-DD", or NULL for today in
 * the local time zone at NOW): its name in DATE_OUT, and the window of
 * publication times [*FROM, *TO]: TO is NOW for today and later dates' runs
 * started today, else the end of DATE (local midnight after it); FROM is
 * WINDOW_HOURS before TO. Returns 0, or -1 when DATE is not a valid date.
 */
int edition_window(const char *date, time_t now, int window_hours, char date_out[11], time_t *from,
		   time_t *to);

/*
 * edition_rank: sort A in edition order: views descending (unknown counts
 * as 0), then comments descending, then newest first; remaining ties by
 * URL so that the order is stable from run to run.
 */
void edition_rank(struct article *a, size_t n);

/*
 * edition_select: after edition_rank, move the articles with at least
 * MIN_VIEWS views to the front (keeping their order) and return how many
 * of them make the edition: at most MAX_ARTICLES. All N stay in A.
 */
size_t edition_select(struct article *a, size_t n, int max_articles, long long min_views);

#endif
