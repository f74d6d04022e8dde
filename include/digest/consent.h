/* consent: what proves a reader's consent (README "Proof of consent"):
 * the version of the wording they were shown. The trail itself is
 * recorded by subscription.c with each event (sub_args.consent) and kept
 * by the store (store_consent_add). */
#ifndef DIGEST_CONSENT_H
#define DIGEST_CONSENT_H

#include <stdio.h>

#include "digest/page.h"
#include "digest/render.h"
#include "digest/store.h"

/* The wording version: 12 hex digits. */
#define CONSENT_WORDING_LEN 12

/*
 * consent_wording: the version of the words a reader joining is shown:
 * the first 12 hex digits of the SHA-256 of the pages of P (page_wording)
 * and of R's confirmation mail (render_confirm_wording), as rendered from
 * the templates in use, built-in or from templates.dir, in the
 * newsletter's language. A change of any of their words (or of the
 * newsletter's name in them) gives a new version. 0 and OUT, or -1 with
 * *ERR (a template error).
 */
int consent_wording(const struct pages *p, struct render *r, char out[CONSENT_WORDING_LEN + 1], char **err);

/* How many deliveries consent_show lists. */
#define CONSENT_SHOW_DELIVERIES 10

/*
 * consent_show: the record of the reader ADDR (found by its identity,
 * SPEC "Addresses") written to F for people: address, name, status and
 * since when, created, the confirmation mail owed or last sent, the
 * bounce score; the consent trail (each step: local time with its
 * offset, event, client, wording version); the latest
 * CONSENT_SHOW_DELIVERIES deliveries (edition, state, attempts, when,
 * the server's last reply). 1 shown (F's errors are the caller's to
 * check), 0 no such reader (nothing written), -1 with *ERR.
 */
int consent_show(struct store *st, const char *addr, FILE *f, char **err);

#endif
