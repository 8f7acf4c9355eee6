// SPDX-License-Identifier: Apache-2.0
// cv_as_map() of what is already mapped there, with other access: the core turns it into a protection
// change where the backend can (the host keeps its page tables). Whatever it does, the application must
// see exactly what a fresh mapping would give: the same data, the new access, holes and other files
// mapped for real, and a file opened read-only never becoming writable through the back door.
#include <fcntl.h>
#include <sys/mman.h>
#include "as_util.h"

#define DATA GUEST_DATA_ADDR
#define R CV_ACCESS_READ
#define RW (CV_ACCESS_READ | CV_ACCESS_WRITE)

PLATFORM_TEST(as_protect_same_backing)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	int fd = cv_memfile_fd(g.mf);
	uint64_t *a;
	uint64_t off = mf_alloc(&g, 4 * PG, (void **)&a);
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off, 4 * PG, RW, false));
	for (uint64_t i = 0; i < 4; i++)
		guest_store(&g, DATA + i * PG + 8, 0x10 + i);

	/* The same pages read-only: the data stays, stores fault. */
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off, 4 * PG, R, false));
	for (uint64_t i = 0; i < 4; i++)
		EXPECT_EQ(guest_load(&g, DATA + i * PG + 8), 0x10 + i);
	struct cv_exit e = guest_fault(&g, RW_STORE, DATA + 2 * PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);

	/* The middle two writable again (a split), then the whole range across the pieces. */
	ASSERT_OK(cv_as_map(g.as, DATA + PG, fd, off + PG, 2 * PG, RW, false));
	guest_store(&g, DATA + PG + 16, 0x21);
	guest_store(&g, DATA + 2 * PG + 16, 0x22);
	e = guest_fault(&g, RW_STORE, DATA, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	e = guest_fault(&g, RW_STORE, DATA + 3 * PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off, 4 * PG, RW, false));
	guest_store(&g, DATA + 16, 0x20);
	guest_store(&g, DATA + 3 * PG + 16, 0x23);
	for (uint64_t i = 0; i < 4; i++) {
		EXPECT_EQ(a[i * PG / 8 + 1], 0x10 + i);
		EXPECT_EQ(a[i * PG / 8 + 2], 0x20 + i);
	}
	/* No access at all, then back: still the same memory. */
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off, 4 * PG, 0, false));
	e = guest_fault(&g, RW_LOAD, DATA + PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off, 4 * PG, R, false));
	EXPECT_EQ(guest_load(&g, DATA + PG + 16), 0x21);
	/* AS IO sees the table's view throughout. */
	uint64_t v = 0;
	if (g.caps.supports_as_io) {
		EXPECT_EQ(cv_as_copy_in(g.as, DATA + 3 * PG + 16, &v, 8), 8);
		EXPECT_EQ(v, 0x23);
	}
	guest_teardown(&g);
}

PLATFORM_TEST(as_protect_is_not_a_remap_elsewhere)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	int fd = cv_memfile_fd(g.mf);
	uint64_t *a;
	uint64_t off = mf_alloc(&g, 3 * PG, (void **)&a);
	a[0] = 1;
	a[PG / 8] = 2;
	a[2 * PG / 8] = 3;
	/* Pages 0 and 2 mapped, page 1 a hole: mapping all three is a real mapping of page 1. */
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off, PG, R, false));
	ASSERT_OK(cv_as_map(g.as, DATA + 2 * PG, fd, off + 2 * PG, PG, R, false));
	guest_fault(&g, RW_LOAD, DATA + PG, SIGSEGV);
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off, 3 * PG, RW, false));
	EXPECT_EQ(guest_load(&g, DATA + PG), 2);
	guest_store(&g, DATA + PG + 8, 0x99);
	EXPECT_EQ(a[PG / 8 + 1], 0x99);
	/* The same file at a shifted offset is other pages: they show. */
	ASSERT_OK(cv_as_map(g.as, DATA, fd, off + PG, 2 * PG, RW, false));
	EXPECT_EQ(guest_load(&g, DATA), 2);
	EXPECT_EQ(guest_load(&g, DATA + PG), 3);
	EXPECT_EQ(guest_load(&g, DATA + 2 * PG), 3);
	guest_teardown(&g);
}

PLATFORM_TEST(as_protect_read_only_fd_stays_read_only)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	char path[] = "/tmp/cvisor-as-protect-XXXXXX";
	int wfd = mkostemp(path, O_CLOEXEC);
	ASSERT_GE(wfd, 0);
	uint64_t v = 0x4141;
	ASSERT_OK(ftruncate(wfd, 2 * PG));
	ASSERT_EQ(pwrite(wfd, &v, 8, PG), 8);
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(rfd, 0);
	unlink(path);
	/* Mapped through a read-only fd, the host's mapping can never become writable... */
	ASSERT_OK(cv_as_map(g.as, DATA, rfd, 0, 2 * PG, R, false));
	EXPECT_EQ(guest_load(&g, DATA + PG), 0x4141);
	EXPECT_EQ(cv_as_map(g.as, DATA, rfd, 0, 2 * PG, RW, false), -EACCES);
	/* ...so the same pages writable through a writable fd are mapped anew, and writes reach the file. */
	ASSERT_OK(cv_as_map(g.as, DATA, wfd, 0, 2 * PG, RW, false));
	guest_store(&g, DATA + PG + 8, 0x4242);
	uint64_t r = 0;
	ASSERT_EQ(pread(wfd, &r, 8, PG + 8), 8);
	EXPECT_EQ(r, 0x4242);
	/* Read-only again, and writable again (now a protection change of a writable mapping). */
	ASSERT_OK(cv_as_map(g.as, DATA, rfd, 0, 2 * PG, R, false));
	struct cv_exit e = guest_fault(&g, RW_STORE, DATA + 8, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	ASSERT_OK(cv_as_map(g.as, DATA, wfd, 0, 2 * PG, RW, false));
	guest_store(&g, DATA + 8, 0x4343);
	ASSERT_EQ(pread(wfd, &r, 8, 8), 8);
	EXPECT_EQ(r, 0x4343);
	close(rfd);
	close(wfd);
	guest_teardown(&g);
}

PLATFORM_TEST(as_protect_in_a_batch)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	int fd = cv_memfile_fd(g.mf);
	uint64_t *a, *b;
	uint64_t oa = mf_alloc(&g, 2 * PG, (void **)&a), ob = mf_alloc(&g, PG, (void **)&b);
	a[0] = 0xa0;
	a[PG / 8] = 0xa1;
	b[0] = 0xb0;
	ASSERT_OK(cv_as_map(g.as, DATA, fd, oa, 2 * PG, RW, false));
	/* One request: page 0 read-only (a protection change), page 1 replaced by b, then page 1 back
	 * to a's second page read-only (it overlaps an earlier entry: mapped for real, in order). */
	struct cv_as_mapping m[3] = {
		{ .addr = DATA, .fd = fd, .offset = oa, .len = PG, .access = R },
		{ .addr = DATA + PG, .fd = fd, .offset = ob, .len = PG, .access = RW },
		{ .addr = DATA + PG, .fd = fd, .offset = oa + PG, .len = PG, .access = R },
	};
	size_t done = 0;
	ASSERT_OK(cv_as_map_many(g.as, m, 3, &done));
	EXPECT_EQ(done, 3u);
	EXPECT_EQ(guest_load(&g, DATA), 0xa0);
	EXPECT_EQ(guest_load(&g, DATA + PG), 0xa1);
	guest_fault(&g, RW_STORE, DATA, SIGSEGV);
	guest_fault(&g, RW_STORE, DATA + PG, SIGSEGV);
	/* And both writable again in one request of two protection changes. */
	m[0].access = m[2].access = RW;
	m[1] = m[2];
	ASSERT_OK(cv_as_map_many(g.as, m, 2, &done));
	guest_store(&g, DATA + 8, 0xc0);
	guest_store(&g, DATA + PG + 8, 0xc1);
	EXPECT_EQ(a[1], 0xc0);
	EXPECT_EQ(a[PG / 8 + 1], 0xc1);
	EXPECT_EQ(b[1], 0);
	guest_teardown(&g);
}
