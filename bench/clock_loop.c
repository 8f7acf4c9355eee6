// SPDX-License-Identifier: Apache-2.0
// vDSO benchmark guest: N clock_gettime(CLOCK_MONOTONIC) calls through libc (the vDSO when there is
// one), timed from inside; prints ns per call. Static, so it runs unchanged natively and under cvisor.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long long ns(const struct timespec *ts)
{
	return (unsigned long long)ts->tv_sec * 1000000000ull + (unsigned long long)ts->tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	if (n < 1) {
		fprintf(stderr, "usage: clock_loop [N > 0]\n");
		return 2;
	}
	struct timespec t0, t1, ts;
	unsigned long long sum = 0;
	for (long i = 0; i < n / 10; i++) { /* warm-up */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += (unsigned long long)ts.tv_nsec;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += (unsigned long long)ts.tv_nsec;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("%ld clock_gettime: %.1f ns per call (%llu)\n", n, (double)(ns(&t1) - ns(&t0)) / (double)n, sum & 1);
	return 0;
}
