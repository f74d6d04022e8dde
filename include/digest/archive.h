/* archive: the public archive of sent editions (SPEC "Archive"): the
 * index, one page per edition, the Atom feed; built once per edition and
 * kept, for `digest serve`, and written as static files by
 * `digest archive -o DIR`. */
#ifndef DIGEST_ARCHIVE_H
#define DIGEST_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

#include "digest/article.h"
#include "digest/config.h"
#include "digest/store.h"
#include "digest/util.h"

/* Editions on one index page, and entries in the feed. */
#define ARCHIVE_PER_PAGE 30
#define ARCHIVE_FEED_ENTRIES 30
/* The highest index page a request may name (?page=N). */
#define ARCHIVE_PAGE_MAX 100000
/* Pages kept in memory at most; past that the cache starts over. */
#define ARCHIVE_CACHE_MAX 512

struct archive;

/*
 * archive_load: the templates the archive is built from (edition.html,
 * archive.html, from the templates directory or built in) and the
 * digest's values (render_load without the key). 0, or -1 with *ERR
 * naming file, line and column. Free with archive_free (NULL is fine).
 * An archive is used by one thread at a time.
 */
int archive_load(const struct config *cfg, struct archive **out, char **err);
void archive_free(struct archive *ar);

/* ---- parsers of what a URL says ---- */

/* archive_date_parse: S (LEN bytes, not NUL-terminated) is exactly
 * "YYYY-MM-DD", a real calendar date from 1970 to 9999: copied into OUT,
 * 0; else -1 (OUT untouched). */
int archive_date_parse(const char *s, size_t len, char out[11]);

/* archive_page_parse: S (NULL: absent) as an index page number: "1" ..
 * ARCHIVE_PAGE_MAX in decimal, no sign, space or leading zero. The page,
 * 1 for NULL, or -1. */
int archive_page_parse(const char *s);

/* ---- documents ---- */

enum archive_what { ARCHIVE_INDEX, ARCHIVE_EDITION, ARCHIVE_FEED };

/* A built document; owned by the archive, valid until its next call. */
struct archive_doc {
	const char *type;          /* Content-Type */
	const char *cache_control; /* for shared caches: these pages are public */
	char *body;
	size_t len;
	char etag[24];      /* "\"<16 hex digits>\"": a hash of the body */
	char modified[64];  /* Last-Modified, an HTTP date */
	long long mtime;    /* the same, as Unix time */
};

/*
 * archive_get: the document WHAT (an index PAGE, the edition DATE, or the
 * feed) with its links under ROOT ("" or "/digest": the path the request
 * came under; the feed's links are always under newsletter.base_url).
 * Returns 1 and *OUT; 0 when there is no such page (DATE not a sent
 * edition, PAGE past the last); -1 with *ERR. An edition's page is built
 * once and kept (it never changes once sent); the index and the feed are
 * built again when a new edition has been sent.
 */
int archive_get(struct archive *ar, struct store *st, const char *root, enum archive_what what, const char *date,
		int page, const struct archive_doc **out, char **err);

/*
 * archive_not_modified: whether a conditional GET with these headers
 * (NULL: absent) may be answered 304 for D: If-None-Match, when present,
 * decides (a list of entity tags, weak or strong, or "*"); else
 * If-Modified-Since, an IMF-fixdate no earlier than D's time. Anything
 * malformed counts as absent.
 */
bool archive_not_modified(const struct archive_doc *d, const char *if_none_match, const char *if_modified_since);

/* archive_http_date_parse: an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37
 * GMT") as Unix time, or -1. */
long long archive_http_date_parse(const char *s);

/* ---- the static copy ---- */

struct archive_export_stats {
	long long editions, pages, written, unchanged;
};

/*
 * archive_export: write every document into DIR (created as needed):
 * DIR/index.html, DIR/page/N/index.html (N >= 2), DIR/YYYY-MM-DD/index.html
 * and DIR/archive.atom, links under newsletter.base_url. A file is only
 * written when its content changed, each to a temporary file then renamed
 * over the old one: a reader of DIR never sees half a file. 0, or -1 with
 * *ERR naming the file.
 */
int archive_export(struct archive *ar, struct store *st, const char *dir, struct archive_export_stats *stats,
		   char **err);

#endif
