// SPDX-License-Identifier: Apache-2.0
// systrap stub processes: the stub window, the source stub, the monitor thread, new address spaces,
// the syscall thread's channel (seccomp user notifications) and new stub threads.
//
// No ptrace anywhere: the source stub is a fork of the monitor thread that strips itself; new stubs
// are clones of the source (CLONE_FILES | CLONE_PARENT) asked for over a futex channel that no
// application can reach; after that every request goes through the stub's read-only request page, and
// every answer comes back as the arguments of a seccomp notification (kernel-made, so unforgeable).
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/auxv.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <cpuid.h>
#include "arch/x86_64/arch.h"
#include "systrap/systrap_internal.h"

long st_futex(void *addr, int op, uint32_t val, const struct timespec *ts)
{
	return syscall(SYS_futex, addr, op, val, ts, NULL, 0);
}

/* ---- the stub window ---- */

static int map_window(struct st_platform *sp)
{
	uint64_t span = (ST_TASK_SIZE - sp->window_size - ST_WINDOW_LO) / PAGE_SIZE;
	for (int tries = 0; tries < 64; tries++) {
		uint64_t r;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)time(NULL) * 2654435761u + (uint64_t)tries;
		uint64_t addr = ST_WINDOW_LO + (r % span) * PAGE_SIZE;
		/* Reserve the whole window, so nothing of the sentry lands inside what stubs keep. */
		void *m = mmap((void *)addr, sp->window_size, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED)
			continue;
		if ((uint64_t)m != addr) {
			munmap(m, sp->window_size);
			continue;
		}
		sp->base = addr;
		return 0;
	}
	cv_log(CV_LOG_ERROR, "systrap: no free range for the stub window in the top of the address space");
	return -ENOMEM;
}

/*
 * The CPUID policy into the globals, for the stub threads to answer an application's CPUID from
 * (handler.c, cpuid_here): where CPUID faults and the whole default policy fits. The sentry's own
 * answer (stub_emulate_cpuid) stays for everything else, and for every CPUID once the policy is
 * replaced (st_cpuid_changed).
 */
static void cpuid_table(struct cv_platform *p, struct st_globals *g)
{
	struct st_platform *sp = st_platform(p);
	_Static_assert(ST_CPUID_SIGNIFICANT == CV_CPUID_SIGNIFICANT_INDEX, "one meaning of the flag");
	if (!sp->cpuid_faulting)
		return;
	struct cv_cpuid_entry e;
	platform_cpuid(p, 0, 0, &e); /* builds the default policy */
	struct x86_cpuid_policy *pol = atomic_load(&p->cpuid);
	size_t n = 0;
	const struct cv_cpuid_entry *all = x86_cpuid_policy_entries(pol, &n);
	if (!all || n > ST_CPUID_MAX)
		return;
	for (size_t i = 0; i < n; i++)
		g->cpuid[i] = (struct st_cpuid){ all[i].leaf, all[i].subleaf, all[i].flags, all[i].eax,
						 all[i].ebx, all[i].ecx, all[i].edx };
	unsigned a, b, c = 0, d;
	g->pkeys = __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((c >> 4) & 1); /* OSPKE */
	g->cpuid_n = (uint32_t)n;
	atomic_store(&sp->cpuid_local, true);
}

/* Code, globals and the source channel into the reserved window. */
static int fill_window(struct st_platform *sp)
{
	uint64_t b = sp->base;
	size_t blob = (size_t)(cv_systrap_blob_end - cv_systrap_blob);
	if (mmap((void *)b, ST_SHM_OFF, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
	    MAP_FAILED)
		return -errno;
	memcpy((void *)b, cv_systrap_blob, blob);
	sp->ex = (const struct st_exports *)b;
	sp->g = (struct st_globals *)(b + ST_GLOBALS_OFF);
	int fd = memfd_create("cvisor-systrap-source", MFD_CLOEXEC);
	if (fd < 0)
		return -errno;
	int ret = 0;
	if (ftruncate(fd, 2 * PAGE_SIZE) < 0 ||
	    mmap((void *)(b + ST_SHM_OFF), 2 * PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
		    MAP_FAILED)
		ret = -errno;
	close(fd);
	sp->src_req = (struct st_request *)(b + ST_SHM_OFF + ST_REQ_FOFF);
	sp->src_ctl = (struct st_control *)(b + ST_SHM_OFF + ST_CTL_FOFF);
	return ret;
}

static bool host_has_fsgsbase(void)
{
	return (getauxval(AT_HWCAP2) & 2 /* HWCAP2_FSGSBASE */) != 0;
}

/*
 * Does syscall user dispatch work here? This thread turns it on with a selector saying "allow" (so
 * nothing is dispatched, the prctl that turns it off included) and off again. It matters: since
 * 6.11/6.17 the kernel runs uretprobe (335) and uprobe (336) without consulting seccomp, so only
 * dispatch catches an application calling them.
 */
static bool host_has_sud(void)
{
	static volatile char allow = 0; /* SYSCALL_DISPATCH_FILTER_ALLOW */
	if (prctl(PR_SET_SYSCALL_USER_DISPATCH, 1 /* ON */, 0x1000, 0x1000, &allow) != 0)
		return false;
	prctl(PR_SET_SYSCALL_USER_DISPATCH, 0 /* OFF */, 0, 0, 0);
	return true;
}

/* ---- the source stub ---- */

struct kernel_sigaction {
	uint64_t handler;
	unsigned long flags;
	uint64_t restorer;
	uint64_t mask;
};

struct source_boot {
	struct st_platform *sp;
	struct sock_fprog prog;
	struct sock_filter filter[48];
};

/*
 * First code of the source stub, in a fork-like child of the monitor thread: raw syscalls only. It
 * ends by jumping into the stub code, which strips everything outside the window.
 */
static __attribute__((noreturn, noinline)) void source_main(const struct source_boot *b)
{
	const struct st_platform *sp = b->sp;
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (syscall(SYS_getppid) != sp->sentry_pid)
		syscall(SYS_exit_group, 1);
	if (__rseq_size) { /* its area is about to be unmapped (see the ptrace stub) */
		uintptr_t tp;
		__asm__("mov %%fs:0, %0" : "=r"(tp));
		void *area = (void *)(tp + (uintptr_t)__rseq_offset);
		if (syscall(SYS_rseq, area, 32, 1, RSEQ_SIG) != 0)
			syscall(SYS_rseq, area, __rseq_size, 1, RSEQ_SIG);
	}
	/*
	 * A process group of its own, so terminal signals (^C) for the sentry's group never reach a stub;
	 * not a session of its own: with autogroups, a new session would be a scheduling group apart from
	 * the sentry's threads, and on a busy host the two halves of every hand-off would each get a share
	 * of their own (a patched getpid under two host spinners: 22 us with that, 2.8 us without,
	 * bench/load.sh).
	 */
	syscall(SYS_setpgid, 0, 0);
	syscall(SYS_prctl, PR_SET_DUMPABLE, 0, 0, 0, 0); /* no core files, no foreign ptrace */
	struct kernel_sigaction dfl = { 0 }, h = {
		.handler = sp->base + sp->ex->handler,
		.flags = SA_SIGINFO | SA_ONSTACK | 0x04000000 /* SA_RESTORER */,
		.restorer = sp->base + sp->ex->restorer,
		.mask = ~0ull,
	};
	for (int sig = 1; sig <= 64; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP)
			continue;
		bool trap = sig == SIGSYS || sig == SIGSEGV || sig == SIGBUS || sig == SIGFPE || sig == SIGILL ||
			    sig == SIGTRAP || sig == ST_KICK_SIGNAL;
		syscall(SYS_rt_sigaction, sig, trap ? &h : &dfl, NULL, 8);
	}
	uint64_t all = ~0ull;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &all, NULL, 8);
	if (sp->cpuid_faulting)
		syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
	syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &b->prog) != 0)
		syscall(SYS_exit_group, 2);
	__asm__ volatile("jmp *%0" : : "r"(sp->base + sp->ex->source_entry) : "memory");
	__builtin_unreachable();
}

/* Wake the waiters of every slot of a dead address space. */
static void wake_all(struct st_as *sas)
{
	for (uint32_t n = 1; n <= ST_MAX_CTX; n++)
		if (sas->slot_ctx[n])
			st_futex(&st_slot(sas, n)->state, FUTEX_WAKE, INT32_MAX, NULL);
}

int st_mark_dead(struct st_as *sas, bool tampered)
{
	if (tampered)
		atomic_store(&sas->tampered, true);
	if (!atomic_exchange(&sas->dead, true)) {
		if (sas->as)
			atomic_store(&sas->as->dead, true);
		if (tampered)
			kill(sas->pid, SIGKILL);
	}
	return atomic_load(&sas->tampered) ? -CV_ETAMPERED : -CV_EASDEAD;
}

/*
 * The monitor thread: forks the source stub, is the parent of every stub (PR_SET_PDEATHSIG fires when
 * it exits, at close), and marks an address space dead the moment its stub dies (pidfd readable).
 */
struct monitor_start {
	struct st_platform *sp;
	struct source_boot *boot;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	int state;  /* 0 starting, 1 done */
	int result; /* source pid or -errno */
};

static void *monitor_main(void *arg)
{
	struct monitor_start *ms = arg;
	struct st_platform *sp = ms->sp;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	long pid = syscall(SYS_clone, CLONE_FILES, 0, NULL, NULL, 0);
	if (pid == 0)
		source_main(ms->boot);
	pthread_mutex_lock(&ms->lock);
	ms->result = pid < 0 ? -errno : (int)pid;
	ms->state = 1;
	pthread_cond_broadcast(&ms->cond);
	pthread_mutex_unlock(&ms->lock);
	/* ms is gone from here on */
	for (;;) {
		struct epoll_event ev[16];
		int n = epoll_wait(sp->epfd, ev, 16, -1);
		if (n < 0 && errno != EINTR)
			break;
		for (int i = 0; i < n; i++) {
			if (ev[i].data.u64 == UINT64_MAX)
				return NULL; /* told to exit */
			int idx = (int)ev[i].data.u64;
			pthread_mutex_lock(&sp->lock);
			struct st_as *sas = idx >= 0 && idx < ST_AS_TABLE ? atomic_load(&sp->as_table[idx]) : NULL;
			if (sas) {
				epoll_ctl(sp->epfd, EPOLL_CTL_DEL, sas->pidfd, NULL);
				cv_debug("systrap: stub %d died", sas->pid);
				for (uint32_t k = 0; sas->shm && k < ST_MAX_THREADS; k++) { /* a failed self-check's line */
					const struct st_thread *th =
						(const struct st_thread *)(sas->shm + ST_THREAD_FOFF + (uint64_t)k * ST_PAGE);
					if (th->err_line)
						cv_debug("systrap: stub %d thread %u: self-check at handler.c:%llu failed",
							 sas->pid, k, (unsigned long long)th->err_line);
				}
				pthread_mutex_lock(&sp->bind_lock);
				st_mark_dead(sas, false);
				wake_all(sas);
				pthread_mutex_unlock(&sp->bind_lock);
			}
			pthread_mutex_unlock(&sp->lock);
		}
	}
	return NULL;
}

/* Wait until *@word == @want, while process @pid lives; -EIO if it died or took too long. */
static int wait_word(uint32_t *word, uint32_t want, int pid, int pidfd)
{
	for (int i = 0; i < 5000; i++) { /* 5 s */
		uint32_t v = __atomic_load_n(word, __ATOMIC_ACQUIRE);
		if (v == want)
			return 0;
		struct timespec ts = { 0, 1000000 };
		st_futex(word, FUTEX_WAIT, v, &ts);
		if (pidfd >= 0) {
			struct pollfd pfd = { pidfd, POLLIN, 0 };
			if (poll(&pfd, 1, 0) > 0)
				return -EIO;
		} else {
			siginfo_t si = { 0 };
			if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0 || si.si_pid)
				return -EIO;
		}
	}
	return -EIO;
}

int st_stub_setup(struct cv_platform *p)
{
	struct st_platform *sp = st_platform(p);
	int ret = map_window(sp);
	if (ret < 0)
		return ret;
	ret = fill_window(sp);
	if (ret < 0)
		goto err_window;
	struct st_globals *g = sp->g;
	size_t blob = (size_t)(cv_systrap_blob_end - cv_systrap_blob);
	if (sp->ex->magic != ST_MAGIC || blob > ST_CODE_MAX || sp->ex->code_end > blob) {
		cv_log(CV_LOG_ERROR, "systrap: the embedded stub blob is broken");
		ret = -EIO;
		goto err_window;
	}
	g->magic = ST_MAGIC;
	g->sentry_pid = (uint32_t)sp->sentry_pid;
	g->base = sp->base;
	g->code_size = ST_CODE_MAX;
	g->shm_size = sp->shm_size;
	g->alt_off = sp->alt_off;
	g->slot_size = sp->slot_size;
	g->fp_size = sp->fp_size;
	g->fsgsbase = host_has_fsgsbase();
	unsigned ea, eb, ec, ed = 0;
	g->rdtscp = __get_cpuid(0x80000001, &ea, &eb, &ec, &ed) && ((ed >> 27) & 1); /* (TSC_AUX: the CPU) */
	g->threads = sp->base + ST_SHM_OFF + ST_THREAD_FOFF;
	g->alt_base = sp->base + sp->alt_off;
	g->xmask = x86_xsave_layout()->xfeatures;
	g->tramp = sp->base + sp->tramp_off;
	st_patch_setup(sp);
	g->patch_fd = sp->patch_fd;
	g->sud = host_has_sud();
	g->zero_mask = 0;
	g->full_mask = ~0ull;
	cpuid_table(p, g);
	for (unsigned i = 0; i < ST_MAX_THREADS; i++) {
		g->alt[i].sp = sp->base + sp->alt_off + i * ST_ALT_SIZE;
		g->alt[i].flags = 0;
		g->alt[i].size = ST_ALT_SIZE;
	}
	struct source_boot *boot = calloc(1, sizeof(*boot));
	if (!boot) {
		ret = -ENOMEM;
		goto err_window;
	}
	boot->sp = sp;
	ret = st_build_filters(g, sp->base, ST_CODE_MAX, &boot->prog, boot->filter, sizeof(boot->filter));
	if (ret == 0 && (mprotect((void *)sp->base, ST_GLOBALS_OFF, PROT_READ | PROT_EXEC) < 0 ||
			 mprotect(g, ST_GLOBALS_SIZE, PROT_READ) < 0))
		ret = -errno;
	if (ret < 0) {
		free(boot);
		goto err_window;
	}

	sp->epfd = epoll_create1(EPOLL_CLOEXEC);
	sp->evfd = eventfd(0, EFD_CLOEXEC);
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = UINT64_MAX };
	if (sp->epfd < 0 || sp->evfd < 0 || epoll_ctl(sp->epfd, EPOLL_CTL_ADD, sp->evfd, &ev) < 0) {
		ret = -errno;
		free(boot);
		goto err_fds;
	}
	struct monitor_start ms = { .sp = sp, .boot = boot, .state = 0 };
	pthread_mutex_init(&ms.lock, NULL);
	pthread_cond_init(&ms.cond, NULL);
	ret = -pthread_create(&sp->monitor, NULL, monitor_main, &ms);
	if (ret == 0) {
		sp->monitor_running = true;
		pthread_mutex_lock(&ms.lock);
		while (ms.state == 0)
			pthread_cond_wait(&ms.cond, &ms.lock);
		pthread_mutex_unlock(&ms.lock);
		ret = ms.result;
	}
	pthread_mutex_destroy(&ms.lock);
	pthread_cond_destroy(&ms.cond);
	free(boot);
	if (ret < 0)
		goto err_monitor;
	/* Not waited for: it strips itself meanwhile, on another CPU while the caller goes on setting up,
	 * and serves a request it finds when it reaches its loop (the first new stub's answer, waited for
	 * in st_as_create, says whether it got there). */
	sp->source_pid = ret;
	return 0;

err_monitor:
	st_stub_teardown(p);
	return ret;
err_fds:
	if (sp->epfd >= 0)
		close(sp->epfd);
	if (sp->evfd >= 0)
		close(sp->evfd);
	sp->epfd = sp->evfd = -1;
err_window:
	munmap((void *)sp->base, sp->window_size);
	sp->base = 0;
	return ret;
}

void st_stub_teardown(struct cv_platform *p)
{
	struct st_platform *sp = st_platform(p);
	if (sp->source_pid > 0) {
		kill(sp->source_pid, SIGKILL);
		RETRY_EINTR(waitpid(sp->source_pid, NULL, __WALL));
		sp->source_pid = -1;
	}
	if (sp->monitor_running) {
		uint64_t one = 1;
		if (write(sp->evfd, &one, sizeof(one)) != sizeof(one))
			cv_log(CV_LOG_ERROR, "systrap: cannot stop the monitor thread");
		pthread_join(sp->monitor, NULL);
		sp->monitor_running = false;
	}
	if (sp->epfd >= 0)
		close(sp->epfd);
	if (sp->evfd >= 0)
		close(sp->evfd);
	sp->epfd = sp->evfd = -1;
	st_patch_teardown(sp);
	if (sp->base) {
		munmap((void *)sp->base, sp->window_size);
		sp->base = 0;
	}
}

/* ---- address spaces ---- */

static int thread_add_locked(struct st_as *sas, int i)
{
	struct st_thread *t = (struct st_thread *)(sas->shm + ST_THREAD_FOFF + (uint64_t)i * PAGE_SIZE);
	memset(t, 0, sizeof(*t));
	t->self = sas->sp->base + ST_SHM_OFF + ST_THREAD_FOFF + (uint64_t)i * PAGE_SIZE;
	t->index = (uint32_t)i;
	t->state = ST_T_INIT;
	uint64_t args[6] = { (uint64_t)i, 0, 0, 0, 0, 0 };
	long tid;
	int ret = st_inject(sas, ST_OP_THREAD, 0, args, &tid);
	if (ret < 0)
		return ret;
	if (tid <= 0)
		return tid == -ENOMEM || tid == -EAGAIN ? (int)tid : -EIO;
	sas->tids[i] = (int)tid;
	atomic_store(&sas->nthreads, i + 1);
	if (i == 1 && sas->sync) {
		/* No more parking: thread 0 may be parked (or on its way), where the queue's wake-ups
		 * do not reach it; answer it (it looks at the queue, then sleeps there). */
		atomic_store(&sas->park_on, false);
		__atomic_store_n(&sas->ctl->park_ok, 0, __ATOMIC_SEQ_CST);
		const uint32_t *parked = &st_thread_page(sas, 0)->parked;
		if (__atomic_load_n(parked, __ATOMIC_SEQ_CST) || atomic_load(&sas->park_have)) {
			int r = st_channel_lock(sas);
			if (r == 0)
				st_unpark_locked(sas, NULL, 0, true);
			st_channel_unlock(sas);
		}
	}
	return 0;
}

int st_thread_add(struct st_as *sas, int want)
{
	pthread_mutex_lock(&sas->thread_lock);
	int i = atomic_load(&sas->nthreads), ret = 0;
	if (i < want && i < (int)ST_MAX_THREADS)
		ret = thread_add_locked(sas, i);
	pthread_mutex_unlock(&sas->thread_lock);
	return ret;
}

int st_as_create(struct st_platform *sp, struct st_as *sas)
{
	sas->sp = sp;
	sas->pid = sas->pidfd = sas->listener = -1;
	sas->nudge_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sas->nudge_fd < 0)
		return -errno;
	int fd = memfd_create("cvisor-systrap", MFD_CLOEXEC);
	int ret = 0;
	if (fd < 0) {
		ret = -errno;
		st_as_destroy(sas);
		return ret;
	}
	if (ftruncate(fd, (off_t)sp->shm_size) < 0) {
		ret = -errno;
		close(fd);
		st_as_destroy(sas);
		return ret;
	}
	void *m = mmap(NULL, sp->shm_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED) {
		ret = -errno;
		close(fd);
		st_as_destroy(sas);
		return ret;
	}
	sas->shm = m;
	sas->req = (struct st_request *)(sas->shm + ST_REQ_FOFF);
	sas->ctl = (struct st_control *)(sas->shm + ST_CTL_FOFF);
	sas->ring = (uint32_t *)(sas->shm + ST_QUEUE_FOFF);
	sas->ctl->tsc_per_us = sp->tsc_per_us;
	sas->ctl->listener = -1;

	pthread_mutex_lock(&sp->source_lock);
	sp->src_req->args[0] = (uint64_t)fd;
	sp->src_req->op = ST_OP_NEWSTUB;
	__atomic_store_n(&sp->src_req->seq, ++sp->src_seq, __ATOMIC_RELEASE);
	st_futex(&sp->src_req->seq, FUTEX_WAKE, 1, NULL);
	ret = wait_word(&sp->src_ctl->ready, sp->src_seq, sp->source_pid, -1);
	int pid = __atomic_load_n(&sp->src_ctl->listener, __ATOMIC_ACQUIRE);
	pthread_mutex_unlock(&sp->source_lock);
	if (ret == 0 && pid <= 0)
		ret = pid == -ENOMEM || pid == -EAGAIN ? pid : -EIO;
	if (ret < 0) {
		cv_log(CV_LOG_ERROR, "systrap: the source stub cannot make a new stub: %s", strerror(-ret));
		goto err;
	}
	sas->pid = pid;
	sas->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (sas->pidfd < 0) {
		ret = -errno;
		goto err;
	}
	ret = wait_word(&sas->ctl->ready, 1, pid, sas->pidfd);
	if (ret < 0)
		goto err;
	sas->listener = __atomic_load_n(&sas->ctl->listener, __ATOMIC_ACQUIRE);
	if (sas->listener < 0) {
		ret = sas->listener == -ENOMEM ? -ENOMEM : -EIO;
		sas->listener = -1;
		goto err;
	}
	/* Both fds live in the table the stub shares with us: make them ours (close-on-exec). */
	fcntl(sas->listener, F_SETFD, FD_CLOEXEC);
	close(fd);
	fd = -1;
	uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
	/* 6.6+: a direct hand-off, and the stub threads park on the doorbell (listener.c) */
	sas->sync = ioctl(sas->listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags) == 0;
	atomic_store(&sas->park_on, sas->sync);
	__atomic_store_n(&sas->ctl->park_ok, sas->sync, __ATOMIC_SEQ_CST);
	return 0;
err:
	if (fd >= 0)
		close(fd);
	st_as_destroy(sas);
	return ret;
}

void st_as_kill(struct st_as *sas)
{
	if (sas->pid > 0)
		kill(sas->pid, SIGKILL);
}

void st_as_destroy(struct st_as *sas)
{
	if (sas->pid > 0) {
		st_as_kill(sas);
		RETRY_EINTR(waitpid(sas->pid, NULL, __WALL));
		sas->pid = -1;
	}
	if (sas->pidfd >= 0)
		close(sas->pidfd);
	if (sas->listener >= 0)
		close(sas->listener);
	if (sas->nudge_fd >= 0)
		close(sas->nudge_fd);
	sas->pidfd = sas->listener = sas->nudge_fd = -1;
	if (sas->shm)
		munmap(sas->shm, sas->sp->shm_size);
	sas->shm = NULL;
}
