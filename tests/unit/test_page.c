/* Unit tests of page: every page of `digest serve` in both languages, statuses, escaping, forms' actions. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/config.h"
#include "digest/page.h"
#include "digest/util.h"

static char dir[] = "/tmp/digest-page-XXXXXX";

/* Write TEXT to DIR/NAME. */
static void write_file(const char *name, const char *text)
{
	char *path = xasprintf("%s/%s", dir, name);
	char *d = path_dir(path);
	assert_int_equal(mkdir_p(d, 0700), 0);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
	free(d);
	free(path);
}

/* A configuration of TEXT (digest.conf), loaded with its warnings (no
 * sources) kept off the test's output. */
static struct config *load_config(const char *text)
{
	write_file("digest.conf", text);
	char *path = xasprintf("%s/digest.conf", dir);
	fflush(stderr);
	int saved = dup(2);
	int null = open("/dev/null", O_WRONLY);
	assert_true(saved >= 0 && null >= 0);
	dup2(null, 2);
	close(null);
	struct config *cfg = NULL;
	int rc = config_load(path, &cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	free(path);
	assert_int_equal(rc, 0);
	assert_non_null(cfg);
	return cfg;
}

static struct config *locale_config(const char *locale)
{
	char *text = xasprintf("newsletter = { name = \"A & B <News> \\\"Daily\\\"\"; locale = \"%s\";\n"
			       "  base_url = \"https://news.example.org/digest\"; timezone = \"UTC\"; };\n",
			       locale);
	struct config *cfg = load_config(text);
	free(text);
	return cfg;
}

static const char *const kind_names[PAGE_COUNT] = {
	"PAGE_FORM",        "PAGE_CHECK_INBOX", "PAGE_BAD_ADDRESS", "PAGE_CONFIRM",   "PAGE_CONFIRMED",
	"PAGE_ALREADY_ACTIVE", "PAGE_LINK_EXPIRED", "PAGE_UNSUBSCRIBE", "PAGE_UNSUBSCRIBED", "PAGE_BAD_LINK",
	"PAGE_FORGED_LINK", "PAGE_NOT_FOUND",   "PAGE_BAD_METHOD",  "PAGE_TOO_LARGE", "PAGE_BAD_TYPE",
	"PAGE_BAD_REQUEST", "PAGE_TOO_MANY",    "PAGE_FAILED",
};

/* The statuses the header promises. */
static const int want_status[PAGE_COUNT] = {
	[PAGE_FORM] = 200,        [PAGE_CHECK_INBOX] = 200,  [PAGE_BAD_ADDRESS] = 400, [PAGE_CONFIRM] = 200,
	[PAGE_CONFIRMED] = 200,   [PAGE_ALREADY_ACTIVE] = 200, [PAGE_LINK_EXPIRED] = 410, [PAGE_UNSUBSCRIBE] = 200,
	[PAGE_UNSUBSCRIBED] = 200, [PAGE_BAD_LINK] = 400,    [PAGE_FORGED_LINK] = 403, [PAGE_NOT_FOUND] = 404,
	[PAGE_BAD_METHOD] = 405,  [PAGE_TOO_LARGE] = 413,    [PAGE_BAD_TYPE] = 415,    [PAGE_BAD_REQUEST] = 400,
	[PAGE_TOO_MANY] = 429,    [PAGE_FAILED] = 500,
};

static void test_status(void **state)
{
	(void)state;
	for (int k = 0; k < PAGE_COUNT; k++)
		if (page_status((enum page_kind)k) != want_status[k])
			fail_msg("%s: status %d, want %d", kind_names[k], page_status((enum page_kind)k), want_status[k]);
	assert_int_equal(page_status(PAGE_COUNT), 500);
	assert_int_equal(page_status((enum page_kind)-1), 500);
	assert_int_equal(page_status((enum page_kind)1000), 500);
}

/* Whether S is valid UTF-8 (shortest forms, no surrogates). */
static bool utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		int n = (*p & 0xE0) == 0xC0 ? 1 : (*p & 0xF0) == 0xE0 ? 2 : (*p & 0xF8) == 0xF0 ? 3 : -1;
		if (n < 0 || *p == 0xC0 || *p == 0xC1 || *p > 0xF4)
			return false;
		uint32_t cp = *p & (0x3F >> n);
		for (int i = 1; i <= n; i++) {
			if ((p[i] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || (cp >= 0xD800 && cp <= 0xDFFF) ||
		    cp > 0x10FFFF)
			return false;
		p += n + 1;
	}
	return true;
}

static size_t count(const char *s, const char *needle)
{
	size_t c = 0;
	for (const char *p = s; (p = strstr(p, needle)); p += strlen(needle))
		c++;
	return c;
}

static char *render(const struct pages *p, enum page_kind kind, const struct page_args *a)
{
	struct buf b = {0};
	page_render(p, kind, a, &b);
	assert_non_null(b.data);
	assert_int_equal(strlen(b.data), b.len);
	return b.data;
}

#define EVIL_NAME "<script>alert(\"x\")</script>' & \"q\""
#define EVIL_NAME_ESC "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; &amp; &quot;q&quot;"
#define EVIL_EMAIL "\"><img src=x onerror=alert(1)>@x.org"
#define EVIL_EMAIL_ESC "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;@x.org"
#define EVIL_TOKEN "\"><script>t</script>"
#define EVIL_TOKEN_ESC "&quot;&gt;&lt;script&gt;t&lt;/script&gt;"

/* Every page in both languages: a whole document in its language, the
 * newsletter's name escaped, the right class, and nothing unescaped. */
static void test_every_page(void **state)
{
	(void)state;
	static const char *const locales[] = {"en", "ru"};
	for (size_t l = 0; l < ARRAY_LEN(locales); l++) {
		struct config *cfg = locale_config(locales[l]);
		struct pages *p = NULL;
		char *err = NULL;
		if (page_load(cfg, &p, &err) < 0)
			fail_msg("page_load (%s): %s", locales[l], err);
		assert_non_null(p);
		char lang[32];
		snprintf(lang, sizeof lang, "<html lang=\"%s\">", locales[l]);
		char *titles[PAGE_COUNT];
		for (int k = 0; k < PAGE_COUNT; k++) {
			struct page_args a = {.root = "/digest", .email = EVIL_EMAIL, .name = EVIL_NAME,
					      .token = EVIL_TOKEN, .detail = "<b>why</b>"};
			char *html = render(p, (enum page_kind)k, &a);
			const char *kn = kind_names[k];
			if (strncmp(html, "<!DOCTYPE html>", 15) != 0)
				fail_msg("%s/%s: no doctype", locales[l], kn);
			if (!strstr(html, lang))
				fail_msg("%s/%s: no %s", locales[l], kn, lang);
			if (!strstr(html, "</html>"))
				fail_msg("%s/%s: cut short", locales[l], kn);
			if (!utf8_ok(html))
				fail_msg("%s/%s: not UTF-8", locales[l], kn);
			if (!strstr(html, "A &amp; B &lt;News&gt; &quot;Daily&quot;"))
				fail_msg("%s/%s: the newsletter's name is missing or unescaped", locales[l], kn);
			const char *cls = want_status[k] < 400 ? "<main class=\"ok\">" : "<main class=\"error\">";
			if (!strstr(html, cls))
				fail_msg("%s/%s: no %s", locales[l], kn, cls);
			/* nothing of the request comes out raw */
			if (strstr(html, "<script>") || strstr(html, "<img") || strstr(html, "<b>why") ||
			    strstr(html, "News>"))
				fail_msg("%s/%s: unescaped input:\n%s", locales[l], kn, html);
			/* one title, one heading */
			assert_int_equal(count(html, "<title>"), 1);
			assert_int_equal(count(html, "<h1>"), 1);
			const char *t = strstr(html, "<h1>") + 4;
			const char *te = strstr(t, "</h1>");
			assert_non_null(te);
			assert_true(te > t);
			titles[k] = xstrndup(t, (size_t)(te - t));
			/* the Russian pages are in Russian */
			if (!strcmp(locales[l], "ru") && !strstr(titles[k], "\xd0") && !strstr(titles[k], "\xd1"))
				fail_msg("ru/%s: title \"%s\" is not Russian", kn, titles[k]);
			if (!strcmp(locales[l], "en") && (strstr(titles[k], "\xd0") || strstr(titles[k], "\xd1")))
				fail_msg("en/%s: title \"%s\" is not English", kn, titles[k]);
			free(html);
		}
		/* every page says something of its own */
		for (int i = 0; i < PAGE_COUNT; i++)
			for (int j = i + 1; j < PAGE_COUNT; j++)
				if (!strcmp(titles[i], titles[j]))
					fail_msg("%s: %s and %s have one title \"%s\"", locales[l], kind_names[i],
						 kind_names[j], titles[i]);
		for (int k = 0; k < PAGE_COUNT; k++)
			free(titles[k]);
		page_free(p);
		config_free(cfg);
	}
	page_free(NULL);
}

/* The subscribe form: its action under ROOT, the values given back escaped. */
static void test_form(void **state)
{
	(void)state;
	struct config *cfg = locale_config("en");
	struct pages *p;
	char *err = NULL;
	assert_int_equal(page_load(cfg, &p, &err), 0);
	static const struct {
		const char *root, *action;
	} roots[] = {
		{"", "action=\"/subscribe\""},
		{NULL, "action=\"/subscribe\""},
		{"/digest", "action=\"/digest/subscribe\""},
		{"/a/b", "action=\"/a/b/subscribe\""},
		{"/x\"y", "action=\"/x&quot;y/subscribe\""},
	};
	for (size_t i = 0; i < ARRAY_LEN(roots); i++) {
		struct page_args a = {.root = roots[i].root};
		char *html = render(p, PAGE_FORM, &a);
		if (!strstr(html, roots[i].action))
			fail_msg("root \"%s\": no %s", roots[i].root ? roots[i].root : "(null)", roots[i].action);
		assert_int_equal(count(html, "<form "), 1);
		assert_non_null(strstr(html, "method=\"post\""));
		assert_non_null(strstr(html, "name=\"email\" value=\"\""));
		assert_non_null(strstr(html, "name=\"name\" value=\"\""));
		assert_null(strstr(html, "name=\"t\""));
		free(html);
	}
	/* no arguments at all */
	char *html = render(p, PAGE_FORM, NULL);
	assert_non_null(strstr(html, "action=\"/subscribe\""));
	free(html);
	/* PAGE_BAD_ADDRESS: the form again with what was typed, escaped, and why */
	struct page_args a = {.root = "/d", .email = EVIL_EMAIL, .name = EVIL_NAME, .detail = "no @ <here>"};
	html = render(p, PAGE_BAD_ADDRESS, &a);
	assert_non_null(strstr(html, "action=\"/d/subscribe\""));
	if (!strstr(html, "name=\"email\" value=\"" EVIL_EMAIL_ESC "\""))
		fail_msg("the email value is missing or unescaped:\n%s", html);
	if (!strstr(html, "name=\"name\" value=\"" EVIL_NAME_ESC "\""))
		fail_msg("the name value is missing or unescaped:\n%s", html);
	assert_non_null(strstr(html, "no @ &lt;here&gt;"));
	free(html);
	/* Cyrillic values come back as they were */
	struct page_args c = {.email = "иван@пример.рф", .name = "Иван Петров"};
	html = render(p, PAGE_BAD_ADDRESS, &c);
	assert_non_null(strstr(html, "value=\"иван@пример.рф\""));
	assert_non_null(strstr(html, "value=\"Иван Петров\""));
	free(html);
	/* the detail is only for PAGE_BAD_ADDRESS */
	html = render(p, PAGE_FORM, &a);
	assert_null(strstr(html, "no @"));
	free(html);
	page_free(p);
	config_free(cfg);
}

/* The confirm and unsubscribe buttons: a POST form to ROOT/confirm or
 * ROOT/unsubscribe with the token hidden in it; the address shown. */
static void test_buttons(void **state)
{
	(void)state;
	static const char *const locales[] = {"en", "ru"};
	for (size_t l = 0; l < ARRAY_LEN(locales); l++) {
		struct config *cfg = locale_config(locales[l]);
		struct pages *p;
		char *err = NULL;
		assert_int_equal(page_load(cfg, &p, &err), 0);
		static const struct {
			enum page_kind kind;
			const char *root, *action;
			bool danger;
		} cases[] = {
			{PAGE_CONFIRM, "", "action=\"/confirm\"", false},
			{PAGE_CONFIRM, "/digest", "action=\"/digest/confirm\"", false},
			{PAGE_UNSUBSCRIBE, "", "action=\"/unsubscribe\"", true},
			{PAGE_UNSUBSCRIBE, "/digest", "action=\"/digest/unsubscribe\"", true},
		};
		for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
			const char *tok = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA_-";
			struct page_args a = {.root = cases[i].root, .email = "a+b@x.org", .token = tok};
			char *html = render(p, cases[i].kind, &a);
			if (!strstr(html, cases[i].action))
				fail_msg("%s %s: no %s", locales[l], kind_names[cases[i].kind], cases[i].action);
			assert_non_null(strstr(html, "method=\"post\""));
			char *hidden = xasprintf("<input type=\"hidden\" name=\"t\" value=\"%s\">", tok);
			assert_non_null(strstr(html, hidden));
			free(hidden);
			assert_non_null(strstr(html, "<p class=\"email\">a+b@x.org</p>"));
			assert_int_equal(count(html, "<button"), 1);
			assert_true((strstr(html, "class=\"danger\"") != NULL) == cases[i].danger);
			/* no subscribe form on a button page */
			assert_null(strstr(html, "/subscribe\""));
			free(html);
			/* the token escaped */
			a.token = EVIL_TOKEN;
			a.email = EVIL_EMAIL;
			html = render(p, cases[i].kind, &a);
			if (!strstr(html, "name=\"t\" value=\"" EVIL_TOKEN_ESC "\""))
				fail_msg("the token is missing or unescaped:\n%s", html);
			if (!strstr(html, "<p class=\"email\">" EVIL_EMAIL_ESC "</p>"))
				fail_msg("the email is missing or unescaped:\n%s", html);
			free(html);
			/* without a token: no button */
			a.token = NULL;
			html = render(p, cases[i].kind, &a);
			assert_null(strstr(html, "name=\"t\""));
			assert_null(strstr(html, "<button"));
			free(html);
		}
		page_free(p);
		config_free(cfg);
	}
}

/* Which pages show the address: those about a subscription the link
 * proved; never the "check your inbox" page, which must not tell whether
 * an address is subscribed, nor the error pages. */
static void test_email_shown(void **state)
{
	(void)state;
	struct config *cfg = locale_config("ru");
	struct pages *p;
	char *err = NULL;
	assert_int_equal(page_load(cfg, &p, &err), 0);
	for (int k = 0; k < PAGE_COUNT; k++) {
		struct page_args a = {.root = "", .email = "someone@x.org", .token = "tok"};
		char *html = render(p, (enum page_kind)k, &a);
		bool shown = strstr(html, "<p class=\"email\">someone@x.org</p>") != NULL;
		bool want = k == PAGE_CONFIRM || k == PAGE_CONFIRMED || k == PAGE_ALREADY_ACTIVE ||
			    k == PAGE_UNSUBSCRIBE || k == PAGE_UNSUBSCRIBED;
		if (shown != want)
			fail_msg("%s: the address is %sshown", kind_names[k], shown ? "" : "not ");
		/* the address follows the paragraph that leads to it, right after the heading */
		if (want) {
			const char *h1 = strstr(html, "</h1>\n<p>");
			const char *lead_end = h1 ? strstr(h1 + 9, "</p>\n") : NULL;
			if (!lead_end || strncmp(lead_end, "</p>\n<p class=\"email\">", 22) != 0)
				fail_msg("%s: the address does not follow the lead paragraph:\n%s", kind_names[k], html);
		}
		if (k == PAGE_CHECK_INBOX && strstr(html, "someone@x.org"))
			fail_msg("PAGE_CHECK_INBOX tells the address back");
		free(html);
	}
	/* an unknown kind is the failure page */
	char *bad = render(p, PAGE_COUNT, NULL), *failed = render(p, PAGE_FAILED, NULL);
	assert_string_equal(bad, failed);
	free(bad);
	bad = render(p, (enum page_kind)-5, NULL);
	assert_string_equal(bad, failed);
	free(bad);
	free(failed);
	page_free(p);
	config_free(cfg);
}

/* page_render from several threads at once gives what one thread does. */
struct job {
	const struct pages *p;
	char *out[PAGE_COUNT];
};

static void *render_all(void *arg)
{
	struct job *j = arg;
	for (int round = 0; round < 20; round++)
		for (int k = 0; k < PAGE_COUNT; k++) {
			struct page_args a = {.root = "/r", .email = "e@x.org", .name = "N", .token = "T", .detail = "d"};
			struct buf b = {0};
			page_render(j->p, (enum page_kind)k, &a, &b);
			if (round == 0)
				j->out[k] = b.data;
			else if (strcmp(b.data, j->out[k]) != 0)
				abort();
			else
				buf_free(&b);
		}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	struct config *cfg = locale_config("ru");
	struct pages *p;
	char *err = NULL;
	assert_int_equal(page_load(cfg, &p, &err), 0);
	enum { T = 4 };
	struct job jobs[T];
	pthread_t th[T];
	for (int i = 0; i < T; i++) {
		jobs[i].p = p;
		assert_int_equal(pthread_create(&th[i], NULL, render_all, &jobs[i]), 0);
	}
	for (int i = 0; i < T; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int k = 0; k < PAGE_COUNT; k++)
		for (int i = 0; i < T; i++) {
			assert_string_equal(jobs[i].out[k], jobs[0].out[k]);
			if (i)
				free(jobs[i].out[k]);
		}
	for (int k = 0; k < PAGE_COUNT; k++)
		free(jobs[0].out[k]);
	page_free(p);
	config_free(cfg);
}

/* page.html from the templates directory: used when there, the built-in
 * one when the directory lacks it, an error naming file and line when
 * broken. */
static void test_templates_dir(void **state)
{
	(void)state;
	/* a directory without page.html */
	write_file("tpl-empty/readme", "nothing\n");
	struct config *cfg = load_config("templates = { dir = \"tpl-empty\"; };\n");
	struct pages *p;
	char *err = NULL;
	assert_int_equal(page_load(cfg, &p, &err), 0);
	char *html = render(p, PAGE_FORM, NULL);
	assert_non_null(strstr(html, "<html lang=\"en\">"));
	free(html);
	page_free(p);
	config_free(cfg);
	/* a page of one's own */
	write_file("tpl-own/page.html", "<p data-status=\"{{kind}}\">{{title}}|{{#form}}{{action}}{{/form}}|"
					"{{#button}}{{action}} {{token}}{{/button}}|{{t.lang}}</p>\n");
	cfg = load_config("newsletter = { locale = \"ru\"; };\ntemplates = { dir = \"tpl-own\"; };\n");
	assert_int_equal(page_load(cfg, &p, &err), 0);
	struct page_args a = {.root = "/x", .token = "<t>"};
	html = render(p, PAGE_FORM, &a);
	assert_string_equal(html, "<p data-status=\"ok\">Подписка|/x/subscribe||ru</p>\n");
	free(html);
	html = render(p, PAGE_UNSUBSCRIBE, &a);
	assert_non_null(strstr(html, "|/x/unsubscribe &lt;t&gt;|"));
	free(html);
	html = render(p, PAGE_TOO_MANY, &a);
	assert_non_null(strstr(html, "data-status=\"error\""));
	free(html);
	page_free(p);
	config_free(cfg);
	/* a broken one */
	write_file("tpl-bad/page.html", "<html>\n<body>\n{{#form}}\n<p>never closed\n");
	cfg = load_config("templates = { dir = \"tpl-bad\"; };\n");
	p = (struct pages *)(uintptr_t)1; /* set to NULL on failure */
	assert_int_equal(page_load(cfg, &p, &err), -1);
	assert_null(p);
	assert_non_null(err);
	if (!strstr(err, "page.html"))
		fail_msg("the error does not name the file: %s", err);
	if (!strstr(err, ":3") && !strstr(err, ":5"))
		fail_msg("the error does not name a line: %s", err);
	free(err);
	config_free(cfg);
}

static int setup(void **state)
{
	(void)state;
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_status),
		cmocka_unit_test(test_every_page),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_buttons),
		cmocka_unit_test(test_email_shown),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_templates_dir),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
