/* SPDX-License-Identifier: Apache-2.0 */
/* The per-address-space mapping table: which file range backs each application page. */
#ifndef CVISOR_CORE_MAPTABLE_H
#define CVISOR_CORE_MAPTABLE_H

#include "internal.h"

/*
 * Take a reference-counted handle on @fd for the table: memory-file fds are recognised and accessed
 * through their mapping in this process; any other fd is dup'ed (O_CLOEXEC) so the caller may close it.
 * The caller's reference is dropped with maptable_fdref_put().
 */
int maptable_fdref_new(int fd, struct as_fdref **out);
void maptable_fdref_put(struct as_fdref *ref);

/* Record [start, end) → (ref, offset, access), replacing whatever overlapped. Caller holds as->lock. */
int maptable_insert(struct cv_as *as, uint64_t start, uint64_t end, uint64_t offset, unsigned access,
		    struct as_fdref *ref);

/* Forget every mapping in [start, end), splitting at the edges. Caller holds as->lock. */
int maptable_remove(struct cv_as *as, uint64_t start, uint64_t end);

/* Drop the whole table. Caller holds as->lock. */
void maptable_clear(struct cv_as *as);

/* The mapping containing @addr, or NULL. Caller holds as->lock. */
const struct as_mapping *maptable_find(const struct cv_as *as, uint64_t addr);

#endif
