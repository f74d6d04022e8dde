/* address: a mailbox's identity (IDNA A-label domain, case-folded local
 * part) and its spelling for the wire. */
#define _GNU_SOURCE
#include <idn2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest/address.h"
#include "digest/subscriber.h"
#include "digest/util.h"

/* RFC 1035: a domain name of at most 253 octets written without its root dot. */
#define DOMAIN_MAX 253

static bool all_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return false;
	return true;
}

/* Whether one of DOM's labels is an A-label ("xn--"), which IDNA checks. */
static bool has_alabel(const char *dom)
{
	for (const char *p = dom; p; p = strchr(p, '.')) {
		if (*p == '.')
			p++;
		if (!strncasecmp(p, "xn--", 4))
			return true;
	}
	return false;
}

/*
 * DOM (checked and ASCII-lower-cased by address_normalize) in A-label
 * form, malloc'd; NULL when it is no valid IDNA name. An address literal
 * and a plain ASCII name are kept as they are: IDNA 2008 would refuse
 * some ASCII names mail reaches ("ab--cd.example") and has nothing to
 * map in the others.
 */
static char *domain_alabel(const char *dom)
{
	if (dom[0] == '[' || (all_ascii(dom, strlen(dom)) && !has_alabel(dom)))
		return xstrdup(dom);
	char *out = NULL;
	if (idn2_to_ascii_8z(dom, &out, IDN2_NONTRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK) {
		out = NULL;
		if (idn2_to_ascii_8z(dom, &out, IDN2_TRANSITIONAL | IDN2_NFC_INPUT) != IDN2_OK)
			return NULL;
	}
	if (!out)
		return NULL;
	char *r = xstrdup(out);
	idn2_free(out);
	for (char *p = r; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p + 32);
	/* what libidn2 returns must still be a mailbox's domain, as the one
	 * address checker there is sees it ("a_b.рф" passes IDNA) */
	size_t n = strlen(r);
	char *x = n <= DOMAIN_MAX ? xasprintf("x@%s", r) : NULL;
	char *checked = x ? address_normalize(x, NULL) : NULL;
	bool ok = checked && !strcmp(checked, x) && all_ascii(r, n);
	free(x);
	free(checked);
	if (!ok) {
		free(r);
		return NULL;
	}
	return r;
}

/* One code point's simple lower case, for the scripts a mailing list
 * meets: Latin-1, Greek, Cyrillic (each capital and its small letter
 * are both two octets in UTF-8, so folding keeps lengths). */
static unsigned long fold_cp(unsigned long cp)
{
	if (cp >= 'A' && cp <= 'Z')
		return cp + 32;
	if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7)
		return cp + 0x20;
	if (cp >= 0x391 && cp <= 0x3A9 && cp != 0x3A2)
		return cp + 0x20;
	if (cp >= 0x400 && cp <= 0x40F)
		return cp + 0x50;
	if (cp >= 0x410 && cp <= 0x42F)
		return cp + 0x20;
	return cp;
}

/* Folds the local part S[0..N) in place. */
static void fold_local(char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t len;
		unsigned long cp = utf8_decode((const unsigned char *)s + i, &len);
		unsigned long lc = fold_cp(cp);
		if (lc != cp && len == 1) {
			s[i] = (char)lc;
		} else if (lc != cp && len == 2 && lc < 0x800) {
			s[i] = (char)(0xC0 | (lc >> 6));
			s[i + 1] = (char)(0x80 | (lc & 0x3F));
		}
		i += len ? len : 1;
	}
}

/* The quoted local part Q ("..." with its quotes) without them when what
 * it quotes is a plain dot-atom: malloc'd, or NULL to keep it quoted. */
static char *unquote_local(const char *q, size_t n)
{
	struct buf b = {0};
	for (size_t i = 1; i + 1 < n; i++) {
		if (q[i] == '\\' && i + 2 < n)
			i++;
		buf_add(&b, q + i, 1);
	}
	if (!b.len) {
		buf_free(&b);
		return NULL;
	}
	/* checked by the one address checker there is */
	buf_adds(&b, "@example.org");
	char *norm = address_normalize(b.data, NULL);
	char *r = NULL;
	if (norm && norm[0] != '"' && strlen(norm) == b.len)
		r = xstrndup(b.data, b.len - strlen("@example.org"));
	free(norm);
	buf_free(&b);
	return r;
}

/* ADDR checked, split at its last "@": the malloc'd whole in *NORM and
 * the domain in A-label form in *DOM. 0, or -1 with *ERR. */
static int split(const char *addr, char **norm, char **dom, char **err)
{
	char *why = NULL;
	*norm = address_normalize(addr, &why);
	*dom = NULL;
	if (!*norm) {
		errf(err, "address: %s", why ? why : "invalid");
		free(why);
		return -1;
	}
	char *at = strrchr(*norm, '@'); /* the normalizer found one */
	*dom = domain_alabel(at + 1);
	if (!*dom) {
		free(*norm);
		*norm = NULL;
		return errf(err, "address: the domain is not a valid IDNA name");
	}
	*at = '\0';
	return 0;
}

static int join(char *local, char *dom, char **out, char **err)
{
	size_t n = strlen(local) + 1 + strlen(dom);
	if (n > ADDRESS_MAX) {
		free(local);
		free(dom);
		return errf(err, "address: over %d octets with its domain in A-label form", ADDRESS_MAX);
	}
	*out = xasprintf("%s@%s", local, dom);
	free(local);
	free(dom);
	return 0;
}

int address_key(const char *addr, char **key, char **err)
{
	char *local, *dom;
	*key = NULL;
	if (split(addr, &local, &dom, err) < 0)
		return -1;
	/* the spelling to send must fit, not only the shorter key: an address
	 * has a key only when address_ascii_domain can spell it */
	if (strlen(local) + 1 + strlen(dom) > ADDRESS_MAX)
		return join(local, dom, key, err);
	if (local[0] == '"') {
		char *u = unquote_local(local, strlen(local));
		if (u) {
			free(local);
			local = u;
		}
	}
	fold_local(local, strlen(local));
	return join(local, dom, key, err);
}

int address_ascii_domain(const char *addr, char **out, char **err)
{
	char *local, *dom;
	*out = NULL;
	if (split(addr, &local, &dom, err) < 0)
		return -1;
	return join(local, dom, out, err);
}

bool address_local_ascii(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	if (!addr)
		return true;
	return all_ascii(addr, at ? (size_t)(at - addr) : strlen(addr));
}

bool address_domain_ascii(const char *addr)
{
	const char *at = addr ? strrchr(addr, '@') : NULL;
	return !at || all_ascii(at + 1, strlen(at + 1));
}

char *address_accept(const char *addr, char **key, char **why)
{
	char *k = NULL;
	if (key)
		*key = NULL;
	char *a = address_normalize(addr, why);
	if (a && address_key(a, &k, why) < 0) {
		if (*why && !strncmp(*why, "address: ", 9))
			memmove(*why, *why + 9, strlen(*why + 9) + 1);
		free(a);
		return NULL;
	}
	if (key)
		*key = k;
	else
		free(k);
	return a;
}
