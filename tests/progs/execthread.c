// SPDX-License-Identifier: Apache-2.0
// Guest program: execve from a multi-threaded process. Other threads are blocked in a pipe read, a futex
// wait and a sleep, and one computes; a non-main thread then runs execve. Like Linux, every other thread
// ends and the new program (a shell) runs with the process's pid.
#include <linux/futex.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static int p[2];
static int word;
static char pidbuf[32];

static void *reader(void *a)
{
	(void)a;
	char c;
	read(p[0], &c, 1);
	return NULL;
}

static void *waiter(void *a)
{
	(void)a;
	syscall(SYS_futex, &word, FUTEX_WAIT, 0, NULL, NULL, 0);
	return NULL;
}

static void *sleeper(void *a)
{
	(void)a;
	sleep(100);
	return NULL;
}

static void *spinner(void *a)
{
	(void)a;
	for (volatile unsigned long i = 0;; i++)
		;
	return NULL;
}

static void *execer(void *a)
{
	(void)a;
	usleep(50000);
	/* The new program checks it has our pid (a shell's $$; not ourselves again: a test binary may lie
	 * in the host's /tmp, which the sandbox does not see). */
	char *const argv[] = { "sh", "-c", "test $$ = \"$1\" && echo the new program runs with the same pid", "sh",
			       pidbuf, NULL };
	execv("/bin/sh", argv);
	perror("execv");
	return NULL;
}

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	snprintf(pidbuf, sizeof(pidbuf), "%d", getpid());
	if (pipe(p) < 0)
		return 1;
	pthread_t t[5];
	pthread_create(&t[0], NULL, reader, NULL);
	pthread_create(&t[1], NULL, waiter, NULL);
	pthread_create(&t[2], NULL, sleeper, NULL);
	pthread_create(&t[3], NULL, spinner, NULL);
	pthread_create(&t[4], NULL, execer, NULL);
	pthread_join(t[4], NULL);
	return 2; /* not reached */
}
