/* libFuzzer target: URL resolution and normalization from arbitrary bytes. */
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest/url.h"

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
	if (r) {
		char *n = url_normalize(r);
		if (n) {
			char *n2 = url_normalize(n);
			if (!n2 || strcmp(n, n2) != 0)
				abort(); /* normalizing is idempotent */
			free(n2);
		}
		free(n);
	}
	free(r);
	free(url_normalize(base));
	free(s);
	return 0;
}
