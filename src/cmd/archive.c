/* cmd/archive: `digest archive -o DIR`: the archive of sent editions as
 * static files (archive.c). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>

#include "cmd.h"
#include "digest/archive.h"
#include "digest/log.h"

struct archive_opts {
	const char *output;
};

static const char archive_usage[] =
	"usage: digest archive -o DIR\n"
	"\n"
	"Write the archive of sent editions as static files, the pages and feed\n"
	"that `digest serve` answers under /archive, with links under\n"
	"newsletter.base_url: DIR/index.html (the latest 30 editions),\n"
	"DIR/page/N/index.html (older ones), DIR/YYYY-MM-DD/index.html (one\n"
	"edition) and DIR/archive.atom (the feed). Only files whose content changed\n"
	"are written, each through a temporary file renamed into place.\n"
	"  -o, --output DIR  where (created as needed)\n";

static int archive_take(int c, const char *arg, void *ctx)
{
	struct archive_opts *o = ctx;
	if (c != 'o')
		return -1;
	o->output = arg;
	return 0;
}

static int parse_archive(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct archive_opts *o = opts;
	if (command_opts(argc, argv, longopts, archive_usage, archive_take, o, code) < 0)
		return -1;
	if (!o->output || !*o->output)
		return usage_error(code, archive_usage, "archive: -o DIR is required");
	return 0;
}

static int exec_archive(struct config *cfg, const void *opts)
{
	struct archive *ar = NULL;
	char *err = NULL;
	if (archive_load(cfg, &ar, &err) < 0) {
		log_error("%s", err);
		free(err);
		return EX_CONFIG;
	}
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK) {
		archive_free(ar);
		return rc;
	}
	struct archive_export_stats es;
	if (archive_export(ar, st, ((const struct archive_opts *)opts)->output, &es, &err) < 0) {
		log_error("archive: %s", err);
		free(err);
		rc = store_busy(st) ? EX_TEMPFAIL : EX_CANTCREAT;
	} else {
		log_info("archive: %lld editions, %lld index pages: %lld files written, %lld unchanged", es.editions,
			 es.pages, es.written, es.unchanged);
	}
	archive_free(ar);
	store_close(st);
	return rc;
}

const struct command command_archive = {"archive", sizeof(struct archive_opts), parse_archive, exec_archive, false};
