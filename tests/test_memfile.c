// SPDX-License-Identifier: Apache-2.0
// Tests of the memory file: allocation, reference counts, decommit, growth, limits, argument checks,
// concurrency, fd lifetime and the internal fd registry.
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "harness.h"
#include "guestlib.h"
#include "internal.h"

#define PG 4096ull
#define MIB (1ull << 20)

static struct cv_memfile *new_memfile_flags(uint64_t max_size, uint32_t flags)
{
	struct cv_memfile_opts o = { .size = sizeof(o), .flags = flags, .max_size = max_size, .name = "cvisor-test" };
	struct cv_memfile *mf = NULL;
	ASSERT_OK(cv_memfile_new(&o, &mf));
	ASSERT_TRUE(mf != NULL);
	return mf;
}

static struct cv_memfile *new_memfile(uint64_t max_size)
{
	return new_memfile_flags(max_size, 0);
}

static uint8_t *ptr_of(struct cv_memfile *mf, uint64_t off, uint64_t len)
{
	void *p = NULL;
	ASSERT_OK(cv_memfile_ptr(mf, off, len, &p));
	return p;
}

static bool is_zero(const uint8_t *p, uint64_t len)
{
	for (uint64_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

static struct cv_memfile_usage usage_of(struct cv_memfile *mf)
{
	struct cv_memfile_usage u;
	ASSERT_OK(cv_memfile_usage(mf, &u));
	return u;
}

TEST(memfile_alloc_zeroed_distinct)
{
	struct cv_memfile *mf = new_memfile(0);
	static const uint64_t lens[] = { PG, 3 * PG, PG, 16 * PG, 5 * PG };
	uint64_t offs[ARRAY_SIZE(lens)], total = 0;

	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		ASSERT_OK(cv_memfile_alloc(mf, lens[i], 0, &offs[i]));
		ASSERT_EQ(offs[i] % PG, 0);
		uint8_t *p = ptr_of(mf, offs[i], lens[i]);
		ASSERT_EQ((uintptr_t)p % PG, 0);
		ASSERT_TRUE(is_zero(p, lens[i]));
		memset(p, 0xa0 + (int)i, lens[i]); /* later overlap would show up as clobbered data */
		for (uint64_t o = offs[i]; o < offs[i] + lens[i]; o += PG)
			EXPECT_EQ(cv_memfile_refcount(mf, o), 1);
		total += lens[i];
	}
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		for (size_t j = 0; j < i; j++)
			EXPECT_TRUE(offs[i] + lens[i] <= offs[j] || offs[j] + lens[j] <= offs[i]);
		uint8_t *p = ptr_of(mf, offs[i], lens[i]);
		EXPECT_TRUE(p[0] == 0xa0 + i && p[lens[i] - 1] == 0xa0 + i);
	}
	struct cv_memfile_usage u = usage_of(mf);
	EXPECT_EQ(u.allocated, total);
	EXPECT_EQ(u.max_size, 64ull << 30);
	EXPECT_EQ(u.file_size, CV_MEMFILE_CHUNK);
	cv_memfile_close(mf);
}

TEST(memfile_shared_view)
{
	struct cv_memfile *mf = new_memfile(0);
	uint64_t off;

	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &off)); /* so the range under test does not start at 0 */
	ASSERT_OK(cv_memfile_alloc(mf, 4 * PG, 0, &off));
	int fd = cv_memfile_fd(mf);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(fcntl(fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	uint8_t *view = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)off);
	ASSERT_TRUE(view != MAP_FAILED);
	uint8_t *p = ptr_of(mf, off, 4 * PG);
	ASSERT_TRUE(view != p);

	strcpy((char *)p + 3 * PG + 10, "through the memfile");
	EXPECT_EQ(strcmp((char *)view + 3 * PG + 10, "through the memfile"), 0);
	strcpy((char *)view + 123, "through the fd");
	EXPECT_EQ(strcmp((char *)p + 123, "through the fd"), 0);

	munmap(view, 4 * PG);
	cv_memfile_close(mf);
}

TEST(memfile_refcounts)
{
	struct cv_memfile *mf = new_memfile(0);
	uint64_t off, again;

	ASSERT_OK(cv_memfile_alloc(mf, 3 * PG, 0, &off));
	uint8_t *p = ptr_of(mf, off, 3 * PG);
	memset(p, 0x5a, 3 * PG);
	ASSERT_OK(cv_memfile_incref(mf, off + PG, PG));
	EXPECT_EQ(cv_memfile_refcount(mf, off), 1);
	EXPECT_EQ(cv_memfile_refcount(mf, off + PG), 2);
	EXPECT_EQ(cv_memfile_refcount(mf, off + 2 * PG), 1);
	ASSERT_OK(cv_memfile_incref(mf, off, 3 * PG));
	EXPECT_EQ(cv_memfile_refcount(mf, off + PG), 3);
	EXPECT_EQ(cv_memfile_max_refcount(mf, off, 3 * PG), 3);
	EXPECT_EQ(cv_memfile_max_refcount(mf, off + 2 * PG, PG), 2);
	EXPECT_EQ(cv_memfile_max_refcount(mf, off, 4 * PG), -ENOENT);
	EXPECT_EQ(cv_memfile_max_refcount(mf, off + 1, PG), -EINVAL);
	EXPECT_EQ(cv_memfile_max_refcount(mf, off, 0), -EINVAL);
	EXPECT_EQ(cv_memfile_max_refcount(NULL, off, PG), -EINVAL);

	ASSERT_OK(cv_memfile_decref(mf, off, 3 * PG));
	ASSERT_OK(cv_memfile_decref(mf, off, 3 * PG));
	EXPECT_EQ(cv_memfile_refcount(mf, off), 0);
	EXPECT_EQ(cv_memfile_refcount(mf, off + PG), 1);
	EXPECT_EQ(cv_memfile_refcount(mf, off + 2 * PG), 0);
	EXPECT_EQ(usage_of(mf).allocated, PG);
	EXPECT_EQ(p[PG], 0x5a); /* the surviving page keeps its data */
	EXPECT_TRUE(is_zero(p, PG));
	EXPECT_TRUE(is_zero(p + 2 * PG, PG));

	ASSERT_OK(cv_memfile_decref(mf, off + PG, PG));
	EXPECT_EQ(cv_memfile_refcount(mf, off + PG), 0);
	EXPECT_EQ(usage_of(mf).allocated, 0);
	EXPECT_EQ(cv_memfile_decref(mf, off + PG, PG), -ENOENT);

	/* First fit hands the lowest free range out again: it must read as zero. */
	ASSERT_OK(cv_memfile_alloc(mf, 3 * PG, 0, &again));
	EXPECT_EQ(again, off);
	EXPECT_TRUE(is_zero(ptr_of(mf, again, 3 * PG), 3 * PG));
	EXPECT_EQ(cv_memfile_refcount(mf, again + PG), 1);
	cv_memfile_close(mf);
}

TEST(memfile_decommit_and_free_return_memory)
{
	struct cv_memfile *mf = new_memfile(0);
	uint64_t off, len = 256 * PG;

	ASSERT_OK(cv_memfile_alloc(mf, len, 0, &off));
	uint8_t *p = ptr_of(mf, off, len);
	memset(p, 0xcc, len);
	struct cv_memfile_usage before = usage_of(mf);
	EXPECT_GE(before.committed, len);

	ASSERT_OK(cv_memfile_decommit(mf, off + PG, len - PG));
	struct cv_memfile_usage after = usage_of(mf);
	EXPECT_LE(after.committed + (len - PG), before.committed);
	EXPECT_EQ(after.allocated, before.allocated);
	EXPECT_EQ(p[0], 0xcc);
	EXPECT_TRUE(is_zero(p + PG, len - PG));
	EXPECT_EQ(cv_memfile_refcount(mf, off + PG), 1);
	p[PG] = 7; /* still allocated and usable */
	EXPECT_EQ(p[PG], 7);

	/* Freeing punches the pages out too: nothing stays committed. */
	ASSERT_OK(cv_memfile_decref(mf, off, len));
	EXPECT_EQ(usage_of(mf).committed, 0);
	EXPECT_EQ(usage_of(mf).allocated, 0);
	cv_memfile_close(mf);
}

TEST(memfile_growth_keeps_pointers)
{
	struct cv_memfile *mf = new_memfile(0);
	uint64_t a, b, c;

	ASSERT_OK(cv_memfile_alloc(mf, CV_MEMFILE_CHUNK - PG, 0, &a));
	uint8_t *pa = ptr_of(mf, a, CV_MEMFILE_CHUNK - PG);
	EXPECT_EQ(usage_of(mf).file_size, CV_MEMFILE_CHUNK);
	pa[0] = 1;
	pa[CV_MEMFILE_CHUNK - PG - 1] = 2;

	ASSERT_OK(cv_memfile_alloc(mf, 2 * PG, 0, &b)); /* straddles the first chunk boundary */
	EXPECT_EQ(usage_of(mf).file_size, 2 * CV_MEMFILE_CHUNK);
	ASSERT_OK(cv_memfile_alloc(mf, CV_MEMFILE_CHUNK + 8 * PG, 0, &c)); /* grows by more than a chunk */
	EXPECT_EQ(usage_of(mf).file_size, 3 * CV_MEMFILE_CHUNK);

	EXPECT_TRUE(ptr_of(mf, a, PG) == pa);
	EXPECT_EQ(pa[0], 1);
	EXPECT_EQ(pa[CV_MEMFILE_CHUNK - PG - 1], 2);
	uint8_t *pb = ptr_of(mf, b, 2 * PG), *pc = ptr_of(mf, c, CV_MEMFILE_CHUNK + 8 * PG);
	EXPECT_TRUE(pb == pa + (b - a) && pc == pa + (c - a));
	EXPECT_TRUE(is_zero(pb, 2 * PG));
	pb[2 * PG - 1] = 3;
	pc[CV_MEMFILE_CHUNK + 8 * PG - 1] = 4;
	EXPECT_EQ(pb[2 * PG - 1], 3);
	EXPECT_EQ(pa[0], 1);
	cv_memfile_close(mf);
}

TEST(memfile_max_size_exhaustion)
{
	struct cv_memfile *mf = new_memfile(16 * PG);
	uint64_t off, big;

	EXPECT_EQ(cv_memfile_alloc(mf, 17 * PG, 0, &off), -ENOMEM);
	ASSERT_OK(cv_memfile_alloc(mf, 15 * PG, 0, &big));
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &off));
	EXPECT_EQ(off, 15 * PG);
	EXPECT_EQ(usage_of(mf).file_size, 16 * PG); /* growth is capped at max_size, not a chunk */
	EXPECT_EQ(cv_memfile_alloc(mf, PG, 0, &off), -ENOMEM);
	EXPECT_EQ(cv_memfile_alloc(mf, PG, CV_ALLOC_HUGE, &off), -ENOMEM);
	ASSERT_OK(cv_memfile_decref(mf, 4 * PG, PG));
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &off));
	EXPECT_EQ(off, 4 * PG);
	EXPECT_EQ(usage_of(mf).allocated, 16 * PG);
	cv_memfile_close(mf);
}

TEST(memfile_huge_and_populate)
{
	struct cv_memfile *mf = new_memfile(0);
	uint64_t small, huge, pop;

	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &small));
	ASSERT_OK(cv_memfile_alloc(mf, 2 * MIB, CV_ALLOC_HUGE, &huge));
	EXPECT_EQ(huge % (2 * MIB), 0);
	EXPECT_EQ((uintptr_t)ptr_of(mf, huge, 2 * MIB) % (2 * MIB), 0);
	EXPECT_TRUE(is_zero(ptr_of(mf, huge, 2 * MIB), 2 * MIB));
	/* The gap left below the huge range is still usable. */
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &pop));
	EXPECT_EQ(pop, small + PG);

	uint64_t before = usage_of(mf).committed;
	ASSERT_OK(cv_memfile_alloc(mf, 64 * PG, CV_ALLOC_POPULATE, &pop));
	EXPECT_GE(usage_of(mf).committed, before + 64 * PG);
	EXPECT_TRUE(is_zero(ptr_of(mf, pop, 64 * PG), 64 * PG));
	cv_memfile_close(mf);
}

TEST(memfile_new_bad_args)
{
	struct cv_memfile *mf = (struct cv_memfile *)&mf; /* sentinel: must stay untouched */
	struct cv_memfile *const sentinel = mf;
	struct cv_memfile_opts o = { .size = sizeof(o) };
	struct {
		struct cv_memfile_opts opts;
		uint64_t future;
	} big = { .opts = { .size = sizeof(big) }, .future = 1 };

	EXPECT_EQ(cv_memfile_new(NULL, NULL), -EINVAL);
	o.max_size = 16 * PG + 1;
	EXPECT_EQ(cv_memfile_new(&o, &mf), -EINVAL);
	o.max_size = 0;
	o.flags = 2;
	EXPECT_EQ(cv_memfile_new(&o, &mf), -EINVAL);
	o.flags = 0;
	o.size = sizeof(o) - 8;
	EXPECT_EQ(cv_memfile_new(&o, &mf), -EINVAL);
	EXPECT_EQ(cv_memfile_new(&big.opts, &mf), -EINVAL); /* unknown trailing field set */
	EXPECT_TRUE(mf == sentinel);

	big.future = 0; /* a larger struct with the unknown part zeroed is accepted */
	big.opts.max_size = 32 * PG;
	ASSERT_OK(cv_memfile_new(&big.opts, &mf));
	EXPECT_EQ(usage_of(mf).max_size, 32 * PG);
	cv_memfile_close(mf);
	ASSERT_OK(cv_memfile_new(NULL, &mf));
	cv_memfile_close(mf);
}

/* Everything observable about the first 8 pages, to show a failed call changed nothing. */
struct snapshot {
	struct cv_memfile_usage u;
	int refs[8];
	uint8_t first_byte[8];
};

static void take_snapshot(struct cv_memfile *mf, struct snapshot *s)
{
	for (int i = 0; i < 8; i++) {
		s->refs[i] = cv_memfile_refcount(mf, (uint64_t)i * PG);
		s->first_byte[i] = *ptr_of(mf, (uint64_t)i * PG, 1);
	}
	/* Last: reading a hole of a shared shmem mapping may itself commit a page. */
	s->u = usage_of(mf);
}

static void expect_unchanged(struct cv_memfile *mf, const struct snapshot *s, int line)
{
	struct snapshot now;
	take_snapshot(mf, &now);
	if (memcmp(&now.u, &s->u, sizeof(now.u)) || memcmp(now.refs, s->refs, sizeof(now.refs)) ||
	    memcmp(now.first_byte, s->first_byte, sizeof(now.first_byte)))
		HARNESS_FAIL(0, "state changed by the failed call on line %d", line);
}

typedef int (*range_fn)(struct cv_memfile *, uint64_t, uint64_t);

TEST(memfile_range_bad_args)
{
	static const range_fn fns[] = { cv_memfile_incref, cv_memfile_decref, cv_memfile_decommit };
	static const struct {
		uint64_t off, len;
		int err;
	} cases[] = {
		{ 0, 0, -EINVAL },                        /* zero length */
		{ 1, PG, -EINVAL },                       /* unaligned offset */
		{ 0, PG + 1, -EINVAL },                   /* unaligned length */
		{ UINT64_MAX & ~(PG - 1), 2 * PG, -EINVAL }, /* overflow */
		{ 4 * PG, PG, -ENOENT },                  /* free page */
		{ 1ull << 40, PG, -ENOENT },              /* beyond the file and max size */
		{ 3 * PG, 2 * PG, -ENOENT },              /* allocated, then free */
		{ 0, 8 * PG, -ENOENT },                   /* allocated runs around a hole */
		{ 4 * PG, 2 * PG, -ENOENT },              /* free, then allocated */
		{ 6 * PG, 4 * PG, -ENOENT },              /* allocated, then never-allocated */
	};
	struct cv_memfile *mf = new_memfile(64 * PG);
	struct snapshot snap;
	uint64_t off;

	/* Pages 0-3 allocated with counts 1,2,2,1; page 4 free (a hole); pages 5-7 allocated. */
	ASSERT_OK(cv_memfile_alloc(mf, 8 * PG, 0, &off));
	ASSERT_EQ(off, 0);
	for (int i = 0; i < 8; i++)
		*ptr_of(mf, (uint64_t)i * PG, 1) = (uint8_t)(i + 1);
	ASSERT_OK(cv_memfile_incref(mf, PG, 2 * PG));
	ASSERT_OK(cv_memfile_decref(mf, 4 * PG, PG));
	ASSERT_EQ(cv_memfile_refcount(mf, 2 * PG), 2);
	ASSERT_EQ(cv_memfile_refcount(mf, 4 * PG), 0);

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		for (size_t f = 0; f < ARRAY_SIZE(fns); f++) {
			uint64_t o = cases[i].off, l = cases[i].len;
			take_snapshot(mf, &snap);
			int r = fns[f](mf, o, l);
			if (r != cases[i].err)
				HARNESS_FAIL(0, "case %zu fn %zu: got %d, want %d", i, f, r, cases[i].err);
			expect_unchanged(mf, &snap, __LINE__);
			EXPECT_EQ(fns[f](NULL, 0, PG), -EINVAL);
		}
	}
	EXPECT_EQ(cv_memfile_refcount(mf, 0), 1);
	EXPECT_EQ(cv_memfile_refcount(mf, PG), 2);
	EXPECT_EQ(cv_memfile_refcount(mf, 7 * PG), 1);
	cv_memfile_close(mf);
}

TEST(memfile_misc_bad_args)
{
	struct cv_memfile *mf = new_memfile(64 * PG);
	struct cv_memfile_usage u;
	struct snapshot snap;
	uint64_t off = 12345;
	void *p = &p;

	ASSERT_OK(cv_memfile_alloc(mf, 2 * PG, 0, &off));
	take_snapshot(mf, &snap);
	off = 12345;
	EXPECT_EQ(cv_memfile_alloc(NULL, PG, 0, &off), -EINVAL);
	EXPECT_EQ(cv_memfile_alloc(mf, 0, 0, &off), -EINVAL);
	EXPECT_EQ(cv_memfile_alloc(mf, PG + 1, 0, &off), -EINVAL);
	EXPECT_EQ(cv_memfile_alloc(mf, PG, 8, &off), -EINVAL);
	EXPECT_EQ(cv_memfile_alloc(mf, PG, 0, NULL), -EINVAL);
	EXPECT_EQ(cv_memfile_alloc(mf, UINT64_MAX & ~(PG - 1), 0, &off), -ENOMEM);
	EXPECT_EQ(cv_memfile_alloc(mf, 128 * PG, 0, &off), -ENOMEM);
	EXPECT_EQ(off, 12345);
	expect_unchanged(mf, &snap, __LINE__);

	EXPECT_EQ(cv_memfile_ptr(NULL, 0, PG, &p), -EINVAL);
	EXPECT_EQ(cv_memfile_ptr(mf, 0, PG, NULL), -EINVAL);
	EXPECT_EQ(cv_memfile_ptr(mf, 64 * PG, 1, &p), -EFAULT);
	EXPECT_EQ(cv_memfile_ptr(mf, 63 * PG, 2 * PG, &p), -EFAULT);
	EXPECT_EQ(cv_memfile_ptr(mf, PG, UINT64_MAX, &p), -EFAULT);
	EXPECT_TRUE(p == &p);
	EXPECT_OK(cv_memfile_ptr(mf, 10 * PG, PG, &p)); /* within the file, not allocated: allowed */

	EXPECT_EQ(cv_memfile_usage(NULL, &u), -EINVAL);
	EXPECT_EQ(cv_memfile_usage(mf, NULL), -EINVAL);
	EXPECT_EQ(cv_memfile_refcount(NULL, 0), -EINVAL);
	EXPECT_EQ(cv_memfile_refcount(mf, 1), -EINVAL);
	EXPECT_EQ(cv_memfile_refcount(mf, 64 * PG), -EINVAL);
	EXPECT_EQ(cv_memfile_refcount(mf, 63 * PG), 0);
	EXPECT_EQ(cv_memfile_fd(NULL), -EINVAL);
	cv_memfile_close(NULL);
	expect_unchanged(mf, &snap, __LINE__);
	cv_memfile_close(mf);
}

#define MODEL_PAGES 96
#define MODEL_OPS 20000

/*
 * Random incref/decref/decommit/alloc on a small file, checked page by page against a plain
 * reference-count array: exercises extent splitting, merging and free-range coalescing.
 */
TEST(memfile_model)
{
	struct cv_memfile *mf = new_memfile(MODEL_PAGES * PG);
	int model[MODEL_PAGES] = { 0 };
	unsigned seed = 12345;
	uint64_t allocated = 0;

	for (int op = 0; op < MODEL_OPS; op++) {
		unsigned r = (unsigned)rand_r(&seed);
		uint64_t first = r % MODEL_PAGES, n = 1 + (r >> 8) % 8, off;
		if (first + n > MODEL_PAGES)
			n = MODEL_PAGES - first;
		bool all_allocated = true;
		for (uint64_t i = first; i < first + n; i++)
			all_allocated &= model[i] > 0;
		int want = all_allocated ? 0 : -ENOENT, got;

		switch ((r >> 16) % 4) {
		case 0:
			got = cv_memfile_alloc(mf, n * PG, 0, &off);
			if (got == 0) {
				/* First fit: must be the lowest run of n free pages. */
				uint64_t expect = 0, run = 0;
				for (uint64_t i = 0; i < MODEL_PAGES && run < n; i++) {
					run = model[i] ? 0 : run + 1;
					expect = i + 1 - run;
				}
				ASSERT_EQ(off, expect * PG);
				ASSERT_TRUE(is_zero(ptr_of(mf, off, n * PG), n * PG));
				for (uint64_t i = 0; i < n; i++)
					model[off / PG + i] = 1;
				allocated += n;
			} else {
				ASSERT_EQ(got, -ENOMEM);
			}
			break;
		case 1:
			ASSERT_EQ(cv_memfile_incref(mf, first * PG, n * PG), want);
			for (uint64_t i = first; want == 0 && i < first + n; i++)
				model[i]++;
			break;
		case 2:
			ASSERT_EQ(cv_memfile_decref(mf, first * PG, n * PG), want);
			for (uint64_t i = first; want == 0 && i < first + n; i++)
				allocated -= --model[i] == 0;
			break;
		default:
			ASSERT_EQ(cv_memfile_decommit(mf, first * PG, n * PG), want);
			break;
		}
		if (op % 16 == 0 || op == MODEL_OPS - 1) {
			for (int i = 0; i < MODEL_PAGES; i++)
				if (cv_memfile_refcount(mf, (uint64_t)i * PG) != model[i])
					HARNESS_FAIL(1, "op %d: page %d has %d refs, model %d", op, i,
						     cv_memfile_refcount(mf, (uint64_t)i * PG), model[i]);
			ASSERT_EQ(usage_of(mf).allocated, allocated * PG);
		}
	}
	cv_memfile_close(mf);
}

#define THREADS 8
#define ITERS 3000
#define HELD 4

struct worker {
	struct cv_memfile *mf;
	unsigned seed;
	atomic_int *errors;
};

static void *alloc_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t off[HELD], len[HELD];
	int n = 0;

	for (int it = 0; it < ITERS; it++) {
		unsigned r = (unsigned)rand_r(&w->seed);
		uint64_t l = (1 + r % 16) * PG, o;
		if (cv_memfile_alloc(w->mf, l, r % 7 == 0 ? CV_ALLOC_HUGE : 0, &o) < 0) {
			atomic_fetch_add(w->errors, 1);
			break;
		}
		uint8_t *p = ptr_of(w->mf, o, l);
		uint8_t tag = (uint8_t)(w->seed | 1);
		if (p[0] || p[l - 1] || cv_memfile_refcount(w->mf, o) != 1)
			atomic_fetch_add(w->errors, 1);
		memset(p, tag, l);
		if (cv_memfile_incref(w->mf, o, l) < 0 || cv_memfile_refcount(w->mf, o + l - PG) != 2 ||
		    cv_memfile_decref(w->mf, o, l) < 0 || p[0] != tag || p[l - 1] != tag)
			atomic_fetch_add(w->errors, 1);
		off[n] = o;
		len[n++] = l;
		if (n == HELD || it == ITERS - 1) {
			/* Free in pieces: the last page first, then the rest, to exercise splitting. */
			while (n > 0) {
				n--;
				if ((len[n] > PG && cv_memfile_decref(w->mf, off[n] + len[n] - PG, PG) < 0) ||
				    cv_memfile_decref(w->mf, off[n], len[n] > PG ? len[n] - PG : PG) < 0)
					atomic_fetch_add(w->errors, 1);
			}
		}
	}
	return NULL;
}

static void threads_on(uint32_t flags)
{
	const uint64_t max = 256 * MIB;
	struct cv_memfile *mf = new_memfile_flags(max, flags);
	pthread_t th[THREADS];
	struct worker w[THREADS];
	atomic_int errors = 0;
	uint64_t off;

	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){ .mf = mf, .seed = (unsigned)i * 7919u + 1, .errors = &errors };
		ASSERT_EQ(pthread_create(&th[i], NULL, alloc_worker, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(atomic_load(&errors), 0);

	struct cv_memfile_usage u = usage_of(mf);
	EXPECT_EQ(u.allocated, 0);
	EXPECT_EQ(u.committed, 0); /* every freed page was punched out */
	for (uint64_t o = 0; o < u.file_size; o += 61 * PG)
		EXPECT_EQ(cv_memfile_refcount(mf, o), 0);
	/* The free ranges must have coalesced back into one. */
	ASSERT_OK(cv_memfile_alloc(mf, max, 0, &off));
	EXPECT_EQ(off, 0);
	EXPECT_EQ(cv_memfile_refcount(mf, max - PG), 1);
	ASSERT_OK(cv_memfile_decref(mf, 0, max));
	EXPECT_EQ(usage_of(mf).allocated, 0);
	cv_memfile_close(mf);
}

TEST(memfile_threads)
{
	threads_on(0);
}

/* The same with freed pages punched out by the cleaner thread (CV_MEMFILE_ASYNC_FREE). */
TEST(memfile_threads_async_free)
{
	threads_on(CV_MEMFILE_ASYNC_FREE);
}

/*
 * CV_MEMFILE_ASYNC_FREE: a freed page is never handed out before it reads as zero, allocations never
 * overlap what is held, a full file waits for the cleaner instead of failing, usage counts nothing
 * committed once all is free, and close joins the cleaner.
 */
TEST(memfile_async_free)
{
	int threads = count_threads();
	struct cv_memfile *mf = new_memfile_flags(64 * PG, CV_MEMFILE_ASYNC_FREE);
	uint8_t held[64] = { 0 };
	uint64_t off[16], len[16];
	int n = 0;
	unsigned seed = 4242;
	for (int it = 0; it < 3000; it++) {
		unsigned r = (unsigned)rand_r(&seed);
		if (n < 16 && (r & 1)) {
			uint64_t l = (1 + (r >> 4) % 6) * PG, o;
			if (cv_memfile_alloc(mf, l, 0, &o) < 0)
				continue; /* full of held pages: ENOMEM is right */
			ASSERT_TRUE(is_zero(ptr_of(mf, o, l), l));
			for (uint64_t p = o / PG; p < (o + l) / PG; p++) {
				ASSERT_EQ(held[p], 0);
				held[p] = 1;
			}
			memset(ptr_of(mf, o, l), 0xa5, l);
			off[n] = o;
			len[n++] = l;
		} else if (n > 0) {
			int k = (int)((r >> 8) % (unsigned)n);
			ASSERT_OK(cv_memfile_decref(mf, off[k], len[k]));
			for (uint64_t p = off[k] / PG; p < (off[k] + len[k]) / PG; p++)
				held[p] = 0;
			off[k] = off[--n];
			len[k] = len[n];
		}
	}
	while (n > 0) {
		n--;
		ASSERT_OK(cv_memfile_decref(mf, off[n], len[n]));
	}
	uint64_t o;
	ASSERT_OK(cv_memfile_alloc(mf, 64 * PG, 0, &o)); /* every page, clean or about to be */
	EXPECT_EQ(o, 0);
	EXPECT_TRUE(is_zero(ptr_of(mf, 0, 64 * PG), 64 * PG));
	ASSERT_OK(cv_memfile_decref(mf, 0, 64 * PG));
	struct cv_memfile_usage u = usage_of(mf);
	EXPECT_EQ(u.allocated, 0);
	EXPECT_EQ(u.committed, 0);
	EXPECT_TRUE(count_threads() > threads); /* the cleaner runs */
	cv_memfile_close(mf);
	EXPECT_EQ(count_threads_settled(threads), threads);
}

/*
 * In a 128-page file with CV_MEMFILE_ASYNC_FREE: 64 pages written and freed, then 8 with one page written
 * and freed, and 64 asked for with CV_ALLOC_REPORT_WARM. 56 clean pages are left besides, so 64 fit only
 * in the first 64, once the cleaner is through with them: warm (1). Stores that allocation in *@o.
 */
static struct cv_memfile *warm_setup(uint64_t *o)
{
	struct cv_memfile *mf = new_memfile_flags(128 * PG, CV_MEMFILE_ASYNC_FREE);
	uint64_t a, b;
	ASSERT_OK(cv_memfile_alloc(mf, 64 * PG, 0, &a));
	ASSERT_OK(cv_memfile_alloc(mf, 8 * PG, 0, &b));
	memset(ptr_of(mf, a, 64 * PG), 0xa5, 64 * PG);
	memset(ptr_of(mf, b, PG), 0x5a, PG); /* one page of eight */
	ASSERT_OK(cv_memfile_decref(mf, a, 64 * PG));
	ASSERT_OK(cv_memfile_decref(mf, b, 8 * PG));
	EXPECT_EQ(cv_memfile_alloc(mf, 64 * PG, CV_ALLOC_REPORT_WARM, o), 1);
	EXPECT_EQ(*o, a);
	EXPECT_TRUE(is_zero(ptr_of(mf, *o, 64 * PG), 64 * PG));
	return mf;
}

/*
 * CV_MEMFILE_ASYNC_FREE keeps a freed extent whose every page is committed that way, zeroed in place
 * (warm), and hands it out first: CV_ALLOC_REPORT_WARM says so with 1. One with a page never touched is
 * punched out instead (0). Warm pages read as zero, stay committed, and usage() punches them out.
 */
TEST(memfile_warm_reuse)
{
	uint64_t o;
	struct cv_memfile *mf = warm_setup(&o);
	unsigned char in[64];
	ASSERT_OK(mincore(ptr_of(mf, o, 64 * PG), 64 * PG, in));
	for (int i = 0; i < 64; i++)
		EXPECT_EQ(in[i] & 1, 1);
	EXPECT_GE(usage_of(mf).committed, 64 * PG);
	/* b's eight pages (and the rest): punched out, not warm; without the flag the result is 0 anyway. */
	uint64_t c;
	EXPECT_EQ(cv_memfile_alloc(mf, 64 * PG, CV_ALLOC_REPORT_WARM, &c), 0);
	EXPECT_TRUE(is_zero(ptr_of(mf, c, 64 * PG), 64 * PG));
	ASSERT_OK(cv_memfile_decref(mf, c, 64 * PG));
	memset(ptr_of(mf, o, 64 * PG), 0x33, 64 * PG);
	ASSERT_OK(cv_memfile_decref(mf, o, 64 * PG));
	EXPECT_EQ(cv_memfile_alloc(mf, 128 * PG, 0, &o), 0); /* warm and clean pages together: a clean fit */
	EXPECT_TRUE(is_zero(ptr_of(mf, 0, 128 * PG), 128 * PG));
	ASSERT_OK(cv_memfile_decref(mf, o, 128 * PG));
	struct cv_memfile_usage u = usage_of(mf);
	EXPECT_EQ(u.allocated, 0);
	EXPECT_EQ(u.committed, 0); /* warm pages too are punched out for usage() */
	cv_memfile_close(mf);
}

/* Room made of warm and clean free extents (which never merge) is room: an allocation that needs both
 * gets them, the warm ones punched out first, and reads as zero (it failed with ENOMEM before). */
TEST(memfile_warm_and_clean_room)
{
	struct cv_memfile *mf = new_memfile_flags(128 * PG, CV_MEMFILE_ASYNC_FREE);
	uint64_t o[4];
	for (int i = 0; i < 4; i++) {
		ASSERT_OK(cv_memfile_alloc(mf, 32 * PG, 0, &o[i]));
		if (i % 2 == 0) /* every page committed: kept warm; the others never touched: punched */
			memset(ptr_of(mf, o[i], 32 * PG), 0xc3, 32 * PG);
	}
	for (int i = 0; i < 4; i++)
		ASSERT_OK(cv_memfile_decref(mf, o[i], 32 * PG));
	uint64_t all;
	EXPECT_EQ(cv_memfile_alloc(mf, 128 * PG, CV_ALLOC_REPORT_WARM, &all), 0);
	EXPECT_EQ(all, 0);
	EXPECT_TRUE(is_zero(ptr_of(mf, all, 128 * PG), 128 * PG));
	ASSERT_OK(cv_memfile_decref(mf, all, 128 * PG));
	cv_memfile_close(mf);
}

/* Warm pages nobody makes or takes for a second are punched out by the cleaner: an idle sandbox gives
 * them back. Seen in the memfd's own block count (usage() would punch them itself). */
TEST(memfile_warm_idle_release)
{
	uint64_t o;
	struct cv_memfile *mf = warm_setup(&o);
	memset(ptr_of(mf, o, 64 * PG), 0x78, 64 * PG);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ASSERT_OK(cv_memfile_decref(mf, o, 64 * PG)); /* warm again once cleaned, from then on idle */
	struct stat st;
	int64_t ms;
	do {
		usleep(20000);
		ASSERT_OK(fstat(cv_memfile_fd(mf), &st));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	} while (st.st_blocks && ms < 30000); /* (a bound for a stuck cleaner, never reached when it works) */
	EXPECT_EQ(st.st_blocks, 0);
	/* Not at once: kept warm a second from the cleaning, which came after t0 (a lower bound that a busy
	 * machine only makes longer). */
	EXPECT_GE(ms, 990);
	ASSERT_OK(cv_memfile_alloc(mf, 128 * PG, 0, &o));
	EXPECT_TRUE(is_zero(ptr_of(mf, o, 128 * PG), 128 * PG));
	cv_memfile_close(mf);
}

struct fence_lowerer {
	struct cv_memfile *mf;
	uint64_t fence;
	atomic_bool down;
	pthread_t t;
};

static void *lower_later(void *arg)
{
	struct fence_lowerer *l = arg;
	usleep(50000);
	atomic_store(&l->down, true);
	memfile_fence_down(l->mf, l->fence);
	return NULL;
}

/*
 * Fences (a platform's stub that ends after its release): a page freed while one is up is not handed
 * out again until it is down — a full file waits for it — while pages freed before it, or freed under a
 * newer fence once the older ones are down, are; with the cleaner and without.
 */
static void fences_run(uint32_t flags)
{
	struct cv_memfile *mf = new_memfile_flags(16 * PG, flags);
	uint64_t a, b, o;
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &a));
	memset(ptr_of(mf, a, PG), 0x5a, PG);
	struct fence_lowerer l = { .mf = mf, .fence = memfile_fence_up(mf) };
	ASSERT_NE(l.fence, 0);
	ASSERT_OK(cv_memfile_decref(mf, a, PG));
	uint64_t rest[15];
	for (int i = 0; i < 15; i++) {
		ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &rest[i]));
		ASSERT_NE(rest[i], a);
	}
	ASSERT_OK(pthread_create(&l.t, NULL, lower_later, &l));
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &o)); /* the one page left: waits for the fence */
	EXPECT_TRUE(atomic_load(&l.down));
	EXPECT_EQ(o, a);
	EXPECT_TRUE(is_zero(ptr_of(mf, o, PG), PG));
	pthread_join(l.t, NULL);
	/* Freed before a fence went up: handed out under it. */
	b = rest[0];
	ASSERT_OK(cv_memfile_decref(mf, b, PG));
	uint64_t f2 = memfile_fence_up(mf);
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &o));
	EXPECT_EQ(o, b);
	/* Freed under f2, then f3 up: lowering f2 frees it for use, f3 still up. */
	ASSERT_OK(cv_memfile_decref(mf, b, PG));
	uint64_t f3 = memfile_fence_up(mf);
	memfile_fence_down(mf, f2);
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &o));
	EXPECT_EQ(o, b);
	memfile_fence_down(mf, f3);
	ASSERT_OK(cv_memfile_decref(mf, o, PG));
	ASSERT_OK(cv_memfile_decref(mf, a, PG));
	for (int i = 1; i < 15; i++)
		ASSERT_OK(cv_memfile_decref(mf, rest[i], PG));
	struct cv_memfile_usage u = usage_of(mf);
	EXPECT_EQ(u.allocated, 0);
	EXPECT_EQ(u.committed, 0);
	cv_memfile_close(mf);
}

TEST(memfile_fences)
{
	fences_run(0);
	fences_run(CV_MEMFILE_ASYNC_FREE);
}

static bool maps_mention(const char *needle)
{
	char line[512];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "re");
	ASSERT_TRUE(f != NULL);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

TEST(memfile_close_releases_fd)
{
	struct cv_memfile_opts o = { .size = sizeof(o), .name = "cvisor-close-test" };
	struct cv_memfile *mf;
	uint64_t off;

	int before = count_fds();
	ASSERT_OK(cv_memfile_new(&o, &mf));
	EXPECT_EQ(count_fds(), before + 1);
	ASSERT_OK(cv_memfile_alloc(mf, CV_MEMFILE_CHUNK + PG, 0, &off));
	EXPECT_TRUE(maps_mention("cvisor-close-test"));
	cv_memfile_close(mf);
	EXPECT_EQ(count_fds(), before);
	EXPECT_FALSE(maps_mention("cvisor-close-test"));
}

static atomic_bool churn_stop;

/* Create and close memfiles in a loop, to race memfile_lookup_fd() against registry changes. */
static void *churn(void *arg)
{
	while (!atomic_load(&churn_stop)) {
		struct cv_memfile *mf;
		if (cv_memfile_new(NULL, &mf) == 0)
			cv_memfile_close(mf);
	}
	return arg;
}

TEST(memfile_lookup_fd)
{
	struct cv_memfile *a = new_memfile(0), *b = new_memfile(32 * PG);
	pthread_t th;
	uint64_t off, size = 1;
	void *base = NULL, *p;

	EXPECT_FALSE(memfile_lookup_fd(-1, &base, &size));
	EXPECT_FALSE(memfile_lookup_fd(STDIN_FILENO, &base, &size));
	ASSERT_OK(cv_memfile_alloc(a, PG, 0, &off));
	ASSERT_TRUE(memfile_lookup_fd(cv_memfile_fd(a), &base, &size));
	ASSERT_OK(cv_memfile_ptr(a, 0, PG, &p));
	EXPECT_TRUE(base == p);
	EXPECT_EQ(size, CV_MEMFILE_CHUNK);
	ASSERT_TRUE(memfile_lookup_fd(cv_memfile_fd(b), &base, &size));
	EXPECT_EQ(size, 0); /* nothing allocated yet: the file is still empty */

	atomic_store(&churn_stop, false);
	ASSERT_EQ(pthread_create(&th, NULL, churn, NULL), 0);
	for (int i = 0; i < 2000; i++) {
		if (!memfile_lookup_fd(cv_memfile_fd(a), &base, &size) || base != p)
			HARNESS_FAIL(1, "live memfile not found during churn (iteration %d)", i);
	}
	atomic_store(&churn_stop, true);
	pthread_join(th, NULL);

	int fd = cv_memfile_fd(b);
	cv_memfile_close(b);
	EXPECT_FALSE(memfile_lookup_fd(fd, &base, &size));
	EXPECT_TRUE(memfile_lookup_fd(cv_memfile_fd(a), NULL, NULL));
	cv_memfile_close(a);
}
