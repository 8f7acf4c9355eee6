// SPDX-License-Identifier: Apache-2.0
// The systrap backend (seccomp-trapped stubs with shared-memory switching): registered, not built yet.
#include <stdio.h>
#include "internal.h"

static int systrap_probe(char *why, size_t whylen)
{
	snprintf(why, whylen, "not implemented yet (planned: seccomp trap + shared-memory stub)");
	return -ENOSYS;
}

const struct cv_platform_ops cv_systrap_ops = {
	.name = "systrap",
	.req = { .needs_ptrace = true, .needs_seccomp = true, .needs_same_pid_ns = true },
	.probe = systrap_probe,
};
