/* page: the web pages of `digest serve` (the subscribe form, the confirm
 * and unsubscribe pages, errors), rendered from templates/page.html in
 * the newsletter's language. */
#ifndef DIGEST_PAGE_H
#define DIGEST_PAGE_H
#include "digest/config.h"
#include "digest/util.h"

/* Which page; each has its HTTP status. */
enum page_kind {
	PAGE_FORM,           /* 200 the subscribe form */
	PAGE_CHECK_INBOX,    /* 200 after a subscribe request, whatever the address was */
	PAGE_BAD_ADDRESS,    /* 400 the form again, saying what is wrong */
	PAGE_CONFIRM,        /* 200 a button that confirms */
	PAGE_CONFIRMED,      /* 200 */
	PAGE_ALREADY_ACTIVE, /* 200 a confirm link of someone subscribed already */
	PAGE_LINK_EXPIRED,   /* 410 a confirm link of someone who has left since */
	PAGE_UNSUBSCRIBE,    /* 200 a button that unsubscribes */
	PAGE_UNSUBSCRIBED,   /* 200 */
	PAGE_BAD_LINK,       /* 400 a link cut short or mangled */
	PAGE_FORGED_LINK,    /* 403 a link no subscriber's */
	PAGE_NOT_FOUND,      /* 404 */
	PAGE_BAD_METHOD,     /* 405 */
	PAGE_TOO_LARGE,      /* 413 */
	PAGE_BAD_TYPE,       /* 415 */
	PAGE_BAD_REQUEST,    /* 400 */
	PAGE_TOO_MANY,       /* 429 */
	PAGE_FAILED,         /* 500 */
	PAGE_COUNT
};

/* What a page shows beyond its fixed words. */
struct page_args {
	const char *root;   /* the path the request came under: "" or "/digest" */
	const char *email;  /* the subscriber's address, or the form's value */
	const char *name;   /* the form's name value */
	const char *token;  /* PAGE_CONFIRM, PAGE_UNSUBSCRIBE: the link's token */
	const char *detail; /* PAGE_BAD_ADDRESS: why */
};

struct pages;

/* page_load: page.html from the templates (or the built-in one), in
 * newsletter.locale's words. 0, or -1 with *ERR naming file, line and
 * column. Free with page_free (NULL is fine). */
int page_load(const struct config *cfg, struct pages **out, char **err);
void page_free(struct pages *p);

/* page_status: the HTTP status of KIND. */
int page_status(enum page_kind kind);

/* page_render: the page KIND with A, appended to OUT (UTF-8 HTML). Safe
 * from several threads at once. */
void page_render(const struct pages *p, enum page_kind kind, const struct page_args *a, struct buf *out);

/* page_wording: the pages a reader reads on the way in (the form, the
 * answer to it, the confirmation page and the one after), rendered for
 * an address and a link that are no one's: the same bytes until
 * page.html or the locale's words change; appended to OUT. */
void page_wording(const struct pages *p, struct buf *out);
#endif
