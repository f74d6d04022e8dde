/* Unit tests of subscription: the lifecycle's state table, every
 * from-state x event against a real database, the guards on both sides,
 * each event one transaction, and the consent trail it records. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "digest/store.h"
#include "digest/subscription.h"
#include "digest/util.h"

static char dir[] = "/tmp/digest-subscription-XXXXXX";

/* The expected table, written out from the SPEC (not read from the code):
 * for each event, what each from-state (pending, active, unsubscribed,
 * bouncing, no subscriber) becomes and the outcome. "-" : the status
 * stays (or, for no subscriber, none is made). Each from-state is made by
 * an operator's resubscribe, so: no confirmation mail is due or was sent,
 * no bounce yet; threshold 3, max_bounces 3. */
static const struct {
	enum sub_event ev;
	const char *cells[5]; /* "TO OUTCOME" */
} expected[] = {
	{SUB_EV_REQUEST, {"- owed", "- active", "- returned", "- returned", "pending added"}},
	{SUB_EV_CONFIRM, {"active updated", "- active", "- expired", "- expired", "- none"}},
	{SUB_EV_UNSUBSCRIBE,
	 {"unsubscribed updated", "unsubscribed updated", "- unchanged", "unsubscribed updated", "- none"}},
	{SUB_EV_MAIL_UNSUBSCRIBE, {"unsubscribed updated", "unsubscribed updated", "- unchanged", "unsubscribed updated",
				   "- none"}},
	{SUB_EV_COMPLAINT,
	 {"unsubscribed updated", "unsubscribed updated", "- unchanged", "unsubscribed updated", "- none"}},
	{SUB_EV_IMPORT + SUB_PENDING, {"- unchanged", "- unchanged", "- kept", "- kept", "pending added"}},
	{SUB_EV_IMPORT + SUB_ACTIVE, {"active updated", "- unchanged", "- kept", "- kept", "active added"}},
	{SUB_EV_IMPORT + SUB_UNSUBSCRIBED, {"unsubscribed updated", "unsubscribed updated", "- unchanged", "- kept",
					    "unsubscribed added"}},
	{SUB_EV_IMPORT + SUB_BOUNCING, {"bouncing updated", "bouncing updated", "- kept", "- unchanged", "bouncing added"}},
	{SUB_EV_RESUBSCRIBE + SUB_PENDING,
	 {"- unchanged", "- unchanged", "pending updated", "pending updated", "pending added"}},
	{SUB_EV_RESUBSCRIBE + SUB_ACTIVE,
	 {"active updated", "- unchanged", "active updated", "active updated", "active added"}},
	{SUB_EV_RESUBSCRIBE + SUB_UNSUBSCRIBED, {"unsubscribed updated", "unsubscribed updated", "- unchanged",
						 "unsubscribed updated", "unsubscribed added"}},
	{SUB_EV_RESUBSCRIBE + SUB_BOUNCING, {"bouncing updated", "bouncing updated", "bouncing updated", "- unchanged",
					     "bouncing added"}},
	{SUB_EV_BOUNCE_HARD, {"- scored", "- scored", "- scored", "- scored", "- none"}},
	{SUB_EV_BOUNCE_SOFT, {"- scored", "- scored", "- scored", "- scored", "- none"}},
	{SUB_EV_CONFIRM_BOUNCE, {"- dropped", "- unchanged", "- dropped", "- dropped", "- none"}},
	{SUB_EV_REFUSED, {"- scored", "- scored", "- scored", "- scored", "- none"}},
	{SUB_EV_SENT, {"- unchanged", "- unchanged", "- unchanged", "- unchanged", "- none"}},
};

static struct store *open_db(const char *name, char **path)
{
	*path = xasprintf("%s/%s", dir, name);
	struct store *st;
	char *err = NULL;
	assert_int_equal(store_open(*path, &st, &err), 0);
	struct edition_rec rec = {.built_at = 1, .window_from = 0, .window_to = 1};
	assert_int_equal(store_edition_freeze(st, "2026-01-01", &rec, NULL, 0, &err), 0);
	return st;
}

static int status_of(struct store *st, const char *email)
{
	struct subscriber s = {0};
	char *err = NULL;
	int found = store_subscriber_get(st, email, &s, &err);
	assert_true(found >= 0);
	int rc = found ? (int)s.status : -1;
	subscriber_clear(&s);
	return rc;
}

/* Every from-state x event: the table in the code agrees with the one
 * above, in the database, one transaction each. */
static void test_every_cell(void **state)
{
	(void)state;
	char *path;
	struct store *st = open_db("cells.db", &path);
	char *err = NULL;
	assert_int_equal((int)ARRAY_LEN(expected), SUB_EV_COUNT);
	int cells = 0;
	for (size_t e = 0; e < ARRAY_LEN(expected); e++) {
		for (int from = 0; from < 5; from++) {
			char email[64];
			snprintf(email, sizeof email, "e%zu-f%d@x.org", e, from);
			long long now = 100000 + (long long)e * 10 + from;
			if (from < 4) {
				struct sub_args mk = {.ev = SUB_EV_RESUBSCRIBE + from, .email = email, .now = now - 5};
				struct sub_result r;
				assert_int_equal(subscription_event(st, &mk, &r, &err), 0);
				assert_int_equal(r.outcome, SUB_ADDED);
			}
			struct sub_args a = {.ev = expected[e].ev, .email = email, .now = now, .resend = 3600,
					     .max_bounces = 3};
			struct sub_result r;
			assert_int_equal(subscription_event(st, &a, &r, &err), 0);
			char want_to[32], want_out[32];
			assert_int_equal(sscanf(expected[e].cells[from], "%31s %31s", want_to, want_out), 2);
			const char *from_name = from < 4 ? sub_status_name((enum sub_status)from) : "none";
			if (strcmp(sub_outcome_name(r.outcome), want_out))
				fail_msg("%s x %s: outcome %s, want %s", from_name, sub_event_name(a.ev),
					 sub_outcome_name(r.outcome), want_out);
			int got = status_of(st, email);
			int want = !strcmp(want_to, "-") ? (from < 4 ? from : -1) : -1;
			if (strcmp(want_to, "-"))
				assert_int_equal(sub_status_parse(want_to, (enum sub_status *)&want), 0);
			if (got != want)
				fail_msg("%s x %s: status %s, want %s", from_name, sub_event_name(a.ev),
					 got < 0 ? "none" : sub_status_name((enum sub_status)got), want_to);
			if (got >= 0 && (int)r.to != got)
				fail_msg("%s x %s: result says %s, the database %s", from_name, sub_event_name(a.ev),
					 sub_status_name(r.to), sub_status_name((enum sub_status)got));
			cells++;
		}
	}
	assert_int_equal(cells, SUB_EV_COUNT * 5);
	assert_null(err);
	store_close(st);
	free(path);
}

/* The guards, on the side the table above does not reach. */
static void test_guards(void **state)
{
	(void)state;
	char *path;
	struct store *st = open_db("guards.db", &path);
	char *err = NULL;
	struct sub_result r;
	const long long day = 86400, t0 = 20000 * day;

	/* a confirmation sent since leaving: its link brings them back */
	struct sub_args a = {.ev = SUB_EV_RESUBSCRIBE + SUB_UNSUBSCRIBED, .email = "u@x.org", .now = t0};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	a = (struct sub_args){.ev = SUB_EV_REQUEST, .email = "u@x.org", .now = t0 + 10, .resend = 3600};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	assert_int_equal(r.outcome, SUB_RETURNED);
	struct subscriber s;
	assert_int_equal(store_subscriber_get(st, "u@x.org", &s, &err), 1);
	assert_int_equal(store_optin_claim(st, &s, t0 + 11, &err), 1);
	a = (struct sub_args){.ev = SUB_EV_CONFIRM, .id = s.id, .now = t0 + 12};
	assert_int_equal(subscription_peek(st, &a, &r, &err), 0);
	assert_int_equal(r.outcome, SUB_UPDATED);
	assert_int_equal(status_of(st, "u@x.org"), SUB_UNSUBSCRIBED); /* a peek writes nothing */
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	assert_int_equal(r.to, SUB_ACTIVE);
	subscriber_clear(&s);
	/* asked again within RESEND of a mail: wait */
	a = (struct sub_args){.ev = SUB_EV_RESUBSCRIBE + SUB_PENDING, .email = "p@x.org", .now = t0};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	a = (struct sub_args){.ev = SUB_EV_REQUEST, .email = "p@x.org", .now = t0 + 1, .resend = 3600};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	assert_int_equal(r.outcome, SUB_OWED);
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	assert_int_equal(r.outcome, SUB_WAIT); /* one is due already */

	/* bounces: the threshold makes an active reader bouncing, one step a day */
	store_bounce_policy(st, 1.5, 14);
	a = (struct sub_args){.ev = SUB_EV_RESUBSCRIBE + SUB_ACTIVE, .email = "b@x.org", .now = t0};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	long long b = r.id;
	static const struct {
		enum sub_event ev;
		long long at;
		const char *outcome;
		enum sub_status to;
	} steps[] = {
		{SUB_EV_BOUNCE_HARD, t0 + 10, "scored", SUB_ACTIVE},      /* 1 */
		{SUB_EV_BOUNCE_HARD, t0 + 20, "scored", SUB_ACTIVE},      /* the same day: still 1 */
		{SUB_EV_BOUNCE_SOFT, t0 + day, "updated", SUB_BOUNCING},  /* 1.5 */
		{SUB_EV_BOUNCE_HARD, t0 + 2 * day, "scored", SUB_BOUNCING}, /* bouncing stays so */
		{SUB_EV_CONFIRM_BOUNCE, t0 + 2 * day, "dropped", SUB_BOUNCING},
	};
	for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
		a = (struct sub_args){.ev = steps[i].ev, .id = b, .now = steps[i].at};
		assert_int_equal(subscription_event(st, &a, &r, &err), 0);
		if (strcmp(sub_outcome_name(r.outcome), steps[i].outcome) || r.to != steps[i].to)
			fail_msg("bounce step %zu: %s %s, want %s %s", i, sub_outcome_name(r.outcome),
				 sub_status_name(r.to), steps[i].outcome, sub_status_name(steps[i].to));
	}
	/* refusals in a run: MAX_BOUNCES in a row, a sent message between starts again */
	store_bounce_policy(st, 100, 14);
	a = (struct sub_args){.ev = SUB_EV_RESUBSCRIBE + SUB_ACTIVE, .email = "r@x.org", .now = t0};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	long long rid = r.id;
	static const enum sub_event run[] = {SUB_EV_REFUSED, SUB_EV_SENT, SUB_EV_REFUSED, SUB_EV_REFUSED};
	for (size_t i = 0; i < ARRAY_LEN(run); i++) {
		a = (struct sub_args){.ev = run[i], .id = rid, .now = t0 + (long long)i, .max_bounces = 2};
		assert_int_equal(subscription_event(st, &a, &r, &err), 0);
		assert_int_equal(r.to, i == 3 ? SUB_BOUNCING : SUB_ACTIVE);
	}
	/* a refusal of one who left meanwhile never makes them bouncing */
	a = (struct sub_args){.ev = SUB_EV_UNSUBSCRIBE, .email = "u@x.org", .now = t0 + 100};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	for (int i = 0; i < 3; i++) {
		a = (struct sub_args){.ev = SUB_EV_REFUSED, .email = "u@x.org", .now = t0 + 200 + i, .max_bounces = 1};
		assert_int_equal(subscription_event(st, &a, &r, &err), 0);
		assert_int_equal(r.to, SUB_UNSUBSCRIBED);
	}
	/* an import renames a reader it keeps bouncing; a request never renames */
	a = (struct sub_args){.ev = SUB_EV_IMPORT + SUB_ACTIVE, .email = "r@x.org", .name = "R", .now = t0};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	assert_int_equal(r.outcome, SUB_KEPT);
	assert_int_equal(r.to, SUB_BOUNCING);
	a = (struct sub_args){.ev = SUB_EV_REQUEST, .email = "r@x.org", .name = "Stranger", .now = t0 + 5 * day};
	assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	assert_int_equal(store_subscriber_get(st, "r@x.org", &s, &err), 1);
	assert_string_equal(s.name, "R");
	subscriber_clear(&s);
	assert_null(err);
	store_close(st);
	free(path);
}

/* One transaction each: an event that fails leaves nothing behind, and
 * apply inside a transaction the caller rolls back leaves nothing. */
static void test_transactions(void **state)
{
	(void)state;
	char *path;
	struct store *st = open_db("tx.db", &path);
	char *err = NULL;
	struct sub_result r;
	struct sub_args a = {.ev = SUB_EV_IMPORT + SUB_ACTIVE, .email = "a@x.org", .now = 10};
	assert_int_equal(store_begin(st, &err), 0);
	assert_int_equal(subscription_apply(st, &a, &r, &err), 0);
	store_rollback(st);
	assert_int_equal(status_of(st, "a@x.org"), -1);
	/* a new row needs an address: the event fails whole */
	a = (struct sub_args){.ev = SUB_EV_REQUEST, .now = 10};
	assert_int_equal(subscription_event(st, &a, &r, &err), -1);
	assert_non_null(err);
	free(err);
	err = NULL;
	long long counts[4];
	assert_int_equal(store_subscriber_counts(st, counts, &err), 0);
	assert_int_equal(counts[0] + counts[1] + counts[2] + counts[3], 0);
	/* the names of events and outcomes are all distinct and known */
	for (int e = 0; e < SUB_EV_COUNT; e++)
		assert_string_not_equal(sub_event_name((enum sub_event)e), "?");
	assert_string_equal(sub_event_name(SUB_EV_COUNT), "?");
	for (int o = 0; o < SUB_OUTCOME_COUNT; o++)
		assert_string_not_equal(sub_outcome_name((enum sub_outcome)o), "?");
	store_close(st);
	free(path);
}

/* A row of the store, as text: what a dry run must leave alone. */
static int row_text(void *ctx, const struct subscriber *sub)
{
	buf_addf(ctx, "%s|%s|%d|%lld\n", sub->email, sub->name ? sub->name : "-", (int)sub->status, sub->status_at);
	return 0;
}

static char *rows_of(struct store *st)
{
	struct buf b = {0};
	char *err = NULL;
	buf_add(&b, "", 0);
	assert_int_equal(store_subscribers_each(st, -1, row_text, &b, &err), 0);
	return b.data;
}

/* One event of a random import: one of a few readers (in other
 * spellings), any import status, with or without --resubscribe, a name
 * or none. */
static struct sub_args random_import(unsigned long long *x, long long now)
{
	static const char *const emails[] = {"a@x.org", "A@X.ORG", "b@x.org", "c@x.org", "B@x.org", "d@x.org",
					     "e@x.org", "f@почта.рф"};
	static const char *const names[] = {NULL, "Ann", "Bob", NULL, "Ann"};
	*x ^= *x << 13, *x ^= *x >> 7, *x ^= *x << 17;
	unsigned long long v = *x >> 16;
	struct sub_args a = {.now = now};
	a.ev = (v & 1 ? SUB_EV_RESUBSCRIBE : SUB_EV_IMPORT) + (int)(v >> 1 & 3);
	a.email = emails[(v >> 3) % ARRAY_LEN(emails)];
	a.name = names[(v >> 7) % ARRAY_LEN(names)];
	return a;
}

/* A dry run says, event by event, what applying the same events says,
 * over a store with readers in every status and over none at all; and it
 * writes nothing. */
static void test_dry_run(void **state)
{
	(void)state;
	char *path;
	struct store *st = open_db("dry.db", &path);
	char *err = NULL;
	struct sub_result r, d;
	/* readers before: one in each status */
	static const struct {
		const char *email;
		enum sub_status s;
	} before[] = {{"a@x.org", SUB_PENDING}, {"b@x.org", SUB_ACTIVE}, {"c@x.org", SUB_UNSUBSCRIBED},
		      {"d@x.org", SUB_BOUNCING}};
	for (size_t i = 0; i < ARRAY_LEN(before); i++) {
		struct sub_args a = {.ev = SUB_EV_RESUBSCRIBE + before[i].s, .email = before[i].email, .now = 5};
		assert_int_equal(subscription_event(st, &a, &r, &err), 0);
	}
	for (int round = 0; round < 40; round++) {
		unsigned long long x = 0x9E3779B97F4A7C15ULL + (unsigned long long)round, y = x;
		char *rows = rows_of(st);
		struct sub_dry *dry = sub_dry_new();
		enum sub_outcome want[64];
		for (int i = 0; i < 64; i++) {
			struct sub_args a = random_import(&x, 100 + round);
			assert_int_equal(subscription_dry(st, dry, &a, &d, &err), 0);
			want[i] = d.outcome;
		}
		sub_dry_free(dry);
		char *after = rows_of(st);
		assert_string_equal(rows, after); /* nothing written */
		free(after);
		assert_int_equal(store_begin(st, &err), 0);
		for (int i = 0; i < 64; i++) {
			struct sub_args a = random_import(&y, 100 + round);
			assert_int_equal(subscription_apply(st, &a, &r, &err), 0);
			if (r.outcome != want[i])
				fail_msg("round %d, event %d (%s %s): dry %s, applied %s", round, i,
					 sub_event_name(a.ev), a.email, sub_outcome_name(want[i]),
					 sub_outcome_name(r.outcome));
		}
		/* every other round is kept: the next starts from what it left */
		if (round % 2)
			assert_int_equal(store_commit(st, &err), 0);
		else
			store_rollback(st);
		free(rows);
	}
	store_close(st);
	free(path);

	/* no store: as an empty one */
	st = open_db("dry-empty.db", &path);
	unsigned long long x = 42, y = 42;
	struct sub_dry *dry = sub_dry_new();
	assert_int_equal(store_begin(st, &err), 0);
	for (int i = 0; i < 200; i++) {
		struct sub_args a = random_import(&x, 7), b = random_import(&y, 7);
		assert_int_equal(subscription_dry(NULL, dry, &a, &d, &err), 0);
		assert_int_equal(subscription_apply(st, &b, &r, &err), 0);
		assert_int_equal(d.outcome, r.outcome);
		assert_int_equal(d.to, r.to);
	}
	store_rollback(st);
	sub_dry_free(dry);
	sub_dry_free(NULL);
	store_close(st);
	free(path);
}

struct trail {
	char rows[16][160];
	int n;
};

static int trail_row(void *ctx, const struct consent_row *c)
{
	struct trail *t = ctx;
	if (t->n < 16)
		snprintf(t->rows[t->n++], sizeof t->rows[0], "%lld %s %s %s", c->at, c->event, c->client, c->wording);
	return 0;
}

/* The trail of EMAIL, rows joined by "|". */
static char *trail_of(struct store *st, const char *email)
{
	struct subscriber s = {0};
	char *err = NULL;
	assert_int_equal(store_subscriber_get(st, email, &s, &err), 1);
	struct trail t = {0};
	assert_int_equal(store_consents_each(st, s.id, trail_row, &t, &err), 0);
	subscriber_clear(&s);
	struct buf b = {0};
	for (int i = 0; i < t.n; i++) {
		buf_adds(&b, i ? "|" : "");
		buf_adds(&b, t.rows[i]);
	}
	buf_add(&b, "", 1);
	return b.data;
}

/* Proof of consent: each step with a consent record goes in the trail,
 * in the event's transaction; nothing that changed nothing does, and a
 * peek never. */
static void test_consent_trail(void **state)
{
	(void)state;
	char *path;
	struct store *st = open_db("consent.db", &path);
	char *err = NULL;
	struct sub_result r;
	static const struct consent_rec web = {.event = "request", .client = "203.0.113.5", .wording = "0123456789ab"};
	static const struct consent_rec click = {.event = "confirm", .client = "2001:db8::1", .wording = "0123456789ab"};
	static const struct consent_rec one_click = {.event = "one-click", .client = "203.0.113.5"};
	static const struct consent_rec import = {.client = "import:list.csv"};
	static const struct {
		enum sub_event ev;
		const struct consent_rec *c;
		bool peek, rollback;
		const char *trail; /* after the step */
	} steps[] = {
		{SUB_EV_REQUEST, &web, false, false, "10 request 203.0.113.5 0123456789ab"},
		/* asking again while the mail is recent: a request all the same */
		{SUB_EV_REQUEST, &web, false, false, "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab"},
		/* a peek (the GET of the link) and a rolled-back event leave nothing */
		{SUB_EV_CONFIRM, &click, true, false, "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab"},
		{SUB_EV_CONFIRM, &click, false, true, "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab"},
		{SUB_EV_CONFIRM, &click, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"},
		/* an active reader asking or confirming again: nothing */
		{SUB_EV_REQUEST, &web, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"},
		{SUB_EV_CONFIRM, &click, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"},
		{SUB_EV_UNSUBSCRIBE, &one_click, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"
		 "|17 one-click 203.0.113.5 "},
		/* already so, kept by an import, or no record given: nothing */
		{SUB_EV_UNSUBSCRIBE, &one_click, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"
		 "|17 one-click 203.0.113.5 "},
		{SUB_EV_IMPORT + SUB_ACTIVE, &import, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"
		 "|17 one-click 203.0.113.5 "},
		{SUB_EV_RESUBSCRIBE + SUB_PENDING, NULL, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"
		 "|17 one-click 203.0.113.5 "},
		/* the event's own name when the record names none */
		{SUB_EV_RESUBSCRIBE + SUB_ACTIVE, &import, false, false,
		 "10 request 203.0.113.5 0123456789ab|11 request 203.0.113.5 0123456789ab|14 confirm 2001:db8::1 0123456789ab"
		 "|17 one-click 203.0.113.5 |21 resubscribe-active import:list.csv "},
		/* a bounce that only scores changes no status: no row, even given a record */
		{SUB_EV_BOUNCE_HARD, &web, false, false, NULL},
	};
	for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
		struct sub_args a = {.ev = steps[i].ev, .email = "Jane@Example.org", .now = 10 + (long long)i,
				     .resend = 3600, .consent = steps[i].c};
		if (steps[i].peek) {
			assert_int_equal(subscription_peek(st, &a, &r, &err), 0);
		} else if (steps[i].rollback) {
			assert_int_equal(store_begin(st, &err), 0);
			assert_int_equal(subscription_apply(st, &a, &r, &err), 0);
			assert_int_equal(r.outcome, SUB_UPDATED);
			store_rollback(st);
		} else {
			assert_int_equal(subscription_event(st, &a, &r, &err), 0);
		}
		char *t = trail_of(st, "jane@example.org");
		const char *want = steps[i].trail ? steps[i].trail : steps[i - 1].trail;
		if (strcmp(t, want))
			fail_msg("step %zu (%s): trail [%s], want [%s]", i, sub_event_name(steps[i].ev), t, want);
		free(t);
	}
	/* the trail goes with the reader */
	store_close(st);
	sqlite3 *db;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_stmt *q;
	assert_int_equal(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE FROM subscribers", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM consents", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(q, 0), 0);
	sqlite3_finalize(q);
	sqlite3_close(db);
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
		cmocka_unit_test(test_every_cell),
		cmocka_unit_test(test_guards),
		cmocka_unit_test(test_transactions),
		cmocka_unit_test(test_dry_run),
		cmocka_unit_test(test_consent_trail),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
