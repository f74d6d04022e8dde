/* libFuzzer target: URL resolution and normalization from arbitrary bytes.
 * Property: normalizing is idempotent, normalize(normalize(x)) ==
 * normalize(x), for every input, raw or resolved: a stored URL must merge
 * with the same link found again. */
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/url.h"

/* Aborts unless normalizing U's normal form gives it back. */
static void check_idempotent(const char *u)
{
	char *n = url_normalize(u);
	if (!n)
		return;
	char *n2 = url_normalize(n);
	if (!n2 || strcmp(n, n2) != 0) {
		fprintf(stderr, "not idempotent:\n  input  %s\n  once   %s\n  twice  %s\n", u, n,
			n2 ? n2 : "(refused)");
		abort();
	}
	free(n2);
	free(n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		once = 1;
	}
	/* Split at the first NUL: base, then reference. */
	char *s = malloc(size + 2);
	if (!s)
		return 0;
	if (size)
		memcpy(s, data, size);
	s[size] = s[size + 1] = '\0';
	const char *base = s, *ref = s + strlen(s) + 1;
	if (ref > s + size)
		ref = "";
	char *r = url_resolve(*base ? base : "https://news.example.org/a/b.html", ref);
	if (r)
		check_idempotent(r);
	free(r);
	check_idempotent(base);
	if (*ref)
		check_idempotent(ref);
	free(s);
	return 0;
}
