// SPDX-License-Identifier: Apache-2.0
// The vDSO's mappings in an address space: its data page ("[vvar]") and, right above it, its image
// ("[vdso]"), both memory-file pages the sentry holds (vdso/vclock.c), never a host or sentry page.
//
// Placed at exec at a random page in the 128 MiB below the stack's largest extent (Linux randomizes it
// near the stack too); fork keeps it where it is, exec maps it afresh. The image is private
// copy-on-write, like a file's text: a debugger's breakpoint (or mprotect and a write) gives the
// process its own copy. The data page is private too, but Linux never lets it be writable or
// executable (mprotect says EACCES), nor does the sentry. munmap and mremap treat both as any other
// mapping: a program that unmaps the vDSO and then calls into it faults, as on Linux.
#include <errno.h>
#include <sys/random.h>
#include "mm_internal.h"

#define VVAR_PAGE_LEN PAGE          /* the data page (vdso/vvar.h) */
#define VDSO_WINDOW (128ull << 20)  /* the random range's size */
#define VDSO_BELOW_TOP (272ull << 20) /* its top: below the stack's top gap (16 pages) and largest size */

static uint64_t pick_address(const struct process *pr, uint64_t len)
{
	uint64_t top = (pr->s->caps.max_user_addr & ~(PAGE - 1)) - VDSO_BELOW_TOP, r = 0;
	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != sizeof(r))
		r = 0;
	return top - len - (r % (VDSO_WINDOW / PAGE)) * PAGE;
}

int vdso_map(struct process *pr, uint64_t *ehdr)
{
	uint64_t vvar_off, img_off, img_len, addr, got;
	vdso_pages(pr->s, &vvar_off, &img_off, &img_len);
	/* A few tries: a fixed-address executable may sit in the window */
	int tries = 0;
	do
		addr = pick_address(pr, VVAR_PAGE_LEN + img_len);
	while (!mm_range_free(&pr->vm->mm, addr, addr + VVAR_PAGE_LEN + img_len) && ++tries < 16);
	if (tries == 16)
		return -ENOMEM;
	/* One reference each for the new VMAs (mm_map_pages takes it, or drops it on failure) */
	if (cv_memfile_incref(pr->s->mf, vvar_off, VVAR_PAGE_LEN) < 0)
		return -ENOMEM;
	int ret = mm_map_pages(pr, addr, VVAR_PAGE_LEN, CV_ACCESS_READ, true, false, true, vvar_off, &got);
	if (ret < 0)
		return ret;
	if (cv_memfile_incref(pr->s->mf, img_off, img_len) < 0)
		return -ENOMEM;
	ret = mm_map_pages(pr, addr + VVAR_PAGE_LEN, img_len, CV_ACCESS_READ | CV_ACCESS_EXEC, true, false, true,
			   img_off, &got);
	if (ret < 0)
		return ret;
	size_t i = vma_find(&pr->vm->mm, addr);
	pr->vm->mm.v[i].special = VMA_VVAR;
	pr->vm->mm.v[i].file = true; /* MADV_DONTNEED keeps what it holds */
	pr->vm->mm.v[i + 1].special = VMA_VDSO;
	pr->vm->mm.v[i + 1].file = true;
	*ehdr = addr + VVAR_PAGE_LEN;
	return 0;
}

bool vdso_refuses(const struct mm *mm, uint64_t addr, uint64_t end, unsigned access)
{
	if (!(access & (CV_ACCESS_WRITE | CV_ACCESS_EXEC)))
		return false;
	for (size_t i = vma_find(mm, addr); i < mm->n && mm->v[i].start < end; i++)
		if (mm->v[i].special == VMA_VVAR)
			return true;
	return false;
}

const char *vdso_vma_name(const struct vma *v)
{
	return v->special == VMA_VDSO ? "[vdso]" : v->special == VMA_VVAR ? "[vvar]" : NULL;
}
