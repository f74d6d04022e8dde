/* cmd/preview: `digest preview`: the edition rendered for a sample
 * reader, to a file, stdout, or one test address; the journal untouched. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "digest/address.h"
#include "digest/deliver.h"
#include "digest/job.h"
#include "digest/log.h"
#include "digest/render.h"
#include "digest/subscriber.h"
#include "digest/util.h"

static const char preview_usage[] =
	"usage: digest preview [--date D] [--format html|text|eml] [-o FILE] [--to ADDR] [--no-fetch]\n"
	"\n"
	"Render the edition for a sample reader without sending it to the list and\n"
	"without touching the journal.\n"
	"  --format F  html (default), text, or eml: the whole RFC 5322 message\n"
	"  -o FILE     write to FILE instead of stdout\n"
	"  --to ADDR   send one test copy to ADDR through the configured transport\n"
	"  --no-fetch  use the articles already stored\n";

struct preview_opts {
	const char *date, *format, *output, *to;
	int no_fetch;
};

static int preview_take(int c, const char *arg, void *ctx)
{
	struct preview_opts *o = ctx;
	switch (c) {
	case 'd': o->date = arg; break;
	case 'f': o->format = arg; break;
	case 'o': o->output = arg; break;
	case 't': o->to = arg; break;
	case 'n': o->no_fetch = 1; break;
	default: return -1;
	}
	return 0;
}

static int parse_preview(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"date", required_argument, NULL, 'd'},
						 {"format", required_argument, NULL, 'f'},
						 {"output", required_argument, NULL, 'o'},
						 {"to", required_argument, NULL, 't'},
						 {"no-fetch", no_argument, NULL, 'n'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct preview_opts *o = opts;
	if (command_opts(argc, argv, longopts, preview_usage, preview_take, o, code) < 0)
		return -1;
	const char *f = o->format;
	if (f && strcmp(f, "html") && strcmp(f, "text") && strcmp(f, "eml"))
		return usage_error(code, NULL, "preview: --format %s: expected html, text or eml", f);
	return 0;
}

/* Write BODY to PATH (struct outfile: a temporary file renamed into
 * place, or a device written in place) or stdout. */
static int write_output(const char *path, const char *data, size_t len)
{
	struct outfile out;
	char *err = NULL;
	if (outfile_open(&out, path, &err) < 0) {
		log_error("%s", err);
		free(err);
		return EX_CANTCREAT;
	}
	bool ok = fwrite(data, 1, len, out.f) == len;
	if (outfile_close(&out, ok, &err) < 0 || !ok) {
		log_error("writing the preview: %s", err ? err : "output error");
		free(err);
		return EX_IOERR;
	}
	return EX_OK;
}

static int exec_preview(struct config *cfg, const void *opts)
{
	const struct preview_opts o = *(const struct preview_opts *)opts;
	char *err = NULL;
	struct store *st = NULL;
	struct render *r = NULL;
	struct job_edition ed = {0};
	struct buf out = {0};
	int rc = EX_OK;
	char *to = NULL;
	if (o.to) {
		to = address_normalize(o.to, &err);
		if (!to) {
			log_error("preview: --to %s: %s", o.to, err);
			free(err);
			return EX_USAGE;
		}
	}
	if (render_load(cfg, true, &r, &err) < 0) {
		log_error("%s", err);
		rc = EX_CONFIG;
		goto out;
	}
	if ((rc = open_store(cfg, &st)) != EX_OK)
		goto out;
	time_t now = time(NULL);
	const struct job_want w = {.date = o.date, .now = now, .fetch = !o.no_fetch, .progress = want_progress()};
	int jr = job_edition(cfg, st, &w, &ed, &err);
	if (jr == -2) {
		log_error("preview: --date %s: expected a date YYYY-MM-DD, not after today", o.date);
		rc = EX_USAGE;
		goto out;
	}
	if (jr < 0) {
		log_error("%s", err);
		rc = db_failed(st);
		goto out;
	}
	if (ed.n == 0)
		log_warn("edition %s: no article in the window", ed.date);
	if (render_edition(r, ed.date, ed.a, ed.n, now, &err) < 0) {
		log_error("%s", err);
		rc = EX_SOFTWARE;
		goto out;
	}
	struct reader rd;
	render_sample_reader(r, to, &rd);
	struct subscriber sub = {0};
	if (to && store_subscriber_get(st, to, &sub, NULL) == 1) {
		rd.name = sub.name;
		rd.nonce = sub.nonce;
	}
	if (to) {
		rc = deliver_one(cfg, r, &rd, &err);
		if (rc != 0)
			log_error("preview: %s", err);
		else
			log_info("preview: sent a copy of edition %s to %s", ed.date, to);
		rc = rc == 0 ? EX_OK : rc == 1 ? EX_TEMPFAIL : EX_UNAVAILABLE;
		subscriber_clear(&sub);
		goto out;
	}
	const char *f = o.format ? o.format : "html";
	if (!strcmp(f, "eml") && render_message(r, &rd, &out) < 0) {
		subscriber_clear(&sub);
		rc = EX_SOFTWARE;
		goto out;
	} else if (strcmp(f, "eml"))
		render_body(r, !strcmp(f, "html"), &rd, &out);
	subscriber_clear(&sub);
	rc = write_output(o.output, out.data ? out.data : "", out.len);
out:
	free(to);
	buf_free(&out);
	job_edition_clear(&ed);
	render_free(r);
	store_close(st);
	free(err);
	return rc;
}

const struct command command_preview = {"preview", sizeof(struct preview_opts), parse_preview, exec_preview, false};
