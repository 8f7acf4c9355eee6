// SPDX-License-Identifier: Apache-2.0
// Process attributes the sentry keeps for the application and never applies to its own threads: prctl,
// scheduling policy, affinity and priority, resource limits, CPU times, personality; and reports about
// the machine (sysinfo, clock_getres, getcpu).
#include <errno.h>
#include <linux/capability.h>
#include <sched.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

#define NS_PER_TICK 10000000ull /* times(2) counts USER_HZ (100) ticks */
#define MAX_RT_PRIO 99
#define NICE_MIN (-20)
#define NICE_MAX 19

/* The task with sandbox thread id @tid (0: @self), or NULL; s->lock held. */
static struct task *find_task(struct task *self, int64_t tid)
{
	if (tid == 0)
		return self;
	for (struct process *p = self->proc->s->procs; p; p = p->next)
		for (struct task *o = p->zombie ? NULL : p->tasks; o; o = o->next)
			if (!o->exited && o->tid == tid)
				return o;
	return NULL;
}

long sys_prctl(struct task *t, uint64_t op, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	int v;
	switch (op) {
	case PR_SET_NAME: {
		char name[16];
		long n = mm_strncpy_in(pr, a2, name, sizeof(name));
		if (n == -EFAULT)
			return -EFAULT;
		name[sizeof(name) - 1] = 0; /* longer names are cut, as in Linux */
		pthread_mutex_lock(&s->lock); /* /proc/PID/comm reads it there */
		memcpy(t->comm, name, sizeof(name));
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	case PR_GET_NAME: {
		char name[16] = "";
		pthread_mutex_lock(&s->lock);
		strncpy(name, task_comm(t), sizeof(name) - 1);
		pthread_mutex_unlock(&s->lock);
		return mm_copy_out(pr, a2, name, sizeof(name));
	}
	case PR_SET_PDEATHSIG:
		if (a2 > 64)
			return -EINVAL;
		t->pdeathsig = (int)a2;
		return 0;
	case PR_GET_PDEATHSIG:
		v = t->pdeathsig;
		return mm_copy_out(pr, a2, &v, sizeof(v));
	case PR_SET_DUMPABLE:
		if (a2 > 1) /* SUID_DUMP_ROOT only comes from the sysctl */
			return -EINVAL;
		pr->dumpable = a2;
		return 0;
	case PR_GET_DUMPABLE:
		return pr->dumpable;
	case PR_SET_NO_NEW_PRIVS:
		if (a2 != 1 || a3 || a4 || a5)
			return -EINVAL;
		pr->no_new_privs = true; /* nothing the sandbox runs gains privileges anyway */
		return 0;
	case PR_GET_NO_NEW_PRIVS:
		return a2 || a3 || a4 || a5 ? -EINVAL : pr->no_new_privs;
	case PR_SET_CHILD_SUBREAPER:
		pr->subreaper = a2 != 0;
		return 0;
	case PR_GET_CHILD_SUBREAPER:
		v = pr->subreaper;
		return mm_copy_out(pr, a2, &v, sizeof(v));
	case PR_CAPBSET_READ:
		return a2 <= CAP_LAST_CAP ? 0 : -EINVAL; /* the sandbox holds no capabilities */
	default:
		return -EINVAL; /* including PR_SET_SECCOMP: the application cannot install filters */
	}
}

/* --- scheduling: stored per task, the host threads keep their own --- */

static bool valid_policy(int policy)
{
	return policy == SCHED_OTHER || policy == SCHED_BATCH || policy == SCHED_IDLE || policy == SCHED_FIFO ||
	       policy == SCHED_RR;
}

long sys_sched(struct task *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	int64_t pid = (int32_t)a0;
	if (nr == SYS_sched_get_priority_max || nr == SYS_sched_get_priority_min) {
		int policy = (int)a0;
		if (!valid_policy(policy) && policy != 6 /* SCHED_DEADLINE */)
			return -EINVAL;
		bool rt = policy == SCHED_FIFO || policy == SCHED_RR;
		return rt ? (nr == SYS_sched_get_priority_max ? MAX_RT_PRIO : 1) : 0;
	}
	struct sched_param param = { 0 };
	uint64_t uparam = nr == SYS_sched_setscheduler ? a2 : a1;
	if (pid < 0 || (nr != SYS_sched_getscheduler && nr != SYS_sched_rr_get_interval && !uparam))
		return -EINVAL;
	if ((nr == SYS_sched_setscheduler || nr == SYS_sched_setparam) && mm_copy_in(pr, uparam, &param, sizeof(param)) < 0)
		return -EFAULT;
	pthread_mutex_lock(&s->lock);
	struct task *o = find_task(t, pid);
	long ret = o ? 0 : -ESRCH;
	int cur = o ? o->sched_policy : 0;
	if (ret == 0 && (nr == SYS_sched_setscheduler || nr == SYS_sched_setparam)) {
		int policy = nr == SYS_sched_setparam ? cur : (int)a1;
		int base = policy & ~SCHED_RESET_ON_FORK;
		bool rt = base == SCHED_FIFO || base == SCHED_RR;
		if (!valid_policy(base) || param.sched_priority < (rt ? 1 : 0) || param.sched_priority > (rt ? MAX_RT_PRIO : 0))
			ret = -EINVAL;
		else if (rt)
			ret = -EPERM; /* real-time scheduling needs CAP_SYS_NICE, which the sandbox lacks */
		else
			o->sched_policy = policy;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret < 0)
		return ret;
	if (nr == SYS_sched_getscheduler)
		return cur;
	if (nr == SYS_sched_getparam)
		return mm_copy_out(pr, uparam, &param, sizeof(param)); /* priority 0: none is real-time */
	if (nr == SYS_sched_rr_get_interval) { /* the host's slice for a normal thread like ours */
		struct timespec ts;
		if (sched_rr_get_interval(0, &ts) < 0)
			return -errno;
		return mm_copy_out(pr, a1, &ts, sizeof(ts));
	}
	return 0;
}

/* sched_setaffinity/sched_getaffinity: a mask stored per task, within the CPUs the sentry had at start. */
long sys_affinity(struct task *t, bool set, uint64_t pid, uint64_t len, uint64_t umask)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	uint64_t mask[16] = { 0 };
	long size = (long)sizeof(mask);
	if (set) {
		size_t n = len < sizeof(mask) ? (size_t)len : sizeof(mask);
		if (mm_copy_in(pr, umask, mask, n) < 0)
			return -EFAULT;
		bool any = false;
		for (int i = 0; i < 16; i++)
			any |= (mask[i] &= s->cpus[i]) != 0;
		if (!any)
			return -EINVAL;
	} else {
		/* The host validates the length against its CPU count and says how much it fills. */
		uint64_t probe[16];
		size = syscall(SYS_sched_getaffinity, 0, len < sizeof(probe) ? len : sizeof(probe), probe);
		if (size < 0)
			return -errno;
	}
	pthread_mutex_lock(&s->lock);
	struct task *o = find_task(t, (int32_t)pid);
	if (o && set) {
		memcpy(o->affinity, mask, sizeof(mask));
		o->has_affinity = true;
		vdso_affinity_set(s); /* the vDSO's getcpu cannot see the mask */
	} else if (o) {
		memcpy(mask, o->has_affinity ? o->affinity : s->cpus, sizeof(mask));
	}
	pthread_mutex_unlock(&s->lock);
	if (!o)
		return -ESRCH;
	if (set)
		return 0;
	return mm_copy_out(pr, umask, mask, (size_t)size) < 0 ? -EFAULT : size;
}

long sys_getcpu(struct task *t, uint64_t ucpu, uint64_t unode)
{
	unsigned cpu = 0, node = 0;
	if (getcpu(&cpu, &node) < 0)
		return -errno;
	/* Where the sentry's thread runs; inside the task's own mask if it set one. */
	if (t->has_affinity && cpu < 1024 && !(t->affinity[cpu / 64] & (1ull << (cpu % 64))))
		for (cpu = 0; cpu < 1023 && !(t->affinity[cpu / 64] & (1ull << (cpu % 64))); cpu++)
			;
	if ((ucpu && mm_copy_out(t->proc, ucpu, &cpu, sizeof(cpu)) < 0) ||
	    (unode && mm_copy_out(t->proc, unode, &node, sizeof(node)) < 0))
		return -EFAULT;
	return 0;
}

/* getpriority/setpriority: a nice value per thread, as Linux's: PRIO_PROCESS names one thread (0: the
 * caller), PRIO_PGRP and PRIO_USER every thread of the group's or the user's processes. */
long sys_priority(struct task *t, bool set, uint64_t which, uint64_t who, int64_t nice)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	int64_t id = (int32_t)who;
	if (which > PRIO_USER)
		return -EINVAL;
	if (nice < NICE_MIN)
		nice = NICE_MIN;
	if (nice > NICE_MAX)
		nice = NICE_MAX;
	long ret = -ESRCH, best = NICE_MAX + 1;
	pthread_mutex_lock(&s->lock);
	struct task *one = which == PRIO_PROCESS ? find_task(t, id) : NULL;
	for (struct process *p = s->procs; p; p = p->next) {
		if (p->zombie)
			continue;
		if (which == PRIO_PROCESS && (!one || one->proc != p))
			continue;
		if (which == PRIO_PGRP && p->pgid != (id ? id : pr->pgid))
			continue;
		if (which == PRIO_USER && id && id != (int64_t)pr->cred.uid[0])
			continue;
		for (struct task *o = p->tasks; o; o = o->next) {
			if (o->exited || (one && o != one))
				continue;
			if (!set) {
				best = o->nice < best ? o->nice : best;
				ret = 0;
				continue;
			}
			/* Lowering the nice value is bounded by RLIMIT_NICE (no CAP_SYS_NICE in the sandbox). */
			if (nice < o->nice && (uint64_t)(20 - nice) > p->rlim[RLIMIT_NICE].rlim_cur) {
				ret = -EACCES;
				continue;
			}
			o->nice = (int)nice;
			if (ret == -ESRCH)
				ret = 0;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret < 0 || set ? ret : 20 - best; /* the raw syscall returns 20 - nice */
}

/* --- resource limits: stored per process, inherited at fork --- */

long sys_prlimit(struct task *t, uint64_t pid, uint64_t res, uint64_t unew, uint64_t uold)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	struct rlimit nw, old;
	if (res >= RLIM_NLIMITS)
		return -EINVAL;
	if (unew && mm_copy_in(pr, unew, &nw, sizeof(nw)) < 0)
		return -EFAULT;
	if (unew && nw.rlim_cur > nw.rlim_max)
		return -EINVAL;
	long ret = 0;
	pthread_mutex_lock(&s->lock);
	struct task *o = find_task(t, (int32_t)pid);
	if (!o) {
		ret = -ESRCH;
	} else {
		old = o->proc->rlim[res];
		if (unew && nw.rlim_max > old.rlim_max)
			ret = -EPERM; /* raising a hard limit needs CAP_SYS_RESOURCE */
		else if (unew && res == RLIMIT_NOFILE && nw.rlim_max > SENTRY_MAX_FDS)
			ret = -EPERM; /* the fd table's size, as fs.nr_open */
		else if (unew)
			o->proc->rlim[res] = nw;
	}
	pthread_mutex_unlock(&s->lock);
	if (ret == 0 && uold && mm_copy_out(pr, uold, &old, sizeof(old)) < 0)
		return -EFAULT;
	return ret;
}

void rlimits_init(struct process *pr, const struct process *parent)
{
	for (int i = 0; i < RLIM_NLIMITS; i++) {
		if (parent)
			pr->rlim[i] = parent->rlim[i];
		else if (i == RLIMIT_NOFILE && pr->s->nofile.rlim_max)
			pr->rlim[i] = pr->s->nofile;
		else if (getrlimit(i, &pr->rlim[i]) < 0)
			pr->rlim[i] = (struct rlimit){ RLIM_INFINITY, RLIM_INFINITY };
	}
	struct rlimit *nofile = &pr->rlim[RLIMIT_NOFILE];
	if (nofile->rlim_max > SENTRY_MAX_FDS)
		nofile->rlim_max = SENTRY_MAX_FDS;
	if (nofile->rlim_cur > nofile->rlim_max)
		nofile->rlim_cur = nofile->rlim_max;
}

/* --- CPU times (cputime.c): user time is the time the process's tasks spent switched into
 * application code (so it includes host scheduling delays), system time the sentry's handling of
 * their syscalls without the waits --- */

static struct timeval ns_tv(uint64_t ns)
{
	return (struct timeval){ (time_t)(ns / 1000000000), (suseconds_t)(ns % 1000000000 / 1000) };
}

long sys_times(struct task *t, uint64_t ubuf)
{
	struct process *pr = t->proc;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&pr->s->lock);
	uint64_t cpu = process_cpu_ns(pr, (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec, NULL);
	struct tms tm = { (clock_t)(cpu / NS_PER_TICK), (clock_t)(__atomic_load_n(&pr->sys_ns, __ATOMIC_RELAXED) / NS_PER_TICK),
			  (clock_t)(pr->child_run_ns / NS_PER_TICK), (clock_t)(pr->child_sys_ns / NS_PER_TICK) };
	pthread_mutex_unlock(&pr->s->lock);
	if (ubuf && mm_copy_out(pr, ubuf, &tm, sizeof(tm)) < 0)
		return -EFAULT;
	return (long)times(NULL); /* ticks since an arbitrary point: the host's */
}

long sys_getrusage(struct task *t, int64_t who, uint64_t uru)
{
	struct process *pr = t->proc;
	if (who != RUSAGE_SELF && who != RUSAGE_CHILDREN && who != RUSAGE_THREAD)
		return -EINVAL;
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	uint64_t now_ns = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	pthread_mutex_lock(&pr->s->lock);
	ru.ru_utime = ns_tv(who == RUSAGE_CHILDREN ? pr->child_run_ns
			    : who == RUSAGE_THREAD ? task_cpu_ns(t, now_ns)
						   : process_cpu_ns(pr, now_ns, NULL));
	ru.ru_stime = ns_tv(who == RUSAGE_CHILDREN ? pr->child_sys_ns
			    : who == RUSAGE_THREAD ? __atomic_load_n(&t->sys_ns, __ATOMIC_RELAXED)
						   : __atomic_load_n(&pr->sys_ns, __ATOMIC_RELAXED));
	if (who == RUSAGE_CHILDREN)
		process_wait_children_settled(pr);
	uint64_t child_peak = pr->child_maxrss;
	pthread_mutex_unlock(&pr->s->lock);
	if (who == RUSAGE_CHILDREN) {
		ru.ru_maxrss = (long)(child_peak / 1024);
	} else { /* kB, as Linux: the process's peak (a thread's is its process's) */
		pthread_mutex_lock(&pr->vm->lock);
		mm_rss_peak(pr);
		ru.ru_maxrss = (long)(pr->rss_hwm / 1024);
		pthread_mutex_unlock(&pr->vm->lock);
	}
	return mm_copy_out(pr, uru, &ru, sizeof(ru));
}

/* sysinfo: the machine's memory, load and uptime (as /proc/meminfo shows them), the sandbox's tasks. */
long sys_sysinfo(struct task *t, uint64_t uinfo)
{
	struct sysinfo si;
	if (sysinfo(&si) < 0)
		return -errno;
	unsigned short n = 0;
	pthread_mutex_lock(&t->proc->s->lock);
	for (struct process *p = t->proc->s->procs; p; p = p->next)
		for (struct task *o = p->tasks; o; o = o->next)
			n += !o->exited;
	pthread_mutex_unlock(&t->proc->s->lock);
	si.procs = n;
	return mm_copy_out(t->proc, uinfo, &si, sizeof(si));
}

bool clock_allowed(uint64_t clk)
{
	/* Negative ids name CPU clocks of other processes and threads by host pid: never passed on. */
	return clk <= CLOCK_TAI && clk != 10 /* CLOCK_SGI_CYCLE, gone */;
}

long sys_clock_getres(struct task *t, uint64_t clk, uint64_t ures)
{
	struct timespec ts;
	if ((int32_t)clk < 0) { /* a CPU clock by id: nanoseconds, if it names one */
		long r = cpu_clock_by_id(t, clk, &ts);
		if (r < 0)
			return r;
		ts = (struct timespec){ 0, 1 };
	} else if (!clock_allowed(clk)) {
		return -EINVAL;
	} else if (clock_getres((clockid_t)clk, &ts) < 0) {
		return -errno;
	}
	return ures ? mm_copy_out(t->proc, ures, &ts, sizeof(ts)) : 0;
}

/* personality(2): Linux's own (PER_LINUX) with any flags (gdb sets ADDR_NO_RANDOMIZE; the sandbox's
 * layout does not change); the old one is returned, 0xffffffff only asks. */
long sys_personality(struct task *t, uint64_t persona)
{
	struct process *pr = t->proc;
	uint32_t old = pr->persona;
	if ((uint32_t)persona == 0xffffffffu)
		return old;
	if ((persona & 0xff) != 0)
		return -EINVAL;
	pr->persona = (uint32_t)persona;
	return old;
}

long sys_get_robust_list(struct task *t, uint64_t pid, uint64_t uhead, uint64_t ulen)
{
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	struct task *o = find_task(t, (int32_t)pid);
	uint64_t head = o ? o->robust_head : 0, len = 24;
	pthread_mutex_unlock(&s->lock);
	if (!o)
		return -ESRCH;
	if (mm_copy_out(t->proc, ulen, &len, sizeof(len)) < 0 || mm_copy_out(t->proc, uhead, &head, sizeof(head)) < 0)
		return -EFAULT;
	return 0;
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(get_robust_list, sys_get_robust_list(t, a[0], a[1], a[2]))
SYSCALL_ENTRY(prlimit64, sys_prlimit(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(getrlimit, sys_prlimit(t, 0, a[0], 0, a[1]))
SYSCALL_ENTRY(setrlimit, sys_prlimit(t, 0, a[0], a[1], 0))
SYSCALL_ENTRY(prctl, sys_prctl(t, a[0], a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(sched_setaffinity, sys_affinity(t, true, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_getaffinity, sys_affinity(t, false, a[0], a[1], a[2]))
SYSCALL_ENTRY(getcpu, sys_getcpu(t, a[0], a[1]))
SYSCALL_ENTRY(getpriority, sys_priority(t, false, a[0], a[1], 0))
SYSCALL_ENTRY(setpriority, sys_priority(t, true, a[0], a[1], (int32_t)a[2]))
SYSCALL_ENTRY(times, sys_times(t, a[0]))
SYSCALL_ENTRY(getrusage, sys_getrusage(t, (int32_t)a[0], a[1]))
SYSCALL_ENTRY(sysinfo, sys_sysinfo(t, a[0]))
SYSCALL_ENTRY(clock_getres, sys_clock_getres(t, a[0], a[1]))
SYSCALL_ENTRY(personality, sys_personality(t, a[0]))
SYSCALL_ENTRY(sched_getscheduler, sys_sched(t, SYS_sched_getscheduler, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_setscheduler, sys_sched(t, SYS_sched_setscheduler, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_getparam, sys_sched(t, SYS_sched_getparam, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_setparam, sys_sched(t, SYS_sched_setparam, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_get_priority_max, sys_sched(t, SYS_sched_get_priority_max, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_get_priority_min, sys_sched(t, SYS_sched_get_priority_min, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_rr_get_interval, sys_sched(t, SYS_sched_rr_get_interval, a[0], a[1], a[2]))
