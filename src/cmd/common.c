/* cmd/common: what the commands share: option parsing, opening the
 * store, exit codes of store failures, the article table. */
#define _GNU_SOURCE
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cmd.h"
#include "digest/address.h"
#include "digest/log.h"
#include "digest/util.h"

int usage_error(int *code, const char *usage, const char *fmt, ...)
{
	if (fmt) {
		char *msg = NULL;
		va_list ap;
		va_start(ap, fmt);
		if (vasprintf(&msg, fmt, ap) < 0)
			msg = NULL;
		va_end(ap);
		log_error("%s", msg ? msg : fmt);
		free(msg);
	}
	if (usage)
		fputs(usage, stderr);
	*code = EX_USAGE;
	return -1;
}

int command_opts(int argc, char **argv, const struct option *longopts, const char *usage,
		 int (*take)(int c, const char *arg, void *ctx), void *ctx, int *code)
{
	optind = 0; /* 0: glibc re-reads the optstring's ordering mode */
	opterr = 0;
	int c;
	/* "-": arguments that are not options come as c == 1, in order. */
	/* -o FILE is --output FILE wherever there is one (SPEC "Command line") */
	const char *shorts = "-h";
	for (const struct option *lo = longopts; lo->name; lo++)
		if (lo->val == 'o' && !strcmp(lo->name, "output"))
			shorts = "-ho:";
	while ((c = getopt_long(argc, argv, shorts, longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			*code = EX_OK;
			return -1;
		}
		if (c == '?')
			return usage_error(code, usage, "%s: unknown option %s", argv[0], argv[optind - 1]);
		if (take(c, optarg, ctx) < 0)
			return c == 1 ? usage_error(code, usage, "%s: unexpected argument \"%s\"", argv[0], optarg)
				      : usage_error(code, usage, NULL);
	}
	if (optind < argc)
		return usage_error(code, usage, "%s: unexpected argument \"%s\"", argv[0], argv[optind]);
	return 0;
}

static int digits(long long v)
{
	int n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

static void fmt_count(long long v, char *out, size_t n)
{
	if (v < 0)
		snprintf(out, n, "-");
	else
		snprintf(out, n, "%lld", v);
}

void print_table(const struct article *a, size_t n)
{
	int wr = 4, wv = 5, wc = 8;
	for (size_t i = 0; i < n; i++) {
		if (digits((long long)i + 1) > wr)
			wr = digits((long long)i + 1);
		if (a[i].views >= 0 && digits(a[i].views) > wv)
			wv = digits(a[i].views);
		if (a[i].comments >= 0 && digits(a[i].comments) > wc)
			wc = digits(a[i].comments);
	}
	printf("%*s  %*s  %*s  %-16s  %s\n", wr, "rank", wv, "views", wc, "comments", "published", "title");
	for (size_t i = 0; i < n; i++) {
		char views[24], comments[24], when[17];
		fmt_count(a[i].views, views, sizeof views);
		fmt_count(a[i].comments, comments, sizeof comments);
		fmt_time_local(a[i].published, when);
		printf("%*zu  %*s  %*s  %-16s  %s\n", wr, i + 1, wv, views, wc, comments, when, a[i].title);
	}
}

int open_failed(int rc) { return rc == -2 ? EX_TEMPFAIL : EX_CANTCREAT; }

int db_failed(const struct store *st) { return store_busy(st) ? EX_TEMPFAIL : EX_SOFTWARE; }

static int no_take(int c, const char *arg, void *ctx)
{
	(void)c;
	(void)arg;
	(void)ctx;
	return -1;
}

int no_opts(int argc, char **argv, const char *usage, int *code)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, usage, no_take, NULL, code);
}

bool want_progress(void)
{
	return isatty(STDERR_FILENO) && log_get_level() >= LOG_WARN;
}

int open_store(const struct config *cfg, struct store **st)
{
	char *err = NULL;
	int rc = store_open(cfg->storage.database, st, &err);
	if (rc < 0) {
		log_error("%s", err);
		free(err);
		return open_failed(rc);
	}
	store_bounce_policy(*st, cfg->inbound.bounce_threshold, cfg->inbound.bounce_reset_days);
	store_erasure_secret(*st, cfg->newsletter.secret_file);
	return EX_OK;
}

char *command_address(const char *cmd, const char *addr)
{
	char *why = NULL;
	char *norm = address_accept(addr, NULL, &why);
	if (!norm)
		log_error("%s: %s: %s", cmd, addr, why ? why : "invalid address");
	free(why);
	return norm;
}
