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

#include "digest/store.h"
#include "digest/util.h"

struct store {
	sqlite3 *db;
	sqlite3_stmt *upsert;
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
};

static int fail(struct store *st, char **err, const char *what)
{
	return errf(err, "%s: %s", what, st && st->db ? sqlite3_errmsg(st->db) : "no database");
}

static int exec(struct store *st, const char *sql, char **err)
{
	char *msg = NULL;
	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		errf(err, "database: %s", msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

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
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return errf(err, "cannot create %s: %s", path, strerror(errno));
	close(fd);
	return 0;
}

int store_open(const char *path, struct store **out, char **err)
{
	*out = NULL;
	if (create_private(path, err) < 0)
		return -1;
	struct store *st = xcalloc(1, sizeof *st);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		errf(err, "%s: %s", path, st->db ? sqlite3_errmsg(st->db) : "cannot open");
		goto fail;
	}
	sqlite3_busy_timeout(st->db, 10000);
	sqlite3_stmt *s = NULL;
	int ok = sqlite3_prepare_v2(st->db, "PRAGMA journal_mode = WAL", -1, &s, NULL) == SQLITE_OK &&
		 sqlite3_step(s) == SQLITE_ROW &&
		 !strcmp((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	if (!ok) {
		errf(err, "%s: cannot use it as a database (%s)", path, sqlite3_errmsg(st->db));
		goto fail;
	}
	if (exec(st, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;", err) < 0)
		goto fail;
	if (migrate(st, err) < 0) {
		char *m = xasprintf("%s: %s", path, *err);
		free(*err);
		*err = m;
		goto fail;
	}
	*out = st;
	return 0;
fail:
	store_close(st);
	return -1;
}

void store_close(struct store *st)
{
	if (!st)
		return;
	sqlite3_finalize(st->upsert);
	sqlite3_close(st->db);
	free(st);
}

int store_begin(struct store *st, char **err) { return exec(st, "BEGIN IMMEDIATE", err); }
int store_commit(struct store *st, char **err) { return exec(st, "COMMIT", err); }
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

int store_candidates(struct store *st, const char *edition, long long from, long long to,
		     struct article **out, size_t *n, char **err)
{
	static const char sql[] =
		"SELECT id, url, source, title, summary, image, published, views, comments, rating,"
		"  first_seen, last_seen FROM articles a"
		" WHERE coalesce(published, first_seen) BETWEEN ?1 AND ?2"
		"   AND NOT EXISTS (SELECT 1 FROM edition_articles e"
		"                   WHERE e.article_id = a.id AND e.edition < ?3)";
	*out = NULL;
	*n = 0;
	sqlite3_stmt *s;
	if (sqlite3_prepare_v2(st->db, sql, -1, &s, NULL) != SQLITE_OK)
		return fail(st, err, "preparing the candidates query");
	sqlite3_bind_int64(s, 1, from);
	sqlite3_bind_int64(s, 2, to);
	sqlite3_bind_text(s, 3, edition, -1, SQLITE_TRANSIENT);
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
	}
	if (rc != SQLITE_DONE)
		fail(st, err, "reading candidates"); /* before finalize resets the message */
	sqlite3_finalize(s);
	if (rc != SQLITE_DONE) {
		articles_free(v, *n);
		*out = NULL;
		*n = 0;
		return -1;
	}
	*out = v;
	return 0;
}
