/* Unit tests of subscriber: address checking, statuses, names, list import (CSV and mail forms), CSV output. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/subscriber.h"
#include "digest/util.h"

/* ------------------------------------------------------------------ */
/* Addresses                                                           */

/* WANT NULL: must fail with reason WHY (exact). */
struct addr_row {
	const char *in, *want, *why;
};

static const struct addr_row addr_rows[] = {
	/* plain and trimmed */
	{"user@example.com", "user@example.com", NULL},
	{"  user@example.com\t\r\n", "user@example.com", NULL},
	{"\xc2\xa0user@example.com\xe2\x80\xaf", "user@example.com", NULL}, /* NBSP, narrow NBSP from a web page */
	{"a@b.co", "a@b.co", NULL},
	{"first.last+tag@sub.example.org", "first.last+tag@sub.example.org", NULL},
	{"!#$%&'*+-/=?^_`{|}~@example.org", "!#$%&'*+-/=?^_`{|}~@example.org", NULL},
	{"a-b@a-b.c-d.com", "a-b@a-b.c-d.com", NULL},
	{"123@456.example", "123@456.example", NULL},
	/* the domain is lower-cased, the local part kept */
	{"User.Name@Example.COM", "User.Name@example.com", NULL},
	{"USER@EXAMPLE.COM", "USER@example.com", NULL},
	/* quoted local parts */
	{"\"john doe\"@example.com", "\"john doe\"@example.com", NULL},
	{"\"a@b\"@Example.com", "\"a@b\"@example.com", NULL},
	{"\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com", NULL},
	{"\"a\\\\b\"@example.com", "\"a\\\\b\"@example.com", NULL},
	{"\"a..b\"@example.com", "\"a..b\"@example.com", NULL},
	{"\" \"@example.com", "\" \"@example.com", NULL},
	{"\"\"@example.com", NULL, "empty local part"},
	{"\"abc@example.com", NULL, "unterminated quote"},
	{"\"abc\"x@example.com", NULL, "text after the quoted local part"},
	{"\"abc\"", NULL, "no @"},
	{"\"a\nb\"@example.com", NULL, "line break in the address"},
	{"\"a\rb\"@example.com", NULL, "line break in the address"},
	{"\"a\tb\"@example.com", NULL, "control character"},
	{"\"a\x7f\"@example.com", NULL, "control character"},
	{"\"a\\\x01\"@example.com", NULL, "control character"},
	{"\"ab\\\"@example.com", NULL, "unterminated quote"},
	{"a\"b\"@example.com", NULL, "bad character '\"' in the local part"},
	/* address literals */
	{"user@[192.168.0.1]", "user@[192.168.0.1]", NULL},
	{"user@[IPv6:2001:DB8::1]", "user@[IPv6:2001:db8::1]", NULL},
	{"user@[ipv6:::1]", "user@[IPv6:::1]", NULL},
	{"user@[IPv6:::ffff:1.2.3.4]", "user@[IPv6:::ffff:1.2.3.4]", NULL},
	{"user@[1.2.3]", NULL, "bad IPv4 address literal"},
	{"user@[300.1.1.1]", NULL, "bad IPv4 address literal"},
	{"user@[]", NULL, "bad IPv4 address literal"},
	{"user@[IPv6:zz::1]", NULL, "bad IPv6 address literal"},
	{"user@[IPv6:1.2.3.4]", NULL, "bad IPv6 address literal"},
	{"user@[2001:db8::1]", NULL, "unknown address literal"},
	{"user@[1.2.3.4", NULL, "unterminated address literal"},
	{"user@[", NULL, "unterminated address literal"},
	{"user@[1.2.3.4]x", NULL, "unterminated address literal"},
	{"user@[1.2.3.4].com", NULL, "unterminated address literal"},
	/* internationalized: UTF-8 in both parts, kept as written */
	{"user@пример.рф", "user@пример.рф", NULL},
	{"пользователь@пример.рф", "пользователь@пример.рф", NULL},
	{"User@ПРИМЕР.РФ", "User@ПРИМЕР.РФ", NULL}, /* only ASCII is folded */
	{"user@Bücher.DE", "user@bücher.de", NULL},
	{"user@xn--e1afmkfd.xn--p1ai", "user@xn--e1afmkfd.xn--p1ai", NULL},
	{"用户@例子.广告", "用户@例子.广告", NULL},
	{"user@b\xc3.com", NULL, "invalid UTF-8"},            /* truncated sequence */
	{"user@b\xc0\xae.com", NULL, "invalid UTF-8"},        /* overlong */
	{"us\xed\xa0\x80r@b.com", NULL, "invalid UTF-8"},     /* surrogate */
	{"user@b.com\xff", NULL, "invalid UTF-8"},
	{"a\xe2\x80\xae" "b@c.com", NULL, "control character"}, /* right-to-left override */
	{"a\xc2\x9b" "b@c.com", NULL, "control character"},      /* C1 CSI */
	{"a@b\xc2\xa0" "c.com", NULL, "space outside quotes"},   /* NBSP inside */
	{"a\xe3\x80\x80" "b@c.com", NULL, "space outside quotes"}, /* ideographic space */
	/* structure */
	{"", NULL, "empty address"},
	{"   \t ", NULL, "empty address"},
	{"plainaddress", NULL, "no @"},
	{"@example.com", NULL, "empty local part"},
	{"user@", NULL, "empty domain"},
	{"a@b@c.com", NULL, "more than one @"},
	{"a@b.com@c.com", NULL, "more than one @"},
	{"a@b", NULL, "domain has no dot"},
	{"a@localhost", NULL, "domain has no dot"},
	{"a@b.com.", NULL, "domain ends with a dot"},
	{"a@.b.com", NULL, "domain starts with a dot"},
	{"a@b..com", NULL, "two dots in the domain"},
	{"a..b@c.com", NULL, "two dots in the local part"},
	{".a@c.com", NULL, "dot at the start or end of the local part"},
	{"a.@c.com", NULL, "dot at the start or end of the local part"},
	{"a b@c.com", NULL, "space outside quotes"},
	{"a@b c.com", NULL, "space outside quotes"},
	{"a@b.com x", NULL, "space outside quotes"},
	{"John <a@b.com>", NULL, "space outside quotes"},
	{"<a@b.com>", NULL, "bad character '<' in the local part"},
	{"a,b@c.com", NULL, "bad character ',' in the local part"},
	{"a(b)@c.com", NULL, "bad character '(' in the local part"},
	{"a\\b@c.com", NULL, "bad character '\\' in the local part"},
	{"a@-b.com", NULL, "hyphen at the start or end of a domain label"},
	{"a@b-.com", NULL, "hyphen at the start or end of a domain label"},
	{"a@b.com-", NULL, "hyphen at the start or end of a domain label"},
	{"a@b_c.com", NULL, "bad character '_' in the domain"},
	{"a@b.com>", NULL, "bad character '>' in the domain"},
	{"a@1.2.3.4", NULL, "numeric top-level domain"},
	{"a@example.123", NULL, "numeric top-level domain"},
	/* header injection and controls */
	{"a@b.com\r\nBcc: victim@c.com", NULL, "line break in the address"},
	{"a\n@b.com", NULL, "line break in the address"},
	{"a\x01" "b@c.com", NULL, "control character"},
	{"a@b.com\x7f" "x", NULL, "control character"},
	{"a\tb@c.com", NULL, "control character"},
};

static void check_addr(const char *in, const char *want, const char *why)
{
	char *err = NULL;
	char *got = address_normalize(in, &err);
	if (want) {
		if (!got)
			fail_msg("\"%s\": unexpected failure: %s", in, err);
		assert_string_equal(got, want);
		assert_null(err);
		/* normalizing again changes nothing */
		char *again = address_normalize(got, &err);
		assert_non_null(again);
		assert_string_equal(again, got);
		free(again);
	} else {
		if (got)
			fail_msg("\"%s\": accepted as \"%s\"", in, got);
		assert_non_null(err);
		if (why && strcmp(err, why) != 0)
			fail_msg("\"%s\": reason \"%s\", want \"%s\"", in, err, why);
	}
	free(got);
	free(err);
}

static void test_address_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(addr_rows); i++)
		check_addr(addr_rows[i].in, addr_rows[i].want, addr_rows[i].why);
	/* ERR may be NULL */
	assert_null(address_normalize("nope", NULL));
	assert_null(address_normalize(NULL, NULL));
}

/* The limits, exactly at and just past them. */
static void test_address_lengths(void **state)
{
	(void)state;
	char local[70], label[70], addr[400], dom[300];

	memset(local, 'l', 64);
	local[64] = '\0';
	snprintf(addr, sizeof addr, "%s@example.com", local);
	check_addr(addr, addr, NULL);
	snprintf(addr, sizeof addr, "l%s@example.com", local);
	check_addr(addr, NULL, "local part over 64 octets");
	/* a quoted local part counts its quotes */
	snprintf(addr, sizeof addr, "\"%.62s\"@example.com", local);
	check_addr(addr, addr, NULL);
	snprintf(addr, sizeof addr, "\"%.63s\"@example.com", local);
	check_addr(addr, NULL, "local part over 64 octets");
	/* UTF-8 counts in octets: 32 two-byte letters are 64 */
	struct buf b = {0};
	for (int i = 0; i < 32; i++)
		buf_adds(&b, "я");
	buf_adds(&b, "@example.com");
	check_addr(b.data, b.data, NULL);
	b.len = 0;
	for (int i = 0; i < 32; i++)
		buf_adds(&b, "я");
	buf_adds(&b, "x@example.com");
	check_addr(b.data, NULL, "local part over 64 octets");
	buf_free(&b);

	memset(label, 'd', 63);
	label[63] = '\0';
	snprintf(addr, sizeof addr, "a@%s.com", label);
	check_addr(addr, addr, NULL);
	snprintf(addr, sizeof addr, "a@d%s.com", label);
	check_addr(addr, NULL, "domain label over 63 octets");
	snprintf(addr, sizeof addr, "a@example.%s", label);
	check_addr(addr, addr, NULL);

	/* 64 + 1 + 189 = 254: the most there may be */
	snprintf(dom, sizeof dom, "%s.%s.%.57s.com", label, label, label);
	assert_int_equal(strlen(dom), 189);
	snprintf(addr, sizeof addr, "%s@%s", local, dom);
	assert_int_equal(strlen(addr), 254);
	check_addr(addr, addr, NULL);
	/* surrounding whitespace does not count */
	char padded[420];
	snprintf(padded, sizeof padded, "   %s \n", addr);
	check_addr(padded, addr, NULL);
	snprintf(dom, sizeof dom, "%s.%s.%.58s.com", label, label, label);
	snprintf(addr, sizeof addr, "%s@%s", local, dom);
	assert_int_equal(strlen(addr), 255);
	check_addr(addr, NULL, "address over 254 octets");
	/* the upper-case 254 is lowered, not lengthened */
	snprintf(dom, sizeof dom, "%s.%s.%.57s.COM", label, label, label);
	snprintf(addr, sizeof addr, "%s@%s", local, dom);
	char *err = NULL, *got = address_normalize(addr, &err);
	assert_non_null(got);
	assert_int_equal(strlen(got), 254);
	assert_string_equal(got + 250, ".com");
	free(got);
	/* a long input fails fast, with the total named */
	char *huge = xmalloc(100001);
	memset(huge, 'a', 100000);
	huge[100000] = '\0';
	check_addr(huge, NULL, "address over 254 octets");
	free(huge);
}

/* ------------------------------------------------------------------ */
/* Statuses and names                                                  */

static void test_status(void **state)
{
	(void)state;
	static const struct {
		enum sub_status s;
		const char *name;
	} rows[] = {
		{SUB_PENDING, "pending"},
		{SUB_ACTIVE, "active"},
		{SUB_UNSUBSCRIBED, "unsubscribed"},
		{SUB_BOUNCING, "bouncing"},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		enum sub_status got = (enum sub_status)-1;
		assert_string_equal(sub_status_name(rows[i].s), rows[i].name);
		assert_int_equal(sub_status_parse(rows[i].name, &got), 0);
		assert_int_equal(got, rows[i].s);
	}
	static const struct {
		const char *in;
		int want; /* -1: refused */
	} parse[] = {
		{"ACTIVE", SUB_ACTIVE}, {"Active", SUB_ACTIVE}, {"UnSubscribed", SUB_UNSUBSCRIBED},
		{"BOUNCING", SUB_BOUNCING}, {"activ", -1}, {"actives", -1}, {"", -1}, {" active", -1},
		{"active ", -1}, {"confirmed", -1}, {"0", -1},
	};
	for (size_t i = 0; i < ARRAY_LEN(parse); i++) {
		enum sub_status got = SUB_PENDING;
		int rc = sub_status_parse(parse[i].in, &got);
		if (parse[i].want < 0) {
			assert_int_equal(rc, -1);
		} else {
			assert_int_equal(rc, 0);
			assert_int_equal(got, parse[i].want);
		}
	}
	enum sub_status s;
	assert_int_equal(sub_status_parse(NULL, &s), -1);
	assert_string_equal(sub_status_name((enum sub_status)42), "unknown");
}

static void test_name_clean(void **state)
{
	(void)state;
	char a300[301], a199sp[202], cyr[301], mixed[205];
	memset(a300, 'a', 300);
	a300[300] = '\0';
	memset(a199sp, 'a', 199);
	memcpy(a199sp + 199, " b", 3);
	for (int i = 0; i < 150; i++)
		memcpy(cyr + 2 * i, "я", 2);
	cyr[300] = '\0';
	memset(mixed, 'a', 199);
	memcpy(mixed + 199, "Жx", 4); /* Ж straddles byte 200 */

	struct buf want_cyr = {0};
	for (int i = 0; i < 100; i++)
		buf_adds(&want_cyr, "я");

	const struct {
		const char *in, *want; /* want NULL: nothing left */
	} rows[] = {
		{"John Smith", "John Smith"},
		{"  John \t  Smith\r\n", "John Smith"},
		{"Иван\xc2\xa0Петров", "Иван Петров"},
		{"A\x1b[31mB\x07", "A[31mB"},
		{"evil\xe2\x80\xae" "txt.exe", "eviltxt.exe"},
		{"Jo\xffn", "Jo\xef\xbf\xbdn"}, /* malformed UTF-8 becomes U+FFFD */
		{"caf\xe9", "caf\xef\xbf\xbd"}, /* a latin-1 list */
		{"", NULL},
		{"  \t\n ", NULL},
		{"\x01\x02", NULL},
		{a300, a300 + 100},     /* 200 'a' */
		{a199sp, a300 + 101},   /* the cut leaves no trailing space: 199 'a' */
		{cyr, want_cyr.data},   /* 100 letters, 200 bytes */
		{mixed, a300 + 101},    /* not through a character */
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		char *got = name_clean(rows[i].in);
		if (!rows[i].want) {
			assert_null(got);
			continue;
		}
		assert_non_null(got);
		assert_string_equal(got, rows[i].want);
		assert_true(strlen(got) <= NAME_MAX_BYTES);
		free(got);
	}
	assert_null(name_clean(NULL));
	buf_free(&want_cyr);
}

/* ------------------------------------------------------------------ */
/* import_read                                                         */

struct collected {
	struct buf out;  /* one "email|name|status|line" row per record */
	unsigned long n;
	unsigned long stop_at; /* nonzero: return 7 on that record */
};

static int collect_cb(void *ctx, const struct sub_record *r)
{
	struct collected *c = ctx;
	c->n++;
	if (c->out.len < 1 << 20)
		buf_addf(&c->out, "%s|%s|%s|%d\n", r->email, r->name ? r->name : "-",
			 r->has_status ? sub_status_name(r->status) : "-", r->line);
	return c->stop_at && c->n == c->stop_at ? 7 : 0;
}

struct run {
	int rc;
	unsigned long bad;
	char *err;
	char *records; /* as collect_cb writes them */
	unsigned long n;
	char *diag;    /* what went to stderr */
};

static void run_free(struct run *r)
{
	free(r->err);
	free(r->records);
	free(r->diag);
}

/* import_read over F as "list.csv" with options O, stderr captured;
 * F closed. */
static struct run import_file(FILE *f, unsigned long stop_at, const struct import_opts *o)
{
	struct run r = {0};
	struct collected c = {.stop_at = stop_at};
	buf_add(&c.out, "", 0);

	assert_non_null(f);
	FILE *cap = tmpfile();
	assert_non_null(cap);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(cap), 2) >= 0);

	r.bad = 12345;
	r.rc = import_read(f, "list.csv", o, collect_cb, &c, &r.bad, &r.err);

	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fclose(f);

	struct buf d = {0};
	char chunk[4096];
	size_t n;
	buf_add(&d, "", 0);
	rewind(cap);
	while ((n = fread(chunk, 1, sizeof chunk, cap)) > 0)
		buf_add(&d, chunk, n);
	fclose(cap);
	r.diag = d.data;
	r.records = c.out.data;
	r.n = c.n;
	return r;
}

/* import_read over LEN bytes of TEXT as "list.csv" with options O. */
static struct run import_mem_opts(const char *text, size_t len, unsigned long stop_at, const struct import_opts *o)
{
	return import_file(fmemopen((void *)text, len, "r"), stop_at, o);
}

static struct run import_mem(const char *text, size_t len, unsigned long stop_at)
{
	return import_mem_opts(text, len, stop_at, NULL);
}

static struct run import_str(const char *text) { return import_mem(text, strlen(text), 0); }

struct import_row {
	const char *name, *in;
	const char *records; /* every record, as collect_cb writes them */
	unsigned long bad;
	const char *diag;    /* stderr, exactly */
};

static const struct import_row import_rows[] = {
	{"csv with header", "email,name,status\n"
			    "a@example.com,Alice,active\n"
			    "B@Example.COM,Bob,pending\n"
			    "c@example.com,,\n",
	 "a@example.com|Alice|active|2\nB@example.com|Bob|pending|3\nc@example.com|-|-|4\n", 0, ""},
	{"columns in another order, other columns ignored, header in any case",
	 "Status,Country,NAME,Email\n"
	 "bouncing,RU,Иван Петров,ivan@example.ru\n"
	 "Unsubscribed,DE,Hans,hans@example.de\n",
	 "ivan@example.ru|Иван Петров|bouncing|2\nhans@example.de|Hans|unsubscribed|3\n", 0, ""},
	{"email column only", "email\nx@example.com\n  y@example.com  \n", "x@example.com|-|-|2\ny@example.com|-|-|3\n",
	 0, ""},
	{"semicolon separated, as spreadsheets in many locales save",
	 "name;email;status\n"
	 "\"Smith, John\";john@example.com;active\n"
	 "Doe; jane@example.com ;\n",
	 "john@example.com|Smith, John|active|2\njane@example.com|Doe|-|3\n", 0, ""},
	{"BOM and CRLF", "\xEF\xBB\xBF" "email,name\r\na@example.com,Ann\r\n\r\nb@example.com,Ben\r\n",
	 "a@example.com|Ann|-|2\nb@example.com|Ben|-|4\n", 0, ""},
	{"quoted fields: separators, doubled quotes, line breaks",
	 "email,name,status\n"
	 "\"a@example.com\",\"Smith, John\",\"active\"\n"
	 "b@example.com,\"He said \"\"hi\"\"\",\n"
	 "c@example.com,\"two\n"
	 "lines\n"
	 "\",pending\n"
	 "d@example.com, \"spaced\" ,active\n"
	 "e@example.com,\"\",\n",
	 "a@example.com|Smith, John|active|2\n"
	 "b@example.com|He said \"hi\"|-|3\n"
	 "c@example.com|two lines|pending|4\n"
	 "d@example.com|spaced|active|7\n"
	 "e@example.com|-|-|8\n",
	 0, ""},
	{"a quote inside an unquoted field is kept", "email,name\na@example.com,O\"Brien\n",
	 "a@example.com|O\"Brien|-|2\n", 0, ""},
	{"comments, blank lines and empty rows", "# exported 2026-11-24\n\nemail,name\n# a comment\n  \n,,\n"
						 "a@example.com,A\n",
	 "a@example.com|A|-|7\n", 0, ""},
	{"bad lines in csv, with their line numbers",
	 "email,name,status\n"
	 "good@example.com,G,active\n"
	 "nope,N,active\n"
	 ",Nobody,active\n"
	 "s@example.com,S,confirmed\n"
	 "\"q@example.com\"x,Q,\n"
	 "m@example.com,\"multi\n"
	 "line\",bogus\n"
	 "z@example.com,Z,\n",
	 "good@example.com|G|active|2\nz@example.com|Z|-|9\n", 5,
	 "digest: list.csv:3: invalid address \"nope\": no @\n"
	 "digest: list.csv:4: no address\n"
	 "digest: list.csv:5: unknown status \"confirmed\" (pending, active, unsubscribed or bouncing)\n"
	 "digest: list.csv:6: text after a closing quote\n"
	 "digest: list.csv:7: unknown status \"bogus\" (pending, active, unsubscribed or bouncing)\n"},
	{"a short row has no address", "name,email\nAlice\n", "", 1, "digest: list.csv:2: no address\n"},
	{"a blank email cell is no address", "email,name\n   ,Blank\n", "", 1, "digest: list.csv:2: no address\n"},
	{"unterminated quote at the end", "email,name\na@example.com,A\nb@example.com,\"B\nmore\n", "a@example.com|A|-|2\n",
	 1, "digest: list.csv:3: unterminated quote\n"},
	{"mail form", "# my list\n"
		      "John Smith <john@example.com>\n"
		      "\"Smith, John\" <js@Example.com>\n"
		      "<k@example.com>\n"
		      "l@example.com\n"
		      "\n"
		      "   Padded Name   <  p@example.com >  \n"
		      "\"john doe\"@example.com\n"
		      "\"Quote \\\"Q\\\" Name\" <q@example.com>\n"
		      "Иван Петров <ivan@пример.рф>\r\n",
	 "john@example.com|John Smith|-|2\n"
	 "js@example.com|Smith, John|-|3\n"
	 "k@example.com|-|-|4\n"
	 "l@example.com|-|-|5\n"
	 "p@example.com|Padded Name|-|7\n"
	 "\"john doe\"@example.com|-|-|8\n"
	 "q@example.com|Quote \"Q\" Name|-|9\n"
	 "ivan@пример.рф|Иван Петров|-|10\n",
	 0, ""},
	{"bad lines in the mail form",
	 "ok@example.com\n"
	 "John <no-at>\n"
	 "John <a@example.com\n"
	 "<a@example.com> trailing\n"
	 "\"Unclosed <a@example.com>\n"
	 "\"Name\" a@example.com\n"
	 "<>\n"
	 "John Smith john@example.com\n"
	 "a@b.com\x01\n"
	 "last@example.com\n",
	 "ok@example.com|-|-|1\nlast@example.com|-|-|10\n", 8,
	 "digest: list.csv:2: invalid address \"no-at\": no @\n"
	 "digest: list.csv:3: missing >\n"
	 "digest: list.csv:4: text after >\n"
	 "digest: list.csv:5: unterminated quote\n"
	 "digest: list.csv:6: expected <address> after the quoted name\n"
	 "digest: list.csv:7: no address\n"
	 "digest: list.csv:8: invalid address \"John Smith john@example.com\": space outside quotes\n"
	 "digest: list.csv:9: invalid address \"a@b.com\": control character\n"},
	{"a first line with no email column is not a header", "name,status\na@example.com\n", "a@example.com|-|-|2\n", 1,
	 "digest: list.csv:1: invalid address \"name,status\": bad character ',' in the local part\n"},
	{"a line starting with # is a comment in either form", "#x@example.com\ny@example.com\n",
	 "y@example.com|-|-|2\n", 0, ""},
	{"no final line end", "a@example.com", "a@example.com|-|-|1\n", 0, ""},
	{"a long bad value is shortened in the message", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", "", 1,
	 "digest: list.csv:1: invalid address \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\": no @\n"},
	{"only a header", "email,name,status\n", "", 0, ""},
	{"empty", "\n\n", "", 0, ""},
};

static void test_import_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(import_rows); i++) {
		const struct import_row *row = &import_rows[i];
		struct run r = import_str(row->in);
		if (r.rc != 0 || strcmp(r.records, row->records) != 0 || r.bad != row->bad ||
		    strcmp(r.diag, row->diag) != 0)
			fail_msg("%s: rc %d, bad %lu (want %lu)\nrecords:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s",
				 row->name, r.rc, r.bad, row->bad, r.records, row->records, r.diag, row->diag);
		assert_null(r.err);
		run_free(&r);
	}
}

static void test_import_stop(void **state)
{
	(void)state;
	struct run r = import_mem("a@example.com\nb@example.com\nc@example.com\n", 42, 2);
	assert_int_equal(r.rc, 7);
	assert_int_equal(r.n, 2);
	assert_null(r.err);
	run_free(&r);
	/* BAD may be NULL */
	FILE *f = fmemopen((void *)"x\n", 2, "r");
	FILE *null = fopen("/dev/null", "w");
	int saved = dup(2);
	fflush(stderr);
	dup2(fileno(null), 2);
	struct collected c = {0};
	assert_int_equal(import_read(f, "p", NULL, collect_cb, &c, NULL, NULL), 0);
	dup2(saved, 2);
	close(saved);
	fclose(null);
	fclose(f);
	buf_free(&c.out);
}

static void test_import_long_lines(void **state)
{
	(void)state;
	/* exactly 64 KiB is accepted (and is a bad address), one more is a bad
	 * line reported and skipped: the rest of the file is still read */
	size_t n = 64 * 1024;
	char *text = xmalloc(n + 100);
	strcpy(text, "a@example.com\n");
	size_t off = strlen(text);
	memset(text + off, 'x', n);
	strcpy(text + off + n, "\r\nb@example.com\n");
	struct run r = import_str(text);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.bad, 1);
	run_free(&r);

	memset(text + off, 'x', n + 1);
	strcpy(text + off + n + 1, "\nb@example.com\n");
	r = import_str(text);
	assert_int_equal(r.rc, 0);
	assert_null(r.err);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.bad, 1);
	assert_string_equal(r.records, "a@example.com|-|-|1\nb@example.com|-|-|3\n");
	assert_string_equal(r.diag, "digest: list.csv:2: line over 64 KiB; skipped\n");
	run_free(&r);

	/* far over, and the line the file ends with */
	char *huge = xmalloc(3 * n + 100);
	strcpy(huge, "email\nfirst@example.com\n");
	off = strlen(huge);
	memset(huge + off, 'y', 3 * n);
	strcpy(huge + off + 3 * n, "\nlast@example.com\n");
	r = import_str(huge);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.bad, 1);
	assert_non_null(strstr(r.diag, "list.csv:3: line over 64 KiB; skipped"));
	run_free(&r);
	huge[off + 3 * n] = '\0';
	r = import_str(huge);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.bad, 1);
	run_free(&r);
	free(huge);

	/* a quote never closed in a long file: not the whole file in memory;
	 * that record is bad, and the lines after it are read again as records */
	struct buf b = {0};
	buf_adds(&b, "email,name\na@example.com,\"open\n");
	for (int i = 0; i < 20000; i++)
		buf_adds(&b, "b@example.com,B\n");
	buf_adds(&b, "c@example.com,C\n");
	r = import_mem(b.data, b.len, 0);
	assert_int_equal(r.rc, 0);
	assert_null(r.err);
	assert_int_equal(r.bad, 1);
	assert_non_null(strstr(r.diag, "list.csv:2: quoted field over 64 KiB (a quote not closed?); skipped"));
	assert_non_null(strstr(r.records, "\nc@example.com|C|-|"));
	assert_true(r.n > 1);
	run_free(&r);
	buf_free(&b);
	free(text);
}

/* IDN domains: taken in either form, spelling kept; a domain that is no
 * IDNA name is a bad line. */
static void test_import_idn(void **state)
{
	(void)state;
	struct run r = import_str("Иван <иван@почта.рф>\nivan@xn--80a1acny.xn--p1ai\nbad@xn--zz.com\n"
				  "worse@ab--cd.рф\n");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.records, "иван@почта.рф|Иван|-|1\nivan@xn--80a1acny.xn--p1ai|-|-|2\n");
	assert_int_equal(r.bad, 2);
	assert_string_equal(r.diag,
			    "digest: list.csv:3: invalid address \"bad@xn--zz.com\": the domain is not a valid IDNA name\n"
			    "digest: list.csv:4: invalid address \"worse@ab--cd.рф\": the domain is not a valid IDNA name\n");
	run_free(&r);
}

static void test_import_many(void **state)
{
	(void)state;
	struct buf b = {0};
	buf_adds(&b, "email,name,status\n");
	for (int i = 0; i < 100000; i++)
		buf_addf(&b, "user%d@example.com,\"User %d\",%s\n", i, i, i % 2 ? "active" : "pending");
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	struct run r = import_mem(b.data, b.len, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 100000);
	assert_int_equal(r.bad, 0);
	print_message("# 100000 csv lines in %.3f s\n",
		      (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	run_free(&r);

	b.len = 0;
	for (int i = 0; i < 100000; i++)
		buf_addf(&b, i % 10 ? "User %d <user%d@example.com>\n" : "bad %d line%d\n", i, i);
	r = import_mem(b.data, b.len, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 90000);
	assert_int_equal(r.bad, 10000);
	run_free(&r);
	buf_free(&b);
}

static void test_import_garbage(void **state)
{
	(void)state;
	/* a NUL inside a line: that line is bad, the next ones are read */
	static const char nul_mail[] = "a@example.com\nb@exa\0mple.com\nc@example.com\n";
	struct run r = import_mem(nul_mail, sizeof nul_mail - 1, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 2);
	assert_int_equal(r.bad, 1);
	assert_string_equal(r.diag, "digest: list.csv:2: NUL byte in the line\n");
	run_free(&r);
	static const char nul_csv[] = "email,name\na@example.com,\"x\0\ny\"\nc@example.com,C\n";
	r = import_mem(nul_csv, sizeof nul_csv - 1, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 1);
	assert_int_equal(r.bad, 1);
	assert_string_equal(r.diag, "digest: list.csv:2: NUL byte in the line\n");
	run_free(&r);

	/* random bytes, of every kind and density of line ends and quotes */
	unsigned long long x = 88172645463325252ULL;
	char *buf = xmalloc(20000);
	for (int round = 0; round < 200; round++) {
		size_t n = (size_t)(round * 97 % 20000);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			static const char alphabet[] = "\"\n\r,;@<>#. aZ\0\xff\xc3\xa9";
			buf[i] = round % 2 ? (char)(x >> 24) : alphabet[(x >> 24) % (sizeof alphabet - 1)];
		}
		if (round % 4 == 3 && n > 20)
			memcpy(buf, "email,name,status\n", 18);
		if (n == 0)
			buf[n++] = '\n';
		r = import_mem(buf, n, 0);
		/* no read error from memory; text that is not UTF-8 is refused
		 * whole, naming its line, before any record */
		assert_true(r.rc == 0 || r.rc == IMPORT_EDATA);
		if (r.rc == IMPORT_EDATA) {
			assert_non_null(r.err);
			assert_true(strncmp(r.err, "list.csv:", 9) == 0);
			assert_int_equal(r.n, 0);
			assert_int_equal(r.bad, 0);
		}
		/* a line gives at most one record or one complaint */
		unsigned long lines = 1;
		for (size_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
		assert_true(r.n + r.bad <= lines);
		run_free(&r);
	}
	free(buf);
}

/* csv_field output read back by import_read gives the same values. */
static void test_csv_roundtrip(void **state)
{
	(void)state;
	static const struct {
		const char *email, *name, *want_name;
	} rows[] = {
		{"plain@example.com", "Plain", "Plain"},
		{"comma@example.com", "Smith, John", "Smith, John"},
		{"quote@example.com", "He said \"hi\"", "He said \"hi\""},
		{"semi@example.com", "a;b", "a;b"},
		{"#hash@example.com", "#1 fan", "#1 fan"},
		{"\"quoted local\"@example.com", "Q", "Q"},
		{"\"a,b\"@example.com", "\"", "\""},
		{"nl@example.com", "two\nlines", "two lines"},
		{"crlf@example.com", "two\r\nlines", "two lines"},
		{"space@example.com", " padded ", "padded"},
		{"ivan@пример.рф", "Иван Петров", "Иван Петров"},
		{"empty@example.com", "", NULL},
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	fputs("email,name,status\r\n", f);
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		csv_field(f, rows[i].email);
		putc(',', f);
		csv_field(f, rows[i].name);
		putc(',', f);
		csv_field(f, sub_status_name((enum sub_status)(i % 4)));
		fputs("\r\n", f);
	}
	fclose(f);

	struct run r = import_mem(text, len, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.n, ARRAY_LEN(rows));
	struct buf want = {0};
	int line = 2;
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		buf_addf(&want, "%s|%s|%s|%d\n", rows[i].email, rows[i].want_name ? rows[i].want_name : "-",
			 sub_status_name((enum sub_status)(i % 4)), line);
		line += strchr(rows[i].name, '\n') ? 2 : 1;
	}
	assert_string_equal(r.records, want.data);
	buf_free(&want);
	run_free(&r);
	free(text);

	/* what csv_field writes, exactly */
	static const struct {
		const char *in, *want;
	} out[] = {
		{"abc", "abc"}, {"", ""}, {"a,b", "\"a,b\""}, {"a\"b", "\"a\"\"b\""}, {"a\nb", "\"a\nb\""},
		{"a\rb", "\"a\rb\""}, {" a", "\" a\""}, {"a ", "\"a \""}, {"a b", "a b"}, {"#a", "\"#a\""},
		{"a#", "a#"}, {"a;b", "\"a;b\""}, {"Иван", "Иван"},
	};
	for (size_t i = 0; i < ARRAY_LEN(out); i++) {
		f = open_memstream(&text, &len);
		csv_field(f, out[i].in);
		fclose(f);
		assert_string_equal(text, out[i].want);
		free(text);
	}
	f = open_memstream(&text, &len);
	csv_field(f, NULL);
	fclose(f);
	assert_string_equal(text, "");
	free(text);
}

/* ------------------------------------------------------------------ */
/* Other mailers' exports: header aliases, separators, statuses         */

static void test_column_role(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		enum import_role want;
	} rows[] = {
		{"email", IMPORT_COL_EMAIL}, {"Email", IMPORT_COL_EMAIL}, {"EMAIL", IMPORT_COL_EMAIL},
		{"e-mail", IMPORT_COL_EMAIL}, {"E-Mail", IMPORT_COL_EMAIL}, {"e_mail", IMPORT_COL_EMAIL},
		{"Email Address", IMPORT_COL_EMAIL}, {"email_address", IMPORT_COL_EMAIL}, {" E-mail ", IMPORT_COL_EMAIL},
		{"address", IMPORT_COL_EMAIL}, {"Mail", IMPORT_COL_EMAIL}, {"Адрес", IMPORT_COL_EMAIL},
		{"АДРЕС", IMPORT_COL_EMAIL}, {"Адрес электронной почты", IMPORT_COL_EMAIL},
		{"адрес\xc2\xa0электронной почты", IMPORT_COL_EMAIL}, {"Почта", IMPORT_COL_EMAIL},
		{"Электронная почта", IMPORT_COL_EMAIL}, {"E-mail адрес", IMPORT_COL_EMAIL},
		{"name", IMPORT_COL_NAME}, {"Name", IMPORT_COL_NAME}, {"Full Name", IMPORT_COL_NAME},
		{"ФИО", IMPORT_COL_NAME}, {"фио", IMPORT_COL_NAME}, {"First Name", IMPORT_COL_FIRST},
		{"first_name", IMPORT_COL_FIRST}, {"Имя", IMPORT_COL_FIRST}, {"ИМЯ", IMPORT_COL_FIRST},
		{"Last Name", IMPORT_COL_LAST}, {"Фамилия", IMPORT_COL_LAST}, {"status", IMPORT_COL_STATUS},
		{"Status", IMPORT_COL_STATUS}, {"Subscription Status", IMPORT_COL_STATUS}, {"Статус", IMPORT_COL_STATUS},
		{"UNSUB_TIME", IMPORT_COL_UNSUB_TIME}, {"CLEAN_TIME", IMPORT_COL_CLEAN_TIME},
		/* not ours */
		{"uuid", IMPORT_COL_NONE}, {"attributes", IMPORT_COL_NONE}, {"MEMBER_RATING", IMPORT_COL_NONE},
		{"emails", IMPORT_COL_NONE}, {"e mail x", IMPORT_COL_NONE}, {"", IMPORT_COL_NONE}, {"  ", IMPORT_COL_NONE},
		{"Телефон", IMPORT_COL_NONE}, {"em\xff" "ail", IMPORT_COL_NONE},
		{"eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeemail", IMPORT_COL_NONE},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++)
		if (import_column_role(rows[i].in) != rows[i].want)
			fail_msg("\"%s\": role %d, want %d", rows[i].in, import_column_role(rows[i].in), rows[i].want);
	assert_int_equal(import_column_role(NULL), IMPORT_COL_NONE);
}

static void test_import_statuses(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		int want; /* -1: refused */
	} rows[] = {
		{"pending", SUB_PENDING}, {"active", SUB_ACTIVE}, {"unsubscribed", SUB_UNSUBSCRIBED},
		{"bouncing", SUB_BOUNCING}, {"enabled", SUB_ACTIVE}, {"Enabled", SUB_ACTIVE},
		{"disabled", SUB_UNSUBSCRIBED}, {"blocklisted", SUB_UNSUBSCRIBED}, {"subscribed", SUB_ACTIVE},
		{"SUBSCRIBED", SUB_ACTIVE}, {"cleaned", SUB_BOUNCING}, {"nonsubscribed", SUB_PENDING},
		{"transactional", SUB_PENDING}, {"archived", -1}, {"confirmed", -1}, {"blacklisted", -1},
		{"", -1}, {"enabled ", -1}, {"subscribe", -1},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		enum sub_status got = (enum sub_status)-1;
		int rc = import_status_parse(rows[i].in, &got);
		if (rows[i].want < 0 ? rc != -1 : rc != 0 || (int)got != rows[i].want)
			fail_msg("\"%s\": rc %d, status %d, want %d", rows[i].in, rc, (int)got, rows[i].want);
	}
	enum sub_status s;
	assert_int_equal(import_status_parse(NULL, &s), -1);
	/* our own names are still all sub_status_parse takes */
	assert_int_equal(sub_status_parse("subscribed", &s), -1);
}

static const struct import_row export_rows[] = {
	{"Mailchimp subscribed export: BOM, CRLF, quoted header, first and last name joined",
	 "\xEF\xBB\xBF\"Email Address\",\"First Name\",\"Last Name\",MEMBER_RATING,OPTIN_TIME,OPTIN_IP,CONFIRM_TIME,"
	 "CONFIRM_IP,LATITUDE,LONGITUDE,GMTOFF,DSTOFF,TIMEZONE,CC,REGION,LAST_CHANGED,LEID,EUID,NOTES\r\n"
	 "ann@example.com,Ann,Lee,2,\"2024-01-05 10:00:00\",,\"2024-01-05 10:01:00\",192.0.2.1,,,,,,,,"
	 "\"2024-01-05 10:01:00\",123,abc,\r\n"
	 "bob@example.com,Bob,,1,,,,,,,,,,,,,124,abd,\"a note, with a comma\"\r\n"
	 "carol@example.com,,,1,,,,,,,,,,,,,125,abe,\r\n",
	 "ann@example.com|Ann Lee|-|2\nbob@example.com|Bob|-|3\ncarol@example.com|-|-|4\n", 0, ""},
	{"Mailchimp unsubscribed export: UNSUB_TIME makes every row unsubscribed",
	 "\"Email Address\",\"First Name\",\"Last Name\",MEMBER_RATING,OPTIN_TIME,UNSUB_TIME,UNSUB_CAMPAIGN_TITLE,"
	 "UNSUB_CAMPAIGN_ID,UNSUB_REASON,UNSUB_REASON_OTHER,LEID,EUID,NOTES\n"
	 "dan@example.com,Dan,Ray,2,,\"2024-02-01 09:00:00\",\"Weekly, 5\",x1,\"No longer interested\",,1,e,\n",
	 "dan@example.com|Dan Ray|unsubscribed|2\n", 0, ""},
	{"Mailchimp cleaned export: CLEAN_TIME makes every row bouncing",
	 "\"Email Address\",Name,MEMBER_RATING,CLEAN_TIME,CLEAN_CAMPAIGN_TITLE,CLEAN_CAMPAIGN_ID,LEID,EUID\n"
	 "eve@example.com,\"Eve Adams\",1,\"2024-03-01 09:00:00\",Weekly,x2,1,e\n",
	 "eve@example.com|Eve Adams|bouncing|2\n", 0, ""},
	{"a status column is taken over an implied status, when it says one",
	 "email,status,UNSUB_TIME\na@example.com,active,\nb@example.com,,2024\n",
	 "a@example.com|-|active|2\nb@example.com|-|unsubscribed|3\n", 0, ""},
	{"listmonk export: uuid,email,name,attributes,status,created_at,updated_at",
	 "uuid,email,name,attributes,status,created_at,updated_at\n"
	 "0f0e4c5a-1b2c-4d5e-8f90-a1b2c3d4e5f6,ann@example.com,Ann Lee,\"{\"\"city\"\": \"\"Moscow, RU\"\"}\",enabled,"
	 "2024-01-02 10:11:12.123456 +0000 UTC,2024-01-02 10:11:12.123456 +0000 UTC\n"
	 "1f0e4c5a-1b2c-4d5e-8f90-a1b2c3d4e5f6,bob@example.com,Bob,{},blocklisted,2024-01-03 00:00:00 +0000 UTC,"
	 "2024-01-03 00:00:00 +0000 UTC\n"
	 "2f0e4c5a-1b2c-4d5e-8f90-a1b2c3d4e5f6,cy@example.com,Cy,{},disabled,x,y\n"
	 "3f0e4c5a-1b2c-4d5e-8f90-a1b2c3d4e5f6,dee@example.com,Dee,{},archived,x,y\n",
	 "ann@example.com|Ann Lee|active|2\nbob@example.com|Bob|unsubscribed|3\ncy@example.com|Cy|unsubscribed|4\n", 1,
	 "digest: list.csv:5: unknown status \"archived\" (pending, active, unsubscribed or bouncing)\n"},
	{"Mailchimp statuses in a status column, any case",
	 "Email,Status\na@example.com,subscribed\nb@example.com,Unsubscribed\nc@example.com,CLEANED\n"
	 "d@example.com,pending\ne@example.com,nonsubscribed\nf@example.com,\n",
	 "a@example.com|-|active|2\nb@example.com|-|unsubscribed|3\nc@example.com|-|bouncing|4\n"
	 "d@example.com|-|pending|5\ne@example.com|-|pending|6\nf@example.com|-|-|7\n",
	 0, ""},
	{"Russian Excel: semicolons, Cyrillic header, first and last name",
	 "Адрес электронной почты;Имя;Фамилия;Статус\r\n"
	 "ivan@example.ru;Иван;Петров;active\r\n"
	 "\"olga@example.ru\";\"Ольга\";\"Смирнова; мл.\";\r\n",
	 "ivan@example.ru|Иван Петров|active|2\nolga@example.ru|Ольга Смирнова; мл.|-|3\n", 0, ""},
	{"ФИО and Почта, with a comma inside a quoted field",
	 "ФИО,Почта\n\"Петров, Иван\",ivan@example.ru\n", "ivan@example.ru|Петров, Иван|-|2\n", 0, ""},
	{"tab separated, E-mail and Full Name", "Full Name\tE-mail\tCity\nAnn Lee\tann@example.com\tRiga\n",
	 "ann@example.com|Ann Lee|-|2\n", 0, ""},
	{"a comma inside a ;-header: \";\" is the separator that names an address column",
	 "email;name;note, remark\na@example.com;A, B;x, y\n", "a@example.com|A, B|-|2\n", 0, ""},
	{"a name column wins over first and last when it says something",
	 "email,name,first name,last name\na@example.com,Full,F,L\nb@example.com,,F,L\n",
	 "a@example.com|Full|-|2\nb@example.com|F L|-|3\n", 0, ""},
	{"a header cell with a stray quote is no header",
	 "\"email\"x,name\n", "", 1, "digest: list.csv:1: expected <address> after the quoted name\n"},
	{"without a header: address,name and address;name and tab, each line as it comes",
	 "a@example.com,Ann\nb@example.com\nCarl <c@example.com>\nd@example.com,\"Lee, Dan\",pending\n"
	 "\"john doe\"@example.com\ne@example.com,Eve,bogus\n\"a,b\"@example.com\n",
	 "a@example.com|Ann|-|1\nb@example.com|-|-|2\nc@example.com|Carl|-|3\nd@example.com|Lee, Dan|pending|4\n"
	 "\"john doe\"@example.com|-|-|5\n\"a,b\"@example.com|-|-|7\n",
	 1, "digest: list.csv:6: unknown status \"bogus\" (pending, active, unsubscribed or bouncing)\n"},
	{"without a header, semicolons: a comma in the name is no separator",
	 "ivan@example.ru;Петров, Иван\nolga@example.ru;Ольга\n",
	 "ivan@example.ru|Петров, Иван|-|1\nolga@example.ru|Ольга|-|2\n", 0, ""},
	{"without a header, tabs", "ann@example.com\tAnn Lee\n", "ann@example.com|Ann Lee|-|1\n", 0, ""},
	{"without a header: too many fields, an open quote, a stray quote, blank fields",
	 "a@example.com,A,active,extra\nb@example.com,\"B\nc@example.com,\"C\"x\n,,\nd@example.com,D\n",
	 "d@example.com|D|-|5\n", 3,
	 "digest: list.csv:1: 4 fields without a header naming them (address, name, status)\n"
	 "digest: list.csv:2: unterminated quote\n"
	 "digest: list.csv:3: text after a closing quote\n"},
	{"without a header, the first line's separator is kept",
	 "a@example.com;A\nb@example.com,B\n", "a@example.com|A|-|1\n", 1,
	 "digest: list.csv:2: invalid address \"b@example.com,B\": bad character ',' in the domain\n"},
};

static void test_import_exports(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_LEN(export_rows); i++) {
		const struct import_row *row = &export_rows[i];
		struct run r = import_str(row->in);
		if (r.rc != 0 || strcmp(r.records, row->records) != 0 || r.bad != row->bad ||
		    strcmp(r.diag, row->diag) != 0)
			fail_msg("%s: rc %d, bad %lu (want %lu)\nrecords:\n%s\nwant:\n%s\nstderr:\n%s\nwant:\n%s",
				 row->name, r.rc, r.bad, row->bad, r.records, row->records, r.diag, row->diag);
		assert_null(r.err);
		run_free(&r);
	}
}

/* --delimiter: only that separator is tried, for a header and without. */
static void test_import_delimiter(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		char out; /* 0: refused */
	} parse[] = {{",", ','}, {";", ';'}, {"tab", '\t'}, {"TAB", '\t'}, {"\t", '\t'}, {"\\t", '\t'},
		     {"|", 0},   {"", 0},     {",,", 0},       {"comma", 0},  {" ;", 0}};
	for (size_t i = 0; i < ARRAY_LEN(parse); i++) {
		char got = 'x';
		int rc = import_delimiter_parse(parse[i].in, &got);
		if (parse[i].out ? rc != 0 || got != parse[i].out : rc != -1)
			fail_msg("\"%s\": rc %d, got '%c'", parse[i].in, rc, got);
	}
	assert_int_equal(import_delimiter_parse(NULL, &(char){0}), -1);

	struct import_opts semi = {.delimiter = ';'}, comma = {.delimiter = ','};
	/* a header that only names its columns when split by ";" */
	const char *text = "email;name\na@example.com;Ann, Lee\n";
	struct run r = import_mem_opts(text, strlen(text), 0, &semi);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.records, "a@example.com|Ann, Lee|-|2\n");
	run_free(&r);
	/* with "," it is no header, and its lines no records */
	r = import_mem_opts(text, strlen(text), 0, &comma);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.bad, 2);
	run_free(&r);
	/* without a header */
	text = "a@example.com,Lee;Ann\n";
	r = import_mem_opts(text, strlen(text), 0, &comma);
	assert_string_equal(r.records, "a@example.com|Lee;Ann|-|1\n");
	run_free(&r);
	r = import_mem_opts(text, strlen(text), 0, &semi);
	assert_int_equal(r.n, 0);
	assert_int_equal(r.bad, 1);
	run_free(&r);
}

/* Text in other charsets: converted, or refused whole with its line. */
static void test_import_encodings(void **state)
{
	(void)state;
	/* windows-1251: "Иван Петров" */
	static const char cp1251[] = "email;name\r\nivan@example.ru;\xC8\xE2\xE0\xED \xCF\xE5\xF2\xF0\xEE\xE2\r\n";
	struct import_opts win = {.encoding = "windows-1251"}, koi = {.encoding = "KOI8-R"},
			   u16 = {.encoding = "UTF-16"}, u8 = {.encoding = "utf-8"};
	struct run r = import_mem_opts(cp1251, sizeof cp1251 - 1, 0, &win);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.records, "ivan@example.ru|Иван Петров|-|2\n");
	run_free(&r);
	/* the same bytes as UTF-8: refused whole, naming the line, nothing handed on */
	r = import_mem(cp1251, sizeof cp1251 - 1, 0);
	assert_int_equal(r.rc, IMPORT_EDATA);
	assert_string_equal(r.err, "list.csv:2: not UTF-8 text (byte 0xC8); name its encoding, e.g. --encoding windows-1251");
	assert_int_equal(r.n, 0);
	assert_int_equal(r.bad, 0);
	assert_string_equal(r.diag, "");
	run_free(&r);
	/* and with --encoding utf-8 */
	r = import_mem_opts(cp1251, sizeof cp1251 - 1, 0, &u8);
	assert_int_equal(r.rc, IMPORT_EDATA);
	run_free(&r);
	/* a bad line late in a file: the good lines before it are not handed on either */
	struct buf b = {0};
	for (int i = 0; i < 5000; i++)
		buf_addf(&b, "user%d@example.com\n", i);
	buf_adds(&b, "late@example.com,Jos\xE9\n");
	r = import_mem(b.data, b.len, 0);
	assert_int_equal(r.rc, IMPORT_EDATA);
	assert_string_equal(r.err, "list.csv:5001: not UTF-8 text (byte 0xE9); name its encoding, e.g. --encoding windows-1251");
	assert_int_equal(r.n, 0);
	run_free(&r);
	/* cut inside a character at the end */
	r = import_mem("a@example.com,\xD0", 15, 0);
	assert_int_equal(r.rc, IMPORT_EDATA);
	assert_string_equal(r.err, "list.csv:1: not UTF-8 text (it ends inside a character); name its encoding, e.g. --encoding windows-1251");
	run_free(&r);
	/* overlong forms and surrogates are not UTF-8 */
	r = import_mem("a@example.com,\xC0\xAF\n", 17, 0);
	assert_int_equal(r.rc, IMPORT_EDATA);
	run_free(&r);
	r = import_mem("a@example.com,\xED\xA0\x80\n", 18, 0);
	assert_int_equal(r.rc, IMPORT_EDATA);
	run_free(&r);

	/* KOI8-R: "Ольга" */
	static const char koi8[] = "Почта,Имя\n";
	(void)koi8;
	static const char koi8_text[] = "email,name\nolga@example.ru,\xEF\xCC\xD8\xC7\xC1\n";
	r = import_mem_opts(koi8_text, sizeof koi8_text - 1, 0, &koi);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.records, "olga@example.ru|Ольга|-|2\n");
	run_free(&r);
	/* a byte windows-1251 has no character for */
	static const char undefined[] = "email\na@example.com\nb@example.com\x98\n";
	r = import_mem_opts(undefined, sizeof undefined - 1, 0, &win);
	assert_int_equal(r.rc, IMPORT_EDATA);
	assert_string_equal(r.err, "list.csv:3: not windows-1251 text (byte 0x98)");
	assert_int_equal(r.n, 0);
	run_free(&r);

	/* UTF-16 with a byte order mark, with or without --encoding; LE and BE */
	static const char le[] = "\xFF\xFE"
				 "e\0m\0a\0i\0l\0,\0n\0a\0m\0e\0\r\0\n\0"
				 "a\0@\0b\0.\0r\0u\0,\0\x18\x04\x32\x04\x30\x04\x3D\x04\r\0\n\0";
	static const char be[] = "\xFE\xFF"
				 "\0e\0m\0a\0i\0l\0\n"
				 "\0a\0@\0b\0.\0r\0u\0\n";
	r = import_mem(le, sizeof le - 1, 0);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.records, "a@b.ru|Иван|-|2\n");
	run_free(&r);
	r = import_mem_opts(le, sizeof le - 1, 0, &u16);
	assert_string_equal(r.records, "a@b.ru|Иван|-|2\n");
	run_free(&r);
	/* the mark decides over a charset it contradicts */
	r = import_mem_opts(le, sizeof le - 1, 0, &win);
	assert_string_equal(r.records, "a@b.ru|Иван|-|2\n");
	assert_non_null(strstr(r.diag, "list.csv: its byte order mark says UTF-16LE"));
	run_free(&r);
	r = import_mem(be, sizeof be - 1, 0);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.records, "a@b.ru|-|-|2\n");
	run_free(&r);
	/* an odd number of octets */
	r = import_mem(le, sizeof le - 2, 0);
	assert_int_equal(r.rc, IMPORT_EDATA);
	assert_string_equal(r.err, "list.csv:2: not UTF-16LE text (it ends inside a character)");
	run_free(&r);
	/* a lone surrogate */
	static const char lone[] = "\xFF\xFE" "a\0\x00\xD8\n\0";
	r = import_mem(lone, sizeof lone - 1, 0);
	assert_int_equal(r.rc, IMPORT_EDATA);
	run_free(&r);

	/* a long file, converted across blocks: every character whole */
	b.len = 0;
	buf_adds(&b, "email;name\n");
	for (int i = 0; i < 20000; i++)
		buf_addf(&b, "user%d@example.com;\xC8\xE2\xE0\xED %d\n", i, i);
	r = import_mem_opts(b.data, b.len, 0, &win);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 20000);
	assert_int_equal(r.bad, 0);
	assert_non_null(strstr(r.records, "user19999@example.com|Иван 19999|-|20001\n"));
	run_free(&r);
	/* and UTF-8 whose characters straddle the blocks */
	b.len = 0;
	buf_adds(&b, "email,name\n");
	for (int i = 0; i < 20000; i++)
		buf_addf(&b, "user%d@example.com,Ивáн%d\n", i, i);
	r = import_mem(b.data, b.len, 0);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.n, 20000);
	run_free(&r);

	/* from a pipe, which cannot be read twice: kept aside, then read */
	int fds[2];
	assert_int_equal(pipe(fds), 0);
	static const char piped[] = "email,name\na@example.com,Ann\n";
	assert_int_equal(write(fds[1], piped, sizeof piped - 1), (ssize_t)(sizeof piped - 1));
	close(fds[1]);
	r = import_file(fdopen(fds[0], "r"), 0, NULL);
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.records, "a@example.com|Ann|-|2\n");
	run_free(&r);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], cp1251, sizeof cp1251 - 1), (ssize_t)(sizeof cp1251 - 1));
	close(fds[1]);
	r = import_file(fdopen(fds[0], "r"), 0, NULL);
	assert_int_equal(r.rc, IMPORT_EDATA);
	run_free(&r);
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], cp1251, sizeof cp1251 - 1), (ssize_t)(sizeof cp1251 - 1));
	close(fds[1]);
	r = import_file(fdopen(fds[0], "r"), 0, &win);
	assert_string_equal(r.records, "ivan@example.ru|Иван Петров|-|2\n");
	run_free(&r);
	buf_free(&b);

	/* the names iconv knows */
	char *err = NULL;
	assert_int_equal(import_encoding_check("windows-1251", &err), 0);
	assert_int_equal(import_encoding_check("koi8-r", &err), 0);
	assert_int_equal(import_encoding_check("UTF-16", &err), 0);
	assert_null(err);
	assert_int_equal(import_encoding_check("klingon-1", &err), -1);
	assert_string_equal(err, "unknown encoding \"klingon-1\"");
	assert_int_equal(import_encoding_check("", &err), -1);
	assert_int_equal(import_encoding_check(NULL, &err), -1);
	free(err);
}

/* Random bytes under every charset and separator: a line still gives at
 * most one record or one complaint, and a refusal hands nothing on. */
static void test_import_garbage_options(void **state)
{
	(void)state;
	static const struct import_opts opts[] = {
		{.encoding = "windows-1251"}, {.encoding = "UTF-16LE"}, {.encoding = "koi8-r"},
		{.delimiter = ';'},           {.delimiter = '\t'},       {.encoding = "UTF-16BE", .delimiter = ','},
	};
	unsigned long long x = 1181783497276652981ULL;
	char *buf = xmalloc(20000);
	for (int round = 0; round < 240; round++) {
		size_t n = (size_t)(round * 83 % 20000);
		for (size_t i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			static const char alphabet[] = "\"\n\r,;\t@<>#. aZ\0\xff\xfe\xc3\xa9\xd0";
			buf[i] = round % 3 ? (char)(x >> 24) : alphabet[(x >> 24) % (sizeof alphabet - 1)];
		}
		if (round % 4 == 3 && n > 40)
			memcpy(buf, "Email Address;ФИО;Статус\n", strlen("Email Address;ФИО;Статус\n"));
		struct run r = import_mem_opts(buf, n, 0, &opts[round % ARRAY_LEN(opts)]);
		assert_true(r.rc == 0 || r.rc == IMPORT_EDATA);
		if (r.rc == IMPORT_EDATA)
			assert_int_equal(r.n + r.bad, 0);
		unsigned long lines = 1;
		for (size_t i = 0; i < n; i++)
			lines += buf[i] == '\n';
		/* UTF-16 may make line ends of other bytes: bound by octets */
		assert_true(r.n + r.bad <= (opts[round % ARRAY_LEN(opts)].encoding ? n + 1 : lines));
		run_free(&r);
	}
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_address_table),
		cmocka_unit_test(test_address_lengths),
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_name_clean),
		cmocka_unit_test(test_import_table),
		cmocka_unit_test(test_import_stop),
		cmocka_unit_test(test_import_long_lines),
		cmocka_unit_test(test_import_idn),
		cmocka_unit_test(test_import_many),
		cmocka_unit_test(test_import_garbage),
		cmocka_unit_test(test_csv_roundtrip),
		cmocka_unit_test(test_column_role),
		cmocka_unit_test(test_import_statuses),
		cmocka_unit_test(test_import_exports),
		cmocka_unit_test(test_import_delimiter),
		cmocka_unit_test(test_import_encodings),
		cmocka_unit_test(test_import_garbage_options),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
