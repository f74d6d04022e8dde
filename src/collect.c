/* collect: every configured source fetched, its articles extracted and stored. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "digest/collect.h"
#include "digest/extract.h"
#include "digest/fetch.h"
#include "digest/log.h"
#include "digest/parse.h"
#include "digest/url.h"
#include "digest/util.h"

/* An article as found so far in this run, before it is stored. */
struct found {
	char *url; /* normalized */
	int src;      /* the source that found it first: its name is stored */
	int date_src; /* the source whose text `published` is: its date_format */
	bool followed;
	struct raw_fields f;
};

/* What a run knows of each source. */
struct src_state {
	bool ok;           /* its first page was read */
	bool private_ok;   /* links on its pages may reach private addresses */
	int followed;      /* article pages queued */
	bool cap_reported;
	unsigned missed_reported; /* PAGE_MISSED_* bits already warned about */
	bool undated_reported;    /* an article with no date anywhere */
};

struct run {
	const struct config *cfg;
	time_t now, skip_before;
	struct found *items;
	size_t n, cap;
	size_t *slots; /* open addressing by URL: index + 1 into items, 0 empty */
	size_t nslots; /* a power of two, at least twice N */
	uint64_t seed; /* of the hash */
	struct seen_page {
		int src;
		char *url;
	} *pages; /* listing pages queued, per source, to stop `next` loops */
	size_t npages, cap_pages;
	struct src_state *srcs;
	struct collect_stats *stats;
};

struct page_ctx {
	struct run *run;
	int src;
	int page; /* 1 for the source's own URL */
};

struct article_ctx {
	struct run *run;
	size_t item;
	int src;
};

/* The fragment of LINK ("" when none). */
static const char *fragment_of(const char *link)
{
	const char *h = strchr(link, '#');
	return h ? h + 1 : "";
}

struct url_frag {
	const char *url, *frag;
	size_t i;
};

static int by_url_frag(const void *a, const void *b)
{
	const struct url_frag *x = a, *y = b;
	int c = strcmp(x->url, y->url);
	return c ? c : strcmp(x->frag, y->frag);
}

/* The URLs under which the items of one page are stored: url_normalize's
 * (no fragment, no utm_*), except that items of the page whose URLs are
 * one and differ by two or more distinct non-empty fragments (the entries
 * of a live blog, a feed of anchors on one page) keep their fragment and
 * stay distinct; an item without a fragment, or the only one with it,
 * merges as before. An element is NULL where the link is not a URL
 * digest stores. Malloc'd, like each element. */
static char **page_urls(const struct page_result *pr)
{
	size_t n = pr->nitems;
	char **urls = xcalloc(n ? n : 1, sizeof *urls);
	struct url_frag *uf = xcalloc(n ? n : 1, sizeof *uf);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		urls[i] = url_normalize(pr->items[i].link);
		if (urls[i])
			uf[m++] = (struct url_frag){urls[i], fragment_of(pr->items[i].link), i};
	}
	/* sorted by URL then fragment: a run of one URL, its fragments in
	 * order (the empty one first) */
	qsort(uf, m, sizeof *uf, by_url_frag);
	size_t keep = 0; /* items whose fragment is kept: appended below */
	for (size_t a = 0; a < m;) {
		size_t b = a + 1, distinct = *uf[a].frag != '\0';
		for (; b < m && !strcmp(uf[b].url, uf[a].url); b++)
			distinct += *uf[b].frag && strcmp(uf[b].frag, uf[b - 1].frag);
		if (distinct >= 2)
			for (size_t k = a; k < b; k++)
				if (*uf[k].frag)
					uf[keep++] = uf[k]; /* keep <= k: nothing unread is overwritten */
		a = b;
	}
	for (size_t k = 0; k < keep; k++) {
		size_t i = uf[k].i;
		char *u = xasprintf("%s#%s", urls[i], uf[k].frag);
		free(urls[i]);
		urls[i] = u;
	}
	free(uf);
	return urls;
}

/* Warn, once per source and run, of each selector that gave nothing in any
 * item of a page: the link (items dropped), the title (articles
 * dropped), the date, views and comments (ranking without them). The
 * summary and image are often absent and stay silent. */
static void report_missed(struct run *run, int s, const struct page_result *pr, const char *url)
{
	const struct source *src = &run->cfg->sources[s];
	struct src_state *st = &run->srcs[s];
	unsigned fresh = pr->missed & ~st->missed_reported;
	/* a feed's defaults are named as the page's format has them */
	if (fresh & PAGE_MISSED_LINK)
		log_warn("source %s: %s: the link selector %s gave no link in any of the items (items skipped)",
			 src->name, url, pr->missed_defaults[FIELD_COUNT] ? pr->missed_defaults[FIELD_COUNT] : src->link);
	static const int loud[] = {FIELD_TITLE, FIELD_PUBLISHED, FIELD_VIEWS, FIELD_COMMENTS};
	for (size_t k = 0; k < sizeof loud / sizeof loud[0]; k++) {
		int i = loud[k];
		if (!(fresh & PAGE_MISSED_FIELD(i)))
			continue;
		log_warn("source %s: %s: the %s selector %s selected nothing in any item%s", src->name, url,
			 field_names[i], pr->missed_defaults[i] ? pr->missed_defaults[i] : src->list.v[i],
			 i == FIELD_TITLE ? " (articles without a title are skipped)" : "");
	}
	st->missed_reported |= pr->missed;
}

static void on_list(struct fetcher *f, const struct fetch_result *r, void *arg);
static void on_article(struct fetcher *f, const struct fetch_result *r, void *arg);

/* Whether SRC already queued the listing page URL; records it if not. */
static int page_seen(struct run *run, int src, const char *url)
{
	for (size_t i = 0; i < run->npages; i++)
		if (run->pages[i].src == src && !strcmp(run->pages[i].url, url))
			return 1;
	if (run->npages == run->cap_pages) {
		run->cap_pages = run->cap_pages ? run->cap_pages * 2 : 16;
		run->pages = xrealloc(run->pages, run->cap_pages * sizeof *run->pages);
	}
	run->pages[run->npages].src = src;
	run->pages[run->npages++].url = xstrdup(url);
	return 0;
}

/* Flags for a URL found on a page of SRC (a `next` link, an article). */
static int found_flags(const struct run *run, int src)
{
	return run->srcs[src].private_ok ? 0 : FETCH_PUBLIC_ONLY;
}

static void queue_page(struct fetcher *f, struct run *run, int src, int page, const char *url, int flags)
{
	struct page_ctx *c = xmalloc(sizeof *c);
	*c = (struct page_ctx){run, src, page};
	fetcher_add(f, url, flags, on_list, c);
}

/* Move the fields FROM has and INTO lacks. */
static void merge_fields(struct raw_fields *into, struct raw_fields *from)
{
	for (int i = 0; i < FIELD_COUNT; i++) {
		if (!into->v[i] && from->v[i]) {
			into->v[i] = from->v[i];
			from->v[i] = NULL;
		}
	}
}

/* FNV-1a from a random start, then a full avalanche (murmur3's fmix64),
 * so that a page cannot be made of links that all fall in one slot. */
static uint64_t hash(uint64_t seed, const char *s)
{
	uint64_t h = 14695981039346656037ULL ^ seed;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ULL;
	h ^= h >> 33;
	return h;
}

static uint64_t random_seed(void)
{
	uint64_t seed = 0;
	if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != (ssize_t)sizeof seed) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ULL ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
	}
	return seed;
}

/* The slot of URL: where it is, or the empty one where it would go. A
 * hostile listing may hold many thousand items, so no linear search. */
static size_t *slot_of(struct run *run, const char *url)
{
	size_t mask = run->nslots - 1;
	for (size_t i = (size_t)hash(run->seed, url) & mask;; i = (i + 1) & mask) {
		size_t *s = &run->slots[i];
		if (!*s || !strcmp(run->items[*s - 1].url, url))
			return s;
	}
}

static void grow_index(struct run *run)
{
	if (run->nslots >= 2 * (run->n + 1))
		return;
	free(run->slots);
	run->nslots = run->nslots ? run->nslots * 2 : 128;
	run->slots = xcalloc(run->nslots, sizeof *run->slots);
	for (size_t i = 0; i < run->n; i++)
		*slot_of(run, run->items[i].url) = i + 1;
}

/* TEXT read as a date by SRC's date_format, date_order and language. */
static int source_date(const struct source *src, const char *text, time_t now, time_t *t)
{
	const struct date_rules rules = { src->date_format, src->date_order, src->language };
	return parse_date_rules(text, &rules, now, t);
}

/* Whether F is dated, by its listing, before anything an edition can use
 * (SRC: the source whose date_format reads it). */
static int too_old(const struct run *run, const struct source *src, const struct raw_fields *f)
{
	time_t t;
	return f->published && source_date(src, f->published, run->now, &t) == 0 &&
	       t < run->skip_before;
}

/* Whether an article page of SRC could give F something it lacks. */
static int worth_following(const struct source *src, const struct raw_fields *f)
{
	for (int i = 0; i < FIELD_COUNT; i++)
		if (src->article.v[i] && !f->v[i])
			return 1;
	return 0;
}

/* Queue the article page of item I for source S if it may fill something
 * in, once per item, and within the source's max_follow. */
static void maybe_follow(struct fetcher *f, struct run *run, size_t i, int s, const char *link)
{
	const struct source *src = &run->cfg->sources[s];
	struct found *fd = &run->items[i];
	const struct source *dsrc = &run->cfg->sources[fd->date_src];
	if (fd->followed || !src->follow || too_old(run, dsrc, &fd->f) || !worth_following(src, &fd->f))
		return;
	struct src_state *st = &run->srcs[s];
	if (st->followed >= src->max_follow) {
		if (!st->cap_reported)
			log_warn("source %s: more than %d article pages to open; the rest are skipped "
				 "(max_follow)", src->name, src->max_follow);
		st->cap_reported = true;
		return;
	}
	st->followed++;
	fd->followed = true;
	struct article_ctx *ac = xmalloc(sizeof *ac);
	*ac = (struct article_ctx){run, i, s};
	fetcher_add(f, link, found_flags(run, s), on_article, ac);
}

static void on_article(struct fetcher *f, const struct fetch_result *r, void *arg)
{
	(void)f;
	struct article_ctx *c = arg;
	struct run *run = c->run;
	const struct source *src = &run->cfg->sources[c->src];
	run->stats->followed++;
	if (r->error) {
		log_warn("source %s: %s: %s (article page skipped)", src->name, r->url, r->error);
	} else if (extract_type_ok(r->content_type) < 0) {
		log_warn("source %s: %s: not a page (Content-Type %s; article page skipped)", src->name,
			 r->url, r->content_type);
	} else {
		char *err = NULL;
		char *charset = extract_charset(r->content_type);
		if (extract_article(src, r->final_url, r->body, r->len, charset, &run->items[c->item].f, &err) < 0)
			log_warn("source %s: %s: %s (article page skipped)", src->name, r->url, err);
		free(charset);
		free(err);
	}
	free(c);
}

static void on_list(struct fetcher *f, const struct fetch_result *r, void *arg)
{
	struct page_ctx *c = arg;
	struct run *run = c->run;
	const struct source *src = &run->cfg->sources[c->src];
	struct page_result pr;
	char *err = NULL;
	char *charset = NULL;
	if (r->error) {
		err = xstrdup(r->error);
	} else if (extract_type_ok(r->content_type) < 0) {
		err = xasprintf("not a page or feed (Content-Type %s)", r->content_type);
	} else {
		charset = extract_charset(r->content_type);
		extract_list(src, r->final_url, r->body, r->len, charset, &pr, &err);
	}
	if (err) {
		if (c->page == 1)
			log_error("source %s: %s: %s", src->name, r->url, err);
		else
			log_warn("source %s: %s: %s (page %d skipped)", src->name, r->url, err, c->page);
		goto out;
	}
	run->stats->pages++;
	if (c->page == 1) {
		/* the configured page decides where links on the source's pages
		 * may lead: a source on the local network may link within it */
		struct src_state *st = &run->srcs[c->src];
		st->ok = true;
		int mode = run->cfg->fetch.private_addresses;
		st->private_ok = mode == PRIVATE_ALLOW ||
				 (mode == PRIVATE_AUTO && (!r->primary_ip || fetch_ip_is_private(r->primary_ip) != 0));
	}
	report_missed(run, c->src, &pr, r->url);
	size_t fresh = 0; /* items that may still be in the window */
	char **urls = page_urls(&pr);
	for (size_t i = 0; i < pr.nitems; i++) {
		struct raw_item *it = &pr.items[i];
		fresh += !too_old(run, src, &it->f);
		char *url = urls[i];
		urls[i] = NULL;
		if (!url)
			continue;
		/* A listing date that does not read is missing, so that the
		 * article page (follow) may give one. */
		time_t t;
		if (it->f.published &&
		    source_date(src, it->f.published, run->now, &t) < 0) {
			log_info("source %s: %s: unreadable date \"%s\" on the listing", src->name, it->link,
				 it->f.published);
			free(it->f.published);
			it->f.published = NULL;
		}
		grow_index(run);
		size_t *slot = slot_of(run, url);
		if (*slot) {
			/* seen already, maybe from another source: take what it
			 * lacks, and let this source open the page if it still
			 * lacks something this source's article selectors give */
			struct found *old = &run->items[*slot - 1];
			if (!old->f.published && it->f.published)
				old->date_src = c->src;
			merge_fields(&old->f, &it->f);
			maybe_follow(f, run, *slot - 1, c->src, it->link);
			free(url);
			continue;
		}
		if (run->n == run->cap) {
			run->cap = run->cap ? run->cap * 2 : 64;
			run->items = xrealloc(run->items, run->cap * sizeof *run->items);
		}
		struct found *fd = &run->items[run->n++];
		*slot = run->n;
		fd->url = url;
		fd->src = fd->date_src = c->src;
		fd->followed = false;
		fd->f = it->f;
		memset(&it->f, 0, sizeof it->f);
		maybe_follow(f, run, run->n - 1, c->src, it->link);
	}
	/* Listings run newest first: past a page of only old items, the
	 * following pages cannot hold anything for the edition. */
	if (pr.next && fresh == 0)
		log_info("source %s: %s: every item is older than the window; not reading further pages",
			 src->name, r->url);
	else if (pr.next && c->page < src->max_pages && !page_seen(run, c->src, pr.next))
		queue_page(f, run, c->src, c->page + 1, pr.next, found_flags(run, c->src));
	free(urls);
	page_result_free(&pr);
out:
	free(charset);
	free(err);
	free(c);
}

/* Turn what was found into an article; 0, or -1 when it has no title. */
static int to_article(const struct run *run, struct found *fd, struct article *a)
{
	const struct source *src = &run->cfg->sources[fd->src];
	const struct source *dsrc = &run->cfg->sources[fd->date_src];
	memset(a, 0, sizeof *a);
	if (!fd->f.title) {
		log_info("source %s: %s: no title, skipped", src->name, fd->url);
		return -1;
	}
	a->url = fd->url;
	a->source = src->name;
	a->title = fd->f.title;
	a->summary = fd->f.summary;
	a->image = fd->f.image;
	a->first_seen = a->last_seen = run->now;
	time_t t;
	a->published_known = fd->f.published && source_date(dsrc, fd->f.published, run->now, &t) == 0;
	a->published = a->published_known ? t : run->now;
	/* a site's clock a little ahead must not keep its newest article out
	 * of the window that ends now */
	if (a->published > run->now && a->published <= run->now + PARSE_FUTURE_SLACK)
		a->published = run->now;
	if (fd->f.published && !a->published_known)
		log_info("source %s: %s: unreadable date \"%s\"", src->name, fd->url, fd->f.published);
	if (!fd->f.views || parse_count(fd->f.views, &a->views) < 0)
		a->views = -1;
	if (!fd->f.comments || parse_count(fd->f.comments, &a->comments) < 0)
		a->comments = -1;
	a->has_rating = fd->f.rating && parse_number(fd->f.rating, &a->rating) == 0;
	return 0;
}

static int store_all(struct run *run, struct store *st, char **err)
{
	if (store_begin(st, err) < 0)
		return -1;
	for (size_t i = 0; i < run->n; i++) {
		struct article a;
		if (to_article(run, &run->items[i], &a) < 0)
			continue;
		struct src_state *ss = &run->srcs[run->items[i].src];
		if (!a.published_known && !ss->undated_reported) {
			log_warn("source %s: %s: no date on the listing or the article page; counted as "
				 "published when first seen (and so for other undated articles of the source)",
				 run->cfg->sources[run->items[i].src].name, a.url);
			ss->undated_reported = true;
		}
		if (store_article_upsert(st, &a, err) < 0) {
			store_rollback(st);
			return -1;
		}
		run->stats->articles++;
	}
	return store_commit(st, err);
}

int collect_run(const struct config *cfg, struct store *st, time_t now, time_t skip_before,
		bool progress, struct collect_stats *stats, char **err)
{
	memset(stats, 0, sizeof *stats);
	stats->sources = cfg->nsources;
	struct run run = {.cfg = cfg, .now = now, .skip_before = skip_before, .stats = stats,
			  .seed = random_seed()};
	run.srcs = xcalloc((size_t)cfg->nsources + 1, sizeof *run.srcs);
	int rc = -1;
	struct fetcher *f = fetcher_new(&cfg->fetch, progress);
	if (!f) {
		errf(err, "cannot start fetching (libcurl)");
		goto out;
	}
	for (int i = 0; i < cfg->nsources; i++) {
		page_seen(&run, i, cfg->sources[i].url);
		queue_page(f, &run, i, 1, cfg->sources[i].url, 0);
	}
	if (fetcher_run(f) < 0) {
		errf(err, "fetching failed inside libcurl");
		goto out;
	}
	for (int i = 0; i < cfg->nsources; i++)
		stats->failed += !run.srcs[i].ok;
	rc = store_all(&run, st, err);
out:
	fetcher_free(f);
	for (size_t i = 0; i < run.n; i++) {
		free(run.items[i].url);
		raw_fields_free(&run.items[i].f);
	}
	free(run.items);
	free(run.slots);
	for (size_t i = 0; i < run.npages; i++)
		free(run.pages[i].url);
	free(run.pages);
	free(run.srcs);
	return rc;
}
