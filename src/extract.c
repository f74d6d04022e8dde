/* extract: articles out of HTML pages, RSS and Atom feeds (libxml2, XPath). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/parser.h>
#include <libxml/hash.h>
#include <libxml/xmlerror.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

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
};

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

static int is_feed(const struct source *src) { return src->type != SOURCE_HTML; }

static const char *xml_error_text(void)
{
	const xmlError *e = xmlGetLastError();
	return e && e->message ? e->message : "not well-formed";
}

/* Parse BODY as HTML (recovering) or XML (strict); NULL with *ERR set. */
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
	xmlResetLastError();
	xmlDocPtr doc;
	if (feed) {
		int opts = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;
		doc = xmlReadMemory(body, (int)len, url, charset, opts);
		if (!doc && charset) /* an unknown charset name: let the XML declaration decide */
			doc = xmlReadMemory(body, (int)len, url, NULL, opts);
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
		char *sniffed = charset ? NULL : sniff_charset(body, len);
		const char *enc = charset ? charset : sniffed;
		doc = htmlReadMemory(body, (int)len, url, enc, opts);
		if (!doc && enc)
			doc = htmlReadMemory(body, (int)len, url, NULL, opts);
		free(sniffed);
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

/* Fill the NULL fields of F from SELS evaluated at NODE. A feed's summary
 * is HTML in text; an image URL is made absolute. */
static void fill_fields(xmlXPathContextPtr ctx, xmlNodePtr node, const struct fields *sels, int feed,
			const char *base, struct raw_fields *f)
{
	for (int i = 0; i < FIELD_COUNT; i++) {
		char **slot = &f->v[i];
		if (*slot)
			continue;
		int html = i == FIELD_SUMMARY;
		char *v = eval_string(ctx, node, sels->v[i], html ? HTML_FIELD_MAX : FIELD_MAX);
		if (v && html && (feed || strchr(v, '<'))) {
			char *t = extract_text(v);
			free(v);
			v = *t ? t : (free(t), NULL);
		} else if (v && html) {
			cap_field(v, FIELD_MAX);
		}
		if (v && i == FIELD_IMAGE) {
			char *abs = url_resolve(base, v);
			free(v);
			v = abs;
		}
		*slot = v;
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
	ctx->node = xmlDocGetRootElement(doc);
	items = xmlXPathEvalExpression((const xmlChar *)src->item, ctx);
	if (!items || items->type != XPATH_NODESET) {
		errf(err, "item selector %s does not select nodes", src->item);
		goto out;
	}
	int n = items->nodesetval ? items->nodesetval->nodeNr : 0;
	if (n == 0) {
		errf(err, "item selector %s matched nothing", src->item);
		goto out;
	}
	out->items = xcalloc((size_t)n, sizeof *out->items);
	for (int i = 0; i < n; i++) {
		xmlNodePtr node = items->nodesetval->nodeTab[i];
		char *href = eval_string(ctx, node, src->link, FIELD_MAX);
		char *abs = href ? url_resolve(base, href) : NULL;
		free(href);
		if (!abs)
			continue;
		struct raw_item *it = &out->items[out->nitems++];
		it->link = abs;
		fill_fields(ctx, node, &src->list, feed, base, &it->f);
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
	fill_fields(ctx, xmlDocGetRootElement(doc), &src->article, 0, base, f);
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
		htmlDocPtr doc = htmlReadMemory(html, (int)len, NULL, "UTF-8",
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
	memset(r, 0, sizeof *r);
}
