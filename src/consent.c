/* consent: the version of the wording a reader joining is shown, and
 * one reader's record with their consent trail. */
#define _GNU_SOURCE
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <string.h>

#include "digest/consent.h"
#include "digest/log.h"
#include "digest/util.h"

int consent_wording(const struct pages *p, struct render *r, char out[CONSENT_WORDING_LEN + 1], char **err)
{
	struct buf b = {0};
	page_wording(p, &b);
	if (render_confirm_wording(r, &b, err) < 0) {
		buf_free(&b);
		return -1;
	}
	unsigned char d[32];
	int rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, b.data ? b.data : "", b.len, d);
	buf_free(&b);
	if (rc < 0)
		return errf(err, "hashing the wording: %s", gnutls_strerror(rc));
	for (int i = 0; i < CONSENT_WORDING_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}

/* ---- one reader's record: `subscribers show` ---- */

/* S on one line of at most MAX bytes (controls as spaces, cut with "…"
 * at a character boundary), to F. */
static void put_line(FILE *f, const char *s, size_t max)
{
	size_t n = strlen(s), cut = n;
	if (n > max)
		for (cut = max; cut > 0 && ((unsigned char)s[cut] & 0xC0) == 0x80; cut--)
			; /* not inside a character */
	for (size_t i = 0; i < cut; i++)
		fputc((unsigned char)s[i] < 0x20 || s[i] == 0x7F ? ' ' : s[i], f);
	if (cut < n)
		fputs("…", f);
}

/* Where the rows go, and how many went. */
struct counted {
	FILE *f;
	int n;
};

static int consent_line(void *ctx, const struct consent_row *c)
{
	struct counted *o = ctx;
	char when[LOG_TIME_LEN + 1];
	log_time(c->at, when);
	fprintf(o->f, "  %s  %-19s  %-28s  %s\n", when, c->event, *c->client ? c->client : "-",
		*c->wording ? c->wording : "-");
	o->n++;
	return ferror(o->f) ? 1 : 0; /* stop: the caller sees the error */
}

static int delivery_line(void *ctx, const struct delivery_row *d)
{
	struct counted *o = ctx;
	char when[17];
	fmt_time_local(d->updated_at, when);
	fprintf(o->f, "  %s  %-8s  %3lld  %s  ", d->edition, d->state, d->attempts, when);
	put_line(o->f, *d->reply ? d->reply : "-", 100);
	fputc('\n', o->f);
	o->n++;
	return ferror(o->f) ? 1 : 0; /* stop: the caller sees the error */
}

int consent_show(struct store *st, const char *addr, FILE *f, char **err)
{
	struct subscriber sub = {0};
	struct sub_row row = {0};
	int found = store_subscriber_get(st, addr, &sub, err);
	if (found <= 0)
		return found;
	if (store_lifecycle_get(st, sub.id, NULL, &row, err) < 0) {
		subscriber_clear(&sub);
		return -1;
	}
	char since[17], created[17], t[17];
	fmt_time_local(sub.status_at, since);
	fmt_time_local(sub.created_at, created);
	fprintf(f, "%-14s%s\n", "address:", sub.email);
	fprintf(f, "%-14s%s\n", "name:", sub.name ? sub.name : "-");
	fprintf(f, "%-14s%s since %s\n", "status:", sub_status_name(sub.status), since);
	fprintf(f, "%-14s%s\n", "created:", created);
	if (row.confirm_due >= 0)
		fmt_time_local(row.confirm_due, t), fprintf(f, "%-14sowed since %s\n", "confirmation:", t);
	else if (row.confirm_sent_at >= 0)
		fmt_time_local(row.confirm_sent_at, t), fprintf(f, "%-14slast sent %s\n", "confirmation:", t);
	if (row.asked_at >= 0)
		fmt_time_local(row.asked_at, t), fprintf(f, "%-14s%s\n", "last asked:", t);
	fprintf(f, "%-14sscore %.1f", "bounces:", row.bounce_score);
	if (row.bounce_at >= 0)
		fmt_time_local(row.bounce_at, t), fprintf(f, ", last %s", t);
	fprintf(f, "; %d refused in a row\n", row.bounces);
	fprintf(f, "\nconsent (time, event, client, wording):\n");
	struct counted c = {.f = f};
	int rc = store_consents_each(st, sub.id, consent_line, &c, err);
	if (rc == 0 && !c.n)
		fprintf(f, "  (none recorded)\n");
	fprintf(f, "\ndeliveries (the latest %d: edition, state, attempts, when, last reply):\n",
		CONSENT_SHOW_DELIVERIES);
	c.n = 0;
	if (rc == 0)
		rc = store_deliveries_of(st, sub.id, CONSENT_SHOW_DELIVERIES, delivery_line, &c, err);
	if (rc == 0 && !c.n)
		fprintf(f, "  (none)\n");
	subscriber_clear(&sub);
	sub_row_clear(&row);
	if (rc > 0)
		return 1; /* a write error: the caller's ferror tells */
	return rc < 0 ? -1 : 1;
}
