/* Unit tests of report: the summary line of a run (deferred apart from
 * never tried; a dry run's own words) and `status --failed`. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/report.h"
#include "digest/subscription.h"
#include "digest/util.h"

static char dir[] = "/tmp/digest-report-XXXXXX";

static const struct {
	size_t articles;
	struct delivery_counts dc;
	bool with_stats, dry;
	const char *want;
} summaries[] = {
	{10, {.sent = 3}, true, false,
	 "edition 2026-11-24: 10 articles; 3 subscribers: 3 sent, 0 deferred, 0 failed in 2.0 s (2 msg/s)"},
	{1, {.sent = 1, .failed = 1, .pending = 2, .deferred = 2}, true, false,
	 "edition 2026-11-24: 1 article; 4 subscribers: 1 sent, 2 deferred, 1 failed in 2.0 s (2 msg/s)"},
	/* some of the deferred never tried (the server unreachable) */
	{10, {.pending = 5, .deferred = 1, .untried = 4}, false, false,
	 "edition 2026-11-24: 10 articles; 5 subscribers: 0 sent, 5 deferred, 0 failed in 0.0 s (0 msg/s); "
	 "4 of them not tried"},
	/* a dry run: nobody called deferred */
	{10, {.pending = 199, .untried = 199}, false, true,
	 "edition 2026-11-24: 10 articles; 199 subscribers: 199 would be sent, 0 already sent, 0 failed "
	 "(dry run: nothing sent)"},
	{2, {.sent = 1, .failed = 1, .pending = 1, .deferred = 1}, true, true,
	 "edition 2026-11-24: 2 articles; 3 subscribers: 1 would be sent, 1 already sent, 1 failed "
	 "(dry run: nothing sent)"},
	{0, {0}, false, false, "edition 2026-11-24: 0 articles; 0 subscribers: 0 sent, 0 deferred, 0 failed in 0.0 s "
			      "(0 msg/s)"},
};

static void test_summary(void **state)
{
	(void)state;
	struct deliver_stats ds = {.sent = 3, .failed = 1, .seconds = 2.0};
	for (size_t i = 0; i < ARRAY_LEN(summaries); i++) {
		char *got = report_summary("2026-11-24", summaries[i].articles, &summaries[i].dc,
					   summaries[i].with_stats ? &ds : NULL, summaries[i].dry);
		if (strcmp(got, summaries[i].want))
			fail_msg("case %zu:\n got  %s\n want %s", i, got, summaries[i].want);
		/* a dry run never says deferred */
		if (summaries[i].dry)
			assert_null(strstr(got, "deferred"));
		free(got);
	}
}

/* `status --failed` of an edition: the failed reader with its reply on
 * one line, the deferred one, the count of the untried, what came back;
 * the sent reader nowhere. */
static void test_failed(void **state)
{
	(void)state;
	char *path = xasprintf("%s/failed.db", dir), *err = NULL;
	struct store *st;
	assert_int_equal(store_open(path, &st, &err), 0);
	const char *who[] = {"sent@x.org", "refused@x.org", "later@x.org", "untried@x.org"};
	long long id[4];
	for (int i = 0; i < 4; i++) {
		struct sub_args a = {.ev = SUB_EV_IMPORT + SUB_ACTIVE, .email = who[i], .now = 10};
		struct sub_result r;
		assert_int_equal(subscription_event(st, &a, &r, &err), 0);
		id[i] = r.id;
	}
	struct edition_rec rec = {.built_at = 1, .window_from = 0, .window_to = 1};
	assert_int_equal(store_edition_freeze(st, "2026-11-24", &rec, NULL, 0, &err), 0);
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-11-24", id[0], DELIVERY_SENT, "250 ok", 100, 3, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-11-24", id[1], DELIVERY_INFLIGHT, NULL, 100, 3, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-11-24", id[1], DELIVERY_FAILED,
					       "550 5.1.1 <refused@x.org>:\r\n user\tunknown", 100, 3, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-11-24", id[2], DELIVERY_INFLIGHT, NULL, 100, 3, &err), 0);
	assert_int_equal(subscription_delivery(st, "2026-11-24", id[2], DELIVERY_DEFERRED, "451 4.3.0 later", 100, 3,
					       &err), 0);
	struct bounce_rec b = {.subscriber = id[0], .kind = "bounce-soft", .source = "inbound", .status = "4.2.2",
			       .diagnostic = "mailbox\nfull", .edition = "2026-11-24"};
	assert_int_equal(store_bounce_log(st, &b, 200, &err), 0);
	assert_int_equal(store_commit(st, &err), 0);
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	assert_int_equal(report_failed(f, st, "2026-11-24", &err), 0);
	fclose(f);
	assert_non_null(strstr(out, "edition 2026-11-24: 1 failed\n"));
	assert_non_null(strstr(out, "edition 2026-11-24: 1 deferred (tried; the next run tries again), 1 untried\n"));
	assert_non_null(strstr(out, "550 5.1.1 <refused@x.org>: user unknown\n"));
	assert_non_null(strstr(out, "451 4.3.0 later\n"));
	assert_non_null(strstr(out, "came back for edition 2026-11-24: 1\n"));
	assert_non_null(strstr(out, "mailbox full\n"));
	/* the refusal the run logged is the failed row, not a second line */
	assert_null(strstr(out, "bounce-hard"));
	/* the sent reader only where mail came back for them */
	const char *first = strstr(out, "sent@x.org");
	assert_non_null(first);
	assert_true(first > strstr(out, "came back"));
	assert_null(strstr(out, "untried@x.org"));
	free(out);
	/* an edition with nothing to say */
	f = open_memstream(&out, &len);
	assert_int_equal(report_failed(f, st, "2026-11-25", &err), 0);
	fclose(f);
	assert_string_equal(out, "edition 2026-11-25: 0 failed\n\n"
				 "edition 2026-11-25: 0 deferred (tried; the next run tries again), 4 untried\n\n"
				 "came back for edition 2026-11-25: 0\n");
	free(out);
	store_close(st);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_failed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
