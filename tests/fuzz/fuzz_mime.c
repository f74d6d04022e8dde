/* libFuzzer target: page text and reader names through the message
 * skeleton; every message must keep to RFC 5322's line rules and carry no
 * header of the input's making. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/mime.h"
#include "digest/template.h"

static void text(struct tout *o, const char *s, size_t n)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 8;
		o->segs = xrealloc(o->segs, o->cap * sizeof *o->segs);
	}
	o->segs[o->n++] = (struct tseg){.kind = TSEG_TEXT, .text = xstrndup(s, n), .len = strlen(s) < n ? strlen(s) : n};
}

static void slot(struct tout *o, int k, bool esc)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 8;
		o->segs = xrealloc(o->segs, o->cap * sizeof *o->segs);
	}
	o->segs[o->n++] = (struct tseg){.kind = TSEG_SLOT, .slot = k, .escape = esc};
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Four pieces separated by NUL: subject, body text, reader name, rest. */
	char *in = malloc(size + 1);
	if (!in)
		return 0;
	memcpy(in, data, size);
	in[size] = '\0';
	const char *piece[4] = {"", "", NULL, ""};
	size_t len[4] = {0, 0, 0, 0};
	const char *p = in;
	for (int i = 0; i < 4; i++) {
		size_t l = strlen(p);
		piece[i] = p;
		len[i] = l;
		p += l;
		if (p >= in + size)
			break;
		p++;
	}
	struct tout subject = {0}, body = {0}, html = {0};
	text(&subject, piece[0], len[0]);
	slot(&subject, SLOT_NAME, false);
	text(&body, piece[1], len[1]);
	slot(&body, SLOT_NAME, false);
	text(&body, piece[3], len[3]);
	text(&html, piece[3], len[3]);
	slot(&html, SLOT_NAME, true);
	text(&html, piece[1], len[1]);
	struct mime_input mi = {
		.from_name = "Дайджест", .from_addr = "d@example.org", .list_name = "L", .list_id = "l.example.org",
		.unsubscribe_mailto = "d@example.org", .domain = "example.org", .date = 0,
		.subject = &subject, .text = &body, .html = &html, .wrap = 72,
	};
	struct mime_skel *k = NULL;
	char *err = NULL;
	if (mime_skel_build(&mi, &k, &err) == 0) {
		const char *slots[SLOT_COUNT] = {piece[2], "r@example.org", "https://x.example/u?t=1", "id"};
		struct buf m = {0};
		mime_skel_message(k, slots, &m);
		/* CRLF only, no line that begins with a dot (SMTP_CANONICAL),
		 * every line within 998 octets, header lines within 78 unless
		 * one word is longer, and only our own header names. */
		if (m.len > 0 && m.data[0] == '.')
			abort();
		bool in_headers = true;
		for (size_t i = 0, start = 0; i < m.len; i++) {
			if (m.data[i] == '\n' && (i == 0 || m.data[i - 1] != '\r'))
				abort();
			if (m.data[i] == '\r' && (i + 1 >= m.len || m.data[i + 1] != '\n'))
				abort();
			if (m.data[i] != '\n')
				continue;
			if (i + 1 < m.len && m.data[i + 1] == '.')
				abort();
			size_t l = i - 1 - start;
			if (l > 998)
				abort();
			if (in_headers && l == 0)
				in_headers = false;
			else if (in_headers && m.data[start] != ' ') {
				static const char *const names[] = {"From:", "To:", "Subject:", "Date:", "Message-ID:",
								    "List-Id:", "List-Unsubscribe:",
								    "List-Unsubscribe-Post:", "MIME-Version:",
								    "Content-Type:"};
				bool ok = false;
				for (size_t n = 0; n < sizeof names / sizeof *names; n++)
					ok |= !strncmp(m.data + start, names[n], strlen(names[n]));
				if (!ok)
					abort();
			}
			start = i + 1;
		}
		buf_free(&m);
	}
	free(err);
	mime_skel_free(k);
	tout_free(&subject);
	tout_free(&body);
	tout_free(&html);
	free(in);
	return 0;
}
