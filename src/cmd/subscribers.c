/* cmd/subscribers: `digest subscribers ACTION`: the list as a table or
 * CSV, imports (subscriber.c reads the file, subscription.c owns each
 * line's event), one reader's record (consent.c) and erasure on request
 * (store_erasure.c). Each action is a row of actions[]. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "digest/consent.h"
#include "digest/deliver.h"
#include "digest/log.h"
#include "digest/subscriber.h"
#include "digest/subscription.h"
#include "digest/util.h"

static const char subscribers_usage[] =
	"usage: digest subscribers list|export [-o FILE]\n"
	"       digest subscribers import FILE [--resubscribe] [--dry-run] [--encoding NAME]\n"
	"                                      [--delimiter D]\n"
	"       digest subscribers show ADDR\n"
	"       digest subscribers forget ADDR [--dry-run]\n"
	"\n"
	"list: a table; export: CSV email,name,status; import: CSV with a header\n"
	"(email, name, status columns, also as other mailers name them: Email Address,\n"
	"E-mail, First Name + Last Name, Адрес, ФИО ...; listmonk and Mailchimp exports\n"
	"as they are), or one `Name <addr>`, `addr` or `addr,name` a line, imported as\n"
	"active. Unsubscribed or bouncing addresses stay so unless --resubscribe; an\n"
	"address erased on request is never imported, even so.\n"
	"  --dry-run        read and check everything, print what would change, write\n"
	"                   nothing\n"
	"  --encoding NAME  the file's charset (windows-1251, koi8-r, utf-16 ...; any\n"
	"                   iconv name); default UTF-8; a byte order mark decides\n"
	"  --delimiter D    , ; or tab (default: found from the first line)\n"
	"import exits 64 on a usage error (an unknown encoding), 65 when no line is\n"
	"valid or the text is not in its encoding, 66 when FILE cannot be opened.\n"
	"show: one reader's record: status and since when, bounce score, the consent\n"
	"trail (time, event, client, wording version) and the latest deliveries;\n"
	"exit 67 when no reader has ADDR.\n"
	"forget: erase a reader on request (their row, journal, bounce lines, consents);\n"
	"a keyed hash of the address stays, so that no import brings them back; they\n"
	"may subscribe again themselves. --dry-run says what would go. Exit 67 when\n"
	"ADDR is no subscriber, 75 while a run is sending.\n";

struct subscribers_opts {
	const char *action, *arg, *output;
	int resubscribe;
	int dry_run;                /* import and forget --dry-run */
	const char *delimiter;      /* import --delimiter, as given */
	struct import_opts import;  /* import --encoding, and the delimiter parsed */
};

/* What an action takes besides --help. */
enum {
	TAKES_ARG = 1,         /* FILE or ADDR */
	TAKES_OUTPUT = 2,      /* -o FILE */
	TAKES_RESUBSCRIBE = 4, /* --resubscribe */
	TAKES_IMPORT = 8,      /* --dry-run, --encoding, --delimiter */
	TAKES_DRY_RUN = 16,    /* --dry-run alone */
};

struct action {
	const char *name;
	unsigned takes;
	int (*run)(const struct config *cfg, struct store *st, const struct subscribers_opts *o);
	/* NULL, or whether it runs without opening the database (ST NULL) */
	bool (*without_store)(const struct config *cfg, const struct subscribers_opts *o);
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
	case 'N': o->dry_run = 1; break;
	case 'E': o->import.encoding = arg; break;
	case 'D': o->delimiter = arg; break;
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
	struct store *st;         /* NULL: a dry run with no database yet */
	struct sub_dry *dry;      /* a dry run: what the rows before would have done */
	struct consent_rec proof; /* each line's step: client "import:FILE" */
	bool resubscribe;
	const char *path;
	long long now;
	unsigned long added, updated, unchanged, kept, erased;
	unsigned long batch, committed; /* rows in the open batch; rows committed */
	double batch_start;
	char *err;
};

/* Commits the open batch when it is full or old enough, and opens the
 * next: 0, or -1 with IC->err. */
static int import_batch(struct import_ctx *ic)
{
	if (++ic->batch < IMPORT_BATCH_ROWS && mono_now() - ic->batch_start < IMPORT_BATCH_SECONDS)
		return 0;
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
	return 0;
}

/* One valid line of the file: its event, counted by outcome; a dry run
 * decides it as the import would, over what the lines before would have
 * done, and writes nothing. */
static int import_row(void *ctx, const struct sub_record *r)
{
	struct import_ctx *ic = ctx;
	/* one event a line, within the batch's transaction */
	struct sub_args ev = {.ev = (ic->resubscribe ? SUB_EV_RESUBSCRIBE : SUB_EV_IMPORT) +
				    (r->has_status ? r->status : SUB_ACTIVE),
			      .email = r->email, .name = r->name, .now = ic->now, .consent = &ic->proof};
	struct sub_result res;
	int rc = ic->dry ? subscription_dry(ic->st, ic->dry, &ev, &res, &ic->err)
			 : subscription_apply(ic->st, &ev, &res, &ic->err);
	if (rc < 0)
		return -1;
	switch (res.outcome) {
	case SUB_ADDED: ic->added++; break;
	case SUB_UPDATED: ic->updated++; break;
	case SUB_KEPT: ic->kept++; break;
	case SUB_ERASED:
		/* only the reader brings themselves back (subscription.c) */
		ic->erased++;
		log_error("%s:%d: %s: erased on request; not imported%s", ic->path, r->line, r->email,
			  ic->resubscribe ? ", even with --resubscribe" : "");
		break;
	default: ic->unchanged++; break;
	}
	return ic->dry ? 0 : import_batch(ic);
}

/* A dry run creates no database: none is a store with no one yet. */
static bool import_without_store(const struct config *cfg, const struct subscribers_opts *o)
{
	return o->dry_run && access(cfg->storage.database, F_OK) < 0 && errno == ENOENT;
}

/* In batches (import_row): the lines before a failure stay imported, and
 * a rerun of the same file finds them unchanged. With --dry-run, nothing
 * written and the same line printed, marked as such. */
static int run_import(const struct config *cfg, struct store *st, const struct subscribers_opts *po)
{
	(void)cfg;
	const struct subscribers_opts o = *po;
	char *err = NULL;
	int rc = EX_OK;
	FILE *f = !strcmp(o.arg, "-") ? stdin : fopen(o.arg, "re");
	if (!f) {
		log_error("%s: %s", o.arg, strerror(errno));
		return EX_NOINPUT;
	}
	char *client = xasprintf("import:%s", o.arg);
	struct import_ctx ic = {.st = st, .dry = o.dry_run ? sub_dry_new() : NULL, .proof = {.client = client},
				.resubscribe = o.resubscribe, .path = o.arg, .now = (long long)time(NULL),
				.batch_start = mono_now()};
	unsigned long bad = 0;
	int r = ic.dry ? 0 : store_begin(st, &err);
	bool db_err = r != 0; /* the store failed, not the file */
	if (r == 0)
		r = import_read(f, o.arg, &o.import, import_row, &ic, &bad, &err);
	db_err = db_err || ic.err != NULL;
	if (r != 0 && !err && ic.err) {
		err = ic.err;
		ic.err = NULL;
	}
	unsigned long good = ic.added + ic.updated + ic.unchanged + ic.kept + ic.erased;
	if (r == IMPORT_EDATA) {
		if (!ic.dry)
			store_rollback(st);
		log_error("%s; nothing imported", err);
		rc = EX_DATAERR;
	} else if (r == 0 && good == 0 && bad > 0) {
		if (!ic.dry)
			store_rollback(st);
		log_error("%s: no valid line (%lu bad)", o.arg, bad);
		rc = EX_DATAERR;
	} else if (r != 0 || (!ic.dry && store_commit(st, &err) < 0)) {
		if (!ic.dry)
			store_rollback(st);
		if (ic.committed)
			log_error("%s: %s; the %lu lines before it were imported", o.arg, err ? err : "import failed",
				  ic.committed);
		else
			log_error("%s: %s; nothing imported", o.arg, err ? err : "import failed");
		rc = r == IMPORT_EREAD && !db_err ? EX_IOERR : db_failed(st);
	} else {
		char erased[64] = "";
		if (ic.erased)
			snprintf(erased, sizeof erased, ", %lu skipped: erased on request", ic.erased);
		printf("%s: %lu added, %lu updated, %lu unchanged, %lu kept unsubscribed or bouncing, %lu bad lines%s%s\n",
		       o.arg, ic.added, ic.updated, ic.unchanged, ic.kept, bad, erased,
		       ic.dry ? " (dry run: nothing imported)" : "");
	}
	free(ic.err);
	sub_dry_free(ic.dry);
	free(client);
	if (f != stdin)
		fclose(f);
	free(err);
	return rc;
}

/* list (a table) and export (CSV) */
static int run_list(const struct config *cfg, struct store *st, const struct subscribers_opts *po)
{
	(void)cfg;
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

/* show: one reader's record; EX_NOUSER when no reader has ADDR, EX_DATAERR
 * when it is no address */
static int run_show(const struct config *cfg, struct store *st, const struct subscribers_opts *o)
{
	(void)cfg;
	char *err = NULL;
	/* ADDR as subscribe and unsubscribe take it: found by its identity */
	char *addr = command_address("subscribers show", o->arg);
	if (!addr)
		return EX_DATAERR;
	int found = consent_show(st, addr, stdout, &err);
	int rc = EX_OK;
	if (found < 0) {
		log_error("%s", err);
		rc = db_failed(st);
	} else if (!found) {
		int erased = store_erased(st, addr, NULL);
		log_error("subscribers show: %s: no such subscriber%s", addr,
			  erased == 1 ? " (erased on request: only a hash of the address is kept)" : "");
		rc = EX_NOUSER;
	}
	free(err);
	free(addr);
	return rc; /* an output error: main's */
}

/* forget ADDR: under the run lock (a run holding the reader in memory
 * would fail to journal them), one transaction (store_erasure.c). */
static int run_forget(const struct config *cfg, struct store *st, const struct subscribers_opts *o)
{
	char *err = NULL;
	char *addr = command_address("subscribers forget", o->arg);
	if (!addr)
		return EX_DATAERR;
	int lock = -1, rc = EX_OK;
	if (!o->dry_run && (lock = deliver_lock(cfg->storage.database, &err)) < 0) {
		log_error("subscribers forget: %s", err);
		rc = lock == -2 ? EX_TEMPFAIL : EX_CANTCREAT;
		lock = -1;
		goto out;
	}
	struct forget_stats fs;
	int r = store_subscriber_forget(st, addr, (long long)time(NULL), o->dry_run, &fs, &err);
	if (r < 0) {
		log_error("subscribers forget: %s", err);
		rc = db_failed(st);
	} else if (r == 0) {
		log_error("subscribers forget: %s is not a subscriber; nothing erased", addr);
		rc = EX_NOUSER;
	} else if (r == 2) {
		printf("%s: already erased; only a hash of the address is kept\n", addr);
	} else {
		printf("%s: %s (the subscriber; journal rows %lld, bounce lines %lld, old spellings %lld, consents "
		       "%lld); %s a hash of the address, so that no import brings them back\n",
		       addr, o->dry_run ? "would be erased" : "erased", fs.deliveries, fs.bounces, fs.aliases,
		       fs.consents, o->dry_run ? "would keep" : "kept");
		if (fs.wal_kept)
			log_warn("subscribers forget: another process holds the database's write-ahead log; the old "
				 "pages in it go at its next checkpoint");
	}
out:
	if (lock >= 0)
		close(lock);
	free(addr);
	free(err);
	return rc;
}

static const struct action actions[] = {
	{"list", TAKES_OUTPUT, run_list, NULL},
	{"export", TAKES_OUTPUT, run_list, NULL},
	{"import", TAKES_ARG | TAKES_RESUBSCRIBE | TAKES_IMPORT, run_import, import_without_store},
	{"show", TAKES_ARG, run_show, NULL},
	{"forget", TAKES_ARG | TAKES_DRY_RUN, run_forget, NULL},
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
						 {"dry-run", no_argument, NULL, 'N'},
						 {"encoding", required_argument, NULL, 'E'},
						 {"delimiter", required_argument, NULL, 'D'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct subscribers_opts *o = opts;
	if (command_opts(argc, argv, longopts, subscribers_usage, subscribers_take, o, code) < 0)
		return -1;
	const struct action *a = action_named(o->action);
	if (!a && o->action)
		return usage_error(code, subscribers_usage, "subscribers: unknown action \"%s\"", o->action);
	if (!a || !(a->takes & TAKES_ARG) != !o->arg || (o->output && !(a->takes & TAKES_OUTPUT)) ||
	    (o->resubscribe && !(a->takes & TAKES_RESUBSCRIBE)) ||
	    (o->dry_run && !(a->takes & (TAKES_IMPORT | TAKES_DRY_RUN))) ||
	    ((o->import.encoding || o->delimiter) && !(a->takes & TAKES_IMPORT)))
		return usage_error(code, subscribers_usage, NULL);
	char *err = NULL;
	if (o->import.encoding && import_encoding_check(o->import.encoding, &err) < 0) {
		int rc = usage_error(code, subscribers_usage, "subscribers import: --encoding: %s (`iconv -l` lists them)",
				     err);
		free(err);
		return rc;
	}
	if (o->delimiter && import_delimiter_parse(o->delimiter, &o->import.delimiter) < 0)
		return usage_error(code, subscribers_usage,
				   "subscribers import: --delimiter: expected \",\", \";\" or \"tab\", not \"%s\"", o->delimiter);
	return 0;
}

static int exec_subscribers(struct config *cfg, const void *opts)
{
	const struct subscribers_opts *o = opts;
	const struct action *a = action_named(o->action);
	struct store *st = NULL;
	if (!a->without_store || !a->without_store(cfg, o)) {
		int rc = open_store(cfg, &st);
		if (rc != EX_OK)
			return rc;
	}
	int rc = a->run(cfg, st, o);
	store_close(st);
	return rc;
}

const struct command command_subscribers = {"subscribers", sizeof(struct subscribers_opts), parse_subscribers,
					     exec_subscribers, false};
