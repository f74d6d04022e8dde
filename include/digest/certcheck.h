/* certcheck: a TLS server's certificate chain checked for a host, the one
 * check the SMTP client and the inbound mailbox share (GnuTLS). */
#ifndef DIGEST_CERTCHECK_H
#define DIGEST_CERTCHECK_H

#include <stddef.h>

/* One certificate as the server sent it (DER). */
struct cert_der {
	const unsigned char *data;
	size_t len;
};

#define CERTCHECK_MAX_CHAIN 16 /* certificates of a chain looked at */

/*
 * certcheck_chain: the N certificates of CHAIN (the server's first)
 * checked against the system's CAs, or those of the PEM file CA_FILE when
 * it is not NULL, for HOST (a name, or an IPv4/IPv6 literal matched
 * against the certificate's addresses) and for TLS server use. 0, or -1
 * with *ERR one line "WHERE: certificate: why" (an empty chain, an
 * unreadable trust list, GnuTLS's reasons for refusing).
 */
int certcheck_chain(const struct cert_der *chain, unsigned n, const char *host, const char *ca_file,
		    const char *where, char **err);

#endif
