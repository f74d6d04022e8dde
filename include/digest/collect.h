/* collect: every configured source fetched, its articles extracted and stored. */
#ifndef DIGEST_COLLECT_H
#define DIGEST_COLLECT_H

#include <stdbool.h>
#include <time.h>

#include "digest/config.h"
#include "digest/store.h"

struct collect_stats {
	int sources;    /* configured */
	int failed;     /* sources whose first page could not be read */
	int pages;      /* listing pages and feeds read */
	int followed;   /* article pages read */
	int articles;   /* distinct articles stored */
};

/*
 * collect_run: fetch every source of CFG in parallel (listing pages,
 * `next` pages, article pages for missing fields), merge articles by
 * normalized URL, and store them in one transaction with NOW as the time
 * they were seen. Articles known to be older than SKIP_BEFORE are not
 * followed (their pages cannot change the edition). A failing source is
 * reported on stderr in one line naming it and its URL, and skipped.
 * Returns 0 (see STATS for failures), or -1 with *ERR when the database
 * cannot be written (nothing is then stored).
 */
int collect_run(const struct config *cfg, struct store *st, time_t now, time_t skip_before,
		bool progress, struct collect_stats *stats, char **err);

#endif
