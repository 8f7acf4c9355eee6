// SPDX-License-Identifier: Apache-2.0
// Peer benchmark guest: N raw getpid syscalls (the `mov $39,%eax; syscall` pattern), timed from inside.
// Built static so it runs unchanged natively, under runsc, and (later) under cvisor run.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	if (n < 1) {
		fprintf(stderr, "usage: getpid_loop [N > 0]\n");
		return 2;
	}
	for (long i = 0; i < n / 10; i++) /* warm-up */
		__asm__ volatile("mov $39, %%eax; syscall" : : : "rax", "rcx", "r11", "memory");
	unsigned long long t0 = now_ns();
	for (long i = 0; i < n; i++)
		__asm__ volatile("mov $39, %%eax; syscall" : : : "rax", "rcx", "r11", "memory");
	printf("%llu\n", (now_ns() - t0) / (unsigned long long)n);
	return 0;
}
