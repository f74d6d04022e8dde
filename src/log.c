/* log: one-line diagnostics on stderr, filtered by verbosity; the time
 * on each line of a long-running server; the masks that keep readers'
 * addresses and link tokens out of what is logged. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "digest/log.h"
#include "digest/util.h"

static int current_level = LOG_WARN;
static bool server; /* log_set_server */

void log_set_level(int level) { current_level = level; }
int log_get_level(void) { return current_level; }
void log_set_server(bool on)
{
	tzset(); /* once, before threads: localtime_r does not */
	server = on;
}

void log_time(long long t, char out[LOG_TIME_LEN + 1])
{
	time_t tt = (time_t)t;
	struct tm tm;
	char z[8] = "+0000";
	if (!localtime_r(&tt, &tm) || !strftime(out, LOG_TIME_LEN + 1, "%Y-%m-%dT%H:%M:%S", &tm)) {
		snprintf(out, LOG_TIME_LEN + 1, "%s", "(no time)");
		return;
	}
	strftime(z, sizeof z, "%z", &tm);
	/* RFC 3339's offset has a colon: +03:00 */
	size_t o = strlen(out);
	snprintf(out + o, LOG_TIME_LEN + 1 - o, "%.3s:%.2s", z, z[0] ? z + 3 : "00");
}

__attribute__((format(printf, 3, 0))) static void emit(int level, const char *tag, const char *fmt, va_list ap)
{
	if (level > current_level)
		return;
	char when[LOG_TIME_LEN + 2] = "";
	if (server) {
		log_time((long long)time(NULL), when);
		strcat(when, " ");
	}
	flockfile(stderr); /* one line, whole, whatever the other threads say */
	fputs("digest: ", stderr);
	fputs(when, stderr);
	fputs(tag, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

#define LOG_FN(fn, level, tag)                                                 \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		emit(level, tag, fmt, ap);                                     \
		va_end(ap);                                                    \
	}

LOG_FN(log_error, LOG_ERROR, "")
LOG_FN(log_warn, LOG_WARN, "warning: ")
LOG_FN(log_info, LOG_INFO, "")
LOG_FN(log_debug, LOG_DEBUG, "debug: ")

void log_event(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	emit(server ? LOG_WARN : LOG_INFO, "", fmt, ap);
	va_end(ap);
}

/* ---- masks ---- */

/* The length of the UTF-8 character at S (a NUL-terminated string; at
 * most N bytes of it) when it is a whole, shortest-form character that is
 * no control (C0, DEL, C1), else 0. */
static size_t u8_char(const unsigned char *s, size_t n)
{
	size_t len;
	unsigned long cp = utf8_decode(s, &len);
	if (len > n || (cp == 0xFFFD && len == 1) || cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
		return 0;
	return len;
}

/* Append the printable characters of S (LEN bytes) to OUT (at O, room for
 * N - 1 bytes): each byte of what is not a whole character, a control or
 * a space as "?"; cut with "…" beyond MAX bytes. The new O. */
static size_t put_clean(char *out, size_t o, size_t n, const char *s, size_t len, size_t max)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t used = 0;
	for (size_t i = 0; i < len;) {
		size_t k = u[i] == ' ' ? 0 : u8_char(u + i, len - i);
		size_t w = k ? k : 1;
		if (used + w > max || o + w + sizeof "…" > n) {
			if (o + sizeof "…" <= n)
				o += (size_t)snprintf(out + o, n - o, "…");
			return o;
		}
		if (k)
			memcpy(out + o, s + i, k);
		else
			out[o] = '?';
		o += w, used += w, i += w;
	}
	out[o] = '\0';
	return o;
}

void log_mask_address(const char *addr, char *out, size_t n)
{
	if (n < LOG_MASK_MAX) {
		if (n)
			out[0] = '\0';
		return;
	}
	const char *at = addr ? strrchr(addr, '@') : NULL;
	if (!addr || !*addr) {
		snprintf(out, n, "(empty)");
		return;
	}
	if (!at || at == addr || !at[1]) {
		snprintf(out, n, "***"); /* not an address: nothing of it */
		return;
	}
	const char *local = addr[0] == '"' && at - addr > 1 ? addr + 1 : addr;
	size_t k = u8_char((const unsigned char *)local, (size_t)(at - local));
	size_t o = 0;
	if (k && *local != '"')
		memcpy(out, local, k), o = k;
	else
		out[o++] = '?';
	memcpy(out + o, "***@", 4);
	o += 4;
	out[o] = '\0';
	put_clean(out, o, n, at + 1, strlen(at + 1), LOG_MASK_MAX / 2);
}
