/* textwrap: plain text wrapped at a width in display columns. */
#ifndef DIGEST_TEXTWRAP_H
#define DIGEST_TEXTWRAP_H

#include <stddef.h>

#include "digest/util.h"

/*
 * text_wrap: append S (LEN bytes of UTF-8, lines ending in "\n") to OUT
 * with every line longer than WIDTH display columns (one a character,
 * see utf8_width) broken at spaces. A word longer than WIDTH (a URL) is
 * never broken: it stands on a line of its own. Continuation lines keep
 * the line's indentation, and after a list marker ("1. ", "- ", "* ",
 * "• ") align with the text after it. Trailing spaces are dropped; line
 * ends stay "\n"; text after the last "\n" is wrapped too.
 * Details: only spaces break (a no-break space does not); a "\r" before
 * "\n" is dropped with the trailing spaces, but a line "-- " (the
 * signature separator) keeps its space; WIDTH <= 0 wraps nothing. OUT
 * always ends up holding a string, even for LEN 0.
 */
void text_wrap(struct buf *out, const char *s, size_t len, int width);

#endif
