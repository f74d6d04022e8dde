/* article: one news article as stored and ranked. */
#ifndef DIGEST_ARTICLE_H
#define DIGEST_ARTICLE_H

#include <stdbool.h>
#include <stddef.h>

struct article {
	long long id;   /* store's id; 0 before it is stored */
	char *url;      /* normalized */
	char *source;   /* the source's name */
	char *title;
	char *summary;  /* may be NULL */
	char *image;    /* may be NULL */
	long long published;  /* Unix time; when unknown, first_seen */
	bool published_known; /* false: the page gave no parseable date */
	long long views;      /* -1 when unknown */
	long long comments;   /* -1 when unknown */
	double rating;
	bool has_rating;
	long long first_seen, last_seen;
};

/* article_clear: frees what A owns and zeroes it. */
void article_clear(struct article *a);
/* articles_free: clears the N articles of A and frees A; NULL is fine. */
void articles_free(struct article *a, size_t n);

#endif
