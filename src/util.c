/* util: allocation that dies on out-of-memory, strings and small buffers. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "digest/util.h"

static void oom(void)
{
	fputs("digest: out of memory\n", stderr);
	exit(70);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

__attribute__((format(printf, 1, 0))) static char *xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

int errf(char **err, const char *fmt, ...)
{
	if (!err)
		return -1;
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	free(*err);
	*err = s;
	return -1;
}

static void buf_grow(struct buf *b, size_t extra)
{
	if (b->len + extra + 1 <= b->cap)
		return;
	size_t cap = b->cap ? b->cap : 64;
	while (cap < b->len + extra + 1)
		cap *= 2;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

void buf_add(struct buf *b, const void *p, size_t n)
{
	buf_grow(b, n);
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

size_t buf_room(struct buf *b, size_t n)
{
	buf_grow(b, n);
	size_t at = b->len;
	b->len += n;
	b->data[b->len] = '\0';
	return at;
}

void buf_addf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = xvasprintf(fmt, ap);
	va_end(ap);
	buf_adds(b, s);
	free(s);
}

void buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

/* Length in bytes of the whitespace character at S, or 0. Covers ASCII
 * whitespace and the Unicode spaces pages use between words and digits. */
static size_t ws_len(const unsigned char *s)
{
	if (*s == ' ' || (*s >= '\t' && *s <= '\r'))
		return 1;
	if (s[0] == 0xC2 && s[1] == 0xA0) /* NBSP */
		return 2;
	if (s[0] == 0xE2 && s[1] == 0x80 && s[2] >= 0x80 && s[2] <= 0x8B) /* U+2000..200B */
		return 3;
	if (s[0] == 0xE2 && s[1] == 0x80 && s[2] == 0xAF) /* U+202F */
		return 3;
	if (s[0] == 0xE3 && s[1] == 0x80 && s[2] == 0x80) /* U+3000 */
		return 3;
	return 0;
}

char *str_collapse_ws(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = (unsigned char *)s;
	int pending = 0;
	while (*r) {
		size_t n = ws_len(r);
		if (n) {
			pending = w != (unsigned char *)s;
			r += n;
			continue;
		}
		if (*r < 0x20 || *r == 0x7f) { /* other C0 controls and DEL: dropped */
			r++;
			continue;
		}
		if (r[0] == 0xC2 && r[1] >= 0x80 && r[1] <= 0x9F) { /* C1 controls */
			r += 2;
			continue;
		}
		/* bidirectional embeddings, overrides and isolates (U+202A..202E,
		 * U+2066..2069): they reorder what a reader sees around them */
		if (r[0] == 0xE2 && ((r[1] == 0x80 && r[2] >= 0xAA && r[2] <= 0xAE) ||
				     (r[1] == 0x81 && r[2] >= 0xA6 && r[2] <= 0xA9))) {
			r += 3;
			continue;
		}
		if (pending)
			*w++ = ' ';
		pending = 0;
		*w++ = *r++;
	}
	*w = '\0';
	return s;
}

size_t utf8_width(const char *s)
{
	size_t w = 0;
	const unsigned char *p = (const unsigned char *)s;
	while (*p) {
		if ((p[0] == 0xCC || (p[0] == 0xCD && p[1] < 0xB0)) && (p[1] & 0xC0) == 0x80) {
			p += 2; /* U+0300..036F, combining */
			continue;
		}
		if ((*p & 0xC0) != 0x80)
			w++;
		p++;
	}
	return w;
}

char *path_resolve(const char *dir, const char *path)
{
	if (path[0] == '/' || !dir || !*dir)
		return xstrdup(path);
	return xasprintf("%s/%s", dir, path);
}

char *path_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

int fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd);
	int e = errno;
	close(fd);
	errno = e;
	return rc;
}

int mkdir_p(const char *path, int mode)
{
	char *p = xstrdup(path);
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, (mode_t)mode) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			errno = e;
			return -1;
		}
		*s = '/';
	}
	int rc = mkdir(p, (mode_t)mode);
	int e = errno;
	free(p);
	if (rc < 0 && e != EEXIST) {
		errno = e;
		return -1;
	}
	return 0;
}

int outfile_open(struct outfile *o, const char *path, char **err)
{
	memset(o, 0, sizeof *o);
	if (!path) {
		o->f = stdout;
		return 0;
	}
	struct stat sb;
	o->path = xstrdup(path);
	if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
		o->f = fopen(path, "we");
	} else {
		o->tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
		o->f = fopen(o->tmp, "wex");
	}
	if (o->f)
		return 0;
	errf(err, "%s: %s", o->tmp ? o->tmp : path, strerror(errno));
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
	return -1;
}

int outfile_close(struct outfile *o, bool keep, char **err)
{
	if (!o->f)
		return 0;
	const char *name = o->path ? o->path : "standard output";
	int e = 0;
	if (fflush(o->f) != 0 || ferror(o->f))
		e = errno ? errno : EIO;
	if (o->f != stdout && fclose(o->f) != 0 && !e)
		e = errno ? errno : EIO;
	if (!e && keep && o->tmp && rename(o->tmp, o->path) < 0)
		e = errno;
	if (o->tmp && (e || !keep))
		unlink(o->tmp);
	if (e)
		errf(err, "%s: %s", name, strerror(e));
	free(o->path);
	free(o->tmp);
	memset(o, 0, sizeof *o);
	return e ? -1 : 0;
}

void fmt_time_local(long long t, char out[17])
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!localtime_r(&tt, &tm) || strftime(out, 17, "%Y-%m-%d %H:%M", &tm) == 0)
		snprintf(out, 17, "(unknown date)");
}

void random_bytes(void *p, size_t n)
{
	unsigned char *b = p;
	while (n > 0) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "digest: no random bytes from the kernel: %s\n", strerror(errno));
			exit(70);
		}
		b += r;
		n -= (size_t)r;
	}
}

unsigned long utf8_decode(const unsigned char *s, size_t *len)
{
	unsigned char c = s[0];
	unsigned long cp, min;
	size_t n;

	if (c < 0x80) {
		*len = 1;
		return c;
	}
	if ((c & 0xE0) == 0xC0) {
		n = 2, cp = c & 0x1F, min = 0x80;
	} else if ((c & 0xF0) == 0xE0) {
		n = 3, cp = c & 0x0F, min = 0x800;
	} else if ((c & 0xF8) == 0xF0) {
		n = 4, cp = c & 0x07, min = 0x10000;
	} else {
		*len = 1;
		return 0xFFFD;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*len = 1;
			return 0xFFFD;
		}
		cp = (cp << 6) | (s[i] & 0x3F);
	}
	if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
		*len = 1;
		return 0xFFFD;
	}
	*len = n;
	return cp;
}

int hex_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

struct timespec mono_timespec(double at)
{
	double d = at - mono_now();
	if (d < 0)
		d = 0;
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)d;
	ts.tv_nsec += (long)((d - (double)(time_t)d) * 1e9);
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

int secret_file_line(const char *path, const char *key, char **out, char **err)
{
	*out = NULL;
	FILE *f = fopen(path, "re");
	if (!f)
		return errf(err, "%s: %s: %s", key, path, strerror(errno));
	char line[1024] = "";
	if (!fgets(line, sizeof line, f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\r\n")] = '\0';
	*out = xstrdup(line);
	explicit_bzero(line, sizeof line);
	return 0;
}
