/* config: digest.conf (libconfig) loaded into plain structs: defaults,
 * types, ranges and choices as the one table of keys says
 * (config_table.h, src/config_table.c). The groups one module reads have
 * structs of their own (smtp_config, inbound_config, dkim_config,
 * fetch_config), which the module's code takes where it needs nothing
 * else (fetcher_new, dkim_load, inbound's mailbox readers). */
#ifndef DIGEST_CONFIG_H
#define DIGEST_CONFIG_H

#include <stdbool.h>

#include "digest/fetch.h" /* struct fetch_config */

/* SOURCE_FEED: RSS or Atom, whichever the document's root element says
 * (rss and atom read either too: their default selectors are chosen by the
 * root element; see extract_list). */
enum source_type { SOURCE_HTML, SOURCE_RSS, SOURCE_ATOM, SOURCE_FEED };

/* Bits of source.defaults: which selectors are the built-in ones of a feed,
 * filled in by config_load rather than written in digest.conf. */
#define SOURCE_DEFAULT_ITEM 1u
#define SOURCE_DEFAULT_LINK 2u
#define SOURCE_DEFAULT_FIELD(i) (4u << (i))

/* The closed sets of values digest.conf may give, as the keys' choices
 * (config_table.c) spell them, in that order. */
enum security { SECURITY_NONE, SECURITY_STARTTLS, SECURITY_TLS }; /* delivery.smtp, inbound */
enum transport_kind { TRANSPORT_SMTP, TRANSPORT_MAILDIR };      /* delivery.transport */
enum journal_sync { JOURNAL_SYNC_FULL, JOURNAL_SYNC_NORMAL };   /* delivery.journal_sync */
enum inbound_protocol { INBOUND_IMAP, INBOUND_POP3 };           /* inbound.protocol */
enum locale { LOCALE_EN, LOCALE_RU };                          /* newsletter.locale */

/* The name digest.conf gives VALUE of KEY's enum ("delivery.transport",
 * TRANSPORT_SMTP: "smtp"), for messages; "?" when there is none. */
const char *config_choice_name(const char *key, int value);

/* An article's fields, by name or by index (FIELD_*). */
enum field { FIELD_TITLE, FIELD_PUBLISHED, FIELD_VIEWS, FIELD_COMMENTS, FIELD_RATING, FIELD_SUMMARY,
	     FIELD_IMAGE, FIELD_COUNT };
#define FIELD_MEMBERS char *title, *published, *views, *comments, *rating, *summary, *image

/* The fields' names, as digest.conf spells them, by index; NULL after
 * the last. */
extern const char *const field_names[FIELD_COUNT + 1];

/* XPath 1.0 selectors for an article's fields; NULL when not configured. */
struct fields {
	union {
		struct {
			FIELD_MEMBERS;
		};
		char *v[FIELD_COUNT];
	};
};

struct source {
	char *name;
	enum source_type type;
	char *url;        /* absolute: http, https or file */
	char *next;       /* XPath of the next page's link, or NULL */
	int max_pages;    /* pages read following `next`, >= 1 */
	char *item;       /* XPath: one node per article */
	char *link;       /* XPath relative to the item */
	struct fields list;    /* relative to the item */
	bool follow;           /* open article pages for fields still missing */
	int max_follow;        /* article pages opened per run, at most */
	struct fields article; /* on the article page */
	char *date_format;     /* strptime format tried first, or NULL */
	int date_order;        /* PARSE_DMY or PARSE_MDY (date_order = "dmy" | "mdy") */
	char *language;        /* whose month names date_format's %B reads ("de"), or NULL */
	unsigned defaults;     /* SOURCE_DEFAULT_* bits: selectors digest.conf left to the feed reader */
};

struct smtp_config {
	char *host;
	int port;
	enum security security;
	char *username, *password_file, *helo;
	int timeout, connections, max_per_connection, rate_per_second, retries, max_bounces;
	int data_timeout;     /* seconds for the reply to the final dot */
	bool tls_verify;
	double retry_delay;   /* seconds before the first retry; doubled for each next */
	char *ca_file;        /* PEM trust list instead of the system's, or NULL */
	char *envelope_from;  /* MAIL FROM (where bounces go), or NULL: newsletter.from's address */
};

/* Mail that comes back (SPEC "What comes back"): inbound.c's options. */
struct inbound_config {
	enum inbound_protocol protocol;
	char *host;
	int port; /* from protocol and security unless set */
	enum security security;
	char *username, *password_file;
	char *folder, *processed_folder; /* imap only; processed_folder "" flags deleted */
	bool tls_verify;
	char *ca_file;
	int timeout;
	double bounce_threshold;
	int bounce_reset_days;
	bool set; /* digest.conf has an inbound block */
};

/* One DKIM signing key: dkim.keys.[i]. */
struct dkim_key_config {
	char *selector;
	char *key_file; /* resolved against the configuration's directory */
	int line;       /* where digest.conf sets it */
};

/* The dkim block: dkim.c's options. */
struct dkim_config {
	char *domain;                 /* d=; NULL: no dkim block, nothing is signed */
	struct dkim_key_config *keys; /* one DKIM-Signature each */
	int nkeys;
	int line; /* where the dkim block starts */
};

/* Where digest.conf sets a key (its line; 0: not set), for check-config's
 * warnings. */
struct config_lines {
	int from, base_url, list_id, secret_file, templates_dir, password_file, helo, dkim_domain;
};

struct config {
	char *path; /* as given */
	struct config_lines at;
	char *dir;  /* its directory: relative paths are resolved against it */
	struct {
		char *name, *from, *reply_to, *base_url, *list_id, *subject;
		char *timezone, *secret_file;
		enum locale locale;
		/* Feedback-ID's sender id (Gmail's feedback loop); NULL: the
		 * From domain; "": no Feedback-ID */
		char *feedback_id;
		int subject_line; /* where digest.conf sets the subject (0: the default) */
	} newsletter;
	struct {
		int max_articles, window_hours, summary_chars;
		long long min_views;
		bool send_empty;
	} digest;
	struct source *sources;
	int nsources;
	struct {
		char *dir;
		bool dir_set; /* given in digest.conf: no fallback to the built-in templates */
	} templates;
	struct {
		enum transport_kind transport;
		char *maildir;
		char *bounce_address; /* where bounces go (VERP's LOCAL@DOMAIN), or NULL: the envelope sender */
		struct smtp_config smtp;
		/* the journal's commits reach the disk before the next message
		 * goes ("full", the default), or only the OS (normal): a kill -9
		 * loses nothing either way; a power cut may repeat the messages
		 * of the last commits not yet synced */
		enum journal_sync journal_sync;
	} delivery;
	struct inbound_config inbound;
	struct {
		char *database;
	} storage;
	struct {
		char *listen;
		/* behind a reverse proxy on this machine: a loopback peer's
		 * client is the last X-Forwarded-For address */
		bool behind_proxy;
	} http;
	struct dkim_config dkim;
	struct fetch_config fetch;
};

/*
 * config_load: read and validate PATH. Every problem is reported on stderr
 * as one line "PATH:LINE: key: problem" (unknown keys as warnings).
 * Returns 0 and a config the caller frees with config_free, or -1 after at
 * least one error (then *OUT is NULL).
 */
int config_load(const char *path, struct config **out);

/* config_free: frees CFG and everything it owns; NULL is fine. */
void config_free(struct config *cfg);

/* config_apply_timezone: make the newsletter's zone the process's local
 * time (TZ), so that local-time parsing and printing use it. */
void config_apply_timezone(const struct config *cfg);

#endif
