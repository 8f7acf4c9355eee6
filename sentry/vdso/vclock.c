// SPDX-License-Identifier: Apache-2.0
// The sentry's vDSO: its image and data page in the memory file, and the clock it publishes there.
//
// Both live in the memory file, allocated once per sentry: the image (sentry/vdso/dso/, embedded by
// image.S) is mapped copy-on-write into every process at exec (mm/vdso.c), the vvar page read-only; only
// this file writes the page. A thread republishes the clock every VCLOCK_PERIOD_NS:
//  - the TSC rate is measured against the host's CLOCK_MONOTONIC over everything since the first
//    sample (so NTP's average frequency is in it);
//  - each republish starts exactly where the old parameters put the clock at its new base TSC (so it
//    never steps back) and slews the rate, at most VCLOCK_SLEW_PPM, toward the host clock plus
//    VCLOCK_LEAD_NS; when it is behind the host it steps forward to that. Reading ahead of the host
//    means a deadline the host sleeps to (clock_nanosleep, futex, timerfd) is never seen as still ahead;
//  - REALTIME and BOOTTIME are MONOTONIC plus the host's offsets, republished when they move more
//    than VCLOCK_OFF_NOISE_NS (a step of the host clock), so read noise never moves them.
// The sentry's own clock_gettime, gettimeofday and time answer from the same page, so syscall and vDSO
// reads are one timeline. Fallbacks, decided: no invariant TSC (CPUID 0x80000007 EDX bit 8), or the
// kvm platform (a guest's TSC is not the host's): the page stays in syscall mode and the vDSO makes the
// syscall for every clock. getcpu reads the host's per-CPU segment limit (lsl) where that is what
// Linux's getcpu says in the sentry, never on kvm, and no more once a task sets its affinity (the
// sentry's getcpu keeps the answer inside the task's mask).
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "../sentry.h"
#include "vread.h"

#define VCLOCK_PERIOD_NS 100000000ull /* republish every 100 ms */
#define VCLOCK_FIRST_NS 5000000ull    /* the first rate from 5 ms of samples (the start is not delayed) */
#define VCLOCK_LEAD_NS 20000          /* the vDSO's clocks read this far ahead of the host's */
#define VCLOCK_SLEW_PPM 2000          /* rate correction per period (NTP slews at most 500 ppm) */
#define VCLOCK_FAR_NS 1000000         /* further ahead than this: slew at VCLOCK_FAST_PPM, rebase the rate */
#define VCLOCK_FAST_PPM 100000
#define VCLOCK_OFF_NOISE_NS 20000     /* REALTIME/BOOTTIME offsets move only by more than this */
#define VCLOCK_MARGIN_NS 2000         /* the new base TSC lies this far after the page turned odd */
#define VCLOCK_SHIFT 32

extern const char vdso_image[], vdso_image_end[];

struct vdso {
	uint64_t vvar_off, img_off, img_len; /* memory-file offsets (one reference each held here) */
	volatile struct vvar *page;
	pthread_t thread;
	bool running, stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint64_t tsc0, mono0; /* the first sample: the rate is measured from it */
};

static uint64_t ts_ns(const struct timespec *ts)
{
	return (uint64_t)ts->tv_sec * 1000000000ull + (uint64_t)ts->tv_nsec;
}

/* A TSC and host-clock pair read as close together as four tries give. */
static void sample(clockid_t c, uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 4; i++) {
		struct timespec ts;
		uint64_t t0 = vread_tsc();
		clock_gettime(c, &ts);
		uint64_t t1 = vread_tsc();
		if (t1 - t0 < best) {
			best = t1 - t0;
			*tsc = t0 + (t1 - t0) / 2;
			*ns = ts_ns(&ts);
		}
	}
}

/* @c minus CLOCK_MONOTONIC, read back to back. */
static int64_t offset(clockid_t c)
{
	struct timespec a, m;
	clock_gettime(c, &a);
	clock_gettime(CLOCK_MONOTONIC, &m);
	return (int64_t)(ts_ns(&a) - ts_ns(&m));
}

static uint64_t scale(uint64_t ticks, uint64_t mult)
{
	return (uint64_t)(((unsigned __int128)ticks * mult) >> VCLOCK_SHIFT);
}

/* The page's clock at @tsc with its current parameters (the writer's view: no sequence needed). */
static uint64_t page_at(const volatile struct vvar *v, uint64_t tsc)
{
	return v->mono_ns + scale(tsc > v->tsc_base ? tsc - v->tsc_base : 0, v->mult);
}

static void publish(struct vdso *vd)
{
	volatile struct vvar *v = vd->page;
	uint64_t tsc, host;
	sample(CLOCK_MONOTONIC, &tsc, &host);
	/* The rate: host nanoseconds per tick since the first sample */
	uint64_t rate = (uint64_t)(((unsigned __int128)(host - vd->mono0) << VCLOCK_SHIFT) / (tsc - vd->tsc0));
	int64_t real = offset(CLOCK_REALTIME), boot = offset(CLOCK_BOOTTIME);
	struct timespec res;
	uint64_t coarse = clock_getres(CLOCK_MONOTONIC_COARSE, &res) == 0 ? ts_ns(&res) : 1;

	uint32_t seq = v->seq;
	__atomic_store_n(&v->seq, seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_SEQ_CST); /* odd before the base TSC is chosen (vread.h) */
	/* A reader that saw the even count read its TSC before now: basing the new parameters a margin
	 * later, at the value the old ones give there, keeps every later read at or above it. */
	uint64_t now = vread_tsc(), base = now + ((uint64_t)VCLOCK_MARGIN_NS << VCLOCK_SHIFT) / (rate | 1) + 1;
	uint64_t target = host + scale(base - tsc, rate) + VCLOCK_LEAD_NS, mono, mult = rate;
	if (v->mode != VVAR_MODE_TSC) {
		mono = target;
	} else {
		mono = page_at(v, base);
		int64_t err = (int64_t)(target - mono), lim = (int64_t)(VCLOCK_PERIOD_NS * VCLOCK_SLEW_PPM / 1000000);
		if (mono + VCLOCK_LEAD_NS < target) { /* behind the host: forward to it */
			mono = target;
			err = 0;
		} else if (-err > VCLOCK_FAR_NS) { /* far ahead (the TSC jumped): slew back faster */
			lim = (int64_t)(VCLOCK_PERIOD_NS * VCLOCK_FAST_PPM / 1000000);
			vd->tsc0 = tsc; /* and measure the rate afresh */
			vd->mono0 = host;
		}
		err = err > lim ? lim : err < -lim ? -lim : err;
		mult = rate + (uint64_t)((__int128)rate * err / (__int128)VCLOCK_PERIOD_NS);
	}
	v->tsc_base = base;
	v->mono_ns = mono;
	v->mult = mult;
	v->shift = VCLOCK_SHIFT;
	int64_t dr = real - v->real_off, db = boot - v->boot_off;
	if (v->mode != VVAR_MODE_TSC || dr > VCLOCK_OFF_NOISE_NS || dr < -VCLOCK_OFF_NOISE_NS)
		v->real_off = real;
	if (v->mode != VVAR_MODE_TSC || db > VCLOCK_OFF_NOISE_NS) /* only forward: the host was suspended */
		v->boot_off = boot;
	v->coarse_ns = coarse;
	v->generation++;
	v->mode = VVAR_MODE_TSC;
	__atomic_store_n(&v->seq, seq + 2, __ATOMIC_RELEASE);
}

static void *vclock_main(void *arg)
{
	struct vdso *vd = arg;
	sample(CLOCK_MONOTONIC, &vd->tsc0, &vd->mono0);
	uint64_t wait = VCLOCK_FIRST_NS;
	pthread_mutex_lock(&vd->lock);
	while (!vd->stop) {
		struct timespec dl;
		clock_gettime(CLOCK_MONOTONIC, &dl);
		uint64_t at = ts_ns(&dl) + wait;
		dl = (struct timespec){ (time_t)(at / 1000000000ull), (long)(at % 1000000000ull) };
		while (!vd->stop && pthread_cond_timedwait(&vd->cond, &vd->lock, &dl) != ETIMEDOUT)
			;
		if (vd->stop)
			break;
		publish(vd);
		wait = VCLOCK_PERIOD_NS;
	}
	pthread_mutex_unlock(&vd->lock);
	return NULL;
}

static bool invariant_tsc(void)
{
	uint32_t a, b, c, d;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000000u), "c"(0));
	if (a < 0x80000007u)
		return false;
	__asm__("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x80000007u), "c"(0));
	return d & (1u << 8);
}

/* Does lsl on Linux's per-CPU segment say which CPU this thread runs on? */
static bool lsl_getcpu(void)
{
	for (int i = 0; i < 3; i++) {
		unsigned p = 0, ok;
		__asm__ volatile("lsl %2, %0\n\tsetz %b1" : "=r"(p), "=q"(ok) : "r"((unsigned)VDSO_GETCPU_SEG) : "cc");
		int cpu = sched_getcpu();
		if ((ok & 1) && cpu >= 0 && (p & 0xfff) == (unsigned)cpu)
			return true;
	}
	return false;
}

int vdso_start(struct sentry *s)
{
	struct vdso *vd = calloc(1, sizeof(*vd));
	if (!vd)
		return -ENOMEM;
	vd->img_len = ((uint64_t)(vdso_image_end - vdso_image) + VVAR_SIZE - 1) & ~(VVAR_SIZE - 1);
	void *p;
	if (cv_memfile_alloc(s->mf, VVAR_SIZE, 0, &vd->vvar_off) < 0 ||
	    cv_memfile_alloc(s->mf, vd->img_len, 0, &vd->img_off) < 0 ||
	    cv_memfile_ptr(s->mf, vd->img_off, vd->img_len, &p) < 0) {
		free(vd);
		return -ENOMEM;
	}
	memcpy(p, vdso_image, (size_t)(vdso_image_end - vdso_image));
	if (cv_memfile_ptr(s->mf, vd->vvar_off, VVAR_SIZE, &p) < 0) {
		free(vd);
		return -ENOMEM;
	}
	vd->page = p;
	pthread_mutex_init(&vd->lock, NULL);
	pthread_condattr_t ca; /* the thread's deadlines are CLOCK_MONOTONIC */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vd->cond, &ca);
	pthread_condattr_destroy(&ca);
	s->vdso = vd;
	bool kvm = strcmp(cv_platform_name(s->p), "kvm") == 0;
	if (kvm)
		return 0;
	vd->page->getcpu_lsl = lsl_getcpu();
	if (invariant_tsc() && !getenv("CVISOR_VDSO_SYSCALL"))
		vd->running = pthread_create(&vd->thread, NULL, vclock_main, vd) == 0;
	return 0;
}

void vdso_stop(struct sentry *s)
{
	struct vdso *vd = s->vdso;
	if (!vd)
		return;
	if (vd->running) {
		pthread_mutex_lock(&vd->lock);
		vd->stop = true;
		pthread_cond_signal(&vd->cond);
		pthread_mutex_unlock(&vd->lock);
		pthread_join(vd->thread, NULL);
	}
	pthread_cond_destroy(&vd->cond);
	pthread_mutex_destroy(&vd->lock);
	cv_memfile_decref(s->mf, vd->vvar_off, VVAR_SIZE);
	cv_memfile_decref(s->mf, vd->img_off, vd->img_len);
	free(vd);
	s->vdso = NULL;
}

void vdso_pages(struct sentry *s, uint64_t *vvar_off, uint64_t *img_off, uint64_t *img_len)
{
	*vvar_off = s->vdso->vvar_off;
	*img_off = s->vdso->img_off;
	*img_len = s->vdso->img_len;
}

bool vclock_now(struct sentry *s, uint32_t clk, struct timespec *ts)
{
	uint64_t ns;
	if (!s->vdso)
		return false;
	int r;
	while ((r = vread_ns(s->vdso->page, clk, &ns)) == -2) /* the writer is preempted: wait for it */
		sched_yield();
	if (r < 0)
		return false;
	ts->tv_sec = (time_t)(ns / 1000000000ull);
	ts->tv_nsec = (long)(ns % 1000000000ull);
	return true;
}

void vdso_affinity_set(struct sentry *s)
{
	if (s->vdso)
		__atomic_store_n(&s->vdso->page->getcpu_lsl, 0, __ATOMIC_RELAXED);
}
