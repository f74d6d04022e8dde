/* libFuzzer target: any sequence of lifecycle events (and confirmation
 * mails going out, as store_optin_claim records them) through
 * subscription_decide, the state table, with the invariants the SPEC
 * asks of it checked after every step: nobody who left comes back
 * without a confirmation mailed since or an operator's resubscribe, only
 * an active reader starts bouncing from a bounce, no active reader is
 * owed a confirmation mail, scores stay within their steps, a mailbox
 * erased on request is touched by no import, and the result says what the
 * row is. */
#define _GNU_SOURCE
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "digest/subscription.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool is_resubscribe(enum sub_event ev, enum sub_status to)
{
	return ev == (enum sub_event)(SUB_EV_RESUBSCRIBE + to);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sub_row row;
	bool exists = false;
	long long now = 1700000000;
	memset(&row, 0, sizeof row);
	for (size_t i = 0; i + 3 <= size; i += 3) {
		now += (long long)data[i + 1] * (data[i + 2] & 0x80 ? 86400 : 60);
		if (data[i] == 0xff) { /* the confirmation mail owed goes out */
			if (exists && row.confirm_due >= 0) {
				row.confirm_due = -1;
				row.confirm_sent_at = now;
			}
			continue;
		}
		struct sub_args a = {.ev = (enum sub_event)(data[i] % SUB_EV_COUNT),
				     .email = "reader@example.org",
				     .name = data[i + 2] & 1 ? "Reader" : NULL,
				     .now = now,
				     .resend = data[i + 2] & 2 ? 3600 : 0,
				     .max_bounces = data[i + 2] & 0x0c,
				     .erased = (data[i + 2] & 0x30) == 0x30};
		struct sub_row after;
		struct sub_result res;
		subscription_decide(exists ? &row : NULL, &a, 3.0, 14, &after, &res);
		assert(res.outcome < SUB_OUTCOME_COUNT);
		/* a mailbox erased on request: no import nor resubscribe
		 * touches it, in any status; nothing else says erased */
		bool importing = a.ev >= SUB_EV_IMPORT && a.ev <= SUB_EV_RESUBSCRIBE_LAST;
		assert((res.outcome == SUB_ERASED) == (a.erased && importing));
		if (res.outcome == SUB_ERASED) {
			assert(!exists || (after.status == row.status && after.status_at == row.status_at &&
					   (after.name == row.name || (after.name && row.name && !strcmp(after.name, row.name)))));
			sub_row_clear(&after);
			continue;
		}
		if (!exists) {
			assert(res.outcome == SUB_ADDED || res.outcome == SUB_NONE);
			if (res.outcome == SUB_NONE) {
				sub_row_clear(&after);
				continue;
			}
			assert(a.ev == SUB_EV_REQUEST || (a.ev >= SUB_EV_IMPORT && a.ev <= SUB_EV_RESUBSCRIBE_LAST));
			exists = true;
			row = after;
			assert(res.to == row.status);
			continue;
		}
		enum sub_status from = row.status, to = after.status;
		assert(res.from == from && res.to == to);
		if (to != from) {
			assert(res.outcome == SUB_UPDATED);
			assert(after.status_at == now);
		}
		/* leaving is for good, but for a confirmation mailed since or an operator */
		if (from == SUB_UNSUBSCRIBED && to != from)
			assert((a.ev == SUB_EV_CONFIRM && row.confirm_sent_at >= row.status_at) ||
			       is_resubscribe(a.ev, to));
		/* bouncing: an active reader's bounces, or an operator's word */
		if (to == SUB_BOUNCING && from != SUB_BOUNCING)
			assert((from == SUB_ACTIVE && (a.ev == SUB_EV_BOUNCE_HARD || a.ev == SUB_EV_BOUNCE_SOFT ||
						       a.ev == SUB_EV_REFUSED)) ||
			       a.ev == SUB_EV_IMPORT + SUB_BOUNCING || is_resubscribe(a.ev, SUB_BOUNCING));
		/* an active reader is never owed a confirmation mail */
		assert(to != SUB_ACTIVE || after.confirm_due < 0);
		/* a score moves by one step at most, never below 0 */
		assert(after.bounce_score >= 0 && after.bounce_score <= row.bounce_score + 1.0);
		if (a.ev != SUB_EV_BOUNCE_HARD && a.ev != SUB_EV_BOUNCE_SOFT && a.ev != SUB_EV_REFUSED)
			assert(after.bounce_score <= row.bounce_score);
		/* a request never renames; the nonce keeps its shape */
		if (a.ev == SUB_EV_REQUEST)
			assert(after.name == row.name || (after.name && row.name && !strcmp(after.name, row.name)));
		assert(strlen(after.nonce) == 32);
		sub_row_clear(&row);
		row = after;
	}
	if (exists)
		sub_row_clear(&row);
	return 0;
}
