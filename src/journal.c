/* journal: an edition's delivery marks, group-committed, and the
 * exactly-once rule of journal.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest/journal.h"
#include "digest/smtp.h"
#include "digest/subscription.h"
#include "digest/util.h"

void (*journal_test_hook)(const char *point);

/* A mark waiting for the commit that carries it. */
struct mark {
	long long sub, at;
	enum delivery_state state;
	bool bounce;    /* a failure that counts as a bounce */
	bool has_reply; /* else the journal keeps the reply it has */
	char reply[SMTP_REPLY_MAX];
};

struct marks {
	struct mark *v;
	size_t n, cap;
};

struct journal {
	struct store *st;
	const char *edition;
	int max_bounces;

	pthread_mutex_t mu;
	pthread_cond_t all_here; /* the gatherer's: the connections it waits for have come */
	/* The connections asleep until the running commit is over, each on
	 * its own semaphore: the commit wakes each once, and one whose marks
	 * it carried goes on without taking MU again (DONE and FAILED are
	 * read atomically), rather than all of them queueing for MU. */
	struct journal_conn *sleepers;
	/* The store's connection, used by one thread at a time: the committer
	 * holds this and not MU while it commits, so that the others can go
	 * on queueing marks. Taken without MU, or after it. */
	pthread_mutex_t db;

	struct marks queued;     /* for commit number OPEN */
	struct marks spare;      /* the committer's array, kept for reuse */
	unsigned long long open; /* the commit that will carry what is queued now */
	unsigned long long done; /* the last commit on disk; written under MU, read atomically */
	bool committing;
	/* Gathering: a connection that needs a commit while others are
	 * about to need one too waits a little for them (at most as long as
	 * a commit takes), so that one commit and one fsync serve them all,
	 * rather than one each with the next ones queued behind. */
	bool gathering;
	int senders;     /* connections with a message under way (journal_intend .. journal_settle) */
	int handing;     /* of them, those in journal_handover (left atomically) */
	double commit_s; /* how long a commit takes: a moving average, in seconds */
	bool failed; /* written under MU, read atomically */
	char *why;
	long long commits;
};

struct journal *journal_new(struct store *st, const char *edition, int max_bounces)
{
	struct journal *j = xcalloc(1, sizeof *j);
	j->st = st;
	j->edition = edition;
	j->max_bounces = max_bounces;
	j->open = 1;
	pthread_mutex_init(&j->mu, NULL);
	pthread_mutex_init(&j->db, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&j->all_here, &ca);
	pthread_condattr_destroy(&ca);
	return j;
}

/* queue: STATE for SUB, for the next commit, as JC's last mark. Called
 * with MU held. */
static void queue(struct journal *j, struct journal_conn *jc, long long sub, enum delivery_state state,
		  const char *reply, bool bounce)
{
	struct marks *q = &j->queued;
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 16;
		q->v = xrealloc(q->v, q->cap * sizeof *q->v);
	}
	struct mark *m = &q->v[q->n++];
	m->sub = sub;
	m->at = (long long)time(NULL);
	m->state = state;
	m->bounce = bounce;
	m->has_reply = reply != NULL;
	if (reply)
		snprintf(m->reply, sizeof m->reply, "%s", reply);
	jc->need = j->open;
}

/* commit: everything queued, as commit number OPEN: one transaction, one
 * fsync, for the marks of every connection. MU is released while the
 * store works. Called with MU held and no commit running. */
static void commit(struct journal *j)
{
	struct marks m = j->queued;
	j->queued = j->spare;
	j->spare = (struct marks){0};
	unsigned long long number = j->open++;
	j->committing = true;
	pthread_mutex_unlock(&j->mu);
	const double t0 = mono_now();

	char *err = NULL;
	int rc = 0;
	const bool any = m.n > 0;
	if (any) {
		if (journal_test_hook)
			journal_test_hook("commit");
		pthread_mutex_lock(&j->db);
		rc = store_begin(j->st, &err);
		for (size_t i = 0; i < m.n && rc == 0; i++)
			rc = subscription_delivery(j->st, j->edition, m.v[i].sub, m.v[i].state,
						   m.v[i].has_reply ? m.v[i].reply : NULL, m.v[i].at,
						   m.v[i].bounce ? j->max_bounces : 0, &err);
		if (rc == 0)
			rc = store_commit(j->st, &err);
		if (rc < 0)
			store_rollback(j->st);
		pthread_mutex_unlock(&j->db);
		if (rc == 0 && journal_test_hook)
			journal_test_hook("committed");
	}

	pthread_mutex_lock(&j->mu);
	m.n = 0;
	j->spare = m;
	j->committing = false;
	if (rc < 0) {
		if (!j->failed)
			j->why = xasprintf("journal: %s", err);
		__atomic_store_n(&j->failed, true, __ATOMIC_RELEASE);
		free(err);
	} else {
		__atomic_store_n(&j->done, number, __ATOMIC_RELEASE);
	}

	if (any) {
		const double took = mono_now() - t0;
		j->commits++;
		j->commit_s = j->commit_s > 0 ? 0.75 * j->commit_s + 0.25 * took : took;
	}
}

/* wait_until: on ALL_HERE until the monotonic time AT at the latest. Called
 * with MU held (released meanwhile). */
static void wait_until(struct journal *j, double at)
{
	if (at <= mono_now())
		return;
	struct timespec ts = mono_timespec(at);
	pthread_cond_timedwait(&j->all_here, &j->mu, &ts);
}

/* gather: before leading a commit, wait (at most as long as a commit
 * takes) until every connection with a message under way is waiting for
 * it too. Only a wait: whatever happens, the commit follows. Called with
 * MU held, no commit running. */
static void gather(struct journal *j)
{
	if (__atomic_load_n(&j->handing, __ATOMIC_ACQUIRE) >= j->senders || j->commit_s <= 0)
		return;
	j->gathering = true;
	const double until = mono_now() + j->commit_s;
	while (__atomic_load_n(&j->handing, __ATOMIC_ACQUIRE) < j->senders && !j->failed && mono_now() < until)
		wait_until(j, until);
	j->gathering = false;
}

/* gathered: a change of HANDING or SENDERS that may end a gather. */
static void gathered(struct journal *j)
{
	if (j->gathering && __atomic_load_n(&j->handing, __ATOMIC_ACQUIRE) >= j->senders)
		pthread_cond_broadcast(&j->all_here);
}

/* durable: whether commit NUMBER is on disk, or the journal failed
 * (read without MU). */
static bool durable(struct journal *j, unsigned long long number)
{
	return __atomic_load_n(&j->done, __ATOMIC_ACQUIRE) >= number || __atomic_load_n(&j->failed, __ATOMIC_ACQUIRE);
}

/* sleep_commit: JC asleep until the running commit is over. Called with
 * MU held; returns without it. */
static void sleep_commit(struct journal *j, struct journal_conn *jc)
{
	if (!jc->wake_ready) {
		sem_init(&jc->wake, 0, 0);
		jc->wake_ready = true;
	}
	jc->next_sleeper = j->sleepers;
	j->sleepers = jc;
	pthread_mutex_unlock(&j->mu);
	while (sem_wait(&jc->wake) < 0 && errno == EINTR)
		;
}

/* wake_all: each connection of the list SLEEPERS woken (they left the
 * list: the waker owns it). */
static void wake_all(struct journal_conn *sleepers)
{
	while (sleepers) {
		struct journal_conn *next = sleepers->next_sleeper;
		sem_post(&sleepers->wake); /* from here it may run, and change its links */
		sleepers = next;
	}
}

/* wait_durable: until JC's marks (commit JC->need) are on disk, leading
 * a commit when none runs (after a gather when GATHER). Called with MU
 * held; returns without it. */
static int wait_durable(struct journal *j, struct journal_conn *jc, bool gather_first)
{
	const unsigned long long number = jc->need;
	for (;;) {
		if (durable(j, number)) {
			pthread_mutex_unlock(&j->mu);
			break;
		}
		if (j->committing || j->gathering) {
			/* the commit running, or the one the gatherer leads
			 * next, carries what JC queued */
			sleep_commit(j, jc);
			if (durable(j, number))
				break;
			pthread_mutex_lock(&j->mu);
		} else if (gather_first) {
			gather_first = false;
			gather(j);
		} else {
			commit(j);
			/* those asleep for this commit woken once MU is free:
			 * one that wakes at once wants it for its next mark */
			struct journal_conn *wake = j->sleepers;
			j->sleepers = NULL;
			pthread_mutex_unlock(&j->mu);
			wake_all(wake);
			if (durable(j, number))
				break;
			pthread_mutex_lock(&j->mu);
		}
	}
	return __atomic_load_n(&j->failed, __ATOMIC_ACQUIRE) ? -1 : 0;
}

void journal_intend(struct journal *j, struct journal_conn *jc, long long sub)
{
	pthread_mutex_lock(&j->mu);
	if (!jc->sending) {
		jc->sending = true;
		j->senders++;
	}
	queue(j, jc, sub, DELIVERY_INFLIGHT, NULL, false);
	pthread_mutex_unlock(&j->mu);
}

void journal_outcome(struct journal *j, struct journal_conn *jc, long long sub, enum delivery_state state,
		     const char *reply, bool bounce)
{
	pthread_mutex_lock(&j->mu);
	queue(j, jc, sub, state, reply, bounce);
	pthread_mutex_unlock(&j->mu);
}

int journal_settle(struct journal *j, struct journal_conn *jc)
{
	pthread_mutex_lock(&j->mu);
	if (jc->sending) {
		jc->sending = false;
		j->senders--;
		gathered(j);
	}
	return wait_durable(j, jc, false);
}

/* A message handed over after its "in flight" and its connection's last
 * outcome are durable: the rule of journal.h. */
int journal_handover(struct journal *j, struct journal_conn *jc)
{
	pthread_mutex_lock(&j->mu);
	__atomic_add_fetch(&j->handing, 1, __ATOMIC_RELEASE); /* left without MU */
	gathered(j);
	int rc = wait_durable(j, jc, true);
	__atomic_sub_fetch(&j->handing, 1, __ATOMIC_RELEASE);
	return rc;
}

void journal_conn_done(struct journal_conn *jc)
{
	if (jc->wake_ready)
		sem_destroy(&jc->wake);
	jc->wake_ready = false;
}

int journal_recipients(struct journal *j, long long after, int limit, struct subscriber *out, int *n, char **err)
{
	pthread_mutex_lock(&j->db);
	int rc = store_recipients_next(j->st, j->edition, after, limit, out, n, err);
	pthread_mutex_unlock(&j->db);
	return rc;
}

bool journal_failed(struct journal *j, const char **why)
{
	pthread_mutex_lock(&j->mu);
	bool f = j->failed;
	if (why)
		*why = j->why;
	pthread_mutex_unlock(&j->mu);
	return f;
}

long long journal_commits(struct journal *j) { return j->commits; }

void journal_free(struct journal *j)
{
	if (!j)
		return;
	pthread_mutex_lock(&j->mu);
	if (j->queued.n > 0) /* every connection settled: none should be left, none waits */
		commit(j);
	pthread_mutex_unlock(&j->mu);
	free(j->queued.v);
	free(j->spare.v);
	free(j->why);
	pthread_cond_destroy(&j->all_here);
	pthread_mutex_destroy(&j->db);
	pthread_mutex_destroy(&j->mu);
	free(j);
}
