// SPDX-License-Identifier: Apache-2.0
// Extended attributes: get, set, list and remove, by path (following or not) and by fd. A path is
// walked by the sentry (walk.c); the host call then names the walked entry in its directory without
// following it (the *xattrat() calls, Linux 6.13, with AT_SYMLINK_NOFOLLOW), or for a directory that
// has no entry of its own here (a mount point, "."), a fresh O_RDONLY fd of it. Only "user." names may
// be set or removed, and only in read-write mounts: "security." (file capabilities), "trusted." and
// the ACL names would give host-side powers.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include "../sentry.h"
#include "../systable.h"

#define XATTR_NAME_MAX_ 255
#define XATTR_SIZE_MAX_ 65536
#define SYS_setxattrat_ 463
#define SYS_getxattrat_ 464
#define SYS_listxattrat_ 465
#define SYS_removexattrat_ 466

struct xattr_args_ { /* struct xattr_args of linux/xattr.h (6.13) */
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

enum xop { X_GET, X_SET, X_LIST, X_REMOVE };

struct xreq {
	enum xop op;
	const char *name;
	char *buf;
	size_t size;
	int flags; /* setxattr's XATTR_CREATE / XATTR_REPLACE */
};

/* The request on host fd @h (a real open file). */
static long on_fd(int h, const struct xreq *x)
{
	ssize_t r;
	switch (x->op) {
	case X_GET: r = fgetxattr(h, x->name, x->buf, x->size); break;
	case X_SET: r = fsetxattr(h, x->name, x->buf, x->size, x->flags); break;
	case X_LIST: r = flistxattr(h, x->buf, x->size); break;
	default: r = fremovexattr(h, x->name); break;
	}
	return r < 0 ? -errno : r;
}

/* The request on entry @name of directory @dir, never following it. */
static long on_entry(int dir, const char *name, const struct xreq *x)
{
	struct xattr_args_ args = { .value = (uintptr_t)x->buf, .size = (uint32_t)x->size, .flags = (uint32_t)x->flags };
	long r;
	switch (x->op) {
	case X_GET: r = syscall(SYS_getxattrat_, dir, name, AT_SYMLINK_NOFOLLOW, x->name, &args, sizeof(args)); break;
	case X_SET: r = syscall(SYS_setxattrat_, dir, name, AT_SYMLINK_NOFOLLOW, x->name, &args, sizeof(args)); break;
	case X_LIST: r = syscall(SYS_listxattrat_, dir, name, AT_SYMLINK_NOFOLLOW, x->buf, x->size); break;
	default: r = syscall(SYS_removexattrat_, dir, name, AT_SYMLINK_NOFOLLOW, x->name); break;
	}
	return r < 0 ? -errno : r;
}

static long by_path(struct process *pr, uint64_t upath, bool follow, const struct xreq *x)
{
	char path[SENTRY_PATH_MAX];
	struct walk w;
	long ret = mm_strncpy_in(pr, upath, path, sizeof(path));
	if (ret < 0 || (ret = walk_path(pr, AT_FDCWD, path, WALK_PARENT | (follow ? WALK_FOLLOW : 0), &w)) < 0)
		return ret;
	if (w.proc)
		ret = x->op == X_LIST ? 0 : -EOPNOTSUPP;
	else if (w.fd < 0)
		ret = -ENOENT;
	else if (w.slash && !S_ISDIR(w.st.st_mode))
		ret = -ENOTDIR;
	else if ((x->op == X_SET || x->op == X_REMOVE) && !w.rw)
		ret = -EROFS;
	else if (w.dir >= 0)
		ret = on_entry(w.dir, w.name, x);
	else { /* a directory with no entry to name: a mount point, "." or "/" */
		int d = openat(w.fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		ret = d < 0 ? -errno : on_fd(d, x);
		if (d >= 0)
			close(d);
	}
	walk_done(&w);
	return ret == -ENOSYS ? -EOPNOTSUPP : ret;
}

static bool known_namespace(const char *name)
{
	static const char *const prefix[] = { "security.", "system.", "trusted.", "user." };
	for (size_t i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (strncmp(name, prefix[i], strlen(prefix[i])) == 0)
			return true;
	return false;
}

/* Setting or removing a "user." name by fd: as Linux, only regular files and directories have them
 * (EPERM for a pipe, socket or device, whose own mount is never read-only), then the mount decides. */
static long set_on_fd(struct process *pr, int h, const struct xreq *x)
{
	struct stat st;
	if (fstat(h, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
		return -EPERM;
	return fs_fd_writable(pr, h) ? on_fd(h, x) : -EROFS;
}

/* One xattr call: operation @op (X_GET, X_SET, X_LIST, X_REMOVE) on fd a[0] (@by_fd) or on path a[0]. */
static long xattr_call(struct task *t, const uint64_t a[6], enum xop op, bool by_fd, bool follow)
{
	struct process *pr = t->proc;
	struct xreq x = { .op = op };
	long ret;
	char name[XATTR_NAME_MAX_ + 1];
	uint64_t ubuf = x.op == X_LIST ? a[1] : a[2], size = x.op == X_LIST ? a[2] : a[3];
	if (x.op != X_LIST) {
		long n = mm_strncpy_in(pr, a[1], name, sizeof(name));
		if (n < 0 || n == 0)
			return n == -EFAULT ? -EFAULT : -ERANGE;
		x.name = name;
	}
	if ((x.op == X_SET || x.op == X_REMOVE) && strncmp(name, "user.", 5) != 0)
		return known_namespace(name) ? -EPERM /* never host-side powers: see the top of this file */
					     : -EOPNOTSUPP; /* as Linux: no handler for the name */
	if (x.op == X_SET) {
		if (a[4] & ~(uint64_t)(XATTR_CREATE | XATTR_REPLACE))
			return -EINVAL;
		if (size > XATTR_SIZE_MAX_)
			return -E2BIG;
		x.flags = (int)a[4];
	}
	if (x.op != X_REMOVE) {
		x.size = size > XATTR_SIZE_MAX_ ? XATTR_SIZE_MAX_ : size;
		x.buf = malloc(x.size ? x.size : 1);
		if (!x.buf)
			return -ENOMEM;
	}
	ret = x.op == X_SET && x.size && mm_copy_in(pr, ubuf, x.buf, x.size) < 0 ? -EFAULT : 0;
	if (ret == 0 && by_fd) {
		int h = app_host_fd(pr, a[0]);
		ret = h < 0 ? -EBADF : (x.op == X_SET || x.op == X_REMOVE) ? set_on_fd(pr, h, &x) : on_fd(h, &x);
	} else if (ret == 0) {
		ret = by_path(pr, a[0], follow, &x);
	}
	if (ret > 0 && (x.op == X_GET || x.op == X_LIST) && x.size && mm_copy_out(pr, ubuf, x.buf, (size_t)ret) < 0)
		ret = -EFAULT;
	if (x.op == X_SET && ret > 0)
		ret = 0;
	free(x.buf);
	return ret;
}

/* Entry points of the syscall table (systable.c): get, set, list, remove; by path, by link, by fd. */

SYSCALL_ENTRY(getxattr, xattr_call(t, a, X_GET, false, true))
SYSCALL_ENTRY(lgetxattr, xattr_call(t, a, X_GET, false, false))
SYSCALL_ENTRY(fgetxattr, xattr_call(t, a, X_GET, true, true))
SYSCALL_ENTRY(setxattr, xattr_call(t, a, X_SET, false, true))
SYSCALL_ENTRY(lsetxattr, xattr_call(t, a, X_SET, false, false))
SYSCALL_ENTRY(fsetxattr, xattr_call(t, a, X_SET, true, true))
SYSCALL_ENTRY(listxattr, xattr_call(t, a, X_LIST, false, true))
SYSCALL_ENTRY(llistxattr, xattr_call(t, a, X_LIST, false, false))
SYSCALL_ENTRY(flistxattr, xattr_call(t, a, X_LIST, true, true))
SYSCALL_ENTRY(removexattr, xattr_call(t, a, X_REMOVE, false, true))
SYSCALL_ENTRY(lremovexattr, xattr_call(t, a, X_REMOVE, false, false))
SYSCALL_ENTRY(fremovexattr, xattr_call(t, a, X_REMOVE, true, true))
