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

/* What import_read is told of a file beyond its bytes. */
struct import_opts {
	const char *encoding; /* its charset, an iconv name ("windows-1251"); NULL: UTF-8 */
	char delimiter;       /* ',', ';' or '\t'; 0: found from the first line */
};

/* import_read's failures besides a callback's result. */
#define IMPORT_EREAD (-1) /* the file (or a temporary file) could not be read or written */
#define IMPORT_EDATA (-2) /* the file is not text in its encoding: nothing was handed on */

/*
 * import_read: read a subscriber list from F (named PATH in messages).
 *
 * The text is decoded first, whole, before any record is handed on (a
 * pipe is kept in a temporary file meanwhile): a byte order mark
 * (UTF-8, UTF-16LE, UTF-16BE) decides its encoding, else O->encoding
 * (converted with iconv), else it must be UTF-8. Text that is not valid
 * in its encoding is IMPORT_EDATA with *ERR "PATH:LINE: ..." naming the
 * first bad line (and, for UTF-8, suggesting --encoding): then the
 * callback is never called.
 *
 * When the first line that is not blank or a "#" comment is a CSV header
 * naming an address column (one of the aliases of import_column_role:
 * "email", "E-mail", "Email Address", "Адрес", ...; the name in one
 * column or as first and last name; a status), every line is a CSV record
 * (RFC 4180 quoting: doubled quotes, quoted line breaks; separated by ",",
 * ";" or a tab, whichever makes the header name the most columns, or
 * O->delimiter). A header without a status column but with one of the
 * columns that tell Mailchimp's per-status exports apart (UNSUB_TIME,
 * CLEAN_TIME) gives its rows that status.
 *
 * Otherwise each line is `Name <addr>`, `"Name" <addr>`, `<addr>`, a bare
 * address, or fields separated as a CSV record: address, name, status
 * (the separator found from the first such line whose first field is an
 * address, or O->delimiter).
 *
 * A status is ours (pending, active, unsubscribed, bouncing) or one of
 * listmonk's or Mailchimp's (import_status_parse). CB gets each valid
 * record (its strings live until CB returns); a CB result other than 0
 * stops the reading and is returned. Each bad line is reported on stderr
 * as "PATH:LINE: reason" and counted in *BAD (an unknown status, an
 * invalid address, ...); so is a line over 64 KiB ("PATH:LINE: line over
 * 64 KiB; skipped") and a quoted CSV field that runs over 64 KiB (a quote
 * never closed: the lines it took are skipped with it), and the reading
 * goes on. An address is valid when address_normalize takes it and
 * address_key can make its identity (an IDN domain must be a valid IDNA
 * name). O may be NULL (UTF-8, the separator found). Returns 0, the CB's
 * result, IMPORT_EDATA, or IMPORT_EREAD with *ERR when F cannot be read.
 */
int import_read(FILE *f, const char *path, const struct import_opts *o,
		int (*cb)(void *ctx, const struct sub_record *r), void *ctx, unsigned long *bad, char **err);

/* import_encoding_check: 0 when iconv can convert from NAME to UTF-8,
 * else -1 with *ERR ("unknown encoding \"NAME\""). */
int import_encoding_check(const char *name, char **err);

/* import_delimiter_parse: "," ";" "tab" (or a tab) as the separator in
 * *OUT; 0, or -1 for anything else. */
int import_delimiter_parse(const char *s, char *out);

/* import_status_parse: a status as an import file gives it, by a table
 * (case-insensitive): ours, listmonk's subscriber statuses (enabled,
 * disabled, blocklisted) and Mailchimp's (subscribed, unsubscribed,
 * cleaned, pending, nonsubscribed, transactional). 0 or -1. */
int import_status_parse(const char *s, enum sub_status *out);

/* The roles a column of an import file's header can have. */
enum import_role { IMPORT_COL_NONE = -1, IMPORT_COL_EMAIL, IMPORT_COL_NAME, IMPORT_COL_FIRST, IMPORT_COL_LAST,
		   IMPORT_COL_STATUS, IMPORT_COL_UNSUB_TIME, IMPORT_COL_CLEAN_TIME, IMPORT_COL_ROLES };

/* import_column_role: the role of the header cell S, by a table of
 * aliases compared case-insensitively (ASCII and Cyrillic), with spaces,
 * "-", "_" and "." ignored: "E-mail", "email_address" and "Email
 * Address" are one; IMPORT_COL_NONE for a column to ignore. */
enum import_role import_column_role(const char *s);

/* csv_field: write S as one CSV field (quoted when it holds a comma,
 * quote, CR or LF, or starts or ends with a space). */
void csv_field(FILE *f, const char *s);

#endif
