/* template: the Mustache subset of digest's templates, parsed once per run, rendered once per edition. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/template.h"

#define MAX_PARTIAL_DEPTH 16
/* Sections open at once, partials included: rendering, freeing and
 * flattening recurse once per level, so hostile nesting must not reach
 * the end of the C stack. */
#define MAX_NEST 100
/* Template bytes parsed for one tmpl_parse, every partial expansion
 * counted: a partial that includes another twice, sixteen deep, would
 * otherwise expand to 2^16 copies. */
#define MAX_SOURCE ((size_t)8 << 20)

/* Grow *P (an array of SIZE-byte elements with capacity *CAP) to hold NEED. */
static void *grow(void *p, size_t *cap, size_t need, size_t size)
{
	if (need <= *cap)
		return p;
	size_t c = *cap ? *cap : 4;
	while (c < need)
		c *= 2;
	*cap = c;
	return xrealloc(p, c * size);
}

/* ---- Values ---- */

struct tmember {
	char *name;
	size_t len;
	struct tval *v;
};

struct tval {
	enum tval_kind kind;
	bool b;                  /* TV_BOOL */
	int slot;                /* TV_SLOT */
	char *s;                 /* TV_STRING */
	size_t slen;
	struct tval **items;     /* TV_LIST */
	struct tmember *members; /* TV_OBJECT */
	size_t n, cap;           /* of items or members */
};

static struct tval *tv_new(enum tval_kind kind)
{
	struct tval *v = xcalloc(1, sizeof *v);
	v->kind = kind;
	return v;
}

struct tval *tv_object(void) { return tv_new(TV_OBJECT); }
struct tval *tv_list(void) { return tv_new(TV_LIST); }

struct tval *tv_string(const char *s)
{
	if (!s)
		return tv_new(TV_NULL);
	struct tval *v = tv_new(TV_STRING);
	v->slen = strlen(s);
	v->s = xstrndup(s, v->slen);
	return v;
}

struct tval *tv_bool(bool b)
{
	struct tval *v = tv_new(TV_BOOL);
	v->b = b;
	return v;
}

struct tval *tv_slot(int slot)
{
	struct tval *v = tv_new(TV_SLOT);
	v->slot = slot;
	return v;
}

void tv_set(struct tval *obj, const char *name, struct tval *v)
{
	/* V is ours from here on: dropped rather than leaked on misuse */
	if (!obj || obj->kind != TV_OBJECT || !name) {
		tv_free(v);
		return;
	}
	size_t len = strlen(name);
	for (size_t i = 0; i < obj->n; i++) {
		struct tmember *m = &obj->members[i];
		if (m->len == len && memcmp(m->name, name, len) == 0) {
			tv_free(m->v);
			m->v = v;
			return;
		}
	}
	obj->members = grow(obj->members, &obj->cap, obj->n + 1, sizeof *obj->members);
	obj->members[obj->n++] = (struct tmember){xstrndup(name, len), len, v};
}

void tv_set_str(struct tval *obj, const char *name, const char *s) { tv_set(obj, name, tv_string(s)); }

void tv_append(struct tval *list, struct tval *v)
{
	if (!list || list->kind != TV_LIST) {
		tv_free(v);
		return;
	}
	list->items = grow(list->items, &list->cap, list->n + 1, sizeof *list->items);
	list->items[list->n++] = v;
}

void tv_free(struct tval *v)
{
	if (!v)
		return;
	free(v->s);
	if (v->kind == TV_LIST)
		for (size_t i = 0; i < v->n; i++)
			tv_free(v->items[i]);
	if (v->kind == TV_OBJECT)
		for (size_t i = 0; i < v->n; i++) {
			free(v->members[i].name);
			tv_free(v->members[i].v);
		}
	free(v->items);
	free(v->members);
	free(v);
}

/* ---- Parsed templates ---- */

enum node_kind { N_TEXT, N_VAR, N_SECTION };

struct node;
struct nodes {
	struct node *v;
	size_t n, cap;
};

struct node {
	enum node_kind kind;
	bool raw;          /* N_VAR: never escaped */
	bool inverted;     /* N_SECTION */
	char *s;           /* N_TEXT: the text; else the name, dotted or "." */
	size_t len;
	struct nodes body; /* N_SECTION */
};

struct tmpl {
	struct nodes root;
	bool html;
};

static void nodes_free(struct nodes *ns)
{
	for (size_t i = 0; i < ns->n; i++) {
		free(ns->v[i].s);
		nodes_free(&ns->v[i].body);
	}
	free(ns->v);
}

void tmpl_free(struct tmpl *t)
{
	if (!t)
		return;
	nodes_free(&t->root);
	free(t);
}

/* Where parsed nodes go. Shared by a template and the partials it
 * includes, so that a partial's nodes land inline in the including
 * section and text on either side of a partial tag merges. */
struct sink {
	struct nodes *cur; /* the innermost open section's body, or the root */
	struct buf text;   /* text not yet in a node */
	int nest;          /* sections open */
	size_t budget;     /* source bytes still allowed */
};

struct parser {
	const char *name; /* in messages: the template's name or the partial's path */
	const char *src;
	size_t len;
	bool html;
	const char *partial_dir;
	/* A standalone partial tag's indentation goes before each line of the
	 * partial, as Mustache says, so that an indented partial in a text
	 * template stays indented. */
	const char *indent;
	size_t indent_len;
	int depth; /* of partials */
	struct sink *sink;
	char **err;
};

static void flush_text(struct sink *k)
{
	if (!k->text.len) {
		buf_free(&k->text);
		return;
	}
	k->cur->v = grow(k->cur->v, &k->cur->cap, k->cur->n + 1, sizeof *k->cur->v);
	k->cur->v[k->cur->n++] = (struct node){.kind = N_TEXT, .s = k->text.data, .len = k->text.len};
	k->text = (struct buf){0};
}

/* A new node at the end of the current list, text before it flushed. Open
 * sections live in the lists above the current one, which do not grow
 * while they are open: pointers to them stay valid. */
static struct node *add_node(struct sink *k, enum node_kind kind)
{
	flush_text(k);
	k->cur->v = grow(k->cur->v, &k->cur->cap, k->cur->n + 1, sizeof *k->cur->v);
	struct node *nd = &k->cur->v[k->cur->n++];
	*nd = (struct node){.kind = kind};
	return nd;
}

/* NAME (N bytes) fit for a message: printable ASCII, the rest as \xNN, cut at 40 bytes. */
#define QUOTE_MAX (40 * 4 + 4)
static const char *quote(char out[QUOTE_MAX], const char *s, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (i == 40) {
			memcpy(out + o, "...", 3);
			o += 3;
			break;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* Line and column (1-based; the column in UTF-8 characters, a tab being one)
 * of offset OFF of S. */
static void position(const char *s, size_t off, size_t *line, size_t *col)
{
	size_t l = 1, c = 1;
	for (size_t i = 0; i < off; i++) {
		if (s[i] == '\n') {
			l++;
			c = 1;
		} else if (((unsigned char)s[i] & 0xC0) != 0x80) {
			c++;
		}
	}
	*line = l;
	*col = c;
}

__attribute__((format(printf, 3, 4))) static int perr(const struct parser *p, size_t off, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	char *msg = xmalloc(n > 0 ? (size_t)n + 1 : 1);
	msg[0] = '\0';
	va_start(ap, fmt);
	if (n > 0)
		vsnprintf(msg, (size_t)n + 1, fmt, ap);
	va_end(ap);
	size_t line, col;
	position(p->src, off, &line, &col);
	errf(p->err, "%s:%zu:%zu: %s", p->name, line, col, msg);
	free(msg);
	return -1;
}

/* Append source bytes [A, B) as text, with the indentation before each line. */
static void emit_text(const struct parser *p, size_t a, size_t b)
{
	struct buf *t = &p->sink->text;
	if (a >= b)
		return;
	if (!p->indent_len) {
		buf_add(t, p->src + a, b - a);
		return;
	}
	while (a < b) {
		if (a == 0 || p->src[a - 1] == '\n')
			buf_add(t, p->indent, p->indent_len);
		const char *nl = memchr(p->src + a, '\n', b - a);
		size_t e = nl ? (size_t)(nl - p->src) + 1 : b;
		buf_add(t, p->src + a, e - a);
		a = e;
	}
}

/* The indentation before a tag that is not standalone and starts a line. */
static void emit_indent_at(const struct parser *p, size_t off)
{
	if (p->indent_len && (off == 0 || p->src[off - 1] == '\n'))
		buf_add(&p->sink->text, p->indent, p->indent_len);
}

struct tag {
	char sigil;        /* 0 (a variable), '{', '&', '#', '^', '/', '!' or '>' */
	size_t start, end; /* of the whole tag, braces included */
	const char *name;  /* trimmed */
	size_t nlen;
};

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static int scan_tag(const struct parser *p, size_t ts, struct tag *tg)
{
	static const char sigils[] = "{&#^/!>=";
	const char *s = p->src;
	size_t i = ts + 2;
	tg->sigil = 0;
	tg->start = ts;
	if (i < p->len && memchr(sigils, s[i], sizeof sigils - 1))
		tg->sigil = s[i++];
	if (tg->sigil == '=')
		return perr(p, ts, "set-delimiter tags {{=...=}} are not supported");
	const char *close = tg->sigil == '{' ? "}}}" : "}}";
	size_t clen = strlen(close);
	const char *e = memmem(s + i, p->len - i, close, clen);
	if (!e)
		return perr(p, ts, "unterminated tag: no \"%s\" after it", close);
	size_t ne = (size_t)(e - s);
	tg->end = ne + clen;
	while (i < ne && is_space(s[i]))
		i++;
	while (ne > i && is_space(s[ne - 1]))
		ne--;
	tg->name = s + i;
	tg->nlen = ne - i;
	return 0;
}

/* A variable or section name: "." or dot-separated [A-Za-z0-9_-]+. */
static int check_name(const struct parser *p, const struct tag *tg)
{
	char q[QUOTE_MAX];
	const char *s = tg->name;
	size_t n = tg->nlen;
	if (!n)
		return perr(p, tg->start, "empty name in tag");
	if (n == 1 && s[0] == '.')
		return 0;
	bool empty = true;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '.') {
			if (empty)
				break;
			empty = true;
		} else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
			   c == '-') {
			empty = false;
		} else {
			return perr(p, tg->start, "invalid character in name \"%s\" (letters, digits, _ - and . only)",
				    quote(q, s, n));
		}
	}
	if (empty)
		return perr(p, tg->start, "invalid name \"%s\": an empty part between dots", quote(q, s, n));
	return 0;
}

/*
 * Mustache's standalone rule: a section, inverted, close, comment or partial
 * tag alone on its line (but for spaces and tabs) takes the whole line with
 * it, so that templates can put one tag a line without blank lines in the
 * output. On success *LS is where the line starts, *NEXT where the next one does.
 */
static bool standalone(const struct parser *p, size_t pos, const struct tag *tg, size_t *ls, size_t *next)
{
	const char *s = p->src;
	size_t a = tg->start;
	while (a > pos && (s[a - 1] == ' ' || s[a - 1] == '\t'))
		a--;
	if (a > 0 && s[a - 1] != '\n')
		return false;
	size_t b = tg->end;
	while (b < p->len && (s[b] == ' ' || s[b] == '\t'))
		b++;
	if (b + 1 < p->len && s[b] == '\r' && s[b + 1] == '\n')
		b += 2;
	else if (b < p->len && s[b] == '\n')
		b++;
	else if (b < p->len)
		return false;
	*ls = a;
	*next = b;
	return true;
}

static int read_file(const char *path, char **data, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -1;
	struct buf b = {0};
	char chunk[8192];
	size_t n;
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b.len + n > MAX_SOURCE) {
			buf_free(&b);
			fclose(f);
			errno = EFBIG;
			return -1;
		}
		buf_add(&b, chunk, n);
	}
	int e = ferror(f) ? (errno ? errno : EIO) : 0;
	fclose(f);
	if (e) {
		buf_free(&b);
		errno = e;
		return -1;
	}
	buf_add(&b, "", 0);
	*data = b.data;
	*len = b.len;
	return 0;
}

static int parse_src(const struct parser *p);

static int parse_partial(const struct parser *p, const struct tag *tg, bool alone, size_t ls)
{
	char q[QUOTE_MAX];
	const char *s = tg->name;
	size_t n = tg->nlen;
	if (!n)
		return perr(p, tg->start, "empty partial name");
	quote(q, s, n);
	/* a name is a file in the partial directory, never a way out of it */
	if (s[0] == '.')
		return perr(p, tg->start, "invalid partial name \"%s\": starts with a dot", q);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f || s[i] == '/')
			return perr(p, tg->start, "invalid character in partial name \"%s\"", q);
	if (!p->partial_dir)
		return perr(p, tg->start, "partial \"%s\": no directory to read partials from", q);
	if (p->depth >= MAX_PARTIAL_DEPTH)
		return perr(p, tg->start, "partial \"%s\": partials nested deeper than %d", q, MAX_PARTIAL_DEPTH);

	/* "item" in "digest.html" is "item.html"; "item.txt" stays. A template
	 * named otherwise (the subject line) takes the extension of its kind. */
	const char *base = strrchr(p->name, '/');
	const char *ext = strrchr(base ? base : p->name, '.');
	if (!ext || (strcmp(ext, ".html") != 0 && strcmp(ext, ".txt") != 0))
		ext = p->html ? ".html" : ".txt";
	if (memchr(s, '.', n))
		ext = "";
	char *path = xasprintf("%s/%.*s%s", p->partial_dir, (int)n, s, ext);
	char *data = NULL, *indent = NULL;
	size_t len = 0;
	int rc = -1;
	if (read_file(path, &data, &len) < 0) {
		perr(p, tg->start, "unknown partial \"%s\": %s: %s", q, path, strerror(errno));
		goto out;
	}
	struct parser sub = *p;
	sub.name = path;
	sub.src = data;
	sub.len = len;
	sub.depth = p->depth + 1;
	sub.indent = "";
	sub.indent_len = 0;
	if (alone) {
		size_t own = tg->start - ls;
		indent = xmalloc(p->indent_len + own + 1);
		memcpy(indent, p->indent, p->indent_len);
		memcpy(indent + p->indent_len, p->src + ls, own);
		sub.indent = indent;
		sub.indent_len = p->indent_len + own;
	}
	rc = parse_src(&sub);
out:
	free(indent);
	free(data);
	free(path);
	return rc;
}

struct open {
	struct node *sec;
	struct nodes *outer;
	size_t off;
};

static int parse_src(const struct parser *p)
{
	struct sink *k = p->sink;
	struct open *stack = NULL;
	size_t nstack = 0, capstack = 0, pos = 0;
	char q[QUOTE_MAX], q2[QUOTE_MAX];
	int rc = -1;

	if (p->len > k->budget)
		return perr(p, 0, "templates too large: over %zu bytes with partials expanded", MAX_SOURCE);
	k->budget -= p->len;

	for (;;) {
		const char *t = memmem(p->src + pos, p->len - pos, "{{", 2);
		if (!t) {
			emit_text(p, pos, p->len);
			break;
		}
		struct tag tg = {0};
		if (scan_tag(p, (size_t)(t - p->src), &tg) < 0)
			goto out;
		size_t ls = 0, next = 0;
		bool alone = tg.sigil && strchr("#^/!>", tg.sigil) && standalone(p, pos, &tg, &ls, &next);
		if (alone) {
			emit_text(p, pos, ls);
			pos = next;
		} else {
			emit_text(p, pos, tg.start);
			emit_indent_at(p, tg.start);
			pos = tg.end;
		}

		switch (tg.sigil) {
		case '!':
			break;
		case '>':
			if (parse_partial(p, &tg, alone, ls) < 0)
				goto out;
			break;
		case '#':
		case '^': {
			if (check_name(p, &tg) < 0)
				goto out;
			if (k->nest >= MAX_NEST) {
				perr(p, tg.start, "sections nested deeper than %d", MAX_NEST);
				goto out;
			}
			struct node *nd = add_node(k, N_SECTION);
			nd->s = xstrndup(tg.name, tg.nlen);
			nd->len = tg.nlen;
			nd->inverted = tg.sigil == '^';
			stack = grow(stack, &capstack, nstack + 1, sizeof *stack);
			stack[nstack++] = (struct open){nd, k->cur, tg.start};
			k->cur = &nd->body;
			k->nest++;
			break;
		}
		case '/': {
			if (check_name(p, &tg) < 0)
				goto out;
			if (!nstack) {
				perr(p, tg.start, "unexpected close tag \"%s\": no section is open",
				     quote(q, tg.name, tg.nlen));
				goto out;
			}
			struct open *o = &stack[nstack - 1];
			if (o->sec->len != tg.nlen || memcmp(o->sec->s, tg.name, tg.nlen) != 0) {
				size_t line, col;
				position(p->src, o->off, &line, &col);
				perr(p, tg.start, "close tag \"%s\" does not match section \"%s\" opened at %zu:%zu",
				     quote(q, tg.name, tg.nlen), quote(q2, o->sec->s, o->sec->len), line, col);
				goto out;
			}
			flush_text(k);
			k->cur = o->outer;
			k->nest--;
			nstack--;
			break;
		}
		default: { /* a variable: 0, '{' or '&' */
			if (check_name(p, &tg) < 0)
				goto out;
			struct node *nd = add_node(k, N_VAR);
			nd->s = xstrndup(tg.name, tg.nlen);
			nd->len = tg.nlen;
			nd->raw = tg.sigil != 0;
			break;
		}
		}
	}
	if (nstack) {
		struct open *o = &stack[nstack - 1];
		perr(p, o->off, "unclosed section \"%s\"", quote(q, o->sec->s, o->sec->len));
		goto out;
	}
	rc = 0;
out:
	free(stack);
	return rc;
}

int tmpl_parse(const char *name, const char *src, size_t len, bool html, const char *partial_dir,
	       struct tmpl **out, char **err)
{
	*out = NULL;
	struct tmpl *t = xcalloc(1, sizeof *t);
	t->html = html;
	struct sink k = {.cur = &t->root, .budget = MAX_SOURCE};
	struct parser p = {
		.name = name ? name : "template",
		.src = src ? src : "",
		.len = src ? len : 0,
		.html = html,
		.partial_dir = partial_dir,
		.indent = "",
		.sink = &k,
		.err = err,
	};
	int rc = parse_src(&p);
	/* on error too: K.CUR is still a list of the tree, and the tree frees it */
	flush_text(&k);
	if (rc < 0) {
		tmpl_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

int tmpl_load(const char *dir, const char *file, struct tmpl **out, char **err)
{
	*out = NULL;
	char *path = path_resolve(dir, file);
	char *pdir = dir ? xstrdup(dir) : path_dir(path);
	char *data = NULL;
	size_t len = 0;
	int rc;
	if (read_file(path, &data, &len) < 0) {
		rc = errf(err, "%s: %s", path, strerror(errno));
	} else {
		size_t fl = strlen(file);
		bool html = fl >= 5 && strcmp(file + fl - 5, ".html") == 0;
		rc = tmpl_parse(path, data, len, html, pdir, out, err);
	}
	free(data);
	free(pdir);
	free(path);
	return rc;
}

/* ---- Rendering ---- */

/* The context stack: innermost first, on the C stack of render_nodes. */
struct frame {
	const struct tval *v;
	const struct frame *up;
};

static const struct tmember *member(const struct tval *v, const char *name, size_t len)
{
	if (!v || v->kind != TV_OBJECT)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (v->members[i].len == len && memcmp(v->members[i].name, name, len) == 0)
			return &v->members[i];
	return NULL;
}

/* As Mustache: the innermost context that has the first part of the name,
 * then the rest walked from there (and not searched for further out). */
static const struct tval *lookup(const struct frame *f, const char *name, size_t len)
{
	if (len == 1 && name[0] == '.')
		return f->v;
	const char *end = name + len;
	const char *dot = memchr(name, '.', len);
	const char *part_end = dot ? dot : end;
	const struct tmember *m = NULL;
	for (; f && !m; f = f->up)
		m = member(f->v, name, (size_t)(part_end - name));
	while (m && part_end < end) {
		name = part_end + 1;
		dot = memchr(name, '.', (size_t)(end - name));
		part_end = dot ? dot : end;
		m = member(m->v, name, (size_t)(part_end - name));
	}
	return m ? m->v : NULL;
}

struct rsink {
	struct tout *out;
	struct buf text; /* text since the last hole: merged into one segment */
};

static void rflush(struct rsink *r)
{
	if (!r->text.len) {
		buf_free(&r->text);
		return;
	}
	struct tout *o = r->out;
	o->segs = grow(o->segs, &o->cap, o->n + 1, sizeof *o->segs);
	o->segs[o->n++] = (struct tseg){.kind = TSEG_TEXT, .text = r->text.data, .len = r->text.len};
	r->text = (struct buf){0};
}

static struct tseg *rseg(struct rsink *r, enum tseg_kind kind)
{
	rflush(r);
	struct tout *o = r->out;
	o->segs = grow(o->segs, &o->cap, o->n + 1, sizeof *o->segs);
	struct tseg *sg = &o->segs[o->n++];
	*sg = (struct tseg){.kind = kind};
	return sg;
}

static bool truthy(const struct tval *v)
{
	if (!v)
		return false;
	switch (v->kind) {
	case TV_STRING:
		return v->slen > 0;
	case TV_BOOL:
		return v->b;
	case TV_LIST:
		return v->n > 0;
	case TV_OBJECT:
	case TV_SLOT:
		return true;
	case TV_NULL:
		break;
	}
	return false;
}

static void render_nodes(const struct tmpl *t, const struct nodes *ns, const struct frame *f, struct rsink *r);

static void render_var(const struct tmpl *t, const struct node *nd, const struct frame *f, struct rsink *r)
{
	const struct tval *v = lookup(f, nd->s, nd->len);
	if (!v)
		return;
	switch (v->kind) {
	case TV_STRING:
		if (t->html && !nd->raw)
			html_escape(&r->text, v->s, v->slen);
		else
			buf_add(&r->text, v->s, v->slen);
		break;
	case TV_BOOL:
		buf_adds(&r->text, v->b ? "true" : "false");
		break;
	case TV_SLOT: {
		struct tseg *sg = rseg(r, TSEG_SLOT);
		sg->slot = v->slot;
		sg->escape = t->html && !nd->raw;
		break;
	}
	case TV_NULL:
	case TV_LIST:
	case TV_OBJECT:
		break; /* nothing to print */
	}
}

static void render_section(const struct tmpl *t, const struct node *nd, const struct frame *f, struct rsink *r)
{
	const struct tval *v = lookup(f, nd->s, nd->len);
	if (v && v->kind == TV_SLOT) {
		/* decided per reader: the body is rendered now, in this context */
		struct tout *body = xcalloc(1, sizeof *body);
		struct rsink sub = {.out = body};
		render_nodes(t, &nd->body, f, &sub);
		rflush(&sub);
		struct tseg *sg = rseg(r, TSEG_COND);
		sg->slot = v->slot;
		sg->inverted = nd->inverted;
		sg->body = body;
		return;
	}
	if (nd->inverted) {
		if (!truthy(v))
			render_nodes(t, &nd->body, f, r);
		return;
	}
	if (!truthy(v))
		return;
	if (v->kind == TV_LIST) {
		for (size_t i = 0; i < v->n; i++) {
			struct frame fr = {v->items[i], f};
			render_nodes(t, &nd->body, &fr, r);
		}
		return;
	}
	struct frame fr = {v, f};
	render_nodes(t, &nd->body, &fr, r);
}

static void render_nodes(const struct tmpl *t, const struct nodes *ns, const struct frame *f, struct rsink *r)
{
	for (size_t i = 0; i < ns->n; i++) {
		const struct node *nd = &ns->v[i];
		switch (nd->kind) {
		case N_TEXT:
			buf_add(&r->text, nd->s, nd->len);
			break;
		case N_VAR:
			render_var(t, nd, f, r);
			break;
		case N_SECTION:
			render_section(t, nd, f, r);
			break;
		}
	}
}

void tmpl_render(const struct tmpl *t, const struct tval *ctx, struct tout *out)
{
	if (!t)
		return;
	struct frame root = {ctx, NULL};
	struct rsink r = {.out = out};
	render_nodes(t, &t->root, &root, &r);
	rflush(&r);
}

void tout_free(struct tout *o)
{
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		free(o->segs[i].text);
		if (o->segs[i].body) {
			tout_free(o->segs[i].body);
			free(o->segs[i].body);
		}
	}
	free(o->segs);
	*o = (struct tout){0};
}

bool tout_has_slots(const struct tout *o)
{
	if (!o)
		return false;
	for (size_t i = 0; i < o->n; i++)
		if (o->segs[i].kind != TSEG_TEXT)
			return true;
	return false;
}

/* ---- Per reader ---- */

void tout_flatten(const struct tout *o, const char *const *slots, struct buf *out)
{
	buf_add(out, "", 0); /* a string even when O is empty */
	if (!o)
		return;
	for (size_t i = 0; i < o->n; i++) {
		const struct tseg *sg = &o->segs[i];
		const char *v = NULL;
		if (sg->kind != TSEG_TEXT && slots && sg->slot >= 0)
			v = slots[sg->slot];
		switch (sg->kind) {
		case TSEG_TEXT:
			buf_add(out, sg->text, sg->len);
			break;
		case TSEG_SLOT:
			if (!v)
				break;
			if (sg->escape)
				html_escape(out, v, strlen(v));
			else
				buf_add(out, v, strlen(v));
			break;
		case TSEG_COND:
			if ((v && *v) != sg->inverted)
				tout_flatten(sg->body, slots, out);
			break;
		}
	}
}

void html_escape(struct buf *out, const char *s, size_t len)
{
	size_t run = 0;
	for (size_t i = 0; i < len; i++) {
		const char *ent;
		size_t n;
		switch (s[i]) {
		case '&':
			ent = "&amp;", n = 5;
			break;
		case '<':
			ent = "&lt;", n = 4;
			break;
		case '>':
			ent = "&gt;", n = 4;
			break;
		case '"':
			ent = "&quot;", n = 6;
			break;
		case '\'':
			ent = "&#39;", n = 5;
			break;
		default:
			continue;
		}
		buf_add(out, s + run, i - run);
		buf_add(out, ent, n);
		run = i + 1;
	}
	buf_add(out, s + run, len - run);
}
