// SPDX-License-Identifier: Apache-2.0
// Futex and process-attribute corners that hung or killed the program under the sentry (issue 12),
// printed so a native run and a sandboxed one compare line by line: FUTEX_WAKE with a count of 0 (Linux
// wakes one), FUTEX_WAKE_OP, robust mutexes whose owner died (a thread, then a process sharing the
// mutex), get_robust_list, brk(-1), sched_getaffinity of a bad pid.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void show(const char *what, long ret)
{
	printf("%s: %ld%s%s\n", what, ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(errno) : "");
	fflush(stdout);
}

static long futex(uint32_t *uaddr, int op, uint32_t val, uintptr_t val2, uint32_t *uaddr2, uint32_t val3)
{
	return syscall(SYS_futex, uaddr, op, val, val2, uaddr2, val3);
}

static uint32_t word;
static volatile int waiting;

static void *waiter(void *arg)
{
	(void)arg;
	waiting = 1;
	long r = futex(&word, FUTEX_WAIT_PRIVATE, 0, 0, NULL, 0);
	return (void *)r;
}

/* A waiter that is really asleep in the kernel (or the sentry) before we wake it. */
static void wait_asleep(pthread_t *t)
{
	word = 0;
	waiting = 0;
	pthread_create(t, NULL, waiter, NULL);
	while (!waiting)
		sched_yield();
	usleep(50000);
}

static pthread_mutex_t *robust;

static void *die_holding(void *arg)
{
	(void)arg;
	pthread_mutex_lock(robust);
	return NULL; /* ends holding it */
}

static pthread_mutex_t *new_robust(bool shared)
{
	pthread_mutex_t *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
	if (shared)
		pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
	pthread_mutex_init(m, &a);
	pthread_mutexattr_destroy(&a);
	return m;
}

int main(void)
{
	alarm(10); /* a hang is a failure, not a stuck run */
	pthread_t t;
	void *r;

	wait_asleep(&t);
	show("wake with count 0", futex(&word, FUTEX_WAKE_PRIVATE, 0, 0, NULL, 0));
	pthread_join(t, &r);
	show("waiter woken", (long)r);

	uint32_t w2 = 5;
	wait_asleep(&t);
	long n = futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, 1, &w2, FUTEX_OP(FUTEX_OP_ADD, 3, FUTEX_OP_CMP_EQ, 5));
	show("wake_op add", n);
	printf("  word2 %u\n", w2);
	pthread_join(t, &r);
	n = futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, 1, &w2, FUTEX_OP((FUTEX_OP_OPARG_SHIFT | FUTEX_OP_OR), 4, FUTEX_OP_CMP_GT, 100));
	show("wake_op or shift, no waiters", n);
	printf("  word2 %u\n", w2);
	show("wake_op bad op", futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, 1, &w2, (9u << 28)));
	show("wake_op bad cmp", futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, 1, &w2, (9u << 24)));
	show("wake_op read-only word", futex(&word, FUTEX_WAKE_OP_PRIVATE, 1, 1, (uint32_t *)"abcd", 0));

	/* A robust mutex whose owner thread ended: the next locker gets EOWNERDEAD, not a hang. */
	robust = new_robust(false);
	pthread_create(&t, NULL, die_holding, NULL);
	pthread_join(t, NULL);
	int e = pthread_mutex_lock(robust);
	printf("robust lock after the owner thread died: %s\n", e ? strerrorname_np(e) : "0");
	printf("  consistent: %d\n", pthread_mutex_consistent(robust));
	pthread_mutex_unlock(robust);

	/* ... and one shared with a child process that dies holding it, while we wait for it. */
	robust = new_robust(true);
	int p[2];
	if (pipe(p) < 0)
		return 1;
	pid_t c = fork();
	if (c == 0) {
		pthread_mutex_lock(robust);
		if (write(p[1], "x", 1) != 1)
			_exit(2);
		usleep(100000);
		_exit(0); /* holding it */
	}
	char x;
	if (read(p[0], &x, 1) != 1)
		return 1;
	e = pthread_mutex_lock(robust); /* blocks until the child dies */
	printf("robust lock after the owner process died: %s\n", e ? strerrorname_np(e) : "0");
	waitpid(c, NULL, 0);

	struct robust_list_head *head;
	size_t len;
	show("get_robust_list self", syscall(SYS_get_robust_list, 0, &head, &len));
	printf("  len %zu head set %d\n", len, head != NULL);
	show("get_robust_list bad pid", syscall(SYS_get_robust_list, 999999, &head, &len));
	show("set_robust_list bad len", syscall(SYS_set_robust_list, head, 7));

	void *brk0 = sbrk(0);
	long b = syscall(SYS_brk, -1L);
	show("brk(-1) keeps the break", b == (long)(uintptr_t)brk0);
	show("brk beyond the address space", syscall(SYS_brk, 1ull << 50) == (long)(uintptr_t)brk0);

	cpu_set_t set;
	show("sched_getaffinity(-1)", syscall(SYS_sched_getaffinity, -1, sizeof(set), &set));
	show("sched_getaffinity(no such pid)", syscall(SYS_sched_getaffinity, 999999, sizeof(set), &set));
	return 0;
}
