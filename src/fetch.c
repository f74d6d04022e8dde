/* fetch: many URLs at once over libcurl's multi interface, with limits. */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest/fetch.h"
#include "digest/log.h"
#include "digest/util.h"

struct transfer {
	struct transfer *next; /* in the queue, or in the list of running ones */
	struct transfer *prev; /* in the list of running ones */
	struct fetcher *f;
	CURL *easy;
	char *url;
	fetch_cb cb;
	void *arg;
	struct buf body;
	int too_big;
	char errbuf[CURL_ERROR_SIZE];
};

struct fetcher {
	struct fetch_options o;
	CURLM *multi;
	struct transfer *queue, **queue_tail;
	struct transfer *active; /* handed to the multi handle */
	int running;
	int added, done;
};

int fetch_global_init(void) { return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1; }
void fetch_global_cleanup(void) { curl_global_cleanup(); }

struct fetcher *fetcher_new(const struct fetch_options *o)
{
	struct fetcher *f = xcalloc(1, sizeof *f);
	f->o = *o;
	f->queue_tail = &f->queue;
	f->multi = curl_multi_init();
	if (!f->multi) {
		free(f);
		return NULL;
	}
	curl_multi_setopt(f->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->per_host);
	curl_multi_setopt(f->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)o->parallel);
	curl_multi_setopt(f->multi, CURLMOPT_MAXCONNECTS, (long)o->parallel * 2);
	return f;
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

static void transfer_free(struct transfer *t)
{
	if (!t)
		return;
	if (t->easy)
		curl_easy_cleanup(t->easy);
	free(t->url);
	buf_free(&t->body);
	free(t);
}

void fetcher_add(struct fetcher *f, const char *url, fetch_cb cb, void *arg)
{
	struct transfer *t = xcalloc(1, sizeof *t);
	t->f = f;
	t->url = xstrdup(url);
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

/* Hand queued transfers to libcurl while fewer than `parallel` run. Queued
 * ones are held back here rather than in libcurl so that their timeouts
 * start when they really start. */
static void start_queued(struct fetcher *f)
{
	while (f->queue && f->running < f->o.parallel) {
		struct transfer *t = f->queue;
		f->queue = t->next;
		if (!f->queue)
			f->queue_tail = &f->queue;
		t->next = NULL;
		t->easy = make_easy(f, t);
		if (!t->easy || curl_multi_add_handle(f->multi, t->easy) != CURLM_OK) {
			struct fetch_result r = {.url = t->url, .final_url = t->url, .body = "",
						 .error = "cannot start the transfer"};
			f->done++;
			t->cb(f, &r, t->arg);
			transfer_free(t);
			continue;
		}
		t->next = f->active;
		if (f->active)
			f->active->prev = t;
		f->active = t;
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
	f->running--;
}

static void describe_error(struct transfer *t, CURLcode code, char *out, size_t outlen)
{
	const struct fetcher *f = t->f;
	if (t->too_big || code == CURLE_FILESIZE_EXCEEDED)
		snprintf(out, outlen, "body over the %lld-byte cap", f->o.max_body);
	else if (code == CURLE_OPERATION_TIMEDOUT)
		snprintf(out, outlen, "timed out (%s)", t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
	else
		snprintf(out, outlen, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(code));
	str_collapse_ws(out);
}

static void finish(struct fetcher *f, struct transfer *t, CURLcode code)
{
	char err[CURL_ERROR_SIZE + 64] = "";
	long status = 0;
	char *final_url = NULL, *ctype = NULL;
	curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &final_url);
	curl_easy_getinfo(t->easy, CURLINFO_CONTENT_TYPE, &ctype);
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
	if (!f->o.progress)
		return;
	fprintf(stderr, "\rfetching: %d/%d%s", f->done, f->added, last ? "\n" : "");
	fflush(stderr);
}

int fetcher_run(struct fetcher *f)
{
	int rc = 0;
	start_queued(f);
	while (f->running > 0) {
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
		if (f->running > 0 && curl_multi_poll(f->multi, NULL, 0, 1000, NULL) != CURLM_OK) {
			rc = -1;
			break;
		}
	}
	if (f->added)
		show_progress(f, 1);
	return rc;
}

void fetcher_free(struct fetcher *f)
{
	if (!f)
		return;
	while (f->active) {
		struct transfer *t = f->active;
		unlink_active(f, t);
		transfer_free(t);
	}
	struct transfer *t = f->queue;
	while (t) {
		struct transfer *n = t->next;
		transfer_free(t);
		t = n;
	}
	curl_multi_cleanup(f->multi);
	free(f);
}
