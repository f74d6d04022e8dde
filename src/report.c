/* report: the words for an edition's deliveries: a run's summary line and
 * `status --failed`. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/report.h"
#include "digest/util.h"

static const char *plural(long long n) { return n == 1 ? "" : "s"; }

char *report_summary(const char *date, size_t articles, const struct delivery_counts *dc,
		     const struct deliver_stats *ds, bool dry)
{
	long long total = dc->sent + dc->failed + dc->pending;
	if (dry)
		return xasprintf("edition %s: %zu article%s; %lld subscriber%s: %lld would be sent, %lld already sent, "
				 "%lld failed (dry run: nothing sent)",
				 date, articles, plural((long long)articles), total, plural(total), dc->pending, dc->sent,
				 dc->failed);
	double secs = ds ? ds->seconds : 0.0;
	double rate = ds && ds->seconds > 0 ? (double)(ds->sent + ds->failed) / ds->seconds : 0;
	char untried[64] = "";
	if (dc->untried > 0)
		snprintf(untried, sizeof untried, "; %lld of them not tried", dc->untried);
	return xasprintf("edition %s: %zu article%s; %lld subscriber%s: %lld sent, %lld deferred, %lld failed in %.1f s "
			 "(%.0f msg/s)%s",
			 date, articles, plural((long long)articles), total, plural(total), dc->sent, dc->pending,
			 dc->failed, secs, rate, untried);
}

#define ROW_FMT "%-40s  %-12s  %8s  %-16s  %s\n"

struct rows {
	FILE *f;
	long long n;
};

static int count_row(void *ctx, const struct edition_delivery *d)
{
	(void)d;
	((struct rows *)ctx)->n++;
	return 0;
}

/* One journal row: the reply on one line, whatever the server sent. */
static int print_row(void *ctx, const struct edition_delivery *d)
{
	struct rows *r = ctx;
	char when[17], attempts[16];
	fmt_time_local(d->updated_at, when);
	snprintf(attempts, sizeof attempts, "%d", d->attempts);
	char *reply = xstrdup(*d->reply ? d->reply : d->state == DELIVERY_INFLIGHT ? "(in flight: no reply)" : "-");
	str_collapse_ws(reply);
	fprintf(r->f, ROW_FMT, d->email, sub_status_name(d->status), attempts, when, reply);
	free(reply);
	r->n++;
	return ferror(r->f) ? -1 : 0;
}

/* The rows of EDITION (FAILED, or deferred) after a header naming N. */
static int section(FILE *f, struct store *st, const char *date, bool failed, const struct delivery_counts *dc,
		   char **err)
{
	struct rows c = {.f = f};
	if (store_deliveries_each(st, date, failed, count_row, &c, err) < 0)
		return -1;
	if (failed)
		fprintf(f, "edition %s: %lld failed\n", date, c.n);
	else
		fprintf(f, "edition %s: %lld deferred (tried; the next run tries again), %lld untried\n", date, c.n,
			dc->untried);
	if (c.n == 0)
		return 0;
	fprintf(f, ROW_FMT, "address", "status", "attempts", "when", "reply");
	struct rows r = {.f = f};
	return store_deliveries_each(st, date, failed, print_row, &r, err) < 0 ? -1 : 0;
}

static int print_bounce(void *ctx, const struct bounce_row *b)
{
	struct rows *r = ctx;
	char when[17];
	fmt_time_local(b->at, when);
	if (r->n++ == 0)
		fprintf(r->f, "%-16s  %-40s  %-12s  %-7s  %s\n", "date", "address", "kind", "status", "diagnostic");
	char *diag = xstrdup(b->diagnostic);
	str_collapse_ws(diag);
	fprintf(r->f, "%-16s  %-40s  %-12s  %-7s  %s\n", when, *b->address ? b->address : "?", b->kind,
		*b->status ? b->status : "-", diag);
	free(diag);
	return 0;
}

static int count_bounce(void *ctx, const struct bounce_row *b)
{
	(void)b;
	((struct rows *)ctx)->n++;
	return 0;
}

int report_failed(FILE *f, struct store *st, const char *date, char **err)
{
	struct delivery_counts dc;
	if (store_delivery_counts(st, date, &dc, err) < 0 || section(f, st, date, true, &dc, err) < 0)
		return -1;
	fputc('\n', f);
	if (section(f, st, date, false, &dc, err) < 0)
		return -1;
	struct rows c = {.f = f}, r = {.f = f};
	if (store_bounces_of_edition(st, date, count_bounce, &c, err) < 0)
		return -1;
	fprintf(f, "\ncame back for edition %s: %lld\n", date, c.n);
	return store_bounces_of_edition(st, date, print_bounce, &r, err) < 0 ? -1 : 0;
}
