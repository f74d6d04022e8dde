/* render: an edition's articles through the templates, once, into the
 * message skeleton that every reader's message is spliced from. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "digest/builtin.h"
#include "digest/dkim.h"
#include "digest/log.h"
#include "digest/mime.h"
#include "digest/render.h"
#include "digest/subscriber.h"
#include "digest/template.h"
#include "digest/textwrap.h"
#include "digest/token.h"

/* The text part's width in display columns (SPEC: Templates). */
#define TEXT_WIDTH 72

struct render {
	const struct config *cfg;
	bool ru;
	struct tmpl *t_subject, *t_text, *t_html;
	struct tmpl *c_subject, *c_text, *c_html; /* the confirmation mail: render_load_confirm */
	char *from_name, *from_addr, *domain, *reply_to;
	char *envelope_from; /* delivery.smtp.envelope_from's address, or NULL */
	char *verp_local, *verp_domain; /* delivery.bounce_address (or the envelope sender) split at its last @ */
	unsigned char key[TOKEN_KEY_LEN];
	char date[11];
	bool rendered;
	struct tout subject, text, html;
	struct mime_skel *skel;
	time_t now;         /* the edition's Date, and its signatures' t= */
	struct dkim *dkim;  /* the dkim block's keys, or NULL: nothing signed */
	struct dkim_prep *signing; /* the edition's signatures prepared, with dkim */
};

/* ---- locale ---- */

static const char *const months_en[] = {"January", "February", "March",     "April",   "May",      "June",
					"July",    "August",   "September", "October", "November", "December"};
/* Russian dates name the month in the genitive: "24 ноября". */
static const char *const months_ru[] = {"января", "февраля", "марта",    "апреля",  "мая",    "июня",
					"июля",   "августа", "сентября", "октября", "ноября", "декабря"};

struct labels {
	const char *views, *comments, *rating, *read, *unsubscribe, *intro, *footer, *browser, *top, *hello,
		*articles;
	/* the confirmation mail */
	const char *c_subject, *c_title, *c_intro, *c_action, *c_button, *c_link, *c_ignore;
};
static const struct labels labels_en = {
	.views = "Views", .comments = "Comments", .rating = "Rating", .read = "Read",
	.unsubscribe = "Unsubscribe", .intro = "The most read stories of the day",
	.footer = "You receive this digest because you subscribed to it.",
	.browser = "View in browser", .top = "Top story", .hello = "Hello", .articles = "stories",
	.c_subject = "Confirm your subscription to {{newsletter.name}}",
	.c_title = "Confirm your subscription",
	.c_intro = "You asked to receive this newsletter by email: the day's most read stories, every morning. "
		   "Please confirm that this address is yours.",
	.c_action = "Confirm the subscription at this link",
	.c_button = "Confirm subscription",
	.c_link = "If the button does not work, open this link:",
	.c_ignore = "If you did not ask for it, ignore this message: without a confirmation nothing more "
		    "will be sent to you.",
};
static const struct labels labels_ru = {
	.views = "Просмотры", .comments = "Комментарии", .rating = "Рейтинг", .read = "Читать",
	.unsubscribe = "Отписаться", .intro = "Самые читаемые материалы дня",
	.footer = "Вы получаете эту рассылку, потому что подписались на неё.",
	.browser = "Открыть в браузере", .top = "Главное", .hello = "Здравствуйте", .articles = "материалов",
	.c_subject = "Подтвердите подписку на «{{newsletter.name}}»",
	.c_title = "Подтвердите подписку",
	.c_intro = "Вы попросили присылать вам эту рассылку: самые читаемые материалы дня, каждое утро. "
		   "Подтвердите, пожалуйста, что этот адрес ваш.",
	.c_action = "Подтвердите подписку по ссылке",
	.c_button = "Подтвердить подписку",
	.c_link = "Если кнопка не работает, откройте ссылку:",
	.c_ignore = "Если вы не подписывались, просто не обращайте внимания на это письмо: без подтверждения "
		    "рассылка приходить не будет.",
};

/* Digits grouped by threes: "2 212" (NBSP) in Russian, "2,212" in English. */
void render_count(char *out, size_t n, long long v, bool ru)
{
	char digits[32];
	snprintf(digits, sizeof digits, "%lld", v < 0 ? -v : v);
	size_t len = strlen(digits), o = 0;
	if (v < 0 && o + 1 < n)
		out[o++] = '-';
	for (size_t i = 0; i < len && o + 3 < n; i++) {
		if (i && (len - i) % 3 == 0) {
			const char *sep = ru ? "\xc2\xa0" : ",";
			for (const char *p = sep; *p && o + 1 < n; p++)
				out[o++] = *p;
		}
		out[o++] = digits[i];
	}
	out[o] = '\0';
}

/* "2.2K" / "2,2 тыс.", "12K", "1.2M" / "1,2 млн". */
void render_count_human(char *out, size_t n, long long v, bool ru)
{
	if (v < 1000) {
		snprintf(out, n, "%lld", v < 0 ? 0 : v);
		return;
	}
	double x = v >= 1000000 ? v / 1e6 : v / 1e3;
	const char *unit = v >= 1000000 ? (ru ? "\xc2\xa0млн" : "M") : (ru ? "\xc2\xa0тыс." : "K");
	if (x < 10)
		snprintf(out, n, "%.1f%s", (double)((long long)(x * 10)) / 10, unit);
	else
		snprintf(out, n, "%lld%s", (long long)x, unit);
	if (ru) {
		char *dot = strchr(out, '.');
		if (dot && dot[1] >= '0' && dot[1] <= '9')
			*dot = ',';
	}
	/* "2.0K" reads better as "2K". */
	char *z = strstr(out, ru ? ",0" : ".0");
	if (z)
		memmove(z, z + 2, strlen(z + 2) + 1);
}

static void fmt_date(char *out, size_t n, int y, int m, int d, bool ru)
{
	snprintf(out, n, "%d %s %d", d, (ru ? months_ru : months_en)[(m + 11) % 12], y);
}

static void fmt_published(char *out, size_t n, long long t, bool ru)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm)) {
		snprintf(out, n, "?");
		return;
	}
	snprintf(out, n, "%d %s, %02d:%02d", tm.tm_mday, (ru ? months_ru : months_en)[tm.tm_mon % 12],
		 tm.tm_hour, tm.tm_min);
}

/* The summary cut to MAX characters at a word boundary, with an ellipsis. */
char *render_cut(const char *s, int max)
{
	if (!s || max <= 0)
		return NULL;
	size_t chars = 0, i = 0, last_space = 0;
	for (; s[i]; i++) {
		if (((unsigned char)s[i] & 0xC0) == 0x80)
			continue;
		if (chars == (size_t)max)
			break;
		if (s[i] == ' ')
			last_space = i;
		chars++;
	}
	if (!s[i])
		return xstrdup(s);
	size_t end = s[i] == ' ' ? i : last_space > 0 ? last_space : i; /* a word ending at the cut stays */
	while (end > 0 && strchr(" ,.;:-", s[end - 1]))
		end--;
	return xasprintf("%.*s…", (int)end, s);
}

/* ---- loading ---- */

static int check_mailbox(const char *value, const char *key, char **name, char **addr, char **err)
{
	char *why = NULL;
	if (mime_parse_mailbox(value, name, addr, &why) < 0) {
		errf(err, "%s: %s", key, why);
		free(why);
		return -1;
	}
	char *norm = address_normalize(*addr, &why);
	/* Our own sender may be a local one ("digest@localhost", the default):
	 * a domain of one label is checked as if it had a dot. */
	const char *at = strrchr(*addr, '@');
	if (!norm && at && !strchr(at, '.') && !strchr(at, '[')) {
		char *dotted = xasprintf("%s.local", *addr);
		char *n2 = address_normalize(dotted, NULL);
		if (n2) {
			n2[strlen(n2) - 6] = '\0';
			norm = n2;
		}
		free(dotted);
	}
	if (!norm) {
		errf(err, "%s: %s: %s", key, *addr, why);
		free(why);
		free(*name);
		free(*addr);
		*name = *addr = NULL;
		return -1;
	}
	free(why);
	free(*addr);
	*addr = norm;
	return 0;
}

int render_template_load(const struct config *cfg, const char *file, struct tmpl **out, char **err)
{
	size_t len;
	const char *text = builtin_template(file, &len);
	struct stat sb;
	bool use_builtin = false;
	if (stat(cfg->templates.dir, &sb) < 0 && errno == ENOENT) {
		/* a directory named but missing is an error where it is named */
		if (cfg->templates.dir_set)
			return errf(err, "%s:%d: templates.dir: %s: %s", cfg->path, cfg->at.templates_dir,
				    cfg->templates.dir, strerror(ENOENT));
		use_builtin = text != NULL;
	} else if (text) {
		/* A templates directory need not hold every file. */
		char *path = xasprintf("%s/%s", cfg->templates.dir, file);
		use_builtin = stat(path, &sb) < 0 && errno == ENOENT;
		free(path);
	}
	if (use_builtin) {
		char *name = xasprintf("(built-in) %s", file);
		int rc = tmpl_parse(name, text, len, strstr(file, ".html") != NULL, NULL, out, err);
		free(name);
		return rc;
	}
	return tmpl_load(cfg->templates.dir, file, out, err);
}

int render_load(const struct config *cfg, bool with_key, struct render **out, char **err)
{
	*out = NULL;
	struct render *r = xcalloc(1, sizeof *r);
	r->cfg = cfg;
	r->ru = cfg->newsletter.locale == LOCALE_RU;
	char *why = NULL;
	if (check_mailbox(cfg->newsletter.from, "newsletter.from", &r->from_name, &r->from_addr, err) < 0)
		goto fail;
	if (!r->from_name)
		r->from_name = xstrdup(cfg->newsletter.name);
	r->domain = xstrdup(strrchr(r->from_addr, '@') + 1);
	if (cfg->newsletter.reply_to) {
		char *n = NULL, *a = NULL;
		if (check_mailbox(cfg->newsletter.reply_to, "newsletter.reply_to", &n, &a, err) < 0)
			goto fail;
		struct buf b = {0};
		mime_mailbox(&b, n, a);
		r->reply_to = b.data;
		free(n);
		free(a);
	}
	if (cfg->delivery.smtp.envelope_from) {
		char *n = NULL, *a = NULL;
		if (check_mailbox(cfg->delivery.smtp.envelope_from, "delivery.smtp.envelope_from", &n, &a, err) < 0)
			goto fail;
		r->envelope_from = a;
		free(n);
	}
	{
		/* VERP: LOCAL+b-TOKEN@DOMAIN must fit a 64-octet local part */
		char *a = NULL;
		if (cfg->delivery.bounce_address) {
			char *n = NULL;
			if (check_mailbox(cfg->delivery.bounce_address, "delivery.bounce_address", &n, &a, err) < 0)
				goto fail;
			free(n);
		} else {
			a = xstrdup(render_envelope_from(r));
		}
		char *at = strrchr(a, '@');
		r->verp_domain = xstrdup(at + 1);
		*at = '\0';
		r->verp_local = a;
		if (strlen(a) + 3 + TOKEN_VERP_LEN > 64 || strchr(a, '"')) {
			errf(err, "%s: the bounce address's local part \"%s\" is too long for VERP (at most %d "
			     "characters, unquoted)", cfg->delivery.bounce_address ? "delivery.bounce_address"
			     : "the envelope sender", a, 64 - 3 - TOKEN_VERP_LEN);
			goto fail;
		}
	}
	const char *subj = cfg->newsletter.subject;
	char *where = cfg->newsletter.subject_line
			      ? xasprintf("%s:%d: newsletter.subject", cfg->path, cfg->newsletter.subject_line)
			      : xstrdup("newsletter.subject");
	int rc = tmpl_parse(where, subj, strlen(subj), false, cfg->templates.dir, &r->t_subject, err);
	free(where);
	if (rc < 0)
		goto fail;
	if (render_template_load(cfg, "digest.txt", &r->t_text, err) < 0 ||
	    render_template_load(cfg, "digest.html", &r->t_html, err) < 0)
		goto fail;
	if (with_key && token_key_load(cfg->newsletter.secret_file, r->key, err) < 0)
		goto fail;
	if (dkim_load(&cfg->dkim, cfg->path, &r->dkim, err) < 0)
		goto fail;
	*out = r;
	return 0;
fail:
	free(why);
	render_free(r);
	return -1;
}

static void clear_rendered(struct render *r)
{
	tout_free(&r->subject);
	tout_free(&r->text);
	tout_free(&r->html);
	memset(&r->subject, 0, sizeof r->subject);
	memset(&r->text, 0, sizeof r->text);
	memset(&r->html, 0, sizeof r->html);
	mime_skel_free(r->skel);
	r->skel = NULL;
	dkim_prep_free(r->signing);
	r->signing = NULL;
	r->rendered = false;
}

void render_free(struct render *r)
{
	if (!r)
		return;
	clear_rendered(r);
	tmpl_free(r->t_subject);
	tmpl_free(r->t_text);
	tmpl_free(r->t_html);
	tmpl_free(r->c_subject);
	tmpl_free(r->c_text);
	tmpl_free(r->c_html);
	free(r->from_name);
	free(r->from_addr);
	free(r->domain);
	free(r->reply_to);
	free(r->envelope_from);
	free(r->verp_local);
	free(r->verp_domain);
	dkim_free(r->dkim);
	explicit_bzero(r->key, sizeof r->key);
	free(r);
}

/* ---- rendering ---- */

static struct tval *article_value(const struct render *r, const struct article *a, size_t rank)
{
	char num[64];
	struct tval *o = tv_object();
	snprintf(num, sizeof num, "%zu", rank);
	tv_set_str(o, "rank", num);
	tv_set_str(o, "title", a->title);
	/* Links only to the web (or files, for local sites): never a
	 * javascript: or data: URL in a reader's mail. */
	bool web = a->url && (!strncasecmp(a->url, "https://", 8) || !strncasecmp(a->url, "http://", 7) ||
			      !strncasecmp(a->url, "file://", 7));
	tv_set_str(o, "url", web ? a->url : "");
	char *summary = render_cut(a->summary, r->cfg->digest.summary_chars);
	tv_set_str(o, "summary", summary && *summary ? summary : NULL);
	free(summary);
	if (a->views >= 0) {
		render_count(num, sizeof num, a->views, r->ru);
		tv_set_str(o, "views", num);
		render_count_human(num, sizeof num, a->views, r->ru);
		tv_set_str(o, "views_human", num);
	}
	if (a->comments >= 0) {
		render_count(num, sizeof num, a->comments, r->ru);
		tv_set_str(o, "comments", num);
	}
	if (a->has_rating) {
		snprintf(num, sizeof num, "%g", a->rating);
		tv_set_str(o, "rating", num);
	}
	fmt_published(num, sizeof num, a->published, r->ru);
	tv_set_str(o, "published", num);
	tv_set_str(o, "source", a->source);
	/* Only web images: a data: or javascript: URL has no place in mail. */
	if (a->image && (!strncasecmp(a->image, "https://", 8) || !strncasecmp(a->image, "http://", 7)))
		tv_set_str(o, "image", a->image);
	return o;
}

static struct tval *context(const struct render *r, const char *date, const struct article *a, size_t n)
{
	const struct config *cfg = r->cfg;
	struct tval *root = tv_object();
	struct tval *nl = tv_object();
	tv_set_str(nl, "name", cfg->newsletter.name);
	tv_set_str(nl, "base_url", cfg->newsletter.base_url);
	tv_set(root, "newsletter", nl);
	int y = 0, m = 0, d = 0;
	sscanf(date, "%d-%d-%d", &y, &m, &d);
	char buf[96];
	fmt_date(buf, sizeof buf, y, m, d, r->ru);
	tv_set_str(root, "date", buf);
	tv_set_str(root, "date_iso", date);
	snprintf(buf, sizeof buf, "%zu", n);
	tv_set_str(root, "count", buf);
	struct tval *list = tv_list();
	for (size_t i = 0; i < n; i++)
		tv_append(list, article_value(r, &a[i], i + 1));
	tv_set(root, "articles", list);
	if (n > 0)
		tv_set(root, "top", article_value(r, &a[0], 1));
	struct tval *sub = tv_object();
	tv_set(sub, "name", tv_slot(SLOT_NAME));
	tv_set(sub, "email", tv_slot(SLOT_EMAIL));
	tv_set(root, "subscriber", sub);
	tv_set(root, "unsubscribe_url", tv_slot(SLOT_UNSUBSCRIBE_URL));
	char *preview = xasprintf("%s/preview", cfg->newsletter.base_url);
	tv_set_str(root, "preview_url", preview);
	free(preview);
	/* "view in browser": the edition's page in the archive */
	size_t bl = strlen(cfg->newsletter.base_url);
	char *page = xasprintf("%.*s/archive/%s", (int)(bl && cfg->newsletter.base_url[bl - 1] == '/' ? bl - 1 : bl),
			       cfg->newsletter.base_url, date);
	tv_set_str(root, "edition_url", page);
	free(page);
	const struct labels *l = r->ru ? &labels_ru : &labels_en;
	struct tval *t = tv_object();
	tv_set_str(t, "views", l->views);
	tv_set_str(t, "comments", l->comments);
	tv_set_str(t, "rating", l->rating);
	tv_set_str(t, "read", l->read);
	tv_set_str(t, "unsubscribe", l->unsubscribe);
	tv_set_str(t, "intro", l->intro);
	tv_set_str(t, "footer", l->footer);
	tv_set_str(t, "browser", l->browser);
	tv_set_str(t, "top", l->top);
	tv_set_str(t, "hello", l->hello);
	tv_set_str(t, "articles", l->articles);
	tv_set_str(t, "lang", r->ru ? "ru" : "en");
	tv_set(root, "t", t);
	return root;
}

struct tval *render_context(const struct render *r, const char *date, const struct article *a, size_t n)
{
	struct tval *ctx = context(r, date, a, n);
	/* nothing personal: the slots become empty values */
	tv_set(ctx, "subscriber", tv_object());
	tv_set_str(ctx, "unsubscribe_url", NULL);
	return ctx;
}

void render_date(const struct render *r, const char *date, char *out, size_t n)
{
	int y = 0, m = 0, d = 0;
	sscanf(date, "%d-%d-%d", &y, &m, &d);
	fmt_date(out, n, y, m, d, r->ru);
}

bool render_is_ru(const struct render *r)
{
	return r->ru;
}

static int prepare_signing(struct render *r, char **err);

int render_edition(struct render *r, const char *date, const struct article *a, size_t n, time_t now,
		   char **err)
{
	clear_rendered(r);
	snprintf(r->date, sizeof r->date, "%s", date);
	struct tval *ctx = context(r, date, a, n);
	tmpl_render(r->t_subject, ctx, &r->subject);
	tmpl_render(r->t_text, ctx, &r->text);
	tmpl_render(r->t_html, ctx, &r->html);
	tv_free(ctx);
	const struct config *cfg = r->cfg;
	/* Feedback-ID: campaign (the edition), mail type, sender */
	char fb[160] = "";
	if (!cfg->newsletter.feedback_id || *cfg->newsletter.feedback_id)
		snprintf(fb, sizeof fb, "%.4s%.2s%.2s:digest:%s", date, date + 5, date + 8,
			 cfg->newsletter.feedback_id ? cfg->newsletter.feedback_id : r->domain);
	struct mime_input in = {
		.from_name = r->from_name,
		.from_addr = r->from_addr,
		.reply_to = r->reply_to,
		.list_name = cfg->newsletter.name,
		.list_id = cfg->newsletter.list_id,
		.unsubscribe_mailto = r->from_addr,
		.domain = r->domain,
		.feedback_id = fb,
		.date = now,
		.subject = &r->subject,
		.text = &r->text,
		.html = &r->html,
		.wrap = TEXT_WIDTH,
	};
	if (mime_skel_build(&in, &r->skel, err) < 0)
		return -1;
	r->now = now;
	r->rendered = true;
	if (r->dkim && prepare_signing(r, err) < 0) {
		clear_rendered(r);
		return -1;
	}
	return 0;
}

void render_sample_reader(const struct render *r, const char *email, struct reader *out)
{
	out->email = email ? email : "reader@example.org";
	out->name = r->ru ? "Читатель" : "Reader";
	out->nonce = "00000000000000000000000000000000";
}

static void link_url(const struct render *r, const char *path, const char *purpose, const struct reader *rd,
		     char *out, size_t n);
/* The personal values of RD; STORE holds the strings they point into. */
struct slots {
	const char *v[SLOT_COUNT];
	char url[1024], msgid[96], mailto[160];
};

static void fill_slots(const struct render *r, const struct reader *rd, struct slots *s)
{
	link_url(r, "unsubscribe", "unsubscribe", rd, s->url, sizeof s->url);
	/* Stable per reader and edition: a copy sent again after a crash has
	 * the same Message-ID, and mail systems drop it as a duplicate. */
	snprintf(s->msgid, sizeof s->msgid, "digest.%s.%.32s", r->date, rd->nonce);
	s->v[SLOT_NAME] = rd->name;
	s->v[SLOT_EMAIL] = rd->email;
	s->v[SLOT_UNSUBSCRIBE_URL] = s->url;
	s->v[SLOT_MESSAGE_ID] = s->msgid;
	s->v[SLOT_UNSUBSCRIBE_MAILTO] = NULL;
	if (render_verp(r, 'u', rd->nonce, r->date, s->mailto, sizeof s->mailto) == 0)
		s->v[SLOT_UNSUBSCRIBE_MAILTO] = s->mailto;
}

/* What every reader's signatures share, prepared once from a sample
 * reader's message: the same skeleton gives every reader the same signed
 * fields in the same places (mime.h), only To, Message-ID and
 * List-Unsubscribe (and a Subject with personal values) differ. */
static int prepare_signing(struct render *r, char **err)
{
	struct reader rd;
	struct slots s;
	render_sample_reader(r, NULL, &rd);
	fill_slots(r, &rd, &s);
	struct buf m = {0};
	mime_skel_message(r->skel, s.v, &m);
	int rc = dkim_prepare(r->dkim, m.data, m.len, r->now, &r->signing, err);
	buf_free(&m);
	return rc;
}

int render_message(const struct render *r, const struct reader *rd, struct buf *out)
{
	struct slots s;
	fill_slots(r, rd, &s);
	/* The signatures' room first, the message after it: signing fills
	 * the room and never moves the message. */
	size_t room = dkim_prep_room(r->signing);
	size_t start = buf_room(out, room);
	mime_skel_message(r->skel, s.v, out);
	/* Each reader's body differs (personal links): the body hash and
	 * the signature are this message's own. */
	if (r->signing) {
		char *err = NULL;
		if (dkim_prep_sign(r->signing, out->data + start, out->data + start + room, out->len - start - room,
				   &err) < 0) {
			log_error("%s", err);
			free(err);
			return -1;
		}
	}
	return 0;
}

void render_body(const struct render *r, int html, const struct reader *rd, struct buf *out)
{
	struct slots s;
	fill_slots(r, rd, &s);
	if (html) {
		tout_flatten(&r->html, s.v, out);
		return;
	}
	struct buf t = {0};
	tout_flatten(&r->text, s.v, &t);
	text_wrap(out, t.data ? t.data : "", t.len, TEXT_WIDTH);
	buf_free(&t);
}

const char *render_envelope_from(const struct render *r)
{
	return r->envelope_from ? r->envelope_from : r->from_addr;
}

int render_verp(const struct render *r, char kind, const char *nonce, const char *edition, char *out, size_t n)
{
	char tok[TOKEN_VERP_LEN + 1];
	unsigned day = edition ? token_edition_day(edition) : 0;
	if (!r->verp_local || token_verp_make(r->key, kind, nonce, day, tok) < 0)
		return -1;
	int k = snprintf(out, n, "%s+%c-%s@%s", r->verp_local, kind, tok, r->verp_domain);
	return k < 0 || (size_t)k >= n ? -1 : 0;
}

void render_message_from(const struct render *r, const struct reader *rd, char *out, size_t n)
{
	if (render_verp(r, 'b', rd->nonce, r->date, out, n) < 0)
		snprintf(out, n, "%s", render_envelope_from(r));
}

void render_confirm_from(const struct render *r, const struct reader *rd, char *out, size_t n)
{
	if (render_verp(r, 'b', rd->nonce, NULL, out, n) < 0)
		snprintf(out, n, "%s", render_envelope_from(r));
}

const char *render_bounce_local(const struct render *r)
{
	return r->verp_local;
}

/* ---- the confirmation mail ---- */

int render_load_confirm(struct render *r, char **err)
{
	if (r->c_subject)
		return 0;
	const struct labels *l = r->ru ? &labels_ru : &labels_en;
	if (tmpl_parse("(built-in) confirmation subject", l->c_subject, strlen(l->c_subject), false, NULL,
		       &r->c_subject, err) < 0 ||
	    render_template_load(r->cfg, "confirm.txt", &r->c_text, err) < 0 ||
	    render_template_load(r->cfg, "confirm.html", &r->c_html, err) < 0)
		return -1;
	return 0;
}

/* BASE_URL/PATH?t=TOKEN for PURPOSE's token of RD, into OUT. */
static void link_url(const struct render *r, const char *path, const char *purpose, const struct reader *rd,
		     char *out, size_t n)
{
	char token[TOKEN_MAX] = "";
	if (token_make(r->key, purpose, rd->email, rd->nonce, token) < 0)
		token[0] = '\0';
	const char *base = r->cfg->newsletter.base_url;
	size_t bl = strlen(base);
	snprintf(out, n, "%.*s/%s?t=%s", (int)(bl && base[bl - 1] == '/' ? bl - 1 : bl), base, path, token);
}

/* What the confirmation mail's templates are rendered against: RD's
 * address and name, the link URL, the words of the locale. */
static struct tval *confirm_ctx(const struct render *r, const struct reader *rd, const char *url)
{
	const struct labels *l = r->ru ? &labels_ru : &labels_en;
	struct tval *ctx = tv_object();
	struct tval *nl = tv_object();
	tv_set_str(nl, "name", r->cfg->newsletter.name);
	tv_set_str(nl, "base_url", r->cfg->newsletter.base_url);
	tv_set(ctx, "newsletter", nl);
	struct tval *sub = tv_object();
	tv_set_str(sub, "name", rd->name && *rd->name ? rd->name : NULL);
	tv_set_str(sub, "email", rd->email);
	tv_set(ctx, "subscriber", sub);
	tv_set_str(ctx, "confirm_url", url);
	struct tval *t = tv_object();
	tv_set_str(t, "lang", r->ru ? "ru" : "en");
	tv_set_str(t, "hello", l->hello);
	tv_set_str(t, "confirm_title", l->c_title);
	tv_set_str(t, "confirm_intro", l->c_intro);
	tv_set_str(t, "confirm_action", l->c_action);
	tv_set_str(t, "confirm_button", l->c_button);
	tv_set_str(t, "confirm_link", l->c_link);
	tv_set_str(t, "confirm_ignore", l->c_ignore);
	tv_set(ctx, "t", t);
	return ctx;
}

int render_confirm_wording(struct render *r, struct buf *out, char **err)
{
	if (render_load_confirm(r, err) < 0)
		return -1;
	/* a reader and a link that are no one's: the same text every time */
	struct reader rd = {.email = "reader@example.invalid"};
	struct tval *ctx = confirm_ctx(r, &rd, "confirm-url");
	struct tmpl *parts[] = {r->c_subject, r->c_text, r->c_html};
	for (size_t i = 0; i < sizeof parts / sizeof *parts; i++) {
		struct tout o = {0};
		tmpl_render(parts[i], ctx, &o);
		tout_flatten(&o, NULL, out);
		tout_free(&o);
		buf_add(out, "", 1); /* the parts apart: a word moved across them is a change */
	}
	tv_free(ctx);
	return 0;
}

int render_confirm(struct render *r, const struct reader *rd, time_t now, struct buf *out, char **err)
{
	if (render_load_confirm(r, err) < 0)
		return -1;
	char url[1024];
	link_url(r, "confirm", "confirm", rd, url, sizeof url);
	struct tval *ctx = confirm_ctx(r, rd, url);
	struct tout subject = {0}, text = {0}, html = {0};
	tmpl_render(r->c_subject, ctx, &subject);
	tmpl_render(r->c_text, ctx, &text);
	tmpl_render(r->c_html, ctx, &html);
	tv_free(ctx);
	char fb[160] = "";
	if (!r->cfg->newsletter.feedback_id || *r->cfg->newsletter.feedback_id)
		snprintf(fb, sizeof fb, "confirm:optin:%s",
			 r->cfg->newsletter.feedback_id ? r->cfg->newsletter.feedback_id : r->domain);
	struct mime_input in = {
		.from_name = r->from_name,
		.from_addr = r->from_addr,
		.reply_to = r->reply_to,
		.domain = r->domain,
		.feedback_id = fb,
		.date = now,
		.subject = &subject,
		.text = &text,
		.html = &html,
		.wrap = TEXT_WIDTH,
	};
	struct mime_skel *k = NULL;
	int rc = mime_skel_build(&in, &k, err);
	if (rc == 0) {
		char msgid[96];
		snprintf(msgid, sizeof msgid, "digest-confirm.%lld.%.32s", (long long)now, rd->nonce);
		const char *slots[SLOT_COUNT] = {[SLOT_NAME] = rd->name, [SLOT_EMAIL] = rd->email,
						 [SLOT_UNSUBSCRIBE_URL] = "", [SLOT_MESSAGE_ID] = msgid};
		/* one message: signed, then copied after its signatures */
		struct buf m = {0};
		mime_skel_message(k, slots, &m);
		if (r->dkim)
			rc = dkim_sign(r->dkim, m.data, m.len, now, out, err);
		if (rc == 0)
			buf_add(out, m.data, m.len);
		buf_free(&m);
	}
	mime_skel_free(k);
	tout_free(&subject);
	tout_free(&text);
	tout_free(&html);
	return rc;
}
