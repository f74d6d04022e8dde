/* cmd/collect: `digest collect`: fetch and store every source's articles,
 * print the edition's selection (or every candidate). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "digest/edition.h"
#include "digest/job.h"
#include "digest/log.h"

static const char collect_usage[] =
	"usage: digest collect [--all] [--date YYYY-MM-DD]\n"
	"\n"
	"Fetch every source of digest.conf, store its articles, and print the\n"
	"edition's selection ranked: rank, views, comments, published, title.\n"
	"  --all     print every candidate of the edition, not only the selection\n"
	"  --date D  the edition of day D (default today, newsletter time zone)\n";

struct collect_opts {
	int all;
	const char *date;
};

static int collect_take(int c, const char *arg, void *ctx)
{
	struct collect_opts *o = ctx;
	if (c == 'a')
		o->all = 1;
	else if (c == 'd')
		o->date = arg;
	else
		return -1;
	return 0;
}

static int parse_collect(int argc, char **argv, void *o, int *code)
{
	static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
						 {"date", required_argument, NULL, 'd'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, collect_usage, collect_take, o, code);
}

static int exec_collect(struct config *cfg, const void *opts)
{
	const struct collect_opts *o = opts;
	const struct job_want w = {.date = o->date, .now = time(NULL), .fetch = true, .fresh = true, .all = o->all,
				   .progress = want_progress()};
	char edition[11];
	time_t from, to;
	/* a bad date is a usage error before the database is created */
	if (edition_window(w.date, w.now, cfg->digest.window_hours, edition, &from, &to) < 0) {
		log_error("collect: --date %s: expected a date YYYY-MM-DD, not after today", o->date);
		return EX_USAGE;
	}
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
	struct job_edition ed;
	char *err = NULL;
	if (job_edition(cfg, st, &w, &ed, &err) < 0) {
		log_error("%s", err);
		rc = db_failed(st);
	} else if (ed.sources_failed) {
		log_error("every source failed; nothing collected");
		rc = EX_UNAVAILABLE;
	} else {
		if (ed.n == 0)
			log_warn("edition %s: no article in the window", ed.date);
		print_table(ed.a, ed.n);
	}
	job_edition_clear(&ed);
	free(err);
	store_close(st);
	return rc; /* an output error: main's */
}

const struct command command_collect = {"collect", sizeof(struct collect_opts), parse_collect, exec_collect, false};
