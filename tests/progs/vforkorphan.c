// SPDX-License-Identifier: Apache-2.0
// Guest program: a vfork child outlives its parent. Another thread of the parent ends that process while
// the child, running in the parent's memory, still sleeps; the child then writes to a pipe that the
// grandparent reads. Compared with native (the memory stays the child's until it ends).
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int pfd[2];
static void *ender(void *arg)
{
	(void)arg;
	struct timespec ts = { 0, 50000000 };
	nanosleep(&ts, NULL);
	_exit(5); /* the whole parent process, while its other thread waits in vfork */
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (pipe(pfd) < 0)
		return 1;
	pid_t p = fork();
	if (p == 0) { /* the parent-to-be of the vfork */
		close(pfd[0]);
		pthread_t th;
		pthread_create(&th, NULL, ender, NULL);
		pid_t c = vfork();
		if (c == 0) {
			struct timespec ts = { 0, 200000000 };
			nanosleep(&ts, NULL); /* the parent is gone by now */
			static const char msg[] = "vfork child still runs after its parent ended\n";
			if (write(pfd[1], msg, sizeof(msg) - 1) < 0)
				_exit(2);
			_exit(0);
		}
		for (;;)
			pause();
	}
	close(pfd[1]);
	int st;
	waitpid(p, &st, 0);
	printf("parent: %s %d\n", WIFEXITED(st) ? "exited" : "killed", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	char buf[128];
	ssize_t n = read(pfd[0], buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = 0;
	printf("pipe: %s", n > 0 ? buf : "(eof)\n");
	return 0;
}
