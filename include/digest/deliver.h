/* deliver: an edition to every active subscriber through the configured
 * transport (transport.h), over parallel connections, each delivery
 * recorded by the journal (journal.h). */
#ifndef DIGEST_DELIVER_H
#define DIGEST_DELIVER_H

#include <stdbool.h>

#include "digest/config.h"
#include "digest/render.h"
#include "digest/store.h"
#include "digest/transport.h"

struct deliver_stats {
	long long sent, failed, deferred; /* by this run */
	long long messages;               /* transactions tried by this run */
	double seconds;
	bool unreachable;    /* no connection could be made (or kept) */
	enum tx_refusal refusal; /* the server refused us for good (a certificate, a login,
				  * our sender), and how; TX_REFUSED_NONE when it did not */
	bool journal_failed; /* the database failed */
};

/*
 * deliver_edition: send the rendered edition EDITION (R) to every active
 * subscriber the journal does not show as sent or failed, recording each
 * delivery in ST: "in flight" before the message is handed over (the dot
 * that ends its text), "sent", "failed" (5xx) or "deferred" after, "sent"
 * committed before the connection hands over its next message; commits
 * are shared by the connections. ST is used from several threads, one at
 * a time, until it returns; and glibc is told to keep free memory at the
 * top of its heaps (M_TOP_PAD) for the rest of the process. Temporary
 * failures are retried
 * delivery.smtp.retries times with growing delays. PROGRESS shows a line
 * on stderr. Returns 0 (see STATS for what is still deferred), or -1 with
 * *ERR when the journal cannot be written or the server refuses us for
 * good (a certificate, a login); nothing is then marked that was not sent.
 */
int deliver_edition(const struct config *cfg, struct store *st, const struct render *r, const char *edition,
		    bool progress, struct deliver_stats *stats, char **err);
/* deliver_edition_with: the same through transport T (the unit tests'
 * own), which stays the caller's. A message whose end went out without
 * an answer (TX_MAYBE) is deferred and not tried again in this run. */
int deliver_edition_with(const struct config *cfg, struct transport *t, struct store *st, const struct render *r,
			 const char *edition, bool progress, struct deliver_stats *stats, char **err);

/* deliver_message: MSG (LEN bytes, CRLF) from FROM to RCPT alone, on a
 * connection of its own through the configured transport, outside the
 * journal. 0; 1 when it should be tried later: deferred, or the server
 * refused us (a certificate, a login, our sender); -1 when the server
 * refused this recipient or this message. *ERR says why. */
int deliver_message(const struct config *cfg, const char *from, const char *rcpt, const char *msg, size_t len,
		    char **err);
/* deliver_one: send R's message for RD alone, outside the journal (a
 * preview's test copy). 0, 1 when the server deferred it, or -1; *ERR
 * says why. */
int deliver_one(const struct config *cfg, const struct render *r, const struct reader *rd, char **err);

/*
 * deliver_lock: take the run lock next to the database (PATH.lock) without
 * waiting. Returns a descriptor to keep open while running, -2 when
 * another process holds it (*ERR names its pid when known), or -1.
 */
int deliver_lock(const char *database, char **err);

#endif
