// SPDX-License-Identifier: Apache-2.0
// ptrace stubs: the stub page, the seccomp filter, the parent thread, and the source stub.
//
// Every stub process is a child of one long-lived "parent" thread of this library, because
// PR_SET_PDEATHSIG fires when the parent *thread* exits, not the process: had a short-lived sentry
// thread forked them, its exit would kill every address space. The parent thread exits only at
// cv_platform_close(), which makes the kernel kill any stub still alive, and with the sentry.
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/rseq.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <asm/prctl.h>
#include <elf.h>
#include "ptrace/ptrace_internal.h"


/* ---- seccomp filter of every stub process ---- */


/*
 * Under PTRACE_SYSEMU an application syscall stops for the tracer and is skipped before seccomp runs,
 * so this filter only ever sees (a) syscalls the sentry injects at the stub page, (b) the legacy
 * vsyscall page's emulated calls, which bypass ptrace, and (c) anything a stub thread would do if it
 * ever ran untraced. (b) and (c) trap: (b) becomes a SIGSYS stop the backend turns into a syscall exit;
 * an untraced thread dies of the SIGSYS. From the stub page only the calls the stub makes are allowed,
 * with their arguments pinned where they matter; anything else kills the whole stub.
 */
static int build_filter(uint64_t stub, struct sock_filter *f, size_t max)
{
	uint32_t lo = (uint32_t)stub, hi = (uint32_t)(stub >> 32);
	struct sock_filter prog[] = {
		/* 0 */ SF_LD(SD_ARCH),
		/* 1 */ SF_JEQ(AUDIT_ARCH_X86_64, 0, 28),
		/* 2 */ SF_LD(SD_IP_HI),
		/* 3 */ SF_JEQ(hi, 0, 26),
		/* 4 */ SF_LD(SD_IP_LO),
		/* 5 */ SF_JGE(lo, 0, 24),
		/* 6 */ SF_JGE(lo + (uint32_t)PAGE_SIZE, 23, 0),
		/* 7 */ SF_LD(SD_NR),
		/* 8 */ SF_JEQ(SYS_pause, 19, 0),       /* the park loop */
		/* 9 */ SF_JEQ(SYS_mmap, 18, 0),        /* injected mappings */
		/* 10 */ SF_JEQ(SYS_munmap, 17, 0),
		/* 11 */ SF_JEQ(SYS_getppid, 16, 0),    /* new-process prologue */
		/* 12 */ SF_JEQ(SYS_exit_group, 15, 0),
		/* 13 */ SF_JEQ(SYS_prctl, 4, 0),
		/* 14 */ SF_JEQ(SYS_clone, 7, 0),
		/* 15 */ SF_JEQ(SYS_mprotect, 12, 0),   /* injected protection changes */
		/* 16 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
		/* 17 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
		/* prctl: only PR_SET_PDEATHSIG with SIGKILL */
		/* 18 */ SF_LD(SD_ARG_LO(0)),
		/* 19 */ SF_JEQ(PR_SET_PDEATHSIG, 0, 6),
		/* 20 */ SF_LD(SD_ARG_LO(1)),
		/* 21 */ SF_JEQ(SIGKILL, 6, 4),
		/* clone: exactly the address-space or the stub-thread flags */
		/* 22 */ SF_LD(SD_ARG_LO(0)),
		/* 23 */ SF_JEQ(PT_CLONE_PROCESS, 4, 0),
		/* 24 */ SF_JEQ(PT_CLONE_THREAD, 3, 0),
		/* 25 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
		/* 26 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
		/* 27 */ SF_RET(SECCOMP_RET_ALLOW),
		/* 28 */ SF_RET(SECCOMP_RET_ALLOW),
		/* 29 */ SF_RET(SECCOMP_RET_TRAP),
		/* 30 */ SF_RET(SECCOMP_RET_TRAP),
	};
	if (ARRAY_SIZE(prog) > max)
		return -EINVAL;
	memcpy(f, prog, sizeof(prog));
	return (int)ARRAY_SIZE(prog);
}

/* ---- the source stub ---- */

struct stub_boot {
	int sentry_pid;
	bool cpuid_faulting;
	uint64_t park;
	struct sock_fprog prog;
	struct sock_filter filter[40];
};

struct kernel_sigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

/*
 * First code of the source stub, in a fork-like child of the parent thread: async-signal-safe raw
 * syscalls only (the child is a copy of one thread of a multi-threaded process). Once the seccomp
 * filter is in, only the stub page may make syscalls, so this ends by jumping there.
 */
static __attribute__((noreturn, noinline)) void source_stub_main(const struct stub_boot *b)
{
	syscall(SYS_prctl, PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (syscall(SYS_getppid) != b->sentry_pid)
		syscall(SYS_exit_group, 1);
	/*
	 * The child inherits glibc's rseq registration, whose area is about to be unmapped; the kernel
	 * would then raise SIGSEGV at the next preemption. glibc registers 32 bytes (older kernels
	 * check the length given at registration, so try that and the advertised size).
	 */
	if (__rseq_size) {
		uintptr_t tp;
		__asm__("mov %%fs:0, %0" : "=r"(tp));
		void *area = (void *)(tp + (uintptr_t)__rseq_offset);
		if (syscall(SYS_rseq, area, 32, 1 /* RSEQ_FLAG_UNREGISTER */, RSEQ_SIG) != 0)
			syscall(SYS_rseq, area, __rseq_size, 1, RSEQ_SIG);
	}
	/*
	 * A process group of its own: terminal signals (^C) for the sentry's group never reach stubs. The
	 * sentry's session, so that with autogroups stubs are scheduled in the sentry's group (systrap).
	 */
	syscall(SYS_setpgid, 0, 0);
	struct kernel_sigaction dfl = { 0 };
	for (int sig = 1; sig <= 64; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			syscall(SYS_rt_sigaction, sig, &dfl, NULL, 8);
	/* Nothing blocked: a blocked signal would not stop a traced thread (kicks would be lost). */
	uint64_t none = 0;
	syscall(SYS_rt_sigprocmask, SIG_SETMASK, &none, NULL, 8);
	if (b->cpuid_faulting)
		syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0);
	syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &b->prog) != 0)
		syscall(SYS_exit_group, 2);
	__asm__ volatile("jmp *%0" : : "r"(b->park) : "memory");
	__builtin_unreachable();
}

struct parent_args {
	struct cv_platform *p;
	struct stub_boot *boot;
	int result; /* source pid or -errno */
};

/* The parent thread: forks the source stub, then waits until the platform closes. */
static void *parent_thread_main(void *arg)
{
	struct parent_args *a = arg;
	struct pt_platform *pp = pt_platform(a->p);
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL); /* never take the sentry's process-directed signals */

	/* exit signal 0: stubs send no SIGCHLD to the sentry; they are waited for with __WALL. */
	long pid = syscall(SYS_clone, CLONE_FILES, 0, NULL, NULL, 0);
	if (pid == 0)
		source_stub_main(a->boot);
	pthread_mutex_lock(&pp->parent_lock);
	a->result = pid < 0 ? -errno : (int)pid;
	pp->parent_state = 1;
	pthread_cond_broadcast(&pp->parent_cond);
	while (pp->parent_state != 2)
		pthread_cond_wait(&pp->parent_cond, &pp->parent_lock);
	pthread_mutex_unlock(&pp->parent_lock);
	return NULL;
}

static int map_stub_page(struct pt_platform *pp)
{
	size_t len = (uintptr_t)cv_ptrace_stub_end - (uintptr_t)cv_ptrace_stub_start; /* symbols of one blob */
	uint64_t span = (PT_TASK_SIZE - PAGE_SIZE - PT_STUB_WINDOW) / PAGE_SIZE;
	for (int tries = 0; tries < 64; tries++) {
		uint64_t r;
		if (getrandom(&r, sizeof(r), 0) != sizeof(r))
			r = (uint64_t)time(NULL) * 2654435761u + (uint64_t)tries;
		uint64_t addr = PT_STUB_WINDOW + (r % span) * PAGE_SIZE;
		void *m = mmap((void *)addr, PAGE_SIZE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m == MAP_FAILED)
			continue;
		if ((uint64_t)m != addr) { /* kernels before 4.17 ignore the flag */
			munmap(m, PAGE_SIZE);
			continue;
		}
		memcpy(m, cv_ptrace_stub_start, len);
		if (mprotect(m, PAGE_SIZE, PROT_READ | PROT_EXEC) < 0) {
			int ret = -errno;
			munmap(m, PAGE_SIZE);
			return ret;
		}
		pp->stub_addr = addr;
		return 0;
	}
	cv_log(CV_LOG_ERROR, "ptrace: no free page for the stub in the top of the address space");
	return -ENOMEM;
}

/*
 * Wait until a fresh stub process sits in the park loop: interrupting it earlier would cut its
 * prologue (signal reset, seccomp, PR_SET_PDEATHSIG) short. /proc/PID/syscall shows the blocking
 * syscall and the user pc; a parked stub is in pause() with its pc inside the stub page.
 */
static int wait_parked(const struct pt_platform *pp, int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof(path), "/proc/%d/syscall", pid);
	for (int i = 0; i < 20000; i++) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -ESRCH;
		long n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n > 0) {
			buf[n] = 0;
			char *last = strrchr(buf, ' ');
			uint64_t pc = last ? strtoull(last + 1, NULL, 16) : 0;
			if (strncmp(buf, "34 ", 3) == 0 && pc >= pp->stub_addr && pc < pp->stub_addr + PAGE_SIZE)
				return 0;
		}
		if (n < 0 || strncmp(buf, "-1", 2) == 0) /* gone or a zombie */
			return -ESRCH;
		struct timespec ts = { 0, 50000 };
		nanosleep(&ts, NULL);
	}
	cv_log(CV_LOG_ERROR, "ptrace: stub %d never reached its park loop", pid);
	return -EIO;
}

/* Attach to a parked, untraced stub thread and stop it. */
static int seize_stopped(int tid, unsigned long options)
{
	if (ptrace(PTRACE_SEIZE, tid, 0, options) < 0)
		return -errno;
	if (ptrace(PTRACE_INTERRUPT, tid, 0, 0) < 0) {
		int ret = -errno;
		ptrace(PTRACE_DETACH, tid, 0, 0);
		return ret;
	}
	int status;
	int ret = pt_wait(tid, &status);
	if (ret < 0)
		return ret;
	if (!WIFSTOPPED(status))
		return -ESRCH;
	return 0;
}

/* Unmap everything of the sentry the source stub inherited, leaving only the stub page. */
static int strip_source(struct pt_platform *pp, int pid)
{
	uint64_t args[6] = { 0, pp->stub_addr, 0, 0, 0, 0 };
	long r;
	int ret = pt_inject(pp, pid, SYS_munmap, args, &r);
	if (ret == 0 && r == 0) {
		args[0] = pp->stub_addr + PAGE_SIZE;
		args[1] = PT_TASK_SIZE - args[0];
		ret = pt_inject(pp, pid, SYS_munmap, args, &r);
	}
	if (ret == 0 && r != 0)
		ret = (int)r;
	return ret;
}

/* The size the kernel's XSAVE regset has (it must be matched exactly by PTRACE_SETREGSET). */
static int probe_xstate_size(struct pt_platform *pp, int pid)
{
	static uint8_t buf[64 * 1024] __attribute__((aligned(64)));
	struct iovec iov = { buf, sizeof(buf) };
	if (ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &iov) < 0)
		return -errno;
	pp->kernel_xstate_size = (uint32_t)iov.iov_len;
	return 0;
}

static int setup_source(struct cv_platform *p, struct stub_boot *boot)
{
	struct pt_platform *pp = pt_platform(p);
	struct parent_args a = { .p = p, .boot = boot, .result = 0 };
	int ret = pthread_create(&pp->parent_thread, NULL, parent_thread_main, &a);
	if (ret != 0)
		return ret == EAGAIN ? -EAGAIN : -ret;
	pthread_mutex_lock(&pp->parent_lock);
	while (pp->parent_state == 0)
		pthread_cond_wait(&pp->parent_cond, &pp->parent_lock);
	pthread_mutex_unlock(&pp->parent_lock);
	if (a.result < 0)
		return a.result;
	pp->source_pid = a.result;
	ret = wait_parked(pp, pp->source_pid);
	if (ret < 0)
		return ret;
	ret = seize_stopped(pp->source_pid, PTRACE_O_TRACESYSGOOD);
	if (ret < 0) {
		cv_log(CV_LOG_ERROR, "ptrace: cannot attach to the source stub: %s", strerror(-ret));
		return ret;
	}
	ret = strip_source(pp, pp->source_pid);
	if (ret == 0)
		ret = probe_xstate_size(pp, pp->source_pid);
	if (ret == 0)
		ret = pt_park_regs(pp, pp->source_pid);
	if (ptrace(PTRACE_DETACH, pp->source_pid, 0, 0) < 0 && ret == 0)
		ret = -errno;
	if (ret < 0)
		cv_log(CV_LOG_ERROR, "ptrace: cannot prepare the source stub: %s", strerror(-ret));
	return ret;
}

int pt_stub_setup(struct cv_platform *p)
{
	struct pt_platform *pp = pt_platform(p);
	pp->sentry_pid = getpid();
	pp->source_pid = -1;
	int ret = map_stub_page(pp);
	if (ret < 0)
		return ret;
	struct stub_boot *boot = calloc(1, sizeof(*boot));
	if (!boot) {
		ret = -ENOMEM;
		goto err_unmap;
	}
	boot->sentry_pid = pp->sentry_pid;
	boot->cpuid_faulting = pp->cpuid_faulting;
	boot->park = stub_sym(pp, cv_ptrace_stub_park);
	ret = build_filter(pp->stub_addr, boot->filter, ARRAY_SIZE(boot->filter));
	if (ret < 0)
		goto err_boot;
	boot->prog.len = (unsigned short)ret;
	boot->prog.filter = boot->filter;
	ret = setup_source(p, boot);
	free(boot);
	if (ret < 0)
		pt_stub_teardown(p);
	return ret;

err_boot:
	free(boot);
err_unmap:
	munmap((void *)pp->stub_addr, PAGE_SIZE);
	pp->stub_addr = 0;
	return ret;
}

void pt_stub_teardown(struct cv_platform *p)
{
	struct pt_platform *pp = pt_platform(p);
	if (pp->source_pid > 0) {
		kill(pp->source_pid, SIGKILL);
		RETRY_EINTR(waitpid(pp->source_pid, NULL, __WALL));
		pp->source_pid = -1;
	}
	if (pp->parent_state) {
		pthread_mutex_lock(&pp->parent_lock);
		pp->parent_state = 2;
		pthread_cond_broadcast(&pp->parent_cond);
		pthread_mutex_unlock(&pp->parent_lock);
		pthread_join(pp->parent_thread, NULL);
		pp->parent_state = 0;
	}
	if (pp->stub_addr) {
		munmap((void *)pp->stub_addr, PAGE_SIZE);
		pp->stub_addr = 0;
	}
}

int pt_as_create(struct pt_platform *pp, int *pid)
{
	pthread_mutex_lock(&pp->source_lock);
	int ret = seize_stopped(pp->source_pid, PTRACE_O_TRACESYSGOOD);
	if (ret < 0) {
		pthread_mutex_unlock(&pp->source_lock);
		cv_log(CV_LOG_ERROR, "ptrace: cannot attach to the source stub: %s", strerror(-ret));
		return ret == -ESRCH || ret == -ECHILD ? -EIO : ret;
	}
	struct user_regs_struct regs;
	long child = -1;
	if (ptrace(PTRACE_GETREGS, pp->source_pid, 0, &regs) < 0) {
		ret = -errno;
		goto out;
	}
	regs.rip = stub_sym(pp, cv_ptrace_stub_clone);
	regs.rax = SYS_clone;
	regs.orig_rax = (uint64_t)-1;
	regs.rdi = PT_CLONE_PROCESS; /* exit signal 0 */
	regs.rsi = regs.rdx = regs.r10 = regs.r8 = 0;
	regs.r14 = 1;                /* run the new-process prologue */
	regs.r15 = (uint64_t)pp->sentry_pid;
	if (ptrace(PTRACE_SETREGS, pp->source_pid, 0, &regs) < 0 ||
	    ptrace(PTRACE_CONT, pp->source_pid, 0, 0) < 0) {
		ret = -errno;
		goto out;
	}
	int status;
	ret = pt_wait(pp->source_pid, &status);
	if (ret < 0)
		goto out;
	if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
		ret = -EIO;
		goto out;
	}
	if (ptrace(PTRACE_GETREGS, pp->source_pid, 0, &regs) < 0) {
		ret = -errno;
		goto out;
	}
	child = (long)regs.rax;
	if (child < 0)
		ret = (int)child == -ENOMEM ? -ENOMEM : -EAGAIN;
out:;
	int pr = pt_park_regs(pp, pp->source_pid);
	if (ptrace(PTRACE_DETACH, pp->source_pid, 0, 0) < 0 || pr < 0) {
		cv_log(CV_LOG_ERROR, "ptrace: cannot release the source stub: %s", strerror(errno));
		if (ret == 0)
			ret = -EIO;
	}
	pthread_mutex_unlock(&pp->source_lock);
	if (ret == 0)
		ret = wait_parked(pp, (int)child);
	if (ret < 0) {
		if (child > 0) {
			kill((int)child, SIGKILL);
			RETRY_EINTR(waitpid((int)child, NULL, __WALL));
		}
		return ret;
	}
	*pid = (int)child;
	return 0;
}
