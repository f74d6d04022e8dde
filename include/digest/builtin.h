/* builtin: the default templates, compiled in, for a digest.conf that
 * names no templates directory and has none beside it. */
#ifndef DIGEST_BUILTIN_H
#define DIGEST_BUILTIN_H

#include <stddef.h>

/* builtin_template: the text of the default template NAME ("digest.txt",
 * "digest.html", ...) and its length, or NULL. */
const char *builtin_template(const char *name, size_t *len);

#endif
