/* log: one-line diagnostics on stderr, filtered by verbosity. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>

#include "digest/log.h"

static int current_level = LOG_WARN;

void log_set_level(int level) { current_level = level; }
int log_get_level(void) { return current_level; }

__attribute__((format(printf, 3, 0))) static void emit(int level, const char *prefix, const char *fmt, va_list ap)
{
	if (level > current_level)
		return;
	flockfile(stderr); /* one line, whole, whatever the other threads say */
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

#define LOG_FN(fn, level, prefix)                                              \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		emit(level, prefix, fmt, ap);                                  \
		va_end(ap);                                                    \
	}

LOG_FN(log_error, LOG_ERROR, "digest: ")
LOG_FN(log_warn, LOG_WARN, "digest: warning: ")
LOG_FN(log_info, LOG_INFO, "digest: ")
LOG_FN(log_debug, LOG_DEBUG, "digest: debug: ")
