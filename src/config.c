/* config: digest.conf (libconfig) loaded into plain structs, with defaults
 * and validation. */
#define _GNU_SOURCE
#include <ctype.h>
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "digest/config.h"
#include "digest/parse.h"
#include "digest/extract.h"
#include "digest/http.h"
#include "digest/log.h"
#include "digest/url.h"
#include "digest/util.h"
#include "digest/version.h"

/* Loading state: the file name for messages and the count of errors. */
struct loader {
	const char *file;
	int errors;
	struct config *cfg;
};

static int line_of(const config_setting_t *s)
{
	int line = s ? (int)config_setting_source_line(s) : 0;
	return line > 0 ? line : 1;
}

__attribute__((format(printf, 4, 5))) static void problem(struct loader *ld, const config_setting_t *s,
							  const char *key, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	const char *file = s ? config_setting_source_file(s) : NULL;
	log_error("%s:%d: %s: %s", file ? file : ld->file, line_of(s), key, msg ? msg : fmt);
	free(msg);
	ld->errors++;
}

static const char *type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "true or false";
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "a value";
	}
}

/* distance: how many single-letter edits (insert, delete, replace, swap
 * two neighbours) make A into B, counted up to CAP (a key name is short:
 * longer ones are not worth a suggestion). */
static int distance(const char *a, const char *b, int cap)
{
	enum { MAX = 40 };
	size_t la = strlen(a), lb = strlen(b);
	if (la >= MAX || lb >= MAX)
		return cap;
	int d[MAX + 1][MAX + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t k = 0; k <= lb; k++)
		d[0][k] = (int)k;
	for (size_t i = 1; i <= la; i++)
		for (size_t k = 1; k <= lb; k++) {
			int best = d[i - 1][k - 1] + (a[i - 1] != b[k - 1]);
			if (d[i - 1][k] + 1 < best)
				best = d[i - 1][k] + 1;
			if (d[i][k - 1] + 1 < best)
				best = d[i][k - 1] + 1;
			if (i > 1 && k > 1 && a[i - 1] == b[k - 2] && a[i - 2] == b[k - 1] && d[i - 2][k - 2] + 1 < best)
				best = d[i - 2][k - 2] + 1;
			d[i][k] = best;
		}
	return d[la][lb] < cap ? d[la][lb] : cap;
}

/* suggest: the member of KNOWN nearest NAME, when it is near enough to be
 * a slip of the keyboard (at most 2 edits, and fewer than half its
 * letters); else NULL. */
static const char *suggest(const char *name, const char *const *known)
{
	const char *best = NULL;
	int best_d = 3;
	for (const char *const *k = known; *k; k++) {
		int d = distance(name, *k, best_d);
		if (d < best_d && 2 * d < (int)strlen(*k)) {
			best = *k;
			best_d = d;
		}
	}
	return best;
}

/* Warn about members of GROUP not in the NULL-terminated list KNOWN, with
 * the known key meant when one is near. */
static void check_unknown(struct loader *ld, const config_setting_t *group, const char *prefix,
			  const char *const *known)
{
	if (!group || !config_setting_is_group(group))
		return;
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		int ok = 0;
		for (const char *const *k = known; *k && !ok; k++)
			ok = name && strcmp(name, *k) == 0;
		if (ok)
			continue;
		const char *file = config_setting_source_file(m);
		const char *near = name ? suggest(name, known) : NULL;
		const char *dot = *prefix ? "." : "";
		if (near)
			log_warn("%s:%d: %s%s%s: unknown key, ignored; did you mean %s%s%s?", file ? file : ld->file,
				 line_of(m), prefix, dot, name, prefix, dot, near);
		else
			log_warn("%s:%d: %s%s%s: unknown key, ignored", file ? file : ld->file, line_of(m), prefix, dot,
				 name ? name : "?");
	}
}

static char *key_path(const char *prefix, const char *name)
{
	return *prefix ? xasprintf("%s.%s", prefix, name) : xstrdup(name);
}

/* Fetch member NAME of GROUP as a group; an error if present but not one. */
static const config_setting_t *get_group(struct loader *ld, const config_setting_t *group,
					 const char *prefix, const char *name)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	if (s && !config_setting_is_group(s)) {
		char *k = key_path(prefix, name);
		problem(ld, s, k, "expected %s, got %s", type_name(CONFIG_TYPE_GROUP),
			type_name(config_setting_type(s)));
		free(k);
		return NULL;
	}
	return s;
}

/* A string member: *DST is replaced when present; empty strings are
 * errors unless ALLOW_EMPTY. */
static void get_str(struct loader *ld, const config_setting_t *group, const char *prefix,
		    const char *name, char **dst, int allow_empty)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	if (!s)
		return;
	char *k = key_path(prefix, name);
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		problem(ld, s, k, "expected %s, got %s", type_name(CONFIG_TYPE_STRING),
			type_name(config_setting_type(s)));
	} else {
		const char *v = config_setting_get_string(s);
		if (!allow_empty && (!v || !*v)) {
			problem(ld, s, k, "must not be empty");
		} else {
			free(*dst);
			*dst = xstrdup(v ? v : "");
		}
	}
	free(k);
}

static void get_int(struct loader *ld, const config_setting_t *group, const char *prefix,
		    const char *name, long long min, long long max, long long *dst)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	if (!s)
		return;
	char *k = key_path(prefix, name);
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		problem(ld, s, k, "expected %s, got %s", type_name(CONFIG_TYPE_INT), type_name(t));
	} else {
		long long v = config_setting_get_int64(s);
		if (v < min || v > max)
			problem(ld, s, k, "expected %lld..%lld, got %lld", min, max, v);
		else
			*dst = v;
	}
	free(k);
}

static void get_int32(struct loader *ld, const config_setting_t *group, const char *prefix,
		      const char *name, int min, int max, int *dst)
{
	long long v = *dst;
	get_int(ld, group, prefix, name, min, max, &v);
	*dst = (int)v;
}

/* Seconds, as an integer or a float. */
static void get_seconds(struct loader *ld, const config_setting_t *group, const char *prefix,
			const char *name, double max, double *dst)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	if (!s)
		return;
	char *k = key_path(prefix, name);
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_FLOAT) {
		problem(ld, s, k, "expected seconds, got %s", type_name(t));
	} else {
		double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : (double)config_setting_get_int64(s);
		if (!(v >= 0 && v <= max))
			problem(ld, s, k, "expected 0..%g seconds, got %g", max, v);
		else
			*dst = v;
	}
	free(k);
}

static void get_bool(struct loader *ld, const config_setting_t *group, const char *prefix,
		     const char *name, bool *dst)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	if (!s)
		return;
	if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
		char *k = key_path(prefix, name);
		problem(ld, s, k, "expected %s, got %s", type_name(CONFIG_TYPE_BOOL),
			type_name(config_setting_type(s)));
		free(k);
		return;
	}
	*dst = config_setting_get_bool(s) != 0;
}

/* A string that must be one of the NULL-terminated CHOICES. */
static void get_choice(struct loader *ld, const config_setting_t *group, const char *prefix,
		       const char *name, const char *const *choices, char **dst)
{
	char *v = NULL;
	get_str(ld, group, prefix, name, &v, 0);
	if (!v)
		return;
	for (const char *const *c = choices; *c; c++) {
		if (strcmp(v, *c) == 0) {
			free(*dst);
			*dst = v;
			return;
		}
	}
	struct buf b = {0};
	for (const char *const *c = choices; *c; c++)
		buf_addf(&b, "%s%s", c == choices ? "" : " | ", *c);
	char *k = key_path(prefix, name);
	problem(ld, config_setting_get_member(group, name), k, "expected %s, got \"%s\"", b.data, v);
	free(k);
	buf_free(&b);
	free(v);
}

/* A path member resolved against the config file's directory. */
static void get_path(struct loader *ld, const config_setting_t *group, const char *prefix,
		     const char *name, char **dst)
{
	char *v = NULL;
	get_str(ld, group, prefix, name, &v, 0);
	if (v) {
		free(*dst);
		*dst = path_resolve(ld->cfg->dir, v);
		free(v);
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
static char *source_url(struct loader *ld, const config_setting_t *s, const char *key, const char *v)
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
			problem(ld, s, key, "out of memory");
		return url;
	}
	if (strncasecmp(v, "http://", 7) && strncasecmp(v, "https://", 8) && strncasecmp(v, "file://", 7)) {
		problem(ld, s, key, "expected an http, https or file URL, got \"%s\"", v);
		return NULL;
	}
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		if (*p <= ' ' || *p == 0x7f) {
			problem(ld, s, key, "URL contains a space or control character");
			return NULL;
		}
	}
	return xstrdup(v);
}

static void get_xpath(struct loader *ld, const config_setting_t *group, const char *prefix,
		      const char *name, char **dst)
{
	char *v = NULL;
	get_str(ld, group, prefix, name, &v, 0);
	if (!v)
		return;
	char *err = NULL;
	if (extract_xpath_check(v, &err) < 0) {
		char *k = key_path(prefix, name);
		problem(ld, config_setting_get_member(group, name), k, "%s: \"%s\"", err, v);
		free(k);
		free(err);
		free(v);
		return;
	}
	free(*dst);
	*dst = v;
}

const char *const field_names[FIELD_COUNT + 1] = {"title", "published", "views", "comments",
						   "rating", "summary", "image", NULL};

static void fields_free(struct fields *f)
{
	for (int i = 0; i < FIELD_COUNT; i++)
		free(f->v[i]);
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

static void load_source(struct loader *ld, const config_setting_t *s, int index, struct source *src)
{
	static const char *const known[] = {"name", "type", "url", "next", "max_pages", "item", "link",
					    "title", "published", "views", "comments", "rating", "summary",
					    "image", "follow", "max_follow", "article", "date_format", "date_order", "language", NULL};
	char *prefix = xasprintf("sources.[%d]", index);
	src->max_pages = 1;
	if (!config_setting_is_group(s)) {
		problem(ld, s, prefix, "expected a group { ... }, got %s", type_name(config_setting_type(s)));
		free(prefix);
		return;
	}
	get_str(ld, s, prefix, "name", &src->name, 0);
	if (src->name) {
		free(prefix);
		prefix = xasprintf("sources.%s", src->name);
	} else {
		problem(ld, s, prefix, "a source needs a name");
	}
	check_unknown(ld, s, prefix, known);

	char *type = NULL;
	static const char *const types[] = {"html", "rss", "atom", "feed", NULL};
	get_choice(ld, s, prefix, "type", types, &type);
	src->type = !type || !strcmp(type, "html") ? SOURCE_HTML
		    : !strcmp(type, "rss")		 ? SOURCE_RSS
		    : !strcmp(type, "atom")		 ? SOURCE_ATOM
						 : SOURCE_FEED;
	free(type);

	char *url = NULL;
	get_str(ld, s, prefix, "url", &url, 0);
	char *k = key_path(prefix, "url");
	if (url)
		src->url = source_url(ld, config_setting_get_member(s, "url"), k, url);
	else if (config_setting_get_member(s, "url") == NULL)
		problem(ld, s, k, "a source needs a url");
	free(k);
	free(url);

	get_xpath(ld, s, prefix, "next", &src->next);
	get_int32(ld, s, prefix, "max_pages", 1, 1000, &src->max_pages);
	get_xpath(ld, s, prefix, "item", &src->item);
	get_xpath(ld, s, prefix, "link", &src->link);
	for (int i = 0; i < FIELD_COUNT; i++)
		get_xpath(ld, s, prefix, field_names[i], &src->list.v[i]);
	get_bool(ld, s, prefix, "follow", &src->follow);
	src->max_follow = 300;
	get_int32(ld, s, prefix, "max_follow", 0, 100000, &src->max_follow);
	get_str(ld, s, prefix, "date_format", &src->date_format, 0);
	char *order = NULL;
	static const char *const orders[] = {"dmy", "mdy", NULL};
	get_choice(ld, s, prefix, "date_order", orders, &order);
	src->date_order = order && !strcmp(order, "mdy") ? PARSE_MDY : PARSE_DMY;
	free(order);
	get_str(ld, s, prefix, "language", &src->language, 0);
	if (src->language && !parse_language_known(src->language)) {
		char *lk = key_path(prefix, "language");
		problem(ld, config_setting_get_member(s, "language"), lk,
			"unknown language \"%s\" (known: %s)", src->language, parse_languages());
		free(lk);
	}

	const config_setting_t *art = get_group(ld, s, prefix, "article");
	if (art) {
		char *ap = key_path(prefix, "article");
		check_unknown(ld, art, ap, field_names);
		for (int i = 0; i < FIELD_COUNT; i++)
			get_xpath(ld, art, ap, field_names[i], &src->article.v[i]);
		free(ap);
	}

	if (src->type != SOURCE_HTML) {
		feed_defaults(src);
	} else {
		if (!src->item && !config_setting_get_member(s, "item"))
			problem(ld, s, prefix, "an html source needs an item selector");
		/* Without selectors, an item's first link is the article and the
		 * first link with text the title (unless the article page is to
		 * give the title). */
		static const char first_link[] = "(descendant-or-self::a[@href])[1]";
		if (!src->link && !config_setting_get_member(s, "link"))
			src->link = xasprintf("%s/@href", first_link);
		if (!src->list.title && !src->article.title && !config_setting_get_member(s, "title"))
			src->list.title = xstrdup("(descendant-or-self::a[@href][normalize-space()])[1]");
	}
	/* Setting `next` asks for pagination: read up to 10 pages unless told. */
	if (src->next && !config_setting_get_member(s, "max_pages"))
		src->max_pages = 10;
	if (src->follow && art == NULL)
		log_warn("%s:%d: %s.follow: no article { ... } selectors, nothing to follow", ld->file,
			 line_of(config_setting_get_member(s, "follow")), prefix);
	free(prefix);
}

static void load_sources(struct loader *ld, const config_setting_t *root)
{
	const config_setting_t *list = config_setting_get_member(root, "sources");
	struct config *cfg = ld->cfg;
	if (!list) {
		log_warn("%s:1: sources: none configured, nothing to collect", ld->file);
		return;
	}
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		problem(ld, list, "sources", "expected a list ( { ... }, ... ), got %s",
			type_name(config_setting_type(list)));
		return;
	}
	cfg->nsources = config_setting_length(list);
	cfg->sources = xcalloc((size_t)cfg->nsources + 1, sizeof *cfg->sources);
	for (int i = 0; i < cfg->nsources; i++) {
		load_source(ld, config_setting_get_elem(list, (unsigned)i), i, &cfg->sources[i]);
		for (int j = 0; j < i; j++) {
			if (cfg->sources[i].name && cfg->sources[j].name &&
			    !strcmp(cfg->sources[i].name, cfg->sources[j].name))
				problem(ld, config_setting_get_elem(list, (unsigned)i), "sources",
					"two sources are named \"%s\"", cfg->sources[i].name);
		}
	}
}

/* The line of GROUP's member NAME, 0 when it is not there. */
static int member_line(const config_setting_t *group, const char *name)
{
	const config_setting_t *s = group ? config_setting_get_member(group, name) : NULL;
	return s ? line_of(s) : 0;
}

/* dkim = { domain; keys = ( { selector; key_file; }, ... ); }: a domain
 * and at least one key, or no block at all. The keys themselves are read
 * by dkim_load (dkim.c), which names this file and line when one is bad. */
static void load_dkim(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	const config_setting_t *g = get_group(ld, root, "", "dkim");
	if (!g)
		return;
	cfg->dkim.line = line_of(g);
	static const char *const keys[] = {"domain", "keys", NULL};
	check_unknown(ld, g, "dkim", keys);
	get_str(ld, g, "dkim", "domain", &cfg->dkim.domain, 0);
	cfg->at.dkim_domain = member_line(g, "domain");
	if (!cfg->dkim.domain && !config_setting_get_member(g, "domain"))
		problem(ld, g, "dkim.domain", "a dkim block needs the domain that signs (d=)");
	if (cfg->dkim.domain) {
		for (const char *c = cfg->dkim.domain; *c; c++)
			if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.') {
				problem(ld, config_setting_get_member(g, "domain"), "dkim.domain",
					"\"%s\" is not a domain name in ASCII (give an IDN in A-label form)",
					cfg->dkim.domain);
				break;
			}
	}
	const config_setting_t *list = config_setting_get_member(g, "keys");
	if (!list) {
		problem(ld, g, "dkim.keys", "a dkim block needs at least one key");
		return;
	}
	if (!config_setting_is_list(list) && !config_setting_is_array(list)) {
		problem(ld, list, "dkim.keys", "expected a list ( { selector; key_file; }, ... ), got %s",
			type_name(config_setting_type(list)));
		return;
	}
	int n = config_setting_length(list);
	if (n == 0)
		problem(ld, list, "dkim.keys", "a dkim block needs at least one key");
	cfg->dkim.keys = xcalloc((size_t)n + 1, sizeof *cfg->dkim.keys);
	for (int i = 0; i < n; i++) {
		const config_setting_t *k = config_setting_get_elem(list, (unsigned)i);
		char *prefix = xasprintf("dkim.keys.[%d]", i);
		struct dkim_key_config *kc = &cfg->dkim.keys[cfg->dkim.nkeys++];
		kc->line = line_of(k);
		if (!config_setting_is_group(k)) {
			problem(ld, k, prefix, "expected a group { selector; key_file; }, got %s",
				type_name(config_setting_type(k)));
			free(prefix);
			continue;
		}
		static const char *const kk[] = {"selector", "key_file", NULL};
		check_unknown(ld, k, prefix, kk);
		get_str(ld, k, prefix, "selector", &kc->selector, 0);
		get_path(ld, k, prefix, "key_file", &kc->key_file);
		if (!kc->selector && !config_setting_get_member(k, "selector"))
			problem(ld, k, prefix, "a key needs a selector");
		if (!kc->key_file && !config_setting_get_member(k, "key_file"))
			problem(ld, k, prefix, "a key needs a key_file");
		if (kc->selector)
			for (const char *c = kc->selector; *c; c++)
				if (!isalnum((unsigned char)*c) && *c != '-' && *c != '.' && *c != '_') {
					problem(ld, config_setting_get_member(k, "selector"), prefix,
						"selector \"%s\" is not a DNS label", kc->selector);
					break;
				}
		for (int j = 0; j < i; j++)
			if (kc->selector && cfg->dkim.keys[j].selector &&
			    !strcmp(kc->selector, cfg->dkim.keys[j].selector))
				problem(ld, k, prefix, "two keys have the selector \"%s\"", kc->selector);
		free(prefix);
	}
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

static void set_defaults(struct config *cfg)
{
	cfg->newsletter.name = xstrdup("Daily digest");
	cfg->newsletter.from = xstrdup("digest@localhost");
	cfg->newsletter.base_url = xstrdup("http://127.0.0.1:8080");
	cfg->newsletter.list_id = xstrdup("digest.localhost");
	cfg->newsletter.subject = xstrdup("{{newsletter.name}} — {{date}}: {{#top}}{{title}}{{/top}}");
	cfg->newsletter.timezone = xstrdup("UTC");
	cfg->newsletter.locale = xstrdup("en");
	cfg->newsletter.secret_file = path_resolve(cfg->dir, "var/secret");
	cfg->digest.max_articles = 10;
	cfg->digest.min_views = 0;
	cfg->digest.window_hours = 24;
	cfg->digest.send_empty = false;
	cfg->digest.summary_chars = 280;
	cfg->templates.dir = path_resolve(cfg->dir, "templates");
	cfg->delivery.transport = xstrdup("smtp");
	cfg->delivery.journal_sync = xstrdup("full");
	cfg->delivery.maildir = path_resolve(cfg->dir, "var/outbox");
	struct smtp_config *sm = &cfg->delivery.smtp;
	sm->host = xstrdup("127.0.0.1");
	sm->port = 0; /* from security: 25, 587 or 465 */
	sm->security = xstrdup("starttls");
	sm->timeout = 30;
	sm->data_timeout = 600; /* RFC 5321 4.5.3.2.6 */
	sm->connections = 4;
	sm->max_per_connection = 1000;
	sm->rate_per_second = 0;
	sm->retries = 3;
	sm->max_bounces = 3;
	sm->tls_verify = true;
	sm->retry_delay = 1;
	cfg->inbound.protocol = xstrdup("imap");
	cfg->inbound.security = xstrdup("tls");
	cfg->inbound.folder = xstrdup("INBOX");
	cfg->inbound.processed_folder = xstrdup("digest-processed");
	cfg->inbound.tls_verify = true;
	cfg->inbound.timeout = 30;
	cfg->inbound.bounce_threshold = 3.0;
	cfg->inbound.bounce_reset_days = 14;
	cfg->storage.database = path_resolve(cfg->dir, "var/digest.db");
	cfg->http.listen = xstrdup("127.0.0.1:8080");
	cfg->fetch.timeout = 30;
	cfg->fetch.connect_timeout = 10;
	cfg->fetch.deadline = 600;
	cfg->fetch.max_body = 5 * 1024 * 1024;
	cfg->fetch.parallel = 16;
	cfg->fetch.per_host = 8; /* a browser opens 6; one collection an hour */
	cfg->fetch.user_agent = xstrdup("digest/" DIGEST_VERSION " (daily email digest)");
	cfg->fetch.tls_verify = true;
}

static void load_root(struct loader *ld, const config_setting_t *root)
{
	struct config *cfg = ld->cfg;
	static const char *const top[] = {"newsletter", "digest", "sources", "templates", "delivery",
					  "storage", "http", "fetch", "dkim", "inbound", NULL};
	check_unknown(ld, root, "", top);

	const config_setting_t *g = get_group(ld, root, "", "newsletter");
	static const char *const nl_keys[] = {"name", "from", "reply_to", "base_url", "list_id", "subject",
					      "timezone", "locale", "secret_file", "feedback_id", NULL};
	check_unknown(ld, g, "newsletter", nl_keys);
	get_str(ld, g, "newsletter", "name", &cfg->newsletter.name, 0);
	get_str(ld, g, "newsletter", "from", &cfg->newsletter.from, 0);
	get_str(ld, g, "newsletter", "reply_to", &cfg->newsletter.reply_to, 0);
	get_str(ld, g, "newsletter", "base_url", &cfg->newsletter.base_url, 0);
	get_str(ld, g, "newsletter", "list_id", &cfg->newsletter.list_id, 0);
	cfg->at.from = member_line(g, "from");
	cfg->at.base_url = member_line(g, "base_url");
	cfg->at.list_id = member_line(g, "list_id");
	cfg->at.secret_file = member_line(g, "secret_file");
	get_str(ld, g, "newsletter", "subject", &cfg->newsletter.subject, 0);
	if (g && config_setting_get_member(g, "subject"))
		cfg->newsletter.subject_line = (int)config_setting_source_line(config_setting_get_member(g, "subject"));
	get_str(ld, g, "newsletter", "timezone", &cfg->newsletter.timezone, 0);
	static const char *const locales[] = {"en", "ru", NULL};
	get_choice(ld, g, "newsletter", "locale", locales, &cfg->newsletter.locale);
	get_path(ld, g, "newsletter", "secret_file", &cfg->newsletter.secret_file);
	get_str(ld, g, "newsletter", "feedback_id", &cfg->newsletter.feedback_id, 1);
	if (cfg->newsletter.feedback_id)
		for (const char *c = cfg->newsletter.feedback_id; *c; c++)
			if (*c <= ' ' || *c >= 0x7f || *c == ':') {
				problem(ld, config_setting_get_member(g, "feedback_id"), "newsletter.feedback_id",
					"\"%s\": printable ASCII without spaces or colons (Gmail's sender id)",
					cfg->newsletter.feedback_id);
				break;
			}
	if (!zone_exists(cfg->newsletter.timezone))
		problem(ld, g ? config_setting_get_member(g, "timezone") : NULL, "newsletter.timezone",
			"unknown time zone \"%s\" (expected a name like Europe/Moscow)",
			cfg->newsletter.timezone);
	if (strncmp(cfg->newsletter.base_url, "http://", 7) && strncmp(cfg->newsletter.base_url, "https://", 8))
		problem(ld, g ? config_setting_get_member(g, "base_url") : NULL, "newsletter.base_url",
			"expected an http or https URL");
	/* Links are made of it and a token, and must fit in a header line. */
	else if (strlen(cfg->newsletter.base_url) > 512 || strpbrk(cfg->newsletter.base_url, " \t\r\n\"<>"))
		problem(ld, g ? config_setting_get_member(g, "base_url") : NULL, "newsletter.base_url",
			"expected a URL of at most 512 characters without spaces, quotes or <>");

	g = get_group(ld, root, "", "digest");
	static const char *const dg_keys[] = {"max_articles", "min_views", "window_hours", "send_empty",
					      "summary_chars", NULL};
	check_unknown(ld, g, "digest", dg_keys);
	get_int32(ld, g, "digest", "max_articles", 1, 1000, &cfg->digest.max_articles);
	get_int(ld, g, "digest", "min_views", 0, 1000000000000LL, &cfg->digest.min_views);
	get_int32(ld, g, "digest", "window_hours", 1, 24 * 366, &cfg->digest.window_hours);
	get_bool(ld, g, "digest", "send_empty", &cfg->digest.send_empty);
	get_int32(ld, g, "digest", "summary_chars", 0, 100000, &cfg->digest.summary_chars);

	load_sources(ld, root);

	g = get_group(ld, root, "", "templates");
	static const char *const tp_keys[] = {"dir", NULL};
	check_unknown(ld, g, "templates", tp_keys);
	get_path(ld, g, "templates", "dir", &cfg->templates.dir);
	cfg->at.templates_dir = member_line(g, "dir");
	cfg->templates.dir_set = g && config_setting_get_member(g, "dir");

	g = get_group(ld, root, "", "delivery");
	static const char *const dl_keys[] = {"transport", "maildir", "smtp", "bounce_address", "journal_sync", NULL};
	check_unknown(ld, g, "delivery", dl_keys);
	static const char *const transports[] = {"smtp", "maildir", NULL};
	get_choice(ld, g, "delivery", "transport", transports, &cfg->delivery.transport);
	static const char *const syncs[] = {"full", "normal", NULL};
	get_choice(ld, g, "delivery", "journal_sync", syncs, &cfg->delivery.journal_sync);
	get_path(ld, g, "delivery", "maildir", &cfg->delivery.maildir);
	get_str(ld, g, "delivery", "bounce_address", &cfg->delivery.bounce_address, 0);
	const config_setting_t *sg = get_group(ld, g, "delivery", "smtp");
	struct smtp_config *sm = &cfg->delivery.smtp;
	static const char *const sm_keys[] = {"host", "port", "security", "username", "password_file", "helo",
					      "timeout", "connections", "max_per_connection", "rate_per_second",
					      "retries", "max_bounces", "tls_verify", "retry_delay", "ca_file",
					      "envelope_from", "data_timeout", NULL};
	const char *sp = "delivery.smtp";
	check_unknown(ld, sg, sp, sm_keys);
	get_str(ld, sg, sp, "host", &sm->host, 0);
	get_int32(ld, sg, sp, "port", 1, 65535, &sm->port);
	static const char *const securities[] = {"none", "starttls", "tls", NULL};
	get_choice(ld, sg, sp, "security", securities, &sm->security);
	get_str(ld, sg, sp, "username", &sm->username, 0);
	get_path(ld, sg, sp, "password_file", &sm->password_file);
	get_str(ld, sg, sp, "helo", &sm->helo, 0);
	cfg->at.password_file = member_line(sg, "password_file");
	cfg->at.helo = member_line(sg, "helo");
	get_int32(ld, sg, sp, "timeout", 1, 3600, &sm->timeout);
	get_int32(ld, sg, sp, "data_timeout", 1, 3600, &sm->data_timeout);
	get_int32(ld, sg, sp, "connections", 1, 64, &sm->connections);
	get_int32(ld, sg, sp, "max_per_connection", 1, 1000000, &sm->max_per_connection);
	get_int32(ld, sg, sp, "rate_per_second", 0, 1000000, &sm->rate_per_second);
	get_int32(ld, sg, sp, "retries", 0, 100, &sm->retries);
	get_int32(ld, sg, sp, "max_bounces", 1, 1000, &sm->max_bounces);
	get_bool(ld, sg, sp, "tls_verify", &sm->tls_verify);
	get_seconds(ld, sg, sp, "retry_delay", 3600, &sm->retry_delay);
	get_path(ld, sg, sp, "ca_file", &sm->ca_file);
	get_str(ld, sg, sp, "envelope_from", &sm->envelope_from, 0);
	if (sm->port == 0)
		sm->port = !strcmp(sm->security, "tls") ? 465 : !strcmp(sm->security, "starttls") ? 587 : 25;

	g = get_group(ld, root, "", "storage");
	static const char *const st_keys[] = {"database", NULL};
	check_unknown(ld, g, "storage", st_keys);
	get_path(ld, g, "storage", "database", &cfg->storage.database);

	g = get_group(ld, root, "", "http");
	static const char *const ht_keys[] = {"listen", "behind_proxy", NULL};
	check_unknown(ld, g, "http", ht_keys);
	get_str(ld, g, "http", "listen", &cfg->http.listen, 0);
	get_bool(ld, g, "http", "behind_proxy", &cfg->http.behind_proxy);
	{
		char *host = NULL, *why = NULL;
		int port;
		if (listen_parse(cfg->http.listen, &host, &port, &why) < 0)
			problem(ld, g ? config_setting_get_member(g, "listen") : NULL, "http.listen", "%s", why);
		free(host);
		free(why);
	}

	g = get_group(ld, root, "", "inbound");
	{
		static const char *const in_keys[] = {"protocol", "host", "port", "security", "username",
						      "password_file", "folder", "processed_folder", "tls_verify",
						      "ca_file", "timeout", "bounce_threshold", "bounce_reset_days",
						      NULL};
		const char *ip = "inbound";
		cfg->inbound.set = g != NULL;
		check_unknown(ld, g, ip, in_keys);
		static const char *const protocols[] = {"imap", "pop3", NULL};
		get_choice(ld, g, ip, "protocol", protocols, &cfg->inbound.protocol);
		get_str(ld, g, ip, "host", &cfg->inbound.host, 0);
		get_int32(ld, g, ip, "port", 1, 65535, &cfg->inbound.port);
		static const char *const in_securities[] = {"none", "starttls", "tls", NULL};
		get_choice(ld, g, ip, "security", in_securities, &cfg->inbound.security);
		get_str(ld, g, ip, "username", &cfg->inbound.username, 0);
		get_path(ld, g, ip, "password_file", &cfg->inbound.password_file);
		get_str(ld, g, ip, "folder", &cfg->inbound.folder, 0);
		get_str(ld, g, ip, "processed_folder", &cfg->inbound.processed_folder, 1);
		get_bool(ld, g, ip, "tls_verify", &cfg->inbound.tls_verify);
		get_path(ld, g, ip, "ca_file", &cfg->inbound.ca_file);
		get_int32(ld, g, ip, "timeout", 1, 3600, &cfg->inbound.timeout);
		get_seconds(ld, g, ip, "bounce_threshold", 1000, &cfg->inbound.bounce_threshold);
		if (cfg->inbound.bounce_threshold < 0.5)
			problem(ld, g ? config_setting_get_member(g, "bounce_threshold") : NULL,
				"inbound.bounce_threshold", "expected 0.5..1000");
		get_int32(ld, g, ip, "bounce_reset_days", 1, 3650, &cfg->inbound.bounce_reset_days);
		if (cfg->inbound.port == 0) {
			bool imap = !strcmp(cfg->inbound.protocol, "imap"), tls = !strcmp(cfg->inbound.security, "tls");
			cfg->inbound.port = imap ? (tls ? 993 : 143) : (tls ? 995 : 110);
		}
	}

	g = get_group(ld, root, "", "fetch");
	static const char *const fe_keys[] = {"timeout", "connect_timeout", "deadline", "max_body", "parallel",
					      "per_host", "user_agent", "tls_verify", "private_addresses", NULL};
	check_unknown(ld, g, "fetch", fe_keys);
	get_int32(ld, g, "fetch", "timeout", 1, 3600, &cfg->fetch.timeout);
	get_int32(ld, g, "fetch", "connect_timeout", 1, 600, &cfg->fetch.connect_timeout);
	get_int32(ld, g, "fetch", "deadline", 0, 86400, &cfg->fetch.deadline);
	get_int(ld, g, "fetch", "max_body", 1024, 1LL << 30, &cfg->fetch.max_body);
	get_int32(ld, g, "fetch", "parallel", 1, 256, &cfg->fetch.parallel);
	get_int32(ld, g, "fetch", "per_host", 1, 64, &cfg->fetch.per_host);
	get_str(ld, g, "fetch", "user_agent", &cfg->fetch.user_agent, 0);
	get_bool(ld, g, "fetch", "tls_verify", &cfg->fetch.tls_verify);
	static const char *const modes[] = {"auto", "allow", "deny", NULL};
	char *mode = NULL;
	get_choice(ld, g, "fetch", "private_addresses", modes, &mode);
	if (mode)
		cfg->fetch.private_addresses = !strcmp(mode, "allow") ? PRIVATE_ALLOW
					     : !strcmp(mode, "deny")  ? PRIVATE_DENY
								      : PRIVATE_AUTO;
	free(mode);

	load_dkim(ld, root);
}

int config_load(const char *path, struct config **out)
{
	*out = NULL;
	struct config *cfg = xcalloc(1, sizeof *cfg);
	cfg->path = xstrdup(path);
	cfg->dir = path_dir(path);
	set_defaults(cfg);
	struct loader ld = {.file = path, .errors = 0, .cfg = cfg};

	if (access(path, R_OK) < 0) {
		log_error("%s: cannot read the configuration: %m", path);
		config_free(cfg);
		return -1;
	}
	config_t lc;
	config_init(&lc);
	config_set_include_dir(&lc, cfg->dir); /* @include "x.conf" beside this file */
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		const char *f = config_error_file(&lc);
		log_error("%s:%d: %s", f ? f : path, config_error_line(&lc), config_error_text(&lc));
		config_destroy(&lc);
		config_free(cfg);
		return -1;
	}
	load_root(&ld, config_root_setting(&lc));
	config_destroy(&lc);
	if (ld.errors) {
		config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

void config_apply_timezone(const struct config *cfg)
{
	setenv("TZ", cfg->newsletter.timezone, 1);
	tzset();
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (int i = 0; cfg->sources && i < cfg->nsources; i++) {
		struct source *s = &cfg->sources[i];
		free(s->name);
		free(s->url);
		free(s->next);
		free(s->item);
		free(s->link);
		fields_free(&s->list);
		fields_free(&s->article);
		free(s->date_format);
		free(s->language);
	}
	free(cfg->sources);
	free(cfg->newsletter.name);
	free(cfg->newsletter.from);
	free(cfg->newsletter.reply_to);
	free(cfg->newsletter.base_url);
	free(cfg->newsletter.list_id);
	free(cfg->newsletter.subject);
	free(cfg->newsletter.timezone);
	free(cfg->newsletter.locale);
	free(cfg->newsletter.secret_file);
	free(cfg->newsletter.feedback_id);
	free(cfg->templates.dir);
	free(cfg->delivery.transport);
	free(cfg->delivery.journal_sync);
	free(cfg->delivery.maildir);
	free(cfg->delivery.smtp.host);
	free(cfg->delivery.smtp.security);
	free(cfg->delivery.smtp.username);
	free(cfg->delivery.smtp.password_file);
	free(cfg->delivery.smtp.helo);
	free(cfg->delivery.smtp.ca_file);
	free(cfg->delivery.smtp.envelope_from);
	free(cfg->delivery.bounce_address);
	free(cfg->inbound.protocol);
	free(cfg->inbound.host);
	free(cfg->inbound.security);
	free(cfg->inbound.username);
	free(cfg->inbound.password_file);
	free(cfg->inbound.folder);
	free(cfg->inbound.processed_folder);
	free(cfg->inbound.ca_file);
	free(cfg->storage.database);
	free(cfg->http.listen);
	free(cfg->fetch.user_agent);
	for (int i = 0; i < cfg->dkim.nkeys; i++) {
		free(cfg->dkim.keys[i].selector);
		free(cfg->dkim.keys[i].key_file);
	}
	free(cfg->dkim.keys);
	free(cfg->dkim.domain);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}
