/* fetch: many URLs at once over libcurl's multi interface, with limits. */
#ifndef DIGEST_FETCH_H
#define DIGEST_FETCH_H

#include <stdbool.h>
#include <stddef.h>

/* Where links found on pages may lead (fetch.private_addresses). */
enum private_mode {
	PRIVATE_AUTO,  /* within the local network only for a source served from it */
	PRIVATE_ALLOW, /* anywhere */
	PRIVATE_DENY,  /* never to loopback, private or link-local addresses */
};

/* digest.conf's fetch group: the fetcher's limits. */
struct fetch_config {
	int parallel;        /* transfers at once */
	int per_host;        /* connections per host */
	int timeout;         /* seconds for a whole transfer */
	int connect_timeout; /* seconds */
	int deadline;        /* seconds for the whole run; 0: none */
	long long max_body;  /* bytes; a larger body is an error */
	char *user_agent;
	bool tls_verify;
	enum private_mode private_addresses; /* read by collect.c, which queues the links */
};

/* What a finished transfer gives its callback; valid during the call only. */
struct fetch_result {
	const char *url;          /* as requested */
	const char *final_url;    /* after redirects */
	long status;              /* HTTP status; 0 for file: URLs */
	const char *content_type; /* may be NULL */
	const char *primary_ip;   /* the address last connected to, or NULL (file:) */
	const char *body;         /* NUL-terminated after LEN bytes */
	size_t len;
	const char *error; /* NULL on success (a 2xx or a file read), else one line */
};

struct fetcher;
typedef void (*fetch_cb)(struct fetcher *f, const struct fetch_result *r, void *arg);

/* fetch_global_init / cleanup: once per process, around all other calls. */
int fetch_global_init(void);
void fetch_global_cleanup(void);

/* fetcher_new: a fetcher with the limits of C (copied; its strings must
 * outlive the fetcher), showing "fetching N/M" on stderr when PROGRESS. */
struct fetcher *fetcher_new(const struct fetch_config *c, bool progress);

/* Flags of fetcher_add. */
enum {
	/* the URL came from a page: it may not connect (nor redirect) to a
	 * loopback, private, link-local or multicast address */
	FETCH_PUBLIC_ONLY = 1,
};

/* fetcher_add: queue URL; CB(ARG) is called exactly once: when it has
 * finished or failed, or with the error "cancelled" from fetcher_free.
 * Callbacks may add more URLs. */
void fetcher_add(struct fetcher *f, const char *url, int flags, fetch_cb cb, void *arg);

/* fetch_ip_is_private: 1 when the numeric address IP (IPv4 or IPv6) is
 * loopback, private (RFC 1918, RFC 4193, shared 100.64/10), link-local,
 * unspecified or multicast; 0 when public; -1 when IP is not an address. */
int fetch_ip_is_private(const char *ip);

/* fetcher_run: run until every queued transfer, including those added by
 * callbacks, has finished, or the deadline has passed (then those not
 * finished are cancelled, their callbacks told so). Returns 0, or -1 when
 * libcurl itself fails. */
int fetcher_run(struct fetcher *f);

/* fetcher_free: frees F; NULL is fine. Transfers still queued or running
 * are cancelled: their callbacks get the error "cancelled". */
void fetcher_free(struct fetcher *f);

#endif
