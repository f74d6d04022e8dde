/* certcheck: a server's certificate chain against a trust list, by GnuTLS. */
#include <arpa/inet.h>
#include <ctype.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <string.h>

#include "digest/certcheck.h"
#include "digest/util.h"

int certcheck_chain(const struct cert_der *chain, unsigned count, const char *host, const char *ca_file,
		    const char *where, char **err)
{
	gnutls_x509_crt_t crts[CERTCHECK_MAX_CHAIN];
	unsigned n = 0, status = 0;
	gnutls_x509_trust_list_t tl = NULL;
	gnutls_datum_t text = {NULL, 0};
	unsigned char ip[16];
	int rc = -1, r;
	if (!chain || count == 0) {
		errf(err, "%s: certificate: the server sent none", where);
		goto out;
	}
	for (unsigned i = 0; i < count && i < CERTCHECK_MAX_CHAIN; i++) {
		if (gnutls_x509_crt_init(&crts[n]) < 0) {
			errf(err, "%s: certificate: out of memory", where);
			goto out;
		}
		n++;
		gnutls_datum_t d = {(unsigned char *)chain[i].data, (unsigned)chain[i].len};
		if ((r = gnutls_x509_crt_import(crts[n - 1], &d, GNUTLS_X509_FMT_DER)) < 0) {
			errf(err, "%s: certificate: %s", where, gnutls_strerror(r));
			goto out;
		}
	}
	if ((r = gnutls_x509_trust_list_init(&tl, 0)) < 0) {
		errf(err, "%s: certificate: %s", where, gnutls_strerror(r));
		goto out;
	}
	r = ca_file ? gnutls_x509_trust_list_add_trust_file(tl, ca_file, NULL, GNUTLS_X509_FMT_PEM, 0, 0)
		    : gnutls_x509_trust_list_add_system_trust(tl, 0, 0);
	if (r <= 0) {
		errf(err, "%s: certificate: no trusted CA certificate in %s%s%s", where,
		     ca_file ? ca_file : "the system store", r < 0 ? ": " : "", r < 0 ? gnutls_strerror(r) : "");
		goto out;
	}
	gnutls_typed_vdata_st vd[2] = {
		{.type = GNUTLS_DT_DNS_HOSTNAME, .data = (unsigned char *)host, .size = 0},
		{.type = GNUTLS_DT_KEY_PURPOSE_OID, .data = (unsigned char *)GNUTLS_KP_TLS_WWW_SERVER, .size = 0},
	};
	if (inet_pton(AF_INET, host, ip) == 1)
		vd[0] = (gnutls_typed_vdata_st){.type = GNUTLS_DT_IP_ADDRESS, .data = ip, .size = 4};
	else if (inet_pton(AF_INET6, host, ip) == 1)
		vd[0] = (gnutls_typed_vdata_st){.type = GNUTLS_DT_IP_ADDRESS, .data = ip, .size = 16};
	if ((r = gnutls_x509_trust_list_verify_crt2(tl, crts, n, vd, 2, 0, &status, NULL)) < 0) {
		errf(err, "%s: certificate: %s", where, gnutls_strerror(r));
		goto out;
	}
	if (status) {
		if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) < 0 || !text.data) {
			errf(err, "%s: certificate: refused (status 0x%x)", where, status);
			goto out;
		}
		char *s = (char *)text.data;
		size_t len = strlen(s);
		while (len > 0 && isspace((unsigned char)s[len - 1]))
			s[--len] = '\0';
		errf(err, "%s: certificate: %s", where, s);
		goto out;
	}
	rc = 0;
out:
	for (unsigned i = 0; i < n; i++)
		gnutls_x509_crt_deinit(crts[i]);
	if (tl)
		gnutls_x509_trust_list_deinit(tl, 1);
	gnutls_free(text.data);
	return rc;
}
