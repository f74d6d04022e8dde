/* url: resolving links found in pages and normalizing them for storage and merging. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "digest/url.h"
#include "digest/util.h"

enum scheme { SCHEME_BAD, SCHEME_HTTP, SCHEME_HTTPS, SCHEME_FILE };

/*
 * A copy of S without leading and trailing spaces and C0 controls, and
 * without tabs and line breaks inside: hrefs and feed <link>s are often
 * indented or wrapped, and browsers read them the same way.
 */
static char *clean_copy(const char *s)
{
	size_t len = strlen(s);
	while (len > 0 && (unsigned char)s[len - 1] <= 0x20)
		len--;
	while (len > 0 && (unsigned char)*s <= 0x20) {
		s++;
		len--;
	}
	char *out = malloc(len + 1);
	if (!out)
		return NULL;
	size_t n = 0;
	for (size_t i = 0; i < len; i++)
		if (s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			out[n++] = s[i];
	out[n] = '\0';
	return out;
}

static enum scheme scheme_of(CURLU *u)
{
	char *s = NULL;
	enum scheme sc = SCHEME_BAD;
	if (curl_url_get(u, CURLUPART_SCHEME, &s, 0) != CURLUE_OK)
		return SCHEME_BAD;
	/* CURLU lower-cases the scheme; the comparison need not. */
	if (strcmp(s, "http") == 0)
		sc = SCHEME_HTTP;
	else if (strcmp(s, "https") == 0)
		sc = SCHEME_HTTPS;
	else if (strcmp(s, "file") == 0)
		sc = SCHEME_FILE;
	curl_free(s);
	return sc;
}

/*
 * libcurl 7.88 keeps the root path of "file:///" as a null pointer: the URL
 * then prints as "file://(nil)" and relative references fail against it.
 * Storing "/" explicitly fixes both. Only the root is stored back, since
 * setting a path lower-cases its percent escapes. It also takes "file:)c"
 * and "file:./c" with a relative path, printed "file://)c", which it then
 * refuses: a file URL's path must be absolute, or the URL is refused.
 */
static bool fix_file_root(CURLU *u)
{
	char *path = NULL;
	bool ok = true;
	if (curl_url_get(u, CURLUPART_PATH, &path, 0) != CURLUE_OK)
		return false;
	if (strcmp(path, "/") == 0 || path[0] == '\0')
		ok = curl_url_set(u, CURLUPART_PATH, "/", 0) == CURLUE_OK;
	else if (path[0] != '/')
		ok = false;
	curl_free(path);
	return ok;
}

/* A handle holding URL as CURLU reads it once, or NULL when it refuses it. */
static CURLU *parse_once(const char *url)
{
	CURLU *u = curl_url();
	if (!u)
		return NULL;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    (scheme_of(u) == SCHEME_FILE && !fix_file_root(u))) {
		curl_url_cleanup(u);
		return NULL;
	}
	return u;
}

/*
 * A handle holding URL, or NULL when CURLU refuses it. CURLU 7.88 does not
 * print back what it reads in one go: the host "3%333" prints as "333",
 * which it reads as the address 0.0.1.77. So URL is read, printed and read
 * again, and the handle holds a URL that prints back as itself; one that
 * is refused the second time ("file:/]/../e:/" prints as a drive letter,
 * "file:///e:/") is refused.
 */
static CURLU *parse(const char *url)
{
	char *s = NULL;
	CURLU *u = parse_once(url);
	if (!u)
		return NULL;
	CURLUcode rc = curl_url_get(u, CURLUPART_URL, &s, 0);
	curl_url_cleanup(u);
	if (rc != CURLUE_OK)
		return NULL;
	u = parse_once(s);
	curl_free(s);
	return u;
}

/* Whether CURLU takes URL back. */
static bool parses(const char *url)
{
	CURLU *u = curl_url();
	bool ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK;
	curl_url_cleanup(u);
	return ok;
}

/*
 * The whole URL as a malloc'd string (CURLU's strings belong to curl_free),
 * or NULL when CURLU would not take it back: CURLU 7.88 makes "file:/]/../e:/"
 * into "file:///e:/", a drive letter it refuses as input. What this returns
 * can be stored, fetched and normalized again.
 */
static char *to_string(CURLU *u, enum scheme sc, unsigned flags)
{
	char *s = NULL, *out = NULL;
	if (sc == SCHEME_FILE && !fix_file_root(u))
		return NULL;
	if (curl_url_get(u, CURLUPART_URL, &s, flags) != CURLUE_OK)
		return NULL;
	if (parses(s))
		out = strdup(s);
	curl_free(s);
	return out;
}

/*
 * REF is empty or "#fragment": RFC 3986 keeps the base's path and query, but
 * CURLU 7.88 would drop the last path segment. The base without its fragment
 * is extended by REF and parsed again, so CURLU still vets the fragment.
 */
static CURLU *same_document(CURLU *base, enum scheme sc, const char *ref)
{
	char *b, *joined;
	CURLU *u = NULL;
	if (curl_url_set(base, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    !(b = to_string(base, sc, 0)))
		return NULL;
	if (ref[0] == '\0' || ref[1] == '\0') {
		u = parse(b);
	} else {
		size_t bl = strlen(b), rl = strlen(ref);
		joined = malloc(bl + rl + 1);
		if (joined) {
			memcpy(joined, b, bl);
			memcpy(joined + bl, ref, rl + 1);
			u = parse(joined);
			free(joined);
		}
	}
	free(b);
	return u;
}

char *url_resolve(const char *base, const char *ref)
{
	char *b = NULL, *r = NULL, *out = NULL;
	CURLU *u = NULL, *same = NULL;
	enum scheme bsc, sc;

	if (!base || !ref)
		return NULL;
	b = clean_copy(base);
	r = clean_copy(ref);
	if (!b || !r || !(u = parse(b)))
		goto done;
	bsc = scheme_of(u);
	if (r[0] == '\0' || r[0] == '#') {
		if (!(same = same_document(u, bsc, r)))
			goto done;
		curl_url_cleanup(u);
		u = same;
	} else if (curl_url_set(u, CURLUPART_URL, r, 0) != CURLUE_OK) {
		goto done;
	}
	sc = scheme_of(u);
	/* A page from the web must not lead the collector to local files. */
	if (sc == SCHEME_BAD || (sc == SCHEME_FILE && bsc != SCHEME_FILE))
		goto done;
	out = to_string(u, sc, 0);
done:
	curl_url_cleanup(u);
	free(b);
	free(r);
	return out;
}

static bool unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_' || c == '~';
}

/* Whether C may stand unescaped in a path or query (RFC 3986 pchar, "/"
 * and "?"): everything else is written %XX. */
static bool plain(unsigned char c)
{
	return unreserved(c) || (c && strchr("!$&'()*+,;=:@/?", c));
}

/* Append byte C to OUT at *N: as it is when KEEP says so, else as %XX. */
static void put_byte(char *out, size_t *n, unsigned char c, bool keep)
{
	static const char hex[] = "0123456789ABCDEF";
	if (keep) {
		out[(*n)++] = (char)c;
	} else {
		out[(*n)++] = '%';
		out[(*n)++] = hex[c >> 4];
		out[(*n)++] = hex[c & 15];
	}
}

/*
 * One spelling for every percent-encoding of the same URL (RFC 3986 6.2.2):
 * S from byte START on, where escapes of unreserved characters are decoded,
 * other escapes get upper-case hex, and raw bytes that need one (non-ASCII,
 * space, a stray "%") get one; the bytes before START are copied as they
 * are. Its output is its own fixed point: a decoded byte is unreserved, so
 * written raw it stays raw; an escape written stays that escape. Returns a
 * new malloc'd string, or NULL on out-of-memory.
 */
static char *canon_from(const char *s, size_t start)
{
	size_t len = strlen(s);
	char *out = malloc(start + 3 * (len - start) + 1);
	if (!out)
		return NULL;
	memcpy(out, s, start);
	size_t n = start;
	for (const unsigned char *p = (const unsigned char *)s + start; *p; p++) {
		int hi = *p == '%' ? hex_value(p[1]) : -1, lo = hi >= 0 ? hex_value(p[2]) : -1;
		if (hi >= 0 && lo >= 0) {
			unsigned char c = (unsigned char)(hi * 16 + lo);
			/* "%2E" stays: decoded, it could form a dot segment that a
			 * second normalization would remove */
			put_byte(out, &n, c, unreserved(c) && c != '.');
			p += 2;
		} else {
			put_byte(out, &n, *p, plain(*p));
		}
	}
	out[n] = '\0';
	return out;
}

/* canon_from after the authority: a link written raw, lower- or upper-case
 * then merges. The host is left as it is (an IDN stays readable). */
static char *canon_escapes(const char *url)
{
	const char *auth = strstr(url, "://");
	size_t start = auth ? (size_t)(auth - url) + 3 : 0;
	start += strcspn(url + start, "/?");
	return canon_from(url, start);
}

/* Whether the query parameter P (LEN bytes, its escapes of unreserved
 * characters already decoded) is a utm_* tracking tag, in any case. */
static bool is_utm(const char *p, size_t len)
{
	return len >= 4 && strncasecmp(p, "utm_", 4) == 0;
}

/*
 * QUERY (canonical escapes: see canon_from) without utm_* parameters and
 * empty ones ("a&&b"), the rest kept byte for byte and in order, in a
 * malloc'd string; "" when nothing is left.
 */
static char *filter_query(const char *query)
{
	size_t qlen = strlen(query), n = 0;
	char *out = malloc(qlen + 1);
	if (!out)
		return NULL;
	const char *p = query;
	for (;;) {
		size_t len = strcspn(p, "&");
		if (len > 0 && !is_utm(p, len)) {
			if (n > 0)
				out[n++] = '&';
			memcpy(out + n, p, len);
			n += len;
		}
		if (p[len] == '\0')
			break;
		p += len + 1;
	}
	out[n] = '\0';
	return out;
}

/* Lower-cases the ASCII letters of the host; IDN bytes pass untouched. */
static bool lower_host(CURLU *u)
{
	char *host = NULL;
	bool changed = false, ok = true;
	CURLUcode rc = curl_url_get(u, CURLUPART_HOST, &host, 0);
	if (rc == CURLUE_NO_HOST)
		return true; /* file:///path */
	if (rc != CURLUE_OK)
		return false;
	for (char *c = host; *c; c++)
		if (*c >= 'A' && *c <= 'Z') {
			*c = (char)(*c - 'A' + 'a');
			changed = true;
		}
	if (changed)
		ok = curl_url_set(u, CURLUPART_HOST, host, 0) == CURLUE_OK;
	curl_free(host);
	return ok;
}

/*
 * Takes the query out of U, leaving in *KEPT what url_normalize keeps of it
 * (malloc'd, NULL for none). It is appended to the URL by hand: setting it
 * back through CURLU would lower-case its percent escapes, so the same link
 * would come out two ways depending on whether a utm_ tag was removed.
 */
static bool take_query(CURLU *u, char **kept)
{
	char *q = NULL;
	CURLUcode rc = curl_url_get(u, CURLUPART_QUERY, &q, 0);
	*kept = NULL;
	if (rc == CURLUE_NO_QUERY)
		return true;
	if (rc != CURLUE_OK)
		return false;
	/* decoded first: "utm%5Fsource" is utm_source, and filtering after
	 * decoding is what keeps normalizing idempotent */
	char *canon = canon_from(q, 0);
	curl_free(q);
	if (!canon)
		return false;
	*kept = filter_query(canon);
	free(canon);
	if (!*kept)
		return false;
	if (!**kept) {
		free(*kept);
		*kept = NULL;
	}
	return curl_url_set(u, CURLUPART_QUERY, NULL, 0) == CURLUE_OK;
}


char *url_from_path(const char *path)
{
	size_t len = strlen(path);
	char *out = malloc(7 + 3 * len + 1);
	if (!out)
		return NULL;
	memcpy(out, "file://", 7);
	size_t n = 7;
	for (const unsigned char *p = (const unsigned char *)path; *p; p++)
		put_byte(out, &n, *p, unreserved(*p) || *p == '/');
	out[n] = '\0';
	return out;
}

char *url_normalize(const char *url)
{
	char *s, *query = NULL, *head = NULL, *out = NULL;
	CURLU *u = NULL;
	enum scheme sc;

	if (!url)
		return NULL;
	s = clean_copy(url);
	if (!s || !(u = parse(s)))
		goto done;
	sc = scheme_of(u);
	if (sc == SCHEME_BAD)
		goto done;
	/* CURLU already lower-cases the scheme, makes an empty http path "/"
	 * and removes dot segments; host case and the rest are ours. */
	if (!lower_host(u) || !take_query(u, &query) ||
	    curl_url_set(u, CURLUPART_FRAGMENT, NULL, 0) != CURLUE_OK ||
	    !(head = to_string(u, sc, CURLU_NO_DEFAULT_PORT)))
		goto done;
	/* CURLU never prints a file URL's query; neither does this. */
	if (!query || sc == SCHEME_FILE) {
		out = head;
		head = NULL;
	} else {
		size_t hl = strlen(head), ql = strlen(query);
		out = malloc(hl + ql + 2);
		if (out) {
			memcpy(out, head, hl);
			out[hl] = '?';
			memcpy(out + hl + 1, query, ql + 1);
		}
	}
done:
	curl_url_cleanup(u);
	free(head);
	free(query);
	free(s);
	if (out) {
		char *canon = canon_escapes(out);
		free(out);
		out = canon;
	}
	/* decoding can make what CURLU refuses: "file:///%75:" a drive
	 * letter, "file:///u:"; what is stored must read back */
	if (out && !parses(out)) {
		free(out);
		out = NULL;
	}
	return out;
}
