/* Unit tests of fetch: address classes, the fetcher on file: URLs (each
 * callback exactly once, errors, cancelled transfers), and the private
 * address rule over kept-alive connections to a server on 127.0.0.1. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/fetch.h"
#include "digest/log.h"
#include "digest/util.h"

static void test_private_addresses(void **state)
{
	(void)state;
	static const struct {
		const char *ip;
		int want;
	} cases[] = {
		{"127.0.0.1", 1},      {"127.255.0.9", 1},    {"10.1.2.3", 1},       {"172.16.0.1", 1},
		{"172.31.255.255", 1}, {"172.32.0.1", 0},     {"172.15.0.1", 0},     {"192.168.1.1", 1},
		{"169.254.169.254", 1}, {"100.64.0.1", 1},    {"100.128.0.1", 0},    {"0.0.0.0", 1},
		{"224.0.0.1", 1},      {"255.255.255.255", 1}, {"8.8.8.8", 0},       {"93.184.216.34", 0},
		{"::1", 1},            {"::", 1},             {"fe80::1", 1},        {"fc00::1", 1},
		{"fd12:3456::1", 1},   {"ff02::1", 1},        {"::ffff:127.0.0.1", 1}, {"::ffff:8.8.8.8", 0},
		{"2001:4860:4860::8888", 0}, {"2a00:1450::1", 0},
		{"", -1},              {"localhost", -1},     {"1.2.3", -1},         {"999.1.1.1", -1},
		{NULL, -1},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		if (fetch_ip_is_private(cases[i].ip) != cases[i].want)
			fail_msg("%s: %d, want %d", cases[i].ip ? cases[i].ip : "NULL",
				 fetch_ip_is_private(cases[i].ip), cases[i].want);
}

static char dir[] = "/tmp/digest-fetch-XXXXXX";

struct seen {
	int calls;
	char body[64];
	char error[256];
};

static void on_done(struct fetcher *f, const struct fetch_result *r, void *arg)
{
	(void)f;
	struct seen *s = arg;
	s->calls++;
	snprintf(s->body, sizeof s->body, "%s", r->body);
	snprintf(s->error, sizeof s->error, "%s", r->error ? r->error : "");
}

static struct fetch_config opts(long long max_body)
{
	static char ua[] = "digest-test";
	struct fetch_config o = {.parallel = 2, .per_host = 1, .timeout = 5, .connect_timeout = 2,
				 .max_body = max_body, .user_agent = ua, .tls_verify = true};
	return o;
}

static void test_file_urls(void **state)
{
	(void)state;
	enum { N = 12 };
	struct seen seen[N + 3];
	memset(seen, 0, sizeof seen);
	struct fetch_config o = opts(4096);
	struct fetcher *f = fetcher_new(&o, false);
	assert_non_null(f);
	for (int i = 0; i < N; i++) {
		char *path = xasprintf("%s/p%d.html", dir, i);
		FILE *fp = fopen(path, "w");
		fprintf(fp, "page %d", i);
		fclose(fp);
		char *url = xasprintf("file://%s", path);
		fetcher_add(f, url, 0, on_done, &seen[i]);
		free(url);
		free(path);
	}
	char *missing = xasprintf("file://%s/none.html", dir);
	fetcher_add(f, missing, 0, on_done, &seen[N]);
	char *big = xasprintf("%s/big.html", dir);
	FILE *fp = fopen(big, "w");
	for (int i = 0; i < 1000; i++)
		fputs("0123456789", fp);
	fclose(fp);
	char *bigurl = xasprintf("file://%s", big);
	fetcher_add(f, bigurl, 0, on_done, &seen[N + 1]);
	fetcher_add(f, "gopher://example.org/", 0, on_done, &seen[N + 2]);
	assert_int_equal(fetcher_run(f), 0);
	fetcher_free(f);
	for (int i = 0; i < N; i++) {
		char want[32];
		snprintf(want, sizeof want, "page %d", i);
		assert_int_equal(seen[i].calls, 1);
		assert_string_equal(seen[i].body, want);
		assert_string_equal(seen[i].error, "");
	}
	assert_int_equal(seen[N].calls, 1);
	assert_true(seen[N].error[0] != '\0');
	assert_int_equal(seen[N + 1].calls, 1);
	assert_non_null(strstr(seen[N + 1].error, "4096-byte cap"));
	assert_int_equal(seen[N + 2].calls, 1);
	assert_true(seen[N + 2].error[0] != '\0');
	free(missing);
	free(big);
	free(bigurl);
}

/* A keep-alive HTTP/1.1 server on 127.0.0.1 in a thread: it answers every
 * GET with "200 PATH" and logs "CONN PATH" (CONN: the connection's number,
 * from 1) for each request, so a test sees which requests reached it and
 * over which connection. */
struct ka_server {
	int lfd, port;
	int stop[2];
	pthread_t thread;
	pthread_mutex_t lock;
	char log[1024];
};

static void *ka_serve(void *arg)
{
	struct ka_server *s = arg;
	enum { MAXC = 8 };
	struct pollfd p[2 + MAXC];
	char in[MAXC][2048];
	size_t inlen[MAXC];
	int conn_no[MAXC], nconns = 0, n = 0;
	p[0] = (struct pollfd){.fd = s->stop[0], .events = POLLIN};
	p[1] = (struct pollfd){.fd = s->lfd, .events = POLLIN};
	for (;;) {
		if (poll(p, (nfds_t)(2 + n), 5000) <= 0 || p[0].revents)
			break;
		if ((p[1].revents & POLLIN) && n < MAXC) {
			int c = accept(s->lfd, NULL, NULL);
			if (c >= 0) {
				p[2 + n] = (struct pollfd){.fd = c, .events = POLLIN};
				inlen[n] = 0;
				conn_no[n++] = ++nconns;
			}
		}
		for (int i = 0; i < n; i++) {
			if (!p[2 + i].revents)
				continue;
			ssize_t got = read(p[2 + i].fd, in[i] + inlen[i], sizeof in[i] - 1 - inlen[i]);
			if (got <= 0) {
				close(p[2 + i].fd);
				p[2 + i] = p[2 + n - 1];
				memcpy(in[i], in[n - 1], inlen[n - 1]);
				inlen[i] = inlen[n - 1];
				conn_no[i] = conn_no[n - 1];
				n--;
				i--;
				continue;
			}
			inlen[i] += (size_t)got;
			in[i][inlen[i]] = '\0';
			char *end;
			while ((end = strstr(in[i], "\r\n\r\n")) != NULL) {
				char path[256] = "?";
				sscanf(in[i], "GET %255s", path);
				pthread_mutex_lock(&s->lock);
				size_t l = strlen(s->log);
				snprintf(s->log + l, sizeof s->log - l, "%d %s\n", conn_no[i], path);
				pthread_mutex_unlock(&s->lock);
				char body[300], resp[512];
				int blen = snprintf(body, sizeof body, "200 %s", path);
				int rlen = snprintf(resp, sizeof resp,
						    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
						    "Content-Length: %d\r\n\r\n%s", blen, body);
				if (write(p[2 + i].fd, resp, (size_t)rlen) != rlen)
					break;
				size_t used = (size_t)(end + 4 - in[i]);
				memmove(in[i], in[i] + used, inlen[i] - used + 1);
				inlen[i] -= used;
			}
		}
	}
	for (int i = 0; i < n; i++)
		close(p[2 + i].fd);
	return NULL;
}

static void ka_start(struct ka_server *s)
{
	memset(s, 0, sizeof *s);
	pthread_mutex_init(&s->lock, NULL);
	s->lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->lfd >= 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof a;
	assert_int_equal(bind(s->lfd, (struct sockaddr *)&a, sizeof a), 0);
	assert_int_equal(listen(s->lfd, 8), 0);
	assert_int_equal(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pipe(s->stop), 0);
	assert_int_equal(pthread_create(&s->thread, NULL, ka_serve, s), 0);
}

static void ka_stop(struct ka_server *s)
{
	assert_int_equal(write(s->stop[1], "x", 1), 1);
	pthread_join(s->thread, NULL);
	close(s->stop[0]);
	close(s->stop[1]);
	close(s->lfd);
	pthread_mutex_destroy(&s->lock);
}

/* One step of a chain of transfers run one after another, each added by
 * the callback of the one before, so that each may reuse the connection
 * the one before left open. */
struct step {
	const char *path;
	int flags;
	struct seen seen;
	char url[128];
};

struct chain {
	struct step *steps;
	size_t n, next;
	int port;
};

static void chain_add(struct fetcher *f, struct chain *c);

static void on_step(struct fetcher *f, const struct fetch_result *r, void *arg)
{
	struct chain *c = arg;
	on_done(f, r, &c->steps[c->next - 1].seen);
	chain_add(f, c);
}

static void chain_add(struct fetcher *f, struct chain *c)
{
	if (c->next == c->n)
		return;
	struct step *st = &c->steps[c->next++];
	snprintf(st->url, sizeof st->url, "http://127.0.0.1:%d%s", c->port, st->path);
	fetcher_add(f, st->url, st->flags, on_step, c);
}

/* A transfer that may not reach a private address (a link found on a page)
 * is refused one whatever the connection it would use: a new one, or one
 * kept alive by an earlier transfer that was allowed there (an intranet
 * source). Those allowed still reuse connections. */
static void test_private_over_kept_alive(void **state)
{
	(void)state;
	struct ka_server s;
	ka_start(&s);
	struct step steps[] = {
		{"/intranet", 0, {0}, ""},
		{"/secret", FETCH_PUBLIC_ONLY, {0}, ""},   /* over the connection /intranet left */
		{"/again", 0, {0}, ""},
		{"/secret2", FETCH_PUBLIC_ONLY, {0}, ""},
	};
	struct chain c = {steps, ARRAY_LEN(steps), 0, s.port};
	struct fetch_config o = opts(4096);
	o.parallel = 1;
	struct fetcher *f = fetcher_new(&o, false);
	assert_non_null(f);
	chain_add(f, &c);
	assert_int_equal(fetcher_run(f), 0);
	fetcher_free(f);
	ka_stop(&s);
	for (size_t i = 0; i < ARRAY_LEN(steps); i++) {
		struct step *st = &steps[i];
		assert_int_equal(st->seen.calls, 1);
		if (!(st->flags & FETCH_PUBLIC_ONLY)) {
			char want[64];
			snprintf(want, sizeof want, "200 %s", st->path);
			assert_string_equal(st->seen.body, want);
			assert_string_equal(st->seen.error, "");
			continue;
		}
		if (!strstr(st->seen.error, "refused: 127.0.0.1 is a private or loopback address"))
			fail_msg("%s: error \"%s\", want a refusal naming the address (server saw:\n%s)",
				 st->path, st->seen.error, s.log);
		assert_string_equal(st->seen.body, "");
	}
	if (strstr(s.log, "secret"))
		fail_msg("a link found on a page reached 127.0.0.1; the server saw:\n%s", s.log);
	/* before pre_request, the server saw "1 /intranet", "1 /secret": the
	 * connection reused. A refused request closes it: /again may come on
	 * a new one. */
	if (strncmp(s.log, "1 /intranet\n", 12) || !strstr(s.log, " /again\n"))
		fail_msg("the server saw:\n%s", s.log);
}

static void test_cancelled(void **state)
{
	(void)state;
	struct seen seen[3];
	memset(seen, 0, sizeof seen);
	struct fetch_config o = opts(4096);
	struct fetcher *f = fetcher_new(&o, false);
	for (int i = 0; i < 3; i++)
		fetcher_add(f, "file:///dev/null", 0, on_done, &seen[i]);
	fetcher_free(f); /* never run: every callback still hears of its transfer */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(seen[i].calls, 1);
		assert_string_equal(seen[i].error, "cancelled");
	}
}

/* A file: URL has no address: FETCH_PUBLIC_ONLY does not refuse it. */
static void test_public_only_file(void **state)
{
	(void)state;
	struct seen seen = {0};
	char *path = xasprintf("%s/public-only.html", dir);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fputs("local", fp);
	assert_int_equal(fclose(fp), 0);
	char *url = xasprintf("file://%s", path);
	struct fetch_config o = opts(4096);
	struct fetcher *f = fetcher_new(&o, false);
	fetcher_add(f, url, FETCH_PUBLIC_ONLY, on_done, &seen);
	assert_int_equal(fetcher_run(f), 0);
	fetcher_free(f);
	assert_int_equal(seen.calls, 1);
	assert_string_equal(seen.error, "");
	assert_string_equal(seen.body, "local");
	free(url);
	free(path);
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_QUIET);
	assert_non_null(mkdtemp(dir));
	return fetch_global_init();
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	fetch_global_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_private_addresses),
		cmocka_unit_test(test_file_urls),
		cmocka_unit_test(test_cancelled),
		cmocka_unit_test(test_private_over_kept_alive),
		cmocka_unit_test(test_public_only_file),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
