/* Unit tests of config: defaults, relative paths, and every kind of error with its file:line. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "digest/config.h"
#include "digest/config_table.h"
#include "digest/extract.h"
#include "digest/log.h"
#include "digest/parse.h"
#include "digest/util.h"

static char dir[] = "/tmp/digest-config-XXXXXX";

/* Write TEXT to DIR/digest.conf, load it with stderr captured into *OUT
 * (malloc'd), return config_load's result. */
static int load(const char *text, struct config **cfg, char **out)
{
	char *path = xasprintf("%s/digest.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);

	char *errpath = xasprintf("%s/stderr", dir);
	fflush(stderr);
	int saved = dup(2);
	int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	close(fd);
	int rc = config_load(path, cfg);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);

	struct buf b = {0};
	buf_adds(&b, "");
	f = fopen(errpath, "r");
	char line[1024];
	while (f && fgets(line, sizeof line, f))
		buf_adds(&b, line);
	if (f)
		fclose(f);
	*out = b.data;
	free(errpath);
	free(path);
	return rc;
}

static void test_defaults(void **state)
{
	(void)state;
	struct config *cfg;
	char *out;
	assert_int_equal(load("", &cfg, &out), 0);
	assert_int_equal(cfg->digest.max_articles, 10);
	assert_int_equal(cfg->digest.window_hours, 24);
	assert_int_equal(cfg->digest.min_views, 0);
	assert_false(cfg->digest.send_empty);
	assert_int_equal(cfg->digest.summary_chars, 280);
	assert_int_equal(cfg->delivery.smtp.port, 587);
	assert_true(cfg->delivery.smtp.tls_verify);
	assert_int_equal(cfg->fetch.timeout, 30);
	assert_true(cfg->fetch.tls_verify);
	char *db = xasprintf("%s/var/digest.db", dir);
	assert_string_equal(cfg->storage.database, db);
	free(db);
	assert_non_null(strstr(out, "sources: none configured"));
	assert_null(cfg->dkim.domain); /* no dkim block: nothing is signed */
	assert_int_equal(cfg->dkim.nkeys, 0);
	config_free(cfg);
	free(out);
}

static void test_values(void **state)
{
	(void)state;
	struct config *cfg;
	char *out;
	static const char text[] =
		"newsletter = { timezone = \"Asia/Kolkata\"; locale = \"ru\"; secret_file = \"/etc/x\"; };\n"
		"digest = { max_articles = 5; min_views = 100L; window_hours = 48; send_empty = true; };\n"
		"storage = { database = \"data/my.db\"; };\n"
		"delivery = { transport = \"maildir\"; smtp = { security = \"tls\"; }; };\n"
		"fetch = { timeout = 2; max_body = 100000; parallel = 3; per_host = 1; };\n"
		"sources = ( { name = \"local\"; type = \"html\"; url = \"site/index.html\";\n"
		"   item = \"//li\"; link = \"a/@href\"; title = \"a\"; follow = true;\n"
		"   article = { views = \"//b\"; }; date_format = \"%d/%m/%Y\"; max_pages = 2;\n"
		"   language = \"de\"; date_order = \"mdy\"; } );\n"
		"dkim = { domain = \"example.org\";\n"
		"  keys = ( { selector = \"rsa2026\"; key_file = \"keys/rsa.pem\"; },\n"
		"           { selector = \"ed2026\"; key_file = \"/etc/ed.pem\"; } ); };\n";
	assert_int_equal(load(text, &cfg, &out), 0);
	assert_string_equal(out, "");
	assert_string_equal(cfg->newsletter.timezone, "Asia/Kolkata");
	assert_string_equal(cfg->newsletter.secret_file, "/etc/x");
	assert_int_equal(cfg->digest.max_articles, 5);
	assert_int_equal(cfg->digest.min_views, 100);
	assert_true(cfg->digest.send_empty);
	assert_int_equal(cfg->delivery.smtp.port, 465);
	assert_int_equal(cfg->fetch.parallel, 3);
	char *db = xasprintf("%s/data/my.db", dir);
	assert_string_equal(cfg->storage.database, db);
	free(db);
	assert_int_equal(cfg->nsources, 1);
	char *url = xasprintf("file://%s/site/index.html", dir);
	assert_string_equal(cfg->sources[0].url, url);
	free(url);
	assert_true(cfg->sources[0].follow);
	assert_string_equal(cfg->sources[0].article.views, "//b");
	assert_int_equal(cfg->sources[0].max_pages, 2);
	assert_string_equal(cfg->sources[0].language, "de");
	assert_int_equal(cfg->sources[0].date_order, PARSE_MDY);
	assert_string_equal(cfg->dkim.domain, "example.org");
	assert_int_equal(cfg->dkim.nkeys, 2);
	assert_string_equal(cfg->dkim.keys[0].selector, "rsa2026");
	char *kf = xasprintf("%s/keys/rsa.pem", dir); /* relative to digest.conf */
	assert_string_equal(cfg->dkim.keys[0].key_file, kf);
	free(kf);
	assert_int_equal(cfg->dkim.keys[0].line, 11);
	assert_string_equal(cfg->dkim.keys[1].key_file, "/etc/ed.pem");
	config_free(cfg);
	free(out);
}

static void test_source_defaults(void **state)
{
	(void)state;
	struct config *cfg;
	char *out;
	static const char text[] =
		"sources = ( { name = \"bare\"; url = \"http://x/\"; item = \"//li\"; next = \"//a[@rel='next']/@href\"; },\n"
		"            { name = \"art\"; url = \"http://x/\"; item = \"//li\"; follow = true;\n"
		"              article = { title = \"//h1\"; }; },\n"
		"            { name = \"feed\"; type = \"rss\"; url = \"http://x/rss\"; comments = \"count(x)\"; },\n"
		"            { name = \"atom\"; type = \"atom\"; url = \"http://x/atom\"; } );\n";
	assert_int_equal(load(text, &cfg, &out), 0);
	assert_int_equal(cfg->nsources, 4);
	const struct source *s = cfg->sources;
	assert_string_equal(s[0].link, "(descendant-or-self::a[@href])[1]/@href");
	/* the first link with text: an image link first in the item has none */
	assert_string_equal(s[0].list.title, "(descendant-or-self::a[@href][normalize-space()])[1]");
	assert_int_equal(s[0].max_pages, 10);
	assert_false(s[0].follow);
	assert_null(s[1].list.title); /* the article page gives it */
	assert_int_equal(s[1].max_pages, 1);
	assert_int_equal(s[2].type, SOURCE_RSS);
	assert_string_equal(s[2].item, "//item");
	assert_string_equal(s[2].list.comments, "count(x)"); /* a set key wins over the default */
	assert_non_null(s[2].list.published);
	assert_string_equal(s[3].item, "//atom:entry");
	assert_non_null(strstr(s[3].link, "alternate"));
	config_free(cfg);
	free(out);
}

static void test_errors(void **state)
{
	(void)state;
	/* an included file, found beside the main one whatever the working
	 * directory, and named in its own errors */
	char *part = xasprintf("%s/part.conf", dir);
	FILE *pf = fopen(part, "w");
	fputs("# included\ndigest = { max_articles = \"many\"; };\n", pf);
	fclose(pf);
	free(part);
	static const struct {
		const char *text;
		const char *want; /* a part of stderr */
	} cases[] = {
		{"digest = { max_articles = \"ten\"; };", "digest.conf:1: digest.max_articles: expected an integer"},
		{"\n\ndigest = {\n max_articles = 0; };", "digest.conf:4: digest.max_articles: expected 1..1000"},
		{"delivery = { smtp = { port = 70000; }; };", "digest.conf:1: delivery.smtp.port: expected 1..65535"},
		{"delivery = { smtp = { security = \"ssl\"; }; };", "delivery.smtp.security: expected none | starttls | tls"},
		{"delivery = { transport = \"pigeon\"; };", "delivery.transport: expected smtp | maildir"},
		{"digest = { send_empty = 1; };", "digest.send_empty: expected true or false"},
		{"digest = 5;", "digest: expected a group"},
		{"newsletter = { timezone = \"Mars/Olympus\"; };", "newsletter.timezone: unknown time zone"},
		{"newsletter = { timezone = \"../../etc/passwd\"; };", "newsletter.timezone: unknown time zone"},
		{"newsletter = { timezone = \"Europe\"; };", "newsletter.timezone: unknown time zone"},
		{"newsletter = { timezone = \"posix\"; };", "newsletter.timezone: unknown time zone"},
		{"fetch = { private_addresses = \"maybe\"; };", "fetch.private_addresses: expected auto | allow | deny"},
		{"sources = ( { name = \"a\"; type = \"rss\"; url = \"http://x/\"; max_follow = -1; } );",
		 "sources.a.max_follow: expected 0..100000"},
		{"sources = ( { name = \"a\"; type = \"rss\"; url = \"http://x/\"; language = \"xx\"; } );",
		 "sources.a.language: unknown language \"xx\" (known: en, ru, de, fr, es, it, pt, nl, pl, cs, uk, ca)"},
		{"sources = ( { name = \"a\"; type = \"rss\"; url = \"http://x/\"; language = 1; } );",
		 "sources.a.language: expected a string"},
		{"@include \"part.conf\"\n", "part.conf:2: digest.max_articles: expected an integer"},
		{"newsletter = { locale = \"fr\"; };", "newsletter.locale: expected en | ru"},
		{"newsletter = { base_url = \"ftp://x\"; };", "newsletter.base_url: expected an http or https URL"},
		{"newsletter = { name = \"\"; };", "newsletter.name: must not be empty"},
		{"newsletter = {\n feedback_id = \"a:b\"; };", "digest.conf:2: newsletter.feedback_id: \"a:b\": printable ASCII"},
		{"newsletter = { feedback_id = \"two words\"; };", "newsletter.feedback_id: \"two words\": printable ASCII"},
		{"newsletter = { feedback_id = \"r\303\251sum\303\251\"; };", "newsletter.feedback_id:"},
		{"sources = 5;", "sources: expected a list"},
		{"sources = ( { type = \"rss\"; url = \"http://x/\"; } );", "sources.[0]: a source needs a name"},
		{"sources = ( { name = \"a\"; type = \"rss\"; } );", "sources.a.url: a source needs a url"},
		{"sources = ( { name = \"a\"; type = \"json\"; url = \"http://x/\"; } );", "sources.a.type: expected html | rss | atom"},
		{"sources = ( { name = \"a\"; url = \"ftp://x/\"; item = \"//a\"; link = \"@href\"; } );",
		 "sources.a.url: expected an http, https or file URL"},
		{"sources = ( { name = \"a\"; url = \"http://x/ y\"; item = \"//a\"; link = \"@href\"; } );",
		 "sources.a.url: URL contains a space"},
		{"sources = ( { name = \"a\"; url = \"http://x/\"; link = \"@href\"; } );", "an html source needs an item selector"},
		{"sources = ( { name = \"a\"; url = \"http://x/\";\n item = \"//div[\"; link = \"@href\"; } );",
		 "digest.conf:2: sources.a.item: invalid XPath expression"},
		{"sources = ( { name = \"a\"; url = \"http://x/\"; item = \"//a\"; link = \"@href\";\n"
		 " article = { views = \"//b[@x=\"; }; } );", "digest.conf:2: sources.a.article.views: invalid XPath"},
		{"sources = ( { name = \"a\"; url = \"http://x/\"; item = \"//a\"; link = \"@href\"; max_pages = 0; } );",
		 "sources.a.max_pages: expected 1..1000"},
		{"sources = ( { name = \"a\"; type = \"rss\"; url = \"http://x/\"; },\n { name = \"a\"; type = \"rss\"; url = \"http://y/\"; } );",
		 "digest.conf:2: sources: two sources are named \"a\""},
		{"sources = ( \"x\" );", "sources.[0]: expected a group"},
		{"fetch = { max_body = 10; };", "fetch.max_body: expected 1024.."},
		{"inbound = { bounce_threshold = 0.25; };", "inbound.bounce_threshold: expected 0.5..1000, got 0.25"},
		{"inbound = { bounce_threshold = \"3\"; };", "inbound.bounce_threshold: expected a number, got a string"},
		{"delivery = { smtp = { retry_delay = 4000; }; };",
		 "delivery.smtp.retry_delay: expected 0..3600 seconds, got 4000"},
		{"delivery = { smtp = { retry_delay = \"1s\"; }; };", "delivery.smtp.retry_delay: expected seconds"},
		{"delivery = { journal_sync = \"off\"; };", "delivery.journal_sync: expected full | normal, got \"off\""},
		{"inbound = { protocol = \"smtp\"; };", "inbound.protocol: expected imap | pop3"},
		{"inbound = { security = \"ssl\"; };", "inbound.security: expected none | starttls | tls"},
		{"sources = ( { name = \"a\"; type = \"rss\"; url = \"http://x/\"; date_order = \"ymd\"; } );",
		 "sources.a.date_order: expected dmy | mdy"},
		{"sources = ( { name = \"a\"; type = \"rss\"; url = \"http://x/\"; article = 3; } );",
		 "sources.a.article: expected a group"},
		{"delivery = { smtp = 1; };", "delivery.smtp: expected a group"},
		{"http = { listen = \"nowhere\"; };", "http.listen:"},
		{"digest = { = 5; };", "digest.conf:1: syntax error"},
		{"digest = { max_articles = 5; ", "digest.conf:1: syntax error"},
		{"\x01\x02\xff garbage", "digest.conf:1:"},
		/* the dkim block */
		{"dkim = { keys = ( { selector = \"s\"; key_file = \"k.pem\"; } ); };",
		 "digest.conf:1: dkim.domain: a dkim block needs the domain"},
		{"dkim = { domain = \"example.org\"; };", "dkim.keys: a dkim block needs at least one key"},
		{"dkim = { domain = \"example.org\"; keys = (); };", "dkim.keys: a dkim block needs at least one key"},
		{"dkim = { domain = \"example.org\"; keys = 5; };", "dkim.keys: expected a list"},
		{"dkim = { domain = \"ex ample.org\"; keys = ( { selector = \"s\"; key_file = \"k\"; } ); };",
		 "dkim.domain: \"ex ample.org\" is not a domain name"},
		{"dkim = { domain = \"example.org\";\n keys = ( { key_file = \"k.pem\"; } ); };",
		 "digest.conf:2: dkim.keys.[0]: a key needs a selector"},
		{"dkim = { domain = \"example.org\"; keys = ( { selector = \"s\"; } ); };",
		 "dkim.keys.[0]: a key needs a key_file"},
		{"dkim = { domain = \"example.org\"; keys = ( { selector = \"a b\"; key_file = \"k\"; } ); };",
		 "dkim.keys.[0]: selector \"a b\" is not a DNS label"},
		{"dkim = { domain = \"example.org\"; keys = ( { selector = \"s\"; key_file = \"k\"; },\n"
		 " { selector = \"s\"; key_file = \"j\"; } ); };",
		 "digest.conf:2: dkim.keys.[1]: two keys have the selector \"s\""},
		{"dkim = { domain = \"example.org\"; keys = ( \"s\" ); };", "dkim.keys.[0]: expected a group"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct config *cfg = (struct config *)1;
		char *out;
		int rc = load(cases[i].text, &cfg, &out);
		if (rc != -1 || !strstr(out, cases[i].want))
			fail_msg("case %zu: rc %d, stderr \"%s\", wanted \"%s\"", i, rc, out, cases[i].want);
		assert_null(cfg);
		free(out);
	}
}

static void test_warnings(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		const char *want;
	} cases[] = {
		{"colour = \"red\";", "digest.conf:1: colour: unknown key, ignored"},
		{"digest = {\n max_artcles = 3; };",
		 "digest.conf:2: digest.max_artcles: unknown key, ignored; did you mean digest.max_articles?"},
		{"delivery = { smtp = { conections = 3; }; };",
		 "delivery.smtp.conections: unknown key, ignored; did you mean delivery.smtp.connections?"},
		{"sources = ( { name = \"s\"; type = \"rss\"; url = \"http://x/\"; article = { tilte = \"t\"; }; } );",
		 "sources.s.article.tilte: unknown key, ignored; did you mean sources.s.article.title?"},
		{"inbound = { zzz = 1; };", "inbound.zzz: unknown key, ignored\n"},
		{"sources = ( { name = \"s\"; type = \"rss\"; url = \"http://x/\"; titel = \"t\"; } );",
		 "sources.s.titel: unknown key"},
		{"sources = ( { name = \"s\"; type = \"rss\"; url = \"http://x/\"; follow = true; } );",
		 "sources.s.follow: no article"},
		{"dkim = { domain = \"example.org\"; keys = ( { selector = \"s\"; key_file = \"k\"; algo = 1; } ); };",
		 "dkim.keys.[0].algo: unknown key"},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct config *cfg;
		char *out;
		int rc = load(cases[i].text, &cfg, &out);
		if (rc != 0 || !strstr(out, cases[i].want) || !strstr(out, "warning"))
			fail_msg("case %zu: rc %d, stderr \"%s\", wanted \"%s\"", i, rc, out, cases[i].want);
		config_free(cfg);
		free(out);
	}
}

/* The closed sets of values come out as their enums, and the ports that
 * follow them as they say. */
static void test_enums(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int transport, journal_sync, smtp_security, smtp_port, protocol, in_security, in_port, locale;
	} cases[] = {
		{"", TRANSPORT_SMTP, JOURNAL_SYNC_FULL, SECURITY_STARTTLS, 587, INBOUND_IMAP, SECURITY_TLS, 993, LOCALE_EN},
		{"delivery = { transport = \"maildir\"; journal_sync = \"normal\"; smtp = { security = \"none\"; }; };\n"
		 "inbound = { protocol = \"pop3\"; security = \"starttls\"; };\nnewsletter = { locale = \"ru\"; };",
		 TRANSPORT_MAILDIR, JOURNAL_SYNC_NORMAL, SECURITY_NONE, 25, INBOUND_POP3, SECURITY_STARTTLS, 110, LOCALE_RU},
		{"delivery = { smtp = { security = \"tls\"; port = 2525; }; };\ninbound = { protocol = \"pop3\"; };",
		 TRANSPORT_SMTP, JOURNAL_SYNC_FULL, SECURITY_TLS, 2525, INBOUND_POP3, SECURITY_TLS, 995, LOCALE_EN},
		{"inbound = { security = \"none\"; port = 1143; };", TRANSPORT_SMTP, JOURNAL_SYNC_FULL, SECURITY_STARTTLS,
		 587, INBOUND_IMAP, SECURITY_NONE, 1143, LOCALE_EN},
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct config *cfg;
		char *out;
		if (load(cases[i].text, &cfg, &out) != 0)
			fail_msg("case %zu: %s", i, out);
		assert_int_equal(cfg->delivery.transport, cases[i].transport);
		assert_int_equal(cfg->delivery.journal_sync, cases[i].journal_sync);
		assert_int_equal(cfg->delivery.smtp.security, cases[i].smtp_security);
		assert_int_equal(cfg->delivery.smtp.port, cases[i].smtp_port);
		assert_int_equal(cfg->inbound.protocol, cases[i].protocol);
		assert_int_equal(cfg->inbound.security, cases[i].in_security);
		assert_int_equal(cfg->inbound.port, cases[i].in_port);
		assert_int_equal(cfg->newsletter.locale, cases[i].locale);
		assert_int_equal(cfg->inbound.set, strstr(cases[i].text, "inbound") != NULL);
		config_free(cfg);
		free(out);
	}
	assert_string_equal(config_choice_name("inbound.protocol", INBOUND_POP3), "pop3");
	assert_string_equal(config_choice_name("delivery.smtp.security", SECURITY_STARTTLS), "starttls");
	assert_string_equal(config_choice_name("delivery.transport", 7), "?");
	assert_string_equal(config_choice_name("no.such.key", 0), "?");
}

/* Write every key of TABLE that has a default, set to it, as digest.conf
 * text into B. */
static void write_defaults(struct buf *b, const struct conf_table *t)
{
	for (const struct conf_key *k = t->keys; k->name; k++) {
		if (k->type == CONF_GROUP) {
			struct buf g = {0};
			write_defaults(&g, k->sub);
			if (g.len) /* an empty dkim block would ask for a domain and keys */
				buf_addf(b, "%s = { %s}; ", k->name, g.data);
			buf_free(&g);
		} else if (k->def && (k->type == CONF_STRING || k->type == CONF_PATH || k->type == CONF_ENUM)) {
			buf_addf(b, "%s = \"%s\"; ", k->name, k->def);
		} else if (k->def && k->type == CONF_INT64) {
			buf_addf(b, "%s = %sL; ", k->name, k->def);
		} else if (k->def && k->type != CONF_XPATH && k->type != CONF_LIST) {
			buf_addf(b, "%s = %s; ", k->name, k->def);
		}
	}
}

/* Every default of the table is a value its key accepts, written out:
 * loading it warns about nothing, fails nothing, and gives what no file
 * at all gives. */
static void test_table_defaults(void **state)
{
	(void)state;
	struct buf b = {0};
	write_defaults(&b, &config_root);
	buf_adds(&b, "\nsources = ( { name = \"s\"; type = \"feed\"; url = \"http://x/\"; } );\n");
	struct config *cfg, *bare;
	char *out, *bare_out;
	if (load(b.data, &cfg, &out) != 0 || *out)
		fail_msg("the defaults written out: %s (%s)", out, b.data);
	assert_int_equal(load("", &bare, &bare_out), 0);
	assert_string_equal(cfg->newsletter.subject, bare->newsletter.subject);
	assert_string_equal(cfg->newsletter.secret_file, bare->newsletter.secret_file);
	assert_string_equal(cfg->fetch.user_agent, bare->fetch.user_agent);
	assert_int_equal(cfg->fetch.max_body, bare->fetch.max_body);
	assert_true(cfg->inbound.bounce_threshold == bare->inbound.bounce_threshold);
	assert_int_equal(cfg->delivery.smtp.port, bare->delivery.smtp.port);
	assert_int_equal(cfg->digest.window_hours, bare->digest.window_hours);
	assert_int_equal(cfg->sources[0].max_follow, 300);
	config_free(cfg);
	config_free(bare);
	free(out);
	free(bare_out);
	buf_free(&b);
}

static void test_missing_file(void **state)
{
	(void)state;
	struct config *cfg = (struct config *)1;
	assert_int_equal(config_load("/nonexistent/digest.conf", &cfg), -1);
	assert_null(cfg);
}

static int setup(void **state)
{
	(void)state;
	extract_init();
	assert_non_null(mkdtemp(dir));
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char *cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
	extract_cleanup();
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults), cmocka_unit_test(test_values), cmocka_unit_test(test_source_defaults),
		cmocka_unit_test(test_errors),   cmocka_unit_test(test_warnings),
		cmocka_unit_test(test_missing_file), cmocka_unit_test(test_enums),
		cmocka_unit_test(test_table_defaults),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
