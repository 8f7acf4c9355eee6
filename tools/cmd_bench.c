// SPDX-License-Identifier: Apache-2.0
// `cvisor bench`: time a trapped getpid round trip (guest syscall, sentry handling, resume) per backend.
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>
#include "cvisor.h"

extern const unsigned char bench_guest_start[], bench_guest_end[];

#define CODE_ADDR 0x400000ull
#define STACK_ADDR 0x500000ull
#define FAKE_PID  1234

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall */
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The native cost: the same instruction sequence, run on the host. */
static uint64_t native_ns(long n)
{
	uint64_t t0 = now_ns();
	for (long i = 0; i < n; i++) {
		long ret;
		__asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_getpid) : "rcx", "r11", "memory");
	}
	return (now_ns() - t0) / (uint64_t)n;
}

#define MAX_GUEST_THREADS 8

struct bench {
	struct cv_platform *p;
	struct cv_memfile *mf;
	struct cv_as *as;
	struct cv_ctx *ctx;
	struct cv_ctx *more[MAX_GUEST_THREADS]; /* contexts of the extra guest threads */
	bool patch;                             /* patch the guest's syscall site when offered */
};

static void bench_free(struct bench *b)
{
	for (int i = 0; i < MAX_GUEST_THREADS; i++)
		cv_ctx_release(b->more[i]);
	cv_ctx_release(b->ctx);
	cv_as_release(b->as);
	cv_memfile_close(b->mf);
	cv_platform_close(b->p);
}

static int bench_setup(struct bench *b, const char *name, unsigned flags, bool patch)
{
	struct cv_platform_opts opts = { .size = sizeof(opts), .flags = flags };
	uint64_t off;
	void *code;
	int ret;
	memset(b, 0, sizeof(*b));
	if ((ret = cv_platform_open(name, &opts, &b->p)) < 0 || (ret = cv_memfile_new(NULL, &b->mf)) < 0 ||
	    (ret = cv_memfile_alloc(b->mf, 2 * 4096, 0, &off)) < 0 ||
	    (ret = cv_memfile_ptr(b->mf, off, 4096, &code)) < 0 || (ret = cv_as_new(b->p, &b->as)) < 0 ||
	    (ret = cv_as_map(b->as, CODE_ADDR, cv_memfile_fd(b->mf), off, 4096,
			     CV_ACCESS_READ | CV_ACCESS_EXEC, true)) < 0 ||
	    (ret = cv_as_map(b->as, STACK_ADDR, cv_memfile_fd(b->mf), off + 4096, 4096,
			     CV_ACCESS_READ | CV_ACCESS_WRITE, true)) < 0 ||
	    (ret = cv_ctx_new(b->p, 0, &b->ctx)) < 0) {
		bench_free(b);
		return ret;
	}
	memcpy(code, bench_guest_start, (uintptr_t)bench_guest_end - (uintptr_t)bench_guest_start);
	b->patch = patch;
	return 0;
}

/* Run the guest for @n getpids in context @ctx; returns the mean round trip in ns, or -errno. */
static long bench_run_ctx(struct bench *b, struct cv_ctx *ctx, long n)
{
	struct cv_cpu_state *st = cv_ctx_state(ctx);
	st->regs.rip = CODE_ADDR;
	st->regs.rsp = STACK_ADDR + 4096; /* like a real thread (the patched path uses 8 bytes below the red zone) */
	st->regs.r12 = (uint64_t)n;
	struct cv_exit ex;
	long calls = 0;
	uint64_t t0 = now_ns();
	for (;;) {
		int ret = cv_ctx_switch(ctx, b->as, &ex);
		if (ret < 0)
			return ret;
		if (ex.reason == CV_EXIT_INTERRUPT)
			continue;
		if (ex.reason != CV_EXIT_SYSCALL)
			return -EIO;
		if (st->regs.orig_rax == SYS_exit)
			break;
		if (st->regs.orig_rax != SYS_getpid)
			return -EIO;
		if (b->patch && (ex.syscall_flags & CV_SYSCALL_PATCHABLE)) {
			ret = cv_as_patch_syscall(b->as, st->regs.rip);
			if (ret < 0)
				return ret;
		}
		st->regs.rax = FAKE_PID;
		calls++;
	}
	uint64_t elapsed = now_ns() - t0;
	return calls == n ? (long)(elapsed / (uint64_t)n) : -EIO;
}

static long bench_run(struct bench *b, long n)
{
	return bench_run_ctx(b, b->ctx, n);
}

struct worker {
	struct bench *b;
	struct cv_ctx *ctx;
	long n, result;
	pthread_t t;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	w->result = bench_run_ctx(w->b, w->ctx, w->n);
	return NULL;
}

/* @threads guest threads in one address space, each on its own host thread, @n getpids each:
 * the mean round trip seen by one thread, or -errno. */
static long bench_run_threads(struct bench *b, int threads, long n)
{
	if (threads == 1)
		return bench_run(b, n);
	struct worker w[MAX_GUEST_THREADS];
	for (int i = 0; i < threads; i++) {
		if (!b->more[i]) {
			int ret = cv_ctx_new(b->p, 0, &b->more[i]);
			if (ret < 0)
				return ret;
		}
		w[i] = (struct worker){ .b = b, .ctx = b->more[i], .n = n };
	}
	int started = 0;
	for (; started < threads; started++)
		if (pthread_create(&w[started].t, NULL, worker_main, &w[started]) != 0)
			break;
	long worst = started == threads ? 0 : -EAGAIN;
	for (int i = 0; i < started; i++) {
		pthread_join(w[i].t, NULL);
		if (w[i].result < 0 && worst >= 0)
			worst = w[i].result;
		else if (worst >= 0 && w[i].result > worst)
			worst = w[i].result;
	}
	return worst;
}

struct variant {
	const char *platform;
	const char *label;
	unsigned flags;
	bool patch;
};

int cmd_bench(int argc, char **argv)
{
	const char *only = NULL;
	long n = 20000;
	bool json = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--platform") == 0 && i + 1 < argc) {
			only = argv[++i];
		} else if (strcmp(argv[i], "--iterations") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			n = strtol(argv[++i], &end, 10);
			if (errno || *end || n < 1 || n > 100000000)
				usage_error("--iterations wants a number from 1 to 100000000, not '%s'",
					    argv[i]);
		} else {
			usage_error("bench: unknown or incomplete option '%s'", argv[i]);
		}
	}
	const char *names[8];
	int np = cv_platform_list(names, 8);
	struct variant v[16];
	int nv = 0;
	for (int i = 0; i < np; i++) {
		if (only && strcmp(only, names[i]) != 0)
			continue;
		char why[256];
		if (cv_platform_probe(names[i], why, sizeof(why)) < 0) {
			if (only) {
				fprintf(stderr, "cvisor: platform %s is not usable here: %s\n", only, why);
				return 1;
			}
			continue;
		}
		v[nv++] = (struct variant){ names[i], names[i], 0, false };
		if (strcmp(names[i], "ptrace") == 0)
			v[nv++] = (struct variant){ names[i], "ptrace+pin", CV_PLATFORM_PIN_TRACERS, false };
		if (strcmp(names[i], "systrap") == 0)
			v[nv++] = (struct variant){ names[i], "systrap-patched", 0, true };
	}
	if (only && nv == 0)
		usage_error("unknown platform '%s'", only);

	uint64_t native = native_ns(n);
	if (!json)
		printf("%-16s %7s %14s %12s %8s\n", "platform", "threads", "ns/syscall", "native ns", "ratio");
	static const int thread_counts[] = { 1, MAX_GUEST_THREADS };
	for (int i = 0; i < nv; i++) {
		for (size_t k = 0; k < sizeof(thread_counts) / sizeof(thread_counts[0]); k++) {
			int threads = thread_counts[k];
			long each = threads == 1 ? n : (n / threads > 0 ? n / threads : 1);
			struct bench b;
			int ret = bench_setup(&b, v[i].platform, v[i].flags, v[i].patch);
			long ns = ret;
			if (ret == 0) {
				/* Warm-up: stub threads, CPU pinning and caches settle first. */
				ns = bench_run_threads(&b, threads, each / 10 > 0 ? each / 10 : 1);
				if (ns >= 0)
					ns = bench_run_threads(&b, threads, each);
				bench_free(&b);
			}
			if (ns < 0) {
				fprintf(stderr, "cvisor: bench on %s failed: %s\n", v[i].label, cv_strerror((int)ns));
				return 1;
			}
			if (json)
				printf("{\"platform\":\"%s\",\"threads\":%d,\"syscall_ns\":%ld,\"native_ns\":%llu}\n",
				       v[i].label, threads, ns, (unsigned long long)native);
			else
				printf("%-16s %7d %14ld %12llu %7.1fx\n", v[i].label, threads, ns,
				       (unsigned long long)native, native ? (double)ns / (double)native : 0.0);
		}
	}
	return 0;
}
