// SPDX-License-Identifier: Apache-2.0
// System calls of the sentry that work on the fd table (host files read-only), memory and time, with
// read and write: their entry points for the syscall table (systable.c), which dispatches them.
#include <asm/prctl.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
#include "../sentry.h"
#include "../systable.h"

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

/* Another slot for host fd @h (dup, dup2, dup3, F_DUPFD): the same host fd, counted per host fd (fs.c
 * fd_share) — a duplicate names the same open file natively too — or a host dup where it cannot be
 * counted. No host call, and the closes of duplicates make none either but the last. */
static int dup_host(struct process *pr, int h)
{
	return fd_share(pr->s, h) ? h : host_dup(pr->s, h);
}

/* dup and F_DUPFD: a duplicate of app fd @old, host fd @h, at the lowest free app fd from @min. */
static long dup_alloc(struct process *pr, int64_t old, int h, int min, bool cloexec)
{
	for (int i = min < 0 ? 0 : min; i < fd_limit(pr); i++)
		if (pr->fds[i] < 0) {
			int d = dup_host(pr, h);
			if (d < 0)
				return -errno;
			pr->fds[i] = d;
			pr->cloexec[i] = cloexec;
			fd_dirpath_dup(pr, old, h, i, d);
			return i;
		}
	return -EMFILE;
}

/* dup2/dup3: install a duplicate of app fd @old at app fd @newfd. */
static long dup_to(struct process *pr, uint64_t old, uint64_t newfd, bool cloexec)
{
	int h = host_fd(pr, old);
	if (h < 0 || newfd >= (uint64_t)fd_limit(pr))
		return -EBADF;
	if (old == newfd)
		return (long)newfd;
	int d = dup_host(pr, h); /* before the close: @newfd may hold @h already */
	if (d < 0)
		return -errno;
	if (pr->fds[newfd] >= 0)
		fd_close(pr, (int64_t)newfd, pr->fds[newfd]);
	pr->fds[newfd] = d;
	pr->cloexec[newfd] = cloexec;
	fd_dirpath_dup(pr, (int64_t)old, h, (int64_t)newfd, d);
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

#define RW_NOWAIT (-2) /* @off of rw_once: at the file position, never waiting (RWF_NOWAIT) */

static ssize_t read_at(int h, void *p, size_t len, int64_t off)
{
	if (off == RW_NOWAIT) {
		struct iovec v = { .iov_base = p, .iov_len = len };
		return preadv2(h, &v, 1, -1, RWF_NOWAIT);
	}
	return off < 0 ? read(h, p, len) : pread(h, p, len, off);
}

static ssize_t write_at(int h, const void *p, size_t len, int64_t off)
{
	if (off == RW_NOWAIT) {
		struct iovec v = { .iov_base = (void *)p, .iov_len = len };
		return pwritev2(h, &v, 1, -1, RWF_NOWAIT);
	}
	return off < 0 ? write(h, p, len) : pwrite(h, p, len, off);
}

/* One transfer of up to @len bytes between host fd @h and application memory at @buf: straight into
 * or out of the application's pages when they can be pinned, else through a bounce buffer (at most
 * IO_CHUNK). *@asked gets what was attempted. @off: the file offset, -1 the file position, RW_NOWAIT
 * the file position without waiting. */
static long rw_once(struct task *t, int h, uint64_t buf, uint64_t len, bool wr, int64_t off, uint64_t *asked)
{
	struct process *pr = t->proc;
	struct mm_pin pin;
	long r;
	int e;
	*asked = len;
	if (len >= PIN_MIN && mm_pin(pr, buf, len, wr ? CV_ACCESS_READ : CV_ACCESS_WRITE, &pin) == 0) {
		r = wr ? write_at(h, pin.ptr, len, off) : read_at(h, pin.ptr, len, off);
		e = errno;
		mm_unpin(pr, &pin);
	} else {
		char tmp[IO_CHUNK];
		*asked = len = len > IO_CHUNK ? IO_CHUNK : len;
		if (wr && mm_copy_in(pr, buf, tmp, len) < 0)
			return -EFAULT;
		r = wr ? write_at(h, tmp, len, off) : read_at(h, tmp, len, off);
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

/* Can IO on a file of this type and device never block nor be a terminal's (no job control)? Files,
 * directories, block devices, and the memory devices /dev/null, zero, full, random and urandom. */
static bool never_waits(uint32_t mode, uint64_t rdev)
{
	if (S_ISREG(mode) || S_ISDIR(mode) || S_ISBLK(mode))
		return true;
	unsigned mi = minor(rdev);
	return S_ISCHR(mode) && major(rdev) == 1 && (mi == 3 || mi == 5 || mi == 7 || mi == 8 || mi == 9);
}

/*
 * A pipe or socket, never blocking in the host: every transfer with RWF_NOWAIT, and where one finds no
 * data (or no room) the wait where signals interrupt. With data or room there that is one host call,
 * without the fcntl and ppoll (and a socket's getsockopt) first. A read returns what it gets, as
 * Linux's; a write goes on until all of it is written (what fits each time: all or nothing up to
 * PIPE_BUF), so a reader that stops leaves it in the wait, not in the host's write. -EOPNOTSUPP
 * before anything moved: the kernel cannot (the caller takes its other way).
 */
static long rw_nowait(struct task *t, int h, uint64_t buf, uint64_t len, bool wr)
{
	uint64_t done = 0, asked;
	for (;;) {
		long r = rw_once(t, h, buf + done, len - done, wr, RW_NOWAIT, &asked);
		if (r == -EOPNOTSUPP && !done)
			return r;
		if (r >= 0) {
			done += (uint64_t)r;
			if (!wr || done == len || r == 0)
				return (long)done;
			continue;
		}
		if (r != -EAGAIN)
			return done ? (long)done : r;
		long w = host_wait_io(t, h, wr); /* 1: non-blocking, so no wait */
		if (w != 0)
			return done ? (long)done : w < 0 ? w : -EAGAIN;
	}
}

static long rw_held(struct task *t, int64_t fd, int h, uint64_t buf, uint64_t len, bool wr, int64_t off)
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
	uint32_t mode;
	uint64_t rdev;
	bool known = off < 0 && fd_kind(t->proc, fd, h, &mode, &rdev) == 0;
	bool waits = off < 0 && (!known || !never_waits(mode, rdev));
	if (waits && known && (S_ISFIFO(mode) || (S_ISSOCK(mode) && (wr || !__atomic_load_n(&t->proc->s->rcvlowat_set, __ATOMIC_ACQUIRE))))) {
		long r = rw_nowait(t, h, buf, len, wr);
		if (r != -EOPNOTSUPP)
			return r;
	}
	for (int whole = -1;;) {
		if (waits) { /* a pipe, socket or terminal may block: wait where signals can interrupt */
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

/* A write to a sandbox pty's master is the terminal's input: ^C, ^\ and ^Z signal (ptyjob.c). */
static long rw_tty(struct task *t, int64_t fd, int h, uint64_t buf, uint64_t len, bool wr, int64_t off)
{
	long r = rw_held(t, fd, h, buf, len, wr, off);
	if (wr && r > 0 && off < 0)
		ptyjob_input(t, h, buf, (uint64_t)r);
	return r;
}

long sys_rw(struct task *t, uint64_t fd, uint64_t buf, uint64_t len, bool wr, int64_t off)
{
	return WITH_HOST_FD(t, fd, h, rw_tty(t, (int64_t)fd, h, buf, len, wr, off));
}

static long mmap_call(struct process *pr, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
		      uint64_t off);

/* Its installs may wait (mm_defer.c): a loader's mappings of one library go as one batch, made with
 * the first writable one (the data segment, written at once: a fault would cost another round trip). */
static long sys_mmap(struct process *pr, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
		     uint64_t off)
{
	pr->vm->mm.defer_ok = true;
	long r = mmap_call(pr, addr, len, prot, flags, fd, off);
	pr->vm->mm.defer_ok = false;
	if (prot & PROT_WRITE)
		mm_flush_installs(pr);
	return r;
}

static long mmap_call(struct process *pr, uint64_t addr, uint64_t len, uint64_t prot, uint64_t flags, int64_t fd,
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
	if ((prot & PROT_WRITE) && !shared && !mm_data_allows(pr, fixed ? addr : 0, (len + 4095) & ~4095ull))
		return -ENOMEM; /* RLIMIT_DATA */
	int h = -1;
	if (!anon && (h = host_fd(pr, (uint64_t)fd)) < 0)
		return -EBADF;
	if (!anon) { /* as Linux: an O_PATH fd is no open file; a mapping reads the file */
		int fl = fcntl(h, F_GETFL);
		if (fl < 0 || (fl & O_PATH))
			return -EBADF;
		if ((fl & O_ACCMODE) == O_WRONLY)
			return -EACCES;
	}
	uint64_t got;
	if (!anon && shared) {
		struct stat st;
		if (fstat(h, &st) < 0)
			return -EBADF;
		if (S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 5))
			anon = true; /* /dev/zero: shared anonymous memory, shared with children too */
		else if (mm_mappable_file(pr->s, h, &st)) {
			long r = mm_map_host(pr, addr & ~4095ull, len, prot_access(prot), fixed, h, &st, off, &got);
			return r < 0 ? r : (long)got;
		} else if (prot & PROT_WRITE) {
			return -ENODEV;
		}
		/* else a read-only copy of what the file holds now */
	}
	if (!anon && !(flags & MAP_SHARED) && !(prot & PROT_WRITE)) { /* code and read-only data: shared copy */
		long r = mm_map_file_ro(pr, addr & ~4095ull, len, prot_access(prot), fixed, h, NULL, off, &got);
		return r < 0 ? r : (long)got;
	}
	long r = mm_map_anon(pr, addr & ~4095ull, len, CV_ACCESS_READ | CV_ACCESS_WRITE, fixed, shared, &got);
	if (r < 0)
		return r;
	/* Under a memory limit, accessible memory is committed now (as Linux's strict overcommit): running
	 * out shows as mmap's ENOMEM, not as a fault the program cannot handle. */
	if (pr->s->opts.mem_limit && !(flags & MAP_NORESERVE) && prot != PROT_NONE && mm_populate(pr, got, len) < 0) {
		mm_unmap(pr, got, len);
		return -ENOMEM;
	}
	if (!anon) { /* a private copy of the file range, read straight into the new pages */
		mm_set_file(pr, got);
		/* Pages wholly past the end of a regular file are SIGBUS, as Linux's (the file as it is now) */
		uint64_t plen = (len + 4095) & ~4095ull, valid = plen;
		struct stat st;
		if (fstat(h, &st) == 0 && S_ISREG(st.st_mode)) {
			uint64_t fend = ((uint64_t)st.st_size + 4095) & ~4095ull;
			valid = fend <= off ? 0 : fend - off < plen ? fend - off : plen;
		}
		if (valid < plen && mm_set_bus(pr, got + valid, got + plen) < 0) {
			mm_unmap(pr, got, plen);
			return -ENOMEM;
		}
		struct mm_pin pin;
		if (valid && mm_pin_locked(pr, got, valid, &pin) == 0) {
			/* Through a bounce buffer into the memory file: the pages are fresh, and reading
			 * into the sentry's mapping of them would fault each one in (~10 us a page here) */
			char tmp[IO_CHUNK];
			int mfd = cv_memfile_fd(pr->s->mf);
			for (uint64_t done = 0; done < valid;) {
				size_t want = valid - done < sizeof(tmp) ? (size_t)(valid - done) : sizeof(tmp);
				long rd = pread(h, tmp, want, (off_t)(off + done));
				if (rd <= 0)
					break;
				if (pwrite(mfd, tmp, (size_t)rd, (off_t)(pin.off + done)) != rd)
					memcpy((uint8_t *)pin.ptr + done, tmp, (size_t)rd);
				done += (uint64_t)rd;
			}
			mm_unpin(pr, &pin);
		}
	}
	if (prot_access(prot) != (CV_ACCESS_READ | CV_ACCESS_WRITE))
		mm_protect(pr, got, len, prot_access(prot));
	if (flags & (MAP_POPULATE | MAP_LOCKED)) /* populated now: no fault on it later */
		mm_populate(pr, got, len);
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
	/* CPU clocks: the task's; those the vDSO reads: its page's (one timeline with it) */
	if (!cpu_clock(t, clk, &ts) && !vclock_now(t->proc->s, (uint32_t)clk, &ts) && clock_gettime((clockid_t)clk, &ts) < 0)
		return -errno;
	return mm_copy_out(t->proc, uts, &ts, sizeof(ts));
}

static long sys_uname(struct process *pr, uint64_t ubuf)
{
	struct utsname u;
	uname(&u);
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->lock); /* the names the sandbox gave itself */
	if (s->uts_host_set)
		memcpy(u.nodename, s->uts_host, sizeof(s->uts_host));
	if (s->uts_domain_set)
		memcpy(u.domainname, s->uts_domain, sizeof(s->uts_domain));
	pthread_mutex_unlock(&s->lock);
	return mm_copy_out(pr, ubuf, &u, sizeof(u));
}

/* sethostname and setdomainname: the sandbox's own UTS names (its root's, CAP_SYS_ADMIN there); the
 * host's stay as they are. */
static long set_uts(struct process *pr, uint64_t uname, int64_t len, bool host)
{
	struct sentry *s = pr->s;
	if (!(pr->cred.cap_eff & (1ull << 21)))
		return -EPERM;
	if ((int32_t)len < 0 || (int32_t)len > 64) /* __NEW_UTS_LEN */
		return -EINVAL;
	char name[65] = { 0 };
	if (len && mm_copy_in(pr, uname, name, (size_t)(int32_t)len) < 0)
		return -EFAULT;
	pthread_mutex_lock(&s->lock);
	memcpy(host ? s->uts_host : s->uts_domain, name, sizeof(name));
	*(host ? &s->uts_host_set : &s->uts_domain_set) = true;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

SYSCALL_ENTRY(sethostname, set_uts(t->proc, a[0], (int64_t)a[1], true))
SYSCALL_ENTRY(setdomainname, set_uts(t->proc, a[0], (int64_t)a[1], false))

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

/* Entry points of the syscall table (systable.c): read and write. */

SYSCALL_ENTRY(read, sys_rw(t, a[0], a[1], a[2], false, -1))
SYSCALL_ENTRY(write, sys_rw(t, a[0], a[1], a[2], true, -1))
SYSCALL_ENTRY(pread64, (int64_t)a[3] < 0 ? -EINVAL : sys_rw(t, a[0], a[1], a[2], false, (int64_t)a[3]))
SYSCALL_ENTRY(pwrite64, (int64_t)a[3] < 0 ? -EINVAL : sys_rw(t, a[0], a[1], a[2], true, (int64_t)a[3]))

/* The fd table. */

long sc_close(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	int h = host_fd(pr, a[0]);
	if (h < 0)
		return -EBADF;
	fd_close(pr, (int64_t)a[0], h);
	pr->fds[a[0]] = -1;
	return 0;
}

long sc_fstat(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	struct stat st;
	int h = host_fd(pr, a[0]);
	long ret = h < 0 ? -EBADF : fd_seed_take(pr, (int64_t)a[0], h, &st) ? 0 : fstat(h, &st) < 0 ? -errno : 0;
	if (ret == 0) {
		ids_report(pr->s, h, &st.st_uid, &st.st_gid);
		owners_get(pr->s, st.st_dev, st.st_ino, &st.st_uid, &st.st_gid);
		ret = mm_copy_out(pr, a[1], &st, sizeof(st));
	}
	return ret;
}

long sc_lseek(struct task *t, const uint64_t a[6])
{
	int h = host_fd(t->proc, a[0]);
	return h < 0 ? -EBADF : ret_errno(lseek(h, (off_t)a[1], (int)a[2]));
}

long sc_fstatfs(struct task *t, const uint64_t a[6])
{
	struct statfs sf;
	int h = host_fd(t->proc, a[0]);
	return h < 0 ? -EBADF : fstatfs(h, &sf) < 0 ? -errno : mm_copy_out(t->proc, a[1], &sf, sizeof(sf));
}

/* epoll_create (@size > 0) and epoll_create1 (@flags): an epoll fd of the host's. */
static long epoll_new(struct process *pr, bool valid, bool cloexec)
{
	if (!valid)
		return -EINVAL;
	int h = epoll_create1(EPOLL_CLOEXEC);
	return h < 0 ? -errno : alloc_fd_flags(pr, h, 0, cloexec);
}

SYSCALL_ENTRY(epoll_create, epoll_new(t->proc, (int64_t)(int32_t)a[0] > 0, false))
SYSCALL_ENTRY(epoll_create1, epoll_new(t->proc, (a[0] & ~(uint64_t)EPOLL_CLOEXEC) == 0, a[0] & EPOLL_CLOEXEC))

/* eventfd and eventfd2: the host's, with the sandbox's close-on-exec flag. */
static long eventfd_new(struct process *pr, uint64_t initval, uint64_t fl)
{
	if (fl & ~(uint64_t)(EFD_CLOEXEC | EFD_NONBLOCK | EFD_SEMAPHORE))
		return -EINVAL;
	int h = eventfd((unsigned)initval, (int)(fl & (EFD_NONBLOCK | EFD_SEMAPHORE)) | EFD_CLOEXEC);
	return h < 0 ? -errno : alloc_fd_flags(pr, h, 0, (fl & EFD_CLOEXEC) != 0);
}

SYSCALL_ENTRY(eventfd, eventfd_new(t->proc, a[0], 0))
SYSCALL_ENTRY(eventfd2, eventfd_new(t->proc, a[0], a[1]))

long sc_fcntl(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	int h = host_fd(pr, a[0]);
	uint64_t cmd = a[1];
	if (h < 0)
		return -EBADF;
	if (cmd == F_GETFL) {
		int fl = fcntl(h, F_GETFL);
		return fl < 0 ? -errno : fasync_armed(pr->s, h) ? fl | O_ASYNC : fl;
	}
	if (cmd == F_SETFL) { /* O_ASYNC is the sentry's (fasync.c): the host's would signal the sentry */
		if (fcntl(h, F_SETFL, (int)(a[2] & (O_NONBLOCK | O_APPEND | O_DIRECT | O_NOATIME))) < 0)
			return -errno;
		return fasync_set_async(pr, (int)a[0], h, a[2] & O_ASYNC);
	}
	if (cmd == F_SETOWN) /* a negative id names a process group */
		return (int)a[2] == INT_MIN ? -EINVAL
					    : fasync_setown(pr, h, (int)a[2] < 0 ? F_OWNER_PGRP : F_OWNER_PID,
							    (int)a[2] < 0 ? -(int)a[2] : (int)a[2]);
	if (cmd == F_GETOWN || cmd == F_GETOWN_EX) {
		int type, id;
		fasync_getown(pr, h, &type, &id);
		struct f_owner_ex o = { .type = (enum __pid_type)type, .pid = id };
		if (cmd == F_GETOWN_EX)
			return mm_copy_out(pr, a[2], &o, sizeof(o));
		return o.type == F_OWNER_PGRP ? -(long)o.pid : o.pid;
	}
	if (cmd == F_SETOWN_EX) {
		struct f_owner_ex o;
		if (mm_copy_in(pr, a[2], &o, sizeof(o)) < 0)
			return -EFAULT;
		return fasync_setown(pr, h, (int)o.type, o.pid);
	}
	if (cmd == F_SETSIG)
		return fasync_setsig(pr, h, a[2]);
	if (cmd == F_GETSIG)
		return fasync_getsig(pr, h);
	if (cmd == F_NOTIFY)
		return fasync_notify(pr, (int)a[0], h, (uint32_t)a[2]);
	if (cmd == F_GETLK || cmd == F_SETLK || cmd == F_SETLKW || cmd == F_OFD_GETLK || cmd == F_OFD_SETLK ||
	    cmd == F_OFD_SETLKW)
		return io_lock(t, a[0], cmd, a[2]);
	if (cmd == F_GETPIPE_SZ || cmd == F_GET_SEALS)
		return ret_errno(fcntl(h, (int)cmd));
	if (cmd == F_SETPIPE_SZ || cmd == F_ADD_SEALS)
		return ret_errno(fcntl(h, (int)cmd, (int)a[2]));
	if (cmd == F_GETLEASE)
		return F_UNLCK;
	if (cmd == F_GETFD)
		return pr->cloexec[a[0]] ? FD_CLOEXEC : 0;
	if (cmd == F_SETFD) {
		pr->cloexec[a[0]] = a[2] & FD_CLOEXEC;
		return 0;
	}
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && a[2] >= (uint64_t)fd_limit(pr))
		return -EINVAL;
	if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
		return dup_alloc(pr, (int64_t)a[0], h, (int)a[2], cmd == F_DUPFD_CLOEXEC);
	return -EINVAL;
}

long sc_dup(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	int h = host_fd(pr, a[0]);
	return h < 0 ? -EBADF : dup_alloc(pr, (int64_t)a[0], h, 0, false);
}

SYSCALL_ENTRY(dup2, host_fd(t->proc, a[0]) < 0 ? -EBADF : dup_to(t->proc, a[0], a[1], false))
SYSCALL_ENTRY(dup3,
	      a[0] == a[1] || (a[2] & ~(uint64_t)O_CLOEXEC) ? -EINVAL : dup_to(t->proc, a[0], a[1], a[2] & O_CLOEXEC))

/* pipe and pipe2: a host pipe, both ends in the fd table or neither. */
static long pipe_new(struct process *pr, uint64_t ufds, uint64_t fl)
{
	int hp[2];
	if (fl & ~(uint64_t)(O_CLOEXEC | O_NONBLOCK))
		return -EINVAL;
	if (pipe2(hp, O_CLOEXEC | (int)(fl & O_NONBLOCK)) < 0)
		return -errno;
	long r0 = alloc_fd_flags(pr, hp[0], 0, fl & O_CLOEXEC);
	long r1 = r0 < 0 ? (close(hp[1]), r0) : alloc_fd_flags(pr, hp[1], 0, fl & O_CLOEXEC);
	int32_t fds[2] = { (int32_t)r0, (int32_t)r1 };
	if (r1 < 0 && r0 >= 0) {
		close(pr->fds[r0]);
		pr->fds[r0] = -1;
	}
	return r1 < 0 ? r1 : mm_copy_out(pr, ufds, fds, sizeof(fds));
}

SYSCALL_ENTRY(pipe, pipe_new(t->proc, a[0], 0))
SYSCALL_ENTRY(pipe2, pipe_new(t->proc, a[0], a[1]))

long sc_getdents64(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	int h = host_fd(pr, a[0]);
	char tmp[IO_CHUNK];
	size_t len = a[2] < sizeof(tmp) ? (size_t)a[2] : sizeof(tmp);
	long n = h < 0 ? -EBADF : fs_getdents(pr, (int64_t)a[0], h, tmp, len);
	return n < 0 ? n : (mm_copy_out(pr, a[1], tmp, (size_t)n) < 0 ? -EFAULT : n);
}

long sc_inotify_rm_watch(struct task *t, const uint64_t a[6])
{
	int h = host_fd(t->proc, a[0]);
	return h < 0 ? -EBADF : inotify_rm_watch(h, (int)a[1]) < 0 ? -errno : 0;
}

/* Memory. */

SYSCALL_ENTRY(mmap, sys_mmap(t->proc, a[0], a[1], a[2], a[3], (int64_t)a[4], a[5]))
SYSCALL_ENTRY(munmap, mm_unmap(t->proc, a[0], a[1]))
SYSCALL_ENTRY(mprotect, mm_protect(t->proc, a[0], a[1], prot_access(a[2])))
SYSCALL_ENTRY(madvise, mm_advise(t->proc, a[0], a[1], a[2]))
SYSCALL_ENTRY(mremap, mm_remap(t->proc, a[0], a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(brk, (long)mm_brk(t->proc, a[0]))

long sc_arch_prctl(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	if (a[0] == ARCH_SET_FS) {
		if (a[1] >= pr->s->caps.max_user_addr)
			return -EPERM;
		t->st->regs.fs_base = a[1];
		return 0;
	}
	if (a[0] == ARCH_GET_FS)
		return mm_copy_out(pr, a[1], &t->st->regs.fs_base, 8);
	return -EINVAL;
}

/* Time and the machine. */

SYSCALL_ENTRY(clock_gettime, sys_clock_gettime(t, a[0], a[1]))

long sc_gettimeofday(struct task *t, const uint64_t a[6])
{
	struct timespec ts;
	if (!vclock_now(t->proc->s, CLOCK_REALTIME, &ts))
		clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t tv[2] = { (uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec / 1000 };
	return a[0] ? mm_copy_out(t->proc, a[0], tv, sizeof(tv)) : 0;
}

long sc_time(struct task *t, const uint64_t a[6])
{
	struct timespec ts;
	if (!vclock_now(t->proc->s, CLOCK_REALTIME, &ts))
		clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t now = (uint64_t)ts.tv_sec;
	return a[0] && mm_copy_out(t->proc, a[0], &now, 8) < 0 ? -EFAULT : (long)now;
}

/* nanosleep and clock_nanosleep: a sentry wait, so signals interrupt it (EINTR with the time left in
 * @rem, as Linux reports). */
static long sleep_for(struct task *t, clockid_t clk, bool absolute, uint64_t p, uint64_t rem)
{
	struct process *pr = t->proc;
	struct timespec ts, now, deadline;
	long ret = mm_copy_in(pr, p, &ts, sizeof(ts));
	if (ret < 0)
		return ret;
	if (ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000 || ts.tv_sec < 0)
		return -EINVAL;
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
	return ret;
}

SYSCALL_ENTRY(nanosleep, sleep_for(t, CLOCK_MONOTONIC, false, a[0], a[1]))
SYSCALL_ENTRY(clock_nanosleep, sleep_for(t, (clockid_t)a[0], a[1] & 1 /* TIMER_ABSTIME */, a[2], a[3]))
SYSCALL_ENTRY(uname, sys_uname(t->proc, a[0]))
SYSCALL_ENTRY(getrandom, sys_getrandom(t->proc, a[0], a[1], a[2]))
