/* SPDX-License-Identifier: Apache-2.0 */
/* Reading the vvar page's clocks: one function the vDSO and the sentry's own clock_gettime share, so a
 * time read through the vDSO and one read through the syscall come from the same timeline. */
#ifndef CVISOR_SENTRY_VREAD_H
#define CVISOR_SENTRY_VREAD_H

#include "vvar.h"

#define VCLOCK_REALTIME 0
#define VCLOCK_MONOTONIC 1
#define VCLOCK_REALTIME_COARSE 5
#define VCLOCK_MONOTONIC_COARSE 6
#define VCLOCK_BOOTTIME 7
#define VREAD_TRIES 256 /* a writer stopped mid-update (preempted): the syscall after this many retries */

static inline uint64_t vread_tsc(void)
{
	uint32_t lo, hi;
	/* lfence: the TSC is read after the loads before it (Linux's rdtsc_ordered) */
	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
}

/* Clock @clk now, in ns since its epoch: 0; -1 when the caller must make the syscall (another clock,
 * the page in syscall mode); -2 when a writer did not finish in VREAD_TRIES tries (the vDSO makes the
 * syscall, the sentry waits for it). */
static inline int vread_ns(const volatile struct vvar *v, uint32_t clk, uint64_t *ns)
{
	if (clk > VCLOCK_BOOTTIME || !((1u << clk) & ((1u << VCLOCK_REALTIME) | (1u << VCLOCK_MONOTONIC) |
						    (1u << VCLOCK_REALTIME_COARSE) | (1u << VCLOCK_MONOTONIC_COARSE) |
						    (1u << VCLOCK_BOOTTIME))))
		return -1;
	for (int tries = 0; tries < VREAD_TRIES; tries++) {
		uint32_t seq = v->seq;
		__asm__ volatile("" ::: "memory"); /* x86 keeps loads in order; the compiler must too */
		if (seq & 1) {
			__asm__ volatile("pause");
			continue;
		}
		if (v->mode != VVAR_MODE_TSC)
			return -1;
		uint64_t base = v->tsc_base, mono = v->mono_ns, mult = v->mult, coarse = v->coarse_ns;
		uint32_t shift = v->shift;
		int64_t off = clk == VCLOCK_REALTIME || clk == VCLOCK_REALTIME_COARSE ? v->real_off
			      : clk == VCLOCK_BOOTTIME			       ? v->boot_off
										       : 0;
		uint64_t tsc = vread_tsc();
		__asm__ volatile("" ::: "memory");
		if (v->seq != seq)
			continue;
		uint64_t delta = tsc > base ? tsc - base : 0; /* another CPU's TSC a little behind: no step back */
		uint64_t t = mono + (uint64_t)(((unsigned __int128)delta * mult) >> shift) + (uint64_t)off;
		if ((clk == VCLOCK_REALTIME_COARSE || clk == VCLOCK_MONOTONIC_COARSE) && coarse > 1)
			t -= t % coarse;
		*ns = t;
		return 0;
	}
	return -2;
}

#endif
