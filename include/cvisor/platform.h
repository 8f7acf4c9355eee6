/* SPDX-License-Identifier: Apache-2.0 */
/* Platform registry, capabilities and platform-wide operations. */
#ifndef CVISOR_PLATFORM_H
#define CVISOR_PLATFORM_H

#include <stdbool.h>
#include <cvisor/common.h>
#include <cvisor/cpu.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A platform is one execution backend ("ptrace", "systrap", "kvm") opened in this process. It creates
 * address spaces (struct cv_as) and contexts (struct cv_ctx). Several platforms may be open at once.
 */
struct cv_platform;

/*
 * Names of the backends compiled into the library, best first. Stores up to @max pointers to static
 * strings in @names (which may be NULL when @max is 0) and returns how many backends there are.
 */
CV_API int cv_platform_list(const char **names, size_t max);

/* What a backend needs from the host. */
struct cv_platform_requirements {
	bool needs_ptrace;         /* the process must be allowed to ptrace its children (Yama, seccomp) */
	bool needs_seccomp;        /* seccomp filters must be available */
	bool needs_same_pid_ns;    /* must run in the pid namespace the stubs live in */
	const char *device;        /* device node that must be openable read-write, or NULL */
};

/*
 * Fill *@req with what backend @name needs. Returns 0, -EINVAL (NULL args), -ENOENT (unknown name).
 * The backend also reads here what it must know of the host (kvm: which hypervisor, from /sys/module)
 * and keeps it for the process: a caller that confines itself before cv_platform_open() (a mount view
 * without /sys) calls this first.
 */
CV_API int cv_platform_requirements(const char *name, struct cv_platform_requirements *req);

/*
 * Tell whether backend @name can run on this host right now, without opening it. On failure a one-line
 * human-readable reason is written to @why (if non-NULL, truncated to @whylen).
 * Returns 0 if usable; -ENOENT (unknown name), -EINVAL (NULL name), or the -errno that stops it
 * (e.g. -ENODEV "no /dev/kvm", -EPERM "ptrace not permitted", -ENOSYS "not implemented yet").
 */
CV_API int cv_platform_probe(const char *name, char *why, size_t whylen);

struct cv_platform_opts {
	uint32_t size;             /* sizeof(struct cv_platform_opts) (8 before device_fd came) */
	uint32_t flags;            /* CV_PLATFORM_* */
	int32_t device_fd;         /* with CV_PLATFORM_DEVICE_FD */
};
#define CV_PLATFORM_NO_CPUID_FAULTING 1u /* do not trap CPUID even where the CPU can */
/*
 * ptrace: while a host thread keeps switching contexts, pin it to the CPU it runs on (its stub thread
 * is always pinned there too), and restore its own CPU mask at cv_ctx_prepare_sleep() or thread exit.
 * Tracer and stub then never wake each other across CPUs: about 2.5x faster round trips in a VM, at
 * the cost of the scheduler not moving a busy sentry thread. Off by default.
 */
#define CV_PLATFORM_PIN_TRACERS 2u
/* systrap: never offer syscall-site patching (caps.patches_syscalls false, min_user_addr unchanged). */
#define CV_PLATFORM_NO_SYSCALL_PATCHING 4u
/*
 * The backend's device (cv_platform_requirements().device, e.g. /dev/kvm) is already open as
 * opts->device_fd, read-write: the platform uses a duplicate of it instead of opening the path, so a
 * caller may open it and then drop privileges or change its mount view before cv_platform_open(). The
 * caller keeps its fd. Requires @name.
 */
#define CV_PLATFORM_DEVICE_FD 8u
/*
 * systrap: keep address spaces prepared ahead of need (stub process, shared file, first stub thread)
 * in a platform thread: one from the open on, for the first cv_as_new(), and a few from the second
 * cv_as_new() on. The thread also finishes the teardown of released ones (a released stub is killed
 * at once; the thread reaps it and frees its fds and memory). cv_as_new() and cv_as_release()
 * then cost a fraction of a millisecond less each (much of an application fork or exec on a VM). The
 * prepared stubs (processes, fds) exist while the platform is open: cv_platform_close() ends them and
 * everything released before it. Ignored by the other backends.
 */
#define CV_PLATFORM_STUB_POOL 16u
/*
 * ptrace, systrap: trap CPUID only where the default policy would answer an application differently
 * from the host in something it can use (protection keys or AMX to hide, an XSAVE layout of another
 * size); elsewhere applications execute CPUID natively and caps.cpuid_faulting is false, so a later
 * cv_platform_set_cpuid() changes only cv_platform_cpuid()'s answers. Faulting costs the host a
 * model-specific-register write at every context switch to and from a stub thread (~10 us each under
 * some hypervisors: a fork+exec loop ran 1.4x slower for it) and a signal for each CPUID. kvm's
 * CPUID is the VM's and costs nothing per switch: ignored there.
 */
#define CV_PLATFORM_CPUID_FAULTING_IF_NEEDED 32u

/*
 * Open backend @name, or the best usable one when @name is NULL. @opts may be NULL.
 * Returns 0 and stores the handle in *@out; -ENOENT (unknown name), -EINVAL (bad opts, @out NULL),
 * the probe's -errno when the backend cannot run here, -ENOMEM, -EAGAIN (out of processes/threads),
 * or -EIO for an unexpected host failure (details go to the log).
 */
CV_API int cv_platform_open(const char *name, const struct cv_platform_opts *opts,
			    struct cv_platform **out);

/*
 * Close a platform. All its address spaces and contexts must have been released first.
 * Returns 0; -EBUSY if address spaces or contexts remain (nothing is closed); NULL is a no-op (0).
 */
CV_API int cv_platform_close(struct cv_platform *p);

/* Name of an open platform ("ptrace", …); NULL for a NULL handle. */
CV_API const char *cv_platform_name(const struct cv_platform *p);

struct cv_platform_caps {
	uint64_t min_user_addr;          /* lowest mappable application address (below it the platform
					  * may keep read-only data of its own: systrap's patch table) */
	uint64_t max_user_addr;          /* one past the highest mappable application address */
	uint64_t map_unit;               /* preferred mapping granularity; 0 = cost independent of size */
	uint32_t concurrency;            /* contexts that can run at once; 0 = unlimited */
	uint32_t xsave_size;             /* bytes of the XSAVE area in struct cv_cpu_state */
	uint64_t xfeatures;              /* XSAVE components saved and restored (bit mask) */
	bool supports_as_io;             /* cv_as_copy_in() and friends work */
	bool cooperatively_schedules_as; /* cv_as_new() may return -EAGAIN until another AS is released */
	bool detects_cpu_preemption;     /* cv_ctx_switch() may report CV_EXIT_PREEMPTED */
	bool has_global_membarrier;      /* cv_platform_membarrier() is supported */
	bool owns_page_tables;           /* the platform builds page tables itself (kvm) */
	bool cpuid_faulting;             /* CPUID executed by applications is emulated from the policy */
	bool compat_syscalls;            /* the host runs 32-bit syscalls (int $0x80); they are reported */
	bool thread_bound_state;         /* without CV_CTX_ROAMING a context's lazy state is bound to the
					  * host thread that last switched it (the -EXDEV rule of ctx.h);
					  * false: every context behaves as CV_CTX_ROAMING at no extra cost */
	bool patches_syscalls;           /* cv_as_patch_syscall() works (CV_SYSCALL_PATCHABLE is reported) */
};

/* Fill *@caps. Returns 0 or -EINVAL. */
CV_API int cv_platform_caps(const struct cv_platform *p, struct cv_platform_caps *caps);

/*
 * The host syscalls (x86-64 numbers) the backend makes from the caller's threads after
 * cv_platform_open(), for a caller that confines itself with a seccomp allow-list (cvisor's sentry
 * does): *@nrs is set to a static array. It lists what the backend needs beyond what any threaded
 * program makes (memory, futex, signals, clocks, read/write/close); argument checks, e.g. of ioctl
 * requests, are the caller's to add. Stub processes are not the caller's threads and keep their own
 * filters. Returns the number of entries, or -EINVAL for a bad handle or a NULL @nrs.
 */
CV_API int cv_platform_host_syscalls(const struct cv_platform *p, const int **nrs);

/*
 * A memory barrier on every CPU running application threads of this platform (membarrier(2)), so that
 * the sentry's earlier writes are seen by application threads in program order.
 * Returns 0; -EINVAL; -ENOSYS when has_global_membarrier is false.
 */
CV_API int cv_platform_membarrier(struct cv_platform *p);

/*
 * Make every context of this platform that is running application code return from cv_ctx_switch()
 * soon with CV_EXIT_INTERRUPT, without leaving an interrupt pending for contexts that are not running.
 * Async-signal-safe. Returns 0 or -EINVAL.
 */
CV_API int cv_platform_preempt_all(struct cv_platform *p);

/*
 * Replace the CPUID policy presented to applications (used only where caps.cpuid_faulting): a CPUID with
 * a leaf/subleaf found in @entries returns that entry; any other returns zeroes. The table is copied.
 * @n == 0 restores the default policy (the host's values, minus AMX, minus features the platform does
 * not save, with the hypervisor bit kept). At most 4096 entries.
 * Returns 0; -EINVAL (NULL with n > 0, too many entries, duplicate leaf/subleaf, unknown flags).
 */
CV_API int cv_platform_set_cpuid(struct cv_platform *p, const struct cv_cpuid_entry *entries, size_t n);

/*
 * What an application executing CPUID with @leaf/@subleaf sees under the current policy.
 * Returns 0; -EINVAL (NULL args).
 */
CV_API int cv_platform_cpuid(struct cv_platform *p, uint32_t leaf, uint32_t subleaf,
			     struct cv_cpuid_entry *out);

#ifdef __cplusplus
}
#endif
#endif
