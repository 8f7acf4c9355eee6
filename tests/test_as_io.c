// SPDX-License-Identifier: Apache-2.0
// Tests of address-space IO (cv_as_copy_in/out, zero_out) against what the guest sees, files included.
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include "as_util.h"

#define DATA GUEST_DATA_ADDR
#define RW (CV_ACCESS_READ | CV_ACCESS_WRITE)

PLATFORM_TEST(as_io_agrees_with_guest)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	uint8_t *d = guest_map_anon(&g, DATA, 3 * PG, RW, NULL);

	/* copy_out across a page boundary; the guest reads the straddling word. */
	uint64_t v = 0x0102030405060708ull;
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + PG - 4, &v, 8), 8);
	EXPECT_EQ(guest_load(&g, DATA + PG - 4), v);
	EXPECT_EQ(memcmp(d + PG - 4, &v, 8), 0);

	/* The guest writes across the next boundary; copy_in sees it. */
	guest_store(&g, DATA + 2 * PG - 3, 0x1122334455667788ull);
	uint64_t r = 0;
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 2 * PG - 3, &r, 8), 8);
	EXPECT_EQ(r, 0x1122334455667788ull);

	/* A big copy over all three pages round-trips and matches the memory file. */
	static uint8_t buf[3 * PG], back[3 * PG];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 3);
	EXPECT_EQ(cv_as_copy_out(g.as, DATA, buf, sizeof(buf)), (long)sizeof(buf));
	EXPECT_EQ(memcmp(d, buf, sizeof(buf)), 0);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, back, sizeof(back)), (long)sizeof(back));
	EXPECT_EQ(memcmp(back, buf, sizeof(buf)), 0);
	uint64_t want;
	memcpy(&want, buf + 2 * PG + 100, 8);
	EXPECT_EQ(guest_load(&g, DATA + 2 * PG + 100), want);

	/* zero_out across a boundary: the guest reads zeroes, bytes around it survive. */
	EXPECT_EQ(cv_as_zero_out(g.as, DATA + PG - 8, 16), 16);
	EXPECT_EQ(guest_load(&g, DATA + PG - 8), 0);
	EXPECT_EQ(guest_load(&g, DATA + PG), 0);
	EXPECT_EQ(d[PG - 9], buf[PG - 9]);
	EXPECT_EQ(d[PG + 8], buf[PG + 8]);

	/* Zero-length IO transfers nothing, even at an unmapped address. */
	EXPECT_EQ(cv_as_copy_in(g.as, 0x1000, back, 0), 0);
	EXPECT_EQ(cv_as_copy_out(g.as, 0x1000, buf, 0), 0);
	EXPECT_EQ(cv_as_zero_out(g.as, 0x1000, 0), 0);
	guest_teardown(&g);
}

PLATFORM_TEST(as_io_across_mappings)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	int fd = cv_memfile_fd(g.mf);
	uint8_t *a, *b;
	uint64_t oa = mf_alloc(&g, PG, (void **)&a);
	mf_alloc(&g, PG, NULL); /* keep a and b apart in the file */
	uint64_t ob = mf_alloc(&g, 2 * PG, (void **)&b);
	/* DATA: a; DATA+PG: second page of b. Adjacent in the AS, not in the file. */
	ASSERT_OK(cv_as_map(g.as, DATA, fd, oa, PG, RW, false));
	ASSERT_OK(cv_as_map(g.as, DATA + PG, fd, ob + PG, PG, RW, false));
	static uint8_t buf[2 * PG], back[2 * PG];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ (i >> 8));
	EXPECT_EQ(cv_as_copy_out(g.as, DATA, buf, sizeof(buf)), (long)sizeof(buf));
	EXPECT_EQ(memcmp(a, buf, PG), 0);
	EXPECT_EQ(memcmp(b + PG, buf + PG, PG), 0);
	for (size_t i = 0; i < PG; i++)
		ASSERT_EQ(b[i], 0);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 1, back, sizeof(back) - 1), (long)sizeof(back) - 1);
	EXPECT_EQ(memcmp(back, buf + 1, sizeof(back) - 1), 0);
	/* The guest's straddling load sees both files. */
	uint64_t want;
	memcpy(&want, buf + PG - 2, 8);
	EXPECT_EQ(guest_load(&g, DATA + PG - 2), want);
	guest_teardown(&g);
}

PLATFORM_TEST(as_io_short_counts_and_efault)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	guest_map_anon(&g, DATA, 2 * PG, RW, NULL);
	guest_map_anon(&g, DATA + 3 * PG, PG, RW, NULL); /* a hole at DATA + 2*PG */
	uint8_t buf[300];
	memset(buf, 0x3c, sizeof(buf));
	/* Running off the end of a mapping: a short count. */
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + 2 * PG - 100, buf, 200), 100);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 2 * PG - 100, buf, 200), 100);
	EXPECT_EQ(cv_as_zero_out(g.as, DATA + 2 * PG - 100, 200), 100);
	/* A long copy stops at the hole even though memory follows it. */
	static uint8_t big[4 * PG];
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, big, sizeof(big)), (long)(2 * PG));
	/* First byte unmapped: -EFAULT, even when the rest is mapped. */
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 2 * PG, buf, 10), -EFAULT);
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + 3 * PG - 1, buf, 10), -EFAULT);
	EXPECT_EQ(cv_as_zero_out(g.as, DATA - 1, 10), -EFAULT);
	EXPECT_EQ(cv_as_copy_in(g.as, 0, buf, 10), -EFAULT);
	EXPECT_EQ(cv_as_copy_in(g.as, 0x7fffffffff00ull, buf, 10), -EFAULT);
	/* Ranges that overflow the address space. */
	EXPECT_EQ(cv_as_copy_in(g.as, UINT64_MAX - 10, buf, 100), -EFAULT);
	EXPECT_EQ(cv_as_copy_out(g.as, UINT64_MAX - 10, buf, 100), -EFAULT);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, buf, SIZE_MAX), -EFAULT);
	/* Nothing was written where the short copies stopped. */
	EXPECT_EQ(guest_load(&g, DATA + 3 * PG), 0);
	guest_teardown(&g);
}

PLATFORM_TEST(as_io_permissions)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t *ro = guest_map_anon(&g, DATA, PG, CV_ACCESS_READ, NULL);
	guest_map_anon(&g, DATA + PG, PG, 0, NULL);
	guest_map_anon(&g, DATA + 2 * PG, PG, CV_ACCESS_WRITE, NULL);
	uint64_t *rw = guest_map_anon(&g, DATA + 3 * PG, PG, RW, NULL);
	guest_map_anon(&g, DATA + 4 * PG, PG, CV_ACCESS_READ, NULL);
	ro[0] = 0x1234;
	uint64_t v = 77, r = 0;
	uint32_t w;
	/* Read-only: reads and loads work, every write fails. */
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, &r, 8), 8);
	EXPECT_EQ(r, 0x1234);
	EXPECT_EQ(cv_as_copy_out(g.as, DATA, &v, 8), -EFAULT);
	EXPECT_EQ(cv_as_zero_out(g.as, DATA, 8), -EFAULT);
	EXPECT_OK(cv_as_load_u32(g.as, DATA, &w));
	EXPECT_EQ(w, 0x1234);
	EXPECT_EQ(cv_as_swap_u32(g.as, DATA, 1, &w), -EFAULT);
	EXPECT_EQ(cv_as_cas_u32(g.as, DATA, 0x1234, 1, &w), -EFAULT);
	EXPECT_EQ(ro[0], 0x1234);
	/* No access: nothing. */
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + PG, &r, 8), -EFAULT);
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + PG, &v, 8), -EFAULT);
	EXPECT_EQ(cv_as_load_u32(g.as, DATA + PG, &w), -EFAULT);
	/* Write-only: writes work, reads need READ. */
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + 2 * PG, &v, 8), 8);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 2 * PG, &r, 8), -EFAULT);
	EXPECT_EQ(cv_as_load_u32(g.as, DATA + 2 * PG, &w), -EFAULT);
	EXPECT_EQ(cv_as_swap_u32(g.as, DATA + 2 * PG, 1, &w), -EFAULT);
	/* A write running from read-write into read-only memory stops at the boundary. */
	static uint8_t buf[2 * PG];
	memset(buf, 0xee, sizeof(buf));
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + 3 * PG, buf, sizeof(buf)), (long)PG);
	EXPECT_EQ(rw[PG / 8 - 1], 0xeeeeeeeeeeeeeeeeull);
	EXPECT_EQ(guest_load(&g, DATA + 4 * PG), 0);
	/* A read from read-only into no-access memory stops too. */
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, buf, sizeof(buf)), (long)PG);
	guest_teardown(&g);
}

/* AS IO and load_u32 on a read-only file mapping whose fd was opened O_RDONLY (as for an executable). */
PLATFORM_TEST(as_io_readonly_file)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	char path[] = "/tmp/cvisor-as-io-XXXXXX";
	int wfd = mkostemp(path, O_CLOEXEC);
	ASSERT_GE(wfd, 0);
	uint32_t words[PG / 4];
	for (unsigned i = 0; i < PG / 4; i++)
		words[i] = 0xc0de0000u + i;
	ASSERT_EQ(write(wfd, words, PG), (long)PG);
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(rfd, 0);
	unlink(path);
	close(wfd);
	ASSERT_OK(cv_as_map(g.as, DATA, rfd, 0, PG, CV_ACCESS_READ, false));
	close(rfd);
	EXPECT_EQ(guest_load(&g, DATA + 40) & 0xffffffff, 0xc0de000a);
	uint32_t w = 0;
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 40, &w, 4), 4);
	EXPECT_EQ(w, 0xc0de000a);
	/* A load needs READ only, which the mapping has. */
	w = 0;
	EXPECT_OK(cv_as_load_u32(g.as, DATA + 44, &w));
	EXPECT_EQ(w, 0xc0de000b);
	EXPECT_EQ(cv_as_swap_u32(g.as, DATA + 44, 1, &w), -EFAULT);
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + 44, &w, 4), -EFAULT);
	guest_teardown(&g);
}

/*
 * One file mapped twice through two fds: first read-only through an O_RDONLY fd, then read-write
 * through an O_RDWR one. AS IO on the writable mapping must write, whichever fd came first.
 */
PLATFORM_TEST(as_io_same_file_two_fds)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	int rw = memfd_create("as-io-two-fds", MFD_CLOEXEC);
	ASSERT_GE(rw, 0);
	ASSERT_OK(ftruncate(rw, 2 * PG));
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", rw);
	int ro = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(ro, 0);
	ASSERT_OK(cv_as_map(g.as, DATA, ro, 0, 2 * PG, CV_ACCESS_READ, false));
	ASSERT_OK(cv_as_map(g.as, DATA + 16 * PG, rw, 0, 2 * PG, RW, false));
	close(ro);
	close(rw);
	uint64_t v = 0x7777aaaa5555ull, r = 0;
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + 16 * PG + PG - 4, &v, 8), 8);
	EXPECT_EQ(guest_load(&g, DATA + PG - 4), v); /* the read-only alias sees it */
	EXPECT_EQ(cv_as_zero_out(g.as, DATA + 16 * PG + PG, 4), 4);
	uint32_t old = 1;
	EXPECT_OK(cv_as_swap_u32(g.as, DATA + 16 * PG + 64, 0xabc, &old));
	EXPECT_EQ(old, 0);
	EXPECT_OK(cv_as_cas_u32(g.as, DATA + 16 * PG + 64, 0xabc, 0xdef, &old));
	EXPECT_EQ(old, 0xabc);
	EXPECT_EQ(guest_load(&g, DATA + 64) & 0xffffffff, 0xdef);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + PG - 4, &r, 8), 8);
	EXPECT_EQ(r, v & 0xffffffff);
	/* And the read-only mapping still refuses writes. */
	EXPECT_EQ(cv_as_copy_out(g.as, DATA, &v, 8), -EFAULT);
	EXPECT_EQ(cv_as_swap_u32(g.as, DATA + 64, 1, &old), -EFAULT);
	guest_teardown(&g);
}

/*
 * The application keeps its pages after the memory file is closed (memfile.h), and AS IO sees
 * exactly what the application sees: so it must keep seeing those pages, not fail, and not see a
 * new memory file that happens to reuse the old one's fd number and address.
 */
PLATFORM_TEST(as_io_memfile_closed)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	struct cv_memfile *mf;
	ASSERT_OK(cv_memfile_new(NULL, &mf));
	uint64_t off;
	uint64_t *p;
	ASSERT_OK(cv_memfile_alloc(mf, PG, 0, &off));
	ASSERT_OK(cv_memfile_ptr(mf, off, PG, (void **)&p));
	p[3] = 0x1d01d01d;
	ASSERT_OK(cv_as_map(g.as, DATA, cv_memfile_fd(mf), off, PG, RW, false));
	cv_memfile_close(mf);
	EXPECT_EQ(guest_load(&g, DATA + 24), 0x1d01d01d);
	uint64_t v = 0;
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 24, &v, 8), 8);
	EXPECT_EQ(v, 0x1d01d01d);
	/* A new memory file, likely at the same fd and address, holding something else at that offset. */
	struct cv_memfile *mf2;
	ASSERT_OK(cv_memfile_new(NULL, &mf2));
	uint64_t off2;
	ASSERT_OK(cv_memfile_alloc(mf2, PG, 0, &off2));
	ASSERT_OK(cv_memfile_ptr(mf2, off2, PG, (void **)&p));
	p[3] = 0x2e02e02e;
	EXPECT_EQ(guest_load(&g, DATA + 24), 0x1d01d01d);
	v = 0;
	long r = cv_as_copy_in(g.as, DATA + 24, &v, 8);
	EXPECT_EQ(r, 8);
	EXPECT_EQ(v, 0x1d01d01d);
	/* Writes go to the application's page, not into the new file. */
	v = 0x3f03f03f;
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + 24, &v, 8), 8);
	EXPECT_EQ(p[3], 0x2e02e02e);
	EXPECT_EQ(guest_load(&g, DATA + 24), 0x3f03f03f);
	uint32_t w = 0;
	EXPECT_OK(cv_as_load_u32(g.as, DATA + 24, &w));
	EXPECT_EQ(w, 0x3f03f03f);
	cv_memfile_close(mf2);
	guest_teardown(&g);
}

#define HAMMER_LEN (256 * PG)

struct io_hammer {
	struct cv_as *as;
	uint64_t addr;
	atomic_uint round;    /* the value the word holds in this round; 0 = stop */
	atomic_uint seen;     /* rounds in which the hammer has run at least once */
	atomic_int bad;
};

/* copy_in / load_u32 / copy_out the same word in a loop, checking it always holds the round's value. */
static void *io_hammer_thread(void *arg)
{
	struct io_hammer *h = arg;
	unsigned r;
	static uint32_t big[HAMMER_LEN / 4];
	while ((r = atomic_load(&h->round)) != 0) {
		/* A long copy keeps the file's mapping in use for a while: a close in the middle shows. */
		uint32_t w = 0;
		if (cv_as_copy_in(h->as, h->addr, big, HAMMER_LEN) != (long)HAMMER_LEN ||
		    cv_as_load_u32(h->as, h->addr, &w) != 0 || cv_as_copy_out(h->as, h->addr + 4, &r, 4) != 4) {
			atomic_store(&h->bad, 1);
			return NULL;
		}
		/* The value may already be the next round's if the main thread moved on meanwhile. */
		uint32_t v = big[0];
		if ((v != r && v != r + 1) || (w != r && w != r + 1)) {
			atomic_store(&h->bad, 2);
			return NULL;
		}
		atomic_store(&h->seen, r);
	}
	return NULL;
}

/*
 * Close memory files (and open new ones) while another thread does AS IO on mappings of them: the IO
 * keeps seeing the application's pages and never touches the closed file's old mapping in this process.
 */
PLATFORM_TEST_TIMEOUT(as_io_memfile_close_race, 120)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	struct io_hammer h = { .as = g.as, .addr = DATA };
	atomic_store(&h.round, 1);
	struct cv_memfile *mf;
	uint64_t off;
	uint32_t *p;
	ASSERT_OK(cv_memfile_new(NULL, &mf));
	ASSERT_OK(cv_memfile_alloc(mf, HAMMER_LEN, 0, &off));
	ASSERT_OK(cv_memfile_ptr(mf, off, HAMMER_LEN, (void **)&p));
	p[0] = 1;
	ASSERT_OK(cv_as_map(g.as, DATA, cv_memfile_fd(mf), off, HAMMER_LEN, RW, false));
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, io_hammer_thread, &h), 0);
	for (unsigned round = 1; round < 1000 && !atomic_load(&h.bad); round++) {
		while (atomic_load(&h.seen) != round && !atomic_load(&h.bad))
			sched_yield();
		/* Close it under the hammer, then map a new file holding the next value over it. */
		cv_memfile_close(mf);
		ASSERT_OK(cv_memfile_new(NULL, &mf));
		ASSERT_OK(cv_memfile_alloc(mf, HAMMER_LEN, 0, &off));
		ASSERT_OK(cv_memfile_ptr(mf, off, HAMMER_LEN, (void **)&p));
		p[0] = round + 1;
		ASSERT_OK(cv_as_map(g.as, DATA, cv_memfile_fd(mf), off, HAMMER_LEN, RW, false));
		atomic_store(&h.round, round + 1);
	}
	atomic_store(&h.round, 0);
	pthread_join(th, NULL);
	EXPECT_EQ(atomic_load(&h.bad), 0);
	cv_memfile_close(mf);
	guest_teardown(&g);
}

PLATFORM_TEST(as_io_bad_args)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	guest_map_anon(&g, DATA, PG, RW, NULL);
	uint8_t buf[8];
	EXPECT_EQ(cv_as_copy_in(NULL, DATA, buf, 8), -EINVAL);
	EXPECT_EQ(cv_as_copy_out(NULL, DATA, buf, 8), -EINVAL);
	EXPECT_EQ(cv_as_zero_out(NULL, DATA, 8), -EINVAL);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, NULL, 8), -EINVAL);
	EXPECT_EQ(cv_as_copy_out(g.as, DATA, NULL, 8), -EINVAL);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, NULL, 0), 0);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, buf, 8), 8);
	guest_teardown(&g);
}
