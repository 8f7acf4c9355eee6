// SPDX-License-Identifier: Apache-2.0
// The ptrace backend: probe, platform and address-space lifecycle, injected mmap/munmap, contexts.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "arch/x86_64/arch.h"
#include "ptrace/ptrace_internal.h"


static int probe_result;
static char probe_why[160];
static bool host_compat;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* Can this process ptrace a child it forks? Tried for real: Yama, seccomp and LSMs all get a say. */
static void do_probe(void)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int scope = 0;
	if (f) {
		if (fscanf(f, "%d", &scope) != 1)
			scope = 0;
		fclose(f);
	}
	if (scope >= 3) {
		probe_result = -EPERM;
		snprintf(probe_why, sizeof(probe_why), "ptrace disabled by Yama (kernel.yama.ptrace_scope=3)");
		return;
	}
	if (prctl(PR_GET_SECCOMP) < 0 && errno == EINVAL) {
		probe_result = -ENOSYS;
		snprintf(probe_why, sizeof(probe_why), "kernel without seccomp filters");
		return;
	}
	/* Does int $0x80 run 32-bit syscalls here (ia32 emulation)? A child tries it. */
	host_compat = host_runs_int80();

	int status = 0;
	pid_t pid = fork();
	if (pid < 0) {
		probe_result = -errno;
		snprintf(probe_why, sizeof(probe_why), "fork failed: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		for (;;)
			pause();
	}
	probe_result = 0;
	if (ptrace(PTRACE_SEIZE, pid, 0, 0) < 0) {
		probe_result = -errno;
		snprintf(probe_why, sizeof(probe_why), "ptrace not permitted: %s", strerror(errno));
	}
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR)
		;
}

static int pt_probe(char *why, size_t whylen)
{
	pthread_once(&probe_once, do_probe);
	if (probe_result < 0)
		snprintf(why, whylen, "%s", probe_why);
	return probe_result;
}

static int pt_open(struct cv_platform *p)
{
	struct pt_platform *pp = calloc(1, sizeof(*pp));
	if (!pp)
		return -ENOMEM;
	pthread_mutex_init(&pp->source_lock, NULL);
	pthread_mutex_init(&pp->parent_lock, NULL);
	pthread_cond_init(&pp->parent_cond, NULL);
	pthread_mutex_init(&pp->fp_lock, NULL);
	atomic_store(&pp->refs, 1);
	pp->pin_tracers = p->flags & CV_PLATFORM_PIN_TRACERS;
	pp->cpuid_faulting = !(p->flags & CV_PLATFORM_NO_CPUID_FAULTING) && x86_cpuid_faulting_supported();
	p->priv = pp;
	p->caps.min_user_addr = host_mmap_min_addr();
	p->caps.max_user_addr = PT_STUB_WINDOW;
	p->caps.map_unit = 0;
	p->caps.concurrency = 0;
	p->caps.supports_as_io = true;
	p->caps.has_global_membarrier = host_membarrier_probe() == 0;
	p->caps.cpuid_faulting = pp->cpuid_faulting;
	p->caps.compat_syscalls = host_compat;
	p->caps.thread_bound_state = true;
	int ret = pt_stub_setup(p);
	if (ret < 0) {
		pthread_mutex_destroy(&pp->source_lock);
		pthread_mutex_destroy(&pp->parent_lock);
		pthread_cond_destroy(&pp->parent_cond);
		pthread_mutex_destroy(&pp->fp_lock);
		free(pp);
		p->priv = NULL;
	}
	return ret;
}

/*
 * Host threads free their stub-thread records lazily (next library call or thread exit), and those
 * records reach the platform through their address space: the platform's memory lives until the last
 * address-space record is gone, while its processes and threads end at close.
 */
void pt_platform_put(struct pt_platform *pp)
{
	if (atomic_fetch_sub(&pp->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&pp->source_lock);
	pthread_mutex_destroy(&pp->parent_lock);
	pthread_cond_destroy(&pp->parent_cond);
	pthread_mutex_destroy(&pp->fp_lock);
	free(pp);
}

static void pt_close(struct cv_platform *p)
{
	pt_host_unpin(pt_host_current());
	pt_host_prune();
	pt_stub_teardown(p);
	pt_platform_put(pt_platform(p));
}

static int pt_as_new(struct cv_as *as)
{
	struct pt_platform *pp = pt_platform(as->p);
	struct pt_as *pas = calloc(1, sizeof(*pas));
	if (!pas)
		return -ENOMEM;
	int ret = pt_as_create(pp, &pas->pid);
	if (ret < 0) {
		free(pas);
		return ret;
	}
	atomic_store(&pas->refs, 1);
	atomic_fetch_add(&pp->refs, 1);
	pas->pp = pp;
	pas->as = as;
	pthread_mutex_init(&pas->lock, NULL);
	as->priv = pas;
	return 0;
}

/* Run one mmap/mprotect/munmap in the stub through the caller's own stub thread. */
static int as_syscall(struct cv_as *as, long nr, const uint64_t args[6], long *res)
{
	struct pt_thread *t;
	int ret = pt_thread_get(as, &t);
	if (ret < 0)
		return ret;
	pt_thread_cpu_follow(t);
	ret = pt_inject(t->pas->pp, t->tid, nr, args, res);
	t->regs_clobbered = true;
	if (ret == -ESRCH || ret == -ECHILD) {
		atomic_store(&t->pas->dead, true);
		atomic_store(&t->dead, true);
		atomic_store(&as->dead, true);
		return -CV_EASDEAD;
	}
	return ret < 0 ? -EIO : 0;
}

static int pt_as_map(struct cv_as *as, uint64_t addr, int fd, uint64_t off, uint64_t len, unsigned access,
		     bool precommit)
{
	uint64_t args[6];
	stub_mmap_args(args, addr, fd, off, len, access, precommit);
	long res;
	int ret = as_syscall(as, SYS_mmap, args, &res);
	if (ret < 0)
		return ret;
	return stub_mmap_result(res, addr);
}

static int pt_as_protect(struct cv_as *as, uint64_t addr, uint64_t len, unsigned access)
{
	uint64_t args[6];
	stub_mprotect_args(args, addr, len, access);
	long res;
	int ret = as_syscall(as, SYS_mprotect, args, &res);
	return ret < 0 ? ret : stub_mprotect_result(res);
}

static int pt_as_unmap(struct cv_as *as, uint64_t addr, uint64_t len)
{
	uint64_t args[6] = { addr, len, 0, 0, 0, 0 };
	long res;
	int ret = as_syscall(as, SYS_munmap, args, &res);
	if (ret < 0)
		return ret;
	return stub_munmap_result(res);
}

static void pt_as_release(struct cv_as *as)
{
	struct pt_as *pas = as->priv;
	/* Contexts whose XSAVE state lives in our own stub threads of this AS keep it (e.g. execve). */
	struct pt_host *h = pt_host_current();
	for (struct pt_thread *t = h ? h->threads : NULL; t; t = t->host_next)
		if (t->pas == pas)
			pt_fpu_forget_thread(pas->pp, t, true);
	pt_as_kill(pas);
	pas->as = NULL;
	pt_host_prune();
	pt_as_put(pas);
}

static int pt_ctx_new(struct cv_ctx *ctx)
{
	struct pt_ctx *pc = calloc(1, sizeof(*pc));
	if (!pc)
		return -ENOMEM;
	pc->fp_valid = true;
	ctx->priv = pc;
	return 0;
}

static void pt_ctx_release(struct cv_ctx *ctx)
{
	pt_fpu_forget_ctx(ctx);
	free(ctx->priv);
	ctx->priv = NULL;
}

/* The context's thread blocks: make its state portable and give the host thread its CPU mask back. */
static int pt_ctx_sleep(struct cv_ctx *ctx)
{
	if (pt_platform(ctx->p)->pin_tracers)
		pt_host_unpin(pt_host_current());
	return pt_fpu_pull(ctx);
}

/* The tracer side (stub.c, switch.c, thread.c, inject.c): tracing and waiting for stubs, killing them,
 * pinning tracers, short sleeps while a stub parks, membarrier for the kick slots. */
static const int host_syscalls[] = { SYS_ptrace, SYS_wait4, SYS_waitid, SYS_kill, SYS_tgkill,
				     SYS_sched_setaffinity, SYS_sched_getaffinity, SYS_nanosleep, SYS_membarrier };

const struct cv_platform_ops cv_ptrace_ops = {
	.name = "ptrace",
	.host_syscalls = host_syscalls,
	.n_host_syscalls = sizeof(host_syscalls) / sizeof(host_syscalls[0]),
	.req = { .needs_ptrace = true, .needs_seccomp = true, .needs_same_pid_ns = false },
	.probe = pt_probe,
	.open = pt_open,
	.close = pt_close,
	.as_new = pt_as_new,
	.as_map = pt_as_map,
	.as_protect = pt_as_protect,
	.as_unmap = pt_as_unmap,
	.as_release = pt_as_release,
	.ctx_new = pt_ctx_new,
	.ctx_release = pt_ctx_release,
	.ctx_switch = pt_ctx_switch,
	.kick = pt_kick,
	.ctx_pull = pt_fpu_pull,
	.ctx_sleep = pt_ctx_sleep,
};
