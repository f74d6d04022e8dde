/* Unit tests of render's formats: grouped and short counts, cut summaries; the confirmation mail. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/config.h"
#include "digest/render.h"
#include "digest/token.h"
#include "digest/util.h"

static void test_counts(void **state)
{
	(void)state;
	static const struct {
		long long v;
		const char *en, *ru, *en_h, *ru_h;
	} cases[] = {
		{0, "0", "0", "0", "0"},
		{7, "7", "7", "7", "7"},
		{999, "999", "999", "999", "999"},
		{1000, "1,000", "1\xc2\xa0" "000", "1K", "1\xc2\xa0тыс."},
		{2212, "2,212", "2\xc2\xa0" "212", "2.2K", "2,2\xc2\xa0тыс."},
		{12500, "12,500", "12\xc2\xa0" "500", "12K", "12\xc2\xa0тыс."},
		{999999, "999,999", "999\xc2\xa0" "999", "999K", "999\xc2\xa0тыс."},
		{1500000, "1,500,000", "1\xc2\xa0" "500\xc2\xa0" "000", "1.5M", "1,5\xc2\xa0млн"},
		{2000000, "2,000,000", "2\xc2\xa0" "000\xc2\xa0" "000", "2M", "2\xc2\xa0млн"},
		{123456789012LL, "123,456,789,012", "123\xc2\xa0" "456\xc2\xa0" "789\xc2\xa0" "012", "123456M",
		 "123456\xc2\xa0млн"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char out[64];
		render_count(out, sizeof out, cases[i].v, false);
		assert_string_equal(out, cases[i].en);
		render_count(out, sizeof out, cases[i].v, true);
		assert_string_equal(out, cases[i].ru);
		render_count_human(out, sizeof out, cases[i].v, false);
		assert_string_equal(out, cases[i].en_h);
		render_count_human(out, sizeof out, cases[i].v, true);
		assert_string_equal(out, cases[i].ru_h);
	}
	/* A small buffer is never overrun. */
	char tiny[4];
	render_count(tiny, sizeof tiny, 123456789, false);
	assert_true(strlen(tiny) < sizeof tiny);
}

static void test_cut(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int max;
		const char *want;
	} cases[] = {
		{"short", 280, "short"},
		{"one two three", 7, "one two…"},
		{"one two three", 8, "one two…"},
		{"Первое второе третье", 10, "Первое…"},
		{"Слово, другое", 8, "Слово…"},  /* no dangling comma */
		{"averyveryverylongword", 5, "avery…"}, /* no space: cut mid-word */
		{"exact", 5, "exact"},
		{"", 10, ""},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *got = render_cut(cases[i].in, cases[i].max);
		assert_string_equal(got, cases[i].want);
		free(got);
	}
	assert_null(render_cut(NULL, 10));
	assert_null(render_cut("x", 0));
}

/* ------------------------------------------------------------------ */
/* The confirmation mail                                               */

static char dir[] = "/tmp/digest-render-XXXXXX";

/* A known key, as digest.conf's secret_file holds it. */
#define KEY_HEX "00112233445566778899aabbccddeeff0102030405060708090a0b0c0d0e0f10"

/* digest.conf of TEXT in DIR, loaded with its warnings (no sources) kept
 * off the test's output. */
static struct config *load_config(const char *text)
{
	char *path = xasprintf("%s/digest.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	fflush(stderr);
	int saved = dup(2);
	int null = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, 2);
	close(null);
	struct config *cfg = NULL;
	int rc = config_load(path, &cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	free(path);
	assert_int_equal(rc, 0);
	return cfg;
}

/* A message taken apart: its unfolded header fields and its parts. */
struct hfield {
	char *name, *value;
};
struct part {
	struct hfield h[16];
	size_t nh;
	char *body; /* decoded */
};
struct message {
	struct hfield h[32];
	size_t nh;
	struct part p[4];
	size_t np;
};

static void message_free(struct message *m)
{
	for (size_t i = 0; i < m->nh; i++) {
		free(m->h[i].name);
		free(m->h[i].value);
	}
	for (size_t k = 0; k < m->np; k++) {
		for (size_t i = 0; i < m->p[k].nh; i++) {
			free(m->p[k].h[i].name);
			free(m->p[k].h[i].value);
		}
		free(m->p[k].body);
	}
	memset(m, 0, sizeof *m);
}

/* Header fields of S (LEN bytes, CRLF lines, no blank line) unfolded. */
static size_t parse_fields(const char *s, size_t len, struct hfield *out, size_t max)
{
	size_t n = 0;
	const char *p = s, *end = s + len;
	while (p < end) {
		const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
		if (!eol)
			eol = end;
		if (*p == ' ' || *p == '\t') { /* a continuation */
			assert_true(n > 0);
			char *v = xasprintf("%s%.*s", out[n - 1].value, (int)(eol - p), p);
			free(out[n - 1].value);
			out[n - 1].value = v;
		} else {
			const char *colon = memchr(p, ':', (size_t)(eol - p));
			if (!colon)
				fail_msg("a header line without a colon: %.*s", (int)(eol - p), p);
			assert_true(n < max);
			out[n].name = xstrndup(p, (size_t)(colon - p));
			const char *v = colon + 1;
			while (v < eol && *v == ' ')
				v++;
			out[n].value = xstrndup(v, (size_t)(eol - v));
			n++;
		}
		p = eol + 2;
	}
	return n;
}

static const char *field(const struct hfield *h, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcasecmp(h[i].name, name))
			return h[i].value;
	return NULL;
}

static size_t field_count(const struct hfield *h, size_t n, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < n; i++)
		c += !strcasecmp(h[i].name, name);
	return c;
}

static int hexdig(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1; /* RFC 2045: upper case only */
}

/* Quoted-printable S (LEN bytes) decoded; NULL when malformed. */
static char *qp_decode(const char *s, size_t len)
{
	struct buf b = {0};
	buf_adds(&b, "");
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '=') {
			buf_add(&b, s + i, 1);
			continue;
		}
		if (len - i >= 3 && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 2; /* a soft line break */
			continue;
		}
		int a = len - i >= 3 ? hexdig((unsigned char)s[i + 1]) : -1;
		int c = len - i >= 3 ? hexdig((unsigned char)s[i + 2]) : -1;
		if (a < 0 || c < 0) {
			buf_free(&b);
			return NULL;
		}
		char ch = (char)(a << 4 | c);
		buf_add(&b, &ch, 1);
		i += 2;
	}
	return b.data;
}

/* Whether S is valid UTF-8 (shortest forms, no surrogates). */
static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		int n = (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
		if (n < 0 || *p == 0xC0 || *p == 0xC1 || *p > 0xF4)
			return false;
		uint32_t cp = *p & (0x3F >> n);
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
		    cp > 0x10FFFF)
			return false;
		p += n + 1;
	}
	return true;
}

/* Take MSG (LEN bytes) apart, checking its form on the way: CRLF line
 * ends only, no line over 998 octets, a multipart/alternative body. */
static void parse_message(const char *msg, size_t len, struct message *m)
{
	memset(m, 0, sizeof *m);
	assert_int_equal(strlen(msg), len);
	size_t line = 0;
	for (size_t i = 0; i < len; i++) {
		if (msg[i] == '\n' && (i == 0 || msg[i - 1] != '\r'))
			fail_msg("a bare LF at octet %zu", i);
		if (msg[i] == '\r' && (i + 1 == len || msg[i + 1] != '\n'))
			fail_msg("a bare CR at octet %zu", i);
		if (msg[i] == '\r') {
			if (line > 998)
				fail_msg("a line of %zu octets before octet %zu", line, i);
			line = 0;
			i++;
		} else {
			line++;
		}
	}
	assert_true(line <= 998);
	assert_true(len >= 2 && !strcmp(msg + len - 2, "\r\n"));
	const char *hend = strstr(msg, "\r\n\r\n");
	assert_non_null(hend);
	m->nh = parse_fields(msg, (size_t)(hend - msg), m->h, ARRAY_LEN(m->h));
	const char *ct = field(m->h, m->nh, "Content-Type");
	assert_non_null(ct);
	if (strncasecmp(ct, "multipart/alternative;", 22) != 0)
		fail_msg("Content-Type: %s", ct);
	const char *bp = strstr(ct, "boundary=");
	assert_non_null(bp);
	bp += 9;
	char boundary[100];
	size_t bl = *bp == '"' ? strcspn(bp + 1, "\"") : strcspn(bp, "; ");
	assert_true(bl > 0 && bl < 71);
	snprintf(boundary, sizeof boundary, "--%.*s", (int)bl, *bp == '"' ? bp + 1 : bp);
	/* the parts: between delimiter lines, up to the closing one */
	const char *body = hend + 4, *end = msg + len;
	char *open = xasprintf("%s\r\n", boundary), *close = xasprintf("%s--", boundary);
	const char *p = strstr(body, open);
	assert_non_null(p);
	assert_true(p == body || p[-1] == '\n');
	bool closed = false;
	while (p && !closed) {
		const char *start = p + strlen(open);
		char *next_delim = xasprintf("\r\n%s", boundary);
		const char *q = memmem(start, (size_t)(end - start), next_delim, strlen(next_delim));
		free(next_delim);
		assert_non_null(q);
		assert_true(m->np < ARRAY_LEN(m->p));
		struct part *pt = &m->p[m->np++];
		const char *ph = memmem(start, (size_t)(q - start), "\r\n\r\n", 4);
		assert_non_null(ph);
		pt->nh = parse_fields(start, (size_t)(ph - start), pt->h, ARRAY_LEN(pt->h));
		const char *content = ph + 4;
		size_t clen = (size_t)(q - content);
		const char *cte = field(pt->h, pt->nh, "Content-Transfer-Encoding");
		if (cte && !strcasecmp(cte, "quoted-printable")) {
			pt->body = qp_decode(content, clen);
			if (!pt->body)
				fail_msg("part %zu: malformed quoted-printable", m->np);
		} else if (!cte || !strcasecmp(cte, "7bit") || !strcasecmp(cte, "8bit")) {
			pt->body = xstrndup(content, clen);
		} else {
			fail_msg("part %zu: Content-Transfer-Encoding %s", m->np, cte);
		}
		q += 2; /* at the delimiter */
		if (!strncmp(q, close, strlen(close)))
			closed = true;
		else
			p = q;
	}
	assert_true(closed);
	free(open);
	free(close);
}

/* The token of BASE/confirm?t=TOKEN in S: 43 base64url characters, then
 * none; into TOKEN. Returns how many such links S has. */
static int confirm_links(const char *s, const char *base, char token[TOKEN_MAX])
{
	char *prefix = xasprintf("%s/confirm?t=", base);
	int n = 0;
	for (const char *p = s; (p = strstr(p, prefix)); p++) {
		const char *t = p + strlen(prefix);
		size_t tl = strspn(t, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_");
		if (tl != 43)
			fail_msg("a token of %zu characters: %.60s", tl, t);
		if (n == 0)
			snprintf(token, TOKEN_MAX, "%.43s", t);
		else if (strncmp(token, t, 43) != 0)
			fail_msg("two different tokens");
		n++;
	}
	free(prefix);
	return n;
}

/* Append " KEY = VALUE;" to B, VALUE quoted as libconfig reads it. */
static void conf_set(struct buf *b, const char *key, const char *value)
{
	buf_addf(b, " %s = \"", key);
	for (const char *c = value; *c; c++) {
		if (*c == '"' || *c == '\\')
			buf_add(b, "\\", 1);
		buf_add(b, c, 1);
	}
	buf_adds(b, "\";");
}

/* S with every run of whitespace (CR, LF, tab, space) one space; malloc'd. */
static char *squeeze(const char *s)
{
	struct buf b = {0};
	buf_adds(&b, "");
	bool space = false;
	for (; *s; s++) {
		if (strchr(" \t\r\n", *s)) {
			space = true;
			continue;
		}
		if (space && b.len)
			buf_add(&b, " ", 1);
		space = false;
		buf_add(&b, s, 1);
	}
	return b.data;
}

/* Whether the address field V names one mailbox, ending in ADDR: outside
 * quoted strings, one "<", no ",", no ";", no ":". */
static bool one_mailbox(const char *v, const char *addr)
{
	size_t vl = strlen(v), al = strlen(addr);
	if (vl < al || strcmp(v + vl - al, addr) != 0)
		return false;
	int angles = 0;
	bool quoted = false;
	for (const char *p = v; *p; p++) {
		if (quoted && *p == '\\' && p[1]) {
			p++;
		} else if (*p == '"') {
			quoted = !quoted;
		} else if (!quoted) {
			if (*p == ',' || *p == ';' || *p == ':')
				return false;
			angles += *p == '<';
		}
	}
	return !quoted && angles == 1;
}

static void unhex_key(unsigned char key[TOKEN_KEY_LEN])
{
	for (int i = 0; i < TOKEN_KEY_LEN; i++) {
		unsigned v;
		assert_int_equal(sscanf(&KEY_HEX[2 * i], "%2x", &v), 1);
		key[i] = (unsigned char)v;
	}
}

static void test_confirm_mail(void **state)
{
	(void)state;
	static const struct {
		const char *locale, *base_url, *want_base, *from;
		const char *email, *name;
	} cases[] = {
		{"en", "https://news.example.org", "https://news.example.org", "News <news@example.org>",
		 "ann@example.org", "Ann"},
		{"en", "http://127.0.0.1:8080", "http://127.0.0.1:8080", "news@example.org", "a+tag@x.org", NULL},
		{"en", "https://x.org/digest/", "https://x.org/digest", "\"The News\" <n@x.org>", "b@x.org",
		 "<script>alert(\"x\")</script> & Co"},
		{"ru", "https://news.example.org/d/", "https://news.example.org/d", "Новости <news@example.org>",
		 "ivan@example.org", "Иван Петров"},
		{"ru", "https://news.example.org", "https://news.example.org", "news@example.org", "c@x.org",
		 "<b>Жирный</b>"},
		{"ru", "https://news.example.org", "https://news.example.org", "news@example.org", "d@x.org", ""},
		{"en", "https://news.example.org", "https://news.example.org", "news@example.org",
		 "e@x.org", "Very Long Name With Many Words That Goes On And On And On And On And On And On For A While"},
	};
	unsigned char key[TOKEN_KEY_LEN];
	unhex_key(key);
	char *secret = xasprintf("%s/secret", dir);
	FILE *f = fopen(secret, "w");
	assert_non_null(f);
	fputs(KEY_HEX "\n", f);
	fclose(f);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct buf t = {0};
		buf_adds(&t, "newsletter = { name = \"Daily & Co\"; timezone = \"UTC\";");
		conf_set(&t, "locale", cases[i].locale);
		conf_set(&t, "base_url", cases[i].base_url);
		conf_set(&t, "from", cases[i].from);
		conf_set(&t, "secret_file", secret);
		buf_adds(&t, " };\n");
		struct config *cfg = load_config(t.data);
		buf_free(&t);
		struct render *r = NULL;
		char *err = NULL;
		if (render_load(cfg, true, &r, &err) < 0)
			fail_msg("case %zu: render_load: %s", i, err);
		unsigned char loaded[TOKEN_KEY_LEN];
		assert_int_equal(token_key_load(cfg->newsletter.secret_file, loaded, &err), 0);
		assert_memory_equal(loaded, key, TOKEN_KEY_LEN);
		const char *nonce = "0123456789abcdef0123456789abcdef";
		struct reader rd = {.email = cases[i].email, .name = cases[i].name, .nonce = nonce};
		struct buf out = {0};
		time_t now = 1700000000 + (time_t)i;
		if (render_confirm(r, &rd, now, &out, &err) < 0)
			fail_msg("case %zu: render_confirm: %s", i, err);
		struct message m;
		parse_message(out.data, out.len, &m);
		/* all of it 7-bit: every part and header is encoded */
		for (size_t k = 0; k < out.len; k++)
			if ((unsigned char)out.data[k] >= 0x80)
				fail_msg("case %zu: an 8-bit octet at %zu", i, k);

		/* the header fields of one person's mail, none of list mail */
		static const char *const once[] = {"From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
						   "Auto-Submitted", "Content-Type"};
		for (size_t k = 0; k < ARRAY_LEN(once); k++)
			if (field_count(m.h, m.nh, once[k]) != 1)
				fail_msg("case %zu: %zu %s fields", i, field_count(m.h, m.nh, once[k]), once[k]);
		for (size_t k = 0; k < m.nh; k++)
			if (!strncasecmp(m.h[k].name, "List-", 5) || !strcasecmp(m.h[k].name, "Precedence") ||
			    !strcasecmp(m.h[k].name, "Bcc") || !strcasecmp(m.h[k].name, "Cc"))
				fail_msg("case %zu: a %s field", i, m.h[k].name);
		assert_string_equal(field(m.h, m.nh, "MIME-Version"), "1.0");
		assert_string_equal(field(m.h, m.nh, "Auto-Submitted"), "auto-generated");
		const char *to = field(m.h, m.nh, "To");
		char *angle = xasprintf("<%s>", cases[i].email);
		if (cases[i].name && *cases[i].name ? !one_mailbox(to, angle)
						     : strcmp(to, cases[i].email) != 0 && strcmp(to, angle) != 0)
			fail_msg("case %zu: To: %s", i, to);
		free(angle);
		assert_non_null(strstr(field(m.h, m.nh, "From"), "@"));
		assert_true(strlen(field(m.h, m.nh, "Subject")) > 0);
		assert_non_null(strstr(field(m.h, m.nh, "Date"), "2023"));
		char *mid = xstrdup(field(m.h, m.nh, "Message-ID"));
		char *date = xstrdup(field(m.h, m.nh, "Date"));
		assert_true(mid[0] == '<' && mid[strlen(mid) - 1] == '>');
		assert_non_null(strstr(mid, nonce));
		assert_non_null(strchr(mid, '@'));

		/* a text part and an HTML part, in that order */
		assert_int_equal(m.np, 2);
		const char *ct0 = field(m.p[0].h, m.p[0].nh, "Content-Type");
		const char *ct1 = field(m.p[1].h, m.p[1].nh, "Content-Type");
		assert_non_null(ct0);
		assert_non_null(ct1);
		assert_true(!strncasecmp(ct0, "text/plain", 10) && strcasestr(ct0, "utf-8"));
		assert_true(!strncasecmp(ct1, "text/html", 9) && strcasestr(ct1, "utf-8"));
		for (size_t k = 0; k < 2; k++)
			if (!utf8_ok(m.p[k].body))
				fail_msg("case %zu: part %zu is not UTF-8", i, k);

		/* the link, the same in both parts, with a token for this address only */
		char tok_text[TOKEN_MAX] = "", tok_html[TOKEN_MAX] = "";
		if (confirm_links(m.p[0].body, cases[i].want_base, tok_text) < 1)
			fail_msg("case %zu: no %s/confirm?t= link in the text:\n%s", i, cases[i].want_base, m.p[0].body);
		if (confirm_links(m.p[1].body, cases[i].want_base, tok_html) < 1)
			fail_msg("case %zu: no link in the HTML:\n%s", i, m.p[1].body);
		assert_string_equal(tok_text, tok_html);
		char *href = xasprintf("href=\"%s/confirm?t=%s\"", cases[i].want_base, tok_html);
		assert_non_null(strstr(m.p[1].body, href));
		free(href);
		assert_int_equal(strlen(tok_text), 43);
		assert_true(token_check(key, "confirm", cases[i].email, tok_text));
		assert_false(token_check(key, "unsubscribe", cases[i].email, tok_text));
		assert_false(token_check(key, "confirm", "someone.else@example.org", tok_text));
		char n2[33];
		assert_int_equal(token_nonce(tok_text, n2), 0);
		assert_string_equal(n2, nonce);
		/* no unsubscribe link: this is no list mail */
		for (size_t k = 0; k < 2; k++)
			assert_null(strstr(m.p[k].body, "/unsubscribe"));
		/* the name: in the text as it is, in the HTML escaped */
		if (cases[i].name && *cases[i].name) {
			/* the text is wrapped: compare with line breaks as spaces */
			char *flat = squeeze(m.p[0].body), *want = squeeze(cases[i].name);
			if (!strstr(flat, want))
				fail_msg("case %zu: the name is not in the text:\n%s", i, m.p[0].body);
			free(flat);
			free(want);
			if (strchr(cases[i].name, '<')) {
				assert_null(strstr(m.p[1].body, cases[i].name));
				assert_null(strstr(m.p[1].body, "<script"));
				assert_null(strstr(m.p[1].body, "<b>"));
				assert_non_null(strstr(m.p[1].body, "&lt;"));
			}
		}
		/* the language */
		char *lang = xasprintf("lang=\"%s\"", cases[i].locale);
		assert_non_null(strstr(m.p[1].body, lang));
		free(lang);
		if (!strcmp(cases[i].locale, "ru"))
			assert_non_null(strstr(m.p[0].body, "\xd0"));
		else
			assert_null(strstr(m.p[0].body, "\xd0"));
		message_free(&m);

		/* again, later: another Date and Message-ID, the same token */
		struct buf again = {0};
		assert_int_equal(render_confirm(r, &rd, now + 86400, &again, &err), 0);
		parse_message(again.data, again.len, &m);
		assert_string_not_equal(field(m.h, m.nh, "Message-ID"), mid);
		assert_string_not_equal(field(m.h, m.nh, "Date"), date);
		free(mid);
		free(date);
		char tok2[TOKEN_MAX] = "";
		assert_true(confirm_links(m.p[0].body, cases[i].want_base, tok2) >= 1);
		assert_string_equal(tok2, tok_text);
		message_free(&m);
		buf_free(&again);
		buf_free(&out);
		render_free(r);
		config_free(cfg);
	}
	free(secret);
}

/* A name or address that tries to add header fields adds none. */
static void test_confirm_injection(void **state)
{
	(void)state;
	char *text = xasprintf("newsletter = { secret_file = \"%s/secret2\"; };\n", dir);
	struct config *cfg = load_config(text);
	free(text);
	struct render *r;
	char *err = NULL;
	assert_int_equal(render_load(cfg, true, &r, &err), 0);
	unsigned char key[TOKEN_KEY_LEN];
	assert_int_equal(token_key_load(cfg->newsletter.secret_file, key, &err), 0);
	static const char *const names[] = {
		"Evil\r\nBcc: victim@example.org",
		"Evil\nBcc: victim@example.org",
		"=?UTF-8?B?QmNjOiB4?=\r\n\r\nbody",
		"\"quoted\" <other@example.org>, third@example.org",
	};
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		struct reader rd = {.email = "a@example.org", .name = names[i], .nonce = "ffffffffffffffffffffffffffffffff"};
		struct buf out = {0};
		assert_int_equal(render_confirm(r, &rd, 1700000000, &out, &err), 0);
		struct message m;
		parse_message(out.data, out.len, &m);
		for (size_t k = 0; k < m.nh; k++)
			if (!strcasecmp(m.h[k].name, "Bcc") || !strcasecmp(m.h[k].name, "Cc"))
				fail_msg("name %zu: a %s field", i, m.h[k].name);
		assert_int_equal(field_count(m.h, m.nh, "To"), 1);
		assert_int_equal(m.np, 2);
		/* the To field names one address: the reader's */
		const char *to = field(m.h, m.nh, "To");
		if (!one_mailbox(to, "<a@example.org>"))
			fail_msg("name %zu: To: %s", i, to);
		char tok[TOKEN_MAX];
		assert_int_equal(confirm_links(m.p[0].body, "http://127.0.0.1:8080", tok), 1);
		assert_true(token_check(key, "confirm", "a@example.org", tok));
		message_free(&m);
		buf_free(&out);
	}
	render_free(r);
	config_free(cfg);
}

/* Feedback-ID (Gmail's feedback loop): CAMPAIGN:TYPE:SENDER, the
 * sender newsletter.feedback_id or the From domain, none when it is "";
 * the same in every reader's message of an edition. */
static void test_feedback_id(void **state)
{
	(void)state;
	static const struct {
		const char *setting; /* NULL: not set */
		const char *digest, *confirm; /* NULL: no Feedback-ID */
	} rows[] = {
		{NULL, "20261123:digest:example.org", "confirm:optin:example.org"},
		{"bulk42", "20261123:digest:bulk42", "confirm:optin:bulk42"},
		{"", NULL, NULL},
	};
	char *secret = xasprintf("%s/secret", dir);
	FILE *f = fopen(secret, "w");
	assert_non_null(f);
	fputs(KEY_HEX "\n", f);
	fclose(f);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct buf t = {0};
		buf_adds(&t, "newsletter = { name = \"Daily\"; timezone = \"UTC\"; list_id = \"daily.example.org\";");
		conf_set(&t, "from", "News <news@example.org>");
		conf_set(&t, "secret_file", secret);
		if (rows[i].setting)
			conf_set(&t, "feedback_id", rows[i].setting);
		buf_adds(&t, " };\n");
		struct config *cfg = load_config(t.data);
		buf_free(&t);
		struct render *r = NULL;
		char *err = NULL;
		if (render_load(cfg, true, &r, &err) < 0 || render_edition(r, "2026-11-23", NULL, 0, 1700000000, &err) < 0)
			fail_msg("row %zu: %s", i, err);
		for (int k = 0; k < 3; k++) {
			static const char *const emails[] = {"a@example.org", "b@example.net", "c@example.com"};
			struct reader rd = {.email = emails[k], .name = k ? "B" : NULL,
					    .nonce = "0123456789abcdef0123456789abcdef"};
			struct buf out = {0};
			if (k < 2)
				assert_int_equal(render_message(r, &rd, &out), 0);
			else
				assert_int_equal(render_confirm(r, &rd, 1700000000, &out, &err), 0);
			struct message m;
			parse_message(out.data, out.len, &m);
			const char *want = k < 2 ? rows[i].digest : rows[i].confirm;
			const char *got = field(m.h, m.nh, "Feedback-ID");
			if (want ? !got || strcmp(got, want) : got != NULL)
				fail_msg("row %zu, message %d: Feedback-ID %s, want %s", i, k, got ? got : "none",
					 want ? want : "none");
			message_free(&m);
			buf_free(&out);
		}
		render_free(r);
		config_free(cfg);
	}
	free(secret);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_counts),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_confirm_mail),
		cmocka_unit_test(test_confirm_injection),
		cmocka_unit_test(test_feedback_id),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
