/* Unit tests of dkim: relaxed canonicalization (RFC 6376 3.4, its examples),
 * body hashes, the signed header list, what changes a signature and what
 * does not, bad keys, key generation, signing from several threads. */
#define _GNU_SOURCE
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/dkim.h"

static char dir[] = "/tmp/test_dkim.XXXXXX";
static char *rsa_pem, *ed_pem; /* made once by dkim_keygen */
static size_t rsa_len, ed_len;

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	struct buf b = {0};
	char tmp[4096];
	size_t k;
	while ((k = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_add(&b, tmp, k);
	fclose(f);
	*len = b.len;
	return b.data;
}

static int setup(void **state)
{
	(void)state;
	if (!mkdtemp(dir))
		return -1;
	char *err = NULL, *rec = NULL;
	char *p = xasprintf("%s/rsa.pem", dir);
	if (dkim_keygen("rsa", p, &rec, &err) < 0)
		return -1;
	free(rec);
	rsa_pem = slurp(p, &rsa_len);
	free(p);
	p = xasprintf("%s/ed.pem", dir);
	if (dkim_keygen("ed25519", p, &rec, &err) < 0)
		return -1;
	free(rec);
	ed_pem = slurp(p, &ed_len);
	free(p);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(rsa_pem);
	free(ed_pem);
	char *cmd = xasprintf("rm -rf %s", dir);
	int rc = system(cmd);
	free(cmd);
	return rc == 0 ? 0 : -1;
}

static void test_canon_header(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} rows[] = {
		/* RFC 6376 3.4.5 */
		{"A: X\r\n", "a:X\r\n"},
		{"B : Y\t\r\n\tZ  \r\n", "b:Y Z\r\n"},
		{"Subject:   many   \t spaces  ", "subject:many spaces\r\n"},
		{"From:x", "from:x\r\n"},
		{"X-Empty:\r\n", "x-empty:\r\n"},
		{"X-Blank:   \r\n", "x-blank:\r\n"},
		{"To: =?UTF-8?B?0JjQsg==?=\r\n <a@example.org>\r\n", "to:=?UTF-8?B?0JjQsg==?= <a@example.org>\r\n"},
		{"List-Unsubscribe: <https://x/u?t=1>,\r\n <mailto:d@x?subject=unsubscribe>\r\n",
		 "list-unsubscribe:<https://x/u?t=1>, <mailto:d@x?subject=unsubscribe>\r\n"},
		{"MIME-Version: 1.0\r\n", "mime-version:1.0\r\n"},
		{"Content-Type: multipart/alternative;\r\n boundary=\"b1\"\r\n",
		 "content-type:multipart/alternative; boundary=\"b1\"\r\n"},
		{"DKIM-Signature: v=1; b=\r\n", "dkim-signature:v=1; b=\r\n"},
		/* the value's case is kept, only the name's is folded */
		{"SUBJECT: Hello World", "subject:Hello World\r\n"},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct buf out = {0};
		dkim_canon_header(&out, rows[i].in, strlen(rows[i].in));
		if (strcmp(out.data, rows[i].want))
			fail_msg("row %zu: got \"%s\", want \"%s\"", i, out.data, rows[i].want);
		buf_free(&out);
	}
}

static void test_canon_body(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} rows[] = {
		/* RFC 6376 3.4.5 */
		{" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n"},
		/* an empty body, and one of empty lines, is empty */
		{"", ""},
		{"\r\n", ""},
		{"\r\n\r\n\r\n", ""},
		{"  \r\n\t\r\n", ""},
		/* a last line without CRLF gets one */
		{"a", "a\r\n"},
		{"a  ", "a\r\n"},
		/* empty lines inside are kept */
		{"a\r\n\r\nb\r\n\r\n", "a\r\n\r\nb\r\n"},
		{"\r\na\r\n", "\r\na\r\n"},
		/* blanks at the start of a line become one space, not none */
		{"\t\tx\r\n", " x\r\n"},
		/* quoted-printable soft breaks are text like any other */
		{"abc=\r\ndef\r\n", "abc=\r\ndef\r\n"},
		/* LF line ends (a Maildir copy) are read as CRLF */
		{"a \nb\n\n", "a\r\nb\r\n"},
		/* clean lines around rewritten ones, empty lines between */
		{"ok\r\n\r\nx  y\r\n\r\nok\r\n", "ok\r\n\r\nx y\r\n\r\nok\r\n"},
		{"ok\r\n \r\n\r\nok\r\n\t\r\n", "ok\r\n\r\n\r\nok\r\n"},
		{"a\nb\r\nc\r\n", "a\r\nb\r\nc\r\n"},
		{"a\r\nb", "a\r\nb\r\n"},
		{"a\rb\r\n", "a\rb\r\n"},
		/* RFC 8463 A.2's body */
		{"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n",
		 "Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n"},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct buf out = {0};
		dkim_canon_body(&out, rows[i].in, strlen(rows[i].in));
		if (strcmp(out.data ? out.data : "", rows[i].want))
			fail_msg("row %zu: got \"%s\", want \"%s\"", i, out.data ? out.data : "", rows[i].want);
		buf_free(&out);
		/* the body hash (made without a copy) is the canonical body's */
		char h1[45], h2[45];
		dkim_body_hash(rows[i].in, strlen(rows[i].in), h1);
		dkim_body_hash(rows[i].want, strlen(rows[i].want), h2);
		if (strcmp(h1, h2))
			fail_msg("row %zu: bh=%s, the canonical body's %s", i, h1, h2);
	}
}

static void test_body_hash(void **state)
{
	(void)state;
	static const struct {
		const char *body, *bh;
	} rows[] = {
		/* the SHA-256 of nothing: relaxed canonicalization of an empty body */
		{"", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
		{"\r\n\r\n", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
		/* RFC 8463 A.3: bh= of its example */
		{"Hi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n",
		 "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="},
		/* blanks at line ends and trailing empty lines do not count */
		{"Hi.  \r\n\r\nWe lost the game. Are you   hungry yet?\r\n\r\nJoe.\r\n\r\n\r\n",
		 "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8="},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		char bh[45];
		dkim_body_hash(rows[i].body, strlen(rows[i].body), bh);
		if (strcmp(bh, rows[i].bh))
			fail_msg("row %zu: bh=%s, want %s", i, bh, rows[i].bh);
	}
}

static const char MSG[] = "From: VPK Daily <digest@example.org>\r\n"
			  "To: Reader <r@example.net>\r\n"
			  "Subject: The day's stories\r\n"
			  "Date: Tue, 24 Nov 2026 08:00:00 +0300\r\n"
			  "Message-ID: <digest.2026-11-24.abc@example.org>\r\n"
			  "List-Id: VPK Daily <daily.example.org>\r\n"
			  "List-Unsubscribe: <https://news.example.org/unsubscribe?t=x>,\r\n"
			  " <mailto:digest@example.org?subject=unsubscribe>\r\n"
			  "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
			  "X-Mailer: digest\r\n"
			  "MIME-Version: 1.0\r\n"
			  "Content-Type: text/plain; charset=utf-8\r\n"
			  "\r\n"
			  "Hello.\r\n\r\nThe stories.\r\n";

static struct dkim *signer(bool rsa, bool ed)
{
	struct dkim *d = dkim_new("example.org");
	char *err = NULL;
	if (rsa && dkim_add_key(d, "rsa2026", rsa_pem, rsa_len, "rsa.pem", &err) < 0)
		fail_msg("rsa: %s", err);
	if (ed && dkim_add_key(d, "ed2026", ed_pem, ed_len, "ed.pem", &err) < 0)
		fail_msg("ed25519: %s", err);
	return d;
}

static char *sign(const struct dkim *d, const char *msg)
{
	struct buf out = {0};
	char *err = NULL;
	if (dkim_sign(d, msg, strlen(msg), 1795000000, &out, &err) < 0)
		fail_msg("dkim_sign: %s", err);
	return out.data;
}

/* The value of tag NAME of the first signature in SIG, unfolded. */
static char *tag(const char *sig, const char *name)
{
	struct buf c = {0};
	size_t len = 0; /* the first field: up to a CRLF not followed by a blank */
	while (sig[len] && !(sig[len] == '\n' && sig[len + 1] != ' ' && sig[len + 1] != '\t'))
		len++;
	dkim_canon_header(&c, sig, len);
	char *want = xasprintf(" %s=", name);
	char *p = strstr(c.data, want);
	if (!p && !strncmp(strchr(c.data, ':') + 1, want + 1, strlen(want + 1)))
		p = strchr(c.data, ':'), p[0] = ' ';
	assert_non_null(p);
	p += strlen(want);
	char *v = xstrndup(p, strcspn(p, ";\r"));
	/* unfolding left single spaces inside values: drop them */
	char *w = v;
	for (char *r = v; *r; r++)
		if (*r != ' ')
			*w++ = *r;
	*w = '\0';
	free(want);
	buf_free(&c);
	return v;
}

static void test_signature_fields(void **state)
{
	(void)state;
	struct dkim *d = signer(true, true);
	assert_int_equal(dkim_nkeys(d), 2);
	char *sig = sign(d, MSG);
	/* one field per key, in the configured order */
	char *second = strstr(sig + 1, "\r\nDKIM-Signature:");
	assert_non_null(second);
	static const char head[] = "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;";
	assert_int_equal(strncmp(sig, head, sizeof head - 1), 0);
	assert_null(strstr(second + 2, "\r\nDKIM-Signature:"));
	second += 2;
	static const struct {
		const char *tag, *rsa, *ed;
	} rows[] = {
		{"a", "rsa-sha256", "ed25519-sha256"},
		{"c", "relaxed/relaxed", "relaxed/relaxed"},
		{"d", "example.org", "example.org"},
		{"s", "rsa2026", "ed2026"},
		{"t", "1795000000", "1795000000"},
		/* the SPEC's list as the message has it (no Reply-To here),
		 * From twice; X-Mailer is not signed */
		{"h", "from:from:to:subject:date:message-id:mime-version:content-type:list-id:list-unsubscribe:"
		      "list-unsubscribe-post",
		 "from:from:to:subject:date:message-id:mime-version:content-type:list-id:list-unsubscribe:"
		 "list-unsubscribe-post"},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		char *a = tag(sig, rows[i].tag), *b = tag(second, rows[i].tag);
		if (strcmp(a, rows[i].rsa) || strcmp(b, rows[i].ed))
			fail_msg("%s=: got %s and %s, want %s and %s", rows[i].tag, a, b, rows[i].rsa, rows[i].ed);
		free(a);
		free(b);
	}
	/* bh= is the body's, the same for both keys */
	char bh[45];
	const char *body = strstr(MSG, "\r\n\r\n") + 4;
	dkim_body_hash(body, strlen(body), bh);
	char *b1 = tag(sig, "bh"), *b2 = tag(second, "bh");
	assert_string_equal(b1, bh);
	assert_string_equal(b2, bh);
	free(b1);
	free(b2);
	/* b=: 2048-bit RSA is 256 octets (344 in base64), Ed25519 64 (88) */
	b1 = tag(sig, "b");
	b2 = tag(second, "b");
	assert_int_equal(strlen(b1), 344);
	assert_int_equal(strlen(b2), 88);
	free(b1);
	free(b2);
	/* folded: no line over 78 octets, every line CRLF, continuation
	 * lines start with a blank */
	for (const char *l = sig; *l;) {
		const char *e = strstr(l, "\r\n");
		assert_non_null(e);
		if (e - l > 78)
			fail_msg("a line of %d octets: %.*s", (int)(e - l), (int)(e - l), l);
		l = e + 2;
		assert_true(!*l || *l == '\t' || !strncmp(l, "DKIM-Signature:", 15));
	}
	free(sig);
	dkim_free(d);

	/* a Reply-To and a Feedback-ID are signed where the list puts them */
	d = signer(false, true);
	char *msg = xasprintf("Reply-To: <editors@example.org>\r\nFeedback-ID: 20261124:digest:example.org\r\n%s", MSG);
	sig = sign(d, msg);
	char *h = tag(sig, "h");
	assert_string_equal(h, "from:from:to:subject:date:message-id:reply-to:mime-version:content-type:list-id:"
			       "list-unsubscribe:list-unsubscribe-post:feedback-id");
	free(h);
	free(sig);
	free(msg);
	dkim_free(d);
}

/* Replace the first FIND in MSG by REPL; malloc'd. */
static char *edit(const char *msg, const char *find, const char *repl)
{
	const char *p = strstr(msg, find);
	assert_non_null(p);
	return xasprintf("%.*s%s%s", (int)(p - msg), msg, repl, p + strlen(find));
}

static void test_what_is_signed(void **state)
{
	(void)state;
	/* Both RSA (PKCS #1 v1.5) and Ed25519 signatures are deterministic:
	 * the same signed text gives the same b=. */
	static const struct {
		const char *find, *repl;
		bool same; /* the signature stays the same */
	} rows[] = {
		/* relaxed: blanks and folding of signed fields do not matter */
		{"Subject: The day's stories", "Subject:   The  day's   stories  ", true},
		{"Subject: The day's stories", "Subject: The day's\r\n  stories", true},
		{"MIME-Version: 1.0", "Mime-Version : 1.0", true},
		/* nor blanks at the body's line ends, or empty lines at its end */
		{"The stories.\r\n", "The   stories.  \r\n\r\n\r\n", true},
		/* a field not signed may change */
		{"X-Mailer: digest", "X-Mailer: something else", true},
		/* every signed field counts */
		{"Subject: The day's stories", "Subject: The days stories", false},
		{"From: VPK Daily", "From: VPK Dally", false},
		{"To: Reader <r@", "To: Reader <s@", false},
		{"Date: Tue, 24", "Date: Tue, 25", false},
		{"abc@example.org>", "abd@example.org>", false},
		{"unsubscribe?t=x", "unsubscribe?t=y", false},
		{"One-Click", "One-click", false},
		{"List-Id: VPK Daily", "List-Id: VPK Dailx", false},
		{"charset=utf-8", "charset=koi8-r", false},
		/* a second From added above is caught by the second h= from */
		{"From: VPK", "From: attacker@example.com\r\nFrom: VPK", false},
		/* and so is the body */
		{"Hello.", "Hallo.", false},
		{"The stories.\r\n", "The stories.\r\nMore.\r\n", false},
	};
	for (int k = 0; k < 2; k++) {
		struct dkim *d = signer(k == 0, k == 1);
		char *base = sign(d, MSG);
		char *b0 = tag(base, "b");
		for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
			char *msg = edit(MSG, rows[i].find, rows[i].repl);
			char *sig = sign(d, msg);
			char *b = tag(sig, "b");
			if ((strcmp(b, b0) == 0) != rows[i].same)
				fail_msg("%s, row %zu (%s -> %s): the signature %s", k ? "ed25519" : "rsa", i,
					 rows[i].find, rows[i].repl, rows[i].same ? "changed" : "did not change");
			free(b);
			free(sig);
			free(msg);
		}
		free(b0);
		free(base);
		dkim_free(d);
	}
}

static void test_bad_keys(void **state)
{
	(void)state;
	static const struct {
		const char *pem, *want;
	} rows[] = {
		{"", "key.pem: not a PEM private key"},
		{"ssh-rsa AAAAB3NzaC1yc2E", "key.pem: not a PEM private key"},
		{"-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n",
		 "key.pem: not a usable PEM private key"},
		{"-----BEGIN CERTIFICATE-----\nbm90IGEga2V5\n-----END CERTIFICATE-----\n",
		 "key.pem: not a usable PEM private key"},
		/* a P-256 key: neither RSA nor Ed25519 */
		{"-----BEGIN PRIVATE KEY-----\n"
		 "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\n"
		 "OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n"
		 "1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G\n"
		 "-----END PRIVATE KEY-----\n",
		 "key.pem: an EC/ECDSA key: DKIM signs with RSA"},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct dkim *d = dkim_new("example.org");
		char *err = NULL;
		int rc = dkim_add_key(d, "s", rows[i].pem, strlen(rows[i].pem), "key.pem", &err);
		if (rc != -1 || !err || !strstr(err, rows[i].want))
			fail_msg("row %zu: rc %d, \"%s\", want \"%s\"", i, rc, err ? err : "", rows[i].want);
		assert_int_equal(dkim_nkeys(d), 0);
		free(err);
		dkim_free(d);
	}
}

static void test_keygen(void **state)
{
	(void)state;
	static const struct {
		const char *type, *prefix;
		size_t min, max; /* the record's length */
	} rows[] = {
		{"rsa", "v=DKIM1; k=rsa; p=MIIBIjAN", 380, 420},
		{"ed25519", "v=DKIM1; k=ed25519; p=", 66, 66},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		char *p = xasprintf("%s/new-%s.pem", dir, rows[i].type), *rec = NULL, *err = NULL;
		assert_int_equal(dkim_keygen(rows[i].type, p, &rec, &err), 0);
		struct stat st;
		assert_int_equal(stat(p, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		if (strncmp(rec, rows[i].prefix, strlen(rows[i].prefix)) || strlen(rec) < rows[i].min ||
		    strlen(rec) > rows[i].max)
			fail_msg("%s: record \"%s\"", rows[i].type, rec);
		free(rec);
		/* the key it wrote signs */
		size_t n;
		char *pem = slurp(p, &n);
		struct dkim *d = dkim_new("example.org");
		assert_int_equal(dkim_add_key(d, "s", pem, n, p, &err), 0);
		char *sig = sign(d, MSG);
		free(sig);
		dkim_free(d);
		free(pem);
		/* a key is never overwritten */
		assert_int_equal(dkim_keygen(rows[i].type, p, &rec, &err), -1);
		assert_non_null(strstr(err, "never overwritten"));
		assert_null(rec);
		free(err);
		err = NULL;
		free(p);
	}
	char *rec = NULL, *err = NULL;
	assert_int_equal(dkim_keygen("dsa", "/nonexistent/x", &rec, &err), -1);
	assert_non_null(strstr(err, "unknown key type"));
	free(err);
}

struct job {
	const struct dkim *d;
	char *sig[8];
};

static void *signing_thread(void *arg)
{
	struct job *j = arg;
	for (int i = 0; i < 8; i++)
		j->sig[i] = sign(j->d, MSG);
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	/* one signer, four threads at once: every signature as one thread's */
	struct dkim *d = signer(true, true);
	char *want = sign(d, MSG);
	struct job jobs[4];
	pthread_t th[4];
	for (int i = 0; i < 4; i++) {
		jobs[i].d = d;
		assert_int_equal(pthread_create(&th[i], NULL, signing_thread, &jobs[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		for (int k = 0; k < 8; k++) {
			assert_string_equal(jobs[i].sig[k], want);
			free(jobs[i].sig[k]);
		}
	}
	free(want);
	dkim_free(d);
}

static void test_no_header_end(void **state)
{
	(void)state;
	struct dkim *d = signer(false, true);
	struct buf out = {0};
	char *err = NULL;
	static const char bad[] = "From: x@example.org\r\nSubject: no body";
	assert_int_equal(dkim_sign(d, bad, strlen(bad), 0, &out, &err), -1);
	assert_non_null(strstr(err, "no end of header"));
	assert_int_equal(out.len, 0);
	free(err);
	dkim_free(d);
}

/* Signing prepared once from one message: each message signed into the
 * room before it gets, byte for byte, what dkim_sign gives it alone;
 * whichever of its signed fields differ from the prepared message's. */
static void test_prepared(void **state)
{
	(void)state;
	static const struct {
		const char *find, *repl;
		const char *fails; /* what the error names, or NULL: signed */
	} rows[] = {
		{"Subject", "Subject", NULL},
		/* what differs per reader */
		{"To: Reader <r@example.net>", "To: =?UTF-8?B?0KfQuNGC0LDRgtC10LvRjA==?= <someone.else@example.com>", NULL},
		{"abc@example.org>", "a-much-longer-message-id.0123456789@example.org>", NULL},
		{"unsubscribe?t=x>,\r\n <mailto", "unsubscribe?t=a-longer-token>, <mailto", NULL},
		{"Subject: The day's stories", "Subject: The day's stories for Reader", NULL},
		/* and what should not, but may: canonicalized again */
		{"Date: Tue, 24", "Date:   Wed,    25", NULL},
		{"MIME-Version: 1.0", "Mime-Version : 1.0", NULL},
		/* unsigned fields come and go */
		{"X-Mailer: digest\r\n", "", NULL},
		{"X-Mailer: digest", "X-Mailer: digest\r\nX-Other: yes", NULL},
		/* the body is each message's own */
		{"Hello.", "Hello, Reader, with a longer body.\r\n\r\nAnd   blanks  ", NULL},
		/* a signed field added or missing changes h=: refused */
		{"MIME-Version: 1.0\r\n", "", "mime-version"},
		{"X-Mailer: digest", "Reply-To: <editors@example.org>", "reply-to"},
		{"From: VPK", "From: attacker@example.com\r\nFrom: VPK", "from"},
		{"\r\n\r\nHello.\r\n\r\nThe stories.\r\n", "\r\n", "end of header"},
	};
	for (int k = 0; k < 3; k++) {
		struct dkim *d = signer(k != 1, k != 0);
		struct dkim_prep *p = NULL;
		char *err = NULL;
		assert_int_equal(dkim_prepare(d, MSG, strlen(MSG), 1795000000, &p, &err), 0);
		size_t room = dkim_prep_room(p);
		for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
			char *msg = edit(MSG, rows[i].find, rows[i].repl);
			struct buf b = {0};
			buf_adds(&b, "junk|");
			size_t at = buf_room(&b, room);
			buf_adds(&b, msg);
			int rc = dkim_prep_sign(p, b.data + at, b.data + at + room, strlen(msg), &err);
			if (rows[i].fails) {
				if (rc != -1 || !err || !strstr(err, rows[i].fails))
					fail_msg("row %zu: rc %d, error %s; want one naming %s", i, rc, err ? err : "none",
						 rows[i].fails);
				free(err);
				err = NULL;
			} else {
				if (rc != 0)
					fail_msg("row %zu: %s", i, err);
				char *want = sign(d, msg);
				assert_int_equal(strlen(want), room);
				if (memcmp(b.data + at, want, room))
					fail_msg("row %zu (keys %d): prepared\n%.*s\nalone\n%s", i, k, (int)room, b.data + at,
						 want);
				/* the message after it untouched */
				assert_string_equal(b.data + at + room, msg);
				assert_int_equal(strncmp(b.data, "junk|DKIM-Signature: v=1;", 25), 0);
				free(want);
			}
			buf_free(&b);
			free(msg);
		}
		dkim_prep_free(p);
		dkim_free(d);
	}
	dkim_prep_free(NULL);
	assert_int_equal(dkim_prep_room(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_canon_header),     cmocka_unit_test(test_canon_body),
		cmocka_unit_test(test_body_hash),        cmocka_unit_test(test_signature_fields),
		cmocka_unit_test(test_what_is_signed),   cmocka_unit_test(test_bad_keys),
		cmocka_unit_test(test_keygen),           cmocka_unit_test(test_threads),
		cmocka_unit_test(test_no_header_end),    cmocka_unit_test(test_prepared),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
