// SPDX-License-Identifier: Apache-2.0
// Path system calls, all through the policy: open, stat, access, readlink, xattrs, cwd, and the
// writes (mkdir, mknod, unlink, rename, link, symlink, chmod, utimes, truncate) allowed only inside
// read-write mounts. What they create gets the process's umask.
#include <errno.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "sentry.h"

/* dirfd arguments are ints: AT_FDCWD arrives as 0xffffff9c in a 64-bit register. */
#define DIRFD(x) ((int64_t)(int32_t)(x))

static long copy_path(struct process *pr, uint64_t upath, char *path)
{
	long n = mm_strncpy_in(pr, upath, path, SENTRY_PATH_MAX);
	return n < 0 ? n : 0;
}

int fd_hold(struct process *pr, uint64_t fd, struct fd_ref *ref)
{
	pthread_mutex_lock(&pr->lock);
	int h = app_host_fd(pr, fd);
	if (h >= 0) {
		*ref = (struct fd_ref){ .h = h, .next = pr->held };
		pr->held = ref;
	}
	pthread_mutex_unlock(&pr->lock);
	return h;
}

void fd_release(struct process *pr, struct fd_ref *ref)
{
	bool last = true;
	pthread_mutex_lock(&pr->lock);
	for (struct fd_ref **pp = &pr->held; *pp;) {
		if (*pp == ref) {
			*pp = ref->next;
			continue;
		}
		last &= (*pp)->h != ref->h;
		pp = &(*pp)->next;
	}
	if (ref->closing && last)
		close(ref->h);
	pthread_mutex_unlock(&pr->lock);
}

void fd_close(struct process *pr, int h)
{
	bool in_use = false;
	for (struct fd_ref *r = pr->held; r; r = r->next)
		if (r->h == h)
			in_use = r->closing = true;
	if (!in_use)
		close(h);
}

long fd_install(struct process *pr, int h, bool cloexec)
{
	for (int i = 0; i < fd_limit(pr); i++)
		if (pr->fds[i] < 0) {
			pr->fds[i] = h;
			pr->cloexec[i] = cloexec;
			return i;
		}
	close(h);
	return -EMFILE;
}

int fs_lookup(struct process *pr, int64_t dirfd, const char *path, bool nofollow)
{
	struct resolved r;
	int ret = policy_resolve(pr, dirfd, path, &r);
	if (ret < 0)
		return ret;
	long h;
	if (procfs_lookup(pr, r.full, nofollow, &h)) /* the sandbox's own /proc */
		return (int)h;
	char to_proc[SENTRY_PATH_MAX];
	ret = policy_open_proc(&pr->s->pol, r.full, O_PATH | (nofollow ? O_NOFOLLOW : 0), 0, false, NULL, to_proc);
	if (ret == -EXDEV && procfs_lookup(pr, to_proc, false, &h)) /* a link into /proc (/etc/mtab) */
		return (int)h;
	return ret;
}

#define PTS_MAJOR_FIRST 136 /* UNIX98 pty slaves: majors 136-143 */
#define PTS_MAJOR_LAST 143

static bool is_pty_slave(const struct stat *st)
{
	return major(st->st_rdev) >= PTS_MAJOR_FIRST && major(st->st_rdev) <= PTS_MAJOR_LAST;
}

/* /dev/tty (the caller's terminal, which it handed the program), /dev/ptmx (a new pseudo-terminal)
 * and the pty slaves pty_is_ours() allows. */
static bool terminal_device(const struct stat *st)
{
	return (major(st->st_rdev) == 5 && (minor(st->st_rdev) == 0 || minor(st->st_rdev) == 2)) || is_pty_slave(st);
}

/* May the sandbox open pty slave @rdev? If one of its processes holds the master (it opened /dev/ptmx),
 * or it is the terminal the caller ran cvisor on; never another session's terminal. */
static bool pty_is_ours(struct sentry *s, dev_t rdev)
{
	unsigned n = (major(rdev) - PTS_MAJOR_FIRST) * 256u + minor(rdev);
	for (int i = 0; i < 3; i++)
		if (s->stdio_rdev[i] == rdev)
			return true;
	bool ours = false;
	pthread_mutex_lock(&s->lock);
	for (struct process *q = s->procs; q && !ours; q = q->next)
		for (int fd = 0; fd < SENTRY_MAX_FDS && !ours; fd++) {
			int h = __atomic_load_n(&q->fds[fd], __ATOMIC_RELAXED);
			struct stat st;
			unsigned ptn;
			ours = h >= 0 && fstat(h, &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(5, 2) &&
			       ioctl(h, TIOCGPTN, &ptn) == 0 && ptn == n;
		}
	pthread_mutex_unlock(&s->lock);
	return ours;
}

/* Character devices any sandbox may write: null, zero, full, random, urandom. */
static bool harmless_device(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == 1 &&
	       (minor(st->st_rdev) == 3 || minor(st->st_rdev) == 5 || minor(st->st_rdev) == 7 ||
		minor(st->st_rdev) == 8 || minor(st->st_rdev) == 9);
}

#define FIFO_POLL_NS 10000000 /* a blocking open of a FIFO's write end retries this often */

/*
 * Open through the policy, never blocking in the host: a FIFO's blocking open would wait for the other
 * end where no signal reaches (and the end of the sandbox would wait for it). Opened non-blocking; a
 * write end without a reader (ENXIO) is retried in an interruptible sleep; a read end returns at once
 * (its first read waits for a writer's data or close, as host_wait_io does for every pipe).
 */
static long open_nonblocking(struct task *t, const char *full, uint64_t flags, uint64_t mode, bool need_rw)
{
	const struct policy *pol = &t->proc->s->pol;
	char to_proc[SENTRY_PATH_MAX];
	long pr_ret;
	if (flags & O_PATH) /* no file is opened: nothing blocks (and openat2 refuses O_NONBLOCK here) */
		return policy_open(pol, full, flags, mode, need_rw, NULL);
	for (;;) {
		int h = policy_open_proc(pol, full, flags | O_NONBLOCK, mode, need_rw, NULL, to_proc);
		if (h == -EXDEV && procfs_open_host(t->proc, to_proc, flags, &pr_ret))
			return pr_ret; /* a link into /proc, such as /etc/mtab: a host fd, as policy_open's */
		if (h >= 0 && !(flags & O_NONBLOCK) &&
		    fcntl(h, F_SETFL, (int)(flags & (O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME))) < 0) {
			long e = -errno;
			close(h);
			return e;
		}
		if (h != -ENXIO || (flags & O_NONBLOCK) || (flags & O_ACCMODE) != O_WRONLY)
			return h;
		struct stat st;
		int p = policy_open(pol, full, O_PATH, 0, false, NULL);
		bool fifo = p >= 0 && fstat(p, &st) == 0 && S_ISFIFO(st.st_mode);
		if (p >= 0)
			close(p);
		if (!fifo)
			return h;
		/* Not under the process lock (the dispatcher holds it for open): the reader may be
		 * another thread of this process. Nothing here depends on it across the pause. */
		pthread_mutex_unlock(&t->proc->lock);
		long slept = sig_nap(t, FIFO_POLL_NS);
		pthread_mutex_lock(&t->proc->lock);
		if (slept < 0)
			return -EINTR;
	}
}

static long sys_openat(struct task *t, int64_t dirfd, uint64_t upath, uint64_t flags, uint64_t mode)
{
	struct process *pr = t->proc;
	char path[SENTRY_PATH_MAX];
	long ret = copy_path(pr, upath, path);
	if (ret < 0)
		return ret;
	/* The application's own fds by name: never the host's magic links, which are the sentry's fds. */
	static const char *const self_fd[] = { "/dev/fd/", "/proc/self/fd/", "/dev/stdin", "/dev/stdout",
					       "/dev/stderr" };
	for (int k = 0; k < 5; k++) {
		size_t l = strlen(self_fd[k]);
		if (strncmp(path, self_fd[k], l) != 0 || (k >= 2 && path[l]))
			continue;
		char *end = NULL;
		long fdn = k >= 2 ? k - 2 : strtol(path + l, &end, 10);
		if (k < 2 && (*end || end == path + l || fdn < 0 || fdn >= SENTRY_MAX_FDS))
			return -ENOENT;
		if (pr->fds[fdn] < 0)
			return -ENOENT;
		int d = fcntl(pr->fds[fdn], F_DUPFD_CLOEXEC, 3);
		return d < 0 ? -errno : fd_install(pr, d, flags & O_CLOEXEC);
	}
	struct resolved r;
	if ((ret = policy_resolve(pr, dirfd, path, &r)) < 0)
		return ret;
	if (procfs_open(pr, r.full, flags, &ret)) /* the sandbox's own /proc */
		return ret;
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & (O_CREAT | O_TRUNC)) ||
		      (flags & O_TMPFILE) == O_TMPFILE;
	bool need_rw = writes;
	struct stat st;
	/* Devices need a look first: one written where writing is not allowed (/dev/null), a terminal.
	 * Only for writes and under /dev: a plain read-only open (find, ls) pays nothing. */
	bool look = writes || strncmp(r.full, "/dev/", 5) == 0;
	int p = look ? policy_open(&pr->s->pol, r.full, O_PATH, 0, false, NULL) : -1;
	bool dev = p >= 0 && fstat(p, &st) == 0 && S_ISCHR(st.st_mode);
	if (p >= 0)
		close(p);
	if (dev && is_pty_slave(&st) && !pty_is_ours(pr->s, st.st_rdev))
		return -EACCES; /* another session's terminal */
	if (dev && (harmless_device(&st) || terminal_device(&st)))
		need_rw = false; /* /dev/null and friends, and terminals, may be written wherever they are */
	/* Terminals never become the sentry's controlling terminal. */
	long h = open_nonblocking(t, r.full, (flags & ~(uint64_t)O_CLOEXEC) | (dev ? O_NOCTTY : 0),
				  mode & 07777 & ~(uint64_t)pr->umask, need_rw);
	return h < 0 ? h : fd_install(pr, (int)h, flags & O_CLOEXEC);
}

static long stat_out(struct process *pr, int h, uint64_t ust)
{
	struct stat st;
	long ret = fstat(h, &st) < 0 ? -errno : mm_copy_out(pr, ust, &st, sizeof(st));
	close(h);
	return ret;
}

static long with_lookup(struct process *pr, int64_t dirfd, uint64_t upath, bool nofollow, int *h)
{
	char path[SENTRY_PATH_MAX];
	long ret = copy_path(pr, upath, path);
	if (ret < 0)
		return ret;
	*h = fs_lookup(pr, dirfd, path, nofollow);
	return *h < 0 ? *h : 0;
}

/* Resolve for a change to a directory entry: -EROFS outside read-write mounts. */
static long for_write(struct process *pr, int64_t dirfd, uint64_t upath, struct resolved *r, int *parent)
{
	char path[SENTRY_PATH_MAX];
	long ret = copy_path(pr, upath, path);
	if (ret < 0 || (ret = policy_resolve(pr, dirfd, path, r)) < 0)
		return ret;
	*parent = policy_parent(&pr->s->pol, r, NULL);
	return *parent < 0 ? *parent : 0;
}

/*
 * rename and link: both ends must be in read-write mounts. For link that matters twice over: a hard
 * link from a read-only area into /tmp would make the host's file writable through it.
 */
static long two_entries(struct process *pr, int64_t od, uint64_t op, int64_t nd, uint64_t np, uint64_t flags,
			bool link)
{
	struct resolved a, b;
	int pa, pb;
	long ret = for_write(pr, od, op, &a, &pa);
	if (ret < 0)
		return ret;
	if ((ret = for_write(pr, nd, np, &b, &pb)) < 0) {
		close(pa);
		return ret;
	}
	if (link)
		ret = linkat(pa, a.name, pb, b.name, (int)(flags & AT_SYMLINK_FOLLOW)) < 0 ? -errno : 0;
	else
		ret = syscall(SYS_renameat2, pa, a.name, pb, b.name, flags) < 0 ? -errno : 0;
	close(pa);
	close(pb);
	return ret;
}

/* Is the file behind host fd @h inside a read-write mount? (fchmod on a read-only opened file would
 * otherwise change the host's file.) */
bool fs_fd_writable(struct process *pr, int h)
{
	char link[64], host[SENTRY_PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", h);
	ssize_t n = readlink(link, host, sizeof(host) - 1);
	if (n < 0)
		return false;
	host[n] = 0;
	for (int i = 0; i < pr->s->pol.n; i++) {
		const struct mountpt *m = &pr->s->pol.m[i];
		size_t l = strlen(m->hpath);
		if (m->rw && strncmp(host, m->hpath, l) == 0 && (host[l] == '/' || host[l] == 0))
			return true;
	}
	return false;
}

/* utimensat and its older forms; @upath 0: the file of fd @dirfd (futimens). */
static long set_times(struct process *pr, int64_t dirfd, uint64_t upath, const struct timespec *ts, int flags)
{
	if (!upath) {
		int h = dirfd >= 0 && dirfd < SENTRY_MAX_FDS ? pr->fds[dirfd] : -1;
		return h < 0 ? -EBADF : !fs_fd_writable(pr, h) ? -EROFS : futimens(h, ts) < 0 ? -errno : 0;
	}
	struct resolved res;
	int p;
	long ret = for_write(pr, dirfd, upath, &res, &p);
	if (ret == 0) {
		ret = utimensat(p, res.name, ts, flags) < 0 ? -errno : 0;
		close(p);
	}
	return ret;
}

bool fs_syscall(struct task *t, uint64_t nr, long *ret)
{
	struct process *pr = t->proc;
	const struct cv_regs *r = &t->st->regs;
	uint64_t a0 = r->rdi, a1 = r->rsi, a2 = r->rdx, a3 = r->r10, a4 = r->r8;
	struct resolved res;
	int h = -1, p = -1;
	char path[SENTRY_PATH_MAX];
	switch (nr) {
	case SYS_open: *ret = sys_openat(t, AT_FDCWD, a0, a1, a2); break;
	case SYS_creat: *ret = sys_openat(t, AT_FDCWD, a0, O_CREAT | O_WRONLY | O_TRUNC, a1); break;
	case SYS_openat: *ret = sys_openat(t, DIRFD(a0), a1, a2, a3); break;
	case SYS_stat:
	case SYS_lstat:
		*ret = with_lookup(pr, AT_FDCWD, a0, nr == SYS_lstat, &h);
		if (*ret == 0)
			*ret = stat_out(pr, h, a1);
		break;
	case SYS_newfstatat:
		if ((a3 & AT_EMPTY_PATH) && mm_strncpy_in(pr, a1, path, 2) == 0) {
			h = a0 < SENTRY_MAX_FDS ? pr->fds[a0] : -1;
			*ret = h < 0 ? -EBADF : stat_out(pr, fcntl(h, F_DUPFD_CLOEXEC, 3), a2);
			break;
		}
		*ret = with_lookup(pr, DIRFD(a0), a1, a3 & AT_SYMLINK_NOFOLLOW, &h);
		if (*ret == 0)
			*ret = stat_out(pr, h, a2);
		break;
	case SYS_statx: {
		struct statx sx;
		if ((a2 & AT_EMPTY_PATH) && mm_strncpy_in(pr, a1, path, 2) == 0) {
			h = DIRFD(a0) >= 0 && a0 < SENTRY_MAX_FDS && pr->fds[a0] >= 0 ? fcntl(pr->fds[a0], F_DUPFD_CLOEXEC, 3) : -EBADF;
			*ret = h < 0 ? -EBADF : 0;
		} else {
			*ret = with_lookup(pr, DIRFD(a0), a1, a2 & AT_SYMLINK_NOFOLLOW, &h);
		}
		if (*ret == 0) {
			*ret = statx(h, "", AT_EMPTY_PATH, (unsigned)a3, &sx) < 0 ? -errno : mm_copy_out(pr, a4, &sx, sizeof(sx));
			close(h);
		}
		break;
	}
	case SYS_access:
	case SYS_faccessat:
	case SYS_faccessat2: {
		int mode = (int)(nr == SYS_access ? a1 : a2);
		*ret = with_lookup(pr, nr == SYS_access ? AT_FDCWD : DIRFD(a0), nr == SYS_access ? a0 : a1, false, &h);
		if (*ret < 0)
			break;
		*ret = syscall(SYS_faccessat2, h, "", mode, AT_EMPTY_PATH) < 0 ? -errno : 0;
		if (*ret == 0 && (mode & W_OK)) {
			struct resolved rr;
			mm_strncpy_in(pr, nr == SYS_access ? a0 : a1, path, SENTRY_PATH_MAX);
			if (policy_resolve(pr, nr == SYS_access ? AT_FDCWD : DIRFD(a0), path, &rr) < 0 || !rr.rw)
				*ret = -EROFS;
		}
		close(h);
		break;
	}
	case SYS_readlink:
	case SYS_readlinkat: {
		uint64_t up = nr == SYS_readlink ? a0 : a1, buf = nr == SYS_readlink ? a1 : a2;
		uint64_t size = nr == SYS_readlink ? a2 : a3;
		char out[SENTRY_PATH_MAX];
		long len;
		if ((*ret = copy_path(pr, up, path)) < 0)
			break;
		struct resolved pr_r;
		if (policy_resolve(pr, nr == SYS_readlink ? AT_FDCWD : DIRFD(a0), path, &pr_r) == 0 &&
		    procfs_readlink(pr, pr_r.full, out, sizeof(out), &len)) { /* the sandbox's, never the sentry's */
			if (len < 0) {
				*ret = len;
				break;
			}
		} else {
			h = fs_lookup(pr, nr == SYS_readlink ? AT_FDCWD : DIRFD(a0), path, true);
			if (h < 0) {
				*ret = h;
				break;
			}
			len = readlinkat(h, "", out, sizeof(out));
			int e = errno;
			struct stat st;
			if (len < 0 && e == ENOENT && fstat(h, &st) == 0 && !S_ISLNK(st.st_mode))
				e = EINVAL; /* not a link (an empty name on an O_PATH fd says ENOENT) */
			close(h);
			if (len < 0) {
				*ret = -e;
				break;
			}
		}
		if ((uint64_t)len > size)
			len = (long)size;
		*ret = mm_copy_out(pr, buf, out, (size_t)len) < 0 ? -EFAULT : len;
		break;
	}
	case SYS_statfs:
		*ret = with_lookup(pr, AT_FDCWD, a0, false, &h);
		if (*ret == 0) {
			struct statfs sf;
			*ret = fstatfs(h, &sf) < 0 ? -errno : mm_copy_out(pr, a1, &sf, sizeof(sf));
			close(h);
		}
		break;
	case SYS_getxattr:
	case SYS_lgetxattr: {
		char name[256], val[4096];
		*ret = with_lookup(pr, AT_FDCWD, a0, nr == SYS_lgetxattr, &h);
		if (*ret < 0)
			break;
		if (mm_strncpy_in(pr, a1, name, sizeof(name)) < 0) {
			close(h);
			*ret = -EFAULT;
			break;
		}
		/* By fd: the path may have changed since the lookup. */
		snprintf(path, sizeof(path), "/proc/self/fd/%d", h);
		long n = nr == SYS_lgetxattr ? -1 : getxattr(path, name, val, a3 < sizeof(val) ? a3 : sizeof(val));
		if (nr == SYS_lgetxattr) {
			errno = ENODATA; /* xattrs of symlinks themselves: none to report */
			n = -1;
		}
		close(h);
		*ret = n < 0 ? -errno : (a3 && mm_copy_out(pr, a2, val, (size_t)n) < 0 ? -EFAULT : n);
		break;
	}
	case SYS_chdir:
	case SYS_fchdir: {
		if (nr == SYS_chdir) {
			if ((*ret = copy_path(pr, a0, path)) < 0 || (*ret = policy_resolve(pr, AT_FDCWD, path, &res)) < 0)
				break;
		} else {
			*ret = policy_resolve(pr, DIRFD(a0), ".", &res);
			if (*ret < 0)
				break;
		}
		h = policy_open(&pr->s->pol, res.full, O_PATH | O_DIRECTORY, 0, false, NULL);
		if (h < 0) {
			*ret = h;
			break;
		}
		close(h);
		strcpy(pr->cwd, res.full);
		*ret = 0;
		break;
	}
	case SYS_getcwd: {
		size_t l = strlen(pr->cwd) + 1;
		*ret = l > a1 ? -ERANGE : mm_copy_out(pr, a0, pr->cwd, l) < 0 ? -EFAULT : (long)l;
		break;
	}
	case SYS_mkdir:
	case SYS_mkdirat:
		*ret = for_write(pr, nr == SYS_mkdir ? AT_FDCWD : DIRFD(a0), nr == SYS_mkdir ? a0 : a1, &res, &p);
		if (*ret == -EBUSY)
			*ret = -EEXIST; /* a mount point (or "/") exists by definition */
		if (*ret == 0)
			*ret = mkdirat(p, res.name, (mode_t)((nr == SYS_mkdir ? a1 : a2) & 07777 & ~pr->umask)) < 0 ? -errno : 0;
		break;
	case SYS_unlink:
	case SYS_rmdir:
	case SYS_unlinkat: {
		int fl = nr == SYS_rmdir ? AT_REMOVEDIR : nr == SYS_unlinkat ? (int)(a2 & AT_REMOVEDIR) : 0;
		*ret = for_write(pr, nr == SYS_unlinkat ? DIRFD(a0) : AT_FDCWD, nr == SYS_unlinkat ? a1 : a0, &res, &p);
		if (*ret == 0)
			*ret = unlinkat(p, res.name, fl) < 0 ? -errno : 0;
		break;
	}
	case SYS_rename: *ret = two_entries(pr, AT_FDCWD, a0, AT_FDCWD, a1, 0, false); break;
	case SYS_renameat: *ret = two_entries(pr, DIRFD(a0), a1, DIRFD(a2), a3, 0, false); break;
	case SYS_renameat2: *ret = two_entries(pr, DIRFD(a0), a1, DIRFD(a2), a3, a4, false); break;
	case SYS_link: *ret = two_entries(pr, AT_FDCWD, a0, AT_FDCWD, a1, 0, true); break;
	case SYS_linkat: *ret = two_entries(pr, DIRFD(a0), a1, DIRFD(a2), a3, a4, true); break;
	case SYS_symlink:
	case SYS_symlinkat: {
		char target[SENTRY_PATH_MAX];
		if ((*ret = copy_path(pr, a0, target)) < 0)
			break;
		*ret = for_write(pr, nr == SYS_symlink ? AT_FDCWD : DIRFD(a1), nr == SYS_symlink ? a1 : a2, &res, &p);
		if (*ret == 0) /* the target is only text; resolving it later stays inside the mount */
			*ret = symlinkat(target, p, res.name) < 0 ? -errno : 0;
		break;
	}
	case SYS_chmod:
	case SYS_fchmodat:
		*ret = for_write(pr, nr == SYS_chmod ? AT_FDCWD : DIRFD(a0), nr == SYS_chmod ? a0 : a1, &res, &p);
		if (*ret == 0)
			*ret = fchmodat(p, res.name, (mode_t)((nr == SYS_chmod ? a1 : a2) & 07777), 0) < 0 ? -errno : 0;
		break;
	case SYS_fchmod:
		h = a0 < SENTRY_MAX_FDS ? pr->fds[a0] : -1;
		*ret = h < 0 ? -EBADF : !fs_fd_writable(pr, h) ? -EROFS : fchmod(h, (mode_t)(a1 & 07777)) < 0 ? -errno : 0;
		break;
	case SYS_utimensat: {
		struct timespec ts[2];
		if (a2 && mm_copy_in(pr, a2, ts, sizeof(ts)) < 0)
			*ret = -EFAULT;
		else
			*ret = set_times(pr, DIRFD(a0), a1, a2 ? ts : NULL, (int)(a3 & AT_SYMLINK_NOFOLLOW));
		break;
	}
	case SYS_utimes:
	case SYS_futimesat: {
		struct timeval tv[2] = { { 0, 0 }, { 0, 0 } };
		struct timespec ts[2];
		uint64_t utv = nr == SYS_utimes ? a1 : a2;
		if (utv && mm_copy_in(pr, utv, tv, sizeof(tv)) < 0) {
			*ret = -EFAULT;
			break;
		}
		for (int i = 0; i < 2; i++)
			ts[i] = (struct timespec){ tv[i].tv_sec, tv[i].tv_usec * 1000 };
		if (utv && (tv[0].tv_usec < 0 || tv[0].tv_usec >= 1000000 || tv[1].tv_usec < 0 || tv[1].tv_usec >= 1000000))
			*ret = -EINVAL;
		else
			*ret = set_times(pr, nr == SYS_utimes ? AT_FDCWD : DIRFD(a0), nr == SYS_utimes ? a0 : a1,
					 utv ? ts : NULL, 0);
		break;
	}
	case SYS_utime: {
		int64_t ub[2] = { 0, 0 }; /* struct utimbuf: actime, modtime */
		if (a1 && mm_copy_in(pr, a1, ub, sizeof(ub)) < 0) {
			*ret = -EFAULT;
			break;
		}
		struct timespec ts[2] = { { ub[0], 0 }, { ub[1], 0 } };
		*ret = set_times(pr, AT_FDCWD, a0, a1 ? ts : NULL, 0);
		break;
	}
	case SYS_mknod:
	case SYS_mknodat: {
		/* Regular files and FIFOs only: a device node would reach host devices, a socket node is
		 * not needed (bind makes those, and named unix sockets are refused). */
		uint64_t mode = nr == SYS_mknod ? a1 : a2, type = mode & S_IFMT;
		if (type == S_IFCHR || type == S_IFBLK || type == S_IFSOCK) {
			*ret = -EPERM;
			break;
		}
		if (type != 0 && type != S_IFREG && type != S_IFIFO) {
			*ret = -EINVAL;
			break;
		}
		*ret = for_write(pr, nr == SYS_mknod ? AT_FDCWD : DIRFD(a0), nr == SYS_mknod ? a0 : a1, &res, &p);
		if (*ret == -EBUSY)
			*ret = -EEXIST;
		if (*ret == 0)
			*ret = mknodat(p, res.name, (mode_t)((type ? type : S_IFREG) | (mode & 07777 & ~(uint64_t)pr->umask)),
				       0) < 0 ? -errno : 0;
		break;
	}
	case SYS_truncate:
		if ((int64_t)a1 < 0) {
			*ret = -EINVAL;
			break;
		}
		if ((*ret = copy_path(pr, a0, path)) < 0 || (*ret = policy_resolve(pr, AT_FDCWD, path, &res)) < 0)
			break;
		/* Non-blocking: a FIFO (which truncate refuses anyway) must not wait for a reader. */
		h = policy_open(&pr->s->pol, res.full, O_WRONLY | O_NONBLOCK, 0, true, NULL);
		*ret = h == -ENXIO ? -EINVAL : h < 0 ? h : ftruncate(h, (off_t)a1) < 0 ? -errno : 0;
		if (h >= 0)
			close(h);
		break;
	case SYS_fchown:
	case SYS_chown:
	case SYS_lchown:
	case SYS_fchownat:
		*ret = -EPERM; /* ownership stays the host's business */
		break;
	default:
		return false;
	}
	if (p >= 0)
		close(p);
	return true;
}

/* inotify: the host's, on files the policy opens. A watch is placed through the O_PATH descriptor the
 * policy gave (/proc/self/fd/N names exactly that inode), so it cannot watch anything the sandbox
 * cannot open, and its events carry only names below the watched directory. */
long fs_inotify_init(struct task *t, uint64_t flags)
{
	if (flags & ~(uint64_t)(IN_CLOEXEC | IN_NONBLOCK))
		return -EINVAL;
	int h = inotify_init1((int)(flags & IN_NONBLOCK) | IN_CLOEXEC);
	return h < 0 ? -errno : fd_install(t->proc, h, flags & IN_CLOEXEC);
}

long fs_inotify_add_watch(struct task *t, uint64_t fd, uint64_t upath, uint64_t mask)
{
	struct process *pr = t->proc;
	char path[SENTRY_PATH_MAX], via[64];
	int in = app_host_fd(pr, fd);
	if (in < 0)
		return -EBADF;
	long ret = copy_path(pr, upath, path);
	if (ret < 0)
		return ret;
	int h = fs_lookup(pr, AT_FDCWD, path, mask & IN_DONT_FOLLOW);
	if (h < 0)
		return h;
	snprintf(via, sizeof(via), "/proc/self/fd/%d", h);
	ret = inotify_add_watch(in, via, (uint32_t)(mask & ~(uint64_t)IN_DONT_FOLLOW));
	ret = ret < 0 ? -errno : ret;
	close(h);
	return ret;
}
