// SPDX-License-Identifier: Apache-2.0
// SysV shared memory (shmget, shmat, shmdt, shmctl) in the sandbox's own IPC namespace: the host's
// segments are never seen nor touched, as in a container's IPC namespace. A segment is memory-file
// pages (taken at shmget, counted against --memory like any shared memory) holding one reference of
// the table's; each attach maps them MAP_SHARED as a VMA of their own (its reference), so a segment's
// pages live while it is listed or mapped anywhere. What Linux keeps in the VMA (which segment, for
// shmdt and nattch) is kept per memory: an attach record in struct vm, inherited by fork and dropped
// with the memory (exit, exec). Linux's rules otherwise: ids (slot, sequence), ipcperms(), IPC_RMID of
// an attached segment (its key goes, its id stays until the last detach), SHM_RND/SHM_REMAP/SHM_RDONLY/
// SHM_EXEC, IPC_INFO/SHM_INFO/SHM_STAT(_ANY), the x86-64 shmid_ds layout; limits are Linux's defaults.
// Not kept: SHM_LOCK pins nothing (the flag is recorded and reported), SHM_HUGETLB maps small pages,
// and a segment the program munmap()s instead of shmdt()ing counts as attached until its memory goes.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <time.h>
#include "../systable.h"
#include "mm_internal.h"

#define SHM_SLOTS 4096u                        /* SHMMNI */
#define SHM_ID_SHIFT 15                        /* Linux's IPCMNI_SHIFT: id = seq << 15 | slot */
#define SHM_SEQ_MAX (0x7fffffffu >> SHM_ID_SHIFT)
#define SHM_MAX_BYTES (~0ul - (1ul << 24))     /* SHMMAX and SHMALL (pages), Linux's defaults */
#define CAP_IPC_LOCK_BIT (1ull << 14)

_Static_assert(sizeof(struct shmid_ds) == 112, "x86-64 shmid64_ds");

struct shm_seg {
	bool used, dest, locked;
	int32_t key;
	uint32_t seq;
	uint64_t off, size; /* memory-file offset of its pages, size as asked */
	struct ipc_ids ids; /* owner, creator, mode */
	int64_t atime, dtime, ctime;
	int cpid, lpid;
	unsigned long nattch;
};

struct shm_att {
	uint64_t addr, len;
	uint32_t slot, seq;
	struct shm_att *next;
};

static uint64_t seg_pages(const struct shm_seg *g)
{
	return PAGE_UP(g->size);
}

/* The segment @id names, or NULL (shm_lock held). */
static struct shm_seg *by_id(struct sentry *s, int64_t id)
{
	if (id < 0 || id > 0x7fffffff || !s->shm)
		return NULL;
	uint64_t slot = (uint64_t)id & ((1u << SHM_ID_SHIFT) - 1);
	struct shm_seg *g = slot < SHM_SLOTS ? &s->shm[slot] : NULL;
	return g && g->used && g->seq == (uint64_t)id >> SHM_ID_SHIFT ? g : NULL;
}

static long id_of(const struct sentry *s, const struct shm_seg *g)
{
	return (long)g->seq << SHM_ID_SHIFT | (long)(g - s->shm);
}

/* Let the segment go: its slot, and the table's reference to its pages (shm_lock held). */
static void destroy(struct sentry *s, struct shm_seg *g)
{
	cv_memfile_decref(s->mf, g->off, seg_pages(g));
	g->used = false;
}

/* The segment of @key (not IPC_PRIVATE) that shmget may still find, or NULL (shm_lock held). */
static struct shm_seg *by_key(struct sentry *s, int32_t key)
{
	for (unsigned i = 0; s->shm && i < SHM_SLOTS; i++)
		if (s->shm[i].used && !s->shm[i].dest && s->shm[i].key == key)
			return &s->shm[i];
	return NULL;
}

/* shmget's answer for existing segment @g (shm_lock held). */
static long get_existing(struct process *pr, struct shm_seg *g, uint64_t size, uint64_t flg)
{
	if ((flg & IPC_CREAT) && (flg & IPC_EXCL))
		return -EEXIST;
	if (!ipc_allowed(pr, &g->ids, (unsigned)flg & 0777))
		return -EACCES;
	return size > g->size ? -EINVAL : id_of(pr->s, g);
}

/* The pages are taken without shm_lock (an allocation may wait for ended processes' memory to go,
 * which takes it to detach their segments); the key is looked up again after. */
static long shm_get(struct process *pr, int32_t key, uint64_t size, uint64_t flg)
{
	struct sentry *s = pr->s;
	pthread_mutex_lock(&s->shm_lock);
	if (!s->shm && !(s->shm = calloc(SHM_SLOTS, sizeof(*s->shm)))) {
		pthread_mutex_unlock(&s->shm_lock);
		return -ENOMEM;
	}
	struct shm_seg *g = key != IPC_PRIVATE ? by_key(s, key) : NULL;
	long ret = g ? get_existing(pr, g, size, flg)
		 : key != IPC_PRIVATE && !(flg & IPC_CREAT) ? -ENOENT
		 : size < 1 || size > SHM_MAX_BYTES ? -EINVAL : 1;
	pthread_mutex_unlock(&s->shm_lock);
	uint64_t off;
	if (ret <= 0 || g)
		return ret;
	if (vm_alloc_pages(s, PAGE_UP(size), &off) < 0)
		return -ENOMEM;
	pthread_mutex_lock(&s->shm_lock);
	uint64_t total = PAGE_UP(size);
	bool make = false;
	g = key != IPC_PRIVATE ? by_key(s, key) : NULL;
	if (g) { /* made meanwhile by another thread */
		ret = get_existing(pr, g, size, flg);
	} else {
		for (unsigned i = 0; i < SHM_SLOTS; i++) {
			if (s->shm[i].used)
				total += seg_pages(&s->shm[i]);
			else if (!g)
				g = &s->shm[i];
		}
		make = g && total / PAGE <= SHM_MAX_BYTES;
		ret = make ? 0 : -ENOSPC;
	}
	if (make) {
		const struct creds *c = &pr->cred;
		struct ipc_ids ids = { c->uid[1], c->gid[1], c->uid[1], c->gid[1], (uint32_t)flg & 0777 };
		*g = (struct shm_seg){ .used = true, .key = key, .seq = s->shm_seq, .off = off, .size = size,
				       .ids = ids, .ctime = time(NULL), .cpid = pr->pid };
		s->shm_seq = s->shm_seq >= SHM_SEQ_MAX ? 0 : s->shm_seq + 1;
		ret = id_of(s, g);
	} else {
		cv_memfile_decref(s->mf, off, PAGE_UP(size));
	}
	pthread_mutex_unlock(&s->shm_lock);
	return ret;
}

static long shm_at(struct process *pr, int64_t id, uint64_t addr, uint64_t flg)
{
	struct sentry *s = pr->s;
	struct shm_seg *g = by_id(s, id);
	if (!g)
		return -EINVAL;
	if (addr & (SHMLBA - 1)) {
		if (!(flg & SHM_RND))
			return -EINVAL;
		addr &= ~(uint64_t)(SHMLBA - 1);
	}
	unsigned access = CV_ACCESS_READ, need = 0444;
	if (!(flg & SHM_RDONLY))
		access |= CV_ACCESS_WRITE, need |= 0222;
	if (flg & SHM_EXEC)
		access |= CV_ACCESS_EXEC, need |= 0111;
	if (!ipc_allowed(pr, &g->ids, need))
		return -EACCES;
	uint64_t len = seg_pages(g), got;
	bool fixed = addr != 0;
	if (fixed && !(flg & SHM_REMAP) && !mm_is_free(pr, addr, len))
		return -EINVAL;
	if (!mm_as_allows(pr, addr, len))
		return -ENOMEM;
	struct shm_att *a = malloc(sizeof(*a));
	if (!a || cv_memfile_incref(s->mf, g->off, len) < 0) {
		free(a);
		return -ENOMEM;
	}
	/* (the reference taken is the new VMA's, or dropped if it cannot be made) */
	int ret = mm_map_pages(pr, addr, len, access, fixed, true, false, g->off, &got);
	if (ret < 0) {
		free(a);
		return ret == -EACCES ? -EACCES : -ENOMEM;
	}
	*a = (struct shm_att){ got, len, (uint32_t)(g - s->shm), g->seq, pr->vm->shm_att };
	pr->vm->shm_att = a;
	g->nattch++;
	g->atime = time(NULL);
	g->lpid = pr->pid;
	return (long)got;
}

/* One attach less of the segment record @a names; it goes if removed and now unattached. */
static void detached(struct sentry *s, const struct shm_att *a, int pid)
{
	struct shm_seg *g = s->shm ? &s->shm[a->slot] : NULL;
	if (!g || !g->used || g->seq != a->seq)
		return;
	g->nattch--;
	g->dtime = time(NULL);
	if (pid)
		g->lpid = pid;
	if (g->dest && g->nattch == 0)
		destroy(s, g);
}

static long shm_dt(struct process *pr, uint64_t addr)
{
	struct sentry *s = pr->s;
	if (addr & (PAGE - 1))
		return -EINVAL;
	struct shm_att **pp = &pr->vm->shm_att;
	while (*pp && (*pp)->addr != addr)
		pp = &(*pp)->next;
	struct shm_att *a = *pp;
	if (!a)
		return -EINVAL;
	/* The segment's own pages still there (not unmapped or replaced by the program since)? */
	const struct mm *mm = &pr->vm->mm;
	size_t i = vma_find(mm, addr);
	const struct shm_seg *g = by_id(s, (long)a->seq << SHM_ID_SHIFT | a->slot);
	bool there = i < mm->n && mm->v[i].start == addr && !mm->v[i].host && mm->v[i].shared && g &&
		     mm->v[i].mf_off == g->off;
	*pp = a->next;
	if (there)
		mm_unmap(pr, addr, a->len);
	detached(s, a, pr->pid);
	free(a);
	return there ? 0 : -EINVAL;
}

static void fill_ds(const struct sentry *s, const struct shm_seg *g, struct shmid_ds *ds)
{
	memset(ds, 0, sizeof(*ds));
	unsigned flags = (g->dest ? SHM_DEST : 0) | (g->locked ? SHM_LOCKED : 0);
	ipc_perm_fill(&ds->shm_perm, g->key, &g->ids, g->seq, flags);
	ds->shm_segsz = g->size;
	ds->shm_atime = g->atime;
	ds->shm_dtime = g->dtime;
	ds->shm_ctime = g->ctime;
	ds->shm_cpid = g->cpid;
	ds->shm_lpid = g->lpid;
	ds->shm_nattch = g->nattch;
}

/* IPC_INFO and SHM_INFO answer with the highest slot in use (0 if none). */
static long highest_slot(const struct sentry *s)
{
	long hi = 0;
	for (unsigned i = 0; s->shm && i < SHM_SLOTS; i++)
		if (s->shm[i].used)
			hi = i;
	return hi;
}

/* The commands: what is copied from or to the program is copied without shm_lock (a copy may
 * allocate, and an allocation may wait for ended processes' memory, whose release takes it). */
static long shm_ctl(struct process *pr, int64_t id, int64_t cmd, uint64_t ubuf)
{
	struct sentry *s = pr->s;
	long ret;
	switch (cmd) {
	case IPC_INFO:
	case SHM_INFO: {
		struct shminfo in = { .shmmax = SHM_MAX_BYTES, .shmmin = 1, .shmmni = SHM_SLOTS,
				      .shmseg = SHM_SLOTS, .shmall = SHM_MAX_BYTES };
		struct shm_info si;
		memset(&si, 0, sizeof(si));
		pthread_mutex_lock(&s->shm_lock);
		for (unsigned i = 0; s->shm && i < SHM_SLOTS; i++)
			if (s->shm[i].used) {
				si.used_ids++;
				si.shm_tot += seg_pages(&s->shm[i]) / PAGE;
				si.shm_rss += seg_pages(&s->shm[i]) / PAGE;
			}
		ret = highest_slot(s);
		pthread_mutex_unlock(&s->shm_lock);
		int r = cmd == IPC_INFO ? mm_copy_out(pr, ubuf, &in, sizeof(in))
					: mm_copy_out(pr, ubuf, &si, sizeof(si));
		return r < 0 ? -EFAULT : ret;
	}
	case SHM_STAT:
	case SHM_STAT_ANY:
	case IPC_STAT: {
		struct shmid_ds ds;
		pthread_mutex_lock(&s->shm_lock);
		struct shm_seg *g = cmd == IPC_STAT ? by_id(s, id)
			: id >= 0 && id < SHM_SLOTS && s->shm && s->shm[id].used ? &s->shm[id] : NULL;
		ret = !g ? -EINVAL : cmd != SHM_STAT_ANY && !ipc_allowed(pr, &g->ids, 0444) ? -EACCES
		      : cmd == IPC_STAT ? 0 : id_of(s, g);
		if (ret >= 0)
			fill_ds(s, g, &ds);
		pthread_mutex_unlock(&s->shm_lock);
		return ret < 0 ? ret : mm_copy_out(pr, ubuf, &ds, sizeof(ds)) < 0 ? -EFAULT : ret;
	}
	case IPC_SET:
	case IPC_RMID:
	case SHM_LOCK:
	case SHM_UNLOCK: {
		struct shmid_ds ds;
		if (cmd == IPC_SET && mm_copy_in(pr, ubuf, &ds, sizeof(ds)) < 0)
			return -EFAULT;
		pthread_mutex_lock(&s->shm_lock);
		struct shm_seg *g = by_id(s, id);
		bool lock = cmd == SHM_LOCK || cmd == SHM_UNLOCK;
		ret = !g ? -EINVAL
		      : lock && !ipc_owner(pr, &g->ids) && !(pr->cred.cap_eff & CAP_IPC_LOCK_BIT) ? -EPERM
		      : !lock && !ipc_owner(pr, &g->ids) ? -EPERM : 0;
		if (ret == 0 && lock) {
			g->locked = cmd == SHM_LOCK;
		} else if (ret == 0 && cmd == IPC_RMID) {
			g->dest = true;
			g->key = IPC_PRIVATE; /* no longer found by its key; its id works until it goes */
			if (g->nattch == 0)
				destroy(s, g);
		} else if (ret == 0 && (ret = ipc_set_perm(&g->ids, &ds.shm_perm)) == 0) {
			g->ctime = time(NULL);
		}
		pthread_mutex_unlock(&s->shm_lock);
		return ret;
	}
	default:
		return -EINVAL;
	}
}

int shm_fork(struct process *parent, struct process *child)
{
	struct sentry *s = parent->s;
	pthread_mutex_lock(&s->shm_lock);
	int ret = 0;
	struct shm_att **tail = &child->vm->shm_att;
	for (const struct shm_att *a = parent->vm->shm_att; a; a = a->next) {
		struct shm_att *c = malloc(sizeof(*c));
		if (!c) {
			ret = -ENOMEM;
			break;
		}
		*c = *a;
		c->next = NULL;
		*tail = c;
		tail = &c->next;
		struct shm_seg *g = s->shm ? &s->shm[a->slot] : NULL;
		if (g && g->used && g->seq == a->seq)
			g->nattch++;
	}
	pthread_mutex_unlock(&s->shm_lock);
	return ret;
}

void shm_vm_release(struct sentry *s, struct vm *vm)
{
	if (!vm->shm_att)
		return;
	pthread_mutex_lock(&s->shm_lock);
	while (vm->shm_att) {
		struct shm_att *a = vm->shm_att;
		vm->shm_att = a->next;
		detached(s, a, 0);
		free(a);
	}
	pthread_mutex_unlock(&s->shm_lock);
}

void shm_free(struct sentry *s)
{
	for (unsigned i = 0; s->shm && i < SHM_SLOTS; i++)
		if (s->shm[i].used)
			destroy(s, &s->shm[i]);
	free(s->shm);
	s->shm = NULL;
}

#define LOCKED(expr)                                                                                   \
	({                                                                                             \
		pthread_mutex_lock(&t->proc->s->shm_lock);                                             \
		long r_ = (expr);                                                                      \
		pthread_mutex_unlock(&t->proc->s->shm_lock);                                           \
		r_;                                                                                    \
	})

SYSCALL_ENTRY(shmget, shm_get(t->proc, (int32_t)a[0], a[1], a[2]))
SYSCALL_ENTRY(shmat, LOCKED(shm_at(t->proc, (int32_t)a[0], a[1], a[2])))
SYSCALL_ENTRY(shmdt, LOCKED(shm_dt(t->proc, a[0])))
SYSCALL_ENTRY(shmctl, shm_ctl(t->proc, (int32_t)a[0], (int32_t)a[1], a[2]))
