/* config_internal: what config.c (the generic loader) and config_table.c
 * (the keys and their hooks) share; libconfig stays inside these two. */
#ifndef DIGEST_CONFIG_INTERNAL_H
#define DIGEST_CONFIG_INTERNAL_H

#include <libconfig.h>

#include "digest/config.h"
#include "digest/config_table.h"

/* Loading state: the file name for messages, the count of errors, and the
 * configuration being filled. */
struct conf_loader {
	const char *file;
	int errors;
	struct config *cfg;
};

/* The line of S (1 when unknown). */
int conf_line_of(const config_setting_t *s);
/* GROUP's member NAME, or NULL (GROUP may be NULL). */
const config_setting_t *conf_member(const config_setting_t *group, const char *name);
/* "PREFIX.NAME", or NAME alone at the top; malloc'd. */
char *conf_key_path(const char *prefix, const char *name);
/* What a libconfig type is called in messages ("an integer"). */
const char *conf_type_name(int type);
/* Warn about members of GROUP that TABLE does not describe, with the key
 * meant when one is near. */
void conf_check_unknown(struct conf_loader *ld, const config_setting_t *group, const char *prefix,
			const struct conf_table *table);
/* Put TABLE's defaults into BASE (and its groups'; lists start empty). */
void conf_defaults(const struct conf_table *table, void *base, const char *dir);
/* Read GROUP (NULL: absent, only the hooks run) into BASE as TABLE
 * describes: unknown keys, each key and its hook, then TABLE's finish. */
void conf_read(struct conf_loader *ld, const struct conf_table *table, const config_setting_t *group,
	       const char *prefix, void *base);
/* Free what TABLE's keys own in BASE (strings, lists' elements). */
void conf_release(const struct conf_table *table, void *base);

#endif
