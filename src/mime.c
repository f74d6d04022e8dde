/* mime: the edition's message, built once with libetpan's MIME writer and
 * spliced per reader; RFC 2047 words, quoted-printable, dates, addresses. */
#define _GNU_SOURCE
#include <libetpan/libetpan.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "digest/address.h"
#include "digest/mime.h"
#include "digest/textwrap.h"

static const char hex[] = "0123456789ABCDEF";

/* ---- quoted-printable ---- */

/* One line (without its line end) as quoted-printable, then CRLF when EOL. */
static void qp_line(struct buf *out, const char *s, size_t len, bool eol)
{
	char line[80];
	size_t col = 0;
	size_t start = 0;
	if (len >= 5 && !memcmp(s, "From ", 5)) {
		memcpy(line, "=46", 3);
		col = 3;
		start = 1;
	}
	for (size_t i = start; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		bool last = i + 1 == len;
		bool plain = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !last);
		/* A soft break ("=") must fit in the 76 octets; the last piece of
		 * the line may use the column the "=" would have taken. */
		size_t limit = last ? 76 : 75;
		if (col + (plain ? 1 : 3) > limit) {
			memcpy(line + col, "=\r\n", 3);
			buf_add(out, line, col + 3);
			col = 0;
		}
		/* No line begins with a dot: the message is then what SMTP's
		 * DATA carries, with nothing to stuff (smtp.h SMTP_CANONICAL). */
		if (c == '.' && col == 0)
			plain = false;
		if (plain) {
			line[col++] = (char)c;
		} else {
			line[col++] = '=';
			line[col++] = hex[c >> 4];
			line[col++] = hex[c & 15];
		}
	}
	buf_add(out, line, col);
	if (eol)
		buf_add(out, "\r\n", 2);
}

void mime_qp(struct buf *out, const char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t end = nl ? (size_t)(nl - s) : len;
		size_t l = end - i;
		if (l > 0 && s[end - 1] == '\r' && nl)
			l--;
		qp_line(out, s + i, l, nl != NULL);
		i = nl ? end + 1 : len;
	}
}

/* ---- header text ---- */

/* Text that can stand in a header as it is: printable ASCII, nothing that
 * reads as an encoded word, and no word too long to fold (RFC 5322 lines
 * must stay under 998 octets, and should under 78). */
static bool plain_ascii(const char *s)
{
	size_t word = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p < 32 || *p > 126)
			return false;
		word = *p == ' ' ? 0 : word + 1;
		if (word > 60)
			return false;
	}
	return !strstr(s, "=?");
}

void mime_base64(struct buf *out, const unsigned char *p, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;
		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		char q[4] = {a[v >> 18], a[(v >> 12) & 63], i + 1 < n ? a[(v >> 6) & 63] : '=',
			     i + 2 < n ? a[v & 63] : '='};
		buf_add(out, q, 4);
	}
}

/* Length of the UTF-8 sequence starting at P (1 for a stray byte). */
static size_t u8len(const unsigned char *p, size_t left)
{
	size_t n = *p >= 0xF0 ? 4 : *p >= 0xE0 ? 3 : *p >= 0xC0 ? 2 : 1;
	if (n > left)
		return 1;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xC0) != 0x80)
			return 1;
	return n;
}

void mime_word(struct buf *out, const char *s)
{
	if (plain_ascii(s)) {
		buf_adds(out, s);
		return;
	}
	/* 36 octets give 48 of base64: with "=?UTF-8?B?" and "?=", 60. */
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s);
	size_t i = 0;
	bool first = true;
	unsigned char chunk[40];
	while (i < len) {
		size_t n = 0;
		while (i < len) {
			size_t k = u8len(p + i, len - i);
			if (n + k > 36)
				break;
			/* A control character would be legal inside the encoding but
			 * means nothing in a header: a space stands for it. */
			if (k == 1 && (p[i] < 32 || p[i] == 127))
				chunk[n] = ' ';
			else
				memcpy(chunk + n, p + i, k);
			n += k;
			i += k;
		}
		if (!first)
			buf_add(out, " ", 1);
		first = false;
		buf_adds(out, "=?UTF-8?B?");
		mime_base64(out, chunk, n);
		buf_adds(out, "?=");
	}
}

/* RFC 5322 atext plus the space between words of a phrase. */
static bool phrase_atoms(const char *s)
{
	for (const char *p = s; *p; p++)
		if (!strchr(" !#$%&'*+-/=?^_`{|}~", *p) && !(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') &&
		    !(*p >= '0' && *p <= '9'))
			return false;
	return *s && s[0] != ' ';
}

void mime_phrase(struct buf *out, const char *name)
{
	if (plain_ascii(name) && phrase_atoms(name)) {
		buf_adds(out, name);
	} else if (plain_ascii(name)) {
		buf_add(out, "\"", 1);
		for (const char *p = name; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_add(out, "\\", 1);
			buf_add(out, p, 1);
		}
		buf_add(out, "\"", 1);
	} else {
		mime_word(out, name);
	}
}

void mime_mailbox(struct buf *out, const char *name, const char *addr)
{
	if (name && *name) {
		mime_phrase(out, name);
		buf_add(out, " ", 1);
	}
	buf_add(out, "<", 1);
	buf_adds(out, addr);
	buf_add(out, ">", 1);
}

void mime_fold(struct buf *out, const char *name, const char *value)
{
	buf_adds(out, name);
	buf_add(out, ":", 1);
	size_t col = strlen(name) + 1;
	const char *p = value;
	while (*p == ' ')
		p++;
	while (*p) {
		const char *sp = strchr(p, ' ');
		size_t n = sp ? (size_t)(sp - p) : strlen(p);
		if (col + 1 + n > 78 && col > strlen(name) + 1) {
			buf_add(out, "\r\n", 2);
			col = 0;
		}
		buf_add(out, " ", 1);
		buf_add(out, p, n);
		col += 1 + n;
		p += n;
		while (*p == ' ')
			p++;
	}
	buf_add(out, "\r\n", 2);
}

int mime_parse_mailbox(const char *s, char **name, char **addr, char **err)
{
	*name = *addr = NULL;
	const char *lt = strrchr(s, '<');
	if (!lt) {
		char *a = xstrdup(s);
		str_collapse_ws(a);
		if (!*a || strchr(a, ' ') || !strchr(a, '@')) {
			free(a);
			return errf(err, "\"%s\" is not an address", s);
		}
		*addr = a;
		return 0;
	}
	const char *gt = strchr(lt, '>');
	if (!gt || gt[strspn(gt + 1, " \t") + 1] != '\0')
		return errf(err, "\"%s\": expected Name <address>", s);
	char *a = xstrndup(lt + 1, (size_t)(gt - lt - 1));
	str_collapse_ws(a);
	if (!*a || strchr(a, ' ') || !strchr(a, '@')) {
		free(a);
		return errf(err, "\"%s\": no address between < and >", s);
	}
	char *n = xstrndup(s, (size_t)(lt - s));
	str_collapse_ws(n);
	size_t nl = strlen(n);
	if (nl >= 2 && n[0] == '"' && n[nl - 1] == '"') {
		memmove(n, n + 1, nl - 2);
		n[nl - 2] = '\0';
	}
	if (!*n) {
		free(n);
		n = NULL;
	}
	*name = n;
	*addr = a;
	return 0;
}

void mime_date(time_t t, char out[40])
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	localtime_r(&t, &tm);
	int off = (int)(tm.tm_gmtoff / 60);
	char sign = off < 0 ? '-' : '+';
	if (off < 0)
		off = -off;
	off %= 100 * 60; /* zones are within a day of UTC */
	snprintf(out, 40, "%s, %d %s %d %02d:%02d:%02d %c%02d%02d", days[tm.tm_wday % 7], tm.tm_mday % 100,
		 months[tm.tm_mon % 12], (tm.tm_year + 1900) % 10000, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, sign, off / 60, off % 60);
}

/* ---- the skeleton ---- */

/* What a piece of the finished message is. */
enum piece_kind {
	P_STATIC,   /* bytes as they are */
	P_TO,       /* "To: name <email>" */
	P_MSGID,    /* "Message-ID: <...@domain>" */
	P_UNSUB,    /* "List-Unsubscribe: <url>, <mailto:...>" */
	P_SUBJECT,  /* "Subject: ..." when it is personal */
	P_TEXT,     /* lines of the text part holding personal values */
	P_HTML,     /* lines of the HTML part holding personal values */
};

struct piece {
	enum piece_kind kind;
	char *data;  /* P_STATIC */
	size_t len;
	struct tout lines; /* P_TEXT, P_HTML: borrowed segments */
};

struct mime_skel {
	struct piece *p;
	size_t n, cap;
	char *domain, *mailto;
	const struct tout *subject;
	int wrap;
};

static struct piece *add_piece(struct mime_skel *k, enum piece_kind kind)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? 2 * k->cap : 16;
		k->p = xrealloc(k->p, k->cap * sizeof *k->p);
	}
	struct piece *p = &k->p[k->n++];
	memset(p, 0, sizeof *p);
	p->kind = kind;
	return p;
}

static void add_static(struct mime_skel *k, const char *s, size_t len)
{
	if (len == 0)
		return;
	if (k->n && k->p[k->n - 1].kind == P_STATIC) {
		struct piece *p = &k->p[k->n - 1];
		p->data = xrealloc(p->data, p->len + len + 1);
		memcpy(p->data + p->len, s, len);
		p->len += len;
		p->data[p->len] = '\0';
		return;
	}
	struct piece *p = add_piece(k, P_STATIC);
	p->data = xstrndup(s, len);
	p->len = len;
}

static void seg_push(struct tout *o, const struct tseg *s)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 8;
		o->segs = xrealloc(o->segs, o->cap * sizeof *o->segs);
	}
	o->segs[o->n++] = *s;
}

/* Free a tout whose texts are owned but whose cond bodies are borrowed. */
static void lines_free(struct tout *o)
{
	for (size_t i = 0; i < o->n; i++)
		if (o->segs[i].kind == TSEG_TEXT)
			free(o->segs[i].text);
	free(o->segs);
	memset(o, 0, sizeof *o);
}

/* Encode a part's static lines once: wrapped (text) and quoted-printable. */
static void encode_static(struct buf *enc, const char *s, size_t len, int wrap)
{
	if (wrap > 0) {
		struct buf w = {0};
		text_wrap(&w, s, len, wrap);
		mime_qp(enc, w.data ? w.data : "", w.len);
		buf_free(&w);
	} else {
		mime_qp(enc, s, len);
	}
}

static void push_text(struct tout *o, const char *t, size_t n)
{
	struct tseg ts = {.kind = TSEG_TEXT, .text = xstrndup(t, n), .len = n};
	seg_push(o, &ts);
}

static void flush_static(struct mime_skel *k, struct buf *stat, int wrap)
{
	if (!stat->len)
		return;
	struct buf enc = {0};
	encode_static(&enc, stat->data, stat->len, wrap);
	add_static(k, enc.data, enc.len);
	buf_free(&enc);
	stat->len = 0;
}

static void flush_dynamic(struct mime_skel *k, struct tout *dyn, enum piece_kind kind)
{
	if (!dyn->n)
		return;
	struct piece *p = add_piece(k, kind);
	p->lines = *dyn;
	memset(dyn, 0, sizeof *dyn);
}

/*
 * A part's body: the lines without personal values are encoded now; each
 * run of lines that holds one becomes a piece filled in per reader. Lines
 * are the unit because wrapping and quoted-printable both work line by
 * line, so a part spliced from line runs encodes exactly as the whole.
 */
static void add_body(struct mime_skel *k, const struct tout *body, enum piece_kind kind, int wrap)
{
	struct buf stat = {0}; /* a run of static lines, not yet encoded */
	struct tout dyn = {0}; /* a run of personal lines */
	struct tout line = {0}; /* the line being read */
	bool personal = false;  /* whether LINE has a personal part */
	for (size_t i = 0; i <= body->n; i++) {
		const struct tseg *s = i < body->n ? &body->segs[i] : NULL;
		if (s && s->kind != TSEG_TEXT) {
			seg_push(&line, s);
			personal = true;
			continue;
		}
		size_t off = 0, tl = s ? s->len : 0;
		do {
			const char *nl = s ? memchr(s->text + off, '\n', tl - off) : NULL;
			size_t end = nl ? (size_t)(nl - s->text) + 1 : tl;
			if (end > off)
				push_text(&line, s->text + off, end - off);
			off = end;
			if (!nl && s)
				break;
			/* LINE is complete (or the body ended): add it to its run. */
			if (!line.n)
				break;
			if (personal) {
				if (!nl)
					push_text(&line, "\n", 1);
				flush_static(k, &stat, wrap);
				for (size_t j = 0; j < line.n; j++)
					seg_push(&dyn, &line.segs[j]);
				line.n = 0;
			} else {
				flush_dynamic(k, &dyn, kind);
				for (size_t j = 0; j < line.n; j++)
					buf_add(&stat, line.segs[j].text, line.segs[j].len);
				lines_free(&line);
			}
			personal = false;
		} while (off < tl);
	}
	flush_dynamic(k, &dyn, kind);
	if (stat.len && stat.data[stat.len - 1] != '\n')
		buf_add(&stat, "\n", 1); /* every part ends with a line end */
	flush_static(k, &stat, wrap);
	lines_free(&line);
	buf_free(&stat);
}

/* Markers that libetpan copies through untouched and that no encoded
 * content can contain (controls are always encoded). */
#define MARK "\x01"

static struct mailmime *single_part(const char *type, const char *body)
{
	struct mailmime_content *ct = mailmime_content_new_with_str(type);
	clist_append(ct->ct_parameters, mailmime_param_new_with_data("charset", "utf-8"));
	struct mailmime_fields *f = mailmime_fields_new_encoding(MAILMIME_MECHANISM_QUOTED_PRINTABLE);
	struct mailmime *m = mailmime_new_empty(ct, f);
	m->mm_data.mm_single = mailmime_data_new_data(MAILMIME_MECHANISM_QUOTED_PRINTABLE, 1, body, strlen(body));
	return m;
}

static void header(struct mailimf_fields *h, const char *name, const char *value)
{
	mailimf_fields_add(h, mailimf_field_new_custom(xstrdup(name), xstrdup(value)));
}

static void flatten_clean(const struct tout *o, const char *const *slots, struct buf *out)
{
	out->len = 0;
	tout_flatten(o, slots, out);
	if (out->data)
		str_collapse_ws(out->data);
	else
		buf_adds(out, "");
	out->len = strlen(out->data);
}

/* The two parts' pieces, whatever of them the skeleton did not take. */
static void parts_free(struct mime_skel parts[2])
{
	for (int i = 0; i < 2; i++) {
		for (size_t j = 0; j < parts[i].n; j++) {
			free(parts[i].p[j].data);
			lines_free(&parts[i].p[j].lines);
		}
		free(parts[i].p);
	}
}

int mime_skel_build(const struct mime_input *in, struct mime_skel **out, char **err)
{
	*out = NULL;
	struct mime_skel *k = xcalloc(1, sizeof *k);
	k->domain = xstrdup(in->domain);
	k->wrap = in->wrap;
	k->subject = in->subject;
	if (in->unsubscribe_mailto)
		k->mailto = xasprintf("<mailto:%s?subject=unsubscribe>", in->unsubscribe_mailto);

	struct buf v = {0};
	struct mailimf_fields *h = mailimf_fields_new_empty();
	mime_mailbox(&v, in->from_name, in->from_addr);
	header(h, "From", v.data);
	header(h, "To", MARK "T" MARK);
	if (tout_has_slots(in->subject)) {
		header(h, "Subject", MARK "S" MARK);
	} else {
		struct buf s = {0};
		flatten_clean(in->subject, NULL, &s);
		v.len = 0;
		mime_word(&v, s.data);
		header(h, "Subject", v.data);
		buf_free(&s);
	}
	char date[40];
	mime_date(in->date, date);
	header(h, "Date", date);
	header(h, "Message-ID", MARK "M" MARK);
	if (in->reply_to && *in->reply_to)
		header(h, "Reply-To", in->reply_to);
	v.len = 0;
	if (in->list_id) {
		if (in->list_name && *in->list_name) {
			mime_phrase(&v, in->list_name);
			buf_add(&v, " ", 1);
		}
		buf_addf(&v, "<%s>", in->list_id);
		header(h, "List-Id", v.data);
		header(h, "List-Unsubscribe", MARK "U" MARK);
		header(h, "List-Unsubscribe-Post", "List-Unsubscribe=One-Click");
	} else {
		/* A message to one person about their own request: mail systems
		 * should not answer it automatically (RFC 3834). */
		header(h, "Auto-Submitted", "auto-generated");
	}
	if (in->feedback_id && *in->feedback_id)
		header(h, "Feedback-ID", in->feedback_id);
	buf_free(&v);

	/* The parts' bodies: encoded static lines and markers for the rest. */
	struct mime_skel parts[2] = {{0}};
	add_body(&parts[0], in->text, P_TEXT, in->wrap);
	add_body(&parts[1], in->html, P_HTML, 0);
	struct buf body[2] = {{0}};
	for (int i = 0; i < 2; i++) {
		for (size_t j = 0; j < parts[i].n; j++) {
			if (parts[i].p[j].kind == P_STATIC)
				buf_add(&body[i], parts[i].p[j].data, parts[i].p[j].len);
			else
				buf_addf(&body[i], MARK "%c%zu" MARK, i ? 'H' : 'X', j);
		}
		if (!body[i].data)
			buf_adds(&body[i], "");
	}

	struct mailmime *msg = mailmime_new_message_data(NULL);
	mailmime_set_imf_fields(msg, h);
	/* Our own boundary: "=_" can never occur in quoted-printable text. */
	unsigned char r[12];
	random_bytes(r, sizeof r);
	char boundary[64] = "=_digest_";
	for (size_t i = 0; i < sizeof r; i++)
		snprintf(boundary + strlen(boundary), 3, "%02x", r[i]);
	struct mailmime *alt = mailmime_multiple_new("multipart/alternative");
	/* libetpan made a boundary of time and random(); put ours in its place. */
	for (clistiter *it = clist_begin(alt->mm_content_type->ct_parameters); it; it = clist_next(it)) {
		struct mailmime_parameter *prm = clist_content(it);
		if (!strcasecmp(prm->pa_name, "boundary")) {
			free(prm->pa_value);
			prm->pa_value = xstrdup(boundary);
		}
	}
	int rc = mailmime_smart_add_part(msg, alt);
	if (rc == MAILIMF_NO_ERROR)
		rc = mailmime_smart_add_part(alt, single_part("text/plain", body[0].data));
	if (rc == MAILIMF_NO_ERROR)
		rc = mailmime_smart_add_part(alt, single_part("text/html", body[1].data));
	MMAPString *w = mmap_string_new("");
	int col = 0;
	if (rc == MAILIMF_NO_ERROR)
		rc = mailmime_write_mem(w, &col, msg);
	mailmime_free(msg);
	buf_free(&body[0]);
	buf_free(&body[1]);
	if (rc != MAILIMF_NO_ERROR) {
		mmap_string_free(w);
		parts_free(parts);
		mime_skel_free(k);
		return errf(err, "building the message: libetpan error %d", rc);
	}

	/* Split the written message at the markers into the skeleton. */
	const char *p = w->str, *end = w->str + w->len;
	while (p < end) {
		const char *m = memchr(p, MARK[0], (size_t)(end - p));
		if (!m) {
			add_static(k, p, (size_t)(end - p));
			break;
		}
		const char *m2 = memchr(m + 1, MARK[0], (size_t)(end - m - 1));
		char tag = m[1];
		if (tag == 'X' || tag == 'H') {
			add_static(k, p, (size_t)(m - p));
			struct mime_skel *src = &parts[tag == 'H'];
			size_t j = strtoul(m + 2, NULL, 10);
			struct piece *d = add_piece(k, src->p[j].kind);
			d->lines = src->p[j].lines;
			memset(&src->p[j].lines, 0, sizeof src->p[j].lines);
		} else {
			/* A header: drop its name too, the splice writes the line. */
			const char *ls = m;
			while (ls > p && ls[-1] != '\n')
				ls--;
			add_static(k, p, (size_t)(ls - p));
			add_piece(k, tag == 'T' ? P_TO : tag == 'S' ? P_SUBJECT : tag == 'M' ? P_MSGID : P_UNSUB);
			m2 += 2; /* the CRLF after the marker */
		}
		p = m2 + 1;
	}
	mmap_string_free(w);
	parts_free(parts);
	*out = k;
	return 0;
}

void mime_skel_free(struct mime_skel *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++) {
		free(k->p[i].data);
		lines_free(&k->p[i].lines);
	}
	free(k->p);
	free(k->domain);
	free(k->mailto);
	free(k);
}

void mime_skel_message(const struct mime_skel *k, const char *const *slots, struct buf *out)
{
	struct buf t = {0}, u = {0};
	for (size_t i = 0; i < k->n; i++) {
		const struct piece *p = &k->p[i];
		switch (p->kind) {
		case P_STATIC:
			buf_add(out, p->data, p->len);
			break;
		case P_TO: {
			/* An addr-spec is never RFC 2047-encoded: an IDN domain
			 * goes in A-label form, as the envelope has it (a
			 * non-ASCII local part stays UTF-8, RFC 6532). */
			char *ascii = NULL;
			const char *to = slots[SLOT_EMAIL];
			if (to && !address_domain_ascii(to) && address_ascii_domain(to, &ascii, NULL) == 0)
				to = ascii;
			t.len = 0;
			mime_mailbox(&t, slots[SLOT_NAME], to);
			mime_fold(out, "To", t.data);
			free(ascii);
			break;
		}
		case P_MSGID:
			t.len = 0;
			buf_addf(&t, "<%s@%s>", slots[SLOT_MESSAGE_ID], k->domain);
			mime_fold(out, "Message-ID", t.data);
			break;
		case P_UNSUB:
			t.len = 0;
			buf_addf(&t, "<%s>", slots[SLOT_UNSUBSCRIBE_URL]);
			if (slots[SLOT_UNSUBSCRIBE_MAILTO])
				buf_addf(&t, ", <mailto:%s?subject=unsubscribe>", slots[SLOT_UNSUBSCRIBE_MAILTO]);
			else if (k->mailto)
				buf_addf(&t, ", %s", k->mailto);
			mime_fold(out, "List-Unsubscribe", t.data);
			break;
		case P_SUBJECT:
			flatten_clean(k->subject, slots, &u);
			t.len = 0;
			mime_word(&t, u.data);
			mime_fold(out, "Subject", t.data);
			break;
		case P_TEXT:
		case P_HTML:
			u.len = 0;
			tout_flatten(&p->lines, slots, &u);
			if (p->kind == P_TEXT && k->wrap > 0) {
				t.len = 0;
				text_wrap(&t, u.data ? u.data : "", u.len, k->wrap);
				mime_qp(out, t.data ? t.data : "", t.len);
			} else {
				mime_qp(out, u.data ? u.data : "", u.len);
			}
			break;
		}
	}
	buf_free(&t);
	buf_free(&u);
}
