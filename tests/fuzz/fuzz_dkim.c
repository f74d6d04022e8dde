/* libFuzzer target: DKIM's relaxed canonicalization and the header split
 * of dkim_sign, from arbitrary bytes. Properties: canonicalizing is
 * idempotent, for a body and for a header field (a verifier that
 * canonicalizes what it received must get what was signed); a canonical
 * body is empty or ends in CRLF, has no bare LF, and no blank before a
 * CRLF; dkim_sign over any bytes either fails with a message or succeeds
 * (no crash, no read past the end); signing prepared from another message
 * either refuses (a signed field missing or added) or gives what
 * dkim_sign gives. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "digest/dkim.h"

static struct dkim *signer;
static struct dkim_prep *prep; /* prepared from SAMPLE */
static const char sample[] = "From: a@example.org\r\nTo: b@example.net\r\nSubject: x\r\n"
			     "Date: Tue, 24 Nov 2026 08:00:00 +0300\r\nMessage-ID: <x@example.org>\r\n\r\nx\r\n";

static void fail(const char *what, const struct buf *a, const struct buf *b)
{
	fprintf(stderr, "%s:\n  once  [%.*s]\n  twice [%.*s]\n", what, (int)a->len, a->data ? a->data : "",
		(int)b->len, b->data ? b->data : "");
	abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct buf a = {0}, b = {0};
	dkim_canon_body(&a, s, size);
	dkim_canon_body(&b, a.data ? a.data : "", a.len);
	if (a.len != b.len || (a.len && memcmp(a.data, b.data, a.len)))
		fail("body canonicalization is not idempotent", &a, &b);
	if (a.len && (a.len < 2 || memcmp(a.data + a.len - 2, "\r\n", 2)))
		fail("a canonical body does not end in CRLF", &a, &b);
	for (size_t i = 0; i < a.len; i++) {
		if (a.data[i] == '\n' && (i == 0 || a.data[i - 1] != '\r'))
			fail("a bare LF in a canonical body", &a, &b);
		if (a.data[i] == '\r' && i + 1 < a.len && a.data[i + 1] == '\n' && i > 0 &&
		    (a.data[i - 1] == ' ' || a.data[i - 1] == '\t'))
			fail("a blank before CRLF in a canonical body", &a, &b);
	}
	/* the body hash, made without a copy, is that of the canonical body
	 * (whose lines all go to the hash as they stand) */
	char h1[45], h2[45];
	dkim_body_hash(s, size, h1);
	dkim_body_hash(a.data ? a.data : "", a.len, h2);
	if (strcmp(h1, h2))
		fail("the body hash is not the canonical body's", &a, &b);
	a.len = b.len = 0;
	/* a field: the input up to its first NUL, with a name before a colon */
	size_t n = strnlen(s, size);
	if (memchr(s, ':', n)) {
		dkim_canon_header(&a, s, n);
		dkim_canon_header(&b, a.data, a.len);
		if (a.len != b.len || memcmp(a.data, b.data, a.len))
			fail("header canonicalization is not idempotent", &a, &b);
	}
	buf_free(&a);
	buf_free(&b);

	if (!signer) {
		char path[] = "/tmp/fuzz_dkim.XXXXXX";
		int fd = mkstemp(path);
		if (fd < 0)
			abort();
		close(fd);
		unlink(path);
		char *rec = NULL, *err = NULL;
		if (dkim_keygen("ed25519", path, &rec, &err) < 0)
			abort();
		FILE *f = fopen(path, "rb");
		char pem[4096];
		size_t len = fread(pem, 1, sizeof pem, f);
		fclose(f);
		unlink(path);
		free(rec);
		signer = dkim_new("example.org");
		if (dkim_add_key(signer, "s", pem, len, path, &err) < 0 ||
		    dkim_prepare(signer, sample, sizeof sample - 1, 0, &prep, &err) < 0)
			abort();
	}
	struct buf out = {0};
	char *err = NULL;
	char *copy = malloc(size ? size : 1);
	memcpy(copy, data, size);
	if (dkim_sign(signer, copy, size, 0, &out, &err) < 0) {
		if (!err)
			abort();
		free(err);
		err = NULL;
	} else if (out.len == 0) {
		abort();
	}
	size_t room = dkim_prep_room(prep);
	char *mine = malloc(room);
	if (dkim_prep_sign(prep, mine, copy, size, &err) < 0) {
		if (!err)
			abort();
		free(err);
		err = NULL;
	} else if (out.len != room || memcmp(out.data, mine, room)) {
		fprintf(stderr, "prepared:\n%.*s\nalone:\n%.*s\n", (int)room, mine, (int)out.len,
			out.data ? out.data : "");
		abort();
	}
	free(mine);
	free(copy);
	buf_free(&out);
	return 0;
}
