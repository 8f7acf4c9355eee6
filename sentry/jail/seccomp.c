// SPDX-License-Identifier: Apache-2.0
// The sentry's own seccomp filter (issue 11, third layer): once it is set up, every thread of the
// sentry may make only the host syscalls listed here, with the arguments checked where that is cheap.
// Anything else is stopped before the kernel runs it; the sentry then names the syscall on stderr and
// dies of SIGSYS (a bug, or a compromised sentry: either way nothing of it reaches the host).
//
// Never on the list: execve, execveat, mount and the new mount API, pivot_root, unshare, setns, bpf,
// io_uring, kexec, module loading, keyctl, perf_event_open, open_by_handle_at, process_vm_*, chroot,
// the set*id family, userfaultfd. ptrace is there only for the ptrace backend, and reaches only the
// sentry's own stubs: the sentry is pid 1 of its own pid namespace, where nothing else lives. clone
// makes threads only (no fork, no namespaces); clone3, whose flags a filter cannot see, says ENOSYS
// (glibc then uses clone). No new executable memory: mmap and mprotect refuse PROT_EXEC.
//
// The backend says what its code in the sentry's threads calls (cv_platform_host_syscalls), beside that
// code. Stub processes do not inherit this filter: the backends clone them from a source stub made before
// it (src/ptrace/stub.c, src/systrap/stubproc.c), and each stub has a filter of its own.
//
// The filter is a binary search over the sorted allow-list (about 8 comparisons for any syscall),
// then the argument checks of the few syscalls that have one.
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>
#include "../sentry.h"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS /* Linux 6.6 */
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif

enum check { ANY, CLONE, SOCKET, SOCKETPAIR, IOCTL, PRCTL, MAP, NOSYS, N_CHECKS };

struct rule {
	int nr;
	enum check check;
};

/* What every sentry thread may do, by who needs it. */
static const struct rule common[] = {
	/* glibc: memory, threads, signals, time, exit (malloc, pthread_create, abort, printf) */
	{ SYS_brk, ANY }, { SYS_mmap, MAP }, { SYS_munmap, ANY }, { SYS_mprotect, MAP }, { SYS_madvise, ANY },
	{ SYS_mremap, ANY }, { SYS_clone, CLONE }, { SYS_clone3, NOSYS }, { SYS_set_robust_list, ANY },
	{ SYS_rseq, ANY }, { SYS_futex, ANY }, { SYS_rt_sigaction, ANY }, { SYS_rt_sigprocmask, ANY },
	{ SYS_rt_sigreturn, ANY }, { SYS_sigaltstack, ANY }, { SYS_getpid, ANY }, { SYS_gettid, ANY },
	{ SYS_tgkill, ANY }, { SYS_exit, ANY }, { SYS_exit_group, ANY }, { SYS_sched_yield, ANY },
	{ SYS_nanosleep, ANY }, { SYS_clock_nanosleep, ANY }, { SYS_clock_gettime, ANY },
	/* the kernel's own restart of a timed wait (futex, nanosleep) a kick signal's handler interrupted:
	 * it resumes only that call, already allowed (a vfork parent's timed wait in process.c meets it) */
	{ SYS_restart_syscall, ANY },
	{ SYS_clock_getres, ANY }, { SYS_gettimeofday, ANY }, { SYS_time, ANY }, { SYS_getrandom, ANY },
	{ SYS_prctl, PRCTL }, { SYS_getcpu, ANY },
	/* the sentry's tasks and jail.c: kicks, CPU placement, pidfds of its own (kill and wait reach only
	 * the sentry's pid namespace); the backend's own needs come from cv_platform_host_syscalls() */
	{ SYS_sched_getaffinity, ANY }, { SYS_sched_setaffinity, ANY }, { SYS_kill, ANY }, { SYS_tkill, ANY },
	{ SYS_pidfd_open, ANY }, { SYS_pidfd_send_signal, ANY }, { SYS_getppid, ANY },
	/* fileio.c, fs.c, walk.c, fs_change.c, fs_xattr.c, procfs.c: the application's files */
	{ SYS_read, ANY }, { SYS_write, ANY }, { SYS_readv, ANY }, { SYS_writev, ANY }, { SYS_pread64, ANY },
	{ SYS_pwrite64, ANY }, { SYS_preadv, ANY }, { SYS_pwritev, ANY }, { SYS_preadv2, ANY },
	{ SYS_pwritev2, ANY }, { SYS_lseek, ANY }, { SYS_close, ANY }, { SYS_close_range, ANY },
	{ SYS_mincore, ANY }, /* mm.c: a process's resident pages; the memory file's cleaner: warm pages */
	{ SYS_dup, ANY }, { SYS_dup3, ANY }, { SYS_fcntl, ANY }, { SYS_ioctl, IOCTL }, { SYS_openat, ANY },
	{ SYS_openat2, ANY }, { SYS_newfstatat, ANY }, { SYS_fstat, ANY }, { SYS_statx, ANY },
	{ SYS_statfs, ANY }, { SYS_fstatfs, ANY }, { SYS_getdents64, ANY }, { SYS_readlinkat, ANY },
	{ SYS_faccessat2, ANY }, { SYS_mkdirat, ANY }, { SYS_mknodat, ANY }, { SYS_unlinkat, ANY },
	{ SYS_renameat2, ANY }, { SYS_linkat, ANY }, { SYS_symlinkat, ANY }, { SYS_fchmod, ANY },
	{ SYS_fchmodat, ANY }, { SYS_fchown, ANY }, { SYS_fchownat, ANY }, { SYS_utimensat, ANY },
	{ SYS_ftruncate, ANY }, { SYS_fallocate, ANY }, { SYS_fsync, ANY }, { SYS_fdatasync, ANY },
	{ SYS_sync_file_range, ANY },
	{ SYS_syncfs, ANY }, { SYS_flock, ANY }, { SYS_sendfile, ANY }, { SYS_splice, ANY }, { SYS_tee, ANY },
	{ SYS_copy_file_range, ANY }, { SYS_fadvise64, ANY }, { SYS_fgetxattr, ANY }, { SYS_fsetxattr, ANY },
	{ SYS_flistxattr, ANY }, { SYS_fremovexattr, ANY }, { SYS_getxattr, ANY }, { SYS_lgetxattr, ANY },
	{ SYS_setxattr, ANY }, { SYS_lsetxattr, ANY }, { SYS_listxattr, ANY }, { SYS_llistxattr, ANY },
	{ SYS_removexattr, ANY }, { SYS_lremovexattr, ANY }, { 464 /* getxattrat */, ANY },
	{ 463 /* setxattrat */, ANY }, { 465 /* listxattrat */, ANY }, { 466 /* removexattrat */, ANY },
	{ 452 /* fchmodat2 */, ANY }, { SYS_inotify_init1, ANY }, { SYS_inotify_add_watch, ANY },
	{ SYS_inotify_rm_watch, ANY }, { SYS_umask, ANY }, { SYS_chdir, ANY }, { SYS_fchdir, ANY },
	{ SYS_getcwd, ANY }, { SYS_memfd_create, ANY }, { SYS_pipe2, ANY }, { SYS_dup2, ANY },
	/* the same through glibc's wrappers, which use the older calls (realpath, mkdtemp, remove) */
	{ SYS_readlink, ANY }, { SYS_mkdir, ANY }, { SYS_rmdir, ANY }, { SYS_unlink, ANY },
	{ SYS_symlink, ANY }, { SYS_link, ANY }, { SYS_rename, ANY }, { SYS_chmod, ANY }, { SYS_chown, ANY },
	{ SYS_lchown, ANY }, { SYS_access, ANY }, { SYS_pause, ANY },
	/* waiting: epoll, poll, eventfd, timers, signalfd (sigfd.c, timer.c, the host-signal thread) */
	{ SYS_eventfd2, ANY }, { SYS_epoll_create1, ANY }, { SYS_epoll_ctl, ANY }, { SYS_epoll_wait, ANY },
	{ SYS_epoll_pwait, ANY }, { SYS_poll, ANY }, { SYS_ppoll, ANY }, { SYS_pselect6, ANY },
	{ SYS_timerfd_create, ANY }, { SYS_timerfd_settime, ANY }, { SYS_timerfd_gettime, ANY },
	{ SYS_signalfd4, ANY },
	/* net.c, netns.c: sockets of the allowed families */
	{ SYS_socket, SOCKET }, { SYS_socketpair, SOCKETPAIR }, { SYS_bind, ANY }, { SYS_connect, ANY },
	{ SYS_listen, ANY }, { SYS_accept, ANY }, { SYS_accept4, ANY }, { SYS_sendto, ANY },
	{ SYS_recvfrom, ANY }, { SYS_sendmsg, ANY }, { SYS_recvmsg, ANY }, { SYS_sendmmsg, ANY },
	{ SYS_recvmmsg, ANY }, { SYS_shutdown, ANY }, { SYS_getsockname, ANY }, { SYS_getpeername, ANY },
	{ SYS_setsockopt, ANY }, { SYS_getsockopt, ANY },
	/* sysinfo.c, creds.c, cputime.c: what the host says about itself and the sentry */
	{ SYS_uname, ANY }, { SYS_sysinfo, ANY }, { SYS_getrlimit, ANY }, { SYS_setrlimit, ANY },
	{ SYS_prlimit64, ANY }, { SYS_getrusage, ANY }, { SYS_times, ANY }, { SYS_getpriority, ANY },
	{ SYS_setpriority, ANY }, { SYS_getuid, ANY }, { SYS_geteuid, ANY }, { SYS_getgid, ANY },
	{ SYS_getegid, ANY }, { SYS_getresuid, ANY }, { SYS_getresgid, ANY }, { SYS_getgroups, ANY },
	{ SYS_capget, ANY }, { SYS_sched_getparam, ANY }, { SYS_sched_getscheduler, ANY },
	{ SYS_sched_get_priority_max, ANY }, { SYS_sched_get_priority_min, ANY },
	{ SYS_sched_rr_get_interval, ANY },
};

/* ioctl requests: terminals the program was given (ioctl.c), ptys (fs.c), signalfd (sigfd.c), and
 * systrap's seccomp notifications. Never TIOCSTI, TIOCLINUX, or another device's requests. */
static const uint32_t ioctls[] = { TCGETS, TCSETS, TCSETSW, TCSETSF, TIOCGWINSZ, TIOCSWINSZ, FIONREAD,
				   TIOCOUTQ, TCFLSH, TCXONC, TCSBRK, TIOCGPTN, TIOCSPTLCK, TIOCGPTPEER,
				   FIONBIO, FIOCLEX, FIONCLEX, (uint32_t)SECCOMP_IOCTL_NOTIF_RECV,
				   (uint32_t)SECCOMP_IOCTL_NOTIF_SEND, (uint32_t)SECCOMP_IOCTL_NOTIF_ID_VALID,
				   (uint32_t)SECCOMP_IOCTL_NOTIF_SET_FLAGS,
				   /* interfaces, read only (ioctl.c): if_nametoindex and friends */
				   SIOCGIFINDEX, SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFNETMASK, SIOCGIFBRDADDR,
				   SIOCGIFDSTADDR, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFTXQLEN, SIOCGIFCONF,
				   /* the kvm backend's, on its own VM and vCPU fds (src/kvm/); the sentry holds
				    * no other KVM fd, and on any other fd they are ENOTTY */
				   KVM_RUN, KVM_GET_XSAVE, KVM_SET_XSAVE, KVM_SET_USER_MEMORY_REGION, KVM_CREATE_VCPU,
				   KVM_SET_CPUID2, KVM_SET_MSRS, KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_XCRS,
				   KVM_SET_SIGNAL_MASK, KVM_GET_VCPU_EVENTS };

/* prctl options: thread names, the parent-death signal, reading its own state. */
static const uint32_t prctls[] = { PR_SET_NAME, PR_GET_NAME, PR_SET_PDEATHSIG, PR_GET_PDEATHSIG, PR_GET_DUMPABLE,
				   PR_GET_SECCOMP, PR_GET_NO_NEW_PRIVS, PR_CAPBSET_READ, PR_SET_VMA };

/* Namespaces and other clone flags a thread of the sentry never needs. */
#define CLONE_FORBIDDEN                                                                                     \
	(CLONE_NEWNS | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS |          \
	 CLONE_NEWCGROUP | CLONE_NEWTIME | CLONE_UNTRACED | CLONE_PTRACE | CLONE_VFORK)
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (ARG_LO(i) + 4)
#define MAX_INSNS 2048

struct prog {
	struct sock_filter f[MAX_INSNS];
	unsigned n;
	bool overflow;
};

static unsigned emit(struct prog *p, struct sock_filter insn)
{
	if (p->n >= MAX_INSNS) {
		p->overflow = true;
		return p->n;
	}
	p->f[p->n] = insn;
	return p->n++;
}

static void stmt(struct prog *p, uint16_t code, uint32_t k)
{
	emit(p, (struct sock_filter)BPF_STMT(code, k));
}

/* A jump whose target is patched later (BPF_JA: any distance forward). */
static unsigned ja(struct prog *p)
{
	return emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0));
}

static void land(struct prog *p, unsigned from)
{
	if (!p->overflow)
		p->f[from].k = p->n - from - 1;
}

/* Leaves jump to the block of their check: ja_of[i] are the jumps to patch for check i. */
struct pending {
	unsigned at[512];
	unsigned n;
};

static int cmp_rule(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;
	return (x->nr > y->nr) - (x->nr < y->nr);
}

/* Binary search over rules[lo, hi): each leaf tests its number and jumps to its check's block. */
static void tree(struct prog *p, const struct rule *r, size_t lo, size_t hi, struct pending *to)
{
	if (hi - lo == 1) {
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)r[lo].nr, 0, 1));
		struct pending *t = &to[r[lo].check];
		unsigned j = ja(p);
		if (t->n < sizeof(t->at) / sizeof(t->at[0]))
			t->at[t->n++] = j;
		else
			p->overflow = true;
		stmt(p, BPF_RET | BPF_K, SECCOMP_RET_TRAP);
		return;
	}
	size_t mid = lo + (hi - lo) / 2;
	emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, (uint32_t)r[mid].nr, 0, 1));
	unsigned right = ja(p);
	tree(p, r, lo, mid, to);
	land(p, right);
	tree(p, r, mid, hi, to);
}

/* The block of one check: its argument tests, ending in ALLOW or TRAP. */
static void check_block(struct prog *p, enum check c)
{
	const uint32_t allow = SECCOMP_RET_ALLOW, trap = SECCOMP_RET_TRAP;
	switch (c) {
	case ANY:
		stmt(p, BPF_RET | BPF_K, allow);
		break;
	case NOSYS:
		stmt(p, BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
		break;
	case CLONE: /* a thread: CLONE_THREAD, no namespace or tracing flags, nothing in the high half */
		stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_HI(0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 0));
		stmt(p, BPF_RET | BPF_K, trap);
		stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_FORBIDDEN, 1, 0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 1, 0));
		stmt(p, BPF_RET | BPF_K, trap);
		stmt(p, BPF_RET | BPF_K, allow);
		break;
	case MAP: /* no executable memory: PROT_EXEC in mmap's and mprotect's third argument */
		stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(2));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1));
		stmt(p, BPF_RET | BPF_K, trap);
		stmt(p, BPF_RET | BPF_K, allow);
		break;
	case SOCKET: /* unix, IPv4, IPv6; netlink for routes only (the loopback, --net's ip) */
		stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 3, 0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET, 2, 0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_INET6, 1, 0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_NETLINK, 2, 1));
		stmt(p, BPF_RET | BPF_K, allow);
		stmt(p, BPF_RET | BPF_K, trap);
		stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(2));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NETLINK_ROUTE, 0, 1));
		stmt(p, BPF_RET | BPF_K, allow);
		stmt(p, BPF_RET | BPF_K, trap);
		break;
	case SOCKETPAIR:
		stmt(p, BPF_LD | BPF_W | BPF_ABS, ARG_LO(0));
		emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AF_UNIX, 0, 1));
		stmt(p, BPF_RET | BPF_K, allow);
		stmt(p, BPF_RET | BPF_K, trap);
		break;
	case IOCTL:
	case PRCTL: {
		const uint32_t *v = c == IOCTL ? ioctls : prctls;
		size_t n = c == IOCTL ? sizeof(ioctls) / sizeof(ioctls[0]) : sizeof(prctls) / sizeof(prctls[0]);
		stmt(p, BPF_LD | BPF_W | BPF_ABS, c == IOCTL ? ARG_LO(1) : ARG_LO(0));
		for (size_t i = 0; i < n; i++)
			emit(p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, v[i], (uint8_t)(n - i), 0));
		stmt(p, BPF_RET | BPF_K, trap);
		stmt(p, BPF_RET | BPF_K, allow);
		break;
	}
	default:
		stmt(p, BPF_RET | BPF_K, trap);
	}
}

/* A host syscall the filter stopped: say which, then die of SIGSYS (the caller reports it). */
static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char msg[200];
	int n = snprintf(msg, sizeof(msg),
			 "cvisor: the sentry's seccomp filter stopped host syscall %s (%d): a sentry bug or a "
			 "compromised sentry; ending\n",
			 syscall_name((uint64_t)si->si_syscall), si->si_syscall);
	ssize_t w = write(2, msg, n > 0 ? (size_t)n : 0);
	(void)w;
	/* The sentry is pid 1 of its namespace, which no signal it sends itself can kill; a SIGSYS the
	 * kernel forces on it does (the default action, even while blocked here). mount never passes. */
	signal(SIGSYS, SIG_DFL);
	syscall(SYS_mount, 0, 0, 0, 0, 0);
	_exit(128 + SIGSYS);
}

int seccomp_confine(const struct cv_platform *plat, char *err, size_t errlen)
{
	static struct rule rules[sizeof(common) / sizeof(common[0]) + 64];
	size_t n = 0;
	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		rules[n++] = common[i];
	/* The backend's, beside its code (src/ptrace/ptrace.c, src/systrap/systrap.c): added unless the
	 * sentry lists the number already, with its argument check (ioctl, for one). */
	const int *more;
	int m = cv_platform_host_syscalls(plat, &more);
	for (int i = 0; i < m && n < sizeof(rules) / sizeof(rules[0]); i++) {
		bool have = false;
		for (size_t j = 0; j < n && !have; j++)
			have = rules[j].nr == more[i];
		if (!have)
			rules[n++] = (struct rule){ more[i], ANY };
	}
	qsort(rules, n, sizeof(rules[0]), cmp_rule);

	static struct prog p;
	static struct pending to[N_CHECKS];
	memset(&p, 0, sizeof(p));
	memset(to, 0, sizeof(to));
	stmt(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0));
	stmt(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	stmt(&p, BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	emit(&p, (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 0x40000000u, 0, 1)); /* x32 */
	stmt(&p, BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	tree(&p, rules, 0, n, to);
	for (int c = 0; c < N_CHECKS; c++) {
		if (!to[c].n)
			continue;
		for (unsigned i = 0; i < to[c].n; i++)
			land(&p, to[c].at[i]);
		check_block(&p, (enum check)c);
	}
	if (p.overflow) {
		snprintf(err, errlen, "the sentry's seccomp filter does not fit");
		return -E2BIG;
	}
	struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };
	sigaction(SIGSYS, &sa, NULL);
	struct sock_fprog prog = { .len = (unsigned short)p.n, .filter = p.f };
	/* TSYNC: every thread the sentry has already (the backend's, the timer's) gets it too. */
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0) {
		int e = errno;
		snprintf(err, errlen, "cannot install the sentry's seccomp filter: %s", strerror(e));
		return -e;
	}
	return 0;
}
