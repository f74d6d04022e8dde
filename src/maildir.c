/* maildir: messages delivered as files into a Maildir. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest/log.h"
#include "digest/maildir.h"
#include "digest/transport.h"
#include "digest/util.h"

static atomic_ulong counter;

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w == 0)
			errno = ENOSPC;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int maildir_deliver(const char *dir, const char *msg, size_t len, char *name, char **err)
{
	return maildir_deliver_from(dir, NULL, msg, len, name, err);
}

int maildir_deliver_from(const char *dir, const char *return_path, const char *msg, size_t len, char *name,
			 char **err)
{
	static const char *const subs[] = {"tmp", "new", "cur"};
	char path[4096];
	for (size_t i = 0; i < 3; i++) {
		snprintf(path, sizeof path, "%s/%s", dir, subs[i]);
		if (mkdir_p(path, 0700) < 0)
			return errf(err, "maildir %s: cannot create %s: %s", dir, path, strerror(errno));
	}
	/* The unique name of Maildir's convention: time, then a part that is
	 * unique on this host (pid, counter, random), then the host. */
	char host[256] = "localhost";
	gethostname(host, sizeof host - 1);
	for (char *h = host; *h; h++)
		if (*h == '/' || *h == ':')
			*h = '_';
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	unsigned r;
	random_bytes(&r, sizeof r);
	char base[512];
	snprintf(base, sizeof base, "%lld.M%ldP%ldQ%luR%08x.%s", (long long)ts.tv_sec, ts.tv_nsec / 1000,
		 (long)getpid(), (unsigned long)atomic_fetch_add(&counter, 1) + 1, r, host);
	char tmp[4096 + 600], fin[4096 + 600];
	snprintf(tmp, sizeof tmp, "%s/tmp/%s", dir, base);
	snprintf(fin, sizeof fin, "%s/new/%s", dir, base);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return errf(err, "maildir %s: cannot create %s: %s", dir, tmp, strerror(errno));
	/* CRLF to LF, in chunks. */
	char out[16384];
	size_t o = 0;
	int rc = 0;
	if (return_path) {
		/* as a delivery agent writes the envelope sender: first line */
		char *rp = xasprintf("Return-Path: <%s>\n", return_path);
		rc = write_all(fd, rp, strlen(rp));
		free(rp);
	}
	for (size_t i = 0; i < len && rc == 0; i++) {
		if (msg[i] == '\r' && i + 1 < len && msg[i + 1] == '\n')
			continue;
		out[o++] = msg[i];
		if (o == sizeof out) {
			rc = write_all(fd, out, o);
			o = 0;
		}
	}
	if (rc == 0)
		rc = write_all(fd, out, o);
	int e = errno;
	if (rc == 0 && fsync(fd) < 0) {
		rc = -1;
		e = errno;
	}
	if (close(fd) < 0 && rc == 0) {
		rc = -1;
		e = errno;
	}
	if (rc == 0 && rename(tmp, fin) < 0) {
		rc = -1;
		e = errno;
	}
	if (rc < 0) {
		unlink(tmp);
		return errf(err, "maildir %s: cannot write %s: %s", dir, base, strerror(e));
	}
	/* The message is in new/: delivered, whatever the sync says (an error
	 * here must not make it sent twice). */
	snprintf(path, sizeof path, "%s/new", dir);
	if (fsync_dir(path) < 0)
		log_warn("maildir %s: cannot sync new/: %s", dir, strerror(errno));
	if (name)
		snprintf(name, 512, "%s", base);
	return 0;
}

/* ---- the maildir transport (transport.h): one "connection", the
 * directory; a message is handed over when it is renamed into new/ ---- */

static int tx_init(const struct config *cfg, void **state, char **err)
{
	(void)err;
	*state = xstrdup(cfg->delivery.maildir);
	return 0;
}

static void tx_done(void *state) { free(state); }

/* One connection: the directory, and the envelope sender of the message
 * begun. */
struct mconn {
	const char *dir;
	char *from;
};

static int tx_open(void *state, void **conn, enum tx_refusal *why, char **err)
{
	(void)why;
	(void)err;
	struct mconn *c = xcalloc(1, sizeof *c);
	c->dir = state;
	*conn = c;
	return TX_OK;
}

static int tx_begin(void *conn, const char *from, const char *rcpt, const char *msg, size_t len,
		    unsigned flags, struct tx_result *res)
{
	(void)rcpt, (void)msg, (void)len, (void)flags, (void)res;
	struct mconn *c = conn;
	free(c->from);
	c->from = from ? xstrdup(from) : NULL;
	return TX_OK;
}

static int tx_finish(void *conn, const char *msg, size_t len, struct tx_result *res)
{
	char name[512], *err = NULL;
	struct mconn *c = conn;
	if (maildir_deliver_from(c->dir, c->from ? c->from : "", msg, len, name, &err) < 0) {
		snprintf(res->reply, sizeof res->reply, "%s", err);
		free(err);
		return TX_RETRY; /* a full disk is a reason to try again later */
	}
	snprintf(res->reply, sizeof res->reply, "maildir new/%.200s", name);
	return TX_OK;
}

static void tx_abandon(void *conn) { (void)conn; }
static bool tx_usable(const void *conn) { return conn != NULL; }
static void tx_close(void *conn)
{
	struct mconn *c = conn;
	if (c)
		free(c->from);
	free(c);
}

const struct transport_ops maildir_transport = {
	.name = "maildir",
	.init = tx_init,
	.done = tx_done,
	.open = tx_open,
	.begin = tx_begin,
	.finish = tx_finish,
	.abandon = tx_abandon,
	.usable = tx_usable,
	.close = tx_close,
};
