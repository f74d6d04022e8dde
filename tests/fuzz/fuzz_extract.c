/* libFuzzer target: listing pages, feeds and article pages from arbitrary bytes. */
#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest/config.h"
#include "digest/extract.h"
#include "digest/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int once;
	if (!once) {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		extract_init();
		log_set_level(LOG_QUIET);
		once = 1;
	}
	struct source s;
	memset(&s, 0, sizeof s);
	s.name = "fuzz";
	int kind = size ? data[0] % 3 : 0;
	s.type = kind == 0 ? SOURCE_HTML : kind == 1 ? SOURCE_RSS : SOURCE_ATOM;
	/* a feed whose selectors are the built-in ones, chosen by the root */
	if (kind != 0 && size && (data[0] & 0x80))
		s.defaults = ~0u;
	s.item = kind == 0 ? "//div | //li | //article" : kind == 1 ? "//item" : "//atom:entry";
	s.link = kind == 2 ? "(atom:link/@href)[1]" : "(.//a/@href | link)[1]";
	s.next = "//a[@rel='next']/@href";
	s.list.title = "(.//a | title | atom:title)[1]";
	s.list.published = "(.//time/@datetime | pubDate | atom:updated)[1]";
	s.list.views = ".//*[@class='views']";
	s.list.summary = "(.//p | description | atom:summary)[1]";
	s.list.image = ".//img/@src";
	s.article.title = "//h1";
	s.article.views = "string(//span)";
	static const char *const charsets[] = {NULL, "windows-1251", "koi8-r", "utf-8", "bogus"};
	const char *cs = size > 1 ? charsets[data[1] % 5] : NULL;
	const char *body = size > 2 ? (const char *)data + 2 : "";
	size_t len = size > 2 ? size - 2 : 0;

	struct page_result r;
	char *err = NULL;
	if (extract_list(&s, "https://news.example.org/list/", body, len, cs, &r, &err) == 0)
		page_result_free(&r);
	free(err);
	err = NULL;
	struct raw_fields f;
	memset(&f, 0, sizeof f);
	if (extract_article(&s, "https://news.example.org/a/1", body, len, cs, &f, &err) == 0)
		raw_fields_free(&f);
	free(err);
	return 0;
}
