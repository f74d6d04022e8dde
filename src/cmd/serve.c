/* cmd/serve: `digest serve`, the web endpoint (serve.c). */
#define _GNU_SOURCE
#include <stdlib.h>
#include <sysexits.h>

#include "cmd.h"
#include "digest/http.h"
#include "digest/log.h"
#include "digest/serve.h"

struct serve_opts {
	const char *listen;
};

static const char serve_usage[] =
	"usage: digest serve [--listen HOST:PORT]\n"
	"\n"
	"The web endpoint, on http.listen or HOST:PORT (port 0: any free one):\n"
	"  GET  /                 the subscribe form\n"
	"  POST /subscribe        email, name: sends the confirmation mail\n"
	"  GET  /confirm?t=       a page with a button; POST confirms\n"
	"  GET  /unsubscribe?t=   a page with a button; POST (or RFC 8058 one-click)\n"
	"                         unsubscribes\n"
	"  GET  /preview, /preview.txt   today's edition for a sample reader\n"
	"  GET  /archive[?page=N], /archive/YYYY-MM-DD, /archive.atom\n"
	"                         the sent editions, one edition, their Atom feed\n"
	"Paths are answered bare and under newsletter.base_url's path. Owed\n"
	"confirmation mails are sent from here. SIGTERM or SIGINT stops it.\n";

static int serve_take(int c, const char *arg, void *ctx)
{
	struct serve_opts *o = ctx;
	if (c != 'l')
		return -1;
	o->listen = arg;
	return 0;
}

static int parse_serve(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"listen", required_argument, NULL, 'l'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	struct serve_opts *o = opts;
	if (command_opts(argc, argv, longopts, serve_usage, serve_take, o, code) < 0)
		return -1;
	char *host = NULL, *err = NULL;
	int port;
	if (o->listen && listen_parse(o->listen, &host, &port, &err) < 0) {
		usage_error(code, NULL, "serve: --listen %s", err);
		free(err);
		return -1;
	}
	free(host);
	return 0;
}

static int exec_serve(struct config *cfg, const void *opts)
{
	return serve_run(cfg, ((const struct serve_opts *)opts)->listen);
}

const struct command command_serve = {"serve", sizeof(struct serve_opts), parse_serve, exec_serve, false};
