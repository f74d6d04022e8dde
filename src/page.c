/* page: the web pages of `digest serve`, from templates/page.html in the
 * newsletter's language. */
#define _GNU_SOURCE
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "digest/page.h"
#include "digest/render.h"
#include "digest/template.h"

/* One page's words: its title and up to three paragraphs. */
struct words {
	int status;
	const char *title, *p[3];
};

struct lang {
	const char *lang;
	struct words w[PAGE_COUNT];
	const char *email_label, *name_label, *subscribe_button, *form_note, *confirm_button, *unsubscribe_button,
		*subscribe_again, *home;
};

static const struct lang en = {
	.lang = "en",
	.w = {
		[PAGE_FORM] = {200, "Subscribe", {"The day's most read stories in one email, every morning."}},
		[PAGE_CHECK_INBOX] = {200, "Check your inbox",
				      {"If this address is not subscribed yet, we have sent it an email with a link.",
				       "Open the link to confirm the subscription. Nothing is sent until you do."}},
		[PAGE_BAD_ADDRESS] = {400, "Check the address", {"This does not look like an email address."}},
		[PAGE_CONFIRM] = {200, "Confirm your subscription",
				  {"Press the button to start receiving the newsletter at this address:"}},
		[PAGE_CONFIRMED] = {200, "You are subscribed",
				    {"The newsletter will come to this address every morning:",
				     "Every issue has a link to unsubscribe."}},
		[PAGE_ALREADY_ACTIVE] = {200, "You are subscribed already",
					 {"This address receives the newsletter already:"}},
		[PAGE_LINK_EXPIRED] = {410, "This link has expired",
				       {"This address has left the list since the link was sent.",
					"To receive the newsletter again, subscribe once more."}},
		[PAGE_UNSUBSCRIBE] = {200, "Unsubscribe",
				      {"Press the button to stop the newsletter to this address:"}},
		[PAGE_UNSUBSCRIBED] = {200, "You are unsubscribed",
				       {"No more issues will be sent to this address:",
					"Changed your mind? You can subscribe again at any time."}},
		[PAGE_BAD_LINK] = {400, "This link is incomplete",
				   {"It may have been cut short when it was copied. Open the link from the email "
				    "again, or copy all of it."}},
		[PAGE_FORGED_LINK] = {403, "This link is not valid",
				      {"It belongs to no subscription here. Open the link from the email again, or "
				       "copy all of it."}},
		[PAGE_NOT_FOUND] = {404, "Page not found", {"There is no page at this address."}},
		[PAGE_BAD_METHOD] = {405, "Method not allowed", {"This page cannot be used that way."}},
		[PAGE_TOO_LARGE] = {413, "Request too large", {"The request was larger than this page accepts."}},
		[PAGE_BAD_TYPE] = {415, "Unsupported request", {"The form was sent in a format this page does not read."}},
		[PAGE_BAD_REQUEST] = {400, "Bad request", {"The request could not be understood."}},
		[PAGE_TOO_MANY] = {429, "Too many requests", {"Please wait a while, then try again."}},
		[PAGE_FAILED] = {500, "Something went wrong", {"Please try again later."}},
	},
	.email_label = "Email",
	.name_label = "Name (optional)",
	.subscribe_button = "Subscribe",
	.form_note = "We will send you an email to confirm the address. Every issue has a link to unsubscribe.",
	.confirm_button = "Confirm subscription",
	.unsubscribe_button = "Unsubscribe",
	.subscribe_again = "Subscribe",
	.home = "To the subscription page",
};

static const struct lang ru = {
	.lang = "ru",
	.w = {
		[PAGE_FORM] = {200, "Подписка", {"Самые читаемые материалы дня одним письмом, каждое утро."}},
		[PAGE_CHECK_INBOX] = {200, "Проверьте почту",
				      {"Если этот адрес ещё не подписан, мы отправили на него письмо со ссылкой.",
				       "Откройте ссылку, чтобы подтвердить подписку. До подтверждения рассылка не "
				       "приходит."}},
		[PAGE_BAD_ADDRESS] = {400, "Проверьте адрес", {"Это не похоже на адрес электронной почты."}},
		[PAGE_CONFIRM] = {200, "Подтвердите подписку",
				  {"Нажмите кнопку, чтобы получать рассылку на этот адрес:"}},
		[PAGE_CONFIRMED] = {200, "Подписка подтверждена",
				    {"Рассылка будет приходить каждое утро на адрес:",
				     "В каждом письме есть ссылка, чтобы отписаться."}},
		[PAGE_ALREADY_ACTIVE] = {200, "Вы уже подписаны", {"Этот адрес уже получает рассылку:"}},
		[PAGE_LINK_EXPIRED] = {410, "Ссылка устарела",
				       {"С тех пор как ссылка была отправлена, этот адрес выбыл из рассылки.",
					"Чтобы снова получать рассылку, подпишитесь ещё раз."}},
		[PAGE_UNSUBSCRIBE] = {200, "Отписка от рассылки",
				      {"Нажмите кнопку, чтобы больше не получать рассылку на этот адрес:"}},
		[PAGE_UNSUBSCRIBED] = {200, "Вы отписаны",
				       {"Рассылка больше не будет приходить на адрес:",
					"Передумали? Подписаться снова можно в любое время."}},
		[PAGE_BAD_LINK] = {400, "Ссылка неполная",
				   {"Возможно, она обрезалась при копировании. Откройте ссылку из письма ещё раз "
				    "или скопируйте её целиком."}},
		[PAGE_FORGED_LINK] = {403, "Ссылка недействительна",
				      {"Она не относится ни к одной подписке. Откройте ссылку из письма ещё раз или "
				       "скопируйте её целиком."}},
		[PAGE_NOT_FOUND] = {404, "Страница не найдена", {"По этому адресу страницы нет."}},
		[PAGE_BAD_METHOD] = {405, "Метод не поддерживается", {"Эту страницу нельзя использовать так."}},
		[PAGE_TOO_LARGE] = {413, "Слишком большой запрос", {"Запрос больше, чем принимает эта страница."}},
		[PAGE_BAD_TYPE] = {415, "Неподдерживаемый запрос", {"Форма отправлена в формате, который здесь не читается."}},
		[PAGE_BAD_REQUEST] = {400, "Неверный запрос", {"Запрос не удалось разобрать."}},
		[PAGE_TOO_MANY] = {429, "Слишком много запросов", {"Подождите немного и попробуйте снова."}},
		[PAGE_FAILED] = {500, "Что-то пошло не так", {"Попробуйте, пожалуйста, позже."}},
	},
	.email_label = "Электронная почта",
	.name_label = "Имя (необязательно)",
	.subscribe_button = "Подписаться",
	.form_note = "Мы пришлём письмо, чтобы подтвердить адрес. В каждом выпуске есть ссылка, чтобы отписаться.",
	.confirm_button = "Подтвердить подписку",
	.unsubscribe_button = "Отписаться",
	.subscribe_again = "Подписаться снова",
	.home = "На страницу подписки",
};

struct pages {
	const struct config *cfg;
	const struct lang *l;
	struct tmpl *t;
};

int page_load(const struct config *cfg, struct pages **out, char **err)
{
	*out = NULL;
	struct pages *p = xcalloc(1, sizeof *p);
	p->cfg = cfg;
	p->l = cfg->newsletter.locale == LOCALE_RU ? &ru : &en;
	if (render_template_load(cfg, "page.html", &p->t, err) < 0) {
		page_free(p);
		return -1;
	}
	*out = p;
	return 0;
}

void page_free(struct pages *p)
{
	if (!p)
		return;
	tmpl_free(p->t);
	free(p);
}

int page_status(enum page_kind kind)
{
	return kind >= 0 && kind < PAGE_COUNT ? en.w[kind].status : 500;
}

void page_render(const struct pages *p, enum page_kind kind, const struct page_args *a, struct buf *out)
{
	const struct lang *l = p->l;
	if (kind < 0 || kind >= PAGE_COUNT)
		kind = PAGE_FAILED;
	const struct words *w = &l->w[kind];
	const char *root = a && a->root ? a->root : "";
	struct tval *ctx = tv_object();
	struct tval *nl = tv_object();
	tv_set_str(nl, "name", p->cfg->newsletter.name);
	tv_set(ctx, "newsletter", nl);
	tv_set_str(ctx, "title", w->title);
	tv_set_str(ctx, "kind", page_status(kind) < 400 ? "ok" : "error");
	/* The first paragraph leads to the address, when the page shows one;
	 * the rest follow it. */
	tv_set_str(ctx, "lead", w->p[0]);
	struct tval *ps = tv_list();
	for (int i = 1; i < 3 && w->p[i]; i++)
		tv_append(ps, tv_string(w->p[i]));
	if (kind == PAGE_BAD_ADDRESS && a && a->detail)
		tv_append(ps, tv_string(a->detail));
	tv_set(ctx, "paragraphs", ps);
	bool shows_email = kind == PAGE_CONFIRM || kind == PAGE_CONFIRMED || kind == PAGE_ALREADY_ACTIVE ||
			   kind == PAGE_UNSUBSCRIBE || kind == PAGE_UNSUBSCRIBED;
	if (shows_email && a && a->email)
		tv_set_str(ctx, "email", a->email);
	char *action = NULL;
	if (kind == PAGE_FORM) {
		/* feed readers find the archive's feed from the subscribe page */
		char *feed = xasprintf("%s/archive.atom", root);
		tv_set_str(ctx, "feed_url", feed);
		free(feed);
	}
	if (kind == PAGE_FORM || kind == PAGE_BAD_ADDRESS) {
		struct tval *f = tv_object();
		action = xasprintf("%s/subscribe", root);
		tv_set_str(f, "action", action);
		tv_set_str(f, "email", a && a->email ? a->email : "");
		tv_set_str(f, "name", a && a->name ? a->name : "");
		tv_set(ctx, "form", f);
	} else if ((kind == PAGE_CONFIRM || kind == PAGE_UNSUBSCRIBE) && a && a->token) {
		struct tval *b = tv_object();
		action = xasprintf("%s/%s", root, kind == PAGE_CONFIRM ? "confirm" : "unsubscribe");
		tv_set_str(b, "action", action);
		tv_set_str(b, "token", a->token);
		tv_set_str(b, "label", kind == PAGE_CONFIRM ? l->confirm_button : l->unsubscribe_button);
		tv_set_str(b, "class", kind == PAGE_CONFIRM ? "" : "danger");
		tv_set(ctx, "button", b);
	} else if (kind != PAGE_CONFIRMED && kind != PAGE_ALREADY_ACTIVE && kind != PAGE_CHECK_INBOX) {
		struct tval *k = tv_object();
		action = xasprintf("%s/", root);
		tv_set_str(k, "href", action);
		tv_set_str(k, "text", kind == PAGE_UNSUBSCRIBED || kind == PAGE_LINK_EXPIRED ? l->subscribe_again
											     : l->home);
		tv_set(ctx, "link", k);
	}
	free(action);
	struct tval *t = tv_object();
	tv_set_str(t, "lang", l->lang);
	tv_set_str(t, "email_label", l->email_label);
	tv_set_str(t, "name_label", l->name_label);
	tv_set_str(t, "subscribe_button", l->subscribe_button);
	tv_set_str(t, "form_note", l->form_note);
	tv_set(ctx, "t", t);
	struct tout o = {0};
	tmpl_render(p->t, ctx, &o);
	tout_flatten(&o, NULL, out);
	tout_free(&o);
	tv_free(ctx);
}

void page_wording(const struct pages *p, struct buf *out)
{
	/* what a reader reads on the way in: the form, the answer to it, the
	 * confirmation page and the one after it; for an address and a link
	 * that are no one's, so that the same words give the same bytes */
	static const enum page_kind shown[] = {PAGE_FORM, PAGE_CHECK_INBOX, PAGE_CONFIRM, PAGE_CONFIRMED};
	struct page_args a = {.root = "", .email = "reader@example.invalid", .token = "token"};
	for (size_t i = 0; i < sizeof shown / sizeof *shown; i++) {
		page_render(p, shown[i], &a, out);
		buf_add(out, "", 1);
	}
}
