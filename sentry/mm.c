// SPDX-License-Identifier: Apache-2.0
// The sentry's memory manager: VMAs over the memory file, mapped eagerly into the address space.
//
// Every byte of application memory lives in the memory file: anonymous memory directly, private file
// mappings as copies made at mmap time. Each mapping is also installed in the address space at once,
// so valid accesses never fault; a fault therefore always means a real SIGSEGV.
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "sentry.h"

#define PAGE 4096ull
#define PAGE_UP(x) (((x) + PAGE - 1) & ~(PAGE - 1))

static int reserve(struct mm *mm, size_t extra)
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

/* Index of the first VMA ending above addr. */
static size_t first_after(const struct mm *mm, uint64_t addr)
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

/* Split the VMA containing addr (if any, and not at its start) so that a VMA starts at addr. */
static int split_at(struct mm *mm, uint64_t addr)
{
	size_t i = first_after(mm, addr);
	if (i == mm->n || mm->v[i].start >= addr)
		return 0;
	if (reserve(mm, 1) < 0)
		return -ENOMEM;
	struct vma tail = mm->v[i];
	tail.mf_off += addr - tail.start;
	tail.start = addr;
	mm->v[i].end = addr;
	memmove(&mm->v[i + 2], &mm->v[i + 1], (mm->n - i - 1) * sizeof(struct vma));
	mm->v[i + 1] = tail;
	mm->n++;
	return 0;
}

/* Forget [start, end): memory-file pages are released; the address space is not touched. */
static int remove_range(struct process *pr, uint64_t start, uint64_t end)
{
	struct mm *mm = &pr->mm;
	if (split_at(mm, start) < 0 || split_at(mm, end) < 0)
		return -ENOMEM;
	size_t i = first_after(mm, start), j = i;
	while (j < mm->n && mm->v[j].end <= end) {
		cv_memfile_decref(pr->s->mf, mm->v[j].mf_off, mm->v[j].end - mm->v[j].start);
		j++;
	}
	memmove(&mm->v[i], &mm->v[j], (mm->n - j) * sizeof(struct vma));
	mm->n -= j - i;
	return 0;
}

static bool range_free(const struct mm *mm, uint64_t start, uint64_t end)
{
	size_t i = first_after(mm, start);
	return i == mm->n || mm->v[i].start >= end;
}

/* Highest free gap of len bytes below mm->mmap_base. */
static uint64_t find_gap(const struct process *pr, uint64_t len)
{
	const struct mm *mm = &pr->mm;
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

/* Install memory-file pages [off, off+len) (one reference, ours now) as a VMA at addr or a free gap. */
static int map_pages(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		     bool cow, uint64_t off, uint64_t *out)
{
	struct mm *mm = &pr->mm;
	uint64_t end;
	int ret;
	if (!fixed && (!addr || __builtin_add_overflow(addr, len, &end) || end > pr->s->caps.max_user_addr ||
		       addr < pr->s->caps.min_user_addr || !range_free(mm, addr, end)))
		addr = find_gap(pr, len);
	if (!addr || __builtin_add_overflow(addr, len, &end) || end > pr->s->caps.max_user_addr ||
	    addr < pr->s->caps.min_user_addr) {
		cv_memfile_decref(pr->s->mf, off, len);
		return -ENOMEM;
	}
	if (reserve(mm, 3) < 0 || remove_range(pr, addr, end) < 0) {
		cv_memfile_decref(pr->s->mf, off, len);
		return -ENOMEM;
	}
	ret = cv_as_map(pr->as, addr, cv_memfile_fd(pr->s->mf), off, len, access, false);
	if (ret < 0) {
		cv_memfile_decref(pr->s->mf, off, len);
		return ret == -ENOMEM ? -ENOMEM : -EFAULT;
	}
	size_t i = first_after(mm, addr);
	memmove(&mm->v[i + 1], &mm->v[i], (mm->n - i) * sizeof(struct vma));
	mm->v[i] = (struct vma){ addr, end, off, access, shared, cow };
	mm->n++;
	*out = addr;
	return 0;
}

int mm_map_anon(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, bool shared,
		uint64_t *out)
{
	len = PAGE_UP(len);
	if (len == 0 || (addr & (PAGE - 1)))
		return -EINVAL;
	uint64_t off;
	if (cv_memfile_alloc(pr->s->mf, len, 0, &off) < 0)
		return -ENOMEM;
	return map_pages(pr, addr, len, access, fixed, shared, false, off, out);
}

int mm_map_file_ro(struct process *pr, uint64_t addr, uint64_t len, unsigned access, bool fixed, int fd,
		   uint64_t foff, uint64_t *out)
{
	len = PAGE_UP(len);
	if (len == 0 || (addr & (PAGE - 1)) || (access & CV_ACCESS_WRITE))
		return -EINVAL;
	uint64_t off;
	int ret = fc_get(pr->s, fd, foff, len, &off);
	if (ret < 0)
		return ret;
	return map_pages(pr, addr, len, access, fixed, false, true, off, out);
}

/* Give VMA @v its own copy of its pages before it becomes writable. */
static int break_cow(struct process *pr, struct vma *v)
{
	uint64_t len = v->end - v->start, off;
	void *src, *dst;
	if (cv_memfile_alloc(pr->s->mf, len, 0, &off) < 0)
		return -ENOMEM;
	if (cv_memfile_ptr(pr->s->mf, v->mf_off, len, &src) < 0 || cv_memfile_ptr(pr->s->mf, off, len, &dst) < 0) {
		cv_memfile_decref(pr->s->mf, off, len);
		return -ENOMEM;
	}
	memcpy(dst, src, len);
	cv_memfile_decref(pr->s->mf, v->mf_off, len);
	v->mf_off = off;
	v->cow = false;
	return 0;
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
	int ret = cv_as_unmap(pr->as, addr, end - addr);
	if (ret < 0)
		return ret == -EINVAL ? -EINVAL : -ENOMEM;
	return remove_range(pr, addr, end);
}

int mm_own_page(struct process *pr, uint64_t addr)
{
	struct mm *mm = &pr->mm;
	uint64_t page = addr & ~(PAGE - 1);
	pthread_mutex_lock(&pr->lock);
	size_t i = first_after(mm, page);
	int ret = 0;
	if (i < mm->n && mm->v[i].start <= page && mm->v[i].cow) {
		ret = split_at(mm, page) < 0 || split_at(mm, page + PAGE) < 0 ? -ENOMEM : 0;
		i = first_after(mm, page);
		struct vma *v = &mm->v[i];
		if (ret == 0 && (ret = break_cow(pr, v)) == 0)
			ret = cv_as_map(pr->as, v->start, cv_memfile_fd(pr->s->mf), v->mf_off, PAGE, v->access, false);
	}
	pthread_mutex_unlock(&pr->lock);
	return ret;
}

int mm_protect(struct process *pr, uint64_t addr, uint64_t len, unsigned access)
{
	struct mm *mm = &pr->mm;
	uint64_t end;
	len = PAGE_UP(len);
	if ((addr & (PAGE - 1)) || __builtin_add_overflow(addr, len, &end))
		return -EINVAL;
	if (len == 0)
		return 0;
	/* Linux fails with ENOMEM if any part of the range is unmapped. */
	uint64_t cur = addr;
	for (size_t i = first_after(mm, addr); i < mm->n && cur < end; i++) {
		if (mm->v[i].start > cur)
			return -ENOMEM;
		cur = mm->v[i].end;
	}
	if (cur < end)
		return -ENOMEM;
	if (split_at(mm, addr) < 0 || split_at(mm, end) < 0)
		return -ENOMEM;
	for (size_t i = first_after(mm, addr); i < mm->n && mm->v[i].start < end; i++) {
		struct vma *v = &mm->v[i];
		if (v->cow && (access & CV_ACCESS_WRITE) && break_cow(pr, v) < 0)
			return -ENOMEM;
		int ret = cv_as_map(pr->as, v->start, cv_memfile_fd(pr->s->mf), v->mf_off, v->end - v->start, access,
				    false);
		if (ret < 0)
			return -ENOMEM;
		v->access = access;
	}
	return 0;
}

uint64_t mm_brk(struct process *pr, uint64_t want)
{
	struct mm *mm = &pr->mm;
	if (want < mm->brk_start)
		return mm->brk;
	uint64_t old_top = PAGE_UP(mm->brk), new_top = PAGE_UP(want);
	if (new_top > old_top) {
		uint64_t got;
		if (!range_free(mm, old_top, new_top) ||
		    mm_map_anon(pr, old_top, new_top - old_top, CV_ACCESS_READ | CV_ACCESS_WRITE, true, false, &got) < 0)
			return mm->brk;
	} else if (new_top < old_top) {
		mm_unmap(pr, new_top, old_top - new_top);
	}
	mm->brk = want;
	return mm->brk;
}

void mm_destroy(struct process *pr)
{
	for (size_t i = 0; i < pr->mm.n; i++)
		cv_memfile_decref(pr->s->mf, pr->mm.v[i].mf_off, pr->mm.v[i].end - pr->mm.v[i].start);
	free(pr->mm.v);
	memset(&pr->mm, 0, sizeof(pr->mm));
}

int mm_copy_in(struct process *pr, uint64_t addr, void *dst, size_t len)
{
	if (len == 0)
		return 0;
	return cv_as_copy_in(pr->as, addr, dst, len) == (long)len ? 0 : -EFAULT;
}

int mm_copy_out(struct process *pr, uint64_t addr, const void *src, size_t len)
{
	if (len == 0)
		return 0;
	return cv_as_copy_out(pr->as, addr, src, len) == (long)len ? 0 : -EFAULT;
}

static int pin_range(struct process *pr, uint64_t addr, size_t len, unsigned access, struct mm_pin *pin);

bool mm_shared_offset(struct process *pr, uint64_t addr, uint64_t *off)
{
	pthread_mutex_lock(&pr->lock);
	size_t i = first_after(&pr->mm, addr);
	bool shared = i < pr->mm.n && pr->mm.v[i].start <= addr && pr->mm.v[i].shared;
	if (shared)
		*off = pr->mm.v[i].mf_off + (addr - pr->mm.v[i].start);
	pthread_mutex_unlock(&pr->lock);
	return shared;
}

/* mm_pin() with pr->lock held and no access check (the sentry's own writes, e.g. file contents). */
int mm_pin_locked(struct process *pr, uint64_t addr, size_t len, struct mm_pin *pin)
{
	return pin_range(pr, addr, len, 0, pin);
}

int mm_pin(struct process *pr, uint64_t addr, size_t len, unsigned access, struct mm_pin *pin)
{
	pthread_mutex_lock(&pr->lock);
	int ret = pin_range(pr, addr, len, access, pin);
	pthread_mutex_unlock(&pr->lock);
	return ret;
}

static int pin_range(struct process *pr, uint64_t addr, size_t len, unsigned access, struct mm_pin *pin)
{
	uint64_t end;
	if (len == 0 || __builtin_add_overflow(addr, len, &end))
		return -EFAULT;
	size_t i = first_after(&pr->mm, addr);
	int ret = -EFAULT;
	if (i < pr->mm.n && pr->mm.v[i].start <= addr && end <= pr->mm.v[i].end &&
	    (pr->mm.v[i].access & access) == access) {
		const struct vma *v = &pr->mm.v[i];
		uint64_t off = v->mf_off + (addr - v->start);
		pin->off = off & ~(uint64_t)(PAGE - 1);
		pin->len = ((off + len + PAGE - 1) & ~(uint64_t)(PAGE - 1)) - pin->off;
		void *p;
		if (cv_memfile_incref(pr->s->mf, pin->off, pin->len) == 0) {
			if (cv_memfile_ptr(pr->s->mf, off, len, &p) == 0) {
				pin->ptr = p;
				ret = 0;
			} else {
				cv_memfile_decref(pr->s->mf, pin->off, pin->len);
			}
		}
	}
	return ret;
}

void mm_unpin(struct process *pr, struct mm_pin *pin)
{
	cv_memfile_decref(pr->s->mf, pin->off, pin->len);
}

int mm_poke(struct process *pr, uint64_t addr, const void *src, size_t len)
{
	const uint8_t *s = src;
	while (len) {
		size_t i = first_after(&pr->mm, addr);
		if (i == pr->mm.n || pr->mm.v[i].start > addr)
			return -EFAULT;
		const struct vma *v = &pr->mm.v[i];
		size_t n = v->end - addr < len ? (size_t)(v->end - addr) : len;
		void *p;
		if (cv_memfile_ptr(pr->s->mf, v->mf_off + (addr - v->start), n, &p) < 0)
			return -EFAULT;
		memcpy(p, s, n);
		s += n;
		addr += n;
		len -= n;
	}
	return 0;
}

long mm_strncpy_in(struct process *pr, uint64_t addr, char *dst, size_t max)
{
	size_t got = 0;
	while (got < max) {
		/* Read up to the end of the page so we never fault on a string ending near a boundary. */
		size_t chunk = PAGE - ((addr + got) & (PAGE - 1));
		if (chunk > max - got)
			chunk = max - got;
		if (mm_copy_in(pr, addr + got, dst + got, chunk) < 0)
			return -EFAULT;
		void *nul = memchr(dst + got, 0, chunk);
		if (nul)
			return (char *)nul - dst;
		got += chunk;
	}
	return -ENAMETOOLONG;
}
