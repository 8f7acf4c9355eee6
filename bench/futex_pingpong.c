// SPDX-License-Identifier: Apache-2.0
// Workload benchmark guest: two threads hand a token back and forth N times through private futexes
// (the multi-threaded futex ping-pong of bench/workloads.sh). Built static. Prints nothing.
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static _Atomic int turn;
static long rounds;

static void wait_for(int want)
{
	int v;
	while ((v = atomic_load(&turn)) != want)
		syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0);
}

static void give(int to)
{
	atomic_store(&turn, to);
	syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

static void *other(void *arg)
{
	(void)arg;
	for (long i = 0; i < rounds; i++) {
		wait_for(1);
		give(0);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	rounds = argc > 1 ? atol(argv[1]) : 10000;
	if (rounds < 1) {
		fprintf(stderr, "usage: futex_pingpong [ROUNDS > 0]\n");
		return 2;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, other, NULL) != 0)
		return 1;
	for (long i = 0; i < rounds; i++) {
		give(1);
		wait_for(0);
	}
	pthread_join(t, NULL);
	return 0;
}
