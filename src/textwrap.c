/* textwrap: the plain-text part of a digest wrapped for mail readers, in display columns. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <string.h>

#include "digest/textwrap.h"

/* Display columns of S[0..N), counted as utf8_width counts a string (one a
 * character, U+0300..036F zero), but without needing a NUL. */
static size_t span_width(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t w = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && (p[i] == 0xCC || (p[i] == 0xCD && p[i + 1] < 0xB0)) && (p[i + 1] & 0xC0) == 0x80) {
			i++;
			continue;
		}
		if ((p[i] & 0xC0) != 0x80)
			w++;
	}
	return w;
}

/* Bytes of the list marker at S ("1. ", "- ", "* ", "• ") with the spaces
 * after it, or 0 when the line is not a list item. */
static size_t marker_len(const char *s, size_t n)
{
	size_t i = 0;
	if (n >= 1 && (s[0] == '-' || s[0] == '*')) {
		i = 1;
	} else if (n >= 3 && memcmp(s, "\xe2\x80\xa2", 3) == 0) {
		i = 3;
	} else {
		while (i < n && i < 9 && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == 0 || i >= n || s[i] != '.')
			return 0;
		i++;
	}
	if (i >= n || s[i] != ' ')
		return 0;
	while (i < n && s[i] == ' ')
		i++;
	return i;
}

/* One line (no "\n") of N bytes, wrapped; no line end after its last part. */
static void wrap_line(struct buf *out, const char *s, size_t n, size_t width)
{
	size_t full = n;
	/* a "\r" before the "\n" goes too: line ends are "\n" only */
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r'))
		n--;
	/* but "-- " is the signature separator mail readers look for (RFC 3676) */
	if (n == 2 && full > 2 && s[0] == '-' && s[1] == '-' && s[2] == ' ')
		n = 3;
	if (!width || span_width(s, n) <= width) {
		buf_add(out, s, n);
		return;
	}

	size_t ind = 0;
	while (ind < n && (s[ind] == ' ' || s[ind] == '\t'))
		ind++;
	size_t mk = marker_len(s + ind, n - ind);
	size_t head = ind + mk; /* kept as written on the first line */
	size_t ind_cols = span_width(s, ind), mk_cols = span_width(s + ind, mk);

	/* Continuation lines start under the text after the marker; when that
	 * leaves no room, under the indentation; failing that, at the margin. */
	size_t pre_ind = ind, pre_pad = mk_cols;
	if (ind_cols + mk_cols >= width)
		pre_pad = 0;
	if (ind_cols >= width)
		pre_ind = 0;
	size_t pre_cols = span_width(s, pre_ind) + pre_pad;

	buf_add(out, s, head);
	size_t col = ind_cols + mk_cols, i = head;
	bool empty = true; /* no word on the current output line yet */
	while (i < n) {
		size_t gap = i;
		while (i < n && s[i] == ' ')
			i++;
		size_t word = i;
		while (i < n && s[i] != ' ')
			i++;
		size_t gw = word - gap, ww = span_width(s + word, i - word);
		/* A word too long for any line (a URL) still stands alone on
		 * one, unbroken: the empty-line case never breaks. */
		if (!empty && col + gw + ww > width) {
			buf_add(out, "\n", 1);
			buf_add(out, s, pre_ind);
			for (size_t k = 0; k < pre_pad; k++)
				buf_add(out, " ", 1);
			col = pre_cols;
			empty = true;
		}
		if (!empty) {
			buf_add(out, s + gap, gw);
			col += gw;
		}
		buf_add(out, s + word, i - word);
		col += ww;
		empty = false;
	}
}

void text_wrap(struct buf *out, const char *s, size_t len, int width)
{
	buf_add(out, "", 0); /* a string even when S is empty */
	size_t w = width > 0 ? (size_t)width : 0; /* 0: no wrapping */
	size_t a = 0;
	while (a < len) {
		const char *nl = memchr(s + a, '\n', len - a);
		size_t e = nl ? (size_t)(nl - s) : len;
		wrap_line(out, s + a, e - a, w);
		if (!nl)
			break;
		buf_add(out, "\n", 1);
		a = e + 1;
	}
}
