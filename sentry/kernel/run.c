// SPDX-License-Identifier: Apache-2.0
// Running a program: the sentry's lifetime, the switch loop of a task, and the shutdown of the rest.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <signal.h>
#include <elf.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../sentry.h"

#define SENTRY_SLICE_NS 100000 /* short_slice() */

static int end_group(struct task *t, int status)
{
	t->exit_code = status;
	t->ends_group = true;
	return status;
}

static uint64_t now_ns(void);

/* --stats histogram bucket of @ns: 0 below 1 us, then one per power of two of microseconds. */
static int bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	int b = 0;
	while (us && b < STATS_BUCKETS - 1) {
		us >>= 1;
		b++;
	}
	return b;
}

/* A SIGSEGV the memory manager resolves (copy-on-write, or a race with another thread changing the
 * mapping): retry the access (1). A page that keeps faulting "stale" at one address is a real fault
 * (0). -1: no memory for the page; -2: past the end of a mapped file (SIGBUS). */
static int retry_fault(struct task *t, uint64_t addr, unsigned access)
{
	uint64_t gen = __atomic_load_n(&t->proc->vm->mm.flushes, __ATOMIC_RELAXED);
	int how = mm_fault(t->proc, addr, access);
	if (how == MM_FAULT_OOM)
		return -1;
	/* (a batch of held-back installs made meanwhile, by this fault or another thread's: progress) */
	bool again = how == MM_FAULT_STALE && addr == t->stale_addr && gen == t->stale_gen;
	if (again && ++t->stale_repeats > 3)
		how = MM_FAULT_REAL;
	if (!again)
		t->stale_repeats = 0;
	t->stale_addr = how == MM_FAULT_STALE ? addr : 0;
	t->stale_gen = gen;
	if (how == MM_FAULT_REAL)
		return 0;
	if (how == MM_FAULT_BUS)
		return -2;
	if (how != MM_FAULT_POPULATED && how != MM_FAULT_FLUSHED)
		__atomic_add_fetch(&t->proc->s->st_cow_faults, 1, __ATOMIC_RELAXED);
	else
		__atomic_add_fetch(&t->proc->s->st_demand_faults, 1, __ATOMIC_RELAXED);
	return 1;
}

int task_loop(struct task *t)
{
	struct process *pr = t->proc;
	mm_flush_installs(pr); /* a fork child's installs (mm_fork), before anything of it runs */
	if (t->set_child_tid) { /* before a signal or a tracer's stop, as Linux (a bad address is ignored) */
		uint32_t tid = (uint32_t)t->tid;
		mm_copy_out(pr, t->set_child_tid, &tid, 4);
		t->set_child_tid = 0;
	}
	for (;;) {
		struct cv_exit ex;
		if (__atomic_load_n(&pr->s->paused, __ATOMIC_SEQ_CST))
			control_park(t); /* paused (control.c): the pauser's kick brings a running task here */
		int sig = sig_deliver(t);
		if (sig)
			return end_group(t, sig); /* default action: terminate */
		if (t->restart_now) { /* a call a stop (or an ignored signal) interrupted starts again */
			t->restart_now = false;
			struct cv_exit again = { .reason = CV_EXIT_SYSCALL };
			if (do_syscall(t, &again))
				return t->exit_code;
			continue;
		}
		sig_restore_suspend_mask(t);
		uint64_t t0 = now_ns(); /* the application's run: its CPU time (cputime.c) and --stats */
		cpu_enter(t, t0);
		int ret = cv_ctx_switch(t->ctx, pr->vm->as, &ex);
		uint64_t t1 = now_ns();
		cpu_leave(t, t1);
		if (ret < 0) {
			fprintf(stderr, "cvisor: process %d: the sandbox failed: %s\n", pr->pid, cv_strerror(ret));
			return end_group(t, SIGKILL);
		}
		if (__atomic_load_n(&pr->s->shutting_down, __ATOMIC_ACQUIRE))
			return end_group(t, SIGKILL);
		if (__atomic_load_n(&pr->group_exit, __ATOMIC_ACQUIRE))
			return t->exit_code = SIGKILL; /* another task ended the process */
		struct task *ex_task = __atomic_load_n(&pr->exec_task, __ATOMIC_ACQUIRE);
		if (ex_task && ex_task != t)
			return t->exit_code = SIGKILL; /* another thread is replacing the program */
		switch (ex.reason) {
		case CV_EXIT_SYSCALL: {
			uint64_t nr = t->st->regs.orig_rax < 512 ? t->st->regs.orig_rax : 512;
			/* All application memory is the sentry's own memory file and nothing here traces a
			 * program, so every patchable site may be patched (a failure only keeps it slow) —
			 * in a page of the process's own: a page shared through the file cache may sit at
			 * other addresses in other processes, and a patched site returns to its own. Only
			 * sites that trap again and again are worth that copy (mm_patch_wanted). */
			if ((ex.syscall_flags & CV_SYSCALL_PATCHABLE) && !t->pt.tracer &&
			    mm_patch_wanted(&pr->vm->mm, t->st->regs.rip) && mm_own_page(pr, t->st->regs.rip - 1) == 0)
				cv_as_patch_syscall(pr->vm->as, t->st->regs.rip);
			uint64_t blocked_before = t->blocked_ns;
			int end;
			if (t->pt.tracer) { /* a tracee: its tracer sees the entry, may change or skip the call */
				uint64_t sys = t->st->regs.orig_rax;
				ptrace_syscall_entry(t);
				end = t->st->regs.orig_rax == (uint64_t)-1 ? 0 : do_syscall(t, &ex);
				ptrace_syscall_exit(t, sys, end);
			} else {
				end = do_syscall(t, &ex);
			}
			uint64_t t2 = now_ns();
			cpu_syscall_done(t, t2 - t1, blocked_before);
			if (pr->s->opts.stats) {
				__atomic_add_fetch(&pr->s->st_count[nr], 1, __ATOMIC_RELAXED);
				__atomic_add_fetch(&pr->s->st_switch_ns[nr], t1 - t0, __ATOMIC_RELAXED);
				__atomic_add_fetch(&pr->s->st_handle_ns[nr], t2 - t1, __ATOMIC_RELAXED);
				__atomic_add_fetch(&pr->s->st_switch_hist[bucket(t1 - t0)], 1, __ATOMIC_RELAXED);
				__atomic_add_fetch(&pr->s->st_handle_hist[bucket(t2 - t1)], 1, __ATOMIC_RELAXED);
			}
			if (end)
				return t->exit_code;
			break;
		}
		case CV_EXIT_SIGNAL:
			if (ex.info.si_signo == SIGSEGV) {
				int how = retry_fault(t, (uint64_t)ex.info.si_addr, ex.access);
				if (how > 0)
					break; /* copy-on-write or untouched memory, now the process's own: retried */
				if (how == -1) /* --memory reached at a copy: killed, as Linux's OOM killer would */
					return end_group(t, SIGKILL);
				if (how == -2) { /* a page past the end of the file it maps, as Linux */
					ex.info.si_signo = SIGBUS;
					ex.info.si_code = BUS_ADRERR;
				} else if (ex.info.si_code == SEGV_MAPERR || ex.info.si_code == SEGV_ACCERR) {
					/* Unpopulated memory has nothing installed: the host says MAPERR where Linux says ACCERR. */
					ex.info.si_code = mm_mapped(pr, (uint64_t)ex.info.si_addr) ? SEGV_ACCERR : SEGV_MAPERR;
				}
			}
			if (pr->s->opts.trace)
				fprintf(stderr, "[%d] signal %d at %#llx (addr %p)\n", t->tid, ex.info.si_signo,
					(unsigned long long)t->st->regs.rip, ex.info.si_addr);
			__atomic_add_fetch(&pr->s->st_faults, 1, __ATOMIC_RELAXED);
			if (t->pt.tracer) { /* the tracer sees the fault first (a breakpoint, a step's trap) */
				if (t->pt.step && ex.info.si_signo == SIGTRAP) {
					t->st->regs.eflags &= ~0x100ull;
					t->pt.step = false;
				}
				int was = ex.info.si_signo, with = ptrace_signal_stop(t, &ex.info);
				if (!with)
					break; /* suppressed: the program goes on */
				if (with != was) { /* another signal: delivered as sent, not forced */
					sig_queue(t, with, &ex.info);
					break;
				}
			}
			sig = sig_fault(t, &ex.info); /* its handler, or death */
			if (sig)
				return end_group(t, sig);
			break;
		default:
			__atomic_add_fetch(&pr->s->st_interrupts, 1, __ATOMIC_RELAXED);
			break;
		}
	}
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * --stats: per syscall, how often, the mean time in the platform switch that ended with it (the
 * application's own run since the previous trap plus the trap and return), and the mean time the
 * sentry spent handling it (including any wait it blocked in).
 */
void stats_print(struct sentry *s)
{
	uint64_t total = 0, sw = 0, hd = 0;
	int order[513], n = 0;
	for (int i = 0; i < 513; i++)
		if (s->st_count[i]) {
			order[n++] = i;
			total += s->st_count[i];
			sw += s->st_switch_ns[i];
			hd += s->st_handle_ns[i];
		}
	for (int i = 1; i < n; i++) /* by count, descending */
		for (int j = i; j > 0 && s->st_count[order[j]] > s->st_count[order[j - 1]]; j--) {
			int x = order[j];
			order[j] = order[j - 1];
			order[j - 1] = x;
		}
	fprintf(stderr, "cvisor --stats: %llu syscalls, %llu faults (+%llu copy-on-write, +%llu demand), %llu interrupts\n",
		(unsigned long long)total, (unsigned long long)s->st_faults, (unsigned long long)s->st_cow_faults,
		(unsigned long long)s->st_demand_faults, (unsigned long long)s->st_interrupts);
	fprintf(stderr, "%-18s %10s %16s %16s\n", "syscall", "count", "switch us/call", "sentry us/call");
	for (int k = 0; k < n; k++) {
		int i = order[k];
		char name[40];
		const char *sn = i < 512 ? syscall_name((uint64_t)i) : NULL;
		if (sn)
			snprintf(name, sizeof(name), "%s", sn);
		else
			snprintf(name, sizeof(name), i < 512 ? "%d" : "other", i);
		fprintf(stderr, "%-18s %10llu %16.2f %16.2f\n", name, (unsigned long long)s->st_count[i],
			(double)s->st_switch_ns[i] / 1000.0 / (double)s->st_count[i],
			(double)s->st_handle_ns[i] / 1000.0 / (double)s->st_count[i]);
	}
	if (total)
		fprintf(stderr, "%-18s %10llu %16.2f %16.2f\n", "all", (unsigned long long)total,
			(double)sw / 1000.0 / (double)total, (double)hd / 1000.0 / (double)total);
	if (!total)
		return;
	/* Latency histograms: the switch (trap, the application's run since the last one, return) and
	 * the sentry's handling, in power-of-two microsecond buckets. */
	fprintf(stderr, "%-18s", "latency (us)");
	for (int b = 0; b < STATS_BUCKETS; b++) {
		char h[16];
		if (b == 0)
			snprintf(h, sizeof(h), "<1");
		else if (b == STATS_BUCKETS - 1)
			snprintf(h, sizeof(h), ">=%u", 1u << (b - 1));
		else
			snprintf(h, sizeof(h), "%u-%u", 1u << (b - 1), 1u << b);
		fprintf(stderr, " %9s", h);
	}
	fputc('\n', stderr);
	const uint64_t *rows[2] = { s->st_switch_hist, s->st_handle_hist };
	static const char *const labels[2] = { "switch", "sentry" };
	for (int r = 0; r < 2; r++) {
		fprintf(stderr, "%-18s", labels[r]);
		for (int b = 0; b < STATS_BUCKETS; b++)
			fprintf(stderr, " %9llu", (unsigned long long)rows[r][b]);
		fputc('\n', stderr);
	}
}

void nudge_and_wait(struct sentry *s, int ms)
{
	pthread_cond_broadcast(&s->changed); /* waiters in wait4 and sentry sleeps look again */
	pthread_mutex_unlock(&s->lock);
	futex_wake_all(s);
	pthread_mutex_lock(&s->lock);
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_nsec += (long)ms * 1000 * 1000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&s->changed, &s->lock, &ts);
}

/* The first process exited: stop every other task and wait for their host threads. */
static void shutdown_all(struct sentry *s)
{
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->shutting_down, true, __ATOMIC_RELEASE);
	idle_threads_end(s);
	while (s->host_threads > 0) {
		for (struct process *pr = s->procs; pr; pr = pr->next)
			for (struct task *t = pr->tasks; t; t = t->next)
				if (!t->exited)
					task_kick(t);
		nudge_and_wait(s, 10);
	}
	struct process *all = s->procs;
	s->procs = NULL;
	pthread_mutex_unlock(&s->lock);
	while (all) {
		struct process *next = all->next;
		process_free(all);
		all = next;
	}
	/* Every memory had its last user among them (clone(CLONE_VM) shares one): none may be left, with
	 * its address space and the backend's stub. Said aloud, so a test comparing output sees it. */
	int left = __atomic_load_n(&s->live_vms, __ATOMIC_RELAXED);
	if (left)
		fprintf(stderr, "cvisor: internal error: %d memories not freed at the end\n", left);
}

/*
 * Signals sent to cvisor itself (a terminal's ^C, ^Z or resize, a supervisor's SIGTERM) go to the
 * sandbox: SIGINT, SIGQUIT, SIGWINCH and SIGTSTP to the terminal's foreground group (jobctl.c: the
 * first process's group until a shell inside sets another), as a terminal sends them, and SIGCONT
 * (cvisor continued after it stopped with the first process) too; SIGTERM, SIGHUP, SIGUSR1 and
 * SIGUSR2 to the first process. The program decides, as natively; if it dies, the sandbox ends through
 * the ordinary path, which removes the private /tmp and /dev/shm. The sentry's threads (and the stubs
 * they spawn) block these signals; this thread reads them from a signalfd.
 */
struct host_signals {
	struct sentry *s;
	struct process *init;
	int sfd, stop;
	pthread_t thread;
	bool running;
};

static void *host_signals_main(void *arg)
{
	struct host_signals *h = arg;
	struct sentry *s = h->s;
	for (;;) {
		struct pollfd p[2] = { { .fd = h->sfd, .events = POLLIN }, { .fd = h->stop, .events = POLLIN } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			return NULL;
		if (p[1].revents)
			return NULL;
		struct signalfd_siginfo si;
		if (!(p[0].revents & POLLIN) || read(h->sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		int sig = (int)si.ssi_signo;
		siginfo_t info = { .si_signo = sig, .si_code = SI_USER }; /* from outside: pid 0 */
		/* what a terminal sends, to its foreground group; SIGCONT (cvisor's own fg or bg) too */
		bool group = sig == SIGINT || sig == SIGQUIT || sig == SIGWINCH || sig == SIGTSTP || sig == SIGCONT;
		pthread_mutex_lock(&s->lock);
		for (struct process *q = s->procs; q; q = q->next)
			if (!q->zombie && (group ? q->pgid == s->fg_pgrp : q == h->init))
				sig_process_locked(q, sig, &info);
		pthread_mutex_unlock(&s->lock);
		futex_wake_all(s);
	}
}

static void host_signals_start(struct host_signals *h, const sigset_t *set)
{
	h->sfd = signalfd(-1, set, SFD_CLOEXEC);
	h->stop = eventfd(0, EFD_CLOEXEC);
	h->running = h->sfd >= 0 && h->stop >= 0 && pthread_create(&h->thread, NULL, host_signals_main, h) == 0;
}

static void host_signals_stop(struct host_signals *h)
{
	if (h->running) {
		uint64_t one = 1;
		ssize_t w = write(h->stop, &one, sizeof(one));
		(void)w;
		pthread_join(h->thread, NULL);
	}
	if (h->sfd >= 0)
		close(h->sfd);
	if (h->stop >= 0)
		close(h->stop);
}

/*
 * A short scheduler slice for the sentry, its threads and its stub processes (they inherit it). Every
 * hand-off between a sentry thread and a stub thread that sleeps is a wake-up, and Linux's EEVDF
 * scheduler (6.6+) runs a woken thread ahead of the running one only when its virtual deadline, a slice
 * away, is earlier: with CPU hogs on every CPU each hand-off waited for a hog's slice (0.75 ms and up).
 * Linux 6.12+ takes a fair task's own slice from sched_attr.sched_runtime (100 us to 100 ms; older
 * kernels ignore it); 100 us puts a waking sandbox thread first without giving it more than its fair
 * share of CPU. With two host processes spinning on this VM's two CPUs, medians of 5 runs of
 * bench/load.sh's programs: a getpid through the signal path 107 -> 54 us, patched 37 -> 8.2 us; idle
 * unchanged (docs/systrap.md, "Busy machines"). Only under the normal and batch policies, keeping the
 * nice value; a refusal changes nothing.
 */
static void short_slice(void)
{
	struct sched_attr_v1 a;
	memset(&a, 0, sizeof(a));
	if (syscall(SYS_sched_getattr, 0, &a, sizeof(a), 0) < 0 ||
	    (a.sched_policy != SCHED_OTHER && a.sched_policy != SCHED_BATCH))
		return;
	a.size = sizeof(a);
	a.sched_flags = 0;
	a.sched_runtime = SENTRY_SLICE_NS;
	syscall(SYS_sched_setattr, 0, &a, 0);
}

int sentry_run(const struct sentry_opts *opts, const char *path, char *const argv[], char *const envp[])
{
	struct launch L = { .prog_fd = -1, .device_fd = -1, .ids_fd = -1, .report_fd = -1 };
	short_slice();
	/* A backend's device is opened here, with the caller's rights and mount view: the jail has
	 * neither (the sandbox never sees the device; the policy refuses it). */
	struct cv_platform_requirements req;
	if (opts->platform && !opts->no_confine && cv_platform_requirements(opts->platform, &req) == 0 && req.device)
		L.device_fd = open(req.device, O_RDWR | O_CLOEXEC);
	/* Without --root the program is the host file the caller named (it may be where the sandbox does
	 * not look, e.g. the host's /tmp): opened here, with the caller's rights. Under --root it is a path
	 * inside the root, opened through the policy. Either way its interpreter comes through the policy. */
	if (!opts->root) {
		L.prog_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (L.prog_fd < 0) {
			int e = errno;
			fprintf(stderr, "cvisor: %s: %s\n", path, strerror(e));
			return -e;
		}
	}
	/* The host kernel's AT_HWCAP, read before the jail hides /proc: CPUID leaf 1's EDX less the bits the
	 * kernel turned off (a VM's kernel clears MTRR here), which glibc's getauxval() does not give on
	 * x86 (it answers with its own HWCAP_X86_64 bits). */
	int ax = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	uint64_t kv[2];
	while (ax >= 0 && read(ax, kv, sizeof(kv)) == (ssize_t)sizeof(kv) && kv[0] != AT_NULL)
		if (kv[0] == AT_HWCAP)
			L.hwcap = kv[1];
	if (ax >= 0)
		close(ax);
	/* /proc/self/exe names the file itself, links resolved, as Linux's does (ld.so's $ORIGIN). */
	char canon[PATH_MAX];
	snprintf(L.exe, sizeof(L.exe), "%s", !opts->root && realpath(path, canon) ? canon : path);
	char here[SENTRY_PATH_MAX];
	if (policy_normalize("/", opts->cwd ? opts->cwd : getcwd(here, sizeof(here)) ? here : "/", L.cwd) < 0)
		strcpy(L.cwd, "/");
	/* The sandbox's credentials are the caller's. */
	uid_t u[3];
	gid_t g[3];
	getresuid(&u[0], &u[1], &u[2]);
	getresgid(&g[0], &g[1], &g[2]);
	for (int i = 0; i < 3; i++)
		L.uid[i] = u[i], L.gid[i] = g[i];
	gid_t groups[64];
	int ng = getgroups(64, groups);
	for (int i = 0; i < ng; i++)
		L.groups[L.ngroups++] = groups[i];
	if (opts->set_creds) { /* a container's process.user: the sandbox's ids, never the host's */
		for (int i = 0; i < 3; i++)
			L.uid[i] = opts->uid, L.gid[i] = opts->gid;
		L.ngroups = opts->ngroups < 64 ? opts->ngroups : 64;
		for (int i = 0; i < L.ngroups; i++)
			L.groups[i] = opts->groups[i];
	}
	/* Signals the caller ignores stay ignored in the program, as across execve (nohup's SIGHUP). */
	for (int sig = 1; sig <= 64; sig++) {
		struct ksigaction old; /* the raw call: glibc hides its own signals 32 and 33 */
		if (sig != SIGKILL && sig != SIGSTOP && syscall(SYS_rt_sigaction, sig, NULL, &old, 8) == 0 &&
		    old.handler == (uint64_t)SIG_IGN)
			L.ignored |= 1ull << (sig - 1);
	}
	int ret;
	if (opts->no_confine) {
		fprintf(stderr, "cvisor: WARNING: --unsafe-no-confine: the sentry runs with all of the caller's "
				"privileges and namespaces; a sentry bug hands the program the host\n");
		ret = sentry_main(opts, &L, path, argv, envp);
	} else {
		ret = jail_run(opts, &L, path, argv, envp);
	}
	if (L.prog_fd >= 0)
		close(L.prog_fd);
	if (L.device_fd >= 0)
		close(L.device_fd);
	return ret;
}

int sentry_main(const struct sentry_opts *opts, const struct launch *L, const char *path, char *const argv[],
		char *const envp[])
{
	/* On the heap: over half a megabyte, most of it never touched (zeroing it on the stack faulted in
	 * every page of it, a millisecond and more of the start on a VM). */
	struct sentry *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->opts = *opts;
	s->L = L;
	s->ctl_stop = -1;
	struct host_signals hs = { .s = s, .sfd = -1, .stop = -1 };
	sigset_t forwarded, caller_mask;
	sigemptyset(&forwarded);
	sigaddset(&forwarded, SIGINT);
	sigaddset(&forwarded, SIGTERM);
	sigaddset(&forwarded, SIGHUP);
	sigaddset(&forwarded, SIGQUIT);
	sigaddset(&forwarded, SIGWINCH);
	sigaddset(&forwarded, SIGUSR1);
	sigaddset(&forwarded, SIGUSR2);
	sigaddset(&forwarded, SIGTSTP); /* ^Z: the sandbox's foreground job stops (and cvisor with it) */
	sigaddset(&forwarded, SIGCONT); /* cvisor continued: so is that job */
	pthread_sigmask(SIG_BLOCK, &forwarded, &caller_mask); /* before any thread: all inherit it */
	/* Host writes to a pipe whose reader left must fail with EPIPE, not kill the sentry. */
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->futex_lock, NULL);
	pthread_mutex_init(&s->fc_lock, NULL);
	pthread_mutex_init(&s->spc_lock, NULL);
	s->spc_gen = 1;
	s->lnc_gen = 1;
	pthread_condattr_t ca; /* deadlines on s->changed are CLOCK_MONOTONIC (sleeps, shutdown) */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&s->changed, &ca);
	pthread_condattr_destroy(&ca);
	char err[512] = "";
	int ret, status = -1;
	struct process *init = NULL;

	net_setup(s); /* before any thread: a namespace is the calling thread's */
	/* The program gets the caller's descriptor limit; the sentry, which holds the host fds of every
	 * process's descriptors and its own, takes all the host allows. */
	if (getrlimit(RLIMIT_NOFILE, &s->nofile) == 0 && s->nofile.rlim_cur < s->nofile.rlim_max)
		setrlimit(RLIMIT_NOFILE, &(struct rlimit){ s->nofile.rlim_max, s->nofile.rlim_max });
	struct rlimit own;
	if (getrlimit(RLIMIT_NOFILE, &own) == 0) { /* a slot per host fd the sentry may have */
		s->n_fd_shares = own.rlim_cur == RLIM_INFINITY || own.rlim_cur > (1u << 20) ? (1u << 20) : own.rlim_cur;
		s->fd_shares = calloc(s->n_fd_shares, sizeof(*s->fd_shares));
		s->fd_keyed = calloc(s->n_fd_shares, sizeof(*s->fd_keyed));
		if (!s->fd_keyed) {
			free(s->fd_shares);
			s->fd_shares = NULL;
		}
	}
	for (int i = 0; i < 3; i++) { /* the caller's terminal, which the program may open by name too */
		struct stat st;
		if (fstat(i, &st) == 0 && S_ISCHR(st.st_mode))
			s->stdio_rdev[i] = st.st_rdev;
	}
	/* The default affinity of every task: where the sentry could run before any backend pinned a thread. */
	if (sched_getaffinity(0, sizeof(s->cpus), (cpu_set_t *)s->cpus) < 0)
		s->cpus[0] = 1;
	/* Before the first thread or stub: they inherit what is left. */
	if (!opts->no_confine && (ret = confine_privileges(L->confined, err, sizeof(err))) < 0)
		goto out;
	struct cv_platform_opts popts = { .size = sizeof(popts), .flags = CV_PLATFORM_STUB_POOL |
						CV_PLATFORM_CPUID_FAULTING_IF_NEEDED |
						(opts->no_patch ? CV_PLATFORM_NO_SYSCALL_PATCHING : 0) };
	if (L->device_fd >= 0) {
		popts.flags |= CV_PLATFORM_DEVICE_FD;
		popts.device_fd = L->device_fd;
	}
	if ((ret = cv_platform_open(opts->platform, &popts, &s->p)) < 0) {
		snprintf(err, sizeof(err), "cannot open platform %s: %s", opts->platform ? opts->platform : "(best)",
			 cv_strerror(ret));
		goto out;
	}
	cv_platform_caps(s->p, &s->caps);
	if ((ret = timer_start(s)) < 0) {
		snprintf(err, sizeof(err), "cannot start the timer thread: %s", cv_strerror(ret));
		goto out;
	}
	if ((ret = policy_init(s, err, sizeof(err))) < 0)
		goto out;
	/* Freed pages punched out, or zeroed and kept (warm), off the path of exit and exec
	 * (CV_MEMFILE_ASYNC_FREE) */
	struct cv_memfile_opts mo = { .size = sizeof(mo), .flags = CV_MEMFILE_ASYNC_FREE,
				      .max_size = (opts->mem_limit + 4095) & ~4095ull };
	/* The first process's memory starts without an address space: its image is built through the
	 * memory file and installed once loaded, by when the stub pool has a stub ready (taking one now
	 * would wait for the pool's first). */
	struct vm *vm = NULL;
	if ((ret = cv_memfile_new(&mo, &s->mf)) == 0 && (vm = vm_new_bare(s)))
		init = process_new(s, NULL, vm);
	vm_put(s, vm);
	if (ret < 0 || !init || !task_new(init)) {
		snprintf(err, sizeof(err), "cannot create the sandbox: %s", cv_strerror(ret < 0 ? ret : -ENOMEM));
		ret = ret < 0 ? ret : -ENOMEM;
		goto out;
	}
	if ((ret = vdso_start(s)) < 0) { /* the vDSO's pages; its clock thread, before seccomp */
		snprintf(err, sizeof(err), "cannot set up the vDSO: %s", cv_strerror(ret));
		goto out;
	}
	/* From here on, with every thread it will need but its tasks', the sentry confines its own syscalls
	 * (seccomp.c): before the first byte of the untrusted program is read. */
	if (L->confined && (ret = seccomp_confine(s->p, err, sizeof(err))) < 0)
		goto out;
	if (sentry_test_confined)
		sentry_test_confined();
	for (int i = 0; i < 64; i++)
		if (L->ignored & (1ull << i))
			init->actions[i].handler = (uint64_t)SIG_IGN;
	if (opts->set_caps)
		init->cred.cap_eff = init->cred.cap_prm = opts->caps & CRED_ALL_CAPS;
	if (opts->no_new_privs)
		init->no_new_privs = true;
	for (int i = 0; i < RLIM_NLIMITS; i++)
		if (opts->rlimits_set & (1u << i)) {
			init->rlim[i] = opts->rlimits[i];
			if (i == RLIMIT_NOFILE && init->rlim[i].rlim_max > SENTRY_MAX_FDS) /* as rlimits_init */
				init->rlim[i].rlim_max = SENTRY_MAX_FDS;
			if (init->rlim[i].rlim_cur > init->rlim[i].rlim_max)
				init->rlim[i].rlim_cur = init->rlim[i].rlim_max;
		}
	snprintf(init->exe_buf, sizeof(init->exe_buf), "%s", L->exe);
	init->exe = init->exe_buf;
	snprintf(init->cwd, sizeof(init->cwd), "%s", L->cwd);
	{ /* The working directory must be one the sandbox sees: --cwd's must be; the caller's own may
	   * not be (the host's /tmp is not the sandbox's), and then the program starts at "/". */
		struct walk w;
		int e = walk_path(init, AT_FDCWD, init->cwd, WALK_FOLLOW, &w);
		if (e == 0) {
			if (!w.proc && !S_ISDIR(w.st.st_mode))
				e = -ENOTDIR;
			walk_done(&w);
		}
		if (e < 0 && opts->cwd) {
			snprintf(err, sizeof(err), "--cwd %s: %s in the sandbox", opts->cwd, strerror(-e));
			ret = -EINVAL;
			goto out;
		}
		if (e < 0)
			strcpy(init->cwd, "/");
	}
	/* The program's stdio are ours (duplicates, so closing them does not close ours). */
	for (int i = 0; i < 3; i++)
		init->fds[i] = fcntl(i, F_DUPFD_CLOEXEC, 3);
	struct task *t = init->tasks;
	uint64_t entry, sp;
	int pfd = -1;
	char real[64];
	if (L->prog_fd >= 0) {
		snprintf(real, sizeof(real), "/proc/self/fd/%d", L->prog_fd);
	} else {
		pfd = fs_open(init, AT_FDCWD, path, O_RDONLY);
		if (pfd < 0) {
			snprintf(err, sizeof(err), "%s: %s", path, strerror(-pfd));
			ret = pfd;
			goto out;
		}
		snprintf(real, sizeof(real), "/proc/self/fd/%d", pfd);
	}
	ret = load_elf(init, real, path, argv, envp, &entry, &sp, err, sizeof(err));
	if (pfd >= 0)
		close(pfd);
	if (ret < 0)
		goto out;
	if ((ret = cv_as_new(s->p, &init->vm->as)) < 0 || (ret = mm_end_defer(init)) < 0) {
		snprintf(err, sizeof(err), "cannot make the program's address space: %s", cv_strerror(ret));
		goto out;
	}
	process_set_args(init, argv, envp);
	t->st->regs.rip = entry;
	t->st->regs.rsp = sp;
	hs.init = init;
	s->fg_pgrp = init->pgid; /* the first process starts in the foreground */
	for (int i = 0; i < 3 && !init->ctty; i++) /* natively its terminal is the caller's: no pty is taken */
		init->ctty = s->stdio_rdev[i];
	host_signals_start(&hs, &forwarded);
	control_start(s);
	task_loop(t);
	task_exit(t);
	process_wait_zombie(init); /* its other threads may still run */
	status = init->exit_status;
	/* Nothing below is needed when the process ends now: the sentry is its pid namespace's init, and
	 * the kernel kills every task and stub of the namespace and reaps them before the caller's wait
	 * returns; files, memory and threads go with the process (a millisecond and more of the start-up
	 * figure was this freeing and joining). */
	if (opts->quick_exit && L->confined && !opts->stats && !opts->control && status >= 0) {
		fflush(NULL);
		return status;
	}
out:
	if (err[0])
		fprintf(stderr, "cvisor: %s\n", err);
	host_signals_stop(&hs);
	control_stop(s);
	shutdown_all(s);
	timer_stop(s);
	fasync_stop(s);
	uc_free(s);
	policy_destroy(s);
	if (opts->stats)
		stats_print(s);
	fc_destroy(s);
	owners_free(s);
	free(s->fd_shares);
	free(s->fd_keyed);
	pthread_mutex_destroy(&s->fc_lock);
	spcache_free(s);
	linkcache_free(s);
	devcache_free(s);
	shm_free(s);
	sem_free(s);
	msq_free(s);
	pthread_mutex_destroy(&s->spc_lock);
	vdso_stop(s);
	cv_memfile_close(s->mf);
	cv_platform_close(s->p);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->futex_lock);
	pthread_mutex_destroy(&s->lock);
	pthread_sigmask(SIG_SETMASK, &caller_mask, NULL);
	free(s);
	return status < 0 ? (ret < 0 ? ret : -EIO) : status;
}
