// SPDX-License-Identifier: Apache-2.0
// ptrace plumbing: waiting for stops, injecting syscalls into stubs, parking, killing stub processes.
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "ptrace/ptrace_internal.h"

int pt_wait(int tid, int *status)
{
	for (;;) {
		/* __WALL: stub threads are clones (exit signal 0 or threads), not ordinary children. */
		int r = waitpid(tid, status, __WALL);
		if (r == tid)
			return 0;
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : -EIO;
	}
}

/* Registers for running stub code: the selectors of 64-bit user mode and nothing else of value. */
static void stub_regs(struct user_regs_struct *r, uint64_t rip)
{
	memset(r, 0, sizeof(*r));
	r->cs = CV_USER_CS;
	r->ss = CV_USER_DS;
	r->eflags = 0x246;
	r->rsp = rip & ~PAGE_MASK;
	r->rip = rip;
	r->orig_rax = (uint64_t)-1; /* not in a syscall: no restart logic on resume */
}

int pt_inject(struct pt_platform *pp, int tid, long nr, const uint64_t args[6], long *ret)
{
	struct user_regs_struct r;
	stub_regs(&r, stub_sym(pp, cv_ptrace_stub_inject));
	r.rax = (uint64_t)nr;
	r.rdi = args[0];
	r.rsi = args[1];
	r.rdx = args[2];
	r.r10 = args[3];
	r.r8 = args[4];
	r.r9 = args[5];
	if (ptrace(PTRACE_SETREGS, tid, 0, &r) < 0)
		return -errno;
	for (;;) {
		if (ptrace(PTRACE_CONT, tid, 0, 0) < 0)
			return -errno;
		int status;
		int err = pt_wait(tid, &status);
		if (err < 0)
			return err;
		if (!WIFSTOPPED(status))
			return -ESRCH; /* the thread (and so its stub process) is gone */
		if (WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0)
			break;
		/* A kick that raced with the previous switch may be pending, or an event stop: swallow
		 * it and go on. A fault means the stub itself is broken. */
		int s = WSTOPSIG(status);
		if ((status >> 16) == 0 && s != PT_KICK_SIGNAL) {
			siginfo_t si = { 0 };
			ptrace(PTRACE_GETSIGINFO, tid, 0, &si);
			ptrace(PTRACE_GETREGS, tid, 0, &r);
			cv_log(CV_LOG_ERROR,
			       "ptrace: stub %d took signal %d (code %d, addr %p) at %#llx during syscall %ld",
			       tid, s, si.si_code, si.si_addr, (unsigned long long)r.rip, nr);
			return -EIO;
		}
	}
	if (ptrace(PTRACE_GETREGS, tid, 0, &r) < 0)
		return -errno;
	*ret = (long)r.rax;
	return 0;
}

int pt_park_regs(struct pt_platform *pp, int tid)
{
	struct user_regs_struct r;
	stub_regs(&r, stub_sym(pp, cv_ptrace_stub_park));
	return ptrace(PTRACE_SETREGS, tid, 0, &r) < 0 ? -errno : 0;
}

/* Reap @tid if it is (or becomes) a zombie within a short grace period. */
static void reap(int tid, bool block)
{
	for (int i = 0; i < 2000; i++) {
		int r = waitpid(tid, NULL, __WALL | (block ? 0 : WNOHANG));
		if (r == tid || (r < 0 && errno != EINTR))
			return;
		if (r == 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	cv_log(CV_LOG_WARN, "ptrace: stub %d did not die", tid);
}

void pt_as_kill(struct pt_as *pas)
{
	pthread_mutex_lock(&pas->lock);
	atomic_store(&pas->dead, true);
	if (pas->pid > 0) {
		kill(pas->pid, SIGKILL);
		/*
		 * A traced thread stays a zombie until a thread of its tracer's process waits for it;
		 * any sentry thread may do that, so reap them all here, whoever traced them. Then the
		 * leader, which the kernel keeps until its last thread is gone.
		 */
		for (struct pt_thread *t = pas->threads; t; t = t->as_next) {
			atomic_store(&t->dead, true);
			reap(t->tid, false);
		}
		reap(pas->pid, false);
		pas->pid = -1;
	}
	pthread_mutex_unlock(&pas->lock);
}

void pt_as_put(struct pt_as *pas)
{
	if (atomic_fetch_sub(&pas->refs, 1) != 1)
		return;
	if (pas->pid > 0)
		pt_as_kill(pas);
	struct pt_platform *pp = pas->pp;
	pthread_mutex_destroy(&pas->lock);
	free(pas->orphans);
	free(pas);
	pt_platform_put(pp);
}
