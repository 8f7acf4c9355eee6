// SPDX-License-Identifier: Apache-2.0
// Credentials: each process of the sandbox has real, effective, saved and fs user and group ids and
// supplementary groups (struct creds), its caller's at first (jail.c: not the sentry's own). The set*id
// calls follow Linux's rules, the sandbox's root (effective uid 0) holding CAP_SETUID/CAP_SETGID and,
// for capget, every capability; the others none. The host never sees these ids: the sentry is one
// host identity, and files keep the owners the host gives them (stat reports them, ids.c). Also umask.
#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/ipc.h>
#include "../sentry.h"
#include "../systable.h"

#define NGROUPS_MAX_ 65536
#define NO_CHANGE ((uint32_t)-1) /* a set*id argument that keeps the current id */

static long put_ids(struct process *pr, const uint32_t ids[3], const uint64_t uptr[3])
{
	for (int i = 0; i < 3; i++)
		if (mm_copy_out(pr, uptr[i], &ids[i], sizeof(ids[i])) < 0)
			return -EFAULT;
	return 0;
}

static bool is_one_of(uint32_t id, const uint32_t cur[4])
{
	return id == cur[0] || id == cur[1] || id == cur[2];
}

/* setresuid/setresgid (@want: r, e, s; NO_CHANGE keeps one) on ids @cur, as Linux: the privileged may
 * set any id, the others only ids they have. The fs id follows the effective one. */
static long set_res(uint32_t cur[4], const uint32_t want[3], bool privileged)
{
	for (int i = 0; i < 3; i++)
		if (want[i] != NO_CHANGE && !privileged && !is_one_of(want[i], cur))
			return -EPERM;
	for (int i = 0; i < 3; i++)
		if (want[i] != NO_CHANGE)
			cur[i] = want[i];
	cur[3] = cur[1];
	return 0;
}

/* setreuid/setregid: the real id may become the effective, the effective any of the three; the saved
 * id follows the new effective one when the real id is set or the effective differs from the old real. */
static long set_re(uint32_t cur[4], uint32_t r, uint32_t e, bool privileged)
{
	uint32_t old_r = cur[0];
	if (!privileged && ((r != NO_CHANGE && r != cur[0] && r != cur[1]) || (e != NO_CHANGE && !is_one_of(e, cur))))
		return -EPERM;
	if (r != NO_CHANGE)
		cur[0] = r;
	if (e != NO_CHANGE)
		cur[1] = e;
	if (r != NO_CHANGE || (e != NO_CHANGE && e != old_r))
		cur[2] = cur[1];
	cur[3] = cur[1];
	return 0;
}

/* setuid/setgid: the privileged set all three; the others only the effective, to their real or saved. */
static long set_one(uint32_t cur[4], uint32_t x, bool privileged)
{
	if (privileged) {
		cur[0] = cur[1] = cur[2] = cur[3] = x;
		return 0;
	}
	if (x != cur[0] && x != cur[2])
		return -EPERM;
	cur[1] = cur[3] = x;
	return 0;
}

/* setfsuid/setfsgid: the old fs id, always; changed when allowed. */
static long set_fs(uint32_t cur[4], uint32_t x, bool privileged)
{
	uint32_t old = cur[3];
	if (x != NO_CHANGE && (privileged || is_one_of(x, cur) || x == cur[3]))
		cur[3] = x;
	return old;
}

long sys_ids(struct task *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct process *pr = t->proc;
	struct creds *c = &pr->cred;
	uint32_t x = (uint32_t)a0, y = (uint32_t)a1, z = (uint32_t)a2;
	/* CAP_SETUID and CAP_SETGID: the sandbox's root has them; a uid change drops them with it */
	bool priv = cred_root(c);
	long ret;
	pthread_mutex_lock(&pr->s->lock); /* /proc readers look at them */
	switch (nr) {
	case SYS_getresuid: {
		uint32_t ids[3] = { c->uid[0], c->uid[1], c->uid[2] };
		pthread_mutex_unlock(&pr->s->lock);
		return put_ids(pr, ids, (const uint64_t[3]){ a0, a1, a2 });
	}
	case SYS_getresgid: {
		uint32_t ids[3] = { c->gid[0], c->gid[1], c->gid[2] };
		pthread_mutex_unlock(&pr->s->lock);
		return put_ids(pr, ids, (const uint64_t[3]){ a0, a1, a2 });
	}
	case SYS_setuid: ret = x == NO_CHANGE ? -EINVAL : set_one(c->uid, x, priv); break;
	case SYS_setgid: ret = x == NO_CHANGE ? -EINVAL : set_one(c->gid, x, priv); break;
	case SYS_setreuid: ret = set_re(c->uid, x, y, priv); break;
	case SYS_setregid: ret = set_re(c->gid, x, y, priv); break;
	case SYS_setresuid: ret = set_res(c->uid, (const uint32_t[3]){ x, y, z }, priv); break;
	case SYS_setresgid: ret = set_res(c->gid, (const uint32_t[3]){ x, y, z }, priv); break;
	case SYS_setfsuid: ret = set_fs(c->uid, x, priv); break;
	case SYS_setfsgid: ret = set_fs(c->gid, x, priv); break;
	default: ret = -ENOSYS; break;
	}
	if (ret >= 0 && nr != SYS_setfsuid && nr != SYS_setfsgid && nr != SYS_setgid && nr != SYS_setregid &&
	    nr != SYS_setresgid) { /* capabilities follow the uids, as Linux's (without keepcaps) */
		if (c->uid[0] && c->uid[1] && c->uid[2])
			c->cap_prm = c->cap_eff = 0;
		else if (c->uid[1])
			c->cap_eff = 0;
		else
			c->cap_eff = c->cap_prm;
	}
	pthread_mutex_unlock(&pr->s->lock);
	return ret;
}

static int cmp_gid(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;
	return x < y ? -1 : x > y;
}

/* setgroups: the sandbox's root sets any list (CAP_SETGID); anyone else gets EPERM, as Linux. */
long sys_setgroups(struct task *t, uint64_t size, uint64_t ulist)
{
	struct process *pr = t->proc;
	if (!cred_root(&pr->cred))
		return -EPERM; /* without CAP_SETGID, before anything else (as Linux checks) */
	if (size > NGROUPS_MAX_)
		return -EINVAL;
	if (size > 64)
		return -ENOMEM; /* more than the sandbox keeps */
	uint32_t want[64];
	if (size && mm_copy_in(pr, ulist, want, size * sizeof(gid_t)) < 0)
		return -EFAULT;
	qsort(want, size, sizeof(want[0]), cmp_gid);
	pthread_mutex_lock(&pr->s->lock);
	memcpy(pr->cred.groups, want, size * sizeof(want[0]));
	pr->cred.ngroups = (int)size;
	pthread_mutex_unlock(&pr->s->lock);
	return 0;
}

long sys_getgroups(struct task *t, uint64_t size, uint64_t ulist)
{
	struct process *pr = t->proc;
	pthread_mutex_lock(&pr->s->lock);
	struct creds c = pr->cred;
	pthread_mutex_unlock(&pr->s->lock);
	if ((int32_t)size < 0)
		return -EINVAL;
	if (size == 0)
		return c.ngroups;
	if (size < (uint64_t)c.ngroups)
		return -EINVAL;
	return mm_copy_out(pr, ulist, c.groups, (size_t)c.ngroups * sizeof(gid_t)) < 0 ? -EFAULT : c.ngroups;
}

/* capget: what the process holds (its root: every capability, until a uid change drops them); capset
 * may only narrow its own, as Linux allows without CAP_SETPCAP. */
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
	if (set && hdr.pid != 0 && hdr.pid != t->tid)
		return -EPERM;
	pthread_mutex_lock(&pr->s->lock);
	struct process *of = hdr.pid == 0 || hdr.pid == t->tid ? pr : NULL;
	for (struct process *p = pr->s->procs; p && !of; p = p->next)
		for (struct task *o = p->zombie ? NULL : p->tasks; o && !of; o = o->next)
			if (!o->exited && o->tid == hdr.pid)
				of = p;
	uint64_t eff = of ? of->cred.cap_eff : 0, prm = of ? of->cred.cap_prm : 0;
	pthread_mutex_unlock(&pr->s->lock);
	if (!of)
		return -ESRCH;
	struct __user_cap_data_struct data[2];
	memset(data, 0, sizeof(data));
	for (int i = 0; i < 2; i++) {
		data[i].effective = (uint32_t)(eff >> (32 * i));
		data[i].permitted = (uint32_t)(prm >> (32 * i));
	}
	if (!set)
		return udata ? mm_copy_out(pr, udata, data, (size_t)words * sizeof(data[0])) : 0;
	struct __user_cap_data_struct want[2];
	memset(want, 0, sizeof(want));
	if (mm_copy_in(pr, udata, want, (size_t)words * sizeof(want[0])) < 0)
		return -EFAULT;
	uint64_t weff = want[0].effective | (words > 1 ? (uint64_t)want[1].effective << 32 : 0);
	uint64_t wprm = want[0].permitted | (words > 1 ? (uint64_t)want[1].permitted << 32 : 0);
	uint64_t winh = want[0].inheritable | (words > 1 ? (uint64_t)want[1].inheritable << 32 : 0);
	if ((wprm & ~prm) || (weff & ~wprm) || (winh & ~prm))
		return -EPERM;
	pthread_mutex_lock(&pr->s->lock);
	pr->cred.cap_prm = wprm;
	pr->cred.cap_eff = weff;
	pthread_mutex_unlock(&pr->s->lock);
	return 0;
}

long sys_umask(struct task *t, uint64_t mask)
{
	struct process *pr = t->proc;
	mode_t old = pr->umask;
	pr->umask = (mode_t)(mask & 0777);
	return old;
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

/* SysV IPC's permission check, Linux's ipcperms(): may @pr have the access @flag asks (its low 9 bits,
 * as a mode: rwx per class) to an object of owner @uid/@gid, creator @cuid/@cgid and mode @mode? */
bool ipc_allowed(const struct process *pr, const struct ipc_ids *o, unsigned flag)
{
	const struct creds *c = &pr->cred;
	unsigned want = ((flag >> 6) | (flag >> 3) | flag) & 7, granted = o->mode;
	bool group = c->gid[1] == o->gid || c->gid[1] == o->cgid;
	for (int i = 0; i < c->ngroups && !group; i++)
		group = c->groups[i] == o->gid || c->groups[i] == o->cgid;
	if (c->uid[1] == o->uid || c->uid[1] == o->cuid)
		granted >>= 6;
	else if (group)
		granted >>= 3;
	return !(want & ~granted & 7) || (c->cap_eff & (1ull << 15 /* CAP_IPC_OWNER */));
}

/* The ipc_perm every *_STAT answer starts with (@flags: SHM_DEST and such, above the mode's bits). */
void ipc_perm_fill(struct ipc_perm *p, int32_t key, const struct ipc_ids *o, uint32_t seq, unsigned flags)
{
	memset(p, 0, sizeof(*p));
	p->__key = key;
	p->uid = o->uid;
	p->gid = o->gid;
	p->cuid = o->cuid;
	p->cgid = o->cgid;
	p->mode = (unsigned short)(o->mode | flags);
	p->__seq = (unsigned short)seq;
}

/* IPC_SET's new owner and mode from @p (Linux's ipc_update_perm): -EINVAL for an id of -1, else 0. */
int ipc_set_perm(struct ipc_ids *o, const struct ipc_perm *p)
{
	if (p->uid == ~0u || p->gid == ~0u)
		return -EINVAL;
	o->uid = p->uid;
	o->gid = p->gid;
	o->mode = p->mode & 0777u;
	return 0;
}

/* Owner, creator or CAP_SYS_ADMIN: who may IPC_SET and IPC_RMID. */
bool ipc_owner(const struct process *pr, const struct ipc_ids *o)
{
	const struct creds *c = &pr->cred;
	return c->uid[1] == o->uid || c->uid[1] == o->cuid || (c->cap_eff & (1ull << 21 /* CAP_SYS_ADMIN */));
}

SYSCALL_ENTRY(getuid, t->proc->cred.uid[0])
SYSCALL_ENTRY(geteuid, t->proc->cred.uid[1])
SYSCALL_ENTRY(getgid, t->proc->cred.gid[0])
SYSCALL_ENTRY(getegid, t->proc->cred.gid[1])
SYSCALL_ENTRY(getgroups, sys_getgroups(t, a[0], a[1]))
SYSCALL_ENTRY(setgroups, sys_setgroups(t, a[0], a[1]))
SYSCALL_ENTRY(capget, sys_capability(t, false, a[0], a[1]))
SYSCALL_ENTRY(capset, sys_capability(t, true, a[0], a[1]))
SYSCALL_ENTRY(umask, sys_umask(t, a[0]))
SYSCALL_ENTRY(getresuid, sys_ids(t, SYS_getresuid, a[0], a[1], a[2]))
SYSCALL_ENTRY(getresgid, sys_ids(t, SYS_getresgid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setuid, sys_ids(t, SYS_setuid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setgid, sys_ids(t, SYS_setgid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setreuid, sys_ids(t, SYS_setreuid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setregid, sys_ids(t, SYS_setregid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setresuid, sys_ids(t, SYS_setresuid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setresgid, sys_ids(t, SYS_setresgid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setfsuid, sys_ids(t, SYS_setfsuid, a[0], a[1], a[2]))
SYSCALL_ENTRY(setfsgid, sys_ids(t, SYS_setfsgid, a[0], a[1], a[2]))
