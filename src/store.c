/* store: the SQLite database (WAL): articles, editions, and their schema. */
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

struct store {
	sqlite3 *db;
	sqlite3_stmt *upsert;
	sqlite3_stmt *mark, *mark_sent, *mark_failed, *recipients;
	sqlite3_stmt *sub_get, *sub_insert, *sub_update; /* prepared once: imports run them per line */
	sqlite3_stmt *begin, *commit; /* prepared once: a run commits a few times a message */
	char *path;
	bool busy; /* a failure since open was another process holding the database */
	double bounce_threshold; /* store_bounce_policy */
	int bounce_reset_days;
};

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
static int failed(struct store *st, char **err, const char *what, int rc, const char *msg)
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
static char *key_of(const char *email)
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

static int fail(struct store *st, char **err, const char *what)
{
	if (!st || !st->db)
		return errf(err, "%s: no database", what);
	return failed(st, err, what, sqlite3_errcode(st->db), sqlite3_errmsg(st->db));
}

static int exec(struct store *st, const char *sql, char **err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(st->db, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		const char *what = !strncmp(sql, "BEGIN", 5) ? "starting a write"
				   : !strcmp(sql, "COMMIT")   ? "committing"
							      : "database";
		failed(st, err, what, rc, msg ? msg : sqlite3_errmsg(st->db));
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
		fail(st, err, "migrating to schema 4");
		goto done;
	}
	while ((step = sqlite3_step(q)) == SQLITE_ROW) {
		char *key = key_of((const char *)sqlite3_column_text(q, 1));
		sqlite3_bind_int64(u, 1, sqlite3_column_int64(q, 0));
		sqlite3_bind_text(u, 2, key, -1, SQLITE_TRANSIENT);
		free(key);
		int r = sqlite3_step(u);
		sqlite3_reset(u);
		if (r != SQLITE_DONE) {
			fail(st, err, "migrating to schema 4");
			goto done;
		}
	}
	if (step != SQLITE_DONE) {
		fail(st, err, "migrating to schema 4");
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
		fail(st, err, "reading the schema version");
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
			failed(st, err, "opening it", SQLITE_BUSY, "");
		else
			errf(err, "%s: cannot use it as a database (%s)", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", err) < 0)
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
	sqlite3_finalize(st->mark_sent);
	sqlite3_finalize(st->mark_failed);
	sqlite3_finalize(st->recipients);
	sqlite3_finalize(st->sub_get);
	sqlite3_finalize(st->sub_insert);
	sqlite3_finalize(st->sub_update);
	sqlite3_finalize(st->begin);
	sqlite3_finalize(st->commit);
	sqlite3_close(st->db);
	free(st->path);
	free(st);
}

/* step_once: run the statement *S (SQL, prepared on first use and kept),
 * as exec would. */
static int step_once(struct store *st, sqlite3_stmt **s, const char *sql, const char *what, char **err)
{
	if (!*s && sqlite3_prepare_v2(st->db, sql, -1, s, NULL) != SQLITE_OK)
		return fail(st, err, what);
	int rc = sqlite3_step(*s);
	sqlite3_reset(*s);
	if (rc != SQLITE_DONE)
		return failed(st, err, what, rc, sqlite3_errmsg(st->db));
	return 0;
}

int store_sync(struct store *st, bool full, char **err)
{
	return exec(st, full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL", err);
}

int store_begin(struct store *st, char **err) { return step_once(st, &st->begin, "BEGIN IMMEDIATE", "starting a write", err); }
int store_commit(struct store *st, char **err) { return step_once(st, &st->commit, "COMMIT", "committing", err); }
void store_rollback(struct store *st) { sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL); }

static void bind_text(sqlite3_stmt *s, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(s, i, v, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(s, i);
}

static void bind_count(sqlite3_stmt *s, int i, long long v)
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
		return fail(st, err, "preparing the article upsert");
	sqlite3_stmt *s = st->upsert;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	bind_text(s, 1, a->url);
	bind_text(s, 2, a->source);
	bind_text(s, 3, a->title);
	bind_text(s, 4, a->summary);
	bind_text(s, 5, a->image);
	if (a->published_known)
		sqlite3_bind_int64(s, 6, a->published);
	bind_count(s, 7, a->views);
	bind_count(s, 8, a->comments);
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
		return fail(st, err, "storing an article");
	return 0;
}

static char *col_text(sqlite3_stmt *s, int i)
{
	const unsigned char *t = sqlite3_column_text(s, i);
	return t ? xstrdup((const char *)t) : NULL;
}

static long long col_count(sqlite3_stmt *s, int i)
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
		a->url = col_text(s, 1);
		a->source = col_text(s, 2);
		a->title = col_text(s, 3);
		a->summary = col_text(s, 4);
		a->image = col_text(s, 5);
		a->first_seen = sqlite3_column_int64(s, 10);
		a->last_seen = sqlite3_column_int64(s, 11);
		a->published_known = sqlite3_column_type(s, 6) != SQLITE_NULL;
		a->published = a->published_known ? sqlite3_column_int64(s, 6) : a->first_seen;
		a->views = col_count(s, 7);
		a->comments = col_count(s, 8);
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
		fail(st, err, what); /* before finalize resets the message */
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
		return fail(st, err, "preparing the candidates query");
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
		return fail(st, err, "preparing the latest edition query");
	int rc = sqlite3_step(s), found = 0;
	if (rc == SQLITE_ROW && sqlite3_column_type(s, 0) != SQLITE_NULL) {
		snprintf(date, 11, "%s", (const char *)sqlite3_column_text(s, 0));
		found = 1;
	}
	if (rc != SQLITE_ROW)
		fail(st, err, "reading the latest edition");
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
		return fail(st, err, "preparing the edition query");
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
		return fail(st, err, "reading an edition");

	/* The snapshot's own columns; an unknown date is stored with its
	 * stand-in and published_known = 0. */
	static const char sql[] =
		"SELECT article_id, url, source, title, summary, image,"
		"  CASE WHEN published_known THEN published END, views, comments, rating,"
		"  published, published FROM edition_articles WHERE edition = ?1 ORDER BY rank";
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the edition's articles query");
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
		bind_text(s, 4, a[i].url);
		bind_text(s, 5, a[i].source);
		bind_text(s, 6, a[i].title);
		bind_text(s, 7, a[i].summary);
		bind_text(s, 8, a[i].image);
		sqlite3_bind_int64(s, 9, a[i].published);
		sqlite3_bind_int(s, 10, a[i].published_known);
		bind_count(s, 11, a[i].views);
		bind_count(s, 12, a[i].comments);
		if (a[i].has_rating)
			sqlite3_bind_double(s, 13, a[i].rating);
		if (sqlite3_step(s) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(s);
	return store_commit(st, err);
fail:
	fail(st, err, "freezing the edition");
	sqlite3_finalize(s);
	store_rollback(st);
	return -1;
}

int store_editions_recent(struct store *st, int limit, struct edition_stats **out, size_t *n, char **err)
{
	static const char sql[] =
		"SELECT e.date, e.built_at,"
		"  (SELECT count(*) FROM edition_articles a WHERE a.edition = e.date),"
		"  (SELECT count(*) FROM deliveries d WHERE d.edition = e.date AND d.state = 'sent'),"
		"  (SELECT count(*) FROM deliveries d WHERE d.edition = e.date AND d.state = 'failed'),"
		/* still to send: active and neither sent nor failed, as the run counts */
		"  (SELECT count(*) FROM subscribers s WHERE s.status = 'active' AND NOT EXISTS"
		"    (SELECT 1 FROM deliveries d WHERE d.edition = e.date AND d.subscriber_id = s.id"
		"     AND d.state IN ('sent', 'failed'))),"
		"  (SELECT max(updated_at) FROM deliveries d WHERE d.edition = e.date)"
		" FROM editions e ORDER BY e.date DESC LIMIT ?1";
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the editions query");
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
		e->pending = sqlite3_column_int64(s, 5);
		e->last_delivery = sqlite3_column_int64(s, 6);
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		fail(st, err, "reading editions");
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
		return fail(st, err, "preparing the archive query");
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		out->count = sqlite3_column_int64(s, 0);
		if (sqlite3_column_type(s, 1) != SQLITE_NULL)
			snprintf(out->latest, sizeof out->latest, "%s", (const char *)sqlite3_column_text(s, 1));
		out->modified = sqlite3_column_int64(s, 2);
	} else {
		fail(st, err, "reading the archive");
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
		return fail(st, err, "preparing the archive query");
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
		fail(st, err, "reading the archive");
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
		return fail(st, err, "preparing the archive query");
	sqlite3_bind_text(s, 1, date, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		fail(st, err, "reading the archive");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* ---- subscribers ---- */

static const char *const status_names[] = {"pending", "active", "unsubscribed", "bouncing"};

static void new_nonce(char out[33])
{
	unsigned char r[16];
	random_bytes(r, sizeof r);
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", r[i]);
}

static void read_subscriber(sqlite3_stmt *s, struct subscriber *sub)
{
	memset(sub, 0, sizeof *sub);
	sub->id = sqlite3_column_int64(s, 0);
	sub->email = col_text(s, 1);
	sub->name = col_text(s, 2);
	const char *stname = (const char *)sqlite3_column_text(s, 3);
	for (int i = 0; i < 4; i++)
		if (stname && !strcmp(stname, status_names[i]))
			sub->status = (enum sub_status)i;
	sub->nonce = col_text(s, 4);
	sub->bounces = sqlite3_column_int(s, 5);
	sub->created_at = sqlite3_column_int64(s, 6);
	sub->status_at = sqlite3_column_int64(s, 7);
}

#define SUB_COLS "id, email, name, status, nonce, bounces, created_at, status_at"

void subscriber_clear(struct subscriber *sub)
{
	if (!sub)
		return;
	free(sub->email);
	free(sub->name);
	free(sub->nonce);
	memset(sub, 0, sizeof *sub);
}

/* The statement *SLOT, prepared on first use and reset for the next;
 * NULL after a failure (in *ERR). */
static sqlite3_stmt *cached(struct store *st, sqlite3_stmt **slot, const char *sql, char **err)
{
	if (!*slot && sqlite3_prepare_v2(st->db, sql, -1, slot, NULL) != SQLITE_OK) {
		fail(st, err, "preparing a statement");
		*slot = NULL;
		return NULL;
	}
	sqlite3_reset(*slot);
	sqlite3_clear_bindings(*slot);
	return *slot;
}

/* The subscriber whose identity key is KEY: 1, 0, -1. */
static int get_by_key(struct store *st, const char *key, struct subscriber *out, char **err)
{
	sqlite3_stmt *s = cached(st, &st->sub_get, "SELECT " SUB_COLS " FROM subscribers WHERE addr_key = ?1", err);
	if (!s)
		return -1;
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_subscriber(s, out);
	else if (rc != SQLITE_DONE)
		fail(st, err, "reading a subscriber");
	sqlite3_reset(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_subscriber_get(struct store *st, const char *email, struct subscriber *out, char **err)
{
	char *key = key_of(email);
	int rc = get_by_key(st, key, out, err);
	free(key);
	return rc;
}

int store_subscriber_put(struct store *st, const char *email, const char *name, enum sub_status status,
			 bool resubscribe, long long now, enum put_outcome *outcome, char **err)
{
	struct subscriber old;
	char *key = key_of(email);
	int found = get_by_key(st, key, &old, err);
	if (found < 0) {
		free(key);
		return -1;
	}
	sqlite3_stmt *s = NULL;
	*outcome = PUT_UNCHANGED;
	if (!found) {
		char nonce[33];
		new_nonce(nonce);
		s = cached(st, &st->sub_insert,
			   "INSERT INTO subscribers (email, name, status, nonce, created_at, status_at, addr_key)"
			   " VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
			   err);
		if (!s) {
			free(key);
			return -1;
		}
		sqlite3_bind_text(s, 6, key, -1, SQLITE_TRANSIENT);
		free(key);
		sqlite3_bind_text(s, 1, email, -1, SQLITE_TRANSIENT);
		bind_text(s, 2, name);
		sqlite3_bind_text(s, 3, status_names[status], -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, nonce, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int64(s, 5, now);
		*outcome = PUT_ADDED;
	} else {
		free(key);
		enum sub_status to = old.status;
		/* Someone who left, or whose mail bounced, is never put back on the
		 * list by a merge: only when the caller says so. */
		bool gone = old.status == SUB_UNSUBSCRIBED || old.status == SUB_BOUNCING;
		if (status != old.status) {
			if (gone && !resubscribe)
				*outcome = PUT_KEPT;
			else if (!(old.status == SUB_ACTIVE && status == SUB_PENDING))
				to = status;
		}
		bool rename = name && (!old.name || strcmp(name, old.name));
		if (to != old.status)
			*outcome = PUT_UPDATED;
		else if (rename && *outcome == PUT_UNCHANGED)
			*outcome = PUT_UPDATED;
		long long id = old.id;
		bool same = to == old.status;
		subscriber_clear(&old);
		if (same && !rename)
			return 0;
		s = cached(st, &st->sub_update,
			   "UPDATE subscribers SET name = coalesce(?2, name), status = ?3,"
			   "  status_at = CASE WHEN status = ?3 THEN status_at ELSE ?4 END,"
			   "  confirm_due = CASE WHEN status = ?3 THEN confirm_due ELSE NULL END,"
			   "  bounces = CASE WHEN status = ?3 THEN bounces ELSE 0 END"
			   " WHERE id = ?1",
			   err);
		if (!s)
			return -1;
		sqlite3_bind_int64(s, 1, id);
		bind_text(s, 2, name);
		sqlite3_bind_text(s, 3, status_names[to], -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 4, now);
	}
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		fail(st, err, "storing a subscriber");
	sqlite3_reset(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

int store_subscriber_set_status(struct store *st, const char *email, enum sub_status status, long long now,
				char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "UPDATE subscribers SET status = ?2, status_at = ?3, bounces = 0,"
			       "  confirm_due = NULL,"
			       "  confirm_sent_at = CASE WHEN ?2 = 'unsubscribed' THEN NULL ELSE confirm_sent_at END"
			       " WHERE addr_key = ?1 AND status <> ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the status update");
	char *key = key_of(email);
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	free(key);
	sqlite3_bind_text(s, 2, status_names[status], -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		fail(st, err, "changing a subscriber's status");
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return -1;
	return sqlite3_changes(st->db) > 0;
}

int store_subscribers_each(struct store *st, int status, int (*cb)(void *ctx, const struct subscriber *s),
			   void *ctx, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT " SUB_COLS " FROM subscribers WHERE ?1 IS NULL OR status = ?1 ORDER BY id",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the subscribers query");
	if (status >= 0)
		sqlite3_bind_text(s, 1, status_names[status], -1, SQLITE_STATIC);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct subscriber sub;
		read_subscriber(s, &sub);
		r = cb(ctx, &sub);
		subscriber_clear(&sub);
		if (r)
			break;
	}
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		fail(st, err, "reading subscribers");
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		return -1;
	return r;
}

int store_subscriber_counts(struct store *st, long long counts[4], char **err)
{
	sqlite3_stmt *s;
	memset(counts, 0, 4 * sizeof *counts);
	if (sqlite3_prepare_v2(st->db, "SELECT status, count(*) FROM subscribers GROUP BY status", -1, &s,
			       NULL) != SQLITE_OK)
		return fail(st, err, "preparing the subscriber count");
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(s, 0);
		for (int i = 0; i < 4; i++)
			if (name && !strcmp(name, status_names[i]))
				counts[i] = sqlite3_column_int64(s, 1);
	}
	if (rc != SQLITE_DONE)
		fail(st, err, "counting subscribers");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* ---- double opt-in ---- */

int store_subscriber_by_nonce(struct store *st, const char *nonce, struct subscriber *out, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT " SUB_COLS " FROM subscribers WHERE nonce = ?1", -1, &s, NULL) !=
	    SQLITE_OK)
		return fail(st, err, "preparing the subscriber query");
	sqlite3_bind_text(s, 1, nonce, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_subscriber(s, out);
	else if (rc != SQLITE_DONE)
		fail(st, err, "reading a subscriber");
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return rc == SQLITE_ROW ? 1 : -1;
	/* A row merged into another by the migration to schema 4: its links
	 * name the subscriber it became, with the spelling and nonce they
	 * were made for (so that their MAC still checks). */
	if (sqlite3_prepare_v2(st->db,
			       "SELECT s.id, a.email, s.name, s.status, a.nonce, s.bounces, s.created_at, s.status_at"
			       " FROM subscriber_aliases a JOIN subscribers s ON s.id = a.subscriber_id WHERE a.nonce = ?1",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the subscriber query");
	sqlite3_bind_text(s, 1, nonce, -1, SQLITE_TRANSIENT);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		read_subscriber(s, out);
	else if (rc != SQLITE_DONE)
		fail(st, err, "reading a subscriber");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

/* SQL with ?1 bound to the text T (NULL: SQL NULL) and ?2.. to the
 * integers A, B, C (a statement may leave ?1 unused), stepped to its end:
 * the rows it changed, or -1. */
static int update(struct store *st, const char *sql, const char *what, char **err, const char *t, long long a,
		  long long b, long long c)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, what);
	int params = sqlite3_bind_parameter_count(s);
	bind_text(s, 1, t);
	long long v[3] = {a, b, c};
	for (int i = 2; i <= params && i <= 4; i++)
		sqlite3_bind_int64(s, i, v[i - 2]);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		fail(st, err, what);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? sqlite3_changes(st->db) : -1;
}

/* The confirm_due of the subscriber keyed KEY: -1 when none, -2 when it
 * cannot be read. */
static long long due_of(struct store *st, const char *key)
{
	sqlite3_stmt *q;
	if (sqlite3_prepare_v2(st->db, "SELECT coalesce(confirm_due, -1) FROM subscribers WHERE addr_key = ?1", -1,
			       &q, NULL) != SQLITE_OK)
		return -2;
	sqlite3_bind_text(q, 1, key, -1, SQLITE_TRANSIENT);
	long long v = sqlite3_step(q) == SQLITE_ROW ? sqlite3_column_int64(q, 0) : -2;
	sqlite3_finalize(q);
	return v;
}

static int optin_request(struct store *st, const char *email, const char *key, const char *name, long long now,
			 long long resend, enum optin_outcome *outcome, char **err);

int store_optin_request(struct store *st, const char *email, const char *name, long long now, long long resend,
			enum optin_outcome *outcome, char **err)
{
	char *key = key_of(email);
	int rc = optin_request(st, email, key, name, now, resend, outcome, err);
	free(key);
	return rc;
}

static int optin_request(struct store *st, const char *email, const char *key, const char *name, long long now,
			 long long resend, enum optin_outcome *outcome, char **err)
{
	struct subscriber old;
	int found = get_by_key(st, key, &old, err);
	if (found < 0)
		return -1;
	if (!found) {
		/* A stranger's form can name an address it does not own: the name
		 * is kept only for a new row, and no mail ever shows it before
		 * the owner confirms. */
		enum put_outcome po;
		if (store_subscriber_put(st, email, name, SUB_PENDING, false, now, &po, err) < 0 ||
		    update(st, "UPDATE subscribers SET confirm_due = ?2, asked_at = ?2 WHERE addr_key = ?1",
			   "asking for a confirmation", err, key, now, 0, 0) < 0)
			return -1;
		*outcome = OPTIN_NEW;
		return 0;
	}
	enum sub_status was = old.status;
	subscriber_clear(&old);
	long long due_before = due_of(st, key), due_after;
	/* Every request writes (asked_at), whatever the address: the commit
	 * then takes as long for a subscribed address as for a new one, and
	 * the answer's timing tells nobody which it was. Owed a mail unless
	 * active, or one went out less than RESEND seconds ago, or one is
	 * still waiting to go (a clock set back holds nothing up for ever).
	 * Someone who left stays unsubscribed (or bouncing) until the new
	 * link is followed: a stranger's request changes nothing anyone could
	 * act on. The first request since leaving gets a new nonce, so that
	 * links from before never work again. */
	if (due_before < -1 ||
	    update(st,
		   "UPDATE subscribers SET asked_at = ?2,"
		   "  confirm_due = CASE WHEN status = 'active' OR confirm_due IS NOT NULL THEN confirm_due"
		   "    WHEN confirm_sent_at IS NULL OR confirm_sent_at <= ?2 - ?3 OR confirm_sent_at > ?2 THEN ?2"
		   "    ELSE NULL END,"
		   "  nonce = CASE WHEN status IN ('unsubscribed', 'bouncing') AND confirm_due IS NULL"
		   "    AND (confirm_sent_at IS NULL OR confirm_sent_at < status_at)"
		   "    THEN lower(hex(randomblob(16))) ELSE nonce END"
		   " WHERE addr_key = ?1",
		   "asking for a confirmation", err, key, now, resend, 0) < 0 ||
	    (due_after = due_of(st, key)) < -1)
		return fail(st, err, "asking for a confirmation");
	bool made_due = due_before == -1 && due_after != -1;
	*outcome = was == SUB_ACTIVE ? OPTIN_ACTIVE
		   : !made_due	      ? OPTIN_WAIT
		   : was == SUB_PENDING ? OPTIN_RESENT
					: OPTIN_RETURNED;
	return 0;
}

int store_optin_due(struct store *st, long long now, int limit, struct subscriber *out, int *n, char **err)
{
	*n = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT " SUB_COLS " FROM subscribers"
			       " WHERE confirm_due IS NOT NULL AND confirm_due <= ?1 AND status <> 'active'"
			       " ORDER BY confirm_due, id LIMIT ?2",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the confirmation query");
	sqlite3_bind_int64(s, 1, now);
	sqlite3_bind_int(s, 2, limit);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW && *n < limit)
		read_subscriber(s, &out[(*n)++]);
	if (rc != SQLITE_DONE && rc != SQLITE_ROW)
		fail(st, err, "reading the confirmations due");
	sqlite3_finalize(s);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : -1;
}

int store_optin_claim(struct store *st, const struct subscriber *sub, long long now, char **err)
{
	/* Only the row as it was read: if it left and came back meanwhile,
	 * its nonce (and the link in a mail made from SUB) changed. */
	return update(st,
		      "UPDATE subscribers SET confirm_due = NULL, confirm_sent_at = ?3"
		      " WHERE id = ?2 AND nonce = ?1 AND confirm_due IS NOT NULL AND status <> 'active'",
		      "claiming a confirmation", err, sub->nonce, sub->id, now, 0);
}

int store_optin_retry(struct store *st, long long id, long long claimed, long long when, char **err)
{
	/* Only a claim still standing: a status change since (someone who
	 * unsubscribed meanwhile) cleared it, and must stay cleared. */
	return update(st,
		      "UPDATE subscribers SET confirm_due = ?3, confirm_sent_at = NULL"
		      " WHERE id = ?2 AND status <> 'active' AND confirm_due IS NULL"
		      "   AND confirm_sent_at IS NOT NULL AND (?4 = 0 OR confirm_sent_at = ?4)",
		      "deferring a confirmation", err, NULL, id, when, claimed) < 0
		       ? -1
		       : 0;
}

/* Who may be confirmed: pending; or left, then sent a confirmation since
 * (on or after the second they left). */
#define CONFIRMABLE \
	"(status = 'pending' OR (status IN ('unsubscribed', 'bouncing') AND confirm_sent_at >= status_at))"

int store_optin_confirm(struct store *st, long long id, long long now, bool apply, char **err)
{
	if (apply)
		return update(st,
			      "UPDATE subscribers SET status = 'active', status_at = ?3, bounces = 0, confirm_due = NULL"
			      " WHERE id = ?2 AND " CONFIRMABLE,
			      "confirming a subscriber", err, NULL, id, now, 0);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM subscribers WHERE id = ?1 AND " CONFIRMABLE, -1, &s,
			       NULL) != SQLITE_OK)
		return fail(st, err, "preparing the confirmation check");
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	int n = rc == SQLITE_ROW ? sqlite3_column_int(s, 0) : -1;
	if (rc != SQLITE_ROW)
		fail(st, err, "checking a confirmation");
	sqlite3_finalize(s);
	return n;
}

int store_subscriber_transition(struct store *st, long long id, unsigned from, enum sub_status to, long long now,
				char **err)
{
	char sql[320];
	int o = snprintf(sql, sizeof sql,
			 "UPDATE subscribers SET status = '%s', status_at = ?3, bounces = 0, confirm_due = NULL%s"
			 " WHERE id = ?2 AND status <> '%s' AND status IN (''",
			 status_names[to], to == SUB_UNSUBSCRIBED ? ", confirm_sent_at = NULL" : "", status_names[to]);
	for (int i = 0; i < 4; i++)
		if (from & (1u << i))
			o += snprintf(sql + o, sizeof sql - (size_t)o, ", '%s'", status_names[i]);
	snprintf(sql + o, sizeof sql - (size_t)o, ")");
	return update(st, sql, "changing a subscriber's status", err, NULL, id, now, 0);
}

/* ---- the delivery journal ---- */

int store_recipients_next(struct store *st, const char *edition, long long after, int limit,
			  struct subscriber *out, int *n, char **err)
{
	static const char sql[] =
		"SELECT s.id, s.email, s.name, s.status, s.nonce, s.bounces, s.created_at, s.status_at,"
		"  coalesce(d.attempts, 0)"
		" FROM subscribers s LEFT JOIN deliveries d ON d.edition = ?1 AND d.subscriber_id = s.id"
		" WHERE s.status = 'active' AND s.id > ?2"
		"   AND (d.state IS NULL OR d.state IN ('inflight', 'deferred'))"
		" ORDER BY s.id LIMIT ?3";
	*n = 0;
	if (!st->recipients && sqlite3_prepare_v2(st->db, sql, -1, &st->recipients, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the recipients query");
	sqlite3_stmt *s = st->recipients;
	sqlite3_reset(s);
	sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, after);
	sqlite3_bind_int(s, 3, limit);
	int rc = SQLITE_DONE;
	while (*n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		read_subscriber(s, &out[*n]);
		out[*n].attempts = sqlite3_column_int(s, 8);
		(*n)++;
	}
	if (*n < limit && rc != SQLITE_DONE) {
		fail(st, err, "reading recipients");
		sqlite3_reset(s);
		for (int i = 0; i < *n; i++)
			subscriber_clear(&out[i]);
		*n = 0;
		return -1;
	}
	sqlite3_reset(s);
	return 0;
}

static const char *const state_names[] = {"inflight", "sent", "deferred", "failed"};

int store_delivery_mark(struct store *st, const char *edition, long long subscriber, enum delivery_state state,
			const char *reply, long long now, int max_bounces, char **err)
{
	static const char sql[] =
		"INSERT INTO deliveries (edition, subscriber_id, state, attempts, reply, updated_at)"
		" VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
		" ON CONFLICT (edition, subscriber_id) DO UPDATE SET state = excluded.state,"
		"  attempts = attempts + excluded.attempts, reply = coalesce(excluded.reply, reply),"
		"  updated_at = excluded.updated_at";
	if (!st->mark && sqlite3_prepare_v2(st->db, sql, -1, &st->mark, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the journal update");
	sqlite3_stmt *s = st->mark;
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
	sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 2, subscriber);
	sqlite3_bind_text(s, 3, state_names[state], -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 4, state == DELIVERY_INFLIGHT); /* an attempt starts in flight */
	bind_text(s, 5, reply);
	sqlite3_bind_int64(s, 6, now);
	if (sqlite3_step(s) != SQLITE_DONE) {
		fail(st, err, "writing the journal");
		sqlite3_reset(s);
		return -1;
	}
	sqlite3_reset(s);
	if (state == DELIVERY_SENT) {
		if (!st->mark_sent &&
		    sqlite3_prepare_v2(st->db, "UPDATE subscribers SET bounces = 0 WHERE id = ?1 AND bounces <> 0",
				       -1, &st->mark_sent, NULL) != SQLITE_OK)
			return fail(st, err, "preparing the bounce reset");
		s = st->mark_sent;
	} else if (state == DELIVERY_FAILED && max_bounces > 0) {
		/* a recipient refused during the run: a hard bounce in the
		 * same score as those that come back (SPEC) */
		struct bounce_rec b = {.subscriber = subscriber, .kind = "bounce-hard", .source = "run",
				       .diagnostic = reply, .edition = edition};
		if (store_bounce_log(st, &b, now, err) < 0 || store_bounce_score(st, subscriber, 1.0, now, NULL, err) < 0)
			return -1;
		if (!st->mark_failed &&
		    sqlite3_prepare_v2(st->db,
				       "UPDATE subscribers SET bounces = bounces + 1,"
				       "  status = CASE WHEN bounces + 1 >= ?2 THEN 'bouncing' ELSE status END,"
				       "  status_at = CASE WHEN bounces + 1 >= ?2 THEN ?3 ELSE status_at END,"
				       "  confirm_due = CASE WHEN bounces + 1 >= ?2 THEN NULL ELSE confirm_due END"
				       " WHERE id = ?1",
				       -1, &st->mark_failed, NULL) != SQLITE_OK)
			return fail(st, err, "preparing the bounce count");
		s = st->mark_failed;
		sqlite3_bind_int(s, 2, max_bounces);
		sqlite3_bind_int64(s, 3, now);
	} else {
		return 0;
	}
	sqlite3_bind_int64(s, 1, subscriber);
	int rc = sqlite3_step(s);
	sqlite3_reset(s);
	if (rc != SQLITE_DONE)
		return fail(st, err, "updating a subscriber's bounces");
	return 0;
}

int store_delivery_counts(struct store *st, const char *edition, struct delivery_counts *c, char **err)
{
	static const char sql[] =
		"SELECT (SELECT count(*) FROM deliveries WHERE edition = ?1 AND state = 'sent'),"
		"  (SELECT count(*) FROM deliveries WHERE edition = ?1 AND state = 'failed'),"
		"  (SELECT count(*) FROM subscribers s WHERE s.status = 'active' AND NOT EXISTS"
		"    (SELECT 1 FROM deliveries d WHERE d.edition = ?1 AND d.subscriber_id = s.id"
		"     AND d.state IN ('sent', 'failed')))";
	memset(c, 0, sizeof *c);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the delivery count");
	sqlite3_bind_text(s, 1, edition, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		c->sent = sqlite3_column_int64(s, 0);
		c->failed = sqlite3_column_int64(s, 1);
		c->pending = sqlite3_column_int64(s, 2);
	} else {
		fail(st, err, "counting deliveries");
	}
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 0 : -1;
}

/* ---- what comes back ---- */

void store_bounce_policy(struct store *st, double threshold, int reset_days)
{
	st->bounce_threshold = threshold;
	st->bounce_reset_days = reset_days;
}

int store_subscriber_by_verp(struct store *st, const char *prefix, struct subscriber *out, char **err)
{
	if (strlen(prefix) != 16 || strspn(prefix, "0123456789abcdef") != 16)
		return 0;
	/* the full nonce whose first 16 hex digits PREFIX is, from the rows
	 * and the aliases of merged rows */
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT nonce FROM subscribers WHERE nonce >= ?1 AND nonce < ?1 || 'g'"
			       " UNION ALL SELECT nonce FROM subscriber_aliases WHERE nonce >= ?1 AND nonce < ?1 || 'g'"
			       " LIMIT 2",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the subscriber query");
	sqlite3_bind_text(s, 1, prefix, -1, SQLITE_TRANSIENT);
	char nonce[64] = "";
	int n = 0, rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		const unsigned char *v = sqlite3_column_text(s, 0);
		if (n++ == 0 && v)
			snprintf(nonce, sizeof nonce, "%s", (const char *)v);
	}
	if (rc != SQLITE_DONE) {
		fail(st, err, "reading a subscriber");
		sqlite3_finalize(s);
		return -1;
	}
	sqlite3_finalize(s);
	if (n != 1) /* none, or (against all odds) two: name nobody */
		return 0;
	return store_subscriber_by_nonce(st, nonce, out, err);
}

int store_inbound_seen(struct store *st, const char *key, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT 1 FROM inbound_seen WHERE key = ?1", -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the inbound query");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		fail(st, err, "reading what came back");
	sqlite3_finalize(s);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

int store_inbound_mark(struct store *st, const char *key, const char *kind, long long now, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "INSERT OR IGNORE INTO inbound_seen (key, kind, seen_at) VALUES (?1, ?2, ?3)",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the inbound note");
	sqlite3_bind_text(s, 1, key, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(s, 2, kind, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(s, 3, now);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail(st, err, "noting what came back");
}

int store_optin_drop(struct store *st, long long id, char **err)
{
	return update(st, "UPDATE subscribers SET confirm_due = NULL WHERE id = ?2 AND confirm_due IS NOT NULL",
		      "dropping a confirmation mail", err, NULL, id, 0, 0) < 0
		       ? -1
		       : 0;
}

int store_bounces_each(struct store *st, long long since, int (*cb)(void *ctx, const struct bounce_row *b),
		       void *ctx, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT at, coalesce(address, ''), kind, coalesce(status, ''), coalesce(diagnostic, ''),"
			       " source FROM bounces WHERE at >= ?1 ORDER BY at, id",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the bounce list");
	sqlite3_bind_int64(s, 1, since);
	int rc, r = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct bounce_row b = {
			.at = sqlite3_column_int64(s, 0),
			.address = (const char *)sqlite3_column_text(s, 1),
			.kind = (const char *)sqlite3_column_text(s, 2),
			.status = (const char *)sqlite3_column_text(s, 3),
			.diagnostic = (const char *)sqlite3_column_text(s, 4),
			.source = (const char *)sqlite3_column_text(s, 5),
		};
		if ((r = cb(ctx, &b)) != 0)
			break;
	}
	if (r == 0 && rc != SQLITE_DONE)
		r = fail(st, err, "reading the bounce list");
	sqlite3_finalize(s);
	return r;
}

int store_bounce_counts(struct store *st, long long since, long long counts[6], char **err)
{
	static const char *const kinds[6] = {"unknown", "bounce-hard", "bounce-soft", "complaint", "unsubscribe",
					     "auto-reply"};
	memset(counts, 0, 6 * sizeof *counts);
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, "SELECT kind, count(*) FROM bounces WHERE at >= ?1 GROUP BY kind", -1, &s,
			       NULL) != SQLITE_OK)
		return fail(st, err, "preparing the bounce counts");
	sqlite3_bind_int64(s, 1, since);
	int rc;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW)
		for (int i = 0; i < 6; i++)
			if (!strcmp(kinds[i], (const char *)sqlite3_column_text(s, 0)))
				counts[i] = sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail(st, err, "reading the bounce counts");
}

int store_bounce_log(struct store *st, const struct bounce_rec *b, long long now, char **err)
{
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "INSERT INTO bounces (at, subscriber_id, address, kind, source, status, diagnostic, edition)"
			       " VALUES (?1, ?2, coalesce(?3, (SELECT email FROM subscribers WHERE id = ?2)), ?4, ?5, ?6,"
			       " ?7, ?8)",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the bounce log");
	sqlite3_bind_int64(s, 1, now);
	if (b->subscriber > 0)
		sqlite3_bind_int64(s, 2, b->subscriber);
	else
		sqlite3_bind_null(s, 2);
	bind_text(s, 3, b->address && *b->address ? b->address : NULL);
	bind_text(s, 4, b->kind);
	bind_text(s, 5, b->source);
	bind_text(s, 6, b->status && *b->status ? b->status : NULL);
	bind_text(s, 7, b->diagnostic && *b->diagnostic ? b->diagnostic : NULL);
	bind_text(s, 8, b->edition && *b->edition ? b->edition : NULL);
	int rc = sqlite3_step(s);
	sqlite3_finalize(s);
	return rc == SQLITE_DONE ? 0 : fail(st, err, "writing the bounce log");
}

int store_bounce_score(struct store *st, long long id, double step, long long now, bool *became, char **err)
{
	if (became)
		*became = false;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db,
			       "SELECT bounce_score, bounce_day, bounce_at, status FROM subscribers WHERE id = ?1", -1,
			       &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the bounce score");
	sqlite3_bind_int64(s, 1, id);
	int rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(s);
		return rc == SQLITE_DONE ? 0 : fail(st, err, "reading the bounce score");
	}
	double score = sqlite3_column_double(s, 0);
	bool has_day = sqlite3_column_type(s, 1) != SQLITE_NULL;
	long long day = sqlite3_column_int64(s, 1), at = sqlite3_column_int64(s, 2);
	char status[32];
	snprintf(status, sizeof status, "%s", (const char *)sqlite3_column_text(s, 3));
	sqlite3_finalize(s);
	double threshold = st->bounce_threshold > 0 ? st->bounce_threshold : 3.0;
	int reset = st->bounce_reset_days > 0 ? st->bounce_reset_days : 14;
	long long today = now / 86400;
	if (has_day && now - at >= (long long)reset * 86400)
		score = 0; /* quiet long enough: a fresh start */
	if (!has_day || day != today || now - at >= (long long)reset * 86400)
		score += step; /* at most one step a day */
	bool to_bouncing = score >= threshold && !strcmp(status, "active");
	if (sqlite3_prepare_v2(st->db,
			       "UPDATE subscribers SET bounce_score = ?1, bounce_day = ?2, bounce_at = ?3,"
			       "  status = CASE WHEN ?4 THEN 'bouncing' ELSE status END,"
			       "  status_at = CASE WHEN ?4 THEN ?3 ELSE status_at END,"
			       "  confirm_due = CASE WHEN ?4 THEN NULL ELSE confirm_due END"
			       " WHERE id = ?5",
			       -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the bounce score");
	sqlite3_bind_double(s, 1, score);
	sqlite3_bind_int64(s, 2, today);
	sqlite3_bind_int64(s, 3, now);
	sqlite3_bind_int(s, 4, to_bouncing);
	sqlite3_bind_int64(s, 5, id);
	rc = sqlite3_step(s);
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE)
		return fail(st, err, "updating the bounce score");
	if (became)
		*became = to_bouncing;
	return 0;
}
