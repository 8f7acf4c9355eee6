/* SPDX-License-Identifier: Apache-2.0 */
/* Private to the memory manager (mm.c, mm_cow.c): the VMA table's primitives. */
#ifndef CVISOR_SENTRY_MM_INTERNAL_H
#define CVISOR_SENTRY_MM_INTERNAL_H

#include "../sentry.h"

#define PAGE 4096ull
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))

/* Room for @extra more VMAs; 0 or -ENOMEM. */
int vma_reserve(struct mm *mm, size_t extra);
/* Index of the first VMA ending above @addr (mm->n if none). */
size_t vma_find(const struct mm *mm, uint64_t addr);
/* Split the VMA containing @addr (if any, and not at its start) so that a VMA starts there. */
int vma_split_at(struct mm *mm, uint64_t addr);
/* Merge VMA @i with its neighbours where they continue it exactly (addresses, memory-file offsets and
 * every attribute); returns the index of the VMA that now holds VMA @i's start. */
size_t vma_merge(struct mm *mm, size_t i);
/* Install VMA @v in the address space; copy-on-write memory never writable. 0, -EACCES (a host
 * file's mode forbids the access) or -ENOMEM. */
int vma_install(struct process *pr, const struct vma *v);
/* vma_install()'s mapping of @v in *@m; false if it installs nothing (lazy). */
bool vma_mapping(struct process *pr, const struct vma *v, struct cv_as_mapping *m);
/* Several vma_mapping()s installed at once (one request to the stub where the platform can). */
int vma_install_many(struct process *pr, const struct cv_as_mapping *m, size_t n);
void hostmap_put(struct hostmap *h);
/* mm_defer.c. Hold the install of @m (VMA @v's mapping) back if it may wait (@fresh: nothing is installed
 * in its range); true if it was. */
bool defer_install(struct process *pr, const struct vma *v, const struct cv_as_mapping *m, bool fresh);
/* Is anything installed in [start, end)? Populated VMAs are, but where held-back installs cover them. */
bool installed_here(const struct mm *mm, uint64_t start, uint64_t end);
bool mm_deferred_overlaps(const struct mm *mm, uint64_t lo, uint64_t hi);
/* [lo, hi), where nothing is installed, cut out of the held-back installs. 0 or -ENOMEM. */
int defer_trim(struct process *pr, uint64_t lo, uint64_t hi);
/* cv_as_unmap() after what is held back. */
int as_unmap(struct process *pr, uint64_t addr, uint64_t len);
/* Take / drop one reference to what backs @v (its memory-file pages, or its host file). */
int vma_ref(struct process *pr, const struct vma *v);
void vma_unref(struct process *pr, const struct vma *v);
void vma_release(struct sentry *s, const struct vma *v); /* vma_unref() without a process */

/* Forget [start, end): memory-file references dropped, the address space untouched. 0 or -ENOMEM. */
int mm_remove_range(struct process *pr, uint64_t start, uint64_t end);
bool mm_range_free(const struct mm *mm, uint64_t start, uint64_t end);
/* Is [addr, end) mapped without holes? */
bool mm_range_mapped(const struct mm *mm, uint64_t addr, uint64_t end);
/* The highest free gap of @len bytes below mm->mmap_base, or 0. */
uint64_t mm_find_gap(const struct process *pr, uint64_t len);
/* Install memory-file pages [off, off+len) (one reference, ours now) as a VMA at @addr or a free gap;
 * the reference is dropped on failure. 0, -ENOMEM or -EFAULT; the address in *@out. */
int mm_map_pages(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		 bool cow, uint64_t off, uint64_t *out);
/* The same for a host file mapping holding a reference to @host (dropped on failure). */
int mm_map_backing(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		   bool cow, struct hostmap *host, uint64_t off, uint64_t *out);

/* Give the private memory of [@start, @end) (pr->vm->lock held) pages of its own wherever it shares them
 * copy-on-write: whole VMAs nobody else shares any more just become writable; otherwise the range,
 * widened to @chunk-aligned bounds inside each VMA, is copied. With @writable_only, only VMAs the
 * application may write. 0, or -ENOMEM. */
int mm_unshare(struct process *pr, uint64_t start, uint64_t end, uint64_t chunk, bool writable_only);

/* mm_populate() with pr->vm->lock held, on the page-aligned range [@start, @end). */
int mm_populate_locked(struct process *pr, uint64_t start, uint64_t end);
/* The range a fault at @page in unpopulated VMA @v populates (fault-around). */
void mm_fault_window(const struct vma *v, uint64_t page, uint64_t *lo, uint64_t *hi);

#endif
