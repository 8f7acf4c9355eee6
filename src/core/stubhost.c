// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the stub-process backends (ptrace, systrap): host probes, the mmap result of an
// injected mapping, CPUID emulation under CPUID faulting, and 32-bit syscall instructions.
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <asm/prctl.h>
#include "arch/x86_64/arch.h"
#include "internal.h"

/* Without /proc/sys (a jail's pid-only /proc): the lowest page this process may map, by trying. */
static unsigned long probe_mmap_min_addr(void)
{
	for (unsigned long a = PAGE_SIZE; a < (1ul << 20); a += PAGE_SIZE) {
		void *p = mmap((void *)a, PAGE_SIZE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (p != MAP_FAILED) {
			munmap(p, PAGE_SIZE);
			if (p == (void *)a)
				return a;
		} else if (errno == EEXIST) {
			return a; /* something is mapped there already, so it may be */
		}
	}
	return 65536;
}

uint64_t host_mmap_min_addr(void)
{
	unsigned long v = 65536;
	FILE *f = fopen("/proc/sys/vm/mmap_min_addr", "re");
	if (f) {
		if (fscanf(f, "%lu", &v) != 1)
			v = 65536;
		fclose(f);
	} else {
		v = probe_mmap_min_addr();
	}
	v = (v + PAGE_MASK) & ~PAGE_MASK;
	return v < PAGE_SIZE ? PAGE_SIZE : v;
}

bool host_try_in_child(int (*fn)(void *), void *arg)
{
	/* A stack of its own, not a buffer in this frame: a child that dies mid-call leaves its frames
	 * behind, and AddressSanitizer's record of them with it. */
	const size_t size = 64 << 10;
	char *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (stack == MAP_FAILED)
		return false;
	int pid = clone(fn, stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
	int e = errno;
	/* (ECHILD where the host ignores SIGCHLD: the child is gone all the same) */
	while (pid > 0 && waitpid(pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	munmap(stack, size);
	errno = e;
	return pid > 0;
}

/* The probes' children: the fault they may take is expected, so no handler of the host's reports it. */
CV_CHILD_FN static void default_sigsegv(void)
{
	struct { uint64_t handler, flags, restorer, mask; } dfl = { (uint64_t)SIG_DFL, 0, 0, 0 };
	syscall(SYS_rt_sigaction, SIGSEGV, &dfl, NULL, 8);
}

/*
 * The start-up probes, one child for all (each child costs a few hundred microseconds on a VM): CPUID
 * faulting (arch_prctl(ARCH_SET_CPUID, 0) turns it on for the caller, and only trying tells whether it
 * works), a seccomp filter with a user-notification listener (which cannot be taken back), and, last,
 * int $0x80, which kills the child where the kernel has no ia32 emulation. Each answer is stored before
 * the next step.
 */
CV_CHILD_FN static int probes_child(void *arg)
{
	struct host_probes *p = arg;
	p->cpuid_faulting = syscall(SYS_arch_prctl, ARCH_SET_CPUID, 0L) == 0;
	struct sock_filter f[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	struct sock_fprog prog = { 1, f };
	syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	p->listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog) >= 0;
	default_sigsegv();
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) /* i386 getpid */ : "memory");
	p->int80 = ret > 0;
	return 0;
}

static struct host_probes probes;
static pthread_once_t probes_once = PTHREAD_ONCE_INIT;

static void run_probes(void)
{
	struct host_probes p = { 0 };
	if (!host_try_in_child(probes_child, &p))
		cv_log(CV_LOG_WARN, "host probes: clone: %s", strerror(errno));
	probes = p;
}

const struct host_probes *host_probes(void)
{
	pthread_once(&probes_once, run_probes);
	return &probes;
}

bool host_runs_int80(void)
{
	return host_probes()->int80;
}

bool host_has_vsyscall(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512];
	bool found = false;
	while (f && fgets(line, sizeof(line), f))
		found |= strstr(line, "[vsyscall]") != NULL;
	if (f)
		fclose(f);
	return found;
}

CV_CHILD_FN static int sgdt_child(void *arg)
{
	default_sigsegv(); /* with UMIP, a 64-bit sgdt is SIGSEGV (Linux emulates it for 32-bit only) */
	uint8_t gdtr[10];
	__asm__ volatile("sgdt %0" : "=m"(gdtr) : : "memory");
	*(volatile bool *)arg = true;
	return 0;
}

bool host_umip_on(void)
{
	volatile bool ran = false;
	return host_try_in_child(sgdt_child, (void *)&ran) && !ran;
}

int stub_mmap_result(long res, uint64_t addr)
{
	if ((uint64_t)res == addr)
		return 0;
	if (res >= 0 || res < -4095)
		return -EIO;
	switch ((int)-res) {
	case EBADF:
	case EACCES:
	case ENODEV:
	case ENOMEM:
	case EINVAL:
	case EPERM:
	case ETXTBSY:
	case EAGAIN:
		return (int)res;
	default:
		return -EIO;
	}
}

static uint64_t prot_of(unsigned access)
{
	return (uint64_t)(((access & CV_ACCESS_READ) ? PROT_READ : 0) | ((access & CV_ACCESS_WRITE) ? PROT_WRITE : 0) |
			  ((access & CV_ACCESS_EXEC) ? PROT_EXEC : 0));
}

void stub_mmap_args(uint64_t args[6], uint64_t addr, int fd, uint64_t off, uint64_t len, unsigned access,
		    bool precommit)
{
	args[0] = addr;
	args[1] = len;
	args[2] = prot_of(access);
	args[3] = MAP_SHARED | MAP_FIXED | (precommit ? MAP_POPULATE : 0);
	args[4] = (uint64_t)fd;
	args[5] = off;
}

int stub_munmap_result(long res)
{
	return res == 0 ? 0 : (res == -ENOMEM ? -ENOMEM : -EIO);
}

void stub_mprotect_args(uint64_t args[6], uint64_t addr, uint64_t len, unsigned access)
{
	args[0] = addr;
	args[1] = len;
	args[2] = prot_of(access);
	args[3] = args[4] = args[5] = 0;
}

int stub_mprotect_result(long res)
{
	if (res == 0)
		return 0;
	return res == -ENOMEM || res == -EACCES || res == -EINVAL || res == -EPERM ? (int)res : -EIO;
}

bool stub_emulate_cpuid(struct cv_ctx *ctx, struct cv_as *as, struct cv_regs *r)
{
	uint8_t insn[2];
	if (as_read_raw(as, r->rip, insn, 2) != 2 || !x86_insn_is_cpuid(insn, 2))
		return false;
	struct cv_cpuid_entry e;
	platform_cpuid(ctx->p, (uint32_t)r->rax, (uint32_t)r->rcx, &e);
	r->rax = e.eax;
	r->rbx = e.ebx;
	r->rcx = e.ecx;
	r->rdx = e.edx;
	r->rip += 2;
	return true;
}

bool stub_compat_insn_lost(struct cv_as *as, const struct cv_regs *r, struct cv_exit *exit)
{
	uint8_t insn[2];
	if (as_read_raw(as, r->rip - 2, insn, 2) == 2 && insn[0] == 0xcd && insn[1] == 0x80)
		return false;
	exit->reason = CV_EXIT_SIGNAL;
	exit->syscall_flags = 0;
	memset(&exit->info, 0, sizeof(exit->info));
	exit->info.si_signo = SIGILL;
	exit->info.si_code = ILL_ILLOPN;
	exit->info.si_addr = NULL; /* the instruction's address is lost */
	return true;
}
