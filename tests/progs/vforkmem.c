// SPDX-License-Identifier: Apache-2.0
// Guest program: vfork's shared memory — the child runs in the parent's memory until it execs or
// ends, and the parent waits for that: what a vfork child writes (a global, the parent's stack, the
// heap) is there when the parent goes on; posix_spawn reports an exec error (its child writes it in
// the parent's memory); clone(CLONE_VM|CLONE_VFORK) on a stack of its own. Compared with native.
#define _GNU_SOURCE
#include <errno.h>
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

	size_t sz = 64 * 1024;
	char *stack = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	volatile int shared = 0;
	c = clone(child_fn, stack + sz, CLONE_VM | CLONE_VFORK | SIGCHLD, (void *)&shared);
	printf("clone(CLONE_VM|CLONE_VFORK): %d\n", shared);
	waitpid(c, &st, 0);
	printf("clone child status %d\n", WEXITSTATUS(st));
	return 0;
}
