/* dkim: DKIM signatures (RFC 6376) over a prepared message: relaxed/relaxed
 * canonicalization, rsa-sha256 and ed25519-sha256 (RFC 8463) with GnuTLS,
 * one DKIM-Signature per configured key. GnuTLS's types stay in dkim.c. */
#ifndef DIGEST_DKIM_H
#define DIGEST_DKIM_H

#include <stddef.h>
#include <time.h>

#include "digest/config.h"
#include "digest/util.h"

struct dkim;

/* The header fields signed, in this order, when the message has them;
 * "from" is listed twice so that no second From can be added unnoticed
 * (RFC 6376 8.15). NULL after the last. */
extern const char *const dkim_signed_headers[];

/*
 * dkim_load: the signer of DC, the dkim block of the configuration file
 * PATH, its keys read from their files; *OUT is NULL when digest.conf has
 * no dkim block (nothing is signed). 0, or -1 with *ERR naming PATH, the
 * line, the key and what is wrong with it (unreadable, not a PEM private key, a
 * type other than RSA or Ed25519, an RSA key under 1024 bits). Free with
 * dkim_free (NULL is fine).
 */
int dkim_load(const struct dkim_config *dc, const char *path, struct dkim **out, char **err);

/* dkim_new: a signer for DOMAIN without keys (dkim_add_key adds them). */
struct dkim *dkim_new(const char *domain);

/* dkim_add_key: the PEM private key PEM (LEN bytes) under SELECTOR; WHERE
 * names it in errors. 0, or -1 with *ERR. */
int dkim_add_key(struct dkim *d, const char *selector, const char *pem, size_t len, const char *where, char **err);

void dkim_free(struct dkim *d);

/* dkim_nkeys: how many signatures each message gets. */
int dkim_nkeys(const struct dkim *d);

/*
 * dkim_sign: the DKIM-Signature header fields (one per key, CRLF, folded
 * within 78 octets) of MSG (LEN bytes: a whole message, CRLF line ends,
 * not dot-stuffed), signed at time NOW (t=), appended to OUT; the caller
 * puts them before the message. Safe to call from several threads at
 * once on one signer. 0, or -1 with *ERR (MSG has no header/body
 * separator, GnuTLS failed); OUT is then as it was.
 */
int dkim_sign(const struct dkim *d, const char *msg, size_t len, time_t now, struct buf *out, char **err);

/*
 * Signing many messages of one shape (an edition's, which differ only by
 * their reader): dkim_prepare does once what is the same for all of them,
 * from one of them, MSG (LEN bytes, as for dkim_sign), signed at NOW: the
 * layout of the DKIM-Signature fields (whose length does not depend on
 * the message: bh= and b= have a fixed size per key) and the relaxed form
 * of the signed header fields. 0, or -1 with *ERR (no end of header).
 * Free with dkim_prep_free (NULL is fine). D must outlive it.
 *
 * dkim_prep_room: the octets the signatures take before each message.
 *
 * dkim_prep_sign: the signatures of MSG (LEN bytes) written into ROOM
 * (dkim_prep_room bytes, typically just before MSG in one buffer, so
 * the message is never moved). MSG must have the signed header fields
 * that the prepared message had, in the same places (their values may
 * differ: the fields that differ from the prepared ones are canonicalized
 * again, the others not). Safe from several threads at once. 0, or -1
 * with *ERR (a signed field missing or added, no end of header, GnuTLS
 * failed): ROOM then holds no valid field.
 */
struct dkim_prep;
int dkim_prepare(const struct dkim *d, const char *msg, size_t len, time_t now, struct dkim_prep **out,
		 char **err);
size_t dkim_prep_room(const struct dkim_prep *p);
int dkim_prep_sign(const struct dkim_prep *p, char *room, const char *msg, size_t len, char **err);
void dkim_prep_free(struct dkim_prep *p);

/* dkim_canon_header: header field F (LEN bytes: "Name: value", folded or
 * not, with or without its final CRLF) in relaxed canonicalization
 * (RFC 6376 3.4.2), "name:value\r\n", appended to OUT. */
void dkim_canon_header(struct buf *out, const char *f, size_t len);

/* dkim_canon_body: BODY (LEN bytes, CRLF line ends) in relaxed
 * canonicalization (RFC 6376 3.4.4), appended to OUT: blanks at line
 * ends dropped, runs of blanks one space, empty lines at the end dropped;
 * a body that is not empty ends with CRLF. */
void dkim_canon_body(struct buf *out, const char *body, size_t len);

/* dkim_body_hash: bh=, the base64 SHA-256 of BODY's relaxed form, into
 * OUT (at least 45 bytes). */
void dkim_body_hash(const char *body, size_t len, char out[45]);

/*
 * dkim_keygen: a new private key of TYPE ("rsa": 2048 bit, "ed25519")
 * written in PEM to PATH, created 0600 (an existing file is an error:
 * never overwrite a key in use). *RECORD gets the DNS TXT record's text
 * ("v=DKIM1; k=rsa; p=..."), malloc'd. 0, or -1 with *ERR.
 */
int dkim_keygen(const char *type, const char *path, char **record, char **err);

#endif
