// SPDX-License-Identifier: Apache-2.0
// CV_PLATFORM_STUB_POOL: address spaces made from prepared stubs work like any other, a prepared stub
// killed from outside is never handed out, and closing the platform leaves no process, thread or fd.
// (Other backends ignore the flag: the same checks hold there.)
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "as_util.h"

/* Open @platform with the pool; a memory file and a code page running gas_sys. */
static uint64_t pool_setup(struct guest *g, const char *platform)
{
	memset(g, 0, sizeof(*g));
	struct cv_platform_opts o = { .size = sizeof(o), .flags = CV_PLATFORM_STUB_POOL };
	ASSERT_OK(cv_platform_open(platform, &o, &g->p));
	ASSERT_OK(cv_platform_caps(g->p, &g->caps));
	ASSERT_OK(cv_memfile_new(NULL, &g->mf));
	void *code;
	uint64_t off = mf_alloc(g, PG, &code);
	memcpy(code, gas_sys_start, (size_t)(gas_sys_end - gas_sys_start));
	return off;
}

/* A new address space with the code mapped, run to one syscall by @c. */
static struct cv_as *pool_as_run(struct guest *g, struct cv_ctx *c, uint64_t code_off, uint64_t tag)
{
	struct cv_as *as;
	ASSERT_OK(cv_as_new(g->p, &as));
	ASSERT_OK(cv_as_map(as, GUEST_CODE_ADDR, cv_memfile_fd(g->mf), code_off, PG, CV_ACCESS_READ | CV_ACCESS_EXEC,
			    false));
	struct cv_regs *r = &cv_ctx_state(c)->regs;
	r->rip = GUEST_CODE_ADDR;
	r->rsi = tag;
	run_expect_syscall(c, as, NR_SYS);
	ASSERT_EQ(r->rdi, tag + 1);
	return as;
}

/* Threads of process @pid (from /proc/PID/status), 0 if gone. */
static int threads_of(int pid)
{
	char path[64], line[128];
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	FILE *f = fopen(path, "re");
	int n = 0;
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	if (f)
		fclose(f);
	return n;
}

/* Until the whole of process @pid is gone — what the pool's check sees (its pidfd readable), not only
 * its leader a zombie while its other thread still exits (wait_dead). */
static void wait_group_dead(int pid)
{
	int fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return;
	struct pollfd pfd = { fd, POLLIN, 0 };
	poll(&pfd, 1, 10000);
	close(fd);
}

PLATFORM_TEST_TIMEOUT(as_pool_create_release, 120)
{
	struct counts before = take_counts();
	struct guest g;
	uint64_t code_off = pool_setup(&g, platform);
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	struct cv_as *held[3] = { 0 };
	for (int i = 0; i < 200; i++) {
		struct cv_as *as = pool_as_run(&g, c, code_off, (uint64_t)i);
		/* Several alive at once too, released out of order. */
		int k = i % 3;
		if (held[k])
			ASSERT_OK(cv_as_release(held[k]));
		held[k] = as;
	}
	for (int k = 0; k < 3; k++)
		ASSERT_OK(cv_as_release(held[k]));
	ASSERT_OK(cv_ctx_release(c));
	cv_memfile_close(g.mf);
	ASSERT_OK(cv_platform_close(g.p));
	EXPECT_COUNTS(before);
}

PLATFORM_TEST_TIMEOUT(as_pool_killed_prepared_stub, 60)
{
	struct counts before = take_counts();
	struct guest g;
	uint64_t code_off = pool_setup(&g, platform);
	struct cv_ctx *c = new_ctx(&g, 0, GUEST_CODE_ADDR);
	ASSERT_OK(cv_as_release(pool_as_run(&g, c, code_off, 1)));
	ASSERT_OK(cv_as_release(pool_as_run(&g, c, code_off, 2))); /* the pool fills from the second */
	if (strcmp(platform, "systrap") == 0) {
		/* No address space is held: every child with two threads (a syscall thread and a stub
		 * thread) is a prepared stub; the source stub has one. Wait for the pool to refill, kill
		 * them all, and the next address spaces must come from live stubs. */
		int killed = 0, pids[256];
		for (long spin = 0; killed == 0 && spin < 20000000; spin++) {
			int n = list_children(pids, 256);
			for (int i = 0; i < n; i++)
				if (threads_of(pids[i]) == 2 && kill(pids[i], SIGKILL) == 0)
					pids[killed++] = pids[i];
			if (!killed)
				sched_yield();
		}
		ASSERT_TRUE(killed > 0);
		for (int i = 0; i < killed; i++) /* (one killed just as it is taken would be CV_EASDEAD, as
						  * any stub killed from outside) */
			wait_group_dead(pids[i]);
	}
	for (int i = 0; i < 5; i++)
		ASSERT_OK(cv_as_release(pool_as_run(&g, c, code_off, (uint64_t)(10 + i))));
	ASSERT_OK(cv_ctx_release(c));
	cv_memfile_close(g.mf);
	ASSERT_OK(cv_platform_close(g.p));
	EXPECT_COUNTS(before);
}

PLATFORM_TEST(as_pool_close_right_after_open)
{
	struct counts before = take_counts();
	for (int i = 0; i < 5; i++) { /* the pool thread may be preparing its first stubs */
		struct cv_platform *p;
		struct cv_platform_opts o = { .size = sizeof(o), .flags = CV_PLATFORM_STUB_POOL };
		ASSERT_OK(cv_platform_open(platform, &o, &p));
		ASSERT_OK(cv_platform_close(p));
	}
	EXPECT_COUNTS(before);
}
