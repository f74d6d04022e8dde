/* optin: double opt-in's confirmation mails, owed by the store and sent
 * through the configured transport. */
#ifndef DIGEST_OPTIN_H
#define DIGEST_OPTIN_H
#include <stdbool.h>
#include <time.h>
#include "digest/config.h"
#include "digest/render.h"
#include "digest/store.h"

/* A pending address is sent a confirmation at most once in this many
 * seconds, however often it is asked for. */
#define OPTIN_RESEND_SECONDS 3600
/* A confirmation the server deferred is tried again after this long. */
#define OPTIN_RETRY_SECONDS 60

struct optin_stats {
	int sent, deferred, failed;
	/* the subscriber whose mail is being sent, 0 when none: read it
	 * from another thread with __atomic_load_n */
	long long current;
};

/*
 * optin_send_due: send every confirmation mail ST says is owed by NOW
 * (each claimed in the store first, so that two senders never send one
 * twice), rendered by R (loaded with its key). A mail the server defers
 * is owed again OPTIN_RETRY_SECONDS later; one it refuses is dropped.
 * Each outcome is logged. Counts go to *STATS (zeroed first, but for
 * CURRENT). When STOP (may be NULL) becomes true, no further mail is
 * started. The mail shows no name: the address is not confirmed yet.
 * A mail the server refuses for reasons not the recipient's (a login, a
 * certificate, our sender) is deferred, not dropped. Returns 0,
 * or -1 with *ERR when the store fails.
 */
int optin_send_due(const struct config *cfg, struct store *st, struct render *r, time_t now,
		   struct optin_stats *stats, const bool *stop, char **err);
/* optin_send_one: the same for subscriber S alone, when its mail is
 * still owed; counts are added to *STATS. */
int optin_send_one(const struct config *cfg, struct store *st, struct render *r, const struct subscriber *s,
		   time_t now, struct optin_stats *stats, char **err);
#endif
