/* log: one-line diagnostics on stderr, filtered by verbosity; the time
 * on each line of a long-running server (`digest serve`); the masks that
 * keep readers' addresses and link tokens out of what is logged. */
#ifndef DIGEST_LOG_H
#define DIGEST_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_QUIET = -1, LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* log_set_level: messages above LEVEL are dropped (default LOG_WARN). */
void log_set_level(int level);
int log_get_level(void);

/*
 * log_set_server: ON for a long-running server (`digest serve`): from
 * then on every line carries the local time after "digest: "
 * (2026-12-02T15:17:41+03:00, as the journal's own stamp is not in a
 * file that stderr was sent to), and log_event lines are shown at the
 * default level. One-shot commands keep lines without a time, as mail
 * tools do. Call it before starting threads.
 */
void log_set_server(bool on);

/* Each writes "digest: " (the time, with log_set_server), "warning: "
 * for log_warn, "debug: " for log_debug, then the message and a newline
 * to stderr, as one write. Errors are shown unless -q (LOG_QUIET). */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_event: one action a server took for a reader (a subscribe request,
 * a confirmation, ...): shown at the default level with log_set_server,
 * else with -v as log_info. Never pass it a full address or a token:
 * mask them (below). */
void log_event(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* log_time: Unix time T as local RFC 3339 ("2026-12-02T15:17:41+03:00"). */
#define LOG_TIME_LEN 25
void log_time(long long t, char out[LOG_TIME_LEN + 1]);

/*
 * log_mask_address: ADDR as a log may show it: its local part's first
 * character, "***@" and its domain ("j***@example.org", an IDN domain as
 * given, "ж***@почта.рф"); what would not show as one clean line (a
 * control, a space, broken UTF-8) is "?", a domain over LOG_MASK_MAX / 2
 * bytes is cut with "…". Not an address (no "@", nothing before or after
 * it): "***"; NULL or empty: "(empty)". OUT has N >= LOG_MASK_MAX bytes
 * (less: OUT is "").
 */
#define LOG_MASK_MAX 128
void log_mask_address(const char *addr, char *out, size_t n);

#endif
