/* SPDX-License-Identifier: Apache-2.0 */
/* The cvisor command line: subcommands and the few helpers they share. */
#ifndef CVISOR_TOOLS_CVISOR_H
#define CVISOR_TOOLS_CVISOR_H

#include <stdio.h>
#include <cvisor/cvisor.h>

/* Each subcommand gets argv from its own name on and returns the process exit status. */
int cmd_platforms(int argc, char **argv);
int cmd_bench(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_syscalls(int argc, char **argv);

/* The usage of `cvisor run`, with the layers of the sentry's confinement. */
void run_help(FILE *f);

/* Print "cvisor: <message>" on stderr and exit with status 2 (bad usage) . */
void usage_error(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

#endif
