// SPDX-License-Identifier: Apache-2.0
// Address spaces, common layer: argument checks, the mapping table, and dispatch to the backend.
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/maptable.h"
#include "internal.h"

bool as_valid(const struct cv_as *as)
{
	return as && as->magic == CV_MAGIC_AS;
}

CV_API int cv_as_new(struct cv_platform *p, struct cv_as **out)
{
	if (!platform_valid(p) || !out)
		return -EINVAL;
	struct cv_as *as = calloc(1, sizeof(*as));
	if (!as)
		return -ENOMEM;
	as->p = p;
	pthread_mutex_init(&as->lock, NULL);
	as->magic = CV_MAGIC_AS;
	int ret = p->ops->as_new(as);
	if (ret < 0) {
		pthread_mutex_destroy(&as->lock);
		as->magic = CV_MAGIC_DEAD;
		free(as);
		return ret;
	}
	atomic_fetch_add(&p->n_as, 1);
	*out = as;
	return 0;
}

/* Common range checks of cv_as_map/cv_as_unmap. */
static int check_range(const struct cv_as *as, uint64_t addr, uint64_t len)
{
	uint64_t end;
	if (!page_aligned(addr) || !page_aligned(len) || len == 0)
		return -EINVAL;
	if (__builtin_add_overflow(addr, len, &end))
		return -EINVAL;
	if (addr < as->p->caps.min_user_addr || end > as->p->caps.max_user_addr)
		return -EINVAL;
	return 0;
}

/* What the checks below need to know of @fd: its status flags and its stat. 0, or -EBADF. */
static int fd_facts(int fd, int *fl, struct stat *st)
{
	if (fd < 0 || (*fl = fcntl(fd, F_GETFL)) < 0 || fstat(fd, st) < 0)
		return -EBADF;
	return 0;
}

/* Does a file with status flags @fl and stat @st allow a shared mapping with @access? Mirrors mmap's
 * checks so we fail before the stub does. Fills *@rdwr for the mapping table. */
static int check_facts(int fl, const struct stat *st, unsigned access, bool *rdwr)
{
	if ((fl & O_PATH) == O_PATH)
		return -EBADF;
	int acc = fl & O_ACCMODE;
	if (acc == O_WRONLY)
		return -EACCES;
	if ((access & CV_ACCESS_WRITE) && acc != O_RDWR)
		return -EACCES;
	if (S_ISDIR(st->st_mode) || S_ISFIFO(st->st_mode) || S_ISSOCK(st->st_mode))
		return -ENODEV;
	*rdwr = acc == O_RDWR;
	return 0;
}

/* Every check of cv_as_map() on its arguments but the file's. */
static int check_args(const struct cv_as *as, uint64_t addr, int fd, uint64_t offset, uint64_t len, unsigned access)
{
	int ret = check_range(as, addr, len);
	if (ret < 0)
		return ret;
	uint64_t oend;
	if (!page_aligned(offset) || __builtin_add_overflow(offset, len, &oend) || (int64_t)oend < 0)
		return -EINVAL;
	if (access & ~(CV_ACCESS_READ | CV_ACCESS_WRITE | CV_ACCESS_EXEC))
		return -EINVAL;
	return fd < 0 ? -EBADF : 0;
}

/* Every check of cv_as_map() but the address space's own; fills *@st and *@rdwr for the table. */
static int check_map(const struct cv_as *as, uint64_t addr, int fd, uint64_t offset, uint64_t len, unsigned access,
		     struct stat *st, bool *rdwr)
{
	int fl, ret = check_args(as, addr, fd, offset, len, access);
	if (ret == 0)
		ret = fd_facts(fd, &fl, st);
	return ret < 0 ? ret : check_facts(fl, st, access, rdwr);
}

/*
 * Does mapping [addr, addr+len) to @ref at @offset only change the protection of what is mapped there?
 * Then the backend changes just that where it can: the host keeps its page tables, so the application
 * does not fault every page in again (an exec'd program's RELRO mprotects, a fork's copy-on-write
 * write protection of the parent and its lifting). Caller holds as->lock.
 */
static bool protect_only(const struct cv_as *as, uint64_t addr, uint64_t len, uint64_t offset, unsigned access,
			 bool precommit, const struct as_fdref *ref, bool *maywrite)
{
	return as->p->ops->as_protect && !precommit &&
	       maptable_same_backing(as, addr, addr + len, offset, ref, maywrite) &&
	       (*maywrite || !(access & CV_ACCESS_WRITE));
}

CV_API int cv_as_map(struct cv_as *as, uint64_t addr, int fd, uint64_t offset, uint64_t len,
		     unsigned access, bool precommit)
{
	if (!as_valid(as))
		return -EINVAL;
	struct stat st;
	bool rdwr;
	int ret = check_map(as, addr, fd, offset, len, access, &st, &rdwr);
	if (ret < 0)
		return ret;
	if (atomic_load(&as->dead))
		return -CV_EASDEAD;

	struct as_fdref *ref;
	pthread_mutex_lock(&as->lock);
	ret = maptable_fdref_get(as, fd, &st, rdwr, &ref);
	if (ret == 0) {
		bool maywrite;
		if (protect_only(as, addr, len, offset, access, precommit, ref, &maywrite)) {
			ret = as->p->ops->as_protect(as, addr, len, access);
		} else {
			maywrite = rdwr;
			ret = as->p->ops->as_map(as, addr, fd, offset, len, access, precommit);
		}
		if (ret == 0)
			ret = maptable_insert(as, addr, addr + len, offset, access, maywrite, ref);
		maptable_fdref_put(as, ref);
	}
	pthread_mutex_unlock(&as->lock);
	return ret;
}

/* Does m[i] overlap an earlier entry of its chunk (which the table does not show yet)? */
static bool overlaps_earlier(const struct cv_as_mapping *m, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (m[k].addr < m[i].addr + m[i].len && m[i].addr < m[k].addr + m[k].len)
			return true;
	return false;
}

/* Up to AS_MAP_MANY_MAX mappings of cv_as_map_many(), checked: 0 or the first failure's error. */
static int map_chunk(struct cv_as *as, const struct cv_as_mapping *m, size_t n, size_t *done)
{
	bool rdwr[AS_MAP_MANY_MAX], prot[AS_MAP_MANY_MAX];
	struct as_fdref *ref[AS_MAP_MANY_MAX];
	/* A batch names few files many times over (a fork's or an exec's mappings are mostly the memory
	 * file's): each is looked at once per call, two host calls saved for each repeat. */
	struct { int fd, fl, err; struct stat st; } seen[AS_MAP_MANY_MAX];
	size_t ok = 0, made = 0, nseen = 0;
	int bad = 0, ret = 0;
	pthread_mutex_lock(&as->lock);
	for (; ok < n; ok++) { /* the valid prefix, with its file references */
		bad = check_args(as, m[ok].addr, m[ok].fd, m[ok].offset, m[ok].len, m[ok].access);
		size_t k = 0;
		while (bad == 0 && k < nseen && seen[k].fd != m[ok].fd)
			k++;
		if (bad == 0 && k == nseen) {
			seen[k].fd = m[ok].fd;
			seen[k].err = fd_facts(m[ok].fd, &seen[k].fl, &seen[k].st);
			nseen++;
		}
		if (bad == 0 && (bad = seen[k].err) == 0)
			bad = check_facts(seen[k].fl, &seen[k].st, m[ok].access, &rdwr[ok]);
		if (bad == 0)
			bad = maptable_fdref_get(as, m[ok].fd, &seen[k].st, rdwr[ok], &ref[ok]);
		if (bad < 0)
			break;
	}
	for (size_t i = 0; i < ok; i++) { /* (an earlier entry of the chunk is not in the table yet) */
		bool maywrite;
		prot[i] = !overlaps_earlier(m, i) &&
			  protect_only(as, m[i].addr, m[i].len, m[i].offset, m[i].access, m[i].precommit, ref[i], &maywrite);
		rdwr[i] = prot[i] ? maywrite : rdwr[i]; /* what the table records as maywrite */
	}
	if (ok > 0 && as->p->ops->as_map_many) {
		ret = as->p->ops->as_map_many(as, m, prot, ok, &made);
	} else {
		for (; made < ok && ret == 0; made += ret == 0)
			ret = prot[made] ? as->p->ops->as_protect(as, m[made].addr, m[made].len, m[made].access)
					 : as->p->ops->as_map(as, m[made].addr, m[made].fd, m[made].offset, m[made].len,
							      m[made].access, m[made].precommit);
	}
	for (size_t i = 0; i < ok; i++) {
		if (i < made && ret == 0)
			ret = maptable_insert(as, m[i].addr, m[i].addr + m[i].len, m[i].offset, m[i].access, rdwr[i],
					      ref[i]);
		else if (i < made)
			maptable_insert(as, m[i].addr, m[i].addr + m[i].len, m[i].offset, m[i].access, rdwr[i], ref[i]);
		maptable_fdref_put(as, ref[i]);
	}
	pthread_mutex_unlock(&as->lock);
	*done = made;
	return ret < 0 ? ret : bad;
}

CV_API int cv_as_map_many(struct cv_as *as, const struct cv_as_mapping *m, size_t n, size_t *done)
{
	if (done)
		*done = 0;
	if (!as_valid(as) || (n > 0 && !m))
		return -EINVAL;
	size_t total = 0;
	int ret = 0;
	while (total < n && ret == 0) {
		if (atomic_load(&as->dead)) {
			ret = -CV_EASDEAD;
			break;
		}
		size_t k = n - total < AS_MAP_MANY_MAX ? n - total : AS_MAP_MANY_MAX, made = 0;
		ret = map_chunk(as, m + total, k, &made);
		total += made;
	}
	if (done)
		*done = total;
	return ret;
}

CV_API int cv_as_unmap(struct cv_as *as, uint64_t addr, uint64_t len)
{
	if (!as_valid(as))
		return -EINVAL;
	int ret = check_range(as, addr, len);
	if (ret < 0)
		return ret;
	if (atomic_load(&as->dead))
		return -CV_EASDEAD;
	pthread_mutex_lock(&as->lock);
	ret = as->p->ops->as_unmap(as, addr, len);
	if (ret == 0)
		ret = maptable_remove(as, addr, addr + len);
	pthread_mutex_unlock(&as->lock);
	return ret;
}

struct as_fences {
	size_t n;
	struct {
		struct cv_memfile *mf;
		uint64_t fence;
	} f[];
};

void as_fences_down(struct as_fences *f)
{
	for (size_t i = 0; f && i < f->n; i++) {
		memfile_fence_down(f->f[i].mf, f->f[i].fence);
		memfile_release(f->f[i].mf);
	}
	free(f);
}

struct as_fences *as_fences_up(struct cv_as *as)
{
	pthread_mutex_lock(&as->lock);
	size_t n = 0;
	for (struct as_fdref *r = as->files; r; r = r->next)
		n += r->memfile;
	struct as_fences *f = calloc(1, sizeof(*f) + n * sizeof(f->f[0]));
	bool ok = f != NULL;
	for (struct as_fdref *r = as->files; ok && r; r = r->next) {
		if (!r->memfile)
			continue;
		void *base;
		uint64_t size;
		struct cv_memfile *mf = memfile_acquire_ino(r->dev, r->ino, &base, &size);
		if (!mf)
			continue; /* closed already: nothing of it can be handed out again */
		uint64_t fence = memfile_fence_up(mf);
		if (!fence) {
			memfile_release(mf);
			ok = false;
			break;
		}
		f->f[f->n].mf = mf;
		f->f[f->n++].fence = fence;
	}
	pthread_mutex_unlock(&as->lock);
	if (!ok) {
		as_fences_down(f);
		return NULL;
	}
	return f;
}

CV_API int cv_as_release(struct cv_as *as)
{
	if (!as)
		return 0;
	if (!as_valid(as))
		return -EINVAL;
	if (atomic_load(&as->running))
		return -EBUSY;
	struct cv_platform *p = as->p;
	p->ops->as_release(as);
	pthread_mutex_lock(&as->lock);
	maptable_clear(as);
	pthread_mutex_unlock(&as->lock);
	pthread_mutex_destroy(&as->lock);
	as->magic = CV_MAGIC_DEAD;
	free(as);
	atomic_fetch_sub(&p->n_as, 1);
	return 0;
}

CV_API int cv_as_prefork(struct cv_as *as)
{
	if (!as_valid(as))
		return -EINVAL;
	return as->p->ops->as_prefork ? as->p->ops->as_prefork(as) : 0;
}

CV_API int cv_as_patch_syscall(struct cv_as *as, uint64_t rip)
{
	if (!as_valid(as))
		return -EINVAL;
	if (!as->p->ops->as_patch_syscall)
		return -EOPNOTSUPP;
	if (atomic_load(&as->dead))
		return -CV_EASDEAD;
	return as->p->ops->as_patch_syscall(as, rip);
}

CV_API int cv_as_postfork(struct cv_as *as)
{
	if (!as_valid(as))
		return -EINVAL;
	return as->p->ops->as_postfork ? as->p->ops->as_postfork(as) : 0;
}
