/* SPDX-License-Identifier: Apache-2.0 */
/* Private to src/memfile: the memory-file object and the sorted extent vectors behind its allocator. */
#ifndef CVISOR_MEMFILE_INTERNAL_H
#define CVISOR_MEMFILE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "internal.h"

#define CV_MAGIC_MEMFILE 0x43564d46u /* "CVMF" */
#define HUGE_ALIGN (2ull << 20)      /* x86-64 transparent huge page size */

/*
 * A byte range [start, end) of the file, page-aligned. In the allocated vector @refs is the reference
 * count shared by every page of the extent (always > 0 once the vector is compacted); in the free
 * vector it says whether the pages read as zero yet: MF_CLEAN (punched out, or never written), MF_WARM
 * (every page committed and zeroed in place by the cleaner: mapping them precommitted costs no memory),
 * MF_CLEANING (being punched out or zeroed by the cleaner, lock dropped), or MF_DIRTY + G (freed, not
 * yet punched out: never handed out). G is 0, or,
 * for pages freed while a fence was up (memfile_fence_up), the newest fence's number then: they may
 * not be punched out while that fence or an older one is up.
 */
enum { MF_CLEAN, MF_WARM, MF_CLEANING, MF_DIRTY };
struct mf_extent {
	uint64_t start, end;
	uint64_t refs;
};

/* A vector of non-overlapping extents sorted by start (hence also by end). */
struct mf_extvec {
	struct mf_extent *v;
	size_t n, cap;
};

struct cv_memfile {
	uint32_t magic;
	int fd;                   /* the memfd, O_CLOEXEC */
	uint8_t *base;            /* reservation of max_size bytes, 2 MiB aligned */
	uint64_t max_size;
	_Atomic uint64_t size;    /* bytes of the file mapped at base; only grows (release-published) */
	pthread_mutex_t lock;     /* guards used, free_, allocated and growth */
	struct mf_extvec used;    /* allocated extents; adjacent ones with equal refs are merged */
	struct mf_extvec free_;   /* free extents over [0, max_size); adjacent ones are merged */
	uint64_t allocated;       /* bytes covered by used */
	struct cv_memfile *reg_next; /* registry link, guarded by the registry lock */
	uint64_t dev, ino;        /* identity of the memfd, for memfile_acquire_ino() */
	int users;                /* memfile_acquire_ino() holders; close waits for 0 (registry lock) */
	/* The cleaner (memfile.c): a thread that punches freed pages out off the freeing caller's path. */
	uint64_t dirty_bytes;     /* free_ bytes MF_DIRTY or MF_CLEANING (lock) */
	uint64_t warm_bytes;      /* free_ bytes MF_WARM, and MF_CLEANING ones meant to be (lock) */
	uint64_t warm_max;        /* the most warm_bytes may reach */
	uint64_t warm_used;       /* CLOCK_MONOTONIC ns when warm pages were last made or taken (lock) */
	bool cleaning;            /* a batch is MF_CLEANING, its punching under way without the lock */
	bool async_free;          /* CV_MEMFILE_ASYNC_FREE */
	bool cleaner_on, cleaner_failed, cleaner_stop;
	pthread_t cleaner;
	pthread_cond_t cond;      /* dirty pages to punch, a batch done, a fence down, or stop (lock) */
	/* Fences (memfile_fence_up): numbered from 1; those up, in any order (lock). */
	uint64_t fence_gen;
	uint64_t *fences;
	size_t nfences, fences_cap;
};

/*
 * Make room for @extra more entries without changing the contents, so that later insertions cannot
 * fail halfway through an update. Returns 0 or -ENOMEM.
 */
int extvec_reserve(struct mf_extvec *ev, size_t extra);

/* Index of the first extent whose end is above @off (ev->n if none): the one containing @off, if any. */
size_t extvec_find(const struct mf_extvec *ev, uint64_t off);

/*
 * Check that [@start, @end) is covered without gaps by extents of @ev; store the index range of the
 * extents that intersect it in [*first, *last). Returns 0 or -ENOENT. Changes nothing.
 */
int extvec_span(const struct mf_extvec *ev, uint64_t start, uint64_t end, size_t *first, size_t *last);

/* Ensure no extent straddles @at by splitting the one that does. Needs one reserved entry. */
void extvec_split(struct mf_extvec *ev, uint64_t at);

/*
 * Insert @e (which must not overlap any extent) at its sorted position and merge it with its
 * neighbours when they are contiguous and carry the same refs. Needs one reserved entry.
 */
void extvec_add(struct mf_extvec *ev, struct mf_extent e);

/*
 * Normalise entries [@lo, @hi): drop extents with refs 0 and merge contiguous ones with equal refs.
 * Entry @lo itself is never merged backwards, so pass one entry of context before the changed range.
 */
void extvec_compact(struct mf_extvec *ev, size_t lo, size_t hi);

/*
 * First-fit search of a free vector's extents in state @state (MF_CLEAN or MF_WARM) for @len bytes
 * starting at a multiple of @align (a power of two). Stores the extent index and the chosen start.
 * Returns false if nothing fits.
 */
bool extvec_fit(const struct mf_extvec *ev, uint64_t state, uint64_t len, uint64_t align, size_t *idx,
		uint64_t *start);

/*
 * Remove [@start, @start+@len) from free extent @idx (which contains it), splitting it when the range
 * lies in its middle. Needs one reserved entry.
 */
void extvec_take(struct mf_extvec *ev, size_t idx, uint64_t start, uint64_t len);

#endif
