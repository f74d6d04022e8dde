/* transport: the table of transports and what every one of them shares
 * (the count of messages per connection, a message sent alone). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "digest/transport.h"
#include "digest/util.h"

/* Every transport delivery.transport may name, by its value. */
static const struct transport_ops *const transports[] = {
	[TRANSPORT_SMTP] = &smtp_transport,
	[TRANSPORT_MAILDIR] = &maildir_transport,
};

int transport_init(struct transport *t, const struct config *cfg, char **err)
{
	memset(t, 0, sizeof *t);
	size_t i = (size_t)cfg->delivery.transport;
	if (i >= ARRAY_LEN(transports) || !transports[i])
		return errf(err, "delivery.transport: no transport %zu", i);
	t->ops = transports[i];
	/* a Maildir is written one file at a time */
	t->connections = t->ops == &maildir_transport ? 1 : cfg->delivery.smtp.connections;
	t->max_per_connection = cfg->delivery.smtp.max_per_connection;
	return t->ops->init(cfg, &t->state, err);
}

void transport_init_ops(struct transport *t, const struct transport_ops *ops, void *state, int connections,
			int max_per_connection)
{
	t->ops = ops;
	t->state = state;
	t->connections = connections;
	t->max_per_connection = max_per_connection;
}

void transport_done(struct transport *t)
{
	if (t->ops && t->ops->done)
		t->ops->done(t->state);
	t->state = NULL;
}

bool transport_ready(const struct transport_conn *c)
{
	return c->c && c->t->ops->usable(c->c) && c->sent < c->t->max_per_connection;
}

int transport_open(struct transport_conn *c, enum tx_refusal *why, char **err)
{
	transport_close(c);
	*why = TX_REFUSED_NONE;
	return c->t->ops->open(c->t->state, &c->c, why, err);
}

int transport_begin(struct transport_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
		    unsigned flags, struct tx_result *res)
{
	c->sent++;
	res->reply[0] = '\0';
	res->about = TX_ABOUT_MESSAGE;
	res->status = c->t->ops->begin(c->c, from, rcpt, msg, len, flags, res);
	return res->status;
}

int transport_finish(struct transport_conn *c, const char *msg, size_t len, struct tx_result *res)
{
	res->reply[0] = '\0';
	res->about = TX_ABOUT_MESSAGE;
	res->status = c->t->ops->finish(c->c, msg, len, res);
	return res->status;
}

int transport_finish_next(struct transport_conn *c, const char *msg, size_t len, struct tx_result *res,
			  const char *from, const char *rcpt, const char *next, size_t next_len, unsigned flags,
			  struct tx_result *next_res)
{
	if (!c->t->ops->finish_next) {
		int rc = transport_finish(c, msg, len, res);
		if (transport_ready(c)) {
			transport_begin(c, from, rcpt, next, next_len, flags, next_res);
		} else {
			next_res->status = TX_RETRY;
			next_res->about = TX_ABOUT_MESSAGE;
			snprintf(next_res->reply, sizeof next_res->reply, "connection not usable");
		}
		return rc;
	}
	c->sent++;
	res->reply[0] = next_res->reply[0] = '\0';
	res->about = next_res->about = TX_ABOUT_MESSAGE;
	c->t->ops->finish_next(c->c, msg, len, res, from, rcpt, next, next_len, flags, next_res);
	return res->status;
}

void transport_abandon(struct transport_conn *c)
{
	if (c->c)
		c->t->ops->abandon(c->c);
}

void transport_close(struct transport_conn *c)
{
	if (c->c)
		c->t->ops->close(c->c);
	c->c = NULL;
	c->sent = 0;
}

int transport_send_one(const struct config *cfg, const char *from, const char *rcpt, const char *msg, size_t len,
		       enum tx_refusal *why, char **err)
{
	struct transport t;
	*why = TX_REFUSED_NONE;
	if (transport_init(&t, cfg, err) < 0)
		return TX_RETRY;
	struct transport_conn c = {.t = &t};
	struct tx_result res = {0};
	int rc = transport_open(&c, why, err);
	if (rc == TX_FAIL) {
		rc = TX_RETRY; /* the server refusing us is a matter for later */
	} else if (rc == TX_OK) {
		rc = transport_begin(&c, from, rcpt, msg, len, 0, &res);
		if (rc == TX_OK)
			rc = transport_finish(&c, msg, len, &res);
		if (rc == TX_FAIL && res.about == TX_ABOUT_SENDER) {
			*why = TX_REFUSED_SERVER;
			rc = TX_RETRY;
		}
		if (rc != TX_OK)
			errf(err, "%s: %s", rcpt, res.reply);
	}
	transport_close(&c);
	transport_done(&t);
	return rc;
}
