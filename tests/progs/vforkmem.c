// SPDX-License-Identifier: Apache-2.0
// Guest program: vfork's shared memory — the child runs in the parent's memory until it execs or
// ends, and the parent waits for that: what a vfork child writes (a global, the parent's stack, the
// heap) is there when the parent goes on; posix_spawn reports an exec error (its child writes it in
// the parent's memory); clone(CLONE_VM|CLONE_VFORK) on a stack of its own; a mapping the child makes
// is the parent's, and another thread of the parent sees the child's writes while the child runs (one
// memory, not a copy written back at the end). Compared with native.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static volatile int global;

static volatile int seen_by_thread, acked;

/* Another thread of the parent, running while the parent's main thread waits in vfork. */
static void *watcher(void *arg)
{
	(void)arg;
	for (int i = 0; i < 4000 && !seen_by_thread; i++) { /* up to 4 s */
		if (global == 9) {
			seen_by_thread = 1;
			acked = 1;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static int child_fn(void *arg)
{
	*(volatile int *)arg = 42;
	return 7;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	volatile int on_stack = 0;
	volatile char *heap = malloc(64);
	heap[0] = 'a';
	pid_t c = vfork();
	if (c == 0) {
		struct timespec ts = { 0, 100000000 }; /* the parent must still be waiting after this */
		nanosleep(&ts, NULL);
		global = 1;
		on_stack = 2;
		heap[0] = 'b';
		_exit(3);
	}
	printf("vfork then _exit: global %d stack %d heap %c\n", global, on_stack, heap[0]);
	int st;
	waitpid(c, &st, 0);
	printf("child status %d\n", WEXITSTATUS(st));

	c = vfork();
	if (c == 0) {
		global = 5;
		char *const argv[] = { "true", NULL };
		execv("/bin/true", argv);
		_exit(127);
	}
	printf("vfork then exec: global %d\n", global);
	waitpid(c, &st, 0);
	printf("exec'd child status %d\n", WEXITSTATUS(st));

	pid_t pid;
	char *const bad[] = { "/nonexistent/program", NULL };
	int r = posix_spawn(&pid, bad[0], NULL, NULL, bad, environ);
	printf("posix_spawn missing: %s\n", r ? strerror(r) : "0");
	if (r == 0)
		waitpid(pid, &st, 0);
	char *const ok[] = { "/bin/true", NULL };
	r = posix_spawn(&pid, ok[0], NULL, NULL, ok, environ);
	printf("posix_spawn true: %s", r ? strerror(r) : "0");
	if (r == 0 && waitpid(pid, &st, 0) == pid)
		printf(" status %d", WEXITSTATUS(st));
	printf("\n");

	/* A mapping the child makes, and what it writes there, stay the parent's. */
	static char *volatile made;
	c = vfork();
	if (c == 0) {
		char *m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(1);
		strcpy(m, "made by the vfork child");
		made = m;
		_exit(0);
	}
	waitpid(c, &st, 0);
	printf("child's mapping: %s (status %d)\n", made ? made : "(none)", WEXITSTATUS(st));

	/* The parent's other thread sees the child's write while the child still runs. */
	pthread_t th;
	global = 0;
	pthread_create(&th, NULL, watcher, NULL);
	c = vfork();
	if (c == 0) {
		global = 9;
		for (int i = 0; i < 4000 && !acked; i++) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
		_exit(acked ? 0 : 1);
	}
	pthread_join(th, NULL);
	waitpid(c, &st, 0);
	printf("thread saw the child's write: %d, child status %d\n", seen_by_thread, WEXITSTATUS(st));

	size_t sz = 64 * 1024;
	char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	volatile int shared = 0;
	c = clone(child_fn, stack + sz, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)&shared);
	printf("clone(CLONE_VM|CLONE_VFORK): %d\n", shared);
	waitpid(c, &st, 0);
	printf("clone child status %d\n", WEXITSTATUS(st));
	return 0;
}
