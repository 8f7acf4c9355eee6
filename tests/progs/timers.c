// SPDX-License-Identifier: Apache-2.0
// Guest program: alarm, setitimer and getitimer: one-shot and interval SIGALRMs, values
// read back, cancelling, the default action killing a child, and a blocking read interrupted by the
// alarm; the CPU-time timers (ITIMER_VIRTUAL, ITIMER_PROF) and clocks: they count a busy loop, not a
// sleep. Prints what it sees; the test compares the output with a native run.
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/times.h>
#include <time.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t ticks, cpu_ticks;

static void on_cpu_timer(int sig)
{
	(void)sig;
	cpu_ticks++;
}

static long long cpu_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static void spin_until(volatile sig_atomic_t *v, int n)
{
	long long start = cpu_ns(CLOCK_MONOTONIC);
	while (*v < n && cpu_ns(CLOCK_MONOTONIC) - start < 5000000000ll)
		;
}

static void *spin_thread(void *arg)
{
	long long start = cpu_ns(CLOCK_THREAD_CPUTIME_ID);
	while (cpu_ns(CLOCK_THREAD_CPUTIME_ID) - start < 30000000)
		;
	*(long long *)arg = cpu_ns(CLOCK_THREAD_CPUTIME_ID) - start;
	return NULL;
}

/* ITIMER_VIRTUAL and ITIMER_PROF, and the CPU clocks, count CPU time: a busy loop, not a sleep. */
static void cpu_timers(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_cpu_timer;
	sigaction(SIGVTALRM, &sa, NULL);
	sigaction(SIGPROF, &sa, NULL);
	long long c0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	struct itimerval v = { { 0, 0 }, { 0, 40000 } }, cur;
	setitimer(ITIMER_VIRTUAL, &v, NULL);
	struct timespec nap = { 0, 120 * 1000 * 1000 };
	nanosleep(&nap, NULL);
	getitimer(ITIMER_VIRTUAL, &cur);
	printf("ITIMER_VIRTUAL over a sleep: %d signals, still pending: %d\n", (int)cpu_ticks,
	       cur.it_value.tv_sec == 0 && cur.it_value.tv_usec > 0 && cur.it_value.tv_usec <= 50000); /* Linux adds a tick */
	spin_until(&cpu_ticks, 1);
	long long used = cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - c0;
	printf("after a busy loop: %d signal, CPU time used >= 20 ms: %d\n", (int)cpu_ticks, used >= 20000000); /* Linux samples per tick */
	struct itimerval every = { { 0, 10000 }, { 0, 10000 } }, off = { { 0, 0 }, { 0, 0 } };
	cpu_ticks = 0;
	setitimer(ITIMER_PROF, &every, NULL);
	spin_until(&cpu_ticks, 5);
	setitimer(ITIMER_PROF, &off, &cur);
	printf("ITIMER_PROF every 10 ms: at least 5 signals: %d; interval read back: %ld\n", cpu_ticks >= 5,
	       (long)cur.it_interval.tv_usec);
	long long s0 = cpu_ns(CLOCK_PROCESS_CPUTIME_ID);
	nanosleep(&nap, NULL);
	printf("a 120 ms sleep costs under 20 ms of CPU time: %d\n", cpu_ns(CLOCK_PROCESS_CPUTIME_ID) - s0 < 20000000);
	long long spun = 0;
	pthread_t th;
	pthread_create(&th, NULL, spin_thread, &spun);
	pthread_join(th, NULL);
	struct tms tm;
	times(&tm);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	/* System time: a loop of reads from /dev/zero is mostly the kernel's (here the sentry's) work. */
	int z = open("/dev/zero", O_RDONLY);
	static char zb[1 << 16];
	long long w0 = cpu_ns(CLOCK_MONOTONIC);
	while (cpu_ns(CLOCK_MONOTONIC) - w0 < 100000000)
		read(z, zb, sizeof(zb));
	close(z);
	struct rusage rs;
	getrusage(RUSAGE_SELF, &rs);
	printf("system time after 100 ms of reads: %d\n", rs.ru_stime.tv_sec * 1000000 + rs.ru_stime.tv_usec >= 1000);
	printf("a thread's CPU clock: %d; times and getrusage see the CPU time: %d %d\n", spun >= 30000000,
	       tm.tms_utime + tm.tms_stime >= 10, (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec >=
		       100000);
}

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
	cpu_timers();
	return 0;
}
