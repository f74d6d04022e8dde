/* libFuzzer target: counts, numbers and dates from arbitrary bytes. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		setenv("TZ", "Europe/Moscow", 1);
		tzset();
		once = 1;
	}
	/* The first byte picks a format for parse_date, the rest is the text. */
	static const char *const fmts[] = {NULL, "%d.%m.%Y %H:%M", "%Y-%m-%dT%H:%M:%S%z", "%H:%M", "%s"};
	const char *fmt = size ? fmts[data[0] % 5] : NULL;
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	long long c;
	double d;
	time_t t;
	parse_count(s, &c);
	parse_number(s, &d);
	parse_date(s, fmt, (time_t)1795000000, &t);
	parse_date(s + (size ? 1 : 0), NULL, (time_t)1795000000, &t);
	/* and with a source's order and language: the first byte again */
	static const char *const langs[] = {NULL, "de", "ru", "fr", "cs"};
	static const char *const word_fmts[] = {NULL, "%d. %B %Y", "%A %d de %B de %Y", "%d %b. %Y %H:%M", "%%B %d"};
	const struct date_rules rules = {size ? word_fmts[data[0] / 5 % 5] : NULL,
					 size && (data[0] & 0x80) ? PARSE_MDY : PARSE_DMY, size ? langs[data[0] / 25 % 5] : NULL};
	parse_date_rules(s + (size ? 1 : 0), &rules, (time_t)1795000000, &t);
	free(s);
	return 0;
}
