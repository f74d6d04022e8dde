/* Unit tests of textwrap: widths in characters, long words, indentation, list markers, line ends. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/textwrap.h"

struct row {
	const char *in;
	int width;
	const char *want;
};

static void test_wrap(void **state)
{
	(void)state;
	static const struct row rows[] = {
		{"", 72, ""},
		{"\n", 72, "\n"},
		{"short line\n", 72, "short line\n"},
		{"a b c d e f\n", 5, "a b c\nd e f\n"},
		/* the width exactly reached is not exceeded */
		{"abcde fghij\n", 11, "abcde fghij\n"},
		{"abcde fghij\n", 10, "abcde\nfghij\n"},
		{"12345", 5, "12345"},
		{"12345 6", 5, "12345\n6"},
		{"1234 67890", 5, "1234\n67890"},
		/* characters, not bytes: 10 letters are 10 columns (19 bytes) */
		{"Привет мир\n", 10, "Привет мир\n"},
		{"Привет мир\n", 9, "Привет\nмир\n"},
		{"Российская 9М333 стремительно настигла цель\n", 20,
		 "Российская 9М333\nстремительно\nнастигла цель\n"},
		{"«Батяр» ёлка\n", 12, "«Батяр» ёлка\n"},
		{"e\xcc\x81te\xcc\x81 x\n", 6, "e\xcc\x81te\xcc\x81 x\n"}, /* combining marks: zero columns */
		/* a word longer than the width stands alone, unbroken */
		{"see https://example.com/a/very/long/path?x=1 now\n", 20,
		 "see\nhttps://example.com/a/very/long/path?x=1\nnow\n"},
		{"https://example.com/long/long/long x", 10, "https://example.com/long/long/long\nx"},
		{"a https://example.com/long", 10, "a\nhttps://example.com/long"},
		{"https://example.com/x https://example.com/y", 10, "https://example.com/x\nhttps://example.com/y"},
		/* indentation is kept on continuation lines */
		{"    aaa bbb ccc ddd\n", 12, "    aaa bbb\n    ccc ddd\n"},
		{"\taaa bbb\n", 5, "\taaa\n\tbbb\n"}, /* a tab is one column, kept as a tab */
		{"   https://example.com/long x\n", 10, "   https://example.com/long\n   x\n"},
		/* list markers: continuation lines align with the text after them */
		{"1. aaa bbb ccc\n", 10, "1. aaa bbb\n   ccc\n"},
		{"12. aaa bbb ccc\n", 11, "12. aaa bbb\n    ccc\n"},
		{"- aaa bbb ccc\n", 9, "- aaa bbb\n  ccc\n"},
		{"* aaa bbb ccc\n", 9, "* aaa bbb\n  ccc\n"},
		{"• ааа ббб ввв\n", 9, "• ааа ббб\n  ввв\n"},
		{"  - aaa bbb ccc\n", 11, "  - aaa bbb\n    ccc\n"},
		{"-  aaa bbb ccc\n", 10, "-  aaa bbb\n   ccc\n"},
		{"- https://example.com/long b\n", 10, "- https://example.com/long\n  b\n"},
		{"1. Российская 9М333 стремительно настигла\n", 20, "1. Российская 9М333\n   стремительно\n   настигла\n"},
		/* not list markers */
		{"1.5 million people came\n", 11, "1.5 million\npeople came\n"},
		{"-5 degrees at night\n", 10, "-5 degrees\nat night\n"},
		{"--- aaa bbb\n", 7, "--- aaa\nbbb\n"},
		{"1.aaa bbb\n", 5, "1.aaa\nbbb\n"},
		/* a marker with no room after it: continuation at the indentation */
		{"  1234567. aa bb\n", 10, "  1234567. aa\n  bb\n"},
		/* trailing spaces go, those at a break too */
		{"abc   \n", 72, "abc\n"},
		{"abc \t \n", 72, "abc\n"},
		{"aaa bbb   \n", 3, "aaa\nbbb\n"},
		{"aaa     bbb", 5, "aaa\nbbb"},
		{"a  b. C", 10, "a  b. C"}, /* inner runs of spaces stay when not broken */
		{"aa  bb  cc", 6, "aa  bb\ncc"},
		{"   \n", 72, "\n"},
		{"abc\r\n", 72, "abc\n"},
		/* except in the signature separator */
		{"-- \nsig\n", 72, "-- \nsig\n"},
		{"--   \n", 72, "-- \n"},
		{"--\n", 72, "--\n"},
		{" -- \n", 72, " --\n"},
		/* empty lines stay, text after the last line end is wrapped too */
		{"a\n\nb\n", 72, "a\n\nb\n"},
		{"\n\n\n", 1, "\n\n\n"},
		{"aaa bbb", 3, "aaa\nbbb"},
		{"one\ntwo three four", 9, "one\ntwo three\nfour"},
		/* no width: nothing wrapped, trailing spaces still dropped */
		{"aaa bbb ccc  \n", 0, "aaa bbb ccc\n"},
		{"aaa bbb", -1, "aaa bbb"},
		{"aaa bbb", 1, "aaa\nbbb"},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct buf b = {0};
		text_wrap(&b, rows[i].in, strlen(rows[i].in), rows[i].width);
		assert_non_null(b.data);
		if (strcmp(b.data, rows[i].want) != 0)
			fail_msg("row %zu: [%s] at %d\n got: [%s]\nwant: [%s]", i, rows[i].in, rows[i].width, b.data,
				 rows[i].want);
		buf_free(&b);
	}
}

static void test_append(void **state)
{
	(void)state;
	struct buf b = {0};
	buf_adds(&b, "head\n");
	text_wrap(&b, "aaa bbb\nccc", 11, 3);
	text_wrap(&b, "", 0, 3);
	text_wrap(&b, "x y z", 3, 3); /* LEN bytes only */
	assert_string_equal(b.data, "head\naaa\nbbb\ncccx y");
	buf_free(&b);
	/* exactly LEN bytes are read: no peeking past "--" for a space */
	char *dash = malloc(2);
	assert_non_null(dash);
	memcpy(dash, "--", 2);
	text_wrap(&b, dash, 2, 72);
	assert_string_equal(b.data, "--");
	free(dash);
	buf_free(&b);
}

/* A small deterministic generator: the same inputs on every run. */
static uint32_t rng = 88172645u;
static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* LINE after its indentation and a list marker, if any. */
static const char *skip_marker(const char *line)
{
	const char *s = line + strspn(line, " \t");
	const char *m = s;
	if (*m == '-' || *m == '*')
		m++;
	else if (strncmp(m, "\xe2\x80\xa2", 3) == 0)
		m += 3;
	else if (*m >= '0' && *m <= '9' && m[strspn(m, "0123456789")] == '.')
		m += strspn(m, "0123456789") + 1;
	if (m == s || *m != ' ')
		return s;
	return m + strspn(m, " ");
}

/* Invariants on random text: no line wider than the width unless it holds
 * a single word; the words, in order, are those of the input. */
static void test_random(void **state)
{
	(void)state;
	static const char *const words[] = {"a", "и", "news", "Новости", "дня", "9М333", "«Батяр»", "—", "2 212",
					    "https://example.com/a/b/c/d/e/f?g=h", "e\xcc\x81t\xc3\xa9", "1.", "-"};
	for (int round = 0; round < 2000; round++) {
		struct buf in = {0}, want = {0};
		int n = (int)(next_rand() % 30);
		for (int i = 0; i < n; i++) {
			const char *w = words[next_rand() % ARRAY_LEN(words)];
			if (i)
				buf_adds(&in, next_rand() % 5 ? " " : "  ");
			buf_adds(&in, w);
			buf_adds(&want, w);
			buf_adds(&want, " ");
		}
		int width = 1 + (int)(next_rand() % 40);
		struct buf out = {0};
		text_wrap(&out, in.data ? in.data : "", in.len, width);
		/* check each output line */
		struct buf got = {0};
		char *save = NULL;
		for (char *line = strtok_r(out.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
			size_t len = strlen(line);
			assert_true(len == 0 || line[len - 1] != ' ');
			bool one_word = strchr(skip_marker(line), ' ') == NULL;
			if (utf8_width(line) > (size_t)width && !one_word)
				fail_msg("width %d: [%s] from [%s]", width, line, in.data);
			char *ws = NULL;
			for (char *w = strtok_r(line, " ", &ws); w; w = strtok_r(NULL, " ", &ws)) {
				buf_adds(&got, w);
				buf_adds(&got, " ");
			}
		}
		/* "2 212" is two words to the check, and to the wrapper */
		assert_string_equal(got.data ? got.data : "", want.data ? want.data : "");
		buf_free(&in);
		buf_free(&want);
		buf_free(&out);
		buf_free(&got);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_append),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
