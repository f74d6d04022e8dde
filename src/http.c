/* http: form bodies, listen addresses and rate limits for `digest serve`. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/http.h"
#include "digest/util.h"

#define FORM_MAX_FIELDS 64


/* Decode one name or value (S, LEN bytes) into a malloc'd string. */
static char *decode(const char *s, size_t len, const char **why)
{
	char *out = xmalloc(len + 1);
	size_t o = 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '+') {
			out[o++] = ' ';
		} else if (c == '%') {
			int a = i + 1 < len ? hex_value((unsigned char)s[i + 1]) : -1;
			int b = i + 2 < len ? hex_value((unsigned char)s[i + 2]) : -1;
			int h = a >= 0 && b >= 0 ? a << 4 | b : -1;
			if (h < 0) {
				*why = "a bad %-escape";
				free(out);
				return NULL;
			}
			out[o++] = (char)h;
			i += 2;
		} else if (c < 0x20 || c == 0x7F) {
			*why = "a raw control character";
			free(out);
			return NULL;
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	for (size_t i = 0; i < o; i++) {
		unsigned char c = (unsigned char)out[i];
		if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7F) {
			*why = c ? "a control character" : "a NUL byte";
			free(out);
			return NULL;
		}
	}
	/* Valid UTF-8 (OUT has no NUL by now), without C1 controls
	 * (U+0080..U+009F) either. */
	for (size_t i = 0, n; i < o; i += n) {
		unsigned long cp = utf8_decode((const unsigned char *)out + i, &n);
		if ((cp == 0xFFFD && n == 1) || (cp >= 0x80 && cp <= 0x9F)) {
			*why = cp == 0xFFFD ? "text that is not UTF-8" : "a control character";
			free(out);
			return NULL;
		}
	}
	return out;
}

void form_free(struct form *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		free(f->name[i]);
		free(f->value[i]);
	}
	free(f->name);
	free(f->value);
	memset(f, 0, sizeof *f);
}

int form_parse(const char *body, size_t len, struct form *out, char **err)
{
	memset(out, 0, sizeof *out);
	const char *p = body, *end = body + len;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p));
		const char *fe = amp ? amp : end;
		if (fe == p) { /* "a=1&&b=2" or a trailing "&": nothing there */
			p = fe + 1;
			continue;
		}
		if (out->n == FORM_MAX_FIELDS) {
			form_free(out);
			return errf(err, "more than %d fields", FORM_MAX_FIELDS);
		}
		const char *eq = memchr(p, '=', (size_t)(fe - p));
		const char *ne = eq ? eq : fe;
		const char *why = NULL;
		if (ne == p) {
			form_free(out);
			return errf(err, "a field without a name");
		}
		char *name = decode(p, (size_t)(ne - p), &why);
		char *value = name ? decode(eq ? eq + 1 : fe, eq ? (size_t)(fe - eq - 1) : 0, &why) : NULL;
		if (!name || !value) {
			free(name);
			form_free(out);
			return errf(err, "%s", why ? why : "malformed");
		}
		out->name = xrealloc(out->name, (out->n + 1) * sizeof *out->name);
		out->value = xrealloc(out->value, (out->n + 1) * sizeof *out->value);
		out->name[out->n] = name;
		out->value[out->n] = value;
		out->n++;
		p = fe + 1;
	}
	return 0;
}

const char *form_get(const struct form *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (!strcmp(f->name[i], name))
			return f->value[i];
	return NULL;
}

size_t form_count(const struct form *f, const char *name)
{
	size_t c = 0;
	for (size_t i = 0; i < f->n; i++)
		c += !strcmp(f->name[i], name);
	return c;
}

/* S for a message: cut at its first control character. */
static const char *shown(const char *s, char out[80])
{
	size_t n = 0;
	while (s[n] && (unsigned char)s[n] >= 0x20 && s[n] != 0x7F && n < 60)
		n++;
	snprintf(out, 80, "%.*s%s", (int)n, s, s[n] ? "…" : "");
	return out;
}

int listen_parse(const char *s, char **host, int *port, char **err)
{
	char q[80];
	*host = NULL;
	*port = 0;
	if (!s || !*s)
		return errf(err, "empty listen address: expected HOST:PORT");
	const char *colon;
	const char *h = s;
	size_t hl;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return errf(err, "\"%s\": expected [IPV6]:PORT", shown(s, q));
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
		if (hl == 0)
			return errf(err, "\"%s\": empty address in brackets", shown(s, q));
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return errf(err, "\"%s\": expected HOST:PORT", shown(s, q));
		if (memchr(s, ':', (size_t)(colon - s)))
			return errf(err, "\"%s\": an IPv6 address goes in brackets: [::1]:8080", shown(s, q));
		hl = (size_t)(colon - s);
	}
	for (size_t i = 0; i < hl; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c <= ' ' || c >= 0x7F || c == '/' || c == '[' || c == ']' || c == '@')
			return errf(err, "\"%s\": invalid character in the host", shown(s, q));
	}
	const char *ps = colon + 1;
	if (!*ps || strlen(ps) > 5 || strspn(ps, "0123456789") != strlen(ps))
		return errf(err, "\"%s\": expected a port number 0..65535 after the colon", shown(s, q));
	long v = strtol(ps, NULL, 10);
	if (v > 65535)
		return errf(err, "\"%s\": port %ld is over 65535", shown(s, q), v);
	*port = (int)v;
	*host = hl ? xstrndup(h, hl) : NULL;
	return 0;
}

/* ---- rate limits ---- */

struct bucket {
	uint64_t key; /* a hash of the key; 0: free */
	double tokens, at;
};

struct ratelimit {
	double burst, per;
	size_t n;
	struct bucket *b;
	uint64_t seed;
};

struct ratelimit *ratelimit_new(double burst, double per, size_t slots)
{
	struct ratelimit *rl = xcalloc(1, sizeof *rl);
	rl->burst = burst > 1 ? burst : 1;
	rl->per = per > 0 ? per : 1;
	rl->n = slots < 16 ? 16 : slots;
	rl->b = xcalloc(rl->n, sizeof *rl->b);
	/* A secret seed: nobody can pick keys that collide on purpose. */
	random_bytes(&rl->seed, sizeof rl->seed);
	return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
	if (!rl)
		return;
	free(rl->b);
	free(rl);
}

/* FNV-1a, seeded, never 0. */
static uint64_t hash(uint64_t seed, const char *s)
{
	uint64_t h = 1469598103934665603ULL ^ seed;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	h ^= h >> 31;
	return h ? h : 1;
}

/* Probe this many slots from the key's home; the stalest one is reused. */
#define PROBES 8

bool ratelimit_take(struct ratelimit *rl, const char *key, double now, double *retry_after)
{
	uint64_t h = hash(rl->seed, key);
	struct bucket *victim = NULL, *b = NULL;
	double best = -1;
	for (size_t i = 0; i < PROBES; i++) {
		struct bucket *c = &rl->b[(h + i) % rl->n];
		if (c->key == h) {
			b = c;
			break;
		}
		/* A free bucket, or one refilled to the brim (it remembers
		 * nothing), is reused first; else the least recently touched. */
		bool empty = c->key == 0 || c->tokens + (now - c->at) / rl->per >= rl->burst;
		double score = empty ? 1e300 : now - c->at;
		if (score > best) {
			best = score;
			victim = c;
		}
	}
	if (!b) {
		b = victim;
		b->key = h;
		b->tokens = rl->burst;
		b->at = now;
	}
	if (now > b->at) {
		b->tokens += (now - b->at) / rl->per;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
		b->at = now;
	}
	if (b->tokens >= 1) {
		b->tokens -= 1;
		return true;
	}
	if (retry_after)
		*retry_after = (1 - b->tokens) * rl->per;
	return false;
}
