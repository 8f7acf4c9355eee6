// SPDX-License-Identifier: Apache-2.0
// Path resolution, done by the sentry itself with Linux's semantics. The invariant: the host kernel
// never resolves a path component the sentry did not. Every component is opened O_PATH|O_NOFOLLOW as
// one name below the directory fd the walk stands on (openat2 RESOLVE_BENEATH: no "..", no symlink, no
// magic link); a symlink is read from the fd that names it and followed in the sandbox's namespace
// (an absolute target restarts at the sandbox's "/"), ".." goes to the parent of the canonical sandbox
// path (never above "/"), and stepping onto a mount point switches to the mount's directory fd. The
// result is an O_PATH fd of the object and, for calls on a directory entry, the fd of its directory
// and its name: callers act on those (AT_EMPTY_PATH, or the name with AT_SYMLINK_NOFOLLOW), never on a
// host path string. See docs/paths.md.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../sentry.h"

#define MAX_SYMLINKS 40 /* Linux's MAXSYMLINKS */
#define BENEATH (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS)

/* Where the walk stands: a directory, by host fd and canonical sandbox path. */
struct cursor {
	struct process *pr;
	const struct policy *pol;
	int fd;
	dev_t dev;
	const struct mountpt *m; /* the mount it is on */
	char sp[SENTRY_PATH_MAX];
	int links;               /* symlinks followed so far */
	bool search;             /* check search permission on each directory (perm.c; not for root) */
	int flags;               /* WALK_* */
	char root[SENTRY_PATH_MAX]; /* "/" of this walk: the sandbox's, or the start with WALK_IN_ROOT/BENEATH */
	uint64_t lgen;           /* linkcache.c's generation when the walk began */
	bool remembered;         /* the answer came from devcache.c */
};

static int openat2_fd(int dir, const char *name, uint64_t flags, uint64_t resolve)
{
	struct open_how how = { .flags = flags | O_CLOEXEC, .resolve = resolve };
	int h = (int)syscall(SYS_openat2, dir, name, &how, sizeof(how));
	return h < 0 ? -errno : h;
}

/* The mount whose sandbox path is exactly @sp, or NULL. */
static const struct mountpt *mount_at(const struct policy *pol, const char *sp)
{
	for (int i = 0; i < pol->n; i++)
		if (strcmp(pol->m[i].spath, sp) == 0)
			return &pol->m[i];
	return NULL;
}

/* Longest mount point holding sandbox path @sp; @rest points into sp after it (no leading '/'). */
static const struct mountpt *mount_of(const struct policy *pol, const char *sp, const char **rest)
{
	const struct mountpt *best = NULL;
	size_t best_len = 0;
	for (int i = 0; i < pol->n; i++) {
		const struct mountpt *m = &pol->m[i];
		size_t l = strcmp(m->spath, "/") == 0 ? 0 : strlen(m->spath);
		if (strncmp(sp, m->spath, l) == 0 && (sp[l] == '/' || sp[l] == 0) && (!best || l >= best_len)) {
			best = m;
			best_len = l;
		}
	}
	*rest = sp + best_len;
	while (**rest == '/')
		(*rest)++;
	return best;
}

static bool is_proc(const struct policy *pol, const char *sp)
{
	return (strcmp(sp, "/proc") == 0 || strncmp(sp, "/proc/", 6) == 0) && !mount_at(pol, "/proc");
}

/*
 * /sys shows no more than gVisor's: the CPU topology programs size themselves by
 * (/sys/devices/system/cpu: online, possible, present, cpuN), and the directories leading there.
 * The rest of the host's sysfs (devices, drivers, firmware, cgroups, kernel settings) is ENOENT,
 * unless --ro/--rw mounts something there explicitly.
 */
static bool sys_hidden(const struct policy *pol, const char *sp)
{
	static const char cpu[] = "/sys/devices/system/cpu";
	if (strncmp(sp, "/sys/", 5) != 0)
		return false;
	const char *rest;
	const struct mountpt *m = mount_of(pol, sp, &rest);
	if (m && strcmp(m->spath, "/sys") >= 0 && strncmp(m->spath, "/sys", 4) == 0)
		return false; /* the user's own mount at or below /sys */
	size_t l = strlen(sp);
	if (l <= sizeof(cpu) - 1) /* an ancestor of the CPU directory (or it) */
		return strncmp(cpu, sp, l) != 0 || (cpu[l] != '/' && cpu[l] != 0);
	return strncmp(sp, cpu, sizeof(cpu) - 1) != 0 || sp[sizeof(cpu) - 1] != '/';
}

/* Stand on canonical sandbox directory @sp (no symlinks, no dots: it was walked before). */
static int cursor_set(struct cursor *c, const char *sp)
{
	const char *rest;
	const struct mountpt *m = mount_of(c->pol, sp, &rest);
	if (!m)
		return -ENOENT;
	if (m->on_procfs)
		return -EACCES;
	int fd = *rest ? openat2_fd(m->fd, rest, O_PATH | O_DIRECTORY, BENEATH) : fcntl(m->fd, F_DUPFD_CLOEXEC, 3);
	if (fd < 0)
		return fd == -1 ? -errno : fd;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		close(fd);
		return -EIO;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = fd;
	c->dev = st.st_dev;
	c->m = m;
	if (c->sp != sp)
		str_set(c->sp, sizeof(c->sp), sp);
	return 0;
}

static void join(char *out, const char *dir, const char *name)
{
	snprintf(out, SENTRY_PATH_MAX, "%s%s%s", dir, strcmp(dir, "/") == 0 ? "" : "/", name);
}

/* Back to the walk's "/" (an absolute path or link); -EXDEV under WALK_BENEATH. */
static int cursor_root(struct cursor *c)
{
	return (c->flags & WALK_BENEATH) ? -EXDEV : cursor_set(c, c->root);
}

static int cursor_up(struct cursor *c)
{
	if (strcmp(c->sp, c->root) == 0)
		return (c->flags & WALK_BENEATH) ? -EXDEV : 0; /* ".." of "/" is "/" */
	char up[SENTRY_PATH_MAX];
	str_set(up, sizeof(up), c->sp);
	char *slash = strrchr(up, '/');
	if (slash == up)
		up[1] = 0; /* "/x" -> "/", and "/" stays */
	else if (slash)
		*slash = 0;
	return strcmp(up, c->sp) == 0 ? 0 : cursor_set(c, up);
}

/*
 * Open name @name of the cursor's directory, O_PATH and never following, or the mount mounted there.
 * A host mount crossed inside a policy mount must not be procfs (its magic links are the sentry's).
 */
static int step_open(struct cursor *c, const char *name, const char *child_sp, struct stat *st, bool *mount)
{
	const struct mountpt *mnt = mount_at(c->pol, child_sp);
	int fd;
	*mount = mnt != NULL;
	if (mnt) {
		if (mnt->on_procfs)
			return -EACCES;
		fd = fcntl(mnt->fd, F_DUPFD_CLOEXEC, 3);
		if (fd < 0)
			return -errno;
	} else if (strlen(name) > 255) {
		return -ENAMETOOLONG;
	} else if ((fd = openat2_fd(c->fd, name, O_PATH | O_NOFOLLOW, BENEATH)) < 0) {
		return fd;
	}
	if (fstat(fd, st) < 0) {
		close(fd);
		return -EIO;
	}
	struct statfs sf;
	int ret = 0;
	if ((mnt || st->st_dev != c->dev) && (c->flags & WALK_NO_XDEV))
		ret = -EXDEV;
	else if (!mnt && st->st_dev != c->dev && (fstatfs(fd, &sf) < 0 || sf.f_type == PROC_SUPER_MAGIC))
		ret = -EACCES;
	if (ret < 0)
		close(fd);
	return ret < 0 ? ret : fd;
}

/* Replace what is left to walk (@rest) by symlink @fd's target followed by it; @name is the link's
 * name in the cursor's directory (remembered in linkcache.c for walks from the sandbox's "/"). */
static int substitute(struct cursor *c, int fd, const char *name, char *rest, size_t cap, bool slash)
{
	char target[SENTRY_PATH_MAX];
	if (++c->links > MAX_SYMLINKS || (c->flags & WALK_NO_SYMLINKS))
		return -ELOOP;
	ssize_t n = readlinkat(fd, "", target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	if (n == 0)
		return -ENOENT;
	target[n] = 0;
	char link[SENTRY_PATH_MAX];
	size_t dl = strcmp(c->sp, "/") == 0 ? 0 : strlen(c->sp), nl = strlen(name);
	if (strcmp(c->root, "/") == 0 && !is_proc(c->pol, c->sp) && dl + 1 + nl < sizeof(link)) {
		memcpy(link, c->sp, dl);
		link[dl] = '/';
		memcpy(link + dl + 1, name, nl + 1);
		linkcache_put(c->pr->s, c->lgen, link, target);
	}
	char joined[2 * SENTRY_PATH_MAX];
	int l = snprintf(joined, sizeof(joined), "%s%s%s", target, *rest || slash ? "/" : "", rest);
	if (l < 0 || (size_t)l >= cap)
		return -ENAMETOOLONG;
	memcpy(rest, joined, (size_t)l + 1);
	return target[0] == '/' ? cursor_root(c) : 0;
}

/* The next component of *p (advanced past it and its slashes) into @name; false at the end. */
static bool next_comp(const char **p, char *name, size_t cap, bool *too_long)
{
	while (**p == '/')
		(*p)++;
	if (!**p)
		return false;
	size_t l = strcspn(*p, "/");
	*too_long = l >= cap;
	snprintf(name, cap, "%.*s", (int)(l < cap ? l : cap - 1), *p);
	*p += l;
	return true;
}

/*
 * The rest of the path lies in the sandbox's /proc (@base, then @rest): it is answered by procfs.c,
 * by name. A magic link there (fd/N, cwd, exe) that names a sandbox path is followed like a symlink.
 * Returns 1 with w->spath set, 0 to go on walking with @rest replaced, or -errno.
 */
static int enter_proc(struct cursor *c, const char *base, char *rest, size_t cap, int flags, struct walk *w)
{
	char joined[2 * SENTRY_PATH_MAX], p[SENTRY_PATH_MAX];
	if (c->flags & WALK_NO_XDEV)
		return -EXDEV; /* another file system */
	snprintf(joined, sizeof(joined), "%s/%s", base, rest);
	if (policy_normalize("/", joined, p) < 0)
		return -ENAMETOOLONG;
	bool slash = rest[0] && rest[strlen(rest) - 1] == '/';
	if (!is_proc(c->pol, p)) { /* ".." led out of /proc again */
		snprintf(rest, cap, "%s%s", p, slash ? "/" : "");
		return cursor_set(c, "/");
	}
	/* Each prefix /proc/X/Y[/...]: is it a link? The whole path only if the call follows. */
	size_t plen = strlen(p);
	for (size_t i = 6; i <= plen; i++) {
		if (i < plen && p[i] != '/')
			continue;
		bool last = i == plen;
		char target[SENTRY_PATH_MAX], q[SENTRY_PATH_MAX];
		snprintf(q, sizeof(q), "%.*s", (int)i, p);
		long n = -1;
		if ((!last || (flags & WALK_FOLLOW) || slash) && strchr(q + 6, '/') &&
		    procfs_readlink(c->pr, q, target, sizeof(target), &n) && n > 0 && target[0] == '/') {
			target[n] = 0;
			if (c->flags & WALK_BENEATH)
				return -EXDEV;
			if (++c->links > MAX_SYMLINKS || (c->flags & (WALK_NO_SYMLINKS | WALK_NO_MAGICLINKS)))
				return -ELOOP;
			int l = snprintf(joined, sizeof(joined), "%s%s%s", target, p + i, slash ? "/" : "");
			if (l < 0 || (size_t)l >= cap)
				return -ENAMETOOLONG;
			memcpy(rest, joined, (size_t)l + 1);
			if (last) /* a magic link jumps to its object: a symlink there is not followed again */
				c->flags &= ~WALK_FOLLOW;
			return cursor_set(c, "/");
		}
	}
	w->proc = true;
	str_set(w->spath, sizeof(w->spath), p);
	return 1;
}

/* The object is the cursor's directory itself ("/", ".", ".."): no entry to name. Returns 1. */
static int take_dir(struct cursor *c, int last, const char *name, struct walk *w)
{
	if (fstat(c->fd, &w->st) < 0)
		return -EIO;
	w->last = last;
	w->mount = mount_at(c->pol, c->sp) != NULL;
	w->fd = c->fd;
	c->fd = -1;
	w->mnt = c->m;
	w->rw = c->m->rw;
	str_set(w->spath, sizeof(w->spath), c->sp);
	str_set(w->name, sizeof(w->name), name);
	return 1;
}

/* The walk reached its last component @name in the cursor's directory. 1: done, 0: a symlink was
 * substituted into @rest (go on), -errno. */
static int finish(struct cursor *c, const char *name, char *rest, size_t cap, bool slash, int flags,
		  struct walk *w)
{
	int ret;
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		if (name[1] && (ret = cursor_up(c)) < 0)
			return ret;
		return take_dir(c, name[1] ? WALK_LAST_DOTDOT : WALK_LAST_DOT, name, w);
	}
	char child[SENTRY_PATH_MAX];
	join(child, c->sp, name);
	if (sys_hidden(c->pol, child))
		return -ENOENT;
	if (is_proc(c->pol, child)) {
		rest[0] = 0;
		return enter_proc(c, child, rest, cap, flags, w);
	}
	bool mount;
	struct stat st;
	int fd = step_open(c, name, child, &st, &mount);
	if (fd < 0 && fd != -ENOENT)
		return fd;
	if (fd >= 0 && S_ISLNK(st.st_mode) && ((flags & WALK_FOLLOW) || (slash && (flags & (WALK_PARENT | WALK_SLASH)) != WALK_PARENT))) {
		rest[0] = 0;
		ret = substitute(c, fd, name, rest, cap, slash);
		close(fd);
		return ret;
	}
	w->last = WALK_LAST_NORM;
	w->mount = mount;
	w->fd = fd;
	if (fd >= 0)
		w->st = st;
	str_set(w->name, sizeof(w->name), name);
	str_set(w->spath, sizeof(w->spath), child);
	w->mnt = mount ? mount_at(c->pol, child) : c->m;
	w->rw = w->mnt->rw;
	if (!mount) { /* the directory fd goes to the caller */
		w->dir = c->fd;
		c->fd = -1;
	}
	return 1;
}

/*
 * A directory the sentry may not search (@child: host root's /root, 0700, as the host's nobody), or one
 * that does not exist (a --ro bind of /tmp/x/y: the private /tmp has no x), on the way to a policy
 * mount below it: the sandbox's view holds that mount, so when the rest of the path names it by plain
 * components, the walk continues on the mount itself (the directories between are not listed).
 * 1 if it did (@rest is what is left below the mount), 0 if not.
 */
static int jump_to_mount(struct cursor *c, const char *child, char *rest, size_t cap)
{
	char full[2 * SENTRY_PATH_MAX + 8];
	if (snprintf(full, sizeof(full), "%s/%s", child, rest) >= (int)sizeof(full))
		return 0;
	const char *below;
	const struct mountpt *m = mount_of(c->pol, full, &below);
	size_t have = strlen(c->sp);
	if (!m || strlen(m->spath) <= have || strncmp(m->spath, child, strlen(child)) != 0)
		return 0;
	for (const char *q = m->spath + strlen(child); *q; q++) /* only names between here and the mount */
		if (q[0] == '/' && (q[1] == '/' || (q[1] == '.' && (q[2] == '/' || !q[2] || (q[2] == '.' && (q[3] == '/' || !q[3]))))))
			return 0;
	if (cursor_set(c, m->spath) < 0)
		return 0;
	size_t n = strlen(below);
	if (n + 1 > cap)
		return 0;
	memmove(rest, below, n + 1);
	return 1;
}

/* The component loop over @rest (which symlinks rewrite), from the cursor. */
static int walk_loop(struct cursor *c, char *rest, size_t cap, struct walk *w)
{
	char name[256];
	for (;;) {
		const char *p = rest;
		bool too_long;
		if (!next_comp(&p, name, sizeof(name), &too_long)) { /* "/" itself, or only slashes left */
			int ret = take_dir(c, strcmp(c->sp, "/") == 0 ? WALK_LAST_ROOT : WALK_LAST_DOT, "/", w);
			return ret < 0 ? ret : 0;
		}
		if (too_long)
			return -ENAMETOOLONG;
		/* Linux's may_lookup: every component, the last, "." and ".." too, needs search on its
		 * directory */
		int denied = c->search ? (int)perm_check_fd(c->pr, c->fd, MAY_EXEC) : 0;
		if (denied < 0)
			return denied;
		const char *after = p;
		while (*after == '/')
			after++;
		if (!*after) { /* the last component */
			w->slash = *p == '/';
			int ret = finish(c, name, rest, cap, w->slash, c->flags, w);
			if (ret != 0)
				return ret < 0 ? ret : 0;
			continue;
		}
		memmove(rest, after, strlen(after) + 1); /* what is left after this component */
		int ret;
		if (strcmp(name, ".") == 0)
			continue;
		if (strcmp(name, "..") == 0) {
			if ((ret = cursor_up(c)) < 0)
				return ret;
			continue;
		}
		char child[SENTRY_PATH_MAX];
		join(child, c->sp, name);
		if (sys_hidden(c->pol, child))
			return -ENOENT;
		if (is_proc(c->pol, child)) {
			ret = enter_proc(c, child, rest, cap, c->flags, w);
			if (ret != 0)
				return ret < 0 ? ret : 0;
			continue;
		}
		struct stat st;
		bool mount;
		int fd = step_open(c, name, child, &st, &mount);
		if ((fd == -EACCES || fd == -ENOENT) && jump_to_mount(c, child, rest, cap))
			continue;
		if (fd < 0)
			return fd;
		if (S_ISLNK(st.st_mode)) {
			ret = substitute(c, fd, name, rest, cap, false);
			close(fd);
			if (ret < 0)
				return ret;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			close(fd);
			return -ENOTDIR;
		}
		close(c->fd);
		c->fd = fd;
		c->dev = st.st_dev;
		if (mount)
			c->m = mount_at(c->pol, child);
		str_set(c->sp, sizeof(c->sp), child);
	}
}

static int fast_result(struct walk *w, int fd, int dir, const struct mountpt *m, const char *name, const char *clean)
{
	w->fd = fd;
	w->dir = dir;
	w->last = WALK_LAST_NORM;
	w->mnt = m;
	w->rw = m->rw;
	str_set(w->name, sizeof(w->name), name);
	str_set(w->spath, sizeof(w->spath), clean);
	return 1;
}

/*
 * The common case in one host call: a path without ".." whose every component is a plain directory
 * (the kernel checks that: RESOLVE_NO_SYMLINKS, and RESOLVE_NO_XDEV keeps it on the mount's file
 * system, away from procfs). 1: done; 0: take the walk above (a symlink or host mount on the way).
 */
static int fast_path(struct cursor *c, const char *path, int flags, struct walk *w)
{
	char clean[SENTRY_PATH_MAX], name[256];
	size_t n = 0;
	const char *p = path;
	bool too_long;
	if (path[0] != '/') {
		n = strcmp(c->sp, "/") == 0 ? 0 : strlen(c->sp);
		memcpy(clean, c->sp, n);
	}
	bool last_dot = false;
	while (next_comp(&p, name, sizeof(name), &too_long)) {
		if (too_long || strcmp(name, "..") == 0)
			return 0;
		if ((last_dot = strcmp(name, ".") == 0))
			continue;
		size_t l = strlen(name);
		if (n + 1 + l >= sizeof(clean))
			return 0;
		clean[n++] = '/';
		memcpy(clean + n, name, l);
		n += l;
	}
	if (n == 0 || last_dot || path[strlen(path) - 1] == '/')
		return 0; /* "/", a last "." or a trailing slash take the walk */
	clean[n] = 0;
	if (sys_hidden(c->pol, clean))
		return -ENOENT;
	if (is_proc(c->pol, clean))
		return 0;
	if ((c->remembered = devcache_get(c->pr->s, clean, w)))
		return 1;
	const char *rest;
	const struct mountpt *m = mount_of(c->pol, clean, &rest);
	if (!m || !*rest || m->on_procfs)
		return 0; /* a mount point itself: the walk knows its parent */
	int reads = WALK_OPENS | WALK_READS;
	if ((flags & (WALK_PARENT | reads)) == reads && !m->rw && m->nodev) {
		/* A read of something the sandbox cannot change, where no device opens: the open by name
		 * (walk_reopen, non-blocking: open_untyped() in fs.c) is the first host call, and says
		 * what it opened; a missing name costs that call alone. */
		const char *slash = strrchr(rest, '/');
		fast_result(w, -1, -1, m, slash ? slash + 1 : rest, clean);
		w->unopened = w->untyped = true;
		return 1;
	}
	if ((flags & (WALK_PARENT | WALK_OPENS)) == WALK_OPENS && !m->rw &&
	    fstatat(m->fd, rest, &w->st, AT_SYMLINK_NOFOLLOW) == 0 && (S_ISREG(w->st.st_mode) || S_ISDIR(w->st.st_mode))) {
		/* An open of a file or directory the sandbox cannot change: the stat by name says what it
		 * is and the open by the same name (walk_reopen, nothing followed, no mount crossed) checks
		 * the way, 2 host calls instead of 4. The stat may have followed a link or crossed a host
		 * mount on the way: then that open refuses, and on any failure (also one the stat alone
		 * decided) the caller walks again without WALK_OPENS. */
		const char *slash = strrchr(rest, '/');
		fast_result(w, -1, -1, m, slash ? slash + 1 : rest, clean);
		w->unopened = true;
		return 1;
	}
	if (!(flags & WALK_PARENT)) { /* a lookup: the whole rest in one call, no directory fd to keep */
		int fd = openat2_fd(m->fd, rest, O_PATH | ((flags & WALK_FOLLOW) ? 0 : O_NOFOLLOW), BENEATH | RESOLVE_NO_XDEV);
		if (fd == -ELOOP || fd == -EXDEV || fd == -EAGAIN)
			return 0;
		if (fd >= 0 && fstat(fd, &w->st) < 0) {
			close(fd);
			fd = -EIO;
		}
		if (fd < 0)
			return fd;
		const char *slash = strrchr(rest, '/');
		return fast_result(w, fd, -1, m, slash ? slash + 1 : rest, clean);
	}
	const char *last = strrchr(rest, '/');
	int dir;
	if (last) {
		char dpath[SENTRY_PATH_MAX];
		snprintf(dpath, sizeof(dpath), "%.*s", (int)(last - rest), rest);
		dir = openat2_fd(m->fd, dpath, O_PATH | O_DIRECTORY, BENEATH | RESOLVE_NO_XDEV);
		last++;
	} else {
		dir = fcntl(m->fd, F_DUPFD_CLOEXEC, 3);
		last = rest;
	}
	if (dir == -ELOOP || dir == -EXDEV || dir == -EAGAIN)
		return 0;
	if (dir < 0)
		return dir == -1 ? -errno : dir;
	int fd = openat2_fd(dir, last, O_PATH | O_NOFOLLOW, BENEATH | RESOLVE_NO_XDEV);
	if (fd >= 0 && fstat(fd, &w->st) < 0) {
		close(fd);
		fd = -EIO;
	}
	if (fd == -EXDEV || (fd >= 0 && S_ISLNK(w->st.st_mode) && (flags & WALK_FOLLOW))) {
		if (fd >= 0)
			close(fd);
		close(dir);
		return 0;
	}
	if (fd < 0 && fd != -ENOENT) {
		close(dir);
		return fd;
	}
	return fast_result(w, fd, dir, m, last, clean);
}

void walk_done(struct walk *w)
{
	if (w->fd >= 0)
		close(w->fd);
	if (w->dir >= 0)
		close(w->dir);
	w->fd = w->dir = -1;
}

/* statx of application fd @fd, host fd @h (read before this call): remembered while the fd stays open. */
static int fd_statx(struct process *pr, int64_t fd, int h, struct statx *sx)
{
	uint64_t gen = fd_gen_of(pr, fd);
	pthread_mutex_lock(&pr->fdid_lock);
	for (int i = 0; i < 4; i++) {
		const struct fdid *e = &pr->fdid[i];
		if (e->fd == fd && e->h == h && e->gen == gen) {
			*sx = e->sx;
			pthread_mutex_unlock(&pr->fdid_lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&pr->fdid_lock);
	if (statx(h, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_MNT_ID, sx) < 0)
		return -errno;
	pthread_mutex_lock(&pr->fdid_lock);
	pr->fdid[pr->fdid_next++ % 4] = (struct fdid){ .fd = (int)fd, .h = h, .gen = gen, .sx = *sx };
	pthread_mutex_unlock(&pr->fdid_lock);
	return 0;
}

#define FDPATH_TTL_NS 1000000000ull /* as spcache.c's: a host rename under a mount is seen within 1 s */

static uint64_t fdpath_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void fd_dirpath_put(struct process *pr, int64_t fd, int h, const struct stat *st, const char *sp)
{
	const size_t n = sizeof(pr->fdpath) / sizeof(pr->fdpath[0]);
	if (fd < 0 || !S_ISDIR(st->st_mode) || strlen(sp) >= sizeof(pr->fdpath[0].sp))
		return;
	struct fdpath e = { .fd = (int)fd, .h = h, .gen = fd_gen_of(pr, fd), .spc_gen = spcache_gen(pr->s),
			    .at = fdpath_now(), .dev = st->st_dev, .ino = st->st_ino, .mode = st->st_mode };
	strcpy(e.sp, sp);
	pthread_mutex_lock(&pr->fdid_lock);
	pr->fdpath[pr->fdpath_next++ % n] = e;
	pthread_mutex_unlock(&pr->fdid_lock);
}

void fd_dirpath_dup(struct process *pr, int64_t from, int fromh, int64_t to, int toh)
{
	const size_t n = sizeof(pr->fdpath) / sizeof(pr->fdpath[0]);
	uint64_t gen = fd_gen_of(pr, from), to_gen = fd_gen_of(pr, to);
	pthread_mutex_lock(&pr->fdid_lock);
	for (size_t i = 0; i < n; i++) {
		struct fdpath *e = &pr->fdpath[i];
		if (e->fd == from && e->h == fromh && e->gen == gen) {
			struct fdpath c = *e;
			c.fd = (int)to;
			c.h = toh;
			c.gen = to_gen;
			pr->fdpath[pr->fdpath_next++ % n] = c;
			break;
		}
	}
	pthread_mutex_unlock(&pr->fdid_lock);
}

/* fdpath[]'s answer for @fd (host fd @h): 0 with @sp and what @sx needs, or -1. */
static int fd_dirpath_get(struct process *pr, int64_t fd, int h, char *sp, struct statx *sx)
{
	const size_t n = sizeof(pr->fdpath) / sizeof(pr->fdpath[0]);
	uint64_t gen = fd_gen_of(pr, fd), spc = spcache_gen(pr->s), now = fdpath_now();
	int ret = -1;
	pthread_mutex_lock(&pr->fdid_lock);
	for (size_t i = 0; i < n && ret < 0; i++) {
		const struct fdpath *e = &pr->fdpath[i];
		if (e->fd == fd && e->h == h && e->gen == gen && e->spc_gen == spc && now - e->at < FDPATH_TTL_NS) {
			strcpy(sp, e->sp);
			memset(sx, 0, sizeof(*sx));
			sx->stx_mask = STATX_TYPE | STATX_MODE | STATX_INO;
			sx->stx_mode = (uint16_t)e->mode;
			sx->stx_ino = e->ino;
			sx->stx_dev_major = major(e->dev);
			sx->stx_dev_minor = minor(e->dev);
			ret = 0;
		}
	}
	pthread_mutex_unlock(&pr->fdid_lock);
	return ret;
}

/* The canonical sandbox path of directory @fd (host fd @h; spcache.c remembers it), its statx in @sx
 * (type, inode and device at least): 0 or -ENOTDIR. */
static int dirfd_spath(struct process *pr, int64_t fd, int h, char *sp, struct statx *sx)
{
	if (fd_dirpath_get(pr, fd, h, sp, sx) == 0)
		return 0;
	if (fd_statx(pr, fd, h, sx) < 0 || !S_ISDIR(sx->stx_mode))
		return -ENOTDIR;
	if (spcache_get(pr->s, sx, sp) == 0)
		return 0;
	uint64_t gen = spcache_gen(pr->s);
	if (fs_fd_spath(pr, h, sp) < 0)
		return -ENOTDIR;
	if (!is_proc(&pr->s->pol, sp)) /* the sandbox's /proc listings are the sentry's own files */
		spcache_put(pr->s, sx, gen, sp);
	return 0;
}

int walk_stat_name(struct process *pr, int64_t dirfd, const char *name, bool follow, struct stat *st)
{
	const struct policy *pol = &pr->s->pol;
	size_t l = strlen(name);
	if (dirfd < 0 || l == 0 || l > 255 || strchr(name, '/') || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    !perm_overrides(pr)) /* (another identity needs the search checks of the walk) */
		return 1;
	int h = app_host_fd(pr, (uint64_t)dirfd);
	if (h < 0)
		return -EBADF;
	struct statx sx;
	char sp[SENTRY_PATH_MAX], child[SENTRY_PATH_MAX];
	const char *rest;
	if (dirfd_spath(pr, dirfd, h, sp, &sx) < 0 || strlen(sp) + 1 + l >= SENTRY_PATH_MAX)
		return 1;
	join(child, sp, name);
	const struct mountpt *m = mount_of(pol, sp, &rest);
	if (!m || m->on_procfs || is_proc(pol, sp) || is_proc(pol, child) || sys_hidden(pol, child) || mount_at(pol, child))
		return 1; /* the policy has something to say about that name */
	if (fstatat(h, name, st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? -ENOENT : 1;
	if ((follow && S_ISLNK(st->st_mode)) || st->st_dev != makedev(sx.stx_dev_major, sx.stx_dev_minor))
		return 1; /* a link to follow, or a host mount crossed: the walk */
	return 0;
}

int walk_path(struct process *pr, int64_t dirfd, const char *path, int flags, struct walk *w)
{
	struct cursor c = { .pr = pr, .pol = &pr->s->pol, .fd = -1, .flags = flags, .root = "/",
			    .search = !perm_overrides(pr), .lgen = linkcache_gen(pr->s) };
	*w = (struct walk){ .fd = -1, .dir = -1 };
	char rest[2 * SENTRY_PATH_MAX];
	if (!path[0])
		return -ENOENT;
	if (strlen(path) >= SENTRY_PATH_MAX)
		return -ENAMETOOLONG;
	str_set(rest, sizeof(rest), path);
	int ret;
	if (path[0] == '/') {
		strcpy(c.sp, "/");
	} else if (dirfd == AT_FDCWD) {
		str_set(c.sp, sizeof(c.sp), pr->cwd);
	} else {
		int h = dirfd >= 0 ? app_host_fd(pr, (uint64_t)dirfd) : -1;
		if (h < 0)
			return -EBADF;
		struct statx sx;
		int e = dirfd_spath(pr, dirfd, h, c.sp, &sx);
		if (e < 0)
			return e;
	}
	if (flags & (WALK_BENEATH | WALK_IN_ROOT)) { /* openat2: the start is this walk's "/" */
		if (path[0] == '/') {
			if (flags & WALK_BENEATH)
				return -EXDEV;
			snprintf(c.sp, sizeof(c.sp), "%s", dirfd == AT_FDCWD ? pr->cwd : c.root);
			if (dirfd != AT_FDCWD) {
				int h = dirfd >= 0 ? app_host_fd(pr, (uint64_t)dirfd) : -1;
				if (h < 0 || fs_fd_spath(pr, h, c.sp) < 0)
					return -EBADF;
			}
		}
		str_set(c.root, sizeof(c.root), c.sp);
	}
	bool fast = !(flags & WALK_RESOLVE) && !c.search;
	char linked[SENTRY_PATH_MAX];
	if (fast && !is_proc(c.pol, c.sp) &&
	    linkcache_rewrite(pr->s, c.sp, path, flags & WALK_FOLLOW, linked, sizeof(linked)) == 1) {
		path = linked; /* the links on the way, known: the walk would end where this path names */
		str_set(rest, sizeof(rest), path);
	}
	if (is_proc(c.pol, c.sp)) { /* relative to a /proc directory */
		ret = enter_proc(&c, c.sp, rest, sizeof(rest), flags, w);
		if (ret != 0)
			goto out;
	} else if ((fast && (ret = fast_path(&c, path, flags, w)) != 0) ||
		   (ret = cursor_set(&c, c.sp)) < 0) {
		goto out;
	}
	ret = walk_loop(&c, rest, sizeof(rest), w);
out:
	if (c.fd >= 0)
		close(c.fd);
	if (ret < 0) {
		walk_done(w);
		return ret;
	}
	if (fast && !c.remembered && w->fd >= 0 && S_ISCHR(w->st.st_mode))
		devcache_put(pr->s, c.lgen, w);
	if (!(flags & WALK_PARENT) && !w->proc) { /* a lookup: the object must exist */
		if (w->dir >= 0)
			close(w->dir);
		w->dir = -1;
		if (w->fd < 0 && !w->unopened)
			return -ENOENT;
		if (w->slash && !S_ISDIR(w->st.st_mode)) {
			walk_done(w);
			return -ENOTDIR;
		}
	}
	return 0;
}

int walk_reopen(const struct walk *w, uint64_t flags, uint64_t mode)
{
	struct open_how how = { .flags = flags | O_NOFOLLOW | O_CLOEXEC,
				.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
				.resolve = BENEATH };
	int h;
	if (w->unopened) { /* by its path in its read-only mount, nothing followed, no mount crossed */
		size_t ml = strlen(w->mnt->spath);
		const char *rest = strncmp(w->spath, w->mnt->spath, ml) == 0 ? w->spath + ml : "";
		while (*rest == '/')
			rest++;
		if (!*rest || (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
			return -EXDEV; /* (never: the walk gives no mount point or creation unopened) */
		how.resolve = BENEATH | RESOLVE_NO_XDEV;
		h = (int)syscall(SYS_openat2, w->mnt->fd, rest, &how, sizeof(how));
	} else if (w->dir >= 0) {
		h = (int)syscall(SYS_openat2, w->dir, w->name, &how, sizeof(how));
	} else if (w->fd >= 0 && !S_ISDIR(w->st.st_mode) && !S_ISLNK(w->st.st_mode)) {
		/* A lookup's object (no directory fd kept). A regular file in a read-only mount: by its
		 * canonical path again, from the mount, nothing followed (the sandbox cannot put anything
		 * else there; the way /proc's magic link costs the host about twice as much). Else through
		 * the sentry's own magic link to the O_PATH fd the walk examined: exactly that inode. */
		size_t ml = w->mnt ? strlen(w->mnt->spath) : 0;
		const char *rest = ml && strncmp(w->spath, w->mnt->spath, ml) == 0 ? w->spath + ml : "";
		while (*rest == '/')
			rest++;
		if (*rest && !w->rw && S_ISREG(w->st.st_mode) && !(flags & O_CREAT)) {
			how.resolve = BENEATH | RESOLVE_NO_XDEV;
			h = (int)syscall(SYS_openat2, w->mnt->fd, rest, &how, sizeof(how));
			if (h >= 0 || (errno != ELOOP && errno != EXDEV))
				return h < 0 ? -errno : h;
			how.resolve = BENEATH; /* (a link or a host mount on the way: the magic link) */
		}
		char via[32];
		snprintf(via, sizeof(via), "/proc/self/fd/%d", w->fd);
		how.flags &= ~(uint64_t)(O_CREAT | O_EXCL | O_NOFOLLOW);
		how.resolve = 0;
		h = (int)syscall(SYS_openat2, AT_FDCWD, via, &how, sizeof(how));
	} else { /* a directory without an entry name (".", a mount point): the directory itself */
		how.flags &= ~(uint64_t)(O_CREAT | O_EXCL | O_NOFOLLOW);
		h = (int)syscall(SYS_openat2, w->fd, ".", &how, sizeof(how));
		if (h < 0 && errno == EACCES) {
			/* "." is a lookup in the directory, which needs its search bit: a directory of mode
			 * 0600 (the sentry's host identity owns what the sandbox made) is opened for reading
			 * without one natively. Its own magic link opens exactly that inode, no lookup in it. */
			char via[32];
			snprintf(via, sizeof(via), "/proc/self/fd/%d", w->fd);
			how.resolve = 0;
			h = (int)syscall(SYS_openat2, AT_FDCWD, via, &how, sizeof(how));
		}
	}
	return h < 0 ? -errno : h;
}

long fs_getdents(struct process *pr, int64_t fd, int h, char *buf, size_t len)
{
	char dir[SENTRY_PATH_MAX], child[SENTRY_PATH_MAX + 256];
	int filter = -1; /* asked once there are entries: the end of a directory costs one host call */
	for (;;) {
		long n = syscall(SYS_getdents64, h, buf, len);
		if (n > 0 && filter < 0)
			filter = fd_on_sysfs(pr, fd, h) && fs_fd_spath(pr, h, dir) == 0;
		if (n <= 0 || !filter)
			return n < 0 ? -errno : n;
		/* Entries of /sys that sys_hidden() hides are dropped; a chunk of only those reads on. */
		long out = 0;
		for (long at = 0; at < n;) {
			struct dirent64 *d = (struct dirent64 *)(buf + at);
			unsigned short rl = d->d_reclen;
			int l = snprintf(child, sizeof(child), "%s/%s", dir, d->d_name);
			if (l < 0 || (size_t)l >= sizeof(child) || !sys_hidden(&pr->s->pol, child) ||
			    strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) {
				memmove(buf + out, d, rl);
				out += rl;
			}
			at += rl;
		}
		if (out > 0)
			return out;
	}
}
