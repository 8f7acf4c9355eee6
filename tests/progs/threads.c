// SPDX-License-Identifier: Apache-2.0
// Guest program for sentry tests: threads with mutexes, condition variables, joins and a barrier.
#include <pthread.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define THREADS 8
#define ROUNDS 20000

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pthread_barrier_t barrier;
static long counter;
static int turn;

static void *adder(void *arg)
{
	pthread_barrier_wait(&barrier);
	for (int i = 0; i < ROUNDS; i++) {
		pthread_mutex_lock(&mu);
		counter++;
		pthread_mutex_unlock(&mu);
	}
	return (void *)((long)arg * 2);
}

static void *pong(void *arg)
{
	(void)arg;
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&mu);
		while (turn != 1)
			pthread_cond_wait(&cv, &mu);
		turn = 0;
		pthread_cond_signal(&cv);
		pthread_mutex_unlock(&mu);
	}
	return NULL;
}

int main(void)
{
	pthread_t t[THREADS], p;
	long sum = 0;
	pthread_barrier_init(&barrier, NULL, THREADS);
	for (long i = 0; i < THREADS; i++)
		pthread_create(&t[i], NULL, adder, (void *)i);
	for (int i = 0; i < THREADS; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (long)r;
	}
	pthread_create(&p, NULL, pong, NULL);
	for (int i = 0; i < 2000; i++) {
		pthread_mutex_lock(&mu);
		turn = 1;
		pthread_cond_signal(&cv);
		while (turn != 0)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
	}
	pthread_join(p, NULL);
	printf("counter %ld joins %ld ping-pong done\n", counter, sum);
	/* glibc makes its threads with clone3; a struct too small for it is refused */
	uint64_t args[16] = { 0 };
	long r = syscall(SYS_clone3, args, 8);
	printf("clone3 with 8 bytes: %ld %s\n", r, r < 0 ? strerror(errno) : "");
	return counter == (long)THREADS * ROUNDS ? 0 : 1;
}
