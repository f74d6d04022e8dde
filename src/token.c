/* token: the secret key and the HMAC-SHA256 tokens in readers' links. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest/token.h"
#include "digest/util.h"

static int unhex(const char *s, unsigned char *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value((unsigned char)s[2 * i]), lo = hi < 0 ? -1 : hex_value((unsigned char)s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int write_key(const char *path, unsigned char key[TOKEN_KEY_LEN], char **err)
{
	char *dir = path_dir(path);
	int rc = mkdir_p(dir, 0700);
	free(dir);
	if (rc < 0)
		return errf(err, "%s: cannot create its directory: %s", path, strerror(errno));
	random_bytes(key, TOKEN_KEY_LEN);
	char text[2 * TOKEN_KEY_LEN + 2];
	for (int i = 0; i < TOKEN_KEY_LEN; i++)
		snprintf(text + 2 * i, 3, "%02x", key[i]);
	text[2 * TOKEN_KEY_LEN] = '\n';
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		errf(err, "%s: cannot create: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	bool ok = write(fd, text, sizeof text - 1) == (ssize_t)(sizeof text - 1) && fsync(fd) == 0;
	ok = close(fd) == 0 && ok;
	/* link, not rename: a key another process made meanwhile wins. */
	if (ok && link(tmp, path) < 0) {
		unlink(tmp);
		free(tmp);
		explicit_bzero(text, sizeof text);
		return errno == EEXIST ? 1 : errf(err, "%s: cannot create: %s", path, strerror(errno));
	}
	unlink(tmp);
	free(tmp);
	explicit_bzero(text, sizeof text);
	return ok ? 0 : errf(err, "%s: cannot write the key", path);
}

int token_key_load(const char *path, unsigned char key[TOKEN_KEY_LEN], char **err)
{
	for (int tries = 0; tries < 2; tries++) {
		FILE *f = fopen(path, "re");
		if (!f) {
			if (errno != ENOENT)
				return errf(err, "%s: %s", path, strerror(errno));
			int rc = write_key(path, key, err);
			if (rc <= 0)
				return rc;
			continue; /* someone else wrote it first: read theirs */
		}
		char text[2 * TOKEN_KEY_LEN + 4] = {0};
		size_t n = fread(text, 1, sizeof text - 1, f);
		fclose(f);
		while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r' || text[n - 1] == ' '))
			n--;
		int bad = n != 2 * TOKEN_KEY_LEN || unhex(text, key, TOKEN_KEY_LEN) < 0;
		explicit_bzero(text, sizeof text);
		if (bad)
			return errf(err, "%s: expected a key of %d hex digits", path, 2 * TOKEN_KEY_LEN);
		return 0;
	}
	return errf(err, "%s: cannot read the key", path);
}

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static void mac(const unsigned char key[TOKEN_KEY_LEN], const char *purpose, const char *email,
		const unsigned char nonce[16], unsigned char out[32])
{
	struct buf m = {0};
	buf_adds(&m, purpose);
	buf_add(&m, "", 1);
	buf_adds(&m, email);
	buf_add(&m, "", 1);
	buf_add(&m, nonce, 16);
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, TOKEN_KEY_LEN, m.data, m.len, out);
	buf_free(&m);
}

int token_make(const unsigned char key[TOKEN_KEY_LEN], const char *purpose, const char *email,
	       const char *nonce, char out[TOKEN_MAX])
{
	unsigned char raw[33];
	if (strlen(nonce) != 32 || unhex(nonce, raw, 16) < 0)
		return -1;
	unsigned char m[32];
	mac(key, purpose, email, raw, m);
	memcpy(raw + 16, m, 16);
	raw[32] = 0;
	/* 32 octets: ten groups of three and two left, 43 characters. */
	char *o = out;
	for (int i = 0; i < 32; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | (i + 2 < 32 ? raw[i + 2] : 0);
		*o++ = b64url[v >> 18];
		*o++ = b64url[(v >> 12) & 63];
		*o++ = b64url[(v >> 6) & 63];
		if (i + 2 < 32)
			*o++ = b64url[v & 63];
	}
	*o = '\0';
	return 0;
}

static int decode(const char *token, unsigned char raw[33])
{
	if (strlen(token) != 43)
		return -1;
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;
	for (const char *p = token; *p; p++) {
		const char *c = strchr(b64url, *p);
		if (!c || !*p)
			return -1;
		acc = (acc << 6) | (unsigned)(c - b64url);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n < 33)
				raw[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	/* The last character's two spare bits must be zero: one token, one
	 * spelling. */
	return n == 32 && acc == 0 ? 0 : -1;
}

int token_nonce(const char *token, char nonce[33])
{
	unsigned char raw[33];
	if (decode(token, raw) < 0)
		return -1;
	for (int i = 0; i < 16; i++)
		snprintf(nonce + 2 * i, 3, "%02x", raw[i]);
	return 0;
}

bool token_check(const unsigned char key[TOKEN_KEY_LEN], const char *purpose, const char *email,
		 const char *token)
{
	unsigned char raw[33];
	if (decode(token, raw) < 0)
		return false;
	unsigned char m[32];
	mac(key, purpose, email, raw, m);
	return gnutls_memcmp(m, raw + 16, 16) == 0;
}

/* ---- VERP tokens ---- */

static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

static void verp_mac(const unsigned char key[TOKEN_KEY_LEN], char kind, const unsigned char body[10],
		     unsigned char out[32])
{
	unsigned char m[16] = {'v', 'e', 'r', 'p', 0, (unsigned char)kind, 0};
	memcpy(m + 6, body, 10);
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, TOKEN_KEY_LEN, m, sizeof m, out);
}

int token_verp_make(const unsigned char key[TOKEN_KEY_LEN], char kind, const char *nonce, unsigned day,
		    char out[TOKEN_VERP_LEN + 1])
{
	unsigned char raw[18];
	if (strlen(nonce) != 32 || unhex(nonce, raw, 8) < 0 || day > 0xffff)
		return -1;
	raw[8] = (unsigned char)(day >> 8);
	raw[9] = (unsigned char)day;
	unsigned char m[32];
	verp_mac(key, kind, raw, m);
	memcpy(raw + 10, m, 8);
	/* 144 bits, five at a time; the last character carries four */
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;
	for (size_t i = 0; i < sizeof raw; i++) {
		acc = (acc << 8) | raw[i];
		bits += 8;
		while (bits >= 5) {
			bits -= 5;
			out[n++] = b32[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	if (bits > 0)
		out[n++] = b32[(acc << (5 - bits)) & 31];
	out[n] = '\0';
	return 0;
}

bool token_verp_check(const unsigned char key[TOKEN_KEY_LEN], char kind, const char *token, char prefix[17],
		      unsigned *day)
{
	if (!token || strlen(token) != TOKEN_VERP_LEN)
		return false;
	unsigned char raw[19];
	unsigned acc = 0;
	int bits = 0;
	size_t n = 0;
	for (const char *p = token; *p; p++) {
		int c = *p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p;
		const char *q = c ? strchr(b32, c) : NULL;
		if (!q)
			return false;
		acc = (acc << 5) | (unsigned)(q - b32);
		bits += 5;
		if (bits >= 8) {
			bits -= 8;
			if (n < sizeof raw)
				raw[n++] = (unsigned char)(acc >> bits);
		}
		acc &= (1u << bits) - 1;
	}
	if (n != 18 || acc != 0) /* one token, one spelling */
		return false;
	unsigned char m[32];
	verp_mac(key, kind, raw, m);
	if (gnutls_memcmp(m, raw + 10, 8) != 0)
		return false;
	for (int i = 0; i < 8; i++)
		snprintf(prefix + 2 * i, 3, "%02x", raw[i]);
	*day = (unsigned)raw[8] << 8 | raw[9];
	return true;
}

/* Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

unsigned token_edition_day(const char *date)
{
	int y, m, d;
	char tail;
	if (!date || sscanf(date, "%4d-%2d-%2d%c", &y, &m, &d, &tail) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
		return 0;
	long n = days_from_civil(y, (unsigned)m, (unsigned)d);
	return n > 0 && n <= 0xffff ? (unsigned)n : 0;
}

void token_day_edition(unsigned day, char out[11])
{
	long z = (long)day + 719468;
	long era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long y = (long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	char t[64];
	snprintf(t, sizeof t, "%04ld-%02u-%02u", (y + (m <= 2)) % 10000, m % 100, d % 100);
	memcpy(out, t, 10);
	out[10] = '\0';
}

void token_erasure_key(const unsigned char key[TOKEN_KEY_LEN], unsigned char out[TOKEN_KEY_LEN])
{
	static const char label[] = "digest erasure v1";
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, TOKEN_KEY_LEN, label, sizeof label - 1, out);
}

void token_erasure_hash(const unsigned char erasure_key[TOKEN_KEY_LEN], const char *addr_key,
			char out[TOKEN_ERASURE_HEX + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char m[32];
	gnutls_hmac_fast(GNUTLS_MAC_SHA256, erasure_key, TOKEN_KEY_LEN, addr_key, strlen(addr_key), m);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[m[i] >> 4];
		out[2 * i + 1] = hex[m[i] & 15];
	}
	out[TOKEN_ERASURE_HEX] = '\0';
}
