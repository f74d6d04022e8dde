/* dsn: what a message that came back is: DSN, ARF, a plain-text bounce,
 * an auto-reply, an unsubscribe, or unknown. Pure functions: a small MIME
 * walker of its own (bounded depth and parts), no library types. */
#define _GNU_SOURCE
#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "digest/dsn.h"
#include "digest/util.h"

#define MAX_DEPTH 6
#define MAX_PARTS 64
#define HDR_MAX 2048

static const char *const kind_names[DSN_KINDS] = {"unknown", "bounce-hard", "bounce-soft", "complaint",
						    "unsubscribe", "auto-reply"};

const char *dsn_kind_name(enum dsn_kind k)
{
	return k >= 0 && k < DSN_KINDS ? kind_names[k] : "unknown";
}

/* ---- text helpers ---- */

static void copy_cut(char *dst, size_t n, const char *src, size_t len)
{
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* Case-insensitive search of NEEDLE in S[0..LEN). */
static const char *find_ci(const char *s, size_t len, const char *needle)
{
	size_t m = strlen(needle);
	if (m == 0 || m > len)
		return NULL;
	/* the first octet, both cases, by memchr: most positions never get
	 * as far as a comparison */
	int lo = tolower((unsigned char)needle[0]), up = toupper((unsigned char)needle[0]);
	const char *p = s, *end = s + len - m + 1;
	while (p < end) {
		const char *a = memchr(p, lo, (size_t)(end - p));
		const char *b = up != lo ? memchr(p, up, (size_t)((a ? a : end) - p)) : NULL;
		const char *c = b ? b : a;
		if (!c)
			return NULL;
		if (strncasecmp(c, needle, m) == 0)
			return c;
		p = c + 1;
	}
	return NULL;
}

static bool has_any(const char *s, size_t len, const char *const *needles)
{
	for (; *needles; needles++)
		if (find_ci(s, len, *needles))
			return true;
	return false;
}

/* ---- headers ---- */

/* A header section: S[0..LEN), LF line ends, without the blank line. */
struct hdrs {
	const char *s;
	size_t len;
};

/* The unfolded value of the first field NAME into OUT (N bytes): true
 * when there is one. */
static bool hdr_get(struct hdrs h, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	if (!h.s) {
		if (n)
			out[0] = '\0';
		return false;
	}
	const char *p = h.s, *end = h.s + h.len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
			size_t o = 0;
			const char *v = p + nl + 1;
			for (;;) {
				for (; v < eol; v++) {
					char c = *v == '\t' || *v == '\r' ? ' ' : *v;
					if (o + 1 < n && !(o == 0 && c == ' '))
						out[o++] = c;
				}
				if (eol >= end || (eol[1] != ' ' && eol[1] != '\t'))
					break;
				v = eol + 1;
				eol = memchr(v, '\n', (size_t)(end - v));
				if (!eol)
					eol = end;
			}
			while (o > 0 && out[o - 1] == ' ')
				o--;
			out[o] = '\0';
			return true;
		}
		p = eol + 1;
	}
	if (n)
		out[0] = '\0';
	return false;
}

/* Split S at its first blank line into headers and body; false when S
 * does not begin with a header field. */
static bool split_message(const char *s, size_t len, struct hdrs *h, const char **body, size_t *blen)
{
	const char *p = s, *end = s + len;
	/* an mbox "From " line before the headers */
	if (len > 5 && !memcmp(s, "From ", 5)) {
		const char *eol = memchr(s, '\n', len);
		if (!eol)
			return false;
		p = eol + 1;
	}
	h->s = p;
	const char *q = p;
	bool first = true;
	while (q < end) {
		const char *eol = memchr(q, '\n', (size_t)(end - q));
		if (!eol)
			eol = end;
		if (eol == q || (eol == q + 1 && *q == '\r'))
			break;
		if (*q == ' ' || *q == '\t') {
			if (first)
				return false;
		} else {
			const char *c = q;
			while (c < eol && *c > 32 && *c < 127 && *c != ':')
				c++;
			if (c == q || c >= eol || *c != ':')
				return false;
		}
		first = false;
		q = eol < end ? eol + 1 : end;
	}
	if (first)
		return false;
	h->len = (size_t)(q - p);
	if (q < end) {
		const char *eol = memchr(q, '\n', (size_t)(end - q));
		q = eol ? eol + 1 : end;
	}
	*body = q;
	*blen = (size_t)(end - q);
	return true;
}

/* The media type of a Content-Type value, lower-cased, into T. */
static void ctype(const char *v, char *t, size_t n)
{
	size_t o = 0;
	for (; *v && *v != ';' && o + 1 < n; v++)
		if (!isspace((unsigned char)*v))
			t[o++] = (char)tolower((unsigned char)*v);
	t[o] = '\0';
}

/* Parameter NAME of a Content-Type value into OUT. */
static bool cparam(const char *v, const char *name, char *out, size_t n)
{
	size_t nl = strlen(name);
	for (const char *p = strchr(v, ';'); p; p = strchr(p + 1, ';')) {
		const char *q = p + 1;
		while (*q == ' ')
			q++;
		if (strncasecmp(q, name, nl) || q[nl] != '=')
			continue;
		q += nl + 1;
		size_t o = 0;
		if (*q == '"') {
			for (q++; *q && *q != '"' && o + 1 < n; q++)
				out[o++] = *q;
		} else {
			for (; *q && *q != ';' && *q != ' ' && o + 1 < n; q++)
				out[o++] = *q;
		}
		out[o] = '\0';
		return o > 0;
	}
	return false;
}

/* ---- decoding ---- */

static int b64v(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* S decoded by its Content-Transfer-Encoding CTE, into OUT (LF ends). */
static void decode(const char *cte, const char *s, size_t len, struct buf *out)
{
	if (!strcasecmp(cte, "base64")) {
		unsigned acc = 0;
		int bits = 0;
		for (size_t i = 0; i < len; i++) {
			int v = b64v((unsigned char)s[i]);
			if (v < 0)
				continue;
			acc = (acc << 6) | (unsigned)v;
			bits += 6;
			if (bits >= 8) {
				bits -= 8;
				char c = (char)(acc >> bits);
				if (c != '\r')
					buf_add(out, &c, 1);
				acc &= (1u << bits) - 1;
			}
		}
	} else if (!strcasecmp(cte, "quoted-printable")) {
		for (size_t i = 0; i < len; i++) {
			if (s[i] == '=' && i + 1 < len && (s[i + 1] == '\n' || s[i + 1] == '\r')) {
				i += s[i + 1] == '\r' && i + 2 < len && s[i + 2] == '\n' ? 2 : 1;
				continue;
			}
			if (s[i] == '=' && i + 2 < len && hex_value((unsigned char)s[i + 1]) >= 0 &&
			    hex_value((unsigned char)s[i + 2]) >= 0) {
				char c = (char)(hex_value((unsigned char)s[i + 1]) << 4 | hex_value((unsigned char)s[i + 2]));
				buf_add(out, &c, 1);
				i += 2;
				continue;
			}
			if (s[i] != '\r')
				buf_add(out, s + i, 1);
		}
	} else {
		buf_add(out, s, len);
	}
}

/* ---- the walk ---- */

struct walk {
	const char *local;
	struct buf text;     /* the text/plain parts, decoded, outside quoted messages */
	struct buf status;   /* the message/delivery-status part */
	struct buf feedback; /* the message/feedback-report part */
	struct buf original; /* the quoted original: message/rfc822 or text/rfc822-headers */
	char report[64];     /* report-type of a multipart/report */
	int parts;
};

static void walk_part(struct walk *w, const char *s, size_t len, int depth);

static void walk_multipart(struct walk *w, const char *boundary, const char *s, size_t len, int depth)
{
	size_t bl = strlen(boundary);
	const char *p = s, *end = s + len, *start = NULL;
	while (p < end && w->parts < MAX_PARTS) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		if ((size_t)(eol - p) >= bl + 2 && p[0] == '-' && p[1] == '-' && !memcmp(p + 2, boundary, bl)) {
			bool last = (size_t)(eol - p) >= bl + 4 && p[bl + 2] == '-' && p[bl + 3] == '-';
			if (start) {
				const char *stop = p > start ? p - 1 : p; /* the LF before the delimiter */
				w->parts++;
				walk_part(w, start, (size_t)(stop - start), depth + 1);
			}
			if (last)
				return;
			start = eol < end ? eol + 1 : end;
		}
		p = eol < end ? eol + 1 : end;
	}
	if (start && start < end && w->parts < MAX_PARTS) {
		w->parts++;
		walk_part(w, start, (size_t)(end - start), depth + 1);
	}
}

static void walk_part(struct walk *w, const char *s, size_t len, int depth)
{
	if (depth > MAX_DEPTH)
		return;
	struct hdrs h = {s, 0};
	const char *body = s;
	size_t blen = len;
	if (len > 0 && s[0] == '\n') { /* a part without headers */
		h.len = 0;
		body = s + 1;
		blen = len - 1;
	} else if (!split_message(s, len, &h, &body, &blen)) {
		h.len = 0;
		body = s;
		blen = len;
	}
	char ct[HDR_MAX], type[128], cte[64];
	if (!hdr_get(h, "Content-Type", ct, sizeof ct))
		snprintf(ct, sizeof ct, "text/plain");
	ctype(ct, type, sizeof type);
	if (!hdr_get(h, "Content-Transfer-Encoding", cte, sizeof cte))
		cte[0] = '\0';
	if (!strncmp(type, "multipart/", 10)) {
		char boundary[256];
		if (!strcmp(type, "multipart/report") && !w->report[0] && !cparam(ct, "report-type", w->report,
										   sizeof w->report))
			w->report[0] = '\0';
		if (cparam(ct, "boundary", boundary, sizeof boundary))
			walk_multipart(w, boundary, body, blen, depth);
		return;
	}
	if (!strcmp(type, "message/delivery-status") || !strcmp(type, "message/global-delivery-status")) {
		if (!w->status.len)
			decode(cte, body, blen, &w->status);
	} else if (!strcmp(type, "message/feedback-report")) {
		if (!w->feedback.len)
			decode(cte, body, blen, &w->feedback);
	} else if (!strcmp(type, "message/rfc822") || !strcmp(type, "text/rfc822-headers") ||
		   !strcmp(type, "message/global") || !strcmp(type, "message/global-headers")) {
		if (!w->original.len)
			decode(cte, body, blen, &w->original);
	} else if (!strcmp(type, "text/plain") && w->text.len < 256 * 1024) {
		decode(cte, body, blen, &w->text);
		buf_add(&w->text, "\n", 1);
	}
}

/* ---- addresses and tokens ---- */

static bool addr_char(int c)
{
	return isalnum(c) || c >= 0x80 || strchr("._%+=-!#$&'*/?^`{|}~", c);
}

/* The first address in S[0..LEN) from *POS on, into OUT; *POS after it. */
static bool next_address(const char *s, size_t len, size_t *pos, char *out, size_t n)
{
	for (size_t i = *pos; i < len; i++) {
		if (s[i] != '@' || i == 0)
			continue;
		size_t a = i, b = i + 1;
		while (a > 0 && addr_char((unsigned char)s[a - 1]))
			a--;
		bool dot = false;
		while (b < len && (isalnum((unsigned char)s[b]) || s[b] == '-' || s[b] == '.' ||
				   (unsigned char)s[b] >= 0x80)) {
			dot = dot || (s[b] == '.' && b + 1 < len && isalnum((unsigned char)s[b + 1]));
			b++;
		}
		while (b > i + 1 && s[b - 1] == '.')
			b--;
		while (a < i && s[a] == '.')
			a++;
		if (a == i || b == i + 1 || !dot || b - a >= n) {
			continue;
		}
		copy_cut(out, n, s + a, b - a);
		*pos = b;
		return true;
	}
	*pos = len;
	return false;
}

/* Whether ADDR is ours (LOCAL or LOCAL+...) or a mail system's own. */
static bool skip_address(const char *addr, const char *local)
{
	size_t ll = local ? strlen(local) : 0;
	if (ll && !strncasecmp(addr, local, ll) && (addr[ll] == '@' || addr[ll] == '+'))
		return true;
	static const char *const system[] = {"mailer-daemon@", "postmaster@", "abuse@", "noreply@",
					     "no-reply@", "double-bounce@", NULL};
	for (const char *const *p = system; *p; p++)
		if (!strncasecmp(addr, *p, strlen(*p)))
			return true;
	return false;
}

/* The first LOCAL+K-TOKEN@ in S[0..LEN) into TOKEN: true when found. */
static bool find_token(const char *s, size_t len, const char *local, char k, char *token, size_t n)
{
	if (!local || !*local)
		return false;
	char pre[128];
	snprintf(pre, sizeof pre, "%s+%c-", local, k);
	size_t pl = strlen(pre);
	const char *p = s, *end = s + len;
	while (p < end) {
		const char *f = find_ci(p, (size_t)(end - p), pre);
		if (!f)
			return false;
		bool start = f == s || !addr_char((unsigned char)f[-1]);
		const char *t = f + pl, *e = t;
		while (e < end && isalnum((unsigned char)*e))
			e++;
		if (start && e < end && *e == '@' && e > t && (size_t)(e - t) < n) {
			copy_cut(token, n, t, (size_t)(e - t));
			return true;
		}
		p = f + 1;
	}
	return false;
}

/* "rfc822; user@example.org" (or "<user@...>") into OUT. */
static void typed_address(const char *v, char *out, size_t n)
{
	const char *semi = strchr(v, ';');
	const char *a = semi ? semi + 1 : v;
	while (*a == ' ' || *a == '<')
		a++;
	size_t l = strcspn(a, " >;");
	copy_cut(out, n, a, l);
}

/* ---- DSN (RFC 3464) ---- */

/* The fields of one block (LF-separated lines, folded) of a
 * delivery-status or feedback part. */
static bool block_field(const char *s, size_t len, const char *name, char *out, size_t n)
{
	struct hdrs h = {s, len};
	return hdr_get(h, name, out, n);
}

static bool is_status(const char *s)
{
	return (s[0] == '2' || s[0] == '4' || s[0] == '5') && s[1] == '.' && isdigit((unsigned char)s[2]);
}

static bool classify_dsn(struct walk *w, struct dsn_result *out)
{
	const char *s = w->status.data, *end = s + w->status.len;
	bool first = true, found = false;
	int best = 0; /* 2 hard, 1 soft */
	while (s && s < end) {
		/* one block: up to a blank line */
		const char *b = s;
		while (s < end) {
			const char *eol = memchr(s, '\n', (size_t)(end - s));
			if (!eol)
				eol = end;
			bool blank = eol == s || (eol == s + 1 && *s == '\r');
			s = eol < end ? eol + 1 : end;
			if (blank)
				break;
		}
		size_t bl = (size_t)(s - b);
		while (bl > 0 && (b[bl - 1] == '\n' || b[bl - 1] == '\r'))
			bl--;
		if (bl == 0)
			continue;
		if (first) { /* the per-message fields */
			first = false;
			char tmp[64];
			if (!block_field(b, bl, "Final-Recipient", tmp, sizeof tmp) &&
			    !block_field(b, bl, "Action", tmp, sizeof tmp))
				continue;
		}
		char action[64], status[64], rcpt[DSN_ADDR_MAX], diag[256];
		if (!block_field(b, bl, "Action", action, sizeof action))
			continue;
		if (!block_field(b, bl, "Status", status, sizeof status))
			status[0] = '\0';
		int k = 0;
		if (!strncasecmp(action, "failed", 6))
			k = is_status(status) && status[0] == '4' ? 1 : 2;
		else if (!strncasecmp(action, "delayed", 7))
			k = 1;
		found = true;
		if (k <= best)
			continue;
		best = k;
		rcpt[0] = '\0';
		if (block_field(b, bl, "Final-Recipient", rcpt, sizeof rcpt) ||
		    block_field(b, bl, "Original-Recipient", rcpt, sizeof rcpt)) {
			char a[DSN_ADDR_MAX];
			typed_address(rcpt, a, sizeof a);
			snprintf(out->recipient, sizeof out->recipient, "%s", a);
		}
		if (block_field(b, bl, "Diagnostic-Code", diag, sizeof diag)) {
			const char *d = strchr(diag, ';');
			d = d ? d + 1 : diag;
			while (*d == ' ')
				d++;
			snprintf(out->diagnostic, sizeof out->diagnostic, "%s", d);
		}
		copy_cut(out->status, sizeof out->status, status, strcspn(status, " ("));
	}
	if (!found)
		return false;
	/* a report of success (delivered, relayed, expanded) asks for nothing */
	out->kind = best == 2 ? DSN_BOUNCE_HARD : best == 1 ? DSN_BOUNCE_SOFT : DSN_AUTOREPLY;
	return true;
}

/* ---- ARF (RFC 5965) ---- */

static void classify_arf(struct walk *w, struct hdrs top, struct dsn_result *out)
{
	out->kind = DSN_COMPLAINT;
	char v[HDR_MAX];
	if (block_field(w->feedback.data, w->feedback.len, "Feedback-Type", v, sizeof v))
		snprintf(out->diagnostic, sizeof out->diagnostic, "feedback-type %.200s", v);
	/* the reader: the quoted original's Return-Path, its List-Unsubscribe
	 * token, else its To (providers often redact the reader's address) */
	const char *o = w->original.data;
	size_t ol = w->original.len;
	struct hdrs oh = {o, ol};
	const char *ob;
	size_t obl;
	if (o && !split_message(o, ol, &oh, &ob, &obl))
		oh = (struct hdrs){o, ol};
	if (o && hdr_get(oh, "Return-Path", v, sizeof v) &&
	    find_token(v, strlen(v), w->local, 'b', out->token, sizeof out->token)) {
		out->token_kind = 'b';
	} else if (block_field(w->feedback.data, w->feedback.len, "Original-Mail-From", v, sizeof v) &&
		   find_token(v, strlen(v), w->local, 'b', out->token, sizeof out->token)) {
		out->token_kind = 'b'; /* the original's envelope sender */
	} else if (o && hdr_get(oh, "List-Unsubscribe", v, sizeof v) &&
		   find_token(v, strlen(v), w->local, 'u', out->token, sizeof out->token)) {
		out->token_kind = 'u';
	}
	size_t pos = 0;
	char a[DSN_ADDR_MAX];
	if (o && hdr_get(oh, "To", v, sizeof v) && next_address(v, strlen(v), &pos, a, sizeof a))
		snprintf(out->recipient, sizeof out->recipient, "%s", a);
	else if (block_field(w->feedback.data, w->feedback.len, "Original-Rcpt-To", v, sizeof v)) {
		typed_address(v, a, sizeof a);
		snprintf(out->recipient, sizeof out->recipient, "%s", a);
	}
	(void)top;
}

/* ---- plain-text bounces ---- */

static const char *const bounce_senders[] = {"mailer-daemon", "postmaster", "mail delivery", "maildelivery",
					     "mail-daemon", NULL};
static const char *const bounce_subjects[] = {
	"undeliver", "delivery status notification", "mail delivery failed", "returned mail", "failure notice",
	"delivery failure", "could not be delivered", "delivery has failed", "message not delivered",
	"not delivered", "delayed mail", "delivery delayed", "delivery incomplete", "warning: message",
	"mail system error", "delivery notification", "недоставлен", "не доставлен", "не может быть доставлено",
	"ошибка доставки", NULL};
static const char *const bounce_phrases[] = {
	"could not be delivered", "couldn't be delivered", "wasn't delivered", "was not delivered",
	"delivery has failed", "delivery to the following recipient", "following address(es) failed",
	"following addresses had permanent", "unable to deliver", "not able to deliver", "wasn't able to deliver",
	"permanent error", "permanent fatal error", "has not yet been delivered", "temporary problem delivering",
	"delivery incomplete", "i'm afraid i wasn't able", "undeliverable", "user unknown", "mailbox unavailable",
	"address not found", "не может быть доставлено", "не было доставлено", "не доставлено", "не удалось доставить",
	"message could not be delivered", "this is the mail system at host", "delivery failed",
	"transcript of session follows", "was not accepted", NULL};
static const char *const temporary_phrases[] = {
	"temporary", "has not yet been delivered", "delayed", "will retry", "will be retried", "still trying",
	"will keep trying", "delivery incomplete", "временн", NULL};
/* Where a bounce's own words end and the returned message begins. */
static const char *const quote_marks[] = {
	"------ This is a copy of the message", "--- Below this line is a copy", "----- Original message",
	"-----Original Message-----", "------- Original Message", "Original message headers:",
	"----- Original Message", "Received: ", "Return-Path: ", "DKIM-Signature: ", "------ Original message",
	"--- The header of the original message", NULL};

/* The end of the bounce's own words in S[0..LEN). */
static size_t own_words(const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	while (p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			eol = end;
		const char *q = p;
		while (q < eol && (*q == ' ' || *q == '\t'))
			q++;
		for (const char *const *m = quote_marks; *m; m++)
			if ((size_t)(eol - q) >= strlen(*m) && !strncasecmp(q, *m, strlen(*m)))
				return (size_t)(p - s);
		p = eol < end ? eol + 1 : end;
	}
	return len;
}

/* The first status code in S: an enhanced one (5.1.1) or a reply code
 * (550) standing as a word, into OUT. */
static bool find_code(const char *s, size_t len, char *out, size_t n)
{
	const char *reply = NULL;
	for (size_t i = 0; i < len; i++) {
		bool start = i == 0 || !(isalnum((unsigned char)s[i - 1]) || s[i - 1] == '.');
		if (!start || (s[i] != '4' && s[i] != '5'))
			continue;
		if (i + 4 < len && s[i + 1] == '.' && isdigit((unsigned char)s[i + 2])) {
			size_t j = i + 2;
			while (j < len && j < i + 5 && isdigit((unsigned char)s[j]))
				j++;
			if (j < len && s[j] == '.' && j + 1 < len && isdigit((unsigned char)s[j + 1])) {
				size_t k = j + 1;
				while (k < len && k < j + 4 && isdigit((unsigned char)s[k]))
					k++;
				if (k >= len || !(isalnum((unsigned char)s[k]) || (s[k] == '.' && k + 1 < len &&
										   isdigit((unsigned char)s[k + 1])))) {
					copy_cut(out, n, s + i, k - i);
					return true;
				}
			}
		}
		if (!reply && i + 3 <= len && isdigit((unsigned char)s[i + 1]) && isdigit((unsigned char)s[i + 2]) &&
		    (i + 3 == len || s[i + 3] == ' ' || s[i + 3] == '-' || s[i + 3] == ':') && s[i + 1] <= '5')
			reply = s + i;
	}
	if (reply) {
		copy_cut(out, n, reply, 3);
		return true;
	}
	return false;
}

/* The line of S holding P, trimmed, into OUT. */
static void line_of(const char *s, const char *p, const char *end, char *out, size_t n)
{
	const char *a = p, *b = p;
	while (a > s && a[-1] != '\n')
		a--;
	while (b < end && *b != '\n')
		b++;
	while (a < b && (*a == ' ' || *a == '\t'))
		a++;
	copy_cut(out, n, a, (size_t)(b - a));
}

static bool classify_text(struct walk *w, struct hdrs top, const char *body, size_t blen, struct dsn_result *out)
{
	char from[HDR_MAX], subject[HDR_MAX], rp[HDR_MAX];
	hdr_get(top, "From", from, sizeof from);
	hdr_get(top, "Subject", subject, sizeof subject);
	bool null_sender = hdr_get(top, "Return-Path", rp, sizeof rp) &&
			   (!strcmp(rp, "<>") || find_ci(rp, strlen(rp), "mailer-daemon"));
	bool daemon = has_any(from, strlen(from), bounce_senders) || null_sender;
	bool subj = has_any(subject, strlen(subject), bounce_subjects);
	const char *text = w->text.len ? w->text.data : body;
	size_t tlen = w->text.len ? w->text.len : blen;
	if (!text)
		return false;
	size_t own = own_words(text, tlen);
	if (!(daemon || subj) || !has_any(text, own, bounce_phrases))
		return false;
	/* the failed recipient: the first address in the bounce's own words
	 * that is neither ours nor a mail system's nor the bounce's sender */
	size_t pos = 0;
	char a[DSN_ADDR_MAX], fromaddr[DSN_ADDR_MAX] = "";
	size_t fp = 0;
	next_address(from, strlen(from), &fp, fromaddr, sizeof fromaddr);
	while (next_address(text, own, &pos, a, sizeof a)) {
		if (skip_address(a, w->local) || !strcasecmp(a, fromaddr))
			continue;
		snprintf(out->recipient, sizeof out->recipient, "%s", a);
		break;
	}
	char code[16] = "";
	/* the code after the recipient, where the server's words are */
	const char *from_here = text;
	if (out->recipient[0]) {
		const char *r = find_ci(text, own, out->recipient);
		if (r)
			from_here = r;
	}
	size_t rest = own - (size_t)(from_here - text);
	bool coded = find_code(from_here, rest, code, sizeof code) || find_code(text, own, code, sizeof code);
	if (coded) {
		snprintf(out->status, sizeof out->status, "%s", code);
		const char *c = find_ci(text, own, code);
		if (c)
			line_of(text, c, text + own, out->diagnostic, sizeof out->diagnostic);
	}
	bool temporary = has_any(text, own, temporary_phrases) || has_any(subject, strlen(subject), temporary_phrases);
	if (coded)
		out->kind = code[0] == '4' ? DSN_BOUNCE_SOFT : DSN_BOUNCE_HARD;
	else
		out->kind = temporary ? DSN_BOUNCE_SOFT : DSN_BOUNCE_HARD;
	return true;
}

/* ---- auto-replies (RFC 3834, vacation) ---- */

static const char *const autoreply_subjects[] = {
	"auto:", "automatic reply", "autoreply", "auto-reply", "auto reply", "out of office", "out of the office",
	"vacation", "away from", "abwesenheit", "автоответ", "автоматический ответ", "отпуск", "нет в офисе", NULL};

static bool is_autoreply(struct hdrs top)
{
	char v[HDR_MAX];
	if (hdr_get(top, "Auto-Submitted", v, sizeof v) && strncasecmp(v, "no", 2))
		return true;
	if (hdr_get(top, "X-Autoreply", v, sizeof v) || hdr_get(top, "X-Autorespond", v, sizeof v) ||
	    hdr_get(top, "X-Auto-Reply", v, sizeof v) || hdr_get(top, "X-Autoresponder", v, sizeof v))
		return true;
	if (hdr_get(top, "Precedence", v, sizeof v) && !strncasecmp(v, "auto_reply", 10))
		return true;
	if (hdr_get(top, "X-MS-Exchange-Inbox-Rules-Loop", v, sizeof v))
		return true;
	if (hdr_get(top, "Subject", v, sizeof v) && has_any(v, strlen(v), autoreply_subjects))
		return true;
	return false;
}

/* ---- the whole ---- */

int dsn_classify(const char *msg, size_t len, const char *local, struct dsn_result *out)
{
	memset(out, 0, sizeof *out);
	/* LF line ends throughout */
	struct buf m = {0};
	if (len > 0) {
		char *t = xmalloc(len + 1);
		size_t o = 0;
		for (size_t i = 0; i < len; i++)
			if (!(msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n'))
				t[o++] = msg[i];
		t[o] = '\0';
		m.data = t;
		m.len = o;
		m.cap = len + 1;
	}
	struct hdrs top;
	const char *body = NULL;
	size_t blen = 0;
	if (!m.data || !split_message(m.data, m.len, &top, &body, &blen)) {
		buf_free(&m);
		return -1;
	}
	static const char *const mail_fields[] = {"From", "To", "Subject", "Date", "Message-ID", "Received",
						  "Return-Path", "Delivered-To", "Content-Type", NULL};
	char v[HDR_MAX];
	bool mail = false;
	for (const char *const *f = mail_fields; *f && !mail; f++)
		mail = hdr_get(top, *f, v, sizeof v);
	if (!mail) {
		buf_free(&m);
		return -1;
	}
	if (hdr_get(top, "Message-ID", v, sizeof v)) {
		const char *a = v;
		while (*a == '<' || *a == ' ')
			a++;
		copy_cut(out->message_id, sizeof out->message_id, a, strcspn(a, "> "));
	}

	struct walk w = {.local = local};
	walk_part(&w, m.data + (top.s - m.data), m.len - (size_t)(top.s - m.data), 0);

	/* the reader's token where the message was sent to */
	char to[4 * HDR_MAX] = "";
	static const char *const rcpt_fields[] = {"Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To",
						  "To", "Cc", NULL};
	for (const char *const *f = rcpt_fields; *f; f++)
		if (hdr_get(top, *f, v, sizeof v) && strlen(to) + strlen(v) + 2 < sizeof to) {
			strcat(to, v);
			strcat(to, " ");
		}
	bool to_u = find_token(to, strlen(to), local, 'u', out->token, sizeof out->token);
	if (to_u)
		out->token_kind = 'u';

	if (!strcasecmp(w.report, "feedback-report") || w.feedback.len) {
		out->token[0] = '\0';
		out->token_kind = 0;
		classify_arf(&w, top, out);
	} else if (w.status.len && classify_dsn(&w, out)) {
		/* done */
	} else if (to_u) {
		out->kind = DSN_UNSUBSCRIBE;
	} else if (!classify_text(&w, top, body, blen, out)) {
		out->kind = is_autoreply(top) ? DSN_AUTOREPLY : DSN_UNKNOWN;
	}
	if (out->kind == DSN_BOUNCE_HARD || out->kind == DSN_BOUNCE_SOFT || out->kind == DSN_AUTOREPLY) {
		/* the envelope sender the message went back to, else the
		 * returned message's own Return-Path */
		out->token_kind = 0;
		out->token[0] = '\0';
		if (find_token(to, strlen(to), local, 'b', out->token, sizeof out->token) ||
		    find_token(w.original.data ? w.original.data : "", w.original.len, local, 'b', out->token,
			       sizeof out->token) ||
		    find_token(m.data, m.len, local, 'b', out->token, sizeof out->token))
			out->token_kind = 'b';
	}
	buf_free(&m);
	buf_free(&w.text);
	buf_free(&w.status);
	buf_free(&w.feedback);
	buf_free(&w.original);
	return 0;
}
