// SPDX-License-Identifier: Apache-2.0
// Platform tests: the CPUID policy, interrupts (from other threads, signal handlers, preempt_all) and
// contexts moving between host threads with their FPU state.
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include "arch/x86_64/arch.h"
#include "guestlib.h"

GUEST_BLOB(g_spin);
GUEST_BLOB(g_accum);
GUEST_BLOB(g_cpuid);
extern const uint8_t g_spin_loop[];

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void host_cpuid(uint32_t leaf, uint32_t sub, struct cv_cpuid_entry *e)
{
	__asm__ volatile("cpuid" : "=a"(e->eax), "=b"(e->ebx), "=c"(e->ecx), "=d"(e->edx) : "a"(leaf), "c"(sub));
}

/* ---- CPUID ---- */

PLATFORM_TEST(cpuid_policy_api)
{
	struct cv_platform *p;
	ASSERT_OK(cv_platform_open(platform, NULL, &p));
	struct cv_cpuid_entry e, host0, def0;
	host_cpuid(0, 0, &host0);
	ASSERT_OK(cv_platform_cpuid(p, 0, 0, &def0));
	EXPECT_EQ(def0.ebx, host0.ebx); /* the default policy has the host's vendor string */
	EXPECT_EQ(def0.ecx, host0.ecx);
	EXPECT_EQ(def0.edx, host0.edx);
	EXPECT_GE(def0.eax, 1);
	/* The hypervisor bit is kept and never invented... */
	struct cv_cpuid_entry host1, def1;
	host_cpuid(1, 0, &host1);
	ASSERT_OK(cv_platform_cpuid(p, 1, 0, &def1));
	EXPECT_EQ(def1.ecx & (1u << 31), host1.ecx & (1u << 31));
	/* ...and features whose state the platform does not carry are hidden (OSXSAVE/AVX need XSAVE). */
	struct cv_platform_caps caps;
	ASSERT_OK(cv_platform_caps(p, &caps));
	if (!(caps.xfeatures & (1u << CV_XFEATURE_AVX)))
		EXPECT_EQ(def1.ecx & (1u << 28), 0);

	struct cv_cpuid_entry pol[] = {
		{ .leaf = 0, .eax = 7, .ebx = 0x6976 /* "vi" */, .ecx = 1, .edx = 2 },
		{ .leaf = 7, .subleaf = 1, .flags = CV_CPUID_SIGNIFICANT_INDEX, .eax = 0x77 },
		{ .leaf = 7, .subleaf = 0, .flags = CV_CPUID_SIGNIFICANT_INDEX, .ebx = 0x70 },
		{ .leaf = 0x4000abcd, .eax = 0xa, .ebx = 0xb, .ecx = 0xc, .edx = 0xd },
	};
	ASSERT_OK(cv_platform_set_cpuid(p, pol, 4));
	ASSERT_OK(cv_platform_cpuid(p, 0, 5, &e)); /* subleaf ignored without the flag */
	EXPECT_EQ(e.eax, 7);
	EXPECT_EQ(e.ebx, 0x6976);
	EXPECT_EQ(e.ecx, 1);
	EXPECT_EQ(e.edx, 2);
	ASSERT_OK(cv_platform_cpuid(p, 7, 1, &e));
	EXPECT_EQ(e.eax, 0x77);
	EXPECT_EQ(e.ebx, 0);
	ASSERT_OK(cv_platform_cpuid(p, 7, 0, &e));
	EXPECT_EQ(e.eax, 0);
	EXPECT_EQ(e.ebx, 0x70);
	ASSERT_OK(cv_platform_cpuid(p, 7, 2, &e)); /* leaf known, subleaf not: zeroes */
	EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);
	ASSERT_OK(cv_platform_cpuid(p, 0x4000abcd, 0, &e));
	EXPECT_EQ(e.eax, 0xa);
	EXPECT_EQ(e.edx, 0xd);
	ASSERT_OK(cv_platform_cpuid(p, 1, 0, &e)); /* not in the policy: zeroes */
	EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);
	ASSERT_OK(cv_platform_cpuid(p, 0x80000000, 0, &e));
	EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);

	/* The table was copied. */
	pol[0].ebx = 0xdead;
	ASSERT_OK(cv_platform_cpuid(p, 0, 0, &e));
	EXPECT_EQ(e.ebx, 0x6976);

	/* Errors leave the policy as it was. */
	EXPECT_EQ(cv_platform_set_cpuid(p, NULL, 1), -EINVAL);
	struct cv_cpuid_entry dup[] = { { .leaf = 3 }, { .leaf = 3 } };
	EXPECT_EQ(cv_platform_set_cpuid(p, dup, 2), -EINVAL);
	struct cv_cpuid_entry dup_sub[] = { { .leaf = 4, .subleaf = 1, .flags = CV_CPUID_SIGNIFICANT_INDEX },
					    { .leaf = 4, .subleaf = 1, .flags = CV_CPUID_SIGNIFICANT_INDEX } };
	EXPECT_EQ(cv_platform_set_cpuid(p, dup_sub, 2), -EINVAL);
	struct cv_cpuid_entry badflag[] = { { .leaf = 3, .flags = 0x80 } };
	EXPECT_EQ(cv_platform_set_cpuid(p, badflag, 1), -EINVAL);
	static struct cv_cpuid_entry many[4097];
	for (uint32_t i = 0; i < 4097; i++)
		many[i] = (struct cv_cpuid_entry){ .leaf = 0x40000000 + i, .eax = i };
	EXPECT_EQ(cv_platform_set_cpuid(p, many, 4097), -EINVAL);
	ASSERT_OK(cv_platform_cpuid(p, 0, 0, &e));
	EXPECT_EQ(e.ebx, 0x6976);
	EXPECT_EQ(cv_platform_cpuid(p, 0, 0, NULL), -EINVAL);
	EXPECT_EQ(cv_platform_cpuid(NULL, 0, 0, &e), -EINVAL);
	EXPECT_EQ(cv_platform_set_cpuid(NULL, pol, 1), -EINVAL);

	/* The maximum size is accepted. */
	ASSERT_OK(cv_platform_set_cpuid(p, many, 4096));
	ASSERT_OK(cv_platform_cpuid(p, 0x40000000 + 4095, 0, &e));
	EXPECT_EQ(e.eax, 4095);

	/* n == 0 restores the default. */
	ASSERT_OK(cv_platform_set_cpuid(p, NULL, 0));
	ASSERT_OK(cv_platform_cpuid(p, 0, 0, &e));
	EXPECT_EQ(memcmp(&e, &def0, sizeof(e)), 0);
	ASSERT_OK(cv_platform_cpuid(p, 1, 0, &e));
	/* Leaf 1 as before, except the initial APIC ID (EBX[31:24]): the default is built from the CPUID
	 * of whichever CPU the caller is on, and that one is per CPU. */
	EXPECT_EQ(e.eax, def1.eax);
	EXPECT_EQ(e.ebx & 0xffffff, def1.ebx & 0xffffff);
	EXPECT_EQ(e.ecx, def1.ecx);
	EXPECT_EQ(e.edx, def1.edx);
	ASSERT_OK(cv_platform_close(p));
}

/* Run the cpuid guest once with eax/ecx = @leaf/@sub; return what it saw. */
static struct cv_cpuid_entry guest_cpuid(struct guest *g, uint32_t leaf, uint32_t sub)
{
	g->st->regs.rip = GUEST_CODE_ADDR;
	g->st->regs.rax = leaf;
	g->st->regs.rcx = sub;
	ASSERT_EQ(guest_run_syscall(g), 0x720);
	return (struct cv_cpuid_entry){ .leaf = leaf, .subleaf = sub, .eax = (uint32_t)g->st->regs.r8,
					.ebx = (uint32_t)g->st->regs.rbx, .ecx = (uint32_t)g->st->regs.r9,
					.edx = (uint32_t)g->st->regs.rdx };
}

static void expect_same_cpuid(const struct cv_cpuid_entry *got, const struct cv_cpuid_entry *want)
{
	if (got->eax != want->eax || got->ebx != want->ebx || got->ecx != want->ecx || got->edx != want->edx)
		HARNESS_FAIL(0, "leaf %#x/%u: guest %08x %08x %08x %08x, policy %08x %08x %08x %08x",
			     want->leaf, want->subleaf, got->eax, got->ebx, got->ecx, got->edx, want->eax,
			     want->ebx, want->ecx, want->edx);
}

PLATFORM_TEST(cpuid_trapped_and_emulated)
{
	struct guest g;
	guest_setup(&g, platform, g_cpuid_start, g_cpuid_end);
	if (!g.caps.cpuid_faulting)
		SKIP("CPUID faulting not available on this CPU/kernel (arch_prctl(ARCH_SET_CPUID) refused)");
	/* The default policy, as cv_platform_cpuid() describes it. */
	struct cv_cpuid_entry want, got;
	ASSERT_OK(cv_platform_cpuid(g.p, 0, 0, &want));
	got = guest_cpuid(&g, 0, 0);
	EXPECT_EQ(got.eax, want.eax);
	EXPECT_EQ(got.ebx, want.ebx);
	EXPECT_EQ(got.ecx, want.ecx);
	EXPECT_EQ(got.edx, want.edx);
	ASSERT_OK(cv_platform_cpuid(g.p, 1, 0, &want));
	got = guest_cpuid(&g, 1, 0);
	EXPECT_EQ(got.ecx, want.ecx);
	EXPECT_EQ(got.edx, want.edx);
	/* Every leaf of both ranges, at several subleaves, and leaves the policy lacks: what the policy
	 * says (answered by systrap's stub threads from their copy of it, by the other backends in the
	 * switch). */
	struct cv_cpuid_entry max;
	uint32_t ranges[] = { 0, 0x80000000u }, subs[] = { 0, 1, 2, 3, 7, 1000 }, checked = 0;
	for (size_t r = 0; r < 2; r++) {
		ASSERT_OK(cv_platform_cpuid(g.p, ranges[r], 0, &max));
		uint32_t last = max.eax - ranges[r] < 64 ? max.eax : ranges[r] + 63;
		for (uint32_t leaf = ranges[r]; leaf <= last + 2; leaf++) /* (and two past the last) */
			for (size_t k = 0; k < sizeof(subs) / sizeof(subs[0]); k++) {
				ASSERT_OK(cv_platform_cpuid(g.p, leaf, subs[k], &want));
				got = guest_cpuid(&g, leaf, subs[k]);
				expect_same_cpuid(&got, &want);
				checked++;
			}
	}
	EXPECT_TRUE(checked > 12);
	got = guest_cpuid(&g, 0x4fffffff, 0);
	EXPECT_EQ(got.eax | got.ebx | got.ecx | got.edx, 0);

	/* A policy of our own, changed while the address space exists. */
	struct cv_cpuid_entry pol[] = { { .leaf = 0x4000abcd, .eax = 1, .ebx = 2, .ecx = 3, .edx = 4 } };
	ASSERT_OK(cv_platform_set_cpuid(g.p, pol, 1));
	got = guest_cpuid(&g, 0x4000abcd, 0);
	EXPECT_EQ(got.eax, 1);
	EXPECT_EQ(got.ebx, 2);
	EXPECT_EQ(got.ecx, 3);
	EXPECT_EQ(got.edx, 4);
	got = guest_cpuid(&g, 0, 0); /* not in the policy: zeroes, not the host's */
	EXPECT_EQ(got.eax | got.ebx | got.ecx | got.edx, 0);
	guest_teardown(&g);
}

/* CV_PLATFORM_CPUID_FAULTING_IF_NEEDED: CPUID faults only where the default policy hides something
 * from applications; otherwise the guest's CPUID is the host's, and a policy set later changes only
 * what cv_platform_cpuid() says. */
PLATFORM_TEST(cpuid_faulting_if_needed)
{
	struct cv_platform_opts o = { .size = sizeof(o), .flags = CV_PLATFORM_CPUID_FAULTING_IF_NEEDED };
	struct guest g;
	guest_setup_opts(&g, platform, &o, g_cpuid_start, g_cpuid_end);
	if (strcmp(platform, "kvm") == 0) { /* (accepted, ignored: the VM's CPUID costs nothing per switch) */
		guest_teardown(&g);
		return;
	}
	EXPECT_EQ(g.caps.cpuid_faulting, x86_cpuid_faulting_supported() && !x86_cpuid_default_is_host());
	struct cv_cpuid_entry pol[] = { { .leaf = 0, .eax = 0x11, .ebx = 0x22, .ecx = 0x33, .edx = 0x44 } };
	ASSERT_OK(cv_platform_set_cpuid(g.p, pol, 1));
	struct cv_cpuid_entry got = guest_cpuid(&g, 0, 0), host;
	host_cpuid(0, 0, &host);
	if (g.caps.cpuid_faulting) {
		EXPECT_EQ(got.eax, 0x11);
		EXPECT_EQ(got.edx, 0x44);
	} else { /* (leaf 0 is the same on every CPU) */
		EXPECT_EQ(got.eax, host.eax);
		EXPECT_EQ(got.ebx, host.ebx);
		EXPECT_EQ(got.ecx, host.ecx);
		EXPECT_EQ(got.edx, host.edx);
	}
	guest_teardown(&g);
	struct cv_platform_opts bad = { .size = sizeof(bad), .flags = 1u << 30 };
	EXPECT_EQ(cv_platform_open(platform, &bad, &g.p), -EINVAL);
}

/* ---- interrupts ---- */

enum kick_mode { KICK_INTERRUPT, KICK_SIGNAL, KICK_PREEMPT_ALL };

struct kicker {
	struct guest *g;
	enum kick_mode mode;
	pthread_t target;
	volatile uint32_t *flags; /* [0]: the guest runs; [2]: the sentry lets it leave its loop */
	atomic_int done;
	int busy_switch, busy_release, busy_as_release;
};

static struct cv_ctx *_Atomic handler_ctx;

static void on_usr1(int sig)
{
	(void)sig;
	int saved = errno;
	cv_ctx_interrupt(atomic_load(&handler_ctx)); /* async-signal-safe by contract */
	errno = saved;
}

static void *kick(void *arg)
{
	struct kicker *k = arg;
	while (k->flags[0] == 0) /* until the guest is certainly running */
		sleep_ms(1);
	/* A running context can be neither switched again nor released, nor its address space. */
	struct cv_exit e;
	k->busy_switch = cv_ctx_switch(k->g->ctx, k->g->as, &e);
	k->busy_release = cv_ctx_release(k->g->ctx);
	k->busy_as_release = cv_as_release(k->g->as);
	sleep_ms(50);
	if (k->mode == KICK_INTERRUPT) {
		cv_ctx_interrupt(k->g->ctx);
	} else if (k->mode == KICK_SIGNAL) {
		pthread_kill(k->target, SIGUSR1);
	} else {
		/* preempt_all leaves nothing pending, so keep kicking until the switch has returned. */
		while (!atomic_load(&k->done)) {
			cv_platform_preempt_all(k->g->p);
			sleep_ms(10);
		}
	}
	return NULL;
}

static void interrupt_spinning(const char *platform, enum kick_mode mode)
{
	struct guest g;
	guest_setup(&g, platform, g_spin_start, g_spin_end);
	uint32_t *flags = guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	g.st->regs.rdi = GUEST_DATA_ADDR;
	struct kicker k = { .g = &g, .mode = mode, .target = pthread_self(), .flags = flags };
	atomic_store(&handler_ctx, g.ctx);
	struct sigaction sa = { .sa_handler = on_usr1 }; /* no SA_RESTART: the switch sees EINTR */
	sigemptyset(&sa.sa_mask);
	ASSERT_EQ(sigaction(SIGUSR1, &sa, NULL), 0);

	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, kick, &k), 0);
	struct cv_exit e = guest_run(&g);
	atomic_store(&k.done, 1);
	pthread_join(t, NULL);
	ASSERT_EQ(e.reason, CV_EXIT_INTERRUPT);
	EXPECT_EQ(flags[0], 1);
	EXPECT_EQ(k.busy_switch, -EBUSY);
	EXPECT_EQ(k.busy_release, -EBUSY);
	EXPECT_EQ(k.busy_as_release, -EBUSY);
	/* Stopped inside its loop, registers intact. */
	EXPECT_GE(g.st->regs.rip, (uint64_t)(GUEST_CODE_ADDR + (uint64_t)(g_spin_loop - g_spin_start)));
	EXPECT_LT(g.st->regs.rip, (uint64_t)(GUEST_CODE_ADDR + (uint64_t)(g_spin_end - g_spin_start)));
	EXPECT_EQ(g.st->regs.rdi, GUEST_DATA_ADDR);

	/* Let it out of the loop: it continues where it was interrupted. */
	flags[2] = 1;
	e = guest_run(&g);
	/* A kick racing with the end of the switch may leave one spurious interrupt (allowed). */
	if (mode == KICK_PREEMPT_ALL && e.reason == CV_EXIT_INTERRUPT)
		e = guest_run(&g);
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(g.st->regs.orig_rax, 0x700);
	signal(SIGUSR1, SIG_DFL);
	guest_teardown(&g);
}

PLATFORM_TEST(interrupt_from_another_thread)
{
	interrupt_spinning(platform, KICK_INTERRUPT);
}

PLATFORM_TEST(interrupt_from_signal_handler)
{
	interrupt_spinning(platform, KICK_SIGNAL);
}

PLATFORM_TEST(interrupt_preempt_all)
{
	interrupt_spinning(platform, KICK_PREEMPT_ALL);
}

PLATFORM_TEST(interrupt_pending_before_switch)
{
	struct guest g;
	guest_setup(&g, platform, g_spin_start, g_spin_end);
	uint32_t *flags = guest_map_anon(&g, GUEST_DATA_ADDR, 4096, CV_ACCESS_READ | CV_ACCESS_WRITE, NULL);
	flags[2] = 1; /* the guest leaves its loop at once */
	g.st->regs.rdi = GUEST_DATA_ADDR;

	/* preempt_all with nothing running leaves nothing pending. */
	ASSERT_OK(cv_platform_preempt_all(g.p));
	ASSERT_EQ(guest_run_syscall(&g), 0x700);
	EXPECT_EQ(flags[0], 1);

	/* Two interrupts before a switch: one interrupt exit, nothing run, then a normal switch. */
	flags[0] = 0;
	g.st->regs.rip = GUEST_CODE_ADDR;
	ASSERT_OK(cv_ctx_interrupt(g.ctx));
	ASSERT_OK(cv_ctx_interrupt(g.ctx));
	struct cv_exit e = guest_run(&g);
	EXPECT_EQ(e.reason, CV_EXIT_INTERRUPT);
	EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR);
	EXPECT_EQ(flags[0], 0); /* nothing ran */
	ASSERT_EQ(guest_run_syscall(&g), 0x700);
	EXPECT_EQ(flags[0], 1);

	/* An interrupt of one context does not stop another. */
	struct cv_ctx *other;
	ASSERT_OK(cv_ctx_new(g.p, 0, &other));
	struct cv_cpu_state *ost = cv_ctx_state(other);
	ost->regs.rip = GUEST_CODE_ADDR;
	ost->regs.rdi = GUEST_DATA_ADDR;
	ASSERT_OK(cv_ctx_interrupt(g.ctx));
	ASSERT_OK(cv_ctx_switch(other, g.as, &e));
	EXPECT_EQ(e.reason, CV_EXIT_SYSCALL);
	EXPECT_EQ(ost->regs.orig_rax, 0x700);
	ASSERT_OK(cv_ctx_release(other));
	EXPECT_EQ(guest_run(&g).reason, CV_EXIT_INTERRUPT); /* still pending for its own context */

	EXPECT_EQ(cv_ctx_interrupt(NULL), -EINVAL);
	EXPECT_EQ(cv_platform_preempt_all(NULL), -EINVAL);
	guest_teardown(&g);
}

/* ---- contexts moving between host threads ---- */

#define INC 0x0101010101010101ull

/* A host thread that does one context operation at a time when told to. */
struct worker {
	pthread_t t;
	sem_t go, done;
	enum { W_SWITCH, W_PULL, W_SLEEP, W_QUIT } op;
	struct guest *g;
	int ret;
	struct cv_exit exit;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		while (sem_wait(&w->go) < 0)
			;
		switch (w->op) {
		case W_SWITCH:
			w->ret = cv_ctx_switch(w->g->ctx, w->g->as, &w->exit);
			break;
		case W_PULL:
			w->ret = cv_ctx_pull_full_state(w->g->ctx);
			break;
		case W_SLEEP:
			w->ret = cv_ctx_prepare_sleep(w->g->ctx);
			break;
		case W_QUIT:
			sem_post(&w->done);
			return NULL;
		}
		sem_post(&w->done);
	}
}

static void worker_start(struct worker *w, struct guest *g)
{
	memset(w, 0, sizeof(*w));
	w->g = g;
	ASSERT_EQ(sem_init(&w->go, 0, 0), 0);
	ASSERT_EQ(sem_init(&w->done, 0, 0), 0);
	ASSERT_EQ(pthread_create(&w->t, NULL, worker_main, w), 0);
}

static int worker_do(struct worker *w, int op)
{
	w->op = op;
	sem_post(&w->go);
	while (sem_wait(&w->done) < 0)
		;
	return w->ret;
}

static void worker_stop(struct worker *w)
{
	worker_do(w, W_QUIT);
	pthread_join(w->t, NULL);
	sem_destroy(&w->go);
	sem_destroy(&w->done);
}

/* xmm0 = 0, xmm1 = @inc in both quadwords, ST0 = 0.0, ST1 = 1.0. */
static void accum_init(struct guest *g)
{
	ASSERT_OK(cv_ctx_pull_full_state(g->ctx));
	uint8_t *xs = g->st->xsave;
	uint64_t inc[2] = { INC, INC };
	memset(xs + 160, 0, 16);
	memcpy(xs + 176, inc, 16);
	long double zero = 0.0L, one = 1.0L;
	memset(xs + 32, 0, 32);
	memcpy(xs + 32, &zero, 10);
	memcpy(xs + 48, &one, 10);
	uint16_t fsw = 0;     /* TOP 0 */
	memcpy(xs + 2, &fsw, 2);
	xs[4] = 0x03;         /* abridged tag word: R0 and R1 valid */
	xs[512] |= 3;         /* XSTATE_BV: x87, SSE */
	ASSERT_OK(cv_ctx_full_state_changed(g->ctx));
}

/* The exit of accumulation round @round: rdi = xmm0's low half, rsi = ST0. */
static void expect_round(const struct cv_exit *e, struct guest *g, uint64_t xmm0, uint64_t round,
			 const char *who)
{
	if (e->reason != CV_EXIT_SYSCALL || g->st->regs.orig_rax != 0x710)
		HARNESS_FAIL(1, "round %llu on %s: exit reason %d, nr %#llx, signal %d",
			     (unsigned long long)round, who, e->reason, (unsigned long long)g->st->regs.orig_rax,
			     e->info.si_signo);
	if (g->st->regs.rdi != xmm0 || g->st->regs.rsi != round)
		HARNESS_FAIL(1, "round %llu on %s: xmm0 %#llx (want %#llx), st0 %llu", (unsigned long long)round,
			     who, (unsigned long long)g->st->regs.rdi, (unsigned long long)xmm0,
			     (unsigned long long)g->st->regs.rsi);
}

/* After a pull: xmm0 holds @xmm0 in both halves and ST0 == @round. */
static void expect_pulled(struct guest *g, uint64_t xmm0, uint64_t round)
{
	const uint8_t *xs = g->st->xsave;
	uint64_t x[2];
	memcpy(x, xs + 160, 16);
	EXPECT_EQ(x[0], xmm0);
	EXPECT_EQ(x[1], xmm0);
	long double st0 = 0;
	memcpy(&st0, xs + 32, 10);
	EXPECT_TRUE(st0 == (long double)round);
}

PLATFORM_TEST(ctx_roaming_between_threads)
{
	struct guest g;
	guest_setup(&g, platform, g_accum_start, g_accum_end);
	ASSERT_OK(cv_ctx_release(g.ctx));
	ASSERT_OK(cv_ctx_new(g.p, CV_CTX_ROAMING, &g.ctx));
	g.st = cv_ctx_state(g.ctx);
	g.st->regs.rip = GUEST_CODE_ADDR;
	g.st->regs.rsp = GUEST_STACK_ADDR + GUEST_STACK_SIZE;
	accum_init(&g);

	struct worker w[2];
	worker_start(&w[0], &g);
	worker_start(&w[1], &g);
	uint64_t xmm0 = 0, inc = INC;
	for (uint64_t round = 1; round <= 40; round++) {
		struct worker *cur = &w[round % 2];
		xmm0 += inc;
		ASSERT_OK(worker_do(cur, W_SWITCH));
		expect_round(&cur->exit, &g, xmm0, round, round % 2 ? "thread B" : "thread A");
		if (round == 20) {
			/* A third thread (this one) pulls and changes the increment in between. */
			ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
			expect_pulled(&g, xmm0, round);
			inc = 3 * INC;
			uint64_t v[2] = { inc, inc };
			memcpy((uint8_t *)g.st->xsave + 176, v, 16);
			ASSERT_OK(cv_ctx_full_state_changed(g.ctx));
		}
	}
	/* This thread may switch it too, without any handover. */
	struct cv_exit e = guest_run(&g);
	xmm0 += inc;
	expect_round(&e, &g, xmm0, 41, "the main thread");
	ASSERT_OK(worker_do(&w[0], W_PULL));
	expect_pulled(&g, xmm0, 41);
	worker_stop(&w[0]);
	worker_stop(&w[1]);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	expect_pulled(&g, xmm0, 41);
	guest_teardown(&g);
}

PLATFORM_TEST(ctx_bound_needs_prepare_sleep)
{
	struct guest g;
	guest_setup(&g, platform, g_accum_start, g_accum_end);
	accum_init(&g);
	struct worker a, b;
	worker_start(&a, &g);
	worker_start(&b, &g);

	ASSERT_OK(worker_do(&a, W_SWITCH));
	expect_round(&a.exit, &g, INC, 1, "thread A");
	if (!g.caps.thread_bound_state) {
		/* The state is reachable from every thread: no handover needed, none refused. */
		ASSERT_OK(worker_do(&b, W_SWITCH));
		expect_round(&b.exit, &g, 2 * INC, 2, "thread B");
		ASSERT_OK(worker_do(&a, W_PULL));
		expect_pulled(&g, 2 * INC, 2);
		ASSERT_OK(worker_do(&a, W_SWITCH));
		expect_round(&a.exit, &g, 3 * INC, 3, "thread A");
		ASSERT_OK(worker_do(&b, W_SLEEP));
		struct cv_exit e = guest_run(&g);
		expect_round(&e, &g, 4 * INC, 4, "the main thread");
		worker_stop(&a);
		worker_stop(&b);
		guest_teardown(&g);
		return;
	}
	/* The FPU state now lives with A: B may neither run nor pull the context. */
	uint64_t rip = g.st->regs.rip;
	EXPECT_EQ(worker_do(&b, W_SWITCH), -EXDEV);
	EXPECT_EQ(worker_do(&b, W_PULL), -EXDEV);
	EXPECT_EQ(worker_do(&b, W_SLEEP), -EXDEV);
	EXPECT_EQ(g.st->regs.rip, rip); /* nothing ran */

	/* After prepare_sleep on A, B runs it with the state A's runs left. */
	ASSERT_OK(worker_do(&a, W_SLEEP));
	ASSERT_OK(worker_do(&b, W_SWITCH));
	expect_round(&b.exit, &g, 2 * INC, 2, "thread B");
	ASSERT_OK(worker_do(&b, W_SWITCH));
	expect_round(&b.exit, &g, 3 * INC, 3, "thread B");

	/* Now A is the foreign one. A pull on B hands it over as well as prepare_sleep does. */
	EXPECT_EQ(worker_do(&a, W_SWITCH), -EXDEV);
	EXPECT_EQ(worker_do(&a, W_PULL), -EXDEV);
	ASSERT_OK(worker_do(&b, W_PULL));
	expect_pulled(&g, 3 * INC, 3);
	ASSERT_OK(worker_do(&a, W_SWITCH));
	expect_round(&a.exit, &g, 4 * INC, 4, "thread A");

	/* The main thread: refused until A lets go. */
	EXPECT_EQ(cv_ctx_prepare_sleep(g.ctx), -EXDEV);
	EXPECT_EQ(cv_ctx_pull_full_state(g.ctx), -EXDEV);
	ASSERT_OK(worker_do(&a, W_SLEEP));
	struct cv_exit e = guest_run(&g);
	expect_round(&e, &g, 5 * INC, 5, "the main thread");
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	expect_pulled(&g, 5 * INC, 5);

	/* Threads that ran it may go away; the context carries on. */
	worker_stop(&a);
	worker_stop(&b);
	e = guest_run(&g);
	expect_round(&e, &g, 6 * INC, 6, "the main thread");
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	expect_pulled(&g, 6 * INC, 6);
	guest_teardown(&g);
}

/* What the backend calls from the caller's threads, for a caller's own seccomp allow-list. */
PLATFORM_TEST(host_syscalls_list)
{
	struct cv_platform *p;
	ASSERT_OK(cv_platform_open(platform, NULL, &p));
	const int *nrs = NULL;
	int n = cv_platform_host_syscalls(p, &nrs);
	ASSERT_GE(n, 1);
	ASSERT_TRUE(nrs != NULL);
	bool has_ptrace = false, has_wait = false, has_ioctl = false;
	for (int i = 0; i < n; i++) {
		EXPECT_TRUE(nrs[i] >= 0 && nrs[i] < 512);
		has_ptrace |= nrs[i] == SYS_ptrace;
		has_wait |= nrs[i] == SYS_waitid;
		has_ioctl |= nrs[i] == SYS_ioctl;
	}
	bool kvm = strcmp(platform, "kvm") == 0;
	EXPECT_EQ(has_ptrace, strcmp(platform, "ptrace") == 0); /* only the tracer traces */
	EXPECT_EQ(has_wait, !kvm);                               /* the stub backends reap their stubs */
	if (kvm)
		EXPECT_TRUE(has_ioctl); /* it runs vCPUs */
	EXPECT_EQ(cv_platform_host_syscalls(NULL, &nrs), -EINVAL);
	EXPECT_EQ(cv_platform_host_syscalls(p, NULL), -EINVAL);
	cv_platform_close(p);
}
