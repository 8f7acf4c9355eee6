// SPDX-License-Identifier: Apache-2.0
// POSIX timers (timer_create, timer_settime, timer_gettime, timer_getoverrun, timer_delete; issue 12),
// fired by the same sentry thread as the interval timers (timer.c). Clocks: CLOCK_REALTIME,
// CLOCK_MONOTONIC, CLOCK_BOOTTIME (the host's), CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID
// (the sandbox's CPU time, cputime.c); the *_ALARM clocks need CAP_WAKE_ALARM (EPERM). Notification
// by a signal to the process, to one of its threads (SIGEV_THREAD_ID, which glibc's SIGEV_THREAD
// uses), or none. A timer that expires while its signal is still queued counts an overrun instead,
// as Linux does. Timers are not inherited by fork and end at execve and exit.
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../sentry.h"
#include "../systable.h"

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#define MAX_TIMERS 4096 /* per process; Linux bounds them by RLIMIT_SIGPENDING */
#define CPU_POLL_NS 1000000ull

struct ptimer {
	bool used;
	clockid_t clock;
	int notify, signo;
	int tid;                /* SIGEV_THREAD_ID's thread */
	int cpu_tid;            /* CLOCK_THREAD_CPUTIME_ID: the thread whose CPU time counts */
	union sigval value;
	uint64_t due, every;    /* in the clock's ns; due 0: disarmed */
	int overrun;            /* expirations while its signal was queued */
	int last;               /* the overrun the last signal carried (timer_getoverrun) */
};

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

static struct timespec ns_ts(uint64_t ns)
{
	return (struct timespec){ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
}

static struct task *thread_of(struct process *p, int tid)
{
	for (struct task *o = p->tasks; o; o = o->next)
		if (o->tid == tid && !o->exited)
			return o;
	return NULL;
}

/* Now on @pt's clock (s->lock held), monotonic time @mono given. */
static uint64_t clock_now(struct process *p, const struct ptimer *pt, uint64_t mono)
{
	struct timespec ts;
	switch (pt->clock) {
	case CLOCK_MONOTONIC:
		return mono;
	case CLOCK_PROCESS_CPUTIME_ID:
		return process_cpu_ns(p, mono, NULL) + __atomic_load_n(&p->sys_ns, __ATOMIC_RELAXED);
	case CLOCK_THREAD_CPUTIME_ID: {
		struct task *o = thread_of(p, pt->cpu_tid);
		return o ? task_cpu_ns(o, mono) + __atomic_load_n(&o->sys_ns, __ATOMIC_RELAXED) : 0;
	}
	default:
		clock_gettime(pt->clock, &ts);
		return ts_ns(&ts);
	}
}

static bool is_cpu_clock(clockid_t c)
{
	return c == CLOCK_PROCESS_CPUTIME_ID || c == CLOCK_THREAD_CPUTIME_ID;
}

/* The queued signal timer @id of @p sent, if it is still pending (its siginfo, updated in place: Linux
 * reports the overruns counted up to the moment the signal is taken). */
static siginfo_t *queued(struct process *p, int sig, int id)
{
	for (struct task *o = p->tasks; o; o = o->next)
		if (!o->exited && (o->pending & (1ull << (sig - 1))) && o->pinfo[sig - 1].si_code == SI_TIMER &&
		    o->pinfo[sig - 1].si_timerid == id)
			return &o->pinfo[sig - 1];
	return NULL;
}

bool ptimers_fire(struct process *p, uint64_t mono, uint64_t *next)
{
	bool fired = false;
	for (int i = 0; i < p->n_ptimers; i++) {
		struct ptimer *pt = &p->ptimers[i];
		if (!pt->used || !pt->due)
			continue;
		uint64_t now = clock_now(p, pt, mono);
		if (pt->due <= now) {
			uint64_t late = now - pt->due;
			int missed = pt->every ? (int)(late / pt->every) : 0;
			pt->due = pt->every ? pt->due + ((late / pt->every) + 1) * pt->every : 0;
			if (pt->notify != SIGEV_NONE) {
				siginfo_t *q = queued(p, pt->signo, i);
				if (q) {
					pt->overrun += 1 + missed;
					q->si_overrun = pt->last = pt->overrun;
				} else {
					siginfo_t si = { .si_signo = pt->signo, .si_code = SI_TIMER };
					si.si_timerid = i;
					si.si_overrun = pt->last = pt->overrun + missed;
					si.si_value = pt->value;
					pt->overrun = 0;
					struct task *o = pt->notify == SIGEV_THREAD_ID ? thread_of(p, pt->tid) : NULL;
					if (o)
						sig_queue_locked(o, pt->signo, &si);
					else
						sig_process_locked(p, pt->signo, &si);
					fired = true;
				}
			}
			if (!pt->due)
				continue;
		}
		uint64_t at = is_cpu_clock(pt->clock) ? mono + CPU_POLL_NS : mono + (pt->due - now);
		if (!*next || at < *next)
			*next = at;
	}
	return fired;
}

void ptimers_clear(struct process *p)
{
	free(p->ptimers);
	p->ptimers = NULL;
	p->n_ptimers = 0;
}

static bool valid_clock(clockid_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC || c == CLOCK_BOOTTIME || c == CLOCK_PROCESS_CPUTIME_ID ||
	       c == CLOCK_THREAD_CPUTIME_ID;
}

long sys_timer_create(struct task *t, uint64_t clock, uint64_t usev, uint64_t uid)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	clockid_t c = (clockid_t)clock;
	int cpu_tid = t->tid;
	if (c < 0) { /* a CPU clock by pid or tid, as glibc passes even CLOCK_PROCESS_CPUTIME_ID: ~pid << 3 | type */
		int who = ~(c >> 3);
		if ((c & 7) == 7 || (c & 3) == 3)
			return -EINVAL;
		if (c & 4) { /* a thread's; of this process */
			if (who && !thread_of(pr, who))
				return -EINVAL;
			cpu_tid = who ? who : t->tid;
			c = CLOCK_THREAD_CPUTIME_ID;
		} else {
			if (who && who != pr->pid)
				return -EINVAL; /* another process's CPU clock: not offered */
			c = CLOCK_PROCESS_CPUTIME_ID;
		}
	}
	if (c == CLOCK_REALTIME_ALARM || c == CLOCK_BOOTTIME_ALARM)
		return -EPERM; /* CAP_WAKE_ALARM */
	if (!valid_clock(c))
		return -EINVAL;
	struct ptimer nt = { .used = true, .clock = c, .notify = SIGEV_SIGNAL, .signo = SIGALRM, .cpu_tid = cpu_tid };
	if (usev) {
		struct sigevent ev;
		if (mm_copy_in(pr, usev, &ev, sizeof(ev)) < 0)
			return -EFAULT;
		nt.notify = ev.sigev_notify;
		nt.signo = ev.sigev_signo;
		nt.value = ev.sigev_value;
		if (nt.notify != SIGEV_SIGNAL && nt.notify != SIGEV_NONE && nt.notify != SIGEV_THREAD_ID)
			return -EINVAL;
		if (nt.notify != SIGEV_NONE && (nt.signo < 1 || nt.signo > 64))
			return -EINVAL;
		if (nt.notify == SIGEV_THREAD_ID)
			nt.tid = ev._sigev_un._tid;
	}
	pthread_mutex_lock(&s->lock);
	long id = -EINVAL;
	if (nt.notify == SIGEV_THREAD_ID && !thread_of(pr, nt.tid)) {
		id = -EINVAL;
	} else {
		for (int i = 0; i < pr->n_ptimers && id < 0; i++)
			if (!pr->ptimers[i].used)
				id = i;
		if (id < 0 && pr->n_ptimers < MAX_TIMERS) {
			struct ptimer *n = realloc(pr->ptimers, (size_t)(pr->n_ptimers + 1) * sizeof(*n));
			if (n) {
				pr->ptimers = n;
				id = pr->n_ptimers++;
			} else {
				id = -ENOMEM;
			}
		} else if (id < 0) {
			id = -EAGAIN;
		}
		if (id >= 0) {
			if (!usev)
				nt.value.sival_int = (int)id;
			pr->ptimers[id] = nt;
		}
	}
	pthread_mutex_unlock(&s->lock);
	if (id < 0)
		return id;
	int out = (int)id;
	if (mm_copy_out(pr, uid, &out, sizeof(out)) < 0) {
		pthread_mutex_lock(&s->lock);
		pr->ptimers[id].used = false;
		pthread_mutex_unlock(&s->lock);
		return -EFAULT;
	}
	return 0;
}

/* Timer @id of the caller's process (s->lock held), or NULL. */
static struct ptimer *lookup(struct process *pr, uint64_t id)
{
	return (int64_t)(int32_t)id >= 0 && (int32_t)id < pr->n_ptimers && pr->ptimers[(int32_t)id].used
		       ? &pr->ptimers[(int32_t)id]
		       : NULL;
}

static struct itimerspec current(struct process *pr, const struct ptimer *pt, uint64_t mono)
{
	struct itimerspec v = { ns_ts(pt->every), { 0, 0 } };
	if (pt->due) {
		uint64_t now = clock_now(pr, pt, mono);
		v.it_value = ns_ts(pt->due > now ? pt->due - now : 1);
	}
	return v;
}

static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts_ns(&ts);
}

static bool ts_valid(const struct timespec *ts)
{
	return ts->tv_sec >= 0 && ts->tv_nsec >= 0 && ts->tv_nsec < 1000000000;
}

long sys_timer_settime(struct task *t, uint64_t id, uint64_t flags, uint64_t unew, uint64_t uold)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	struct itimerspec nv, old;
	if (!unew)
		return -EINVAL;
	if (mm_copy_in(pr, unew, &nv, sizeof(nv)) < 0)
		return -EFAULT;
	if (!ts_valid(&nv.it_value) || !ts_valid(&nv.it_interval))
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct ptimer *pt = lookup(pr, id);
	if (pt) {
		uint64_t mono = mono_now();
		old = current(pr, pt, mono);
		uint64_t value = ts_ns(&nv.it_value), now = clock_now(pr, pt, mono);
		pt->every = value ? ts_ns(&nv.it_interval) : 0;
		pt->due = !value ? 0 : (flags & TIMER_ABSTIME) ? (value ? value : 1) : now + value;
		pt->overrun = pt->last = 0;
		pthread_cond_signal(&s->timer_cond);
	}
	pthread_mutex_unlock(&s->lock);
	if (!pt)
		return -EINVAL;
	return uold && mm_copy_out(pr, uold, &old, sizeof(old)) < 0 ? -EFAULT : 0;
}

long sys_timer_gettime(struct task *t, uint64_t id, uint64_t ucur)
{
	struct process *pr = t->proc;
	struct itimerspec v;
	pthread_mutex_lock(&pr->s->lock);
	struct ptimer *pt = lookup(pr, id);
	if (pt)
		v = current(pr, pt, mono_now());
	pthread_mutex_unlock(&pr->s->lock);
	if (!pt)
		return -EINVAL;
	return mm_copy_out(pr, ucur, &v, sizeof(v)) < 0 ? -EFAULT : 0;
}

long sys_timer_getoverrun(struct task *t, uint64_t id)
{
	struct process *pr = t->proc;
	pthread_mutex_lock(&pr->s->lock);
	struct ptimer *pt = lookup(pr, id);
	long ret = pt ? pt->last : -EINVAL;
	pthread_mutex_unlock(&pr->s->lock);
	return ret;
}

long sys_timer_delete(struct task *t, uint64_t id)
{
	struct process *pr = t->proc;
	pthread_mutex_lock(&pr->s->lock);
	struct ptimer *pt = lookup(pr, id);
	if (pt)
		pt->used = false;
	pthread_mutex_unlock(&pr->s->lock);
	return pt ? 0 : -EINVAL;
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(timer_create, sys_timer_create(t, a[0], a[1], a[2]))
SYSCALL_ENTRY(timer_settime, sys_timer_settime(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(timer_gettime, sys_timer_gettime(t, a[0], a[1]))
SYSCALL_ENTRY(timer_getoverrun, sys_timer_getoverrun(t, a[0]))
SYSCALL_ENTRY(timer_delete, sys_timer_delete(t, a[0]))
