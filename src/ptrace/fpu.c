// SPDX-License-Identifier: Apache-2.0
// Lazy XSAVE state for the ptrace backend.
//
// A context's XSAVE state is either in its buffer (the sentry's view) or live in the kernel's copy for
// the stub thread it last ran on, or both. It moves only when needed: into a stub thread when the
// context runs on a thread that does not hold it (or the sentry changed it), out of it when the sentry
// pulls it or another context needs the thread. A context staying on one host thread therefore costs
// no XSAVE transfer per switch; measured here a GETREGSET is ~1 µs and a SETREGSET ~2.4 µs.
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <elf.h>
#include "arch/x86_64/arch.h"
#include "ptrace/ptrace_internal.h"

/* PTRACE_SETREGSET wants exactly the kernel's XSAVE size, which may exceed ours (AMX): bounce. */
static __thread uint8_t *bounce;
static __thread uint32_t bounce_size;

static void *bounce_buf(uint32_t size)
{
	if (bounce_size < size) {
		free(bounce);
		bounce = aligned_alloc(64, (size + 63) & ~63u);
		bounce_size = bounce ? size : 0;
	}
	return bounce;
}

int pt_getfpregs(struct pt_platform *pp, int tid, void *buf, uint32_t size)
{
	uint32_t ksize = pp->kernel_xstate_size;
	void *dst = ksize > size ? bounce_buf(ksize) : buf;
	if (!dst)
		return -ENOMEM;
	struct iovec iov = { dst, ksize > size ? ksize : size };
	if (ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
		return -errno;
	if (dst != buf)
		memcpy(buf, dst, size);
	/*
	 * The kernel's image may mark components we do not carry (PKRU, MPX) as in use; our buffer holds
	 * only ours, so it must not claim the others or it would not be accepted back.
	 */
	uint64_t bv;
	memcpy(&bv, (uint8_t *)buf + 512, sizeof(bv));
	bv &= x86_xsave_layout()->xfeatures;
	memcpy((uint8_t *)buf + 512, &bv, sizeof(bv));
	return 0;
}

int pt_setfpregs(struct pt_platform *pp, int tid, const void *buf, uint32_t size)
{
	uint32_t ksize = pp->kernel_xstate_size;
	const void *src = buf;
	if (ksize != size) {
		uint8_t *b = bounce_buf(ksize > size ? ksize : size);
		if (!b)
			return -ENOMEM;
		memset(b, 0, ksize);
		memcpy(b, buf, size < ksize ? size : ksize);
		src = b;
	}
	struct iovec iov = { (void *)(uintptr_t)src, ksize };
	if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov) < 0) {
		int err = errno;
		cv_debug("PTRACE_SETREGSET(NT_X86_XSTATE, %u bytes) of %d: %s", ksize, tid, strerror(err));
		return err == EINVAL || err == EFAULT ? -EINVAL : -err;
	}
	return 0;
}

/* Save the state @t holds for its context into that context's buffer (caller holds fp_lock). */
static void evict(struct pt_platform *pp, struct pt_thread *t, bool save)
{
	struct cv_ctx *other = t->fp_ctx;
	if (!other)
		return;
	struct pt_ctx *oc = other->priv;
	if (oc->fp_thread == t) {
		if (!oc->fp_valid) {
			if (save && pt_getfpregs(pp, t->tid, other->state.xsave, other->state.xsave_size) == 0)
				oc->fp_valid = true;
			else
				oc->fp_lost = true;
		}
		oc->fp_thread = NULL;
	}
	t->fp_ctx = NULL;
}

int pt_fpu_load(struct cv_ctx *ctx, struct pt_thread *t)
{
	struct pt_platform *pp = t->pas->pp;
	struct pt_ctx *pc = ctx->priv;
	int ret = 0;
	pthread_mutex_lock(&pp->fp_lock);
	if (!ctx->fp_changed && pc->fp_thread == t && t->fp_ctx == ctx)
		goto out; /* already live here */
	if (!ctx->fp_changed && !pc->fp_valid) {
		struct pt_thread *h = pc->fp_thread;
		if (!h || h->host != t->host) {
			/* Live in a stub thread only another host thread may touch (see CV_CTX_ROAMING). */
			ret = h ? -EXDEV : 0;
			if (ret)
				goto out;
		} else {
			ret = pt_getfpregs(pp, h->tid, ctx->state.xsave, ctx->state.xsave_size);
			if (ret < 0)
				goto out;
			pc->fp_valid = true;
		}
	}
	evict(pp, t, true);
	if (pc->fp_thread && pc->fp_thread->fp_ctx == ctx)
		pc->fp_thread->fp_ctx = NULL;
	pc->fp_thread = NULL;
	ret = pt_setfpregs(pp, t->tid, ctx->state.xsave, ctx->state.xsave_size);
	if (ret < 0)
		goto out;
	pc->fp_thread = t;
	pc->fp_lost = false;
	t->fp_ctx = ctx;
	ctx->fp_changed = false;
out:
	pthread_mutex_unlock(&pp->fp_lock);
	return ret;
}

int pt_fpu_after_run(struct cv_ctx *ctx, struct pt_thread *t)
{
	struct pt_platform *pp = t->pas->pp;
	struct pt_ctx *pc = ctx->priv;
	/* A roaming context keeps its buffer current so any host thread can run it next. */
	bool valid = false;
	if (ctx->flags & CV_CTX_ROAMING)
		valid = pt_getfpregs(pp, t->tid, ctx->state.xsave, ctx->state.xsave_size) == 0;
	pthread_mutex_lock(&pp->fp_lock);
	pc->fp_valid = valid;
	pthread_mutex_unlock(&pp->fp_lock);
	return 0;
}

int pt_fpu_pull(struct cv_ctx *ctx)
{
	struct pt_platform *pp = pt_platform(ctx->p);
	struct pt_ctx *pc = ctx->priv;
	int ret = 0;
	pthread_mutex_lock(&pp->fp_lock);
	if (pc->fp_valid || ctx->fp_changed)
		goto out;
	struct pt_thread *t = pc->fp_thread;
	if (!t) {
		ret = pc->fp_lost ? -CV_EASDEAD : 0;
		goto out;
	}
	if (t->host != pt_host_current()) {
		ret = -EXDEV;
		goto out;
	}
	ret = pt_getfpregs(pp, t->tid, ctx->state.xsave, ctx->state.xsave_size);
	if (ret == 0)
		pc->fp_valid = true;
	else if (ret == -ESRCH)
		ret = -CV_EASDEAD;
out:
	pthread_mutex_unlock(&pp->fp_lock);
	return ret;
}

void pt_fpu_forget_ctx(struct cv_ctx *ctx)
{
	struct pt_platform *pp = pt_platform(ctx->p);
	struct pt_ctx *pc = ctx->priv;
	pthread_mutex_lock(&pp->fp_lock);
	if (pc->fp_thread && pc->fp_thread->fp_ctx == ctx)
		pc->fp_thread->fp_ctx = NULL;
	pc->fp_thread = NULL;
	pthread_mutex_unlock(&pp->fp_lock);
}

void pt_fpu_forget_thread(struct pt_platform *pp, struct pt_thread *t, bool save)
{
	pthread_mutex_lock(&pp->fp_lock);
	evict(pp, t, save && !atomic_load(&t->dead));
	pthread_mutex_unlock(&pp->fp_lock);
}
