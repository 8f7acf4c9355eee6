// SPDX-License-Identifier: Apache-2.0
// The syscall table, one entry per x86-64 syscall number (after gVisor's linux64.go), and the
// dispatcher that runs from it. The same entries name syscalls for --trace, --stats and the "not
// implemented" report, and print docs/syscalls.md (`cvisor syscalls --markdown`).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include "../sentry.h"
#include "../systable.h"

/* An implemented syscall: its handler is sc_<name> (systable.h lists them by file). */
#define SYS(nr, name, args, flags, note) [nr] = { #name, sc_##name, args, flags, note }
/* A syscall the sentry does not implement: ENOSYS, reported once. */
#define NOSYS(nr, name) [nr] = { #name, NULL, NULL, 0, NULL }

static const struct syscall_def table[SYSCALL_TABLE_SIZE] = {
	SYS(0, read, "dxd", SC_UNLOCKED, NULL),
	SYS(1, write, "dxd", SC_UNLOCKED, NULL),
	SYS(2, open, "sxx", 0, NULL),
	SYS(3, close, "d", 0, NULL),
	SYS(4, stat, "sx", 0, NULL),
	SYS(5, fstat, "dx", 0, NULL),
	SYS(6, lstat, "sx", 0, NULL),
	SYS(7, poll, "xdd", SC_UNLOCKED, NULL),
	SYS(8, lseek, "ddd", 0, NULL),
	SYS(9, mmap, "xxxxdx", 0, NULL),
	SYS(10, mprotect, "xxx", 0, NULL),
	SYS(11, munmap, "xx", 0, NULL),
	SYS(12, brk, "x", 0, NULL),
	SYS(13, rt_sigaction, "dxxd", 0, NULL),
	SYS(14, rt_sigprocmask, "dxxd", 0, NULL),
	SYS(15, rt_sigreturn, "", 0, NULL),
	SYS(16, ioctl, "dxx", SC_PARTIAL,
	    "terminals and ptys, FIONBIO, FIOCLEX, FIONCLEX, FIONREAD, TIOCOUTQ; others ENOTTY"),
	SYS(17, pread64, "dxdd", SC_UNLOCKED, NULL),
	SYS(18, pwrite64, "dxdd", SC_UNLOCKED, NULL),
	SYS(19, readv, "dxd", SC_UNLOCKED, NULL),
	SYS(20, writev, "dxd", SC_UNLOCKED, NULL),
	SYS(21, access, "sx", 0, NULL),
	SYS(22, pipe, "x", 0, NULL),
	SYS(23, select, "dxxxx", SC_UNLOCKED, NULL),
	SYS(24, sched_yield, "", 0, NULL),
	SYS(25, mremap, "xxxxx", 0, NULL),
	SYS(26, msync, "xxx", 0, "the attributes are kept by the sentry, never applied to the host"),
	SYS(27, mincore, "xxx", 0, NULL),
	SYS(28, madvise, "xxd", 0, NULL),
	SYS(29, shmget, "xxx", SC_PARTIAL, "the sandbox's own IPC namespace; SHM_HUGETLB gives small pages"),
	SYS(30, shmat, "dxx", 0, NULL),
	SYS(31, shmctl, "ddx", SC_PARTIAL, "SHM_LOCK and SHM_UNLOCK set the flag; nothing is pinned"),
	SYS(32, dup, "d", 0, NULL),
	SYS(33, dup2, "dd", 0, NULL),
	SYS(34, pause, "", SC_UNLOCKED, NULL),
	SYS(35, nanosleep, "xx", SC_UNLOCKED, NULL),
	SYS(36, getitimer, "dx", 0, NULL),
	SYS(37, alarm, "d", 0, NULL),
	SYS(38, setitimer, "dxx", 0, NULL),
	SYS(39, getpid, "", 0, NULL),
	SYS(40, sendfile, "ddxd", SC_UNLOCKED, NULL),
	SYS(41, socket, "ddd", SC_PARTIAL, "AF_INET, AF_INET6, AF_UNIX and NETLINK_ROUTE only"),
	SYS(42, connect, NULL, SC_UNLOCKED, NULL),
	SYS(43, accept, NULL, SC_UNLOCKED, NULL),
	SYS(44, sendto, NULL, SC_UNLOCKED, NULL),
	SYS(45, recvfrom, NULL, SC_UNLOCKED, NULL),
	SYS(46, sendmsg, NULL, SC_UNLOCKED, NULL),
	SYS(47, recvmsg, NULL, SC_UNLOCKED, NULL),
	SYS(48, shutdown, NULL, 0, NULL),
	SYS(49, bind, NULL, 0, NULL),
	SYS(50, listen, NULL, 0, NULL),
	SYS(51, getsockname, NULL, 0, NULL),
	SYS(52, getpeername, NULL, 0, NULL),
	SYS(53, socketpair, NULL, SC_PARTIAL, "AF_UNIX only"),
	SYS(54, setsockopt, NULL, 0, NULL),
	SYS(55, getsockopt, NULL, 0, NULL),
	SYS(56, clone, "xxxxx", 0, NULL),
	SYS(57, fork, "", 0, NULL),
	SYS(58, vfork, "", 0, NULL),
	SYS(59, execve, "sxx", SC_UNLOCKED, NULL),
	SYS(60, exit, "d", SC_UNLOCKED | SC_NORETURN, NULL),
	SYS(61, wait4, "dxxx", SC_UNLOCKED, NULL),
	SYS(62, kill, "dd", 0, NULL),
	SYS(63, uname, "x", 0, NULL),
	SYS(64, semget, "xdx", 0, "the sandbox's own IPC namespace"),
	SYS(65, semop, "dxd", SC_UNLOCKED, NULL),
	SYS(66, semctl, "dddx", 0, NULL),
	SYS(67, shmdt, "x", 0, NULL),
	SYS(68, msgget, "xx", 0, "the sandbox's own IPC namespace"),
	SYS(69, msgsnd, "dxdx", SC_UNLOCKED, NULL),
	SYS(70, msgrcv, "dxdxx", SC_UNLOCKED, NULL),
	SYS(71, msgctl, "ddx", 0, NULL),
	SYS(72, fcntl, "ddx", SC_PARTIAL, "leases: EINVAL; O_ASYNC, F_SETOWN and F_SETSIG of a description passed over a unix socket start afresh"),
	SYS(73, flock, "dx", SC_UNLOCKED, NULL),
	SYS(74, fsync, "d", SC_UNLOCKED, NULL),
	SYS(75, fdatasync, "d", SC_UNLOCKED, NULL),
	SYS(76, truncate, "sd", 0, NULL),
	SYS(77, ftruncate, "dd", 0, NULL),
	SYS(78, getdents, NULL, 0, NULL),
	SYS(79, getcwd, "xd", 0, NULL),
	SYS(80, chdir, "s", 0, NULL),
	SYS(81, fchdir, "d", 0, NULL),
	SYS(82, rename, "ss", 0, NULL),
	SYS(83, mkdir, "sx", 0, NULL),
	SYS(84, rmdir, "s", 0, NULL),
	SYS(85, creat, NULL, 0, NULL),
	SYS(86, link, "ss", 0, NULL),
	SYS(87, unlink, "s", 0, NULL),
	SYS(88, symlink, "ss", 0, NULL),
	SYS(89, readlink, "sxd", 0, NULL),
	SYS(90, chmod, "sx", 0, NULL),
	SYS(91, fchmod, "dx", 0, NULL),
	SYS(92, chown, NULL, SC_PARTIAL, "the owner given is the sandbox's: the host file keeps its own"),
	SYS(93, fchown, NULL, SC_PARTIAL, "the owner given is the sandbox's: the host file keeps its own"),
	SYS(94, lchown, NULL, SC_PARTIAL, "the owner given is the sandbox's: the host file keeps its own"),
	SYS(95, umask, "x", 0, NULL),
	SYS(96, gettimeofday, "xx", 0, NULL),
	SYS(97, getrlimit, "dx", 0, NULL),
	SYS(98, getrusage, "dx", 0, NULL),
	SYS(99, sysinfo, "x", 0, NULL),
	SYS(100, times, "x", 0, NULL),
	SYS(101, ptrace, "ddxx", SC_UNLOCKED | SC_PARTIAL, "the tracer is a sandboxed process; no hardware breakpoints or seccomp stops"),
	SYS(102, getuid, "", 0, NULL),
	NOSYS(103, syslog),
	SYS(104, getgid, "", 0, NULL),
	SYS(105, setuid, "d", 0, NULL),
	SYS(106, setgid, "d", 0, NULL),
	SYS(107, geteuid, "", 0, NULL),
	SYS(108, getegid, "", 0, NULL),
	SYS(109, setpgid, "dd", 0, NULL),
	SYS(110, getppid, "", 0, NULL),
	SYS(111, getpgrp, "", 0, NULL),
	SYS(112, setsid, "", 0, NULL),
	SYS(113, setreuid, "dd", 0, NULL),
	SYS(114, setregid, "dd", 0, NULL),
	SYS(115, getgroups, NULL, 0, NULL),
	SYS(116, setgroups, "dx", 0, NULL),
	SYS(117, setresuid, "ddd", 0, NULL),
	SYS(118, getresuid, "xxx", 0, NULL),
	SYS(119, setresgid, "ddd", 0, NULL),
	SYS(120, getresgid, "xxx", 0, NULL),
	SYS(121, getpgid, NULL, 0, NULL),
	SYS(122, setfsuid, "d", 0, NULL),
	SYS(123, setfsgid, "d", 0, NULL),
	SYS(124, getsid, NULL, 0, NULL),
	SYS(125, capget, "xx", 0, NULL),
	SYS(126, capset, "xx", 0, NULL),
	SYS(127, rt_sigpending, NULL, 0, NULL),
	SYS(128, rt_sigtimedwait, "xxxd", SC_UNLOCKED, NULL),
	SYS(129, rt_sigqueueinfo, "ddx", 0, NULL),
	SYS(130, rt_sigsuspend, "xd", SC_UNLOCKED, NULL),
	SYS(131, sigaltstack, "xx", 0, NULL),
	SYS(132, utime, "sx", 0, NULL),
	SYS(133, mknod, "sxx", 0, NULL),
	NOSYS(134, uselib),
	SYS(135, personality, "x", SC_PARTIAL, "PER_LINUX only; flags stored"),
	NOSYS(136, ustat),
	SYS(137, statfs, NULL, 0, NULL),
	SYS(138, fstatfs, NULL, 0, NULL),
	NOSYS(139, sysfs),
	SYS(140, getpriority, "dd", 0, NULL),
	SYS(141, setpriority, "ddd", 0, "kept per task by the sentry; the host threads keep their own"),
	SYS(142, sched_setparam, "dx", 0, "kept per task by the sentry; the host threads keep their own"),
	SYS(143, sched_getparam, "dx", 0, NULL),
	SYS(144, sched_setscheduler, "ddx", 0, "kept per task by the sentry; the host threads keep their own"),
	SYS(145, sched_getscheduler, "d", 0, NULL),
	SYS(146, sched_get_priority_max, "d", 0, NULL),
	SYS(147, sched_get_priority_min, "d", 0, NULL),
	SYS(148, sched_rr_get_interval, "dx", 0, NULL),
	SYS(149, mlock, "xx", 0, "the attributes are kept by the sentry, never applied to the host"),
	SYS(150, munlock, "xx", 0, "the attributes are kept by the sentry, never applied to the host"),
	SYS(151, mlockall, "x", 0, "the attributes are kept by the sentry, never applied to the host"),
	SYS(152, munlockall, "", 0, "the attributes are kept by the sentry, never applied to the host"),
	NOSYS(153, vhangup),
	NOSYS(154, modify_ldt),
	NOSYS(155, pivot_root),
	NOSYS(156, _sysctl),
	SYS(157, prctl, "dxxxx", SC_PARTIAL,
	    "names, PDEATHSIG, DUMPABLE, NO_NEW_PRIVS, CHILD_SUBREAPER, CAPBSET_READ; others EINVAL"),
	SYS(158, arch_prctl, "xx", 0, NULL),
	NOSYS(159, adjtimex),
	SYS(160, setrlimit, "dx", 0, NULL),
	NOSYS(161, chroot),
	SYS(162, sync, "", SC_UNLOCKED, NULL),
	NOSYS(163, acct),
	SYS(164, settimeofday, NULL, SC_REFUSED, "EPERM: the sandbox cannot set the clock"),
	NOSYS(165, mount),
	NOSYS(166, umount2),
	NOSYS(167, swapon),
	NOSYS(168, swapoff),
	NOSYS(169, reboot),
	SYS(170, sethostname, "sd", 0, "the sandbox's own name (uname); the host's stays"),
	SYS(171, setdomainname, "sd", 0, "the sandbox's own name (uname); the host's stays"),
	NOSYS(172, iopl),
	NOSYS(173, ioperm),
	NOSYS(174, create_module),
	NOSYS(175, init_module),
	NOSYS(176, delete_module),
	NOSYS(177, get_kernel_syms),
	NOSYS(178, query_module),
	NOSYS(179, quotactl),
	NOSYS(180, nfsservctl),
	NOSYS(181, getpmsg),
	NOSYS(182, putpmsg),
	NOSYS(183, afs_syscall),
	NOSYS(184, tuxcall),
	NOSYS(185, security),
	SYS(186, gettid, "", 0, NULL),
	NOSYS(187, readahead),
	SYS(188, setxattr, NULL, SC_PARTIAL, "only user. names, in writable places"),
	SYS(189, lsetxattr, NULL, SC_PARTIAL, "only user. names, in writable places"),
	SYS(190, fsetxattr, NULL, SC_PARTIAL, "only user. names, in writable places"),
	SYS(191, getxattr, NULL, 0, NULL),
	SYS(192, lgetxattr, NULL, 0, NULL),
	SYS(193, fgetxattr, NULL, 0, NULL),
	SYS(194, listxattr, NULL, 0, NULL),
	SYS(195, llistxattr, NULL, 0, NULL),
	SYS(196, flistxattr, NULL, 0, NULL),
	SYS(197, removexattr, NULL, SC_PARTIAL, "only user. names, in writable places"),
	SYS(198, lremovexattr, NULL, SC_PARTIAL, "only user. names, in writable places"),
	SYS(199, fremovexattr, NULL, SC_PARTIAL, "only user. names, in writable places"),
	SYS(200, tkill, "dd", 0, NULL),
	SYS(201, time, NULL, 0, NULL),
	SYS(202, futex, "xxdxxd", SC_UNLOCKED, NULL),
	SYS(203, sched_setaffinity, "ddx", 0, "kept per task by the sentry; the host threads keep their own"),
	SYS(204, sched_getaffinity, "ddx", 0, NULL),
	NOSYS(205, set_thread_area),
	NOSYS(206, io_setup),
	NOSYS(207, io_destroy),
	NOSYS(208, io_getevents),
	NOSYS(209, io_submit),
	NOSYS(210, io_cancel),
	NOSYS(211, get_thread_area),
	NOSYS(212, lookup_dcookie),
	SYS(213, epoll_create, NULL, 0, NULL),
	NOSYS(214, epoll_ctl_old),
	NOSYS(215, epoll_wait_old),
	NOSYS(216, remap_file_pages),
	SYS(217, getdents64, "dxd", 0, NULL),
	SYS(218, set_tid_address, "x", 0, NULL),
	NOSYS(219, restart_syscall),
	SYS(220, semtimedop, "dxdx", SC_UNLOCKED, NULL),
	SYS(221, fadvise64, NULL, 0, NULL),
	SYS(222, timer_create, NULL, 0, NULL),
	SYS(223, timer_settime, NULL, 0, NULL),
	SYS(224, timer_gettime, NULL, 0, NULL),
	SYS(225, timer_getoverrun, NULL, 0, NULL),
	SYS(226, timer_delete, NULL, 0, NULL),
	SYS(227, clock_settime, NULL, SC_REFUSED, "EPERM: the sandbox cannot set the clock"),
	SYS(228, clock_gettime, "dx", 0, NULL),
	SYS(229, clock_getres, "dx", 0, NULL),
	SYS(230, clock_nanosleep, "dxxx", SC_UNLOCKED, NULL),
	SYS(231, exit_group, "d", SC_UNLOCKED | SC_NORETURN, NULL),
	SYS(232, epoll_wait, "dxdd", SC_UNLOCKED, NULL),
	SYS(233, epoll_ctl, "ddxx", 0, NULL),
	SYS(234, tgkill, "ddd", 0, NULL),
	SYS(235, utimes, "sx", 0, NULL),
	NOSYS(236, vserver),
	NOSYS(237, mbind),
	NOSYS(238, set_mempolicy),
	NOSYS(239, get_mempolicy),
	NOSYS(240, mq_open),
	NOSYS(241, mq_unlink),
	NOSYS(242, mq_timedsend),
	NOSYS(243, mq_timedreceive),
	NOSYS(244, mq_notify),
	NOSYS(245, mq_getsetattr),
	NOSYS(246, kexec_load),
	SYS(247, waitid, "ddxxx", SC_UNLOCKED, NULL),
	NOSYS(248, add_key),
	NOSYS(249, request_key),
	NOSYS(250, keyctl),
	SYS(251, ioprio_set, NULL, 0, "kept per task by the sentry; the host threads keep their own"),
	SYS(252, ioprio_get, NULL, 0, NULL),
	SYS(253, inotify_init, NULL, 0, NULL),
	SYS(254, inotify_add_watch, "dsx", 0, NULL),
	SYS(255, inotify_rm_watch, "dd", 0, NULL),
	NOSYS(256, migrate_pages),
	SYS(257, openat, "dsxx", 0, NULL),
	SYS(258, mkdirat, "dsx", 0, NULL),
	SYS(259, mknodat, "dsxx", 0, NULL),
	SYS(260, fchownat, NULL, SC_PARTIAL, "the owner given is the sandbox's: the host file keeps its own"),
	SYS(261, futimesat, "dsx", 0, NULL),
	SYS(262, newfstatat, "dsxx", 0, NULL),
	SYS(263, unlinkat, "dsx", 0, NULL),
	SYS(264, renameat, "dsds", 0, NULL),
	SYS(265, linkat, "dsdsx", 0, NULL),
	SYS(266, symlinkat, "sds", 0, NULL),
	SYS(267, readlinkat, "dsxd", 0, NULL),
	SYS(268, fchmodat, "dsx", 0, NULL),
	SYS(269, faccessat, "dsx", 0, NULL),
	SYS(270, pselect6, "dxxxxx", SC_UNLOCKED, NULL),
	SYS(271, ppoll, "xdxxd", SC_UNLOCKED, NULL),
	SYS(272, unshare, "x", SC_PARTIAL, "no namespaces (EPERM); CLONE_FILES/CLONE_FS only for a process of one thread"),
	SYS(273, set_robust_list, "xd", 0, NULL),
	SYS(274, get_robust_list, NULL, 0, NULL),
	SYS(275, splice, "dxdxdx", SC_UNLOCKED, NULL),
	SYS(276, tee, "dddx", SC_UNLOCKED, NULL),
	SYS(277, sync_file_range, "dddx", 0, NULL),
	NOSYS(278, vmsplice),
	NOSYS(279, move_pages),
	SYS(280, utimensat, "dsxx", 0, NULL),
	SYS(281, epoll_pwait, "dxddxd", SC_UNLOCKED, NULL),
	SYS(282, signalfd, "dxd", 0, NULL),
	SYS(283, timerfd_create, "dx", 0, NULL),
	SYS(284, eventfd, NULL, 0, NULL),
	SYS(285, fallocate, "dxdd", 0, NULL),
	SYS(286, timerfd_settime, "dxxx", 0, NULL),
	SYS(287, timerfd_gettime, "dx", 0, NULL),
	SYS(288, accept4, NULL, SC_UNLOCKED, NULL),
	SYS(289, signalfd4, "dxdx", 0, NULL),
	SYS(290, eventfd2, "dx", 0, NULL),
	SYS(291, epoll_create1, "x", 0, NULL),
	SYS(292, dup3, "ddx", 0, NULL),
	SYS(293, pipe2, "xx", 0, NULL),
	SYS(294, inotify_init1, "x", 0, NULL),
	SYS(295, preadv, "dxdd", SC_UNLOCKED, NULL),
	SYS(296, pwritev, "dxdd", SC_UNLOCKED, NULL),
	SYS(297, rt_tgsigqueueinfo, "dddx", 0, NULL),
	NOSYS(298, perf_event_open),
	NOSYS(299, recvmmsg),
	NOSYS(300, fanotify_init),
	NOSYS(301, fanotify_mark),
	SYS(302, prlimit64, "ddxx", 0, NULL),
	NOSYS(303, name_to_handle_at),
	NOSYS(304, open_by_handle_at),
	NOSYS(305, clock_adjtime),
	SYS(306, syncfs, "d", SC_UNLOCKED, NULL),
	NOSYS(307, sendmmsg),
	SYS(308, setns, "dx", SC_PARTIAL, "the sandbox has no namespace fds: EINVAL"),
	SYS(309, getcpu, "xxx", 0, NULL),
	SYS(310, process_vm_readv, "dxdxdx", SC_UNLOCKED, NULL),
	SYS(311, process_vm_writev, "dxdxdx", SC_UNLOCKED, NULL),
	NOSYS(312, kcmp),
	NOSYS(313, finit_module),
	SYS(314, sched_setattr, NULL, 0, "kept per task by the sentry; the host threads keep their own"),
	SYS(315, sched_getattr, NULL, 0, NULL),
	SYS(316, renameat2, "dsdsx", 0, NULL),
	SYS(317, seccomp, "dxx", SC_REFUSED, "EINVAL: no filters of the application's own"),
	SYS(318, getrandom, "xdx", 0, NULL),
	SYS(319, memfd_create, "sx", 0, NULL),
	NOSYS(320, kexec_file_load),
	NOSYS(321, bpf),
	SYS(322, execveat, NULL, SC_UNLOCKED, NULL),
	NOSYS(323, userfaultfd),
	NOSYS(324, membarrier),
	SYS(325, mlock2, "xxx", 0, "the attributes are kept by the sentry, never applied to the host"),
	SYS(326, copy_file_range, "dxdxdx", SC_UNLOCKED, NULL),
	SYS(327, preadv2, "dxddxx", SC_UNLOCKED, NULL),
	SYS(328, pwritev2, "dxddxx", SC_UNLOCKED, NULL),
	NOSYS(329, pkey_mprotect),
	NOSYS(330, pkey_alloc),
	NOSYS(331, pkey_free),
	SYS(332, statx, "dsxxx", 0, NULL),
	NOSYS(333, io_pgetevents),
	SYS(334, rseq, "xdxx", SC_REFUSED, "ENOSYS by design: glibc runs without it; not reported as missing"),
	SYS(424, pidfd_send_signal, NULL, 0, NULL),
	NOSYS(425, io_uring_setup),
	NOSYS(426, io_uring_enter),
	NOSYS(427, io_uring_register),
	NOSYS(428, open_tree),
	NOSYS(429, move_mount),
	NOSYS(430, fsopen),
	NOSYS(431, fsconfig),
	NOSYS(432, fsmount),
	NOSYS(433, fspick),
	SYS(434, pidfd_open, NULL, 0, NULL),
	SYS(435, clone3, NULL, SC_PARTIAL, "no CLONE_PIDFD, set_tid or cgroup: EINVAL"),
	SYS(436, close_range, "ddx", 0, NULL),
	SYS(437, openat2, NULL, 0, NULL),
	NOSYS(438, pidfd_getfd),
	SYS(439, faccessat2, "dsxx", 0, NULL),
	NOSYS(440, process_madvise),
	NOSYS(441, epoll_pwait2),
	NOSYS(442, mount_setattr),
	NOSYS(443, quotactl_fd),
	NOSYS(444, landlock_create_ruleset),
	NOSYS(445, landlock_add_rule),
	NOSYS(446, landlock_restrict_self),
	NOSYS(447, memfd_secret),
	NOSYS(448, process_mrelease),
	NOSYS(449, futex_waitv),
	NOSYS(450, set_mempolicy_home_node),
	SYS(452, fchmodat2, NULL, 0, NULL),
};

const struct syscall_def *syscall_def(uint64_t nr)
{
	return nr < SYSCALL_TABLE_SIZE && table[nr].name ? &table[nr] : NULL;
}

const char *syscall_name(uint64_t nr)
{
	const struct syscall_def *d = syscall_def(nr);
	return d ? d->name : NULL;
}

static void trace_line(struct task *t, uint64_t nr, long ret, const uint64_t args[6], bool unimplemented)
{
	trace_syscall(t, nr, args, ret);
	static uint64_t reported[SYSCALL_TABLE_SIZE / 64]; /* syscalls already reported as not implemented */
	if (unimplemented && nr < SYSCALL_TABLE_SIZE &&
	    !(__atomic_fetch_or(&reported[nr / 64], 1ull << (nr % 64), __ATOMIC_RELAXED) & (1ull << (nr % 64)))) {
		const char *name = syscall_name(nr);
		fprintf(stderr, "cvisor: %s (syscall %llu) is not implemented: the program gets ENOSYS\n",
			name ? name : "?", (unsigned long long)nr);
	}
}

static int dispatch(struct task *t, const struct cv_exit *ex)
{
	struct process *pr = t->proc;
	const struct cv_regs *r = &t->st->regs;
	uint64_t nr = r->orig_rax;
	const uint64_t a[6] = { r->rdi, r->rsi, r->rdx, r->r10, r->r8, r->r9 };
	if (ex->syscall_flags & CV_SYSCALL_COMPAT) {
		t->st->regs.rax = (uint64_t)-ENOSYS; /* no 32-bit ABI */
		return 0;
	}
	const struct syscall_def *d = syscall_def(nr);
	bool unimplemented = !d || !d->fn;
	long ret = unimplemented ? -ENOSYS : d->fn(t, a);
	if (ret == SYSCALL_TASK_ENDS) {
		if ((d->flags & SC_NORETURN) && pr->s->opts.trace)
			trace_line(t, nr, 0, a, false);
		return 1;
	}
	t->st->regs.rax = (uint64_t)ret; /* t->st, not r: execve replaces the context */
	t->interrupted_nr = ret == -EINTR && sig_restartable(nr, a) ? nr + 1 : 0;
	if (pr->s->opts.trace)
		trace_line(t, nr, ret, a, unimplemented);
	return 0;
}

int do_syscall(struct task *t, const struct cv_exit *ex)
{
	struct process *pr = t->proc;
	const struct syscall_def *d = syscall_def(t->st->regs.orig_rax);
	/* fcntl's lock waits block too; its other commands work on the fd table under the lock. */
	bool lock = !(d && (d->flags & SC_UNLOCKED)) &&
		    !(t->st->regs.orig_rax == SYS_fcntl && (t->st->regs.rsi == F_SETLKW || t->st->regs.rsi == F_OFD_SETLKW));
	if (lock)
		pthread_mutex_lock(&pr->vm->lock); /* the mm and fd table are shared by the process's tasks */
	if (t->st->regs.orig_rax != SYS_mmap)
		mm_flush_installs(pr); /* what an mmap held back, before anything could see it is not there */
	int r = dispatch(t, ex);
	if (lock)
		pthread_mutex_unlock(&pr->vm->lock);
	if (r == 0 && t->restart_now) { /* sigreturn to a syscall SA_RESTART restarts: run it again */
		t->restart_now = false;
		return do_syscall(t, ex);
	}
	return r;
}

static const char *support(const struct syscall_def *d)
{
	return !d->fn ? "no" : (d->flags & SC_REFUSED) ? "refused" : (d->flags & SC_PARTIAL) ? "partial" : "yes";
}

void syscall_table_print(FILE *f, bool markdown)
{
	unsigned n = 0, yes = 0, partial = 0, refused = 0;
	for (uint64_t nr = 0; nr < SYSCALL_TABLE_SIZE; nr++) {
		const struct syscall_def *d = syscall_def(nr);
		if (!d)
			continue;
		n++;
		yes += d->fn && !(d->flags & (SC_PARTIAL | SC_REFUSED));
		partial += d->fn && (d->flags & SC_PARTIAL);
		refused += d->fn && (d->flags & SC_REFUSED);
	}
	if (markdown)
		fprintf(f, "# Syscalls of the sentry\n\n"
			   "<!-- Generated by `cvisor syscalls --markdown` from sentry/kernel/systable.c; a test checks that\n"
			   "     this file is what it prints. Do not edit by hand. -->\n\n"
			   "What each x86-64 syscall number does under `cvisor run`:\n\n"
			   "- **yes**: implemented;\n"
			   "- **partial**: implemented in part (the note says what is missing);\n"
			   "- **refused**: answered with an error by design (the note says which);\n"
			   "- **no**: not implemented: the program gets `ENOSYS`, and cvisor says so once on stderr.\n\n"
			   "Numbers not listed get `ENOSYS` too. There is no 32-bit ABI: every syscall made with\n"
			   "`int $0x80` gets `ENOSYS`.\n\n"
			   "%u syscalls: %u yes, %u partial, %u refused, %u no.\n\n"
			   "| # | name | support | note |\n|--:|------|---------|------|\n",
			n, yes, partial, refused, n - yes - partial - refused);
	else
		fprintf(f, "%-4s %-24s %-8s %-17s %s\n", "nr", "name", "support", "flags", "note");
	for (uint64_t nr = 0; nr < SYSCALL_TABLE_SIZE; nr++) {
		const struct syscall_def *d = syscall_def(nr);
		if (!d)
			continue;
		char line[256];
		if (markdown) {
			snprintf(line, sizeof(line), "| %llu | %s | %s | %s", (unsigned long long)nr, d->name, support(d),
				 d->note ? d->note : "");
		} else {
			char flags[32];
			snprintf(flags, sizeof(flags), "%s%s", (d->flags & SC_UNLOCKED) ? "unlocked " : "",
				 (d->flags & SC_NORETURN) ? "noreturn" : "");
			snprintf(line, sizeof(line), "%-4llu %-24s %-8s %-17s %s", (unsigned long long)nr, d->name,
				 support(d), flags, d->note ? d->note : "");
		}
		size_t len = strlen(line);
		while (len && line[len - 1] == ' ')
			line[--len] = 0; /* no trailing blanks */
		fprintf(f, markdown ? "%s |\n" : "%s\n", line);
	}
}
