/* main: the command line; maps every failure to a sysexits code. */
#define _GNU_SOURCE
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "digest/collect.h"
#include "digest/config.h"
#include "digest/edition.h"
#include "digest/extract.h"
#include "digest/fetch.h"
#include "digest/log.h"
#include "digest/store.h"
#include "digest/util.h"
#include "digest/version.h"

static const char usage_text[] =
	"usage: digest [-c FILE] [-v|-q] COMMAND [OPTIONS]\n"
	"\n"
	"A daily email digest: collects a news site's articles, ranks them by views.\n"
	"\n"
	"commands:\n"
	"  collect [--all] [--date YYYY-MM-DD]\n"
	"                  fetch and store articles; print the edition's selection\n"
	"  check-config    load and validate the configuration, report every problem\n"
	"\n"
	"options:\n"
	"  -c, --config FILE  configuration (default: $DIGEST_CONFIG, else ./digest.conf)\n"
	"  -v, --verbose      say more (twice: debug)\n"
	"  -q, --quiet        errors only... and not even those\n"
	"  -h, --help         this help; COMMAND --help for a command's\n"
	"  -V, --version      the version\n"
	"\n"
	"exit codes (sysexits): 0 done, 64 usage, 69 every source unavailable,\n"
	"70 internal error, 73 database cannot be created, 78 configuration error.\n";

static const char collect_usage[] =
	"usage: digest collect [--all] [--date YYYY-MM-DD]\n"
	"\n"
	"Fetch every source of digest.conf, store its articles, and print the\n"
	"edition's selection ranked: rank, views, comments, published, title.\n"
	"  --all     print every candidate of the edition, not only the selection\n"
	"  --date D  the edition of day D (default today, newsletter time zone)\n";

static const char check_usage[] =
	"usage: digest check-config\n"
	"\n"
	"Load and validate digest.conf; print every problem as FILE:LINE: key: problem.\n"
	"Exits 0 when the configuration is usable, 78 when it is not.\n";

static const char *config_path(const char *opt)
{
	if (opt)
		return opt;
	const char *env = getenv("DIGEST_CONFIG");
	return env && *env ? env : "digest.conf";
}

/* Parse a command's options; returns -1 after printing help (*CODE 0) or a
 * usage error (*CODE 64). */
static int command_opts(int argc, char **argv, const struct option *longopts, const char *usage,
			int (*take)(int c, const char *arg, void *ctx), void *ctx, int *code)
{
	optind = 1;
	opterr = 0;
	int c;
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (c == 'h') {
			fputs(usage, stdout);
			*code = EX_OK;
			return -1;
		}
		if (c == '?' || take(c, optarg, ctx) < 0) {
			if (c == '?')
				log_error("%s: unknown option %s", argv[0], argv[optind - 1]);
			fputs(usage, stderr);
			*code = EX_USAGE;
			return -1;
		}
	}
	if (optind < argc) {
		log_error("%s: unexpected argument \"%s\"", argv[0], argv[optind]);
		fputs(usage, stderr);
		*code = EX_USAGE;
		return -1;
	}
	return 0;
}

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

static void print_table(const struct article *a, size_t n)
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

/* A command's options, parsed before the configuration is read so that a
 * usage error is reported as one whatever the configuration holds. */
union opts {
	struct collect_opts collect;
};

static int parse_collect(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"all", no_argument, NULL, 'a'},
						 {"date", required_argument, NULL, 'd'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, collect_usage, collect_take, &o->collect, code);
}

static int cmd_collect(struct config *cfg, const union opts *opts)
{
	const struct collect_opts o = opts->collect;
	time_t now = time(NULL), from, to;
	char edition[11];
	if (edition_window(o.date, now, cfg->digest.window_hours, edition, &from, &to) < 0) {
		log_error("collect: --date %s: expected a date YYYY-MM-DD, not after today", o.date);
		return EX_USAGE;
	}
	struct store *st = NULL;
	char *err = NULL;
	if (store_open(cfg->storage.database, &st, &err) < 0) {
		log_error("%s", err);
		free(err);
		return EX_CANTCREAT;
	}
	struct collect_stats stats;
	bool progress = isatty(STDERR_FILENO) && log_get_level() >= LOG_WARN;
	int rc = EX_OK;
	if (collect_run(cfg, st, now, from, progress, &stats, &err) < 0) {
		log_error("%s", err);
		rc = EX_SOFTWARE;
		goto out;
	}
	log_info("%d sources (%d failed), %d pages, %d article pages, %d articles", stats.sources,
		 stats.failed, stats.pages, stats.followed, stats.articles);
	if (stats.sources > 0 && stats.failed == stats.sources) {
		log_error("every source failed; nothing collected");
		rc = EX_UNAVAILABLE;
		goto out;
	}
	struct article *cands = NULL;
	size_t n = 0;
	if (store_candidates(st, edition, from, to, &cands, &n, &err) < 0) {
		log_error("%s", err);
		rc = EX_SOFTWARE;
		goto out;
	}
	edition_rank(cands, n);
	size_t k = edition_select(cands, n, cfg->digest.max_articles, cfg->digest.min_views);
	if ((o.all ? n : k) == 0)
		log_warn("edition %s: no article in the window", edition);
	print_table(cands, o.all ? n : k);
	articles_free(cands, n);
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_error("writing the table: output error");
		rc = rc ? rc : EX_IOERR;
	}
	free(err);
	store_close(st);
	return rc;
}

static int no_take(int c, const char *arg, void *ctx)
{
	(void)c;
	(void)arg;
	(void)ctx;
	return -1;
}

static int parse_check_config(int argc, char **argv, union opts *o, int *code)
{
	(void)o;
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, check_usage, no_take, NULL, code);
}

static int cmd_check_config(struct config *cfg, const union opts *o)
{
	(void)o;
	printf("%s: ok (%d source%s)\n", cfg->path, cfg->nsources, cfg->nsources == 1 ? "" : "s");
	return EX_OK;
}

struct command {
	const char *name;
	int (*parse)(int argc, char **argv, union opts *o, int *code);
	int (*run)(struct config *cfg, const union opts *o);
};

static const struct command commands[] = {
	{"collect", parse_collect, cmd_collect},
	{"check-config", parse_check_config, cmd_check_config},
};

/* Commands of the contract that this version does not have yet. */
static const char *const planned[] = {"run", "preview", "subscribe", "unsubscribe", "subscribers",
				      "serve", "status"};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
						 {"verbose", no_argument, NULL, 'v'},
						 {"quiet", no_argument, NULL, 'q'},
						 {"help", no_argument, NULL, 'h'},
						 {"version", no_argument, NULL, 'V'},
						 {NULL, 0, NULL, 0}};
	const char *conf = NULL;
	int level = LOG_WARN;
	int c;
	opterr = 0;
	signal(SIGPIPE, SIG_IGN);
	while ((c = getopt_long(argc, argv, "+c:vqhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			conf = optarg;
			break;
		case 'v':
			level = level < LOG_INFO ? LOG_INFO : LOG_DEBUG;
			break;
		case 'q':
			level = LOG_QUIET;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return EX_OK;
		case 'V':
			printf("digest %s\n", DIGEST_VERSION);
			return EX_OK;
		default:
			log_error("unknown option %s", argv[optind - 1]);
			fputs(usage_text, stderr);
			return EX_USAGE;
		}
	}
	log_set_level(level);
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return EX_USAGE;
	}
	const char *name = argv[optind];
	const struct command *cmd = NULL;
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (!strcmp(name, commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
		for (size_t i = 0; i < ARRAY_LEN(planned); i++) {
			if (!strcmp(name, planned[i])) {
				log_error("%s: not available in digest %s yet", name, DIGEST_VERSION);
				return EX_SOFTWARE;
			}
		}
		log_error("unknown command \"%s\" (see digest --help)", name);
		return EX_USAGE;
	}
	union opts opts;
	memset(&opts, 0, sizeof opts);
	int code = EX_OK;
	if (cmd->parse(argc - optind, argv + optind, &opts, &code) < 0)
		return code;

	if (fetch_global_init() < 0) {
		log_error("cannot initialize libcurl");
		return EX_SOFTWARE;
	}
	extract_init();
	struct config *cfg = NULL;
	int rc;
	if (config_load(config_path(conf), &cfg) < 0) {
		rc = EX_CONFIG;
	} else {
		config_apply_timezone(cfg);
		rc = cmd->run(cfg, &opts);
	}
	config_free(cfg);
	extract_cleanup();
	fetch_global_cleanup();
	return rc;
}
