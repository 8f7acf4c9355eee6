// SPDX-License-Identifier: Apache-2.0
// Guest program: every path syscall through every way a name can point somewhere else (symlinks,
// relative and absolute, dangling, looping, followed by a name or a slash, /proc/self/fd, dirfds,
// hard links, a symlink swapped under a second thread). Two modes, one table of operations and one
// table of pointers each:
//   pathescape escape VICTIM-FILE VICTIM-DIR PLACE  the pointers lead from PLACE (writable) to a host
//       file outside every writable place; every attempt must leave it alone. One line per attempt
//       (result only, for debugging); a line ends in " ESCAPED" when the victim changed as seen from
//       here, in " MUST-FAIL" when an operation that must always fail succeeded.
//   pathescape inside DIR  the pointers lead to files inside DIR (created fresh); one line per attempt
//       with the result and the state of DIR afterwards, never an absolute path (DIR shows as $D), so
//       that a native run and a sandboxed one can be compared line by line. Then Linux's path-walk
//       rules, one case a line ("walk/...").
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

/* The operations share one signature, most using only part of it; the tables leave trailing fields
 * zero. */
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

#define NR_FCHMODAT2 452     /* Linux 6.6; older headers do not name it */
#define FIXED_MTIME 1000000000 /* the inside fixture's files: mtime (atime is one more) */
#define RACE_ROUNDS 2000
#define RACE_SECONDS 15
#define MAX_ENTRIES 128

/* One attempt's line, built up piece by piece. */
struct out {
	char s[16384];
	size_t n;
};

static void note(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(struct out *o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int k = vsnprintf(o->s + o->n, sizeof(o->s) - o->n, fmt, ap);
	va_end(ap);
	if (k > 0)
		o->n = o->n + (size_t)k < sizeof(o->s) ? o->n + (size_t)k : sizeof(o->s) - 1;
}

/* "ok" or the errno's name. */
static const char *res(long r)
{
	static char unknown[4][32];
	static int next;
	const char *name = r < 0 ? strerrorname_np((int)-r) : "ok";
	if (name)
		return name;
	char *b = unknown[next++ % 4];
	snprintf(b, sizeof(unknown[0]), "E%ld", -r);
	return b;
}

static long chk(long r)
{
	return r < 0 ? -errno : r;
}

static bool inside;             /* the mode */
static const char *victim;      /* escape: the victim file; inside: unused */
static char vscript[PATH_MAX];  /* escape: VICTIM-DIR/vscript, a #!/bin/sh script */
static const char *dir;         /* escape: the victim's directory; inside: DIR */
static const char *place;       /* where the pointers are made (inside: DIR) */
static int homefd = -1;         /* O_DIRECTORY fd of the place */

/* What an operation works on: the path forms get @path, the *at forms @dfd, @name and @at. */
struct target {
	int dfd;
	const char *name;
	const char *path;
	int at;                 /* AT_EMPTY_PATH when the target is a file descriptor */
	const char *home;       /* prefix naming an entry of the place: "" (the cwd is the place) or "PLACE/" */
};

/* The place's entry @name, for the path forms (rotating buffers: a few may be in use at once). */
static const char *H(const struct target *t, const char *name)
{
	static char buf[4][PATH_MAX];
	static int next;
	char *b = buf[next++ % 4];
	snprintf(b, PATH_MAX, "%s%s", t->home, name);
	return b;
}

/* @s with DIR replaced by "$D" (inside mode: any other absolute path is not shown). */
static void show_path(struct out *o, const char *s)
{
	size_t l = strlen(dir);
	if (strncmp(s, dir, l) == 0 && (s[l] == '/' || s[l] == 0))
		note(o, "$D%s", s + l);
	else if (s[0] == '/' && inside)
		note(o, "<outside>");
	else
		note(o, "%s", s);
}

/* Type, mode, size (a link's: "s=" when it is its @text's length, as Linux reports), link count, mtime
 * (F: the fixture's, 0: zero, *: any other), then a link's @text (NULL: not known). */
static void show_stat(struct out *o, const struct stat *st, const char *text)
{
	static const struct {
		mode_t fmt;
		char c;
	} types[] = { { S_IFREG, 'f' }, { S_IFDIR, 'd' }, { S_IFLNK, 'l' }, { S_IFIFO, 'p' }, { S_IFSOCK, 's' },
		      { S_IFCHR, 'c' }, { S_IFBLK, 'b' } };
	char c = '?';
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if ((st->st_mode & S_IFMT) == types[i].fmt)
			c = types[i].c;
	note(o, "%c", c);
	if (S_ISLNK(st->st_mode) && text && (size_t)st->st_size == strlen(text))
		note(o, " s=");
	else if (S_ISLNK(st->st_mode))
		note(o, " s%lld", (long long)st->st_size);
	else
		note(o, "%o", (unsigned)(st->st_mode & 07777));
	if (S_ISREG(st->st_mode))
		note(o, " s%lld", (long long)st->st_size);
	if (!S_ISLNK(st->st_mode))
		note(o, " n%lu", (unsigned long)st->st_nlink);
	note(o, " m%s", st->st_mtime == FIXED_MTIME ? "F" : st->st_mtime == 0 ? "0" : "*");
	if (text) {
		note(o, " >");
		show_path(o, text);
	}
}

/* show_stat for a file that may be a link: its text read with readlinkat(@d, @name). */
static void show_file(struct out *o, const struct stat *st, int d, const char *name)
{
	char text[PATH_MAX];
	ssize_t k = S_ISLNK(st->st_mode) ? readlinkat(d, name, text, sizeof(text) - 1) : -1;
	if (k >= 0)
		text[k] = 0;
	show_stat(o, st, k >= 0 ? text : NULL);
}

struct entry {
	char name[NAME_MAX + 1];
	unsigned char type;     /* DT_* */
};

static int cmp_entries(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/* The entries of directory fd @d (read from its start), sorted: file systems list in different orders. */
static int list_dir(int d, struct entry *e)
{
	char buf[16384];
	int n = 0;
	if (lseek(d, 0, SEEK_SET) < 0)
		return 0;
	for (ssize_t k; (k = getdents64(d, buf, sizeof(buf))) > 0;)
		for (ssize_t off = 0; off < k;) {
			const struct dirent64 *de = (const struct dirent64 *)(buf + off);
			off += de->d_reclen;
			if (n < MAX_ENTRIES && strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
				snprintf(e[n].name, sizeof(e[n].name), "%s", de->d_name);
				e[n++].type = de->d_type;
			}
		}
	qsort(e, (size_t)n, sizeof(e[0]), cmp_entries);
	return n;
}

/* The state of everything below directory fd @d, never following a link. */
static void show_tree(struct out *o, int d, const char *prefix)
{
	struct entry *e = malloc(MAX_ENTRIES * sizeof(*e));
	int n = list_dir(d, e);
	for (int i = 0; i < n; i++) {
		struct stat st;
		note(o, " %s%s:", prefix, e[i].name);
		if (fstatat(d, e[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			note(o, "%s", res(-errno));
			continue;
		}
		show_file(o, &st, d, e[i].name);
		int fd = S_ISDIR(st.st_mode) ? openat(d, e[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
		if (fd >= 0) {
			char sub[PATH_MAX];
			snprintf(sub, sizeof(sub), "%s%s/", prefix, e[i].name);
			show_tree(o, fd, sub);
			close(fd);
		}
	}
	free(e);
}

/* Remove everything below directory fd @d, never following a link. */
static void wipe(int d)
{
	struct entry *e = malloc(MAX_ENTRIES * sizeof(*e));
	int n = list_dir(d, e);
	for (int i = 0; i < n; i++) {
		if (e[i].type != DT_DIR && unlinkat(d, e[i].name, 0) == 0)
			continue;
		int fd = openat(d, e[i].name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0) {
			wipe(fd);
			close(fd);
		}
		unlinkat(d, e[i].name, AT_REMOVEDIR);
	}
	free(e);
}

/* ---- What the escape mode watches: the victim, its script, its directory and vdir as this program
 * sees them (a new entry changes a directory's mtime and ctime). ---- */

struct snap {
	struct stat st[4];
	int err[4];
};

static void take_snap(struct snap *s)
{
	char sub[PATH_MAX];
	snprintf(sub, sizeof(sub), "%s/vdir", dir);
	const char *paths[4] = { victim, vscript, dir, sub };
	memset(s, 0, sizeof(*s));
	for (int i = 0; i < 4; i++)
		s->err[i] = lstat(paths[i], &s->st[i]) < 0 ? errno : 0;
}

/* Anything but the access time. */
static bool snap_same(const struct snap *a, const struct snap *b)
{
	for (int i = 0; i < 4; i++) {
		const struct stat *x = &a->st[i], *y = &b->st[i];
		if (a->err[i] != b->err[i] || x->st_ino != y->st_ino || x->st_mode != y->st_mode ||
		    x->st_uid != y->st_uid || x->st_gid != y->st_gid || x->st_size != y->st_size ||
		    x->st_nlink != y->st_nlink || x->st_mtim.tv_sec != y->st_mtim.tv_sec ||
		    x->st_mtim.tv_nsec != y->st_mtim.tv_nsec || x->st_ctim.tv_sec != y->st_ctim.tv_sec ||
		    x->st_ctim.tv_nsec != y->st_ctim.tv_nsec)
			return false;
	}
	return true;
}

/* ---- The operations ---- */

/* What an op does with a descriptor it opened (then closes it). */
enum act { ACT_NONE, ACT_WRITE, ACT_FCHMOD, ACT_FCHOWN, ACT_FUTIMENS, ACT_FTRUNCATE, ACT_FSETXATTR,
	   ACT_FREMOVEXATTR, ACT_FGETXATTR, ACT_FLISTXATTR, ACT_TMPLINK, ACT_FCHDIR };

struct op;
typedef long (*op_fn)(const struct op *op, const struct target *t, struct out *o);

struct op {
	const char *name;
	op_fn fn;
	long a, b;              /* the function's arguments */
	unsigned flags;
};

#define OP_AT 1          /* uses the *at form: also run with a directory fd */
#define OP_ESCAPE 2      /* escape mode only: privileged natively or refused by design in the sandbox */
#define OP_MUST_FAIL 4   /* must fail in the sandbox whatever the path */
#define OP_RO 8          /* changes nothing (when the sandbox is right): no state printed, no new fixture */

static const char *const xattr_names[] = { "user.cvisor", "security.capability", "trusted.cvisor" };

/* A file capability (CAP_SETUID, effective): what a setuid-less escalation would plant. */
static const struct vfs_cap_data cap_blob = { .magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
					      .data = { { .permitted = 1u << CAP_SETUID } } };

static void xattr_value(long which, const void **v, size_t *len)
{
	if (which == 1) {
		*v = &cap_blob;
		*len = sizeof(cap_blob);
	} else {
		*v = "pwned";
		*len = 5;
	}
}

/* Write through the place's entry @name (a new hard link, an exchanged name) and chmod it. */
static void through(const struct target *t, const char *name, struct out *o)
{
	struct stat st;
	if (fstatat(homefd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return;
	int fd = open(H(t, name), O_WRONLY | O_APPEND | O_CLOEXEC);
	long r = fd < 0 ? -errno : chk(write(fd, "pwned\n", 6));
	if (fd >= 0)
		close(fd);
	note(o, " write-%s=%s chmod-%s=%s", name, res(r), name, res(chk(chmod(H(t, name), 04777))));
}

static long act_on(int fd, enum act act, const struct target *t, struct out *o)
{
	if (fd < 0)
		return -errno;
	long r = 0;
	static const struct timespec zero[2];
	char buf[256];
	const void *v;
	size_t vl;
	xattr_value(0, &v, &vl);
	switch (act) {
	case ACT_NONE: break;
	case ACT_WRITE: r = chk(write(fd, "pwned\n", 6)); break;
	case ACT_FCHMOD: r = chk(fchmod(fd, 04777)); break;
	case ACT_FCHOWN: r = chk(fchown(fd, 1234, 1234)); break;
	case ACT_FUTIMENS: r = chk(syscall(SYS_utimensat, fd, NULL, zero, 0)); break;
	case ACT_FTRUNCATE: r = chk(ftruncate(fd, 0)); break;
	case ACT_FSETXATTR: r = chk(fsetxattr(fd, xattr_names[0], v, vl, 0)); break;
	case ACT_FREMOVEXATTR: r = chk(fremovexattr(fd, xattr_names[0])); break;
	case ACT_FGETXATTR: r = chk(fgetxattr(fd, xattr_names[0], buf, sizeof(buf))); break;
	case ACT_FLISTXATTR: r = chk(flistxattr(fd, buf, sizeof(buf))); break;
	case ACT_TMPLINK: {
		char to[PATH_MAX];
		snprintf(to, sizeof(to), "%s/cvpe-tmp", t->path);
		r = chk(write(fd, "pwned\n", 6));
		if (r >= 0)
			r = chk(linkat(fd, "", AT_FDCWD, to, AT_EMPTY_PATH));
		break;
	}
	case ACT_FCHDIR: {
		int back = open(".", O_PATH | O_CLOEXEC);
		r = chk(fchdir(fd));
		if (r == 0) {
			int c = open("cvpe-new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
			note(o, " creat=%s", res(c < 0 ? -errno : 0));
			if (c >= 0)
				close(c);
		}
		if (back >= 0 && fchdir(back) == 0)
			close(back);
		break;
	}
	}
	close(fd);
	if (act != ACT_NONE)
		note(o, " then=%s", res(r));
	return 0;
}

static long f_open(const struct op *op, const struct target *t, struct out *o)
{
	return act_on(open(t->path, (int)op->a | O_CLOEXEC, 0644), (enum act)op->b, t, o);
}

static long f_openat(const struct op *op, const struct target *t, struct out *o)
{
	return act_on(openat(t->dfd, t->name, (int)op->a | O_CLOEXEC, 0644), (enum act)op->b, t, o);
}

static long f_openat2(const struct op *op, const struct target *t, struct out *o)
{
	struct open_how how = { .flags = (uint64_t)op->a | O_CLOEXEC, .mode = (op->a & O_CREAT) ? 0644 : 0 };
	return act_on((int)syscall(SYS_openat2, t->dfd, t->name, &how, sizeof(how)), (enum act)op->b, t, o);
}

static long f_creat(const struct op *op, const struct target *t, struct out *o)
{
	return act_on((int)syscall(SYS_creat, t->path, 0644), (enum act)op->b, t, o);
}

/* stat (a 0), lstat (a 1), fstatat (a 2, flags b), statx (a 3, flags b), statfs (a 4). */
static long f_stat(const struct op *op, const struct target *t, struct out *o)
{
	struct stat st;
	struct statx sx;
	struct statfs sf;
	long r;
	switch (op->a) {
	case 0: r = chk(stat(t->path, &st)); break;
	case 1: r = chk(lstat(t->path, &st)); break;
	case 2: r = chk(fstatat(t->dfd, t->name, &st, t->at | (int)op->b)); break;
	case 3:
		r = chk(statx(t->dfd, t->name, t->at | (int)op->b, STATX_BASIC_STATS, &sx));
		st.st_mode = sx.stx_mode;
		st.st_size = (off_t)sx.stx_size;
		st.st_nlink = sx.stx_nlink;
		st.st_mtime = sx.stx_mtime.tv_sec;
		break;
	default: return chk(statfs(t->path, &sf));
	}
	if (r == 0) {
		note(o, " ");
		if (op->a < 2)
			show_file(o, &st, AT_FDCWD, t->path);
		else
			show_file(o, &st, t->dfd, t->name);
	}
	return r;
}

/* access (a 0), faccessat (a 1), faccessat2 (a 2, flags b). */
static long f_access(const struct op *op, const struct target *t, struct out *o)
{
	if (op->a == 0)
		return chk(syscall(SYS_access, t->path, W_OK));
	if (op->a == 1)
		return chk(syscall(SYS_faccessat, t->dfd, t->name, W_OK));
	return chk(syscall(SYS_faccessat2, t->dfd, t->name, W_OK, t->at | (int)op->b));
}

/* chmod (a 0), fchmodat (a 1), fchmodat2 (a 2, flags b): mode 04777. */
static long f_chmod(const struct op *op, const struct target *t, struct out *o)
{
	if (op->a == 0)
		return chk(syscall(SYS_chmod, t->path, 04777));
	if (op->a == 1)
		return chk(syscall(SYS_fchmodat, t->dfd, t->name, 04777));
	return chk(syscall(NR_FCHMODAT2, t->dfd, t->name, 04777, t->at | (int)op->b));
}

/* chown (a 0), lchown (a 1) to b:b; fchownat (a 2, flags b) to 1234:1234. */
static long f_chown(const struct op *op, const struct target *t, struct out *o)
{
	if (op->a == 0)
		return chk(syscall(SYS_chown, t->path, op->b, op->b));
	if (op->a == 1)
		return chk(syscall(SYS_lchown, t->path, op->b, op->b));
	return chk(syscall(SYS_fchownat, t->dfd, t->name, 1234, 1234, t->at | (int)op->b));
}

#define TIMES_NOW (1L << 40) /* in f_times's b: NULL times (now), not zero */

/* utime (a 0), utimes (a 1), utimensat (a 2, flags b), futimesat (a 3): zero times, or NULL (now)
 * with TIMES_NOW in b. */
static long f_times(const struct op *op, const struct target *t, struct out *o)
{
	static const struct utimbuf ub;
	static const struct timeval tv[2];
	static const struct timespec ts[2];
	bool now = (op->b & TIMES_NOW) != 0;
	switch (op->a) {
	case 0: return chk(syscall(SYS_utime, t->path, now ? NULL : &ub));
	case 1: return chk(syscall(SYS_utimes, t->path, now ? NULL : tv));
	case 2: return chk(syscall(SYS_utimensat, t->dfd, t->name, now ? NULL : ts, t->at | (int)(op->b & ~TIMES_NOW)));
	default: return chk(syscall(SYS_futimesat, t->dfd, t->name, tv));
	}
}

static long f_truncate(const struct op *op, const struct target *t, struct out *o)
{
	return chk(truncate(t->path, 0));
}

/* mkdir (a 0), mkdirat (a 1), mknod (a 2, mode b), mknodat (a 3, mode b). */
static long f_make(const struct op *op, const struct target *t, struct out *o)
{
	switch (op->a) {
	case 0: return chk(syscall(SYS_mkdir, t->path, 0755));
	case 1: return chk(mkdirat(t->dfd, t->name, 0755));
	case 2: return chk(syscall(SYS_mknod, t->path, op->b, 0));
	default: return chk(mknodat(t->dfd, t->name, (mode_t)op->b, 0));
	}
}

/* link (a 0) and linkat (a 1, flags b) from the target to the place's cvpe-h, then write through it;
 * (a 2, 3) from the place's file f to the target. */
static long f_link(const struct op *op, const struct target *t, struct out *o)
{
	long r;
	switch (op->a) {
	case 0: r = chk(syscall(SYS_link, t->path, H(t, "cvpe-h"))); break;
	case 1: r = chk(linkat(t->dfd, t->name, homefd, "cvpe-h", t->at | (int)op->b)); break;
	case 2: r = chk(syscall(SYS_link, H(t, "f"), t->path)); break;
	default: r = chk(linkat(homefd, "f", t->dfd, t->name, (int)op->b)); break;
	}
	if (op->a < 2)
		through(t, "cvpe-h", o);
	return r;
}

/* symlink (a 0), symlinkat (a 1): a new link at the target. */
static long f_symlink(const struct op *op, const struct target *t, struct out *o)
{
	if (op->a == 0)
		return chk(syscall(SYS_symlink, "cvpe-x", t->path));
	return chk(symlinkat("cvpe-x", t->dfd, t->name));
}

/* unlink (a 0), rmdir (a 1), unlinkat (a 2, flags b). */
static long f_unlink(const struct op *op, const struct target *t, struct out *o)
{
	if (op->a == 0)
		return chk(syscall(SYS_unlink, t->path));
	if (op->a == 1)
		return chk(syscall(SYS_rmdir, t->path));
	return chk(unlinkat(t->dfd, t->name, (int)op->b));
}

/* rename (a 0, 1), renameat (a 2, 3), renameat2 (a 4, 5; flags b): even a from the target to the
 * place's cvpe-r, odd a from the place's file f to the target. Then write through f (an exchange). */
static long f_rename(const struct op *op, const struct target *t, struct out *o)
{
	bool from = op->a % 2 == 0;
	long r;
	if (op->a < 2)
		r = from ? syscall(SYS_rename, t->path, H(t, "cvpe-r")) : syscall(SYS_rename, H(t, "f"), t->path);
	else if (op->a < 4)
		r = from ? syscall(SYS_renameat, t->dfd, t->name, homefd, "cvpe-r")
			 : syscall(SYS_renameat, homefd, "f", t->dfd, t->name);
	else
		r = from ? syscall(SYS_renameat2, t->dfd, t->name, homefd, "cvpe-r", op->b)
			 : syscall(SYS_renameat2, homefd, "f", t->dfd, t->name, op->b);
	r = chk(r);
	if (r == 0 && (op->b & RENAME_EXCHANGE))
		through(t, "f", o);
	return r;
}

/* readlink (a 0), readlinkat (a 1). */
static long f_readlink(const struct op *op, const struct target *t, struct out *o)
{
	char text[PATH_MAX];
	long n = chk(op->a == 0 ? syscall(SYS_readlink, t->path, text, sizeof(text) - 1)
				: syscall(SYS_readlinkat, t->dfd, t->name, text, sizeof(text) - 1));
	if (n >= 0) {
		text[n] = 0;
		note(o, " >");
		show_path(o, text);
	}
	return n;
}

/* Path xattr calls (a: set, lset, remove, lremove, get, lget, list, llist) on name b. */
static long f_xattr(const struct op *op, const struct target *t, struct out *o)
{
	const char *name = xattr_names[op->b];
	const void *v;
	size_t vl;
	char buf[1024];
	xattr_value(op->b, &v, &vl);
	switch (op->a) {
	case 0: return chk(setxattr(t->path, name, v, vl, 0));
	case 1: return chk(lsetxattr(t->path, name, v, vl, 0));
	case 2: return chk(removexattr(t->path, name));
	case 3: return chk(lremovexattr(t->path, name));
	case 4: return chk(getxattr(t->path, name, buf, sizeof(buf)));
	case 5: return chk(lgetxattr(t->path, name, buf, sizeof(buf)));
	case 6: return chk(listxattr(t->path, buf, sizeof(buf)));
	default: return chk(llistxattr(t->path, buf, sizeof(buf)));
	}
}

static long f_inotify(const struct op *op, const struct target *t, struct out *o)
{
	int in = inotify_init1(IN_CLOEXEC);
	if (in < 0)
		return -errno;
	long r = chk(inotify_add_watch(in, t->path, IN_ALL_EVENTS | (uint32_t)op->a));
	close(in);
	return r < 0 ? r : 0;
}

/* execve (a 0) or execveat (a 1, flags b) in a child: the error, or how it ended. */
static long f_exec(const struct op *op, const struct target *t, struct out *o)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		char *const argv[] = { "cvpe-exec", NULL }, *const envp[] = { NULL };
		int null = open("/dev/null", O_WRONLY); /* what a script says on failure names fds and paths */
		dup2(null, 1);
		dup2(null, 2);
		if (op->a == 0)
			syscall(SYS_execve, t->path, argv, envp);
		else
			syscall(SYS_execveat, t->dfd, t->name, argv, envp, t->at | (int)op->b);
		int e = errno;
		if (write(p[1], &e, sizeof(e)) < 0)
			_exit(126);
		_exit(127);
	}
	close(p[1]);
	int e = 0, st = 0;
	ssize_t n = pid < 0 ? -1 : read(p[0], &e, sizeof(e));
	close(p[0]);
	if (pid < 0)
		return -errno;
	waitpid(pid, &st, 0);
	if (n == (ssize_t)sizeof(e))
		return -e;
	note(o, " exit=%d", WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return 0;
}

/* chdir to the target, create a file and a directory there (relative names), print the cwd, go back. */
static long f_chdir(const struct op *op, const struct target *t, struct out *o)
{
	int back = open(".", O_PATH | O_CLOEXEC);
	long r = chk(chdir(t->path));
	if (r == 0) {
		char cwd[PATH_MAX];
		note(o, " cwd=");
		show_path(o, getcwd(cwd, sizeof(cwd)) ? cwd : "?");
		int c = open("cvpe-new", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		note(o, " creat=%s mkdir=%s", res(c < 0 ? -errno : 0), res(chk(mkdir("cvpe-newd", 0755))));
		if (c >= 0)
			close(c);
	}
	if (back >= 0 && fchdir(back) == 0)
		close(back);
	return r;
}

/* bind (a 0) or connect (a 1) an AF_UNIX socket at the target. */
static long f_socket(const struct op *op, const struct target *t, struct out *o)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", t->path);
	int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	long r = chk(op->a == 0 ? bind(s, (struct sockaddr *)&sa, sizeof(sa)) : connect(s, (struct sockaddr *)&sa, sizeof(sa)));
	close(s);
	return r;
}

/* mount (a 0), umount2 (a 1), pivot_root (a 2), chroot (a 3). */
static long f_mount(const struct op *op, const struct target *t, struct out *o)
{
	switch (op->a) {
	case 0: return chk(mount("cvpe", t->path, "tmpfs", 0, NULL));
	case 1: return chk(umount2(t->path, MNT_DETACH));
	case 2: return chk(syscall(SYS_pivot_root, t->path, t->path));
	default: return chk(chroot(t->path));
	}
}

/* name_to_handle_at, then open_by_handle_at for writing (the "shocker" escape). */
static long f_handle(const struct op *op, const struct target *t, struct out *o)
{
	struct {
		struct file_handle fh;
		unsigned char space[MAX_HANDLE_SZ];
	} h = { .fh.handle_bytes = MAX_HANDLE_SZ };
	int mount_id;
	long r = chk(name_to_handle_at(t->dfd, t->name, &h.fh, &mount_id, t->at));
	if (r < 0)
		return r;
	return act_on(open_by_handle_at(homefd, &h.fh, O_WRONLY | O_CLOEXEC), ACT_WRITE, t, o);
}

static const struct op ops[] = {
	{ "open-wronly", f_open, O_WRONLY, ACT_WRITE, 0 },
	{ "open-rdwr", f_open, O_RDWR, ACT_WRITE, 0 },
	{ "open-trunc", f_open, O_WRONLY | O_TRUNC, ACT_NONE, 0 },
	{ "open-append", f_open, O_WRONLY | O_APPEND, ACT_WRITE, 0 },
	{ "open-creat", f_open, O_WRONLY | O_CREAT, ACT_WRITE, 0 },
	{ "open-excl", f_open, O_WRONLY | O_CREAT | O_EXCL, ACT_WRITE, 0 },
	{ "open-nofollow", f_open, O_WRONLY | O_NOFOLLOW, ACT_WRITE, 0 },
	{ "open-rdonly", f_open, O_RDONLY, ACT_NONE, OP_RO },
	{ "open-directory", f_open, O_RDONLY | O_DIRECTORY, ACT_NONE, OP_RO },
	{ "open-tmpfile", f_open, O_TMPFILE | O_RDWR, ACT_TMPLINK, 0 },
	{ "openat", f_openat, O_RDWR | O_CREAT, ACT_WRITE, OP_AT },
	{ "openat-nofollow", f_openat, O_RDWR | O_NOFOLLOW, ACT_WRITE, OP_AT },
	{ "openat2", f_openat2, O_RDWR | O_CREAT, ACT_WRITE, OP_AT },
	{ "creat", f_creat, 0, ACT_WRITE, 0 },
	{ "stat", f_stat, 0, 0, OP_RO },
	{ "lstat", f_stat, 1, 0, OP_RO },
	{ "fstatat", f_stat, 2, 0, OP_AT | OP_RO },
	{ "fstatat-nofollow", f_stat, 2, AT_SYMLINK_NOFOLLOW, OP_AT | OP_RO },
	{ "statx", f_stat, 3, 0, OP_AT | OP_RO },
	{ "statx-nofollow", f_stat, 3, AT_SYMLINK_NOFOLLOW, OP_AT | OP_RO },
	{ "statfs", f_stat, 4, 0, OP_RO },
	{ "access", f_access, 0, 0, OP_RO },
	{ "faccessat", f_access, 1, 0, OP_AT | OP_RO },
	{ "faccessat2", f_access, 2, AT_EACCESS, OP_AT | OP_RO },
	{ "faccessat2-nofollow", f_access, 2, AT_SYMLINK_NOFOLLOW, OP_AT | OP_RO },
	{ "chmod", f_chmod, 0, 0, 0 },
	{ "fchmodat", f_chmod, 1, 0, OP_AT },
	{ "fchmodat2", f_chmod, 2, 0, OP_AT },
	{ "fchmodat2-nofollow", f_chmod, 2, AT_SYMLINK_NOFOLLOW, OP_AT },
	{ "fchmod", f_open, O_RDONLY, ACT_FCHMOD, 0 },
	{ "fchmod-opath", f_open, O_PATH, ACT_FCHMOD, 0 },
	{ "chown-root", f_chown, 0, 0, OP_ESCAPE },
	{ "chown", f_chown, 0, 1234, OP_ESCAPE },
	{ "lchown", f_chown, 1, 1234, OP_ESCAPE },
	{ "fchownat", f_chown, 2, 0, OP_AT | OP_ESCAPE },
	{ "fchownat-nofollow", f_chown, 2, AT_SYMLINK_NOFOLLOW, OP_AT | OP_ESCAPE },
	{ "fchown", f_open, O_RDONLY, ACT_FCHOWN, OP_ESCAPE },
	{ "utime-now", f_times, 0, TIMES_NOW, 0 },
	{ "utime-zero", f_times, 0, 0, 0 },
	{ "utimes-now", f_times, 1, TIMES_NOW, 0 },
	{ "utimes-zero", f_times, 1, 0, 0 },
	{ "utimensat-now", f_times, 2, TIMES_NOW, OP_AT },
	{ "utimensat-zero", f_times, 2, 0, OP_AT },
	{ "utimensat-now-nofollow", f_times, 2, TIMES_NOW | AT_SYMLINK_NOFOLLOW, OP_AT },
	{ "utimensat-zero-nofollow", f_times, 2, AT_SYMLINK_NOFOLLOW, OP_AT },
	{ "futimesat", f_times, 3, 0, OP_AT },
	{ "futimens", f_open, O_RDONLY, ACT_FUTIMENS, 0 },
	{ "truncate", f_truncate, 0, 0, 0 },
	{ "ftruncate", f_open, O_RDWR, ACT_FTRUNCATE, 0 },
	{ "mkdir", f_make, 0, 0, 0 },
	{ "mkdirat", f_make, 1, 0, OP_AT },
	{ "mknod-reg", f_make, 2, S_IFREG | 0644, 0 },
	{ "mknodat-fifo", f_make, 3, S_IFIFO | 0644, OP_AT },
	{ "link-from", f_link, 0, 0, 0 },
	{ "linkat-from", f_link, 1, 0, OP_AT },
	{ "linkat-from-follow", f_link, 1, AT_SYMLINK_FOLLOW, OP_AT },
	{ "link-to", f_link, 2, 0, 0 },
	{ "linkat-to", f_link, 3, 0, OP_AT },
	{ "symlink", f_symlink, 0, 0, 0 },
	{ "symlinkat", f_symlink, 1, 0, OP_AT },
	{ "unlink", f_unlink, 0, 0, 0 },
	{ "rmdir", f_unlink, 1, 0, 0 },
	{ "unlinkat", f_unlink, 2, 0, OP_AT },
	{ "unlinkat-dir", f_unlink, 2, AT_REMOVEDIR, OP_AT },
	{ "rename-from", f_rename, 0, 0, 0 },
	{ "rename-to", f_rename, 1, 0, 0 },
	{ "renameat-from", f_rename, 2, 0, OP_AT },
	{ "renameat-to", f_rename, 3, 0, OP_AT },
	{ "renameat2-noreplace-to", f_rename, 5, RENAME_NOREPLACE, OP_AT },
	{ "renameat2-exchange", f_rename, 4, RENAME_EXCHANGE, OP_AT },
	{ "readlink", f_readlink, 0, 0, OP_RO },
	{ "readlinkat", f_readlink, 1, 0, OP_AT | OP_RO },
	{ "setxattr", f_xattr, 0, 0, OP_ESCAPE },
	{ "setxattr-cap", f_xattr, 0, 1, OP_ESCAPE },
	{ "setxattr-trusted", f_xattr, 0, 2, OP_ESCAPE },
	{ "lsetxattr", f_xattr, 1, 0, OP_ESCAPE },
	{ "fsetxattr", f_open, O_RDONLY, ACT_FSETXATTR, OP_ESCAPE },
	{ "removexattr", f_xattr, 2, 0, OP_ESCAPE },
	{ "lremovexattr", f_xattr, 3, 0, OP_ESCAPE },
	{ "fremovexattr", f_open, O_RDONLY, ACT_FREMOVEXATTR, OP_ESCAPE },
	{ "getxattr", f_xattr, 4, 0, OP_ESCAPE | OP_RO },
	{ "lgetxattr", f_xattr, 5, 0, OP_ESCAPE | OP_RO },
	{ "fgetxattr", f_open, O_RDONLY, ACT_FGETXATTR, OP_ESCAPE | OP_RO },
	{ "listxattr", f_xattr, 6, 0, OP_ESCAPE | OP_RO },
	{ "llistxattr", f_xattr, 7, 0, OP_ESCAPE | OP_RO },
	{ "flistxattr", f_open, O_RDONLY, ACT_FLISTXATTR, OP_ESCAPE | OP_RO },
	{ "inotify", f_inotify, 0, 0, OP_RO },
	{ "inotify-nofollow", f_inotify, IN_DONT_FOLLOW, 0, OP_RO },
	{ "execve", f_exec, 0, 0, 0 },
	{ "execveat", f_exec, 1, 0, OP_AT },
	{ "chdir", f_chdir, 0, 0, 0 },
	{ "fchdir", f_open, O_RDONLY | O_DIRECTORY, ACT_FCHDIR, 0 },
	{ "bind", f_socket, 0, 0, OP_ESCAPE },
	{ "connect", f_socket, 1, 0, OP_ESCAPE | OP_RO },
	{ "open_by_handle_at", f_handle, 0, 0, OP_AT | OP_ESCAPE | OP_MUST_FAIL },
	{ "mount", f_mount, 0, 0, OP_ESCAPE | OP_MUST_FAIL },
	{ "umount2", f_mount, 1, 0, OP_ESCAPE | OP_MUST_FAIL },
	{ "pivot_root", f_mount, 2, 0, OP_ESCAPE | OP_MUST_FAIL },
	{ "chroot", f_mount, 3, 0, OP_ESCAPE | OP_MUST_FAIL },
};

/* ---- The pointers ---- */

enum fd_kind { FD_NONE, FD_PROC, FD_DEV };

/*
 * A way to point a name elsewhere: links made in the place ("NAME>TARGET"), the name the ops get
 * (relative to the place, or absolute), and maybe a descriptor opened on @fd_on first, which the ops
 * then reach as /proc/self/fd/N[/use] (FD_PROC: the *at forms get the fd itself, with AT_EMPTY_PATH
 * when @use is empty) or /dev/fd/N (FD_DEV). In TARGET, @use and @fd_on: %V the victim, %S its
 * script, %D the victim's directory (inside: DIR), %B DIR's last component, %U enough "../" to pass
 * the root from anywhere.
 */
struct pointer {
	const char *name;
	const char *links[3];
	const char *use;
	enum fd_kind fd;
	const char *fd_on;
	int fd_flags;
};

#define UPS "../../../../../../../../../../../../../../../../"

static const struct pointer escape_ptrs[] = {
	{ "victim", { NULL }, "%V" },
	{ "abs", { "l>%V" }, "l" },
	{ "abs-script", { "l>%S" }, "l" },
	{ "rel", { "l>%U%V" }, "l" },
	{ "chain", { "l>m", "m>%V" }, "l" },
	{ "slash", { "l>%V" }, "l/" },
	{ "dot-slash", { "l>%V" }, "./l" },
	{ "dir-name", { "l>%D" }, "l/victim" },
	{ "dir-sub", { "l>%D" }, "l/vdir" },
	{ "dir-new", { "l>%D" }, "l/vdir/cvpe-new" },
	{ "dir-rel-new", { "l>%U%D" }, "l/cvpe-new" },
	{ "dir-slash", { "l>%D/vdir" }, "l/" },
	{ "dir-dotdot", { "l>%D/vdir" }, "l/../victim" },
	{ "dir-chain", { "l>m/vdir", "m>%D" }, "l/cvpe-new" },
	{ "dangling", { "l>%D/cvpe-new" }, "l" },
	{ "dangling-rel", { "l>%U%D/cvpe-new" }, "l" },
	{ "dangling-sub", { "l>%D/vdir/cvpe-new" }, "l" },
	{ "loop", { "a>b", "b>a" }, "a" },
	{ "procfd-rd", { NULL }, "", FD_PROC, "%V", O_RDONLY },
	{ "procfd-rd-link", { "l>%V" }, "", FD_PROC, "l", O_RDONLY },
	{ "procfd-opath", { "l>%V" }, "", FD_PROC, "l", O_PATH },
	{ "procfd-symlink", { "l>%V" }, "", FD_PROC, "l", O_PATH | O_NOFOLLOW },
	{ "devfd-rd", { "l>%V" }, "", FD_DEV, "l", O_RDONLY },
	{ "devfd-opath", { NULL }, "", FD_DEV, "%V", O_PATH },
	{ "procfd-dir", { NULL }, "victim", FD_PROC, "%D", O_RDONLY | O_DIRECTORY },
	{ "procfd-dir-link", { "l>%D" }, "victim", FD_PROC, "l", O_PATH | O_DIRECTORY },
};

static const struct pointer inside_ptrs[] = {
	{ "direct", { NULL }, "t" },
	{ "direct-dir", { NULL }, "td" },
	{ "abs", { "l>%D/t" }, "l" },
	{ "rel", { "l>t" }, "l" },
	{ "rel-up", { "l>../%B/t" }, "l" },
	{ "chain", { "l>m", "m>%D/t" }, "l" },
	{ "slash", { "l>t" }, "l/" },
	{ "dir-name", { "l>%D/td" }, "l/f" },
	{ "dir-sub", { "l>td" }, "l/sub" },
	{ "dir-new", { "l>%D/td" }, "l/sub/new" },
	{ "dir-slash", { "l>td" }, "l/" },
	{ "dir-dotdot", { "l>td/sub" }, "l/../f" },
	{ "dangling", { "l>%D/new" }, "l" },
	{ "dangling-rel", { "l>td/new" }, "l" },
	{ "loop", { "a>b", "b>a" }, "a" },
	{ "procfd-rd", { NULL }, "", FD_PROC, "t", O_RDONLY },
	{ "procfd-opath", { "l>t" }, "", FD_PROC, "l", O_PATH },
	{ "procfd-symlink", { "l>t" }, "", FD_PROC, "l", O_PATH | O_NOFOLLOW },
	{ "devfd-rd", { NULL }, "", FD_DEV, "t", O_RDONLY },
	{ "procfd-dir", { NULL }, "f", FD_PROC, "td", O_RDONLY | O_DIRECTORY },
};

static void expand(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	const char *base = strrchr(dir, '/');
	for (; *in && n + 1 < cap; in++) {
		const char *s = NULL;
		if (in[0] == '%' && in[1]) {
			switch (*++in) {
			case 'V': s = victim; break;
			case 'S': s = vscript; break;
			case 'D': s = dir; break;
			case 'B': s = base ? base + 1 : dir; break;
			default: s = UPS; break;
			}
		}
		if (!s) {
			out[n++] = *in;
			continue;
		}
		n += (size_t)snprintf(out + n, cap - n, "%s", s);
		if (n >= cap)
			n = cap - 1;
	}
	out[n] = 0;
}

/* The variants: how the ops name things in the place. */
enum { V_ABS, V_CWD, V_DIRFD, V_OPATH, N_VARIANTS };
static const char *const variant_names[N_VARIANTS] = { "abs", "cwd", "dirfd", "opath" };

static void set_times(int d, const char *name)
{
	struct timespec ts[2] = { { FIXED_MTIME + 1, 0 }, { FIXED_MTIME, 0 } };
	utimensat(d, name, ts, AT_SYMLINK_NOFOLLOW);
}

static void make_file(int d, const char *name, const char *text, mode_t mode)
{
	int fd = openat(d, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror("fixture");
		fchmod(fd, mode);
		close(fd);
	}
}

/* The place's fixed contents. */
static void fixture(void)
{
	wipe(homefd);
	make_file(homefd, "f", "f\n", 0644);
	if (!inside)
		return;
	make_file(homefd, "t", "#!/bin/sh\nexit 3\n", 0755);
	mkdirat(homefd, "td", 0755);
	mkdirat(homefd, "td/sub", 0755);
	make_file(homefd, "td/f", "tdf\n", 0644);
	static const char *const fixed[] = { "f", "t", "td/f", "td/sub", "td" };
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		set_times(homefd, fixed[i]);
}

/* A fresh fixture with pointer @p's links: 0 or -errno. */
static long build(const struct pointer *p)
{
	char buf[PATH_MAX];
	fixture();
	for (int i = 0; i < 3 && p->links[i]; i++) {
		expand(p->links[i], buf, sizeof(buf));
		char *gt = strchr(buf, '>');
		*gt = 0;
		if (symlinkat(gt + 1, homefd, buf) < 0)
			return -errno;
	}
	return 0;
}

/* What the ops get from pointer @p (built) in variant @v (directory fd @vfd); the descriptor to close
 * afterwards in *fd (-1 if none). 0 or -errno. */
static long aim(const struct pointer *p, int v, int vfd, struct target *t, char *path, char *name, int *fd)
{
	char buf[PATH_MAX], use[PATH_MAX];
	static char home[PATH_MAX];
	expand(p->use, use, sizeof(use));
	snprintf(home, sizeof(home), "%s/", place);
	*t = (struct target){ .dfd = AT_FDCWD, .name = name, .path = path, .home = v == V_ABS ? home : "" };
	*fd = -1;
	if (p->fd != FD_NONE) {
		expand(p->fd_on, buf, sizeof(buf));
		if ((*fd = openat(homefd, buf, p->fd_flags | O_CLOEXEC)) < 0)
			return -errno;
		if (p->fd == FD_DEV)
			snprintf(path, PATH_MAX, "/dev/fd/%d", *fd);
		else if (snprintf(path, PATH_MAX, "/proc/self/fd/%d%s%s", *fd, use[0] ? "/" : "", use) >= PATH_MAX)
			return -ENAMETOOLONG;
		if (p->fd == FD_PROC) {
			t->dfd = *fd;
			t->at = use[0] ? 0 : AT_EMPTY_PATH;
		}
		snprintf(name, PATH_MAX, "%s", p->fd == FD_PROC ? use : path);
		return 0;
	}
	if (use[0] != '/' && v == V_ABS) {
		if (snprintf(path, PATH_MAX, "%s%s", home, use) >= PATH_MAX)
			return -ENAMETOOLONG;
	} else {
		snprintf(path, PATH_MAX, "%s", use);
	}
	snprintf(name, PATH_MAX, "%s", path);
	if (use[0] != '/' && v >= V_DIRFD)
		t->dfd = vfd;
	return 0;
}

/*
 * Which ops run with which pointers in which variant. Absolute names and descriptors are the same in
 * every variant: abs only. The dirfd variants run the *at forms. The inside mode, which prints the
 * whole state after each op and must stay fast inside the sandbox, runs abs (everything, absolute
 * paths) and opath (the *at forms, relative names, an O_PATH directory); its walk cases use
 * relative names from the cwd.
 */
static bool runs_in(const struct pointer *p, const struct op *op, int v)
{
	if (inside && ((op->flags & OP_ESCAPE) || v == V_CWD || v == V_DIRFD))
		return false;
	if ((p->fd != FD_NONE || p->use[0] == '%') && v != V_ABS)
		return false;
	return v < V_DIRFD || (op->flags & OP_AT);
}

/* Every op through every pointer in every variant, one line each. The fixture is made again only
 * after an op that may have changed it (one that succeeded and is not read-only). */
static void matrix(const struct pointer *ptrs, size_t n_ptrs, struct snap *was)
{
	const struct pointer *built = NULL;
	for (int v = 0; v < N_VARIANTS; v++) {
		int vfd = v == V_DIRFD ? openat(homefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
		        : v == V_OPATH ? openat(homefd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		if (v == V_ABS ? chdir("/") < 0 : vfd >= 0 ? fchdir(vfd) < 0 : fchdir(homefd) < 0)
			printf("%s: cannot enter the place: %s\n", variant_names[v], res(-errno));
		for (size_t i = 0; i < n_ptrs; i++) {
			const struct pointer *p = &ptrs[i];
			for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++) {
				const struct op *op = &ops[k];
				static char path[PATH_MAX], name[PATH_MAX];
				static struct out o;
				struct target t;
				int fd = -1;
				if (!runs_in(p, op, v))
					continue;
				long r = 0;
				if (built != p) {
					r = build(p);
					built = r < 0 ? NULL : p;
					if (!inside)
						take_snap(was); /* the wipe undoes what the last op did */
				}
				if (r < 0 || (r = aim(p, v, vfd, &t, path, name, &fd)) < 0) {
					printf("%s/%s: setup %s\n", variant_names[v], p->name, res(r));
					if (fd >= 0)
						close(fd);
					break; /* the same for every op */
				}
				o.n = 0;
				o.s[0] = 0;
				r = op->fn(op, &t, &o);
				if (fd >= 0)
					close(fd);
				if (r >= 0 && !(op->flags & OP_RO))
					built = NULL;
				if (inside && !(op->flags & OP_RO)) {
					note(&o, " |");
					show_tree(&o, homefd, "");
				} else if (!inside) {
					struct snap now;
					take_snap(&now);
					if (!snap_same(was, &now))
						note(&o, " ESCAPED");
					*was = now;
					if (r >= 0 && (op->flags & OP_MUST_FAIL))
						note(&o, " MUST-FAIL");
				}
				printf("%s/%s/%s: %s%s\n", variant_names[v], p->name, op->name, res(r), o.s);
			}
		}
		if (vfd >= 0)
			close(vfd);
	}
	if (chdir("/") < 0)
		perror("chdir");
}

/* ---- The swap race (escape mode): a thread turns the place's "sw" from a file into a link to the
 * victim and back while this one keeps changing "sw". ---- */

static volatile int race_stop;

static void *swapper(void *arg)
{
	(void)arg;
	for (int i = 0; i < 50 * RACE_ROUNDS && !race_stop; i++) {
		symlinkat(victim, homefd, "cvpe-swl");
		renameat(homefd, "cvpe-swl", homefd, "sw");
		int fd = openat(homefd, "cvpe-swf", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0)
			close(fd);
		renameat(homefd, "cvpe-swf", homefd, "sw");
	}
	return NULL;
}

static void race(struct snap *was)
{
	char sw[PATH_MAX];
	snprintf(sw, sizeof(sw), "%s/sw", place);
	fixture();
	make_file(homefd, "sw", "", 0644);
	pthread_t th;
	if (pthread_create(&th, NULL, swapper, NULL) != 0) {
		puts("race: no thread");
		return;
	}
	static const struct timespec zero[2];
	static const struct utimbuf ub;
	time_t end = time(NULL) + RACE_SECONDS;
	int rounds = 0;
	for (; rounds < RACE_ROUNDS && time(NULL) < end; rounds++) {
		chmod(sw, 04777);
		fchmodat(homefd, "sw", 04777, 0);
		utime(sw, &ub);
		utimensat(homefd, "sw", zero, 0);
		truncate(sw, 0);
		int fd = open(sw, O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "pwned\n", 6) < 0)
				perror("race write");
			close(fd);
		}
		setxattr(sw, "user.cvisor", "pwned", 5, 0);
	}
	race_stop = 1;
	pthread_join(th, NULL);
	struct snap now;
	take_snap(&now);
	printf("race: %s\n", snap_same(was, &now) ? "done" : "done ESCAPED");
	*was = now;
}

/* ---- Linux's path walk, case by case (inside mode), in DIR/w with it as the cwd. ---- */

enum wop { W_LIST, W_STAT, W_LSTAT, W_NOFOLLOW, W_OPEN, W_RMDIR, W_UNLINK, W_MKDIR, W_RENAME, W_LINK,
	   W_LINK_FOLLOW, W_SYMLINK, W_CHMOD, W_TRUNCATE, W_CHDIR, W_READLINK, W_ACCESS };

/*
 * @setup: space-separated "d:NAME" (directory), "f:NAME" (file "data\n"), "l:NAME>TARGET" (symlink; a
 * TARGET starting with "@" is made absolute: DIR/w), "c:N" (a chain c0 -> c1 -> ... -> f of N links).
 */
struct walk_case {
	const char *name;
	const char *setup;
	enum wop op;
	const char *a, *b;
	long arg;
};

static const struct walk_case walks[] = {
	{ "dotdot-after-link", "d:o d:o/x d:o/x/y f:o/x/in-x f:o/in-o l:o/l>x/y", W_LIST, "o/l/.." },
	{ "dotdot-after-abs-link", "d:o d:o/x d:o/x/y f:o/x/in-x f:o/in-o l:o/l>@/o/x/y", W_LIST, "o/l/.." },
	{ "creat-dotdot-after-link", "d:o d:o/x d:o/x/y l:o/l>x/y", W_OPEN, "o/l/../new", NULL, O_CREAT | O_WRONLY },
	{ "stat-dotdot-after-link", "d:o d:o/x d:o/x/y f:o/x/in-x l:o/l>x/y", W_STAT, "o/l/../in-x" },
	{ "chdir-dotdot-after-link", "d:o d:o/x d:o/x/y l:o/l>x/y", W_CHDIR, "o/l/.." },
	{ "rmdir-dot", "d:d", W_RMDIR, "d/." },
	{ "rmdir-dotdot", "d:d", W_RMDIR, "d/.." },
	{ "rmdir-link-slash", "d:d l:l>d", W_RMDIR, "l/" },
	{ "unlink-file-slash", "f:f", W_UNLINK, "f/" },
	{ "unlink-dir-slash", "d:d", W_UNLINK, "d/" },
	{ "unlink-dir", "d:d", W_UNLINK, "d" },
	{ "unlink-dirlink-slash", "d:d l:l>d", W_UNLINK, "l/" },
	{ "unlink-filelink-slash", "f:f l:l>f", W_UNLINK, "l/" },
	{ "rename-dot", "d:d", W_RENAME, "d/.", "e" },
	{ "rename-dotdot", "d:d d:d/e", W_RENAME, "d/e/..", "g" },
	{ "rename-file-slash", "f:f", W_RENAME, "f/", "g" },
	{ "rename-file-to-slash", "f:f", W_RENAME, "f", "g/" },
	{ "rename-dir-slashes", "d:d", W_RENAME, "d/", "e/" },
	{ "rename-dirlink-slash", "d:d l:l>d", W_RENAME, "l/", "m" },
	{ "rename-over-dirlink", "d:d f:f l:l>d", W_RENAME, "f", "l" },
	{ "rename-into-dirlink", "d:d f:f l:l>d", W_RENAME, "f", "l/f" },
	{ "mkdir-dot", "d:d", W_MKDIR, "d/." },
	{ "mkdir-dotdot", "d:d", W_MKDIR, "d/.." },
	{ "mkdir-slash", "", W_MKDIR, "new/" },
	{ "mkdir-dangling", "l:l>new", W_MKDIR, "l" },
	{ "mkdir-dangling-slash", "l:l>new", W_MKDIR, "l/" },
	{ "lstat-file-slash", "f:f", W_LSTAT, "f/" },
	{ "stat-file-dot", "f:f", W_STAT, "f/." },
	{ "stat-file-dotdot", "f:f", W_STAT, "f/.." },
	{ "stat-missing-dotdot", "", W_STAT, "missing/.." },
	{ "stat-dangling-dotdot", "l:l>nothing", W_STAT, "l/.." },
	{ "stat-dirlink-slash", "d:d l:l>d", W_STAT, "l/" },
	{ "lstat-dirlink-slash", "d:d l:l>d", W_LSTAT, "l/" },
	{ "lstat-dirlink", "d:d l:l>d", W_LSTAT, "l" },
	{ "lstat-filelink-slash", "f:f l:l>f", W_LSTAT, "l/" },
	{ "stat-dots", "d:d f:d/f", W_STAT, "./d/./f" },
	{ "stat-double-slash", "d:d f:d/f", W_STAT, "d//f" },
	{ "stat-empty", "", W_STAT, "" },
	{ "stat-past-root", "", W_STAT, UPS "tmp/.." },
	{ "fstatat-nofollow-link", "f:f l:l>f", W_NOFOLLOW, "l" },
	{ "open-creat-missing-slash", "", W_OPEN, "missing/", NULL, O_CREAT | O_WRONLY },
	{ "open-file-slash", "f:f", W_OPEN, "f/", NULL, O_RDONLY },
	{ "open-dir-wronly", "d:d", W_OPEN, "d", NULL, O_WRONLY },
	{ "open-directory-file", "f:f", W_OPEN, "f", NULL, O_RDONLY | O_DIRECTORY },
	{ "open-directory-nofollow-dirlink", "d:d l:l>d", W_OPEN, "l", NULL, O_RDONLY | O_DIRECTORY | O_NOFOLLOW },
	{ "open-creat-dangling", "l:l>new", W_OPEN, "l", NULL, O_CREAT | O_WRONLY },
	{ "open-creat-dangling-abs", "l:l>@/new", W_OPEN, "l", NULL, O_CREAT | O_WRONLY },
	{ "open-creat-dangling-nodir", "l:l>nodir/new", W_OPEN, "l", NULL, O_CREAT | O_WRONLY },
	{ "open-creat-dangling-slash", "l:l>new", W_OPEN, "l/", NULL, O_CREAT | O_WRONLY },
	{ "open-excl-dangling", "l:l>new", W_OPEN, "l", NULL, O_CREAT | O_EXCL | O_WRONLY },
	{ "open-excl-link", "f:f l:l>f", W_OPEN, "l", NULL, O_CREAT | O_EXCL | O_WRONLY },
	{ "open-nofollow-link", "f:f l:l>f", W_OPEN, "l", NULL, O_RDONLY | O_NOFOLLOW },
	{ "open-nofollow-in-middle", "d:d f:d/f l:l>d", W_OPEN, "l/f", NULL, O_RDONLY | O_NOFOLLOW },
	{ "opath-nofollow-link", "f:f l:l>f", W_OPEN, "l", NULL, O_PATH | O_NOFOLLOW },
	{ "open-trunc-link", "f:f l:l>f", W_OPEN, "l", NULL, O_WRONLY | O_TRUNC },
	{ "symlink-slash", "", W_SYMLINK, "t", "x/" },
	{ "symlink-empty-target", "", W_SYMLINK, "", "x" },
	{ "symlink-over-dangling", "l:l>new", W_SYMLINK, "t", "l" },
	{ "link-slash", "f:f", W_LINK, "f", "g/" },
	{ "link-symlink", "f:f l:l>f", W_LINK, "l", "h" },
	{ "link-symlink-follow", "f:f l:l>f", W_LINK_FOLLOW, "l", "h" },
	{ "link-into-dirlink", "d:d f:f l:l>d", W_LINK, "f", "l/h" },
	{ "link-dir", "d:d", W_LINK, "d", "e" },
	{ "chmod-rel-link", "f:f l:l>f", W_CHMOD, "l", NULL, 0600 },
	{ "chmod-rel-link-up", "d:d f:f l:d/l>../f", W_CHMOD, "d/l", NULL, 0600 },
	{ "chmod-dirlink-slash", "d:d l:l>d", W_CHMOD, "l/", NULL, 0700 },
	{ "chmod-filelink-slash", "f:f l:l>f", W_CHMOD, "l/", NULL, 0600 },
	{ "truncate-link", "f:f l:l>f", W_TRUNCATE, "l" },
	{ "truncate-dir", "d:d", W_TRUNCATE, "d" },
	{ "chdir-link", "d:d d:d/e l:l>d/e", W_CHDIR, "l" },
	{ "chdir-link-dotdot", "d:d d:d/e l:l>d/e", W_CHDIR, "l/.." },
	{ "chdir-abs-link", "d:d d:d/e l:l>@/d/e", W_CHDIR, "l" },
	{ "chdir-file", "f:f", W_CHDIR, "f" },
	{ "readlink-dirlink-slash", "d:d l:l>d", W_READLINK, "l/" },
	{ "readlink-file", "f:f", W_READLINK, "f" },
	{ "readlink-link-to-link", "f:f l:l>m l:m>f", W_READLINK, "l" },
	{ "access-dangling", "l:l>nothing", W_ACCESS, "l" },
	{ "loop", "l:a>b l:b>a", W_STAT, "a" },
	{ "loop-lstat", "l:a>b l:b>a", W_LSTAT, "a" },
	{ "loop-in-middle", "l:a>b l:b>a", W_STAT, "a/x" },
	{ "self-loop-creat", "l:a>a", W_OPEN, "a", NULL, O_CREAT | O_WRONLY },
	{ "chain-40", "f:f c:40", W_OPEN, "c0", NULL, O_RDONLY },
	{ "chain-41", "f:f c:41", W_OPEN, "c0", NULL, O_RDONLY },
	{ "chain-40-stat", "f:f c:40", W_STAT, "c0" },
	{ "chain-41-stat", "f:f c:41", W_STAT, "c0" },
};

static void walk_setup(const char *spec, const char *wdir)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%s", spec);
	for (char *save, *tok = strtok_r(buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char *arg = tok + 2, target[PATH_MAX];
		if (tok[0] == 'd')
			mkdir(arg, 0755);
		else if (tok[0] == 'f')
			make_file(AT_FDCWD, arg, "data\n", 0644);
		else if (tok[0] == 'c') {
			int n = atoi(arg);
			for (int i = 0; i < n; i++) {
				char from[16], to[16];
				snprintf(from, sizeof(from), "c%d", i);
				snprintf(to, sizeof(to), i + 1 < n ? "c%d" : "f", i + 1);
				symlink(to, from);
			}
		} else {
			char *gt = strchr(arg, '>');
			*gt = 0;
			snprintf(target, sizeof(target), "%s%s", gt[1] == '@' ? wdir : "", gt + 1 + (gt[1] == '@'));
			symlink(target, arg);
		}
	}
}

static long walk_op(const struct walk_case *w, struct out *o)
{
	struct stat st;
	long r;
	switch (w->op) {
	case W_LIST: {
		int fd = open(w->a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		struct entry *e = malloc(MAX_ENTRIES * sizeof(*e));
		int n = list_dir(fd, e);
		for (int i = 0; i < n; i++)
			note(o, " %s", e[i].name);
		free(e);
		close(fd);
		return 0;
	}
	case W_STAT:
	case W_LSTAT:
	case W_NOFOLLOW:
		r = chk(w->op == W_STAT ? stat(w->a, &st)
			: w->op == W_LSTAT ? lstat(w->a, &st) : fstatat(AT_FDCWD, w->a, &st, AT_SYMLINK_NOFOLLOW));
		if (r == 0 && strncmp(w->a, "../", 3) == 0) /* outside DIR: the type only */
			note(o, " %s", S_ISDIR(st.st_mode) ? "dir" : "not-dir");
		else if (r == 0) {
			note(o, " ");
			show_file(o, &st, AT_FDCWD, w->a);
		}
		return r;
	case W_OPEN: {
		int fd = open(w->a, (int)w->arg | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) == 0) {
			note(o, " fd:");
			show_file(o, &st, fd, "");
		}
		close(fd);
		return 0;
	}
	case W_RMDIR: return chk(rmdir(w->a));
	case W_UNLINK: return chk(unlink(w->a));
	case W_MKDIR: return chk(mkdir(w->a, 0755));
	case W_RENAME: return chk(rename(w->a, w->b));
	case W_LINK: return chk(link(w->a, w->b));
	case W_LINK_FOLLOW: return chk(linkat(AT_FDCWD, w->a, AT_FDCWD, w->b, AT_SYMLINK_FOLLOW));
	case W_SYMLINK: return chk(symlink(w->a, w->b));
	case W_CHMOD: return chk(chmod(w->a, (mode_t)w->arg));
	case W_TRUNCATE: return chk(truncate(w->a, 0));
	case W_CHDIR: {
		char cwd[PATH_MAX];
		int back = open(".", O_PATH | O_CLOEXEC);
		r = chk(chdir(w->a));
		if (r == 0) {
			note(o, " cwd=");
			show_path(o, getcwd(cwd, sizeof(cwd)) ? cwd : "?");
		}
		if (back >= 0 && fchdir(back) == 0)
			close(back);
		return r;
	}
	case W_READLINK: {
		char text[PATH_MAX];
		r = chk(readlink(w->a, text, sizeof(text) - 1));
		if (r >= 0) {
			text[r] = 0;
			note(o, " >%s", text);
		}
		return r;
	}
	default: return chk(access(w->a, W_OK));
	}
}

static void walk_cases(void)
{
	char wdir[PATH_MAX];
	snprintf(wdir, sizeof(wdir), "%s/w", dir);
	for (size_t i = 0; i < sizeof(walks) / sizeof(walks[0]); i++) {
		const struct walk_case *w = &walks[i];
		static struct out o;
		o.n = 0;
		o.s[0] = 0;
		wipe(homefd);
		if (mkdir(wdir, 0755) < 0 || chdir(wdir) < 0) {
			printf("walk/%s: cannot make %s: %s\n", w->name, "w", res(-errno));
			continue;
		}
		walk_setup(w->setup, wdir);
		long r = walk_op(w, &o);
		char head[128];
		snprintf(head, sizeof(head), "walk/%s: %s", w->name, res(r));
		int wfd = open(wdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		note(&o, " |");
		if (wfd >= 0) {
			show_tree(&o, wfd, "");
			close(wfd);
		}
		printf("%s%s\n", head, o.s);
		if (chdir("/") < 0)
			perror("chdir");
	}
}

int main(int argc, char **argv)
{
	alarm(60); /* a backstop: nothing here may hang */
	umask(022);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16);
	if (argc == 5 && strcmp(argv[1], "escape") == 0) {
		victim = argv[2];
		dir = argv[3];
		place = argv[4];
		snprintf(vscript, sizeof(vscript), "%s/vscript", dir);
	} else if (argc == 3 && strcmp(argv[1], "inside") == 0) {
		inside = true;
		victim = "";
		dir = place = argv[2];
	} else {
		fprintf(stderr, "usage: pathescape escape VICTIM-FILE VICTIM-DIR PLACE | inside DIR\n");
		return 2;
	}
	if (place[0] != '/' || (mkdir(place, 0755) < 0 && errno != EEXIST) ||
	    (homefd = open(place, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "pathescape: %s: %s\n", place, strerror(errno));
		return 2;
	}
	struct snap was;
	if (!inside)
		take_snap(&was);
	if (inside) {
		matrix(inside_ptrs, sizeof(inside_ptrs) / sizeof(inside_ptrs[0]), &was);
		walk_cases();
	} else {
		matrix(escape_ptrs, sizeof(escape_ptrs) / sizeof(escape_ptrs[0]), &was);
		race(&was);
	}
	wipe(homefd);
	close(homefd);
	if (inside)
		rmdir(place);
	puts("done");
	return 0;
}
