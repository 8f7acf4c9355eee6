// SPDX-License-Identifier: Apache-2.0
// systrap's seccomp programs, run by the kernel itself in a child: the process filter lets the stub code
// make mprotect (the syscall thread's, for cv_as_map of the same pages with other access), and the stub
// threads' filter — under which application code runs, and can jump into the stub code — kills it.
#include <linux/seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include "harness.h"
#include "systrap/systrap_internal.h"

/* A syscall made from the stub code's `syscall; ret` at @code. */
static long via(uint64_t code, long nr, long a0, long a1, long a2)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("call *%[code]"
			 : "=a"(ret)
			 : [code] "r"(code), "a"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10)
			 : "rcx", "r11", "memory");
	return ret;
}

/*
 * In a child: the process filter (and the stub threads' filter too if @thread), then mprotect of
 * @page from @code, then ud2. The signal it ended with: SIGSYS if a filter refused the mprotect,
 * SIGILL if it ran (and returned 0). Set-up failures end it with an exit status instead.
 */
static int child_signal(uint64_t code, void *page, bool thread)
{
	static struct st_globals g;
	struct sock_filter buf[64];
	struct sock_fprog proc;
	ASSERT_OK(st_build_filters(&g, code, ST_CODE_MAX, &proc, buf, sizeof(buf)));
	struct sock_fprog thr = { g.thread_prog.len, (struct sock_filter *)g.thread_filter };
	pid_t pid = fork();
	ASSERT_TRUE(pid >= 0);
	if (pid == 0) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &proc) != 0 ||
		    (thread && via(code, SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, (long)&thr) != 0))
			via(code, SYS_exit_group, 1, 0, 0); /* (every call from elsewhere traps now) */
		if (via(code, SYS_mprotect, (long)page, 4096, PROT_READ | PROT_WRITE) != 0)
			via(code, SYS_exit_group, 2, 0, 0);
		__builtin_trap();
	}
	int st;
	ASSERT_EQ(waitpid(pid, &st, 0), pid);
	if (!WIFSIGNALED(st))
		HARNESS_FAIL(1, "the child exited with %d", WEXITSTATUS(st));
	return WTERMSIG(st);
}

TEST(systrap_filters_mprotect_only_for_the_syscall_thread)
{
	/* The stub code: `syscall; ret`, at an address whose low 32 bits leave room for the code range. */
	uint8_t *code = mmap(NULL, ST_CODE_MAX, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(code != MAP_FAILED);
	if ((uint32_t)(uintptr_t)code + ST_CODE_MAX < (uint32_t)(uintptr_t)code)
		SKIP("the mapping straddles a 4 GiB boundary");
	code[0] = 0x0f;
	code[1] = 0x05;
	code[2] = 0xc3;
	void *page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_TRUE(page != MAP_FAILED);
	EXPECT_EQ(child_signal((uint64_t)(uintptr_t)code, page, false), SIGILL); /* the syscall thread's */
	EXPECT_EQ(child_signal((uint64_t)(uintptr_t)code, page, true), SIGSYS);  /* a stub thread's: killed */
	munmap(page, 4096);
	munmap(code, ST_CODE_MAX);
}
