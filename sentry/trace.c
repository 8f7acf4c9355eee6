// SPDX-License-Identifier: Apache-2.0
// --trace: one strace-like line per syscall on stderr: "[tid] name(args) = result". Paths and other
// strings are shown as the application passed them (read from its memory, cut at 64 bytes), fds and
// counts in decimal, flags and pointers in hex; an error result shows its errno name.
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include "sentry.h"

static const char *const names[] = {
#include "syscall_names.h"
};

/* Argument kinds: d decimal, s string, x hex; the length of the string is the argument count. */
static const struct {
	uint16_t nr;
	const char *args;
} sigs[] = {
	{ SYS_read, "dxd" }, { SYS_write, "dxd" }, { SYS_open, "sxx" }, { SYS_close, "d" },
	{ SYS_stat, "sx" }, { SYS_fstat, "dx" }, { SYS_lstat, "sx" }, { SYS_poll, "xdd" },
	{ SYS_lseek, "ddd" }, { SYS_mmap, "xxxxdx" }, { SYS_mprotect, "xxx" }, { SYS_munmap, "xx" },
	{ SYS_brk, "x" }, { SYS_rt_sigaction, "dxxd" }, { SYS_rt_sigprocmask, "dxxd" },
	{ SYS_rt_sigreturn, "" }, { SYS_ioctl, "dxx" }, { SYS_pread64, "dxdd" }, { SYS_pwrite64, "dxdd" },
	{ SYS_readv, "dxd" }, { SYS_writev, "dxd" }, { SYS_access, "sx" }, { SYS_pipe, "x" },
	{ SYS_select, "dxxxx" }, { SYS_sched_yield, "" }, { SYS_mremap, "xxxxx" }, { SYS_madvise, "xxd" },
	{ SYS_dup, "d" }, { SYS_dup2, "dd" }, { SYS_pause, "" }, { SYS_nanosleep, "xx" },
	{ SYS_getpid, "" }, { SYS_socket, "ddd" }, { SYS_clone, "xxxxx" }, { SYS_fork, "" }, { SYS_vfork, "" },
	{ SYS_execve, "sxx" }, { SYS_exit, "d" }, { SYS_wait4, "dxxx" }, { SYS_kill, "dd" },
	{ SYS_uname, "x" }, { SYS_fcntl, "ddx" }, { SYS_getdents64, "dxd" }, { SYS_getcwd, "xd" },
	{ SYS_chdir, "s" }, { SYS_fchdir, "d" }, { SYS_rename, "ss" }, { SYS_mkdir, "sx" }, { SYS_rmdir, "s" },
	{ SYS_link, "ss" }, { SYS_unlink, "s" }, { SYS_symlink, "ss" }, { SYS_readlink, "sxd" },
	{ SYS_chmod, "sx" }, { SYS_fchmod, "dx" }, { SYS_umask, "x" }, { SYS_gettimeofday, "xx" },
	{ SYS_getuid, "" }, { SYS_getgid, "" }, { SYS_geteuid, "" }, { SYS_getegid, "" }, { SYS_getppid, "" },
	{ SYS_setpgid, "dd" }, { SYS_getpgrp, "" }, { SYS_setsid, "" }, { SYS_sigaltstack, "xx" },
	{ SYS_arch_prctl, "xx" }, { SYS_gettid, "" }, { SYS_tkill, "dd" }, { SYS_futex, "xxdxxd" },
	{ SYS_set_tid_address, "x" }, { SYS_clock_gettime, "dx" }, { SYS_clock_nanosleep, "dxxx" },
	{ SYS_exit_group, "d" }, { SYS_epoll_wait, "dxdd" }, { SYS_epoll_ctl, "ddxx" }, { SYS_tgkill, "ddd" },
	{ SYS_openat, "dsxx" }, { SYS_mkdirat, "dsx" }, { SYS_newfstatat, "dsxx" }, { SYS_unlinkat, "dsx" },
	{ SYS_renameat, "dsds" }, { SYS_linkat, "dsdsx" }, { SYS_symlinkat, "sds" }, { SYS_readlinkat, "dsxd" },
	{ SYS_fchmodat, "dsx" }, { SYS_faccessat, "dsx" }, { SYS_pselect6, "dxxxxx" }, { SYS_ppoll, "xdxxd" },
	{ SYS_set_robust_list, "xd" }, { SYS_epoll_pwait, "dxddxd" }, { SYS_eventfd2, "dx" },
	{ SYS_epoll_create1, "x" }, { SYS_dup3, "ddx" }, { SYS_pipe2, "xx" }, { SYS_prlimit64, "ddxx" },
	{ SYS_renameat2, "dsdsx" }, { SYS_getrandom, "xdx" }, { SYS_statx, "dsxxx" }, { SYS_rseq, "xdxx" },
	{ SYS_faccessat2, "dsxx" }, { SYS_alarm, "d" }, { SYS_setitimer, "dxx" }, { SYS_getitimer, "dx" },
	{ SYS_sysinfo, "x" }, { SYS_getrlimit, "dx" }, { SYS_rt_sigsuspend, "xd" }, { SYS_sched_getaffinity, "ddx" },
	/* positioned, vectored and in-kernel IO; truncate, sync, locks */
	{ SYS_preadv, "dxdd" }, { SYS_pwritev, "dxdd" }, { SYS_preadv2, "dxddxx" }, { SYS_pwritev2, "dxddxx" },
	{ SYS_ftruncate, "dd" }, { SYS_truncate, "sd" }, { SYS_fsync, "d" }, { SYS_fdatasync, "d" }, { SYS_sync, "" },
	{ SYS_syncfs, "d" }, { SYS_fallocate, "dxdd" }, { SYS_flock, "dx" }, { SYS_sendfile, "ddxd" },
	{ SYS_copy_file_range, "dxdxdx" }, { SYS_splice, "dxdxdx" }, { SYS_tee, "dddx" }, { SYS_close_range, "ddx" },
	{ SYS_memfd_create, "sx" }, { SYS_timerfd_create, "dx" }, { SYS_signalfd, "dxd" }, { SYS_inotify_init1, "x" }, { SYS_inotify_add_watch, "dsx" }, { SYS_inotify_rm_watch, "dd" }, { SYS_signalfd4, "dxdx" }, { SYS_timerfd_settime, "dxxx" },
	{ SYS_timerfd_gettime, "dx" }, { SYS_utimensat, "dsxx" }, { SYS_utimes, "sx" }, { SYS_futimesat, "dsx" },
	{ SYS_utime, "sx" }, { SYS_mknod, "sxx" }, { SYS_mknodat, "dsxx" },
	/* processes, signals */
	{ SYS_waitid, "ddxxx" }, { SYS_ptrace, "ddxx" }, { SYS_process_vm_readv, "dxdxdx" },
	{ SYS_process_vm_writev, "dxdxdx" }, { SYS_rt_sigtimedwait, "xxxd" }, { SYS_rt_sigqueueinfo, "ddx" },
	{ SYS_rt_tgsigqueueinfo, "dddx" }, { SYS_prctl, "dxxxx" }, { SYS_seccomp, "dxx" }, { SYS_personality, "x" },
	/* scheduling, limits, times */
	{ SYS_sched_setaffinity, "ddx" }, { SYS_sched_getparam, "dx" }, { SYS_sched_setparam, "dx" },
	{ SYS_sched_getscheduler, "d" }, { SYS_sched_setscheduler, "ddx" }, { SYS_sched_get_priority_max, "d" },
	{ SYS_sched_get_priority_min, "d" }, { SYS_sched_rr_get_interval, "dx" }, { SYS_getpriority, "dd" },
	{ SYS_setpriority, "ddd" }, { SYS_getcpu, "xxx" }, { SYS_setrlimit, "dx" }, { SYS_times, "x" },
	{ SYS_getrusage, "dx" }, { SYS_clock_getres, "dx" },
	/* credentials */
	{ SYS_getresuid, "xxx" }, { SYS_getresgid, "xxx" }, { SYS_setuid, "d" }, { SYS_setgid, "d" },
	{ SYS_setreuid, "dd" }, { SYS_setregid, "dd" }, { SYS_setresuid, "ddd" }, { SYS_setresgid, "ddd" },
	{ SYS_setfsuid, "d" }, { SYS_setfsgid, "d" }, { SYS_setgroups, "dx" }, { SYS_capget, "xx" }, { SYS_capset, "xx" },
	/* memory that is only looked at */
	{ SYS_msync, "xxx" }, { SYS_mlock, "xx" }, { SYS_munlock, "xx" }, { SYS_mlockall, "x" }, { SYS_munlockall, "" },
	{ SYS_mlock2, "xxx" }, { SYS_mincore, "xxx" },
};

const char *syscall_name(uint64_t nr)
{
	return nr < sizeof(names) / sizeof(names[0]) && names[nr] ? names[nr] : NULL;
}

static void put_string(struct process *pr, uint64_t addr, char *out, size_t outlen)
{
	char s[65];
	long n = mm_strncpy_in(pr, addr, s, sizeof(s));
	bool cut = n == -ENAMETOOLONG;
	if (cut) {
		s[sizeof(s) - 1] = 0;
		n = (long)sizeof(s) - 1;
	}
	if (n < 0) {
		snprintf(out, outlen, "%#llx", (unsigned long long)addr);
		return;
	}
	size_t o = 0;
	out[o++] = '"';
	for (long i = 0; i < n && o + 5 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		}
	}
	snprintf(out + o, outlen - o, cut ? "\"..." : "\"");
}

void trace_syscall(struct task *t, uint64_t nr, const uint64_t a[6], long ret)
{
	const char *kinds = "xxx";
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		if (sigs[i].nr == nr) {
			kinds = sigs[i].args;
			break;
		}
	char line[1024], arg[300];
	const char *name = syscall_name(nr);
	int o = name ? snprintf(line, sizeof(line), "[%d] %s(", t->tid, name)
		     : snprintf(line, sizeof(line), "[%d] syscall_%llu(", t->tid, (unsigned long long)nr);
	for (int i = 0; kinds[i] && i < 6; i++) {
		if (kinds[i] == 's' && nr == SYS_execve && i == 0 && ret == 0) /* the old image is gone */
			snprintf(arg, sizeof(arg), "\"%.200s\"", t->proc->exe ? t->proc->exe : "?");
		else if (kinds[i] == 's')
			put_string(t->proc, a[i], arg, sizeof(arg));
		else if (kinds[i] == 'd') /* ints (fds, AT_FDCWD) arrive zero-extended */
			snprintf(arg, sizeof(arg), "%lld", a[i] <= 0xffffffffull ? (long long)(int32_t)a[i] : (long long)a[i]);
		else
			snprintf(arg, sizeof(arg), "%#llx", (unsigned long long)a[i]);
		o += snprintf(line + o, sizeof(line) - (size_t)o, "%s%s", i ? ", " : "", arg);
		if (o >= (int)sizeof(line))
			break;
	}
	if (o < (int)sizeof(line)) {
		if (ret < 0 && ret >= -4095) {
			const char *e = strerrorname_np((int)-ret);
			snprintf(line + o, sizeof(line) - (size_t)o, ") = -1 %s (%s)", e ? e : "?", strerror((int)-ret));
		} else {
			snprintf(line + o, sizeof(line) - (size_t)o, (ret > 0xffff || ret < -0xffff) ? ") = %#lx" : ") = %ld",
				 ret);
		}
	}
	fprintf(stderr, "%s\n", line);
}
