// SPDX-License-Identifier: Apache-2.0
// Contexts, common layer: state allocation, interrupt bookkeeping, and dispatch to the backend.
#include <stdlib.h>
#include <string.h>
#include "arch/x86_64/arch.h"
#include "internal.h"

bool ctx_valid(const struct cv_ctx *ctx)
{
	return ctx && ctx->magic == CV_MAGIC_CTX;
}

CV_API int cv_ctx_new(struct cv_platform *p, unsigned flags, struct cv_ctx **out)
{
	if (!platform_valid(p) || !out || (flags & ~CV_CTX_ROAMING))
		return -EINVAL;
	struct cv_ctx *ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	int ret = -ENOMEM;
	uint32_t size = p->caps.xsave_size;
	ctx->state.xsave = aligned_alloc(64, (size + 63) & ~63u);
	if (!ctx->state.xsave)
		goto err_free;
	ctx->state.xsave_size = size;
	ctx->state.xfeatures = p->caps.xfeatures;
	x86_xsave_init_image(ctx->state.xsave, size);
	ctx->state.regs.cs = CV_USER_CS;
	ctx->state.regs.ss = CV_USER_DS;
	ctx->state.regs.eflags = 0x202; /* IF and the always-one bit */
	ctx->p = p;
	ctx->flags = flags;
	ctx->fp_changed = true;
	ret = platform_slot_alloc(p, &ctx->run_word);
	if (ret < 0)
		goto err_xsave;
	ctx->slot = ret;
	ctx->magic = CV_MAGIC_CTX;
	ret = p->ops->ctx_new(ctx);
	if (ret < 0)
		goto err_slot;
	atomic_fetch_add(&p->n_ctx, 1);
	*out = ctx;
	return 0;

err_slot:
	ctx->magic = CV_MAGIC_DEAD;
	platform_slot_free(p, ctx->slot);
err_xsave:
	free(ctx->state.xsave);
err_free:
	free(ctx);
	return ret;
}

CV_API struct cv_cpu_state *cv_ctx_state(struct cv_ctx *ctx)
{
	return ctx_valid(ctx) ? &ctx->state : NULL;
}

CV_API int cv_ctx_switch(struct cv_ctx *ctx, struct cv_as *as, struct cv_exit *exit)
{
	if (!ctx_valid(ctx) || !as_valid(as) || !exit || as->p != ctx->p)
		return -EINVAL;
	int expected = 0;
	if (!atomic_compare_exchange_strong(&ctx->busy, &expected, 1))
		return -EBUSY;
	int ret;
	if (atomic_load(&as->dead)) {
		ret = -CV_EASDEAD;
		goto out;
	}
	if (ctx->fp_changed && x86_xsave_validate(ctx->state.xsave, ctx->state.xsave_size) < 0) {
		cv_debug("XSAVE area rejected (bad MXCSR, XSTATE_BV or header)");
		ret = -EINVAL;
		goto out;
	}
	memset(exit, 0, sizeof(*exit));
	atomic_fetch_add(&as->running, 1);
	ret = ctx->p->ops->ctx_switch(ctx, as, exit);
	atomic_fetch_sub(&as->running, 1);
out:
	atomic_store(&ctx->busy, 0);
	return ret;
}

CV_API int cv_ctx_interrupt(struct cv_ctx *ctx)
{
	if (!ctx_valid(ctx))
		return -EINVAL;
	/*
	 * Pairs with the switch publishing run_word before testing irq_pending: either the switch sees
	 * the flag and returns at once, or we see where it runs and kick it.
	 */
	atomic_store(&ctx->irq_pending, 1);
	uint64_t target = atomic_load(ctx->run_word);
	if (target)
		ctx->p->ops->kick(ctx->p, target);
	return 0;
}

CV_API int cv_ctx_pull_full_state(struct cv_ctx *ctx)
{
	if (!ctx_valid(ctx))
		return -EINVAL;
	return ctx->p->ops->ctx_pull(ctx);
}

CV_API int cv_ctx_full_state_changed(struct cv_ctx *ctx)
{
	if (!ctx_valid(ctx))
		return -EINVAL;
	ctx->fp_changed = true;
	return 0;
}

CV_API int cv_ctx_prepare_sleep(struct cv_ctx *ctx)
{
	if (!ctx_valid(ctx))
		return -EINVAL;
	return ctx->p->ops->ctx_sleep(ctx);
}

CV_API int cv_ctx_idle(struct cv_ctx *ctx)
{
	if (!ctx_valid(ctx))
		return -EINVAL;
	if (ctx->p->ops->ctx_idle)
		ctx->p->ops->ctx_idle(ctx);
	return 0;
}

CV_API int cv_ctx_release(struct cv_ctx *ctx)
{
	if (!ctx)
		return 0;
	if (!ctx_valid(ctx))
		return -EINVAL;
	if (atomic_load(&ctx->busy))
		return -EBUSY;
	struct cv_platform *p = ctx->p;
	p->ops->ctx_release(ctx);
	platform_slot_free(p, ctx->slot);
	ctx->magic = CV_MAGIC_DEAD;
	free(ctx->state.xsave);
	free(ctx);
	atomic_fetch_sub(&p->n_ctx, 1);
	return 0;
}
