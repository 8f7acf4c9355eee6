// SPDX-License-Identifier: Apache-2.0
// Tests that bad arguments to the platform, address-space and context calls return the documented error.
#include <fcntl.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include "as_util.h"

#define RW (CV_ACCESS_READ | CV_ACCESS_WRITE)
#define DATA GUEST_DATA_ADDR
#define NONCANON 0x0000800000000000ull /* first non-canonical address above the user half */
#define MXCSR_OFFSET 24
#define XCOMP_BV_OFFSET 520

PLATFORM_TEST(badargs_as_map)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	int fd = cv_memfile_fd(g.mf);
	uint64_t off = mf_alloc(&g, 4 * PG, NULL);
	uint64_t lo = g.caps.min_user_addr, hi = g.caps.max_user_addr;
	ASSERT_TRUE(lo > 0 && lo % PG == 0 && hi > lo && hi % PG == 0);
	/* Alignment and length. */
	EXPECT_EQ(cv_as_map(g.as, DATA + 1, fd, off, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA + 2048, fd, off, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, off + 8, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, off, PG + 1, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, off, 100, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, off, 0, RW, false), -EINVAL);
	/* Ranges outside [min_user_addr, max_user_addr) or overflowing. */
	EXPECT_EQ(cv_as_map(g.as, UINT64_MAX & ~(PG - 1), fd, off, 2 * PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, off, UINT64_MAX & ~(PG - 1), RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, hi, fd, off, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, hi - PG, fd, off, 2 * PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, NONCANON, fd, off, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, lo - PG, fd, off, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, lo - PG, fd, off, 2 * PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, 0, fd, off, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, UINT64_MAX & ~(PG - 1), 2 * PG, RW, false), -EINVAL);
	/* The edges themselves are fine. */
	EXPECT_OK(cv_as_map(g.as, lo, fd, off, PG, RW, false));
	EXPECT_OK(cv_as_map(g.as, hi - PG, fd, off + PG, PG, RW, false));
	EXPECT_OK(cv_as_unmap(g.as, lo, PG));
	EXPECT_OK(cv_as_unmap(g.as, hi - PG, PG));
	/* Access bits. */
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, off, PG, 8, false), -EINVAL);
	EXPECT_EQ(cv_as_map(g.as, DATA, fd, off, PG, RW | 0x80000000u, false), -EINVAL);
	/* File descriptors. */
	EXPECT_EQ(cv_as_map(g.as, DATA, -1, off, PG, RW, false), -EBADF);
	int tmp = memfd_create("badargs", MFD_CLOEXEC);
	ASSERT_GE(tmp, 0);
	ASSERT_OK(close(tmp));
	EXPECT_EQ(cv_as_map(g.as, DATA, tmp, 0, PG, RW, false), -EBADF);
	EXPECT_EQ(cv_as_map(g.as, DATA, 1 << 20, 0, PG, RW, false), -EBADF);
	int ro = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	ASSERT_GE(ro, 0);
	EXPECT_EQ(cv_as_map(g.as, DATA, ro, 0, PG, RW, false), -EACCES);
	EXPECT_EQ(cv_as_map(g.as, DATA, ro, 0, PG, CV_ACCESS_WRITE, false), -EACCES);
	EXPECT_OK(cv_as_map(g.as, DATA, ro, 0, PG, CV_ACCESS_READ, false));
	close(ro);
	/* Write-only: not readable, whatever the access asked for. O_PATH: not open for IO at all. */
	int mfd = memfd_create("badargs-wo", MFD_CLOEXEC);
	ASSERT_GE(mfd, 0);
	ASSERT_OK(ftruncate(mfd, PG));
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", mfd);
	int wo = open(path, O_WRONLY | O_CLOEXEC);
	ASSERT_GE(wo, 0);
	EXPECT_EQ(cv_as_map(g.as, DATA + PG, wo, 0, PG, CV_ACCESS_READ, false), -EACCES);
	EXPECT_EQ(cv_as_map(g.as, DATA + PG, wo, 0, PG, RW, false), -EACCES);
	close(wo);
	int opath = open(path, O_PATH | O_CLOEXEC);
	ASSERT_GE(opath, 0);
	EXPECT_EQ(cv_as_map(g.as, DATA + PG, opath, 0, PG, CV_ACCESS_READ, false), -EBADF);
	close(opath);
	close(mfd);
	int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ASSERT_GE(dir, 0);
	EXPECT_EQ(cv_as_map(g.as, DATA + PG, dir, 0, PG, CV_ACCESS_READ, false), -ENODEV);
	close(dir);
	/* Files without mmap: an eventfd (an anonymous inode) and /dev/null. */
	int efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_GE(efd, 0);
	EXPECT_EQ(cv_as_map(g.as, DATA + PG, efd, 0, PG, CV_ACCESS_READ, false), -ENODEV);
	close(efd);
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
	ASSERT_GE(nul, 0);
	EXPECT_EQ(cv_as_map(g.as, DATA + PG, nul, 0, PG, CV_ACCESS_READ, false), -ENODEV);
	close(nul);
	int pfd[2];
	ASSERT_OK(pipe2(pfd, O_CLOEXEC));
	EXPECT_EQ(cv_as_map(g.as, DATA + PG, pfd[0], 0, PG, CV_ACCESS_READ, false), -ENODEV);
	close(pfd[0]);
	close(pfd[1]);
	/* None of the failures changed anything: DATA maps the executable, DATA+PG nothing. */
	EXPECT_EQ(guest_load(&g, DATA) & 0xffffffff, 0x464c457f); /* "\177ELF" */
	guest_fault(&g, RW_LOAD, DATA + PG, SIGSEGV);
	guest_teardown(&g);
}

PLATFORM_TEST(badargs_as_unmap)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	uint64_t lo = g.caps.min_user_addr, hi = g.caps.max_user_addr;
	guest_map_anon(&g, DATA, PG, RW, NULL);
	EXPECT_EQ(cv_as_unmap(g.as, DATA + 1, PG), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, DATA, PG - 1), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, DATA, 0), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, UINT64_MAX & ~(PG - 1), 2 * PG), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, hi, PG), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, hi - PG, 2 * PG), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, lo - PG, 2 * PG), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, 0, PG), -EINVAL);
	EXPECT_EQ(cv_as_unmap(g.as, lo, hi - lo + PG), -EINVAL);
	EXPECT_EQ(cv_as_unmap(NULL, DATA, PG), -EINVAL);
	/* Still mapped. */
	guest_store(&g, DATA, 1);
	/* The whole user range at once is a valid (if drastic) unmap. */
	EXPECT_OK(cv_as_unmap(g.as, lo, hi - lo));
	guest_run_signal(&g, SIGSEGV); /* the code is gone too */
	guest_teardown(&g);
}

PLATFORM_TEST(badargs_null_handles)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	struct cv_exit e;
	struct cv_platform_caps caps;
	struct cv_as *as = (struct cv_as *)(uintptr_t)0x1;
	struct cv_ctx *ctx = (struct cv_ctx *)(uintptr_t)0x1;
	uint32_t w;
	EXPECT_EQ(cv_as_new(NULL, &as), -EINVAL);
	EXPECT_EQ(cv_as_new(g.p, NULL), -EINVAL);
	EXPECT_TRUE(as == (struct cv_as *)(uintptr_t)0x1); /* untouched on error */
	EXPECT_EQ(cv_as_map(NULL, DATA, cv_memfile_fd(g.mf), 0, PG, RW, false), -EINVAL);
	EXPECT_EQ(cv_as_unmap(NULL, DATA, PG), -EINVAL);
	EXPECT_EQ(cv_as_release(NULL), 0);
	EXPECT_EQ(cv_as_prefork(NULL), -EINVAL);
	EXPECT_EQ(cv_as_postfork(NULL), -EINVAL);
	EXPECT_EQ(cv_as_swap_u32(NULL, DATA, 0, &w), -EINVAL);
	EXPECT_EQ(cv_as_cas_u32(NULL, DATA, 0, 0, &w), -EINVAL);
	EXPECT_EQ(cv_ctx_new(NULL, 0, &ctx), -EINVAL);
	EXPECT_EQ(cv_ctx_new(g.p, 0, NULL), -EINVAL);
	EXPECT_EQ(cv_ctx_new(g.p, 2, &ctx), -EINVAL);
	EXPECT_EQ(cv_ctx_new(g.p, ~CV_CTX_ROAMING, &ctx), -EINVAL);
	EXPECT_TRUE(ctx == (struct cv_ctx *)(uintptr_t)0x1);
	EXPECT_TRUE(cv_ctx_state(NULL) == NULL);
	EXPECT_EQ(cv_ctx_switch(NULL, g.as, &e), -EINVAL);
	EXPECT_EQ(cv_ctx_switch(g.ctx, NULL, &e), -EINVAL);
	EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, NULL), -EINVAL);
	EXPECT_EQ(cv_ctx_interrupt(NULL), -EINVAL);
	EXPECT_EQ(cv_ctx_pull_full_state(NULL), -EINVAL);
	EXPECT_EQ(cv_ctx_full_state_changed(NULL), -EINVAL);
	EXPECT_EQ(cv_ctx_prepare_sleep(NULL), -EINVAL);
	EXPECT_EQ(cv_ctx_idle(NULL), -EINVAL);
	EXPECT_EQ(cv_ctx_release(NULL), 0);
	EXPECT_EQ(cv_platform_close(NULL), 0);
	EXPECT_TRUE(cv_platform_name(NULL) == NULL);
	EXPECT_EQ(cv_platform_caps(NULL, &caps), -EINVAL);
	EXPECT_EQ(cv_platform_caps(g.p, NULL), -EINVAL);
	EXPECT_EQ(cv_platform_membarrier(NULL), -EINVAL);
	EXPECT_EQ(cv_platform_preempt_all(NULL), -EINVAL);
	EXPECT_EQ(cv_platform_open(platform, NULL, NULL), -EINVAL);
	struct cv_cpuid_entry ce;
	struct cv_xsave_component xc;
	EXPECT_EQ(cv_platform_set_cpuid(NULL, NULL, 0), -EINVAL);
	EXPECT_EQ(cv_platform_set_cpuid(g.p, NULL, 1), -EINVAL);
	EXPECT_EQ(cv_platform_cpuid(NULL, 0, 0, &ce), -EINVAL);
	EXPECT_EQ(cv_platform_cpuid(g.p, 0, 0, NULL), -EINVAL);
	EXPECT_EQ(cv_xsave_component(CV_XFEATURE_SSE, NULL), -EINVAL);
	EXPECT_EQ(cv_xsave_component(64, &xc), -EINVAL);
	EXPECT_EQ(cv_as_copy_in(NULL, DATA, &w, 4), -EINVAL);
	EXPECT_EQ(cv_as_copy_out(NULL, DATA, &w, 4), -EINVAL);
	EXPECT_EQ(cv_as_zero_out(NULL, DATA, 4), -EINVAL);
	EXPECT_EQ(cv_as_load_u32(NULL, DATA, &w), -EINVAL);
	EXPECT_EQ(strcmp(cv_platform_name(g.p), platform), 0);
	/* Everything still works. */
	uint64_t *d = guest_map_anon(&g, DATA, PG, RW, NULL);
	d[0] = 3;
	EXPECT_EQ(guest_load(&g, DATA), 3);
	guest_teardown(&g);
}

/* Another platform instance's address space is refused by cv_ctx_switch and vice versa. */
PLATFORM_TEST(badargs_switch_foreign_as)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	struct cv_platform *p2;
	ASSERT_OK(cv_platform_open(platform, NULL, &p2));
	struct cv_as *as2;
	struct cv_ctx *c2;
	ASSERT_OK(cv_as_new(p2, &as2));
	ASSERT_OK(cv_ctx_new(p2, 0, &c2));
	struct cv_exit e;
	EXPECT_EQ(cv_ctx_switch(g.ctx, as2, &e), -EINVAL);
	EXPECT_EQ(cv_ctx_switch(c2, g.as, &e), -EINVAL);
	g.st->regs.rsi = 41;
	ASSERT_EQ(guest_run_syscall(&g), NR_SYS);
	EXPECT_EQ(g.st->regs.rdi, 42);
	ASSERT_OK(cv_ctx_release(c2));
	ASSERT_OK(cv_as_release(as2));
	ASSERT_OK(cv_platform_close(p2));
	guest_teardown(&g);
}

PLATFORM_TEST(badargs_switch_bad_state)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	struct cv_exit e;
	struct cv_regs good = g.st->regs;
	/* Non-canonical FS/GS bases are refused before anything runs. */
	g.st->regs.fs_base = NONCANON;
	EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, &e), -EINVAL);
	g.st->regs.fs_base = 0xffff800000000000ull;
	EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, &e), -EINVAL);
	g.st->regs = good;
	g.st->regs.gs_base = NONCANON + PG;
	EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, &e), -EINVAL);
	g.st->regs = good;
	/* Canonical user bases are fine. */
	g.st->regs.fs_base = 0x7ffffffff000ull - PG;
	g.st->regs.rsi = 1;
	ASSERT_EQ(guest_run_syscall(&g), NR_SYS);
	EXPECT_EQ(g.st->regs.rdi, 2);

	/* A non-canonical rip: a SIGSEGV exit or -EINVAL, never a crash. */
	const uint64_t rips[] = { NONCANON, 0xdead000000000000ull, UINT64_MAX };
	for (size_t i = 0; i < sizeof(rips) / sizeof(rips[0]); i++) {
		g.st->regs = good;
		g.st->regs.rip = rips[i];
		int r = cv_ctx_switch(g.ctx, g.as, &e);
		if (r == 0) {
			EXPECT_EQ(e.reason, CV_EXIT_SIGNAL);
			EXPECT_EQ(e.info.si_signo, SIGSEGV);
		} else {
			EXPECT_EQ(r, -EINVAL);
		}
	}

	/* Garbage XSAVE: MXCSR reserved bits, or a compacted-format header. */
	g.st->regs = good;
	uint8_t *xs = g.st->xsave;
	static uint8_t saved[1 << 16];
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	ASSERT_LE(g.st->xsave_size, sizeof(saved));
	memcpy(saved, xs, g.st->xsave_size);
	uint32_t bad = 0xffffffffu;
	memcpy(xs + MXCSR_OFFSET, &bad, 4);
	ASSERT_OK(cv_ctx_full_state_changed(g.ctx));
	EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, &e), -EINVAL);
	EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, &e), -EINVAL); /* still refused until fixed */
	memcpy(xs, saved, g.st->xsave_size);
	if (g.st->xsave_size >= XCOMP_BV_OFFSET + 8) {
		uint64_t xcomp = 1ull << 63 | 3;
		memcpy(xs + XCOMP_BV_OFFSET, &xcomp, 8);
		ASSERT_OK(cv_ctx_full_state_changed(g.ctx));
		EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, &e), -EINVAL);
		memcpy(xs, saved, g.st->xsave_size);
	}
	/* Fixed, it runs again, with the MXCSR the sentry gave it. */
	ASSERT_OK(cv_ctx_full_state_changed(g.ctx));
	g.st->regs.rsi = 7;
	ASSERT_EQ(guest_run_syscall(&g), NR_SYS);
	EXPECT_EQ(g.st->regs.rdi, 8);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	EXPECT_EQ(memcmp(xs + MXCSR_OFFSET, saved + MXCSR_OFFSET, 4), 0);
	guest_teardown(&g);
}

struct busy_args {
	struct cv_ctx *c;
	struct cv_as *as;
	int ret;
	struct cv_exit e;
};

static void *busy_thread(void *arg)
{
	struct busy_args *a = arg;
	a->ret = cv_ctx_switch(a->c, a->as, &a->e);
	return NULL;
}

PLATFORM_TEST(badargs_busy_context)
{
	struct guest g;
	guest_setup(&g, platform, gas_spin_start, gas_spin_end);
	uint32_t *flag = guest_map_anon(&g, DATA, PG, RW, NULL);
	g.st->regs.rdi = DATA;
	struct busy_args a = { .c = g.ctx, .as = g.as, .ret = 1 };
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, busy_thread, &a), 0);
	/* Once the guest has stored its flag, the other thread is inside cv_ctx_switch. */
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		sched_yield();
	struct cv_exit e;
	EXPECT_EQ(cv_ctx_switch(g.ctx, g.as, &e), -EBUSY);
	EXPECT_EQ(cv_ctx_release(g.ctx), -EBUSY);
	EXPECT_EQ(cv_as_release(g.as), -EBUSY);
	/* Another context of the same AS is not affected (an interrupt pending makes it return at once). */
	struct cv_ctx *c2 = new_ctx(&g, 0, GUEST_CODE_ADDR);
	EXPECT_OK(cv_ctx_interrupt(c2));
	EXPECT_OK(cv_ctx_switch(c2, g.as, &e));
	EXPECT_EQ(e.reason, CV_EXIT_INTERRUPT);
	EXPECT_OK(cv_ctx_release(c2));
	/* Stop the spinning one. */
	EXPECT_OK(cv_ctx_interrupt(g.ctx));
	pthread_join(th, NULL);
	EXPECT_EQ(a.ret, 0);
	EXPECT_EQ(a.e.reason, CV_EXIT_INTERRUPT);
	EXPECT_OK(cv_ctx_prepare_sleep(g.ctx));
	EXPECT_OK(cv_ctx_idle(g.ctx));
	guest_teardown(&g);
}

PLATFORM_TEST(badargs_dead_as)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	struct cv_as *as;
	int stub = as_new_find_stub(g.p, &as);
	ASSERT_OK(kill(stub, SIGKILL));
	wait_dead(stub);
	/* No host thread ever used it: the first call has to notice the death on its own. */
	struct cv_exit e;
	EXPECT_EQ(cv_as_map(as, DATA, cv_memfile_fd(g.mf), 0, PG, RW, false), -CV_EASDEAD);
	EXPECT_EQ(cv_as_unmap(as, DATA, PG), -CV_EASDEAD);
	EXPECT_EQ(cv_ctx_switch(g.ctx, as, &e), -CV_EASDEAD);
	/* Bad arguments on a dead AS: either documented error, nothing else (a NULL exit is -EINVAL). */
	int r = cv_as_map(as, DATA + 1, cv_memfile_fd(g.mf), 0, PG, RW, false);
	EXPECT_TRUE(r == -EINVAL || r == -CV_EASDEAD);
	r = cv_as_unmap(as, DATA, 0);
	EXPECT_TRUE(r == -EINVAL || r == -CV_EASDEAD);
	EXPECT_EQ(cv_ctx_switch(g.ctx, as, NULL), -EINVAL);
	EXPECT_OK(cv_as_release(as));
	g.st->regs.rsi = 1;
	ASSERT_EQ(guest_run_syscall(&g), NR_SYS);
	guest_teardown(&g);
}

TEST(badargs_platform_registry)
{
	const char *names[8];
	int n = cv_platform_list(names, 8);
	ASSERT_GE(n, 1);
	ASSERT_LE(n, 8);
	EXPECT_EQ(cv_platform_list(NULL, 0), n);
	EXPECT_EQ(cv_platform_list(NULL, 1), -EINVAL);
	int has_ptrace = 0;
	for (int i = 0; i < n; i++) {
		char why[128];
		memset(why, 'x', sizeof(why));
		int r = cv_platform_probe(names[i], why, sizeof(why));
		has_ptrace |= strcmp(names[i], "ptrace") == 0;
		EXPECT_TRUE(memchr(why, 0, sizeof(why)) != NULL); /* always terminated */
		if (r < 0) {
			EXPECT_NE(r, -ENOENT);
			EXPECT_NE(r, -EINVAL);
			EXPECT_GT(strlen(why), 0); /* a reason is given */
			struct cv_platform *p = (struct cv_platform *)(uintptr_t)0x1;
			EXPECT_LT(cv_platform_open(names[i], NULL, &p), 0);
			EXPECT_TRUE(p == (struct cv_platform *)(uintptr_t)0x1);
		}
		EXPECT_EQ(cv_platform_probe(names[i], NULL, 0), r);
		char tiny[4];
		EXPECT_EQ(cv_platform_probe(names[i], tiny, sizeof(tiny)), r);
		EXPECT_TRUE(memchr(tiny, 0, sizeof(tiny)) != NULL);
		struct cv_platform_requirements req;
		EXPECT_OK(cv_platform_requirements(names[i], &req));
		EXPECT_EQ(cv_platform_requirements(names[i], NULL), -EINVAL);
	}
	EXPECT_TRUE(has_ptrace);
	char why[64] = "";
	struct cv_platform_requirements req;
	struct cv_platform *p = NULL;
	EXPECT_EQ(cv_platform_probe("nonexistent", why, sizeof(why)), -ENOENT);
	EXPECT_EQ(cv_platform_probe("", why, sizeof(why)), -ENOENT);
	EXPECT_EQ(cv_platform_probe(NULL, why, sizeof(why)), -EINVAL);
	EXPECT_EQ(cv_platform_open("nonexistent", NULL, &p), -ENOENT);
	EXPECT_EQ(cv_platform_open("PTRACE", NULL, &p), -ENOENT);
	EXPECT_TRUE(p == NULL);
	EXPECT_EQ(cv_platform_requirements("nonexistent", &req), -ENOENT);
	EXPECT_EQ(cv_platform_requirements(NULL, &req), -EINVAL);
}

PLATFORM_TEST(badargs_platform_open)
{
	struct cv_platform *p = NULL;
	struct cv_platform_opts o = { .size = sizeof(o) };
	struct cv_platform_opts small = { .size = sizeof(o) - 1 };
	struct cv_platform_opts flags = { .size = sizeof(o), .flags = 0x80 };
	EXPECT_EQ(cv_platform_open(platform, &small, &p), -EINVAL);
	EXPECT_EQ(cv_platform_open(platform, &flags, &p), -EINVAL);
	EXPECT_TRUE(p == NULL);
	ASSERT_OK(cv_platform_open(platform, &o, &p));
	EXPECT_EQ(strcmp(cv_platform_name(p), platform), 0);
	struct cv_platform_caps caps;
	EXPECT_OK(cv_platform_caps(p, &caps));
	EXPECT_TRUE(caps.min_user_addr < caps.max_user_addr);
	if (strcmp(platform, "ptrace") == 0)
		EXPECT_TRUE(caps.supports_as_io);
	EXPECT_OK(cv_platform_close(p));
}
