// SPDX-License-Identifier: Apache-2.0
// `cvisor platforms`: each backend, whether it can run here (or why not), and its capabilities.
#include <stdio.h>
#include <string.h>
#include "cvisor.h"

static const char *yes_no(bool b)
{
	return b ? "yes" : "no";
}

static void print_caps(struct cv_platform *p)
{
	struct cv_platform_caps c;
	if (cv_platform_caps(p, &c) < 0)
		return;
	printf("  user range:            %#llx - %#llx\n", (unsigned long long)c.min_user_addr,
	       (unsigned long long)c.max_user_addr);
	if (c.map_unit)
		printf("  map unit:              %#llx\n", (unsigned long long)c.map_unit);
	else
		printf("  map unit:              any (cost independent of size)\n");
	printf("  concurrency:           %s\n", c.concurrency ? "limited" : "unlimited");
	if (c.concurrency)
		printf("  max running contexts:  %u\n", c.concurrency);
	printf("  xsave:                 %u bytes, features %#llx\n", c.xsave_size,
	       (unsigned long long)c.xfeatures);
	printf("  address-space IO:      %s\n", yes_no(c.supports_as_io));
	printf("  cooperative AS:        %s\n", yes_no(c.cooperatively_schedules_as));
	printf("  detects preemption:    %s\n", yes_no(c.detects_cpu_preemption));
	printf("  global membarrier:     %s\n", yes_no(c.has_global_membarrier));
	printf("  owns page tables:      %s\n", yes_no(c.owns_page_tables));
	const char *no_cpuid = "no (not available here, or not needed: the policy hides nothing "
			       "applications use)";
	printf("  CPUID faulting:        %s\n", c.cpuid_faulting ? "yes" : no_cpuid);
	printf("  32-bit syscalls:       %s\n", yes_no(c.compat_syscalls));
	printf("  state bound to thread: %s\n", yes_no(c.thread_bound_state));
	printf("  patches syscall sites: %s\n", yes_no(c.patches_syscalls));
}

int cmd_platforms(int argc, char **argv)
{
	if (argc > 1)
		usage_error("platforms takes no arguments");
	const char *names[8];
	int n = cv_platform_list(names, 8);
	const char *best = NULL;
	for (int i = 0; i < n && !best; i++)
		if (cv_platform_probe(names[i], NULL, 0) == 0)
			best = names[i];
	for (int i = 0; i < n; i++) {
		char why[256] = "";
		int ret = cv_platform_probe(names[i], why, sizeof(why));
		struct cv_platform_requirements req;
		cv_platform_requirements(names[i], &req);
		printf("%s%s\n", names[i], best && strcmp(best, names[i]) == 0 ? " (default)" : "");
		if (ret < 0)
			printf("  status:                unusable: %s\n", why);
		else if (why[0])
			printf("  status:                usable: %s\n", why);
		else
			printf("  status:                usable\n");
		printf("  needs:                 ptrace %s, seccomp %s, same pid namespace %s, device %s\n",
		       yes_no(req.needs_ptrace), yes_no(req.needs_seccomp), yes_no(req.needs_same_pid_ns),
		       req.device ? req.device : "none");
		if (ret == 0) {
			struct cv_platform *p;
			/* as cvisor run opens it (CPUID faulting only where the policy hides something) */
			struct cv_platform_opts o = { .size = sizeof(o),
						      .flags = CV_PLATFORM_CPUID_FAULTING_IF_NEEDED };
			ret = cv_platform_open(names[i], &o, &p);
			if (ret < 0) {
				printf("  open failed:           %s\n", cv_strerror(ret));
			} else {
				print_caps(p);
				cv_platform_close(p);
			}
		}
		printf("\n");
	}
	printf("cvisor run confines its sentry on every platform: own user, mount, pid, network, IPC, UTS and\n"
	       "cgroup namespaces, an unprivileged host uid, no capabilities, a mount view of only what the\n"
	       "sandbox may see, and a seccomp filter of its own (see 'cvisor run --help').\n");
	return 0;
}
