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
#define BOUNCE_FMT "%-16s  %-40s  %-12s  %-7s  %s\n"

/* A section's rows, written to memory as they are read, so that the
 * header before them names their count from the one reading. */
struct rows {
	FILE *f;
	long long n;
	char *text;
	size_t len;
};

static int rows_open(struct rows *r, char **err)
{
	memset(r, 0, sizeof *r);
	r->f = open_memstream(&r->text, &r->len);
	return r->f ? 0 : errf(err, "status: out of memory");
}

/* Close R's stream; when OK, its rows after HEADER's line (none when
 * empty) onto F. */
static int rows_flush(struct rows *r, bool ok, FILE *f, void (*header)(FILE *f), char **err)
{
	if (fclose(r->f) != 0 && ok)
		ok = errf(err, "status: out of memory") == 0;
	if (ok && r->n > 0) {
		header(f);
		fwrite(r->text, 1, r->len, f);
	}
	free(r->text);
	return ok ? 0 : -1;
}

static void delivery_header(FILE *f)
{
	fprintf(f, ROW_FMT, "address", "status", "attempts", "when", "reply");
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
	struct rows r;
	if (rows_open(&r, err) < 0)
		return -1;
	bool ok = store_deliveries_each(st, date, failed, print_row, &r, err) == 0;
	if (ok && failed)
		fprintf(f, "edition %s: %lld failed\n", date, r.n);
	else if (ok)
		fprintf(f, "edition %s: %lld deferred (tried; the next run tries again), %lld untried\n", date, r.n,
			dc->untried);
	return rows_flush(&r, ok, f, delivery_header, err);
}

void report_bounce_header(FILE *f)
{
	fprintf(f, BOUNCE_FMT, "date", "address", "kind", "status", "diagnostic");
}

void report_bounce(FILE *f, const struct bounce_row *b, size_t max)
{
	char when[17];
	fmt_time_local(b->at, when);
	char *diag = max ? xasprintf("%.*s", (int)(max - 1), b->diagnostic) : xstrdup(b->diagnostic);
	str_collapse_ws(diag);
	fprintf(f, BOUNCE_FMT, when, *b->address ? b->address : "?", b->kind, *b->status ? b->status : "-", diag);
	free(diag);
}

static int print_bounce(void *ctx, const struct bounce_row *b)
{
	struct rows *r = ctx;
	report_bounce(r->f, b, 0);
	r->n++;
	return ferror(r->f) ? -1 : 0;
}

int report_failed(FILE *f, struct store *st, const char *date, char **err)
{
	struct delivery_counts dc;
	if (store_delivery_counts(st, date, &dc, err) < 0 || section(f, st, date, true, &dc, err) < 0)
		return -1;
	fputc('\n', f);
	if (section(f, st, date, false, &dc, err) < 0)
		return -1;
	struct rows r;
	if (rows_open(&r, err) < 0)
		return -1;
	bool ok = store_bounces_of_edition(st, date, print_bounce, &r, err) == 0;
	if (ok)
		fprintf(f, "\ncame back for edition %s: %lld\n", date, r.n);
	return rows_flush(&r, ok, f, report_bounce_header, err);
}
