/* cmd/subscribers: `digest subscribers ACTION`: the list as a table or
 * CSV, and imports (subscriber.c reads the file, subscription.c owns each
 * line's event). Each action is a row of actions[]. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "digest/log.h"
#include "digest/subscriber.h"
#include "digest/subscription.h"
#include "digest/util.h"

static const char subscribers_usage[] =
	"usage: digest subscribers list|export [-o FILE]\n"
	"       digest subscribers import FILE [--resubscribe]\n"
	"\n"
	"list: a table; export: CSV email,name,status; import: CSV with a header\n"
	"(email, name, status columns) or one `Name <addr>` / `addr` a line, imported\n"
	"as active. Unsubscribed or bouncing addresses stay so unless --resubscribe.\n";

struct subscribers_opts {
	const char *action, *arg, *output;
	int resubscribe;
};

/* What an action takes besides --help. */
enum {
	TAKES_ARG = 1,         /* FILE or ADDR */
	TAKES_OUTPUT = 2,      /* -o FILE */
	TAKES_RESUBSCRIBE = 4, /* --resubscribe */
};

struct action {
	const char *name;
	unsigned takes;
	int (*run)(struct store *st, const struct subscribers_opts *o);
};

static int subscribers_take(int c, const char *arg, void *ctx)
{
	struct subscribers_opts *o = ctx;
	switch (c) {
	case 1:
		if (!o->action)
			o->action = arg;
		else if (!o->arg)
			o->arg = arg;
		else
			return -1;
		break;
	case 'r': o->resubscribe = 1; break;
	case 'o': o->output = arg; break;
	default: return -1;
	}
	return 0;
}

struct list_ctx {
	FILE *f;
	bool csv;
};

static int list_row(void *ctx, const struct subscriber *s)
{
	struct list_ctx *l = ctx;
	if (l->csv) {
		csv_field(l->f, s->email);
		fputc(',', l->f);
		csv_field(l->f, s->name ? s->name : "");
		fprintf(l->f, ",%s\n", sub_status_name(s->status));
	} else {
		char since[17];
		fmt_time_local(s->status_at, since);
		fprintf(l->f, "%-40s  %-12s  %-16s  %s\n", s->email, sub_status_name(s->status), since,
			s->name ? s->name : "");
	}
	return ferror(l->f) ? -1 : 0;
}

/* An import commits every IMPORT_BATCH_ROWS rows or IMPORT_BATCH_SECONDS,
 * whichever comes first: a run sending meanwhile waits for the database
 * at most that long (its busy timeout is far longer), where one
 * transaction for a million lines held it for half a minute. Each batch
 * is whole: a failure loses the batch it happened in, never part of one. */
#define IMPORT_BATCH_ROWS 1000
#define IMPORT_BATCH_SECONDS 0.05

struct import_ctx {
	struct store *st;
	bool resubscribe;
	long long now;
	unsigned long added, updated, unchanged, kept;
	unsigned long batch, committed; /* rows in the open batch; rows committed */
	double batch_start;
	char *err;
};

static int import_row(void *ctx, const struct sub_record *r)
{
	struct import_ctx *ic = ctx;
	/* one event a line, within the batch's transaction */
	struct sub_args ev = {.ev = (ic->resubscribe ? SUB_EV_RESUBSCRIBE : SUB_EV_IMPORT) +
				    (r->has_status ? r->status : SUB_ACTIVE),
			      .email = r->email, .name = r->name, .now = ic->now};
	struct sub_result res;
	if (subscription_apply(ic->st, &ev, &res, &ic->err) < 0)
		return -1;
	switch (res.outcome) {
	case SUB_ADDED: ic->added++; break;
	case SUB_UPDATED: ic->updated++; break;
	case SUB_KEPT: ic->kept++; break;
	default: ic->unchanged++; break;
	}
	if (++ic->batch >= IMPORT_BATCH_ROWS || mono_now() - ic->batch_start >= IMPORT_BATCH_SECONDS) {
		if (store_commit(ic->st, &ic->err) < 0)
			return -1;
		ic->committed += ic->batch;
		ic->batch = 0;
		/* Others wait for the database by polling it (SQLite's busy
		 * handler sleeps up to 100 ms between tries): a lock taken
		 * again at once would starve them. A pause of 5 to 20 ms,
		 * jittered so as never to beat in step with their polls, gives
		 * each poll about one chance in five. */
		long ms = 5 + (long)(mono_now() * 1e6) % 16;
		struct timespec pause = {.tv_sec = 0, .tv_nsec = ms * 1000000L};
		nanosleep(&pause, NULL);
		if (store_begin(ic->st, &ic->err) < 0)
			return -1;
		ic->batch_start = mono_now();
	}
	return 0;
}

static int run_import(struct store *st, const struct subscribers_opts *po)
{
	const struct subscribers_opts o = *po;
	char *err = NULL;
	int rc = EX_OK;
	FILE *f = !strcmp(o.arg, "-") ? stdin : fopen(o.arg, "re");
	if (!f) {
		log_error("%s: %s", o.arg, strerror(errno));
		return EX_NOINPUT;
	}
	struct import_ctx ic = {.st = st, .resubscribe = o.resubscribe, .now = (long long)time(NULL),
				.batch_start = mono_now()};
	unsigned long bad = 0;
	/* In batches (import_row): the lines before a failure stay
	 * imported, and a rerun of the same file finds them unchanged. */
	int r = store_begin(st, &err);
	if (r == 0)
		r = import_read(f, o.arg, import_row, &ic, &bad, &err);
	if (r != 0 && !err && ic.err) {
		err = ic.err;
		ic.err = NULL;
	}
	unsigned long good = ic.added + ic.updated + ic.unchanged + ic.kept;
	if (r == 0 && good == 0 && bad > 0) {
		store_rollback(st);
		log_error("%s: no valid line (%lu bad)", o.arg, bad);
		rc = EX_DATAERR;
	} else if (r != 0 || store_commit(st, &err) < 0) {
		store_rollback(st);
		if (ic.committed)
			log_error("%s: %s; the %lu lines before it were imported", o.arg,
				  err ? err : "import failed", ic.committed);
		else
			log_error("%s: %s; nothing imported", o.arg, err ? err : "import failed");
		rc = db_failed(st);
	} else {
		printf("%s: %lu added, %lu updated, %lu unchanged, %lu kept unsubscribed or bouncing, %lu bad lines\n",
		       o.arg, ic.added, ic.updated, ic.unchanged, ic.kept, bad);
	}
	free(ic.err);
	if (f != stdin)
		fclose(f);
	free(err);
	return rc;
}

/* list (a table) and export (CSV) */
static int run_list(struct store *st, const struct subscribers_opts *po)
{
	const struct subscribers_opts o = *po;
	char *err = NULL;
	int rc;
	bool csv = !strcmp(o.action, "export");
	struct outfile out;
	if (outfile_open(&out, o.output, &err) < 0) {
		log_error("%s", err);
		free(err);
		return EX_CANTCREAT;
	}
	FILE *f = out.f;
	struct list_ctx lc = {.f = f, .csv = csv};
	if (csv)
		fprintf(f, "email,name,status\n");
	else
		fprintf(f, "%-40s  %-12s  %-16s  %s\n", "email", "status", "since", "name");
	int r = store_subscribers_each(st, -1, list_row, &lc, &err);
	if (r < 0 && err)
		log_error("%s", err);
	free(err);
	err = NULL;
	int werr = outfile_close(&out, r == 0, &err) < 0;
	if (werr)
		log_error("%s", err);
	rc = r != 0 ? db_failed(st) : werr ? EX_IOERR : EX_OK;
	free(err);
	return rc;
}

static const struct action actions[] = {
	{"list", TAKES_OUTPUT, run_list},
	{"export", TAKES_OUTPUT, run_list},
	{"import", TAKES_ARG | TAKES_RESUBSCRIBE, run_import},
};

static const struct action *action_named(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_LEN(actions); i++)
		if (!strcmp(actions[i].name, name))
			return &actions[i];
	return NULL;
}

static int parse_subscribers(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"resubscribe", no_argument, NULL, 'r'},
						 {"output", required_argument, NULL, 'o'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct subscribers_opts *o = opts;
	if (command_opts(argc, argv, longopts, subscribers_usage, subscribers_take, o, code) < 0)
		return -1;
	const struct action *a = action_named(o->action);
	if (!a && o->action)
		return usage_error(code, subscribers_usage, "subscribers: unknown action \"%s\"", o->action);
	if (!a || !(a->takes & TAKES_ARG) != !o->arg || (o->output && !(a->takes & TAKES_OUTPUT)) ||
	    (o->resubscribe && !(a->takes & TAKES_RESUBSCRIBE)))
		return usage_error(code, subscribers_usage, NULL);
	return 0;
}

static int exec_subscribers(struct config *cfg, const void *opts)
{
	const struct subscribers_opts *o = opts;
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
	rc = action_named(o->action)->run(st, o);
	store_close(st);
	return rc;
}

const struct command command_subscribers = {"subscribers", sizeof(struct subscribers_opts), parse_subscribers,
					     exec_subscribers, false};
