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
#include "sentry.h"

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

bool fs_xattr_syscall(struct task *t, uint64_t nr, const uint64_t a[6], long *ret)
{
	struct process *pr = t->proc;
	struct xreq x = { .op = X_GET };
	bool by_fd = false, follow = true;
	switch (nr) {
	case SYS_fgetxattr: by_fd = true; break;
	case SYS_lgetxattr: follow = false; break;
	case SYS_getxattr: break;
	case SYS_fsetxattr: by_fd = true; x.op = X_SET; break;
	case SYS_lsetxattr: follow = false; x.op = X_SET; break;
	case SYS_setxattr: x.op = X_SET; break;
	case SYS_flistxattr: by_fd = true; x.op = X_LIST; break;
	case SYS_llistxattr: follow = false; x.op = X_LIST; break;
	case SYS_listxattr: x.op = X_LIST; break;
	case SYS_fremovexattr: by_fd = true; x.op = X_REMOVE; break;
	case SYS_lremovexattr: follow = false; x.op = X_REMOVE; break;
	case SYS_removexattr: x.op = X_REMOVE; break;
	default: return false;
	}
	char name[XATTR_NAME_MAX_ + 1];
	uint64_t ubuf = x.op == X_LIST ? a[1] : a[2], size = x.op == X_LIST ? a[2] : a[3];
	if (x.op != X_LIST) {
		long n = mm_strncpy_in(pr, a[1], name, sizeof(name));
		if (n < 0 || n == 0) {
			*ret = n == -EFAULT ? -EFAULT : -ERANGE;
			return true;
		}
		x.name = name;
	}
	if ((x.op == X_SET || x.op == X_REMOVE) && strncmp(name, "user.", 5) != 0) {
		*ret = -EPERM; /* never host-side powers: see the top of this file */
		return true;
	}
	if (x.op == X_SET) {
		if (a[4] & ~(uint64_t)(XATTR_CREATE | XATTR_REPLACE)) {
			*ret = -EINVAL;
			return true;
		}
		if (size > XATTR_SIZE_MAX_) {
			*ret = -E2BIG;
			return true;
		}
		x.flags = (int)a[4];
	}
	if (x.op != X_REMOVE) {
		x.size = size > XATTR_SIZE_MAX_ ? XATTR_SIZE_MAX_ : size;
		x.buf = malloc(x.size ? x.size : 1);
		if (!x.buf) {
			*ret = -ENOMEM;
			return true;
		}
	}
	*ret = x.op == X_SET && x.size && mm_copy_in(pr, ubuf, x.buf, x.size) < 0 ? -EFAULT : 0;
	if (*ret == 0 && by_fd) {
		int h = app_host_fd(pr, a[0]);
		*ret = h < 0 ? -EBADF : (x.op == X_SET || x.op == X_REMOVE) && !fs_fd_writable(pr, h) ? -EROFS : on_fd(h, &x);
	} else if (*ret == 0) {
		*ret = by_path(pr, a[0], follow, &x);
	}
	if (*ret > 0 && (x.op == X_GET || x.op == X_LIST) && x.size && mm_copy_out(pr, ubuf, x.buf, (size_t)*ret) < 0)
		*ret = -EFAULT;
	if (x.op == X_SET && *ret > 0)
		*ret = 0;
	free(x.buf);
	return true;
}
