// SPDX-License-Identifier: Apache-2.0
// Guest program: process groups and sessions as shells use them — setpgid for a job, kill and waitpid
// on a group, setsid in a child, the errors. Prints relations, not pids, so the output is the same
// natively and in the sandbox.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t spawn_sleeper(pid_t group)
{
	pid_t c = fork();
	if (c == 0) {
		setpgid(0, group);
		for (;;)
			pause();
	}
	setpgid(c, group); /* both sides, as shells do, so neither races the other */
	return c;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	setpgid(0, 0); /* natively, a group of our own, so kill(0) below stays inside (a no-op in the sandbox) */
	pid_t me = getpid();
	printf("getpgrp == getpgid(0): %d\n", getpgrp() == getpgid(0));
	printf("getsid(0) == getsid(me): %d\n", getsid(0) == getsid(me));

	/* A job of two: the first child leads a new group, the second joins it. */
	pid_t a = spawn_sleeper(0);
	pid_t b = spawn_sleeper(a);
	printf("a leads its group: %d\n", getpgid(a) == a);
	printf("b joined it: %d\n", getpgid(b) == a);
	printf("we are elsewhere: %d\n", getpgrp() != a);
	int r = setpgid(a, 999999);
	printf("no such group: %d %s\n", r, strerror(errno));
	r = getpgid(999999);
	printf("no such process: %d %s\n", r, strerror(errno));
	pid_t other = fork();
	if (other == 0) {
		for (;;)
			pause();
	}
	printf("kill the group: %d\n", kill(-a, SIGTERM));
	int st, n = 0;
	pid_t w;
	while ((w = waitpid(-a, &st, 0)) > 0)
		n += (w == a || w == b) && WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM;
	printf("both died of it: %d, then %s\n", n, strerror(errno));
	printf("the other lives: %d\n", kill(other, 0) == 0);
	kill(other, SIGKILL);
	waitpid(other, &st, 0);

	/* A child starts a session of its own. */
	pid_t c = fork();
	if (c == 0) {
		pid_t s = setsid();
		int again = setsid();
		printf("child: setsid gives its pid: %d, again: %d %s\n", s == getpid(), again, strerror(errno));
		printf("child: leads group and session: %d %d\n", getpgrp() == getpid(), getsid(0) == getpid());
		int out = setpgid(0, getppid());
		printf("child: setpgid out of its session: %d %s\n", out, strerror(errno));
		return 0;
	}
	waitpid(c, &st, 0);
	printf("child exited %d\n", WEXITSTATUS(st));
	/* kill(0) reaches our own group: with SIGUSR1 ignored, nothing happens but success */
	signal(SIGUSR1, SIG_IGN);
	printf("kill(0): %d\n", kill(0, SIGUSR1));
	return 0;
}
