/* job: the daily job's edition: frozen once, collected and selected before
 * that. Shared by `collect`, `run`, `preview` and the
 * web preview. */
#ifndef DIGEST_JOB_H
#define DIGEST_JOB_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "digest/article.h"
#include "digest/config.h"
#include "digest/store.h"

struct job_edition {
	char date[11];        /* YYYY-MM-DD */
	struct article *a;    /* the selection, in rank order (job_want.all: every candidate) */
	size_t n;
	size_t selected;      /* how many of a[] the edition takes: the first ones */
	bool frozen;          /* stored: its selection will not change */
	bool sources_failed;  /* collecting was tried and every source failed */
	struct edition_rec rec;
};

/* What a caller wants of job_edition. */
struct job_want {
	const char *date; /* YYYY-MM-DD, or NULL: today */
	time_t now;
	bool fetch;       /* collect the sources first */
	bool freeze;      /* store the selection as the edition */
	bool fresh;       /* rank the candidates even when the edition is frozen
			   * (collect's table: what the sources hold now) */
	bool all;         /* keep every candidate, ranked, not only the selection */
	bool progress;    /* a progress line on stderr while collecting */
};

/*
 * job_edition: the edition of W->date as of W->now. A frozen edition is
 * loaded as it was frozen (unless W->fresh). Otherwise the sources are
 * collected (W->fetch), the candidates ranked and selected, and, when
 * W->freeze and the selection is not empty (or digest.send_empty), the
 * edition is frozen. The one builder of an edition: `collect`, `run`,
 * `preview` and the web preview differ only in W. Returns 0, -2 when the
 * date is not a usable date, or -1 with *ERR. Free OUT with
 * job_edition_clear.
 */
int job_edition(const struct config *cfg, struct store *st, const struct job_want *w, struct job_edition *out,
		char **err);
void job_edition_clear(struct job_edition *e);

#endif
