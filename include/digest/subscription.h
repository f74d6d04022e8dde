/* subscription: the subscriber lifecycle (SPEC "Subscriptions", "What
 * comes back"): every event that can change a reader's status, as one
 * state table (subscription.c), each applied in one transaction with a
 * typed outcome. Whoever changes a subscriber goes through here; the
 * store only keeps what this decides. */
#ifndef DIGEST_SUBSCRIPTION_H
#define DIGEST_SUBSCRIPTION_H

#include <stdbool.h>

#include "digest/store.h"
#include "digest/subscriber.h"

enum sub_event {
	SUB_EV_REQUEST,          /* asked to subscribe: the form, `subscribe` */
	SUB_EV_CONFIRM,          /* the confirmation link followed (POST) */
	SUB_EV_UNSUBSCRIBE,      /* the link, RFC 8058 one-click, `unsubscribe` */
	SUB_EV_MAIL_UNSUBSCRIBE, /* mail to the personal mailto: address */
	SUB_EV_COMPLAINT,        /* an ARF report from a feedback loop */
	SUB_EV_IMPORT,           /* a line of an import; + its status: 4 events */
	SUB_EV_IMPORT_LAST = SUB_EV_IMPORT + 3,
	SUB_EV_RESUBSCRIBE,      /* import --resubscribe, `subscribe --confirmed`; + status */
	SUB_EV_RESUBSCRIBE_LAST = SUB_EV_RESUBSCRIBE + 3,
	SUB_EV_BOUNCE_HARD,      /* a hard bounce came back: a step of 1 */
	SUB_EV_BOUNCE_SOFT,      /* a soft one: 0.5 */
	SUB_EV_CONFIRM_BOUNCE,   /* a confirmation mail bounced: no more of them */
	SUB_EV_REFUSED,          /* refused with 5xx during a run: a hard bounce, and a refusal in a row */
	SUB_EV_SENT,             /* a delivery accepted: the refusals in a row start again */
	SUB_EV_COUNT
};

/* sub_event_name: "request", "confirm", ..., "import-active", ... */
const char *sub_event_name(enum sub_event ev);

/* What an event did. */
enum sub_outcome {
	SUB_NONE,      /* no such subscriber: nothing done */
	SUB_ADDED,     /* a new subscriber (REQUEST: pending, owed a confirmation mail) */
	SUB_UPDATED,   /* the status changed (or, for an import, the name) */
	SUB_UNCHANGED, /* already so: nothing to do */
	SUB_KEPT,      /* an import left an unsubscribed or bouncing reader so */
	SUB_OWED,      /* REQUEST, pending: owed the confirmation mail again */
	SUB_RETURNED,  /* REQUEST, had left or bounced: owed the mail, still so until its link is followed */
	SUB_WAIT,      /* REQUEST: a mail went out less than RESEND s ago, or one is due */
	SUB_ALREADY_ACTIVE, /* REQUEST or CONFIRM of an active reader: nothing to do */
	SUB_EXPIRED,   /* CONFIRM of a link from before they left: nothing done */
	SUB_SCORED,    /* a bounce counted, the status kept */
	SUB_DROPPED,   /* CONFIRM_BOUNCE: the confirmation mail no longer owed */
	SUB_OUTCOME_COUNT
};
const char *sub_outcome_name(enum sub_outcome o);

/* An event and what it needs. */
struct sub_args {
	enum sub_event ev;
	long long id;      /* the subscriber, or 0: EMAIL names it */
	const char *email; /* normalized; a new subscriber's spelling */
	const char *name;  /* REQUEST (a new row only), IMPORT, RESUBSCRIBE: may be NULL */
	long long now;
	long long resend;  /* REQUEST: at most one mail in this many seconds (0: whenever none is due) */
	int max_bounces;   /* REFUSED: refusals in a row that make bouncing */
	/* Proof of consent: when set, what the event did goes in the
	 * reader's trail, in the same transaction (see subscription_consents):
	 * as CONSENT's event, or when that is NULL, sub_event_name(EV). */
	const struct consent_rec *consent;
};

struct sub_result {
	enum sub_outcome outcome;
	long long id;             /* 0 when none */
	enum sub_status from, to; /* the status before and after (FROM of a new row: TO) */
};

/*
 * subscription_decide: what event A does to the subscriber BEFORE (NULL:
 * none with that address), by the state table: the row after in *AFTER
 * (its name and nonce as BEFORE's, or A's for a new row; owns a copy of
 * the name: clear with sub_row_clear) and the outcome in *RES. Pure:
 * reads the bounce policy THRESHOLD and RESET_DAYS, writes nothing.
 */
void subscription_decide(const struct sub_row *before, const struct sub_args *a, double threshold, int reset_days,
			 struct sub_row *after, struct sub_result *res);

/*
 * subscription_consents: whether event A with result RES is a step of the
 * reader's consent trail: a new reader, a change of status, or a request
 * to join (even one that waits for the mail sent lately); never a reader
 * already active asking again, nor an event that changed nothing.
 */
bool subscription_consents(const struct sub_args *a, const struct sub_result *res);

/*
 * subscription_apply: event A, decided and stored within the caller's
 * transaction (an import's batch, the journal's group commit). 0 and
 * *RES, or -1 with *ERR.
 */
int subscription_apply(struct store *st, const struct sub_args *a, struct sub_result *res, char **err);

/* subscription_event: the same in a transaction of its own. -1 with *ERR
 * when the store fails (store_busy tells a busy database). */
int subscription_event(struct store *st, const struct sub_args *a, struct sub_result *res, char **err);

/* subscription_peek: what A would do, nothing written: 0 and *RES, -1. */
int subscription_peek(struct store *st, const struct sub_args *a, struct sub_result *res, char **err);

/*
 * A dry run's memory: the rows as the events decided so far would have
 * left them, by address identity, over what the store holds; nothing is
 * written, and nothing is locked.
 */
struct sub_dry;
struct sub_dry *sub_dry_new(void);
/* sub_dry_free: takes NULL. */
void sub_dry_free(struct sub_dry *d);

/*
 * subscription_dry: what A (an event naming its subscriber by address:
 * a request, an import line) would do after the events of D before it,
 * as subscription_apply would say it, and remembered in D; nothing
 * written. ST may be NULL: a store with no subscriber yet (a database
 * that does not exist). 0 and *RES, or -1 with *ERR.
 */
int subscription_dry(struct store *st, struct sub_dry *d, const struct sub_args *a, struct sub_result *res,
		     char **err);

/*
 * subscription_delivery: the journal's mark of STATE for (EDITION,
 * SUBSCRIBER) with REPLY, and what it means for the subscriber: SENT an
 * event SUB_EV_SENT; FAILED with MAX_BOUNCES > 0 (a refusal that is the
 * recipient's) a line in the bounce log and SUB_EV_REFUSED. Within the
 * caller's transaction.
 */
int subscription_delivery(struct store *st, const char *edition, long long subscriber, enum delivery_state state,
			  const char *reply, long long now, int max_bounces, char **err);

#endif
