/* SPDX-License-Identifier: Apache-2.0 */
/* Execution contexts: run an application thread until it needs the sentry. */
#ifndef CVISOR_CTX_H
#define CVISOR_CTX_H

#include <signal.h>
#include <cvisor/common.h>
#include <cvisor/cpu.h>

#ifdef __cplusplus
extern "C" {
#endif

struct cv_platform;
struct cv_as;
struct cv_ctx;

/*
 * Context flags.
 *
 * By default the lazily transferred part of a context's state (the XSAVE area) may stay inside the
 * platform between switches, in a place only the host thread that last switched the context can reach
 * (ptrace: the stub thread it traces). Such a context may be switched or pulled from another host thread
 * only after cv_ctx_prepare_sleep() or cv_ctx_pull_full_state() on the previous one; otherwise those
 * calls return -EXDEV. This suits a sentry with one host thread per application thread.
 *
 * CV_CTX_ROAMING lifts that rule: any host thread may switch the context at any time, and the platform
 * keeps its state reachable from all of them (on ptrace this costs one more host call per switch).
 */
#define CV_CTX_ROAMING 1u

/*
 * Create a context. Its state starts zeroed with cs/ss/eflags set for 64-bit user mode and the XSAVE
 * area in its initial state (x87 control word 0x37f, MXCSR 0x1f80).
 * Returns 0 and stores the handle in *@out; -EINVAL (NULL args, unknown flags); -ENOMEM.
 */
CV_API int cv_ctx_new(struct cv_platform *p, unsigned flags, struct cv_ctx **out);

/*
 * The context's CPU state; the pointer is valid until cv_ctx_release(). Read and write registers
 * freely between switches. NULL for a NULL handle.
 */
CV_API struct cv_cpu_state *cv_ctx_state(struct cv_ctx *ctx);

enum cv_exit_reason {
	CV_EXIT_SYSCALL = 1,   /* the thread made a system call; see cv_exit.syscall_flags */
	CV_EXIT_SIGNAL = 2,    /* the thread took a fault or a synchronous signal; see cv_exit.info */
	CV_EXIT_INTERRUPT = 3, /* cv_ctx_interrupt() or cv_platform_preempt_all(); may be spurious */
	CV_EXIT_PREEMPTED = 4, /* the CPU was preempted (only where caps.detects_cpu_preemption) */
};

/* Syscall flags. */
#define CV_SYSCALL_COMPAT 1u   /* a 32-bit system call (int $0x80 or, on Intel, sysenter in 32-bit code):
				* the number is in regs.orig_rax, arguments in ebx, ecx, edx, esi, edi, ebp.
				* A syscall or sysenter instruction that the kernel takes through its 32-bit
				* fast path loses its return address there (the kernel resumes at its own vDSO);
				* it is reported as CV_EXIT_SIGNAL SIGILL, ILL_ILLOPN with si_addr NULL and
				* cannot be resumed, where native Linux would jump into its vDSO. */
#define CV_SYSCALL_VSYSCALL 2u /* a call into the legacy vsyscall page: the number (gettimeofday,
				* time, getcpu) is in regs.orig_rax and the platform already emulated the
				* return, so rip/rsp point after the call; put the result in rax */

#define CV_SYSCALL_PATCHABLE 4u /* the site is one cv_as_patch_syscall() rewrites (`mov $nr,%eax;
				 * syscall` and the other shapes it names), which may make it faster */
#define CV_SYSCALL_PATCHED 8u   /* it came through a patched site (no signal) */

/* Fault flags. */
#define CV_FAULT_ACCESS_GUESSED 1u /* the access type could not be decoded and was inferred */

/*
 * Why cv_ctx_switch() returned.
 *
 * For CV_EXIT_SYSCALL, regs.orig_rax holds the system call number and regs.rax is undefined; set rax to
 * the result (a negative errno for failures) and switch again to continue after the instruction.
 *
 * For CV_EXIT_SIGNAL, @info is the full kernel siginfo (si_signo, si_code, si_addr for SIGSEGV, SIGBUS,
 * SIGILL, SIGFPE, SIGTRAP) and regs are those at the faulting instruction (rip points at it, except for
 * traps such as int3, which report the address after it, as Linux does). For SIGSEGV and SIGBUS @access
 * is the access that faulted: CV_ACCESS_READ, CV_ACCESS_WRITE or CV_ACCESS_EXEC (exact, from the
 * faulting instruction, unless CV_FAULT_ACCESS_GUESSED is set in @fault_flags). The signal is not
 * delivered to the application: that is the sentry's job.
 */
struct cv_exit {
	enum cv_exit_reason reason;
	uint32_t syscall_flags; /* CV_SYSCALL_* for CV_EXIT_SYSCALL */
	uint32_t access;        /* CV_ACCESS_* for SIGSEGV/SIGBUS */
	uint32_t fault_flags;   /* CV_FAULT_* */
	siginfo_t info;         /* CV_EXIT_SIGNAL only */
};

/*
 * Run @ctx in address space @as until it needs the sentry, then fill *@exit. @as must belong to the
 * same platform. A context runs on one host thread at a time: calling this concurrently for the same
 * context returns -EBUSY.
 *
 * If cv_ctx_interrupt() was called since the last switch returned, returns at once with
 * CV_EXIT_INTERRUPT without running anything.
 *
 * Returns 0; -EINVAL (NULL args, @as of another platform or released, invalid register values such as
 * a non-canonical fs_base, or an XSAVE area the CPU rejects); -EBUSY; -EXDEV (see CV_CTX_ROAMING);
 * CV_EASDEAD (the address space died; it stays dead); CV_ETAMPERED; -EIO (unexpected host failure).
 */
CV_API int cv_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit);

/*
 * Make the current or next cv_ctx_switch() of @ctx return CV_EXIT_INTERRUPT as soon as possible.
 * Callable from any thread and from signal handlers (async-signal-safe). Several interrupts before the
 * switch returns coalesce into one. Returns 0 or -EINVAL.
 */
CV_API int cv_ctx_interrupt(struct cv_ctx *ctx);

/*
 * Make the whole state, including the XSAVE area, current in cv_ctx_state(). Cheap when it already is.
 * Returns 0; -EINVAL; -EXDEV (see CV_CTX_ROAMING); CV_EASDEAD (the state was lost with its address space;
 * the XSAVE area then holds the last state the sentry saw).
 */
CV_API int cv_ctx_pull_full_state(struct cv_ctx *ctx);

/*
 * Tell the platform the sentry rewrote the XSAVE area (e.g. for sigreturn or execve), so the next switch
 * loads it. Implies the sentry pulled it first or overwrote it completely. Returns 0 or -EINVAL.
 */
CV_API int cv_ctx_full_state_changed(struct cv_ctx *ctx);

/*
 * Hint that @ctx will not run for a while (its thread blocks in the sentry). The platform saves any state
 * it holds lazily, so the context can afterwards be switched from any host thread.
 * Returns 0; -EINVAL; -EXDEV; CV_EASDEAD as cv_ctx_pull_full_state().
 */
CV_API int cv_ctx_prepare_sleep(struct cv_ctx *ctx);

/*
 * Hint that @ctx's host thread is about to wait (a blocking read, a futex, a child): the context will
 * not be switched for a while. Nothing moves, unlike cv_ctx_prepare_sleep(); the platform only stops
 * what it does to have the context back quickly. systrap: the stub thread that polls for its address
 * space's next context (when @ctx is the only context in that address space) stops polling and
 * sleeps, leaving its CPU to whatever the wait is for — another process of the sandbox, say, which a
 * poll there would keep waiting for up to its budget. The next cv_ctx_switch() polls again. Call it
 * from the thread that switches @ctx, while @ctx is not running; cheap (no host call). Returns 0 or
 * -EINVAL.
 */
CV_API int cv_ctx_idle(struct cv_ctx *ctx);

/* Destroy a context that is not running. NULL is a no-op. Returns 0 or -EBUSY (it is running). */
CV_API int cv_ctx_release(struct cv_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif
