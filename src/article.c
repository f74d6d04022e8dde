/* article: one news article as stored and ranked. */
#include <stdlib.h>
#include <string.h>

#include "digest/article.h"

void article_clear(struct article *a)
{
	free(a->url);
	free(a->source);
	free(a->title);
	free(a->summary);
	free(a->image);
	memset(a, 0, sizeof *a);
}

void articles_free(struct article *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++)
		article_clear(&a[i]);
	free(a);
}
