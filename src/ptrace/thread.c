// SPDX-License-Identifier: Apache-2.0
// ptrace stub threads and the tracer-affinity rule.
//
// Only the host thread that attached to a stub thread may drive it. So every host thread that runs
// contexts (or maps memory) in an address space gets a stub thread of its own there, created on first
// use by cloning the stub's parked first thread. When a host thread exits, its stub threads are parked
// and detached; later host threads adopt them instead of cloning new ones, so the number of stub
// threads stays bounded by the number of host threads ever active at once.
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "ptrace/ptrace_internal.h"

#define PT_OPTIONS (PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)

static pthread_key_t host_key;
static pthread_once_t host_key_once = PTHREAD_ONCE_INIT;
static __thread struct pt_host *current_host;

static void free_thread(struct pt_thread *t)
{
	struct pt_as *pas = t->pas;
	pt_fpu_forget_thread(pas->pp, t, false);
	pthread_mutex_lock(&pas->lock);
	for (struct pt_thread **pp = &pas->threads; *pp; pp = &(*pp)->as_next)
		if (*pp == t) {
			*pp = t->as_next;
			break;
		}
	pthread_mutex_unlock(&pas->lock);
	free(t);
	pt_as_put(pas);
}

/*
 * Host thread exit: hand each live stub thread back to its address space, parked and untraced, with
 * the XSAVE state of the context it held saved into that context first.
 */
static void host_destructor(void *arg)
{
	struct pt_host *h = arg;
	struct pt_thread *t = h->threads;
	while (t) {
		struct pt_thread *next = t->host_next;
		struct pt_as *pas = t->pas;
		if (!atomic_load(&t->dead)) {
			pt_fpu_forget_thread(pas->pp, t, true);
			pthread_mutex_lock(&pas->lock);
			if (!atomic_load(&pas->dead) && pt_park_regs(pas->pp, t->tid) == 0 &&
			    ptrace(PTRACE_DETACH, t->tid, 0, 0) == 0) {
				int *o = pas->orphans;
				if (pas->n_orphans == pas->cap_orphans) {
					size_t cap = pas->cap_orphans ? pas->cap_orphans * 2 : 8;
					o = realloc(pas->orphans, cap * sizeof(*o));
					if (o) {
						pas->orphans = o;
						pas->cap_orphans = cap;
					}
				}
				if (o)
					pas->orphans[pas->n_orphans++] = t->tid;
			}
			pthread_mutex_unlock(&pas->lock);
		}
		free_thread(t);
		t = next;
	}
	pt_host_unpin(h);
	free(h);
	current_host = NULL;
}

static void host_key_init(void)
{
	pthread_key_create(&host_key, host_destructor);
}

struct pt_host *pt_host_current(void)
{
	if (current_host)
		return current_host;
	pthread_once(&host_key_once, host_key_init);
	struct pt_host *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->tid = host_gettid();
	if (pthread_setspecific(host_key, h) != 0) {
		free(h);
		return NULL;
	}
	current_host = h;
	return h;
}

void pt_host_prune(void)
{
	struct pt_host *h = current_host;
	if (!h)
		return;
	for (struct pt_thread **pp = &h->threads; *pp;) {
		struct pt_thread *t = *pp;
		if (atomic_load(&t->dead) || atomic_load(&t->pas->dead)) {
			*pp = t->host_next;
			atomic_store(&t->dead, true);
			/* Our own tracee may still be a zombie nobody reaped (pt_as_kill reaps the rest). */
			waitpid(t->tid, NULL, __WALL | WNOHANG);
			free_thread(t);
		} else {
			pp = &t->host_next;
		}
	}
}

/* Clone a new stub thread from the parked first thread of the stub; it comes back traced by us. */
static int clone_thread(struct pt_as *pas, int *tid)
{
	struct pt_platform *pp = pas->pp;
	int leader = pas->pid;
	if (ptrace(PTRACE_SEIZE, leader, 0, PT_OPTIONS | PTRACE_O_TRACECLONE) < 0)
		return -errno;
	int ret, status;
	if (ptrace(PTRACE_INTERRUPT, leader, 0, 0) < 0) {
		ret = -errno;
		goto detach;
	}
	ret = pt_wait(leader, &status);
	if (ret < 0)
		return ret;
	if (!WIFSTOPPED(status))
		return -ESRCH;
	struct user_regs_struct r;
	memset(&r, 0, sizeof(r));
	r.cs = CV_USER_CS;
	r.ss = CV_USER_DS;
	r.eflags = 0x202;
	r.rip = stub_sym(pp, cv_ptrace_stub_clone);
	r.orig_rax = (uint64_t)-1;
	r.rax = SYS_clone;
	r.rdi = PT_CLONE_THREAD;
	r.r14 = 0; /* a thread: no new-process prologue */
	if (ptrace(PTRACE_SETREGS, leader, 0, &r) < 0 || ptrace(PTRACE_CONT, leader, 0, 0) < 0) {
		ret = -errno;
		goto park;
	}
	int child = -1;
	for (;;) {
		ret = pt_wait(leader, &status);
		if (ret < 0)
			return ret;
		if (!WIFSTOPPED(status))
			return -ESRCH;
		if ((status >> 8) == (SIGTRAP | (PTRACE_EVENT_CLONE << 8))) {
			unsigned long msg;
			if (ptrace(PTRACE_GETEVENTMSG, leader, 0, &msg) == 0)
				child = (int)msg;
		} else if (WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0) {
			break; /* the int3 after the clone */
		}
		if (ptrace(PTRACE_CONT, leader, 0, 0) < 0) {
			ret = -errno;
			goto park;
		}
	}
	if (ptrace(PTRACE_GETREGS, leader, 0, &r) < 0) {
		ret = -errno;
		goto park;
	}
	if ((long)r.rax < 0 || child <= 0) {
		ret = (long)r.rax < 0 ? (int)r.rax : -EIO;
		goto park;
	}
	/* The new thread was auto-attached to us (TRACECLONE) and starts in a PTRACE_EVENT_STOP. */
	ret = pt_wait(child, &status);
	if (ret == 0 && !WIFSTOPPED(status))
		ret = -ESRCH;
	if (ret == 0)
		*tid = child;
park:
	if (pt_park_regs(pp, leader) < 0 && ret == 0)
		ret = -EIO;
detach:
	ptrace(PTRACE_DETACH, leader, 0, 0);
	return ret;
}

/* Attach to a parked stub thread whose tracer exited. */
static int adopt_thread(int tid)
{
	if (ptrace(PTRACE_SEIZE, tid, 0, PT_OPTIONS) < 0)
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return -ESRCH;
	}
	int status;
	int ret = pt_wait(tid, &status);
	if (ret == 0 && !WIFSTOPPED(status))
		ret = -ESRCH;
	return ret;
}

/*
 * Is the stub process dead? PTRACE_SEIZE of a zombie fails with EPERM, not ESRCH, so failures to
 * attach are checked here before being reported as anything but a lost address space.
 */
static bool stub_gone(int pid)
{
	siginfo_t si = { 0 };
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0)
		return errno == ECHILD;
	return si.si_pid == pid;
}

int pt_thread_get(struct cv_as *as, struct pt_thread **out)
{
	struct pt_as *pas = as->priv;
	struct pt_host *h = pt_host_current();
	if (!h)
		return -ENOMEM;
	for (struct pt_thread *t = h->threads; t; t = t->host_next)
		if (t->pas == pas) {
			if (atomic_load(&t->dead))
				return -CV_EASDEAD;
			*out = t;
			return 0;
		}
	pt_host_prune();

	struct pt_thread *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	int ret = -ESRCH, tid = -1;
	pthread_mutex_lock(&pas->lock);
	if (atomic_load(&pas->dead)) {
		ret = -CV_EASDEAD;
		goto err_unlock;
	}
	while (ret < 0 && pas->n_orphans)
		ret = adopt_thread(tid = pas->orphans[--pas->n_orphans]);
	if (ret < 0)
		ret = clone_thread(pas, &tid);
	if (ret < 0) {
		if (ret == -ESRCH || ret == -ECHILD || stub_gone(pas->pid)) {
			atomic_store(&pas->dead, true);
			ret = -CV_EASDEAD;
		}
		goto err_unlock;
	}
	t->tid = tid;
	t->cpu = -1;
	t->pas = pas;
	t->host = h;
	t->regs_clobbered = true;
	atomic_fetch_add(&pas->refs, 1);
	t->as_next = pas->threads;
	pas->threads = t;
	pthread_mutex_unlock(&pas->lock);
	t->host_next = h->threads;
	h->threads = t;
	*out = t;
	return 0;

err_unlock:
	pthread_mutex_unlock(&pas->lock);
	free(t);
	return ret;
}

/*
 * Keep a stub thread on the CPU its tracer runs on. A ptrace round trip is a pair of wake-ups; when
 * tracer and tracee share a CPU each wake-up is a plain context switch, while across CPUs in a VM
 * it is an IPI to a possibly halted vCPU: measured here, 6.5 µs against 47 µs per SYSEMU round trip.
 * (gVisor dropped such pinning in 2020; on bare metal the gap is smaller.)
 */
void pt_thread_cpu_follow(struct pt_thread *t)
{
	int cpu = sched_getcpu();
	if (cpu < 0 || cpu == t->cpu)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(t->tid, sizeof(set), &set) == 0)
		t->cpu = cpu;
}


void pt_host_pin(struct pt_host *h)
{
	if (h->pinned || sched_getaffinity(0, sizeof(h->saved_mask), &h->saved_mask) < 0)
		return;
	int cpu = sched_getcpu();
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	h->pinned = cpu >= 0 && sched_setaffinity(0, sizeof(set), &set) == 0;
}

void pt_host_unpin(struct pt_host *h)
{
	if (h && h->pinned) {
		sched_setaffinity(0, sizeof(h->saved_mask), &h->saved_mask);
		h->pinned = false;
	}
}
