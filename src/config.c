/* config: digest.conf (libconfig) loaded into plain structs, as the table
 * of keys (config_table.c) describes: defaults, types, ranges and choices,
 * unknown keys, and freeing, for every key alike. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config_internal.h"
#include "digest/extract.h"
#include "digest/log.h"
#include "digest/util.h"

int conf_line_of(const config_setting_t *s)
{
	int line = s ? (int)config_setting_source_line(s) : 0;
	return line > 0 ? line : 1;
}

const config_setting_t *conf_member(const config_setting_t *group, const char *name)
{
	return group ? config_setting_get_member(group, name) : NULL;
}

void conf_problem(struct conf_loader *ld, const config_setting_t *s, const char *key, const char *fmt, ...)
{
	char *msg;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL;
	va_end(ap);
	const char *file = s ? config_setting_source_file(s) : NULL;
	log_error("%s:%d: %s: %s", file ? file : ld->file, conf_line_of(s), key, msg ? msg : fmt);
	free(msg);
	ld->errors++;
}

const char *conf_type_name(int type)
{
	switch (type) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		return "an integer";
	case CONFIG_TYPE_FLOAT:
		return "a number";
	case CONFIG_TYPE_STRING:
		return "a string";
	case CONFIG_TYPE_BOOL:
		return "true or false";
	case CONFIG_TYPE_GROUP:
		return "a group { ... }";
	case CONFIG_TYPE_ARRAY:
		return "an array [ ... ]";
	case CONFIG_TYPE_LIST:
		return "a list ( ... )";
	default:
		return "a value";
	}
}

char *conf_key_path(const char *prefix, const char *name)
{
	return *prefix ? xasprintf("%s.%s", prefix, name) : xstrdup(name);
}

/* distance: how many single-letter edits (insert, delete, replace, swap
 * two neighbours) make A into B, counted up to CAP (a key name is short:
 * longer ones are not worth a suggestion). */
static int distance(const char *a, const char *b, int cap)
{
	enum { MAX = 40 };
	size_t la = strlen(a), lb = strlen(b);
	if (la >= MAX || lb >= MAX)
		return cap;
	int d[MAX + 1][MAX + 1];
	for (size_t i = 0; i <= la; i++)
		d[i][0] = (int)i;
	for (size_t k = 0; k <= lb; k++)
		d[0][k] = (int)k;
	for (size_t i = 1; i <= la; i++)
		for (size_t k = 1; k <= lb; k++) {
			int best = d[i - 1][k - 1] + (a[i - 1] != b[k - 1]);
			if (d[i - 1][k] + 1 < best)
				best = d[i - 1][k] + 1;
			if (d[i][k - 1] + 1 < best)
				best = d[i][k - 1] + 1;
			if (i > 1 && k > 1 && a[i - 1] == b[k - 2] && a[i - 2] == b[k - 1] && d[i - 2][k - 2] + 1 < best)
				best = d[i - 2][k - 2] + 1;
			d[i][k] = best;
		}
	return d[la][lb] < cap ? d[la][lb] : cap;
}

/* suggest: the key of TABLE nearest NAME, when it is near enough to be a
 * slip of the keyboard (at most 2 edits, and fewer than half its letters);
 * else NULL. */
static const char *suggest(const char *name, const struct conf_table *table)
{
	const char *best = NULL;
	int best_d = 3;
	for (const struct conf_key *k = table->keys; k->name; k++) {
		int d = distance(name, k->name, best_d);
		if (d < best_d && 2 * d < (int)strlen(k->name)) {
			best = k->name;
			best_d = d;
		}
	}
	return best;
}

static const struct conf_key *find_key(const struct conf_table *table, const char *name)
{
	for (const struct conf_key *k = table->keys; k->name; k++)
		if (name && !strcmp(k->name, name))
			return k;
	return NULL;
}

void conf_check_unknown(struct conf_loader *ld, const config_setting_t *group, const char *prefix,
			const struct conf_table *table)
{
	if (!group || !config_setting_is_group(group))
		return;
	for (int i = 0; i < config_setting_length(group); i++) {
		const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
		const char *name = config_setting_name(m);
		if (find_key(table, name))
			continue;
		const char *file = config_setting_source_file(m);
		const char *near = name ? suggest(name, table) : NULL;
		const char *dot = *prefix ? "." : "";
		if (near)
			log_warn("%s:%d: %s%s%s: unknown key, ignored; did you mean %s%s%s?", file ? file : ld->file,
				 conf_line_of(m), prefix, dot, name, prefix, dot, near);
		else
			log_warn("%s:%d: %s%s%s: unknown key, ignored", file ? file : ld->file, conf_line_of(m), prefix,
				 dot, name ? name : "?");
	}
}

/* ---- reading one value: S is set, K names it in messages ---- */

/* A string: a copy in *OUT, or NULL after an error. */
static char *read_str(struct conf_loader *ld, const config_setting_t *s, const char *k, bool allow_empty)
{
	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		conf_problem(ld, s, k, "expected %s, got %s", conf_type_name(CONFIG_TYPE_STRING),
			     conf_type_name(config_setting_type(s)));
		return NULL;
	}
	const char *v = config_setting_get_string(s);
	if (!allow_empty && (!v || !*v)) {
		conf_problem(ld, s, k, "must not be empty");
		return NULL;
	}
	return xstrdup(v ? v : "");
}

/* An integer of KEY's range, into *OUT; -1 after an error. */
static int read_int(struct conf_loader *ld, const config_setting_t *s, const char *k, const struct conf_key *key,
		    long long *out)
{
	int t = config_setting_type(s);
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64) {
		conf_problem(ld, s, k, "expected %s, got %s", conf_type_name(CONFIG_TYPE_INT), conf_type_name(t));
		return -1;
	}
	long long v = config_setting_get_int64(s), min = (long long)key->min, max = (long long)key->max;
	if (v < min || v > max) {
		conf_problem(ld, s, k, "expected %lld..%lld, got %lld", min, max, v);
		return -1;
	}
	*out = v;
	return 0;
}

/* Seconds or a number, an integer or not, of KEY's range. */
static int read_double(struct conf_loader *ld, const config_setting_t *s, const char *k, const struct conf_key *key,
		       double *out)
{
	int t = config_setting_type(s);
	bool seconds = key->type == CONF_SECONDS;
	if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64 && t != CONFIG_TYPE_FLOAT) {
		conf_problem(ld, s, k, "expected %s, got %s", seconds ? "seconds" : "a number", conf_type_name(t));
		return -1;
	}
	double v = t == CONFIG_TYPE_FLOAT ? config_setting_get_float(s) : (double)config_setting_get_int64(s);
	if (!(v >= key->min && v <= key->max)) {
		conf_problem(ld, s, k, "expected %g..%g%s, got %g", key->min, key->max, seconds ? " seconds" : "", v);
		return -1;
	}
	*out = v;
	return 0;
}

/* One of KEY's choices, its value into *OUT. */
static int read_enum(struct conf_loader *ld, const config_setting_t *s, const char *k, const struct conf_key *key,
		     int *out)
{
	char *v = read_str(ld, s, k, false);
	if (!v)
		return -1;
	for (const struct conf_choice *c = key->choices; c->name; c++)
		if (!strcmp(v, c->name)) {
			*out = c->value;
			free(v);
			return 0;
		}
	struct buf b = {0};
	for (const struct conf_choice *c = key->choices; c->name; c++)
		buf_addf(&b, "%s%s", c == key->choices ? "" : " | ", c->name);
	conf_problem(ld, s, k, "expected %s, got \"%s\"", b.data, v);
	buf_free(&b);
	free(v);
	return -1;
}

static void replace(char **dst, char *v)
{
	if (v) {
		free(*dst);
		*dst = v;
	}
}

/* Read the value of KEY, set in S, into FIELD. */
static void read_value(struct conf_loader *ld, const struct conf_key *key, const config_setting_t *s,
		       const char *k, void *field)
{
	long long n;
	char *v;
	switch (key->type) {
	case CONF_STRING:
		replace(field, read_str(ld, s, k, key->flags & CONF_EMPTY_OK));
		break;
	case CONF_PATH:
		if ((v = read_str(ld, s, k, false))) {
			replace(field, path_resolve(ld->cfg->dir, v));
			free(v);
		}
		break;
	case CONF_XPATH:
		if ((v = read_str(ld, s, k, false))) {
			char *err = NULL;
			if (extract_xpath_check(v, &err) < 0) {
				conf_problem(ld, s, k, "%s: \"%s\"", err, v);
				free(err);
				free(v);
			} else {
				replace(field, v);
			}
		}
		break;
	case CONF_INT:
		if (read_int(ld, s, k, key, &n) == 0)
			*(int *)field = (int)n;
		break;
	case CONF_INT64:
		read_int(ld, s, k, key, field);
		break;
	case CONF_SECONDS:
	case CONF_NUMBER:
		read_double(ld, s, k, key, field);
		break;
	case CONF_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			conf_problem(ld, s, k, "expected %s, got %s", conf_type_name(CONFIG_TYPE_BOOL),
				     conf_type_name(config_setting_type(s)));
		else
			*(bool *)field = config_setting_get_bool(s) != 0;
		break;
	case CONF_ENUM:
		read_enum(ld, s, k, key, field);
		break;
	case CONF_GROUP:
	case CONF_LIST:
		break; /* conf_read's */
	}
}

void conf_read(struct conf_loader *ld, const struct conf_table *table, const config_setting_t *group,
	       const char *prefix, void *base)
{
	conf_check_unknown(ld, group, prefix, table);
	for (const struct conf_key *key = table->keys; key->name; key++) {
		const config_setting_t *s = conf_member(group, key->name);
		char *k = conf_key_path(prefix, key->name);
		if (key->type == CONF_GROUP) {
			if (s && !config_setting_is_group(s)) {
				conf_problem(ld, s, k, "expected %s, got %s", conf_type_name(CONFIG_TYPE_GROUP),
					     conf_type_name(config_setting_type(s)));
				s = NULL;
			}
			conf_read(ld, key->sub, s, k, base);
		} else if (s) {
			read_value(ld, key, s, k, (char *)base + key->offset);
		}
		if (key->at)
			*(int *)((char *)ld->cfg + key->at) = s ? conf_line_of(s) : 0;
		if (key->hook)
			key->hook(ld, group, prefix, base);
		free(k);
	}
	if (table->finish)
		table->finish(ld, group, prefix, base);
}

void conf_defaults(const struct conf_table *table, void *base, const char *dir)
{
	for (const struct conf_key *key = table->keys; key->name; key++) {
		void *field = (char *)base + key->offset;
		if (key->type == CONF_GROUP) {
			conf_defaults(key->sub, base, dir);
			continue;
		}
		if (!key->def)
			continue;
		switch (key->type) {
		case CONF_STRING:
		case CONF_XPATH:
			*(char **)field = xstrdup(key->def);
			break;
		case CONF_PATH:
			*(char **)field = path_resolve(dir, key->def);
			break;
		case CONF_INT:
			*(int *)field = (int)strtoll(key->def, NULL, 10);
			break;
		case CONF_INT64:
			*(long long *)field = strtoll(key->def, NULL, 10);
			break;
		case CONF_SECONDS:
		case CONF_NUMBER:
			*(double *)field = strtod(key->def, NULL);
			break;
		case CONF_BOOL:
			*(bool *)field = !strcmp(key->def, "true");
			break;
		case CONF_ENUM:
			for (const struct conf_choice *c = key->choices; c->name; c++)
				if (!strcmp(c->name, key->def))
					*(int *)field = c->value;
			break;
		case CONF_GROUP:
		case CONF_LIST:
			break;
		}
	}
}

void conf_release(const struct conf_table *table, void *base)
{
	for (const struct conf_key *key = table->keys; key->name; key++) {
		void *field = (char *)base + key->offset;
		switch (key->type) {
		case CONF_STRING:
		case CONF_PATH:
		case CONF_XPATH:
			free(*(char **)field);
			*(char **)field = NULL;
			break;
		case CONF_GROUP:
			conf_release(key->sub, base);
			break;
		case CONF_LIST: {
			char *elems = *(char **)field;
			int n = *(int *)((char *)base + key->sub->count_at);
			for (int i = 0; elems && i < n; i++)
				conf_release(key->sub, elems + (size_t)i * key->sub->elem_size);
			free(elems);
			*(char **)field = NULL;
			break;
		}
		default:
			break;
		}
	}
}

/* The key named by the dotted path KEY under TABLE, or NULL. */
static const struct conf_key *lookup(const struct conf_table *table, const char *key)
{
	const char *dot = strchr(key, '.');
	for (const struct conf_key *k = table->keys; k->name; k++) {
		size_t n = dot ? (size_t)(dot - key) : strlen(key);
		if (strlen(k->name) != n || strncmp(k->name, key, n))
			continue;
		if (!dot)
			return k;
		return k->sub ? lookup(k->sub, dot + 1) : NULL;
	}
	return NULL;
}

const char *config_choice_name(const char *key, int value)
{
	const struct conf_key *k = lookup(&config_root, key);
	for (const struct conf_choice *c = k ? k->choices : NULL; c && c->name; c++)
		if (c->value == value)
			return c->name;
	return "?";
}

int config_load(const char *path, struct config **out)
{
	*out = NULL;
	struct config *cfg = xcalloc(1, sizeof *cfg);
	cfg->path = xstrdup(path);
	cfg->dir = path_dir(path);
	conf_defaults(&config_root, cfg, cfg->dir);
	struct conf_loader ld = {.file = path, .errors = 0, .cfg = cfg};

	if (access(path, R_OK) < 0) {
		log_error("%s: cannot read the configuration: %m", path);
		config_free(cfg);
		return -1;
	}
	config_t lc;
	config_init(&lc);
	config_set_include_dir(&lc, cfg->dir); /* @include "x.conf" beside this file */
	if (config_read_file(&lc, path) != CONFIG_TRUE) {
		const char *f = config_error_file(&lc);
		log_error("%s:%d: %s", f ? f : path, config_error_line(&lc), config_error_text(&lc));
		config_destroy(&lc);
		config_free(cfg);
		return -1;
	}
	conf_read(&ld, &config_root, config_root_setting(&lc), "", cfg);
	config_destroy(&lc);
	if (ld.errors) {
		config_free(cfg);
		return -1;
	}
	*out = cfg;
	return 0;
}

void config_apply_timezone(const struct config *cfg)
{
	setenv("TZ", cfg->newsletter.timezone, 1);
	tzset();
}

void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	conf_release(&config_root, cfg);
	free(cfg->path);
	free(cfg->dir);
	free(cfg);
}
