// SPDX-License-Identifier: Apache-2.0
// Sorted extent vectors: the allocated (ref-counted) and free range sets of a memory file.
//
// Both sets are kept as sorted arrays of [start, end) extents rather than per-page arrays, so their
// size follows fragmentation, not the (up to 64 GiB) maximum file size. Lookups are binary searches;
// insertions and removals memmove the tail, which stays cheap for the few thousand extents a
// fragmented sentry produces. Callers reserve capacity first, so no mutation here can fail.
#include <stdlib.h>
#include <string.h>
#include "memfile_internal.h"

#define EXTVEC_MIN_CAP 16

int extvec_reserve(struct mf_extvec *ev, size_t extra)
{
	size_t want;

	if (ev->cap - ev->n >= extra)
		return 0;
	if (__builtin_add_overflow(ev->n, extra, &want))
		return -ENOMEM;
	size_t cap = ev->cap ? ev->cap : EXTVEC_MIN_CAP;
	while (cap < want) {
		if (cap > SIZE_MAX / 2 / sizeof(*ev->v))
			return -ENOMEM;
		cap *= 2;
	}
	struct mf_extent *v = realloc(ev->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	ev->v = v;
	ev->cap = cap;
	return 0;
}

size_t extvec_find(const struct mf_extvec *ev, uint64_t off)
{
	size_t lo = 0, hi = ev->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ev->v[mid].end > off)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/* Insert @e at index @i; capacity must be reserved. */
static void insert_at(struct mf_extvec *ev, size_t i, struct mf_extent e)
{
	memmove(&ev->v[i + 1], &ev->v[i], (ev->n - i) * sizeof(e));
	ev->v[i] = e;
	ev->n++;
}

/* Remove the entry at index @i. */
static void remove_at(struct mf_extvec *ev, size_t i)
{
	memmove(&ev->v[i], &ev->v[i + 1], (ev->n - i - 1) * sizeof(ev->v[0]));
	ev->n--;
}

int extvec_span(const struct mf_extvec *ev, uint64_t start, uint64_t end, size_t *first, size_t *last)
{
	size_t i = extvec_find(ev, start);

	if (i == ev->n || ev->v[i].start > start)
		return -ENOENT;
	*first = i;
	/* Contiguous extents with different counts are separate entries, so walk across them. */
	while (ev->v[i].end < end) {
		if (i + 1 == ev->n || ev->v[i + 1].start != ev->v[i].end)
			return -ENOENT;
		i++;
	}
	*last = i + 1;
	return 0;
}

void extvec_split(struct mf_extvec *ev, uint64_t at)
{
	size_t i = extvec_find(ev, at);

	if (i == ev->n || ev->v[i].start >= at)
		return;
	struct mf_extent tail = ev->v[i];
	tail.start = at;
	ev->v[i].end = at;
	insert_at(ev, i + 1, tail);
}

void extvec_add(struct mf_extvec *ev, struct mf_extent e)
{
	/* @e overlaps nothing, so the first extent ending above e.start begins at or after e.end. */
	size_t i = extvec_find(ev, e.start);
	bool prev = i > 0 && ev->v[i - 1].end == e.start && ev->v[i - 1].refs == e.refs;
	bool next = i < ev->n && ev->v[i].start == e.end && ev->v[i].refs == e.refs;

	if (prev && next) {
		ev->v[i - 1].end = ev->v[i].end;
		remove_at(ev, i);
	} else if (prev) {
		ev->v[i - 1].end = e.end;
	} else if (next) {
		ev->v[i].start = e.start;
	} else {
		insert_at(ev, i, e);
	}
}

void extvec_compact(struct mf_extvec *ev, size_t lo, size_t hi)
{
	struct mf_extent *v = ev->v;
	size_t w = lo;

	for (size_t r = lo; r < hi; r++) {
		if (v[r].refs == 0)
			continue;
		if (w > lo && v[w - 1].end == v[r].start && v[w - 1].refs == v[r].refs) {
			v[w - 1].end = v[r].end;
			continue;
		}
		v[w++] = v[r];
	}
	if (w == hi)
		return;
	memmove(&v[w], &v[hi], (ev->n - hi) * sizeof(v[0]));
	ev->n -= hi - w;
}

bool extvec_fit(const struct mf_extvec *ev, uint64_t state, uint64_t len, uint64_t align, size_t *idx,
		uint64_t *start)
{
	for (size_t i = 0; i < ev->n; i++) {
		if (ev->v[i].refs != state)
			continue;
		/* Offsets are below the reservation limit (2^57), so rounding up cannot wrap. */
		uint64_t s = (ev->v[i].start + align - 1) & ~(align - 1);
		if (s < ev->v[i].end && ev->v[i].end - s >= len) {
			*idx = i;
			*start = s;
			return true;
		}
	}
	return false;
}

void extvec_take(struct mf_extvec *ev, size_t idx, uint64_t start, uint64_t len)
{
	struct mf_extent *e = &ev->v[idx];
	uint64_t end = start + len;

	if (e->start == start && e->end == end) {
		remove_at(ev, idx);
	} else if (e->start == start) {
		e->start = end;
	} else if (e->end == end) {
		e->end = start;
	} else {
		struct mf_extent tail = { .start = end, .end = e->end, .refs = e->refs };
		e->end = start;
		insert_at(ev, idx + 1, tail);
	}
}
