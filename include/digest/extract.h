/* extract: articles out of HTML pages, RSS and Atom feeds (libxml2, XPath). */
#ifndef DIGEST_EXTRACT_H
#define DIGEST_EXTRACT_H

#include <stddef.h>

#include "digest/config.h"

/* Raw field values as found on a page: strings, whitespace collapsed,
 * NULL when the selector is unset or matched nothing (or only blanks). */
struct raw_fields {
	union {
		struct {
			FIELD_MEMBERS;
		};
		char *v[FIELD_COUNT];
	};
};

struct raw_item {
	char *link; /* absolute, resolved against the page URL; never NULL */
	struct raw_fields f;
};

struct page_result {
	struct raw_item *items;
	size_t nitems;
	char *next; /* absolute URL of the next page, or NULL */
	/* Selectors that gave nothing in any item of the page (none when the
	 * page has no item): PAGE_MISSED_LINK when no item had a usable link,
	 * PAGE_MISSED_FIELD(i) for each set field selector of the list. */
	unsigned missed;
	/* For each miss of a feed format's default selectors: those
	 * selectors, the format, the root element and its namespace
	 * ("atom:published | ... | dc:date (the Atom 1.0 defaults; root
	 * element <feed> in namespace http://www.w3.org/2005/Atom)"); index
	 * FIELD_COUNT is the link's. NULL for any other. */
	char *missed_defaults[FIELD_COUNT + 1];
};
#define PAGE_MISSED_LINK 1u
#define PAGE_MISSED_FIELD(i) (2u << (i))

/* extract_init / extract_cleanup: once per process (silences libxml2's
 * own error printing). */
void extract_init(void);
void extract_cleanup(void);

/*
 * extract_xpath_check: 0 when EXPR compiles as an XPath 1.0 expression
 * (with the registered prefixes atom, atom03, dc, dcterms, content, slash,
 * thr, media, rdf, rss1, rss090),
 * else -1 and a malloc'd reason in *ERR.
 */
int extract_xpath_check(const char *expr, char **err);

/*
 * extract_charset: the charset named in a Content-Type value ("text/html;
 * charset=windows-1251"), malloc'd, or NULL when it names none.
 */
char *extract_charset(const char *content_type);

/*
 * extract_type_ok: 0 when a response of CONTENT_TYPE (may be NULL: a file,
 * or a server that sends none) can be a page or feed: any text type, any HTML or
 * XML type, or application/octet-stream; else -1 (an image, a PDF ...).
 */
int extract_type_ok(const char *content_type);

/*
 * extract_list: the items of a listing page or feed of SRC. BODY/LEN is the
 * page as fetched from URL; CHARSET (may be NULL) comes from the HTTP
 * header and overrides the page's own declaration. Items without a usable
 * link are skipped. Returns 0 with *OUT filled (free with page_result_free),
 * or -1 with a one-line reason in *ERR when the page cannot be parsed or
 * the item selector matches nothing.
 */
int extract_list(const struct source *src, const char *url, const char *body, size_t len,
		 const char *charset, struct page_result *out, char **err);

/*
 * extract_article: fill the fields of F that are still NULL from an
 * article page, with the selectors of SRC->article. Returns 0, or -1 with
 * *ERR when the page cannot be parsed.
 */
int extract_article(const struct source *src, const char *url, const char *body, size_t len,
		    const char *charset, struct raw_fields *f, char **err);

/* extract_text: the text of an HTML fragment (an RSS description),
 * whitespace collapsed; malloc'd. */
char *extract_text(const char *html);

void raw_fields_free(struct raw_fields *f);
void page_result_free(struct page_result *r);

#endif
