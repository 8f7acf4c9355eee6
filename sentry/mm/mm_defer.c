// SPDX-License-Identifier: Apache-2.0
// Installs held back and made in one batch (cv_as_map_many): on systrap each install is a round trip
// to the stub's syscall thread (~40–90 µs on a virtualized host), and a dynamic program's loader maps
// each library in four or five calls in a row (a reservation, its segments over it, the bss).
//
// Two users. An image being loaded (execve) holds every install back until it is complete
// (mm_defer_installs .. mm_end_defer). And an application's mmap may hold back the install of a
// mapping into a range where nothing is installed (a host file's, or one that joins a batch already
// waiting; its range is cut out of the entries before it), until the end of an mmap of writable memory
// (sys_mmap: ld.so's data segment, written at once) or the next thing that could see the difference:
// any other syscall of a task using this memory (do_syscall), a fault in a held-back range (mm_fault),
// the sentry's own accesses through the address space (mm_copy_in, mm_copy_out), and any other change
// of the address space, which goes after the batch so that the address space changes in the order the
// calls made (vma_install, as_unmap).
//
// What keeps it safe:
// - Only a range with nothing installed is held back (installed_here): a mapping replacing installed
//   pages would leave them reachable after their VMA let go of them.
// - Each held-back entry keeps its own reference on what it maps (the host file's descriptor, or the
//   memory-file pages) until the batch is made: a mapping replaced before then cannot have its
//   descriptor closed and the number reused for another file, nor its pages handed to another
//   process while the batch maps them.
// - A batch that fails is undone (its ranges unmapped: their VMAs then install page by page on the
//   faults, as after any race); if that fails too, the references stay with the memory until it ends.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "mm_internal.h"

#define DEFER_MAX 64 /* entries held back at most: a longer run of mmaps flushes (one cv_as_map_many chunk) */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

/* Room for @extra more held-back entries. */
static int defer_room(struct mm *mm, size_t extra)
{
	if (mm->ndefer + extra <= mm->defer_cap)
		return 0;
	size_t cap = mm->defer_cap ? 2 * mm->defer_cap : 16;
	while (cap < mm->ndefer + extra)
		cap *= 2;
	struct cv_as_mapping *d = realloc(mm->defer, cap * sizeof(*d));
	if (d)
		mm->defer = d;
	struct hostmap **h = d ? realloc(mm->defer_host, cap * sizeof(*h)) : NULL;
	if (h)
		mm->defer_host = h;
	if (!d || !h)
		return -ENOMEM;
	mm->defer_cap = cap;
	return 0;
}

/* An entry's own reference on what it maps: its host file (@h), else memory-file pages [off, off+len). */
static int entry_ref(struct sentry *s, struct hostmap *h, uint64_t off, uint64_t len)
{
	if (h) {
		__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
		return 0;
	}
	return cv_memfile_incref(s->mf, off, len) < 0 ? -ENOMEM : 0;
}

static void entry_unref(struct sentry *s, struct hostmap *h, uint64_t off, uint64_t len)
{
	if (h)
		hostmap_put(h);
	else
		cv_memfile_decref(s->mf, off, len);
}

/* Is [lo, hi) covered by held-back entries? */
static bool deferred_covers(const struct mm *mm, uint64_t lo, uint64_t hi)
{
	while (lo < hi) {
		size_t k = 0;
		while (k < mm->ndefer && !(mm->defer[k].addr <= lo && lo - mm->defer[k].addr < mm->defer[k].len))
			k++;
		if (k == mm->ndefer)
			return false;
		lo = mm->defer[k].addr + mm->defer[k].len;
	}
	return true;
}

bool mm_deferred_overlaps(const struct mm *mm, uint64_t lo, uint64_t hi)
{
	for (size_t k = 0; k < mm->ndefer; k++)
		if (mm->defer[k].addr < hi && lo < mm->defer[k].addr + mm->defer[k].len)
			return true;
	return false;
}

bool installed_here(const struct mm *mm, uint64_t start, uint64_t end)
{
	/* A populated VMA is installed, unless held-back entries cover it: nothing is installed into their
	 * ranges while they wait (every other install flushes them first). */
	for (size_t i = vma_find(mm, start); i < mm->n && mm->v[i].start < end; i++)
		if (!mm->v[i].lazy &&
		    (mm->ndefer == 0 || !deferred_covers(mm, max_u64(start, mm->v[i].start), min_u64(end, mm->v[i].end))))
			return true;
	return false;
}

bool defer_install(struct process *pr, const struct vma *v, const struct cv_as_mapping *m, bool fresh)
{
	struct mm *mm = &pr->vm->mm;
	if (!mm->deferring) {
		/* In an mmap, into a range with nothing installed: a host file's private mapping starts a batch,
		 * memory-file pages only join one (a small anonymous mapping is touched at once: a fault would
		 * cost more than the install it saves). Only what the host will not refuse: a shared mapping
		 * may ask for more than the fd allows, a noexec mount refuses PROT_EXEC, a file system may not
		 * map at all (the device must have mapped a file before) — errors mmap itself must return, or
		 * that it must work around (mm_map_file_ro's copy). */
		if (!mm->defer_ok || !fresh || mm->ndefer >= DEFER_MAX)
			return false;
		if (v->host ? !v->host->priv || ((m->access & CV_ACCESS_EXEC) && v->host->noexec) ||
				      !fs_dev_maps(pr->s, v->host->dev)
			    : mm->ndefer == 0)
			return false;
	}
	/* What it replaces of earlier entries goes from them: the batch then maps nothing twice (ld.so's
	 * segments over its reservation), and no mmap in it replaces another — each replacement is an
	 * unmap to the host, with a TLB flush on every CPU the stub's threads ran on. */
	if (defer_room(mm, 2) < 0 || defer_trim(pr, m->addr, m->addr + m->len) < 0 ||
	    entry_ref(pr->s, v->host, m->offset, m->len) < 0)
		return false;
	mm->defer[mm->ndefer] = *m;
	mm->defer_host[mm->ndefer] = v->host;
	__atomic_store_n(&mm->ndefer, mm->ndefer + 1, __ATOMIC_RELEASE);
	return true;
}

int defer_trim(struct process *pr, uint64_t lo, uint64_t hi)
{
	struct mm *mm = &pr->vm->mm;
	for (size_t k = 0; k < mm->ndefer; k++) {
		struct cv_as_mapping *e = &mm->defer[k];
		uint64_t s = e->addr, t = e->addr + e->len;
		if (t <= lo || s >= hi)
			continue;
		struct hostmap *h = mm->defer_host[k];
		if (s < lo && t > hi) { /* the middle goes: the tail becomes an entry of its own, right after */
			if (defer_room(mm, 1) < 0 || (h && entry_ref(pr->s, h, 0, 0) < 0))
				return -ENOMEM;
			e = &mm->defer[k];
			memmove(&mm->defer[k + 2], &mm->defer[k + 1], (mm->ndefer - k - 1) * sizeof(*mm->defer));
			memmove(&mm->defer_host[k + 2], &mm->defer_host[k + 1], (mm->ndefer - k - 1) * sizeof(h));
			mm->defer[k + 1] = *e;
			mm->defer[k + 1].addr = hi;
			mm->defer[k + 1].offset += hi - s;
			mm->defer[k + 1].len = t - hi;
			mm->defer_host[k + 1] = h;
			__atomic_store_n(&mm->ndefer, mm->ndefer + 1, __ATOMIC_RELEASE);
			if (!h)
				cv_memfile_decref(pr->s->mf, e->offset + (lo - s), hi - lo);
			e->len = lo - s;
			k++;
		} else if (s < lo) { /* its tail goes */
			if (!h)
				cv_memfile_decref(pr->s->mf, e->offset + (lo - s), t - lo);
			e->len = lo - s;
		} else if (t > hi) { /* its head goes */
			if (!h)
				cv_memfile_decref(pr->s->mf, e->offset, hi - s);
			e->offset += hi - s;
			e->addr = hi;
			e->len = t - hi;
		} else { /* all of it */
			entry_unref(pr->s, h, e->offset, e->len);
			memmove(&mm->defer[k], &mm->defer[k + 1], (mm->ndefer - k - 1) * sizeof(*mm->defer));
			memmove(&mm->defer_host[k], &mm->defer_host[k + 1], (mm->ndefer - k - 1) * sizeof(h));
			__atomic_store_n(&mm->ndefer, mm->ndefer - 1, __ATOMIC_RELEASE);
			k--;
		}
	}
	return 0;
}

/* Entries [0, n) made or undone: their references go (or stay with the memory, see the top). */
static void release_entries(struct process *pr, size_t n, bool keep)
{
	struct mm *mm = &pr->vm->mm;
	for (size_t k = 0; k < n; k++) {
		if (!keep) {
			entry_unref(pr->s, mm->defer_host[k], mm->defer[k].offset, mm->defer[k].len);
			continue;
		}
		struct mm_kept *kept = malloc(sizeof(*kept));
		if (!kept)
			continue; /* (leaked: the safe side) */
		*kept = (struct mm_kept){ .host = mm->defer_host[k], .off = mm->defer[k].offset,
					  .len = mm->defer[k].len, .next = mm->kept };
		mm->kept = kept;
	}
}

bool mm_defer_fork(struct process *child, const struct cv_as_mapping *m, struct hostmap *const *hosts,
		   size_t n)
{
	struct mm *mm = &child->vm->mm;
	if (n == 0 || mm->ndefer != 0 || n > DEFER_MAX || defer_room(mm, n) < 0)
		return false;
	for (size_t k = 0; k < n; k++) {
		if (entry_ref(child->s, hosts[k], m[k].offset, m[k].len) < 0) {
			while (k-- > 0)
				entry_unref(child->s, hosts[k], m[k].offset, m[k].len);
			return false;
		}
		mm->defer[k] = m[k];
		mm->defer_host[k] = hosts[k];
	}
	__atomic_store_n(&mm->ndefer, n, __ATOMIC_RELEASE);
	return true;
}

int mm_flush_installs(struct process *pr)
{
	struct vm *vm = pr->vm;
	struct mm *mm = &vm->mm;
	if (__atomic_load_n(&mm->ndefer, __ATOMIC_ACQUIRE) == 0)
		return 0;
	pthread_mutex_lock(&vm->lock);
	size_t n = mm->ndefer;
	int ret = 0;
	if (n > 0 && vm->as) { /* (an image being loaded has none yet: mm_end_defer makes the batch) */
		__atomic_store_n(&mm->ndefer, 0, __ATOMIC_RELEASE); /* (the installs below must not wait again) */
		ret = cv_as_map_many(vm->as, mm->defer, n, NULL);
		__atomic_add_fetch(&mm->flushes, 1, __ATOMIC_RELAXED);
		for (size_t k = 0; k < n && ret == 0; k++) /* (an image's: its device maps) */
			if (mm->defer_host[k] && mm->defer_host[k]->priv && (k == 0 || mm->defer_host[k] != mm->defer_host[k - 1]))
				fs_dev_mapped(pr->s, mm->defer_host[k]->dev);
		bool keep = false;
		if (ret < 0 && ret != -CV_EASDEAD) /* what the batch made goes again: faults install from the VMAs */
			for (size_t k = 0; k < n && !keep; k++)
				keep = cv_as_unmap(vm->as, mm->defer[k].addr, mm->defer[k].len) < 0;
		release_entries(pr, n, keep);
		ret = ret == 0 ? 0 : ret == -EACCES ? -EACCES : -ENOMEM;
	}
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

void mm_drop_deferred(struct sentry *s, struct mm *mm)
{
	for (size_t k = 0; k < mm->ndefer; k++)
		entry_unref(s, mm->defer_host[k], mm->defer[k].offset, mm->defer[k].len);
	__atomic_store_n(&mm->ndefer, 0, __ATOMIC_RELEASE);
	while (mm->kept) {
		struct mm_kept *k = mm->kept;
		mm->kept = k->next;
		entry_unref(s, k->host, k->off, k->len);
		free(k);
	}
}

void mm_defer_installs(struct process *pr)
{
	pr->vm->mm.deferring = true;
}

int mm_end_defer(struct process *pr)
{
	struct mm *mm = &pr->vm->mm;
	mm->deferring = false;
	return mm_flush_installs(pr);
}

int as_unmap(struct process *pr, uint64_t addr, uint64_t len)
{
	mm_flush_installs(pr); /* (a batch that failed is undone: the unmap is still right after it) */
	return cv_as_unmap(pr->vm->as, addr, len);
}
