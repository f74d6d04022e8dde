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

#endif
