// SPDX-License-Identifier: Apache-2.0
// Guest program: memory use and time left — ru_maxrss of the process and of its reaped children,
// VmRSS/VmHWM in /proc/self/status and the resident field of statm follow the memory touched;
// ppoll and pselect6 write back the time left (none after a timeout, most of it when ready at
// once). Printed as yes/no answers, compared with native.
#define _GNU_SOURCE
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define MB (1024 * 1024)

static long status_kb(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, key, strlen(key)) == 0)
			v = strtol(line + strlen(key) + 1, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	char *p = malloc(40 * MB);
	memset(p, 1, 40 * MB);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("maxrss after 40 MB: %s\n", ru.ru_maxrss > 35 * 1024 ? "over 35 MB" : "less");
	printf("VmRSS: %s, VmHWM: %s\n", status_kb("VmRSS:") > 35 * 1024 ? "over 35 MB" : "less",
	       status_kb("VmHWM:") > 35 * 1024 ? "over 35 MB" : "less");
	long size, res;
	FILE *f = fopen("/proc/self/statm", "r");
	if (!f || fscanf(f, "%ld %ld", &size, &res) != 2)
		return 1;
	fclose(f);
	printf("statm resident: %s\n", res * 4096 > 35 * MB ? "over 35 MB" : "less");
	free(p);
	getrusage(RUSAGE_SELF, &ru);
	printf("maxrss after free: %s\n", ru.ru_maxrss > 35 * 1024 ? "still over 35 MB" : "less");
	pid_t c = fork();
	if (c == 0) {
		volatile char *q = malloc(80 * MB); /* volatile: the compiler keeps every page touched */
		for (size_t i = 0; i < 80 * MB; i += 4096)
			q[i] = 2;
		_exit(q[4096] == 2 ? 0 : 1);
	}
	waitpid(c, NULL, 0);
	getrusage(RUSAGE_CHILDREN, &ru);
	printf("children's maxrss: %s\n", ru.ru_maxrss > 75 * 1024 ? "over 75 MB" : "less");
	/* a reaped grandchild's peak reaches this process through the child that reaped it, the moment
	 * each wait returns */
	c = fork();
	if (c == 0) {
		pid_t g = fork();
		if (g == 0) {
			volatile char *q = malloc(120 * MB);
			for (size_t i = 0; i < 120 * MB; i += 4096)
				q[i] = 3;
			_exit(q[4096] == 3 ? 0 : 1);
		}
		waitpid(g, NULL, 0);
		struct rusage cru;
		getrusage(RUSAGE_CHILDREN, &cru);
		_exit(cru.ru_maxrss > 115 * 1024 ? 0 : 1);
	}
	int st;
	waitpid(c, &st, 0);
	getrusage(RUSAGE_CHILDREN, &ru);
	const char *in_child = WEXITSTATUS(st) == 0 ? "over 115 MB" : "less";
	printf("grandchild's maxrss: %s in the child, %s here\n", in_child,
	       ru.ru_maxrss > 115 * 1024 ? "over 115 MB" : "less");

	int fds[2];
	if (pipe(fds) < 0)
		return 1;
	struct pollfd pf = { fds[0], POLLIN, 0 };
	struct timespec ts = { 0, 100000000 };
	long r = syscall(SYS_ppoll, &pf, 1, &ts, NULL, 8);
	printf("ppoll timed out: %ld, left %s\n", r, ts.tv_sec == 0 && ts.tv_nsec == 0 ? "none" : "some");
	if (write(fds[1], "x", 1) != 1)
		return 1;
	ts = (struct timespec){ 5, 0 };
	r = syscall(SYS_ppoll, &pf, 1, &ts, NULL, 8);
	printf("ppoll ready: %ld, left %s\n", r, ts.tv_sec >= 4 ? "most" : "little");
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(fds[0], &rd);
	ts = (struct timespec){ 5, 0 };
	r = syscall(SYS_pselect6, fds[0] + 1, &rd, NULL, NULL, &ts, NULL);
	printf("pselect6 ready: %ld, left %s\n", r, ts.tv_sec >= 4 ? "most" : "little");
	return 0;
}
