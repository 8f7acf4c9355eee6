// SPDX-License-Identifier: Apache-2.0
// Smaller syscalls that conformance suites use (issue 12), each as Linux answers it for an unprivileged
// process in its own world: posix_fadvise (a hint, passed to the host file), ioprio_get/set and
// sched_getattr/setattr (kept by the sentry, never applied to its threads), the old getdents (built
// from getdents64), clock_settime/settimeofday (EPERM: the sandbox cannot set the host's clock),
// RLIMIT_FSIZE (writes cut at the limit, SIGXFSZ and EFBIG at it).
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include "../sentry.h"
#include "../systable.h"

#define IOPRIO_CLASS_SHIFT 13
#define IOPRIO_PRIO_MASK ((1u << IOPRIO_CLASS_SHIFT) - 1)
enum { IOPRIO_CLASS_NONE, IOPRIO_CLASS_RT, IOPRIO_CLASS_BE, IOPRIO_CLASS_IDLE };
enum { IOPRIO_WHO_PROCESS = 1, IOPRIO_WHO_PGRP, IOPRIO_WHO_USER };
#define DENTS_CHUNK (64u << 10)

long sys_fadvise(struct task *t, uint64_t fd, int64_t off, int64_t len, uint64_t advice)
{
	int h = (int)fd < SENTRY_MAX_FDS && (int)fd >= 0 ? __atomic_load_n(&t->proc->fds[fd], __ATOMIC_RELAXED) : -1;
	struct stat st;
	if (h < 0 || fstat(h, &st) < 0)
		return -EBADF;
	if (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))
		return -ESPIPE;
	if (advice > POSIX_FADV_NOREUSE || len < 0)
		return -EINVAL;
	int e = posix_fadvise(h, off, len, (int)advice); /* a hint on the host file: harmless */
	return e == EINVAL ? -EINVAL : 0;
}

/* ioprio: @who 0 is the caller; a process's own value (its threads share it here). */
long sys_ioprio(struct task *t, bool set, uint64_t which, uint64_t who, uint64_t prio)
{
	struct process *pr = t->proc;
	if (which < IOPRIO_WHO_PROCESS || which > IOPRIO_WHO_USER)
		return -EINVAL;
	if (set) {
		unsigned cls = (unsigned)prio >> IOPRIO_CLASS_SHIFT, data = (unsigned)prio & IOPRIO_PRIO_MASK;
		/* data: a level (3 bits) and, since Linux 6.4, hints above it */
		if (cls > IOPRIO_CLASS_IDLE || (cls == IOPRIO_CLASS_NONE && (data & 7)))
			return -EINVAL;
		if (cls == IOPRIO_CLASS_RT && !cred_root(&pr->cred))
			return -EPERM; /* CAP_SYS_ADMIN or CAP_SYS_NICE */
	}
	struct sentry *s = pr->s;
	long ret = -ESRCH;
	pthread_mutex_lock(&s->lock);
	for (struct process *p = s->procs; p; p = p->next) {
		bool match = which == IOPRIO_WHO_PROCESS ? (who == 0 ? p == pr : (uint64_t)p->pid == who)
			     : which == IOPRIO_WHO_PGRP ? (who == 0 ? p->pgid == pr->pgid : (uint64_t)p->pgid == who)
							: (who == 0 || who == pr->cred.uid[1]); /* one user here */
		if (!match || p->zombie)
			continue;
		if (set)
			p->ioprio = (int)prio, ret = 0;
		else if (ret < 0 || p->ioprio > ret) /* the highest of a group, as Linux */
			ret = p->ioprio;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

long sys_sched_attr(struct task *t, bool set, uint64_t pid, uint64_t uattr, uint64_t size_or_flags, uint64_t flags)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	struct sched_attr_v1 a;
	memset(&a, 0, sizeof(a));
	if ((int32_t)pid < 0 || !uattr || flags)
		return -EINVAL;
	if (set) {
		uint32_t usize;
		if (mm_copy_in(pr, uattr, &usize, sizeof(usize)) < 0)
			return -EFAULT;
		if (usize == 0)
			usize = SCHED_ATTR_SIZE_VER0;
		if (usize < SCHED_ATTR_SIZE_VER0 || usize > 4096)
			return -E2BIG;
		if (mm_copy_in(pr, uattr, &a, usize < sizeof(a) ? usize : sizeof(a)) < 0)
			return -EFAULT;
		int base = (int)a.sched_policy;
		if (base != SCHED_OTHER && base != SCHED_BATCH && base != SCHED_IDLE && base != SCHED_FIFO &&
		    base != SCHED_RR && base != 6 /* SCHED_DEADLINE */)
			return -EINVAL;
		if (base == SCHED_FIFO || base == SCHED_RR || base == 6)
			return a.sched_priority > 99 ? -EINVAL : -EPERM; /* CAP_SYS_NICE */
		if (a.sched_priority != 0 || a.sched_nice < -20 || a.sched_nice > 19)
			return -EINVAL;
	} else if (size_or_flags < SCHED_ATTR_SIZE_VER0 || size_or_flags > 4096) {
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	struct task *o = pid == 0 ? t : NULL;
	for (struct process *p = s->procs; p && !o; p = p->next)
		for (struct task *q = p->zombie ? NULL : p->tasks; q && !o; q = q->next)
			if (!q->exited && (uint64_t)q->tid == pid)
				o = q;
	if (o && set) {
		if (a.sched_nice < o->nice && !cred_root(&pr->cred))
			o = NULL, a.sched_flags = 1; /* lowering nice needs CAP_SYS_NICE */
		else
			o->sched_policy = (int)a.sched_policy, o->nice = a.sched_nice;
	} else if (o) {
		a.size = sizeof(a) < size_or_flags ? (uint32_t)sizeof(a) : (uint32_t)size_or_flags;
		a.sched_policy = (uint32_t)o->sched_policy & ~(uint32_t)SCHED_RESET_ON_FORK;
		a.sched_flags = (o->sched_policy & SCHED_RESET_ON_FORK) ? 1 : 0;
		a.sched_nice = o->nice;
		a.sched_util_max = 1024;
	}
	pthread_mutex_unlock(&s->lock);
	if (!o)
		return set && a.sched_flags == 1 ? -EPERM : -ESRCH;
	if (set)
		return 0;
	return mm_copy_out(pr, uattr, &a, a.size) < 0 ? -EFAULT : 0;
}

/* The old getdents: the same entries in the older layout (d_type after the name), which takes the
 * same room as getdents64's, so a buffer holds exactly the entries getdents64 gave. */
long sys_getdents_old(struct task *t, uint64_t fd, uint64_t ubuf, uint64_t count)
{
	struct process *pr = t->proc;
	int h = (int)fd < SENTRY_MAX_FDS && (int)fd >= 0 ? __atomic_load_n(&pr->fds[fd], __ATOMIC_RELAXED) : -1;
	if (h < 0)
		return -EBADF;
	size_t len = count < DENTS_CHUNK ? (size_t)count : DENTS_CHUNK;
	char *in = malloc(2 * DENTS_CHUNK), *out = in + DENTS_CHUNK;
	if (!in)
		return -ENOMEM;
	long n = fs_getdents(pr, (int64_t)fd, h, in, len);
	if (n <= 0) {
		free(in);
		return n;
	}
	size_t at = 0, put = 0;
	while (at < (size_t)n) {
		struct { uint64_t ino; int64_t off; uint16_t reclen; uint8_t type; char name[]; } __attribute__((packed)) *e = (void *)(in + at);
		size_t namelen = strlen(e->name), reclen = (offsetof(struct { uint64_t a; int64_t b; uint16_t c; char d[]; }, d) + namelen + 2 + 7) & ~(size_t)7;
		if (put + reclen > len)
			break; /* cannot happen: the layouts are the same size */
		char *o = out + put;
		memset(o, 0, reclen);
		memcpy(o, &e->ino, 8);
		memcpy(o + 8, &e->off, 8);
		uint16_t rl = (uint16_t)reclen;
		memcpy(o + 16, &rl, 2);
		memcpy(o + 18, e->name, namelen);
		o[reclen - 1] = (char)e->type;
		put += reclen;
		at += e->reclen;
	}
	long ret = mm_copy_out(pr, ubuf, out, put) < 0 ? -EFAULT : (long)put;
	free(in);
	return ret;
}

/* Setting a clock: the host's, which the sandbox may never set (Linux: EPERM without CAP_SYS_TIME). */
long sys_clock_settime(struct task *t, uint64_t clk, uint64_t uts)
{
	struct timespec ts;
	if ((int32_t)clk < 0 || (clk != CLOCK_REALTIME && clk != CLOCK_MONOTONIC && clk != CLOCK_BOOTTIME &&
				 clk != CLOCK_TAI && clk != CLOCK_MONOTONIC_RAW && clk != CLOCK_REALTIME_COARSE &&
				 clk != CLOCK_MONOTONIC_COARSE && clk != CLOCK_PROCESS_CPUTIME_ID &&
				 clk != CLOCK_THREAD_CPUTIME_ID && clk != CLOCK_REALTIME_ALARM && clk != CLOCK_BOOTTIME_ALARM))
		return -EINVAL;
	if (mm_copy_in(t->proc, uts, &ts, sizeof(ts)) < 0)
		return -EFAULT;
	if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
		return -EINVAL;
	return clk == CLOCK_REALTIME ? -EPERM : -EINVAL;
}

long sys_settimeofday(struct task *t, uint64_t utv, uint64_t utz)
{
	struct timeval tv;
	struct timezone tz;
	if (utv && mm_copy_in(t->proc, utv, &tv, sizeof(tv)) < 0)
		return -EFAULT;
	if (utz && mm_copy_in(t->proc, utz, &tz, sizeof(tz)) < 0)
		return -EFAULT;
	if (utv && (tv.tv_usec < 0 || tv.tv_usec >= 1000000 || tv.tv_sec < 0))
		return -EINVAL;
	return -EPERM;
}

/* SIGXFSZ, as Linux sends it to a process going past its file size limit. */
static void xfsz(struct process *pr)
{
	siginfo_t si = { .si_signo = SIGXFSZ, .si_code = SI_USER };
	pthread_mutex_lock(&pr->s->lock);
	sig_process_locked(pr, SIGXFSZ, &si);
	pthread_mutex_unlock(&pr->s->lock);
	futex_wake_all(pr->s);
}

long fsize_write(struct process *pr, int h, int64_t off, uint64_t *len)
{
	uint64_t lim = pr->rlim[RLIMIT_FSIZE].rlim_cur;
	struct stat st;
	if (lim == RLIM_INFINITY || !*len || fstat(h, &st) < 0 || !S_ISREG(st.st_mode))
		return 0;
	int64_t pos = off;
	if (pos < 0) {
		int fl = fcntl(h, F_GETFL);
		pos = fl >= 0 && (fl & O_APPEND) ? st.st_size : lseek(h, 0, SEEK_CUR);
		if (pos < 0)
			return 0;
	}
	if ((uint64_t)pos >= lim) {
		xfsz(pr);
		return -EFBIG;
	}
	if (*len > lim - (uint64_t)pos)
		*len = lim - (uint64_t)pos;
	return 0;
}

long fsize_size(struct process *pr, uint64_t size, uint64_t now)
{
	uint64_t lim = pr->rlim[RLIMIT_FSIZE].rlim_cur;
	if (lim == RLIM_INFINITY || size <= lim || size <= now)
		return 0;
	xfsz(pr);
	return -EFBIG;
}

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x80
#endif

/*
 * unshare: the sandbox makes no namespaces (EPERM, as in a container whose root lacks the host's
 * CAP_SYS_ADMIN). The rest is Linux's no-op for a process of one thread (its fd table, fs information,
 * System V undo list and memory are its own already), and Linux's EINVAL for CLONE_THREAD, CLONE_SIGHAND
 * or CLONE_VM beside other threads; the sentry's fd table and fs information are per process, so one
 * thread of several cannot take its own copy (CLONE_FILES, CLONE_FS): EINVAL too.
 */
static long sys_unshare(struct process *pr, uint64_t flags)
{
	const uint64_t ns = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWUSER |
			    CLONE_NEWCGROUP | CLONE_NEWTIME;
	if (flags & ~(ns | CLONE_FILES | CLONE_FS | CLONE_SYSVSEM | CLONE_VM | CLONE_SIGHAND | CLONE_THREAD))
		return -EINVAL;
	bool alone = pr->live_tasks <= 1;
	if ((flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM)) && !alone)
		return -EINVAL;
	if ((flags & CLONE_VM) && __atomic_load_n(&pr->vm->users, __ATOMIC_RELAXED) > 1)
		return -EINVAL; /* a memory other processes share (clone(CLONE_VM)): Linux cannot unshare it either */

	if (flags & ns)
		return -EPERM;
	return (flags & (CLONE_FILES | CLONE_FS)) && !alone ? -EINVAL : 0;
}

/* setns: the sandbox holds no namespace fd (its /proc has no ns/), so any open fd is not one. */
static long sys_setns(struct process *pr, uint64_t fd)
{
	return app_host_fd(pr, fd) < 0 ? -EBADF : -EINVAL;
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(fadvise64, sys_fadvise(t, a[0], (int64_t)a[1], (int64_t)a[2], a[3]))
SYSCALL_ENTRY(ioprio_get, sys_ioprio(t, false, a[0], a[1], 0))
SYSCALL_ENTRY(unshare, sys_unshare(t->proc, a[0]))
SYSCALL_ENTRY(setns, sys_setns(t->proc, a[0]))
SYSCALL_ENTRY(ioprio_set, sys_ioprio(t, true, a[0], a[1], a[2]))
SYSCALL_ENTRY(sched_getattr, sys_sched_attr(t, false, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(sched_setattr, sys_sched_attr(t, true, a[0], a[1], 0, a[2]))
SYSCALL_ENTRY(clock_settime, sys_clock_settime(t, a[0], a[1]))
SYSCALL_ENTRY(settimeofday, sys_settimeofday(t, a[0], a[1]))
SYSCALL_ENTRY(getdents, sys_getdents_old(t, a[0], a[1], a[2]))
