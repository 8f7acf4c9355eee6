/* SPDX-License-Identifier: Apache-2.0 */
/* The vDSO's data page ("vvar"): one memory-file page the sentry writes and every address space maps
 * read-only one page below the vDSO's ELF header. Shared by the vDSO (sentry/vdso/dso/vdso.c) and the
 * sentry (sentry/vdso/vclock.c); plain C types only, no libc. */
#ifndef CVISOR_SENTRY_VVAR_H
#define CVISOR_SENTRY_VVAR_H

#include <stdint.h>

#define VVAR_MODE_SYSCALL 0 /* every clock read is the real syscall (TSC unusable, kvm, not yet calibrated) */
#define VVAR_MODE_TSC 1     /* MONOTONIC, REALTIME, BOOTTIME and their _COARSE forms from rdtsc */

/*
 * Published with a sequence count: the sentry makes @seq odd, writes, makes it even again; a reader
 * retries while it is odd or changed under it. ns(tsc) = mono_ns + ((tsc - tsc_base) * mult >> shift)
 * (the product in 128 bits; a TSC below tsc_base counts as tsc_base), then REALTIME adds real_off and
 * BOOTTIME boot_off. The _COARSE clocks are the same value rounded down to coarse_ns.
 */
struct vvar {
	uint32_t seq;
	uint32_t mode;        /* VVAR_MODE_* */
	uint64_t tsc_base;
	uint64_t mono_ns;     /* CLOCK_MONOTONIC at tsc_base */
	uint64_t mult;        /* ns per TSC tick, << shift */
	uint32_t shift;
	uint32_t getcpu_lsl;  /* getcpu may read the host's per-CPU segment limit (lsl), else the syscall */
	int64_t real_off;     /* CLOCK_REALTIME - CLOCK_MONOTONIC */
	int64_t boot_off;     /* CLOCK_BOOTTIME - CLOCK_MONOTONIC */
	uint64_t coarse_ns;   /* the _COARSE clocks' resolution (clock_getres) */
	uint64_t generation;  /* how many times the sentry published (tests, debugging) */
};

#define VVAR_SIZE 4096ull
#define VDSO_GETCPU_SEG 0x7b /* Linux's per-CPU GDT entry (15, ring 3): limit = cpu | node << 12 */

#endif
