// SPDX-License-Identifier: Apache-2.0
// The sentry gives up the privileges it does not need, before any of its threads or stubs exists
// (capabilities and namespaces are per thread, inherited by what it creates afterwards):
// no_new_privs, an empty ambient set, and of the capabilities only those that let it read and write
// files the policy exposes as the caller could (DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER) — kept in the
// bounding set as well, every other one dropped from it. A compromised sentry then cannot mount,
// load modules or BPF programs, ptrace or signal other users' processes, change its uid, open raw
// sockets, reboot, or regain any of that through a set-uid or file-capability execve.
// It also leaves the host's IPC, UTS and cgroup namespaces (netns.c leaves the network's).
// This is a first layer of issue 11; an unprivileged uid, the mount and pid namespaces and a seccomp
// filter of the sentry's own are still to come (see README, Security).
#include <errno.h>
#include <sched.h>
#include <linux/capability.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "../sentry.h"

/* The capabilities the sentry keeps (when it has them): file access as the caller's root would. */
#define KEPT_CAPS ((1ull << CAP_DAC_OVERRIDE) | (1ull << CAP_DAC_READ_SEARCH) | (1ull << CAP_FOWNER))

int confine_privileges(bool jailed, char *err, size_t errlen)
{
	/* In the jail (jail.c) the namespaces are made and the capabilities are those of the jail's user
	 * namespace: every one goes. Otherwise namespaces of its own for what the sandbox never shares with
	 * the host: SysV IPC and POSIX message queues, the host name, the cgroup view (without the
	 * privilege, an unprivileged caller goes on without them). */
	uint64_t kept = jailed ? 0 : KEPT_CAPS;
	if (!jailed && unshare(CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP) < 0 && errno != EPERM) {
		snprintf(err, errlen, "cannot enter namespaces of its own: %s", strerror(errno));
		return -errno;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		snprintf(err, errlen, "cannot set no_new_privs: %s", strerror(errno));
		return -errno;
	}
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); /* EINVAL before Linux 4.3: nothing to clear */
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	if (syscall(SYS_capget, &hdr, data) < 0) {
		snprintf(err, errlen, "cannot read the sentry's capabilities: %s", strerror(errno));
		return -errno;
	}
	/* The bounding set first (dropping needs CAP_SETPCAP, which goes with the rest below). Without
	 * CAP_SETPCAP (an unprivileged caller) the set is left as it is: its permitted set is empty. */
	for (int cap = 0; cap < 64; cap++)
		if (!(kept & (1ull << cap)) && prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1 &&
		    prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 && errno != EPERM)
			break; /* EINVAL: past the last capability this kernel knows */
	uint64_t permitted = ((uint64_t)data[1].permitted << 32 | data[0].permitted) & kept;
	for (int i = 0; i < 2; i++) {
		data[i].permitted = data[i].effective = (uint32_t)(permitted >> (32 * i));
		data[i].inheritable = 0;
	}
	if (syscall(SYS_capset, &hdr, data) < 0) {
		snprintf(err, errlen, "cannot drop the sentry's capabilities: %s", strerror(errno));
		return -errno;
	}
	return 0;
}
