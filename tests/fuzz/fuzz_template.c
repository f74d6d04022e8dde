/* libFuzzer target: templates from arbitrary bytes, parsed, rendered and flattened. */
#define _GNU_SOURCE
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest/template.h"

/* Names the inputs are likely to reach (the fuzzer finds them in the
 * comparisons): strings, a list of objects and of strings, booleans, slots. */
static struct tval *make_ctx(void)
{
	struct tval *c = tv_object();
	tv_set_str(c, "name", "A & <B>");
	tv_set_str(c, "e", "");
	tv_set(c, "t", tv_bool(true));
	tv_set(c, "f", tv_bool(false));
	tv_set(c, "s", tv_slot(0));
	struct tval *o = tv_object();
	tv_set_str(o, "name", "\"q\"");
	tv_set(o, "s", tv_slot(1));
	tv_set(c, "o", o);
	struct tval *l = tv_list();
	struct tval *it = tv_object();
	tv_set_str(it, "x", "'");
	tv_append(l, it);
	tv_append(l, tv_string("str"));
	tv_set(c, "l", l);
	return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tval *ctx;
	if (!ctx)
		ctx = make_ctx();
	/* The first byte says HTML or text, the rest is the template. */
	bool html = size && (data[0] & 1);
	const char *src = size ? (const char *)data + 1 : "";
	size_t len = size ? size - 1 : 0;

	struct tmpl *t = NULL;
	char *err = NULL;
	if (tmpl_parse("fuzz.html", src, len, html, NULL, &t, &err) < 0) {
		if (!err || strncmp(err, "fuzz.html:", 10) != 0)
			abort(); /* an error is always "name:line:col: problem" */
		free(err);
		return 0;
	}
	if (err)
		abort();
	/* Sections nested N deep over a list of two render 2^N times: that is
	 * Mustache, and templates are the operator's files. Rendering is
	 * skipped past ten loops so that the fuzzer does not spend its time
	 * (or report timeouts) on exponential output. */
	size_t loops = 0;
	for (const char *p = src; (p = memmem(p, len - (size_t)(p - src), "{{#", 3)); p += 3)
		loops++;
	if (loops > 10) {
		tmpl_free(t);
		return 0;
	}
	struct tout o = {0};
	tmpl_render(t, ctx, &o);
	static const char *const full[] = {"<x&y>", "'z'"}, *const empty[] = {"", NULL};
	struct buf b = {0};
	tout_flatten(&o, full, &b);
	tout_flatten(&o, empty, &b);
	if (tout_has_slots(&o) != (o.n && (o.n > 1 || o.segs[0].kind != TSEG_TEXT)))
		abort();
	buf_free(&b);
	tout_free(&o);
	tmpl_free(t);
	return 0;
}
