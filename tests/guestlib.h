/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers for platform tests: build a tiny guest (code blob + stack) in a fresh address space. */
#ifndef CVISOR_TEST_GUESTLIB_H
#define CVISOR_TEST_GUESTLIB_H

#include "harness.h"

/* Guest code blobs are written in tests/guest_*.S between NAME_start and NAME_end labels. */
#define GUEST_BLOB(name) extern const uint8_t name##_start[], name##_end[]

#define GUEST_CODE_ADDR 0x400000ull     /* code is mapped here, read+exec */
#define GUEST_CODE_SIZE 0x10000ull
#define GUEST_STACK_ADDR 0x7000000ull   /* stack mapping base, read+write */
#define GUEST_STACK_SIZE 0x10000ull     /* rsp starts at GUEST_STACK_ADDR + GUEST_STACK_SIZE */
#define GUEST_DATA_ADDR 0x10000000ull   /* free for tests */

struct guest {
	struct cv_platform *p;
	struct cv_platform_caps caps;
	struct cv_memfile *mf;
	struct cv_as *as;
	struct cv_ctx *ctx;
	struct cv_cpu_state *st;  /* cv_ctx_state(ctx) */
	uint8_t *code;            /* sentry-side view of the code mapping */
	uint8_t *stack;           /* sentry-side view of the stack mapping */
};

/*
 * Open @platform, a memory file, an address space and a context; copy [code_start, code_end) to
 * GUEST_CODE_ADDR (RX), map the stack (RW), set rip and rsp. Any failure fails the test.
 */
void guest_setup(struct guest *g, const char *platform, const void *code_start, const void *code_end);
/* The same with the platform opened with @opts. */
void guest_setup_opts(struct guest *g, const char *platform, const struct cv_platform_opts *opts,
		      const void *code_start, const void *code_end);

/* Release everything guest_setup() created (context, AS, memfile, platform). */
void guest_teardown(struct guest *g);

/*
 * Map @len bytes of fresh zeroed memory-file memory at @addr with @access; return the sentry-side
 * pointer to it. Fails the test on error. If @off is non-NULL, the memfile offset is stored there.
 */
void *guest_map_anon(struct guest *g, uint64_t addr, uint64_t len, unsigned access, uint64_t *off);

/* Switch once; the switch must return 0. */
struct cv_exit guest_run(struct guest *g);

/* Switch once, expect a syscall exit, and return the syscall number (regs.orig_rax). */
long guest_run_syscall(struct guest *g);

/* Switch once, expect a CV_EXIT_SIGNAL exit with signal @signo, and return the exit. */
struct cv_exit guest_run_signal(struct guest *g, int signo);

/* Number of entries in /proc/self/fd, threads in /proc/self/task, and live children (any state). */
int count_fds(void);
int count_threads(void);
/* count_threads(), after waiting up to 2 s for it to reach @want: a joined thread's entry leaves
 * /proc/self/task a little after pthread_join() returns. */
int count_threads_settled(int want);
int count_children(void);
/* Pids of this process's children (any state, zombies too): stores up to @max, returns how many. */
int list_children(int *pids, int max);

#endif
