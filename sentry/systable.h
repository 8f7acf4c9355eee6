/* SPDX-License-Identifier: Apache-2.0 */
/* The sentry's syscall table: one entry per x86-64 syscall number, from which dispatch, --trace,
 * --stats, the "not implemented" report and docs/syscalls.md (`cvisor syscalls --markdown`) all come. */
#ifndef CVISOR_SENTRY_SYSTABLE_H
#define CVISOR_SENTRY_SYSTABLE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct task;

/*
 * A handler gets the six argument registers (rdi, rsi, rdx, r10, r8, r9) and returns the result the
 * application sees: a value, or -errno. SYSCALL_TASK_ENDS instead ends the task (exit, exit_group, a
 * bad sigreturn frame): the handler has set t->exit_code and t->ends_group, and no result is set.
 */
typedef long syscall_fn(struct task *t, const uint64_t a[6]);
#define SYSCALL_TASK_ENDS LONG_MIN

/* dirfd arguments are ints: AT_FDCWD arrives as 0xffffff9c in a 64-bit register. */
#define DIRFD(x) ((int64_t)(int32_t)(x))

enum syscall_flags {
	SC_UNLOCKED = 1 << 0, /* runs without the process lock: it may block in the host or the sentry */
	SC_NORETURN = 1 << 1, /* ends the task (exit, exit_group); --trace shows it as returning 0 */
	SC_PARTIAL = 1 << 2,  /* implemented in part: the note says what is missing */
	SC_REFUSED = 1 << 3,  /* answered with an error by design: the note says which and why */
};

struct syscall_def {
	const char *name;    /* NULL: no syscall has this number */
	syscall_fn *fn;      /* NULL: not implemented (ENOSYS, reported once) */
	const char *args;    /* --trace argument formats, one letter each: d decimal, s string, x hex;
			      * NULL: not described (the first three shown in hex) */
	unsigned flags;      /* enum syscall_flags */
	const char *note;    /* what is partial or missing, for the docs; may be NULL */
};

/* The highest syscall number the table has room for, plus one. */
#define SYSCALL_TABLE_SIZE 512

/* The entry of syscall @nr, or NULL when no syscall has that number (then it is unknown: ENOSYS). */
const struct syscall_def *syscall_def(uint64_t nr);

/* The letters --trace knows in syscall_def.args. */
#define SYSCALL_ARG_FORMATS "dsx"

/* Print the table: plain columns, or (@markdown) the page docs/syscalls.md holds. */
void syscall_table_print(FILE *f, bool markdown);

/* Define handler sc_<name> as one expression of the task @t and the argument registers a[0..5], for
 * the many entry points that only unpack arguments for a subsystem's function. */
#define SYSCALL_ENTRY(name, ...)                                                                       \
	long sc_##name(struct task *t, const uint64_t a[6])                                            \
	{                                                                                              \
		return __VA_ARGS__;                                                                    \
	}

/* Every handler of the table, by the file that holds it. */
#define SYSCALL_HANDLER(name) long sc_##name(struct task *t, const uint64_t a[6])
/* kernel/syscalls.c */
SYSCALL_HANDLER(read); SYSCALL_HANDLER(write); SYSCALL_HANDLER(pread64); SYSCALL_HANDLER(pwrite64);
SYSCALL_HANDLER(close); SYSCALL_HANDLER(fstat); SYSCALL_HANDLER(lseek); SYSCALL_HANDLER(fstatfs);
SYSCALL_HANDLER(epoll_create); SYSCALL_HANDLER(epoll_create1); SYSCALL_HANDLER(eventfd);
SYSCALL_HANDLER(eventfd2); SYSCALL_HANDLER(fcntl); SYSCALL_HANDLER(dup); SYSCALL_HANDLER(dup2);
SYSCALL_HANDLER(dup3); SYSCALL_HANDLER(pipe); SYSCALL_HANDLER(pipe2); SYSCALL_HANDLER(getdents64);
SYSCALL_HANDLER(inotify_rm_watch); SYSCALL_HANDLER(mmap); SYSCALL_HANDLER(munmap); SYSCALL_HANDLER(mprotect);
SYSCALL_HANDLER(madvise); SYSCALL_HANDLER(mremap); SYSCALL_HANDLER(brk); SYSCALL_HANDLER(arch_prctl);
SYSCALL_HANDLER(clock_gettime); SYSCALL_HANDLER(gettimeofday); SYSCALL_HANDLER(time);
SYSCALL_HANDLER(nanosleep); SYSCALL_HANDLER(clock_nanosleep); SYSCALL_HANDLER(uname);
SYSCALL_HANDLER(sethostname); SYSCALL_HANDLER(setdomainname);
SYSCALL_HANDLER(getrandom);
/* kernel/sysvsem.c */
SYSCALL_HANDLER(semget); SYSCALL_HANDLER(semop); SYSCALL_HANDLER(semtimedop); SYSCALL_HANDLER(semctl);
/* kernel/sysvmsg.c */
SYSCALL_HANDLER(msgget); SYSCALL_HANDLER(msgsnd); SYSCALL_HANDLER(msgrcv); SYSCALL_HANDLER(msgctl);
/* mm/sysvshm.c */
SYSCALL_HANDLER(shmget); SYSCALL_HANDLER(shmat); SYSCALL_HANDLER(shmdt); SYSCALL_HANDLER(shmctl);
/* fs/fileio.c */
SYSCALL_HANDLER(preadv); SYSCALL_HANDLER(pwritev); SYSCALL_HANDLER(preadv2); SYSCALL_HANDLER(pwritev2);
SYSCALL_HANDLER(readv); SYSCALL_HANDLER(writev); SYSCALL_HANDLER(sync); SYSCALL_HANDLER(flock);
SYSCALL_HANDLER(close_range); SYSCALL_HANDLER(memfd_create); SYSCALL_HANDLER(timerfd_create);
SYSCALL_HANDLER(ftruncate); SYSCALL_HANDLER(fsync); SYSCALL_HANDLER(fdatasync); SYSCALL_HANDLER(syncfs);
SYSCALL_HANDLER(fallocate); SYSCALL_HANDLER(sync_file_range); SYSCALL_HANDLER(timerfd_settime); SYSCALL_HANDLER(timerfd_gettime);
SYSCALL_HANDLER(sendfile); SYSCALL_HANDLER(copy_file_range); SYSCALL_HANDLER(splice); SYSCALL_HANDLER(tee);
/* fs/fs.c */
SYSCALL_HANDLER(stat); SYSCALL_HANDLER(lstat); SYSCALL_HANDLER(newfstatat); SYSCALL_HANDLER(statx);
SYSCALL_HANDLER(statfs); SYSCALL_HANDLER(getcwd); SYSCALL_HANDLER(open); SYSCALL_HANDLER(creat);
SYSCALL_HANDLER(openat); SYSCALL_HANDLER(openat2); SYSCALL_HANDLER(access); SYSCALL_HANDLER(faccessat);
SYSCALL_HANDLER(faccessat2); SYSCALL_HANDLER(readlink); SYSCALL_HANDLER(readlinkat); SYSCALL_HANDLER(chdir);
SYSCALL_HANDLER(fchdir); SYSCALL_HANDLER(inotify_init); SYSCALL_HANDLER(inotify_init1);
SYSCALL_HANDLER(inotify_add_watch);
/* fs/fs_change.c */
SYSCALL_HANDLER(fchmod); SYSCALL_HANDLER(fchown); SYSCALL_HANDLER(utimensat); SYSCALL_HANDLER(utimes);
SYSCALL_HANDLER(futimesat); SYSCALL_HANDLER(utime); SYSCALL_HANDLER(mkdir); SYSCALL_HANDLER(mkdirat);
SYSCALL_HANDLER(mknod); SYSCALL_HANDLER(mknodat); SYSCALL_HANDLER(unlink); SYSCALL_HANDLER(rmdir);
SYSCALL_HANDLER(unlinkat); SYSCALL_HANDLER(rename); SYSCALL_HANDLER(renameat); SYSCALL_HANDLER(renameat2);
SYSCALL_HANDLER(link); SYSCALL_HANDLER(linkat); SYSCALL_HANDLER(symlink); SYSCALL_HANDLER(symlinkat);
SYSCALL_HANDLER(chmod); SYSCALL_HANDLER(fchmodat); SYSCALL_HANDLER(fchmodat2); SYSCALL_HANDLER(chown);
SYSCALL_HANDLER(lchown); SYSCALL_HANDLER(fchownat); SYSCALL_HANDLER(truncate);
/* fs/fs_xattr.c */
SYSCALL_HANDLER(getxattr); SYSCALL_HANDLER(lgetxattr); SYSCALL_HANDLER(fgetxattr); SYSCALL_HANDLER(setxattr);
SYSCALL_HANDLER(lsetxattr); SYSCALL_HANDLER(fsetxattr); SYSCALL_HANDLER(listxattr);
SYSCALL_HANDLER(llistxattr); SYSCALL_HANDLER(flistxattr); SYSCALL_HANDLER(removexattr);
SYSCALL_HANDLER(lremovexattr); SYSCALL_HANDLER(fremovexattr);
/* fs/ioctl.c */
SYSCALL_HANDLER(ioctl);
/* net/net.c */
SYSCALL_HANDLER(socket); SYSCALL_HANDLER(socketpair); SYSCALL_HANDLER(bind); SYSCALL_HANDLER(connect);
SYSCALL_HANDLER(listen); SYSCALL_HANDLER(accept); SYSCALL_HANDLER(accept4); SYSCALL_HANDLER(getsockname);
SYSCALL_HANDLER(getpeername); SYSCALL_HANDLER(setsockopt); SYSCALL_HANDLER(getsockopt);
SYSCALL_HANDLER(shutdown); SYSCALL_HANDLER(sendto); SYSCALL_HANDLER(recvfrom); SYSCALL_HANDLER(sendmsg);
SYSCALL_HANDLER(recvmsg);
/* kernel/taskcalls.c */
SYSCALL_HANDLER(getppid); SYSCALL_HANDLER(set_tid_address); SYSCALL_HANDLER(set_robust_list);
SYSCALL_HANDLER(exit); SYSCALL_HANDLER(exit_group); SYSCALL_HANDLER(rt_sigreturn);
SYSCALL_HANDLER(rt_sigpending); SYSCALL_HANDLER(sched_yield); SYSCALL_HANDLER(seccomp); SYSCALL_HANDLER(rseq);
SYSCALL_HANDLER(poll); SYSCALL_HANDLER(ppoll); SYSCALL_HANDLER(select); SYSCALL_HANDLER(pselect6);
SYSCALL_HANDLER(epoll_ctl); SYSCALL_HANDLER(epoll_wait); SYSCALL_HANDLER(epoll_pwait);
SYSCALL_HANDLER(setpgid); SYSCALL_HANDLER(getpgid); SYSCALL_HANDLER(getpgrp); SYSCALL_HANDLER(getsid);
SYSCALL_HANDLER(setsid); SYSCALL_HANDLER(fork); SYSCALL_HANDLER(vfork); SYSCALL_HANDLER(clone);
SYSCALL_HANDLER(clone3); SYSCALL_HANDLER(execve); SYSCALL_HANDLER(execveat); SYSCALL_HANDLER(wait4);
SYSCALL_HANDLER(waitid); SYSCALL_HANDLER(rt_sigaction); SYSCALL_HANDLER(rt_sigprocmask);
SYSCALL_HANDLER(sigaltstack); SYSCALL_HANDLER(rt_sigsuspend); SYSCALL_HANDLER(rt_sigtimedwait);
SYSCALL_HANDLER(rt_sigqueueinfo); SYSCALL_HANDLER(rt_tgsigqueueinfo); SYSCALL_HANDLER(pause);
SYSCALL_HANDLER(kill); SYSCALL_HANDLER(ptrace); SYSCALL_HANDLER(process_vm_readv);
SYSCALL_HANDLER(process_vm_writev); SYSCALL_HANDLER(tkill); SYSCALL_HANDLER(tgkill); SYSCALL_HANDLER(getpid);
SYSCALL_HANDLER(gettid);
/* kernel/futex.c */
SYSCALL_HANDLER(futex);
/* kernel/timer.c */
SYSCALL_HANDLER(alarm); SYSCALL_HANDLER(setitimer); SYSCALL_HANDLER(getitimer);
/* kernel/ptimer.c */
SYSCALL_HANDLER(timer_create); SYSCALL_HANDLER(timer_settime); SYSCALL_HANDLER(timer_gettime);
SYSCALL_HANDLER(timer_getoverrun); SYSCALL_HANDLER(timer_delete);
/* kernel/pidfd.c */
SYSCALL_HANDLER(pidfd_open); SYSCALL_HANDLER(pidfd_send_signal);
/* kernel/sigfd.c */
SYSCALL_HANDLER(signalfd); SYSCALL_HANDLER(signalfd4);
/* kernel/sysinfo.c */
SYSCALL_HANDLER(get_robust_list); SYSCALL_HANDLER(prlimit64); SYSCALL_HANDLER(getrlimit);
SYSCALL_HANDLER(setrlimit); SYSCALL_HANDLER(prctl); SYSCALL_HANDLER(sched_setaffinity);
SYSCALL_HANDLER(sched_getaffinity); SYSCALL_HANDLER(getcpu); SYSCALL_HANDLER(getpriority);
SYSCALL_HANDLER(setpriority); SYSCALL_HANDLER(times); SYSCALL_HANDLER(getrusage); SYSCALL_HANDLER(sysinfo);
SYSCALL_HANDLER(clock_getres); SYSCALL_HANDLER(personality); SYSCALL_HANDLER(sched_getscheduler);
SYSCALL_HANDLER(sched_setscheduler); SYSCALL_HANDLER(sched_getparam); SYSCALL_HANDLER(sched_setparam);
SYSCALL_HANDLER(sched_get_priority_max); SYSCALL_HANDLER(sched_get_priority_min);
SYSCALL_HANDLER(sched_rr_get_interval);
/* kernel/sysmore.c */
SYSCALL_HANDLER(fadvise64); SYSCALL_HANDLER(ioprio_get); SYSCALL_HANDLER(ioprio_set);
SYSCALL_HANDLER(sched_getattr); SYSCALL_HANDLER(sched_setattr); SYSCALL_HANDLER(clock_settime);
SYSCALL_HANDLER(unshare); SYSCALL_HANDLER(setns);
SYSCALL_HANDLER(settimeofday); SYSCALL_HANDLER(getdents);
/* kernel/creds.c */
SYSCALL_HANDLER(getuid); SYSCALL_HANDLER(geteuid); SYSCALL_HANDLER(getgid); SYSCALL_HANDLER(getegid);
SYSCALL_HANDLER(getgroups); SYSCALL_HANDLER(setgroups); SYSCALL_HANDLER(capget); SYSCALL_HANDLER(capset);
SYSCALL_HANDLER(umask); SYSCALL_HANDLER(getresuid); SYSCALL_HANDLER(getresgid); SYSCALL_HANDLER(setuid);
SYSCALL_HANDLER(setgid); SYSCALL_HANDLER(setreuid); SYSCALL_HANDLER(setregid); SYSCALL_HANDLER(setresuid);
SYSCALL_HANDLER(setresgid); SYSCALL_HANDLER(setfsuid); SYSCALL_HANDLER(setfsgid);
/* mm/vmaquery.c */
SYSCALL_HANDLER(msync); SYSCALL_HANDLER(mlock); SYSCALL_HANDLER(mlock2); SYSCALL_HANDLER(munlock);
SYSCALL_HANDLER(mlockall); SYSCALL_HANDLER(munlockall); SYSCALL_HANDLER(mincore);

#endif
