/* cmd/keygen: `digest dkim-keygen SELECTOR`: a new DKIM key and its DNS
 * record (dkim.c). It needs no configuration: it runs before digest.conf
 * is read. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "cmd.h"
#include "digest/dkim.h"
#include "digest/log.h"
#include "digest/util.h"

static const char keygen_usage[] =
	"usage: digest dkim-keygen SELECTOR [--type rsa|ed25519] [-o FILE]\n"
	"\n"
	"Write a new DKIM private key in PEM to FILE (default SELECTOR.pem), created\n"
	"0600 and never over an existing file: RSA 2048-bit (rsa-sha256, the default)\n"
	"or Ed25519 (ed25519-sha256, RFC 8463). Print the DNS TXT record to publish\n"
	"at SELECTOR._domainkey.DOMAIN, and the digest.conf lines that use the key.\n";

struct keygen_opts {
	const char *selector, *type, *output;
};

static int keygen_take(int c, const char *arg, void *ctx)
{
	struct keygen_opts *o = ctx;
	switch (c) {
	case 1:
		if (o->selector)
			return -1;
		o->selector = arg;
		break;
	case 't': o->type = arg; break;
	case 'o': o->output = arg; break;
	default: return -1;
	}
	return 0;
}

static int parse_keygen(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"type", required_argument, NULL, 't'},
						 {"output", required_argument, NULL, 'o'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct keygen_opts *o = opts;
	if (command_opts(argc, argv, longopts, keygen_usage, keygen_take, o, code) < 0)
		return -1;
	if (!o->selector)
		return usage_error(code, keygen_usage, "dkim-keygen: the selector is missing");
	return 0;
}

static int exec_keygen(struct config *cfg, const void *opts)
{
	(void)cfg;
	const struct keygen_opts *o = opts;
	const char *sel = o->selector, *type = o->type ? o->type : "rsa", *out = o->output;
	for (const char *p = sel; *p; p++)
		if (!(*p >= 'a' && *p <= 'z') && !(*p >= 'A' && *p <= 'Z') && !(*p >= '0' && *p <= '9') && *p != '-' &&
		    *p != '_') {
			log_error("dkim-keygen: \"%s\" is not a selector (letters, digits, - and _)", sel);
			return EX_USAGE;
		}
	if (strcmp(type, "rsa") && strcmp(type, "ed25519")) {
		log_error("dkim-keygen: --type %s: rsa or ed25519", type);
		return EX_USAGE;
	}
	char *path = out ? xstrdup(out) : xasprintf("%s.pem", sel);
	char *record = NULL, *err = NULL;
	if (dkim_keygen(type, path, &record, &err) < 0) {
		log_error("dkim-keygen: %s", err);
		free(err);
		free(path);
		return EX_CANTCREAT;
	}
	/* a TXT string holds at most 255 octets: an RSA key takes two */
	printf("%s._domainkey\tIN\tTXT\t(", sel);
	for (size_t i = 0, n = strlen(record); i < n; i += 250)
		printf(" \"%.250s\"", record + i);
	printf(" )\n");
	fprintf(stderr,
		"Key written to %s (0600). Publish the record above at %s._domainkey.YOUR-DOMAIN, then add\n"
		"  dkim = { domain = \"YOUR-DOMAIN\"; keys = ( { selector = \"%s\"; key_file = \"%s\"; } ); };\n",
		path, sel, sel, path);
	free(record);
	free(path);
	return EX_OK;
}

const struct command command_dkim_keygen = {"dkim-keygen", sizeof(struct keygen_opts), parse_keygen, exec_keygen,
					     true};
