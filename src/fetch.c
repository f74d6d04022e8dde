/* fetch: many URLs at once over libcurl's multi interface, with limits. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "digest/fetch.h"
#include "digest/log.h"
#include "digest/util.h"

#define NO_HOST ((size_t)-1)

struct host {
	char *key; /* scheme://host:port as the URL spells it */
	int running;
};

struct transfer {
	struct transfer *next; /* in the queue, or in the list of running ones */
	struct transfer *prev; /* in the list of running ones */
	struct fetcher *f;
	CURL *easy;
	char *url;
	size_t host; /* index into the fetcher's hosts, or NO_HOST */
	int flags;
	fetch_cb cb;
	void *arg;
	struct buf body;
	int too_big;
	/* the private address a FETCH_PUBLIC_ONLY transfer was refused, with
	 * the URL it was about to request there; empty while none was */
	char refused_ip[INET6_ADDRSTRLEN];
	char *refused_url;
	char errbuf[CURL_ERROR_SIZE];
};

struct fetcher {
	struct fetch_config o;
	bool progress;
	CURLM *multi;
	struct transfer *queue, **queue_tail;
	struct transfer *active; /* handed to the multi handle */
	int running;
	int added, done;
	struct host *hosts;
	size_t nhosts;
};

int fetch_global_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1; }
void fetch_global_cleanup(void) { curl_global_cleanup(); }

struct fetcher *fetcher_new(const struct fetch_config *c, bool progress)
{
	struct fetcher *f = xcalloc(1, sizeof *f);
	f->o = *c;
	f->progress = progress;
	f->queue_tail = &f->queue;
	f->multi = curl_multi_init();
	if (!f->multi) {
		free(f);
		return NULL;
	}
	curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)c->parallel * 2);
	return f;
}

static int private_v4(const unsigned char *a)
{
	return a[0] == 0 || a[0] == 10 || a[0] == 127 || (a[0] == 169 && a[1] == 254) ||
	       (a[0] == 172 && (a[1] & 0xF0) == 16) || (a[0] == 192 && a[1] == 168) ||
	       (a[0] == 100 && (a[1] & 0xC0) == 64) || a[0] >= 224;
}

static int private_v6(const unsigned char *a)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
	static const unsigned char zero[15] = {0};
	if (!memcmp(a, mapped, 12))
		return private_v4(a + 12);
	if (!memcmp(a, zero, 15) && (a[15] == 0 || a[15] == 1)) /* :: and ::1 */
		return 1;
	return (a[0] & 0xFE) == 0xFC || (a[0] == 0xFE && (a[1] & 0xC0) == 0x80) || a[0] == 0xFF;
}

int fetch_ip_is_private(const char *ip)
{
	unsigned char a[16];
	if (!ip)
		return -1;
	if (inet_pton(AF_INET, ip, a) == 1)
		return private_v4(a);
	if (inet_pton(AF_INET6, ip, a) == 1)
		return private_v6(a);
	return -1;
}

/* Refuse transfer T at IP (a numeric address): remember where, and the
 * URL it was about to request (a redirect's target, maybe), for its error. */
static void refuse(struct transfer *t, const char *ip)
{
	char *url = NULL;
	snprintf(t->refused_ip, sizeof t->refused_ip, "%s", ip && *ip ? ip : "(unknown)");
	if (t->easy)
		curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
	free(t->refused_url);
	t->refused_url = xstrdup(url ? url : t->url);
}

/* A FETCH_PUBLIC_ONLY transfer may not reach a private address. Two checks
 * enforce it. This one, on every socket a transfer opens (redirects' too),
 * keeps it from even connecting; but a transfer that reuses a connection
 * kept alive by an earlier one opens none, so pre_request below is the one
 * that holds for every request. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct transfer *t = arg;
	(void)purpose;
	if (t->flags & FETCH_PUBLIC_ONLY) {
		int priv = 1; /* an address family we do not know is not let through */
		char ip[INET6_ADDRSTRLEN] = "";
		if (addr->family == AF_INET) {
			const struct in_addr *a = &((struct sockaddr_in *)(void *)&addr->addr)->sin_addr;
			priv = private_v4((const unsigned char *)a);
			inet_ntop(AF_INET, a, ip, sizeof ip);
		} else if (addr->family == AF_INET6) {
			const struct in6_addr *a = &((struct sockaddr_in6 *)(void *)&addr->addr)->sin6_addr;
			priv = private_v6(a->s6_addr);
			inet_ntop(AF_INET6, a, ip, sizeof ip);
		}
		if (priv) {
			refuse(t, ip);
			return CURL_SOCKET_BAD;
		}
	}
	return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

/* Called by libcurl right before each request is sent, redirects' too, on a
 * new connection or a reused one, with the address it is connected to: the
 * rule of open_socket, for every request. Only a file: transfer has no
 * address; any other without one is refused. */
static int pre_request(void *arg, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct transfer *t = arg;
	(void)local_ip;
	(void)primary_port;
	(void)local_port;
	if (!(t->flags & FETCH_PUBLIC_ONLY))
		return CURL_PREREQFUNC_OK;
	if (!primary_ip || !*primary_ip) {
		char *scheme = NULL;
		curl_easy_getinfo(t->easy, CURLINFO_SCHEME, &scheme);
		if (scheme && !strcasecmp(scheme, "file"))
			return CURL_PREREQFUNC_OK;
	} else if (fetch_ip_is_private(primary_ip) == 0) {
		return CURL_PREREQFUNC_OK;
	}
	refuse(t, primary_ip);
	return CURL_PREREQFUNC_ABORT;
}

static size_t on_data(char *p, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	if ((long long)(t->body.len + len) > t->f->o.max_body) {
		t->too_big = 1;
		return 0; /* makes libcurl abort the transfer */
	}
	buf_add(&t->body, p, len);
	return len;
}

/* The index of URL's per-host counter (scheme, host and port as written),
 * added when new. Few hosts take part in a run: a linear search will do. */
static size_t host_index(struct fetcher *f, const char *url)
{
	const char *p = strstr(url, "://");
	size_t n = p ? (size_t)(p - url) + 3 : 0;
	n += strcspn(url + n, "/?#");
	for (size_t i = 0; i < f->nhosts; i++)
		if (strlen(f->hosts[i].key) == n && !strncasecmp(f->hosts[i].key, url, n))
			return i;
	f->hosts = xrealloc(f->hosts, (f->nhosts + 1) * sizeof *f->hosts);
	f->hosts[f->nhosts].key = xstrndup(url, n);
	f->hosts[f->nhosts].running = 0;
	return f->nhosts++;
}

static void transfer_free(struct transfer *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	free(t->url);
	free(t->refused_url);
	buf_free(&t->body);
	free(t);
}

void fetcher_add(struct fetcher *f, const char *url, int flags, fetch_cb cb, void *arg)
{
	struct transfer *t = xcalloc(1, sizeof *t);
	t->f = f;
	t->url = xstrdup(url);
	t->host = NO_HOST;
	t->flags = flags;
	t->cb = cb;
	t->arg = arg;
	*f->queue_tail = t;
	f->queue_tail = &t->next;
	f->added++;
}

static CURL *make_easy(struct fetcher *f, struct transfer *t)
{
	CURL *e = curl_easy_init();
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_URL, t->url);
	curl_easy_setopt(e, CURLOPT_PRIVATE, t);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
	curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, pre_request);
	curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https,file");
	curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(e, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(e, CURLOPT_USERAGENT, f->o.user_agent);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)f->o.connect_timeout);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, (long)f->o.timeout);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)f->o.max_body);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, f->o.tls_verify ? 1L : 0L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, f->o.tls_verify ? 2L : 0L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	return e;
}

static void finish(struct fetcher *f, struct transfer *t, CURLcode code);
static void cancel_all(struct fetcher *f, const char *why);

/* Hand queued transfers to libcurl while fewer than `parallel` run, in
 * order, skipping those whose host already has `per_host` running. They
 * wait here rather than inside libcurl so that their timeouts start when
 * they really start. */
static void start_queued(struct fetcher *f)
{
	struct transfer **link = &f->queue;
	while (*link && f->running < f->o.parallel) {
		struct transfer *t = *link;
		if (t->host == NO_HOST)
			t->host = host_index(f, t->url);
		if (f->hosts[t->host].running >= f->o.per_host) {
			link = &t->next;
			continue;
		}
		/* out of the queue, keeping its tail right: a callback below
		 * may queue more */
		*link = t->next;
		if (f->queue_tail == &t->next)
			f->queue_tail = link;
		t->next = NULL;
		t->easy = make_easy(f, t);
		if (!t->easy || curl_multi_add_handle(f->multi, t->easy) != CURLM_OK) {
			snprintf(t->errbuf, sizeof t->errbuf, "cannot start the transfer");
			finish(f, t, CURLE_FAILED_INIT);
			transfer_free(t);
			continue;
		}
		t->next = f->active;
		if (f->active)
			f->active->prev = t;
		f->active = t;
		f->hosts[t->host].running++;
		f->running++;
	}
}

static void unlink_active(struct fetcher *f, struct transfer *t)
{
	if (t->prev)
		t->prev->next = t->next;
	else
		f->active = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->next = t->prev = NULL;
	curl_multi_remove_handle(f->multi, t->easy);
	f->hosts[t->host].running--;
	f->running--;
}

static void describe_error(struct transfer *t, CURLcode code, char *out, size_t outlen)
{
	const struct fetcher *f = t->f;
	/* the caller names t->url; a redirect's target is named here, last,
	 * as a long URL may be cut */
	if (t->refused_ip[0] && strcmp(t->refused_url, t->url))
		snprintf(out, outlen, "refused: %s is a private or loopback address, where a link found on a "
				      "page may not lead (fetch.private_addresses): the redirect to %s",
			 t->refused_ip, t->refused_url);
	else if (t->refused_ip[0])
		snprintf(out, outlen, "refused: %s is a private or loopback address, where a link found on a "
				      "page may not lead (fetch.private_addresses)",
			 t->refused_ip);
	else if (t->too_big || code == CURLE_FILESIZE_EXCEEDED)
		snprintf(out, outlen, "body over the %lld-byte cap", f->o.max_body);
	else if (code == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, outlen, "timed out (%s)", t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
	else
		snprintf(out, outlen, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
	str_collapse_ws(out);
}

static void finish(struct fetcher *f, struct transfer *t, CURLcode code)
{
	char err[CURL_ERROR_SIZE + 128] = "";
	long status = 0;
	char *final_url = NULL, *ctype = NULL, *ip = NULL;
	if (t->easy) {
		curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &final_url);
		curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ctype);
		curl_easy_getinfo(t->easy, CURLINFO_PRIMARY_IP, &ip);
	}
	if (code != CURLE_OK)
		describe_error(t, code, err, sizeof err);
	else if (strncmp(t->url, "file:", 5) && (status < 200 || status > 299))
		snprintf(err, sizeof err, "HTTP status %ld", status);
	buf_adds(&t->body, ""); /* a NUL-terminated body even when empty */
	struct fetch_result r = {
		.url = t->url,
		.final_url = final_url ? final_url : t->url,
		.status = status,
		.content_type = ctype,
		.primary_ip = ip && *ip ? ip : NULL,
		.body = t->body.data,
		.len = t->body.len,
		.error = err[0] ? err : NULL,
	};
	log_debug("fetched %s: %s (%zu bytes)", t->url, err[0] ? err : "ok", t->body.len);
	f->done++;
	t->cb(f, &r, t->arg);
}

static void show_progress(struct fetcher *f, int last)
{
	if (!f->progress)
		return;
	fprintf(stderr, "\rfetching: %d/%d%s", f->done, f->added, last ? "\n" : "");
	fflush(stderr);
}

static double monotonic(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int fetcher_run(struct fetcher *f)
{
	int rc = 0;
	double end = f->o.deadline > 0 ? monotonic() + f->o.deadline : 0;
	start_queued(f);
	while (f->running > 0) {
		if (end && monotonic() >= end) {
			char why[96];
			snprintf(why, sizeof why, "not fetched: the run's %d-second deadline passed (fetch.deadline)",
				 f->o.deadline);
			cancel_all(f, why);
			break;
		}
		int still = 0;
		if (curl_multi_perform(f->multi, &still) != CURLM_OK) {
			rc = -1;
			break;
		}
		CURLMsg *m;
		int left;
		while ((m = curl_multi_info_read(f->multi, &left)) != NULL) {
			if (m->msg != CURLMSG_DONE)
				continue;
			struct transfer *t = NULL;
			CURL *e = m->easy_handle;
			CURLcode code = m->data.result;
			curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&t);
			unlink_active(f, t);
			finish(f, t, code);
			transfer_free(t);
			show_progress(f, 0);
		}
		start_queued(f);
		if (f->running > 0 && curl_multi_poll(f->multi, NULL, 0, 200, NULL) != CURLM_OK) {
			rc = -1;
			break;
		}
	}
	if (f->added)
		show_progress(f, 1);
	return rc;
}

/* A transfer that will not run: its callback hears WHY, and can free ARG. */
static void cancel(struct fetcher *f, struct transfer *t, const char *why)
{
	snprintf(t->errbuf, sizeof t->errbuf, "%s", why);
	finish(f, t, CURLE_ABORTED_BY_CALLBACK);
	transfer_free(t);
}

/* Cancel every transfer, running or queued, including those the
 * callbacks of cancelled ones queue. */
static void cancel_all(struct fetcher *f, const char *why)
{
	while (f->active) {
		struct transfer *t = f->active;
		unlink_active(f, t);
		cancel(f, t, why);
	}
	while (f->queue) {
		struct transfer *t = f->queue;
		f->queue = t->next;
		if (!f->queue)
			f->queue_tail = &f->queue;
		cancel(f, t, why);
	}
}

void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	cancel_all(f, "cancelled");
	curl_multi_cleanup(f->multi);
	for (size_t i = 0; i < f->nhosts; i++)
		free(f->hosts[i].key);
	free(f->hosts);
	free(f);
}
