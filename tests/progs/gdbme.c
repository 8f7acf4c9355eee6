// SPDX-License-Identifier: Apache-2.0
// A program for gdb to debug, natively and in the sandbox (tests/test_run.c compares the sessions):
// functions to break in and finish, a loop to step through, a thread, a signal.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>

static volatile int total;

__attribute__((noinline)) static int compute(int x)
{
	int y = x * 3;
	total += y;
	return y + 1;
}

__attribute__((noinline)) static void *worker(void *arg)
{
	compute(*(int *)arg);
	return NULL;
}

int main(void)
{
	int v = compute(7);
	for (int i = 0; i < 3; i++)
		total += i;
	pthread_t th;
	int arg = 100;
	pthread_create(&th, NULL, worker, &arg);
	pthread_join(th, NULL);
	raise(SIGUSR1);
	printf("v=%d total=%d\n", v, total);
	return 0;
}
