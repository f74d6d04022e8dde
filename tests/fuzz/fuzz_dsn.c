/* libFuzzer target: any bytes as a message that came back; the result's
 * strings stay terminated and within their fields, the kind is a kind,
 * a token found has the shape of one, and no part of it reads past the
 * input. Seed it with tests/fixtures/inbound/. */
#define _GNU_SOURCE
#include <assert.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest/dsn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy: ASan sees any read past the end */
	char *m = malloc(size ? size : 1);
	if (!m)
		return 0;
	memcpy(m, data, size);
	struct dsn_result r;
	if (dsn_classify(m, size, "digest", &r) == 0) {
		assert(r.kind >= 0 && r.kind < DSN_KINDS);
		assert(memchr(r.recipient, 0, sizeof r.recipient));
		assert(memchr(r.status, 0, sizeof r.status));
		assert(memchr(r.diagnostic, 0, sizeof r.diagnostic));
		assert(memchr(r.message_id, 0, sizeof r.message_id));
		assert(memchr(r.token, 0, sizeof r.token));
		assert(r.token_kind == 0 || r.token_kind == 'b' || r.token_kind == 'u');
		for (const char *t = r.token; *t; t++)
			assert(isalnum((unsigned char)*t));
		assert(r.token_kind == 0 || r.token[0]);
	}
	free(m);
	return 0;
}
