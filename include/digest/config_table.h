/* config_table: the one description of digest.conf's keys (as mutt's
 * MuttVars[] and neomutt's ConfigDef): each key's name, type, place in
 * struct config, default, range or choices and meaning. config.c applies
 * the defaults, reads and checks the values, warns about unknown keys and
 * frees the strings from it; README.md's key tables and digest.conf(5)'s
 * key list are generated from it (`make docs`, checked by
 * tests/unit/test_config_doc.c). */
#ifndef DIGEST_CONFIG_TABLE_H
#define DIGEST_CONFIG_TABLE_H

#include <stddef.h>

enum conf_type {
	CONF_STRING,  /* char *, not empty unless CONF_EMPTY_OK */
	CONF_PATH,    /* char *, resolved against the configuration's directory */
	CONF_XPATH,   /* char *, an XPath 1.0 expression that compiles */
	CONF_INT,     /* int, MIN..MAX */
	CONF_INT64,   /* long long, MIN..MAX */
	CONF_SECONDS, /* double, an integer or a number, MIN..MAX */
	CONF_NUMBER,  /* double, an integer or a number, MIN..MAX */
	CONF_BOOL,    /* bool */
	CONF_ENUM,    /* int: the value of the one of CHOICES digest.conf names */
	CONF_GROUP,   /* { ... }: the members SUB describes, in the same base */
	CONF_LIST,    /* ( { ... }, ... ): each element as SUB describes, read by HOOK */
};

/* Flags of a key. */
#define CONF_EMPTY_OK 1u /* a string may be "" */

struct conf_choice {
	const char *name; /* as digest.conf spells it */
	int value;
};

struct conf_loader;      /* config.c's loading state */
struct config_setting_t; /* libconfig's */

/* A hook: GROUP (NULL when digest.conf has no such group) has been read
 * into BASE; PREFIX names GROUP in messages ("delivery.smtp"). Problems go
 * out through conf_problem. */
typedef void conf_hook(struct conf_loader *ld, const struct config_setting_t *group, const char *prefix,
		       void *base);

struct conf_table;

struct conf_key {
	const char *name;
	enum conf_type type;
	size_t offset;       /* of the value in the table's base; CONF_LIST: of the array's pointer */
	const char *def;     /* the default as digest.conf would write it; NULL: none (NULL, 0, false) */
	const char *def_doc; /* the default as the documentation says it, when DEF does not say it all */
	double min, max;     /* CONF_INT, CONF_INT64, CONF_SECONDS, CONF_NUMBER */
	const struct conf_choice *choices; /* CONF_ENUM: ending with a NULL name */
	const struct conf_table *sub;      /* CONF_GROUP, CONF_LIST: the members */
	conf_hook *hook;     /* after the key is read, set or not: checks of its own; CONF_LIST: reads the list */
	size_t at;           /* offsetof(struct config, X): the int that keeps the line setting it; 0: none */
	unsigned flags;      /* CONF_* */
	const char *doc;     /* what it means, one line; `code`, `"a string"` marked as in Markdown */
};

struct conf_table {
	const char *section;         /* digest.conf(5)'s section of a top-level group or list */
	const struct conf_key *keys; /* ending with a NULL name */
	conf_hook *finish;           /* after every key: checks across keys, values derived from others */
	size_t elem_size;            /* a list's element table: the size of an element */
	size_t count_at;             /* a list's element table: offsetof the int count in the list's base */
	const char *what;            /* a list's element table: what an element is ("a source"), for the README */
};

/* The whole file: its members are the top-level groups and lists. */
extern const struct conf_table config_root;

/* conf_problem: report an error "FILE:LINE: KEY: MESSAGE" about setting S
 * (the file's first line when NULL); loading then fails. */
void conf_problem(struct conf_loader *ld, const struct config_setting_t *s, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
