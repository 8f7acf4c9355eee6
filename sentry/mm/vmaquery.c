// SPDX-License-Identifier: Apache-2.0
// Memory syscalls that only look at the process's mappings: mincore, msync and the mlock family. All
// application memory is the memory file's: mincore reports every mapped page resident (unpopulated
// ones too), there is nothing to write back, and locking only populates (mm_populate). Reads the VMA list under the process lock (held by the dispatcher).
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include "../sentry.h"
#include "../systable.h"

#define PAGE 4096ull
#ifndef MLOCK_ONFAULT
#define MLOCK_ONFAULT 0x01
#endif
#ifndef MCL_ONFAULT
#define MCL_ONFAULT 4
#endif

/* Is every page of [start, end) in some mapping? */
static bool range_mapped(const struct mm *mm, uint64_t start, uint64_t end)
{
	uint64_t at = start;
	for (size_t i = 0; i < mm->n && at < end; i++) { /* sorted and non-overlapping */
		if (mm->v[i].end <= at)
			continue;
		if (mm->v[i].start > at)
			return false;
		at = mm->v[i].end;
	}
	return at >= end;
}

/* The page-aligned range [*start, *end) that [addr, addr+len) touches; false if it wraps. */
static bool page_range(uint64_t addr, uint64_t len, uint64_t *start, uint64_t *end)
{
	*start = addr & ~(PAGE - 1);
	if (__builtin_add_overflow(addr, len, end) || __builtin_add_overflow(*end, PAGE - 1, end))
		return false;
	*end &= ~(PAGE - 1);
	return true;
}

static long sys_mincore(struct process *pr, uint64_t addr, uint64_t len, uint64_t uvec)
{
	uint64_t start, end;
	if (addr & (PAGE - 1))
		return -EINVAL;
	if (!page_range(addr, len, &start, &end) || end > pr->s->caps.max_user_addr)
		return -ENOMEM;
	if (!range_mapped(&pr->vm->mm, start, end))
		return -ENOMEM;
	uint8_t ones[PAGE];
	memset(ones, 1, sizeof(ones));
	for (uint64_t pages = (end - start) / PAGE, done = 0; done < pages;) {
		uint64_t n = pages - done < sizeof(ones) ? pages - done : sizeof(ones);
		if (mm_copy_out(pr, uvec + done, ones, n) < 0)
			return -EFAULT;
		done += n;
	}
	return 0;
}

/* RLIMIT_MEMLOCK bounds what an unprivileged process may lock (nothing is really locked: the
 * memory file's pages are never swapped out by the sentry); the sandbox's root (CAP_IPC_LOCK in its
 * world) is not bound by it. */
static long memlock_allowed(const struct process *pr, uint64_t len)
{
	uint64_t limit = pr->rlim[RLIMIT_MEMLOCK].rlim_cur;
	if (cred_root(&pr->cred))
		return 0;
	return limit == 0 ? -EPERM : limit != RLIM_INFINITY && len > limit ? -ENOMEM : 0;
}

/* All the process maps, as the kernel's total_vm counts it for mlockall(MCL_CURRENT). */
static uint64_t mapped_total(const struct mm *mm)
{
	uint64_t n = 0;
	for (size_t i = 0; i < mm->n; i++)
		n += mm->v[i].end - mm->v[i].start;
	return n;
}

long vma_query_syscall(struct task *t, uint64_t nr, uint64_t a0, uint64_t a1, uint64_t a2)
{
	struct process *pr = t->proc;
	uint64_t start, end;
	switch (nr) {
	case SYS_mincore:
		return sys_mincore(pr, a0, a1, a2);
	case SYS_msync:
		if ((a2 & ~(uint64_t)(MS_ASYNC | MS_INVALIDATE | MS_SYNC)) || (a0 & (PAGE - 1)) ||
		    ((a2 & MS_ASYNC) && (a2 & MS_SYNC)))
			return -EINVAL;
		if (!page_range(a0, a1, &start, &end))
			return -ENOMEM;
		return range_mapped(&pr->vm->mm, start, end) ? 0 : -ENOMEM;
	case SYS_mlock2:
		if (a2 & ~(uint64_t)MLOCK_ONFAULT)
			return -EINVAL;
		/* fall through */
	case SYS_mlock:
	case SYS_munlock:
		if (!page_range(a0, a1, &start, &end))
			return -EINVAL;
		if (nr != SYS_munlock && end > start) {
			long r = memlock_allowed(pr, end - start);
			if (r < 0)
				return r;
		}
		if (!range_mapped(&pr->vm->mm, start, end))
			return -ENOMEM;
		/* Locked memory is populated now (unless MLOCK_ONFAULT): no fault on it later. */
		if (nr != SYS_munlock && !(nr == SYS_mlock2 && (a2 & MLOCK_ONFAULT)) && end > start &&
		    mm_populate(pr, start, end - start) < 0)
			return -EAGAIN;
		return 0;
	case SYS_mlockall:
		if (!a0 || (a0 & ~(uint64_t)(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) || a0 == MCL_ONFAULT)
			return -EINVAL;
		return memlock_allowed(pr, (a0 & MCL_CURRENT) ? mapped_total(&pr->vm->mm) : 0);
	case SYS_munlockall:
		return 0;
	default:
		return -ENOSYS;
	}
}

/* Entry points of the syscall table (systable.c): the six argument registers unpacked. */

SYSCALL_ENTRY(msync, vma_query_syscall(t, SYS_msync, a[0], a[1], a[2]))
SYSCALL_ENTRY(mlock, vma_query_syscall(t, SYS_mlock, a[0], a[1], a[2]))
SYSCALL_ENTRY(mlock2, vma_query_syscall(t, SYS_mlock2, a[0], a[1], a[2]))
SYSCALL_ENTRY(munlock, vma_query_syscall(t, SYS_munlock, a[0], a[1], a[2]))
SYSCALL_ENTRY(mlockall, vma_query_syscall(t, SYS_mlockall, a[0], a[1], a[2]))
SYSCALL_ENTRY(munlockall, vma_query_syscall(t, SYS_munlockall, a[0], a[1], a[2]))
SYSCALL_ENTRY(mincore, vma_query_syscall(t, SYS_mincore, a[0], a[1], a[2]))
