/* log: one-line diagnostics on stderr, filtered by verbosity. */
#ifndef DIGEST_LOG_H
#define DIGEST_LOG_H

enum log_level { LOG_QUIET = -1, LOG_ERROR = 0, LOG_WARN = 1, LOG_INFO = 2, LOG_DEBUG = 3 };

/* log_set_level: messages above LEVEL are dropped (default LOG_WARN). */
void log_set_level(int level);
int log_get_level(void);

/* Each writes "digest: " (or "warning: " for log_warn) then the message
 * and a newline to stderr. Errors are shown unless -q (LOG_QUIET). */
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
