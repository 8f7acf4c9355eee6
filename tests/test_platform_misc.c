// SPDX-License-Identifier: Apache-2.0
// Platform tests: CPUID policy, interrupts from other threads and signal handlers, preempt_all, and
// contexts moving between host threads.
#include <pthread.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include "guestlib.h"

GUEST_BLOB(g_spin);
GUEST_BLOB(g_migrate);
GUEST_BLOB(g_cpuid);

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

PLATFORM_TEST(cpuid_policy_api)
{
	struct cv_platform *p;
	ASSERT_OK(cv_platform_open(platform, NULL, &p));
	struct cv_cpuid_entry e, host0;
	ASSERT_OK(cv_platform_cpuid(p, 0, 0, &host0));
	unsigned a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0), "c"(0));
	EXPECT_EQ(host0.ebx, b); /* the vendor string */
	EXPECT_EQ(host0.ecx, c);
	EXPECT_EQ(host0.edx, d);

	struct cv_cpuid_entry pol[] = {
		{ .leaf = 0, .eax = 7, .ebx = 0x6976 /* "vi" */, .ecx = 1, .edx = 2 },
		{ .leaf = 7, .subleaf = 1, .flags = CV_CPUID_SIGNIFICANT_INDEX, .eax = 0x77 },
	};
	ASSERT_OK(cv_platform_set_cpuid(p, pol, 2));
	ASSERT_OK(cv_platform_cpuid(p, 0, 5, &e)); /* sub-leaf ignored without the flag */
	EXPECT_EQ(e.eax, 7);
	EXPECT_EQ(e.ebx, 0x6976);
	ASSERT_OK(cv_platform_cpuid(p, 7, 1, &e));
	EXPECT_EQ(e.eax, 0x77);
	ASSERT_OK(cv_platform_cpuid(p, 7, 0, &e)); /* not in the policy: zeroes */
	EXPECT_EQ(e.eax | e.ebx | e.ecx | e.edx, 0);
	ASSERT_OK(cv_platform_cpuid(p, 0x80000000, 0, &e));
	EXPECT_EQ(e.eax, 0);

	EXPECT_EQ(cv_platform_set_cpuid(p, NULL, 1), -EINVAL);
	struct cv_cpuid_entry dup[] = { { .leaf = 3 }, { .leaf = 3 } };
	EXPECT_EQ(cv_platform_set_cpuid(p, dup, 2), -EINVAL);
	struct cv_cpuid_entry badflag[] = { { .leaf = 3, .flags = 0x80 } };
	EXPECT_EQ(cv_platform_set_cpuid(p, badflag, 1), -EINVAL);
	EXPECT_EQ(cv_platform_cpuid(p, 0, 0, NULL), -EINVAL);
	EXPECT_EQ(cv_platform_cpuid(NULL, 0, 0, &e), -EINVAL);

	ASSERT_OK(cv_platform_set_cpuid(p, NULL, 0)); /* back to the default */
	ASSERT_OK(cv_platform_cpuid(p, 0, 0, &e));
	EXPECT_EQ(e.ebx, host0.ebx);
	ASSERT_OK(cv_platform_close(p));
}

PLATFORM_TEST(cpuid_trapped_and_emulated)
{
	struct guest g;
	guest_setup(&g, platform, g_cpuid_start, g_cpuid_end);
	if (!g.caps.cpuid_faulting)
		SKIP("CPUID faulting not available on this CPU/kernel (arch_prctl(ARCH_SET_CPUID) refused)");
	struct cv_cpuid_entry pol[] = { { .leaf = 0x4000abcd, .eax = 1, .ebx = 2, .ecx = 3, .edx = 4 } };
	ASSERT_OK(cv_platform_set_cpuid(g.p, pol, 1));
	g.st->regs.rax = 0x4000abcd;
	g.st->regs.rcx = 0;
	ASSERT_EQ(guest_run_syscall(&g), 700);
	EXPECT_EQ(g.st->regs.rbx, 2);
	EXPECT_EQ(g.st->regs.rdx, 4);
	guest_teardown(&g);
}

struct kicker {
	struct cv_ctx *ctx;
	struct cv_platform *p;
	int mode; /* 0: cv_ctx_interrupt, 1: via a signal handler, 2: cv_platform_preempt_all */
	pthread_t target;
};

static struct cv_ctx *handler_ctx;

static void on_usr1(int sig)
{
	(void)sig;
	cv_ctx_interrupt(handler_ctx); /* async-signal-safe by contract */
}

static void *kick(void *arg)
{
	struct kicker *k = arg;
	sleep_ms(50);
	if (k->mode == 0)
		cv_ctx_interrupt(k->ctx);
	else if (k->mode == 1)
		pthread_kill(k->target, SIGUSR1);
	else
		for (int i = 0; i < 100; i++) { /* preempt_all leaves nothing pending: retry until it hits */
			cv_platform_preempt_all(k->p);
			sleep_ms(20);
		}
	return NULL;
}

static void interrupt_spinning(const char *platform, int mode)
{
	struct guest g;
	guest_setup(&g, platform, g_spin_start, g_spin_end);
	struct kicker k = { g.ctx, g.p, mode, pthread_self() };
	handler_ctx = g.ctx;
	signal(SIGUSR1, on_usr1);
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, kick, &k), 0);
	struct cv_exit e = guest_run(&g);
	ASSERT_EQ(e.reason, CV_EXIT_INTERRUPT);
	EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR); /* still in its loop */
	pthread_join(t, NULL);
	guest_teardown(&g);
}

PLATFORM_TEST(interrupt_from_another_thread)
{
	interrupt_spinning(platform, 0);
}

PLATFORM_TEST(interrupt_from_signal_handler)
{
	interrupt_spinning(platform, 1);
}

PLATFORM_TEST(interrupt_preempt_all)
{
	interrupt_spinning(platform, 2);
}

PLATFORM_TEST(interrupt_pending_before_switch)
{
	struct guest g;
	guest_setup(&g, platform, g_migrate_start, g_migrate_end);
	ASSERT_OK(cv_ctx_interrupt(g.ctx));
	ASSERT_OK(cv_ctx_interrupt(g.ctx)); /* coalesces */
	struct cv_exit e = guest_run(&g);
	EXPECT_EQ(e.reason, CV_EXIT_INTERRUPT);
	EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR); /* nothing ran */
	ASSERT_EQ(guest_run(&g).reason, CV_EXIT_SYSCALL); /* and only one interrupt was left */
	EXPECT_EQ(g.st->regs.rip, GUEST_CODE_ADDR + 2);
	EXPECT_EQ(cv_ctx_interrupt(NULL), -EINVAL);
	EXPECT_EQ(cv_platform_preempt_all(NULL), -EINVAL);
	guest_teardown(&g);
}

struct other_switch {
	struct guest *g;
	int ret;
	struct cv_exit exit;
	bool pull;
};

static void *switch_there(void *arg)
{
	struct other_switch *o = arg;
	o->ret = cv_ctx_switch(o->g->ctx, o->g->as, &o->exit);
	if (o->ret == 0 && o->pull)
		o->ret = cv_ctx_pull_full_state(o->g->ctx);
	return NULL;
}

static int run_elsewhere(struct guest *g, bool pull, struct cv_exit *e)
{
	struct other_switch o = { g, 0, { 0 }, pull };
	pthread_t t;
	ASSERT_EQ(pthread_create(&t, NULL, switch_there, &o), 0);
	pthread_join(t, NULL);
	*e = o.exit;
	return o.ret;
}

/* xmm0 = pattern; guest copies it to xmm1 and xmm2 in steps, switched from different host threads. */
static void set_xmm0(struct guest *g, uint8_t v)
{
	memset((uint8_t *)g->st->xsave + 160, v, 16);
	*(uint64_t *)(void *)((uint8_t *)g->st->xsave + 512) |= 2; /* SSE in use */
	ASSERT_OK(cv_ctx_full_state_changed(g->ctx));
}

static void expect_xmm(struct guest *g, int reg, uint8_t v)
{
	const uint8_t *x = (const uint8_t *)g->st->xsave + 160 + 16 * reg;
	for (int i = 0; i < 16; i++)
		if (x[i] != v)
			HARNESS_FAIL(1, "xmm%d byte %d is %#x, want %#x", reg, i, x[i], v);
}

PLATFORM_TEST(ctx_roaming_between_threads)
{
	struct guest g;
	guest_setup(&g, platform, g_migrate_start, g_migrate_end);
	ASSERT_OK(cv_ctx_release(g.ctx));
	ASSERT_OK(cv_ctx_new(g.p, CV_CTX_ROAMING, &g.ctx));
	g.st = cv_ctx_state(g.ctx);
	g.st->regs.rip = GUEST_CODE_ADDR;
	set_xmm0(&g, 0xa7);
	struct cv_exit e;
	ASSERT_EQ(guest_run_syscall(&g), (long)g.st->regs.orig_rax);   /* here */
	ASSERT_OK(run_elsewhere(&g, true, &e));                         /* another thread: xmm0 -> xmm1 */
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	expect_xmm(&g, 1, 0xa7);
	ASSERT_EQ(guest_run_syscall(&g), (long)g.st->regs.orig_rax);   /* back here: xmm1 -> xmm2 */
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	expect_xmm(&g, 2, 0xa7);
	guest_teardown(&g);
}

PLATFORM_TEST(ctx_bound_needs_prepare_sleep)
{
	struct guest g;
	guest_setup(&g, platform, g_migrate_start, g_migrate_end);
	set_xmm0(&g, 0x3c);
	struct cv_exit e;
	ASSERT_EQ(guest_run_syscall(&g), (long)g.st->regs.orig_rax);
	/* The XSAVE state now lives with this thread's stub thread: another thread may not take it. */
	EXPECT_EQ(run_elsewhere(&g, false, &e), -EXDEV);
	ASSERT_OK(cv_ctx_prepare_sleep(g.ctx));
	ASSERT_OK(run_elsewhere(&g, true, &e));
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	expect_xmm(&g, 1, 0x3c);
	/* The other thread exited: its stub thread's state was saved, so we can carry on here. */
	ASSERT_EQ(guest_run_syscall(&g), (long)g.st->regs.orig_rax);
	ASSERT_OK(cv_ctx_pull_full_state(g.ctx));
	expect_xmm(&g, 2, 0x3c);
	guest_teardown(&g);
}
