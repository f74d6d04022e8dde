/* cmd/status: `digest status`: recent editions with their delivery
 * counts, subscribers by status, what came back lately. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "digest/log.h"
#include "digest/subscriber.h"
#include "digest/util.h"

static const char status_usage[] =
	"usage: digest status\n"
	"\n"
	"Recent editions with their delivery counts, and subscribers by status.\n";

static int parse_status(int argc, char **argv, void *o, int *code)
{
	(void)o;
	return no_opts(argc, argv, status_usage, code);
}

static int exec_status(struct config *cfg, const void *opts)
{
	(void)opts;
	struct store *st = NULL;
	char *err = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
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
	printf("%-10s  %-16s  %8s  %8s  %8s  %8s\n", "edition", "built", "articles", "sent", "deferred",
	       "failed");
	if (n == 0)
		printf("(no edition yet)\n");
	for (size_t i = 0; i < n; i++) {
		char built[17];
		fmt_time_local(es[i].built_at, built);
		printf("%-10s  %-16s  %8lld  %8lld  %8lld  %8lld\n", es[i].date, built, es[i].articles, es[i].sent,
		       es[i].pending, es[i].failed);
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

const struct command command_status = {"status", 0, parse_status, exec_status, false};
