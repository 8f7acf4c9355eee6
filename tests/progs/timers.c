// SPDX-License-Identifier: Apache-2.0
// Guest program: alarm, setitimer and getitimer (ITIMER_REAL): one-shot and interval SIGALRMs, values
// read back, cancelling, the default action killing a child, and a blocking read interrupted by the
// alarm. Prints what it sees; the test compares the output with a native run.
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t ticks;

static void on_alrm(int sig)
{
	(void)sig;
	ticks++;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	struct sigaction sa = { 0 };
	sa.sa_handler = on_alrm;
	sigaction(SIGALRM, &sa, NULL);

	unsigned a1 = alarm(5), a2 = alarm(0);
	printf("alarm(5) then alarm(0): %u %u\n", a1, a2);
	struct itimerval v = { { 0, 0 }, { 2, 0 } }, cur;
	setitimer(ITIMER_REAL, &v, NULL);
	getitimer(ITIMER_REAL, &cur);
	printf("getitimer: running %d, interval %ld\n", cur.it_value.tv_sec == 1 || cur.it_value.tv_sec == 2,
	       (long)cur.it_interval.tv_sec);
	struct itimerval off = { { 0, 0 }, { 0, 0 } }, old;
	setitimer(ITIMER_REAL, &off, &old);
	printf("cancelled, old value set: %d\n", old.it_value.tv_sec > 0 || old.it_value.tv_usec > 0);
	int bad = setitimer(42, &v, NULL);
	printf("bad which: %d %s\n", bad, strerror(errno));

	/* one-shot, 30 ms */
	struct itimerval once = { { 0, 0 }, { 0, 30000 } };
	setitimer(ITIMER_REAL, &once, NULL);
	pause();
	printf("one-shot fired: %d\n", (int)ticks);

	/* interval, 20 ms: three ticks, then off */
	sigset_t none;
	sigemptyset(&none);
	struct itimerval every = { { 0, 20000 }, { 0, 20000 } };
	ticks = 0;
	setitimer(ITIMER_REAL, &every, NULL);
	while (ticks < 3)
		sigsuspend(&none);
	setitimer(ITIMER_REAL, &off, NULL);
	printf("interval ticks: %d\n", (int)ticks);

	/* a blocking read interrupted by the alarm */
	int p[2];
	if (pipe(p) < 0)
		return 1;
	alarm(1);
	char b[4];
	ssize_t r = read(p[0], b, sizeof(b));
	printf("read: %zd %s\n", r, r < 0 ? strerror(errno) : "-");

	/* the default action kills */
	pid_t pid = fork();
	if (pid == 0) {
		signal(SIGALRM, SIG_DFL);
		alarm(1);
		for (;;)
			pause();
	}
	int st;
	waitpid(pid, &st, 0);
	printf("child: signalled %d by %d\n", WIFSIGNALED(st), WIFSIGNALED(st) ? WTERMSIG(st) : 0);
	return 0;
}
