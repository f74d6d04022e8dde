/* optin: double opt-in's confirmation mails. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "digest/address.h"
#include "digest/deliver.h"
#include "digest/log.h"
#include "digest/util.h"
#include "digest/optin.h"

/* Claim S's mail in a transaction of its own: 1 claimed, 0 not due. */
static int claim(struct store *st, const struct subscriber *s, time_t now, char **err)
{
	if (store_begin(st, err) < 0)
		return -1;
	int c = store_optin_claim(st, s, (long long)now, err);
	if (c < 0 || store_commit(st, err) < 0) {
		store_rollback(st);
		return -1;
	}
	return c;
}

/* WHY (a server's reply may quote the recipient) with each of the N
 * spellings of the address in ADDRS (NULL ones skipped) as MASKED,
 * whatever its case; malloc'd. */
static char *scrub(const char *why, const char *const *addrs, size_t n, const char *masked)
{
	char *out = xstrdup(why ? why : "?");
	for (size_t i = 0; i < n; i++) {
		if (!addrs[i] || !*addrs[i])
			continue;
		size_t al = strlen(addrs[i]);
		char *hit;
		size_t from = 0;
		while ((hit = strcasestr(out + from, addrs[i])) != NULL) {
			size_t at = (size_t)(hit - out);
			char *next = xasprintf("%.*s%s%s", (int)at, out, masked, hit + al);
			free(out);
			out = next;
			from = at + strlen(masked);
		}
	}
	return out;
}

int optin_send_one(const struct config *cfg, struct store *st, struct render *r, const struct subscriber *s,
		   time_t now, struct optin_stats *stats, char **err)
{
	/* Named before the claim: whoever stops us meanwhile knows which
	 * mail may be left claimed and unsent. */
	__atomic_store_n(&stats->current, s->id, __ATOMIC_SEQ_CST);
	int c = claim(st, s, now, err);
	if (c <= 0) {
		__atomic_store_n(&stats->current, 0, __ATOMIC_SEQ_CST);
		return c;
	}
	/* No name: the address is not confirmed yet, and whoever filled in
	 * the form may not own it; the mail shows nothing they typed. */
	struct reader rd = {.email = s->email, .name = NULL, .nonce = s->nonce};
	struct buf msg = {0};
	char *why = NULL;
	int rc = render_confirm(r, &rd, now, &msg, &why);
	/* the envelope names an IDN domain in A-label form (SPEC "Addresses") */
	char *rcpt = NULL;
	if (!address_domain_ascii(s->email) && address_ascii_domain(s->email, &rcpt, NULL) < 0)
		rcpt = NULL;
	char from[RENDER_ADDR_MAX];
	render_confirm_from(r, &rd, from, sizeof from); /* a bounce of it names the pending row */
	if (rc == 0)
		rc = deliver_message(cfg, from, rcpt ? rcpt : s->email, msg.data, msg.len, &why);
	buf_free(&msg);
	__atomic_store_n(&stats->current, 0, __ATOMIC_SEQ_CST);
	/* the log names the reader masked, and so does what the server said */
	char masked[LOG_MASK_MAX];
	log_mask_address(s->email, masked, sizeof masked);
	const char *spellings[] = {s->email, rcpt};
	char *said = scrub(why, spellings, 2, masked);
	free(rcpt);
	if (rc == 0) {
		stats->sent++;
		log_event("confirmation sent to %s", masked);
	} else if (rc == 1) {
		stats->deferred++;
		log_warn("confirmation to %s deferred: %s; trying again in %d s", masked, said,
			 OPTIN_RETRY_SECONDS);
		if (store_begin(st, err) < 0 ||
		    store_optin_retry(st, s->id, (long long)now, (long long)now + OPTIN_RETRY_SECONDS, err) < 0 ||
		    store_commit(st, err) < 0) {
			store_rollback(st);
			free(why);
			free(said);
			return -1;
		}
	} else {
		stats->failed++;
		log_warn("confirmation to %s failed: %s", masked, said);
	}
	free(said);
	free(why);
	return 0;
}

int optin_send_due(const struct config *cfg, struct store *st, struct render *r, time_t now,
		   struct optin_stats *stats, const bool *stop, char **err)
{
	stats->sent = stats->deferred = stats->failed = 0;
	enum { BATCH = 16 };
	struct subscriber due[BATCH];
	for (;;) {
		int n = 0;
		if (store_optin_due(st, (long long)now, BATCH, due, &n, err) < 0)
			return -1;
		int rc = 0;
		bool stopped = false;
		for (int i = 0; i < n; i++) {
			stopped = stopped || (stop && __atomic_load_n(stop, __ATOMIC_SEQ_CST));
			if (rc == 0 && !stopped)
				rc = optin_send_one(cfg, st, r, &due[i], now, stats, err);
			subscriber_clear(&due[i]);
		}
		if (rc < 0)
			return -1;
		if (stopped)
			return 0;
		/* Every row seen was claimed or deferred to later, so the next
		 * query moves on. */
		if (n < BATCH)
			return 0;
	}
}
