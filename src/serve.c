/* serve: `digest serve`, the web endpoint on libmicrohttpd: the subscribe
 * form, double opt-in, one-click unsubscribe (RFC 8058), and the preview. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "digest/address.h"
#include "digest/archive.h"
#include "digest/consent.h"
#include "digest/http.h"
#include "digest/job.h"
#include "digest/log.h"
#include "digest/optin.h"
#include "digest/page.h"
#include "digest/render.h"
#include "digest/serve.h"
#include "digest/store.h"
#include "digest/subscriber.h"
#include "digest/subscription.h"
#include "digest/token.h"

/* Subscribe requests: per client, a burst of 10 then one a minute; per
 * address, 3 then one every 20 minutes. Bad links: per client, 30 then
 * one every 10 s. Each table remembers at most 4096 keys. */
#define CLIENT_BURST 10
#define CLIENT_EVERY 60.0
#define ADDRESS_BURST 3
#define ADDRESS_EVERY 1200.0
#define BADLINK_BURST 30
#define BADLINK_EVERY 10.0
#define LIMIT_SLOTS 4096
/* Subscribe requests that may send a mail, in all: 200, then one a second
 * (3 600 an hour), so that the form is nobody's mail cannon. */
#define ALL_BURST 200
#define ALL_EVERY 1.0
/* The preview is built at most this often (seconds). */
#define PREVIEW_TTL 60
/* The sender looks for owed mail at least this often (seconds). */
#define SENDER_PERIOD 30
/* How long a stop waits for a confirmation mail being sent (seconds). */
#define STOP_WAIT_MS 1500
/* How long a stop waits for connections to finish, in 50 ms steps. */
#define DRAIN_STEPS 20

static const char csp_page[] = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
			       "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/* The archive: the edition's images, and its subscribe form to this server. */
static const char csp_archive[] = "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
				  "form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
static const char csp_preview[] = "default-src 'none'; style-src 'unsafe-inline'; img-src https: http: data:; "
				  "form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

struct server {
	const struct config *cfg;
	struct store *st; /* the HTTP thread's connection */
	struct pages *pages;
	struct archive *archive; /* the HTTP thread's alone, as st */
	unsigned char key[TOKEN_KEY_LEN];
	char *prefix; /* the path of newsletter.base_url without a trailing "/": "" or "/digest" */
	struct ratelimit *per_client, *per_address, *bad_links;
	struct ratelimit *all_mail; /* confirmation mails in all */
	char wording[CONSENT_WORDING_LEN + 1]; /* the version of what a reader joining is shown */

	struct render *preview_r;
	time_t preview_at;
	struct buf preview_html, preview_text;

	/* the confirmation sender: its own store connection and renderer */
	pthread_t sender;
	bool sender_started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool wake, stop;
	struct store *sender_st;
	struct render *sender_r;
	struct optin_stats os;
};

/* One request's state across the handler's calls. */
struct request {
	struct buf body;
	size_t seen; /* body bytes received */
	bool too_big, answered;
};

/* ---- answers ---- */

/* The headers every answer has. */
static void secure(struct MHD_Response *r, const char *csp)
{
	MHD_add_response_header(r, "Content-Security-Policy", csp);
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

static enum MHD_Result reply(struct MHD_Connection *c, int status, const char *type, const char *body,
			     size_t len, const char *csp, const char *allow, double retry_after)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	secure(r, csp);
	/* Pages name a subscriber: never kept by a shared cache. */
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (allow)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, allow);
	if (retry_after > 0) {
		char v[32];
		snprintf(v, sizeof v, "%.0f", retry_after < 1 ? 1 : retry_after + 0.5);
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, v);
	}
	enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return ok;
}

static enum MHD_Result page(struct server *sv, struct MHD_Connection *c, enum page_kind kind,
			    const struct page_args *a, const char *allow, double retry_after)
{
	struct buf b = {0};
	page_render(sv->pages, kind, a, &b);
	enum MHD_Result ok = reply(c, page_status(kind), "text/html; charset=utf-8", b.data ? b.data : "", b.len,
				   csp_page, allow, retry_after);
	buf_free(&b);
	return ok;
}

/* ---- who asks ---- */

/* The address of SA as text: IPv4 (an IPv4-mapped IPv6 address too) in
 * dotted quads, IPv6 as inet_ntop writes it; "?" for another family. */
static void addr_text(const struct sockaddr *sa, char *out, size_t n)
{
	snprintf(out, n, "?");
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out, (socklen_t)n);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)sa;
		const unsigned char *b = s6->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			snprintf(out, n, "%u.%u.%u.%u", b[12], b[13], b[14], b[15]);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, out, (socklen_t)n);
	}
}

static bool is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)(const void *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family != AF_INET6)
		return false;
	const struct in6_addr *a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
}

/* The value of the last X-Forwarded-For header line. */
static enum MHD_Result last_xff(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	if (key && value && !strcasecmp(key, "X-Forwarded-For"))
		*(const char **)cls = value;
	return MHD_YES;
}

/* Who asks: the peer's address, or with http.behind_proxy and a peer on
 * loopback (the proxy), the last address of the last X-Forwarded-For
 * line, when it is one. What the logs and the consent trail name. */
static void client_ip(const struct server *sv, struct MHD_Connection *c, char *out, size_t n)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	snprintf(out, n, "?");
	if (!ci || !ci->client_addr)
		return;
	addr_text(ci->client_addr, out, n);
	if (!sv->cfg->http.behind_proxy || !is_loopback(ci->client_addr))
		return;
	/* Our proxy appends the address it saw, to the last header line:
	 * that one is no client's to forge. */
	const char *xff = NULL;
	MHD_get_connection_values(c, MHD_HEADER_KIND, last_xff, &xff);
	if (!xff)
		return;
	const char *last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	char ip[INET6_ADDRSTRLEN + 1];
	snprintf(ip, sizeof ip, "%.*s", (int)strcspn(last, " \t"), last);
	struct sockaddr_in s4 = {.sin_family = AF_INET};
	struct sockaddr_in6 s6 = {.sin6_family = AF_INET6};
	if (inet_pton(AF_INET, ip, &s4.sin_addr) == 1)
		addr_text((const struct sockaddr *)&s4, out, n);
	else if (inet_pton(AF_INET6, ip, &s6.sin6_addr) == 1)
		addr_text((const struct sockaddr *)&s6, out, n);
}

/* The client as a rate-limit key: IPv4 as it is, IPv6 by its /64, which
 * one household or server usually holds whole. */
static void client_key(const struct server *sv, struct MHD_Connection *c, char *out, size_t n)
{
	char ip[INET6_ADDRSTRLEN + 1];
	client_ip(sv, c, ip, sizeof ip);
	struct in6_addr a6;
	if (!strchr(ip, ':') || inet_pton(AF_INET6, ip, &a6) != 1) {
		snprintf(out, n, "%s", ip);
		return;
	}
	const unsigned char *b = a6.s6_addr;
	snprintf(out, n, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", b[0], b[1], b[2], b[3], b[4], b[5], b[6],
		 b[7]);
}

/* Whether the request's body is a URL-encoded form. */
static bool is_urlencoded(struct MHD_Connection *c)
{
	const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	static const char want[] = "application/x-www-form-urlencoded";
	if (!ct)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return !strncasecmp(ct, want, sizeof want - 1) && strchr("; \t", ct[sizeof want - 1]);
}

/* ---- the confirmation sender ---- */

static void wake_sender(struct server *sv)
{
	pthread_mutex_lock(&sv->mu);
	sv->wake = true;
	pthread_cond_signal(&sv->cv);
	pthread_mutex_unlock(&sv->mu);
}

static void *sender_main(void *arg)
{
	struct server *sv = arg;
	pthread_mutex_lock(&sv->mu);
	while (!__atomic_load_n(&sv->stop, __ATOMIC_SEQ_CST)) {
		if (!sv->wake) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += SENDER_PERIOD;
			pthread_cond_timedwait(&sv->cv, &sv->mu, &until);
			if (__atomic_load_n(&sv->stop, __ATOMIC_SEQ_CST))
				break;
		}
		sv->wake = false;
		pthread_mutex_unlock(&sv->mu);
		char *err = NULL;
		if (optin_send_due(sv->cfg, sv->sender_st, sv->sender_r, time(NULL), &sv->os, &sv->stop, &err) < 0) {
			log_error("serve: confirmation mails: %s", err);
			free(err);
		}
		pthread_mutex_lock(&sv->mu);
	}
	pthread_mutex_unlock(&sv->mu);
	return NULL;
}

/* ---- the routes ---- */

/*
 * What serve logs, one line per action, at the default level, each with
 * the time (log_set_server) and the client (client_ip); an address only
 * masked (log_mask_address), a token never:
 *
 *   subscribe request from CLIENT: j***@example.org: OUTCOME
 *   confirmation sent to j***@example.org            (optin.c, the sender)
 *   confirmed from CLIENT: j***@example.org
 *   unsubscribed from CLIENT: j***@example.org
 *   one-click unsubscribe from CLIENT: j***@example.org
 *   rejected PURPOSE token (malformed|forged|expired) from CLIENT
 *   refused subscribe request from CLIENT: too many from this client | too many for j***@...
 *   refused PURPOSE token from CLIENT: too many bad links
 *   invalid subscribe request from CLIENT: REASON
 *   invalid PURPOSE request from CLIENT: REASON
 *
 * (PURPOSE: confirm or unsubscribe.) A confirm or unsubscribe link that
 * finds nothing to do says so: "confirm from CLIENT: ...: active already".
 */

/* What a subscribe request came to, for its log line. */
static const char *request_outcome(enum sub_outcome o)
{
	switch (o) {
	case SUB_ADDED: return "new, confirmation owed";
	case SUB_OWED: return "pending, confirmation owed again";
	case SUB_RETURNED: return "back, confirmation owed";
	case SUB_WAIT: return "pending, confirmation sent lately";
	default: return "active already";
	}
}

static enum MHD_Result do_subscribe(struct server *sv, struct MHD_Connection *c, struct request *rq,
				    const char *root)
{
	struct page_args a = {.root = root};
	char ip[INET6_ADDRSTRLEN + 1];
	client_ip(sv, c, ip, sizeof ip);
	if (!is_urlencoded(c)) {
		log_event("serve: invalid subscribe request from %s: not a form (application/x-www-form-urlencoded)",
			  ip);
		return page(sv, c, PAGE_BAD_TYPE, &a, NULL, 0);
	}
	char who[64];
	client_key(sv, c, who, sizeof who);
	double retry = 0;
	if (!ratelimit_take(sv->per_client, who, mono_now(), &retry)) {
		log_event("serve: refused subscribe request from %s: too many from this client", ip);
		return page(sv, c, PAGE_TOO_MANY, &a, NULL, retry);
	}
	struct form f;
	char *why = NULL;
	if (form_parse(rq->body.data ? rq->body.data : "", rq->body.len, &f, &why) < 0) {
		log_event("serve: invalid subscribe request from %s: %s", ip, why);
		free(why);
		return page(sv, c, PAGE_BAD_REQUEST, &a, NULL, 0);
	}
	const char *email = form_get(&f, "email"), *name = form_get(&f, "name");
	enum MHD_Result ok;
	if (!email || form_count(&f, "email") > 1 || form_count(&f, "name") > 1) {
		log_event("serve: invalid subscribe request from %s: %s", ip,
			  !email ? "no email field" : "a field given twice");
		ok = page(sv, c, PAGE_BAD_REQUEST, &a, NULL, 0);
		form_free(&f);
		return ok;
	}
	/* the mailbox's identity (SPEC "Addresses"), which the per-address
	 * limit counts too: "Bob@x", "bob@x" and "\"bob\"@x" are one */
	char *key = NULL;
	char *addr = address_accept(email, &key, &why);
	char *clean = name ? name_clean(name) : NULL;
	char masked[LOG_MASK_MAX];
	log_mask_address(addr ? addr : email, masked, sizeof masked);
	if (!addr) {
		/* the reason never quotes the address */
		log_event("serve: invalid subscribe request from %s: %s: %s", ip, masked, why ? why : "invalid address");
		/* The form comes back with what was typed, the reason in English
		 * pages only: the checker's words are English. */
		a.email = strlen(email) <= ADDRESS_MAX ? email : NULL;
		a.name = clean;
		a.detail = sv->cfg->newsletter.locale != LOCALE_RU ? why : NULL;
		ok = page(sv, c, PAGE_BAD_ADDRESS, &a, NULL, 0);
	} else if (!ratelimit_take(sv->per_address, key, mono_now(), &retry) ||
		   !ratelimit_take(sv->all_mail, "*", mono_now(), &retry)) {
		log_event("serve: refused subscribe request from %s: too many for %s", ip, masked);
		ok = page(sv, c, PAGE_TOO_MANY, &a, NULL, retry);
	} else {
		char *err = NULL;
		struct consent_rec proof = {.event = "request", .client = ip, .wording = sv->wording};
		struct sub_args ev = {.ev = SUB_EV_REQUEST, .email = addr, .name = clean, .now = (long long)time(NULL),
				      .resend = OPTIN_RESEND_SECONDS, .consent = &proof};
		struct sub_result res;
		if (subscription_event(sv->st, &ev, &res, &err) < 0) {
			log_error("serve: subscribe request from %s: %s: %s", ip, masked, err);
			free(err);
			ok = page(sv, c, PAGE_FAILED, &a, NULL, 0);
		} else {
			log_event("serve: subscribe request from %s: %s: %s", ip, masked, request_outcome(res.outcome));
			/* Woken whatever the outcome: the answer takes the same path. */
			wake_sender(sv);
			/* The same answer whatever the address was: the page tells
			 * nobody who is subscribed. */
			ok = page(sv, c, PAGE_CHECK_INBOX, &a, NULL, 0);
		}
	}
	free(why);
	free(addr);
	free(key);
	free(clean);
	form_free(&f);
	return ok;
}

/* The confirm and unsubscribe links: GET shows a button, POST acts. */
static enum MHD_Result do_token(struct server *sv, struct MHD_Connection *c, struct request *rq, const char *root,
				bool confirm, bool post)
{
	struct page_args a = {.root = root};
	const char *purpose = confirm ? "confirm" : "unsubscribe";
	char ip[INET6_ADDRSTRLEN + 1];
	client_ip(sv, c, ip, sizeof ip);
	struct form f = {0};
	const char *token = NULL;
	if (post && is_urlencoded(c)) {
		char *why = NULL;
		if (form_parse(rq->body.data ? rq->body.data : "", rq->body.len, &f, &why) < 0) {
			log_event("serve: invalid %s request from %s: %s", purpose, ip, why);
			free(why);
			return page(sv, c, PAGE_BAD_REQUEST, &a, NULL, 0);
		}
		token = form_get(&f, "t");
	}
	/* RFC 8058's one-click POST carries the token in the URL, its body
	 * ("List-Unsubscribe=One-Click") in whatever form the sender chose;
	 * the page's button sends it in the form. */
	bool one_click = false;
	if (!token) {
		token = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "t");
		one_click = post && !confirm;
	}
	char who[64];
	client_key(sv, c, who, sizeof who);
	double retry = 0;
	char nonce[33];
	enum page_kind kind;
	struct subscriber sub = {0};
	char *err = NULL;
	int found = 0;
	if (!token || token_nonce(token, nonce) < 0) {
		kind = PAGE_BAD_LINK;
	} else if ((found = store_subscriber_by_nonce(sv->st, nonce, &sub, &err)) < 0) {
		log_error("serve: %s from %s: %s", purpose, ip, err);
		kind = PAGE_FAILED;
	} else if (!found || !token_check(sv->key, purpose, sub.email, token)) {
		kind = PAGE_FORGED_LINK;
	} else {
		kind = PAGE_COUNT; /* a good link */
	}
	if (kind == PAGE_BAD_LINK || kind == PAGE_FORGED_LINK) {
		/* Guessing links is hopeless (128-bit MACs), but costs a query
		 * each: a client that keeps trying is slowed down. */
		log_event("serve: rejected %s token (%s) from %s", purpose, kind == PAGE_BAD_LINK ? "malformed" : "forged",
			  ip);
		if (!ratelimit_take(sv->bad_links, who, mono_now(), &retry)) {
			log_event("serve: refused %s token from %s: too many bad links", purpose, ip);
			kind = PAGE_TOO_MANY;
		}
	}
	if (kind != PAGE_COUNT) {
		subscriber_clear(&sub);
		form_free(&f);
		free(err);
		return page(sv, c, kind, &a, NULL, retry);
	}
	char masked[LOG_MASK_MAX];
	log_mask_address(sub.email, masked, sizeof masked);
	a.email = sub.email;
	a.token = token;
	long long now = (long long)time(NULL);
	if (confirm && sub.status == SUB_ACTIVE) {
		kind = PAGE_ALREADY_ACTIVE;
		if (post)
			log_event("serve: confirm from %s: %s: active already", ip, masked);
	} else if (confirm) {
		/* Pending, or back after leaving with a confirmation sent since;
		 * else a link from before they left: it never brings anyone back. */
		struct consent_rec proof = {.event = "confirm", .client = ip, .wording = sv->wording};
		struct sub_args ev = {.ev = SUB_EV_CONFIRM, .id = sub.id, .now = now, .consent = &proof};
		struct sub_result res = {0};
		int rc = post ? subscription_event(sv->st, &ev, &res, &err) : subscription_peek(sv->st, &ev, &res, &err);
		bool may = res.outcome == SUB_UPDATED;
		if (rc < 0) {
			log_error("serve: confirm from %s: %s: %s", ip, masked, err);
			kind = PAGE_FAILED;
		} else if (!may) {
			log_event("serve: rejected confirm token (expired) from %s: %s", ip, masked);
			kind = PAGE_LINK_EXPIRED;
		} else {
			kind = post ? PAGE_CONFIRMED : PAGE_CONFIRM;
			if (post)
				log_event("serve: confirmed from %s: %s", ip, masked);
		}
	} else if (sub.status == SUB_UNSUBSCRIBED || !post) {
		kind = sub.status == SUB_UNSUBSCRIBED ? PAGE_UNSUBSCRIBED : PAGE_UNSUBSCRIBE;
		if (post)
			log_event("serve: %s from %s: %s: unsubscribed already", one_click ? "one-click unsubscribe"
											      : "unsubscribe",
				  ip, masked);
	} else {
		kind = PAGE_UNSUBSCRIBED;
		struct consent_rec proof = {.event = one_click ? "one-click" : "unsubscribe", .client = ip};
		struct sub_args ev = {.ev = SUB_EV_UNSUBSCRIBE, .id = sub.id, .now = now, .consent = &proof};
		struct sub_result res;
		if (subscription_event(sv->st, &ev, &res, &err) < 0) {
			log_error("serve: unsubscribe from %s: %s: %s", ip, masked, err);
			kind = PAGE_FAILED;
		} else if (one_click) {
			log_event("serve: one-click unsubscribe from %s: %s", ip, masked);
		} else {
			log_event("serve: unsubscribed from %s: %s", ip, masked);
		}
	}
	enum MHD_Result ok = page(sv, c, kind, &a, NULL, 0);
	subscriber_clear(&sub);
	form_free(&f);
	free(err);
	return ok;
}

/* Today's edition for a sample reader, as stored (never fetched from
 * here: a page view must not set off a crawl), built at most once a
 * minute. */
static enum MHD_Result do_preview(struct server *sv, struct MHD_Connection *c, bool html)
{
	time_t now = time(NULL);
	if (!sv->preview_at || now - sv->preview_at >= PREVIEW_TTL || now < sv->preview_at) {
		struct job_edition e = {0};
		char *err = NULL;
		const struct job_want w = {.now = now}; /* what is stored: no fetch, no freeze */
		int rc = job_edition(sv->cfg, sv->st, &w, &e, &err);
		if (rc == 0)
			rc = render_edition(sv->preview_r, e.date, e.a, e.n, now, &err);
		if (rc < 0) {
			log_error("serve: preview: %s", err ? err : "cannot build the edition");
			free(err);
			job_edition_clear(&e);
			return page(sv, c, PAGE_FAILED, NULL, NULL, 0);
		}
		struct reader rd;
		render_sample_reader(sv->preview_r, NULL, &rd);
		sv->preview_html.len = sv->preview_text.len = 0;
		render_body(sv->preview_r, 1, &rd, &sv->preview_html);
		render_body(sv->preview_r, 0, &rd, &sv->preview_text);
		sv->preview_at = now;
		job_edition_clear(&e);
	}
	const struct buf *b = html ? &sv->preview_html : &sv->preview_text;
	return reply(c, 200, html ? "text/html; charset=utf-8" : "text/plain; charset=utf-8", b->data ? b->data : "",
		     b->len, csp_preview, NULL, 0);
}

/* An archive document (archive.h): 200, or 304 to a conditional GET that
 * has it already; public and cacheable, since nothing in it is personal.
 * The body is copied: the cache may drop it before it is all sent. */
static enum MHD_Result do_archive(struct server *sv, struct MHD_Connection *c, const char *root,
				  enum archive_what what, const char *date, int pg)
{
	const struct archive_doc *d = NULL;
	char *err = NULL;
	int rc = archive_get(sv->archive, sv->st, root, what, date, pg, &d, &err);
	struct page_args a = {.root = root};
	if (rc < 0) {
		log_error("serve: archive: %s", err);
		free(err);
		return page(sv, c, PAGE_FAILED, &a, NULL, 0);
	}
	if (rc == 0)
		return page(sv, c, PAGE_NOT_FOUND, &a, NULL, 0);
	bool same = archive_not_modified(d, MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-None-Match"),
					 MHD_lookup_connection_value(c, MHD_HEADER_KIND, "If-Modified-Since"));
	struct MHD_Response *r = same ? MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT)
				      : MHD_create_response_from_buffer(d->len, d->body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	/* libmicrohttpd 0.9.75 gives a 304 "Content-Length: 0" of its own,
	 * and a second one when we set it: clients ignore it on a 304. */
	if (!same)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, d->type);
	secure(r, csp_archive);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, d->cache_control);
	MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, d->etag);
	MHD_add_response_header(r, MHD_HTTP_HEADER_LAST_MODIFIED, d->modified);
	enum MHD_Result ok = MHD_queue_response(c, same ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ok;
}

/* The archive's paths (PATH starts with "/archive"): the index (and its
 * pages, as ?page=N and as /archive/page/N, the static copy's shape), an
 * edition by its date, the feed. A trailing "/" is the same page. */
static enum MHD_Result route_archive(struct server *sv, struct MHD_Connection *c, const char *path,
				     const char *root, bool get)
{
	struct page_args a = {.root = root};
	if (!get)
		return page(sv, c, PAGE_BAD_METHOD, &a, "GET, HEAD", 0);
	if (!strcmp(path, "/archive.atom"))
		return do_archive(sv, c, root, ARCHIVE_FEED, NULL, 0);
	const char *rest = path + strlen("/archive");
	size_t n = strlen(rest);
	if (n && rest[n - 1] == '/')
		n--; /* "/archive/" and "/archive/2026-11-23/" */
	if (n == 0) {
		int pg = archive_page_parse(MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "page"));
		if (pg < 0)
			return page(sv, c, PAGE_BAD_REQUEST, &a, NULL, 0);
		return do_archive(sv, c, root, ARCHIVE_INDEX, NULL, pg);
	}
	if (rest[0] != '/')
		return page(sv, c, PAGE_NOT_FOUND, &a, NULL, 0); /* "/archived" */
	rest++, n--;
	if (n > 5 && !strncmp(rest, "page/", 5)) {
		char num[8];
		int pg = n - 5 < sizeof num ? (snprintf(num, sizeof num, "%.*s", (int)(n - 5), rest + 5),
					       archive_page_parse(num))
					    : -1;
		if (pg < 0)
			return page(sv, c, PAGE_BAD_REQUEST, &a, NULL, 0);
		return do_archive(sv, c, root, ARCHIVE_INDEX, NULL, pg);
	}
	char date[11];
	if (memchr(rest, '/', n) || archive_date_parse(rest, n, date) < 0)
		return page(sv, c, PAGE_BAD_REQUEST, &a, NULL, 0);
	return do_archive(sv, c, root, ARCHIVE_EDITION, date, 0);
}

static enum MHD_Result route(struct server *sv, struct MHD_Connection *c, const char *url, const char *method,
			     struct request *rq)
{
	/* Answered bare and under base_url's path alike. */
	const char *root = "", *path = url;
	size_t pl = strlen(sv->prefix);
	if (pl && !strncmp(url, sv->prefix, pl) && (url[pl] == '/' || url[pl] == '\0')) {
		root = sv->prefix;
		path = url[pl] ? url + pl : "/";
	}
	bool get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	bool post = !strcmp(method, MHD_HTTP_METHOD_POST);
	struct page_args a = {.root = root};
	if (!strcmp(path, "/") || !strcmp(path, "/subscribe")) {
		if (get)
			return page(sv, c, PAGE_FORM, &a, NULL, 0);
		if (post && !strcmp(path, "/subscribe"))
			return do_subscribe(sv, c, rq, root);
		return page(sv, c, PAGE_BAD_METHOD, &a, !strcmp(path, "/") ? "GET, HEAD" : "GET, HEAD, POST", 0);
	}
	if (!strcmp(path, "/confirm") || !strcmp(path, "/unsubscribe")) {
		if (get || post)
			return do_token(sv, c, rq, root, path[1] == 'c', post);
		return page(sv, c, PAGE_BAD_METHOD, &a, "GET, HEAD, POST", 0);
	}
	if (!strcmp(path, "/preview") || !strcmp(path, "/preview.txt")) {
		if (get)
			return do_preview(sv, c, !strcmp(path, "/preview"));
		return page(sv, c, PAGE_BAD_METHOD, &a, "GET, HEAD", 0);
	}
	if (!strncmp(path, "/archive", 8) && (!path[8] || path[8] == '/' || !strcmp(path + 8, ".atom")))
		return route_archive(sv, c, path, root, get);
	return page(sv, c, PAGE_NOT_FOUND, &a, NULL, 0);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			      const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
	(void)version;
	struct server *sv = cls;
	struct request *rq = *con_cls;
	if (!rq) {
		rq = xcalloc(1, sizeof *rq);
		*con_cls = rq;
		/* A declared length over the limit is refused before a byte of
		 * the body is read. */
		const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && (cl += strspn(cl, " \t0"), strspn(cl, "0123456789") > 9 || strtoul(cl, NULL, 10) > SERVE_BODY_MAX)) {
			rq->answered = true;
			return page(sv, c, PAGE_TOO_LARGE, NULL, NULL, 0);
		}
		return MHD_YES;
	}
	if (*upload_size) {
		rq->seen += *upload_size;
		if (rq->seen > SERVE_BODY_MAX) {
			/* A chunked body that grows too large: refused once it ends,
			 * or the connection is dropped when it goes on and on. */
			rq->too_big = true;
			buf_free(&rq->body);
			if (rq->seen > 64 * SERVE_BODY_MAX)
				return MHD_NO;
		} else {
			buf_add(&rq->body, upload, *upload_size);
		}
		*upload_size = 0;
		return MHD_YES;
	}
	if (rq->answered)
		return MHD_YES;
	rq->answered = true;
	if (rq->too_big)
		return page(sv, c, PAGE_TOO_LARGE, NULL, NULL, 0);
	enum MHD_Result ok = route(sv, c, url, method, rq);
	if (log_get_level() >= LOG_DEBUG) {
		char who[64];
		client_key(sv, c, who, sizeof who);
		char shown[200];
		size_t o = 0;
		/* the path only (libmicrohttpd keeps the query, and the link's
		 * token in it, apart) */
		for (const char *p = url; *p && o + 5 < sizeof shown; p++)
			o += (unsigned char)*p < 0x20 || *p == 0x7F
				     ? (size_t)snprintf(shown + o, sizeof shown - o, "\\x%02x", (unsigned char)*p)
				     : (size_t)(shown[o] = *p, 1);
		shown[o] = '\0';
		log_debug("serve: %s %s %s", who, method, shown);
	}
	return ok;
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls, (void)c, (void)toe;
	struct request *rq = *con_cls;
	if (!rq)
		return;
	buf_free(&rq->body);
	free(rq);
	*con_cls = NULL;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char line[512];
	vsnprintf(line, sizeof line, fmt, ap);
	line[strcspn(line, "\r\n")] = '\0';
	log_debug("serve: http: %s", line);
}

/* ---- starting and stopping ---- */

/* A listening socket on HOST:PORT; its address, for people, in SHOWN. */
static int open_listener(const char *listen_on, char *shown, size_t n, int *code)
{
	char *host = NULL, *err = NULL;
	int port;
	if (listen_parse(listen_on, &host, &port, &err) < 0) {
		log_error("serve: --listen %s", err);
		free(err);
		*code = EX_USAGE;
		return -1;
	}
	/* Every address (":PORT"): IPv6 and IPv4 on one socket, or IPv4 alone
	 * where there is no IPv6. */
	char ps[8];
	snprintf(ps, sizeof ps, "%d", port);
	int fd = -1, saved = 0, g = 0;
	struct addrinfo *ai = NULL;
	for (int pass = host ? 1 : 0; pass < 2 && fd < 0; pass++) {
		struct addrinfo hints = {.ai_family = pass ? (host ? AF_UNSPEC : AF_INET) : AF_INET6,
					 .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
		freeaddrinfo(ai);
		ai = NULL;
		if ((g = getaddrinfo(host, ps, &hints, &ai)) != 0)
			continue;
		for (struct addrinfo *p = ai; p && fd < 0; p = p->ai_next) {
			fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC, p->ai_protocol);
			if (fd < 0) {
				saved = errno;
				continue;
			}
			int one = 1, zero = 0;
			setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
			if (!host && p->ai_family == AF_INET6)
				setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
			if (bind(fd, p->ai_addr, p->ai_addrlen) < 0 || listen(fd, 128) < 0) {
				saved = errno;
				close(fd);
				fd = -1;
			}
		}
	}
	if (fd < 0 && g != 0) {
		log_error("serve: %s: %s", listen_on, gai_strerror(g));
		freeaddrinfo(ai);
		free(host);
		*code = EX_USAGE;
		return -1;
	}
	freeaddrinfo(ai);
	free(host);
	if (fd < 0) {
		log_error("serve: cannot listen on %s: %s", listen_on, strerror(saved));
		*code = saved == EADDRINUSE || saved == EADDRNOTAVAIL ? EX_TEMPFAIL
			: saved == EACCES			       ? EX_NOPERM
								       : EX_OSERR;
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char h[INET6_ADDRSTRLEN] = "?";
	int p = 0;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET) {
			const struct sockaddr_in *s4 = (const void *)&ss;
			inet_ntop(AF_INET, &s4->sin_addr, h, sizeof h);
			p = ntohs(s4->sin_port);
			snprintf(shown, n, "%s:%d", h, p);
		} else {
			const struct sockaddr_in6 *s6 = (const void *)&ss;
			inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof h);
			p = ntohs(s6->sin6_port);
			snprintf(shown, n, "[%s]:%d", h, p);
		}
	}
	return fd;
}

/* The path of base_url ("https://host/digest/" -> "/digest"). */
static char *base_path(const char *url)
{
	const char *p = strstr(url, "://");
	p = p ? strchr(p + 3, '/') : NULL;
	if (!p)
		return xstrdup("");
	size_t n = strcspn(p, "?#");
	while (n > 0 && p[n - 1] == '/')
		n--;
	return xstrndup(p, n);
}

static void server_free(struct server *sv)
{
	store_close(sv->st);
	store_close(sv->sender_st);
	page_free(sv->pages);
	archive_free(sv->archive);
	render_free(sv->preview_r);
	render_free(sv->sender_r);
	ratelimit_free(sv->per_client);
	ratelimit_free(sv->per_address);
	ratelimit_free(sv->bad_links);
	ratelimit_free(sv->all_mail);
	buf_free(&sv->preview_html);
	buf_free(&sv->preview_text);
	free(sv->prefix);
	explicit_bzero(sv->key, sizeof sv->key);
}

int serve_run(const struct config *cfg, const char *listen_on)
{
	/* Static: a sender thread left behind at the stop (see below) may
	 * still look at it while the process exits. */
	static struct server sv;
	memset(&sv, 0, sizeof sv);
	log_set_server(true);
	sv.cfg = cfg;
	pthread_mutex_init(&sv.mu, NULL);
	pthread_cond_init(&sv.cv, NULL);
	char *err = NULL;
	int code = EX_SOFTWARE;
	if (page_load(cfg, &sv.pages, &err) < 0 || archive_load(cfg, &sv.archive, &err) < 0 ||
	    render_load(cfg, true, &sv.preview_r, &err) < 0 ||
	    render_load(cfg, true, &sv.sender_r, &err) < 0 || render_load_confirm(sv.sender_r, &err) < 0) {
		log_error("%s", err);
		free(err);
		server_free(&sv);
		return EX_CONFIG;
	}
	if (consent_wording(sv.pages, sv.sender_r, sv.wording, &err) < 0) {
		log_error("%s", err);
		free(err);
		server_free(&sv);
		return EX_CONFIG;
	}
	if (token_key_load(cfg->newsletter.secret_file, sv.key, &err) < 0 ||
	    store_open(cfg->storage.database, &sv.st, &err) < 0 ||
	    store_open(cfg->storage.database, &sv.sender_st, &err) < 0) {
		log_error("%s", err);
		free(err);
		server_free(&sv);
		return EX_SOFTWARE;
	}
	/* a confirmation ends an erasure: its hash needs the secret */
	store_erasure_secret(sv.st, cfg->newsletter.secret_file);
	store_erasure_secret(sv.sender_st, cfg->newsletter.secret_file);
	sv.prefix = base_path(cfg->newsletter.base_url);
	sv.per_client = ratelimit_new(CLIENT_BURST, CLIENT_EVERY, LIMIT_SLOTS);
	sv.per_address = ratelimit_new(ADDRESS_BURST, ADDRESS_EVERY, LIMIT_SLOTS);
	sv.bad_links = ratelimit_new(BADLINK_BURST, BADLINK_EVERY, LIMIT_SLOTS);
	sv.all_mail = ratelimit_new(ALL_BURST, ALL_EVERY, 16);

	char shown[INET6_ADDRSTRLEN + 16] = "?";
	int fd = open_listener(listen_on ? listen_on : cfg->http.listen, shown, sizeof shown, &code);
	if (fd < 0) {
		server_free(&sv);
		return code;
	}

	/* SIGTERM and SIGINT are taken by sigwait below, in this thread only:
	 * every thread started from here on has them blocked. */
	sigset_t sigs, old;
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, &old);

	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC | MHD_USE_ERROR_LOG, 0, NULL, NULL, handle,
		&sv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_log, &sv, MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, (unsigned)512,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)128, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)15,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_STRICT_FOR_CLIENT, (int)1,
		MHD_OPTION_NOTIFY_COMPLETED, completed, &sv, MHD_OPTION_END);
	if (!d) {
		log_error("serve: cannot start the HTTP server on %s", shown);
		close(fd);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		server_free(&sv);
		return EX_SOFTWARE;
	}
	if (pthread_create(&sv.sender, NULL, sender_main, &sv) == 0)
		sv.sender_started = true;
	else
		log_warn("serve: no thread for confirmation mails: they wait for the next start");
	wake_sender(&sv); /* mail owed from before */
	log_event("serve: wording version %s (the subscribe pages and the confirmation mail, as consent "
		  "records name them)", sv.wording);
	fprintf(stderr, "serve: listening on http://%s\n", shown);
	fflush(stderr);

	int sig = 0;
	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
		; /* nothing to reload yet: keep going */
	log_info("serve: signal %d: stopping", sig);
	/* No new connections; requests in progress get a little while to be
	 * answered (idle keep-alive connections count too: not for long). */
	if (sv.sender_started) {
		pthread_mutex_lock(&sv.mu);
		__atomic_store_n(&sv.stop, true, __ATOMIC_SEQ_CST);
		pthread_cond_signal(&sv.cv);
		pthread_mutex_unlock(&sv.mu);
	}
	MHD_socket quiet = MHD_quiesce_daemon(d);
	for (int i = 0; i < DRAIN_STEPS; i++) {
		const union MHD_DaemonInfo *di = MHD_get_daemon_info(d, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);
		if (!di || di->num_connections == 0)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 50 * 1000 * 1000}, NULL);
	}
	MHD_stop_daemon(d);
	if (quiet != MHD_INVALID_SOCKET)
		close(quiet); /* else the daemon closed it */
	bool abandoned = false;
	if (sv.sender_started) {
		/* A mail server that stalls must not hold the stop up for its
		 * whole timeout: the mail being sent is owed again, for the
		 * next start, and the thread is left to the exit. */
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += STOP_WAIT_MS % 1000 * 1000000L;
		until.tv_sec += STOP_WAIT_MS / 1000 + until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (pthread_timedjoin_np(sv.sender, NULL, &until) != 0) {
			abandoned = true;
			long long id = __atomic_load_n(&sv.os.current, __ATOMIC_SEQ_CST);
			log_warn("serve: the mail server is slow to answer: a confirmation mail is sent again at the next start");
			if (id && (store_begin(sv.st, &err) < 0 ||
				   store_optin_retry(sv.st, id, 0, (long long)time(NULL), &err) < 0 ||
				   store_commit(sv.st, &err) < 0)) {
				store_rollback(sv.st);
				log_error("serve: %s", err);
				free(err);
			}
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (abandoned) {
		/* The sender still uses the server, its store, its renderer and
		 * the configuration, maybe inside GnuTLS or SQLite: nothing is
		 * freed and no library's exit handler runs; the process ends
		 * here, its database state made durable above. */
		fprintf(stderr, "serve: stopped\n");
		fflush(NULL);
		_exit(EX_OK);
	}
	server_free(&sv);
	pthread_mutex_destroy(&sv.mu);
	pthread_cond_destroy(&sv.cv);
	fprintf(stderr, "serve: stopped\n");
	return EX_OK;
}
