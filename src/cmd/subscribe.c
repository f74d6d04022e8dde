/* cmd/subscribe: `digest subscribe ADDR` and `digest unsubscribe ADDR`:
 * one reader's lifecycle event from the command line (subscription.c). */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sysexits.h>
#include <time.h>

#include "cmd.h"
#include "digest/address.h"
#include "digest/log.h"
#include "digest/optin.h"
#include "digest/render.h"
#include "digest/subscriber.h"
#include "digest/subscription.h"

static const char subscribe_usage[] =
	"usage: digest subscribe ADDR [--name NAME] [--confirmed]\n"
	"\n"
	"Add a subscriber: pending, and sent the confirmation mail (again, when\n"
	"pending already); an address that had left is asked to confirm anew.\n"
	"--confirmed makes it active at once, without a mail.\n"
	"exit: 0 done, 65 a bad address, 69 the server refused the address, 75 the\n"
	"mail was deferred (`digest serve` tries again), 78 a template error\n";

static const char unsubscribe_usage[] =
	"usage: digest unsubscribe ADDR\n"
	"\n"
	"Stop sending to ADDR; it stays known as unsubscribed and is never re-added\n"
	"by an import without --resubscribe.\n";

struct subscribe_opts {
	const char *addr, *name;
	int confirmed;
};

static int subscribe_take(int c, const char *arg, void *ctx)
{
	struct subscribe_opts *o = ctx;
	switch (c) {
	case 1:
		if (o->addr)
			return -1;
		o->addr = arg;
		break;
	case 'n': o->name = arg; break;
	case 'C': o->confirmed = 1; break;
	default: return -1;
	}
	return 0;
}

/* ADDR and LONGOPTS, nothing else. */
static int parse_addr(int argc, char **argv, const struct option *longopts, const char *usage, void *opts,
		      int *code)
{
	struct subscribe_opts *o = opts;
	if (command_opts(argc, argv, longopts, usage, subscribe_take, o, code) < 0)
		return -1;
	if (!o->addr)
		return usage_error(code, usage, "%s: the address is missing", argv[0]);
	return 0;
}

static int parse_subscribe(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"name", required_argument, NULL, 'n'},
						 {"confirmed", no_argument, NULL, 'C'},
						 {"help", no_argument, NULL, 'h'},
						 {NULL, 0, NULL, 0}};
	return parse_addr(argc, argv, longopts, subscribe_usage, opts, code);
}

static int parse_unsubscribe(int argc, char **argv, void *opts, int *code)
{
	static const struct option longopts[] = {{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	return parse_addr(argc, argv, longopts, unsubscribe_usage, opts, code);
}

static int subscribe_optin(struct config *cfg, struct store *st, const char *addr, const char *name)
{
	char *err = NULL;
	time_t now = time(NULL);
	/* Whoever runs this command asks on the reader's behalf: a mail goes
	 * out however recently the last did. */
	static const struct consent_rec proof = {.event = "request", .client = "cli"};
	struct sub_args ev = {.ev = SUB_EV_REQUEST, .email = addr, .name = name, .now = (long long)now,
			      .consent = &proof};
	struct sub_result res;
	if (subscription_event(st, &ev, &res, &err) < 0) {
		log_error("%s", err);
		free(err);
		return db_failed(st);
	}
	if (res.outcome == SUB_ALREADY_ACTIVE) {
		printf("%s: active\n", addr);
		return EX_OK;
	}
	struct render *r = NULL;
	if (render_load(cfg, true, &r, &err) < 0 || render_load_confirm(r, &err) < 0) {
		log_error("%s; the confirmation mail waits for `digest serve`", err);
		free(err);
		render_free(r);
		return EX_CONFIG;
	}
	struct subscriber sub = {0};
	struct optin_stats os = {0};
	int rc = EX_OK;
	if (store_subscriber_get(st, addr, &sub, &err) != 1 ||
	    optin_send_one(cfg, st, r, &sub, now, &os, &err) < 0) {
		log_error("%s", err ? err : "subscriber vanished");
		rc = db_failed(st);
	} else {
		const char *st_name = sub_status_name(sub.status);
		const char *then = sub.status == SUB_PENDING ? "" : " (subscribed again once confirmed)";
		if (os.sent) {
			printf("%s: %s; confirmation mail sent%s\n", addr, st_name, then);
		} else if (os.deferred) {
			printf("%s: %s; confirmation mail deferred (`digest serve` tries again)\n", addr, st_name);
			rc = EX_TEMPFAIL;
		} else if (os.failed && !address_local_ascii(sub.email)) {
			/* refused by digest's own check, or the server's lack of
			 * SMTPUTF8: not the recipient's fault, nor a refusal */
			printf("%s: %s; confirmation mail not sent: a non-ASCII local part needs a server with "
			       "SMTPUTF8\n", addr, st_name);
			rc = EX_UNAVAILABLE;
		} else if (os.failed) {
			printf("%s: %s; confirmation mail refused by the server\n", addr, st_name);
			rc = EX_UNAVAILABLE;
		} else {
			printf("%s: %s; confirmation mail already on its way\n", addr, st_name);
		}
	}
	subscriber_clear(&sub);
	render_free(r);
	free(err);
	return rc;
}

/* ADDR as subscribe and unsubscribe take it (address_accept: an IDN
 * domain must be a valid IDNA name); malloc'd, or NULL after an error
 * line naming CMD. */
static char *command_address(const char *cmd, const char *addr)
{
	char *why = NULL;
	char *norm = address_accept(addr, NULL, &why);
	if (!norm)
		log_error("%s: %s: %s", cmd, addr, why ? why : "invalid address");
	free(why);
	return norm;
}

static int exec_subscribe(struct config *cfg, const void *opts)
{
	const struct subscribe_opts o = *(const struct subscribe_opts *)opts;
	char *err = NULL;
	char *addr = command_address("subscribe", o.addr);
	if (!addr)
		return EX_DATAERR;
	char *name = o.name ? name_clean(o.name) : NULL;
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc == EX_OK && !o.confirmed) {
		rc = subscribe_optin(cfg, st, addr, name);
	} else if (rc == EX_OK) {
		static const struct consent_rec proof = {.event = "subscribe-confirmed", .client = "cli"};
		struct sub_args ev = {.ev = SUB_EV_RESUBSCRIBE + SUB_ACTIVE, .email = addr, .name = name,
				      .now = (long long)time(NULL), .consent = &proof};
		struct sub_result res;
		if (subscription_event(st, &ev, &res, &err) < 0) {
			log_error("%s", err);
			rc = db_failed(st);
		} else {
			printf("%s: active\n", addr);
		}
	}
	store_close(st);
	free(addr);
	free(name);
	free(err);
	return rc;
}

static int exec_unsubscribe(struct config *cfg, const void *opts)
{
	char *err = NULL;
	char *addr = command_address("unsubscribe", ((const struct subscribe_opts *)opts)->addr);
	if (!addr)
		return EX_DATAERR;
	struct store *st = NULL;
	int rc = open_store(cfg, &st);
	if (rc == EX_OK) {
		static const struct consent_rec proof = {.event = "unsubscribe", .client = "cli"};
		struct sub_args ev = {.ev = SUB_EV_UNSUBSCRIBE, .email = addr, .now = (long long)time(NULL),
				      .consent = &proof};
		struct sub_result res;
		if (subscription_event(st, &ev, &res, &err) < 0) {
			log_error("%s", err);
			rc = db_failed(st);
		} else if (res.outcome == SUB_NONE) {
			log_error("unsubscribe: %s is not a subscriber", addr);
			rc = EX_DATAERR;
		} else {
			printf("%s: unsubscribed\n", addr);
		}
	}
	store_close(st);
	free(addr);
	free(err);
	return rc;
}

const struct command command_subscribe = {"subscribe", sizeof(struct subscribe_opts), parse_subscribe, exec_subscribe,
					   false};
const struct command command_unsubscribe = {"unsubscribe", sizeof(struct subscribe_opts), parse_unsubscribe,
					     exec_unsubscribe, false};
