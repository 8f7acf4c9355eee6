// SPDX-License-Identifier: Apache-2.0
// Path system calls that read: open, stat, access, readlink, statfs, cwd, inotify — every path walked
// by walk.c, the host acting only on the fds it opened; the ones that change things are in
// fs_change.c, xattrs in fs_xattr.c. What they create gets the process's umask.
#include <errno.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

static long copy_path(struct process *pr, uint64_t upath, char *path)
{
	long n = mm_strncpy_in(pr, upath, path, SENTRY_PATH_MAX);
	return n < 0 ? n : 0;
}

int fd_hold(struct process *pr, uint64_t fd, struct fd_ref *ref)
{
	pthread_mutex_lock(&pr->vm->lock);
	int h = app_host_fd(pr, fd);
	if (h >= 0) {
		*ref = (struct fd_ref){ .h = h, .next = pr->held };
		pr->held = ref;
	}
	pthread_mutex_unlock(&pr->vm->lock);
	return h;
}

/* Host fd @h closes: what fd_keyed said of it ends with it. */
static void unkey(struct sentry *s, int h)
{
	if (s->fd_shares && h >= 0 && (size_t)h < s->n_fd_shares)
		__atomic_store_n(&s->fd_keyed[h], 0, __ATOMIC_RELEASE);
}

void fd_release(struct process *pr, struct fd_ref *ref)
{
	bool last = true;
	pthread_mutex_lock(&pr->vm->lock);
	for (struct fd_ref **pp = &pr->held; *pp;) {
		if (*pp == ref) {
			*pp = ref->next;
			continue;
		}
		last &= (*pp)->h != ref->h;
		pp = &(*pp)->next;
	}
	if (ref->closing && last) {
		/* fd_close bumped fd_gen already, but a holder may have read the new value since and
		 * remembered this file under it (fd_statx, fd_kind): bump again before the number is free. */
		__atomic_add_fetch(&pr->fd_gen, 1, __ATOMIC_ACQ_REL);
		unkey(pr->s, ref->h);
		close(ref->h);
	}
	pthread_mutex_unlock(&pr->vm->lock);
}

int fd_kind(struct process *pr, int64_t fd, int h, uint32_t *mode, uint64_t *rdev)
{
	uint64_t gen = fd_gen_of(pr, fd); /* before the fstat: see fd_release */
	struct fdkind *e = &pr->fdkind[(uint64_t)fd % (sizeof(pr->fdkind) / sizeof(pr->fdkind[0]))];
	pthread_mutex_lock(&pr->fdid_lock);
	bool hit = e->fd == fd && e->h == h && e->gen == gen && e->mode;
	*mode = e->mode;
	*rdev = e->rdev;
	pthread_mutex_unlock(&pr->fdid_lock);
	if (hit)
		return 0;
	struct stat st;
	if (fstat(h, &st) < 0)
		return -errno;
	*mode = st.st_mode & S_IFMT;
	*rdev = st.st_rdev;
	pthread_mutex_lock(&pr->fdid_lock);
	*e = (struct fdkind){ .fd = (int)fd, .h = h, .gen = gen, .mode = *mode, .rdev = *rdev, .dev = st.st_dev };
	pthread_mutex_unlock(&pr->fdid_lock);
	return 0;
}

/*
 * The stat the walk of an open took is the file's own a few microseconds later: the sandbox cannot
 * change a file of a read-only mount, nor swap another in. Programs fstat what they just opened
 * (glibc's fopen, ld.so, find, compilers): that fstat takes it instead of asking the host again. Only
 * the first fstat, within FD_SEED_NS of the open, and not for a device some read-write mount of the
 * sandbox lies on (a hard link there could be written); a host process changing the file shows in an
 * fstat that follows the open by more than that, as it does in every later one.
 */
#define FD_SEED_NS 10000000ull

void fd_seed_put(struct process *pr, int64_t fd, int h, const struct stat *st)
{
	const struct policy *pol = &pr->s->pol;
	for (int i = 0; i < pol->n; i++)
		if (pol->m[i].rw && pol->m[i].dev == st->st_dev)
			return;
	uint64_t gen = fd_gen_of(pr, fd);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	pthread_mutex_lock(&pr->fdid_lock);
	pr->fdseed[pr->fdseed_next++ % 2] = (struct fdseed){ .fd = (int)fd, .h = h, .gen = gen, .st = *st,
							     .at = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec };
	pr->fdkind[(uint64_t)fd % (sizeof(pr->fdkind) / sizeof(pr->fdkind[0]))] =
		(struct fdkind){ .fd = (int)fd, .h = h, .gen = gen, .mode = st->st_mode & S_IFMT, .rdev = st->st_rdev,
				 .dev = st->st_dev };
	pthread_mutex_unlock(&pr->fdid_lock);
}

bool fd_seed_take(struct process *pr, int64_t fd, int h, struct stat *st)
{
	uint64_t gen = fd_gen_of(pr, fd);
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &now);
	uint64_t t = (uint64_t)now.tv_sec * 1000000000ull + (uint64_t)now.tv_nsec;
	bool hit = false;
	pthread_mutex_lock(&pr->fdid_lock);
	for (int i = 0; i < 2 && !hit; i++) {
		struct fdseed *e = &pr->fdseed[i];
		if (e->fd == fd && e->h == h && e->gen == gen && e->at && t - e->at < FD_SEED_NS) {
			*st = e->st;
			e->at = 0;
			hit = true;
		}
	}
	pthread_mutex_unlock(&pr->fdid_lock);
	return hit;
}

long fs_type_of_dev(struct sentry *s, uint64_t dev, int h)
{
	const size_t n = sizeof(s->devfs) / sizeof(s->devfs[0]);
	pthread_mutex_lock(&s->spc_lock);
	for (size_t i = 0; i < n; i++)
		if (s->devfs[i].used && s->devfs[i].dev == dev) {
			long t = s->devfs[i].type;
			pthread_mutex_unlock(&s->spc_lock);
			return t;
		}
	pthread_mutex_unlock(&s->spc_lock);
	struct statfs sf;
	if (fstatfs(h, &sf) < 0)
		return -1;
	pthread_mutex_lock(&s->spc_lock);
	s->devfs[s->devfs_next++ % n] = (struct devfs){ .dev = dev, .used = true, .type = (long)sf.f_type };
	pthread_mutex_unlock(&s->spc_lock);
	return (long)sf.f_type;
}

bool fs_dev_maps(struct sentry *s, uint64_t dev)
{
	bool maps = false;
	pthread_mutex_lock(&s->spc_lock);
	for (size_t i = 0; i < sizeof(s->devfs) / sizeof(s->devfs[0]); i++)
		maps |= s->devfs[i].used && s->devfs[i].dev == dev && s->devfs[i].maps;
	pthread_mutex_unlock(&s->spc_lock);
	return maps;
}

void fs_dev_mapped(struct sentry *s, uint64_t dev)
{
	pthread_mutex_lock(&s->spc_lock);
	for (size_t i = 0; i < sizeof(s->devfs) / sizeof(s->devfs[0]); i++)
		if (s->devfs[i].used && s->devfs[i].dev == dev)
			s->devfs[i].maps = true;
	pthread_mutex_unlock(&s->spc_lock);
}

bool fd_on_sysfs(struct process *pr, int64_t fd, int h)
{
	struct sentry *s = pr->s;
	uint64_t gen = fd_gen_of(pr, fd), dev = 0;
	bool known = false;
	if (fd >= 0) {
		const struct fdkind *e = &pr->fdkind[(uint64_t)fd % (sizeof(pr->fdkind) / sizeof(pr->fdkind[0]))];
		pthread_mutex_lock(&pr->fdid_lock);
		known = e->fd == fd && e->h == h && e->gen == gen && e->mode;
		dev = e->dev;
		pthread_mutex_unlock(&pr->fdid_lock);
	}
	if (known)
		return fs_type_of_dev(s, dev, h) == SYSFS_MAGIC;
	struct statfs sf;
	return fstatfs(h, &sf) == 0 && sf.f_type == SYSFS_MAGIC;
}

bool fd_share(struct sentry *s, int h)
{
	if (!s->fd_shares || h < 0 || (size_t)h >= s->n_fd_shares || __atomic_load_n(&s->fd_keyed[h], __ATOMIC_ACQUIRE))
		return false;
	__atomic_fetch_add(&s->fd_shares[h], 1, __ATOMIC_ACQ_REL);
	return true;
}

int fd_own_host(struct process *pr, uint64_t fd)
{
	struct sentry *s = pr->s;
	int h = app_host_fd(pr, fd);
	if (h < 0 || !s->fd_shares || (size_t)h >= s->n_fd_shares)
		return h;
	bool other = false;
	if (__atomic_load_n(&s->fd_shares[h], __ATOMIC_ACQUIRE))
		for (int i = 0; i < SENTRY_MAX_FDS && !other; i++)
			other = i != (int)fd && pr->fds[i] == h;
	if (other) {
		int d = host_dup(s, h);
		if (d < 0)
			return -errno;
		fd_close(pr, (int64_t)fd, h); /* one holder less: another slot keeps it */
		pr->fds[fd] = h = d;
	}
	if ((size_t)h < s->n_fd_shares) /* its later duplicates get host fds of their own */
		__atomic_store_n(&s->fd_keyed[h], 1, __ATOMIC_RELEASE);
	return h;
}

void fd_close(struct process *pr, int64_t fd, int h)
{
	struct sentry *s = pr->s;
	if (fd >= 0 && fd < SENTRY_MAX_FDS) /* before the number can be reused */
		__atomic_add_fetch(&pr->fd_gens[fd], 1, __ATOMIC_ACQ_REL);
	else
		__atomic_add_fetch(&pr->fd_gen, 1, __ATOMIC_ACQ_REL);
	if (s->fd_shares && h >= 0 && (size_t)h < s->n_fd_shares) { /* another slot still holds it */
		uint32_t v = __atomic_load_n(&s->fd_shares[h], __ATOMIC_ACQUIRE);
		while (v > 0)
			if (__atomic_compare_exchange_n(&s->fd_shares[h], &v, v - 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
				return;
	}
	bool in_use = false;
	fasync_closed(s, h);
	for (struct fd_ref *r = pr->held; r; r = r->next)
		if (r->h == h)
			in_use = r->closing = true;
	if (!in_use) {
		unkey(s, h);
		close(h);
	}
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
	struct walk w;
	int ret = walk_path(pr, dirfd, path, nofollow ? 0 : WALK_FOLLOW, &w);
	if (ret < 0)
		return ret;
	long h;
	if (w.proc) /* the sandbox's own /proc */
		return procfs_lookup(pr, w.spath, nofollow, &h) ? (int)h : -ENOENT;
	h = w.fd;
	w.fd = -1;
	walk_done(&w);
	return (int)h;
}

int fs_open(struct process *pr, int64_t dirfd, const char *path, uint64_t flags)
{
	return fs_open_canon(pr, dirfd, path, flags, NULL);
}

int fs_open_canon(struct process *pr, int64_t dirfd, const char *path, uint64_t flags, char *canon)
{
	struct walk w;
	int ret = walk_path(pr, dirfd, path, WALK_SLASH | ((flags & O_NOFOLLOW) ? 0 : WALK_FOLLOW), &w);
	if (ret < 0)
		return ret;
	long h;
	if (w.proc)
		return procfs_open_host(pr, w.spath, flags, &h) ? (int)h : -ENOENT;
	/* Programs and interpreters: regular files only (never a device opened for a look). */
	ret = w.fd < 0 ? -ENOENT : w.slash && !S_ISDIR(w.st.st_mode) ? -ENOTDIR : S_ISLNK(w.st.st_mode) ? -ELOOP
	    : S_ISREG(w.st.st_mode) ? walk_reopen(&w, flags, 0) : -EACCES;
	if (ret >= 0 && canon)
		snprintf(canon, SENTRY_PATH_MAX, "%s", w.spath);
	walk_done(&w);
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

/*
 * The devices the sandbox may open: null, zero, full, random, urandom, /dev/tty, /dev/ptmx, the pty
 * slaves it made and the caller's terminal (gVisor's /dev offers the same). Never another host
 * device, not even to read: /dev/kmsg is the host's kernel log, /dev/kvm, /dev/net/tun, /dev/loop*,
 * /dev/mem, disks and the rest are the host's hardware and kernel.
 */
static bool device_allowed(struct process *pr, const struct stat *st)
{
	if (S_ISBLK(st->st_mode))
		return false;
	if (!S_ISCHR(st->st_mode))
		return true;
	for (int i = 0; i < 3; i++)
		if (pr->s->stdio_rdev[i] == st->st_rdev)
			return true;
	if (is_pty_slave(st))
		return pty_is_ours(pr->s, st->st_rdev); /* never another session's terminal */
	return harmless_device(st) || terminal_device(st);
}

#define FIFO_POLL_NS 10000000 /* a blocking open of a FIFO's write end retries this often */

/*
 * A read-only open of what the walk left untyped (fast_path: a name in a read-only mount where no
 * device opens): opened by name without blocking (a FIFO's read end must not wait in the host), then
 * looked at. The sandbox's root only (fast_path's condition): no mode bits to check. A FIFO stays as
 * open_walked() leaves one, anything else but a file or directory is given back (-EAGAIN: walked).
 */
static long open_untyped(struct walk *w, uint64_t flags, bool *plain_out)
{
	long h = walk_reopen(w, flags | O_NONBLOCK | O_NOCTTY, 0);
	if (h < 0)
		return h;
	struct stat *st = &w->st;
	if (fstat((int)h, st) < 0 ||
	    !(S_ISREG(st->st_mode) || S_ISDIR(st->st_mode) || S_ISFIFO(st->st_mode))) {
		close((int)h);
		return -EAGAIN;
	}
	*plain_out = !S_ISFIFO(st->st_mode);
	int keep = (int)(flags & (O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME)); /* (O_NONBLOCK off) */
	if (!(flags & O_NONBLOCK) && fcntl((int)h, F_SETFL, keep) < 0) {
		long e = -errno;
		close((int)h);
		return e;
	}
	return h;
}

/* open(2) of the walked object @w (or the creation of its entry): a host fd or -errno. */
static long open_walked(struct process *pr, struct walk *w, uint64_t flags, uint64_t mode, bool *plain_out)
{
	bool tmpfile = (flags & O_TMPFILE) == O_TMPFILE;
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC) || tmpfile;
	if ((flags & O_CREAT) && w->slash)
		return -EISDIR; /* Linux: "name/" never creates, exists or not */
	if (w->untyped)
		return open_untyped(w, flags, plain_out);
	if (w->fd < 0 && !w->unopened) { /* missing: created only by O_CREAT, in a read-write mount */
		if (!(flags & O_CREAT) || tmpfile)
			return -ENOENT;
		if (!w->rw)
			return -EROFS;
		long ret = perm_may_create(pr, w->dir);
		if (ret < 0)
			return ret;
		long h = walk_reopen(w, flags, mode & 07777 & ~(uint64_t)pr->umask);
		if (h >= 0)
			perm_created(pr, w->dir, (int)h); /* owned by its maker, as the sandbox sees it */
		return h;
	}
	const struct stat *st = &w->st;
	if ((flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL))
		return -EEXIST;
	if (S_ISLNK(st->st_mode)) { /* asked not to follow: O_PATH opens the link itself */
		if (flags & O_DIRECTORY)
			return -ENOTDIR;
		if (!(flags & O_PATH))
			return -ELOOP;
		long h = w->fd;
		w->fd = -1;
		return h;
	}
	if (!S_ISDIR(st->st_mode) && (w->slash || (flags & O_DIRECTORY)))
		return -ENOTDIR;
	if (S_ISDIR(st->st_mode) && ((flags & O_CREAT) || ((flags & O_ACCMODE) != O_RDONLY && !tmpfile)))
		return -EISDIR;
	if (flags & O_PATH) { /* no file is opened: the walk's fd is the answer */
		long h = w->fd;
		w->fd = -1;
		return h;
	}
	bool dev = S_ISCHR(st->st_mode);
	if (!device_allowed(pr, st))
		return -EACCES;
	if (dev && (harmless_device(st) || terminal_device(st)))
		writes = false; /* /dev/null and friends, and terminals, may be written wherever they are */
	if (writes && !w->rw)
		return -EROFS;
	if (!perm_overrides(pr)) { /* the mode bits, for the sandbox's credentials */
		int acc = (int)(flags & O_ACCMODE), mask = acc == O_RDONLY ? MAY_READ : acc == O_WRONLY ? MAY_WRITE : MAY_READ | MAY_WRITE;
		long ret = perm_check(pr, w->fd, st, (flags & O_TRUNC) ? mask | MAY_WRITE : mask);
		if (ret < 0)
			return ret;
	}
	/* Non-blocking in the host: a FIFO's blocking open would wait where no signal reaches. Terminals
	 * never become the sentry's controlling terminal. A regular file or directory in a read-only
	 * mount is opened as asked: its open never blocks, and the sandbox cannot swap a FIFO in since
	 * the walk (one call less). */
	bool plain = !w->rw && (S_ISREG(st->st_mode) || S_ISDIR(st->st_mode));
	*plain_out = plain;
	long h = walk_reopen(w, flags | (plain ? 0 : O_NONBLOCK) | (dev ? O_NOCTTY : 0), mode & 07777 & ~(uint64_t)pr->umask);
	if (h >= 0 && dev)
		ptyjob_opened(pr, (int)h, flags); /* the host never sees it as a controlling terminal */
	if (h >= 0 && !(flags & O_NONBLOCK) && !plain &&
	    fcntl((int)h, F_SETFL, (int)(flags & (O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME))) < 0) {
		long e = -errno;
		close((int)h);
		return e;
	}
	return h;
}

/*
 * Open through the walk, never blocking in the host: a write end of a FIFO without a reader (ENXIO
 * non-blocking) is retried in an interruptible sleep; a read end returns at once (its first read
 * waits for a writer's data or close, as host_wait_io does for every pipe).
 */
static long open_nonblocking(struct task *t, int64_t dirfd, const char *path, uint64_t flags, uint64_t mode, int wflags,
			     struct stat *seed, char *canon)
{
	struct process *pr = t->proc;
	/* O_CREAT|O_EXCL never follows a last symlink (Linux: EEXIST even when it dangles). */
	bool follow = !(flags & O_NOFOLLOW) && (flags & (O_CREAT | O_EXCL)) != (O_CREAT | O_EXCL);
	/* Only a creation needs the directory; an existing object is reopened from the walk's own fd
	 * (a lookup: 4 host calls for a file, not 6), or in a read-only mount by its path (2). */
	int parent = (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE ? WALK_PARENT : 0;
	int opens = parent || (flags & O_PATH) ? 0 : WALK_OPENS;
	if (opens && (flags & O_ACCMODE) == O_RDONLY && !(flags & O_TRUNC))
		opens |= WALK_READS;
	for (;;) {
		struct walk w;
		long h = walk_path(pr, dirfd, path, parent | opens | WALK_SLASH | (follow ? WALK_FOLLOW : 0) | wflags, &w);
		if (h < 0)
			return h;
		if (w.proc) /* the sandbox's own /proc (also reached through a link, like /etc/mtab) */
			return procfs_open_host(pr, w.spath, flags, &h) ? h : -ENOENT;
		bool plain = false;
		h = open_walked(pr, &w, flags, mode, &plain);
		if (h >= 0 && plain && seed) {
			*seed = w.st; /* the file opened: read-only mounts hold nothing the sandbox could swap in */
			if (canon && S_ISDIR(w.st.st_mode))
				snprintf(canon, SENTRY_PATH_MAX, "%s", w.spath);
		}
		bool fifo = w.fd >= 0 && S_ISFIFO(w.st.st_mode);
		walk_done(&w);
		if (w.untyped && h == -ENOENT)
			return h; /* nothing followed, no mount crossed: the name is not there */
		if (w.unopened && h < 0) {
			/* The stat by path follows what the host would (a link to a writable place, say), so no
			 * answer rests on it alone: only an open that took the way with nothing followed counts
			 * (a link or a host mount on the way makes that fail), and every failure walks again. */
			opens = 0;
			continue;
		}
		if (h != -ENXIO || !fifo || (flags & O_NONBLOCK) || (flags & O_ACCMODE) != O_WRONLY)
			return h;
		/* Not under the process lock (the dispatcher holds it for open): the reader may be
		 * another thread of this process. Nothing here depends on it across the pause. */
		pthread_mutex_unlock(&pr->vm->lock);
		long slept = sig_nap(t, FIFO_POLL_NS);
		pthread_mutex_lock(&pr->vm->lock);
		if (slept < 0)
			return -EINTR;
	}
}

/*
 * open("/proc/self/fd/N") (and /dev/fd/N, /dev/stdin...): a new open of the same file with the new
 * flags, as Linux reopens it, through the sentry's own magic link to its host fd: it names exactly
 * that inode (a symlink's O_PATH fd gives ELOOP, never its target). Writing needs what open needs.
 */
static long reopen_fd(struct process *pr, int h, uint64_t flags)
{
	struct stat st;
	char via[64], host[16] = "";
	if (fstat(h, &st) < 0)
		return -EBADF;
	snprintf(via, sizeof(via), "/proc/self/fd/%d", h);
	ssize_t n = readlink(via, host, sizeof(host) - 1);
	host[n > 0 ? n : 0] = 0;
	/* Objects that no path names (pipes, sockets, memfds, anonymous inodes) belong to the sandbox. */
	bool pathless = host[0] != '/' || strncmp(host, "/memfd:", 7) == 0;
	bool writes = (flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC);
	if (writes && !pathless && !fs_fd_writable(pr, h) && !harmless_device(&st) && !terminal_device(&st))
		return -EROFS;
	if (!device_allowed(pr, &st))
		return -EACCES;
	int d = open(via, (int)(flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC), 0);
	if (d < 0)
		return -errno;
	if (!(flags & O_NONBLOCK) && !(flags & O_PATH) &&
	    fcntl(d, F_SETFL, (int)(flags & (O_APPEND | O_ASYNC | O_DIRECT | O_NOATIME))) < 0) {
		long e = -errno;
		close(d);
		return e;
	}
	return d;
}

static long sys_openat(struct task *t, int64_t dirfd, uint64_t upath, uint64_t flags, uint64_t mode, int wflags)
{
	struct process *pr = t->proc;
	char path[SENTRY_PATH_MAX];
	long ret = copy_path(pr, upath, path);
	if (ret < 0)
		return ret;
	/* The application's own fds by name: never the host's magic links, which are the sentry's fds. */
	static const char *const self_fd[] = { "/dev/fd/", "/proc/self/fd/", "/dev/stdin", "/dev/stdout",
					       "/dev/stderr" };
	for (int k = 0; k < 5 && !wflags; k++) {
		size_t l = strlen(self_fd[k]);
		if (strncmp(path, self_fd[k], l) != 0 || (k >= 2 && path[l]))
			continue;
		char *end = NULL;
		long fdn = k >= 2 ? k - 2 : strtol(path + l, &end, 10);
		if (k < 2 && *end == '/')
			break; /* a name below a directory's fd: the walk follows the magic link */
		if (k < 2 && (*end || end == path + l || fdn < 0 || fdn >= SENTRY_MAX_FDS))
			return -ENOENT;
		if (pr->fds[fdn] < 0)
			return -ENOENT;
		long d = reopen_fd(pr, pr->fds[fdn], flags & ~(uint64_t)O_CLOEXEC);
		return d < 0 ? d : fd_install(pr, (int)d, flags & O_CLOEXEC);
	}
	struct stat seed = { .st_nlink = 0 };
	char canon[SENTRY_PATH_MAX] = "";
	long h = open_nonblocking(t, dirfd, path, flags & ~(uint64_t)O_CLOEXEC, mode, wflags, &seed, canon);
	long fd = h < 0 ? h : fd_install(pr, (int)h, flags & O_CLOEXEC);
	if (fd >= 0 && seed.st_nlink)
		fd_seed_put(pr, fd, (int)h, &seed);
	if (fd >= 0 && seed.st_nlink && canon[0]) /* a directory: where a walk from it starts (find, fts) */
		fd_dirpath_put(pr, fd, (int)h, &seed, canon);
	return fd;
}

#define OPEN_FLAGS                                                                                     \
	(O_ACCMODE | O_CREAT | O_EXCL | O_NOCTTY | O_TRUNC | O_APPEND | O_NONBLOCK | O_DSYNC | O_ASYNC |       \
	 O_DIRECT | O_LARGEFILE | O_DIRECTORY | O_NOFOLLOW | O_NOATIME | O_CLOEXEC | O_PATH | O_TMPFILE | O_SYNC)

/* openat2: openat with strict checks of its arguments and the RESOLVE_* rules done by the walk. */
static long sys_openat2(struct task *t, int64_t dirfd, uint64_t upath, uint64_t uhow, uint64_t size)
{
	struct open_how how;
	unsigned char extra[64];
	if (size < sizeof(how))
		return -EINVAL;
	if (size > 4096)
		return -E2BIG;
	if (mm_copy_in(t->proc, uhow, &how, sizeof(how)) < 0)
		return -EFAULT;
	for (uint64_t off = sizeof(how); off < size; off += sizeof(extra)) { /* a newer struct: zeros only */
		size_t n = size - off < sizeof(extra) ? size - off : sizeof(extra);
		if (mm_copy_in(t->proc, uhow + off, extra, n) < 0)
			return -EFAULT;
		for (size_t i = 0; i < n; i++)
			if (extra[i])
				return -E2BIG;
	}
	static const uint64_t resolve_all = RESOLVE_NO_XDEV | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
					    RESOLVE_BENEATH | RESOLVE_IN_ROOT | RESOLVE_CACHED;
	if ((how.flags & ~(uint64_t)OPEN_FLAGS) || (how.resolve & ~resolve_all) ||
	    ((how.resolve & RESOLVE_BENEATH) && (how.resolve & RESOLVE_IN_ROOT)) || (how.mode & ~(uint64_t)07777) ||
	    (how.mode && !(how.flags & (O_CREAT | __O_TMPFILE))) ||
	    ((how.resolve & RESOLVE_CACHED) && (how.flags & (O_CREAT | O_TRUNC | __O_TMPFILE))))
		return -EINVAL;
	/* RESOLVE_CACHED ("fail unless cached") is met by doing the lookup. */
	int wflags = ((how.resolve & RESOLVE_NO_SYMLINKS) ? WALK_NO_SYMLINKS : 0) |
		     ((how.resolve & RESOLVE_NO_MAGICLINKS) ? WALK_NO_MAGICLINKS : 0) |
		     ((how.resolve & RESOLVE_NO_XDEV) ? WALK_NO_XDEV : 0) |
		     ((how.resolve & RESOLVE_BENEATH) ? WALK_BENEATH : 0) | ((how.resolve & RESOLVE_IN_ROOT) ? WALK_IN_ROOT : 0);
	return sys_openat(t, dirfd, upath, how.flags, how.mode, wflags);
}

/* stat of host fd @h out to the application's @ust, as the sandbox sees owners. */
static long stat_fd_out(struct process *pr, int64_t fd, int h, uint64_t ust)
{
	struct stat st;
	long ret = fd >= 0 && fd_seed_take(pr, fd, h, &st) ? 0 : fstat(h, &st) < 0 ? -errno : 0;
	if (ret == 0) {
		ids_report(pr->s, h, &st.st_uid, &st.st_gid);
		owners_get(pr->s, st.st_dev, st.st_ino, &st.st_uid, &st.st_gid);
		ret = mm_copy_out(pr, ust, &st, sizeof(st));
	}
	return ret;
}

static long stat_out(struct process *pr, int h, uint64_t ust)
{
	long ret = stat_fd_out(pr, -1, h, ust);
	close(h);
	return ret;
}

/* stat(2) of @path out to @ust: the walk's own fstat of the object, not another. */
static long stat_path(struct process *pr, int64_t dirfd, uint64_t upath, bool nofollow, uint64_t ust)
{
	char path[SENTRY_PATH_MAX];
	struct walk w;
	long ret = copy_path(pr, upath, path);
	if (ret < 0)
		return ret;
	struct stat st;
	if ((ret = walk_stat_name(pr, dirfd, path, !nofollow, &st)) <= 0) { /* one host call, not a walk's 3 */
		if (ret < 0)
			return ret;
		if (!ids_need_fd(pr->s, st.st_uid, st.st_gid)) { /* (else the walk gives the object's fd) */
			ids_report(pr->s, -1, &st.st_uid, &st.st_gid);
			owners_get(pr->s, st.st_dev, st.st_ino, &st.st_uid, &st.st_gid);
			return mm_copy_out(pr, ust, &st, sizeof(st));
		}
	}
	if ((ret = walk_path(pr, dirfd, path, nofollow ? 0 : WALK_FOLLOW, &w)) < 0)
		return ret;
	if (w.proc) { /* the sandbox's own /proc */
		long h;
		return procfs_lookup(pr, w.spath, nofollow, &h) ? stat_out(pr, (int)h, ust) : -ENOENT;
	}
	st = w.st;
	ids_report(pr->s, w.fd, &st.st_uid, &st.st_gid);
	owners_get(pr->s, st.st_dev, st.st_ino, &st.st_uid, &st.st_gid);
	walk_done(&w);
	return mm_copy_out(pr, ust, &st, sizeof(st));
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

const struct mountpt *fs_fd_mount(struct process *pr, int h)
{
	char link[64], host[SENTRY_PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", h); /* the sentry's own view of its fd */
	ssize_t n = readlink(link, host, sizeof(host) - 1);
	if (n < 0 || host[0] != '/')
		return NULL;
	host[n] = 0;
	size_t len;
	return policy_host_mount(&pr->s->pol, host, &len);
}

bool fs_fd_writable(struct process *pr, int h)
{
	const struct mountpt *m = fs_fd_mount(pr, h);
	return m && m->rw;
}

/*
 * May @mode (R_OK, W_OK, X_OK) be had on the /proc fd link @spath itself (not followed)? Its bits are
 * the fd's access mode (procfs_fd_link_mode); the sandbox's root passes but for X_OK without any x bit.
 */
static long proc_link_access(struct process *pr, const char *spath, int mode)
{
	int m = procfs_fd_link_mode(pr, spath);
	if (m < 0)
		return 0;
	if (cred_root(&pr->cred))
		return (mode & X_OK) && !(m & 0111) ? -EACCES : 0;
	int need = ((mode & R_OK) ? 0400 : 0) | ((mode & W_OK) ? 0200 : 0) | ((mode & X_OK) ? 0100 : 0);
	return (m & need) == need ? 0 : -EACCES;
}

/* access(2) by the sandbox's credentials: the real ids, or the effective ones with AT_EACCESS. */
static long access_as(struct process *pr, int h, const struct stat *st, int mode, uint64_t flags)
{
	if (!mode) /* F_OK: existence only */
		return 0;
	return (flags & AT_EACCESS) ? perm_check(pr, h, st, mode) : perm_check_real(pr, h, st, mode);
}

static long sys_access(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t mode, uint64_t flags)
{
	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EACCESS | AT_EMPTY_PATH))
		return -EINVAL;
	if (mode & ~(uint64_t)(R_OK | W_OK | X_OK))
		return -EINVAL;
	char path[SENTRY_PATH_MAX];
	long ret = copy_path(pr, upath, path);
	if (ret < 0)
		return ret;
	struct walk w;
	if ((flags & AT_EMPTY_PATH) && !path[0]) { /* the file of fd @dirfd itself */
		long h = dirfd >= 0 ? app_host_fd(pr, (uint64_t)dirfd) : -1;
		if (h < 0)
			return -EBADF;
		struct stat st;
		ret = fstat((int)h, &st) < 0 ? -errno : access_as(pr, (int)h, &st, (int)mode, flags);
		if (ret == 0)
			ret = syscall(SYS_faccessat2, (int)h, "", (int)mode, AT_EMPTY_PATH | (int)(flags & AT_EACCESS)) < 0 ? -errno : 0;
		return ret == 0 && (mode & W_OK) && !fs_fd_writable(pr, (int)h) ? -EROFS : ret;
	}
	if ((ret = walk_path(pr, dirfd, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : WALK_FOLLOW, &w)) < 0)
		return ret;
	long h = w.fd;
	if (w.proc && (flags & AT_SYMLINK_NOFOLLOW) && (ret = proc_link_access(pr, w.spath, (int)mode)) < 0)
		return ret;
	if (w.proc && !procfs_lookup(pr, w.spath, flags & AT_SYMLINK_NOFOLLOW, &h))
		h = -ENOENT;
	if (h < 0)
		return h;
	ret = w.proc ? 0 : access_as(pr, (int)h, &w.st, (int)mode, flags);
	if (ret == 0 && mode) /* F_OK: the walk found it */
		ret = syscall(SYS_faccessat2, (int)h, "", (int)mode, AT_EMPTY_PATH | (int)(flags & AT_EACCESS)) < 0 ? -errno : 0;
	struct stat st;
	/* Writable only in read-write mounts, but for /dev/null and friends and terminals. */
	if (ret == 0 && (mode & W_OK) && (w.proc || !w.rw) &&
	    !(fstat((int)h, &st) == 0 && (harmless_device(&st) || terminal_device(&st) || (w.proc && S_ISLNK(st.st_mode)))))
		ret = -EROFS; /* (a /proc magic link itself, not followed, is as writable as Linux says) */
	if (w.proc)
		close((int)h);
	walk_done(&w);
	return ret;
}

static long sys_readlink(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t ubuf, uint64_t size)
{
	char path[SENTRY_PATH_MAX], out[SENTRY_PATH_MAX];
	long ret = copy_path(pr, upath, path), len;
	if (ret < 0)
		return ret;
	if ((int64_t)size <= 0)
		return -EINVAL;
	struct walk w;
	bool empty = !path[0];
	/* A name realpath() asked about lately (the walk's own condition: no search checks) */
	bool known = !empty && (path[0] == '/' || dirfd == AT_FDCWD) && perm_overrides(pr);
	if (known && notlink_known(pr->s, pr->cwd, path))
		return -EINVAL;
	uint64_t gen = known ? notlink_gen(pr->s) : 0;
	if (empty && dirfd >= 0 && app_host_fd(pr, (uint64_t)dirfd) >= 0) { /* the link an O_PATH fd holds */
		w = (struct walk){ .fd = fcntl(app_host_fd(pr, (uint64_t)dirfd), F_DUPFD_CLOEXEC, 3), .dir = -1 };
		if (w.fd < 0)
			return -EMFILE;
	} else if ((ret = walk_path(pr, dirfd, path, 0, &w)) < 0) {
		return ret;
	}
	if (w.proc && procfs_readlink(pr, w.spath, out, sizeof(out), &len)) { /* the sandbox's, never the sentry's */
		if (len < 0)
			return len;
	} else {
		long h = w.fd;
		if (w.proc && !procfs_lookup(pr, w.spath, true, &h))
			h = -ENOENT;
		if (h < 0)
			return h;
		if (!empty && !w.proc && !S_ISLNK(w.st.st_mode)) { /* the walk's fstat says: not a link */
			if (known)
				notlink_put(pr->s, gen, w.spath);
			walk_done(&w);
			return -EINVAL;
		}
		len = readlinkat((int)h, "", out, sizeof(out));
		int e = errno;
		struct stat st;
		if (len < 0 && e == ENOENT && !empty && fstat((int)h, &st) == 0 && !S_ISLNK(st.st_mode))
			e = EINVAL; /* not a link (an empty name on an O_PATH fd says ENOENT, as Linux does for "") */
		if (w.proc)
			close((int)h);
		walk_done(&w);
		if (len < 0)
			return -e;
	}
	if ((uint64_t)len > size)
		len = (long)size;
	return mm_copy_out(pr, ubuf, out, (size_t)len) < 0 ? -EFAULT : len;
}

/* chdir and fchdir (@upath 0: the directory of fd @fd): the cwd is a canonical sandbox path. */
static long sys_chdir(struct process *pr, uint64_t fd, uint64_t upath)
{
	char path[SENTRY_PATH_MAX];
	struct walk w = { .fd = -1, .dir = -1 };
	long ret;
	if (!upath) {
		int h = app_host_fd(pr, fd);
		if (h < 0)
			return -EBADF;
		if (fstat(h, &w.st) < 0 || !S_ISDIR(w.st.st_mode) || fs_fd_spath(pr, h, w.spath) < 0)
			return -ENOTDIR;
	} else if ((ret = copy_path(pr, upath, path)) < 0 || (ret = walk_path(pr, AT_FDCWD, path, WALK_FOLLOW, &w)) < 0) {
		return ret;
	} else if (w.proc) {
		long h;
		if (!procfs_lookup(pr, w.spath, false, &h))
			h = -ENOENT;
		if (h < 0)
			return h;
		ret = fstat((int)h, &w.st) < 0 ? -errno : 0;
		close((int)h);
		if (ret < 0)
			return ret;
	}
	if (!S_ISDIR(w.st.st_mode)) {
		walk_done(&w);
		return -ENOTDIR;
	}
	/* search permission on the directory itself (the sandbox's own /proc aside) */
	int h = upath ? w.fd : app_host_fd(pr, fd);
	ret = h >= 0 ? perm_check(pr, h, &w.st, MAY_EXEC) : 0;
	walk_done(&w);
	if (ret < 0)
		return ret;
	strcpy(pr->cwd, w.spath);
	return 0;
}

/* Entry points of the syscall table (systable.c) for the path calls that read. */

long sc_stat(struct task *t, const uint64_t a[6])
{
	return stat_path(t->proc, AT_FDCWD, a[0], false, a[1]);
}

long sc_lstat(struct task *t, const uint64_t a[6])
{
	return stat_path(t->proc, AT_FDCWD, a[0], true, a[1]);
}

long sc_newfstatat(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	char path[SENTRY_PATH_MAX];
	int h = -1;
	if ((a[3] & AT_EMPTY_PATH) && mm_strncpy_in(pr, a[1], path, 2) == 0) {
		if (DIRFD(a[0]) == AT_FDCWD) { /* the working directory itself */
			h = fs_lookup(pr, AT_FDCWD, ".", false);
			return h < 0 ? h : stat_out(pr, h, a[2]);
		}
		/* fstat(2) as glibc makes it: the fd itself (the dispatcher holds the process lock, so
		 * no other thread closes it meanwhile). */
		h = a[0] < SENTRY_MAX_FDS ? pr->fds[a[0]] : -1;
		return h < 0 ? -EBADF : stat_fd_out(pr, (int64_t)a[0], h, a[2]);
	}
	return stat_path(pr, DIRFD(a[0]), a[1], a[3] & AT_SYMLINK_NOFOLLOW, a[2]);
}

long sc_statx(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	char path[SENTRY_PATH_MAX];
	struct statx sx;
	int h = -1;
	bool borrowed = false;
	long ret;
	if ((a[2] & AT_EMPTY_PATH) && mm_strncpy_in(pr, a[1], path, 2) == 0) {
		if (DIRFD(a[0]) == AT_FDCWD) { /* the working directory itself */
			h = fs_lookup(pr, AT_FDCWD, ".", false);
		} else { /* the fd itself: the process lock is held, no other thread closes it */
			h = a[0] < SENTRY_MAX_FDS ? pr->fds[a[0]] : -1;
			borrowed = true;
		}
		ret = h < 0 ? (borrowed ? -EBADF : h) : 0;
	} else {
		ret = with_lookup(pr, DIRFD(a[0]), a[1], a[2] & AT_SYMLINK_NOFOLLOW, &h);
	}
	if (ret < 0)
		return ret;
	ret = statx(h, "", AT_EMPTY_PATH, (unsigned)a[3], &sx) < 0 ? -errno : 0;
	if (ret == 0) {
		ids_report(pr->s, h, &sx.stx_uid, &sx.stx_gid);
		owners_get(pr->s, makedev(sx.stx_dev_major, sx.stx_dev_minor), sx.stx_ino, &sx.stx_uid, &sx.stx_gid);
		ret = mm_copy_out(pr, a[4], &sx, sizeof(sx));
	}
	if (!borrowed)
		close(h);
	return ret;
}

long sc_statfs(struct task *t, const uint64_t a[6])
{
	int h = -1;
	long ret = with_lookup(t->proc, AT_FDCWD, a[0], false, &h);
	if (ret < 0)
		return ret;
	struct statfs sf;
	ret = fstatfs(h, &sf) < 0 ? -errno : mm_copy_out(t->proc, a[1], &sf, sizeof(sf));
	close(h);
	return ret;
}

long sc_getcwd(struct task *t, const uint64_t a[6])
{
	struct process *pr = t->proc;
	size_t l = strlen(pr->cwd) + 1;
	return l > a[1] ? -ERANGE : mm_copy_out(pr, a[0], pr->cwd, l) < 0 ? -EFAULT : (long)l;
}

/* open and openat (not openat2) ignore with O_PATH every flag but these, as Linux does. */
static uint64_t legacy_flags(uint64_t flags)
{
	return (flags & O_PATH) ? flags & (uint64_t)(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : flags;
}

SYSCALL_ENTRY(open, sys_openat(t, AT_FDCWD, a[0], legacy_flags(a[1]), a[2], 0))
SYSCALL_ENTRY(creat, sys_openat(t, AT_FDCWD, a[0], O_CREAT | O_WRONLY | O_TRUNC, a[1], 0))
SYSCALL_ENTRY(openat, sys_openat(t, DIRFD(a[0]), a[1], legacy_flags(a[2]), a[3], 0))
SYSCALL_ENTRY(openat2, sys_openat2(t, DIRFD(a[0]), a[1], a[2], a[3]))
SYSCALL_ENTRY(access, sys_access(t->proc, AT_FDCWD, a[0], a[1], 0))
SYSCALL_ENTRY(faccessat, sys_access(t->proc, DIRFD(a[0]), a[1], a[2], 0))
SYSCALL_ENTRY(faccessat2, sys_access(t->proc, DIRFD(a[0]), a[1], a[2], a[3]))
SYSCALL_ENTRY(readlink, sys_readlink(t->proc, AT_FDCWD, a[0], a[1], a[2]))
SYSCALL_ENTRY(readlinkat, sys_readlink(t->proc, DIRFD(a[0]), a[1], a[2], a[3]))
SYSCALL_ENTRY(chdir, sys_chdir(t->proc, 0, a[0]))
SYSCALL_ENTRY(fchdir, sys_chdir(t->proc, a[0], 0))
SYSCALL_ENTRY(inotify_init, fs_inotify_init(t, 0))
SYSCALL_ENTRY(inotify_init1, fs_inotify_init(t, a[0]))
SYSCALL_ENTRY(inotify_add_watch, fs_inotify_add_watch(t, a[0], a[1], a[2]))

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
	if (mask & IN_DONT_FOLLOW) { /* a /proc fd link itself: watching it needs read permission */
		struct walk w;
		if ((ret = walk_path(pr, AT_FDCWD, path, 0, &w)) < 0)
			return ret;
		ret = w.proc ? proc_link_access(pr, w.spath, R_OK) : 0;
		walk_done(&w);
		if (ret < 0)
			return ret;
	}
	int h = fs_lookup(pr, AT_FDCWD, path, mask & IN_DONT_FOLLOW);
	if (h < 0)
		return h;
	snprintf(via, sizeof(via), "/proc/self/fd/%d", h);
	ret = inotify_add_watch(in, via, (uint32_t)(mask & ~(uint64_t)IN_DONT_FOLLOW));
	ret = ret < 0 ? -errno : ret;
	close(h);
	return ret;
}
