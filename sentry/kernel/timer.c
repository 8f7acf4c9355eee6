// SPDX-License-Identifier: Apache-2.0
// Interval timers: alarm, setitimer and getitimer, fired by one sentry thread that queues the signal
// (process-directed, SI_KERNEL, as Linux sends it). ITIMER_REAL counts CLOCK_MONOTONIC: the thread
// sleeps until the earliest deadline. ITIMER_VIRTUAL and ITIMER_PROF count the process's CPU time
// (cputime.c: VIRTUAL its tasks' time in application code, PROF that and the sentry's handling of
// their syscalls, waits left out): while one is armed the thread wakes when the process could first
// reach it with all its running tasks busy, at least every 50 ms, and at most every millisecond.
#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include "../sentry.h"
#include "../systable.h"

#define CPU_POLL_MIN_NS 1000000ull   /* Linux's own CPU timers tick at 250-1000 Hz */
#define CPU_POLL_MAX_NS 50000000ull

static const int timer_signal[3] = { SIGALRM, SIGVTALRM, SIGPROF };

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * RLIMIT_CPU of @p, whose CPU time is @cpu ns (s->lock held): as Linux, SIGXCPU when it reaches the
 * soft limit and every second after, SIGKILL at the hard limit. Lowers *@next as fire_due does.
 */
static bool cpu_limit(struct process *p, uint64_t cpu, uint64_t now, int running, uint64_t *next)
{
	uint64_t soft = p->rlim[RLIMIT_CPU].rlim_cur, hard = p->rlim[RLIMIT_CPU].rlim_max, secs = cpu / 1000000000ull;
	bool fired = false;
	if (p->xcpu_sent == UINT64_MAX)
		return false; /* killed already */
	if (hard != RLIM_INFINITY && secs >= hard) {
		siginfo_t si = { .si_signo = SIGKILL, .si_code = SI_KERNEL };
		sig_process_locked(p, SIGKILL, &si);
		p->xcpu_sent = UINT64_MAX;
		return true;
	}
	if (soft != RLIM_INFINITY && secs >= soft && secs >= p->xcpu_sent) {
		siginfo_t si = { .si_signo = SIGXCPU, .si_code = SI_KERNEL };
		sig_process_locked(p, SIGXCPU, &si);
		p->xcpu_sent = secs + 1; /* the next one a second of CPU time later */
		fired = true;
	}
	uint64_t due = soft != RLIM_INFINITY && p->xcpu_sent <= soft ? soft : p->xcpu_sent;
	if (hard != RLIM_INFINITY && (soft == RLIM_INFINITY || hard < due))
		due = hard;
	uint64_t left = due * 1000000000ull > cpu ? (due * 1000000000ull - cpu) / (uint64_t)(running ? running : 1) : 0;
	left = left < CPU_POLL_MIN_NS ? CPU_POLL_MIN_NS : left > CPU_POLL_MAX_NS ? CPU_POLL_MAX_NS : left;
	if (!*next || now + left < *next)
		*next = now + left;
	return fired;
}

/* Fire the timers of @p that are due (s->lock held); true if one fired. Lowers *@next to when the
 * thread should look again. */
static bool fire_due(struct process *p, uint64_t now, uint64_t *next)
{
	bool fired = false;
	int running = 0;
	bool limited = p->rlim[RLIMIT_CPU].rlim_cur != RLIM_INFINITY || p->rlim[RLIMIT_CPU].rlim_max != RLIM_INFINITY;
	uint64_t cpu = p->itimer_due[ITIMER_VIRTUAL] || p->itimer_due[ITIMER_PROF] || limited ? process_cpu_ns(p, now, &running) : 0;
	if (limited)
		fired |= cpu_limit(p, cpu + __atomic_load_n(&p->sys_ns, __ATOMIC_RELAXED), now, running, next);
	for (int w = ITIMER_REAL; w <= ITIMER_PROF; w++) {
		if (!p->itimer_due[w])
			continue;
		uint64_t clock = w == ITIMER_REAL ? now : w == ITIMER_PROF ? cpu + __atomic_load_n(&p->sys_ns, __ATOMIC_RELAXED) : cpu;
		if (p->itimer_due[w] <= clock) {
			siginfo_t si = { .si_signo = timer_signal[w], .si_code = SI_KERNEL };
			sig_process_locked(p, timer_signal[w], &si);
			fired = true;
			/* Overruns collapse into one signal, as standard signals do. */
			p->itimer_due[w] = p->itimer_every[w] ? clock + p->itimer_every[w] : 0;
			if (!p->itimer_due[w])
				continue;
		}
		uint64_t at = p->itimer_due[w];
		if (w != ITIMER_REAL) { /* the earliest the CPU clock can get there */
			uint64_t left = (p->itimer_due[w] - cpu) / (uint64_t)(running ? running : 1);
			left = left < CPU_POLL_MIN_NS ? CPU_POLL_MIN_NS : left > CPU_POLL_MAX_NS ? CPU_POLL_MAX_NS : left;
			at = now + left;
		}
		if (!*next || at < *next)
			*next = at;
	}
	return fired;
}

static void *timer_main(void *arg)
{
	struct sentry *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->timer_stop) {
		uint64_t now = mono_ns(), next = 0;
		bool fired = false;
		for (struct process *p = s->procs; p; p = p->next)
			if (!p->zombie) {
				fired |= fire_due(p, now, &next);
				fired |= ptimers_fire(p, now, &next);
			}
		if (fired) {
			pthread_mutex_unlock(&s->lock);
			futex_wake_all(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (!next) /* nothing armed: look again in a second (a new process's RLIMIT_CPU) */
			next = now + 1000000000ull;
		{
			struct timespec ts = { (time_t)(next / 1000000000ull), (long)(next % 1000000000ull) };
			pthread_cond_timedwait(&s->timer_cond, &s->lock, &ts);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int timer_start(struct sentry *s)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->timer_cond, &ca);
	pthread_condattr_destroy(&ca);
	int r = pthread_create(&s->timer, NULL, timer_main, s);
	s->timer_running = r == 0;
	return -r;
}

void timer_stop(struct sentry *s)
{
	if (!s->timer_running)
		return;
	pthread_mutex_lock(&s->lock);
	s->timer_stop = true;
	pthread_cond_signal(&s->timer_cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->timer, NULL);
	pthread_cond_destroy(&s->timer_cond);
	s->timer_running = false;
}

static uint64_t tv_ns(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000000ull + (uint64_t)tv->tv_usec * 1000ull;
}

static struct timeval ns_tv(uint64_t ns)
{
	/* Linux rounds a running timer's remaining time up to the next microsecond */
	ns = (ns + 999) / 1000 * 1000;
	return (struct timeval){ (time_t)(ns / 1000000000ull), (suseconds_t)(ns % 1000000000ull / 1000) };
}

/* What timer @which of @p counts (s->lock held): the monotonic clock, user time, or user and system. */
static uint64_t timer_clock(struct process *p, int which, uint64_t now)
{
	if (which == ITIMER_REAL)
		return now;
	uint64_t cpu = process_cpu_ns(p, now, NULL);
	return which == ITIMER_PROF ? cpu + __atomic_load_n(&p->sys_ns, __ATOMIC_RELAXED) : cpu;
}

/* The current value of timer @which of @p (s->lock held). */
static struct itimerval current(struct process *p, int which, uint64_t now)
{
	struct itimerval v = { { 0, 0 }, { 0, 0 } };
	uint64_t due = p->itimer_due[which];
	if (due) {
		uint64_t clock = timer_clock(p, which, now);
		v.it_value = ns_tv(due > clock ? due - clock : 1000);
		v.it_interval = ns_tv(p->itimer_every[which]);
	}
	return v;
}

/* Set timer @which of the caller's process; the old value into *@old. */
static void set_timer(struct task *t, int which, const struct itimerval *nv, struct itimerval *old)
{
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	uint64_t now = mono_ns();
	*old = current(t->proc, which, now);
	uint64_t value = tv_ns(&nv->it_value);
	uint64_t clock = timer_clock(t->proc, which, now);
	t->proc->itimer_due[which] = value ? clock + value : 0;
	t->proc->itimer_every[which] = value ? tv_ns(&nv->it_interval) : 0;
	pthread_cond_signal(&s->timer_cond);
	pthread_mutex_unlock(&s->lock);
}

static bool tv_valid(const struct timeval *tv)
{
	return tv->tv_sec >= 0 && tv->tv_usec >= 0 && tv->tv_usec < 1000000 && tv->tv_sec < (1ll << 32);
}

long sys_setitimer(struct task *t, uint64_t which, uint64_t unew, uint64_t uold)
{
	if (which > ITIMER_PROF)
		return -EINVAL;
	struct itimerval nv = { { 0, 0 }, { 0, 0 } }, old;
	if (unew && mm_copy_in(t->proc, unew, &nv, sizeof(nv)) < 0)
		return -EFAULT;
	if (!tv_valid(&nv.it_value) || !tv_valid(&nv.it_interval))
		return -EINVAL;
	set_timer(t, (int)which, &nv, &old);
	if (uold && mm_copy_out(t->proc, uold, &old, sizeof(old)) < 0)
		return -EFAULT;
	return 0;
}

long sys_getitimer(struct task *t, uint64_t which, uint64_t ucur)
{
	if (which > ITIMER_PROF)
		return -EINVAL;
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	struct itimerval v = current(t->proc, (int)which, mono_ns());
	pthread_mutex_unlock(&s->lock);
	return mm_copy_out(t->proc, ucur, &v, sizeof(v)) < 0 ? -EFAULT : 0;
}

long sys_alarm(struct task *t, uint64_t secs)
{
	struct itimerval nv = { { 0, 0 }, { (time_t)(uint32_t)secs, 0 } }, old;
	set_timer(t, ITIMER_REAL, &nv, &old);
	/* the seconds left, rounded to nearest, and at least 1 while one is pending */
	long left = (long)old.it_value.tv_sec + (old.it_value.tv_usec >= 500000);
	return !left && (old.it_value.tv_sec || old.it_value.tv_usec) ? 1 : left;
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(alarm, sys_alarm(t, a[0]))
SYSCALL_ENTRY(setitimer, sys_setitimer(t, a[0], a[1], a[2]))
SYSCALL_ENTRY(getitimer, sys_getitimer(t, a[0], a[1]))
