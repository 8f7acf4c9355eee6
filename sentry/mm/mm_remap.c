// SPDX-License-Identifier: Apache-2.0
// mremap(2) and madvise(2).
//
// Moving memory never copies it: the VMAs keep their memory-file pages and are installed at the new
// address. Growing in place adds fresh pages after the old ones when the addresses are free.
#include <errno.h>
#include <fcntl.h>
#include <linux/mman.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include "mm_internal.h"

/* Do the VMAs over [start, end) form one mapping, as Linux requires of mremap (no holes, one kind)? */
static bool one_mapping(const struct mm *mm, uint64_t start, uint64_t end)
{
	size_t i = vma_find(mm, start);
	if (i == mm->n || mm->v[i].start > start)
		return false;
	const struct vma *first = &mm->v[i];
	for (uint64_t cur = start; cur < end; i++) {
		if (i == mm->n || mm->v[i].start > cur || mm->v[i].access != first->access || /* (a hole) */
		    mm->v[i].shared != first->shared || mm->v[i].host != first->host)
			return false;
		cur = mm->v[i].end;
	}
	return true;
}

/* More of mapping @like at [addr, addr+len), a free range: fresh zeroed pages, or for a host file
 * mapping the file's next pages (@addr continues @like from @like_start on). */
static int map_fresh(struct process *pr, uint64_t addr, uint64_t len, const struct vma *like, uint64_t like_start)
{
	uint64_t off, got;
	int ret;
	if (like->host) {
		__atomic_add_fetch(&like->host->refs, 1, __ATOMIC_RELAXED);
		ret = mm_map_backing(pr, addr, len, like->access, true, like->shared, like->cow, like->host,
				     like->mf_off + (addr - like_start), &got);
		if (ret == 0 && like->file)
			mm_set_file(pr, addr);
		return ret;
	}
	if (like->shared) {
		if (vm_alloc_pages(pr->s, len, &off) < 0)
			return -ENOMEM;
		ret = mm_map_pages(pr, addr, len, like->access, true, true, false, off, &got);
	} else { /* private: populated on demand */
		ret = mm_map_anon(pr, addr, len, like->access, true, false, &got);
	}
	if (ret == 0) {
		size_t i = vma_find(&pr->vm->mm, addr);
		pr->vm->mm.v[i].fork = like->fork;
		vma_merge(&pr->vm->mm, i);
	}
	return ret;
}

/* Move the VMAs of [old, old+len) (one mapping, split at both ends) to the free range at @dest. With
 * @keep (MREMAP_DONTUNMAP) the old range stays mapped: to the same pages if shared, else to zeroes. */
static int move_vmas(struct process *pr, uint64_t old, uint64_t len, uint64_t dest, bool keep)
{
	struct mm *mm = &pr->vm->mm;
	size_t i = vma_find(mm, old), j = vma_find(mm, old + len), k = j - i;
	struct vma *moved = malloc(k * sizeof(*moved));
	if (!moved || vma_reserve(mm, k + 2) < 0) {
		free(moved);
		return -ENOMEM;
	}
	memcpy(moved, &mm->v[i], k * sizeof(*moved));
	if (keep) {
		for (size_t n = i; n < j; n++) {
			struct vma *v = &mm->v[n];
			uint64_t vlen = v->end - v->start;
			if (v->shared && vma_ref(pr, v) < 0) {
				free(moved);
				return -ENOMEM;
			}
			if (!v->shared) { /* zeroes on demand now; the pages (and any host file reference) moved */
				v->cow = false;
				v->host = NULL;
				v->file = false;
				v->lazy = true;
				v->bus = false;
				if (as_unmap(pr, v->start, vlen) < 0) {
					free(moved);
					return -ENOMEM;
				}
			}
			if (vma_install(pr, v) < 0) {
				free(moved);
				return -ENOMEM;
			}
		}
	} else {
		memmove(&mm->v[i], &mm->v[j], (mm->n - j) * sizeof(struct vma));
		mm->n -= k;
		as_unmap(pr, old, len);
	}
	size_t at = vma_find(mm, dest);
	memmove(&mm->v[at + k], &mm->v[at], (mm->n - at) * sizeof(struct vma));
	mm->n += k;
	int ret = 0;
	for (size_t n = 0; n < k; n++) {
		moved[n].start += dest - old;
		moved[n].end += dest - old;
		mm->v[at + n] = moved[n];
		if (ret == 0)
			ret = vma_install(pr, &moved[n]);
	}
	free(moved);
	return ret;
}

long mm_remap(struct process *pr, uint64_t old, uint64_t old_len, uint64_t new_len, uint64_t flags,
	      uint64_t new_addr)
{
	struct mm *mm = &pr->vm->mm;
	const struct cv_platform_caps *caps = &pr->s->caps;
	bool may_move = flags & MREMAP_MAYMOVE, fixed = flags & MREMAP_FIXED, keep = flags & MREMAP_DONTUNMAP;
	uint64_t old_end, new_end;
	if ((flags & ~(uint64_t)(MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP)) || (old & (PAGE - 1)) ||
	    ((fixed || keep) && !may_move) || old_len > caps->max_user_addr || new_len > caps->max_user_addr)
		return -EINVAL;
	old_len = PAGE_UP(old_len);
	new_len = PAGE_UP(new_len);
	if (new_len == 0 || (keep && old_len != new_len) || __builtin_add_overflow(old, old_len, &old_end))
		return -EINVAL;
	if (fixed) {
		if ((new_addr & (PAGE - 1)) || __builtin_add_overflow(new_addr, new_len, &new_end) ||
		    new_addr < caps->min_user_addr || new_end > caps->max_user_addr ||
		    (new_addr < old_end && old < new_end))
			return -EINVAL;
	}
	if (new_len > old_len && !mm_as_allows(pr, 0, new_len - old_len))
		return -ENOMEM; /* RLIMIT_AS */
	if (old_len == 0) {
		/* A second mapping of the same shared pages (Linux allows it for shared memory only). */
		size_t i = vma_find(mm, old);
		if (!may_move || i == mm->n || mm->v[i].start > old || !mm->v[i].shared)
			return -EINVAL;
		if (new_len > mm->v[i].end - old)
			return -EFAULT;
		struct vma dup = mm->v[i];
		dup.mf_off += old - dup.start;
		dup.start = old;
		dup.end = old + new_len;
		uint64_t got;
		if (fixed && mm_unmap(pr, new_addr, new_len) < 0)
			return -ENOMEM;
		if (vma_ref(pr, &dup) < 0)
			return -ENOMEM;
		int ret = mm_map_backing(pr, fixed ? new_addr : 0, new_len, dup.access, fixed, true, false, dup.host,
					 dup.mf_off, &got);
		return ret < 0 ? ret : (long)got;
	}
	if (old_end > caps->max_user_addr || !one_mapping(mm, old, old_end))
		return -EFAULT;
	struct vma like = mm->v[vma_find(mm, old)];
	uint64_t like_start = like.start;
	if (!fixed && !keep && new_len <= old_len) {
		if (new_len < old_len && mm_unmap(pr, old + new_len, old_len - new_len) < 0)
			return -ENOMEM;
		return (long)old;
	}
	uint64_t dest;
	if (fixed) {
		if (mm_unmap(pr, new_addr, new_len) < 0)
			return -ENOMEM;
		dest = new_addr;
	} else {
		/* Grow in place when the addresses after it are free. */
		if (!keep && !__builtin_add_overflow(old, new_len, &new_end) && new_end <= caps->max_user_addr &&
		    mm_range_free(mm, old_end, new_end))
			return map_fresh(pr, old_end, new_end - old_end, &like, like_start) < 0 ? -ENOMEM : (long)old;
		if (!may_move || !(dest = mm_find_gap(pr, new_len)))
			return -ENOMEM;
	}
	uint64_t move = old_len < new_len ? old_len : new_len;
	if (vma_split_at(mm, old) < 0 || vma_split_at(mm, old + move) < 0 || move_vmas(pr, old, move, dest, keep) < 0)
		return -ENOMEM;
	if (new_len > old_len && map_fresh(pr, dest + old_len, new_len - old_len, &like, like_start - old + dest) < 0)
		return -ENOMEM;
	if (new_len < old_len && !keep)
		mm_unmap(pr, old + new_len, old_len - new_len);
	return (long)dest;
}

/* MADV_DONTNEED on the private VMA @v: its pages read as zero again (a file copy keeps its contents,
 * as Linux would read the file again). */
static int drop_pages(struct process *pr, struct vma *v)
{
	struct cv_memfile *mf = pr->s->mf;
	uint64_t len = v->end - v->start, off;
	if (v->shared || v->file || v->lazy)
		return 0;
	if (!v->cow && cv_memfile_max_refcount(mf, v->mf_off, len) == 1)
		return cv_memfile_decommit(mf, v->mf_off, len) < 0 ? -ENOMEM : 0;
	/* Shared with a forked process or held by a pin: fresh pages, the old ones stay theirs. */
	if (vm_alloc_pages(pr->s, len, &off) < 0)
		return -ENOMEM;
	cv_memfile_decref(mf, v->mf_off, len);
	v->mf_off = off;
	v->cow = false;
	return vma_install(pr, v);
}

int mm_advise(struct process *pr, uint64_t addr, uint64_t len, uint64_t advice)
{
	struct mm *mm = &pr->vm->mm;
	uint64_t end;
	if ((addr & (PAGE - 1)) || len > pr->s->caps.max_user_addr)
		return -EINVAL;
	len = PAGE_UP(len);
	if (__builtin_add_overflow(addr, len, &end))
		return -EINVAL;
	switch (advice) {
	case MADV_NORMAL: case MADV_RANDOM: case MADV_SEQUENTIAL: case MADV_WILLNEED: case MADV_MERGEABLE:
	case MADV_UNMERGEABLE: case MADV_HUGEPAGE: case MADV_NOHUGEPAGE: case MADV_DONTDUMP: case MADV_DODUMP:
	case MADV_COLD: case MADV_PAGEOUT: case MADV_POPULATE_READ: case MADV_COLLAPSE:
	case MADV_FREE: /* the pages may keep their contents until reused: keeping them is allowed */
	case MADV_DONTNEED: case MADV_DONTNEED_LOCKED: case MADV_REMOVE: case MADV_DONTFORK: case MADV_DOFORK:
	case MADV_WIPEONFORK: case MADV_KEEPONFORK: case MADV_POPULATE_WRITE:
		break;
	case MADV_HWPOISON: case MADV_SOFT_OFFLINE:
		return -EPERM;
	default:
		return -EINVAL;
	}
	if (len == 0)
		return 0;
	bool holes = !mm_range_mapped(mm, addr, end);
	/* Refusals first, so that a refused call changes nothing. */
	for (size_t i = vma_find(mm, addr); i < mm->n && mm->v[i].start < end; i++) {
		const struct vma *v = &mm->v[i];
		if (((advice == MADV_WIPEONFORK || advice == MADV_FREE) && (v->shared || v->file)) ||
		    (advice == MADV_REMOVE && !v->shared))
			return -EINVAL;
		if (advice == MADV_POPULATE_WRITE && !(v->access & CV_ACCESS_WRITE))
			return -EFAULT;
	}
	if ((advice == MADV_POPULATE_READ || advice == MADV_POPULATE_WRITE || advice == MADV_WILLNEED) &&
	    mm_populate_locked(pr, addr, end) < 0)
		return -ENOMEM;
	if (advice == MADV_POPULATE_WRITE)
		return mm_unshare(pr, addr, end, PAGE, true) < 0 ? -ENOMEM : holes ? -ENOMEM : 0;
	bool changes = advice == MADV_DONTNEED || advice == MADV_DONTNEED_LOCKED || advice == MADV_REMOVE ||
		       advice == MADV_DONTFORK || advice == MADV_DOFORK || advice == MADV_WIPEONFORK ||
		       advice == MADV_KEEPONFORK;
	if (!changes)
		return holes ? -ENOMEM : 0;
	if (vma_split_at(mm, addr) < 0 || vma_split_at(mm, end) < 0)
		return -ENOMEM;
	for (size_t i = vma_find(mm, addr); i < mm->n && mm->v[i].start < end; i++) {
		struct vma *v = &mm->v[i];
		int ret = 0;
		switch (advice) {
		case MADV_DONTNEED: case MADV_DONTNEED_LOCKED:
			ret = drop_pages(pr, v);
			break;
		case MADV_REMOVE: /* shared memory: the pages are gone for every process mapping them */
			if (v->host)
				ret = fallocate(v->host->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)v->mf_off,
						(off_t)(v->end - v->start)) < 0 ? -errno : 0;
			else
				ret = cv_memfile_decommit(pr->s->mf, v->mf_off, v->end - v->start) < 0 ? -ENOMEM : 0;
			break;
		case MADV_DONTFORK:
			v->fork = VMA_FORK_NONE;
			break;
		case MADV_WIPEONFORK:
			v->fork = VMA_FORK_WIPE;
			break;
		case MADV_DOFORK: /* undoes MADV_DONTFORK only */
			v->fork = v->fork == VMA_FORK_NONE ? VMA_FORK_COPY : v->fork;
			break;
		default: /* MADV_KEEPONFORK undoes MADV_WIPEONFORK only */
			v->fork = v->fork == VMA_FORK_WIPE ? VMA_FORK_COPY : v->fork;
			break;
		}
		if (ret < 0)
			return ret;
	}
	for (size_t i = vma_find(mm, addr); i < mm->n && mm->v[i].start < end; i++)
		i = vma_merge(mm, i);
	return holes ? -ENOMEM : 0;
}
