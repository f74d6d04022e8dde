/* dkim: canonicalization and signing over a prepared message (RFC 6376,
 * RFC 8463), with GnuTLS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
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

/* The body hash without a copy: runs of lines that are canonical as they
 * stand (CRLF, no blank at the end, no tab, no two blanks in a row) go to
 * the hash straight from BODY; only the others are rewritten, line by
 * line. Empty lines are held back until a line with text follows. The
 * result is the SHA-256 of dkim_canon_body's output (fuzz_dkim checks). */
void dkim_body_hash(const char *body, size_t len, char out[45])
{
	gnutls_hash_hd_t h;
	unsigned char d[32];
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		/* not expected: hash the canonical copy in one go */
		struct buf c = {0};
		dkim_canon_body(&c, body, len);
		gnutls_hash_fast(GNUTLS_DIG_SHA256, c.data ? c.data : "", c.len, d);
		buf_free(&c);
		goto encode;
	}
	size_t span = 0, span_end = 0; /* BODY[span, span_end) is canonical, not hashed yet */
	size_t empty = 0, empty_at = 0; /* empty lines held back, the first one's offset */
	bool empty_exact = true;        /* each of them exactly CRLF */
	struct buf line = {0};
	size_t i = 0;
	while (i < len) {
		const char *eol = memchr(body + i, '\n', len - i);
		size_t end = eol ? (size_t)(eol - body) : len;
		size_t e = end;
		bool crlf = eol && e > i && body[e - 1] == '\r';
		if (crlf)
			e--;
		size_t t = e;
		while (t > i && wsp(body[t - 1]))
			t--;
		size_t next = eol ? end + 1 : len;
		if (t == i) { /* empty once canonical */
			if (empty++ == 0) {
				empty_at = i;
				empty_exact = true;
			}
			empty_exact = empty_exact && crlf && e == i;
			i = next;
			continue;
		}
		/* memchr looks at many bytes at a time: a base64 line has no
		 * blank at all, a text line a few */
		bool clean = crlf && t == e && !memchr(body + i, '\t', t - i);
		for (const char *p = body + i; clean && (p = memchr(p, ' ', (size_t)(body + t - p))); p++)
			if (p[1] == ' ')
				clean = false;
		if (clean && (empty == 0 || (empty_exact && empty_at == span_end))) {
			if (span_end != (empty ? empty_at : i)) { /* not contiguous: start anew */
				if (span_end > span)
					gnutls_hash(h, body + span, span_end - span);
				span = empty ? empty_at : i;
			}
			span_end = next;
			empty = 0;
			i = next;
			continue;
		}
		if (span_end > span)
			gnutls_hash(h, body + span, span_end - span);
		span = span_end = next;
		for (; empty > 0; empty--)
			gnutls_hash(h, "\r\n", 2);
		line.len = 0;
		dkim_canon_body(&line, body + i, t - i);
		gnutls_hash(h, line.data, line.len);
		i = next;
	}
	if (span_end > span)
		gnutls_hash(h, body + span, span_end - span);
	buf_free(&line);
	gnutls_hash_deinit(h, d);
encode:;
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

int dkim_load(const struct config *cfg, struct dkim **out, char **err)
{
	*out = NULL;
	if (!cfg->dkim.domain || cfg->dkim.nkeys == 0)
		return 0;
	struct dkim *d = dkim_new(cfg->dkim.domain);
	for (int i = 0; i < cfg->dkim.nkeys; i++) {
		const struct dkim_key_config *kc = &cfg->dkim.keys[i];
		char *where = xasprintf("%s:%d: dkim.keys.[%d].key_file: %s", cfg->path, kc->line, i, kc->key_file);
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

/* One signature of K over the canonical header fields HDRS (as they come
 * in h=) and the body hash BH, appended to OUT. */
static int sign_one(const struct dkim *d, struct key *k, const char *hlist, const struct buf *hdrs, const char *bh,
		    time_t now, struct buf *out, char **err)
{
	struct buf f = {0};
	size_t col = 0;
	char tag[128];
	buf_adds(&f, "DKIM-Signature:");
	col = f.len;
	fold_add(&f, &col, " ", "v=1;", 4);
	int n = snprintf(tag, sizeof tag, "a=%s;", k->ed25519 ? "ed25519-sha256" : "rsa-sha256");
	fold_add(&f, &col, " ", tag, (size_t)n);
	fold_add(&f, &col, " ", "c=relaxed/relaxed;", 18);
	char *t = xasprintf("d=%s;", d->domain);
	fold_add(&f, &col, " ", t, strlen(t));
	free(t);
	t = xasprintf("s=%s;", k->selector);
	fold_add(&f, &col, " ", t, strlen(t));
	free(t);
	n = snprintf(tag, sizeof tag, "t=%lld;", (long long)now);
	fold_add(&f, &col, " ", tag, (size_t)n);
	/* h= folded between names: FWS is allowed around its colons */
	const char *h = hlist;
	bool first = true;
	while (*h) {
		size_t l = strcspn(h, ":");
		char *item = xasprintf("%s%.*s%s", first ? "h=" : "", (int)l, h, h[l] ? ":" : ";");
		fold_add(&f, &col, first ? " " : "", item, strlen(item));
		free(item);
		first = false;
		h += l + (h[l] ? 1 : 0);
	}
	t = xasprintf("bh=%s;", bh);
	fold_add(&f, &col, " ", t, strlen(t));
	free(t);
	fold_add(&f, &col, " ", "b=", 2);

	/* What is signed: the fields in h= order, then this field with an
	 * empty b= and without its CRLF (RFC 6376 3.7). */
	struct buf data = {0};
	buf_add(&data, hdrs->data, hdrs->len);
	dkim_canon_header(&data, f.data, f.len);
	data.len -= 2;
	gnutls_datum_t dt = {.data = (unsigned char *)data.data, .size = (unsigned)data.len}, sig = {0};
	unsigned char hash[32];
	int slot = 0, rc;
	const char *why = NULL;
	gnutls_privkey_t pk = take_key(k, &slot, &why);
	if (!pk) {
		rc = errf(err, "DKIM key %s: %s", k->selector, why);
		goto out;
	}
	if (k->ed25519) {
		/* RFC 8463: Ed25519 signs the SHA-256 of the data */
		gnutls_hash_fast(GNUTLS_DIG_SHA256, dt.data, dt.size, hash);
		gnutls_datum_t hd = {.data = hash, .size = sizeof hash};
		rc = gnutls_privkey_sign_data2(pk, GNUTLS_SIGN_EDDSA_ED25519, 0, &hd, &sig);
	} else {
		rc = gnutls_privkey_sign_data(pk, GNUTLS_DIG_SHA256, 0, &dt, &sig);
	}
	pthread_mutex_unlock(&k->mu[slot]);
	if (rc < 0) {
		rc = errf(err, "DKIM key %s: cannot sign: %s", k->selector, gnutls_strerror(rc));
		goto out;
	}
	struct buf b = {0};
	mime_base64(&b, sig.data, sig.size);
	gnutls_free(sig.data);
	/* b= folded in pieces: FWS is allowed within base64 */
	for (size_t i = 0; i < b.len;) {
		size_t room = col < 76 ? 76 - col : 0;
		if (room < 8) {
			buf_add(&f, "\r\n\t", 3);
			col = 1;
			room = 75;
		}
		size_t take = b.len - i < room ? b.len - i : room;
		buf_add(&f, b.data + i, take);
		col += take;
		i += take;
	}
	buf_free(&b);
	buf_add(&f, "\r\n", 2);
	buf_add(out, f.data, f.len);
	rc = 0;
out:
	buf_free(&f);
	buf_free(&data);
	return rc;
}

int dkim_sign(const struct dkim *d, const char *msg, size_t len, time_t now, struct buf *out, char **err)
{
	struct hfield *fs = NULL;
	size_t n = 0, body = 0;
	if (split_header(msg, len, &fs, &n, &body) < 0) {
		free(fs);
		return errf(err, "DKIM: the message has no end of header");
	}
	char bh[45];
	dkim_body_hash(msg + body, len - body, bh);

	/* h=: the names the message has, each instance taken from the bottom
	 * up (RFC 6376 5.4.2); "from" twice, the second matching nothing. */
	struct buf hl = {0}, hdrs = {0};
	bool *used = xcalloc(n ? n : 1, sizeof *used);
	for (size_t i = 0; dkim_signed_headers[i]; i++) {
		const char *name = dkim_signed_headers[i];
		size_t nl = strlen(name);
		bool present = false, oversign = i > 0 && !strcmp(name, dkim_signed_headers[i - 1]);
		for (size_t j = n; j-- > 0;) {
			if (fs[j].nlen == nl && !strncasecmp(fs[j].p, name, nl)) {
				present = true;
				if (!used[j]) {
					used[j] = true;
					dkim_canon_header(&hdrs, fs[j].p, fs[j].len);
					break;
				}
			}
		}
		if (present || oversign) {
			if (hl.len)
				buf_add(&hl, ":", 1);
			buf_adds(&hl, name);
		}
	}
	free(used);
	free(fs);
	int rc = 0;
	for (int i = 0; i < d->n && rc == 0; i++)
		rc = sign_one(d, &d->keys[i], hl.data, &hdrs, bh, now, out, err);
	buf_free(&hl);
	buf_free(&hdrs);
	return rc;
}

int dkim_sign_prepend(const struct dkim *d, struct buf *msg, size_t start, time_t now, char **err)
{
	struct buf sig = {0};
	if (dkim_sign(d, msg->data + start, msg->len - start, now, &sig, err) < 0) {
		buf_free(&sig);
		return -1;
	}
	size_t old = msg->len;
	buf_add(msg, sig.data, sig.len); /* room */
	memmove(msg->data + start + sig.len, msg->data + start, old - start);
	memcpy(msg->data + start, sig.data, sig.len);
	buf_free(&sig);
	return 0;
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
