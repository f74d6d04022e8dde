/* job: the daily job's edition: frozen once, collected and selected before
 * that. Shared by `collect`, `run`, `preview` and the
 * web preview. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/collect.h"
#include "digest/edition.h"
#include "digest/job.h"
#include "digest/log.h"

void job_edition_clear(struct job_edition *e)
{
	if (!e)
		return;
	articles_free(e->a, e->n);
	memset(e, 0, sizeof *e);
}

int job_edition(const struct config *cfg, struct store *st, const struct job_want *w, struct job_edition *out,
		char **err)
{
	memset(out, 0, sizeof *out);
	const char *date = w->date;
	const time_t now = w->now;
	const bool freeze = w->freeze && !w->fresh;
	time_t from, to;
	if (edition_window(date, now, cfg->digest.window_hours, out->date, &from, &to) < 0)
		return -2;
	int found = w->fresh ? 0 : store_edition_load(st, out->date, &out->rec, &out->a, &out->n, err);
	if (found < 0)
		return -1;
	if (found) {
		out->selected = out->n;
		out->frozen = true;
		return 0;
	}
	/* An edition dated before one already frozen: the clock was set back,
	 * or an editor asked for an earlier day. It may be built, but never
	 * with what a later edition carried (store_candidates). */
	char latest[11];
	int lr = freeze ? store_edition_latest(st, latest, err) : 0;
	if (lr < 0)
		return -1;
	if (lr > 0 && strcmp(latest, out->date) > 0) {
		if (date)
			log_info("edition %s: earlier than the latest edition, %s; it leaves out every article an "
				 "edition carried", out->date, latest);
		else
			log_warn("the clock says %s, before the latest edition, %s (was the clock set back?): "
				 "edition %s leaves out every article an edition carried", out->date, latest,
				 out->date);
	}
	if (w->fetch) {
		struct collect_stats cs;
		if (collect_run(cfg, st, now, from, w->progress, &cs, err) < 0)
			return -1;
		log_info("%d sources (%d failed), %d pages, %d article pages, %d articles", cs.sources, cs.failed,
			 cs.pages, cs.followed, cs.articles);
		out->sources_failed = cs.sources > 0 && cs.failed == cs.sources;
	}
	struct article *cands = NULL;
	size_t n = 0;
	if (store_candidates(st, out->date, from, to, &cands, &n, err) < 0)
		return -1;
	edition_rank(cands, n);
	size_t k = edition_select(cands, n, cfg->digest.max_articles, cfg->digest.min_views);
	if (!w->all) {
		for (size_t i = k; i < n; i++)
			article_clear(&cands[i]);
		n = k;
	}
	out->a = cands;
	out->n = n;
	out->selected = k;
	out->rec.built_at = now;
	out->rec.window_from = from;
	out->rec.window_to = to;
	if (freeze && (k > 0 || cfg->digest.send_empty)) {
		if (store_edition_freeze(st, out->date, &out->rec, out->a, k, err) < 0)
			return -1;
		out->frozen = true;
	}
	return 0;
}
