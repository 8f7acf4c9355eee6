/* SPDX-License-Identifier: Apache-2.0 */
/* The memory file: one memfd holding application memory, mapped once into the caller. */
#ifndef CVISOR_MEMFILE_H
#define CVISOR_MEMFILE_H

#include <cvisor/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A memory file is a memfd plus a page-range allocator over it. The whole file is mapped once into the
 * calling process inside a reserved virtual range, so cv_memfile_ptr() pointers stay valid for the life
 * of the file; the file grows on demand (in CV_MEMFILE_CHUNK steps) up to its maximum size. Address
 * spaces map ranges of it by cv_memfile_fd() and an offset, so application memory is shared between the
 * caller (the sentry) and the application with no copying.
 *
 * Allocated ranges carry a reference count per page; when it drops to zero the pages are freed and their
 * memory returned to the host (fallocate(PUNCH_HOLE)). All functions are thread-safe.
 */

/* Punch freed pages out on a thread of the memory file's own (started at the first free, joined by
 * cv_memfile_close()), not in the freeing call: each punch costs a TLB shootdown on every CPU of the
 * caller. Freed pages are handed out again only once punched; an allocation that finds no other room,
 * and cv_memfile_usage(), wait for the punching; up to 256 MiB wait at a time, past that freeing
 * punches at once. Allocation is then first fit over the pages already clean (warm ones first:
 * cv_memfile_alloc). */
#define CV_MEMFILE_ASYNC_FREE 1u
struct cv_memfile;

#define CV_MEMFILE_CHUNK (64ull << 20) /* growth step of the backing file */

struct cv_memfile_opts {
	uint32_t size;       /* sizeof(struct cv_memfile_opts), for ABI evolution */
	uint32_t flags;      /* CV_MEMFILE_* */
	uint64_t max_size;   /* bytes of address space to reserve; 0 = 64 GiB */
	const char *name;    /* memfd name shown in /proc; NULL = "cvisor-memory" */
};

/*
 * Create a memory file. @opts may be NULL for defaults.
 * Returns 0 and stores the handle in *@out; -EINVAL (bad opts, @out NULL, max_size not a multiple of
 * the page size), -ENOMEM, -EMFILE/-ENFILE, or another -errno from memfd_create/mmap.
 */
CV_API int cv_memfile_new(const struct cv_memfile_opts *opts, struct cv_memfile **out);

/*
 * Destroy a memory file: unmaps it from the caller and closes its fd. Address spaces that still map
 * ranges of it keep those pages (the host keeps the file alive). NULL is a no-op.
 */
CV_API void cv_memfile_close(struct cv_memfile *mf);

/* The memfd (O_CLOEXEC), for cv_as_map(). Returns the fd, or -EINVAL for a NULL handle. */
CV_API int cv_memfile_fd(const struct cv_memfile *mf);

#define CV_ALLOC_POPULATE 1u /* commit the pages now (MADV_POPULATE_WRITE) instead of on first touch */
#define CV_ALLOC_HUGE 2u     /* hint: prefer 2 MiB alignment and transparent huge pages */
/* Return 1 instead of 0 when every page handed out is already committed (warm: see below), so that
 * mapping the range precommitted (cv_as_map's @precommit) costs no new memory, only page tables. */
#define CV_ALLOC_REPORT_WARM 4u

/*
 * Allocate @len bytes (a multiple of the page size, > 0) of zeroed memory; each page starts with
 * reference count 1. Stores the file offset in *@off. With CV_MEMFILE_ASYNC_FREE, pages freed earlier
 * whose every page was still committed may be kept that way, zeroed in place by the cleaner ("warm":
 * up to an eighth of the maximum size, at least 1 MiB, at most 32 MiB), and are handed out first: their
 * first touch is no host page fault that allocates. Warm pages nobody takes or adds to for a second are
 * punched out by the cleaner, and cv_memfile_usage() punches them out at once.
 * Returns 0 (or 1: CV_ALLOC_REPORT_WARM); -EINVAL (len 0 or unaligned, unknown flags, @off NULL),
 * -ENOMEM (maximum size reached or no memory), or -errno from growing the file.
 */
CV_API int cv_memfile_alloc(struct cv_memfile *mf, uint64_t len, unsigned flags, uint64_t *off);

/*
 * Add one reference to every page of [@off, @off+@len). Every page must be allocated.
 * Returns 0; -EINVAL (unaligned, zero length, overflow), -ENOENT (a page in the range is not allocated).
 * On error nothing changes.
 */
CV_API int cv_memfile_incref(struct cv_memfile *mf, uint64_t off, uint64_t len);

/*
 * Drop one reference from every page of [@off, @off+@len); pages reaching zero are freed and
 * decommitted. Errors as cv_memfile_incref(); on error nothing changes.
 */
CV_API int cv_memfile_decref(struct cv_memfile *mf, uint64_t off, uint64_t len);

/*
 * Return the memory of allocated pages to the host without freeing them: they read back as zeroes.
 * Errors as cv_memfile_incref().
 */
CV_API int cv_memfile_decommit(struct cv_memfile *mf, uint64_t off, uint64_t len);

/*
 * Pointer to file offset @off in the caller's mapping, valid for @len bytes until the file is closed.
 * Returns 0; -EINVAL (NULL args), -EFAULT (range beyond the file's current size or overflow).
 * Pages need not be allocated (unallocated pages read as zero; writing them is the caller's bug).
 */
CV_API int cv_memfile_ptr(struct cv_memfile *mf, uint64_t off, uint64_t len, void **ptr);

struct cv_memfile_usage {
	uint64_t file_size;   /* current size of the backing file */
	uint64_t allocated;   /* bytes in allocated ranges */
	uint64_t committed;   /* bytes actually backed by host memory (from st_blocks) */
	uint64_t max_size;    /* reserved maximum */
};

/* Fill *@u, after every freed page (warm ones too) is punched out: committed counts what the live pages
 * commit. Returns 0, -EINVAL for NULL arguments, -errno from fstat. */
CV_API int cv_memfile_usage(struct cv_memfile *mf, struct cv_memfile_usage *u);

/*
 * Reference count of the page at @off (page-aligned). Returns the count (0 for a free page), or
 * -EINVAL (unaligned / beyond max size). Intended for tests and debugging.
 */
CV_API int cv_memfile_refcount(struct cv_memfile *mf, uint64_t off);

/*
 * The highest reference count of any page in [@off, @off+@len): 1 means the caller's reference is the
 * only one on every page (e.g. copy-on-write memory nobody else shares any more). One lock round,
 * however long the range. Returns the count; -EINVAL (unaligned, zero length, overflow, NULL handle),
 * -ENOENT (a page in the range is not allocated).
 */
CV_API int cv_memfile_max_refcount(struct cv_memfile *mf, uint64_t off, uint64_t len);

#ifdef __cplusplus
}
#endif
#endif
