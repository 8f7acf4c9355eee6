// SPDX-License-Identifier: Apache-2.0
// Benchmark program: N x (openat + fstat + close) of one file; prints ns per iteration.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	const char *p = argc > 2 ? argv[2] : "/usr/include/stdio.h";
	struct timespec a, b;
	struct stat st;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, p, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) { perror("open"); return 1; }
		close(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.0f ns per openat+fstat+close\n", ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n);
	return 0;
}
