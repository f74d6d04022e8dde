/* cmd/check: `digest check-config`: validate digest.conf and every
 * template; warn about what makes real mail unusable; --connect tries the
 * SMTP server. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <unistd.h>

#include "cmd.h"
#include "digest/archive.h"
#include "digest/log.h"
#include "digest/page.h"
#include "digest/preflight.h"
#include "digest/render.h"

struct check_opts {
	bool connect;
};

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

static int check_take(int c, const char *arg, void *ctx)
{
	(void)arg;
	if (c != 'C')
		return -1;
	((struct check_opts *)ctx)->connect = true;
	return 0;
}

static int parse_check_config(int argc, char **argv, void *o, int *code)
{
	static const struct option longopts[] = {{"connect", no_argument, NULL, 'C'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	return command_opts(argc, argv, longopts, check_usage, check_take, o, code);
}

static int exec_check_config(struct config *cfg, const void *opts)
{
	const struct check_opts *o = opts;
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
	if (o->connect) {
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

const struct command command_check_config = {"check-config", sizeof(struct check_opts), parse_check_config,
					      exec_check_config, false};
