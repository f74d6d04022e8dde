/* store: the SQLite database (WAL): its schema and connection, articles,
 * editions and the archive. Subscribers, the journal and what comes back
 * are in store_subscribers.c, store_deliveries.c and store_bounces.c. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest/address.h"
#include "digest/store.h"
#include "digest/util.h"
#include "store_internal.h"

/* Forward migrations: step I takes user_version I to I + 1. Never edit a
 * step once released; add one. */
static const char *const migrations[] = {
	/* 0 -> 1: articles and editions */
	"CREATE TABLE articles ("
	"  id INTEGER PRIMARY KEY,"
	"  url TEXT NOT NULL UNIQUE,"
	"  source TEXT NOT NULL,"
	"  title TEXT NOT NULL,"
	"  summary TEXT,"
	"  image TEXT,"
	"  published INTEGER," /* Unix time; NULL when the page gave none */
	"  views INTEGER,"
	"  comments INTEGER,"
	"  rating REAL,"
	"  first_seen INTEGER NOT NULL,"
	"  last_seen INTEGER NOT NULL);"
	"CREATE INDEX articles_when ON articles(coalesce(published, first_seen));"
	"CREATE TABLE editions ("
	"  date TEXT PRIMARY KEY," /* YYYY-MM-DD in the newsletter's zone */
	"  built_at INTEGER NOT NULL,"
	"  window_from INTEGER NOT NULL,"
	"  window_to INTEGER NOT NULL);"
	"CREATE TABLE edition_articles ("
	"  edition TEXT NOT NULL REFERENCES editions(date),"
	"  rank INTEGER NOT NULL,"
	"  article_id INTEGER NOT NULL REFERENCES articles(id),"
	"  PRIMARY KEY (edition, rank));"
	"CREATE INDEX edition_articles_article ON edition_articles(article_id, edition);",
	/* 1 -> 2: subscribers, the delivery journal, and each edition's
	 * articles as they were when it was frozen */
	"ALTER TABLE edition_articles ADD COLUMN url TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN source TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN title TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN summary TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN image TEXT;"
	"ALTER TABLE edition_articles ADD COLUMN published INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN published_known INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN views INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN comments INTEGER;"
	"ALTER TABLE edition_articles ADD COLUMN rating REAL;"
	"CREATE TABLE subscribers ("
	"  id INTEGER PRIMARY KEY,"
	"  email TEXT NOT NULL UNIQUE," /* normalized: domain lower-cased */
	"  name TEXT,"
	"  status TEXT NOT NULL CHECK (status IN ('pending', 'active', 'unsubscribed', 'bouncing')),"
	"  nonce TEXT NOT NULL UNIQUE," /* random; what links name instead of the id */
	"  bounces INTEGER NOT NULL DEFAULT 0," /* consecutive permanent failures */
	"  created_at INTEGER NOT NULL,"
	"  status_at INTEGER NOT NULL,"
	"  confirm_sent_at INTEGER);"
	"CREATE INDEX subscribers_status ON subscribers(status, id);"
	"CREATE TABLE deliveries ("
	"  edition TEXT NOT NULL REFERENCES editions(date),"
	"  subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),"
	"  state TEXT NOT NULL CHECK (state IN ('inflight', 'sent', 'deferred', 'failed')),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  reply TEXT," /* the server's last reply */
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (edition, subscriber_id)) WITHOUT ROWID;",
	/* 2 -> 3: the confirmation mail a subscriber is owed: due since when;
	 * the journal's state checked without IN, which SQLite evaluates
	 * with a temporary b-tree on every write */
	"ALTER TABLE subscribers ADD COLUMN confirm_due INTEGER;"
	"ALTER TABLE subscribers ADD COLUMN asked_at INTEGER;" /* the last request to subscribe */
	"CREATE INDEX subscribers_confirm_due ON subscribers(confirm_due) WHERE confirm_due IS NOT NULL;"
	/* pending since before and never mailed: the mail that confirms them
	 * was promised */
	"UPDATE subscribers SET confirm_due = CAST(strftime('%s', 'now') AS INTEGER)"
	"  WHERE status = 'pending' AND confirm_sent_at IS NULL;"
	"CREATE TABLE deliveries3 ("
	"  edition TEXT NOT NULL REFERENCES editions(date),"
	"  subscriber_id INTEGER NOT NULL REFERENCES subscribers(id),"
	"  state TEXT NOT NULL CHECK (state = 'inflight' OR state = 'sent' OR state = 'deferred' OR"
	"                             state = 'failed'),"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  reply TEXT,"
	"  updated_at INTEGER NOT NULL,"
	"  PRIMARY KEY (edition, subscriber_id)) WITHOUT ROWID;"
	"INSERT INTO deliveries3 SELECT edition, subscriber_id, state, attempts, reply, updated_at FROM deliveries;"
	"DROP TABLE deliveries;"
	"ALTER TABLE deliveries3 RENAME TO deliveries;",
	/* 3 -> 4: one subscriber per mailbox (SPEC "Addresses"). Before this
	 * SQL, migrate_keys has filled addr_key (IDNA needs C); the rows of
	 * one mailbox then merge into the earliest created (the spelling first
	 * given): the strongest choice the reader made (unsubscribed, then
	 * bouncing, active, pending), the earliest created_at, every journal
	 * row (one per edition: sent, then failed, deferred, in flight; the
	 * attempts added up). The links in mails sent to a merged spelling
	 * keep working through subscriber_aliases. */
	"CREATE TEMP TABLE merge_map AS"
	"  SELECT s.id AS old_id, k.keep_id AS keep_id FROM subscribers s JOIN"
	"  (SELECT g.addr_key AS addr_key, (SELECT t.id FROM subscribers t WHERE t.addr_key = g.addr_key"
	"     ORDER BY t.created_at, t.id LIMIT 1) AS keep_id"
	"   FROM subscribers g GROUP BY g.addr_key HAVING count(*) > 1) k ON s.addr_key = k.addr_key"
	"  WHERE s.id <> k.keep_id;"
	"CREATE TEMP TABLE merge_best AS"
	"  SELECT m.keep_id AS id,"
	"    (SELECT t.id FROM subscribers t WHERE t.addr_key = s.addr_key ORDER BY"
	"       CASE t.status WHEN 'unsubscribed' THEN 4 WHEN 'bouncing' THEN 3 WHEN 'active' THEN 2 ELSE 1 END DESC,"
	"       t.status_at DESC, t.id LIMIT 1) AS best_id,"
	"    (SELECT min(t.created_at) FROM subscribers t WHERE t.addr_key = s.addr_key) AS created_at,"
	"    (SELECT max(t.bounces) FROM subscribers t WHERE t.addr_key = s.addr_key) AS bounces,"
	"    (SELECT t.name FROM subscribers t WHERE t.addr_key = s.addr_key AND t.name IS NOT NULL"
	"       ORDER BY t.created_at, t.id LIMIT 1) AS name"
	"  FROM (SELECT DISTINCT keep_id FROM merge_map) m JOIN subscribers s ON s.id = m.keep_id;"
	/* a status taken from another row drops what the kept row's own
	 * confirmation stood for: no old link brings anyone back */
	"UPDATE subscribers SET"
	"  confirm_due = CASE WHEN status = (SELECT b.status FROM merge_best x JOIN subscribers b ON b.id = x.best_id"
	"      WHERE x.id = subscribers.id) THEN confirm_due ELSE NULL END,"
	"  confirm_sent_at = CASE WHEN status = (SELECT b.status FROM merge_best x JOIN subscribers b"
	"      ON b.id = x.best_id WHERE x.id = subscribers.id) THEN confirm_sent_at ELSE NULL END,"
	"  status_at = (SELECT b.status_at FROM merge_best x JOIN subscribers b ON b.id = x.best_id"
	"      WHERE x.id = subscribers.id),"
	"  status = (SELECT b.status FROM merge_best x JOIN subscribers b ON b.id = x.best_id"
	"      WHERE x.id = subscribers.id),"
	"  created_at = (SELECT x.created_at FROM merge_best x WHERE x.id = subscribers.id),"
	"  bounces = (SELECT x.bounces FROM merge_best x WHERE x.id = subscribers.id),"
	"  name = (SELECT x.name FROM merge_best x WHERE x.id = subscribers.id)"
	" WHERE id IN (SELECT id FROM merge_best);"
	"UPDATE subscribers SET confirm_due = NULL WHERE status = 'active' AND id IN (SELECT id FROM merge_best);"
	"CREATE TEMP TABLE merge_deliveries AS"
	"  SELECT d.edition AS edition, coalesce(m.keep_id, d.subscriber_id) AS sid, d.subscriber_id AS from_id,"
	"    d.state AS state, d.attempts AS attempts, d.reply AS reply, d.updated_at AS updated_at,"
	"    CASE d.state WHEN 'sent' THEN 4 WHEN 'failed' THEN 3 WHEN 'deferred' THEN 2 ELSE 1 END AS rank"
	"  FROM deliveries d LEFT JOIN merge_map m ON m.old_id = d.subscriber_id"
	"  WHERE d.subscriber_id IN (SELECT old_id FROM merge_map UNION SELECT keep_id FROM merge_map);"
	"DELETE FROM deliveries"
	"  WHERE subscriber_id IN (SELECT old_id FROM merge_map UNION SELECT keep_id FROM merge_map);"
	"INSERT INTO deliveries (edition, subscriber_id, state, attempts, reply, updated_at)"
	"  SELECT b.edition, b.sid, b.state,"
	"    (SELECT sum(x.attempts) FROM merge_deliveries x WHERE x.edition = b.edition AND x.sid = b.sid),"
	"    b.reply, b.updated_at FROM merge_deliveries b"
	"  WHERE NOT EXISTS (SELECT 1 FROM merge_deliveries o WHERE o.edition = b.edition AND o.sid = b.sid AND"
	"    (o.rank > b.rank OR (o.rank = b.rank AND (o.updated_at > b.updated_at OR"
	"     (o.updated_at = b.updated_at AND o.from_id < b.from_id)))));"
	"CREATE TABLE subscriber_aliases ("
	"  nonce TEXT PRIMARY KEY," /* a merged row's nonce: its links' */
	"  email TEXT NOT NULL,"    /* the spelling those links were made for */
	"  subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE) WITHOUT ROWID;"
	"INSERT INTO subscriber_aliases SELECT s.nonce, s.email, m.keep_id"
	"  FROM merge_map m JOIN subscribers s ON s.id = m.old_id;"
	"DELETE FROM subscribers WHERE id IN (SELECT old_id FROM merge_map);"
	"DROP TABLE merge_map; DROP TABLE merge_best; DROP TABLE merge_deliveries;"
	"CREATE UNIQUE INDEX subscribers_key ON subscribers(addr_key);",
	/* 4 -> 5: what comes back (SPEC "What comes back"): each reader's
	 * bounce score, the day of its last step and the time of its last
	 * bounce; every message that came back and was acted on, by
	 * Message-ID or content digest (processing is idempotent); the log
	 * that `digest bounces` lists */
	"ALTER TABLE subscribers ADD COLUMN bounce_score REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE subscribers ADD COLUMN bounce_day INTEGER;"
	"ALTER TABLE subscribers ADD COLUMN bounce_at INTEGER;"
	"CREATE TABLE inbound_seen ("
	"  key TEXT PRIMARY KEY," /* "mid:<Message-ID>" or "sha256:<hex>" */
	"  kind TEXT NOT NULL,"
	"  seen_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE bounces ("
	"  id INTEGER PRIMARY KEY,"
	"  at INTEGER NOT NULL,"
	"  subscriber_id INTEGER REFERENCES subscribers(id) ON DELETE SET NULL,"
	"  address TEXT,"
	"  kind TEXT NOT NULL,"  /* bounce-hard | bounce-soft | complaint | unsubscribe | auto-reply */
	"  source TEXT NOT NULL," /* inbound | run */
	"  status TEXT,"
	"  diagnostic TEXT,"
	"  edition TEXT);"
	"CREATE INDEX bounces_at ON bounces(at);",
	/* 5 -> 6: proof of consent and erasure (SPEC "Consent and erasure").
	 * consents: each step a reader took to join or leave, with when, from
	 * where (the client serve saw, "cli", "import:FILE") and the version
	 * of the wording they were shown; it goes with the reader.
	 * forgotten: a keyed hash of each erased reader's address key, so
	 * that an import cannot bring them back unnoticed; nothing else of
	 * them is kept */
	"CREATE TABLE consents ("
	"  id INTEGER PRIMARY KEY,"
	"  subscriber_id INTEGER NOT NULL REFERENCES subscribers(id) ON DELETE CASCADE,"
	"  event TEXT NOT NULL,"
	"  at INTEGER NOT NULL,"
	"  client TEXT,"
	"  wording TEXT);"
	"CREATE INDEX consents_subscriber ON consents(subscriber_id, at);"
	"CREATE TABLE forgotten ("
	"  key_hash TEXT PRIMARY KEY,"
	"  at INTEGER NOT NULL) WITHOUT ROWID;",
};

/* How long a statement waits for a database another process holds
 * (a long import, a backup) before it gives up: $DIGEST_BUSY_TIMEOUT
 * seconds, else 30. */
static int busy_ms(void)
{
	const char *e = getenv("DIGEST_BUSY_TIMEOUT");
	char *end;
	double s = e && *e ? strtod(e, &end) : -1;
	if (!e || !*e || *end || s < 0 || s > 86400)
		return 30000;
	return (int)(s * 1000);
}

static bool busy_code(int rc)
{
	rc &= 0xff;
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* A failure of code RC: when another process held the database for
 * longer than we wait, say so, with the path, and remember it. */
static int sq_failed(struct store *st, char **err, const char *what, int rc, const char *msg)
{
	if (st && st->db && busy_code(rc)) {
		st->busy = true;
		return errf(err, "%s: the database is busy: locked by another process for over %g s (%s)",
			    st->path ? st->path : "database", busy_ms() / 1000.0, what);
	}
	return errf(err, "%s: %s", what, msg);
}

/* The identity key of EMAIL (address_key); for a spelling address_key
 * refuses (a row an older digest stored, a caller's unchecked input), its
 * ASCII letters lower-cased, so that it still names one row. Malloc'd. */
char *store_key_of(const char *email)
{
	char *key = NULL;
	if (address_key(email, &key, NULL) == 0)
		return key;
	key = xstrdup(email ? email : "");
	for (char *p = key; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	return key;
}

int sq_fail(struct store *st, char **err, const char *what)
{
	if (!st || !st->db)
		return errf(err, "%s: no database", what);
	return sq_failed(st, err, what, sqlite3_errcode(st->db), sqlite3_errmsg(st->db));
}

static int exec(struct store *st, const char *sql, char **err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		const char *what = !strncmp(sql, "BEGIN", 5) ? "starting a write"
				   : !strcmp(sql, "COMMIT")   ? "committing"
							      : "database";
		sq_failed(st, err, what, rc, msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

bool store_busy(const struct store *st) { return st && st->busy; }

int store_schema_version(struct store *st)
{
	sqlite3_stmt *s;
	int v = -1;
	if (sqlite3_prepare_v2(st->db, "PRAGMA user_version", -1, &s, NULL) != SQLITE_OK)
		return -1;
	if (sqlite3_step(s) == SQLITE_ROW)
		v = sqlite3_column_int(s, 0);
	sqlite3_finalize(s);
	return v;
}

/* Step 3 -> 4, the part SQL cannot do: each subscriber's identity key
 * (IDNA is libidn2's) in the new column addr_key. */
static int migrate_keys(struct store *st, char **err)
{
	sqlite3_stmt *q = NULL, *u = NULL;
	int rc = -1, step;
	if (exec(st, "ALTER TABLE subscribers ADD COLUMN addr_key TEXT", err) < 0)
		return -1;
	if (sqlite3_prepare_v2(st->db, "SELECT id, email FROM subscribers", -1, &q, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(st->db, "UPDATE subscribers SET addr_key = ?2 WHERE id = ?1", -1, &u, NULL) !=
		    SQLITE_OK) {
		sq_fail(st, err, "migrating to schema 4");
		goto done;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		char *key = store_key_of((const char *)sqlite3_column_text(q, 1));
		sqlite3_bind_int64(u, 1, sqlite3_column_int64(q, 0));
		sqlite3_bind_text(u, 2, key, -1, SQLITE_TRANSIENT);
		free(key);
		int r = sqlite3_step(u);
		sqlite3_reset(u);
		if (r != SQLITE_DONE) {
			sq_fail(st, err, "migrating to schema 4");
			goto done;
		}
	}
	if (step != SQLITE_DONE) {
		sq_fail(st, err, "migrating to schema 4");
		goto done;
	}
	rc = 0;
done:
	sqlite3_finalize(q);
	sqlite3_finalize(u);
	return rc;
}

static int migrate(struct store *st, char **err)
{
	if (exec(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	int v = store_schema_version(st);
	if (v < 0) {
		sq_fail(st, err, "reading the schema version");
		goto rollback;
	}
	if (v > STORE_SCHEMA_VERSION) {
		errf(err, "database schema version %d is newer than this digest's (%d)", v,
		     STORE_SCHEMA_VERSION);
		goto rollback;
	}
	for (; v < STORE_SCHEMA_VERSION; v++) {
		if (v == 3 && migrate_keys(st, err) < 0)
			goto rollback;
		if (exec(st, migrations[v], err) < 0)
			goto rollback;
		char pragma[40];
		snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v + 1);
		if (exec(st, pragma, err) < 0)
			goto rollback;
	}
	return exec(st, "COMMIT", err);
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

/* Create PATH with mode 0600 before SQLite does, so that the database
 * (and the -wal and -shm files SQLite makes with the same mode) are never
 * readable by others, whatever the umask. */
static int create_private(const char *path, char **err)
{
	char *dir = path_dir(path);
	int rc = mkdir_p(dir, 0700);
	int e = errno;
	free(dir);
	if (rc < 0)
		return errf(err, "cannot create the directory of %s: %s", path, strerror(e));
	/* Never open and close a database file this process may have open
	 * already (`serve` holds two connections): closing any descriptor of
	 * a file drops every POSIX lock the process holds on it, and another
	 * process would then take the database for unused and delete its
	 * write-ahead log under us. */
	struct stat sb;
	if (stat(path, &sb) == 0)
		return 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 && errno != EEXIST)
		return errf(err, "cannot create %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	return 0;
}

int store_open(const char *path, struct store **out, char **err)
{
	*out = NULL;
	if (create_private(path, err) < 0)
		return -1;
	struct store *st = xcalloc(1, sizeof *st);
	st->path = xstrdup(path);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		errf(err, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto fail;
	}
	/* Wait for another process's transaction (an import, a backup)
	 * rather than fail at once; every write begins IMMEDIATE, so the wait
	 * applies to it. */
	sqlite3_busy_timeout(st->db, busy_ms());
	sqlite3_stmt *s = NULL;
	int rc = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	int ok = rc == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	if (!ok) {
		if (busy_code(rc) || busy_code(sqlite3_errcode(st->db)))
			sq_failed(st, err, "opening it", SQLITE_BUSY, "");
		else
			errf(err, "%s: cannot use it as a database (%s)", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	/* secure_delete: what is deleted or overwritten is zeroed in the
	 * file, not left in free space: an erased reader (store_erasure.c)
	 * leaves no bytes behind, nor does any earlier update of their row.
	 * Debian builds SQLite with it on; other builds may not. */
	if (exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA secure_delete = ON;", err) < 0)
		goto fail;
	/* A current schema needs no write: reading it does not wait for a
	 * writer, so `status` works during an import. */
	if (store_schema_version(st) != STORE_SCHEMA_VERSION && migrate(st, err) < 0) {
		if (st->busy)
			goto fail;
		char *m = xasprintf("%s: %s", path, *err);
		free(*err);
		*err = m;
		goto fail;
	}
	*out = st;
	return 0;
fail:;
	bool busy = st->busy;
	store_close(st);
	return busy ? -2 : -1;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->upsert);
	sqlite3_finalize(st->mark);
	sqlite3_finalize(st->recipients);
	sqlite3_finalize(st->sub_get);
	sqlite3_finalize(st->sub_insert);
	sqlite3_finalize(st->row_by_id);
	sqlite3_finalize(st->row_by_key);
	sqlite3_finalize(st->row_put);
	sqlite3_finalize(st->begin);
	sqlite3_finalize(st->commit);
	sqlite3_finalize(st->erased_any);
	sqlite3_finalize(st->erased_get);
	sqlite3_finalize(st->consent_add);
	sqlite3_close(st->db);
	explicit_bzero(st->erasure_key, sizeof st->erasure_key);
	free(st->secret_file);
	free(st->path);
	free(st);
}

/* step_once: run the statement *S (SQL, prepared on first use and kept),
 * as exec would. */
static int step_once(struct store *st, sqlite3_stmt **s, const char *sql, const char *what, char **err)
{
	if (!*s && sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
		return sq_fail(st, err, what);
	int rc = sqlite3_step(*s);
	sqlite3_reset(*s);
	if (rc != SQLITE_DONE)
		return sq_failed(st, err, what, rc, sqlite3_errmsg(st->db));
	return 0;
}

int store_sync(struct store *st, bool full, char **err)
{
	return exec(st, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err);
}

int store_begin(struct store *st, char **err) { return step_once(st, &st->begin, "BEGIN IMMEDIATE", "starting a write", err); }
int store_commit(struct store *st, char **err) { return step_once(st, &st->commit, "COMMIT", "committing", err); }
void store_rollback(struct store *st) { sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL); }

sqlite3_stmt *sq_cached(struct store *st, sqlite3_stmt **slot, const char *sql, char **err)
{
	if (!*slot && sqlite3_prepare_v2(st->db, sql, -1, slot, NULL) != SQLITE_OK) {
		sq_fail(st, err, "preparing a statement");
		*slot = NULL;
		return NULL;
	}
	sqlite3_reset(*slot);
	sqlite3_clear_bindings(*slot);
	return *slot;
}

/* SQL prepared with ?1 bound to T (NULL: unbound) and ?2, when it has
 * one, to N; NULL after an error naming WHAT. */
static sqlite3_stmt *prepare_bound(struct store *st, const char *sql, const char *t, long long n, const char *what,
				   char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK) {
		sq_fail(st, err, what);
		return NULL;
	}
	if (t)
		sqlite3_bind_text(s, 1, t, -1, SQLITE_TRANSIENT);
	if (sqlite3_bind_parameter_count(s) >= 2)
		sqlite3_bind_int64(s, 2, n);
	return s;
}

int sq_count(struct store *st, const char *sql, const char *t, long long n, long long *out, const char *what,
	     char **err)
{
	sqlite3_stmt *s = prepare_bound(st, sql, t, n, what, err);
	if (!s)
		return -1;
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_int64(s, 0);
	else
		sq_fail(st, err, what);
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int sq_change(struct store *st, const char *sql, const char *t, long long n, long long *changed, const char *what,
	      char **err)
{
	sqlite3_stmt *s = prepare_bound(st, sql, t, n, what, err);
	if (!s)
		return -1;
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		sq_fail(st, err, what);
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE && changed)
		*changed += sqlite3_changes(st->db);
	return rc == SQLITE_DONE ? 0 : -1;
}

void sq_bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static void sq_bind_count(sqlite3_stmt *s, int i, long long v)
{
	if (v >= 0)
		sqlite3_bind_int64(s, i, v);
	else
		sqlite3_bind_null(s, i);
}

int store_article_upsert(struct store *st, struct article *a, char **err)
{
	static const char sql[] =
		"INSERT INTO articles (url, source, title, summary, image, published, views, comments,"
		"  rating, first_seen, last_seen) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10)"
		" ON CONFLICT (url) DO UPDATE SET"
		"  title = excluded.title,"
		"  summary = coalesce(excluded.summary, summary),"
		"  image = coalesce(excluded.image, image),"
		"  published = coalesce(published, excluded.published),"
		"  views = coalesce(excluded.views, views),"
		"  comments = coalesce(excluded.comments, comments),"
		"  rating = coalesce(excluded.rating, rating),"
		"  last_seen = excluded.last_seen"
		" RETURNING id";
	if (!st->upsert && sqlite3_prepare_v2(st->db, sql, -1, &st->upsert, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the article upsert");
	sqlite3_stmt *s = st->upsert;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	sq_bind_text(s, 1, a->url);
	sq_bind_text(s, 2, a->source);
	sq_bind_text(s, 3, a->title);
	sq_bind_text(s, 4, a->summary);
	sq_bind_text(s, 5, a->image);
	if (a->published_known)
		sqlite3_bind_int64(s, 6, a->published);
	sq_bind_count(s, 7, a->views);
	sq_bind_count(s, 8, a->comments);
	if (a->has_rating)
		sqlite3_bind_double(s, 9, a->rating);
	sqlite3_bind_int64(s, 10, a->last_seen);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		a->id = sqlite3_column_int64(s, 0);
	while (rc == SQLITE_ROW)
		rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return sq_fail(st, err, "storing an article");
	return 0;
}

char *sq_col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static long long sq_col_count(sqlite3_stmt *s, int i)
{
	return sqlite3_column_type(s, i) == SQLITE_NULL ? -1 : sqlite3_column_int64(s, i);
}

/* Run S and read its rows as articles, in this column order: id, url,
 * source, title, summary, image, published (NULL: unknown), views,
 * comments, rating, first_seen, last_seen. */
static int read_articles(struct store *st, sqlite3_stmt *s, struct article **out, size_t *n, char **err,
			 const char *what)
{
	*out = NULL;
	*n = 0;
	size_t cap = 0;
	struct article *v = NULL;
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 32;
			v = xrealloc(v, cap * sizeof *v);
		}
		struct article *a = &v[(*n)++];
		memset(a, 0, sizeof *a);
		a->id = sqlite3_column_int64(s, 0);
		a->url = sq_col_text(s, 1);
		a->source = sq_col_text(s, 2);
		a->title = sq_col_text(s, 3);
		a->summary = sq_col_text(s, 4);
		a->image = sq_col_text(s, 5);
		a->first_seen = sqlite3_column_int64(s, 10);
		a->last_seen = sqlite3_column_int64(s, 11);
		a->published_known = sqlite3_column_type(s, 6) != SQLITE_NULL;
		a->published = a->published_known ? sqlite3_column_int64(s, 6) : a->first_seen;
		a->views = sq_col_count(s, 7);
		a->comments = sq_col_count(s, 8);
		a->has_rating = sqlite3_column_type(s, 9) != SQLITE_NULL;
		a->rating = a->has_rating ? sqlite3_column_double(s, 9) : 0;
		if (!a->url)
			a->url = xstrdup("");
		if (!a->title)
			a->title = xstrdup("");
		if (!a->source)
			a->source = xstrdup("");
	}
	if (rc != SQLITE_DONE)
		sq_fail(st, err, what); /* before finalize resets the message */
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		articles_free(v, *n);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

int store_candidates(struct store *st, const char *edition, long long from, long long to,
		     struct article **out, size_t *n, char **err)
{
	static const char sql[] =
		"SELECT id, url, source, title, summary, image, published, views, comments, rating,"
		"  first_seen, last_seen FROM articles a"
		" WHERE coalesce(published, first_seen) BETWEEN ?1 AND ?2"
		/* in no other edition, earlier or later: a clock set back
		 * never brings back what a later edition carried */
		"   AND NOT EXISTS (SELECT 1 FROM edition_articles e"
		"                   WHERE e.article_id = a.id AND e.edition <> ?3)";
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the candidates query");
	sqlite3_bind_int64(s, 1, from);
	sqlite3_bind_int64(s, 2, to);
	sqlite3_bind_text(s, 3, edition, -1, SQLITE_TRANSIENT);
	return read_articles(st, s, out, n, err, "reading candidates");
}

/* ---- editions ---- */

int store_edition_latest(struct store *st, char date[11], char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT max(date) FROM editions", -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the latest edition query");
	int rc = sqlite3_step(s), found = 0;
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		snprintf(date, 11, "%s", (const char *)sqlite3_column_text(s, 0));
		found = 1;
	}
	if (rc != SQLITE_ROW)
		sq_fail(st, err, "reading the latest edition");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? found : -1;
}

int store_edition_load(struct store *st, const char *date, struct edition_rec *rec, struct article **out,
		       size_t *n, char **err)
{
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT built_at, window_from, window_to FROM editions WHERE date = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the edition query");
	sqlite3_bind_text(s, 1, date, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW && rec) {
		rec->built_at = sqlite3_column_int64(s, 0);
		rec->window_from = sqlite3_column_int64(s, 1);
		rec->window_to = sqlite3_column_int64(s, 2);
	}
	sqlite3_finalize(s);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return sq_fail(st, err, "reading an edition");

	/* The snapshot's own columns; an unknown date is stored with its
	 * stand-in and published_known = 0. */
	static const char sql[] =
		"SELECT article_id, url, source, title, summary, image,"
		"  CASE WHEN published_known THEN published END, views, comments, rating,"
		"  published, published FROM edition_articles WHERE edition = ?1 ORDER BY rank";
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the edition's articles query");
	sqlite3_bind_text(s, 1, date, -1, SQLITE_TRANSIENT);
	if (read_articles(st, s, out, n, err, "reading an edition's articles") < 0)
		return -1;
	return 1;
}

int store_edition_freeze(struct store *st, const char *date, const struct edition_rec *rec,
			 const struct article *a, size_t n, char **err)
{
	sqlite3_stmt *s = NULL;
	if (store_begin(st, err) < 0)
		return -1;
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO editions (date, built_at, window_from, window_to) VALUES (?1, ?2, ?3, ?4)",
			       -1, &s, NULL) != SQLITE_OK)
		goto fail;
	sqlite3_bind_text(s, 1, date, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, rec->built_at);
	sqlite3_bind_int64(s, 3, rec->window_from);
	sqlite3_bind_int64(s, 4, rec->window_to);
	if (sqlite3_step(s) != SQLITE_DONE)
		goto fail;
	sqlite3_finalize(s);
	static const char sql[] =
		"INSERT INTO edition_articles (edition, rank, article_id, url, source, title, summary, image,"
		"  published, published_known, views, comments, rating)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)";
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		goto fail;
	for (size_t i = 0; i < n; i++) {
		sqlite3_reset(s);
		sqlite3_clear_bindings(s);
		sqlite3_bind_text(s, 1, date, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 2, (long long)i + 1);
		sqlite3_bind_int64(s, 3, a[i].id);
		sq_bind_text(s, 4, a[i].url);
		sq_bind_text(s, 5, a[i].source);
		sq_bind_text(s, 6, a[i].title);
		sq_bind_text(s, 7, a[i].summary);
		sq_bind_text(s, 8, a[i].image);
		sqlite3_bind_int64(s, 9, a[i].published);
		sqlite3_bind_int(s, 10, a[i].published_known);
		sq_bind_count(s, 11, a[i].views);
		sq_bind_count(s, 12, a[i].comments);
		if (a[i].has_rating)
			sqlite3_bind_double(s, 13, a[i].rating);
		if (sqlite3_step(s) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(s);
	return store_commit(st, err);
fail:
	sq_fail(st, err, "freezing the edition");
	sqlite3_finalize(s);
	store_rollback(st);
	return -1;
}

int store_editions_recent(struct store *st, int limit, struct edition_stats **out, size_t *n, char **err)
{
	static const char sql[] =
		"SELECT e.date, e.built_at,"
		"  (SELECT count(*) FROM edition_articles a WHERE a.edition = e.date),"
		COUNTS_SQL("e.date") ","
		"  (SELECT max(updated_at) FROM deliveries d WHERE d.edition = e.date)"
		" FROM editions e ORDER BY e.date DESC LIMIT ?1";
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the editions query");
	sqlite3_bind_int(s, 1, limit);
	struct edition_stats *v = xcalloc((size_t)(limit > 0 ? limit : 1), sizeof *v);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < (size_t)limit) {
		struct edition_stats *e = &v[(*n)++];
		snprintf(e->date, sizeof e->date, "%s", (const char *)sqlite3_column_text(s, 0));
		e->built_at = sqlite3_column_int64(s, 1);
		e->articles = sqlite3_column_int64(s, 2);
		e->sent = sqlite3_column_int64(s, 3);
		e->failed = sqlite3_column_int64(s, 4);
		e->deferred = sqlite3_column_int64(s, 5);
		e->untried = sqlite3_column_int64(s, 6);
		e->pending = e->deferred + e->untried;
		e->last_delivery = sqlite3_column_int64(s, 7);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		sq_fail(st, err, "reading editions");
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		free(v);
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- the archive: sent editions ---- */

/* "Sent": frozen, and at least one delivery of it accepted by the mail
 * server (or written to the Maildir). The journal is keyed by (edition,
 * subscriber), so the EXISTS probe reads one edition's rows only. */
#define SENT_EDITION "EXISTS (SELECT 1 FROM deliveries d WHERE d.edition = e.date AND d.state = 'sent')"

int store_archive_state(struct store *st, struct archive_state *out, char **err)
{
	static const char sql[] = "SELECT count(*), max(e.date), max(e.built_at) FROM editions e WHERE " SENT_EDITION;
	memset(out, 0, sizeof *out);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the archive query");
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->count = sqlite3_column_int64(s, 0);
		if (sqlite3_column_type(s, 1) != SQLITE_NULL)
			snprintf(out->latest, sizeof out->latest, "%s", (const char *)sqlite3_column_text(s, 1));
		out->modified = sqlite3_column_int64(s, 2);
	} else {
		sq_fail(st, err, "reading the archive");
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

int store_archive_list(struct store *st, long long offset, int limit, struct archive_rec **out, size_t *n,
		       char **err)
{
	static const char sql[] =
		"SELECT e.date, e.built_at, (SELECT count(*) FROM edition_articles a WHERE a.edition = e.date)"
		" FROM editions e WHERE " SENT_EDITION " ORDER BY e.date DESC LIMIT ?1 OFFSET ?2";
	*out = NULL;
	*n = 0;
	if (limit <= 0)
		return 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the archive query");
	sqlite3_bind_int(s, 1, limit);
	sqlite3_bind_int64(s, 2, offset < 0 ? 0 : offset);
	struct archive_rec *v = xcalloc((size_t)limit, sizeof *v);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < (size_t)limit) {
		struct archive_rec *e = &v[(*n)++];
		snprintf(e->date, sizeof e->date, "%s", (const char *)sqlite3_column_text(s, 0));
		e->built_at = sqlite3_column_int64(s, 1);
		e->articles = sqlite3_column_int64(s, 2);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
		sq_fail(st, err, "reading the archive");
		sqlite3_finalize(s);
		free(v);
		*n = 0;
		return -1;
	}
	sqlite3_finalize(s);
	*out = v;
	return 0;
}

int store_edition_sent(struct store *st, const char *date, char **err)
{
	static const char sql[] = "SELECT 1 FROM editions e WHERE e.date = ?1 AND " SENT_EDITION;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return sq_fail(st, err, "preparing the archive query");
	sqlite3_bind_text(s, 1, date, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		sq_fail(st, err, "reading the archive");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}
