/* subscriber: e-mail addresses, subscriber states, and subscriber lists as
 * people write them (import files, CSV export). */
#ifndef DIGEST_SUBSCRIBER_H
#define DIGEST_SUBSCRIBER_H

#include <stdbool.h>
#include <stdio.h>

enum sub_status { SUB_PENDING, SUB_ACTIVE, SUB_UNSUBSCRIBED, SUB_BOUNCING };

/* sub_status_name: "pending", "active", "unsubscribed", "bouncing". */
const char *sub_status_name(enum sub_status s);
/* sub_status_parse: the reverse, case-insensitive; 0 or -1. */
int sub_status_parse(const char *s, enum sub_status *out);

#define ADDRESS_MAX 254
#define NAME_MAX_BYTES 200

/*
 * address_normalize: ADDR checked as an SMTP mailbox (RFC 5321): one "@"
 * (outside a quoted local part), local part 1..64 octets, total at most
 * 254, a domain of dot-separated labels (letters, digits, hyphens, not at
 * a label's ends; at least one dot; UTF-8 letters allowed) or a bracketed
 * address literal, no spaces outside quotes, no control characters.
 * Returns a malloc'd copy, trimmed of surrounding whitespace, with the
 * domain lower-cased; or NULL with *ERR a short reason ("no @", "local
 * part over 64 octets", ...).
 */
char *address_normalize(const char *addr, char **err);

/* name_clean: a display name as stored: whitespace collapsed, controls
 * dropped, cut (at a character boundary) to NAME_MAX_BYTES; malloc'd,
 * NULL when nothing is left. */
char *name_clean(const char *name);

struct sub_record {
	const char *email; /* normalized */
	const char *name;  /* cleaned, or NULL */
	bool has_status;   /* a status column gave one */
	enum sub_status status;
	int line;          /* where it came from */
};

/*
 * import_read: read a subscriber list from F (named PATH in messages).
 * When the first line that is not blank or a "#" comment is a CSV header
 * naming an "email" column (also "name", "status"; others ignored;
 * case-insensitive; RFC 4180 quoting, "," or ";" separated), every line
 * is a CSV record; otherwise each line is `Name <addr>`, `"Name" <addr>`,
 * `<addr>` or a bare address. CB gets each valid record (its strings live
 * until CB returns); a CB result other than 0 stops the reading and is
 * returned. Each bad line is reported on stderr as "PATH:LINE: reason"
 * and counted in *BAD; so is a line over 64 KiB ("PATH:LINE: line over 64
 * KiB; skipped") and a quoted CSV field that runs over 64 KiB (a quote
 * never closed: the lines it took are skipped with it), and the reading
 * goes on. An address is valid when address_normalize takes it and
 * address_key can make its identity (an IDN domain must be a valid IDNA
 * name). Returns 0, the CB's result, or -1 with *ERR when F cannot be read.
 */
int import_read(FILE *f, const char *path, int (*cb)(void *ctx, const struct sub_record *r), void *ctx,
		unsigned long *bad, char **err);

/* csv_field: write S as one CSV field (quoted when it holds a comma,
 * quote, CR or LF, or starts or ends with a space). */
void csv_field(FILE *f, const char *s);

#endif
