// SPDX-License-Identifier: Apache-2.0
// System calls of the sentry: memory, fds over a private table (host files read-only), time, identity.
// Anything not implemented returns ENOSYS and is reported once under --trace.
#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <sys/statfs.h>
#include <sys/xattr.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include "sentry.h"

#define PATH_MAX_ 4096
#define IO_CHUNK (64u << 10)

static unsigned prot_access(uint64_t prot)
{
	return ((prot & PROT_READ) ? CV_ACCESS_READ : 0) | ((prot & PROT_WRITE) ? CV_ACCESS_WRITE : 0) |
	       ((prot & PROT_EXEC) ? CV_ACCESS_EXEC : 0);
}

static int host_fd(struct process *pr, uint64_t fd)
{
	return fd < SENTRY_MAX_FDS ? pr->fds[fd] : -1;
}

static long alloc_fd_flags(struct process *pr, int hfd, int min, bool cloexec)
{
	for (int i = min < 0 ? 0 : min; i < fd_limit(pr); i++)
		if (pr->fds[i] < 0) {
			pr->fds[i] = hfd;
			pr->cloexec[i] = cloexec;
			return i;
		}
	close(hfd);
	return -EMFILE;
}

static long alloc_fd(struct process *pr, int hfd, int min)
{
	return alloc_fd_flags(pr, hfd, min, false);
}

/* dup2/dup3: install a duplicate of app fd @old at app fd @newfd. */
static long dup_to(struct process *pr, uint64_t old, uint64_t newfd, bool cloexec)
{
	int h = host_fd(pr, old);
	if (h < 0 || newfd >= (uint64_t)fd_limit(pr))
		return -EBADF;
	if (old == newfd)
		return (long)newfd;
	int d = fcntl(h, F_DUPFD_CLOEXEC, 3);
	if (d < 0)
		return -errno;
	if (pr->fds[newfd] >= 0)
		fd_close(pr, pr->fds[newfd]);
	pr->fds[newfd] = d;
	pr->cloexec[newfd] = cloexec;
	return (long)newfd;
}

static long ret_errno(long r)
{
	return r < 0 ? -errno : r;
}

/* read/write through a bounce buffer, so host IO never touches application memory directly. */
/* A write to a pipe whose reader left: SIGPIPE too, which by default kills. */
static void sig_pipe(struct task *t)
{
	siginfo_t si = { .si_signo = SIGPIPE, .si_code = SI_USER };
	si.si_pid = t->proc->pid;
	sig_queue(t, SIGPIPE, &si);
}

#define PIN_MIN 4096 /* smaller transfers go through the bounce buffer */
#define RW_MAX 0x7ffff000ull /* Linux's MAX_RW_COUNT: the most one read or write moves */

/* One transfer of up to @len bytes between host fd @h and application memory at @buf: straight into
 * or out of the application's pages when they can be pinned, else through a bounce buffer (at most
 * IO_CHUNK). *@asked gets what was attempted. */
static long rw_once(struct task *t, int h, uint64_t buf, uint64_t len, bool wr, int64_t off, uint64_t *asked)
{
	struct process *pr = t->proc;
	struct mm_pin pin;
	long r;
	int e;
	*asked = len;
	if (len >= PIN_MIN && mm_pin(pr, buf, len, wr ? CV_ACCESS_READ : CV_ACCESS_WRITE, &pin) == 0) {
		r = wr ? (off < 0 ? write(h, pin.ptr, len) : pwrite(h, pin.ptr, len, off))
		       : (off < 0 ? read(h, pin.ptr, len) : pread(h, pin.ptr, len, off));
		e = errno;
		mm_unpin(pr, &pin);
	} else {
		char tmp[IO_CHUNK];
		*asked = len = len > IO_CHUNK ? IO_CHUNK : len;
		if (wr && mm_copy_in(pr, buf, tmp, len) < 0)
			return -EFAULT;
		r = wr ? (off < 0 ? write(h, tmp, len) : pwrite(h, tmp, len, off))
		       : (off < 0 ? read(h, tmp, len) : pread(h, tmp, len, off));
		e = errno;
		if (!wr && r > 0 && mm_copy_out(pr, buf, tmp, (size_t)r) < 0)
			return -EFAULT;
	}
	if (r < 0 && e == EPIPE && wr)
		sig_pipe(t);
	return r < 0 ? -e : r;
}

/* Does a read of @h give all that was asked unless at its end (a file or device, not a pipe, socket
 * or terminal, which give what they have)? */
static bool reads_whole(int h)
{
	struct stat st;
	return fstat(h, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode) || (S_ISCHR(st.st_mode) && !isatty(h)));
}

static long rw_held(struct task *t, int h, uint64_t buf, uint64_t len, bool wr, int64_t off)
{
	uint64_t done = 0, asked;
	if (!wr && off < 0 && sigfd_is(t->proc, h))
		return sigfd_read(t, h, buf, len);
	int mem_pid;
	if (procmem_is(t->proc, h, &mem_pid))
		return procmem_rw(t, h, mem_pid, buf, len, wr, off);
	if (len > RW_MAX)
		len = RW_MAX;
	long lim = wr ? fsize_write(t->proc, h, off, &len) : 0;
	if (lim < 0)
		return lim;
	/* As in Linux, a write completes (unless a signal interrupts it) and a read of a file or device
	 * gives all of @len (dd counts short reads); a bounce buffer moves IO_CHUNK at a time. */
	for (int whole = -1;;) {
		if (off < 0) { /* a pipe, socket or terminal may block: wait where signals can interrupt */
			long w = done ? 0 : jobctl_tty_access(t, h, wr); /* a background job's terminal IO */
			if (w == 0)
				w = host_wait_io(t, h, wr);
			if (w < 0)
				return done ? (long)done : w;
		}
		long r = rw_once(t, h, buf + done, len - done, wr, off < 0 ? off : off + (int64_t)done, &asked);
		if (r <= 0)
			return done ? (long)done : r;
		done += (uint64_t)r;
		if (done == len || (uint64_t)r < asked)
			return (long)done;
		if (!wr && whole < 0)
			whole = reads_whole(h);
		if (!wr && !whole)
			return (long)done;
	}
}

long sys_rw(struct task *t, uint64_t fd, uint64_t buf, uint64_t len, bool wr, int64_t off)
{
	return WITH_HOST_FD(t, fd, h, rw_held(t, h, buf, len, wr, off));
}

static long sys_mmap(struct process *pr, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
		     uint64_t off)
{
	uint64_t type = flags & MAP_TYPE;
	if (len == 0 || (off & 4095) || (type != MAP_SHARED && type != MAP_PRIVATE && type != MAP_SHARED_VALIDATE))
		return -EINVAL;
	bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	bool anon = flags & MAP_ANONYMOUS, shared = type != MAP_PRIVATE;
	if (fixed && (addr & 4095))
		return -EINVAL;
	if ((flags & MAP_FIXED_NOREPLACE) && !(flags & MAP_FIXED) && !mm_is_free(pr, addr, len))
		return -EEXIST;
	if (!mm_as_allows(pr, fixed ? addr : 0, (len + 4095) & ~4095ull))
		return -ENOMEM; /* RLIMIT_AS */
	int h = -1;
	if (!anon && (h = host_fd(pr, (uint64_t)fd)) < 0)
		return -EBADF;
	uint64_t got;
	if (!anon && shared) {
		struct stat st;
		if (fstat(h, &st) < 0)
			return -EBADF;
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 5))
			anon = true; /* /dev/zero: shared anonymous memory, shared with children too */
		else if (mm_mappable_file(h)) {
			long r = mm_map_host(pr, addr & ~4095ull, len, prot_access(prot), fixed, h, off, &got);
			return r < 0 ? r : (long)got;
		} else if (prot & PROT_WRITE) {
			return -ENODEV;
		}
		/* else a read-only copy of what the file holds now */
	}
	if (!anon && !(flags & MAP_SHARED) && !(prot & PROT_WRITE)) { /* code and read-only data: shared copy */
		long r = mm_map_file_ro(pr, addr & ~4095ull, len, prot_access(prot), fixed, h, off, &got);
		return r < 0 ? r : (long)got;
	}
	long r = mm_map_anon(pr, addr & ~4095ull, len, CV_ACCESS_READ | CV_ACCESS_WRITE, fixed, shared, &got);
	if (r < 0)
		return r;
	if (!anon) { /* a private copy of the file range, read straight into the new pages */
		mm_set_file(pr, got);
		struct mm_pin pin;
		if (mm_pin_locked(pr, got, len, &pin) == 0) {
			for (uint64_t done = 0; done < len;) {
				long rd = pread(h, (uint8_t *)pin.ptr + done, (size_t)(len - done), (off_t)(off + done));
				if (rd <= 0)
					break;
				done += (uint64_t)rd;
			}
			mm_unpin(pr, &pin);
		}
	}
	if (prot_access(prot) != (CV_ACCESS_READ | CV_ACCESS_WRITE))
		mm_protect(pr, got, len, prot_access(prot));
	return (long)got;
}


static long sys_clock_gettime(struct task *t, uint64_t clk, uint64_t uts)
{
	struct timespec ts;
	if ((int32_t)clk < 0) { /* another thread's or process's CPU clock */
		long r = cpu_clock_by_id(t, clk, &ts);
		return r < 0 ? r : mm_copy_out(t->proc, uts, &ts, sizeof(ts));
	}
	if (!clock_allowed(clk))
		return -EINVAL;
	if (!cpu_clock(t, clk, &ts) && clock_gettime((clockid_t)clk, &ts) < 0) /* CPU clocks: the task's */
		return -errno;
	return mm_copy_out(t->proc, uts, &ts, sizeof(ts));
}

static long sys_uname(struct process *pr, uint64_t ubuf)
{
	struct utsname u;
	uname(&u);
	return mm_copy_out(pr, ubuf, &u, sizeof(u));
}

static long sys_getrandom(struct process *pr, uint64_t buf, uint64_t len, uint64_t flags)
{
	char tmp[256];
	if (len > sizeof(tmp))
		len = sizeof(tmp);
	long r = getrandom(tmp, len, (unsigned)flags);
	if (r < 0)
		return -errno;
	return mm_copy_out(pr, buf, tmp, (size_t)r) < 0 ? -EFAULT : r;
}

static void trace_line(struct task *t, uint64_t nr, long ret, const uint64_t args[6], bool unimplemented)
{
	trace_syscall(t, nr, args, ret);
	static uint64_t reported[8]; /* syscalls 0..511 already reported as not implemented */
	if (unimplemented && nr < 512 &&
	    !(__atomic_fetch_or(&reported[nr / 64], 1ull << (nr % 64), __ATOMIC_RELAXED) & (1ull << (nr % 64)))) {
		const char *name = syscall_name(nr);
		fprintf(stderr, "cvisor: %s (syscall %llu) is not implemented: the program gets ENOSYS\n",
			name ? name : "?", (unsigned long long)nr);
	}
}

static int dispatch(struct task *t, const struct cv_exit *ex)
{
	struct process *pr = t->proc;
	struct cv_regs *r = &t->st->regs;
	uint64_t nr = r->orig_rax, a0 = r->rdi, a1 = r->rsi, a2 = r->rdx, a3 = r->r10, a4 = r->r8, a5 = r->r9;
	long ret = -ENOSYS;
	bool unimplemented = false;
	if (ex->syscall_flags & CV_SYSCALL_COMPAT) {
		r->rax = (uint64_t)-ENOSYS; /* no 32-bit ABI */
		return 0;
	}
	if (fs_syscall(t, nr, &ret))
		goto done;
	switch (nr) {
	case SYS_read: ret = sys_rw(t, a0, a1, a2, false, -1); break;
	case SYS_write: ret = sys_rw(t, a0, a1, a2, true, -1); break;
	case SYS_pread64:
	case SYS_pwrite64: ret = (int64_t)a3 < 0 ? -EINVAL : sys_rw(t, a0, a1, a2, nr == SYS_pwrite64, (int64_t)a3); break;
	case SYS_preadv:
	case SYS_pwritev: ret = (int64_t)a3 < 0 ? -EINVAL : io_vec(t, a0, a1, a2, (int64_t)a3, nr == SYS_pwritev, 0); break;
	case SYS_preadv2: /* offset -1: the file position */
	case SYS_pwritev2:
		ret = (int64_t)a3 < -1 ? -EINVAL : io_vec(t, a0, a1, a2, (int64_t)a3, nr == SYS_pwritev2, a5);
		break;
	case SYS_ftruncate: case SYS_fsync: case SYS_fdatasync: case SYS_syncfs: case SYS_fallocate:
	case SYS_timerfd_settime: case SYS_timerfd_gettime:
		ret = io_fd_syscall(t, nr, (const uint64_t[6]){ a0, a1, a2, a3, a4, a5 });
		break;
	case SYS_sync: ret = io_sync(t); break;
	case SYS_flock: ret = io_flock(t, a0, a1); break;
	case SYS_sendfile: case SYS_copy_file_range: case SYS_splice: case SYS_tee:
		ret = io_copy(t, nr, (const uint64_t[6]){ a0, a1, a2, a3, a4, a5 });
		break;
	case SYS_close_range: ret = io_close_range(t, a0, a1, a2); break;
	case SYS_signalfd: ret = sys_signalfd(t, (int32_t)a0, a1, a2, 0); break;
	case SYS_signalfd4: ret = sys_signalfd(t, (int32_t)a0, a1, a2, a3); break;
	case SYS_memfd_create: ret = io_memfd_create(t, a0, a1); break;
	case SYS_inotify_init: ret = fs_inotify_init(t, 0); break;
	case SYS_inotify_init1: ret = fs_inotify_init(t, a0); break;
	case SYS_inotify_add_watch: ret = fs_inotify_add_watch(t, a0, a1, a2); break;
	case SYS_inotify_rm_watch: {
		int h = host_fd(pr, a0);
		ret = h < 0 ? -EBADF : inotify_rm_watch(h, (int)a1) < 0 ? -errno : 0;
		break;
	}
	case SYS_timerfd_create: ret = io_timerfd_create(t, a0, a1); break;
	case SYS_readv: ret = io_vec(t, a0, a1, a2, -1, false, 0); break;
	case SYS_writev: ret = io_vec(t, a0, a1, a2, -1, true, 0); break;
	case SYS_close: {
		int h = host_fd(pr, a0);
		ret = h < 0 ? -EBADF : 0;
		if (h >= 0) {
			fd_close(pr, h);
			pr->fds[a0] = -1;
		}
		break;
	}
	case SYS_fstat: {
		struct stat st;
		int h = host_fd(pr, a0);
		ret = h < 0 ? -EBADF : fstat(h, &st) < 0 ? -errno : 0;
		if (ret == 0) {
			ids_report(pr->s, h, &st.st_uid, &st.st_gid);
			ret = mm_copy_out(pr, a1, &st, sizeof(st));
		}
		break;
	}
	case SYS_lseek: {
		int h = host_fd(pr, a0);
		ret = h < 0 ? -EBADF : ret_errno(lseek(h, (off_t)a1, (int)a2));
		break;
	}
	case SYS_ioctl: ret = sys_ioctl(pr, a0, a1, a2); break;
	case SYS_fstatfs: {
		struct statfs sf;
		int h = host_fd(pr, a0);
		ret = h < 0 ? -EBADF : fstatfs(h, &sf) < 0 ? -errno : mm_copy_out(pr, a1, &sf, sizeof(sf));
		break;
	}
	case SYS_socket: ret = sys_socket(t, a0, a1, a2); break;
	case SYS_socketpair: ret = sys_socketpair(t, a0, a1, a2, a3); break;
	case SYS_bind: ret = sys_bind(t, a0, a1, a2); break;
	case SYS_connect: ret = sys_connect(t, a0, a1, a2); break;
	case SYS_listen: ret = sys_listen(t, a0, a1); break;
	case SYS_accept: ret = sys_accept4(t, a0, a1, a2, 0); break;
	case SYS_accept4: ret = sys_accept4(t, a0, a1, a2, a3); break;
	case SYS_getsockname: ret = sys_sockname(t, a0, a1, a2, false); break;
	case SYS_getpeername: ret = sys_sockname(t, a0, a1, a2, true); break;
	case SYS_setsockopt: ret = sys_sockopt(t, a0, a1, a2, a3, a4, true); break;
	case SYS_getsockopt: ret = sys_sockopt(t, a0, a1, a2, a3, a4, false); break;
	case SYS_shutdown: ret = sys_shutdown(t, a0, a1); break;
	case SYS_sendto: ret = sys_sendto(t, a0, a1, a2, a3, a4, a5); break;
	case SYS_recvfrom: ret = sys_recvfrom(t, a0, a1, a2, a3, a4, a5); break;
	case SYS_sendmsg: ret = sys_msg(t, a0, a1, a2, true); break;
	case SYS_recvmsg: ret = sys_msg(t, a0, a1, a2, false); break;
	case SYS_setpgid: ret = do_setpgid(t, (int32_t)a0, (int32_t)a1); break;
	case SYS_getpgid: ret = do_getpgid(t, (int32_t)a0, false); break;
	case SYS_getpgrp: ret = do_getpgid(t, 0, false); break;
	case SYS_getsid: ret = do_getpgid(t, (int32_t)a0, true); break;
	case SYS_setsid: ret = do_setsid(t); break;
	case SYS_alarm: ret = sys_alarm(t, a0); break;
	case SYS_setitimer: ret = sys_setitimer(t, a0, a1, a2); break;
	case SYS_getitimer: ret = sys_getitimer(t, a0, a1); break;
	case SYS_poll: ret = sys_poll(t, a0, a1, (int64_t)(int32_t)a2, 0, false); break;
	case SYS_ppoll: ret = sys_ppoll(t, a0, a1, a2, a3, a4); break;
	case SYS_select: ret = sys_oldselect(t, a0, a1, a2, a3, a4); break;
	case SYS_pselect6: ret = sys_pselect6(t, a0, a1, a2, a3, a4, a5); break;
	case SYS_epoll_create:
	case SYS_epoll_create1: {
		if (nr == SYS_epoll_create ? (int64_t)(int32_t)a0 <= 0 : (a0 & ~(uint64_t)EPOLL_CLOEXEC) != 0) {
			ret = -EINVAL;
			break;
		}
		int h = epoll_create1(EPOLL_CLOEXEC);
		ret = h < 0 ? -errno : alloc_fd_flags(pr, h, 0, nr == SYS_epoll_create1 && (a0 & EPOLL_CLOEXEC));
		break;
	}
	case SYS_epoll_ctl: ret = sys_epoll_ctl(t, a0, a1, a2, a3); break;
	case SYS_epoll_wait: ret = sys_epoll_wait(t, a0, a1, a2, (int64_t)(int32_t)a3, 0, 0); break;
	case SYS_epoll_pwait: ret = sys_epoll_wait(t, a0, a1, a2, (int64_t)(int32_t)a3, a4, a5); break;
	case SYS_eventfd:
	case SYS_eventfd2: {
		uint64_t fl = nr == SYS_eventfd ? 0 : a1;
		if (fl & ~(uint64_t)(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE)) {
			ret = -EINVAL;
			break;
		}
		int h = eventfd((unsigned)a0, (int)(fl & (EFD_NONBLOCK | EFD_SEMAPHORE)) | EFD_CLOEXEC);
		ret = h < 0 ? -errno : alloc_fd_flags(pr, h, 0, (fl & EFD_CLOEXEC) != 0);
		break;
	}
	case SYS_fcntl: {
		int h = host_fd(pr, a0);
		if (h < 0)
			ret = -EBADF;
		else if (a1 == F_GETFL)
			ret = ret_errno(fcntl(h, F_GETFL));
		else if (a1 == F_SETFL) /* not O_ASYNC: its signals would go to the sentry (F_SETOWN) */
			ret = ret_errno(fcntl(h, F_SETFL, (int)(a2 & (O_NONBLOCK | O_APPEND | O_DIRECT | O_NOATIME))));
		else if (a1 == F_GETLK || a1 == F_SETLK || a1 == F_SETLKW || a1 == F_OFD_GETLK || a1 == F_OFD_SETLK ||
			 a1 == F_OFD_SETLKW)
			ret = io_lock(t, a0, a1, a2);
		else if (a1 == F_GETPIPE_SZ || a1 == F_GET_SEALS)
			ret = ret_errno(fcntl(h, (int)a1));
		else if (a1 == F_SETPIPE_SZ || a1 == F_ADD_SEALS)
			ret = ret_errno(fcntl(h, (int)a1, (int)a2));
		else if (a1 == F_GETOWN)
			ret = 0; /* no owner: no SIGIO/SIGURG */
		else if (a1 == F_GETLEASE)
			ret = F_UNLCK;
		else if (a1 == F_GETFD)
			ret = pr->cloexec[a0] ? FD_CLOEXEC : 0;
		else if (a1 == F_SETFD) {
			pr->cloexec[a0] = a2 & FD_CLOEXEC;
			ret = 0;
		} else if ((a1 == F_DUPFD || a1 == F_DUPFD_CLOEXEC) && a2 >= (uint64_t)fd_limit(pr)) {
			ret = -EINVAL;
		} else if (a1 == F_DUPFD || a1 == F_DUPFD_CLOEXEC) {
			int d = fcntl(h, F_DUPFD_CLOEXEC, 3);
			ret = d < 0 ? -errno : alloc_fd_flags(pr, d, (int)a2, a1 == F_DUPFD_CLOEXEC);
		} else
			ret = -EINVAL;
		break;
	}
	case SYS_dup: {
		int h = host_fd(pr, a0);
		int d = h < 0 ? -1 : fcntl(h, F_DUPFD_CLOEXEC, 0);
		ret = h < 0 ? -EBADF : d < 0 ? -errno : alloc_fd(pr, d, 0);
		break;
	}
	case SYS_dup2: ret = host_fd(pr, a0) < 0 ? -EBADF : dup_to(pr, a0, a1, false); break;
	case SYS_dup3:
		ret = a0 == a1 || (a2 & ~(uint64_t)O_CLOEXEC) ? -EINVAL : dup_to(pr, a0, a1, a2 & O_CLOEXEC);
		break;
	case SYS_pipe:
	case SYS_pipe2: {
		int hp[2];
		uint64_t fl = nr == SYS_pipe2 ? a1 : 0;
		if (fl & ~(uint64_t)(O_CLOEXEC | O_NONBLOCK)) {
			ret = -EINVAL;
		} else if (pipe2(hp, O_CLOEXEC | (int)(fl & O_NONBLOCK)) < 0) {
			ret = -errno;
		} else {
			long r0 = alloc_fd_flags(pr, hp[0], 0, fl & O_CLOEXEC);
			long r1 = r0 < 0 ? (close(hp[1]), r0) : alloc_fd_flags(pr, hp[1], 0, fl & O_CLOEXEC);
			int32_t fds[2] = { (int32_t)r0, (int32_t)r1 };
			if (r1 < 0 && r0 >= 0) {
				close(pr->fds[r0]);
				pr->fds[r0] = -1;
			}
			ret = r1 < 0 ? r1 : mm_copy_out(pr, a0, fds, sizeof(fds));
		}
		break;
	}
	case SYS_fork: ret = do_fork(t, SIGCHLD, 0, 0, 0, 0); break;
	case SYS_vfork: ret = do_fork(t, CLONE_VM | CLONE_VFORK | SIGCHLD, 0, 0, 0, 0); break;
	case SYS_clone: ret = do_fork(t, a0, a1, a2, a3, a4); break;
	case SYS_clone3: ret = do_clone3(t, a0, a1); break;
	case SYS_execve: ret = do_execveat(t, AT_FDCWD, a0, a1, a2, 0); break;
	case SYS_execveat: ret = do_execveat(t, (int64_t)(int32_t)a0, a1, a2, a3, a4); break;
	case SYS_wait4: ret = do_wait4(t, (int64_t)(int32_t)a0, a1, a2); break;
	case SYS_waitid: ret = do_waitid(t, a0, a1, a2, a3, a4); break;
	case SYS_getdents64: {
		int h = host_fd(pr, a0);
		char tmp[IO_CHUNK];
		size_t len = a2 < sizeof(tmp) ? (size_t)a2 : sizeof(tmp);
		long n = h < 0 ? -EBADF : fs_getdents(pr, h, tmp, len);
		ret = n < 0 ? n : (mm_copy_out(pr, a1, tmp, (size_t)n) < 0 ? -EFAULT : n);
		break;
	}
	case SYS_getdents: ret = sys_getdents_old(t, a0, a1, a2); break;
	case SYS_pidfd_open: ret = sys_pidfd_open(t, a0, a1); break;
	case SYS_timer_create: ret = sys_timer_create(t, a0, a1, a2); break;
	case SYS_timer_settime: ret = sys_timer_settime(t, a0, a1, a2, a3); break;
	case SYS_timer_gettime: ret = sys_timer_gettime(t, a0, a1); break;
	case SYS_timer_getoverrun: ret = sys_timer_getoverrun(t, a0); break;
	case SYS_timer_delete: ret = sys_timer_delete(t, a0); break;
	case SYS_pidfd_send_signal: ret = sys_pidfd_send_signal(t, a0, a1, a2, a3); break;
	case SYS_fadvise64: ret = sys_fadvise(t, a0, (int64_t)a1, (int64_t)a2, a3); break;
	case SYS_ioprio_get: ret = sys_ioprio(t, false, a0, a1, 0); break;
	case SYS_ioprio_set: ret = sys_ioprio(t, true, a0, a1, a2); break;
	case SYS_sched_getattr: ret = sys_sched_attr(t, false, a0, a1, a2, a3); break;
	case SYS_sched_setattr: ret = sys_sched_attr(t, true, a0, a1, 0, a2); break;
	case SYS_clock_settime: ret = sys_clock_settime(t, a0, a1); break;
	case SYS_settimeofday: ret = sys_settimeofday(t, a0, a1); break;
	case SYS_brk: ret = (long)mm_brk(pr, a0); break;
	case SYS_mmap: ret = sys_mmap(pr, a0, a1, a2, a3, (int64_t)a4, a5); break;
	case SYS_munmap: ret = mm_unmap(pr, a0, a1); break;
	case SYS_mprotect: ret = mm_protect(pr, a0, a1, prot_access(a2)); break;
	case SYS_madvise: ret = mm_advise(pr, a0, a1, a2); break;
	case SYS_mremap: ret = mm_remap(pr, a0, a1, a2, a3, a4); break;
	case SYS_arch_prctl:
		if (a0 == ARCH_SET_FS) {
			ret = a1 < pr->s->caps.max_user_addr ? 0 : -EPERM;
			if (ret == 0)
				r->fs_base = a1;
		} else if (a0 == ARCH_GET_FS) {
			ret = mm_copy_out(pr, a1, &r->fs_base, 8);
		} else {
			ret = -EINVAL;
		}
		break;
	case SYS_set_tid_address: t->clear_child_tid = a0; ret = t->tid; break;
	case SYS_set_robust_list: /* the head's size is the ABI's (next, futex_offset, list_op_pending) */
		ret = a1 != 24 ? -EINVAL : (t->robust_head = a0, 0);
		break;
	case SYS_get_robust_list: ret = sys_get_robust_list(t, a0, a1, a2); break;
	case SYS_rt_sigaction: ret = sig_action(t, a0, a1, a2, a3); break;
	case SYS_rt_sigprocmask: ret = sig_procmask(t, a0, a1, a2, a3); break;
	case SYS_sigaltstack: ret = sig_altstack(t, a0, a1); break;
	case SYS_rt_sigpending: {
		uint64_t p = t->pending & t->blocked;
		ret = a1 != 8 ? -EINVAL : mm_copy_out(pr, a0, &p, 8);
		break;
	}
	case SYS_rt_sigreturn:
		ret = sig_return(t);
		if (ret == -EFAULT && t->st->regs.rsp) { /* a bad frame kills, as on Linux */
			t->exit_code = SIGSEGV;
			t->ends_group = true;
			return 1;
		}
		break;
	case SYS_getpid: ret = pr->pid; break;
	case SYS_gettid: ret = t->tid; break;
	case SYS_getppid:
		pthread_mutex_lock(&pr->s->lock);
		ret = pr->parent ? pr->parent->pid : 0;
		pthread_mutex_unlock(&pr->s->lock);
		break;
	case SYS_getuid: ret = pr->cred.uid[0]; break;
	case SYS_geteuid: ret = pr->cred.uid[1]; break;
	case SYS_getgid: ret = pr->cred.gid[0]; break;
	case SYS_getegid: ret = pr->cred.gid[1]; break;
	case SYS_getgroups: ret = sys_getgroups(t, a0, a1); break;
	case SYS_uname: ret = sys_uname(pr, a0); break;
	case SYS_clock_gettime: ret = sys_clock_gettime(t, a0, a1); break;
	case SYS_gettimeofday: {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t tv[2] = { (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec / 1000 };
		ret = a0 ? mm_copy_out(pr, a0, tv, sizeof(tv)) : 0;
		break;
	}
	case SYS_time: {
		uint64_t now = (uint64_t)time(NULL);
		ret = a0 && mm_copy_out(pr, a0, &now, 8) < 0 ? -EFAULT : (long)now;
		break;
	}
	case SYS_nanosleep:
	case SYS_clock_nanosleep: {
		/* A sentry wait, so signals interrupt it (EINTR with the time left, as Linux reports). */
		struct timespec ts, now, deadline;
		uint64_t p = nr == SYS_nanosleep ? a0 : a2, rem = nr == SYS_nanosleep ? a1 : a3;
		bool absolute = nr == SYS_clock_nanosleep && (a1 & 1 /* TIMER_ABSTIME */);
		ret = mm_copy_in(pr, p, &ts, sizeof(ts));
		if (ret < 0)
			break;
		if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000 || ts.tv_sec < 0) {
			ret = -EINVAL;
			break;
		}
		clockid_t clk = nr == SYS_clock_nanosleep ? (clockid_t)a0 : CLOCK_MONOTONIC;
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (absolute) { /* convert to a monotonic deadline */
			struct timespec c;
			clock_gettime(clk, &c);
			int64_t d = (ts.tv_sec - c.tv_sec) * 1000000000LL + (ts.tv_nsec - c.tv_nsec);
			if (d < 0)
				d = 0;
			ts.tv_sec = d / 1000000000;
			ts.tv_nsec = d % 1000000000;
		}
		deadline.tv_sec = now.tv_sec + ts.tv_sec + (now.tv_nsec + ts.tv_nsec) / 1000000000;
		deadline.tv_nsec = (now.tv_nsec + ts.tv_nsec) % 1000000000;
		ret = sig_sleep(t, &deadline);
		if (ret == -EINTR && rem && !absolute) {
			clock_gettime(CLOCK_MONOTONIC, &now);
			int64_t left = (deadline.tv_sec - now.tv_sec) * 1000000000LL + (deadline.tv_nsec - now.tv_nsec);
			struct timespec left_ts = { left > 0 ? left / 1000000000 : 0, left > 0 ? left % 1000000000 : 0 };
			mm_copy_out(pr, rem, &left_ts, sizeof(left_ts));
		}
		break;
	}
	case SYS_rt_sigsuspend: ret = sig_suspend(t, a0, a1); break;
	case SYS_rt_sigtimedwait: ret = sig_timedwait(t, a0, a1, a2, a3); break;
	case SYS_rt_sigqueueinfo: ret = sig_queueinfo(t, (int32_t)a0, 0, a1, a2); break;
	case SYS_rt_tgsigqueueinfo: ret = sig_queueinfo(t, (int32_t)a0, (int32_t)a1, a2, a3); break;
	case SYS_pause: ret = sig_sleep(t, NULL); break;
	case SYS_getrandom: ret = sys_getrandom(pr, a0, a1, a2); break;
	case SYS_prlimit64: ret = sys_prlimit(t, a0, a1, a2, a3); break;
	case SYS_getrlimit: ret = sys_prlimit(t, 0, a0, 0, a1); break;
	case SYS_setrlimit: ret = sys_prlimit(t, 0, a0, a1, 0); break;
	case SYS_prctl: ret = sys_prctl(t, a0, a1, a2, a3, a4); break;
	case SYS_seccomp: ret = -EINVAL; break; /* no filters of the application's own */
	case SYS_sched_getscheduler: case SYS_sched_setscheduler: case SYS_sched_getparam: case SYS_sched_setparam:
	case SYS_sched_get_priority_max: case SYS_sched_get_priority_min: case SYS_sched_rr_get_interval:
		ret = sys_sched(t, nr, a0, a1, a2);
		break;
	case SYS_sched_setaffinity: ret = sys_affinity(t, true, a0, a1, a2); break;
	case SYS_sched_getaffinity: ret = sys_affinity(t, false, a0, a1, a2); break;
	case SYS_getcpu: ret = sys_getcpu(t, a0, a1); break;
	case SYS_getpriority: ret = sys_priority(t, false, a0, a1, 0); break;
	case SYS_setpriority: ret = sys_priority(t, true, a0, a1, (int32_t)a2); break;
	case SYS_times: ret = sys_times(t, a0); break;
	case SYS_getrusage: ret = sys_getrusage(t, (int32_t)a0, a1); break;
	case SYS_sysinfo: ret = sys_sysinfo(t, a0); break;
	case SYS_clock_getres: ret = sys_clock_getres(t, a0, a1); break;
	case SYS_personality: ret = sys_personality(t, a0); break;
	case SYS_getresuid: case SYS_getresgid: case SYS_setuid: case SYS_setgid: case SYS_setreuid:
	case SYS_setregid: case SYS_setresuid: case SYS_setresgid: case SYS_setfsuid: case SYS_setfsgid:
		ret = sys_ids(t, nr, a0, a1, a2);
		break;
	case SYS_setgroups: ret = sys_setgroups(t, a0, a1); break;
	case SYS_capget: ret = sys_capability(t, false, a0, a1); break;
	case SYS_capset: ret = sys_capability(t, true, a0, a1); break;
	case SYS_umask: ret = sys_umask(t, a0); break;
	case SYS_msync: case SYS_mlock: case SYS_mlock2: case SYS_munlock: case SYS_mlockall: case SYS_munlockall:
	case SYS_mincore:
		ret = vma_query_syscall(t, nr, a0, a1, a2);
		break;
	case SYS_rseq: ret = -ENOSYS; break; /* glibc runs without it; not reported as missing */
	case SYS_sched_yield: ret = 0; break;
	case SYS_futex: ret = do_futex(t, a0, a1, a2, a3, a4, a5); break;
	case SYS_kill: ret = sig_kill(t, (int32_t)a0, 0, a1, SI_USER); break;
	case SYS_ptrace: ret = sys_ptrace(t, a0, (int64_t)a1, a2, a3); break;
	case SYS_process_vm_readv:
	case SYS_process_vm_writev:
		ret = sys_process_vm(t, (int64_t)a0, a1, a2, a3, a4, a5, nr == SYS_process_vm_writev);
		break;
	case SYS_tkill: ret = (int32_t)a0 <= 0 ? -EINVAL : sig_kill(t, 0, (int32_t)a0, a1, SI_TKILL); break;
	case SYS_tgkill:
		ret = (int32_t)a0 <= 0 || (int32_t)a1 <= 0 ? -EINVAL : sig_kill(t, (int32_t)a0, (int32_t)a1, a2, SI_TKILL);
		break;
	case SYS_exit:
	case SYS_exit_group:
		t->exit_code = (int)(a0 & 0xff) << 8;
		t->ends_group = nr == SYS_exit_group;
		if (pr->s->opts.trace)
			trace_line(t, nr, 0, (const uint64_t[6]){ a0, a1, a2, a3, a4, a5 }, false);
		return 1;
	default:
		unimplemented = true;
		break;
	}
done:
	t->st->regs.rax = (uint64_t)ret; /* t->st, not r: execve replaces the context */
	t->interrupted_nr = ret == -EINTR && sig_restartable(nr, (const uint64_t[6]){ a0, a1, a2, a3, a4, a5 }) ? nr + 1 : 0;
	if (pr->s->opts.trace)
		trace_line(t, nr, ret, (const uint64_t[6]){ a0, a1, a2, a3, a4, a5 }, unimplemented);
	return 0;
}

/* Syscalls that may block in the host or in the sentry run without the process lock. */
static bool may_block(uint64_t nr)
{
	switch (nr) {
	case SYS_read: case SYS_readv: case SYS_pread64: case SYS_write: case SYS_writev:
	case SYS_pwrite64: case SYS_preadv: case SYS_pwritev: case SYS_preadv2: case SYS_pwritev2: /* sys_rw pins */
	case SYS_sendfile: case SYS_copy_file_range: case SYS_splice: case SYS_tee: case SYS_flock:
	case SYS_fsync: case SYS_fdatasync: case SYS_syncfs: case SYS_sync:
	case SYS_waitid: case SYS_rt_sigtimedwait:
	case SYS_wait4: case SYS_nanosleep: case SYS_clock_nanosleep: case SYS_futex: case SYS_execve: case SYS_execveat:
	case SYS_rt_sigsuspend: case SYS_pause:
	case SYS_poll: case SYS_ppoll: case SYS_select: case SYS_pselect6:
	case SYS_epoll_wait: case SYS_epoll_pwait:
	case SYS_connect: case SYS_accept: case SYS_accept4: case SYS_sendto: case SYS_recvfrom:
	case SYS_sendmsg: case SYS_recvmsg:
	case SYS_exit: case SYS_exit_group:
	case SYS_ptrace: case SYS_process_vm_readv: case SYS_process_vm_writev: /* lock the other process */
		return true;
	default:
		return false;
	}
}

int do_syscall(struct task *t, const struct cv_exit *ex)
{
	struct process *pr = t->proc;
	bool lock = !may_block(t->st->regs.orig_rax) &&
		    !(t->st->regs.orig_rax == SYS_fcntl && (t->st->regs.rsi == F_SETLKW || t->st->regs.rsi == F_OFD_SETLKW));
	if (lock)
		pthread_mutex_lock(&pr->lock); /* the mm and fd table are shared by the process's tasks */
	int r = dispatch(t, ex);
	if (lock)
		pthread_mutex_unlock(&pr->lock);
	if (r == 0 && t->restart_now) { /* sigreturn to a syscall SA_RESTART restarts: run it again */
		t->restart_now = false;
		return do_syscall(t, ex);
	}
	return r;
}
