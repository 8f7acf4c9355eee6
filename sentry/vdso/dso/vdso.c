// SPDX-License-Identifier: Apache-2.0
// The sentry's vDSO: a small freestanding shared object mapped into every sandboxed process
// (AT_SYSINFO_EHDR). Its clocks come from rdtsc and the parameters the sentry publishes in the vvar
// page one page below this object's ELF header (sentry/vdso/vvar.h); everything else, and every time
// the page says so, is the real syscall, which traps to the sentry like any other.
//
// No libc, no data, no relocations: it is mapped read-only and executable, and nothing relocates it.
#include <stddef.h>
#include "../vread.h"

#define NR_gettimeofday 96
#define NR_time 201
#define NR_clock_gettime 228
#define NR_clock_getres 229
#define NR_getcpu 309

struct vts {
	int64_t tv_sec, tv_nsec;
};
struct vtv {
	int64_t tv_sec, tv_usec;
};

extern const char __ehdr_start[] __attribute__((visibility("hidden")));

static inline const volatile struct vvar *vvar(void)
{
	uintptr_t p;
	__asm__("lea __ehdr_start(%%rip), %0" : "=r"(p)); /* the image's base, wherever it was mapped */
	return (const volatile struct vvar *)(p - VVAR_SIZE);
}

/* `mov $nr, %eax; syscall`: the shape systrap patches, and a syscall the platform traps either way. */
#define SYSCALL2(nr, a, b)                                                                             \
	({                                                                                             \
		long r_;                                                                               \
		__asm__ volatile("mov %1, %%eax\n\tsyscall"                                            \
				 : "=a"(r_)                                                            \
				 : "i"(nr), "D"(a), "S"(b)                                             \
				 : "rcx", "r11", "memory");                                            \
		r_;                                                                                    \
	})
#define SYSCALL3(nr, a, b, c)                                                                          \
	({                                                                                             \
		long r_;                                                                               \
		__asm__ volatile("mov %1, %%eax\n\tsyscall"                                            \
				 : "=a"(r_)                                                            \
				 : "i"(nr), "D"(a), "S"(b), "d"(c)                                     \
				 : "rcx", "r11", "memory");                                            \
		r_;                                                                                    \
	})

#define VDSO_API __attribute__((visibility("default"))) /* the rest of the object is hidden */
VDSO_API int __vdso_clock_gettime(int clk, struct vts *ts);
VDSO_API int __vdso_gettimeofday(struct vtv *tv, void *tz);
VDSO_API long __vdso_time(long *t);
VDSO_API long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache);
VDSO_API int __vdso_clock_getres(int clk, struct vts *res);

int __vdso_clock_gettime(int clk, struct vts *ts)
{
	uint64_t ns;
	if (!ts || clk < 0 || vread_ns(vvar(), (uint32_t)clk, &ns) < 0)
		return (int)SYSCALL2(NR_clock_gettime, (long)clk, ts);
	ts->tv_sec = (int64_t)(ns / 1000000000u);
	ts->tv_nsec = (int64_t)(ns % 1000000000u);
	return 0;
}

int __vdso_gettimeofday(struct vtv *tv, void *tz)
{
	uint64_t ns;
	if (tz || !tv || vread_ns(vvar(), VCLOCK_REALTIME, &ns) < 0)
		return (int)SYSCALL2(NR_gettimeofday, tv, tz);
	tv->tv_sec = (int64_t)(ns / 1000000000u);
	tv->tv_usec = (int64_t)(ns % 1000000000u / 1000u);
	return 0;
}

long __vdso_time(long *t)
{
	uint64_t ns;
	if (vread_ns(vvar(), VCLOCK_REALTIME, &ns) < 0)
		return SYSCALL2(NR_time, t, 0);
	long sec = (long)(ns / 1000000000u);
	if (t)
		*t = sec;
	return sec;
}

long __vdso_getcpu(unsigned *cpu, unsigned *node, void *cache)
{
	const volatile struct vvar *v = vvar();
	if (!v->getcpu_lsl)
		return SYSCALL3(NR_getcpu, cpu, node, cache);
	unsigned p;
	__asm__ volatile("lsl %1, %0" : "=r"(p) : "r"((unsigned)VDSO_GETCPU_SEG));
	if (cpu)
		*cpu = p & 0xfff;
	if (node)
		*node = p >> 12;
	return 0;
}

int __vdso_clock_getres(int clk, struct vts *res)
{
	const volatile struct vvar *v = vvar();
	int fine = clk == VCLOCK_REALTIME || clk == VCLOCK_MONOTONIC || clk == VCLOCK_BOOTTIME;
	int coarse = clk == VCLOCK_REALTIME_COARSE || clk == VCLOCK_MONOTONIC_COARSE;
	if (v->mode != VVAR_MODE_TSC || !(fine || coarse))
		return (int)SYSCALL2(NR_clock_getres, (long)clk, res);
	if (res) {
		uint64_t ns = fine ? 1 : v->coarse_ns;
		res->tv_sec = (int64_t)(ns / 1000000000u);
		res->tv_nsec = (int64_t)(ns % 1000000000u);
	}
	return 0;
}

/* The plain names glibc and musl may also look up (the same code). */
int clock_gettime(int, struct vts *) VDSO_API __attribute__((weak, alias("__vdso_clock_gettime")));
int gettimeofday(struct vtv *, void *) VDSO_API __attribute__((weak, alias("__vdso_gettimeofday")));
long time(long *) VDSO_API __attribute__((weak, alias("__vdso_time")));
long getcpu(unsigned *, unsigned *, void *) VDSO_API __attribute__((weak, alias("__vdso_getcpu")));
int clock_getres(int, struct vts *) VDSO_API __attribute__((weak, alias("__vdso_clock_getres")));
