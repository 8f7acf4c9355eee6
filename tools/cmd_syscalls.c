// SPDX-License-Identifier: Apache-2.0
// `cvisor syscalls [--markdown]`: the sentry's syscall table — what each syscall number does in the
// sandbox. docs/syscalls.md is its --markdown output.
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include "../sentry/systable.h"
#include "cvisor.h"

int cmd_syscalls(int argc, char **argv)
{
	bool markdown = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--markdown") == 0)
			markdown = true;
		else
			usage_error("syscalls: unknown option '%s'", argv[i]);
	}
	syscall_table_print(stdout, markdown);
	return fflush(stdout) == 0 ? 0 : 1;
}
