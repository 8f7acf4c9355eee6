// SPDX-License-Identifier: Apache-2.0
// Tests of many contexts and address spaces driven from several host threads at once.
#include <pthread.h>
#include "as_util.h"

#define N_THREADS 8
#define CTX_PER_THREAD 4
#define N_SYSCALLS 200
#define N_MAPPERS 2
#define MAP_ROUNDS 40
#define COUNT_CODE (GUEST_CODE_ADDR + 0x100000) /* gas_count; gas_rw is at GUEST_CODE_ADDR */
#define MAPPER_DATA(i) (GUEST_DATA_ADDR + 0x1000000ull * (uint64_t)((i) + 1))
#define RW (CV_ACCESS_READ | CV_ACCESS_WRITE)

struct counter_args {
	struct guest *g;
	struct cv_as *as[2]; /* contexts alternate between these (the same AS twice is fine) */
	uint64_t id;
	int ok;
};

/*
 * Run CTX_PER_THREAD contexts round-robin, each making N_SYSCALLS counting syscalls, and check every
 * report: its id, its counter, and that it got back the previous answer. Context k runs in as[k % 2].
 */
static void *counter_thread(void *arg)
{
	struct counter_args *a = arg;
	struct cv_ctx *c[CTX_PER_THREAD];
	uint64_t next[CTX_PER_THREAD];
	for (int k = 0; k < CTX_PER_THREAD; k++) {
		c[k] = new_ctx(a->g, 0, COUNT_CODE);
		struct cv_regs *r = &cv_ctx_state(c[k])->regs;
		r->r12 = a->id * 100 + (uint64_t)k;
		r->r13 = 0;
		r->r14 = N_SYSCALLS;
		next[k] = 1;
	}
	for (int round = 0; round < N_SYSCALLS; round++) {
		for (int k = 0; k < CTX_PER_THREAD; k++) {
			struct cv_regs *r = &cv_ctx_state(c[k])->regs;
			uint64_t id = a->id * 100 + (uint64_t)k;
			run_expect_syscall(c[k], a->as[k % 2], next[k] == N_SYSCALLS ? NR_COUNT_DONE : NR_COUNT);
			ASSERT_EQ(r->rdi, id);
			ASSERT_EQ(r->rsi, next[k]);
			/* The guest passes on what the previous syscall returned (0 before the first). */
			ASSERT_EQ(r->rdx, next[k] == 1 ? 0 : id * 1000000 + next[k] - 1);
			ASSERT_EQ(r->r12, id);
			r->rax = id * 1000000 + next[k];
			next[k]++;
		}
	}
	for (int k = 0; k < CTX_PER_THREAD; k++)
		ASSERT_OK(cv_ctx_release(c[k]));
	a->ok = 1;
	return NULL;
}

struct mapper_args {
	struct guest *g;
	int index;
	int ok;
};

/* Map a private page with a known value, have a context read it, unmap it, watch the read fault. */
static void *mapper_thread(void *arg)
{
	struct mapper_args *a = arg;
	struct guest *g = a->g;
	uint64_t addr = MAPPER_DATA(a->index);
	struct cv_ctx *c = new_ctx(g, 0, GUEST_CODE_ADDR);
	struct cv_regs *r = &cv_ctx_state(c)->regs;
	for (int i = 0; i < MAP_ROUNDS; i++) {
		uint64_t *p;
		uint64_t off = mf_alloc(g, 2 * PG, (void **)&p);
		uint64_t val = ((uint64_t)a->index << 32) | (uint64_t)i;
		p[PG / 8 + 1] = val;
		ASSERT_OK(cv_as_map(g->as, addr, cv_memfile_fd(g->mf), off, 2 * PG, RW, i % 2 == 0));
		r->rip = GUEST_CODE_ADDR;
		r->rdi = addr + PG + 8;
		r->rdx = RW_LOAD;
		run_expect_syscall(c, g->as, NR_RW);
		ASSERT_EQ(r->rsi, val);
		uint64_t viaio = 0;
		if (g->caps.supports_as_io) {
			ASSERT_EQ(cv_as_copy_in(g->as, addr + PG + 8, &viaio, 8), 8);
			ASSERT_EQ(viaio, val);
		}
		ASSERT_OK(cv_as_unmap(g->as, addr, 2 * PG));
		r->rip = GUEST_CODE_ADDR;
		struct cv_exit e;
		ASSERT_OK(cv_ctx_switch(c, g->as, &e));
		ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
		ASSERT_EQ(e.info.si_signo, SIGSEGV);
		ASSERT_EQ(e.info.si_code, SEGV_MAPERR);
		ASSERT_EQ((uint64_t)e.info.si_addr, addr + PG + 8);
		ASSERT_OK(cv_memfile_decref(g->mf, off, 2 * PG));
	}
	ASSERT_OK(cv_ctx_release(c));
	a->ok = 1;
	return NULL;
}

PLATFORM_TEST_TIMEOUT(as_threads_many_contexts_one_as, 120)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	map_blob(&g, g.as, COUNT_CODE, gas_count_start, gas_count_end);
	struct counter_args ca[N_THREADS];
	struct mapper_args ma[N_MAPPERS];
	pthread_t th[N_THREADS + N_MAPPERS];
	for (int i = 0; i < N_THREADS; i++) {
		ca[i] = (struct counter_args){ .g = &g, .as = { g.as, g.as }, .id = (uint64_t)i + 1 };
		ASSERT_EQ(pthread_create(&th[i], NULL, counter_thread, &ca[i]), 0);
	}
	for (int i = 0; i < N_MAPPERS; i++) {
		ma[i] = (struct mapper_args){ .g = &g, .index = i };
		ASSERT_EQ(pthread_create(&th[N_THREADS + i], NULL, mapper_thread, &ma[i]), 0);
	}
	for (int i = 0; i < N_THREADS + N_MAPPERS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N_THREADS; i++)
		EXPECT_TRUE(ca[i].ok);
	for (int i = 0; i < N_MAPPERS; i++)
		EXPECT_TRUE(ma[i].ok);
	/* The main context still works after all that. */
	uint64_t *d = guest_map_anon(&g, GUEST_DATA_ADDR, PG, RW, NULL);
	d[0] = 31337;
	EXPECT_EQ(guest_load(&g, GUEST_DATA_ADDR), 31337);
	guest_teardown(&g);
}

#define N_AS 4

PLATFORM_TEST_TIMEOUT(as_threads_several_as, 120)
{
	struct guest g;
	guest_setup(&g, platform, gas_rw_start, gas_rw_end);
	struct cv_as *as[N_AS] = { g.as };
	for (int i = 1; i < N_AS; i++) {
		ASSERT_OK(cv_as_new(g.p, &as[i]));
		map_blob(&g, as[i], GUEST_CODE_ADDR, gas_rw_start, gas_rw_end);
	}
	/* The same address holds a different value in each address space. */
	for (int i = 0; i < N_AS; i++) {
		map_blob(&g, as[i], COUNT_CODE, gas_count_start, gas_count_end);
		uint64_t *p;
		uint64_t off = mf_alloc(&g, PG, (void **)&p);
		p[0] = 0x5000 + (uint64_t)i;
		ASSERT_OK(cv_as_map(as[i], GUEST_DATA_ADDR, cv_memfile_fd(g.mf), off, PG, RW, false));
	}
	/* Thread i runs contexts in address spaces i and i+1, so every AS has two host threads. */
	struct counter_args ca[N_AS];
	pthread_t th[N_AS];
	for (int i = 0; i < N_AS; i++) {
		ca[i] = (struct counter_args){ .g = &g, .as = { as[i], as[(i + 1) % N_AS] }, .id = (uint64_t)i + 1 };
		ASSERT_EQ(pthread_create(&th[i], NULL, counter_thread, &ca[i]), 0);
	}
	for (int i = 0; i < N_AS; i++) {
		pthread_join(th[i], NULL);
		EXPECT_TRUE(ca[i].ok);
	}
	/* One context visiting every address space sees each one's own memory. */
	for (int i = 0; i < N_AS; i++) {
		g.st->regs.rip = GUEST_CODE_ADDR;
		g.st->regs.rdi = GUEST_DATA_ADDR;
		g.st->regs.rdx = RW_LOAD;
		run_expect_syscall(g.ctx, as[i], NR_RW);
		EXPECT_EQ(g.st->regs.rsi, 0x5000 + (uint64_t)i);
	}
	for (int i = 1; i < N_AS; i++)
		ASSERT_OK(cv_as_release(as[i]));
	guest_teardown(&g);
}
