// SPDX-License-Identifier: Apache-2.0
// systrap's seccomp programs: the stub process filter, the syscall thread's notification filter and
// the stub threads' filter.
//
// Precedence makes them stack: for each syscall the most restrictive action of all installed filters
// wins (KILL > TRAP > ... > USER_NOTIF > ALLOW). Application code runs only on stub threads, which have
// all three; what the stub's own code may do there is what the narrowest one allows.
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sched.h>
#include "systrap/systrap_internal.h"


#define ST_CLONE_PROCESS (CLONE_FILES | CLONE_PARENT)
#define ST_CLONE_THREAD (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)
#ifndef SYS_mseal
#define SYS_mseal 462
#endif

/*
 * Every stub process: anything not issued from the stub code traps (SIGSYS to the handler, which
 * reports it as the application's syscall; this includes 32-bit syscalls and the vsyscall page).
 * From the stub code, only what the stub does is allowed; anything else kills the stub.
 */
static const struct sock_filter process_tmpl[] = {
	/* 0 */ SF_LD(SD_ARCH),
	/* 1 */ SF_JEQ(AUDIT_ARCH_X86_64, 0, 34),
	/* 2 */ SF_LD(SD_IP_HI),
	/* 3 */ SF_JEQ(0 /* B hi */, 0, 32),
	/* 4 */ SF_LD(SD_IP_LO),
	/* 5 */ SF_JGE(0 /* B lo */, 0, 30),
	/* 6 */ SF_JGE(0 /* B lo + code */, 29, 0),
	/* 7 */ SF_LD(SD_NR),
	/* 8 */ SF_JEQ(SYS_futex, 26, 0),
	/* 9 */ SF_JEQ(SYS_rt_sigreturn, 25, 0),
	/* 10 */ SF_JEQ(SYS_sched_yield, 24, 0),
	/* 11 */ SF_JEQ(SYS_mmap, 23, 0),
	/* 12 */ SF_JEQ(SYS_munmap, 22, 0),
	/* 13 */ SF_JEQ(SYS_mprotect, 21, 0),
	/* 14 */ SF_JEQ(SYS_exit_group, 20, 0),
	/* 15 */ SF_JEQ(SYS_getppid, 19, 0),
	/* 16 */ SF_JEQ(SYS_rt_sigprocmask, 18, 0),
	/* 17 */ SF_JEQ(SYS_sigaltstack, 17, 0),
	/* 18 */ SF_JEQ(SYS_seccomp, 16, 0),
	/* 19 */ SF_JEQ(SYS_mseal, 15, 0),
	/* 20 */ SF_JEQ(SYS_arch_prctl, 14, 0),
	/* 21 */ SF_JEQ(ST_DOORBELL_NR, 13, 0),
	/* 22 */ SF_JEQ(SYS_clone, 6, 0),
	/* 23 */ SF_JEQ(SYS_prctl, 1, 0),
	/* 24 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
	/* prctl: PR_SET_PDEATHSIG and syscall user dispatch only */
	/* 25 */ SF_LD(SD_ARG_LO(0)),
	/* 26 */ SF_JEQ(PR_SET_PDEATHSIG, 8, 0),
	/* 27 */ SF_JEQ(59 /* PR_SET_SYSCALL_USER_DISPATCH */, 7, 0),
	/* 28 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
	/* clone: exactly a new stub or a new stub thread */
	/* 29 */ SF_LD(SD_ARG_LO(0)),
	/* 30 */ SF_JEQ(ST_CLONE_PROCESS, 4, 0),
	/* 31 */ SF_JEQ(ST_CLONE_THREAD, 3, 0),
	/* 32 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
	/* 33 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
	/* 34 */ SF_RET(SECCOMP_RET_ALLOW), /* (unused) */
	/* 35 */ SF_RET(SECCOMP_RET_ALLOW),
	/* 36 */ SF_RET(SECCOMP_RET_TRAP),
};

/* The syscall thread's own filter: its doorbell becomes a notification for the sentry. */
static const struct sock_filter notif_tmpl[] = {
	SF_LD(SD_NR),
	SF_JEQ(ST_DOORBELL_NR, 0, 1),
	SF_RET(SECCOMP_RET_USER_NOTIF),
	SF_RET(SECCOMP_RET_ALLOW),
};

/*
 * Stub threads, which run application code: from the stub code only futex (on the stub's own shared
 * pages), rt_sigreturn, sched_yield, the doorbell (to park: the notification filter they inherit from
 * the syscall thread turns it into a notification) and arch_prctl for fs/gs base (used without
 * FSGSBASE); everything
 * else from there kills the stub, everything from elsewhere traps. arch_prctl is narrowed because an
 * application can jump to the stub's own syscall instruction: ARCH_SET_CPUID would turn CPUID faulting
 * off, ARCH_REQ_XCOMP_PERM would enable AMX state the slots do not hold, ARCH_MAP_VDSO_* would map code.
 */
static const struct sock_filter thread_tmpl[] = {
	/* 0 */ SF_LD(SD_ARCH),
	/* 1 */ SF_JEQ(AUDIT_ARCH_X86_64, 0, 23),
	/* 2 */ SF_LD(SD_IP_HI),
	/* 3 */ SF_JEQ(0 /* B hi */, 0, 21),
	/* 4 */ SF_LD(SD_IP_LO),
	/* 5 */ SF_JGE(0 /* B lo */, 0, 19),
	/* 6 */ SF_JGE(0 /* B lo + code */, 18, 0),
	/* 7 */ SF_LD(SD_NR),
	/* 8 */ SF_JEQ(SYS_rt_sigreturn, 15, 0),
	/* 9 */ SF_JEQ(SYS_sched_yield, 14, 0),
	/* 10 */ SF_JEQ(ST_DOORBELL_NR, 13, 0),
	/* 11 */ SF_JEQ(SYS_arch_prctl, 2, 0),
	/* 12 */ SF_JEQ(SYS_futex, 5, 0),
	/* 13 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
	/* arch_prctl: ARCH_SET_GS, ARCH_SET_FS, ARCH_GET_FS, ARCH_GET_GS only (an int option) */
	/* 14 */ SF_LD(SD_ARG_LO(0)),
	/* 15 */ SF_JGE(0x1001, 0, 1),
	/* 16 */ SF_JGT(0x1004, 0, 7),
	/* 17 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
	/* futex: the word must lie at or above B */
	/* 18 */ SF_LD(SD_ARG_HI(0)),
	/* 19 */ SF_JGT(0 /* B hi */, 4, 0),
	/* 20 */ SF_JEQ(0 /* B hi */, 0, 2),
	/* 21 */ SF_LD(SD_ARG_LO(0)),
	/* 22 */ SF_JGE(0 /* B lo */, 1, 0),
	/* 23 */ SF_RET(SECCOMP_RET_KILL_PROCESS),
	/* 24 */ SF_RET(SECCOMP_RET_ALLOW), /* (the doorbell: the inherited filter makes it a notification) */
	/* 25 */ SF_RET(SECCOMP_RET_TRAP),
};

static void patch_range(struct sock_filter *f, uint64_t base, uint64_t code_size)
{
	f[3].k = (uint32_t)(base >> 32);
	f[5].k = (uint32_t)base;
	f[6].k = (uint32_t)(base + code_size);
}

int st_build_filters(struct st_globals *g, uint64_t base, uint64_t code_size, struct sock_fprog *process_prog,
		     void *process_buf, size_t process_max)
{
	_Static_assert(sizeof(notif_tmpl) <= sizeof(g->notif_filter), "notification filter too long");
	_Static_assert(sizeof(thread_tmpl) <= sizeof(g->thread_filter), "thread filter too long");
	if (sizeof(process_tmpl) > process_max || (uint32_t)(base + code_size) < (uint32_t)base)
		return -EINVAL;
	struct sock_filter *pf = process_buf;
	memcpy(pf, process_tmpl, sizeof(process_tmpl));
	patch_range(pf, base, code_size);
	process_prog->len = ARRAY_SIZE(process_tmpl);
	process_prog->filter = pf;

	memcpy(g->notif_filter, notif_tmpl, sizeof(notif_tmpl));
	g->notif_prog.len = ARRAY_SIZE(notif_tmpl);
	g->notif_prog.filter = base + ST_GLOBALS_OFF + offsetof(struct st_globals, notif_filter);

	struct sock_filter *tf = (struct sock_filter *)g->thread_filter;
	memcpy(tf, thread_tmpl, sizeof(thread_tmpl));
	patch_range(tf, base, code_size);
	tf[19].k = tf[20].k = (uint32_t)(base >> 32);
	tf[22].k = (uint32_t)base;
	g->thread_prog.len = ARRAY_SIZE(thread_tmpl);
	g->thread_prog.filter = base + ST_GLOBALS_OFF + offsetof(struct st_globals, thread_filter);
	return 0;
}
