// SPDX-License-Identifier: Apache-2.0
// Credentials: the sandbox runs with its caller's user and groups (jail.c: not the sentry's own), fixed, and no capabilities. The set*id
// calls succeed only when they change nothing; capget reports an empty set. Also the umask.
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "sentry.h"

#define NGROUPS_MAX_ 65536
#define NO_CHANGE ((uint32_t)-1) /* a set*id argument that keeps the current id */

static long put_ids(struct process *pr, const uint32_t ids[3], const uint64_t uptr[3])
{
	for (int i = 0; i < 3; i++)
		if (mm_copy_out(pr, uptr[i], &ids[i], sizeof(ids[i])) < 0)
			return -EFAULT;
	return 0;
}

/* Would setting ids @want (NO_CHANGE: keep) over @cur leave every one as it is? */
static long unchanged(const uint32_t cur[3], const uint32_t want[3])
{
	for (int i = 0; i < 3; i++)
		if (want[i] != NO_CHANGE && want[i] != cur[i])
			return -EPERM;
	return 0;
}

long sys_ids(struct task *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	const struct launch *L = t->proc->s->L;
	const uint32_t *uid = L->uid, *gid = L->gid;
	uint32_t x = (uint32_t)a0, y = (uint32_t)a1, z = (uint32_t)a2;
	switch (nr) {
	case SYS_getresuid: return put_ids(t->proc, uid, (const uint64_t[3]){ a0, a1, a2 });
	case SYS_getresgid: return put_ids(t->proc, gid, (const uint64_t[3]){ a0, a1, a2 });
	/* setuid(x) as an unprivileged process sets the effective id; as root all three. */
	case SYS_setuid: return x == NO_CHANGE ? -EINVAL : unchanged(uid, (const uint32_t[3]){ uid[1] ? NO_CHANGE : x, x, uid[1] ? NO_CHANGE : x });
	case SYS_setgid: return x == NO_CHANGE ? -EINVAL : unchanged(gid, (const uint32_t[3]){ uid[1] ? NO_CHANGE : x, x, uid[1] ? NO_CHANGE : x });
	case SYS_setreuid: return unchanged(uid, (const uint32_t[3]){ x, y, NO_CHANGE });
	case SYS_setregid: return unchanged(gid, (const uint32_t[3]){ x, y, NO_CHANGE });
	case SYS_setresuid: return unchanged(uid, (const uint32_t[3]){ x, y, z });
	case SYS_setresgid: return unchanged(gid, (const uint32_t[3]){ x, y, z });
	case SYS_setfsuid: return uid[1]; /* returns the previous fsuid, which stays */
	case SYS_setfsgid: return gid[1];
	default: return -ENOSYS;
	}
}

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return x < y ? -1 : x > y;
}

/* setgroups: only the current supplementary groups (in any order) are accepted. */
long sys_setgroups(struct task *t, uint64_t size, uint64_t ulist)
{
	if (t->proc->s->L->uid[1] != 0)
		return -EPERM; /* without CAP_SETGID, before anything else (as Linux checks) */
	if (size > NGROUPS_MAX_)
		return -EINVAL;
	gid_t cur[64], *want = calloc(size ? size : 1, sizeof(gid_t));
	if (!want)
		return -ENOMEM;
	long ret = size && mm_copy_in(t->proc, ulist, want, size * sizeof(gid_t)) < 0 ? -EFAULT : 0;
	const struct launch *L = t->proc->s->L;
	int n = L->ngroups;
	for (int i = 0; i < n; i++)
		cur[i] = L->groups[i];
	if (ret == 0 && (n < 0 || (uint64_t)n != size))
		ret = -EPERM;
	if (ret == 0) {
		qsort(cur, (size_t)n, sizeof(gid_t), cmp_gid);
		qsort(want, size, sizeof(gid_t), cmp_gid);
		ret = memcmp(cur, want, size * sizeof(gid_t)) ? -EPERM : 0;
	}
	free(want);
	return ret;
}

/* capget reports that the sandbox holds no capabilities; capset may only keep it so. */
long sys_capability(struct task *t, bool set, uint64_t uhdr, uint64_t udata)
{
	struct process *pr = t->proc;
	struct __user_cap_header_struct hdr;
	if (mm_copy_in(pr, uhdr, &hdr, sizeof(hdr)) < 0)
		return -EFAULT;
	int words = hdr.version == _LINUX_CAPABILITY_VERSION_1 ? 1
		    : hdr.version == _LINUX_CAPABILITY_VERSION_2 || hdr.version == _LINUX_CAPABILITY_VERSION_3 ? 2 : 0;
	if (!words) { /* tell the caller which version to use */
		hdr.version = _LINUX_CAPABILITY_VERSION_3;
		if (mm_copy_out(pr, uhdr, &hdr.version, sizeof(hdr.version)) < 0)
			return -EFAULT;
		return udata || set ? -EINVAL : 0;
	}
	if (hdr.pid < 0)
		return -EINVAL;
	pthread_mutex_lock(&pr->s->lock);
	bool found = hdr.pid == 0 || hdr.pid == t->tid;
	for (struct process *p = pr->s->procs; p && !found; p = p->next)
		for (struct task *o = p->zombie ? NULL : p->tasks; o; o = o->next)
			found |= !o->exited && o->tid == hdr.pid;
	pthread_mutex_unlock(&pr->s->lock);
	if (set && hdr.pid != 0 && hdr.pid != t->tid)
		return -EPERM;
	if (!found)
		return -ESRCH;
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	if (!set)
		return udata ? mm_copy_out(pr, udata, data, (size_t)words * sizeof(data[0])) : 0;
	struct __user_cap_data_struct want[2];
	memset(want, 0, sizeof(want));
	if (mm_copy_in(pr, udata, want, (size_t)words * sizeof(want[0])) < 0)
		return -EFAULT;
	return memcmp(want, data, sizeof(data)) ? -EPERM : 0;
}

long sys_umask(struct task *t, uint64_t mask)
{
	struct process *pr = t->proc;
	mode_t old = pr->umask;
	pr->umask = (mode_t)(mask & 0777);
	return old;
}
