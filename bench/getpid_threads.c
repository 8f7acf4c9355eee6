// SPDX-License-Identifier: Apache-2.0
// Load benchmark guest: T threads make raw getpid syscalls (the `mov $39,%eax; syscall` form systrap
// patches) for D milliseconds; prints the aggregate calls per second. Built static so it runs unchanged
// natively, under runsc and under cvisor run. Usage: getpid_threads T [D_MS]
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static atomic_int go, stop;

static unsigned long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000000ull + (unsigned long long)ts.tv_nsec;
}

static void *worker(void *arg)
{
	unsigned long long *count = arg, n = 0;
	while (!atomic_load_explicit(&go, memory_order_acquire))
		__asm__ volatile("mov $39, %%eax; syscall" : : : "rax", "rcx", "r11", "memory");
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		__asm__ volatile("mov $39, %%eax; syscall" : : : "rax", "rcx", "r11", "memory");
		n++;
	}
	*count = n;
	return NULL;
}

int main(int argc, char **argv)
{
	int t = argc > 1 ? atoi(argv[1]) : 1;
	long ms = argc > 2 ? atol(argv[2]) : 500;
	if (t < 1 || t > 1024 || ms < 1) {
		fprintf(stderr, "usage: getpid_threads T [D_MS]\n");
		return 2;
	}
	pthread_t *th = calloc((size_t)t, sizeof(*th));
	unsigned long long *counts = calloc((size_t)t, sizeof(*counts));
	for (int i = 0; i < t; i++)
		if (pthread_create(&th[i], NULL, worker, &counts[i]) != 0) {
			fprintf(stderr, "getpid_threads: pthread_create failed\n");
			return 1;
		}
	unsigned long long t0 = now_ns();
	atomic_store(&go, 1);
	struct timespec d = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&d, NULL);
	atomic_store(&stop, 1);
	unsigned long long t1 = now_ns(), total = 0;
	for (int i = 0; i < t; i++) {
		pthread_join(th[i], NULL);
		total += counts[i];
	}
	fprintf(stderr, "%llu calls\n", total);
	printf("%llu\n", total * 1000000000ull / (t1 - t0));
	return 0;
}
