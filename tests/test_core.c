// SPDX-License-Identifier: Apache-2.0
// Tests of the library's common pieces: version, error strings, logging sink, registry, membarrier.
#include <sched.h>
#include "guestlib.h"

static int log_calls;
static char last_msg[256];

static void sink(enum cv_log_level level, const char *msg, void *opaque)
{
	(void)level;
	*(int *)opaque += 1;
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

TEST(core_version_and_errors)
{
	EXPECT_EQ(strcmp(cv_version(), "0.1.0"), 0);
	EXPECT_TRUE(strstr(cv_strerror(-CV_EASDEAD), "address space") != NULL);
	EXPECT_TRUE(strstr(cv_strerror(CV_ETAMPERED), "tampered") != NULL);
	EXPECT_TRUE(strstr(cv_strerror(-EINVAL), "Invalid") != NULL);
	EXPECT_TRUE(cv_strerror(-123456) != NULL);
}

TEST(core_log_handler)
{
	log_calls = 0;
	ASSERT_OK(cv_set_log_handler(sink, &log_calls, CV_LOG_DEBUG));
	struct cv_platform *p;
	char why[128];
	if (cv_platform_probe("systrap", why, sizeof(why)) < 0) {
		EXPECT_TRUE(cv_platform_open("systrap", NULL, &p) < 0);
		EXPECT_GE(log_calls, 1); /* "platform systrap unusable: ..." */
		EXPECT_TRUE(strstr(last_msg, "systrap") != NULL);
	}
	int before = log_calls;
	ASSERT_OK(cv_set_log_handler(sink, &log_calls, CV_LOG_ERROR)); /* info messages now filtered */
	cv_platform_open("systrap", NULL, &p);
	EXPECT_EQ(log_calls, before);
	EXPECT_EQ(cv_set_log_handler(NULL, NULL, (enum cv_log_level)7), -EINVAL);
	ASSERT_OK(cv_set_log_handler(NULL, NULL, CV_LOG_WARN));
}

TEST(core_registry)
{
	const char *names[8];
	int n = cv_platform_list(names, 8);
	ASSERT_EQ(n, 3);
	EXPECT_EQ(cv_platform_list(NULL, 0), 3);
	EXPECT_EQ(cv_platform_list(NULL, 2), -EINVAL);
	struct cv_platform_requirements req;
	ASSERT_OK(cv_platform_requirements("ptrace", &req));
	EXPECT_TRUE(req.needs_ptrace);
	ASSERT_OK(cv_platform_requirements("kvm", &req));
	EXPECT_EQ(strcmp(req.device, "/dev/kvm"), 0);
	EXPECT_EQ(cv_platform_requirements("vmware", &req), -ENOENT);
	EXPECT_EQ(cv_platform_requirements(NULL, &req), -EINVAL);
	char why[64];
	EXPECT_EQ(cv_platform_probe("vmware", why, sizeof(why)), -ENOENT);
	EXPECT_EQ(cv_platform_probe(NULL, why, sizeof(why)), -EINVAL);
	EXPECT_EQ(cv_platform_name(NULL), NULL);
	struct cv_platform_opts bad = { .size = 4 };
	struct cv_platform *p;
	EXPECT_EQ(cv_platform_open(NULL, &bad, &p), -EINVAL);
	struct cv_platform_opts badflags = { .size = sizeof(badflags), .flags = 0x100 };
	EXPECT_EQ(cv_platform_open(NULL, &badflags, &p), -EINVAL);
	EXPECT_EQ(cv_platform_open(NULL, NULL, NULL), -EINVAL);
	EXPECT_EQ(cv_platform_close(NULL), 0);
}

PLATFORM_TEST(core_membarrier_and_caps)
{
	struct cv_platform *p;
	struct cv_platform_caps caps;
	ASSERT_OK(cv_platform_open(platform, NULL, &p));
	EXPECT_EQ(strcmp(cv_platform_name(p), platform), 0);
	ASSERT_OK(cv_platform_caps(p, &caps));
	EXPECT_LT(caps.min_user_addr, caps.max_user_addr);
	EXPECT_EQ(caps.min_user_addr % 4096, 0);
	EXPECT_EQ(caps.max_user_addr % 4096, 0);
	EXPECT_GE(caps.xsave_size, 512 + 64);
	EXPECT_EQ(caps.xfeatures & 3, 3); /* x87 and SSE at least */
	if (caps.has_global_membarrier)
		EXPECT_OK(cv_platform_membarrier(p));
	else
		EXPECT_EQ(cv_platform_membarrier(p), -ENOSYS);
	EXPECT_EQ(cv_platform_caps(p, NULL), -EINVAL);
	EXPECT_EQ(cv_platform_membarrier(NULL), -EINVAL);
	ASSERT_OK(cv_platform_close(p));
}

/* The pinning option leaves the host thread's own CPU mask as it was once the context sleeps. */
PLATFORM_TEST(core_pin_tracers_restores_mask)
{
	struct cv_platform_opts opts = { .size = sizeof(opts), .flags = CV_PLATFORM_PIN_TRACERS };
	struct guest g;
	static const uint8_t two_syscalls[] = { 0x0f, 0x05, 0x0f, 0x05 };
	guest_setup(&g, platform, two_syscalls, two_syscalls + sizeof(two_syscalls));
	cpu_set_t before, during, after;
	ASSERT_EQ(sched_getaffinity(0, sizeof(before), &before), 0);
	struct cv_platform *p2;
	ASSERT_OK(cv_platform_open(platform, &opts, &p2));
	struct cv_memfile *mf = g.mf;
	struct cv_as *as;
	struct cv_ctx *ctx;
	uint64_t off;
	void *code;
	ASSERT_OK(cv_as_new(p2, &as));
	ASSERT_OK(cv_memfile_alloc(mf, 4096, 0, &off));
	ASSERT_OK(cv_memfile_ptr(mf, off, 4096, &code));
	memcpy(code, "\x0f\x05\x0f\x05", 4);
	ASSERT_OK(cv_as_map(as, GUEST_CODE_ADDR, cv_memfile_fd(mf), off, 4096, CV_ACCESS_READ | CV_ACCESS_EXEC,
			    false));
	ASSERT_OK(cv_ctx_new(p2, 0, &ctx));
	cv_ctx_state(ctx)->regs.rip = GUEST_CODE_ADDR;
	struct cv_exit e;
	ASSERT_OK(cv_ctx_switch(ctx, as, &e));
	ASSERT_EQ(e.reason, CV_EXIT_SYSCALL);
	ASSERT_EQ(sched_getaffinity(0, sizeof(during), &during), 0);
	if (strcmp(platform, "ptrace") == 0)
		EXPECT_EQ(CPU_COUNT(&during), 1);
	ASSERT_OK(cv_ctx_prepare_sleep(ctx));
	ASSERT_EQ(sched_getaffinity(0, sizeof(after), &after), 0);
	EXPECT_TRUE(CPU_EQUAL(&before, &after));
	ASSERT_OK(cv_ctx_release(ctx));
	ASSERT_OK(cv_as_release(as));
	ASSERT_OK(cv_platform_close(p2));
	guest_teardown(&g);
}
