/* inbound: reading mail that comes back and acting on it: one message,
 * a Maildir, or (libetpan) an IMAP or POP3 mailbox. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "digest/inbound.h"
#include "digest/log.h"
#include "digest/mime.h"
#include "digest/util.h"

int inbound_init(struct inbound *in, const struct config *cfg, struct store *st, char **err)
{
	memset(in, 0, sizeof *in);
	in->cfg = cfg;
	in->st = st;
	in->now = time(NULL);
	/* the bounce address as render works it out: bounce_address, else
	 * the envelope sender, else newsletter.from's address */
	const char *src = cfg->delivery.bounce_address     ? cfg->delivery.bounce_address
			  : cfg->delivery.smtp.envelope_from ? cfg->delivery.smtp.envelope_from
							     : cfg->newsletter.from;
	char *name = NULL, *addr = NULL;
	if (mime_parse_mailbox(src, &name, &addr, err) < 0)
		return -1;
	free(name);
	char *at = strrchr(addr, '@');
	if (at)
		*at = '\0';
	in->local = addr;
	if (token_key_load(cfg->newsletter.secret_file, in->key, err) < 0) {
		free(in->local);
		in->local = NULL;
		return -1;
	}
	store_bounce_policy(st, cfg->inbound.bounce_threshold, cfg->inbound.bounce_reset_days);
	return 0;
}

void inbound_done(struct inbound *in)
{
	explicit_bzero(in->key, sizeof in->key);
	free(in->local);
	in->local = NULL;
}

/* The key that makes processing idempotent. */
static void seen_key(const char *msg, size_t len, const struct dsn_result *r, char *out, size_t n)
{
	if (r->message_id[0]) {
		snprintf(out, n, "mid:%s", r->message_id);
		return;
	}
	unsigned char h[32];
	gnutls_hash_fast(GNUTLS_DIG_SHA256, msg, len, h);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	snprintf(out, n, "sha256:%s", hex);
}

/* Act on R within the caller's transaction: 0, or -1 with *ERR. */
static int act(struct inbound *in, struct dsn_result *r, char **err)
{
	struct subscriber sub = {0};
	int found = 0;
	unsigned day = 0;
	bool has_day = false;
	if (r->token_kind) {
		char prefix[17];
		if (!token_verp_check(in->key, r->token_kind, r->token, prefix, &day)) {
			/* forged or altered: never acted on */
			log_info("inbound: a %s token that does not check: treated as unknown", dsn_kind_name(r->kind));
			r->kind = DSN_UNKNOWN;
			return 0;
		}
		has_day = true;
		if (r->kind == DSN_AUTOREPLY)
			return 0; /* ignored: nobody to look up */
		found = store_subscriber_by_verp(in->st, prefix, &sub, err);
	} else if (r->kind == DSN_AUTOREPLY) {
		return 0;
	} else if (r->recipient[0]) {
		found = store_subscriber_get(in->st, r->recipient, &sub, err);
	}
	if (found < 0) {
		subscriber_clear(&sub);
		return -1;
	}
	char edition[11] = "";
	if (has_day && day > 0)
		token_day_edition(day, edition);
	struct bounce_rec b = {.subscriber = found ? sub.id : 0,
			       .address = found ? NULL : r->recipient,
			       .kind = dsn_kind_name(r->kind),
			       .source = "inbound",
			       .status = r->status,
			       .diagnostic = r->diagnostic,
			       .edition = edition};
	int rc = store_bounce_log(in->st, &b, (long long)in->now, err);
	if (rc == 0 && found) {
		switch (r->kind) {
		case DSN_BOUNCE_HARD:
		case DSN_BOUNCE_SOFT:
			if (has_day && day == 0) {
				/* a confirmation mail bounced: no more of them; an
				 * active reader's score is not its business */
				rc = store_optin_drop(in->st, sub.id, err);
			} else {
				bool became = false;
				rc = store_bounce_score(in->st, sub.id, r->kind == DSN_BOUNCE_HARD ? 1.0 : 0.5,
							(long long)in->now, &became, err);
				if (rc == 0 && became)
					log_info("%s: bouncing", sub.email);
			}
			break;
		case DSN_COMPLAINT:
		case DSN_UNSUBSCRIBE:
			rc = store_subscriber_transition(in->st, sub.id,
							 1u << SUB_PENDING | 1u << SUB_ACTIVE | 1u << SUB_BOUNCING,
							 SUB_UNSUBSCRIBED, (long long)in->now, err);
			if (rc > 0)
				log_info("%s: unsubscribed (%s)", sub.email, dsn_kind_name(r->kind));
			rc = rc < 0 ? -1 : 0;
			break;
		default:
			break;
		}
	}
	subscriber_clear(&sub);
	return rc;
}

int inbound_message(struct inbound *in, const char *msg, size_t len, struct dsn_result *res, char **err)
{
	struct dsn_result r;
	if (dsn_classify(msg, len, in->local, &r) < 0)
		return -1;
	if (r.kind != DSN_UNKNOWN) {
		char key[300];
		seen_key(msg, len, &r, key, sizeof key);
		if (store_begin(in->st, err) < 0)
			return -2;
		int seen = store_inbound_seen(in->st, key, err);
		int rc = seen < 0 ? -1 : seen ? 0 : act(in, &r, err);
		if (rc == 0 && !seen && r.kind != DSN_UNKNOWN)
			rc = store_inbound_mark(in->st, key, dsn_kind_name(r.kind), (long long)in->now, err);
		if (rc < 0 || store_commit(in->st, err) < 0) {
			store_rollback(in->st);
			return -2;
		}
		if (seen) {
			in->seen_before++;
			log_info("inbound: %s seen before: nothing done again", key);
		}
	}
	in->messages++;
	in->kinds[r.kind]++;
	if (res)
		*res = r;
	return (int)r.kind;
}

/* The file at PATH, at most INBOUND_MAX_MESSAGE bytes: 0, 1 when it is
 * larger, -1 with errno. */
static int read_file(const char *path, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	char chunk[65536];
	ssize_t k;
	int rc = 0;
	while ((k = read(fd, chunk, sizeof chunk)) > 0) {
		if (b->len + (size_t)k > INBOUND_MAX_MESSAGE) {
			rc = 1;
			break;
		}
		buf_add(b, chunk, (size_t)k);
	}
	if (k < 0)
		rc = -1;
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

static int sync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	close(fd);
	return rc;
}

/* One subdirectory (new or cur) of a Maildir. */
static int maildir_sub(struct inbound *in, const char *dir, const char *sub, char **err)
{
	char *path = xasprintf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	if (!d) {
		errf(err, "%s: not a Maildir: %s", dir, strerror(errno));
		free(path);
		return -1;
	}
	/* the names first: renaming while reading a directory may show a
	 * file twice */
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		const char *info = strstr(e->d_name, ":2,");
		if (!strcmp(sub, "cur") && info && strchr(info + 3, 'S'))
			continue; /* seen: processed before */
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = xrealloc(names, cap * sizeof *names);
		}
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	int rc = 0;
	bool moved = false;
	for (size_t i = 0; i < n; i++) {
		char *file = xasprintf("%s/%s", path, names[i]);
		struct buf b = {0};
		int r = read_file(file, &b);
		if (r != 0) {
			log_warn("%s: %s", file, r > 0 ? "too large for a bounce: left alone" : strerror(errno));
			free(file);
			buf_free(&b);
			continue;
		}
		int k = inbound_message(in, b.data ? b.data : "", b.len, NULL, err);
		buf_free(&b);
		if (k == -2) {
			free(file);
			rc = -2;
			break;
		}
		if (k == -1) {
			log_warn("%s: not a mail message: left alone", file);
			in->messages++;
			in->kinds[DSN_UNKNOWN]++;
		} else if (k != DSN_UNKNOWN) {
			/* acted on and committed: now out of the way */
			char base[1024];
			snprintf(base, sizeof base, "%s", names[i]);
			char *colon = strstr(base, ":2,");
			char *to;
			if (colon)
				to = xasprintf("%s/cur/%s%s", dir, base, strchr(colon + 3, 'S') ? "" : "S");
			else
				to = xasprintf("%s/cur/%s:2,S", dir, base);
			if (rename(file, to) < 0)
				log_warn("%s: cannot move to cur/: %s", file, strerror(errno));
			else
				moved = true;
			free(to);
		}
		free(file);
	}
	if (moved) {
		char *cur = xasprintf("%s/cur", dir);
		sync_dir(cur);
		sync_dir(path);
		free(cur);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(path);
	return rc;
}

int inbound_maildir(struct inbound *in, const char *dir, char **err)
{
	int rc = maildir_sub(in, dir, "new", err);
	if (rc == 0)
		rc = maildir_sub(in, dir, "cur", err);
	return rc;
}

void inbound_summary(const struct inbound *in, char *out, size_t n)
{
	snprintf(out, n,
		 "inbound: %lld message%s: %lld bounce-hard, %lld bounce-soft, %lld complaint, %lld unsubscribe, "
		 "%lld auto-reply, %lld unknown",
		 in->messages, in->messages == 1 ? "" : "s", in->kinds[DSN_BOUNCE_HARD], in->kinds[DSN_BOUNCE_SOFT],
		 in->kinds[DSN_COMPLAINT], in->kinds[DSN_UNSUBSCRIBE], in->kinds[DSN_AUTOREPLY],
		 in->kinds[DSN_UNKNOWN]);
}

int inbound_fetch(struct inbound *in, int *why, char **err)
{
	(void)in;
	*why = 78;
	return errf(err, "inbound --fetch: IMAP and POP3 are not built yet");
}
