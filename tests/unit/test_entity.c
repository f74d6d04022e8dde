/* Unit tests of entity: HTML's named character references, the whole WHATWG table. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "digest/entity.h"

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* NAME is looked up by its first LEN bytes (-1: all of it); N code points. */
static void test_lookup(void **state)
{
	static const struct {
		const char *name;
		int len, n;
		uint32_t cp0, cp1;
	} rows[] = {
		{"amp", -1, 1, 0x26, 0},
		{"AMP", -1, 1, 0x26, 0},
		{"nbsp", -1, 1, 0xA0, 0},
		{"hellip", -1, 1, 0x2026, 0},
		{"rsquo", -1, 1, 0x2019, 0},
		{"apos", -1, 1, 0x27, 0},
		{"check", -1, 1, 0x2713, 0},
		{"bigstar", -1, 1, 0x2605, 0},
		{"NewLine", -1, 1, 0x0A, 0},
		{"Tab", -1, 1, 0x09, 0},
		{"NotEqualTilde", -1, 2, 0x2242, 0x338},
		{"CounterClockwiseContourIntegral", -1, 1, 0x2233, 0},
		{"AElig", -1, 1, 0xC6, 0},   /* the table's first name */
		{"zwnj", -1, 1, 0x200C, 0},  /* and its last */
		{"fjlig", -1, 2, 0x66, 0x6A},
		{"checkmark", 5, 1, 0x2713, 0}, /* LEN bounds the name */
		/* names HTML does not have */
		{"Check", -1, 0, 0, 0},
		{"CHECK", -1, 0, 0, 0},
		{"chec", -1, 0, 0, 0},
		{"checkx", -1, 0, 0, 0},
		{"", -1, 0, 0, 0},
		{"a", -1, 0, 0, 0},
		{"AAAA", -1, 0, 0, 0},
		{"zzzz", -1, 0, 0, 0},
		{"amp;", -1, 0, 0, 0},
		{"CounterClockwiseContourIntegralX", -1, 0, 0, 0},
	};
	(void)state;
	int bad = 0;
	for (size_t i = 0; i < COUNT(rows); i++) {
		uint32_t cp[2] = {0xFFFFFFFF, 0xFFFFFFFF};
		size_t len = rows[i].len < 0 ? strlen(rows[i].name) : (size_t)rows[i].len;
		int n = entity_lookup(rows[i].name, len, cp);
		if (n != rows[i].n || (n >= 1 && cp[0] != rows[i].cp0) || (n == 2 && cp[1] != rows[i].cp1)) {
			print_error("row %zu: entity_lookup(\"%.*s\") = %d (U+%04X U+%04X); want %d\n", i, (int)len,
				    rows[i].name, n, cp[0], cp[1], rows[i].n);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* The generated table: the WHATWG list has 2125 names written with their
 * semicolon; sorted, or the lookup would miss some; every one found. */
static void test_table(void **state)
{
	(void)state;
	assert_true(entity_count >= 2125);
	for (size_t i = 0; i < entity_count; i++) {
		uint32_t cp[2];
		if (i > 0 && strcmp(entity_table[i - 1].name, entity_table[i].name) >= 0)
			fail_msg("not sorted at %s", entity_table[i].name);
		if (entity_lookup(entity_table[i].name, strlen(entity_table[i].name), cp) == 0 ||
		    cp[0] != entity_table[i].cp[0])
			fail_msg("%s not found", entity_table[i].name);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
