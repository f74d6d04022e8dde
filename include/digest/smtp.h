/* smtp: one client connection to an SMTP server, many messages on it:
 * replies read by a bounded reader of its own under a deadline per reply,
 * TLS by GnuTLS with certificates verified, and every reply classified by
 * what the caller should do next. */
#ifndef DIGEST_SMTP_H
#define DIGEST_SMTP_H

#include <stdbool.h>
#include <stddef.h>

enum smtp_security { SMTP_SEC_NONE, SMTP_SEC_STARTTLS, SMTP_SEC_TLS };

struct smtp_opts {
	const char *host;
	int port;
	enum smtp_security security;
	const char *username; /* NULL or "": no AUTH */
	const char *password; /* not copied, never logged */
	const char *helo;     /* EHLO name; NULL: the machine's host name */
	int timeout;          /* seconds: connecting, the TLS handshake, each whole reply,
			       * and a write that makes no progress */
	int data_timeout;     /* seconds for the reply to the final dot (0: 600, RFC 5321 4.5.3.2.6) */
	bool tls_verify;      /* verify the certificate chain and host name */
	const char *ca_file;  /* PEM trust list instead of the system CAs, or NULL */
};

/* What a failure means for the message or the connection. */
enum smtp_status {
	SMTP_OK = 0,
	SMTP_RETRY = 1, /* 4xx, timeout, refused or dropped connection: try again later */
	SMTP_FAIL = 2,  /* 5xx, or a refused certificate or login: do not retry */
	SMTP_MAYBE = 3, /* smtp_finish: the final dot went out, no reply came back
			 * within data_timeout: the message may have been delivered */
};

/* Why smtp_open refused for good (its SMTP_FAIL), which says what the
 * operator has to mend. */
enum smtp_refusal {
	SMTP_REFUSED_NONE,
	SMTP_REFUSED_LOGIN,       /* AUTH answered 5xx: the user name or the password */
	SMTP_REFUSED_CERTIFICATE, /* the server's certificate is not trusted for the host */
	SMTP_REFUSED_SERVER,      /* anything else: no STARTTLS, no usable AUTH, a 5xx greeting */
};

/* What a server may send, at most: a longer reply line or reply drops the
 * connection (SMTP_RETRY, the transaction deferred). */
#define SMTP_LINE_MAX 4096
#define SMTP_REPLY_BYTES_MAX 65536

#define SMTP_REPLY_MAX 256

struct smtp_conn;

/*
 * smtp_open: connect to O->host:O->port, read the greeting, EHLO (HELO
 * when EHLO is refused), STARTTLS or implicit TLS as O->security says,
 * check the certificate unless !O->tls_verify, and AUTH when a username
 * is set (refused before any password is sent when the connection is not
 * encrypted and the host is not loopback). Returns SMTP_OK and a
 * connection, or SMTP_RETRY / SMTP_FAIL with *ERR one line naming the
 * server and the step ("smtp 127.0.0.1:2525: STARTTLS: certificate: ...").
 * Its SMTP_FAIL is about the server or the configuration (certificate,
 * login, no STARTTLS, a 5xx greeting), never about a recipient: not a bounce.
 * Each address of the host gets O->timeout seconds to connect. *WHY (may
 * be NULL) says, for SMTP_FAIL, what was refused.
 */
int smtp_open(const struct smtp_opts *o, struct smtp_conn **out, enum smtp_refusal *why, char **err);
/* smtp_open_fd: smtp_open over FD, a socket already connected (its peer
 * taken for loopback), which the connection owns from now on, closed or
 * not: for the tests and the fuzzer, which play the server. */
int smtp_open_fd(int fd, const struct smtp_opts *o, struct smtp_conn **out, enum smtp_refusal *why, char **err);

/* smtp_describe: what C found, one line appended to OUT: the TLS version
 * and cipher (or "unencrypted"), and the extensions digest uses that the
 * server offers. */
struct buf;
void smtp_describe(const struct smtp_conn *c, struct buf *out);

/*
 * smtp_send: one transaction: MAIL FROM:<FROM>, RCPT TO:<RCPT>, DATA with
 * MSG (LEN bytes, CRLF line ends, not dot-stuffed); the three commands go
 * in one write when the server offers PIPELINING, and every reply is
 * still read and classified in order. REPLY receives the
 * server's last reply as one line ("250 2.0.0 Ok: queued", "451 4.3.0 ...",
 * or a description such as "connection lost" / "timeout (no reply in 30 s)").
 * Each reply must come whole within O->timeout seconds (the one to the
 * final dot within O->data_timeout), in lines of at most SMTP_LINE_MAX
 * bytes and SMTP_REPLY_BYTES_MAX in all: else the connection is dropped
 * and the status is SMTP_RETRY (SMTP_MAYBE after the final dot). After a
 * refused transaction the connection is reset (RSET) for the next one.
 * Returns SMTP_OK, SMTP_RETRY or SMTP_FAIL. An address longer than 254
 * bytes or with a control character, CR, LF, '<' or '>' is SMTP_FAIL
 * ("invalid recipient address") before anything is sent, and so is an
 * address with a non-ASCII byte when the server does not offer SMTPUTF8
 * (stage SMTP_STAGE_MESSAGE: not a bounce; with SMTPUTF8, MAIL FROM
 * carries the SMTPUTF8 parameter); FROM may be ""
 * (the null sender). MSG's own last line break ends the message: the
 * server saves MSG byte for byte (one is added when it has none).
 */
int smtp_send(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
	      char reply[SMTP_REPLY_MAX]);

/*
 * smtp_begin, smtp_finish: smtp_send in two halves. smtp_begin sends the
 * envelope (MAIL FROM, RCPT TO and DATA, in one write when the server
 * offers PIPELINING, RFC 2920), prepares the text as DATA carries it, and
 * returns SMTP_OK once the server waits for it (354): MSG may go then. A
 * server delivers nothing before the final dot, so the caller may make a
 * record durable meanwhile that the message is about to be; then
 * smtp_finish sends the text and its final dot in one write and returns
 * what smtp_send would, or smtp_abandon gives the message up (MSG is no
 * longer needed after smtp_begin). Any other status of
 * smtp_begin is smtp_send's, the connection ready for the next
 * transaction (or not usable). smtp_finish without a begun transaction
 * is SMTP_RETRY ("no transaction to finish").
 */
int smtp_begin(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
	       char reply[SMTP_REPLY_MAX]);
/* smtp_begin_flags: smtp_begin; with SMTP_CANONICAL in FLAGS, MSG is
 * taken for what DATA carries already (CRLF line ends only, no line that
 * begins with a dot), is not copied, and must stay as it is until
 * smtp_finish or smtp_abandon. */
#define SMTP_CANONICAL 1u
int smtp_begin_flags(struct smtp_conn *c, const char *from, const char *rcpt, const char *msg, size_t len,
		     unsigned flags, char reply[SMTP_REPLY_MAX]);
int smtp_finish(struct smtp_conn *c, char reply[SMTP_REPLY_MAX]);
/* smtp_finish_next: smtp_finish, and smtp_begin_flags of the next message
 * (FROM, RCPT, MSG, LEN, FLAGS: its status in *NEXT_ST, its reply in
 * NEXT_REPLY) with its envelope in the same write as the final dot when
 * the server offers PIPELINING (RFC 2920). The dot's reply comes first
 * and is what smtp_finish would return. */
int smtp_finish_next(struct smtp_conn *c, char reply[SMTP_REPLY_MAX], const char *from, const char *rcpt,
		     const char *msg, size_t len, unsigned flags, char next_reply[SMTP_REPLY_MAX], int *next_st);
/* smtp_abandon: end the transaction smtp_begin opened without delivering
 * its message: the server still reads message text, so the connection is
 * closed without a word (no final dot, no QUIT), and is not usable. Does
 * nothing when no transaction is open; NULL is fine. */
void smtp_abandon(struct smtp_conn *c);

/* Where the last smtp_send (or smtp_begin, smtp_finish) stopped, which says what a failure is about:
 * the sender (MAIL FROM, or the envelope sender itself: every message
 * would fail alike), the recipient (RCPT TO: a bounce), or the message
 * (DATA and its content). */
enum smtp_stage { SMTP_STAGE_SENDER, SMTP_STAGE_RECIPIENT, SMTP_STAGE_MESSAGE };
enum smtp_stage smtp_last_stage(const struct smtp_conn *c);

/* smtp_usable: whether C can take another transaction (false after an I/O
 * error, a timeout or a 421). */
bool smtp_usable(const struct smtp_conn *c);

/* smtp_close: QUIT when usable (smtp_abandon first when a transaction is
 * open), close and free; NULL is fine. */
void smtp_close(struct smtp_conn *c);

/* smtp_is_loopback: whether ADDR ("localhost", 127.0.0.0/8, ::1,
 * ::ffff:127.x.y.z) is a loopback host, one AUTH may be sent to in clear.
 * smtp_open asks it about the address it actually connected to. */
bool smtp_is_loopback(const char *addr);

/*
 * Threads: each connection belongs to one thread at a time; different
 * connections may be used at once from different threads without any
 * global initialisation. The program must ignore SIGPIPE (GnuTLS writes
 * with plain send()). Waits use poll(), only when a read or write would
 * block.
 */

#endif
