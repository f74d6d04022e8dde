/* config_table: every key of digest.conf, once: its type, where it goes,
 * its default, its range or choices, what it means; and the hooks of the
 * keys whose checks are their own (time zones, URLs, sources, DKIM). The
 * documentation's key tables are generated from here (`make docs`). */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config_internal.h"
#include "digest/http.h"
#include "digest/log.h"
#include "digest/parse.h"
#include "digest/url.h"
#include "digest/util.h"
#include "digest/version.h"

#define CFG(member) offsetof(struct config, member)
#define SRC(member) offsetof(struct source, member)
#define KEY(member) offsetof(struct dkim_key_config, member)

const char *const field_names[FIELD_COUNT + 1] = {"title", "published", "views", "comments",
						   "rating", "summary", "image", NULL};

/* ---- choices ---- */

static const struct conf_choice securities[] = {
	{"none", SECURITY_NONE}, {"starttls", SECURITY_STARTTLS}, {"tls", SECURITY_TLS}, {NULL, 0}};
static const struct conf_choice transports[] = {{"smtp", TRANSPORT_SMTP}, {"maildir", TRANSPORT_MAILDIR}, {NULL, 0}};
static const struct conf_choice syncs[] = {{"full", JOURNAL_SYNC_FULL}, {"normal", JOURNAL_SYNC_NORMAL}, {NULL, 0}};
static const struct conf_choice protocols[] = {{"imap", INBOUND_IMAP}, {"pop3", INBOUND_POP3}, {NULL, 0}};
static const struct conf_choice locales[] = {{"en", LOCALE_EN}, {"ru", LOCALE_RU}, {NULL, 0}};
static const struct conf_choice private_modes[] = {
	{"auto", PRIVATE_AUTO}, {"allow", PRIVATE_ALLOW}, {"deny", PRIVATE_DENY}, {NULL, 0}};
static const struct conf_choice source_types[] = {
	{"html", SOURCE_HTML}, {"rss", SOURCE_RSS}, {"atom", SOURCE_ATOM}, {"feed", SOURCE_FEED}, {NULL, 0}};
static const struct conf_choice date_orders[] = {{"dmy", PARSE_DMY}, {"mdy", PARSE_MDY}, {NULL, 0}};

/* ---- hooks ---- */

/* Report a problem about GROUP's member NAME (or GROUP when not set). */
__attribute__((format(printf, 5, 6))) static void member_problem(struct conf_loader *ld,
								  const config_setting_t *group,
								  const char *prefix, const char *name,
								  const char *fmt, ...)
{
	char *msg, *k = conf_key_path(prefix, name);
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	const config_setting_t *s = conf_member(group, name);
	conf_problem(ld, s ? s : group, k, "%s", msg ? msg : fmt);
	free(msg);
	free(k);
}

static int zone_exists(const char *tz)
{
	if (!strcmp(tz, "UTC") || !strcmp(tz, "GMT"))
		return 1;
	if (tz[0] == '/' || strstr(tz, ".."))
		return 0;
	for (const char *p = tz; *p; p++)
		if (!isalnum((unsigned char)*p) && !strchr("/_+-", *p))
			return 0;
	const char *dir = getenv("TZDIR");
	char *path = xasprintf("%s/%s", dir && *dir ? dir : "/usr/share/zoneinfo", tz);
	/* a zone is a TZif file: "Europe" or "posix" are directories, and
	 * glibc would quietly run a name it cannot read as UTC */
	char magic[4] = {0};
	FILE *f = fopen(path, "rb");
	int ok = f && fread(magic, 1, 4, f) == 4 && !memcmp(magic, "TZif", 4);
	if (f)
		fclose(f);
	free(path);
	return ok;
}

static void check_timezone(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	const char *tz = ((struct config *)base)->newsletter.timezone;
	if (!zone_exists(tz))
		member_problem(ld, g, prefix, "timezone", "unknown time zone \"%s\" (expected a name like Europe/Moscow)",
			       tz);
}

static void check_base_url(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	const char *u = ((struct config *)base)->newsletter.base_url;
	if (strncmp(u, "http://", 7) && strncmp(u, "https://", 8))
		member_problem(ld, g, prefix, "base_url", "expected an http or https URL");
	/* Links are made of it and a token, and must fit in a header line. */
	else if (strlen(u) > 512 || strpbrk(u, " \t\r\n\"<>"))
		member_problem(ld, g, prefix, "base_url",
			       "expected a URL of at most 512 characters without spaces, quotes or <>");
}

static void check_feedback_id(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	const char *id = ((struct config *)base)->newsletter.feedback_id;
	for (const char *c = id ? id : ""; *c; c++)
		if (*c <= ' ' || *c >= 0x7f || *c == ':') {
			member_problem(ld, g, prefix, "feedback_id",
				       "\"%s\": printable ASCII without spaces or colons (Gmail's sender id)", id);
			break;
		}
}

static void check_listen(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	char *host = NULL, *why = NULL;
	int port;
	if (listen_parse(((struct config *)base)->http.listen, &host, &port, &why) < 0)
		member_problem(ld, g, prefix, "listen", "%s", why);
	free(host);
	free(why);
}

static void templates_done(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	(void)ld, (void)prefix;
	((struct config *)base)->templates.dir_set = conf_member(g, "dir") != NULL;
}

/* The SMTP port follows security unless set. */
static void smtp_done(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	(void)ld, (void)g, (void)prefix;
	struct smtp_config *sm = &((struct config *)base)->delivery.smtp;
	if (sm->port == 0)
		sm->port = sm->security == SECURITY_TLS ? 465 : sm->security == SECURITY_STARTTLS ? 587 : 25;
}

/* The mailbox's port follows protocol and security unless set. */
static void inbound_done(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	(void)ld, (void)prefix;
	struct inbound_config *in = &((struct config *)base)->inbound;
	in->set = g != NULL;
	if (in->port == 0) {
		bool tls = in->security == SECURITY_TLS;
		in->port = in->protocol == INBOUND_IMAP ? (tls ? 993 : 143) : (tls ? 995 : 110);
	}
}

static int has_scheme(const char *url)
{
	if (!isalpha((unsigned char)url[0]))
		return 0;
	const char *p = url + 1;
	while (isalnum((unsigned char)*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	return *p == ':';
}

/* Turn a source URL into an absolute http, https or file URL: a value
 * without a scheme is a path relative to the config file's directory. */
static char *source_url(struct conf_loader *ld, const config_setting_t *s, const char *key, const char *v)
{
	if (!has_scheme(v)) {
		char *path = path_resolve(ld->cfg->dir, v);
		char *abs = NULL;
		if (path[0] != '/') {
			char *cwd = getcwd(NULL, 0);
			abs = xasprintf("%s/%s", cwd ? cwd : ".", path);
			free(cwd);
			free(path);
		} else {
			abs = path;
		}
		char *url = url_from_path(abs);
		free(abs);
		if (!url)
			conf_problem(ld, s, key, "out of memory");
		return url;
	}
	if (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8) && strncasecmp(v, "file://", 7)) {
		conf_problem(ld, s, key, "expected an http, https or file URL, got \"%s\"", v);
		return NULL;
	}
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p <= ' ' || *p == 0x7f) {
			conf_problem(ld, s, key, "URL contains a space or control character");
			return NULL;
		}
	}
	return xstrdup(v);
}

static void source_url_hook(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	struct source *src = base;
	const config_setting_t *s = conf_member(g, "url");
	char *k = conf_key_path(prefix, "url");
	if (src->url) {
		char *v = src->url;
		src->url = source_url(ld, s, k, v);
		free(v);
	} else if (!s) {
		conf_problem(ld, g, k, "a source needs a url");
	}
	free(k);
}

static void source_language(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	struct source *src = base;
	if (src->language && !parse_language_known(src->language))
		member_problem(ld, g, prefix, "language", "unknown language \"%s\" (known: %s)", src->language,
			       parse_languages());
}

/* Selectors a feed source gets unless it sets its own. */
static void feed_defaults(struct source *src)
{
	const char *rss[] = {"//item", "link", "title", "(pubDate | dc:date)[1]", NULL, "slash:comments",
			     NULL, "description",
			     "(enclosure[starts-with(@type, 'image')]/@url | media:content/@url | media:thumbnail/@url)[1]"};
	const char *atom[] = {"//atom:entry",
			      "(atom:link[not(@rel) or @rel = 'alternate']/@href)[1]",
			      "atom:title",
			      "(atom:published | atom:updated)[1]",
			      NULL,
			      "slash:comments",
			      NULL,
			      "(atom:summary | atom:content)[1]",
			      "(media:thumbnail/@url | atom:link[@rel = 'enclosure'][starts-with(@type, 'image')]/@href)[1]"};
	const char **d = src->type == SOURCE_ATOM ? atom : rss;
	/* The strings are what a reader of the configuration sees; the bits
	 * let extract_list read RSS 0.9x-2.0, RSS 1.0 and Atom 0.3/1.0 alike,
	 * by the root element, wherever digest.conf sets no selector. */
	if (!src->item) {
		src->item = xstrdup(d[0]);
		src->defaults |= SOURCE_DEFAULT_ITEM;
	}
	if (!src->link) {
		src->link = xstrdup(d[1]);
		src->defaults |= SOURCE_DEFAULT_LINK;
	}
	for (int i = 0; i < FIELD_COUNT; i++)
		if (!src->list.v[i]) {
			src->defaults |= SOURCE_DEFAULT_FIELD(i);
			if (d[2 + i])
				src->list.v[i] = xstrdup(d[2 + i]);
		}
}

/* A source's selectors by its type, and what its keys say together. */
static void source_done(struct conf_loader *ld, const config_setting_t *s, const char *prefix, void *base)
{
	struct source *src = base;
	if (src->type != SOURCE_HTML) {
		feed_defaults(src);
	} else {
		if (!src->item && !conf_member(s, "item"))
			conf_problem(ld, s, prefix, "an html source needs an item selector");
		/* Without selectors, an item's first link is the article and the
		 * first link with text the title (unless the article page is to
		 * give the title). */
		static const char first_link[] = "(descendant-or-self::a[@href])[1]";
		if (!src->link && !conf_member(s, "link"))
			src->link = xasprintf("%s/@href", first_link);
		if (!src->list.title && !src->article.title && !conf_member(s, "title"))
			src->list.title = xstrdup("(descendant-or-self::a[@href][normalize-space()])[1]");
	}
	/* Setting `next` asks for pagination: read up to 10 pages unless told. */
	if (src->next && !conf_member(s, "max_pages"))
		src->max_pages = 10;
	const config_setting_t *art = conf_member(s, "article");
	if (src->follow && !(art && config_setting_is_group(art)))
		log_warn("%s:%d: %s.follow: no article { ... } selectors, nothing to follow", ld->file,
			 conf_line_of(conf_member(s, "follow")), prefix);
}

/* Allocate the elements of list KEY of BASE for LIST's members; their
 * count, or -1 when LIST is not a list. */
static int list_alloc(struct conf_loader *ld, const config_setting_t *list, const char *key, const char *shape,
		      const struct conf_table *t, void **elems, void *base)
{
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		conf_problem(ld, list, key, "expected a list ( %s, ... ), got %s", shape,
			     conf_type_name(config_setting_type(list)));
		return -1;
	}
	int n = config_setting_length(list);
	*elems = xcalloc((size_t)n + 1, t->elem_size);
	*(int *)((char *)base + t->count_at) = n;
	return n;
}

static const struct conf_table source_table, dkim_key_table;

static void load_sources(struct conf_loader *ld, const config_setting_t *root, const char *prefix, void *base)
{
	(void)prefix;
	struct config *cfg = base;
	const config_setting_t *list = conf_member(root, "sources");
	if (!list) {
		log_warn("%s:1: sources: none configured, nothing to collect", ld->file);
		return;
	}
	void *elems;
	if (list_alloc(ld, list, "sources", "{ ... }", &source_table, &elems, cfg) < 0)
		return;
	cfg->sources = elems;
	for (int i = 0; i < cfg->nsources; i++) {
		const config_setting_t *s = config_setting_get_elem(list, (unsigned)i);
		struct source *src = &cfg->sources[i];
		conf_defaults(&source_table, src, cfg->dir);
		char *p = NULL;
		if (!config_setting_is_group(s)) {
			p = xasprintf("sources.[%d]", i);
			conf_problem(ld, s, p, "expected a group { ... }, got %s", conf_type_name(config_setting_type(s)));
			free(p);
			continue;
		}
		/* messages name a source by its name once it has one */
		const config_setting_t *name = conf_member(s, "name");
		const char *n = name && config_setting_type(name) == CONFIG_TYPE_STRING ? config_setting_get_string(name)
											: NULL;
		p = n && *n ? xasprintf("sources.%s", n) : xasprintf("sources.[%d]", i);
		conf_read(ld, &source_table, s, p, src);
		free(p);
		for (int j = 0; j < i; j++)
			if (src->name && cfg->sources[j].name && !strcmp(src->name, cfg->sources[j].name))
				conf_problem(ld, s, "sources", "two sources are named \"%s\"", src->name);
	}
}

static void source_name(struct conf_loader *ld, const config_setting_t *s, const char *prefix, void *base)
{
	if (!((struct source *)base)->name)
		conf_problem(ld, s, prefix, "a source needs a name");
}

static bool is_dns_name(const char *s, const char *extra)
{
	for (const char *c = s; *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr(extra, *c))
			return false;
	return true;
}

/* dkim = { domain; keys = ( { selector; key_file; }, ... ); }: a domain
 * and at least one key, or no block at all. The keys themselves are read
 * by dkim_load (dkim.c), which names this file and line when one is bad. */
static void dkim_done(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	struct config *cfg = base;
	if (!g)
		return;
	cfg->dkim.line = conf_line_of(g);
	if (!cfg->dkim.domain && !conf_member(g, "domain"))
		conf_problem(ld, g, "dkim.domain", "a dkim block needs the domain that signs (d=)");
	if (cfg->dkim.domain && !is_dns_name(cfg->dkim.domain, "-."))
		member_problem(ld, g, prefix, "domain", "\"%s\" is not a domain name in ASCII (give an IDN in A-label form)",
			       cfg->dkim.domain);
}

static void load_dkim_keys(struct conf_loader *ld, const config_setting_t *g, const char *prefix, void *base)
{
	(void)prefix;
	struct config *cfg = base;
	if (!g)
		return;
	const config_setting_t *list = conf_member(g, "keys");
	if (!list) {
		conf_problem(ld, g, "dkim.keys", "a dkim block needs at least one key");
		return;
	}
	void *elems;
	int n = list_alloc(ld, list, "dkim.keys", "{ selector; key_file; }", &dkim_key_table, &elems, cfg);
	if (n < 0)
		return;
	cfg->dkim.keys = elems;
	if (n == 0)
		conf_problem(ld, list, "dkim.keys", "a dkim block needs at least one key");
	for (int i = 0; i < n; i++) {
		const config_setting_t *k = config_setting_get_elem(list, (unsigned)i);
		struct dkim_key_config *kc = &cfg->dkim.keys[i];
		char *p = xasprintf("dkim.keys.[%d]", i);
		kc->line = conf_line_of(k);
		if (!config_setting_is_group(k))
			conf_problem(ld, k, p, "expected a group { selector; key_file; }, got %s",
				     conf_type_name(config_setting_type(k)));
		else
			conf_read(ld, &dkim_key_table, k, p, kc);
		for (int j = 0; j < i; j++)
			if (kc->selector && cfg->dkim.keys[j].selector && !strcmp(kc->selector, cfg->dkim.keys[j].selector))
				conf_problem(ld, k, p, "two keys have the selector \"%s\"", kc->selector);
		free(p);
	}
}

static void dkim_key_done(struct conf_loader *ld, const config_setting_t *k, const char *prefix, void *base)
{
	struct dkim_key_config *kc = base;
	if (!kc->selector && !conf_member(k, "selector"))
		conf_problem(ld, k, prefix, "a key needs a selector");
	if (!kc->key_file && !conf_member(k, "key_file"))
		conf_problem(ld, k, prefix, "a key needs a key_file");
	if (kc->selector && !is_dns_name(kc->selector, "-._"))
		conf_problem(ld, conf_member(k, "selector"), prefix, "selector \"%s\" is not a DNS label", kc->selector);
}

/* ---- the keys ---- */

static const struct conf_key newsletter_keys[] = {
	{"name", CONF_STRING, CFG(newsletter.name), .def = "Daily digest",
	 .doc = "The newsletter's name, in subjects, pages and the From of confirmation mails."},
	{"from", CONF_STRING, CFG(newsletter.from), .def = "digest@localhost", .at = CFG(at.from),
	 .doc = "The From address, with or without a display name: `VPK Daily <digest@example.org>`."},
	{"reply_to", CONF_STRING, CFG(newsletter.reply_to), .doc = "A Reply-To address."},
	{"base_url", CONF_STRING, CFG(newsletter.base_url), .def = "http://127.0.0.1:8080", .at = CFG(at.base_url),
	 .hook = check_base_url,
	 .doc = "The public URL of `digest serve`, from which the links in mails are made: an http or https URL of "
		"at most 512 characters without spaces, quotes or angle brackets."},
	{"list_id", CONF_STRING, CFG(newsletter.list_id), .def = "digest.localhost", .at = CFG(at.list_id),
	 .doc = "The List-Id."},
	{"subject", CONF_STRING, CFG(newsletter.subject), .def = "{{newsletter.name}} — {{date}}: {{#top}}{{title}}{{/top}}",
	 .at = CFG(newsletter.subject_line), .doc = "The subject, a template."},
	{"timezone", CONF_STRING, CFG(newsletter.timezone), .def = "UTC", .hook = check_timezone,
	 .doc = "A zone of the tz database (`Europe/Moscow`): edition dates, dates without an offset, and output."},
	{"locale", CONF_ENUM, CFG(newsletter.locale), .def = "en", .choices = locales,
	 .doc = "Month names, number format, the default templates' words."},
	{"secret_file", CONF_PATH, CFG(newsletter.secret_file), .def = "var/secret", .at = CFG(at.secret_file),
	 .doc = "The HMAC key of the links in mails, created 0600 when missing. Replacing it invalidates every "
		"link ever sent."},
	{"feedback_id", CONF_STRING, CFG(newsletter.feedback_id), .def_doc = "the From domain",
	 .flags = CONF_EMPTY_OK, .hook = check_feedback_id,
	 .doc = "The sender id of the Feedback-ID header (Gmail's feedback loop): printable ASCII without spaces "
		"or colons; `\"\"` means no Feedback-ID."},
	{.name = NULL},
};

static const struct conf_key digest_keys[] = {
	{"max_articles", CONF_INT, CFG(digest.max_articles), .def = "10", .min = 1, .max = 1000,
	 .doc = "Articles in an edition."},
	{"min_views", CONF_INT64, CFG(digest.min_views), .def = "0", .min = 0, .max = 1e12,
	 .doc = "Articles with fewer views stay out."},
	{"window_hours", CONF_INT, CFG(digest.window_hours), .def = "24", .min = 1, .max = 24 * 366,
	 .doc = "How long before the cut-off an article may have been published."},
	{"send_empty", CONF_BOOL, CFG(digest.send_empty), .def = "false", .doc = "Send an edition with no article."},
	{"summary_chars", CONF_INT, CFG(digest.summary_chars), .def = "280", .min = 0, .max = 100000,
	 .doc = "Summaries are cut to this many characters, at a word."},
	{.name = NULL},
};

static const struct conf_key field_keys[] = {
	{"title", CONF_XPATH, SRC(article.title), .doc = "The title, when the listing gives none."},
	{"published", CONF_XPATH, SRC(article.published),
	 .doc = "The date, when the listing gives none or one that does not read."},
	{"views", CONF_XPATH, SRC(article.views), .doc = "The view count."},
	{"comments", CONF_XPATH, SRC(article.comments), .doc = "The comment count."},
	{"rating", CONF_XPATH, SRC(article.rating), .doc = "The rating."},
	{"summary", CONF_XPATH, SRC(article.summary), .doc = "The summary."},
	{"image", CONF_XPATH, SRC(article.image), .doc = "The image's URL."},
	{.name = NULL},
};
static const struct conf_table article_table = {.keys = field_keys};

static const struct conf_key source_keys[] = {
	{"name", CONF_STRING, SRC(name), .def_doc = "required, unique", .hook = source_name,
	 .doc = "Named in errors and stored with each article."},
	{"type", CONF_ENUM, SRC(type), .def = "html", .choices = source_types,
	 .doc = "`html`, or `feed` (`rss`, `atom`: the same; any of them reads RSS 0.9x to 2.0, RSS 1.0 and Atom "
		"0.3 and 1.0), whose selectors default to the feed's own elements."},
	{"url", CONF_STRING, SRC(url), .def_doc = "required", .hook = source_url_hook,
	 .doc = "An http, https or file URL, or a path relative to the configuration."},
	{"item", CONF_XPATH, SRC(item), .def_doc = "required for html",
	 .doc = "Selects one node per article; the field selectors below are relative to it."},
	{"link", CONF_XPATH, SRC(link), .def_doc = "the item's first `<a href>`",
	 .doc = "The article's URL, resolved against the page URL (or `<base href>`)."},
	{"title", CONF_XPATH, SRC(list.title), .def_doc = "the text of the item's first link with text, unless "
							   "`article.title` is set",
	 .doc = "The title."},
	{"published", CONF_XPATH, SRC(list.published), .def_doc = "none (feeds: their date)",
	 .doc = "The date: ISO 8601, RFC 2822, numeric and spelled-out forms in a dozen languages, relative forms "
		"(`35 минут назад`, `yesterday 09:25`)."},
	{"views", CONF_XPATH, SRC(list.views),
	 .doc = "The view count: `2212`, `2 212`, `2.2K`, `12,5 тыс.`"},
	{"comments", CONF_XPATH, SRC(list.comments), .def_doc = "none (feeds: `slash:comments`)",
	 .doc = "The comment count."},
	{"rating", CONF_XPATH, SRC(list.rating), .doc = "The rating."},
	{"summary", CONF_XPATH, SRC(list.summary), .def_doc = "none (feeds: their description)",
	 .doc = "The summary, cut to `digest.summary_chars`."},
	{"image", CONF_XPATH, SRC(list.image), .def_doc = "none (feeds: their image enclosure)",
	 .doc = "The image's URL."},
	{"next", CONF_XPATH, SRC(next), .doc = "The next listing page's URL."},
	{"max_pages", CONF_INT, SRC(max_pages), .def = "1", .def_doc = "`10` with `next`, else `1`", .min = 1,
	 .max = 1000, .doc = "Listing pages read following `next`."},
	{"follow", CONF_BOOL, SRC(follow), .def = "false",
	 .doc = "Open article pages for the fields still missing, with the `article` selectors."},
	{"max_follow", CONF_INT, SRC(max_follow), .def = "300", .min = 0, .max = 100000,
	 .doc = "Article pages opened per run, at most (a warning says when more were wanted)."},
	{"article", CONF_GROUP, 0, .sub = &article_table,
	 .doc = "XPath selectors evaluated on the article page, as `follow` opens it."},
	{"date_format", CONF_STRING, SRC(date_format),
	 .doc = "A `strptime` format tried first over the whole date; then the built-in forms; then the format over "
		"the date's start, up to where a word ends (`%d.%m.%Y` reads `21.11.2026 Политика`). `%B`, `%b`, "
		"`%h` (months) and `%A`, `%a` (weekdays) match the names of the source's `language` from digest's "
		"own tables, never the C library's locale."},
	{"language", CONF_STRING, SRC(language), .def_doc = "`\"en\"`", .hook = source_language,
	 .doc = "The language of `date_format`'s month and weekday names: `en`, `ru`, `de`, `fr`, `es`, `it`, "
		"`pt`, `nl`, `pl`, `cs`, `uk` or `ca` (`date_format = \"%d. %B %Y\"; language = \"de\";` reads "
		"`19. Oktober 2019`); the built-in date forms read every one of them whatever it says."},
	{"date_order", CONF_ENUM, SRC(date_order), .def = "dmy", .choices = date_orders,
	 .doc = "How `03/04/2020` (with `/` or `-`) reads; a part above 12 is the day either way."},
	{.name = NULL},
};
static const struct conf_table source_table = {
	.section = "SOURCES",
	.keys = source_keys,
	.finish = source_done,
	.elem_size = sizeof(struct source),
	.count_at = CFG(nsources),
	.what = "A source",
};

static const struct conf_key templates_keys[] = {
	{"dir", CONF_PATH, CFG(templates.dir), .def = "templates", .at = CFG(at.templates_dir),
	 .doc = "The templates' directory: `digest.txt`, `digest.html`, `confirm.txt`, `confirm.html`, "
		"`page.html`, `edition.html`, `archive.html`. A file the directory lacks is the built-in one; when "
		"the key is not set and there is no `templates` directory beside the configuration, every template "
		"is built in. A directory named but missing is an error."},
	{.name = NULL},
};

static const struct conf_key smtp_keys[] = {
	{"host", CONF_STRING, CFG(delivery.smtp.host), .def = "127.0.0.1", .doc = "The SMTP server."},
	{"port", CONF_INT, CFG(delivery.smtp.port), .def_doc = "25, 587 or 465 by `security`", .min = 1,
	 .max = 65535, .doc = "The SMTP server's port."},
	{"security", CONF_ENUM, CFG(delivery.smtp.security), .def = "starttls", .choices = securities,
	 .doc = "`tls` is implicit TLS; AUTH is never sent unencrypted to a host other than loopback."},
	{"username", CONF_STRING, CFG(delivery.smtp.username),
	 .doc = "The AUTH user; the password from `password_file` or `$DIGEST_SMTP_PASSWORD`."},
	{"password_file", CONF_PATH, CFG(delivery.smtp.password_file), .at = CFG(at.password_file),
	 .doc = "A file holding the SMTP password."},
	{"helo", CONF_STRING, CFG(delivery.smtp.helo), .def_doc = "the host name", .at = CFG(at.helo),
	 .doc = "The EHLO name."},
	{"timeout", CONF_INT, CFG(delivery.smtp.timeout), .def = "30", .min = 1, .max = 3600,
	 .doc = "Seconds for connecting, the TLS handshake, each whole reply, and a write without progress."},
	{"data_timeout", CONF_INT, CFG(delivery.smtp.data_timeout), .def = "600", .min = 1, .max = 3600,
	 .doc = "Seconds for the reply to the final dot (RFC 5321 4.5.3.2.6)."},
	{"connections", CONF_INT, CFG(delivery.smtp.connections), .def = "4", .min = 1, .max = 64,
	 .doc = "Parallel connections."},
	{"max_per_connection", CONF_INT, CFG(delivery.smtp.max_per_connection), .def = "1000", .min = 1,
	 .max = 1000000, .doc = "Messages per connection."},
	{"rate_per_second", CONF_INT, CFG(delivery.smtp.rate_per_second), .def = "0", .min = 0, .max = 1000000,
	 .doc = "Messages per second, overall; 0: unlimited."},
	{"retries", CONF_INT, CFG(delivery.smtp.retries), .def = "3", .min = 0, .max = 100,
	 .doc = "Retries of a deferred delivery within a run."},
	{"retry_delay", CONF_SECONDS, CFG(delivery.smtp.retry_delay), .def = "1", .min = 0, .max = 3600,
	 .doc = "Before the first retry; doubled for each next."},
	{"max_bounces", CONF_INT, CFG(delivery.smtp.max_bounces), .def = "3", .min = 1, .max = 1000,
	 .doc = "Consecutive permanent failures before a subscriber is `bouncing`."},
	{"tls_verify", CONF_BOOL, CFG(delivery.smtp.tls_verify), .def = "true",
	 .doc = "Verify the server's certificate; `false` is for testing only."},
	{"ca_file", CONF_PATH, CFG(delivery.smtp.ca_file), .def_doc = "the system's CAs",
	 .doc = "A PEM file of the CAs to trust instead."},
	{"envelope_from", CONF_STRING, CFG(delivery.smtp.envelope_from), .def_doc = "`newsletter.from`'s address",
	 .doc = "The MAIL FROM address, made personal by VERP."},
	{.name = NULL},
};
static const struct conf_table smtp_table = {.keys = smtp_keys, .finish = smtp_done};

static const struct conf_key delivery_keys[] = {
	{"transport", CONF_ENUM, CFG(delivery.transport), .def = "smtp", .choices = transports,
	 .doc = "How messages leave: through `delivery.smtp`, or into the Maildir `delivery.maildir`."},
	{"maildir", CONF_PATH, CFG(delivery.maildir), .def = "var/outbox", .doc = "The Maildir of the maildir transport."},
	{"bounce_address", CONF_STRING, CFG(delivery.bounce_address), .def_doc = "the envelope sender",
	 .doc = "Where bounces go: `LOCAL@DOMAIN` becomes `LOCAL+b-TOKEN@DOMAIN` per message (LOCAL at most 32 "
		"characters)."},
	{"journal_sync", CONF_ENUM, CFG(delivery.journal_sync), .def = "full", .choices = syncs,
	 .doc = "`full`: each of the journal's commits is on the disk (fsync) before a connection hands over its "
		"next message; `normal`: it is handed to the operating system only (SQLite's `synchronous = "
		"NORMAL`), so that a crash or `kill -9` of digest still repeats at most one message per connection, "
		"but a power cut or an operating system crash may repeat the messages of the last commits."},
	{"smtp", CONF_GROUP, 0, .sub = &smtp_table, .doc = "The SMTP transport."},
	{.name = NULL},
};

static const struct conf_key storage_keys[] = {
	{"database", CONF_PATH, CFG(storage.database), .def = "var/digest.db",
	 .doc = "The SQLite database (WAL), created 0600 in a directory created 0700."},
	{.name = NULL},
};

static const struct conf_key http_keys[] = {
	{"listen", CONF_STRING, CFG(http.listen), .def = "127.0.0.1:8080", .hook = check_listen,
	 .doc = "Where `digest serve` listens: `HOST:PORT`, `[V6]:PORT`, or `:PORT` (every address, IPv6 and "
		"IPv4)."},
	{"behind_proxy", CONF_BOOL, CFG(http.behind_proxy), .def = "false",
	 .doc = "Take the client of a loopback peer from X-Forwarded-For, for the rate limits."},
	{.name = NULL},
};

static const struct conf_key fetch_keys[] = {
	{"timeout", CONF_INT, CFG(fetch.timeout), .def = "30", .min = 1, .max = 3600,
	 .doc = "Seconds for one whole transfer."},
	{"connect_timeout", CONF_INT, CFG(fetch.connect_timeout), .def = "10", .min = 1, .max = 600,
	 .doc = "Seconds to connect."},
	{"deadline", CONF_INT, CFG(fetch.deadline), .def = "600", .min = 0, .max = 86400,
	 .doc = "Seconds for all the fetching of one run (0: none); what is not fetched by then is reported and "
		"skipped, what was fetched is stored."},
	{"max_body", CONF_INT64, CFG(fetch.max_body), .def = "5242880", .min = 1024, .max = 1 << 30,
	 .doc = "Bytes; a larger page is an error for its source."},
	{"parallel", CONF_INT, CFG(fetch.parallel), .def = "16", .min = 1, .max = 256, .doc = "Transfers at once."},
	{"per_host", CONF_INT, CFG(fetch.per_host), .def = "8", .min = 1, .max = 64,
	 .doc = "Connections per host (a browser opens 6)."},
	{"user_agent", CONF_STRING, CFG(fetch.user_agent), .def = "digest/" DIGEST_VERSION " (daily email digest)",
	 .def_doc = "`\"digest/VERSION (daily email digest)\"`", .doc = "The User-Agent of every request."},
	{"tls_verify", CONF_BOOL, CFG(fetch.tls_verify), .def = "true", .doc = "Verify servers' certificates."},
	{"private_addresses", CONF_ENUM, CFG(fetch.private_addresses), .def = "auto", .choices = private_modes,
	 .doc = "Where links found on pages may lead: `auto`, to private and loopback addresses only for a source "
		"served from one; `allow`, anywhere; `deny`, never there."},
	{.name = NULL},
};

static const struct conf_key inbound_keys[] = {
	{"protocol", CONF_ENUM, CFG(inbound.protocol), .def = "imap", .choices = protocols,
	 .doc = "How `digest inbound --fetch` reads the bounce mailbox."},
	{"host", CONF_STRING, CFG(inbound.host), .def_doc = "none (`--fetch` needs it)",
	 .doc = "The bounce mailbox's server."},
	{"port", CONF_INT, CFG(inbound.port), .def_doc = "993, 143, 995 or 110 by `protocol` and `security`",
	 .min = 1, .max = 65535, .doc = "The mailbox server's port."},
	{"security", CONF_ENUM, CFG(inbound.security), .def = "tls", .choices = securities,
	 .doc = "`none` is for a loopback server only."},
	{"username", CONF_STRING, CFG(inbound.username), .doc = "The login name."},
	{"password_file", CONF_PATH, CFG(inbound.password_file),
	 .doc = "The password, else `$DIGEST_INBOUND_PASSWORD`."},
	{"folder", CONF_STRING, CFG(inbound.folder), .def = "INBOX", .doc = "The IMAP folder read."},
	{"processed_folder", CONF_STRING, CFG(inbound.processed_folder), .def = "digest-processed",
	 .flags = CONF_EMPTY_OK,
	 .doc = "The IMAP folder recognised mail moves to (created when missing); `\"\"` flags it deleted instead."},
	{"tls_verify", CONF_BOOL, CFG(inbound.tls_verify), .def = "true", .doc = "Verify the server's certificate."},
	{"ca_file", CONF_PATH, CFG(inbound.ca_file), .def_doc = "the system's CAs",
	 .doc = "A PEM file of the CAs to trust instead."},
	{"timeout", CONF_INT, CFG(inbound.timeout), .def = "30", .min = 1, .max = 3600,
	 .doc = "Seconds for connecting and for each reply."},
	{"bounce_threshold", CONF_NUMBER, CFG(inbound.bounce_threshold), .def = "3.0", .min = 0.5, .max = 1000,
	 .doc = "The bounce score (hard 1, soft 0.5, one step a day at most) at which a reader becomes `bouncing`."},
	{"bounce_reset_days", CONF_INT, CFG(inbound.bounce_reset_days), .def = "14", .min = 1, .max = 3650,
	 .doc = "Days without a bounce after which the score starts again from 0."},
	{.name = NULL},
};

static const struct conf_key dkim_key_keys[] = {
	{"selector", CONF_STRING, KEY(selector), .def_doc = "required, unique",
	 .doc = "The key's name in DNS (`SELECTOR._domainkey.DOMAIN`): a DNS label."},
	{"key_file", CONF_PATH, KEY(key_file), .def_doc = "required",
	 .doc = "A PEM private key, RSA (rsa-sha256) or Ed25519 (ed25519-sha256), readable by the user digest runs "
		"as (see `digest dkim-keygen`)."},
	{.name = NULL},
};
static const struct conf_table dkim_key_table = {
	.section = "DKIM",
	.keys = dkim_key_keys,
	.finish = dkim_key_done,
	.elem_size = sizeof(struct dkim_key_config),
	.count_at = CFG(dkim.nkeys),
	.what = "A DKIM key",
};

static const struct conf_key dkim_keys[] = {
	{"domain", CONF_STRING, CFG(dkim.domain), .def_doc = "required in a `dkim` block", .at = CFG(at.dkim_domain),
	 .doc = "The signing domain (`d=`), in ASCII (an IDN in A-label form); a `dkim` block signs every message."},
	{"keys", CONF_LIST, CFG(dkim.keys), .def_doc = "required in a `dkim` block, at least one",
	 .sub = &dkim_key_table, .hook = load_dkim_keys, .doc = "One DKIM-Signature per key."},
	{.name = NULL},
};

static const struct conf_table newsletter_table = {"NEWSLETTER", newsletter_keys, NULL, 0, 0, NULL};
static const struct conf_table digest_table = {"EDITION", digest_keys, NULL, 0, 0, NULL};
static const struct conf_table templates_table = {"TEMPLATES", templates_keys, templates_done, 0, 0, NULL};
static const struct conf_table delivery_table = {"DELIVERY", delivery_keys, NULL, 0, 0, NULL};
static const struct conf_table storage_table = {"STORAGE AND SERVING", storage_keys, NULL, 0, 0, NULL};
static const struct conf_table http_table = {"STORAGE AND SERVING", http_keys, NULL, 0, 0, NULL};
static const struct conf_table fetch_table = {"FETCHING", fetch_keys, NULL, 0, 0, NULL};
static const struct conf_table inbound_table = {"BOUNCES", inbound_keys, inbound_done, 0, 0, NULL};
static const struct conf_table dkim_table = {"DKIM", dkim_keys, dkim_done, 0, 0, NULL};

static const struct conf_key root_keys[] = {
	{"newsletter", CONF_GROUP, 0, .sub = &newsletter_table, .doc = "The newsletter."},
	{"digest", CONF_GROUP, 0, .sub = &digest_table, .doc = "The edition."},
	{"sources", CONF_LIST, CFG(sources), .def_doc = "none (nothing to collect)", .sub = &source_table,
	 .hook = load_sources, .doc = "One group per site section or feed."},
	{"templates", CONF_GROUP, 0, .sub = &templates_table, .doc = "The templates."},
	{"delivery", CONF_GROUP, 0, .sub = &delivery_table, .doc = "Delivery."},
	{"storage", CONF_GROUP, 0, .sub = &storage_table, .doc = "The database."},
	{"http", CONF_GROUP, 0, .sub = &http_table, .doc = "`digest serve`."},
	{"fetch", CONF_GROUP, 0, .sub = &fetch_table, .doc = "Fetching."},
	{"inbound", CONF_GROUP, 0, .sub = &inbound_table, .doc = "Mail that comes back."},
	{"dkim", CONF_GROUP, 0, .sub = &dkim_table, .doc = "DKIM signing."},
	{.name = NULL},
};

const struct conf_table config_root = {.keys = root_keys};
