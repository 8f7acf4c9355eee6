// SPDX-License-Identifier: Apache-2.0
// The memory file: one memfd mapped once into a fixed reservation of the caller, grown on demand,
// with a page-range allocator whose pages carry reference counts, plus the registry of live files.
//
// Freed pages must read as zero before they are handed out again: they are punched out of the file
// (fallocate PUNCH_HOLE). That costs a TLB shootdown across every CPU running the caller (the
// reservation maps the file), tens of us on a VM, once per freed extent, and a process's exit or exec
// frees dozens. So a freed extent goes on the free list as MF_DIRTY, never handed out, and the cleaner,
// a thread started at the first free, punches it out and makes it MF_CLEAN, off the caller's path
// (CV_MEMFILE_ASYNC_FREE; without it a free punches at once). An
// allocation that finds no clean room, cv_memfile_usage() and cv_memfile_close() wait for (or do)
// the punching; past MF_DIRTY_MAX bytes waiting, freeing punches at once again. Pages freed while a
// fence is up (memfile_fence_up: a platform's stub that outlives its release may still reach them)
// wait dirty, whatever the mode and the bytes waiting, until the fences up then are down.
//
// Punching has a second cost, paid by whoever uses the pages next: each first touch of a punched-out
// page is a host page fault that allocates and clears a page (2.8–3.0 us a page on this PVM guest,
// against 1.5–1.9 for anonymous memory). So the cleaner keeps up to MF_WARM_MAX bytes of freed extents
// whose every page is still committed (mincore) instead, zeroing them in place with pwritev(2) from a
// zero buffer (~0.35 us a page: no page table of ours is involved) and marking them MF_WARM.
// Allocation takes warm pages first and, with CV_ALLOC_REPORT_WARM, says so: the caller can then map
// them precommitted, which the host does with fault-around and no allocation (a native loop of 1 MiB
// mmap, touch, munmap on a memfd: ~110 us so, against ~750 on punched pages and ~400 for anonymous
// memory; the same loop under cvisor run went from ~830 to ~330 us).
// The budget is an eighth of the file's maximum size, at least 1 MiB, so a small sandbox keeps little;
// and warm pages nobody made or took for MF_WARM_IDLE_MS are punched out by the cleaner, so an idle
// sandbox gives them back. cv_memfile_usage() punches warm pages out too, so that it reports what the
// live pages commit.
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include "memfile_internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010u /* Linux 6.3 */
#endif

#define DEFAULT_MAX_SIZE (64ull << 30)
#define MF_DIRTY_MAX (256ull << 20) /* freed bytes left to the cleaner at most */
#define MF_CLEAN_BATCH 64           /* extents punched per lock drop */
#define MF_WARM_MAX (32ull << 20)   /* freed bytes kept committed and zeroed at most, */
#define MF_WARM_MIN (1ull << 20)    /* or an eighth of the maximum size, not under this */
#define MF_WARM_IDLE_MS 1000        /* warm pages nobody made or took for this long are punched out */
#define MF_WARM_EXTENT_MAX (4ull << 20) /* larger freed extents are punched out, never kept warm */
#define ZERO_CHUNK (64u << 10)      /* the zero buffer pwritev repeats */
#define MF_RUNS 8                   /* runs (committed or missing pages) a freed extent is cleaned in */
#define DEFAULT_NAME "cvisor-memory"
/* No x86-64 address space (even with 5-level paging) can hold more; keeps offset maths far from wrapping. */
#define MAX_RESERVATION (1ull << 57)
/* Upper bound on opts->size we are willing to scan for unknown non-zero fields. */
#define OPTS_SIZE_MAX 4096u

/* Live memory files, for memfile_lookup_fd(). Independent of every per-file lock. */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registry_released = PTHREAD_COND_INITIALIZER;
static struct cv_memfile *registry;

static bool memfile_valid(const struct cv_memfile *mf)
{
	return mf && mf->magic == CV_MAGIC_MEMFILE;
}

/*
 * Copy caller options into @o. A caller built against a newer header may pass a larger struct; that is
 * fine as long as the fields we do not know are zero (the kernel's copy_struct_from_user rule).
 */
static int copy_opts(const struct cv_memfile_opts *opts, struct cv_memfile_opts *o)
{
	if (opts->size < sizeof(*o) || opts->size > OPTS_SIZE_MAX)
		return -EINVAL;
	const unsigned char *extra = (const unsigned char *)opts + sizeof(*o);
	for (size_t i = 0; i < opts->size - sizeof(*o); i++)
		if (extra[i])
			return -EINVAL;
	*o = *opts;
	return 0;
}

/*
 * Reserve @size bytes of address space with a 2 MiB aligned start, so that 2 MiB aligned file offsets
 * (CV_ALLOC_HUGE) land on 2 MiB aligned addresses and can be backed by transparent huge pages here too.
 * Returns the base or MAP_FAILED with errno set.
 */
static void *reserve_aligned(uint64_t size)
{
	uint64_t span = size + HUGE_ALIGN - PAGE_SIZE;
	uint8_t *p = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	uint8_t *a = (uint8_t *)(((uintptr_t)p + HUGE_ALIGN - 1) & ~(uintptr_t)(HUGE_ALIGN - 1));
	/* Trimming our own fresh mapping cannot fail short of a kernel bug; the slack would only leak VA. */
	if (a > p)
		munmap(p, (size_t)(a - p));
	if (p + span > a + size)
		munmap(a + size, (size_t)(p + span - (a + size)));
	return a;
}

/*
 * Create the memfd. Application code is executed from this file, so ask for MFD_EXEC explicitly:
 * with vm.memfd_noexec=1 a memfd created without it is sealed non-executable. Kernels before 6.3
 * reject the unknown flag with EINVAL and always create executable memfds, so retry without it.
 */
static int create_memfd(const char *name)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_EXEC);
	if (fd < 0 && errno == EINVAL)
		fd = memfd_create(name, MFD_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int cv_memfile_new(const struct cv_memfile_opts *opts, struct cv_memfile **out)
{
	struct cv_memfile_opts o = { .size = sizeof(o) };
	int ret;

	if (!out)
		return -EINVAL;
	if (opts && (ret = copy_opts(opts, &o)) < 0)
		return ret;
	uint64_t max = o.max_size ? o.max_size : DEFAULT_MAX_SIZE;
	if ((o.flags & ~CV_MEMFILE_ASYNC_FREE) || !page_aligned(max) || max > MAX_RESERVATION)
		return -EINVAL;

	struct cv_memfile *mf = calloc(1, sizeof(*mf));
	if (!mf)
		return -ENOMEM;
	mf->fd = -1;
	mf->max_size = max;
	mf->warm_max = max / 8 < MF_WARM_MIN ? MF_WARM_MIN : max / 8 > MF_WARM_MAX ? MF_WARM_MAX : max / 8;
	mf->async_free = o.flags & CV_MEMFILE_ASYNC_FREE;
	atomic_init(&mf->size, 0);
	ret = -pthread_mutex_init(&mf->lock, NULL);
	if (ret < 0)
		goto err_free;
	pthread_condattr_t ca; /* the cleaner's idle deadline is on the monotonic clock */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	ret = -pthread_cond_init(&mf->cond, &ca);
	pthread_condattr_destroy(&ca);
	if (ret < 0) {
		pthread_mutex_destroy(&mf->lock);
		goto err_free;
	}
	ret = extvec_reserve(&mf->free_, 1);
	if (ret < 0)
		goto err_destroy_lock;
	extvec_add(&mf->free_, (struct mf_extent){ .start = 0, .end = max });

	ret = create_memfd(o.name ? o.name : DEFAULT_NAME);
	if (ret < 0)
		goto err_free_vecs;
	mf->fd = ret;
	struct stat st;
	if (fstat(mf->fd, &st) == 0) {
		mf->dev = (uint64_t)st.st_dev;
		mf->ino = (uint64_t)st.st_ino;
	}

	void *base = reserve_aligned(max);
	if (base == MAP_FAILED) {
		ret = -errno;
		goto err_close_fd;
	}
	mf->base = base;
	mf->magic = CV_MAGIC_MEMFILE;

	pthread_mutex_lock(&registry_lock);
	mf->reg_next = registry;
	registry = mf;
	pthread_mutex_unlock(&registry_lock);
	*out = mf;
	return 0;

err_close_fd:
	close(mf->fd);
err_free_vecs:
	free(mf->free_.v);
err_destroy_lock:
	pthread_cond_destroy(&mf->cond);
	pthread_mutex_destroy(&mf->lock);
err_free:
	free(mf);
	return ret;
}

void cv_memfile_close(struct cv_memfile *mf)
{
	if (!memfile_valid(mf))
		return;
	/* Unregister first: once the fd is closed its number may be reused by an unrelated file. */
	pthread_mutex_lock(&registry_lock);
	for (struct cv_memfile **pp = &registry; *pp; pp = &(*pp)->reg_next) {
		if (*pp == mf) {
			*pp = mf->reg_next;
			break;
		}
	}
	/* Address-space IO may be copying through our mapping right now: let it finish. */
	while (mf->users > 0)
		pthread_cond_wait(&registry_released, &registry_lock);
	pthread_mutex_unlock(&registry_lock);

	mf->magic = CV_MAGIC_DEAD;
	pthread_mutex_lock(&mf->lock);
	mf->cleaner_stop = true;
	pthread_cond_broadcast(&mf->cond);
	pthread_mutex_unlock(&mf->lock);
	if (mf->cleaner_on)
		pthread_join(mf->cleaner, NULL);
	if (munmap(mf->base, mf->max_size) < 0)
		cv_log(CV_LOG_WARN, "memfile: munmap of %#llx bytes failed: %s",
		       (unsigned long long)mf->max_size, cv_strerror(errno));
	close(mf->fd);
	pthread_cond_destroy(&mf->cond);
	pthread_mutex_destroy(&mf->lock);
	free(mf->used.v);
	free(mf->free_.v);
	free(mf->fences);
	free(mf);
}

int cv_memfile_fd(const struct cv_memfile *mf)
{
	return memfile_valid(mf) ? mf->fd : -EINVAL;
}

/*
 * Grow the file so that it covers at least @need bytes, in CV_MEMFILE_CHUNK steps capped at max_size,
 * and map the new part into the reservation. On failure the file and the reservation are restored.
 * Called with mf->lock held. Returns 0 or -errno.
 */
static int grow_locked(struct cv_memfile *mf, uint64_t need)
{
	uint64_t old = atomic_load_explicit(&mf->size, memory_order_relaxed);
	int ret;

	if (need <= old)
		return 0;
	uint64_t size = (need + CV_MEMFILE_CHUNK - 1) & ~(CV_MEMFILE_CHUNK - 1);
	if (size > mf->max_size)
		size = mf->max_size;

	if (RETRY_EINTR(ftruncate(mf->fd, (off_t)size)) < 0)
		return -errno;
	/* MAP_FIXED replaces only our own PROT_NONE placeholder, never someone else's mapping. */
	void *p = mmap(mf->base + old, size - old, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mf->fd,
		       (off_t)old);
	if (p == MAP_FAILED) {
		ret = -errno;
		/* A failed MAP_FIXED may already have torn down the placeholder; put it back. */
		if (mmap(mf->base + old, size - old, PROT_NONE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
			cv_log(CV_LOG_WARN, "memfile: restoring reservation failed: %s", cv_strerror(errno));
		if (RETRY_EINTR(ftruncate(mf->fd, (off_t)old)) < 0)
			cv_log(CV_LOG_WARN, "memfile: shrinking back after failed growth failed: %s",
			       cv_strerror(errno));
		cv_log(CV_LOG_WARN, "memfile: mapping %#llx bytes at offset %#llx failed: %s",
		       (unsigned long long)(size - old), (unsigned long long)old, cv_strerror(ret));
		return ret;
	}
	/* Release: a reader seeing the new size (memfile_lookup_fd, cv_memfile_ptr) sees the mapping. */
	atomic_store_explicit(&mf->size, size, memory_order_release);
	return 0;
}

/*
 * Return the memory of [@off, @off+@len) (within the file) to the host; it reads back as zeroes. The
 * caller keeps the range from being handed out meanwhile (mf->lock held, or MF_CLEANING).
 */
static void decommit(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	if (RETRY_EINTR(fallocate(mf->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)off,
				  (off_t)len)) == 0)
		return;
	/* shmem always supports punching; if it ever fails, zeroing still keeps the zero-fill promise. */
	cv_log(CV_LOG_WARN, "memfile: fallocate(PUNCH_HOLE) of %#llx+%#llx failed: %s; zeroing instead",
	       (unsigned long long)off, (unsigned long long)len, cv_strerror(errno));
	memset(mf->base + off, 0, len);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A zero buffer for zero_pages(): never written. */
static const uint8_t zero_chunk[ZERO_CHUNK];

/* Write zeroes over [@off, @off+@len) of the file, through no mapping. False on a host error. */
static bool zero_pages(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	struct iovec iov[MF_WARM_EXTENT_MAX / ZERO_CHUNK];
	for (uint64_t done = 0; done < len;) {
		size_t n = 0;
		for (uint64_t at = done; at < len && n < sizeof(iov) / sizeof(iov[0]); at += ZERO_CHUNK, n++)
			iov[n] = (struct iovec){ .iov_base = (void *)zero_chunk,
						 .iov_len = len - at < ZERO_CHUNK ? len - at : ZERO_CHUNK };
		ssize_t w = RETRY_EINTR(pwritev(mf->fd, iov, (int)n, (off_t)(off + done)));
		if (w <= 0)
			return false;
		done += (uint64_t)w;
	}
	return true;
}

/*
 * Clean freed extent @e (MF_CLEANING, so nobody else touches it) into at most MF_RUNS runs stored in
 * @runs, each MF_WARM or MF_CLEAN; returns how many. With @warm_ok (and @e at most MF_WARM_EXTENT_MAX),
 * each run of committed pages (mincore) is zeroed in place and kept (warm), each run of missing pages
 * (never touched, or swapped out) punched out; else, or with too many runs, all of it is punched out.
 */
static size_t clean_extent(struct cv_memfile *mf, struct mf_extent e, bool warm_ok,
			   struct mf_extent runs[MF_RUNS])
{
	uint64_t len = e.end - e.start;
	unsigned char in[MF_WARM_EXTENT_MAX / PAGE_SIZE];
	size_t n = 0;
	if (warm_ok && len <= MF_WARM_EXTENT_MAX && mincore(mf->base + e.start, len, in) == 0) {
		for (uint64_t i = 0; i < len / PAGE_SIZE && n <= MF_RUNS; n++) {
			uint64_t j = i;
			while (j < len / PAGE_SIZE && (in[j] & 1) == (in[i] & 1))
				j++;
			if (n < MF_RUNS)
				runs[n] = (struct mf_extent){ .start = e.start + i * PAGE_SIZE,
							      .end = e.start + j * PAGE_SIZE,
							      .refs = in[i] & 1 ? MF_WARM : MF_CLEAN };
			i = j;
		}
	}
	if (n == 0 || n > MF_RUNS) {
		decommit(mf, e.start, len);
		runs[0] = (struct mf_extent){ .start = e.start, .end = e.end, .refs = MF_CLEAN };
		return 1;
	}
	for (size_t k = 0; k < n; k++) {
		uint64_t l = runs[k].end - runs[k].start;
		if (runs[k].refs == MF_WARM && !zero_pages(mf, runs[k].start, l))
			runs[k].refs = MF_CLEAN; /* (what was zeroed is zero; the rest goes) */
		if (runs[k].refs == MF_CLEAN)
			decommit(mf, runs[k].start, l);
	}
	return n;
}

/*
 * Apply the CV_ALLOC_* hints to a fresh range, after the lock is dropped since populating can take a
 * while. The range is unknown to anyone else until cv_memfile_alloc() returns, so this cannot race.
 * Returns 0 or -ENOMEM if the pages could not be committed.
 */
static int advise_range(struct cv_memfile *mf, uint64_t off, uint64_t len, unsigned flags)
{
	uint8_t *p = mf->base + off;

	/* A hint only: EINVAL just means a kernel without transparent huge pages. */
	if (flags & CV_ALLOC_HUGE)
		(void)madvise(p, len, MADV_HUGEPAGE);
	if ((flags & CV_ALLOC_POPULATE) && RETRY_EINTR(madvise(p, len, MADV_POPULATE_WRITE)) < 0) {
		/* EINVAL: a kernel before 5.14; the pages will be committed on first touch instead. */
		if (errno == EINVAL)
			return 0;
		/* ENOMEM, or EFAULT when the fault hit SIGBUS (shmem or memcg limit): no memory either way. */
		cv_debug("MADV_POPULATE_WRITE of %#llx+%#llx failed: %s", (unsigned long long)off,
			 (unsigned long long)len, cv_strerror(errno));
		return -ENOMEM;
	}
	return 0;
}

/* Validate a page range argument; 0 or -EINVAL. Stores the end in *@end. */
static int check_range(const struct cv_memfile *mf, uint64_t off, uint64_t len, uint64_t *end)
{
	if (!memfile_valid(mf) || len == 0 || !page_aligned(off) || !page_aligned(len) ||
	    __builtin_add_overflow(off, len, end))
		return -EINVAL;
	return 0;
}

/* May dirty free extent @refs be punched out now: freed with no fence up, or after every fence up now? */
static bool punchable(const struct cv_memfile *mf, uint64_t refs)
{
	if (refs < MF_DIRTY)
		return false;
	for (size_t i = 0; i < mf->nfences; i++)
		if (mf->fences[i] <= refs - MF_DIRTY)
			return false;
	return true;
}

/*
 * Punch out (or zero in place: warm) up to MF_CLEAN_BATCH dirty extents, the lock dropped meanwhile
 * (they are MF_CLEANING: nobody takes, merges or splits them), then make them clean or warm free space.
 * Lock held; no batch under way. Returns how many it cleaned: 0 when every dirty extent waits for a
 * fence.
 */
static size_t clean_batch_locked(struct cv_memfile *mf)
{
	struct mf_extent batch[MF_CLEAN_BATCH], runs[MF_CLEAN_BATCH][MF_RUNS];
	size_t nruns[MF_CLEAN_BATCH];
	bool tried[MF_CLEAN_BATCH];
	/* Room for every run now, so that putting them back cannot fail; without it, no warm pages. */
	bool room = mf->async_free && extvec_reserve(&mf->free_, MF_CLEAN_BATCH * (MF_RUNS - 1)) == 0;
	size_t n = 0;
	for (size_t i = 0; i < mf->free_.n && n < MF_CLEAN_BATCH; i++)
		if (punchable(mf, mf->free_.v[i].refs)) {
			uint64_t len = mf->free_.v[i].end - mf->free_.v[i].start;
			mf->free_.v[i].refs = MF_CLEANING;
			batch[n] = mf->free_.v[i];
			/* Warm if the budget has room: taken now, what is not warm given back below. */
			tried[n] = room && len <= MF_WARM_EXTENT_MAX && mf->warm_bytes + len <= mf->warm_max;
			mf->warm_bytes += tried[n++] ? len : 0;
		}
	if (n == 0)
		return 0;
	mf->cleaning = true;
	pthread_mutex_unlock(&mf->lock);
	for (size_t k = 0; k < n; k++)
		nruns[k] = clean_extent(mf, batch[k], tried[k], runs[k]);
	pthread_mutex_lock(&mf->lock);
	for (size_t k = 0; k < n; k++) {
		/* Removed whole, then added run by run: each run may merge with a neighbour in its state. */
		uint64_t len = batch[k].end - batch[k].start;
		extvec_take(&mf->free_, extvec_find(&mf->free_, batch[k].start), batch[k].start, len);
		for (size_t r = 0; r < nruns[k]; r++) {
			extvec_add(&mf->free_, runs[k][r]);
			if (tried[k] && runs[k][r].refs == MF_CLEAN)
				mf->warm_bytes -= runs[k][r].end - runs[k][r].start;
			else if (runs[k][r].refs == MF_WARM)
				mf->warm_used = mono_ns();
		}
		mf->dirty_bytes -= len;
	}
	mf->cleaning = false;
	pthread_cond_broadcast(&mf->cond);
	return n;
}

/* Punch out every warm free extent. Lock held, no batch under way (drain_locked). */
static void trim_warm_locked(struct cv_memfile *mf)
{
	for (size_t i = 0; i < mf->free_.n; i++) {
		struct mf_extent e = mf->free_.v[i];
		if (e.refs != MF_WARM)
			continue;
		decommit(mf, e.start, e.end - e.start);
		/* Removed whole, then added clean: it may merge with its neighbours, never needs an entry. */
		extvec_take(&mf->free_, i, e.start, e.end - e.start);
		extvec_add(&mf->free_, (struct mf_extent){ .start = e.start, .end = e.end });
		mf->warm_bytes -= e.end - e.start;
		i = extvec_find(&mf->free_, e.start);
	}
	/* With no batch under way nothing else is counted; were the count ever off, a cleaner that trims
	 * again and again at an idle deadline already past would spin. */
	mf->warm_bytes = 0;
}

/* Until no freed page is left to punch out, whoever does it; pages behind a fence are waited for (the
 * platform lowers it once its stub is gone). Lock held (dropped meanwhile). */
static void drain_locked(struct cv_memfile *mf)
{
	while (mf->dirty_bytes) {
		if (mf->cleaning || !clean_batch_locked(mf))
			pthread_cond_wait(&mf->cond, &mf->lock);
	}
}

/* The cleaner: punches out (or warms) what is freed, and punches out warm pages left idle. */
static void *cleaner_main(void *arg)
{
	struct cv_memfile *mf = arg;
	pthread_mutex_lock(&mf->lock);
	while (!mf->cleaner_stop) {
		if (mf->dirty_bytes && !mf->cleaning && clean_batch_locked(mf))
			continue;
		uint64_t idle_end = mf->warm_used + MF_WARM_IDLE_MS * 1000000ull;
		if (!mf->warm_bytes || mf->cleaning) {
			pthread_cond_wait(&mf->cond, &mf->lock);
		} else if (mono_ns() >= idle_end) {
			trim_warm_locked(mf);
		} else {
			struct timespec ts = { .tv_sec = (time_t)(idle_end / 1000000000ull),
					       .tv_nsec = (long)(idle_end % 1000000000ull) };
			pthread_cond_timedwait(&mf->cond, &mf->lock, &ts);
		}
	}
	pthread_mutex_unlock(&mf->lock);
	return NULL;
}

/* Is the cleaner running (started now if not yet)? Lock held. */
static bool cleaner_start_locked(struct cv_memfile *mf)
{
	if (!mf->async_free || mf->cleaner_on || mf->cleaner_failed || mf->cleaner_stop)
		return mf->cleaner_on;
	sigset_t all, old;
	sigfillset(&all); /* no signal of the caller's is ever handled on it */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	mf->cleaner_on = pthread_create(&mf->cleaner, NULL, cleaner_main, mf) == 0;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	mf->cleaner_failed = !mf->cleaner_on;
	return mf->cleaner_on;
}

/*
 * Add @delta (+1 or -1) to the count of every page of [@off, @end), freeing and decommitting pages
 * that reach zero. Called with the lock held; validates everything before changing anything.
 * Returns 0, -ENOENT (a page is not allocated), -EOVERFLOW (a count would pass INT_MAX), -ENOMEM.
 */
static int adjust_refs_locked(struct cv_memfile *mf, uint64_t off, uint64_t end, int delta)
{
	struct mf_extvec *used = &mf->used;
	size_t first, last;
	int ret;

	ret = extvec_span(used, off, end, &first, &last);
	if (ret < 0)
		return ret;
	/* cv_memfile_refcount() reports counts as int. */
	for (size_t i = first; delta > 0 && i < last; i++)
		if (used->v[i].refs >= INT_MAX)
			return -EOVERFLOW;
	/* Two splits at the edges; at most one new free extent per extent in the range. */
	if ((ret = extvec_reserve(used, 2)) < 0 || (ret = extvec_reserve(&mf->free_, last - first)) < 0)
		return ret;
	bool later = delta < 0 && cleaner_start_locked(mf);

	extvec_split(used, off);
	extvec_split(used, end);
	first = extvec_find(used, off);
	last = extvec_find(used, end); /* nothing straddles end now: this is one past the range */
	for (size_t i = first; i < last; i++)
		used->v[i].refs += (uint64_t)(int64_t)delta;

	for (size_t i = first; delta < 0 && i < last; i++) {
		if (used->v[i].refs)
			continue;
		uint64_t s = used->v[i].start;
		while (i + 1 < last && used->v[i + 1].refs == 0)
			i++;
		uint64_t e = used->v[i].end;
		if (mf->nfences || (later && mf->dirty_bytes + (e - s) <= MF_DIRTY_MAX)) {
			uint64_t mark = MF_DIRTY + (mf->nfences ? mf->fence_gen : 0);
			extvec_add(&mf->free_, (struct mf_extent){ .start = s, .end = e, .refs = mark });
			mf->dirty_bytes += e - s;
			pthread_cond_broadcast(&mf->cond);
		} else {
			decommit(mf, s, e - s);
			extvec_add(&mf->free_, (struct mf_extent){ .start = s, .end = e });
		}
		mf->allocated -= e - s;
	}
	extvec_compact(used, first ? first - 1 : 0, last < used->n ? last + 1 : used->n);
	return 0;
}

/*
 * Find room for @len bytes: warm pages first (they cost the next user no page faults), then clean ones;
 * with CV_ALLOC_HUGE, clean 2 MiB aligned room first (transparent huge pages want fresh memory), though
 * alignment is a preference: any fit rather than failure near exhaustion. Lock held.
 */
static bool fit_locked(struct cv_memfile *mf, uint64_t len, unsigned flags, size_t *idx, uint64_t *start,
		       bool *warm)
{
	const struct mf_extvec *fv = &mf->free_;
	if ((flags & CV_ALLOC_HUGE) && extvec_fit(fv, MF_CLEAN, len, HUGE_ALIGN, idx, start))
		return true;
	if (mf->warm_bytes >= len && extvec_fit(fv, MF_WARM, len, PAGE_SIZE, idx, start))
		return *warm = true;
	return extvec_fit(fv, MF_CLEAN, len, PAGE_SIZE, idx, start);
}

int cv_memfile_alloc(struct cv_memfile *mf, uint64_t len, unsigned flags, uint64_t *off)
{
	uint64_t start;
	size_t idx;
	int ret;

	if (!memfile_valid(mf) || !off || len == 0 || !page_aligned(len) ||
	    (flags & ~(CV_ALLOC_POPULATE | CV_ALLOC_HUGE | CV_ALLOC_REPORT_WARM)))
		return -EINVAL;
	if (len > mf->max_size)
		return -ENOMEM;

	pthread_mutex_lock(&mf->lock);
	bool warm = false, found = fit_locked(mf, len, flags, &idx, &start, &warm);
	if (!found && mf->dirty_bytes) { /* freed pages the cleaner has yet to punch out */
		drain_locked(mf);
		found = fit_locked(mf, len, flags, &idx, &start, &warm);
	}
	if (!found && mf->warm_bytes) {
		/* Warm and clean free extents never merge: room made of both is room once the warm ones are
		 * punched out (a cache, never a reason for ENOMEM). No batch is under way: none is dirty. */
		trim_warm_locked(mf);
		found = fit_locked(mf, len, flags, &idx, &start, &warm);
	}
	if (!found) {
		ret = -ENOMEM;
		goto out_unlock;
	}
	if ((ret = extvec_reserve(&mf->used, 1)) < 0 || (ret = extvec_reserve(&mf->free_, 1)) < 0)
		goto out_unlock;
	ret = grow_locked(mf, start + len);
	if (ret < 0)
		goto out_unlock;
	/*
	 * The range reads as zero without further work: pages beyond the old size were never written, and
	 * freed pages were punched out or zeroed in place before they went back on the free list.
	 */
	extvec_take(&mf->free_, idx, start, len);
	if (warm) {
		mf->warm_bytes -= len;
		mf->warm_used = mono_ns();
	}
	extvec_add(&mf->used, (struct mf_extent){ .start = start, .end = start + len, .refs = 1 });
	mf->allocated += len;
out_unlock:
	pthread_mutex_unlock(&mf->lock);
	if (ret < 0)
		return ret;

	ret = advise_range(mf, start, len, flags);
	if (ret < 0) {
		pthread_mutex_lock(&mf->lock);
		int undo = adjust_refs_locked(mf, start, start + len, -1);
		pthread_mutex_unlock(&mf->lock);
		if (undo < 0)
			cv_log(CV_LOG_WARN, "memfile: releasing %#llx+%#llx after failed populate failed: %s",
			       (unsigned long long)start, (unsigned long long)len, cv_strerror(undo));
		return ret;
	}
	*off = start;
	return warm && (flags & CV_ALLOC_REPORT_WARM) ? 1 : 0;
}

/* Common entry for incref/decref. */
static int adjust_refs(struct cv_memfile *mf, uint64_t off, uint64_t len, int delta)
{
	uint64_t end;
	int ret = check_range(mf, off, len, &end);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&mf->lock);
	ret = adjust_refs_locked(mf, off, end, delta);
	pthread_mutex_unlock(&mf->lock);
	return ret;
}

int cv_memfile_incref(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	return adjust_refs(mf, off, len, +1);
}

int cv_memfile_decref(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	return adjust_refs(mf, off, len, -1);
}

int cv_memfile_decommit(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	size_t first, last;
	uint64_t end;
	int ret = check_range(mf, off, len, &end);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&mf->lock);
	ret = extvec_span(&mf->used, off, end, &first, &last);
	if (ret == 0)
		decommit(mf, off, len);
	pthread_mutex_unlock(&mf->lock);
	return ret;
}

int cv_memfile_ptr(struct cv_memfile *mf, uint64_t off, uint64_t len, void **ptr)
{
	uint64_t end;

	if (!memfile_valid(mf) || !ptr)
		return -EINVAL;
	if (__builtin_add_overflow(off, len, &end) ||
	    end > atomic_load_explicit(&mf->size, memory_order_acquire))
		return -EFAULT;
	*ptr = mf->base + off;
	return 0;
}

int cv_memfile_usage(struct cv_memfile *mf, struct cv_memfile_usage *u)
{
	struct stat st;

	if (!memfile_valid(mf) || !u)
		return -EINVAL;
	pthread_mutex_lock(&mf->lock);
	drain_locked(mf); /* what is committed once every freed page is out */
	trim_warm_locked(mf);
	u->allocated = mf->allocated;
	pthread_mutex_unlock(&mf->lock);
	if (fstat(mf->fd, &st) < 0)
		return -errno;
	u->file_size = atomic_load_explicit(&mf->size, memory_order_acquire);
	u->committed = (uint64_t)st.st_blocks * 512;
	u->max_size = mf->max_size;
	return 0;
}

int cv_memfile_refcount(struct cv_memfile *mf, uint64_t off)
{
	int refs = 0;

	if (!memfile_valid(mf) || !page_aligned(off) || off >= mf->max_size)
		return -EINVAL;
	pthread_mutex_lock(&mf->lock);
	size_t i = extvec_find(&mf->used, off);
	if (i < mf->used.n && mf->used.v[i].start <= off)
		refs = (int)mf->used.v[i].refs;
	pthread_mutex_unlock(&mf->lock);
	return refs;
}

int cv_memfile_max_refcount(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	size_t first, last;
	uint64_t end, max = 0;
	int ret = check_range(mf, off, len, &end);

	if (ret < 0)
		return ret;
	pthread_mutex_lock(&mf->lock);
	ret = extvec_span(&mf->used, off, end, &first, &last);
	for (size_t i = first; ret == 0 && i < last; i++)
		max = mf->used.v[i].refs > max ? mf->used.v[i].refs : max;
	pthread_mutex_unlock(&mf->lock);
	return ret < 0 ? ret : (int)max;
}

bool memfile_lookup_fd(int fd, void **base, uint64_t *size)
{
	bool found = false;

	if (fd < 0)
		return false;
	pthread_mutex_lock(&registry_lock);
	for (struct cv_memfile *mf = registry; mf; mf = mf->reg_next) {
		if (mf->fd != fd)
			continue;
		if (base)
			*base = mf->base;
		if (size)
			*size = atomic_load_explicit(&mf->size, memory_order_acquire);
		found = true;
		break;
	}
	pthread_mutex_unlock(&registry_lock);
	return found;
}

struct cv_memfile *memfile_acquire_ino(uint64_t dev, uint64_t ino, void **base, uint64_t *size)
{
	struct cv_memfile *found = NULL;
	pthread_mutex_lock(&registry_lock);
	for (struct cv_memfile *mf = registry; mf; mf = mf->reg_next)
		if (mf->dev == dev && mf->ino == ino) {
			*base = mf->base;
			*size = atomic_load_explicit(&mf->size, memory_order_acquire);
			mf->users++;
			found = mf;
			break;
		}
	pthread_mutex_unlock(&registry_lock);
	return found;
}

uint64_t memfile_max_size(const struct cv_memfile *mf)
{
	return mf->max_size;
}

uint64_t memfile_fence_up(struct cv_memfile *mf)
{
	uint64_t fence = 0;
	pthread_mutex_lock(&mf->lock);
	if (mf->nfences == mf->fences_cap) {
		size_t cap = mf->fences_cap ? 2 * mf->fences_cap : 8;
		uint64_t *f = realloc(mf->fences, cap * sizeof(*f));
		if (f) {
			mf->fences = f;
			mf->fences_cap = cap;
		}
	}
	if (mf->nfences < mf->fences_cap) {
		fence = ++mf->fence_gen;
		mf->fences[mf->nfences++] = fence;
	}
	pthread_mutex_unlock(&mf->lock);
	return fence;
}

void memfile_fence_down(struct cv_memfile *mf, uint64_t fence)
{
	pthread_mutex_lock(&mf->lock);
	for (size_t i = 0; i < mf->nfences; i++)
		if (mf->fences[i] == fence) {
			mf->fences[i] = mf->fences[--mf->nfences];
			break;
		}
	/* What waited for it: the cleaner, or an allocation draining; without a cleaner, punched here. */
	if (!mf->cleaner_on)
		while (mf->dirty_bytes && !mf->cleaning && clean_batch_locked(mf))
			;
	pthread_cond_broadcast(&mf->cond);
	pthread_mutex_unlock(&mf->lock);
}

void memfile_release(struct cv_memfile *mf)
{
	pthread_mutex_lock(&registry_lock);
	if (--mf->users == 0)
		pthread_cond_broadcast(&registry_released);
	pthread_mutex_unlock(&registry_lock);
}
