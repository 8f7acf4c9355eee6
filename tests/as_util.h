/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the address-space tests: extra code/data mappings, contexts, stub discovery. */
#ifndef CVISOR_TEST_AS_UTIL_H
#define CVISOR_TEST_AS_UTIL_H

#include <dirent.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>
#include "guestlib.h"

#define PG 4096ull

GUEST_BLOB(gas_rw);
extern const uint8_t gas_rw_load[]; /* gas_rw's load instruction */
GUEST_BLOB(gas_xadd);
GUEST_BLOB(gas_cas);
GUEST_BLOB(gas_lock);
GUEST_BLOB(gas_count);
GUEST_BLOB(gas_spin);
GUEST_BLOB(gas_sys);
GUEST_BLOB(gas_fpu);
GUEST_BLOB(gas_poll);

/* gas_rw operations (rdx) and its report syscall. */
enum { RW_LOAD = 0, RW_STORE = 1, RW_JUMP = 2, RW_LOAD_STORE = 3 };
#define NR_RW 1000
#define NR_XADD_TICK 1001 /* gas_xadd, gas_cas and gas_lock */
#define NR_XADD_DONE 1002
#define NR_COUNT 1003
#define NR_COUNT_DONE 1004
#define NR_SYS 1005
#define NR_FPU 1006
#define NR_POLL 1007

/* Allocate @len bytes of @g's memory file; return the offset and store the sentry pointer in *@ptr. */
static inline uint64_t mf_alloc(struct guest *g, uint64_t len, void **ptr)
{
	uint64_t off;
	ASSERT_OK(cv_memfile_alloc(g->mf, len, 0, &off));
	void *p;
	ASSERT_OK(cv_memfile_ptr(g->mf, off, len, &p));
	if (ptr)
		*ptr = p;
	return off;
}

/* Copy a blob into @g's memory file and map it read+exec at @addr of @as. */
static inline void map_blob(struct guest *g, struct cv_as *as, uint64_t addr, const uint8_t *start,
			    const uint8_t *end)
{
	void *p;
	uint64_t off = mf_alloc(g, PG, &p);
	memcpy(p, start, (size_t)(end - start));
	ASSERT_OK(cv_as_map(as, addr, cv_memfile_fd(g->mf), off, PG, CV_ACCESS_READ | CV_ACCESS_EXEC, false));
}

/* A new context of @g's platform starting at @rip. */
static inline struct cv_ctx *new_ctx(struct guest *g, unsigned flags, uint64_t rip)
{
	struct cv_ctx *c;
	ASSERT_OK(cv_ctx_new(g->p, flags, &c));
	cv_ctx_state(c)->regs.rip = rip;
	return c;
}

/* Switch @c in @as once and expect a syscall exit with number @nr. */
static inline void run_expect_syscall(struct cv_ctx *c, struct cv_as *as, long nr)
{
	struct cv_exit e;
	ASSERT_OK(cv_ctx_switch(c, as, &e));
	if (e.reason != CV_EXIT_SYSCALL)
		HARNESS_FAIL(1, "exit reason %d (signal %d, addr %p, rip %#llx), expected syscall %ld",
			     e.reason, e.info.si_signo, e.info.si_addr,
			     (unsigned long long)cv_ctx_state(c)->regs.rip, nr);
	ASSERT_EQ(cv_ctx_state(c)->regs.orig_rax, nr);
}

/* gas_rw in @g's main context: load the 64-bit word at @addr; expects the load to succeed. */
static inline uint64_t guest_load(struct guest *g, uint64_t addr)
{
	g->st->regs.rip = GUEST_CODE_ADDR;
	g->st->regs.rdi = addr;
	g->st->regs.rdx = RW_LOAD;
	ASSERT_EQ(guest_run_syscall(g), NR_RW);
	return g->st->regs.rsi;
}

/* gas_rw in @g's main context: store @val at @addr; expects the store to succeed. */
static inline void guest_store(struct guest *g, uint64_t addr, uint64_t val)
{
	g->st->regs.rip = GUEST_CODE_ADDR;
	g->st->regs.rdi = addr;
	g->st->regs.rsi = val;
	g->st->regs.rdx = RW_STORE;
	ASSERT_EQ(guest_run_syscall(g), NR_RW);
}

/* gas_rw in @g's main context: run operation @op at @addr and expect signal @signo there. */
static inline struct cv_exit guest_fault(struct guest *g, int op, uint64_t addr, int signo)
{
	g->st->regs.rip = GUEST_CODE_ADDR;
	g->st->regs.rdi = addr;
	g->st->regs.rsi = 0;
	g->st->regs.rax = 0;
	g->st->regs.rdx = (uint64_t)op;
	struct cv_exit e = guest_run_signal(g, signo);
	EXPECT_EQ((uint64_t)e.info.si_addr, addr);
	return e;
}


#define XMM0_OFFSET 160      /* in the legacy XSAVE region */
#define XSTATE_BV_OFFSET 512 /* XSAVE header */

/* Give @c's guest counter (xmm0's low quadword) the value @v through its XSAVE area. */
static inline void set_xmm0(struct cv_ctx *c, uint64_t v)
{
	struct cv_cpu_state *st = cv_ctx_state(c);
	ASSERT_OK(cv_ctx_pull_full_state(c));
	uint8_t *xs = st->xsave;
	uint64_t bv;
	memcpy(xs + XMM0_OFFSET, &v, 8);
	memcpy(&bv, xs + XSTATE_BV_OFFSET, 8);
	bv |= 1ull << CV_XFEATURE_SSE;
	memcpy(xs + XSTATE_BV_OFFSET, &bv, 8);
	ASSERT_OK(cv_ctx_full_state_changed(c));
}

/* xmm0's low quadword as the XSAVE area holds it now (no pull). */
static inline uint64_t xmm0_in_buffer(struct cv_ctx *c)
{
	uint64_t v;
	memcpy(&v, (uint8_t *)cv_ctx_state(c)->xsave + XMM0_OFFSET, 8);
	return v;
}

static inline uint64_t get_xmm0(struct cv_ctx *c)
{
	ASSERT_OK(cv_ctx_pull_full_state(c));
	return xmm0_in_buffer(c);
}

/* guest_setup() for AS IO tests: fails on ptrace without AS IO, skips on other backends without it. */
static inline void setup_io(struct guest *g, const char *platform, const uint8_t *start, const uint8_t *end)
{
	guest_setup(g, platform, start, end);
	ASSERT_TRUE(g->caps.supports_as_io || strcmp(platform, "ptrace") != 0);
	if (!g->caps.supports_as_io)
		SKIP("%s has no address-space IO", platform);
}

/* Create an address space of @p and return the pid of the stub process it added (skips the test
 * on a backend that adds none). */
static inline int as_new_find_stub(struct cv_platform *p, struct cv_as **as)
{
	int before[256], after[256];
	int nb = list_children(before, 256);
	ASSERT_OK(cv_as_new(p, as));
	int na = list_children(after, 256);
	int found = -1;
	for (int i = 0; i < na; i++) {
		int old = 0;
		for (int j = 0; j < nb; j++)
			old |= after[i] == before[j];
		if (!old) {
			ASSERT_EQ(found, -1); /* exactly one new child */
			found = after[i];
		}
	}
	if (found < 0) {
		/* Backends without stub processes (kvm) have nothing to find; ptrace always has one. */
		ASSERT_TRUE(strcmp(cv_platform_name(p), "ptrace") != 0);
		cv_as_release(*as);
		SKIP("%s address spaces have no stub process", cv_platform_name(p));
	}
	return found;
}

/* Number of threads of process @pid (0 once it is gone). */
static inline int task_count(int pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	DIR *d = opendir(path);
	if (!d)
		return 0;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* task_count(), after waiting up to 2 s for it to drop to @max or below: a stub thread that exits
 * leaves /proc a little after it is told to. */
static inline int task_count_settled(int pid, int max)
{
	int n = task_count(pid);
	for (int i = 0; i < 200 && n > max; i++) {
		struct timespec ts = { 0, 10000000 };
		nanosleep(&ts, NULL);
		n = task_count(pid);
	}
	return n;
}

/* Wait until process @pid is a zombie or gone (it was sent SIGKILL). */
static inline void wait_dead(int pid)
{
	char path[64], buf[256];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	for (;;) {
		FILE *f = fopen(path, "re");
		if (!f)
			return;
		size_t n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
		char *rp = strrchr(buf, ')');
		if (!rp || rp[2] == 'Z' || rp[2] == 'X')
			return;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

/* Processes, threads and fds of this test process, to show that something left nothing behind. */
struct counts {
	int fds, threads, children;
};

static inline struct counts take_counts(void)
{
	return (struct counts){ count_fds(), count_threads(), count_children() };
}

#define EXPECT_COUNTS(before)                                                                          \
	do {                                                                                           \
		struct counts __now = take_counts();                                                   \
		EXPECT_EQ(__now.fds, (before).fds);                                                    \
		EXPECT_EQ(count_threads_settled((before).threads), (before).threads);                  \
		EXPECT_EQ(__now.children, (before).children);                                          \
	} while (0)

#endif
