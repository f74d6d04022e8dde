/* preflight: check-config's look at settings before the first real send. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpsl.h>

#include "digest/log.h"
#include "digest/preflight.h"
#include "digest/transport.h"
#include "digest/url.h"
#include "digest/util.h"

/* "PATH:LINE: KEY: ..." (LINE 0: the key is not set, its default is used). */
__attribute__((format(printf, 5, 6))) static void say(bool error, const struct config *cfg, int line,
						       const char *key, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	char where[32] = "";
	if (line > 0)
		snprintf(where, sizeof where, ":%d", line);
	if (error)
		log_error("%s%s: %s%s: %s", cfg->path, where, key, line > 0 ? "" : " (the default)", msg ? msg : fmt);
	else
		log_warn("%s%s: %s%s: %s", cfg->path, where, key, line > 0 ? "" : " (the default)", msg ? msg : fmt);
	free(msg);
}

/* The host of URL (lowercased, without brackets), malloc'd; NULL when none. */
static char *url_host(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return NULL;
	p += 3;
	size_t n = strcspn(p, "/?#");
	const char *at = memchr(p, '@', n);
	if (at) {
		n -= (size_t)(at + 1 - p);
		p = at + 1;
	}
	char *h;
	if (*p == '[') {
		const char *e = memchr(p, ']', n);
		h = xstrndup(p + 1, e ? (size_t)(e - p - 1) : n - 1);
	} else {
		h = xstrndup(p, strcspn(p, ":/?#") < n ? strcspn(p, ":/?#") : n);
	}
	for (char *c = h; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return h;
}

static bool is_localhost(const char *h)
{
	size_t n = strlen(h);
	return !strcasecmp(h, "localhost") || (n > 10 && !strcasecmp(h + n - 10, ".localhost")) ||
	       !strcasecmp(h, "localhost.localdomain");
}

static bool is_loopback_host(const char *h)
{
	return is_localhost(h) || !strncmp(h, "127.", 4) || !strcmp(h, "::1") || !strcmp(h, "0.0.0.0") ||
	       !strcmp(h, "::");
}

/* example.com, example.org, example.net and their subdomains (RFC 2606),
 * and the reserved .example, .test, .invalid top-level domains. */
static bool is_example(const char *h)
{
	static const char *const names[] = {"example.com", "example.org", "example.net", NULL};
	static const char *const tlds[] = {".example", ".test", ".invalid", NULL};
	size_t n = strlen(h);
	for (int i = 0; names[i]; i++) {
		size_t k = strlen(names[i]);
		if (!strcasecmp(h, names[i]) || (n > k && h[n - k - 1] == '.' && !strcasecmp(h + n - k, names[i])))
			return true;
	}
	for (int i = 0; tlds[i]; i++) {
		size_t k = strlen(tlds[i]);
		if ((n > k && !strcasecmp(h + n - k, tlds[i])) || !strcasecmp(h, tlds[i] + 1))
			return true;
	}
	return false;
}

/* The domain of the address in "Name <addr>" or "addr"; malloc'd. */
static char *from_domain(const char *from)
{
	const char *lt = strrchr(from, '<');
	const char *a = lt ? lt + 1 : from;
	size_t n = lt ? strcspn(a, ">") : strlen(a);
	const char *at = NULL;
	for (size_t i = 0; i < n; i++)
		if (a[i] == '@')
			at = a + i;
	if (!at)
		return xstrdup("");
	char *d = xstrndup(at + 1, n - (size_t)(at + 1 - a));
	for (char *c = d; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a');
	return d;
}

/* DMARC's relaxed alignment (RFC 7489 3.1.1): the From domain and d=
 * have one organizational domain, the registrable domain by the Public
 * Suffix List (libpsl: Debian's publicsuffix list, else its built-in
 * copy), so news.example.org and mail.example.org align and
 * example.co.uk and other.co.uk do not. A name the list gives none of (a
 * single label, an unknown suffix): aligned when From's domain is d= or
 * below it. */
static bool aligned(const char *from, const char *d)
{
	psl_ctx_t *latest = psl_latest(NULL);
	const psl_ctx_t *psl = latest ? latest : psl_builtin();
	const char *of = psl ? psl_registrable_domain(psl, from) : NULL;
	const char *od = psl ? psl_registrable_domain(psl, d) : NULL;
	bool ok;
	if (of && od) {
		ok = !strcasecmp(of, od);
	} else {
		size_t fn = strlen(from), dn = strlen(d);
		ok = !strcasecmp(from, d) || (fn > dn && from[fn - dn - 1] == '.' && !strcasecmp(from + fn - dn, d));
	}
	psl_free(latest);
	return ok;
}

/* The nearest directory of PATH that exists; malloc'd. */
static char *existing_dir(const char *path)
{
	char *d = path_dir(path);
	struct stat st;
	while (stat(d, &st) < 0 && strcmp(d, "/") && strcmp(d, ".")) {
		char *up = path_dir(d);
		free(d);
		d = up;
	}
	return d;
}

int preflight_check(const struct config *cfg, int *warnings)
{
	int errors = 0, warns = 0;
	const struct smtp_config *sm = &cfg->delivery.smtp;
	bool smtp = cfg->delivery.transport == TRANSPORT_SMTP;

	/* files a run needs */
	if (smtp && sm->username && *sm->username && sm->password_file && access(sm->password_file, R_OK) < 0) {
		say(true, cfg, cfg->at.password_file, "delivery.smtp.password_file", "%s: %s", sm->password_file,
		    strerror(errno));
		errors++;
	}
	const char *secret = cfg->newsletter.secret_file;
	if (access(secret, F_OK) == 0) {
		if (access(secret, R_OK) < 0) {
			say(true, cfg, cfg->at.secret_file, "newsletter.secret_file", "%s: %s", secret, strerror(errno));
			errors++;
		}
	} else {
		char *d = existing_dir(secret);
		struct stat st;
		if (stat(d, &st) < 0 || !S_ISDIR(st.st_mode) || access(d, W_OK | X_OK) < 0) {
			say(true, cfg, cfg->at.secret_file, "newsletter.secret_file",
			    "%s does not exist and cannot be created: %s is not a writable directory", secret, d);
			errors++;
		}
		free(d);
	}
	if (cfg->templates.dir_set && access(cfg->templates.dir, R_OK | X_OK) < 0) {
		say(true, cfg, cfg->at.templates_dir, "templates.dir", "%s: %s", cfg->templates.dir, strerror(errno));
		errors++;
	}
	if (!smtp) {
		*warnings = 0;
		return errors;
	}

	/* what makes real mail unusable */
	const char *base = cfg->newsletter.base_url;
	char *host = url_host(base);
	if (strncasecmp(base, "https://", 8)) {
		say(false, cfg, cfg->at.base_url, "newsletter.base_url",
		    "%s is not https: readers' unsubscribe and confirm links go unencrypted, and mail providers "
		    "distrust them", base);
		warns++;
	}
	if (host && is_loopback_host(host)) {
		say(false, cfg, cfg->at.base_url, "newsletter.base_url",
		    "%s points at this machine (%s): no reader can open its links", base, host);
		warns++;
	} else if (host && is_example(host)) {
		say(false, cfg, cfg->at.base_url, "newsletter.base_url", "%s is a reserved example domain (%s)", base,
		    host);
		warns++;
	}
	free(host);
	char *fd = from_domain(cfg->newsletter.from);
	if (is_localhost(fd)) {
		say(false, cfg, cfg->at.from, "newsletter.from",
		    "\"%s\" is on localhost: receivers refuse mail from a domain that does not exist", cfg->newsletter.from);
		warns++;
	}
	const char *lid = cfg->newsletter.list_id;
	if (is_localhost(lid)) {
		say(false, cfg, cfg->at.list_id, "newsletter.list_id", "\"%s\" is on localhost: name it under your domain",
		    lid);
		warns++;
	}
	char hn[256] = "";
	const char *helo = sm->helo;
	if (!helo) {
		if (gethostname(hn, sizeof hn - 1) < 0)
			hn[0] = '\0';
		helo = hn;
	}
	if (!strchr(helo, '.') || is_localhost(helo) || helo[strlen(helo) - 1] == '.') {
		say(false, cfg, cfg->at.helo, "delivery.smtp.helo",
		    "\"%s\" is not a fully qualified domain name: servers distrust such an EHLO (set helo to this "
		    "machine's name in DNS)", helo);
		warns++;
	}
	if (!cfg->dkim.domain) {
		log_warn("%s: dkim: no dkim block: messages go unsigned unless the relay signs them, and Gmail and "
			 "Yahoo refuse unsigned bulk mail (see digest dkim-keygen)", cfg->path);
		warns++;
	} else if (*fd && !aligned(fd, cfg->dkim.domain)) {
		say(false, cfg, cfg->at.dkim_domain, "dkim.domain",
		    "\"%s\" is not aligned with the From domain \"%s\": DMARC wants both under one registered domain",
		    cfg->dkim.domain, fd);
		warns++;
	}
	free(fd);
	*warnings = warns;
	return errors;
}

int preflight_connect(const struct config *cfg, char **report, int *why, char **err)
{
	*report = NULL;
	*why = 0;
	struct transport t;
	if (transport_init(&t, cfg, err) < 0) {
		*why = 3;
		return -1;
	}
	struct transport_conn c = {.t = &t};
	enum tx_refusal r = TX_REFUSED_NONE;
	int rc = transport_open(&c, &r, err);
	if (rc != TX_OK) {
		*why = rc == TX_FAIL ? (r == TX_REFUSED_LOGIN ? 1 : r == TX_REFUSED_CERTIFICATE ? 2 : 3) : 0;
		transport_close(&c);
		transport_done(&t);
		return -1;
	}
	struct buf b = {0};
	const struct smtp_config *sm = &cfg->delivery.smtp;
	if (cfg->delivery.transport == TRANSPORT_SMTP) {
		buf_addf(&b, "smtp %s:%d: connected", sm->host, sm->port);
		if (t.ops->describe) {
			buf_adds(&b, ", ");
			t.ops->describe(c.c, &b);
		}
		if (sm->security != SECURITY_NONE)
			buf_adds(&b, sm->tls_verify ? "; certificate verified" : "; certificate NOT verified (tls_verify = false)");
		buf_addf(&b, "; %s", sm->username && *sm->username ? "login accepted" : "no login configured");
		buf_adds(&b, "; nothing sent");
	} else {
		buf_addf(&b, "%s: the Maildir is writable", cfg->delivery.maildir);
	}
	transport_close(&c);
	transport_done(&t);
	*report = b.data;
	return 0;
}
