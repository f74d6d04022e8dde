/* Unit tests of http: form bodies (good and garbage), listen addresses, rate limits. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/http.h"
#include "digest/util.h"

/* ASan's allocator knows how much is allocated: the rate limiter's table
 * must not grow with the keys it sees. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN_ALLOCATOR 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN_ALLOCATOR 1
#endif
#endif
#ifdef HAVE_ASAN_ALLOCATOR
/* From <sanitizer/allocator_interface.h>, which gcc does not install. */
size_t __sanitizer_get_current_allocated_bytes(void);
#endif

/* ------------------------------------------------------------------ */
/* form_parse                                                          */

/* A body as a literal with its length, so that raw NULs count. */
#define B(s) s, sizeof(s) - 1

/* WHY NULL: must parse into the N (name, value) pairs of KV; else must
 * fail with exactly that reason. */
struct form_row {
	const char *in;
	size_t len;
	const char *why;
	size_t n;
	const char *kv[10];
};

#define BAD_ESC "a bad %-escape"
#define RAW_CTL "a raw control character"
#define CTL "a control character"
#define NUL "a NUL byte"
#define NOT_UTF8 "text that is not UTF-8"
#define NO_NAME "a field without a name"

static const struct form_row form_rows[] = {
	/* the simple and the empty */
	{B(""), NULL, 0, {0}},
	{B("a=1"), NULL, 1, {"a", "1"}},
	{B("a=1&b=2"), NULL, 2, {"a", "1", "b", "2"}},
	{B("email=a%40b.org&name=Ann"), NULL, 2, {"email", "a@b.org", "name", "Ann"}},
	{B("a="), NULL, 1, {"a", ""}},
	{B("a"), NULL, 1, {"a", ""}},                   /* a field without "=" has an empty value */
	{B("a&b=2"), NULL, 2, {"a", "", "b", "2"}},
	{B("a=1=2"), NULL, 1, {"a", "1=2"}},            /* only the first "=" splits */
	{B("a==1"), NULL, 1, {"a", "=1"}},
	{B("&"), NULL, 0, {0}},
	{B("&&"), NULL, 0, {0}},
	{B("&&&&&"), NULL, 0, {0}},
	{B("a=1&&b=2"), NULL, 2, {"a", "1", "b", "2"}}, /* empty fields are skipped */
	{B("&a=1&"), NULL, 1, {"a", "1"}},
	{B("a=1&"), NULL, 1, {"a", "1"}},
	/* "+" and %-escapes */
	{B("a=x+y"), NULL, 1, {"a", "x y"}},
	{B("a+b=c+d"), NULL, 1, {"a b", "c d"}},
	{B("a=+++"), NULL, 1, {"a", "   "}},
	{B("a=%2B"), NULL, 1, {"a", "+"}},              /* an escaped "+" stays a "+" */
	{B("a=%20"), NULL, 1, {"a", " "}},
	{B("a=%26b%3Dc"), NULL, 1, {"a", "&b=c"}},      /* escaped separators are data */
	{B("a%3Db=c"), NULL, 1, {"a=b", "c"}},
	{B("a=%25"), NULL, 1, {"a", "%"}},
	{B("a=%2525"), NULL, 1, {"a", "%25"}},          /* decoded once only */
	{B("a=%41%42%43"), NULL, 1, {"a", "ABC"}},
	{B("a=%d0%b0%D0%B1"), NULL, 1, {"a", "аб"}},   /* hex in either case */
	{B("a=%09%0D%0A"), NULL, 1, {"a", "\t\r\n"}},   /* tab, CR and LF may be typed into a textarea */
	{B("a=%7E%21"), NULL, 1, {"a", "~!"}},
	{B("a=b%"), BAD_ESC, 0, {0}},
	/* bad or truncated %-escapes */
	{B("%"), BAD_ESC, 0, {0}},
	{B("%4"), BAD_ESC, 0, {0}},
	{B("%zz"), BAD_ESC, 0, {0}},
	{B("a=%"), BAD_ESC, 0, {0}},
	{B("a=%4"), BAD_ESC, 0, {0}},
	{B("a=%G1"), BAD_ESC, 0, {0}},
	{B("a=%1G"), BAD_ESC, 0, {0}},
	{B("a=%%41"), BAD_ESC, 0, {0}},
	{B("a=% 1"), BAD_ESC, 0, {0}},
	{B("a=%+1"), BAD_ESC, 0, {0}},
	{B("a=%-1"), BAD_ESC, 0, {0}},
	{B("a=%0x1"), BAD_ESC, 0, {0}},
	{B("a=%4&b=1"), BAD_ESC, 0, {0}},             /* the escape is not completed by the next field */
	{B("a=1&b=%"), BAD_ESC, 0, {0}},              /* good fields before a bad one are dropped */
	{B("a%=1"), BAD_ESC, 0, {0}},
	/* decoded NUL and controls */
	{B("a=%00"), NUL, 0, {0}},
	{B("a=x%00y"), NUL, 0, {0}},
	{B("a%00=1"), NUL, 0, {0}},
	{B("a=%01"), CTL, 0, {0}},
	{B("a=%1B%5B2J"), CTL, 0, {0}},                /* a terminal escape */
	{B("a=%1F"), CTL, 0, {0}},
	{B("a=%7F"), CTL, 0, {0}},
	{B("a=%0B"), CTL, 0, {0}},                     /* vertical tab */
	{B("a=%0C"), CTL, 0, {0}},                     /* form feed */
	/* raw control bytes in the body */
	{B("a=x\0y"), RAW_CTL, 0, {0}},                /* a raw NUL does not cut the body short */
	{B("a=\0"), RAW_CTL, 0, {0}},
	{B("\0=1"), RAW_CTL, 0, {0}},
	{B("a=x\ty"), RAW_CTL, 0, {0}},
	{B("a=x\r\ny"), RAW_CTL, 0, {0}},
	{B("a=\n"), RAW_CTL, 0, {0}},
	{B("a=\x7f"), RAW_CTL, 0, {0}},
	{B("a=\x1b[2J"), RAW_CTL, 0, {0}},
	{B("a\x01=1"), RAW_CTL, 0, {0}},
	/* UTF-8, escaped and raw */
	{B("name=%D0%98%D0%B2%D0%B0%D0%BD+%D0%9F%D0%B5%D1%82%D1%80%D0%BE%D0%B2"), NULL, 1,
	 {"name", "Иван Петров"}},
	{B("name=Иван+Петров"), NULL, 1, {"name", "Иван Петров"}}, /* raw UTF-8 as some clients send */
	{B("%D0%B8%D0%BC%D1%8F=%D1%91%D0%BB%D0%BA%D0%B0"), NULL, 1, {"имя", "ёлка"}},
	{B("a=%E2%82%AC"), NULL, 1, {"a", "€"}},
	{B("a=%F0%9F%98%80"), NULL, 1, {"a", "\xf0\x9f\x98\x80"}}, /* U+1F600, four octets */
	{B("a=%C2%A0"), NULL, 1, {"a", "\xc2\xa0"}},       /* U+00A0: the first two-octet non-control */
	/* C1 controls (U+0080..U+009F) are controls, escaped or raw */
	{B("a=%C2%80"), CTL, 0, {0}},
	{B("a=%C2%85"), CTL, 0, {0}},
	{B("a=%C2%9B"), CTL, 0, {0}},
	{B("a=x\xc2\x9fy"), CTL, 0, {0}},
	{B("a=%DF%BF"), NULL, 1, {"a", "\xdf\xbf"}},       /* U+07FF */
	{B("a=%E0%A0%80"), NULL, 1, {"a", "\xe0\xa0\x80"}}, /* U+0800 */
	{B("a=%ED%9F%BF"), NULL, 1, {"a", "\xed\x9f\xbf"}}, /* U+D7FF: just below the surrogates */
	{B("a=%EE%80%80"), NULL, 1, {"a", "\xee\x80\x80"}}, /* U+E000: just above */
	{B("a=%EF%BF%BF"), NULL, 1, {"a", "\xef\xbf\xbf"}}, /* U+FFFF */
	{B("a=%F0%90%80%80"), NULL, 1, {"a", "\xf0\x90\x80\x80"}}, /* U+10000 */
	{B("a=%F4%8F%BF%BF"), NULL, 1, {"a", "\xf4\x8f\xbf\xbf"}}, /* U+10FFFF: the last */
	{B("a=%C0%AF"), NOT_UTF8, 0, {0}},              /* overlong "/" */
	{B("a=%C0%80"), NOT_UTF8, 0, {0}},              /* overlong NUL */
	{B("a=%C1%BF"), NOT_UTF8, 0, {0}},
	{B("a=%E0%80%AF"), NOT_UTF8, 0, {0}},           /* overlong, three octets */
	{B("a=%E0%9F%BF"), NOT_UTF8, 0, {0}},
	{B("a=%F0%80%80%AF"), NOT_UTF8, 0, {0}},        /* overlong, four octets */
	{B("a=%F0%8F%BF%BF"), NOT_UTF8, 0, {0}},
	{B("a=%ED%A0%80"), NOT_UTF8, 0, {0}},           /* U+D800, a surrogate */
	{B("a=%ED%BF%BF"), NOT_UTF8, 0, {0}},           /* U+DFFF */
	{B("a=%ED%A0%BD%ED%B8%80"), NOT_UTF8, 0, {0}},  /* a CESU-8 surrogate pair */
	{B("a=%F4%90%80%80"), NOT_UTF8, 0, {0}},        /* U+110000 */
	{B("a=%F7%BF%BF%BF"), NOT_UTF8, 0, {0}},
	{B("a=%F8%88%80%80%80"), NOT_UTF8, 0, {0}},     /* five octets */
	{B("a=%FC%84%80%80%80%80"), NOT_UTF8, 0, {0}},  /* six octets */
	{B("a=%80"), NOT_UTF8, 0, {0}},                 /* a lone continuation byte */
	{B("a=x%BFy"), NOT_UTF8, 0, {0}},
	{B("a=%D0%B0%80"), NOT_UTF8, 0, {0}},           /* one continuation too many */
	{B("a=%C3"), NOT_UTF8, 0, {0}},                 /* cut short at the end */
	{B("a=%C3x"), NOT_UTF8, 0, {0}},
	{B("a=%E2%82"), NOT_UTF8, 0, {0}},
	{B("a=%E2%82x"), NOT_UTF8, 0, {0}},
	{B("a=%F0%9F%98"), NOT_UTF8, 0, {0}},
	{B("a=%FE"), NOT_UTF8, 0, {0}},
	{B("a=%FF"), NOT_UTF8, 0, {0}},
	{B("a=\xff"), NOT_UTF8, 0, {0}},                /* raw, unescaped */
	{B("a=\xc0\xaf"), NOT_UTF8, 0, {0}},
	{B("a=\xed\xa0\x80"), NOT_UTF8, 0, {0}},
	{B("%FF=1"), NOT_UTF8, 0, {0}},                 /* names are checked too */
	{B("a=%C3&b=%A9"), NOT_UTF8, 0, {0}},           /* a character is not split over fields */
	/* names */
	{B("=x"), NO_NAME, 0, {0}},
	{B("="), NO_NAME, 0, {0}},
	{B("=="), NO_NAME, 0, {0}},
	{B("a=1&=x"), NO_NAME, 0, {0}},
	{B("a=1&="), NO_NAME, 0, {0}},
	{B("+=x"), NULL, 1, {" ", "x"}}, /* a space is a name */
	/* repeated names keep their order */
	{B("t=1&t=2&t=3"), NULL, 3, {"t", "1", "t", "2", "t", "3"}},
	{B("a=1&b=2&a=3&c&a"), NULL, 5, {"a", "1", "b", "2", "a", "3", "c", "", "a", ""}},
};

static void check_form(const struct form_row *r, size_t i)
{
	struct form f;
	char *err = NULL;
	int rc = form_parse(r->in, r->len, &f, &err);
	if (r->why) {
		if (rc == 0)
			fail_msg("row %zu \"%s\": accepted (%zu fields)", i, r->in, f.n);
		assert_int_equal(rc, -1);
		assert_non_null(err);
		if (strcmp(err, r->why) != 0)
			fail_msg("row %zu \"%s\": reason \"%s\", want \"%s\"", i, r->in, err, r->why);
		/* nothing is left behind */
		assert_int_equal(f.n, 0);
		assert_null(f.name);
		assert_null(f.value);
		free(err);
		/* ERR may be NULL */
		assert_int_equal(form_parse(r->in, r->len, &f, NULL), -1);
		form_free(&f);
		return;
	}
	if (rc != 0)
		fail_msg("row %zu \"%s\": unexpected failure: %s", i, r->in, err);
	assert_null(err);
	if (f.n != r->n)
		fail_msg("row %zu \"%s\": %zu fields, want %zu", i, r->in, f.n, r->n);
	for (size_t k = 0; k < r->n; k++) {
		assert_string_equal(f.name[k], r->kv[2 * k]);
		assert_string_equal(f.value[k], r->kv[2 * k + 1]);
		/* form_get gives the first field of a name */
		const char *first = NULL;
		size_t count = 0;
		for (size_t j = 0; j < r->n; j++)
			if (!strcmp(r->kv[2 * j], r->kv[2 * k])) {
				if (!first)
					first = r->kv[2 * j + 1];
				count++;
			}
		assert_string_equal(form_get(&f, r->kv[2 * k]), first);
		assert_int_equal(form_count(&f, r->kv[2 * k]), count);
	}
	assert_null(form_get(&f, "no-such-name"));
	assert_int_equal(form_count(&f, "no-such-name"), 0);
	form_free(&f);
	assert_int_equal(f.n, 0);
	form_free(&f); /* twice is harmless */
}

static void test_form_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(form_rows); i++)
		check_form(&form_rows[i], i);
	form_free(NULL);
}

/* Only LEN bytes are read: a body need not be NUL-terminated. */
static void test_form_length(void **state)
{
	(void)state;
	struct form f;
	char *err = NULL;
	assert_int_equal(form_parse("a=1&b=2", 3, &f, &err), 0);
	assert_int_equal(f.n, 1);
	assert_string_equal(form_get(&f, "a"), "1");
	assert_null(form_get(&f, "b"));
	form_free(&f);
	/* an escape cut by the length is bad, whatever follows */
	assert_int_equal(form_parse("a=%41", 4, &f, &err), -1);
	assert_string_equal(err, BAD_ESC);
	free(err);
	err = NULL;
	/* a body exactly as long as its bytes, in a heap block of that size */
	char *body = xmalloc(5);
	memcpy(body, "a=%4", 4);
	body[4] = '1';
	assert_int_equal(form_parse(body, 4, &f, &err), -1);
	free(err);
	err = NULL;
	assert_int_equal(form_parse(body, 5, &f, &err), 0);
	assert_string_equal(form_get(&f, "a"), "A");
	form_free(&f);
	free(body);
	/* an empty body, and a zero length over a non-empty one */
	assert_int_equal(form_parse("", 0, &f, &err), 0);
	assert_int_equal(f.n, 0);
	assert_null(form_get(&f, "a"));
	assert_int_equal(form_count(&f, "a"), 0);
	form_free(&f);
	assert_int_equal(form_parse("a=1", 0, &f, &err), 0);
	assert_int_equal(f.n, 0);
	form_free(&f);
	/* an old *ERR is replaced, not leaked */
	err = xstrdup("old");
	assert_int_equal(form_parse("%", 1, &f, &err), -1);
	assert_string_equal(err, BAD_ESC);
	free(err);
}

/* At most 64 fields; empty ones between them do not count. */
static void test_form_fields_limit(void **state)
{
	(void)state;
	for (int n = 60; n <= 70; n++) {
		for (int gaps = 0; gaps < 2; gaps++) {
			struct buf b = {0};
			for (int i = 0; i < n; i++)
				buf_addf(&b, "%sf%d=%d", i ? (gaps ? "&&&" : "&") : "", i, i);
			if (gaps)
				buf_adds(&b, "&&");
			struct form f;
			char *err = NULL;
			int rc = form_parse(b.data, b.len, &f, &err);
			if (n <= 64) {
				if (rc != 0)
					fail_msg("%d fields: %s", n, err);
				assert_int_equal(f.n, (size_t)n);
				assert_string_equal(form_get(&f, "f0"), "0");
				char name[32], want[32];
				snprintf(name, sizeof name, "f%d", n - 1);
				snprintf(want, sizeof want, "%d", n - 1);
				assert_string_equal(form_get(&f, name), want);
				form_free(&f);
			} else {
				assert_int_equal(rc, -1);
				assert_string_equal(err, "more than 64 fields");
				assert_int_equal(f.n, 0);
				free(err);
			}
			buf_free(&b);
		}
	}
	/* 65 times the same name is 65 fields too */
	struct buf b = {0};
	for (int i = 0; i < 64; i++)
		buf_adds(&b, "t=1&");
	struct form f;
	char *err = NULL;
	assert_int_equal(form_parse(b.data, b.len, &f, &err), 0);
	assert_int_equal(form_count(&f, "t"), 64);
	form_free(&f);
	buf_adds(&b, "t");
	assert_int_equal(form_parse(b.data, b.len, &f, &err), -1);
	assert_string_equal(err, "more than 64 fields");
	free(err);
	buf_free(&b);
}

/* Long values: plain, escaped and Cyrillic, and a long name. */
static void test_form_long(void **state)
{
	(void)state;
	enum { N = 200000 };
	struct buf b = {0};
	buf_adds(&b, "email=x%40example.org&text=");
	for (int i = 0; i < N; i++)
		buf_adds(&b, "x");
	buf_adds(&b, "&ru=");
	for (int i = 0; i < N / 10; i++)
		buf_adds(&b, "%D0%AF");
	buf_adds(&b, "&raw=");
	for (int i = 0; i < N / 10; i++)
		buf_adds(&b, "ж");
	buf_adds(&b, "&");
	for (int i = 0; i < 1000; i++)
		buf_adds(&b, "n");
	buf_adds(&b, "=%2B");
	struct form f;
	char *err = NULL;
	assert_int_equal(form_parse(b.data, b.len, &f, &err), 0);
	assert_int_equal(f.n, 5);
	assert_string_equal(form_get(&f, "email"), "x@example.org");
	const char *t = form_get(&f, "text");
	assert_int_equal(strlen(t), N);
	assert_int_equal(strspn(t, "x"), N);
	const char *ru = form_get(&f, "ru");
	assert_int_equal(strlen(ru), 2 * (N / 10));
	for (int i = 0; i < N / 10; i++)
		assert_memory_equal(ru + 2 * i, "Я", 2);
	assert_int_equal(strlen(form_get(&f, "raw")), 2 * (N / 10));
	assert_int_equal(strlen(f.name[4]), 1000);
	assert_string_equal(f.value[4], "+");
	form_free(&f);
	/* one bad byte at the very end of a long value fails the whole form */
	buf_adds(&b, "%FF");
	assert_int_equal(form_parse(b.data, b.len, &f, &err), -1);
	assert_string_equal(err, NOT_UTF8);
	free(err);
	err = NULL;
	b.len -= 3;
	buf_adds(&b, "%0");
	assert_int_equal(form_parse(b.data, b.len, &f, &err), -1);
	assert_string_equal(err, BAD_ESC);
	free(err);
	buf_free(&b);
}

/* Every single escaped byte: what is accepted, and why the rest is not. */
static void test_form_every_byte(void **state)
{
	(void)state;
	for (int c = 0; c < 256; c++) {
		char body[16];
		snprintf(body, sizeof body, "a=%%%02X", c);
		struct form f;
		char *err = NULL;
		int rc = form_parse(body, strlen(body), &f, &err);
		const char *why = c == 0 ? NUL
				  : (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F ? CTL
				  : c >= 0x80 ? NOT_UTF8 /* alone, never a whole character */
					      : NULL;
		if (why) {
			if (rc == 0)
				fail_msg("%%%02X accepted", c);
			assert_string_equal(err, why);
			free(err);
			err = NULL;
		} else {
			if (rc != 0)
				fail_msg("%%%02X: %s", c, err);
			assert_int_equal(f.n, 1);
			assert_int_equal(strlen(f.value[0]), 1);
			assert_int_equal((unsigned char)f.value[0][0], c);
			form_free(&f);
		}
		/* the same byte raw */
		char raw[4] = {'a', '=', (char)c, '\0'};
		rc = form_parse(raw, 3, &f, &err);
		if (c == '%') {
			assert_int_equal(rc, -1);
			assert_string_equal(err, BAD_ESC);
			free(err);
			err = NULL;
		} else if (c < 0x20 || c == 0x7F) {
			assert_int_equal(rc, -1);
			assert_string_equal(err, RAW_CTL);
			free(err);
			err = NULL;
		} else if (c >= 0x80) {
			assert_int_equal(rc, -1);
			assert_string_equal(err, NOT_UTF8);
			free(err);
			err = NULL;
		} else if (c == '&') {
			assert_int_equal(rc, 0);
			assert_int_equal(f.n, 1);
			assert_string_equal(f.value[0], "");
			form_free(&f);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(f.n, 1);
			assert_int_equal(f.value[0][0], c == '+' ? ' ' : c);
			form_free(&f);
		}
	}
}

/* ------------------------------------------------------------------ */
/* listen_parse                                                        */

/* OK false: must fail; else HOST (NULL: every address) and PORT. */
struct listen_row {
	const char *in;
	bool ok;
	const char *host;
	int port;
};

static const struct listen_row listen_rows[] = {
	{"127.0.0.1:8080", true, "127.0.0.1", 8080},
	{"0.0.0.0:80", true, "0.0.0.0", 80},
	{"localhost:8080", true, "localhost", 8080},
	{"news.example.org:443", true, "news.example.org", 443},
	{"[::1]:80", true, "::1", 80},
	{"[::]:8080", true, "::", 8080},
	{"[2001:db8::1]:443", true, "2001:db8::1", 443},
	{"[fe80::1%eth0]:8080", true, "fe80::1%eth0", 8080},
	{":8080", true, NULL, 8080},
	{":0", true, NULL, 0},
	{"host:0", true, "host", 0},
	{"host:1", true, "host", 1},
	{"host:65535", true, "host", 65535},
	{"[::1]:65535", true, "::1", 65535},
	/* ports */
	{"host:65536", false, NULL, 0},
	{"host:99999", false, NULL, 0},
	{"host:123456", false, NULL, 0}, /* six digits */
	{"host:000080", false, NULL, 0},
	{"host:99999999999999999999", false, NULL, 0},
	{"host:abc", false, NULL, 0},
	{"host:80a", false, NULL, 0},
	{"host:8o", false, NULL, 0},
	{"host:-1", false, NULL, 0},
	{"host:+80", false, NULL, 0},
	{"host:0x50", false, NULL, 0},
	{"host:", false, NULL, 0},
	{":", false, NULL, 0},
	{"host: 80", false, NULL, 0},
	{"host:80 ", false, NULL, 0},
	{"host:80\n", false, NULL, 0},
	{"host:8 0", false, NULL, 0},
	{"[::1]:65536", false, NULL, 0},
	{"[::1]:", false, NULL, 0},
	{"[::1]:abc", false, NULL, 0},
	/* shapes */
	{"", false, NULL, 0},
	{"host", false, NULL, 0},
	{"8080", false, NULL, 0},
	{"::1:80", false, NULL, 0},    /* IPv6 without brackets */
	{"::1", false, NULL, 0},
	{"2001:db8::1:443", false, NULL, 0},
	{"a:b:80", false, NULL, 0},
	{"[]:80", false, NULL, 0},
	{"[::1]", false, NULL, 0},
	{"[::1]80", false, NULL, 0},
	{"[::1:80", false, NULL, 0},
	{"[::1]]:80", false, NULL, 0},
	{"[[::1]]:80", false, NULL, 0},
	{"[[::1]:80", false, NULL, 0},
	{"[::1]:80:81", false, NULL, 0},
	{"[ ::1]:80", false, NULL, 0},
	{"[::1 ]:80", false, NULL, 0},
	/* the host's characters */
	{" host:80", false, NULL, 0},
	{"host :80", false, NULL, 0},
	{"ho st:80", false, NULL, 0},
	{"\thost:80", false, NULL, 0},
	{"host\n:80", false, NULL, 0},
	{"user@host:80", false, NULL, 0},
	{"http://host:80", false, NULL, 0},
	{"host/x:80", false, NULL, 0},
	{"ho]st:80", false, NULL, 0},
	{"хост:80", false, NULL, 0},
	{"host\x7f:80", false, NULL, 0},
};

static void test_listen_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(listen_rows); i++) {
		const struct listen_row *r = &listen_rows[i];
		char *host = (char *)"untouched", *err = NULL;
		int port = -7;
		int rc = listen_parse(r->in, &host, &port, &err);
		if (r->ok) {
			if (rc != 0)
				fail_msg("\"%s\": unexpected failure: %s", r->in, err);
			assert_null(err);
			if (r->host) {
				assert_non_null(host);
				assert_string_equal(host, r->host);
			} else if (host) {
				fail_msg("\"%s\": host \"%s\", want every address", r->in, host);
			}
			assert_int_equal(port, r->port);
		} else {
			if (rc == 0)
				fail_msg("\"%s\": accepted as host \"%s\" port %d", r->in, host ? host : "(any)", port);
			assert_int_equal(rc, -1);
			assert_non_null(err);
			assert_true(strlen(err) > 0);
			if (!strchr(r->in, '\n'))
				assert_null(strchr(err, '\n'));
			assert_null(host);
			free(err);
			err = NULL;
			/* ERR may be NULL */
			assert_int_equal(listen_parse(r->in, &host, &port, NULL), -1);
		}
		free(host);
	}
	/* NULL is no address */
	char *host, *err = NULL;
	int port;
	assert_int_equal(listen_parse(NULL, &host, &port, &err), -1);
	assert_null(host);
	assert_non_null(err);
	free(err);
}

/* ------------------------------------------------------------------ */
/* ratelimit                                                           */

static void test_ratelimit_burst(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(3, 10, 64);
	assert_non_null(rl);
	double retry = -1;
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_take(rl, "1.2.3.4", 100, &retry));
	retry = -1;
	assert_false(ratelimit_take(rl, "1.2.3.4", 100, &retry));
	assert_true(retry > 0);
	assert_true(retry <= 10 + 1e-9);
	assert_float_equal(retry, 10, 1e-9);
	/* asking again does not help, and the wait shrinks as time passes */
	assert_false(ratelimit_take(rl, "1.2.3.4", 100, &retry));
	assert_float_equal(retry, 10, 1e-9);
	assert_false(ratelimit_take(rl, "1.2.3.4", 104, &retry));
	assert_float_equal(retry, 6, 1e-9);
	assert_false(ratelimit_take(rl, "1.2.3.4", 109.5, NULL)); /* RETRY_AFTER may be NULL */
	/* one token back after PER seconds: one request, not two */
	assert_true(ratelimit_take(rl, "1.2.3.4", 110, &retry));
	assert_false(ratelimit_take(rl, "1.2.3.4", 110, &retry));
	assert_true(retry > 0);
	/* a long pause refills up to BURST, no more */
	for (int i = 0; i < 3; i++)
		assert_true(ratelimit_take(rl, "1.2.3.4", 100000, &retry));
	assert_false(ratelimit_take(rl, "1.2.3.4", 100000, &retry));
	assert_float_equal(retry, 10, 1e-9);
	/* a clock that goes back refills nothing and breaks nothing */
	assert_false(ratelimit_take(rl, "1.2.3.4", 50, &retry));
	assert_true(retry > 0);
	ratelimit_free(rl);
	ratelimit_free(NULL);
}

static void test_ratelimit_refill(void **state)
{
	(void)state;
	/* 2 at once, then one every 0.5 s */
	struct ratelimit *rl = ratelimit_new(2, 0.5, 16);
	double t = 1000, retry;
	assert_true(ratelimit_take(rl, "k", t, &retry));
	assert_true(ratelimit_take(rl, "k", t, &retry));
	assert_false(ratelimit_take(rl, "k", t, &retry));
	assert_float_equal(retry, 0.5, 1e-9);
	/* a steady rate of one per PER is always allowed */
	for (int i = 1; i <= 100; i++) {
		t = 1000 + 0.5 * i;
		if (!ratelimit_take(rl, "k", t, &retry))
			fail_msg("request %d at %.2f refused (retry %.3f)", i, t, retry);
		assert_false(ratelimit_take(rl, "k", t, &retry));
		assert_true(retry > 0 && retry <= 0.5 + 1e-9);
	}
	/* half a period gives half a token: not enough */
	assert_false(ratelimit_take(rl, "k", t + 0.25, &retry));
	assert_float_equal(retry, 0.25, 1e-9);
	assert_true(ratelimit_take(rl, "k", t + 0.5, &retry));
	ratelimit_free(rl);
}

static void test_ratelimit_keys(void **state)
{
	(void)state;
	struct ratelimit *rl = ratelimit_new(2, 60, 16);
	double retry;
	assert_true(ratelimit_take(rl, "a@x.org", 0, &retry));
	assert_true(ratelimit_take(rl, "a@x.org", 0, &retry));
	assert_false(ratelimit_take(rl, "a@x.org", 0, &retry));
	/* another key has its own bucket, even a similar one */
	assert_true(ratelimit_take(rl, "b@x.org", 0, &retry));
	assert_true(ratelimit_take(rl, "b@x.org", 0, &retry));
	assert_false(ratelimit_take(rl, "b@x.org", 0, &retry));
	assert_true(ratelimit_take(rl, "A@x.org", 0, &retry));
	assert_true(ratelimit_take(rl, "a@x.or", 0, &retry));
	assert_true(ratelimit_take(rl, "", 0, &retry));
	assert_true(ratelimit_take(rl, "", 0, &retry));
	assert_false(ratelimit_take(rl, "", 0, &retry));
	assert_false(ratelimit_take(rl, "a@x.org", 1, &retry));
	ratelimit_free(rl);

	/* two limiters share nothing */
	struct ratelimit *r1 = ratelimit_new(1, 60, 16), *r2 = ratelimit_new(1, 60, 16);
	assert_true(ratelimit_take(r1, "k", 0, &retry));
	assert_false(ratelimit_take(r1, "k", 0, &retry));
	assert_true(ratelimit_take(r2, "k", 0, &retry));
	ratelimit_free(r1);
	ratelimit_free(r2);
}

/* Nonsense parameters are made sane: at least one request, a positive
 * period, at least 16 slots. */
static void test_ratelimit_params(void **state)
{
	(void)state;
	double retry = -1;
	struct ratelimit *rl = ratelimit_new(0, 0, 0);
	assert_true(ratelimit_take(rl, "k", 5, &retry));
	assert_false(ratelimit_take(rl, "k", 5, &retry));
	assert_true(retry > 0);
	/* 16 keys fit however few slots were asked for */
	for (int i = 0; i < 6; i++) {
		char key[32];
		snprintf(key, sizeof key, "other%d", i);
		assert_true(ratelimit_take(rl, key, 5, &retry));
	}
	assert_false(ratelimit_take(rl, "k", 5, &retry));
	ratelimit_free(rl);
	rl = ratelimit_new(-3, -1, 1);
	assert_true(ratelimit_take(rl, "k", 0, &retry));
	assert_false(ratelimit_take(rl, "k", 0, &retry));
	assert_true(retry > 0);
	ratelimit_free(rl);
	/* a fractional burst of 1.5: one now, the half a token does not make two */
	rl = ratelimit_new(1.5, 10, 16);
	assert_true(ratelimit_take(rl, "k", 0, &retry));
	assert_false(ratelimit_take(rl, "k", 0, &retry));
	assert_float_equal(retry, 5, 1e-9);
	ratelimit_free(rl);
}

/* A key refused recently stays refused while a few others come and go:
 * with at most 7 keys in 16 slots, every probe window has a free slot. */
static void test_ratelimit_remembers(void **state)
{
	(void)state;
	for (int round = 0; round < 50; round++) { /* the seed is random: try many */
		struct ratelimit *rl = ratelimit_new(2, 60, 16);
		double retry;
		assert_true(ratelimit_take(rl, "victim", 0, &retry));
		assert_true(ratelimit_take(rl, "victim", 0, &retry));
		assert_false(ratelimit_take(rl, "victim", 0, &retry));
		for (int i = 0; i < 6; i++) {
			char key[32];
			snprintf(key, sizeof key, "10.0.%d.%d", round, i);
			assert_true(ratelimit_take(rl, key, 1 + i, &retry));
			assert_true(ratelimit_take(rl, key, 1 + i, &retry));
			assert_false(ratelimit_take(rl, key, 1 + i, &retry));
		}
		retry = -1;
		if (ratelimit_take(rl, "victim", 10, &retry))
			fail_msg("round %d: the refused key was forgotten after 6 others", round);
		assert_true(retry > 40 && retry <= 60);
		/* and the others are remembered too */
		for (int i = 0; i < 6; i++) {
			char key[32];
			snprintf(key, sizeof key, "10.0.%d.%d", round, i);
			assert_false(ratelimit_take(rl, key, 10, &retry));
		}
		ratelimit_free(rl);
	}
}

/* A flood of distinct keys never grows the table nor crashes; afterwards
 * the limiter still works. */
static void test_ratelimit_flood(void **state)
{
	(void)state;
#ifdef HAVE_ASAN_ALLOCATOR
	size_t empty = __sanitizer_get_current_allocated_bytes();
#endif
	struct ratelimit *rl = ratelimit_new(3, 60, 16);
	double retry;
	assert_true(ratelimit_take(rl, "first", 0, &retry));
#ifdef HAVE_ASAN_ALLOCATOR
	/* 16 small buckets and a header: well under a kilobyte */
	size_t before = __sanitizer_get_current_allocated_bytes();
	assert_true(before - empty < 1024);
#endif
	int refused = 0;
	for (int i = 0; i < 10000; i++) {
		char key[32];
		snprintf(key, sizeof key, "198.51.%d.%d", i / 256, i % 256);
		/* each new key starts with its burst */
		if (!ratelimit_take(rl, key, 1 + i * 0.001, &retry))
			refused++;
		/* every tenth key is hammered: refused after its burst */
		if (i % 10 == 0) {
			assert_true(ratelimit_take(rl, key, 1 + i * 0.001, &retry));
			assert_true(ratelimit_take(rl, key, 1 + i * 0.001, &retry));
			assert_false(ratelimit_take(rl, key, 1 + i * 0.001, &retry));
			assert_true(retry > 0);
		}
	}
	assert_int_equal(refused, 0);
#ifdef HAVE_ASAN_ALLOCATOR
	assert_int_equal(__sanitizer_get_current_allocated_bytes(), before);
#endif
	/* the same keys again, many times over, at one instant */
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 10000; i++) {
			char key[32];
			snprintf(key, sizeof key, "k%d", i);
			ratelimit_take(rl, key, 20, &retry);
		}
#ifdef HAVE_ASAN_ALLOCATOR
	assert_int_equal(__sanitizer_get_current_allocated_bytes(), before);
#endif
	/* still limiting */
	assert_true(ratelimit_take(rl, "late", 30, &retry));
	assert_true(ratelimit_take(rl, "late", 30, &retry));
	assert_true(ratelimit_take(rl, "late", 30, &retry));
	assert_false(ratelimit_take(rl, "late", 30, &retry));
	ratelimit_free(rl);
	/* a big table too */
	rl = ratelimit_new(1, 1, 4096);
	for (int i = 0; i < 10000; i++) {
		char key[32];
		snprintf(key, sizeof key, "%d", i);
		assert_true(ratelimit_take(rl, key, 0, &retry));
	}
	ratelimit_free(rl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_table),
		cmocka_unit_test(test_form_length),
		cmocka_unit_test(test_form_fields_limit),
		cmocka_unit_test(test_form_long),
		cmocka_unit_test(test_form_every_byte),
		cmocka_unit_test(test_listen_table),
		cmocka_unit_test(test_ratelimit_burst),
		cmocka_unit_test(test_ratelimit_refill),
		cmocka_unit_test(test_ratelimit_keys),
		cmocka_unit_test(test_ratelimit_params),
		cmocka_unit_test(test_ratelimit_remembers),
		cmocka_unit_test(test_ratelimit_flood),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
