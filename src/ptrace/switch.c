// SPDX-License-Identifier: Apache-2.0
// The ptrace switch: run a context on the caller's stub thread until a syscall, fault or kick.
#include <linux/audit.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "arch/x86_64/arch.h"
#include "ptrace/ptrace_internal.h"

#define VSYSCALL_ADDR 0xffffffffff600000ull
#define TASK_SIZE_MAX 0x7ffffffff000ull

void pt_kick(struct cv_platform *p, uint64_t target)
{
	syscall(SYS_tgkill, (int)(target >> 32), (int)(uint32_t)target, PT_KICK_SIGNAL);
}

static int as_died(struct pt_thread *t)
{
	atomic_store(&t->pas->dead, true);
	atomic_store(&t->dead, true);
	if (t->pas->as)
		atomic_store(&t->pas->as->dead, true);
	return -CV_EASDEAD;
}

/* ptrace failed on our own stopped tracee: the thread is gone (ESRCH) or the request was bad. */
static int ptrace_error(struct pt_thread *t, int err)
{
	cv_debug("ptrace on stub thread %d: %s", t->tid, strerror(err));
	if (err == ESRCH || err == ECHILD)
		return as_died(t);
	return err == EIO || err == EINVAL ? -EINVAL : -EIO;
}

/* The kernel's view of the context's registers, with what only the platform may decide forced. */
static int load_regs(const struct cv_regs *in, struct user_regs_struct *r)
{
	if (in->fs_base >= TASK_SIZE_MAX || in->gs_base >= TASK_SIZE_MAX)
		return -EINVAL;
	memcpy(r, in, sizeof(*r));
	r->cs = in->cs == CV_USER32_CS ? CV_USER32_CS : CV_USER_CS;
	r->ss = CV_USER_DS;
	r->ds = r->es = r->fs = r->gs = 0;
	r->orig_rax = (uint64_t)-1; /* never let the kernel restart a syscall behind the sentry's back */
	return 0;
}

/*
 * Was this syscall stop a 32-bit syscall? The `syscall` instruction in 64-bit mode always leaves
 * rcx == rip and r11 == rflags, but an application can arrange both before an `int $0x80`, so the
 * fast answer also needs the two bytes before rip to be `0f 05` (read from the memory file, no host
 * call). Anything else asks the kernel (PTRACE_GET_SYSCALL_INFO).
 */
static bool compat_syscall(struct cv_platform *p, struct cv_as *as, int tid, const struct user_regs_struct *r)
{
	if (!p->caps.compat_syscalls)
		return false;
	uint8_t insn[2];
	if (r->cs == CV_USER_CS && r->rcx == r->rip && r->r11 == r->eflags &&
	    as_read_raw(as, r->rip - 2, insn, 2) == 2 && insn[0] == 0x0f && insn[1] == 0x05)
		return false;
	struct __ptrace_syscall_info info;
	long n = ptrace(PTRACE_GET_SYSCALL_INFO, tid, sizeof(info), &info);
	return n > 0 && info.arch == AUDIT_ARCH_I386;
}

/* Fill exit->access for a SIGSEGV/SIGBUS: decode the instruction, else gVisor's heuristic. */
static void fault_access(struct cv_ctx *ctx, struct cv_as *as, const struct user_regs_struct *r,
			 struct cv_exit *exit)
{
	struct pt_ctx *pc = ctx->priv;
	uint64_t addr = (uint64_t)exit->info.si_addr;
	uint8_t insn[15];
	long n = as_read_raw(as, r->rip, insn, sizeof(insn));
	unsigned access;
	if (x86_decode_access(insn, n > 0 ? (size_t)n : 0, (const struct cv_regs *)r, addr, &access) < 0) {
		/* Undecidable: exec if it faulted fetching; write if the very same fault repeats right
		 * after the sentry handled it (it mapped the page read-only); else read. */
		if (addr == r->rip)
			access = CV_ACCESS_EXEC;
		else if (addr == pc->last_fault_addr && r->rip == pc->last_fault_ip)
			access = CV_ACCESS_WRITE;
		else
			access = CV_ACCESS_READ;
		exit->fault_flags |= CV_FAULT_ACCESS_GUESSED;
	}
	exit->access = access;
	pc->last_fault_addr = addr;
	pc->last_fault_ip = r->rip;
}

int pt_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit)
{
	struct pt_as *pas = as->priv;
	struct pt_platform *pp = pas->pp;
	struct pt_thread *t;
	struct user_regs_struct r;
	int ret = pt_thread_get(as, &t);
	if (ret < 0)
		return ret;
	if (atomic_load(&pas->dead))
		return as_died(t);
	ret = load_regs(&ctx->state.regs, &r);
	if (ret < 0)
		return ret;
	ret = pt_fpu_load(ctx, t);
	if (ret < 0)
		return ret == -EXDEV || ret == -EINVAL || ret == -ENOMEM ? ret : ptrace_error(t, -ret);

	/* Publish where we run before testing for an interrupt (pairs with cv_ctx_interrupt()). */
	atomic_store(ctx->run_word, ((uint64_t)(uint32_t)pas->pid << 32) | (uint32_t)t->tid);
	if (atomic_exchange(&ctx->irq_pending, 0)) {
		atomic_store(ctx->run_word, 0);
		exit->reason = CV_EXIT_INTERRUPT;
		return 0;
	}
	if (pp->pin_tracers)
		pt_host_pin(t->host);
	pt_thread_cpu_follow(t);
	if (ptrace(PTRACE_SETREGS, t->tid, 0, &r) < 0) {
		ret = ptrace_error(t, errno);
		goto out;
	}
	for (;;) {
		if (ptrace(PTRACE_SYSEMU, t->tid, 0, 0) < 0) {
			ret = ptrace_error(t, errno);
			goto out;
		}
		int status;
		ret = pt_wait(t->tid, &status);
		if (ret < 0 || !WIFSTOPPED(status)) {
			ret = as_died(t);
			goto out;
		}
		int sig = WSTOPSIG(status);
		if (sig == (SIGTRAP | 0x80)) {
			if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) < 0) {
				ret = ptrace_error(t, errno);
				goto out;
			}
			exit->reason = CV_EXIT_SYSCALL;
			if (compat_syscall(ctx->p, as, t->tid, &r) &&
			    !stub_compat_insn_lost(as, (const struct cv_regs *)&r, exit))
				exit->syscall_flags |= CV_SYSCALL_COMPAT;
			break;
		}
		if (status >> 16)
			continue; /* group-stop or PTRACE_EVENT_STOP (a host SIGSTOP): just resume */
		siginfo_t si;
		if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, &si) < 0) {
			ret = ptrace_error(t, errno);
			goto out;
		}
		if (sig == PT_KICK_SIGNAL && si.si_code == SI_TKILL && si.si_pid == pp->sentry_pid) {
			if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) < 0) {
				ret = ptrace_error(t, errno);
				goto out;
			}
			atomic_store(&ctx->irq_pending, 0);
			exit->reason = CV_EXIT_INTERRUPT;
			break;
		}
		/* Only signals the kernel raised for the thread's own instructions stop the switch;
		 * anything sent from outside (kill -TERM of a stub, a stale kick) is dropped. */
		if (si.si_code <= 0)
			continue;
		if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) < 0) {
			ret = ptrace_error(t, errno);
			goto out;
		}
		if (sig == SIGSYS && si.si_code == 1 /* SYS_SECCOMP */ &&
		    ((uint64_t)si.si_call_addr & ~PAGE_MASK) == VSYSCALL_ADDR) {
			/* The kernel emulated the vsyscall page's ret already; rip/rsp are the caller's. */
			r.orig_rax = (uint64_t)si.si_syscall;
			exit->reason = CV_EXIT_SYSCALL;
			exit->syscall_flags |= CV_SYSCALL_VSYSCALL;
			break;
		}
		if (sig == SIGSEGV && si.si_code == SI_KERNEL && pp->cpuid_faulting && stub_emulate_cpuid(ctx, as, (struct cv_regs *)&r)) {
			if (ptrace(PTRACE_SETREGS, t->tid, 0, &r) < 0) {
				ret = ptrace_error(t, errno);
				goto out;
			}
			continue;
		}
		exit->reason = CV_EXIT_SIGNAL;
		exit->info = si;
		if ((sig == SIGSEGV || sig == SIGBUS) && si.si_code != SI_KERNEL)
			fault_access(ctx, as, &r, exit);
		break;
	}
	memcpy(&ctx->state.regs, &r, sizeof(r));
	ret = pt_fpu_after_run(ctx, t);
out:
	atomic_store(ctx->run_word, 0);
	return ret;
}
