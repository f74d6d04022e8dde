/* mime: the edition's message, built once with libetpan's MIME writer and
 * spliced per reader; RFC 2047 words, quoted-printable, dates, addresses. */
#ifndef DIGEST_MIME_H
#define DIGEST_MIME_H

#include <stddef.h>
#include <time.h>

#include "digest/template.h"
#include "digest/util.h"

/* The personal values of one message, by slot number (TV_SLOT). */
enum mime_slot {
	SLOT_NAME,            /* subscriber.name, may be NULL */
	SLOT_EMAIL,           /* subscriber.email */
	SLOT_UNSUBSCRIBE_URL, /* unsubscribe_url */
	SLOT_MESSAGE_ID,      /* the left part of the Message-ID: stable per reader and edition */
	SLOT_UNSUBSCRIBE_MAILTO, /* the personal mailto unsubscribe address, or NULL: the skeleton's */
	SLOT_COUNT
};

/* mime_base64: N octets at P as base64 (RFC 4648, with padding, no line
 * breaks), appended to OUT. */
void mime_base64(struct buf *out, const unsigned char *p, size_t n);

/* mime_qp: append S (LEN bytes, "\n" or "\r\n" line ends) to OUT as
 * quoted-printable (RFC 2045): CRLF line ends, soft breaks keep lines at
 * most 76 octets, "=", controls, non-ASCII, trailing blanks and a line
 * starting "From " encoded. A last line without "\n" gets none. */
void mime_qp(struct buf *out, const char *s, size_t len);

/* mime_word: append S (UTF-8) as header text: as is when it is printable
 * ASCII without "=?", else as RFC 2047 "=?UTF-8?B?...?=" words of whole
 * characters (each at most 60 octets) separated by single spaces. */
void mime_word(struct buf *out, const char *s);

/* mime_phrase: append NAME as a header phrase (a display name): as it is
 * when it is atoms, a quoted string when it is other ASCII, else RFC 2047
 * words. */
void mime_phrase(struct buf *out, const char *name);

/* mime_mailbox: append "NAME <ADDR>" with NAME as an atom phrase, a quoted
 * string or RFC 2047 words as it needs; just ADDR when NAME is NULL or
 * empty. */
void mime_mailbox(struct buf *out, const char *name, const char *addr);

/* mime_fold: append header field "NAME: VALUE\r\n" with VALUE (no line
 * breaks of its own) folded at spaces so that lines stay within 78
 * octets where the words allow. */
void mime_fold(struct buf *out, const char *name, const char *value);

/* mime_parse_mailbox: split "Name <addr>", "\"Name\" <addr>" or "addr"
 * into a malloc'd display name (NULL when none) and address. 0, or -1
 * with *ERR when S has no address in that form. */
int mime_parse_mailbox(const char *s, char **name, char **addr, char **err);

/* mime_date: T as an RFC 5322 date in the process's time zone, with its
 * real offset ("Tue, 24 Nov 2026 18:05:09 +0300"). */
void mime_date(time_t t, char out[40]);

/* What a message is made of. Every string is UTF-8; the touts may hold
 * the slots above, and must outlive the skeleton built from them. */
struct mime_input {
	const char *from_name, *from_addr;
	const char *reply_to;         /* a mailbox, or NULL */
	const char *list_name, *list_id; /* list_id NULL: no List-* headers (not list mail) */
	const char *unsubscribe_mailto; /* address for the mailto unsubscribe, or NULL */
	const char *domain;           /* of the Message-ID */
	const char *feedback_id;      /* Feedback-ID's value, or NULL */
	time_t date;
	const struct tout *subject;
	const struct tout *text;      /* wrapped at WRAP columns per reader */
	const struct tout *html;
	int wrap;
};

struct mime_skel;

/*
 * mime_skel_build: the edition's message with every part that is the same
 * for all readers written (and encoded) once. Returns 0, or -1 with *ERR.
 * Free with mime_skel_free (NULL is fine).
 */
int mime_skel_build(const struct mime_input *in, struct mime_skel **out, char **err);
void mime_skel_free(struct mime_skel *k);

/* mime_skel_message: the whole message (CRLF, not dot-stuffed) for the
 * reader whose personal values are SLOTS[SLOT_COUNT], appended to OUT. */
void mime_skel_message(const struct mime_skel *k, const char *const *slots, struct buf *out);

#endif
