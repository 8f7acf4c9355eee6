// SPDX-License-Identifier: Apache-2.0
// Platform registry and platform-wide calls: list, probe, open/close, capabilities, CPUID policy.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "arch/x86_64/arch.h"
#include "internal.h"

/* Best first: cv_platform_open(NULL) takes the first one that probes usable. */
static const struct cv_platform_ops *const backends[] = {
	&cv_systrap_ops,
	&cv_kvm_ops,
	&cv_ptrace_ops,
};

static const struct cv_platform_ops *find_backend(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(backends); i++)
		if (strcmp(backends[i]->name, name) == 0)
			return backends[i];
	return NULL;
}

bool platform_valid(const struct cv_platform *p)
{
	return p && p->magic == CV_MAGIC_PLATFORM;
}

CV_API int cv_platform_list(const char **names, size_t max)
{
	if (!names && max)
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(backends) && i < max; i++)
		names[i] = backends[i]->name;
	return (int)ARRAY_SIZE(backends);
}

CV_API int cv_platform_requirements(const char *name, struct cv_platform_requirements *req)
{
	if (!name || !req)
		return -EINVAL;
	const struct cv_platform_ops *ops = find_backend(name);
	if (!ops)
		return -ENOENT;
	if (ops->prepare)
		ops->prepare();
	*req = ops->req;
	return 0;
}

CV_API int cv_platform_probe(const char *name, char *why, size_t whylen)
{
	char dummy[8];
	if (!name)
		return -EINVAL;
	const struct cv_platform_ops *ops = find_backend(name);
	if (!ops) {
		if (why && whylen)
			snprintf(why, whylen, "unknown platform '%s'", name);
		return -ENOENT;
	}
	if (!why) {
		why = dummy;
		whylen = sizeof(dummy);
	}
	if (whylen)
		why[0] = 0;
	return ops->probe(why, whylen);
}

CV_API int cv_platform_open(const char *name, const struct cv_platform_opts *opts,
			    struct cv_platform **out)
{
	if (!out)
		return -EINVAL;
	if (opts && ((opts->size != offsetof(struct cv_platform_opts, device_fd) && opts->size < sizeof(*opts)) ||
		     (opts->flags & ~(CV_PLATFORM_NO_CPUID_FAULTING | CV_PLATFORM_PIN_TRACERS |
				      CV_PLATFORM_NO_SYSCALL_PATCHING | CV_PLATFORM_DEVICE_FD |
				      CV_PLATFORM_STUB_POOL | CV_PLATFORM_CPUID_FAULTING_IF_NEEDED))))
		return -EINVAL;
	int device_fd = -1;
	if (opts && (opts->flags & CV_PLATFORM_DEVICE_FD)) {
		if (!name || opts->size < sizeof(*opts) || opts->device_fd < 0)
			return -EINVAL;
		device_fd = opts->device_fd;
	}
	const struct cv_platform_ops *ops = NULL;
	char why[256];
	int ret;
	if (name) {
		ops = find_backend(name);
		if (!ops)
			return -ENOENT;
		/* with the device given, its open below is the test (the path may not be reachable) */
		ret = device_fd >= 0 ? 0 : ops->probe(why, sizeof(why));
		if (ret < 0) {
			cv_log(CV_LOG_INFO, "platform %s unusable: %s", name, why);
			return ret;
		}
	} else {
		ret = -ENODEV;
		for (size_t i = 0; i < ARRAY_SIZE(backends) && !ops; i++)
			if (backends[i]->probe(why, sizeof(why)) == 0)
				ops = backends[i];
		if (!ops)
			return ret;
	}

	struct cv_platform *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->ops = ops;
	p->flags = opts ? opts->flags : 0;
	if ((p->flags & CV_PLATFORM_CPUID_FAULTING_IF_NEEDED) && x86_cpuid_default_is_host())
		p->flags |= CV_PLATFORM_NO_CPUID_FAULTING;
	p->device_fd = device_fd;
	pthread_mutex_init(&p->lock, NULL);
	/* The CPUID policy is built on first use: it executes every CPUID leaf, which costs a VM exit
	 * each (about 1.5 ms in all on this VM), and most sentries never need it. */
	const struct x86_xsave_layout *xl = x86_xsave_layout();
	p->caps.xsave_size = xl->size;
	p->caps.xfeatures = xl->xfeatures;
	p->magic = CV_MAGIC_PLATFORM;
	ret = ops->open(p);
	if (ret < 0)
		goto err_free;
	*out = p;
	return 0;

err_free:
	pthread_mutex_destroy(&p->lock);
	p->magic = CV_MAGIC_DEAD;
	free(p);
	return ret;
}

CV_API int cv_platform_close(struct cv_platform *p)
{
	if (!p)
		return 0;
	if (!platform_valid(p))
		return -EINVAL;
	if (atomic_load(&p->n_as) || atomic_load(&p->n_ctx))
		return -EBUSY;
	p->ops->close(p);
	x86_cpuid_policy_free(atomic_load(&p->cpuid));
	for (size_t i = 0; i < p->n_old_cpuid; i++)
		x86_cpuid_policy_free(p->old_cpuid[i]);
	free(p->old_cpuid);
	for (size_t i = 0; i < ARRAY_SIZE(p->slot_chunks); i++)
		free(p->slot_chunks[i]);
	free(p->slot_used);
	pthread_mutex_destroy(&p->lock);
	p->magic = CV_MAGIC_DEAD;
	free(p);
	return 0;
}

CV_API const char *cv_platform_name(const struct cv_platform *p)
{
	return platform_valid(p) ? p->ops->name : NULL;
}

CV_API int cv_platform_caps(const struct cv_platform *p, struct cv_platform_caps *caps)
{
	if (!platform_valid(p) || !caps)
		return -EINVAL;
	*caps = p->caps;
	return 0;
}

CV_API int cv_platform_host_syscalls(const struct cv_platform *p, const int **nrs)
{
	if (!platform_valid(p) || !nrs)
		return -EINVAL;
	*nrs = p->ops->host_syscalls;
	return p->ops->n_host_syscalls;
}

CV_API int cv_platform_membarrier(struct cv_platform *p)
{
	if (!platform_valid(p))
		return -EINVAL;
	if (!p->caps.has_global_membarrier)
		return -ENOSYS;
	return host_membarrier();
}

CV_API int cv_platform_preempt_all(struct cv_platform *p)
{
	if (!platform_valid(p))
		return -EINVAL;
	/* Lock-free walk: chunks are never freed before close and slots hold plain kick targets. */
	for (size_t c = 0; c < ARRAY_SIZE(p->slot_chunks); c++) {
		_Atomic uint64_t *chunk = atomic_load(&p->slot_chunks[c]);
		if (!chunk)
			break;
		for (size_t i = 0; i < CV_SLOTS_PER_CHUNK; i++) {
			uint64_t v = atomic_load(&chunk[i]);
			if (v)
				p->ops->kick(p, v);
		}
	}
	return 0;
}

CV_API int cv_platform_set_cpuid(struct cv_platform *p, const struct cv_cpuid_entry *entries, size_t n)
{
	if (!platform_valid(p) || (!entries && n))
		return -EINVAL;
	struct x86_cpuid_policy *pol;
	int ret = n ? x86_cpuid_policy_new(entries, n, &pol) : x86_cpuid_policy_default(&pol);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&p->lock);
	/* Switches may still be reading the old policy: keep it until close. */
	struct x86_cpuid_policy **grown = realloc(p->old_cpuid, (p->n_old_cpuid + 1) * sizeof(*grown));
	if (!grown) {
		pthread_mutex_unlock(&p->lock);
		x86_cpuid_policy_free(pol);
		return -ENOMEM;
	}
	p->old_cpuid = grown;
	p->old_cpuid[p->n_old_cpuid++] = atomic_exchange(&p->cpuid, pol);
	pthread_mutex_unlock(&p->lock);
	if (p->ops->cpuid_changed)
		p->ops->cpuid_changed(p);
	return 0;
}

void platform_cpuid(struct cv_platform *p, uint32_t leaf, uint32_t subleaf, struct cv_cpuid_entry *out)
{
	struct x86_cpuid_policy *pol = atomic_load(&p->cpuid);
	if (!pol && x86_cpuid_policy_default(&pol) == 0) {
		struct x86_cpuid_policy *none = NULL;
		if (!atomic_compare_exchange_strong(&p->cpuid, &none, pol)) { /* another thread built it first */
			x86_cpuid_policy_free(pol);
			pol = none;
		}
	}
	x86_cpuid_policy_lookup(pol, leaf, subleaf, out); /* NULL (out of memory): zeroes */
}

CV_API int cv_platform_cpuid(struct cv_platform *p, uint32_t leaf, uint32_t subleaf,
			     struct cv_cpuid_entry *out)
{
	if (!platform_valid(p) || !out)
		return -EINVAL;
	platform_cpuid(p, leaf, subleaf, out);
	return 0;
}

int platform_slot_alloc(struct cv_platform *p, _Atomic uint64_t **word)
{
	int ret = -ENOMEM;
	pthread_mutex_lock(&p->lock);
	size_t total = ARRAY_SIZE(p->slot_chunks) * CV_SLOTS_PER_CHUNK;
	if (!p->slot_used) {
		p->slot_used = calloc(total / 8, 1);
		if (!p->slot_used)
			goto out;
	}
	for (size_t i = 0; i < total; i++) {
		if (p->slot_used[i / 8] & (1u << (i % 8)))
			continue;
		size_t c = i / CV_SLOTS_PER_CHUNK;
		if (!p->slot_chunks[c]) {
			_Atomic uint64_t *chunk = calloc(CV_SLOTS_PER_CHUNK, sizeof(*chunk));
			if (!chunk)
				goto out;
			atomic_store(&p->slot_chunks[c], chunk);
		}
		p->slot_used[i / 8] |= (uint8_t)(1u << (i % 8));
		*word = &p->slot_chunks[c][i % CV_SLOTS_PER_CHUNK];
		atomic_store(*word, 0);
		ret = (int)i;
		break;
	}
out:
	pthread_mutex_unlock(&p->lock);
	return ret;
}

void platform_slot_free(struct cv_platform *p, int slot)
{
	pthread_mutex_lock(&p->lock);
	p->slot_used[slot / 8] &= (uint8_t) ~(1u << (slot % 8));
	pthread_mutex_unlock(&p->lock);
}
