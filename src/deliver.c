/* deliver: an edition to every active subscriber through the configured
 * transport, over parallel connections, with the journal in the store. */
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
#include "digest/log.h"
#include "digest/maildir.h"
#include "digest/smtp.h"

/* Recipients read from the store at a time: memory stays flat however
 * long the list is. */
#define PAGE 256

/* ---- the transport: SMTP or a Maildir, one connection each ---- */

struct transport {
	const struct config *cfg;
	struct smtp_opts opts;
	char *password;
	bool maildir;
};

struct conn {
	struct transport *t;
	struct smtp_conn *smtp;
	int sent; /* messages on this connection */
};

static int read_password(const struct config *cfg, char **out, char **err)
{
	*out = NULL;
	const struct smtp_config *sm = &cfg->delivery.smtp;
	if (!sm->username || !*sm->username)
		return 0;
	const char *env = getenv("DIGEST_SMTP_PASSWORD");
	if (!sm->password_file && env) {
		*out = xstrdup(env);
		return 0;
	}
	if (!sm->password_file)
		return errf(err, "delivery.smtp.username is set but neither delivery.smtp.password_file nor "
				 "$DIGEST_SMTP_PASSWORD gives a password");
	FILE *f = fopen(sm->password_file, "re");
	if (!f)
		return errf(err, "delivery.smtp.password_file: %s: %s", sm->password_file, strerror(errno));
	char line[1024] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	*out = xstrdup(line);
	explicit_bzero(line, sizeof line);
	return 0;
}

static int transport_init(struct transport *t, const struct config *cfg, char **err)
{
	memset(t, 0, sizeof *t);
	t->cfg = cfg;
	t->maildir = !strcmp(cfg->delivery.transport, "maildir");
	if (t->maildir)
		return 0;
	const struct smtp_config *sm = &cfg->delivery.smtp;
	if (read_password(cfg, &t->password, err) < 0)
		return -1;
	t->opts.host = sm->host;
	t->opts.port = sm->port;
	t->opts.security = !strcmp(sm->security, "tls")	   ? SMTP_SEC_TLS
			   : !strcmp(sm->security, "starttls") ? SMTP_SEC_STARTTLS
							       : SMTP_SEC_NONE;
	t->opts.username = sm->username;
	t->opts.password = t->password;
	t->opts.helo = sm->helo;
	t->opts.timeout = sm->timeout;
	t->opts.tls_verify = sm->tls_verify;
	t->opts.ca_file = sm->ca_file;
	return 0;
}

static void transport_done(struct transport *t)
{
	if (t->password) {
		explicit_bzero(t->password, strlen(t->password));
		free(t->password);
	}
}

static int conn_open(struct conn *c, char **err)
{
	c->sent = 0;
	if (c->t->maildir)
		return SMTP_OK;
	return smtp_open(&c->t->opts, &c->smtp, err);
}

static void conn_close(struct conn *c)
{
	smtp_close(c->smtp);
	c->smtp = NULL;
}

static bool conn_ready(const struct conn *c)
{
	if (c->t->maildir)
		return true;
	return c->smtp && smtp_usable(c->smtp) && c->sent < c->t->cfg->delivery.smtp.max_per_connection;
}

/* conn_begin: a message all but handed over (over SMTP: its envelope and
 * text, not the final dot; nothing for a Maildir): SMTP_OK when it only
 * waits for conn_finish. */
static int conn_begin(struct conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
		      char reply[SMTP_REPLY_MAX], enum smtp_stage *stage)
{
	c->sent++;
	*stage = SMTP_STAGE_MESSAGE;
	if (c->t->maildir)
		return SMTP_OK;
	int rc = smtp_begin(c->smtp, from, rcpt, msg, len, reply);
	*stage = smtp_last_stage(c->smtp);
	return rc;
}

/* conn_finish: hand over the message conn_begin prepared (MSG, LEN: the
 * same as conn_begin's; a Maildir writes it now). */
static int conn_finish(struct conn *c, const char *msg, size_t len, char reply[SMTP_REPLY_MAX],
		       enum smtp_stage *stage)
{
	*stage = SMTP_STAGE_MESSAGE;
	if (!c->t->maildir) {
		int rc = smtp_finish(c->smtp, reply);
		*stage = smtp_last_stage(c->smtp);
		return rc;
	}
	char name[512], *err = NULL;
	if (maildir_deliver(c->t->cfg->delivery.maildir, msg, len, name, &err) < 0) {
		snprintf(reply, SMTP_REPLY_MAX, "%s", err);
		free(err);
		return SMTP_RETRY; /* a full disk is a reason to try again later */
	}
	snprintf(reply, SMTP_REPLY_MAX, "maildir new/%.200s", name);
	return SMTP_OK;
}

static int conn_send(struct conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
		     char reply[SMTP_REPLY_MAX], enum smtp_stage *stage)
{
	int rc = conn_begin(c, from, rcpt, msg, len, reply, stage);
	return rc == SMTP_OK ? conn_finish(c, msg, len, reply, stage) : rc;
}

/* ---- the pool ---- */

struct job {
	struct subscriber sub;
	int tries;    /* attempts in this run */
	double due;   /* monotonic time before which it is not retried */
	struct job *next;
};

/* A journal entry waiting for the commit that carries it. */
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

struct pool {
	const struct config *cfg;
	struct store *st;
	const struct render *r;
	const char *edition, *from;
	struct transport t;

	pthread_mutex_t mu;
	pthread_cond_t cv;       /* jobs, retries coming due, workers ending, pacing */
	pthread_cond_t durable;  /* a commit is over */
	/* The store's connection, used by one thread at a time: the committer
	 * holds this and not MU while it commits, so that the others can go on
	 * queueing marks. Taken after MU, never the other way round. */
	pthread_mutex_t db;
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
	bool refused;        /* the server refused us for good: a certificate, a login, our sender */
	bool journal_failed; /* the database failed */
	double next_slot;   /* rate limiting */
	struct deliver_stats *stats;

	/* Group commit: marks are queued, and whoever first needs them on
	 * disk while no commit is running commits everything queued; the
	 * others wait for that commit, or lead the next one. */
	struct marks queued;          /* for commit number OPEN */
	struct marks spare;           /* the committer's array, kept for reuse */
	unsigned long long open;      /* the commit that will carry what is queued now */
	unsigned long long done;      /* the last commit on disk */
	bool committing;
	long long commits;
};

/* The database failed (ERR, freed here): the run stops, and says why. */
static int db_failed(struct pool *p, const char *what, char *err)
{
	if (!p->fatal)
		p->fatal = xasprintf("%s: %s", what, err);
	p->journal_failed = true;
	free(err);
	p->stop = true;
	pthread_cond_broadcast(&p->cv);
	return -1;
}

/* Queue STATE for J (a failure as a bounce when BOUNCE) for the next
 * commit; returns that commit's number, to give journal_wait. Called with
 * the lock held. */
static unsigned long long journal_mark(struct pool *p, const struct job *j, enum delivery_state state,
				       const char *reply, bool bounce)
{
	struct marks *q = &p->queued;
	if (q->n == q->cap) {
		q->cap = q->cap ? 2 * q->cap : 16;
		q->v = xrealloc(q->v, q->cap * sizeof *q->v);
	}
	struct mark *m = &q->v[q->n++];
	m->sub = j->sub.id;
	m->at = (long long)time(NULL);
	m->state = state;
	m->bounce = bounce;
	m->has_reply = reply != NULL;
	if (reply)
		snprintf(m->reply, sizeof m->reply, "%s", reply);
	return p->open;
}

static unsigned long long journal(struct pool *p, const struct job *j, enum delivery_state state,
				  const char *reply)
{
	return journal_mark(p, j, state, reply, false);
}

/* Commit everything queued, as commit number OPEN: one transaction, one
 * fsync, for the marks of every connection. The lock is released while
 * the store works. Called with the lock held, and no commit running. */
static void journal_commit(struct pool *p)
{
	struct marks m = p->queued;
	p->queued = p->spare;
	p->spare = (struct marks){0};
	unsigned long long number = p->open++;
	p->committing = true;
	pthread_mutex_unlock(&p->mu);

	char *err = NULL;
	int rc = 0;
	const bool any = m.n > 0;
	if (any) {
		pthread_mutex_lock(&p->db);
		rc = store_begin(p->st, &err);
		if (rc == 0) {
			for (size_t i = 0; i < m.n && rc == 0; i++)
				rc = store_delivery_mark(p->st, p->edition, m.v[i].sub, m.v[i].state,
							 m.v[i].has_reply ? m.v[i].reply : NULL, m.v[i].at,
							 m.v[i].bounce ? p->cfg->delivery.smtp.max_bounces : 0, &err);
			if (rc == 0)
				rc = store_commit(p->st, &err);
			if (rc < 0)
				store_rollback(p->st);
		}
		pthread_mutex_unlock(&p->db);
	}

	pthread_mutex_lock(&p->mu);
	m.n = 0;
	p->spare = m;
	p->committing = false;
	if (rc < 0)
		db_failed(p, "journal", err);
	else
		p->done = number;
	if (any)
		p->commits++;
	pthread_cond_broadcast(&p->durable);
}

/* Wait until commit NUMBER is on disk, leading a commit when none is
 * running. 0, or -1 when the journal failed (the run stops). Called with
 * the lock held (released meanwhile). */
static int journal_wait(struct pool *p, unsigned long long number)
{
	while (p->done < number && !p->journal_failed) {
		if (p->committing)
			pthread_cond_wait(&p->durable, &p->mu);
		else
			journal_commit(p);
	}
	return p->journal_failed ? -1 : 0;
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
	pthread_mutex_lock(&p->db);
	int rc = store_recipients_next(p->st, p->edition, p->after, PAGE, subs, &n, &err);
	pthread_mutex_unlock(&p->db);
	if (rc < 0) {
		db_failed(p, "reading recipients", err);
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
	double d = until - mono_now();
	if (d < 0)
		d = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)d;
	ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&p->cv, &p->mu, &ts);
}

/* The next job for a worker, waiting as long as one may still come;
 * NULL when the run is over. Before waiting, the worker's own marks (up
 * to commit NEED) are made durable. Called with the lock held. */
static struct job *take(struct pool *p, unsigned long long need)
{
	for (;;) {
		if (p->stop)
			return NULL;
		double now = mono_now(), wake = now + 0.25;
		/* A due retry first: it has waited longest. */
		for (struct job **q = &p->later; *q; q = &(*q)->next) {
			if ((*q)->due <= now) {
				struct job *j = *q;
				*q = j->next;
				p->busy++;
				return j;
			}
			if ((*q)->due < wake)
				wake = (*q)->due;
		}
		if (!p->ready && !p->exhausted)
			refill(p);
		if (p->ready) {
			struct job *j = p->ready;
			p->ready = j->next;
			if (!p->ready)
				p->ready_tail = NULL;
			p->busy++;
			return j;
		}
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
		if (p->done < need) { /* nothing of ours waits for a commit while we sleep */
			journal_wait(p, need);
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

/*
 * One connection's loop. A message's "in flight" is on disk before it is
 * handed over, and the outcome of a connection's message is on disk before
 * the connection hands over the next one: so a crash at any moment repeats
 * at most the message in flight on each connection. Both take one commit a
 * message: the next message's "in flight" goes with the last one's outcome.
 * "Handed over" is the final dot that ends the message's text: a server
 * drops a transaction that it has not seen end when the connection goes.
 * So the next message is rendered, and its envelope and text sent, while
 * that commit waits for company and is made, by whichever connection
 * first needs it:
 * a commit carries whatever all the connections queued meanwhile, and
 * four connections share an fsync rather than pay one each. No
 * transaction is held open across network I/O.
 */
static void *worker(void *arg)
{
	struct pool *p = arg;
	struct conn c = {.t = &p->t};
	struct buf msg = {0};
	int connect_failures = 0;
	char reply[SMTP_REPLY_MAX];
	const int retries = p->cfg->delivery.smtp.retries;
	const bool paced = p->cfg->delivery.smtp.rate_per_second > 0;
	unsigned long long need = 0; /* the commit that carries this connection's last mark */

	pthread_mutex_lock(&p->mu);
	for (;;) {
		struct job *j = take(p, need);
		/* nothing of ours may wait on a connect, a pause or the end */
		if ((!j || !conn_ready(&c) || paced) && journal_wait(p, need) < 0) {
			if (j) {
				free_job(j);
				p->busy--;
			}
			break;
		}
		if (!j)
			break;
		pthread_mutex_unlock(&p->mu);

		if (!conn_ready(&c)) {
			conn_close(&c);
			char *err = NULL;
			int rc = conn_open(&c, &err);
			if (rc != SMTP_OK) {
				pthread_mutex_lock(&p->mu);
				push_ready(p, j, true); /* not its fault: no attempt counted */
				p->busy--;
				if (rc == SMTP_FAIL) {
					if (!p->fatal)
						p->fatal = xstrdup(err);
					p->refused = true;
					p->stop = true;
				} else if (++connect_failures > retries) {
					log_warn("%s", err);
					p->unreachable = true;
					free(err);
					break;
				} else {
					log_debug("%s; trying again", err);
				}
				free(err);
				if (p->stop)
					break;
				pthread_cond_broadcast(&p->cv);
				wait_for(p, mono_now() + backoff(p, connect_failures));
				continue;
			}
			connect_failures = 0;
		}
		pace(p);

		pthread_mutex_lock(&p->mu);
		need = journal(p, j, DELIVERY_INFLIGHT, NULL);
		pthread_mutex_unlock(&p->mu);
		struct reader rd = {.email = j->sub.email, .name = j->sub.name, .nonce = j->sub.nonce};
		msg.len = 0;
		render_message(p->r, &rd, &msg);
		j->tries++;
		enum smtp_stage stage;
		int rc = conn_begin(&c, p->from, j->sub.email, msg.data, msg.len, reply, &stage);
		if (rc == SMTP_OK) {
			/* Nothing is delivered before the final dot: the commit
			 * could run while the rest went. The dot goes once this
			 * "in flight" and the last outcome are on disk. */
			pthread_mutex_lock(&p->mu);
			int jr = journal_wait(p, need);
			pthread_mutex_unlock(&p->mu);
			if (jr < 0) {
				if (!c.t->maildir)
					smtp_abandon(c.smtp);
				pthread_mutex_lock(&p->mu);
				free_job(j);
				p->busy--;
				break;
			}
			rc = conn_finish(&c, msg.data, msg.len, reply, &stage);
		}

		pthread_mutex_lock(&p->mu);
		p->stats->messages++;
		bool requeue = false;
		if (rc == SMTP_OK) {
			need = journal(p, j, DELIVERY_SENT, reply);
			p->stats->sent++;
		} else if (rc == SMTP_FAIL && stage == SMTP_STAGE_SENDER) {
			/* The server refuses our sender: every message would fail
			 * alike. Stop; this one stays to send, as nothing went. */
			if (!p->fatal)
				p->fatal = xasprintf("%s:%d: MAIL FROM:<%s> refused: %s", p->cfg->delivery.smtp.host,
						     p->cfg->delivery.smtp.port, p->from, reply);
			p->refused = true;
			p->stop = true;
			need = journal(p, j, DELIVERY_DEFERRED, reply);
		} else if (rc == SMTP_FAIL) {
			/* Only a refused recipient is a bounce; a refused message
			 * (content, size) fails this delivery without counting. */
			need = journal_mark(p, j, DELIVERY_FAILED, reply, stage == SMTP_STAGE_RECIPIENT);
			p->stats->failed++;
			log_debug("%s: %s", j->sub.email, reply);
		} else {
			need = journal(p, j, DELIVERY_DEFERRED, reply);
			if (j->tries <= retries) {
				requeue = true;
				j->due = mono_now() + backoff(p, j->tries);
			} else {
				p->stats->deferred++;
				log_debug("%s: deferred: %s", j->sub.email, reply);
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
	journal_wait(p, need);
	p->alive--;
	pthread_cond_broadcast(&p->cv);
	pthread_mutex_unlock(&p->mu);
	conn_close(&c);
	buf_free(&msg);
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
	memset(stats, 0, sizeof *stats);
	struct pool p = {.cfg = cfg, .st = st, .r = r, .edition = edition, .stats = stats};
	p.from = render_envelope_from(r);
	if (transport_init(&p.t, cfg, err) < 0)
		return -1;
	struct delivery_counts dc;
	if (store_delivery_counts(st, edition, &dc, err) < 0) {
		transport_done(&p.t);
		return -1;
	}
#ifdef M_TOP_PAD
	/* glibc hands the top of a thread's heap back to the kernel past
	 * 128 KB free, and SQLite's statements and commits allocate and free
	 * tens of KB a message (60 KB a mark while the CHECK on
	 * deliveries.state made a temporary b-tree, before schema 3): every
	 * mark then paid its memory again in page faults. A megabyte kept at
	 * the top of each heap stops that. */
	mallopt(M_TOP_PAD, 1 << 20);
#endif
	pthread_mutex_init(&p.mu, NULL);
	pthread_mutex_init(&p.db, NULL);
	pthread_cond_init(&p.durable, NULL);
	p.open = 1;
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&p.cv, &ca);
	pthread_condattr_destroy(&ca);

	double t0 = mono_now();
	int n = p.t.maildir ? 1 : cfg->delivery.smtp.connections;
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
	pthread_mutex_lock(&p.mu);
	if (p.queued.n > 0) /* every worker waited for its own marks: none should be left */
		journal_wait(&p, p.open);
	pthread_mutex_unlock(&p.mu);
	log_debug("journal: %lld commits for %lld messages", p.commits, stats->messages);
	stats->seconds = mono_now() - t0;
	stats->unreachable = p.unreachable;
	stats->refused = p.refused;
	stats->journal_failed = p.journal_failed;
	free_list(p.ready);
	free_list(p.later);
	free(p.queued.v);
	free(p.spare.v);
	pthread_cond_destroy(&p.durable);
	pthread_cond_destroy(&p.cv);
	pthread_mutex_destroy(&p.db);
	pthread_mutex_destroy(&p.mu);
	transport_done(&p.t);
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
	struct transport t;
	if (transport_init(&t, cfg, err) < 0)
		return -1;
	struct conn c = {.t = &t};
	char reply[SMTP_REPLY_MAX] = "";
	/* Refused for good only when the refusal is about this recipient or
	 * this message; a server refusing us (a certificate, a login, our
	 * sender) is a matter for later, as it is for a run. */
	bool ours = true;
	int rc = conn_open(&c, err);
	if (rc == SMTP_OK) {
		enum smtp_stage stage;
		rc = conn_send(&c, from, rcpt, msg, len, reply, &stage);
		ours = stage == SMTP_STAGE_SENDER;
		if (rc != SMTP_OK)
			errf(err, "%s: %s", rcpt, reply);
	}
	conn_close(&c);
	transport_done(&t);
	return rc == SMTP_OK ? 0 : rc == SMTP_RETRY || ours ? 1 : -1;
}

int deliver_one(const struct config *cfg, const struct render *r, const struct reader *rd, char **err)
{
	struct buf msg = {0};
	render_message(r, rd, &msg);
	int rc = deliver_message(cfg, render_envelope_from(r), rd->email, msg.data, msg.len, err);
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
