// SPDX-License-Identifier: Apache-2.0
// The kvm backend (application in guest ring 3 on sentry-built page tables): registered, not built yet.
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

static int kvm_probe(char *why, size_t whylen)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		int err = errno;
		snprintf(why, whylen, "cannot open /dev/kvm: %s", strerror(err));
		return err == ENOENT ? -ENODEV : -err;
	}
	close(fd);
	snprintf(why, whylen, "/dev/kvm is present but the kvm backend is not implemented yet");
	return -ENOSYS;
}

const struct cv_platform_ops cv_kvm_ops = {
	.name = "kvm",
	.req = { .device = "/dev/kvm" },
	.probe = kvm_probe,
};
