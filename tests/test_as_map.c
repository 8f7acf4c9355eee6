// SPDX-License-Identifier: Apache-2.0
// Tests of cv_as_map/cv_as_unmap as the application sees them: sharing, faults, replacement, files.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include "as_util.h"

#define DATA GUEST_DATA_ADDR

PLATFORM_TEST(as_map_shared_both_ways)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t *d = guest_map_anon(&g, DATA, 2 * PG, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);

	/* Sentry writes through the memory file, the guest reads it. */
	d[0] = 0x1122334455667788ull;
	d[PG / 8 + 3] = 0xfeedfacecafebeefull;
	EXPECT_EQ(guest_load(&g, DATA), 0x1122334455667788ull);
	EXPECT_EQ(guest_load(&g, DATA + PG + 24), 0xfeedfacecafebeefull);

	/* The guest writes, the sentry sees it at once. */
	guest_store(&g, DATA + 8, 0xa5a5a5a5deadbeefull);
	EXPECT_EQ(d[1], 0xa5a5a5a5deadbeefull);
	guest_store(&g, DATA + 2 * PG - 8, 42);
	EXPECT_EQ(d[2 * PG / 8 - 1], 42);
	/* Both directions again on the same word. */
	d[1] = 7;
	EXPECT_EQ(guest_load(&g, DATA + 8), 7);
	guest_teardown(&g);
}

PLATFORM_TEST(as_unmap_faults)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t *d = guest_map_anon(&g, DATA, 3 * PG, CV_ACCESS_READ | CV_ACCESS_WRITE | CV_ACCESS_EXEC, NULL);
	d[0] = 1;
	d[PG / 8] = 2;
	d[2 * PG / 8] = 3;
	EXPECT_EQ(guest_load(&g, DATA + PG), 2);

	/* Unmap the middle page only: its neighbours stay. */
	ASSERT_OK(cv_as_unmap(g.as, DATA + PG, PG));
	EXPECT_EQ(guest_load(&g, DATA), 1);
	EXPECT_EQ(guest_load(&g, DATA + 2 * PG), 3);
	struct cv_exit e = guest_fault(&g, RW_LOAD, DATA + PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_MAPERR);
	EXPECT_EQ(e.access, CV_ACCESS_READ);
	EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR + (uint64_t)(gas_rw_load - gas_rw_start)); /* at the load */
	e = guest_fault(&g, RW_STORE, DATA + PG + 16, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_MAPERR);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);
	e = guest_fault(&g, RW_JUMP, DATA + PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_MAPERR);
	EXPECT_EQ(e.access, CV_ACCESS_EXEC);
	EXPECT_EQ(g.st->regs.rip, DATA + PG);

	/* Unmapping a range with holes, and a range with nothing in it, is fine. */
	ASSERT_OK(cv_as_unmap(g.as, DATA, 3 * PG));
	ASSERT_OK(cv_as_unmap(g.as, DATA + 64 * PG, 16 * PG));
	e = guest_fault(&g, RW_LOAD, DATA, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_MAPERR);
	e = guest_fault(&g, RW_STORE, DATA + 2 * PG + 8, SIGSEGV);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);
	/* The memory itself is still the sentry's. */
	EXPECT_EQ(d[2 * PG / 8], 3);
	guest_teardown(&g);
}

PLATFORM_TEST(as_remap_shows_new_contents)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	int fd = cv_memfile_fd(g.mf);
	uint64_t *a, *b;
	uint64_t oa = mf_alloc(&g, PG, (void **)&a), ob = mf_alloc(&g, PG, (void **)&b);
	a[5] = 0xaaaa;
	b[5] = 0xbbbb;
	ASSERT_OK(cv_as_map(g.as, DATA, fd, oa, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	EXPECT_EQ(guest_load(&g, DATA + 40), 0xaaaa);
	/* Mapping over a live mapping replaces it. */
	ASSERT_OK(cv_as_map(g.as, DATA, fd, ob, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	EXPECT_EQ(guest_load(&g, DATA + 40), 0xbbbb);
	guest_store(&g, DATA + 48, 0xb2);
	EXPECT_EQ(b[6], 0xb2);
	EXPECT_EQ(a[6], 0);
	/* Unmap, fault, and map the first range back. */
	ASSERT_OK(cv_as_unmap(g.as, DATA, PG));
	guest_fault(&g, RW_LOAD, DATA + 40, SIGSEGV);
	ASSERT_OK(cv_as_map(g.as, DATA, fd, oa, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	EXPECT_EQ(guest_load(&g, DATA + 40), 0xaaaa);
	EXPECT_EQ(guest_load(&g, DATA + 48), 0);
	guest_teardown(&g);
}

PLATFORM_TEST(as_map_partial_replace)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	int fd = cv_memfile_fd(g.mf);
	uint64_t *a, *b;
	uint64_t oa = mf_alloc(&g, 4 * PG, (void **)&a), ob = mf_alloc(&g, 2 * PG, (void **)&b);
	for (int i = 0; i < 4; i++)
		a[i * PG / 8] = 0x100 + (uint64_t)i;
	b[0] = 0x200;
	b[PG / 8] = 0x201;
	ASSERT_OK(cv_as_map(g.as, DATA, fd, oa, 4 * PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	/* Replace page 2 by b's second page, read-only. */
	ASSERT_OK(cv_as_map(g.as, DATA + 2 * PG, fd, ob + PG, PG, CV_ACCESS_READ, false));
	EXPECT_EQ(guest_load(&g, DATA), 0x100);
	EXPECT_EQ(guest_load(&g, DATA + PG), 0x101);
	EXPECT_EQ(guest_load(&g, DATA + 2 * PG), 0x201);
	EXPECT_EQ(guest_load(&g, DATA + 3 * PG), 0x103);
	/* The replaced page has the new permissions, its neighbours keep theirs. */
	struct cv_exit e = guest_fault(&g, RW_STORE, DATA + 2 * PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);
	guest_store(&g, DATA + 3 * PG + 8, 0x3333);
	EXPECT_EQ(a[3 * PG / 8 + 1], 0x3333);
	guest_store(&g, DATA + PG + 8, 0x1111);
	EXPECT_EQ(a[PG / 8 + 1], 0x1111);
	/* AS IO follows the split too. */
	uint64_t v;
	if (g.caps.supports_as_io) {
		EXPECT_EQ(cv_as_copy_in(g.as, DATA + 2 * PG, &v, 8), 8);
		EXPECT_EQ(v, 0x201);
		EXPECT_EQ(cv_as_copy_in(g.as, DATA + 3 * PG + 8, &v, 8), 8);
		EXPECT_EQ(v, 0x3333);
	}
	guest_teardown(&g);
}

PLATFORM_TEST(as_map_permissions)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t *ro = guest_map_anon(&g, DATA, PG, CV_ACCESS_READ, NULL);
	guest_map_anon(&g, DATA + PG, PG, 0, NULL);
	guest_map_anon(&g, DATA + 2 * PG, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	ro[0] = 99;
	EXPECT_EQ(guest_load(&g, DATA), 99);
	struct cv_exit e = guest_fault(&g, RW_STORE, DATA + 8, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);
	EXPECT_EQ(ro[1], 0);
	/* Access 0: nothing allowed. */
	e = guest_fault(&g, RW_LOAD, DATA + PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	EXPECT_EQ(e.access, CV_ACCESS_READ);
	e = guest_fault(&g, RW_STORE, DATA + PG, SIGSEGV);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);
	/* Read+write without exec: a jump there faults as an instruction fetch. */
	e = guest_fault(&g, RW_JUMP, DATA + 2 * PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	EXPECT_EQ(e.access, CV_ACCESS_EXEC);
	/* Remapping the read-only page writable makes the same store work. */
	uint64_t off;
	uint64_t *rw = guest_map_anon(&g, DATA, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, &off);
	guest_store(&g, DATA + 8, 5);
	EXPECT_EQ(rw[1], 5);
	guest_teardown(&g);
}

PLATFORM_TEST(as_map_host_files)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	/* A memfd of our own, read-write. */
	int mfd = memfd_create("as-map-test", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_OK(ftruncate(mfd, 2 * PG));
	uint64_t v = 0x5151515151515151ull;
	ASSERT_EQ(pwrite(mfd, &v, 8, PG + 16), 8);
	ASSERT_OK(cv_as_map(g.as, DATA, mfd, 0, 2 * PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	EXPECT_EQ(guest_load(&g, DATA + PG + 16), v);
	guest_store(&g, DATA + 24, 0x6262);
	uint64_t r = 0;
	ASSERT_EQ(pread(mfd, &r, 8, 24), 8);
	EXPECT_EQ(r, 0x6262);
	/* The mapping keeps the file alive after we close it. */
	ASSERT_OK(close(mfd));
	EXPECT_EQ(guest_load(&g, DATA + 24), 0x6262);

	/* A regular temporary file opened read-only, at a file offset, with a page past its end. */
	char path[] = "/tmp/cvisor-as-map-XXXXXX";
	int wfd = mkostemp(path, O_CLOEXEC);
	ASSERT_GE(wfd, 0);
	uint8_t page[PG];
	for (unsigned i = 0; i < PG; i++)
		page[i] = (uint8_t)i;
	ASSERT_EQ(write(wfd, page, PG), (long)PG);
	memset(page, 0x77, PG);
	ASSERT_EQ(write(wfd, page, PG), (long)PG);
	int rfd = open(path, O_RDONLY | O_CLOEXEC);
	ASSERT_GE(rfd, 0);
	unlink(path);
	close(wfd);
	ASSERT_OK(cv_as_map(g.as, DATA + 16 * PG, rfd, PG, 2 * PG, CV_ACCESS_READ, false));
	close(rfd);
	EXPECT_EQ(guest_load(&g, DATA + 16 * PG + 8), 0x7777777777777777ull);
	struct cv_exit e = guest_fault(&g, RW_STORE, DATA + 16 * PG, SIGSEGV);
	EXPECT_EQ(e.info.si_code, SEGV_ACCERR);
	EXPECT_EQ(e.access, CV_ACCESS_WRITE);
	/* The second page lies beyond the end of the file: SIGBUS. */
	e = guest_fault(&g, RW_LOAD, DATA + 17 * PG, SIGBUS);
	EXPECT_EQ(e.info.si_code, BUS_ADRERR);
	EXPECT_EQ(e.access, CV_ACCESS_READ);
	guest_teardown(&g);
}

PLATFORM_TEST(as_map_precommit)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	const uint64_t len = 64 * PG;
	uint64_t *a, *b;
	uint64_t oa = mf_alloc(&g, len, (void **)&a), ob = mf_alloc(&g, len, (void **)&b);
	struct cv_memfile_usage u0, u1, u2;
	ASSERT_OK(cv_memfile_usage(g.mf, &u0));
	ASSERT_OK(cv_as_map(g.as, DATA, cv_memfile_fd(g.mf), oa, len, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	ASSERT_OK(cv_memfile_usage(g.mf, &u1));
	EXPECT_GE(u1.committed, u0.committed);
	/* With precommit, the whole range is backed right away. */
	ASSERT_OK(cv_as_map(g.as, DATA + len, cv_memfile_fd(g.mf), ob, len, CV_ACCESS_READ | CV_ACCESS_WRITE,
			    true));
	ASSERT_OK(cv_memfile_usage(g.mf, &u2));
	EXPECT_GE(u2.committed, u1.committed + len);
	/* And it works like any mapping. */
	b[63 * PG / 8] = 1234;
	EXPECT_EQ(guest_load(&g, DATA + len + 63 * PG), 1234);
	guest_store(&g, DATA + len, 4321);
	EXPECT_EQ(b[0], 4321);
	(void)a;
	guest_teardown(&g);
}

PLATFORM_TEST(as_map_alias)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t off;
	uint64_t *d = guest_map_anon(&g, DATA, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, &off);
	const uint64_t alias = DATA + 0x100000;
	ASSERT_OK(cv_as_map(g.as, alias, cv_memfile_fd(g.mf), off, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	guest_store(&g, DATA + 32, 0xa11a5);
	EXPECT_EQ(guest_load(&g, alias + 32), 0xa11a5);
	guest_store(&g, alias + 40, 0xb0b);
	EXPECT_EQ(guest_load(&g, DATA + 40), 0xb0b);
	EXPECT_EQ(d[5], 0xb0b);
	/* One instruction reading one alias and writing the other. */
	g.st->regs.rip = GUEST_CODE_ADDR;
	g.st->regs.rdi = alias + 32;
	g.st->regs.rdx = RW_LOAD_STORE;
	g.st->regs.r8 = 0xc0c0;
	g.st->regs.r9 = DATA + 48;
	ASSERT_EQ(guest_run_syscall(&g), NR_RW);
	EXPECT_EQ(g.st->regs.rsi, 0xa11a5);
	EXPECT_EQ(d[6], 0xc0c0);
	/* Unmapping one alias leaves the other. */
	ASSERT_OK(cv_as_unmap(g.as, DATA, PG));
	EXPECT_EQ(guest_load(&g, alias + 48), 0xc0c0);
	guest_fault(&g, RW_LOAD, DATA + 48, SIGSEGV);
	guest_teardown(&g);
}

#define RND_PAGES 24 /* window of the random test */
#define RND_POOL 32  /* memory-file pages it maps from */
#define RND_OPS 400

struct rnd_page {
	int pool;        /* -1: unmapped */
	unsigned access;
};

static uint64_t rnd_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint64_t rnd_marker(int pool)
{
	return 0x5eed000000000000ull | (uint64_t)pool;
}

/* Check page @i of the window against the model, through the guest and through AS IO. */
static void rnd_check_page(struct guest *g, uint64_t win, const struct rnd_page *m, int i, int op)
{
	uint64_t addr = win + (uint64_t)i * PG;
	uint64_t v = 0;
	if (m[i].pool >= 0 && (m[i].access & CV_ACCESS_READ)) {
		uint64_t got = guest_load(g, addr);
		if (got != rnd_marker(m[i].pool))
			HARNESS_FAIL(1, "op %d page %d: guest read %#llx, model says pool page %d", op, i,
				     (unsigned long long)got, m[i].pool);
		if (g->caps.supports_as_io) {
			ASSERT_EQ(cv_as_copy_in(g->as, addr, &v, 8), 8);
			ASSERT_EQ(v, rnd_marker(m[i].pool));
		}
	} else {
		struct cv_exit e = guest_fault(g, RW_LOAD, addr, SIGSEGV);
		if (e.info.si_code != (m[i].pool >= 0 ? SEGV_ACCERR : SEGV_MAPERR))
			HARNESS_FAIL(1, "op %d page %d: si_code %d, model says pool %d access %u", op, i,
				     e.info.si_code, m[i].pool, m[i].access);
		if (g->caps.supports_as_io)
			ASSERT_EQ(cv_as_copy_in(g->as, addr, &v, 8), -EFAULT);
	}
}

/*
 * Random maps and unmaps over a small window, checked page by page against a model after every
 * operation: splits, trims, replacements and holes must all leave the guest and AS IO agreeing.
 */
PLATFORM_TEST_TIMEOUT(as_map_random_ops, 120)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	const uint64_t win = DATA + 0x400000;
	uint64_t *pool;
	uint64_t pool_off = mf_alloc(&g, RND_POOL * PG, (void **)&pool);
	for (int k = 0; k < RND_POOL; k++)
		pool[(uint64_t)k * PG / 8] = rnd_marker(k);
	static const unsigned accs[] = { CV_ACCESS_READ, CV_ACCESS_READ | CV_ACCESS_WRITE, 0,
					 CV_ACCESS_READ | CV_ACCESS_WRITE | CV_ACCESS_EXEC };
	struct rnd_page m[RND_PAGES];
	for (int i = 0; i < RND_PAGES; i++)
		m[i] = (struct rnd_page){ -1, 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	static uint8_t buf[RND_PAGES * PG];
	for (int op = 0; op < RND_OPS; op++) {
		int s = (int)(rnd_next(&seed) % RND_PAGES);
		int l = 1 + (int)(rnd_next(&seed) % (uint64_t)(RND_PAGES - s));
		if (rnd_next(&seed) % 3) {
			int p = (int)(rnd_next(&seed) % (uint64_t)(RND_POOL - l + 1));
			unsigned acc = accs[rnd_next(&seed) % 4];
			ASSERT_OK(cv_as_map(g.as, win + (uint64_t)s * PG, cv_memfile_fd(g.mf),
					    pool_off + (uint64_t)p * PG, (uint64_t)l * PG, acc, rnd_next(&seed) % 2));
			for (int i = 0; i < l; i++)
				m[s + i] = (struct rnd_page){ p + i, acc };
		} else {
			ASSERT_OK(cv_as_unmap(g.as, win + (uint64_t)s * PG, (uint64_t)l * PG));
			for (int i = 0; i < l; i++)
				m[s + i] = (struct rnd_page){ -1, 0 };
		}
		for (int i = 0; i < RND_PAGES; i++)
			rnd_check_page(&g, win, m, i, op);
		/* One copy over the whole window stops exactly where the readable run from page 0 ends. */
		if (g.caps.supports_as_io) {
			int run = 0;
			while (run < RND_PAGES && m[run].pool >= 0 && (m[run].access & CV_ACCESS_READ))
				run++;
			EXPECT_EQ(cv_as_copy_in(g.as, win, buf, sizeof(buf)), run ? (long)run * (long)PG : -EFAULT);
		}
		/* A guest store to a random writable page lands in the pool page the model says. */
		int w = (int)(rnd_next(&seed) % RND_PAGES);
		if (m[w].pool >= 0 && (m[w].access & CV_ACCESS_WRITE)) {
			guest_store(&g, win + (uint64_t)w * PG + 8, (uint64_t)op);
			EXPECT_EQ(pool[(uint64_t)m[w].pool * PG / 8 + 1], (uint64_t)op);
		}
	}
	guest_teardown(&g);
}

/* The first and last pages of the user range work like any other. */
PLATFORM_TEST(as_map_user_range_edges)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t lo = g.caps.min_user_addr, hi = g.caps.max_user_addr;
	uint64_t *a = guest_map_anon(&g, lo, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	uint64_t *b = guest_map_anon(&g, hi - 2 * PG, 2 * PG, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	a[0] = 0x10;
	b[2 * PG / 8 - 1] = 0x20;
	EXPECT_EQ(guest_load(&g, lo), 0x10);
	EXPECT_EQ(guest_load(&g, hi - 8), 0x20);
	guest_store(&g, lo + PG - 8, 0x11);
	guest_store(&g, hi - PG - 4, 0x21); /* straddles the last two pages */
	EXPECT_EQ(a[PG / 8 - 1], 0x11);
	EXPECT_EQ(((uint32_t *)b)[PG / 4 - 1], 0x21);
	/* Below the range: nothing, or (patching platforms) the read-only patch table. */
	if (lo >= PG)
		guest_fault(&g, g.caps.patches_syscalls ? RW_STORE : RW_LOAD, lo - PG, SIGSEGV);
	if (g.caps.supports_as_io) {
		uint64_t v[2] = { 0, 0 };
		EXPECT_EQ(cv_as_copy_in(g.as, hi - 8, v, 16), 8);
		EXPECT_EQ(v[0], 0x20);
		if (lo >= 8) /* the application's memory only */
			EXPECT_EQ(cv_as_copy_in(g.as, lo - 8, v, 16), -EFAULT);
	}
	guest_teardown(&g);
}

/* The fork hooks bracket an application fork: copy the mappings into a new AS, both keep working. */
PLATFORM_TEST(as_fork_hooks)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t off;
	uint64_t *d = guest_map_anon(&g, DATA, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, &off);
	guest_store(&g, DATA, 0xf0f0);
	ASSERT_OK(cv_as_prefork(g.as));
	/* The sentry's fork: a private copy of the data page, the code shared. */
	struct cv_as *child;
	ASSERT_OK(cv_as_new(g.p, &child));
	uint64_t *cd;
	uint64_t coff = mf_alloc(&g, PG, (void **)&cd);
	memcpy(cd, d, PG);
	ASSERT_OK(cv_as_map(child, DATA, cv_memfile_fd(g.mf), coff, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, false));
	map_blob(&g, child, GUEST_CODE_ADDR, gas_rw_start, gas_rw_end);
	ASSERT_OK(cv_as_postfork(g.as));
	/* Parent and child diverge. */
	guest_store(&g, DATA, 0x1111);
	struct cv_ctx *cc = new_ctx(&g, 0, GUEST_CODE_ADDR);
	struct cv_regs *r = &cv_ctx_state(cc)->regs;
	r->rdi = DATA;
	r->rdx = RW_LOAD;
	run_expect_syscall(cc, child, NR_RW);
	EXPECT_EQ(r->rsi, 0xf0f0);
	EXPECT_EQ(d[0], 0x1111);
	/* Hooks pair again for a second fork, and the parent runs on. */
	ASSERT_OK(cv_as_prefork(g.as));
	ASSERT_OK(cv_as_postfork(g.as));
	EXPECT_EQ(guest_load(&g, DATA), 0x1111);
	ASSERT_OK(cv_ctx_release(cc));
	ASSERT_OK(cv_as_release(child));
	guest_teardown(&g);
}

#define MANY_MAPS_CAP 300000 /* beyond this vm.max_map_count, do not try to reach it */

/* How many mappings to try: past the host's per-process limit when it is reachable. */
static int many_maps(void)
{
	FILE *f = fopen("/proc/sys/vm/max_map_count", "re");
	long max = 0;
	if (f) {
		if (fscanf(f, "%ld", &max) != 1)
			max = 0;
		fclose(f);
	}
	return max > 0 && max + 100 <= MANY_MAPS_CAP ? (int)max + 100 : 2000;
}

/*
 * Run the stub out of mappings: the map that fails says -ENOMEM and records nothing, everything
 * mapped before still works, and unmapping makes room again.
 */
PLATFORM_TEST_TIMEOUT(as_map_too_many_mappings, 180)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t off;
	uint64_t *d = guest_map_anon(&g, DATA, PG, CV_ACCESS_READ | CV_ACCESS_WRITE, &off);
	d[0] = 0xabcdef;
	const uint64_t base = 0x100000000ull;
	int n = 0, r = 0, want = many_maps();
	for (; n < want; n++) {
		r = cv_as_map(g.as, base + 2 * PG * (uint64_t)n, cv_memfile_fd(g.mf), off, PG, CV_ACCESS_READ, false);
		if (r < 0)
			break;
	}
	if (r == 0) /* limit out of reach, or none (kvm builds its own page tables) */
		ASSERT_TRUE(strcmp(platform, "ptrace") != 0 || want == 2000);
	else
		EXPECT_EQ(r, -ENOMEM);
	uint64_t failed = base + 2 * PG * (uint64_t)n;
	/* What was mapped works; the failed address is not mapped for the guest or for AS IO. */
	EXPECT_EQ(guest_load(&g, base), 0xabcdef);
	EXPECT_EQ(guest_load(&g, base + 2 * PG * (uint64_t)(n - 1)), 0xabcdef);
	if (r < 0) {
		guest_fault(&g, RW_LOAD, failed, SIGSEGV);
		uint64_t v;
		if (g.caps.supports_as_io)
			EXPECT_EQ(cv_as_copy_in(g.as, failed, &v, 8), -EFAULT);
	}
	/* Unmapping a stretch makes room for new mappings. */
	ASSERT_OK(cv_as_unmap(g.as, base, 2 * PG * 1000));
	ASSERT_OK(cv_as_map(g.as, failed, cv_memfile_fd(g.mf), off, PG, CV_ACCESS_READ, false));
	EXPECT_EQ(guest_load(&g, failed), 0xabcdef);
	guest_fault(&g, RW_LOAD, base, SIGSEGV);
	/* Dropping everything at once works too. */
	ASSERT_OK(cv_as_unmap(g.as, base, failed + PG - base));
	guest_fault(&g, RW_LOAD, failed, SIGSEGV);
	EXPECT_EQ(guest_load(&g, DATA), 0xabcdef);
	guest_teardown(&g);
}
