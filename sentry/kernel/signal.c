// SPDX-License-Identifier: Apache-2.0
// Signals: actions, masks, queues, delivery on x86-64 rt_sigframes with the XSAVE state, sigreturn.
#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include "../sentry.h"

/* The kernel's x86-64 ucontext (glibc's ucontext_t has a larger sigmask, so it cannot be used). */
struct kucontext {
	uint64_t uc_flags;
	uint64_t uc_link;
	uint64_t ss_sp;
	int32_t ss_flags, pad;
	uint64_t ss_size;
	/* struct sigcontext */
	uint64_t r8, r9, r10, r11, r12, r13, r14, r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags;
	uint16_t cs, gs, fs, ss;
	uint64_t err, trapno, oldmask, cr2, fpstate;
	uint64_t reserved[8];
	uint64_t uc_sigmask;
};

struct rt_sigframe {
	uint64_t pretcode;
	struct kucontext uc;
	siginfo_t info;
};

_Static_assert(sizeof(struct kucontext) == 304, "kernel ucontext layout");
_Static_assert(sizeof(struct rt_sigframe) == 440, "kernel rt_sigframe layout");

#define UC_FP_XSTATE 0x1
#define UC_SIGCONTEXT_SS 0x2
#define UC_STRICT_RESTORE_SS 0x4
#ifndef FP_XSTATE_MAGIC1
#define FP_XSTATE_MAGIC1 0x46505853u
#define FP_XSTATE_MAGIC2 0x46505845u
#endif
#ifndef SS_AUTODISARM
#define SS_AUTODISARM (1u << 31)
#endif
#define SIG_BIT(sig) (1ull << ((sig) - 1))
#define UNBLOCKABLE (SIG_BIT(SIGKILL) | SIG_BIT(SIGSTOP))

enum dfl { DFL_TERM, DFL_IGNORE, DFL_STOP };

static enum dfl default_action(int sig)
{
	switch (sig) {
	case SIGCHLD:
	case SIGURG:
	case SIGWINCH:
	case SIGCONT: /* its effect (jobctl.c) happens when it is generated */
		return DFL_IGNORE;
	case SIGSTOP:
	case SIGTSTP:
	case SIGTTIN:
	case SIGTTOU:
		return DFL_STOP;
	default:
		return DFL_TERM;
	}
}

long sig_action(struct task *t, uint64_t sig, uint64_t uact, uint64_t uold, uint64_t size)
{
	struct process *pr = t->proc;
	if (size != 8 || sig < 1 || sig > 64)
		return -EINVAL;
	struct ksigaction old = pr->actions[sig - 1], nw;
	if (uact) {
		if (sig == SIGKILL || sig == SIGSTOP)
			return -EINVAL;
		if (mm_copy_in(pr, uact, &nw, sizeof(nw)) < 0)
			return -EFAULT;
	}
	if (uold && mm_copy_out(pr, uold, &old, sizeof(old)) < 0)
		return -EFAULT;
	if (uact) {
		nw.mask &= ~UNBLOCKABLE;
		pr->actions[sig - 1] = nw;
	}
	return 0;
}

long sig_procmask(struct task *t, uint64_t how, uint64_t uset, uint64_t uold, uint64_t size)
{
	if (size != 8)
		return -EINVAL;
	uint64_t set, old = t->blocked;
	if (uset) {
		if (mm_copy_in(t->proc, uset, &set, 8) < 0)
			return -EFAULT;
		if (how == SIG_BLOCK)
			t->blocked |= set;
		else if (how == SIG_UNBLOCK)
			t->blocked &= ~set;
		else if (how == SIG_SETMASK)
			t->blocked = set;
		else
			return -EINVAL;
		t->blocked &= ~UNBLOCKABLE;
	}
	if (uold && mm_copy_out(t->proc, uold, &old, 8) < 0)
		return -EFAULT;
	return 0;
}

long sig_altstack(struct task *t, uint64_t uss, uint64_t uold)
{
	stack_t ss, old = { .ss_sp = (void *)t->altstack_sp, .ss_size = t->altstack_size,
			    .ss_flags = t->altstack_size ? 0 : SS_DISABLE };
	if (t->altstack_size && t->st->regs.rsp - t->altstack_sp < t->altstack_size)
		old.ss_flags = SS_ONSTACK;
	if (uss) {
		if (old.ss_flags == SS_ONSTACK)
			return -EPERM;
		if (mm_copy_in(t->proc, uss, &ss, sizeof(ss)) < 0)
			return -EFAULT;
		if ((unsigned)ss.ss_flags & ~(unsigned)(SS_DISABLE | SS_AUTODISARM))
			return -EINVAL;
		if (ss.ss_flags & SS_DISABLE) {
			t->altstack_sp = t->altstack_size = 0;
		} else {
			if (ss.ss_size < (size_t)MINSIGSTKSZ)
				return -ENOMEM;
			t->altstack_sp = (uint64_t)ss.ss_sp;
			t->altstack_size = ss.ss_size;
		}
	}
	if (uold && mm_copy_out(t->proc, uold, &old, sizeof(old)) < 0)
		return -EFAULT;
	return 0;
}

/* Linux drops a signal whose action is to ignore it when it is generated, unless it is blocked (the
 * action may change before it is unblocked): it never interrupts anything. */
static bool ignored_now(const struct task *t, int sig)
{
	if ((__atomic_load_n(&t->blocked, __ATOMIC_RELAXED) | t->real_blocked) & SIG_BIT(sig))
		return false; /* blocked, or blocked before an rt_sigtimedwait lowered the mask for it */
	if (t->pt.tracer)
		return false; /* a tracer sees even ignored signals */
	uint64_t h = t->proc->actions[sig - 1].handler;
	return h == (uint64_t)SIG_IGN || (h == (uint64_t)SIG_DFL && default_action(sig) == DFL_IGNORE);
}

/*
 * A container's first process is its pid namespace's init (opts.oci), with Linux's SIGNAL_UNKILLABLE
 * rules (kernel/signal.c sig_task_ignored, get_signal): a signal whose action is the default one is
 * dropped — when generated, and again when taken (it may have been queued while a handler was set) —
 * except SIGKILL and SIGSTOP sent from outside the sandbox (its host side, si_pid 0: an ancestor
 * namespace) or by the kernel (SI_KERNEL). Faults still kill it (sig_fault), as force_sig does.
 */
static bool init_drops(const struct process *pr, int sig, const siginfo_t *info)
{
	if (!pr->s->opts.oci || pr->pid != 1 || pr->actions[sig - 1].handler != (uint64_t)SIG_DFL)
		return false;
	bool forced = info && (info->si_code == SI_KERNEL || (info->si_code == SI_USER && info->si_pid == 0));
	return !(forced && (sig == SIGKILL || sig == SIGSTOP));
}

void sig_queue_locked(struct task *t, int sig, const siginfo_t *info)
{
	jobctl_generated(t->proc, sig); /* SIGCONT resumes, even blocked or ignored */
	if (init_drops(t->proc, sig, info))
		return;
	if (sig != SIGKILL && ignored_now(t, sig))
		return;
	if (!(t->pending & SIG_BIT(sig))) { /* standard signals do not queue twice */
		t->pending |= SIG_BIT(sig);
		t->pinfo[sig - 1] = *info;
	}
	if (t->proc->sigfds)
		sigfd_signalled(t->proc);
	pthread_cond_broadcast(&t->proc->s->changed); /* a wait4 in progress returns EINTR */
	if (!t->exited)
		task_kick(t); /* it may be running application code or waiting on host fds: make it look */
}

void sig_queue(struct task *t, int sig, const siginfo_t *info)
{
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	sig_queue_locked(t, sig, info);
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s); /* or sleeping in a futex wait */
}

/* Which thread of @p takes process-directed signal @sig: as Linux, the main thread unless it blocks
 * it, else a thread that does not, else the main thread (where it stays pending). s->lock held. */
static struct task *process_target(struct process *p, uint64_t sig)
{
	struct task *main = NULL, *any = NULL, *open = NULL;
	uint64_t bit = sig ? SIG_BIT(sig) : 0;
	for (struct task *o = p->tasks; o; o = o->next) {
		if (o->exited)
			continue;
		if (o->tid == p->pid)
			main = o;
		any = o;
		if (!(__atomic_load_n(&o->blocked, __ATOMIC_RELAXED) & bit) && (!open || o == main))
			open = o;
	}
	if (main && !(__atomic_load_n(&main->blocked, __ATOMIC_RELAXED) & bit))
		return main;
	return open ? open : main ? main : any;
}

void sig_process_locked(struct process *p, int sig, const siginfo_t *info)
{
	struct task *t = process_target(p, (uint64_t)sig);
	if (t)
		sig_queue_locked(t, sig, info);
}

int sig_kill(struct task *t, int64_t pid, int64_t tid, uint64_t sig, int code)
{
	siginfo_t info = { .si_signo = (int)sig, .si_code = code };
	info.si_pid = t->proc->pid;
	return sig_send(t, pid, tid, sig, &info);
}

int sig_send(struct task *t, int64_t pid, int64_t tid, uint64_t sig, const siginfo_t *info)
{
	struct sentry *s = t->proc->s;
	if (sig > 64)
		return -EINVAL;
	struct task *targets[256];
	int n = 0;
	pthread_mutex_lock(&s->lock);
	int64_t group = tid > 0 ? 0 : pid == 0 ? t->proc->pgid : pid < -1 ? -pid : 0;
	for (struct process *p = s->procs; p; p = p->next) {
		if (p->zombie)
			continue;
		if (pid > 0 && p->pid != pid)
			continue;
		if (group && p->pgid != group)
			continue;
		if (pid == -1 && tid <= 0 && (p == t->proc || p->pid == 1)) /* all but itself and init */
			continue;
		if (tid <= 0) { /* process-directed: one thread takes it */
			struct task *o = process_target(p, sig);
			if (o && n < 256)
				targets[n++] = o;
			continue;
		}
		for (struct task *o = p->tasks; o && n < 256; o = o->next)
			if (!o->exited && o->tid == tid)
				targets[n++] = o;
	}
	pthread_mutex_unlock(&s->lock);
	if (n == 0)
		return -ESRCH;
	if (sig == 0)
		return 0;
	for (int i = 0; i < n; i++)
		sig_queue(targets[i], (int)sig, info);
	return 0;
}

/* Build the handler's frame; 0, or -EFAULT when the stack is unusable (then the process dies). */
static int setup_frame(struct task *t, int sig, const siginfo_t *info, const struct ksigaction *act)
{
	struct process *pr = t->proc;
	struct cv_regs *r = &t->st->regs;
	if (cv_ctx_pull_full_state(t->ctx) < 0)
		return -EFAULT;
	uint64_t sp = r->rsp;
	bool on_alt = t->altstack_size && sp - t->altstack_sp < t->altstack_size;
	if ((act->flags & SA_ONSTACK) && t->altstack_size && !on_alt)
		sp = t->altstack_sp + t->altstack_size;
	else
		sp -= 128; /* the red zone */
	uint32_t xsize = t->st->xsave_size;
	uint64_t fp = (sp - xsize - 4) & ~63ull; /* XSAVE image, then FP_XSTATE_MAGIC2 */
	uint64_t frame = ((fp - sizeof(struct rt_sigframe)) & ~15ull) - 8;

	struct rt_sigframe f;
	memset(&f, 0, sizeof(f));
	f.pretcode = act->restorer;
	f.info = *info;
	f.uc.uc_flags = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
	f.uc.ss_sp = t->altstack_sp;
	f.uc.ss_size = t->altstack_size;
	f.uc.ss_flags = t->altstack_size ? (on_alt ? SS_ONSTACK : 0) : SS_DISABLE;
	f.uc.r8 = r->r8, f.uc.r9 = r->r9, f.uc.r10 = r->r10, f.uc.r11 = r->r11;
	f.uc.r12 = r->r12, f.uc.r13 = r->r13, f.uc.r14 = r->r14, f.uc.r15 = r->r15;
	f.uc.rdi = r->rdi, f.uc.rsi = r->rsi, f.uc.rbp = r->rbp, f.uc.rbx = r->rbx;
	f.uc.rdx = r->rdx, f.uc.rax = r->rax, f.uc.rcx = r->rcx, f.uc.rsp = r->rsp;
	f.uc.rip = r->rip, f.uc.eflags = r->eflags;
	f.uc.cs = (uint16_t)r->cs, f.uc.ss = (uint16_t)r->ss;
	f.uc.trapno = (uint64_t)(sig == SIGSEGV ? 14 : 0);
	f.uc.cr2 = sig == SIGSEGV || sig == SIGBUS ? (uint64_t)info->si_addr : 0;
	f.uc.fpstate = fp;
	f.uc.uc_sigmask = t->has_saved_mask ? t->saved_mask : t->blocked; /* sigsuspend's caller mask */
	t->has_saved_mask = false;

	/* The XSAVE image with the software-reserved words sigreturn checks (struct _fpx_sw_bytes). */
	uint8_t *img = malloc(xsize + 4);
	if (!img)
		return -EFAULT;
	memcpy(img, t->st->xsave, xsize);
	uint32_t sw[12] = { FP_XSTATE_MAGIC1, xsize + 4, (uint32_t)t->st->xfeatures,
			    (uint32_t)(t->st->xfeatures >> 32), xsize };
	memcpy(img + 464, sw, sizeof(sw));
	uint32_t magic2 = FP_XSTATE_MAGIC2;
	memcpy(img + xsize, &magic2, 4);
	int ret = mm_copy_out(pr, fp, img, xsize + 4);
	free(img);
	if (ret == 0)
		ret = mm_copy_out(pr, frame, &f, sizeof(f));
	if (ret < 0)
		return -EFAULT;

	r->rsp = frame;
	r->rip = act->handler;
	r->rdi = (uint64_t)sig;
	r->rsi = frame + offsetof(struct rt_sigframe, info);
	r->rdx = frame + offsetof(struct rt_sigframe, uc);
	r->rax = 0;
	r->eflags &= ~(uint64_t)(0x400 | 0x100); /* DF and TF clear for the handler */
	t->blocked |= act->mask;
	if (!(act->flags & SA_NODEFER))
		t->blocked |= SIG_BIT(sig);
	t->blocked &= ~UNBLOCKABLE;
	return 0;
}

long sig_return(struct task *t)
{
	struct process *pr = t->proc;
	struct cv_regs *r = &t->st->regs;
	struct rt_sigframe f;
	uint64_t frame = r->rsp - 8; /* the handler's ret popped pretcode */
	if (mm_copy_in(pr, frame, &f, sizeof(f)) < 0)
		return -EFAULT;
	/* The frame of a handler that interrupted a restartable syscall with SA_RESTART: the syscall runs
	 * again once the registers are back (frames deeper than it were left by longjmp). */
	for (int i = t->n_restarts - 1; i >= 0; i--)
		if (t->restarts[i].frame == frame) {
			t->restart_now = true;
			r->orig_rax = t->restarts[i].nr;
			t->n_restarts = i;
			break;
		}
	r->r8 = f.uc.r8, r->r9 = f.uc.r9, r->r10 = f.uc.r10, r->r11 = f.uc.r11;
	r->r12 = f.uc.r12, r->r13 = f.uc.r13, r->r14 = f.uc.r14, r->r15 = f.uc.r15;
	r->rdi = f.uc.rdi, r->rsi = f.uc.rsi, r->rbp = f.uc.rbp, r->rbx = f.uc.rbx;
	r->rdx = f.uc.rdx, r->rax = f.uc.rax, r->rcx = f.uc.rcx, r->rsp = f.uc.rsp;
	r->rip = f.uc.rip;
	/* Only the arithmetic and direction flags come from the frame, as on Linux. */
	r->eflags = (r->eflags & ~0xdd5ull) | (f.uc.eflags & 0xdd5ull);
	r->cs = f.uc.cs == CV_USER32_CS ? CV_USER32_CS : CV_USER_CS;
	t->blocked = f.uc.uc_sigmask & ~UNBLOCKABLE;
	if (f.uc.fpstate) {
		uint32_t xsize = t->st->xsave_size;
		uint8_t *img = malloc(xsize);
		if (!img || mm_copy_in(pr, f.uc.fpstate, img, xsize) < 0) {
			free(img);
			return -EFAULT;
		}
		memset(img + 464, 0, 48); /* the software-reserved words are ours, not state */
		memcpy(t->st->xsave, img, xsize);
		free(img);
		cv_ctx_full_state_changed(t->ctx); /* a bad image makes the next switch fail: SIGSEGV below */
	}
	return (long)r->rax; /* the syscall "returns" the interrupted rax */
}

int sig_deliver(struct task *t)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	bool no_handler = false; /* a signal was taken that ran no handler: a stop, or one ignored now */
	for (;;) {
		jobctl_park(t); /* while the process is stopped (only SIGKILL gets through) */
		if (t->pt.tracer && ptrace_pending_stops(t))
			no_handler = true;
		pthread_mutex_lock(&s->lock);
		uint64_t ready = t->pending & ~t->blocked;
		if (!ready) {
			pthread_mutex_unlock(&s->lock);
			/* As Linux, a restartable call interrupted by a signal that ran no handler starts again
			 * (after a stop and SIGCONT, cat goes on reading); else the EINTR stands. */
			t->restart_now = no_handler && t->interrupted_nr;
			t->interrupted_nr = 0;
			return 0;
		}
		int sig = __builtin_ctzll(ready) + 1;
		siginfo_t info = t->pinfo[sig - 1];
		t->pending &= ~SIG_BIT(sig);
		pthread_mutex_unlock(&s->lock);
		if (t->pt.tracer && sig != SIGKILL) { /* signal-delivery-stop: the tracer decides */
			sig = ptrace_signal_stop(t, &info);
			if (!sig) {
				no_handler = true;
				continue;
			}
			if (t->blocked & SIG_BIT(sig)) { /* a blocked signal waits in the queue */
				sig_queue(t, sig, &info);
				continue;
			}
		}
		struct ksigaction act = pr->actions[sig - 1];
		if (act.handler == (uint64_t)SIG_IGN || (act.handler == (uint64_t)SIG_DFL && default_action(sig) == DFL_IGNORE)) {
			no_handler = true;
			continue;
		}
		if (act.handler == (uint64_t)SIG_DFL && sig != SIGKILL && sig != SIGSTOP && pr->s->opts.oci && pr->pid == 1) {
			no_handler = true; /* an init takes no default action it did not ask for (init_drops) */
			continue;
		}
		if (act.handler == (uint64_t)SIG_DFL && default_action(sig) == DFL_STOP) {
			jobctl_stop(t, sig); /* parks at the top of the loop (or discarded: orphaned group) */
			no_handler = true;
			continue;
		}
		if (act.handler == (uint64_t)SIG_DFL || sig == SIGKILL)
			return sig;
		if (setup_frame(t, sig, &info, &act) < 0)
			return SIGSEGV; /* no room for the frame: as Linux, the process dies */
		if (t->interrupted_nr && (act.flags & SA_RESTART)) { /* restarted when the handler returns */
			if (t->n_restarts == 4) {
				memmove(&t->restarts[0], &t->restarts[1], 3 * sizeof(t->restarts[0]));
				t->n_restarts = 3;
			}
			t->restarts[t->n_restarts].frame = t->st->regs.rsp;
			t->restarts[t->n_restarts++].nr = t->interrupted_nr - 1;
		}
		t->interrupted_nr = 0;
		if (act.flags & SA_RESETHAND)
			pr->actions[sig - 1].handler = (uint64_t)SIG_DFL;
		return 0;
	}
}

bool sig_restartable(uint64_t nr, const uint64_t a[6])
{
	switch (nr) {
	case SYS_read: case SYS_readv: case SYS_pread64: case SYS_preadv: case SYS_preadv2:
	case SYS_write: case SYS_writev: case SYS_pwrite64: case SYS_pwritev: case SYS_pwritev2:
	case SYS_recvfrom: case SYS_recvmsg: case SYS_sendto: case SYS_sendmsg:
	case SYS_accept: case SYS_accept4: case SYS_wait4: case SYS_waitid: case SYS_flock:
	case SYS_open: case SYS_openat: case SYS_openat2: case SYS_ioctl:
	case SYS_sendfile: case SYS_splice: case SYS_tee: case SYS_copy_file_range:
		return true;
	case SYS_fcntl:
		return a[1] == F_SETLKW || a[1] == F_OFD_SETLKW;
	case SYS_futex: /* a wait without a timeout (with one, Linux returns EINTR to a handler) */
		return ((a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT || (a[1] & FUTEX_CMD_MASK) == FUTEX_WAIT_BITSET) && !a[3];
	default:
		return false;
	}
}

int sig_fault(struct task *t, const siginfo_t *info)
{
	int sig = info->si_signo;
	struct ksigaction act = t->proc->actions[sig - 1];
	/* A synchronous fault while that signal is blocked or ignored kills, as force_sig does. */
	if ((t->blocked & SIG_BIT(sig)) || act.handler == (uint64_t)SIG_IGN || act.handler == (uint64_t)SIG_DFL)
		return sig;
	if (setup_frame(t, sig, info, &act) < 0)
		return SIGSEGV;
	if (act.flags & SA_RESETHAND)
		t->proc->actions[sig - 1].handler = (uint64_t)SIG_DFL;
	return 0;
}

bool sig_interrupting(struct task *t)
{
	struct task *ex = __atomic_load_n(&t->proc->exec_task, __ATOMIC_ACQUIRE);
	return (ex && ex != t) || (__atomic_load_n(&t->pending, __ATOMIC_ACQUIRE) & ~t->blocked) != 0 ||
	       __atomic_load_n(&t->pt.interrupt, __ATOMIC_RELAXED) || /* PTRACE_INTERRUPT stops it */
	       __atomic_load_n(&t->pt.trap_notify, __ATOMIC_RELAXED); /* and a SIGCONT while seized */
}

/* Block until a signal is deliverable or the deadline (CLOCK_MONOTONIC; NULL: none) passes.
 * 0 on timeout, -EINTR when a signal (or the end of the process or sandbox) woke us. */
long sig_sleep(struct task *t, const struct timespec *deadline)
{
	struct sentry *s = t->proc->s;
	long ret = 0;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		if (sig_interrupting(t) || s->shutting_down || t->proc->group_exit) {
			ret = -EINTR;
			break;
		}
		if (deadline) {
			cpu_block_begin(t);
			int w = pthread_cond_timedwait(&s->changed, &s->lock, deadline);
			cpu_block_end(t);
			if (w == ETIMEDOUT)
				break;
		} else {
			cpu_block_begin(t);
			pthread_cond_wait(&s->changed, &s->lock);
			cpu_block_end(t);
		}
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

long sig_nap(struct task *t, long ns)
{
	struct timespec d;
	clock_gettime(CLOCK_MONOTONIC, &d);
	d.tv_sec += (d.tv_nsec + ns) / 1000000000;
	d.tv_nsec = (d.tv_nsec + ns) % 1000000000;
	return sig_sleep(t, &d);
}

long sig_suspend(struct task *t, uint64_t umask, uint64_t size)
{
	uint64_t mask;
	if (size != 8)
		return -EINVAL;
	if (mm_copy_in(t->proc, umask, &mask, 8) < 0)
		return -EFAULT;
	t->saved_mask = t->blocked;
	t->has_saved_mask = true;
	t->blocked = mask & ~UNBLOCKABLE;
	sig_sleep(t, NULL);
	return -EINTR; /* the caller's mask comes back with the handler's sigreturn (or right after) */
}

void sig_restore_suspend_mask(struct task *t)
{
	if (t->has_saved_mask) { /* no handler ran: sigsuspend returns with the old mask */
		t->blocked = t->saved_mask;
		t->has_saved_mask = false;
	}
}

/*
 * rt_sigqueueinfo (tid 0) and rt_tgsigqueueinfo: a signal with the caller's siginfo. As in Linux, a
 * process may not pose as the kernel or kill(2) towards another (si_code >= 0 or SI_TKILL).
 */
long sig_queueinfo(struct task *t, int64_t pid, int64_t tid, uint64_t sig, uint64_t uinfo)
{
	siginfo_t info;
	if (mm_copy_in(t->proc, uinfo, &info, sizeof(info)) < 0)
		return -EFAULT;
	bool self = pid == t->proc->pid && (tid == 0 || tid == t->tid);
	if ((info.si_code >= 0 || info.si_code == SI_TKILL) && !self)
		return -EPERM;
	info.si_signo = (int)sig;
	if (tid == 0 && pid <= 0)
		return -ESRCH; /* one process by pid, never a group */
	if (tid != 0 && (pid <= 0 || tid <= 0))
		return -EINVAL;
	return sig_send(t, pid, tid, sig, &info);
}

/*
 * rt_sigtimedwait: take a pending signal of @uset, waiting for one until the timeout. The set is
 * unblocked for the wait (so such signals reach this task and are not dropped as ignored), a signal
 * outside it that gets delivered ends the wait with EINTR.
 */
long sig_timedwait(struct task *t, uint64_t uset, uint64_t uinfo, uint64_t uts, uint64_t size)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	uint64_t set;
	struct timespec ts, deadline;
	if (size != 8)
		return -EINVAL;
	if (mm_copy_in(pr, uset, &set, 8) < 0 || (uts && mm_copy_in(pr, uts, &ts, sizeof(ts)) < 0))
		return -EFAULT;
	if (uts && (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000))
		return -EINVAL;
	set &= ~UNBLOCKABLE;
	if (uts) {
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += ts.tv_sec + (deadline.tv_nsec + ts.tv_nsec) / 1000000000;
		deadline.tv_nsec = (deadline.tv_nsec + ts.tv_nsec) % 1000000000;
	}
	long slept = 0;
	for (int round = 0;; round++) {
		pthread_mutex_lock(&s->lock);
		uint64_t ready = t->pending & set;
		if (ready) {
			int sig = __builtin_ctzll(ready) + 1;
			siginfo_t info = t->pinfo[sig - 1];
			t->pending &= ~SIG_BIT(sig);
			pthread_mutex_unlock(&s->lock);
			if (uinfo && mm_copy_out(pr, uinfo, &info, sizeof(info)) < 0)
				return -EFAULT;
			return sig;
		}
		pthread_mutex_unlock(&s->lock);
		if (round > 0)
			return slept == -EINTR ? -EINTR : -EAGAIN;
		if (uts && ts.tv_sec == 0 && ts.tv_nsec == 0)
			return -EAGAIN;
		uint64_t old = t->blocked;
		t->real_blocked = old;
		__atomic_store_n(&t->blocked, old & ~set, __ATOMIC_RELEASE);
		slept = sig_sleep(t, uts ? &deadline : NULL);
		pthread_mutex_lock(&s->lock);
		t->blocked = old;
		t->real_blocked = 0;
		pthread_mutex_unlock(&s->lock);
	}
}
