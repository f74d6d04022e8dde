/* dkim_sign: the cost of one DKIM signature alone, the floor under what
 * signing adds to a message: dkim_sign over a message of a few headers and
 * a one-line body, so that canonicalization and hashing cost next to
 * nothing beside the private-key operation.
 *
 * usage: dkim_sign KEY.pem [COUNT]
 *
 * Prints one line: "dkim_sign: ALG, N signatures, U us/signature" (CPU time,
 * CLOCK_PROCESS_CPUTIME_ID around the loop). Exit 1 on error. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "digest/dkim.h"
#include "digest/util.h"

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: dkim_sign KEY.pem [COUNT]\n");
		return 1;
	}
	long n = argc == 3 ? strtol(argv[2], NULL, 10) : 2000;
	FILE *f = fopen(argv[1], "rb");
	if (!f || n <= 0) {
		fprintf(stderr, "dkim_sign: %s: cannot read\n", argv[1]);
		return 1;
	}
	char pem[16384];
	size_t len = fread(pem, 1, sizeof pem, f);
	fclose(f);
	struct dkim *d = dkim_new("example.org");
	char *err = NULL;
	if (dkim_add_key(d, "s", pem, len, argv[1], &err) < 0) {
		fprintf(stderr, "dkim_sign: %s\n", err);
		return 1;
	}
	static const char msg[] = "From: a@example.org\r\nTo: b@example.net\r\nSubject: x\r\n"
				  "Date: Tue, 24 Nov 2026 08:00:00 +0300\r\nMessage-ID: <x@example.org>\r\n\r\nx\r\n";
	struct buf out = {0};
	char *sig = NULL;
	double t0 = cpu_now();
	for (long i = 0; i < n; i++) {
		out.len = 0;
		if (dkim_sign(d, msg, sizeof msg - 1, 1795000000, &out, &err) < 0) {
			fprintf(stderr, "dkim_sign: %s\n", err);
			return 1;
		}
	}
	double t = cpu_now() - t0;
	sig = strstr(out.data, "a=");
	printf("dkim_sign: %.*s, %ld signatures, %.1f us/signature\n", (int)strcspn(sig + 2, ";"), sig + 2, n,
	       t * 1e6 / (double)n);
	buf_free(&out);
	dkim_free(d);
	return 0;
}
