/* cmd: the commands of the command line, one file each under src/cmd/,
 * and what they share. main.c is the dispatcher: it reads the global
 * options, finds the command in its table, lets the command parse its own
 * options, loads digest.conf and runs the command.
 *
 * A command's options are parsed before digest.conf is read, so that a
 * usage error is reported as one whatever the configuration holds. Every
 * failure leaves a command as a sysexits code (SPEC "Command line"). */
#ifndef DIGEST_CMD_H
#define DIGEST_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>

#include "digest/article.h"
#include "digest/config.h"
#include "digest/store.h"

struct command {
	const char *name;
	size_t opts_size; /* the command's own option struct, zeroed before parse */
	/* Parse ARGV (ARGV[0] the command's name) into OPTS; -1 after
	 * printing help (*CODE 0) or a usage error (*CODE 64). */
	int (*parse)(int argc, char **argv, void *opts, int *code);
	/* Run with the loaded configuration (NULL when no_config); the exit
	 * code. An error on standard output is main's to report. */
	int (*run)(struct config *cfg, const void *opts);
	bool no_config; /* runs without digest.conf (dkim-keygen) */
};

extern const struct command command_collect, command_check_config, command_run, command_preview,
	command_status, command_subscribe, command_unsubscribe, command_subscribers, command_serve,
	command_inbound, command_bounces, command_archive, command_dkim_keygen;

/* command_opts: getopt_long over LONGOPTS, each option and each argument
 * that is not one (c == 1, in order) handed to TAKE; -1 after --help
 * (*CODE 0) or a usage error (*CODE 64, USAGE on stderr). "-o FILE" is
 * "--output FILE" wherever there is an output option. */
int command_opts(int argc, char **argv, const struct option *longopts, const char *usage,
		 int (*take)(int c, const char *arg, void *ctx), void *ctx, int *code);

/* usage_error: a usage error: the line FMT says (when not NULL), then
 * USAGE on stderr; *CODE = 64; returns -1, as a parser does. */
int usage_error(int *code, const char *usage, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* no_opts: the parser of a command that takes no option but --help. */
int no_opts(int argc, char **argv, const char *usage, int *code);

/* open_store: the configured database with the bounce policy, or an error
 * line and the exit code (EX_TEMPFAIL when another process holds it,
 * EX_CANTCREAT when it cannot be created or used). */
int open_store(const struct config *cfg, struct store **st);

/* open_failed: the exit code of a store_open that returned RC. */
int open_failed(int rc);

/* db_failed: the exit code of a failed store operation on ST: temporary
 * when another process held the database past the wait, else internal. */
int db_failed(const struct store *st);

/* want_progress: a progress line on stderr (a terminal, not -q). */
bool want_progress(void);

/* print_table: the edition's articles as collect and `run --dry-run`
 * print them: rank, views, comments, published, title. */
void print_table(const struct article *a, size_t n);

#endif
