/* address: the identity of a mailbox (SPEC "Addresses") and its spelling
 * on the wire: IDNA domains (libidn2), case-insensitive local parts. */
#ifndef DIGEST_ADDRESS_H
#define DIGEST_ADDRESS_H

#include <stdbool.h>

/*
 * address_key: the identity of mailbox ADDR (SPEC "Addresses"): ADDR is
 * first checked and trimmed as address_normalize does; then the local
 * part lower-cased (ASCII letters, and the capitals of Latin-1, Greek and
 * Cyrillic by a simple one-to-one case fold; any other character kept as
 * it is; a quoted local part whose content is a plain dot-atom loses its
 * quotes, as "bob"@x and bob@x are one mailbox), "@", the domain
 * lower-cased in IDNA A-label form (libidn2 idn2_to_ascii_8z with
 * IDN2_NONTRANSITIONAL|IDN2_NFC_INPUT, falling back to transitional); an
 * address literal ("[1.2.3.4]") is kept as address_normalize writes it.
 * The key is itself a valid address, and its own key. Returns 0 and a
 * malloc'd *KEY, or -1 with *ERR one line ("address: the domain is not a
 * valid IDNA name", "address: no @", ...); ERR may be NULL.
 */
int address_key(const char *addr, char **key, char **err);

/*
 * address_accept: ADDR as outside input (a form, an import line): checked
 * and trimmed (address_normalize), with an identity (address_key).
 * Returns the malloc'd address to keep, and its key in *KEY (may be NULL:
 * not wanted); or NULL with *WHY one line without the "address: " that
 * address_key's reasons start with, for the caller to put after its own.
 */
char *address_accept(const char *addr, char **key, char **why);

/*
 * address_ascii_domain: ADDR as it is to be sent: trimmed, the local part
 * as given, the domain in A-label form (lower-cased; the spelling kept
 * otherwise). Returns 0 and a malloc'd *OUT, or -1 with *ERR (as
 * address_key); ERR may be NULL.
 */
int address_ascii_domain(const char *addr, char **out, char **err);

/* address_local_ascii: whether ADDR's local part (what comes before its
 * last "@") is all ASCII; when not, it can be sent only with SMTPUTF8. */
bool address_local_ascii(const char *addr);

/* address_domain_ascii: whether ADDR's domain (after its last "@") is all
 * ASCII: when it is, address_ascii_domain has nothing to convert. */
bool address_domain_ascii(const char *addr);

#endif
