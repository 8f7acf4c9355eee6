// SPDX-License-Identifier: Apache-2.0
// File owners as the program sees them. In the jail (jail.c) the kernel reports ids through the jail's
// user namespace: its id 0 is the jail itself (the files it made, and on idmapped --rw mounts host root's
// files), and a host id the namespace does not map reads as the overflow id (65534). Given back here as
// the caller would see them natively: the jail's 0 is the caller (root, or the unprivileged user), the
// overflow id is the host's root when started by root (the only id left unmapped), else it stays 65534.
#include "sentry.h"

static uint32_t report(uint32_t id, uint32_t self, uint32_t overflow, uint32_t unmapped)
{
	return id == 0 ? self : id == overflow ? unmapped : id;
}

void ids_report(const struct sentry *s, uint32_t *uid, uint32_t *gid)
{
	const struct launch *L = s->L;
	if (!L->confined)
		return;
	*uid = report(*uid, L->self_uid, L->overflow_uid, L->unmapped_uid);
	*gid = report(*gid, L->self_gid, L->overflow_gid, L->unmapped_gid);
}
