// SPDX-License-Identifier: Apache-2.0
// Tests that address spaces, platforms and host threads leave no process, thread or fd behind.
#include <pthread.h>
#include <sys/mman.h>
#include "as_util.h"

#define RW (CV_ACCESS_READ | CV_ACCESS_WRITE)

/* Run @c in @as (code gas_sys at GUEST_CODE_ADDR) to exactly one syscall and check it. */
static void one_syscall(struct cv_ctx *c, struct cv_as *as, uint64_t tag)
{
	struct cv_regs *r = &cv_ctx_state(c)->regs;
	r->rip = GUEST_CODE_ADDR;
	r->rsi = tag;
	run_expect_syscall(c, as, NR_SYS);
	ASSERT_EQ(r->rdi, tag + 1);
}

PLATFORM_TEST_TIMEOUT(as_leaks_create_release_1000, 180)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	void *code;
	uint64_t code_off = mf_alloc(&g, PG, &code);
	memcpy(code, gas_sys_start, (size_t)(gas_sys_end - gas_sys_start));
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	one_syscall(g.ctx, g.as, 1);
	struct counts before = take_counts();
	for (int i = 0; i < 1000; i++) {
		struct cv_as *as;
		int r = cv_as_new(g.p, &as);
		if (r == -EAGAIN && g.caps.cooperatively_schedules_as)
			HARNESS_FAIL(1, "cv_as_new: -EAGAIN with every other AS released");
		ASSERT_OK(r);
		if (i % 10 == 0) {
			ASSERT_OK(cv_as_map(as, GUEST_CODE_ADDR, cv_memfile_fd(g.mf), code_off, PG,
					    CV_ACCESS_READ | CV_ACCESS_EXEC, false));
			one_syscall(c, as, (uint64_t)i);
		}
		if (i % 100 == 50) /* also release a mapped but never-run one */
			ASSERT_OK(cv_as_map(as, GUEST_DATA_ADDR, cv_memfile_fd(g.mf), code_off, PG, RW, true));
		ASSERT_OK(cv_as_release(as));
	}
	EXPECT_COUNTS(before);
	/* The original address space is untouched. */
	one_syscall(g.ctx, g.as, 77);
	one_syscall(c, g.as, 78);
	ASSERT_OK(cv_ctx_release(c));
	guest_teardown(&g);
}

struct spin_args {
	struct cv_ctx *c;
	struct cv_as *as;
	int ret;
};

static void *spin_thread(void *arg)
{
	struct spin_args *a = arg;
	struct cv_exit e;
	a->ret = cv_ctx_switch(a->c, a->as, &e);
	return NULL;
}

PLATFORM_TEST_TIMEOUT(as_leaks_killed_stub, 60)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	one_syscall(g.ctx, g.as, 1);
	struct counts before = take_counts();

	/* Killed while idle: the next switch and every map/unmap report the death. */
	struct cv_as *as;
	int stub = as_new_find_stub(g.p, &as);
	map_blob(&g, as, GUEST_CODE_ADDR, gas_sys_start, gas_sys_end);
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	one_syscall(c, as, 10);
	ASSERT_OK(kill(stub, SIGKILL));
	wait_dead(stub);
	struct cv_exit e;
	EXPECT_EQ(cv_ctx_switch(c, as, &e), -CV_EASDEAD);
	EXPECT_EQ(cv_ctx_switch(c, as, &e), -CV_EASDEAD); /* it stays dead */
	EXPECT_EQ(cv_ctx_switch(g.ctx, as, &e), -CV_EASDEAD); /* for every context */
	EXPECT_EQ(cv_as_map(as, GUEST_DATA_ADDR, cv_memfile_fd(g.mf), 0, PG, RW, false), -CV_EASDEAD);
	EXPECT_EQ(cv_as_unmap(as, GUEST_CODE_ADDR, PG), -CV_EASDEAD);
	EXPECT_OK(cv_as_release(as));
	/* The context outlives its address space and runs elsewhere once the sentry resets its state. */
	int r = cv_ctx_pull_full_state(c);
	EXPECT_TRUE(r == 0 || r == -CV_EASDEAD);
	EXPECT_OK(cv_ctx_full_state_changed(c));
	one_syscall(c, g.as, 11);

	/* Killed while a context runs in it on another host thread: that switch reports the death. */
	stub = as_new_find_stub(g.p, &as);
	map_blob(&g, as, GUEST_CODE_ADDR, gas_spin_start, gas_spin_end);
	uint32_t *flag;
	uint64_t off = mf_alloc(&g, PG, (void **)&flag);
	ASSERT_OK(cv_as_map(as, GUEST_DATA_ADDR, cv_memfile_fd(g.mf), off, PG, RW, false));
	struct cv_ctx *c2 = new_ctx(&g, 0, GUEST_CODE_ADDR);
	cv_ctx_state(c2)->regs.rdi = GUEST_DATA_ADDR;
	struct spin_args sa = { .c = c2, .as = as, .ret = 1 };
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, spin_thread, &sa), 0);
	while (!__atomic_load_n(flag, __ATOMIC_ACQUIRE))
		sched_yield();
	ASSERT_OK(kill(stub, SIGKILL));
	pthread_join(th, NULL);
	EXPECT_EQ(sa.ret, -CV_EASDEAD);
	EXPECT_EQ(cv_ctx_switch(c2, as, &e), -CV_EASDEAD);
	EXPECT_OK(cv_as_release(as));
	ASSERT_OK(cv_memfile_decref(g.mf, off, PG));

	EXPECT_OK(cv_ctx_release(c2));
	EXPECT_OK(cv_ctx_release(c));
	EXPECT_COUNTS(before);
	/* Another address space keeps working throughout. */
	one_syscall(g.ctx, g.as, 12);
	guest_teardown(&g);
}

PLATFORM_TEST_TIMEOUT(as_leaks_platform_open_close_50, 120)
{
	struct counts before = take_counts();
	for (int i = 0; i < 50; i++) {
		struct guest g;
		guest_setup(&g, platform, gas_sys_start, gas_sys_end);
		if (i % 5 == 0)
			one_syscall(g.ctx, g.as, (uint64_t)i);
		if (i % 7 == 0) { /* a second, idle address space */
			struct cv_as *as;
			ASSERT_OK(cv_as_new(g.p, &as));
			ASSERT_OK(cv_as_release(as));
		}
		guest_teardown(&g);
	}
	EXPECT_COUNTS(before);
}

PLATFORM_TEST(as_leaks_close_busy)
{
	struct counts before = take_counts();
	struct cv_platform *p;
	ASSERT_OK(cv_platform_open(platform, NULL, &p));
	struct cv_as *as;
	struct cv_ctx *c;
	ASSERT_OK(cv_as_new(p, &as));
	EXPECT_EQ(cv_platform_close(p), -EBUSY);
	ASSERT_OK(cv_ctx_new(p, 0, &c));
	EXPECT_EQ(cv_platform_close(p), -EBUSY);
	ASSERT_OK(cv_as_release(as));
	EXPECT_EQ(cv_platform_close(p), -EBUSY); /* the context is still there */
	ASSERT_OK(cv_ctx_release(c));
	EXPECT_OK(cv_platform_close(p));
	EXPECT_COUNTS(before);

	/* After a refused close everything still works. */
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	EXPECT_EQ(cv_platform_close(g.p), -EBUSY);
	one_syscall(g.ctx, g.as, 5);
	guest_teardown(&g);
	EXPECT_COUNTS(before);
}

struct once_args {
	struct cv_ctx *c;
	struct cv_as *as;
	uint64_t tag;
	int ok;
};

static void *switch_once_thread(void *arg)
{
	struct once_args *a = arg;
	one_syscall(a->c, a->as, a->tag);
	ASSERT_OK(cv_ctx_prepare_sleep(a->c));
	a->ok = 1;
	return NULL;
}

PLATFORM_TEST_TIMEOUT(as_leaks_host_threads_reuse_stub_threads, 60)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	struct cv_as *as;
	int stub = as_new_find_stub(g.p, &as);
	map_blob(&g, as, GUEST_CODE_ADDR, gas_sys_start, gas_sys_end);
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	int threads = count_threads(), first = 0;
	for (int i = 0; i < 20; i++) {
		struct once_args a = { .c = c, .as = as, .tag = 100 + (uint64_t)i };
		pthread_t th;
		ASSERT_EQ(pthread_create(&th, NULL, switch_once_thread, &a), 0);
		pthread_join(th, NULL);
		ASSERT_TRUE(a.ok);
		/* Each exited host thread's stub thread is reused or goes away: the stub does not grow. */
		int n = task_count_settled(stub, i == 0 ? 1 << 30 : first);
		if (i == 0)
			first = n;
		EXPECT_LE(n, first);
	}
	EXPECT_LE(first, 4);
	EXPECT_EQ(count_threads_settled(threads), threads);
	/* The context goes on in the calling thread too. */
	one_syscall(c, as, 999);
	ASSERT_OK(cv_ctx_release(c));
	ASSERT_OK(cv_as_release(as));
	EXPECT_EQ(task_count(stub), 0);
	guest_teardown(&g);
}

#define N_CYCLERS 4
#define CYCLES_EACH 150

struct cycler_args {
	struct guest *g;
	uint64_t code_off;
	int index;
	int ok;
};

/* Create, use (every third time, from this thread's own context) and release address spaces. */
static void *cycler_thread(void *arg)
{
	struct cycler_args *a = arg;
	struct cv_ctx *c = new_ctx(a->g, 0, GUEST_CODE_ADDR);
	for (int i = 0; i < CYCLES_EACH; i++) {
		struct cv_as *as;
		ASSERT_OK(cv_as_new(a->g->p, &as));
		if (i % 3 == 0) {
			ASSERT_OK(cv_as_map(as, GUEST_CODE_ADDR, cv_memfile_fd(a->g->mf), a->code_off, PG,
					    CV_ACCESS_READ | CV_ACCESS_EXEC, i % 2 == 0));
			one_syscall(c, as, (uint64_t)a->index * 1000 + (uint64_t)i);
		}
		ASSERT_OK(cv_as_release(as));
	}
	ASSERT_OK(cv_ctx_release(c));
	a->ok = 1;
	return NULL;
}

/* Several host threads creating, using and releasing address spaces at once leave nothing behind. */
PLATFORM_TEST_TIMEOUT(as_leaks_create_release_threads, 180)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	void *code;
	uint64_t code_off = mf_alloc(&g, PG, &code);
	memcpy(code, gas_sys_start, (size_t)(gas_sys_end - gas_sys_start));
	one_syscall(g.ctx, g.as, 1);
	struct counts before = take_counts();
	struct cycler_args ca[N_CYCLERS];
	pthread_t th[N_CYCLERS];
	for (int i = 0; i < N_CYCLERS; i++) {
		ca[i] = (struct cycler_args){ .g = &g, .code_off = code_off, .index = i };
		ASSERT_EQ(pthread_create(&th[i], NULL, cycler_thread, &ca[i]), 0);
	}
	for (int i = 0; i < N_CYCLERS; i++) {
		pthread_join(th[i], NULL);
		EXPECT_TRUE(ca[i].ok);
	}
	EXPECT_COUNTS(before);
	one_syscall(g.ctx, g.as, 2);
	guest_teardown(&g);
}

#define N_TRACERS 3

struct tracer_args {
	struct guest *g;
	struct cv_as *as[2];
	pthread_barrier_t *bar;
	int index;
	int ok;
};

/*
 * Run a context in both doomed address spaces (so this thread owns a stub thread in each), then wait
 * while the stubs are killed; notice the death of as[0] ourselves, stay idle while as[1] is released
 * by another thread, and finally carry on in the guest's healthy address space.
 */
static void *tracer_thread(void *arg)
{
	struct tracer_args *a = arg;
	struct cv_ctx *c = new_ctx(a->g, 0, GUEST_CODE_ADDR);
	struct cv_exit e;
	one_syscall(c, a->as[0], (uint64_t)a->index);
	one_syscall(c, a->as[1], (uint64_t)a->index);
	pthread_barrier_wait(a->bar); /* 1: the main thread kills both stubs */
	pthread_barrier_wait(a->bar); /* 2 */
	EXPECT_EQ(cv_ctx_switch(c, a->as[0], &e), -CV_EASDEAD);
	pthread_barrier_wait(a->bar); /* 3: the main thread releases both, we stay idle */
	pthread_barrier_wait(a->bar); /* 4 */
	ASSERT_OK(cv_ctx_full_state_changed(c));
	one_syscall(c, a->g->as, 100 + (uint64_t)a->index);
	ASSERT_OK(cv_ctx_release(c));
	a->ok = 1;
	return NULL;
}

/* Killed stubs traced by several host threads are fully reaped at release, while those threads live. */
PLATFORM_TEST_TIMEOUT(as_leaks_killed_stub_idle_tracers, 60)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	one_syscall(g.ctx, g.as, 1);
	struct counts before = take_counts();
	struct cv_as *as[2];
	int stub[2];
	for (int i = 0; i < 2; i++) {
		stub[i] = as_new_find_stub(g.p, &as[i]);
		map_blob(&g, as[i], GUEST_CODE_ADDR, gas_sys_start, gas_sys_end);
	}
	pthread_barrier_t bar;
	ASSERT_EQ(pthread_barrier_init(&bar, NULL, N_TRACERS + 1), 0);
	struct tracer_args ta[N_TRACERS];
	pthread_t th[N_TRACERS];
	for (int i = 0; i < N_TRACERS; i++) {
		ta[i] = (struct tracer_args){ .g = &g, .as = { as[0], as[1] }, .bar = &bar, .index = i };
		ASSERT_EQ(pthread_create(&th[i], NULL, tracer_thread, &ta[i]), 0);
	}
	pthread_barrier_wait(&bar); /* 1 */
	if (g.caps.thread_bound_state) /* ptrace: one stub thread per tracer (systrap shares a pool) */
		EXPECT_GE(task_count(stub[0]), N_TRACERS);
	for (int i = 0; i < 2; i++) {
		ASSERT_OK(kill(stub[i], SIGKILL));
		wait_dead(stub[i]);
	}
	pthread_barrier_wait(&bar); /* 2 */
	pthread_barrier_wait(&bar); /* 3 */
	for (int i = 0; i < 2; i++)
		EXPECT_OK(cv_as_release(as[i]));
	/* Both stubs are reaped although the threads that traced them are alive and idle. */
	EXPECT_EQ(count_children(), before.children);
	EXPECT_EQ(count_fds(), before.fds);
	pthread_barrier_wait(&bar); /* 4 */
	for (int i = 0; i < N_TRACERS; i++) {
		pthread_join(th[i], NULL);
		EXPECT_TRUE(ta[i].ok);
	}
	pthread_barrier_destroy(&bar);
	EXPECT_COUNTS(before);
	one_syscall(g.ctx, g.as, 2);
	guest_teardown(&g);
}

/* Host-file mappings hold the file, not an fd of ours, beyond their life: split, replace, release. */
PLATFORM_TEST(as_leaks_file_mappings)
{
	struct guest g;
	guest_setup(&g, platform, gas_sys_start, gas_sys_end);
	struct counts before = take_counts();
	struct cv_as *as;
	ASSERT_OK(cv_as_new(g.p, &as));
	map_blob(&g, as, GUEST_CODE_ADDR, gas_sys_start, gas_sys_end);
	for (int i = 0; i < 20; i++) {
		int fd = memfd_create("as-leaks", MFD_CLOEXEC);
		ASSERT_GE(fd, 0);
		ASSERT_OK(ftruncate(fd, 8 * PG));
		uint64_t at = GUEST_DATA_ADDR + (uint64_t)(i % 5) * 16 * PG;
		ASSERT_OK(cv_as_map(as, at, fd, 0, 8 * PG, RW, i % 2 == 0)); /* replaces round i-5's */
		ASSERT_OK(close(fd));
		ASSERT_OK(cv_as_unmap(as, at + 2 * PG, PG)); /* split */
		ASSERT_OK(cv_as_map(as, at + 4 * PG, cv_memfile_fd(g.mf), 0, PG, RW, false));
	}
	one_syscall(g.ctx, as, 5);
	ASSERT_OK(cv_as_unmap(as, GUEST_DATA_ADDR, 16 * PG)); /* one set of pieces goes early */
	ASSERT_OK(cv_as_release(as));
	EXPECT_COUNTS(before);
	guest_teardown(&g);
}

struct sw_args {
	struct cv_ctx *c;
	struct cv_as *as;
	int ret;
	struct cv_exit e;
};

static void *switch_thread(void *arg)
{
	struct sw_args *a = arg;
	a->ret = cv_ctx_switch(a->c, a->as, &a->e);
	return NULL;
}

/*
 * A context whose address space died keeps a usable state: a pull either succeeds with the live state
 * or reports CV_EASDEAD and leaves the last state the sentry saw; once the sentry rewrites it, the
 * context runs on in another address space, from another host thread too.
 */
PLATFORM_TEST(as_leaks_killed_stub_context_state)
{
	struct guest g;
	guest_setup(&g, platform, gas_fpu_start, gas_fpu_end);
	struct cv_as *as;
	int stub = as_new_find_stub(g.p, &as);
	map_blob(&g, as, GUEST_CODE_ADDR, gas_fpu_start, gas_fpu_end);
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	set_xmm0(c, 1000);
	run_expect_syscall(c, as, NR_FPU);
	run_expect_syscall(c, as, NR_FPU);
	EXPECT_EQ(cv_ctx_state(c)->regs.rdi, 1002);
	ASSERT_OK(kill(stub, SIGKILL));
	wait_dead(stub);
	int r = cv_ctx_pull_full_state(c);
	if (r == 0) {
		EXPECT_EQ(xmm0_in_buffer(c), 1002);
	} else {
		EXPECT_EQ(r, -CV_EASDEAD);
		EXPECT_EQ(xmm0_in_buffer(c), 1000);
	}
	r = cv_ctx_prepare_sleep(c);
	EXPECT_TRUE(r == 0 || r == -CV_EASDEAD);
	struct cv_exit e;
	EXPECT_EQ(cv_ctx_switch(c, as, &e), -CV_EASDEAD);
	ASSERT_OK(cv_as_release(as));
	/* The sentry gives the context a fresh state and moves it to another AS and host thread. */
	uint8_t *xs = cv_ctx_state(c)->xsave;
	uint64_t v = 5000, bv;
	memcpy(xs + XMM0_OFFSET, &v, 8);
	memcpy(&bv, xs + XSTATE_BV_OFFSET, 8);
	bv |= 1ull << CV_XFEATURE_SSE;
	memcpy(xs + XSTATE_BV_OFFSET, &bv, 8);
	ASSERT_OK(cv_ctx_full_state_changed(c));
	cv_ctx_state(c)->regs.rip = GUEST_CODE_ADDR;
	struct sw_args a = { .c = c, .as = g.as, .ret = 1 };
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, switch_thread, &a), 0);
	pthread_join(th, NULL);
	ASSERT_OK(a.ret);
	ASSERT_EQ(a.e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(cv_ctx_state(c)->regs.orig_rax, NR_FPU);
	EXPECT_EQ(cv_ctx_state(c)->regs.rdi, 5001);
	ASSERT_OK(cv_ctx_release(c));
	guest_teardown(&g);
}
