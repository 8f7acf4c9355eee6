// SPDX-License-Identifier: Apache-2.0
// vfork's shared memory (clone with CLONE_VM|CLONE_VFORK: vfork(2), glibc's posix_spawn, CPython's
// subprocess). Linux runs the child in the parent's address space until it execs or ends, and
// programs rely on it: posix_spawn's child writes the exec error into the parent's stack, where the
// parent reads it after the child is gone. The sentry gives such a child a copy-on-write copy that
// shares every private page (none copied eagerly), notes where each VMA stood in the memory file right
// after the fork, and when the child execs or ends (its parent still blocked in the clone) writes the
// pages the child wrote — the ones whose memory-file offset moved: a copy-on-write copy — back into
// the parent, page by page where they differ. Shared mappings are shared already.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "mm_internal.h"

int mm_vfork_snapshot(struct process *c)
{
	const struct mm *m = &c->vm->mm;
	c->vfork_snap = malloc((m->n ? m->n : 1) * sizeof(struct vma));
	if (!c->vfork_snap)
		return -ENOMEM;
	memcpy(c->vfork_snap, m->v, m->n * sizeof(struct vma));
	c->vfork_nsnap = m->n;
	return 0;
}

/* The memory-file offset page @addr had right after the fork, or UINT64_MAX (not a private page then). */
static uint64_t snap_off(const struct process *c, uint64_t addr)
{
	const struct mm snap = { .v = c->vfork_snap, .n = c->vfork_nsnap };
	size_t lo = vma_find(&snap, addr);
	const struct vma *s = lo < c->vfork_nsnap ? &c->vfork_snap[lo] : NULL;
	if (!s || s->start > addr || s->host || s->shared || s->lazy)
		return UINT64_MAX; /* (unpopulated then: the child populated it by writing) */
	return s->mf_off + (addr - s->start);
}

void mm_vfork_copy_back(struct process *c, struct process *parent)
{
	static uint8_t mine[PAGE], theirs[PAGE]; /* one release at a time: vfork_lock below */
	static pthread_mutex_t vfork_lock = PTHREAD_MUTEX_INITIALIZER;
	if (!c->vfork_snap)
		return;
	pthread_mutex_lock(&vfork_lock);
	pthread_mutex_lock(&parent->vm->lock);
	for (size_t i = 0; i < c->vm->mm.n; i++) {
		const struct vma v = c->vm->mm.v[i];
		if (v.host || v.shared || v.lazy || !(v.access & CV_ACCESS_WRITE))
			continue;
		for (uint64_t a = v.start; a < v.end; a += PAGE) {
			if (snap_off(c, a) == v.mf_off + (a - v.start))
				continue; /* still the page both had: the child did not write it */
			size_t j = vma_find(&parent->vm->mm, a);
			if (j >= parent->vm->mm.n || parent->vm->mm.v[j].start > a || parent->vm->mm.v[j].host || parent->vm->mm.v[j].shared)
				continue;
			if (mm_copy_in(c, a, mine, PAGE) < 0 || mm_copy_in(parent, a, theirs, PAGE) < 0 ||
			    memcmp(mine, theirs, PAGE) == 0)
				continue;
			mm_copy_out(parent, a, mine, PAGE);
		}
	}
	pthread_mutex_unlock(&parent->vm->lock);
	pthread_mutex_unlock(&vfork_lock);
	free(c->vfork_snap);
	c->vfork_snap = NULL;
	c->vfork_nsnap = 0;
}
