// SPDX-License-Identifier: Apache-2.0
// Tests of many contexts and address spaces driven from several host threads at once.
#include <pthread.h>
#include "as_util.h"

#define N_THREADS 8
#define CTX_PER_THREAD 4
#define N_SYSCALLS 200
#define N_MAPPERS 2
#define MAP_ROUNDS 40
#define MAP_EVERY 10 /* counter threads map and unmap a private page every this many rounds */
#define COUNT_CODE (GUEST_CODE_ADDR + 0x100000) /* gas_count; gas_rw is at GUEST_CODE_ADDR */
#define MAPPER_DATA(i) (GUEST_DATA_ADDR + 0x1000000ull * (uint64_t)((i) + 1))
#define RW (CV_ACCESS_READ | CV_ACCESS_WRITE)

/*
 * One private-page round in @as at @addr: map a fresh page pair holding @val, have context @c (gas_rw)
 * read it and compare it with AS IO, unmap it and watch the same read fault.
 */
static void map_probe_round(struct guest *g, struct cv_as *as, struct cv_ctx *c, uint64_t addr,
			    uint64_t val, bool precommit)
{
	struct cv_regs *r = &cv_ctx_state(c)->regs;
	uint64_t *p;
	uint64_t off = mf_alloc(g, 2 * PG, (void **)&p);
	p[PG / 8 + 1] = val;
	ASSERT_OK(cv_as_map(as, addr, cv_memfile_fd(g->mf), off, 2 * PG, RW, precommit));
	r->rip = GUEST_CODE_ADDR;
	r->rdi = addr + PG + 8;
	r->rdx = RW_LOAD;
	run_expect_syscall(c, as, NR_RW);
	ASSERT_EQ(r->rsi, val);
	if (g->caps.supports_as_io) {
		uint64_t viaio = 0;
		ASSERT_EQ(cv_as_copy_in(as, addr + PG + 8, &viaio, 8), 8);
		ASSERT_EQ(viaio, val);
	}
	ASSERT_OK(cv_as_unmap(as, addr, 2 * PG));
	r->rip = GUEST_CODE_ADDR;
	struct cv_exit e;
	ASSERT_OK(cv_ctx_switch(c, as, &e));
	ASSERT_EQ(e.reason, CV_EXIT_SIGNAL);
	ASSERT_EQ(e.info.si_signo, SIGSEGV);
	ASSERT_EQ(e.info.si_code, SEGV_MAPERR);
	ASSERT_EQ((uint64_t)e.info.si_addr, addr + PG + 8);
	ASSERT_OK(cv_memfile_decref(g->mf, off, 2 * PG));
}

struct counter_args {
	struct guest *g;
	struct cv_as *as[2]; /* contexts alternate between these (the same AS twice is fine) */
	uint64_t id;
	int ok;
};

/*
 * Run CTX_PER_THREAD contexts round-robin, each making N_SYSCALLS counting syscalls, and check every
 * report: its id, its counter, and that it got back the previous answer. Context k runs in as[k % 2].
 * Every MAP_EVERY rounds the thread also maps, probes and unmaps a private page of as[0].
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
	struct cv_ctx *prober = new_ctx(a->g, 0, GUEST_CODE_ADDR);
	for (int round = 0; round < N_SYSCALLS; round++) {
		if (round % MAP_EVERY == 0)
			map_probe_round(a->g, a->as[0], prober, MAPPER_DATA(N_MAPPERS + (int)a->id),
					a->id << 32 | (uint64_t)round, round % (2 * MAP_EVERY) == 0);
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
	ASSERT_OK(cv_ctx_release(prober));
	a->ok = 1;
	return NULL;
}

struct mapper_args {
	struct guest *g;
	int index;
	int ok;
};

/* Private-page rounds back to back, alternating precommit. */
static void *mapper_thread(void *arg)
{
	struct mapper_args *a = arg;
	struct cv_ctx *c = new_ctx(a->g, 0, GUEST_CODE_ADDR);
	for (int i = 0; i < MAP_ROUNDS; i++)
		map_probe_round(a->g, a->g->as, c, MAPPER_DATA(a->index), (uint64_t)a->index << 32 | (uint64_t)i,
				i % 2 == 0);
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

#define N_FPU_CTX 6
#define FPU_ROUNDS 100

/*
 * Contexts sharing one host thread (so, on ptrace, one stub thread) each keep their own XSAVE state:
 * every context counts in xmm0 from its own base, and the sentry reads and rewrites it in between.
 */
PLATFORM_TEST_TIMEOUT(as_threads_contexts_keep_own_fpu, 60)
{
	struct guest g;
	guest_setup(&g, platform, gas_fpu_start, gas_fpu_end);
	struct cv_ctx *c[N_FPU_CTX];
	uint64_t want[N_FPU_CTX];
	for (int k = 0; k < N_FPU_CTX; k++) {
		c[k] = k ? new_ctx(&g, 0, GUEST_CODE_ADDR) : g.ctx;
		cv_ctx_state(c[k])->regs.rip = GUEST_CODE_ADDR;
		want[k] = ((uint64_t)k + 1) << 40;
		set_xmm0(c[k], want[k]);
	}
	for (int round = 0; round < FPU_ROUNDS; round++) {
		for (int k = 0; k < N_FPU_CTX; k++) {
			run_expect_syscall(c[k], g.as, NR_FPU);
			want[k]++;
			ASSERT_EQ(cv_ctx_state(c[k])->regs.rdi, want[k]);
			if ((round + k) % 10 == 0)
				ASSERT_EQ(get_xmm0(c[k]), want[k]);
			if ((round + k) % 15 == 0) {
				want[k] = ((uint64_t)k + 1) << 40 | (uint64_t)round << 20;
				set_xmm0(c[k], want[k]);
			}
		}
	}
	for (int k = 1; k < N_FPU_CTX; k++)
		ASSERT_OK(cv_ctx_release(c[k]));
	guest_teardown(&g);
}

#define N_ROAMERS 4
#define N_ROAMING_CTX 8
#define ROAMING_SWITCHES 1600

struct roam_pool {
	pthread_mutex_t lock;
	struct cv_ctx *c[N_ROAMING_CTX];
	uint64_t want[N_ROAMING_CTX];
	bool taken[N_ROAMING_CTX];
	int left;             /* switches still to do, over all threads */
	struct cv_as *as;
};

/* Take any free context, switch it once, check its counter, put it back; until the pool is done. */
static void *roamer_thread(void *arg)
{
	struct roam_pool *pl = arg;
	unsigned next = 0;
	for (;;) {
		int k = -1;
		pthread_mutex_lock(&pl->lock);
		if (pl->left == 0) {
			pthread_mutex_unlock(&pl->lock);
			return NULL;
		}
		for (int i = 0; i < N_ROAMING_CTX && k < 0; i++) {
			int j = (int)((next + (unsigned)i) % N_ROAMING_CTX);
			if (!pl->taken[j])
				k = j;
		}
		if (k >= 0) {
			pl->taken[k] = true;
			pl->left--;
		}
		pthread_mutex_unlock(&pl->lock);
		next++;
		if (k < 0) {
			sched_yield();
			continue;
		}
		run_expect_syscall(pl->c[k], pl->as, NR_FPU);
		pl->want[k]++;
		ASSERT_EQ(cv_ctx_state(pl->c[k])->regs.rdi, pl->want[k]);
		pthread_mutex_lock(&pl->lock);
		pl->taken[k] = false;
		pthread_mutex_unlock(&pl->lock);
	}
}

/* Roaming contexts passed around between host threads keep their XSAVE state wherever they run. */
PLATFORM_TEST_TIMEOUT(as_threads_roaming_contexts_keep_own_fpu, 60)
{
	struct guest g;
	guest_setup(&g, platform, gas_fpu_start, gas_fpu_end);
	static struct roam_pool pl;
	pthread_mutex_init(&pl.lock, NULL);
	pl.as = g.as;
	pl.left = ROAMING_SWITCHES;
	for (int k = 0; k < N_ROAMING_CTX; k++) {
		pl.c[k] = new_ctx(&g, CV_CTX_ROAMING, GUEST_CODE_ADDR);
		pl.want[k] = ((uint64_t)k + 1) << 40;
		set_xmm0(pl.c[k], pl.want[k]);
	}
	pthread_t th[N_ROAMERS];
	for (int i = 0; i < N_ROAMERS; i++)
		ASSERT_EQ(pthread_create(&th[i], NULL, roamer_thread, &pl), 0);
	for (int i = 0; i < N_ROAMERS; i++)
		pthread_join(th[i], NULL);
	uint64_t total = 0;
	for (int k = 0; k < N_ROAMING_CTX; k++) {
		uint64_t n = pl.want[k] - (((uint64_t)k + 1) << 40);
		total += n;
		EXPECT_EQ(get_xmm0(pl.c[k]), pl.want[k]);
		ASSERT_OK(cv_ctx_release(pl.c[k]));
	}
	EXPECT_EQ(total, ROAMING_SWITCHES);
	guest_teardown(&g);
}

#define POLL_ROUNDS 30
#define POLL_FLAG (GUEST_DATA_ADDR + 0x100000)

struct poller {
	struct guest *g;
	pthread_barrier_t bar;
	int rounds;
	int ret;
	struct cv_exit e;
};

/* Switch the guest's context once per round, between two barriers. */
static void *poller_thread(void *arg)
{
	struct poller *pl = arg;
	for (int i = 0; i < pl->rounds; i++) {
		pthread_barrier_wait(&pl->bar);
		pl->ret = cv_ctx_switch(pl->g->ctx, pl->g->as, &pl->e);
		pthread_barrier_wait(&pl->bar);
	}
	return NULL;
}

/*
 * Change the memory under a guest that is running on another host thread, from a host thread that
 * never ran anything in that address space: a remap, an AS IO write, an unmap and a permission change
 * all reach the running guest (the first two as a new value it reports, the others as a fault).
 */
PLATFORM_TEST_TIMEOUT(as_threads_change_memory_under_running_guest, 60)
{
	struct guest g;
	guest_setup(&g, platform, gas_poll_start, gas_poll_end);
	int fd = cv_memfile_fd(g.mf);
	uint64_t *flag = guest_map_anon(&g, POLL_FLAG, PG, RW, NULL);
	struct poller pl = { .g = &g, .rounds = POLL_ROUNDS };
	ASSERT_EQ(pthread_barrier_init(&pl.bar, NULL, 2), 0);
	pthread_t th;
	ASSERT_EQ(pthread_create(&th, NULL, poller_thread, &pl), 0);
	uint64_t cur = 0;
	for (int i = 0; i < POLL_ROUNDS; i++) {
		uint64_t *p;
		uint64_t off = mf_alloc(&g, PG, (void **)&p);
		p[0] = cur;
		int kind = i % 4;
		ASSERT_OK(cv_as_map(g.as, GUEST_DATA_ADDR, fd, off, PG, kind == 1 ? RW : CV_ACCESS_READ, false));
		struct cv_regs *r = &g.st->regs;
		r->rip = GUEST_CODE_ADDR;
		r->rdi = GUEST_DATA_ADDR;
		r->r8 = POLL_FLAG;
		r->r12 = cur;
		__atomic_store_n(flag, 0, __ATOMIC_RELEASE);
		pthread_barrier_wait(&pl.bar);
		while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) == 0) /* the guest is polling */
			sched_yield();
		uint64_t next = ((uint64_t)i + 1) * 0x1000001ull, off2 = 0;
		if (kind == 0) { /* remap to another page */
			uint64_t *q;
			off2 = mf_alloc(&g, PG, (void **)&q);
			q[0] = next;
			ASSERT_OK(cv_as_map(g.as, GUEST_DATA_ADDR, fd, off2, PG, CV_ACCESS_READ, i % 8 == 0));
		} else if (kind == 1) { /* one byte, so the guest cannot see a torn value */
			uint8_t top = (uint8_t)(i + 1);
			next = (cur & ~(0xffull << 56)) | (uint64_t)top << 56;
			if (g.caps.supports_as_io)
				ASSERT_EQ(cv_as_copy_out(g.as, GUEST_DATA_ADDR + 7, &top, 1), 1);
			else
				__atomic_store_n((uint8_t *)p + 7, top, __ATOMIC_RELEASE);
		} else if (kind == 2) {
			ASSERT_OK(cv_as_unmap(g.as, GUEST_DATA_ADDR, PG));
		} else {
			ASSERT_OK(cv_as_map(g.as, GUEST_DATA_ADDR, fd, off, PG, 0, false));
		}
		pthread_barrier_wait(&pl.bar);
		ASSERT_OK(pl.ret);
		if (kind < 2) {
			if (pl.e.reason != CV_EXIT_SYSCALL)
				HARNESS_FAIL(1, "round %d: exit %d signal %d, expected the new value", i, pl.e.reason,
					     pl.e.info.si_signo);
			ASSERT_EQ(r->orig_rax, NR_POLL);
			ASSERT_EQ(r->rsi, next);
			cur = next;
		} else {
			ASSERT_EQ(pl.e.reason, CV_EXIT_SIGNAL);
			ASSERT_EQ(pl.e.info.si_signo, SIGSEGV);
			EXPECT_EQ(pl.e.info.si_code, kind == 2 ? SEGV_MAPERR : SEGV_ACCERR);
			EXPECT_EQ((uint64_t)pl.e.info.si_addr, GUEST_DATA_ADDR);
			EXPECT_EQ(pl.e.access, CV_ACCESS_READ);
		}
		/* Free the round's pages only now that nothing maps them (a freed page reads as zero). */
		ASSERT_OK(cv_as_unmap(g.as, GUEST_DATA_ADDR, PG));
		ASSERT_OK(cv_memfile_decref(g.mf, off, PG));
		if (off2)
			ASSERT_OK(cv_memfile_decref(g.mf, off2, PG));
	}
	pthread_join(th, NULL);
	pthread_barrier_destroy(&pl.bar);
	guest_teardown(&g);
}
