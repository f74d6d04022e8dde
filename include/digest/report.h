/* report: what a run and `status` say about an edition's deliveries, in
 * words that keep apart those tried and deferred from those never tried
 * (SPEC "Command line": the summary line; `status --failed`). */
#ifndef DIGEST_REPORT_H
#define DIGEST_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "digest/deliver.h"
#include "digest/store.h"

/*
 * report_summary: the line that ends every run (no newline; malloc'd), by
 * the edition DATE's counts DC and this run's stats DS (NULL: none):
 *   edition D: N articles; M subscribers: S sent, P deferred, F failed in T s (R msg/s)
 * where P is every active reader still owed the edition, and, when some
 * of them were never tried, "; U of them not tried" after it. A DRY run
 * tried nobody, and says what a run would send:
 *   edition D: N articles; M subscribers: P would be sent, S already sent, F failed (dry run: nothing sent)
 */
char *report_summary(const char *date, size_t articles, const struct delivery_counts *dc,
		     const struct deliver_stats *ds, bool dry);

/*
 * report_failed: `status --failed` for edition DATE onto F: the readers
 * whose delivery failed, then those deferred (tried; the next run tries
 * them again) with the count of those never tried, each with their
 * status, attempts, when and the server's last reply; then the mail that
 * came back naming the edition. 0, or -1 with *ERR (the store's).
 */
int report_failed(FILE *f, struct store *st, const char *date, char **err);

/* report_bounce_header, report_bounce: the table of mail that came back
 * (`digest bounces`, `status --failed`): one line a message, its
 * diagnostic on one line and, when MAX, cut to fewer than MAX bytes. */
void report_bounce_header(FILE *f);
void report_bounce(FILE *f, const struct bounce_row *b, size_t max);

#endif
