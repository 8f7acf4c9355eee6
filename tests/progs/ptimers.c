// SPDX-License-Identifier: Apache-2.0
// POSIX timers, printed for a native/sandboxed comparison: one-shot and periodic timers on the
// monotonic, realtime (absolute) and CPU clocks, overruns while the signal waits, SIGEV_NONE,
// SIGEV_THREAD (glibc's, over SIGEV_THREAD_ID), not inherited by fork, and the errors.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void show(const char *what, long ret)
{
	printf("%s: %ld%s%s\n", what, ret, ret < 0 ? " " : "", ret < 0 ? strerrorname_np(errno) : "");
	fflush(stdout);
}

static timer_t make(clockid_t c, int notify, int sig, int value)
{
	struct sigevent ev = { .sigev_notify = notify, .sigev_signo = sig };
	ev.sigev_value.sival_int = value;
	timer_t id;
	if (timer_create(c, &ev, &id) < 0) {
		perror("timer_create");
		return (timer_t)-1;
	}
	return id;
}

static void arm(timer_t id, long first_ms, long every_ms, int flags)
{
	struct itimerspec v = { { every_ms / 1000, every_ms % 1000 * 1000000 }, { first_ms / 1000, first_ms % 1000 * 1000000 } };
	if (timer_settime(id, flags, &v, NULL) < 0)
		perror("timer_settime");
}

static volatile int callbacks;

static void on_thread(union sigval v)
{
	callbacks += v.sival_int;
}

int main(void)
{
	alarm(10);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGRTMIN + 1);
	sigaddset(&set, SIGUSR2);
	sigprocmask(SIG_BLOCK, &set, NULL);
	siginfo_t si;
	struct timespec wait5 = { 5, 0 };

	timer_t a = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGUSR1, 42);
	arm(a, 20, 0, 0);
	show("one-shot monotonic", sigtimedwait(&set, &si, &wait5));
	printf("  code SI_TIMER %d value %d id ok %d overrun %d\n", si.si_code == SI_TIMER, si.si_value.sival_int,
	       si.si_timerid == (int)(long)a, si.si_overrun);
	struct itimerspec cur;
	timer_gettime(a, &cur);
	printf("  disarmed after: %ld %ld\n", (long)cur.it_value.tv_sec, cur.it_value.tv_nsec);

	timer_t b = make(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 1, 7);
	arm(b, 10, 10, 0);
	usleep(120000); /* ~12 expirations while the first signal waits */
	show("periodic", sigtimedwait(&set, &si, &wait5));
	printf("  overruns counted %d, getoverrun agrees %d\n", si.si_overrun >= 5, timer_getoverrun(b) == si.si_overrun);
	timer_gettime(b, &cur);
	printf("  interval %ld ns, armed %d\n", cur.it_interval.tv_nsec, cur.it_value.tv_sec || cur.it_value.tv_nsec);
	show("delete", timer_delete(b));
	show("delete again", timer_delete(b));
	while (sigtimedwait(&set, &si, &(struct timespec){ 0, 30000000 }) > 0) /* drain what it left */
		;

	timer_t c = make(CLOCK_REALTIME, SIGEV_SIGNAL, SIGUSR2, 3);
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	now.tv_nsec += 30000000;
	if (now.tv_nsec >= 1000000000)
		now.tv_sec++, now.tv_nsec -= 1000000000;
	struct itimerspec abs = { { 0, 0 }, now };
	show("absolute realtime", timer_settime(c, TIMER_ABSTIME, &abs, NULL));
	show("  fired", sigtimedwait(&set, &si, &wait5));
	printf("  value %d\n", si.si_value.sival_int);

	timer_t d = make(CLOCK_MONOTONIC, SIGEV_NONE, 0, 0);
	arm(d, 5000, 0, 0);
	timer_gettime(d, &cur);
	printf("SIGEV_NONE counts down: %d\n", cur.it_value.tv_sec == 4 || cur.it_value.tv_sec == 5);

	struct sigevent tev = { .sigev_notify = SIGEV_THREAD, .sigev_notify_function = on_thread };
	tev.sigev_value.sival_int = 1;
	timer_t e;
	show("SIGEV_THREAD create", timer_create(CLOCK_MONOTONIC, &tev, &e));
	arm(e, 10, 0, 0);
	for (int i = 0; i < 500 && !callbacks; i++)
		usleep(10000);
	printf("  callback ran: %d\n", callbacks);

	timer_t f = make(CLOCK_PROCESS_CPUTIME_ID, SIGEV_SIGNAL, SIGUSR1, 9);
	arm(f, 30, 0, 0);
	struct timespec zero = { 0, 0 };
	int spins = 0;
	while (sigtimedwait(&set, &si, &zero) < 0 && spins < 2000000000)
		spins++;
	printf("CPU-time timer fired: %d value %d\n", si.si_value.sival_int == 9, si.si_value.sival_int);

	fflush(stdout);
	pid_t child = fork();
	if (child == 0) {
		printf("child: gettime of the parent's timer: %d %s\n", timer_gettime(a, &cur), strerrorname_np(errno));
		fflush(stdout);
		_exit(0);
	}
	waitpid(child, NULL, 0);

	timer_t x;
	struct sigevent bad = { .sigev_notify = 99, .sigev_signo = SIGUSR1 };
	show("bad clock", timer_create(99, NULL, &x));
	show("bad notify", timer_create(CLOCK_MONOTONIC, &bad, &x));
	bad.sigev_notify = SIGEV_SIGNAL;
	bad.sigev_signo = 99;
	show("bad signal", timer_create(CLOCK_MONOTONIC, &bad, &x));
	struct sigevent badtid = { .sigev_notify = SIGEV_THREAD_ID, .sigev_signo = SIGUSR1 };
	badtid._sigev_un._tid = 999999;
	show("bad thread", timer_create(CLOCK_MONOTONIC, &badtid, &x));
	struct itimerspec badv = { { 0, 0 }, { 0, 1000000000 } };
	show("settime bad nsec", timer_settime(a, 0, &badv, NULL));
	show("settime bad id", syscall(SYS_timer_settime, 12345, 0, &abs, NULL));
	show("gettime bad id", syscall(SYS_timer_gettime, 12345, &cur));
	show("getoverrun bad id", syscall(SYS_timer_getoverrun, 12345));
	return 0;
}
