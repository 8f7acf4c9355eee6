// SPDX-License-Identifier: Apache-2.0
// Futexes between the tasks of a process: wait (with timeouts and bitsets), wake and requeue.
//
// The futex word is read with an atomic load through the address space while the futex lock is held,
// and wakers take the same lock, so a wake between the application's store and our check is never
// lost. Waiters are keyed by (process, address), except a shared futex (no FUTEX_PRIVATE_FLAG) in a
// MAP_SHARED mapping: that one is keyed by its memory-file offset, or for a shared file mapping by the
// file (device, inode) and offset, so processes sharing the page meet wherever they map it.
#include <errno.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <time.h>
#include "sentry.h"

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

/* The wait-queue key of futex word @uaddr: (process, address), or for a shared futex in a shared
 * mapping (NULL, memory-file offset) or (file token, offset). */
static void futex_key(struct process *pr, uint64_t uaddr, uint64_t op, struct process **kpr, uint64_t *kaddr)
{
	uint64_t off;
	uintptr_t file;
	*kpr = pr;
	*kaddr = uaddr;
	if (!(op & FUTEX_PRIVATE_FLAG) && mm_shared_offset(pr, uaddr, &file, &off)) {
		*kpr = (struct process *)file; /* an identity only, never dereferenced */
		*kaddr = off;
	}
}

static long futex_wait(struct task *t, uint64_t uaddr, uint64_t op, uint32_t val, const struct timespec *deadline,
		       uint32_t bitset)
{
	struct process *pr = t->proc;
	struct sentry *s = pr->s;
	struct futex_waiter w = { .bitset = bitset };
	futex_key(pr, uaddr, op, &w.pr, &w.addr);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w.cond, &ca);
	pthread_condattr_destroy(&ca);
	long ret = 0;
	pthread_mutex_lock(&s->futex_lock);
	uint32_t cur;
	if (cv_as_load_u32(pr->as, uaddr, &cur) < 0) {
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
static long futex_wake(struct sentry *s, struct process *kpr, uint64_t key, uint32_t bitset, uint32_t n,
		       bool requeue, struct process *kpr2, uint64_t key2, uint32_t n2)
{
	long woken = 0, moved = 0;
	for (struct futex_waiter *w = s->futex_waiters; w; w = w->next) {
		if (w->woken || w->pr != kpr || w->addr != key || !(w->bitset & bitset))
			continue;
		if ((uint32_t)woken < n) {
			w->woken = true;
			pthread_cond_signal(&w->cond);
			woken++;
		} else if (requeue && (uint32_t)moved < n2) {
			w->pr = kpr2;
			w->addr = key2;
			moved++;
		}
	}
	return woken + (requeue ? moved : 0);
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
		struct process *kpr;
		uint64_t key;
		futex_key(pr, uaddr, op, &kpr, &key);
		pthread_mutex_lock(&s->futex_lock);
		long n = futex_wake(s, kpr, key, bitset, (uint32_t)val, false, NULL, 0, 0);
		pthread_mutex_unlock(&s->futex_lock);
		return n;
	}
	case FUTEX_REQUEUE:
	case FUTEX_CMP_REQUEUE: {
		if (uaddr2 & 3)
			return -EINVAL;
		struct process *kpr, *kpr2;
		uint64_t key, key2;
		futex_key(pr, uaddr, op, &kpr, &key);
		futex_key(pr, uaddr2, op, &kpr2, &key2);
		pthread_mutex_lock(&s->futex_lock);
		long n = -EAGAIN;
		uint32_t cur;
		if (cmd == FUTEX_CMP_REQUEUE && cv_as_load_u32(pr->as, uaddr, &cur) < 0)
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
