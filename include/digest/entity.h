/* entity: HTML's named character references, every one of the WHATWG table. */
#ifndef DIGEST_ENTITY_H
#define DIGEST_ENTITY_H

#include <stddef.h>
#include <stdint.h>

/*
 * entity_lookup: the code points of the named character reference NAME,
 * LEN bytes without its '&' and ';' ("check" is U+2713, "NotEqualTilde"
 * U+2242 U+0338). Names are case-sensitive, as in HTML. Returns how many
 * (1 or 2) with them in CP, or 0 when HTML names no such reference.
 */
int entity_lookup(const char *name, size_t len, uint32_t cp[2]);

/* The table entity_lookup reads, sorted by name in strcmp(3) order:
 * build/gen/entities.c, which src/gen_entities.py writes at build time
 * from Debian's Python (html.entities.html5), so that no copy of the
 * WHATWG table is kept in these sources. */
struct entity {
	const char *name; /* without '&' and ';' */
	uint32_t cp[2];   /* one or two code points; cp[1] 0 when one */
};
extern const struct entity entity_table[];
extern const size_t entity_count;

#endif
