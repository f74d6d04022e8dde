/* Unit tests of the journal's exactly-once rule (journal.h), through the
 * pool and a transport of the test's own that records every message it
 * hands over (appended to a file and fsync'd, as a server that has the
 * message). A child process runs the edition and is stopped with _exit,
 * as kill -9 would stop it, at each point in turn: every call of the
 * transport, and before and after every commit. Then a run completes the
 * edition: every reader has it, no reader twice but for at most one
 * message per connection, and the journal says sent for everyone. No
 * server is needed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/config.h"
#include "digest/deliver.h"
#include "digest/journal.h"
#include "digest/log.h"
#include "digest/render.h"
#include "digest/store.h"
#include "digest/subscription.h"
#include "digest/transport.h"
#include "digest/util.h"

#define READERS 6
#define CONNECTIONS 2
#define EDITION "2026-12-01"

static char dir[] = "/tmp/digest-journal-XXXXXX";
static char *db_path, *handed_path;

/* ---- the test transport ---- */

static int stop_at;     /* the point this process stops at (0: none) */
static int points;      /* points passed so far */
static const char *maybe_rcpt; /* finish answers TX_MAYBE for this reader */

/* point: one more place the process may stop at. */
static void point(void)
{
	if (__atomic_add_fetch(&points, 1, __ATOMIC_SEQ_CST) == stop_at)
		_exit(99);
}

static void hook(const char *where)
{
	(void)where;
	point();
}

struct tconn {
	char rcpt[256];
};

static int t_open(void *state, void **conn, enum tx_refusal *why, char **err)
{
	(void)state, (void)why, (void)err;
	point();
	*conn = xcalloc(1, sizeof(struct tconn));
	return TX_OK;
}

static int t_begin(void *conn, const char *from, const char *rcpt, const char *msg, size_t len, unsigned flags,
		   struct tx_result *res)
{
	(void)from, (void)msg, (void)len, (void)flags, (void)res;
	point();
	snprintf(((struct tconn *)conn)->rcpt, 256, "%s", rcpt);
	return TX_OK;
}

/* The message is handed over: its reader's line is on disk. */
static int t_finish(void *conn, const char *msg, size_t len, struct tx_result *res)
{
	(void)msg, (void)len;
	const char *rcpt = ((struct tconn *)conn)->rcpt;
	point();
	int fd = open(handed_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	char line[300];
	int n = snprintf(line, sizeof line, "%s\n", rcpt);
	assert_int_equal(write(fd, line, (size_t)n), n);
	assert_int_equal(fsync(fd), 0);
	close(fd);
	point();
	if (maybe_rcpt && !strcmp(rcpt, maybe_rcpt)) {
		snprintf(res->reply, sizeof res->reply, "timeout after the final dot: may have been delivered");
		return TX_MAYBE;
	}
	snprintf(res->reply, sizeof res->reply, "250 ok");
	return TX_OK;
}

static void t_abandon(void *conn) { (void)conn; }
static bool t_usable(const void *conn) { return conn != NULL; }
static void t_close(void *conn) { free(conn); }

static const struct transport_ops test_ops = {
	.name = "test",
	.open = t_open,
	.begin = t_begin,
	.finish = t_finish,
	.abandon = t_abandon,
	.usable = t_usable,
	.close = t_close,
};

/* ---- set-up ---- */

static struct config *load_config(void)
{
	char *path = xasprintf("%s/digest.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"newsletter = { name = \"Test\"; from = \"Test <digest@example.org>\"; "
		"base_url = \"https://example.org/d\"; secret_file = \"%s/secret\"; };\n"
		"digest = { send_empty = true; };\n"
		"storage = { database = \"%s\"; };\n"
		"delivery = { smtp = { retries = 3; retry_delay = 0; }; };\n",
		dir, db_path);
	assert_int_equal(fclose(f), 0);
	fflush(stderr);
	int saved = dup(2), null = open("/dev/null", O_WRONLY);
	dup2(null, 2); /* no sources: a warning, not the test's business */
	close(null);
	struct config *cfg = NULL;
	int rc = config_load(path, &cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	free(path);
	assert_int_equal(rc, 0);
	return cfg;
}

/* A new database with READERS active subscribers, and no message handed
 * over yet. */
static void fresh(void)
{
	char *p;
	unlink(db_path);
	p = xasprintf("%s-wal", db_path);
	unlink(p);
	free(p);
	p = xasprintf("%s-shm", db_path);
	unlink(p);
	free(p);
	unlink(handed_path);
	struct store *st = NULL;
	char *err = NULL;
	assert_int_equal(store_open(db_path, &st, &err), 0);
	assert_int_equal(store_begin(st, &err), 0);
	for (int i = 1; i <= READERS; i++) {
		char addr[64];
		snprintf(addr, sizeof addr, "r%d@example.org", i);
		struct sub_args ev = {.ev = SUB_EV_IMPORT + SUB_ACTIVE, .email = addr, .now = 1000};
		struct sub_result res;
		assert_int_equal(subscription_apply(st, &ev, &res, &err), 0);
	}
	assert_int_equal(store_commit(st, &err), 0);
	struct edition_rec rec = {.built_at = 1000, .window_from = 0, .window_to = 1000};
	assert_int_equal(store_edition_freeze(st, EDITION, &rec, NULL, 0, &err), 0);
	store_close(st);
}

/* One run of the edition through the test transport: 0, or -1. */
static int run_edition(struct deliver_stats *ds)
{
	struct config *cfg = load_config();
	struct store *st = NULL;
	struct render *r = NULL;
	char *err = NULL;
	assert_int_equal(store_open(db_path, &st, &err), 0);
	assert_int_equal(render_load(cfg, true, &r, &err), 0);
	assert_int_equal(render_edition(r, EDITION, NULL, 0, time(NULL), &err), 0);
	struct transport t;
	transport_init_ops(&t, &test_ops, NULL, CONNECTIONS, 1000);
	int rc = deliver_edition_with(cfg, &t, st, r, EDITION, false, ds, &err);
	if (rc < 0 && stop_at == 0)
		fprintf(stderr, "test_journal: run: %s\n", err);
	free(err);
	render_free(r);
	store_close(st);
	config_free(cfg);
	return rc;
}

/* How many messages each reader was handed, into COUNT (index 1..READERS);
 * returns the total. */
static int handed(int count[READERS + 1])
{
	memset(count, 0, sizeof(int) * (READERS + 1));
	FILE *f = fopen(handed_path, "r");
	int total = 0;
	char line[300];
	while (f && fgets(line, sizeof line, f)) {
		int i = 0;
		assert_int_equal(sscanf(line, "r%d@", &i), 1);
		assert_true(i >= 1 && i <= READERS);
		count[i]++;
		total++;
	}
	if (f)
		fclose(f);
	return total;
}

static struct delivery_counts counts(void)
{
	struct store *st = NULL;
	char *err = NULL;
	struct delivery_counts dc;
	assert_int_equal(store_open(db_path, &st, &err), 0);
	assert_int_equal(store_delivery_counts(st, EDITION, &dc, &err), 0);
	store_close(st);
	return dc;
}

/* Stop a run at every point in turn; after each, a second run completes
 * the edition with every reader reached once, and at most one repeat per
 * connection. */
static void test_kill_everywhere(void **state)
{
	(void)state;
	journal_test_hook = hook;
	int killed = 0;
	for (int k = 1;; k++) {
		fresh();
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			stop_at = k;
			points = 0;
			struct deliver_stats ds;
			_exit(run_edition(&ds) == 0 ? 0 : 1);
		}
		int status = 0;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFEXITED(status));
		int code = WEXITSTATUS(status);
		assert_true(code == 99 || code == 0);
		int count[READERS + 1];
		if (code == 0) { /* past the last point: the run was whole */
			assert_int_equal(handed(count), READERS);
			break;
		}
		killed++;
		stop_at = 0;
		struct deliver_stats ds;
		assert_int_equal(run_edition(&ds), 0);
		int total = handed(count);
		for (int i = 1; i <= READERS; i++) {
			if (count[i] < 1 || count[i] > 2)
				fail_msg("stopped at point %d: reader %d was handed %d messages", k, i, count[i]);
		}
		if (total > READERS + CONNECTIONS)
			fail_msg("stopped at point %d: %d messages for %d readers over %d connections", k, total,
				 READERS, CONNECTIONS);
		struct delivery_counts dc = counts();
		if (dc.sent != READERS || dc.pending != 0 || dc.failed != 0)
			fail_msg("stopped at point %d: journal %lld sent, %lld pending, %lld failed", k, dc.sent,
				 dc.pending, dc.failed);
	}
	journal_test_hook = NULL;
	/* every transport call and both sides of every commit were tried */
	assert_true(killed >= 3 * READERS + CONNECTIONS);
}

/* A message whose end went out without an answer is not tried again in
 * the run, whatever the retries; the next run sends it once more. */
static void test_maybe_not_retried(void **state)
{
	(void)state;
	fresh();
	maybe_rcpt = "r3@example.org";
	struct deliver_stats ds;
	int count[READERS + 1];
	assert_int_equal(run_edition(&ds), 0);
	assert_int_equal(handed(count), READERS);
	assert_int_equal(count[3], 1);
	assert_int_equal(ds.deferred, 1);
	assert_int_equal(ds.sent, READERS - 1);
	struct delivery_counts dc = counts();
	assert_int_equal(dc.pending, 1);
	maybe_rcpt = NULL;
	assert_int_equal(run_edition(&ds), 0);
	assert_int_equal(handed(count), READERS + 1);
	assert_int_equal(count[3], 2);
	dc = counts();
	assert_int_equal(dc.sent, READERS);
	assert_int_equal(dc.pending, 0);
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	db_path = xasprintf("%s/digest.db", dir);
	handed_path = xasprintf("%s/handed", dir);
	log_set_level(LOG_ERROR);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "test_journal: cannot remove %s\n", dir);
	free(cmd);
	free(db_path);
	free(handed_path);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kill_everywhere),
		cmocka_unit_test(test_maybe_not_retried),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
