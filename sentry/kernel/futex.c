// SPDX-License-Identifier: Apache-2.0
// Futexes between the tasks of a process (or of processes sharing one memory, clone(CLONE_VM)): wait
// (with timeouts and bitsets), wake and requeue.
//
// The futex word is read with an atomic load through the address space while the futex lock is held,
// and wakers take the same lock, so a wake between the application's store and our check is never
// lost. Waiters are keyed by (memory, address), except a shared futex (no FUTEX_PRIVATE_FLAG) in a
// MAP_SHARED mapping: that one is keyed by its memory-file offset, or for a shared file mapping by the
// file (device, inode) and offset, so processes sharing the page meet wherever they map it.
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <time.h>
#include "../sentry.h"
#include "../systable.h"

static void to_abs_monotonic(const struct timespec *rel, struct timespec *abs)
{
	clock_gettime(CLOCK_MONOTONIC, abs);
	abs->tv_sec += rel->tv_sec;
	abs->tv_nsec += rel->tv_nsec;
	if (abs->tv_nsec >= 1000000000) {
		abs->tv_sec++;
		abs->tv_nsec -= 1000000000;
	}
}

/* The wait-queue key of futex word @uaddr: (memory, address), or for a shared futex in a shared
 * mapping (NULL, memory-file offset) or (file token, offset). */
static void futex_key(struct process *pr, uint64_t uaddr, uint64_t op, const void **kpr, uint64_t *kaddr)
{
	uint64_t off;
	uintptr_t file;
	*kpr = pr->vm; /* private: the memory (Linux keys them by mm), shared by CLONE_VM processes */
	*kaddr = uaddr;
	if (!(op & FUTEX_PRIVATE_FLAG) && mm_shared_offset(pr, uaddr, &file, &off)) {
		*kpr = (const void *)file; /* an identity only, never dereferenced */
		*kaddr = off;
	}
}

static long futex_wait(struct task *t, uint64_t uaddr, uint64_t op, uint32_t val, const struct timespec *deadline,
		       uint32_t bitset)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	struct futex_waiter w = { .bitset = bitset };
	mm_populate(pr, uaddr, 4); /* the word may be unpopulated memory, nothing installed yet */
	futex_key(pr, uaddr, op, &w.key, &w.addr);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &ca);
	pthread_condattr_destroy(&ca);
	long ret = 0;
	pthread_mutex_lock(&s->futex_lock);
	uint32_t cur;
	if (cv_as_load_u32(pr->vm->as, uaddr, &cur) < 0) {
		ret = -EFAULT;
		goto out;
	}
	if (cur != val) {
		ret = -EAGAIN;
		goto out;
	}
	w.next = s->futex_waiters;
	s->futex_waiters = &w;
	while (!w.woken && ret == 0) {
		if (__atomic_load_n(&s->shutting_down, __ATOMIC_ACQUIRE) ||
		    __atomic_load_n(&pr->group_exit, __ATOMIC_ACQUIRE) || sig_interrupting(t)) {
			ret = -EINTR;
			break;
		}
		cpu_block_begin(t);
		if (deadline) {
			if (pthread_cond_timedwait(&w.cond, &s->futex_lock, deadline) == ETIMEDOUT && !w.woken)
				ret = -ETIMEDOUT;
		} else {
			pthread_cond_wait(&w.cond, &s->futex_lock);
		}
		cpu_block_end(t);
	}
	for (struct futex_waiter **pp = &s->futex_waiters; *pp; pp = &(*pp)->next)
		if (*pp == &w) {
			*pp = w.next;
			break;
		}
	if (w.woken)
		ret = 0;
out:
	pthread_mutex_unlock(&s->futex_lock);
	pthread_cond_destroy(&w.cond);
	return ret;
}

/* Wake up to @n waiters on (pr, uaddr) matching @bitset; move up to @n2 more to @uaddr2 if requeue. */
/* Keys are computed before the futex lock is taken (futex_key takes the process lock, which syscalls
 * hold while they may wake futexes through signals). */
static long futex_wake(struct sentry *s, const void *kpr, uint64_t key, uint32_t bitset, uint32_t n,
		       bool requeue, const void *kpr2, uint64_t key2, uint32_t n2)
{
	long woken = 0, moved = 0;
	for (struct futex_waiter *w = s->futex_waiters; w; w = w->next) {
		if (w->woken || w->key != kpr || w->addr != key || !(w->bitset & bitset))
			continue;
		if ((uint32_t)woken < n) {
			w->woken = true;
			pthread_cond_signal(&w->cond);
			woken++;
		} else if (requeue && (uint32_t)moved < n2) {
			w->key = kpr2;
			w->addr = key2;
			moved++;
		}
	}
	return woken + (requeue ? moved : 0);
}

/* Atomically apply the operation encoded in @encoded to the word at @uaddr2: its old value, or -errno. */
static long futex_atomic_op(struct process *pr, uint64_t uaddr2, uint32_t encoded, uint32_t *old)
{
	unsigned opc = (encoded >> 28) & 0xf;
	uint32_t oparg = (uint32_t)((int32_t)(encoded << 8) >> 20); /* 12 bits, sign-extended */
	if (opc & FUTEX_OP_OPARG_SHIFT) {
		opc &= ~(unsigned)FUTEX_OP_OPARG_SHIFT;
		oparg = 1u << (oparg & 31); /* Linux masks a shift out of range to 0..31 */
	}
	if (opc > FUTEX_OP_XOR)
		return -ENOSYS;
	if (!mm_writable(pr, uaddr2) || mm_own_page(pr, uaddr2) < 0)
		return -EFAULT;
	for (int tries = 0; tries < 1000; tries++) {
		uint32_t cur, nv, seen;
		if (cv_as_load_u32(pr->vm->as, uaddr2, &cur) < 0)
			return -EFAULT;
		switch (opc) {
		case FUTEX_OP_SET: nv = oparg; break;
		case FUTEX_OP_ADD: nv = cur + oparg; break;
		case FUTEX_OP_OR: nv = cur | oparg; break;
		case FUTEX_OP_ANDN: nv = cur & ~oparg; break;
		default: nv = cur ^ oparg; break;
		}
		if (cv_as_cas_u32(pr->vm->as, uaddr2, cur, nv, &seen) < 0)
			return -EFAULT;
		if (seen == cur) {
			*old = cur;
			return 0;
		}
	}
	return -EAGAIN;
}

static bool futex_cmp(uint32_t old, uint32_t encoded)
{
	int32_t cmparg = (int32_t)(encoded << 20) >> 20, v = (int32_t)old;
	switch ((encoded >> 24) & 0xf) {
	case FUTEX_OP_CMP_EQ: return v == cmparg;
	case FUTEX_OP_CMP_NE: return v != cmparg;
	case FUTEX_OP_CMP_LT: return v < cmparg;
	case FUTEX_OP_CMP_LE: return v <= cmparg;
	case FUTEX_OP_CMP_GT: return v > cmparg;
	case FUTEX_OP_CMP_GE: return v >= cmparg;
	default: return false;
	}
}

/* FUTEX_WAKE_OP: change the word at @uaddr2, wake @n on @uaddr and, if the old value compares, @n2 on
 * @uaddr2. The change is made before the wake-ups are decided (a waiter checks the word under the
 * futex lock, so it either saw the new value or is woken). */
static long futex_wake_op(struct task *t, uint64_t uaddr, uint64_t op, uint32_t n, uint32_t n2, uint64_t uaddr2,
			  uint32_t encoded)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	if (uaddr2 & 3)
		return -EINVAL;
	unsigned cmp = (encoded >> 24) & 0xf;
	if (cmp > FUTEX_OP_CMP_GE)
		return -ENOSYS;
	const void *kpr, *kpr2;
	uint64_t key, key2;
	futex_key(pr, uaddr, op, &kpr, &key);
	futex_key(pr, uaddr2, op, &kpr2, &key2);
	uint32_t old;
	long ret = futex_atomic_op(pr, uaddr2, encoded, &old);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&s->futex_lock);
	ret = futex_wake(s, kpr, key, FUTEX_BITSET_MATCH_ANY, n, false, NULL, 0, 0);
	if (futex_cmp(old, encoded))
		ret += futex_wake(s, kpr2, key2, FUTEX_BITSET_MATCH_ANY, n2, false, NULL, 0, 0);
	pthread_mutex_unlock(&s->futex_lock);
	return ret;
}

/* A robust futex whose owner @t died: mark it FUTEX_OWNER_DIED (waiters kept) and wake one waiter. */
static void robust_death(struct task *t, uint64_t uaddr)
{
	struct process *pr = t->proc;
	if (uaddr & 3)
		return;
	mm_flush_installs(pr); /* (an exit need not follow a syscall: what an mmap held back first) */
	bool ok = mm_writable(pr, uaddr) && mm_own_page(pr, uaddr) == 0;
	for (int tries = 0; ok && tries < 1000; tries++) {
		uint32_t cur, seen;
		if (cv_as_load_u32(pr->vm->as, uaddr, &cur) < 0 || (cur & FUTEX_TID_MASK) != (uint32_t)t->tid)
			return;
		uint32_t nv = (cur & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
		if (cv_as_cas_u32(pr->vm->as, uaddr, cur, nv, &seen) < 0)
			return;
		if (seen != cur)
			continue;
		if (cur & FUTEX_WAITERS)
			do_futex(t, uaddr, FUTEX_WAKE, 1, 0, 0, 0); /* shared: robust mutexes may be */
		return;
	}
}

#define ROBUST_LIST_LIMIT 2048 /* as Linux: a looped list ends */

void futex_robust_exit(struct task *t)
{
	struct process *pr = t->proc;
	struct { uint64_t next; int64_t offset; uint64_t pending; } head;
	if (!t->robust_head || mm_copy_in(pr, t->robust_head, &head, sizeof(head)) < 0)
		return;
	uint64_t entry = head.next;
	for (int n = 0; entry != t->robust_head && n < ROBUST_LIST_LIMIT; n++) {
		uint64_t next;
		if (mm_copy_in(pr, entry & ~1ull, &next, sizeof(next)) < 0)
			break;
		if (entry != head.pending)
			robust_death(t, (entry & ~1ull) + (uint64_t)head.offset);
		entry = next;
	}
	if (head.pending)
		robust_death(t, (head.pending & ~1ull) + (uint64_t)head.offset);
	t->robust_head = 0;
}

long do_futex(struct task *t, uint64_t uaddr, uint64_t op, uint64_t val, uint64_t utime, uint64_t uaddr2,
	      uint64_t val3)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	unsigned cmd = (unsigned)op & FUTEX_CMD_MASK;
	if (uaddr & 3)
		return -EINVAL;
	switch (cmd) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET: {
		uint32_t bitset = cmd == FUTEX_WAIT ? FUTEX_BITSET_MATCH_ANY : (uint32_t)val3;
		if (!bitset)
			return -EINVAL;
		struct timespec ts, deadline;
		if (utime) {
			if (mm_copy_in(pr, utime, &ts, sizeof(ts)) < 0)
				return -EFAULT;
			if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
				return -EINVAL;
			if (cmd == FUTEX_WAIT) {
				to_abs_monotonic(&ts, &deadline);
			} else if (op & FUTEX_CLOCK_REALTIME) { /* absolute on the realtime clock */
				struct timespec now, rel;
				clock_gettime(CLOCK_REALTIME, &now);
				rel.tv_sec = ts.tv_sec - now.tv_sec;
				rel.tv_nsec = ts.tv_nsec - now.tv_nsec;
				if (rel.tv_nsec < 0) {
					rel.tv_sec--;
					rel.tv_nsec += 1000000000;
				}
				if (rel.tv_sec < 0)
					rel.tv_sec = rel.tv_nsec = 0;
				to_abs_monotonic(&rel, &deadline);
			} else {
				deadline = ts;
			}
		}
		return futex_wait(t, uaddr, op, (uint32_t)val, utime ? &deadline : NULL, bitset);
	}
	case FUTEX_WAKE:
	case FUTEX_WAKE_BITSET: {
		uint32_t bitset = cmd == FUTEX_WAKE ? FUTEX_BITSET_MATCH_ANY : (uint32_t)val3;
		if (!bitset)
			return -EINVAL;
		const void *kpr;
		uint64_t key;
		futex_key(pr, uaddr, op, &kpr, &key);
		pthread_mutex_lock(&s->futex_lock);
		/* Linux wakes at least one: a count of 0 wakes one waiter too. */
		long n = futex_wake(s, kpr, key, bitset, (uint32_t)val ? (uint32_t)val : 1, false, NULL, 0, 0);
		pthread_mutex_unlock(&s->futex_lock);
		return n;
	}
	case FUTEX_WAKE_OP:
		return futex_wake_op(t, uaddr, op, (uint32_t)val, (uint32_t)utime, uaddr2, (uint32_t)val3);
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE: {
		if (uaddr2 & 3)
			return -EINVAL;
		const void *kpr, *kpr2;
		uint64_t key, key2;
		mm_populate(pr, uaddr, 4);
		futex_key(pr, uaddr, op, &kpr, &key);
		futex_key(pr, uaddr2, op, &kpr2, &key2);
		pthread_mutex_lock(&s->futex_lock);
		long n = -EAGAIN;
		uint32_t cur;
		if (cmd == FUTEX_CMP_REQUEUE && cv_as_load_u32(pr->vm->as, uaddr, &cur) < 0)
			n = -EFAULT;
		else if (cmd == FUTEX_REQUEUE || cur == (uint32_t)val3)
			n = futex_wake(s, kpr, key, FUTEX_BITSET_MATCH_ANY, (uint32_t)val, true, kpr2, key2, (uint32_t)utime);
		pthread_mutex_unlock(&s->futex_lock);
		return n;
	}
	default:
		return -ENOSYS;
	}
}

void futex_wake_all(struct sentry *s)
{
	pthread_mutex_lock(&s->futex_lock);
	for (struct futex_waiter *w = s->futex_waiters; w; w = w->next)
		pthread_cond_signal(&w->cond); /* they re-check shutting_down / group_exit */
	pthread_mutex_unlock(&s->futex_lock);
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(futex, do_futex(t, a[0], a[1], a[2], a[3], a[4], a[5]))
