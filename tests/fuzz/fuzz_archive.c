/* libFuzzer target: what an archive request says (the date in the path,
 * the page number, If-None-Match, If-Modified-Since) from arbitrary
 * bytes, with the properties each accepted value must have. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest/archive.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char out[11];
	if (archive_date_parse((const char *)data, size, out) == 0) {
		/* accepted: ten bytes, the same, a real day */
		if (size != 10 || memcmp(out, data, 10) || out[10])
			abort();
		struct tm tm = {0};
		tm.tm_year = atoi(out) - 1900;
		tm.tm_mon = atoi(out + 5) - 1;
		tm.tm_mday = atoi(out + 8);
		time_t t = timegm(&tm);
		struct tm back;
		gmtime_r(&t, &back);
		if (back.tm_mday != tm.tm_mday || back.tm_mon != atoi(out + 5) - 1)
			abort();
	}
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	int page = archive_page_parse(s);
	if (page != -1 && (page < 1 || page > ARCHIVE_PAGE_MAX || atoi(s) != page))
		abort();
	long long t = archive_http_date_parse(s);
	if (t != -1 && (t < 0 || strlen(s) != 29))
		abort();
	struct archive_doc d = {.mtime = 1700000000};
	snprintf(d.etag, sizeof d.etag, "\"0123456789abcdef\"");
	/* the two headers from one input, split at its first newline */
	char *nl = strchr(s, '\n');
	if (nl)
		*nl = '\0';
	(void)archive_not_modified(&d, s, nl ? nl + 1 : NULL);
	(void)archive_not_modified(&d, NULL, s);
	free(s);
	return 0;
}
