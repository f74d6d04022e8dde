/* cmd/inbound: `digest inbound`: mail that came back, from an MTA's pipe
 * (one message), a Maildir, or the inbound block's mailbox (inbound.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "digest/inbound.h"
#include "digest/log.h"
#include "digest/util.h"

static const char inbound_usage[] =
	"usage: digest inbound [FILE|-] | --maildir DIR | --fetch\n"
	"\n"
	"Process mail that came back to the VERP addresses: bounces (scored),\n"
	"complaints and mail unsubscribes (unsubscribed at once), auto-replies\n"
	"(ignored). One message from FILE or stdin (an MTA alias or pipe), every\n"
	"message of a Maildir, or the mailbox of the inbound block (IMAP, POP3).\n"
	"Ends with one line on stderr. Exits 0 when it processed what it read, 65\n"
	"when FILE is not a mail message, 75 when the mailbox cannot be reached,\n"
	"78 for a configuration error.\n";

struct inbound_opts {
	const char *file, *maildir;
	bool fetch;
};

static int inbound_take(int c, const char *arg, void *ctx)
{
	struct inbound_opts *o = ctx;
	switch (c) {
	case 1:
		if (o->file)
			return -1;
		o->file = arg;
		break;
	case 'm': o->maildir = arg; break;
	case 'f': o->fetch = true; break;
	default: return -1;
	}
	return 0;
}

static int parse_inbound(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"maildir", required_argument, NULL, 'm'},
						 {"fetch", no_argument, NULL, 'f'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct inbound_opts *o = opts;
	if (command_opts(argc, argv, longopts, inbound_usage, inbound_take, o, code) < 0)
		return -1;
	if ((o->file != NULL) + (o->maildir != NULL) + o->fetch > 1)
		return usage_error(code, inbound_usage, "inbound: one of FILE, --maildir and --fetch");
	return 0;
}

static int exec_inbound(struct config *cfg, const void *opts)
{
	const struct inbound_opts *o = opts;
	if (o->fetch && (!cfg->inbound.set || !cfg->inbound.host)) {
		log_error("%s: inbound.host: --fetch needs the inbound block with a host", cfg->path);
		return EX_CONFIG;
	}
	/* One message from an MTA (an alias or pipe transport): what is not
	 * the message's fault is temporary, so that the MTA keeps the message
	 * and tries again rather than lose it. */
	bool piped = !o->maildir && !o->fetch;
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return piped ? EX_TEMPFAIL : rc;
	struct inbound in;
	char *err = NULL;
	if (inbound_init(&in, cfg, st, &err) < 0) {
		log_error("%s", err);
		free(err);
		store_close(st);
		return EX_CONFIG;
	}
	int r;
	if (o->maildir) {
		r = inbound_maildir(&in, o->maildir, &err);
		rc = r == 0 ? EX_OK : r == -1 ? EX_NOINPUT : db_failed(st);
	} else if (o->fetch) {
		int why = EX_TEMPFAIL;
		r = inbound_fetch(&in, &why, &err);
		rc = r == 0 ? EX_OK : r == -1 ? why : db_failed(st);
	} else {
		struct buf b = {0};
		const char *path = o->file && strcmp(o->file, "-") ? o->file : NULL;
		FILE *f = path ? fopen(path, "rb") : stdin;
		rc = EX_OK;
		if (!f) {
			err = xasprintf("%s: %s", path, strerror(errno));
			rc = EX_NOINPUT;
		} else {
			char chunk[65536];
			size_t k;
			while ((k = fread(chunk, 1, sizeof chunk, f)) > 0 && b.len <= INBOUND_MAX_MESSAGE)
				buf_add(&b, chunk, k);
			if (ferror(f)) {
				err = xasprintf("%s: %s", path ? path : "stdin", strerror(errno));
				rc = EX_IOERR;
			} else if (b.len > INBOUND_MAX_MESSAGE) {
				err = xasprintf("%s: over %u MB: not a bounce", path ? path : "stdin",
						INBOUND_MAX_MESSAGE >> 20);
				rc = EX_DATAERR;
			}
			if (path)
				fclose(f);
		}
		if (rc == EX_OK) {
			r = inbound_message(&in, b.data ? b.data : "", b.len, NULL, &err);
			if (r == -1) {
				err = xasprintf("%s: not a mail message (no header section)", path ? path : "stdin");
				rc = EX_DATAERR;
			} else if (r == -2) {
				rc = EX_TEMPFAIL;
			}
		}
		buf_free(&b);
	}
	if (err) {
		log_error("%s", err);
		free(err);
	}
	if (rc == EX_OK || in.messages > 0) {
		char line[512];
		inbound_summary(&in, line, sizeof line);
		fprintf(stderr, "%s\n", line);
	}
	inbound_done(&in);
	store_close(st);
	return rc;
}

const struct command command_inbound = {"inbound", sizeof(struct inbound_opts), parse_inbound, exec_inbound, false};
