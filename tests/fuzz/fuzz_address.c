/* libFuzzer target: address identities and A-label spellings from arbitrary bytes. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest/address.h"
#include "digest/subscriber.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	if (!s)
		return 0;
	if (size)
		memcpy(s, data, size);
	s[size] = '\0';

	char *key = NULL, *err = NULL;
	if (address_key(s, &key, &err) == 0) {
		/* the key is a valid address, short enough to send, and its own key */
		char *again = NULL, *err2 = NULL;
		if (err || !key || strlen(key) > ADDRESS_MAX || address_key(key, &again, &err2) != 0 ||
		    strcmp(again, key) != 0)
			abort();
		free(again);
		/* the spelling to send is the same mailbox, its domain ASCII */
		char *ascii = NULL;
		if (address_ascii_domain(s, &ascii, NULL) != 0 || !address_domain_ascii(ascii) ||
		    address_key(ascii, &again, NULL) != 0 || strcmp(again, key) != 0)
			abort();
		if (address_local_ascii(ascii) != address_local_ascii(key))
			abort();
		free(again);
		free(ascii);
	} else if (!err || key || strchr(err, '\n')) {
		abort();
	}
	free(key);
	free(err);
	free(s);
	return 0;
}
