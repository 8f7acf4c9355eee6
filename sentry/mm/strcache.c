// SPDX-License-Identifier: Apache-2.0
// Strings from read-only file mappings, remembered. A path the application passes out of its own
// read-only data lies in a private mapping of the host file itself (mm_map_file_ro), and reading it
// costs a pread of that file (~1.5 us on this VM) at every call: glibc's fstat(fd) is
// newfstatat(fd, "", AT_EMPTY_PATH) with that "" in libc's .rodata, and its built-in paths
// (/etc/localtime, /dev/urandom...) are there too. The last few such strings of each memory are kept
// by address and given again while
// - the same range of the same file still backs the address, privately and never written (a write
//   copies the page into the memory file, munmap or a new mapping replaces the VMA, mprotect can take
//   the read access away: every use checks the VMA table),
// - the sandbox cannot change the file at all (sealed(): no read-write mount of the policy is on its
//   file system), and
// - less than STRC_TTL_NS have passed since it was read: the host's own changes to a file it shows
//   read-only are seen within that bound, as spcache.c's directory paths are.
#include <errno.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include "mm_internal.h"

#define STRC_TTL_NS 1000000000ULL

static uint64_t coarse_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec + 1; /* never 0 (empty) */
}

/* Can the sandbox change the file behind @h? Only through a read-write mount of the policy on the
 * file's file system; a container's single-file binds are the kernel's (not in the policy), so there
 * the file's own mount must be read-only as well. Asked once per host mapping. */
static bool sealed(const struct sentry *s, struct hostmap *h)
{
	int8_t v = __atomic_load_n(&h->sealed, __ATOMIC_RELAXED);
	if (v < 0) {
		struct statvfs sv;
		v = !s->opts.oci || (fstatvfs(h->fd, &sv) == 0 && (sv.f_flag & ST_RDONLY));
		for (int i = 0; v && i < s->pol.n; i++)
			if (s->pol.m[i].rw && s->pol.m[i].dev == h->dev)
				v = 0;
		__atomic_store_n(&h->sealed, v, __ATOMIC_RELAXED);
	}
	return v == 1;
}

/* The VMA privately mapping a host file over [addr, addr+len), readable; NULL if none. */
static const struct vma *file_vma(const struct mm *mm, uint64_t addr, size_t len)
{
	size_t i = vma_find(mm, addr);
	if (i == mm->n)
		return NULL;
	const struct vma *v = &mm->v[i];
	if (v->start > addr || v->end - addr < len || !v->host || !v->cow || !(v->access & CV_ACCESS_READ))
		return NULL;
	return v;
}

bool strcache_get(struct process *pr, uint64_t addr, char *dst, size_t max, long *ret)
{
	struct vm *vm = pr->vm;
	bool hit = false;
	pthread_mutex_lock(&vm->lock);
	for (int i = 0; i < STRC_SLOTS; i++) {
		struct strc_ent *e = &vm->strc[i];
		if (!e->when || e->addr != addr)
			continue;
		const struct vma *v = file_vma(&vm->mm, addr, (size_t)e->len + 1);
		if (v && v->host->dev == e->dev && v->host->ino == e->ino && v->mf_off + (addr - v->start) == e->foff &&
		    coarse_ns() - e->when < STRC_TTL_NS) {
			hit = true;
			if (e->len < max) {
				memcpy(dst, e->s, (size_t)e->len + 1);
				*ret = e->len;
			} else { /* as mm_strncpy_in: @max bytes, no end */
				memcpy(dst, e->s, max);
				*ret = -ENAMETOOLONG;
			}
		} else {
			e->when = 0;
		}
		break;
	}
	pthread_mutex_unlock(&vm->lock);
	return hit;
}

void strcache_put(struct process *pr, uint64_t addr, const char *str, size_t len)
{
	struct vm *vm = pr->vm;
	if (len >= sizeof(vm->strc[0].s))
		return;
	pthread_mutex_lock(&vm->lock);
	const struct vma *v = file_vma(&vm->mm, addr, len + 1);
	if (v && sealed(pr->s, v->host)) {
		struct strc_ent *e = &vm->strc[vm->strc_next++ % STRC_SLOTS];
		for (int i = 0; i < STRC_SLOTS; i++) /* one entry per address */
			if (vm->strc[i].addr == addr)
				e = &vm->strc[i];
		*e = (struct strc_ent){ .addr = addr, .foff = v->mf_off + (addr - v->start), .dev = v->host->dev,
					.ino = v->host->ino, .when = coarse_ns(), .len = (uint8_t)len };
		memcpy(e->s, str, len + 1);
	}
	pthread_mutex_unlock(&vm->lock);
}
