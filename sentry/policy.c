// SPDX-License-Identifier: Apache-2.0
// The file-system policy: what the sandbox sees where, and where it may write.
//
// The sandbox's tree is a set of mount points, each a sandbox path bound to a host directory opened
// once (O_PATH) and marked read-only or read-write: "/" (the host root or --root DIR, read-only),
// "/tmp" and "/dev/shm" (private host directories removed at exit, read-write), and every --ro/--rw
// PATH. A path is
// normalised lexically against the task's cwd, matched to its longest mount point, and opened
// *below that directory fd* with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS): neither "..",
// nor a symlink, nor /proc's magic links can lead outside it. Anything landing on procfs is refused.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "sentry.h"

static int add_mount(struct sentry *s, const char *spath, const char *hpath, bool rw, char *err, size_t errlen)
{
	struct policy *p = &s->pol;
	if (p->n == POLICY_MAX_MOUNTS) {
		snprintf(err, errlen, "too many --ro/--rw paths");
		return -E2BIG;
	}
	struct mountpt *m = &p->m[p->n];
	if (policy_normalize("/", spath, m->spath) < 0 || !realpath(hpath, m->hpath)) {
		snprintf(err, errlen, "%s: %s", hpath, strerror(errno ? errno : ENAMETOOLONG));
		return -ENOENT;
	}
	m->fd = open(m->hpath, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (m->fd < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: %s (only directories can be mounted)", hpath, strerror(e));
		return -e;
	}
	m->rw = rw;
	struct statfs sf;
	m->on_procfs = fstatfs(m->fd, &sf) < 0 || sf.f_type == PROC_SUPER_MAGIC;
	/* Replace an earlier mount of the same sandbox path (the last option wins). */
	for (int i = 0; i < p->n; i++)
		if (strcmp(p->m[i].spath, m->spath) == 0) {
			close(p->m[i].fd);
			p->m[i] = *m;
			return 0;
		}
	p->n++;
	return 0;
}

int policy_init(struct sentry *s, char *err, size_t errlen)
{
	const struct sentry_opts *o = &s->opts;
	int ret = add_mount(s, "/", o->root ? o->root : "/", false, err, errlen);
	if (ret < 0)
		return ret;
	strcpy(s->pol.tmpdir, "/tmp/cvisor-tmp-XXXXXX");
	if (!mkdtemp(s->pol.tmpdir)) {
		s->pol.tmpdir[0] = 0;
		snprintf(err, errlen, "cannot create the private /tmp: %s", strerror(errno));
		return -errno;
	}
	if ((ret = add_mount(s, "/tmp", s->pol.tmpdir, true, err, errlen)) < 0)
		return ret;
	/* A private /dev/shm too (POSIX shared memory and semaphores: shm_open, sem_open), on the
	 * host's own /dev/shm when it has one, as Linux keeps it in memory. */
	strcpy(s->pol.shmdir, "/dev/shm/cvisor-shm-XXXXXX");
	if (!mkdtemp(s->pol.shmdir)) {
		strcpy(s->pol.shmdir, "/tmp/cvisor-shm-XXXXXX");
		if (!mkdtemp(s->pol.shmdir))
			s->pol.shmdir[0] = 0;
	}
	if (s->pol.shmdir[0] && (ret = add_mount(s, "/dev/shm", s->pol.shmdir, true, err, errlen)) < 0)
		return ret;
	/* Listings of /proc directories are built here: the host's /tmp, which the sandbox never sees. */
	strcpy(s->proc_dir, "/tmp/cvisor-proc-XXXXXX");
	if (!mkdtemp(s->proc_dir))
		s->proc_dir[0] = 0;
	for (int i = 0; i < o->n_binds; i++)
		if ((ret = add_mount(s, o->binds[i].path, o->binds[i].path, o->binds[i].rw, err, errlen)) < 0)
			return ret;
	return 0;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

void remove_tree(const char *dir)
{
	nftw(dir, rm_entry, 32, FTW_DEPTH | FTW_PHYS);
}

void policy_destroy(struct sentry *s)
{
	for (int i = 0; i < s->pol.n; i++)
		close(s->pol.m[i].fd);
	s->pol.n = 0;
	if (s->pol.tmpdir[0])
		remove_tree(s->pol.tmpdir); /* the private /tmp and /dev/shm go with us */
	s->pol.tmpdir[0] = 0;
	if (s->pol.shmdir[0])
		remove_tree(s->pol.shmdir);
	s->pol.shmdir[0] = 0;
	if (s->proc_dir[0])
		remove_tree(s->proc_dir);
	s->proc_dir[0] = 0;
}

int policy_normalize(const char *cwd, const char *path, char *out)
{
	char buf[2 * SENTRY_PATH_MAX];
	if (strlen(path) >= SENTRY_PATH_MAX)
		return -ENAMETOOLONG;
	if (path[0] == '/')
		snprintf(buf, sizeof(buf), "%s", path);
	else
		snprintf(buf, sizeof(buf), "%s/%s", cwd, path);
	/* Lexical: "." vanishes, ".." drops a component, never above "/". */
	size_t n = 0;
	out[0] = 0;
	for (char *save, *c = strtok_r(buf, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0) {
			while (n > 0 && out[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			out[n] = 0;
			continue;
		}
		size_t l = strlen(c);
		if (n + 1 + l >= SENTRY_PATH_MAX)
			return -ENAMETOOLONG;
		out[n++] = '/';
		memcpy(out + n, c, l + 1);
		n += l;
	}
	if (n == 0)
		strcpy(out, "/");
	return 0;
}

/* Sandbox path of an application fd's file, mapped back through the mount points. */
static int fd_spath(struct process *pr, int hfd, char *out)
{
	char link[64], host[SENTRY_PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", hfd); /* the sentry's own view of its fd */
	ssize_t n = readlink(link, host, sizeof(host) - 1);
	if (n < 0)
		return -EBADF;
	host[n] = 0;
	if (procfs_host_path(pr->s, host, out, SENTRY_PATH_MAX))
		return 0; /* a /proc listing: the /proc directory it shows */
	const struct mountpt *best = NULL;
	size_t best_len = 0;
	for (int i = 0; i < pr->s->pol.n; i++) {
		const struct mountpt *m = &pr->s->pol.m[i];
		size_t l = strcmp(m->hpath, "/") == 0 ? 0 : strlen(m->hpath);
		if (strncmp(host, m->hpath, l) == 0 && (host[l] == '/' || host[l] == 0) && (!best || l >= best_len)) {
			best = m;
			best_len = l;
		}
	}
	if (!best)
		return -EBADF;
	char joined[2 * SENTRY_PATH_MAX];
	snprintf(joined, sizeof(joined), "%s/%s", best->spath, host + best_len);
	return policy_normalize("/", joined, out);
}

long fs_fd_path(struct process *pr, int hfd, char *out, size_t cap)
{
	char sp[SENTRY_PATH_MAX];
	if (fd_spath(pr, hfd, sp) == 0)
		return snprintf(out, cap, "%s", sp);
	char link[64], host[256];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", hfd);
	ssize_t n = readlink(link, host, sizeof(host) - 1);
	if (n < 0)
		return -EBADF;
	host[n] = 0;
	if (strncmp(host, "pipe:", 5) == 0 || strncmp(host, "socket:", 7) == 0 || strncmp(host, "anon_inode:", 11) == 0)
		return snprintf(out, cap, "%s", host);
	return -EBADF; /* a host file outside the sandbox's tree: never shown */
}

int policy_resolve(struct process *pr, int64_t dirfd, const char *path, struct resolved *r)
{
	char base[SENTRY_PATH_MAX];
	if (path[0] == 0)
		return -ENOENT;
	if (path[0] != '/' && dirfd != AT_FDCWD) {
		int h = dirfd >= 0 && dirfd < SENTRY_MAX_FDS ? pr->fds[dirfd] : -1;
		if (h < 0 || fd_spath(pr, h, base) < 0)
			return -EBADF;
	} else {
		strcpy(base, pr->cwd);
	}
	int ret = policy_normalize(base, path, r->full);
	if (ret < 0)
		return ret;
	const struct mountpt *best = NULL;
	size_t best_len = 0;
	for (int i = 0; i < pr->s->pol.n; i++) {
		const struct mountpt *m = &pr->s->pol.m[i];
		size_t l = strcmp(m->spath, "/") == 0 ? 0 : strlen(m->spath);
		if (strncmp(r->full, m->spath, l) == 0 && (r->full[l] == '/' || r->full[l] == 0) &&
		    (!best || l >= best_len)) {
			best = m;
			best_len = l;
		}
	}
	if (!best)
		return -ENOENT;
	r->dirfd = best->fd;
	r->rw = best->rw;
	const char *rest = r->full + best_len;
	while (*rest == '/')
		rest++;
	snprintf(r->rel, sizeof(r->rel), "%s", *rest ? rest : ".");
	/* The last component, for operations on a directory entry (mkdir, unlink, rename...). */
	char *slash = strrchr(r->rel, '/');
	const char *name = slash ? slash + 1 : r->rel;
	if (strlen(name) >= sizeof(r->name))
		return -ENAMETOOLONG;
	memcpy(r->name, name, strlen(name) + 1);
	snprintf(r->parent, sizeof(r->parent), "%.*s", slash ? (int)(slash - r->rel) : 1, slash ? r->rel : ".");
	return 0;
}

/* Longest mount point holding sandbox path @full; @rest points into full after it. */
static const struct mountpt *mount_of(const struct policy *pol, const char *full, const char **rest)
{
	const struct mountpt *best = NULL;
	size_t best_len = 0;
	for (int i = 0; i < pol->n; i++) {
		const struct mountpt *m = &pol->m[i];
		size_t l = strcmp(m->spath, "/") == 0 ? 0 : strlen(m->spath);
		if (strncmp(full, m->spath, l) == 0 && (full[l] == '/' || full[l] == 0) && (!best || l >= best_len)) {
			best = m;
			best_len = l;
		}
	}
	*rest = full + best_len;
	return best;
}

#define MAX_SYMLINKS 40

/*
 * Open sandbox path @full (normalised, absolute) one component at a time below its mount point,
 * following symlinks ourselves: an absolute target restarts from the sandbox root (so it may cross
 * into another mount, whose permissions then apply), a relative one continues from its directory.
 * Each step is openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS), so the host
 * kernel never resolves anything we have not checked.
 */
static int walk(const struct policy *pol, const char *full, uint64_t flags, uint64_t mode, bool need_rw,
		bool *rw_out, int depth, bool *checked, char *to_proc)
{
	if (depth > MAX_SYMLINKS)
		return -ELOOP;
	const char *rest;
	const struct mountpt *m = mount_of(pol, full, &rest);
	if (!m)
		return -ENOENT;
	const char *tail = rest;
	while (*tail == '/')
		tail++;
	if (tail[0] && (!need_rw || m->rw)) {
		/* Fast path: the whole rest in one step, which the kernel refuses (ELOOP) if any symlink is
		 * on the way and (EXDEV) if it crosses a host mount; then the walk below goes step by step.
		 * Staying on the mount point's file system, it cannot land on procfs either. */
		struct open_how how = { .flags = flags | O_CLOEXEC, .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
					.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS |
						   RESOLVE_NO_XDEV };
		int h = (int)syscall(SYS_openat2, m->fd, tail, &how, sizeof(how));
		if (h >= 0) {
			*rw_out = m->rw;
			*checked = !m->on_procfs;
			return h;
		}
		if (errno != ELOOP && errno != EXDEV && errno != EAGAIN)
			return -errno;
	}
	char comps[SENTRY_PATH_MAX];
	snprintf(comps, sizeof(comps), "%s", rest);
	int cur = fcntl(m->fd, F_DUPFD_CLOEXEC, 3);
	if (cur < 0)
		return -errno;
	char *save, *c = strtok_r(comps, "/", &save);
	size_t done_len = strlen(full) - strlen(rest); /* sandbox path of cur: full[0..done_len) */
	if (!c) { /* the mount point itself */
		if (need_rw && !m->rw) {
			close(cur);
			return -EROFS;
		}
		*rw_out = m->rw;
		struct open_how how = { .flags = (flags | O_CLOEXEC) & ~(uint64_t)(O_CREAT | O_EXCL), .resolve = 0 };
		int h = (int)syscall(SYS_openat2, cur, ".", &how, sizeof(how));
		close(cur);
		return h < 0 ? -errno : h;
	}
	for (;;) {
		char *next = strtok_r(NULL, "/", &save);
		bool last = next == NULL;
		struct stat st;
		bool is_link = fstatat(cur, c, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode);
		if (is_link && !(last && (flags & O_NOFOLLOW))) {
			char target[SENTRY_PATH_MAX], joined[3 * SENTRY_PATH_MAX], norm[SENTRY_PATH_MAX];
			ssize_t n = readlinkat(cur, c, target, sizeof(target) - 1);
			close(cur);
			if (n < 0)
				return -errno;
			target[n] = 0;
			/* Directory of the link in the sandbox, then the target, then what was left. */
			char dir[SENTRY_PATH_MAX];
			snprintf(dir, sizeof(dir), "%.*s", (int)(c - comps + rest - full), full);
			(void)done_len;
			snprintf(joined, sizeof(joined), "%s/%s%s%s", target[0] == '/' ? "" : dir, target,
				 next ? "/" : "", next ? full + (rest - full) + (next - comps) : "");
			if (policy_normalize("/", joined, norm) < 0)
				return -ENAMETOOLONG;
			if (to_proc && (strcmp(norm, "/proc") == 0 || strncmp(norm, "/proc/", 6) == 0)) {
				strcpy(to_proc, norm); /* the sandbox's own /proc answers it (/etc/mtab) */
				return -EXDEV;
			}
			return walk(pol, norm, flags, mode, need_rw, rw_out, depth + 1, checked, to_proc);
		}
		if (last) {
			if (need_rw && !m->rw) {
				close(cur);
				return -EROFS;
			}
			*rw_out = m->rw;
			struct open_how how = { .flags = flags | O_CLOEXEC, .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
						.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS |
							   ((flags & O_NOFOLLOW) ? 0 : RESOLVE_NO_SYMLINKS) };
			int h = (int)syscall(SYS_openat2, cur, c, &how, sizeof(how));
			int e = errno;
			close(cur);
			return h < 0 ? -e : h;
		}
		struct open_how how = { .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
					.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS };
		int nfd = (int)syscall(SYS_openat2, cur, c, &how, sizeof(how));
		int e = errno;
		close(cur);
		if (nfd < 0)
			return -e;
		cur = nfd;
		c = next;
	}
}

static bool on_procfs(int fd)
{
	struct statfs sf;
	return fstatfs(fd, &sf) < 0 || sf.f_type == PROC_SUPER_MAGIC;
}

int policy_open(const struct policy *pol, const char *full, uint64_t flags, uint64_t mode, bool need_rw,
		bool *rw)
{
	return policy_open_proc(pol, full, flags, mode, need_rw, rw, NULL);
}

int policy_open_proc(const struct policy *pol, const char *full, uint64_t flags, uint64_t mode, bool need_rw,
		     bool *rw, char *to_proc)
{
	bool dummy, checked = false;
	int h = walk(pol, full, flags, mode, need_rw, rw ? rw : &dummy, 0, &checked, to_proc);
	if (h >= 0 && !checked && on_procfs(h)) {
		close(h);
		return -EACCES;
	}
	return h;
}

int policy_parent(const struct policy *pol, const struct resolved *r, bool *rw)
{
	if (strcmp(r->rel, ".") == 0 || strcmp(r->name, "..") == 0)
		return -EBUSY; /* a mount point itself, or the root */
	char parent[SENTRY_PATH_MAX];
	snprintf(parent, sizeof(parent), "%.*s", (int)(strrchr(r->full, '/') - r->full), r->full);
	return policy_open(pol, parent[0] ? parent : "/", O_PATH | O_DIRECTORY, 0, true, rw);
}
