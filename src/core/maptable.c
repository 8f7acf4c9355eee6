// SPDX-License-Identifier: Apache-2.0
// The per-address-space mapping table: a sorted array of non-overlapping ranges.
//
// A sorted array beats a tree here: lookups are binary searches, inserts shift a few thousand
// 40-byte entries at most, and the sentry maps in large, mostly adjacent ranges.
#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "core/maptable.h"

int maptable_fdref_get(struct cv_as *as, int fd, const struct stat *st, bool rdwr, struct as_fdref **out)
{
	for (struct as_fdref *r = as->files; r; r = r->next)
		if (r->dev == (uint64_t)st->st_dev && r->ino == (uint64_t)st->st_ino) {
			/* The same file through another fd: keep the one that can also write (for AS IO). */
			if (rdwr && !r->rdwr) {
				int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
				if (d >= 0) {
					close(r->fd);
					r->fd = d;
					r->rdwr = true;
				}
			}
			r->refs++;
			*out = r;
			return 0;
		}
	struct as_fdref *ref = calloc(1, sizeof(*ref));
	if (!ref)
		return -ENOMEM;
	ref->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (ref->fd < 0) {
		int ret = -errno;
		free(ref);
		return ret == -EMFILE ? -ENOMEM : ret;
	}
	ref->dev = (uint64_t)st->st_dev;
	ref->ino = (uint64_t)st->st_ino;
	ref->rdwr = rdwr;
	void *base;
	uint64_t size;
	struct cv_memfile *mf = memfile_acquire_ino(ref->dev, ref->ino, &base, &size);
	ref->memfile = mf != NULL;
	if (mf)
		memfile_release(mf);
	ref->refs = 1;
	ref->next = as->files;
	as->files = ref;
	*out = ref;
	return 0;
}

static void fdref_get(struct as_fdref *ref)
{
	ref->refs++;
}

void maptable_fdref_put(struct cv_as *as, struct as_fdref *ref)
{
	if (!ref || --ref->refs > 0)
		return;
	for (struct as_fdref **pp = &as->files; *pp; pp = &(*pp)->next)
		if (*pp == ref) {
			*pp = ref->next;
			break;
		}
	close(ref->fd);
	free(ref);
}

/* Index of the first mapping with end > addr (n_maps if none). */
static size_t first_after(const struct cv_as *as, uint64_t addr)
{
	size_t lo = 0, hi = as->n_maps;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (as->maps[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct cv_as *as, size_t extra)
{
	if (as->n_maps + extra <= as->cap_maps)
		return 0;
	size_t cap = as->cap_maps ? as->cap_maps * 2 : 16;
	while (cap < as->n_maps + extra)
		cap *= 2;
	struct as_mapping *m = realloc(as->maps, cap * sizeof(*m));
	if (!m)
		return -ENOMEM;
	as->maps = m;
	as->cap_maps = cap;
	return 0;
}

int maptable_remove(struct cv_as *as, uint64_t start, uint64_t end)
{
	/* A removal in the middle of one mapping splits it in two: make room first so we cannot fail later. */
	if (reserve(as, 1) < 0)
		return -ENOMEM;
	size_t i = first_after(as, start);
	if (i < as->n_maps && as->maps[i].start < start && as->maps[i].end > end) {
		struct as_mapping *m = &as->maps[i];
		struct as_mapping tail = *m;
		tail.offset += end - m->start;
		tail.start = end;
		fdref_get(tail.ref);
		m->end = start;
		memmove(&as->maps[i + 2], &as->maps[i + 1], (as->n_maps - i - 1) * sizeof(*m));
		as->maps[i + 1] = tail;
		as->n_maps++;
		return 0;
	}
	if (i < as->n_maps && as->maps[i].start < start) {
		as->maps[i].end = start; /* trim the head piece's tail */
		i++;
	}
	size_t j = i;
	while (j < as->n_maps && as->maps[j].end <= end) {
		maptable_fdref_put(as, as->maps[j].ref);
		j++;
	}
	if (j < as->n_maps && as->maps[j].start < end) {
		struct as_mapping *m = &as->maps[j];
		m->offset += end - m->start;
		m->start = end;
	}
	memmove(&as->maps[i], &as->maps[j], (as->n_maps - j) * sizeof(as->maps[0]));
	as->n_maps -= j - i;
	return 0;
}

int maptable_insert(struct cv_as *as, uint64_t start, uint64_t end, uint64_t offset, unsigned access, bool maywrite,
		    struct as_fdref *ref)
{
	if (reserve(as, 2) < 0)
		return -ENOMEM;
	maptable_remove(as, start, end); /* cannot fail: room for the split is reserved */
	size_t i = first_after(as, start);
	/* Extend the left neighbour instead when it continues the same file range. */
	if (i > 0) {
		struct as_mapping *l = &as->maps[i - 1];
		if (l->end == start && l->ref == ref && l->access == access && l->maywrite == maywrite &&
		    l->offset + (l->end - l->start) == offset) {
			l->end = end;
			return 0;
		}
	}
	memmove(&as->maps[i + 1], &as->maps[i], (as->n_maps - i) * sizeof(as->maps[0]));
	as->maps[i] = (struct as_mapping){ start, end, offset, access, maywrite, ref };
	fdref_get(ref);
	as->n_maps++;
	return 0;
}

void maptable_clear(struct cv_as *as)
{
	for (size_t i = 0; i < as->n_maps; i++)
		maptable_fdref_put(as, as->maps[i].ref);
	free(as->maps);
	as->maps = NULL;
	as->n_maps = as->cap_maps = 0;
}

bool maptable_same_backing(const struct cv_as *as, uint64_t start, uint64_t end, uint64_t offset,
			   const struct as_fdref *ref, bool *maywrite)
{
	uint64_t at = start;
	*maywrite = true;
	for (size_t i = first_after(as, start); i < as->n_maps && at < end; i++) {
		const struct as_mapping *m = &as->maps[i];
		if (m->start > at || m->ref != ref || m->offset + (at - m->start) != offset + (at - start))
			return false;
		*maywrite = *maywrite && m->maywrite;
		at = m->end;
	}
	return at >= end;
}

const struct as_mapping *maptable_find(const struct cv_as *as, uint64_t addr)
{
	size_t i = first_after(as, addr);
	if (i < as->n_maps && as->maps[i].start <= addr)
		return &as->maps[i];
	return NULL;
}
