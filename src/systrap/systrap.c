// SPDX-License-Identifier: Apache-2.0
// The systrap backend: probe, platform and address-space lifecycle, injected mmap/munmap, contexts.
#include <errno.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include "arch/x86_64/arch.h"
#include "systrap/systrap_internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14: older kernels say EINVAL, and the pages fault as before */
#endif

static int probe_result;
static char probe_why[160];
static bool host_compat;
static pthread_once_t probe_once = PTHREAD_ONCE_INIT;

/* seccomp filters with user notifications, pidfds and a kernel that runs int $0x80 or not: tried for
 * real in a child. */
static void do_probe(void)
{
	if (prctl(PR_GET_SECCOMP) < 0 && errno == EINVAL) {
		probe_result = -ENOSYS;
		snprintf(probe_why, sizeof(probe_why), "kernel without seccomp filters");
		return;
	}
	long pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	if (pidfd < 0) {
		probe_result = -ENOSYS;
		snprintf(probe_why, sizeof(probe_why), "kernel without pidfd_open (needs 5.3+)");
		return;
	}
	close((int)pidfd);
	host_compat = host_runs_int80();
	/* A listener needs seccomp user notification (5.0+): tried in a child (it cannot be taken back). */
	if (!host_probes()->listener) {
		probe_result = -ENOSYS;
		snprintf(probe_why, sizeof(probe_why), "seccomp user notification unavailable (needs 5.0+)");
		return;
	}
	probe_result = 0;
}

static int st_probe(char *why, size_t whylen)
{
	pthread_once(&probe_once, do_probe);
	if (probe_result < 0)
		snprintf(why, whylen, "%s", probe_why);
	return probe_result;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A CLOCK_MONOTONIC reading and the TSC at that moment: the middle of the tightest of a few
 * brackets; *width is that bracket in ticks. */
static void tsc_sample(uint64_t *ns, uint64_t *tsc, uint64_t *width)
{
	*width = UINT64_MAX;
	for (int i = 0; i < 3; i++) {
		uint64_t c0 = st_rdtsc(), t = now_ns(), c1 = st_rdtsc();
		if (c1 - c0 < *width) {
			*width = c1 - c0;
			*ns = t;
			*tsc = c0 + (c1 - c0) / 2;
		}
	}
}

/* TSC ticks per microsecond, for spin deadlines (a few per cent is plenty): two samples at least
 * 20 us apart and 100 times their brackets, at most 250 us (a clock read through a syscall). A
 * preemption between them costs nothing: both readings move together. */
static uint64_t calibrate_tsc(void)
{
	uint64_t t0, c0, w0, t1, c1, w1;
	tsc_sample(&t0, &c0, &w0);
	do
		tsc_sample(&t1, &c1, &w1);
	while (t1 - t0 < 250000 && (t1 - t0 < 20000 || c1 - c0 < 100 * (w0 + w1)));
	uint64_t r = (c1 - c0) * 1000 / (t1 - t0 ? t1 - t0 : 1);
	return r ? r : 1000;
}

static int st_open(struct cv_platform *p)
{
	struct st_platform *sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	pthread_mutex_init(&sp->source_lock, NULL);
	pthread_mutex_init(&sp->lock, NULL);
	pthread_mutex_init(&sp->bind_lock, NULL);
	sp->epfd = sp->evfd = -1;
	sp->source_pid = -1;
	sp->sentry_pid = getpid();
	sp->cpuid_faulting = !(p->flags & CV_PLATFORM_NO_CPUID_FAULTING) && x86_cpuid_faulting_supported();
	cpu_set_t set;
	sp->ncpu = sched_getaffinity(0, sizeof(set), &set) == 0 ? CPU_COUNT(&set) : 1;
	sp->tsc_per_us = calibrate_tsc();
	sp->fp_size = x86_xsave_layout()->size;
	uint32_t slot = 4096;
	while (slot < ST_SLOT_XSAVE_OFF + sp->fp_size)
		slot *= 2;
	if (slot > ST_SLOT_MAX) {
		free(sp);
		return -ENOTSUP;
	}
	sp->slot_size = slot;
	sp->shm_size = ST_SLOT_FOFF + (uint64_t)ST_MAX_CTX * slot;
	sp->alt_off = ST_ALT_OFF(sp->shm_size);
	sp->tramp_off = sp->alt_off + (uint64_t)ST_MAX_THREADS * ST_ALT_SIZE;
	sp->window_size = sp->tramp_off + ST_TRAMP_AREA;
	const struct x86_xsave_layout *xl = x86_xsave_layout();
	/* Patching needs XSAVE, room for the state on the alternate stack and the pointer table's low
	 * addresses. Not FSGSBASE: the patched path finds its thread page by a gs-relative load, and the
	 * stub sets fs/gs bases with arch_prctl where it cannot write them itself. */
	sp->patching = !(p->flags & CV_PLATFORM_NO_SYSCALL_PATCHING) && xl->has_xsave &&
		       sp->fp_size <= ST_PXBUF && host_mmap_min_addr() <= ST_PTAB_ADDR;
	pthread_mutex_init(&sp->patch_lock, NULL);
	p->priv = sp;
	p->caps.min_user_addr = host_mmap_min_addr();
	p->caps.max_user_addr = ST_WINDOW_LO;
	p->caps.map_unit = 0;
	p->caps.concurrency = 0;
	p->caps.supports_as_io = true;
	p->caps.has_global_membarrier = host_membarrier_probe() == 0;
	p->caps.cpuid_faulting = sp->cpuid_faulting;
	p->caps.compat_syscalls = host_compat;
	int ret = st_stub_setup(p);
	if (ret == 0 && (p->flags & CV_PLATFORM_STUB_POOL) && (ret = st_pool_start(sp)) < 0)
		st_stub_teardown(p);
	if (ret == 0 && sp->patching) {
		p->caps.patches_syscalls = true;
		p->caps.min_user_addr = ST_PTAB_ADDR + ST_PTAB_SIZE;
	}
	if (ret < 0) {
		pthread_mutex_destroy(&sp->patch_lock);
		pthread_mutex_destroy(&sp->source_lock);
		pthread_mutex_destroy(&sp->lock);
		pthread_mutex_destroy(&sp->bind_lock);
		free(sp);
		p->priv = NULL;
	}
	return ret;
}

static void st_close(struct cv_platform *p)
{
	struct st_platform *sp = st_platform(p);
	st_pool_stop(sp);
	st_stub_teardown(p);
	pthread_mutex_destroy(&sp->patch_lock);
	pthread_mutex_destroy(&sp->source_lock);
	pthread_mutex_destroy(&sp->lock);
	pthread_mutex_destroy(&sp->bind_lock);
	free(sp);
	p->priv = NULL;
}

struct st_as *st_sas_prepare(struct st_platform *sp, int *err)
{
	struct st_as *sas = calloc(1, sizeof(*sas));
	if (!sas) {
		*err = -ENOMEM;
		return NULL;
	}
	pthread_mutex_init(&sas->inj_lock, NULL);
	pthread_mutex_init(&sas->q_lock, NULL);
	pthread_mutex_init(&sas->thread_lock, NULL);
	sas->table_index = -1;
	int ret = st_as_create(sp, sas);
	if (ret == 0 && (ret = st_thread_add(sas, 1)) < 0)
		st_as_destroy(sas);
	if (ret == 0) {
		/* The pages a new process's first switches write (the queue's ring, the first slots),
		 * mapped here — in the pool's thread when there is a pool — rather than by page faults in
		 * those switches (perf: the sentry's faults in st_ctx_switch, ~10 ms of 400 rounds of a
		 * shell's `echo | cat`). */
		madvise(sas->shm + ST_QUEUE_FOFF, PAGE_SIZE, MADV_POPULATE_WRITE);
		madvise(sas->shm + ST_SLOT_FOFF, 2 * (size_t)sp->slot_size, MADV_POPULATE_WRITE);
	}
	if (ret < 0) {
		pthread_mutex_destroy(&sas->inj_lock);
		pthread_mutex_destroy(&sas->q_lock);
		pthread_mutex_destroy(&sas->thread_lock);
		free(sas);
		*err = ret;
		return NULL;
	}
	return sas;
}

void st_sas_free(struct st_as *sas)
{
	st_as_destroy(sas);
	as_fences_down(sas->fences); /* the stub is gone: nothing reaches its pages any more */
	sas->fences = NULL;
	pthread_mutex_destroy(&sas->inj_lock);
	pthread_mutex_destroy(&sas->q_lock);
	pthread_mutex_destroy(&sas->thread_lock);
	free(sas);
}

static int st_as_new(struct cv_as *as)
{
	struct st_platform *sp = st_platform(as->p);
	int ret = 0;
	struct st_as *sas = sp->pool_on ? st_pool_take(sp) : NULL;
	if (!sas && !(sas = st_sas_prepare(sp, &ret)))
		return ret;
	pthread_mutex_lock(&sp->lock);
	for (int i = 0; i < ST_AS_TABLE; i++)
		if (!atomic_load(&sp->as_table[i])) {
			sas->table_index = i;
			break;
		}
	if (sas->table_index >= 0) {
		struct epoll_event ev = { .events = EPOLLIN, .data.u64 = (uint64_t)sas->table_index };
		if (epoll_ctl(sp->epfd, EPOLL_CTL_ADD, sas->pidfd, &ev) < 0) {
			ret = -errno;
			sas->table_index = -1;
		} else {
			atomic_store(&sp->as_table[sas->table_index], sas);
		}
	} else {
		ret = -EAGAIN;
	}
	pthread_mutex_unlock(&sp->lock);
	if (ret < 0) {
		st_sas_free(sas);
		return ret;
	}
	sas->as = as;
	as->priv = sas;
	/* The stubs answer CPUID from the globals while that is the policy; set after publishing in
	 * as_table and checked again, so a concurrent st_cpuid_changed() either finds it or is seen. */
	if (atomic_load(&sp->cpuid_local)) {
		__atomic_store_n(&sas->req->cpuid_local, 1, __ATOMIC_SEQ_CST);
		if (!atomic_load(&sp->cpuid_local))
			__atomic_store_n(&sas->req->cpuid_local, 0, __ATOMIC_SEQ_CST);
	}
	return 0;
}

/* The CPUID policy was replaced: from now on every CPUID goes to the sentry's answer. */
void st_cpuid_changed(struct cv_platform *p)
{
	struct st_platform *sp = st_platform(p);
	if (!atomic_exchange(&sp->cpuid_local, false))
		return;
	atomic_fetch_add(&sp->kickers, 1); /* (a release waits for it before freeing what it reads) */
	for (int i = 0; i < ST_AS_TABLE; i++) {
		struct st_as *sas = atomic_load(&sp->as_table[i]);
		if (sas)
			__atomic_store_n(&sas->req->cpuid_local, 0, __ATOMIC_SEQ_CST);
	}
	atomic_fetch_sub(&sp->kickers, 1);
}

static int as_syscall(struct cv_as *as, long nr, const uint64_t args[6], long *res)
{
	return st_inject(as->priv, ST_OP_SYSCALL, nr, args, res);
}

static int st_as_map(struct cv_as *as, uint64_t addr, int fd, uint64_t off, uint64_t len, unsigned access,
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

static int st_as_map_many(struct cv_as *as, const struct cv_as_mapping *m, const bool *protect_only, size_t n,
			  size_t *done)
{
	long nr[AS_MAP_MANY_MAX];
	uint64_t args[AS_MAP_MANY_MAX][6];
	_Static_assert(AS_MAP_MANY_MAX <= ST_BATCH_MAX, "a chunk fits one batch");
	for (size_t i = 0; i < n; i++) {
		nr[i] = protect_only[i] ? SYS_mprotect : SYS_mmap;
		if (protect_only[i])
			stub_mprotect_args(args[i], m[i].addr, m[i].len, m[i].access);
		else
			stub_mmap_args(args[i], m[i].addr, m[i].fd, m[i].offset, m[i].len, m[i].access, m[i].precommit);
	}
	long res;
	int ret = st_inject_batch(as->priv, nr, (const uint64_t(*)[6])args, n, &res, done);
	if (ret < 0 || *done == n)
		return ret;
	ret = protect_only[*done] ? stub_mprotect_result(res) : stub_mmap_result(res, m[*done].addr);
	return ret < 0 ? ret : -EIO; /* (a failure the stub stopped at cannot be a success) */
}

static int st_as_protect(struct cv_as *as, uint64_t addr, uint64_t len, unsigned access)
{
	uint64_t args[6];
	stub_mprotect_args(args, addr, len, access);
	long res;
	int ret = as_syscall(as, SYS_mprotect, args, &res);
	return ret < 0 ? ret : stub_mprotect_result(res);
}

static int st_as_unmap(struct cv_as *as, uint64_t addr, uint64_t len)
{
	uint64_t args[6] = { addr, len, 0, 0, 0, 0 };
	long res;
	int ret = as_syscall(as, SYS_munmap, args, &res);
	if (ret < 0)
		return ret;
	return stub_munmap_result(res);
}

/*
 * With the pool, a released stub ends later, on the pool's thread, while the caller frees the
 * memory-file pages next; until its end an application could still make its stub thread run a context
 * of its own making (it writes the queue and the slots it shares with the stub), which would read and
 * write those pages once they were another process's. So a fence goes up over each memory file the
 * address space maps: what is freed meanwhile is not handed out again before the pool's thread has
 * reaped the stub and lowered them (as_fences_up). If they cannot go up, the mappings go now instead:
 * one munmap of the whole user range, as execve's reuse of an address space does (the kernel has shot
 * down every CPU's view of them when it returns), or, from a stub that cannot answer, a kill and a wait
 * for its end (its memory is gone when its pidfd says so). Emptying now costs the caller 0.1-0.8 ms on
 * a VM (page-table teardown): a fork+exit loop 1.06x slower than with the fences (1.089 / 1.026 of the
 * code before either, 11 interleaved runs).
 */
static void drop_mappings(struct cv_as *as, struct st_as *sas)
{
	uint64_t lo = as->p->caps.min_user_addr, args[6] = { lo, as->p->caps.max_user_addr - lo, 0, 0, 0, 0 };
	long res = -1;
	if (!atomic_load(&sas->dead) && st_inject(sas, ST_OP_SYSCALL, SYS_munmap, args, &res) == 0 && res == 0)
		return;
	st_as_kill(sas);
	struct pollfd pfd = { sas->pidfd, POLLIN, 0 };
	while (sas->pidfd >= 0 && poll(&pfd, 1, -1) < 0 && errno == EINTR)
		;
}

static void st_as_release(struct cv_as *as)
{
	struct st_as *sas = as->priv;
	struct st_platform *sp = sas->sp;
	pthread_mutex_lock(&sp->lock);
	if (sas->table_index >= 0) {
		epoll_ctl(sp->epfd, EPOLL_CTL_DEL, sas->pidfd, NULL);
		atomic_store(&sp->as_table[sas->table_index], NULL);
	}
	pthread_mutex_unlock(&sp->lock);
	while (atomic_load(&sp->kickers)) /* a kick may still be reading this address space */
		sched_yield();
	/* Contexts keep their state: pull what lives only in their slots here. */
	pthread_mutex_lock(&sp->bind_lock);
	for (uint32_t n = 1; n <= ST_MAX_CTX; n++)
		if (sas->slot_ctx[n])
			st_ctx_unbind(sas->slot_ctx[n], true);
	pthread_mutex_unlock(&sp->bind_lock);
	if (sp->pool_on && !(sas->fences = as_fences_up(as))) /* (without the pool: killed and reaped below) */
		drop_mappings(as, sas);
	as->priv = NULL;
	sas->as = NULL;
	if (!st_pool_reap(sp, sas))
		st_sas_free(sas);
}

static int st_ctx_new(struct cv_ctx *ctx)
{
	struct st_ctx *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	ctx->priv = sc;
	return 0;
}

static void st_ctx_release(struct cv_ctx *ctx)
{
	struct st_platform *sp = st_platform(ctx->p);
	pthread_mutex_lock(&sp->bind_lock);
	st_ctx_unbind(ctx, false);
	pthread_mutex_unlock(&sp->bind_lock);
	free(ctx->priv);
	ctx->priv = NULL;
}

/* A context's state lives in shared memory any host thread can reach: nothing to make portable. */
static int st_ctx_sleep(struct cv_ctx *ctx)
{
	return 0;
}

/*
 * The context's thread waits: a stub thread polling for this address space's next context would only
 * take a CPU from what the wait is for (in a pipe ping-pong between two processes, the other one), so
 * it stops (it looks at stub_spin_ns between polls). Only where this is the address space's one
 * context (a single-threaded process) and its one stub thread: another thread's context could be what
 * that thread polls for next (a futex ping-pong between two threads hands over without a wake-up).
 * st_ctx_switch() sets the budget again.
 */
static void st_ctx_idle(struct cv_ctx *ctx)
{
	struct st_platform *sp = st_platform(ctx->p);
	pthread_mutex_lock(&sp->bind_lock);
	struct st_ctx *sc = ctx->priv;
	struct st_as *sas = sc ? sc->sas : NULL;
	if (sc)
		sc->here_rounds = sc->streak = 0; /* a burst of round trips ends: the next stays on one CPU */
	if (sas && sas->ctl && sas->nbound == 1 && atomic_load(&sas->nthreads) == 1 && atomic_load(&sas->active) == 0)
		__atomic_store_n(&sas->ctl->stub_spin_ns, 0, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&sp->bind_lock);
}

/* The sentry side (stubproc.c, switch.c): the monitor thread's epoll over the stubs' seccomp
 * notification fds and its eventfd, ioctl for the notifications (SECCOMP_IOCTL_NOTIF_*), waiting for
 * and killing stubs, yields and CPU placement while a hand-off spins (getcpu: sched_getcpu() where the
 * vDSO cannot answer), membarrier, and the stub window file's size. */
static const int host_syscalls[] = { SYS_epoll_create1, SYS_epoll_ctl, SYS_epoll_wait, SYS_eventfd2, SYS_ioctl,
				     SYS_poll, SYS_ppoll, SYS_wait4, SYS_waitid, SYS_kill, SYS_tgkill, SYS_sched_yield,
				     SYS_sched_getaffinity, SYS_sched_setaffinity, SYS_getcpu, SYS_membarrier,
				     SYS_ftruncate };

const struct cv_platform_ops cv_systrap_ops = {
	.name = "systrap",
	.host_syscalls = host_syscalls,
	.n_host_syscalls = sizeof(host_syscalls) / sizeof(host_syscalls[0]),
	.req = { .needs_ptrace = false, .needs_seccomp = true, .needs_same_pid_ns = false },
	.probe = st_probe,
	.open = st_open,
	.close = st_close,
	.as_new = st_as_new,
	.as_map = st_as_map,
	.as_map_many = st_as_map_many,
	.as_protect = st_as_protect,
	.as_unmap = st_as_unmap,
	.as_release = st_as_release,
	.as_prefork = st_as_prefork,
	.as_postfork = st_as_postfork,
	.as_patch_syscall = st_as_patch_syscall,
	.ctx_new = st_ctx_new,
	.ctx_release = st_ctx_release,
	.ctx_switch = st_ctx_switch,
	.kick = st_kick,
	.cpuid_changed = st_cpuid_changed,
	.ctx_pull = st_ctx_pull,
	.ctx_sleep = st_ctx_sleep,
	.ctx_idle = st_ctx_idle,
};
