// SPDX-License-Identifier: Apache-2.0
// Small host facilities shared by backends: membarrier and thread ids.
#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "internal.h"

static int membarrier_cmd = -1; /* chosen once; 0 = none */
static pthread_once_t membarrier_once = PTHREAD_ONCE_INIT;

static void membarrier_init(void)
{
	long cmds = syscall(SYS_membarrier, MEMBARRIER_CMD_QUERY, 0);
	/*
	 * Application threads live in other processes (the stubs), so only the global commands reach
	 * them. MEMBARRIER_CMD_GLOBAL works without registration; it waits for an RCU grace period,
	 * which is slow but always correct.
	 */
	membarrier_cmd = (cmds > 0 && (cmds & MEMBARRIER_CMD_GLOBAL)) ? MEMBARRIER_CMD_GLOBAL : 0;
}

int host_membarrier_probe(void)
{
	pthread_once(&membarrier_once, membarrier_init);
	return membarrier_cmd ? 0 : -ENOSYS;
}

int host_membarrier(void)
{
	if (host_membarrier_probe() < 0)
		return -ENOSYS;
	if (syscall(SYS_membarrier, membarrier_cmd, 0) < 0)
		return -errno;
	return 0;
}

int host_gettid(void)
{
	static __thread int tid;
	if (!tid)
		tid = (int)syscall(SYS_gettid);
	return tid;
}
