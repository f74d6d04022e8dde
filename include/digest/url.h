/* url: resolving and normalizing article links (libcurl's URL API). */
#ifndef DIGEST_URL_H
#define DIGEST_URL_H

/*
 * url_resolve: REF (absolute, scheme-relative, absolute-path or relative)
 * resolved against the absolute URL BASE, per RFC 3986. Returns a malloc'd
 * absolute URL the caller frees, or NULL when either is not a valid URL or
 * the result is not http, https or file.
 */
char *url_resolve(const char *base, const char *ref);

/*
 * url_normalize: the form under which an article is stored and merged:
 * scheme and host lower-cased, default port dropped, empty path made "/",
 * fragment dropped, percent-encoding made canonical after the host (escapes
 * of unreserved characters decoded, except "%2E"; other escapes in upper
 * case; raw non-ASCII bytes, spaces and stray "%" escaped), then utm_*
 * query parameters dropped, names compared in any case once decoded
 * ("utm%5Fsource", "%55TM_x"; an escaped "&" or "=" is data), others kept
 * in order, and an empty query dropped. Idempotent:
 * url_normalize(url_normalize(u)) equals url_normalize(u) for every U
 * (tests/fuzz/fuzz_url.c checks it). Returns a malloc'd string the caller
 * frees, or NULL when URL is not an absolute http, https or file URL, or
 * is one libcurl would not read back in its printed form.
 */
char *url_normalize(const char *url);

/*
 * url_from_path: the file:// URL of the absolute path PATH, every byte
 * other than unreserved ones and "/" percent-encoded (spaces, "#", "%",
 * Cyrillic names). Returns a malloc'd string, or NULL on out-of-memory.
 */
char *url_from_path(const char *path);

#endif
