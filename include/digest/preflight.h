/* preflight: what check-config says before the first real send: settings
 * that load fine but make every message unusable in production, files
 * digest will need and cannot read, and a trial SMTP connection. */
#ifndef DIGEST_PREFLIGHT_H
#define DIGEST_PREFLIGHT_H

#include "digest/config.h"

/*
 * preflight_check: the checks of CFG beyond loading it. With transport
 * "smtp", a warning ("PATH:LINE: key: ...", on stderr) for a base_url that
 * is not https or points at loopback or an example.* domain, a From or
 * list_id on localhost, a helo that is not a fully qualified name, a
 * dkim.domain not aligned with the From domain, no dkim block; an error
 * for an unreadable password_file, a secret_file (or its directory) digest
 * cannot read or create, an unreadable templates directory. Returns the
 * number of errors; *WARNINGS gets the number of warnings.
 */
int preflight_check(const struct config *cfg, int *warnings);

/*
 * preflight_connect: open a connection of the configured transport as a
 * run would (SMTP: connect, EHLO, STARTTLS or TLS with the certificate
 * verified, AUTH), say what it found in *REPORT (malloc'd, one line), and
 * close it without sending anything. 0; -1 with *ERR and *WHY (0: it may
 * work later, 1: refused login, 2: refused certificate, 3: refused
 * otherwise) when it failed.
 */
int preflight_connect(const struct config *cfg, char **report, int *why, char **err);

#endif
