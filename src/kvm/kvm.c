// SPDX-License-Identifier: Apache-2.0
// The kvm backend: probe, platform lifecycle and the ops table. Application threads run in guest ring 3
// of one VM; every syscall, fault and interrupt exits to the switching thread (see kvm_internal.h).
#include <cpuid.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "kvm/kvm_internal.h"

/* Is the module parameter at @path off? (missing: no) */
static bool param_off(const char *path)
{
	char c = 'Y';
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	if (read(fd, &c, 1) != 1)
		c = 'Y';
	close(fd);
	return c == 'N' || c == '0';
}

/*
 * What virtualizes /dev/kvm here, read from /sys/module once per process. cvisor run opens the
 * platform inside its jail, whose mount view has no /sys: the facts are read when the caller asks for
 * the backend's requirements (before it confines itself) and kept. Where /sys cannot be read at all
 * the answer is the safe one: shadow paging (translations dropped on every narrowing, correct on any
 * host, only slower) and ring-3 CPUID not trapped. Until 2026-12-06 the jailed sentry read "no
 * shadow paging" on a PVM host and skipped every kvm_zap(): a parent kept writing through its old
 * writable translation after fork, into the child's page (tests/progs/forkisolate.c).
 */
static struct {
	pthread_once_t once;
	bool known, pvm, amd, intel, shadow;
} host = { .once = PTHREAD_ONCE_INIT };

static void host_read(void)
{
	host.known = access("/sys/module", F_OK) == 0;
	host.pvm = access("/sys/module/kvm_pvm", F_OK) == 0;
	host.amd = access("/sys/module/kvm_amd", F_OK) == 0;
	host.intel = access("/sys/module/kvm_intel", F_OK) == 0;
	/* KVM shadows guest page tables (missing the host's writes to them): PVM always; kvm_amd
	 * without NPT, kvm_intel without EPT */
	host.shadow = !host.known || host.pvm || param_off("/sys/module/kvm_amd/parameters/npt") ||
		      param_off("/sys/module/kvm_intel/parameters/ept");
}

static void kvm_prepare(void)
{
	pthread_once(&host.once, host_read);
}

/* What virtualizes this /dev/kvm: PVM emulates guest ring 0; kvm_amd/kvm_intel run it in hardware. */
static const char *flavour(void)
{
	kvm_prepare();
	if (!host.known)
		return "unknown hypervisor (no /sys/module here): shadow paging assumed";
	if (host.pvm)
		return "PVM: guest ring 0 is emulated (slow exits; a correctness target), shadow paging";
	if (host.amd)
		return host.shadow ? "hardware-virtualized (AMD SVM), shadow paging (npt off)"
				   : "hardware-virtualized (AMD SVM), nested paging";
	if (host.intel)
		return host.shadow ? "hardware-virtualized (Intel VMX), shadow paging (ept off)"
				   : "hardware-virtualized (Intel VMX), EPT";
	return "hardware-virtualized";
}

static const struct {
	long cap;
	const char *name;
} needed[] = {
	{ KVM_CAP_SYNC_REGS, "SYNC_REGS" },   { KVM_CAP_IMMEDIATE_EXIT, "IMMEDIATE_EXIT" },
	{ KVM_CAP_READONLY_MEM, "READONLY_MEM" }, { KVM_CAP_XSAVE, "XSAVE" },
	{ KVM_CAP_XCRS, "XCRS" },             { KVM_CAP_EXT_CPUID, "EXT_CPUID" },
};

static int kvm_probe(char *why, size_t whylen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		snprintf(why, whylen, "cannot open /dev/kvm: %s", strerror(err));
		return err == ENOENT ? -ENODEV : -err;
	}
	int ret = 0;
	if (ioctl(fd, KVM_GET_API_VERSION, 0) != KVM_API_VERSION) {
		snprintf(why, whylen, "/dev/kvm speaks another API version");
		ret = -ENODEV;
	}
	for (size_t i = 0; ret == 0 && i < sizeof(needed) / sizeof(needed[0]); i++)
		if (ioctl(fd, KVM_CHECK_EXTENSION, needed[i].cap) <= 0) {
			snprintf(why, whylen, "/dev/kvm lacks KVM_CAP_%s", needed[i].name);
			ret = -ENODEV;
		}
	if (ret == 0) {
		int vm = ioctl(fd, KVM_CREATE_VM, 0);
		if (vm < 0) {
			ret = -errno;
			snprintf(why, whylen, "KVM_CREATE_VM: %s", strerror(errno));
		} else {
			close(vm);
			snprintf(why, whylen, "%s", flavour());
		}
	}
	close(fd);
	return ret;
}

static void kvm_close(struct cv_platform *p)
{
	struct kvm_plat *kp = p->priv;
	if (!kp)
		return;
	kvm_vcpus_fini(kp);
	kvm_mem_fini(kp);
	if (kp->vm_fd >= 0)
		close(kp->vm_fd);
	if (kp->kvm_fd >= 0)
		close(kp->kvm_fd);
	pthread_mutex_destroy(&kp->lock);
	pthread_cond_destroy(&kp->vcpu_freed);
	free(kp);
	p->priv = NULL;
}

static int kvm_open(struct cv_platform *p)
{
	struct kvm_plat *kp = calloc(1, sizeof(*kp));
	if (!kp)
		return -ENOMEM;
	kp->p = p;
	kp->kvm_fd = kp->vm_fd = -1;
	pthread_mutex_init(&kp->lock, NULL);
	pthread_cond_init(&kp->vcpu_freed, NULL);
	p->priv = kp;
	int ret = -ENODEV;
	kp->kvm_fd = p->device_fd >= 0 ? fcntl(p->device_fd, F_DUPFD_CLOEXEC, 0) : open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kp->kvm_fd < 0) {
		ret = -errno;
		goto fail;
	}
	kp->vm_fd = ioctl(kp->kvm_fd, KVM_CREATE_VM, 0);
	long rs = kp->vm_fd < 0 ? -1 : ioctl(kp->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (rs <= 0) {
		ret = -errno;
		goto fail;
	}
	kp->run_size = (size_t)rs;
	long mv = ioctl(kp->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (mv <= 0)
		mv = ioctl(kp->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	kp->max_vcpus = mv > KVM_MAX_VCPUS ? KVM_MAX_VCPUS : mv > 0 ? (int)mv : 1;
	long mid = ioctl(kp->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPU_ID);
	kp->max_vcpu_id = mid > 0 ? (int)mid : kp->max_vcpus;
	unsigned a, b, c, d;
	kp->phys_bits = __get_cpuid(0x80000008, &a, &b, &c, &d) ? a & 0xff : 36;
	if (kp->phys_bits > 46)
		kp->phys_bits = 46;
	kp->int80 = host_runs_int80();
	kp->umip = host_umip_on();
	kp->vsyscall = host_has_vsyscall();
	kvm_prepare();
	kp->shadow = host.shadow;
	kp->pvm = host.pvm;
	kp->xcr0 = p->caps.xfeatures;
	ret = kvm_mem_init(kp);
	if (ret < 0)
		goto fail;
	kvm_vcpu_setup_tables(kp);
	ret = kvm_vcpus_init(kp);
	if (ret < 0)
		goto fail;

	p->caps.min_user_addr = host_mmap_min_addr();
	p->caps.max_user_addr = 0x7ffffffff000ull;
	p->caps.map_unit = 0;
	p->caps.concurrency = (uint32_t)kp->n_vcpus;
	p->caps.supports_as_io = true;
	p->caps.has_global_membarrier = host_membarrier_probe() == 0;
	p->caps.owns_page_tables = true;
	/* hardware intercepts every guest CPUID; PVM leaves ring 3's alone */
	p->caps.cpuid_faulting = host.known && !host.pvm;
	p->caps.compat_syscalls = kp->int80;
	p->caps.thread_bound_state = false;
	return 0;
fail:
	kvm_close(p);
	return ret;
}

/* What the backend calls from the switching threads: KVM ioctls, memory for windows and tables, the
 * kick signal, membarrier for the kick slots. */
static const int host_syscalls[] = { SYS_ioctl, SYS_mmap, SYS_munmap, SYS_fstat, SYS_fcntl, SYS_tgkill,
				     SYS_getpid, SYS_gettid, SYS_rt_sigtimedwait, SYS_rt_sigprocmask,
				     SYS_sched_yield, SYS_membarrier, SYS_madvise, SYS_clock_gettime, SYS_nanosleep,
				     SYS_futex };

const struct cv_platform_ops cv_kvm_ops = {
	.name = "kvm",
	.host_syscalls = host_syscalls,
	.n_host_syscalls = sizeof(host_syscalls) / sizeof(host_syscalls[0]),
	.req = { .device = "/dev/kvm" },
	.prepare = kvm_prepare,
	.probe = kvm_probe,
	.open = kvm_open,
	.close = kvm_close,
	.as_new = kvm_as_new,
	.as_map = kvm_as_map,
	.as_unmap = kvm_as_unmap,
	.as_release = kvm_as_release,
	.ctx_new = kvm_ctx_new,
	.ctx_release = kvm_ctx_release,
	.ctx_switch = kvm_ctx_switch,
	.kick = kvm_kick,
	.ctx_pull = kvm_ctx_pull,
	.ctx_sleep = kvm_ctx_pull,
};
