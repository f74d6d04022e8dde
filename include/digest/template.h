/* template: the Mustache subset of digest's templates, parsed once and
 * rendered into segments whose personal parts are filled in per reader. */
#ifndef DIGEST_TEMPLATE_H
#define DIGEST_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>

#include "digest/util.h"

/*
 * Values a template is rendered against: a tree of objects, lists,
 * strings and booleans. A SLOT is a personal value (the reader's name,
 * address, unsubscribe link) that is not known at render time: it is
 * rendered as a hole that tout_flatten fills in per reader.
 */
enum tval_kind { TV_NULL, TV_STRING, TV_BOOL, TV_LIST, TV_OBJECT, TV_SLOT };
struct tval;

/* Builders. Every tval is owned by the object or list it is added to;
 * tv_free frees a root and everything under it (NULL is fine). Strings
 * are copied. */
struct tval *tv_object(void);
struct tval *tv_list(void);
struct tval *tv_string(const char *s);
struct tval *tv_bool(bool b);
struct tval *tv_slot(int slot);
/* tv_set: set member NAME (no dots) of OBJ to V, replacing an old one. */
void tv_set(struct tval *obj, const char *name, struct tval *v);
void tv_set_str(struct tval *obj, const char *name, const char *s); /* NULL: TV_NULL */
void tv_append(struct tval *list, struct tval *v);
void tv_free(struct tval *v);

/* A parsed template. */
struct tmpl;

/*
 * tmpl_parse: parse SRC (LEN bytes) as a template named NAME (used in
 * error messages). HTML: `{{name}}` is HTML-escaped (& < > " '), else
 * raw. Partials `{{> p}}` are read from PARTIAL_DIR (NULL: partials are
 * an error) when parsing: a name with no extension gets the extension of
 * NAME (".html"/".txt"); nesting deeper than 16 is an error. Returns 0,
 * or -1 with *ERR = "NAME:LINE:COL: problem" (for an error inside a
 * partial, the partial's path and position).
 * LINE and COL are 1-based, COL in UTF-8 characters (a tab is one), of
 * the offending tag's "{{" (an unclosed section: its opening tag). When
 * NAME ends neither in ".html" nor in ".txt", partials get ".html" if
 * HTML, else ".txt". A standalone partial tag's indentation is put before
 * every line of the partial, as Mustache does. Sections nest at most 100
 * deep; SRC with its partials expanded is at most 8 MiB.
 */
int tmpl_parse(const char *name, const char *src, size_t len, bool html, const char *partial_dir,
	       struct tmpl **out, char **err);
/* tmpl_load: tmpl_parse of the file DIR/FILE (HTML when FILE ends in
 * ".html"); errors name the file's path. */
int tmpl_load(const char *dir, const char *file, struct tmpl **out, char **err);
void tmpl_free(struct tmpl *t);

/* The result of rendering: literal text with holes for personal values.
 * A cond's body shows when the slot's value is non-empty (inverted: when
 * it is empty or NULL). */
enum tseg_kind { TSEG_TEXT, TSEG_SLOT, TSEG_COND };
struct tseg {
	enum tseg_kind kind;
	char *text;     /* TSEG_TEXT */
	size_t len;
	int slot;       /* TSEG_SLOT, TSEG_COND */
	bool escape;    /* TSEG_SLOT: HTML-escape the value */
	bool inverted;  /* TSEG_COND */
	struct tout *body; /* TSEG_COND */
};
struct tout {
	struct tseg *segs;
	size_t n, cap;
};

/*
 * tmpl_render: expand T against CTX into OUT (zeroed by the caller;
 * free with tout_free). Names resolve as Mustache does: dotted names,
 * the context stack of sections, `{{.}}`; an unknown name is empty.
 * Adjacent text is merged into one segment.
 */
void tmpl_render(const struct tmpl *t, const struct tval *ctx, struct tout *out);
void tout_free(struct tout *o);

/* tout_has_slots: whether O has any personal part. */
bool tout_has_slots(const struct tout *o);

/* tout_flatten: append O to OUT with slot I replaced by SLOTS[I] (NULL
 * counts as empty), HTML-escaped where the segment says so. */
void tout_flatten(const struct tout *o, const char *const *slots, struct buf *out);

/* html_escape: append S (LEN bytes) to OUT with & < > " ' escaped. */
void html_escape(struct buf *out, const char *s, size_t len);

#endif
