/* subscriber: address checking, subscriber states, and import/export of subscriber lists. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <iconv.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest/address.h"
#include "digest/log.h"
#include "digest/subscriber.h"
#include "digest/util.h"

#define LOCAL_MAX 64
#define LABEL_MAX 63
/* Longest line (or CSV record) import_read accepts: no subscriber list
 * needs more, and the cap bounds what a hostile file can make us hold. */
#define LINE_MAX_BYTES (64 * 1024)
/* How much of a bad value a diagnostic quotes. */
#define SHOWN_MAX 60

/* ------------------------------------------------------------------ */
/* Statuses                                                            */

static const char *const status_names[] = {
	[SUB_PENDING] = "pending",
	[SUB_ACTIVE] = "active",
	[SUB_UNSUBSCRIBED] = "unsubscribed",
	[SUB_BOUNCING] = "bouncing",
};

const char *sub_status_name(enum sub_status s)
{
	if ((unsigned)s >= ARRAY_LEN(status_names))
		return "unknown";
	return status_names[s];
}

int sub_status_parse(const char *s, enum sub_status *out)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(status_names); i++)
		if (strcasecmp(s, status_names[i]) == 0) {
			*out = (enum sub_status)i;
			return 0;
		}
	return -1;
}

/*
 * The statuses of other mailers' exports, as ours. listmonk's CSV export
 * (knadh/listmonk cmd/subscribers.go: columns uuid, email, name,
 * attributes, status, created_at, updated_at) gives the subscriber
 * status of models/models.go: enabled, disabled (kept by an operator
 * from every mailing) or blocklisted (unsubscribed, or bounced past
 * listmonk's threshold: it tells no more). Mailchimp's API names a
 * member subscribed, unsubscribed, cleaned (hard bounces), pending
 * (double opt-in unconfirmed) or transactional (its exports say
 * "nonsubscribed": never opted in to the list). Whoever must not be sent
 * to maps onto a status that is never sent to; who never confirmed
 * onto pending, which an import never makes anyone receive.
 */
static const struct {
	const char *name;
	enum sub_status status;
} import_statuses[] = {
	{"pending", SUB_PENDING},          {"active", SUB_ACTIVE},
	{"unsubscribed", SUB_UNSUBSCRIBED}, {"bouncing", SUB_BOUNCING},
	/* listmonk */
	{"enabled", SUB_ACTIVE},           {"disabled", SUB_UNSUBSCRIBED},
	{"blocklisted", SUB_UNSUBSCRIBED},
	/* Mailchimp ("unsubscribed" and "pending" as ours) */
	{"subscribed", SUB_ACTIVE},        {"cleaned", SUB_BOUNCING},
	{"nonsubscribed", SUB_PENDING},    {"transactional", SUB_PENDING},
};

int import_status_parse(const char *s, enum sub_status *out)
{
	if (!s)
		return -1;
	for (size_t i = 0; i < ARRAY_LEN(import_statuses); i++)
		if (strcasecmp(s, import_statuses[i].name) == 0) {
			*out = import_statuses[i].status;
			return 0;
		}
	return -1;
}

/* ------------------------------------------------------------------ */
/* UTF-8                                                               */

/*
 * Length of the well-formed UTF-8 sequence at S with its code point in
 * *CP, or 0 when it is malformed (overlong, surrogate, past U+10FFFF,
 * truncated). A NUL is never a continuation byte, so this cannot read past
 * the end of a string.
 */
static size_t u8_next(const unsigned char *s, uint32_t *cp)
{
	size_t n;
	unsigned long v = utf8_decode(s, &n);
	*cp = (uint32_t)v;
	return v == 0xFFFD && n == 1 ? 0 : n; /* a real U+FFFD is three octets long */
}

/* Whitespace, ASCII and Unicode: what a copy from a web page or a
 * spreadsheet leaves around an address. */
static int is_space_cp(uint32_t cp)
{
	return cp == ' ' || (cp >= '\t' && cp <= '\r') || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200B) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
	       cp == 0x3000 || cp == 0xFEFF;
}

/* Controls, and the invisible direction marks and overrides that would
 * make an address read differently from what it is. */
static int is_control_cp(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x200E || cp == 0x200F ||
	       (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069);
}

/*
 * A malloc'd copy of S fit to be stored or shown: malformed UTF-8 becomes
 * U+FFFD (a list saved in windows-1251 must not put invalid text in the
 * database or in mail headers), whitespace is collapsed and controls
 * dropped by str_collapse_ws, and the result is cut at a character
 * boundary to MAX bytes.
 */
static char *clean_text(const char *s, size_t max)
{
	struct buf b = {0};
	const unsigned char *p = (const unsigned char *)s;

	buf_add(&b, "", 0);
	while (*p) {
		uint32_t cp;
		size_t n = u8_next(p, &cp);
		if (n) {
			buf_add(&b, p, n);
			p += n;
		} else {
			buf_add(&b, "\xEF\xBF\xBD", 3);
			p++;
		}
	}
	str_collapse_ws(b.data);
	size_t len = strlen(b.data);
	if (len > max) {
		len = max;
		while (len > 0 && ((unsigned char)b.data[len] & 0xC0) == 0x80)
			len--;
		/* the cut may leave the space before a word at the end */
		while (len > 0 && b.data[len - 1] == ' ')
			len--;
		b.data[len] = '\0';
	}
	return b.data;
}

char *name_clean(const char *name)
{
	if (!name)
		return NULL;
	char *s = clean_text(name, NAME_MAX_BYTES);
	if (!*s) {
		free(s);
		return NULL;
	}
	return s;
}

/* ------------------------------------------------------------------ */
/* Addresses                                                           */

static int is_alnum(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* RFC 5322 atext, ASCII part. */
static int is_atext(unsigned char c)
{
	return is_alnum(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

/* Byte offsets [*START, *END) of S without surrounding whitespace. Bytes
 * that are not well-formed UTF-8 count as text, to be rejected later. */
static void trim_span(const char *s, size_t *start, size_t *end)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t cp;

	while (p[i] && (n = u8_next(p + i, &cp)) && is_space_cp(cp))
		i += n;
	*start = *end = i;
	while (p[i]) {
		n = u8_next(p + i, &cp);
		if (!n)
			n = 1;
		else if (is_space_cp(cp)) {
			i += n;
			continue;
		}
		i += n;
		*end = i;
	}
}

/* The quoted local part at S (S[0] is '"'): its length including the
 * quotes, or 0 with *WHY. */
static size_t quoted_local(const unsigned char *s, const char **why)
{
	size_t i = 1;
	for (;;) {
		if (!s[i]) {
			*why = "unterminated quote";
			return 0;
		}
		if (s[i] == '"')
			return i + 1;
		if (s[i] == '\\') {
			/* RFC 5321 quoted-pairSMTP: a backslash and printable ASCII */
			if (s[i + 1] < 0x20 || s[i + 1] > 0x7E) {
				*why = "bad backslash in quoted local part";
				return 0;
			}
			i += 2;
			continue;
		}
		i++; /* controls were refused before; UTF-8 is allowed (RFC 6531) */
	}
}

/* Checks the dot-atom local part at S up to the "@" (or the end): its
 * length, or 0 with *WHY (in BUF when it names a character). */
static size_t atom_local(const unsigned char *s, const char **why, char *buf, size_t bufsz)
{
	size_t i = 0;
	while (s[i] && s[i] != '@') {
		uint32_t cp;
		size_t n = u8_next(s + i, &cp);
		if (cp == '.') {
			if (i == 0 || s[i + 1] == '@' || !s[i + 1]) {
				*why = "dot at the start or end of the local part";
				return 0;
			}
			if (s[i + 1] == '.') {
				*why = "two dots in the local part";
				return 0;
			}
		} else if (is_space_cp(cp)) {
			*why = "space outside quotes";
			return 0;
		} else if (cp < 0x80 && !is_atext((unsigned char)cp)) {
			snprintf(buf, bufsz, "bad character '%c' in the local part", (char)cp);
			*why = buf;
			return 0;
		}
		i += n;
	}
	return i;
}

/* Checks the bracketed literal DOM ("[1.2.3.4]", "[IPv6:...]") and
 * rewrites its tag as "IPv6:". NULL or the reason. */
static const char *check_literal(char *dom)
{
	size_t len = strlen(dom);
	char ip[ADDRESS_MAX + 1];
	unsigned char bin[16];

	if (len < 2 || dom[len - 1] != ']')
		return "unterminated address literal";
	len -= 2;
	memcpy(ip, dom + 1, len); /* len < ADDRESS_MAX: the address was checked first */
	ip[len] = '\0';
	if (strncasecmp(ip, "IPv6:", 5) == 0) {
		if (inet_pton(AF_INET6, ip + 5, bin) != 1)
			return "bad IPv6 address literal";
		memcpy(dom + 1, "IPv6:", 5);
		for (char *p = dom + 6; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p + 32);
		return NULL;
	}
	if (strchr(ip, ':'))
		return "unknown address literal";
	if (inet_pton(AF_INET, ip, bin) != 1)
		return "bad IPv4 address literal";
	return NULL;
}

/* Checks the domain DOM and lower-cases its ASCII letters: NULL or the
 * reason (in BUF when it names a character). */
static const char *check_domain(char *dom, char *buf, size_t bufsz)
{
	unsigned char *p = (unsigned char *)dom;
	size_t labels = 0;
	int numeric = 0;

	if (!*p)
		return "empty domain";
	if (*p == '[')
		return check_literal(dom);
	if (*p == '.')
		return "domain starts with a dot";
	for (;;) {
		unsigned char *start = p;
		numeric = 1;
		while (*p && *p != '.') {
			uint32_t cp;
			size_t n = u8_next(p, &cp);
			if (cp == '@')
				return "more than one @";
			if (is_space_cp(cp))
				return "space outside quotes";
			if (cp < 0x80 && !is_alnum((unsigned char)cp) && cp != '-') {
				snprintf(buf, bufsz, "bad character '%c' in the domain", (char)cp);
				return buf;
			}
			if (cp >= 'A' && cp <= 'Z')
				*p = (unsigned char)(cp + 32);
			if (!(cp >= '0' && cp <= '9'))
				numeric = 0;
			p += n;
		}
		size_t len = (size_t)(p - start);
		if (len == 0)
			return *p ? "two dots in the domain" : "domain ends with a dot";
		if (len > LABEL_MAX)
			return "domain label over 63 octets";
		if (start[0] == '-' || p[-1] == '-')
			return "hyphen at the start or end of a domain label";
		labels++;
		if (!*p)
			break;
		p++;
		if (!*p)
			return "domain ends with a dot";
	}
	if (labels < 2)
		return "domain has no dot";
	/* RFC 3696: top-level domains are never all-numeric, and "1.2.3.4"
	 * without brackets is a mistyped literal rather than a name */
	if (numeric)
		return "numeric top-level domain";
	return NULL;
}

char *address_normalize(const char *addr, char **err)
{
	char why_buf[64];
	const char *why = NULL;
	size_t start, end;

	if (!addr) {
		errf(err, "empty address");
		return NULL;
	}
	trim_span(addr, &start, &end);
	if (start == end) {
		errf(err, "empty address");
		return NULL;
	}
	if (end - start > ADDRESS_MAX) {
		errf(err, "address over %d octets", ADDRESS_MAX);
		return NULL;
	}
	char *s = xstrndup(addr + start, end - start);
	const unsigned char *u = (const unsigned char *)s;

	/* one pass for what is wrong anywhere, quoted or not */
	for (size_t i = 0; u[i];) {
		uint32_t cp;
		size_t n = u8_next(u + i, &cp);
		if (!n) {
			why = "invalid UTF-8";
			goto fail;
		}
		if (cp == '\r' || cp == '\n') {
			why = "line break in the address";
			goto fail;
		}
		if (is_control_cp(cp)) {
			why = "control character";
			goto fail;
		}
		i += n;
	}

	size_t local = u[0] == '"' ? quoted_local(u, &why) : atom_local(u, &why, why_buf, sizeof why_buf);
	if (why)
		goto fail;
	if (u[local] != '@') {
		why = u[local] ? "text after the quoted local part" : "no @";
		goto fail;
	}
	if (local == 0 || (u[0] == '"' && local == 2)) {
		why = "empty local part";
		goto fail;
	}
	if (local > LOCAL_MAX) {
		why = "local part over 64 octets";
		goto fail;
	}
	why = check_domain(s + local + 1, why_buf, sizeof why_buf);
	if (why)
		goto fail;
	return s;
fail:
	errf(err, "%s", why);
	free(s);
	return NULL;
}

/* ------------------------------------------------------------------ */
/* Reading lines                                                       */

#define BLOCK 65536

struct reader {
	FILE *f;
	char *blk;
	size_t pos, len;
	int eof;
};

/*
 * The next line of R in LINE (without its LF, nor the CR of a CRLF): 1, 0
 * at the end, -1 on a read error, -2 when it is over LINE_MAX_BYTES (then
 * the rest of it is read past without being kept, so that the next call
 * returns the next line).
 */
static int read_line(struct reader *r, struct buf *line)
{
	int got = 0;
	bool over = false;

	line->len = 0;
	buf_add(line, "", 0);
	for (;;) {
		if (r->pos == r->len) {
			if (r->eof)
				break;
			r->pos = 0;
			r->len = fread(r->blk, 1, BLOCK, r->f);
			if (r->len == 0) {
				if (ferror(r->f))
					return -1;
				r->eof = 1;
				break;
			}
		}
		got = 1;
		char *p = r->blk + r->pos;
		size_t avail = r->len - r->pos;
		char *nl = memchr(p, '\n', avail);
		size_t n = nl ? (size_t)(nl - p) : avail;
		if (over || line->len + n > LINE_MAX_BYTES + 1) { /* + 1: a CR to strip */
			over = true;
			line->len = 0;
			line->data[0] = '\0';
		} else {
			buf_add(line, p, n);
		}
		r->pos += n + (nl != NULL);
		if (nl)
			break;
	}
	if (!got)
		return 0;
	if (over)
		return -2;
	if (line->len && line->data[line->len - 1] == '\r')
		line->data[--line->len] = '\0';
	return line->len > LINE_MAX_BYTES ? -2 : 1;
}

static int is_blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!(s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')))
			return 0;
	return 1;
}

/* A line to skip: blank, or a "#" comment. */
static int is_skipped(const char *s, size_t n)
{
	size_t i = 0;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return i == n || s[i] == '#' || is_blank(s + i, n - i);
}

/* S trimmed of ASCII whitespace, in place. */
static char *trim(char *s)
{
	while (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || (s[n - 1] >= '\t' && s[n - 1] <= '\r')))
		n--;
	s[n] = '\0';
	return s;
}

/* ------------------------------------------------------------------ */
/* CSV records (RFC 4180)                                              */

enum csv_state { CSV_FIELD, CSV_QUOTED, CSV_AFTER_QUOTE };

/* One record being parsed; its fields are NUL-terminated in DATA at OFF[i].
 * Fed line by line, so that a quoted field spanning lines costs no more
 * than its length. */
struct csv {
	char sep;
	struct buf data;
	size_t *off;
	size_t nf, cap;
	enum csv_state st;
	int only_space; /* the unquoted field so far is blank: a quote may still open it */
	int stray;      /* text after a closing quote */
};

static void csv_start_field(struct csv *c)
{
	if (c->nf == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 8;
		c->off = xrealloc(c->off, c->cap * sizeof *c->off);
	}
	c->off[c->nf++] = c->data.len;
	c->st = CSV_FIELD;
	c->only_space = 1;
}

static void csv_end_field(struct csv *c) { buf_add(&c->data, "", 1); }

static void csv_begin(struct csv *c)
{
	c->data.len = 0;
	c->nf = 0;
	c->stray = 0;
	csv_start_field(c);
}

/* Feeds one line (without its line end) to C: 1 when the record is
 * complete, 0 when a quoted field goes on to the next line. */
static int csv_feed(struct csv *c, const char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		char ch = s[i];
		switch (c->st) {
		case CSV_FIELD: {
			/* copy the run up to the next separator or quote at once */
			size_t j = i;
			while (j < n && s[j] != c->sep && s[j] != '"') {
				if (s[j] != ' ' && s[j] != '\t')
					c->only_space = 0;
				j++;
			}
			buf_add(&c->data, s + i, j - i);
			i = j;
			if (i == n)
				break;
			if (s[i] == c->sep) {
				csv_end_field(c);
				csv_start_field(c);
			} else if (c->only_space) {
				/* spaces before an opening quote are layout, not data */
				c->data.len = c->off[c->nf - 1];
				c->st = CSV_QUOTED;
			} else {
				/* a quote inside an unquoted field: kept, as spreadsheets do */
				buf_add(&c->data, "\"", 1);
			}
			i++;
			break;
		}
		case CSV_QUOTED: {
			const char *q = memchr(s + i, '"', n - i);
			size_t j = q ? (size_t)(q - s) : n;
			buf_add(&c->data, s + i, j - i);
			i = j;
			if (i == n)
				break;
			if (i + 1 < n && s[i + 1] == '"') {
				buf_add(&c->data, "\"", 1);
				i += 2;
			} else {
				c->st = CSV_AFTER_QUOTE;
				i++;
			}
			break;
		}
		case CSV_AFTER_QUOTE:
			if (ch == c->sep) {
				csv_end_field(c);
				csv_start_field(c);
			} else if (ch != ' ' && ch != '\t') {
				c->stray = 1;
				c->st = CSV_FIELD;
				c->only_space = 0;
				buf_add(&c->data, &ch, 1);
			}
			i++;
			break;
		}
	}
	if (c->st == CSV_QUOTED) {
		buf_add(&c->data, "\n", 1);
		return 0;
	}
	csv_end_field(c);
	return 1;
}

static char *csv_get(const struct csv *c, long col)
{
	if (col < 0 || (size_t)col >= c->nf)
		return NULL;
	return c->data.data + c->off[col];
}

static void csv_free(struct csv *c)
{
	buf_free(&c->data);
	free(c->off);
}

/* ------------------------------------------------------------------ */
/* Headers                                                             */

/*
 * What header cells are taken for. Spellings are compared by their
 * header_key: "E-mail", "e_mail" and "EMAIL" are one entry, "Email
 * Address" (Mailchimp) and "email_address" another. Mailchimp's audience
 * export is a file per status ("Email Address","First Name","Last
 * Name",...,MEMBER_RATING,OPTIN_TIME,...,LEID,EUID,NOTES), none with a
 * status column: its unsubscribed file alone has UNSUB_TIME (and
 * UNSUB_CAMPAIGN_TITLE, UNSUB_REASON ...), its cleaned file CLEAN_TIME
 * (CLEAN_CAMPAIGN_TITLE ...), and those columns tell the status.
 */
static const struct {
	const char *alias;
	enum import_role role;
} header_aliases[] = {
	{"email", IMPORT_COL_EMAIL},
	{"email address", IMPORT_COL_EMAIL},
	{"address", IMPORT_COL_EMAIL},
	{"mail", IMPORT_COL_EMAIL},
	{"адрес", IMPORT_COL_EMAIL},
	{"адрес электронной почты", IMPORT_COL_EMAIL},
	{"электронная почта", IMPORT_COL_EMAIL},
	{"почта", IMPORT_COL_EMAIL},
	{"e-mail адрес", IMPORT_COL_EMAIL},
	{"адрес e-mail", IMPORT_COL_EMAIL},
	{"name", IMPORT_COL_NAME},
	{"full name", IMPORT_COL_NAME},
	{"фио", IMPORT_COL_NAME},
	{"first name", IMPORT_COL_FIRST},
	{"имя", IMPORT_COL_FIRST},
	{"last name", IMPORT_COL_LAST},
	{"фамилия", IMPORT_COL_LAST},
	{"status", IMPORT_COL_STATUS},
	{"subscription status", IMPORT_COL_STATUS},
	{"статус", IMPORT_COL_STATUS},
	{"unsub_time", IMPORT_COL_UNSUB_TIME},
	{"clean_time", IMPORT_COL_CLEAN_TIME},
};

/* Longest header cell compared; a longer one is no alias. */
#define HEADER_KEY_MAX 64

/* S as compared: ASCII and Cyrillic letters lower-cased (Ё as Е),
 * spaces (Unicode ones too), "-", "_" and "." left out; 0, or -1 when it
 * does not fit in KEY or is not UTF-8. */
static int header_key(const char *s, char key[HEADER_KEY_MAX + 1])
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k = 0;
	while (*p) {
		uint32_t cp;
		size_t n = u8_next(p, &cp);
		if (!n)
			return -1;
		p += n;
		if (is_space_cp(cp) || cp == '-' || cp == '_' || cp == '.')
			continue;
		if (cp >= 'A' && cp <= 'Z')
			cp += 32;
		else if (cp >= 0x410 && cp <= 0x42F) /* А..Я */
			cp += 32;
		if (cp == 0x401 || cp == 0x451) /* Ё, ё */
			cp = 0x435;
		char enc[4];
		size_t m = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
		if (m == 1) {
			enc[0] = (char)cp;
		} else if (m == 2) {
			enc[0] = (char)(0xC0 | cp >> 6);
			enc[1] = (char)(0x80 | (cp & 0x3F));
		} else {
			/* only the two-octet letters above are changed: copy */
			memcpy(enc, p - n, n);
			m = n;
		}
		if (k + m > HEADER_KEY_MAX)
			return -1;
		memcpy(key + k, enc, m);
		k += m;
	}
	key[k] = '\0';
	return 0;
}

enum import_role import_column_role(const char *s)
{
	char key[HEADER_KEY_MAX + 1], alias[HEADER_KEY_MAX + 1];
	if (!s || header_key(s, key) < 0 || !*key)
		return IMPORT_COL_NONE;
	for (size_t i = 0; i < ARRAY_LEN(header_aliases); i++)
		if (header_key(header_aliases[i].alias, alias) == 0 && strcmp(key, alias) == 0)
			return header_aliases[i].role;
	return IMPORT_COL_NONE;
}

/* The columns of a CSV header, by role; -1 when absent. */
struct columns {
	long col[IMPORT_COL_ROLES];
	size_t n;     /* columns in the header */
	int implied;  /* the status its rows have without a status cell, or -1 */
};

/* Whether the line S, split by SEP, is a header naming an address column:
 * its columns in *COLS. */
static int header_columns(struct csv *c, char sep, const char *s, size_t n, struct columns *cols)
{
	c->sep = sep;
	csv_begin(c);
	if (!csv_feed(c, s, n) || c->stray)
		return 0;
	for (size_t r = 0; r < IMPORT_COL_ROLES; r++)
		cols->col[r] = -1;
	cols->n = c->nf;
	cols->implied = -1;
	for (size_t i = 0; i < c->nf; i++) {
		enum import_role role = import_column_role(trim(c->data.data + c->off[i]));
		if (role != IMPORT_COL_NONE && cols->col[role] < 0) /* the first of two same-named columns */
			cols->col[role] = (long)i;
	}
	if (cols->col[IMPORT_COL_UNSUB_TIME] >= 0)
		cols->implied = SUB_UNSUBSCRIBED;
	else if (cols->col[IMPORT_COL_CLEAN_TIME] >= 0)
		cols->implied = SUB_BOUNCING;
	return cols->col[IMPORT_COL_EMAIL] >= 0;
}

/* The separators tried when none is given, in the order that breaks ties. */
static const char separators[] = {',', ';', '\t'};

/* Whether the line S is a header: with separator SEP (0: the one of
 * SEPARATORS that makes it name the most columns), its columns in *COLS
 * and its separator in C->sep. */
static int find_header(struct csv *c, char sep, const char *s, size_t n, struct columns *cols)
{
	struct columns best = {.n = 0}, got;
	char best_sep = 0;
	for (size_t i = 0; i < ARRAY_LEN(separators); i++) {
		char try = sep ? sep : separators[i];
		if (header_columns(c, try, s, n, &got) && got.n > best.n) {
			best = got;
			best_sep = try;
		}
		if (sep)
			break;
	}
	if (!best_sep)
		return 0;
	*cols = best;
	c->sep = best_sep;
	return 1;
}

/* ------------------------------------------------------------------ */
/* import_read                                                         */

struct importer {
	const char *path;
	int (*cb)(void *ctx, const struct sub_record *r);
	void *ctx;
	unsigned long bad;
};

__attribute__((format(printf, 3, 4))) static void bad_line(struct importer *im, int line, const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	log_error("%s:%d: %s", im->path, line, msg);
	im->bad++;
}

/* A bad value as a diagnostic may quote it: it came from the file, so it
 * must not drive the terminal, nor fill it. */
static char *shown(const char *s)
{
	char *t = clean_text(s, SHOWN_MAX);
	if (strlen(s) > SHOWN_MAX) {
		char *u = xasprintf("%s...", t);
		free(t);
		return u;
	}
	return t;
}

/* Checks one record's parts and hands it to the callback: its result, or
 * 0 after a bad line. STATUS empty or NULL: DEF (a status, or -1: none). */
static int deliver(struct importer *im, int line, const char *email, const char *name, const char *status, int def)
{
	struct sub_record r = {.line = line};
	char *why = NULL, *addr, *nm;
	int rc;

	if (!email || is_blank(email, strlen(email))) {
		bad_line(im, line, "no address");
		return 0;
	}
	addr = address_accept(email, NULL, &why);
	if (!addr) {
		char *v = shown(email);
		bad_line(im, line, "invalid address \"%s\": %s", v, why);
		free(v);
		free(why);
		return 0;
	}
	if (status && *status) {
		if (import_status_parse(status, &r.status) < 0) {
			char *v = shown(status);
			bad_line(im, line, "unknown status \"%s\" (pending, active, unsubscribed or bouncing)", v);
			free(v);
			free(addr);
			return 0;
		}
		r.has_status = true;
	} else if (def >= 0) {
		r.status = (enum sub_status)def;
		r.has_status = true;
	}
	nm = name_clean(name);
	r.email = addr;
	r.name = nm;
	rc = im->cb(im->ctx, &r);
	free(addr);
	free(nm);
	return rc;
}

/* Copies the quoted name S[1..len-1) without its backslash escapes. */
static void unquote(char *dst, const char *s, size_t len)
{
	for (size_t i = 1; i + 1 < len; i++) {
		if (s[i] == '\\' && i + 2 < len)
			i++;
		*dst++ = s[i];
	}
	*dst = '\0';
}

/* One line of a list in the mail form: `Name <addr>`, `"Name" <addr>`,
 * `<addr>` or `addr`. S is modified. */
static int mail_line(struct importer *im, int line, char *s)
{
	char *name = NULL, *addr;
	s = trim(s);
	if (s[0] == '"') {
		size_t i = 1;
		while (s[i] && s[i] != '"')
			i += (s[i] == '\\' && s[i + 1]) ? 2 : 1;
		if (!s[i]) {
			bad_line(im, line, "unterminated quote");
			return 0;
		}
		if (s[i + 1] == '@') /* a bare address with a quoted local part */
			return deliver(im, line, s, NULL, NULL, -1);
		char *rest = s + i + 1;
		while (*rest == ' ' || *rest == '\t')
			rest++;
		if (*rest != '<') {
			bad_line(im, line, "expected <address> after the quoted name");
			return 0;
		}
		unquote(s, s, i + 1); /* shrinks: fits in place */
		name = s;
		addr = rest + 1;
	} else {
		char *lt = strchr(s, '<');
		if (!lt)
			return deliver(im, line, s, NULL, NULL, -1);
		*lt = '\0';
		name = s;
		addr = lt + 1;
	}
	size_t n = strlen(addr);
	if (!n || addr[n - 1] != '>') {
		bad_line(im, line, strchr(addr, '>') ? "text after >" : "missing >");
		return 0;
	}
	addr[n - 1] = '\0';
	return deliver(im, line, trim(addr), name, NULL, -1);
}

/* Whether every field of C is blank: the ",," rows spreadsheets leave
 * below a table. */
static int csv_empty(const struct csv *c)
{
	for (size_t i = 0; i < c->nf; i++)
		if (!is_blank(c->data.data + c->off[i], strlen(c->data.data + c->off[i])))
			return 0;
	return 1;
}

/* One CSV record under a header: its result for the import. The name is
 * the name column's, else the first and the last name's joined. */
static int csv_record(struct importer *im, int line, const struct csv *c, const struct columns *cols)
{
	if (csv_empty(c))
		return 0;
	if (c->stray) {
		bad_line(im, line, "text after a closing quote");
		return 0;
	}
	char *status = csv_get(c, cols->col[IMPORT_COL_STATUS]);
	const char *name = csv_get(c, cols->col[IMPORT_COL_NAME]);
	char *joined = NULL;
	if (!name || is_blank(name, strlen(name))) {
		const char *first = csv_get(c, cols->col[IMPORT_COL_FIRST]);
		const char *last = csv_get(c, cols->col[IMPORT_COL_LAST]);
		if (first || last)
			name = joined = xasprintf("%s %s", first ? first : "", last ? last : "");
	}
	int rc = deliver(im, line, csv_get(c, cols->col[IMPORT_COL_EMAIL]), name, status ? trim(status) : NULL,
			 cols->implied);
	free(joined);
	return rc;
}

/* Columns of a list without a header: address, name, status (the order
 * of `subscribers export`). */
#define LIST_COLUMNS 3

/* Whether S, trimmed, is one address. */
static bool is_address(const char *s)
{
	char *a = address_normalize(s, NULL);
	free(a);
	return a != NULL;
}

/* The separator that makes the list line S a record whose first field is
 * an address: SEP when given, else the first of SEPARATORS that does; 0
 * when none does. */
static char list_separator(struct csv *c, char sep, const char *s, size_t n)
{
	for (size_t i = 0; i < ARRAY_LEN(separators); i++) {
		c->sep = sep ? sep : separators[i];
		if (memchr(s, c->sep, n)) {
			csv_begin(c);
			if (csv_feed(c, s, n) && c->nf >= 2 && is_address(c->data.data + c->off[0]))
				return c->sep;
		}
		if (sep)
			break;
	}
	return 0;
}

/* One line of a list without a header: the mail form (`Name <addr>`, a
 * bare address), or, once a line has shown the separator (*SEP), a CSV
 * record of address, name and status on that line. S is modified. */
static int list_line(struct importer *im, int line, char *s, size_t n, struct csv *c, char *sep, char given)
{
	if (memchr(s, '<', n) || (!*sep && !(*sep = list_separator(c, given, s, n))) || !memchr(s, *sep, n) ||
	    is_address(s)) /* a separator inside a quoted local part: "a,b"@example.com */
		return mail_line(im, line, s);
	c->sep = *sep;
	csv_begin(c);
	if (!csv_feed(c, s, n)) {
		bad_line(im, line, "unterminated quote");
		return 0;
	}
	if (csv_empty(c))
		return 0;
	if (c->stray) {
		bad_line(im, line, "text after a closing quote");
		return 0;
	}
	if (c->nf > LIST_COLUMNS) {
		bad_line(im, line, "%zu fields without a header naming them (address, name, status)", c->nf);
		return 0;
	}
	char *status = csv_get(c, 2);
	return deliver(im, line, csv_get(c, 0), csv_get(c, 1), status ? trim(status) : NULL, -1);
}

/* A CSV record is complete: a line with a NUL in it is bad, else the
 * record is read. */
static int csv_done(struct importer *im, int line, bool nul, const struct csv *c, const struct columns *cols)
{
	if (nul) {
		bad_line(im, line, "NUL byte in the line");
		return 0;
	}
	return csv_record(im, line, c, cols);
}

/* ------------------------------------------------------------------ */
/* Decoding: the file's text as UTF-8, checked whole before any record  */

/* What --encoding suggests for text that is not UTF-8: the charset of
 * Russian Excel's "CSV" and of most Cyrillic files. */
#define ENCODING_HINT "windows-1251"

/* A streaming UTF-8 check (RFC 3629: no overlong form, no surrogate,
 * nothing past U+10FFFF), one byte at a time, across blocks. */
struct u8check {
	int need;             /* continuation bytes still to come */
	unsigned char lo, hi; /* the range of the next one */
	unsigned char lead;   /* the first byte of the character */
};

static bool u8check_byte(struct u8check *v, unsigned char c)
{
	if (v->need) {
		if (c < v->lo || c > v->hi)
			return false;
		v->need--;
		v->lo = 0x80, v->hi = 0xBF;
		return true;
	}
	if (c < 0x80)
		return true;
	v->lead = c;
	v->lo = 0x80, v->hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		v->need = 1;
	else if (c == 0xE0)
		v->need = 2, v->lo = 0xA0;
	else if (c == 0xED)
		v->need = 2, v->hi = 0x9F;
	else if (c >= 0xE1 && c <= 0xEF)
		v->need = 2;
	else if (c == 0xF0)
		v->need = 3, v->lo = 0x90;
	else if (c >= 0xF1 && c <= 0xF3)
		v->need = 3;
	else if (c == 0xF4)
		v->need = 3, v->hi = 0x8F;
	else
		return false;
	return true;
}

static bool is_utf8_name(const char *e) { return !strcasecmp(e, "UTF-8") || !strcasecmp(e, "UTF8"); }

static int read_failed(const char *path, char **err)
{
	errf(err, "%s: %s", path, errno ? strerror(errno) : "read error");
	return IMPORT_EREAD;
}

static int tmp_failed(char **err)
{
	errf(err, "a temporary file for the converted text: %s", strerror(errno ? errno : EIO));
	return IMPORT_EREAD;
}

/* Where F's text begins (F holds LEN bytes of it in BLK already); F
 * itself, at SEEK_AT, when F can be read again from there, else a copy. */
struct decoding {
	FILE *f;
	const char *path;
	unsigned char *blk;
	size_t len;
	long seek_at; /* -1: F cannot seek */
};

/* Checks that the text is UTF-8; *TEXT is F again, or a temporary copy
 * when F cannot seek (a pipe). */
static int check_utf8(struct decoding *d, FILE **text, char **err)
{
	FILE *copy = d->seek_at < 0 ? tmpfile() : NULL;
	struct u8check v = {0};
	unsigned long line = 1;
	size_t len = d->len;

	if (d->seek_at < 0 && !copy)
		return tmp_failed(err);
	for (;;) {
		for (size_t i = 0; i < len; i++) {
			unsigned char c = d->blk[i];
			if (c < 0x80 && !v.need) { /* the common case */
				line += c == '\n';
				continue;
			}
			if (!u8check_byte(&v, c)) {
				/* the byte that began the character, as iconv would name it */
				errf(err, "%s:%lu: not UTF-8 text (byte 0x%02X); name its encoding, e.g. --encoding " ENCODING_HINT,
				     d->path, line, v.need ? v.lead : c);
				goto bad;
			}
			line += c == '\n';
		}
		if (copy && fwrite(d->blk, 1, len, copy) != len) {
			fclose(copy);
			return tmp_failed(err);
		}
		len = fread(d->blk, 1, BLOCK, d->f);
		if (len == 0) {
			if (ferror(d->f)) {
				if (copy)
					fclose(copy);
				return read_failed(d->path, err);
			}
			break;
		}
	}
	if (v.need) {
		errf(err, "%s:%lu: not UTF-8 text (it ends inside a character); name its encoding, e.g. --encoding " ENCODING_HINT,
		     d->path, line);
		goto bad;
	}
	if (copy) {
		if (fflush(copy) != 0 || fseek(copy, 0, SEEK_SET) != 0) {
			fclose(copy);
			return tmp_failed(err);
		}
		*text = copy;
	} else {
		if (fseek(d->f, d->seek_at, SEEK_SET) != 0)
			return read_failed(d->path, err);
		*text = d->f;
	}
	return 0;
bad:
	if (copy)
		fclose(copy);
	return IMPORT_EDATA;
}

/* Converts the text from the charset FROM to UTF-8 into a temporary file,
 * *TEXT. */
static int convert(struct decoding *d, const char *from, FILE **text, char **err)
{
	iconv_t cd = iconv_open("UTF-8", from);
	if (cd == (iconv_t)-1) {
		errf(err, "unknown encoding \"%s\"", from);
		return IMPORT_EDATA;
	}
	FILE *out = tmpfile();
	if (!out) {
		iconv_close(cd);
		return tmp_failed(err);
	}
	char *obuf = xmalloc(4 * BLOCK);
	unsigned long line = 1;
	size_t len = d->len;
	int rc = 0;
	for (;;) {
		char *in = (char *)d->blk;
		size_t inleft = len;
		while (inleft) {
			char *o = obuf;
			size_t oleft = 4 * BLOCK;
			size_t r = iconv(cd, &in, &inleft, &o, &oleft);
			int e = errno;
			size_t made = (size_t)(o - obuf);
			for (size_t i = 0; i < made; i++)
				line += obuf[i] == '\n';
			if (fwrite(obuf, 1, made, out) != made) {
				rc = tmp_failed(err);
				goto done;
			}
			if (r != (size_t)-1 || e == E2BIG)
				continue;
			if (e == EINVAL) /* a character cut by the block's end: read on */
				break;
			errf(err, "%s:%lu: not %s text (byte 0x%02X)", d->path, line, from, (unsigned char)*in);
			rc = IMPORT_EDATA;
			goto done;
		}
		memmove(d->blk, in, inleft);
		size_t got = fread(d->blk + inleft, 1, BLOCK - inleft, d->f);
		if (got == 0) {
			if (ferror(d->f)) {
				rc = read_failed(d->path, err);
				goto done;
			}
			if (inleft) {
				errf(err, "%s:%lu: not %s text (it ends inside a character)", d->path, line, from);
				rc = IMPORT_EDATA;
				goto done;
			}
			break;
		}
		len = inleft + got;
	}
	if (fflush(out) != 0 || fseek(out, 0, SEEK_SET) != 0)
		rc = tmp_failed(err);
done:
	free(obuf);
	iconv_close(cd);
	if (rc)
		fclose(out);
	else
		*text = out;
	return rc;
}

/* F's text as UTF-8 in *TEXT (F itself, or a temporary file to close):
 * a byte order mark decides the encoding, else ENCODING (NULL: UTF-8). */
static int decode(FILE *f, const char *path, const char *encoding, FILE **text, char **err)
{
	struct decoding d = {.f = f, .path = path, .blk = xmalloc(BLOCK)};
	const char *from = encoding, *bom = NULL;
	size_t skip = 0;
	int rc;

	errno = 0;
	d.seek_at = ftell(f);
	if (d.seek_at >= 0 && fseek(f, d.seek_at, SEEK_SET) != 0)
		d.seek_at = -1;
	d.len = fread(d.blk, 1, BLOCK, f);
	if (d.len == 0 && ferror(f)) {
		free(d.blk);
		return read_failed(path, err);
	}
	if (d.len >= 3 && memcmp(d.blk, "\xEF\xBB\xBF", 3) == 0)
		bom = "UTF-8"; /* left for the reader, which skips it */
	else if (d.len >= 2 && d.blk[0] == 0xFF && d.blk[1] == 0xFE)
		bom = "UTF-16LE", skip = 2;
	else if (d.len >= 2 && d.blk[0] == 0xFE && d.blk[1] == 0xFF)
		bom = "UTF-16BE", skip = 2;
	if (bom) {
		if (encoding && strncasecmp(encoding, "UTF", 3) != 0)
			log_warn("%s: its byte order mark says %s: read as such, not as %s", path, bom, encoding);
		from = bom;
	}
	if (!from || is_utf8_name(from)) {
		rc = check_utf8(&d, text, err);
	} else {
		memmove(d.blk, d.blk + skip, d.len - skip);
		d.len -= skip;
		rc = convert(&d, from, text, err);
	}
	free(d.blk);
	return rc;
}

int import_encoding_check(const char *name, char **err)
{
	iconv_t cd = name && *name ? iconv_open("UTF-8", name) : (iconv_t)-1;
	if (cd == (iconv_t)-1)
		return errf(err, "unknown encoding \"%s\"", name ? name : "");
	iconv_close(cd);
	return 0;
}

int import_delimiter_parse(const char *s, char *out)
{
	if (!s)
		return -1;
	if (!strcmp(s, ",") || !strcmp(s, ";") || !strcmp(s, "\t"))
		*out = s[0];
	else if (!strcasecmp(s, "tab") || !strcmp(s, "\\t"))
		*out = '\t';
	else
		return -1;
	return 0;
}

/* The records of the UTF-8 text F, for IM; SEP the separator given, or
 * 0. 0, the callback's result, or IMPORT_EREAD with *ERR. */
static int parse_text(FILE *f, struct importer *im, char sep, char **err)
{
	struct reader r = {.f = f, .blk = xmalloc(BLOCK)};
	struct buf line = {0};
	struct csv c = {0};
	struct columns cols = {.n = 0};
	enum { UNKNOWN, LIST, CSV } format = UNKNOWN;
	int lineno = 0, start = 0, in_record = 0, nul = 0, rc = 0, got;
	char list_sep = 0; /* a list's separator, once a line has shown it */

	errno = 0;

	/* A line (or a record) over 64 KiB is one bad line: reported, skipped,
	 * and the reading goes on with the next line. */
	while ((got = read_line(&r, &line)) > 0 || got == -2) {
		char *s = line.data;
		size_t n = line.len;
		if (lineno < INT_MAX)
			lineno++;
		if (got == -2) {
			if (in_record) {
				bad_line(im, start, "quoted field over 64 KiB (a quote not closed?); skipped");
				in_record = 0;
			} else {
				bad_line(im, lineno, "line over 64 KiB; skipped");
			}
			continue;
		}
		if (lineno == 1 && n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
			s += 3, n -= 3;
		if (in_record) { /* a quoted CSV field goes on */
			nul |= memchr(s, '\0', n) != NULL;
			if (!csv_feed(&c, s, n)) {
				if (c.data.len > LINE_MAX_BYTES) {
					/* a quote never closed: the lines it took are
					 * lost, the next ones are records again */
					bad_line(im, start, "quoted field over 64 KiB (a quote not closed?); skipped");
					in_record = 0;
				}
				continue;
			}
			in_record = 0;
			rc = csv_done(im, start, nul, &c, &cols);
			if (rc)
				break;
			continue;
		}
		if (is_skipped(s, n))
			continue;
		nul = memchr(s, '\0', n) != NULL;
		if (nul && format != CSV) {
			bad_line(im, lineno, "NUL byte in the line");
			if (format == UNKNOWN)
				format = LIST;
			continue;
		}
		if (format == UNKNOWN) {
			if (find_header(&c, sep, s, n, &cols)) {
				format = CSV;
				continue;
			}
			format = LIST;
		}
		if (format == LIST) {
			rc = list_line(im, lineno, s, n, &c, &list_sep, sep);
		} else {
			/* a line with a NUL is still parsed, so that a quote in it
			 * opens or closes a field as it would elsewhere, and is
			 * reported once the record ends */
			start = lineno;
			csv_begin(&c);
			if (!csv_feed(&c, s, n)) {
				in_record = 1;
				continue;
			}
			rc = csv_done(im, start, nul, &c, &cols);
		}
		if (rc)
			break;
	}
	if (got == -1)
		rc = errf(err, "%s: %s", im->path, errno ? strerror(errno) : "read error"); /* IMPORT_EREAD */
	else if (in_record)
		bad_line(im, start, "unterminated quote");
	free(r.blk);
	buf_free(&line);
	csv_free(&c);
	return rc;
}

int import_read(FILE *f, const char *path, const struct import_opts *o,
		int (*cb)(void *ctx, const struct sub_record *r), void *ctx, unsigned long *bad, char **err)
{
	struct importer im = {.path = path ? path : "-", .cb = cb, .ctx = ctx};
	FILE *text = NULL;
	int rc = decode(f, im.path, o ? o->encoding : NULL, &text, err);
	if (rc == 0) {
		rc = parse_text(text, &im, o ? o->delimiter : 0, err);
		if (text != f)
			fclose(text);
	}
	if (bad)
		*bad = im.bad;
	return rc;
}

/* ------------------------------------------------------------------ */
/* CSV output                                                          */

void csv_field(FILE *f, const char *s)
{
	if (!s)
		return;
	size_t n = strlen(s);
	/* a leading "#" too: import_read would take the line for a comment */
	int quote = strpbrk(s, ",;\"\r\n") != NULL ||
		    (n && (s[0] == ' ' || s[0] == '\t' || s[n - 1] == ' ' || s[n - 1] == '\t' || s[0] == '#'));
	if (!quote) {
		fputs(s, f);
		return;
	}
	putc('"', f);
	for (; *s; s++) {
		if (*s == '"')
			putc('"', f);
		putc(*s, f);
	}
	putc('"', f);
}
