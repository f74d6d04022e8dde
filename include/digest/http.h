/* http: what `digest serve` reads from the web, parsed without the HTTP
 * library: form bodies, listen addresses, and the rate limits. */
#ifndef DIGEST_HTTP_H
#define DIGEST_HTTP_H
#include <stdbool.h>
#include <stddef.h>

/* A form's fields, decoded. */
struct form {
	char **name, **value;
	size_t n;
};

/*
 * form_parse: BODY (LEN bytes) as application/x-www-form-urlencoded:
 * "a=1&b=x+y&c=%D0%B0": '+' is a space, %XX a byte. Returns 0 and the
 * fields in *OUT (free with form_free), or -1 with *ERR a short reason
 * when BODY is malformed: a bad or truncated %-escape, a decoded NUL or
 * control character other than tab, CR and LF in a value, invalid UTF-8,
 * a field without a name, more than 64 fields.
 */
int form_parse(const char *body, size_t len, struct form *out, char **err);
void form_free(struct form *f);

/* form_get: the value of the first field NAME, or NULL. */
const char *form_get(const struct form *f, const char *name);

/* form_count: how many fields are called NAME. */
size_t form_count(const struct form *f, const char *name);

/*
 * listen_parse: "HOST:PORT", "[V6]:PORT" or ":PORT" (every address) into
 * HOST (malloc'd; NULL for every address) and PORT (0..65535; 0 picks a
 * free port). 0, or -1 with *ERR.
 */
int listen_parse(const char *s, char **host, int *port, char **err);

/*
 * A rate limiter: token buckets by key (a client's address, an email
 * address), in a table of fixed size so that memory is bounded whoever
 * asks: when the table is full, the bucket least recently touched is
 * reused, which can only make a limit more lenient to the forgotten key.
 * Not thread-safe: one per thread, or a lock around it.
 */
struct ratelimit;

/* ratelimit_new: at most BURST requests at once per key, refilled at one
 * every PER seconds; at most SLOTS keys remembered. */
struct ratelimit *ratelimit_new(double burst, double per, size_t slots);
void ratelimit_free(struct ratelimit *rl);

/* ratelimit_take: whether KEY may make one more request at time NOW
 * (seconds, monotonic); when not, *RETRY_AFTER says in how many seconds
 * (may be NULL). */
bool ratelimit_take(struct ratelimit *rl, const char *key, double now, double *retry_after);
#endif
