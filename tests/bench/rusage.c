/* rusage: run a program and write its own resource usage to a file.
 *
 * usage: rusage OUT PROGRAM [ARG...]
 *
 * Runs PROGRAM, waits for it with wait4, and writes one line to OUT:
 *
 *   exit=N user=SECONDS sys=SECONDS maxrss_kb=KB
 *
 * Why not wait4 from Python directly: on Linux ru_maxrss survives execve, so
 * a child forked (or vforked) from a 20 MB Python process reports at least
 * 20 MB whatever it really uses. Forked from this small program, PROGRAM's
 * peak RSS is its own (plus at most this program's few hundred KB).
 *
 * SIGINT and SIGTERM are passed on to PROGRAM, which is also killed if this
 * program dies. Exits with PROGRAM's status (128 + N after signal N).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void pass_on(int sig)
{
	if (child > 0)
		kill(child, sig);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: rusage OUT PROGRAM [ARG...]\n");
		return 64;
	}
	pid_t parent = getpid();
	child = fork();
	if (child < 0) {
		perror("rusage: fork");
		return 71;
	}
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(70);
		execvp(argv[2], argv + 2);
		fprintf(stderr, "rusage: %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	struct sigaction sa = {0};
	sa.sa_handler = pass_on;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int status;
	struct rusage ru;
	while (wait4(child, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			perror("rusage: wait4");
			return 71;
		}
	}
	int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 73;
	}
	fprintf(f, "exit=%d user=%ld.%06ld sys=%ld.%06ld maxrss_kb=%ld\n", code, (long)ru.ru_utime.tv_sec,
		(long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec, (long)ru.ru_stime.tv_usec, ru.ru_maxrss);
	if (fclose(f) != 0) {
		perror(argv[1]);
		return 74;
	}
	return code;
}
