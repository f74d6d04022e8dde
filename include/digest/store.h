/* store: the SQLite database (WAL): articles, editions, and their schema. */
#ifndef DIGEST_STORE_H
#define DIGEST_STORE_H

#include <stddef.h>

#include "digest/article.h"

struct store;

/* The schema version this program writes (PRAGMA user_version). */
#define STORE_SCHEMA_VERSION 1

/*
 * store_open: open PATH, creating it (mode 0600, its directory 0700) and
 * migrating its schema forward as needed. Returns 0 and a handle to close
 * with store_close, or -1 with a one-line reason in *ERR (a database newer
 * than this program, a file that is no database, no permission).
 */
int store_open(const char *path, struct store **out, char **err);
void store_close(struct store *st);

/* store_begin / store_commit / store_rollback: one write transaction. */
int store_begin(struct store *st, char **err);
int store_commit(struct store *st, char **err);
void store_rollback(struct store *st);

/*
 * store_article_upsert: insert A by its URL, or update the stored article:
 * title, views, comments, rating, summary and image take A's values where
 * A has them; a known publication date is kept; last_seen is updated. On
 * success A->id is set.
 */
int store_article_upsert(struct store *st, struct article *a, char **err);

/*
 * store_candidates: the articles published (or, undated, first collected)
 * in [FROM, TO] that are in no edition dated before EDITION (YYYY-MM-DD),
 * unranked. *OUT is malloc'd; free with articles_free.
 */
int store_candidates(struct store *st, const char *edition, long long from, long long to,
		     struct article **out, size_t *n, char **err);

/* store_schema_version: the database's PRAGMA user_version, or -1. */
int store_schema_version(struct store *st);

#endif
