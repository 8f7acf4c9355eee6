// SPDX-License-Identifier: Apache-2.0
// Peer benchmark guest: N raw getpid syscalls, timed from inside. By default each is the
// `mov $39,%eax; syscall` pattern that systrap patches (cvisor's and gVisor's); with a second argument
// `signal` it is `movq $39,%rax; syscall`, which neither patches, so every call takes the signal path.
// Built static so it runs unchanged natively, under runsc and under cvisor run.
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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
	bool signal_path = argc > 2 && strcmp(argv[2], "signal") == 0;
	if (n < 1 || (argc > 2 && !signal_path)) {
		fprintf(stderr, "usage: getpid_loop [N > 0 [signal]]\n");
		return 2;
	}
	unsigned long long t0 = 0;
	for (int pass = 0; pass < 2; pass++) { /* a warm-up tenth, then the measured run */
		long m = pass ? n : n / 10;
		t0 = now_ns();
		if (signal_path)
			for (long i = 0; i < m; i++)
				__asm__ volatile("movq $39, %%rax; syscall" : : : "rax", "rcx", "r11", "memory");
		else
			for (long i = 0; i < m; i++)
				__asm__ volatile("mov $39, %%eax; syscall" : : : "rax", "rcx", "r11", "memory");
	}
	printf("%llu\n", (now_ns() - t0) / (unsigned long long)n);
	return 0;
}
