/* serve: `digest serve`, the web endpoint (libmicrohttpd): the subscribe
 * form, double opt-in, one-click unsubscribe, and the preview. */
#ifndef DIGEST_SERVE_H
#define DIGEST_SERVE_H
#include "digest/config.h"

/* Request bodies larger than this are refused with 413. */
#define SERVE_BODY_MAX 8192

/*
 * serve_run: listen on LISTEN ("HOST:PORT"; NULL: http.listen) and answer
 * until SIGTERM or SIGINT, sending owed confirmation mails from a thread
 * of its own. Prints "serve: listening on http://HOST:PORT" on stderr when
 * ready (the actual port when PORT is 0) and "serve: stopped" at the end.
 * Returns a sysexits code: 0 after a clean stop, EX_USAGE for a bad
 * address, EX_TEMPFAIL when it is in use, EX_CONFIG for a template error,
 * EX_SOFTWARE otherwise; each failure is one line on stderr.
 */
int serve_run(const struct config *cfg, const char *listen);
#endif
