/* Unit tests of fetch: address classes, and the fetcher on file: URLs
 * (each callback exactly once, errors, cancelled transfers). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static struct fetch_options opts(long long max_body)
{
	struct fetch_options o = {.parallel = 2, .per_host = 1, .timeout = 5, .connect_timeout = 2,
				  .max_body = max_body, .user_agent = "digest-test", .tls_verify = true};
	return o;
}

static void test_file_urls(void **state)
{
	(void)state;
	enum { N = 12 };
	struct seen seen[N + 3];
	memset(seen, 0, sizeof seen);
	struct fetch_options o = opts(4096);
	struct fetcher *f = fetcher_new(&o);
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

static void test_cancelled(void **state)
{
	(void)state;
	struct seen seen[3];
	memset(seen, 0, sizeof seen);
	struct fetch_options o = opts(4096);
	struct fetcher *f = fetcher_new(&o);
	for (int i = 0; i < 3; i++)
		fetcher_add(f, "file:///dev/null", 0, on_done, &seen[i]);
	fetcher_free(f); /* never run: every callback still hears of its transfer */
	for (int i = 0; i < 3; i++) {
		assert_int_equal(seen[i].calls, 1);
		assert_string_equal(seen[i].error, "cancelled");
	}
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
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
