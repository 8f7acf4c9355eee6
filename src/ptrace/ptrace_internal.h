/* SPDX-License-Identifier: Apache-2.0 */
/* Private state of the ptrace backend: platform, address spaces, stub threads, host threads. */
#ifndef CVISOR_PTRACE_INTERNAL_H
#define CVISOR_PTRACE_INTERNAL_H

#include <sched.h>
#include <sys/user.h>
#include "internal.h"

/* Stub code (stub_code.S); offsets from cv_ptrace_stub_start give addresses inside the stub page. */
extern const uint8_t cv_ptrace_stub_start[], cv_ptrace_stub_end[];
extern const uint8_t cv_ptrace_stub_park[], cv_ptrace_stub_inject[], cv_ptrace_stub_clone[];

/* Clone flags of a new address space (a process sharing the sentry's fd table, child of the sentry)
 * and of a new stub thread. The seccomp filter allows exactly these two. */
#define PT_CLONE_PROCESS (CLONE_FILES | CLONE_PARENT)
#define PT_CLONE_THREAD                                                                                \
	(CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

/* Top of the x86-64 user address range with 4-level paging. */
#define PT_TASK_SIZE 0x7ffffffff000ull
/* The stub page sits at a random page of the top TiB of the user range; applications may map only
 * below it, so neither the stub's address nor the user limit leak or vary between runs. */
#define PT_STUB_WINDOW 0x7f0000000000ull

/* The signal that kicks a running stub thread out of application code (as gVisor does). */
#define PT_KICK_SIGNAL SIGCHLD

struct pt_platform {
	atomic_int refs;          /* the platform's own, plus one per pt_as (outlives cv_platform_close) */
	uint64_t stub_addr;       /* the stub page, at the same address in the sentry and every stub */
	int source_pid;           /* pristine stub that new address spaces are cloned from */
	pthread_mutex_t source_lock;
	pthread_t parent_thread;  /* parent of every stub: PR_SET_PDEATHSIG fires when it exits */
	pthread_mutex_t parent_lock;
	pthread_cond_t parent_cond;
	int parent_state;         /* 0 starting, 1 running, 2 told to exit */
	int sentry_pid;
	uint32_t kernel_xstate_size; /* size PTRACE_SETREGSET(NT_X86_XSTATE) insists on */
	pthread_mutex_t fp_lock;  /* guards pt_ctx.fp_thread <-> pt_thread.fp_ctx pairs */
	bool cpuid_faulting;
	bool pin_tracers;         /* CV_PLATFORM_PIN_TRACERS */
};

struct pt_host;

/* One stub process. Outlives its cv_as while stub threads of it still sit in host-thread lists. */
struct pt_as {
	atomic_int refs;
	int pid;
	struct pt_platform *pp;
	pthread_mutex_t lock;         /* guards threads, orphans, and use of the leader */
	struct pt_thread *threads;    /* every stub thread that is or was traced */
	int *orphans;                 /* parked untraced threads whose tracer exited, for reuse */
	size_t n_orphans, cap_orphans;
	atomic_bool dead;
	struct cv_as *as;             /* back pointer, NULL once released */
};

/* One stub thread, traced by exactly one host thread (ptrace's tracer affinity). */
struct pt_thread {
	int tid;
	int cpu;                      /* CPU it is pinned to (that of its tracer at the last switch) */
	struct pt_as *pas;            /* holds a reference */
	struct pt_host *host;
	struct cv_ctx *fp_ctx;        /* context whose XSAVE state is live in this thread (fp_lock) */
	atomic_bool dead;
	bool regs_clobbered;          /* an injection overwrote registers since the last switch */
	struct pt_thread *as_next;    /* pas->threads list (pas->lock) */
	struct pt_thread *host_next;  /* host->threads list (owner only) */
};

/* Per host thread: the stub threads it traces, one per address space it has used. */
struct pt_host {
	int tid;
	struct pt_thread *threads;
	bool pinned;                  /* CV_PLATFORM_PIN_TRACERS: pinned to one CPU since... */
	cpu_set_t saved_mask;         /* ...and this was its own mask */
};

struct pt_ctx {
	struct pt_thread *fp_thread;  /* where the XSAVE state is live (fp_lock), NULL = only in buffer */
	bool fp_valid;                /* the buffer holds the current XSAVE state */
	bool fp_lost;                 /* the live state died with its address space */
	uint64_t last_fault_addr, last_fault_ip;
};

static inline struct pt_platform *pt_platform(struct cv_platform *p)
{
	return p->priv;
}

static inline uint64_t stub_sym(const struct pt_platform *pp, const uint8_t *sym)
{
	return pp->stub_addr + ((uintptr_t)sym - (uintptr_t)cv_ptrace_stub_start);
}

/* ---- stub.c ---- */
int pt_stub_setup(struct cv_platform *p);          /* stub page, parent thread, source stub */
void pt_stub_teardown(struct cv_platform *p);
int pt_as_create(struct pt_platform *pp, int *pid); /* clone a new stub process from the source */

/* ---- inject.c ---- */
/* Wait for a stop of @tid; returns the wait status or -errno (-ECHILD/-ESRCH when it is gone). */
int pt_wait(int tid, int *status);
/* Run syscall @nr with @args in stopped, traced thread @tid at the stub's inject site; result in *@ret. */
int pt_inject(struct pt_platform *pp, int tid, long nr, const uint64_t args[6], long *ret);
/* Set @tid's registers so it resumes parked in the stub (for detach). */
int pt_park_regs(struct pt_platform *pp, int tid);
/* Kill and reap a whole stub process whose threads are listed in pas. */
void pt_as_kill(struct pt_as *pas);
void pt_as_put(struct pt_as *pas);
void pt_platform_put(struct pt_platform *pp);

/* ---- thread.c ---- */
/* The stub thread of the calling host thread in @as, created (or adopted) on first use. */
int pt_thread_get(struct cv_as *as, struct pt_thread **out);
/* Forget the calling host thread's dead stub threads (frees them). */
void pt_host_prune(void);
void pt_thread_cpu_follow(struct pt_thread *t);
void pt_host_pin(struct pt_host *h);
void pt_host_unpin(struct pt_host *h);
struct pt_host *pt_host_current(void);

/* ---- fpu.c ---- */
int pt_fpu_load(struct cv_ctx *ctx, struct pt_thread *t);     /* before running ctx on t */
int pt_fpu_after_run(struct cv_ctx *ctx, struct pt_thread *t); /* after a switch returned */
int pt_fpu_pull(struct cv_ctx *ctx);
void pt_fpu_forget_ctx(struct cv_ctx *ctx);
void pt_fpu_forget_thread(struct pt_platform *pp, struct pt_thread *t, bool save);
int pt_getfpregs(struct pt_platform *pp, int tid, void *buf, uint32_t size);
int pt_setfpregs(struct pt_platform *pp, int tid, const void *buf, uint32_t size);

/* ---- switch.c ---- */
int pt_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit);
void pt_kick(struct cv_platform *p, uint64_t target);

#endif
