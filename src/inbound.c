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
#include <ctype.h>
#include <gnutls/x509.h>
#include <libetpan/libetpan.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sysexits.h>
#include <unistd.h>

#include "digest/certcheck.h"
#include "digest/inbound.h"
#include "digest/log.h"
#include "digest/mime.h"
#include "digest/smtp.h"
#include "digest/subscription.h"
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
	/* what it means for the reader is the lifecycle's (subscription.c) */
	enum sub_event ev = SUB_EV_COUNT;
	switch (r->kind) {
	case DSN_BOUNCE_HARD:
	case DSN_BOUNCE_SOFT:
		/* a confirmation mail (day 0) that bounced stops the mails; an
		 * active reader's score is not its business */
		ev = has_day && day == 0		  ? SUB_EV_CONFIRM_BOUNCE
		     : r->kind == DSN_BOUNCE_HARD ? SUB_EV_BOUNCE_HARD
						  : SUB_EV_BOUNCE_SOFT;
		break;
	case DSN_COMPLAINT: ev = SUB_EV_COMPLAINT; break;
	case DSN_UNSUBSCRIBE: ev = SUB_EV_MAIL_UNSUBSCRIBE; break;
	default: break;
	}
	if (rc == 0 && found && ev != SUB_EV_COUNT) {
		/* leaving by mail is a step of the consent trail; bounces are not */
		static const struct consent_rec by_mail = {.client = "mail"};
		bool leaves = ev == SUB_EV_COMPLAINT || ev == SUB_EV_MAIL_UNSUBSCRIBE;
		struct sub_args a = {.ev = ev, .id = sub.id, .now = (long long)in->now,
				     .consent = leaves ? &by_mail : NULL};
		struct sub_result res;
		rc = subscription_apply(in->st, &a, &res, err);
		if (rc == 0 && res.from != res.to)
			log_info("%s: %s (%s)", sub.email, sub_status_name(res.to), dsn_kind_name(r->kind));
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
		fsync_dir(cur);
		fsync_dir(path);
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


/* ---- the inbound mailbox: IMAP or POP3 (libetpan) ---- */

/* The password of inbound.username: inbound.password_file, else
 * $DIGEST_INBOUND_PASSWORD; malloc'd. */
static int read_password(const struct config *cfg, char **out, char **err)
{
	*out = NULL;
	const char *env = getenv("DIGEST_INBOUND_PASSWORD");
	if (!cfg->inbound.password_file) {
		if (env) {
			*out = xstrdup(env);
			return 0;
		}
		return errf(err, "%s: inbound.username is set but neither inbound.password_file nor "
				 "$DIGEST_INBOUND_PASSWORD gives a password", cfg->path);
	}
	if (secret_file_line(cfg->inbound.password_file, "inbound.password_file", out, err) < 0)
		return -1;
	if (!**out) {
		free(*out);
		*out = NULL;
		return errf(err, "inbound.password_file: %s: empty", cfg->inbound.password_file);
	}
	return 0;
}

/* Whether every address HOST names is a loopback one. */
static bool host_loopback(const char *host)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	bool all = res != NULL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		char ip[INET6_ADDRSTRLEN] = "";
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, ip, sizeof ip, NULL, 0, NI_NUMERICHOST) != 0 ||
		    !smtp_is_loopback(ip))
			all = false;
	}
	freeaddrinfo(res);
	return all;
}

static void sni(struct mailstream_ssl_context *ctx, void *data)
{
	mailstream_ssl_set_server_name(ctx, data);
}

/* The chain STREAM's server sent, checked against the system CAs (or
 * CA_FILE) for HOST. 0, or -1 with *ERR. */
static int verify_chain(mailstream *stream, const char *where, const char *host, const char *ca_file, char **err)
{
	carray *peers = stream ? mailstream_get_certificate_chain(stream) : NULL;
	struct cert_der chain[CERTCHECK_MAX_CHAIN];
	unsigned n = 0;
	for (; peers && n < carray_count(peers) && n < CERTCHECK_MAX_CHAIN; n++) {
		MMAPString *der = carray_get(peers, n);
		chain[n] = (struct cert_der){(const unsigned char *)der->str, der->len};
	}
	int rc = certcheck_chain(chain, n, host, ca_file, where, err);
	if (peers)
		mailstream_certificate_chain_free(peers);
	return rc;
}

/* Whether K (inbound_message's result) is a message recognised and acted
 * on: only those are moved or deleted. */
static bool recognised(int k) { return k > DSN_UNKNOWN; }

static int fetch_imap(struct inbound *in, const char *where, const char *pass, int *why, char **err)
{
	const struct inbound_config *ic = &in->cfg->inbound;
	const char *host = ic->host;
	enum security sec = ic->security;
	mailimap *imap = mailimap_new(0, NULL);
	mailimap_set_timeout(imap, ic->timeout);
	int rc = -1, r;
	uint16_t port = (uint16_t)ic->port;
	clist *uids = NULL;
	if (sec == SECURITY_TLS)
		r = mailimap_ssl_connect_with_callback(imap, host, port, sni, (void *)host);
	else
		r = mailimap_socket_connect(imap, host, port);
	if (r != MAILIMAP_NO_ERROR && r != MAILIMAP_NO_ERROR_AUTHENTICATED && r != MAILIMAP_NO_ERROR_NON_AUTHENTICATED) {
		errf(err, "%s: cannot connect (libetpan error %d)", where, r);
		*why = EX_TEMPFAIL;
		goto out;
	}
	if (sec == SECURITY_STARTTLS &&
	    (r = mailimap_socket_starttls_with_callback(imap, sni, (void *)host)) != MAILIMAP_NO_ERROR) {
		errf(err, "%s: STARTTLS failed (libetpan error %d)", where, r);
		*why = EX_TEMPFAIL;
		goto out;
	}
	if (sec != SECURITY_NONE && ic->tls_verify &&
	    verify_chain(imap->imap_stream, where, host, ic->ca_file, err) < 0) {
		*why = EX_UNAVAILABLE;
		goto out;
	}
	if (mailimap_login(imap, ic->username, pass) != MAILIMAP_NO_ERROR) {
		errf(err, "%s: LOGIN refused for %s: check inbound.username and the password", where,
		     ic->username);
		*why = EX_NOPERM;
		goto out;
	}
	if ((r = mailimap_select(imap, ic->folder)) != MAILIMAP_NO_ERROR) {
		errf(err, "%s: SELECT %s failed: inbound.folder", where, ic->folder);
		*why = EX_CONFIG;
		goto out;
	}
	const char *done_folder = ic->processed_folder;
	if (*done_folder)
		mailimap_create(imap, done_folder); /* an error: it exists */
	/* MOVE (RFC 6851) only where the server offers it; else COPY, then
	 * \Deleted and EXPUNGE: of our messages alone with UIDPLUS's UID
	 * EXPUNGE (RFC 4315), which leaves what another client flagged */
	struct mailimap_capability_data *caps = NULL;
	if (mailimap_capability(imap, &caps) == MAILIMAP_NO_ERROR)
		mailimap_capability_data_free(caps);
	bool can_move = mailimap_has_extension(imap, "MOVE"), uidplus = mailimap_has_extension(imap, "UIDPLUS");
	if (*done_folder && !can_move)
		log_info("%s: no MOVE: recognised messages are copied to %s, flagged deleted and expunged", where,
			 done_folder);
	/* what earlier runs flagged deleted is not read again */
	struct mailimap_search_key *all =
		mailimap_search_key_new(MAILIMAP_SEARCH_KEY_UNDELETED, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
					NULL, NULL, NULL, NULL, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL, NULL, 0,
					NULL, NULL, NULL);
	r = mailimap_uid_search(imap, NULL, all, &uids);
	mailimap_search_key_free(all);
	if (r != MAILIMAP_NO_ERROR) {
		errf(err, "%s: SEARCH failed (libetpan error %d)", where, r);
		*why = EX_TEMPFAIL;
		goto out;
	}
	bool flagged = false;
	struct mailimap_set *deleted = mailimap_set_new_empty(); /* the UIDs we flagged */
	rc = 0;
	for (clistiter *it = clist_begin(uids); it && rc == 0; it = clist_next(it)) {
		uint32_t uid = *(uint32_t *)clist_content(it);
		struct mailimap_set *set = mailimap_set_new_single(uid);
		struct mailimap_fetch_type *ft = mailimap_fetch_type_new_fetch_att_list_empty();
		mailimap_fetch_type_new_fetch_att_list_add(ft, mailimap_fetch_att_new_uid());
		mailimap_fetch_type_new_fetch_att_list_add(
			ft, mailimap_fetch_att_new_body_peek_section(mailimap_section_new(NULL)));
		clist *res = NULL;
		r = mailimap_uid_fetch(imap, set, ft, &res);
		mailimap_fetch_type_free(ft);
		if (r != MAILIMAP_NO_ERROR) {
			mailimap_set_free(set);
			errf(err, "%s: FETCH failed (libetpan error %d)", where, r);
			*why = EX_TEMPFAIL;
			rc = -1;
			break;
		}
		const char *body = NULL;
		size_t blen = 0;
		for (clistiter *m = clist_begin(res); m; m = clist_next(m)) {
			struct mailimap_msg_att *att = clist_content(m);
			for (clistiter *a = clist_begin(att->att_list); a; a = clist_next(a)) {
				struct mailimap_msg_att_item *item = clist_content(a);
				if (item->att_type == MAILIMAP_MSG_ATT_ITEM_STATIC &&
				    item->att_data.att_static->att_type == MAILIMAP_MSG_ATT_BODY_SECTION) {
					body = item->att_data.att_static->att_data.att_body_section->sec_body_part;
					blen = item->att_data.att_static->att_data.att_body_section->sec_length;
				}
			}
		}
		int k = body && blen <= INBOUND_MAX_MESSAGE ? inbound_message(in, body, blen, NULL, err) : -1;
		mailimap_fetch_list_free(res);
		if (k == -1) {
			log_warn("%s: message UID %u is not mail: left alone", where, uid);
			in->messages++;
			in->kinds[DSN_UNKNOWN]++;
		} else if (k == -2) {
			rc = -2;
		} else if (recognised(k)) {
			/* acted on and committed: out of the folder */
			bool moved = false;
			if (*done_folder) {
				moved = can_move && mailimap_uid_move(imap, set, done_folder) == MAILIMAP_NO_ERROR;
				if (!moved && mailimap_uid_copy(imap, set, done_folder) != MAILIMAP_NO_ERROR) {
					log_warn("%s: cannot copy UID %u to %s: left in place", where, uid, done_folder);
					mailimap_set_free(set);
					continue;
				}
			}
			if (!moved) {
				struct mailimap_flag_list *fl = mailimap_flag_list_new_empty();
				mailimap_flag_list_add(fl, mailimap_flag_new_deleted());
				struct mailimap_store_att_flags *sf = mailimap_store_att_flags_new_add_flags_silent(fl);
				if (mailimap_uid_store(imap, set, sf) == MAILIMAP_NO_ERROR) {
					flagged = true;
					mailimap_set_add_single(deleted, uid);
				}
				mailimap_store_att_flags_free(sf);
			}
		}
		mailimap_set_free(set);
	}
	if (flagged && *done_folder &&
	    (uidplus ? mailimap_uid_expunge(imap, deleted) : mailimap_expunge(imap)) != MAILIMAP_NO_ERROR)
		log_warn("%s: EXPUNGE failed", where);
	mailimap_set_free(deleted);
	mailimap_logout(imap);
out:
	if (uids)
		mailimap_search_result_free(uids);
	mailimap_free(imap);
	return rc;
}

static int fetch_pop3(struct inbound *in, const char *where, const char *pass, int *why, char **err)
{
	const struct inbound_config *ic = &in->cfg->inbound;
	const char *host = ic->host;
	enum security sec = ic->security;
	mailpop3 *pop = mailpop3_new(0, NULL);
	mailpop3_set_timeout(pop, ic->timeout);
	int rc = -1, r;
	uint16_t port = (uint16_t)ic->port;
	if (sec == SECURITY_TLS)
		r = mailpop3_ssl_connect_with_callback(pop, host, port, sni, (void *)host);
	else
		r = mailpop3_socket_connect(pop, host, port);
	if (r != MAILPOP3_NO_ERROR) {
		errf(err, "%s: cannot connect (libetpan error %d)", where, r);
		*why = EX_TEMPFAIL;
		goto out;
	}
	if (sec == SECURITY_STARTTLS &&
	    (r = mailpop3_socket_starttls_with_callback(pop, sni, (void *)host)) != MAILPOP3_NO_ERROR) {
		errf(err, "%s: STLS failed (libetpan error %d)", where, r);
		*why = EX_TEMPFAIL;
		goto out;
	}
	if (sec != SECURITY_NONE && ic->tls_verify &&
	    verify_chain(pop->pop3_stream, where, host, ic->ca_file, err) < 0) {
		*why = EX_UNAVAILABLE;
		goto out;
	}
	if (mailpop3_user(pop, ic->username) != MAILPOP3_NO_ERROR ||
	    mailpop3_pass(pop, pass) != MAILPOP3_NO_ERROR) {
		errf(err, "%s: login refused for %s: check inbound.username and the password", where,
		     ic->username);
		*why = EX_NOPERM;
		goto out;
	}
	carray *list = NULL;
	if ((r = mailpop3_list(pop, &list)) != MAILPOP3_NO_ERROR) {
		errf(err, "%s: LIST failed (libetpan error %d)", where, r);
		*why = EX_TEMPFAIL;
		goto out;
	}
	rc = 0;
	for (unsigned i = 0; list && i < carray_count(list) && rc == 0; i++) {
		struct mailpop3_msg_info *info = carray_get(list, i);
		if (!info || info->msg_deleted)
			continue;
		if (info->msg_size > INBOUND_MAX_MESSAGE) {
			log_warn("%s: message %u too large for a bounce: left alone", where, info->msg_index);
			continue;
		}
		char *msg = NULL;
		size_t len = 0;
		if ((r = mailpop3_retr(pop, info->msg_index, &msg, &len)) != MAILPOP3_NO_ERROR) {
			errf(err, "%s: RETR failed (libetpan error %d)", where, r);
			*why = EX_TEMPFAIL;
			rc = -1;
			break;
		}
		int k = inbound_message(in, msg, len, NULL, err);
		mailpop3_retr_free(msg);
		if (k == -1) {
			log_warn("%s: message %u is not mail: left alone", where, info->msg_index);
			in->messages++;
			in->kinds[DSN_UNKNOWN]++;
		} else if (k == -2) {
			rc = -2;
		} else if (recognised(k) && mailpop3_dele(pop, info->msg_index) != MAILPOP3_NO_ERROR) {
			log_warn("%s: cannot delete message %u", where, info->msg_index);
		}
	}
	/* QUIT commits the deletions: a crash before leaves every message */
	if (rc == 0)
		mailpop3_quit(pop);
out:
	mailpop3_free(pop);
	return rc;
}

int inbound_fetch(struct inbound *in, int *why, char **err)
{
	const struct config *cfg = in->cfg;
	*why = EX_CONFIG;
	if (!cfg->inbound.host)
		return errf(err, "%s: inbound.host: --fetch needs a host", cfg->path);
	if (!cfg->inbound.username)
		return errf(err, "%s: inbound.username: --fetch needs a user name", cfg->path);
	if (cfg->inbound.security == SECURITY_NONE && !host_loopback(cfg->inbound.host))
		return errf(err, "%s: inbound.security: not sending the password unencrypted to %s, which is not "
				 "loopback (security = \"starttls\" or \"tls\")",
			    cfg->path, cfg->inbound.host);
	char *pass = NULL;
	if (read_password(cfg, &pass, err) < 0)
		return -1;
	char where[300];
	snprintf(where, sizeof where, "%s %s:%d", config_choice_name("inbound.protocol", (int)cfg->inbound.protocol),
		 cfg->inbound.host, cfg->inbound.port);
	struct timeval saved = mailstream_network_delay;
	mailstream_network_delay.tv_sec = cfg->inbound.timeout;
	mailstream_network_delay.tv_usec = 0;
	int rc = cfg->inbound.protocol == INBOUND_POP3 ? fetch_pop3(in, where, pass, why, err)
							: fetch_imap(in, where, pass, why, err);
	mailstream_network_delay = saved;
	explicit_bzero(pass, strlen(pass));
	free(pass);
	return rc;
}
