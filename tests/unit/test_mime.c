/* Unit tests of mime and token: quoted-printable, RFC 2047 words and
 * folding, mailboxes, dates, the skeleton spliced per reader, link tokens. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/mime.h"
#include "digest/template.h"
#include "digest/textwrap.h"
#include "digest/token.h"
#include "digest/util.h"

/* Decode quoted-printable (for round trips). */
static char *qp_decode(const char *s, size_t *n)
{
	char *out = xmalloc(strlen(s) + 1);
	size_t o = 0;
	for (size_t i = 0; s[i];) {
		if (s[i] == '=' && s[i + 1] == '\r' && s[i + 2] == '\n') {
			i += 3;
		} else if (s[i] == '=') {
			unsigned v;
			assert_int_equal(sscanf(s + i + 1, "%2X", &v), 1);
			out[o++] = (char)v;
			i += 3;
		} else if (s[i] == '\r' && s[i + 1] == '\n') {
			out[o++] = '\n';
			i += 2;
		} else {
			out[o++] = s[i++];
		}
	}
	out[o] = '\0';
	*n = o;
	return out;
}

static void check_lines(const char *s, size_t max)
{
	for (const char *p = s; *p;) {
		const char *e = strstr(p, "\r\n");
		assert_non_null(e); /* every line ends in CRLF */
		if ((size_t)(e - p) > max)
			fail_msg("line of %zu octets > %zu: %.*s", (size_t)(e - p), max, (int)(e - p), p);
		for (const char *q = p; q < e; q++)
			assert_true(*q != '\n' && *q != '\r');
		p = e + 2;
	}
}

static void test_qp(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"plain\n", "plain\r\n"},
		{"a=b\n", "a=3Db\r\n"},
		{"trailing \n", "trailing=20\r\n"},
		{"tab\t\n", "tab=09\r\n"},
		{"Привет\n", "=D0=9F=D1=80=D0=B8=D0=B2=D0=B5=D1=82\r\n"},
		{"From here\n", "=46rom here\r\n"},
		{"crlf\r\nkept\r\n", "crlf\r\nkept\r\n"},
		{"no end", "no end"},
		{"\x01\x7f\n", "=01=7F\r\n"},
		{"\n\n", "\r\n\r\n"},
		{".\n", "=2E\r\n"},                 /* no line begins with a dot */
		{"a\n..b.\n", "a\r\n=2E.b.\r\n"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct buf b = {0};
		mime_qp(&b, cases[i].in, strlen(cases[i].in));
		assert_string_equal(b.data ? b.data : "", cases[i].want);
		buf_free(&b);
	}
	/* Long lines get soft breaks within 76 octets and decode back. */
	struct buf in = {0}, b = {0};
	for (int i = 0; i < 300; i++)
		buf_adds(&in, i % 7 ? "ж" : "x=");
	buf_adds(&in, " \n");
	for (int i = 0; i < 200; i++)
		buf_adds(&in, "a");
	buf_adds(&in, "\n");
	for (int i = 0; i < 300; i++) /* a dot where a soft break starts a line */
		buf_adds(&in, ".");
	buf_adds(&in, "\n");
	mime_qp(&b, in.data, in.len);
	check_lines(b.data, 76);
	assert_null(strstr(b.data, "\n."));
	size_t n;
	char *back = qp_decode(b.data, &n);
	assert_int_equal(n, in.len);
	assert_memory_equal(back, in.data, n);
	free(back);
	buf_free(&in);
	buf_free(&b);
}

/* Decode "=?UTF-8?B?...?=" words separated by spaces. */
static char *words_decode(const char *s)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	struct buf out = {0};
	const char *p = s;
	while ((p = strstr(p, "=?UTF-8?B?"))) {
		p += 10;
		const char *e = strstr(p, "?=");
		assert_non_null(e);
		assert_true(e - p + 12 <= 75);
		unsigned acc = 0;
		int bits = 0;
		for (; p < e; p++) {
			if (*p == '=')
				break;
			const char *c = strchr(a, *p);
			assert_non_null(c);
			acc = acc << 6 | (unsigned)(c - a);
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				char ch = (char)(acc >> bits);
				buf_add(&out, &ch, 1);
				acc &= (1u << bits) - 1;
			}
		}
		p = e + 2;
	}
	if (!out.data)
		buf_adds(&out, "");
	return out.data;
}

static void test_words(void **state)
{
	(void)state;
	struct buf b = {0};
	char *back;
	mime_word(&b, "Plain ASCII subject");
	assert_string_equal(b.data, "Plain ASCII subject");
	b.len = 0;
	mime_word(&b, "looks like =?x?= a word");
	assert_true(!strncmp(b.data, "=?UTF-8?B?", 10));
	static const char *const texts[] = {
		"VPK Daily — 24 ноября 2026: Российская 9М333 стремительно настигла украинского «Батяра»",
		"ж", "日本語のテキストとemoji 🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀🚀", "Ünïcödé",
	};
	for (size_t i = 0; i < ARRAY_LEN(texts); i++) {
		b.len = 0;
		mime_word(&b, texts[i]);
		for (const char *p = b.data; *p; p++)
			assert_true(*p >= 32 && *p < 127);
		back = words_decode(b.data);
		assert_string_equal(back, texts[i]);
		free(back);
	}
	/* A word too long to fold is encoded, and so split. */
	b.len = 0;
	char longw[301];
	memset(longw, 'x', 300);
	longw[300] = '\0';
	mime_word(&b, longw);
	assert_true(!strncmp(b.data, "=?UTF-8?B?", 10));
	back = words_decode(b.data);
	assert_string_equal(back, longw);
	free(back);
	struct buf h = {0};
	mime_fold(&h, "Subject", b.data);
	check_lines(h.data, 78);
	buf_free(&h);
	/* A control character can never reach a header. */
	b.len = 0;
	mime_word(&b, "ж\r\nBcc: x@y");
	back = words_decode(b.data);
	assert_null(strchr(back, '\r'));
	assert_null(strchr(back, '\n'));
	free(back);
	buf_free(&b);
}

static void test_fold_and_mailbox(void **state)
{
	(void)state;
	static const struct {
		const char *name, *addr, *want;
	} boxes[] = {
		{NULL, "a@b.org", "<a@b.org>"},
		{"", "a@b.org", "<a@b.org>"},
		{"Jane Doe", "a@b.org", "Jane Doe <a@b.org>"},
		{"Doe, Jane", "a@b.org", "\"Doe, Jane\" <a@b.org>"},
		{"Say \"hi\"", "a@b.org", "\"Say \\\"hi\\\"\" <a@b.org>"},
		{"Иван", "a@b.org", "=?UTF-8?B?0JjQstCw0L0=?= <a@b.org>"},
	};
	for (size_t i = 0; i < ARRAY_LEN(boxes); i++) {
		struct buf b = {0};
		mime_mailbox(&b, boxes[i].name, boxes[i].addr);
		assert_string_equal(b.data, boxes[i].want);
		buf_free(&b);
	}
	struct buf v = {0}, h = {0};
	mime_word(&v, "Очень длинная тема письма, которая точно не поместится в одну строку заголовка");
	mime_fold(&h, "Subject", v.data);
	check_lines(h.data, 78);
	assert_true(!strncmp(h.data, "Subject: =?UTF-8?B?", 19));
	/* continuation lines start with a space */
	for (const char *p = strstr(h.data, "\r\n"); p && p[2]; p = strstr(p + 2, "\r\n"))
		assert_int_equal(p[2], ' ');
	buf_free(&v);
	buf_free(&h);

	static const struct {
		const char *in, *name, *addr;
		int rc;
	} parse[] = {
		{"VPK Daily <digest@example.org>", "VPK Daily", "digest@example.org", 0},
		{"\"VPK, Daily\" <digest@example.org>", "VPK, Daily", "digest@example.org", 0},
		{"digest@example.org", NULL, "digest@example.org", 0},
		{"<digest@example.org>", NULL, "digest@example.org", 0},
		{"Name <no-at>", NULL, NULL, -1},
		{"Name <a@b.org", NULL, NULL, -1},
		{"Name <a@b.org> trailing", NULL, NULL, -1},
		{"two words@x.org", NULL, NULL, -1},
		{"", NULL, NULL, -1},
	};
	for (size_t i = 0; i < ARRAY_LEN(parse); i++) {
		char *n = NULL, *a = NULL, *err = NULL;
		int rc = mime_parse_mailbox(parse[i].in, &n, &a, &err);
		assert_int_equal(rc, parse[i].rc);
		if (rc == 0) {
			if (parse[i].name)
				assert_string_equal(n, parse[i].name);
			else
				assert_null(n);
			assert_string_equal(a, parse[i].addr);
		} else {
			assert_non_null(err);
		}
		free(n);
		free(a);
		free(err);
	}
}

static void test_date(void **state)
{
	(void)state;
	static const struct {
		const char *tz;
		time_t t;
		const char *want;
	} cases[] = {
		{"Europe/Moscow", 1795534022, "Tue, 24 Nov 2026 18:27:02 +0300"},
		{"UTC", 0, "Thu, 1 Jan 1970 00:00:00 +0000"},
		{"Asia/Kolkata", 1795534022, "Tue, 24 Nov 2026 20:57:02 +0530"},
		{"America/St_Johns", 1795534022, "Tue, 24 Nov 2026 11:57:02 -0330"},
		{"America/New_York", 1783000000, "Thu, 2 Jul 2026 09:46:40 -0400"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		setenv("TZ", cases[i].tz, 1);
		tzset();
		char out[40];
		mime_date(cases[i].t, out);
		assert_string_equal(out, cases[i].want);
	}
	setenv("TZ", "UTC", 1);
	tzset();
}

static void add_text(struct tout *o, const char *s)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 8;
		o->segs = xrealloc(o->segs, o->cap * sizeof *o->segs);
	}
	o->segs[o->n++] = (struct tseg){.kind = TSEG_TEXT, .text = xstrdup(s), .len = strlen(s)};
}

static void add_slot(struct tout *o, int slot, bool escape)
{
	if (o->n == o->cap) {
		o->cap = o->cap ? 2 * o->cap : 8;
		o->segs = xrealloc(o->segs, o->cap * sizeof *o->segs);
	}
	o->segs[o->n++] = (struct tseg){.kind = TSEG_SLOT, .slot = slot, .escape = escape};
}

/* The spliced message of a reader equals its parts encoded whole. */
static void test_skeleton(void **state)
{
	(void)state;
	struct tout subject = {0}, text = {0}, html = {0};
	add_text(&subject, "Дайджест: ");
	add_text(&subject, "главное за день");
	add_text(&text, "Заголовок\n\nЗдравствуйте, ");
	add_slot(&text, SLOT_NAME, false);
	add_text(&text, "! Это очень длинная строка приветствия, которую придётся переносить, потому что она длиннее семидесяти двух колонок.\n\n1. Статья номер один с длинным названием, которое тоже переносится на следующую строку\n\nОтписаться: ");
	add_slot(&text, SLOT_UNSUBSCRIBE_URL, false);
	add_text(&text, "\nКонец");
	add_text(&html, "<html><body>\n<p>Привет, ");
	add_slot(&html, SLOT_NAME, true);
	add_text(&html, "</p>\n<p>static</p>\n<a href=\"");
	add_slot(&html, SLOT_UNSUBSCRIBE_URL, true);
	add_text(&html, "\">x</a></body></html>\n");
	struct mime_input in = {
		.from_name = "VPK Daily", .from_addr = "digest@example.org", .reply_to = NULL,
		.list_name = "VPK Daily", .list_id = "daily.example.org",
		.unsubscribe_mailto = "digest@example.org", .domain = "example.org", .date = 0,
		.subject = &subject, .text = &text, .html = &html, .wrap = 72,
	};
	struct mime_skel *k = NULL;
	char *err = NULL;
	assert_int_equal(mime_skel_build(&in, &k, &err), 0);
	static const char *const readers[][2] = {
		{"Мария <script>", "maria@example.org"},
		{NULL, "bob@example.org"},
		{"A very long name that makes the greeting line wrap somewhere else entirely", "x@y.org"},
	};
	for (size_t r = 0; r < ARRAY_LEN(readers); r++) {
		const char *slots[SLOT_COUNT] = {readers[r][0], readers[r][1], "https://n.example/unsubscribe?t=abc&x=1",
						 "digest.2026-11-24.0123"};
		struct buf msg = {0};
		mime_skel_message(k, slots, &msg);
		check_lines(msg.data, 78);
		assert_non_null(strstr(msg.data, "Message-ID: <digest.2026-11-24.0123@example.org>\r\n"));
		assert_non_null(strstr(msg.data, "List-Unsubscribe: <https://n.example/unsubscribe?t=abc&x=1>,"));
		assert_non_null(strstr(msg.data, "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"));
		assert_non_null(strstr(msg.data, "\r\nTo: "));
		assert_non_null(strstr(msg.data, "\r\nSubject: =?UTF-8?B?"));
		/* The text part, decoded, equals the whole text wrapped at once. */
		const char *tp = strstr(msg.data, "quoted-printable\r\n\r\n");
		assert_non_null(tp);
		tp += 20;
		const char *te = strstr(tp, "\r\n--=_digest_");
		assert_non_null(te);
		char *enc = xstrndup(tp, (size_t)(te - tp));
		size_t n;
		char *dec = qp_decode(enc, &n);
		struct buf flat = {0}, want = {0};
		tout_flatten(&text, slots, &flat);
		buf_adds(&flat, "\n");
		text_wrap(&want, flat.data, flat.len, 72);
		assert_string_equal(dec, want.data);
		free(enc);
		free(dec);
		/* The HTML part escapes the personal values. */
		const char *hp = strstr(te + 2, "quoted-printable\r\n\r\n");
		assert_non_null(hp);
		hp += 20;
		const char *he = strstr(hp, "\r\n--=_digest_");
		enc = xstrndup(hp, (size_t)(he - hp));
		dec = qp_decode(enc, &n);
		if (readers[r][0])
			assert_non_null(strstr(dec, "&lt;script&gt;") ? dec : (readers[r][0][0] == 'A' ? dec : NULL));
		assert_null(strstr(dec, "<script>"));
		assert_non_null(strstr(dec, "t=abc&amp;x=1"));
		free(enc);
		free(dec);
		buf_free(&flat);
		buf_free(&want);
		buf_free(&msg);
	}
	mime_skel_free(k);
	tout_free(&subject);
	tout_free(&text);
	tout_free(&html);
}

static void test_tokens(void **state)
{
	(void)state;
	unsigned char key[TOKEN_KEY_LEN], key2[TOKEN_KEY_LEN];
	char path[] = "/tmp/digest-key-XXXXXX";
	assert_non_null(mkdtemp(path));
	char *file = xasprintf("%s/sub/secret", path);
	char *err = NULL;
	assert_int_equal(token_key_load(file, key, &err), 0);
	assert_int_equal(token_key_load(file, key2, &err), 0); /* read back, not made anew */
	assert_memory_equal(key, key2, sizeof key);
	const char *nonce = "00112233445566778899aabbccddeeff";
	char t1[TOKEN_MAX], t2[TOKEN_MAX], n[33];
	assert_int_equal(token_make(key, "unsubscribe", "a@b.org", nonce, t1), 0);
	assert_int_equal(strlen(t1), 43);
	assert_int_equal(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), 43);
	assert_true(token_check(key, "unsubscribe", "a@b.org", t1));
	assert_false(token_check(key, "confirm", "a@b.org", t1));
	assert_false(token_check(key, "unsubscribe", "c@b.org", t1));
	assert_int_equal(token_nonce(t1, n), 0);
	assert_string_equal(n, nonce);
	assert_int_equal(token_make(key, "confirm", "a@b.org", nonce, t2), 0);
	assert_string_not_equal(t1, t2);
	key2[0] ^= 1; /* a rotated secret invalidates every link */
	assert_false(token_check(key2, "unsubscribe", "a@b.org", t1));
	static const char *const bad[] = {"", "short", "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
					  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		assert_false(token_check(key, "unsubscribe", "a@b.org", bad[i]));
		assert_int_equal(token_nonce(bad[i], n), -1); /* malformed: none is looked up */
	}
	char t3[TOKEN_MAX];
	t3[0] = 0;
	memcpy(t3, t1, sizeof t3);
	/* Every other spelling of the last character is refused: it carries
	 * 4 bits of the MAC and 2 that must be zero. */
	static const char b64u[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	for (const char *c = b64u; *c; c++) {
		t3[42] = *c;
		assert_int_equal(token_check(key, "unsubscribe", "a@b.org", t3), *c == t1[42]);
	}
	t3[42] = t1[42];
	t3[5] = t3[5] == 'A' ? 'B' : 'A';
	assert_false(token_check(key, "unsubscribe", "a@b.org", t3));
	assert_int_equal(token_make(key, "unsubscribe", "a@b.org", "not-hex", t3), -1);
	/* A key file of the wrong shape is an error naming it. */
	FILE *f = fopen(file, "w");
	fputs("nothex\n", f);
	fclose(f);
	assert_int_equal(token_key_load(file, key2, &err), -1);
	assert_non_null(strstr(err, file));
	free(err);
	unlink(file);
	char *sub = xasprintf("%s/sub", path);
	rmdir(sub);
	rmdir(path);
	free(sub);
	free(file);
}

int main(void)
{
	setenv("TZ", "UTC", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qp),
		cmocka_unit_test(test_words),
		cmocka_unit_test(test_fold_and_mailbox),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_skeleton),
		cmocka_unit_test(test_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
