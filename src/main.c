/* main: the command line; maps every failure to a sysexits code. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "digest/collect.h"
#include "digest/consent.h"
#include "digest/config.h"
#include "digest/deliver.h"
#include "digest/dkim.h"
#include "digest/edition.h"
#include "digest/extract.h"
#include "digest/fetch.h"
#include "digest/job.h"
#include "digest/log.h"
#include "digest/render.h"
#include "digest/store.h"
#include "digest/serve.h"
#include "digest/address.h"
#include "digest/archive.h"
#include "digest/subscriber.h"
#include "digest/subscription.h"
#include "digest/optin.h"
#include "digest/page.h"
#include "digest/preflight.h"
#include "digest/http.h"
#include "digest/inbound.h"
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
	"  run [--date YYYY-MM-DD] [--dry-run]\n"
	"                  the daily job: collect, rank, render, send to every subscriber\n"
	"  preview [--date D] [--format html|text|eml] [-o FILE] [--to ADDR] [--no-fetch]\n"
	"                  render the edition without sending it to the list\n"
	"  status          recent editions with their delivery counts, subscribers\n"
	"  subscribe ADDR [--name NAME] [--confirmed]\n"
	"  unsubscribe ADDR\n"
	"  subscribers list|export [-o FILE] | import FILE [--resubscribe] | show ADDR\n"
	"  serve [--listen HOST:PORT]\n"
	"                  the web endpoint: subscribe, confirm, unsubscribe, preview\n"
	"  check-config [--connect]\n"
	"                  validate the configuration and templates; warn about what\n"
	"                  makes real mail unusable; --connect: try the SMTP server\n"
	"  dkim-keygen SELECTOR [--type rsa|ed25519] [-o FILE]\n"
	"                  write a new DKIM key (0600) and print its DNS TXT record\n"
	"  inbound [FILE|-] | --maildir DIR | --fetch\n"
	"                  process mail that came back: bounces, complaints, unsubscribes\n"
	"  bounces [--days N]\n"
	"                  what came back lately\n"
	"  archive -o DIR  write the archive of sent editions as static files\n"
	"\n"
	"options:\n"
	"  -c, --config FILE  configuration (default: $DIGEST_CONFIG, else ./digest.conf)\n"
	"  -v, --verbose      say more (twice: debug)\n"
	"  -q, --quiet        errors only\n"
	"  -h, --help         this help; COMMAND --help for a command's\n"
	"  -V, --version      the version\n"
	"\n"
	"exit codes (sysexits): 0 done, 64 usage, 65 bad input data, 69 every source\n"
	"unavailable or the SMTP server's certificate refused, 70 internal error,\n"
	"73 database cannot be created, 75 temporary failure (a later run resumes;\n"
	"also the database locked by another process), 77 the SMTP login refused,\n"
	"78 configuration or template error.\n";

static const char collect_usage[] =
	"usage: digest collect [--all] [--date YYYY-MM-DD]\n"
	"\n"
	"Fetch every source of digest.conf, store its articles, and print the\n"
	"edition's selection ranked: rank, views, comments, published, title.\n"
	"  --all     print every candidate of the edition, not only the selection\n"
	"  --date D  the edition of day D (default today, newsletter time zone)\n";

static const char check_usage[] =
	"usage: digest check-config [--connect]\n"
	"\n"
	"Load and validate digest.conf; print every problem as FILE:LINE: key: problem.\n"
	"With transport smtp, also warn about settings that make real mail unusable\n"
	"(base_url not https or on this machine, a localhost From, a helo that is no\n"
	"fully qualified name, no DKIM or a DKIM domain not aligned with From).\n"
	"  --connect  also open the SMTP connection as a run would (TLS verified, AUTH)\n"
	"             and say what the server offers; nothing is sent\n"
	"Exits 0 when the configuration is usable, 78 when it is not; with --connect\n"
	"75 when the server cannot be reached, 77 a refused login, 69 a refused\n"
	"certificate.\n";

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
		if (c == '?' || take(c, optarg, ctx) < 0) {
			if (c == '?')
				log_error("%s: unknown option %s", argv[0], argv[optind - 1]);
			else if (c == 1)
				log_error("%s: unexpected argument \"%s\"", argv[0], optarg);
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
struct run_opts {
	const char *date;
	int dry_run;
};

struct preview_opts {
	const char *date, *format, *output, *to;
	int no_fetch;
};

struct sub_opts {
	const char *addr, *name, *output, *action, *file;
	int confirmed, resubscribe;
};

struct serve_opts {
	const char *listen;
};

struct archive_opts {
	const char *output;
};

struct check_opts {
	bool connect;
};

struct inbound_opts {
	const char *file, *maildir;
	bool fetch;
	int days; /* bounces */
};

union opts {
	struct check_opts check;
	struct collect_opts collect;
	struct run_opts run;
	struct preview_opts preview;
	struct sub_opts sub;
	struct serve_opts serve;
	struct archive_opts archive;
	struct inbound_opts inbound;
};

/* The exit code of a store_open that returned RC: another process holding
 * the database is a temporary failure, anything else means it cannot be
 * created or used. */
static int open_failed(int rc) { return rc == -2 ? EX_TEMPFAIL : EX_CANTCREAT; }

/* The exit code of a failed store operation on ST: temporary when another
 * process held the database past the wait, else internal. */
static int db_failed(const struct store *st) { return store_busy(st) ? EX_TEMPFAIL : EX_SOFTWARE; }

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
	int st_rc = store_open(cfg->storage.database, &st, &err);
	if (st_rc < 0) {
		log_error("%s", err);
		free(err);
		return open_failed(st_rc);
	}
	struct collect_stats stats;
	bool progress = isatty(STDERR_FILENO) && log_get_level() >= LOG_WARN;
	int rc = EX_OK;
	if (collect_run(cfg, st, now, from, progress, &stats, &err) < 0) {
		log_error("%s", err);
		rc = db_failed(st);
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
		rc = db_failed(st);
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

/* The parser of a command that takes no option but --help. */
static int no_opts(int argc, char **argv, const char *usage, int *code)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, usage, no_take, NULL, code);
}

static int check_take(int c, const char *arg, void *ctx)
{
	(void)arg;
	if (c != 'C')
		return -1;
	((struct check_opts *)ctx)->connect = true;
	return 0;
}

static int parse_check_config(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"connect", no_argument, NULL, 'C'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, check_usage, check_take, &o->check, code);
}

static int cmd_check_config(struct config *cfg, const union opts *o)
{
	struct render *r = NULL;
	struct pages *pg = NULL;
	char *err = NULL;
	int bad = 0;
	/* A templates directory that cannot be read is said once, where it
	 * is named (preflight_check), rather than once for each template. */
	const bool templates = !cfg->templates.dir_set || access(cfg->templates.dir, R_OK | X_OK) == 0;
	/* Every template, each problem reported. */
	if (!templates) {
		bad++;
	} else if (render_load(cfg, false, &r, &err) < 0 || render_load_confirm(r, &err) < 0) {
		log_error("%s", err);
		bad++;
	}
	free(err);
	err = NULL;
	/* the archive's templates (its own loading of the digest's reported
	 * above already) */
	struct archive *ar = NULL;
	if (!bad && archive_load(cfg, &ar, &err) < 0) {
		log_error("%s", err);
		bad++;
	}
	archive_free(ar);
	free(err);
	err = NULL;
	if (templates && page_load(cfg, &pg, &err) < 0) {
		log_error("%s", err);
		bad++;
	}
	render_free(r);
	page_free(pg);
	free(err);
	err = NULL;
	int warnings = 0;
	bad += preflight_check(cfg, &warnings);
	if (bad)
		return EX_CONFIG;
	if (o->check.connect) {
		char *report = NULL;
		int why = 0;
		if (preflight_connect(cfg, &report, &why, &err) < 0) {
			log_error("%s", err);
			free(err);
			return why == 1 ? EX_NOPERM : why == 2 ? EX_UNAVAILABLE : why == 3 ? EX_CONFIG : EX_TEMPFAIL;
		}
		printf("%s\n", report);
		free(report);
	}
	printf("%s: ok (%d source%s%s)\n", cfg->path, cfg->nsources, cfg->nsources == 1 ? "" : "s",
	       warnings ? warnings == 1 ? ", 1 warning" : ", warnings above" : "");
	return EX_OK;
}

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

static const char preview_usage[] =
	"usage: digest preview [--date D] [--format html|text|eml] [-o FILE] [--to ADDR] [--no-fetch]\n"
	"\n"
	"Render the edition for a sample reader without sending it to the list and\n"
	"without touching the journal.\n"
	"  --format F  html (default), text, or eml: the whole RFC 5322 message\n"
	"  -o FILE     write to FILE instead of stdout\n"
	"  --to ADDR   send one test copy to ADDR through the configured transport\n"
	"  --no-fetch  use the articles already stored\n";

static const char status_usage[] =
	"usage: digest status\n"
	"\n"
	"Recent editions with their delivery counts, and subscribers by status.\n";

static const char subscribe_usage[] =
	"usage: digest subscribe ADDR [--name NAME] [--confirmed]\n"
	"\n"
	"Add a subscriber: pending, and sent the confirmation mail (again, when\n"
	"pending already); an address that had left is asked to confirm anew.\n"
	"--confirmed makes it active at once, without a mail.\n"
	"exit: 0 done, 65 a bad address, 69 the server refused the address, 75 the\n"
	"mail was deferred (`digest serve` tries again), 78 a template error\n";

static const char unsubscribe_usage[] =
	"usage: digest unsubscribe ADDR\n"
	"\n"
	"Stop sending to ADDR; it stays known as unsubscribed and is never re-added\n"
	"by an import without --resubscribe.\n";

static const char subscribers_usage[] =
	"usage: digest subscribers list|export [-o FILE]\n"
	"       digest subscribers import FILE [--resubscribe]\n"
	"       digest subscribers show ADDR\n"
	"\n"
	"list: a table; export: CSV email,name,status; import: CSV with a header\n"
	"(email, name, status columns) or one `Name <addr>` / `addr` a line, imported\n"
	"as active. Unsubscribed or bouncing addresses stay so unless --resubscribe.\n"
	"show: one reader's record: status and since when, bounce score, the consent\n"
	"trail (time, event, client, wording version) and the latest deliveries;\n"
	"exit 67 when no reader has ADDR.\n";

static bool want_progress(void)
{
	return isatty(STDERR_FILENO) && log_get_level() >= LOG_WARN;
}

static int open_store(const struct config *cfg, struct store **st)
{
	char *err = NULL;
	int rc = store_open(cfg->storage.database, st, &err);
	if (rc < 0) {
		log_error("%s", err);
		free(err);
		return open_failed(rc);
	}
	store_bounce_policy(*st, cfg->inbound.bounce_threshold, cfg->inbound.bounce_reset_days);
	return EX_OK;
}

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

static int parse_run(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"date", required_argument, NULL, 'd'},
						 {"dry-run", no_argument, NULL, 'n'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, run_usage, run_take, &o->run, code);
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

static int cmd_run(struct config *cfg, const union opts *opts)
{
	const struct run_opts o = opts->run;
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
	int jr = job_edition(cfg, st, o.date, now, true, !o.dry_run, want_progress(), &ed, &err);
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

/* "-o FILE" is "--output FILE", for the commands that write a file. */
static void short_output(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "-o"))
			argv[i] = (char *)"--output";
}

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

static int parse_preview(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"date", required_argument, NULL, 'd'},
						 {"format", required_argument, NULL, 'f'},
						 {"output", required_argument, NULL, 'o'},
						 {"to", required_argument, NULL, 't'},
						 {"no-fetch", no_argument, NULL, 'n'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	short_output(argc, argv);
	if (command_opts(argc, argv, longopts, preview_usage, preview_take, &o->preview, code) < 0)
		return -1;
	const char *f = o->preview.format;
	if (f && strcmp(f, "html") && strcmp(f, "text") && strcmp(f, "eml")) {
		log_error("preview: --format %s: expected html, text or eml", f);
		*code = EX_USAGE;
		return -1;
	}
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

static int cmd_preview(struct config *cfg, const union opts *opts)
{
	const struct preview_opts o = opts->preview;
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
	int jr = job_edition(cfg, st, o.date, now, !o.no_fetch, false, want_progress(), &ed, &err);
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

static int parse_status(int argc, char **argv, union opts *o, int *code)
{
	(void)o;
	return no_opts(argc, argv, status_usage, code);
}

static int cmd_status(struct config *cfg, const union opts *opts)
{
	(void)opts;
	struct store *st = NULL;
	char *err = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
	struct edition_stats *es = NULL;
	size_t n = 0;
	long long counts[4];
	if (store_editions_recent(st, 10, &es, &n, &err) < 0 || store_subscriber_counts(st, counts, &err) < 0) {
		log_error("%s", err);
		free(err);
		free(es);
		rc = db_failed(st); /* before the store is closed */
		store_close(st);
		return rc;
	}
	printf("%-10s  %-16s  %8s  %8s  %8s  %8s\n", "edition", "built", "articles", "sent", "deferred",
	       "failed");
	if (n == 0)
		printf("(no edition yet)\n");
	for (size_t i = 0; i < n; i++) {
		char built[17];
		fmt_time_local(es[i].built_at, built);
		printf("%-10s  %-16s  %8lld  %8lld  %8lld  %8lld\n", es[i].date, built, es[i].articles, es[i].sent,
		       es[i].pending, es[i].failed);
	}
	printf("\nsubscribers: %lld active, %lld pending, %lld unsubscribed, %lld bouncing\n",
	       counts[SUB_ACTIVE], counts[SUB_PENDING], counts[SUB_UNSUBSCRIBED], counts[SUB_BOUNCING]);
	long long back[6];
	if (store_bounce_counts(st, (long long)time(NULL) - 30 * 86400LL, back, &err) == 0)
		printf("came back in 30 days: %lld bounce-hard, %lld bounce-soft, %lld complaint, %lld unsubscribe\n",
		       back[1], back[2], back[3], back[4]);
	free(err);
	err = NULL;
	free(es);
	store_close(st);
	return EX_OK; /* an output error: main's */
}

static int sub_take(int c, const char *arg, void *ctx)
{
	struct sub_opts *o = ctx;
	switch (c) {
	case 1:
		if (!o->action && o->file) /* "subscribers" takes an action first */
			o->action = o->file, o->file = arg;
		else if (!o->file)
			o->file = arg;
		else
			return -1;
		break;
	case 'n': o->name = arg; break;
	case 'C': o->confirmed = 1; break;
	case 'r': o->resubscribe = 1; break;
	case 'o': o->output = arg; break;
	default: return -1;
	}
	return 0;
}

static int parse_sub(int argc, char **argv, union opts *o, int *code, const char *usage)
{
	static const struct option longopts[] = {{"name", required_argument, NULL, 'n'},
						 {"confirmed", no_argument, NULL, 'C'},
						 {"resubscribe", no_argument, NULL, 'r'},
						 {"output", required_argument, NULL, 'o'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	short_output(argc, argv);
	if (command_opts(argc, argv, longopts, usage, sub_take, &o->sub, code) < 0)
		return -1;
	return 0;
}

static int parse_subscribe(int argc, char **argv, union opts *o, int *code)
{
	if (parse_sub(argc, argv, o, code, subscribe_usage) < 0)
		return -1;
	if (!o->sub.file || o->sub.action || o->sub.resubscribe || o->sub.output) {
		fputs(subscribe_usage, stderr);
		*code = EX_USAGE;
		return -1;
	}
	o->sub.addr = o->sub.file;
	return 0;
}

static int parse_unsubscribe(int argc, char **argv, union opts *o, int *code)
{
	if (parse_sub(argc, argv, o, code, unsubscribe_usage) < 0)
		return -1;
	if (!o->sub.file || o->sub.action || o->sub.name || o->sub.confirmed || o->sub.resubscribe ||
	    o->sub.output) {
		fputs(unsubscribe_usage, stderr);
		*code = EX_USAGE;
		return -1;
	}
	o->sub.addr = o->sub.file;
	return 0;
}

static int parse_subscribers(int argc, char **argv, union opts *o, int *code)
{
	if (parse_sub(argc, argv, o, code, subscribers_usage) < 0)
		return -1;
	struct sub_opts *s = &o->sub;
	if (!s->action && s->file) {
		s->action = s->file;
		s->file = NULL;
	}
	bool ok = s->action && !s->name && !s->confirmed &&
		  ((!strcmp(s->action, "import") && s->file && !s->output) ||
		   (!strcmp(s->action, "show") && s->file && !s->output && !s->resubscribe) ||
		   ((!strcmp(s->action, "list") || !strcmp(s->action, "export")) && !s->file && !s->resubscribe));
	if (!ok) {
		if (s->action && strcmp(s->action, "import") && strcmp(s->action, "list") &&
		    strcmp(s->action, "export") && strcmp(s->action, "show"))
			log_error("subscribers: unknown action \"%s\"", s->action);
		fputs(subscribers_usage, stderr);
		*code = EX_USAGE;
		return -1;
	}
	return 0;
}

/* `subscribe` without --confirmed: the reader is asked to confirm by mail. */
static int subscribe_optin(struct config *cfg, struct store *st, const char *addr, const char *name)
{
	char *err = NULL;
	time_t now = time(NULL);
	/* Whoever runs this command asks on the reader's behalf: a mail goes
	 * out however recently the last did. */
	static const struct consent_rec proof = {.event = "request", .client = "cli"};
	struct sub_args ev = {.ev = SUB_EV_REQUEST, .email = addr, .name = name, .now = (long long)now,
			      .consent = &proof};
	struct sub_result res;
	if (subscription_event(st, &ev, &res, &err) < 0) {
		log_error("%s", err);
		free(err);
		return db_failed(st);
	}
	if (res.outcome == SUB_ALREADY_ACTIVE) {
		printf("%s: active\n", addr);
		return EX_OK;
	}
	struct render *r = NULL;
	if (render_load(cfg, true, &r, &err) < 0 || render_load_confirm(r, &err) < 0) {
		log_error("%s; the confirmation mail waits for `digest serve`", err);
		free(err);
		render_free(r);
		return EX_CONFIG;
	}
	struct subscriber sub = {0};
	struct optin_stats os = {0};
	int rc = EX_OK;
	if (store_subscriber_get(st, addr, &sub, &err) != 1 ||
	    optin_send_one(cfg, st, r, &sub, now, &os, &err) < 0) {
		log_error("%s", err ? err : "subscriber vanished");
		rc = db_failed(st);
	} else {
		const char *st_name = sub_status_name(sub.status);
		const char *then = sub.status == SUB_PENDING ? "" : " (subscribed again once confirmed)";
		if (os.sent) {
			printf("%s: %s; confirmation mail sent%s\n", addr, st_name, then);
		} else if (os.deferred) {
			printf("%s: %s; confirmation mail deferred (`digest serve` tries again)\n", addr, st_name);
			rc = EX_TEMPFAIL;
		} else if (os.failed && !address_local_ascii(sub.email)) {
			/* refused by digest's own check, or the server's lack of
			 * SMTPUTF8: not the recipient's fault, nor a refusal */
			printf("%s: %s; confirmation mail not sent: a non-ASCII local part needs a server with "
			       "SMTPUTF8\n", addr, st_name);
			rc = EX_UNAVAILABLE;
		} else if (os.failed) {
			printf("%s: %s; confirmation mail refused by the server\n", addr, st_name);
			rc = EX_UNAVAILABLE;
		} else {
			printf("%s: %s; confirmation mail already on its way\n", addr, st_name);
		}
	}
	subscriber_clear(&sub);
	render_free(r);
	free(err);
	return rc;
}

/* ADDR as subscribe and unsubscribe take it (address_accept: an IDN
 * domain must be a valid IDNA name); malloc'd, or NULL after an error
 * line naming CMD. */
static char *command_address(const char *cmd, const char *addr)
{
	char *why = NULL;
	char *norm = address_accept(addr, NULL, &why);
	if (!norm)
		log_error("%s: %s: %s", cmd, addr, why ? why : "invalid address");
	free(why);
	return norm;
}

static int cmd_subscribe(struct config *cfg, const union opts *opts)
{
	const struct sub_opts o = opts->sub;
	char *err = NULL;
	char *addr = command_address("subscribe", o.addr);
	if (!addr)
		return EX_DATAERR;
	char *name = o.name ? name_clean(o.name) : NULL;
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc == EX_OK && !o.confirmed) {
		rc = subscribe_optin(cfg, st, addr, name);
	} else if (rc == EX_OK) {
		static const struct consent_rec proof = {.event = "subscribe-confirmed", .client = "cli"};
		struct sub_args ev = {.ev = SUB_EV_RESUBSCRIBE + SUB_ACTIVE, .email = addr, .name = name,
				      .now = (long long)time(NULL), .consent = &proof};
		struct sub_result res;
		if (subscription_event(st, &ev, &res, &err) < 0) {
			log_error("%s", err);
			rc = db_failed(st);
		} else {
			printf("%s: active\n", addr);
		}
	}
	store_close(st);
	free(addr);
	free(name);
	free(err);
	return rc;
}

static int cmd_unsubscribe(struct config *cfg, const union opts *opts)
{
	char *err = NULL;
	char *addr = command_address("unsubscribe", opts->sub.addr);
	if (!addr)
		return EX_DATAERR;
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc == EX_OK) {
		static const struct consent_rec proof = {.event = "unsubscribe", .client = "cli"};
		struct sub_args ev = {.ev = SUB_EV_UNSUBSCRIBE, .email = addr, .now = (long long)time(NULL),
				      .consent = &proof};
		struct sub_result res;
		if (subscription_event(st, &ev, &res, &err) < 0) {
			log_error("%s", err);
			rc = db_failed(st);
		} else if (res.outcome == SUB_NONE) {
			log_error("unsubscribe: %s is not a subscriber", addr);
			rc = EX_DATAERR;
		} else {
			printf("%s: unsubscribed\n", addr);
		}
	}
	store_close(st);
	free(addr);
	free(err);
	return rc;
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
	struct consent_rec proof; /* each line's step: client "import:FILE" */
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
			      .email = r->email, .name = r->name, .now = ic->now, .consent = &ic->proof};
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

/* `subscribers show ADDR`: 0, EX_NOUSER when no reader has ADDR,
 * EX_DATAERR when it is no address. */
static int subscribers_show(struct store *st, const char *arg)
{
	char *addr = command_address("subscribers show", arg);
	if (!addr)
		return EX_DATAERR;
	char *err = NULL;
	int found = consent_show(st, addr, stdout, &err);
	int rc = EX_OK;
	if (found < 0) {
		log_error("%s", err);
		rc = db_failed(st);
	} else if (!found) {
		log_error("subscribers show: %s: no such subscriber", addr);
		rc = EX_NOUSER;
	}
	free(err);
	free(addr);
	return rc; /* an output error: main's */
}

static int cmd_subscribers(struct config *cfg, const union opts *opts)
{
	const struct sub_opts o = opts->sub;
	struct store *st = NULL;
	char *err = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
	if (!strcmp(o.action, "import")) {
		FILE *f = !strcmp(o.file, "-") ? stdin : fopen(o.file, "re");
		if (!f) {
			log_error("%s: %s", o.file, strerror(errno));
			store_close(st);
			return EX_NOINPUT;
		}
		char *client = xasprintf("import:%s", o.file);
		struct import_ctx ic = {.st = st, .proof = {.client = client}, .resubscribe = o.resubscribe,
					.now = (long long)time(NULL), .batch_start = mono_now()};
		unsigned long bad = 0;
		/* In batches (import_row): the lines before a failure stay
		 * imported, and a rerun of the same file finds them unchanged. */
		int r = store_begin(st, &err);
		if (r == 0)
			r = import_read(f, o.file, import_row, &ic, &bad, &err);
		if (r != 0 && !err && ic.err) {
			err = ic.err;
			ic.err = NULL;
		}
		unsigned long good = ic.added + ic.updated + ic.unchanged + ic.kept;
		if (r == 0 && good == 0 && bad > 0) {
			store_rollback(st);
			log_error("%s: no valid line (%lu bad)", o.file, bad);
			rc = EX_DATAERR;
		} else if (r != 0 || store_commit(st, &err) < 0) {
			store_rollback(st);
			if (ic.committed)
				log_error("%s: %s; the %lu lines before it were imported", o.file,
					  err ? err : "import failed", ic.committed);
			else
				log_error("%s: %s; nothing imported", o.file, err ? err : "import failed");
			rc = db_failed(st);
		} else {
			printf("%s: %lu added, %lu updated, %lu unchanged, %lu kept unsubscribed or bouncing, %lu bad lines\n",
			       o.file, ic.added, ic.updated, ic.unchanged, ic.kept, bad);
		}
		free(ic.err);
		free(client);
		if (f != stdin)
			fclose(f);
	} else if (!strcmp(o.action, "show")) {
		rc = subscribers_show(st, o.file);
	} else {
		bool csv = !strcmp(o.action, "export");
		struct outfile out;
		if (outfile_open(&out, o.output, &err) < 0) {
			log_error("%s", err);
			free(err);
			store_close(st);
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
	}
	free(err);
	store_close(st);
	return rc;
}

static const char serve_usage[] =
	"usage: digest serve [--listen HOST:PORT]\n"
	"\n"
	"The web endpoint, on http.listen or HOST:PORT (port 0: any free one):\n"
	"  GET  /                 the subscribe form\n"
	"  POST /subscribe        email, name: sends the confirmation mail\n"
	"  GET  /confirm?t=       a page with a button; POST confirms\n"
	"  GET  /unsubscribe?t=   a page with a button; POST (or RFC 8058 one-click)\n"
	"                         unsubscribes\n"
	"  GET  /preview, /preview.txt   today's edition for a sample reader\n"
	"  GET  /archive[?page=N], /archive/YYYY-MM-DD, /archive.atom\n"
	"                         the sent editions, one edition, their Atom feed\n"
	"Paths are answered bare and under newsletter.base_url's path. Owed\n"
	"confirmation mails are sent from here. SIGTERM or SIGINT stops it.\n";

static int serve_take(int c, const char *arg, void *ctx)
{
	struct serve_opts *o = ctx;
	if (c != 'l')
		return -1;
	o->listen = arg;
	return 0;
}

static int parse_serve(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	if (command_opts(argc, argv, longopts, serve_usage, serve_take, &o->serve, code) < 0)
		return -1;
	char *host = NULL, *err = NULL;
	int port;
	if (o->serve.listen && listen_parse(o->serve.listen, &host, &port, &err) < 0) {
		log_error("serve: --listen %s", err);
		free(err);
		*code = EX_USAGE;
		return -1;
	}
	free(host);
	return 0;
}

static int cmd_serve(struct config *cfg, const union opts *opts)
{
	return serve_run(cfg, opts->serve.listen);
}

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

static int parse_archive(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	if (command_opts(argc, argv, longopts, archive_usage, archive_take, &o->archive, code) < 0)
		return -1;
	if (!o->archive.output || !*o->archive.output) {
		log_error("archive: -o DIR is required");
		fputs(archive_usage, stderr);
		*code = EX_USAGE;
		return -1;
	}
	return 0;
}

static int cmd_archive(struct config *cfg, const union opts *opts)
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
	if (archive_export(ar, st, opts->archive.output, &es, &err) < 0) {
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

static const char bounces_usage[] =
	"usage: digest bounces [--days N]\n"
	"\n"
	"What came back in the last N days (default 30): date, address, kind,\n"
	"status code, diagnostic.\n";

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

static int parse_inbound(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"maildir", required_argument, NULL, 'm'},
						 {"fetch", no_argument, NULL, 'f'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	if (command_opts(argc, argv, longopts, inbound_usage, inbound_take, &o->inbound, code) < 0)
		return -1;
	if ((o->inbound.file != NULL) + (o->inbound.maildir != NULL) + o->inbound.fetch > 1) {
		log_error("inbound: one of FILE, --maildir and --fetch");
		fputs(inbound_usage, stderr);
		*code = EX_USAGE;
		return -1;
	}
	return 0;
}

static int cmd_inbound(struct config *cfg, const union opts *opts)
{
	const struct inbound_opts *o = &opts->inbound;
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

static int bounces_take(int c, const char *arg, void *ctx)
{
	struct inbound_opts *o = ctx;
	if (c != 'd')
		return -1;
	char *end;
	long v = strtol(arg, &end, 10);
	if (*end || end == arg || v < 1 || v > 36500)
		return -1;
	o->days = (int)v;
	return 0;
}

static int parse_bounces(int argc, char **argv, union opts *o, int *code)
{
	static const struct option longopts[] = {{"days", required_argument, NULL, 'd'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	o->inbound.days = 30;
	return command_opts(argc, argv, longopts, bounces_usage, bounces_take, &o->inbound, code);
}

static int print_bounce(void *ctx, const struct bounce_row *b)
{
	(void)ctx;
	char when[17];
	fmt_time_local(b->at, when);
	char diag[200];
	snprintf(diag, sizeof diag, "%s", b->diagnostic);
	str_collapse_ws(diag);
	printf("%-16s  %-40s  %-12s  %-7s  %s\n", when, *b->address ? b->address : "?", b->kind,
	       *b->status ? b->status : "-", diag);
	return 0;
}

static int cmd_bounces(struct config *cfg, const union opts *opts)
{
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc != EX_OK)
		return rc;
	char *err = NULL;
	printf("%-16s  %-40s  %-12s  %-7s  %s\n", "date", "address", "kind", "status", "diagnostic");
	long long since = (long long)time(NULL) - (long long)opts->inbound.days * 86400;
	if (store_bounces_each(st, since, print_bounce, NULL, &err) < 0) {
		log_error("%s", err);
		free(err);
		rc = db_failed(st);
	}
	store_close(st);
	return rc;
}

struct command {
	const char *name;
	int (*parse)(int argc, char **argv, union opts *o, int *code);
	int (*run)(struct config *cfg, const union opts *o);
};

static const struct command commands[] = {
	{"collect", parse_collect, cmd_collect},
	{"check-config", parse_check_config, cmd_check_config},
	{"run", parse_run, cmd_run},
	{"preview", parse_preview, cmd_preview},
	{"status", parse_status, cmd_status},
	{"subscribe", parse_subscribe, cmd_subscribe},
	{"unsubscribe", parse_unsubscribe, cmd_unsubscribe},
	{"subscribers", parse_subscribers, cmd_subscribers},
	{"serve", parse_serve, cmd_serve},
	{"inbound", parse_inbound, cmd_inbound},
	{"bounces", parse_bounces, cmd_bounces},
	{"archive", parse_archive, cmd_archive},
};

static const char keygen_usage[] =
	"usage: digest dkim-keygen SELECTOR [--type rsa|ed25519] [-o FILE]\n"
	"\n"
	"Write a new DKIM private key in PEM to FILE (default SELECTOR.pem), created\n"
	"0600 and never over an existing file: RSA 2048-bit (rsa-sha256, the default)\n"
	"or Ed25519 (ed25519-sha256, RFC 8463). Print the DNS TXT record to publish\n"
	"at SELECTOR._domainkey.DOMAIN, and the digest.conf lines that use the key.\n";

/* dkim-keygen needs no configuration: it runs before digest.conf is read. */
static int cmd_dkim_keygen(int argc, char **argv)
{
	static const struct option lo[] = {{"type", required_argument, NULL, 't'},
					   {"output", required_argument, NULL, 'o'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	const char *type = "rsa", *out = NULL;
	int c;
	optind = 0; /* GNU getopt starts over (main's own parse used "+") */
	while ((c = getopt_long(argc, argv, "t:o:h", lo, NULL)) != -1) {
		switch (c) {
		case 't':
			type = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		case 'h':
			fputs(keygen_usage, stdout);
			return EX_OK;
		default:
			log_error("dkim-keygen: unknown option %s", argv[optind - 1]);
			fputs(keygen_usage, stderr);
			return EX_USAGE;
		}
	}
	if (optind != argc - 1) {
		fputs(keygen_usage, stderr);
		return EX_USAGE;
	}
	const char *sel = argv[optind];
	for (const char *p = sel; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') && *p != '-' &&
		    *p != '_') {
			log_error("dkim-keygen: \"%s\" is not a selector (letters, digits, - and _)", sel);
			return EX_USAGE;
		}
	if (strcmp(type, "rsa") && strcmp(type, "ed25519")) {
		log_error("dkim-keygen: --type %s: rsa or ed25519", type);
		return EX_USAGE;
	}
	char *path = out ? xstrdup(out) : xasprintf("%s.pem", sel);
	char *record = NULL, *err = NULL;
	if (dkim_keygen(type, path, &record, &err) < 0) {
		log_error("dkim-keygen: %s", err);
		free(err);
		free(path);
		return EX_CANTCREAT;
	}
	/* a TXT string holds at most 255 octets: an RSA key takes two */
	printf("%s._domainkey\tIN\tTXT\t(", sel);
	for (size_t i = 0, n = strlen(record); i < n; i += 250)
		printf(" \"%.250s\"", record + i);
	printf(" )\n");
	fprintf(stderr,
		"Key written to %s (0600). Publish the record above at %s._domainkey.YOUR-DOMAIN, then add\n"
		"  dkim = { domain = \"YOUR-DOMAIN\"; keys = ( { selector = \"%s\"; key_file = \"%s\"; } ); };\n",
		path, sel, sel, path);
	free(record);
	free(path);
	return EX_OK;
}

static int run(int argc, char **argv)
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
			level = LOG_ERROR; /* an error is always said */
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
	if (!strcmp(name, "dkim-keygen"))
		return cmd_dkim_keygen(argc - optind, argv + optind);
	const struct command *cmd = NULL;
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (!strcmp(name, commands[i].name))
			cmd = &commands[i];
	if (!cmd) {
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

/* Whatever the command, output that did not arrive (a full disk, a closed
 * pipe) is an error: exit 74, said once. */
int main(int argc, char **argv)
{
	int rc = run(argc, argv);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (rc != EX_IOERR)
			log_error("standard output: %s", strerror(errno ? errno : EIO));
		return EX_IOERR;
	}
	return rc;
}
