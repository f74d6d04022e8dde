/* journal: the record of an edition's deliveries during a run, and the
 * rule that makes a crash cost at most one message per connection.
 *
 * The rule: a message's "in flight" is on disk before the message is
 * handed over, and the outcome of a connection's message is on disk
 * before that connection hands over its next one. So a crash at any
 * moment repeats at most the message each connection had in flight: the
 * next run sends every message that is not marked sent or failed. Marks
 * of all the connections are queued and committed together (group
 * commit): whoever first needs its marks on disk while no commit runs
 * commits everything queued, the others wait for it or lead the next; a
 * connection about to lead one first waits a little (no longer than a
 * commit takes) for the other connections to need it too. No transaction
 * is held open across network I/O. */
#ifndef DIGEST_JOURNAL_H
#define DIGEST_JOURNAL_H

#include <semaphore.h>
#include <stdbool.h>

#include "digest/store.h"

struct journal;

/* One connection's place in the journal: the commit that carries its
 * last mark, and whether it has a message under way. Zero it before use. */
struct journal_conn {
	unsigned long long need;
	bool sending;
	/* where it sleeps until a commit is over (journal.c) */
	sem_t wake;
	bool wake_ready;
	struct journal_conn *next_sleeper;
};

/* journal_new: the journal of EDITION in ST (used by one thread at a time
 * through the journal, until journal_free); a failed delivery that is a
 * bounce counts towards MAX_BOUNCES. */
struct journal *journal_new(struct store *st, const char *edition, int max_bounces);
/* journal_free: commits what is still queued; NULL is fine. */
void journal_free(struct journal *j);

/* journal_intend: SUB's message is about to go on connection JC: "in
 * flight" (an attempt) is queued. Nothing waits. */
void journal_intend(struct journal *j, struct journal_conn *jc, long long sub);

/* journal_handover: wait until every mark of JC is on disk (its message's
 * "in flight", the outcome of the one before), leading a commit when none
 * runs. Call it right before handing the message over. 0, or -1 when the
 * journal failed: then hand nothing over. */
int journal_handover(struct journal *j, struct journal_conn *jc);

/* journal_outcome: queue the outcome STATE of SUB's message on JC, with
 * the server's REPLY (NULL keeps the old one); a DELIVERY_FAILED that is
 * a BOUNCE counts towards max_bounces. Durable at JC's next handover or
 * journal_settle. */
void journal_outcome(struct journal *j, struct journal_conn *jc, long long sub, enum delivery_state state,
		     const char *reply, bool bounce);

/* journal_settle: as journal_handover, for a connection that is about to
 * wait (a connect, a pause, the end): nothing of its may wait with it. */
int journal_settle(struct journal *j, struct journal_conn *jc);

/* journal_conn_done: what JC holds released, once it is done with. */
void journal_conn_done(struct journal_conn *jc);

/* journal_recipients: store_recipients_next through the journal, which
 * owns the store's connection during the run. */
int journal_recipients(struct journal *j, long long after, int limit, struct subscriber *out, int *n, char **err);

/* journal_failed: whether the database failed; *WHY (not to free) says
 * how. Once failed, every wait returns -1. */
bool journal_failed(struct journal *j, const char **why);

/* journal_commits: how many commits wrote marks. */
long long journal_commits(struct journal *j);

/* journal_test_hook: called (when set) with "commit" before and
 * "committed" after each commit: the unit tests stop the process there. */
extern void (*journal_test_hook)(const char *point);

#endif
