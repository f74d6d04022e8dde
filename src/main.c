/* main: the dispatcher of the command line: global options, then the
 * command of commands[] (one file each under src/cmd/), which parses its
 * own options before digest.conf is read. Every failure is a sysexits
 * code. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "cmd/cmd.h"
#include "digest/config.h"
#include "digest/extract.h"
#include "digest/fetch.h"
#include "digest/log.h"
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
	"  subscribers list|export [-o FILE] | import FILE [--resubscribe] [--dry-run]\n"
	"              [--encoding NAME] [--delimiter D] | show ADDR\n"
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
	"  -c, --config FILE  configuration (default: $DIGEST_CONFIG, else ./digest.conf,\n"
	"                     else the installation's: /etc/digest/digest.conf for\n"
	"                     /usr/bin/digest, PREFIX/etc/digest/digest.conf for\n"
	"                     PREFIX/bin/digest)\n"
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


/* installed_config: the digest.conf of the installation this binary is
 * part of: PREFIX/bin/digest reads PREFIX/etc/digest/digest.conf, and
 * /usr/bin/digest reads /etc/digest/digest.conf (the Makefile's default
 * SYSCONFDIR for PREFIX), wherever the package or `make install` put it,
 * without building the prefix in. NULL when the binary's own path is not
 * known. */
static char *installed_config(void)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0 || (size_t)n >= sizeof exe - 1)
		return NULL;
	exe[n] = '\0';
	char *slash = strrchr(exe, '/'); /* PREFIX/bin/digest -> PREFIX/bin */
	if (!slash)
		return NULL;
	*slash = '\0';
	slash = strrchr(exe, '/'); /* -> PREFIX */
	if (!slash || strcmp(slash, "/bin") != 0)
		return NULL; /* not an installed digest (a build tree's) */
	*slash = '\0';
	if (!strcmp(exe, "/usr"))
		return xstrdup("/etc/digest/digest.conf");
	return xasprintf("%s/etc/digest/digest.conf", exe);
}

/* The configuration to read: -c, else $DIGEST_CONFIG, else ./digest.conf,
 * else the installation's (installed_config) when it exists. Malloc'd. */
static char *config_path(const char *opt)
{
	if (opt)
		return xstrdup(opt);
	const char *env = getenv("DIGEST_CONFIG");
	if (env && *env)
		return xstrdup(env);
	if (access("digest.conf", F_OK) == 0)
		return xstrdup("digest.conf");
	char *inst = installed_config();
	if (inst && access(inst, F_OK) == 0)
		return inst;
	free(inst);
	return xstrdup("digest.conf");
}

/* The commands, in the order of the usage text. */
static const struct command *const commands[] = {
	&command_collect,      &command_run,         &command_preview,     &command_status,
	&command_subscribe,    &command_unsubscribe, &command_subscribers, &command_serve,
	&command_check_config, &command_dkim_keygen, &command_inbound,     &command_bounces,
	&command_archive,
};

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
	const struct command *cmd = NULL;
	for (size_t i = 0; i < ARRAY_LEN(commands); i++)
		if (!strcmp(name, commands[i]->name))
			cmd = commands[i];
	if (!cmd) {
		log_error("unknown command \"%s\" (see digest --help)", name);
		return EX_USAGE;
	}
	void *opts = xcalloc(1, cmd->opts_size ? cmd->opts_size : 1);
	int code = EX_OK;
	if (cmd->parse(argc - optind, argv + optind, opts, &code) < 0) {
		free(opts);
		return code;
	}
	if (cmd->no_config) {
		code = cmd->run(NULL, opts);
		free(opts);
		return code;
	}

	if (fetch_global_init() < 0) {
		log_error("cannot initialize libcurl");
		free(opts);
		return EX_SOFTWARE;
	}
	extract_init();
	struct config *cfg = NULL;
	int rc;
	char *path = config_path(conf);
	log_debug("configuration: %s", path);
	if (config_load(path, &cfg) < 0) {
		rc = EX_CONFIG;
	} else {
		config_apply_timezone(cfg);
		rc = cmd->run(cfg, opts);
	}
	free(opts);
	free(path);
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
