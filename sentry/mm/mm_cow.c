// SPDX-License-Identifier: Apache-2.0
// Copy-on-write: fork() shares private memory between parent and child until one of them writes.
//
// A copy-on-write VMA (vma.cow) keeps its logical protection but is installed without write access.
// The first write — a fault from the application, or the sentry writing through copy-out, a pin or a
// poke — gives the process its own pages: a whole VMA nobody else references any more (the other
// process exited or exec'd; the memory file's counts say so) just becomes writable again; otherwise
// the written range, widened to COW_CHUNK inside its VMA, is copied (holes stay holes) and split off.
// Copies allocated one after another sit next to each other in the memory file, so neighbouring
// copied chunks merge back into one VMA.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "mm_internal.h"

#define COW_CHUNK (16 * PAGE) /* copied per write fault: fewer faults and VMAs than page by page */

/* Copy [off, off+len) of memory file @fd to @to: in the kernel (copy_file_range: the new pages are
 * never touched through the sentry's mapping, whose first touch of each costs a page fault, ~35 us on
 * a VM, where the kernel's copy costs about a microsecond a page), by memcpy where the kernel refuses. */
static void copy_run(int fd, uint64_t off, uint64_t len, uint64_t to, const uint8_t *src, uint8_t *dst)
{
	loff_t a = (loff_t)off, b = (loff_t)to;
	while (len > 0) {
		ssize_t r = copy_file_range(fd, &a, fd, &b, len, 0);
		if (r <= 0) {
			memcpy(dst + (b - (loff_t)to), src + (a - (loff_t)off), len);
			return;
		}
		len -= (uint64_t)r;
	}
}

/* Copy the parts of memory-file range [off, off+len) (mapped at @src) that hold data to @to (mapped at
 * @dst), whose pages are fresh (zero); holes stay holes on both sides. */
static void copy_data(int fd, uint64_t off, uint64_t len, uint64_t to, const uint8_t *src, uint8_t *dst)
{
	uint64_t pos = off, end = off + len;
	while (pos < end) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0) {
			if (errno == ENXIO)
				return; /* no data after pos */
			copy_run(fd, pos, end - pos, to + (pos - off), src + (pos - off), dst + (pos - off));
			return; /* no SEEK_DATA: copy it all */
		}
		if ((uint64_t)d >= end)
			return;
		off_t h = lseek(fd, d, SEEK_HOLE);
		uint64_t stop = h < 0 || (uint64_t)h > end ? end : (uint64_t)h, at = (uint64_t)d - off;
		copy_run(fd, (uint64_t)d, stop - (uint64_t)d, to + at, src + at, dst + at);
		pos = stop;
	}
}

/* Fresh memory-file pages holding a copy of [off, off+len): 0 and *@copy, or -ENOMEM. */
static int copy_pages(struct sentry *s, uint64_t off, uint64_t len, uint64_t *copy)
{
	struct cv_memfile *mf = s->mf;
	void *src, *dst;
	if (vm_alloc_pages(s, len, copy) < 0)
		return -ENOMEM;
	if (cv_memfile_ptr(mf, off, len, &src) < 0 || cv_memfile_ptr(mf, *copy, len, &dst) < 0) {
		cv_memfile_decref(mf, *copy, len);
		return -ENOMEM;
	}
	copy_data(cv_memfile_fd(mf), off, len, *copy, src, dst);
	return 0;
}

/* Fresh memory-file pages holding [foff, foff+len) of host file @fd (zeroes past its end). */
static int copy_file_pages(struct sentry *s, int fd, uint64_t foff, uint64_t len, uint64_t *copy)
{
	struct cv_memfile *mf = s->mf;
	void *dst;
	if (vm_alloc_pages(s, len, copy) < 0)
		return -ENOMEM;
	if (cv_memfile_ptr(mf, *copy, len, &dst) < 0) {
		cv_memfile_decref(mf, *copy, len);
		return -ENOMEM;
	}
	for (uint64_t done = 0; done < len;) {
		ssize_t r = pread(fd, (uint8_t *)dst + done, len - done, (off_t)(foff + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break; /* the end of the file: the rest stays zero */
		done += (uint64_t)r;
	}
	return 0;
}

int mm_unshare(struct process *pr, uint64_t start, uint64_t end, uint64_t chunk, bool writable_only)
{
	struct mm *mm = &pr->vm->mm;
	struct cv_memfile *mf = pr->s->mf;
	uint64_t addr = start;
	while (addr < end) {
		size_t i = vma_find(mm, addr);
		if (i == mm->n || mm->v[i].start >= end)
			break;
		struct vma *v = &mm->v[i];
		uint64_t next = v->end;
		if (!v->cow || (writable_only && !(v->access & CV_ACCESS_WRITE))) {
			addr = next;
			continue;
		}
		if (!v->host && cv_memfile_max_refcount(mf, v->mf_off, v->end - v->start) == 1) {
			v->cow = false; /* ours alone now: no copy */
			if (vma_install(pr, v) < 0)
				return -ENOMEM;
			vma_merge(mm, i);
			addr = next;
			continue;
		}
		uint64_t from = addr > v->start ? addr : v->start, to = end < v->end ? end : v->end;
		uint64_t lo = from & ~(chunk - 1), hi = (to + chunk - 1) & ~(chunk - 1);
		lo = lo < v->start ? v->start : lo;
		hi = hi > v->end ? v->end : hi;
		if (vma_split_at(mm, lo) < 0 || vma_split_at(mm, hi) < 0)
			return -ENOMEM;
		i = vma_find(mm, lo);
		v = &mm->v[i];
		uint64_t len = hi - lo, copy;
		if (v->host) { /* a private mapping of a host file: the pages now come from the memory file */
			if (copy_file_pages(pr->s, v->host->fd, v->mf_off, len, &copy) < 0)
				return -ENOMEM;
			hostmap_put(v->host);
			v->host = NULL;
			v->mf_off = copy;
		} else if (cv_memfile_max_refcount(mf, v->mf_off, len) != 1) {
			if (copy_pages(pr->s, v->mf_off, len, &copy) < 0)
				return -ENOMEM;
			cv_memfile_decref(mf, v->mf_off, len);
			v->mf_off = copy;
		}
		v->cow = false;
		if (vma_install(pr, v) < 0)
			return -ENOMEM;
		vma_merge(mm, i);
		addr = next;
	}
	return 0;
}

int mm_fault(struct process *pr, uint64_t addr, unsigned access)
{
	struct mm *mm = &pr->vm->mm;
	uint64_t page = addr & ~(PAGE - 1);
	int resolved = MM_FAULT_REAL;
	pthread_mutex_lock(&pr->vm->lock);
	size_t i = vma_find(mm, addr);
	if (mm_deferred_overlaps(mm, page, page + PAGE)) {
		/* An install held back (mm_defer.c): made now, the access is tried again */
		resolved = mm_flush_installs(pr) == 0 ? MM_FAULT_FLUSHED : MM_FAULT_REAL;
	} else if (i < mm->n && mm->v[i].start <= addr) {
		struct vma *v = &mm->v[i];
		/* x86 pages that can be written can be read */
		unsigned allowed = v->access | ((v->access & CV_ACCESS_WRITE) ? CV_ACCESS_READ : 0);
		if (!(allowed & access)) {
			resolved = MM_FAULT_REAL;
		} else if (v->bus) {
			resolved = MM_FAULT_BUS;
		} else if (v->lazy) { /* the first access: populate the window around it */
			uint64_t lo, hi;
			mm_fault_window(v, page, &lo, &hi);
			int r = mm_populate_locked(pr, lo, hi);
			if (r == -ENOMEM) /* the memory limit: the one page may still fit */
				r = mm_populate_locked(pr, page, page + PAGE);
			resolved = r >= 0 ? MM_FAULT_POPULATED : r == -ENOMEM ? MM_FAULT_OOM : MM_FAULT_REAL;
		} else if (v->cow && (v->access & CV_ACCESS_WRITE)) {
			/* A file's page by page: untouched pages keep showing the file, as in Linux. */
			int r = mm_unshare(pr, page, page + PAGE, v->host ? PAGE : COW_CHUNK, true);
			if (r == -ENOMEM) /* the memory limit: one page may still fit */
				r = mm_unshare(pr, page, page + PAGE, PAGE, true);
			resolved = r == 0 ? MM_FAULT_COPIED : r == -ENOMEM ? MM_FAULT_OOM : MM_FAULT_REAL;
		} else {
			/* Allowed already: another thread changed the mapping after this access faulted
			 * (it unshared the page, mprotect, mmap). Install the page again and retry. */
			struct vma one = *v;
			one.start = page;
			one.end = page + PAGE;
			one.mf_off += page - v->start;
			if (vma_install(pr, &one) == 0)
				resolved = MM_FAULT_STALE;
		}
	}
	pthread_mutex_unlock(&pr->vm->lock);
	return resolved;
}

/* Is a pin the sentry writes through (a read(2) in progress in another thread) on [start, end)? */
static bool written_through_pin(const struct mm *mm, uint64_t start, uint64_t end)
{
	for (const struct mm_pin *p = mm->pins; p; p = p->next)
		if (p->writes && p->start < end && start < p->end)
			return true;
	return false;
}

/* The VMA walk of mm_fork(): the child's VMAs, and in *@pm_map the parent's to reinstall read-only. */
static int fork_vmas(struct process *parent, struct process *child, struct cv_as_mapping *pm_map, size_t *npm)
{
	struct sentry *s = parent->s;
	struct mm *pm = &parent->vm->mm, *cm = &child->vm->mm;
	for (size_t i = 0; i < pm->n; i++) {
		struct vma *v = &pm->v[i], c = *v;
		uint64_t len = v->end - v->start;
		if (v->fork == VMA_FORK_NONE)
			continue;
		if (v->lazy || (v->fork == VMA_FORK_WIPE && !v->shared)) {
			/* Unpopulated stays unpopulated in both; wiped memory starts unpopulated. */
			c.lazy = true;
			c.cow = c.file = false;
			c.host = NULL; /* (never a host file: WIPEONFORK is refused for file mappings) */
		} else if (!v->shared && !v->cow && (v->access & CV_ACCESS_WRITE) &&
			   (len <= COW_CHUNK || written_through_pin(pm, v->start, v->end))) {
			/* Small: a copy now costs less than the write faults sharing would take on both
			 * sides. Or another thread's read(2) is filling these pages: that data belongs to
			 * the parent, so the child gets its copy now and the parent keeps writing in place. */
			if (copy_pages(s, v->mf_off, len, &c.mf_off) < 0)
				return -ENOMEM;
		} else {
			if (vma_ref(parent, v) < 0)
				return -ENOMEM;
			if (!v->shared && !v->cow) {
				c.cow = v->cow = true;
				if ((v->access & CV_ACCESS_WRITE) && vma_mapping(parent, v, &pm_map[*npm]))
					(*npm)++;
			}
		}
		cm->v[cm->n++] = c;
	}
	return 0;
}

int mm_fork(struct process *parent, struct process *child)
{
	struct mm *pm = &parent->vm->mm, *cm = &child->vm->mm;
	cm->v = calloc(pm->n ? pm->n : 1, sizeof(struct vma));
	struct cv_as_mapping *maps = calloc(pm->n ? 2 * pm->n : 1, sizeof(*maps)); /* the parent's, the child's */
	if (!cm->v || !maps) {
		free(maps);
		return -ENOMEM;
	}
	cm->cap = pm->n ? pm->n : 1;
	cm->brk_start = pm->brk_start;
	cm->brk = pm->brk;
	cm->mmap_base = pm->mmap_base;
	/* The mappings go in two batches, one per address space, rather than one request per VMA. The
	 * parent's copy-on-write VMAs lose write access even if the fork fails: they are marked. */
	size_t npm = 0, ncm = 0;
	int ret = fork_vmas(parent, child, maps, &npm);
	if (vma_install_many(parent, maps, npm) < 0)
		ret = -ENOMEM;
	struct hostmap **hosts = calloc(cm->n ? cm->n : 1, sizeof(*hosts));
	for (size_t i = 0; ret == 0 && i < cm->n; i++)
		if (vma_mapping(child, &cm->v[i], &maps[npm + ncm])) {
			if (hosts)
				hosts[ncm] = cm->v[i].host;
			ncm++;
		}
	/* The child's own thread makes them when it first runs (task_loop), beside whatever the parent
	 * does next (a shell forks again before it waits); made here if they cannot wait. */
	if (ret == 0 && !(hosts && mm_defer_fork(child, maps + npm, hosts, ncm)) &&
	    vma_install_many(child, maps + npm, ncm) < 0)
		ret = -ENOMEM;
	free(hosts);
	free(maps);
	return ret;
}
