// SPDX-License-Identifier: Apache-2.0
// Platform tests of many contexts: a thousand in one address space, contexts moving between stub
// threads with their exact AVX state (signal and patched paths, and on a machine whose CPUs are all
// busy), an idle sandbox burning no CPU, and cv_ctx_idle() stopping a stub's poll.
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>
#include "as_util.h"

GUEST_BLOB(g_patch_loop);
extern const uint8_t g_patch_loop_after[];

#define X_XMM(i) (160 + 16 * (i))
#define N_WIDE 4
static const unsigned wide_feat[N_WIDE] = { CV_XFEATURE_AVX, CV_XFEATURE_OPMASK, CV_XFEATURE_ZMM_HI256,
					    CV_XFEATURE_HI16_ZMM };

static uint8_t pattern_byte(uint64_t seed, unsigned comp, uint32_t b)
{
	return (uint8_t)((seed * 0x9e3779b1u) >> 7 ^ (comp * 131 + b * 7 + 1));
}

/* Give @c xmm0 = @start, xmm1 = 1, and every wider component a pattern derived from @seed. */
static void set_state(const struct guest *g, struct cv_ctx *c, uint64_t start, uint64_t seed)
{
	struct cv_cpu_state *st = cv_ctx_state(c);
	ASSERT_OK(cv_ctx_pull_full_state(c));
	uint64_t one = 1, zero = 0, bv;
	memcpy(st->xsave + X_XMM(0), &start, 8);
	memcpy(st->xsave + X_XMM(0) + 8, &seed, 8);
	memcpy(st->xsave + X_XMM(1), &one, 8);
	memcpy(st->xsave + X_XMM(1) + 8, &zero, 8);
	memcpy(&bv, st->xsave + 512, 8);
	bv |= 1ull << CV_XFEATURE_SSE;
	for (unsigned i = 0; i < N_WIDE; i++) {
		struct cv_xsave_component wc;
		if (!(g->caps.xfeatures & (1ull << wide_feat[i])))
			continue;
		ASSERT_OK(cv_xsave_component(wide_feat[i], &wc));
		for (uint32_t b = 0; b < wc.size; b++)
			((uint8_t *)st->xsave)[wc.offset + b] = pattern_byte(seed, i, b);
		bv |= 1ull << wide_feat[i];
	}
	memcpy(st->xsave + 512, &bv, 8);
	ASSERT_OK(cv_ctx_full_state_changed(c));
}

/* @c's state must still be that of set_state(@seed), with xmm0 counted up to @count. */
static bool state_intact(const struct guest *g, struct cv_ctx *c, uint64_t count, uint64_t seed)
{
	struct cv_cpu_state *st = cv_ctx_state(c);
	ASSERT_OK(cv_ctx_pull_full_state(c));
	uint64_t x[2];
	memcpy(x, st->xsave + X_XMM(0), 16);
	if (x[0] != count || x[1] != seed)
		return false;
	for (unsigned i = 0; i < N_WIDE; i++) {
		struct cv_xsave_component wc;
		if (!(g->caps.xfeatures & (1ull << wide_feat[i])))
			continue;
		ASSERT_OK(cv_xsave_component(wide_feat[i], &wc));
		for (uint32_t b = 0; b < wc.size; b++)
			if (((uint8_t *)st->xsave)[wc.offset + b] != pattern_byte(seed, i, b))
				return false;
	}
	return true;
}

#define MIG_THREADS 8
#define MIG_CTX 2     /* per host thread */
#define MIG_ROUNDS 300

struct mig_worker {
	int rounds;
	struct guest *g;
	struct cv_ctx *c[MIG_CTX];
	uint64_t seed[MIG_CTX];
	bool patch;
	int ok;
	pthread_t t;
};

/* Each host thread alternates between its contexts; all of them share the address space's stub
 * threads, so a context resumes on whichever stub thread is free. */
static void *mig_main(void *arg)
{
	struct mig_worker *w = arg;
	uint64_t n[MIG_CTX] = { 0 };
	for (int round = 0; round < w->rounds; round++)
		for (int k = 0; k < MIG_CTX; k++) {
			struct cv_exit e;
			struct cv_regs *r = &cv_ctx_state(w->c[k])->regs;
			if (cv_ctx_switch(w->c[k], w->g->as, &e) < 0 || e.reason != CV_EXIT_SYSCALL ||
			    r->orig_rax != 0x600 || r->rbx != 1000 + n[k])
				return NULL;
			n[k]++;
			if (w->patch && (e.syscall_flags & CV_SYSCALL_PATCHABLE) && cv_as_patch_syscall(w->g->as, r->rip) < 0)
				return NULL;
			if (round % 50 == 0 && !state_intact(w->g, w->c[k], 1000 + n[k] - 1, w->seed[k]))
				return NULL;
		}
	for (int k = 0; k < MIG_CTX; k++)
		if (!state_intact(w->g, w->c[k], 1000 + n[k] - 1, w->seed[k]))
			return NULL;
	w->ok = 1;
	return NULL;
}

/* Host threads spinning on every CPU until *@stop: a busy machine, where pollers lose their CPU. */
struct hogs {
	pthread_t t[16];
	int n;
	volatile bool stop;
};

static void *hog_main(void *arg)
{
	struct hogs *h = arg;
	while (!h->stop)
		__builtin_ia32_pause();
	return NULL;
}

static void hogs_start(struct hogs *h)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	h->stop = false;
	h->n = 0;
	for (long i = 0; i < cpus && h->n < 16; i++)
		if (pthread_create(&h->t[h->n], NULL, hog_main, h) == 0)
			h->n++;
}

static void hogs_stop(struct hogs *h)
{
	h->stop = true;
	for (int i = 0; i < h->n; i++)
		pthread_join(h->t[i], NULL);
	h->n = 0;
}

static void migrate(const char *platform, bool patch, bool busy, int nt)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_loop_start, g_patch_loop_end);
	if (patch && !g.caps.patches_syscalls && !busy)
		SKIP("%s does not patch syscall sites", platform);
	patch = patch && g.caps.patches_syscalls;
	struct mig_worker w[MIG_THREADS];
	for (int i = 0; i < nt; i++) {
		w[i] = (struct mig_worker){ .g = &g, .patch = patch, .rounds = nt == 1 ? 20 * MIG_ROUNDS : MIG_ROUNDS };
		for (int k = 0; k < MIG_CTX; k++) {
			/* Roaming: a context may be switched from any host thread (here: one, but the
			 * platform must not care which stub thread ran it last). */
			w[i].c[k] = new_ctx(&g, CV_CTX_ROAMING, GUEST_CODE_ADDR);
			w[i].seed[k] = (uint64_t)(i * MIG_CTX + k + 1) * 0x1234567ull;
			cv_ctx_state(w[i].c[k])->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE - 0x800 * (uint64_t)(i * MIG_CTX + k);
			/* The guest starts with movq xmm0 -> rbx: its first report is xmm0 - 1 + 1. */
			set_state(&g, w[i].c[k], 1000, w[i].seed[k]);
		}
	}
	struct hogs h = { .n = 0 };
	if (busy) /* every hand-off's polling cut and restored as pollers lose their CPU (systrap) */
		hogs_start(&h);
	for (int i = 0; i < nt; i++)
		ASSERT_EQ(pthread_create(&w[i].t, NULL, mig_main, &w[i]), 0);
	for (int i = 0; i < nt; i++) {
		pthread_join(w[i].t, NULL);
		if (i == nt / 2)
			hogs_stop(&h); /* the rest finish on a quiet machine again */
		EXPECT_TRUE(w[i].ok);
		for (int k = 0; k < MIG_CTX; k++)
			ASSERT_OK(cv_ctx_release(w[i].c[k]));
	}
	guest_teardown(&g);
}

PLATFORM_TEST_TIMEOUT(contexts_migrate_with_exact_avx_state, 120)
{
	migrate(platform, false, false, MIG_THREADS);
}

PLATFORM_TEST_TIMEOUT(contexts_migrate_with_exact_avx_state_patched, 120)
{
	migrate(platform, true, false, MIG_THREADS);
}

/* The same with every CPU taken by spinning host threads until half the host threads are done:
 * hand-offs that poll, half-poll and sleep as the machine gets busy and quiet again keep each
 * context's exact state. Once with one host thread switching its two contexts in turn (one stub
 * thread, whose polling the sentry sets at each switch), once with eight at once. */
PLATFORM_TEST_TIMEOUT(contexts_on_a_busy_machine, 180)
{
	migrate(platform, true, true, 1);
	migrate(platform, true, true, MIG_THREADS);
}

#define N_MANY 1000
#define MANY_HOSTS 4

struct many_worker {
	struct guest *g;
	struct cv_ctx **c;
	int first, count, ok;
	pthread_t t;
};

/* Three rounds over this thread's share of the contexts, one syscall each, checking each one's own
 * counter (xmm0 through rbx) and a register only it has (r14). */
static void *many_main(void *arg)
{
	struct many_worker *w = arg;
	for (int round = 0; round < 3; round++)
		for (int i = w->first; i < w->first + w->count; i++) {
			struct cv_exit e;
			struct cv_regs *r = &cv_ctx_state(w->c[i])->regs;
			if (cv_ctx_switch(w->c[i], w->g->as, &e) < 0 || e.reason != CV_EXIT_SYSCALL ||
			    r->orig_rax != 0x600 || r->rbx != (uint64_t)i * 100 + (uint64_t)round || r->r14 != (uint64_t)i)
				return NULL;
			if (cv_ctx_prepare_sleep(w->c[i]) < 0) /* like a task blocking in the sentry */
				return NULL;
		}
	w->ok = 1;
	return NULL;
}

PLATFORM_TEST_TIMEOUT(contexts_thousand_in_one_as, 180)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_loop_start, g_patch_loop_end);
	struct cv_ctx **c = calloc(N_MANY, sizeof(*c));
	ASSERT_TRUE(c != NULL);
	for (int i = 0; i < N_MANY; i++) {
		c[i] = new_ctx(&g, CV_CTX_ROAMING, GUEST_CODE_ADDR);
		struct cv_cpu_state *st = cv_ctx_state(c[i]);
		st->regs.r14 = (uint64_t)i;
		st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE;
		ASSERT_OK(cv_ctx_pull_full_state(c[i]));
		uint64_t start = (uint64_t)i * 100, one = 1;
		memcpy(st->xsave + X_XMM(0), &start, 8);
		memcpy(st->xsave + X_XMM(1), &one, 8);
		uint64_t bv;
		memcpy(&bv, st->xsave + 512, 8);
		bv |= 1ull << CV_XFEATURE_SSE;
		memcpy(st->xsave + 512, &bv, 8);
		ASSERT_OK(cv_ctx_full_state_changed(c[i]));
	}
	/* The first round reads xmm0 before any paddq; from then on one more per round. */
	struct many_worker w[MANY_HOSTS];
	for (int h = 0; h < MANY_HOSTS; h++) {
		w[h] = (struct many_worker){ .g = &g, .c = c, .first = h * (N_MANY / MANY_HOSTS), .count = N_MANY / MANY_HOSTS };
		ASSERT_EQ(pthread_create(&w[h].t, NULL, many_main, &w[h]), 0);
	}
	for (int h = 0; h < MANY_HOSTS; h++) {
		pthread_join(w[h].t, NULL);
		EXPECT_TRUE(w[h].ok);
	}
	for (int i = 0; i < N_MANY; i++)
		ASSERT_OK(cv_ctx_release(c[i]));
	free(c);
	guest_teardown(&g);
}

/* CPU time (user + system) of process @pid, all its threads, in ns (from /proc/PID/stat). */
static uint64_t proc_cpu_ns(int pid)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	unsigned long long ut = 0, st = 0;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return 0;
	return (ut + st) * (1000000000ull / (uint64_t)sysconf(_SC_CLK_TCK));
}

static uint64_t self_cpu_ns(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000ull;
}

/*
 * After a busy spell of several contexts, all of them stop (as if blocked in the sentry) for a second:
 * stub processes and the sentry's own threads together use under 1 % of a core meanwhile.
 */
PLATFORM_TEST_TIMEOUT(contexts_idle_sandbox_uses_no_cpu, 60)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_loop_start, g_patch_loop_end);
	struct mig_worker w[4];
	for (int i = 0; i < 4; i++) {
		w[i] = (struct mig_worker){ .g = &g, .patch = g.caps.patches_syscalls, .rounds = MIG_ROUNDS };
		for (int k = 0; k < MIG_CTX; k++) {
			w[i].c[k] = new_ctx(&g, CV_CTX_ROAMING, GUEST_CODE_ADDR);
			w[i].seed[k] = (uint64_t)(i * MIG_CTX + k + 1);
			cv_ctx_state(w[i].c[k])->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE - 0x800 * (uint64_t)(i * MIG_CTX + k);
			set_state(&g, w[i].c[k], 1000, w[i].seed[k]);
		}
		ASSERT_EQ(pthread_create(&w[i].t, NULL, mig_main, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(w[i].t, NULL);
		EXPECT_TRUE(w[i].ok);
		for (int k = 0; k < MIG_CTX; k++)
			ASSERT_OK(cv_ctx_prepare_sleep(w[i].c[k]));
	}
	int kids[64];
	int nk = list_children(kids, 64);
	usleep(100000); /* spinners give up within their budget (at most 50 us) */
	uint64_t stub0 = 0, self0 = self_cpu_ns();
	for (int i = 0; i < nk; i++)
		stub0 += proc_cpu_ns(kids[i]);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sleep(1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uint64_t stub1 = 0, self1 = self_cpu_ns();
	for (int i = 0; i < nk; i++)
		stub1 += proc_cpu_ns(kids[i]);
	uint64_t wall = (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000ull + (uint64_t)(t1.tv_nsec - t0.tv_nsec);
	uint64_t used = (stub1 - stub0) + (self1 - self0);
	if (used * 100 >= wall)
		HARNESS_FAIL(0, "an idle sandbox used %llu us of CPU in %llu us", (unsigned long long)used / 1000,
			     (unsigned long long)wall / 1000);
	for (int i = 0; i < 4; i++)
		for (int k = 0; k < MIG_CTX; k++)
			ASSERT_OK(cv_ctx_release(w[i].c[k]));
	guest_teardown(&g);
}

/* Time on a CPU of every thread of process @pid, in ns (each thread's schedstat: exact, where
 * /proc/PID/stat counts clock ticks). */
static uint64_t proc_oncpu_ns(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	uint64_t sum = 0;
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		char sp[320];
		snprintf(sp, sizeof(sp), "/proc/%d/task/%s/schedstat", pid, de->d_name);
		FILE *f = fopen(sp, "re");
		unsigned long long ns = 0;
		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return sum;
}

/*
 * cv_ctx_idle(): the thread of a context that stopped at a syscall is about to wait. 30 rounds of 20
 * quick switches (a call the sentry answers at once: a stub thread polls after it) and one more
 * followed by the hint and 2 ms without a switch: in those 2 ms the stub processes use under 3 ms of
 * CPU over all rounds (systrap's stub thread would otherwise poll for the next context for up to its
 * 200 us budget each time), and the context goes on running as before, on every backend (the others
 * have nothing to stop).
 */
static uint64_t idle_rounds(struct guest *g, const int *kids, int nk, bool hint)
{
	uint64_t used = 0;
	for (int round = 0; round < 30; round++) {
		for (int quick = 0; quick <= 20; quick++) {
			struct cv_exit e;
			g->st->regs.rax = 39; /* (the call's result is rax's on return; ptrace leaves -ENOSYS) */
			ASSERT_OK(cv_ctx_switch(g->ctx, g->as, &e));
			ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
			ASSERT_EQ(g->st->regs.rip, GUEST_CODE_ADDR + 2);
			ASSERT_EQ(g->st->regs.orig_rax, 39);
		}
		if (hint)
			ASSERT_OK(cv_ctx_idle(g->ctx));
		uint64_t before = 0, after = 0;
		for (int i = 0; i < nk; i++)
			before += proc_oncpu_ns(kids[i]);
		usleep(2000);
		for (int i = 0; i < nk; i++)
			after += proc_oncpu_ns(kids[i]);
		used += after - before;
	}
	return used;
}

PLATFORM_TEST_TIMEOUT(contexts_idle_hint_stops_polling, 60)
{
	static const uint8_t loop[] = { 0x0f, 0x05, 0xeb, 0xfc }; /* syscall; jmp back to it */
	struct guest g;
	guest_setup(&g, platform, loop, loop + sizeof(loop));
	g.st->regs.rax = 39;
	struct cv_exit e;
	ASSERT_OK(cv_ctx_switch(g.ctx, g.as, &e)); /* the stub thread exists and has run once */
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	int kids[64];
	int nk = list_children(kids, 64);
	uint64_t without = idle_rounds(&g, kids, nk, false), with = idle_rounds(&g, kids, nk, true);
	fprintf(stderr, "# %s: stub CPU after the last switch of a round: %llu us in all without the hint, %llu us with it\n",
		platform, (unsigned long long)without / 1000, (unsigned long long)with / 1000);
	if (with >= 3000000)
		HARNESS_FAIL(0, "stub processes used %llu us of CPU over 30 idle spells", (unsigned long long)with / 1000);
	guest_teardown(&g);
}

struct nag {
	struct cv_ctx *c;
	atomic_bool stop;
	pthread_t t;
};

static void *nag_often(void *arg)
{
	struct nag *n = arg;
	while (!atomic_load(&n->stop)) {
		usleep(700);
		cv_ctx_interrupt(n->c);
	}
	return NULL;
}

/* A second context of the same address space, run for a while from another host thread. */
struct joiner {
	struct guest *g;
	struct cv_ctx *c;
	int ok;
	pthread_t t;
};

static void *join_main(void *arg)
{
	struct joiner *j = arg;
	for (int i = 0; i < 200;) {
		struct cv_exit e = { 0 };
		struct cv_regs *r = &cv_ctx_state(j->c)->regs;
		int ret = cv_ctx_switch(j->c, j->g->as, &e);
		if (ret == 0 && e.reason == CV_EXIT_INTERRUPT)
			continue; /* (may be spurious: a kick for the other context that found this one) */
		if (ret < 0 || e.reason != CV_EXIT_SYSCALL || r->rbx != 5000 + (uint64_t)i++) {
			fprintf(stderr, "# joiner: call %d: %d, exit %d, rbx %llu\n", i, ret, (int)e.reason,
				(unsigned long long)r->rbx);
			return NULL;
		}
	}
	j->ok = 1;
	return NULL;
}

/*
 * One context through what a process does: bursts of quick calls, calls the sentry takes long over
 * (with and without cv_ctx_idle()), interrupts arriving at any time, and another context of the
 * address space coming and going. On systrap this takes its one stub thread through every way it
 * waits and is woken (polling, parked on the listener, woken on the sentry's CPU or elsewhere, the
 * second stub thread's arrival); every call must report the next count and the AVX state stay exact.
 */
PLATFORM_TEST_TIMEOUT(contexts_through_bursts_and_sleeps, 120)
{
	struct guest g;
	guest_setup(&g, platform, g_patch_loop_start, g_patch_loop_end);
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	uint64_t seed = 0x5151abcd;
	set_state(&g, c, 1000, seed);
	struct nag ng = { .c = c };
	ASSERT_EQ(pthread_create(&ng.t, NULL, nag_often, &ng), 0);
	struct joiner j = { .g = &g };
	uint64_t n = 0;
	int interrupts = 0;
	for (int round = 0; round < 60; round++) {
		int burst = 1 + (round * 7) % 41; /* 1..41: under and over the rounds before polling again */
		for (int k = 0; k < burst;) {
			struct cv_exit e;
			struct cv_regs *r = &cv_ctx_state(c)->regs;
			ASSERT_OK(cv_ctx_switch(c, g.as, &e));
			if (e.reason == CV_EXIT_INTERRUPT) {
				interrupts++;
				continue;
			}
			ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
			ASSERT_EQ(r->rbx, 1000 + n);
			n++;
			k++;
		}
		if (round % 10 == 9)
			ASSERT_TRUE(state_intact(&g, c, 1000 + n - 1, seed));
		if (round % 2)
			ASSERT_OK(cv_ctx_idle(c));
		usleep(round % 3 == 0 ? 50 : 400 + 40 * (unsigned)round); /* under and over every poll */
		if (round == 30) { /* runs alongside the next rounds: a second stub thread comes */
			j.c = new_ctx(&g, 0, GUEST_CODE_ADDR);
			cv_ctx_state(j.c)->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE / 2;
			set_state(&g, j.c, 5000, seed + 1);
			ASSERT_EQ(pthread_create(&j.t, NULL, join_main, &j), 0);
		} else if (round == 33) {
			pthread_join(j.t, NULL);
			EXPECT_TRUE(j.ok);
			ASSERT_OK(cv_ctx_release(j.c));
		}
	}
	atomic_store(&ng.stop, true);
	pthread_join(ng.t, NULL);
	fprintf(stderr, "# %s: %llu calls, %d interrupts\n", platform, (unsigned long long)n, interrupts);
	EXPECT_TRUE(state_intact(&g, c, 1000 + n - 1, seed));
	ASSERT_OK(cv_ctx_release(c));
	guest_teardown(&g);
}
