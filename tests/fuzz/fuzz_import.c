/* libFuzzer target: subscriber lists (in every charset and separator an
 * import takes), header cells and addresses from arbitrary bytes. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/log.h"
#include "digest/subscriber.h"
#include "digest/util.h"

static unsigned long records;

/* What a record promises: a normalized address, a clean name, a status. */
static int check_record(void *ctx, const struct sub_record *r)
{
	(void)ctx;
	records++;
	if (r->has_status && (unsigned)r->status > SUB_BOUNCING)
		abort();
	char *again = address_normalize(r->email, NULL);
	if (!again || strcmp(again, r->email) != 0)
		abort();
	free(again);
	if (r->name && (strlen(r->name) > NAME_MAX_BYTES || !*r->name))
		abort();
	if (r->line < 1)
		abort();
	return 0;
}

static const char *want_name;
static int name_seen;

static int check_name(void *ctx, const struct sub_record *r)
{
	(void)ctx;
	name_seen++;
	if ((want_name == NULL) != (r->name == NULL) || (want_name && strcmp(want_name, r->name) != 0))
		abort();
	return 0;
}

/* Whether S is well-formed UTF-8 (a real U+FFFD is three octets). */
static bool valid_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		size_t n;
		if (utf8_decode(p, &n) == 0xFFFD && n == 1)
			return false;
		p += n;
	}
	return true;
}

/* The text S written by csv_field as a name and read back by import_read
 * is what name_clean makes of it: quoting loses nothing. Text that is not
 * UTF-8 is refused whole. */
static void csv_roundtrip(const char *s, const char *cleaned)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	if (!f)
		return;
	fputs("email,name\nx@example.com,", f);
	csv_field(f, s);
	fputs("\n", f);
	fclose(f);
	f = fmemopen(text, len, "r");
	if (f) {
		unsigned long bad = 0;
		want_name = cleaned;
		name_seen = 0;
		int rc = import_read(f, "fuzz", NULL, check_name, NULL, &bad, NULL);
		/* the record is read, or (when over 64 KiB) one bad line, skipped */
		bool long_record = len > strlen("email,name\n") + 64 * 1024;
		if (!valid_utf8(s)) {
			if (rc != IMPORT_EDATA || name_seen || bad)
				abort();
		} else if (rc != 0 || !((bad == 0 && name_seen == 1) || (long_record && bad == 1 && name_seen == 0))) {
			abort();
		}
		fclose(f);
	}
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		log_set_level(LOG_QUIET); /* every bad line would print */
		once = 1;
	}
	/* the first byte picks the options: a charset (or none) and a
	 * separator (or none); the rest is the file */
	static const char *const encodings[] = {NULL, "windows-1251", "KOI8-R", "UTF-16", "UTF-16LE", "UTF-8"};
	static const char delimiters[] = {0, ',', ';', '\t'};
	if (size > 1) {
		struct import_opts o = {.encoding = encodings[data[0] % 6], .delimiter = delimiters[data[0] / 6 % 4]};
		FILE *f = fmemopen((void *)(data + 1), size - 1, "r");
		if (f) {
			unsigned long bad = 0;
			char *err = NULL;
			records = 0;
			int rc = import_read(f, "fuzz", &o, check_record, NULL, &bad, &err);
			/* refused text hands nothing on, and says where */
			if (rc == IMPORT_EDATA && (records || bad || !err || strncmp(err, "fuzz:", 5) != 0))
				abort();
			if (rc != 0 && rc != IMPORT_EDATA)
				abort();
			if (rc == 0 && err)
				abort();
			free(err);
			fclose(f);
		}
	}

	/* The whole input as one address: what is accepted normalizes to itself. */
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	char *err = NULL;
	char *a = address_normalize(s, &err);
	if (a) {
		char *b = address_normalize(a, NULL);
		if (!b || strcmp(a, b) != 0 || strlen(a) > ADDRESS_MAX)
			abort();
		free(b);
	} else if (!err) {
		abort();
	}
	free(a);
	free(err);
	/* a header cell: a role, or none */
	enum import_role role = import_column_role(s);
	if (role < IMPORT_COL_NONE || role >= IMPORT_COL_ROLES)
		abort();
	enum sub_status st;
	if (import_status_parse(s, &st) == 0 && (unsigned)st > SUB_BOUNCING)
		abort();
	char *n = name_clean(s);
	if (n && strlen(n) > NAME_MAX_BYTES)
		abort();
	csv_roundtrip(s, n);
	free(n);
	free(s);
	return 0;
}
