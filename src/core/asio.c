// SPDX-License-Identifier: Apache-2.0
// Address-space IO: read, write and atomically update application memory through the mapping table.
//
// The table says which file range backs each page, so the IO goes straight to the file: through the
// caller's own mapping for a memory file (plain loads and stores, real atomics), with pread/pwrite for
// other files (the page cache keeps them coherent with the application's shared mapping).
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include "core/maptable.h"

enum io_op { IO_READ, IO_WRITE, IO_ZERO };

/*
 * The caller-side mapping of @ref's memory file if it is still open and covers [foff, foff+len); the
 * file stays mapped until view_put(*hold).
 */
static uint8_t *memfile_view(const struct as_fdref *ref, uint64_t foff, uint64_t len, struct cv_memfile **hold)
{
	void *base;
	uint64_t size;
	*hold = ref->memfile ? memfile_acquire_ino(ref->dev, ref->ino, &base, &size) : NULL;
	if (!*hold)
		return NULL;
	if (foff > size || len > size - foff) {
		memfile_release(*hold);
		*hold = NULL;
		return NULL;
	}
	return (uint8_t *)base + foff;
}

static void view_put(struct cv_memfile *hold)
{
	if (hold)
		memfile_release(hold);
}

/* Bytes of [foff, foff+len) that exist in the file behind @ref (0 if foff is past its end). */
static uint64_t file_avail(const struct as_fdref *ref, uint64_t foff, uint64_t len)
{
	struct stat st;
	if (fstat(ref->fd, &st) < 0)
		return 0;
	uint64_t size = (uint64_t)st.st_size;
	if (foff >= size)
		return 0;
	return size - foff < len ? size - foff : len;
}

static const uint8_t zero_page[PAGE_SIZE];

/* Transfer up to @n bytes at file offset @foff; returns bytes done. */
static uint64_t file_io(const struct as_fdref *ref, uint64_t foff, uint8_t *buf, uint64_t n, enum io_op op)
{
	struct cv_memfile *hold;
	uint8_t *p = memfile_view(ref, foff, n, &hold); /* a memory file: its size is known, no fstat */
	if (!p && ref->memfile) {
		n = file_avail(ref, foff, n);
		p = memfile_view(ref, foff, n, &hold);
	}
	if (p) {
		if (op == IO_READ)
			memcpy(buf, p, n);
		else if (op == IO_WRITE)
			memcpy(p, buf, n);
		else
			memset(p, 0, n);
		view_put(hold);
		return n;
	}
	/* Another file: pread stops at its end by itself; writes must not extend it. */
	if (op != IO_READ)
		n = file_avail(ref, foff, n);
	uint64_t done = 0;
	while (done < n) {
		size_t chunk = n - done;
		long r;
		if (op == IO_READ)
			r = RETRY_EINTR(pread(ref->fd, buf + done, chunk, (off_t)(foff + done)));
		else if (op == IO_WRITE)
			r = RETRY_EINTR(pwrite(ref->fd, buf + done, chunk, (off_t)(foff + done)));
		else
			r = RETRY_EINTR(pwrite(ref->fd, zero_page, chunk < PAGE_SIZE ? chunk : PAGE_SIZE,
					       (off_t)(foff + done)));
		if (r <= 0)
			break;
		done += (uint64_t)r;
	}
	return done;
}

static long as_io(struct cv_as *as, uint64_t addr, uint8_t *buf, size_t len, enum io_op op, bool perm)
{
	uint64_t end;
	if (__builtin_add_overflow(addr, len, &end))
		return -EFAULT;
	unsigned need = op == IO_READ ? CV_ACCESS_READ : CV_ACCESS_WRITE;
	uint64_t done = 0;
	pthread_mutex_lock(&as->lock);
	while (done < len) {
		uint64_t a = addr + done;
		const struct as_mapping *m = maptable_find(as, a);
		if (!m || (perm && !(m->access & need)))
			break;
		uint64_t n = m->end - a < len - done ? m->end - a : len - done;
		uint64_t got = file_io(m->ref, m->offset + (a - m->start), buf ? buf + done : NULL, n, op);
		done += got;
		if (got < n)
			break;
	}
	pthread_mutex_unlock(&as->lock);
	return done ? (long)done : -EFAULT;
}

long as_read_raw(struct cv_as *as, uint64_t addr, void *dst, size_t len)
{
	return as_io(as, addr, dst, len, IO_READ, false);
}

bool as_file_position(struct cv_as *as, uint64_t addr, size_t len, uint64_t key[3])
{
	uint64_t end;
	if (__builtin_add_overflow(addr, len, &end))
		return false;
	pthread_mutex_lock(&as->lock);
	const struct as_mapping *m = maptable_find(as, addr);
	bool ok = m && !m->ref->memfile && end <= m->end;
	if (ok) {
		key[0] = m->ref->dev;
		key[1] = m->ref->ino;
		key[2] = m->offset + (addr - m->start);
	}
	pthread_mutex_unlock(&as->lock);
	return ok;
}

long as_write_memfile(struct cv_as *as, uint64_t addr, const void *src, size_t len)
{
	uint64_t end;
	if (__builtin_add_overflow(addr, len, &end))
		return -EFAULT;
	pthread_mutex_lock(&as->lock);
	for (uint64_t a = addr; a < end;) {
		const struct as_mapping *m = maptable_find(as, a);
		if (!m || !m->ref->memfile) {
			pthread_mutex_unlock(&as->lock);
			return -EFAULT;
		}
		a = m->end;
	}
	pthread_mutex_unlock(&as->lock);
	return as_io(as, addr, (uint8_t *)(uintptr_t)src, len, IO_WRITE, false);
}

int as_serialize_page(struct cv_as *as, uint64_t addr)
{
	uint64_t page = addr & ~PAGE_MASK;
	pthread_mutex_lock(&as->lock); /* held across the remap: nobody unmaps the page meanwhile */
	const struct as_mapping *m = maptable_find(as, page);
	int ret = -EFAULT;
	if (m)
		ret = as->p->ops->as_map(as, page, m->ref->fd, m->offset + (page - m->start), PAGE_SIZE, m->access, false);
	pthread_mutex_unlock(&as->lock);
	return ret;
}

static int io_check(struct cv_as *as, const void *buf, size_t len)
{
	if (!as_valid(as) || (!buf && len))
		return -EINVAL;
	if (!as->p->caps.supports_as_io)
		return -ENOTSUP;
	return 0;
}

CV_API long cv_as_copy_in(struct cv_as *as, uint64_t addr, void *dst, size_t len)
{
	int ret = io_check(as, dst, len);
	if (ret < 0)
		return ret;
	return len ? as_io(as, addr, dst, len, IO_READ, true) : 0;
}

CV_API long cv_as_copy_out(struct cv_as *as, uint64_t addr, const void *src, size_t len)
{
	int ret = io_check(as, src, len);
	if (ret < 0)
		return ret;
	return len ? as_io(as, addr, (uint8_t *)(uintptr_t)src, len, IO_WRITE, true) : 0;
}

CV_API long cv_as_zero_out(struct cv_as *as, uint64_t addr, size_t len)
{
	int ret = io_check(as, "", len);
	if (ret < 0)
		return ret;
	return len ? as_io(as, addr, NULL, len, IO_ZERO, true) : 0;
}

enum atomic_op { AT_LOAD, AT_SWAP, AT_CAS };

static int as_atomic(struct cv_as *as, uint64_t addr, enum atomic_op op, uint32_t a, uint32_t b,
		     uint32_t *out)
{
	int ret = io_check(as, out, 1);
	if (ret < 0)
		return ret;
	if (addr & 3)
		return -EFAULT;
	unsigned need = op == AT_LOAD ? CV_ACCESS_READ : CV_ACCESS_READ | CV_ACCESS_WRITE;
	ret = -EFAULT;
	pthread_mutex_lock(&as->lock);
	const struct as_mapping *m = maptable_find(as, addr);
	if (!m || (m->access & need) != need)
		goto out;
	uint64_t foff = m->offset + (addr - m->start);
	if (file_avail(m->ref, foff, 4) != 4)
		goto out;
	struct cv_memfile *hold;
	uint32_t *word = (uint32_t *)(void *)memfile_view(m->ref, foff, 4, &hold);
	void *page = NULL;
	if (!word) {
		/* A temporary shared mapping of the page gives real atomics against the application's;
		 * read-only for a load (the file may be open read-only). */
		page = mmap(NULL, PAGE_SIZE, op == AT_LOAD ? PROT_READ : PROT_READ | PROT_WRITE, MAP_SHARED,
			    m->ref->fd, (off_t)(foff & ~PAGE_MASK));
		if (page == MAP_FAILED)
			goto out;
		word = (uint32_t *)(void *)((uint8_t *)page + (foff & PAGE_MASK));
	}
	switch (op) {
	case AT_LOAD:
		*out = __atomic_load_n(word, __ATOMIC_SEQ_CST);
		break;
	case AT_SWAP:
		*out = __atomic_exchange_n(word, a, __ATOMIC_SEQ_CST);
		break;
	case AT_CAS:
		*out = a;
		__atomic_compare_exchange_n(word, out, b, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
		break;
	}
	if (page)
		munmap(page, PAGE_SIZE);
	view_put(hold);
	ret = 0;
out:
	pthread_mutex_unlock(&as->lock);
	return ret;
}

CV_API int cv_as_swap_u32(struct cv_as *as, uint64_t addr, uint32_t val, uint32_t *old)
{
	return as_atomic(as, addr, AT_SWAP, val, 0, old);
}

CV_API int cv_as_cas_u32(struct cv_as *as, uint64_t addr, uint32_t expected, uint32_t new_val, uint32_t *old)
{
	return as_atomic(as, addr, AT_CAS, expected, new_val, old);
}

CV_API int cv_as_load_u32(struct cv_as *as, uint64_t addr, uint32_t *val)
{
	return as_atomic(as, addr, AT_LOAD, 0, 0, val);
}
