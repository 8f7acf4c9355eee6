// SPDX-License-Identifier: Apache-2.0
// SysV semaphores (semget, semop, semtimedop, semctl) in the sandbox's own IPC namespace, as
// mm/sysvshm.c's segments: the host's sets are never seen nor touched. A set is the sentry's own
// memory; its state is kept under the futex lock, and a semop that has to wait sleeps as a futex
// waiter would (keyed by a token of this file and the set's slot), so the sentry's interruptions reach
// it (signals, the process group's end, the sentry's shutdown) and every change to the set wakes its
// waiters to try again. Linux's rules: all the operations of one call or none, sem_op > 0, < 0 and
// == 0, IPC_NOWAIT, SEM_UNDO (adjustments per process, applied at its end, cleared by SETVAL/SETALL,
// none inherited by fork, kept across exec), semtimedop's relative timeout (EAGAIN), EIDRM for a
// waiter whose set is removed, EINTR on a signal whatever SA_RESTART says, ERANGE, E2BIG, EFBIG,
// ipcperms(), GETVAL/GETALL/GETPID/GETNCNT/GETZCNT/SETVAL/SETALL, IPC_STAT/IPC_SET/IPC_RMID,
// IPC_INFO/SEM_INFO/SEM_STAT(_ANY) and the x86-64 semid_ds layout; a default namespace's limits.
// Nothing is copied from or to the application while the futex lock is held (copying may take the
// process lock, which is taken before the futex lock elsewhere).
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sem.h>
#include <time.h>
#include "../sentry.h"
#include "../systable.h"

#define SEM_SLOTS 32000u    /* SEMMNI */
#define SEM_MSL 32000       /* SEMMSL */
#define SEM_MNS 1024000000L /* SEMMNS */
#define SEM_OPM 500         /* SEMOPM */
#define SEM_VMX 32767       /* SEMVMX, and SEMAEM */
#define SEM_ID_SHIFT 15
#define SEM_SEQ_MAX (0x7fffffffu >> SEM_ID_SHIFT)

_Static_assert(sizeof(struct semid_ds) == 104, "x86-64 semid64_ds");

union semun_ {
	int val;
	struct semid_ds *buf;
	unsigned short *array;
	struct seminfo *info;
};

struct sem_one {
	unsigned short val;
	int pid;
};

struct sem_set {
	int32_t key;
	uint32_t seq;
	struct ipc_ids ids; /* owner, creator, mode */
	int nsems;
	int64_t otime, ctime;
	struct sem_one sem[];
};

/* A process's SEM_UNDO adjustments for one set (the set's slot and sequence: a removed set's are
 * stale). All of them in one list of the namespace's, by owner. */
struct sem_undo {
	const struct process *owner;
	uint32_t slot, seq;
	int nsems;
	struct sem_undo *next;
	short adj[];
};

/* A semop waiting: a futex waiter (first: it is on the futex waiters' list) and what it waits for. */
struct sem_waiter {
	struct futex_waiter fw;
	int num;   /* the semaphore of the operation that has to wait */
	bool zero; /* for it to be 0, else for it to grow */
};

static _Alignas(8) const char token; /* the waiters' key: never a memory's or a file's */

/* (futex lock held for everything below but the syscall entries) */

static struct sem_set *by_id(const struct sentry *s, int64_t id)
{
	if (id < 0 || id > 0x7fffffff || !s->sem)
		return NULL;
	uint64_t slot = (uint64_t)id & ((1u << SEM_ID_SHIFT) - 1);
	struct sem_set *g = slot < SEM_SLOTS ? s->sem[slot] : NULL;
	return g && g->seq == (uint64_t)id >> SEM_ID_SHIFT ? g : NULL;
}

static long id_of(const struct sentry *s, const struct sem_set *g, uint32_t slot)
{
	return (long)g->seq << SEM_ID_SHIFT | slot;
}

/* The slot of a valid id (its low bits: by_id() checked them). */
static uint32_t slot_of(int64_t id)
{
	return (uint32_t)((uint64_t)id & ((1u << SEM_ID_SHIFT) - 1));
}

/* Every waiter on set @slot tries again (or finds the set gone). */
static void wake_set(struct sentry *s, uint32_t slot)
{
	for (struct futex_waiter *w = s->futex_waiters; w; w = w->next)
		if (w->key == &token && w->addr == slot)
			pthread_cond_signal(&w->cond);
}

/* SETVAL/SETALL: nobody's adjustment of semaphore @num (-1: any) of set @slot stands any more. */
static void clear_undo(struct sentry *s, uint32_t slot, uint32_t seq, int num)
{
	for (struct sem_undo *u = s->sem_undos; u; u = u->next)
		if (u->slot == slot && u->seq == seq) {
			if (num < 0)
				memset(u->adj, 0, (size_t)u->nsems * sizeof(u->adj[0]));
			else
				u->adj[num] = 0;
		}
}

static long sem_get(struct process *pr, int32_t key, int64_t nsems, uint64_t flg)
{
	struct sentry *s = pr->s;
	if (!s->sem && !(s->sem = calloc(SEM_SLOTS, sizeof(*s->sem))))
		return -ENOMEM;
	if (nsems < 0 || nsems > SEM_MSL)
		return -EINVAL;
	if (key != IPC_PRIVATE)
		for (uint32_t i = 0; i < SEM_SLOTS; i++) {
			struct sem_set *g = s->sem[i];
			if (!g || g->key != key)
				continue;
			if ((flg & IPC_CREAT) && (flg & IPC_EXCL))
				return -EEXIST;
			if (!ipc_allowed(pr, &g->ids, (unsigned)flg & 0777))
				return -EACCES;
			return nsems > g->nsems ? -EINVAL : id_of(s, g, i);
		}
	if (key != IPC_PRIVATE && !(flg & IPC_CREAT))
		return -ENOENT;
	if (nsems == 0)
		return -EINVAL;
	uint32_t slot = SEM_SLOTS;
	for (uint32_t i = 0; i < SEM_SLOTS && slot == SEM_SLOTS; i++)
		if (!s->sem[i])
			slot = i;
	if (slot == SEM_SLOTS || s->sem_used + nsems > SEM_MNS)
		return -ENOSPC;
	struct sem_set *g = calloc(1, sizeof(*g) + (size_t)nsems * sizeof(g->sem[0]));
	if (!g)
		return -ENOMEM;
	const struct creds *c = &pr->cred;
	*g = (struct sem_set){ .key = key, .seq = s->sem_seq,
			       .ids = { c->uid[1], c->gid[1], c->uid[1], c->gid[1], (uint32_t)flg & 0777 },
			       .nsems = (int)nsems, .ctime = time(NULL) };
	s->sem_seq = s->sem_seq >= SEM_SEQ_MAX ? 0 : s->sem_seq + 1;
	s->sem[slot] = g;
	s->sem_used += nsems;
	return id_of(s, g, slot);
}

/* @pr's adjustments for set @slot, made if @make (NULL: none, or no memory). */
static struct sem_undo *undo_of(struct sentry *s, const struct process *pr, uint32_t slot,
				const struct sem_set *g, bool make)
{
	for (struct sem_undo *u = s->sem_undos; u; u = u->next)
		if (u->owner == pr && u->slot == slot && u->seq == g->seq)
			return u;
	if (!make)
		return NULL;
	struct sem_undo *u = calloc(1, sizeof(*u) + (size_t)g->nsems * sizeof(u->adj[0]));
	if (!u)
		return NULL;
	*u = (struct sem_undo){ .owner = pr, .slot = slot, .seq = g->seq, .nsems = g->nsems,
				.next = s->sem_undos };
	s->sem_undos = u;
	return u;
}

/*
 * All of @ops on set @g, or none: 0 (done), 1 (operation *@blocked has to wait), -ERANGE. Each is
 * applied in turn and taken back in reverse when a later one cannot go, as Linux's
 * perform_atomic_semop().
 */
static int try_ops(struct sem_set *g, const struct sembuf *ops, size_t n, struct sem_undo *u, size_t *blocked)
{
	size_t i;
	int ret = 0;
	for (i = 0; i < n; i++) {
		const struct sembuf *o = &ops[i];
		int v = g->sem[o->sem_num].val + o->sem_op;
		if ((o->sem_op == 0 && g->sem[o->sem_num].val != 0) || v < 0) {
			*blocked = i;
			ret = 1;
			break;
		}
		if (v > SEM_VMX) {
			ret = -ERANGE;
			break;
		}
		if (o->sem_flg & SEM_UNDO) {
			int adj = u->adj[o->sem_num] - o->sem_op;
			if (adj < -SEM_VMX - 1 || adj > SEM_VMX) {
				ret = -ERANGE;
				break;
			}
			u->adj[o->sem_num] = (short)adj;
		}
		g->sem[o->sem_num].val = (unsigned short)v;
	}
	if (ret == 0)
		return 0;
	while (i-- > 0) { /* back out of what went */
		const struct sembuf *o = &ops[i];
		g->sem[o->sem_num].val = (unsigned short)(g->sem[o->sem_num].val - o->sem_op);
		if (o->sem_flg & SEM_UNDO)
			u->adj[o->sem_num] = (short)(u->adj[o->sem_num] + o->sem_op);
	}
	return ret;
}

static long sem_op(struct task *t, int64_t id, uint64_t uops, uint64_t nops, uint64_t utimeout)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (nops < 1 || (int64_t)id < 0)
		return -EINVAL;
	if (nops > SEM_OPM)
		return -E2BIG;
	struct sembuf ops[SEM_OPM];
	if (mm_copy_in(pr, uops, ops, nops * sizeof(ops[0])) < 0)
		return -EFAULT;
	struct timespec deadline;
	if (utimeout) {
		struct timespec ts;
		if (mm_copy_in(pr, utimeout, &ts, sizeof(ts)) < 0)
			return -EFAULT;
		if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
			return -EINVAL;
		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec += ts.tv_sec + (deadline.tv_nsec + ts.tv_nsec) / 1000000000;
		deadline.tv_nsec = (deadline.tv_nsec + ts.tv_nsec) % 1000000000;
	}
	unsigned short max_num = 0;
	bool alter = false, undo = false;
	for (size_t i = 0; i < nops; i++) {
		max_num = ops[i].sem_num > max_num ? ops[i].sem_num : max_num;
		alter = alter || ops[i].sem_op != 0;
		undo = undo || (ops[i].sem_flg & SEM_UNDO);
	}
	struct sem_waiter w = { .fw = { .key = &token, .bitset = ~0u } };
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.fw.cond, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_lock(&s->futex_lock);
	struct sem_set *g = by_id(s, id);
	uint32_t slot = slot_of(id), seq = g ? g->seq : 0;
	long ret = !g ? -EINVAL : max_num >= g->nsems ? -EFBIG
		 : !ipc_allowed(pr, &g->ids, alter ? 0222 : 0444) ? -EACCES : 1;
	while (ret == 1) {
		struct sem_undo *u = undo ? undo_of(s, pr, slot, g, true) : NULL;
		size_t blocked = 0;
		int r = undo && !u ? -ENOMEM : try_ops(g, ops, nops, u, &blocked);
		if (r <= 0) {
			ret = r;
			if (r == 0) {
				for (size_t i = 0; i < nops; i++)
					g->sem[ops[i].sem_num].pid = pr->pid;
				g->otime = time(NULL);
				if (alter)
					wake_set(s, slot);
			}
			break;
		}
		if (ops[blocked].sem_flg & IPC_NOWAIT) {
			ret = -EAGAIN;
			break;
		}
		/* Wait for a change to the set: then all of them again, as Linux does. */
		w.num = ops[blocked].sem_num;
		w.zero = ops[blocked].sem_op == 0;
		w.fw.addr = slot;
		w.fw.next = s->futex_waiters;
		s->futex_waiters = &w.fw;
		if (__atomic_load_n(&s->shutting_down, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&pr->group_exit, __ATOMIC_ACQUIRE) || sig_interrupting(t)) {
			ret = -EINTR;
		} else {
			cpu_block_begin(t);
			pthread_mutex_t *m = &s->futex_lock;
			if (utimeout && pthread_cond_timedwait(&w.fw.cond, m, &deadline) == ETIMEDOUT)
				ret = -EAGAIN;
			else if (!utimeout)
				pthread_cond_wait(&w.fw.cond, m);
			cpu_block_end(t);
		}
		for (struct futex_waiter **pp = &s->futex_waiters; *pp; pp = &(*pp)->next)
			if (*pp == &w.fw) {
				*pp = w.fw.next;
				break;
			}
		if (s->sem[slot] != g || g->seq != seq)
			ret = -EIDRM; /* removed meanwhile (the set may be freed: not looked at again) */
		else if (ret == 1 && (__atomic_load_n(&pr->group_exit, __ATOMIC_ACQUIRE) ||
				      sig_interrupting(t)))
			ret = -EINTR;
	}
	pthread_mutex_unlock(&s->futex_lock);
	pthread_cond_destroy(&w.fw.cond);
	return ret;
}

/* How many wait in a semop for semaphore @num of set @slot to be 0 (@zero) or to grow. */
static long waiting(const struct sentry *s, uint32_t slot, int num, bool zero)
{
	long n = 0;
	for (const struct futex_waiter *w = s->futex_waiters; w; w = w->next)
		if (w->key == &token && w->addr == slot) {
			const struct sem_waiter *sw = (const struct sem_waiter *)w;
			n += sw->num == num && sw->zero == zero;
		}
	return n;
}

static void fill_ds(const struct sem_set *g, struct semid_ds *ds)
{
	memset(ds, 0, sizeof(*ds));
	ipc_perm_fill(&ds->sem_perm, g->key, &g->ids, g->seq, 0);
	ds->sem_otime = g->otime;
	ds->sem_ctime = g->ctime;
	ds->sem_nsems = (unsigned long)g->nsems;
}

static void remove_set(struct sentry *s, uint32_t slot)
{
	struct sem_set *g = s->sem[slot];
	s->sem[slot] = NULL;
	s->sem_used -= g->nsems;
	for (struct sem_undo **pp = &s->sem_undos; *pp;) {
		struct sem_undo *u = *pp;
		if (u->slot == slot && u->seq == g->seq) {
			*pp = u->next;
			free(u);
		} else {
			pp = &u->next;
		}
	}
	free(g);
	wake_set(s, slot); /* its waiters end with EIDRM */
}

static long sem_ctl(struct process *pr, int64_t id, int64_t num, int64_t cmd, uint64_t arg)
{
	struct sentry *s = pr->s;
	union semun_ un = { .buf = (struct semid_ds *)arg };
	long ret;
	switch (cmd) {
	case IPC_INFO:
	case SEM_INFO: {
		struct seminfo in = { .semmap = (int)SEM_MNS, .semmni = SEM_SLOTS, .semmns = (int)SEM_MNS,
				      .semmnu = (int)SEM_MNS, .semmsl = SEM_MSL, .semopm = SEM_OPM,
				      .semume = SEM_OPM, .semusz = 20, .semvmx = SEM_VMX, .semaem = SEM_VMX };
		long hi = 0;
		pthread_mutex_lock(&s->futex_lock);
		int sets = 0;
		for (uint32_t i = 0; s->sem && i < SEM_SLOTS; i++)
			if (s->sem[i])
				hi = i, sets++;
		if (cmd == SEM_INFO) {
			in.semusz = sets;
			in.semaem = (int)s->sem_used;
		}
		pthread_mutex_unlock(&s->futex_lock);
		return mm_copy_out(pr, arg, &in, sizeof(in)) < 0 ? -EFAULT : hi;
	}
	case SEM_STAT:
	case SEM_STAT_ANY:
	case IPC_STAT: {
		struct semid_ds ds;
		pthread_mutex_lock(&s->futex_lock);
		struct sem_set *g = cmd == IPC_STAT ? by_id(s, id)
				    : id >= 0 && id < SEM_SLOTS && s->sem ? s->sem[id] : NULL;
		ret = !g ? -EINVAL : cmd != SEM_STAT_ANY && !ipc_allowed(pr, &g->ids, 0444) ? -EACCES
		      : cmd == IPC_STAT ? 0 : id_of(s, g, (uint32_t)id);
		if (g)
			fill_ds(g, &ds);
		pthread_mutex_unlock(&s->futex_lock);
		return ret < 0 ? ret : mm_copy_out(pr, arg, &ds, sizeof(ds)) < 0 ? -EFAULT : ret;
	}
	case IPC_SET: {
		struct semid_ds ds;
		if (mm_copy_in(pr, arg, &ds, sizeof(ds)) < 0)
			return -EFAULT;
		pthread_mutex_lock(&s->futex_lock);
		struct sem_set *g = by_id(s, id);
		ret = !g ? -EINVAL : !ipc_owner(pr, &g->ids) ? -EPERM : 0;
		if (ret == 0 && (ret = ipc_set_perm(&g->ids, &ds.sem_perm)) == 0)
			g->ctime = time(NULL);
		pthread_mutex_unlock(&s->futex_lock);
		return ret;
	}
	case IPC_RMID: {
		pthread_mutex_lock(&s->futex_lock);
		struct sem_set *g = by_id(s, id);
		ret = !g ? -EINVAL : !ipc_owner(pr, &g->ids) ? -EPERM : 0;
		if (ret == 0)
			remove_set(s, slot_of(id));
		pthread_mutex_unlock(&s->futex_lock);
		return ret;
	}
	case GETVAL:
	case GETPID:
	case GETNCNT:
	case GETZCNT: {
		pthread_mutex_lock(&s->futex_lock);
		struct sem_set *g = by_id(s, id);
		ret = !g ? -EINVAL : !ipc_allowed(pr, &g->ids, 0444) ? -EACCES
		      : num < 0 || num >= g->nsems ? -EINVAL
		      : 0;
		if (ret == 0)
			ret = cmd == GETVAL ? g->sem[num].val : cmd == GETPID ? g->sem[num].pid
			      : waiting(s, slot_of(id), (int)num, cmd == GETZCNT);
		pthread_mutex_unlock(&s->futex_lock);
		return ret;
	}
	case SETVAL: {
		pthread_mutex_lock(&s->futex_lock);
		struct sem_set *g = by_id(s, id);
		ret = !g ? -EINVAL : num < 0 || num >= g->nsems ? -EINVAL
		      : !ipc_allowed(pr, &g->ids, 0222) ? -EACCES
		      : un.val < 0 || un.val > SEM_VMX ? -ERANGE : 0;
		if (ret == 0) {
			uint32_t slot = slot_of(id);
			g->sem[num].val = (unsigned short)un.val;
			g->sem[num].pid = pr->pid;
			g->ctime = time(NULL);
			clear_undo(s, slot, g->seq, (int)num);
			wake_set(s, slot);
		}
		pthread_mutex_unlock(&s->futex_lock);
		return ret;
	}
	case GETALL:
	case SETALL: {
		/* The set's size first, then the values copied with the lock let go; the set looked up
		 * again. */
		pthread_mutex_lock(&s->futex_lock);
		struct sem_set *g = by_id(s, id);
		int n = g ? g->nsems : 0;
		ret = !g ? -EINVAL : !ipc_allowed(pr, &g->ids, cmd == GETALL ? 0444 : 0222) ? -EACCES : 0;
		pthread_mutex_unlock(&s->futex_lock);
		unsigned short *v = ret == 0 ? calloc((size_t)n, sizeof(*v)) : NULL;
		if (ret == 0 && !v)
			ret = -ENOMEM;
		if (ret == 0 && cmd == SETALL && mm_copy_in(pr, arg, v, (size_t)n * sizeof(*v)) < 0)
			ret = -EFAULT;
		for (int i = 0; ret == 0 && cmd == SETALL && i < n; i++)
			if (v[i] > SEM_VMX)
				ret = -ERANGE;
		if (ret == 0) {
			pthread_mutex_lock(&s->futex_lock);
			g = by_id(s, id);
			if (!g || g->nsems != n) {
				ret = -EIDRM;
			} else if (cmd == GETALL) {
				for (int i = 0; i < n; i++)
					v[i] = g->sem[i].val;
			} else {
				uint32_t slot = slot_of(id);
				for (int i = 0; i < n; i++)
					g->sem[i] = (struct sem_one){ v[i], pr->pid };
				g->ctime = time(NULL);
				clear_undo(s, slot, g->seq, -1);
				wake_set(s, slot);
			}
			pthread_mutex_unlock(&s->futex_lock);
		}
		if (ret == 0 && cmd == GETALL && mm_copy_out(pr, arg, v, (size_t)n * sizeof(*v)) < 0)
			ret = -EFAULT;
		free(v);
		return ret;
	}
	default:
		return -EINVAL;
	}
}

void sem_process_end(struct process *pr)
{
	struct sentry *s = pr->s;
	if (!s->sem_undos)
		return;
	pthread_mutex_lock(&s->futex_lock);
	for (struct sem_undo **pp = &s->sem_undos; *pp;) {
		struct sem_undo *u = *pp;
		if (u->owner != pr) {
			pp = &u->next;
			continue;
		}
		*pp = u->next;
		struct sem_set *g = s->sem ? s->sem[u->slot] : NULL;
		if (g && g->seq == u->seq) { /* as Linux's exit_sem: each value moved back, in 0..SEMVMX */
			bool changed = false;
			for (int i = 0; i < u->nsems; i++) {
				if (!u->adj[i])
					continue;
				int v = g->sem[i].val + u->adj[i];
				g->sem[i].val = (unsigned short)(v < 0 ? 0 : v > SEM_VMX ? SEM_VMX : v);
				g->sem[i].pid = pr->pid;
				changed = true;
			}
			if (changed) {
				g->otime = time(NULL);
				wake_set(s, u->slot);
			}
		}
		free(u);
	}
	pthread_mutex_unlock(&s->futex_lock);
}

void sem_free(struct sentry *s)
{
	while (s->sem_undos) {
		struct sem_undo *u = s->sem_undos;
		s->sem_undos = u->next;
		free(u);
	}
	for (uint32_t i = 0; s->sem && i < SEM_SLOTS; i++)
		free(s->sem[i]);
	free(s->sem);
	s->sem = NULL;
}

static long sem_get_locked(struct process *pr, int32_t key, int64_t nsems, uint64_t flg)
{
	pthread_mutex_lock(&pr->s->futex_lock);
	long r = sem_get(pr, key, nsems, flg);
	pthread_mutex_unlock(&pr->s->futex_lock);
	return r;
}

SYSCALL_ENTRY(semget, sem_get_locked(t->proc, (int32_t)a[0], (int32_t)a[1], a[2]))
SYSCALL_ENTRY(semop, sem_op(t, (int32_t)a[0], a[1], a[2], 0))
SYSCALL_ENTRY(semtimedop, sem_op(t, (int32_t)a[0], a[1], a[2], a[3]))
SYSCALL_ENTRY(semctl, sem_ctl(t->proc, (int32_t)a[0], (int32_t)a[1], (int32_t)a[2], a[3]))
