/* Unit tests of address: identity keys, A-label spelling, ASCII checks. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/address.h"
#include "digest/util.h"

/* KEY and ASCII NULL: both must fail, with WHY (exact) when given. */
struct row {
	const char *in, *key, *ascii, *why;
	bool local_ascii;
};

#define IDNA_BAD "address: the domain is not a valid IDNA name"

static const struct row rows[] = {
	/* one mailbox, however it is spelt */
	{"Bob@Example.ORG", "bob@example.org", "Bob@example.org", NULL, true},
	{"bob@example.org", "bob@example.org", "bob@example.org", NULL, true},
	{"BOB@EXAMPLE.ORG", "bob@example.org", "BOB@example.org", NULL, true},
	{"  Bob@Example.ORG\r\n", "bob@example.org", "Bob@example.org", NULL, true},
	{"\"bob\"@example.org", "bob@example.org", "\"bob\"@example.org", NULL, true},
	{"\"B\\ob\"@example.org", "bob@example.org", "\"B\\ob\"@example.org", NULL, true},
	{"\"John Doe\"@example.org", "\"john doe\"@example.org", "\"John Doe\"@example.org", NULL, true},
	{"\"a..b\"@example.org", "\"a..b\"@example.org", "\"a..b\"@example.org", NULL, true},
	{"first.Last+Tag@Sub.Example.org", "first.last+tag@sub.example.org", "first.Last+Tag@sub.example.org", NULL,
	 true},
	/* IDN domains: U-labels and A-labels are one domain */
	{"почта@почта.рф", "почта@xn--80a1acny.xn--p1ai", "почта@xn--80a1acny.xn--p1ai", NULL, false},
	{"x@xn--80a1acny.xn--p1ai", "x@xn--80a1acny.xn--p1ai", "x@xn--80a1acny.xn--p1ai", NULL, true},
	{"x@XN--80A1ACNY.XN--P1AI", "x@xn--80a1acny.xn--p1ai", "x@xn--80a1acny.xn--p1ai", NULL, true},
	{"x@ПОЧТА.РФ", "x@xn--80a1acny.xn--p1ai", "x@xn--80a1acny.xn--p1ai", NULL, true},
	{"иван@почта.рф", "иван@xn--80a1acny.xn--p1ai", "иван@xn--80a1acny.xn--p1ai", NULL, false},
	{"Иван@почта.рф", "иван@xn--80a1acny.xn--p1ai", "Иван@xn--80a1acny.xn--p1ai", NULL, false},
	{"ЁЖИК@почта.xn--p1ai", "ёжик@xn--80a1acny.xn--p1ai", "ЁЖИК@xn--80a1acny.xn--p1ai", NULL, false},
	{"José@Bücher.example", "josé@xn--bcher-kva.example", "José@xn--bcher-kva.example", NULL, false},
	{"user@faß.de", "user@xn--fa-hia.de", "user@xn--fa-hia.de", NULL, true}, /* nontransitional: ß kept */
	{"ΑΒΓ@example.gr", "αβγ@example.gr", "ΑΒΓ@example.gr", NULL, false},
	{"user@[192.168.0.1]", "user@[192.168.0.1]", "user@[192.168.0.1]", NULL, true},
	{"User@[IPv6:2001:DB8::1]", "user@[IPv6:2001:db8::1]", "User@[IPv6:2001:db8::1]", NULL, true},
	/* ASCII names IDNA 2008 would refuse are still mail domains */
	{"a@ab--cd.example", "a@ab--cd.example", "a@ab--cd.example", NULL, true},
	/* garbage */
	{"", NULL, NULL, "address: empty address", true},
	{"   ", NULL, NULL, "address: empty address", true},
	{"bob", NULL, NULL, "address: no @", true},
	{"bob@", NULL, NULL, "address: empty domain", true},
	{"@example.org", NULL, NULL, "address: empty local part", true},
	{"a@-bad-.com", NULL, NULL, "address: hyphen at the start or end of a domain label", true},
	{"a@b@c.com", NULL, NULL, NULL, true},
	{"a@\xff\xfe.com", NULL, NULL, "address: invalid UTF-8", true},
	{"\xd0@example.com", NULL, NULL, "address: invalid UTF-8", false},
	{"a@xn--zz.com", NULL, NULL, IDNA_BAD, true},       /* not Punycode of anything */
	{"a@xn--80a1acny-.рф", NULL, NULL, NULL, true},
	/* a symbol: no IDNA 2008 name, but the transitional fallback (IDNA 2003) takes it */
	{"a@☃.example", "a@xn--n3h.example", "a@xn--n3h.example", NULL, true},
	{"a@ab--cd.рф", NULL, NULL, IDNA_BAD, true}, /* an IDN's labels follow IDNA's rules */
	{"a@почта\xe2\x80\x8b.рф", NULL, NULL, NULL, true}, /* a zero-width space */
	{"a@exa mple.com", NULL, NULL, NULL, true},
	{"a\nb@example.com", NULL, NULL, "address: line break in the address", true},
};

static void check_row(const struct row *r)
{
	char *key = NULL, *ascii = NULL, *err = NULL, *err2 = NULL;
	int rk = address_key(r->in, &key, &err);
	int ra = address_ascii_domain(r->in, &ascii, &err2);
	if (r->key) {
		if (rk != 0)
			fail_msg("\"%s\": key failed: %s", r->in, err);
		assert_string_equal(key, r->key);
		assert_null(err);
		assert_int_equal(ra, 0);
		assert_string_equal(ascii, r->ascii);
		/* the key is its own key */
		char *again = NULL;
		assert_int_equal(address_key(key, &again, NULL), 0);
		assert_string_equal(again, key);
		free(again);
		/* and the spelling to send has the same key */
		assert_int_equal(address_key(ascii, &again, NULL), 0);
		assert_string_equal(again, key);
		free(again);
		assert_true(address_domain_ascii(ascii));
	} else {
		if (rk == 0)
			fail_msg("\"%s\": accepted as \"%s\"", r->in, key);
		assert_int_equal(ra, -1);
		assert_null(key);
		assert_null(ascii);
		assert_non_null(err);
		assert_non_null(err2);
		assert_null(strchr(err, '\n'));
		if (r->why && strcmp(err, r->why) != 0)
			fail_msg("\"%s\": reason \"%s\", want \"%s\"", r->in, err, r->why);
		assert_string_equal(err, err2);
	}
	if (r->local_ascii != address_local_ascii(r->in))
		fail_msg("\"%s\": address_local_ascii is %d", r->in, !r->local_ascii);
	free(key);
	free(ascii);
	free(err);
	free(err2);
}

static void test_address_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		check_row(&rows[i]);
	/* ERR may be NULL */
	char *k = NULL;
	assert_int_equal(address_key("nope", &k, NULL), -1);
	assert_int_equal(address_key(NULL, &k, NULL), -1);
	assert_null(k);
	assert_true(address_local_ascii(NULL));
}

/* Lengths count in A-label form: a domain that fits as UTF-8 may not. */
static void test_address_lengths(void **state)
{
	(void)state;
	struct buf b = {0};
	char *k = NULL, *err = NULL;

	/* a label of 60 octets of UTF-8 is 38 of A-label */
	buf_adds(&b, "a@");
	for (int i = 0; i < 30; i++)
		buf_adds(&b, "ж");
	buf_adds(&b, ".рф");
	assert_int_equal(address_key(b.data, &k, &err), 0);
	assert_string_equal(strchr(k, '@'), "@xn--f1aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.xn--p1ai");
	free(k);

	/* 63 ASCII octets, then one more */
	b.len = 0;
	buf_adds(&b, "a@");
	for (int i = 0; i < 63; i++)
		buf_adds(&b, "b");
	buf_adds(&b, ".com");
	assert_int_equal(address_key(b.data, &k, NULL), 0);
	free(k);

	/* a whole address over 254 octets once its domain is Punycode: each
	 * label of 56 octets of UTF-8 is 63 of A-label */
	b.len = 0;
	for (int i = 0; i < 64; i++)
		buf_adds(&b, "l");
	buf_adds(&b, "@");
	for (int l = 0; l < 3; l++)
		buf_adds(&b, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbж.");
	buf_adds(&b, "рф");
	assert_true(b.len <= 254);
	assert_int_equal(address_key(b.data, &k, &err), -1);
	assert_null(k);
	assert_string_equal(err, "address: over 254 octets with its domain in A-label form");
	free(err);
	err = NULL;

	/* a quoted local part the key unquotes: the spelling to send counts */
	b.len = 0;
	buf_adds(&b, "\"");
	for (int i = 0; i < 62; i++)
		buf_adds(&b, "q");
	buf_adds(&b, "\"@");
	for (int l = 0; l < 2; l++)
		buf_adds(&b, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbж.");
	for (int i = 0; i < 53; i++) /* 255 octets to send, 253 of key */
		buf_adds(&b, "c");
	buf_adds(&b, ".рф");
	char *ascii = NULL;
	assert_int_equal(address_ascii_domain(b.data, &ascii, NULL), -1);
	assert_null(ascii);
	assert_int_equal(address_key(b.data, &k, &err), -1);
	assert_string_equal(err, "address: over 254 octets with its domain in A-label form");
	free(k);
	free(err);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_table),
		cmocka_unit_test(test_address_lengths),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
