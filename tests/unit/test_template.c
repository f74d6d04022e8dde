/* Unit tests of template: every construct, escaping, standalone lines, slots, partials, errors, garbage. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/template.h"

/* Slots of the context below. */
enum { SLOT_NAME, SLOT_EMAIL, SLOT_UNSUB, NSLOTS };

static struct tval *ctx;

static struct tval *article(const char *rank, const char *title, const char *url)
{
	struct tval *a = tv_object();
	tv_set_str(a, "rank", rank);
	tv_set_str(a, "title", title);
	tv_set_str(a, "url", url);
	return a;
}

static int setup(void **state)
{
	(void)state;
	ctx = tv_object();
	tv_set_str(ctx, "name", "World");
	tv_set_str(ctx, "html", "<b>&\"'</b>");
	tv_set_str(ctx, "empty", "");
	tv_set_str(ctx, "nothing", NULL);
	tv_set(ctx, "yes", tv_bool(true));
	tv_set(ctx, "no", tv_bool(false));
	tv_set(ctx, "none", tv_list());

	struct tval *nl = tv_object();
	tv_set_str(nl, "name", "Дайджест");
	tv_set_str(nl, "url", "https://x.example/?a=1&b=2");
	tv_set(ctx, "newsletter", nl);

	struct tval *list = tv_list();
	struct tval *a = article("1", "Первая", "https://a.example/1");
	struct tval *tags = tv_list();
	tv_append(tags, tv_string("x"));
	tv_append(tags, tv_string("y"));
	tv_set(a, "tags", tags);
	tv_append(list, a);
	a = article("2", "B&C", "https://a.example/2");
	tv_set(a, "tags", tv_list());
	tv_append(list, a);
	a = article("3", "C", "https://a.example/3");
	tv_set_str(a, "name", "shadow");
	tv_append(list, a);
	tv_set(ctx, "articles", list);

	struct tval *top = tv_object();
	tv_set_str(top, "title", "Первая");
	tv_set(top, "newsletter", tv_object()); /* has no name: hides the outer one */
	tv_set(ctx, "top", top);

	struct tval *words = tv_list();
	tv_append(words, tv_string("a"));
	tv_append(words, tv_string("b"));
	tv_append(words, tv_string("c"));
	tv_set(ctx, "words", words);

	struct tval *sub = tv_object();
	tv_set(sub, "name", tv_slot(SLOT_NAME));
	tv_set(sub, "email", tv_slot(SLOT_EMAIL));
	tv_set(ctx, "subscriber", sub);
	tv_set(ctx, "unsubscribe_url", tv_slot(SLOT_UNSUB));

	tv_set_str(ctx, "replaced", "old");
	tv_set_str(ctx, "replaced", "new");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tv_free(ctx);
	return 0;
}

/* SRC parsed (as "t.html" or "t.txt"), rendered against CTX and flattened
 * with SLOTS; NULL with *ERR on a parse error. */
static char *render(const char *src, size_t len, bool html, const char *dir, const char *const *slots,
		    char **err)
{
	struct tmpl *t = NULL;
	if (tmpl_parse(html ? "t.html" : "t.txt", src, len, html, dir, &t, err) < 0) {
		assert_null(t);
		return NULL;
	}
	struct tout o = {0};
	tmpl_render(t, ctx, &o);
	struct buf b = {0};
	tout_flatten(&o, slots, &b);
	tout_free(&o);
	tmpl_free(t);
	return b.data;
}

struct render_row {
	const char *src;
	bool html;
	const char *want;
};

static void check_rows(const struct render_row *rows, size_t n, const char *dir)
{
	static const char *const slots[NSLOTS] = {"Ann", "ann@example.org", "https://u.example/?t=1&x=2"};
	for (size_t i = 0; i < n; i++) {
		char *err = NULL;
		char *got = render(rows[i].src, strlen(rows[i].src), rows[i].html, dir, slots, &err);
		if (!got)
			fail_msg("row %zu: %s: %s", i, rows[i].src, err);
		if (strcmp(got, rows[i].want) != 0)
			fail_msg("row %zu: %s\n got: [%s]\nwant: [%s]", i, rows[i].src, got, rows[i].want);
		free(got);
	}
}

static void test_variables(void **state)
{
	(void)state;
	static const struct render_row rows[] = {
		{"", false, ""},
		{"plain text, no tags\n", false, "plain text, no tags\n"},
		{"Hello {{name}}!", false, "Hello World!"},
		{"Hello {{ name }}!", true, "Hello World!"},
		{"{{html}}", false, "<b>&\"'</b>"},
		{"{{html}}", true, "&lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;"},
		{"{{{html}}}", true, "<b>&\"'</b>"},
		{"{{{ html }}}", true, "<b>&\"'</b>"},
		{"{{&html}}", true, "<b>&\"'</b>"},
		{"{{& html }}", true, "<b>&\"'</b>"},
		{"{{newsletter.name}} {{newsletter.url}}", true, "Дайджест https://x.example/?a=1&amp;b=2"},
		{"{{newsletter.url}}", false, "https://x.example/?a=1&b=2"},
		{"[{{missing}}][{{newsletter.missing}}][{{missing.name}}][{{name.x}}]", false, "[][][][]"},
		{"[{{nothing}}][{{empty}}]", false, "[][]"},
		{"{{yes}} {{no}}", false, "true false"},
		{"[{{articles}}][{{newsletter}}][{{.}}]", false, "[][][]"}, /* lists and objects print nothing */
		{"{{replaced}}", false, "new"},
		{"a { b } }} c {", false, "a { b } }} c {"},
		{"a{{! a comment }}b", false, "ab"},
		{"a{{!}}b{{! {{name}} }}c", false, "ab }}c"}, /* a comment ends at the first }} */
		{"a{{! one\ntwo\n}}b", false, "ab"},
		{"{{a-b_c}}{{A1}}", false, ""},
		{"{{name}}}", false, "World}"},
	};
	check_rows(rows, ARRAY_LEN(rows), NULL);
}

static void test_sections(void **state)
{
	(void)state;
	static const struct render_row rows[] = {
		{"{{#articles}}{{rank}}. {{title}};{{/articles}}", false, "1. Первая;2. B&C;3. C;"},
		{"{{#articles}}{{title}};{{/articles}}", true, "Первая;B&amp;C;C;"},
		{"{{# articles }}{{rank}}{{/ articles }}", false, "123"},
		/* the context stack: names not in the item come from outside */
		{"{{#articles}}{{name}} {{/articles}}", false, "World World shadow "},
		{"{{#articles}}{{newsletter.name}} {{/articles}}", false, "Дайджест Дайджест Дайджест "},
		/* the first part found in TOP: the rest is not searched for further out */
		{"{{#top}}[{{newsletter.name}}]{{/top}}", false, "[]"},
		{"{{#top}}{{title}}{{/top}}", false, "Первая"},
		{"{{#newsletter}}{{name}}{{/newsletter}}", false, "Дайджест"},
		{"{{#words}}{{.}},{{/words}}", false, "a,b,c,"},
		{"{{#articles}}{{#tags}}{{.}}{{/tags}}{{/articles}}", false, "xy"},
		{"{{#articles}}{{^tags}}-{{/tags}}{{/articles}}", false, "--"},
		{"{{#articles}}{{#words}}{{rank}}{{.}}{{/words}} {{/articles}}", false, "1a1b1c 2a2b2c 3a3b3c "},
		{"{{#name}}[{{.}}]{{/name}}", false, "[World]"},
		{"{{#yes}}Y{{/yes}}{{#no}}N{{/no}}{{#nothing}}0{{/nothing}}{{#missing}}M{{/missing}}", false, "Y"},
		{"{{#empty}}E{{/empty}}{{#none}}L{{/none}}", false, ""},
		{"{{^yes}}Y{{/yes}}{{^no}}N{{/no}}{{^nothing}}0{{/nothing}}{{^missing}}M{{/missing}}", false, "N0M"},
		{"{{^empty}}E{{/empty}}{{^none}}L{{/none}}{{^words}}W{{/words}}{{^top}}T{{/top}}", false, "EL"},
		{"{{#html}}<{{.}}>{{/html}}", true, "<&lt;b&gt;&amp;&quot;&#39;&lt;/b&gt;>"},
		{"{{#a}}{{#b}}{{/b}}{{/a}}", false, ""},
		{"{{#yes}}{{#yes}}{{#name}}{{name}}{{/name}}{{/yes}}{{/yes}}", false, "World"},
	};
	check_rows(rows, ARRAY_LEN(rows), NULL);
}

static void test_standalone(void **state)
{
	(void)state;
	static const struct render_row rows[] = {
		{"{{#words}}\n{{.}}\n{{/words}}\n", false, "a\nb\nc\n"},
		{"  {{#yes}}  \nx\n\t{{/yes}}\t\ny\n", false, "x\ny\n"},
		{"a\n{{! comment }}\nb\n", false, "a\nb\n"},
		{"a\n  {{! two\nlines }}  \nb\n", false, "a\nb\n"},
		{"a\r\n{{#yes}}\r\nb\r\n{{/yes}}\r\n", false, "a\r\nb\r\n"},
		{"{{#yes}}\n{{/yes}}", false, ""},
		{"x\n{{^no}}\ny{{/no}}", false, "x\ny"},
		{"{{#empty}}\nhidden\n{{/empty}}\nshown\n", false, "shown\n"},
		{" {{^no}}\n  x\n {{/no}}\n", false, "  x\n"},
		{"a {{#yes}}\nb{{/yes}}\n", false, "a \nb\n"},      /* not alone on its line */
		{"{{#yes}}{{/yes}}\n", false, "\n"},               /* two tags on the line */
		{"{{name}}\n", false, "World\n"},                  /* variables never are */
		{"  {{name}}  \n", false, "  World  \n"},
		{"{{#yes}} x\n{{/yes}}", false, " x\n"},
		{"|\n  {{#yes}}\n  {{/yes}}\n|", false, "|\n|"},
		{"{{#articles}}\n- {{title}}\n{{/articles}}\n", true, "- Первая\n- B&amp;C\n- C\n"},
		/* a digest-like text template: one tag a line, no stray blank lines */
		{"{{newsletter.name}}\n"
		 "\n"
		 "{{#articles}}\n"
		 "{{rank}}. {{title}}\n"
		 "   {{url}}\n"
		 "{{^tags}}\n"
		 "   (no tags)\n"
		 "{{/tags}}\n"
		 "\n"
		 "{{/articles}}\n"
		 "{{! the footer }}\n"
		 "--\n",
		 false,
		 "Дайджест\n\n1. Первая\n   https://a.example/1\n\n2. B&C\n   https://a.example/2\n   (no tags)\n\n"
		 "3. C\n   https://a.example/3\n   (no tags)\n\n--\n"},
	};
	check_rows(rows, ARRAY_LEN(rows), NULL);
}

static struct tout render_tout(const char *src, bool html)
{
	struct tmpl *t = NULL;
	char *err = NULL;
	if (tmpl_parse("t", src, strlen(src), html, NULL, &t, &err) < 0)
		fail_msg("%s: %s", src, err);
	struct tout o = {0};
	tmpl_render(t, ctx, &o);
	tmpl_free(t);
	return o;
}

static void assert_text(const struct tseg *sg, const char *want)
{
	assert_int_equal(sg->kind, TSEG_TEXT);
	assert_int_equal(sg->len, strlen(want));
	assert_memory_equal(sg->text, want, sg->len);
}

static void test_segments(void **state)
{
	(void)state;
	/* text merges across comments, variables and sections */
	struct tout o = render_tout("a{{! c }}b{{name}}{{#words}}{{.}}{{/words}}c", true);
	assert_int_equal(o.n, 1);
	assert_text(&o.segs[0], "abWorldabcc");
	assert_false(tout_has_slots(&o));
	tout_free(&o);
	assert_int_equal(o.n, 0);
	tout_free(NULL);

	o = render_tout("Hi {{subscriber.name}} <{{{subscriber.email}}}>"
			"{{#unsubscribe_url}} <a href=\"{{unsubscribe_url}}\">x</a>{{/unsubscribe_url}}"
			"{{^subscriber.name}}friend{{/subscriber.name}}.",
			true);
	assert_true(tout_has_slots(&o));
	assert_int_equal(o.n, 8);
	assert_text(&o.segs[0], "Hi ");
	assert_int_equal(o.segs[1].kind, TSEG_SLOT);
	assert_int_equal(o.segs[1].slot, SLOT_NAME);
	assert_true(o.segs[1].escape);
	assert_text(&o.segs[2], " <");
	assert_int_equal(o.segs[3].kind, TSEG_SLOT);
	assert_int_equal(o.segs[3].slot, SLOT_EMAIL);
	assert_false(o.segs[3].escape);
	assert_text(&o.segs[4], ">");
	assert_int_equal(o.segs[5].kind, TSEG_COND);
	assert_int_equal(o.segs[5].slot, SLOT_UNSUB);
	assert_false(o.segs[5].inverted);
	const struct tout *body = o.segs[5].body;
	assert_int_equal(body->n, 3);
	assert_text(&body->segs[0], " <a href=\"");
	assert_int_equal(body->segs[1].kind, TSEG_SLOT);
	assert_int_equal(body->segs[1].slot, SLOT_UNSUB);
	assert_text(&body->segs[2], "\">x</a>");
	assert_int_equal(o.segs[6].kind, TSEG_COND);
	assert_int_equal(o.segs[6].slot, SLOT_NAME);
	assert_true(o.segs[6].inverted);
	assert_int_equal(o.segs[6].body->n, 1);
	assert_text(&o.segs[6].body->segs[0], "friend");
	assert_text(&o.segs[7], ".");

	static const struct {
		const char *slots[NSLOTS];
		const char *want;
	} rows[] = {
		{{"Ann & Bob", "a&b@example.org", "https://u/?a=1&b='2'"},
		 "Hi Ann &amp; Bob <a&b@example.org> <a href=\"https://u/?a=1&amp;b=&#39;2&#39;\">x</a>."},
		{{NULL, NULL, NULL}, "Hi  <>friend."},
		{{"", "", ""}, "Hi  <>friend."},
		{{"Ann", NULL, "u"}, "Hi Ann <> <a href=\"u\">x</a>."},
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct buf b = {0};
		buf_adds(&b, "^"); /* flatten appends */
		tout_flatten(&o, rows[i].slots, &b);
		assert_memory_equal(b.data, "^", 1);
		assert_string_equal(b.data + 1, rows[i].want);
		buf_free(&b);
	}
	struct buf b = {0};
	tout_flatten(&o, NULL, &b); /* no slots at all: each empty */
	assert_string_equal(b.data, "Hi  <>friend.");
	buf_free(&b);
	tout_free(&o);

	/* a text template: slots are never escaped */
	o = render_tout("{{subscriber.name}}|{{{subscriber.name}}}", false);
	assert_int_equal(o.n, 3);
	assert_false(o.segs[0].escape);
	assert_false(o.segs[2].escape);
	tout_free(&o);

	/* a cond inside a loop: rendered in the item's context, once per item */
	o = render_tout("{{#words}}{{#subscriber.name}}{{.}}{{/subscriber.name}}{{/words}}!", false);
	assert_int_equal(o.n, 4);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(o.segs[i].kind, TSEG_COND);
		assert_int_equal(o.segs[i].body->n, 1);
		assert_text(&o.segs[i].body->segs[0], (const char *[]){"a", "b", "c"}[i]);
	}
	const char *ann[NSLOTS] = {"Ann", NULL, NULL};
	b = (struct buf){0};
	tout_flatten(&o, ann, &b);
	assert_string_equal(b.data, "abc!");
	buf_free(&b);
	tout_free(&o);

	/* a slot reached through the context stack, and a section slot in a section slot */
	o = render_tout("{{#articles}}{{#unsubscribe_url}}{{#subscriber.email}}{{rank}}{{/subscriber.email}}"
			"{{/unsubscribe_url}}{{/articles}}",
			false);
	const char *both[NSLOTS] = {NULL, "e", "u"}, *one[NSLOTS] = {NULL, NULL, "u"};
	b = (struct buf){0};
	tout_flatten(&o, both, &b);
	assert_string_equal(b.data, "123");
	buf_free(&b);
	b = (struct buf){0};
	tout_flatten(&o, one, &b);
	assert_string_equal(b.data, "");
	buf_free(&b);
	tout_free(&o);

	/* an empty render still flattens to a string */
	o = render_tout("{{missing}}", false);
	assert_int_equal(o.n, 0);
	b = (struct buf){0};
	tout_flatten(&o, NULL, &b);
	assert_non_null(b.data);
	assert_string_equal(b.data, "");
	buf_free(&b);
	tout_free(&o);
}

static void test_escape(void **state)
{
	(void)state;
	static const struct {
		const char *in;
		size_t len;
		const char *want;
	} rows[] = {
		{"", 0, ""},
		{"plain Новости", 20, "plain Новости"},
		{"&<>\"'", 5, "&amp;&lt;&gt;&quot;&#39;"},
		{"a&b", 3, "a&amp;b"},
		{"&amp;", 5, "&amp;amp;"},
		{"x<", 2, "x&lt;"},
		{"<x", 2, "&lt;x"},
		{"a<b>c", 1, "a"}, /* LEN bytes only */
	};
	for (size_t i = 0; i < ARRAY_LEN(rows); i++) {
		struct buf b = {0};
		buf_adds(&b, "[");
		html_escape(&b, rows[i].in, rows[i].len);
		assert_string_equal(b.data + 1, rows[i].want);
		buf_free(&b);
	}
	struct buf b = {0};
	html_escape(&b, "a\0<", 3);
	assert_int_equal(b.len, 6);
	assert_memory_equal(b.data, "a\0&lt;", 6);
	buf_free(&b);
}

static void test_values(void **state)
{
	(void)state;
	/* misuse must neither leak nor crash: the value is dropped */
	struct tval *s = tv_string("x");
	tv_set(s, "a", tv_string("y"));
	tv_append(s, tv_string("z"));
	tv_set(NULL, "a", tv_bool(true));
	tv_append(NULL, tv_list());
	tv_free(s);
	tv_free(NULL);
	struct tval *o = tv_object();
	tv_set(o, "n", NULL); /* a NULL member is a null value */
	tv_set(o, "s", tv_string(NULL));
	struct tval *l = tv_list();
	tv_append(l, NULL);
	tv_append(l, tv_string("i"));
	tv_set(o, "l", l);
	struct tmpl *t = NULL;
	const char *src = "[{{n}}{{#n}}x{{/n}}{{^n}}y{{/n}}{{s}}][{{#l}}<{{.}}>{{/l}}]";
	assert_int_equal(tmpl_parse("t", src, strlen(src), false, NULL, &t, NULL), 0);
	struct tout out = {0};
	tmpl_render(t, o, &out);
	struct buf b = {0};
	tout_flatten(&out, NULL, &b);
	assert_string_equal(b.data, "[y][<><i>]");
	buf_free(&b);
	tout_free(&out);
	/* no context at all */
	tmpl_render(t, NULL, &out);
	assert_int_equal(out.n, 1);
	tout_free(&out);
	tmpl_render(NULL, o, &out);
	assert_int_equal(out.n, 0);
	tmpl_free(t);
	tmpl_free(NULL);
	tv_free(o);
}

struct err_row {
	const char *src;
	const char *want;
};

static void check_errors(const struct err_row *rows, size_t n, bool html, const char *dir)
{
	for (size_t i = 0; i < n; i++) {
		char *err = NULL;
		char *got = render(rows[i].src, strlen(rows[i].src), html, dir, NULL, &err);
		if (got)
			fail_msg("row %zu: %s: no error, rendered [%s]", i, rows[i].src, got);
		assert_non_null(err);
		if (strcmp(err, rows[i].want) != 0)
			fail_msg("row %zu: %s\n got: %s\nwant: %s", i, rows[i].src, err, rows[i].want);
		free(err);
	}
}

static void test_errors(void **state)
{
	(void)state;
	static const struct err_row rows[] = {
		{"{{#a}}x", "t.txt:1:1: unclosed section \"a\""},
		{"ab\n  {{#a}}\n{{#b}}{{/b}}", "t.txt:2:3: unclosed section \"a\""},
		{"{{#a}}\n {{^b}}\n", "t.txt:2:2: unclosed section \"b\""}, /* the innermost */
		{"{{#a}}{{/b}}", "t.txt:1:7: close tag \"b\" does not match section \"a\" opened at 1:1"},
		{"{{#a}}\n{{#b}}\n{{/a}}\n{{/b}}", "t.txt:3:1: close tag \"a\" does not match section \"b\" opened at 2:1"},
		{"x{{/a}}", "t.txt:1:2: unexpected close tag \"a\": no section is open"},
		{"{{#a}}{{/a}}{{/a}}", "t.txt:1:13: unexpected close tag \"a\": no section is open"},
		{"héllo {{name", "t.txt:1:7: unterminated tag: no \"}}\" after it"},
		{"a\nb {{name}\n}", "t.txt:2:3: unterminated tag: no \"}}\" after it"},
		{"{{{name}}", "t.txt:1:1: unterminated tag: no \"}}}\" after it"},
		{"{{", "t.txt:1:1: unterminated tag: no \"}}\" after it"},
		{"x{{!", "t.txt:1:2: unterminated tag: no \"}}\" after it"},
		{"{{}}", "t.txt:1:1: empty name in tag"},
		{"{{ }}", "t.txt:1:1: empty name in tag"},
		{"{{{}}}", "t.txt:1:1: empty name in tag"},
		{"{{&}}", "t.txt:1:1: empty name in tag"},
		{"{{#}}{{/}}", "t.txt:1:1: empty name in tag"},
		{"{{#a}}{{/}}", "t.txt:1:7: empty name in tag"},
		{"{{a b}}", "t.txt:1:1: invalid character in name \"a b\" (letters, digits, _ - and . only)"},
		{"{{a\x01}}", "t.txt:1:1: invalid character in name \"a\\x01\" (letters, digits, _ - and . only)"},
		{"{{#a\"b}}", "t.txt:1:1: invalid character in name \"a\\x22b\" (letters, digits, _ - and . only)"},
		{"{{имя}}", "t.txt:1:1: invalid character in name \"\\xd0\\xb8\\xd0\\xbc\\xd1\\x8f\" (letters, digits, _ - "
			    "and . only)"},
		{"{{a..b}}", "t.txt:1:1: invalid name \"a..b\": an empty part between dots"},
		{"{{.a}}", "t.txt:1:1: invalid name \".a\": an empty part between dots"},
		{"{{a.}}", "t.txt:1:1: invalid name \"a.\": an empty part between dots"},
		{"{{..}}", "t.txt:1:1: invalid name \"..\": an empty part between dots"},
		{"{{=<% %>=}}", "t.txt:1:1: set-delimiter tags {{=...=}} are not supported"},
		{"{{=", "t.txt:1:1: set-delimiter tags {{=...=}} are not supported"},
		{"Новости: {{#a}}", "t.txt:1:10: unclosed section \"a\""}, /* columns in characters */
		{"Привет\n\tмир {{>}}", "t.txt:2:6: empty partial name"},
		{"{{> x}}", "t.txt:1:1: partial \"x\": no directory to read partials from"},
		{"{{> ../x}}", "t.txt:1:1: invalid partial name \"../x\": starts with a dot"},
		{"{{>.x}}", "t.txt:1:1: invalid partial name \".x\": starts with a dot"},
		{"{{>a/b}}", "t.txt:1:1: invalid character in partial name \"a/b\""},
		{"{{>a b}}", "t.txt:1:1: invalid character in partial name \"a b\""},
		{"{{a}}{{#b}}{{/b}}{{=x=}}{{/c}}", "t.txt:1:18: set-delimiter tags {{=...=}} are not supported"},
		{"{{#aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}}",
		 "t.txt:1:1: unclosed section \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...\""},
	};
	check_errors(rows, ARRAY_LEN(rows), false, NULL);

	/* sections nested deeper than 100: the 101st tag is the culprit */
	struct buf b = {0};
	for (int i = 0; i < 101; i++)
		buf_adds(&b, "{{#a}}");
	char *err = NULL;
	assert_null(render(b.data, b.len, false, NULL, NULL, &err));
	assert_string_equal(err, "t.txt:1:601: sections nested deeper than 100");
	free(err);
	err = NULL;
	/* 100 are fine */
	b.len -= 6;
	for (int i = 0; i < 100; i++)
		buf_adds(&b, "{{/a}}");
	char *got = render(b.data, b.len, false, NULL, NULL, &err);
	assert_non_null(got);
	assert_string_equal(got, "");
	free(got);
	buf_free(&b);

	/* no ERR to fill: still an error, and *OUT is cleared */
	struct tmpl *t = NULL;
	assert_int_equal(tmpl_parse("t", "x", 1, false, NULL, &t, NULL), 0);
	tmpl_free(t);
	assert_int_equal(tmpl_parse("t", "{{", 2, false, NULL, &t, NULL), -1);
	assert_null(t);
	/* a NUL inside a tag is a bad character, not the end of the input */
	assert_null(render("{{a\0}}", 6, false, NULL, NULL, &err));
	assert_string_equal(err, "t.txt:1:1: invalid character in name \"a\\x00\" (letters, digits, _ - and . only)");
	free(err);
	err = NULL;
	/* a NUL in text is text */
	got = render("a\0b", 3, false, NULL, NULL, &err);
	assert_memory_equal(got, "a\0b", 4);
	free(got);
}

/* Partials: a temporary directory of files. */
static char pdir[64];

static void put(const char *name, const char *content)
{
	char path[128];
	snprintf(path, sizeof path, "%s/%s", pdir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_true(fputs(content, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static const char *const partial_files[][2] = {
	{"item.html", "<li>{{title}}</li>"},
	{"item.txt", "* {{title}}\n"},
	{"box.txt", "[\n{{> inner}}\n]\n"},
	{"inner.txt", "in {{name}}\n{{#yes}}\nyes\n{{/yes}}\n"},
	{"self.txt", "{{> self}}"},
	{"bad.txt", "x\n  {{#a}}\n"},
	{"badtag.html", "ok\n<p>{{a b}}</p>"},
	{"digest.txt", "{{#articles}}\n{{> item}}\n{{/articles}}\n"},
	{"p1.txt", "{{> p2}}"}, {"p2.txt", "{{> p3}}"}, {"p3.txt", "{{> p4}}"}, {"p4.txt", "{{> p5}}"},
	{"p5.txt", "{{> p6}}"}, {"p6.txt", "{{> p7}}"}, {"p7.txt", "{{> p8}}"}, {"p8.txt", "{{> p9}}"},
	{"p9.txt", "{{> p10}}"}, {"p10.txt", "{{> p11}}"}, {"p11.txt", "{{> p12}}"}, {"p12.txt", "{{> p13}}"},
	{"p13.txt", "{{> p14}}"}, {"p14.txt", "{{> p15}}"}, {"p15.txt", "{{> p16}}"}, {"p16.txt", "{{> p17}}"},
	{"p17.txt", "end"},
	{"noext", "no extension: {{name}}"}, /* never read: "noext" means "noext.txt" */
	{"open.txt", "{{#yes}}"},
	{"close.txt", "{{/yes}}"},
};

static int partials_setup(void **state)
{
	(void)state;
	strcpy(pdir, "/tmp/digest-test-template-XXXXXX");
	if (!mkdtemp(pdir))
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(partial_files); i++)
		put(partial_files[i][0], partial_files[i][1]);
	char sub[128];
	snprintf(sub, sizeof sub, "%s/dir.txt", pdir);
	return mkdir_p(sub, 0700);
}

static int partials_teardown(void **state)
{
	(void)state;
	char path[128];
	for (size_t i = 0; i < ARRAY_LEN(partial_files); i++) {
		snprintf(path, sizeof path, "%s/%s", pdir, partial_files[i][0]);
		unlink(path);
	}
	snprintf(path, sizeof path, "%s/dir.txt", pdir);
	rmdir(path);
	return rmdir(pdir);
}

static void test_partials(void **state)
{
	(void)state;
	static const struct render_row rows[] = {
		{"<ul>{{> item}}</ul>", true, "<ul><li></li></ul>"},
		{"<ul>{{#articles}}{{> item}}{{/articles}}</ul>", true,
		 "<ul><li>Первая</li><li>B&amp;C</li><li>C</li></ul>"},
		{"{{#articles}}{{> item}}{{/articles}}", false, "* Первая\n* B&C\n* C\n"},
		{"{{#articles}}{{>item.html}}{{/articles}}", false, "<li>Первая</li><li>B&C</li><li>C</li>"},
		{"{{> digest.txt}}--", false, "* Первая\n* B&C\n* C\n--"},
		/* a standalone partial is indented, line by line, nested ones too */
		{"a\n  {{> box}}\nb\n", false, "a\n  [\n  in World\n  yes\n  ]\nb\n"},
		{"a {{> box}}|\n", false, "a [\nin World\nyes\n]\n|\n"},
		{"{{> p2}}", false, "end"}, /* p2 ... p17: 16 levels */
	};
	check_rows(rows, ARRAY_LEN(rows), pdir);

	char q[256];
	struct err_row errs[6];
	char want[6][512];
	snprintf(want[0], sizeof want[0], "t.txt:1:2: unknown partial \"nope\": %s/nope.txt: No such file or directory",
		 pdir);
	errs[0] = (struct err_row){"x{{> nope}}", want[0]};
	snprintf(want[1], sizeof want[1], "%s/self.txt:1:1: partial \"self\": partials nested deeper than 16", pdir);
	errs[1] = (struct err_row){"{{> self}}", want[1]};
	snprintf(want[2], sizeof want[2], "%s/p16.txt:1:1: partial \"p17\": partials nested deeper than 16", pdir);
	errs[2] = (struct err_row){"{{>p1}}", want[2]};
	snprintf(want[3], sizeof want[3], "%s/bad.txt:2:3: unclosed section \"a\"", pdir);
	errs[3] = (struct err_row){"ok\n{{> bad}}\n", want[3]};
	snprintf(want[4], sizeof want[4], "t.txt:1:1: unknown partial \"noext\": %s/noext.txt: No such file or directory",
		 pdir);
	errs[4] = (struct err_row){"{{>noext}}", want[4]};
	snprintf(want[5], sizeof want[5], "t.txt:1:1: unknown partial \"dir\": %s/dir.txt: Is a directory", pdir);
	errs[5] = (struct err_row){"{{>dir}}", want[5]};
	check_errors(errs, ARRAY_LEN(errs), false, pdir);

	/* sections do not span partials */
	snprintf(want[0], sizeof want[0], "%s/open.txt:1:1: unclosed section \"yes\"", pdir);
	errs[0] = (struct err_row){"{{>open}}{{/yes}}", want[0]};
	snprintf(want[1], sizeof want[1], "%s/close.txt:1:1: unexpected close tag \"yes\": no section is open", pdir);
	errs[1] = (struct err_row){"{{#yes}}{{>close}}", want[1]};
	snprintf(want[2], sizeof want[2], "%s/badtag.html:2:4: invalid character in name \"a b\" (letters, digits, _ - "
					  "and . only)", pdir);
	errs[2] = (struct err_row){"{{>badtag}}", want[2]};
	check_errors(errs, 2, false, pdir);
	check_errors(errs + 2, 1, true, pdir);

	/* a template named neither .html nor .txt: partials by its kind */
	static const struct {
		bool html;
		const char *want;
	} kinds[] = {{false, "* B&C\n"}, {true, "<li>B&amp;C</li>"}};
	for (size_t i = 0; i < ARRAY_LEN(kinds); i++) {
		struct tmpl *s = NULL;
		const char *src = "{{#articles}}{{#tags}}{{> item}}{{/tags}}{{/articles}}";
		assert_int_equal(tmpl_parse("newsletter.subject", src, strlen(src), kinds[i].html, pdir, &s, NULL), 0);
		struct tout so = {0};
		struct tval *one = tv_object();
		tv_set_str(one, "title", "B&C");
		tv_set(one, "tags", tv_bool(true));
		struct tval *arts = tv_list();
		tv_append(arts, one);
		struct tval *c = tv_object();
		tv_set(c, "articles", arts);
		tmpl_render(s, c, &so);
		struct buf sb = {0};
		tout_flatten(&so, NULL, &sb);
		assert_string_equal(sb.data, kinds[i].want);
		buf_free(&sb);
		tout_free(&so);
		tmpl_free(s);
		tv_free(c);
	}

	/* tmpl_load: the file's path names errors; ".html" makes it HTML */
	struct tmpl *t = NULL;
	char *err = NULL;
	assert_int_equal(tmpl_load(pdir, "digest.txt", &t, &err), 0);
	struct tout o = {0};
	tmpl_render(t, ctx, &o);
	struct buf b = {0};
	tout_flatten(&o, NULL, &b);
	assert_string_equal(b.data, "* Первая\n* B&C\n* C\n");
	buf_free(&b);
	tout_free(&o);
	tmpl_free(t);

	assert_int_equal(tmpl_load(pdir, "item.html", &t, &err), 0);
	tmpl_render(t, ctx, &o);
	assert_int_equal(o.n, 1);
	tout_free(&o);
	tmpl_free(t);

	assert_int_equal(tmpl_load(pdir, "missing.txt", &t, &err), -1);
	assert_null(t);
	snprintf(q, sizeof q, "%s/missing.txt: No such file or directory", pdir);
	assert_string_equal(err, q);
	assert_int_equal(tmpl_load(pdir, "badtag.html", &t, &err), -1);
	snprintf(q, sizeof q, "%s/badtag.html:2:4: invalid character in name \"a b\" (letters, digits, _ - and . only)",
		 pdir);
	assert_string_equal(err, q);
	free(err);
}

/* A small deterministic generator: the same inputs on every run. */
static uint32_t rng = 2463534242u;
static uint32_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

/* Parse SRC; if it parses, render and flatten it; if not, the error must
 * have the "name:line:col: " shape. */
static void parse_or_error(const char *src, size_t len, bool html)
{
	static const char *const slots[NSLOTS] = {"<n>", "", "u&"};
	char *err = NULL;
	char *got = render(src, len, html, NULL, slots, &err);
	if (got) {
		assert_null(err);
		free(got);
		return;
	}
	assert_non_null(err);
	unsigned line, col;
	int used = 0;
	if (sscanf(err, "t.%*[a-z]:%u:%u: %n", &line, &col, &used) != 2 || used == 0 || line < 1 || col < 1)
		fail_msg("bad error for [%.*s]: %s", (int)len, src, err);
	free(err);
}

static void test_garbage(void **state)
{
	(void)state;
	/* random bytes, and random strings over the template's own alphabet */
	static const char *const pieces[] = {"{{", "}}", "{", "}", "#", "^", "/", "!", ">", "&", "=", ".", " ", "\n",
					     "\r", "a", "name", "words", "articles", "subscriber.name", "yes", "й"};
	char src[512];
	for (int round = 0; round < 20000; round++) {
		size_t len = 0;
		if (round % 4 == 0) {
			len = next_rand() % 200;
			for (size_t i = 0; i < len; i++)
				src[i] = (char)(next_rand() & 0xff);
		} else {
			size_t n = next_rand() % 40;
			for (size_t i = 0; i < n; i++) {
				const char *p = pieces[next_rand() % ARRAY_LEN(pieces)];
				size_t pl = strlen(p);
				memcpy(src + len, p, pl);
				len += pl;
			}
		}
		parse_or_error(src, len, round & 1);
	}

	/* every prefix of real templates */
	static const char *const whole[] = {
		"{{#articles}}\n{{rank}}. {{{title}}} {{& url}}\n{{^tags}}-{{/tags}}{{! c }}\n{{/articles}}\n"
		"{{#subscriber.name}}Hi {{subscriber.name}}{{/subscriber.name}}{{^subscriber.name}}Hi{{/subscriber.name}}",
		"<p>{{newsletter.name}}</p>{{#words}}<i>{{.}}</i>{{/words}}{{> nope}}",
	};
	for (size_t w = 0; w < ARRAY_LEN(whole); w++)
		for (size_t len = 0; len <= strlen(whole[w]); len++) {
			parse_or_error(whole[w], len, false);
			parse_or_error(whole[w], len, true);
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_variables),
		cmocka_unit_test(test_sections),
		cmocka_unit_test(test_standalone),
		cmocka_unit_test(test_segments),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_errors),
		cmocka_unit_test_setup_teardown(test_partials, partials_setup, partials_teardown),
		cmocka_unit_test(test_garbage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
