/* Unit tests of extract: XPath fields from HTML, feeds, charsets, garbage. */
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
#include <iconv.h>

#include "digest/config.h"
#include "digest/extract.h"
#include "digest/log.h"
#include "digest/parse.h"
#include "digest/util.h"

static const char list_html[] =
	"<!DOCTYPE html><html><head><title>Новости</title></head><body>"
	"<div class='news-item'><a class='title' href='/news/1.html?utm_source=x#c'>Первая  новость</a>"
	"<span class='date'>21.11 09:25</span><span class='views'>2&nbsp;212</span>"
	"<span class='comments'>14</span><p>Лид <b>первой</b>\n новости</p></div>"
	"<div class='news-item'><a class='title' href='2.html'>Second &amp; &lt;b&gt;</a>"
	"<span class='views'>12,5 тыс.</span></div>"
	"<div class='news-item'><a class='title'>no link</a></div>"
	"<div class='news-item'><a class='title' href='javascript:alert(1)'>script link</a></div>"
	"<section><div class='news-item'><a class='title' href='https://other.example/x'>Third</a>"
	"<img src='/i/3.jpg'></div></section>"
	"<a rel='next' href='?page=2'>next</a>"
	"</body></html>";

static struct source html_source(void)
{
	struct source s = {0};
	s.name = "test";
	s.type = SOURCE_HTML;
	s.item = "//div[@class='news-item']";
	s.link = ".//a[@class='title']/@href";
	s.next = "//a[@rel='next']/@href";
	s.list.title = ".//a[@class='title']";
	s.list.published = ".//span[@class='date']";
	s.list.views = ".//span[@class='views']";
	s.list.comments = ".//span[@class='comments']";
	s.list.summary = ".//p";
	s.list.image = ".//img/@src";
	s.article.title = "//h1";
	s.article.views = "string(//span[@id='v'])";
	s.article.rating = "substring-after(//div[@class='r'], ':')";
	return s;
}

static void test_html_list(void **state)
{
	(void)state;
	struct source s = html_source();
	struct page_result r;
	char *err = NULL;
	int rc = extract_list(&s, "https://news.example.org/news/index.html", list_html, strlen(list_html),
			      NULL, &r, &err);
	assert_int_equal(rc, 0);
	assert_null(err);
	static const struct {
		const char *link, *title, *published, *views, *comments, *summary, *image;
	} want[] = {
		{"https://news.example.org/news/1.html?utm_source=x#c", "Первая новость", "21.11 09:25",
		 "2 212", "14", "Лид первой новости", NULL},
		{"https://news.example.org/news/2.html", "Second & <b>", NULL, "12,5 тыс.", NULL, NULL, NULL},
		{"https://other.example/x", "Third", NULL, NULL, NULL, NULL, "https://news.example.org/i/3.jpg"},
	};
	assert_int_equal(r.nitems, ARRAY_LEN(want));
	for (size_t i = 0; i < ARRAY_LEN(want); i++) {
		struct raw_item *it = &r.items[i];
		assert_string_equal(it->link, want[i].link);
		assert_string_equal(it->f.title, want[i].title);
#define CHECK(field)                                                                                   \
	if (want[i].field)                                                                             \
		assert_string_equal(it->f.field, want[i].field);                                       \
	else                                                                                           \
		assert_null(it->f.field)
		CHECK(published);
		CHECK(views);
		CHECK(comments);
		CHECK(summary);
		CHECK(image);
#undef CHECK
	}
	assert_string_equal(r.next, "https://news.example.org/news/index.html?page=2");
	page_result_free(&r);
}

static void test_article_fills_missing(void **state)
{
	(void)state;
	struct source s = html_source();
	static const char page[] = "<html><body><h1>Заголовок статьи</h1><span id='v'> 4 321 </span>"
				   "<div class='r'>Рейтинг: +5</div></body></html>";
	struct raw_fields f = {0};
	f.title = xstrdup("kept from the list");
	char *err = NULL;
	assert_int_equal(extract_article(&s, "https://x.example/a", page, strlen(page), NULL, &f, &err), 0);
	assert_string_equal(f.title, "kept from the list");
	assert_string_equal(f.views, "4 321");
	assert_string_equal(f.rating, "+5");
	assert_null(f.comments);
	raw_fields_free(&f);
}

/* "Новости дня" in three encodings, and what each declares. */
static void test_charsets(void **state)
{
	(void)state;
	static const char cp1251[] = "\xcd\xee\xe2\xee\xf1\xf2\xe8 \xe4\xed\xff";
	static const char koi8r[] = "\xee\xcf\xd7\xcf\xd3\xd4\xc9 \xc4\xce\xd1";
	static const char utf8[] = "Новости дня";
	static const struct {
		const char *head;   /* in <head> */
		const char *title;  /* bytes */
		const char *header; /* HTTP charset, or NULL */
	} cases[] = {
		{"<meta http-equiv='Content-Type' content='text/html; charset=windows-1251'>", cp1251, NULL},
		{"<meta charset=\"koi8-r\">", koi8r, NULL},
		{"<meta charset='KOI8-R'>", koi8r, NULL},
		{"", cp1251, "windows-1251"},
		{"<meta charset='utf-8'>", cp1251, "windows-1251"}, /* the HTTP header wins */
		{"<meta charset='utf-8'>", utf8, NULL},
		{"", utf8, NULL},
		{"<meta charset='no-such-charset'>", utf8, NULL},
		{"", utf8, "bogus"},
		{"<meta charset='utf-16'>", utf8, NULL}, /* read as UTF-8, as browsers do */
		{"<meta charset='UTF-32LE'>", utf8, NULL},
	};
	struct source s = html_source();
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *page = xasprintf("<html><head>%s</head><body><div class='news-item'>"
				       "<a class='title' href='/a'>%s</a></div></body></html>",
				       cases[i].head, cases[i].title);
		struct page_result r;
		char *err = NULL;
		assert_int_equal(extract_list(&s, "http://h.example/", page, strlen(page), cases[i].header, &r, &err), 0);
		assert_int_equal(r.nitems, 1);
		assert_string_equal(r.items[0].f.title, utf8);
		page_result_free(&r);
		free(page);
	}
}

static void test_content_type_charset(void **state)
{
	(void)state;
	static const struct {
		const char *ct, *want;
	} cases[] = {
		{"text/html; charset=windows-1251", "windows-1251"},
		{"text/html;charset=\"KOI8-R\"", "KOI8-R"},
		{"text/html; Charset = utf-8; foo=bar", "utf-8"},
		{"text/html", NULL},
		{"", NULL},
		{NULL, NULL},
		{"charset=", NULL},
		{"text/html; charset=;", NULL},
		{"text/html; charsetx", NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *cs = extract_charset(cases[i].ct);
		if (cases[i].want)
			assert_string_equal(cs, cases[i].want);
		else
			assert_null(cs);
		free(cs);
	}
}

/* Feed sources get their selectors from config defaults. */
static struct config *load_feed_config(void)
{
	char path[] = "/tmp/digest-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char conf[] =
		"sources = ( { name = \"rss\"; type = \"rss\"; url = \"http://127.0.0.1/rss.xml\"; },\n"
		"            { name = \"atom\"; type = \"atom\"; url = \"http://127.0.0.1/atom.xml\"; } );\n";
	assert_true(write(fd, conf, strlen(conf)) == (ssize_t)strlen(conf));
	close(fd);
	struct config *cfg = NULL;
	assert_int_equal(config_load(path, &cfg), 0);
	unlink(path);
	return cfg;
}

static void test_feeds(void **state)
{
	(void)state;
	struct config *cfg = load_feed_config();
	static const char rss[] =
		"<?xml version='1.0' encoding='windows-1251'?>"
		"<rss version='2.0' xmlns:slash='http://purl.org/rss/1.0/modules/slash/'><channel><title>c</title>"
		"<item><title>\xcd\xee\xe2\xee\xf1\xf2\xfc</title><link>https://n.example/a?utm_medium=rss</link>"
		"<pubDate>Sat, 21 Nov 2026 09:25:00 +0300</pubDate><slash:comments>7</slash:comments>"
		"<description>&lt;p&gt;Lead &amp;amp; &lt;b&gt;more&lt;/b&gt;&lt;/p&gt;</description></item>"
		"<item><title>No link</title></item>"
		"<item><title><![CDATA[CDATA & title]]></title><link> /b </link></item>"
		"</channel></rss>";
	struct page_result r;
	char *err = NULL;
	assert_int_equal(extract_list(&cfg->sources[0], "https://n.example/rss.xml", rss, strlen(rss), NULL, &r, &err), 0);
	assert_int_equal(r.nitems, 2);
	assert_string_equal(r.items[0].f.title, "Новость");
	assert_string_equal(r.items[0].link, "https://n.example/a?utm_medium=rss");
	assert_string_equal(r.items[0].f.published, "Sat, 21 Nov 2026 09:25:00 +0300");
	assert_string_equal(r.items[0].f.comments, "7");
	assert_string_equal(r.items[0].f.summary, "Lead & more");
	assert_string_equal(r.items[1].f.title, "CDATA & title");
	assert_string_equal(r.items[1].link, "https://n.example/b");
	page_result_free(&r);

	static const char atom[] =
		"<?xml version='1.0' encoding='utf-8'?><feed xmlns='http://www.w3.org/2005/Atom'><title>t</title>"
		"<entry><title>Entry one</title><link rel='edit' href='/edit/1'/><link href='/e/1'/>"
		"<updated>2026-11-21T10:00:00Z</updated><published>2026-11-21T09:00:00+03:00</published>"
		"<summary type='html'>&lt;i&gt;Sum&lt;/i&gt;</summary></entry>"
		"<entry><title>Entry two</title><link rel='alternate' href='https://a.example/e/2'/>"
		"<updated>2026-11-22T10:00:00Z</updated></entry></feed>";
	assert_int_equal(extract_list(&cfg->sources[1], "https://a.example/atom.xml", atom, strlen(atom), NULL, &r, &err), 0);
	assert_int_equal(r.nitems, 2);
	assert_string_equal(r.items[0].link, "https://a.example/e/1");
	assert_string_equal(r.items[0].f.title, "Entry one");
	assert_string_equal(r.items[0].f.published, "2026-11-21T09:00:00+03:00"); /* published wins over an earlier updated */
	assert_string_equal(r.items[0].f.summary, "Sum");
	assert_string_equal(r.items[1].link, "https://a.example/e/2");
	page_result_free(&r);
	config_free(cfg);
}

/* An HTML page with HTML5's names, in text and in an attribute, beside
 * HTML 4's and a name HTML does not have, in windows-1251. */
static void test_html5_entities_on_pages(void **state)
{
	(void)state;
	static const char page[] = "<html><head><meta charset='windows-1251'></head><body>"
				   "<div class='news-item'><a class='title' href='/a?x=1&amp;y=&check;'>"
				   "\xcd\xee\xe2\xee\xf1\xf2\xfc &check; &bigstar;&NewLine;&hellip; &nosuch;</a>"
				   "<p>&fjlig;ord &amp; more</p></div></body></html>";
	struct source s = html_source();
	struct page_result r;
	char *err = NULL;
	assert_int_equal(extract_list(&s, "https://p.example/", page, strlen(page), NULL, &r, &err), 0);
	assert_int_equal(r.nitems, 1);
	assert_string_equal(r.items[0].f.title, "Новость \u2713 \u2605 \u2026 &nosuch;");
	assert_string_equal(r.items[0].link, "https://p.example/a?x=1&y=%e2%9c%93");
	assert_string_equal(r.items[0].f.summary, "fjord & more");
	page_result_free(&r);
}

/* A feed's default selector that selects nothing in any item is reported
 * with the selectors tried, the format, the root element and namespace. */
static void test_feed_misses(void **state)
{
	(void)state;
	struct config *cfg = load_feed_config();
	static const char atom[] = "<feed xmlns='http://www.w3.org/2005/Atom'><entry><title>Undated</title>"
				   "<link href='https://a.example/1'/></entry></feed>";
	struct page_result r;
	char *err = NULL;
	assert_int_equal(extract_list(&cfg->sources[1], "https://a.example/", atom, strlen(atom), NULL, &r, &err), 0);
	assert_int_equal(r.nitems, 1);
	assert_true(r.missed & PAGE_MISSED_FIELD(FIELD_PUBLISHED));
	assert_false(r.missed & PAGE_MISSED_FIELD(FIELD_TITLE));
	/* no entry has comments, a summary or an image: optional in a feed */
	assert_false(r.missed & (PAGE_MISSED_FIELD(FIELD_COMMENTS) | PAGE_MISSED_FIELD(FIELD_SUMMARY) |
				 PAGE_MISSED_FIELD(FIELD_IMAGE)));
	const char *d = r.missed_defaults[FIELD_PUBLISHED];
	assert_non_null(d);
	assert_non_null(strstr(d, "atom:published | "));
	assert_non_null(strstr(d, "atom:updated"));
	assert_non_null(strstr(d, "(the Atom 1.0 defaults; root element <feed> in namespace http://www.w3.org/2005/Atom)"));
	assert_null(r.missed_defaults[FIELD_TITLE]);
	assert_null(r.missed_defaults[FIELD_COUNT]);
	page_result_free(&r);

	/* no item has a link: the link's defaults, and no namespace to name */
	static const char rss[] = "<rss><channel><item><title>t</title><guid isPermaLink='false'>x1</guid></item>"
				  "</channel></rss>";
	assert_int_equal(extract_list(&cfg->sources[0], "https://r.example/", rss, strlen(rss), NULL, &r, &err), 0);
	assert_int_equal(r.nitems, 0);
	assert_true(r.missed & PAGE_MISSED_LINK);
	d = r.missed_defaults[FIELD_COUNT];
	assert_non_null(d);
	assert_non_null(strstr(d, "link | guid["));
	assert_non_null(strstr(d, "(the RSS 0.9x-2.0 defaults; root element <rss>)"));
	page_result_free(&r);
	config_free(cfg);
}

static char *read_fixture(const char *name, size_t *len)
{
	char *path = xasprintf("tests/fixtures/feeds/%s", name);
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	free(path);
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	buf_adds(&b, "");
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return b.data;
}

/* tests/fixtures/feeds/: one small feed per format and per way of writing
 * a field. With type = "feed" and no selectors, the first item's title,
 * link, date (as written, and the instant it reads as) and summary. */
static void test_feed_corpus(void **state)
{
	(void)state;
	char path[] = "/tmp/digest-test-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	static const char conf[] = "sources = ( { name = \"f\"; type = \"feed\"; url = \"http://127.0.0.1/f\"; },\n"
				   "            { name = \"r\"; type = \"rss\"; url = \"http://127.0.0.1/r\"; },\n"
				   "            { name = \"a\"; type = \"atom\"; url = \"http://127.0.0.1/a\"; } );\n";
	assert_true(write(fd, conf, strlen(conf)) == (ssize_t)strlen(conf));
	close(fd);
	struct config *cfg = NULL;
	assert_int_equal(config_load(path, &cfg), 0);
	unlink(path);
	assert_int_equal(cfg->sources[0].type, SOURCE_FEED);
	static const struct {
		const char *file, *title, *link, *published;
		long long when; /* the instant PUBLISHED reads as, UTC */
		const char *summary;
	} cases[] = {
		{"rss091-doctype.xml", "Café & crème", "http://f.example/cafe", NULL, 0, "Le café crème — toujours."},
		{"rss092.xml", "Plain 0.92 item", "http://f.example/092", NULL, 0, "A lead"},
		{"rss20.xml", "An RSS 2.0 item", "https://f.example/2020/03/item", "Mon, 16 Mar 2020 03:55:00 +0000",
		 1584330900, "Two lines of lead."},
		{"rss20-guid.xml", "Only a guid", "https://f.example/p/guid", "Tue, 17 Mar 2020 08:00:00 GMT", 1584432000,
		 "Lead."},
		{"rss20-guid-not-permalink.xml", "Link wins", "https://f.example/p/link", "Tue, 17 Mar 2020 09:00:00 GMT",
		 1584435600, "Lead."},
		{"rss20-content-encoded.xml", "Full text only", "https://f.example/full", "Wed, 18 Mar 2020 10:00:00 +0100",
		 1584522000, "The whole post. Second paragraph."},
		{"rss20-escaped-title.xml", "Don\u2019t panic \u2013 Q&A now", "https://f.example/q",
		 "Thu, 19 Mar 2020 11:00:00 +0000", 1584615600, "x \u2014 y"},
		{"rss20-cdata-title.xml", "Tom & Jerry\u2019s <em>day</em>", "https://f.example/tj",
		 "Thu, 19 Mar 2020 12:00:00 +0000", 1584619200, "Cats & mice"},
		{"rss20-dcterms.xml", "Dated by dcterms", "https://f.example/dct", "2020-03-20T08:30:00Z", 1584693000, "Lead."},
		{"rss20-dc-date.xml", "Dated by dc:date", "https://f.example/dc", "2020-03-20T09:30:00+01:00", 1584693000,
		 "Lead."},
		{"rss20-entities.xml", "José María — «rápido»…", "https://f.example/es", "Fri, 20 Mar 2020 10:00:00 +0000",
		 1584698400, "Müller & Söhne"},
		{"rss090.xml", "An RSS 0.90 item", "http://f.example/090", NULL, 0, NULL},
		{"rss10.xml", "An RSS 1.0 item", "http://f.example/10", "2020-03-22T07:15:00+03:00", 1584850500,
		 "RDF & Dublin Core"},
		{"rss10-about.xml", "Linked by rdf:about", "http://f.example/about", "2020-03-22", -1, "Full"},
		{"atom10.xml", "Don\u2019t panic \u2013 Q&A", "https://f.example/q/", "2020-03-16T03:55:00Z", 1584330900,
		 "The \u2026 summary"},
		{"atom10-xhtml.xml", "XHTML title & more", "https://f.example/x", "2020-03-23T12:00:00+01:00", 1584961200,
		 "First second <tag>"},
		{"atom10-text.xml", "Plain <b> is literal", "https://f.example/rel/t", "2020-03-24T12:00:00Z", 1585051200,
		 "1 < 2 && 3 > 2"},
		/* HTML5's names, unknown to libxml2: as XML entities and in escaped HTML */
		{"rss20-html5-entities.xml", "\u2605 Stars & \u2713s 'quoted' \u2242\u0338 \u2019",
		 "https://f.example/h5?a=1&b=2", "Sat, 21 Mar 2020 10:00:00 +0000", 1584784800,
		 "It\u2019s \u2713ed \u2014 \u2605 fine"},
		{"atom10-html5-entities.xml", "\u2665 Love & \u22c6s\u2026", "https://f.example/love", "2020-03-21T11:00:00Z",
		 1584788400, "\u2713 checked & \u2AC5\u0338 &nosuchname; done"},
		{"atom03.xml", "An Atom 0.3 entry", "http://f.example/03", "2020-03-25T08:00:00Z", 1585123200,
		 "Escaped & content"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		size_t len;
		char *body = read_fixture(cases[i].file, &len);
		/* type = "feed", and rss or atom alike whatever the document is */
		for (int s = 0; s < 3; s++) {
			struct page_result r;
			char *err = NULL;
			int rc = extract_list(&cfg->sources[s], "https://f.example/feed", body, len, NULL, &r, &err);
			if (rc != 0)
				fail_msg("%s: %s", cases[i].file, err);
			assert_true(r.nitems >= 1);
			const struct raw_item *it = &r.items[0];
			if (strcmp(it->f.title ? it->f.title : "(null)", cases[i].title))
				fail_msg("%s: title \"%s\"", cases[i].file, it->f.title);
			assert_string_equal(it->link, cases[i].link);
#define CHECK_FIELD(name)                                                                              \
	if (cases[i].name == NULL ? it->f.name != NULL : !it->f.name || strcmp(it->f.name, cases[i].name)) \
		fail_msg("%s: " #name " \"%s\", want \"%s\"", cases[i].file, it->f.name, cases[i].name);
			CHECK_FIELD(published)
			CHECK_FIELD(summary)
#undef CHECK_FIELD
			time_t t;
			if (cases[i].when > 0) {
				assert_int_equal(parse_date(it->f.published, NULL, 1700000000, &t), 0);
				assert_int_equal((long long)t, cases[i].when);
			}
			page_result_free(&r);
		}
		free(body);
	}
	/* every assertion above held: say how much that covers */
	print_message("feeds right (title, link, date and its instant, summary): %zu of %zu files, each read as "
		      "type feed, rss and atom\n", ARRAY_LEN(cases), ARRAY_LEN(cases));
	/* a feed that is neither: the message names the root and namespace */
	static const char other[] = "<?xml version='1.0'?><opml xmlns='urn:x'><body/></opml>";
	struct page_result r;
	char *err = NULL;
	assert_int_equal(extract_list(&cfg->sources[0], "https://f.example/o", other, strlen(other), NULL, &r, &err), -1);
	assert_non_null(strstr(err, "matched nothing"));
	assert_non_null(strstr(err, "<opml> in namespace urn:x"));
	free(err);
	config_free(cfg);
}

static char *read_file_at(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("cannot open %s", path);
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	buf_adds(&b, "");
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	*len = b.len;
	return b.data;
}

/* Whether the listing page at PATH gives the title and summary of
 * tests/fixtures/charsets/NAME.txt. */
static int charset_page_right(const char *path, const char *name)
{
	size_t len, tlen;
	char *body = read_file_at(path, &len);
	char *tpath = xasprintf("tests/fixtures/charsets/%s.txt", name);
	char *want = read_file_at(tpath, &tlen);
	free(tpath);
	char *nl = strchr(want, '\n');
	assert_non_null(nl);
	*nl = '\0';
	char *want_summary = nl + 1;
	want_summary[strcspn(want_summary, "\n")] = '\0';
	struct source s = html_source();
	struct page_result r;
	char *err = NULL;
	int ok = extract_list(&s, "https://c.example/", body, len, NULL, &r, &err) == 0 && r.nitems == 1 &&
		 r.items[0].f.title && !strcmp(r.items[0].f.title, want) && r.items[0].f.summary &&
		 !strcmp(r.items[0].f.summary, want_summary);
	if (err)
		free(err);
	else
		page_result_free(&r);
	free(body);
	free(want);
	return ok;
}

/* tests/fixtures/dates/: one listing page per family of date forms and
 * per language, each date beside the instant it means (written by
 * tests/fixtures/dates/make.py with Python's zoneinfo). Every date is read
 * from the page as a source reads it and must be on its instant; the test
 * prints the count per page and names what is wrong. */
static void test_date_corpus(void **state)
{
	(void)state;
	static const char *const pages[] = {"forms", "mdy", "en", "ru", "de", "fr", "es",
					    "it",    "pt",  "nl", "pl", "cs", "uk", "ca"};
	const time_t now = 1795262400; /* 2026-11-21T12:00:00Z: 15:00 in Moscow */
	setenv("TZ", "Europe/Moscow", 1);
	tzset();
	struct source s = {0};
	s.name = "dates";
	s.type = SOURCE_HTML;
	s.item = "//li";
	s.link = "a/@href";
	s.list.title = "a";
	s.list.published = "span[@class='d']";
	s.list.summary = "time";
	size_t right = 0, total = 0;
	struct buf wrong = {0};
	buf_adds(&wrong, "");
	for (size_t p = 0; p < ARRAY_LEN(pages); p++) {
		char *path = xasprintf("tests/fixtures/dates/%s.html", pages[p]);
		size_t len;
		char *body = read_file_at(path, &len);
		struct page_result r;
		char *err = NULL;
		if (extract_list(&s, "https://d.example/", body, len, NULL, &r, &err) != 0)
			fail_msg("%s: %s", path, err);
		assert_true(r.nitems >= 3);
		const struct date_rules rules = {NULL, strcmp(pages[p], "mdy") ? PARSE_DMY : PARSE_MDY, NULL};
		size_t page_right = 0;
		for (size_t i = 0; i < r.nitems; i++) {
			time_t t = 0;
			long long want = strtoll(r.items[i].f.summary, NULL, 10);
			if (parse_date_rules(r.items[i].f.published, &rules, now, &t) == 0 && (long long)t == want)
				page_right++;
			else
				buf_addf(&wrong, "\n  %s: \"%s\" read as %lld, want %lld", pages[p], r.items[i].f.published,
					 (long long)t, want);
		}
		print_message("dates %-5s %zu of %zu\n", pages[p], page_right, r.nitems);
		right += page_right;
		total += r.nitems;
		page_result_free(&r);
		free(body);
		free(path);
	}
	print_message("dates on the right instant: %zu of %zu%s\n", right, total, wrong.data);
	buf_free(&wrong);
	assert_int_equal(right, total);
}

/* tests/fixtures/charsets/: sixteen legacy charsets, each page once with
 * a <meta> declaration (all must be right) and once without (detected
 * with uchardet: at least 12 of 16 right; the test prints which fail). */
static void test_charset_corpus(void **state)
{
	(void)state;
	static const char *const names[] = {"windows-1251", "koi8-r",       "iso-8859-5",   "windows-1252",
					    "iso-8859-2",   "windows-1250", "iso-8859-7",   "windows-1253",
					    "windows-1255", "windows-1256", "shift_jis",    "euc-jp",
					    "gb18030",      "big5",         "euc-kr",       "tis-620"};
	int right = 0;
	struct buf failed = {0};
	buf_adds(&failed, "");
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		char *declared = xasprintf("tests/fixtures/charsets/%s-declared.html", names[i]);
		char *bare = xasprintf("tests/fixtures/charsets/%s.html", names[i]);
		if (!charset_page_right(declared, names[i]))
			fail_msg("%s declared: wrong text", names[i]);
		if (charset_page_right(bare, names[i]))
			right++;
		else
			buf_addf(&failed, " %s", names[i]);
		free(declared);
		free(bare);
	}
	print_message("undeclared charsets right: %d of %zu; wrong:%s\n", right, ARRAY_LEN(names),
		      failed.len ? failed.data : " none");
	buf_free(&failed);
	assert_true(right >= 12);
}

/* UTF-16 and UTF-32, with and without a byte-order mark, as pages and as
 * feeds; windows-1252 bytes inside UTF-8 read as windows-1252. */
static void test_wide_and_mixed(void **state)
{
	(void)state;
	static const char title[] = "Zürich – “Новости” 日本";
	static const char *const wide[] = {"UTF-16LE", "UTF-16BE", "UTF-32LE", "UTF-32BE"};
	struct config *cfg = load_feed_config();
	for (size_t w = 0; w < ARRAY_LEN(wide); w++) {
		for (int bom = 0; bom < 2; bom++) {
			for (int feed = 0; feed < 2; feed++) {
				char *text = feed ? xasprintf("<?xml version='1.0' encoding='%s'?><rss version='2.0'>"
							      "<channel><item><title>%s</title><link>/n/1</link>"
							      "</item></channel></rss>",
							      strncmp(wide[w], "UTF-16", 6) ? "UTF-32" : "UTF-16", title)
						  : xasprintf("<html><body><div class='news-item'><a class='title' "
							      "href='/n/1'>%s</a></div></body></html>",
							      title);
				iconv_t cd = iconv_open(wide[w], "UTF-8");
				assert_true(cd != (iconv_t)-1);
				size_t inleft = strlen(text), cap = inleft * 4 + 8, outleft = cap;
				char *out = malloc(cap), *o = out, *in = text;
				if (bom) { /* U+FEFF first */
					char fe[] = "\xEF\xBB\xBF", *fp = fe;
					size_t fl = 3;
					assert_true(iconv(cd, &fp, &fl, &o, &outleft) != (size_t)-1);
				}
				assert_true(iconv(cd, &in, &inleft, &o, &outleft) != (size_t)-1);
				iconv_close(cd);
				struct source hs = html_source();
				const struct source *s = feed ? &cfg->sources[0] : &hs;
				struct page_result r;
				char *err = NULL;
				int rc = extract_list(s, "https://w.example/", out, (size_t)(o - out), NULL, &r, &err);
				if (rc != 0)
					fail_msg("%s bom=%d feed=%d: %s", wide[w], bom, feed, err);
				assert_int_equal(r.nitems, 1);
				if (strcmp(r.items[0].f.title, title))
					fail_msg("%s bom=%d feed=%d: title \"%s\"", wide[w], bom, feed, r.items[0].f.title);
				page_result_free(&r);
				free(out);
				free(text);
			}
		}
	}
	/* windows-1252 quotes and a euro sign inside a UTF-8 page and feed */
	static const char mixed_html[] = "<html><head><meta charset='utf-8'></head><body><div class='news-item'>"
					 "<a class='title' href='/m'>\x93" "Caf\xc3\xa9\x94 costs 5\x80 \x96 d\xe9j\xe0 vu</a>"
					 "</div></body></html>";
	static const char mixed_feed[] = "<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><item>"
					 "<title>\x93" "Caf\xc3\xa9\x94 costs 5\x80 \x96 d\xe9j\xe0 vu</title><link>/m</link>"
					 "</item></channel></rss>";
	static const char want[] = "“Café” costs 5€ – déjà vu";
	for (int feed = 0; feed < 2; feed++) {
		struct source hs = html_source();
		const struct source *s = feed ? &cfg->sources[0] : &hs;
		const char *body = feed ? mixed_feed : mixed_html;
		struct page_result r;
		char *err = NULL;
		int rc = extract_list(s, "https://m.example/", body, strlen(body), NULL, &r, &err);
		if (rc != 0)
			fail_msg("mixed feed=%d: %s", feed, err);
		assert_string_equal(r.items[0].f.title, want);
		page_result_free(&r);
	}
	config_free(cfg);
}

static void test_garbage(void **state)
{
	(void)state;
	struct config *cfg = load_feed_config();
	struct source html = html_source();
	static const struct {
		int feed;
		const char *body;
		const char *err; /* a part of the reason; NULL: may succeed */
	} cases[] = {
		{0, "", "empty page"},
		{0, "plain text, no markup", "matched nothing"},
		{0, "<html><body><div class='other'>x</div></body></html>", "matched nothing"},
		{0, "<div class='news-item'><a class='title' href='/x'>unclosed", NULL},
		{0, "\x00\x01\x02\xff\xfe", NULL},
		{1, "", "empty page"},
		{1, "<rss><channel><item><title>x</title></channel>", "malformed XML"},
		{1, "not xml at all", "malformed XML"},
		{1, "<?xml version='1.0'?><rss><channel></channel></rss>", "matched nothing"},
		{1, "<!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'><!ENTITY b '&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;'>"
		    "<!ENTITY c '&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;'><!ENTITY d '&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;'>"
		    "<!ENTITY e '&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;'><!ENTITY f '&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;'>"
		    "<!ENTITY g '&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;'><!ENTITY h '&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;'>]>"
		    "<rss><channel><item><title>&h;</title><link>/x</link></item></channel></rss>", ""},
		{1, "<!DOCTYPE r [<!ENTITY e 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'>]>"
		    "<rss><channel><item><title>t</title><link>/x</link><description>&e;&e;&e;&e;&e;&e;&e;&e;"
		    "</description></item></channel></rss>", "declares XML entities"},
		/* a "?>" before the XML declaration (found by fuzz_extract) */
		{1, "?><?xml version='1.0' encoding='utf-8'?><rss><channel><item><title>t</title><link>/x</link>"
		    "</item></channel></rss>", "malformed XML"},
		/* a name HTML does not have either is not made up */
		{1, "<rss><channel><item><title>&nosuchname;</title><link>/x</link></item></channel></rss>",
		 "malformed XML"},
		/* HTML5's names do not let a declaration through */
		{1, "<!DOCTYPE r [<!ENTITY check 'AAAAAAAA'>]><rss><channel><item><title>&check;&check;</title>"
		    "<link>/x</link></item></channel></rss>", "declares XML entities"},
		{1, "<?xml version='1.0'?><!DOCTYPE r SYSTEM 'file:///etc/passwd'><rss><channel><item>"
		    "<title>t</title><link>/x</link></item></channel></rss>", NULL},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		const struct source *s = cases[i].feed ? &cfg->sources[0] : &html;
		struct page_result r;
		char *err = NULL;
		size_t len = strlen(cases[i].body);
		if (i == 4)
			len = 5;
		int rc = extract_list(s, "http://g.example/", cases[i].body, len, NULL, &r, &err);
		if (cases[i].err) {
			assert_int_equal(rc, -1);
			assert_non_null(err);
			assert_non_null(strstr(err, cases[i].err)); /* "" : any reason */
			assert_null(strchr(err, '\n'));
			free(err);
		} else if (rc == 0) {
			for (size_t j = 0; j < r.nitems; j++)
				assert_true(!r.items[j].f.title || strlen(r.items[j].f.title) <= 4096);
			page_result_free(&r);
		} else {
			free(err);
		}
	}
	/* a fixed-seed stream of random pages: no crash, no leak */
	unsigned seed = 12345;
	char page[512];
	for (int n = 0; n < 3000; n++) {
		size_t len = (size_t)(n % 511) + 1;
		for (size_t j = 0; j < len; j++) {
			seed = seed * 1103515245u + 12345u;
			page[j] = (n % 3 == 0) ? "<>/='\" abdiv&;#x"[(seed >> 16) % 16] : (char)(seed >> 16);
		}
		struct page_result r;
		char *err = NULL;
		const struct source *s = n % 2 ? &cfg->sources[0] : &html;
		if (extract_list(s, "http://g.example/", page, len, n % 5 ? NULL : "koi8-r", &r, &err) == 0)
			page_result_free(&r);
		free(err);
	}
	config_free(cfg);
}

static void test_content_types(void **state)
{
	(void)state;
	static const struct {
		const char *ct;
		int ok;
	} cases[] = {
		{NULL, 1}, {"", 1}, {"text/html", 1}, {"text/html; charset=utf-8", 1}, {"TEXT/HTML", 1},
		{"application/xhtml+xml", 1}, {"application/rss+xml", 1}, {"application/atom+xml", 1},
		{"text/xml", 1}, {"application/xml; charset=windows-1251", 1}, {"text/plain", 1},
		{"application/octet-stream", 1}, {"image/png", 0}, {"application/pdf", 0},
		{"video/mp4", 0}, {"application/json", 0}, {"font/woff2", 0},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++)
		assert_int_equal(extract_type_ok(cases[i].ct), cases[i].ok ? 0 : -1);
}

static void test_xpath_check(void **state)
{
	(void)state;
	static const struct {
		const char *expr;
		int ok;
	} cases[] = {
		{"//div[@class='x']", 1}, {".//a/@href", 1}, {"string(//h1)", 1}, {"atom:title", 1},
		{"(//a | //b)[1]", 1},    {"//div[", 0},     {"", 0},             {"///", 0},
		{"//a[@href='x]", 0},     {"count(", 0}, {"nosuch(.)", 0}, {"nope:title", 0},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *err = NULL;
		int rc = extract_xpath_check(cases[i].expr, &err);
		assert_int_equal(rc, cases[i].ok ? 0 : -1);
		assert_true(cases[i].ok ? err == NULL : err != NULL);
		free(err);
	}
}

static void test_text(void **state)
{
	(void)state;
	static const struct {
		const char *html, *want;
	} cases[] = {
		{"<p>One</p><p>Two</p>", "One Two"},
		{"a<script>alert(1)</script>b<style>p{}</style>c", "abc"},
		{"&amp; &lt;tag&gt; &#1055;", "& <tag> П"},
		/* every name of HTML's table, HTML5's too (libxml2 knows HTML 4's) */
		{"&check; &bigstar;&NewLine;&Tab;x &apos;a&apos; &NotEqualTilde; &hellip;&nbsp;&euro;",
		 "\u2713 \u2605 x 'a' \u2242\u0338 \u2026 \u20ac"},
		{"<p title='&check;'>&lt;b&gt; &nosuch; &check &CHECK; &amp;check;</p>", "<b> &nosuch; &check &CHECK; &check;"},
		{"<!-- &check; -->&zwnj;|&AElig;", "\u200c|\u00c6"},
		{"  spaced \n\t out  ", "spaced out"},
		{"", ""},
		{"<b>unclosed", "unclosed"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		char *t = extract_text(cases[i].html);
		assert_string_equal(t, cases[i].want);
		free(t);
	}
}

static int setup(void **state)
{
	(void)state;
	log_set_level(LOG_QUIET);
	extract_init();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	extract_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_list),  cmocka_unit_test(test_article_fills_missing),
		cmocka_unit_test(test_charsets),   cmocka_unit_test(test_content_type_charset),
		cmocka_unit_test(test_feeds),      cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_xpath_check), cmocka_unit_test(test_text),
		cmocka_unit_test(test_content_types), cmocka_unit_test(test_feed_corpus),
		cmocka_unit_test(test_charset_corpus), cmocka_unit_test(test_wide_and_mixed),
		cmocka_unit_test(test_feed_misses), cmocka_unit_test(test_html5_entities_on_pages),
		cmocka_unit_test(test_date_corpus),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
