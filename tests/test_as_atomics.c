// SPDX-License-Identifier: Apache-2.0
// Tests of the address-space atomics against concurrent guest lock xadd, lock cmpxchg and xchg loops,
// on memory-file and host-file mappings.
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/mman.h>
#include "as_util.h"

#define DATA GUEST_DATA_ADDR
#define RW (CV_ACCESS_READ | CV_ACCESS_WRITE)

/*
 * The guest and the host thread keep within LAG increments of each other (whoever is ahead waits), so
 * their increments overlap in time on any machine with two CPUs, without relying on timing.
 */
#define LAG 4096
#define CAS_CODE (GUEST_CODE_ADDR + 0x100000)  /* gas_cas */
#define LOCK_CODE (GUEST_CODE_ADDR + 0x200000) /* gas_lock */

/* How the host thread increments: cas loops on the word, or plain AS IO under a swap spin lock. */
enum host_mode { HOST_CAS, HOST_LOCK };

struct inc_args {
	struct cv_as *as;
	uint64_t addr;         /* HOST_CAS: the counter; HOST_LOCK: the lock, counter at addr + 4 */
	enum host_mode mode;
	int n;
	atomic_int err;
	atomic_int host_done;  /* increments by the host thread so far */
	atomic_int guest_done; /* increments by the guest, as of its last report */
};

static int cas_increment(struct cv_as *as, uint64_t addr)
{
	uint32_t cur, old;
	int r = cv_as_load_u32(as, addr, &cur);
	while (r == 0) {
		r = cv_as_cas_u32(as, addr, cur, cur + 1, &old);
		if (r == 0 && old == cur)
			return 0;
		cur = old;
	}
	return r;
}

static int locked_increment(struct cv_as *as, uint64_t lock)
{
	uint32_t old, v;
	int r;
	do
		r = cv_as_swap_u32(as, lock, 1, &old);
	while (r == 0 && old != 0);
	if (r < 0)
		return r;
	if (cv_as_copy_in(as, lock + 4, &v, 4) != 4)
		return -EIO;
	v++;
	if (cv_as_copy_out(as, lock + 4, &v, 4) != 4)
		return -EIO;
	r = cv_as_swap_u32(as, lock, 0, &old);
	return r < 0 ? r : old == 1 ? 0 : -EPROTO; /* nobody else may release our lock */
}

static void *host_incrementer(void *arg)
{
	struct inc_args *a = arg;
	for (int i = 0; i < a->n; i++) {
		while (i - atomic_load(&a->guest_done) > LAG)
			sched_yield();
		int r = a->mode == HOST_CAS ? cas_increment(a->as, a->addr) : locked_increment(a->as, a->addr);
		if (r < 0) {
			atomic_store(&a->err, r);
			return NULL;
		}
		atomic_store(&a->host_done, i + 1);
	}
	return NULL;
}

/*
 * The guest code at @rip adds @n to the counter while a host thread adds @n its own way: the counter
 * must end at exactly 2n. Returns the counter's address.
 */
static uint64_t concurrent_increments(struct guest *g, uint64_t rip, enum host_mode mode, uint64_t addr,
				      int n)
{
	uint32_t old;
	uint64_t counter = mode == HOST_CAS ? addr : addr + 4;
	ASSERT_OK(cv_as_swap_u32(g->as, addr, 0, &old));
	ASSERT_OK(cv_as_swap_u32(g->as, counter, 0, &old));
	struct inc_args a = { .as = g->as, .addr = addr, .mode = mode, .n = n };
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, host_incrementer, &a), 0);
	g->st->regs.rip = rip;
	g->st->regs.rdi = addr;
	g->st->regs.rsi = counter;
	g->st->regs.r12 = (uint64_t)n;
	for (;;) {
		long nr = guest_run_syscall(g);
		if (nr == NR_XADD_DONE)
			break;
		ASSERT_EQ(nr, NR_XADD_TICK);
		int done = n - (int)g->st->regs.r12;
		atomic_store(&a.guest_done, done);
		while (done - atomic_load(&a.host_done) > LAG && atomic_load(&a.host_done) < n &&
		       !atomic_load(&a.err))
			sched_yield();
	}
	atomic_store(&a.guest_done, n);
	EXPECT_EQ(g->st->regs.r12, 0);
	pthread_join(th, NULL);
	EXPECT_EQ(atomic_load(&a.err), 0);
	EXPECT_EQ(atomic_load(&a.host_done), n);
	uint32_t v;
	ASSERT_OK(cv_as_load_u32(g->as, counter, &v));
	EXPECT_EQ(v, 2u * (uint32_t)n);
	if (mode == HOST_LOCK) {
		ASSERT_OK(cv_as_load_u32(g->as, addr, &v));
		EXPECT_EQ(v, 0); /* the lock ends up free */
	}
	return counter;
}

/* Guest lock xadd against host cas loops, then the atomics' own semantics and errors. */
PLATFORM_TEST_TIMEOUT(as_io_atomics, 60)
{
	struct guest g;
	setup_io(&g, platform, gas_xadd_start, gas_xadd_end);
	uint32_t *d = guest_map_anon(&g, DATA, PG, RW, NULL);
	concurrent_increments(&g, GUEST_CODE_ADDR, HOST_CAS, DATA + 12, 100000);
	EXPECT_EQ(d[3], 200000);

	uint32_t old = 1;
	EXPECT_OK(cv_as_swap_u32(g.as, DATA + 12, 5, &old));
	EXPECT_EQ(old, 200000);
	EXPECT_EQ(d[3], 5);
	/* A failing cas reports the current value and changes nothing. */
	EXPECT_OK(cv_as_cas_u32(g.as, DATA + 12, 4, 9, &old));
	EXPECT_EQ(old, 5);
	EXPECT_EQ(d[3], 5);
	EXPECT_OK(cv_as_cas_u32(g.as, DATA + 12, 5, 9, &old));
	EXPECT_EQ(old, 5);
	EXPECT_EQ(d[3], 9);
	/* Misaligned, unmapped and NULL-result atomics. */
	for (uint64_t mis = 1; mis < 4; mis++) {
		EXPECT_EQ(cv_as_load_u32(g.as, DATA + 12 + mis, &old), -EFAULT);
		EXPECT_EQ(cv_as_swap_u32(g.as, DATA + 12 + mis, 1, &old), -EFAULT);
		EXPECT_EQ(cv_as_cas_u32(g.as, DATA + 12 + mis, 9, 1, &old), -EFAULT);
	}
	EXPECT_EQ(cv_as_swap_u32(g.as, DATA + PG - 2, 1, &old), -EFAULT); /* would straddle pages */
	EXPECT_EQ(cv_as_load_u32(g.as, DATA + PG, &old), -EFAULT);
	EXPECT_EQ(cv_as_cas_u32(g.as, DATA + PG, 0, 1, &old), -EFAULT);
	EXPECT_EQ(cv_as_load_u32(g.as, DATA, NULL), -EINVAL);
	EXPECT_EQ(cv_as_swap_u32(g.as, DATA, 1, NULL), -EINVAL);
	EXPECT_EQ(cv_as_cas_u32(g.as, DATA, 0, 1, NULL), -EINVAL);
	EXPECT_EQ(cv_as_load_u32(NULL, DATA, &old), -EINVAL);
	EXPECT_EQ(d[3], 9);
	guest_teardown(&g);
}

/* Guest lock cmpxchg loops against host cas loops; guest xchg spin lock against a host swap spin lock. */
PLATFORM_TEST_TIMEOUT(as_io_atomics_cmpxchg_xchg, 60)
{
	struct guest g;
	setup_io(&g, platform, gas_rw_start, gas_rw_end);
	map_blob(&g, g.as, CAS_CODE, gas_cas_start, gas_cas_end);
	map_blob(&g, g.as, LOCK_CODE, gas_lock_start, gas_lock_end);
	uint32_t *d = guest_map_anon(&g, DATA, PG, RW, NULL);
	concurrent_increments(&g, CAS_CODE, HOST_CAS, DATA + PG - 4, 50000);
	EXPECT_EQ(d[PG / 4 - 1], 100000);
	concurrent_increments(&g, LOCK_CODE, HOST_LOCK, DATA + 64, 50000);
	EXPECT_EQ(d[17], 100000);
	EXPECT_EQ(d[16], 0);
	guest_teardown(&g);
}

PLATFORM_TEST_TIMEOUT(as_io_file_backed, 60)
{
	struct guest g;
	setup_io(&g, platform, gas_cas_start, gas_cas_end);
	map_blob(&g, g.as, LOCK_CODE, gas_lock_start, gas_lock_end);
	int fd = memfd_create("as-io-test", MFD_CLOEXEC);
	ASSERT_GE(fd, 0);
	ASSERT_OK(ftruncate(fd, 3 * PG)); /* the mapping's last page lies past the end */
	ASSERT_OK(cv_as_map(g.as, DATA, fd, PG, 3 * PG, RW, false));
	/* copy_out reaches the file, pwrite reaches copy_in. */
	uint64_t v = 0xabcdef0123456789ull, r = 0;
	EXPECT_EQ(cv_as_copy_out(g.as, DATA + PG - 4, &v, 8), 8);
	ASSERT_EQ(pread(fd, &r, 8, 2 * PG - 4), 8);
	EXPECT_EQ(r, v);
	v = 0x4242;
	ASSERT_EQ(pwrite(fd, &v, 8, PG + 64), 8);
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 64, &r, 8), 8);
	EXPECT_EQ(r, 0x4242);
	EXPECT_EQ(cv_as_zero_out(g.as, DATA + 64, 4), 4);
	ASSERT_EQ(pread(fd, &r, 8, PG + 64), 8);
	EXPECT_EQ(r, 0);
	/* IO stops at the end of the file. */
	static uint8_t buf[3 * PG];
	EXPECT_EQ(cv_as_copy_in(g.as, DATA, buf, sizeof(buf)), (long)(2 * PG));
	EXPECT_EQ(cv_as_copy_in(g.as, DATA + 2 * PG, buf, 8), -EFAULT);
	EXPECT_EQ(cv_as_load_u32(g.as, DATA + 2 * PG, (uint32_t *)(void *)buf), -EFAULT);
	/* Atomics against the guest, through the file. */
	concurrent_increments(&g, GUEST_CODE_ADDR, HOST_CAS, DATA + PG + 8, 20000);
	uint32_t w = 0;
	ASSERT_EQ(pread(fd, &w, 4, 2 * PG + 8), 4);
	EXPECT_EQ(w, 40000);
	concurrent_increments(&g, LOCK_CODE, HOST_LOCK, DATA + 2 * PG - 8, 20000);
	ASSERT_EQ(pread(fd, &w, 4, 3 * PG - 4), 4);
	EXPECT_EQ(w, 40000);
	close(fd);
	guest_teardown(&g);
}
