/* Unit tests of render's formats: grouped and short counts, cut summaries. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/render.h"
#include "digest/util.h"

static void test_counts(void **state)
{
	(void)state;
	static const struct {
		long long v;
		const char *en, *ru, *en_h, *ru_h;
	} cases[] = {
		{0, "0", "0", "0", "0"},
		{7, "7", "7", "7", "7"},
		{999, "999", "999", "999", "999"},
		{1000, "1,000", "1\xc2\xa0" "000", "1K", "1\xc2\xa0тыс."},
		{2212, "2,212", "2\xc2\xa0" "212", "2.2K", "2,2\xc2\xa0тыс."},
		{12500, "12,500", "12\xc2\xa0" "500", "12K", "12\xc2\xa0тыс."},
		{999999, "999,999", "999\xc2\xa0" "999", "999K", "999\xc2\xa0тыс."},
		{1500000, "1,500,000", "1\xc2\xa0" "500\xc2\xa0" "000", "1.5M", "1,5\xc2\xa0млн"},
		{2000000, "2,000,000", "2\xc2\xa0" "000\xc2\xa0" "000", "2M", "2\xc2\xa0млн"},
		{123456789012LL, "123,456,789,012", "123\xc2\xa0" "456\xc2\xa0" "789\xc2\xa0" "012", "123456M",
		 "123456\xc2\xa0млн"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char out[64];
		render_count(out, sizeof out, cases[i].v, false);
		assert_string_equal(out, cases[i].en);
		render_count(out, sizeof out, cases[i].v, true);
		assert_string_equal(out, cases[i].ru);
		render_count_human(out, sizeof out, cases[i].v, false);
		assert_string_equal(out, cases[i].en_h);
		render_count_human(out, sizeof out, cases[i].v, true);
		assert_string_equal(out, cases[i].ru_h);
	}
	/* A small buffer is never overrun. */
	char tiny[4];
	render_count(tiny, sizeof tiny, 123456789, false);
	assert_true(strlen(tiny) < sizeof tiny);
}

static void test_cut(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int max;
		const char *want;
	} cases[] = {
		{"short", 280, "short"},
		{"one two three", 7, "one two…"},
		{"one two three", 8, "one two…"},
		{"Первое второе третье", 10, "Первое…"},
		{"Слово, другое", 8, "Слово…"},  /* no dangling comma */
		{"averyveryverylongword", 5, "avery…"}, /* no space: cut mid-word */
		{"exact", 5, "exact"},
		{"", 10, ""},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *got = render_cut(cases[i].in, cases[i].max);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	assert_null(render_cut(NULL, 10));
	assert_null(render_cut("x", 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_cut),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
