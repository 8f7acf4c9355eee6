// SPDX-License-Identifier: Apache-2.0
// The sentry's memory manager: VMAs over the memory file, installed in the address space.
//
// Every populated byte of application memory lives in the memory file: anonymous memory directly,
// private file mappings as copies made at mmap time (or the host file itself, read-only). Private
// anonymous memory is populated on demand: mmap only records a lazy VMA (no memory-file pages, nothing
// installed), and the first access faults; the sentry then gives the fault's window (fault-around)
// memory-file pages and installs them. Shared memory and file mappings are installed at mmap time.
#include <errno.h>
#include <sys/resource.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>
#include <sys/mman.h>
#include "mm_internal.h"

/* A fault on unpopulated memory populates the whole VMA when it is at most LAZY_WHOLE, else the
 * FAULT_AROUND-aligned window around the fault. Populated pages cost no host memory until touched (the
 * memory file commits a page when it is written), so the window only costs memory-file address space. */
#define LAZY_WHOLE (4ull << 20)
#define FAULT_AROUND (1ull << 20)
/* Mappings this small are populated at mmap time: they are nearly always touched, and a fault costs a
 * round trip to the sentry that the mmap call itself already pays. */
#define EAGER_MAX (128ull << 10)
#define RSS_MEASURE_UNMAP (64ull << 20) /* an munmap this large measures the peak first: rare enough
						* that the walk over every VMA costs nothing that matters */

int vma_reserve(struct mm *mm, size_t extra)
{
	if (mm->n + extra <= mm->cap)
		return 0;
	size_t cap = mm->cap ? mm->cap * 2 : 32;
	while (cap < mm->n + extra)
		cap *= 2;
	struct vma *v = realloc(mm->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	mm->v = v;
	mm->cap = cap;
	return 0;
}

size_t vma_find(const struct mm *mm, uint64_t addr)
{
	size_t lo = 0, hi = mm->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (mm->v[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int vma_split_at(struct mm *mm, uint64_t addr)
{
	size_t i = vma_find(mm, addr);
	if (i == mm->n || mm->v[i].start >= addr)
		return 0;
	if (vma_reserve(mm, 1) < 0)
		return -ENOMEM;
	struct vma tail = mm->v[i];
	tail.mf_off += addr - tail.start;
	tail.start = addr;
	if (tail.host)
		__atomic_add_fetch(&tail.host->refs, 1, __ATOMIC_RELAXED);
	mm->v[i].end = addr;
	memmove(&mm->v[i + 2], &mm->v[i + 1], (mm->n - i - 1) * sizeof(struct vma));
	mm->v[i + 1] = tail;
	mm->n++;
	return 0;
}

static bool continues(const struct vma *a, const struct vma *b)
{
	return a->end == b->start && a->lazy == b->lazy && a->bus == b->bus && (a->lazy || a->mf_off + (a->end - a->start) == b->mf_off) &&
	       a->host == b->host && a->access == b->access && a->shared == b->shared && a->cow == b->cow &&
	       a->file == b->file && a->fork == b->fork && a->special == b->special;
}

size_t vma_merge(struct mm *mm, size_t i)
{
	if (i + 1 < mm->n && continues(&mm->v[i], &mm->v[i + 1])) {
		if (mm->v[i].host) /* one VMA now: one reference (never the last) */
			__atomic_sub_fetch(&mm->v[i].host->refs, 1, __ATOMIC_RELAXED);
		mm->v[i].end = mm->v[i + 1].end;
		memmove(&mm->v[i + 1], &mm->v[i + 2], (mm->n - i - 2) * sizeof(struct vma));
		mm->n--;
	}
	if (i > 0 && continues(&mm->v[i - 1], &mm->v[i])) {
		if (mm->v[i].host)
			__atomic_sub_fetch(&mm->v[i].host->refs, 1, __ATOMIC_RELAXED);
		mm->v[i - 1].end = mm->v[i].end;
		memmove(&mm->v[i], &mm->v[i + 1], (mm->n - i - 1) * sizeof(struct vma));
		mm->n--;
		i--;
	}
	return i;
}

bool vma_mapping(struct process *pr, const struct vma *v, struct cv_as_mapping *m)
{
	if (v->lazy)
		return false; /* installed by the first fault */
	*m = (struct cv_as_mapping){
		.addr = v->start,
		.offset = v->mf_off,
		.len = v->end - v->start,
		.fd = v->host ? v->host->fd : cv_memfile_fd(pr->s->mf),
		.access = v->cow ? v->access & ~(unsigned)CV_ACCESS_WRITE : v->access,
	};
	return true;
}

/* vma_install(); @fresh: nothing is installed in @v's range (then the install may be held back);
 * @precommit: map it with its pages faulted in (warm memory-file pages: no memory to commit). */
static int install(struct process *pr, const struct vma *v, bool fresh, bool precommit)
{
	const struct mm *mm = &pr->vm->mm;
	struct cv_as_mapping m;
	if (!vma_mapping(pr, v, &m))
		return 0;
	m.precommit = precommit;
	if (defer_install(pr, v, &m, fresh))
		return 0;
	mm_flush_installs(pr); /* the address space changes in the order the calls made */
	int ret = cv_as_map(pr->vm->as, m.addr, m.fd, m.offset, m.len, m.access, m.precommit);
	if (ret == 0 && v->host && v->host->priv && !mm->deferring)
		fs_dev_mapped(pr->s, v->host->dev); /* (known from now on: mm_defer.c) */
	return ret == 0 ? 0 : ret == -EACCES ? -EACCES : -ENOMEM;
}

int vma_install(struct process *pr, const struct vma *v)
{
	return install(pr, v, false, false);
}

int vma_install_many(struct process *pr, const struct cv_as_mapping *m, size_t n)
{
	mm_flush_installs(pr);
	int ret = cv_as_map_many(pr->vm->as, m, n, NULL);
	return ret == 0 ? 0 : ret == -EACCES ? -EACCES : -ENOMEM;
}

int vma_ref(struct process *pr, const struct vma *v)
{
	if (v->lazy)
		return 0;
	if (v->host) {
		__atomic_add_fetch(&v->host->refs, 1, __ATOMIC_RELAXED);
		return 0;
	}
	return cv_memfile_incref(pr->s->mf, v->mf_off, v->end - v->start) < 0 ? -ENOMEM : 0;
}

void vma_unref(struct process *pr, const struct vma *v)
{
	vma_release(pr->s, v);
}

void vma_release(struct sentry *s, const struct vma *v)
{
	if (v->lazy)
		return;
	if (!v->host) {
		cv_memfile_decref(s->mf, v->mf_off, v->end - v->start);
	} else {
		hostmap_put(v->host);
	}
}

/* Forget [start, end): what backs it is released; the address space is not touched. */
int mm_remove_range(struct process *pr, uint64_t start, uint64_t end)
{
	struct mm *mm = &pr->vm->mm;
	if (vma_split_at(mm, start) < 0 || vma_split_at(mm, end) < 0)
		return -ENOMEM;
	size_t i = vma_find(mm, start), j = i;
	while (j < mm->n && mm->v[j].end <= end)
		vma_unref(pr, &mm->v[j++]);
	memmove(&mm->v[i], &mm->v[j], (mm->n - j) * sizeof(struct vma));
	mm->n -= j - i;
	return 0;
}

bool mm_range_free(const struct mm *mm, uint64_t start, uint64_t end)
{
	size_t i = vma_find(mm, start);
	return i == mm->n || mm->v[i].start >= end;
}

/* Highest free gap of len bytes below mm->mmap_base. */
uint64_t mm_find_gap(const struct process *pr, uint64_t len)
{
	const struct mm *mm = &pr->vm->mm;
	uint64_t top = mm->mmap_base;
	for (size_t k = mm->n; k-- > 0;) {
		const struct vma *v = &mm->v[k];
		if (v->start >= top)
			continue;
		if (v->end <= top && top - v->end >= len)
			return top - len;
		top = v->start < top ? v->start : top;
	}
	return top >= pr->s->caps.min_user_addr + len ? top - len : 0;
}

/* Map VMA @v (its backing ours) at @addr or a free gap; the backing is dropped on failure. */
static int map_vma(struct process *pr, uint64_t addr, uint64_t len, bool fixed, struct vma v, uint64_t *out)
{
	struct mm *mm = &pr->vm->mm;
	int ret = -ENOMEM;
	if (!fixed && (!addr || __builtin_add_overflow(addr, len, &v.end) || v.end > pr->s->caps.max_user_addr ||
		       addr < pr->s->caps.min_user_addr || !mm_range_free(mm, addr, v.end)))
		addr = mm_find_gap(pr, len);
	v.start = addr;
	if (addr && !__builtin_add_overflow(addr, len, &v.end) && v.end <= pr->s->caps.max_user_addr &&
	    addr >= pr->s->caps.min_user_addr && vma_reserve(mm, 3) == 0) {
		/* Nothing is installed for unpopulated memory: what it replaces must go from the address space.
		 * The address space changes first: if it refuses, the old VMAs (and their pages, still
		 * installed) stay the process's, never freed while mapped. */
		bool installed = installed_here(mm, addr, v.end);
		if (!v.lazy)
			ret = install(pr, &v, !installed, false);
		else if (installed || (mm_deferred_overlaps(mm, addr, v.end) && defer_trim(pr, addr, v.end) < 0))
			ret = as_unmap(pr, addr, len) < 0 ? -ENOMEM : 0;
		else
			ret = 0; /* nothing there, or only installs held back, now without this range */
		if (ret == 0 && mm_remove_range(pr, addr, v.end) < 0) { /* (not with the room reserved) */
			as_unmap(pr, addr, len);
			ret = -ENOMEM;
		}
	}
	if (ret < 0) {
		v.end = v.start + len; /* only the length matters to the reference */
		vma_unref(pr, &v);
		return ret;
	}
	size_t i = vma_find(mm, addr);
	memmove(&mm->v[i + 1], &mm->v[i], (mm->n - i) * sizeof(struct vma));
	mm->v[i] = v;
	mm->n++;
	*out = addr;
	return 0;
}

int mm_map_backing(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		   bool cow, struct hostmap *host, uint64_t off, uint64_t *out)
{
	struct vma v = { .mf_off = off, .host = host, .access = access, .shared = shared, .cow = cow };
	return map_vma(pr, addr, len, fixed, v, out);
}

/* Install memory-file pages [off, off+len) (one reference, ours now) as a VMA at addr or a free gap. */
int mm_map_pages(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		 bool cow, uint64_t off, uint64_t *out)
{
	return mm_map_backing(pr, addr, len, access, fixed, shared, cow, NULL, off, out);
}

bool mm_mappable_file(struct sentry *s, int fd, const struct stat *st)
{
	static const long pseudo[] = { SYSFS_MAGIC, PROC_SUPER_MAGIC, DEBUGFS_MAGIC, TRACEFS_MAGIC,
				       SECURITYFS_MAGIC, CGROUP_SUPER_MAGIC, CGROUP2_SUPER_MAGIC, BPF_FS_MAGIC,
				       0x62656570 /* configfs */, EFIVARFS_MAGIC, PSTOREFS_MAGIC };
	if (!S_ISREG(st->st_mode))
		return false;
	long type = fs_type_of_dev(s, st->st_dev, fd); /* (a loader maps several parts of one file) */
	if (type == -1)
		return false;
	for (size_t i = 0; i < sizeof(pseudo) / sizeof(pseudo[0]); i++)
		if (type == pseudo[i])
			return false;
	return true;
}

void hostmap_put(struct hostmap *h)
{
	if (__atomic_sub_fetch(&h->refs, 1, __ATOMIC_ACQ_REL) == 0) {
		close(h->fd);
		free(h);
	}
}

/* Map host file @fd (of stat @st) at [addr, addr+len) from @foff: shared, or private copy-on-write. */
static int map_host(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, int fd,
		    const struct stat *st, uint64_t foff, bool shared, uint64_t *out)
{
	len = PAGE_UP(len);
	if (len == 0 || (addr & (PAGE - 1)) || (foff & (PAGE - 1)))
		return -EINVAL;
	/* A private mapping only reads the file: one the process maps privately already right there (a
	 * loader's segments, ld.so's of a library over its reservation) lends its descriptor, one host fd
	 * less to make and check. Only the mappings around @addr are looked at (a process may have many). */
	struct hostmap *h = NULL;
	const struct mm *mm = &pr->vm->mm;
	if (fixed && !shared) {
		size_t at = vma_find(mm, addr);
		for (size_t i = at > 4 ? at - 4 : 0; i < mm->n && i <= at + 4 && !h; i++)
			if (mm->v[i].host && mm->v[i].host->priv && mm->v[i].host->dev == (uint64_t)st->st_dev &&
			    mm->v[i].host->ino == (uint64_t)st->st_ino)
				h = mm->v[i].host;
	}
	if (h) {
		__atomic_add_fetch(&h->refs, 1, __ATOMIC_ACQ_REL);
	} else {
		if (!(h = malloc(sizeof(*h))))
			return -ENOMEM;
		h->refs = 1;
		h->sealed = -1;
		h->priv = !shared;
		if ((h->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3)) < 0) { /* (the same open file: @st is its stat) */
			free(h);
			return -ENFILE;
		}
		h->dev = st->st_dev;
		h->ino = st->st_ino;
		struct statfs sf; /* (per descriptor, not per device: a bind mount may add noexec) */
		h->noexec = shared || fstatfs(h->fd, &sf) < 0 || (sf.f_flags & ST_NOEXEC);
	}
	int ret = mm_map_backing(pr, addr, len, access, fixed, shared, !shared, h, foff, out);
	if (ret == 0 && !shared)
		mm_set_file(pr, *out);
	return ret;
}

int mm_map_host(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, int fd,
		const struct stat *st, uint64_t foff, uint64_t *out)
{
	return map_host(pr, addr, len, access, fixed, fd, st, foff, true, out);
}

bool mm_is_free(struct process *pr, uint64_t addr, uint64_t len)
{
	uint64_t end;
	return !__builtin_add_overflow(addr, PAGE_UP(len), &end) && mm_range_free(&pr->vm->mm, addr, end);
}

int mm_map_anon(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		uint64_t *out)
{
	len = PAGE_UP(len);
	if (len == 0 || (addr & (PAGE - 1)))
		return -EINVAL;
	if (!shared) { /* populated on demand; shared memory at once (every process mapping it shares the pages) */
		int ret = map_vma(pr, addr, len, fixed, (struct vma){ .access = access, .lazy = true }, out);
		if (ret == 0 && len <= EAGER_MAX)
			mm_populate(pr, *out, len);
		return ret;
	}
	uint64_t off;
	if (vm_alloc_pages(pr->s, len, &off) < 0)
		return -ENOMEM;
	return mm_map_pages(pr, addr, len, access, fixed, shared, false, off, out);
}

int mm_map_file_ro(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, int fd,
		   const struct stat *known, uint64_t foff, uint64_t *out)
{
	len = PAGE_UP(len);
	if (len == 0 || (addr & (PAGE - 1)) || (access & CV_ACCESS_WRITE))
		return -EINVAL;
	uint64_t off;
	/* The file itself, private: pages the program never touches are never read, the host's page
	 * cache shares them, and a write (after mprotect) copies the page into the memory file. On a
	 * pseudo file system, or where the host refuses (a noexec mount), a copy from the file cache. */
	struct stat own;
	const struct stat *st = known ? known : fstat(fd, &own) == 0 ? &own : NULL;
	if (st && mm_mappable_file(pr->s, fd, st) && map_host(pr, addr, len, access, fixed, fd, st, foff, false, out) == 0)
		return 0;
	int ret = fc_get(pr->s, fd, foff, len, &off);
	if (ret < 0)
		return ret;
	ret = mm_map_pages(pr, addr, len, access, fixed, false, true, off, out);
	if (ret == 0)
		mm_set_file(pr, *out);
	return ret;
}

int mm_set_bus(struct process *pr, uint64_t start, uint64_t end)
{
	struct mm *mm = &pr->vm->mm;
	if (start >= end)
		return 0;
	if ((installed_here(mm, start, end) && as_unmap(pr, start, end - start) < 0) ||
	    (mm_deferred_overlaps(mm, start, end) && defer_trim(pr, start, end) < 0 && as_unmap(pr, start, end - start) < 0) ||
	    vma_split_at(mm, start) < 0 || vma_split_at(mm, end) < 0)
		return -ENOMEM;
	size_t i = vma_find(mm, start);
	for (size_t k = i; k < mm->n && mm->v[k].start < end; k++) {
		struct vma *v = &mm->v[k];
		vma_unref(pr, v);
		v->lazy = v->bus = v->file = true;
		v->cow = false;
		v->host = NULL;
		v->mf_off = 0;
	}
	vma_merge(mm, i);
	return 0;
}

void mm_set_file(struct process *pr, uint64_t addr)
{
	size_t i = vma_find(&pr->vm->mm, addr);
	if (i < pr->vm->mm.n && pr->vm->mm.v[i].start == addr)
		pr->vm->mm.v[i].file = true;
}

/* Bytes of memory-file range [off, off+len) that hold data: a page nobody wrote is a hole. A small
 * range asks the residency of the sentry's own view of it (one mincore, where SEEK_DATA and SEEK_HOLE
 * take two lseeks and more for each run of data; a swapped-out page is not resident, as Linux's RSS
 * counts it), a large one the file's runs of data. */
#define RSS_MINCORE_PAGES 256
static uint64_t data_in(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	uint64_t n = 0, pos = off, end = off + len;
	void *p;
	unsigned char vec[RSS_MINCORE_PAGES];
	if (len <= RSS_MINCORE_PAGES * PAGE && cv_memfile_ptr(mf, off, len, &p) == 0 && mincore(p, len, vec) == 0) {
		for (uint64_t i = 0; i < len / PAGE; i++)
			n += vec[i] & 1;
		return n * PAGE;
	}
	int fd = cv_memfile_fd(mf);
	while (pos < end) {
		off_t d = lseek(fd, (off_t)pos, SEEK_DATA);
		if (d < 0 || (uint64_t)d >= end)
			break;
		off_t h = lseek(fd, d, SEEK_HOLE);
		uint64_t stop = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
		n += stop - (uint64_t)d;
		pos = stop;
	}
	return n;
}

uint64_t mm_rss(const struct process *pr)
{
	uint64_t n = 0;
	for (size_t i = 0; i < pr->vm->mm.n; i++) {
		const struct vma *v = &pr->vm->mm.v[i];
		if (!v->host && !v->lazy)
			n += data_in(pr->s->mf, v->mf_off, v->end - v->start);
	}
	return n;
}

uint64_t mm_rss_peak(struct process *pr)
{
	uint64_t n = mm_rss(pr);
	if (n > pr->rss_hwm)
		pr->rss_hwm = n;
	return n;
}

int mm_unmap(struct process *pr, uint64_t addr, uint64_t len)
{
	uint64_t end;
	len = PAGE_UP(len);
	if ((addr & (PAGE - 1)) || len == 0 || __builtin_add_overflow(addr, len, &end))
		return -EINVAL;
	if (addr >= pr->s->caps.max_user_addr)
		return -EINVAL;
	if (end > pr->s->caps.max_user_addr)
		end = pr->s->caps.max_user_addr;
	if (addr < pr->s->caps.min_user_addr)
		addr = pr->s->caps.min_user_addr;
	if (addr >= end)
		return 0;
	if (end - addr >= RSS_MEASURE_UNMAP)
		mm_rss_peak(pr); /* a large free may end a peak getrusage would not see otherwise */
	int ret = 0;
	if (installed_here(&pr->vm->mm, addr, end) ||
	    (mm_deferred_overlaps(&pr->vm->mm, addr, end) && defer_trim(pr, addr, end) < 0))
		ret = as_unmap(pr, addr, end - addr);
	if (ret < 0)
		return ret == -EINVAL ? -EINVAL : -ENOMEM;
	return mm_remove_range(pr, addr, end);
}

/* May @pr map @add bytes more (at @addr with MAP_FIXED, where what it replaces does not count) under
 * limit @lim, counting its mappings (@data: only the private writable ones but the stack)? */
static bool within(struct process *pr, uint64_t addr, uint64_t add, uint64_t lim, bool data)
{
	if (lim == RLIM_INFINITY)
		return true;
	uint64_t total = 0, end = addr + add;
	for (size_t i = 0; i < pr->vm->mm.n; i++) {
		const struct vma *v = &pr->vm->mm.v[i];
		if (data && (!(v->access & CV_ACCESS_WRITE) || v->shared || v->host || v->start == pr->vm->mm.stack_start))
			continue;
		total += v->end - v->start;
		if (addr && v->start < end && addr < v->end) /* MAP_FIXED over it: replaced, not added */
			total -= (v->end < end ? v->end : end) - (v->start > addr ? v->start : addr);
	}
	return add <= lim && total <= lim - add;
}

bool mm_as_allows(struct process *pr, uint64_t addr, uint64_t add)
{
	return within(pr, addr, add, pr->rlim[RLIMIT_AS].rlim_cur, false);
}

bool mm_data_allows(struct process *pr, uint64_t addr, uint64_t add)
{
	return within(pr, addr, add, pr->rlim[RLIMIT_DATA].rlim_cur, true);
}

bool mm_writable(struct process *pr, uint64_t addr)
{
	pthread_mutex_lock(&pr->vm->lock);
	size_t i = vma_find(&pr->vm->mm, addr);
	bool ok = i < pr->vm->mm.n && pr->vm->mm.v[i].start <= addr && (pr->vm->mm.v[i].access & CV_ACCESS_WRITE);
	pthread_mutex_unlock(&pr->vm->lock);
	return ok;
}

bool mm_mapped(struct process *pr, uint64_t addr)
{
	pthread_mutex_lock(&pr->vm->lock);
	size_t i = vma_find(&pr->vm->mm, addr);
	bool ok = i < pr->vm->mm.n && pr->vm->mm.v[i].start <= addr;
	pthread_mutex_unlock(&pr->vm->lock);
	return ok;
}

void mm_fault_window(const struct vma *v, uint64_t page, uint64_t *lo, uint64_t *hi)
{
	if (v->end - v->start <= LAZY_WHOLE) {
		*lo = v->start;
		*hi = v->end;
		return;
	}
	*lo = page & ~(FAULT_AROUND - 1);
	*hi = *lo + FAULT_AROUND;
	*lo = *lo < v->start ? v->start : *lo;
	*hi = *hi > v->end || *hi < *lo ? v->end : *hi;
}

int mm_populate_locked(struct process *pr, uint64_t start, uint64_t end)
{
	struct mm *mm = &pr->vm->mm;
	int done = 0;
	for (size_t i = vma_find(mm, start); i < mm->n && mm->v[i].start < end; i++) {
		if (!mm->v[i].lazy || !mm->v[i].access || mm->v[i].bus)
			continue; /* populated already, inaccessible (a reservation stays free), or past a file's end */
		uint64_t lo = start > mm->v[i].start ? start : mm->v[i].start;
		uint64_t hi = end < mm->v[i].end ? end : mm->v[i].end, off;
		if (vma_split_at(mm, lo) < 0 || vma_split_at(mm, hi) < 0)
			return -ENOMEM;
		i = vma_find(mm, lo);
		struct vma *v = &mm->v[i];
		int warm = vm_alloc_pages_warm(pr->s, hi - lo, &off);
		if (warm < 0)
			return -ENOMEM;
		v->mf_off = off;
		v->lazy = false;
		if (install(pr, v, true, warm) < 0) { /* (nothing is installed in unpopulated memory) */
			cv_memfile_decref(pr->s->mf, off, hi - lo);
			v->lazy = true;
			return -ENOMEM;
		}
		i = vma_merge(mm, i);
		done = 1;
	}
	return done;
}

/* [*lo, *hi) widened to the fault windows of the unpopulated VMAs at its ends: the sentry's accesses
 * populate as much as the application's faults would. */
static void widen(const struct mm *mm, uint64_t *lo, uint64_t *hi)
{
	uint64_t a, b;
	size_t i = vma_find(mm, *lo);
	if (i < mm->n && mm->v[i].start <= *lo && mm->v[i].lazy) {
		mm_fault_window(&mm->v[i], *lo, &a, &b);
		*lo = a;
	}
	i = vma_find(mm, *hi - PAGE);
	if (i < mm->n && mm->v[i].start <= *hi - PAGE && mm->v[i].lazy) {
		mm_fault_window(&mm->v[i], *hi - PAGE, &a, &b);
		*hi = b > *hi ? b : *hi;
	}
}

int mm_populate(struct process *pr, uint64_t addr, uint64_t len)
{
	uint64_t end;
	if (len == 0 || __builtin_add_overflow(addr, len, &end) || end > pr->s->caps.max_user_addr)
		return 0;
	pthread_mutex_lock(&pr->vm->lock);
	int ret = mm_populate_locked(pr, addr & ~(PAGE - 1), PAGE_UP(end));
	pthread_mutex_unlock(&pr->vm->lock);
	return ret;
}

/* mm_populate() of [addr, addr+len) widened to fault windows (the sentry's own accesses). */
static int populate_around(struct process *pr, uint64_t addr, size_t len)
{
	uint64_t end;
	if (len == 0 || __builtin_add_overflow(addr, len, &end) || end > pr->s->caps.max_user_addr)
		return 0;
	uint64_t lo = addr & ~(PAGE - 1), hi = PAGE_UP(end);
	pthread_mutex_lock(&pr->vm->lock);
	widen(&pr->vm->mm, &lo, &hi);
	int ret = mm_populate_locked(pr, lo, hi);
	pthread_mutex_unlock(&pr->vm->lock);
	return ret;
}

int mm_own_page(struct process *pr, uint64_t addr)
{
	uint64_t page = addr & ~(PAGE - 1);
	pthread_mutex_lock(&pr->vm->lock);
	int ret = mm_populate_locked(pr, page, page + PAGE) < 0 ? -ENOMEM : mm_unshare(pr, page, page + PAGE, PAGE, false);
	pthread_mutex_unlock(&pr->vm->lock);
	return ret;
}

/*
 * Should the patchable syscall site ending at @rip be patched now? On its third trap, not its first:
 * patching first makes the page the process's own (a copy, and a new mapping in the address space:
 * tens of µs on a loaded or virtualized host), which start-up code that runs once — most sites of an
 * exec'd program — never pays back. And not in a young memory (its first PATCH_YOUNG_TRAPS patchable
 * traps): there the patch and the first call through it cost 0.3–0.8 ms together (the page copy and
 * mapping, then the patched path's first run in a fresh stub), which a short program — /bin/true's
 * 36 calls, ld.so's 8 mmaps through one site — never pays back either. Counts live in a small table by
 * hash (a collision restarts a count; threads race harmlessly: patching twice is a no-op); exec starts
 * a new table.
 */
#define PATCH_AFTER_HITS 3
#define PATCH_YOUNG_TRAPS 64
#define PATCH_TRIED 0xffffu /* a site patched, or that could not be: never again */
bool mm_patch_wanted(struct mm *mm, uint64_t rip)
{
	uint64_t traps = __atomic_add_fetch(&mm->patch_traps, 1, __ATOMIC_RELAXED);
	uint64_t *slot = &mm->patch_hits[(rip * 0x9e3779b97f4a7c15ull) >> 58];
	uint64_t v = __atomic_load_n(slot, __ATOMIC_RELAXED);
	uint64_t hits = (v >> 16) == rip ? (v & 0xffff) : 0;
	if (hits == PATCH_TRIED)
		return false;
	hits = hits + 1 < PATCH_TRIED ? hits + 1 : PATCH_TRIED - 1;
	bool want = hits >= PATCH_AFTER_HITS && traps > PATCH_YOUNG_TRAPS;
	__atomic_store_n(slot, (rip << 16) | (want ? PATCH_TRIED : hits), __ATOMIC_RELAXED);
	return want;
}

/* Is [addr, end) mapped without holes? Linux's mprotect, madvise and mremap fail with ENOMEM if not. */
bool mm_range_mapped(const struct mm *mm, uint64_t addr, uint64_t end)
{
	uint64_t cur = addr;
	for (size_t i = vma_find(mm, addr); i < mm->n && cur < end; i++) {
		if (mm->v[i].start > cur)
			return false;
		cur = mm->v[i].end;
	}
	return cur >= end;
}

int mm_protect(struct process *pr, uint64_t addr, uint64_t len, unsigned access)
{
	struct mm *mm = &pr->vm->mm;
	uint64_t end;
	len = PAGE_UP(len);
	if ((addr & (PAGE - 1)) || __builtin_add_overflow(addr, len, &end))
		return -EINVAL;
	if (len == 0)
		return 0;
	if (!mm_range_mapped(mm, addr, end))
		return -ENOMEM;
	if (vdso_refuses(mm, addr, end, access))
		return -EACCES;
	if (vma_split_at(mm, addr) < 0 || vma_split_at(mm, end) < 0)
		return -ENOMEM;
	/* Copy-on-write memory stays shared until it is written, whatever its new protection. */
	for (size_t i = vma_find(mm, addr); i < mm->n && mm->v[i].start < end; i++) {
		unsigned old = mm->v[i].access;
		mm->v[i].access = access;
		int ret = old == access ? 0 : vma_install(pr, &mm->v[i]); /* (unchanged: nothing to install) */
		if (ret < 0) { /* EACCES: a shared file mapping of an fd opened without write access */
			mm->v[i].access = old;
			return ret;
		}
		i = vma_merge(mm, i);
	}
	return 0;
}

uint64_t mm_brk(struct process *pr, uint64_t want)
{
	struct mm *mm = &pr->vm->mm;
	/* Out of range (brk(-1) would round up to 0 and unmap everything): the break stays, as Linux. */
	if (want < mm->brk_start || want > pr->s->caps.max_user_addr)
		return mm->brk;
	uint64_t old_top = PAGE_UP(mm->brk), new_top = PAGE_UP(want);
	if (new_top > old_top) {
		uint64_t got;
		uint64_t data = pr->rlim[RLIMIT_DATA].rlim_cur; /* as Linux: the break's own size counts */
		if (!mm_as_allows(pr, 0, new_top - old_top) || (data != RLIM_INFINITY && want - mm->brk_start > data) ||
		    !mm_range_free(mm, old_top, new_top) ||
		    mm_map_anon(pr, old_top, new_top - old_top, CV_ACCESS_READ | CV_ACCESS_WRITE, true, false, &got) < 0)
			return mm->brk;
		if (pr->s->opts.mem_limit && mm_populate(pr, old_top, new_top - old_top) < 0) { /* as mmap */
			mm_unmap(pr, old_top, new_top - old_top);
			return mm->brk;
		}
	} else if (new_top < old_top) {
		mm_unmap(pr, new_top, old_top - new_top);
	}
	mm->brk = want;
	return mm->brk;
}

int mm_copy_in(struct process *pr, uint64_t addr, void *dst, size_t len)
{
	if (len == 0)
		return 0;
	if (mm_flush_installs(pr) < 0)
		return -EFAULT;
	if (cv_as_copy_in(pr->vm->as, addr, dst, len) == (long)len)
		return 0;
	/* Unpopulated memory is not installed yet: populate it and try again. */
	return populate_around(pr, addr, len) > 0 && cv_as_copy_in(pr->vm->as, addr, dst, len) == (long)len ? 0 : -EFAULT;
}

int mm_copy_out(struct process *pr, uint64_t addr, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	if (mm_flush_installs(pr) < 0)
		return -EFAULT;
	if (cv_as_copy_out(pr->vm->as, addr, src, len) == (long)len)
		return 0;
	/* Copy-on-write pages are installed read-only, unpopulated ones not at all: give them their own
	 * pages and try again. */
	uint64_t end;
	if (__builtin_add_overflow(addr, len, &end) || end > pr->s->caps.max_user_addr)
		return -EFAULT;
	pthread_mutex_lock(&pr->vm->lock);
	int ret = populate_around(pr, addr, len);
	ret = ret < 0 ? ret : mm_unshare(pr, addr & ~(PAGE - 1), PAGE_UP(end), PAGE, true);
	pthread_mutex_unlock(&pr->vm->lock);
	return ret == 0 && cv_as_copy_out(pr->vm->as, addr, src, len) == (long)len ? 0 : -EFAULT;
}

static int pin_range(struct process *pr, uint64_t addr, size_t len, unsigned access, struct mm_pin *pin);

bool mm_shared_offset(struct process *pr, uint64_t addr, uintptr_t *file, uint64_t *off)
{
	pthread_mutex_lock(&pr->vm->lock);
	size_t i = vma_find(&pr->vm->mm, addr);
	bool shared = i < pr->vm->mm.n && pr->vm->mm.v[i].start <= addr && pr->vm->mm.v[i].shared;
	if (shared) {
		const struct vma *v = &pr->vm->mm.v[i];
		*off = v->mf_off + (addr - v->start);
		*file = v->host ? (uintptr_t)(v->host->ino << 1 | 1) : 0;
		if (v->host)
			*off ^= v->host->dev << 48;
	}
	pthread_mutex_unlock(&pr->vm->lock);
	return shared;
}

/* mm_pin() with pr->vm->lock held and no access check (the sentry's own writes, e.g. file contents). */
int mm_pin_locked(struct process *pr, uint64_t addr, size_t len, struct mm_pin *pin)
{
	return pin_range(pr, addr, len, 0, pin);
}

int mm_pin(struct process *pr, uint64_t addr, size_t len, unsigned access, struct mm_pin *pin)
{
	pthread_mutex_lock(&pr->vm->lock);
	int ret = pin_range(pr, addr, len, access, pin);
	pthread_mutex_unlock(&pr->vm->lock);
	return ret;
}

static int pin_range(struct process *pr, uint64_t addr, size_t len, unsigned access, struct mm_pin *pin)
{
	uint64_t end;
	if (len == 0 || __builtin_add_overflow(addr, len, &end) || end > pr->s->caps.max_user_addr)
		return -EFAULT;
	if (mm_populate_locked(pr, addr & ~(PAGE - 1), PAGE_UP(end)) < 0)
		return -EFAULT;
	/* The sentry writes through the pin: the pages must be the process's own first. */
	bool writes = access == 0 || (access & CV_ACCESS_WRITE);
	if (writes && mm_unshare(pr, addr & ~(PAGE - 1), PAGE_UP(end), PAGE, false) < 0)
		return -EFAULT;
	size_t i = vma_find(&pr->vm->mm, addr);
	if (i == pr->vm->mm.n || pr->vm->mm.v[i].start > addr || end > pr->vm->mm.v[i].end ||
	    (pr->vm->mm.v[i].access & access) != access)
		return -EFAULT;
	const struct vma *v = &pr->vm->mm.v[i];
	if (v->host || v->lazy)
		return -EFAULT; /* a host file: the copy path reads and writes it (lazy: inaccessible) */
	uint64_t off = v->mf_off + (addr - v->start);
	void *p;
	*pin = (struct mm_pin){ .off = off & ~(PAGE - 1), .start = addr, .end = end, .writes = writes };
	pin->len = PAGE_UP(off + len) - pin->off;
	if (cv_memfile_ptr(pr->s->mf, off, len, &p) < 0 || cv_memfile_incref(pr->s->mf, pin->off, pin->len) < 0)
		return -EFAULT;
	pin->ptr = p;
	pin->next = pr->vm->mm.pins;
	pr->vm->mm.pins = pin;
	return 0;
}

void mm_unpin(struct process *pr, struct mm_pin *pin)
{
	pthread_mutex_lock(&pr->vm->lock);
	for (struct mm_pin **pp = &pr->vm->mm.pins; *pp; pp = &(*pp)->next)
		if (*pp == pin) {
			*pp = pin->next;
			break;
		}
	pthread_mutex_unlock(&pr->vm->lock);
	cv_memfile_decref(pr->s->mf, pin->off, pin->len);
}

int mm_peek(struct process *pr, uint64_t addr, void *dst, size_t len)
{
	uint8_t *d = dst;
	uint64_t end;
	if (__builtin_add_overflow(addr, len, &end))
		return -EFAULT;
	memset(dst, 0, len);
	for (size_t i = vma_find(&pr->vm->mm, addr); i < pr->vm->mm.n && pr->vm->mm.v[i].start < end; i++) {
		const struct vma *v = &pr->vm->mm.v[i];
		uint64_t a = v->start > addr ? v->start : addr, b = v->end < end ? v->end : end;
		uint64_t off = v->mf_off + (a - v->start);
		void *p;
		if (v->lazy)
			continue; /* untouched: zeros */
		if (v->host ? pread(v->host->fd, d + (a - addr), b - a, (off_t)off) < 0
			    : cv_memfile_ptr(pr->s->mf, off, b - a, &p) < 0)
			return -EFAULT;
		if (!v->host)
			memcpy(d + (a - addr), p, b - a);
	}
	return 0;
}

int mm_poke(struct process *pr, uint64_t addr, const void *src, size_t len)
{
	const uint8_t *s = src;
	uint64_t end;
	/* (the vDSO's data page refuses a debugger's writes, as Linux's does) */
	if (__builtin_add_overflow(addr, len, &end) || vdso_refuses(&pr->vm->mm, addr, end, CV_ACCESS_WRITE) ||
	    end > pr->s->caps.max_user_addr || mm_populate_locked(pr, addr & ~(PAGE - 1), PAGE_UP(end)) < 0 ||
	    mm_unshare(pr, addr & ~(PAGE - 1), PAGE_UP(end), PAGE, false) < 0)
		return -EFAULT;
	while (len) {
		size_t i = vma_find(&pr->vm->mm, addr);
		if (i == pr->vm->mm.n || pr->vm->mm.v[i].start > addr)
			return -EFAULT;
		const struct vma *v = &pr->vm->mm.v[i];
		size_t n = v->end - addr < len ? (size_t)(v->end - addr) : len;
		void *p;
		uint64_t off = v->mf_off + (addr - v->start);
		if (v->host || v->lazy || cv_memfile_ptr(pr->s->mf, off, n, &p) < 0)
			return -EFAULT;
		/* Into the file, not through the sentry's mapping of it: an image's pages are fresh, and the
		 * sentry's first touch of each would fault (~35 us on a VM; the write costs ~1). */
		if (pwrite(cv_memfile_fd(pr->s->mf), s, n, (off_t)off) != (ssize_t)n)
			memcpy(p, s, n);
		s += n;
		addr += n;
		len -= n;
	}
	return 0;
}

long mm_strncpy_in(struct process *pr, uint64_t addr, char *dst, size_t max)
{
	long known;
	if (strcache_get(pr, addr, dst, max, &known))
		return known;
	size_t got = 0;
	while (got < max) {
		/* Never past the end of a page, so that a string ending near a boundary never faults; the
		 * first read short (most paths are), the next ones to the end of the page. */
		size_t chunk = PAGE - ((addr + got) & (PAGE - 1));
		if (got == 0 && chunk > 256)
			chunk = 256;
		if (chunk > max - got)
			chunk = max - got;
		if (mm_copy_in(pr, addr + got, dst + got, chunk) < 0)
			return -EFAULT;
		void *nul = memchr(dst + got, 0, chunk);
		if (nul) {
			strcache_put(pr, addr, dst, (size_t)((char *)nul - dst));
			return (char *)nul - dst;
		}
		got += chunk;
	}
	return -ENAMETOOLONG;
}
