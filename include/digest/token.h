/* token: the secret key and the HMAC-SHA256 tokens in readers' links. */
#ifndef DIGEST_TOKEN_H
#define DIGEST_TOKEN_H

#include <stdbool.h>
#include <stddef.h>

#define TOKEN_KEY_LEN 32
/* base64url of a 16-octet nonce and a 16-octet MAC, and a NUL. */
#define TOKEN_MAX 44

/*
 * token_key_load: the key in PATH (64 hex digits), created with a fresh
 * random key (mode 0600, written to a temporary file then renamed) when
 * PATH does not exist. 0, or -1 with *ERR naming PATH.
 */
int token_key_load(const char *path, unsigned char key[TOKEN_KEY_LEN], char **err);

/*
 * token_make: the token for PURPOSE ("confirm", "unsubscribe") of EMAIL,
 * whose subscriber nonce is NONCE (32 hex digits): the nonce and
 * HMAC-SHA256(KEY, purpose, email, nonce) cut to 16 octets, base64url.
 * Returns 0, or -1 when NONCE is not 32 hex digits.
 */
int token_make(const unsigned char key[TOKEN_KEY_LEN], const char *purpose, const char *email,
	       const char *nonce, char out[TOKEN_MAX]);

/* token_nonce: the nonce (32 hex digits and a NUL) that TOKEN names, so
 * that its subscriber can be looked up; -1 when TOKEN is malformed. */
int token_nonce(const char *token, char nonce[33]);

/* token_check: whether TOKEN is the one for PURPOSE and EMAIL, compared
 * in constant time. */
bool token_check(const unsigned char key[TOKEN_KEY_LEN], const char *purpose, const char *email,
		 const char *token);

/*
 * VERP tokens: what the envelope sender LOCAL+b-TOKEN@DOMAIN and the
 * unsubscribe address LOCAL+u-TOKEN@DOMAIN carry (SPEC "What comes
 * back"). TOKEN is 29 characters of lower-case base32 (mail systems may
 * change the case of a local part) over 18 octets: the first 8 octets of
 * the subscriber's nonce, the edition as days since 1970-01-01 (16 bits
 * big-endian; 0 for a confirmation mail) and HMAC-SHA256(KEY, "verp",
 * KIND, those 10 octets) cut to 8 octets. It names no database id.
 */
#define TOKEN_VERP_LEN 29

/* token_verp_make: the token of KIND ('b' bounce, 'u' unsubscribe) for
 * the subscriber whose nonce is NONCE (32 hex digits) and edition DAY,
 * into OUT (TOKEN_VERP_LEN + 1). 0, or -1 when NONCE is malformed. */
int token_verp_make(const unsigned char key[TOKEN_KEY_LEN], char kind, const char *nonce, unsigned day,
		    char out[TOKEN_VERP_LEN + 1]);

/* token_verp_check: whether TOKEN (any case) is a genuine token of KIND;
 * when it is, the nonce's first 16 hex digits go to PREFIX and the day to
 * *DAY. Constant time in the MAC. */
bool token_verp_check(const unsigned char key[TOKEN_KEY_LEN], char kind, const char *token, char prefix[17],
		      unsigned *day);

/*
 * The hash an erased reader leaves (SPEC "subscribers forget"): the
 * address key (address_key) under HMAC-SHA256 with a key of its own,
 * token_erasure_key: HMAC-SHA256(KEY, "digest erasure v1") of the secret
 * KEY, so that it is no token and no token is it. token_erasure_hash: 64
 * lower-case hex digits. Stable while the secret is: a new secret makes
 * every stored hash match nothing (the erased could then be imported
 * again).
 */
#define TOKEN_ERASURE_HEX 64
void token_erasure_key(const unsigned char key[TOKEN_KEY_LEN], unsigned char out[TOKEN_KEY_LEN]);
void token_erasure_hash(const unsigned char erasure_key[TOKEN_KEY_LEN], const char *addr_key,
			char out[TOKEN_ERASURE_HEX + 1]);

/* token_edition_day: the day number of edition DATE (YYYY-MM-DD), or 0
 * when DATE is malformed. token_day_edition: the reverse, into OUT. */
unsigned token_edition_day(const char *date);
void token_day_edition(unsigned day, char out[11]);

#endif
