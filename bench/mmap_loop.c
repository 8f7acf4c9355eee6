// SPDX-License-Identifier: Apache-2.0
// Benchmark program: N x (mmap 1 MiB anonymous, write every page, munmap), then N x (mmap + munmap
// without touching); prints ns per iteration of each.
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000;
	size_t len = 1 << 20;
	for (int touch = 1; touch >= 0; touch--) {
		double a = now();
		for (long i = 0; i < n; i++) {
			volatile char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (p == MAP_FAILED) {
				perror("mmap");
				return 1;
			}
			if (touch)
				for (size_t o = 0; o < len; o += 4096)
					p[o] = 1;
			munmap((void *)p, len);
		}
		printf("%.0f ns per mmap%s+munmap (1 MiB)\n", (now() - a) / n, touch ? "+touch" : "");
	}
	return 0;
}
