/* util: allocation that dies on out-of-memory, strings and small buffers. */
#ifndef DIGEST_UTIL_H
#define DIGEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <stdio.h>
#include <stdarg.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* x*: as their libc twins, but print one line and exit 70 on out-of-memory. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* xasprintf: a malloc'd formatted string. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* errf: replace *ERR (freeing the old one) with a formatted message; ERR may
 * be NULL. Returns -1 so that callers can `return errf(err, ...)`. */
int errf(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A growable byte buffer, always NUL-terminated after its LEN bytes. */
struct buf {
	char *data;
	size_t len, cap;
};
void buf_add(struct buf *b, const void *p, size_t n);
void buf_adds(struct buf *b, const char *s);
void buf_addf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_free(struct buf *b);
/* buf_room: N bytes added to B's end for the caller to fill (their content
 * is unspecified); returns their offset in B->data. */
size_t buf_room(struct buf *b, size_t n);

/* str_collapse_ws: in place, every run of whitespace (ASCII and Unicode
 * spaces such as NBSP) becomes one ASCII space; leading and trailing
 * whitespace is removed; other control characters (C0, DEL, C1) and
 * bidirectional overrides are dropped, so that text from a page cannot
 * drive a terminal or reorder what is shown around it. Returns S. */
char *str_collapse_ws(char *s);

/* utf8_decode: the code point at S (NUL-terminated) and its length in
 * *LEN. A malformed sequence (overlong, a surrogate, above U+10FFFF, cut
 * short) decodes as U+FFFD one byte long, so garbage neither stalls a scan
 * nor, since a NUL is never a continuation byte, lets it run past the end. */
unsigned long utf8_decode(const unsigned char *s, size_t *len);
/* mono_now: seconds on the monotonic clock. */
double mono_now(void);
/* mono_timespec: the monotonic time AT (as mono_now gives it) as a
 * timespec, for pthread_cond_timedwait on a CLOCK_MONOTONIC condition;
 * a time past is now. */
struct timespec mono_timespec(double at);
/* hex_value: the value of the hex digit C, or -1. */
int hex_value(int c);
/* utf8_width: display columns of the UTF-8 string S (one per character;
 * combining marks zero; invalid bytes one each). */
size_t utf8_width(const char *s);

/* path_resolve: PATH if absolute, else DIR/PATH; malloc'd. */
char *path_resolve(const char *dir, const char *path);
/* path_dir: the directory part of PATH ("." when none); malloc'd. */
char *path_dir(const char *path);
/* fsync_dir: the directory PATH synced, so that the names made or moved
 * in it last. 0 or -1 (errno). */
int fsync_dir(const char *path);
/* mkdir_p: create directory PATH and its parents with MODE. 0 or -1 (errno). */
int mkdir_p(const char *path, int mode);

/* An output file named by the user (-o): written beside PATH and renamed
 * over it when complete, so that nobody sees half of it and a failure
 * leaves what was there; a PATH that exists and is not a regular file (a
 * device, a FIFO: /dev/stdout, /dev/full) is written in place, never
 * replaced. NULL PATH: standard output. */
struct outfile {
	FILE *f;
	char *path, *tmp; /* TMP NULL: written in place */
};
/* outfile_open: 0, or -1 with *ERR "PATH: why" (it cannot be created). */
int outfile_open(struct outfile *o, const char *path, char **err);
/* outfile_close: flushed, closed and renamed into place when KEEP and
 * all went well; else the temporary file is removed. 0, or -1 with *ERR
 * "PATH: why" (an output error). */
int outfile_close(struct outfile *o, bool keep, char **err);

/* secret_file_line: the first line of the file PATH (a password),
 * without its line end, in *OUT (malloc'd; wipe it after use); what was
 * read on the way is wiped. 0, or -1 with *ERR "KEY: PATH: why". */
int secret_file_line(const char *path, const char *key, char **out, char **err);

/* random_bytes: N bytes from the kernel's CSPRNG (getrandom); dies when
 * none can be had. */
void random_bytes(void *p, size_t n);

/* fmt_time_local: "YYYY-MM-DD HH:MM" of T in the process's time zone. */
void fmt_time_local(long long t, char out[17]);

#endif
