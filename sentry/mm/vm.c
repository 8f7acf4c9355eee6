// SPDX-License-Identifier: Apache-2.0
// A memory's life (struct vm): made for a process or an execve, shared by clone(CLONE_VM) without
// CLONE_THREAD, freed with its last user.
#include <errno.h>
#include <stdlib.h>
#include "mm_internal.h"

struct vm *vm_new_bare(struct sentry *s)
{
	struct vm *vm = calloc(1, sizeof(*vm));
	if (!vm)
		return NULL;
	pthread_mutexattr_t ma;
	pthread_mutexattr_init(&ma);
	pthread_mutexattr_settype(&ma, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&vm->lock, &ma);
	pthread_mutexattr_destroy(&ma);
	vm->users = 1;
	__atomic_add_fetch(&s->live_vms, 1, __ATOMIC_RELAXED);
	return vm;
}

struct vm *vm_new(struct sentry *s)
{
	struct vm *vm = vm_new_bare(s);
	if (vm && cv_as_new(s->p, &vm->as) < 0) {
		vm_put(s, vm);
		return NULL;
	}
	return vm;
}

void vm_get(struct vm *vm)
{
	__atomic_add_fetch(&vm->users, 1, __ATOMIC_RELAXED);
}

void vm_put(struct sentry *s, struct vm *vm)
{
	if (!vm || __atomic_sub_fetch(&vm->users, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	/* Nobody else can reach it now: no process points at it, and vm_lock's reference is gone. */
	struct mm *mm = &vm->mm;
	/* The address space first: once its pages are freed they may be another process's, and from
	 * its release on the platform keeps them from that while its stub can still reach them (emptied,
	 * or behind memory-file fences until the stub is gone). */
	cv_as_release(vm->as);
	for (size_t i = 0; i < mm->n; i++)
		vma_release(s, &mm->v[i]);
	shm_vm_release(s, vm);
	mm_drop_deferred(s, mm); /* (after the release: a batch that failed may have left its pages mapped) */
	free(mm->v);
	free(mm->defer);
	free(mm->defer_host);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
	__atomic_sub_fetch(&s->live_vms, 1, __ATOMIC_RELAXED);
}

/* A bound: a release counted there waits on no allocation (task_exit), but an end in a clone(CLONE_VM)
 * family could wait on its reaped children's, one of which on the sharer that allocates. */
#define RELEASE_WAIT_MS 200

int vm_alloc_pages_warm(struct sentry *s, uint64_t len, uint64_t *off)
{
	int got = cv_memfile_alloc(s->mf, len, CV_ALLOC_REPORT_WARM, off);
	if (got >= 0)
		return got;
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_nsec += RELEASE_WAIT_MS * 1000000l;
	until.tv_sec += until.tv_nsec / 1000000000l;
	until.tv_nsec %= 1000000000l;
	pthread_mutex_lock(&s->lock);
	uint64_t begun = s->releases_begun;
	bool waited = begun != s->releases_done;
	while (s->releases_done < begun && pthread_cond_timedwait(&s->changed, &s->lock, &until) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&s->lock);
	got = waited ? cv_memfile_alloc(s->mf, len, CV_ALLOC_REPORT_WARM, off) : -ENOMEM;
	return got >= 0 ? got : -ENOMEM;
}

int vm_alloc_pages(struct sentry *s, uint64_t len, uint64_t *off)
{
	return vm_alloc_pages_warm(s, len, off) < 0 ? -ENOMEM : 0;
}

void vm_empty(struct sentry *s, struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	struct mm *mm = &vm->mm;
	/* As vm_put: the address space first. If it cannot go (a context still in it), nothing goes. */
	if (cv_as_release(vm->as) == 0) {
		vm->as = NULL;
		for (size_t i = 0; i < mm->n; i++)
			vma_release(s, &mm->v[i]);
		mm->n = 0;
		mm_drop_deferred(s, mm);
	}
	pthread_mutex_unlock(&vm->lock);
}

struct vm *vm_lock(struct process *pr)
{
	struct sentry *s = pr->s;
	for (;;) {
		/* A reference taken under s->lock (which pr->vm changes under) keeps the vm alive while its
		 * lock is waited for; s->lock is not held meanwhile (the lock order is vm, then s). */
		pthread_mutex_lock(&s->lock);
		struct vm *vm = pr->vm;
		vm_get(vm);
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_lock(&vm->lock);
		if (__atomic_load_n(&pr->vm, __ATOMIC_ACQUIRE) == vm) {
			/* pr still uses it and cannot let go while it is locked: not the last reference. */
			__atomic_sub_fetch(&vm->users, 1, __ATOMIC_RELEASE);
			return vm;
		}
		pthread_mutex_unlock(&vm->lock);
		vm_put(s, vm);
	}
}
