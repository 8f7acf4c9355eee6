// SPDX-License-Identifier: Apache-2.0
// Guest program: a process or thread started after others ended starts fresh. The sentry runs a new
// task on the host thread of one that ended (sentry/kernel/process.c); nothing of the ended task may
// show in the new one: CPU time, signal mask and pending signals, name, nice value, alternate signal
// stack. Also many short-lived children one after another, and more alive at once than the sentry keeps
// idle threads for. Printed as yes/no answers, compared with native.
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double cpu_s(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Burn @s seconds of CPU time of this thread. */
static void burn(double s)
{
	double t0 = cpu_s(CLOCK_THREAD_CPUTIME_ID);
	while (cpu_s(CLOCK_THREAD_CPUTIME_ID) - t0 < s)
		;
}

/* Leave state behind in this task: CPU time, a blocked and a pending signal, a name, a nice value and
 * an alternate signal stack. */
static void dirty(void)
{
	burn(0.15);
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR1);
	sigaddset(&m, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	pthread_kill(pthread_self(), SIGUSR2); /* stays pending: blocked */
	prctl(PR_SET_NAME, "dirty-task");
	setpriority(PRIO_PROCESS, 0, 7);
	static char alt[65536];
	stack_t ss = { .ss_sp = alt, .ss_size = sizeof(alt) };
	sigaltstack(&ss, NULL);
}

/* What a fresh task must show; @what names it. */
static void check(const char *what)
{
	sigset_t m, p;
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	sigpending(&p);
	char name[17] = "";
	prctl(PR_GET_NAME, name);
	stack_t ss;
	sigaltstack(NULL, &ss);
	printf("%s: cpu time fresh: %s, process cpu time fresh: %s\n", what,
	       cpu_s(CLOCK_THREAD_CPUTIME_ID) < 0.1 ? "yes" : "no", cpu_s(CLOCK_PROCESS_CPUTIME_ID) < 0.1 ? "yes" : "no");
	printf("%s: SIGUSR1 blocked: %s, SIGUSR2 pending: %s, name %s, nice %d, altstack %s\n", what,
	       sigismember(&m, SIGUSR1) ? "yes" : "no", sigismember(&p, SIGUSR2) ? "yes" : "no", name,
	       getpriority(PRIO_PROCESS, 0), (ss.ss_flags & SS_DISABLE) ? "none" : "set");
}

static void *dirty_thread(void *arg)
{
	dirty();
	return arg;
}

static void *check_thread(void *arg)
{
	check(arg);
	return NULL;
}

static int reap(pid_t pid)
{
	int st = 0;
	return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	prctl(PR_SET_NAME, "taskreuse");
	/* A child that leaves state behind, then a fresh child (on its host thread, under cvisor). */
	pid_t a = fork();
	if (a == 0) {
		dirty();
		_exit(3);
	}
	printf("dirty child: %d\n", reap(a));
	pid_t b = fork();
	if (b == 0) {
		check("next child");
		_exit(0);
	}
	reap(b);
	/* The same for threads. */
	pthread_t t;
	pthread_create(&t, NULL, dirty_thread, NULL);
	pthread_join(t, NULL);
	pthread_create(&t, NULL, check_thread, "next thread");
	pthread_join(t, NULL);
	/* Many in a row, each checking its own exit status comes back. */
	int ok = 0;
	for (int i = 0; i < 60; i++) {
		pid_t c = fork();
		if (c == 0)
			_exit(i % 7);
		ok += reap(c) == i % 7;
	}
	printf("60 children in a row: %d right\n", ok);
	/* More alive at once than the sentry keeps idle threads for, twice. */
	for (int round = 0; round < 2; round++) {
		int fds[2];
		if (pipe(fds) < 0)
			return 1;
		pid_t kids[20];
		for (int i = 0; i < 20; i++)
			if ((kids[i] = fork()) == 0) {
				char c;
				close(fds[1]);
				ssize_t r = read(fds[0], &c, 1); /* EOF when the parent closes it */
				_exit(r == 0 ? 40 + i : 1);
			}
		close(fds[0]);
		close(fds[1]);
		ok = 0;
		for (int i = 0; i < 20; i++)
			ok += reap(kids[i]) == 40 + i;
		printf("round %d: 20 children alive at once: %d right\n", round, ok);
	}
	pid_t d = fork();
	if (d == 0) {
		check("last child");
		_exit(0);
	}
	reap(d);
	return 0;
}
