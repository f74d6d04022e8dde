/* extract: articles out of HTML pages, RSS and Atom feeds (libxml2, XPath). */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <iconv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/hash.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>
#include <uchardet.h>

#include "digest/entity.h"
#include "digest/extract.h"
#include "digest/url.h"
#include "digest/util.h"

/* Longest field value kept: enough for any title or lead paragraph, and a
 * bound on what one hostile page can make us store. A feed's summary is
 * HTML: it may be longer until it is turned into text. */
#define FIELD_MAX 4096
#define HTML_FIELD_MAX (256 * 1024)

static const char *const namespaces[][2] = {
	{"atom", "http://www.w3.org/2005/Atom"},
	{"dc", "http://purl.org/dc/elements/1.1/"},
	{"content", "http://purl.org/rss/1.0/modules/content/"},
	{"slash", "http://purl.org/rss/1.0/modules/slash/"},
	{"media", "http://search.yahoo.com/mrss/"},
	{"rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"},
	{"rss1", "http://purl.org/rss/1.0/"},
	{"rss090", "http://my.netscape.com/rdf/simple/0.9/"},
	{"atom03", "http://purl.org/atom/ns#"},
	{"dcterms", "http://purl.org/dc/terms/"},
	{"thr", "http://purl.org/syndication/thread/1.0"},
};

/* The built-in selectors of a feed, one set per format, chosen by the root
 * element. Each field lists alternatives in order of preference: the first
 * that gives a non-blank value wins, whatever the order of the elements in
 * the item (an Atom entry's published before its updated, a description
 * before content:encoded). NULL ends a list. */
#define ALTS 6
struct feed_format {
	const char *name; /* for messages */
	const char *item;
	const char *link[ALTS];
	const char *field[FIELD_COUNT][ALTS];
};

/* A guid is the link when it is a permalink (the default) and a URL. */
#define PERMALINK_GUID "guid[not(@isPermaLink) or @isPermaLink = 'true'][starts-with(normalize-space(.), 'http')]"

static const struct feed_format rss2_format = {
	"RSS 0.9x-2.0",
	"//item",
	{"link", PERMALINK_GUID, "atom:link[not(@rel) or @rel = 'alternate']/@href", NULL},
	{
		[FIELD_TITLE] = {"title", "dc:title", NULL},
		[FIELD_PUBLISHED] = {"pubDate", "dc:date", "dcterms:issued", "dcterms:created", "dcterms:modified",
				     NULL},
		[FIELD_COMMENTS] = {"slash:comments", "thr:total", NULL},
		[FIELD_SUMMARY] = {"description", "content:encoded", "dc:description", "dcterms:abstract", NULL},
		[FIELD_IMAGE] = {"enclosure[starts-with(@type, 'image')]/@url", "media:content/@url",
				 "media:thumbnail/@url", "media:group/media:content/@url", NULL},
	},
};

static const struct feed_format rdf_format = {
	"RSS 1.0 / 0.90 (RDF)",
	"//rss1:item | //rss090:item",
	{"rss1:link | rss090:link", "@rdf:about[starts-with(normalize-space(.), 'http')]", NULL},
	{
		[FIELD_TITLE] = {"rss1:title | rss090:title", "dc:title", NULL},
		[FIELD_PUBLISHED] = {"dc:date", "dcterms:issued", "dcterms:created", "dcterms:modified", NULL},
		[FIELD_COMMENTS] = {"slash:comments", NULL},
		[FIELD_SUMMARY] = {"rss1:description | rss090:description", "content:encoded", "dc:description",
				   "dcterms:abstract", NULL},
		[FIELD_IMAGE] = {"media:content/@url", "media:thumbnail/@url", NULL},
	},
};

static const struct feed_format atom_format = {
	"Atom 1.0",
	"//atom:entry",
	{"atom:link[not(@rel) or @rel = 'alternate'][not(@type) or contains(@type, 'html')]/@href",
	 "atom:link[not(@rel) or @rel = 'alternate']/@href", "atom:id[starts-with(normalize-space(.), 'http')]",
	 NULL},
	{
		[FIELD_TITLE] = {"atom:title", "dc:title", NULL},
		[FIELD_PUBLISHED] = {"atom:published", "dcterms:issued", "dcterms:created", "atom:updated",
				     "dc:date", NULL},
		[FIELD_COMMENTS] = {"slash:comments", "thr:total", NULL},
		[FIELD_SUMMARY] = {"atom:summary", "atom:content", NULL},
		[FIELD_IMAGE] = {"media:thumbnail/@url",
				 "atom:link[@rel = 'enclosure'][starts-with(@type, 'image')]/@href",
				 "media:content/@url", NULL},
	},
};

static const struct feed_format atom03_format = {
	"Atom 0.3",
	"//atom03:entry",
	{"atom03:link[not(@rel) or @rel = 'alternate'][not(@type) or contains(@type, 'html')]/@href",
	 "atom03:link[not(@rel) or @rel = 'alternate']/@href", "atom03:id[starts-with(normalize-space(.), 'http')]",
	 NULL},
	{
		[FIELD_TITLE] = {"atom03:title", "dc:title", NULL},
		[FIELD_PUBLISHED] = {"atom03:issued", "atom03:created", "dcterms:issued", "atom03:modified",
				     "dc:date", NULL},
		[FIELD_COMMENTS] = {"slash:comments", NULL},
		[FIELD_SUMMARY] = {"atom03:summary", "atom03:content", NULL},
		[FIELD_IMAGE] = {"media:thumbnail/@url", "media:content/@url", NULL},
	},
};

/* The format of a feed by its root element: RSS 2.0 and 0.9x <rss>, RSS
 * 1.0 and 0.90 <rdf:RDF>, Atom <feed> in either namespace; NULL when the
 * root is none of these. */
static const struct feed_format *feed_format_of(xmlNodePtr root)
{
	if (!root || root->type != XML_ELEMENT_NODE)
		return NULL;
	const char *ns = root->ns && root->ns->href ? (const char *)root->ns->href : "";
	const char *name = (const char *)root->name;
	if (!strcmp(name, "rss") && !*ns)
		return &rss2_format;
	if (!strcmp(name, "RDF") && !strcmp(ns, namespaces[5][1]))
		return &rdf_format;
	if (!strcmp(name, "feed") && !strcmp(ns, namespaces[0][1]))
		return &atom_format;
	if (!strcmp(name, "feed") && !strcmp(ns, "http://purl.org/atom/ns#"))
		return &atom03_format;
	return NULL;
}

static void silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void silent_structured(void *ctx, xmlErrorPtr e)
{
	(void)ctx;
	(void)e;
}

void extract_init(void)
{
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, silent);
	xmlSetStructuredErrorFunc(NULL, silent_structured);
}

void extract_cleanup(void) { xmlCleanupParser(); }

static xmlXPathContextPtr new_ctx(xmlDocPtr doc);

int extract_xpath_check(const char *expr, char **err)
{
	xmlSetGenericErrorFunc(NULL, silent);
	xmlSetStructuredErrorFunc(NULL, silent_structured);
	xmlXPathCompExprPtr c = xmlXPathCompile((const xmlChar *)expr);
	if (!c)
		return errf(err, "invalid XPath expression");
	/* The compiler lets some errors through ("count(", unknown functions
	 * or prefixes); they show when the expression runs, so run it once on
	 * an empty document. */
	xmlDocPtr doc = xmlReadMemory("<x/>", 4, NULL, NULL, XML_PARSE_NONET);
	xmlXPathContextPtr ctx = doc ? new_ctx(doc) : NULL;
	xmlXPathObjectPtr r = NULL;
	if (ctx) {
		ctx->node = xmlDocGetRootElement(doc);
		r = xmlXPathCompiledEval(c, ctx);
	}
	int ok = r != NULL;
	xmlXPathFreeObject(r);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	xmlXPathFreeCompExpr(c);
	return ok ? 0 : errf(err, "invalid XPath expression");
}

char *extract_charset(const char *ct)
{
	if (!ct)
		return NULL;
	const char *p = strcasestr(ct, "charset");
	if (!p)
		return NULL;
	p += 7;
	while (*p == ' ' || *p == '\t')
		p++;
	if (*p++ != '=')
		return NULL;
	while (*p == ' ' || *p == '"' || *p == '\'')
		p++;
	size_t n = 0;
	while (p[n] && (isalnum((unsigned char)p[n]) || strchr("-_.:", p[n])))
		n++;
	return n && n < 40 ? xstrndup(p, n) : NULL;
}

int extract_type_ok(const char *ct)
{
	if (!ct || !*ct)
		return 0;
	size_t n = strcspn(ct, "; \t");
	char *type = xstrndup(ct, n);
	int ok = !strncasecmp(type, "text/", 5) || strcasestr(type, "xml") || strcasestr(type, "html") ||
		 !strcasecmp(type, "application/octet-stream");
	free(type);
	return ok ? 0 : -1;
}

/* The charset a page declares in a <meta> tag within its first bytes, or a
 * byte-order mark's. libxml2 reads <meta> too, but only once it reaches it;
 * naming the encoding up front makes the whole parse consistent. */
static char *sniff_charset(const char *body, size_t len)
{
	if (len >= 3 && !memcmp(body, "\xEF\xBB\xBF", 3))
		return xstrdup("UTF-8");
	size_t lim = len < 4096 ? len : 4096;
	char *head = xstrndup(body, lim);
	char *res = NULL;
	for (char *m = head; (m = strcasestr(m, "<meta")) != NULL; m += 5) {
		char *end = strchr(m, '>');
		if (!end)
			break;
		*end = '\0';
		res = extract_charset(m);
		*end = '>';
		if (res)
			break;
	}
	free(head);
	/* A page whose <meta> could be read as ASCII is not UTF-16 or UTF-32,
	 * whatever it says: browsers read it as UTF-8 (HTML, "prescan"). */
	if (res && (!strncasecmp(res, "utf-16", 6) || !strncasecmp(res, "utf-32", 6) ||
		    !strncasecmp(res, "ucs-", 4))) {
		free(res);
		res = xstrdup("UTF-8");
	}
	return res;
}

/* BODY with every reference to a named HTML entity that XML does not
 * predefine ("&aacute;", "&check;") made a character reference ("&#225;"),
 * outside CDATA sections and comments: for a feed (ALL), every name of
 * HTML's table, so that a feed written as if XML knew HTML's entities
 * parses, with or without the RSS 0.91 DOCTYPE (whose external DTD is never
 * read); for HTML, only the names libxml2's HTML parser does not know
 * (HTML5's, "&NewLine;"), so that a page with none is not copied. Each
 * reference grows at most from 4 to 20 bytes. Malloc'd with its length in
 * *OUTLEN, or NULL when there is none to change or the body is not in an
 * ASCII-compatible encoding. */
static char *entities_as_refs(const char *body, size_t len, int all, size_t *outlen)
{
	if (len >= 2 && (memchr(body, '\0', len < 4 ? len : 4) || !memcmp(body, "\xFE\xFF", 2) ||
			 !memcmp(body, "\xFF\xFE", 2)))
		return NULL; /* UTF-16 or UTF-32 */
	static const char *const xml_names[] = {"amp", "lt", "gt", "quot", "apos"};
	struct buf b = {0};
	size_t done = 0; /* bytes of BODY already in B */
	for (size_t i = 0; i < len; i++) {
		if (body[i] == '<' && len - i >= 9 && !memcmp(body + i, "<![CDATA[", 9)) {
			const char *e = memmem(body + i, len - i, "]]>", 3);
			i = e ? (size_t)(e - body) + 2 : len;
			continue;
		}
		if (body[i] == '<' && len - i >= 4 && !memcmp(body + i, "<!--", 4)) {
			const char *e = memmem(body + i + 4, len - i - 4, "-->", 3);
			i = e ? (size_t)(e - body) + 2 : len;
			continue;
		}
		if (body[i] != '&')
			continue;
		size_t n = 0;
		while (i + 1 + n < len && n < 32 && isalnum((unsigned char)body[i + 1 + n]))
			n++;
		if (n == 0 || i + 1 + n >= len || body[i + 1 + n] != ';')
			continue;
		char name[33];
		memcpy(name, body + i + 1, n);
		name[n] = '\0';
		int predefined = 0; /* what XML knows stays XML's */
		for (size_t k = 0; all && k < ARRAY_LEN(xml_names); k++)
			predefined |= !strcmp(name, xml_names[k]);
		uint32_t cp[2];
		int ncp = predefined ? 0 : entity_lookup(name, n, cp);
		if (ncp == 0 || (!all && htmlEntityLookup((const xmlChar *)name)))
			continue;
		buf_add(&b, body + done, i - done);
		for (int k = 0; k < ncp; k++)
			buf_addf(&b, "&#%u;", (unsigned)cp[k]);
		done = i + 1 + n + 1;
		i = done - 1;
	}
	if (!b.data)
		return NULL;
	buf_add(&b, body + done, len - done);
	*outlen = b.len;
	return b.data;
}

/* htmlReadMemory, with the named references it does not know made
 * character references first (entities_as_refs). */
static htmlDocPtr read_html(const char *body, size_t len, const char *url, const char *charset, int opts)
{
	size_t fixed_len = 0;
	char *fixed = entities_as_refs(body, len, 0, &fixed_len);
	if (fixed && fixed_len <= (size_t)INT32_MAX) {
		body = fixed;
		len = fixed_len;
	}
	htmlDocPtr doc = htmlReadMemory(body, (int)len, url, charset, opts);
	free(fixed);
	return doc;
}


/* ------------------------------------------------------------------ */
/* Charsets of pages and feeds that declare none                       */

/* UTF-16 or UTF-32 by a byte-order mark, or by the NULs around the first
 * character when there is none (a page starts with ASCII: "<", a space);
 * *SKIP gets the length of the mark. NULL for anything else. */
static const char *wide_charset(const char *body, size_t len, size_t *skip)
{
	const unsigned char *u = (const unsigned char *)body;
	*skip = 0;
	if (len >= 4 && !memcmp(u, "\x00\x00\xFE\xFF", 4))
		return *skip = 4, "UTF-32BE";
	if (len >= 4 && !memcmp(u, "\xFF\xFE\x00\x00", 4))
		return *skip = 4, "UTF-32LE";
	if (len >= 2 && !memcmp(u, "\xFE\xFF", 2))
		return *skip = 2, "UTF-16BE";
	if (len >= 2 && !memcmp(u, "\xFF\xFE", 2))
		return *skip = 2, "UTF-16LE";
	if (len >= 4 && !u[0] && !u[1] && !u[2] && u[3] && u[3] < 0x80)
		return "UTF-32BE";
	if (len >= 4 && u[0] && u[0] < 0x80 && !u[1] && !u[2] && !u[3])
		return "UTF-32LE";
	if (len >= 4 && !u[0] && u[1] && u[1] < 0x80 && !u[2] && u[3] && u[3] < 0x80)
		return "UTF-16BE";
	if (len >= 4 && u[0] && u[0] < 0x80 && !u[1] && u[2] && u[2] < 0x80 && !u[3])
		return "UTF-16LE";
	return NULL;
}

/* BODY converted from CHARSET to UTF-8 with iconv; NULL when it cannot be
 * (an unknown name; a sequence that does not decode is replaced). */
static char *to_utf8(const char *body, size_t len, const char *charset, size_t *outlen)
{
	iconv_t cd = iconv_open("UTF-8", charset);
	if (cd == (iconv_t)-1)
		return NULL;
	size_t cap = len * 2 + 16, n = 0;
	char *out = xmalloc(cap);
	char *in = (char *)body;
	size_t left = len;
	while (left > 0) {
		if (cap - n < 16) {
			cap *= 2;
			out = xrealloc(out, cap);
		}
		char *o = out + n;
		size_t room = cap - n - 1;
		size_t r = iconv(cd, &in, &left, &o, &room);
		n = (size_t)(o - out);
		if (r == (size_t)-1) {
			if (errno == E2BIG)
				continue;
			/* a bad or cut sequence: U+FFFD for one byte, and on */
			if (cap - n < 8) {
				cap *= 2;
				out = xrealloc(out, cap);
			}
			memcpy(out + n, "\xEF\xBF\xBD", 3);
			n += 3;
			in++;
			left--;
		}
	}
	iconv_close(cd);
	out[n] = '\0';
	*outlen = n;
	return out;
}

/* Counts of well-formed multi-byte UTF-8 sequences and of bytes that are
 * not part of one, in BODY. */
static void utf8_census(const char *body, size_t len, size_t *good, size_t *bad)
{
	const unsigned char *u = (const unsigned char *)body;
	*good = *bad = 0;
	for (size_t i = 0; i < len;) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t n = u[i] >= 0xC2 && u[i] <= 0xDF ? 2 : u[i] >= 0xE0 && u[i] <= 0xEF ? 3
			   : u[i] >= 0xF0 && u[i] <= 0xF4 ? 4 : 0;
		size_t k = 1;
		while (n && k < n && i + k < len && (u[i + k] & 0xC0) == 0x80)
			k++;
		if (n && k == n) {
			(*good)++;
			i += n;
		} else {
			(*bad)++;
			i++;
		}
	}
}

/* BODY, UTF-8 with some windows-1252 bytes (a quote pasted from a word
 * processor), with each byte that is not part of a UTF-8 sequence read as
 * windows-1252. Malloc'd, its length in *OUTLEN. */
static char *repair_utf8(const char *body, size_t len, size_t *outlen)
{
	/* windows-1252's 0x80..0x9F; the five it leaves undefined as Latin-1 */
	static const uint16_t c1[32] = {0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021,
					0x02C6, 0x2030, 0x0160, 0x2039, 0x0152, 0x8D,   0x017D, 0x8F,
					0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013, 0x2014,
					0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
	const unsigned char *u = (const unsigned char *)body;
	struct buf b = {0};
	buf_adds(&b, "");
	for (size_t i = 0; i < len;) {
		size_t n = u[i] < 0x80 ? 1 : u[i] >= 0xC2 && u[i] <= 0xDF ? 2 : u[i] >= 0xE0 && u[i] <= 0xEF ? 3
			   : u[i] >= 0xF0 && u[i] <= 0xF4 ? 4 : 0;
		size_t k = 1;
		while (n > 1 && k < n && i + k < len && (u[i + k] & 0xC0) == 0x80)
			k++;
		if (n && k == n) {
			buf_add(&b, body + i, n);
			i += n;
			continue;
		}
		unsigned cp = u[i] >= 0xA0 ? u[i] : c1[u[i] - 0x80];
		char enc[4];
		if (cp < 0x800) {
			enc[0] = (char)(0xC0 | (cp >> 6));
			enc[1] = (char)(0x80 | (cp & 0x3F));
			buf_add(&b, enc, 2);
		} else {
			enc[0] = (char)(0xE0 | (cp >> 12));
			enc[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
			enc[2] = (char)(0x80 | (cp & 0x3F));
			buf_add(&b, enc, 3);
		}
		i++;
	}
	*outlen = b.len;
	return b.data;
}

/*
 * The charset of a page or feed that declares none: UTF-8 when it reads as
 * UTF-8 (with a few windows-1252 bytes at most: then *REPAIR is set), else
 * what uchardet makes of it; NULL for plain ASCII or when uchardet cannot
 * tell. Only run on pages without a declaration.
 */
static char *detect_charset(const char *body, size_t len, int *repair)
{
	size_t good, bad;
	*repair = 0;
	utf8_census(body, len, &good, &bad);
	if (bad == 0)
		return good ? xstrdup("UTF-8") : NULL;
	if (good > 0 && bad <= good) {
		*repair = 1;
		return xstrdup("UTF-8");
	}
	uchardet_t ud = uchardet_new();
	if (!ud)
		return NULL;
	char *res = NULL;
	if (uchardet_handle_data(ud, body, len) == 0) {
		uchardet_data_end(ud);
		const char *cs = uchardet_get_charset(ud);
		if (cs && *cs && strcasecmp(cs, "ASCII"))
			res = xstrdup(cs);
	}
	uchardet_delete(ud);
	return res;
}

/* Whether a feed's XML declaration names its encoding. */
static int xml_declares_encoding(const char *body, size_t len)
{
	size_t lim = len < 256 ? len : 256;
	const char *decl = memmem(body, lim, "<?xml", 5);
	/* its end is the first "?>" after it, not one before */
	const char *end = decl ? memmem(decl, lim - (size_t)(decl - body), "?>", 2) : NULL;
	return end && memmem(decl, (size_t)(end - decl), "encoding", 8) != NULL;
}

static int is_feed(const struct source *src) { return src->type != SOURCE_HTML; }

static const char *xml_error_text(void)
{
	const xmlError *e = xmlGetLastError();
	return e && e->message ? e->message : "not well-formed";
}

/* Parse BODY as HTML (recovering) or XML (strict); NULL with *ERR set. */
static xmlDocPtr parse_decoded(int feed, const char *url, const char *body, size_t len, const char *charset,
			       int xml_opts, char **err);

/* The encoding a feed's XML declaration names, malloc'd, or NULL. */
static char *xml_encoding(const char *body, size_t len)
{
	if (!xml_declares_encoding(body, len))
		return NULL;
	size_t lim = len < 256 ? len : 256;
	char *head = xstrndup(body, lim);
	char *decl = strstr(head, "<?xml"); /* "encoding" in text before it is none */
	char *p = decl ? strstr(decl, "encoding") : NULL;
	char *res = NULL;
	if (p) {
		p += 8;
		while (*p == ' ' || *p == '=' || *p == '"' || *p == '\'')
			p++;
		size_t n = 0;
		while (p[n] && (isalnum((unsigned char)p[n]) || strchr("-_.:", p[n])))
			n++;
		if (n && n < 40)
			res = xstrndup(p, n);
	}
	free(head);
	return res;
}

static int is_utf8_name(const char *cs) { return cs && (!strcasecmp(cs, "utf-8") || !strcasecmp(cs, "utf8")); }

/*
 * Parse BODY as HTML (recovering) or XML (strict); NULL with *ERR set.
 * The charset: CHARSET (the HTTP header's) if set; else UTF-16 or UTF-32
 * by a byte-order mark or the NULs of the first character (converted to
 * UTF-8 first); else the page's own declaration (<meta>, the XML
 * declaration); else, for a page that declares none, detect_charset. A
 * page in UTF-8 by any of these with bytes that are not UTF-8 has them
 * read as windows-1252 (repair_utf8).
 */
static xmlDocPtr parse_doc(int feed, const char *url, const char *body, size_t len, const char *charset,
			   char **err)
{
	if (len == 0) {
		errf(err, "empty page");
		return NULL;
	}
	if (len > (size_t)INT32_MAX) {
		errf(err, "page too large to parse");
		return NULL;
	}
	char *owned = NULL, *found = NULL;
	size_t owned_len = 0, skip = 0;
	int xml_opts = 0;
	const char *enc = charset;
	const char *wide = charset ? NULL : wide_charset(body, len, &skip);
	if (wide) {
		owned = to_utf8(body + skip, len - skip, wide, &owned_len);
		if (owned) {
			enc = "UTF-8";
			xml_opts = XML_PARSE_IGNORE_ENC; /* its declaration says UTF-16 */
		}
	} else if (!charset) {
		found = feed ? xml_encoding(body, len) : sniff_charset(body, len);
		if (!found && !(feed && xml_declares_encoding(body, len))) {
			int repair;
			found = detect_charset(body, len, &repair);
			/* iconv knows every name uchardet gives; libxml2 not all */
			if (found && !is_utf8_name(found) && (owned = to_utf8(body, len, found, &owned_len)))
				xml_opts = XML_PARSE_IGNORE_ENC;
		}
		enc = found;
	}
	if (!owned && (is_utf8_name(enc) || (feed && !enc))) {
		size_t good, bad;
		utf8_census(body, len, &good, &bad);
		if (bad > 0 && bad <= good + 16)
			owned = repair_utf8(body, len, &owned_len);
		if (owned && enc && !charset)
			xml_opts = XML_PARSE_IGNORE_ENC;
	}
	if (owned && owned_len <= (size_t)INT32_MAX) {
		body = owned;
		len = owned_len;
		enc = "UTF-8";
	}
	xmlDocPtr doc = parse_decoded(feed, url, body, len, enc, xml_opts, err);
	free(owned);
	free(found);
	return doc;
}

static xmlDocPtr parse_decoded(int feed, const char *url, const char *body, size_t len, const char *charset,
			       int xml_opts, char **err)
{
	xmlResetLastError();
	xmlDocPtr doc;
	if (feed) {
		int opts = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | xml_opts;
		size_t fixed_len = 0;
		char *fixed = entities_as_refs(body, len, 1, &fixed_len);
		if (fixed && fixed_len <= (size_t)INT32_MAX) {
			body = fixed;
			len = fixed_len;
		}
		doc = xmlReadMemory(body, (int)len, url, charset, opts);
		if (!doc && charset) /* an unknown charset name: let the XML declaration decide */
			doc = xmlReadMemory(body, (int)len, url, NULL, opts);
		free(fixed);
		if (!doc) {
			const xmlError *e = xmlGetLastError();
			char *msg = xstrdup(xml_error_text());
			str_collapse_ws(msg);
			errf(err, "malformed XML (line %d: %s)", e ? e->line : 0, msg);
			free(msg);
			return NULL;
		}
		/* Entities are not substituted while parsing (that would read
		 * external ones), but reading a node's text expands them, and one
		 * large entity used many times is a memory bomb libxml2 does not
		 * catch then. Feeds have no need to declare entities. */
		if (doc->intSubset && doc->intSubset->entities &&
		    xmlHashSize((xmlHashTablePtr)doc->intSubset->entities) > 0) {
			xmlFreeDoc(doc);
			errf(err, "the feed declares XML entities (refused: an entity-expansion attack)");
			return NULL;
		}
	} else {
		int opts = HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING | HTML_PARSE_NONET;
		doc = read_html(body, len, url, charset, opts);
		if (!doc && charset)
			doc = read_html(body, len, url, NULL, opts);
		if (!doc || !xmlDocGetRootElement(doc)) {
			xmlFreeDoc(doc);
			errf(err, "not an HTML page");
			return NULL;
		}
	}
	return doc;
}

static xmlXPathContextPtr new_ctx(xmlDocPtr doc)
{
	xmlXPathContextPtr ctx = xmlXPathNewContext(doc);
	if (!ctx)
		return NULL;
	for (size_t i = 0; i < ARRAY_LEN(namespaces); i++)
		xmlXPathRegisterNs(ctx, (const xmlChar *)namespaces[i][0], (const xmlChar *)namespaces[i][1]);
	return ctx;
}

/* Cut S to at most MAX bytes on a character boundary. */
static void cap_field(char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max)
		return;
	n = max;
	while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	s[n] = '\0';
}

/* The string value of EXPR evaluated at NODE, whitespace collapsed; NULL
 * when unset, matching nothing, or blank. */
static char *eval_string(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr, size_t max)
{
	if (!expr)
		return NULL;
	ctx->node = node;
	xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (!r)
		return NULL;
	xmlChar *s = NULL;
	if (r->type == XPATH_NODESET) {
		if (r->nodesetval && r->nodesetval->nodeNr > 0)
			s = xmlXPathCastNodeToString(r->nodesetval->nodeTab[0]);
	} else {
		s = xmlXPathCastToString(r);
	}
	xmlXPathFreeObject(r);
	if (!s)
		return NULL;
	char *v = xstrdup((const char *)s);
	xmlFree(s);
	str_collapse_ws(v);
	cap_field(v, max);
	if (!*v) {
		free(v);
		return NULL;
	}
	return v;
}

static void collect_text(xmlNodePtr n, struct buf *b, int depth);

/* Whether text from a feed reads as HTML: an entity or character
 * reference, or a tag ("a < b" is not one). */
static int looks_like_html(const char *s)
{
	for (const char *p = s; *p; p++)
		if (*p == '&' || (*p == '<' && (isalpha((unsigned char)p[1]) || p[1] == '/' || p[1] == '!')))
			return 1;
	return 0;
}

/* How a feed's text element is to be read, by its type (Atom 1.0: text,
 * html, xhtml or a MIME type; Atom 0.3: a MIME type and mode="escaped"). */
enum text_form { FORM_GUESS, FORM_TEXT, FORM_HTML, FORM_XHTML };

static enum text_form text_form_of(xmlNodePtr n)
{
	if (!n || n->type != XML_ELEMENT_NODE)
		return FORM_GUESS;
	enum text_form f = FORM_GUESS;
	xmlChar *type = xmlGetNoNsProp(n, (const xmlChar *)"type");
	xmlChar *mode = xmlGetNoNsProp(n, (const xmlChar *)"mode");
	if (type) {
		const char *t = (const char *)type;
		if (strcasestr(t, "xhtml"))
			f = FORM_XHTML;
		else if (strcasestr(t, "html"))
			f = FORM_HTML;
		else if (!strcasecmp(t, "text") || !strcasecmp(t, "text/plain"))
			f = FORM_TEXT;
	} else if (n->ns && n->ns->href && !xmlStrcmp(n->ns->href, (const xmlChar *)namespaces[0][1])) {
		f = FORM_TEXT; /* Atom 1.0: text unless it says otherwise */
	}
	if (mode && !xmlStrcmp(mode, (const xmlChar *)"escaped"))
		f = FORM_HTML;
	else if (mode && !xmlStrcmp(mode, (const xmlChar *)"xml") && f == FORM_HTML)
		f = FORM_XHTML;
	xmlFree(type);
	xmlFree(mode);
	return f;
}

/* The text of a feed's title or summary as a feed reader shows it: HTML
 * (escaped, or Atom type="html") turned into text with every entity
 * decoded, XHTML content's tags dropped, plain text kept as it is; then
 * whitespace collapsed. N is the node selected (may be NULL), RAW its
 * string value. Malloc'd, at most FIELD_MAX bytes. */
static char *feed_text(xmlNodePtr n, const char *raw, int summary)
{
	enum text_form f = text_form_of(n);
	if (f == FORM_GUESS)
		f = summary || looks_like_html(raw) ? FORM_HTML : FORM_TEXT;
	char *v;
	if (f == FORM_XHTML) {
		struct buf b = {0};
		buf_adds(&b, "");
		collect_text(n->children, &b, 0);
		v = b.data;
	} else if (f == FORM_HTML) {
		v = extract_text(raw);
	} else {
		v = xstrdup(raw);
	}
	str_collapse_ws(v);
	cap_field(v, FIELD_MAX);
	return v;
}

/* The value of field I selected by EXPR at NODE, as stored: whitespace
 * collapsed, a feed's title and summary decoded (feed_text), an HTML
 * page's summary made text, an image URL absolute; NULL when EXPR is unset
 * or gives nothing but blanks. */
static char *field_value(xmlXPathContextPtr ctx, xmlNodePtr node, const char *expr, int i, int feed,
			 const char *base)
{
	if (!expr)
		return NULL;
	ctx->node = node;
	xmlXPathObjectPtr r = xmlXPathEvalExpression((const xmlChar *)expr, ctx);
	if (!r)
		return NULL;
	xmlChar *s = NULL;
	xmlNodePtr first = NULL;
	if (r->type == XPATH_NODESET) {
		if (r->nodesetval && r->nodesetval->nodeNr > 0) {
			first = r->nodesetval->nodeTab[0];
			s = xmlXPathCastNodeToString(first);
		}
	} else {
		s = xmlXPathCastToString(r);
	}
	char *v = NULL;
	if (s) {
		v = xstrdup((const char *)s);
		xmlFree(s);
		int text = i == FIELD_TITLE || i == FIELD_SUMMARY;
		cap_field(v, text ? HTML_FIELD_MAX : FIELD_MAX);
		if (feed && text) {
			char *t = feed_text(first, v, i == FIELD_SUMMARY);
			free(v);
			v = t;
		} else if (i == FIELD_SUMMARY && strchr(v, '<')) {
			char *t = extract_text(v);
			free(v);
			v = t;
		} else {
			str_collapse_ws(v);
			cap_field(v, FIELD_MAX);
		}
	}
	xmlXPathFreeObject(r);
	if (v && !*v) {
		free(v);
		v = NULL;
	}
	if (v && i == FIELD_IMAGE) {
		char *abs = url_resolve(base, v);
		free(v);
		v = abs;
	}
	return v;
}

/* Fill the NULL fields of F from SELS evaluated at NODE; where FMT is set
 * and SOURCE_DEFAULT_FIELD(i) is in DEFAULTS, from FMT's alternatives
 * instead. */
static void fill_fields(xmlXPathContextPtr ctx, xmlNodePtr node, const struct fields *sels, int feed,
			const char *base, const struct feed_format *fmt, unsigned defaults,
			struct raw_fields *f)
{
	for (int i = 0; i < FIELD_COUNT; i++) {
		char **slot = &f->v[i];
		if (*slot)
			continue;
		if (fmt && (defaults & SOURCE_DEFAULT_FIELD(i))) {
			for (int a = 0; a < ALTS && fmt->field[i][a] && !*slot; a++)
				*slot = field_value(ctx, node, fmt->field[i][a], i, feed, base);
		} else {
			*slot = field_value(ctx, node, sels->v[i], i, feed, base);
		}
	}
}

/* The URL links on DOC resolve against: <base href> if any, else URL. */
static char *doc_base(xmlXPathContextPtr ctx, xmlDocPtr doc, const char *url, int feed)
{
	if (!feed) {
		char *b = eval_string(ctx, xmlDocGetRootElement(doc), "(//base/@href)[1]", FIELD_MAX);
		if (b) {
			char *abs = url_resolve(url, b);
			free(b);
			if (abs)
				return abs;
		}
	}
	return xstrdup(url);
}

/* Where a selector looked, for messages: "root element <feed> in
 * namespace http://www.w3.org/2005/Atom". Malloc'd. */
static char *root_desc(xmlNodePtr root)
{
	const char *ns = root && root->ns && root->ns->href ? (const char *)root->ns->href : NULL;
	return xasprintf("root element <%s>%s%s", root ? (const char *)root->name : "", ns ? " in namespace " : "",
			 ns ? ns : "");
}

/* The default selectors ALTS of feed format FMT, tried in this order,
 * with the format and ROOT: "pubDate | dc:date (the RSS 0.9x-2.0
 * defaults; root element <rss>)". Malloc'd. */
static char *defaults_desc(const struct feed_format *fmt, const char *const alts[ALTS], xmlNodePtr root)
{
	struct buf b = {0};
	for (int a = 0; a < ALTS && alts[a]; a++)
		buf_addf(&b, "%s%s", a ? " | " : "", alts[a]);
	char *where = root_desc(root);
	buf_addf(&b, " (the %s defaults; %s)", fmt->name, where);
	free(where);
	return b.data;
}

int extract_list(const struct source *src, const char *url, const char *body, size_t len,
		 const char *charset, struct page_result *out, char **err)
{
	memset(out, 0, sizeof *out);
	int feed = is_feed(src);
	xmlDocPtr doc = parse_doc(feed, url, body, len, charset, err);
	if (!doc)
		return -1;
	int rc = -1;
	char *base = NULL;
	xmlXPathObjectPtr items = NULL;
	xmlXPathContextPtr ctx = new_ctx(doc);
	if (!ctx) {
		errf(err, "out of memory for XPath");
		goto out;
	}
	base = doc_base(ctx, doc, url, feed);
	xmlNodePtr root = xmlDocGetRootElement(doc);
	/* Where digest.conf left a feed's selectors to us, the root element
	 * says which format's to use; unknown roots keep the configured
	 * strings (the RSS or Atom ones). */
	unsigned defaults = feed ? src->defaults : 0;
	const struct feed_format *fmt = defaults ? feed_format_of(root) : NULL;
	const char *item_sel = fmt && (defaults & SOURCE_DEFAULT_ITEM) ? fmt->item : src->item;
	ctx->node = root;
	items = xmlXPathEvalExpression((const xmlChar *)item_sel, ctx);
	if (!items || items->type != XPATH_NODESET) {
		errf(err, "item selector %s does not select nodes", item_sel);
		goto out;
	}
	int n = items->nodesetval ? items->nodesetval->nodeNr : 0;
	if (n == 0) {
		char *where = root_desc(root);
		errf(err, "item selector %s matched nothing (%s; %s)", item_sel,
		     fmt ? fmt->name : feed ? "not a known feed format" : "HTML", where);
		free(where);
		goto out;
	}
	out->items = xcalloc((size_t)n, sizeof *out->items);
	for (int i = 0; i < n; i++) {
		xmlNodePtr node = items->nodesetval->nodeTab[i];
		char *href = NULL;
		if (fmt && (defaults & SOURCE_DEFAULT_LINK)) {
			for (int a = 0; a < ALTS && fmt->link[a] && !href; a++)
				href = eval_string(ctx, node, fmt->link[a], FIELD_MAX);
		} else {
			href = eval_string(ctx, node, src->link, FIELD_MAX);
		}
		char *abs = href ? url_resolve(base, href) : NULL;
		free(href);
		if (!abs)
			continue;
		struct raw_item *it = &out->items[out->nitems++];
		it->link = abs;
		fill_fields(ctx, node, &src->list, feed, base, fmt, defaults, &it->f);
	}
	/* a selector is reported as missing only when no item gave it */
	if (out->nitems == 0) {
		out->missed |= PAGE_MISSED_LINK;
		if (fmt && (defaults & SOURCE_DEFAULT_LINK))
			out->missed_defaults[FIELD_COUNT] = defaults_desc(fmt, fmt->link, root);
	}
	/* A feed's defaults miss only what every format has: a title and a
	 * date. Comments, summaries and images are optional in all of them. */
	for (int i = 0; i < FIELD_COUNT && out->nitems > 0; i++) {
		int dflt = fmt && (defaults & SOURCE_DEFAULT_FIELD(i)) && fmt->field[i][0];
		if (dflt && i != FIELD_TITLE && i != FIELD_PUBLISHED)
			continue;
		size_t got = 0;
		for (size_t k = 0; k < out->nitems; k++)
			got += out->items[k].f.v[i] != NULL;
		if ((src->list.v[i] || dflt) && got == 0) {
			out->missed |= PAGE_MISSED_FIELD(i);
			if (dflt)
				out->missed_defaults[i] = defaults_desc(fmt, fmt->field[i], root);
		}
	}
	if (src->next) {
		char *next = eval_string(ctx, xmlDocGetRootElement(doc), src->next, FIELD_MAX);
		if (next) {
			out->next = url_resolve(base, next);
			free(next);
		}
	}
	rc = 0;
out:
	xmlXPathFreeObject(items);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	free(base);
	if (rc < 0)
		page_result_free(out);
	return rc;
}

int extract_article(const struct source *src, const char *url, const char *body, size_t len,
		    const char *charset, struct raw_fields *f, char **err)
{
	xmlDocPtr doc = parse_doc(0, url, body, len, charset, err);
	if (!doc)
		return -1;
	xmlXPathContextPtr ctx = new_ctx(doc);
	if (!ctx) {
		xmlFreeDoc(doc);
		return errf(err, "out of memory for XPath");
	}
	char *base = doc_base(ctx, doc, url, 0);
	fill_fields(ctx, xmlDocGetRootElement(doc), &src->article, 0, base, NULL, 0, f);
	free(base);
	xmlXPathFreeContext(ctx);
	xmlFreeDoc(doc);
	return 0;
}

static int is_block(const xmlChar *name)
{
	static const char *const blocks[] = {"p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4",
					     "h5", "h6", "tr", "td", "th", "blockquote", "section",
					     "article", "header", "footer", "table", "pre", "hr"};
	for (size_t i = 0; i < ARRAY_LEN(blocks); i++)
		if (!xmlStrcasecmp(name, (const xmlChar *)blocks[i]))
			return 1;
	return 0;
}

static void collect_text(xmlNodePtr n, struct buf *b, int depth)
{
	if (depth > 200) /* a hostile fragment nested without end */
		return;
	for (; n; n = n->next) {
		if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
			if (n->content)
				buf_adds(b, (const char *)n->content);
		} else if (n->type == XML_ELEMENT_NODE) {
			if (!xmlStrcasecmp(n->name, (const xmlChar *)"script") ||
			    !xmlStrcasecmp(n->name, (const xmlChar *)"style"))
				continue;
			int block = is_block(n->name);
			if (block)
				buf_adds(b, " ");
			collect_text(n->children, b, depth + 1);
			if (block)
				buf_adds(b, " ");
		}
	}
}

char *extract_text(const char *html)
{
	struct buf b = {0};
	buf_adds(&b, "");
	size_t len = strlen(html);
	if (len > 0 && len < (size_t)INT32_MAX) {
		htmlDocPtr doc = read_html(html, len, NULL, "UTF-8",
					   HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
						   HTML_PARSE_NONET);
		if (doc) {
			collect_text(doc->children, &b, 0);
			xmlFreeDoc(doc);
		}
	}
	str_collapse_ws(b.data);
	cap_field(b.data, FIELD_MAX);
	return b.data;
}

void raw_fields_free(struct raw_fields *f)
{
	for (int i = 0; i < FIELD_COUNT; i++) {
		free(f->v[i]);
		f->v[i] = NULL;
	}
}

void page_result_free(struct page_result *r)
{
	for (size_t i = 0; i < r->nitems; i++) {
		free(r->items[i].link);
		raw_fields_free(&r->items[i].f);
	}
	free(r->items);
	free(r->next);
	for (int i = 0; i <= FIELD_COUNT; i++)
		free(r->missed_defaults[i]);
	memset(r, 0, sizeof *r);
}
