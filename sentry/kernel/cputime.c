// SPDX-License-Identifier: Apache-2.0
// CPU time of the sandbox's tasks and processes, for the CPU clocks, times/getrusage and the
// ITIMER_VIRTUAL/ITIMER_PROF timers.
//
// A task's user time is the wall time it spends switched into application code: two vDSO clock reads
// per switch, no host syscall. It is an upper bound (host preemption counts). Its system time is the
// wall time the sentry spends handling its syscalls, less the time it waits in them (host polls,
// sleeps, futex and wait4 waits): one more clock read per syscall, two per wait. A task in
// application code right now counts up to the moment of reading, so a compute loop's timer fires
// without any syscall. Readers never see a clock go back.
#include <errno.h>
#include <time.h>
#include "../sentry.h"

static uint64_t mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cpu_block_begin(struct task *t)
{
	t->block_start = mono_now();
	__atomic_store_n(&t->sleeping, true, __ATOMIC_RELAXED);
	if (t->ctx)
		cv_ctx_idle(t->ctx); /* nothing polls for its context while it waits (systrap's stub thread) */
}

void cpu_block_end(struct task *t)
{
	__atomic_store_n(&t->sleeping, false, __ATOMIC_RELAXED);
	t->blocked_ns += mono_now() - t->block_start;
}

void cpu_syscall_done(struct task *t, uint64_t handled_ns, uint64_t blocked_before)
{
	uint64_t waited = t->blocked_ns - blocked_before;
	if (handled_ns <= waited)
		return;
	__atomic_add_fetch(&t->sys_ns, handled_ns - waited, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->proc->sys_ns, handled_ns - waited, __ATOMIC_RELAXED);
}

void cpu_enter(struct task *t, uint64_t now)
{
	__atomic_store_n(&t->run_start, now, __ATOMIC_RELEASE);
}

void cpu_leave(struct task *t, uint64_t now)
{
	uint64_t d = now - __atomic_load_n(&t->run_start, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->run_ns, d, __ATOMIC_RELAXED);
	__atomic_add_fetch(&t->proc->run_ns, d, __ATOMIC_RELAXED);
	__atomic_store_n(&t->run_start, 0, __ATOMIC_RELEASE);
}

/* Raise *@seen to @v and return the larger: a clock read twice never goes back, even when a task
 * leaves application code between the reads of its start and its total. */
static uint64_t never_back(uint64_t *seen, uint64_t v)
{
	uint64_t old = __atomic_load_n(seen, __ATOMIC_RELAXED);
	while (v > old && !__atomic_compare_exchange_n(seen, &old, v, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return v > old ? v : old;
}

static uint64_t running_part(const struct task *t, uint64_t now)
{
	uint64_t start = __atomic_load_n(&t->run_start, __ATOMIC_ACQUIRE);
	return start && now > start ? now - start : 0;
}

uint64_t task_cpu_ns(struct task *t, uint64_t now)
{
	uint64_t part = running_part(t, now);
	return never_back(&t->cpu_seen, __atomic_load_n(&t->run_ns, __ATOMIC_RELAXED) + part);
}

uint64_t process_cpu_ns(struct process *pr, uint64_t now, int *running)
{
	uint64_t total = 0;
	int n = 0;
	for (struct task *t = pr->tasks; t; t = t->next) {
		uint64_t part = running_part(t, now);
		total += part;
		n += part != 0;
	}
	if (running)
		*running = n;
	return never_back(&pr->cpu_seen, __atomic_load_n(&pr->run_ns, __ATOMIC_RELAXED) + total);
}


bool cpu_clock(struct task *t, uint64_t clk, struct timespec *ts)
{
	uint64_t ns;
	if (clk == CLOCK_THREAD_CPUTIME_ID) { /* user and system, as Linux's */
		ns = task_cpu_ns(t, mono_now()) + __atomic_load_n(&t->sys_ns, __ATOMIC_RELAXED);
	} else if (clk == CLOCK_PROCESS_CPUTIME_ID) {
		pthread_mutex_lock(&t->proc->s->lock);
		ns = process_cpu_ns(t->proc, mono_now(), NULL) + __atomic_load_n(&t->proc->sys_ns, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&t->proc->s->lock);
	} else {
		return false;
	}
	*ts = (struct timespec){ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	return true;
}

long cpu_clock_by_id(struct task *t, uint64_t clk, struct timespec *ts)
{
	int32_t c = (int32_t)clk;
	int who = ~(c >> 3), type = c & 3;
	bool thread = (c & 4) != 0;
	if (c >= 0 || type == 3)
		return -EINVAL;
	struct sentry *s = t->proc->s;
	uint64_t now = mono_now(), ns = 0;
	long ret = -EINVAL;
	pthread_mutex_lock(&s->lock);
	if (thread) { /* a thread of the caller's process */
		for (struct task *o = t->proc->tasks; o; o = o->next)
			if (!o->exited && (who ? o->tid == who : o == t)) {
				ns = task_cpu_ns(o, now) + (type == 1 ? 0 : __atomic_load_n(&o->sys_ns, __ATOMIC_RELAXED));
				ret = 0;
			}
	} else { /* a process of the sandbox */
		for (struct process *p = s->procs; p; p = p->next)
			if (!p->zombie && (who ? p->pid == who : p == t->proc)) {
				ns = process_cpu_ns(p, now, NULL) + (type == 1 ? 0 : __atomic_load_n(&p->sys_ns, __ATOMIC_RELAXED));
				ret = 0;
			}
	}
	pthread_mutex_unlock(&s->lock);
	if (ret == 0)
		*ts = (struct timespec){ (time_t)(ns / 1000000000ull), (long)(ns % 1000000000ull) };
	return ret;
}
