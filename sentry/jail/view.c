// SPDX-License-Identifier: Apache-2.0
// The sentry's mount namespace: the sandbox's view of the host and nothing else (issue 11).
//
// Built in a new mount namespace (every mount private, so nothing propagates back to the host), on a
// small tmpfs that becomes the sentry's root by pivot_root; the host's old tree is then detached:
//
//   /root     the sandbox's "/" (the host's root or --root DIR), every mount below it bound read-only,
//             no set-uid, no devices; its /proc, /tmp (and, for the kernel, everything under them)
//             covered by empty read-only tmpfs (so is the host's /run, where its services' unix
//             sockets live: see hide_sockets), its /sys by a tmpfs holding only devices/system/cpu
//             (what gVisor's /sys shows), its /dev by a tmpfs of the devices the sandbox offers
//             (null zero full random urandom tty ptmx, the host's pts for ptys, fd/std* links)
//   /m/N      the N-th --ro/--rw path: read-only, or read-write; when started by root, --rw paths
//             (and --ro-as-root ones) are idmapped mounts whose host root files are the jail's
//   /tmp /shm the sandbox's private /tmp and /dev/shm: tmpfs, gone with the namespace
//   /scratch  the sentry's own scratch space (listings of the sandbox's /proc)
//   /proc     the sentry's own procfs (subset=pid: its pid namespace's processes, nothing of the host)
//
// The root tmpfs is then read-only: a confused or compromised sentry can write only below /tmp, /shm,
// /scratch and the --rw mounts, whatever path it tries; the kernel enforces it. The sentry's policy
// (policy.c) opens its mount points from these paths.
#include <errno.h>
#include <limits.h>
#include <fcntl.h>
#include <sched.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <linux/capability.h>
#include <linux/openat2.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../sentry.h"

/* The devices a sandbox may open (fs.c decides again, by device number, for every open). */
static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty" };

static bool is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/*
 * A detached copy of the tree of O_PATH fd @src (every mount below it too) with mount attributes
 * @attrs, idmapped through @userns if >= 0: a mount fd to attach(), or -errno.
 */
static int clone_tree(int src, uint64_t attrs, int userns)
{
	int t = (int)syscall(SYS_open_tree, src, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE | AT_EMPTY_PATH);
	if (t < 0)
		return -errno;
	struct mount_attr a = { .attr_set = attrs | (userns >= 0 ? MOUNT_ATTR_IDMAP : 0),
				.userns_fd = userns >= 0 ? (uint64_t)userns : 0 };
	if (syscall(SYS_mount_setattr, t, "", AT_EMPTY_PATH | AT_RECURSIVE, &a, sizeof(a)) < 0) {
		int e = errno;
		close(t);
		return -e;
	}
	return t;
}

/* Attach detached tree @t at @target (and close it). 0, or -1 with errno. */
static int attach(int t, const char *target)
{
	int ret = (int)syscall(SYS_move_mount, t, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH);
	int e = errno;
	close(t);
	errno = e;
	return ret < 0 ? -1 : 0;
}

/* A tmpfs at @target; @size bytes at most (0: the kernel's default, half the host's memory). */
static int tmpfs_sized(const char *target, const char *mode, unsigned owner, uint64_t size)
{
	char data[128];
	int n = snprintf(data, sizeof(data), "mode=%s,uid=%u,gid=%u", mode, owner, owner);
	if (size)
		snprintf(data + n, sizeof(data) - (size_t)n, ",size=%llu", (unsigned long long)size);
	return mount("cvisor", target, "tmpfs", MS_NOSUID | MS_NODEV, data);
}

static int tmpfs(const char *target, const char *mode, unsigned owner)
{
	return tmpfs_sized(target, mode, owner, 0);
}

/*
 * The private /tmp and /dev/shm (stage "tmp" and "shm"). Their pages are the host's memory, outside
 * the memory file: under a memory limit both come out of one tmpfs of that size (two directories of
 * it, bound in place), so that what the sandbox can hold in memory is at most twice its limit, never
 * half the host's memory twice over. A container's /dev/shm has its engine's size when it gives one
 * (its /tmp is the image's: the stage's stays unused).
 */
static int private_tmpfs(const struct sentry_opts *o, unsigned owner)
{
	if (o->oci || !o->mem_limit) {
		uint64_t shm = o->shm_size ? o->shm_size : o->mem_limit;
		return tmpfs("tmp", "1777", owner) < 0 || tmpfs_sized("shm", "1777", owner, shm) < 0 ? -1 : 0;
	}
	if (mkdir("priv", 0700) < 0 || tmpfs_sized("priv", "0700", 0, o->mem_limit) < 0)
		return -1;
	static const char *const dirs[][2] = { { "priv/tmp", "tmp" }, { "priv/shm", "shm" } };
	for (int i = 0; i < 2; i++)
		if (mkdir(dirs[i][0], 01777) < 0 || chown(dirs[i][0], owner, owner) < 0 ||
		    mount(dirs[i][0], dirs[i][1], NULL, MS_BIND, NULL) < 0)
			return -1;
	return 0;
}

static int readonly(const char *target)
{
	return mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL);
}

/* Cover @dir of the sandbox's root with an empty read-only tmpfs, if it has one. */
static int hide(const char *dir)
{
	if (!is_dir(dir))
		return 0;
	return tmpfs(dir, "0555", 0) < 0 || readonly(dir) < 0 ? -1 : 0;
}

/*
 * The host's /run, where its services keep their unix sockets (D-Bus, journald, databases: often
 * world-writable, and a socket connects through a read-only mount): empty in the view of the host's
 * root, so a compromised sentry cannot reach them either. A resolv.conf that lives under /run
 * (systemd-resolved's) is bound back, for --net.
 */
static int hide_sockets(void)
{
	char conf[4096];
	bool keep = realpath("/etc/resolv.conf", conf) && strncmp(conf, "/run/", 5) == 0;
	if (!is_dir("root/run"))
		return 0;
	if (tmpfs("root/run", "0755", 0) < 0)
		return -1;
	if (keep) {
		char here[4200] = "root";
		for (char *slash = conf + 1; (slash = strchr(slash, '/')); *slash++ = '/') {
			*slash = 0;
			snprintf(here, sizeof(here), "root%s", conf);
			if (mkdir(here, 0755) < 0 && errno != EEXIST)
				return -1;
		}
		snprintf(here, sizeof(here), "root%s", conf);
		int fd = open(here, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
		if (fd < 0)
			return -1;
		close(fd);
		if (mount(conf, here, NULL, MS_BIND, NULL) < 0 ||
		    mount(NULL, here, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0)
			return -1;
	}
	return readonly("root/run");
}

/* The sandbox's /sys: only the CPUs' directory of the host's. */
static int make_sys(void)
{
	if (!is_dir("root/sys"))
		return 0;
	if (tmpfs("root/sys", "0555", 0) < 0)
		return -1;
	if (is_dir("/sys/devices/system/cpu")) {
		int src = open("/sys/devices/system/cpu", O_PATH | O_DIRECTORY | O_CLOEXEC);
		int t = src < 0 ? -1 : clone_tree(src, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, -1);
		if (src >= 0)
			close(src);
		if (t < 0) {
			errno = src < 0 ? errno : -t;
			return -1;
		}
		if (mkdir("root/sys/devices", 0555) < 0 || mkdir("root/sys/devices/system", 0555) < 0 ||
		    mkdir("root/sys/devices/system/cpu", 0555) < 0) {
			int e = errno;
			close(t);
			errno = e;
			return -1;
		}
		if (attach(t, "root/sys/devices/system/cpu") < 0)
			return -1;
	}
	return readonly("root/sys");
}

/*
 * The sandbox's /dev: the devices it is offered, bound from the host's, and the usual links. ptmx finds
 * its devpts as "pts" beside it, which a bound file cannot show (its parent is not in the bind): as root,
 * a ptmx node of our own beside the host's devpts (the caller's terminal keeps its name); otherwise a
 * devpts instance of the sandbox's own, ptmx a link into it.
 */
static int make_dev(bool root)
{
	if (!is_dir("root/dev"))
		return 0;
	if (mount("cvisor", "root/dev", "tmpfs", MS_NOSUID | (root ? 0 : MS_NODEV), "mode=0755") < 0)
		return -1;
	char host[64], here[64];
	for (size_t i = 0; i < sizeof(devices) / sizeof(devices[0]); i++) {
		snprintf(host, sizeof(host), "/dev/%s", devices[i]);
		snprintf(here, sizeof(here), "root/dev/%s", devices[i]);
		struct stat st;
		if (stat(host, &st) < 0 || !S_ISCHR(st.st_mode))
			continue;
		int fd = open(here, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0666);
		if (fd < 0)
			return -1;
		close(fd);
		if (mount(host, here, NULL, MS_BIND, NULL) < 0)
			return -1;
	}
	/* fs.c lets the sandbox open only the ptys it holds the master of and the caller's terminal. */
	if (mkdir("root/dev/pts", 0755) < 0)
		return -1;
	if (root && is_dir("/dev/pts")) {
		if (mount("/dev/pts", "root/dev/pts", NULL, MS_BIND, NULL) < 0 ||
		    mknod("root/dev/ptmx", S_IFCHR | 0666, makedev(5, 2)) < 0)
			return -1;
	} else if (mount("devpts", "root/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620") == 0) {
		if (symlink("pts/ptmx", "root/dev/ptmx") < 0)
			return -1;
	}
	if (mkdir("root/dev/shm", 01777) < 0 || symlink("/proc/self/fd", "root/dev/fd") < 0 ||
	    symlink("/proc/self/fd/0", "root/dev/stdin") < 0 || symlink("/proc/self/fd/1", "root/dev/stdout") < 0 ||
	    symlink("/proc/self/fd/2", "root/dev/stderr") < 0)
		return -1;
	return mount(NULL, "root/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | (root ? 0 : MS_NODEV), NULL);
}

/* --- A container's root (opts.oci): an overlay over the image, and the mounts config.json asks for --- */

/* The jail's id as the mounter of the overlay and the maker of mount points (idmapped: host root's). */
static void as_jail(bool on)
{
	setfsgid(on ? 65534 : 0);
	setfsuid(on ? 65534 : 0);
	if (!on)
		return; /* back to fsuid 0: the kernel gives the file capabilities back by itself */
	/* Leaving fsuid 0 cleared CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_FOWNER...: the overlay's creator must
	 * keep them to copy files up with their owners and modes. */
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];
	if (syscall(SYS_capget, &h, d) == 0) {
		d[0].effective = d[0].permitted;
		d[1].effective = d[1].permitted;
		syscall(SYS_capset, &h, d);
	}
}

/*
 * The overlay: @lower (the image, never written) under @state/upper (copy-up) with @state/work, as a
 * detached mount fd, or -errno. Started by root, both layers are idmapped mounts through the jail's
 * user namespace and the jail's id creates the overlay, so that what the sandbox writes is owned on
 * the disk as it would be natively (root's files are the jail's, as for --rw). Otherwise the overlay
 * is one of the caller's own user namespace (Linux >= 5.11), with user.* xattrs.
 */
#define MAX_LAYERS 128

/* The engine's overlay at @root_path as idmapped read-only layers (layers.c): their detached trees
 * in @t and "lowerdir" in @spec; how many, or -errno. */
static int engine_layers(const char *root_path, int userns, int *t, char *spec, size_t len)
{
	char real[PATH_MAX];
	char *layers = realpath(root_path, real) ? overlay_layers(real) : NULL;
	if (!layers)
		return -EINVAL;
	int n = 0, ret = 0;
	size_t used = 0;
	spec[0] = 0;
	for (char *save = NULL, *dir = strtok_r(layers, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		int d = n < MAX_LAYERS ? open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
		if (n == MAX_LAYERS)
			errno = E2BIG;
		t[n] = d < 0 ? -errno : clone_tree(d, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, userns);
		if (d >= 0)
			close(d);
		if (t[n] < 0) {
			ret = t[n];
			break;
		}
		int w = snprintf(spec + used, len - used, "%s/proc/self/fd/%d", n ? ":" : "", t[n]);
		n++;
		if (w < 0 || (size_t)w >= len - used) {
			ret = -E2BIG;
			break;
		}
		used += (size_t)w;
	}
	free(layers);
	if (ret < 0) {
		while (n > 0)
			if (t[--n] >= 0)
				close(t[n]);
		return ret;
	}
	return n;
}

static int make_overlay(int lower, int state, int userns, const char *root_path)
{
	int l = lower, st = state, fs = -1, m = -1, ret, layer[MAX_LAYERS], n_layers = 0;
	char spec[MAX_LAYERS * 24 + 32];
	snprintf(spec, sizeof(spec), "/proc/self/fd/%d", l);
	if (userns >= 0) {
		l = clone_tree(lower, MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, userns);
		if (l == -EINVAL) { /* an engine's overlay root: not mappable itself, its layers are */
			n_layers = engine_layers(root_path, userns, layer, spec, sizeof(spec));
			if (n_layers < 0) {
				n_layers = 0;
				ret = l;
				goto out;
			}
		} else if (l < 0) {
			ret = l;
			goto out;
		} else {
			snprintf(spec, sizeof(spec), "/proc/self/fd/%d", l);
		}
		if ((st = clone_tree(state, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV, userns)) < 0) {
			ret = st;
			goto out;
		}
	}
	fs = (int)syscall(SYS_fsopen, "overlay", FSOPEN_CLOEXEC);
	char path[64];
	if (fs < 0 || syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "lowerdir", spec, 0) < 0)
		goto fail;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/upper", st);
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "upperdir", path, 0) < 0)
		goto fail;
	snprintf(path, sizeof(path), "/proc/self/fd/%d/work", st);
	if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "workdir", path, 0) < 0 ||
	    (userns < 0 && syscall(SYS_fsconfig, fs, FSCONFIG_SET_FLAG, "userxattr", NULL, 0) < 0))
		goto fail;
	if (userns >= 0)
		as_jail(true);
	ret = (int)syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
	int e = errno;
	if (userns >= 0)
		as_jail(false);
	errno = e;
	if (ret < 0 || (m = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV)) < 0)
		goto fail;
	ret = m;
	goto out;
fail:
	ret = -errno;
out:
	if (fs >= 0)
		close(fs);
	for (int i = 0; i < n_layers; i++)
		close(layer[i]);
	if (userns >= 0 && l >= 0)
		close(l);
	if (userns >= 0 && st >= 0)
		close(st);
	return ret;
}

/*
 * Open sandbox path @dest of the root @rootfd for a mount on it (O_PATH), making what is missing
 * (directories, and the last component as a directory or an empty file) in the overlay; or -errno.
 * Never through a symlink, so that an image cannot send a mount anywhere but where the sandbox will
 * look: a symlink as the last component is replaced (an engine's /etc/resolv.conf over the image's
 * link), one before it refused (-ELOOP).
 */
static int mount_point(int rootfd, const char *dest, bool dir)
{
	char buf[SENTRY_PATH_MAX];
	snprintf(buf, sizeof(buf), "%s", dest);
	int cur = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
	char *save = NULL;
	for (char *c = strtok_r(buf, "/", &save); c && cur >= 0; c = strtok_r(NULL, "/", &save)) {
		bool last = !save || !*save || strspn(save, "/") == strlen(save);
		if (strcmp(c, "..") == 0 || strcmp(c, ".") == 0) {
			close(cur);
			return -EINVAL;
		}
		struct open_how how = { .flags = O_PATH | O_NOFOLLOW | O_CLOEXEC,
					.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS };
		int fd = (int)syscall(SYS_openat2, cur, c, &how, sizeof(how));
		struct stat st;
		if (fd >= 0 && fstat(fd, &st) == 0 && S_ISLNK(st.st_mode)) {
			close(fd);
			fd = -1;
			errno = ELOOP;
			if (last && unlinkat(cur, c, 0) == 0)
				errno = ENOENT;
		}
		if (fd < 0 && errno == ENOENT) {
			int made;
			if (!last || dir) {
				made = mkdirat(cur, c, 0755);
			} else {
				made = openat(cur, c, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
				if (made >= 0)
					made = close(made);
			}
			if (made == 0)
				fd = (int)syscall(SYS_openat2, cur, c, &how, sizeof(how));
		}
		int e = errno;
		close(cur);
		if (fd >= 0 && !last && (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))) {
			close(fd);
			return -ENOTDIR;
		}
		cur = fd < 0 ? -e : fd;
	}
	return cur;
}

/* config.json's mounts, in its order, on the root attached at "root"; @srcs their opened sources. */
static int container_mounts(const struct sentry_opts *o, const int *srcs, int userns, char *err, size_t errlen)
{
	int rootfd = open("root", O_PATH | O_DIRECTORY | O_CLOEXEC), ret = 0;
	if (rootfd < 0)
		return -errno;
	if (userns >= 0)
		as_jail(true); /* what it makes is the jail's: host root's on the disk */
	/* The places the sentry's own /proc, /sys, /dev and /tmp go, if the image lacks them. */
	static const char *const own[] = { "/proc", "/sys", "/dev", "/tmp" };
	for (size_t i = 0; o->overlay && i < sizeof(own) / sizeof(own[0]); i++) {
		int fd = mount_point(rootfd, own[i], true);
		if (fd >= 0)
			close(fd);
	}
	for (int i = 0; i < o->n_mounts && ret == 0; i++) {
		const struct sentry_mount *m = &o->mounts[i];
		struct stat st;
		bool dir = !m->src || (fstat(srcs[i], &st) == 0 && S_ISDIR(st.st_mode));
		int at = mount_point(rootfd, m->dest, dir);
		if (at < 0) {
			ret = at;
			snprintf(err, errlen, "mount destination %s: %s", m->dest,
				 at == -ELOOP ? "a symlink in the image on the way (not supported)" : strerror(-at));
			break;
		}
		char target[64];
		snprintf(target, sizeof(target), "/proc/self/fd/%d", at);
		if (!m->src) {
			char data[512];
			unsigned id = userns >= 0 ? 65534 : 0;
			int dn = snprintf(data, sizeof(data), "uid=%u,gid=%u%s%s", id, id, m->data ? "," : "",
					  m->data ? m->data : "");
			/* host memory outside the memory file: under a limit, at most that (private_tmpfs) */
			bool sized = m->data && strstr(m->data, "size=");
			if (o->mem_limit && !sized && dn > 0 && (size_t)dn < sizeof(data))
				snprintf(data + dn, sizeof(data) - (size_t)dn, ",size=%llu",
					 (unsigned long long)o->mem_limit);
			if (mount("cvisor", target, "tmpfs", MS_NOSUID | MS_NODEV | (m->rw ? 0 : MS_RDONLY), data) < 0)
				ret = -errno;
		} else {
			bool mapped = m->rw && userns >= 0;
			uint64_t attrs = (m->rw ? 0 : MOUNT_ATTR_RDONLY) | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
			int t = clone_tree(srcs[i], attrs, mapped ? userns : -1);
			if (t == -EINVAL && mapped) /* a file system that cannot map ownership */
				t = clone_tree(srcs[i], attrs, -1);
			if (t < 0)
				ret = t;
			else if (syscall(SYS_move_mount, t, "", at, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
				ret = -errno;
			if (t >= 0)
				close(t);
		}
		if (ret < 0)
			snprintf(err, errlen, "cannot mount %s on %s: %s", m->src ? m->src : "tmpfs", m->dest, strerror(-ret));
		close(at);
	}
	if (userns >= 0)
		as_jail(false);
	close(rootfd);
	return ret;
}

int view_build(const struct sentry_opts *o, int idmap_userns, char *err, size_t errlen)
{
	/* Owner of the writable tmpfs: the jail's id 0, as the mounter names it (host nobody for root). */
	unsigned owner = idmap_userns >= 0 ? 65534 : 0;
	int trees[33], n = 0, ret = 0, srcs[SENTRY_MAX_MOUNTS], n_srcs = 0, state = -1;
	const char *step = "private mounts";
	mode_t mask = umask(0); /* the modes below are meant exactly */
	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
		goto fail;
	/* A container's mount sources and overlay directory, opened before anything covers them. */
	for (; n_srcs < o->n_mounts && n_srcs < SENTRY_MAX_MOUNTS; n_srcs++) {
		const char *src = o->mounts[n_srcs].src;
		srcs[n_srcs] = src ? open(src, O_PATH | O_CLOEXEC) : -1;
		if (src && srcs[n_srcs] < 0) {
			ret = -errno;
			snprintf(err, errlen, "mount source %s: %s", src, strerror(errno));
			goto out;
		}
	}
	if (o->overlay && (state = open(o->overlay, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0) {
		step = o->overlay;
		goto fail;
	}
	/* Copies of the trees the sandbox sees, taken in this namespace before anything covers them. */
	const char *rootdir = o->root ? o->root : "/";
	for (; n <= o->n_binds; n++) {
		const struct sentry_bind *b = n ? &o->binds[n - 1] : NULL;
		step = b ? b->path : rootdir;
		int src = open(step, O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (src < 0) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s%s", step, strerror(errno), b ? " (only directories can be mounted)" : "");
			goto out;
		}
		if (!b && o->overlay) { /* a container's root: the image under a private upper directory */
			trees[0] = make_overlay(src, state, idmap_userns, rootdir);
			close(src);
			if (trees[0] < 0) {
				errno = -trees[0];
				step = "the root's overlay";
				goto fail;
			}
			continue;
		}
		bool mapped = b && idmap_userns >= 0 && (b->rw || b->as_root);
		uint64_t attrs = (b && b->rw ? 0 : MOUNT_ATTR_RDONLY) | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
		trees[n] = clone_tree(src, attrs, mapped ? idmap_userns : -1);
		if (trees[n] == -EINVAL && mapped) { /* a file system that cannot map ownership */
			fprintf(stderr, "cvisor: %s: its file system cannot map ownership; the sandbox %s it as uid %u\n",
				b->path, b->rw ? "writes" : "reads", owner);
			trees[n] = clone_tree(src, attrs, -1);
		}
		close(src);
		if (trees[n] < 0) {
			errno = -trees[n];
			goto fail;
		}
	}
	const char *stage = is_dir("/tmp") ? "/tmp" : is_dir("/mnt") ? "/mnt" : "/dev";
	step = "the sentry's root";
	if (mount("cvisor", stage, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0 || chdir(stage) < 0)
		goto fail;
	if (mkdir("root", 0755) < 0 || mkdir("proc", 0555) < 0 || mkdir("tmp", 01777) < 0 || mkdir("shm", 01777) < 0 ||
	    mkdir("scratch", 0700) < 0 || mkdir("m", 0755) < 0)
		goto fail;
	step = "the sandbox's root";
	ret = attach(trees[0], "root");
	trees[0] = -1;
	if (ret < 0)
		goto fail;
	if (o->n_mounts || o->overlay) {
		if ((ret = container_mounts(o, srcs, idmap_userns, err, errlen)) < 0)
			goto out;
	}
	step = "the sandbox's /proc, /tmp, /sys and /dev";
	if (hide("root/proc") < 0 || (!o->oci && hide("root/tmp") < 0) || make_sys() < 0 ||
	    make_dev(idmap_userns >= 0) < 0 || (!o->root && hide_sockets() < 0))
		goto fail;
	step = "the read-only root";
	if (o->overlay && o->root_ro && readonly("root") < 0)
		goto fail;
	step = "the private /tmp and /dev/shm";
	if (private_tmpfs(o, owner) < 0 || tmpfs("scratch", "0700", owner) < 0)
		goto fail;
	for (int i = 1; i < n; i++) {
		char at[32];
		snprintf(at, sizeof(at), "m/%d", i - 1);
		step = o->binds[i - 1].path;
		ret = mkdir(at, 0755) < 0 ? -1 : attach(trees[i], at);
		trees[i] = -1;
		if (ret < 0)
			goto fail;
	}
	step = "the sentry's /proc";
	if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, "subset=pid") < 0)
		goto fail;
	step = "pivot_root";
	if (syscall(SYS_pivot_root, ".", ".") < 0 || umount2(".", MNT_DETACH) < 0 || chdir("/") < 0)
		goto fail;
	step = "the read-only root";
	if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
		goto fail;
	ret = 0;
	goto out;
fail:
	ret = -errno;
	snprintf(err, errlen, "cannot build the sentry's view (%s): %s", step, strerror(errno));
out:
	umask(mask);
	for (int i = 0; i < n; i++)
		if (trees[i] >= 0)
			close(trees[i]);
	for (int i = 0; i < n_srcs; i++)
		if (srcs[i] >= 0)
			close(srcs[i]);
	if (state >= 0)
		close(state);
	return ret;
}
