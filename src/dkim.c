/* dkim: canonicalization and signing over a prepared message (RFC 6376,
 * RFC 8463), with GnuTLS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "digest/dkim.h"
#include "digest/mime.h"
#include "digest/log.h"

const char *const dkim_signed_headers[] = {
	"from", "from", "to", "subject", "date", "message-id", "reply-to", "mime-version", "content-type",
	"list-id", "list-unsubscribe", "list-unsubscribe-post", "feedback-id", NULL,
};

/* A key is used by one thread at a time (GnuTLS objects are not shared
 * across threads): each key keeps a few copies, and a signer takes the
 * first free one, making another when all are taken. */
#define COPIES 16

struct key {
	char *selector;
	bool ed25519;
	size_t sig_size; /* a signature's octets: Ed25519's 64, RSA's modulus */
	char *pem;
	size_t pem_len;
	pthread_mutex_t mu[COPIES];
	gnutls_privkey_t copy[COPIES]; /* NULL: not made yet */
};

struct dkim {
	char *domain;
	struct key *keys;
	int n;
};

/* ---- canonicalization (RFC 6376 3.4) ---- */

static bool wsp(char c)
{
	return c == ' ' || c == '\t';
}

void dkim_canon_header(struct buf *out, const char *f, size_t len)
{
	const char *colon = memchr(f, ':', len);
	size_t nl = colon ? (size_t)(colon - f) : len;
	/* the name lowercased, without blanks before the colon */
	while (nl > 0 && wsp(f[nl - 1]))
		nl--;
	size_t at = out->len;
	buf_add(out, f, nl);
	for (size_t i = at; i < out->len; i++)
		if (out->data[i] >= 'A' && out->data[i] <= 'Z')
			out->data[i] = (char)(out->data[i] - 'A' + 'a');
	buf_add(out, ":", 1);
	if (colon) {
		/* the value unfolded, each run of blanks one space, none at
		 * either end: runs of other bytes are copied whole */
		size_t i = (size_t)(colon - f) + 1;
		bool any = false;
		while (i < len) {
			size_t j = i;
			while (j < len && (f[j] == '\r' || f[j] == '\n' || wsp(f[j])))
				j++;
			size_t k = j;
			while (k < len && !(f[k] == '\r' || f[k] == '\n' || wsp(f[k])))
				k++;
			if (k > j) {
				if (any && j > i)
					buf_add(out, " ", 1);
				buf_add(out, f + j, k - j);
				any = true;
			}
			i = k;
		}
	}
	buf_add(out, "\r\n", 2);
}

void dkim_canon_body(struct buf *out, const char *body, size_t len)
{
	/* Empty lines are held back until a line with text follows: those
	 * at the end are dropped. */
	size_t empty = 0;
	size_t i = 0;
	while (i < len) {
		const char *eol = memchr(body + i, '\n', len - i);
		size_t end = eol ? (size_t)(eol - body) : len; /* the line without its LF */
		size_t e = end;
		if (eol && e > i && body[e - 1] == '\r')
			e--;
		while (e > i && wsp(body[e - 1]))
			e--;
		if (e == i) {
			empty++;
		} else {
			for (; empty > 0; empty--)
				buf_add(out, "\r\n", 2);
			size_t run = i;
			for (size_t k = i; k < e; k++) {
				if (wsp(body[k])) {
					if (k > run)
						buf_add(out, body + run, k - run);
					while (k + 1 < e && wsp(body[k + 1]))
						k++;
					buf_add(out, " ", 1);
					run = k + 1;
				}
			}
			if (e > run)
				buf_add(out, body + run, e - run);
			buf_add(out, "\r\n", 2);
		}
		i = eol ? end + 1 : len;
	}
}

/* Whether BODY[I] (I < N, BODY[N - 1] a LF) makes its line differ from
 * its relaxed form: a tab (it becomes a space), a blank followed by a
 * blank or a line end (a run, or blanks at the end), a LF without its CR.
 * A CR before CR LF is kept as it is by both. */
static bool odd_at(const char *body, size_t i)
{
	char c = body[i], n = body[i + (c != '\n')];
	if (c == '\t')
		return true;
	if (c == ' ')
		return n == ' ' || n == '\t' || n == '\r' || n == '\n';
	return c == '\n' && (i == 0 || body[i - 1] != '\r');
}

/* The first I in [FROM, N) with odd_at, or N. Sixteen bytes at a time
 * (GCC's vector extension, which gcc and clang map to SSE2 or NEON):
 * in a message, odd bytes are a few dozen, blanks and line ends one in
 * twenty, so the test is the byte and its neighbours in one go. */
typedef unsigned char v16 __attribute__((vector_size(16)));
static size_t next_odd(const char *body, size_t from, size_t n)
{
	size_t i = from;
	if (i == 0 && i < n) {
		if (odd_at(body, 0))
			return 0;
		i = 1;
	}
	for (; i + 17 <= n; i += 16) {
		v16 a, nx, pv;
		memcpy(&a, body + i, 16);
		memcpy(&nx, body + i + 1, 16);
		memcpy(&pv, body + i - 1, 16);
		v16 odd = (v16)(a == '\t') |
			  ((v16)(a == ' ') & (v16)((nx == ' ') | (nx == '\t') | (nx == '\r') | (nx == '\n'))) |
			  ((v16)(a == '\n') & (v16)(pv != '\r'));
		uint64_t w[2];
		memcpy(w, &odd, sizeof w);
		if (w[0] | w[1])
			break; /* the scalar loop finds which */
	}
	for (; i < n; i++)
		if (odd_at(body, i))
			return i;
	return n;
}

/* The body hash without a copy: BODY goes to the hash as it stands but
 * for the lines that its relaxed form changes (next_odd finds them),
 * rewritten one by one, and the end from the last line with text on,
 * where empty lines are dropped (dkim_canon_body). The result is the
 * SHA-256 of dkim_canon_body's output (fuzz_dkim checks). */
void dkim_body_hash(const char *body, size_t len, char out[45])
{
	gnutls_hash_hd_t h;
	unsigned char d[32];
	struct buf line = {0};
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		/* not expected: hash the canonical copy in one go */
		dkim_canon_body(&line, body, len);
		gnutls_hash_fast(GNUTLS_DIG_SHA256, line.data ? line.data : "", line.len, d);
		goto encode;
	}
	/* HEAD: the lines before the last one with text, each ending with a
	 * LF: their empty lines stay (text follows) */
	size_t cut = len;
	while (cut > 0 && (wsp(body[cut - 1]) || body[cut - 1] == '\r' || body[cut - 1] == '\n'))
		cut--;
	const char *lf = cut ? memrchr(body, '\n', cut) : NULL;
	size_t head = lf ? (size_t)(lf - body) + 1 : 0;
	size_t at = 0; /* BODY[0, AT) hashed */
	for (size_t q; (q = next_odd(body, at, head)) < head;) {
		const char *ls = memrchr(body + at, '\n', q - at);
		size_t start = ls ? (size_t)(ls - body) + 1 : at;
		size_t end = (size_t)((const char *)memchr(body + q, '\n', head - q) - body) + 1;
		if (start > at)
			gnutls_hash(h, body + at, start - at);
		line.len = 0;
		dkim_canon_body(&line, body + start, end - start);
		if (line.len)
			gnutls_hash(h, line.data, line.len);
		else /* blanks alone: an empty line, and text follows */
			gnutls_hash(h, "\r\n", 2);
		at = end;
	}
	if (head > at)
		gnutls_hash(h, body + at, head - at);
	line.len = 0;
	dkim_canon_body(&line, body + head, len - head);
	if (line.len)
		gnutls_hash(h, line.data, line.len);
	gnutls_hash_deinit(h, d);
encode:;
	buf_free(&line);
	struct buf b = {0};
	mime_base64(&b, d, sizeof d);
	memcpy(out, b.data, 45);
	buf_free(&b);
}

/* ---- keys ---- */

struct dkim *dkim_new(const char *domain)
{
	struct dkim *d = xcalloc(1, sizeof *d);
	d->domain = xstrdup(domain);
	return d;
}

static int import_key(const char *pem, size_t len, gnutls_privkey_t *out, const char **why)
{
	gnutls_privkey_t k;
	if (gnutls_privkey_init(&k) < 0) {
		*why = "cannot initialize a GnuTLS key";
		return -1;
	}
	gnutls_datum_t dt = {.data = (unsigned char *)pem, .size = (unsigned)len};
	int rc = gnutls_privkey_import_x509_raw(k, &dt, GNUTLS_X509_FMT_PEM, NULL, 0);
	if (rc < 0) {
		*why = gnutls_strerror(rc);
		gnutls_privkey_deinit(k);
		return -1;
	}
	*out = k;
	return 0;
}

int dkim_add_key(struct dkim *d, const char *selector, const char *pem, size_t len, const char *where, char **err)
{
	gnutls_privkey_t k;
	const char *why = NULL;
	if (len == 0 || !memmem(pem, len, "-----BEGIN", 10))
		return errf(err, "%s: not a PEM private key (make one with digest dkim-keygen)", where);
	if (import_key(pem, len, &k, &why) < 0)
		return errf(err, "%s: not a usable PEM private key: %s", where, why);
	unsigned bits = 0;
	int alg = gnutls_privkey_get_pk_algorithm(k, &bits);
	if (alg != GNUTLS_PK_RSA && alg != GNUTLS_PK_EDDSA_ED25519) {
		gnutls_privkey_deinit(k);
		return errf(err, "%s: an %s key: DKIM signs with RSA (rsa-sha256) or Ed25519 (ed25519-sha256)", where,
			    gnutls_pk_get_name((gnutls_pk_algorithm_t)alg) ? gnutls_pk_get_name((gnutls_pk_algorithm_t)alg)
									    : "unknown");
	}
	if (alg == GNUTLS_PK_RSA && bits < 1024) {
		gnutls_privkey_deinit(k);
		return errf(err, "%s: an RSA key of %u bits: verifiers refuse under 1024 (RFC 8301); make a 2048-bit one",
			    where, bits);
	}
	if (alg == GNUTLS_PK_RSA && bits < 2048)
		log_warn("%s: an RSA key of %u bits: 2048 or more is advised (RFC 8301)", where, bits);
	d->keys = xrealloc(d->keys, (size_t)(d->n + 1) * sizeof *d->keys);
	struct key *ky = &d->keys[d->n++];
	memset(ky, 0, sizeof *ky);
	ky->selector = xstrdup(selector);
	ky->ed25519 = alg == GNUTLS_PK_EDDSA_ED25519;
	ky->sig_size = ky->ed25519 ? 64 : (bits + 7) / 8;
	ky->pem = xmalloc(len);
	memcpy(ky->pem, pem, len);
	ky->pem_len = len;
	for (int i = 0; i < COPIES; i++)
		pthread_mutex_init(&ky->mu[i], NULL);
	ky->copy[0] = k;
	return 0;
}

/* Read at most 64 KiB of PATH: a key file is a few KB. */
static int read_small(const char *path, struct buf *out, const char **why)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*why = strerror(errno);
		return -1;
	}
	char tmp[4096];
	ssize_t k;
	while ((k = read(fd, tmp, sizeof tmp)) > 0) {
		buf_add(out, tmp, (size_t)k);
		if (out->len > 65536) {
			close(fd);
			*why = "over 64 KiB: not a key file";
			return -1;
		}
	}
	int e = errno;
	close(fd);
	if (k < 0) {
		*why = strerror(e);
		return -1;
	}
	return 0;
}

int dkim_load(const struct dkim_config *dc, const char *path, struct dkim **out, char **err)
{
	*out = NULL;
	if (!dc->domain || dc->nkeys == 0)
		return 0;
	struct dkim *d = dkim_new(dc->domain);
	for (int i = 0; i < dc->nkeys; i++) {
		const struct dkim_key_config *kc = &dc->keys[i];
		char *where = xasprintf("%s:%d: dkim.keys.[%d].key_file: %s", path, kc->line, i, kc->key_file);
		struct buf pem = {0};
		const char *why = NULL;
		int rc = read_small(kc->key_file, &pem, &why);
		if (rc < 0)
			errf(err, "%s: cannot read the DKIM key: %s", where, why);
		else
			rc = dkim_add_key(d, kc->selector, pem.data ? pem.data : "", pem.len, where, err);
		if (pem.data)
			explicit_bzero(pem.data, pem.len);
		buf_free(&pem);
		free(where);
		if (rc < 0) {
			dkim_free(d);
			return -1;
		}
	}
	*out = d;
	return 0;
}

void dkim_free(struct dkim *d)
{
	if (!d)
		return;
	for (int i = 0; i < d->n; i++) {
		struct key *k = &d->keys[i];
		for (int j = 0; j < COPIES; j++) {
			if (k->copy[j])
				gnutls_privkey_deinit(k->copy[j]);
			pthread_mutex_destroy(&k->mu[j]);
		}
		explicit_bzero(k->pem, k->pem_len);
		free(k->pem);
		free(k->selector);
	}
	free(d->keys);
	free(d->domain);
	free(d);
}

int dkim_nkeys(const struct dkim *d)
{
	return d ? d->n : 0;
}

/* A copy of K for this thread alone, locked; its slot in *SLOT. */
static gnutls_privkey_t take_key(struct key *k, int *slot, const char **why)
{
	for (int i = 0; i < COPIES; i++) {
		if (pthread_mutex_trylock(&k->mu[i]) != 0)
			continue;
		if (!k->copy[i] && import_key(k->pem, k->pem_len, &k->copy[i], why) < 0) {
			pthread_mutex_unlock(&k->mu[i]);
			return NULL;
		}
		*slot = i;
		return k->copy[i];
	}
	/* every copy in use: wait for the first one */
	pthread_mutex_lock(&k->mu[0]);
	*slot = 0;
	return k->copy[0];
}

/* ---- signing ---- */

/* The header fields of a message: where each starts and its length with
 * its CRLF. */
struct hfield {
	const char *p;
	size_t len, nlen; /* nlen: the name's length */
};

/* The header of MSG split into fields; the body's offset in *BODY.
 * -1 when there is no empty line ending the header. */
static int split_header(const char *msg, size_t len, struct hfield **out, size_t *n, size_t *body)
{
	size_t cap = 32, i = 0;
	*n = 0;
	*out = xmalloc(cap * sizeof **out);
	while (i < len) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n') {
			*body = i + 2;
			return 0;
		}
		if (msg[i] == '\n') { /* a bare LF: not what we build, but be kind */
			*body = i + 1;
			return 0;
		}
		size_t start = i;
		/* a field runs to the CRLF not followed by a blank */
		for (;;) {
			const char *eol = memchr(msg + i, '\n', len - i);
			if (!eol)
				return -1;
			i = (size_t)(eol - msg) + 1;
			if (i >= len || !wsp(msg[i]))
				break;
		}
		if (*n == cap)
			*out = xrealloc(*out, (cap *= 2) * sizeof **out);
		const char *colon = memchr(msg + start, ':', i - start);
		size_t nl = colon ? (size_t)(colon - (msg + start)) : i - start;
		while (nl > 0 && wsp(msg[start + nl - 1]))
			nl--;
		(*out)[(*n)++] = (struct hfield){.p = msg + start, .len = i - start, .nlen = nl};
	}
	return -1;
}

/*
 * The signed fields of a message, in h= order: for each name of
 * dkim_signed_headers, the instance it signs (taken from the bottom up,
 * RFC 6376 5.4.2), or none. A name is in h= when the message has it, and
 * "from" twice whatever (the second, matching nothing, forbids a second
 * From). FS[N] are the message's fields; *ORDER gets for each entry of
 * dkim_signed_headers the index of its field in FS, -1 for none, or -2
 * when the name is not in h= at all.
 */
#define NSIGNED 13
_Static_assert(sizeof dkim_signed_headers / sizeof *dkim_signed_headers == NSIGNED + 1,
	       "NSIGNED counts dkim_signed_headers");
static void pick_fields(const struct hfield *fs, size_t n, int order[NSIGNED])
{
	bool *used = xcalloc(n ? n : 1, sizeof *used);
	for (size_t i = 0; dkim_signed_headers[i]; i++) {
		const char *name = dkim_signed_headers[i];
		size_t nl = strlen(name);
		bool present = false, oversign = i > 0 && !strcmp(name, dkim_signed_headers[i - 1]);
		order[i] = -1;
		for (size_t j = n; j-- > 0;) {
			if (fs[j].nlen == nl && !strncasecmp(fs[j].p, name, nl)) {
				present = true;
				if (!used[j]) {
					used[j] = true;
					order[i] = (int)j;
					break;
				}
			}
		}
		if (!present && !oversign)
			order[i] = -2;
	}
	free(used);
}

/* One key's DKIM-Signature field, laid out once: TEXT is the field as it
 * goes out (folded, CRLF) with bh= and b= held by placeholder bytes;
 * CANON_PRE and CANON_POST are its relaxed form with an empty b= (RFC
 * 6376 3.7), either side of bh='s value. bh= and b= have a fixed length
 * (a SHA-256 and the key's signature in base64), so the layout is the
 * same for every message: each message's fields fill the placeholders. */
struct form {
	struct key *key;
	struct buf text;
	size_t bh_at, b_from; /* bh='s value at TEXT+BH_AT; b='s bytes are the B_MARKs from B_FROM */
	size_t sig_size;      /* the signature's octets */
	struct buf canon;     /* CANON_PRE, bh= (placeholder), CANON_POST */
	size_t canon_bh;      /* where bh='s value is in CANON */
};

#define BH_LEN 44
#define BH_MARK '\x01'
#define B_MARK '\x02'

struct dkim_prep {
	int order[NSIGNED];   /* as pick_fields, for the prepared message */
	struct buf raw, canon; /* the signed fields as they stand and canonical, one after the other */
	size_t raw_at[NSIGNED], raw_len[NSIGNED], canon_at[NSIGNED], canon_len[NSIGNED];
	struct form *forms;
	int nforms;
	size_t room;
};

/* Append "TEXT" to a header being folded: a new line (CRLF TAB) first when
 * it would take the line past 76 octets; *COL is the column. SEP is put
 * before TEXT when it stays on the line. */
static void fold_add(struct buf *out, size_t *col, const char *sep, const char *text, size_t n)
{
	size_t s = strlen(sep);
	if (*col + s + n > 76 && *col > 1) {
		buf_add(out, "\r\n\t", 3);
		*col = 1;
	} else {
		buf_add(out, sep, s);
		*col += s;
	}
	buf_add(out, text, n);
	*col += n;
}

/* N placeholders of b='s base64 appended to F at column COL, folded in
 * pieces within 76 octets a line: FWS is allowed within base64. */
static void fold_marks(struct buf *f, size_t col, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t room = col < 76 ? 76 - col : 0;
		if (room < 8) {
			buf_add(f, "\r\n\t", 3);
			col = 1;
			room = 75;
		}
		size_t take = n - i < room ? n - i : room;
		size_t at = buf_room(f, take);
		memset(f->data + at, B_MARK, take);
		col += take;
		i += take;
	}
}

/* The layout of K's field with h= HLIST, signed at NOW, into F. */
static void lay_out(const struct dkim *d, struct key *k, const char *hlist, time_t now, struct form *fm)
{
	struct buf *f = &fm->text;
	size_t col = 0;
	char tag[128];
	fm->key = k;
	buf_adds(f, "DKIM-Signature:");
	col = f->len;
	fold_add(f, &col, " ", "v=1;", 4);
	int n = snprintf(tag, sizeof tag, "a=%s;", k->ed25519 ? "ed25519-sha256" : "rsa-sha256");
	fold_add(f, &col, " ", tag, (size_t)n);
	fold_add(f, &col, " ", "c=relaxed/relaxed;", 18);
	char *t = xasprintf("d=%s;", d->domain);
	fold_add(f, &col, " ", t, strlen(t));
	free(t);
	t = xasprintf("s=%s;", k->selector);
	fold_add(f, &col, " ", t, strlen(t));
	free(t);
	n = snprintf(tag, sizeof tag, "t=%lld;", (long long)now);
	fold_add(f, &col, " ", tag, (size_t)n);
	/* h= folded between names: FWS is allowed around its colons */
	const char *h = hlist;
	bool first = true;
	while (*h) {
		size_t l = strcspn(h, ":");
		char *item = xasprintf("%s%.*s%s", first ? "h=" : "", (int)l, h, h[l] ? ":" : ";");
		fold_add(f, &col, first ? " " : "", item, strlen(item));
		free(item);
		first = false;
		h += l + (h[l] ? 1 : 0);
	}
	char bh[3 + BH_LEN + 2] = "bh=";
	memset(bh + 3, BH_MARK, BH_LEN);
	memcpy(bh + 3 + BH_LEN, ";", 2);
	fold_add(f, &col, " ", bh, strlen(bh));
	fm->bh_at = f->len - 1 - BH_LEN;
	fold_add(f, &col, " ", "b=", 2);
	fm->b_from = f->len;
	/* the relaxed form with b= empty: the field up to b='s value */
	dkim_canon_header(&fm->canon, f->data, f->len);
	fm->canon.len -= 2; /* without its CRLF */
	fm->canon_bh = (size_t)((const char *)memchr(fm->canon.data, BH_MARK, fm->canon.len) - fm->canon.data);
	fold_marks(f, col, 4 * ((fm->sig_size + 2) / 3));
	buf_add(f, "\r\n", 2);
}

void dkim_prep_free(struct dkim_prep *p)
{
	if (!p)
		return;
	for (int i = 0; i < p->nforms; i++) {
		buf_free(&p->forms[i].text);
		buf_free(&p->forms[i].canon);
	}
	free(p->forms);
	buf_free(&p->raw);
	buf_free(&p->canon);
	free(p);
}

int dkim_prepare(const struct dkim *d, const char *msg, size_t len, time_t now, struct dkim_prep **out,
		 char **err)
{
	*out = NULL;
	struct hfield *fs = NULL;
	size_t n = 0, body = 0;
	if (split_header(msg, len, &fs, &n, &body) < 0) {
		free(fs);
		return errf(err, "DKIM: the message has no end of header");
	}
	struct dkim_prep *p = xcalloc(1, sizeof *p);
	pick_fields(fs, n, p->order);
	struct buf hl = {0};
	for (size_t i = 0; dkim_signed_headers[i]; i++) {
		if (p->order[i] == -2)
			continue;
		if (hl.len)
			buf_add(&hl, ":", 1);
		buf_adds(&hl, dkim_signed_headers[i]);
		if (p->order[i] < 0)
			continue;
		const struct hfield *h = &fs[p->order[i]];
		p->raw_at[i] = p->raw.len;
		p->raw_len[i] = h->len;
		buf_add(&p->raw, h->p, h->len);
		p->canon_at[i] = p->canon.len;
		dkim_canon_header(&p->canon, h->p, h->len);
		p->canon_len[i] = p->canon.len - p->canon_at[i];
	}
	free(fs);
	p->forms = xcalloc((size_t)(d->n ? d->n : 1), sizeof *p->forms);
	for (int i = 0; i < d->n; i++) {
		struct form *fm = &p->forms[p->nforms++];
		fm->sig_size = d->keys[i].sig_size;
		lay_out(d, &d->keys[i], hl.data ? hl.data : "", now, fm);
		p->room += fm->text.len;
	}
	buf_free(&hl);
	*out = p;
	return 0;
}

size_t dkim_prep_room(const struct dkim_prep *p)
{
	return p ? p->room : 0;
}

/* K's signature of the SHA-256 DIGEST of the signed data into SIG. */
static int sign_digest(struct key *k, const unsigned char digest[32], gnutls_datum_t *sig, char **err)
{
	int slot = 0, rc;
	const char *why = NULL;
	gnutls_privkey_t pk = take_key(k, &slot, &why);
	if (!pk)
		return errf(err, "DKIM key %s: %s", k->selector, why);
	gnutls_datum_t hd = {.data = (unsigned char *)digest, .size = 32};
	/* RFC 8463: Ed25519 signs the SHA-256 of the data; RSA (PKCS #1
	 * v1.5) the same SHA-256 in a DigestInfo */
	if (k->ed25519)
		rc = gnutls_privkey_sign_data2(pk, GNUTLS_SIGN_EDDSA_ED25519, 0, &hd, sig);
	else
		rc = gnutls_privkey_sign_hash(pk, GNUTLS_DIG_SHA256, 0, &hd, sig);
	pthread_mutex_unlock(&k->mu[slot]);
	if (rc < 0)
		return errf(err, "DKIM key %s: cannot sign: %s", k->selector, gnutls_strerror(rc));
	return 0;
}

/* The SHA-256 of the signed data: the header fields in h= order (N runs
 * of IOV), then FM's field with BH and an empty b=. */
static int header_digest(const struct form *fm, const gnutls_datum_t *iov, int n, const char bh[45],
			 unsigned char out[32])
{
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		gnutls_hash(h, iov[i].data, iov[i].size);
	gnutls_hash(h, fm->canon.data, fm->canon_bh);
	gnutls_hash(h, bh, BH_LEN);
	gnutls_hash(h, fm->canon.data + fm->canon_bh + BH_LEN, fm->canon.len - fm->canon_bh - BH_LEN);
	gnutls_hash_deinit(h, out);
	return 0;
}

/*
 * The signed fields of the message whose fields are FS[N], canonical, in
 * h= order, into IOV (returns how many, or -1 with *ERR when a signed
 * field is missing or added against the prepared message): the prepared
 * canonical form where the field is the prepared one byte for byte
 * (From, Date, Content-Type...: the edition's), canonicalized into MINE
 * where it differs (To, Message-ID, List-Unsubscribe, a personal Subject).
 */
static int signed_fields(const struct dkim_prep *p, const struct hfield *fs, size_t n, struct buf *mine,
			 gnutls_datum_t iov[NSIGNED], char **err)
{
	int order[NSIGNED];
	pick_fields(fs, n, order);
	size_t mine_at[NSIGNED]; /* SIZE_MAX: the prepared form */
	for (int i = 0; i < NSIGNED; i++) {
		if ((order[i] == -2) != (p->order[i] == -2) || (order[i] == -1) != (p->order[i] == -1))
			return errf(err, "DKIM: the message's %s field is not where the prepared message had it",
				    dkim_signed_headers[i]);
		mine_at[i] = SIZE_MAX;
		if (order[i] < 0)
			continue;
		const struct hfield *h = &fs[order[i]];
		if (h->len == p->raw_len[i] && !memcmp(h->p, p->raw.data + p->raw_at[i], h->len))
			continue;
		mine_at[i] = mine->len;
		dkim_canon_header(mine, h->p, h->len);
	}
	/* MINE has stopped growing: its fields can be pointed at */
	int niov = 0;
	for (int i = 0; i < NSIGNED; i++) {
		if (order[i] < 0)
			continue;
		if (mine_at[i] == SIZE_MAX) {
			iov[niov++] = (gnutls_datum_t){.data = (unsigned char *)p->canon.data + p->canon_at[i],
						       .size = (unsigned)p->canon_len[i]};
			continue;
		}
		size_t end = mine->len; /* where the next field of MINE starts */
		for (int k = i + 1; k < NSIGNED && end == mine->len; k++)
			if (mine_at[k] != SIZE_MAX)
				end = mine_at[k];
		iov[niov++] = (gnutls_datum_t){.data = (unsigned char *)mine->data + mine_at[i],
					       .size = (unsigned)(end - mine_at[i])};
	}
	return niov;
}

/* FM's field for the signed fields IOV[N] and the body hash BH, written
 * into ROOM (FM->text.len bytes). 0, or -1 with *ERR. */
static int write_field(const struct form *fm, char *room, const gnutls_datum_t *iov, int n, const char bh[45],
		       char **err)
{
	memcpy(room, fm->text.data, fm->text.len);
	memcpy(room + fm->bh_at, bh, BH_LEN);
	unsigned char digest[32];
	gnutls_datum_t sig = {0};
	if (header_digest(fm, iov, n, bh, digest) < 0)
		return errf(err, "DKIM: cannot hash with SHA-256");
	if (sign_digest(fm->key, digest, &sig, err) < 0)
		return -1;
	if (sig.size != fm->sig_size) {
		errf(err, "DKIM key %s: a signature of %u octets, %zu expected", fm->key->selector, sig.size,
		     fm->sig_size);
		gnutls_free(sig.data);
		return -1;
	}
	struct buf b = {0};
	mime_base64(&b, sig.data, sig.size);
	gnutls_free(sig.data);
	/* b='s placeholders, in order, across the folds */
	size_t j = 0;
	for (size_t at = fm->b_from; at < fm->text.len && j < b.len; at++)
		if (room[at] == B_MARK)
			room[at] = b.data[j++];
	buf_free(&b);
	return 0;
}

int dkim_prep_sign(const struct dkim_prep *p, char *room, const char *msg, size_t len, char **err)
{
	struct hfield *fs = NULL;
	size_t n = 0, body = 0;
	if (split_header(msg, len, &fs, &n, &body) < 0) {
		free(fs);
		return errf(err, "DKIM: the message has no end of header");
	}
	struct buf mine = {0};
	gnutls_datum_t iov[NSIGNED];
	int niov = signed_fields(p, fs, n, &mine, iov, err);
	int rc = niov < 0 ? -1 : 0;
	char bh[45];
	if (rc == 0)
		dkim_body_hash(msg + body, len - body, bh);
	for (int i = 0; i < p->nforms && rc == 0; i++) {
		rc = write_field(&p->forms[i], room, iov, niov, bh, err);
		room += p->forms[i].text.len;
	}
	free(fs);
	buf_free(&mine);
	return rc;
}

int dkim_sign(const struct dkim *d, const char *msg, size_t len, time_t now, struct buf *out, char **err)
{
	struct dkim_prep *p = NULL;
	if (dkim_prepare(d, msg, len, now, &p, err) < 0)
		return -1;
	size_t at = buf_room(out, p->room);
	int rc = dkim_prep_sign(p, out->data + at, msg, len, err);
	if (rc < 0) {
		out->len = at;
		out->data[at] = '\0';
	}
	dkim_prep_free(p);
	return rc;
}

/* ---- keygen ---- */

int dkim_keygen(const char *type, const char *path, char **record, char **err)
{
	*record = NULL;
	bool ed = !strcmp(type, "ed25519");
	if (!ed && strcmp(type, "rsa"))
		return errf(err, "unknown key type \"%s\" (rsa or ed25519)", type);
	gnutls_x509_privkey_t xk = NULL;
	gnutls_privkey_t pk = NULL;
	gnutls_pubkey_t pub = NULL;
	gnutls_datum_t pem = {0}, der = {0}, x = {0};
	int rc = -1, fd = -1;
	if (gnutls_x509_privkey_init(&xk) < 0 ||
	    gnutls_x509_privkey_generate(xk, ed ? GNUTLS_PK_EDDSA_ED25519 : GNUTLS_PK_RSA, ed ? 256 : 2048, 0) < 0) {
		errf(err, "cannot generate a %s key", type);
		goto out;
	}
	int e = gnutls_x509_privkey_export2_pkcs8(xk, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &pem);
	if (e < 0) {
		errf(err, "cannot write the key in PEM: %s", gnutls_strerror(e));
		goto out;
	}
	if (gnutls_privkey_init(&pk) < 0 || gnutls_privkey_import_x509(pk, xk, 0) < 0 ||
	    gnutls_pubkey_init(&pub) < 0 || gnutls_pubkey_import_privkey(pub, pk, 0, 0) < 0) {
		errf(err, "cannot derive the public key");
		goto out;
	}
	struct buf r = {0};
	if (ed) {
		/* RFC 8463: p= is the raw 32-octet public key */
		gnutls_ecc_curve_t curve;
		e = gnutls_pubkey_export_ecc_raw2(pub, &curve, &x, NULL, 0);
		if (e < 0) {
			errf(err, "cannot export the public key: %s", gnutls_strerror(e));
			goto out;
		}
		buf_adds(&r, "v=DKIM1; k=ed25519; p=");
		mime_base64(&r, x.data, x.size);
	} else {
		/* p= is the SubjectPublicKeyInfo, DER */
		e = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
		if (e < 0) {
			errf(err, "cannot export the public key: %s", gnutls_strerror(e));
			goto out;
		}
		buf_adds(&r, "v=DKIM1; k=rsa; p=");
		mime_base64(&r, der.data, der.size);
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		errf(err, "%s: %s%s", path, strerror(errno),
		     errno == EEXIST ? " (a key is never overwritten: remove it or choose another file)" : "");
		buf_free(&r);
		goto out;
	}
	if (write(fd, pem.data, pem.size) != (ssize_t)pem.size || fsync(fd) < 0) {
		errf(err, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		buf_free(&r);
		goto out;
	}
	if (close(fd) < 0) {
		errf(err, "%s: %s", path, strerror(errno));
		unlink(path);
		buf_free(&r);
		goto out;
	}
	*record = r.data;
	rc = 0;
out:
	if (pem.data) {
		explicit_bzero(pem.data, pem.size);
		gnutls_free(pem.data);
	}
	gnutls_free(der.data);
	gnutls_free(x.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	if (pk)
		gnutls_privkey_deinit(pk); /* imported without AUTO_RELEASE: XK stays ours */
	if (xk)
		gnutls_x509_privkey_deinit(xk);
	return rc;
}
