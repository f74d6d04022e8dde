/* entity: HTML's named character references, looked up in the table that
 * src/gen_entities.py generates from Debian's Python at build time. */
#include <string.h>

#include "digest/entity.h"

/* NAME (LEN bytes, not terminated) against a terminated table name, in
 * strcmp(3) order. */
static int name_cmp(const char *name, size_t len, const char *key)
{
	int c = strncmp(name, key, len);
	if (c)
		return c;
	return key[len] ? -1 : 0;
}

int entity_lookup(const char *name, size_t len, uint32_t cp[2])
{
	size_t lo = 0, hi = entity_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = name_cmp(name, len, entity_table[mid].name);
		if (c == 0) {
			cp[0] = entity_table[mid].cp[0];
			cp[1] = entity_table[mid].cp[1];
			return cp[1] ? 2 : 1;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}
