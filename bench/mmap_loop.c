// SPDX-License-Identifier: Apache-2.0
// Benchmark program: N x (mmap 1 MiB anonymous, touch every page, munmap); with "untouched" as the
// second argument, mmap and munmap only. Prints ns per iteration.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	int touch = !(argc > 2 && strcmp(argv[2], "untouched") == 0);
	const size_t len = 1 << 20;
	struct timespec a, b;
	clock_gettime(CLOCK_MONOTONIC, &a);
	for (long i = 0; i < n; i++) {
		volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		for (size_t off = 0; touch && off < len; off += 4096)
			p[off] = 1;
		munmap((void *)p, len);
	}
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("%.0f ns per mmap%s+munmap of 1 MiB\n",
	       ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / n, touch ? "+touch" : "");
	return 0;
}
