/* job: the daily job's edition: frozen once, collected and selected before
 * that. Shared by `run`, `preview` and the web preview. */
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
	struct article *a;    /* the selection, in rank order */
	size_t n;
	bool frozen;          /* stored: its selection will not change */
	bool sources_failed;  /* collecting was tried and every source failed */
	struct edition_rec rec;
};

/*
 * job_edition: the edition of DATE (NULL: today) as of NOW. A frozen
 * edition is loaded as it was frozen. Otherwise the sources are collected
 * (when FETCH), the candidates ranked and selected, and, when FREEZE and
 * the selection is not empty (or digest.send_empty), the edition is
 * frozen. Returns 0, -2 when DATE is not a usable date, or -1 with *ERR.
 * Free OUT with job_edition_clear.
 */
int job_edition(const struct config *cfg, struct store *st, const char *date, time_t now, bool fetch,
		bool freeze, bool progress, struct job_edition *out, char **err);
void job_edition_clear(struct job_edition *e);

#endif
