/* The documentation of digest.conf's keys, generated from the one table of
 * keys (src/config_table.c): README.md's key tables and digest.conf(5)'s key
 * list, each between markers. Run from the source tree:
 *   test_config_doc             checks both files against the table (a test)
 *   test_config_doc --write     rewrites them (`make docs`)
 *   test_config_doc --markdown  prints the README's part; --mdoc digest.conf(5)'s
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "digest/config.h"
#include "digest/config_table.h"
#include "digest/util.h"

#define README "README.md"
#define MANPAGE "man/digest.conf.5"
#define MD_BEGIN "<!-- config-keys begin: generated from src/config_table.c by `make docs` -->\n"
#define MD_END "<!-- config-keys end -->\n"
#define MAN_BEGIN ".\\\" config-keys begin: generated from src/config_table.c by `make docs`\n"
#define MAN_END ".\\\" config-keys end\n"

static const char *type_word(const struct conf_key *k)
{
	switch (k->type) {
	case CONF_STRING:
	case CONF_ENUM:
		return "string";
	case CONF_PATH:
		return "path";
	case CONF_XPATH:
		return "XPath";
	case CONF_INT:
	case CONF_INT64:
		return "integer";
	case CONF_SECONDS:
		return "seconds";
	case CONF_NUMBER:
		return "number";
	case CONF_BOOL:
		return "boolean";
	case CONF_GROUP:
		return "group";
	case CONF_LIST:
		return "list of groups";
	}
	return "?";
}

static bool quoted(const struct conf_key *k)
{
	return k->type == CONF_STRING || k->type == CONF_PATH || k->type == CONF_XPATH || k->type == CONF_ENUM;
}

static bool ranged(const struct conf_key *k)
{
	return k->type == CONF_INT || k->type == CONF_INT64 || k->type == CONF_SECONDS || k->type == CONF_NUMBER;
}

static void add_bound(struct buf *b, const struct conf_key *k, double v)
{
	if (k->type == CONF_INT || k->type == CONF_INT64)
		buf_addf(b, "%lld", (long long)v);
	else
		buf_addf(b, "%g", v);
}

/* The default, in the keys' markup (`code`, `"string"`); a number as
 * code in a table (PLAIN false), as a word in text. */
static void add_default(struct buf *b, const struct conf_key *k, bool plain)
{
	if (k->def_doc)
		buf_adds(b, k->def_doc);
	else if (!k->def)
		buf_adds(b, "none");
	else if (quoted(k))
		buf_addf(b, "`\"%s\"`", k->def);
	else if (plain && k->type != CONF_BOOL)
		buf_adds(b, k->def);
	else
		buf_addf(b, "`%s`", k->def);
}

/* The range or the choices, in the keys' markup; nothing for the rest. */
static void add_values(struct buf *b, const struct conf_key *k, const char *last_sep)
{
	if (ranged(k)) {
		add_bound(b, k, k->min);
		buf_adds(b, "..");
		add_bound(b, k, k->max);
	} else if (k->type == CONF_ENUM) {
		for (const struct conf_choice *c = k->choices; c->name; c++)
			buf_addf(b, "%s`%s`", c == k->choices ? "" : c[1].name ? ", " : last_sep, c->name);
	}
}

/* ---- README.md: Markdown tables ---- */

static void md_cell(struct buf *b, const char *s)
{
	buf_adds(b, " ");
	for (; *s; s++)
		if (*s == '|')
			buf_adds(b, "\\|");
		else
			buf_add(b, s, 1);
	buf_adds(b, " |");
}

static void md_rows(struct buf *b, const struct conf_table *t, const char *prefix,
		    const struct conf_key **lists, char **list_names, int *nlists)
{
	for (const struct conf_key *k = t->keys; k->name; k++) {
		char *name = *prefix ? xasprintf("%s.%s", prefix, k->name) : xstrdup(k->name);
		if (k->type == CONF_GROUP) {
			md_rows(b, k->sub, name, lists, list_names, nlists);
			free(name);
			continue;
		}
		struct buf c = {0};
		buf_addf(&c, "`%s`", name);
		buf_adds(b, "|");
		md_cell(b, c.data);
		md_cell(b, type_word(k));
		c.len = 0;
		add_default(&c, k, false);
		md_cell(b, c.data);
		c.len = 0;
		buf_adds(&c, "");
		add_values(&c, k, ", ");
		md_cell(b, c.data);
		c.len = 0;
		buf_adds(&c, k->doc);
		if (k->type == CONF_LIST)
			buf_addf(&c, " Its keys: the table below.");
		md_cell(b, c.data);
		buf_adds(b, "\n");
		buf_free(&c);
		if (k->type == CONF_LIST) {
			lists[*nlists] = k;
			list_names[(*nlists)++] = name;
		} else {
			free(name);
		}
	}
}

static void md_table(struct buf *b, const struct conf_table *t)
{
	const struct conf_key *lists[8];
	char *names[8];
	int n = 0;
	buf_adds(b, "| key | type | default | values | meaning |\n| --- | --- | --- | --- | --- |\n");
	md_rows(b, t, "", lists, names, &n);
	for (int i = 0; i < n; i++) {
		buf_addf(b, "\n%s, each element of `%s`:\n\n", lists[i]->sub->what, names[i]);
		md_table(b, lists[i]->sub);
		free(names[i]);
	}
}

static char *markdown(void)
{
	struct buf b = {0};
	buf_adds(&b, MD_BEGIN);
	md_table(&b, &config_root);
	buf_adds(&b, MD_END);
	return b.data;
}

/* ---- digest.conf(5): mdoc ---- */

/* One argument of a macro line: never read as a macro or a delimiter. */
static void man_arg(struct buf *b, const char *s, size_t n)
{
	bool space = memchr(s, ' ', n) != NULL;
	buf_adds(b, space ? " \"\\&" : " \\&");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			buf_adds(b, "\\(dq");
		else if (s[i] == '\\')
			buf_adds(b, "\\e");
		else if (!strncmp(s + i, "—", strlen("—"))) {
			buf_adds(b, "\\(em");
			i += strlen("—") - 1;
		} else
			buf_add(b, s + i, 1);
	}
	if (n && strchr(".,:;)]?!", s[n - 1]))
		buf_adds(b, "\\&"); /* a last character that is no delimiter */
	if (space)
		buf_adds(b, "\"");
}

/* LINE (escaped, no newline) as text lines of at most 80 bytes, cut at
 * spaces; a line never starts with a control character. */
static void man_lines(struct buf *b, const char *line, size_t n)
{
	while (n) {
		size_t cut = n;
		if (n > 80) {
			cut = 80;
			while (cut > 0 && line[cut] != ' ')
				cut--;
			if (cut == 0)
				for (cut = 80; cut < n && line[cut] != ' ';)
					cut++;
		}
		if (line[0] == '.' || line[0] == '\'')
			buf_adds(b, "\\&");
		buf_add(b, line, cut);
		buf_adds(b, "\n");
		while (cut < n && line[cut] == ' ')
			cut++;
		line += cut;
		n -= cut;
	}
}

/* Text: one sentence a line, escaped. */
static void man_text(struct buf *b, const char *s, size_t n)
{
	while (n && *s == ' ')
		s++, n--;
	while (n && s[n - 1] == ' ')
		n--;
	struct buf line = {0};
	buf_adds(&line, "");
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			buf_adds(&line, "\\e");
		else if (!strncmp(s + i, "—", strlen("—"))) {
			buf_adds(&line, "\\(em");
			i += strlen("—") - 1;
		} else if (strchr(".?!", s[i]) && i + 2 < n && s[i + 1] == ' ' && isupper((unsigned char)s[i + 2])) {
			buf_add(&line, s + i, 1);
			man_lines(b, line.data, line.len);
			line.len = 0;
			i++; /* the space */
		} else
			buf_add(&line, s + i, 1);
	}
	man_lines(b, line.data, line.len);
	buf_free(&line);
}

static bool closing(char c) { return c && strchr(".,:;)]?!", c); }

/* The keys' markup as mdoc: `x` a literal (.Li for a word, .Ql else),
 * `"x"` a quoted string (.Qq); an opening parenthesis right before and
 * punctuation right after go on the macro's line, as mdoc wants. */
static void man_markup(struct buf *b, const char *s)
{
	while (*s) {
		const char *tick = strchr(s, '`');
		const char *end = tick ? tick : s + strlen(s);
		bool open = tick && end > s && end[-1] == '(';
		man_text(b, s, (size_t)(end - s) - open);
		if (!tick)
			break;
		const char *close = strchr(tick + 1, '`');
		if (!close)
			close = tick + 1 + strlen(tick + 1);
		const char *c = tick + 1;
		size_t n = (size_t)(close - c);
		bool str = n >= 2 && c[0] == '"' && c[n - 1] == '"';
		bool word = n > 0;
		for (size_t i = 0; i < n; i++)
			word = word && (isalnum((unsigned char)c[i]) || strchr("_.+-@$/", c[i]));
		buf_adds(b, str ? ".Qq" : word ? ".Li" : ".Ql");
		if (open)
			buf_adds(b, " (");
		if (str) {
			if (n > 2)
				man_arg(b, c + 1, n - 2);
		} else {
			man_arg(b, c, n);
		}
		s = *close ? close + 1 : close;
		/* punctuation that ends the span's word */
		size_t p = 0;
		while (closing(s[p]))
			p++;
		if (p && (!s[p] || s[p] == ' ')) {
			for (size_t i = 0; i < p; i++)
				buf_addf(b, " %c", s[i]);
			s += p;
		}
		buf_adds(b, "\n");
	}
}

static void man_item(struct buf *b, const struct conf_key *k, const char *name);

static void man_list(struct buf *b, const struct conf_table *t, const char *prefix, bool nested)
{
	for (const struct conf_key *k = t->keys; k->name; k++) {
		char *name = nested || !*prefix ? xstrdup(k->name) : xasprintf("%s.%s", prefix, k->name);
		if (k->type == CONF_GROUP && !nested)
			man_list(b, k->sub, name, false);
		else
			man_item(b, k, name);
		free(name);
	}
}

static void man_item(struct buf *b, const struct conf_key *k, const char *name)
{
	buf_addf(b, ".It Cm %s Pq %s\n", name, type_word(k));
	struct buf m = {0};
	if (k->def_doc && !strncmp(k->def_doc, "required", 8)) {
		buf_addf(&m, "R%s", k->def_doc + 1);
	} else {
		buf_adds(&m, "Default ");
		add_default(&m, k, true);
	}
	if (ranged(k)) {
		buf_adds(&m, k->def_doc ? "; range " : ", range ");
		add_values(&m, k, " or ");
	} else if (k->type == CONF_ENUM) {
		buf_adds(&m, "; one of ");
		add_values(&m, k, " or ");
	}
	buf_adds(&m, ".");
	man_markup(b, m.data);
	buf_free(&m);
	man_markup(b, k->doc);
	if (k->type == CONF_GROUP || k->type == CONF_LIST) {
		buf_adds(b, ".Bl -tag -width Ds\n");
		man_list(b, k->sub, "", true);
		buf_adds(b, ".El\n");
	}
}

static char *mdoc(void)
{
	struct buf b = {0};
	buf_adds(&b, MAN_BEGIN);
	const char *section = NULL;
	for (const struct conf_key *k = config_root.keys; k->name; k++) {
		if (!section || strcmp(section, k->sub->section)) {
			if (section)
				buf_adds(&b, ".El\n");
			section = k->sub->section;
			buf_addf(&b, ".Sh %s\n.Bl -tag -width Ds\n", section);
		}
		if (k->type == CONF_GROUP)
			man_list(&b, k->sub, k->name, false);
		else
			man_item(&b, k, k->name);
	}
	buf_adds(&b, ".El\n");
	buf_adds(&b, MAN_END);
	return b.data;
}

/* ---- the files ---- */

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	struct buf b = {0};
	char chunk[4096];
	size_t n;
	buf_adds(&b, "");
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		buf_add(&b, chunk, n);
	fclose(f);
	return b.data;
}

/* PATH's text with what lies between the lines BEGIN and END (both
 * included) replaced by WANT; NULL when the markers are not there. */
static char *replaced(const char *path, const char *begin, const char *end, const char *want)
{
	char *text = slurp(path);
	char *a = text ? strstr(text, begin) : NULL;
	char *z = a ? strstr(a, end) : NULL;
	if (!z) {
		free(text);
		return NULL;
	}
	*a = '\0';
	char *out = xasprintf("%s%s%s", text, want, z + strlen(end));
	free(text);
	return out;
}

static void check_file(const char *path, const char *begin, const char *end, char *want)
{
	char *have = slurp(path);
	char *out = replaced(path, begin, end, want);
	if (!have || !out)
		fail_msg("%s: no lines %s... %s (run from the source tree)", path, begin, end);
	if (strcmp(have, out)) {
		/* name the first line that differs */
		const char *a = have, *b = out, *bol = out;
		int line = 1;
		while (*a && *a == *b) {
			if (*a == '\n')
				line++, bol = b + 1;
			a++, b++;
		}
		b = bol;
		const char *nl = strchr(b, '\n');
		fail_msg("%s:%d: the key table differs from src/config_table.c's (`make docs` writes it): wanted "
			 "\"%.*s\"",
			 path, line, nl ? (int)(nl - b) : 80, b);
	}
	free(have);
	free(out);
	free(want);
}

static void test_readme(void **state)
{
	(void)state;
	check_file(README, MD_BEGIN, MD_END, markdown());
}

static void test_manpage(void **state)
{
	(void)state;
	check_file(MANPAGE, MAN_BEGIN, MAN_END, mdoc());
}

/* Every key's default is one of its values, and every key says what it
 * means; names are unique in their group. */
static void check_table(const struct conf_table *t, const char *prefix)
{
	for (const struct conf_key *k = t->keys; k->name; k++) {
		if (!k->doc || !*k->doc)
			fail_msg("%s.%s: no doc", prefix, k->name);
		for (const struct conf_key *j = t->keys; j < k; j++)
			if (!strcmp(j->name, k->name))
				fail_msg("%s.%s: twice", prefix, k->name);
		if (k->type == CONF_GROUP || k->type == CONF_LIST) {
			if (!k->sub)
				fail_msg("%s.%s: a group without members", prefix, k->name);
			check_table(k->sub, k->name);
			continue;
		}
		if (k->def && ranged(k)) {
			double v = strtod(k->def, NULL);
			if (v < k->min || v > k->max)
				fail_msg("%s.%s: default %s outside %g..%g", prefix, k->name, k->def, k->min, k->max);
		}
		if (k->type == CONF_ENUM) {
			bool found = !k->def;
			for (const struct conf_choice *c = k->choices; c && c->name; c++)
				found = found || !strcmp(c->name, k->def);
			if (!k->choices || !found)
				fail_msg("%s.%s: default \"%s\" not among its choices", prefix, k->name, k->def);
		}
		if (k->def && k->type == CONF_BOOL && strcmp(k->def, "true") && strcmp(k->def, "false"))
			fail_msg("%s.%s: default %s is no boolean", prefix, k->name, k->def);
		if (ranged(k) && !(k->min <= k->max))
			fail_msg("%s.%s: an empty range", prefix, k->name);
	}
}

static void test_table(void **state)
{
	(void)state;
	check_table(&config_root, "");
	for (const struct conf_key *k = config_root.keys; k->name; k++)
		assert_true(k->type == CONF_GROUP || k->type == CONF_LIST);
}

/* The markup becomes mdoc a reader can trust: macros for code, quotes,
 * punctuation on the macro's line, one sentence a line, nothing a roff
 * would read as a request or an escape. */
static void test_markup(void **state)
{
	(void)state;
	static const struct {
		const char *in, *want;
	} cases[] = {
		{"Plain.", "Plain.\n"},
		{"One. Two.", "One.\nTwo.\n"},
		{"`en` or `ru`: month names.", ".Li \\&en\nor\n.Li \\&ru :\nmonth names.\n"},
		{"a name (`Europe/Moscow`): zones.", "a name\n.Li ( \\&Europe/Moscow ) :\nzones.\n"},
		{"`\"\"` means none.", ".Qq\nmeans none.\n"},
		{"Default `\"Daily digest\"`.", "Default\n.Qq \"\\&Daily digest\" .\n"},
		{"`a b` and `\"q\\\"`", ".Ql \"\\&a b\"\nand\n.Qq \\&q\\e\n"},
		{".dot first", "\\&.dot first\n"},
		{"x — y", "x \\(em y\n"},
		{"`12,5 тыс.` and `a;`", ".Ql \"\\&12,5 тыс.\\&\"\nand\n.Ql \\&a;\\&\n"},
		/* at most 80 bytes a line, and a line cut before a dot is no request */
		{"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx .j", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\\&.j\n"},
		{"`No`", ".Li \\&No\n"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct buf b = {0};
		buf_adds(&b, "");
		man_markup(&b, cases[i].in);
		if (strcmp(b.data, cases[i].want))
			fail_msg("case %zu: \"%s\" gave \"%s\", wanted \"%s\"", i, cases[i].in, b.data, cases[i].want);
		buf_free(&b);
	}
}

static int write_docs(void)
{
	struct {
		const char *path, *begin, *end;
		char *want;
	} files[] = {{README, MD_BEGIN, MD_END, markdown()}, {MANPAGE, MAN_BEGIN, MAN_END, mdoc()}};
	int rc = 0;
	for (size_t i = 0; i < ARRAY_LEN(files); i++) {
		char *out = replaced(files[i].path, files[i].begin, files[i].end, files[i].want);
		if (!out) {
			fprintf(stderr, "%s: no lines %s... %s\n", files[i].path, files[i].begin, files[i].end);
			rc = 1;
		} else {
			char *tmp = xasprintf("%s.tmp", files[i].path);
			FILE *f = fopen(tmp, "w");
			if (!f || fputs(out, f) < 0 || fclose(f) != 0 || rename(tmp, files[i].path) < 0) {
				perror(files[i].path);
				rc = 1;
			}
			free(tmp);
		}
		free(out);
		free(files[i].want);
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc == 2 && !strcmp(argv[1], "--write"))
		return write_docs();
	if (argc == 2 && (!strcmp(argv[1], "--markdown") || !strcmp(argv[1], "--mdoc"))) {
		char *text = argv[1][2] == 'm' && argv[1][3] == 'a' ? markdown() : mdoc();
		int rc = fputs(text, stdout) < 0 || fflush(stdout) != 0;
		free(text);
		return rc;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_markup),
		cmocka_unit_test(test_readme),
		cmocka_unit_test(test_manpage),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
