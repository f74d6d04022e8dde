/* Unit tests of util: whitespace collapsing, display width, paths. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/util.h"

static void test_collapse(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"  a  b  ", "a b"},
		{"\t\na\r\n\tb\f\v", "a b"},
		{"2\xc2\xa0" "212", "2 212"},             /* NBSP */
		{"2\xe2\x80\xaf" "212", "2 212"},         /* narrow NBSP */
		{"a\xe2\x80\x89\xe2\x80\x8a" "b", "a b"}, /* thin and hair spaces */
		{"\xe3\x80\x80x", "x"},                   /* ideographic space */
		{"Новости дня", "Новости дня"},
		{"", ""},
		{"   ", ""},
		{"a\x1b[31mred\x07\x7f", "a[31mred"},      /* C0 controls and DEL dropped */
		{"x\xc2\x9b" "31my", "x31my"},               /* C1 CSI dropped */
		{"\x01\x02 a \x03", "a"},
		{"abc\xe2\x80\xae" "def\xe2\x80\xac", "abcdef"},      /* RLO, PDF */
		{"x\xe2\x81\xa6y\xe2\x81\xa9", "xy"},              /* LRI, PDI */
		{"\xe2\x80\x94 dash", "\xe2\x80\x94 dash"},        /* an em dash stays */
		{"\xc2", "\xc2"},       /* a truncated sequence is kept, not overrun */
		{"\xe2\x80", "\xe2\x80"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *s = xstrdup(cases[i].in);
		assert_string_equal(str_collapse_ws(s), cases[i].want);
		free(s);
	}
}

static void test_width(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t want;
	} cases[] = {
		{"", 0}, {"abc", 3}, {"Новости", 7}, {"«Батяр»", 7}, {"e\xcc\x81", 1}, {"\xff\xfe", 2}, {"日本", 2},
		{"a\xcc", 2}, {"a\xcd", 2}, /* a truncated mark at the end: no read past the NUL */
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_int_equal(utf8_width(cases[i].in), cases[i].want);
}

static void test_paths(void **state)
{
	(void)state;
	static const struct {
		const char *dir, *path, *want;
	} resolve[] = {
		{"/etc/digest", "var/db", "/etc/digest/var/db"},
		{"/etc/digest", "/abs/db", "/abs/db"},
		{".", "x", "./x"},
		{"", "x", "x"},
	};
	for (size_t i = 0; i < ARRAY_LEN(resolve); i++) {
		char *p = path_resolve(resolve[i].dir, resolve[i].path);
		assert_string_equal(p, resolve[i].want);
		free(p);
	}
	static const struct {
		const char *path, *want;
	} dirs[] = {{"/etc/digest/digest.conf", "/etc/digest"}, {"digest.conf", "."}, {"/digest.conf", "/"},
		    {"a/b/", "a/b"}};
	for (size_t i = 0; i < ARRAY_LEN(dirs); i++) {
		char *p = path_dir(dirs[i].path);
		assert_string_equal(p, dirs[i].want);
		free(p);
	}
}

static void test_buf(void **state)
{
	(void)state;
	struct buf b = {0};
	for (int i = 0; i < 1000; i++)
		buf_addf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_memory_equal(b.data, "0,1,2,", 6);
	buf_add(&b, "\0x", 2);
	assert_int_equal(b.len, strlen(b.data) + 2);
	buf_free(&b);
	assert_null(b.data);
	char *err = NULL;
	assert_int_equal(errf(&err, "a %d", 1), -1);
	assert_int_equal(errf(&err, "b %s", "x"), -1);
	assert_string_equal(err, "b x");
	free(err);
	assert_int_equal(errf(NULL, "ignored"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_collapse),
		cmocka_unit_test(test_width),
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_buf),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
