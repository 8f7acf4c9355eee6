// SPDX-License-Identifier: Apache-2.0
// ptrace inside the sandbox (the tracee side): a traced task stops for its tracer — at syscall entry
// and exit (PTRACE_SYSCALL), before a signal is delivered, at fork/clone/exec/exit events
// (PTRACE_O_*), for PTRACE_INTERRUPT and group stops, after a single step — and waits on its own
// sentry thread until the tracer resumes it. The tracer is always a sandboxed process; it sees the
// stops through wait4/waitid (ptrace_wait) and acts on a stopped tracee with the requests in
// ptrace_req.c. Tracing is per task (thread) and the tracer is a process, as gdb and strace use it.
//
// All ptrace state is under s->lock. A stopped tracee has pulled its full CPU state, so the tracer
// reads and writes its registers and XSAVE area in place.
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include "../sentry.h"

#define SIG_BIT(sig) (1ull << ((sig) - 1))
#define STOPPED(sig, event) (0x7f | (sig) << 8 | (event) << 16)

/* Tell the tracer (s->lock held): its wait looks again; SIGCHLD with CLD_TRAPPED. */
static void notify_tracer(struct task *t)
{
	struct process *tr = t->pt.tracer;
	pthread_cond_broadcast(&t->proc->s->changed);
	if (!tr || tr->zombie)
		return;
	siginfo_t si = { .si_signo = SIGCHLD, .si_code = CLD_TRAPPED };
	si.si_pid = t->tid;
	si.si_uid = t->proc->cred.uid[0];
	si.si_status = (t->pt.status >> 8) & 0x7f;
	sig_process_locked(tr, SIGCHLD, &si);
}

/*
 * Stop @t for its tracer with wait status @status (@info: the signal of a signal-delivery-stop) and
 * wait until it is resumed, detached, killed (SIGKILL) or its process or the sandbox ends. Returns
 * the signal the tracer resumed it with (0 if none, or if it was not traced).
 */
static int pt_park(struct task *t, int kind, int status, const siginfo_t *info, uint64_t msg);

static int pt_stop(struct task *t, int kind, int status, const siginfo_t *info, uint64_t msg)
{
	cv_ctx_pull_full_state(t->ctx); /* the tracer may read and write all of it */
	pthread_mutex_lock(&t->proc->s->lock);
	return pt_park(t, kind, status, info, msg);
}

/* The body of pt_stop, entered with s->lock held and the full state pulled; releases the lock. */
static int pt_park(struct task *t, int kind, int status, const siginfo_t *info, uint64_t msg)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (!t->pt.tracer) {
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	t->pt.stopped = true;
	t->pt.reported = false;
	t->pt.kind = kind;
	t->pt.status = status;
	t->pt.msg = msg;
	t->pt.resume_sig = 0;
	memset(&t->pt.info, 0, sizeof(t->pt.info));
	if (info)
		t->pt.info = *info;
	notify_tracer(t);
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s); /* the tracer may wait in a futex (SIGCHLD interrupts it) */
	pthread_mutex_lock(&s->lock);
	while (t->pt.stopped && t->pt.tracer && !(t->pending & SIG_BIT(SIGKILL)) && !s->shutting_down &&
	       !pr->group_exit) {
		cpu_block_begin(t);
		pthread_cond_wait(&s->changed, &s->lock);
		cpu_block_end(t);
	}
	while (t->pt.busy) /* a request of the tracer's is still reading or writing its state */
		pthread_cond_wait(&s->changed, &s->lock);
	int sig = t->pt.stopped ? 0 : t->pt.resume_sig;
	t->pt.stopped = t->pt.listening = false;
	bool fp = t->pt.fp_changed;
	t->pt.fp_changed = false;
	pthread_mutex_unlock(&s->lock);
	if (fp)
		cv_ctx_full_state_changed(t->ctx);
	return sig;
}

int ptrace_signal_stop(struct task *t, siginfo_t *info)
{
	int sig = pt_stop(t, PT_STOP_SIGNAL, STOPPED(info->si_signo, 0), info, 0);
	pthread_mutex_lock(&t->proc->s->lock);
	if (sig && sig != info->si_signo) { /* another signal: its siginfo is the tracer's, or a plain one */
		if (t->pt.info.si_signo == sig) {
			*info = t->pt.info;
		} else {
			memset(info, 0, sizeof(*info));
			info->si_signo = sig;
			info->si_code = SI_USER;
			info->si_pid = t->pt.tracer ? t->pt.tracer->pid : 0;
		}
	} else if (sig) {
		*info = t->pt.info; /* PTRACE_SETSIGINFO may have changed it */
		info->si_signo = sig;
	}
	pthread_mutex_unlock(&t->proc->s->lock);
	return sig;
}

/* The wait status of the group stop or PTRACE_EVENT_STOP trap @t owes its tracer, 0 if none
 * (s->lock held). With @take, the trap is consumed: as Linux, any PTRACE_EVENT_STOP trap answers a
 * pending PTRACE_INTERRUPT and a SIGCONT's notification at once. */
static int pending_stop(struct task *t, bool take)
{
	struct process *pr = t->proc;
	int status = 0;
	if (!t->pt.tracer)
		return 0;
	if (pr->stop_sig && t->pt.stop_seq != pr->stop_seq) {
		/* a group stop: reported as itself (seized: as PTRACE_EVENT_STOP) */
		status = STOPPED(pr->stop_sig, t->pt.seized ? PTRACE_EVENT_STOP : 0);
		if (take)
			t->pt.stop_seq = pr->stop_seq;
	} else if (t->pt.interrupt || t->pt.trap_notify) {
		status = STOPPED(SIGTRAP, PTRACE_EVENT_STOP);
	}
	if (take && (status >> 16) == PTRACE_EVENT_STOP)
		t->pt.interrupt = t->pt.trap_notify = false;
	return status;
}

bool ptrace_pending_stops(struct task *t)
{
	struct sentry *s = t->proc->s;
	bool stopped = false;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		int due = pending_stop(t, false);
		pthread_mutex_unlock(&s->lock);
		if (!due)
			return stopped;
		/* The state is pulled first; then what to report is decided and the task parked under one
		 * hold of the lock, so that a SIGCONT cannot come between them: it ends the group stop before
		 * the report (then there is none) or finds the task stopped (then it traps again). */
		cv_ctx_pull_full_state(t->ctx);
		pthread_mutex_lock(&s->lock);
		int status = pending_stop(t, true);
		if (!status) {
			pthread_mutex_unlock(&s->lock);
			continue;
		}
		stopped = true;
		pt_park(t, PT_STOP_GROUP, status, NULL, 0);
	}
}

void ptrace_syscall_entry(struct task *t)
{
	if (!t->pt.syscalls)
		return;
	t->st->regs.rax = (uint64_t)-ENOSYS; /* as Linux shows a syscall at its entry */
	pt_stop(t, PT_STOP_SYSCALL_ENTRY, STOPPED(SIGTRAP | (t->pt.options & PTRACE_O_TRACESYSGOOD ? 0x80 : 0), 0),
		NULL, 0);
}

/* The event option for PTRACE_EVENT_@event. */
static uint32_t event_option(int event)
{
	return 1u << event; /* PTRACE_O_TRACEFORK = 1 << PTRACE_EVENT_FORK, and so on */
}

static void event_stop(struct task *t, int event, uint64_t msg)
{
	pt_stop(t, PT_STOP_EVENT, STOPPED(SIGTRAP, event), NULL, msg);
}

int ptrace_syscall_exit(struct task *t, uint64_t nr, bool ends)
{
	if (ends) { /* exit or exit_group: PTRACE_EVENT_EXIT, with the status it ends with */
		if (t->pt.options & PTRACE_O_TRACEEXIT)
			event_stop(t, PTRACE_EVENT_EXIT, (uint64_t)t->exit_code);
		return 0;
	}
	int event = t->pt.pending_event;
	t->pt.pending_event = 0;
	if (event) {
		event_stop(t, event, t->pt.pending_msg);
		if (event == PTRACE_EVENT_VFORK && (t->pt.options & PTRACE_O_TRACEVFORKDONE))
			event_stop(t, PTRACE_EVENT_VFORK_DONE, t->pt.pending_msg);
	}
	if ((nr == SYS_execve || nr == SYS_execveat) && t->st->regs.rax == 0) {
		if (t->pt.options & PTRACE_O_TRACEEXEC) {
			event_stop(t, PTRACE_EVENT_EXEC, (uint64_t)t->tid);
		} else if (!t->pt.seized) { /* the traditional SIGTRAP after a successful execve */
			siginfo_t si = { .si_signo = SIGTRAP, .si_code = SI_USER };
			sig_queue(t, SIGTRAP, &si);
		}
	}
	if (t->pt.syscalls)
		pt_stop(t, PT_STOP_SYSCALL_EXIT, STOPPED(SIGTRAP | (t->pt.options & PTRACE_O_TRACESYSGOOD ? 0x80 : 0), 0),
			NULL, 0);
	if (t->pt.step) { /* a step over a syscall instruction ends after it */
		t->st->regs.eflags &= ~0x100ull;
		t->pt.step = false;
		siginfo_t si = { .si_signo = SIGTRAP, .si_code = TRAP_TRACE };
		sig_queue(t, SIGTRAP, &si);
	}
	return 0;
}

void ptrace_fork(struct task *t, struct task *child, uint64_t flags)
{
	struct sentry *s = t->proc->s;
	/* As Linux: vfork, else a child that signals its end with something other than SIGCHLD (threads
	 * signal nothing) is a clone, else a fork. */
	int event = (flags & CLONE_VFORK) ? PTRACE_EVENT_VFORK : (flags & 0xff) != SIGCHLD ? PTRACE_EVENT_CLONE
										   : PTRACE_EVENT_FORK;
	pthread_mutex_lock(&s->lock);
	if (t->pt.tracer && (t->pt.options & event_option(event))) {
		child->pt.tracer = t->pt.tracer;
		child->pt.seized = t->pt.seized;
		child->pt.options = t->pt.options;
		if (child->pt.seized) {
			child->pt.interrupt = true; /* it starts in a PTRACE_EVENT_STOP */
		} else { /* it starts with SIGSTOP pending */
			child->pending |= SIG_BIT(SIGSTOP);
			memset(&child->pinfo[SIGSTOP - 1], 0, sizeof(siginfo_t));
			child->pinfo[SIGSTOP - 1].si_signo = SIGSTOP;
		}
		t->pt.pending_event = event;
		t->pt.pending_msg = (uint64_t)child->tid;
	}
	pthread_mutex_unlock(&s->lock);
}

bool ptrace_exit_reportable(const struct task *o)
{
	return o->pt.tracer && o->exited && !o->pt.exit_reported &&
	       !(o->tid == o->proc->pid && o->proc->parent == o->pt.tracer); /* the parent reaps it */
}

int ptrace_wait(struct process *pr, int64_t pid, int64_t group, bool nowait, int *tid, int *status)
{
	int found = -1;
	for (struct process *p = pr->s->procs; p; p = p->next) {
		if (group && p->pgid != group)
			continue;
		for (struct task *o = p->tasks; o; o = o->next) {
			if (o->pt.tracer != pr || (pid > 0 && o->tid != pid))
				continue;
			found = 0;
			if (o->pt.stopped && !o->pt.reported) {
				*tid = o->tid;
				*status = o->pt.status;
				o->pt.reported = !nowait;
				return 1;
			}
			if (ptrace_exit_reportable(o) && (p->zombie || o->tid != p->pid)) {
				*tid = o->tid;
				*status = p->group_exit || p->zombie ? p->exit_status : o->exit_code;
				if (!nowait) {
					o->pt.exit_reported = true;
					o->pt.tracer = NULL;
					if (p->zombie && !ptrace_holds_zombie(p))
						process_notify_exit(p); /* its parent learns of it now */
					pthread_cond_broadcast(&pr->s->changed); /* the real parent may reap it now */
				}
				return 1;
			}
		}
	}
	return found;
}

bool ptrace_holds_zombie(const struct process *c)
{
	for (const struct task *o = c->tasks; o; o = o->next)
		if (o->pt.tracer && o->pt.tracer != c->parent && !o->pt.exit_reported)
			return true;
	return false;
}

void ptrace_tracer_gone(struct process *tr)
{
	for (struct process *p = tr->s->procs; p; p = p->next)
		for (struct task *o = p->tasks; o; o = o->next) {
			if (o->pt.tracer != tr)
				continue;
			bool kill = o->pt.options & PTRACE_O_EXITKILL;
			memset(&o->pt, 0, sizeof(o->pt));
			if (kill && !o->exited) {
				siginfo_t si = { .si_signo = SIGKILL, .si_code = SI_USER };
				sig_queue_locked(o, SIGKILL, &si);
			}
		}
	pthread_cond_broadcast(&tr->s->changed);
}

void ptrace_retrap(struct task *o)
{
	o->pt.status = STOPPED(SIGTRAP, PTRACE_EVENT_STOP);
	o->pt.reported = false;
	o->pt.trap_notify = false;
	o->pt.listening = false;
	notify_tracer(o);
}

void ptrace_sigcont(struct process *p)
{
	for (struct task *o = p->tasks; o; o = o->next) {
		if (!o->pt.tracer || !o->pt.seized)
			continue;
		if (o->pt.stopped && o->pt.listening) {
			ptrace_retrap(o);
		} else {
			/* as Linux: a seized tracee traps (PTRACE_EVENT_STOP) to tell its tracer of the
			 * SIGCONT, at once if running, when next resumed if stopped */
			o->pt.trap_notify = true;
			if (!o->pt.stopped)
				task_kick(o);
		}
	}
}
