/* render: an edition's articles through the templates, once, into the
 * message skeleton that every reader's message is spliced from. */
#ifndef DIGEST_RENDER_H
#define DIGEST_RENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "digest/article.h"
#include "digest/config.h"
#include "digest/util.h"

struct render;

/*
 * render_load: parse the subject (newsletter.subject), digest.txt and
 * digest.html (and their partials) from the templates directory, check
 * newsletter.from and reply_to, the dkim block's keys, and, WITH_KEY, read (or create) the
 * secret key that links are signed with.
 * Errors name the file, line and column. Returns 0, or -1 with *ERR.
 * Free with render_free (NULL is fine).
 */
int render_load(const struct config *cfg, bool with_key, struct render **out, char **err);
void render_free(struct render *r);

/*
 * render_edition: expand the templates for edition DATE (YYYY-MM-DD) with
 * its N articles A, and build the message skeleton with NOW as its Date.
 * Replaces what an earlier call rendered. 0, or -1 with *ERR.
 */
int render_edition(struct render *r, const char *date, const struct article *a, size_t n, time_t now,
		   char **err);

/*
 * render_context: the values the digest's templates see for edition DATE
 * with its N articles A (SPEC "Templates"), with nothing personal: no
 * subscriber name or address, no unsubscribe link (empty values, never
 * slots), for pages anyone may read. The caller owns the tree (tv_free).
 */
struct tval;
struct tval *render_context(const struct render *r, const char *date, const struct article *a, size_t n);
/* render_date: DATE (YYYY-MM-DD) in the newsletter's words: "24 November
 * 2026", "24 ноября 2026". */
void render_date(const struct render *r, const char *date, char *out, size_t n);
/* render_is_ru: whether the newsletter's locale is Russian. */
bool render_is_ru(const struct render *r);

/* One reader, as the message needs them. */
struct reader {
	const char *email, *name; /* name may be NULL */
	const char *nonce;        /* the subscriber's nonce (32 hex digits) */
};

/* render_reader_default: a sample reader for previews. */
void render_sample_reader(const struct render *r, const char *email, struct reader *out);

/* render_message: the whole message of the rendered edition for RD,
 * appended to OUT, with its DKIM signatures when digest.conf has a dkim
 * block (written into room left before the message: it is never moved).
 * Safe to call from several threads at once. The message is
 * canonical for SMTP (transport.h TX_CANONICAL): CRLF line ends only, and
 * no line begins with a dot (quoted-printable writes one as =2E; the
 * signatures' continuation lines begin with a tab). 0; -1 when it could
 * not be signed (said on stderr; what OUT then holds is no message: do
 * not send it). */
int render_message(const struct render *r, const struct reader *rd, struct buf *out);

/* render_body: the HTML (HTML != 0) or the wrapped text part for RD,
 * decoded, appended to OUT. */
void render_body(const struct render *r, int html, const struct reader *rd, struct buf *out);

/* render_envelope_from: the address MAIL FROM gives: envelope_from's, or
 * newsletter.from's. */
const char *render_envelope_from(const struct render *r);

/*
 * VERP (SPEC "What comes back"): LOCAL+KIND-TOKEN@DOMAIN, LOCAL and DOMAIN
 * from delivery.bounce_address (default: the envelope sender), TOKEN
 * token_verp_make's for the reader's NONCE and EDITION (YYYY-MM-DD; NULL
 * for a confirmation mail). render_verp writes it into OUT (N bytes): 0,
 * or -1 (a malformed nonce, too small a buffer).
 * render_message_from: the envelope sender of RD's message of the
 * rendered edition; render_confirm_from: of RD's confirmation mail. Both
 * fall back to render_envelope_from.
 * render_bounce_local: LOCAL, for recognising mail to those addresses.
 */
int render_verp(const struct render *r, char kind, const char *nonce, const char *edition, char *out, size_t n);
void render_message_from(const struct render *r, const struct reader *rd, char *out, size_t n);
void render_confirm_from(const struct render *r, const struct reader *rd, char *out, size_t n);
const char *render_bounce_local(const struct render *r);
#define RENDER_ADDR_MAX 400

/*
 * render_template_load: the template FILE ("confirm.txt") from the
 * templates directory, or the built-in one when the directory lacks it
 * (or, when digest.conf names no directory, there is none beside it).
 * Errors name the file, line and column.
 */
struct tmpl;
int render_template_load(const struct config *cfg, const char *file, struct tmpl **out, char **err);
/* render_load_confirm: load the confirmation mail's templates
 * (confirm.txt, confirm.html) once; 0, or -1 with *ERR. */
int render_load_confirm(struct render *r, char **err);
/*
 * render_confirm: the confirmation mail for RD (asking to open
 * BASE_URL/confirm?t=TOKEN), dated NOW, appended to OUT: not list mail,
 * so without List-* headers; DKIM-signed as render_message. R must have
 * been loaded with its key. 0, or -1 with *ERR.
 */
int render_confirm(struct render *r, const struct reader *rd, time_t now, struct buf *out, char **err);
/* render_confirm_wording: the words of the confirmation mail (subject,
 * text and HTML parts, rendered for a reader and a link that are no
 * one's: the same bytes until a template or the locale's words change),
 * appended to OUT. 0, or -1 with *ERR (a template error). */
int render_confirm_wording(struct render *r, struct buf *out, char **err);
/* render_count: V with digits grouped by threes: "12 500" (a no-break
 * space) when RU, else "12,500". */
void render_count(char *out, size_t n, long long v, bool ru);

/* render_count_human: V short: "950", "2.2K", "12K", "1.5M"; in Russian
 * "2,2 тыс.", "12 тыс.", "1,5 млн". */
void render_count_human(char *out, size_t n, long long v, bool ru);

/* render_cut: S cut to at most MAX characters at a word, with "…" when
 * cut; malloc'd; NULL for NULL or MAX <= 0. */
char *render_cut(const char *s, int max);

#endif
