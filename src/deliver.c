/* deliver: the worker pool that sends an edition to every active
 * subscriber: parallel connections of the configured transport, retries
 * with backoff, pacing; what was sent is the journal's business. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "digest/deliver.h"
#include "digest/journal.h"
#include "digest/log.h"
#include "digest/transport.h"

/* Recipients read from the store at a time: memory stays flat however
 * long the list is. */
#define PAGE 256

struct job {
	struct subscriber sub;
	int tries;    /* attempts in this run */
	double due;   /* monotonic time before which it is not retried */
	struct job *next;
};

struct pool {
	const struct config *cfg;
	const struct render *r;
	const char *from;
	struct transport *t;
	struct journal *jn;

	pthread_mutex_t mu;
	pthread_cond_t cv;  /* jobs, retries coming due, workers ending, pacing */
	struct job *ready, *ready_tail;
	struct job *later;  /* waiting for a retry, in no order */
	long long after;    /* the last subscriber id read */
	bool exhausted;     /* the store has no more recipients */
	bool rescanned;     /* the store was read once more for late subscribers */
	int busy;           /* jobs in workers' hands */
	int alive;          /* workers still running */
	int idle;           /* workers waiting in take() */
	bool stop;          /* a fatal error: everyone stops */
	char *fatal;
	bool unreachable;
	enum tx_refusal refusal; /* the server refused us for good */
	double next_slot;   /* rate limiting */
	struct deliver_stats *stats;
};

/* The database failed: the run stops, and says why. Called with MU held. */
static void db_failed(struct pool *p, const char *what, const char *err)
{
	if (!p->fatal)
		p->fatal = xasprintf("%s%s%s", what ? what : "", what ? ": " : "", err);
	p->stats->journal_failed = true;
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
}

/* settle: JC's marks made durable, without MU (held on entry and exit).
 * 0, or -1 when the journal failed (the run stops). */
static int settle(struct pool *p, struct journal_conn *jc)
{
	pthread_mutex_unlock(&p->mu);
	int rc = journal_settle(p->jn, jc);
	pthread_mutex_lock(&p->mu);
	const char *why;
	if (rc < 0 && journal_failed(p->jn, &why))
		db_failed(p, NULL, why);
	return rc;
}

static void push_ready(struct pool *p, struct job *j, bool front)
{
	j->next = NULL;
	if (front) {
		j->next = p->ready;
		p->ready = j;
		if (!p->ready_tail)
			p->ready_tail = j;
	} else {
		if (p->ready_tail)
			p->ready_tail->next = j;
		else
			p->ready = j;
		p->ready_tail = j;
	}
}

static void refill(struct pool *p)
{
	struct subscriber subs[PAGE];
	int n = 0;
	char *err = NULL;
	if (journal_recipients(p->jn, p->after, PAGE, subs, &n, &err) < 0) {
		db_failed(p, "reading recipients", err);
		free(err);
		return;
	}
	if (n < PAGE)
		p->exhausted = true;
	for (int i = 0; i < n; i++) {
		struct job *j = xcalloc(1, sizeof *j);
		j->sub = subs[i];
		p->after = subs[i].id;
		push_ready(p, j, false);
	}
}

static void free_job(struct job *j)
{
	subscriber_clear(&j->sub);
	free(j);
}

/* One wait on the pool's condition, until the monotonic time UNTIL at the
 * latest; with the lock held (the wait releases it). */
static void wait_once(struct pool *p, double until)
{
	struct timespec ts = mono_timespec(until);
	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* take_ready: a job that may go now (a due retry first: it has waited
 * longest; else the next recipient), or NULL; *WAKE (when not NULL) is
 * lowered to when the next retry comes due. Called with the lock held. */
static struct job *take_ready(struct pool *p, double *wake)
{
	if (p->stop)
		return NULL;
	double now = mono_now();
	for (struct job **q = &p->later; *q; q = &(*q)->next) {
		if ((*q)->due <= now) {
			struct job *j = *q;
			*q = j->next;
			p->busy++;
			return j;
		}
		if (wake && (*q)->due < *wake)
			*wake = (*q)->due;
	}
	if (!p->ready && !p->exhausted)
		refill(p);
	if (!p->ready)
		return NULL;
	struct job *j = p->ready;
	p->ready = j->next;
	if (!p->ready)
		p->ready_tail = NULL;
	p->busy++;
	return j;
}

/* The next job for a worker, waiting as long as one may still come;
 * NULL when the run is over. Before waiting, the worker's own marks are
 * made durable. Called with the lock held. */
static struct job *take(struct pool *p, struct journal_conn *jc)
{
	bool settled = false;
	for (;;) {
		if (p->stop)
			return NULL;
		double wake = mono_now() + 0.25;
		struct job *j = take_ready(p, &wake);
		if (j || p->stop)
			return j;
		if (!p->later && p->busy == 0) {
			/* Once more past the last id read: whoever was added
			 * while we were sending gets this edition too. (Someone
			 * older who confirmed meanwhile waits for the next run,
			 * such as cron's half-hourly one.) */
			if (p->rescanned)
				return NULL;
			p->rescanned = true;
			p->exhausted = false;
			continue;
		}
		if (!settled) { /* nothing of ours waits for a commit while we sleep */
			settled = true;
			settle(p, jc);
			continue;
		}
		p->idle++;
		wait_once(p, wake);
		p->idle--;
	}
}

/* Wait until the monotonic time UNTIL, or until the run stops; with the
 * lock held (the wait releases it). */
static void wait_for(struct pool *p, double until)
{
	while (!p->stop && mono_now() < until)
		wait_once(p, until);
}

static double backoff(const struct pool *p, int tries)
{
	double d = p->cfg->delivery.smtp.retry_delay * pow(2, tries > 0 ? tries - 1 : 0);
	return d > 300 ? 300 : d;
}

/* Wait for the next sending slot under rate_per_second. */
static void pace(struct pool *p)
{
	int rate = p->cfg->delivery.smtp.rate_per_second;
	if (rate <= 0)
		return;
	pthread_mutex_lock(&p->mu);
	double now = mono_now(), at = p->next_slot > now ? p->next_slot : now;
	p->next_slot = at + 1.0 / rate;
	wait_for(p, at);
	pthread_mutex_unlock(&p->mu);
}

/* One message of a worker: its text and its envelope sender. */
struct prepared {
	struct buf msg;
	char from[RENDER_ADDR_MAX];
};

/* prepare: J's "in flight" queued, then its message rendered into PM. 0,
 * or -1 when it cannot be: every message would fail alike. Without the
 * lock. */
static int prepare(struct pool *p, struct journal_conn *jc, struct job *j, struct prepared *pm)
{
	journal_intend(p->jn, jc, j->sub.id);
	struct reader rd = {.email = j->sub.email, .name = j->sub.name, .nonce = j->sub.nonce};
	pm->msg.len = 0;
	if (render_message(p->r, &rd, &pm->msg) < 0)
		return -1;
	render_message_from(p->r, &rd, pm->from, sizeof pm->from); /* VERP: the bounce names the reader */
	j->tries++;
	return 0;
}

/* unrenderable: J could not be rendered: the run stops; J stays to send,
 * as nothing went. With the lock held. */
static void unrenderable(struct pool *p, struct job *j)
{
	if (!p->fatal)
		p->fatal = xstrdup("a message could not be DKIM-signed: nothing more is sent");
	p->stop = true;
	push_ready(p, j, true);
	p->busy--;
	pthread_cond_broadcast(&p->cv);
}

/* record: the outcome RC (RES) of J's attempt: its mark queued in the
 * journal, the counts, then J retried later or done with. With the lock
 * held. */
static void record(struct pool *p, struct journal_conn *jc, struct job *j, int rc, const struct tx_result *res)
{
	const int retries = p->cfg->delivery.smtp.retries;
	p->stats->messages++;
	bool requeue = false;
	if (rc == TX_OK) {
		journal_outcome(p->jn, jc, j->sub.id, DELIVERY_SENT, res->reply, false);
		p->stats->sent++;
	} else if (rc == TX_FAIL && res->about == TX_ABOUT_SENDER) {
		/* The server refuses our sender: every message would fail
		 * alike. Stop; this one stays to send, as nothing went. */
		if (!p->fatal)
			p->fatal = xasprintf("%s:%d: MAIL FROM:<%s> refused: %s", p->cfg->delivery.smtp.host,
					     p->cfg->delivery.smtp.port, p->from, res->reply);
		p->refusal = TX_REFUSED_SERVER;
		p->stop = true;
		journal_outcome(p->jn, jc, j->sub.id, DELIVERY_DEFERRED, res->reply, false);
	} else if (rc == TX_FAIL) {
		/* Only a refused recipient is a bounce; a refused message
		 * (content, size, an address this server cannot take) fails
		 * this delivery without counting. */
		journal_outcome(p->jn, jc, j->sub.id, DELIVERY_FAILED, res->reply, res->about == TX_ABOUT_RECIPIENT);
		p->stats->failed++;
		log_debug("%s: %s", j->sub.email, res->reply);
	} else if (rc == TX_MAYBE) {
		/* It may have been delivered: not again in this run. It stays
		 * to send, and the next run sends it once more (the one
		 * message per connection a crash may repeat). */
		journal_outcome(p->jn, jc, j->sub.id, DELIVERY_DEFERRED, res->reply, false);
		p->stats->deferred++;
		log_warn("%s: %s", j->sub.email, res->reply);
	} else {
		journal_outcome(p->jn, jc, j->sub.id, DELIVERY_DEFERRED, res->reply, false);
		if (j->tries <= retries) {
			requeue = true;
			j->due = mono_now() + backoff(p, j->tries);
		} else {
			p->stats->deferred++;
			log_debug("%s: deferred: %s", j->sub.email, res->reply);
		}
	}
	p->busy--;
	if (requeue) {
		j->next = p->later;
		p->later = j;
	} else {
		free_job(j);
	}
	/* a worker waiting for jobs may have one now, or be the last */
	if (p->idle > 0 || p->stop)
		pthread_cond_broadcast(&p->cv);
}

/* follow: the job to begin behind J's final dot, on the same write (the
 * server offers PIPELINING: smtp_finish_next), rendered into PM; NULL
 * when none is ready now, the connection has no room for one, or the run
 * is paced. Without the lock. */
static struct job *follow(struct pool *p, struct journal_conn *jc, const struct transport_conn *c, bool paced,
			  struct prepared *pm)
{
	if (paced || !transport_ready(c))
		return NULL;
	pthread_mutex_lock(&p->mu);
	struct job *n = take_ready(p, NULL);
	pthread_mutex_unlock(&p->mu);
	if (n && prepare(p, jc, n, pm) < 0) {
		pthread_mutex_lock(&p->mu);
		unrenderable(p, n);
		pthread_mutex_unlock(&p->mu);
		n = NULL;
	}
	return n;
}

/* open_conn: C opened for J, with the lock held (released meanwhile). 0;
 * or -1 when it could not be: J went back to the queue, and *QUIT says
 * whether the worker ends. */
static int open_conn(struct pool *p, struct transport_conn *c, struct job *j, int *failures, bool *quit)
{
	pthread_mutex_unlock(&p->mu);
	char *err = NULL;
	enum tx_refusal why;
	int rc = transport_open(c, &why, &err);
	pthread_mutex_lock(&p->mu);
	*quit = false;
	if (rc == TX_OK) {
		*failures = 0;
		return 0;
	}
	push_ready(p, j, true); /* not its fault: no attempt counted */
	p->busy--;
	if (rc == TX_FAIL) {
		if (!p->fatal)
			p->fatal = xstrdup(err);
		p->refusal = why;
		p->stop = true;
	} else if (++*failures > p->cfg->delivery.smtp.retries) {
		log_warn("%s", err);
		p->unreachable = true;
		*quit = true;
	} else {
		log_debug("%s; trying again", err);
	}
	free(err);
	if (p->stop)
		*quit = true;
	if (*quit)
		return -1;
	pthread_cond_broadcast(&p->cv);
	wait_for(p, mono_now() + backoff(p, *failures));
	return -1;
}

/*
 * One connection's loop: the journal's rule (journal.h) in the order of
 * its calls. A message's "in flight" is queued before it is rendered, and
 * made durable, with the connection's last outcome, while its envelope
 * goes out: the final dot that hands it over waits for journal_handover.
 * Behind that dot, in the same write, goes the envelope of the next
 * message when one is ready (RFC 2920 pipelining): its "in flight" is
 * queued before, and its own dot waits for the next handover, which
 * carries the outcome of this one. Nothing of the connection's may wait
 * on a connect, a pause or the end (journal_settle).
 */
static void *worker(void *arg)
{
	struct pool *p = arg;
	struct transport_conn c = {.t = p->t};
	struct journal_conn jc = {0};
	struct prepared pm[2];
	int cur = 0;           /* PM[CUR] is J's */
	struct job *j = NULL;  /* begun on C: only its final dot is left */
	struct tx_result res, next_res;
	int connect_failures = 0;
	const bool paced = p->cfg->delivery.smtp.rate_per_second > 0;
	memset(pm, 0, sizeof pm);

	pthread_mutex_lock(&p->mu);
	for (;;) {
		int rc = TX_OK;
		if (!j) {
			j = take(p, &jc);
			if (!j)
				break;
			if ((!transport_ready(&c) || paced) && settle(p, &jc) < 0) {
				free_job(j);
				p->busy--;
				break;
			}
			if (!transport_ready(&c)) {
				bool quit;
				int o = open_conn(p, &c, j, &connect_failures, &quit);
				if (o < 0) {
					j = NULL;
					if (quit)
						break;
					continue;
				}
			}
			pthread_mutex_unlock(&p->mu);
			pace(p);
			if (prepare(p, &jc, j, &pm[cur]) < 0) {
				pthread_mutex_lock(&p->mu);
				unrenderable(p, j);
				j = NULL;
				break;
			}
			/* render_message writes what DATA carries (render.h) */
			rc = transport_begin(&c, pm[cur].from, j->sub.email, pm[cur].msg.data, pm[cur].msg.len,
					     TX_CANONICAL, &res);
		} else {
			pthread_mutex_unlock(&p->mu);
		}

		struct job *next = NULL;
		if (rc == TX_OK) {
			if (journal_handover(p->jn, &jc) < 0) {
				transport_abandon(&c);
				pthread_mutex_lock(&p->mu);
				const char *why;
				if (journal_failed(p->jn, &why))
					db_failed(p, NULL, why);
				free_job(j);
				j = NULL;
				p->busy--;
				break;
			}
			next = follow(p, &jc, &c, paced, &pm[1 - cur]);
			if (next)
				rc = transport_finish_next(&c, pm[cur].msg.data, pm[cur].msg.len, &res, pm[1 - cur].from,
							   next->sub.email, pm[1 - cur].msg.data,
							   pm[1 - cur].msg.len, TX_CANONICAL, &next_res);
			else
				rc = transport_finish(&c, pm[cur].msg.data, pm[cur].msg.len, &res);
		}

		pthread_mutex_lock(&p->mu);
		record(p, &jc, j, rc, &res);
		j = NULL;
		if (next && next_res.status == TX_OK) {
			j = next; /* begun: its dot goes after the next handover */
			cur = 1 - cur;
		} else if (next) {
			record(p, &jc, next, next_res.status, &next_res);
		}
	}
	settle(p, &jc);
	p->alive--;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	transport_close(&c);
	journal_conn_done(&jc);
	buf_free(&pm[0].msg);
	buf_free(&pm[1].msg);
	return NULL;
}

static void free_list(struct job *j)
{
	while (j) {
		struct job *n = j->next;
		free_job(j);
		j = n;
	}
}

int deliver_edition(const struct config *cfg, struct store *st, const struct render *r, const char *edition,
		    bool progress, struct deliver_stats *stats, char **err)
{
	struct transport t;
	if (transport_init(&t, cfg, err) < 0) {
		memset(stats, 0, sizeof *stats);
		return -1;
	}
	int rc = deliver_edition_with(cfg, &t, st, r, edition, progress, stats, err);
	transport_done(&t);
	return rc;
}

int deliver_edition_with(const struct config *cfg, struct transport *t, struct store *st, const struct render *r,
			 const char *edition, bool progress, struct deliver_stats *stats, char **err)
{
	memset(stats, 0, sizeof *stats);
	struct pool p = {.cfg = cfg, .r = r, .t = t, .stats = stats};
	p.from = render_envelope_from(r);
	struct delivery_counts dc;
	if (store_delivery_counts(st, edition, &dc, err) < 0)
		return -1;
#ifdef M_TOP_PAD
	/* glibc hands the top of a thread's heap back to the kernel past
	 * 128 KB free, and SQLite's statements and commits allocate and free
	 * tens of KB a message: every mark then paid its memory again in
	 * page faults. A megabyte kept at the top of each heap stops that. */
	mallopt(M_TOP_PAD, 1 << 20);
#endif
	/* delivery.journal_sync = "normal": the journal's commits reach the
	 * OS, not the disk (the rest of the store stays FULL) */
	const bool sync_full = cfg->delivery.journal_sync == JOURNAL_SYNC_FULL;
	if (!sync_full && store_sync(st, false, err) < 0)
		return -1;
	p.jn = journal_new(st, edition, cfg->delivery.smtp.max_bounces);
	pthread_mutex_init(&p.mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p.cv, &ca);
	pthread_condattr_destroy(&ca);

	double t0 = mono_now();
	int n = t->connections > 0 ? t->connections : 1;
	if (dc.pending < n)
		n = dc.pending > 0 ? (int)dc.pending : 1;
	pthread_t *th = xcalloc((size_t)n, sizeof *th);
	int started = 0;
	pthread_mutex_lock(&p.mu);
	for (int i = 0; i < n; i++) {
		if (pthread_create(&th[i], NULL, worker, &p) == 0) {
			started++;
			p.alive++;
		}
	}
	/* The main thread shows progress while the workers run. */
	while (p.alive > 0) {
		wait_once(&p, mono_now() + 0.2);
		if (progress)
			fprintf(stderr, "\rsending: %lld of %lld sent, %lld failed", stats->sent, dc.pending,
				stats->failed);
	}
	pthread_mutex_unlock(&p.mu);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	free(th);
	if (progress)
		fprintf(stderr, "\r\033[K");
	if (started == 0 && !p.fatal)
		p.fatal = xstrdup("cannot start the sending threads");
	log_debug("journal: %lld commits for %lld messages", journal_commits(p.jn), stats->messages);
	journal_free(p.jn); /* every worker settled its own marks: none should be left */
	char *sync_err = NULL;
	if (!sync_full && store_sync(st, true, &sync_err) < 0) {
		log_warn("%s", sync_err);
		free(sync_err);
	}
	stats->seconds = mono_now() - t0;
	stats->unreachable = p.unreachable;
	stats->refusal = p.refusal;
	free_list(p.ready);
	free_list(p.later);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.mu);
	if (p.fatal) {
		errf(err, "%s", p.fatal);
		free(p.fatal);
		return -1;
	}
	return 0;
}

int deliver_message(const struct config *cfg, const char *from, const char *rcpt, const char *msg, size_t len,
		    char **err)
{
	enum tx_refusal why;
	int rc = transport_send_one(cfg, from, rcpt, msg, len, &why, err);
	return rc == TX_OK ? 0 : rc == TX_FAIL ? -1 : 1;
}

int deliver_one(const struct config *cfg, const struct render *r, const struct reader *rd, char **err)
{
	struct buf msg = {0};
	if (render_message(r, rd, &msg) < 0) {
		buf_free(&msg);
		return errf(err, "the message could not be DKIM-signed");
	}
	char from[RENDER_ADDR_MAX];
	render_message_from(r, rd, from, sizeof from);
	int rc = deliver_message(cfg, from, rd->email, msg.data, msg.len, err);
	buf_free(&msg);
	return rc;
}

int deliver_lock(const char *database, char **err)
{
	char *path = xasprintf("%s.lock", database);
	char *dir = path_dir(database);
	mkdir_p(dir, 0700); /* a first run: open() says what went wrong */
	free(dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		errf(err, "%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int e = errno;
		char pid[32] = "";
		ssize_t k = pread(fd, pid, sizeof pid - 1, 0);
		pid[k > 0 ? k : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		if (e == EWOULDBLOCK)
			errf(err, "another digest run holds %s%s%s", path, *pid ? ", pid " : "", pid);
		else
			errf(err, "%s: %s", path, strerror(e));
		close(fd);
		free(path);
		return e == EWOULDBLOCK ? -2 : -1;
	}
	char pid[32];
	int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) < 0)
		log_debug("%s: cannot note our pid", path);
	free(path);
	return fd;
}
