/* cmd/run: `digest run`, the daily job: collect, rank, freeze the
 * edition, render it, send it to every active subscriber; one summary
 * line whatever happens. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "digest/deliver.h"
#include "digest/edition.h"
#include "digest/job.h"
#include "digest/log.h"
#include "digest/render.h"
#include "digest/transport.h"

static const char run_usage[] =
	"usage: digest run [--date YYYY-MM-DD] [--dry-run]\n"
	"\n"
	"The daily job: collect, rank, freeze the edition, render it, and send it to\n"
	"every active subscriber. Resumable: a second run of the same edition sends\n"
	"only what the first did not.\n"
	"  --date D   the edition of day D (default today, newsletter time zone)\n"
	"  --dry-run  collect and render, print what would be sent; send nothing,\n"
	"             freeze nothing\n"
	"exit: 0 done, 69 every source unavailable and nothing stored, 75 deferred\n"
	"recipients or the server unreachable (a later run resumes), or another run\n"
	"holds the lock, 78 configuration or template error.\n";

struct run_opts {
	const char *date;
	int dry_run;
};

static int run_take(int c, const char *arg, void *ctx)
{
	struct run_opts *o = ctx;
	if (c == 'd')
		o->date = arg;
	else if (c == 'n')
		o->dry_run = 1;
	else
		return -1;
	return 0;
}

static int parse_run(int argc, char **argv, void *o, int *code)
{
	static const struct option longopts[] = {{"date", required_argument, NULL, 'd'},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, run_usage, run_take, o, code);
}

static void summary(const char *date, size_t articles, const struct delivery_counts *dc,
		    const struct deliver_stats *ds, bool dry)
{
	if (log_get_level() < LOG_ERROR)
		return;
	long long total = dc->sent + dc->failed + dc->pending;
	double rate = ds && ds->seconds > 0 ? (double)(ds->sent + ds->failed) / ds->seconds : 0;
	fprintf(stderr, "edition %s: %zu article%s; %lld subscriber%s: %lld sent, %lld deferred, %lld failed in %.1f s (%.0f msg/s)%s\n",
		date, articles, articles == 1 ? "" : "s", total, total == 1 ? "" : "s", dc->sent, dc->pending,
		dc->failed, ds ? ds->seconds : 0.0, rate, dry ? " (dry run: nothing sent)" : "");
}

/* The summary of a run stopped before it opened the store (a template
 * error, the lock held by another run): the edition's counts as the
 * database has them, without creating it. */
static void early_summary(const struct config *cfg, const char *date, bool dry)
{
	struct delivery_counts dc = {0};
	struct deliver_stats ds = {0};
	size_t n = 0;
	struct store *st = NULL;
	char *err = NULL;
	if (access(cfg->storage.database, F_OK) == 0 && store_open(cfg->storage.database, &st, &err) == 0) {
		struct article *a = NULL;
		if (store_edition_load(st, date, NULL, &a, &n, &err) < 0)
			n = 0;
		articles_free(a, n);
		if (store_delivery_counts(st, date, &dc, &err) < 0)
			memset(&dc, 0, sizeof dc);
	}
	free(err);
	store_close(st);
	summary(date, n, &dc, &ds, dry);
}

/* refusal_exit: the exit of a run the server refused. A login or a
 * certificate will be refused again until someone mends it: not a
 * temporary failure, so that cron's reruns do not knock on the server all
 * day (77 as msmtp, 69). Anything else (our sender, a server without
 * STARTTLS) the next run tries again. */
static int refusal_exit(const struct deliver_stats *ds)
{
	switch (ds->refusal) {
	case TX_REFUSED_LOGIN:
		log_error("fix delivery.smtp.username and the password (delivery.smtp.password_file or "
			  "$DIGEST_SMTP_PASSWORD), then run again");
		return EX_NOPERM;
	case TX_REFUSED_CERTIFICATE:
		log_error("the server's certificate is not trusted for delivery.smtp.host: fix the server's "
			  "certificate, or set delivery.smtp.ca_file to the CA that signed it, then run again");
		return EX_UNAVAILABLE;
	default:
		return EX_TEMPFAIL;
	}
}

static int exec_run(struct config *cfg, const void *opts)
{
	const struct run_opts o = *(const struct run_opts *)opts;
	char *err = NULL;
	struct store *st = NULL;
	struct render *r = NULL;
	struct job_edition ed = {0};
	struct delivery_counts dc = {0};
	struct deliver_stats ds = {0};
	int rc = EX_OK, lock = -1;
	time_t now = time(NULL);
	/* The edition's date is known before anything else, so that even a run
	 * stopped at once says which edition it left. */
	char date[11];
	time_t wfrom, wto;
	if (edition_window(o.date, now, cfg->digest.window_hours, date, &wfrom, &wto) < 0) {
		log_error("run: --date %s: expected a date YYYY-MM-DD, not after today", o.date);
		return EX_USAGE;
	}

	/* Templates first: a broken one stops the run before anything is
	 * fetched or sent. */
	if (render_load(cfg, true, &r, &err) < 0) {
		log_error("%s", err);
		rc = EX_CONFIG;
		goto out;
	}
	if (!o.dry_run) {
		lock = deliver_lock(cfg->storage.database, &err);
		if (lock < 0) {
			log_error("%s", err);
			rc = lock == -2 ? EX_TEMPFAIL : EX_CANTCREAT;
			lock = -1;
			goto out;
		}
	}
	if ((rc = open_store(cfg, &st)) != EX_OK) {
		/* held by another process: the summary would wait for it again */
		if (rc == EX_TEMPFAIL) {
			summary(date, 0, &dc, &ds, o.dry_run);
			goto out_quiet;
		}
		goto out;
	}
	const struct job_want w = {.date = o.date, .now = now, .fetch = true, .freeze = !o.dry_run,
				   .progress = want_progress()};
	int jr = job_edition(cfg, st, &w, &ed, &err);
	if (jr == -2) {
		log_error("run: --date %s: expected a date YYYY-MM-DD, not after today", o.date);
		rc = EX_USAGE;
		goto out;
	}
	if (jr < 0) {
		log_error("%s", err);
		rc = db_failed(st);
		goto summary;
	}
	snprintf(date, sizeof date, "%s", ed.date);
	if (ed.sources_failed)
		log_warn("every source failed; the edition uses the articles stored before");
	if (ed.n == 0 && !cfg->digest.send_empty) {
		log_warn("edition %s: no article in the window; nothing to send", ed.date);
		if (ed.sources_failed)
			rc = EX_UNAVAILABLE;
		if (store_delivery_counts(st, date, &dc, &err) < 0)
			log_error("%s", err);
		/* No edition: the subscribers wait for nothing. */
		dc.pending = 0;
		summary(date, 0, &dc, &ds, false);
		goto out_quiet;
	}
	if (render_edition(r, ed.date, ed.a, ed.n, now, &err) < 0) {
		log_error("%s", err);
		rc = EX_SOFTWARE;
		goto summary;
	}
	if (o.dry_run) {
		print_table(ed.a, ed.n);
		goto summary;
	}
	if (deliver_edition(cfg, st, r, ed.date, want_progress(), &ds, &err) < 0) {
		log_error("%s", err);
		rc = ds.journal_failed ? (store_busy(st) ? EX_TEMPFAIL : EX_SOFTWARE) : refusal_exit(&ds);
	}
summary:
	if (store_delivery_counts(st, date, &dc, &err) < 0) {
		log_error("%s", err);
		rc = rc ? rc : db_failed(st);
		memset(&dc, 0, sizeof dc);
	} else if (rc == EX_OK && dc.pending > 0 && !o.dry_run && (ed.n > 0 || cfg->digest.send_empty)) {
		if (ds.unreachable)
			log_error("the SMTP server is unreachable: %lld recipients wait for the next run", dc.pending);
		rc = EX_TEMPFAIL;
	}
	summary(date, ed.n, &dc, &ds, o.dry_run);
out:
	if (rc != EX_OK && !st)
		early_summary(cfg, date, o.dry_run);
out_quiet:
	job_edition_clear(&ed);
	render_free(r);
	store_close(st);
	if (lock >= 0)
		close(lock);
	free(err);
	return rc;
}


const struct command command_run = {"run", sizeof(struct run_opts), parse_run, exec_run, false};
