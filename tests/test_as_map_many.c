// SPDX-License-Identifier: Apache-2.0
// cv_as_map_many(): several mappings in one request, in order, stopping at the first failure.
#include <fcntl.h>
#include "as_util.h"

#define DATA 0x10000000ull
#define R CV_ACCESS_READ

/* @n one-page mappings at DATA + 2 pages * i, each of its own memory-file page holding i * 3 + 1. */
static void fill(struct guest *g, struct cv_as_mapping *m, int n)
{
	for (int i = 0; i < n; i++) {
		uint64_t *p;
		uint64_t off = mf_alloc(g, PG, (void **)&p);
		*p = (uint64_t)i * 3 + 1;
		m[i] = (struct cv_as_mapping){ .addr = DATA + 2 * PG * (uint64_t)i, .offset = off, .len = PG,
					       .fd = cv_memfile_fd(g->mf), .access = R, .precommit = i % 2 };
	}
}

PLATFORM_TEST(as_map_many_all)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	struct cv_as_mapping m[70]; /* more than one request's worth */
	fill(&g, m, 70);
	size_t done = 99;
	ASSERT_OK(cv_as_map_many(g.as, m, 70, &done));
	EXPECT_EQ(done, 70u);
	for (int i = 0; i < 70; i++) {
		EXPECT_EQ(guest_load(&g, m[i].addr), (uint64_t)i * 3 + 1);
		uint64_t v = 0; /* the sentry-side view knows them too */
		EXPECT_EQ(cv_as_copy_in(g.as, m[i].addr, &v, 8), 8);
		EXPECT_EQ(v, (uint64_t)i * 3 + 1);
	}
	guest_fault(&g, RW_LOAD, DATA + PG, SIGSEGV); /* the gaps stay unmapped */
	EXPECT_OK(cv_as_map_many(g.as, m, 0, &done));
	EXPECT_EQ(done, 0u);
	EXPECT_OK(cv_as_map_many(g.as, NULL, 0, NULL));
	EXPECT_EQ(cv_as_map_many(g.as, NULL, 1, &done), -EINVAL);
	EXPECT_EQ(cv_as_map_many(NULL, m, 1, &done), -EINVAL);
	EXPECT_EQ(done, 0u);
	guest_teardown(&g);
}

PLATFORM_TEST(as_map_many_stops_at_failure)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	struct cv_as_mapping m[6];
	fill(&g, m, 6);
	/* Bad arguments: the ones before are made, nothing after. */
	m[2].offset += 1;
	size_t done = 99;
	EXPECT_EQ(cv_as_map_many(g.as, m, 6, &done), -EINVAL);
	EXPECT_EQ(done, 2u);
	EXPECT_EQ(guest_load(&g, m[0].addr), 1u);
	EXPECT_EQ(guest_load(&g, m[1].addr), 4u);
	guest_fault(&g, RW_LOAD, m[2].addr, SIGSEGV);
	guest_fault(&g, RW_LOAD, m[3].addr, SIGSEGV);
	m[2].offset -= 1;
	/* A failure in the address space itself (a device that cannot be mapped). */
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(null >= 0);
	m[4].fd = null;
	m[4].offset = 0;
	EXPECT_EQ(cv_as_map_many(g.as, m + 2, 4, &done), -ENODEV);
	EXPECT_EQ(done, 2u);
	EXPECT_EQ(guest_load(&g, m[2].addr), 7u);
	EXPECT_EQ(guest_load(&g, m[3].addr), 10u);
	guest_fault(&g, RW_LOAD, m[4].addr, SIGSEGV);
	guest_fault(&g, RW_LOAD, m[5].addr, SIGSEGV);
	/* No write access through a read-only fd: -EACCES before anything is made. */
	int ro = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ASSERT_TRUE(ro >= 0);
	struct cv_as_mapping w = { .addr = m[5].addr, .len = PG, .fd = ro, .access = R | CV_ACCESS_WRITE };
	EXPECT_EQ(cv_as_map_many(g.as, &w, 1, &done), -EACCES);
	EXPECT_EQ(done, 0u);
	close(ro);
	close(null);
	guest_teardown(&g);
}
