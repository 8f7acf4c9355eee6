// SPDX-License-Identifier: Apache-2.0
// fd syscalls beyond read and write: positioned and vectored IO, truncate, sync, fallocate, flock,
// in-kernel copies (sendfile, copy_file_range, splice, tee), close_range, memfd and timerfd. Every one
// acts on host fds the application holds (looked up in its fd table) and nothing else.
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

#define IOV_MAX_ 1024
#define COPY_CHUNK (1u << 20) /* in-kernel copies go in steps so a signal is noticed between them */
#define LOCK_MAND_ 32
#define FLOCK_POLL_NS 10000000 /* a blocking flock retries this often (it cannot be polled) */

static long ret_errno(long r)
{
	return r < 0 ? -errno : r;
}

/* The size of the file host fd @h holds (0 when unknown: any growth is then held to RLIMIT_FSIZE). */
static uint64_t file_size(int h)
{
	struct stat st;
	return fstat(h, &st) == 0 && st.st_size > 0 ? (uint64_t)st.st_size : 0;
}

long io_vec(struct task *t, uint64_t fd, uint64_t iov, uint64_t cnt, int64_t off, bool wr, uint64_t flags)
{
	struct process *pr = t->proc;
	int h = app_host_fd(pr, fd);
	if (h < 0)
		return -EBADF;
	if (cnt > IOV_MAX_)
		return -EINVAL;
	/* RWF_HIPRI is a hint; the sync flags are honoured after the write; the rest are not offered. */
	if (flags & ~(uint64_t)(RWF_HIPRI | RWF_DSYNC | RWF_SYNC))
		return -EOPNOTSUPP;
	long total = 0;
	for (uint64_t i = 0; i < cnt; i++) {
		struct iovec v;
		if (mm_copy_in(pr, iov + i * sizeof(v), &v, sizeof(v)) < 0)
			return total ? total : -EFAULT;
		if ((int64_t)v.iov_len < 0)
			return total ? total : -EINVAL;
		uint64_t done = 0;
		while (done < v.iov_len) {
			long r = sys_rw(t, fd, (uint64_t)v.iov_base + done, v.iov_len - done, wr,
					off < 0 ? -1 : off + total);
			if (r <= 0)
				return total ? total : r;
			done += (uint64_t)r;
			total += r;
			if (!wr)
				break; /* a short read ends a readv */
		}
		if (!wr && done < v.iov_len)
			break;
	}
	if (wr && total > 0 && (flags & RWF_SYNC))
		fsync(h);
	else if (wr && total > 0 && (flags & RWF_DSYNC))
		fdatasync(h);
	return total;
}

long io_fd_syscall(struct task *t, uint64_t nr, const uint64_t a[6])
{
	struct process *pr = t->proc;
	int h = app_host_fd(pr, a[0]);
	if (h < 0)
		return -EBADF;
	switch (nr) {
	case SYS_ftruncate: /* the fd's access mode decides, as it did at open (through the policy) */
		if ((int64_t)a[1] < 0)
			return -EINVAL;
		if (fsize_size(pr, a[1], file_size(h)) < 0)
			return -EFBIG;
		return ret_errno(ftruncate(h, (off_t)a[1]));
	case SYS_fsync: return ret_errno(fsync(h));
	case SYS_fdatasync: return ret_errno(fdatasync(h));
	case SYS_sync_file_range: /* the host's checks (flags, offsets, pipes) are Linux's own */
		return ret_errno(sync_file_range(h, (off_t)a[1], (off_t)a[2], (unsigned)a[3]));
	case SYS_syncfs: return ret_errno(syncfs(h));
	case SYS_fallocate:
		if (!(a[1] & FALLOC_FL_KEEP_SIZE) && (int64_t)a[2] >= 0 && (int64_t)a[3] > 0 && fsize_size(pr, a[2] + a[3], file_size(h)) < 0)
			return -EFBIG;
		return ret_errno(fallocate(h, (int)a[1], (off_t)a[2], (off_t)a[3]));
	case SYS_timerfd_settime: {
		struct itimerspec nw, old;
		if (mm_copy_in(pr, a[2], &nw, sizeof(nw)) < 0)
			return -EFAULT;
		if (timerfd_settime(h, (int)a[1], &nw, &old) < 0)
			return -errno;
		return a[3] ? mm_copy_out(pr, a[3], &old, sizeof(old)) : 0;
	}
	case SYS_timerfd_gettime: {
		struct itimerspec cur;
		if (timerfd_gettime(h, &cur) < 0)
			return -errno;
		return mm_copy_out(pr, a[1], &cur, sizeof(cur));
	}
	default:
		return -ENOSYS;
	}
}

/* sync(2): the sandbox can only have written below its read-write mounts; flush those file systems,
 * not the whole host. */
long io_sync(struct task *t)
{
	const struct policy *pol = &t->proc->s->pol;
	for (int i = 0; i < pol->n; i++) {
		if (!pol->m[i].rw)
			continue;
		int d = openat(pol->m[i].fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (d >= 0) {
			syncfs(d);
			close(d);
		}
	}
	return 0;
}

/*
 * flock: a host lock on a file the sandbox may write. A file outside the read-write mounts gets no host
 * lock (the call succeeds): holding one would let the sandbox stall host programs locking the same
 * file. A blocking request polls with LOCK_NB so that signals interrupt it.
 */
static long io_flock_held(struct task *t, int h, uint64_t op)
{
	if (op & LOCK_MAND_)
		return 0; /* as Linux since 5.15: the old mandatory-lock requests are accepted and ignored */
	uint64_t kind = op & ~(uint64_t)LOCK_NB;
	if (kind != LOCK_SH && kind != LOCK_EX && kind != LOCK_UN)
		return -EINVAL;
	if (!fs_fd_writable(t->proc, h))
		return 0;
	for (;;) {
		if (flock(h, (int)(op | LOCK_NB)) == 0)
			return 0;
		if (errno != EWOULDBLOCK || (op & LOCK_NB))
			return -errno;
		if (sig_nap(t, FLOCK_POLL_NS) < 0)
			return -EINTR;
	}
}

long io_flock(struct task *t, uint64_t fd, uint64_t op)
{
	return WITH_HOST_FD(t, fd, h, io_flock_held(t, h, op));
}

/*
 * fcntl record locks. Every sandboxed process is the one sentry process on the host, so POSIX locks
 * (owned by a process) would never conflict between them: they become open-file-description locks on
 * the host, which do (a process that opens one file twice sees its two descriptors conflict, where
 * POSIX would merge them; l_pid reads -1). Outside read-write mounts nothing is locked, as for flock,
 * so the sandbox cannot stall host programs. A waiting lock retries interruptibly.
 */
static long io_lock_held(struct task *t, int h, uint64_t cmd, uint64_t uarg)
{
	struct flock fl;
	if (mm_copy_in(t->proc, uarg, &fl, sizeof(fl)) < 0)
		return -EFAULT;
	bool get = cmd == F_GETLK || cmd == F_OFD_GETLK, wait = cmd == F_SETLKW || cmd == F_OFD_SETLKW;
	bool ofd = cmd == F_OFD_GETLK || cmd == F_OFD_SETLK || cmd == F_OFD_SETLKW;
	if ((ofd && fl.l_pid != 0) || (fl.l_type != F_RDLCK && fl.l_type != F_WRLCK && fl.l_type != F_UNLCK))
		return -EINVAL;
	if (!fs_fd_writable(t->proc, h)) {
		if (!get)
			return 0;
		fl.l_type = F_UNLCK;
		return mm_copy_out(t->proc, uarg, &fl, sizeof(fl));
	}
	fl.l_pid = 0;
	for (;;) {
		if (fcntl(h, get ? F_OFD_GETLK : F_OFD_SETLK, &fl) == 0)
			return get ? mm_copy_out(t->proc, uarg, &fl, sizeof(fl)) : 0;
		if ((errno != EAGAIN && errno != EACCES) || !wait)
			return -errno;
		if (sig_nap(t, FLOCK_POLL_NS) < 0)
			return -EINTR;
	}
}

long io_lock(struct task *t, uint64_t fd, uint64_t cmd, uint64_t uarg)
{
	return WITH_HOST_FD(t, fd, h, io_lock_held(t, h, cmd, uarg));
}

/* An optional loff_t in application memory: *has tells whether @uoff was given. */
static long get_off(struct process *pr, uint64_t uoff, loff_t *off, bool *has)
{
	*has = uoff != 0;
	*off = 0;
	if (*has && mm_copy_in(pr, uoff, off, sizeof(*off)) < 0)
		return -EFAULT;
	return *has && *off < 0 ? -EINVAL : 0;
}

/*
 * sendfile, copy_file_range, splice and tee between two host fds of the application, at most
 * COPY_CHUNK bytes per call (short counts are allowed). A pipe, socket or FIFO end that may block is
 * waited for interruptibly first, as read and write do.
 */
static long copy_held(struct task *t, uint64_t nr, const uint64_t a[6], int in, int out);

long io_copy(struct task *t, uint64_t nr, const uint64_t a[6])
{
	struct process *pr = t->proc;
	bool sendfile_ = nr == SYS_sendfile, tee_ = nr == SYS_tee;
	uint64_t in_fd = a[0], out_fd = sendfile_ ? a[0] : tee_ ? a[1] : a[2];
	if (sendfile_)
		in_fd = a[1];
	struct fd_ref rin, rout;
	int in = fd_hold(pr, in_fd, &rin), out = fd_hold(pr, out_fd, &rout);
	long r = in < 0 || out < 0 ? -EBADF : copy_held(t, nr, a, in, out);
	if (in >= 0)
		fd_release(pr, &rin);
	if (out >= 0)
		fd_release(pr, &rout);
	return r;
}

/* io_copy with both host fds held. */
static long copy_held(struct task *t, uint64_t nr, const uint64_t a[6], int in, int out)
{
	struct process *pr = t->proc;
	bool sendfile_ = nr == SYS_sendfile, tee_ = nr == SYS_tee;
	uint64_t uin = sendfile_ ? a[2] : tee_ ? 0 : a[1], uout = sendfile_ || tee_ ? 0 : a[3];
	uint64_t len = sendfile_ ? a[3] : tee_ ? a[2] : a[4], flags = sendfile_ ? 0 : tee_ ? a[3] : a[5];
	loff_t oin, oout;
	bool hin, hout;
	int mem_pid;
	if (procmem_is(pr, in, &mem_pid) || procmem_is(pr, out, &mem_pid))
		return -EINVAL; /* /proc/PID/mem is read and written, never spliced (as Linux) */
	long r = get_off(pr, uin, &oin, &hin);
	if (r == 0)
		r = get_off(pr, uout, &oout, &hout);
	if (r < 0)
		return r;
	if (len > COPY_CHUNK)
		len = COPY_CHUNK;
	if (!(flags & SPLICE_F_NONBLOCK) && nr != SYS_copy_file_range) {
		if ((r = host_wait_io(t, in, false)) < 0 || (r = host_wait_io(t, out, true)) < 0)
			return r;
	}
	if (sendfile_)
		r = sendfile(out, in, hin ? &oin : NULL, len);
	else if (tee_)
		r = tee(in, out, len, (unsigned)flags);
	else if (nr == SYS_splice)
		r = splice(in, hin ? &oin : NULL, out, hout ? &oout : NULL, len, (unsigned)flags);
	else
		r = copy_file_range(in, hin ? &oin : NULL, out, hout ? &oout : NULL, len, (unsigned)flags);
	if (r < 0)
		return -errno;
	if ((hin && mm_copy_out(pr, uin, &oin, sizeof(oin)) < 0) || (hout && mm_copy_out(pr, uout, &oout, sizeof(oout)) < 0))
		return -EFAULT;
	return r;
}

long io_close_range(struct task *t, uint64_t first, uint64_t last, uint64_t flags)
{
	struct process *pr = t->proc;
	if ((flags & ~(uint64_t)(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC)) || (uint32_t)first > (uint32_t)last)
		return -EINVAL;
	/* CLOSE_RANGE_UNSHARE: the table is the process's; its threads share it (they see the change). */
	for (uint64_t i = (uint32_t)first; i <= (uint32_t)last && i < SENTRY_MAX_FDS; i++) {
		if (pr->fds[i] < 0)
			continue;
		if (flags & CLOSE_RANGE_CLOEXEC) {
			pr->cloexec[i] = 1;
			continue;
		}
		fd_close(pr, (int64_t)i, pr->fds[i]);
		pr->fds[i] = -1;
		pr->cloexec[i] = 0;
	}
	return 0;
}

/* memfd_create: an anonymous host file; it names no host path, so it needs no policy. */
long io_memfd_create(struct task *t, uint64_t uname, uint64_t flags)
{
	char name[250];
	long n = mm_strncpy_in(t->proc, uname, name, sizeof(name));
	if (n < 0)
		return n == -ENAMETOOLONG ? -EINVAL : n;
	if (flags & ~(uint64_t)(MFD_CLOEXEC | MFD_ALLOW_SEALING))
		return -EINVAL; /* hugetlb and the exec-sealing flags are not offered */
	int h = memfd_create(name, (unsigned)(flags | MFD_CLOEXEC));
	return h < 0 ? -errno : fd_install(t->proc, h, flags & MFD_CLOEXEC);
}

long io_timerfd_create(struct task *t, uint64_t clk, uint64_t flags)
{
	if (flags & ~(uint64_t)(TFD_CLOEXEC | TFD_NONBLOCK))
		return -EINVAL;
	int h = timerfd_create((int)clk, (int)(flags & TFD_NONBLOCK) | TFD_CLOEXEC);
	return h < 0 ? -errno : fd_install(t->proc, h, flags & TFD_CLOEXEC);
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(preadv, (int64_t)a[3] < 0 ? -EINVAL : io_vec(t, a[0], a[1], a[2], (int64_t)a[3], false, 0))
SYSCALL_ENTRY(pwritev, (int64_t)a[3] < 0 ? -EINVAL : io_vec(t, a[0], a[1], a[2], (int64_t)a[3], true, 0))
SYSCALL_ENTRY(preadv2, (int64_t)a[3] < -1 ? -EINVAL : io_vec(t, a[0], a[1], a[2], (int64_t)a[3], false, a[5]))
SYSCALL_ENTRY(pwritev2, (int64_t)a[3] < -1 ? -EINVAL : io_vec(t, a[0], a[1], a[2], (int64_t)a[3], true, a[5]))
SYSCALL_ENTRY(readv, io_vec(t, a[0], a[1], a[2], -1, false, 0))
SYSCALL_ENTRY(writev, io_vec(t, a[0], a[1], a[2], -1, true, 0))
SYSCALL_ENTRY(sync, io_sync(t))
SYSCALL_ENTRY(flock, io_flock(t, a[0], a[1]))
SYSCALL_ENTRY(close_range, io_close_range(t, a[0], a[1], a[2]))
SYSCALL_ENTRY(memfd_create, io_memfd_create(t, a[0], a[1]))
SYSCALL_ENTRY(timerfd_create, io_timerfd_create(t, a[0], a[1]))
SYSCALL_ENTRY(ftruncate, io_fd_syscall(t, SYS_ftruncate, a))
SYSCALL_ENTRY(fsync, io_fd_syscall(t, SYS_fsync, a))
SYSCALL_ENTRY(fdatasync, io_fd_syscall(t, SYS_fdatasync, a))
SYSCALL_ENTRY(sync_file_range, io_fd_syscall(t, SYS_sync_file_range, a))
SYSCALL_ENTRY(syncfs, io_fd_syscall(t, SYS_syncfs, a))
SYSCALL_ENTRY(fallocate, io_fd_syscall(t, SYS_fallocate, a))
SYSCALL_ENTRY(timerfd_settime, io_fd_syscall(t, SYS_timerfd_settime, a))
SYSCALL_ENTRY(timerfd_gettime, io_fd_syscall(t, SYS_timerfd_gettime, a))
SYSCALL_ENTRY(sendfile, io_copy(t, SYS_sendfile, a))
SYSCALL_ENTRY(copy_file_range, io_copy(t, SYS_copy_file_range, a))
SYSCALL_ENTRY(splice, io_copy(t, SYS_splice, a))
SYSCALL_ENTRY(tee, io_copy(t, SYS_tee, a))
