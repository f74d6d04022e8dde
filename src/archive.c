/* archive: the public archive of sent editions: the index, one page per
 * edition, the Atom feed, kept in memory per edition for `digest serve`
 * and written as static files by `digest archive -o DIR`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest/archive.h"
#include "digest/render.h"
#include "digest/template.h"

/* The words of the archive's pages. */
struct words {
	const char *lang, *archive, *page, *newer, *older, *empty, *subscribe_title, *subscribe_lead, *email_label,
		*name_label, *subscribe_button, *all_editions, *feed, *articles;
};
static const struct words words_en = {
	.lang = "en", .archive = "Past editions", .page = "page", .newer = "Newer", .older = "Older",
	.empty = "No edition has been sent yet.", .subscribe_title = "Get it by email",
	.subscribe_lead = "The day's most read stories in one email, every morning.", .email_label = "Email",
	.name_label = "Name (optional)", .subscribe_button = "Subscribe", .all_editions = "All editions",
	.feed = "Atom feed", .articles = "stories",
};
static const struct words words_ru = {
	.lang = "ru", .archive = "Архив выпусков", .page = "страница", .newer = "Новее", .older = "Раньше",
	.empty = "Пока не отправлено ни одного выпуска.", .subscribe_title = "Получайте по почте",
	.subscribe_lead = "Самые читаемые материалы дня одним письмом, каждое утро.",
	.email_label = "Электронная почта", .name_label = "Имя (необязательно)", .subscribe_button = "Подписаться",
	.all_editions = "Все выпуски", .feed = "Лента Atom", .articles = "материалов",
};

/* The articles of a feed entry, as HTML (then escaped into the XML). */
static const char entry_src[] =
	"<ol>{{#articles}}<li><a href=\"{{url}}\">{{title}}</a>{{#summary}}<br>{{summary}}{{/summary}}</li>"
	"{{/articles}}</ol>{{^articles}}<p>—</p>{{/articles}}";

/* A cached document. Editions' entries never go stale; an index's or the
 * feed's is valid while the archive's state (GEN) is what it was built
 * for. */
struct entry {
	char *key;
	struct archive_doc doc;
	char gen[64];
	struct entry *next;
};
#define BUCKETS 256

struct archive {
	const struct config *cfg;
	const struct words *w;
	struct render *r;
	struct tmpl *t_edition, *t_index, *t_entry;
	char *base; /* newsletter.base_url without a trailing "/" */
	struct entry *bucket[BUCKETS];
	size_t cached;
	struct archive_doc scratch; /* archive_export's: nothing kept */
};

/* ---- loading ---- */

int archive_load(const struct config *cfg, struct archive **out, char **err)
{
	*out = NULL;
	struct archive *ar = xcalloc(1, sizeof *ar);
	ar->cfg = cfg;
	if (render_load(cfg, false, &ar->r, err) < 0 ||
	    render_template_load(cfg, "edition.html", &ar->t_edition, err) < 0 ||
	    render_template_load(cfg, "archive.html", &ar->t_index, err) < 0 ||
	    tmpl_parse("(built-in) feed entry", entry_src, strlen(entry_src), true, NULL, &ar->t_entry, err) < 0) {
		archive_free(ar);
		return -1;
	}
	ar->w = render_is_ru(ar->r) ? &words_ru : &words_en;
	const char *b = cfg->newsletter.base_url;
	size_t bl = strlen(b);
	while (bl && b[bl - 1] == '/')
		bl--;
	ar->base = xstrndup(b, bl);
	*out = ar;
	return 0;
}

static void cache_clear(struct archive *ar)
{
	for (size_t i = 0; i < BUCKETS; i++) {
		for (struct entry *e = ar->bucket[i], *next; e; e = next) {
			next = e->next;
			free(e->key);
			free(e->doc.body);
			free(e);
		}
		ar->bucket[i] = NULL;
	}
	ar->cached = 0;
}

void archive_free(struct archive *ar)
{
	if (!ar)
		return;
	cache_clear(ar);
	free(ar->scratch.body);
	render_free(ar->r);
	tmpl_free(ar->t_edition);
	tmpl_free(ar->t_index);
	tmpl_free(ar->t_entry);
	free(ar->base);
	free(ar);
}

/* ---- parsers ---- */

static bool digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

static int month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : days[m - 1];
}

int archive_date_parse(const char *s, size_t len, char out[11])
{
	if (!s || len != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) || !digits(s + 5, 2) || !digits(s + 8, 2))
		return -1;
	int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	int m = (s[5] - '0') * 10 + (s[6] - '0'), d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > month_days(y, m))
		return -1;
	memcpy(out, s, 10);
	out[10] = '\0';
	return 0;
}

int archive_page_parse(const char *s)
{
	if (!s)
		return 1;
	size_t n = strlen(s);
	if (n == 0 || n > 6 || s[0] == '0' || !digits(s, n))
		return -1;
	long v = strtol(s, NULL, 10);
	return v >= 1 && v <= ARCHIVE_PAGE_MAX ? (int)v : -1;
}

long long archive_http_date_parse(const char *s)
{
	static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	/* "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters exactly */
	if (!s || strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
	    s[19] != ':' || s[22] != ':' || s[25] != ' ' || strcmp(s + 26, "GMT") || !digits(s + 5, 2) ||
	    !digits(s + 12, 4) || !digits(s + 17, 2) || !digits(s + 20, 2) || !digits(s + 23, 2))
		return -1;
	int wd = -1, mon = -1;
	for (int i = 0; i < 7; i++)
		if (!strncmp(s, wdays[i], 3))
			wd = i;
	for (int i = 0; i < 12; i++)
		if (!strncmp(s + 8, months[i], 3))
			mon = i;
	if (wd < 0 || mon < 0)
		return -1;
	struct tm tm = {0};
	tm.tm_mday = (s[5] - '0') * 10 + (s[6] - '0');
	tm.tm_year = atoi(s + 12) - 1900;
	tm.tm_mon = mon;
	tm.tm_hour = (s[17] - '0') * 10 + (s[18] - '0');
	tm.tm_min = (s[20] - '0') * 10 + (s[21] - '0');
	tm.tm_sec = (s[23] - '0') * 10 + (s[24] - '0');
	if (tm.tm_year + 1900 < 1970 || tm.tm_mday < 1 || tm.tm_mday > month_days(tm.tm_year + 1900, mon + 1) ||
	    tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
		return -1;
	time_t t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (long long)t;
}

/* Whether the If-None-Match list LIST names the entity tag ETAG (quoted),
 * by weak comparison; -1 when LIST is malformed. */
static int etag_listed(const char *list, const char *etag)
{
	const char *p = list;
	size_t el = strlen(etag);
	bool any = false;
	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			p++;
		if (!*p)
			return any ? 0 : -1;
		if (*p == '*') {
			p++;
			if (*p && *p != ',' && *p != ' ' && *p != '\t')
				return -1;
			return 1;
		}
		if (!strncmp(p, "W/", 2))
			p += 2;
		if (*p != '"')
			return -1;
		const char *end = strchr(p + 1, '"');
		if (!end)
			return -1;
		if ((size_t)(end + 1 - p) == el && !memcmp(p, etag, el))
			return 1;
		any = true;
		p = end + 1;
		if (*p && *p != ',' && *p != ' ' && *p != '\t')
			return -1;
	}
}

bool archive_not_modified(const struct archive_doc *d, const char *if_none_match, const char *if_modified_since)
{
	if (if_none_match) {
		int listed = etag_listed(if_none_match, d->etag);
		if (listed >= 0)
			return listed == 1;
	}
	long long since = archive_http_date_parse(if_modified_since);
	return since >= 0 && d->mtime <= since;
}

/* ---- building ---- */

static void xml_escape(struct buf *out, const char *s, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		const char *ent = NULL;
		if (c == '&')
			ent = "&amp;";
		else if (c == '<')
			ent = "&lt;";
		else if (c == '>')
			ent = "&gt;";
		else if (c == '"')
			ent = "&quot;";
		else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
			ent = ""; /* no XML 1.0 character */
		else
			continue;
		buf_add(out, s + run, i - run);
		buf_adds(out, ent);
		run = i + 1;
	}
	buf_add(out, s + run, len - run);
}

static void xml_escapes(struct buf *out, const char *s)
{
	xml_escape(out, s, strlen(s));
}

static void rfc3339(long long t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void http_date(long long t, char out[64])
{
	static const char *const wdays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm))
		memset(&tm, 0, sizeof tm);
	snprintf(out, 64, "%s, %02d %s %04d %02d:%02d:%02d GMT", wdays[tm.tm_wday % 7], tm.tm_mday,
		 months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

/* The labels and links every page has. */
static void add_common(const struct archive *ar, struct tval *ctx, const char *root)
{
	const struct words *w = ar->w;
	struct tval *links = tv_object();
	char *s = xasprintf("%s/archive", root);
	tv_set_str(links, "archive", s);
	free(s);
	s = xasprintf("%s/archive.atom", root);
	tv_set_str(links, "feed", s);
	free(s);
	s = xasprintf("%s/subscribe", root);
	tv_set_str(links, "subscribe", s);
	free(s);
	s = xasprintf("%s/", root);
	tv_set_str(links, "home", s);
	free(s);
	tv_set(ctx, "links", links);
	struct tval *wv = tv_object();
	tv_set_str(wv, "archive", w->archive);
	tv_set_str(wv, "page", w->page);
	tv_set_str(wv, "newer", w->newer);
	tv_set_str(wv, "older", w->older);
	tv_set_str(wv, "empty", w->empty);
	tv_set_str(wv, "subscribe_title", w->subscribe_title);
	tv_set_str(wv, "subscribe_lead", w->subscribe_lead);
	tv_set_str(wv, "email_label", w->email_label);
	tv_set_str(wv, "name_label", w->name_label);
	tv_set_str(wv, "subscribe_button", w->subscribe_button);
	tv_set_str(wv, "all_editions", w->all_editions);
	tv_set_str(wv, "feed", w->feed);
	tv_set(ctx, "w", wv);
}

/* Render T with CTX into OUT: nothing personal can be in it, so there is
 * no slot to fill. */
static void flatten(const struct tmpl *t, const struct tval *ctx, struct buf *out)
{
	struct tout o = {0};
	tmpl_render(t, ctx, &o);
	tout_flatten(&o, NULL, out);
	tout_free(&o);
}

static void edition_html(struct archive *ar, const char *root, const char *date, const struct article *a,
			 size_t n, struct buf *out)
{
	struct tval *ctx = render_context(ar->r, date, a, n);
	add_common(ar, ctx, root);
	flatten(ar->t_edition, ctx, out);
	tv_free(ctx);
}

/* "1 story", "2 stories"; in Russian the three plural forms. */
static const char *count_word(const struct archive *ar, long long n)
{
	if (ar->w != &words_ru)
		return n == 1 ? "story" : "stories";
	long long d = n % 10, dd = n % 100;
	if (d == 1 && dd != 11)
		return "материал";
	if (d >= 2 && d <= 4 && (dd < 12 || dd > 14))
		return "материала";
	return "материалов";
}

static void index_html(struct archive *ar, const char *root, const struct archive_rec *e, size_t n, int page,
		       int pages, struct buf *out)
{
	struct tval *ctx = tv_object();
	struct tval *nl = tv_object();
	tv_set_str(nl, "name", ar->cfg->newsletter.name);
	tv_set(ctx, "newsletter", nl);
	struct tval *t = tv_object();
	tv_set_str(t, "lang", ar->w->lang);
	tv_set_str(t, "articles", ar->w->articles);
	tv_set(ctx, "t", t);
	add_common(ar, ctx, root);
	struct tval *list = tv_list();
	for (size_t i = 0; i < n; i++) {
		struct tval *o = tv_object();
		char buf[128];
		render_date(ar->r, e[i].date, buf, sizeof buf);
		tv_set_str(o, "date", buf);
		tv_set_str(o, "date_iso", e[i].date);
		char *url = xasprintf("%s/archive/%s", root, e[i].date);
		tv_set_str(o, "url", url);
		free(url);
		snprintf(buf, sizeof buf, "%lld", e[i].articles);
		tv_set_str(o, "count", buf);
		tv_set_str(o, "count_word", count_word(ar, e[i].articles));
		tv_append(list, o);
	}
	tv_set(ctx, "editions", list);
	struct tval *pg = tv_object();
	char num[16];
	snprintf(num, sizeof num, "%d", page);
	tv_set_str(pg, "page", num);
	snprintf(num, sizeof num, "%d", pages);
	tv_set_str(pg, "pages", num);
	tv_set(pg, "later", tv_bool(page > 1));
	/* path-shaped page links: the static copy has them as files */
	if (page > 1) {
		char *u = page == 2 ? xasprintf("%s/archive", root) : xasprintf("%s/archive/page/%d", root, page - 1);
		tv_set_str(pg, "newer_url", u);
		free(u);
	}
	if (page < pages) {
		char *u = xasprintf("%s/archive/page/%d", root, page + 1);
		tv_set_str(pg, "older_url", u);
		free(u);
	}
	tv_set(ctx, "pager", pg);
	flatten(ar->t_index, ctx, out);
	tv_free(ctx);
}

/* The Atom feed (RFC 4287) of the latest editions; links under base_url. */
static int feed_xml(struct archive *ar, struct store *st, const struct archive_state *as, struct buf *out,
		    char **err)
{
	struct archive_rec *e = NULL;
	size_t n = 0;
	if (store_archive_list(st, 0, ARCHIVE_FEED_ENTRIES, &e, &n, err) < 0)
		return -1;
	const char *name = ar->cfg->newsletter.name;
	char when[32];
	rfc3339(as->modified, when);
	buf_addf(out, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\" "
		      "xml:lang=\"%s\">\n<title>", ar->w->lang);
	xml_escapes(out, name);
	buf_adds(out, "</title>\n<subtitle>");
	xml_escapes(out, ar->w->subscribe_lead);
	buf_adds(out, "</subtitle>\n<id>");
	xml_escapes(out, ar->base);
	buf_adds(out, "/archive.atom</id>\n<link rel=\"self\" type=\"application/atom+xml\" href=\"");
	xml_escapes(out, ar->base);
	buf_adds(out, "/archive.atom\"/>\n<link rel=\"alternate\" type=\"text/html\" href=\"");
	xml_escapes(out, ar->base);
	buf_addf(out, "/archive\"/>\n<updated>%s</updated>\n<author><name>", when);
	xml_escapes(out, name);
	buf_adds(out, "</name></author>\n<generator>digest</generator>\n");
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		struct article *a = NULL;
		size_t na = 0;
		struct edition_rec rec;
		if (store_edition_load(st, e[i].date, &rec, &a, &na, err) < 0) {
			rc = -1;
			break;
		}
		char day[128];
		render_date(ar->r, e[i].date, day, sizeof day);
		rfc3339(e[i].built_at, when);
		buf_adds(out, "<entry>\n<title>");
		xml_escapes(out, name);
		buf_adds(out, " — ");
		xml_escapes(out, day);
		buf_adds(out, "</title>\n<id>");
		xml_escapes(out, ar->base);
		buf_addf(out, "/archive/%s</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"", e[i].date);
		xml_escapes(out, ar->base);
		buf_addf(out, "/archive/%s\"/>\n<published>%s</published>\n<updated>%s</updated>\n", e[i].date, when,
			 when);
		struct tval *ctx = render_context(ar->r, e[i].date, a, na);
		struct buf html = {0};
		flatten(ar->t_entry, ctx, &html);
		tv_free(ctx);
		buf_adds(out, "<content type=\"html\">");
		xml_escape(out, html.data ? html.data : "", html.len);
		buf_adds(out, "</content>\n</entry>\n");
		buf_free(&html);
		articles_free(a, na);
	}
	buf_adds(out, "</feed>\n");
	free(e);
	return rc;
}

/* FNV-1a, 64 bits: an entity tag that changes when the body does. */
static void set_doc(struct archive_doc *d, enum archive_what what, struct buf *body, long long mtime)
{
	free(d->body);
	d->body = body->data ? body->data : xstrdup("");
	d->len = body->len;
	body->data = NULL;
	body->len = body->cap = 0;
	uint64_t h = 1469598103934665603ULL;
	for (size_t i = 0; i < d->len; i++) {
		h ^= (unsigned char)d->body[i];
		h *= 1099511628211ULL;
	}
	snprintf(d->etag, sizeof d->etag, "\"%016llx\"", (unsigned long long)h);
	d->mtime = mtime;
	http_date(mtime, d->modified);
	d->type = what == ARCHIVE_FEED ? "application/atom+xml; charset=utf-8" : "text/html; charset=utf-8";
	/* public: nothing personal; an edition's page never changes */
	d->cache_control = what == ARCHIVE_EDITION ? "public, max-age=3600" : "public, max-age=300";
}

/* Build WHAT into *D, or 0 when there is no such page. */
static int build(struct archive *ar, struct store *st, const char *root, enum archive_what what,
		 const char *date, int page, const struct archive_state *as, struct archive_doc *d, char **err)
{
	struct buf b = {0};
	if (what == ARCHIVE_EDITION) {
		struct article *a = NULL;
		size_t n = 0;
		struct edition_rec rec;
		int sent = store_edition_sent(st, date, err);
		if (sent <= 0)
			return sent;
		if (store_edition_load(st, date, &rec, &a, &n, err) < 0)
			return -1;
		edition_html(ar, root, date, a, n, &b);
		articles_free(a, n);
		set_doc(d, what, &b, rec.built_at);
		return 1;
	}
	if (what == ARCHIVE_FEED) {
		if (feed_xml(ar, st, as, &b, err) < 0) {
			buf_free(&b);
			return -1;
		}
		set_doc(d, what, &b, as->modified);
		return 1;
	}
	long long pages = as->count ? (as->count + ARCHIVE_PER_PAGE - 1) / ARCHIVE_PER_PAGE : 1;
	if (page < 1 || page > pages)
		return 0;
	struct archive_rec *e = NULL;
	size_t n = 0;
	if (store_archive_list(st, (long long)(page - 1) * ARCHIVE_PER_PAGE, ARCHIVE_PER_PAGE, &e, &n, err) < 0)
		return -1;
	index_html(ar, root, e, n, page, (int)pages, &b);
	free(e);
	set_doc(d, what, &b, as->modified);
	return 1;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return h;
}

int archive_get(struct archive *ar, struct store *st, const char *root, enum archive_what what, const char *date,
		int page, const struct archive_doc **out, char **err)
{
	*out = NULL;
	root = root ? root : "";
	char key[512];
	if (what == ARCHIVE_EDITION)
		snprintf(key, sizeof key, "E %s %.10s", root, date);
	else if (what == ARCHIVE_INDEX)
		snprintf(key, sizeof key, "I %s %d", root, page);
	else
		snprintf(key, sizeof key, "F");
	struct entry **slot = &ar->bucket[hash_str(key) % BUCKETS];
	struct entry *e = *slot;
	while (e && strcmp(e->key, key))
		e = e->next;
	/* an edition's page never changes once sent: no query at all */
	if (e && what == ARCHIVE_EDITION) {
		*out = &e->doc;
		return 1;
	}
	struct archive_state as = {0};
	char gen[64] = "";
	if (what != ARCHIVE_EDITION) {
		if (store_archive_state(st, &as, err) < 0)
			return -1;
		snprintf(gen, sizeof gen, "%lld %s %lld", as.count, as.latest, as.modified);
		if (e && !strcmp(e->gen, gen)) {
			*out = &e->doc;
			return 1;
		}
	}
	struct archive_doc d = {0};
	int rc = build(ar, st, root, what, date, page, &as, &d, err);
	if (rc <= 0) {
		free(d.body);
		return rc;
	}
	if (!e) {
		if (ar->cached >= ARCHIVE_CACHE_MAX) {
			cache_clear(ar); /* memory stays bounded; the next requests build again */
			slot = &ar->bucket[hash_str(key) % BUCKETS];
		}
		e = xcalloc(1, sizeof *e);
		e->key = xstrdup(key);
		e->next = *slot;
		*slot = e;
		ar->cached++;
	}
	free(e->doc.body);
	e->doc = d;
	snprintf(e->gen, sizeof e->gen, "%s", gen);
	*out = &e->doc;
	return 1;
}

/* ---- the static copy ---- */

/* Write LEN bytes of DATA to PATH unless it holds them already: 1
 * written, 0 unchanged, -1 with *ERR. Through a temporary file in the same
 * directory, renamed over PATH. */
static int write_if_changed(const char *path, const char *data, size_t len, char **err)
{
	FILE *f = fopen(path, "rb");
	if (f) {
		bool same = false;
		struct stat sb;
		if (fstat(fileno(f), &sb) == 0 && (size_t)sb.st_size == len) {
			char *old = xmalloc(len + 1);
			same = fread(old, 1, len, f) == len && !memcmp(old, data, len);
			free(old);
		}
		fclose(f);
		if (same)
			return 0;
	}
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		errf(err, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	size_t done = 0;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		done += (size_t)w;
	}
	int saved = done < len ? (errno ? errno : EIO) : 0;
	if (!saved && fsync(fd) < 0)
		saved = errno;
	if (close(fd) < 0 && !saved)
		saved = errno;
	if (saved) {
		errf(err, "%s: %s", tmp, strerror(saved));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	if (rename(tmp, path) < 0) {
		errf(err, "%s: %s", path, strerror(errno));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	return 1;
}

static int export_doc(const char *dir, const char *sub, const struct archive_doc *d,
		      struct archive_export_stats *stats, char **err)
{
	char *path;
	if (sub) {
		char *where = xasprintf("%s/%s", dir, sub);
		if (mkdir_p(where, 0755) < 0) {
			errf(err, "%s: %s", where, strerror(errno));
			free(where);
			return -1;
		}
		path = xasprintf("%s/index.html", where);
		free(where);
	} else {
		path = xasprintf("%s/%s", dir, d->type[0] == 'a' ? "archive.atom" : "index.html");
	}
	int rc = write_if_changed(path, d->body, d->len, err);
	free(path);
	if (rc < 0)
		return -1;
	if (rc)
		stats->written++;
	else
		stats->unchanged++;
	return 0;
}

int archive_export(struct archive *ar, struct store *st, const char *dir, struct archive_export_stats *stats,
		   char **err)
{
	memset(stats, 0, sizeof *stats);
	if (mkdir_p(dir, 0755) < 0)
		return errf(err, "%s: %s", dir, strerror(errno));
	struct archive_state as;
	if (store_archive_state(st, &as, err) < 0)
		return -1;
	struct archive_doc *d = &ar->scratch;
	long long pages = as.count ? (as.count + ARCHIVE_PER_PAGE - 1) / ARCHIVE_PER_PAGE : 1;
	for (long long p = 1; p <= pages; p++) {
		int rc = build(ar, st, ar->base, ARCHIVE_INDEX, NULL, (int)p, &as, d, err);
		if (rc < 0)
			return -1;
		char sub[32];
		snprintf(sub, sizeof sub, "page/%lld", p);
		if (rc > 0 && export_doc(dir, p > 1 ? sub : NULL, d, stats, err) < 0)
			return -1;
		stats->pages++;
	}
	/* every sent edition, a page of the index at a time */
	for (long long off = 0;; off += ARCHIVE_PER_PAGE) {
		struct archive_rec *e = NULL;
		size_t n = 0;
		if (store_archive_list(st, off, ARCHIVE_PER_PAGE, &e, &n, err) < 0)
			return -1;
		for (size_t i = 0; i < n; i++) {
			int rc = build(ar, st, ar->base, ARCHIVE_EDITION, e[i].date, 0, &as, d, err);
			if (rc < 0 || (rc > 0 && export_doc(dir, e[i].date, d, stats, err) < 0)) {
				free(e);
				return -1;
			}
			stats->editions++;
		}
		free(e);
		if (n < ARCHIVE_PER_PAGE)
			break;
	}
	if (build(ar, st, ar->base, ARCHIVE_FEED, NULL, 0, &as, d, err) < 0 || export_doc(dir, NULL, d, stats, err) < 0)
		return -1;
	return 0;
}
