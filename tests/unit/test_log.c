/* Unit tests of log: the address mask with garbage, the time stamp, and
 * that a server's lines carry the time and events show by default. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/log.h"
#include "digest/util.h"

static void test_mask(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"jane@example.org", "j***@example.org"},
		{"Jane.Doe+news@Example.ORG", "J***@Example.ORG"},
		{"j@x.org", "j***@x.org"},
		/* the last "@" splits: a quoted local part may hold one */
		{"\"a@b\"@example.org", "a***@example.org"},
		{"\"\"@example.org", "?***@example.org"},
		/* UTF-8: a whole first character, an IDN domain as given */
		{"жанна@почта.рф", "ж***@почта.рф"},
		{"ñandú@xn--80a1acny.xn--p1ai", "ñ***@xn--80a1acny.xn--p1ai"},
		{"😀x@example.org", "😀***@example.org"},
		/* garbage */
		{NULL, "(empty)"},
		{"", "(empty)"},
		{"no-at-sign", "***"},
		{"@example.org", "***"},
		{"jane@", "***"},
		{"@", "***"},
		{"\xff\xfe@example.org", "?***@example.org"},
		{"\xc3@example.org", "?***@example.org"},         /* a character cut short */
		{"\xe0\x80\x80x@example.org", "?***@example.org"}, /* overlong */
		{"\xed\xa0\x80x@example.org", "?***@example.org"}, /* a surrogate */
		{"\x01x@example.org", "?***@example.org"},
		{"\xc2\x85x@example.org", "?***@example.org"}, /* C1 NEL */
		{"a@exa\nmple.org", "a***@exa?mple.org"},
		{"a@exa mple\x7f.org", "a***@exa?mple?.org"},
		{"a@\xd0\xbf\xd0", "a***@п?"},
		{"a@b@c", "a***@c"},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char out[LOG_MASK_MAX];
		log_mask_address(cases[i].in, out, sizeof out);
		if (strcmp(out, cases[i].want))
			fail_msg("case %zu: [%s] -> [%s], want [%s]", i, cases[i].in ? cases[i].in : "(null)", out,
				 cases[i].want);
	}
}

/* A long domain is cut at a character boundary, the line never longer
 * than the buffer; the local part never shows beyond its first letter. */
static void test_mask_long(void **state)
{
	(void)state;
	struct buf b = {0};
	buf_adds(&b, "secretlocalpart@");
	for (int i = 0; i < 300; i++)
		buf_adds(&b, "д");
	buf_adds(&b, ".рф");
	char out[LOG_MASK_MAX];
	log_mask_address(b.data, out, sizeof out);
	assert_true(strlen(out) < LOG_MASK_MAX);
	assert_null(strstr(out, "secret"));
	assert_true(!strncmp(out, "s***@дд", strlen("s***@дд")));
	size_t n = strlen(out);
	assert_true(n > 3 && !strcmp(out + n - 3, "…"));
	/* whole characters only: the part before the mark is valid UTF-8 */
	for (size_t i = 5; i < n - 3; i += 2)
		assert_true((unsigned char)out[i] == 0xD0 && (unsigned char)out[i + 1] == 0xB4);
	/* a buffer too small gets nothing rather than part of an address */
	char small[8] = "xxxxxxx";
	log_mask_address("jane@example.org", small, sizeof small);
	assert_string_equal(small, "");
	buf_free(&b);
}

static void test_time(void **state)
{
	(void)state;
	setenv("TZ", "Europe/Moscow", 1);
	tzset();
	char t[LOG_TIME_LEN + 1];
	log_time(1764688661, t); /* 2025-12-02 15:17:41 UTC */
	assert_string_equal(t, "2025-12-02T18:17:41+03:00");
	setenv("TZ", "UTC", 1);
	tzset();
	log_time(0, t);
	assert_string_equal(t, "1970-01-01T00:00:00+00:00");
	setenv("TZ", "Asia/Kolkata", 1);
	tzset();
	log_time(0, t);
	assert_string_equal(t, "1970-01-01T05:30:00+05:30");
}

/* What the log functions write to stderr, as a string (malloc'd). */
static char *captured(void (*fn)(void))
{
	char path[] = "/tmp/digest-log-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	fflush(stderr);
	int saved = dup(2);
	dup2(fd, 2);
	fn();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	off_t len = lseek(fd, 0, SEEK_END);
	assert_true(len >= 0);
	char *data = xmalloc((size_t)len + 1);
	assert_int_equal(pread(fd, data, (size_t)len, 0), len);
	data[len] = '\0';
	close(fd);
	unlink(path);
	return data;
}

static void say(void)
{
	log_event("serve: subscribe request from %s: %s", "127.0.0.1", "j***@example.org");
	log_info("an info line");
}

static void test_server_lines(void **state)
{
	(void)state;
	setenv("TZ", "UTC", 1);
	tzset();
	log_set_level(LOG_WARN);
	/* a one-shot command: events are info lines, hidden by default */
	log_set_server(false);
	char *out = captured(say);
	assert_string_equal(out, "");
	free(out);
	/* a server: shown at the default level, after the time */
	log_set_server(true);
	out = captured(say);
	int y, mo, d, h, mi, s;
	char rest[200];
	assert_int_equal(sscanf(out, "digest: %4d-%2d-%2dT%2d:%2d:%2d+00:00 %199[^\n]", &y, &mo, &d, &h, &mi, &s, rest),
			 7);
	assert_string_equal(rest, "serve: subscribe request from 127.0.0.1: j***@example.org");
	assert_null(strstr(out, "an info line"));
	free(out);
	/* -q: nothing but errors */
	log_set_level(LOG_QUIET);
	out = captured(say);
	assert_string_equal(out, "");
	free(out);
	log_set_level(LOG_WARN);
	log_set_server(false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_mask),
		cmocka_unit_test(test_mask_long),
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_server_lines),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
