/* libFuzzer target: form bodies and listen addresses from arbitrary bytes. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/http.h"
#include "digest/util.h"

/* Whether S (LEN bytes) is UTF-8: shortest forms, no surrogates, nothing
 * above U+10FFFF, no C1 control (U+0080..U+009F: C2 80..C2 9F). Written
 * apart from http.c's. */
static bool utf8_ok(const unsigned char *s, size_t len)
{
	for (size_t i = 0; i < len;) {
		unsigned c = s[i];
		size_t n;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF)
			n = 2;
		else if (c >= 0xE0 && c <= 0xEF)
			n = 3;
		else if (c >= 0xF0 && c <= 0xF4)
			n = 4;
		else
			return false;
		if (len - i < n)
			return false;
		for (size_t k = 1; k < n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
		unsigned c1 = s[i + 1];
		if ((c == 0xC2 && c1 <= 0x9F) || (c == 0xE0 && c1 < 0xA0) || (c == 0xED && c1 > 0x9F) || (c == 0xF0 && c1 < 0x90) ||
		    (c == 0xF4 && c1 > 0x8F))
			return false;
		i += n;
	}
	return true;
}

/* The reference decoding of one name or value: into OUT (at least LEN
 * bytes), its length in *N; false when the contract says malformed. */
static bool ref_decode(const unsigned char *s, size_t len, unsigned char *out, size_t *n)
{
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		if (s[i] == '%') {
			if (len - i < 3 || hex_value(s[i + 1]) < 0 || hex_value(s[i + 2]) < 0)
				return false;
			out[o++] = (unsigned char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
			i += 2;
		} else if (s[i] < 0x20 || s[i] == 0x7F) {
			return false; /* raw controls: a browser encodes them */
		} else {
			out[o++] = s[i] == '+' ? ' ' : s[i];
		}
	}
	for (size_t i = 0; i < o; i++)
		if ((out[i] < 0x20 && out[i] != '\t' && out[i] != '\r' && out[i] != '\n') || out[i] == 0x7F)
			return false;
	*n = o;
	return utf8_ok(out, o);
}

/* A field as the reference reads it. */
struct ref_field {
	unsigned char *name, *value;
	size_t nl, vl;
};

/* The reference parse: the fields into F (at most 65), their count, or
 * -1 when malformed. */
static int ref_parse(const uint8_t *data, size_t size, struct ref_field *f, unsigned char *scratch)
{
	int n = 0;
	size_t i = 0;
	while (i < size) {
		const uint8_t *amp = memchr(data + i, '&', size - i);
		size_t fe = amp ? (size_t)(amp - data) : size;
		if (fe == i) {
			i++;
			continue;
		}
		if (n == 64)
			return -1;
		const uint8_t *eq = memchr(data + i, '=', fe - i);
		size_t ne = eq ? (size_t)(eq - data) : fe;
		if (ne == i)
			return -1;
		f[n].name = scratch;
		if (!ref_decode(data + i, ne - i, f[n].name, &f[n].nl))
			return -1;
		scratch += f[n].nl;
		f[n].value = scratch;
		if (eq) {
			if (!ref_decode(data + ne + 1, fe - ne - 1, f[n].value, &f[n].vl))
				return -1;
		} else {
			f[n].vl = 0;
		}
		scratch += f[n].vl;
		n++;
		i = fe + 1;
	}
	return n;
}

static void check_form(const uint8_t *data, size_t size)
{
	struct form f;
	char *err = NULL;
	int rc = form_parse((const char *)data, size, &f, &err);
	struct ref_field ref[65];
	unsigned char *scratch = malloc(size + 1);
	if (!scratch)
		abort();
	int rn = ref_parse(data, size, ref, scratch);
	if ((rc == 0) != (rn >= 0))
		abort(); /* accepted what the contract calls malformed, or the reverse */
	if (rc < 0) {
		if (!err || !*err || f.n != 0 || f.name || f.value)
			abort();
		free(err);
		free(scratch);
		form_free(&f);
		return;
	}
	if (err || f.n != (size_t)rn || f.n > 64)
		abort();
	for (size_t i = 0; i < f.n; i++) {
		size_t nl = strlen(f.name[i]), vl = strlen(f.value[i]);
		/* as long as decoded: no NUL inside */
		if (nl != ref[i].nl || vl != ref[i].vl || nl == 0)
			abort();
		if (memcmp(f.name[i], ref[i].name, nl) != 0 || memcmp(f.value[i], ref[i].value, vl) != 0)
			abort();
		if (!utf8_ok((const unsigned char *)f.name[i], nl) || !utf8_ok((const unsigned char *)f.value[i], vl))
			abort();
		/* form_get: the first of the name; form_count: all of them */
		size_t first = i, count = 0;
		for (size_t j = 0; j < f.n; j++)
			if (!strcmp(f.name[j], f.name[i])) {
				if (j < first)
					first = j;
				count++;
			}
		if (form_get(&f, f.name[i]) != f.value[first] || form_count(&f, f.name[i]) != count)
			abort();
	}
	free(scratch);
	form_free(&f);
	if (f.n || f.name || f.value)
		abort();
}

static void check_listen(const char *s)
{
	char *host = NULL, *err = NULL;
	int port = -1;
	if (listen_parse(s, &host, &port, &err) < 0) {
		if (!err || host)
			abort();
		free(err);
		return;
	}
	if (err || port < 0 || port > 65535)
		abort();
	if (host) {
		if (!*host)
			abort();
		for (const unsigned char *p = (const unsigned char *)host; *p; p++)
			if (*p <= ' ' || *p >= 0x7F || *p == '/' || *p == '@' || *p == '[' || *p == ']')
				abort();
	}
	/* written back, it reads the same */
	char *again = NULL;
	if (asprintf(&again, host && strchr(host, ':') ? "[%s]:%d" : "%s:%d", host ? host : "", port) < 0)
		abort();
	char *h2 = NULL;
	int p2 = -1;
	if (listen_parse(again, &h2, &p2, NULL) < 0 || p2 != port || (h2 == NULL) != (host == NULL) ||
	    (h2 && strcmp(h2, host) != 0))
		abort();
	free(h2);
	free(again);
	free(host);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* The body in a block of exactly its size: a read past it is caught. */
	uint8_t *body = malloc(size ? size : 1);
	if (!body)
		return 0;
	if (size)
		memcpy(body, data, size);
	check_form(body, size);
	free(body);

	char *s = malloc(size + 1);
	if (!s)
		return 0;
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';
	check_listen(s);

	/* the bytes as a rate limiter's key: a table that stays its size,
	 * and a refusal always says when to come back */
	static struct ratelimit *rl;
	static double now;
	if (!rl)
		rl = ratelimit_new(2, 1, 16);
	now += 0.01;
	double retry = -1;
	if (!ratelimit_take(rl, s, now, &retry) && !(retry > 0))
		abort();
	free(s);
	return 0;
}
