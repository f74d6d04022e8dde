/* cmd/bounces: `digest bounces`: what came back lately (store_bounces). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "digest/log.h"
#include "digest/report.h"
#include "digest/util.h"

struct bounces_opts {
	int days;
};

static const char bounces_usage[] =
	"usage: digest bounces [--days N]\n"
	"\n"
	"What came back in the last N days (default 30): date, address, kind,\n"
	"status code, diagnostic.\n";

static int bounces_take(int c, const char *arg, void *ctx)
{
	struct bounces_opts *o = ctx;
	if (c != 'd')
		return -1;
	char *end;
	long v = strtol(arg, &end, 10);
	if (*end || end == arg || v < 1 || v > 36500)
		return -1;
	o->days = (int)v;
	return 0;
}

static int parse_bounces(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"days", required_argument, NULL, 'd'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct bounces_opts *o = opts;
	o->days = 30;
	return command_opts(argc, argv, longopts, bounces_usage, bounces_take, o, code);
}

static int print_bounce(void *ctx, const struct bounce_row *b)
{
	(void)ctx;
	report_bounce(stdout, b, 200);
	return 0;
}

static int exec_bounces(struct config *cfg, const void *opts)
{
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
	char *err = NULL;
	report_bounce_header(stdout);
	long long since = (long long)time(NULL) - (long long)((const struct bounces_opts *)opts)->days * 86400;
	if (store_bounces_each(st, since, print_bounce, NULL, &err) < 0) {
		log_error("%s", err);
		free(err);
		rc = db_failed(st);
	}
	store_close(st);
	return rc;
}

const struct command command_bounces = {"bounces", sizeof(struct bounces_opts), parse_bounces, exec_bounces, false};
