/* Unit tests of dsn (the labelled samples in tests/fixtures/inbound:
 * file -> kind, address, token) and of the VERP tokens; garbage of every
 * kind is no mail, or unknown, and never a crash. Run from the repository
 * root. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <cmocka.h>

#include "digest/dsn.h"
#include "digest/token.h"
#include "digest/util.h"

#define DIR "tests/fixtures/inbound/"
/* the tokens the samples carry (their shape only: dsn does not check them) */
#define TOK_B "k5tq3mzv7xw2ab4cdefghijklmnop"
#define TOK_U "m7rq2nzv6xw3ab5cdefghijklmnoq"

static char *slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct buf b = {0};
	char chunk[4096];
	size_t k;
	while ((k = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, k);
	fclose(f);
	*n = b.len;
	buf_add(&b, "", 1);
	return b.data;
}

/* Every sample of LABELS classified as labelled, with the reader's
 * address and the token where the sample carries one. */
static void test_corpus(void **state)
{
	(void)state;
	FILE *f = fopen(DIR "LABELS", "r");
	assert_non_null(f);
	char line[512];
	int n = 0, hard = 0, hard_found = 0, autoreplies = 0, unknown = 0;
	while (fgets(line, sizeof line, f)) {
		if (line[0] == '#')
			continue;
		char file[128], kind[32], addr[320];
		if (sscanf(line, "%127s %31s %319s", file, kind, addr) != 3)
			continue;
		char path[256];
		snprintf(path, sizeof path, DIR "%s", file);
		size_t len;
		char *msg = slurp(path, &len);
		struct dsn_result r;
		assert_int_equal(dsn_classify(msg, len, "digest", &r), 0);
		if (strcmp(dsn_kind_name(r.kind), kind)) {
			free(msg);
			fail_msg("%s: %s, want %s", file, dsn_kind_name(r.kind), kind);
		}
		if (0)
			fail_msg("%s: %s, want %s", file, dsn_kind_name(r.kind), kind);
		if (strcmp(addr, "-") && strcasecmp(r.recipient, addr))
			fail_msg("%s: address \"%s\", want %s", file, r.recipient, addr);
		/* where the sample names a token, it is found with its kind */
		bool has_b = strstr(msg, "+b-" TOK_B "@") != NULL;
		if (!strcmp(kind, "unsubscribe")) {
			assert_int_equal(r.token_kind, 'u');
			if (strcasecmp(r.token, TOK_U))
				fail_msg("%s: token %s", file, r.token);
		} else if (!strcmp(file, "arf-list-unsubscribe.eml")) {
			assert_int_equal(r.token_kind, 'u');
			assert_string_equal(r.token, TOK_U);
		} else if (!strcmp(kind, "unknown")) {
			/* nothing is done with unknown mail: no token looked for */
		} else if (has_b) {
			if (r.token_kind != 'b' || strcmp(r.token, TOK_B))
				fail_msg("%s: token %c %s, want b %s", file, r.token_kind ? r.token_kind : '-', r.token,
					 TOK_B);
		} else {
			assert_int_equal(r.token_kind, 0);
		}
		if (!strncmp(kind, "bounce-", 7)) {
			assert_true(r.status[0] == '4' || r.status[0] == '5' || r.status[0] == '\0');
			if (!strcmp(kind, "bounce-hard"))
				assert_true(r.status[0] != '4');
		}
		hard += !strcmp(kind, "bounce-hard");
		hard_found += !strcmp(kind, "bounce-hard") && r.kind == DSN_BOUNCE_HARD && r.recipient[0];
		autoreplies += !strcmp(kind, "auto-reply");
		unknown += !strcmp(kind, "unknown");
		assert_true(r.message_id[0] != '\0' || !strcmp(file, "qmail.eml"));
		free(msg);
		msg = NULL;
		n++;
	}
	fclose(f);
	assert_true(n >= 24);
	assert_int_equal(hard, hard_found);
	print_message("corpus: %d samples, %d hard bounces found with their address, %d auto-replies, %d unknown\n",
		      n, hard_found, autoreplies, unknown);
}

/* Specific fields of a few samples. */
static void test_fields(void **state)
{
	(void)state;
	size_t len;
	char *msg = slurp(DIR "postfix-dsn-hard.eml", &len);
	struct dsn_result r;
	assert_int_equal(dsn_classify(msg, len, "digest", &r), 0);
	assert_string_equal(r.status, "5.1.1");
	assert_non_null(strstr(r.diagnostic, "550 5.1.1"));
	assert_string_equal(r.message_id, "20261202030003.6F1A2C0@mail.example.org");
	/* another bounce address: the token is not ours */
	assert_int_equal(dsn_classify(msg, len, "bounces", &r), 0);
	assert_int_equal(r.kind, DSN_BOUNCE_HARD);
	assert_int_equal(r.token_kind, 0);
	free(msg);
	msg = slurp(DIR "gmail-soft.eml", &len);
	assert_int_equal(dsn_classify(msg, len, "digest", &r), 0);
	assert_string_equal(r.status, "4.2.2");
	free(msg);
}

/* What is not mail is -1; broken mail is unknown or a bounce, never a
 * crash, and a truncated or nested-to-death one ends. */
static void test_garbage(void **state)
{
	(void)state;
	struct dsn_result r;
	static const char *const not_mail[] = {"", "\n", "hello world\n", "\n\nFrom: x\n", " folded: first\n",
					       "no colon here\nFrom: a@b\n\nx", "X-Only: 1\n\nbody",
					       "\x89PNG\r\n\x1a\n", "From: \xff\xfe\n", NULL};
	for (const char *const *p = not_mail; *p; p++) {
		int rc = dsn_classify(*p, strlen(*p), "digest", &r);
		if (!strcmp(*p, "From: \xff\xfe\n"))
			assert_int_equal(rc, 0); /* a header, whatever its bytes */
		else if (rc != -1)
			fail_msg("\"%s\": %d, want -1", *p, rc);
	}
	static const char *const odd[] = {
		"From: a@b\n",
		"From: a@b\nContent-Type: multipart/report; report-type=delivery-status; boundary=x\n\n--x\n",
		"From: a@b\nContent-Type: multipart/report; boundary=\"\"\n\n--\n--\n",
		"From: a@b\nContent-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n"
		"Action: failed\nStatus: 5\n--b--\n",
		"From: a@b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822;\nAction: failed\n",
		"From: MAILER-DAEMON@x\nSubject: failure notice\n\n@ @@ a@ @b user unknown 5. 5.1 5.1. 550\n",
		"From: MAILER-DAEMON@x\nSubject: failure notice\nContent-Transfer-Encoding: base64\n\n====\n",
		"From: MAILER-DAEMON@x\nContent-Transfer-Encoding: quoted-printable\n\n=\n=4\n=ZZ user unknown\n",
		"To: digest+u-@example.org\n\n",
		"To: digest+b-\n\n",
		"From: x\nContent-Type: multipart/report; report-type=feedback-report; boundary=q\n\n--q\n"
		"Content-Type: message/rfc822\n\n--q--\n",
		NULL};
	for (const char *const *p = odd; *p; p++) {
		assert_int_equal(dsn_classify(*p, strlen(*p), "digest", &r), 0);
		assert_true(r.kind >= 0 && r.kind < DSN_KINDS);
	}
	assert_int_equal(dsn_classify(odd[9], strlen(odd[9]), "digest", &r), 0);
	assert_int_equal(r.kind, DSN_UNKNOWN);
	/* nested multiparts past any sane depth */
	struct buf b = {0};
	buf_adds(&b, "From: a@b\n");
	for (int i = 0; i < 500; i++)
		buf_addf(&b, "Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n", i, i);
	buf_adds(&b, "Content-Type: message/delivery-status\n\nAction: failed\nStatus: 5.1.1\n");
	assert_int_equal(dsn_classify(b.data, b.len, "digest", &r), 0);
	/* many parts */
	b.len = 0;
	buf_adds(&b, "From: a@b\nContent-Type: multipart/mixed; boundary=z\n\n");
	for (int i = 0; i < 5000; i++)
		buf_adds(&b, "--z\nContent-Type: text/plain\n\nx\n");
	assert_int_equal(dsn_classify(b.data, b.len, "digest", &r), 0);
	/* bytes of every value, and a NUL inside */
	b.len = 0;
	buf_adds(&b, "From: a@b\n\n");
	for (int i = 0; i < 4096; i++) {
		char c = (char)(i * 131 % 256);
		buf_add(&b, &c, 1);
	}
	assert_int_equal(dsn_classify(b.data, b.len, "digest", &r), 0);
	buf_free(&b);
}

/* VERP tokens: made and checked, any case; altered, forged, cut or of
 * another kind or key, refused. Edition days both ways. */
static void test_verp_tokens(void **state)
{
	(void)state;
	unsigned char key[TOKEN_KEY_LEN], other[TOKEN_KEY_LEN];
	memset(key, 7, sizeof key);
	memset(other, 8, sizeof other);
	const char *nonce = "0123456789abcdef0123456789abcdef";
	unsigned day = token_edition_day("2026-12-02");
	char back[11];
	token_day_edition(day, back);
	assert_string_equal(back, "2026-12-02");
	assert_int_equal(token_edition_day("1970-01-02"), 1);
	assert_int_equal(token_edition_day("2026-13-02"), 0);
	assert_int_equal(token_edition_day("garbage"), 0);
	char t[TOKEN_VERP_LEN + 1], prefix[17];
	unsigned d = 0;
	assert_int_equal(token_verp_make(key, 'b', nonce, day, t), 0);
	assert_int_equal(strlen(t), TOKEN_VERP_LEN);
	assert_true(strlen("digest+b-") + TOKEN_VERP_LEN <= 64);
	assert_true(token_verp_check(key, 'b', t, prefix, &d));
	assert_string_equal(prefix, "0123456789abcdef");
	assert_int_equal(d, day);
	char up[TOKEN_VERP_LEN + 1];
	for (int i = 0; i <= TOKEN_VERP_LEN; i++)
		up[i] = (char)(t[i] >= 'a' && t[i] <= 'z' ? t[i] - 32 : t[i]);
	assert_true(token_verp_check(key, 'b', up, prefix, &d));
	assert_false(token_verp_check(key, 'u', t, prefix, &d));
	assert_false(token_verp_check(other, 'b', t, prefix, &d));
	for (int i = 0; i < TOKEN_VERP_LEN; i++) {
		char x[TOKEN_VERP_LEN + 1];
		memcpy(x, t, sizeof x);
		x[i] = x[i] == 'a' ? 'b' : 'a';
		assert_false(token_verp_check(key, 'b', x, prefix, &d));
	}
	char cut[TOKEN_VERP_LEN + 1];
	memcpy(cut, t, sizeof cut);
	cut[TOKEN_VERP_LEN - 1] = '\0';
	assert_false(token_verp_check(key, 'b', cut, prefix, &d));
	assert_false(token_verp_check(key, 'b', "", prefix, &d));
	assert_false(token_verp_check(key, 'b', NULL, prefix, &d));
	assert_false(token_verp_check(key, 'b', "0000000000000000000000000000!", prefix, &d));
	assert_int_equal(token_verp_make(key, 'b', "xyz", day, t), -1);
	/* a confirmation mail's day 0 */
	assert_int_equal(token_verp_make(key, 'b', nonce, 0, t), 0);
	assert_true(token_verp_check(key, 'b', t, prefix, &d));
	assert_int_equal(d, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_corpus),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_verp_tokens),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
