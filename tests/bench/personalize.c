/* personalize: the CPU cost of splicing one reader into a rendered edition
 * (render_message), measured apart from the database and the transport.
 *
 * usage: personalize CONF [READERS]
 *
 * Loads CONF, builds the edition of today from the articles already in its
 * database (job_edition without fetching or freezing), renders it once, then
 * calls render_message for READERS (default 200000) distinct readers into one
 * reused buffer. The readers (address, name, nonce) are made before the
 * clock starts. Prints one line:
 *
 *   personalize: N messages, B bytes each (mean), T s CPU, U us/message
 *
 * CPU time is CLOCK_PROCESS_CPUTIME_ID around the loop only. Exit 1 on error.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest/config.h"
#include "digest/job.h"
#include "digest/log.h"
#include "digest/render.h"
#include "digest/store.h"
#include "digest/util.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: personalize CONF [READERS]\n");
		return 1;
	}
	long n = argc == 3 ? strtol(argv[2], NULL, 10) : 200000;
	if (n <= 0) {
		fprintf(stderr, "personalize: READERS must be a positive number\n");
		return 1;
	}
	log_set_level(LOG_ERROR);

	struct config *cfg = NULL;
	struct store *st = NULL;
	struct render *r = NULL;
	struct job_edition ed = {0};
	char *err = NULL;
	int rc = 1;
	if (config_load(argv[1], &cfg) < 0)
		goto out;
	config_apply_timezone(cfg);
	if (render_load(cfg, true, &r, &err) < 0 || store_open(cfg->storage.database, &st, &err) < 0)
		goto out;
	time_t now = time(NULL);
	const struct job_want w = {.now = now}; /* the stored articles: no fetch, no freeze */
	if (job_edition(cfg, st, &w, &ed, &err) < 0)
		goto out;
	if (ed.n == 0) {
		err = xstrdup("no article in the database for today's edition (run `digest collect` first)");
		goto out;
	}
	if (render_edition(r, ed.date, ed.a, ed.n, now, &err) < 0)
		goto out;

	/* Distinct readers, half of them with a Cyrillic name (RFC 2047 in To:). */
	struct reader *rd = xcalloc((size_t)n, sizeof *rd);
	for (long i = 0; i < n; i++) {
		rd[i].email = xasprintf("reader%ld@example.org", i);
		rd[i].name = i % 2 ? xasprintf("Читатель Номер %ld", i) : xasprintf("Reader %ld", i);
		rd[i].nonce = xasprintf("%032lx", (unsigned long)i * 2654435761UL);
	}

	struct buf msg = {0};
	size_t total = 0;
	double t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		msg.len = 0;
		render_message(r, &rd[i], &msg);
		total += msg.len;
	}
	double cpu = cpu_now() - t0;
	printf("personalize: %ld messages, %zu bytes each (mean), %.3f s CPU, %.3f us/message\n", n,
	       total / (size_t)n, cpu, cpu * 1e6 / (double)n);
	rc = 0;

	buf_free(&msg);
	for (long i = 0; i < n; i++) {
		free((char *)rd[i].email);
		free((char *)rd[i].name);
		free((char *)rd[i].nonce);
	}
	free(rd);
out:
	if (err)
		fprintf(stderr, "personalize: %s\n", err);
	free(err);
	job_edition_clear(&ed);
	render_free(r);
	store_close(st);
	config_free(cfg);
	return rc;
}
