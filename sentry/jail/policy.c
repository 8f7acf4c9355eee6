// SPDX-License-Identifier: Apache-2.0
// The file-system policy: what the sandbox sees where, and where it may write.
//
// The sandbox's tree is a set of mount points, each a sandbox path bound to a host directory opened
// once (O_PATH) and marked read-only or read-write: "/" (the host root or --root DIR, read-only),
// "/tmp" and "/dev/shm" (private host directories removed at exit, read-write), and every --ro/--rw
// PATH. Paths are resolved against this table by walk.c.
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../sentry.h"

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
	struct stat st;
	m->dev = fstat(m->fd, &st) == 0 ? st.st_dev : 0;
	struct statfs sf;
	m->on_procfs = fstatfs(m->fd, &sf) < 0 || sf.f_type == PROC_SUPER_MAGIC;
	m->nodev = !m->on_procfs && (sf.f_flags & ST_NODEV); /* (the view's mounts all are: view.c) */
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

/* Confined, the sentry's own mount namespace holds each place at a fixed path (view.c). */
static int policy_init_view(struct sentry *s, char *err, size_t errlen)
{
	const struct sentry_opts *o = &s->opts;
	/* A container's root is writable through its overlay (view.c) unless config.json says read-only. */
	int ret = add_mount(s, "/", "/root", o->overlay && !o->root_ro, err, errlen);
	if (ret == 0 && !o->oci) /* a container's /tmp is its image's */
		ret = add_mount(s, "/tmp", "/tmp", true, err, errlen);
	if (ret == 0)
		ret = add_mount(s, "/dev/shm", "/shm", true, err, errlen);
	for (int i = 0; ret == 0 && i < o->n_binds; i++) {
		char at[32];
		snprintf(at, sizeof(at), "/m/%d", i);
		ret = add_mount(s, o->binds[i].path, at, o->binds[i].rw, err, errlen);
	}
	/* A container's directory mounts are the kernel's below /root; the policy marks them read-only
	 * or writable too (a volume writable under a read-only root). A file's bind is left to the kernel. */
	for (int i = 0; ret == 0 && i < o->n_mounts; i++) {
		char at[SENTRY_PATH_MAX + 8];
		struct stat st;
		snprintf(at, sizeof(at), "/root%s", o->mounts[i].dest);
		if (stat(at, &st) == 0 && S_ISDIR(st.st_mode))
			ret = add_mount(s, o->mounts[i].dest, at, o->mounts[i].rw, err, errlen);
	}
	strcpy(s->proc_dir, "/scratch");
	return ret;
}

int policy_init(struct sentry *s, char *err, size_t errlen)
{
	const struct sentry_opts *o = &s->opts;
	if (s->L->confined)
		return policy_init_view(s, err, errlen);
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
	if (s->proc_dir[0] && !s->L->confined)
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

const struct mountpt *policy_host_mount(const struct policy *pol, const char *host, size_t *len)
{
	const struct mountpt *best = NULL;
	size_t best_len = 0;
	for (int i = 0; i < pol->n; i++) {
		const struct mountpt *m = &pol->m[i];
		size_t l = strcmp(m->hpath, "/") == 0 ? 0 : strlen(m->hpath);
		if (strncmp(host, m->hpath, l) == 0 && (host[l] == '/' || host[l] == 0) && (!best || l >= best_len)) {
			best = m;
			best_len = l;
		}
	}
	*len = best_len;
	return best;
}

/* Sandbox path of an application fd's file, mapped back through the mount points. */
int fs_fd_spath(struct process *pr, int hfd, char *out)
{
	char link[64], host[SENTRY_PATH_MAX];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", hfd); /* the sentry's own view of its fd */
	ssize_t n = readlink(link, host, sizeof(host) - 1);
	if (n < 0)
		return -EBADF;
	host[n] = 0;
	if (procfs_host_path(pr->s, host, out, SENTRY_PATH_MAX))
		return 0; /* a /proc listing: the /proc directory it shows */
	size_t best_len;
	const struct mountpt *best = policy_host_mount(&pr->s->pol, host, &best_len);
	if (!best)
		return -EBADF;
	char joined[2 * SENTRY_PATH_MAX];
	snprintf(joined, sizeof(joined), "%s/%s", best->spath, host + best_len);
	return policy_normalize("/", joined, out);
}

long fs_fd_path(struct process *pr, int hfd, char *out, size_t cap)
{
	char sp[SENTRY_PATH_MAX];
	if (fs_fd_spath(pr, hfd, sp) == 0)
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
