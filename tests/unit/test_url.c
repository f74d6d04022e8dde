/* Unit tests of url: RFC 3986 resolution, file bases, normalization for merging, hostile input. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>

#include "digest/url.h"

/* want NULL: url_resolve must refuse. */
struct resolve_row {
	const char *base, *ref, *want;
};

struct normalize_row {
	const char *url, *want;
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Every row is tried and reported before failing, and nothing is leaked. */
static void check_resolve(const struct resolve_row *rows, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		char *got = url_resolve(rows[i].base, rows[i].ref);
		if (!rows[i].want ? got != NULL : !got || strcmp(got, rows[i].want) != 0) {
			print_error("row %zu: resolve(\"%s\", \"%s\") = \"%s\", want \"%s\"\n", i,
				    rows[i].base ? rows[i].base : "(null)",
				    rows[i].ref ? rows[i].ref : "(null)",
				    got ? got : "(null)", rows[i].want ? rows[i].want : "(null)");
			bad++;
		}
		free(got);
	}
	assert_int_equal(bad, 0);
}

static void check_normalize(const struct normalize_row *rows, size_t n)
{
	int bad = 0;
	for (size_t i = 0; i < n; i++) {
		char *got = url_normalize(rows[i].url);
		if (!rows[i].want ? got != NULL : !got || strcmp(got, rows[i].want) != 0) {
			print_error("row %zu: normalize(\"%s\") = \"%s\", want \"%s\"\n", i,
				    rows[i].url ? rows[i].url : "(null)", got ? got : "(null)",
				    rows[i].want ? rows[i].want : "(null)");
			bad++;
		}
		free(got);
	}
	assert_int_equal(bad, 0);
}

#define RFC "http://a/b/c/d;p?q"

/* RFC 3986 section 5.4.1, in order; "g:h" is refused for its scheme. */
static void test_rfc3986_normal(void **state)
{
	(void)state;
	static const struct resolve_row rows[] = {
		{RFC, "g:h", NULL},
		{RFC, "g", "http://a/b/c/g"},
		{RFC, "./g", "http://a/b/c/g"},
		{RFC, "g/", "http://a/b/c/g/"},
		{RFC, "/g", "http://a/g"},
		{RFC, "//g", "http://g/"},
		{RFC, "?y", "http://a/b/c/d;p?y"},
		{RFC, "g?y", "http://a/b/c/g?y"},
		{RFC, "#s", "http://a/b/c/d;p?q#s"},
		{RFC, "g#s", "http://a/b/c/g#s"},
		{RFC, "g?y#s", "http://a/b/c/g?y#s"},
		{RFC, ";x", "http://a/b/c/;x"},
		{RFC, "g;x", "http://a/b/c/g;x"},
		{RFC, "g;x?y#s", "http://a/b/c/g;x?y#s"},
		{RFC, "", "http://a/b/c/d;p?q"},
		{RFC, ".", "http://a/b/c/"},
		{RFC, "./", "http://a/b/c/"},
		{RFC, "..", "http://a/b/"},
		{RFC, "../", "http://a/b/"},
		{RFC, "../g", "http://a/b/g"},
		{RFC, "../..", "http://a/"},
		{RFC, "../../", "http://a/"},
		{RFC, "../../g", "http://a/g"},
	};
	check_resolve(rows, COUNT(rows));
}

/* RFC 3986 section 5.4.2; "http:g" is refused rather than guessed at. */
static void test_rfc3986_abnormal(void **state)
{
	(void)state;
	static const struct resolve_row rows[] = {
		{RFC, "../../../g", "http://a/g"},
		{RFC, "../../../../g", "http://a/g"},
		{RFC, "/./g", "http://a/g"},
		{RFC, "/../g", "http://a/g"},
		{RFC, "g.", "http://a/b/c/g."},
		{RFC, ".g", "http://a/b/c/.g"},
		{RFC, "g..", "http://a/b/c/g.."},
		{RFC, "..g", "http://a/b/c/..g"},
		{RFC, "./../g", "http://a/b/g"},
		{RFC, "./g/.", "http://a/b/c/g/"},
		{RFC, "g/./h", "http://a/b/c/g/h"},
		{RFC, "g/../h", "http://a/b/c/h"},
		{RFC, "g;x=1/./y", "http://a/b/c/g;x=1/y"},
		{RFC, "g;x=1/../y", "http://a/b/c/y"},
		{RFC, "g?y/./x", "http://a/b/c/g?y/./x"},
		{RFC, "g?y/../x", "http://a/b/c/g?y/../x"},
		{RFC, "g#s/./x", "http://a/b/c/g#s/./x"},
		{RFC, "g#s/../x", "http://a/b/c/g#s/../x"},
		{RFC, "http:g", NULL},
	};
	check_resolve(rows, COUNT(rows));
}

#define PAGE "https://news.example.org/news/index.html?page=2#top"

/* The kinds of href a listing page holds. */
static void test_resolve_refs(void **state)
{
	(void)state;
	static const struct resolve_row rows[] = {
		/* relative */
		{PAGE, "2024/05/article-1.html", "https://news.example.org/news/2024/05/article-1.html"},
		{PAGE, "./item?id=7", "https://news.example.org/news/item?id=7"},
		{PAGE, "../about/", "https://news.example.org/about/"},
		{PAGE, "../../../../etc/passwd", "https://news.example.org/etc/passwd"},
		/* absolute path */
		{PAGE, "/news/42", "https://news.example.org/news/42"},
		{PAGE, "/", "https://news.example.org/"},
		/* scheme-relative keeps the page's scheme */
		{PAGE, "//cdn.example.net/img/1.jpg", "https://cdn.example.net/img/1.jpg"},
		{"http://news.example.org/", "//cdn.example.net/x", "http://cdn.example.net/x"},
		/* query only: path kept, query and fragment replaced */
		{PAGE, "?page=3", "https://news.example.org/news/index.html?page=3"},
		/* fragment only and empty: the page itself */
		{PAGE, "#comments", "https://news.example.org/news/index.html?page=2#comments"},
		{PAGE, "#", "https://news.example.org/news/index.html?page=2"},
		{PAGE, "", "https://news.example.org/news/index.html?page=2"},
		/* absolute */
		{PAGE, "http://other.example.com/a?b=c", "http://other.example.com/a?b=c"},
		{PAGE, "HTTPS://Other.Example.com/A", "https://Other.Example.com/A"},
		{PAGE, "https://news.example.org:8443/x", "https://news.example.org:8443/x"},
		/* whitespace around an href is not part of it */
		{PAGE, "  /news/42\n", "https://news.example.org/news/42"},
		{PAGE, "\t\r\n 42.html \t", "https://news.example.org/news/42.html"},
		{PAGE, "   ", "https://news.example.org/news/index.html?page=2"},
		{" " PAGE "\n", "42", "https://news.example.org/news/42"},
		/* a long href wrapped over lines */
		{PAGE, "/news/2024/\r\n05/x.html", "https://news.example.org/news/2024/05/x.html"},
		/* CURLU encodes spaces and non-ASCII bytes of relative paths */
		{PAGE, "a b.html", "https://news.example.org/news/a%20b.html"},
		{PAGE, "новости/1", "https://news.example.org/news/%d0%bd%d0%be%d0%b2%d0%be%d1%81%d1%82%d0%b8/1"},
		{PAGE, "/a%20b?q=%D0%96", "https://news.example.org/a%20b?q=%D0%96"},
		/* schemes that are not fetched */
		{PAGE, "javascript:alert(1)", NULL},
		{PAGE, "JavaScript:void(0)", NULL},
		{PAGE, "mailto:editors@example.org", NULL},
		{PAGE, "tel:+70000000000", NULL},
		{PAGE, "data:text/html,hi", NULL},
		{PAGE, "ftp://ftp.example.org/pub/", NULL},
		/* a web page must not point at local files */
		{PAGE, "file:///etc/passwd", NULL},
		/* a base that is not an absolute URL */
		{"news/index.html", "a.html", NULL},
		{"", "a.html", NULL},
		{"mailto:x@example.org", "a.html", NULL},
		{"ftp://ftp.example.org/pub/", "a.html", NULL},
		{"ftp://ftp.example.org/pub/", "https://news.example.org/", "https://news.example.org/"},
	};
	check_resolve(rows, COUNT(rows));
}

#define SITE "file:///srv/site/news/index.html"

/* Sites mirrored on disk, as the tests and `digest sample` read them. */
static void test_resolve_file(void **state)
{
	(void)state;
	static const struct resolve_row rows[] = {
		{SITE, "../a/1.html", "file:///srv/site/a/1.html"},
		{SITE, "page2.html", "file:///srv/site/news/page2.html"},
		{SITE, "./2024/x.html", "file:///srv/site/news/2024/x.html"},
		{SITE, "/tmp/x.html", "file:///tmp/x.html"},
		{SITE, "../../../../../x", "file:///x"},
		{SITE, "#top", "file:///srv/site/news/index.html#top"},
		{SITE, "", "file:///srv/site/news/index.html"},
		{SITE, "//localhost/srv/y.html", "file:///srv/y.html"},
		{SITE, "//remote.example.org/srv/y.html", NULL},
		{SITE, "file:///srv/other.html", "file:///srv/other.html"},
		{SITE, "https://news.example.org/a", "https://news.example.org/a"},
		{"file:///", "a.html", "file:///a.html"},
		{"file:///", "", "file:///"},
		{"file:///", "#x", "file:///#x"},
		{"file://localhost/srv/site/", "b/c.html", "file:///srv/site/b/c.html"},
	};
	check_resolve(rows, COUNT(rows));
}

static void test_normalize(void **state)
{
	(void)state;
	static const struct normalize_row rows[] = {
		/* the same article written two ways */
		{"HTTP://News.Example.org:80/a?utm_source=x&id=5#c", "http://news.example.org/a?id=5"},
		{"http://news.example.org/a?id=5", "http://news.example.org/a?id=5"},
		/* utm_* first, middle, last, alone, several, any case */
		{"https://e.org/a?utm_source=rss&id=5&p=2", "https://e.org/a?id=5&p=2"},
		{"https://e.org/a?id=5&utm_medium=email&p=2", "https://e.org/a?id=5&p=2"},
		{"https://e.org/a?id=5&p=2&utm_campaign=daily", "https://e.org/a?id=5&p=2"},
		{"https://e.org/a?utm_source=rss", "https://e.org/a"},
		{"https://e.org/a?utm_source=rss&utm_medium=email&utm_term=x&utm_content=y",
		 "https://e.org/a"},
		{"https://e.org/a?UTM_Source=rss&Utm_medium=x&id=1", "https://e.org/a?id=1"},
		{"https://e.org/a?utm_=1&utm_x&id=1", "https://e.org/a?id=1"},
		/* utm_ spelt with escapes of unreserved characters (RFC 3986
		 * 6.2.2.2): decoded before names are compared, so the same
		 * link cannot come out twice; any case, as above */
		{"https://e.org/a?utm%5Fsource=x&id=5", "https://e.org/a?id=5"},
		{"https://e.org/a?id=5&utm%5fmedium=email", "https://e.org/a?id=5"},
		{"https://e.org/a?%75tm_source=x&id=1", "https://e.org/a?id=1"},
		{"https://e.org/a?%55%54%4D%5Fcampaign=x&id=1", "https://e.org/a?id=1"},
		{"https://e.org/a?utm%5Fsource", "https://e.org/a"},
		/* ...but an escaped "&" or "=" is data, not a separator */
		{"https://e.org/a?x=%26utm_source=1", "https://e.org/a?x=%26utm_source=1"},
		{"https://e.org/a?%26utm_source=1&id=2", "https://e.org/a?%26utm_source=1&id=2"},
		{"https://e.org/a?utm%3Dsource=1", "https://e.org/a?utm%3Dsource=1"},
		/* escapes in names and values that are kept: one spelling */
		{"https://e.org/a?%69d=%61%2D%7e%5f", "https://e.org/a?id=a-~_"},
		{"https://e.org/a?id=%75tm_x", "https://e.org/a?id=utm_x"},
		/* not utm_: kept byte for byte, in order */
		{"https://e.org/a?utm=1&xutm_a=2&utmsource=3", "https://e.org/a?utm=1&xutm_a=2&utmsource=3"},
		{"https://e.org/a?b=2&a=1&c", "https://e.org/a?b=2&a=1&c"},
		{"https://e.org/a?q=%D0%96+x&Z=%2f", "https://e.org/a?q=%D0%96+x&Z=%2F"},
		{"https://e.org/a?q=a=b;c", "https://e.org/a?q=a=b;c"},
		/* empty queries and empty parameters */
		{"https://e.org/a?", "https://e.org/a"},
		{"https://e.org/a?&", "https://e.org/a"},
		{"https://e.org/a?&id=1&&p=2&", "https://e.org/a?id=1&p=2"},
		{"https://e.org/a?#frag", "https://e.org/a"},
		/* fragments */
		{"https://e.org/a#comments", "https://e.org/a"},
		{"https://e.org/a?id=1#", "https://e.org/a?id=1"},
		{"https://e.org/#!/route", "https://e.org/"},
		/* case: scheme and host only */
		{"HTTPS://E.ORG/Path/File.HTML", "https://e.org/Path/File.HTML"},
		{"hTtP://WWW.Example.COM/?Q=A", "http://www.example.com/?Q=A"},
		{"http://User:Pass@E.org/", "http://User:Pass@e.org/"},
		/* default ports dropped, others kept */
		{"http://e.org:80/a", "http://e.org/a"},
		{"https://e.org:443/a", "https://e.org/a"},
		{"https://e.org:0443/a", "https://e.org/a"},
		{"http://e.org:8080/a", "http://e.org:8080/a"},
		{"https://e.org:80/a", "https://e.org:80/a"},
		{"http://e.org:443/a", "http://e.org:443/a"},
		{"http://e.org:/a", "http://e.org/a"},
		/* empty path */
		{"http://e.org", "http://e.org/"},
		{"https://E.org:443?id=1#x", "https://e.org/?id=1"},
		{"file:///", "file:///"},
		/* CURLU removes dot segments; escapes are left as written */
		{"http://e.org/a/./b/../c", "http://e.org/a/c"},
		{"http://e.org/%7Euser/%41", "http://e.org/~user/A"},
		/* one spelling for each percent-encoding: raw, lower- and upper-case escapes merge */
		{"http://e.org/news/новости-1.html", "http://e.org/news/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8-1.html"},
		{"http://e.org/news/%d0%bd%d0%be%d0%b2%d0%be%d1%81%d1%82%d0%b8-1.html", "http://e.org/news/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8-1.html"},
		{"http://e.org/a%2a%2Ab?q=%e2%80%94&x=%20", "http://e.org/a%2A%2Ab?q=%E2%80%94&x=%20"},
		{"http://e.org/100%/x?p=5%", "http://e.org/100%25/x?p=5%25"},
		{"http://e.org/a%2Fb%3f", "http://e.org/a%2Fb%3F"},
		{"http://e.org/a/%2e%2e/b", "http://e.org/a/%2E%2E/b"},
		/* CURLU reads an escaped host "3%333" as the name "333", and
		 * "333" as the address 0.0.1.77: read twice, it is that */
		{"https://3%333/a", "https://0.0.1.77/a"},
		{"https://e%2Eorg/a", "https://e.org/a"},
		/* IP literals */
		{"http://[::1]:80/x", "http://[::1]/x"},
		{"http://[FE80::A]:8080/", "http://[fe80::a]:8080/"},
		{"http://127.0.0.1:80/", "http://127.0.0.1/"},
		/* IDN hosts pass through; only ASCII letters are lower-cased */
		{"http://пример.рф/Новости?utm_source=tg&id=1", "http://пример.рф/%D0%9D%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8?id=1"},
		{"http://НОВОСТИ.Example.РФ/", "http://НОВОСТИ.example.РФ/"},
		/* file URLs */
		{"file:///srv/site/a.html#x", "file:///srv/site/a.html"},
		{"FILE://localhost/srv/a.html", "file:///srv/a.html"},
		/* whitespace around a feed's <link> */
		{"\n    https://e.org/a?utm_source=rss\n  ", "https://e.org/a"},
		/* refused: CURLU 7.88 reads these as file URLs with a relative
		 * path, which it then prints in a form it refuses */
		{"file:)c", NULL},
		{"file:./c", NULL},
		/* ...and this one, once its dot segments are gone, as a
		 * drive letter it refuses on input */
		{"file:/]/../e:/]#/", NULL},
		/* ...or once an escape is decoded */
		{"file:///%75:", NULL},
		{"file:///%75%3A/x", "file:///u%3A/x"},
		/* refused */
		{"ftp://e.org/a", NULL},
		{"/news/1", NULL},
		{"e.org/a", NULL},
		{"//e.org/a", NULL},
	};
	check_normalize(rows, COUNT(rows));
}

/* Storing the normalized form must not change it again. */
static void test_normalize_idempotent(void **state)
{
	(void)state;
	static const char *const urls[] = {
		"HTTP://News.Example.org:80/a?utm_source=x&id=5#c",
		"https://e.org:443?&&utm_a=1&b=2&#f",
		"file:///",
		"file://localhost/a/b?c#d",
		"http://[FE80::A]:80/",
		"http://пример.рф/Новости",
		"http://e.org/a%20b/%D0%96/",
		"https://e.org/a?utm%5Fsource=x&%69d=%2e%7E",
		"https://e.org/a?%25%37%35tm_source=1&b=%2",
		"http://e.org/%2e%2E/a/%2E/b?%2e",
	};
	for (size_t i = 0; i < COUNT(urls); i++) {
		char *once = url_normalize(urls[i]);
		assert_non_null(once);
		char *twice = url_normalize(once);
		assert_non_null(twice);
		assert_string_equal(once, twice);
		free(once);
		free(twice);
	}
}

#define G "http://e.org/a/b"

static void test_garbage(void **state)
{
	(void)state;
	static const struct resolve_row rows[] = {
		{NULL, "a", NULL},
		{G, NULL, NULL},
		{NULL, NULL, NULL},
		{"", "", NULL},
		{" \t\n", "a", NULL},
		{G, "javascript:alert(1)", NULL},
		{G, " javascript:alert(1)", NULL},
		{G, "mailto:x@y", NULL},
		{G, "http://", NULL},
		{G, "https://", NULL},
		{G, "http:", NULL},
		{G, "//", NULL},
		{G, "///", NULL},
		{G, "http://e.org:99999/", NULL},
		{G, "http://e.org:80:80/", NULL},
		{G, "http://[::1/", NULL},
		{G, "a\x01" "b", NULL},
		{G, "a\x7f" "b", NULL},
		{G, "#a\x01" "b", NULL},
		{G, "http://e.org/a b", NULL},
		{"http://", "a", NULL},
		{"http://e.org/\x01" "x", "a", NULL},
		{"javascript:alert(1)", "/a", NULL},
	};
	check_resolve(rows, COUNT(rows));

	static const struct normalize_row nrows[] = {
		{NULL, NULL},
		{"", NULL},
		{"   ", NULL},
		{"javascript:alert(1)", NULL},
		{"mailto:x@y", NULL},
		{"http://", NULL},
		{"http:", NULL},
		{"http://e.org:x/", NULL},
		{"http://e.org/\x01" "x", NULL},
		{"http://e.org/#\x1b[31m", NULL},
		{"http://e.org/?a=\x1b[31m", NULL},
		{"file://remote.example.org/a", NULL},
		{"\xff\xfe\xfd", NULL},
	};
	check_normalize(nrows, COUNT(nrows));
}

/* Very long input: refused or handled whole, never truncated silently. */
static void test_long(void **state)
{
	(void)state;
	size_t n = 100000;
	char *ref = malloc(n + 1);
	assert_non_null(ref);
	memset(ref, 'a', n);
	ref[0] = '/';
	ref[n] = '\0';
	char *got = url_resolve(G, ref);
	if (got) {
		assert_int_equal(strlen(got), strlen("http://e.org") + n);
		free(got);
	}
	char *abs = malloc(n + 32);
	assert_non_null(abs);
	snprintf(abs, n + 32, "http://E.org%s#x", ref);
	got = url_normalize(abs);
	if (got) {
		assert_int_equal(strlen(got), strlen("http://e.org") + n);
		free(got);
	}
	/* a host far beyond DNS limits */
	memset(abs, 'h', n);
	memcpy(abs, "http://", 7);
	abs[n] = '\0';
	free(url_normalize(abs));
	free(url_resolve(G, abs));
	free(abs);
	free(ref);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

/* xorshift64*: the same sequence everywhere, unlike rand(). */
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* A result is a URL CURLU takes back, of an allowed scheme, without controls. */
static void check_valid(const char *url)
{
	if (!url)
		return;
	assert_true(strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0 ||
		    strncmp(url, "file://", 7) == 0);
	for (const unsigned char *c = (const unsigned char *)url; *c; c++)
		assert_true(*c > 0x20 && *c != 0x7f);
	CURLU *u = curl_url();
	assert_non_null(u);
	assert_int_equal(curl_url_set(u, CURLUPART_URL, url, 0), CURLUE_OK);
	curl_url_cleanup(u);
	char *n1 = url_normalize(url);
	assert_non_null(n1);
	char *n2 = url_normalize(n1);
	assert_non_null(n2);
	assert_string_equal(n1, n2);
	free(n1);
	free(n2);
}

/* Random bytes, and random strings over URL punctuation to get past the scheme. */
static void test_random(void **state)
{
	(void)state;
	static const char alphabet[] = "aZ09:/?#&=.%@[]-_~;+!$'()*,\\ \t\n\xd0\x96\xff";
	static const char *const prefixes[] = {"", "http://", "https://e.org", "file://", "//", "?", "#"};
	char buf[300];
	for (int i = 0; i < 5000; i++) {
		size_t len = rng() % 200, off = 0;
		if (i % 2) {
			const char *p = prefixes[rng() % COUNT(prefixes)];
			off = strlen(p);
			memcpy(buf, p, off);
			for (size_t k = 0; k < len; k++)
				buf[off + k] = alphabet[rng() % (sizeof alphabet - 1)];
		} else {
			for (size_t k = 0; k < len; k++)
				buf[k] = (char)(rng() % 255 + 1);
		}
		buf[off + len] = '\0';

		char *r1 = url_resolve("https://news.example.org/news/index.html?p=1#t", buf);
		char *r2 = url_resolve(SITE, buf);
		char *r3 = url_resolve(buf, "x/../y?z#w");
		char *n = url_normalize(buf);
		check_valid(r1);
		check_valid(r2);
		check_valid(r3);
		check_valid(n);
		free(r1);
		free(r2);
		free(r3);
		free(n);
	}
}

static int setup(void **state)
{
	(void)state;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	curl_global_cleanup();
	return 0;
}

static void test_from_path(void **state)
{
	(void)state;
	static const struct {
		const char *path, *want;
	} rows[] = {
		{"/srv/site/index.html", "file:///srv/site/index.html"},
		{"/tmp/sp ace/ha#sh/pct%41/x.html", "file:///tmp/sp%20ace/ha%23sh/pct%2541/x.html"},
		{"/home/новости/a.html", "file:///home/%D0%BD%D0%BE%D0%B2%D0%BE%D1%81%D1%82%D0%B8/a.html"},
		{"/", "file:///"},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char *u = url_from_path(rows[i].path);
		assert_string_equal(u, rows[i].want);
		/* and libcurl's parser takes it back */
		char *n = url_normalize(u);
		assert_non_null(n);
		free(n);
		free(u);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3986_normal),
		cmocka_unit_test(test_rfc3986_abnormal),
		cmocka_unit_test(test_resolve_refs),
		cmocka_unit_test(test_resolve_file),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_from_path),
		cmocka_unit_test(test_normalize_idempotent),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_long),
		cmocka_unit_test(test_random),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
