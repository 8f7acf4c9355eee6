/* SPDX-License-Identifier: Apache-2.0 */
/* The per-address-space mapping table: which file range backs each application page. */
#ifndef CVISOR_CORE_MAPTABLE_H
#define CVISOR_CORE_MAPTABLE_H

#include "internal.h"

struct stat;
/*
 * The address space's handle on the file behind @fd (found by inode, else created with a dup of @fd),
 * with one more reference; @st is @fd's fstat and @rdwr whether it was opened O_RDWR (the caller checked
 * both). Caller holds as->lock; drop the reference with maptable_fdref_put().
 */
int maptable_fdref_get(struct cv_as *as, int fd, const struct stat *st, bool rdwr, struct as_fdref **out);
void maptable_fdref_put(struct cv_as *as, struct as_fdref *ref);

/* Record [start, end) → (ref, offset, access), replacing whatever overlapped; @maywrite: see struct
 * as_mapping. Caller holds as->lock. */
int maptable_insert(struct cv_as *as, uint64_t start, uint64_t end, uint64_t offset, unsigned access, bool maywrite,
		    struct as_fdref *ref);

/* Forget every mapping in [start, end), splitting at the edges. Caller holds as->lock. */
int maptable_remove(struct cv_as *as, uint64_t start, uint64_t end);

/* Drop the whole table. Caller holds as->lock. */
void maptable_clear(struct cv_as *as);

/*
 * Is [start, end) mapped without a hole by @ref from file offset @offset on? Then mapping it again with
 * other access changes only the protection: the pages are the same. *@maywrite: whether every piece
 * may become writable. Caller holds as->lock.
 */
bool maptable_same_backing(const struct cv_as *as, uint64_t start, uint64_t end, uint64_t offset,
			   const struct as_fdref *ref, bool *maywrite);

/* The mapping containing @addr, or NULL. Caller holds as->lock. */
const struct as_mapping *maptable_find(const struct cv_as *as, uint64_t addr);

#endif
