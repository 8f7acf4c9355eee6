// SPDX-License-Identifier: Apache-2.0
// Discretionary access control by the sandbox's credentials (Linux's generic_permission, may_delete's
// sticky rule, inode_owner_or_capable). On the host the sentry is one identity, so the host's own check
// cannot tell the sandbox's users apart: these checks run first, with the process's fs ids, groups and
// capabilities and the owners the sandbox sees (the host's, as ids.c reports them, or the one chown
// gave, owners.c). The host's check still follows (read-only stays read-only).
//
// The sandbox's root holds CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH: it passes every mode-bit check,
// so its walks and opens skip all of this (perm_overrides: one load). Other processes pay an fstat per
// directory they search; a check every class of user passes (0755 directories, 0644 files read) never
// asks who owns the file, which for an unprivileged caller may mean asking the caller (ids.c).
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../sentry.h"

#define CAP_BIT(n) (1ull << (n))
#define C_CHOWN 0
#define C_DAC_OVERRIDE 1
#define C_DAC_READ_SEARCH 2
#define C_FOWNER 3
#define C_FSETID 4
/* Linux's CAP_FS_MASK: what an fs uid other than 0 drops and 0 brings back (from the permitted set) */
#define FS_CAPS                                                                                             \
	(CAP_BIT(C_CHOWN) | CAP_BIT(C_DAC_OVERRIDE) | CAP_BIT(C_DAC_READ_SEARCH) | CAP_BIT(C_FOWNER) |      \
	 CAP_BIT(C_FSETID) | CAP_BIT(9) /* LINUX_IMMUTABLE */ | CAP_BIT(32) /* MAC_OVERRIDE */)

/* Who is asking: fs ids (or the real ones, for access(2)) and the capabilities that go with them. */
struct who {
	uint32_t uid, gid;
	uint64_t caps;
	const struct creds *c;
};

static struct who fs_who(const struct process *pr)
{
	const struct creds *c = &pr->cred;
	uint64_t caps = c->uid[3] == 0 ? c->cap_eff | (c->cap_prm & FS_CAPS) : c->cap_eff & ~FS_CAPS;
	return (struct who){ c->uid[3], c->gid[3], caps, c };
}

/* access(2) asks as the real ids: the permitted set for a real root, none else (Linux's
 * access_override_creds). */
static struct who real_who(const struct process *pr)
{
	const struct creds *c = &pr->cred;
	return (struct who){ c->uid[0], c->gid[0], c->uid[0] == 0 ? c->cap_prm : 0, c };
}

static bool has(const struct who *w, int cap)
{
	return (w->caps & CAP_BIT(cap)) != 0;
}

static bool in_group(const struct who *w, uint32_t gid)
{
	if (gid == w->gid)
		return true;
	for (int i = 0; i < w->c->ngroups; i++)
		if (w->c->groups[i] == gid)
			return true;
	return false;
}

bool perm_overrides(const struct process *pr)
{
	struct who w = fs_who(pr);
	return has(&w, C_DAC_OVERRIDE) && has(&w, C_DAC_READ_SEARCH);
}

void perm_owner(struct process *pr, int h, const struct stat *st, uint32_t *uid, uint32_t *gid)
{
	*uid = st->st_uid;
	*gid = st->st_gid;
	ids_report(pr->s, h, uid, gid);
	owners_get(pr->s, st->st_dev, st->st_ino, uid, gid);
}

/* generic_permission(): @mask of MAY_* on host object @h (@st). */
static long check(struct process *pr, const struct who *w, int h, const struct stat *st, int mask)
{
	unsigned m = st->st_mode, need = (unsigned)mask & 7;
	if (has(w, C_DAC_OVERRIDE) && has(w, C_DAC_READ_SEARCH) && (!(mask & MAY_EXEC) || S_ISDIR(m) || (m & 0111)))
		return 0; /* the sandbox's root: no need to know whose it is */
	if ((need & (m >> 6) & (m >> 3) & m) != need) { /* not a check every class passes: whose is it? */
		uint32_t uid, gid;
		perm_owner(pr, h, st, &uid, &gid);
		unsigned bits = uid == w->uid ? m >> 6 : in_group(w, gid) ? m >> 3 : m;
		if ((need & ~bits) == 0)
			return 0;
	} else {
		return 0;
	}
	if (S_ISDIR(m)) { /* a directory: read and search for CAP_DAC_READ_SEARCH, all for DAC_OVERRIDE */
		if (!(mask & MAY_WRITE) && has(w, C_DAC_READ_SEARCH))
			return 0;
		return has(w, C_DAC_OVERRIDE) ? 0 : -EACCES;
	}
	if (mask == MAY_READ && has(w, C_DAC_READ_SEARCH))
		return 0;
	if ((!(mask & MAY_EXEC) || (m & 0111)) && has(w, C_DAC_OVERRIDE))
		return 0; /* execution is overridable only where some x bit is set */
	return -EACCES;
}

long perm_check(struct process *pr, int h, const struct stat *st, int mask)
{
	struct who w = fs_who(pr);
	return check(pr, &w, h, st, mask);
}

long perm_check_fd(struct process *pr, int h, int mask)
{
	struct stat st;
	if (perm_overrides(pr) && !(mask & MAY_EXEC))
		return 0;
	return fstat(h, &st) < 0 ? -errno : perm_check(pr, h, &st, mask);
}

long perm_check_real(struct process *pr, int h, const struct stat *st, int mask)
{
	struct who w = real_who(pr);
	return check(pr, &w, h, st, mask);
}

bool perm_owner_or_capable(struct process *pr, int h, const struct stat *st)
{
	struct who w = fs_who(pr);
	if (has(&w, C_FOWNER))
		return true;
	uint32_t uid, gid;
	perm_owner(pr, h, st, &uid, &gid);
	return uid == w.uid;
}

long perm_may_delete(struct process *pr, int dirh, int h, const struct stat *st)
{
	struct who w = fs_who(pr);
	if (has(&w, C_DAC_OVERRIDE) && has(&w, C_FOWNER))
		return 0;
	struct stat dst;
	if (fstat(dirh, &dst) < 0)
		return -errno;
	long ret = perm_check(pr, dirh, &dst, MAY_WRITE | MAY_EXEC);
	if (ret < 0 || !(dst.st_mode & S_ISVTX))
		return ret;
	/* A sticky directory: only the file's owner, the directory's, or CAP_FOWNER (Linux's check_sticky) */
	uint32_t uid, gid, duid, dgid;
	perm_owner(pr, h, st, &uid, &gid);
	perm_owner(pr, dirh, &dst, &duid, &dgid);
	return uid == w.uid || duid == w.uid || has(&w, C_FOWNER) ? 0 : -EPERM;
}

long perm_may_create(struct process *pr, int dirh)
{
	if (perm_overrides(pr))
		return 0;
	return perm_check_fd(pr, dirh, MAY_WRITE | MAY_EXEC);
}

bool perm_keeps_setgid(struct process *pr, int h, const struct stat *st)
{
	struct who w = fs_who(pr);
	if (has(&w, C_FSETID))
		return true;
	uint32_t uid, gid;
	perm_owner(pr, h, st, &uid, &gid);
	return in_group(&w, gid);
}

void perm_created(struct process *pr, int dirh, int h)
{
	struct stat st, dst;
	struct who w = fs_who(pr);
	const struct launch *L = pr->s->L;
	if (w.uid == L->self_uid && w.gid == L->self_gid)
		return; /* the host's owner reads as the maker already (the host gives a setgid directory's
			 * group as Linux does) */
	if (fstat(h, &st) < 0)
		return;
	uint32_t uid = w.uid, gid = w.gid;
	if (fstat(dirh, &dst) == 0 && (dst.st_mode & S_ISGID)) { /* a setgid directory gives its group */
		uint32_t du;
		perm_owner(pr, dirh, &dst, &du, &gid);
	}
	uint32_t hu = st.st_uid, hg = st.st_gid;
	ids_report(pr->s, h, &hu, &hg);
	owners_forget(pr->s, st.st_dev, st.st_ino); /* an inode number the host reused */
	if (hu != uid || hg != gid)
		owners_set(pr->s, st.st_dev, st.st_ino, uid, gid);
}
