// SPDX-License-Identifier: Apache-2.0
// Processes and tasks: the process table, fork (one host thread per task), execve, exit and wait4.
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../sentry.h"

#define MAX_ARGS 4096
#define MAX_ARG_BYTES (2u << 20)

struct process *process_new(struct sentry *s, struct process *parent, struct vm *vm)
{
	struct process *pr = calloc(1, sizeof(*pr));
	if (!pr)
		return NULL;
	pr->s = s;
	pr->exit_status = -1;
	pr->exit_signal = SIGCHLD;
	if (parent) {
		pr->cred = parent->cred;
		pr->umask = parent->umask;
		pr->nice = parent->nice;
		pr->dumpable = parent->dumpable;
		pr->no_new_privs = parent->no_new_privs;
	} else {
		/* The caller's, taken over: from now on the sentry's own umask is 0, so what it creates for a
		 * process gets exactly the mode that process's umask leaves (both would apply otherwise). */
		pr->umask = umask(0);
		const struct launch *L = s->L;
		for (int i = 0; i < 4; i++)
			pr->cred.uid[i] = L->uid[i < 3 ? i : 1], pr->cred.gid[i] = L->gid[i < 3 ? i : 1];
		pr->cred.ngroups = L->ngroups < 64 ? L->ngroups : 64;
		memcpy(pr->cred.groups, L->groups, sizeof(pr->cred.groups));
		pr->cred.cap_eff = pr->cred.cap_prm = pr->cred.uid[1] == 0 ? CRED_ALL_CAPS : 0;
		pr->nice = getpriority(PRIO_PROCESS, 0); /* the caller's nice value, as a native child has */
		pr->dumpable = true;
	}
	rlimits_init(pr, parent);
	for (int i = 0; i < SENTRY_MAX_FDS; i++)
		pr->fds[i] = -1;
	pthread_mutex_init(&pr->fdid_lock, NULL);
	for (int i = 0; i < 4; i++)
		pr->fdid[i].fd = -1;
	for (size_t i = 0; i < sizeof(pr->fdpath) / sizeof(pr->fdpath[0]); i++)
		pr->fdpath[i].fd = -1;
	for (size_t i = 0; i < sizeof(pr->fdkind) / sizeof(pr->fdkind[0]); i++)
		pr->fdkind[i].fd = -1;
	if (vm)
		vm_get(vm);
	pr->vm = vm ? vm : vm_new(s);
	if (!pr->vm) {
		free(pr);
		return NULL;
	}
	pthread_mutex_lock(&s->lock);
	pr->pid = ++s->next_pid;
	pr->pgid = parent ? parent->pgid : pr->pid; /* the first process leads its group and session */
	pr->sid = parent ? parent->sid : pr->pid;
	pr->parent = parent;
	pr->next = s->procs;
	s->procs = pr;
	pthread_mutex_unlock(&s->lock);
	return pr;
}

static void close_fds(struct process *pr, bool only_cloexec)
{
	for (int i = 0; i < SENTRY_MAX_FDS; i++)
		if (pr->fds[i] >= 0 && (!only_cloexec || pr->cloexec[i])) {
			fd_close(pr, i, pr->fds[i]);
			pr->fds[i] = -1;
			pr->cloexec[i] = 0;
		}
}

/* Free a process that is off the table (or was never runnable). */
void process_free(struct process *pr)
{
	close_fds(pr, false);
	while (pr->tasks) {
		struct task *t = pr->tasks;
		pr->tasks = t->next;
		cv_ctx_release(t->ctx);
		if (t->wake_fd >= 0)
			close(t->wake_fd);
		free(t);
	}
	sigfd_free(pr);
	ptimers_clear(pr);
	vm_put(pr->s, pr->vm); /* the memory, if no other process uses it */
	procfs_release(pr);
	free(pr->args);
	free(pr->env);
	free(pr);
}

struct task *task_new(struct process *pr)
{
	struct task *t = calloc(1, sizeof(*t));
	if (t)
		t->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!t || t->wake_fd < 0 || cv_ctx_new(pr->s->p, 0, &t->ctx) < 0) {
		if (t && t->wake_fd >= 0)
			close(t->wake_fd);
		free(t);
		return NULL;
	}
	t->proc = pr;
	t->nice = pr->nice; /* (a clone's task takes its creator's: task_inherit) */
	t->st = cv_ctx_state(t->ctx);
	pthread_mutex_lock(&pr->s->lock);
	t->tid = pr->tasks ? ++pr->s->next_pid : pr->pid;
	t->next = pr->tasks;
	pr->tasks = t;
	pr->live_tasks++;
	pthread_mutex_unlock(&pr->s->lock);
	return t;
}

void process_notify_exit(struct process *pr)
{
	if (!pr->exit_signal)
		return;
	siginfo_t si = { .si_signo = pr->exit_signal };
	si.si_code = (pr->exit_status & 0x7f) ? CLD_KILLED : CLD_EXITED;
	si.si_pid = pr->pid;
	si.si_status = (pr->exit_status & 0x7f) ? pr->exit_status & 0x7f : (pr->exit_status >> 8) & 0xff;
	/* Process-directed, to the thread Linux would pick (not just any: one that blocks it would keep it
	 * pending for good while another waits for it). Ignored by default; a handler, sigsuspend or
	 * signalfd sees it. */
	if (pr->parent && !pr->parent->zombie)
		sig_process_locked(pr->parent, pr->exit_signal, &si);
}

/* Reaped child @c's peak, and its reaped children's, into @into's children's (s->lock held). */
static void count_child_peak(struct process *into, const struct process *c)
{
	uint64_t peak = c->rss_hwm > c->child_maxrss ? c->rss_hwm : c->child_maxrss;
	if (peak > into->child_maxrss)
		into->child_maxrss = peak;
}

/*
 * The rest of a process's end, once its parent has been told (process_notify_exit): its peak resident
 * size, then its memory, measured and let go of here rather than before the parent hears of the end
 * and in the reaper's wait4 (together ~85 us on this VM between a child's exit and its shell's next
 * command). A reaper that comes first takes the exit status and leaves the zombie to this thread
 * (reaped), which then adds its peak to the reaper's children's and frees it; the reaper's getrusage
 * and its own end wait for that (children_settling), an allocation that finds no room for the memory
 * being let go of (vm_alloc_pages). The memory goes here unless another process shares it
 * (clone(CLONE_VM)) or another's copy from it is in progress: then with its last user's vm_put.
 */
static void process_settle(struct process *pr, struct vm *vm, bool alone)
{
	struct sentry *s = pr->s;
	pthread_mutex_lock(&vm->lock);
	mm_rss_peak(pr);
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_lock(&s->lock);
	while (pr->children_settling > 0) /* its own peak includes theirs */
		pthread_cond_wait(&s->changed, &s->lock);
	struct process *reaper = pr->reaped ? pr->parent : NULL;
	if (reaper) {
		count_child_peak(reaper, pr);
		reaper->children_settling--;
	}
	pr->exit_done = true;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	/* unless reaped already, pr may be reaped and freed from here on */
	if (alone)
		vm_empty(s, vm);
	vm_put(s, vm);
	if (reaper)
		process_free(pr);
	if (!alone)
		return;
	pthread_mutex_lock(&s->lock);
	s->releases_done++; /* (an allocation that found no room may wait for it: vm_alloc_pages) */
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* RUSAGE_CHILDREN's peak: once the children reaped before their end settled (s->lock held). */
void process_wait_children_settled(struct process *pr)
{
	while (pr->children_settling > 0)
		pthread_cond_wait(&pr->s->changed, &pr->s->lock);
}

void task_exit(struct task *t)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	futex_robust_exit(t); /* the robust mutexes it held: their waiters learn the owner died */
	/* CLONE_CHILD_CLEARTID: zero the tid word and wake its futex (pthread_join waits on it) if anyone
	 * else uses the memory: another thread, or another process after clone(CLONE_VM). */
	if (t->clear_child_tid && (!t->ends_group || __atomic_load_n(&pr->vm->users, __ATOMIC_RELAXED) > 1)) {
		uint32_t zero = 0;
		if (mm_copy_out(pr, t->clear_child_tid, &zero, 4) == 0)
			do_futex(t, t->clear_child_tid, 1 /* FUTEX_WAKE */, 1, 0, 0, 0);
	}
	pthread_mutex_lock(&s->lock);
	t->exited = true;
	if (t->pt.tracer) { /* its tracer's wait reports the end */
		t->pt.stopped = false;
		pthread_cond_broadcast(&s->changed);
	}
	if (t->ends_group && !pr->group_exit) {
		pr->group_exit = true;
		pr->exit_status = t->exit_code;
		for (struct task *o = pr->tasks; o; o = o->next)
			if (!o->exited)
				task_kick(o);
		pthread_cond_broadcast(&s->changed); /* and out of sentry sleeps (pause, nanosleep, wait4) */
	}
	bool last = --pr->live_tasks == 0;
	if (last && !pr->group_exit)
		pr->exit_status = t->exit_code;
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s); /* tasks of an exiting group may sleep in futex waits */
	if (!last)
		return;
	vfork_release(pr); /* a vfork parent goes on */
	close_fds(pr, false); /* pipes see EOF now, not when the parent reaps */
	struct vm *vm = pr->vm;
	sem_process_end(pr); /* its SEM_UNDO adjustments, as Linux's exit_sem */
	vm_get(vm); /* measured and let go of once the parent knows (process_settle) */
	if (__atomic_load_n(&vm->users, __ATOMIC_ACQUIRE) == 2)
		shm_vm_release(s, vm); /* its SysV attaches end before the parent hears, as Linux's exit_mm */
	pthread_mutex_lock(&s->lock);
	/* Nobody else's: this reference and the zombie's, no copy from another process in progress. A
	 * zombie gains no user (nothing of it runs, nothing pins it anew), so only this thread will touch
	 * its memory's lock from here on but for readers that never wait on an allocation: an allocation
	 * that waits for this release (vm_alloc_pages) cannot hold what the release needs. */
	bool alone = __atomic_load_n(&vm->users, __ATOMIC_ACQUIRE) == 2 && !pr->remote_users;
	if (alone)
		s->releases_begun++;
	pr->zombie = true;
	ptyjob_leader_gone(pr);
	pidfd_process_ended(pr);
	ptrace_tracer_gone(pr);
	for (struct process *c = s->procs; c; c = c->next) {
		if (c->parent != pr)
			continue;
		c->parent = NULL; /* orphans are reaped by nobody; freed at the end of the run */
		for (struct task *o = c->zombie ? NULL : c->tasks; o; o = o->next)
			if (!o->exited && o->pdeathsig) { /* prctl(PR_SET_PDEATHSIG) */
				siginfo_t di = { .si_signo = o->pdeathsig, .si_code = SI_USER };
				di.si_pid = pr->pid;
				sig_queue_locked(o, o->pdeathsig, &di);
			}
	}
	if (!ptrace_holds_zombie(pr)) /* else when its tracer has seen it end (ptrace.c) */
		process_notify_exit(pr);
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s); /* SIGCHLD or a child's pdeath signal may have to interrupt a futex wait */
	process_settle(pr, vm, alone);
}

void process_wait_zombie(struct process *pr)
{
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock);
	while (!pr->zombie)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/*
 * A task thread whose task ended waits a while for the next one instead of ending: a fork's child
 * then starts on a thread that exists, with its stack faulted in already. A new host thread's stack
 * is fresh memory (glibc's cache of thread stacks gives the pages back at each thread's end), and the
 * handlers of fork, execve and path walks fault in some 35 pages of it, ~10 us each on a VM: a third
 * of a millisecond of every fork+exec, on top of the clone of the thread. Nothing of a task stays
 * with the thread: CPU time, signal state and scheduling attributes are the task's (the host threads
 * all keep the sentry's), and a backend's per-thread state (ptrace's stub threads, kvm's vCPU) serves
 * any context the thread runs next, as for the first thread across an execve.
 */
#define IDLE_THREADS_MAX 8
#define IDLE_WAIT_S 2 /* an idle thread ends after this long without a task */

struct idle_thread {
	struct idle_thread *next;
	struct task *task; /* given by start_task */
	pthread_cond_t cv;
};

/* The next task for this thread, or NULL: it ends (too many idle, the sandbox ending, none came). */
static struct task *idle_wait(struct sentry *s)
{
	struct idle_thread me = { .task = NULL };
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&me.cv, &ca);
	pthread_condattr_destroy(&ca);
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += IDLE_WAIT_S;
	pthread_mutex_lock(&s->lock);
	if (!__atomic_load_n(&s->shutting_down, __ATOMIC_ACQUIRE) && s->n_idle < IDLE_THREADS_MAX) {
		me.next = s->idle;
		s->idle = &me;
		s->n_idle++;
		int e = 0;
		while (!me.task && !__atomic_load_n(&s->shutting_down, __ATOMIC_ACQUIRE) && e != ETIMEDOUT)
			e = pthread_cond_timedwait(&me.cv, &s->lock, &until);
		if (!me.task) { /* still listed: leave */
			for (struct idle_thread **pp = &s->idle; *pp; pp = &(*pp)->next)
				if (*pp == &me) {
					*pp = me.next;
					s->n_idle--;
					break;
				}
		}
	}
	pthread_mutex_unlock(&s->lock);
	pthread_cond_destroy(&me.cv);
	return me.task;
}

/* Wake every idle task thread to end (the sandbox is ending; s->lock held). */
void idle_threads_end(struct sentry *s)
{
	for (struct idle_thread *i = s->idle; i; i = i->next)
		pthread_cond_signal(&i->cv);
}

static void *task_thread(void *arg)
{
	struct task *t = arg;
	struct sentry *s = t->proc->s;
	while (t) {
		task_loop(t);
		task_exit(t);
		t = idle_wait(s);
	}
	pthread_mutex_lock(&s->lock);
	s->host_threads--;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

bool start_task(struct sentry *s, struct task *t)
{
	/* Its own host thread: ptrace and every later backend drive a context from one host thread. */
	pthread_mutex_lock(&s->lock);
	struct idle_thread *i = s->idle;
	if (i) { /* (none are listed once the sandbox ends) */
		s->idle = i->next;
		s->n_idle--;
		i->task = t;
		pthread_cond_signal(&i->cv);
		pthread_mutex_unlock(&s->lock);
		return true;
	}
	s->host_threads++;
	pthread_mutex_unlock(&s->lock);
	pthread_t th;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	bool ok = pthread_create(&th, &attr, task_thread, t) == 0;
	pthread_attr_destroy(&attr);
	if (!ok) {
		pthread_mutex_lock(&s->lock);
		s->host_threads--;
		pthread_mutex_unlock(&s->lock);
	}
	return ok;
}

/* What a new task takes from its creator: name, scheduling policy, nice value and affinity (not the pdeath
 * signal). */
static void task_inherit(struct task *ct, const struct task *t)
{
	memcpy(ct->comm, t->comm, sizeof(ct->comm));
	ct->sched_policy = (t->sched_policy & SCHED_RESET_ON_FORK) ? SCHED_OTHER : t->sched_policy;
	ct->nice = (t->sched_policy & SCHED_RESET_ON_FORK) && t->nice < 0 ? 0 : t->nice;
	ct->has_affinity = t->has_affinity;
	memcpy(ct->affinity, t->affinity, sizeof(ct->affinity));
}

#define THREAD_FLAGS (CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM)

/* A new thread of t's process (pthread_create's clone). */
static long clone_thread(struct task *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t ctid,
			 uint64_t tls)
{
	struct process *pr = t->proc;
	if ((flags & THREAD_FLAGS) != THREAD_FLAGS ||
	    (flags & ~(uint64_t)(THREAD_FLAGS | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_SETTID |
				 CLONE_CHILD_CLEARTID | CLONE_DETACHED)))
		return -EINVAL;
	if ((flags & CLONE_SETTLS) && tls >= pr->s->caps.max_user_addr)
		return -EPERM;
	if (cv_ctx_pull_full_state(t->ctx) < 0)
		return -ENOMEM;
	struct task *ct = task_new(pr);
	if (!ct)
		return -EAGAIN;
	ct->st->regs = t->st->regs;
	ct->st->regs.rax = 0;
	ct->st->regs.rsp = newsp;
	ct->blocked = t->blocked;
	task_inherit(ct, t);
	if (flags & CLONE_SETTLS)
		ct->st->regs.fs_base = tls;
	memcpy(ct->st->xsave, t->st->xsave, t->st->xsave_size);
	cv_ctx_full_state_changed(ct->ctx);
	uint32_t tid = (uint32_t)ct->tid;
	if ((flags & CLONE_PARENT_SETTID) && mm_copy_out(pr, ptid, &tid, 4) < 0)
		tid = 0; /* Linux ignores a bad pointer here too */
	if (flags & CLONE_CHILD_SETTID)
		mm_copy_out(pr, ctid, &tid, 4);
	if (flags & CLONE_CHILD_CLEARTID)
		ct->clear_child_tid = ctid;
	if (t->pt.tracer)
		ptrace_fork(t, ct, flags);
	if (!start_task(pr->s, ct)) {
		ct->exit_code = SIGKILL;
		task_exit(ct);
		return -EAGAIN;
	}
	return ct->tid;
}

/* clone3: the same as clone, from struct clone_args. pidfds, set_tid and cgroups are not supported. */
long do_clone3(struct task *t, uint64_t uargs, uint64_t size)
{
	struct {
		uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
			set_tid_size, cgroup;
	} a = { 0 };
	if (size < 64 || size > 4096)
		return -EINVAL;
	if (mm_copy_in(t->proc, uargs, &a, size < sizeof(a) ? size : sizeof(a)) < 0)
		return -EFAULT;
	if ((a.flags & 0xffull) || a.exit_signal > 64 || a.set_tid || a.set_tid_size || a.cgroup ||
	    (a.flags >> 32) || (a.flags & CLONE_PIDFD))
		return -EINVAL;
	if ((a.stack == 0) != (a.stack_size == 0))
		return -EINVAL;
	return do_fork(t, a.flags | a.exit_signal, a.stack ? a.stack + a.stack_size : 0, a.parent_tid, a.child_tid,
		       a.tls);
}

/* RLIMIT_NPROC: has the real user of @pr as many tasks as its limit? As Linux, threads count, and a
 * process with CAP_SYS_ADMIN or CAP_SYS_RESOURCE (the sandbox's root) is not held to it. */
static bool nproc_exceeded(struct process *pr)
{
	uint64_t lim = pr->rlim[RLIMIT_NPROC].rlim_cur;
	if (lim == RLIM_INFINITY || (pr->cred.cap_eff & ((1ull << 21) | (1ull << 24))))
		return false;
	uint64_t n = 0;
	pthread_mutex_lock(&pr->s->lock);
	for (struct process *p = pr->s->procs; p; p = p->next)
		for (struct task *o = p->zombie || p->cred.uid[0] != pr->cred.uid[0] ? NULL : p->tasks; o; o = o->next)
			n += !o->exited;
	pthread_mutex_unlock(&pr->s->lock);
	return n >= lim;
}

/* --pids / OCI pids.limit: as many tasks alive in the whole sandbox as the limit (threads count, as in
 * a pids cgroup; no capability exempts). */
static bool pids_exceeded(struct sentry *s)
{
	uint32_t lim = s->opts.pids_limit, n = 0;
	if (!lim)
		return false;
	pthread_mutex_lock(&s->lock);
	for (struct process *p = s->procs; p; p = p->next)
		for (struct task *o = p->zombie ? NULL : p->tasks; o; o = o->next)
			n += !o->exited;
	pthread_mutex_unlock(&s->lock);
	return n >= lim;
}

static void vfork_wait(struct task *t);

long do_fork(struct task *t, uint64_t flags, uint64_t newsp, uint64_t ptid, uint64_t ctid, uint64_t tls)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (nproc_exceeded(pr) || pids_exceeded(s))
		return -EAGAIN;
	if (flags & CLONE_THREAD)
		return clone_thread(t, flags, newsp, ptid, ctid, tls);
	/* fork: a copy-on-write copy. clone(CLONE_VM), with or without CLONE_VFORK (vfork(2), glibc's
	 * posix_spawn, system() and popen(), CPython's subprocess): a new process in the same memory
	 * (struct vm), as Linux — a vfork child runs in its parent's address space, which waits in the
	 * clone until the child execs (it gets a memory of its own) or ends. No copy of anything, no
	 * address space made for a child that only execs; what the child writes is the parent's
	 * (posix_spawn's child reports an exec error in the parent's stack). Its own fd table and signal
	 * actions: a shared one (CLONE_FILES, CLONE_SIGHAND without CLONE_THREAD) is not supported (EINVAL;
	 * Linux allows both). */
	bool share_vm = (flags & CLONE_VM) != 0;
	if (flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_FILES | CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID))
		return -EINVAL;
	if ((flags & 0xff) > 64)
		return -EINVAL;
	if ((flags & CLONE_SETTLS) && tls >= s->caps.max_user_addr)
		return -EPERM;
	struct process *c = process_new(s, pr, share_vm ? pr->vm : NULL);
	if (!c)
		return -EAGAIN;
	struct task *ct = task_new(c);
	c->exit_signal = (int)(flags & 0xff);
	c->parent_tid = t->tid;
	int ret = ct ? 0 : -ENOMEM;
	if (ret == 0 && !share_vm) {
		cv_as_prefork(pr->vm->as); /* no half-patched syscall site is copied */
		ret = mm_fork(pr, c);
		cv_as_postfork(pr->vm->as);
		if (ret == 0)
			ret = shm_fork(pr, c);
	}
	for (int i = 0; i < SENTRY_MAX_FDS && ret == 0; i++)
		if (pr->fds[i] >= 0) {
			c->fds[i] = fd_share(s, pr->fds[i]) ? pr->fds[i] : host_dup(s, pr->fds[i]);
			c->cloexec[i] = pr->cloexec[i];
			if (c->fds[i] < 0)
				ret = -EMFILE;
		}
	if (ret == 0 && pr->sigfds) { /* the child's copies of its signalfds read the child's signals */
		pthread_mutex_lock(&s->lock);
		sigfd_fork(pr, c);
		pthread_mutex_unlock(&s->lock);
	}
	if (ret == 0)
		ret = cv_ctx_pull_full_state(t->ctx);
	if (ret == 0 && (flags & CLONE_PARENT_SETTID)) {
		uint32_t cpid = (uint32_t)c->pid;
		mm_copy_out(pr, ptid, &cpid, 4);
	}
	if (ret == 0 && (flags & CLONE_CHILD_CLEARTID))
		ct->clear_child_tid = ctid;
	/* In the child's memory (glibc's fork keeps its tid there), written when the child first runs, as
	 * Linux's schedule_tail does: a write now would make the child's installs, which its own thread
	 * makes beside the parent's next steps (mm_fork), in the parent's call. */
	if (ret == 0 && (flags & CLONE_CHILD_SETTID))
		ct->set_child_tid = ctid;
	if (ret < 0) {
		pthread_mutex_lock(&s->lock);
		for (struct process **pp = &s->procs; *pp; pp = &(*pp)->next)
			if (*pp == c) {
				*pp = c->next;
				break;
			}
		pthread_mutex_unlock(&s->lock);
		process_free(c);
		return ret == -EMFILE ? -EMFILE : -ENOMEM;
	}
	c->exe = strcpy(c->exe_buf, pr->exe);
	process_copy_args(c, pr);
	strcpy(c->cwd, pr->cwd);
	memcpy(c->actions, pr->actions, sizeof(c->actions));
	c->persona = pr->persona;
	memcpy(c->auxv, pr->auxv, sizeof(c->auxv));
	c->auxv_len = pr->auxv_len;
	c->has_procmem = pr->has_procmem;
	c->ctty = pr->ctty;
	ct->blocked = t->blocked;
	task_inherit(ct, t);
	ct->altstack_sp = t->altstack_sp;
	ct->altstack_size = t->altstack_size;
	ct->st->regs = t->st->regs;
	ct->st->regs.rax = 0;
	if (newsp)
		ct->st->regs.rsp = newsp;
	if (flags & CLONE_SETTLS)
		ct->st->regs.fs_base = tls;
	memcpy(ct->st->xsave, t->st->xsave, t->st->xsave_size);
	cv_ctx_full_state_changed(ct->ctx);
	if (t->pt.tracer)
		ptrace_fork(t, ct, flags);
	int pid = c->pid;
	if (flags & CLONE_VFORK) {
		pthread_mutex_lock(&s->lock);
		t->vfork_done = false;
		c->vfork_waiter = t;
		pthread_mutex_unlock(&s->lock);
	}
	if (!start_task(s, ct)) {
		ct->exit_code = SIGKILL;
		task_exit(ct);
	}
	if (flags & CLONE_VFORK)
		vfork_wait(t);
	return pid;
}

/* A vfork parent waits (killable only, as Linux's wait_for_vfork_done) until its child execs or
 * ends; without the memory's lock, which the child, sharing the memory, takes for its calls. */
static void vfork_wait(struct task *t)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	pthread_mutex_unlock(&pr->vm->lock);
	pthread_mutex_lock(&s->lock);
	while (!t->vfork_done) {
		if (pr->group_exit || s->shutting_down || (t->pending & (1ull << (SIGKILL - 1)))) {
			struct process *c = s->procs; /* given up: the child must not reach this task */
			while (c && c->vfork_waiter != t)
				c = c->next;
			if (c)
				c->vfork_waiter = NULL;
			break;
		}
		nudge_and_wait(s, 50);
	}
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_lock(&pr->vm->lock);
}

void vfork_release(struct process *c)
{
	struct sentry *s = c->s;
	pthread_mutex_lock(&s->lock);
	struct task *w = c->vfork_waiter;
	if (!w) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	w->vfork_done = true;
	c->vfork_waiter = NULL;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
}

/* Copy a NULL-terminated array of strings out of application memory. */
static char **copy_strv(struct process *pr, uint64_t uv, size_t *total)
{
	char **v = calloc(MAX_ARGS + 1, sizeof(char *));
	if (!v)
		return NULL;
	for (size_t i = 0; uv && i < MAX_ARGS; i++) {
		uint64_t p;
		char buf[4096];
		if (mm_copy_in(pr, uv + 8 * i, &p, 8) < 0)
			goto fail;
		if (!p)
			return v;
		long n = mm_strncpy_in(pr, p, buf, sizeof(buf));
		if (n < 0 || (*total += (size_t)n + 1) > MAX_ARG_BYTES || !(v[i] = strdup(buf)))
			goto fail;
	}
	if (!uv)
		return v;
fail:
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
	return NULL;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* execve's new memory @vm replaces t's process's old one, which the other processes sharing it keep
 * (clone(CLONE_VM)); swapped under the old one's lock and s->lock, which others look at it under. */
static void exec_leave_vm(struct task *t, struct vm *vm)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	struct vm *old = pr->vm;
	/* As Linux's mm_release at exec: a CLONE_CHILD_CLEARTID word in a memory others go on using is
	 * cleared and its waiters woken (the parent learns the child let go of it). */
	if (t->clear_child_tid && __atomic_load_n(&old->users, __ATOMIC_RELAXED) > 1) {
		uint32_t zero = 0;
		if (mm_copy_out(pr, t->clear_child_tid, &zero, 4) == 0)
			do_futex(t, t->clear_child_tid, 1 /* FUTEX_WAKE */, 1, 0, 0, 0);
	}
	t->clear_child_tid = 0;
	pthread_mutex_lock(&old->lock);
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&pr->vm, vm, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
	pthread_mutex_unlock(&old->lock);
	vm_put(s, old);
}

long do_execveat(struct task *t, int64_t dirfd, uint64_t upath, uint64_t uargv, uint64_t uenvp, uint64_t flags)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	char path[4096], real[4096], err[512] = "";
	if (flags & ~(uint64_t)(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW))
		return -EINVAL;
	long n = mm_strncpy_in(pr, upath, path, sizeof(path));
	if (n < 0)
		return n;
	int fd;
	char canon[SENTRY_PATH_MAX] = ""; /* the file's path, links resolved, from the walk that opens it */
	/* Relative to a close-on-exec fd, a script's interpreter could not open /dev/fd/N/...: ENOENT. */
	bool by_fd = dirfd != AT_FDCWD && path[0] != '/';
	pthread_mutex_lock(&pr->vm->lock); /* execve runs without it */
	bool cloexec = by_fd && dirfd >= 0 && dirfd < SENTRY_MAX_FDS && pr->cloexec[dirfd];
	pthread_mutex_unlock(&pr->vm->lock);
	if (!path[0] && (flags & AT_EMPTY_PATH)) { /* fexecve: the file of the fd (O_PATH too) */
		pthread_mutex_lock(&pr->vm->lock);
		int h = dirfd >= 0 ? app_host_fd(pr, (uint64_t)dirfd) : -1;
		fd = h < 0 ? -EBADF : fcntl(h, F_DUPFD_CLOEXEC, 3);
		if (h >= 0 && fd < 0)
			fd = -EMFILE;
		pthread_mutex_unlock(&pr->vm->lock);
		struct stat lst;
		if (fd >= 0 && fstat(fd, &lst) == 0 && S_ISLNK(lst.st_mode)) { /* an O_PATH|O_NOFOLLOW link */
			close(fd);
			fd = -ELOOP;
		}
		snprintf(path, sizeof(path), "/dev/fd/%d", (int)dirfd); /* the name Linux gives it */
	} else {
		if (strcmp(path, "/proc/self/exe") == 0) /* the sandboxed program, never the sentry */
			strcpy(path, pr->exe);
		/* Through the walk like every path; the image is read from the opened file. */
		fd = fs_open_canon(pr, dirfd, path, O_RDONLY | ((flags & AT_SYMLINK_NOFOLLOW) ? O_NOFOLLOW : 0), canon);
	}
	char magic[2], via[64];
	snprintf(via, sizeof(via), "/proc/self/fd/%d", fd); /* the fd may be O_PATH: read through it */
	int rd = fd >= 0 && cloexec ? open(via, O_RDONLY | O_NONBLOCK | O_CLOEXEC) : -1;
	if (rd >= 0 && pread(rd, magic, 2, 0) == 2 && magic[0] == '#' && magic[1] == '!') {
		close(fd);
		fd = -ENOENT;
	}
	if (rd >= 0)
		close(rd);
	if (fd < 0)
		return fd;
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || !(st.st_mode & 0111) || perm_check(pr, fd, &st, MAY_EXEC) < 0) {
		close(fd);
		return -EACCES;
	}
	snprintf(real, sizeof(real), "/proc/self/fd/%d", fd);
	size_t total = 0;
	char **argv = copy_strv(pr, uargv, &total), **envp = argv ? copy_strv(pr, uenvp, &total) : NULL;
	if (!argv || !envp) {
		free_strv(argv);
		return total > MAX_ARG_BYTES ? -E2BIG : -EFAULT;
	}
	/* Build the new image apart, its installs held back (no address space yet: load_elf reads and
	 * writes its memory through the memory file); only success replaces the old one. */
	struct process tmp = { .s = s, .cred = pr->cred }; /* the auxv's ids; the stack's RLIMIT_STACK */
	memcpy(tmp.rlim, pr->rlim, sizeof(tmp.rlim));
	struct cv_ctx *ctx = NULL;
	uint64_t entry, sp;
	tmp.vm = vm_new_bare(s);
	long ret = tmp.vm ? 0 : -ENOMEM;
	if (ret == 0)
		ret = cv_ctx_new(s->p, 0, &ctx);
	if (ret == 0)
		ret = load_elf(&tmp, real, path, argv, envp, &entry, &sp, err, sizeof(err));
	if (ret == 0)
		process_set_args(pr, argv, envp);
	free_strv(argv);
	free_strv(envp);
	/* /proc/self/exe names the file itself, links resolved (ld.so finds $ORIGIN from it: Java's
	 * /usr/bin/java is a link into its JDK, whose libraries sit beside the real file): the walk's path,
	 * else (fexecve) what the sentry's fd maps back to. */
	long cl = ret != 0 ? -1 : canon[0] == '/' ? (long)strlen(canon) : fs_fd_path(pr, fd, canon, sizeof(canon));
	close(fd);
	if (ret < 0) {
		if (s->opts.trace && err[0])
			fprintf(stderr, "[%d] execve: %s\n", t->tid, err);
		cv_ctx_release(ctx);
		vm_put(s, tmp.vm);
		return ret == -ENOMEM ? -ENOMEM : ret == -EACCES ? -EACCES : -ENOEXEC;
	}
	/* The point of no return: like Linux, every other thread of the process ends now, and the caller
	 * becomes the thread group leader. */
	pthread_mutex_lock(&s->lock);
	if (pr->live_tasks > 1) {
		__atomic_store_n(&pr->exec_task, t, __ATOMIC_RELEASE);
		while (pr->live_tasks > 1 && !s->shutting_down) {
			for (struct task *o = pr->tasks; o; o = o->next)
				if (!o->exited && o != t)
					task_kick(o);
			nudge_and_wait(s, 5);
		}
		__atomic_store_n(&pr->exec_task, NULL, __ATOMIC_RELEASE);
		t->tid = pr->pid;
	}
	pthread_mutex_unlock(&s->lock);
	vfork_release(pr); /* its parent's memory is the parent's alone again */
	/* The old image's address space, emptied, takes the new one when no other process shares it
	 * (clone(CLONE_VM)): its stub ran the caller just now, where a fresh one (even prepared) pays a
	 * cold start on its first requests, and none is made and ended. Emptied as a whole, it is as new
	 * (the platform forgets what it knew of the old mappings). Else, or if that fails, a fresh one. */
	struct vm *old = pr->vm;
	struct cv_as *as = NULL;
	uint64_t lo = s->caps.min_user_addr;
	pthread_mutex_lock(&old->lock);
	if (__atomic_load_n(&old->users, __ATOMIC_ACQUIRE) == 1 && old->as &&
	    cv_as_unmap(old->as, lo, s->caps.max_user_addr - lo) == 0) {
		mm_drop_deferred(s, &old->mm); /* nothing of the old image may be installed in the new one */
		as = old->as;
		old->as = NULL; /* its map, still holding the old pages, goes with exec_leave_vm */
	}
	pthread_mutex_unlock(&old->lock);
	if (!as && cv_as_new(s->p, &as) < 0)
		as = NULL;
	tmp.vm->as = as;
	bool installed = as && mm_end_defer(&tmp) == 0;
	exec_leave_vm(t, tmp.vm);
	memcpy(pr->auxv, tmp.auxv, sizeof(pr->auxv));
	pr->auxv_len = tmp.auxv_len;
	pthread_mutex_lock(&s->lock); /* the shutdown path interrupts t->ctx under the lock */
	cv_ctx_release(t->ctx);
	t->ctx = ctx;
	pthread_mutex_unlock(&s->lock);
	t->st = cv_ctx_state(ctx);
	t->st->regs.rip = entry;
	t->st->regs.rsp = sp;
	snprintf(pr->exe_buf, sizeof(pr->exe_buf), "%s", cl > 0 && canon[0] == '/' ? canon : path);
	pr->exe = pr->exe_buf;
	pthread_mutex_lock(&s->lock);
	t->comm[0] = 0; /* named after the new program again */
	ptimers_clear(pr); /* POSIX timers end at execve (interval timers stay) */
	pthread_mutex_unlock(&s->lock);
	for (int i = 0; i < 64; i++) /* handlers do not survive execve; ignored signals stay ignored */
		if (pr->actions[i].handler != (uint64_t)SIG_IGN)
			memset(&pr->actions[i], 0, sizeof(pr->actions[i]));
	t->altstack_sp = t->altstack_size = 0;
	close_fds(pr, true);
	if (!installed) { /* past the point of no return: as Linux, the process is killed */
		siginfo_t info = { .si_signo = SIGKILL };
		sig_queue(t, SIGKILL, &info);
	}
	return 0;
}

/* What a wait found: the child, its wait status and how it changed (CLD_EXITED, _KILLED, _DUMPED,
 * _STOPPED, _CONTINUED). */
struct reaped {
	int pid, status, code;
};

/* Has child @c a change @want (WEXITED, WSTOPPED, WCONTINUED) asks for? Then fill *@out, and take the
 * report unless @nowait (s->lock held; reaping a zombie is the caller's). */
static bool child_changed(struct process *c, int want, bool nowait, struct reaped *out)
{
	if (c->zombie) {
		if (!(want & WEXITED) || c->remote_users || ptrace_holds_zombie(c))
			return false; /* being read by process_vm_readv; a tracer has yet to see it end */
		int sig = c->exit_status & 0x7f;
		*out = (struct reaped){ c->pid, c->exit_status,
					!sig ? CLD_EXITED : (c->exit_status & 0x80) ? CLD_DUMPED : CLD_KILLED };
		return true;
	}
	if ((want & WSTOPPED) && c->stop_report && c->stop_sig) {
		*out = (struct reaped){ c->pid, (c->stop_sig << 8) | 0x7f, CLD_STOPPED };
		c->stop_report &= nowait;
		return true;
	}
	if ((want & WCONTINUED) && c->cont_report) {
		*out = (struct reaped){ c->pid, 0xffff, CLD_CONTINUED };
		c->cont_report &= nowait;
		return true;
	}
	return false;
}

/* Is @c a child @t may wait for with @options (s->lock held)? As Linux: __WCLONE picks the children
 * whose exit signal is not SIGCHLD, else the others, __WALL both; __WNOTHREAD only the caller's own;
 * a zombie counts only when its end is asked for (WEXITED), so that a wait for stops or continues on
 * children that end is ECHILD, never a wait for ever. */
static bool waitable(const struct task *t, const struct process *c, int want, uint64_t options)
{
	if (!(options & __WALL) && (c->exit_signal != SIGCHLD) != !!(options & __WCLONE))
		return false;
	if ((options & __WNOTHREAD) && c->parent_tid != t->tid)
		return false;
	return !c->zombie || (want & WEXITED);
}

/*
 * The wait4/waitid loop: wait for a child of t's process (pid > 0: that one; @group: a member of that
 * process group; else any; @options' __WCLONE, __WALL and __WNOTHREAD choose among them) to exit, stop
 * or continue as @want says, reap it unless @nowait, and fill *@out. 1 found, 0 with @nohang when none
 * has changed yet, -ECHILD, or -EINTR when a signal (or the end of the process or sandbox) comes.
 */
static long wait_child(struct task *t, int64_t pid, int64_t group, int want, uint64_t options, bool nowait,
		       struct reaped *out)
{
	bool nohang = options & WNOHANG;
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock);
	for (;;) {
		bool any = false;
		for (struct process **pp = &s->procs; *pp; pp = &(*pp)->next) {
			struct process *c = *pp;
			if (c->parent != pr || (pid > 0 && c->pid != pid) || (group && c->pgid != group) ||
			    !waitable(t, c, want, options))
				continue;
			any = true;
			if (!child_changed(c, want, nowait, out))
				continue;
			if (nowait || !c->zombie) {
				pthread_mutex_unlock(&s->lock);
				return 1;
			}
			*pp = c->next;
			pr->child_run_ns += __atomic_load_n(&c->run_ns, __ATOMIC_RELAXED) + c->child_run_ns;
			pr->child_sys_ns += __atomic_load_n(&c->sys_ns, __ATOMIC_RELAXED) + c->child_sys_ns;
			if (!c->exit_done) { /* its ending thread counts its peak, frees it (settle) */
				c->reaped = true;
				pr->children_settling++;
				pthread_mutex_unlock(&s->lock);
				return 1;
			}
			count_child_peak(pr, c);
			pthread_mutex_unlock(&s->lock);
			process_free(c);
			return 1;
		}
		int tid, status, traced = ptrace_wait(pr, pid, group, nowait, &tid, &status);
		if (traced == 1) { /* a tracee's stop or end */
			pthread_mutex_unlock(&s->lock);
			int sig = status & 0x7f;
			*out = (struct reaped){ tid, status, (status & 0xff) == 0x7f ? CLD_TRAPPED : !sig ? CLD_EXITED
								      : CLD_KILLED };
			return 1;
		}
		if (!any && traced < 0) {
			pthread_mutex_unlock(&s->lock);
			return -ECHILD;
		}
		if (nohang || s->shutting_down || sig_interrupting(t)) {
			pthread_mutex_unlock(&s->lock);
			return nohang && !s->shutting_down ? 0 : -EINTR;
		}
		cpu_block_begin(t);
		pthread_cond_wait(&s->changed, &s->lock);
		cpu_block_end(t);
	}
}

long do_wait4(struct task *t, int64_t pid, uint64_t ustatus, uint64_t options)
{
	struct process *pr = t->proc;
	if (options & ~(uint64_t)(WNOHANG | WUNTRACED | WCONTINUED | __WALL | __WCLONE | __WNOTHREAD))
		return -EINVAL;
	struct reaped r;
	int want = WEXITED | ((options & WUNTRACED) ? WSTOPPED : 0) | (int)(options & WCONTINUED);
	long ret = wait_child(t, pid, pid == 0 ? pr->pgid : pid < -1 ? -pid : 0, want, options, false, &r);
	if (ret <= 0)
		return ret;
	if (ustatus && mm_copy_out(pr, ustatus, &r.status, 4) < 0)
		return -EFAULT;
	return r.pid;
}

/* waitid: P_PID, P_PGID (0: the caller's group), P_PIDFD (pidfd.c) and P_ALL. The rusage is zeros. */
long do_waitid(struct task *t, uint64_t idtype, uint64_t id, uint64_t uinfo, uint64_t options, uint64_t uru)
{
	struct process *pr = t->proc;
	if ((options & ~(uint64_t)(WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | __WALL | __WCLONE |
				   __WNOTHREAD)) ||
	    !(options & (WEXITED | WSTOPPED | WCONTINUED)))
		return -EINVAL;
	int64_t pid = -1, group = 0;
	if (idtype == P_PID) {
		if ((int32_t)id <= 0)
			return -EINVAL;
		pid = (int32_t)id;
	} else if (idtype == P_PGID) {
		if ((int32_t)id < 0)
			return -EINVAL;
		group = (int32_t)id ? (int32_t)id : pr->pgid;
	} else if (idtype == P_PIDFD) {
		long p = pidfd_waitid_pid(pr, id);
		if (p < 0)
			return p;
		pid = p;
	} else if (idtype != P_ALL) {
		return -EINVAL;
	}
	struct reaped r = { 0, 0, 0 };
	long ret = wait_child(t, pid, group, (int)(options & (WEXITED | WSTOPPED | WCONTINUED)), options,
			      options & WNOWAIT, &r);
	if (ret < 0)
		return ret;
	siginfo_t si;
	memset(&si, 0, sizeof(si));
	if (ret > 0) {
		si.si_signo = SIGCHLD;
		si.si_code = r.code;
		si.si_pid = r.pid;
		si.si_uid = pr->cred.uid[0];
		si.si_status = r.code == CLD_EXITED ? (r.status >> 8) & 0xff
			     : r.code == CLD_STOPPED || r.code == CLD_TRAPPED ? (r.status >> 8) & 0xff
			     : r.code == CLD_CONTINUED ? SIGCONT : r.status & 0x7f;
	}
	struct rusage ru;
	memset(&ru, 0, sizeof(ru));
	if ((uinfo && mm_copy_out(pr, uinfo, &si, sizeof(si)) < 0) || (uru && mm_copy_out(pr, uru, &ru, sizeof(ru)) < 0))
		return -EFAULT;
	return 0;
}

/* The process with sandbox pid @pid, or NULL (s->lock held). */
static struct process *find_process(struct sentry *s, int64_t pid)
{
	for (struct process *p = s->procs; p; p = p->next)
		if (p->pid == pid && !p->zombie)
			return p;
	return NULL;
}

long do_setpgid(struct task *t, int64_t pid, int64_t pgid)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (pgid < 0)
		return -EINVAL;
	pthread_mutex_lock(&s->lock);
	struct process *p = pid == 0 ? pr : find_process(s, pid);
	long ret = 0;
	if (!p || (p != pr && p->parent != pr))
		ret = -ESRCH;
	else if (p->sid != pr->sid || p->sid == p->pid)
		ret = -EPERM; /* another session, or a session leader */
	else if (pgid == 0)
		p->pgid = p->pid;
	else if (pgid != p->pid) { /* joining a group: it must exist in the session */
		bool found = false;
		for (struct process *q = s->procs; q; q = q->next)
			found |= !q->zombie && q->pgid == pgid && q->sid == pr->sid;
		if (found)
			p->pgid = (int)pgid;
		else
			ret = -EPERM;
	} else {
		p->pgid = (int)pgid;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

long do_getpgid(struct task *t, int64_t pid, bool session)
{
	struct sentry *s = t->proc->s;
	pthread_mutex_lock(&s->lock);
	struct process *p = pid == 0 ? t->proc : find_process(s, pid);
	long ret = !p ? -ESRCH : session ? p->sid : p->pgid;
	pthread_mutex_unlock(&s->lock);
	return ret;
}

long do_setsid(struct task *t)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock);
	long ret = -EPERM; /* a group leader cannot start a session */
	bool leads = false;
	for (struct process *q = s->procs; q; q = q->next)
		leads |= !q->zombie && q != pr && q->pgid == pr->pid;
	if (pr->pgid != pr->pid && !leads) {
		pr->sid = pr->pgid = pr->pid;
		pr->ctty = 0; /* a new session has no controlling terminal */
		ret = pr->pid;
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}
