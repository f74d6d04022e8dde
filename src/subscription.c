/* subscription: the subscriber lifecycle, one state table. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest/subscription.h"
#include "digest/util.h"

/* The columns of the table: the four statuses, and no subscriber yet. */
enum { FROM_NONE = 4, FROM_COUNT };
/* A cell's TO besides a status: the status stays (or no row is made). */
#define KEEP (-1)

/* What a cell's move depends on; without it the cell's NO outcome, the
 * status kept. */
enum guard {
	G_ALWAYS,
	G_OWED,        /* REQUEST: a confirmation mail became owed (none due, none sent within RESEND) */
	G_CONFIRMABLE, /* CONFIRM of one who left: a confirmation mail went out since they left */
	G_THRESHOLD,   /* a bounce: the score reached the threshold */
	G_REFUSALS,    /* a refusal: the score reached the threshold, or max_bounces in a row */
	G_NOT_ERASED,  /* an import: the mailbox was not erased on request (else SUB_ERASED) */
};

struct cell {
	signed char to; /* enum sub_status, or KEEP */
	unsigned char guard;
	unsigned char yes, no; /* enum sub_outcome with the guard holding, or not */
};

#define GO(t, o) {(t), G_ALWAYS, (o), (o)}
#define STAY(o) {KEEP, G_ALWAYS, (o), (o)}
#define IF(g, t, y, n) {(t), (g), (y), (n)}
#define NOONE STAY(SUB_NONE)
/* an import's cell: as given, unless the mailbox was erased on request */
#define IMP(t, o) {(t), G_NOT_ERASED, (o), SUB_ERASED}
#define IMPSTAY(o) IMP(KEEP, o)
#define P SUB_PENDING
#define A SUB_ACTIVE
#define U SUB_UNSUBSCRIBED
#define B SUB_BOUNCING

/*
 * THE state machine: from-state x event -> to-state and outcome. Columns:
 * pending, active, unsubscribed, bouncing, (no subscriber). Nothing but
 * this table moves a subscriber from one status to another; the effects
 * below only keep the other columns (scores, confirmation mails, nonce).
 * Invariants it keeps: someone who left (unsubscribed) comes back only by
 * following a confirmation link mailed since, or by an operator's
 * --resubscribe/--confirmed; an import never brings back whoever left or
 * bounced; only an active reader becomes bouncing; a mailbox erased on
 * request comes back only by its own request and confirmation, never by
 * an import or an operator's resubscribe.
 */
static const struct cell table[SUB_EV_COUNT][FROM_COUNT] = {
	[SUB_EV_REQUEST] = {IF(G_OWED, KEEP, SUB_OWED, SUB_WAIT), STAY(SUB_ALREADY_ACTIVE),
			    IF(G_OWED, KEEP, SUB_RETURNED, SUB_WAIT), IF(G_OWED, KEEP, SUB_RETURNED, SUB_WAIT),
			    GO(P, SUB_ADDED)},
	[SUB_EV_CONFIRM] = {GO(A, SUB_UPDATED), STAY(SUB_ALREADY_ACTIVE), IF(G_CONFIRMABLE, A, SUB_UPDATED, SUB_EXPIRED),
			    IF(G_CONFIRMABLE, A, SUB_UPDATED, SUB_EXPIRED), NOONE},
	[SUB_EV_UNSUBSCRIBE] = {GO(U, SUB_UPDATED), GO(U, SUB_UPDATED), STAY(SUB_UNCHANGED), GO(U, SUB_UPDATED), NOONE},
	[SUB_EV_MAIL_UNSUBSCRIBE] = {GO(U, SUB_UPDATED), GO(U, SUB_UPDATED), STAY(SUB_UNCHANGED), GO(U, SUB_UPDATED),
				     NOONE},
	[SUB_EV_COMPLAINT] = {GO(U, SUB_UPDATED), GO(U, SUB_UPDATED), STAY(SUB_UNCHANGED), GO(U, SUB_UPDATED), NOONE},
	/* an import never demotes an active reader to pending, and never
	 * touches a mailbox erased on request, whatever its status now (one
	 * who asked to come back is pending until they confirm) */
	[SUB_EV_IMPORT + P] = {IMPSTAY(SUB_UNCHANGED), IMPSTAY(SUB_UNCHANGED), IMPSTAY(SUB_KEPT), IMPSTAY(SUB_KEPT),
			       IMP(P, SUB_ADDED)},
	[SUB_EV_IMPORT + A] = {IMP(A, SUB_UPDATED), IMPSTAY(SUB_UNCHANGED), IMPSTAY(SUB_KEPT), IMPSTAY(SUB_KEPT),
			       IMP(A, SUB_ADDED)},
	[SUB_EV_IMPORT + U] = {IMP(U, SUB_UPDATED), IMP(U, SUB_UPDATED), IMPSTAY(SUB_UNCHANGED), IMPSTAY(SUB_KEPT),
			       IMP(U, SUB_ADDED)},
	[SUB_EV_IMPORT + B] = {IMP(B, SUB_UPDATED), IMP(B, SUB_UPDATED), IMPSTAY(SUB_KEPT), IMPSTAY(SUB_UNCHANGED),
			       IMP(B, SUB_ADDED)},
	[SUB_EV_RESUBSCRIBE + P] = {IMPSTAY(SUB_UNCHANGED), IMPSTAY(SUB_UNCHANGED), IMP(P, SUB_UPDATED),
				    IMP(P, SUB_UPDATED), IMP(P, SUB_ADDED)},
	[SUB_EV_RESUBSCRIBE + A] = {IMP(A, SUB_UPDATED), IMPSTAY(SUB_UNCHANGED), IMP(A, SUB_UPDATED),
				    IMP(A, SUB_UPDATED), IMP(A, SUB_ADDED)},
	[SUB_EV_RESUBSCRIBE + U] = {IMP(U, SUB_UPDATED), IMP(U, SUB_UPDATED), IMPSTAY(SUB_UNCHANGED),
				    IMP(U, SUB_UPDATED), IMP(U, SUB_ADDED)},
	[SUB_EV_RESUBSCRIBE + B] = {IMP(B, SUB_UPDATED), IMP(B, SUB_UPDATED), IMP(B, SUB_UPDATED),
				    IMPSTAY(SUB_UNCHANGED), IMP(B, SUB_ADDED)},
	[SUB_EV_BOUNCE_HARD] = {STAY(SUB_SCORED), IF(G_THRESHOLD, B, SUB_UPDATED, SUB_SCORED), STAY(SUB_SCORED),
				STAY(SUB_SCORED), NOONE},
	[SUB_EV_BOUNCE_SOFT] = {STAY(SUB_SCORED), IF(G_THRESHOLD, B, SUB_UPDATED, SUB_SCORED), STAY(SUB_SCORED),
				STAY(SUB_SCORED), NOONE},
	[SUB_EV_CONFIRM_BOUNCE] = {STAY(SUB_DROPPED), STAY(SUB_UNCHANGED), STAY(SUB_DROPPED), STAY(SUB_DROPPED), NOONE},
	[SUB_EV_REFUSED] = {STAY(SUB_SCORED), IF(G_REFUSALS, B, SUB_UPDATED, SUB_SCORED), STAY(SUB_SCORED),
			    STAY(SUB_SCORED), NOONE},
	[SUB_EV_SENT] = {STAY(SUB_UNCHANGED), STAY(SUB_UNCHANGED), STAY(SUB_UNCHANGED), STAY(SUB_UNCHANGED), NOONE},
};

#undef P
#undef A
#undef U
#undef B

const char *sub_event_name(enum sub_event ev)
{
	static const char *const names[SUB_EV_COUNT] = {
		"request", "confirm", "unsubscribe", "mail-unsubscribe", "complaint",
		"import-pending", "import-active", "import-unsubscribed", "import-bouncing",
		"resubscribe-pending", "resubscribe-active", "resubscribe-unsubscribed", "resubscribe-bouncing",
		"bounce-hard", "bounce-soft", "confirm-bounce", "refused", "sent"};
	return (unsigned)ev < SUB_EV_COUNT ? names[ev] : "?";
}

const char *sub_outcome_name(enum sub_outcome o)
{
	static const char *const names[SUB_OUTCOME_COUNT] = {
		"none", "added", "updated", "unchanged", "kept", "owed", "returned", "wait", "active", "expired",
		"scored", "dropped", "erased"};
	return (unsigned)o < SUB_OUTCOME_COUNT ? names[o] : "?";
}

/* ---- effects: the columns besides the status ---- */

/* A bounce's step on R's score (SPEC: hard 1, soft 0.5, at most one step
 * per UTC day; back to 0 after RESET_DAYS without a bounce). */
static void score_step(struct sub_row *r, double step, long long now, int reset_days)
{
	long long today = now / 86400, reset = (long long)reset_days * 86400;
	bool has_day = r->bounce_day >= 0;
	bool quiet = has_day && now - r->bounce_at >= reset;
	if (quiet)
		r->bounce_score = 0; /* quiet long enough: a fresh start */
	if (!has_day || r->bounce_day != today || quiet)
		r->bounce_score += step;
	r->bounce_day = today;
	r->bounce_at = now;
}

/* A request for R: the time it was made; a confirmation mail owed unless
 * one is due or went out less than RESEND s ago (a clock set back holds
 * nothing up for ever); the first request since leaving gets a new nonce
 * so that links from before never work again. An active reader is only
 * noted as asking. */
static void request(struct sub_row *r, long long now, long long resend)
{
	r->asked_at = now;
	if (r->status == SUB_ACTIVE)
		return;
	bool left = r->status == SUB_UNSUBSCRIBED || r->status == SUB_BOUNCING;
	if (left && r->confirm_due < 0 && (r->confirm_sent_at < 0 || r->confirm_sent_at < r->status_at))
		store_new_nonce(r->nonce);
	long long sent = r->confirm_sent_at;
	if (r->confirm_due < 0 && (sent < 0 || sent <= now - resend || sent > now))
		r->confirm_due = now;
}

/* R enters status TO at NOW: no confirmation owed any more; the refusals
 * in a row start again (but for bouncing, which they caused); leaving
 * forgets the mails sent (an old link never brings anyone back); coming
 * back active starts the bounce score again. */
static void enter(struct sub_row *r, enum sub_status to, long long now)
{
	r->status = to;
	r->status_at = now;
	r->confirm_due = -1;
	if (to != SUB_BOUNCING)
		r->bounces = 0;
	if (to == SUB_UNSUBSCRIBED)
		r->confirm_sent_at = -1;
	if (to == SUB_ACTIVE)
		r->bounce_score = 0;
}

/* What event A does to R besides its status, whatever the table says of
 * the status: the request's bookkeeping, a bounce's step, the refusals in
 * a row, a confirmation no longer owed. */
static void effects(struct sub_row *r, const struct sub_args *a, int reset_days)
{
	switch (a->ev) {
	case SUB_EV_REQUEST: request(r, a->now, a->resend); break;
	case SUB_EV_BOUNCE_HARD: score_step(r, 1.0, a->now, reset_days); break;
	case SUB_EV_BOUNCE_SOFT: score_step(r, 0.5, a->now, reset_days); break;
	case SUB_EV_REFUSED:
		score_step(r, 1.0, a->now, reset_days);
		r->bounces++;
		break;
	case SUB_EV_CONFIRM_BOUNCE: r->confirm_due = -1; break;
	case SUB_EV_SENT: r->bounces = 0; break;
	default: break;
	}
}

/* Whether a cell's guard G holds, BEFORE and AFTER the event's effects. */
static bool holds(enum guard g, const struct sub_row *before, const struct sub_row *after, const struct sub_args *a,
		  double threshold)
{
	switch (g) {
	case G_NOT_ERASED: return !a->erased;
	case G_OWED: return before->confirm_due < 0 && after->confirm_due >= 0;
	case G_CONFIRMABLE: return before->confirm_sent_at >= 0 && before->confirm_sent_at >= before->status_at;
	case G_THRESHOLD: return after->bounce_score >= threshold;
	case G_REFUSALS:
		return after->bounce_score >= threshold || (a->max_bounces > 0 && after->bounces >= a->max_bounces);
	case G_ALWAYS:
	default: return true;
	}
}

static bool import_event(enum sub_event ev) { return ev >= SUB_EV_IMPORT && ev <= SUB_EV_RESUBSCRIBE_LAST; }

void subscription_decide(const struct sub_row *before, const struct sub_args *a, double threshold, int reset_days,
			 struct sub_row *after, struct sub_result *res)
{
	memset(after, 0, sizeof *after);
	*res = (struct sub_result){0};
	const struct cell *c = &table[a->ev][before ? (int)before->status : FROM_NONE];
	if (!before) {
		/* no row: only an import's guard applies (it reads A alone) */
		bool go = c->guard != G_NOT_ERASED || !a->erased;
		res->outcome = go ? c->yes : c->no;
		if (c->to == KEEP || !go)
			return;
		/* a new row: only REQUEST and imports make one */
		after->status = (enum sub_status)c->to;
		after->status_at = a->now;
		after->confirm_due = after->confirm_sent_at = after->asked_at = -1;
		after->bounce_day = after->bounce_at = -1;
		after->name = a->name ? xstrdup(a->name) : NULL;
		store_new_nonce(after->nonce);
		if (a->ev == SUB_EV_REQUEST)
			after->confirm_due = after->asked_at = a->now;
		res->from = res->to = after->status;
		return;
	}
	*after = *before;
	after->name = before->name ? xstrdup(before->name) : NULL;
	res->id = before->id;
	res->from = before->status;
	effects(after, a, reset_days);
	bool guard = holds((enum guard)c->guard, before, after, a, threshold);
	res->outcome = guard ? c->yes : c->no;
	if (guard && c->to != KEEP && c->to != (int)before->status)
		enter(after, (enum sub_status)c->to, a->now);
	/* an import's name replaces the old one; it is all an unchanged
	 * line changes */
	if (import_event(a->ev) && guard && a->name && (!before->name || strcmp(a->name, before->name))) {
		free(after->name);
		after->name = xstrdup(a->name);
		if (res->outcome == SUB_UNCHANGED)
			res->outcome = SUB_UPDATED;
	}
	res->to = after->status;
}

/* ---- applying an event to the store ---- */

static bool same_row(const struct sub_row *x, const struct sub_row *y)
{
	return x->status == y->status && x->status_at == y->status_at && x->bounces == y->bounces &&
	       x->confirm_due == y->confirm_due && x->confirm_sent_at == y->confirm_sent_at &&
	       x->asked_at == y->asked_at && x->bounce_score == y->bounce_score && x->bounce_day == y->bounce_day &&
	       x->bounce_at == y->bounce_at && !strcmp(x->nonce, y->nonce) &&
	       (x->name ? y->name && !strcmp(x->name, y->name) : !y->name);
}

bool subscription_consents(const struct sub_args *a, const struct sub_result *res)
{
	if (!res->id)
		return false;
	switch (res->outcome) {
	case SUB_ADDED: return true;
	case SUB_OWED:
	case SUB_RETURNED:
	case SUB_WAIT: return a->ev == SUB_EV_REQUEST;
	default: return res->from != res->to;
	}
}

/* ---- a dry run's rows ---- */

/* Open addressing on the address key, grown at half full. */
struct dry_slot {
	char *key; /* NULL: empty */
	struct sub_row row;
};

struct sub_dry {
	struct dry_slot *slots;
	size_t cap, n;
};

struct sub_dry *sub_dry_new(void) { return xcalloc(1, sizeof(struct sub_dry)); }

void sub_dry_free(struct sub_dry *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->cap; i++)
		if (d->slots[i].key) {
			free(d->slots[i].key);
			sub_row_clear(&d->slots[i].row);
		}
	free(d->slots);
	free(d);
}

/* FNV-1a */
static size_t dry_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return (size_t)(h ^ h >> 32);
}

static struct dry_slot *dry_slot(const struct sub_dry *d, const char *key)
{
	if (!d->cap)
		return NULL;
	size_t i = dry_hash(key) & (d->cap - 1);
	while (d->slots[i].key && strcmp(d->slots[i].key, key) != 0)
		i = (i + 1) & (d->cap - 1);
	return &d->slots[i];
}

/* Remembers ROW (owning its name from now on) as KEY's (owned too). */
static void dry_put(struct sub_dry *d, char *key, struct sub_row *row)
{
	if (2 * (d->n + 1) > d->cap) {
		struct sub_dry bigger = {.cap = d->cap ? 2 * d->cap : 64};
		bigger.slots = xcalloc(bigger.cap, sizeof *bigger.slots);
		for (size_t i = 0; i < d->cap; i++)
			if (d->slots[i].key)
				*dry_slot(&bigger, d->slots[i].key) = d->slots[i];
		free(d->slots);
		d->slots = bigger.slots;
		d->cap = bigger.cap;
	}
	struct dry_slot *s = dry_slot(d, key);
	if (s->key) {
		free(key);
		sub_row_clear(&s->row);
	} else {
		s->key = key;
		d->n++;
	}
	s->row = *row;
	row->name = NULL;
}

/* Decide A against the stored row (or, in a dry run D, the one D holds);
 * when WRITE, store what changed and, with A's consent, the step in the
 * reader's trail; in a dry run, remember what changed. */
static int run(struct store *st, struct sub_dry *dry, const struct sub_args *given, bool write,
	       struct sub_result *res, char **err)
{
	struct sub_row before = {0}, after = {0};
	struct sub_args args = *given, *a = &args;
	char *key = dry ? store_key_of(a->email ? a->email : "") : NULL; /* the row's identity in the store */
	struct dry_slot *seen = key ? dry_slot(dry, key) : NULL;
	int found;
	if (seen && seen->key) {
		before = seen->row;
		before.name = before.name ? xstrdup(before.name) : NULL;
		found = 1;
	} else {
		found = st ? store_lifecycle_get(st, a->id, a->email, &before, err) : 0;
	}
	if (found < 0) {
		free(key);
		return -1;
	}
	/* whether the mailbox was erased: the store's word, asked only by
	 * the events it guards, for no row or a row an erased mailbox can
	 * have: one who asked to come back is pending until they confirm
	 * (and may unsubscribe meanwhile); an active or bouncing row never
	 * is, as only the confirmation that ends an erasure makes a row of
	 * one active (the table's guard keeps imports from it) */
	a->erased = false;
	if (st && import_event(a->ev) && a->email &&
	    (!found || before.status == SUB_PENDING || before.status == SUB_UNSUBSCRIBED)) {
		int e = store_erased(st, a->email, err);
		if (e < 0) {
			free(key);
			sub_row_clear(&before);
			return -1;
		}
		a->erased = e == 1;
	}
	double threshold = 3.0;
	int reset_days = 14;
	if (st)
		store_bounce_policy_get(st, &threshold, &reset_days);
	subscription_decide(found ? &before : NULL, a, threshold, reset_days, &after, res);
	int rc = 0;
	if (dry) {
		if ((!found && res->outcome == SUB_ADDED) || (found && !same_row(&before, &after))) {
			dry_put(dry, key, &after);
			key = NULL;
		}
	} else if (write && !found && res->outcome == SUB_ADDED) {
		if (!a->email)
			rc = errf(err, "a new subscriber needs an address");
		else
			rc = store_lifecycle_insert(st, a->email, &after, a->now, &res->id, err);
	} else if (write && found && !same_row(&before, &after)) {
		rc = store_lifecycle_put(st, &after, err);
		/* their own confirmation: the consent that ends an erasure */
		if (rc == 0 && a->ev == SUB_EV_CONFIRM && res->to == SUB_ACTIVE && res->from != SUB_ACTIVE)
			rc = store_erased_clear(st, before.id, err);
	}
	if (rc == 0 && write && a->consent && subscription_consents(a, res)) {
		struct consent_rec c = *a->consent;
		if (!c.event)
			c.event = sub_event_name(a->ev);
		rc = store_consent_add(st, res->id, &c, a->now, err);
	}
	free(key);
	sub_row_clear(&before);
	sub_row_clear(&after);
	return rc;
}

int subscription_dry(struct store *st, struct sub_dry *d, const struct sub_args *a, struct sub_result *res,
		     char **err)
{
	return run(st, d, a, false, res, err);
}

int subscription_apply(struct store *st, const struct sub_args *a, struct sub_result *res, char **err)
{
	return run(st, NULL, a, true, res, err);
}

int subscription_peek(struct store *st, const struct sub_args *a, struct sub_result *res, char **err)
{
	return run(st, NULL, a, false, res, err);
}

int subscription_event(struct store *st, const struct sub_args *a, struct sub_result *res, char **err)
{
	if (store_begin(st, err) < 0)
		return -1;
	if (run(st, NULL, a, true, res, err) < 0 || store_commit(st, err) < 0) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

int subscription_delivery(struct store *st, const char *edition, long long subscriber, enum delivery_state state,
			  const char *reply, long long now, int max_bounces, char **err)
{
	if (store_delivery_mark(st, edition, subscriber, state, reply, now, err) < 0)
		return -1;
	struct sub_args a = {.id = subscriber, .now = now, .max_bounces = max_bounces};
	struct sub_result res;
	if (state == DELIVERY_SENT) {
		a.ev = SUB_EV_SENT;
	} else if (state == DELIVERY_FAILED && max_bounces > 0) {
		/* a recipient refused during the run: a hard bounce in the
		 * same score as those that come back (SPEC) */
		struct bounce_rec b = {.subscriber = subscriber, .kind = "bounce-hard", .source = "run",
				       .diagnostic = reply, .edition = edition};
		if (store_bounce_log(st, &b, now, err) < 0)
			return -1;
		a.ev = SUB_EV_REFUSED;
	} else {
		return 0;
	}
	return subscription_apply(st, &a, &res, err);
}
