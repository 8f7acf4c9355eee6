// SPDX-License-Identifier: Apache-2.0
// The path calls that change the file system: mkdir, mknod, symlink, link, unlink, rmdir, rename,
// chmod, chown, utimes, truncate. Each walks its path (walk.c) and then acts on what the walk opened:
// a directory fd and one entry name the host never follows (mkdirat, unlinkat, renameat2, linkat
// without AT_SYMLINK_FOLLOW), or the object's own O_PATH fd with AT_EMPTY_PATH (fchmodat2,
// utimensat) — never a host path. Changes are allowed only inside read-write mounts; the checks and
// their order follow Linux's (fs/namei.c) so errors match native.
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

static long walk_user(struct process *pr, int64_t dirfd, uint64_t upath, int flags, struct walk *w)
{
	char path[SENTRY_PATH_MAX];
	long n = mm_strncpy_in(pr, upath, path, SENTRY_PATH_MAX);
	if (n < 0)
		return n;
	return walk_path(pr, dirfd, path, flags, w);
}

/* Does the sandbox's /proc have the walked entry? 0 (and its stat, if @st), or -ENOENT. */
static int proc_stat(struct process *pr, const struct walk *w, struct stat *st)
{
	long h;
	struct stat tmp;
	if (!procfs_lookup(pr, w->spath, true, &h) || h < 0)
		return -ENOENT;
	int ret = fstat((int)h, st ? st : &tmp) < 0 ? -ENOENT : 0;
	close((int)h);
	return ret;
}

/* Where a new entry goes (mkdir, mknod, symlink, link's new name): Linux's filename_create(). */
static long new_entry(struct process *pr, int64_t dirfd, uint64_t upath, bool is_dir, struct walk *w)
{
	long ret = walk_user(pr, dirfd, upath, WALK_PARENT, w);
	if (ret < 0)
		return ret;
	if (w->proc)
		ret = proc_stat(pr, w, NULL) == 0 ? -EEXIST : -EACCES;
	else if (w->last != WALK_LAST_NORM || w->mount || w->fd >= 0)
		ret = -EEXIST;
	else if (w->slash && !is_dir)
		ret = -ENOENT; /* "name/" asks for a directory */
	else if (!w->rw)
		ret = -EROFS;
	else
		ret = perm_may_create(pr, w->dir);
	if (ret < 0)
		walk_done(w);
	return ret;
}

/* The entry just made at @w: owned by its maker as the sandbox sees it (perm.c). */
static void made(struct process *pr, const struct walk *w)
{
	int h = openat(w->dir, w->name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (h >= 0) {
		perm_created(pr, w->dir, h);
		close(h);
	}
}

long fs_mknod(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t mode, bool is_dir)
{
	uint64_t type = mode & S_IFMT;
	if (!is_dir) {
		/* Regular files and FIFOs only: a device node would reach host devices, a socket node is
		 * not needed (bind makes those, and named unix sockets are refused). */
		if (type == S_IFCHR || type == S_IFBLK || type == S_IFSOCK)
			return -EPERM;
		if (type != 0 && type != S_IFREG && type != S_IFIFO)
			return -EINVAL;
	}
	struct walk w;
	long ret = new_entry(pr, dirfd, upath, is_dir, &w);
	if (ret < 0)
		return ret;
	mode_t perm = (mode_t)(mode & 07777 & ~(uint64_t)pr->umask);
	if (is_dir)
		ret = mkdirat(w.dir, w.name, perm) < 0 ? -errno : 0;
	else
		ret = mknodat(w.dir, w.name, (mode_t)(type ? type : S_IFREG) | perm, 0) < 0 ? -errno : 0;
	if (ret == 0)
		made(pr, &w);
	walk_done(&w);
	return ret;
}

long fs_symlink(struct process *pr, uint64_t utarget, int64_t dirfd, uint64_t upath)
{
	char target[SENTRY_PATH_MAX];
	long ret = mm_strncpy_in(pr, utarget, target, SENTRY_PATH_MAX);
	if (ret < 0)
		return ret;
	if (!target[0])
		return -ENOENT;
	struct walk w;
	if ((ret = new_entry(pr, dirfd, upath, false, &w)) < 0)
		return ret;
	/* The target is only text: whoever follows it later walks it in the sandbox's namespace. */
	ret = symlinkat(target, w.dir, w.name) < 0 ? -errno : 0;
	if (ret == 0)
		made(pr, &w);
	walk_done(&w);
	return ret;
}

/* An existing entry to remove or rename: the checks Linux makes before it looks the name up.
 * @not_norm: the error for a last component ".", ".." or "/" (by WALK_LAST_*). */
static long old_entry(struct process *pr, int64_t dirfd, uint64_t upath, struct walk *w, const long not_norm[4])
{
	long ret = walk_user(pr, dirfd, upath, WALK_PARENT, w);
	if (ret < 0)
		return ret;
	struct stat st;
	if (w->proc) /* Linux's procfs: ENOTDIR for rmdir of a file, EXDEV for rename, else EPERM */
		ret = proc_stat(pr, w, &st) < 0 ? -ENOENT : not_norm[WALK_LAST_DOT] == -EINVAL && !S_ISDIR(st.st_mode) ? -ENOTDIR
		      : not_norm[WALK_LAST_DOT] == -EBUSY ? -EXDEV : -EPERM;
	else if (w->last != WALK_LAST_NORM)
		ret = not_norm[w->last];
	else if (w->mount)
		ret = -EBUSY;
	else if (!w->rw)
		ret = -EROFS;
	else if (w->fd < 0)
		ret = -ENOENT;
	else
		ret = perm_may_delete(pr, w->dir, w->fd, &w->st);
	if (ret < 0)
		walk_done(w);
	return ret;
}

long fs_unlink(struct process *pr, int64_t dirfd, uint64_t upath, bool rmdir)
{
	static const long rmdir_errs[4] = { 0, -EINVAL, -ENOTEMPTY, -EBUSY }, unlink_errs[4] = { 0, -EISDIR, -EISDIR, -EISDIR };
	struct walk w;
	long ret = old_entry(pr, dirfd, upath, &w, rmdir ? rmdir_errs : unlink_errs);
	if (ret < 0)
		return ret;
	bool is_dir = S_ISDIR(w.st.st_mode);
	if (rmdir && !is_dir)
		ret = -ENOTDIR;
	else if (!rmdir && (is_dir || w.slash))
		ret = is_dir ? -EISDIR : -ENOTDIR;
	else
		ret = unlinkat(w.dir, w.name, rmdir ? AT_REMOVEDIR : 0) < 0 ? -errno : 0;
	if (ret == 0)
		notlink_changed(pr->s); /* a name that went */
	if (ret == 0 && is_dir)
		spcache_moved(pr->s); /* a removed directory has no path any more */
	if (ret == 0 && (is_dir || S_ISLNK(w.st.st_mode)))
		linkcache_changed(pr->s); /* a link that went, or one below the directory that went */
	if (ret == 0 && (is_dir || w.st.st_nlink <= 1)) /* its last link: an owner given it goes too */
		owners_forget(pr->s, w.st.st_dev, w.st.st_ino);
	walk_done(&w);
	return ret;
}

/* Linux's may_delete on both ends (may_create where the new name is free) and, for a directory
 * moving to another parent, write permission on it (its ".." changes). */
static long rename_allowed(struct process *pr, const struct walk *a, const struct walk *b, uint64_t flags)
{
	if (perm_overrides(pr) && perm_owner_or_capable(pr, a->fd, &a->st))
		return 0;
	long ret = b->fd >= 0 ? perm_may_delete(pr, b->dir, b->fd, &b->st) : perm_may_create(pr, b->dir);
	struct stat da, db;
	if (ret < 0 || fstat(a->dir, &da) < 0 || fstat(b->dir, &db) < 0 || (da.st_dev == db.st_dev && da.st_ino == db.st_ino))
		return ret;
	if (S_ISDIR(a->st.st_mode))
		ret = perm_check(pr, a->fd, &a->st, MAY_WRITE);
	if (ret == 0 && (flags & RENAME_EXCHANGE) && S_ISDIR(b->st.st_mode))
		ret = perm_check(pr, b->fd, &b->st, MAY_WRITE);
	return ret;
}

long fs_rename(struct process *pr, int64_t od, uint64_t op, int64_t nd, uint64_t np, uint64_t flags)
{
	if (flags & ~(uint64_t)(RENAME_NOREPLACE | RENAME_EXCHANGE))
		return -EINVAL; /* RENAME_WHITEOUT makes a device node: not in the sandbox */
	if ((flags & RENAME_NOREPLACE) && (flags & RENAME_EXCHANGE))
		return -EINVAL;
	static const long busy[4] = { 0, -EBUSY, -EBUSY, -EBUSY };
	struct walk a, b;
	long ret = old_entry(pr, od, op, &a, busy);
	if (ret < 0)
		return ret;
	if ((ret = walk_user(pr, nd, np, WALK_PARENT, &b)) < 0) {
		walk_done(&a);
		return ret;
	}
	if (b.proc)
		ret = -EXDEV;
	else if (b.last != WALK_LAST_NORM)
		ret = (flags & RENAME_NOREPLACE) ? -EEXIST : -EBUSY;
	else if (b.mount)
		ret = -EBUSY;
	else if (a.mnt != b.mnt)
		ret = -EXDEV; /* two mounts, as Linux refuses (mv copies) */
	else if ((flags & RENAME_NOREPLACE) && b.fd >= 0)
		ret = -EEXIST;
	else if ((flags & RENAME_EXCHANGE) && b.fd < 0)
		ret = -ENOENT;
	else if ((flags & RENAME_EXCHANGE) && b.slash && !S_ISDIR(b.st.st_mode))
		ret = -ENOTDIR;
	else if (!S_ISDIR(a.st.st_mode) && (a.slash || (b.slash && !(flags & RENAME_EXCHANGE))))
		ret = -ENOTDIR; /* unless the source is a directory, trailing slashes are refused */
	else if ((ret = rename_allowed(pr, &a, &b, flags)) < 0)
		;
	else
		ret = syscall(SYS_renameat2, a.dir, a.name, b.dir, b.name, flags) < 0 ? -errno : 0;
	if (ret == 0 && (S_ISDIR(a.st.st_mode) || (b.fd >= 0 && S_ISDIR(b.st.st_mode))))
		spcache_moved(pr->s); /* every path below a moved or replaced directory changed */
	if (ret == 0) {
		linkcache_changed(pr->s); /* a link moved, replaced, or under a directory that moved */
		notlink_changed(pr->s);
	}
	walk_done(&a);
	walk_done(&b);
	return ret;
}

/* "/proc/self/fd/N" or "/dev/fd/N": the host fd behind application fd N (-EBADF), or 0 for another path. */
static int self_fd(struct process *pr, const char *path)
{
	static const char *const prefixes[] = { "/proc/self/fd/", "/dev/fd/" };
	for (int k = 0; k < 2; k++) {
		size_t l = strlen(prefixes[k]);
		char *end;
		if (strncmp(path, prefixes[k], l) != 0 || !path[l])
			continue;
		long n = strtol(path + l, &end, 10);
		int h = *end || n < 0 ? -1 : app_host_fd(pr, (uint64_t)n);
		return h < 0 ? -EBADF : h;
	}
	return 0;
}

/* link of an open file by itself (AT_EMPTY_PATH, or /proc/self/fd/N followed: an O_TMPFILE made
 * visible). The host links the fd's own inode; both in one read-write mount. */
static long link_fd(struct process *pr, int h, int64_t nd, uint64_t np)
{
	struct stat st;
	struct walk b;
	if (fstat(h, &st) < 0)
		return -EBADF;
	if (S_ISDIR(st.st_mode))
		return -EPERM;
	long ret = new_entry(pr, nd, np, false, &b);
	if (ret < 0)
		return ret;
	if (fs_fd_mount(pr, h) != b.mnt) {
		ret = -EXDEV;
	} else if (linkat(h, "", b.dir, b.name, AT_EMPTY_PATH) < 0) {
		/* Without CAP_DAC_READ_SEARCH: the sentry's own magic link to that same fd. */
		char via[64];
		snprintf(via, sizeof(via), "/proc/self/fd/%d", h);
		ret = linkat(AT_FDCWD, via, b.dir, b.name, AT_SYMLINK_FOLLOW) < 0 ? -errno : 0;
	}
	walk_done(&b);
	return ret;
}

/*
 * link: the old name is walked here, following a last symlink only with AT_SYMLINK_FOLLOW, and the
 * host links that entry without following. Both ends in one read-write mount: a hard link from a
 * read-only area into /tmp would make the host's file writable through it.
 */
long fs_link(struct process *pr, int64_t od, uint64_t op, int64_t nd, uint64_t np, uint64_t flags)
{
	if (flags & ~(uint64_t)(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	char path[SENTRY_PATH_MAX];
	long ret = mm_strncpy_in(pr, op, path, sizeof(path));
	if (ret < 0)
		return ret;
	int h = 0; /* > 0: an open file linked by itself (application host fds are never 0) */
	if ((flags & AT_EMPTY_PATH) && !path[0])
		h = od >= 0 && app_host_fd(pr, (uint64_t)od) >= 0 ? app_host_fd(pr, (uint64_t)od) : -EBADF;
	else if (flags & AT_SYMLINK_FOLLOW)
		h = self_fd(pr, path);
	if (h != 0)
		return h < 0 ? h : link_fd(pr, h, nd, np);
	struct walk a, b;
	ret = walk_path(pr, od, path, WALK_PARENT | WALK_SLASH | ((flags & AT_SYMLINK_FOLLOW) ? WALK_FOLLOW : 0), &a);
	if (ret < 0)
		return ret;
	if (a.proc)
		ret = -EXDEV;
	else if (a.fd < 0)
		ret = -ENOENT;
	else if (a.slash && !S_ISDIR(a.st.st_mode))
		ret = -ENOTDIR;
	else if (S_ISDIR(a.st.st_mode) || a.dir < 0)
		ret = -EPERM;
	if (ret < 0) {
		walk_done(&a);
		return ret;
	}
	if ((ret = new_entry(pr, nd, np, false, &b)) < 0) {
		walk_done(&a);
		return ret;
	}
	ret = a.mnt != b.mnt ? -EXDEV : linkat(a.dir, a.name, b.dir, b.name, 0) < 0 ? -errno : 0;
	walk_done(&a);
	walk_done(&b);
	return ret;
}

/* The object of a path call that changes its inode (chmod, chown, utimes): it must exist, outside
 * /proc (else @in_proc is the answer) and in a read-write mount. 1: walked (w is the caller's). */
static long object(struct process *pr, int64_t dirfd, uint64_t upath, bool nofollow, long in_proc, struct walk *w)
{
	long ret = walk_user(pr, dirfd, upath, nofollow ? 0 : WALK_FOLLOW, w);
	if (ret < 0)
		return ret;
	ret = w->proc ? in_proc : !w->rw ? -EROFS : 1;
	if (ret <= 0)
		walk_done(w);
	return ret;
}

/* The AT_EMPTY_PATH form: the application fd @fd itself, if its file is in a read-write mount. */
static long empty_path_fd(struct process *pr, uint64_t fd, uint64_t upath, int flags, int *h)
{
	char path[2];
	if (!(flags & AT_EMPTY_PATH) || mm_strncpy_in(pr, upath, path, sizeof(path)) != 0)
		return 1;
	*h = (int64_t)(int32_t)fd == AT_FDCWD ? -1 : app_host_fd(pr, fd);
	if ((int64_t)(int32_t)fd == AT_FDCWD)
		return -EINVAL; /* the cwd by fd: not offered */
	return *h < 0 ? -EBADF : !fs_fd_writable(pr, *h) ? -EROFS : 0;
}

int fs_chmod_nofollow(int dirfd, const char *name, mode_t mode)
{
	if (syscall(SYS_fchmodat2, dirfd, name, mode, name[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/* Before Linux 6.6 (Debian 12's 6.1): the object opened without following a link, then changed
	 * through its /proc/self/fd link, which names that object and nothing a path could be swapped for. */
	int fd = name[0] ? openat(dirfd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC) : dirfd;
	if (fd < 0)
		return -errno;
	struct stat st;
	int ret = fstat(fd, &st) < 0 ? -errno : S_ISLNK(st.st_mode) ? -EOPNOTSUPP : 0;
	if (ret == 0) {
		char link[32];
		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		ret = fchmodat(AT_FDCWD, link, mode, 0) < 0 ? -errno : 0;
	}
	if (fd != dirfd)
		close(fd);
	return ret;
}

/* chmod by the sandbox's credentials: the owner or CAP_FOWNER (EPERM); S_ISGID goes unless the
 * caller is in the file's group or has CAP_FSETID, silently, as Linux. @st: NULL to stat @h. */
static long chmod_as(struct process *pr, int h, const struct stat *st, uint64_t mode, bool open_file)
{
	struct stat tmp;
	if (!st && fstat(h, &tmp) < 0)
		return -errno;
	st = st ? st : &tmp;
	if (!perm_owner_or_capable(pr, h, st))
		return -EPERM;
	if ((mode & S_ISGID) && !perm_keeps_setgid(pr, h, st))
		mode &= ~(uint64_t)S_ISGID;
	/* fchmod(2) wants an open file (EBADF for O_PATH, as Linux); the path forms take the object */
	if (!open_file)
		return fs_chmod_nofollow(h, "", (mode_t)(mode & 07777));
	return fchmod(h, (mode_t)(mode & 07777)) < 0 ? -errno : 0;
}

long fs_chmod(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t mode, uint64_t flags)
{
	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	int h;
	long ret = empty_path_fd(pr, (uint64_t)dirfd, upath, (int)flags, &h);
	if (ret <= 0) /* the fd's own file, O_PATH too, as Linux */
		return ret < 0 ? ret : chmod_as(pr, h, NULL, mode, false);
	struct walk w;
	/* A /proc magic link itself (AT_SYMLINK_NOFOLLOW) is a link too: EOPNOTSUPP. */
	if ((ret = object(pr, dirfd, upath, flags & AT_SYMLINK_NOFOLLOW, (flags & AT_SYMLINK_NOFOLLOW) ? -EOPNOTSUPP : -EPERM, &w)) <= 0)
		return ret;
	if (S_ISLNK(w.st.st_mode))
		ret = -EOPNOTSUPP; /* a link's own mode (fchmodat2 AT_SYMLINK_NOFOLLOW): Linux refuses too */
	else
		ret = chmod_as(pr, w.fd, &w.st, mode, false);
	walk_done(&w);
	return ret;
}

/* Ownership stays the host's business: only the no-op (-1, -1) succeeds. */
static long chown_as(struct process *pr, struct stat *st, bool rw, uint64_t uid, uint64_t gid);

long fs_chown(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t uid, uint64_t gid, uint64_t flags)
{
	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	int h;
	struct stat st;
	bool rw = false;
	long ret = empty_path_fd(pr, (uint64_t)dirfd, upath, (int)flags, &h);
	if (ret == 1) {
		struct walk w;
		if ((ret = object(pr, dirfd, upath, flags & AT_SYMLINK_NOFOLLOW, -EPERM, &w)) <= 0)
			return ret;
		st = w.st;
		ids_report(pr->s, w.fd, &st.st_uid, &st.st_gid);
		rw = w.rw;
		walk_done(&w);
		ret = 0;
	} else if (ret == 0) {
		if (fstat(h, &st) < 0)
			return -EBADF;
		ids_report(pr->s, h, &st.st_uid, &st.st_gid);
		rw = fs_fd_writable(pr, h);
	}
	return ret < 0 ? ret : chown_as(pr, &st, rw, uid, gid);
}

/* chown of the file @st describes (its ids as the program sees them; @rw: on a writable mount). */
static long chown_as(struct process *pr, struct stat *st_, bool rw, uint64_t uid, uint64_t gid)
{
	struct stat st = *st_;
	/* The owner is the host's, or the one the sandbox gave it (fs/owners.c); the credentials decide. */
	owners_get(pr->s, st.st_dev, st.st_ino, &st.st_uid, &st.st_gid);
	uint32_t u = (uint32_t)uid == (uint32_t)-1 ? st.st_uid : (uint32_t)uid;
	uint32_t g = (uint32_t)gid == (uint32_t)-1 ? st.st_gid : (uint32_t)gid;
	if (u == st.st_uid && g == st.st_gid)
		return 0;
	const struct creds *c = &pr->cred;
	bool cap = c->cap_eff & 1; /* CAP_CHOWN */
	bool member = g == c->gid[3];
	for (int i = 0; i < c->ngroups && !member; i++)
		member = c->groups[i] == g;
	if (!rw)
		return -EROFS;
	if ((u != st.st_uid && !cap) || (g != st.st_gid && !cap && (c->uid[3] != st.st_uid || !member)))
		return -EPERM;
	return owners_set(pr->s, st.st_dev, st.st_ino, u, g);
}

/* Linux's may_setattr for times: given times need the owner or CAP_FOWNER (EPERM); "now" also
 * write permission (EACCES); both omitted ask nothing. @st: NULL to stat @h. */
static long times_allowed(struct process *pr, int h, const struct stat *st, const struct timespec *ts)
{
	bool given = ts && ((ts[0].tv_nsec != UTIME_NOW && ts[0].tv_nsec != UTIME_OMIT) ||
			    (ts[1].tv_nsec != UTIME_NOW && ts[1].tv_nsec != UTIME_OMIT));
	if (ts && ts[0].tv_nsec == UTIME_OMIT && ts[1].tv_nsec == UTIME_OMIT)
		return 0;
	struct stat tmp;
	if (!st && fstat(h, &tmp) < 0)
		return -errno;
	st = st ? st : &tmp;
	if (perm_owner_or_capable(pr, h, st))
		return 0;
	return given ? -EPERM : perm_check(pr, h, st, MAY_WRITE);
}

long fs_utimes(struct process *pr, int64_t dirfd, uint64_t upath, const struct timespec *ts, uint64_t flags)
{
	if (flags & ~(uint64_t)(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	int h;
	long ret = upath ? empty_path_fd(pr, (uint64_t)dirfd, upath, (int)flags, &h) : 0;
	if (!upath) { /* utimensat(fd, NULL, ...): futimens */
		h = dirfd >= 0 ? app_host_fd(pr, (uint64_t)dirfd) : -1;
		ret = h < 0 ? -EBADF : !fs_fd_writable(pr, h) ? -EROFS : 0;
	}
	if (ret == 0)
		ret = times_allowed(pr, h, NULL, ts);
	if (ret <= 0) /* by fd: futimens needs a real open file, AT_EMPTY_PATH takes O_PATH too */
		return ret < 0 ? ret : (upath ? utimensat(h, "", ts, AT_EMPTY_PATH) : futimens(h, ts)) < 0 ? -errno : 0;
	struct walk w;
	/* A /proc magic link itself (AT_SYMLINK_NOFOLLOW): Linux keeps its times in memory only. */
	if ((ret = object(pr, dirfd, upath, flags & AT_SYMLINK_NOFOLLOW, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : -EACCES, &w)) <= 0)
		return ret;
	/* The O_PATH fd is the object (a link itself when not following): nothing left to resolve. */
	ret = times_allowed(pr, w.fd, &w.st, ts);
	if (ret == 0)
		ret = utimensat(w.fd, "", ts, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	walk_done(&w);
	return ret;
}

long fs_truncate(struct process *pr, uint64_t upath, int64_t len)
{
	if (len < 0)
		return -EINVAL;
	struct walk w;
	long ret = walk_user(pr, AT_FDCWD, upath, WALK_PARENT | WALK_FOLLOW, &w);
	if (ret < 0)
		return ret;
	if (w.proc)
		ret = -EACCES;
	else if (w.fd < 0)
		ret = -ENOENT;
	else if (w.slash && !S_ISDIR(w.st.st_mode))
		ret = -ENOTDIR;
	else if (S_ISDIR(w.st.st_mode))
		ret = -EISDIR;
	else if (!S_ISREG(w.st.st_mode))
		ret = -EINVAL;
	else if (!w.rw)
		ret = -EROFS;
	else if ((ret = perm_check(pr, w.fd, &w.st, MAY_WRITE)) == 0)
		ret = (int)fsize_size(pr, (uint64_t)len, (uint64_t)w.st.st_size);
	if (ret == 0) {
		int h = walk_reopen(&w, O_WRONLY | O_NONBLOCK, 0);
		ret = h < 0 ? h : ftruncate(h, len) < 0 ? -errno : 0;
		if (h >= 0)
			close(h);
	}
	walk_done(&w);
	return ret;
}

/* Entry points of the syscall table (systable.c). */

long sc_fchmod(struct task *t, const uint64_t a[6])
{
	int h = app_host_fd(t->proc, a[0]);
	return h < 0 ? -EBADF : !fs_fd_writable(t->proc, h) ? -EROFS : chmod_as(t->proc, h, NULL, a[1], true);
}

long sc_fchown(struct task *t, const uint64_t a[6])
{
	int h = app_host_fd(t->proc, a[0]);
	struct stat st;
	if (h < 0 || (fcntl(h, F_GETFL) & O_PATH) || fstat(h, &st) < 0)
		return -EBADF; /* fchown(2) wants an open file, as Linux (fchownat's AT_EMPTY_PATH takes O_PATH) */
	ids_report(t->proc->s, h, &st.st_uid, &st.st_gid);
	return chown_as(t->proc, &st, fs_fd_writable(t->proc, h), a[1], a[2]);
}

long sc_utimensat(struct task *t, const uint64_t a[6])
{
	struct timespec ts[2];
	if (a[2] && mm_copy_in(t->proc, a[2], ts, sizeof(ts)) < 0)
		return -EFAULT;
	return fs_utimes(t->proc, DIRFD(a[0]), a[1], a[2] ? ts : NULL, a[3]);
}

/* utimes and futimesat: times as struct timeval at @utv (0: now) for @upath below @dirfd. */
static long utimes_tv(struct process *pr, int64_t dirfd, uint64_t upath, uint64_t utv)
{
	struct timeval tv[2] = { { 0, 0 }, { 0, 0 } };
	struct timespec ts[2];
	if (utv && mm_copy_in(pr, utv, tv, sizeof(tv)) < 0)
		return -EFAULT;
	for (int i = 0; i < 2; i++)
		ts[i] = (struct timespec){ tv[i].tv_sec, tv[i].tv_usec * 1000 };
	if (utv && (tv[0].tv_usec < 0 || tv[0].tv_usec >= 1000000 || tv[1].tv_usec < 0 || tv[1].tv_usec >= 1000000))
		return -EINVAL;
	if (!upath)
		return -EFAULT; /* futimesat(fd, NULL): no path */
	return fs_utimes(pr, dirfd, upath, utv ? ts : NULL, 0);
}

SYSCALL_ENTRY(utimes, utimes_tv(t->proc, AT_FDCWD, a[0], a[1]))
SYSCALL_ENTRY(futimesat, utimes_tv(t->proc, DIRFD(a[0]), a[1], a[2]))

long sc_utime(struct task *t, const uint64_t a[6])
{
	int64_t ub[2] = { 0, 0 }; /* struct utimbuf: actime, modtime */
	if (a[1] && mm_copy_in(t->proc, a[1], ub, sizeof(ub)) < 0)
		return -EFAULT;
	struct timespec ts[2] = { { ub[0], 0 }, { ub[1], 0 } };
	return a[0] ? fs_utimes(t->proc, AT_FDCWD, a[0], a[1] ? ts : NULL, 0) : -EFAULT;
}

SYSCALL_ENTRY(mkdir, fs_mknod(t->proc, AT_FDCWD, a[0], a[1], true))
SYSCALL_ENTRY(mkdirat, fs_mknod(t->proc, DIRFD(a[0]), a[1], a[2], true))
SYSCALL_ENTRY(mknod, fs_mknod(t->proc, AT_FDCWD, a[0], a[1], false))
SYSCALL_ENTRY(mknodat, fs_mknod(t->proc, DIRFD(a[0]), a[1], a[2], false))
SYSCALL_ENTRY(unlink, fs_unlink(t->proc, AT_FDCWD, a[0], false))
SYSCALL_ENTRY(rmdir, fs_unlink(t->proc, AT_FDCWD, a[0], true))
SYSCALL_ENTRY(unlinkat,
	      a[2] & ~(uint64_t)AT_REMOVEDIR ? -EINVAL : fs_unlink(t->proc, DIRFD(a[0]), a[1], a[2] & AT_REMOVEDIR))
SYSCALL_ENTRY(rename, fs_rename(t->proc, AT_FDCWD, a[0], AT_FDCWD, a[1], 0))
SYSCALL_ENTRY(renameat, fs_rename(t->proc, DIRFD(a[0]), a[1], DIRFD(a[2]), a[3], 0))
SYSCALL_ENTRY(renameat2, fs_rename(t->proc, DIRFD(a[0]), a[1], DIRFD(a[2]), a[3], a[4]))
SYSCALL_ENTRY(link, fs_link(t->proc, AT_FDCWD, a[0], AT_FDCWD, a[1], 0))
SYSCALL_ENTRY(linkat, fs_link(t->proc, DIRFD(a[0]), a[1], DIRFD(a[2]), a[3], a[4]))
SYSCALL_ENTRY(symlink, fs_symlink(t->proc, a[0], AT_FDCWD, a[1]))
SYSCALL_ENTRY(symlinkat, fs_symlink(t->proc, a[0], DIRFD(a[1]), a[2]))
SYSCALL_ENTRY(chmod, fs_chmod(t->proc, AT_FDCWD, a[0], a[1], 0))
SYSCALL_ENTRY(fchmodat, fs_chmod(t->proc, DIRFD(a[0]), a[1], a[2], 0))
SYSCALL_ENTRY(fchmodat2, fs_chmod(t->proc, DIRFD(a[0]), a[1], a[2], a[3]))
SYSCALL_ENTRY(chown, fs_chown(t->proc, AT_FDCWD, a[0], a[1], a[2], 0))
SYSCALL_ENTRY(lchown, fs_chown(t->proc, AT_FDCWD, a[0], a[1], a[2], AT_SYMLINK_NOFOLLOW))
SYSCALL_ENTRY(fchownat, fs_chown(t->proc, DIRFD(a[0]), a[1], a[2], a[3], a[4]))
SYSCALL_ENTRY(truncate, fs_truncate(t->proc, a[0], (int64_t)a[1]))
