// SPDX-License-Identifier: Apache-2.0
// Job control, as Linux does it: a stop signal whose action is the default (SIGSTOP always; SIGTSTP,
// SIGTTIN and SIGTTOU unless the process group is orphaned) stops every thread of the process until
// SIGCONT or SIGKILL. Generating SIGCONT resumes the process even when SIGCONT is blocked or ignored
// and discards pending stop signals; generating a stop signal discards a pending SIGCONT. The parent
// learns of both through wait (WUNTRACED/WSTOPPED, WCONTINUED) and SIGCHLD (CLD_STOPPED,
// CLD_CONTINUED; none with SA_NOCLDSTOP).
//
// The stop is reported as soon as the first thread takes the signal; the others are kicked and park
// before they next run application code (a thread blocked in a syscall parks when the call returns).
// Signals other than SIGKILL stay pending while the process is stopped.
#include <errno.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include "../sentry.h"

#define SIG_BIT(sig) (1ull << ((sig) - 1))
#define STOP_SIGS (SIG_BIT(SIGSTOP) | SIG_BIT(SIGTSTP) | SIG_BIT(SIGTTIN) | SIG_BIT(SIGTTOU))

bool jobctl_is_stop(int sig)
{
	return sig >= 1 && sig <= 64 && (STOP_SIGS & SIG_BIT(sig));
}

/* Tell @p's parent that @p stopped or continued (s->lock held). */
static void notify_parent(struct process *p, int code, int status)
{
	struct process *pa = p->parent;
	pthread_cond_broadcast(&p->s->changed); /* a wait in progress looks again */
	if (!pa || pa->zombie || (pa->actions[SIGCHLD - 1].flags & SA_NOCLDSTOP))
		return;
	siginfo_t si = { .si_signo = SIGCHLD, .si_code = code };
	si.si_pid = p->pid;
	si.si_uid = p->cred.uid[0];
	si.si_status = status;
	sig_process_locked(pa, SIGCHLD, &si);
}

void jobctl_generated(struct process *p, int sig)
{
	if (sig == SIGCONT) {
		for (struct task *o = p->tasks; o; o = o->next)
			o->pending &= ~STOP_SIGS;
		ptrace_sigcont(p);
		if (p->stop_sig) {
			p->stop_sig = 0;
			p->stop_report = false;
			p->cont_report = true;
			notify_parent(p, CLD_CONTINUED, SIGCONT);
		}
	} else if (jobctl_is_stop(sig)) {
		for (struct task *o = p->tasks; o; o = o->next)
			o->pending &= ~SIG_BIT(SIGCONT);
	}
}

/*
 * Is process group @pgid orphaned (s->lock held)? As POSIX: no member has a parent in another group of
 * the same session. The sandbox's first process counts as having one (its caller, a shell, natively),
 * so its group is never orphaned.
 */
static bool group_orphaned(struct sentry *s, int pgid)
{
	for (struct process *q = s->procs; q; q = q->next) {
		if (q->zombie || q->pgid != pgid)
			continue;
		if (q->pid == 1)
			return false;
		if (q->parent && !q->parent->zombie && q->parent->pgid != pgid && q->parent->sid == q->sid)
			return false;
	}
	return true;
}

bool jobctl_stop(struct task *t, int sig)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock);
	bool stops = sig == SIGSTOP || !group_orphaned(s, pr->pgid);
	if (stops && !pr->stop_sig) {
		pr->stop_sig = sig;
		pr->stop_seq++;
		pr->stop_report = true;
		pr->cont_report = false;
		for (struct task *o = pr->tasks; o; o = o->next)
			if (!o->exited && o != t)
				task_kick(o);
		notify_parent(pr, CLD_STOPPED, sig);
		/* cvisor run stops with its first process (a shell's job control); a container's process
		 * does not: its engine (kill STOP, then CONT) and monitor expect it to go on waiting. */
		if (pr->pid == 1 && !s->opts.oci)
			jail_report_stop(s->L, sig);
	}
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s); /* SIGCHLD may have to interrupt the parent's futex wait */
	return stops;
}

void jobctl_park(struct task *t)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (!__atomic_load_n(&pr->stop_sig, __ATOMIC_ACQUIRE))
		return;
	pthread_mutex_lock(&s->lock);
	while (pr->stop_sig && !(t->pending & SIG_BIT(SIGKILL)) && !s->shutting_down && !pr->group_exit &&
	       !pr->exec_task && !t->pt.tracer) { /* a tracee reports the stop to its tracer instead */
		cpu_block_begin(t);
		pthread_cond_wait(&s->changed, &s->lock);
		cpu_block_end(t);
	}
	pthread_mutex_unlock(&s->lock);
}

/* Is host fd @h the caller's terminal (the one the sandbox's job control is about)? */
static bool caller_tty(const struct sentry *s, int h)
{
	struct stat st;
	if (fstat(h, &st) < 0 || !S_ISCHR(st.st_mode))
		return false;
	for (int i = 0; i < 3; i++)
		if (s->stdio_rdev[i] && s->stdio_rdev[i] == st.st_rdev)
			return true;
	return false;
}

/* Does @t ignore or block @sig (then a background terminal access is not stopped)? */
static bool refused(const struct task *t, int sig)
{
	return t->proc->actions[sig - 1].handler == (uint64_t)SIG_IGN || (t->blocked & SIG_BIT(sig));
}

/* A background access to the terminal: @sig to @t's whole group (-EINTR: the call restarts after the
 * stop), or -EIO when the group is orphaned and nothing would continue it. */
static long stop_group(struct task *t, int sig)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock);
	long ret = -EINTR;
	if (group_orphaned(s, pr->pgid)) {
		ret = -EIO;
	} else {
		siginfo_t si = { .si_signo = sig, .si_code = SI_KERNEL };
		for (struct process *q = s->procs; q; q = q->next)
			if (!q->zombie && q->pgid == pr->pgid)
				sig_process_locked(q, sig, &si);
	}
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s);
	return ret;
}

long jobctl_tty_access(struct task *t, int h, bool wr)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	long fg = caller_tty(s, h) ? __atomic_load_n(&s->fg_pgrp, __ATOMIC_RELAXED) : ptyjob_fg(pr, h);
	if (fg < 0 || __atomic_load_n(&pr->pgid, __ATOMIC_RELAXED) == fg)
		return 0; /* not a controlling terminal, or the foreground */
	int sig = wr ? SIGTTOU : SIGTTIN;
	struct termios tio;
	if (wr && (ioctl(h, TCGETS, &tio) < 0 || !(tio.c_lflag & TOSTOP)))
		return 0;
	if (refused(t, sig)) /* a write goes ahead; a read fails */
		return wr ? 0 : -EIO;
	return stop_group(t, sig);
}

long jobctl_tty_change(struct task *t, int h)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	long fg = caller_tty(s, h) ? __atomic_load_n(&s->fg_pgrp, __ATOMIC_RELAXED) : ptyjob_fg(pr, h);
	if (fg <= 0 || __atomic_load_n(&pr->pgid, __ATOMIC_RELAXED) == fg)
		return 0;
	return refused(t, SIGTTOU) ? 0 : stop_group(t, SIGTTOU);
}

long jobctl_tty_pgrp(struct process *pr, int64_t pgrp, bool set)
{
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock);
	long ret = s->fg_pgrp;
	if (set) {
		bool found = false, any = false;
		for (struct process *q = s->procs; q && pgrp > 0; q = q->next) {
			found |= !q->zombie && q->pgid == pgrp && q->sid == pr->sid;
			any |= !q->zombie && q->pgid == pgrp;
		}
		ret = pgrp < 0 ? -EINVAL : found ? 0 : any ? -EPERM : -ESRCH; /* Linux: no such group, ESRCH */
		if (found)
			s->fg_pgrp = (int)pgrp;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}
