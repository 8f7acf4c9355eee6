// SPDX-License-Identifier: Apache-2.0
// Entry points of the syscall table (systable.c) for tasks, processes and signals: the small ones in
// full, the others unpacking the registers for process.c (fork, exec, wait, groups), wait.c (poll,
// select, epoll) and signal.c, which hold the work.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include "../sentry.h"
#include "../systable.h"

long sc_getppid(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	pthread_mutex_lock(&pr->s->lock);
	long ret = pr->parent ? pr->parent->pid : 0;
	pthread_mutex_unlock(&pr->s->lock);
	return ret;
}

long sc_set_tid_address(struct task *t, const uint64_t a[6])
{
	t->clear_child_tid = a[0];
	return t->tid;
}

long sc_set_robust_list(struct task *t, const uint64_t a[6])
{
	if (a[1] != 24) /* the head's size is the ABI's (next, futex_offset, list_op_pending) */
		return -EINVAL;
	t->robust_head = a[0];
	return 0;
}

/* exit and exit_group: the task (or its whole group) ends with status @a[0]. */
long sc_exit(struct task *t, const uint64_t a[6])
{
	t->exit_code = (int)(a[0] & 0xff) << 8;
	t->ends_group = false;
	return SYSCALL_TASK_ENDS;
}

long sc_exit_group(struct task *t, const uint64_t a[6])
{
	t->exit_code = (int)(a[0] & 0xff) << 8;
	t->ends_group = true;
	return SYSCALL_TASK_ENDS;
}

long sc_rt_sigreturn(struct task *t, const uint64_t a[6])
{
	long ret = sig_return(t);
	if (ret == -EFAULT && t->st->regs.rsp) { /* a bad frame kills, as on Linux */
		t->exit_code = SIGSEGV;
		t->ends_group = true;
		return SYSCALL_TASK_ENDS;
	}
	return ret;
}

long sc_rt_sigpending(struct task *t, const uint64_t a[6])
{
	uint64_t p = t->pending & t->blocked;
	return a[1] != 8 ? -EINVAL : mm_copy_out(t->proc, a[0], &p, 8);
}

SYSCALL_ENTRY(sched_yield, 0)

long sc_seccomp(struct task *t, const uint64_t a[6])
{
	return -EINVAL; /* no filters of the application's own */
}

long sc_rseq(struct task *t, const uint64_t a[6])
{
	return -ENOSYS; /* glibc runs without it; a handler, so it is not reported as missing */
}

/* The rest: the registers unpacked. */

SYSCALL_ENTRY(poll, sys_poll(t, a[0], a[1], (int64_t)(int32_t)a[2], 0, false))
SYSCALL_ENTRY(ppoll, sys_ppoll(t, a[0], a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(select, sys_oldselect(t, a[0], a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(pselect6, sys_pselect6(t, a[0], a[1], a[2], a[3], a[4], a[5]))
SYSCALL_ENTRY(epoll_ctl, sys_epoll_ctl(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(epoll_wait, sys_epoll_wait(t, a[0], a[1], a[2], (int64_t)(int32_t)a[3], 0, 0))
SYSCALL_ENTRY(epoll_pwait, sys_epoll_wait(t, a[0], a[1], a[2], (int64_t)(int32_t)a[3], a[4], a[5]))
SYSCALL_ENTRY(setpgid, do_setpgid(t, (int32_t)a[0], (int32_t)a[1]))
SYSCALL_ENTRY(getpgid, do_getpgid(t, (int32_t)a[0], false))
SYSCALL_ENTRY(getpgrp, do_getpgid(t, 0, false))
SYSCALL_ENTRY(getsid, do_getpgid(t, (int32_t)a[0], true))
SYSCALL_ENTRY(setsid, do_setsid(t))
SYSCALL_ENTRY(fork, do_fork(t, SIGCHLD, 0, 0, 0, 0))
SYSCALL_ENTRY(vfork, do_fork(t, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0))
SYSCALL_ENTRY(clone, do_fork(t, a[0], a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(clone3, do_clone3(t, a[0], a[1]))
SYSCALL_ENTRY(execve, do_execveat(t, AT_FDCWD, a[0], a[1], a[2], 0))
SYSCALL_ENTRY(execveat, do_execveat(t, (int64_t)(int32_t)a[0], a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(wait4, do_wait4(t, (int64_t)(int32_t)a[0], a[1], a[2]))
SYSCALL_ENTRY(waitid, do_waitid(t, a[0], a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(rt_sigaction, sig_action(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(rt_sigprocmask, sig_procmask(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(sigaltstack, sig_altstack(t, a[0], a[1]))
SYSCALL_ENTRY(rt_sigsuspend, sig_suspend(t, a[0], a[1]))
SYSCALL_ENTRY(rt_sigtimedwait, sig_timedwait(t, a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(rt_sigqueueinfo, sig_queueinfo(t, (int32_t)a[0], 0, a[1], a[2]))
SYSCALL_ENTRY(rt_tgsigqueueinfo, sig_queueinfo(t, (int32_t)a[0], (int32_t)a[1], a[2], a[3]))
SYSCALL_ENTRY(pause, sig_sleep(t, NULL))
SYSCALL_ENTRY(kill, sig_kill(t, (int32_t)a[0], 0, a[1], SI_USER))
SYSCALL_ENTRY(ptrace, sys_ptrace(t, a[0], (int64_t)a[1], a[2], a[3]))
SYSCALL_ENTRY(process_vm_readv, sys_process_vm(t, (int64_t)a[0], a[1], a[2], a[3], a[4], a[5], false))
SYSCALL_ENTRY(process_vm_writev, sys_process_vm(t, (int64_t)a[0], a[1], a[2], a[3], a[4], a[5], true))
SYSCALL_ENTRY(tkill, (int32_t)a[0] <= 0 ? -EINVAL : sig_kill(t, 0, (int32_t)a[0], a[1], SI_TKILL))

long sc_tgkill(struct task *t, const uint64_t a[6])
{
	if ((int32_t)a[0] <= 0 || (int32_t)a[1] <= 0)
		return -EINVAL;
	return sig_kill(t, (int32_t)a[0], (int32_t)a[1], a[2], SI_TKILL);
}

SYSCALL_ENTRY(getpid, t->proc->pid)
SYSCALL_ENTRY(gettid, t->tid)
