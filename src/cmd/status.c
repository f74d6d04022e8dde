/* cmd/status: `digest status`: recent editions with their delivery
 * counts, subscribers by status, what came back lately; `--failed`: who
 * failed or was deferred for one edition, and why (report.c). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "digest/log.h"
#include "digest/report.h"
#include "digest/subscriber.h"
#include "digest/token.h"
#include "digest/util.h"

static const char status_usage[] =
	"usage: digest status [--failed [--edition YYYY-MM-DD]]\n"
	"\n"
	"Recent editions with their delivery counts, and subscribers by status:\n"
	"deferred are the active readers tried and deferred (the next run tries them\n"
	"again), untried those never tried for that edition.\n"
	"  --failed     for the latest edition: each reader whose delivery failed, and\n"
	"               each one deferred, with the server's last reply; then the mail\n"
	"               that came back for it\n"
	"  --edition D  the edition of day D instead (exit 65 when never built)\n";

struct status_opts {
	const char *edition;
	int failed;
};

static int status_take(int c, const char *arg, void *ctx)
{
	struct status_opts *o = ctx;
	if (c == 'f')
		o->failed = 1;
	else if (c == 'e')
		o->edition = arg;
	else
		return -1;
	return 0;
}

/* Whether DATE is a real day written YYYY-MM-DD (no 2026-02-31, no 2026-2-1). */
static bool valid_date(const char *date)
{
	char back[11];
	unsigned day = token_edition_day(date);
	if (!day)
		return false;
	token_day_edition(day, back);
	return !strcmp(back, date);
}

static int parse_status(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"failed", no_argument, NULL, 'f'},
						 {"edition", required_argument, NULL, 'e'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct status_opts *o = opts;
	if (command_opts(argc, argv, longopts, status_usage, status_take, o, code) < 0)
		return -1;
	if (o->edition && !o->failed)
		return usage_error(code, status_usage, "status: --edition needs --failed");
	if (o->edition && !valid_date(o->edition))
		return usage_error(code, status_usage, "status: --edition %s: expected a date YYYY-MM-DD", o->edition);
	return 0;
}

/* `status --failed`: who failed and why, for EDITION or the latest one. */
static int status_failed(struct store *st, const char *edition)
{
	char *err = NULL;
	char date[11];
	int found;
	if (edition) {
		struct article *a = NULL;
		size_t n = 0;
		snprintf(date, sizeof date, "%s", edition);
		found = store_edition_load(st, date, NULL, &a, &n, &err);
		articles_free(a, n);
	} else {
		found = store_edition_latest(st, date, &err);
	}
	int rc = EX_OK;
	if (found < 0) {
		log_error("%s", err);
		rc = db_failed(st);
	} else if (found == 0 && edition) {
		log_error("status: edition %s was never built", edition);
		rc = EX_DATAERR;
	} else if (found == 0) {
		printf("(no edition yet)\n");
	} else if (report_failed(stdout, st, date, &err) < 0) {
		log_error("%s", err);
		rc = db_failed(st);
	}
	free(err);
	return rc;
}

static int exec_status(struct config *cfg, const void *opts)
{
	const struct status_opts *o = opts;
	struct store *st = NULL;
	char *err = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
	if (o->failed) {
		rc = status_failed(st, o->edition);
		store_close(st);
		return rc;
	}
	struct edition_stats *es = NULL;
	size_t n = 0;
	long long counts[4];
	if (store_editions_recent(st, 10, &es, &n, &err) < 0 || store_subscriber_counts(st, counts, &err) < 0) {
		log_error("%s", err);
		free(err);
		free(es);
		rc = db_failed(st); /* before the store is closed */
		store_close(st);
		return rc;
	}
	printf("%-10s  %-16s  %8s  %8s  %8s  %8s  %8s\n", "edition", "built", "articles", "sent", "deferred",
	       "failed", "untried");
	if (n == 0)
		printf("(no edition yet)\n");
	for (size_t i = 0; i < n; i++) {
		char built[17];
		fmt_time_local(es[i].built_at, built);
		printf("%-10s  %-16s  %8lld  %8lld  %8lld  %8lld  %8lld\n", es[i].date, built, es[i].articles,
		       es[i].sent, es[i].deferred, es[i].failed, es[i].untried);
	}
	printf("\nsubscribers: %lld active, %lld pending, %lld unsubscribed, %lld bouncing\n",
	       counts[SUB_ACTIVE], counts[SUB_PENDING], counts[SUB_UNSUBSCRIBED], counts[SUB_BOUNCING]);
	long long back[6];
	if (store_bounce_counts(st, (long long)time(NULL) - 30 * 86400LL, back, &err) == 0)
		printf("came back in 30 days: %lld bounce-hard, %lld bounce-soft, %lld complaint, %lld unsubscribe\n",
		       back[1], back[2], back[3], back[4]);
	free(err);
	err = NULL;
	free(es);
	store_close(st);
	return EX_OK; /* an output error: main's */
}

const struct command command_status = {"status", sizeof(struct status_opts), parse_status, exec_status, false};
