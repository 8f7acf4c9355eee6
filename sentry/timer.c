// SPDX-License-Identifier: Apache-2.0
// Interval timers: alarm, setitimer and getitimer for ITIMER_REAL, fired by one sentry thread that
// sleeps until the earliest deadline of any process and queues SIGALRM (process-directed, SI_KERNEL,
// as Linux sends it). ITIMER_VIRTUAL and ITIMER_PROF count application CPU time, which the sentry does
// not see per process: they return EINVAL rather than pretending.
#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include <time.h>
#include "sentry.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *timer_main(void *arg)
{
	struct sentry *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->timer_stop) {
		uint64_t now = mono_ns(), next = 0;
		bool fired = false;
		for (struct process *p = s->procs; p; p = p->next) {
			if (!p->itimer_due || p->zombie)
				continue;
			if (p->itimer_due <= now) {
				siginfo_t si = { .si_signo = SIGALRM, .si_code = SI_KERNEL };
				sig_process_locked(p, SIGALRM, &si);
				fired = true;
				/* Overruns collapse into one signal, as standard signals do. */
				p->itimer_due = p->itimer_every ? now + p->itimer_every : 0;
			}
			if (p->itimer_due && (!next || p->itimer_due < next))
				next = p->itimer_due;
		}
		if (fired) {
			pthread_mutex_unlock(&s->lock);
			futex_wake_all(s);
			pthread_mutex_lock(&s->lock);
			continue;
		}
		if (!next) {
			pthread_cond_wait(&s->timer_cond, &s->lock);
		} else {
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

/* The current ITIMER_REAL of @p (s->lock held). */
static struct itimerval current(const struct process *p, uint64_t now)
{
	struct itimerval v = { { 0, 0 }, { 0, 0 } };
	if (p->itimer_due) {
		v.it_value = ns_tv(p->itimer_due > now ? p->itimer_due - now : 1000);
		v.it_interval = ns_tv(p->itimer_every);
	}
	return v;
}

/* Set ITIMER_REAL of the caller's process; the old value into *@old. */
static void set_real(struct task *t, const struct itimerval *nv, struct itimerval *old)
{
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	uint64_t now = mono_ns();
	*old = current(t->proc, now);
	uint64_t value = tv_ns(&nv->it_value);
	t->proc->itimer_due = value ? now + value : 0;
	t->proc->itimer_every = value ? tv_ns(&nv->it_interval) : 0;
	pthread_cond_signal(&s->timer_cond);
	pthread_mutex_unlock(&s->lock);
}

static bool tv_valid(const struct timeval *tv)
{
	return tv->tv_sec >= 0 && tv->tv_usec >= 0 && tv->tv_usec < 1000000 && tv->tv_sec < (1ll << 32);
}

long sys_setitimer(struct task *t, uint64_t which, uint64_t unew, uint64_t uold)
{
	if (which != ITIMER_REAL)
		return -EINVAL;
	struct itimerval nv = { { 0, 0 }, { 0, 0 } }, old;
	if (unew && mm_copy_in(t->proc, unew, &nv, sizeof(nv)) < 0)
		return -EFAULT;
	if (!tv_valid(&nv.it_value) || !tv_valid(&nv.it_interval))
		return -EINVAL;
	set_real(t, &nv, &old);
	if (uold && mm_copy_out(t->proc, uold, &old, sizeof(old)) < 0)
		return -EFAULT;
	return 0;
}

long sys_getitimer(struct task *t, uint64_t which, uint64_t ucur)
{
	if (which != ITIMER_REAL)
		return -EINVAL;
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	struct itimerval v = current(t->proc, mono_ns());
	pthread_mutex_unlock(&s->lock);
	return mm_copy_out(t->proc, ucur, &v, sizeof(v)) < 0 ? -EFAULT : 0;
}

long sys_alarm(struct task *t, uint64_t secs)
{
	struct itimerval nv = { { 0, 0 }, { (time_t)(uint32_t)secs, 0 } }, old;
	set_real(t, &nv, &old);
	/* the seconds left, rounded to nearest, and at least 1 while one is pending */
	long left = (long)old.it_value.tv_sec + (old.it_value.tv_usec >= 500000);
	return !left && (old.it_value.tv_sec || old.it_value.tv_usec) ? 1 : left;
}
